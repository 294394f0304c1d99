/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit vsock guest side: `nsm-vsock vhost-user --socket PATH --cid N [--dir DIR]`.
 *
 * Listens on PATH for QEMU's vhost-user-vsock device (QEMU is the client:
 * `-chardev socket,path=PATH`), serves the guest's virtio-vsock queues and joins the guest
 * to the DIR network as CID N (coord VSOCKNET.md):
 *   - host programs reach the guest's port P through DIR/N.vsock: "CONNECT P\n", answered
 *     "OK <their port>\n" once the guest accepts (Firecracker's convention);
 *   - the guest reaches CID 2 or 3 port P through DIR/N.vsock_P if a host program listens
 *     there, else DIR/3.P; any other CID C through DIR/C.P or DIR/C.vsock. It binds
 *     DIR/N.<guest port>.peer first, so the acceptor sees the guest's address.
 * One thread, one poll loop: QEMU's socket, the queues' kick eventfds, the device socket,
 * host programs still sending their CONNECT line, and every connection's host socket. No
 * AF_VSOCK socket is ever opened here: the guest's vsock is its own virtio driver, talking
 * to this process through shared memory.
 */
#include "nsmkit/vhost_cmd.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "nsmkit/vhost_codes.h"
#include "nsmkit/vhost_user.h"
#include "nsmkit/virtio_vsock_dev.h"
#include "nsmkit/vsock_net.h"

#define PROG "nsm-vsock vhost-user"
#define MAX_PENDING 16          /* host programs between accept and their CONNECT line */
#define PENDING_TIMEOUT_MS 5000
#define LINE_MAX_BYTES 32
#define VU_IO_TIMEOUT_S 5       /* the rest of a vhost-user message, once it started */

struct pending {
    int fd;
    uint32_t cid, port;         /* the host program's address */
    char line[LINE_MAX_BYTES];
    size_t len;
    long long deadline;
};

struct backend {
    nsmvsock_net net;
    uint32_t cid;
    int listen_fd, qemu_fd, dev_fd;
    char sock_path[NSMVSOCK_PATH_MAX], dev_path[NSMVSOCK_PATH_MAX];
    struct vu_dev vu;
    struct vv_dev vv;
    struct pending pend[MAX_PENDING];
    bool verbose;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_code(int code, const char *what)
{
    if (code)
        fprintf(stderr, PROG ": %d %s: %s\n", code, vhost_code_name(code), what);
    else
        fprintf(stderr, PROG ": %s\n", what);
}

static void log_hook(void *ctx, int code, const char *msg)
{
    const struct backend *b = ctx;
    if (b->verbose || code)
        logf_code(code, msg);
}

/* A guest connecting from gport to (cid, port): the contract's order of names. */
static int guest_connect(void *ctx, uint32_t gport, uint64_t cid, uint32_t port)
{
    struct backend *b = ctx;
    if (cid >= NSMVSOCK_CID_ANY)
        return -ECONNREFUSED;
    if (cid == NSMVSOCK_CID_HOST || cid == NSMVSOCK_CID_PARENT) {
        char path[NSMVSOCK_PATH_MAX], peer[NSMVSOCK_PATH_MAX];
        struct stat st;
        nsmvsock_net_device_port_path(&b->net, b->cid, port, path);
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            /* non-blocking: a listener whose backlog is full (EAGAIN) counts as absent,
             * rather than stalling every other connection of the guest */
            int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            struct sockaddr_un pa = { .sun_family = AF_UNIX }, ta = { .sun_family = AF_UNIX };
            nsmvsock_net_peer_path(&b->net, b->cid, gport, peer);
            memcpy(pa.sun_path, peer, sizeof pa.sun_path);
            memcpy(ta.sun_path, path, sizeof ta.sun_path);
            unlink(peer); /* a name left by a backend that died between bind and unlink */
            int ok = fd >= 0 && bind(fd, (struct sockaddr *)&pa, sizeof pa) == 0 &&
                     connect(fd, (struct sockaddr *)&ta, sizeof ta) == 0;
            unlink(peer);
            if (ok)
                return fd;
            if (fd >= 0)
                close(fd);
        }
    }
    return nsmvsock_net_connect(&b->net, b->cid, gport, (uint32_t)cid, port,
                                NSMVSOCK_CONNECT_TIMEOUT_MS, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* A listening unix socket at path, 0600: a stale file (nobody accepts) is replaced, a live
 * one is refused. The descriptor, or -1 with a message. */
static int listen_unix(const char *path, nsmkit_error *e)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path)
        return nsmkit_fail(e, "%s: longer than a unix socket name (%zu bytes)", path,
                           sizeof sa.sun_path - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return nsmkit_fail(e, "socket: %s", strerror(errno));
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    if (rc != 0 && errno == EADDRINUSE) {
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0)
            close(probe);
        struct stat st;
        if (!live && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(path);
            rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
        } else {
            errno = live ? EADDRINUSE : EEXIST;
        }
    }
    umask(old);
    if (rc != 0 || listen(fd, 16) != 0) {
        int err = errno;
        close(fd);
        return nsmkit_fail(e, "%s: %s", path,
                           err == EADDRINUSE ? "another backend is listening there" : strerror(err));
    }
    return fd;
}

static void drop_guest(struct backend *b, const char *why)
{
    logf_code(0, why);
    vv_reset(&b->vv);
    vu_reset(&b->vu);
    for (unsigned i = 0; i < MAX_PENDING; i++) {
        if (b->pend[i].fd >= 0)
            close(b->pend[i].fd); /* the host program sees EOF before OK: ECONNRESET */
        b->pend[i].fd = -1;
    }
    if (b->qemu_fd >= 0)
        close(b->qemu_fd);
    b->qemu_fd = -1;
}

static void qemu_message(struct backend *b)
{
    static struct vu_msg msg, reply;
    int r = vu_recv(b->qemu_fd, &msg);
    if (r <= 0) {
        drop_guest(b, r == 0 ? "QEMU closed the vhost-user connection" : vhost_code_sentence(-r));
        return;
    }
    bool need_reply;
    int rc = vu_handle(&b->vu, &msg, &reply, &need_reply);
    if (b->verbose)
        fprintf(stderr, PROG ": vhost-user request %u -> %d\n", msg.request, rc);
    if (need_reply && vu_send(b->qemu_fd, &reply) != 0)
        rc = rc ? rc : VHOST_ERR_VU_IO;
    if (rc) {
        char line[400];
        snprintf(line, sizeof line, "%d %s: %s; dropping QEMU's connection", rc,
                 vhost_code_name(rc), b->vu.why[0] ? b->vu.why : vhost_code_sentence(rc));
        drop_guest(b, line);
    }
}

static bool queues_live(const struct backend *b)
{
    return b->qemu_fd >= 0 && vu_queue_live(&b->vu, VU_QUEUE_RX) &&
           vu_queue_live(&b->vu, VU_QUEUE_TX);
}

static void drain_eventfd(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) == (ssize_t)sizeof v) {}
}

