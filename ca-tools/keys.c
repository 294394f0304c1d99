/* SPDX-License-Identifier: Apache-2.0 */
/* P-384 keys, randomness, and a tier's key and certificate in and out of PEM. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "internal.h"
#include "nsmkit/hex.h"

const char *const ca_tier_names[1 + NSMCA_MAX_TIERS] = {"root", "regional", "zonal", "instance"};

nsmca_code ca_random_bytes(uint8_t *out, size_t n, nsmkit_error *e)
{
    if (n > INT32_MAX || RAND_bytes(out, (int)n) != 1)
        return ca_ossl_fail(e, NSMCA_ERR_RANDOM, "random bytes");
    return NSMCA_OK;
}

nsmca_code ca_random_hex(char *out, size_t digits, nsmkit_error *e)
{
    uint8_t raw[16];
    char hex[2 * sizeof(raw) + 1];
    if (digits > 2 * sizeof(raw))
        return ca_fail(e, NSMCA_ERR_INTERNAL, "internal: %zu hex digits asked", digits);
    nsmca_code code = ca_random_bytes(raw, sizeof(raw), e);
    if (code != NSMCA_OK)
        return code;
    nsmkit_hex_encode(raw, sizeof(raw), hex);
    memcpy(out, hex, digits);
    out[digits] = '\0';
    return NSMCA_OK;
}

EVP_PKEY *ca_key_new(nsmkit_error *e)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    if (!key)
        ca_ossl_fail(e, NSMCA_ERR_CRYPTO, "generate P-384 key");
    return key;
}

static bool key_is_p384(EVP_PKEY *key)
{
    char group[64];
    size_t len = 0;
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return false;
    if (!EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &len))
        return false;
    return strcmp(group, "secp384r1") == 0;
}

void ca_tier_clear(ca_tier *t)
{
    EVP_PKEY_free(t->key);
    X509_free(t->cert);
    free(t->der);
    memset(t, 0, sizeof(*t));
}

void ca_tier_move(ca_tier *dst, ca_tier *src)
{
    ca_tier_clear(dst);
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

nsmca_code ca_tier_set_der(ca_tier *t, nsmkit_error *e)
{
    unsigned char *der = NULL;
    int n = i2d_X509(t->cert, &der);
    if (n <= 0)
        return ca_ossl_fail(e, NSMCA_ERR_CRYPTO, "encode certificate");
    free(t->der);
    t->der = malloc((size_t)n);
    if (!t->der) {
        OPENSSL_free(der);
        return ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(t->der, der, (size_t)n);
    t->der_len = (size_t)n;
    OPENSSL_free(der);
    return NSMCA_OK;
}

nsmca_code ca_tier_write_pem(const ca_tier *t, BIO *key_out, BIO *cert_out, nsmkit_error *e)
{
    if (!PEM_write_bio_PrivateKey(key_out, t->key, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_X509(cert_out, t->cert))
        return ca_ossl_fail(e, NSMCA_ERR_CRYPTO, "encode PEM");
    return NSMCA_OK;
}

nsmca_code ca_tier_read_pem(ca_tier *t, BIO *key_in, const char *key_what, BIO *cert_in,
                            const char *cert_what, nsmkit_error *e)
{
    ca_tier_clear(t);
    t->key = PEM_read_bio_PrivateKey(key_in, NULL, NULL, NULL);
    if (!t->key || !key_is_p384(t->key)) {
        ERR_clear_error();
        ca_tier_clear(t);
        return ca_fail(e, NSMCA_ERR_KEY_MALFORMED, "%s: not a P-384 private key in PEM", key_what);
    }
    t->cert = PEM_read_bio_X509(cert_in, NULL, NULL, NULL);
    if (!t->cert) {
        ERR_clear_error();
        ca_tier_clear(t);
        return ca_fail(e, NSMCA_ERR_CERT_MALFORMED, "%s: not a PEM certificate", cert_what);
    }
    if (X509_check_private_key(t->cert, t->key) != 1) {
        ERR_clear_error();
        ca_tier_clear(t);
        return ca_fail(e, NSMCA_ERR_CERT_KEY_MISMATCH, "%s: certificate does not match %s",
                       cert_what, key_what);
    }
    nsmca_code code = ca_tier_set_der(t, e);
    if (code != NSMCA_OK)
        ca_tier_clear(t);
    return code;
}
