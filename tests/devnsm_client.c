/* SPDX-License-Identifier: Apache-2.0 */
/*
 * devnsm_client: a raw-ioctl client of /dev/nsm, driven by tests/it_devnsm.sh under the
 * LD_PRELOAD shim (in-process or against `nsm-sim serve`) and, built -static (libc,
 * libcrypto and the message table's codec, no libcbor), by tests/it_fuse.sh on the FUSE
 * device. It talks to the device the way
 * the kernel ABI allows - struct nsm_raw and NSM_IOCTL_RAW - and checks every response
 * byte for byte against what NSM-FACTS says the real NSM answers, every errno against the
 * driver, and every item of the official library's conformance expectations.
 *
 *   devnsm_client conformance [--pcr0 HEX] [--save DIR]  requests, errors, device semantics
 *                                             (on $NSM_DEVICE when set, else /dev/nsm)
 *   devnsm_client descriptors [--server]      open/dup/fork/exec/close behaviour
 *   devnsm_client exec-child FD               (used by descriptors) a request on FD
 *   devnsm_client worker ID N FILE            N mixed requests; shared-PCR records to FILE
 *   devnsm_client chain WORKERS N FILE...     extends landed once each (own and shared PCRs)
 *   devnsm_client threads T N                 T threads x N extends of their own PCR on one
 *                                             descriptor, buffers on each thread's stack
 *   devnsm_client frames SOCKET               misbehaving socket clients against a server
 *   devnsm_client timeout                     a server that never answers -> ETIMEDOUT
 *   devnsm_client unreachable                 NSM_SIM_SOCKET names no server -> EIO
 *   devnsm_client wait SOCKET                 waits until a server accepts connections
 *
 * Prints "FAIL ..." per failed check and exits 1 if any failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../nsm-core/messages.h"
#include "nsmkit/sim.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"

/* The FUSE device is a regular file on a FUSE mount: the kernel answers a few generic
 * ioctls of regular files itself (FIONREAD) before the device sees them. */
#define FUSE_MAGIC 0x65735546

/* $NSM_DEVICE, for a device mounted elsewhere (`nsm-sim fuse --mount PATH`), or /dev/nsm */
static const char *device_path(void)
{
    const char *p = getenv("NSM_DEVICE");
    return p && *p ? p : "/dev/nsm";
}

static bool on_fuse(void)
{
    struct stat st;
    struct statfs fs;
    return stat(device_path(), &st) == 0 && S_ISREG(st.st_mode) &&
           statfs(device_path(), &fs) == 0 && fs.f_type == FUSE_MAGIC;
}

static int failures;
static int checks;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        checks++;                                                                             \
        if (!(cond)) {                                                                        \
            failures++;                                                                       \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                       \
            printf(__VA_ARGS__);                                                              \
            printf("\n");                                                                     \
            fflush(stdout);                                                                   \
        }                                                                                     \
    } while (0)

static int finish(const char *what)
{
    printf("%s: %d checks, %d failed\n", what, checks, failures);
    return failures ? 1 : 0;
}

/* ---- bytes ------------------------------------------------------------------------------ */

typedef struct {
    uint8_t b[NSM_RESPONSE_MAX_SIZE + 64];
    size_t n;
} bytes;

static void put(bytes *x, const void *p, size_t n)
{
    if (n > sizeof(x->b) - x->n)
        abort();
    memcpy(x->b + x->n, p, n);
    x->n += n;
}

static void put_hex(bytes *x, const char *hex)
{
    for (const char *h = hex; h[0] && h[1];) {
        if (*h == ' ') {
            h++;
            continue;
        }
        unsigned v;
        if (sscanf(h, "%2x", &v) != 1)
            abort();
        uint8_t c = (uint8_t)v;
        put(x, &c, 1);
        h += 2;
    }
}

static void put_head(bytes *x, uint8_t major, uint64_t arg)
{
    nsmkit_buf b;
    nsmkit_buf_init(&b, 16);
    nsmkit_cbor_put_head(&b, major, arg);
    put(x, b.data, b.len);
    nsmkit_buf_free(&b);
}

static void put_text(bytes *x, const char *t)
{
    put_head(x, NSMKIT_CBOR_TEXT, strlen(t));
    put(x, t, strlen(t));
}

static void put_bstr(bytes *x, const uint8_t *p, size_t n)
{
    put_head(x, NSMKIT_CBOR_BYTES, n);
    put(x, p, n);
}

static bytes hexbytes(const char *hex)
{
    bytes x = {.n = 0};
    put_hex(&x, hex);
    return x;
}

static bool same(const bytes *a, const uint8_t *p, size_t n)
{
    return a->n == n && memcmp(a->b, p, n) == 0;
}

static void print_hex(const char *label, const uint8_t *p, size_t n)
{
    printf("    %s (%zu bytes): ", label, n);
    for (size_t i = 0; i < n && i < 96; i++)
        printf("%02x", p[i]);
    printf("%s\n", n > 96 ? "..." : "");
}

static void sha384_extend(uint8_t pcr[48], const uint8_t *data, size_t n)
{
    uint8_t out[48];
    unsigned len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha384(), NULL) || !EVP_DigestUpdate(ctx, pcr, 48) ||
        !EVP_DigestUpdate(ctx, data, n) || !EVP_DigestFinal_ex(ctx, out, &len))
        abort();
    EVP_MD_CTX_free(ctx);
    memcpy(pcr, out, 48);
}

/* ---- requests ---------------------------------------------------------------------------
 * Requests come from the message table through the codec (nsm-core/messages.def), as the
 * official client writes them. The expected responses below are written out by hand from
 * NSM-FACTS on purpose: they are the oracle the core and the table are checked against. */

static nsmsim_request_id request_id(const char *name)
{
    for (unsigned i = 0; i < NSMSIM_REQ_COUNT; i++)
        if (strcmp(nsmsim_requests[i].name, name) == 0)
            return (nsmsim_request_id)i;
    abort();
}

static nsmsim_request_field_id request_field(nsmsim_request_id id, const char *name)
{
    for (unsigned f = 0; f < NSMSIM_REQF_COUNT; f++)
        if (nsmsim_request_fields[f].message == id && strcmp(nsmsim_request_fields[f].name, name) == 0)
            return (nsmsim_request_field_id)f;
    abort();
}

static bytes encoded(const nsmsim_request *r)
{
    bytes x = {.n = 0};
    nsmkit_buf b;
    nsmkit_buf_init(&b, sizeof(x.b));
    nsmsim_request_encode(r, &b);
    if (b.err)
        abort();
    put(&x, b.data, b.len);
    nsmkit_buf_free(&b);
    return x;
}

static bytes req_index(const char *name, const char *field, uint64_t v)
{
    nsmsim_request r = {.id = request_id(name)};
    r.field[request_field(r.id, field)].uint = v;
    return encoded(&r);
}

