/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chain stage, and the cache of chains that verified.
 *
 * Full path (cold):
 *   1. the leaf is one DER certificate with no bytes left over;
 *   2. cabundle[0] is the pinned root byte for byte (a root anywhere else means the bundle
 *      is not root first; elsewhere the document is not under this root at all), and the
 *      other entries are DER certificates like the leaf;
 *   3. profiles: EC P-384 keys on the named curve, ecdsa-with-SHA384 signatures, CA
 *      certificates with basicConstraints CA and keyCertSign, a leaf that is not a CA and
 *      has digitalSignature;
 *   4. order: cabundle[i] names cabundle[i-1] as issuer (and matches its key identifier),
 *      the leaf names cabundle[N-1]: a missing or shuffled tier fails here by position;
 *   5. OpenSSL verifies leaf <- cabundle[N-1..1] (untrusted) <- pinned root (the only trust
 *      anchor; cabundle entries never enter the trusted store) at the verification time.
 *      No X509_V_FLAG_X509_STRICT: real leaves have no Authority Key Identifier;
 *   6. the chain OpenSSL built is exactly the cabundle, in order.
 *
 * Cache (warm): after a full success each cabundle entry and the leaf are remembered by
 * (SHA-256 of its DER, SHA-256 of its issuer's DER, leaf or CA), with the window of time
 * in which every certificate from the root down to it is valid. Every check above depends
 * only on those bytes, except validity, which depends on the time: so a document whose
 * whole chain is remembered, verified at a time inside the window, gets the verdict the
 * full path would give (the window follows OpenSSL's boundary rule exactly; tests pin it).
 * Anything else takes the full path.
 * Entries are kept in a set-associative table (4 ways) with least-recently-used eviction,
 * under one mutex.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "internal.h"

#define CACHE_WAYS 4
#define CACHE_DEFAULT_ENTRIES 1024

typedef struct {
    bool used;
    bool leaf;
    uint8_t digest[32];
    uint8_t parent[32];
    int64_t not_before, not_after; /* the path's window */
    int64_t leaf_window[2];        /* leaf entries: the leaf's own notBefore, notAfter */
    nsmkit_p384_public *key;       /* leaf entries: owned reference to the leaf key */
    X509 *cert;                    /* CA entries: the verified certificate (owned reference) */
    nsmkit_p384_public *ca_key;    /* CA entries: its key for the seam (owned reference) */
    bool fleet;                    /* CA entries: a new leaf below may take the leaf link */
    uint64_t stamp;                /* last use */
} cache_entry;

struct nsmv_cache {
    pthread_mutex_t lock;
    size_t sets;
    cache_entry *entries; /* sets * CACHE_WAYS */
    uint64_t clock, hits, misses;
};

nsmv_cache *nsmv_cache_new(size_t entries)
{
    nsmv_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (entries == 0)
        entries = CACHE_DEFAULT_ENTRIES;
    c->sets = (entries + CACHE_WAYS - 1) / CACHE_WAYS;
    c->entries = calloc(c->sets * CACHE_WAYS, sizeof(cache_entry));
    if (!c->entries || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->entries);
        free(c);
        return NULL;
    }
    return c;
}

static void entry_clear(cache_entry *e)
{
    nsmkit_p384_public_free(e->key);
    nsmkit_p384_public_free(e->ca_key);
    X509_free(e->cert);
    memset(e, 0, sizeof(*e));
}

void nsmv_cache_clear(nsmv_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->sets * CACHE_WAYS; i++)
        entry_clear(&c->entries[i]);
    pthread_mutex_unlock(&c->lock);
}

void nsmv_cache_forget_leaves(nsmv_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->sets * CACHE_WAYS; i++)
        if (c->entries[i].leaf)
            entry_clear(&c->entries[i]);
    pthread_mutex_unlock(&c->lock);
}

