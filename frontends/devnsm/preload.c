/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libnsm-sim-preload.so: a simulated /dev/nsm for unmodified programs.
 *
 *   LD_PRELOAD=build/lib/libnsm-sim-preload.so ./app           (in-process NSM)
 *   NSM_SIM_SOCKET=/run/nsm.sock LD_PRELOAD=... ./app          (forward to `nsm-sim serve`)
 *
 * Interposed: open, open64, openat, openat64, their _FORTIFY_SOURCE forms __open_2,
 * __open64_2, __openat_2, __openat64_2, fopen and fopen64 - only for the exact path
 * "/dev/nsm" - and ioctl and the read family (read, readv, pread, pread64, preadv,
 * preadv64, preadv2, preadv64v2 and the fortified __read_chk, __pread_chk,
 * __pread64_chk), only on the descriptors that stand for the device: the driver has no
 * read operation, so read() fails with EINVAL there. Everything else goes to the next
 * definition (libc) untouched.
 *
 * The descriptor is a sealed memfd that carries its own identity (see device.c), so
 * close, dup, dup2, dup3, fcntl(F_DUPFD), fork, exec, closefrom and close_range need no
 * interposition and cannot confuse the shim. Its ioctl follows the driver: NSM_IOCTL_RAW
 * with the driver's checks and errnos, FIOCLEX/FIONCLEX/FIONBIO/FIOASYNC handled by the
 * kernel as for any file, every other request EINVAL (drivers/misc/nsm.c).
 *
 * The device behind the descriptor, chosen at the first open of /dev/nsm in a process:
 *  - NSM_SIM_SOCKET=PATH: a connection per process to that server (made at the first
 *    request, remade after fork; NSM_SIM_TIMEOUT_MS bounds one request, default the
 *    driver's 120 s). An unreachable server gives one line on stderr and EIO.
 *  - otherwise a simulated NSM in the process, configured by NSM_SIM_CA, NSM_SIM_TIME,
 *    NSM_SIM_PCR, NSM_SIM_MEASUREMENTS, NSM_SIM_DEBUG_MODE and NSM_SIM_MAP. Its state is
 *    the process's: a forked child continues with a copy (use the server to share one
 *    NSM between processes).
 * NSM_SIM_TRACE=1 prints one line per NSM request on stderr.
 */
/* This file defines open and friends: the fortified inline wrappers must not exist here. */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "frontends/transports/client.h"
#include "frontends/transports/device.h"
#include "frontends/transports/envopts.h"
#include "frontends/transports/log.h"
#include "nsmkit/fault.h"
#include "nsmkit/error.h"
#include "nsmkit/hex.h"
#include "nsmkit/sim.h"

#define LOG_PREFIX "nsm-sim-preload"
#define DEV_NSM "/dev/nsm"

/* ---- the next definitions ----------------------------------------------------------------- */

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat2_fn)(int, const char *, int);
typedef FILE *(*fopen_fn)(const char *, const char *);
typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*readv_fn)(int, const struct iovec *, int);
typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*pread64_fn)(int, void *, size_t, off64_t);
typedef ssize_t (*preadv_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*preadv64_fn)(int, const struct iovec *, int, off64_t);
typedef ssize_t (*preadv2_fn)(int, const struct iovec *, int, off_t, int);
typedef ssize_t (*preadv64v2_fn)(int, const struct iovec *, int, off64_t, int);
typedef ssize_t (*read_chk_fn)(int, void *, size_t, size_t);
typedef ssize_t (*pread_chk_fn)(int, void *, size_t, off_t, size_t);
typedef ssize_t (*pread64_chk_fn)(int, void *, size_t, off64_t, size_t);

/* Looked up on first use: another library's constructor may open files before ours. */
static void *next_symbol(void **slot, const char *name)
{
    void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!p) {
        p = dlsym(RTLD_NEXT, name);
        __atomic_store_n(slot, p, __ATOMIC_RELEASE);
    }
    return p;
}

