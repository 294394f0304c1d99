/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The socket server: one handler (the core) shared by every client, as one NSM is shared
 * by every process of an enclave. A single thread polls every connection, so a client
 * that stalls inside a frame, floods, or never reads its answers holds nothing but its
 * own buffers; the core serialises requests anyway, like the driver's mutex.
 *
 * Per client: a frame being read (header, then at most NSM_REQUEST_MAX_SIZE bytes) and a
 * response being written. While a response is pending the client is not read, so a client
 * that pipelines requests without reading answers is throttled, not buffered.
 *
 * What a crowd of hostile or broken clients can do, and what stops it:
 *  - stall inside a frame (or never read its answer): a deadline from the first byte of a
 *    frame (or from the answer) closes it;
 *  - fill the client table: a newcomer takes the slot of the client idle the longest (no
 *    frame begun, no answer pending), and is refused only when every slot is busy;
 *  - exhaust the process's descriptors: a spare descriptor is given up to accept the
 *    newcomer and close it at once, so the listener never stays readable (no busy loop);
 *    without a spare the listener is left alone until a client leaves;
 *  - make the server log without end: each kind of line is printed at most
 *    NSMSIM_SERVER_LOG_BURST times per window, then counted and summarised.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "device.h"
#include "frame.h"
#include "log.h"
#include "server.h"
#include "nsmkit/error.h"

typedef struct {
    int fd;
    unsigned id;
    uint8_t header[NSMSIM_FRAME_HEADER_LEN];
    size_t header_have;
    uint32_t body_len;
    size_t body_have;
    uint8_t body[NSM_REQUEST_MAX_SIZE];
    uint8_t out[NSMSIM_FRAME_HEADER_LEN + NSM_RESPONSE_MAX_SIZE];
    size_t out_len;
    size_t out_pos;
    int64_t busy_since_ms; /* first byte of the frame being read, or the answer pending; -1 */
    int64_t last_active_ms; /* last frame answered (or the connection), for eviction */
} server_client;

/* The kinds of log line a crowd of clients can repeat; each is limited on its own. */
typedef enum {
    LOG_DROP,    /* a client closed for misbehaving */
    LOG_REFUSE,  /* a newcomer refused or an idle client evicted */
    LOG_ACCEPT,  /* accept failures */
    LOG_KINDS,
} log_kind;

typedef struct {
    int64_t window_start_ms;
    unsigned printed;    /* lines printed in this window */
    unsigned suppressed; /* lines held back in this window */
} log_limit;