int nsmv_cache_copy(nsmv_cache *dst, nsmv_cache *src)
{
    if (!dst || !src || dst == src || dst->sets != src->sets)
        return -1;
    /* Every reference is taken before dst changes, so a failure leaves dst as it was. */
    pthread_mutex_lock(&src->lock);
    size_t count = src->sets * CACHE_WAYS;
    for (size_t i = 0; i < count; i++)
        if (src->entries[i].cert && X509_up_ref(src->entries[i].cert) != 1) {
            while (i-- > 0)
                X509_free(src->entries[i].cert);
            pthread_mutex_unlock(&src->lock);
            return -1;
        }
    pthread_mutex_lock(&dst->lock);
    for (size_t i = 0; i < count; i++) {
        entry_clear(&dst->entries[i]);
        dst->entries[i] = src->entries[i]; /* cert: the reference taken above */
        nsmkit_p384_public_ref(dst->entries[i].key);
        nsmkit_p384_public_ref(dst->entries[i].ca_key);
    }
    dst->clock = src->clock;
    dst->hits = src->hits;
    dst->misses = src->misses;
    pthread_mutex_unlock(&dst->lock);
    pthread_mutex_unlock(&src->lock);
    return 0;
}

void nsmv_cache_free(nsmv_cache *c)
{
    if (!c)
        return;
    nsmv_cache_clear(c);
    pthread_mutex_destroy(&c->lock);
    free(c->entries);
    free(c);
}

void nsmv_cache_stats(nsmv_cache *c, uint64_t *hits, uint64_t *misses)
{
    uint64_t h = 0, m = 0;
    if (c) {
        pthread_mutex_lock(&c->lock);
        h = c->hits;
        m = c->misses;
        pthread_mutex_unlock(&c->lock);
    }
    if (hits)
        *hits = h;
    if (misses)
        *misses = m;
}

static cache_entry *cache_set(nsmv_cache *c, const uint8_t digest[32])
{
    uint64_t h = 0;
    memcpy(&h, digest, sizeof(h));
    return &c->entries[(h % c->sets) * CACHE_WAYS];
}

/* Caller holds the lock. */
static cache_entry *cache_find(nsmv_cache *c, const uint8_t digest[32],
                               const uint8_t parent[32], bool leaf)
{
    cache_entry *set = cache_set(c, digest);
    for (size_t w = 0; w < CACHE_WAYS; w++)
        if (set[w].used && set[w].leaf == leaf && memcmp(set[w].digest, digest, 32) == 0 &&
            memcmp(set[w].parent, parent, 32) == 0)
            return &set[w];
    return NULL;
}

/* OpenSSL's rule: valid from notBefore (inclusive) to notAfter (exclusive). Pinned on both
 * sides by tests/test_verify_chain.c, which compares cached and uncached verdicts there. */
static bool window_holds(const cache_entry *e, int64_t t)
{
    return e->not_before <= t && t < e->not_after;
}

/* digests[0] is the root's, digests[1..n-1] the cabundle's, digests[n] the leaf's.
 * On a hit *leaf_key gets an owned reference. */