#define NEXT(type, name)                                                                      \
    static type next_##name(void)                                                             \
    {                                                                                         \
        static void *slot;                                                                    \
        return (type)next_symbol(&slot, #name);                                               \
    }
NEXT(open_fn, open)
NEXT(open_fn, open64)
NEXT(openat_fn, openat)
NEXT(openat_fn, openat64)
NEXT(open2_fn, __open_2)
NEXT(open2_fn, __open64_2)
NEXT(openat2_fn, __openat_2)
NEXT(openat2_fn, __openat64_2)
NEXT(fopen_fn, fopen)
NEXT(fopen_fn, fopen64)
NEXT(ioctl_fn, ioctl)
NEXT(read_fn, read)
NEXT(readv_fn, readv)
NEXT(pread_fn, pread)
NEXT(pread64_fn, pread64)
NEXT(preadv_fn, preadv)
NEXT(preadv64_fn, preadv64)
NEXT(preadv2_fn, preadv2)
NEXT(preadv64v2_fn, preadv64v2)
NEXT(read_chk_fn, __read_chk)
NEXT(pread_chk_fn, __pread_chk)
NEXT(pread64_chk_fn, __pread64_chk)

#define log_line(...) nsmsim_log_line(LOG_PREFIX, __VA_ARGS__)

/* ---- the device behind the descriptors ------------------------------------------------------ */

static pthread_mutex_t backend_lock = PTHREAD_MUTEX_INITIALIZER;
static int backend_state; /* 0: not yet, 1: ready, -1: failed */
static nsmsim_remote remote;
static bool use_remote;
static nsmsim *core;
static nsmsim_env_storage core_env;
static pthread_mutex_t core_lock = PTHREAD_MUTEX_INITIALIZER;
static bool trace;

/* No thread may be inside the core or a request on the connection while another forks:
 * the child would inherit a held lock. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&core_lock);
    if (use_remote)
        pthread_mutex_lock(&remote.lock);
}

static void fork_release(void)
{
    if (use_remote)
        pthread_mutex_unlock(&remote.lock);
    pthread_mutex_unlock(&core_lock);
}

/* What the in-process core made of this thread's last request, for the trace line: the
 * wire answer says InvalidOperation, this says which rule and why. */
static __thread nsmsim_outcome last_outcome;

static int core_call(void *ctx, const uint8_t *req, size_t req_len,
                     uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len)
{
    pthread_mutex_lock(&core_lock);
    int r = nsmsim_handle_traced(ctx, req, req_len, resp, resp_len, &last_outcome) == 0 ? 0
                                                                                       : ENOMEM;
    pthread_mutex_unlock(&core_lock);
    return r;
}

static int backend_start_locked(void)
{
    nsmkit_error e;
    trace = nsmsim_env_flag("NSM_SIM_TRACE");
    const char *socket_path = getenv("NSM_SIM_SOCKET");
    if (socket_path && *socket_path) {
        int timeout = NSMSIM_DEFAULT_TIMEOUT_MS;
        const char *t = getenv("NSM_SIM_TIMEOUT_MS");
        uint64_t v;
        if (t && *t) {
            if (!nsmkit_parse_u64(t, &v) || v == 0 || v > INT_MAX) {
                log_line("NSM_SIM_TIMEOUT_MS=%s is not a number of milliseconds", t);
                return -1;
            }
            timeout = (int)v;
        }
        if (nsmsim_remote_init(&remote, socket_path, timeout, LOG_PREFIX, &e) != 0) {
            log_line("NSM_SIM_SOCKET: %s", e.msg);
            return -1;
        }
        use_remote = true;
    } else {
        nsmsim_options options;
        nsmsim_options_init(&options);
        if (nsmsim_options_from_env(&options, &core_env, &e) != 0 ||
            nsmfault_sim_new(&options, &core, &e) != 0) {
            log_line("cannot start the simulated NSM: %s", e.msg);
            return -1;
        }
    }
    pthread_atfork(fork_prepare, fork_release, fork_release);
    return 0;
}

static bool backend_ready(void)
{
    if (__atomic_load_n(&backend_state, __ATOMIC_ACQUIRE) != 0)
        return backend_state > 0;
    pthread_mutex_lock(&backend_lock);
    if (backend_state == 0)
        __atomic_store_n(&backend_state, backend_start_locked() == 0 ? 1 : -1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&backend_lock);
    return backend_state > 0;
}

/* ---- open ----------------------------------------------------------------------------------- */

/* True for exactly "/dev/nsm". The path is read without trusting the pointer: a bad one
 * must reach the real open and give EFAULT, not crash here. */
static bool is_dev_nsm(const char *path)
{
    if (!path)
        return false;
    char head[sizeof(DEV_NSM)];
    struct iovec local = {.iov_base = head, .iov_len = sizeof(head)};
    struct iovec far = {.iov_base = (void *)(uintptr_t)path, .iov_len = sizeof(head)};
    int saved = errno;
    ssize_t n = process_vm_readv(getpid(), &local, 1, &far, 1, 0);
    if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
        errno = saved;
        return strcmp(path, DEV_NSM) == 0; /* no way to probe: trust it like libc would */
    }
    errno = saved;
    return n == (ssize_t)sizeof(head) && memcmp(head, DEV_NSM, sizeof(head)) == 0;
}

