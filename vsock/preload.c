/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libnsm-vsock-preload.so: AF_VSOCK for unmodified dynamic programs, emulated over the DIR
 * network (emu.h). `nsm-vsock exec --mode preload` sets it up:
 *
 *   NSM_VSOCK_CID=16 NSM_VSOCK_DIR=DIR LD_PRELOAD=.../libnsm-vsock-preload.so ./app
 *
 * Interposed: socket (AF_VSOCK only: an AF_UNIX socket stands for it), bind, listen,
 * connect, accept, accept4, getsockname, getpeername, getsockopt, setsockopt (on the
 * emulated sockets; all others go to libc untouched), ioctl (IOCTL_VM_SOCKETS_GET_LOCAL_CID
 * answers the emulated CID), close (a listener's name leaves the DIR), and the open family
 * for the exact path "/dev/vsock" (a /dev/null descriptor: its only ioctl is emulated).
 *
 * Never does an AF_VSOCK socket reach the kernel from here: socket(AF_VSOCK) either is
 * emulated or fails (EAFNOSUPPORT, with one line on stderr, when the environment is
 * missing); `nsm-vsock exec` also installs a seccomp filter that refuses AF_VSOCK sockets
 * to anything that bypasses this library.
 */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu.h"
#define VSOCK_LIBC_DIRECT_DECLARE_ONLY
#include "libc_direct.h"

#define DEV_VSOCK "/dev/vsock"

/* ---- the next definitions ----------------------------------------------------------------- */

typedef int (*socket_fn)(int, int, int);
typedef int (*addr_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*listen_fn)(int, int);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*name_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*getsockopt_fn)(int, int, int, void *, socklen_t *);
typedef int (*setsockopt_fn)(int, int, int, const void *, socklen_t);
typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef int (*close_fn)(int);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);

static void *next_symbol(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p == NULL) {
        fprintf(stderr, "nsm-vsock-preload: libc has no %s\n", name);
        _exit(127);
    }
    return p;
}
#define NEXT(type, name) ((type)next_symbol(#name))

/* libc's definitions, for the shim's copies of net.c and emu.c (libc_direct.h). */
int vsock_libc_socket(int domain, int type, int protocol)
{
    return NEXT(socket_fn, socket)(domain, type, protocol);
}
int vsock_libc_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    return NEXT(addr_fn, bind)(fd, addr, len);
}
int vsock_libc_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    return NEXT(addr_fn, connect)(fd, addr, len);
}
int vsock_libc_listen(int fd, int backlog)
{
    return NEXT(listen_fn, listen)(fd, backlog);
}
int vsock_libc_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    return NEXT(accept4_fn, accept4)(fd, addr, len, flags);
}
int vsock_libc_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    return NEXT(name_fn, getsockname)(fd, addr, len);
}
int vsock_libc_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    return NEXT(name_fn, getpeername)(fd, addr, len);
}
int vsock_libc_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    return NEXT(getsockopt_fn, getsockopt)(fd, level, name, val, len);
}
int vsock_libc_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    return NEXT(setsockopt_fn, setsockopt)(fd, level, name, val, len);
}
int vsock_libc_close(int fd)
{
    return NEXT(close_fn, close)(fd);
}

/* ---- the emulation, set up once from the environment ------------------------------------ */

static vsemu emu;
static int emu_ready; /* 1 ready, -1 failed */
static pthread_once_t emu_once = PTHREAD_ONCE_INIT;

static void emu_init(void)
{
    nsmkit_error e;
    if (vsemu_from_env(&emu, &e) == 0) {
        emu_ready = 1;
        return;
    }
    emu_ready = -1;
    fprintf(stderr, "nsm-vsock-preload: %s; AF_VSOCK sockets are refused\n", e.msg);
}

static int ready(void)
{
    pthread_once(&emu_once, emu_init);
    return emu_ready == 1;
}

/* Descriptors this process made vsock sockets, so that close() and the calls on other
 * sockets cost no system call here. Descriptors above the map are looked up. */
#define FD_MAP 65536
static _Atomic unsigned char vsock_fd[FD_MAP];

static void mark(int fd, int on)
{
    if (fd >= 0 && fd < FD_MAP)
        atomic_store(&vsock_fd[fd], (unsigned char)on);
}

/* Whether the calls on fd are worth a look: marked, or unknown (inherited, dup'd, high). */
static int maybe_vsock(int fd)
{
    return ready() && (fd >= FD_MAP || fd < 0 || atomic_load(&vsock_fd[fd]) || vsemu_is_vsock(&emu, fd));
}

/* Hands an emulation result to the program: -errno becomes errno and -1. */
static int result(long rc)
{
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    return (int)rc;
}

/* ---- the interposed calls ---------------------------------------------------------------- */

