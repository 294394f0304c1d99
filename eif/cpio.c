/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit eif: the application ramdisk, a newc ("070701") cpio archive written here rather
 * than by cpio(1), so that the bytes depend on nothing but the tree's names, modes, contents
 * and link targets:
 *
 *   cmd           the command, one argument a line (AWS's init reads it so)
 *   env           the environment, one NAME=VALUE a line
 *   rootfs/...    the root filesystem the command runs in (init chroots into it)
 *
 * Every entry has mtime 0, uid and gid 0, device numbers 0, inode numbers counted from 1 in
 * archive order, nlink 1 (2 for directories), and the permission bits of its source; entries
 * come in byte-wise name order, each directory before what it holds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eif_internal.h"
#include "eif_json.h"

#define MAX_DEPTH 64

typedef struct {
    FILE *out;
    unsigned ino;
    nsmkit_error *e;
} archive;

static int pad4(archive *a, size_t len)
{
    static const char zeros[4];
    size_t pad = (4 - len % 4) % 4;
    return fwrite(zeros, 1, pad, a->out) == pad ? 0 : -1;
}

static int entry_header(archive *a, const char *name, unsigned mode, unsigned nlink,
                        uint64_t size)
{
    if (size > UINT32_MAX)
        return nsmkit_fail(a->e, "%s: larger than newc's 4 GiB limit", name);
    size_t namesize = strlen(name) + 1;
    int n = fprintf(a->out, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08zX%08X",
                    ++a->ino, mode, 0u, 0u, nlink, 0u, (unsigned)size, 0u, 0u, 0u, 0u, namesize,
                    0u);
    if (n != 110 || fwrite(name, 1, namesize, a->out) != namesize || pad4(a, 110 + namesize))
        return nsmkit_fail(a->e, "write: %s", strerror(errno));
    return 0;
}

static int entry_data(archive *a, const char *name, unsigned mode, const void *data,
                      size_t len)
{
    if (entry_header(a, name, mode, 1, len) != 0)
        return -1;
    if (fwrite(data, 1, len, a->out) != len || pad4(a, len) != 0)
        return nsmkit_fail(a->e, "write: %s", strerror(errno));
    return 0;
}

static int entry_file(archive *a, const char *name, const char *path, const struct stat *st)
{
    FILE *in = fopen(path, "rb");
    if (!in)
        return nsmkit_fail(a->e, "%s: %s", path, strerror(errno));
    int rc = entry_header(a, name, S_IFREG | (st->st_mode & 07777), 1, (uint64_t)st->st_size);
    char buf[65536];
    uint64_t done = 0;
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0) {
        done += n;
        if (done > (uint64_t)st->st_size || fwrite(buf, 1, n, a->out) != n)
            rc = nsmkit_fail(a->e, "%s: changed while archived, or write failed", path);
    }
    if (rc == 0 && (ferror(in) || done != (uint64_t)st->st_size))
        rc = nsmkit_fail(a->e, "%s: changed while archived", path);
    fclose(in);
    return rc == 0 ? pad4(a, (size_t)st->st_size) : rc;
}

static int add_tree(archive *a, const char *name, const char *path, int depth);

static int add_path(archive *a, const char *name, const char *path, int depth)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return nsmkit_fail(a->e, "%s: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode))
        return entry_file(a, name, path, &st);
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof(target));
        if (n < 0 || (size_t)n >= sizeof(target))
            return nsmkit_fail(a->e, "%s: unreadable link", path);
        return entry_data(a, name, S_IFLNK | 0777, target, (size_t)n);
    }
    if (S_ISDIR(st.st_mode)) {
        if (entry_header(a, name, S_IFDIR | (st.st_mode & 07777), 2, 0) != 0)
            return -1;
        return add_tree(a, name, path, depth + 1);
    }
    return nsmkit_fail(a->e, "%s: only regular files, directories and symbolic links go in a "
                             "reproducible ramdisk", path);
}

