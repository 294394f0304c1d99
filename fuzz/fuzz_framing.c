/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the framing of the socket and virtio-serial transport
 * (`u32 LE length || body`, frontends/transports/frame.c) as a server or a client reads it from a
 * hostile peer: the input is everything the peer sends before it closes. Frames are read
 * until the stream ends or breaks; each must respect the size limit, and what was read
 * must come out again byte for byte when written and read back.
 */
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../frontends/transports/client.h"
#include "../frontends/transports/core_handler.h"
#include "../frontends/transports/device.h"
#include "../frontends/transports/envopts.h"
#include "../frontends/transports/frame.h"
#include "../frontends/transports/log.h"
#include "../frontends/transports/server.h"
#include "../frontends/devnsm/codec.h"
#include "../nsm-core/messages.h"
#include "fixture.h"

/* A stream socket holds this much without a reader; longer inputs are cut. */
#define FUZZ_FRAMING_MAX_INPUT (64 * 1024)

static void fail(const char *what)
{
    fuzz_fail("fuzz_framing", what);
}

/* pair: the hostile peer's stream, new for each input (its end is the peer closing).
 * echo: the way back, made once: every round trip reads back exactly the frame it wrote
 * (or the target aborts), so the pair is empty again when an input ends and nothing
 * carries over to the next. */
static int pair[2] = {-1, -1}, echo[2] = {-1, -1};

static bool buffer_holds(int fd, int option, int size)
{
    int have = 0;
    socklen_t len = sizeof(have);
    return getsockopt(fd, SOL_SOCKET, option, &have, &len) == 0 && have >= size;
}

static void open_pair(int fds[2])
{
    /* Whether a new pair's default buffers already hold a whole input, asked of the first
     * pair: then no input pays two setsockopt calls for a size it already has. */
    static int defaults_hold = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        fail("cannot create a socket pair");
    int size = 2 * FUZZ_FRAMING_MAX_INPUT + 1024;
    if (defaults_hold < 0)
        defaults_hold = buffer_holds(fds[0], SO_SNDBUF, size) &&
                        buffer_holds(fds[1], SO_RCVBUF, size);
    if (!defaults_hold) {
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t body[NSM_RESPONSE_MAX_SIZE], again[NSM_RESPONSE_MAX_SIZE];
    if (size > FUZZ_FRAMING_MAX_INPUT)
        size = FUZZ_FRAMING_MAX_INPUT;
    /* The reader's limit comes from the input too: a request (4 KiB) or a response. */
    size_t max = size > 0 && (data[0] & 1) ? NSM_RESPONSE_MAX_SIZE : NSM_REQUEST_MAX_SIZE;
    open_pair(pair);
    if (echo[0] < 0)
        open_pair(echo);
    size_t sent = 0;
    while (sent < size) {
        ssize_t w = write(pair[0], data + sent, size - sent);
        if (w <= 0)
            fail("cannot write the input into the socket");
        sent += (size_t)w;
    }
    shutdown(pair[0], SHUT_WR);
    size_t consumed = 0;
    for (;;) {
        size_t len = 0;
        nsmsim_io_status st = nsmsim_frame_read(pair[1], body, max, &len, 1000);
        if (!nsmsim_io_status_name(st))
            fail("an unknown status");
        if (st == NSMSIM_IO_TIMEOUT || st == NSMSIM_IO_ERROR)
            fail("a closed peer gave a timeout or an error instead of an end");
        if (st != NSMSIM_IO_OK) {
            if (st == NSMSIM_IO_EOF && consumed != size)
                fail("end of stream reported inside the input");
            if (st == NSMSIM_IO_SHORT && consumed == size)
                fail("a short frame reported at a frame boundary");
            if (st == NSMSIM_IO_TOO_LARGE &&
                (size - consumed < NSMSIM_FRAME_HEADER_LEN ||
                 nsmsim_frame_header_decode(data + consumed) <= max))
                fail("too large reported for a frame within the limit");
            break;
        }
        if (len > max || size - consumed < NSMSIM_FRAME_HEADER_LEN + len ||
            nsmsim_frame_header_decode(data + consumed) != len ||
            memcmp(body, data + consumed + NSMSIM_FRAME_HEADER_LEN, len) != 0)
            fail("a frame that is not what the peer sent");
        consumed += NSMSIM_FRAME_HEADER_LEN + len;
        /* the way back: a frame written is read as the same frame */
        size_t len2 = 0;
        if (nsmsim_frame_write(echo[0], body, len, 1000) != NSMSIM_IO_OK ||
            nsmsim_frame_read(echo[1], again, max, &len2, 1000) != NSMSIM_IO_OK ||
            len2 != len || memcmp(again, body, len) != 0)
            fail("a frame did not survive a write and a read");
    }
    for (int i = 0; i < 2; i++)
        close(pair[i]);
    return 0;
}
