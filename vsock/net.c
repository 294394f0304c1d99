/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The emulated vsock network (vsock_net.h): a directory of unix sockets named by
 * (cid, port). Everything here works on plain AF_UNIX descriptors: no AF_VSOCK socket is
 * ever made, so nothing here can reach a real vsock.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "nsmkit/vsock_net.h"

/* ---- codes ----------------------------------------------------------------------------- */

const char *nsmvsock_code_name(int code)
{
    switch (code) {
#define NSMVSOCK_NAME(name, num, text) \
    case num:                          \
        return #name;
        NSMVSOCK_CODES(NSMVSOCK_NAME)
#undef NSMVSOCK_NAME
    default:
        return "UNKNOWN";
    }
}

const char *nsmvsock_code_text(int code)
{
    switch (code) {
#define NSMVSOCK_TEXT(name, num, text) \
    case num:                          \
        return text;
        NSMVSOCK_CODES(NSMVSOCK_TEXT)
#undef NSMVSOCK_TEXT
    default:
        return "";
    }
}

/* ---- the directory --------------------------------------------------------------------- */

int nsmvsock_net_default_dir(char *out, size_t cap, nsmkit_error *e)
{
    const char *env = getenv("NSM_VSOCK_DIR");
    int n;
    if (env != NULL && env[0] != '\0') {
        n = snprintf(out, cap, "%s", env);
    } else {
        const char *run = getenv("XDG_RUNTIME_DIR");
        if (run == NULL || run[0] == '\0')
            run = "/tmp";
        n = snprintf(out, cap, "%s/nsmkit-vsock-%u", run, (unsigned)getuid());
    }
    if (n < 0 || (size_t)n >= cap)
        return nsmkit_fail(e, "the default vsock network directory's path is too long");
    return 0;
}

int nsmvsock_net_open(nsmvsock_net *net, const char *dir, nsmkit_error *e)
{
    char path[PATH_MAX];
    if (dir == NULL) {
        if (nsmvsock_net_default_dir(path, sizeof(path), e) != 0)
            return NSMVSOCK_ERR_DIR_TOO_LONG;
        dir = path;
    }
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len == 0 || len > NSMVSOCK_DIR_MAX)
        return nsmkit_fail_with(e, NSMVSOCK_ERR_DIR_TOO_LONG,
                                "vsock network directory '%s': %s (%zu bytes; at most %d, so "
                                "that DIR/4294967295.vsock_4294967295 fits in a unix socket name)",
                                dir, len == 0 ? "empty" : "too long", len, NSMVSOCK_DIR_MAX);
    memcpy(net->dir, dir, len);
    net->dir[len] = '\0';
    if (mkdir(net->dir, 0700) != 0 && errno != EEXIST)
        return nsmkit_fail_with(e, NSMVSOCK_ERR_DIR_CREATE, "vsock network directory '%s': %s",
                                net->dir, strerror(errno));
    struct stat st;
    if (stat(net->dir, &st) != 0)
        return nsmkit_fail_with(e, NSMVSOCK_ERR_DIR_CREATE, "vsock network directory '%s': %s",
                                net->dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return nsmkit_fail_with(e, NSMVSOCK_ERR_DIR_CREATE,
                                "vsock network directory '%s' is not a directory", net->dir);
    if (st.st_uid != getuid())
        return nsmkit_fail_with(e, NSMVSOCK_ERR_DIR_UNSAFE,
                                "vsock network directory '%s' belongs to uid %u, not to uid %u",
                                net->dir, (unsigned)st.st_uid, (unsigned)getuid());
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return nsmkit_fail_with(e, NSMVSOCK_ERR_DIR_UNSAFE,
                                "vsock network directory '%s' is writable by others (mode %03o): "
                                "anyone could listen on its ports",
                                net->dir, (unsigned)(st.st_mode & 0777));
    return NSMVSOCK_ERR_OK;
}

/* DIR fits with the longest name (nsmvsock_net_open checked), so these never truncate. */
void nsmvsock_net_listener_path(const nsmvsock_net *net, uint32_t cid, uint32_t port,
                                char out[NSMVSOCK_PATH_MAX])
{
    snprintf(out, NSMVSOCK_PATH_MAX, "%s/%u.%u", net->dir, cid, port);
}

