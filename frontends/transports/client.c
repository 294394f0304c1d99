/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of the socket transport (client.h): connecting, and a per-process
 * connection that survives fork, bulk closes and reused descriptor numbers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "frame.h"
#include "log.h"
#include "nsmkit/error.h"

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