static bool cache_lookup(nsmv_cache *c, const uint8_t (*digests)[32], size_t n, int64_t t,
                         nsmkit_p384_public **leaf_key, int64_t leaf_window[2])
{
    cache_entry *found[NSMV_CABUNDLE_MAX + 1] = {NULL};
    bool hit = true;

    pthread_mutex_lock(&c->lock);
    for (size_t i = 1; i <= n && hit; i++) {
        found[i] = cache_find(c, digests[i], digests[i - 1], i == n);
        hit = found[i] && window_holds(found[i], t);
    }
    if (hit && n >= 1 && found[n]->key) {
        *leaf_key = nsmkit_p384_public_ref(found[n]->key);
        memcpy(leaf_window, found[n]->leaf_window, 2 * sizeof(int64_t));
        c->clock++;
        for (size_t i = 1; i <= n; i++)
            found[i]->stamp = c->clock;
        c->hits++;
    } else {
        hit = false;
        c->misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

/* Caller holds the lock. The entry takes its own references to key, cert and ca_key. */
static void cache_put(nsmv_cache *c, const uint8_t digest[32], const uint8_t parent[32],
                      bool leaf, int64_t not_before, int64_t not_after, nsmkit_p384_public *key,
                      const int64_t *leaf_window, X509 *cert, nsmkit_p384_public *ca_key)
{
    cache_entry *e = cache_find(c, digest, parent, leaf);
    if (!e) {
        cache_entry *set = cache_set(c, digest);
        e = &set[0];
        for (size_t w = 0; w < CACHE_WAYS; w++) {
            if (!set[w].used) {
                e = &set[w];
                break;
            }
            if (set[w].stamp < e->stamp)
                e = &set[w];
        }
    }
    if (cert && X509_up_ref(cert) != 1)
        return; /* not cached: the next verification takes the full path again */
    entry_clear(e);
    e->used = true;
    e->leaf = leaf;
    memcpy(e->digest, digest, 32);
    memcpy(e->parent, parent, 32);
    e->not_before = not_before;
    e->not_after = not_after;
    e->key = nsmkit_p384_public_ref(key);
    if (leaf_window)
        memcpy(e->leaf_window, leaf_window, sizeof(e->leaf_window));
    e->cert = cert;
    e->ca_key = nsmkit_p384_public_ref(ca_key);
    e->fleet = cert && ca_key;
    e->stamp = ++c->clock;
}

/* The fleet case: every CA of the cabundle is remembered (and valid at t), the leaf is
 * not. On true the caller owns a reference to each others[1..n-2], *issuer and
 * *issuer_key, and path holds the window of the path down to cabundle[n-1]. */
static bool cache_fleet_lookup(nsmv_cache *c, const uint8_t (*digests)[32], size_t n,
                               int64_t t, X509 **others, X509 **issuer,
                               nsmkit_p384_public **issuer_key, int64_t path[2])
{
    cache_entry *found[NSMV_CABUNDLE_MAX] = {NULL};
    bool ok = n >= 2;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 1; i < n && ok; i++) {
        found[i] = cache_find(c, digests[i], digests[i - 1], false);
        ok = found[i] && found[i]->fleet && window_holds(found[i], t);
    }
    if (ok) {
        for (size_t i = 1; i < n; i++)
            X509_up_ref(found[i]->cert); /* a reference count: cannot fail in OpenSSL 3 */
        for (size_t i = 1; i + 1 < n; i++)
            others[i] = found[i]->cert;
        *issuer = found[n - 1]->cert;
        *issuer_key = nsmkit_p384_public_ref(found[n - 1]->ca_key);
        path[0] = found[n - 1]->not_before;
        path[1] = found[n - 1]->not_after;
        c->clock++;
        for (size_t i = 1; i < n; i++)
            found[i]->stamp = c->clock; /* the intermediates stay while leaves come and go */
    }
    pthread_mutex_unlock(&c->lock);
    return ok;
}

/* A CA certificate can sit above a leaf checked by the leaf link: it has a key the seam
 * takes and constrains nothing in the leaf (no name constraints, no RFC 3779 resources). */
static nsmkit_p384_public *fleet_key(const nsmv_verifier *v, X509 *ca)
{
    nsmkit_p384_public *key = NULL;
    if (X509_get_ext_by_NID(ca, NID_name_constraints, -1) >= 0 ||
        X509_get_ext_by_NID(ca, NID_sbgp_ipAddrBlock, -1) >= 0 ||
        X509_get_ext_by_NID(ca, NID_sbgp_autonomousSysNum, -1) >= 0 ||
        nsmv_cert_leaf_key(v, ca, &key) != NSMKIT_P384_OK)
        return NULL;
    return key;
}

/* "leaf (CN=...)", "cabundle[2] (CN=...)", "the pinned root (CN=...)". */
static void label(const X509 *x, const X509 *leaf, X509 *const *bundle, size_t n,
                  char *out, size_t out_size)
{
    char cn[80] = "";
    const X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
    int at = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    if (at >= 0) {
        const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
        nsmv_printable(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s), cn, sizeof(cn));
    }
    char where[32] = "the pinned root";
    if (x == leaf)
        snprintf(where, sizeof(where), "leaf");
    for (size_t i = 0; i < n; i++)
        if (x == bundle[i])
            snprintf(where, sizeof(where), "cabundle[%zu]", i);
    snprintf(out, out_size, "%s (CN=%s)", where, cn);
}