static void notify(struct backend *b)
{
    for (unsigned q = 0; q < 2; q++) {
        if (vq_should_notify(&b->vu.vq[q]) && b->vu.call[q] >= 0) {
            uint64_t one = 1;
            if (write(b->vu.call[q], &one, sizeof one) < 0 && errno != EAGAIN)
                logf_code(0, "cannot signal the guest (call eventfd)");
        }
    }
}

/* The guest broke a queue's rules: the spec lets a device stop; we drop the guest. */
static bool queues_broken(struct backend *b)
{
    if (!b->vu.vq[VU_QUEUE_RX].broken && !b->vu.vq[VU_QUEUE_TX].broken)
        return false;
    drop_guest(b, "the guest broke a virtqueue's rules (a descriptor outside its memory, a "
                  "loop, an index past the ring); dropping it");
    return true;
}

static void accept_host_program(struct backend *b)
{
    int fd = accept4(b->dev_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    for (unsigned i = 0; i < MAX_PENDING; i++) {
        struct pending *p = &b->pend[i];
        if (p->fd < 0 && queues_live(b)) {
            *p = (struct pending){ .fd = fd, .deadline = now_ms() + PENDING_TIMEOUT_MS };
            nsmvsock_net_peer_of(fd, &p->cid, &p->port);
            return;
        }
    }
    close(fd); /* no guest yet, or too many half-open: EOF before OK means ECONNRESET */
}

/* "CONNECT <port>\n": decimal, no sign, no leading zeros, < 2^32. */
static int parse_connect(const char *line, size_t len, uint32_t *port)
{
    static const char word[] = "CONNECT ";
    size_t w = sizeof word - 1;
    if (len < w + 2 || memcmp(line, word, w) != 0 || line[len - 1] != '\n')
        return -1;
    uint64_t v = 0;
    size_t digits = len - 1 - w;
    if (digits > 10 || (digits > 1 && line[w] == '0'))
        return -1;
    for (size_t i = w; i < len - 1; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(line[i] - '0');
    }
    if (v > UINT32_MAX)
        return -1;
    *port = (uint32_t)v;
    return 0;
}

static void pending_readable(struct backend *b, struct pending *p)
{
    /* byte by byte up to the newline: what follows it belongs to the guest's stream */
    while (p->len < sizeof p->line) {
        ssize_t n = read(p->fd, p->line + p->len, 1);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0)
            break;
        if (p->line[p->len++] == '\n') {
            uint32_t port;
            if (parse_connect(p->line, p->len, &port) != 0)
                break;
            int rc = vv_host_connect(&b->vv, p->fd, p->cid, p->port, port);
            if (rc)
                log_hook(b, rc, "a host program's CONNECT was refused");
            p->fd = -1;
            return;
        }
    }
    log_hook(b, VHOST_ERR_CMD_CONNECT_LINE, "a host program sent no CONNECT <port> line");
    close(p->fd);
    p->fd = -1;
}

