/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The P-384 seam on OpenSSL 3 (EVP): kept compiled and tested beside nettle, and the
 * reference the cross-check tests hold nettle to. Keys are built from their raw forms
 * with EVP_PKEY_fromdata (the point decoder checks that a public key lies on the curve);
 * each call makes its own EVP_PKEY_CTX, so keys are shared between threads without a lock.
 * A given nonce k is used through the textbook formula with BIGNUMs (test vectors only:
 * EVP_PKEY_sign cannot take one).
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "nsmkit/bytes.h"
#include "p384_impl.h"

static EVP_PKEY *key_from_params(const uint8_t *pub, size_t pub_len, const BIGNUM *priv)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-384", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len) ||
        (priv && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)) ||
        !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return key;
}

static nsmkit_p384_status public_init(nsmkit_p384_public *key)
{
    EVP_PKEY *pkey = key_from_params(key->sec1, sizeof(key->sec1), NULL);
    ERR_clear_error();
    if (!pkey)
        return NSMKIT_P384_KEY_NOT_ON_CURVE; /* length, form and range were checked */
    key->state = pkey;
    return NSMKIT_P384_OK;
}

static void public_clear(nsmkit_p384_public *key)
{
    EVP_PKEY_free(key->state);
}

/* r || s as the DER ECDSA-Sig-Value OpenSSL wants; returns its length or 0. */
static int signature_der(const uint8_t signature[96], unsigned char **der)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(signature, 48, NULL), *s = BN_bin2bn(signature + 48, 48, NULL);
    int len = 0;
    if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL; /* owned by sig */
        len = i2d_ECDSA_SIG(sig, der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return len > 0 ? len : 0;
}

static nsmkit_p384_status verify(const nsmkit_p384_public *key, const uint8_t digest[48],
                                 const uint8_t signature[96])
{
    unsigned char *der = NULL;
    int der_len = signature_der(signature, &der);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->state, NULL);
    nsmkit_p384_status st = NSMKIT_P384_LIBRARY_ERROR;
    if (der_len > 0 && ctx && EVP_PKEY_verify_init(ctx) == 1)
        st = EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, 48) == 1
                 ? NSMKIT_P384_OK
                 : NSMKIT_P384_SIGNATURE_INVALID;
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_free(der);
    ERR_clear_error();
    return st;
}

/* The public point d * G as 04 || x || y. */
static bool public_point(const BIGNUM *d, uint8_t sec1[97])
{
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_secp384r1);
    EC_POINT *q = group ? EC_POINT_new(group) : NULL;
    bool ok = q && EC_POINT_mul(group, q, d, NULL, NULL, NULL) == 1 &&
              EC_POINT_point2oct(group, q, POINT_CONVERSION_UNCOMPRESSED, sec1, 97, NULL) == 97;
    EC_POINT_free(q);
    EC_GROUP_free(group);
    return ok;
}

static nsmkit_p384_status private_init(nsmkit_p384_private *key)
{
    uint8_t pub[97];
    BIGNUM *d = BN_secure_new();
    nsmkit_p384_status st = NSMKIT_P384_LIBRARY_ERROR;
    if (d && BN_bin2bn(key->scalar, 48, d) && public_point(d, pub)) {
        key->state = key_from_params(pub, sizeof(pub), d);
        st = key->state ? NSMKIT_P384_OK : NSMKIT_P384_LIBRARY_ERROR;
    }
    BN_clear_free(d);
    ERR_clear_error();
    return st;
}

static void private_clear(nsmkit_p384_private *key)
{
    EVP_PKEY_free(key->state);
}

static nsmkit_p384_status private_public(const nsmkit_p384_private *key, uint8_t sec1[97])
{
    size_t len = 0;
    nsmkit_p384_status st =
        EVP_PKEY_get_octet_string_param(key->state, OSSL_PKEY_PARAM_PUB_KEY, sec1, 97, &len) ==
                    1 &&
                len == 97
            ? NSMKIT_P384_OK
            : NSMKIT_P384_LIBRARY_ERROR;
    ERR_clear_error();
    return st;
}

