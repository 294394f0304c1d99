/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE /dev/nsm: a one-file FUSE filesystem whose root is a regular file answering
 * NSM_IOCTL_RAW with the driver's rules (device.h), for programs the LD_PRELOAD shim cannot
 * reach (static binaries, Go's raw syscalls).
 *
 * FUSE passes a non-CUSE ioctl "restricted": the kernel copies exactly _IOC_SIZE(cmd) = 32
 * bytes of struct nsm_raw in, and copies the 32 bytes of the reply back to the caller's
 * argument. The request and response buffers the struct points to are in the caller's
 * memory: they are copied with process_vm_readv/writev on the calling thread (the pid of
 * the FUSE request). nsmsim_fuse_caller is that copier.
 *
 * Not installed; part of nsm-sim's internal front-end interfaces.
 */
#ifndef NSMSIM_FUSE_H
#define NSMSIM_FUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "frontends/transports/device.h"
#include "nsmkit/error.h"

/* ---- the copier over the calling thread's memory ----------------------------------------- */

/* One ioctl's view of the caller: reads of the argument come from the bytes the kernel
 * passed in, the written-back argument goes to arg_out (the reply), every other address
 * is the calling thread's memory. */
typedef struct {
    pid_t tid;                              /* the calling thread, as FUSE names it */
    uint64_t argp;                          /* the ioctl's argument address */
    const void *arg_in;                     /* sizeof(struct nsm_raw) bytes from the kernel */
    uint8_t arg_out[sizeof(struct nsm_raw)];
    bool arg_written;
    int refused; /* EPERM/ENOSYS/ESRCH...: the last process_vm_* failure that was not a fault */
} nsmsim_fuse_caller;

void nsmsim_fuse_caller_init(nsmsim_fuse_caller *caller, pid_t tid, uint64_t argp,
                             const void *arg_in);
/* A copier whose ctx is the caller. */
nsmsim_copier nsmsim_fuse_copier(nsmsim_fuse_caller *caller);

/* The driver's ioctl over FUSE: cmd, the argument, the bytes the kernel passed. Returns 0
 * with caller->arg_out to reply with, or the errno to reply. EIO (not EFAULT) when the
 * caller's memory could not be reached at all (caller->refused says why). */
int nsmsim_fuse_ioctl(nsmsim_fuse_caller *caller, unsigned cmd, size_t in_len, size_t out_len,
                      nsmsim_handler_fn handler, void *handler_ctx);

/* ---- the device: a FUSE session serving one file ---------------------------------------- */

typedef struct nsmsim_fuse_device nsmsim_fuse_device;

typedef struct {
    nsmsim_handler_fn handler;
    void *handler_ctx;
    unsigned mode;          /* permission bits of the file, e.g. 0600 */
    uid_t uid;              /* its owner, as seen in the mount's user namespace */
    gid_t gid;
    const char *log_prefix; /* "nsm-sim exec", "nsm-sim fuse" */
} nsmsim_fuse_options;

/* A session on a /dev/fuse descriptor that is already mounted (the device takes it). */
int nsmsim_fuse_open_fd(const nsmsim_fuse_options *options, int fuse_fd,
                        nsmsim_fuse_device **out, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* A session mounted on path by libfuse (through fusermount3, with auto_unmount); the
 * device answers nothing until nsmsim_fuse_serve runs. */
int nsmsim_fuse_open_mount(const nsmsim_fuse_options *options, const char *path,
                           nsmsim_fuse_device **out, nsmkit_error *e) NSMKIT_WARN_UNUSED;

typedef enum {
    NSMSIM_FUSE_STOPPED = 0, /* stop_fd became readable */
    NSMSIM_FUSE_GONE = 1,    /* the filesystem was unmounted (its namespace died, ...) */
    NSMSIM_FUSE_FAILED = -1, /* reading /dev/fuse failed; e says why */
} nsmsim_fuse_status;

/* Serves requests one at a time (the driver's mutex) until stop_fd is readable or the
 * mount goes away. */
nsmsim_fuse_status nsmsim_fuse_serve(nsmsim_fuse_device *device, int stop_fd, nsmkit_error *e);
uint64_t nsmsim_fuse_requests(const nsmsim_fuse_device *device);
/* Unmounts (nsmsim_fuse_open_mount only) and frees. */
void nsmsim_fuse_close(nsmsim_fuse_device *device);

/* `nsm-sim fuse`: argv holds the arguments after the subcommand's name. */
int nsmsim_cmd_fuse(int argc, char **argv);

#endif /* NSMSIM_FUSE_H */