/* Whether a descriptor standing for the device may exist in this process: until one is
 * created here or inherited, the read family passes straight through without asking the
 * kernel (a program that never opens /dev/nsm pays one load per read). */
static int devfd_may_exist;

static void devfd_note_created(void)
{
    __atomic_store_n(&devfd_may_exist, 1, __ATOMIC_RELEASE);
}

/* A descriptor inherited across exec stands for the device too: look once, at load. When
 * the descriptor table cannot be listed, assume one may exist. */
__attribute__((constructor)) static void devfd_scan_inherited(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) {
        devfd_note_created();
        return;
    }
    int own = dirfd(dir);
    struct dirent *ent;
    while ((ent = readdir(dir)) != NULL) {
        char *end;
        long fd = strtol(ent->d_name, &end, 10);
        if (*end != '\0' || end == ent->d_name || fd == own || fd < 0 || fd > INT_MAX)
            continue;
        if (nsmsim_devfd_kind_of((int)fd) == NSMSIM_DEVFD_SHIM) {
            devfd_note_created();
            break;
        }
    }
    closedir(dir);
}

static bool is_device_fd(int fd)
{
    return __atomic_load_n(&devfd_may_exist, __ATOMIC_ACQUIRE) &&
           nsmsim_devfd_kind_of(fd) == NSMSIM_DEVFD_SHIM;
}

static int open_device(int flags)
{
    if ((flags & O_CREAT) && (flags & O_EXCL)) {
        errno = EEXIST;
        return -1;
    }
    if (flags & O_DIRECTORY) {
        errno = ENOTDIR;
        return -1;
    }
    if (!backend_ready()) {
        errno = ENODEV;
        return -1;
    }
    devfd_note_created(); /* before the descriptor exists, so no read can miss it */
    return nsmsim_devfd_create(NSMSIM_DEVFD_SHIM, flags);
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

/* open, open64, openat, openat64: params is the full parameter list (ending in flags,
 * ...), args what goes to the next definition. */
#define OPEN_WRAPPER(name, params, args)                                                      \
    int name params                                                                           \
    {                                                                                         \
        va_list ap;                                                                           \
        va_start(ap, flags);                                                                  \
        mode_t mode = mode_arg(flags, ap);                                                    \
        va_end(ap);                                                                           \
        if (is_dev_nsm(path))                                                                 \
            return open_device(flags);                                                        \
        return next_##name() args;                                                            \
    }

/* Exported by the version script; declared here for -Wmissing-prototypes. */
int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
int openat(int dirfd, const char *path, int flags, ...);
int openat64(int dirfd, const char *path, int flags, ...);
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
FILE *fopen(const char *path, const char *mode);
FILE *fopen64(const char *path, const char *mode);
int ioctl(int fd, unsigned long request, ...);
ssize_t read(int fd, void *buf, size_t n);
ssize_t readv(int fd, const struct iovec *iov, int count);
ssize_t pread(int fd, void *buf, size_t n, off_t offset);
ssize_t pread64(int fd, void *buf, size_t n, off64_t offset);
ssize_t preadv(int fd, const struct iovec *iov, int count, off_t offset);
ssize_t preadv64(int fd, const struct iovec *iov, int count, off64_t offset);
ssize_t preadv2(int fd, const struct iovec *iov, int count, off_t offset, int flags);
ssize_t preadv64v2(int fd, const struct iovec *iov, int count, off64_t offset, int flags);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t offset, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t offset, size_t buflen);

