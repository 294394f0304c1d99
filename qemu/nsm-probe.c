/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-probe: a small static client of /dev/nsm for QEMU guests (no libcbor, no OpenSSL:
 * the few requests it sends are written byte by byte as the official client's serde_cbor
 * writes them, NSM-FACTS section 2).
 *
 *   nsm-probe first               one attestation; prints NSMQEMU-FIRST-ATTESTATION <bytes>
 *   nsm-probe rtt N               N DescribePCR and N Attestation round trips, and N pipe
 *                                 round trips between two guest processes (the guest's own
 *                                 speed in the same run); prints the medians as
 *                                 NSMQEMU-RTT describe_pcr_us=.. attestation_us=.. n=.. pipe_us=..
 *   nsm-probe extend I HEX        ExtendPCR(I, bytes); prints the new value in hex
 *   nsm-probe describe I          prints "lock=0|1 <value hex>"
 *   nsm-probe lock I              LockPCR(I): a locked PCR is in every later document
 *   nsm-probe attest [NONCE_HEX]  prints an attestation document in hex
 *   nsm-probe efault I            bad argument and request pointers give EFAULT and leave
 *                                 PCR I untouched
 *   nsm-probe stat                /dev/nsm is a character device (prints major:minor)
 *
 * Exits 0 on success, 1 with one "nsm-probe: ..." line on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nsmkit/nsm_abi.h"

#define PCR_LEN 48

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "nsm-probe: %s\n", line);
    return 1;
}

typedef struct {
    uint8_t b[NSM_REQUEST_MAX_SIZE];
    size_t n;
} request;

static void put(request *r, const void *p, size_t n)
{
    if (n > sizeof(r->b) - r->n) {
        fprintf(stderr, "nsm-probe: request over %d bytes\n", NSM_REQUEST_MAX_SIZE);
        exit(1);
    }
    memcpy(r->b + r->n, p, n);
    r->n += n;
}

/* A CBOR head: major type and argument, shortest form. */
static void put_head(request *r, unsigned major, uint64_t arg)
{
    uint8_t h[9];
    size_t n;
    if (arg < 24) {
        h[0] = (uint8_t)(major << 5 | arg);
        n = 1;
    } else if (arg <= 0xff) {
        h[0] = (uint8_t)(major << 5 | 24);
        h[1] = (uint8_t)arg;
        n = 2;
    } else if (arg <= 0xffff) {
        h[0] = (uint8_t)(major << 5 | 25);
        h[1] = (uint8_t)(arg >> 8);
        h[2] = (uint8_t)arg;
        n = 3;
    } else {
        h[0] = (uint8_t)(major << 5 | 26);
        for (int i = 0; i < 4; i++)
            h[1 + i] = (uint8_t)(arg >> (24 - 8 * i));
        n = 5;
    }
    put(r, h, n);
}

static void put_text(request *r, const char *s)
{
    put_head(r, 3, strlen(s));
    put(r, s, strlen(s));
}

static void put_bytes(request *r, const uint8_t *p, size_t n)
{
    put_head(r, 2, n);
    put(r, p, n);
}

static request req_describe(unsigned index)
{
    request r = {.n = 0};
    put_head(&r, 5, 1);
    put_text(&r, "DescribePCR");
    put_head(&r, 5, 1);
    put_text(&r, "index");
    put_head(&r, 0, index);
    return r;
}

static request req_extend(unsigned index, const uint8_t *data, size_t len)
{
    request r = {.n = 0};
    put_head(&r, 5, 1);
    put_text(&r, "ExtendPCR");
    put_head(&r, 5, 2);
    put_text(&r, "index");
    put_head(&r, 0, index);
    put_text(&r, "data");
    put_bytes(&r, data, len);
    return r;
}