struct nsmsim_server {
    int listen_fd;
    char path[108];
    dev_t sock_dev;
    ino_t sock_ino;
    nsmsim_handler_fn handler;
    void *ctx;
    unsigned max_clients;
    const char *log_prefix;
    server_client **clients;
    size_t client_count;
    struct pollfd *pfds;
    unsigned next_id;
    int frame_timeout_ms;
    int spare_fd;          /* /dev/null, given up to accept-and-close at the descriptor limit */
    bool listener_paused;  /* at the limit without a spare: not polled until a client leaves */
    bool at_fd_limit;      /* inside an episode of EMFILE/ENFILE (logged once) */
    log_limit log_limits[LOG_KINDS];
    nsmsim_server_stats stats;
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void server_log(const nsmsim_server *s, const char *fmt, ...) NSMKIT_PRINTF(2, 3);
static void server_log(const nsmsim_server *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nsmsim_log_vline(s->log_prefix ? s->log_prefix : "nsm-sim", fmt, ap);
    va_end(ap);
}

/* A line of a kind that hostile clients can repeat: at most NSMSIM_SERVER_LOG_BURST per
 * NSMSIM_SERVER_LOG_WINDOW_MS, then one line saying how many were held back. */
static void server_log_limited(nsmsim_server *s, log_kind kind, const char *fmt, ...)
    NSMKIT_PRINTF(3, 4);
static void server_log_limited(nsmsim_server *s, log_kind kind, const char *fmt, ...)
{
    log_limit *l = &s->log_limits[kind];
    int64_t now = monotonic_ms();
    if (now - l->window_start_ms >= NSMSIM_SERVER_LOG_WINDOW_MS) {
        if (l->suppressed)
            server_log(s, "%u similar lines suppressed in the last %d s", l->suppressed,
                       NSMSIM_SERVER_LOG_WINDOW_MS / 1000);
        l->window_start_ms = now;
        l->printed = l->suppressed = 0;
    }
    if (l->printed >= NSMSIM_SERVER_LOG_BURST) {
        l->suppressed++;
        s->stats.log_suppressed++;
        return;
    }
    l->printed++;
    va_list ap;
    va_start(ap, fmt);
    nsmsim_log_vline(s->log_prefix ? s->log_prefix : "nsm-sim", fmt, ap);
    va_end(ap);
}

static void server_log_flush_suppressed(nsmsim_server *s)
{
    for (int k = 0; k < LOG_KINDS; k++) {
        if (s->log_limits[k].suppressed)
            server_log(s, "%u similar lines suppressed", s->log_limits[k].suppressed);
        s->log_limits[k].suppressed = 0;
    }
}

static int bind_socket(int fd, const struct sockaddr_un *addr)
{
    /* The socket file takes its mode from the umask at bind time; the chmod below closes
     * the window for umasks that ignore ours (another thread changing it). */
    mode_t old = umask(077);
    int r = bind(fd, (const struct sockaddr *)addr, sizeof(*addr));
    int err = errno;
    umask(old);
    errno = err;
    return r;
}

/* Sets the message and returns the code. */
#define fail_code(e, code, ...) ((nsmsim_code)nsmkit_fail_with((e), (int)(code), __VA_ARGS__))

/* The server's memory and settings, before any descriptor exists; NULL when out of
 * memory. */
static nsmsim_server *server_alloc(const nsmsim_server_options *options,
                                   nsmsim_handler_fn handler, void *ctx)
{
    nsmsim_server *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->listen_fd = -1;
    s->spare_fd = -1;
    memcpy(s->path, options->socket_path, strlen(options->socket_path) + 1);
    s->frame_timeout_ms = options->frame_timeout_ms > 0 ? options->frame_timeout_ms
                                                        : NSMSIM_SERVER_FRAME_TIMEOUT_MS;
    for (int k = 0; k < LOG_KINDS; k++)
        s->log_limits[k].window_start_ms = INT64_MIN / 2;
    s->handler = handler;
    s->ctx = ctx;
    s->max_clients = options->max_clients ? options->max_clients : NSMSIM_SERVER_MAX_CLIENTS;
    s->log_prefix = options->log_prefix;
    s->clients = calloc(s->max_clients, sizeof(*s->clients));
    s->pfds = calloc(s->max_clients + 2, sizeof(*s->pfds));
    if (!s->clients || !s->pfds) {
        free(s->clients);
        free(s->pfds);
        free(s);
        return NULL;
    }
    return s;
}

/* Binds fd to path. A socket file nobody listens on (left by a server that died) is
 * replaced; a live server's socket, or a path that is not a socket, is an error. */
static nsmsim_code bind_or_replace_stale(int fd, const struct sockaddr_un *addr,
                                         const char *path, nsmkit_error *e)
{
    if (bind_socket(fd, addr) == 0)
        return NSMSIM_ERR_OK;
    int err = errno;
    struct stat st;
    if (err != EADDRINUSE)
        return fail_code(e, NSMSIM_ERR_SOCKET_BIND, "cannot bind %s: %s", path, strerror(err));
    if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return fail_code(e, NSMSIM_ERR_SOCKET_NOT_SOCKET,
                         "cannot bind %s: it exists and is not a socket", path);
    nsmkit_error ignored;
    int probe = nsmsim_client_connect(path, &ignored);
    if (probe >= 0) {
        close(probe);
        return fail_code(e, NSMSIM_ERR_SOCKET_TAKEN,
                         "cannot bind %s: another server is listening there", path);
    }
    if (errno != ECONNREFUSED)
        return fail_code(e, NSMSIM_ERR_SOCKET_BIND, "cannot bind %s: %s", path, strerror(err));
    if (unlink(path) != 0 || bind_socket(fd, addr) != 0)
        return fail_code(e, NSMSIM_ERR_SOCKET_BIND, "cannot bind %s: %s", path, strerror(errno));
    return NSMSIM_ERR_OK;
}

nsmsim_code nsmsim_server_open(const nsmsim_server_options *options, nsmsim_handler_fn handler,
                               void *ctx, nsmsim_server **out, nsmkit_error *e)
{
    *out = NULL;
    const char *path = options->socket_path;
    if (!path || !*path)
        return fail_code(e, NSMSIM_ERR_SOCKET_PATH, "no socket path given");
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof(addr.sun_path))
        return fail_code(e, NSMSIM_ERR_SOCKET_PATH,
                         "cannot bind %s: path too long (%zu bytes, at most %zu)", path, n,
                         sizeof(addr.sun_path) - 1);
    memcpy(addr.sun_path, path, n);

