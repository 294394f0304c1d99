/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seccomp supervisor: answers the vsock system calls of a program that the LD_PRELOAD
 * shim cannot reach (static programs, Go). For each notification it takes a copy of the
 * program's descriptor (pidfd_getfd), lets the emulation (emu.c) work on that copy and
 * the program's memory (process_vm_readv/writev on the calling thread), and answers
 * with the result, a new descriptor (SECCOMP_IOCTL_NOTIF_ADDFD), or "continue" for the
 * calls on descriptors that are not emulated vsock sockets (the kernel runs them as they
 * are). Calls that may wait (connect, a blocking accept) run in a thread of their own,
 * so that one waiting program thread never holds up the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/seccomp.h>

#include "commands.h"
#include "nsmkit/vsock_net.h"
#include "supervise.h"

/* Threads waiting in connect/accept at once; beyond, calls wait in the main loop. */
#define MAX_WAITERS 256
/* How often a waiting accept checks that its caller still waits. */
#define ACCEPT_POLL_MS 200

typedef struct {
    vsemu *emu;
    int listener;
    struct seccomp_notif n; /* a copy: the kernel's may be larger, only these fields are read */
    int fd;                 /* our copy of the program's descriptor args[0] */
} call;

static _Atomic int waiters;

/* ---- answers -------------------------------------------------------------------------- */

static void answer(int listener, uint64_t id, long rc)
{
    struct seccomp_notif_resp r;
    memset(&r, 0, sizeof(r));
    r.id = id;
    if (rc == VSEMU_PASS)
        r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    else if (rc < 0)
        r.error = (int32_t)rc;
    else
        r.val = rc;
    /* ENOENT: the caller gave up (a signal); nothing to do */
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r) != 0 && errno != ENOENT && getenv("NSM_VSOCK_TRACE"))
        fprintf(stderr, "nsm-vsock supervisor: answer: %s\n", strerror(errno));
}

/* Gives our descriptor fd to the caller as its answer (closes ours either way). */
static void answer_fd(int listener, uint64_t id, int fd, int cloexec)
{
    struct seccomp_notif_addfd a;
    memset(&a, 0, sizeof(a));
    a.id = id;
    a.flags = SECCOMP_ADDFD_FLAG_SEND;
    a.srcfd = (uint32_t)fd;
    a.newfd_flags = cloexec ? O_CLOEXEC : 0;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a) < 0 && errno != ENOENT)
        answer(listener, id, -errno);
    close(fd);
}

static int still_waiting(int listener, uint64_t id)
{
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

/* ---- the program's descriptors ----------------------------------------------------------- */

/* The thread group of a thread (notifications name the thread). */
static pid_t tgid_of(pid_t tid)
{
    char path[64], line[128];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    pid_t tgid = -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "Tgid: %d", &tgid) == 1)
            break;
    fclose(f);
    return tgid;
}

/* Our copy of the caller's descriptor, or -1 (not open, or the caller is gone). */
static int copy_fd(int listener, const struct seccomp_notif *n, int fd)
{
    pid_t tgid = tgid_of((pid_t)n->pid);
    if (tgid <= 0)
        return -1;
    int pidfd = (int)syscall(SYS_pidfd_open, tgid, 0);
    if (pidfd < 0)
        return -1;
    int copy = -1;
    /* the pid is the caller's only while its notification is valid */
    if (still_waiting(listener, n->id))
        copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    close(pidfd);
    return copy;
}

/* ---- the calls ----------------------------------------------------------------------------- */

static long do_call(call *c, int *newfd)
{
    vsemu *emu = c->emu;
    const struct seccomp_notif *n = &c->n;
    pid_t pid = (pid_t)n->pid;
    const __u64 *a = n->data.args;
    switch (n->data.nr) {
    case __NR_bind:
        return vsemu_bind(emu, c->fd, pid, a[1], (long)(int)a[2]);
    case __NR_connect:
        return vsemu_connect(emu, c->fd, pid, a[1], (long)(int)a[2]);
    case __NR_listen:
        return vsemu_listen(emu, c->fd, (int)a[1]);
    case __NR_accept:
    case __NR_accept4:
        return vsemu_accept(emu, c->fd, pid, a[1], a[2], n->data.nr == __NR_accept ? 0 : (int)a[3], newfd);
    case __NR_getsockname:
    case __NR_getpeername:
        return vsemu_getname(emu, c->fd, pid, a[1], a[2], n->data.nr == __NR_getpeername);
    case __NR_getsockopt:
        return vsemu_getsockopt(emu, c->fd, pid, (int)a[1], (int)a[2], a[3], a[4]);
    case __NR_setsockopt:
        return vsemu_setsockopt(emu, c->fd, pid, (int)a[1], (int)a[2], a[3], (long)(int)a[4]);
    default:
        return VSEMU_PASS;
    }
}

static void finish(call *c)
{
    int newfd = -1;
    long rc = do_call(c, &newfd);
    int accept_flags = c->n.data.nr == __NR_accept4 ? (int)c->n.data.args[3] : 0;
    if (rc == 0 && newfd >= 0)
        answer_fd(c->listener, c->n.id, newfd, (accept_flags & SOCK_CLOEXEC) != 0);
    else
        answer(c->listener, c->n.id, rc);
    close(c->fd);
}

