/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device seam: the Linux driver's NSM_IOCTL_RAW rules (drivers/misc/nsm.c) written
 * once, over a copier that each front-end supplies.
 *
 *   - the LD_PRELOAD shim and the drop-in libnsm copy this process's memory
 *     (nsmsim_self_copier: process_vm_readv/writev, so a bad pointer is EFAULT, not a fault);
 *   - a FUSE device copies the calling thread's memory (process_vm_* on its tid);
 *   - a CUSE device copies from the buffers the kernel passed in the final ioctl pass;
 *   - the tests pass a copier that fails on any chosen copy.
 *
 * Not installed; part of nsm-sim's internal front-end interfaces.
 */
#ifndef NSMSIM_DEVICE_H
#define NSMSIM_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "nsmkit/nsm_abi.h"

/* "A device": answers one raw request. Returns 0 with a response in resp (at most
 * NSM_RESPONSE_MAX_SIZE bytes), or an errno value when no response exists (the device is
 * unreachable, timed out, ...): that errno is what the ioctl fails with. */
typedef int (*nsmsim_handler_fn)(void *ctx, const uint8_t *req, size_t req_len,
                                 uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len);

/* Moves bytes between the front-end and the memory of the program that made the ioctl.
 * Each returns 0 when all n bytes were copied and EFAULT otherwise (a partial copy is a
 * fault, as with copy_from_user). n may be 0. */
typedef struct {
    int (*read)(void *ctx, void *dst, uint64_t addr, size_t n);
    int (*write)(void *ctx, uint64_t addr, const void *src, size_t n);
    void *ctx;
} nsmsim_copier;

/* The driver's NSM_IOCTL_RAW on the struct nsm_raw at argp, in the driver's order: read
 * the argument, refuse a request over NSM_REQUEST_MAX_SIZE (EMSGSIZE), read the request,
 * ask the device, truncate the response to response.len, write the response, write the
 * argument back with response.len set to the bytes copied. A bad response pointer
 * therefore fails (EFAULT) after the request took effect, as on the real device.
 * Returns 0 or an errno value. */
int nsmsim_device_ioctl_raw(const nsmsim_copier *copier, uint64_t argp,
                            nsmsim_handler_fn handler, void *handler_ctx);

/* This process's memory, copied without faulting: 0 or EFAULT. */
extern const nsmsim_copier nsmsim_self_copier;
int nsmsim_user_read(void *dst, uint64_t src_addr, size_t n);
int nsmsim_user_write(uint64_t dst_addr, const void *src, size_t n);

/* ---- the descriptor that stands for an open /dev/nsm in this process ------------------ */

/* The descriptor an emulated open("/dev/nsm") returns: a sealed, empty memfd whose
 * identity lives in the kernel object, so close, dup*, fcntl(F_DUPFD*), fork, exec and
 * poll behave like a real descriptor with no bookkeeping. */
typedef enum {
    NSMSIM_DEVFD_NONE = 0,
    NSMSIM_DEVFD_SHIM = 1,   /* opened through the LD_PRELOAD shim */
    NSMSIM_DEVFD_LIBNSM = 2, /* the drop-in libnsm's in-process device */
} nsmsim_devfd_kind;

/* open_flags: O_CLOEXEC is honoured. Returns the descriptor or -1 with errno. */
int nsmsim_devfd_create(nsmsim_devfd_kind kind, int open_flags);
/* Preserves errno. */
nsmsim_devfd_kind nsmsim_devfd_kind_of(int fd);

#endif /* NSMSIM_DEVICE_H */