enum kind { K_LISTEN, K_QEMU, K_DEV, K_KICK, K_PENDING, K_CONN };
#define MAX_POLL (4 + VU_NUM_QUEUES + MAX_PENDING + VV_MAX_CONNS)

struct pollset {
    struct pollfd fd[MAX_POLL];
    enum kind kind[MAX_POLL];
    unsigned index[MAX_POLL];
    unsigned n;
};

static void watch(struct pollset *ps, int fd, short events, enum kind k, unsigned i)
{
    ps->fd[ps->n] = (struct pollfd){ .fd = fd, .events = events };
    ps->kind[ps->n] = k;
    ps->index[ps->n] = i;
    ps->n++;
}

static int build_pollset(struct backend *b, struct pollset *ps)
{
    ps->n = 0;
    watch(ps, b->qemu_fd >= 0 ? b->qemu_fd : b->listen_fd, POLLIN,
          b->qemu_fd >= 0 ? K_QEMU : K_LISTEN, 0);
    watch(ps, b->dev_fd, POLLIN, K_DEV, 0);
    long long now = now_ms(), next = now + 1000;
    b->vv.now_ms = (uint64_t)now;
    if (queues_live(b))
        vv_expire(&b->vv);
    for (unsigned i = 0; i < MAX_PENDING; i++) {
        if (b->pend[i].fd < 0)
            continue;
        if (b->pend[i].deadline <= now) {
            close(b->pend[i].fd);
            b->pend[i].fd = -1;
            continue;
        }
        if (b->pend[i].deadline < next)
            next = b->pend[i].deadline;
        watch(ps, b->pend[i].fd, POLLIN, K_PENDING, i);
    }
    if (!queues_live(b))
        return (int)(next - now);
    for (unsigned q = 0; q < VU_NUM_QUEUES; q++)
        if (b->vu.kick[q] >= 0)
            watch(ps, b->vu.kick[q], POLLIN, K_KICK, q);
    for (unsigned s = 0; s < VV_MAX_CONNS; s++) {
        short ev = vv_conn_events(&b->vv, s);
        if (ev)
            watch(ps, b->vv.conns[s]->fd, ev, K_CONN, s);
        if (ev && b->vv.conns[s]->state == VV_CONNECTING &&
            (long long)b->vv.conns[s]->deadline_ms < next)
            next = (long long)b->vv.conns[s]->deadline_ms;
    }
    return b->vv.tx_more ? 0 : (int)(next - now);
}

