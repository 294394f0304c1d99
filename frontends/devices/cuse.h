/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CUSE /dev/nsm: the FUSE protocol as the kernel's CUSE driver speaks it on /dev/cuse
 * (linux/fuse.h), without libfuse, so that the guest daemon is one small static binary.
 *
 * A kernel with CUSE turns each ioctl on the character device into FUSE_IOCTL messages.
 * struct nsm_raw embeds pointers, so the device is created with CUSE_UNRESTRICTED_IOCTL and
 * every NSM_IOCTL_RAW takes three passes (NSM-FACTS section 8):
 *
 *   1. in 0, out 0            -> RETRY: in {arg, 32}
 *   2. in 32 (the struct)     -> RETRY: in {arg, 32} {request.addr, request.len},
 *                                       out {arg, 32} {response.addr, min(response.len, 12 KiB)}
 *   3. in 32 + request.len,   -> the device seam over these bytes: the request goes to the
 *      out 32 + response cap     core, the reply carries the updated struct then the response
 *
 * The kernel reads the struct again from the caller's memory on every pass, so the caller
 * can change the lengths in between: a pass whose sizes do not match the struct it carries
 * is answered with a fresh RETRY (the core has not been called), and only a pass whose sizes
 * match goes to the seam. A request over NSM_REQUEST_MAX_SIZE fails with EMSGSIZE on any
 * pass, before anything else, as in the driver.
 *
 * Everything here works on buffers (one message in, one reply out), so it is tested
 * without a kernel; nsmsim_cmd_cuse (cuse_cmd.c) moves the buffers to and from /dev/cuse.
 */
#ifndef NSMSIM_CUSE_H
#define NSMSIM_CUSE_H

#include <linux/fuse.h>
#include <stddef.h>
#include <stdint.h>

#include "frontends/transports/device.h"
#include "nsmkit/nsm_abi.h"

/* The kernel refuses reads from /dev/cuse into smaller buffers; an ioctl pass carries at most
 * 32 pages in. */
#define NSMSIM_CUSE_READ_SIZE (FUSE_MIN_READ_BUFFER + 32 * 4096 + 4096)
/* The largest reply: header, ioctl result, the struct and a full response. */
#define NSMSIM_CUSE_REPLY_MAX                                                                \
    (sizeof(struct fuse_out_header) + sizeof(struct fuse_ioctl_out) +                        \
     sizeof(struct nsm_raw) + NSM_RESPONSE_MAX_SIZE)
/* The FUSE protocol version we answer CUSE_INIT with; CUSE needs 7.11 or later. */
#define NSMSIM_CUSE_MAJOR 7
#define NSMSIM_CUSE_MINOR 31

typedef struct {
    uint64_t messages;      /* messages read from the kernel */
    uint64_t ioctls;        /* NSM_IOCTL_RAW calls that reached the core */
    uint64_t retries;       /* RETRY replies (two per call, more when the caller races) */
    uint64_t refused;       /* ioctls answered with an errno before the core */
    uint64_t bad_messages;  /* malformed messages from the kernel (never expected) */
} nsmsim_cuse_stats;

typedef struct {
    const char *devname; /* "nsm": the device is /dev/<devname> */
    nsmsim_handler_fn handler;
    void *handler_ctx;
    int initialised; /* CUSE_INIT answered */
    nsmsim_cuse_stats stats;
} nsmsim_cuse;

void nsmsim_cuse_init(nsmsim_cuse *cuse, const char *devname, nsmsim_handler_fn handler,
                      void *handler_ctx);

/* Answers one message read from /dev/cuse. Writes the reply (header included) into
 * reply[0..cap) and returns its length; returns 0 when the message takes no reply
 * (FUSE_INTERRUPT, FUSE_FORGET). cap must be at least NSMSIM_CUSE_REPLY_MAX. A message
 * the kernel should never send (short, inconsistent lengths) is answered with EIO when it
 * has a header to answer, and counted. */
size_t nsmsim_cuse_dispatch(nsmsim_cuse *cuse, const uint8_t *msg, size_t len, uint8_t *reply,
                            size_t cap);

/* `nsm-sim cuse`: see cuse_cmd.c. */
int nsmsim_cmd_cuse(int argc, char **argv);

#endif /* NSMSIM_CUSE_H */
