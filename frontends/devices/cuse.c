/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CUSE /dev/nsm protocol on buffers: CUSE_INIT, open/release, and the three-pass
 * unrestricted NSM_IOCTL_RAW (see cuse.h). The driver's rules for the final pass are the
 * device seam's, run over a copier that maps the caller's addresses onto the bytes the
 * kernel passed in this pass and onto the reply.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cuse.h"

void nsmsim_cuse_init(nsmsim_cuse *cuse, const char *devname, nsmsim_handler_fn handler,
                      void *handler_ctx)
{
    memset(cuse, 0, sizeof(*cuse));
    cuse->devname = devname;
    cuse->handler = handler;
    cuse->handler_ctx = handler_ctx;
}

/* ---- replies ------------------------------------------------------------------------- */

static size_t reply_error(uint8_t *reply, uint64_t unique, int err)
{
    struct fuse_out_header out = {
        .len = sizeof(out), .error = -err, .unique = unique};
    memcpy(reply, &out, sizeof(out));
    return sizeof(out);
}

/* A successful reply whose body (body_len bytes) the caller already put after the header. */
static size_t reply_ok(uint8_t *reply, uint64_t unique, size_t body_len)
{
    struct fuse_out_header out = {
        .len = (uint32_t)(sizeof(out) + body_len), .error = 0, .unique = unique};
    memcpy(reply, &out, sizeof(out));
    return sizeof(out) + body_len;
}

/* ---- CUSE_INIT ----------------------------------------------------------------------- */

static size_t answer_init(nsmsim_cuse *cuse, const struct fuse_in_header *h,
                          const uint8_t *body, size_t body_len, uint8_t *reply, size_t cap)
{
    struct cuse_init_in in;
    if (body_len < sizeof(in)) {
        cuse->stats.bad_messages++;
        return reply_error(reply, h->unique, EIO);
    }
    memcpy(&in, body, sizeof(in));
    if (in.major != NSMSIM_CUSE_MAJOR || in.minor < 11)
        return reply_error(reply, h->unique, EPROTO);

    struct cuse_init_out out;
    memset(&out, 0, sizeof(out));
    out.major = NSMSIM_CUSE_MAJOR;
    out.minor = in.minor < NSMSIM_CUSE_MINOR ? in.minor : NSMSIM_CUSE_MINOR;
    /* Pointers inside struct nsm_raw: the kernel must let us ask for the buffers. */
    out.flags = CUSE_UNRESTRICTED_IOCTL;
    out.max_read = 4096;  /* the kernel raises anything smaller to a page anyway */
    out.max_write = 4096;
    out.dev_major = 0;    /* a dynamic major, as the misc driver's device gets one */
    out.dev_minor = 0;

    char info[64];
    int n = snprintf(info, sizeof(info), "DEVNAME=%s", cuse->devname);
    size_t info_len = (size_t)n + 1; /* the kernel parses NUL-separated key=value strings */
    size_t reply_body = sizeof(out) + info_len;
    if (n < 0 || (size_t)n >= sizeof(info) || sizeof(struct fuse_out_header) + reply_body > cap)
        return reply_error(reply, h->unique, ENAMETOOLONG);
    memcpy(reply + sizeof(struct fuse_out_header), &out, sizeof(out));
    memcpy(reply + sizeof(struct fuse_out_header) + sizeof(out), info, info_len);
    cuse->initialised = 1;
    return reply_ok(reply, h->unique, reply_body);
}

/* ---- NSM_IOCTL_RAW ---------------------------------------------------------------------- */

