/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The malformed-document builder (see nsmkit/fault.h).
 *
 * A document is made in phases, each class acting in the phase where its defect lives:
 *   fields    the payload's values, the certificates, the verification time and policy;
 *   payload   byte surgery on the encoded payload map (nsmkit/surgery.h);
 *   header    the protected and unprotected header bytes;
 *   signature the r||s bytes after signing (RFC 6979, nsmkit/det_sign.h);
 *   envelope  the COSE_Sign1 bytes around them.
 * Classes that change signed bytes are signed over (re-signed) unless resign is false.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "fault_internal.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/det_sign.h"
#include "nsmkit/surgery.h"

/* ---- building a document ------------------------------------------------------------------- */

typedef struct {
    nsmfault_pki *pki;
    const nsmfault_set *f;
    nsmfault_doc *out;
    nsmsim_payload p;
    char module_id[300];
    nsmsim_pcr_entry pcrs[NSMSIM_PCR_COUNT + 1];
    uint8_t pcr_values[NSMSIM_PCR_COUNT][NSMSIM_PCR_LEN];
    const uint8_t *bundle[NSMV_CABUNDLE_MAX + 2];
    size_t bundle_lens[NSMV_CABUNDLE_MAX + 2];
    uint8_t opt[3][NSMSIM_FIELD_MAX + 1];
    uint8_t cert_copy[NSMV_CERT_MAX + 2];
    uint8_t bundle_copy[NSMV_CERT_MAX + 2];
    EVP_PKEY *signer;                 /* borrowed */
    nsmkit_buf payload;
    uint8_t prot[16];
    size_t prot_len;
    bool prot_bare;                   /* written without its bstr wrapping */
    uint8_t unprot[8];
    size_t unprot_len;
    uint8_t sig[128];
    size_t sig_len;
    unsigned tiers, pcr_count; /* of the shape, once the defaults are set */
} build;

#define HAS(name) nsmfault_set_has(b->f, NSMFAULT_##name)

static int set_hex(nsmkit_buf *m, const char *key, const char *hex, nsmkit_error *e)
{
    uint8_t v[64];
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n && i < sizeof(v); i++)
        sscanf(hex + 2 * i, "%2hhx", &v[i]);
    return nsmsim_map_set_value(m, key, v, n, e);
}

/* value = a CBOR item made of head + filler bytes (filler repeated). */
static int set_item(nsmkit_buf *m, const char *key, uint8_t major, size_t len, nsmkit_error *e)
{
    nsmkit_buf v;
    nsmkit_buf_init(&v, 4096);
    nsmkit_cbor_put_head(&v, major, len);
    for (size_t i = 0; i < len; i++)
        nsmkit_buf_u8(&v, major == NSMKIT_CBOR_TEXT ? 'a' : (uint8_t)i);
    int rc = v.err ? nsmkit_fail(e, "value too large") : nsmsim_map_set_value(m, key, v.data, v.len, e);
    nsmkit_buf_free(&v);
    return rc;
}

static void fill(uint8_t *dst, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (uint8_t)(seed + i * 7);
}

/* The valid document's fields and the policy a relying party would hold, before any class
 * acts. */
static int field_defaults(build *b, const nsmfault_shape *shape, nsmkit_error *e)
{
    nsmfault_pki *pki = b->pki;
    nsmfault_policy *pol = &b->out->policy;
    unsigned tiers = b->tiers = shape->tiers ? shape->tiers : pki->tiers;
    unsigned pcr_count = b->pcr_count = shape->pcr_count ? shape->pcr_count : NSMSIM_BOOT_PCR_COUNT;
    if (tiers > pki->tiers)
        return nsmkit_fail(e, "the shape wants %u intermediate tiers; the PKI has %u", tiers,
                           pki->tiers);
    if (pcr_count > NSMSIM_PCR_COUNT)
        return nsmkit_fail(e, "at most %d PCRs", NSMSIM_PCR_COUNT);
    nsmsim_payload *p = &b->p;
    snprintf(b->module_id, sizeof(b->module_id), "%s",
             shape->module_id ? shape->module_id : "i-0fa15ec0de0000001-enc0fa15ec0de000001");
    p->module_id = b->module_id;
    p->digest = "SHA384";
    p->timestamp_ms = shape->timestamp_ms ? shape->timestamp_ms : (pki->issue_s + 5) * 1000u;
    for (unsigned i = 0; i < pcr_count; i++) {
        if (shape->pcrs) {
            b->pcrs[i] = shape->pcrs[i];
            continue;
        }
        bool measured = i <= 2 || i == 4;
        for (unsigned k = 0; k < NSMSIM_PCR_LEN; k++)
            b->pcr_values[i][k] = measured ? (uint8_t)(i * 31 + k + 1) : 0;
        b->pcrs[i] = (nsmsim_pcr_entry){i, b->pcr_values[i], NSMSIM_PCR_LEN};
    }
    p->pcrs = b->pcrs;
    p->pcr_count = pcr_count;
    p->map = shape->map;

    const nsmfault_crafted *leaf = nsmfault_normal_leaf(pki, tiers, e);
    if (!leaf)
        return -1;
    p->certificate = leaf->der;
    p->certificate_len = leaf->der_len;
    b->bundle[0] = pki->root_der;
    b->bundle_lens[0] = pki->root_der_len;
    for (unsigned i = 0; i < tiers; i++) {
        b->bundle[1 + i] = pki->tier_der[i];
        b->bundle_lens[1 + i] = pki->tier_der_len[i];
    }
    p->cabundle = b->bundle;
    p->cabundle_lens = b->bundle_lens;
    p->cabundle_count = 1 + tiers;
    b->signer = pki->leaf_key;

    static const size_t sizes[3] = {65, 32, 20};
    nsmsim_optional_bytes *fields[3] = {&p->public_key, &p->user_data, &p->nonce};
    const nsmsim_optional_bytes *given[3] = {shape->public_key, shape->user_data, shape->nonce};
    for (int i = 0; i < 3; i++) {
        size_t n = shape->optional == NSMFAULT_OPTIONAL_MAX ? NSMSIM_FIELD_MAX
                   : shape->optional == NSMFAULT_OPTIONAL_EMPTY ? 0 : sizes[i];
        fill(b->opt[i], n, (uint8_t)(0x40 + i));
        *fields[i] = (nsmsim_optional_bytes){b->opt[i], n,
                                             shape->optional != NSMFAULT_OPTIONAL_NULL &&
                                                 shape->optional != NSMFAULT_OPTIONAL_ABSENT};
        if (given[i])
            *fields[i] = *given[i];
    }

    /* policy defaults: the verification time and what a relying party would expect */
    pol->verify_time_s = p->timestamp_ms / 1000u + 5;
    if (pcr_count > 0 && b->pcrs[0].index == 0 && b->pcrs[0].len == NSMSIM_PCR_LEN) {
        pol->expect_pcr0 = true;
        memcpy(pol->pcr0, b->pcrs[0].value, NSMSIM_PCR_LEN);
    }
    return 0;
}

/* ---- the classes acting on fields: one edit per class (or per pair that shares one),
 * in the order they apply ---- */

static int edit_leaf_garbage(build *b, nsmkit_error *e)
{
    (void)e;
    static const uint8_t garbage[] = {0x30, 0x03, 0x02, 0x01};
    b->p.certificate = garbage;
    b->p.certificate_len = sizeof(garbage);
    return 0;
}

static int edit_leaf_trailing_byte(build *b, nsmkit_error *e)
{
    (void)e;
    nsmsim_payload *p = &b->p;
    memcpy(b->cert_copy, p->certificate, p->certificate_len);
    b->cert_copy[p->certificate_len] = 0x00;
    p->certificate = b->cert_copy;
    p->certificate_len++;
    return 0;
}

static int edit_leaf_bad_signature(build *b, nsmkit_error *e)
{
    (void)e;
    nsmsim_payload *p = &b->p;
    memcpy(b->cert_copy, p->certificate, p->certificate_len);
    b->cert_copy[p->certificate_len - 2] ^= 0x01; /* inside s of the ECDSA signature */
    p->certificate = b->cert_copy;
    return 0;
}

static int edit_cabundle_garbage(build *b, nsmkit_error *e)
{
    (void)e;
    static const uint8_t garbage[] = {0x30, 0x82, 0x01};
    b->bundle[b->p.cabundle_count - 1] = garbage;
    b->bundle_lens[b->p.cabundle_count - 1] = sizeof(garbage);
    return 0;
}