static request req_attestation(const uint8_t *nonce, size_t nonce_len)
{
    static const uint8_t null = 0xf6;
    request r = {.n = 0};
    put_head(&r, 5, 1);
    put_text(&r, "Attestation");
    put_head(&r, 5, 3);
    put_text(&r, "user_data");
    put(&r, &null, 1);
    put_text(&r, "nonce");
    if (nonce)
        put_bytes(&r, nonce, nonce_len);
    else
        put(&r, &null, 1);
    put_text(&r, "public_key");
    put(&r, &null, 1);
    return r;
}

static uint8_t response[NSM_RESPONSE_MAX_SIZE];

/* One NSM_IOCTL_RAW; returns 0 or the errno, with the response length in *len. */
static int call(int fd, const request *r, size_t *len)
{
    struct nsm_raw raw = {
        .request = {.addr = (uint64_t)(uintptr_t)r->b, .len = r->n},
        .response = {.addr = (uint64_t)(uintptr_t)response, .len = sizeof(response)},
    };
    if (ioctl(fd, NSM_IOCTL_RAW, &raw) != 0)
        return errno;
    *len = (size_t)raw.response.len;
    return 0;
}

static int open_nsm(void)
{
    int fd = open("/dev/nsm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "nsm-probe: cannot open /dev/nsm: %s\n", strerror(errno));
        exit(1);
    }
    return fd;
}

/* The 48-byte value after "data" (64 64617461 58 30) in a DescribePCR/ExtendPCR response. */
static const uint8_t *pcr_value(size_t len)
{
    static const uint8_t key[] = {0x64, 'd', 'a', 't', 'a', 0x58, PCR_LEN};
    if (len < sizeof(key) + PCR_LEN)
        return NULL;
    for (size_t i = 0; i + sizeof(key) + PCR_LEN <= len; i++)
        if (memcmp(response + i, key, sizeof(key)) == 0)
            return response + i + sizeof(key);
    return NULL;
}

/* The document of {"Attestation": {"document": bstr}} (a 2-byte length: documents are
 * 1 to 12 KiB). */
static const uint8_t *document(size_t len, size_t *doc_len)
{
    static const uint8_t head[] = {0xa1, 0x6b, 'A', 't', 't', 'e', 's', 't', 'a', 't', 'i', 'o',
                                   'n', 0xa1, 0x68, 'd', 'o', 'c', 'u', 'm', 'e', 'n', 't', 0x59};
    if (len < sizeof(head) + 2 || memcmp(response, head, sizeof(head)) != 0)
        return NULL;
    size_t n = (size_t)response[sizeof(head)] << 8 | response[sizeof(head) + 1];
    if (sizeof(head) + 2 + n != len)
        return NULL;
    *doc_len = n;
    return response + sizeof(head) + 2;
}

static void print_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