/* The library's own nonce. */
static nsmkit_p384_status sign_evp(const nsmkit_p384_private *key, const uint8_t digest[48],
                                   uint8_t signature[96])
{
    unsigned char der[128];
    size_t der_len = sizeof(der);
    const unsigned char *p = der;
    ECDSA_SIG *sig = NULL;
    nsmkit_p384_status st = NSMKIT_P384_LIBRARY_ERROR;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->state, NULL);
    if (ctx && EVP_PKEY_sign_init(ctx) == 1 &&
        EVP_PKEY_sign(ctx, der, &der_len, digest, 48) == 1 &&
        (sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) != NULL && p == der + der_len) {
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(sig, &r, &s);
        if (BN_bn2binpad(r, signature, 48) == 48 && BN_bn2binpad(s, signature + 48, 48) == 48)
            st = NSMKIT_P384_OK;
    }
    ECDSA_SIG_free(sig);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return st;
}

/* s = k^-1 (e + r d) mod n, r = x(k G) mod n: for a given k (deterministic vectors). */
static nsmkit_p384_status sign_with_k(const nsmkit_p384_private *key, const uint8_t digest[48],
                                      const uint8_t k_bytes[48], uint8_t signature[96])
{
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_secp384r1);
    EC_POINT *kg = group ? EC_POINT_new(group) : NULL;
    BN_CTX *bn = BN_CTX_secure_new();
    BIGNUM *k = BN_secure_new(), *d = BN_secure_new(), *e = BN_new(), *r = BN_new(),
           *s = BN_secure_new(), *x = BN_new();
    const BIGNUM *n = group ? EC_GROUP_get0_order(group) : NULL;
    nsmkit_p384_status st = NSMKIT_P384_LIBRARY_ERROR;
    if (!kg || !bn || !k || !d || !e || !r || !s || !x || !n)
        goto out;
    BN_set_flags(k, BN_FLG_CONSTTIME);
    BN_set_flags(d, BN_FLG_CONSTTIME);
    if (!BN_bin2bn(k_bytes, 48, k) || !BN_bin2bn(key->scalar, 48, d) ||
        !BN_bin2bn(digest, 48, e) || EC_POINT_mul(group, kg, k, NULL, NULL, bn) != 1 ||
        EC_POINT_get_affine_coordinates(group, kg, x, NULL, bn) != 1 ||
        !BN_nnmod(r, x, n, bn) || !BN_mod_mul(s, r, d, n, bn) || !BN_mod_add(s, s, e, n, bn) ||
        !BN_mod_inverse(k, k, n, bn) || !BN_mod_mul(s, s, k, n, bn))
        goto out;
    if (BN_is_zero(r) || BN_is_zero(s)) {
        st = NSMKIT_P384_NONCE;
        goto out;
    }
    if (BN_bn2binpad(r, signature, 48) == 48 && BN_bn2binpad(s, signature + 48, 48) == 48)
        st = NSMKIT_P384_OK;
out:
    BN_clear_free(k);
    BN_clear_free(d);
    BN_free(e);
    BN_free(r);
    BN_clear_free(s);
    BN_free(x);
    BN_CTX_free(bn);
    EC_POINT_free(kg);
    EC_GROUP_free(group);
    ERR_clear_error();
    return st;
}

static nsmkit_p384_status sign(const nsmkit_p384_private *key, const uint8_t digest[48],
                               const uint8_t *k, uint8_t signature[96])
{
    return k ? sign_with_k(key, digest, k, signature) : sign_evp(key, digest, signature);
}

const nsmkit_p384_ops nsmkit_p384_openssl_ops = {
    .name = "openssl",
    .public_init = public_init,
    .public_clear = public_clear,
    .verify = verify,
    .private_init = private_init,
    .private_clear = private_clear,
    .private_public = private_public,
    .sign = sign,
};