static int edit_leaf_ber_long_length(build *b, nsmkit_error *e) /* 30 82 LL LL -> 30 83 00 LL LL */
{
    nsmsim_payload *p = &b->p;
    const uint8_t *der = p->certificate;
    if (p->certificate_len < 4 || p->certificate_len > NSMV_CERT_MAX || der[0] != 0x30 ||
        der[1] != 0x82)
        return nsmkit_fail(e, "the leaf does not start with 30 82");
    b->cert_copy[0] = 0x30;
    b->cert_copy[1] = 0x83;
    b->cert_copy[2] = 0x00;
    memcpy(b->cert_copy + 3, der + 2, p->certificate_len - 2);
    p->certificate = b->cert_copy;
    p->certificate_len++;
    return 0;
}

/* 30 82 LL LL <body> -> 30 80 <body> 00 00 */
static int edit_cabundle_ber_indefinite(build *b, nsmkit_error *e)
{
    size_t last = b->p.cabundle_count - 1, len = b->bundle_lens[last];
    const uint8_t *der = b->bundle[last];
    if (len < 4 || len > NSMV_CERT_MAX || der[0] != 0x30 || der[1] != 0x82)
        return nsmkit_fail(e, "the last cabundle entry does not start with 30 82");
    b->bundle_copy[0] = 0x30;
    b->bundle_copy[1] = 0x80;
    memcpy(b->bundle_copy + 2, der + 4, len - 4);
    b->bundle_copy[len - 2] = 0x00;
    b->bundle_copy[len - 1] = 0x00;
    b->bundle[last] = b->bundle_copy;
    return 0;
}

/* A rogue root and regional tier of the same names, and a leaf under them. */
static int edit_rogue_chain(build *b, nsmkit_error *e)
{
    nsmfault_pki *pki = b->pki;
    nsmsim_payload *p = &b->p;
    EVP_PKEY *rogue_root_key = nsmfault_store_key(pki, "rogue_root", "P-384", e);
    EVP_PKEY *rogue_key = rogue_root_key ? nsmfault_store_key(pki, "rogue_regional", "P-384", e) : NULL;
    nsmfault_cert_spec rs = {.name = "rogue_root", .subject = X509_get_subject_name(pki->root),
                    .issuer_key = rogue_root_key, .key = rogue_root_key,
                    .not_before = nsmfault_cert_time(X509_get0_notBefore(pki->root)),
                    .not_after = nsmfault_cert_time(X509_get0_notAfter(pki->root)),
                    .basic = "critical,CA:TRUE",
                    .usage = "critical,digitalSignature,keyCertSign,cRLSign", .key_ids = true};
    const nsmfault_crafted *rr = rogue_key ? nsmfault_store_cert(pki, &rs, e) : NULL;
    nsmfault_cert_spec is = {.name = "rogue_regional", .subject = X509_get_subject_name(pki->tier[0]),
                    .issuer = rr ? rr->cert : NULL, .issuer_key = rogue_root_key,
                    .key = rogue_key,
                    .not_before = nsmfault_cert_time(X509_get0_notBefore(pki->tier[0])),
                    .not_after = nsmfault_cert_time(X509_get0_notAfter(pki->tier[0])),
                    .basic = nsmfault_tier_basic[0], .usage = nsmfault_tier_usage[0], .key_ids = true};
    const nsmfault_crafted *ri = rr ? nsmfault_store_cert(pki, &is, e) : NULL;
    const nsmfault_crafted *rl = ri ? nsmfault_leaf_cert(pki, "rogue_leaf", ri->cert, rogue_key, pki->leaf_key,
                                       "critical,CA:FALSE", "digitalSignature,nonRepudiation",
                                       NULL, false, e)
                           : NULL;
    EVP_PKEY_free(rogue_root_key);
    EVP_PKEY_free(rogue_key);
    if (!rl)
        return -1;
    if (HAS(pki_rogue_root)) {
        b->bundle[0] = rr->der;
        b->bundle_lens[0] = rr->der_len;
    }
    b->bundle[1] = ri->der;
    b->bundle_lens[1] = ri->der_len;
    p->cabundle_count = 2;
    p->certificate = rl->der;
    p->certificate_len = rl->der_len;
    return 0;
}

static int edit_cabundle_root_missing(build *b, nsmkit_error *e)
{
    (void)e;
    memmove(b->bundle, b->bundle + 1, b->tiers * sizeof(b->bundle[0]));
    memmove(b->bundle_lens, b->bundle_lens + 1, b->tiers * sizeof(b->bundle_lens[0]));
    b->p.cabundle_count--;
    return 0;
}

static int edit_cabundle_reversed(build *b, nsmkit_error *e)
{
    (void)e;
    for (size_t i = 0, j = b->p.cabundle_count - 1; i < j; i++, j--) {
        const uint8_t *d = b->bundle[i];
        size_t l = b->bundle_lens[i];
        b->bundle[i] = b->bundle[j];
        b->bundle_lens[i] = b->bundle_lens[j];
        b->bundle[j] = d;
        b->bundle_lens[j] = l;
    }
    return 0;
}

static int edit_cabundle_tier_missing_or_swapped(build *b, nsmkit_error *e)
{
    nsmfault_pki *pki = b->pki;
    if (b->tiers < 3)
        return nsmkit_fail(e, "pki_cabundle_tier_missing/swapped need three tiers");
    if (HAS(pki_cabundle_swapped)) {
        b->bundle[1] = pki->tier_der[1];
        b->bundle_lens[1] = pki->tier_der_len[1];
        b->bundle[2] = pki->tier_der[0];
        b->bundle_lens[2] = pki->tier_der_len[0];
    } else {
        b->bundle[2] = b->bundle[3];
        b->bundle_lens[2] = b->bundle_lens[3];
        b->p.cabundle_count--;
    }
    return 0;
}

static int edit_cabundle_extra_root(build *b, nsmkit_error *e)
{
    (void)e;
    size_t n = b->p.cabundle_count;
    memmove(b->bundle + 1, b->bundle, n * sizeof(b->bundle[0]));
    memmove(b->bundle_lens + 1, b->bundle_lens, n * sizeof(b->bundle_lens[0]));
    b->p.cabundle_count++;
    return 0;
}

static int edit_cabundle_extra_leaf(build *b, nsmkit_error *e)
{
    (void)e;
    b->bundle[b->p.cabundle_count] = b->p.certificate;
    b->bundle_lens[b->p.cabundle_count] = b->p.certificate_len;
    b->p.cabundle_count++;
    return 0;
}

static int use_leaf(build *b, const nsmfault_crafted *c)
{
    if (!c)
        return -1;
    b->p.certificate = c->der;
    b->p.certificate_len = c->der_len;
    return 0;
}

static int edit_leaf_by_zonal(build *b, nsmkit_error *e)
{
    if (b->tiers < 3)
        return nsmkit_fail(e, "pki_leaf_by_zonal needs three tiers");
    return use_leaf(b, nsmfault_normal_leaf(b->pki, 2, e));
}

static int edit_leaf_p256_or_rsa(build *b, nsmkit_error *e)
{
    nsmfault_pki *pki = b->pki;
    unsigned tiers = b->tiers;
    bool rsa = HAS(pki_leaf_rsa);
    EVP_PKEY *k = nsmfault_store_key(pki, rsa ? "rsa" : "p256", rsa ? "RSA" : "P-256", e);
    const nsmfault_crafted *c =
        k ? nsmfault_leaf_cert(pki, rsa ? "leaf_rsa" : "leaf_p256", pki->tier[tiers - 1],
                               pki->tier_key[tiers - 1], k, "critical,CA:FALSE",
                               "digitalSignature,nonRepudiation", NULL, false, e)
          : NULL;
    EVP_PKEY_free(k);
    return use_leaf(b, c);
}

static int edit_instance_p256(build *b, nsmkit_error *e)
{
    nsmfault_pki *pki = b->pki;
    if (b->tiers < 3)
        return nsmkit_fail(e, "pki_instance_p256 needs three tiers");
    EVP_PKEY *k = nsmfault_store_key(pki, "instance_p256", "P-256", e);
    const nsmfault_crafted *inst =
        k ? nsmfault_tier_variant(pki, "instance_p256", 2, k, 0, 0, NULL, NULL, e) : NULL;
    const nsmfault_crafted *c =
        inst ? nsmfault_leaf_cert(pki, "leaf_under_p256", inst->cert, k, pki->leaf_key,
                                  "critical,CA:FALSE", "digitalSignature,nonRepudiation", NULL,
                                  false, e)
             : NULL;
    EVP_PKEY_free(k);
    if (!c)
        return -1;
    b->bundle[3] = inst->der;
    b->bundle_lens[3] = inst->der_len;
    return use_leaf(b, c);
}

