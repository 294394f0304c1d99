/* SPDX-License-Identifier: Apache-2.0 */
/* The emulated device (frontends/transports/device.c): the descriptor's identity, copies from and to
 * untrusted addresses, and the driver's NSM_IOCTL_RAW semantics with a scripted handler. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../frontends/transports/device.h"
#include "testutil.h"
#include "nsmkit/sim.h"

static void descriptor_identity(void **state)
{
    (void)state;
    int shim = nsmsim_devfd_create(NSMSIM_DEVFD_SHIM, O_CLOEXEC);
    int lib = nsmsim_devfd_create(NSMSIM_DEVFD_LIBNSM, 0);
    assert_true(shim >= 0 && lib >= 0);
    assert_int_equal(nsmsim_devfd_kind_of(shim), NSMSIM_DEVFD_SHIM);
    assert_int_equal(nsmsim_devfd_kind_of(lib), NSMSIM_DEVFD_LIBNSM);
    assert_true(fcntl(shim, F_GETFD) & FD_CLOEXEC);
    assert_false(fcntl(lib, F_GETFD) & FD_CLOEXEC);
    /* the identity travels with dup, and dies with close */
    int d = dup(shim);
    assert_int_equal(nsmsim_devfd_kind_of(d), NSMSIM_DEVFD_SHIM);
    close(shim);
    assert_int_equal(nsmsim_devfd_kind_of(d), NSMSIM_DEVFD_SHIM);
    assert_int_equal(nsmsim_devfd_kind_of(shim), NSMSIM_DEVFD_NONE);
    close(d);
    /* sealed: nothing can be written into it */
    assert_int_equal(write(lib, "x", 1), -1);
    close(lib);

    /* everything else is not the device, and errno survives the question */
    int null_fd = open("/dev/null", O_RDONLY);
    int plain = memfd_create("plain", MFD_ALLOW_SEALING);
    assert_int_equal(ftruncate(plain, 0x4e534d01), 0);
    assert_int_equal(fcntl(plain, F_ADD_SEALS, F_SEAL_SHRINK), 0); /* other seals: not ours */
    int p[2];
    assert_int_equal(pipe(p), 0);
    errno = 1234;
    assert_int_equal(nsmsim_devfd_kind_of(null_fd), NSMSIM_DEVFD_NONE);
    assert_int_equal(nsmsim_devfd_kind_of(plain), NSMSIM_DEVFD_NONE);
    assert_int_equal(nsmsim_devfd_kind_of(p[0]), NSMSIM_DEVFD_NONE);
    assert_int_equal(nsmsim_devfd_kind_of(-1), NSMSIM_DEVFD_NONE);
    assert_int_equal(nsmsim_devfd_kind_of(999999), NSMSIM_DEVFD_NONE);
    assert_int_equal(errno, 1234);
    close(null_fd);
    close(plain);
    close(p[0]);
    close(p[1]);
}

static void user_copies(void **state)
{
    (void)state;
    long page = sysconf(_SC_PAGESIZE);
    uint8_t *m = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    assert_true(m != MAP_FAILED);
    memset(m, 0x5a, (size_t)page);
    uint8_t local[64];
    assert_int_equal(nsmsim_user_read(local, (uintptr_t)m, sizeof(local)), 0);
    assert_int_equal(local[63], 0x5a);
    assert_int_equal(nsmsim_user_read(local, 0, sizeof(local)), EFAULT);
    assert_int_equal(nsmsim_user_read(local, 0, 0), 0); /* nothing to copy: fine */
    assert_int_equal(nsmsim_user_read(local, UINT64_MAX - 4, 8), EFAULT);
    /* a range that runs into an unmapped page faults as a whole */
    assert_int_equal(munmap(m + page, (size_t)page), 0);
    assert_int_equal(nsmsim_user_read(local, (uintptr_t)(m + page - 32), 64), EFAULT);
    assert_int_equal(nsmsim_user_write((uintptr_t)(m + page - 32), local, 64), EFAULT);
    assert_int_equal(nsmsim_user_write((uintptr_t)m, "ok", 2), 0);
    assert_memory_equal(m, "ok", 2);
    /* read-only memory can be read, not written */
    assert_int_equal(mprotect(m, (size_t)page, PROT_READ), 0);
    assert_int_equal(nsmsim_user_read(local, (uintptr_t)m, 2), 0);
    assert_int_equal(nsmsim_user_write((uintptr_t)m, "no", 2), EFAULT);
    munmap(m, (size_t)page);
}

