/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The /dev/nsm ABI of Linux's drivers/misc/nsm.c (uapi linux/nsm.h, which Debian
 * bookworm's 6.1 headers do not ship): sizes, the ioctl argument and its number.
 * Byte-identical in layout; self-contained so that a front-end that only moves bytes
 * (the CUSE daemon of a guest) needs nothing else.
 */
#ifndef NSMKIT_NSM_ABI_H
#define NSMKIT_NSM_ABI_H

#include <stdint.h>

/* ---- the /dev/nsm ABI (Linux uapi linux/nsm.h, byte-identical layout) ------------------ */

#define NSM_MAGIC 0x0A
#define NSM_REQUEST_MAX_SIZE 0x1000
#define NSM_RESPONSE_MAX_SIZE 0x3000

struct nsm_iovec {
    uint64_t addr; /* user address */
    uint64_t len;
};

struct nsm_raw {
    struct nsm_iovec request;
    struct nsm_iovec response; /* response.len: capacity in, bytes written out */
};

/* _IOWR(NSM_MAGIC, 0x0, struct nsm_raw) spelled out, checked against _IOWR in the tests. */
#define NSM_IOCTL_RAW 0xC0200A00u

#endif /* NSMKIT_NSM_ABI_H */
