/* SPDX-License-Identifier: Apache-2.0 */
/* Leaves: one per simulated enclave, three hours long, never written to disk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "nsmkit/hex.h"

struct nsmca_leaf {
    EVP_PKEY *key;
    uint8_t *der;
    size_t der_len;
    uint8_t *bundle[1 + NSMCA_MAX_TIERS];
    size_t bundle_len[1 + NSMCA_MAX_TIERS];
    unsigned bundle_count;
    uint64_t not_before, not_after;
};

void nsmca_leaf_free(nsmca_leaf *leaf)
{
    if (!leaf)
        return;
    EVP_PKEY_free(leaf->key);
    free(leaf->der);
    for (unsigned i = 0; i < leaf->bundle_count; i++)
        free(leaf->bundle[i]);
    free(leaf);
}

/* The leaf certificate: C ST L O OU CN, BC!(CA:FALSE) KU(ds,nr), serial enclave id ||
 * 00000000 || issue time (u32 seconds, big-endian). */
static nsmca_code leaf_cert(const nsmca_pki *pki, const uint8_t enclave_id[NSMCA_ENCLAVE_ID_LEN],
                            uint64_t unix_s, nsmca_leaf *leaf, nsmkit_error *e)
{
    static const int nids[] = {NID_basic_constraints, NID_key_usage};
    static const char *const values[] = {"critical,CA:FALSE", "digitalSignature,nonRepudiation"};
    uint8_t serial[16] = {0};
    memcpy(serial, enclave_id, NSMCA_ENCLAVE_ID_LEN);
    for (int i = 0; i < 4; i++)
        serial[12 + i] = (uint8_t)(unix_s >> (24 - 8 * i));
    char enclave_hex[2 * NSMCA_ENCLAVE_ID_LEN + 1], cn[128];
    nsmkit_hex_encode(enclave_id, NSMCA_ENCLAVE_ID_LEN, enclave_hex);
    snprintf(cn, sizeof(cn), "%s-enc%s.%s.aws", pki->instance_id, enclave_hex, pki->region);
    const ca_name_part parts[] = {
        {NID_countryName, "US"},          {NID_stateOrProvinceName, "Washington"},
        {NID_localityName, "Seattle"},    {NID_organizationName, "NSM Simulator"},
        {NID_organizationalUnitName, "NOT AWS"}, {NID_commonName, cn},
    };
    const ca_tier *issuer = &pki->cert[pki->tiers];
    ca_cert_spec spec = {
        .serial = serial, .serial_len = sizeof(serial),
        .subject = parts, .subject_count = sizeof(parts) / sizeof(parts[0]),
        .not_before = unix_s - NSMCA_LEAF_BACKDATE_S,
        .not_after = unix_s + NSMCA_LEAF_LIFETIME_S,
        .subject_key = leaf->key, .issuer = issuer->cert, .issuer_key = issuer->key,
        .ext_nids = nids, .ext_values = values, .ext_count = 2,
    };
    ca_tier tier = {0};
    nsmca_code code = ca_cert_build(&spec, &tier.cert, e);
    if (code == NSMCA_OK)
        code = ca_tier_set_der(&tier, e);
    if (code == NSMCA_OK) {
        leaf->der = tier.der; /* taken over */
        leaf->der_len = tier.der_len;
        tier.der = NULL;
        leaf->not_before = spec.not_before;
        leaf->not_after = spec.not_after;
    }
    ca_tier_clear(&tier);
    return code;
}

/* A snapshot of the chain, root first, taken at issue. */
static nsmca_code leaf_bundle(const nsmca_pki *pki, nsmca_leaf *leaf, nsmkit_error *e)
{
    for (unsigned i = 0; i <= pki->tiers; i++) {
        leaf->bundle[i] = malloc(pki->cert[i].der_len);
        if (!leaf->bundle[i])
            return ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory");
        memcpy(leaf->bundle[i], pki->cert[i].der, pki->cert[i].der_len);
        leaf->bundle_len[i] = pki->cert[i].der_len;
        leaf->bundle_count = i + 1;
    }
    return NSMCA_OK;
}