    nsmsim_server *s = server_alloc(options, handler, ctx);
    if (!s)
        return fail_code(e, NSMSIM_ERR_NO_MEMORY, "out of memory");
    nsmsim_code code = NSMSIM_ERR_SOCKET_BIND;
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->listen_fd < 0) {
        nsmkit_fail(e, "cannot bind %s: socket: %s", path, strerror(errno));
        goto fail;
    }
    code = bind_or_replace_stale(s->listen_fd, &addr, path, e);
    if (code != NSMSIM_ERR_OK)
        goto fail;
    code = NSMSIM_ERR_SOCKET_BIND;
    struct stat st;
    if (chmod(path, 0600) != 0 || stat(path, &st) != 0) {
        nsmkit_fail(e, "cannot bind %s: %s", path, strerror(errno));
        unlink(path);
        goto fail;
    }
    s->sock_dev = st.st_dev;
    s->sock_ino = st.st_ino;
    if (listen(s->listen_fd, 64) != 0) {
        nsmkit_fail(e, "cannot listen on %s: %s", path, strerror(errno));
        unlink(path);
        goto fail;
    }
    *out = s;
    return NSMSIM_ERR_OK;

fail:
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->spare_fd >= 0)
        close(s->spare_fd);
    free(s->clients);
    free(s->pfds);
    free(s);
    return code;
}

static void client_close(nsmsim_server *s, size_t index)
{
    server_client *c = s->clients[index];
    close(c->fd);
    free(c);
    s->clients[index] = s->clients[--s->client_count];
    s->clients[s->client_count] = NULL;
    s->listener_paused = false; /* a descriptor and a slot are free again */
    if (s->spare_fd < 0) /* the spare was lost at the limit: take the descriptor just freed */
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void client_drop(nsmsim_server *s, size_t index, const char *fmt, ...) NSMKIT_PRINTF(3, 4);
static void client_drop(nsmsim_server *s, size_t index, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    server_log_limited(s, LOG_DROP, "client %u: %s; closing it", s->clients[index]->id, why);
    s->stats.dropped++;
    client_close(s, index);
}

/* The client idle the longest (no frame begun, no answer pending), or SIZE_MAX. */
static size_t idlest_client(const nsmsim_server *s)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < s->client_count; i++) {
        const server_client *c = s->clients[i];
        if (c->busy_since_ms >= 0)
            continue;
        /* bytes waiting unread: a request this loop has not got to yet (a client accepted
         * in the same burst), not an idle connection */
        int unread = 0;
        if (ioctl(c->fd, FIONREAD, &unread) == 0 && unread > 0)
            continue;
        if (best == SIZE_MAX || c->last_active_ms < s->clients[best]->last_active_ms)
            best = i;
    }
    return best;
}

/* At the descriptor limit: give up the spare to take the newcomer off the queue and
 * close it, so that the listener does not stay readable and poll does not spin. Without
 * a spare, stop polling the listener until a client leaves (or a second passes). Logged
 * once per episode. */
static void accept_at_fd_limit(nsmsim_server *s, int err)
{
    if (!s->at_fd_limit) { /* once per episode; episodes themselves are rate-limited */
        server_log_limited(s, LOG_ACCEPT,
                           "accept: %s: refusing new clients until descriptors are free",
                           strerror(err));
        s->at_fd_limit = true;
    }
    s->stats.refused++;
    if (s->spare_fd >= 0) {
        close(s->spare_fd);
        s->spare_fd = -1;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            close(fd);
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && s->spare_fd >= 0)
            return;
    }
    s->listener_paused = true;
}