/* Leaves of the last tier with one property wrong: a row per class. */
static int edit_odd_leaves(build *b, nsmkit_error *e)
{
    nsmfault_pki *pki = b->pki;
    unsigned tiers = b->tiers;
    struct {
        nsmfault_class cls;
        const char *name;
        const char *basic, *usage, *md;
        bool unknown;
    } leaves[] = {
        {NSMFAULT_pki_leaf_sha256, "leaf_sha256", "critical,CA:FALSE",
         "digitalSignature,nonRepudiation", "SHA256", false},
        {NSMFAULT_pki_leaf_ca, "leaf_ca", "critical,CA:TRUE", "digitalSignature,keyCertSign",
         NULL, false},
        {NSMFAULT_pki_leaf_no_digital_signature, "leaf_no_ds", "critical,CA:FALSE",
         "nonRepudiation", NULL, false},
        {NSMFAULT_pki_leaf_unknown_critical, "leaf_unknown_critical", "critical,CA:FALSE",
         "digitalSignature,nonRepudiation", NULL, true},
    };
    for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        if (!nsmfault_set_has(b->f, leaves[i].cls))
            continue;
        char name[40];
        snprintf(name, sizeof(name), "%s_t%u", leaves[i].name, tiers);
        const nsmfault_crafted *c =
            nsmfault_leaf_cert(pki, name, pki->tier[tiers - 1], pki->tier_key[tiers - 1],
                               pki->leaf_key, leaves[i].basic, leaves[i].usage,
                               leaves[i].md ? EVP_sha256() : NULL, leaves[i].unknown, e);
        if (use_leaf(b, c) != 0)
            return -1;
    }
    return 0;
}

/* Tiers re-issued with one property wrong (constraints, validity): a row per class. */
static int edit_odd_tiers(build *b, nsmkit_error *e)
{
    nsmfault_pki *pki = b->pki;
    unsigned tiers = b->tiers;
    uint64_t t = pki->issue_s;
    const nsmfault_crafted *c;
    struct {
        nsmfault_class cls;
        const char *name;
        unsigned tier;
        int64_t nb, na;
        const char *basic, *usage;
    } tiers_v[] = {
        {NSMFAULT_pki_zonal_pathlen_0, "zonal_pathlen_0", 1, 0, 0, "critical,CA:TRUE,pathlen:0", NULL},
        {NSMFAULT_pki_instance_ca_false, "instance_ca_false", 2, 0, 0, "critical,CA:FALSE", NULL},
        {NSMFAULT_pki_instance_no_keycertsign, "instance_no_keycertsign", 2, 0, 0, NULL,
         "critical,digitalSignature"},
        {NSMFAULT_pki_instance_expired, "instance_expired", 2, (int64_t)t - 86400 * 30, (int64_t)t - 3600, NULL, NULL},
        {NSMFAULT_pki_zonal_expired, "zonal_expired", 1, (int64_t)t - 86400 * 30, (int64_t)t - 3600, NULL, NULL},
        {NSMFAULT_pki_regional_expired, "regional_expired", 0, (int64_t)t - 86400 * 30, (int64_t)t - 3600, NULL, NULL},
        {NSMFAULT_pki_instance_not_yet_valid, "instance_not_yet_valid", 2, (int64_t)t + 3600, (int64_t)t + 86400 * 30, NULL, NULL},
        {NSMFAULT_pki_zonal_not_yet_valid, "zonal_not_yet_valid", 1, (int64_t)t + 3600, (int64_t)t + 86400 * 30, NULL, NULL},
        {NSMFAULT_pki_regional_not_yet_valid, "regional_not_yet_valid", 0, (int64_t)t + 3600, (int64_t)t + 86400 * 30, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(tiers_v) / sizeof(tiers_v[0]); i++) {
        if (!nsmfault_set_has(b->f, tiers_v[i].cls))
            continue;
        unsigned k = tiers_v[i].tier;
        if (k >= tiers)
            return nsmkit_fail(e, "%s needs %u tiers; the shape has %u", nsmfault_table[tiers_v[i].cls].name,
                               k + 1, tiers);
        c = nsmfault_tier_variant(pki, tiers_v[i].name, k, NULL, tiers_v[i].nb, tiers_v[i].na,
                         tiers_v[i].basic, tiers_v[i].usage, e);
        if (!c)
            return -1;
        b->bundle[1 + k] = c->der;
        b->bundle_lens[1 + k] = c->der_len;
    }
    return 0;
}

static int edit_leaf_expired(build *b, nsmkit_error *e)
{
    (void)e;
    b->out->policy.verify_time_s = b->pki->issue_s + NSMCA_LEAF_LIFETIME_S + 1;
    return 0;
}

static int edit_leaf_not_yet_valid(build *b, nsmkit_error *e)
{
    (void)e;
    b->out->policy.verify_time_s = b->pki->issue_s - NSMCA_LEAF_BACKDATE_S - 1;
    return 0;
}

static int edit_root_expired(build *b, nsmkit_error *e)
{
    (void)e;
    b->out->policy.verify_time_s =
        (uint64_t)nsmfault_cert_time(X509_get0_notAfter(b->pki->root)) + 1;
    return 0;
}

static int edit_root_not_yet_valid(build *b, nsmkit_error *e)
{
    (void)e;
    b->out->policy.verify_time_s =
        (uint64_t)nsmfault_cert_time(X509_get0_notBefore(b->pki->root)) - 1;
    return 0;
}

static int edit_policy_pcr_mismatch(build *b, nsmkit_error *e)
{
    (void)e;
    b->out->policy.pcr0[0] ^= 0x01;
    return 0;
}

static int edit_policy_pcr_absent(build *b, nsmkit_error *e)
{
    if (b->pcr_count < 2)
        return nsmkit_fail(e, "policy_pcr_absent needs more than one PCR");
    b->p.pcrs = b->pcrs + 1;
    b->p.pcr_count = b->pcr_count - 1;
    b->out->policy.expect_pcr0 = true;
    return 0;
}

static int edit_policy_debug_mode(build *b, nsmkit_error *e)
{
    if (b->pcr_count < 3)
        return nsmkit_fail(e, "policy_debug_mode needs PCR0..2");
    for (unsigned i = 0; i < 3; i++) {
        memset(b->pcr_values[i], 0, NSMSIM_PCR_LEN);
        b->pcrs[i] = (nsmsim_pcr_entry){i, b->pcr_values[i], NSMSIM_PCR_LEN};
    }
    b->out->policy.refuse_debug = true;
    memset(b->out->policy.pcr0, 0, sizeof(b->out->policy.pcr0));
    return 0;
}

static int edit_policy_nonce_absent(build *b, nsmkit_error *e)
{
    (void)e;
    b->p.nonce.present = false;
    return 0;
}

static int edit_policy_age(build *b, nsmkit_error *e) /* stale, age_limit */
{
    (void)e;
    b->out->policy.max_age_s = 300;
    b->out->policy.verify_time_s = b->p.timestamp_ms / 1000u + (HAS(policy_stale) ? 301 : 300);
    return 0;
}

static int edit_policy_future(build *b, nsmkit_error *e) /* future, future_in_skew */
{
    (void)e;
    b->out->policy.max_age_s = 300;
    b->p.timestamp_ms = (b->out->policy.verify_time_s + (HAS(policy_future) ? 61 : 60)) * 1000u;
    return 0;
}

/* An edit and the classes that call for it (-1 ends the list; ALWAYS: the edit reads its
 * own rows). */
#define ALWAYS (-2)
typedef struct {
    int classes[3];
    int (*edit)(build *b, nsmkit_error *e);
} edit_row;
#define ROW(cls, fn) {{NSMFAULT_##cls, -1, -1}, fn}
#define ROW2(a, c, fn) {{NSMFAULT_##a, NSMFAULT_##c, -1}, fn}

static const edit_row field_edits[] = {
    ROW(pki_leaf_garbage, edit_leaf_garbage),
    ROW(pki_leaf_trailing_byte, edit_leaf_trailing_byte),
    ROW(pki_leaf_bad_signature, edit_leaf_bad_signature),
    ROW(pki_cabundle_garbage, edit_cabundle_garbage),
    ROW(pki_leaf_ber_long_length, edit_leaf_ber_long_length),
    ROW(pki_cabundle_ber_indefinite, edit_cabundle_ber_indefinite),
    ROW2(pki_rogue_root, pki_rogue_intermediate, edit_rogue_chain),
    ROW(pki_cabundle_root_missing, edit_cabundle_root_missing),
    ROW(pki_cabundle_reversed, edit_cabundle_reversed),
    ROW2(pki_cabundle_tier_missing, pki_cabundle_swapped, edit_cabundle_tier_missing_or_swapped),
    ROW(pki_cabundle_extra_root, edit_cabundle_extra_root),
    ROW(pki_cabundle_extra_leaf, edit_cabundle_extra_leaf),
    ROW(pki_leaf_by_zonal, edit_leaf_by_zonal),
    ROW2(pki_leaf_p256, pki_leaf_rsa, edit_leaf_p256_or_rsa),
    ROW(pki_instance_p256, edit_instance_p256),
    {{ALWAYS, -1, -1}, edit_odd_leaves},
    {{ALWAYS, -1, -1}, edit_odd_tiers},
    ROW(pki_leaf_expired, edit_leaf_expired),
    ROW(pki_leaf_not_yet_valid, edit_leaf_not_yet_valid),
    ROW(pki_root_expired, edit_root_expired),
    ROW(pki_root_not_yet_valid, edit_root_not_yet_valid),
    ROW(policy_pcr_mismatch, edit_policy_pcr_mismatch),
    ROW(policy_pcr_absent, edit_policy_pcr_absent),
    ROW(policy_debug_mode, edit_policy_debug_mode),
    ROW(policy_nonce_absent, edit_policy_nonce_absent),
    ROW2(policy_stale, policy_age_limit, edit_policy_age),
    ROW2(policy_future, policy_future_in_skew, edit_policy_future),
};

/* Runs each row's edit whose classes are in the set, in the table's order. */
static int run_edits(build *b, const edit_row *rows, size_t count, nsmkit_error *e)
{
    for (size_t r = 0; r < count; r++) {
        bool due = false;
        for (int k = 0; k < 3 && rows[r].classes[k] != -1; k++)
            due |= rows[r].classes[k] == ALWAYS ||
                   nsmfault_set_has(b->f, (nsmfault_class)rows[r].classes[k]);
        if (due && rows[r].edit(b, e) != 0)
            return -1;
    }
    return 0;
}

/* What the relying party expects of nonce, user_data and public_key, after the fields
 * settled; then the policy classes that change those expectations. */
static int policy_expectations(build *b, nsmkit_error *e)
{
    nsmsim_payload *p = &b->p;
    nsmfault_policy *pol = &b->out->policy;
    const nsmsim_optional_bytes *exp[3] = {&p->nonce, &p->user_data, &p->public_key};
    nsmkit_buf *want[3] = {&pol->nonce, &pol->user_data, &pol->public_key};
    bool *set[3] = {&pol->expect_nonce, &pol->expect_user_data, &pol->expect_public_key};
    for (int i = 0; i < 3; i++) {
        nsmkit_buf_init(want[i], NSMSIM_FIELD_MAX + 1);
        if (exp[i]->present && exp[i]->len > 0) {
            nsmkit_buf_append(want[i], exp[i]->data, exp[i]->len);
            *set[i] = true;
        }
    }
    /* a class that rewrites a field's bytes leaves nothing to expect of it */
    static const char *const field_names[3] = {"nonce", "user_data", "public_key"};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < NSMFAULT_COUNT; k++)
            if (nsmfault_set_has(b->f, (nsmfault_class)k) &&
                nsmfault_table[k].layer != NSMFAULT_LAYER_POLICY &&
                strcmp(nsmfault_table[k].target, field_names[i]) == 0)
                *set[i] = false;
    if (HAS(policy_nonce_absent)) {
        nsmkit_buf_append(&pol->nonce, "expected-nonce", 14);
        pol->expect_nonce = true;
    }
    if (HAS(policy_nonce_mismatch) && pol->expect_nonce)
        pol->nonce.data[0] ^= 0x01;
    if (HAS(policy_user_data_mismatch) && pol->expect_user_data)
        pol->user_data.data[0] ^= 0x01;
    if (HAS(policy_public_key_mismatch) && pol->expect_public_key)
        pol->public_key.data[0] ^= 0x01;
    if ((HAS(policy_nonce_mismatch) && !pol->expect_nonce) ||
        (HAS(policy_user_data_mismatch) && !pol->expect_user_data) ||
        (HAS(policy_public_key_mismatch) && !pol->expect_public_key))
        return nsmkit_fail(e, "a policy mismatch class needs the field's bytes in the shape");
    if (pol->nonce.err || pol->user_data.err || pol->public_key.err)
        return nsmkit_fail(e, "out of memory");
    return 0;
}

