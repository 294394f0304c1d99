/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Framing (`u32 little-endian length || CBOR`) over any stream descriptor (frame.h), with
 * deadlines: what the socket server, its clients and the CUSE daemon send and receive.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"

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