static int parse_hex(const char *hex, uint8_t *out, size_t cap, size_t *n)
{
    size_t len = strlen(hex);
    if (len % 2 || len / 2 > cap)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    *n = len / 2;
    return 0;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int describe(int fd, unsigned index, int *lock, uint8_t value[PCR_LEN])
{
    request r = req_describe(index);
    size_t len;
    int err = call(fd, &r, &len);
    if (err)
        return err;
    const uint8_t *v = pcr_value(len);
    if (!v || len < 20)
        return EPROTO;
    memcpy(value, v, PCR_LEN);
    *lock = memmem(response, len, "\x64lock\xf5", 6) != NULL;
    return 0;
}

/* The guest's own speed in the same run: the median round trip of one byte between two
 * guest processes over pipes. Under TCG on a shared machine every figure swings with the
 * load; the ratio to this one says what the NSM path itself costs. */
static int64_t pipe_round_trip_us(unsigned n, int64_t *t)
{
    int ab[2], ba[2];
    if (pipe(ab) != 0 || pipe(ba) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(ab[1]); /* or our own copy keeps the read below from seeing the end */
        close(ba[0]);
        char c;
        while (read(ab[0], &c, 1) == 1 && write(ba[1], &c, 1) == 1)
            ;
        _exit(0);
    }
    close(ab[0]);
    close(ba[1]);
    int64_t result = -1;
    unsigned i;
    for (i = 0; i < n; i++) {
        char c = 'x';
        int64_t t0 = now_us();
        if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
            break;
        t[i] = now_us() - t0;
    }
    close(ab[1]);
    close(ba[0]);
    waitpid(pid, NULL, 0);
    if (i == n) {
        qsort(t, n, sizeof(*t), cmp_i64);
        result = t[n / 2];
    }
    return result;
}

static int cmd_rtt(int fd, unsigned n)
{
    if (n == 0 || n > 10000)
        return fail("rtt takes 1..10000 round trips, not %u", n);
    int64_t *t = calloc(n, sizeof(*t));
    if (!t)
        return fail("%s", "out of memory");
    int64_t med[2];
    for (int kind = 0; kind < 2; kind++) {
        request r = kind == 0 ? req_describe(0) : req_attestation(NULL, 0);
        for (unsigned i = 0; i < n; i++) {
            size_t len;
            int64_t t0 = now_us();
            int err = call(fd, &r, &len);
            t[i] = now_us() - t0;
            if (err) {
                free(t);
                return fail("round trip failed: %s", strerror(err));
            }
        }
        qsort(t, n, sizeof(*t), cmp_i64);
        med[kind] = t[n / 2];
    }
    int64_t pipe_us = pipe_round_trip_us(n, t);
    free(t);
    if (pipe_us < 0)
        return fail("the pipe round trip failed: %s", strerror(errno));
    printf("NSMQEMU-RTT describe_pcr_us=%lld attestation_us=%lld n=%u pipe_us=%lld\n",
           (long long)med[0], (long long)med[1], n, (long long)pipe_us);
    return 0;
}

/* Bad pointers: EFAULT, and the PCR the request would have extended is untouched. */
static int cmd_efault(int fd, unsigned index)
{
    int lock;
    uint8_t before[PCR_LEN], after[PCR_LEN];
    int err = describe(fd, index, &lock, before);
    if (err)
        return fail("DescribePCR: %s", strerror(err));
    static const uint8_t data[4] = {1, 2, 3, 4};
    request ext = req_extend(index, data, sizeof(data));

    long page = sysconf(_SC_PAGESIZE);
    uint8_t *pages = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED)
        return fail("mmap: %s", strerror(errno));
    /* The request straddles into an unmapped page: its first bytes are readable. */
    uint8_t *edge = pages + page - ext.n / 2;
    memcpy(edge, ext.b, ext.n / 2);
    munmap(pages + page, (size_t)page);

    struct nsm_raw raw = {.response = {.addr = (uint64_t)(uintptr_t)response,
                                       .len = sizeof(response)}};
    struct {
        const char *what;
        struct nsm_raw *arg;
        uint64_t req_addr;
    } cases[] = {
        {"NULL argument", NULL, 0},
        {"argument in an unmapped page", (struct nsm_raw *)(pages + page), 0},
        {"NULL request pointer", &raw, 0},
        {"request pointer 16", &raw, 16},
        {"request running into an unmapped page", &raw, (uint64_t)(uintptr_t)edge},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        raw.request.addr = cases[i].req_addr;
        raw.request.len = ext.n;
        int r = ioctl(fd, NSM_IOCTL_RAW, cases[i].arg);
        if (r != -1 || errno != EFAULT) {
            fprintf(stderr, "nsm-probe: %s: %s, not EFAULT\n", cases[i].what,
                    r == 0 ? "success" : strerror(errno));
            bad = 1;
        }
    }
    munmap(pages, (size_t)page);
    err = describe(fd, index, &lock, after);
    if (err)
        return fail("DescribePCR: %s", strerror(err));
    if (memcmp(before, after, PCR_LEN) != 0) {
        fprintf(stderr, "nsm-probe: PCR%u changed behind an EFAULT\n", index);
        bad = 1;
    }
    if (!bad)
        printf("efault: 5 bad pointers gave EFAULT, PCR%u untouched\n", index);
    return bad;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: nsm-probe first|rtt N|extend I HEX|describe I|lock I|attest "
                        "[NONCE_HEX]|efault I|stat\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "stat")) {
        struct stat st;
        if (stat("/dev/nsm", &st) != 0)
            return fail("stat /dev/nsm: %s", strerror(errno));
        if (!S_ISCHR(st.st_mode))
            return fail("%s", "/dev/nsm is not a character device");
        printf("/dev/nsm: character device %u:%u mode %03o\n", major(st.st_rdev),
               minor(st.st_rdev), (unsigned)(st.st_mode & 0777));
        return 0;
    }
    int fd = open_nsm();
    size_t len;
    int err;
    if (!strcmp(cmd, "first") || (!strcmp(cmd, "attest") && argc <= 3)) {
        uint8_t nonce[512];
        size_t nonce_len = 0;
        if (argc == 3 && parse_hex(argv[2], nonce, sizeof(nonce), &nonce_len) != 0)
            return fail("bad nonce hex %s", argv[2]);
        request r = req_attestation(argc == 3 ? nonce : NULL, nonce_len);
        if ((err = call(fd, &r, &len)) != 0)
            return fail("Attestation: %s", strerror(err));
        size_t doc_len;
        const uint8_t *doc = document(len, &doc_len);
        if (!doc)
            return fail("%s", "the Attestation response holds no document");
        if (!strcmp(cmd, "first"))
            printf("NSMQEMU-FIRST-ATTESTATION %zu\n", doc_len);
        else
            print_hex(doc, doc_len);
        return 0;
    }
    if (!strcmp(cmd, "rtt") && argc == 3)
        return cmd_rtt(fd, (unsigned)strtoul(argv[2], NULL, 10));
    if (!strcmp(cmd, "efault") && argc == 3)
        return cmd_efault(fd, (unsigned)strtoul(argv[2], NULL, 10));
    if (!strcmp(cmd, "describe") && argc == 3) {
        int lock;
        uint8_t v[PCR_LEN];
        if ((err = describe(fd, (unsigned)strtoul(argv[2], NULL, 10), &lock, v)) != 0)
            return fail("DescribePCR: %s", strerror(err));
        printf("lock=%d ", lock);
        print_hex(v, PCR_LEN);
        return 0;
    }
    if (!strcmp(cmd, "lock") && argc == 3) {
        request r = {.n = 0};
        put_head(&r, 5, 1);
        put_text(&r, "LockPCR");
        put_head(&r, 5, 1);
        put_text(&r, "index");
        put_head(&r, 0, strtoul(argv[2], NULL, 10));
        static const uint8_t ok[] = {0x67, 'L', 'o', 'c', 'k', 'P', 'C', 'R'};
        if ((err = call(fd, &r, &len)) != 0)
            return fail("LockPCR: %s", strerror(err));
        if (len != sizeof(ok) || memcmp(response, ok, sizeof(ok)) != 0)
            return fail("LockPCR %s: the NSM refused", argv[2]);
        return 0;
    }
    if (!strcmp(cmd, "extend") && argc == 4) {
        uint8_t data[1024];
        size_t n;
        if (parse_hex(argv[3], data, sizeof(data), &n) != 0)
            return fail("bad data hex %s", argv[3]);
        request r = req_extend((unsigned)strtoul(argv[2], NULL, 10), data, n);
        if ((err = call(fd, &r, &len)) != 0)
            return fail("ExtendPCR: %s", strerror(err));
        const uint8_t *v = pcr_value(len);
        if (!v)
            return fail("%s", "the ExtendPCR response holds no value");
        print_hex(v, PCR_LEN);
        return 0;
    }
    fprintf(stderr, "nsm-probe: unknown command or arguments: %s\n", cmd);
    return 2;
}
