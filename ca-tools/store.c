/* SPDX-License-Identifier: Apache-2.0 */
/* The CA directory on disk: non-blocking typed reads, atomic replacement, the lock. See
 * store.h for the rules. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "store.h"

static ca_store_fault_fn fault_hook;
static void *fault_ctx;
static unsigned lock_timeout_ms = CA_LOCK_TIMEOUT_MS_DEFAULT;

void ca_store_set_fault_hook(ca_store_fault_fn hook, void *ctx)
{
    fault_hook = hook;
    fault_ctx = ctx;
}

void ca_store_set_lock_timeout_ms(unsigned ms)
{
    lock_timeout_ms = ms ? ms : CA_LOCK_TIMEOUT_MS_DEFAULT;
}

/* True (with errno set as a full disk sets it) when the test hook fails this step. */
static bool injected_fault(const char *op, const char *path)
{
    if (fault_hook && fault_hook(op, path, fault_ctx)) {
        errno = ENOSPC;
        return true;
    }
    return false;
}

char *ca_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Opens without blocking (a FIFO would otherwise wait for a writer forever), then checks
 * the type and, for a secret, the permissions on the open descriptor itself. */
static nsmca_code open_regular(const char *path, bool secret, int *fd_out, nsmkit_error *e)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return ca_fail(e, errno == ENOENT ? NSMCA_ERR_FILE_MISSING : NSMCA_ERR_FILE_UNREADABLE,
                       "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    nsmca_code code = NSMCA_OK;
    if (fstat(fd, &st) != 0)
        code = ca_fail(e, NSMCA_ERR_FILE_UNREADABLE, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        code = ca_fail(e, NSMCA_ERR_NOT_REGULAR_FILE, "%s: not a regular file", path);
    else if (secret && (st.st_mode & 077))
        code = ca_fail(e, NSMCA_ERR_KEY_PERMISSIONS,
                       "%s: permissions %04o are too open (a private key must be 0600)", path,
                       (unsigned)(st.st_mode & 07777));
    else if (st.st_size > CA_FILE_MAX)
        code = ca_fail(e, NSMCA_ERR_FILE_TOO_LARGE, "%s: larger than the limit of %d bytes",
                       path, CA_FILE_MAX);
    if (code != NSMCA_OK) {
        close(fd);
        return code;
    }
    *fd_out = fd;
    return NSMCA_OK;
}

/* Reads at most max bytes; more is an error (the file grew after fstat). */
static nsmca_code read_bounded(int fd, const char *path, uint8_t *buf, size_t max,
                               size_t *len_out, nsmkit_error *e)
{
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ca_fail(e, NSMCA_ERR_FILE_UNREADABLE, "%s: cannot read: %s", path,
                           strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max)
            return ca_fail(e, NSMCA_ERR_FILE_TOO_LARGE, "%s: larger than the limit of %zu bytes",
                           path, max);
    }
    *len_out = len;
    return NSMCA_OK;
}

nsmca_code ca_file_read(const char *dir, const char *name, bool secret, uint8_t **out,
                        size_t *out_len, nsmkit_error *e)
{
    *out = NULL;
    *out_len = 0;
    char *path = ca_path(dir, name);
    uint8_t *buf = malloc(CA_FILE_MAX + 1);
    int fd = -1;
    nsmca_code code = !path || !buf ? ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory")
                                    : open_regular(path, secret, &fd, e);
    if (code == NSMCA_OK)
        code = read_bounded(fd, path, buf, CA_FILE_MAX, out_len, e);
    if (fd >= 0)
        close(fd);
    if (code == NSMCA_OK) {
        *out = buf;
        buf = NULL;
    } else {
        *out_len = 0;
    }
    free(buf);
    free(path);
    return code;
}

static bool write_all(int fd, const char *path, const uint8_t *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        if (injected_fault("write", path))
            return false;
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += (size_t)n;
    }
    return true;
}