static void accept_clients(nsmsim_server *s)
{
    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            int err = errno;
            if (err == EINTR || err == ECONNABORTED)
                continue;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                accept_at_fd_limit(s, err);
                if (s->listener_paused)
                    return;
                continue;
            }
            if (err != EAGAIN && err != EWOULDBLOCK)
                server_log_limited(s, LOG_ACCEPT, "accept: %s", strerror(err));
            return;
        }
        if (s->at_fd_limit) {
            server_log_limited(s, LOG_ACCEPT, "accepting new clients again");
            s->at_fd_limit = false;
        }
        if (s->spare_fd < 0)
            s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        unsigned id = ++s->next_id;
        if (s->client_count >= s->max_clients) {
            size_t idle = idlest_client(s);
            if (idle == SIZE_MAX) {
                server_log_limited(s, LOG_REFUSE,
                                   "client %u: refused, all %u clients are inside a request",
                                   id, s->max_clients);
                s->stats.refused++;
                close(fd);
                continue;
            }
            server_log_limited(s, LOG_REFUSE,
                               "client %u: closed (idle the longest) to make room for client %u",
                               s->clients[idle]->id, id);
            s->stats.evicted++;
            client_close(s, idle);
        }
        server_client *c = calloc(1, sizeof(*c));
        if (!c) {
            server_log_limited(s, LOG_REFUSE, "client %u: refused, out of memory", id);
            s->stats.refused++;
            close(fd);
            continue;
        }
        c->fd = fd;
        c->id = id;
        c->busy_since_ms = -1;
        c->last_active_ms = monotonic_ms();
        s->clients[s->client_count++] = c;
        s->stats.accepted++;
    }
}

/* Returns 0 while the client stays, -1 once it was closed. */
static int client_flush(nsmsim_server *s, size_t index)
{
    server_client *c = s->clients[index];
    while (c->out_pos < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_pos += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        client_drop(s, index, "went away before reading its response (%s)",
                    n < 0 ? strerror(errno) : "closed");
        return -1;
    }
    c->out_len = c->out_pos = 0;
    c->busy_since_ms = -1;
    c->last_active_ms = monotonic_ms();
    return 0;
}

static int client_answer(nsmsim_server *s, size_t index)
{
    server_client *c = s->clients[index];
    size_t resp_len = 0;
    int err = s->handler(s->ctx, c->body, c->body_len, c->out + NSMSIM_FRAME_HEADER_LEN,
                         &resp_len);
    c->header_have = c->body_have = 0;
    c->body_len = 0;
    if (err != 0 || resp_len > NSM_RESPONSE_MAX_SIZE) {
        client_drop(s, index, "no response from the core (%s)",
                    err ? strerror(err) : "oversized");
        return -1;
    }
    nsmsim_frame_header_encode(c->out, (uint32_t)resp_len);
    c->out_len = NSMSIM_FRAME_HEADER_LEN + resp_len;
    c->out_pos = 0;
    c->busy_since_ms = monotonic_ms(); /* the answer has the same deadline to leave */
    s->stats.requests++;
    return client_flush(s, index);
}

/* Reads what the client sent, answering at most one complete frame per call so that one
 * busy client cannot starve the others. */
static void client_read(nsmsim_server *s, size_t index)
{
    server_client *c = s->clients[index];
    for (;;) {
        uint8_t *dst;
        size_t want;
        if (c->header_have < NSMSIM_FRAME_HEADER_LEN) {
            dst = c->header + c->header_have;
            want = NSMSIM_FRAME_HEADER_LEN - c->header_have;
        } else {
            dst = c->body + c->body_have;
            want = c->body_len - c->body_have;
        }
        if (want > 0) {
            ssize_t n = read(c->fd, dst, want);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            if (n <= 0) {
                bool inside = c->header_have > 0;
                if (!inside) {
                    client_close(s, index); /* a clean goodbye between frames */
                    return;
                }
                if (c->header_have < NSMSIM_FRAME_HEADER_LEN)
                    client_drop(s, index, "short frame: %s after %zu of 4 header bytes",
                                n < 0 ? strerror(errno) : "closed", c->header_have);
                else
                    client_drop(s, index, "short frame: %s after %zu of %u bytes",
                                n < 0 ? strerror(errno) : "closed", c->body_have, c->body_len);
                return;
            }
            if (c->header_have == 0)
                c->busy_since_ms = monotonic_ms(); /* the frame's deadline starts now */
            if (c->header_have < NSMSIM_FRAME_HEADER_LEN) {
                c->header_have += (size_t)n;
                if (c->header_have < NSMSIM_FRAME_HEADER_LEN)
                    continue;
                uint32_t len = nsmsim_frame_header_decode(c->header);
                if (len > NSM_REQUEST_MAX_SIZE) {
                    client_drop(s, index, "frame of %u bytes is over the %u-byte request limit",
                                len, (unsigned)NSM_REQUEST_MAX_SIZE);
                    return;
                }
                c->body_len = len;
                c->body_have = 0;
            } else {
                c->body_have += (size_t)n;
            }
        }
        if (c->header_have == NSMSIM_FRAME_HEADER_LEN && c->body_have == c->body_len) {
            client_answer(s, index);
            return;
        }
    }
}