static void kicked(struct backend *b, unsigned q)
{
    drain_eventfd(b->vu.kick[q]);
    if (q == VU_QUEUE_RX)
        vv_rx_kicked(&b->vv);
    else if (q == VU_QUEUE_TX && vv_process_tx(&b->vv) < 0)
        (void)queues_broken(b);
}

static void dispatch_events(struct backend *b, struct pollset *ps)
{
    for (unsigned i = 0; i < ps->n; i++) {
        short re = ps->fd[i].revents;
        if (!re)
            continue;
        unsigned x = ps->index[i];
        switch (ps->kind[i]) {
        case K_LISTEN:
            b->qemu_fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (b->qemu_fd >= 0) {
                /* a peer that stops mid-message is dropped, not waited for forever */
                struct timeval tv = { .tv_sec = VU_IO_TIMEOUT_S };
                setsockopt(b->qemu_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                setsockopt(b->qemu_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
                logf_code(0, "QEMU connected");
            }
            break;
        case K_QEMU:
            qemu_message(b);
            return; /* the queues may have changed under the rest of this set */
        case K_DEV:
            accept_host_program(b);
            break;
        case K_PENDING:
            if (b->pend[x].fd == ps->fd[i].fd)
                pending_readable(b, &b->pend[x]);
            break;
        case K_KICK:
            if (queues_live(b) && b->vu.kick[x] == ps->fd[i].fd)
                kicked(b, x);
            break;
        case K_CONN:
            if (queues_live(b) && b->vv.conns[x] && b->vv.conns[x]->fd == ps->fd[i].fd)
                vv_conn_event(&b->vv, x, re);
            break;
        }
        if (b->qemu_fd >= 0 && queues_broken(b))
            return;
    }
}

static int serve(struct backend *b)
{
    static struct pollset ps;
    while (!stop_signal) {
        int timeout = build_pollset(b, &ps);
        int n = poll(ps.fd, ps.n, timeout < 0 ? 0 : timeout);
        if (n < 0 && errno != EINTR) {
            logf_code(VHOST_ERR_CMD_POLL, strerror(errno));
            return 2;
        }
        if (n > 0)
            dispatch_events(b, &ps);
        if (queues_live(b)) {
            if (b->vv.tx_more && vv_process_tx(&b->vv) < 0 && queues_broken(b))
                continue;
            vv_flush_ctrl(&b->vv);
            if (!queues_broken(b))
                notify(b);
        }
    }
    return 0;
}

typedef struct {
    const char *sock, *dir;
    uint32_t cid;
    bool verbose;
} vhost_args;

static int set_cid(void *ctx, const char *v, nsmkit_error *e)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || v[0] < '0' || v[0] > '9' || n <= 3 || n >= NSMVSOCK_CID_ANY)
        return nsmkit_fail(e, "--cid %s: a guest CID is a whole number from 4 to 4294967294 "
                              "(2 is the host, 3 the parent)", v);
    ((vhost_args *)ctx)->cid = (uint32_t)n;
    return 0;
}