/* A scripted device: records the request, answers with a fixed response or an errno. */
static uint8_t seen[NSM_REQUEST_MAX_SIZE];
static size_t seen_len;
static int calls;
static int script_errno;
static size_t script_len = 100;

static int scripted(void *ctx, const uint8_t *req, size_t req_len,
                    uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len)
{
    (void)ctx;
    calls++;
    memcpy(seen, req, req_len);
    seen_len = req_len;
    if (script_errno)
        return script_errno;
    for (size_t i = 0; i < NSM_RESPONSE_MAX_SIZE; i++)
        resp[i] = (uint8_t)i;
    *resp_len = script_len;
    return 0;
}

static int ioctl_raw(struct nsm_raw *r)
{
    return nsmsim_device_ioctl_raw(&nsmsim_self_copier, (uintptr_t)r, scripted, NULL);
}

static void driver_semantics(void **state)
{
    (void)state;
    uint8_t req[NSM_REQUEST_MAX_SIZE + 1], resp[NSM_RESPONSE_MAX_SIZE + 16];
    memset(req, 0x77, sizeof(req));
    struct nsm_raw r = {{(uintptr_t)req, 5}, {(uintptr_t)resp, sizeof(resp)}};
    calls = 0;
    assert_int_equal(ioctl_raw(&r), 0);
    assert_int_equal(seen_len, 5);
    assert_int_equal(r.response.len, 100); /* the bytes copied, written back */
    assert_int_equal(resp[99], 99);

    /* truncation to the caller's capacity */
    r.response.len = 10;
    resp[10] = 0xee;
    assert_int_equal(ioctl_raw(&r), 0);
    assert_int_equal(r.response.len, 10);
    assert_int_equal(resp[10], 0xee);
    script_len = NSM_RESPONSE_MAX_SIZE;
    r.response.len = sizeof(resp);
    assert_int_equal(ioctl_raw(&r), 0);
    assert_int_equal(r.response.len, NSM_RESPONSE_MAX_SIZE);
    script_len = 100;

    /* request size: 0x1000 passes, one more is EMSGSIZE before the device sees it */
    r.request.len = NSM_REQUEST_MAX_SIZE;
    r.response.len = sizeof(resp);
    assert_int_equal(ioctl_raw(&r), 0);
    assert_int_equal(seen_len, NSM_REQUEST_MAX_SIZE);
    int before = calls;
    r.request.len = NSM_REQUEST_MAX_SIZE + 1;
    assert_int_equal(ioctl_raw(&r), EMSGSIZE);
    r.request.len = UINT64_MAX;
    assert_int_equal(ioctl_raw(&r), EMSGSIZE);
    assert_int_equal(calls, before);

    /* bad pointers */
    assert_int_equal(nsmsim_device_ioctl_raw(&nsmsim_self_copier, 0, scripted, NULL), EFAULT);
    assert_int_equal(nsmsim_device_ioctl_raw(&nsmsim_self_copier, 8, scripted, NULL), EFAULT);
    r.request = (struct nsm_iovec){16, 4};
    assert_int_equal(ioctl_raw(&r), EFAULT);
    assert_int_equal(calls, before);
    r.request = (struct nsm_iovec){0, 0}; /* an empty request needs no buffer */
    assert_int_equal(ioctl_raw(&r), 0);
    assert_int_equal(seen_len, 0);
    /* a bad response buffer fails after the device ran, and leaves response.len alone */
    r.request = (struct nsm_iovec){(uintptr_t)req, 5};
    r.response = (struct nsm_iovec){16, 50};
    before = calls;
    assert_int_equal(ioctl_raw(&r), EFAULT);
    assert_int_equal(calls, before + 1);
    assert_int_equal(r.response.len, 50);
    r.response = (struct nsm_iovec){0, 0};
    assert_int_equal(ioctl_raw(&r), 0);
    assert_int_equal(r.response.len, 0);

    /* the device's own failure is the errno, with nothing written back */
    script_errno = EIO;
    r.response = (struct nsm_iovec){(uintptr_t)resp, sizeof(resp)};
    assert_int_equal(ioctl_raw(&r), EIO);
    assert_int_equal(r.response.len, sizeof(resp));
    script_errno = 0;
    /* a device answering more than the maximum is broken: EIO, no overflow */
    script_len = NSM_RESPONSE_MAX_SIZE + 1;
    assert_int_equal(ioctl_raw(&r), EIO);
    script_len = 100;
}

/* An in-memory copier over a fake address space (one buffer at address BASE) that fails
 * the copy with a chosen number and records the order of every copy, so the seam's rules
 * can be checked without any real pointer. */