void nsmvsock_net_peer_path(const nsmvsock_net *net, uint32_t cid, uint32_t port,
                            char out[NSMVSOCK_PATH_MAX])
{
    snprintf(out, NSMVSOCK_PATH_MAX, "%s/%u.%u.peer", net->dir, cid, port);
}

void nsmvsock_net_device_path(const nsmvsock_net *net, uint32_t cid, char out[NSMVSOCK_PATH_MAX])
{
    snprintf(out, NSMVSOCK_PATH_MAX, "%s/%u.vsock", net->dir, cid);
}

void nsmvsock_net_device_port_path(const nsmvsock_net *net, uint32_t cid, uint32_t port,
                                   char out[NSMVSOCK_PATH_MAX])
{
    snprintf(out, NSMVSOCK_PATH_MAX, "%s/%u.vsock_%u", net->dir, cid, port);
}

static socklen_t unix_address(struct sockaddr_un *sun, const char *path)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    size_t len = strlen(path);
    memcpy(sun->sun_path, path, len < sizeof(sun->sun_path) ? len : sizeof(sun->sun_path) - 1);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sun->sun_path) + 1);
}

/* ---- names ----------------------------------------------------------------------------- */

/* A decimal < 2^32 without leading zeros at s[0..len): 0 or -1. */
static int parse_u32(const char *s, size_t len, uint32_t *out)
{
    if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* "C.P" + suffix, the last path component of name[0..len). */
static int parse_name(const char *name, size_t len, const char *suffix, uint32_t *cid,
                      uint32_t *port)
{
    if (name == NULL)
        return -1;
    const char *end = memchr(name, '\0', len);
    if (end != NULL)
        len = (size_t)(end - name);
    size_t start = len;
    while (start > 0 && name[start - 1] != '/')
        start--;
    const char *s = name + start;
    size_t n = len - start, slen = strlen(suffix);
    if (n < slen || memcmp(s + n - slen, suffix, slen) != 0)
        return -1;
    n -= slen;
    const char *dot = memchr(s, '.', n);
    if (dot == NULL)
        return -1;
    size_t clen = (size_t)(dot - s);
    uint32_t c, p;
    if (parse_u32(s, clen, &c) != 0 || parse_u32(dot + 1, n - clen - 1, &p) != 0)
        return -1;
    *cid = c;
    *port = p;
    return 0;
}

int nsmvsock_peer_name_parse(const char *name, size_t len, uint32_t *cid, uint32_t *port)
{
    return parse_name(name, len, ".peer", cid, port);
}

int nsmvsock_listener_name_parse(const char *name, size_t len, uint32_t *cid, uint32_t *port)
{
    return parse_name(name, len, "", cid, port);
}

int nsmvsock_ok_line_parse(const char *line, size_t len, uint32_t *n)
{
    if (line == NULL || len < 5 || len > NSMVSOCK_LINE_MAX || memcmp(line, "OK ", 3) != 0 ||
        line[len - 1] != '\n')
        return -1;
    return parse_u32(line + 3, len - 4, n);
}

uint32_t nsmvsock_ephemeral_port(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() * 2654435761u;
    }
    return NSMVSOCK_FIRST_EPHEMERAL + r % (UINT32_MAX - NSMVSOCK_FIRST_EPHEMERAL);
}

void nsmvsock_net_peer_of(int fd, uint32_t *cid, uint32_t *port)
{
    /* Host tools get ports from a per-process counter that starts at a random point. */
    static _Atomic uint32_t next_host_port;
    struct sockaddr_un sun;
    socklen_t len = sizeof(sun);
    memset(&sun, 0, sizeof(sun));
    if (getpeername(fd, (struct sockaddr *)&sun, &len) == 0 && len > offsetof(struct sockaddr_un, sun_path) &&
        nsmvsock_peer_name_parse(sun.sun_path, len - offsetof(struct sockaddr_un, sun_path), cid,
                                 port) == 0)
        return;
    uint32_t expected = 0;
    atomic_compare_exchange_strong(&next_host_port, &expected, nsmvsock_ephemeral_port());
    uint32_t p = atomic_fetch_add(&next_host_port, 1);
    if (p < NSMVSOCK_FIRST_EPHEMERAL || p == NSMVSOCK_PORT_ANY)
        p = NSMVSOCK_FIRST_EPHEMERAL + (p & 0xffff);
    *cid = NSMVSOCK_CID_HOST;
    *port = p;
}

