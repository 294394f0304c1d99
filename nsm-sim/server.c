/*
 * The socket server: one handler (the core) shared by every client, as one NSM is shared
 * by every process of an enclave. A single thread polls every connection, so a client
 * that stalls inside a frame, floods, or never reads its answers holds nothing but its
 * own buffers; the core serialises requests anyway, like the driver's mutex.
 *
 * Per client: a frame being read (header, then at most NSM_REQUEST_MAX_SIZE bytes) and a
 * response being written. While a response is pending the client is not read, so a client
 * that pipelines requests without reading answers is throttled, not buffered.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "frontend.h"
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
} server_client;

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
    nsmsim_server_stats stats;
};

static void server_log(const nsmsim_server *s, const char *fmt, ...) NSMKIT_PRINTF(2, 3);
static void server_log(const nsmsim_server *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nsmsim_log_vline(s->log_prefix ? s->log_prefix : "nsm-sim", fmt, ap);
    va_end(ap);
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

int nsmsim_server_open(const nsmsim_server_options *options, nsmsim_handler_fn handler,
                       void *ctx, nsmsim_server **out, nsmkit_error *e)
{
    *out = NULL;
    const char *path = options->socket_path;
    if (!path || !*path)
        return nsmkit_fail(e, "no socket path given");
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof(addr.sun_path))
        return nsmkit_fail(e, "cannot bind %s: path too long (%zu bytes, at most %zu)", path, n,
                           sizeof(addr.sun_path) - 1);
    memcpy(addr.sun_path, path, n);

    nsmsim_server *s = calloc(1, sizeof(*s));
    if (!s)
        return nsmkit_fail(e, "out of memory");
    s->listen_fd = -1;
    memcpy(s->path, path, n + 1);
    s->handler = handler;
    s->ctx = ctx;
    s->max_clients = options->max_clients ? options->max_clients : NSMSIM_SERVER_MAX_CLIENTS;
    s->log_prefix = options->log_prefix;
    s->clients = calloc(s->max_clients, sizeof(*s->clients));
    s->pfds = calloc(s->max_clients + 2, sizeof(*s->pfds));
    if (!s->clients || !s->pfds) {
        nsmkit_fail(e, "out of memory");
        goto fail;
    }

    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->listen_fd < 0) {
        nsmkit_fail(e, "cannot bind %s: socket: %s", path, strerror(errno));
        goto fail;
    }
    if (bind_socket(s->listen_fd, &addr) != 0) {
        int err = errno;
        struct stat st;
        if (err != EADDRINUSE) {
            nsmkit_fail(e, "cannot bind %s: %s", path, strerror(err));
            goto fail;
        }
        if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
            nsmkit_fail(e, "cannot bind %s: it exists and is not a socket", path);
            goto fail;
        }
        nsmkit_error ignored;
        int probe = nsmsim_client_connect(path, &ignored);
        if (probe >= 0) {
            close(probe);
            nsmkit_fail(e, "cannot bind %s: another server is listening there", path);
            goto fail;
        }
        if (errno != ECONNREFUSED) {
            nsmkit_fail(e, "cannot bind %s: %s", path, strerror(err));
            goto fail;
        }
        /* A socket nobody listens on: left by a server that died. */
        if (unlink(path) != 0 || bind_socket(s->listen_fd, &addr) != 0) {
            nsmkit_fail(e, "cannot bind %s: %s", path, strerror(errno));
            goto fail;
        }
    }
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
    return 0;

fail:
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free(s->clients);
    free(s->pfds);
    free(s);
    return -1;
}

static void client_close(nsmsim_server *s, size_t index)
{
    server_client *c = s->clients[index];
    close(c->fd);
    free(c);
    s->clients[index] = s->clients[--s->client_count];
    s->clients[s->client_count] = NULL;
}

static void client_drop(nsmsim_server *s, size_t index, const char *fmt, ...) NSMKIT_PRINTF(3, 4);
static void client_drop(nsmsim_server *s, size_t index, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    server_log(s, "client %u: %s; closing it", s->clients[index]->id, why);
    s->stats.dropped++;
    client_close(s, index);
}

static void accept_clients(nsmsim_server *s)
{
    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                server_log(s, "accept: %s", strerror(errno));
            return;
        }
        unsigned id = ++s->next_id;
        if (s->client_count >= s->max_clients) {
            server_log(s, "client %u: refused, already serving %u clients", id, s->max_clients);
            close(fd);
            continue;
        }
        server_client *c = calloc(1, sizeof(*c));
        if (!c) {
            server_log(s, "client %u: refused, out of memory", id);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->id = id;
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

int nsmsim_server_run(nsmsim_server *s, int stop_fd, nsmkit_error *e)
{
    for (;;) {
        size_t np = 0;
        size_t stop_at = SIZE_MAX;
        if (stop_fd >= 0) {
            stop_at = np;
            s->pfds[np++] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
        }
        size_t listen_at = np;
        s->pfds[np++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        size_t first_client = np;
        size_t count = s->client_count;
        for (size_t i = 0; i < count; i++) {
            server_client *c = s->clients[i];
            s->pfds[np++] = (struct pollfd){
                .fd = c->fd, .events = c->out_len > c->out_pos ? POLLOUT : POLLIN};
        }
        int r = poll(s->pfds, np, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return nsmkit_fail(e, "poll: %s", strerror(errno));
        }
        if (stop_at != SIZE_MAX && s->pfds[stop_at].revents)
            return 0;
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
    close(s->listen_fd);
    /* Remove the socket only if it is still ours (not replaced by another server). */
    struct stat st;
    if (lstat(s->path, &st) == 0 && st.st_dev == s->sock_dev && st.st_ino == s->sock_ino)
        unlink(s->path);
    free(s->clients);
    free(s->pfds);
    free(s);
}