static int fields_phase(build *b, const nsmfault_shape *shape, nsmkit_error *e)
{
    if (field_defaults(b, shape, e) != 0 ||
        run_edits(b, field_edits, sizeof(field_edits) / sizeof(field_edits[0]), e) != 0)
        return -1;
    return policy_expectations(b, e);
}

/* Bytes of a CBOR text key. */
static void put_key(nsmkit_buf *k, const char *key)
{
    nsmkit_buf_init(k, 64);
    nsmkit_cbor_put_text(k, key);
}

static int rename_key(nsmkit_buf *m, const char *key, const char *to, nsmkit_error *e)
{
    nsmkit_buf k;
    put_key(&k, to);
    int rc = nsmsim_map_set_key(m, key, k.data, k.len, e);
    nsmkit_buf_free(&k);
    return rc;
}

static int append_entry(nsmkit_buf *m, const uint8_t *key, size_t key_len, const uint8_t *value,
                        size_t value_len, nsmkit_error *e)
{
    return nsmsim_map_append(m, key, key_len, value, value_len, e);
}

/* The PCR map with one entry changed: index/value given as CBOR bytes. */
static int pcrs_edit(build *b, nsmkit_buf *m, int which, nsmkit_error *e)
{
    nsmkit_buf v;
    const nsmsim_payload *p = &b->p;
    nsmkit_buf_init(&v, 8192);
    size_t count = p->pcr_count;
    bool extra = which == NSMFAULT_pcrs_33 || which == NSMFAULT_pcr_index_duplicate;
    if (which == NSMFAULT_cbor_indefinite_pcrs)
        nsmkit_buf_u8(&v, 0xbf);
    else if (which == NSMFAULT_pcrs_array)
        nsmkit_cbor_put_head(&v, NSMKIT_CBOR_ARRAY, count);
    else if (which == NSMFAULT_pcrs_33)
        nsmkit_cbor_put_head(&v, NSMKIT_CBOR_MAP, 33);
    else
        nsmkit_cbor_put_head(&v, NSMKIT_CBOR_MAP, count + (extra ? 1 : 0));
    if (which == NSMFAULT_pcrs_33) {
        for (unsigned i = 0; i < 33; i++) {
            nsmkit_cbor_put_uint(&v, i % 32);
            nsmkit_cbor_put_bytes(&v, b->pcr_values[0], NSMSIM_PCR_LEN);
        }
    } else {
        for (size_t i = 0; i < count; i++) {
            bool last = i + 1 == count;
            if (which != NSMFAULT_pcrs_array) {
                if (last && which == NSMFAULT_pcr_index_text)
                    nsmkit_cbor_put_text(&v, "15");
                else if (last && which == NSMFAULT_pcr_index_32)
                    nsmkit_cbor_put_uint(&v, 32);
                else if (last && which == NSMFAULT_pcr_index_31)
                    nsmkit_cbor_put_uint(&v, 31);
                else
                    nsmkit_cbor_put_uint(&v, p->pcrs[i].index);
            }
            size_t len = p->pcrs[i].len;
            if (last && which == NSMFAULT_pcr_value_47) len = 47;
            if (last && which == NSMFAULT_pcr_value_49) len = 49;
            if (last && which == NSMFAULT_pcr_value_32) len = 32;
            if (last && which == NSMFAULT_pcr_value_64) len = 64;
            uint8_t value[64] = {0};
            memcpy(value, p->pcrs[i].value, p->pcrs[i].len < len ? p->pcrs[i].len : len);
            if (last && which == NSMFAULT_pcr_value_text)
                nsmkit_cbor_put_text(&v, "not-a-digest");
            else
                nsmkit_cbor_put_bytes(&v, value, len);
        }
        if (extra) {
            nsmkit_cbor_put_uint(&v, 0);
            nsmkit_cbor_put_bytes(&v, b->pcr_values[1], NSMSIM_PCR_LEN);
        }
    }
    if (which == NSMFAULT_cbor_indefinite_pcrs)
        nsmkit_buf_u8(&v, 0xff);
    int rc = v.err ? nsmkit_fail(e, "PCR map too large")
                   : nsmsim_map_set_value(m, "pcrs", v.data, v.len, e);
    nsmkit_buf_free(&v);
    return rc;
}