static bytes req_extend(unsigned index, const uint8_t *data, size_t n)
{
    nsmsim_request r = {.id = NSMSIM_REQ_EXTEND_PCR};
    r.field[NSMSIM_REQF_EXTEND_PCR_INDEX].uint = index;
    r.field[NSMSIM_REQF_EXTEND_PCR_DATA].bytes = nsmkit_bytes_of(data, n);
    return encoded(&r);
}

static bytes req_attestation(const uint8_t *ud, const uint8_t *nonce, const uint8_t *pk,
                             size_t n)
{
    nsmsim_request r = {.id = NSMSIM_REQ_ATTESTATION};
    r.field[NSMSIM_REQF_ATTESTATION_USER_DATA].bytes = ud ? nsmkit_bytes_of(ud, n) : NSMKIT_BYTES_NONE;
    r.field[NSMSIM_REQF_ATTESTATION_NONCE].bytes = nonce ? nsmkit_bytes_of(nonce, n) : NSMKIT_BYTES_NONE;
    r.field[NSMSIM_REQF_ATTESTATION_PUBLIC_KEY].bytes = pk ? nsmkit_bytes_of(pk, n) : NSMKIT_BYTES_NONE;
    return encoded(&r);
}

static bytes resp_error(const char *name)
{
    bytes x = hexbytes("a1 65 4572726f72");
    put_text(&x, name);
    return x;
}

static bytes resp_pcr(const char *variant, bool with_lock, bool lock, const uint8_t pcr[48])
{
    bytes x = {.n = 0};
    put_hex(&x, "a1");
    put_text(&x, variant);
    put_hex(&x, with_lock ? "a2" : "a1");
    if (with_lock) {
        put_text(&x, "lock");
        put_hex(&x, lock ? "f5" : "f4");
    }
    put_text(&x, "data");
    put_bstr(&x, pcr, 48);
    return x;
}

/* ---- the ioctl -------------------------------------------------------------------------- */

/* One NSM_IOCTL_RAW; returns 0 or errno, the response and the written-back length. */
static int raw_call(int fd, const void *req, size_t req_len, uint8_t *resp, size_t cap,
                    size_t *resp_len)
{
    struct nsm_raw r = {.request = {(uint64_t)(uintptr_t)req, req_len},
                        .response = {(uint64_t)(uintptr_t)resp, cap}};
    int rc = ioctl(fd, NSM_IOCTL_RAW, &r);
    if (resp_len)
        *resp_len = (size_t)r.response.len;
    return rc == 0 ? 0 : errno;
}

static uint8_t resp_buf[NSM_RESPONSE_MAX_SIZE];
static size_t resp_len;

static int call(int fd, const bytes *req)
{
    return raw_call(fd, req->b, req->n, resp_buf, sizeof(resp_buf), &resp_len);
}

/* Sends req and checks the response is exactly want. */
static void expect(int fd, const bytes *req, const bytes *want, const char *what)
{
    int err = call(fd, req);
    CHECK(err == 0, "%s: ioctl failed: %s", what, strerror(err));
    if (err == 0 && !same(want, resp_buf, resp_len)) {
        CHECK(false, "%s: response differs", what);
        print_hex("want", want->b, want->n);
        print_hex("got", resp_buf, resp_len);
    }
}