int socket(int domain, int type, int protocol)
{
    if (domain != AF_VSOCK)
        return NEXT(socket_fn, socket)(domain, type, protocol);
    if (!ready()) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    int fd = vsemu_socket(&emu, type, protocol);
    if (fd >= 0)
        mark(fd, 1);
    return result(fd);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (maybe_vsock(fd)) {
        long rc = vsemu_bind(&emu, fd, getpid(), (uintptr_t)addr, (long)(int)len);
        if (rc != VSEMU_PASS)
            return result(rc);
    }
    return NEXT(addr_fn, bind)(fd, addr, len);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (maybe_vsock(fd)) {
        long rc = vsemu_connect(&emu, fd, getpid(), (uintptr_t)addr, (long)(int)len);
        if (rc != VSEMU_PASS)
            return result(rc);
    }
    return NEXT(addr_fn, connect)(fd, addr, len);
}

int listen(int fd, int backlog)
{
    if (maybe_vsock(fd)) {
        long rc = vsemu_listen(&emu, fd, backlog);
        if (rc != VSEMU_PASS)
            return result(rc);
    }
    return NEXT(listen_fn, listen)(fd, backlog);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (maybe_vsock(fd)) {
        int c;
        long rc = vsemu_accept(&emu, fd, getpid(), (uintptr_t)addr, (uintptr_t)len, flags, &c);
        if (rc != VSEMU_PASS) {
            if (rc == 0) {
                mark(c, 1);
                return c;
            }
            return result(rc);
        }
    }
    return NEXT(accept4_fn, accept4)(fd, addr, len, flags);
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    if (maybe_vsock(fd))
        return accept4(fd, addr, len, 0);
    /* glibc's accept is a cancellation point of its own; accept4 with 0 is the same call */
    return NEXT(accept4_fn, accept4)(fd, addr, len, 0);
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    if (maybe_vsock(fd)) {
        long rc = vsemu_getname(&emu, fd, getpid(), (uintptr_t)addr, (uintptr_t)len, 0);
        if (rc != VSEMU_PASS)
            return result(rc);
    }
    return NEXT(name_fn, getsockname)(fd, addr, len);
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    if (maybe_vsock(fd)) {
        long rc = vsemu_getname(&emu, fd, getpid(), (uintptr_t)addr, (uintptr_t)len, 1);
        if (rc != VSEMU_PASS)
            return result(rc);
    }
    return NEXT(name_fn, getpeername)(fd, addr, len);
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    if ((level == VSEMU_AF_VSOCK || level == SOL_SOCKET) && maybe_vsock(fd)) {
        long rc = vsemu_getsockopt(&emu, fd, getpid(), level, name, (uintptr_t)val, (uintptr_t)len);
        if (rc != VSEMU_PASS)
            return result(rc);
    }
    return NEXT(getsockopt_fn, getsockopt)(fd, level, name, val, len);
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    if (level == VSEMU_AF_VSOCK && maybe_vsock(fd)) {
        long rc = vsemu_setsockopt(&emu, fd, getpid(), level, name, (uintptr_t)val, (long)(int)len);
        if (rc != VSEMU_PASS)
            return result(rc);
    }
    return NEXT(setsockopt_fn, setsockopt)(fd, level, name, val, len);
}

int ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (request == VSEMU_IOCTL_GET_LOCAL_CID) {
        if (!ready()) {
            errno = ENOTTY;
            return -1;
        }
        return result(vsemu_get_local_cid(&emu, getpid(), (uintptr_t)arg));
    }
    return NEXT(ioctl_fn, ioctl)(fd, request, arg);
}

int close(int fd)
{
    if (fd >= 0 && fd < FD_MAP && atomic_load(&vsock_fd[fd])) {
        vsemu_closing(&emu, fd);
        mark(fd, 0);
    }
    return NEXT(close_fn, close)(fd);
}

/* ---- /dev/vsock ------------------------------------------------------------------------- */

/* The emulated device: /dev/null, whose only vsock ioctl is answered above. */
static int open_device(int flags)
{
    return NEXT(open_fn, open)("/dev/null", O_RDWR | (flags & O_CLOEXEC));
}

/* Exactly "/dev/vsock" (a bad pointer is libc's to report, as without the shim). */
static int is_dev_vsock(const char *path)
{
    static const char dev[] = DEV_VSOCK;
    char head[sizeof(dev)];
    return vsemu_mem_read(getpid(), (uintptr_t)path, head, sizeof(head)) == 0 &&
           memcmp(head, dev, sizeof(dev)) == 0;
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (is_dev_vsock(path))
        return open_device(flags);
    return NEXT(open_fn, open)(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (is_dev_vsock(path))
        return open_device(flags);
    return NEXT(open_fn, open64)(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (is_dev_vsock(path))
        return open_device(flags);
    return NEXT(openat_fn, openat)(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (is_dev_vsock(path))
        return open_device(flags);
    return NEXT(openat_fn, openat64)(dirfd, path, flags, mode);
}

/* The _FORTIFY_SOURCE forms (no mode argument). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
int __open_2(const char *path, int flags)
{
    return open(path, flags);
}
int __open64_2(const char *path, int flags)
{
    return open64(path, flags);
}
int __openat_2(int dirfd, const char *path, int flags)
{
    return openat(dirfd, path, flags);
}
int __openat64_2(int dirfd, const char *path, int flags)
{
    return openat64(dirfd, path, flags);
}
