/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm_conformance: what the official NSM library's own conformance test expects of an NSM
 * (NSM-FACTS section 3), plus the library's own rules (buffer truncation, input limits,
 * argument checks), written against nothing but the official C API in nsm.h. It runs
 * against the drop-in libnsm in-process and, under `nsm-sim exec`, through the shim.
 * Prints "FAIL ..." per failed check; exits 1 if any failed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <nsm.h>

static int failures, checks;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        checks++;                                                                             \
        if (!(cond)) {                                                                        \
            failures++;                                                                       \
            printf("FAIL line %d: ", __LINE__);                                               \
            printf(__VA_ARGS__);                                                              \
            printf("\n");                                                                     \
        }                                                                                     \
    } while (0)

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void description(int32_t fd, NsmDescription *d)
{
    memset(d, 0xee, sizeof(*d));
    ErrorCode rc = nsm_get_description(fd, d);
    CHECK(rc == ERROR_CODE_SUCCESS, "nsm_get_description: %d", rc);
    CHECK(d->max_pcrs == 32, "max_pcrs %u", d->max_pcrs);
    CHECK(d->digest == DIGEST_SHA384, "digest %d", d->digest);
    CHECK(d->module_id_len > 0 && d->module_id_len < sizeof(d->module_id) &&
              d->module_id[d->module_id_len] == 0 &&
              strlen((const char *)d->module_id) == d->module_id_len,
          "module_id of %u bytes", d->module_id_len);
    CHECK(d->locked_pcrs_len <= 64, "locked_pcrs_len %u", d->locked_pcrs_len);
}

static void attestation(int32_t fd, const uint8_t *ud, const uint8_t *nonce, const uint8_t *pk,
                        uint32_t n, const char *what)
{
    static uint8_t doc[16384];
    uint32_t len = sizeof(doc);
    ErrorCode rc = nsm_get_attestation_doc(fd, ud, n, nonce, n, pk, n, doc, &len);
    CHECK(rc == ERROR_CODE_SUCCESS && len > 1000 && doc[0] == 0x84, "attestation %s: %d, %u bytes",
          what, rc, len);
}