/* ---- listening ------------------------------------------------------------------------- */

int nsmvsock_net_port_alive(const nsmvsock_net *net, uint32_t cid, uint32_t port)
{
    char path[NSMVSOCK_PATH_MAX];
    nsmvsock_net_listener_path(net, cid, port, path);
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return 0;
    /* /proc/net/unix: "Num RefCount Protocol Flags Type St Inode Path"; Flags has
     * __SO_ACCEPTCON (0x10000) on a listener. A path of another directory that merely
     * ends the same way cannot match: the whole path is compared. */
    FILE *f = fopen("/proc/net/unix", "re");
    if (f == NULL)
        return 1; /* cannot tell: never take over a port that may be live */
    char line[512];
    int alive = 0;
    while (!alive && fgets(line, sizeof(line), f) != NULL) {
        unsigned long flags;
        char name[NSMVSOCK_PATH_MAX + 1];
        if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %108s", &flags, name) == 2 &&
            (flags & 0x10000) != 0 && strcmp(name, path) == 0)
            alive = 1;
    }
    fclose(f);
    return alive;
}

int nsmvsock_net_listen_fd(const nsmvsock_net *net, int fd, uint32_t cid, uint32_t port,
                           int backlog)
{
    char path[NSMVSOCK_PATH_MAX];
    struct sockaddr_un sun;
    nsmvsock_net_listener_path(net, cid, port, path);
    socklen_t len = unix_address(&sun, path);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (bind(fd, (struct sockaddr *)&sun, len) == 0) {
            if (listen(fd, backlog) == 0)
                return 0;
            int err = errno;
            unlink(path);
            return -err;
        }
        if (errno != EADDRINUSE)
            return -errno;
        if (attempt > 0 || nsmvsock_net_port_alive(net, cid, port))
            return -EADDRINUSE;
        unlink(path); /* stale: its listener is gone */
    }
    return -EADDRINUSE;
}

int nsmvsock_net_listen(const nsmvsock_net *net, uint32_t cid, uint32_t port, int backlog,
                        int flags)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | (flags & (SOCK_CLOEXEC | SOCK_NONBLOCK)), 0);
    if (fd < 0)
        return -errno;
    int rc = nsmvsock_net_listen_fd(net, fd, cid, port, backlog);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

void nsmvsock_net_unlisten(const nsmvsock_net *net, int fd, uint32_t cid, uint32_t port)
{
    char path[NSMVSOCK_PATH_MAX];
    nsmvsock_net_listener_path(net, cid, port, path);
    struct sockaddr_un sun;
    socklen_t len = sizeof(sun);
    memset(&sun, 0, sizeof(sun));
    if (getsockname(fd, (struct sockaddr *)&sun, &len) == 0 && strcmp(sun.sun_path, path) == 0)
        unlink(path);
}

