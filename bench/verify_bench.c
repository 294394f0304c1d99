/*
 * verify_bench: documents verified per second, cold (no cache: every certificate of the
 * chain and the COSE signature, five P-384 verifications) and warm (the chain remembered:
 * one P-384 verification), beside OpenSSL's own P-384 verify rate measured in the same run
 * and process, printed as ratios. Targets: warm >= 0.8 x the OpenSSL rate; cold >= 0.8 x
 * that rate / 5. One thread, measured in its CPU time, the three measurements interleaved
 * in short slices over about BENCH_TOTAL_S seconds.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "nsmkit/ca.h"
#include "nsmkit/sim.h"
#include "nsmkit/verify.h"
#include "nsmkit/error.h"
#include "nsmkit/buf.h"

#define BENCH_TOTAL_S 6.0

/* CPU time of this thread: the machine is shared, and time spent descheduled says nothing
 * about either side of a ratio. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int die(const char *what)
{
    fprintf(stderr, "verify_bench: %s\n", what);
    return 1;
}

typedef int (*bench_op)(void *ctx);

/* A slice: n operations, their CPU time added to *spent. */
static int slice(bench_op op, void *ctx, int n, double *spent)
{
    double start = now_s();
    for (int i = 0; i < n; i++)
        if (op(ctx) != 0)
            return -1;
    *spent += now_s() - start;
    return 0;
}

typedef struct {
    EVP_PKEY_CTX *ctx;
    unsigned char sig[128];
    size_t sig_len;
    unsigned char digest[48];
} openssl_verify;

static int op_openssl(void *arg)
{
    openssl_verify *o = arg;
    return EVP_PKEY_verify(o->ctx, o->sig, o->sig_len, o->digest, sizeof(o->digest)) == 1 ? 0
                                                                                          : -1;
}

typedef struct {
    nsmv_verifier *v;
    const uint8_t *doc;
    size_t len;
    nsmv_options options;
} doc_verify;

static int op_doc(void *arg)
{
    doc_verify *d = arg;
    nsmv_result r;
    return nsmv_verify(d->v, d->doc, d->len, &d->options, &r) == NSMV_OK ? 0 : -1;
}

