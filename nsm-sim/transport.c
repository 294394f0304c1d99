/*
 * Framing (`u32 little-endian length || CBOR`) over any stream descriptor, and the client
 * side of the socket transport: connecting, and a per-process connection that survives
 * fork, bulk closes and reused descriptor numbers.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "device.h"
#include "frame.h"
#include "envopts.h"
#include "log.h"
#include "nsmkit/sim.h"
#include "nsmkit/error.h"

void nsmsim_frame_header_encode(uint8_t out[NSMSIM_FRAME_HEADER_LEN], uint32_t len)
{
    out[0] = (uint8_t)len;
    out[1] = (uint8_t)(len >> 8);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 24);
}

uint32_t nsmsim_frame_header_decode(const uint8_t in[NSMSIM_FRAME_HEADER_LEN])
{
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 |
           (uint32_t)in[3] << 24;
}

const char *nsmsim_io_status_name(nsmsim_io_status status)
{
    switch (status) {
    case NSMSIM_IO_OK:
        return "ok";
    case NSMSIM_IO_EOF:
        return "connection closed";
    case NSMSIM_IO_SHORT:
        return "connection closed inside a frame";
    case NSMSIM_IO_TOO_LARGE:
        return "frame length over the limit";
    case NSMSIM_IO_TIMEOUT:
        return "timed out";
    case NSMSIM_IO_ERROR:
        return "I/O error";
    }
    return "unknown";
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline (-1: none) passes. */
static nsmsim_io_status wait_ready(int fd, short events, int64_t deadline)
{
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0)
                return NSMSIM_IO_TIMEOUT;
            wait = left > 1000000 ? 1000000 : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, wait);
        if (r > 0)
            return NSMSIM_IO_OK; /* errors and hang-ups show up in the read or write */
        if (r == 0)
            continue;
        if (errno != EINTR)
            return NSMSIM_IO_ERROR;
    }
}

/* After a read or write failed: interrupted, or would block and became ready before the
 * deadline, means try again (NSMSIM_IO_OK); anything else ends the frame. */
static nsmsim_io_status retry_after(int fd, short events, int64_t deadline)
{
    if (errno == EINTR)
        return NSMSIM_IO_OK;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return wait_ready(fd, events, deadline);
    return NSMSIM_IO_ERROR;
}

static int64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* send() keeps a vanished peer from killing the process with SIGPIPE; descriptors that
 * are not sockets (a virtio-serial port) fall back to writev. */
static ssize_t write_vector(int fd, struct iovec *iov, int count)
{
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)count};
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK)
        n = writev(fd, iov, count);
    return n;
}

nsmsim_io_status nsmsim_frame_write(int fd, const uint8_t *body, size_t len, int timeout_ms)
{
    if (len > UINT32_MAX) {
        errno = EMSGSIZE;
        return NSMSIM_IO_ERROR;
    }
    uint8_t header[NSMSIM_FRAME_HEADER_LEN];
    nsmsim_frame_header_encode(header, (uint32_t)len);
    struct iovec iov[2] = {
        {.iov_base = header, .iov_len = sizeof(header)},
        {.iov_base = (void *)(uintptr_t)body, .iov_len = len},
    };
    int64_t deadline = deadline_of(timeout_ms);
    int first = 0;
    while (first < 2) {
        ssize_t n = write_vector(fd, iov + first, 2 - first);
        if (n < 0) {
            nsmsim_io_status st = retry_after(fd, POLLOUT, deadline);
            if (st != NSMSIM_IO_OK)
                return st;
            continue;
        }
        size_t done = (size_t)n;
        while (first < 2 && done >= iov[first].iov_len) {
            done -= iov[first].iov_len;
            first++;
        }
        if (first < 2) {
            iov[first].iov_base = (uint8_t *)iov[first].iov_base + done;
            iov[first].iov_len -= done;
        }
    }
    return NSMSIM_IO_OK;
}

/* Reads exactly n bytes; *got tells how many arrived before an EOF or error.
 *
 * With a deadline, a socket is read first without waiting (MSG_DONTWAIT) and polled only
 * when it has nothing yet, as nsmsim_frame_write does on its side: the bytes of a frame are
 * usually there already (a body right after its header, frames queued by a peer), and a
 * poll before every read doubled the system calls per frame. *try_socket starts true and
 * turns false at the first ENOTSOCK: other descriptors (a pipe, a virtio-serial port) are
 * polled, then read, as before. Without a deadline the read blocks. */
