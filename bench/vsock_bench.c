/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The emulated vsock beside a unix socket, measured in the same run: stream throughput
 * with 64 B, 4 KiB and 64 KiB messages (target: at least 0.5x a unix socketpair's),
 * connection setup (connect + accept) and a 1-byte round trip.
 *
 * The bench starts itself again under `nsm-vsock exec` (build/bin beside build/bench),
 * once with --mode preload and once with --mode seccomp, on a private DIR; that child
 * proves its emulated CID (IOCTL_VM_SOCKETS_GET_LOCAL_CID) before it makes any AF_VSOCK
 * socket, and measures both sides itself. Rounds alternate between the emulated socket
 * and the reference; the best of each is kept. Wall-clock times: the two ends run on two
 * threads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define BENCH_CID 16
#define ROUNDS 3
/* bytes per stream round: 65536 messages, at most 64 MiB */
#define STREAM_MESSAGES 65536u
#define STREAM_MAX (64u << 20)
#define SETUPS 2000
#define ROUND_TRIPS 20000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "vsock_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ---- the two kinds of connection ------------------------------------------------------- */

typedef struct {
    int vsock; /* 1: emulated AF_VSOCK, 0: the unix reference */
    int listener;
    char path[108];
} endpoint;

static void endpoint_open(endpoint *ep, int vsock, unsigned port)
{
    ep->vsock = vsock;
    if (vsock) {
        struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
        ep->listener = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (ep->listener < 0 || bind(ep->listener, (struct sockaddr *)&a, sizeof(a)) != 0 ||
            listen(ep->listener, 128) != 0)
            die("vsock listener");
        return;
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(ep->path, sizeof(ep->path), "%s/ref.%u", getenv("NSM_VSOCK_DIR"), port);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", ep->path);
    unlink(ep->path);
    ep->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ep->listener < 0 || bind(ep->listener, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ep->listener, 128) != 0)
        die("unix listener");
}

static int endpoint_connect(const endpoint *ep, unsigned port)
{
    int fd;
    if (ep->vsock) {
        struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = BENCH_CID, .svm_port = port};
        fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
            die("vsock connect");
    } else {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", ep->path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
            die("unix connect");
    }
    return fd;
}

static void endpoint_close(endpoint *ep)
{
    close(ep->listener);
    if (!ep->vsock)
        unlink(ep->path);
}

/* A connected pair: emulated vsock (connect + accept) or a unix socketpair. */
static void make_pair(int vsock, unsigned port, int fds[2])
{
    if (!vsock) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            die("socketpair");
        return;
    }
    endpoint ep;
    endpoint_open(&ep, 1, port);
    fds[0] = endpoint_connect(&ep, port);
    fds[1] = accept(ep.listener, NULL, NULL);
    if (fds[1] < 0)
        die("accept");
    endpoint_close(&ep);
}

/* ---- measurements ----------------------------------------------------------------------- */

typedef struct {
    int fd;
    size_t size, total;
} writer_arg;