static size_t reply_retry(nsmsim_cuse *cuse, uint64_t unique, uint8_t *reply,
                          const struct fuse_ioctl_iovec *in_iov, uint32_t in_count,
                          const struct fuse_ioctl_iovec *out_iov, uint32_t out_count)
{
    struct fuse_ioctl_out out = {
        .result = 0, .flags = FUSE_IOCTL_RETRY, .in_iovs = in_count, .out_iovs = out_count};
    uint8_t *p = reply + sizeof(struct fuse_out_header);
    memcpy(p, &out, sizeof(out));
    p += sizeof(out);
    if (in_count) /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(p, in_iov, in_count * sizeof(*in_iov));
    p += in_count * sizeof(*in_iov);
    if (out_count)
        memcpy(p, out_iov, out_count * sizeof(*out_iov));
    p += out_count * sizeof(*out_iov);
    cuse->stats.retries++;
    return reply_ok(reply, unique, (size_t)(p - (reply + sizeof(struct fuse_out_header))));
}

/* The caller's memory as this pass sees it: the struct and the request the kernel copied
 * in, and the reply area the kernel copies out to {arg, 32} then {response.addr, cap}. */
typedef struct {
    uint64_t argp;
    struct nsm_raw raw;   /* as carried by this pass */
    const uint8_t *in;    /* the struct, then request.len bytes */
    uint8_t *out;         /* the struct, then up to response_cap bytes */
    size_t response_cap;
    size_t response_written;
    int struct_written;
} pass_memory;

static int pass_read(void *ctx, void *dst, uint64_t addr, size_t n)
{
    pass_memory *m = ctx;
    if (addr == m->argp && n <= sizeof(struct nsm_raw)) {
        memcpy(dst, m->in, n);
        return 0;
    }
    if (addr == m->raw.request.addr && n <= m->raw.request.len) {
        memcpy(dst, m->in + sizeof(struct nsm_raw), n);
        return 0;
    }
    /* Outside what the kernel copied in for this pass: it is not ours to read. */
    return EFAULT;
}

static int pass_write(void *ctx, uint64_t addr, const void *src, size_t n)
{
    pass_memory *m = ctx;
    if (addr == m->argp && n == sizeof(struct nsm_raw)) {
        memcpy(m->out, src, n);
        m->struct_written = 1;
        return 0;
    }
    if (addr == m->raw.response.addr && n <= m->response_cap) {
        memcpy(m->out + sizeof(struct nsm_raw), src, n);
        m->response_written = n;
        return 0;
    }
    return EFAULT;
}