static nsmsim_io_status read_exact(int fd, uint8_t *buf, size_t n, size_t *got, int64_t deadline,
                                   bool *try_socket)
{
    *got = 0;
    while (*got < n) {
        ssize_t r;
        if (deadline >= 0 && *try_socket) {
            r = recv(fd, buf + *got, n - *got, MSG_DONTWAIT);
            if (r < 0 && errno == ENOTSOCK) {
                *try_socket = false;
                continue;
            }
        } else {
            if (deadline >= 0) {
                nsmsim_io_status st = wait_ready(fd, POLLIN, deadline);
                if (st != NSMSIM_IO_OK)
                    return st;
            }
            r = read(fd, buf + *got, n - *got);
        }
        if (r > 0) {
            *got += (size_t)r;
            continue;
        }
        if (r == 0)
            return NSMSIM_IO_EOF;
        /* EAGAIN from the socket: wait for it (or the deadline); EINTR: again */
        nsmsim_io_status st = retry_after(fd, POLLIN, deadline);
        if (st != NSMSIM_IO_OK)
            return st;
    }
    return NSMSIM_IO_OK;
}

nsmsim_io_status nsmsim_frame_read(int fd, uint8_t *body, size_t max, size_t *len, int timeout_ms)
{
    int64_t deadline = deadline_of(timeout_ms);
    uint8_t header[NSMSIM_FRAME_HEADER_LEN];
    size_t got;
    bool try_socket = true;
    *len = 0;
    nsmsim_io_status st = read_exact(fd, header, sizeof(header), &got, deadline, &try_socket);
    if (st == NSMSIM_IO_EOF)
        return got == 0 ? NSMSIM_IO_EOF : NSMSIM_IO_SHORT;
    if (st != NSMSIM_IO_OK)
        return st;
    uint32_t n = nsmsim_frame_header_decode(header);
    if (n > max)
        return NSMSIM_IO_TOO_LARGE;
    st = read_exact(fd, body, n, &got, deadline, &try_socket);
    if (st == NSMSIM_IO_EOF)
        return NSMSIM_IO_SHORT;
    if (st != NSMSIM_IO_OK)
        return st;
    *len = n;
    return NSMSIM_IO_OK;
}

/* ---- client ---------------------------------------------------------------------------- */

static int socket_address(const char *path, struct sockaddr_un *addr, nsmkit_error *e)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0)
        return nsmkit_fail(e, "empty socket path");
    if (n >= sizeof(addr->sun_path))
        return nsmkit_fail(e, "socket path %s is too long (%zu bytes, at most %zu)", path, n,
                           sizeof(addr->sun_path) - 1);
    memcpy(addr->sun_path, path, n);
    return 0;
}

int nsmsim_client_connect(const char *path, nsmkit_error *e)
{
    struct sockaddr_un addr;
    if (socket_address(path, &addr, e) != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return nsmkit_fail(e, "socket: %s", strerror(errno));
    int r;
    do
        r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    while (r != 0 && errno == EINTR);
    if (r != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return nsmkit_fail(e, "cannot connect to %s: %s", path, strerror(err));
    }
    return fd;
}

int nsmsim_remote_init(nsmsim_remote *remote, const char *path, int timeout_ms,
                       const char *log_prefix, nsmkit_error *e)
{
    memset(remote, 0, sizeof(*remote));
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(remote->path))
        return nsmkit_fail(e, "socket path %s is empty or too long (at most %zu bytes)", path,
                           sizeof(remote->path) - 1);
    memcpy(remote->path, path, n + 1);
    remote->timeout_ms = timeout_ms;
    remote->log_prefix = log_prefix;
    remote->fd = -1;
    pthread_mutex_init(&remote->lock, NULL);
    return 0;
}

/* True when our descriptor number still names the socket we connected: a program may
 * have closed it (closefrom, close_range, a loop over every descriptor) and the number
 * may now belong to one of its own files. */
static bool remote_fd_is_ours(const nsmsim_remote *remote)
{
    struct stat st;
    return fstat(remote->fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == remote->dev &&
           st.st_ino == remote->ino;
}

static void remote_drop(nsmsim_remote *remote)
{
    if (remote->fd >= 0 && remote_fd_is_ours(remote))
        close(remote->fd);
    remote->fd = -1;
}

void nsmsim_remote_close(nsmsim_remote *remote)
{
    if (remote->fd >= 0 && remote->pid == getpid())
        remote_drop(remote);
    remote->fd = -1;
    pthread_mutex_destroy(&remote->lock);
}

void nsmsim_log_vline(const char *prefix, const char *fmt, va_list ap)
{
    char line[640];
    int n = snprintf(line, sizeof(line), "%s: ", prefix);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    size_t len = strnlen(line, sizeof(line) - 2);
    line[len] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len + 1);
    (void)w;
}