nsmca_code nsmca_leaf_issue(nsmca_pki *pki, const uint8_t enclave_id[NSMCA_ENCLAVE_ID_LEN],
                            uint64_t unix_s, nsmca_leaf **out, nsmkit_error *e)
{
    *out = NULL;
    if (unix_s > UINT32_MAX)
        return ca_fail(e, NSMCA_ERR_TIME_NOT_U32,
                       "issue time %llu does not fit the 4-byte serial field",
                       (unsigned long long)unix_s);
    if (unix_s < NSMCA_LEAF_BACKDATE_S) /* notBefore would fall before 1970 */
        return ca_fail(e, NSMCA_ERR_TIME_OUTSIDE_ROOT, "issue time %llu is too early",
                       (unsigned long long)unix_s);
    nsmca_code code = nsmca_refresh(pki, unix_s, e);
    if (code != NSMCA_OK)
        return code;
    nsmca_leaf *leaf = calloc(1, sizeof(*leaf));
    if (!leaf)
        return ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory");
    leaf->key = ca_key_new(e);
    code = leaf->key ? leaf_cert(pki, enclave_id, unix_s, leaf, e) : NSMCA_ERR_CRYPTO;
    if (code == NSMCA_OK)
        code = leaf_bundle(pki, leaf, e);
    if (code != NSMCA_OK) {
        nsmca_leaf_free(leaf);
        return code;
    }
    *out = leaf;
    return NSMCA_OK;
}

const uint8_t *nsmca_leaf_der(const nsmca_leaf *leaf, size_t *len)
{
    *len = leaf->der_len;
    return leaf->der;
}

unsigned nsmca_leaf_bundle_count(const nsmca_leaf *leaf)
{
    return leaf->bundle_count;
}

const uint8_t *nsmca_leaf_bundle_der(const nsmca_leaf *leaf, unsigned index, size_t *len)
{
    if (index >= leaf->bundle_count) {
        *len = 0;
        return NULL;
    }
    *len = leaf->bundle_len[index];
    return leaf->bundle[index];
}

bool nsmca_leaf_valid_at(const nsmca_leaf *leaf, uint64_t unix_s)
{
    return unix_s >= leaf->not_before && unix_s <= leaf->not_after;
}

nsmca_code nsmca_leaf_sign_digest(const nsmca_leaf *leaf, const uint8_t digest[48],
                                  uint8_t signature[NSMCA_ECDSA_P384_SIG_LEN])
{
    unsigned char der[128];
    size_t der_len = sizeof(der);
    const unsigned char *p = der;
    ECDSA_SIG *sig = NULL;
    nsmca_code code = NSMCA_ERR_CRYPTO;

    /* A context per call keeps the leaf shareable between threads without a lock. */
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, leaf->key, NULL);
    if (!ctx || EVP_PKEY_sign_init(ctx) <= 0 ||
        EVP_PKEY_sign(ctx, der, &der_len, digest, 48) <= 0)
        goto out;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!sig || p != der + der_len)
        goto out;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, signature, 48) != 48 || BN_bn2binpad(s, signature + 48, 48) != 48)
        goto out;
    code = NSMCA_OK;
out:
    ERR_clear_error();
    ECDSA_SIG_free(sig);
    EVP_PKEY_CTX_free(ctx);
    return code;
}

nsmca_code nsmca_leaf_private_scalar(const nsmca_leaf *leaf,
                                     uint8_t scalar[NSMCA_P384_SCALAR_LEN])
{
    BIGNUM *d = NULL;
    nsmca_code code = NSMCA_ERR_CRYPTO;
    /* "priv" is OSSL_PKEY_PARAM_PRIV_KEY; the leaf key is EC P-384, so d < n < 2^384 */
    if (EVP_PKEY_get_bn_param(leaf->key, "priv", &d) == 1 &&
        BN_bn2binpad(d, scalar, NSMCA_P384_SCALAR_LEN) == NSMCA_P384_SCALAR_LEN)
        code = NSMCA_OK;
    BN_clear_free(d);
    ERR_clear_error();
    return code;
}
