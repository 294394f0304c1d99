/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verify_bench: documents verified per second, beside nettle's and OpenSSL's own P-384
 * verify rates measured in the same run and process, printed as ratios:
 *
 *   warm   the chain remembered: one P-384 verify (nettle)   target >= 0.8 x nettle
 *   fleet  a new leaf under remembered intermediates: two
 *          P-384 verifies (the leaf's link and the COSE one) target >= 0.8 x nettle / 2
 *   cold   nothing remembered: OpenSSL verifies the chain
 *          (four signatures), nettle the COSE signature      target >= 0.8 x OpenSSL / 5
 *
 * One thread, measured in its CPU time, the five measurements interleaved in short slices
 * over about BENCH_TOTAL_S seconds, so that a busy moment of the shared machine weighs on
 * all of them alike.
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
#include "nsmkit/p384.h"

#define BENCH_TOTAL_S 8.0
/* Documents with distinct leaves for the fleet measurement, cycled through a cache too
 * small to keep their leaves (8 entries: the three intermediates stay, leaves come and go). */
#define FLEET_DOCS 48

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
    nsmkit_p384_public *key;
    uint8_t digest[48], sig[96];
} nettle_verify;

static int op_nettle(void *arg)
{
    nettle_verify *n = arg;
    return nsmkit_p384_verify(n->key, n->digest, n->sig) == NSMKIT_P384_OK ? 0 : -1;
}

typedef struct {
    nsmv_verifier *v;
    nsmkit_buf *docs; /* one, or FLEET_DOCS with distinct leaves */
    size_t count, next;
    nsmv_options options;
    bool want_fleet;  /* each verification must take the fleet path */
} doc_verify;

static int op_doc(void *arg)
{
    doc_verify *d = arg;
    nsmv_result r;
    const nsmkit_buf *doc = &d->docs[d->next];
    d->next = (d->next + 1) % d->count;
    if (nsmv_verify(d->v, doc->data, doc->len, &d->options, &r) != NSMV_OK)
        return -1;
    return d->want_fleet && !r.chain_fleet ? -1 : 0;
}

/* A document of the simulated NSM signed by leaf: the same shape and cost as a real one. */
static int build_doc(const nsmca_leaf *leaf, uint64_t t, nsmkit_buf *doc)
{
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
    nsmkit_buf payload;
    nsmkit_buf_init(&payload, NSMV_DOC_MAX);
    nsmkit_buf_init(doc, NSMV_DOC_MAX);
    nsmsim_payload_encode(&p, &payload);
    int rc = payload.err || nsmsim_cose_sign1_encode(payload.data, payload.len, leaf, doc) != 0;
    nsmkit_buf_free(&payload);
    return rc ? -1 : 0;
}