int main(void)
{
    int32_t fd = nsm_lib_init();
    if (fd < 0) {
        printf("FAIL: nsm_lib_init returned %d\n", fd);
        return 1;
    }
    NsmDescription d;
    description(fd, &d);
    CHECK(d.locked_pcrs_len == 16, "%u PCRs locked at boot", d.locked_pcrs_len);
    for (uint16_t i = 0; i < 16 && i < d.locked_pcrs_len; i++)
        CHECK(d.locked_pcrs[i] == i, "locked_pcrs[%u] = %u", i, d.locked_pcrs[i]);
    attestation(fd, NULL, NULL, NULL, 0, "without data");

    /* Boot state: PCR0-2 and PCR4 measured, the rest zero; 0-15 locked, 16-31 open. */
    uint8_t pcr[32][48];
    for (uint16_t i = 0; i < 32; i++) {
        bool lock = !(i < 16);
        uint32_t len = 48;
        ErrorCode rc = nsm_describe_pcr(fd, i, &lock, pcr[i], &len);
        CHECK(rc == ERROR_CODE_SUCCESS && len == 48, "describe PCR%u: %d, %u bytes", i, rc, len);
        CHECK(lock == (i < 16), "PCR%u lock %d", i, lock);
        bool measured = i <= 2 || i == 4;
        CHECK(measured != all_zero(pcr[i], 48), "PCR%u %s", i,
              measured ? "is zero" : "is not zero");
    }
    for (uint16_t i = 0; i < 16; i++)
        CHECK(nsm_lock_pcr(fd, i) == ERROR_CODE_READ_ONLY_INDEX, "lock of boot PCR%u", i);

    static const uint8_t dummy[3] = {1, 2, 3};
    for (int loop = 0; loop < 10; loop++) {
        for (uint16_t i = 16; i < 32; i++) {
            uint8_t out[48] = {0};
            uint32_t len = sizeof(out);
            ErrorCode rc = nsm_extend_pcr(fd, i, dummy, sizeof(dummy), out, &len);
            CHECK(rc == ERROR_CODE_SUCCESS && len == 48 && !all_zero(out, 48),
                  "extend PCR%u: %d", i, rc);
            memcpy(pcr[i], out, 48);
        }
    }
    for (uint16_t i = 16; i < 32; i++)
        CHECK(nsm_lock_pcr(fd, i) == ERROR_CODE_SUCCESS, "lock PCR%u", i);
    CHECK(nsm_lock_pcrs(fd, 32) == ERROR_CODE_SUCCESS, "lock_pcrs 32");
    CHECK(nsm_lock_pcrs(fd, 33) != ERROR_CODE_SUCCESS, "lock_pcrs 33 succeeded");
    for (uint16_t i = 0; i < 32; i++) {
        uint8_t out[48];
        uint32_t len = sizeof(out);
        CHECK(nsm_extend_pcr(fd, i, dummy, sizeof(dummy), out, &len) ==
                  ERROR_CODE_READ_ONLY_INDEX,
              "extend of locked PCR%u", i);
    }
    for (uint16_t i = 0; i < 32; i++) {
        bool lock = false;
        uint8_t out[48];
        uint32_t len = sizeof(out);
        CHECK(nsm_describe_pcr(fd, i, &lock, out, &len) == ERROR_CODE_SUCCESS && lock &&
                  !memcmp(out, pcr[i], 48),
              "PCR%u after locking", i);
    }
    description(fd, &d);
    CHECK(d.locked_pcrs_len == 32, "%u PCRs locked at the end", d.locked_pcrs_len);

    static uint8_t k[1024];
    memset(k, 128, sizeof(k));
    attestation(fd, k, NULL, NULL, sizeof(k), "with user data");
    attestation(fd, k, k, NULL, sizeof(k), "with user data and nonce");
    attestation(fd, k, k, k, sizeof(k), "with user data, nonce and public key");

    static uint8_t seen[16][256];
    for (int i = 0; i < 16; i++) {
        uintptr_t len = 256;
        CHECK(nsm_get_random(fd, seen[i], &len) == ERROR_CODE_SUCCESS && len == 256,
              "get_random %d: %lu bytes", i, (unsigned long)len);
        for (int j = 0; j < i; j++)
            CHECK(memcmp(seen[i], seen[j], 256) != 0, "get_random %d repeats %d", i, j);
    }

    /* The library's own rules. */
    uint8_t small[10];
    uint32_t len = sizeof(small);
    CHECK(nsm_get_attestation_doc(fd, NULL, 0, NULL, 0, NULL, 0, small, &len) ==
                  ERROR_CODE_BUFFER_TOO_SMALL && len == sizeof(small) && small[0] == 0x84,
          "attestation into 10 bytes: len %u", len);
    len = 100;
    CHECK(nsm_get_attestation_doc(fd, NULL, 0, NULL, 0, NULL, 0, NULL, &len) ==
                  ERROR_CODE_BUFFER_TOO_SMALL && len == 0,
          "attestation into NULL: len %u", len);
    uint8_t out[48];
    bool lock;
    len = 20;
    CHECK(nsm_describe_pcr(fd, 0, &lock, out, &len) == ERROR_CODE_BUFFER_TOO_SMALL && len == 20 &&
              !memcmp(out, pcr[0], 20),
          "describe into 20 bytes");
    len = 48;
    CHECK(nsm_describe_pcr(fd, 32, &lock, out, &len) == ERROR_CODE_INVALID_INDEX, "PCR32");
    CHECK(nsm_extend_pcr(fd, 20, NULL, 0, out, &len) == ERROR_CODE_INVALID_ARGUMENT,
          "extend with NULL data");
    static uint8_t big[5000];
    len = 48;
    CHECK(nsm_extend_pcr(fd, 20, big, sizeof(big), out, &len) == ERROR_CODE_INPUT_TOO_LARGE,
          "extend with 5000 bytes");
    len = sizeof(small);
    CHECK(nsm_get_attestation_doc(fd, big, 2048, big, 2048, NULL, 0, small, &len) ==
              ERROR_CODE_INPUT_TOO_LARGE,
          "attestation with 4 KiB of input");
    len = sizeof(small);
    /* fits the request, but the NSM takes at most 1024 bytes per field */
    CHECK(nsm_get_attestation_doc(fd, big, 1500, NULL, 0, NULL, 0, small, &len) ==
              ERROR_CODE_INPUT_TOO_LARGE,
          "attestation with 1500-byte user data");
    uintptr_t rlen = 0;
    CHECK(nsm_get_random(fd, out, &rlen) == ERROR_CODE_INVALID_ARGUMENT, "get_random of 0");
    rlen = 16;
    CHECK(nsm_get_random(fd, out, &rlen) == ERROR_CODE_SUCCESS && rlen == 16, "get_random 16");
    rlen = 1000;
    static uint8_t r1000[1000];
    CHECK(nsm_get_random(fd, r1000, &rlen) == ERROR_CODE_SUCCESS && rlen == 256,
          "get_random of 1000 gives %lu", (unsigned long)rlen);
    rlen = 16;
    CHECK(nsm_get_random(-1, out, &rlen) == ERROR_CODE_INVALID_ARGUMENT, "get_random fd -1");
    len = 48;
    CHECK(nsm_describe_pcr(-1, 0, &lock, out, &len) == ERROR_CODE_INTERNAL_ERROR,
          "describe on fd -1 (EBADF -> InternalError)");

    nsm_lib_exit(fd);
    len = 48;
    CHECK(nsm_describe_pcr(fd, 0, &lock, out, &len) == ERROR_CODE_INTERNAL_ERROR,
          "describe after nsm_lib_exit");
    printf("nsm_conformance: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
