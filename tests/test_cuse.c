/* SPDX-License-Identifier: Apache-2.0 */
/* The CUSE protocol (frontends/devices/cuse.c) on buffers, as the kernel would drive it: CUSE_INIT,
 * open and release, and the three-pass unrestricted NSM_IOCTL_RAW with a scripted handler;
 * lengths changed between passes, oversized requests, truncation, errors, bad messages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../frontends/devices/cuse.h"
#include "testutil.h"

/* ---- a scripted core ------------------------------------------------------------------- */

typedef struct {
    unsigned calls;
    uint8_t last_req[NSM_REQUEST_MAX_SIZE];
    size_t last_len;
    size_t resp_len; /* the handler answers resp_len bytes of 0xA0, 0xA1, ... */
    int err;         /* or fails with this */
} script;

static int scripted(void *ctx, const uint8_t *req, size_t req_len,
                    uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len)
{
    script *s = ctx;
    s->calls++;
    memcpy(s->last_req, req, req_len);
    s->last_len = req_len;
    if (s->err)
        return s->err;
    for (size_t i = 0; i < s->resp_len; i++)
        resp[i] = (uint8_t)(0xa0 + i);
    *resp_len = s->resp_len;
    return 0;
}

/* ---- messages as the kernel writes them ----------------------------------------------- */

typedef struct {
    uint8_t b[sizeof(struct fuse_in_header) + sizeof(struct fuse_ioctl_in) + 32 + 8192];
    size_t n;
} message;

static uint64_t next_unique = 1;

static message msg_of(uint32_t opcode, const void *body, size_t body_len)
{
    message m;
    struct fuse_in_header h = {.len = (uint32_t)(sizeof(h) + body_len), .opcode = opcode,
                               .unique = next_unique++};
    memcpy(m.b, &h, sizeof(h));
    if (body_len)
        memcpy(m.b + sizeof(h), body, body_len);
    m.n = sizeof(h) + body_len;
    return m;
}

#define ARGP 0x7000ull
#define REQ_ADDR 0x8000ull
#define RESP_ADDR 0x9000ull

/* One FUSE_IOCTL pass carrying `in` (in_size bytes) with room for out_size bytes back. */
static message ioctl_msg(uint32_t cmd, uint32_t flags, const void *in, uint32_t in_size,
                         uint32_t out_size)
{
    uint8_t body[sizeof(struct fuse_ioctl_in) + 32 + 8192];
    struct fuse_ioctl_in io = {.fh = 0, .flags = flags, .cmd = cmd, .arg = ARGP,
                               .in_size = in_size, .out_size = out_size};
    memcpy(body, &io, sizeof(io));
    if (in_size)
        memcpy(body + sizeof(io), in, in_size);
    return msg_of(FUSE_IOCTL, body, sizeof(io) + in_size);
}

typedef struct {
    struct fuse_out_header h;
    struct fuse_ioctl_out io;
    const uint8_t *after; /* what follows the ioctl_out */
    size_t after_len;
} reply;

static uint8_t reply_buf[NSMSIM_CUSE_REPLY_MAX];

static reply dispatch(nsmsim_cuse *c, const message *m)
{
    reply r;
    memset(&r, 0, sizeof(r));
    size_t n = nsmsim_cuse_dispatch(c, m->b, m->n, reply_buf, sizeof(reply_buf));
    assert_true(n >= sizeof(r.h));
    memcpy(&r.h, reply_buf, sizeof(r.h));
    assert_int_equal(r.h.len, n);
    if (r.h.error == 0 && n >= sizeof(r.h) + sizeof(r.io)) {
        memcpy(&r.io, reply_buf + sizeof(r.h), sizeof(r.io));
        r.after = reply_buf + sizeof(r.h) + sizeof(r.io);
        r.after_len = n - sizeof(r.h) - sizeof(r.io);
    }
    return r;
}