static int add_tree(archive *a, const char *name, const char *path, int depth)
{
    if (depth > MAX_DEPTH)
        return nsmkit_fail(a->e, "%s: deeper than %d directories", path, MAX_DEPTH);
    DIR *dir = opendir(path);
    if (!dir)
        return nsmkit_fail(a->e, "%s: %s", path, strerror(errno));
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *d;
    int rc = 0;
    while (rc == 0 && (d = readdir(dir))) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        if (count == cap) {
            char **grown = realloc(names, (cap = cap ? 2 * cap : 32) * sizeof(*names));
            rc = grown ? 0 : nsmkit_fail(a->e, "out of memory");
            names = grown ? grown : names;
        }
        if (rc == 0 && !(names[count++] = strdup(d->d_name)))
            rc = nsmkit_fail(a->e, "out of memory");
    }
    closedir(dir);
    if (rc == 0)
        qsort(names, count, sizeof(*names), nsmeif_strcmp_ptr);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char child_name[PATH_MAX], child_path[PATH_MAX];
        if ((size_t)snprintf(child_name, sizeof(child_name), "%s/%s", name, names[i]) >=
                sizeof(child_name) ||
            (size_t)snprintf(child_path, sizeof(child_path), "%s/%s", path, names[i]) >=
                sizeof(child_path))
            rc = nsmkit_fail(a->e, "%s/%s: path too long", path, names[i]);
        else
            rc = add_path(a, child_name, child_path, depth);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* lines joined with '\n', each ending in one; a line holding '\n' cannot be said. */
static char *lines(const char *const *items, size_t n, const char *what, size_t *len,
                   nsmkit_error *e)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (strchr(items[i], '\n')) {
            nsmkit_fail(e, "%s '%s' holds a newline (init reads one a line)", what, items[i]);
            return NULL;
        }
        total += strlen(items[i]) + 1;
    }
    char *out = malloc(total + 1), *p = out;
    for (size_t i = 0; out && i < n; i++)
        p += sprintf(p, "%s\n", items[i]);
    if (!out)
        nsmkit_fail(e, "out of memory");
    *len = total;
    return out;
}

int nsmeif_ramdisk_write(const char *output, const char *rootfs, const char *const *argv,
                         size_t argc, const char *const *env, size_t envc, nsmkit_error *e)
{
    size_t cmd_len = 0, env_len = 0;
    char *cmd = lines(argv, argc, "argument", &cmd_len, e);
    char *envs = cmd ? lines(env, envc, "variable", &env_len, e) : NULL;
    char tmp[PATH_MAX];
    if (!cmd || !envs || (size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", output) >= sizeof(tmp)) {
        free(cmd);
        free(envs);
        return cmd && envs ? nsmkit_fail(e, "%s: path too long", output) : -1;
    }
    int fd = mkstemp(tmp);
    archive a = {fd >= 0 ? fdopen(fd, "wb") : NULL, 0, e};
    int rc = a.out ? 0 : nsmkit_fail(e, "%s: %s", tmp, strerror(errno));
    if (rc == 0)
        rc = entry_data(&a, "cmd", S_IFREG | 0644, cmd, cmd_len);
    if (rc == 0)
        rc = entry_data(&a, "env", S_IFREG | 0644, envs, env_len);
    if (rc == 0 && rootfs)
        rc = add_path(&a, "rootfs", rootfs, 0);
    else if (rc == 0)
        rc = entry_header(&a, "rootfs", S_IFDIR | 0755, 2, 0);
    if (rc == 0) { /* the trailer, then the archive padded to 512 bytes as cpio(1) does */
        a.ino = UINT_MAX; /* the trailer's inode field is 0 */
        rc = entry_header(&a, "TRAILER!!!", 0, 1, 0);
        long pos = ftell(a.out);
        static const char zeros[512];
        if (rc == 0 && (pos < 0 || fwrite(zeros, 1, (size_t)((512 - pos % 512) % 512), a.out) !=
                                       (size_t)((512 - pos % 512) % 512)))
            rc = nsmkit_fail(e, "write: %s", strerror(errno));
    }
    if (a.out && (fflush(a.out) != 0 || fchmod(fd, 0644) != 0 || fsync(fd) != 0) && rc == 0)
        rc = nsmkit_fail(e, "%s: %s", tmp, strerror(errno));
    if (a.out && fclose(a.out) != 0 && rc == 0)
        rc = nsmkit_fail(e, "%s: %s", tmp, strerror(errno));
    else if (!a.out && fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, output) != 0)
        rc = nsmkit_fail(e, "%s: %s", output, strerror(errno));
    if (rc != 0 && fd >= 0)
        unlink(tmp);
    free(cmd);
    free(envs);
    return rc;
}