static nsmv_code map_openssl_error(X509_STORE_CTX *ctx, const X509 *leaf, X509 *const *bundle,
                                   size_t n, int64_t time_s, nsmv_run *run)
{
    int err = X509_STORE_CTX_get_error(ctx);
    X509 *at = X509_STORE_CTX_get_current_cert(ctx);
    char who[128], when[32], edge[32];
    int64_t nb = 0, na = 0;

    label(at, leaf, bundle, n, who, sizeof(who));
    nsmv_format_utc(time_s, when, sizeof(when));
    if (at && nsmv_cert_validity(at, &nb, &na))
        nsmv_format_utc(err == X509_V_ERR_CERT_NOT_YET_VALID ? nb : na, edge, sizeof(edge));
    else
        snprintf(edge, sizeof(edge), "?");

    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return nsmv_fail(run, NSMV_ERR_CERT_EXPIRED, "%s expired at %s; verification time %s", who,
                         edge, when);
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return nsmv_fail(run, NSMV_ERR_CERT_NOT_YET_VALID,
                         "%s is valid from %s; verification time %s", who, edge, when);
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return nsmv_fail(run, NSMV_ERR_CERT_SIGNATURE, "the signature on %s does not verify", who);
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
        return nsmv_fail(run, NSMV_ERR_PATH_LENGTH, "a pathLen constraint above %s is exceeded",
                         who);
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
        return nsmv_fail(run, NSMV_ERR_CA_PROFILE, "%s: %s", who,
                         X509_verify_cert_error_string(err));
    default:
        return nsmv_fail(run, NSMV_ERR_CHAIN_INVALID, "%s: %s (OpenSSL error %d)", who,
                         X509_verify_cert_error_string(err), err);
    }
}

/* Steps 1-6. digests is NULL when there is no cache to fill. */
/* The certificates of one document: the leaf and the cabundle, bundle[0] the verifier's
 * root (borrowed), the others owned. */
typedef struct {
    X509 *leaf;
    X509 *bundle[NSMV_CABUNDLE_MAX];
    size_t n;
} chain_certs;

/* 1. the leaf, and the key the signature stage uses, decoded once for the seam (a
 * compressed or otherwise unusable point fails the leaf's profile in step 3); the
 * signature stage may run even if the chain fails */
static nsmv_code chain_leaf(nsmv_verifier *v, const nsmv_payload *p, chain_certs *cc,
                            nsmkit_p384_public **leaf_key, nsmkit_p384_status *key_status,
                            nsmv_run *run)
{
    char name[128];
    nsmv_code c = nsmv_cert_parse(p->certificate, NSMV_ERR_CERT_PARSE, &cc->leaf);
    if (c != NSMV_OK)
        return nsmv_fail(run, c, "the %zu-byte certificate %s", p->certificate.len,
                         c == NSMV_ERR_CERT_NOT_DER ? "is BER, not DER: it re-encodes differently"
                                                    : "does not decode");
    *key_status = NSMKIT_P384_KEY_FORMAT;
    if (nsmv_key_is_p384(X509_get0_pubkey(cc->leaf), name, sizeof(name)))
        *key_status = nsmv_cert_leaf_key(v, cc->leaf, leaf_key);
    return NSMV_OK;
}

/* 2. the pinned root comes first; its bytes are the root's, so is its parse (which saves
 * decoding a certificate per document); then the rest of the cabundle */
static nsmv_code chain_root_first(nsmv_verifier *v, const nsmv_payload *p, chain_certs *cc,
                                  nsmv_run *run)
{
    char name[128], other[128];
    if (p->cabundle[0].len != v->root_len ||
        memcmp(p->cabundle[0].ptr, v->root_der, v->root_len) != 0) {
        for (size_t i = 1; i < cc->n; i++)
            if (p->cabundle[i].len == v->root_len &&
                memcmp(p->cabundle[i].ptr, v->root_der, v->root_len) == 0)
                return nsmv_fail(run, NSMV_ERR_CABUNDLE_NOT_ROOT_FIRST,
                                 "the pinned root is cabundle[%zu]", i);
        X509 *first = nsmv_cert_decode(p->cabundle[0]);
        if (first)
            label(first, cc->leaf, &first, 1, name, sizeof(name));
        else
            snprintf(name, sizeof(name), "cabundle[0] (not a certificate)");
        X509_free(first);
        label(v->root, cc->leaf, cc->bundle, 0, other, sizeof(other));
        return nsmv_fail(run, NSMV_ERR_ROOT_MISMATCH, "%s is not %s", name, other);
    }
    cc->bundle[0] = v->root; /* borrowed */
    for (size_t i = 1; i < cc->n; i++) {
        nsmv_code c = nsmv_cert_parse(p->cabundle[i], NSMV_ERR_CABUNDLE_CERT_PARSE, &cc->bundle[i]);
        if (c != NSMV_OK)
            return nsmv_fail(run, c, "cabundle[%zu] (%zu bytes) %s", i, p->cabundle[i].len,
                             c == NSMV_ERR_CERT_NOT_DER
                                 ? "is BER, not DER: it re-encodes differently"
                                 : "does not decode");
    }
    return NSMV_OK;
}

