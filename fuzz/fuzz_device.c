/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the device front-ends' NSM_IOCTL_RAW handling (frontends/transports/device.h, the
 * driver's rules shared by the shim, the drop-in libnsm, FUSE and CUSE) over an in-memory
 * copier: the ioctl argument, the request and response descriptors, the request bytes,
 * which copies fail (as a bad user pointer would) and whether the device answers.
 *
 * Input:
 *   [0]      copies that fail: bit i set = the i-th copy (0-based) fails with EFAULT
 *   [1]      the device: 0 and 3.. the simulated NSM, 1 no answer (EIO), 2 ETIMEDOUT
 *   [2..3]   u16 LE: where the argument lives, as an offset into user memory
 *   [4..35]  struct nsm_raw as the program wrote it (addresses are absolute: user memory
 *            starts at FUZZ_USER_BASE)
 *   [36..]   bytes placed at FUZZ_USER_BASE + FUZZ_USER_REQ (where seeds point the request)
 *
 * Checked: the driver's order (nothing is asked of the device before the argument and the
 * request are read, requests over 4 KiB fail with EMSGSIZE), only the documented errno
 * values, and after success the argument's response.len and the bytes at response.addr
 * are exactly the device's answer cut to the capacity given.
 */
#include <errno.h>
#include <string.h>

#include "../frontends/transports/device.h"
#include "../frontends/transports/core_handler.h"
#include "../frontends/transports/client.h"
#include "../frontends/transports/envopts.h"
#include "../frontends/transports/frame.h"
#include "../frontends/transports/log.h"
#include "../frontends/transports/server.h"
#include "../frontends/devnsm/codec.h"
#include "../nsm-core/messages.h"
#include "fixture.h"
#include "request_check.h"

#define FUZZ_USER_BASE 0x00007f0000000000ull
#define FUZZ_USER_SIZE 0x8000u
#define FUZZ_USER_REQ 0x1000u
#define HEADER_LEN 36

typedef struct {
    uint8_t mem[FUZZ_USER_SIZE];
    uint8_t fail_mask;
    unsigned copies;
} user_space;

typedef struct {
    int answer; /* 0: the NSM; otherwise the errno the device fails with */
    bool called;
    uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    size_t resp_len;
} device;

static user_space user;
static device dev;

/* The offset of [addr, addr + n) in user memory, or -1 (overflow-safe). */
static long user_offset(uint64_t addr, size_t n)
{
    if (addr < FUZZ_USER_BASE || addr - FUZZ_USER_BASE > FUZZ_USER_SIZE ||
        n > FUZZ_USER_SIZE - (addr - FUZZ_USER_BASE))
        return -1;
    return (long)(addr - FUZZ_USER_BASE);
}

static bool copy_fails(user_space *u)
{
    unsigned k = u->copies++;
    return k < 8 && (u->fail_mask >> k & 1u);
}

static int user_read(void *ctx, void *dst, uint64_t addr, size_t n)
{
    user_space *u = ctx;
    if (copy_fails(u))
        return EFAULT;
    if (n == 0)
        return 0;
    long at = user_offset(addr, n);
    if (at < 0)
        return EFAULT;
    memcpy(dst, u->mem + at, n);
    return 0;
}

static int user_write(void *ctx, uint64_t addr, const void *src, size_t n)
{
    user_space *u = ctx;
    if (copy_fails(u))
        return EFAULT;
    if (n == 0)
        return 0;
    long at = user_offset(addr, n);
    if (at < 0)
        return EFAULT;
    memcpy(u->mem + at, src, n);
    return 0;
}

static int device_handler(void *ctx, const uint8_t *req, size_t req_len,
                          uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len)
{
    device *d = ctx;
    d->called = true;
    if (d->answer != 0)
        return d->answer;
    int r = nsmsim_core_handler(fuzz_sim_fresh(), req, req_len, resp, resp_len);
    if (r == 0) {
        memcpy(d->resp, resp, *resp_len);
        d->resp_len = *resp_len;
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const nsmsim_copier copier = {user_read, user_write, &user};
    if (size < HEADER_LEN)
        return 0;
    memset(user.mem, 0, sizeof(user.mem));
    user.fail_mask = data[0];
    user.copies = 0;
    memset(&dev, 0, sizeof(dev));
    dev.answer = data[1] == 1 ? EIO : data[1] == 2 ? ETIMEDOUT : 0;
    size_t arg_off = (size_t)data[2] | (size_t)data[3] << 8;
    struct nsm_raw raw;
    memcpy(&raw, data + 4, sizeof(raw));
    size_t body = size - HEADER_LEN;
    if (body > FUZZ_USER_SIZE - FUZZ_USER_REQ)
        body = FUZZ_USER_SIZE - FUZZ_USER_REQ;
    memcpy(user.mem + FUZZ_USER_REQ, data + HEADER_LEN, body);
    /* the argument is written last: it may overlap the request, as a program's may */
    if (arg_off <= FUZZ_USER_SIZE - sizeof(raw))
        memcpy(user.mem + arg_off, &raw, sizeof(raw));
    uint64_t argp = FUZZ_USER_BASE + arg_off;
    struct nsm_raw given;
    bool arg_readable = user_offset(argp, sizeof(given)) >= 0 && !(user.fail_mask & 1u);
    if (arg_readable)
        memcpy(&given, user.mem + arg_off, sizeof(given));

    int rc = nsmsim_device_ioctl_raw(&copier, argp, device_handler, &dev);

    if (rc != 0 && rc != EFAULT && rc != EMSGSIZE && rc != EIO && rc != ETIMEDOUT)
        fuzz_fail("fuzz_device", "an errno the driver never returns");
    if (!arg_readable) {
        if (rc != EFAULT || dev.called)
            fuzz_fail("fuzz_device", "an unreadable argument did not fail with EFAULT first");
        return 0;
    }
    if (given.request.len > NSM_REQUEST_MAX_SIZE) {
        if (rc != EMSGSIZE || dev.called)
            fuzz_fail("fuzz_device", "an oversized request reached the device");
        return 0;
    }
    if (dev.answer != 0 && dev.called && rc != dev.answer)
        fuzz_fail("fuzz_device", "the device's errno was not passed on");
    if (rc != 0)
        return 0;
    if (!dev.called || dev.answer != 0)
        fuzz_fail("fuzz_device", "success without an answer from the device");
    fuzz_check_response("fuzz_device", dev.resp, dev.resp_len);
    size_t expect = given.response.len < dev.resp_len ? (size_t)given.response.len : dev.resp_len;
    /* The argument went back last, so it is what memory holds now at argp. */
    struct nsm_raw back;
    memcpy(&back, user.mem + arg_off, sizeof(back));
    if (back.response.len != expect)
        fuzz_fail("fuzz_device", "response.len is not the bytes copied");
    if (expect == 0)
        return 0; /* nothing copied: any address is fine, as with copy_to_user */
    long at = user_offset(given.response.addr, expect);
    if (at < 0)
        fuzz_fail("fuzz_device", "success with a response outside user memory");
    /* Unless the argument itself overwrote part of the response, the bytes are the answer. */
    bool overlap = (size_t)at < arg_off + sizeof(back) && arg_off < (size_t)at + expect;
    if (!overlap && memcmp(user.mem + at, dev.resp, expect) != 0)
        fuzz_fail("fuzz_device", "the response in user memory is not the device's answer");
    return 0;
}