static void *writer_main(void *p)
{
    writer_arg *w = p;
    char *buf = calloc(1, w->size);
    for (size_t sent = 0; buf != NULL && sent < w->total;) {
        ssize_t n = write(w->fd, buf, w->size);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    free(buf);
    shutdown(w->fd, SHUT_WR);
    return NULL;
}

/* MB/s of a stream written and read in messages of size bytes. */
static double throughput(int vsock, unsigned port, size_t size)
{
    int fds[2];
    make_pair(vsock, port, fds);
    char *buf = malloc(size);
    size_t total = (size_t)STREAM_MESSAGES * size;
    writer_arg w = {.fd = fds[0], .size = size, .total = total < STREAM_MAX ? total : STREAM_MAX};
    pthread_t t;
    double start = now_s();
    pthread_create(&t, NULL, writer_main, &w);
    size_t got = 0;
    ssize_t n;
    while ((n = read(fds[1], buf, size)) > 0)
        got += (size_t)n;
    double secs = now_s() - start;
    pthread_join(t, NULL);
    free(buf);
    close(fds[0]);
    close(fds[1]);
    return (double)got / secs / 1e6;
}

/* Microseconds per connect + accept + close. */
static double setup_us(int vsock, unsigned port)
{
    endpoint ep;
    endpoint_open(&ep, vsock, port);
    double start = now_s();
    for (int i = 0; i < SETUPS; i++) {
        int c = endpoint_connect(&ep, port);
        int a = accept(ep.listener, NULL, NULL);
        if (a < 0)
            die("accept");
        close(c);
        close(a);
    }
    double us = (now_s() - start) / SETUPS * 1e6;
    endpoint_close(&ep);
    return us;
}

static void *echo_main(void *p)
{
    int fd = *(int *)p;
    char b;
    while (read(fd, &b, 1) == 1 && write(fd, &b, 1) == 1)
        ;
    return NULL;
}

/* Microseconds per 1-byte round trip. */
static double round_trip_us(int vsock, unsigned port)
{
    int fds[2];
    make_pair(vsock, port, fds);
    pthread_t t;
    pthread_create(&t, NULL, echo_main, &fds[1]);
    char b = 'x';
    double start = now_s();
    for (int i = 0; i < ROUND_TRIPS; i++)
        if (write(fds[0], &b, 1) != 1 || read(fds[0], &b, 1) != 1)
            die("round trip");
    double us = (now_s() - start) / ROUND_TRIPS * 1e6;
    shutdown(fds[0], SHUT_WR);
    pthread_join(t, NULL);
    close(fds[0]);
    close(fds[1]);
    return us;
}

static double best_of(double a, double b, int higher)
{
    return higher ? (a > b ? a : b) : (a < b ? a : b);
}

/* The child under nsm-vsock exec. */
static int measure(const char *mode)
{
    unsigned cid = 0;
    int dev = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
    if (dev < 0 || ioctl(dev, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) != 0 || cid != BENCH_CID) {
        fprintf(stderr, "vsock_bench: local CID %u is not the emulated %d: refusing to run\n", cid, BENCH_CID);
        return 1;
    }
    close(dev);
    static const size_t sizes[] = {64, 4096, 65536};
    unsigned port = 20000;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        double v = 0, u = 0;
        for (int r = 0; r < ROUNDS; r++) {
            v = best_of(v, throughput(1, port++, sizes[i]), 1);
            u = best_of(u, throughput(0, port++, sizes[i]), 1);
        }
        printf("%-8s stream %5zu B messages: vsock %8.1f MB/s, unix socketpair %8.1f MB/s: %.2fx\n", mode,
               sizes[i], v, u, v / u);
    }
    double sv = 1e9, su = 1e9, rv = 1e9, ru = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        sv = best_of(sv, setup_us(1, port++), 0);
        su = best_of(su, setup_us(0, port++), 0);
        rv = best_of(rv, round_trip_us(1, port++), 0);
        ru = best_of(ru, round_trip_us(0, port++), 0);
    }
    /* (under seccomp every connect of the program, the reference's too, is a notification) */
    printf("%-8s connect+accept: vsock %.1f us, unix socket %.1f us (%.1fx the time)\n", mode, sv, su, sv / su);
    printf("%-8s 1-byte round trip: vsock %.1f us, unix socketpair %.1f us (%.2fx the time)\n", mode, rv, ru, rv / ru);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--measure") == 0)
        return measure(argv[2]);
    char exe[PATH_MAX], tool[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        die("readlink");
    exe[n] = '\0';
    char self[PATH_MAX];
    memcpy(self, exe, (size_t)n + 1);
    snprintf(tool, sizeof(tool), "%s/../bin/nsm-vsock", dirname(exe));
    char dir[] = "/tmp/vsock-bench-XXXXXX";
    if (mkdtemp(dir) == NULL)
        die("mkdtemp");
    int rc = 0;
    const char *modes[] = {"preload", "seccomp"};
    for (int i = 0; i < 2 && rc == 0; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl(tool, tool, "exec", "--cid", "16", "--dir", dir, "--mode", modes[i], "--", self, "--measure",
                  modes[i], (char *)NULL);
            _exit(127);
        }
        int status;
        waitpid(pid, &status, 0);
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
    /* the names listeners left (the supervisor sees no close) */
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            unlinkat(dirfd(d), e->d_name, 0);
    if (d != NULL)
        closedir(d);
    rmdir(dir);
    return rc;
}