/* the pcrs map and its entries */
static int payload_pcrs(build *b, nsmkit_buf *m, nsmkit_error *e)
{
    static const int pcr_classes[] = {
        NSMFAULT_cbor_indefinite_pcrs, NSMFAULT_pcrs_array,     NSMFAULT_pcrs_33,
        NSMFAULT_pcr_index_text,       NSMFAULT_pcr_index_32,   NSMFAULT_pcr_index_31,
        NSMFAULT_pcr_index_duplicate,  NSMFAULT_pcr_value_text, NSMFAULT_pcr_value_47,
        NSMFAULT_pcr_value_49,         NSMFAULT_pcr_value_32,   NSMFAULT_pcr_value_64};
    for (size_t i = 0; i < sizeof(pcr_classes) / sizeof(pcr_classes[0]); i++)
        if (nsmfault_set_has(b->f, (nsmfault_class)pcr_classes[i]) &&
            pcrs_edit(b, m, pcr_classes[i], e) != 0)
            return -1;
    if (HAS(pcrs_empty) && set_hex(m, "pcrs", "a0", e) != 0)
        return -1;

    return 0;
}

/* ---- the encoding's classes: heads, tags, indefinite lengths, duplicate keys; one edit
 * per class, in the order they apply ---- */

static int edit_cbor_reserved_head(build *b, nsmkit_error *e)
{
    return set_hex(&b->payload, "nonce", "1c", e);
}

static int edit_cbor_indefinite_bytes(build *b, nsmkit_error *e)
{
    return set_hex(&b->payload, "nonce", "5f42010241ffff", e);
}

static int edit_cbor_simple_unassigned(build *b, nsmkit_error *e)
{
    return set_hex(&b->payload, "nonce", "f0", e);
}

static int edit_cbor_indefinite_text(build *b, nsmkit_error *e)
{
    return set_hex(&b->payload, "module_id", "7f62692d63616263ff", e);
}

/* key's value becomes v's bytes; v is freed. */
static int set_built(nsmkit_buf *m, const char *key, nsmkit_buf *v, nsmkit_error *e)
{
    int rc = nsmsim_map_set_value(m, key, v->data, v->len, e);
    nsmkit_buf_free(v);
    return rc != 0 ? -1 : 0;
}

static int edit_cbor_tag_certificate(build *b, nsmkit_error *e)
{
    nsmkit_buf v;
    nsmkit_buf_init(&v, 4096);
    nsmkit_buf_u8(&v, 0xd8);
    nsmkit_buf_u8(&v, 24);
    nsmkit_cbor_put_bytes(&v, b->p.certificate, b->p.certificate_len);
    return set_built(&b->payload, "certificate", &v, e);
}

static int edit_cbor_tag_timestamp(build *b, nsmkit_error *e)
{
    nsmkit_buf v;
    nsmkit_buf_init(&v, 32);
    nsmkit_buf_u8(&v, 0xc1);
    nsmkit_cbor_put_uint(&v, b->p.timestamp_ms);
    return set_built(&b->payload, "timestamp", &v, e);
}

static int edit_cbor_non_minimal_head(build *b, nsmkit_error *e)
{
    nsmkit_buf v;
    size_t n = strlen(b->module_id);
    nsmkit_buf_init(&v, 400);
    nsmkit_buf_u8(&v, 0x79);
    nsmkit_buf_u8(&v, (uint8_t)(n >> 8));
    nsmkit_buf_u8(&v, (uint8_t)n);
    nsmkit_buf_append(&v, b->module_id, n);
    return set_built(&b->payload, "module_id", &v, e);
}

static int edit_cbor_too_deep(build *b, nsmkit_error *e)
{
    return set_hex(&b->payload, "user_data", "818181818181818100", e);
}

static int edit_cbor_too_many_items(build *b, nsmkit_error *e)
{
    nsmkit_buf v;
    nsmkit_buf_init(&v, 1024);
    nsmkit_cbor_put_head(&v, NSMKIT_CBOR_ARRAY, 300);
    for (int i = 0; i < 300; i++)
        nsmkit_buf_u8(&v, 0x00);
    return set_built(&b->payload, "user_data", &v, e);
}

static int edit_cbor_duplicate(build *b, nsmkit_error *e) /* duplicate_key, _module_id */
{
    bool nonce = HAS(cbor_duplicate_key);
    nsmkit_buf k;
    put_key(&k, nonce ? "nonce" : "module_id");
    static const uint8_t other_nonce[] = {0x43, 0x0a, 0x0b, 0x0c};
    static const uint8_t other_id[] = {0x65, 'f', 'o', 'r', 'g', 'e'};
    int rc = append_entry(&b->payload, k.data, k.len, nonce ? other_nonce : other_id,
                          nonce ? sizeof(other_nonce) : sizeof(other_id), e);
    nsmkit_buf_free(&k);
    return rc != 0 ? -1 : 0;
}

static const edit_row encoding_edits[] = {
    ROW(cbor_reserved_head, edit_cbor_reserved_head),
    ROW(cbor_indefinite_bytes, edit_cbor_indefinite_bytes),
    ROW(cbor_simple_unassigned, edit_cbor_simple_unassigned),
    ROW(cbor_indefinite_text, edit_cbor_indefinite_text),
    ROW(cbor_tag_certificate, edit_cbor_tag_certificate),
    ROW(cbor_tag_timestamp, edit_cbor_tag_timestamp),
    ROW(cbor_non_minimal_head, edit_cbor_non_minimal_head),
    ROW(cbor_too_deep, edit_cbor_too_deep),
    ROW(cbor_too_many_items, edit_cbor_too_many_items),
    ROW2(cbor_duplicate_key, cbor_duplicate_module_id, edit_cbor_duplicate),
};

/* the encoding: heads, tags, indefinite lengths, duplicate keys */
static int payload_encoding(build *b, nsmkit_buf *m, nsmkit_error *e)
{
    (void)m;
    return run_edits(b, encoding_edits, sizeof(encoding_edits) / sizeof(encoding_edits[0]), e);
}

static int edit_payload_key_int(build *b, nsmkit_error *e)
{
    static const uint8_t key[] = {0x01}, value[] = {0x00};
    return append_entry(&b->payload, key, 1, value, 1, e) != 0 ? -1 : 0;
}

/* an extra key: "extra" (unknown_key) or "nitrotpm_pcrs" holding the pcrs (two_pcr_kinds) */
static int edit_payload_extra_key(build *b, nsmkit_error *e)
{
    nsmkit_buf *m = &b->payload;
    nsmkit_buf k;
    put_key(&k, HAS(payload_unknown_key) ? "extra" : "nitrotpm_pcrs");
    nsmkit_buf v;
    size_t key_at, value_at, end;
    int rc = -1;
    nsmkit_buf_init(&v, 8192);
    if (HAS(payload_unknown_key)) {
        nsmkit_buf_u8(&v, 0x00);
        rc = 0;
    } else if (nsmsim_map_find(m->data, m->len, "pcrs", &key_at, &value_at, &end, e) == 0) {
        nsmkit_buf_append(&v, m->data + value_at, end - value_at);
        rc = 0;
    }
    if (rc == 0)
        rc = append_entry(m, k.data, k.len, v.data, v.len, e);
    nsmkit_buf_free(&k);
    nsmkit_buf_free(&v);
    return rc != 0 ? -1 : 0;
}

static int edit_policy_nonce_removed(build *b, nsmkit_error *e)
{
    return nsmsim_map_remove(&b->payload, "nonce", e) != 0 ? -1 : 0;
}

static int edit_payload_key_case(build *b, nsmkit_error *e)
{
    return rename_key(&b->payload, "nonce", "Nonce", e) != 0 ? -1 : 0;
}