int main(void)
{
    char dir[] = "/tmp/nsmkit-bench-XXXXXX", ca[64];
    nsmca_pki *pki = NULL;
    nsmca_leaf *leaf = NULL;
    nsmkit_error e;
    nsmv_error ve;
    nsmkit_buf doc, fleet_docs[FLEET_DOCS];
    size_t fleet_built = 0;
    openssl_verify ov = {.sig_len = sizeof(ov.sig)};
    nettle_verify nv = {0};
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *sign = NULL;
    doc_verify warm = {0}, cold = {0}, fleet = {0};
    int status = 1;

    if (!mkdtemp(dir))
        return die("cannot create a temporary directory");
    snprintf(ca, sizeof(ca), "%s/ca", dir);
    uint64_t t = (uint64_t)time(NULL);
    nsmca_init_options init = {.now_s = t};
    static const uint8_t enclave[NSMCA_ENCLAVE_ID_LEN] = {0xbe, 0, 0, 0, 0, 0, 0, 1};
    if (nsmca_init(ca, &init, &e) != 0 || nsmca_open(ca, &pki, &e) != 0 ||
        nsmca_leaf_issue(pki, enclave, t, &leaf, &e) != 0) {
        fprintf(stderr, "verify_bench: %s\n", e.msg);
        goto out;
    }
    nsmkit_buf_init(&doc, 16);
    if (build_doc(leaf, t, &doc) != 0) {
        die("cannot build a document");
        goto out;
    }
    /* the fleet: other enclaves of the same instance, each with its own leaf */
    for (; fleet_built < FLEET_DOCS; fleet_built++) {
        uint8_t id[NSMCA_ENCLAVE_ID_LEN] = {0xf1, 0, 0, 0, 0, 0, (uint8_t)(fleet_built >> 8),
                                            (uint8_t)fleet_built};
        nsmca_leaf *other = NULL;
        nsmkit_buf_init(&fleet_docs[fleet_built], 16);
        int rc = nsmca_leaf_issue(pki, id, t, &other, &e) != 0 ||
                 build_doc(other, t, &fleet_docs[fleet_built]) != 0;
        nsmca_leaf_free(other);
        if (rc) {
            nsmkit_buf_free(&fleet_docs[fleet_built]);
            die("cannot build the fleet's documents");
            goto out;
        }
    }

    /* OpenSSL's own P-384 verify rate, measured the way `openssl speed` does, and nettle's
     * through the seam, on the same digest and a signature of the same key. */
    key = EVP_EC_gen("P-384");
    sign = key ? EVP_PKEY_CTX_new(key, NULL) : NULL;
    ov.ctx = key ? EVP_PKEY_CTX_new(key, NULL) : NULL;
    memset(ov.digest, 0x5a, sizeof(ov.digest));
    uint8_t point[97];
    size_t point_len = 0;
    const unsigned char *p = ov.sig;
    ECDSA_SIG *sig = NULL;
    if (!sign || !ov.ctx || EVP_PKEY_sign_init(sign) != 1 ||
        EVP_PKEY_sign(sign, ov.sig, &ov.sig_len, ov.digest, sizeof(ov.digest)) != 1 ||
        EVP_PKEY_verify_init(ov.ctx) != 1 ||
        EVP_PKEY_get_octet_string_param(key, "pub", point, sizeof(point), &point_len) != 1 ||
        nsmkit_p384_public_new(NSMKIT_P384_NETTLE, point, point_len, &nv.key) != NSMKIT_P384_OK ||
        !(sig = d2i_ECDSA_SIG(NULL, &p, (long)ov.sig_len))) {
        die("P-384 setup failed");
        goto out;
    }
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    BN_bn2binpad(r, nv.sig, 48);
    BN_bn2binpad(s, nv.sig + 48, 48);
    ECDSA_SIG_free(sig);
    memcpy(nv.digest, ov.digest, 48);

    size_t root_len;
    const uint8_t *root = nsmca_cert_der(pki, 0, &root_len);
    nsmv_config warm_config = {.root_der = root, .root_len = root_len};
    nsmv_config cold_config = {.root_der = root, .root_len = root_len, .no_cache = true};
    nsmv_config fleet_config = {.root_der = root, .root_len = root_len, .cache_entries = 8};
    warm = (doc_verify){.docs = &doc, .count = 1};
    cold = (doc_verify){.docs = &doc, .count = 1};
    fleet = (doc_verify){.docs = fleet_docs, .count = FLEET_DOCS, .want_fleet = true};
    if (nsmv_verifier_new(&warm_config, &warm.v, &ve) != 0 ||
        nsmv_verifier_new(&cold_config, &cold.v, &ve) != 0 ||
        nsmv_verifier_new(&fleet_config, &fleet.v, &ve) != 0) {
        fprintf(stderr, "verify_bench: %s\n", ve.msg);
        goto out;
    }
    nsmv_options_init(&warm.options);
    warm.options.time_mode = NSMV_TIME_FIXED;
    warm.options.time_s = t + 1;
    cold.options = fleet.options = warm.options;
    /* the warm verifier and the fleet's intermediates: remembered before measuring */
    doc_verify prime = {.v = fleet.v, .docs = &doc, .count = 1, .options = warm.options};
    if (op_doc(&warm) != 0 || op_doc(&prime) != 0 || op_nettle(&nv) != 0) {
        die("the benchmark documents do not verify");
        goto out;
    }

    /* Slices are sized to take about the same time: a cold document is about five
     * verifications, a fleet one two. */
    double spent_openssl = 0, spent_nettle = 0, spent_warm = 0, spent_fleet = 0, spent_cold = 0;
    long n_openssl = 0, n_nettle = 0, n_warm = 0, n_fleet = 0, n_cold = 0;
    while (spent_openssl + spent_nettle + spent_warm + spent_fleet + spent_cold < BENCH_TOTAL_S) {
        if (slice(op_openssl, &ov, 10, &spent_openssl) != 0 ||
            slice(op_nettle, &nv, 20, &spent_nettle) != 0 ||
            slice(op_doc, &warm, 20, &spent_warm) != 0 ||
            slice(op_doc, &fleet, 10, &spent_fleet) != 0 ||
            slice(op_doc, &cold, 2, &spent_cold) != 0) {
            die("a measurement failed (or a fleet document missed the fleet path)");
            goto out;
        }
        n_openssl += 10;
        n_nettle += 20;
        n_warm += 20;
        n_fleet += 10;
        n_cold += 2;
    }
    double openssl = n_openssl / spent_openssl, nettle = n_nettle / spent_nettle,
           warm_rate = n_warm / spent_warm, fleet_rate = n_fleet / spent_fleet,
           cold_rate = n_cold / spent_cold;
    uint64_t hits, misses;
    nsmv_verifier_cache_stats(warm.v, &hits, &misses);
    if (misses != 1) { /* the first verification fills the cache */
        die("the warm verifier missed its cache");
        goto out;
    }
    double warm_ratio = warm_rate / nettle, fleet_ratio = fleet_rate / (nettle / 2),
           cold_ratio = cold_rate / (openssl / 5);
    printf("document: %zu bytes, %u cabundle certificates; one thread, CPU time, %.0f s "
           "interleaved\n", doc.len, nsmca_leaf_bundle_count(leaf), BENCH_TOTAL_S);
    printf("openssl P-384 verify      %8.0f /s\n", openssl);
    printf("nettle P-384 verify       %8.0f /s   %.2f x openssl\n", nettle, nettle / openssl);
    printf("warm (chain cached)       %8.0f docs/s   %.2f x nettle verify         (target >= 0.80) %s;"
           " %.2f x openssl\n", warm_rate, warm_ratio, warm_ratio >= 0.8 ? "met" : "NOT MET",
           warm_rate / openssl);
    printf("fleet (new leaf)          %8.0f docs/s   %.2f x nettle verify / 2     (target >= 0.80) %s\n",
           fleet_rate, fleet_ratio, fleet_ratio >= 0.8 ? "met" : "NOT MET");
    printf("cold (no cache)           %8.0f docs/s   %.2f x openssl verify / 5    (target >= 0.80) %s\n",
           cold_rate, cold_ratio, cold_ratio >= 0.8 ? "met" : "NOT MET");
    status = 0;

out:
    nsmv_verifier_free(warm.v);
    nsmv_verifier_free(cold.v);
    nsmv_verifier_free(fleet.v);
    nsmkit_p384_public_free(nv.key);
    EVP_PKEY_CTX_free(sign);
    EVP_PKEY_CTX_free(ov.ctx);
    EVP_PKEY_free(key);
    nsmkit_buf_free(&doc);
    for (size_t i = 0; i < fleet_built; i++)
        nsmkit_buf_free(&fleet_docs[i]);
    nsmca_leaf_free(leaf);
    nsmca_close(pki);
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    return status;
}