/* 3. profiles */
static nsmv_code chain_profiles(chain_certs *cc, nsmkit_p384_status key_status,
                                nsmv_run *run)
{
    char name[128];
    for (size_t i = 0; i <= cc->n; i++) {
        X509 *x = i < cc->n ? cc->bundle[i] : cc->leaf;
        char why[128];
        nsmv_code problem = nsmv_cert_check_profile(x, i == cc->n, why, sizeof(why));
        if (problem == NSMV_OK && i == cc->n && key_status != NSMKIT_P384_OK) {
            snprintf(why, sizeof(why), "has a P-384 key the signature check refuses (%s)",
                     nsmkit_p384_status_name(key_status));
            problem = key_status == NSMKIT_P384_NO_MEMORY ? NSMV_ERR_NO_MEMORY : NSMV_ERR_CERT_KEY;
        }
        if (problem != NSMV_OK) {
            label(x, cc->leaf, cc->bundle, cc->n, name, sizeof(name));
            return nsmv_fail(run, problem, "%s %s", name, why);
        }
    }
    return NSMV_OK;
}

/* 4. order, by position */
static nsmv_code chain_order(chain_certs *cc, nsmv_run *run)
{
    char name[128], other[128];
    X509 **bundle = cc->bundle;
    for (size_t i = 1; i <= cc->n; i++) {
        X509 *x = i < cc->n ? bundle[i] : cc->leaf;
        bool self_issued =
            i < cc->n && X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
        int rc = self_issued ? X509_V_OK : X509_check_issued(bundle[i - 1], x);
        if (!self_issued && rc == X509_V_OK)
            continue;
        label(x, cc->leaf, bundle, cc->n, name, sizeof(name));
        label(bundle[i - 1], cc->leaf, bundle, cc->n, other, sizeof(other));
        if (self_issued)
            return nsmv_fail(run, NSMV_ERR_CABUNDLE_BROKEN,
                             "%s is self-issued; only cabundle[0] may be a root", name);
        return nsmv_fail(run, i < cc->n ? NSMV_ERR_CABUNDLE_BROKEN : NSMV_ERR_LEAF_ISSUER,
                         "%s was not issued by %s: %s", name, other,
                         X509_verify_cert_error_string(rc));
    }
    return NSMV_OK;
}

/* 6. the path OpenSSL found is the cabundle itself */
static nsmv_code chain_path_is_cabundle(nsmv_verifier *v, X509_STORE_CTX *ctx,
                                        const chain_certs *cc, nsmv_run *run)
{
    size_t n = cc->n;
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    bool same = chain && (size_t)sk_X509_num(chain) == n + 1 &&
                sk_X509_value(chain, 0) == cc->leaf &&
                X509_cmp(sk_X509_value(chain, (int)n), v->root) == 0;
    for (size_t k = 1; same && k < n; k++)
        same = sk_X509_value(chain, (int)k) == cc->bundle[n - k];
    if (!same)
        return nsmv_fail(run, NSMV_ERR_CHAIN_INVALID,
                         "OpenSSL verified a path of %d certificates that is not the cabundle",
                         chain ? sk_X509_num(chain) : 0);
    return NSMV_OK;
}

/* 5. OpenSSL, at the verification time, the pinned root as the only anchor; then 6. */
static nsmv_code chain_openssl(nsmv_verifier *v, chain_certs *cc, int64_t time_s, nsmv_run *run)
{
    size_t n = cc->n;
    STACK_OF(X509) *untrusted = sk_X509_new_reserve(NULL, (int)n);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    nsmv_code c;
    if (!untrusted || !ctx) {
        c = nsmv_fail(run, NSMV_ERR_NO_MEMORY, "chain verification");
        goto out;
    }
    for (size_t i = n; i-- > 1;)
        sk_X509_push(untrusted, cc->bundle[i]); /* borrowed: freed without its items */
    if (X509_STORE_CTX_init(ctx, v->store, cc->leaf, untrusted) != 1) {
        c = nsmv_fail(run, NSMV_ERR_INTERNAL, "X509_STORE_CTX_init failed");
        goto out;
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)time_s);
    if (X509_verify_cert(ctx) != 1)
        c = map_openssl_error(ctx, cc->leaf, cc->bundle, n, time_s, run);
    else
        c = chain_path_is_cabundle(v, ctx, cc, run);
