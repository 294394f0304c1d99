/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The emulated /dev/nsm: the descriptor that stands for the device, and the driver's
 * NSM_IOCTL_RAW (drivers/misc/nsm.c) on user memory.
 *
 * The descriptor is an empty memfd with every seal set and a size that says which
 * front-end made it. Its identity lives in the kernel: dup, dup2, dup3, F_DUPFD, fork,
 * close, close_range and exec treat it exactly as they treat any descriptor, so nothing
 * has to be interposed or tracked, and a number closed behind our back (a raw syscall)
 * and reused for another file is never mistaken for the device.
 *
 * User memory is copied with process_vm_readv/writev on this process: a bad pointer gives
 * EFAULT from the kernel instead of a fault, as copy_from_user does in the driver.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "device.h"

#define DEVFD_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
/* "NSM\1" and "NSM\2" as sizes: unlikely for a sealed memfd that is not ours. */
#define DEVFD_SIZE(kind) ((off_t)(0x4e534d00 + (kind)))

int nsmsim_devfd_create(nsmsim_devfd_kind kind, int open_flags)
{
    unsigned flags = MFD_ALLOW_SEALING | ((open_flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
    int fd = memfd_create(kind == NSMSIM_DEVFD_LIBNSM ? "nsm-sim libnsm" : "nsm-sim /dev/nsm",
                          flags);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, DEVFD_SIZE(kind)) != 0 || fcntl(fd, F_ADD_SEALS, DEVFD_SEALS) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    if (open_flags & O_NONBLOCK) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    return fd;
}

nsmsim_devfd_kind nsmsim_devfd_kind_of(int fd)
{
    int saved = errno;
    nsmsim_devfd_kind kind = NSMSIM_DEVFD_NONE;
    /* F_GET_SEALS fails at once (EINVAL/EBADF) for everything but a memfd. */
    if (fd >= 0 && fcntl(fd, F_GET_SEALS) == DEVFD_SEALS) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 0) {
            if (st.st_size == DEVFD_SIZE(NSMSIM_DEVFD_SHIM))
                kind = NSMSIM_DEVFD_SHIM;
            else if (st.st_size == DEVFD_SIZE(NSMSIM_DEVFD_LIBNSM))
                kind = NSMSIM_DEVFD_LIBNSM;
        }
    }
    errno = saved;
    return kind;
}

/* Where process_vm_* is forbidden (seccomp), a pipe makes the kernel check the pointer
 * instead: write() from a bad buffer and read() into one fail with EFAULT. */
static int pipe_copy(void *dst, const void *src, size_t n)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return EFAULT;
    int r = EFAULT;
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done > 65536 ? 65536 : n - done;
        ssize_t w = write(p[1], (const uint8_t *)src + done, chunk);
        if (w <= 0)
            goto out;
        ssize_t got = read(p[0], (uint8_t *)dst + done, (size_t)w);
        if (got != w)
            goto out;
        done += (size_t)w;
    }
    r = 0;
out:
    close(p[0]);
    close(p[1]);
    return r;
}

static int vm_copy(void *local, uint64_t remote, size_t n, bool to_remote)
{
    if (n == 0)
        return 0;
    if (remote > UINTPTR_MAX || n > UINTPTR_MAX - remote)
        return EFAULT;
    int saved = errno;
    struct iovec l = {.iov_base = local, .iov_len = n};
    struct iovec r = {.iov_base = (void *)(uintptr_t)remote, .iov_len = n};
    ssize_t got = to_remote ? process_vm_writev(getpid(), &l, 1, &r, 1, 0)
                            : process_vm_readv(getpid(), &l, 1, &r, 1, 0);
    int result = 0;
    if (got != (ssize_t)n) {
        if (got < 0 && (errno == ENOSYS || errno == EPERM))
            result = to_remote ? pipe_copy((void *)(uintptr_t)remote, local, n)
                               : pipe_copy(local, (const void *)(uintptr_t)remote, n);
        else
            result = EFAULT; /* partial copies are faults too, as in copy_from_user */
    }
    errno = saved;
    return result;
}

int nsmsim_user_read(void *dst, uint64_t src_addr, size_t n)
{
    return vm_copy(dst, src_addr, n, false);
}

int nsmsim_user_write(uint64_t dst_addr, const void *src, size_t n)
{
    return vm_copy((void *)(uintptr_t)src, dst_addr, n, true);
}

static int self_read(void *ctx, void *dst, uint64_t addr, size_t n)
{
    (void)ctx;
    return nsmsim_user_read(dst, addr, n);
}

static int self_write(void *ctx, uint64_t addr, const void *src, size_t n)
{
    (void)ctx;
    return nsmsim_user_write(addr, src, n);
}

const nsmsim_copier nsmsim_self_copier = {.read = self_read, .write = self_write, .ctx = NULL};

int nsmsim_device_ioctl_raw(const nsmsim_copier *copier, uint64_t argp,
                            nsmsim_handler_fn handler, void *handler_ctx)
{
    struct nsm_raw raw;
    uint8_t req[NSM_REQUEST_MAX_SIZE];
    uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    size_t resp_len = 0;

    /* The order of the driver: the argument, the size check, the request, the device,
     * the response, the argument back. */
    if (copier->read(copier->ctx, &raw, argp, sizeof(raw)) != 0)
        return EFAULT;
    if (raw.request.len > NSM_REQUEST_MAX_SIZE)
        return EMSGSIZE;
    if (copier->read(copier->ctx, req, raw.request.addr, (size_t)raw.request.len) != 0)
        return EFAULT;
    int err = handler(handler_ctx, req, (size_t)raw.request.len, resp, &resp_len);
    if (err != 0)
        return err;
    if (resp_len > NSM_RESPONSE_MAX_SIZE)
        return EIO;
    if (raw.response.len > resp_len)
        raw.response.len = resp_len;
    if (copier->write(copier->ctx, raw.response.addr, resp, (size_t)raw.response.len) != 0)
        return EFAULT;
    if (copier->write(copier->ctx, argp, &raw, sizeof(raw)) != 0)
        return EFAULT;
    return 0;
}