static void initialised(nsmsim_cuse *c, script *s)
{
    nsmsim_cuse_init(c, "nsm", scripted, s);
    struct cuse_init_in in = {.major = 7, .minor = 38};
    message m = msg_of(CUSE_INIT, &in, sizeof(in));
    size_t n = nsmsim_cuse_dispatch(c, m.b, m.n, reply_buf, sizeof(reply_buf));
    assert_int_equal(n, sizeof(struct fuse_out_header) + sizeof(struct cuse_init_out) +
                            strlen("DEVNAME=nsm") + 1);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void init_reply(void **state)
{
    (void)state;
    nsmsim_cuse c;
    script s = {0};
    nsmsim_cuse_init(&c, "nsm", scripted, &s);
    /* nothing but CUSE_INIT before CUSE_INIT */
    message open_first = msg_of(FUSE_OPEN, NULL, 0);
    reply r = dispatch(&c, &open_first);
    assert_int_equal(r.h.error, -EIO);

    struct cuse_init_in in = {.major = 7, .minor = 38, .flags = 0};
    message m = msg_of(CUSE_INIT, &in, sizeof(in));
    size_t n = nsmsim_cuse_dispatch(&c, m.b, m.n, reply_buf, sizeof(reply_buf));
    struct fuse_out_header h;
    struct cuse_init_out out;
    memcpy(&h, reply_buf, sizeof(h));
    memcpy(&out, reply_buf + sizeof(h), sizeof(out));
    assert_int_equal(h.error, 0);
    assert_int_equal(h.len, n);
    assert_int_equal(out.major, 7);
    assert_int_equal(out.minor, NSMSIM_CUSE_MINOR);
    assert_true(out.flags & CUSE_UNRESTRICTED_IOCTL);
    assert_int_equal(out.dev_major, 0);
    assert_memory_equal(reply_buf + sizeof(h) + sizeof(out), "DEVNAME=nsm\0", 12);
    assert_int_equal(n, sizeof(h) + sizeof(out) + 12);

    /* an older kernel's minor is taken; a protocol we do not speak is refused */
    nsmsim_cuse_init(&c, "nsm", scripted, &s);
    in.minor = 11;
    m = msg_of(CUSE_INIT, &in, sizeof(in));
    nsmsim_cuse_dispatch(&c, m.b, m.n, reply_buf, sizeof(reply_buf));
    memcpy(&out, reply_buf + sizeof(h), sizeof(out));
    assert_int_equal(out.minor, 11);
    nsmsim_cuse_init(&c, "nsm", scripted, &s);
    in.major = 8;
    m = msg_of(CUSE_INIT, &in, sizeof(in));
    r = dispatch(&c, &m);
    assert_int_equal(r.h.error, -EPROTO);
    assert_false(c.initialised);
    /* a short CUSE_INIT body */
    m = msg_of(CUSE_INIT, &in, 4);
    r = dispatch(&c, &m);
    assert_int_equal(r.h.error, -EIO);
}

static void open_release_and_others(void **state)
{
    (void)state;
    nsmsim_cuse c;
    script s = {0};
    initialised(&c, &s);
    struct fuse_open_in oi = {.flags = 2};
    message m = msg_of(FUSE_OPEN, &oi, sizeof(oi));
    size_t n = nsmsim_cuse_dispatch(&c, m.b, m.n, reply_buf, sizeof(reply_buf));
    assert_int_equal(n, sizeof(struct fuse_out_header) + sizeof(struct fuse_open_out));
    m = msg_of(FUSE_RELEASE, NULL, 0);
    reply r = dispatch(&c, &m);
    assert_int_equal(r.h.error, 0);
    assert_int_equal(r.h.len, sizeof(struct fuse_out_header));
    /* no read or write on the NSM */
    m = msg_of(FUSE_READ, NULL, 0);
    assert_int_equal(dispatch(&c, &m).h.error, -EINVAL);
    m = msg_of(FUSE_WRITE, NULL, 0);
    assert_int_equal(dispatch(&c, &m).h.error, -EINVAL);
    /* poll and the rest: the kernel's defaults */
    m = msg_of(FUSE_POLL, NULL, 0);
    assert_int_equal(dispatch(&c, &m).h.error, -ENOSYS);
    /* interrupts take no reply */
    m = msg_of(FUSE_INTERRUPT, NULL, 0);
    assert_int_equal(nsmsim_cuse_dispatch(&c, m.b, m.n, reply_buf, sizeof(reply_buf)), 0);
    assert_int_equal(s.calls, 0);
}

/* The whole dance for one call; returns the final reply. */
static reply three_passes(nsmsim_cuse *c, const uint8_t *req, size_t req_len, uint64_t resp_cap)
{
    /* 1: nothing in: ask for the struct */
    message m = ioctl_msg(NSM_IOCTL_RAW, FUSE_IOCTL_UNRESTRICTED, NULL, 0, 0);
    reply r = dispatch(c, &m);
    assert_int_equal(r.h.error, 0);
    assert_int_equal(r.io.flags, FUSE_IOCTL_RETRY);
    assert_int_equal(r.io.in_iovs, 1);
    assert_int_equal(r.io.out_iovs, 0);
    struct fuse_ioctl_iovec iov[4];
    memcpy(iov, r.after, sizeof(iov[0]));
    assert_int_equal(iov[0].base, ARGP);
    assert_int_equal(iov[0].len, sizeof(struct nsm_raw));

    /* 2: the struct: ask for the buffers it names */
    struct nsm_raw raw = {.request = {REQ_ADDR, req_len}, .response = {RESP_ADDR, resp_cap}};
    m = ioctl_msg(NSM_IOCTL_RAW, FUSE_IOCTL_UNRESTRICTED, &raw, sizeof(raw), 0);
    r = dispatch(c, &m);
    assert_int_equal(r.h.error, 0);
    assert_int_equal(r.io.flags, FUSE_IOCTL_RETRY);
    size_t cap = resp_cap < NSM_RESPONSE_MAX_SIZE ? (size_t)resp_cap : NSM_RESPONSE_MAX_SIZE;
    assert_int_equal(r.io.in_iovs, req_len ? 2 : 1);
    assert_int_equal(r.io.out_iovs, cap ? 2 : 1);
    memcpy(iov, r.after, (r.io.in_iovs + r.io.out_iovs) * sizeof(iov[0]));
    assert_int_equal(iov[0].base, ARGP);
    if (req_len) {
        assert_int_equal(iov[1].base, REQ_ADDR);
        assert_int_equal(iov[1].len, req_len);
    }
    struct fuse_ioctl_iovec *out = iov + r.io.in_iovs;
    assert_int_equal(out[0].base, ARGP);
    assert_int_equal(out[0].len, sizeof(raw));
    if (cap) {
        assert_int_equal(out[1].base, RESP_ADDR);
        assert_int_equal(out[1].len, cap);
    }

    /* 3: the struct and the request, room for the struct and the response */
    uint8_t in[32 + NSM_REQUEST_MAX_SIZE];
    memcpy(in, &raw, sizeof(raw));
    if (req_len)
        memcpy(in + sizeof(raw), req, req_len);
    m = ioctl_msg(NSM_IOCTL_RAW, FUSE_IOCTL_UNRESTRICTED, in, (uint32_t)(sizeof(raw) + req_len),
                  (uint32_t)(sizeof(raw) + cap));
    return dispatch(c, &m);
}

static void ioctl_round_trip(void **state)
{
    (void)state;
    nsmsim_cuse c;
    script s = {.resp_len = 40};
    initialised(&c, &s);
    static const uint8_t req[] = {0xa1, 0x61, 'x', 0x01};
    reply r = three_passes(&c, req, sizeof(req), NSM_RESPONSE_MAX_SIZE);
    assert_int_equal(r.h.error, 0);
    assert_int_equal(r.io.result, 0);
    assert_int_equal(r.io.flags, 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.last_len, sizeof(req));
    assert_memory_equal(s.last_req, req, sizeof(req));
    /* the struct comes back first with response.len = bytes copied, then the response */
    assert_int_equal(r.after_len, 32 + 40);
    struct nsm_raw back;
    memcpy(&back, r.after, sizeof(back));
    assert_int_equal(back.request.addr, REQ_ADDR);
    assert_int_equal(back.request.len, sizeof(req));
    assert_int_equal(back.response.addr, RESP_ADDR);
    assert_int_equal(back.response.len, 40);
    for (size_t i = 0; i < 40; i++)
        assert_int_equal(r.after[32 + i], 0xa0 + i);
    assert_int_equal(c.stats.ioctls, 1);
    assert_int_equal(c.stats.retries, 2);

    /* truncation to a small capacity, and a capacity over 12 KiB asks for 12 KiB only */
    r = three_passes(&c, req, sizeof(req), 10);
    memcpy(&back, r.after, sizeof(back));
    assert_int_equal(back.response.len, 10);
    assert_int_equal(r.after_len, 32 + 10);
    r = three_passes(&c, req, sizeof(req), 1ull << 40);
    memcpy(&back, r.after, sizeof(back));
    assert_int_equal(back.response.len, 40);
    /* an empty request and no response room at all */
    r = three_passes(&c, NULL, 0, 0);
    assert_int_equal(r.h.error, 0);
    assert_int_equal(r.after_len, 32);
    assert_int_equal(s.last_len, 0);
    /* a full-size request */
    static uint8_t big[NSM_REQUEST_MAX_SIZE];
    memset(big, 0x5a, sizeof(big));
    r = three_passes(&c, big, sizeof(big), 100);
    assert_int_equal(r.h.error, 0);
    assert_int_equal(s.last_len, sizeof(big));
    assert_int_equal(s.calls, 5);
}

static void ioctl_errors(void **state)
{
    (void)state;
    nsmsim_cuse c;
    script s = {.resp_len = 8};
    initialised(&c, &s);
    /* another command: EINVAL, as the driver */
    message m = ioctl_msg(0x5401, FUSE_IOCTL_UNRESTRICTED, NULL, 0, 0);
    assert_int_equal(dispatch(&c, &m).h.error, -EINVAL);
    /* a request over 4 KiB: EMSGSIZE as soon as the struct is seen, the core untouched */
    struct nsm_raw raw = {.request = {REQ_ADDR, NSM_REQUEST_MAX_SIZE + 1},
                          .response = {RESP_ADDR, 100}};
    m = ioctl_msg(NSM_IOCTL_RAW, FUSE_IOCTL_UNRESTRICTED, &raw, sizeof(raw), 0);
    assert_int_equal(dispatch(&c, &m).h.error, -EMSGSIZE);
    raw.request.len = 1ull << 63;
    m = ioctl_msg(NSM_IOCTL_RAW, FUSE_IOCTL_UNRESTRICTED, &raw, sizeof(raw), 0);
    assert_int_equal(dispatch(&c, &m).h.error, -EMSGSIZE);
    assert_int_equal(s.calls, 0);
    /* the core's errno is the ioctl's */
    s.err = ETIMEDOUT;
    static const uint8_t req[] = {0x60};
    reply r = three_passes(&c, req, 1, 100);
    assert_int_equal(r.h.error, -ETIMEDOUT);
    s.err = 0;
    /* a restricted pass (never sent for a device made unrestricted) */
    m = ioctl_msg(NSM_IOCTL_RAW, 0, NULL, 0, 0);
    assert_int_equal(dispatch(&c, &m).h.error, -EIO);
    /* in_size that disagrees with the message, a header whose length lies, a short body */
    m = ioctl_msg(NSM_IOCTL_RAW, FUSE_IOCTL_UNRESTRICTED, &raw, sizeof(raw), 0);
    struct fuse_ioctl_in io;
    memcpy(&io, m.b + sizeof(struct fuse_in_header), sizeof(io));
    io.in_size = 16;
    memcpy(m.b + sizeof(struct fuse_in_header), &io, sizeof(io));
    assert_int_equal(dispatch(&c, &m).h.error, -EIO);
    m = msg_of(FUSE_IOCTL, &io, 8);
    assert_int_equal(dispatch(&c, &m).h.error, -EIO);
    m = msg_of(FUSE_RELEASE, NULL, 0);
    m.n += 1; /* the header says one byte less than was read */
    assert_int_equal(dispatch(&c, &m).h.error, -EIO);
    /* shorter than a header: nothing to answer */
    assert_int_equal(nsmsim_cuse_dispatch(&c, m.b, 10, reply_buf, sizeof(reply_buf)), 0);
    assert_int_equal(c.stats.bad_messages, 5);
    assert_int_equal(s.calls, 1);
}

/* The caller changes the struct between passes: the final pass is re-checked against the
 * struct it carries, and a mismatch is asked again, never sent to the core. */
static void lengths_changed_between_passes(void **state)
{
    (void)state;
    nsmsim_cuse c;
    script s = {.resp_len = 64};
    initialised(&c, &s);
    uint8_t in[32 + 200];
    memset(in, 0x11, sizeof(in));

    /* pass 2 saw request.len 100; by pass 3 the struct says 200, with only 100 bytes in */
    struct nsm_raw raw = {.request = {REQ_ADDR, 200}, .response = {RESP_ADDR, 64}};
    memcpy(in, &raw, sizeof(raw));
    message m = ioctl_msg(NSM_IOCTL_RAW, FUSE_IOCTL_UNRESTRICTED, in, 32 + 100, 32 + 64);
    reply r = dispatch(&c, &m);
    assert_int_equal(r.h.error, 0);
    assert_int_equal(r.io.flags, FUSE_IOCTL_RETRY);
    struct fuse_ioctl_iovec iov[4];
    memcpy(iov, r.after, sizeof(iov));
    assert_int_equal(iov[1].len, 200);
    assert_int_equal(s.calls, 0);

    /* the response room grew: the kernel would only copy 64 bytes back; ask again */
    raw.request.len = 100;
    raw.response.len = 4000;
    memcpy(in, &raw, sizeof(raw));
    m = ioctl_msg(NSM_IOCTL_RAW, FUSE_IOCTL_UNRESTRICTED, in, 32 + 100, 32 + 64);
    r = dispatch(&c, &m);
    assert_int_equal(r.io.flags, FUSE_IOCTL_RETRY);
    memcpy(iov, r.after, sizeof(iov));
    assert_int_equal(iov[3].len, 4000);
    assert_int_equal(s.calls, 0);

    /* the response room shrank: same, the smaller room is what the caller now has */
    raw.response.len = 10;
    memcpy(in, &raw, sizeof(raw));
    m = ioctl_msg(NSM_IOCTL_RAW, FUSE_IOCTL_UNRESTRICTED, in, 32 + 100, 32 + 64);
    r = dispatch(&c, &m);
    assert_int_equal(r.io.flags, FUSE_IOCTL_RETRY);
    assert_int_equal(s.calls, 0);

    /* grown past the limit between passes: EMSGSIZE on the final pass too */
    raw.request.len = NSM_REQUEST_MAX_SIZE + 1;
    memcpy(in, &raw, sizeof(raw));
    m = ioctl_msg(NSM_IOCTL_RAW, FUSE_IOCTL_UNRESTRICTED, in, 32 + 100, 32 + 64);
    assert_int_equal(dispatch(&c, &m).h.error, -EMSGSIZE);

    /* sizes that match: served, and the response is cut to the room the struct gives */
    raw.request.len = 100;
    raw.response.len = 10;
    memcpy(in, &raw, sizeof(raw));
    m = ioctl_msg(NSM_IOCTL_RAW, FUSE_IOCTL_UNRESTRICTED, in, 32 + 100, 32 + 10);
    r = dispatch(&c, &m);
    assert_int_equal(r.h.error, 0);
    assert_int_equal(r.io.flags, 0);
    assert_int_equal(r.after_len, 32 + 10);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.last_len, 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_reply),
        cmocka_unit_test(open_release_and_others),
        cmocka_unit_test(ioctl_round_trip),
        cmocka_unit_test(ioctl_errors),
        cmocka_unit_test(lengths_changed_between_passes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