/* Makes a rename in dir durable. */
static bool sync_dir(const char *dir, const char *path)
{
    if (injected_fault("fsync-dir", path))
        return false;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

/* The temporary's content, written and synced; the caller renames it. */
static bool temp_write(const char *tmp, const uint8_t *data, size_t len, unsigned mode)
{
    /* The lock is held, so a file by this name belongs to a writer that died with our PID:
     * remove it rather than fail on O_EXCL. */
    unlink(tmp);
    if (injected_fault("create", tmp))
        return false;
    /* O_EXCL with the final mode: the content is never readable by others, not even for
     * a moment, and a symlink planted at this name is not followed. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return false;
    bool ok = write_all(fd, tmp, data, len) && fchmod(fd, (mode_t)mode) == 0 &&
              !injected_fault("fsync", tmp) && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok)
        return false;
    errno = saved;
    return ok;
}

nsmca_code ca_file_replace(const char *dir, const char *name, const uint8_t *data, size_t len,
                           unsigned mode, nsmkit_error *e)
{
    char *path = ca_path(dir, name);
    size_t tmp_size = strlen(dir) + strlen(name) + 32;
    char *tmp = malloc(tmp_size);
    if (!path || !tmp) {
        free(path);
        free(tmp);
        return ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory");
    }
    snprintf(tmp, tmp_size, "%s.tmp%ld", path, (long)getpid());
    nsmca_code code = NSMCA_OK;
    if (!temp_write(tmp, data, len, mode) ||
        injected_fault("rename", path) || rename(tmp, path) != 0) {
        code = ca_fail(e, NSMCA_ERR_WRITE_FAILED, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    } else if (!sync_dir(dir, path)) {
        /* The new file is in place; only its durability across a power loss is unknown. */
        code = ca_fail(e, NSMCA_ERR_WRITE_FAILED, "%s: cannot sync its directory: %s", path,
                       strerror(errno));
    }
    free(path);
    free(tmp);
    return code;
}

/* "NAME.tmp" followed by digits only. */
static bool is_temporary_of(const char *entry, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(entry, name, n) != 0 || strncmp(entry + n, ".tmp", 4) != 0)
        return false;
    const char *digits = entry + n + 4;
    if (!*digits)
        return false;
    for (; *digits; digits++)
        if (*digits < '0' || *digits > '9')
            return false;
    return true;
}

void ca_store_clean_temporaries(const char *dir, const char *const *names, size_t count)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        for (size_t i = 0; i < count; i++) {
            if (!is_temporary_of(entry->d_name, names[i]))
                continue;
            /* unlinkat: the name read from this directory, removed from it. */
            (void)unlinkat(dirfd(d), entry->d_name, 0);
            break;
        }
    }
    closedir(d);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The holder's pid as it wrote it, or "an unknown process". */
static void lock_holder(int fd, char *out, size_t size)
{
    char text[24] = "";
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    size_t digits = 0;
    while (n > 0 && digits < (size_t)n && text[digits] >= '0' && text[digits] <= '9')
        digits++;
    text[digits] = '\0';
    if (digits > 0)
        snprintf(out, size, "process %s", text);
    else
        snprintf(out, size, "an unknown process");
}

/* Waits for the flock with a bound; says who holds it when the bound passes. */
static nsmca_code lock_wait(int fd, const char *path, nsmkit_error *e)
{
    uint64_t start = monotonic_ms();
    unsigned pause = 1;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return ca_fail(e, NSMCA_ERR_LOCK_FAILED, "%s: cannot lock: %s", path,
                           strerror(errno));
        if (monotonic_ms() - start >= lock_timeout_ms) {
            char holder[48];
            lock_holder(fd, holder, sizeof(holder));
            return ca_fail(e, NSMCA_ERR_LOCK_TIMEOUT,
                           "%s: held by %s for more than %u ms: is another nsm-ca or nsm-sim "
                           "stuck?", path, holder, lock_timeout_ms);
        }
        sleep_ms(pause);
        pause = pause < 50 ? pause * 2 : 50;
    }
    return NSMCA_OK;
}

nsmca_code ca_lock_take(const char *dir, int *fd_out, nsmkit_error *e)
{
    *fd_out = -1;
    char *path = ca_path(dir, CA_LOCK_NAME);
    if (!path)
        return ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory");
    nsmca_code code = NSMCA_OK;
    struct stat st;
    int fd = open(path, O_RDWR | O_CREAT | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
    if (fd < 0)
        code = ca_fail(e, NSMCA_ERR_LOCK_FAILED, "%s: cannot open: %s", path, strerror(errno));
    else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        code = ca_fail(e, NSMCA_ERR_NOT_REGULAR_FILE, "%s: not a regular file", path);
    else
        code = lock_wait(fd, path, e);
    if (code == NSMCA_OK) {
        char pid[24];
        int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
        /* Only a hint for waiters: if it cannot be written, a waiter that times out says
         * "an unknown process" instead of our pid, and nothing else changes. */
        bool noted = ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) == n;
        (void)noted;
        *fd_out = fd;
    } else if (fd >= 0) {
        close(fd);
    }
    free(path);
    return code;
}

void ca_lock_release(int fd)
{
    if (fd < 0)
        return;
    /* Forget our pid before letting go; should it fail, the next holder overwrites it. */
    bool cleared = ftruncate(fd, 0) == 0;
    (void)cleared;
    close(fd); /* closing releases the flock */
}