int main(void)
{
    static const uint8_t enclave[NSMCA_ENCLAVE_ID_LEN] = {0xbe, 0, 0, 0, 0, 0, 0, 1};
    char dir[] = "/tmp/nsmkit-bench-XXXXXX", ca[64];
    nsmca_pki *pki = NULL;
    nsmca_leaf *leaf = NULL;
    nsmkit_error e;
    nsmv_error ve;
    nsmkit_buf payload, doc;
    int status = 1;

    /* A document from a simulated NSM: the same shape and cost as a real one. */
    if (!mkdtemp(dir))
        return die("cannot create a temporary directory");
    snprintf(ca, sizeof(ca), "%s/ca", dir);
    uint64_t t = (uint64_t)time(NULL);
    nsmca_init_options init = {.now_s = t};
    if (nsmca_init(ca, &init, &e) != 0 || nsmca_open(ca, &pki, &e) != 0 ||
        nsmca_leaf_issue(pki, enclave, t, &leaf, &e) != 0) {
        fprintf(stderr, "verify_bench: %s\n", e.msg);
        goto out_dir;
    }
    uint8_t pcr_values[16][48];
    nsmsim_pcr_entry pcrs[16];
    for (unsigned i = 0; i < 16; i++) {
        memset(pcr_values[i], i < 3 ? 0x11 * (int)(i + 1) : 0, 48);
        pcrs[i] = (nsmsim_pcr_entry){i, pcr_values[i], 48};
    }
    const uint8_t *bundle[4];
    size_t lens[4];
    unsigned count = nsmca_leaf_bundle_count(leaf);
    for (unsigned i = 0; i < count && i < 4; i++)
        bundle[i] = nsmca_leaf_bundle_der(leaf, i, &lens[i]);
    static const uint8_t nonce[32] = {1};
    nsmsim_payload p = {.module_id = "i-0123456789abcdef0-encbe00000000000001",
                        .digest = "SHA384",
                        .timestamp_ms = t * 1000 + 500,
                        .pcrs = pcrs,
                        .pcr_count = 16,
                        .cabundle = bundle,
                        .cabundle_lens = lens,
                        .cabundle_count = count,
                        .nonce = {nonce, sizeof(nonce), true}};
    p.certificate = nsmca_leaf_der(leaf, &p.certificate_len);
    nsmkit_buf_init(&payload, NSMV_DOC_MAX);
    nsmkit_buf_init(&doc, NSMV_DOC_MAX);
    nsmsim_payload_encode(&p, &payload);
    if (payload.err || nsmsim_cose_sign1_encode(payload.data, payload.len, leaf, &doc) != 0) {
        die("cannot build a document");
        goto out_bufs;
    }

    /* OpenSSL's own P-384 verify rate, measured the way `openssl speed` does. */
    openssl_verify ov = {.sig_len = sizeof(ov.sig)};
    EVP_PKEY *key = EVP_EC_gen("P-384");
    EVP_PKEY_CTX *sign = key ? EVP_PKEY_CTX_new(key, NULL) : NULL;
    ov.ctx = key ? EVP_PKEY_CTX_new(key, NULL) : NULL;
    memset(ov.digest, 0x5a, sizeof(ov.digest));
    if (!sign || !ov.ctx || EVP_PKEY_sign_init(sign) != 1 ||
        EVP_PKEY_sign(sign, ov.sig, &ov.sig_len, ov.digest, sizeof(ov.digest)) != 1 ||
        EVP_PKEY_verify_init(ov.ctx) != 1) {
        die("OpenSSL P-384 setup failed");
        goto out_keys;
    }

    nsmv_config warm_config = {.root_der = bundle[0], .root_len = lens[0]};
    nsmv_config cold_config = {.root_der = bundle[0], .root_len = lens[0], .no_cache = true};
    doc_verify warm = {.doc = doc.data, .len = doc.len}, cold = {.doc = doc.data, .len = doc.len};
    if (nsmv_verifier_new(&warm_config, &warm.v, &ve) != 0 ||
        nsmv_verifier_new(&cold_config, &cold.v, &ve) != 0) {
        fprintf(stderr, "verify_bench: %s\n", ve.msg);
        goto out_verifiers;
    }
    nsmv_options_init(&warm.options);
    warm.options.time_mode = NSMV_TIME_FIXED;
    warm.options.time_s = t + 1;
    cold.options = warm.options;
    if (op_doc(&warm) != 0) {
        die("the benchmark document does not verify");
        goto out_verifiers;
    }

    /* The three measurements interleave in short slices, so that a busy moment of the
     * machine (or a change of clock speed) weighs on all of them alike. Slices are sized
     * to take about the same time: one cold document is about five verifications. */
    double spent_openssl = 0, spent_warm = 0, spent_cold = 0;
    long n_openssl = 0, n_warm = 0, n_cold = 0;
    while (spent_openssl + spent_warm + spent_cold < BENCH_TOTAL_S) {
        if (slice(op_openssl, &ov, 10, &spent_openssl) != 0 ||
            slice(op_doc, &warm, 10, &spent_warm) != 0 ||
            slice(op_doc, &cold, 2, &spent_cold) != 0) {
            die("a measurement failed");
            goto out_verifiers;
        }
        n_openssl += 10;
        n_warm += 10;
        n_cold += 2;
    }
    double openssl = n_openssl / spent_openssl, warm_rate = n_warm / spent_warm,
           cold_rate = n_cold / spent_cold;
    uint64_t hits, misses;
    nsmv_verifier_cache_stats(warm.v, &hits, &misses);
    if (misses != 1) {
        die("the warm verifier missed its cache");
        goto out_verifiers;
    }
    double warm_ratio = warm_rate / openssl, cold_ratio = cold_rate / (openssl / 5);
    printf("document: %zu bytes, %u cabundle certificates; one thread, CPU time, %.0f s "
           "interleaved\n", doc.len, count, BENCH_TOTAL_S);
    printf("openssl P-384 verify      %8.0f /s\n", openssl);
    printf("warm (chain cached)       %8.0f docs/s   %.2f x openssl verify        (target >= 0.80) %s\n",
           warm_rate, warm_ratio, warm_ratio >= 0.8 ? "met" : "NOT MET");
    printf("cold (no cache)           %8.0f docs/s   %.2f x openssl verify / 5    (target >= 0.80) %s\n",
           cold_rate, cold_ratio, cold_ratio >= 0.8 ? "met" : "NOT MET");
    status = 0;

out_verifiers:
    nsmv_verifier_free(warm.v);
    nsmv_verifier_free(cold.v);
out_keys:
    EVP_PKEY_CTX_free(sign);
    EVP_PKEY_CTX_free(ov.ctx);
    EVP_PKEY_free(key);
out_bufs:
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
out_dir:
    nsmca_leaf_free(leaf);
    nsmca_close(pki);
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    return status;
}