/* Closes the clients whose frame (or answer) is past its deadline; returns the poll
 * timeout until the next deadline (-1: none). */
static int expire_stalled_clients(nsmsim_server *s)
{
    int64_t now = monotonic_ms();
    int64_t next = -1;
    for (size_t k = s->client_count; k-- > 0;) {
        server_client *c = s->clients[k];
        if (c->busy_since_ms < 0)
            continue;
        int64_t deadline = c->busy_since_ms + s->frame_timeout_ms;
        if (deadline <= now) {
            if (c->out_len > c->out_pos)
                client_drop(s, k, "did not read its response within %d ms", s->frame_timeout_ms);
            else
                client_drop(s, k, "stalled inside a frame (%zu of %zu bytes) for %d ms",
                            c->header_have + c->body_have,
                            c->header_have < NSMSIM_FRAME_HEADER_LEN
                                ? (size_t)NSMSIM_FRAME_HEADER_LEN
                                : NSMSIM_FRAME_HEADER_LEN + (size_t)c->body_len,
                            s->frame_timeout_ms);
            s->stats.timed_out++;
            continue;
        }
        if (next < 0 || deadline < next)
            next = deadline;
    }
    if (s->listener_paused) /* descriptors may also free elsewhere in the process */
        next = next < 0 || now + 1000 < next ? now + 1000 : next;
    if (next < 0)
        return -1;
    int64_t wait = next - now;
    return wait > INT32_MAX ? INT32_MAX : (int)wait;
}

nsmsim_code nsmsim_server_run(nsmsim_server *s, int stop_fd, nsmkit_error *e)
{
    int64_t paused_at = 0;
    for (;;) {
        int timeout = expire_stalled_clients(s);
        if (s->listener_paused) {
            int64_t now = monotonic_ms();
            if (paused_at == 0)
                paused_at = now;
            else if (now - paused_at >= 1000)
                s->listener_paused = false; /* look again: something else may have closed */
        }
        if (!s->listener_paused)
            paused_at = 0;
        size_t np = 0;
        size_t stop_at = SIZE_MAX;
        if (stop_fd >= 0) {
            stop_at = np;
            s->pfds[np++] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
        }
        size_t listen_at = np;
        /* A negative descriptor is ignored by poll: the listener rests while paused. */
        s->pfds[np++] = (struct pollfd){.fd = s->listener_paused ? -1 : s->listen_fd,
                                        .events = POLLIN};
        size_t first_client = np;
        size_t count = s->client_count;
        for (size_t i = 0; i < count; i++) {
            server_client *c = s->clients[i];
            s->pfds[np++] = (struct pollfd){
                .fd = c->fd, .events = c->out_len > c->out_pos ? POLLOUT : POLLIN};
        }
        int r = poll(s->pfds, np, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return fail_code(e, NSMSIM_ERR_SERVER_POLL, "poll: %s", strerror(errno));
        }
        if (stop_at != SIZE_MAX && s->pfds[stop_at].revents)
            return NSMSIM_ERR_OK;
        /* Walk clients from the end: closing one moves the last client into its slot,
         * which has then already been served. */
        for (size_t k = count; k-- > 0;) {
            short rev = s->pfds[first_client + k].revents;
            if (!rev)
                continue;
            if (s->clients[k]->out_len > s->clients[k]->out_pos) {
                if (client_flush(s, k) != 0)
                    continue;
                if (s->clients[k]->out_len == 0 && (rev & (POLLHUP | POLLERR)))
                    client_read(s, k);
            } else {
                client_read(s, k);
            }
        }
        if (s->pfds[listen_at].revents)
            accept_clients(s);
    }
}

nsmsim_server_stats nsmsim_server_get_stats(const nsmsim_server *s)
{
    return s->stats;
}

void nsmsim_server_close(nsmsim_server *s)
{
    if (!s)
        return;
    while (s->client_count > 0)
        client_close(s, s->client_count - 1);
    server_log_flush_suppressed(s);
    close(s->listen_fd);
    if (s->spare_fd >= 0)
        close(s->spare_fd);
    /* Remove the socket only if it is still ours (not replaced by another server). */
    struct stat st;
    if (lstat(s->path, &st) == 0 && st.st_dev == s->sock_dev && st.st_ino == s->sock_ino)
        unlink(s->path);
    free(s->clients);
    free(s->pfds);
    free(s);
}