out:
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    return c;
}

/* The verified chain into the cache: each certificate with the window every certificate
 * above it allows, the CA keys decoded outside the lock. */
static void chain_cache(nsmv_verifier *v, const chain_certs *cc, const uint8_t (*digests)[32],
                        nsmkit_p384_public *leaf_key, int64_t leaf_window[2])
{
    size_t n = cc->n;
    int64_t nb[NSMV_CABUNDLE_MAX + 1], na[NSMV_CABUNDLE_MAX + 1], b = 0, a = 0;
    bool ok = true;
    nb[0] = v->root_not_before;
    na[0] = v->root_not_after;
    for (size_t i = 1; i <= n && ok; i++) {
        ok = nsmv_cert_validity(i < n ? cc->bundle[i] : cc->leaf, &b, &a);
        nb[i] = b > nb[i - 1] ? b : nb[i - 1];
        na[i] = a < na[i - 1] ? a : na[i - 1];
    }
    nsmkit_p384_public *ca_keys[NSMV_CABUNDLE_MAX] = {NULL};
    for (size_t i = 1; i < n && ok; i++)
        ca_keys[i] = fleet_key(v, cc->bundle[i]); /* outside the lock: decoding costs */
    if (ok) {
        pthread_mutex_lock(&v->cache->lock);
        for (size_t i = 1; i <= n; i++)
            cache_put(v->cache, digests[i], digests[i - 1], i == n, nb[i], na[i],
                      i == n ? leaf_key : NULL, i == n ? leaf_window : NULL,
                      i < n ? cc->bundle[i] : NULL, i < n ? ca_keys[i] : NULL);
        pthread_mutex_unlock(&v->cache->lock);
    }
    for (size_t i = 1; i < n; i++)
        nsmkit_p384_public_free(ca_keys[i]);
}

static nsmv_code chain_full(nsmv_verifier *v, const nsmv_payload *p, int64_t time_s,
                            const uint8_t (*digests)[32], nsmkit_p384_public **leaf_key,
                            int64_t leaf_window[2], nsmv_run *run)
{
    chain_certs cc = {.leaf = NULL, .bundle = {0}, .n = p->cabundle_count};
    nsmkit_p384_status key_status = NSMKIT_P384_KEY_FORMAT;
    nsmv_code c = chain_leaf(v, p, &cc, leaf_key, &key_status, run);
    if (c == NSMV_OK)
        c = chain_root_first(v, p, &cc, run);
    if (c == NSMV_OK)
        c = chain_profiles(&cc, key_status, run);
    if (c == NSMV_OK)
        c = chain_order(&cc, run);
    if (c == NSMV_OK)
        c = chain_openssl(v, &cc, time_s, run);
    /* OpenSSL compared both times with the verification time: they decode */
    if (c == NSMV_OK && !nsmv_cert_validity(cc.leaf, &leaf_window[0], &leaf_window[1]))
        c = nsmv_fail(run, NSMV_ERR_INTERNAL, "the leaf's validity does not decode");
    if (c == NSMV_OK && digests && v->cache && *leaf_key)
        chain_cache(v, &cc, digests, *leaf_key, leaf_window);

    for (size_t i = 1; i < cc.n; i++) /* bundle[0] is the verifier's root */
        X509_free(cc.bundle[i]);
    X509_free(cc.leaf);
    if (c != NSMV_OK && !run->all && *leaf_key) {
        nsmkit_p384_public_free(*leaf_key);
        *leaf_key = NULL;
    }
    ERR_clear_error(); /* nothing of this document stays in the thread's error queue */
    return c;
}

/* The fleet path: the intermediates from the cache, the leaf's link checked by
 * leaflink.c; on success the leaf joins the cache (so its next document is warm). False
 * sends the document down the full path. */