#define FAKE_BASE 0x10000u
typedef struct {
    uint8_t mem[0x8000];
    int fail_at;      /* 1-based number of the copy that fails; 0: none */
    int copies;
    char order[16];   /* 'r' / 'w' for each copy, in order */
} fake_space;

/* Counts the copy and returns where addr..addr+n lies in the fake space, or NULL when
 * this copy is the one to fail or the range is outside the space. */
static uint8_t *fake_locate(fake_space *f, uint64_t addr, size_t n, char kind)
{
    int number = ++f->copies;
    if ((size_t)number < sizeof(f->order))
        f->order[number - 1] = kind;
    if (number == f->fail_at)
        return NULL;
    if (addr < FAKE_BASE || addr - FAKE_BASE > sizeof(f->mem) ||
        n > sizeof(f->mem) - (addr - FAKE_BASE))
        return NULL;
    return f->mem + (addr - FAKE_BASE);
}

static int fake_read(void *ctx, void *dst, uint64_t addr, size_t n)
{
    uint8_t *at = fake_locate(ctx, addr, n, 'r');
    if (!at)
        return EFAULT;
    memcpy(dst, at, n);
    return 0;
}

static int fake_write(void *ctx, uint64_t addr, const void *src, size_t n)
{
    uint8_t *at = fake_locate(ctx, addr, n, 'w');
    if (!at)
        return EFAULT;
    memcpy(at, src, n);
    return 0;
}

static void fake_setup(fake_space *f, uint64_t resp_cap)
{
    memset(f, 0, sizeof(*f));
    struct nsm_raw raw = {{FAKE_BASE + 0x100, 7}, {FAKE_BASE + 0x2000, resp_cap}};
    memcpy(f->mem, &raw, sizeof(raw));
    memset(f->mem + 0x100, 0x42, 7);
}

static void seam_with_failing_copier(void **state)
{
    (void)state;
    fake_space f;
    nsmsim_copier copier = {.read = fake_read, .write = fake_write, .ctx = &f};
    struct nsm_raw raw;

    /* the whole order: argument, request, response, argument back */
    fake_setup(&f, 0x3000);
    calls = 0;
    assert_int_equal(nsmsim_device_ioctl_raw(&copier, FAKE_BASE, scripted, NULL), 0);
    assert_string_equal(f.order, "rrww");
    assert_int_equal(seen_len, 7);
    assert_int_equal(seen[6], 0x42);
    memcpy(&raw, f.mem, sizeof(raw));
    assert_int_equal(raw.response.len, 100);
    assert_int_equal(f.mem[0x2000 + 99], 99);

    /* each copy failing in turn: EFAULT; the device runs only when both reads worked, and
     * the argument is written back only when everything else worked */
    for (int k = 1; k <= 4; k++) {
        fake_setup(&f, 0x3000);
        f.fail_at = k;
        calls = 0;
        assert_int_equal(nsmsim_device_ioctl_raw(&copier, FAKE_BASE, scripted, NULL), EFAULT);
        assert_int_equal(calls, k <= 2 ? 0 : 1);
        assert_int_equal(f.copies, k);
        memcpy(&raw, f.mem, sizeof(raw));
        assert_int_equal(raw.response.len, 0x3000);
    }

    /* EMSGSIZE is decided on the argument alone: no request copy, no device */
    fake_setup(&f, 0x3000);
    memcpy(&raw, f.mem, sizeof(raw));
    raw.request.len = NSM_REQUEST_MAX_SIZE + 1;
    memcpy(f.mem, &raw, sizeof(raw));
    calls = 0;
    assert_int_equal(nsmsim_device_ioctl_raw(&copier, FAKE_BASE, scripted, NULL), EMSGSIZE);
    assert_int_equal(f.copies, 1);
    assert_int_equal(calls, 0);

    /* truncation: a capacity of 3 copies 3 bytes and says so */
    fake_setup(&f, 3);
    f.mem[0x2000 + 3] = 0xee;
    assert_int_equal(nsmsim_device_ioctl_raw(&copier, FAKE_BASE, scripted, NULL), 0);
    memcpy(&raw, f.mem, sizeof(raw));
    assert_int_equal(raw.response.len, 3);
    assert_int_equal(f.mem[0x2000 + 3], 0xee);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(descriptor_identity),
        cmocka_unit_test(user_copies),
        cmocka_unit_test(driver_semantics),
        cmocka_unit_test(seam_with_failing_copier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