OPEN_WRAPPER(open, (const char *path, int flags, ...), (path, flags, mode))
OPEN_WRAPPER(open64, (const char *path, int flags, ...), (path, flags, mode))
OPEN_WRAPPER(openat, (int dirfd, const char *path, int flags, ...), (dirfd, path, flags, mode))
OPEN_WRAPPER(openat64, (int dirfd, const char *path, int flags, ...), (dirfd, path, flags, mode))

int __open_2(const char *path, int flags)
{
    return is_dev_nsm(path) ? open_device(flags) : next___open_2()(path, flags);
}

int __open64_2(const char *path, int flags)
{
    return is_dev_nsm(path) ? open_device(flags) : next___open64_2()(path, flags);
}

int __openat_2(int dirfd, const char *path, int flags)
{
    return is_dev_nsm(path) ? open_device(flags) : next___openat_2()(dirfd, path, flags);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
    return is_dev_nsm(path) ? open_device(flags) : next___openat64_2()(dirfd, path, flags);
}

/* fopen's mode string as open flags, and the plain mode fdopen needs. */
static int fopen_flags(const char *mode, char plain[4])
{
    int flags;
    switch (mode[0]) {
    case 'r':
        flags = O_RDONLY;
        break;
    case 'w':
        flags = O_WRONLY | O_CREAT | O_TRUNC;
        break;
    case 'a':
        flags = O_WRONLY | O_CREAT | O_APPEND;
        break;
    default:
        return -1;
    }
    size_t k = 0;
    plain[k++] = mode[0];
    for (const char *m = mode + 1; *m && *m != ','; m++) {
        if (*m == '+') {
            flags = (flags & ~O_ACCMODE) | O_RDWR;
            if (k == 1)
                plain[k++] = '+';
        } else if (*m == 'e') {
            flags |= O_CLOEXEC;
        } else if (*m == 'x') {
            flags |= O_EXCL;
        }
    }
    plain[k] = '\0';
    return flags;
}

static FILE *fopen_device(const char *mode)
{
    char plain[4];
    int flags = mode ? fopen_flags(mode, plain) : -1;
    if (flags < 0) {
        errno = EINVAL;
        return NULL;
    }
    int fd = open_device(flags);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, plain);
    if (!f) {
        int err = errno;
        close(fd);
        errno = err;
    }
    return f;
}