static int edit_payload_nitrotpm_pcrs(build *b, nsmkit_error *e)
{
    return rename_key(&b->payload, "pcrs", "nitrotpm_pcrs", e) != 0 ? -1 : 0;
}

static const edit_row key_edits[] = {
    ROW(payload_key_int, edit_payload_key_int),
    ROW2(payload_unknown_key, payload_two_pcr_kinds, edit_payload_extra_key),
    ROW(policy_nonce_absent, edit_policy_nonce_removed),
    ROW(payload_key_case, edit_payload_key_case),
    ROW(payload_nitrotpm_pcrs, edit_payload_nitrotpm_pcrs),
};

/* the fields: keys added, removed and renamed (one edit per class), then a row per missing
 * key and per value of the wrong type or size */
static int payload_fields(build *b, nsmkit_buf *m, nsmkit_error *e)
{
    if (run_edits(b, key_edits, sizeof(key_edits) / sizeof(key_edits[0]), e) != 0)
        return -1;
    static const struct { int cls; const char *key; } missing[] = {
        {NSMFAULT_payload_missing_module_id, "module_id"}, {NSMFAULT_payload_missing_digest, "digest"},
        {NSMFAULT_payload_missing_timestamp, "timestamp"}, {NSMFAULT_payload_missing_pcrs, "pcrs"},
        {NSMFAULT_payload_missing_certificate, "certificate"},
        {NSMFAULT_payload_missing_cabundle, "cabundle"}};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
        if (nsmfault_set_has(b->f, (nsmfault_class)missing[i].cls) &&
            nsmsim_map_remove(m, missing[i].key, e) != 0)
            return -1;
    static const struct { int cls; const char *key; const char *hex; uint8_t major; size_t len; } values[] = {
        {NSMFAULT_module_id_int, "module_id", "01", 0, 0},
        {NSMFAULT_module_id_empty, "module_id", "60", 0, 0},
        {NSMFAULT_module_id_256, "module_id", NULL, NSMKIT_CBOR_TEXT, 256},
        {NSMFAULT_module_id_257, "module_id", NULL, NSMKIT_CBOR_TEXT, 257},
        {NSMFAULT_digest_int, "digest", "190180", 0, 0},
        {NSMFAULT_digest_sha256, "digest", "66534841323536", 0, 0},
        {NSMFAULT_digest_lowercase, "digest", "66736861333834", 0, 0},
        {NSMFAULT_timestamp_text, "timestamp", "6131", 0, 0},
        {NSMFAULT_timestamp_negative, "timestamp", "20", 0, 0},
        {NSMFAULT_timestamp_zero, "timestamp", "00", 0, 0},
        {NSMFAULT_timestamp_one, "timestamp", "01", 0, 0},
        {NSMFAULT_certificate_text, "certificate", "6163", 0, 0},
        {NSMFAULT_certificate_empty, "certificate", "40", 0, 0},
        {NSMFAULT_certificate_1025, "certificate", NULL, NSMKIT_CBOR_BYTES, 1025},
        {NSMFAULT_cabundle_map, "cabundle", "a0", 0, 0},
        {NSMFAULT_cabundle_empty, "cabundle", "80", 0, 0},
        {NSMFAULT_public_key_int, "public_key", "01", 0, 0},
        {NSMFAULT_public_key_empty, "public_key", "40", 0, 0},
        {NSMFAULT_public_key_null, "public_key", "f6", 0, 0},
        {NSMFAULT_public_key_1024, "public_key", NULL, NSMKIT_CBOR_BYTES, 1024},
        {NSMFAULT_public_key_1025, "public_key", NULL, NSMKIT_CBOR_BYTES, 1025},
        {NSMFAULT_user_data_int, "user_data", "01", 0, 0},
        {NSMFAULT_user_data_null, "user_data", "f6", 0, 0},
        {NSMFAULT_user_data_512, "user_data", NULL, NSMKIT_CBOR_BYTES, 512},
        {NSMFAULT_user_data_513, "user_data", NULL, NSMKIT_CBOR_BYTES, 513},
        {NSMFAULT_user_data_1024, "user_data", NULL, NSMKIT_CBOR_BYTES, 1024},
        {NSMFAULT_user_data_1025, "user_data", NULL, NSMKIT_CBOR_BYTES, 1025},
        {NSMFAULT_nonce_int, "nonce", "01", 0, 0},
        {NSMFAULT_nonce_null, "nonce", "f6", 0, 0},
        {NSMFAULT_nonce_512, "nonce", NULL, NSMKIT_CBOR_BYTES, 512},
        {NSMFAULT_nonce_513, "nonce", NULL, NSMKIT_CBOR_BYTES, 513},
        {NSMFAULT_nonce_1024, "nonce", NULL, NSMKIT_CBOR_BYTES, 1024},
        {NSMFAULT_nonce_1025, "nonce", NULL, NSMKIT_CBOR_BYTES, 1025},
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        if (!nsmfault_set_has(b->f, (nsmfault_class)values[i].cls))
            continue;
        int rc = values[i].hex ? set_hex(m, values[i].key, values[i].hex, e)
                               : set_item(m, values[i].key, values[i].major, values[i].len, e);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* the cabundle entries */
static int payload_cabundle(build *b, nsmkit_buf *m, nsmkit_error *e)
{
    if (HAS(cabundle_9) || HAS(cabundle_entry_text) || HAS(cabundle_entry_empty) ||
        HAS(cabundle_entry_1025)) {
        nsmkit_buf v;
        nsmkit_buf_init(&v, 16384);
        size_t count = HAS(cabundle_9) ? 9 : b->p.cabundle_count;
        nsmkit_cbor_put_head(&v, NSMKIT_CBOR_ARRAY, count);
        for (size_t i = 0; i < count; i++) {
            size_t src = i < b->p.cabundle_count ? i : b->p.cabundle_count - 1;
            bool last = i + 1 == count;
            if (last && HAS(cabundle_entry_text))
                nsmkit_cbor_put_text(&v, "certificate");
            else if (last && HAS(cabundle_entry_empty))
                nsmkit_cbor_put_bytes(&v, NULL, 0);
            else if (last && HAS(cabundle_entry_1025)) {
                nsmkit_cbor_put_head(&v, NSMKIT_CBOR_BYTES, 1025);
                for (int k = 0; k < 1025; k++)
                    nsmkit_buf_u8(&v, 0x30);
            } else
                nsmkit_cbor_put_bytes(&v, b->bundle[src], b->bundle_lens[src]);
        }
        int rc = v.err ? nsmkit_fail(e, "cabundle too large")
                       : nsmsim_map_set_value(m, "cabundle", v.data, v.len, e);
        nsmkit_buf_free(&v);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* whole-payload faults last: they may leave no map to edit */
static int payload_whole(build *b, nsmkit_buf *m, nsmkit_error *e)
{
    if (HAS(payload_not_map)) {
        if (m->len == 0 || (m->data[0] != 0xbf && (m->data[0] < 0xa0 || m->data[0] > 0xb7)))
            return nsmkit_fail(e, "payload_not_map needs a payload map");
        if (m->data[0] == 0xbf) {
            m->data[0] = 0x9f; /* the keys and values become items of an indefinite array */
        } else {
            unsigned n = 2u * (m->data[0] & 0x1f);
            uint8_t head[2] = {0x98, (uint8_t)n};
            if (nsmsim_splice(m, 0, 1, head, 2, e) != 0)
                return -1;
        }
    }
    if (HAS(cbor_trailing_byte)) nsmkit_buf_u8(m, 0x00);
    if (HAS(cbor_two_maps)) nsmkit_buf_u8(m, 0xa0);
    if (HAS(cbor_truncated) || HAS(cbor_truncated_in_string)) {
        size_t key_at, value_at, end;
        if (nsmsim_map_find(m->data, m->len, HAS(cbor_truncated) ? "cabundle" : "certificate",
                            &key_at, &value_at, &end, e) != 0)
            return -1;
        m->len = HAS(cbor_truncated) ? value_at : value_at + 3 + (end - value_at) / 2;
    }
    if (HAS(cbor_empty)) m->len = 0;
    return m->err ? nsmkit_fail(e, "payload too large") : 0;
}

static int payload_phase(build *b, nsmkit_error *e)
{
    nsmkit_buf *m = &b->payload;
    if (payload_pcrs(b, m, e) != 0 || payload_encoding(b, m, e) != 0 ||
        payload_fields(b, m, e) != 0 || payload_cabundle(b, m, e) != 0)
        return -1;
    return payload_whole(b, m, e);
}

static void header_phase(build *b)
{
    static const struct { int cls; const char *hex; } prot[] = {
        {NSMFAULT_hdr_alg_es256, "a10126"},           {NSMFAULT_hdr_alg_es512, "a1013823"},
        {NSMFAULT_hdr_alg_ps384, "a1013825"},         {NSMFAULT_hdr_alg_positive, "a1011823"},
        {NSMFAULT_hdr_alg_text, "a101654553333834"}, {NSMFAULT_hdr_alg_missing, "a0"},
        {NSMFAULT_hdr_empty, ""},                     {NSMFAULT_hdr_kid_only, "a1044101"},
        {NSMFAULT_hdr_alg_duplicate, "a20138220138 22"}, {NSMFAULT_hdr_crit, "a2013822028101"},
        {NSMFAULT_hdr_extra_kid, "a20138220441 01"},  {NSMFAULT_hdr_alg_non_minimal, "a101390022"},
        {NSMFAULT_hdr_not_bstr, "a1013822"},          {NSMFAULT_hdr_malformed, "a101"},
        {NSMFAULT_hdr_trailing, "a101382200"},
    };
    memcpy(b->prot, nsmsim_protected_es384, sizeof(nsmsim_protected_es384));
    b->prot_len = sizeof(nsmsim_protected_es384);
    for (size_t i = 0; i < sizeof(prot) / sizeof(prot[0]); i++) {
        if (!nsmfault_set_has(b->f, (nsmfault_class)prot[i].cls))
            continue;
        b->prot_len = 0;
        for (const char *h = prot[i].hex; h[0] && h[1];) {
            if (*h == ' ') {
                h++;
                continue;
            }
            sscanf(h, "%2hhx", &b->prot[b->prot_len++]);
            h += 2;
        }
        b->prot_bare = prot[i].cls == NSMFAULT_hdr_not_bstr;
    }
    b->unprot[0] = 0xa0;
    b->unprot_len = 1;
    if (HAS(hdr_unprotected_kid)) {
        memcpy(b->unprot, "\xa1\x04\x41\x01", 4);
        b->unprot_len = 4;
    }
    if (HAS(hdr_unprotected_alg)) {
        memcpy(b->unprot, "\xa1\x01\x38\x22", 4);
        b->unprot_len = 4;
    }
    if (HAS(hdr_unprotected_not_map))
        b->unprot[0] = 0x40;
}

static int sign_over(build *b, const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                     size_t payload_len, EVP_PKEY *key, bool sha256, nsmkit_error *e)
{
    uint8_t digest[48];
    if (nsmsim_sig_structure_digest(prot, prot_len, payload, payload_len, digest) != 0)
        return nsmkit_fail(e, "Sig_structure digest failed");
    if (sha256) {
        /* the same Sig_structure hashed with SHA-256, zero-padded to the P-384 digest size */
        uint8_t d256[32];
        nsmkit_buf s;
        nsmkit_buf_init(&s, 2 * NSMV_DOC_MAX);
        static const uint8_t context[] = {0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1'};
        nsmkit_buf_append(&s, context, sizeof(context));
        nsmkit_cbor_put_bytes(&s, prot, prot_len);
        nsmkit_cbor_put_bytes(&s, NULL, 0);
        nsmkit_cbor_put_bytes(&s, payload, payload_len);
        int ok = !s.err && EVP_Digest(s.data, s.len, d256, NULL, EVP_sha256(), NULL);
        nsmkit_buf_free(&s);
        if (!ok)
            return nsmkit_fail(e, "SHA-256 failed");
        memset(digest, 0, sizeof(digest));
        memcpy(digest + 16, d256, sizeof(d256));
    }
    b->sig_len = 96;
    return nsmkit_sign_p384_det(key, digest, b->sig, e);
}

/* ---- the signature's classes: one edit per class, in the order they apply ---- */

static int edit_sig_bit_flip(build *b, nsmkit_error *e)
{
    (void)e;
    b->sig[95] ^= 0x01;
    return 0;
}

static int edit_sig_r_bit_flip(build *b, nsmkit_error *e)
{
    (void)e;
    b->sig[10] ^= 0x80;
    return 0;
}

static int edit_sig_high_s(build *b, nsmkit_error *e)
{
    return nsmkit_p384_negate_s(b->sig, e) != 0 ? -1 : 0;
}

static int edit_sig_zero_r(build *b, nsmkit_error *e)
{
    (void)e;
    memset(b->sig, 0, 48);
    return 0;
}

static int edit_sig_s_is_order(build *b, nsmkit_error *e)
{
    (void)e;
    memcpy(b->sig + 48, nsmkit_p384_order, NSMKIT_P384_SCALAR_LEN);
    return 0;
}

static int edit_sig_short(build *b, nsmkit_error *e)
{
    (void)e;
    b->sig_len = 95;
    return 0;
}

static int edit_sig_long(build *b, nsmkit_error *e)
{
    (void)e;
    b->sig[b->sig_len++] = 0x00;
    return 0;
}

static int edit_sig_empty(build *b, nsmkit_error *e)
{
    (void)e;
    b->sig_len = 0;
    return 0;
}

static int edit_sig_der(build *b, nsmkit_error *e)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(b->sig, 48, NULL), *sv = BN_bin2bn(b->sig + 48, 48, NULL);
    uint8_t der[128], *p = der;
    int len = 0;
    if (s && r && sv && ECDSA_SIG_set0(s, r, sv)) {
        r = sv = NULL;
        len = i2d_ECDSA_SIG(s, &p);
    }
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(s);
    if (len <= 0 || (size_t)len > sizeof(b->sig))
        return nsmkit_fail(e, "DER signature failed");
    memcpy(b->sig, der, (size_t)len);
    b->sig_len = (size_t)len;
    return 0;
}

static const edit_row signature_edits[] = {
    ROW(sig_bit_flip, edit_sig_bit_flip),     ROW(sig_r_bit_flip, edit_sig_r_bit_flip),
    ROW(sig_high_s, edit_sig_high_s),         ROW(sig_zero_r, edit_sig_zero_r),
    ROW(sig_s_is_order, edit_sig_s_is_order), ROW(sig_short, edit_sig_short),
    ROW(sig_long, edit_sig_long),             ROW(sig_empty, edit_sig_empty),
    ROW(sig_der, edit_sig_der),
};

static int signature_phase(build *b, nsmkit_error *e)
{
    return run_edits(b, signature_edits, sizeof(signature_edits) / sizeof(signature_edits[0]), e);
}

/* Writes the envelope, then applies the byte-level classes to it. */
static int envelope_phase(build *b, nsmkit_buf *doc, nsmkit_error *e)
{
    size_t at_protected, at_unprotected, at_payload, at_payload_bytes, at_signature;
    if (HAS(env_tag_17))
        nsmkit_buf_u8(doc, 0xd1);
    if (HAS(env_tag_18_non_minimal)) {
        nsmkit_buf_u8(doc, 0xd8);
        nsmkit_buf_u8(doc, 0x12);
    }
    if (HAS(env_tag_18_twice))
        nsmkit_buf_append(doc, "\xd2\xd2", 2);
    if (HAS(env_map))
        nsmkit_buf_u8(doc, 0xa2);
    else if (HAS(env_array_indefinite))
        nsmkit_buf_u8(doc, 0x9f);
    else if (HAS(env_array_non_minimal))
        nsmkit_buf_append(doc, "\x98\x04", 2);
    else
        nsmkit_cbor_put_head(doc, NSMKIT_CBOR_ARRAY, HAS(env_array3) ? 3 : HAS(env_array5) ? 5 : 4);
    at_protected = doc->len;
    if (b->prot_bare)
        nsmkit_buf_append(doc, b->prot, b->prot_len);
    else
        nsmkit_cbor_put_bytes(doc, b->prot, b->prot_len);
    at_unprotected = doc->len;
    if (HAS(env_unprotected_non_minimal))
        nsmkit_buf_append(doc, "\xb8\x00", 2);
    else
        nsmkit_buf_append(doc, b->unprot, b->unprot_len);
    at_payload = doc->len;
    const nsmkit_buf *pl = &b->payload;
    if (HAS(env_payload_detached)) {
        nsmkit_cbor_put_null(doc);
    } else if (HAS(env_payload_length_non_minimal)) {
        nsmkit_buf_u8(doc, 0x5a);
        for (int i = 3; i >= 0; i--)
            nsmkit_buf_u8(doc, (uint8_t)(pl->len >> (8 * i)));
        nsmkit_buf_append(doc, pl->data, pl->len);
    } else if (HAS(env_payload_indefinite)) {
        nsmkit_buf_u8(doc, 0x5f);
        nsmkit_cbor_put_bytes(doc, pl->data, pl->len);
        nsmkit_buf_u8(doc, 0xff);
    } else if (HAS(env_payload_text)) {
        nsmkit_cbor_put_head(doc, NSMKIT_CBOR_TEXT, pl->len);
        nsmkit_buf_append(doc, pl->data, pl->len);
    } else {
        nsmkit_cbor_put_bytes(doc, pl->data, pl->len);
    }
    at_payload_bytes = at_payload + 3;
    at_signature = doc->len;
    if (!HAS(env_array3)) {
        if (HAS(env_signature_text)) {
            nsmkit_cbor_put_head(doc, NSMKIT_CBOR_TEXT, b->sig_len);
            nsmkit_buf_append(doc, b->sig, b->sig_len);
        } else {
            nsmkit_cbor_put_bytes(doc, b->sig, b->sig_len);
        }
    }
    if (HAS(env_array5))
        nsmkit_cbor_put_null(doc);
    if (HAS(env_map))
        nsmkit_cbor_put_null(doc); /* the fourth item as the second pair's value */
    if (HAS(env_array_indefinite))
        nsmkit_buf_u8(doc, 0xff);
    if (HAS(env_trailing_byte))
        nsmkit_buf_u8(doc, 0x00);
    if (HAS(env_trailing_array))
        nsmkit_buf_u8(doc, 0x80);
    if (HAS(env_reserved_head))
        doc->data[0] = 0x9c;
    if (doc->err)
        return nsmkit_fail(e, "document too large");
    size_t cut = doc->len;
    if (HAS(env_truncated_head)) cut = at_protected;
    if (HAS(env_truncated_protected)) cut = at_protected + 2;
    if (HAS(env_truncated_unprotected)) cut = at_unprotected;
    if (HAS(env_truncated_payload_head)) cut = at_payload + 2;
    if (HAS(env_truncated_payload)) cut = at_payload_bytes + pl->len / 2;
    if (HAS(env_truncated_signature_head)) cut = at_signature;
    if (HAS(env_truncated_signature)) cut = doc->len - 1;
    if (cut > doc->len)
        return nsmkit_fail(e, "the document is shorter than the cut");
    doc->len = cut;
    if (HAS(bytes_too_large))
        while (doc->len <= NSMV_DOC_MAX && !doc->err)
            nsmkit_buf_u8(doc, 0x00);
    if (HAS(bytes_empty))
        doc->len = 0;
    return doc->err ? nsmkit_fail(e, "document too large") : 0;
}

void nsmfault_shape_init(nsmfault_shape *shape)
{
    memset(shape, 0, sizeof(*shape));
}

void nsmfault_doc_free(nsmfault_doc *doc)
{
    nsmkit_buf_free(&doc->doc);
    nsmkit_buf_free(&doc->policy.nonce);
    nsmkit_buf_free(&doc->policy.user_data);
    nsmkit_buf_free(&doc->policy.public_key);
}

int nsmfault_build(nsmfault_pki *pki, const nsmfault_shape *shape, const nsmfault_set *faults,
                   bool resign, nsmfault_doc *out, nsmkit_error *e)
{
    build *b = calloc(1, sizeof(*b));
    nsmkit_buf original;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    nsmkit_buf_init(&out->doc, 2 * NSMV_DOC_MAX);
    nsmkit_buf_init(&original, 2 * NSMV_DOC_MAX);
    if (!b) {
        nsmkit_fail(e, "out of memory");
        goto out;
    }
    b->pki = pki;
    b->f = faults;
    b->out = out;
    nsmkit_buf_init(&b->payload, 2 * NSMV_DOC_MAX);

    /* The valid document's payload first: --no-resign keeps its signature. */
    static const nsmfault_set none;
    const nsmfault_set *given = b->f;
    b->f = &none;
    if (fields_phase(b, shape, e) != 0)
        goto out;
    nsmsim_payload_encode(&b->p, &original);
    if (shape->optional == NSMFAULT_OPTIONAL_ABSENT &&
        (nsmsim_map_remove(&original, "public_key", e) != 0 ||
         nsmsim_map_remove(&original, "user_data", e) != 0 ||
         nsmsim_map_remove(&original, "nonce", e) != 0))
        goto out;
    nsmfault_doc_free(out);
    memset(out, 0, sizeof(*out));
    nsmkit_buf_init(&out->doc, 2 * NSMV_DOC_MAX);
    b->f = given;

    if (fields_phase(b, shape, e) != 0)
        goto out;
    nsmsim_payload_encode(&b->p, &b->payload);
    if (shape->optional == NSMFAULT_OPTIONAL_ABSENT &&
        (nsmsim_map_remove(&b->payload, "public_key", e) != 0 ||
         nsmsim_map_remove(&b->payload, "user_data", e) != 0 ||
         (!HAS(payload_key_case) && nsmsim_map_remove(&b->payload, "nonce", e) != 0)))
        goto out;
    if (b->payload.err || original.err) {
        nsmkit_fail(e, "payload too large");
        goto out;
    }
    if (payload_phase(b, e) != 0)
        goto out;
    header_phase(b);

    EVP_PKEY *signer = b->signer;
    EVP_PKEY *owned = NULL;
    if (HAS(sig_wrong_key))
        signer = pki->tier_key[pki->tiers - 1];
    if (!resign) {
        rc = sign_over(b, nsmsim_protected_es384, sizeof(nsmsim_protected_es384), original.data,
                       original.len, signer, false, e);
    } else if (HAS(sig_other_payload)) {
        nsmkit_buf other;
        nsmkit_buf_init(&other, 2 * NSMV_DOC_MAX);
        nsmkit_buf_append(&other, b->payload.data, b->payload.len);
        rc = set_hex(&other, "timestamp", "01", e);
        if (rc == 0)
            rc = sign_over(b, b->prot, b->prot_len, other.data, other.len, signer, false, e);
        nsmkit_buf_free(&other);
    } else if (HAS(sig_other_header)) {
        static const uint8_t es512[] = {0xa1, 0x01, 0x38, 0x23};
        rc = sign_over(b, es512, sizeof(es512), b->payload.data, b->payload.len, signer, false, e);
    } else {
        rc = sign_over(b, b->prot, b->prot_len, b->payload.data, b->payload.len, signer,
                       HAS(sig_sha256), e);
    }
    EVP_PKEY_free(owned);
    if (rc != 0 || (rc = signature_phase(b, e)) != 0)
        goto out;
    rc = -1;
    if (shape->tagged)
        nsmkit_buf_u8(&out->doc, 0xd2);
    if (envelope_phase(b, &out->doc, e) != 0)
        goto out;
    rc = 0;
out:
    if (b)
        nsmkit_buf_free(&b->payload);
    nsmkit_buf_free(&original);
    free(b);
    if (rc != 0)
        nsmfault_doc_free(out);
    return rc;
}

void nsmfault_doc_options(const nsmfault_doc *doc, nsmv_profile profile, nsmv_options *o,
                          nsmv_expected_pcr *pcr)
{
    const nsmfault_policy *p = &doc->policy;
    nsmv_options_init(o);
    o->profile = profile;
    o->time_mode = NSMV_TIME_FIXED;
    o->time_s = p->verify_time_s;
    if (p->expect_pcr0) {
        pcr->index = 0;
        memcpy(pcr->value, p->pcr0, NSMV_PCR_LEN);
        o->pcrs = pcr;
        o->pcr_count = 1;
    }
    if (p->expect_nonce)
        o->nonce = (nsmv_expected_bytes){true, p->nonce.data, p->nonce.len};
    if (p->expect_user_data)
        o->user_data = (nsmv_expected_bytes){true, p->user_data.data, p->user_data.len};
    if (p->expect_public_key)
        o->public_key = (nsmv_expected_bytes){true, p->public_key.data, p->public_key.len};
    if (p->max_age_s) {
        o->check_max_age = true;
        o->max_age_s = p->max_age_s;
    }
    o->refuse_debug = p->refuse_debug;
}