static int open_nsm(void)
{
    int fd = open(device_path(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        printf("FAIL: open %s: %s (is the shim preloaded?)\n", device_path(), strerror(errno));
        exit(1);
    }
    return fd;
}

static void describe_pcr(int fd, unsigned index, bool *lock, uint8_t pcr[48])
{
    bytes req = req_index("DescribePCR", "index", index);
    int err = call(fd, &req);
    bytes prefix = {.n = 0};
    put_hex(&prefix, "a1");
    put_text(&prefix, "DescribePCR");
    CHECK(err == 0 && resp_len == prefix.n + 1 + 5 + 1 + 5 + 2 + 48 &&
              memcmp(resp_buf, prefix.b, prefix.n) == 0,
          "DescribePCR %u: bad response (errno %d, %zu bytes)", index, err, resp_len);
    if (err != 0 || resp_len < 48 + 2 + 1 + 5 + 1)
        return;
    *lock = resp_buf[prefix.n + 1 + 5] == 0xf5;
    memcpy(pcr, resp_buf + resp_len - 48, 48);
    bytes want = resp_pcr("DescribePCR", true, *lock, pcr);
    CHECK(same(&want, resp_buf, resp_len), "DescribePCR %u: not the NSM's encoding", index);
}

static bool is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void save(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    if (!dir)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(p, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
}

/* The document out of {"Attestation": {"document": bstr}}, checked byte for byte. */
static void expect_attestation(int fd, const bytes *req, const char *dir, const char *name)
{
    int err = call(fd, req);
    bytes prefix = {.n = 0};
    put_hex(&prefix, "a1");
    put_text(&prefix, "Attestation");
    put_hex(&prefix, "a1");
    put_text(&prefix, "document");
    put_hex(&prefix, "59");
    bool ok = err == 0 && resp_len > prefix.n + 2 && memcmp(resp_buf, prefix.b, prefix.n) == 0;
    size_t doc_len = ok ? (size_t)resp_buf[prefix.n] << 8 | resp_buf[prefix.n + 1] : 0;
    ok = ok && prefix.n + 2 + doc_len == resp_len;
    CHECK(ok, "%s: not an Attestation response (errno %d, %zu bytes)", name, err, resp_len);
    if (!ok)
        return;
    const uint8_t *doc = resp_buf + prefix.n + 2;
    CHECK(doc_len > 1000 && doc[0] == 0x84 && doc[1] == 0x44, "%s: not a COSE_Sign1", name);
    save(dir, name, doc, doc_len);
}

/* ---- conformance ------------------------------------------------------------------------ */

static void conformance_describe_nsm(int fd)
{
    bytes req = hexbytes("6b 44657363726962654e534d");
    int err = call(fd, &req);
    CHECK(err == 0, "DescribeNSM: %s", strerror(err));
    /* Rebuild the answer from the module id it carries, then compare every byte. */
    bytes prefix = {.n = 0};
    put_hex(&prefix, "a1");
    put_text(&prefix, "DescribeNSM");
    put_hex(&prefix, "a7");
    put_text(&prefix, "version_major");
    if (err || resp_len < prefix.n + 40 || memcmp(resp_buf, prefix.b, prefix.n) != 0) {
        CHECK(false, "DescribeNSM: unexpected start");
        print_hex("got", resp_buf, resp_len);
        return;
    }
    const uint8_t *p = resp_buf + prefix.n;
    unsigned major = p[0];
    const uint8_t *id_head = memmem(resp_buf, resp_len, "module_id", 9);
    CHECK(id_head != NULL, "DescribeNSM: no module_id");
    if (!id_head)
        return;
    id_head += strlen("module_id");
    size_t id_len = *id_head & 0x1f;
    CHECK((*id_head & 0xe0) == 0x60 && id_len < 24 + 1, "DescribeNSM: module_id head %02x",
          *id_head);
    const uint8_t *id_bytes = id_head + 1;
    if (id_len == 24) {
        id_len = id_head[1];
        id_bytes = id_head + 2;
    }
    char module_id[128] = "";
    if (id_len < sizeof(module_id))
        memcpy(module_id, id_bytes, id_len);
    /* i-<17 hex>-enc<16 hex>, and it fits the C API's 100-byte field with its NUL */
    CHECK(id_len == 2 + 17 + 4 + 16 && !strncmp(module_id, "i-", 2) &&
              !strncmp(module_id + 19, "-enc", 4) && id_len < 100,
          "DescribeNSM: module_id %s", module_id);

    bytes want = prefix;
    put_head(&want, NSMKIT_CBOR_UINT, major);
    put_text(&want, "version_minor");
    put(&want, p + 1 + 14, 1);
    put_text(&want, "version_patch");
    put(&want, p + 1 + 14 + 1 + 14, 1);
    put_text(&want, "module_id");
    put_text(&want, module_id);
    put_text(&want, "max_pcrs");
    put_head(&want, NSMKIT_CBOR_UINT, 32);
    put_text(&want, "locked_pcrs");
    put_hex(&want, "90 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f");
    put_text(&want, "digest");
    put_text(&want, "SHA384");
    if (!same(&want, resp_buf, resp_len)) {
        CHECK(false, "DescribeNSM: response differs (max_pcrs 32, locked 0..15, SHA384)");
        print_hex("want", want.b, want.n);
        print_hex("got", resp_buf, resp_len);
    }
    CHECK(p[1 + 14] < 24 && p[1 + 14 + 1 + 14] < 24 && major < 24, "DescribeNSM: versions");
}

static void conformance_errors(int fd)
{
    bytes r;
    bytes invalid_op = resp_error("InvalidOperation");
    bytes invalid_index = resp_error("InvalidIndex");

    r = req_index("DescribePCR", "index", 32);
    expect(fd, &r, &invalid_index, "DescribePCR index 32");
    r = req_index("DescribePCR", "index", 65535);
    expect(fd, &r, &invalid_index, "DescribePCR index 65535");
    r = req_index("LockPCR", "index", 40);
    expect(fd, &r, &invalid_index, "LockPCR index 40");
    r = hexbytes("63 466f6f"); /* "Foo" */
    expect(fd, &r, &invalid_op, "unknown command");
    r = hexbytes("ff ff ff");
    expect(fd, &r, &invalid_op, "invalid CBOR");
    r.n = 0;
    expect(fd, &r, &invalid_op, "empty request");
    r = hexbytes("a1 6b 4465736372696265504352 a1 65 696e646578 f6");
    expect(fd, &r, &invalid_op, "null index");
    r = hexbytes("a1 6b 4465736372696265504352 a1 65 696e646578 20");
    expect(fd, &r, &invalid_op, "negative index");
    r = hexbytes("a2 6b 4465736372696265504352 a1 65 696e646578 00 63 466f6f 00");
    expect(fd, &r, &invalid_op, "extra top-level key");
    r = hexbytes("a1 6b 4465736372696265504352 a1 65 696e646578 63 616263");
    expect(fd, &r, &invalid_op, "index of the wrong type");

    /* Unknown inner keys are ignored; ExtendPCR data may be a text string. */
    r = hexbytes("a1 6b 4465736372696265504352 a2 65 696e646578 10 63 466f6f 00");
    uint8_t zero[48] = {0};
    bytes d16 = resp_pcr("DescribePCR", true, false, zero);
    expect(fd, &r, &d16, "unknown inner key ignored");
    r = hexbytes("a1 69 457874656e64504352 a2 65 696e646578 17 64 64617461 63 616263");
    uint8_t pcr23[48] = {0};
    sha384_extend(pcr23, (const uint8_t *)"abc", 3);
    bytes e23 = resp_pcr("ExtendPCR", false, false, pcr23);
    expect(fd, &r, &e23, "ExtendPCR with text data");
}

static void conformance_device(int fd)
{
    bytes d0 = req_index("DescribePCR", "index", 16);
    uint8_t zero[48] = {0};
    bytes want16 = resp_pcr("DescribePCR", true, false, zero);

    /* Request size: 0x1000 is allowed (and malformed), 0x1001 is EMSGSIZE. */
    static uint8_t big[NSM_REQUEST_MAX_SIZE + 1];
    memset(big, 0xff, sizeof(big));
    size_t n = 0;
    int err = raw_call(fd, big, NSM_REQUEST_MAX_SIZE, resp_buf, sizeof(resp_buf), &n);
    bytes invalid_op = resp_error("InvalidOperation");
    CHECK(err == 0 && same(&invalid_op, resp_buf, n), "4096-byte request: errno %d", err);
    err = raw_call(fd, big, NSM_REQUEST_MAX_SIZE + 1, resp_buf, sizeof(resp_buf), &n);
    CHECK(err == EMSGSIZE, "4097-byte request: %s, not EMSGSIZE", strerror(err));
    err = raw_call(fd, big, (size_t)1 << 40, resp_buf, sizeof(resp_buf), &n);
    CHECK(err == EMSGSIZE, "2^40-byte request: %s, not EMSGSIZE", strerror(err));

    /* Truncation: the response is cut to response.len, which then says how much came. */
    err = raw_call(fd, d0.b, d0.n, resp_buf, 10, &n);
    CHECK(err == 0 && n == 10 && !memcmp(resp_buf, want16.b, 10), "truncated to 10: n=%zu", n);
    err = raw_call(fd, d0.b, d0.n, resp_buf, sizeof(resp_buf), &n);
    CHECK(err == 0 && n == want16.n, "capacity written back as %zu, not %zu", n, want16.n);
    err = raw_call(fd, d0.b, d0.n, NULL, 0, &n);
    CHECK(err == 0 && n == 0, "zero capacity with NULL buffer: errno %d, n %zu", err, n);
    err = raw_call(fd, NULL, 0, resp_buf, sizeof(resp_buf), &n);
    CHECK(err == 0 && same(&invalid_op, resp_buf, n), "NULL empty request: errno %d", err);

    /* Bad pointers give EFAULT, never a crash. */
    CHECK(ioctl(fd, NSM_IOCTL_RAW, NULL) == -1 && errno == EFAULT, "NULL argument: %s",
          strerror(errno));
    CHECK(ioctl(fd, NSM_IOCTL_RAW, (void *)16) == -1 && errno == EFAULT, "argument 16: %s",
          strerror(errno));
    err = raw_call(fd, (void *)16, 10, resp_buf, sizeof(resp_buf), &n);
    CHECK(err == EFAULT, "bad request pointer: %s", strerror(err));
    err = raw_call(fd, d0.b, d0.n, (void *)16, 100, &n);
    CHECK(err == EFAULT, "bad response pointer: %s", strerror(err));

    /* A struct in read-only memory: read, served, but the length cannot be written back. */
    long page = sysconf(_SC_PAGESIZE);
    struct nsm_raw *ro = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(ro != MAP_FAILED, "mmap");
    if (ro != MAP_FAILED) {
        *ro = (struct nsm_raw){.request = {(uint64_t)(uintptr_t)d0.b, d0.n},
                               .response = {(uint64_t)(uintptr_t)resp_buf, sizeof(resp_buf)}};
        mprotect(ro, (size_t)page, PROT_READ);
        CHECK(ioctl(fd, NSM_IOCTL_RAW, ro) == -1 && errno == EFAULT,
              "read-only argument: %s", strerror(errno));
        /* A response buffer in read-only memory */
        struct nsm_raw r2 = {.request = {(uint64_t)(uintptr_t)d0.b, d0.n},
                             .response = {(uint64_t)(uintptr_t)ro, 64}};
        CHECK(ioctl(fd, NSM_IOCTL_RAW, &r2) == -1 && errno == EFAULT,
              "read-only response buffer: %s", strerror(errno));
        munmap(ro, (size_t)page);
    }

    /* As in the driver, the request takes effect before the response is copied out. */
    uint8_t data[3] = {7, 7, 7};
    bytes ext = req_extend(22, data, sizeof(data));
    err = raw_call(fd, ext.b, ext.n, (void *)16, 100, &n);
    CHECK(err == EFAULT, "extend with a bad response pointer: %s", strerror(err));
    uint8_t expect22[48] = {0};
    sha384_extend(expect22, data, sizeof(data));
    bool lock;
    uint8_t pcr[48];
    describe_pcr(fd, 22, &lock, pcr);
    CHECK(!memcmp(pcr, expect22, 48), "the extend behind the EFAULT did not happen once");

    /* Other ioctls: EINVAL from the driver; the generic ones work as on any file. */
    CHECK(ioctl(fd, 0, NULL) == -1 && errno == EINVAL, "ioctl 0: %s", strerror(errno));
    CHECK(ioctl(fd, _IOWR(NSM_MAGIC, 1, struct nsm_raw), resp_buf) == -1 && errno == EINVAL,
          "ioctl nr 1: %s", strerror(errno));
    CHECK(ioctl(fd, _IOR(NSM_MAGIC, 0, struct nsm_raw), resp_buf) == -1 && errno == EINVAL,
          "ioctl _IOR: %s", strerror(errno));
    int avail = -1;
    if (on_fuse()) /* the kernel's answer for a regular file: 0 bytes to read */
        CHECK(ioctl(fd, FIONREAD, &avail) == 0 && avail == 0, "FIONREAD on FUSE: %d", avail);
    else
        CHECK(ioctl(fd, FIONREAD, &avail) == -1 && errno == EINVAL, "FIONREAD: %s",
              strerror(errno));
    CHECK(ioctl(fd, TCGETS, resp_buf) == -1 && errno == EINVAL, "TCGETS: %s", strerror(errno));
    CHECK(ioctl(fd, FIONCLEX) == 0 && !(fcntl(fd, F_GETFD) & FD_CLOEXEC), "FIONCLEX");
    CHECK(ioctl(fd, FIOCLEX) == 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "FIOCLEX");
    /* The kernel reads the request number as 32 bits. */
    CHECK(ioctl(fd, (unsigned long)NSM_IOCTL_RAW | (1ul << 32), NULL) == -1 && errno == EFAULT,
          "64-bit request number: %s", strerror(errno));

    /* NSM_IOCTL_RAW on other files is none of the shim's business. */
    int null_fd = open("/dev/null", O_RDWR);
    struct nsm_raw r = {.request = {(uint64_t)(uintptr_t)d0.b, d0.n}};
    CHECK(ioctl(null_fd, NSM_IOCTL_RAW, &r) == -1 && errno == ENOTTY, "/dev/null: %s",
          strerror(errno));
    close(null_fd);
}

static void conformance(const char *pcr0_hex, const char *dir)
{
    int fd = open_nsm();
    bool lock;
    uint8_t pcr[32][48];
    uint8_t want[32][48];

    conformance_describe_nsm(fd);

    bytes plain = req_attestation(NULL, NULL, NULL, 0);
    bytes facts = hexbytes("a1 6b 4174746573746174696f6e a3 69 757365725f64617461 f6 65 "
                           "6e6f6e6365 f6 6a 7075626c69635f6b6579 f6");
    CHECK(same(&facts, plain.b, plain.n), "the Attestation request is not NSM-FACTS's");
    expect_attestation(fd, &plain, dir, "plain.bin");

    /* Boot PCRs: 0-2 and 4 measured, the rest of 0-15 zero, all locked; 16-31 zero, open. */
    for (unsigned i = 0; i < 32; i++) {
        describe_pcr(fd, i, &lock, pcr[i]);
        CHECK(lock == (i < 16), "PCR%u lock %d", i, lock);
        bool measured = i <= 2 || i == 4;
        CHECK(measured ? !is_zero(pcr[i], 48) : is_zero(pcr[i], 48), "PCR%u %s zero", i,
              measured ? "is" : "is not");
    }
    if (pcr0_hex) {
        bytes p0 = hexbytes(pcr0_hex);
        CHECK(p0.n == 48 && !memcmp(p0.b, pcr[0], 48), "PCR0 is not the --pcr value");
    }

    conformance_errors(fd);
    conformance_device(fd);
    memset(want, 0, sizeof(want));
    for (unsigned i = 0; i < 16; i++)
        memcpy(want[i], pcr[i], 48);
    sha384_extend(want[23], (const uint8_t *)"abc", 3); /* conformance_errors */
    sha384_extend(want[22], (const uint8_t *)"\7\7\7", 3); /* conformance_device */

    /* LockPCR of a boot PCR fails with ReadOnlyIndex. */
    bytes read_only = resp_error("ReadOnlyIndex");
    for (unsigned i = 0; i < 16; i++) {
        bytes r = req_index("LockPCR", "index", i);
        expect(fd, &r, &read_only, "LockPCR of a boot PCR");
    }
    /* Extend 16-31 ten times each: every answer is the new value. */
    static const uint8_t dummy[3] = {1, 2, 3};
    for (int loop = 0; loop < 10; loop++) {
        for (unsigned i = 16; i < 32; i++) {
            bytes r = req_extend(i, dummy, sizeof(dummy));
            sha384_extend(want[i], dummy, sizeof(dummy));
            bytes w = resp_pcr("ExtendPCR", false, false, want[i]);
            expect(fd, &r, &w, "ExtendPCR 16-31");
        }
    }
    bytes lock_ok = hexbytes("67 4c6f636b504352");
    for (unsigned i = 16; i < 32; i++) {
        bytes r = req_index("LockPCR", "index", i);
        expect(fd, &r, &lock_ok, "LockPCR 16-31");
    }
    bytes r = req_index("LockPCRs", "range", 32);
    bytes locks_ok = hexbytes("68 4c6f636b50435273");
    expect(fd, &r, &locks_ok, "LockPCRs 32");
    r = req_index("LockPCRs", "range", 33);
    bytes invalid_index = resp_error("InvalidIndex");
    expect(fd, &r, &invalid_index, "LockPCRs 33");
    for (unsigned i = 0; i < 32; i++) {
        r = req_extend(i, dummy, sizeof(dummy));
        expect(fd, &r, &read_only, "ExtendPCR of a locked PCR");
    }
    for (int loop = 0; loop < 3; loop++) {
        for (unsigned i = 0; i < 32; i++) {
            bytes w = resp_pcr("DescribePCR", true, true, want[i]);
            r = req_index("DescribePCR", "index", i);
            expect(fd, &r, &w, "DescribePCR after locking everything");
        }
    }

    /* 1024-byte user_data, nonce and public key are accepted. */
    static uint8_t k[1024];
    memset(k, 128, sizeof(k));
    bytes full = req_attestation(k, k, k, sizeof(k));
    expect_attestation(fd, &full, dir, "full.bin");
    bytes ud_only = req_attestation(k, NULL, NULL, sizeof(k));
    expect_attestation(fd, &ud_only, dir, "user_data.bin");
    /* more than 1024 bytes is refused with an NSM error, not a crash */
    static uint8_t k2[1025];
    bytes too_long = req_attestation(k2, NULL, NULL, sizeof(k2));
    int err = call(fd, &too_long);
    CHECK(err == 0 && resp_len > 7 && !memcmp(resp_buf, "\xa1\x65" "Error", 7),
          "1025-byte user_data: no NSM error (errno %d)", err);

    /* GetRandom: 256 bytes, 16 consecutive answers all different. */
    static uint8_t seen[16][256];
    bytes gr = hexbytes("69 47657452616e646f6d");
    bytes gr_prefix = hexbytes("a1 69 47657452616e646f6d a1 66 72616e646f6d 59 0100");
    for (int i = 0; i < 16; i++) {
        err = call(fd, &gr);
        CHECK(err == 0 && resp_len == gr_prefix.n + 256 &&
                  !memcmp(resp_buf, gr_prefix.b, gr_prefix.n),
              "GetRandom %d: %zu bytes", i, resp_len);
        memcpy(seen[i], resp_buf + gr_prefix.n, 256);
        for (int j = 0; j < i; j++)
            CHECK(memcmp(seen[i], seen[j], 256) != 0, "GetRandom %d repeats %d", i, j);
    }
    /* The attestation after locking carries all 32 PCRs. */
    expect_attestation(fd, &plain, dir, "locked.bin");
    close(fd);
}

/* ---- descriptors -------------------------------------------------------------------------- */

static bytes describe16;

static bool works(int fd)
{
    size_t n;
    int err = raw_call(fd, describe16.b, describe16.n, resp_buf, sizeof(resp_buf), &n);
    return err == 0 && n > 10 && !memcmp(resp_buf, "\xa1\x6b" "DescribePCR", 13);
}

static void descriptors(bool server, const char *self)
{
    describe16 = req_index("DescribePCR", "index", 16);

    /* Every way of opening the exact path "/dev/nsm"; nothing else is touched. */
    int fd = open("/dev/nsm", O_RDONLY);
    CHECK(fd >= 0 && works(fd), "open");
    int flags = O_RDWR;
    int fd2 = open("/dev/nsm", flags); /* non-constant flags: __open_2 when fortified */
    CHECK(fd2 >= 0 && works(fd2), "open with variable flags");
    int fd3 = openat(AT_FDCWD, "/dev/nsm", O_RDWR | O_CLOEXEC);
    CHECK(fd3 >= 0 && works(fd3) && (fcntl(fd3, F_GETFD) & FD_CLOEXEC), "openat O_CLOEXEC");
    int tmp_fd = open("/tmp", O_RDONLY | O_DIRECTORY);
    int fd4 = openat(tmp_fd, "/dev/nsm", O_RDWR);
    CHECK(fd4 >= 0 && works(fd4), "openat with a directory descriptor");
    FILE *f = fopen("/dev/nsm", "r+e");
    CHECK(f && works(fileno(f)) && (fcntl(fileno(f), F_GETFD) & FD_CLOEXEC), "fopen r+e");
    if (f)
        fclose(f);
    CHECK(open("/dev/nsm", O_RDWR | O_CREAT | O_EXCL, 0600) == -1 && errno == EEXIST,
          "O_CREAT|O_EXCL: %s", strerror(errno));
    CHECK(open("/dev/nsm", O_RDONLY | O_DIRECTORY) == -1 && errno == ENOTDIR,
          "O_DIRECTORY: %s", strerror(errno));
    bool has_real = access("/dev/nsm2", F_OK) == 0 || access("/dev/./nsm", F_OK) == 0;
    if (!has_real) {
        CHECK(open("/dev/nsm2", O_RDONLY) == -1 && errno == ENOENT, "/dev/nsm2 was touched");
        CHECK(open("/dev/./nsm", O_RDONLY) == -1 && errno == ENOENT, "/dev/./nsm was touched");
        CHECK(openat(open("/dev", O_RDONLY), "nsm", O_RDONLY) == -1 && errno == ENOENT,
              "openat(/dev, nsm) was touched");
    }
    CHECK(open((const char *)16, O_RDONLY) == -1 && errno == EFAULT, "open(bad pointer): %s",
          strerror(errno));
    close(tmp_fd);
    close(fd4);

    /* Duplicates behave like the device: each works, and outlives the original. */
    int d1 = dup(fd);
    int d2 = fcntl(fd, F_DUPFD, 100);
    int d3 = fcntl(fd, F_DUPFD_CLOEXEC, 200);
    int d4 = dup2(fd, 300);
    int d5 = dup3(fd, 301, O_CLOEXEC);
    CHECK(d1 >= 0 && d2 >= 100 && d3 >= 200 && d4 == 300 && d5 == 301, "dup family");
    close(fd);
    CHECK(works(d1) && works(d2) && works(d3) && works(d4) && works(d5),
          "duplicates after closing the original");
    CHECK(ioctl(fd, NSM_IOCTL_RAW, NULL) == -1 && errno == EBADF, "closed descriptor: %s",
          strerror(errno));
    /* dup2 of another file over a device descriptor makes it that file again */
    int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, d4);
    struct nsm_raw r = {.request = {(uint64_t)(uintptr_t)describe16.b, describe16.n}};
    CHECK(ioctl(d4, NSM_IOCTL_RAW, &r) == -1 && errno == ENOTTY, "dup2 over the device: %s",
          strerror(errno));
    close(d4);

    /* fork: parent and child use the inherited descriptor at the same time. */
    pid_t pid = fork();
    if (pid == 0) {
        bool ok = true;
        for (int i = 0; i < 50; i++)
            ok = ok && works(d1);
        _exit(ok ? 0 : 1);
    }
    bool parent_ok = true;
    for (int i = 0; i < 50; i++)
        parent_ok = parent_ok && works(d1);
    int st;
    waitpid(pid, &st, 0);
    CHECK(parent_ok && WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork: parent %d child %d",
          parent_ok, st);
    CHECK(works(d1), "parent after the child exited");

    /* exec: a descriptor without FD_CLOEXEC stays a device in the new program. */
    int keep = dup(d1);
    char arg[16];
    snprintf(arg, sizeof(arg), "%d", keep);
    pid = fork();
    if (pid == 0) {
        execl(self, self, "exec-child", arg, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exec-child: status %d", st);
    close(keep);

    /* Programs that close every descriptor, or reuse the numbers, disturb nothing. */
    if (server) {
        /* the connection to the server is one of the sockets; clobber each socket */
        DIR *dir = opendir("/proc/self/fd");
        int sockets = 0;
        struct dirent *ent;
        while (dir && (ent = readdir(dir)) != NULL) {
            int n = atoi(ent->d_name);
            struct stat sst;
            if (n > 2 && n != dirfd(dir) && fstat(n, &sst) == 0 && S_ISSOCK(sst.st_mode)) {
                dup2(null_fd, n);
                sockets++;
            }
        }
        if (dir)
            closedir(dir);
        CHECK(sockets == 1, "expected one connection to the server, found %d", sockets);
        CHECK(works(d1), "after the connection's number was reused");
    }
    close_range(3, ~0u, 0);
    int again = open("/dev/nsm", O_RDWR);
    CHECK(again >= 0 && works(again), "open and request after close_range");
    /* A raw syscall closes it behind libc's back; the number is then reused by a file */
    syscall(SYS_close, again);
    int reuse = open("/dev/null", O_RDONLY);
    CHECK(reuse == again, "number %d reused as %d", again, reuse);
    r = (struct nsm_raw){.request = {(uint64_t)(uintptr_t)describe16.b, describe16.n}};
    CHECK(ioctl(reuse, NSM_IOCTL_RAW, &r) == -1 && errno == ENOTTY, "reused number: %s",
          strerror(errno));
    /* poll on the device reports it ready, as for a driver without poll */
    int p = open("/dev/nsm", O_RDWR);
    struct pollfd pf = {.fd = p, .events = POLLIN | POLLOUT};
    CHECK(poll(&pf, 1, 0) == 1 && (pf.revents & POLLIN), "poll");
    CHECK(works(p), "after poll");
    close(p);
}

/* ---- concurrency -------------------------------------------------------------------------- */

typedef struct {
    int fd;
    unsigned index, n;
    int failed;
    pthread_t thread;
} thread_job;

/* Every request and response buffer lives on this thread's stack: a device that reads
 * the memory of the wrong thread or process would see other bytes. */
static void *thread_extends(void *arg)
{
    thread_job *job = arg;
    uint8_t want[48] = {0};
    for (unsigned k = 0; k < job->n; k++) {
        char data[32];
        snprintf(data, sizeof(data), "thread-%u-%u", job->index, k);
        bytes req = req_extend(job->index, (const uint8_t *)data, strlen(data));
        sha384_extend(want, (const uint8_t *)data, strlen(data));
        bytes w = resp_pcr("ExtendPCR", false, false, want);
        uint8_t resp[256];
        size_t n = 0;
        int err = raw_call(job->fd, req.b, req.n, resp, sizeof(resp), &n);
        if (err != 0 || !same(&w, resp, n))
            job->failed++;
    }
    return NULL;
}

static int threads(unsigned count, unsigned n)
{
    int fd = open_nsm();
    thread_job jobs[16];
    CHECK(count >= 1 && count <= 16, "1..16 threads");
    if (count < 1 || count > 16)
        return finish("threads");
    for (unsigned t = 0; t < count; t++) {
        jobs[t] = (thread_job){.fd = fd, .index = 16 + t, .n = n};
        CHECK(pthread_create(&jobs[t].thread, NULL, thread_extends, &jobs[t]) == 0, "thread");
    }
    for (unsigned t = 0; t < count; t++) {
        pthread_join(jobs[t].thread, NULL);
        CHECK(jobs[t].failed == 0, "thread %u: %d of %u extends wrong", t, jobs[t].failed, n);
    }
    close(fd);
    printf("threads: %u threads x %u extends, each PCR exactly its own chain\n", count, n);
    return finish("threads");
}

static void worker_data(unsigned id, unsigned k, char out[32], bool shared)
{
    snprintf(out, 32, "%s-w%u-k%u", shared ? "shared" : "own", id, k);
}

static int worker(unsigned id, unsigned n, const char *path)
{
    int fd = open_nsm();
    FILE *rec = fopen(path, "w");
    if (!rec) {
        printf("FAIL: cannot write %s\n", path);
        return 1;
    }
    unsigned own_k = 0, shared_k = 0;
    bytes describe_nsm = hexbytes("6b 44657363726962654e534d");
    bytes get_random = hexbytes("69 47657452616e646f6d");
    bytes attestation = req_attestation(NULL, NULL, NULL, 0);
    uint8_t own[48] = {0};
    char module_id[64] = "";
    for (unsigned i = 0; i < n; i++) {
        char data[32];
        bytes r;
        int err;
        switch (i % 8) {
        case 0:
        case 4: /* this worker's own PCR: exactly the chain of its own extends */
            worker_data(id, own_k++, data, false);
            r = req_extend(16 + id, (const uint8_t *)data, strlen(data));
            sha384_extend(own, (const uint8_t *)data, strlen(data));
            bytes w = resp_pcr("ExtendPCR", false, false, own);
            expect(fd, &r, &w, "own ExtendPCR");
            break;
        case 1:
        case 5: /* the PCR every worker extends: record (data, new value) */
            worker_data(id, shared_k++, data, true);
            r = req_extend(31, (const uint8_t *)data, strlen(data));
            err = call(fd, &r);
            CHECK(err == 0 && resp_len == 1 + 10 + 1 + 5 + 2 + 48, "shared ExtendPCR");
            fprintf(rec, "%s ", data);
            for (int b = 0; b < 48; b++)
                fprintf(rec, "%02x", resp_buf[resp_len - 48 + b]);
            fprintf(rec, "\n");
            break;
        case 2: {
            bool lock;
            uint8_t pcr[48];
            describe_pcr(fd, i % 32, &lock, pcr);
            CHECK(lock == (i % 32 < 16), "lock of PCR%u", i % 32);
            break;
        }
        case 3:
            err = call(fd, &get_random);
            CHECK(err == 0 && resp_len == 1 + 10 + 1 + 7 + 3 + 256, "GetRandom");
            break;
        case 6: {
            err = call(fd, &describe_nsm);
            const char *at = memmem(resp_buf, resp_len, "i-", 2);
            CHECK(err == 0 && at && resp_len - (size_t)(at - (const char *)resp_buf) > 39,
                  "DescribeNSM");
            if (at && !module_id[0])
                memcpy(module_id, at, 39);
            CHECK(!at || !memcmp(module_id, at, 39), "module id changed");
            break;
        }
        case 7:
            if ((i / 8) % 4 == 0) {
                expect_attestation(fd, &attestation, NULL, "attestation");
            } else {
                bool lock;
                uint8_t pcr[48];
                describe_pcr(fd, 16 + id, &lock, pcr);
                CHECK(!memcmp(pcr, own, 48), "own PCR%u between extends", 16 + id);
            }
            break;
        }
    }
    fclose(rec);
    close(fd);
    if (failures)
        printf("worker %u: %d of %u requests failed\n", id, failures, n);
    return failures ? 1 : 0;
}

typedef struct {
    char data[32];
    uint8_t value[48];
    bool used;
} record;

/* Every extend of every worker landed exactly once: the own PCRs equal their chains, and
 * the shared PCR's recorded answers form one chain from zero to its final value. */
static int chain(unsigned workers, unsigned n, char **files, int count)
{
    int fd = open_nsm();
    unsigned own_per_worker = 0;
    for (unsigned i = 0; i < n; i++)
        own_per_worker += i % 8 == 0 || i % 8 == 4;
    for (unsigned id = 0; id < workers; id++) {
        uint8_t want[48] = {0};
        for (unsigned k = 0; k < own_per_worker; k++) {
            char data[32];
            worker_data(id, k, data, false);
            sha384_extend(want, (const uint8_t *)data, strlen(data));
        }
        bool lock;
        uint8_t got[48];
        describe_pcr(fd, 16 + id, &lock, got);
        CHECK(!memcmp(want, got, 48), "PCR%u is not the chain of worker %u's %u extends",
              16 + id, id, own_per_worker);
    }

    size_t cap = 4096, total = 0;
    record *recs = calloc(cap, sizeof(*recs));
    for (int i = 0; i < count; i++) {
        FILE *f = fopen(files[i], "r");
        CHECK(f != NULL, "cannot read %s", files[i]);
        char data[32], hex[97];
        while (f && fscanf(f, "%31s %96s", data, hex) == 2 && total < cap) {
            snprintf(recs[total].data, sizeof(recs[total].data), "%s", data);
            bytes v = hexbytes(hex);
            memcpy(recs[total].value, v.b, 48);
            total++;
        }
        if (f)
            fclose(f);
    }
    unsigned shared_per_worker = 0;
    for (unsigned i = 0; i < n; i++)
        shared_per_worker += i % 8 == 1 || i % 8 == 5;
    CHECK(total == (size_t)workers * shared_per_worker, "%zu shared records, want %u", total,
          workers * shared_per_worker);
    uint8_t cur[48] = {0};
    size_t linked = 0;
    for (; linked < total; linked++) {
        size_t found = SIZE_MAX;
        for (size_t j = 0; j < total; j++) {
            if (recs[j].used)
                continue;
            uint8_t next[48];
            memcpy(next, cur, 48);
            sha384_extend(next, (const uint8_t *)recs[j].data, strlen(recs[j].data));
            if (!memcmp(next, recs[j].value, 48)) {
                found = j;
                break;
            }
        }
        if (found == SIZE_MAX)
            break;
        recs[found].used = true;
        memcpy(cur, recs[found].value, 48);
    }
    CHECK(linked == total, "the shared PCR's answers break the chain after %zu of %zu", linked,
          total);
    bool lock;
    uint8_t final[48];
    describe_pcr(fd, 31, &lock, final);
    CHECK(!memcmp(final, cur, 48), "PCR31 is not the end of the chain of %zu extends", total);
    free(recs);
    close(fd);
    printf("chain: %u workers x %u own extends, %zu shared extends, each landed once\n",
           workers, own_per_worker, total);
    return finish("chain");
}

/* ---- misbehaving socket clients ------------------------------------------------------------ */

static int sock_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static bool send_all(int fd, const void *p, size_t n)
{
    return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n;
}

static bool send_frame(int fd, const bytes *body)
{
    uint8_t h[4] = {(uint8_t)body->n, (uint8_t)(body->n >> 8), (uint8_t)(body->n >> 16),
                    (uint8_t)(body->n >> 24)};
    return send_all(fd, h, 4) && send_all(fd, body->b, body->n);
}

static bool recv_all(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, p + got, n - got, 0);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

/* Reads one response frame; false on EOF or error. */
static bool recv_frame(int fd, bytes *out)
{
    uint8_t h[4];
    if (!recv_all(fd, h, 4))
        return false;
    size_t n = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
    if (n > NSM_RESPONSE_MAX_SIZE)
        return false;
    out->n = n;
    return recv_all(fd, out->b, n);
}

/* True when the server closed the connection within a few seconds: EOF, or a reset when
 * it closed with our unread bytes still queued. */
static bool closed_by_server(int fd)
{
    uint8_t c;
    ssize_t r = recv(fd, &c, 1, 0);
    return r == 0 || (r < 0 && errno == ECONNRESET);
}

static void good_client_works(const char *path, const char *when)
{
    int fd = sock_connect(path);
    bytes req = req_index("DescribePCR", "index", 30), resp;
    uint8_t zero[48] = {0};
    bytes want = resp_pcr("DescribePCR", true, false, zero);
    CHECK(fd >= 0 && send_frame(fd, &req) && recv_frame(fd, &resp) && same(&want, resp.b, resp.n),
          "a good client %s: no correct answer", when);
    if (fd >= 0)
        close(fd);
}

static int frames(const char *path)
{
    int fd;
    good_client_works(path, "at the start");

    /* Idle connections and a stalled half frame hold nothing the others need. */
    int idle[20];
    for (int i = 0; i < 20; i++)
        idle[i] = sock_connect(path);
    int stalled = sock_connect(path);
    send_all(stalled, "\x10\x00", 2);
    int stalled_body = sock_connect(path);
    send_all(stalled_body, "\x20\x00\x00\x00\xa1", 5);
    good_client_works(path, "beside 20 idle and 2 stalled clients");

    /* A frame cut short must not reach the core: PCR30 stays zero. */
    bytes ext = req_extend(30, (const uint8_t *)"x", 1);
    fd = sock_connect(path);
    uint8_t h[4] = {(uint8_t)ext.n, 0, 0, 0};
    send_all(fd, h, 4);
    send_all(fd, ext.b, ext.n - 1);
    close(fd);
    fd = sock_connect(path); /* header only, then gone */
    send_all(fd, h, 2);
    close(fd);

    /* Oversized lengths: closed at once, whatever follows. */
    const char *lengths[] = {"\x01\x10\x00\x00", "\xff\xff\xff\xff", "\x00\x00\x00\x80"};
    for (int i = 0; i < 3; i++) {
        fd = sock_connect(path);
        send_all(fd, lengths[i], 4);
        send_all(fd, "garbage", 7);
        CHECK(closed_by_server(fd), "length %d not refused", i);
        close(fd);
    }
    /* A stream of random bytes. */
    fd = sock_connect(path);
    uint8_t noise[8192];
    for (size_t i = 0; i < sizeof(noise); i++)
        noise[i] = (uint8_t)(rand() >> 7);
    noise[3] = 0x40; /* a length far over the limit */
    send_all(fd, noise, sizeof(noise));
    CHECK(closed_by_server(fd), "random stream not refused");
    close(fd);

    /* Garbage inside a well-formed frame is an NSM error, and the connection stays. */
    fd = sock_connect(path);
    bytes garbage = hexbytes("ff 00 13 37"), empty = {.n = 0}, resp;
    bytes invalid_op = resp_error("InvalidOperation");
    CHECK(send_frame(fd, &garbage) && recv_frame(fd, &resp) &&
              same(&invalid_op, resp.b, resp.n),
          "garbage CBOR: not InvalidOperation");
    CHECK(send_frame(fd, &empty) && recv_frame(fd, &resp) && same(&invalid_op, resp.b, resp.n),
          "empty frame: not InvalidOperation");
    bytes too_big = {.n = NSM_REQUEST_MAX_SIZE};
    memset(too_big.b, 0xa0, too_big.n);
    CHECK(send_frame(fd, &too_big) && recv_frame(fd, &resp) && same(&invalid_op, resp.b, resp.n),
          "4096-byte garbage frame: not InvalidOperation");
    /* Pipelined requests are answered in order. */
    bytes d0 = req_index("DescribePCR", "index", 30), d1 = req_index("DescribePCR", "index", 99);
    bytes invalid_index = resp_error("InvalidIndex");
    uint8_t zero[48] = {0};
    bytes want0 = resp_pcr("DescribePCR", true, false, zero);
    CHECK(send_frame(fd, &d0) && send_frame(fd, &d1) && send_frame(fd, &d0), "pipelining send");
    CHECK(recv_frame(fd, &resp) && same(&want0, resp.b, resp.n), "pipelined answer 1");
    CHECK(recv_frame(fd, &resp) && same(&invalid_index, resp.b, resp.n), "pipelined answer 2");
    CHECK(recv_frame(fd, &resp) && same(&want0, resp.b, resp.n), "pipelined answer 3");
    close(fd);

    /* A client that sends a request and leaves without reading the answer. */
    for (int i = 0; i < 5; i++) {
        fd = sock_connect(path);
        bytes att = req_attestation(NULL, NULL, NULL, 0);
        send_frame(fd, &att);
        close(fd);
    }

    for (int i = 0; i < 20; i++)
        if (idle[i] >= 0)
            close(idle[i]);
    close(stalled);
    close(stalled_body);
    good_client_works(path, "after every misbehaving client (PCR30 untouched)");
    return finish("frames");
}

/* ---- the shim's own failures ------------------------------------------------------------ */

static int timeout_check(void)
{
    char dir[] = "/tmp/nsm-timeout-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[64];
    snprintf(path, sizeof(path), "%s/s", dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 4) == 0, "listen");
    /* A server that accepts (through the backlog) and never answers. */
    setenv("NSM_SIM_SOCKET", path, 1);
    setenv("NSM_SIM_TIMEOUT_MS", "300", 1);
    int fd = open_nsm();
    bytes req = req_index("DescribePCR", "index", 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int err = call(fd, &req);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(err == ETIMEDOUT, "silent server: %s, not ETIMEDOUT", strerror(err));
    CHECK(ms >= 250, "gave up after %.0f ms, before the 300 ms timeout", ms);
    close(fd);
    close(lfd);
    unlink(path);
    rmdir(dir);
    return finish("timeout");
}

static int unreachable(void)
{
    int fd = open_nsm();
    bytes req = req_index("DescribePCR", "index", 0);
    for (int i = 0; i < 3; i++) {
        int err = call(fd, &req);
        CHECK(err == EIO, "unreachable server: %s, not EIO", strerror(err));
    }
    close(fd);
    return finish("unreachable");
}

static int wait_socket(const char *path)
{
    for (int i = 0; i < 400; i++) {
        int fd = sock_connect(path);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(25000);
    }
    printf("FAIL: nothing accepts connections on %s after 10 s\n", path);
    return 1;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "conformance")) {
        const char *pcr0 = NULL, *dir = NULL;
        for (int i = 2; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--pcr0"))
                pcr0 = argv[i + 1];
            else if (!strcmp(argv[i], "--save"))
                dir = argv[i + 1];
        }
        conformance(pcr0, dir);
        return finish("conformance");
    }
    if (!strcmp(cmd, "descriptors")) {
        descriptors(argc > 2 && !strcmp(argv[2], "--server"), argv[0]);
        return finish("descriptors");
    }
    if (!strcmp(cmd, "exec-child") && argc == 3) {
        describe16 = req_index("DescribePCR", "index", 16);
        return works(atoi(argv[2])) ? 0 : 1;
    }
    if (!strcmp(cmd, "worker") && argc == 5) {
        describe16 = req_index("DescribePCR", "index", 16);
        return worker((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]), argv[4]);
    }
    if (!strcmp(cmd, "threads") && argc == 4)
        return threads((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]));
    if (!strcmp(cmd, "chain") && argc >= 5)
        return chain((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]), argv + 4, argc - 4);
    if (!strcmp(cmd, "frames") && argc == 3)
        return frames(argv[2]);
    if (!strcmp(cmd, "timeout"))
        return timeout_check();
    if (!strcmp(cmd, "unreachable"))
        return unreachable();
    if (!strcmp(cmd, "wait") && argc == 3)
        return wait_socket(argv[2]);
    fprintf(stderr, "usage: see the comment at the top of tests/devnsm_client.c\n");
    return 2;
}