FILE *fopen(const char *path, const char *mode)
{
    return is_dev_nsm(path) ? fopen_device(mode) : next_fopen()(path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
    return is_dev_nsm(path) ? fopen_device(mode) : next_fopen64()(path, mode);
}

/* ---- ioctl ---------------------------------------------------------------------------------- */

static int device_ioctl(int fd, unsigned int request, void *arg)
{
    switch (request) {
    case FIOCLEX:
    case FIONCLEX:
    case FIONBIO:
    case FIOASYNC:
        /* Handled by the kernel before any driver sees them. */
        return next_ioctl()(fd, request, arg);
    case NSM_IOCTL_RAW:
        break;
    default:
        errno = EINVAL;
        return -1;
    }
    if (!backend_ready()) {
        errno = EIO;
        return -1;
    }
    uint64_t argp = (uint64_t)(uintptr_t)arg;
    int err = use_remote
                  ? nsmsim_device_ioctl_raw(&nsmsim_self_copier, argp, nsmsim_remote_handler, &remote)
                  : nsmsim_device_ioctl_raw(&nsmsim_self_copier, argp, core_call, core);
    if (trace) {
        struct nsm_raw raw;
        char cause[200] = "";
        if (!use_remote && err == 0 && last_outcome.code != NSMSIM_ERR_OK)
            snprintf(cause, sizeof(cause), ", refused: %d %s: %s", (int)last_outcome.code,
                     nsmsim_code_name(last_outcome.code), last_outcome.detail);
        if (err == 0 && nsmsim_user_read(&raw, (uint64_t)(uintptr_t)arg, sizeof(raw)) == 0)
            log_line("NSM_IOCTL_RAW on fd %d: %llu-byte request, %llu-byte response (%s%s)", fd,
                     (unsigned long long)raw.request.len, (unsigned long long)raw.response.len,
                     use_remote ? remote.path : "in-process NSM", cause);
        else
            log_line("NSM_IOCTL_RAW on fd %d: %s (%s)", fd, strerror(err),
                     use_remote ? remote.path : "in-process NSM");
    }
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

int ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    /* The kernel takes the request number as 32 bits; so does the comparison. */
    if (nsmsim_devfd_kind_of(fd) == NSMSIM_DEVFD_SHIM)
        return device_ioctl(fd, (unsigned int)request, arg);
    return next_ioctl()(fd, request, arg);
}

/* ---- read ------------------------------------------------------------------------------------ */

/* drivers/misc/nsm.c registers no read operation, so the kernel's vfs_read answers EINVAL
 * for the device whatever the buffer. (The memfd behind our descriptor would return its
 * zero bytes.) Reads inside libc's stdio (fread on a FILE from fopen("/dev/nsm")) use
 * libc's internal entry points and are not seen here. */
#define READ_WRAPPER(ret, name, params, args)                                                 \
    ret name params                                                                           \
    {                                                                                         \
        if (is_device_fd(fd)) {                                                               \
            errno = EINVAL;                                                                   \
            return -1;                                                                        \
        }                                                                                     \
        return next_##name() args;                                                            \
    }

READ_WRAPPER(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))
READ_WRAPPER(ssize_t, readv, (int fd, const struct iovec *iov, int count), (fd, iov, count))
READ_WRAPPER(ssize_t, pread, (int fd, void *buf, size_t n, off_t offset), (fd, buf, n, offset))
READ_WRAPPER(ssize_t, pread64, (int fd, void *buf, size_t n, off64_t offset),
             (fd, buf, n, offset))
READ_WRAPPER(ssize_t, preadv, (int fd, const struct iovec *iov, int count, off_t offset),
             (fd, iov, count, offset))
READ_WRAPPER(ssize_t, preadv64, (int fd, const struct iovec *iov, int count, off64_t offset),
             (fd, iov, count, offset))
READ_WRAPPER(ssize_t, preadv2,
             (int fd, const struct iovec *iov, int count, off_t offset, int flags),
             (fd, iov, count, offset, flags))
READ_WRAPPER(ssize_t, preadv64v2,
             (int fd, const struct iovec *iov, int count, off64_t offset, int flags),
             (fd, iov, count, offset, flags))
READ_WRAPPER(ssize_t, __read_chk, (int fd, void *buf, size_t n, size_t buflen),
             (fd, buf, n, buflen))
READ_WRAPPER(ssize_t, __pread_chk, (int fd, void *buf, size_t n, off_t offset, size_t buflen),
             (fd, buf, n, offset, buflen))
READ_WRAPPER(ssize_t, __pread64_chk,
             (int fd, void *buf, size_t n, off64_t offset, size_t buflen),
             (fd, buf, n, offset, buflen))
