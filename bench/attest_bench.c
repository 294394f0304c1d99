/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attestation documents issued per second on one core, next to nettle's and OpenSSL's own
 * P-384 signing rates measured in the same run. A document costs one ECDSA P-384
 * signature, made with nettle through the seam (nsmkit/p384.h); everything else (request
 * decoding, payload encoding, hashing) should be small beside it, so the ratio to nettle's
 * rate should stay near 1 (target: at least 0.8, about 5x OpenSSL's rate).
 *
 * Rounds alternate between the two measurements so that a noisy neighbour hurts both; the
 * best round of each is reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "../frontends/devnsm/codec.h"
#include "nsmkit/sim.h"
#include "nsmkit/error.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/p384.h"

#define ROUNDS 5
#define ROUND_SECONDS 1.0

/* CPU time of this thread: the machine is shared, and time spent descheduled says nothing
 * about either side of a ratio. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What `openssl speed ecdsap384` does: EVP_PKEY_sign on one prepared context, a 20-byte
 * input, in a loop. */
static double openssl_sign_rate(EVP_PKEY *key)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    unsigned char tbs[20] = {0}, sig[256];
    if (!ctx || EVP_PKEY_sign_init(ctx) <= 0)
        return 0;
    long count = 0;
    double start = now_s(), end;
    do {
        for (int i = 0; i < 16; i++) {
            size_t sig_len = sizeof(sig);
            if (EVP_PKEY_sign(ctx, sig, &sig_len, tbs, sizeof(tbs)) <= 0) {
                EVP_PKEY_CTX_free(ctx);
                return 0;
            }
        }
        count += 16;
        end = now_s();
    } while (end - start < ROUND_SECONDS);
    EVP_PKEY_CTX_free(ctx);
    return (double)count / (end - start);
}

/* nettle's P-384 sign through the seam (the same call the attestation builder makes). */
static double nettle_sign_rate(const nsmkit_p384_private *key)
{
    uint8_t digest[48] = {0}, sig[96];
    long count = 0;
    double start = now_s(), end;
    do {
        for (int i = 0; i < 16; i++)
            if (nsmkit_p384_sign(key, digest, NULL, sig) != NSMKIT_P384_OK)
                return 0;
        count += 16;
        end = now_s();
    } while (end - start < ROUND_SECONDS);
    return (double)count / (end - start);
}

static double attestation_rate(nsmsim *sim, const uint8_t *req, size_t req_len, size_t *doc_len)
{
    static uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    long count = 0;
    double start = now_s(), end;
    do {
        for (int i = 0; i < 16; i++) {
            if (nsmsim_handle(sim, req, req_len, resp, doc_len) != 0 || resp[2] != 'A')
                return 0;
        }
        count += 16;
        end = now_s();
    } while (end - start < ROUND_SECONDS);
    return (double)count / (end - start);
}

int main(void)
{
    char dir[] = "/tmp/nsmkit-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    nsmkit_error e;
    nsmsim_options options;
    nsmsim_options_init(&options);
    options.ca_dir = dir;
    nsmsim *sim = NULL;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    if (nsmca_init(dir, NULL, &e) != 0 || nsmsim_new(&options, &sim, &e) != 0 || !key) {
        fprintf(stderr, "attest_bench: %s\n", e.msg);
        return 1;
    }
    /* a typical request: a 32-byte nonce, 64 bytes of user data, a 97-byte public key */
    nsmkit_buf req;
    nsmkit_buf_init(&req, NSM_REQUEST_MAX_SIZE);
    uint8_t fill[128];
    memset(fill, 0x42, sizeof(fill));
    nsmsim_api_encode_attestation(&req, nsmkit_bytes_of(fill, 64), nsmkit_bytes_of(fill, 32),
                                  nsmkit_bytes_of(fill, 97));

    uint8_t scalar[48];
    nsmkit_p384_private *nettle_key = NULL;
    memset(scalar, 0x5a, sizeof(scalar)); /* any scalar below n: the rate does not depend on it */
    if (nsmkit_p384_private_new(NSMKIT_P384_NETTLE, scalar, &nettle_key) != NSMKIT_P384_OK) {
        fprintf(stderr, "attest_bench: nettle key setup failed\n");
        return 1;
    }
    double best_openssl = 0, best_nettle = 0, best_attest = 0;
    size_t response_len = 0;
    for (int round = 0; round < ROUNDS; round++) {
        double o = openssl_sign_rate(key);
        double n = nettle_sign_rate(nettle_key);
        double a = attestation_rate(sim, req.data, req.len, &response_len);
        if (o == 0 || n == 0 || a == 0) {
            fprintf(stderr, "attest_bench: a measurement failed\n");
            return 1;
        }
        best_openssl = o > best_openssl ? o : best_openssl;
        best_nettle = n > best_nettle ? n : best_nettle;
        best_attest = a > best_attest ? a : best_attest;
    }
    double ratio = best_attest / best_nettle;
    printf("attestation documents, one core, best of %d rounds of %.0f s:\n", ROUNDS, ROUND_SECONDS);
    printf("  OpenSSL P-384 sign (EVP_PKEY_sign, as `openssl speed ecdsap384`): %8.0f /s\n",
           best_openssl);
    printf("  nettle P-384 sign (nsmkit_p384_sign):                           %8.0f /s\n",
           best_nettle);
    printf("  nsmsim_handle(Attestation), %zu-byte response:               %8.0f /s\n",
           response_len, best_attest);
    printf("  issued: %.2f x nettle's sign rate (target >= 0.80) %s; %.2f x OpenSSL's\n", ratio,
           ratio >= 0.8 ? "met" : "NOT MET", best_attest / best_openssl);
    nsmkit_p384_private_free(nettle_key);

    nsmkit_buf_free(&req);
    nsmsim_free(sim);
    EVP_PKEY_free(key);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