static size_t answer_ioctl(nsmsim_cuse *cuse, const struct fuse_in_header *h,
                           const uint8_t *body, size_t body_len, uint8_t *reply, size_t cap)
{
    struct fuse_ioctl_in in;
    if (body_len < sizeof(in)) {
        cuse->stats.bad_messages++;
        return reply_error(reply, h->unique, EIO);
    }
    memcpy(&in, body, sizeof(in));
    const uint8_t *data = body + sizeof(in);
    size_t data_len = body_len - sizeof(in);
    if (in.in_size != data_len) {
        cuse->stats.bad_messages++;
        return reply_error(reply, h->unique, EIO);
    }
    if (in.cmd != NSM_IOCTL_RAW) {
        /* drivers/misc/nsm.c: any other command is EINVAL */
        cuse->stats.refused++;
        return reply_error(reply, h->unique, EINVAL);
    }
    if (!(in.flags & FUSE_IOCTL_UNRESTRICTED)) {
        /* Only a device created without CUSE_UNRESTRICTED_IOCTL gets these; we never
         * create one, and a restricted pass cannot carry the buffers. */
        cuse->stats.bad_messages++;
        return reply_error(reply, h->unique, EIO);
    }
    const struct fuse_ioctl_iovec struct_iov = {.base = in.arg, .len = sizeof(struct nsm_raw)};
    if (data_len < sizeof(struct nsm_raw))
        return reply_retry(cuse, h->unique, reply, &struct_iov, 1, NULL, 0);

    struct nsm_raw raw;
    memcpy(&raw, data, sizeof(raw));
    if (raw.request.len > NSM_REQUEST_MAX_SIZE) {
        cuse->stats.refused++;
        return reply_error(reply, h->unique, EMSGSIZE);
    }
    size_t request_len = (size_t)raw.request.len;
    size_t response_cap =
        raw.response.len < NSM_RESPONSE_MAX_SIZE ? (size_t)raw.response.len : NSM_RESPONSE_MAX_SIZE;
    if (data_len != sizeof(raw) + request_len || in.out_size != sizeof(raw) + response_cap) {
        /* The sizes this pass carries are not those of the struct it carries: the first
         * look at the struct, or the caller changed it since the last pass. Ask again. */
        struct fuse_ioctl_iovec in_iov[2] = {struct_iov,
                                             {.base = raw.request.addr, .len = request_len}};
        struct fuse_ioctl_iovec out_iov[2] = {struct_iov,
                                              {.base = raw.response.addr, .len = response_cap}};
        return reply_retry(cuse, h->unique, reply, in_iov, request_len ? 2 : 1, out_iov,
                           response_cap ? 2 : 1);
    }

    size_t head = sizeof(struct fuse_out_header) + sizeof(struct fuse_ioctl_out);
    if (cap < head + sizeof(raw) + response_cap) {
        cuse->stats.bad_messages++;
        return reply_error(reply, h->unique, EIO);
    }
    pass_memory m = {
        .argp = in.arg,
        .raw = raw,
        .in = data,
        .out = reply + head,
        .response_cap = response_cap,
    };
    nsmsim_copier copier = {.read = pass_read, .write = pass_write, .ctx = &m};
    cuse->stats.ioctls++;
    int err = nsmsim_device_ioctl_raw(&copier, in.arg, cuse->handler, cuse->handler_ctx);
    if (err != 0)
        return reply_error(reply, h->unique, err);
    if (!m.struct_written) {
        /* The seam always writes the struct back on success; without it the caller's
         * response.len would be wrong, so this would be our bug, not the caller's. */
        return reply_error(reply, h->unique, EIO);
    }
    struct fuse_ioctl_out out = {.result = 0};
    memcpy(reply + sizeof(struct fuse_out_header), &out, sizeof(out));
    return reply_ok(reply, h->unique, sizeof(out) + sizeof(raw) + m.response_written);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

size_t nsmsim_cuse_dispatch(nsmsim_cuse *cuse, const uint8_t *msg, size_t len, uint8_t *reply,
                            size_t cap)
{
    cuse->stats.messages++;
    struct fuse_in_header h;
    if (len < sizeof(h) || cap < NSMSIM_CUSE_REPLY_MAX) {
        cuse->stats.bad_messages++;
        return 0; /* nothing to answer to */
    }
    memcpy(&h, msg, sizeof(h));
    if (h.len != len) {
        cuse->stats.bad_messages++;
        return reply_error(reply, h.unique, EIO);
    }
    const uint8_t *body = msg + sizeof(h);
    size_t body_len = len - sizeof(h);

    if (!cuse->initialised && h.opcode != CUSE_INIT)
        return reply_error(reply, h.unique, EIO);
    switch (h.opcode) {
    case CUSE_INIT:
        return answer_init(cuse, &h, body, body_len, reply, cap);
    case FUSE_OPEN: {
        /* Every open shares the one device; no per-open state, like the driver. */
        struct fuse_open_out out = {.fh = 0, .open_flags = 0};
        memcpy(reply + sizeof(struct fuse_out_header), &out, sizeof(out));
        return reply_ok(reply, h.unique, sizeof(out));
    }
    case FUSE_RELEASE:
        return reply_ok(reply, h.unique, 0);
    case FUSE_IOCTL:
        return answer_ioctl(cuse, &h, body, body_len, reply, cap);
    case FUSE_READ:
    case FUSE_WRITE:
        /* The driver has no read or write: the VFS answers EINVAL. */
        return reply_error(reply, h.unique, EINVAL);
    case FUSE_INTERRUPT:
    case FUSE_FORGET:
    case FUSE_BATCH_FORGET:
        return 0; /* these take no reply; a request in progress just finishes */
    default:
        /* poll, flush, fsync, ...: ENOSYS makes the kernel use its defaults */
        return reply_error(reply, h.unique, ENOSYS);
    }
}