/* A blocking accept: waits in short steps, checking that the caller still waits. */
static void wait_for_connection(call *c)
{
    for (;;) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int r = poll(&p, 1, ACCEPT_POLL_MS);
        if (r > 0)
            return;
        if (!still_waiting(c->listener, c->n.id))
            return;
    }
}

static void *waiter_main(void *arg)
{
    call *c = arg;
    if (c->n.data.nr == __NR_accept || c->n.data.nr == __NR_accept4)
        wait_for_connection(c);
    if (still_waiting(c->listener, c->n.id))
        finish(c);
    else
        close(c->fd);
    free(c);
    atomic_fetch_sub(&waiters, 1);
    return NULL;
}

/* Whether the call may wait: connect (bounded by its timeout), accept on a blocking socket. */
static int may_wait(const call *c)
{
    int nr = c->n.data.nr;
    if (nr == __NR_connect)
        return 1;
    if (nr != __NR_accept && nr != __NR_accept4)
        return 0;
    int fl = fcntl(c->fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK) == 0;
}

static void socket_call(vsemu *emu, int listener, const struct seccomp_notif *n)
{
    int type = (int)n->data.args[1];
    int fd = vsemu_socket(emu, type, (int)n->data.args[2]);
    if (fd < 0)
        answer(listener, n->id, fd);
    else
        answer_fd(listener, n->id, fd, (type & SOCK_CLOEXEC) != 0);
}

/* open/openat/openat2 of exactly "/dev/vsock": a /dev/null descriptor (its only vsock
 * ioctl is answered here); any other path goes on to the kernel. */
static void open_call(int listener, const struct seccomp_notif *n)
{
    static const char dev[] = "/dev/vsock";
    int is_open = n->data.nr != __NR_openat && n->data.nr != __NR_openat2;
    uint64_t path = is_open ? n->data.args[0] : n->data.args[1];
    uint64_t flags = is_open ? n->data.args[1] : n->data.args[2];
    char got[sizeof(dev)];
    if (vsemu_mem_read((pid_t)n->pid, path, got, sizeof(got)) != 0 || memcmp(got, dev, sizeof(dev)) != 0) {
        answer(listener, n->id, VSEMU_PASS);
        return;
    }
    if (n->data.nr == __NR_openat2 &&
        vsemu_mem_read((pid_t)n->pid, n->data.args[2], &flags, sizeof(flags)) != 0) {
        answer(listener, n->id, -EFAULT);
        return;
    }
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        answer(listener, n->id, -errno);
    else
        answer_fd(listener, n->id, fd, (flags & O_CLOEXEC) != 0);
}

static void handle(vsemu *emu, int listener, const struct seccomp_notif *n)
{
    switch (n->data.nr) {
    case __NR_socket:
        socket_call(emu, listener, n);
        return;
    case __NR_ioctl:
        answer(listener, n->id, vsemu_get_local_cid(emu, (pid_t)n->pid, n->data.args[2]));
        return;
    case __NR_openat:
    case __NR_openat2:
#ifdef __NR_open
    case __NR_open:
#endif
        open_call(listener, n);
        return;
    default:
        break;
    }
    call c = {.emu = emu, .listener = listener, .n = *n};
    c.fd = copy_fd(listener, n, (int)n->data.args[0]);
    if (c.fd < 0 || !vsemu_is_vsock(emu, c.fd)) {
        /* not ours (or not open: the kernel says EBADF) */
        if (c.fd >= 0)
            close(c.fd);
        answer(listener, n->id, VSEMU_PASS);
        return;
    }
    if (may_wait(&c) && atomic_fetch_add(&waiters, 1) < MAX_WAITERS) {
        call *heap = malloc(sizeof(*heap));
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (heap != NULL) {
            *heap = c;
            if (pthread_create(&t, &attr, waiter_main, heap) == 0) {
                pthread_attr_destroy(&attr);
                return;
            }
            free(heap);
        }
        pthread_attr_destroy(&attr);
        atomic_fetch_sub(&waiters, 1);
    } else if (may_wait(&c)) {
        atomic_fetch_sub(&waiters, 1);
    }
    finish(&c);
}

/* ---- the loop ------------------------------------------------------------------------------ */

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 2;
}

int vssup_run(vsemu *emu, int listener, pid_t child)
{
    struct seccomp_notif_sizes sizes;
    if (syscall(__NR_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
        sizes.seccomp_notif = sizeof(struct seccomp_notif);
    size_t nsize = sizes.seccomp_notif > sizeof(struct seccomp_notif) ? sizes.seccomp_notif
                                                                       : sizeof(struct seccomp_notif);
    struct seccomp_notif *n = malloc(nsize);
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    sigset_t set;
    sigemptyset(&set);
    int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
        sigaddset(&set, forwarded[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);
    if (n == NULL || pidfd < 0 || sigfd < 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        free(n);
        return nsmvsock_report("exec", NSMVSOCK_ERR_SUPERVISOR, "cannot set up the supervisor");
    }
    for (;;) {
        struct pollfd p[3] = {{.fd = listener, .events = POLLIN},
                              {.fd = pidfd, .events = POLLIN},
                              {.fd = sigfd, .events = POLLIN}};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents != 0)
            break;
        if (p[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                kill(child, (int)si.ssi_signo);
        }
        if (p[0].revents & POLLIN) {
            memset(n, 0, nsize);
            if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, n) == 0)
                handle(emu, listener, n);
        }
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    free(n);
    return exit_code(status);
}