/* ---- connecting ------------------------------------------------------------------------ */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline: 1 ready, 0 timed out, -errno. */
static int wait_for(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

int nsmvsock_net_handshake(int fd, uint32_t port, int timeout_ms)
{
    long long deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    char req[32];
    int n = snprintf(req, sizeof(req), "CONNECT %u\n", port);
    for (int off = 0; off < n;) {
        ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            off += (int)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return errno == EPIPE ? -ECONNRESET : -errno;
        int r = wait_for(fd, POLLOUT, deadline);
        if (r <= 0)
            return r == 0 ? -ETIMEDOUT : r;
    }
    /* One byte at a time: nothing after the line may be consumed, it is the guest's. */
    char line[NSMVSOCK_LINE_MAX];
    size_t len = 0;
    while (len < sizeof(line)) {
        ssize_t got = recv(fd, line + len, 1, MSG_DONTWAIT);
        if (got == 1) {
            if (line[len++] == '\n') {
                uint32_t hostport;
                return nsmvsock_ok_line_parse(line, len, &hostport) == 0 ? 0 : -ECONNRESET;
            }
            continue;
        }
        if (got == 0)
            return -ECONNRESET;
        if (errno != EAGAIN && errno != EINTR)
            return errno == ECONNRESET ? -ECONNRESET : -errno;
        int r = wait_for(fd, POLLIN, deadline);
        if (r <= 0)
            return r == 0 ? -ETIMEDOUT : r;
    }
    return -ECONNRESET;
}

/* connect() to path within the deadline: a full backlog waits (blocking fd: bounded by
 * SO_SNDTIMEO; non-blocking: retried). 0 or -errno. */
static int unix_connect(int fd, const char *path, long long deadline)
{
    struct sockaddr_un sun;
    socklen_t len = unix_address(&sun, path);
    int flags = fcntl(fd, F_GETFL);
    if ((flags & O_NONBLOCK) == 0) {
        long long left = deadline - now_ms();
        if (left < 1)
            left = 1;
        struct timeval tv = {.tv_sec = (time_t)(left / 1000), .tv_usec = (suseconds_t)(left % 1000) * 1000};
        struct timeval old;
        socklen_t olen = sizeof(old);
        int have_old = getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &old, &olen) == 0;
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        int rc;
        do
            rc = connect(fd, (struct sockaddr *)&sun, len);
        while (rc != 0 && errno == EINTR && now_ms() < deadline);
        int err = rc == 0 ? 0 : errno;
        if (have_old)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &old, sizeof(old));
        if (err == EAGAIN || err == EINPROGRESS)
            return -ETIMEDOUT;
        return -err;
    }
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sun, len) == 0)
            return 0;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        if (now_ms() >= deadline)
            return -ETIMEDOUT;
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
}

/* The unix error of a connect() as the vsock error a program sees. */
static int vsock_errno(int neg)
{
    if (neg == -ENOENT || neg == -ECONNREFUSED || neg == -ENOTDIR)
        return -ECONNREFUSED;
    return neg;
}

int nsmvsock_net_connect_fd(const nsmvsock_net *net, int fd, uint32_t local_cid,
                            uint32_t local_port, uint32_t cid, uint32_t port, int timeout_ms)
{
    if (cid == NSMVSOCK_CID_HOST)
        cid = NSMVSOCK_CID_PARENT;
    if (cid == NSMVSOCK_CID_LOCAL)
        cid = local_cid;
    long long deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    char target[NSMVSOCK_PATH_MAX], peer[NSMVSOCK_PATH_MAX];
    struct stat st;
    int device = 0;
    nsmvsock_net_listener_path(net, cid, port, target);
    if (lstat(target, &st) != 0) {
        nsmvsock_net_device_path(net, cid, target);
        if (lstat(target, &st) != 0)
            return -ECONNREFUSED;
        device = 1;
    }
    nsmvsock_net_peer_path(net, local_cid, local_port, peer);
    struct sockaddr_un sun;
    socklen_t len = unix_address(&sun, peer);
    if (bind(fd, (struct sockaddr *)&sun, len) != 0) {
        if (errno != EADDRINUSE)
            return -errno;
        /* A name left by a process that died between bind and unlink. */
        unlink(peer);
        if (bind(fd, (struct sockaddr *)&sun, len) != 0)
            return -errno;
    }
    int rc = unix_connect(fd, target, deadline);
    if (!device && (rc == -ECONNREFUSED || rc == -ENOENT)) {
        /* a stale DIR/C.P (its listener died) in front of a guest's device socket: the
         * guest may listen on P itself. The bound name stays the socket's own. */
        nsmvsock_net_device_path(net, cid, target);
        if (lstat(target, &st) == 0) {
            device = 1;
            rc = unix_connect(fd, target, deadline);
        }
    }
    unlink(peer);
    if (rc != 0)
        return vsock_errno(rc);
    if (device)
        return nsmvsock_net_handshake(fd, port, (int)(deadline - now_ms()));
    return 0;
}

int nsmvsock_net_connect(const nsmvsock_net *net, uint32_t local_cid, uint32_t local_port,
                         uint32_t cid, uint32_t port, int timeout_ms, int flags)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | (flags & (SOCK_CLOEXEC | SOCK_NONBLOCK)), 0);
    if (fd < 0)
        return -errno;
    if (local_port == NSMVSOCK_PORT_ANY)
        local_port = nsmvsock_ephemeral_port();
    int rc = nsmvsock_net_connect_fd(net, fd, local_cid, local_port, cid, port, timeout_ms);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}