static bool chain_fleet(nsmv_verifier *v, const nsmv_payload *p, int64_t time_s,
                        const uint8_t (*digests)[32], nsmkit_p384_public **leaf_key,
                        int64_t leaf_window[2])
{
    X509 *others[NSMV_CABUNDLE_MAX] = {NULL}, *issuer = NULL;
    nsmkit_p384_public *issuer_key = NULL;
    int64_t path[2];
    size_t n = p->cabundle_count;
    if (!cache_fleet_lookup(v->cache, digests, n, time_s, others, &issuer, &issuer_key, path))
        return false;
    others[0] = v->root; /* borrowed */
    nsmv_leaf_link link = {issuer, issuer_key, others, n - 1};
    bool ok = nsmv_leaf_link_accept(v, p->certificate, &link, time_s, leaf_key, leaf_window);
    if (ok) {
        int64_t nb = leaf_window[0] > path[0] ? leaf_window[0] : path[0];
        int64_t na = leaf_window[1] < path[1] ? leaf_window[1] : path[1];
        pthread_mutex_lock(&v->cache->lock);
        cache_put(v->cache, digests[n], digests[n - 1], true, nb, na, *leaf_key, leaf_window,
                  NULL, NULL);
        pthread_mutex_unlock(&v->cache->lock);
    }
    for (size_t i = 1; i + 1 < n; i++)
        X509_free(others[i]);
    X509_free(issuer);
    nsmkit_p384_public_free(issuer_key);
    return ok;
}

/* Both profiles: a document is dated inside its own leaf's validity (every real document
 * is: the NSM signs with a leaf it issued for that moment). The window follows OpenSSL's
 * rule, in milliseconds: notBefore inclusive, notAfter exclusive, so that --at-doc-time,
 * which checks the chain at the timestamp's second, agrees with it. */
static nsmv_code check_doc_time(const nsmv_payload *p, const int64_t leaf_window[2],
                                nsmv_run *run)
{
    if (!(p->valid & NSMV_FIELD_TIMESTAMP))
        return NSMV_OK; /* reported by the payload stage */
    /* timestamps above INT64_MAX ms lie after any X.509 time */
    bool before = leaf_window[0] > 0 && p->timestamp_ms < (uint64_t)leaf_window[0] * 1000u;
    bool after = leaf_window[1] <= 0 || p->timestamp_ms >= (uint64_t)leaf_window[1] * 1000u;
    if (!before && !after)
        return NSMV_OK;
    char at[32], edge[32];
    nsmv_format_utc((int64_t)(p->timestamp_ms / 1000u), at, sizeof(at));
    nsmv_format_utc(before ? leaf_window[0] : leaf_window[1], edge, sizeof(edge));
    return nsmv_fail(run, NSMV_ERR_DOC_TIME_OUTSIDE_LEAF,
                     "the document is dated %s (%llu ms), %s its leaf %s %s", at,
                     (unsigned long long)p->timestamp_ms, before ? "before" : "after",
                     before ? "becomes valid at" : "expires at", edge);
}

nsmv_code nsmv_chain_verify(nsmv_verifier *v, const nsmv_payload *p, int64_t time_s,
                            nsmkit_p384_public **leaf_key, nsmv_run *run)
{
    uint8_t digests[NSMV_CABUNDLE_MAX + 1][32];
    int64_t leaf_window[2] = {0, 0};
    size_t n = p->cabundle_count;
    bool hashed = false;

    *leaf_key = NULL;
    if (v->cache && p->cabundle[0].len == v->root_len &&
        memcmp(p->cabundle[0].ptr, v->root_der, v->root_len) == 0) {
        memcpy(digests[0], v->root_digest, 32);
        hashed = true;
        for (size_t i = 1; i <= n && hashed; i++) {
            nsmkit_bytes der = i < n ? p->cabundle[i] : p->certificate;
            hashed = EVP_Digest(der.ptr, der.len, digests[i], NULL, v->sha256, NULL) == 1;
        }
        if (hashed && cache_lookup(v->cache, (const uint8_t(*)[32])digests, n, time_s, leaf_key,
                                   leaf_window)) {
            run->result->chain_cached = true;
            return check_doc_time(p, leaf_window, run);
        }
    }
    if (hashed && chain_fleet(v, p, time_s, (const uint8_t(*)[32])digests, leaf_key,
                              leaf_window)) {
        run->result->chain_fleet = true;
        return check_doc_time(p, leaf_window, run);
    }
    nsmv_code c = chain_full(v, p, time_s, hashed ? (const uint8_t(*)[32])digests : NULL,
                             leaf_key, leaf_window, run);
    return c == NSMV_OK ? check_doc_time(p, leaf_window, run) : c;
}
