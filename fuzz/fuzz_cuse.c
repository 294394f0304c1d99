/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the CUSE /dev/nsm's protocol handling (frontends/devices/cuse.c), as the guest
 * daemon meets it: messages from /dev/cuse - CUSE_INIT, open, release, the three passes of
 * each unrestricted NSM_IOCTL_RAW whose lengths and bytes the calling program controls, and
 * anything else - answered by one simulated NSM booted afresh for the input.
 *
 * Input: records of `u16 little-endian length || message`, at most FUZZ_CUSE_MAX_MESSAGES.
 * The kernel always sets a message's header length to the bytes it delivers; the target
 * does the same unless the record length's top bit is set, so that the fuzzer reaches what
 * the lengths guard while inconsistent headers are still tried.
 *
 * Checked for every message, besides "no crash, leak, UB, hang": a reply fits the buffer
 * and its header names its own length and the message's unique id; only messages that take
 * no reply (forget, interrupt) and those too short for a header get none; errors are the
 * errno values the driver and the FUSE protocol use; a RETRY asks for the struct and at most
 * a 4 KiB request and a 12 KiB response; a final pass answers with the struct whose
 * response.len is the number of response bytes that follow, and never before CUSE_INIT.
 */
#include <errno.h>
#include <string.h>

#include "../frontends/devices/cuse.h"
#include "../frontends/transports/core_handler.h"
#include "fixture.h"

#define FUZZ_CUSE_MAX_MESSAGES 32

static void fail(const char *what)
{
    fuzz_fail("fuzz_cuse", what);
}

static bool known_errno(int32_t error)
{
    /* cuse.c's own, then the device seam's (ENOMEM: the core out of memory) */
    static const int known[] = {EIO, EPROTO, ENAMETOOLONG, EINVAL, EMSGSIZE, ENOSYS, EFAULT,
                                ENOMEM};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (error == -known[i])
            return true;
    return false;
}

static void check_ioctl_reply(const uint8_t *reply, size_t n)
{
    size_t head = sizeof(struct fuse_out_header) + sizeof(struct fuse_ioctl_out);
    if (n < head)
        fail("an ioctl reply without its fuse_ioctl_out");
    struct fuse_ioctl_out out;
    memcpy(&out, reply + sizeof(struct fuse_out_header), sizeof(out));
    if (out.flags & FUSE_IOCTL_RETRY) {
        if (out.in_iovs < 1 || out.in_iovs > 2 || out.out_iovs > 2)
            fail("a RETRY asking for an unexpected number of buffers");
        size_t iovs = (size_t)out.in_iovs + out.out_iovs;
        if (n != head + iovs * sizeof(struct fuse_ioctl_iovec))
            fail("a RETRY whose length is not its iovecs'");
        for (size_t i = 0; i < iovs; i++) {
            struct fuse_ioctl_iovec iov;
            memcpy(&iov, reply + head + i * sizeof(iov), sizeof(iov));
            bool first = i == 0 || i == out.in_iovs;
            size_t limit = first ? sizeof(struct nsm_raw)
                           : i < out.in_iovs ? NSM_REQUEST_MAX_SIZE
                                             : NSM_RESPONSE_MAX_SIZE;
            if (iov.len > limit || (first && iov.len != sizeof(struct nsm_raw)))
                fail("a RETRY asking for more than the struct, 4 KiB in or 12 KiB out");
        }
        return;
    }
    if (out.result != 0 || out.flags != 0)
        fail("a final pass with a result or flags");
    if (n < head + sizeof(struct nsm_raw))
        fail("a final pass without the struct");
    struct nsm_raw raw;
    memcpy(&raw, reply + head, sizeof(raw));
    if (raw.response.len != n - head - sizeof(raw) || raw.response.len > NSM_RESPONSE_MAX_SIZE)
        fail("response.len is not the response bytes the reply carries");
}

static void check_reply(const nsmsim_cuse *cuse, bool was_initialised, const uint8_t *msg,
                        size_t len, const uint8_t *reply, size_t n)
{
    struct fuse_in_header in;
    if (len < sizeof(in)) {
        if (n != 0)
            fail("a reply to a message without a header");
        return;
    }
    memcpy(&in, msg, sizeof(in));
    if (n == 0) {
        bool silent = in.opcode == FUSE_INTERRUPT || in.opcode == FUSE_FORGET ||
                      in.opcode == FUSE_BATCH_FORGET;
        if (!silent || in.len != len || !was_initialised)
            fail("no reply to a message that takes one");
        return;
    }
    if (n > NSMSIM_CUSE_REPLY_MAX || n < sizeof(struct fuse_out_header))
        fail("a reply longer than the buffer or shorter than a header");
    struct fuse_out_header out;
    memcpy(&out, reply, sizeof(out));
    if (out.len != n || out.unique != in.unique)
        fail("a reply whose header has another length or unique id");
    if (out.error != 0) {
        if (!known_errno(out.error) || n != sizeof(out))
            fail("an error that is not a known errno, or one with a body");
        return;
    }
    if (in.len != len || (!was_initialised && in.opcode != CUSE_INIT))
        fail("success for an inconsistent message or before CUSE_INIT");
    if (in.opcode == FUSE_IOCTL)
        check_ioctl_reply(reply, n);
    else if (in.opcode == CUSE_INIT && !cuse->initialised)
        fail("CUSE_INIT answered without the device becoming initialised");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t msg[1 << 15], reply[NSMSIM_CUSE_REPLY_MAX];
    nsmsim_cuse cuse;
    nsmsim_cuse_init(&cuse, "nsm", nsmsim_core_handler, fuzz_sim_fresh());
    size_t at = 0;
    for (int k = 0; k < FUZZ_CUSE_MAX_MESSAGES && size - at >= 2; k++) {
        size_t field = (size_t)data[at] | (size_t)data[at + 1] << 8;
        bool as_given = (field & 0x8000) != 0;
        size_t len = field & 0x7fff;
        at += 2;
        if (len > size - at)
            len = size - at;
        memcpy(msg, data + at, len);
        at += len;
        if (!as_given && len >= sizeof(struct fuse_in_header)) {
            uint32_t header_len = (uint32_t)len;
            memcpy(msg + offsetof(struct fuse_in_header, len), &header_len, sizeof(header_len));
        }
        bool was_initialised = cuse.initialised != 0;
        nsmsim_cuse_stats before = cuse.stats;
        size_t n = nsmsim_cuse_dispatch(&cuse, msg, len, reply, sizeof(reply));
        check_reply(&cuse, was_initialised, msg, len, reply, n);
        if (cuse.stats.messages != before.messages + 1 || cuse.stats.ioctls < before.ioctls)
            fail("the statistics did not count the message");
    }
    return 0;
}