void nsmsim_log_line(const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nsmsim_log_vline(prefix, fmt, ap);
    va_end(ap);
}

/* One line per change from working to failing, not one per failed request. */
static void remote_log(nsmsim_remote *remote, const char *fmt, ...) NSMKIT_PRINTF(2, 3);
static void remote_log(nsmsim_remote *remote, const char *fmt, ...)
{
    if (remote->failing)
        return;
    remote->failing = true;
    if (!remote->log_prefix)
        return;
    va_list ap;
    va_start(ap, fmt);
    nsmsim_log_vline(remote->log_prefix, fmt, ap);
    va_end(ap);
}

static int remote_connect(nsmsim_remote *remote)
{
    nsmkit_error e;
    int fd = nsmsim_client_connect(remote->path, &e);
    if (fd < 0) {
        remote_log(remote, "cannot reach the NSM simulator at %s: %s", remote->path,
                   strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    remote->fd = fd;
    remote->pid = getpid();
    remote->dev = st.st_dev;
    remote->ino = st.st_ino;
    return 0;
}

static int remote_call_locked(nsmsim_remote *remote, const uint8_t *req, size_t req_len,
                              uint8_t *resp, size_t *resp_len)
{
    if (remote->fd >= 0 && remote->pid != getpid()) {
        /* Inherited across fork: the parent's frames share this stream. */
        remote_drop(remote);
    }
    if (remote->fd >= 0 && !remote_fd_is_ours(remote))
        remote->fd = -1; /* the number is no longer ours: forget it, do not close it */

    for (int attempt = 0;; attempt++) {
        bool fresh = remote->fd < 0;
        if (fresh && remote_connect(remote) != 0)
            return EIO;
        nsmsim_io_status st = nsmsim_frame_write(remote->fd, req, req_len, remote->timeout_ms);
        if (st == NSMSIM_IO_ERROR && !fresh && attempt == 0 &&
            (errno == EPIPE || errno == ECONNRESET)) {
            /* The server restarted since our last request: nothing of this one reached
             * it, so one retry on a new connection cannot apply it twice. */
            remote_drop(remote);
            continue;
        }
        if (st == NSMSIM_IO_OK)
            st = nsmsim_frame_read(remote->fd, resp, NSM_RESPONSE_MAX_SIZE, resp_len,
                                   remote->timeout_ms);
        if (st == NSMSIM_IO_OK) {
            remote->failing = false;
            return 0;
        }
        int err = errno;
        remote_drop(remote);
        if (st == NSMSIM_IO_TIMEOUT) {
            remote_log(remote, "no answer from the NSM simulator at %s within %d ms",
                       remote->path, remote->timeout_ms);
            return ETIMEDOUT;
        }
        remote_log(remote, "lost the NSM simulator at %s: %s", remote->path,
                   st == NSMSIM_IO_ERROR ? strerror(err) : nsmsim_io_status_name(st));
        return EIO;
    }
}

int nsmsim_remote_handler(void *ctx, const uint8_t *req, size_t req_len,
                          uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len)
{
    nsmsim_remote *remote = ctx;
    int saved = errno;
    pthread_mutex_lock(&remote->lock);
    int r = remote_call_locked(remote, req, req_len, resp, resp_len);
    pthread_mutex_unlock(&remote->lock);
    errno = saved;
    return r;
}

int nsmsim_core_handler(void *ctx, const uint8_t *req, size_t req_len,
                        uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len)
{
    nsmsim_outcome o;
    if (nsmsim_handle_traced(ctx, req, req_len, resp, resp_len, &o) != 0)
        return ENOMEM;
    /* The wire answer is the device's ErrorCode; with NSM_SIM_TRACE the rule behind it
     * (and its cause) is logged where the core runs (nsm-sim serve, exec's server). */
    if (o.code != NSMSIM_ERR_OK && nsmsim_env_flag("NSM_SIM_TRACE"))
        nsmsim_log_line("nsm-sim", "request of %zu bytes refused: %d %s: %s", req_len,
                        (int)o.code, nsmsim_code_name(o.code), o.detail);
    return 0;
}