static const nsmkit_opt vhost_rows[] = {
    NSMKIT_OPT_STRING("--socket", "PATH", vhost_args, sock, "the vhost-user socket to listen on"),
    NSMKIT_OPT_CALL("--cid", "N", set_cid, "the guest's CID (3 < N < 2^32-1)"),
    NSMKIT_OPT_STRING("--dir", "DIR", vhost_args, dir,
                      "the vsock network (default $NSM_VSOCK_DIR, else\n"
                      "${XDG_RUNTIME_DIR:-/tmp}/nsmkit-vsock-<uid>)"),
    NSMKIT_OPT_FLAG("--verbose", vhost_args, verbose, "log each connection"),
};
static const nsmkit_opt_group vhost_groups[] = {{NULL, vhost_rows, NSMKIT_ROWS(vhost_rows)}};
static const nsmkit_cli vhost_cli = {
    PROG, "--socket PATH --cid N [--dir DIR] [--verbose]",
    "A vhost-user backend for QEMU's vhost-user-vsock-pci / vhost-user-vsock-device:\n"
    "listens on PATH (QEMU: -chardev socket,id=c,path=PATH -device\n"
    "vhost-user-vsock-pci,chardev=c, guest memory shared with memory-backend-memfd\n"
    "share=on) and gives the guest CID N on the vsock network DIR:\n"
    "  host -> guest port P: connect to DIR/N.vsock, send \"CONNECT P\\n\", read \"OK <n>\\n\"\n"
    "  guest -> CID 2 or 3 port P: DIR/N.vsock_P if it exists, else DIR/3.P\n"
    "  guest -> CID C port P: DIR/C.P, else DIR/C.vsock",
    vhost_groups, 1, false, "Runs until SIGINT or SIGTERM. Exit status: 0, 2 for usage and I/O errors."};

int nsm_vsock_vhost_user_main(int argc, char **argv)
{
    static struct backend b;
    vhost_args args = {0};
    nsmkit_error e;
    int n, rc = nsmvsock_parse(&vhost_cli, argc, argv, &args, &n);
    if (rc >= 0)
        return rc;
    if (!args.sock || !args.cid || n != 0) {
        fprintf(stderr, PROG ": %d CMD_USAGE: --socket PATH and --cid N are required\n",
                VHOST_ERR_CMD_USAGE);
        nsmkit_opts_usage(&vhost_cli, stderr);
        return 2;
    }
    const char *sock = args.sock, *dir = args.dir;
    b.cid = args.cid;
    b.verbose = args.verbose;
    if (nsmvsock_net_open(&b.net, dir, &e) != NSMVSOCK_ERR_OK) {
        fprintf(stderr, PROG ": %d CMD_DIR: %s\n", VHOST_ERR_CMD_DIR, e.msg);
        return 2;
    }
    b.qemu_fd = -1;
    for (unsigned i = 0; i < MAX_PENDING; i++)
        b.pend[i].fd = -1;
    snprintf(b.sock_path, sizeof b.sock_path, "%s", sock);
    nsmvsock_net_device_path(&b.net, b.cid, b.dev_path);
    b.listen_fd = listen_unix(sock, &e);
    b.dev_fd = b.listen_fd < 0 ? -1 : listen_unix(b.dev_path, &e);
    if (b.listen_fd < 0 || b.dev_fd < 0) {
        fprintf(stderr, PROG ": %d CMD_SOCKET: %s\n", VHOST_ERR_CMD_SOCKET, e.msg);
        if (b.listen_fd >= 0)
            unlink(b.sock_path);
        return 2;
    }
    vu_init(&b.vu, b.cid);
    struct vv_ops ops = { .ctx = &b, .connect = guest_connect, .log = log_hook };
    vv_init(&b.vv, b.cid, &b.vu.mem, &b.vu.vq[VU_QUEUE_RX], &b.vu.vq[VU_QUEUE_TX], &ops);
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (b.verbose)
        fprintf(stderr, PROG ": listening on %s for QEMU; guest CID %u at %s\n", sock, b.cid,
                b.dev_path);
    rc = serve(&b);
    if (b.qemu_fd >= 0)
        drop_guest(&b, "stopping");
    close(b.listen_fd);
    close(b.dev_fd);
    unlink(b.sock_path);
    unlink(b.dev_path);
    return rc;
}
