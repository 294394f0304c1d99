/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-sim framing: `u32 little-endian length || CBOR`, both ways, over any stream
 * descriptor (a unix socket on the host, a virtio-serial port from a guest).
 *
 * Internal to nsm-sim's front-ends (not installed).
 */
#ifndef NSMSIM_FRAME_H
#define NSMSIM_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "nsmkit/error.h"

#define NSMSIM_FRAME_HEADER_LEN 4

void nsmsim_frame_header_encode(uint8_t out[NSMSIM_FRAME_HEADER_LEN], uint32_t len);
uint32_t nsmsim_frame_header_decode(const uint8_t in[NSMSIM_FRAME_HEADER_LEN]);

typedef enum {
    NSMSIM_IO_OK = 0,
    NSMSIM_IO_EOF,       /* the peer closed before the first byte of a frame */
    NSMSIM_IO_SHORT,     /* the peer closed inside a frame */
    NSMSIM_IO_TOO_LARGE, /* the declared length is above the limit (nothing more was read) */
    NSMSIM_IO_TIMEOUT,   /* the deadline passed */
    NSMSIM_IO_ERROR,     /* a system call failed; errno says why */
} nsmsim_io_status;

const char *nsmsim_io_status_name(nsmsim_io_status status);

/* Writes a whole frame; header and body leave in one system call when they fit.
 * timeout_ms < 0 waits forever. Never raises SIGPIPE on a socket. */
nsmsim_io_status nsmsim_frame_write(int fd, const uint8_t *body, size_t len,
                                    int timeout_ms) NSMKIT_WARN_UNUSED;
/* Reads one whole frame of at most max bytes into body. */
nsmsim_io_status nsmsim_frame_read(int fd, uint8_t *body, size_t max, size_t *len,
                                   int timeout_ms) NSMKIT_WARN_UNUSED;

#endif /* NSMSIM_FRAME_H */
