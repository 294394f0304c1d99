/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deterministic ECDSA (RFC 6979) over OpenSSL 3.0 (see nsmkit/det_sign.h).
 *
 * This file uses OpenSSL's deprecated EC_KEY and ECDSA_do_sign_ex: OpenSSL 3.0 offers no
 * other way to sign with a chosen nonce. It alone is compiled with
 * -Wno-deprecated-declarations (Makefile).
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>

#include "nsmkit/det_sign.h"

#define MAX_ORDER_LEN 66 /* P-521 */

/* HMAC with the digest md over up to four parts. */
static int hmac4(const EVP_MD *md, const uint8_t *key, size_t key_len, const uint8_t *a,
                 size_t a_len, const uint8_t *b, size_t b_len, const uint8_t *c, size_t c_len,
                 const uint8_t *d, size_t d_len, uint8_t *out)
{
    unsigned int out_len = 0;
    HMAC_CTX *ctx = HMAC_CTX_new();
    int ok = ctx && HMAC_Init_ex(ctx, key, (int)key_len, md, NULL) &&
             HMAC_Update(ctx, a, a_len) && (!b_len || HMAC_Update(ctx, b, b_len)) &&
             (!c_len || HMAC_Update(ctx, c, c_len)) && (!d_len || HMAC_Update(ctx, d, d_len)) &&
             HMAC_Final(ctx, out, &out_len);
    HMAC_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* bits2int then mod q, as octets of q's length (RFC 6979 2.3.4), for a digest whose bit
 * length is at least q's (both uses here: SHA-384 with P-384, SHA-256 with P-256) or shorter
 * (then left-padded). */
static int bits2octets(const uint8_t *h, size_t h_len, const BIGNUM *q, size_t q_len,
                       uint8_t *out, BN_CTX *bn)
{
    BIGNUM *z = BN_bin2bn(h, (int)(h_len > q_len ? q_len : h_len), NULL);
    int ok = z != NULL;
    if (ok && h_len > q_len) {
        /* keep the leftmost qlen bits: q_len bytes are taken, then the spare bits dropped */
        int excess = (int)(q_len * 8) - BN_num_bits(q);
        ok = excess <= 0 || BN_rshift(z, z, excess);
    }
    if (ok && BN_cmp(z, q) >= 0)
        ok = BN_sub(z, z, q);
    ok = ok && BN_bn2binpad(z, out, (int)q_len) == (int)q_len;
    (void)bn;
    BN_free(z);
    return ok ? 0 : -1;
}

/* RFC 6979 3.2 for a group of order q (q_len bytes), HMAC with md (hlen bytes). */
static int rfc6979_k(const EVP_MD *md, const BIGNUM *q, size_t q_len, const uint8_t *x,
                     const uint8_t *h, size_t h_len, BIGNUM *k_out, BN_CTX *bn)
{
    uint8_t v[EVP_MAX_MD_SIZE], key[EVP_MAX_MD_SIZE], h1[MAX_ORDER_LEN], t[2 * MAX_ORDER_LEN];
    size_t hlen = (size_t)EVP_MD_get_size(md);
    static const uint8_t zero = 0x00, one = 0x01;
    int qbits = BN_num_bits(q);
    if (q_len > MAX_ORDER_LEN || bits2octets(h, h_len, q, q_len, h1, bn) != 0)
        return -1;
    memset(v, 0x01, hlen);
    memset(key, 0x00, hlen);
    if (hmac4(md, key, hlen, v, hlen, &zero, 1, x, q_len, h1, q_len, key) != 0 ||
        hmac4(md, key, hlen, v, hlen, NULL, 0, NULL, 0, NULL, 0, v) != 0 ||
        hmac4(md, key, hlen, v, hlen, &one, 1, x, q_len, h1, q_len, key) != 0 ||
        hmac4(md, key, hlen, v, hlen, NULL, 0, NULL, 0, NULL, 0, v) != 0)
        return -1;
    for (int round = 0; round < 64; round++) {
        size_t tlen = 0;
        while (tlen < q_len) {
            if (hmac4(md, key, hlen, v, hlen, NULL, 0, NULL, 0, NULL, 0, v) != 0)
                return -1;
            size_t take = hlen < q_len - tlen ? hlen : q_len - tlen;
            memcpy(t + tlen, v, take);
            tlen += take;
        }
        if (!BN_bin2bn(t, (int)q_len, k_out))
            return -1;
        int excess = (int)(q_len * 8) - qbits;
        if (excess > 0 && !BN_rshift(k_out, k_out, excess))
            return -1;
        if (!BN_is_zero(k_out) && BN_cmp(k_out, q) < 0)
            return 0;
        if (hmac4(md, key, hlen, v, hlen, &zero, 1, NULL, 0, NULL, 0, key) != 0 ||
            hmac4(md, key, hlen, v, hlen, NULL, 0, NULL, 0, NULL, 0, v) != 0)
            return -1;
    }
    return -1; /* probability 2^-(64*qbits/2): never */
}

int nsmkit_rfc6979_k_p384(const uint8_t x[NSMKIT_DET_P384_LEN], const uint8_t digest[48],
                          uint8_t k[NSMKIT_DET_P384_LEN], nsmkit_error *e)
{
    BN_CTX *bn = BN_CTX_new();
    BIGNUM *q = BN_bin2bn(nsmkit_p384_order, NSMKIT_P384_SCALAR_LEN, NULL), *kb = BN_new();
    int rc = bn && q && kb && rfc6979_k(EVP_sha384(), q, NSMKIT_DET_P384_LEN, x, digest, 48, kb, bn) == 0 &&
                     BN_bn2binpad(kb, k, NSMKIT_DET_P384_LEN) == NSMKIT_DET_P384_LEN
                 ? 0
                 : nsmkit_fail(e, "RFC 6979: could not derive k");
    BN_free(kb);
    BN_free(q);
    BN_CTX_free(bn);
    return rc;
}

/* Signs with k from RFC 6979: owned objects are freed at the one exit. */
static int rfc6979_nonce(void *ctx, const uint8_t x[NSMKIT_P384_SCALAR_LEN],
                         const uint8_t digest[NSMKIT_P384_DIGEST_LEN],
                         uint8_t k[NSMKIT_P384_SCALAR_LEN])
{
    nsmkit_error e;
    (void)ctx;
    return nsmkit_rfc6979_k_p384(x, digest, k, &e);
}

const nsmkit_p384_nonce_source nsmkit_rfc6979_nonce = {rfc6979_nonce, NULL};

static ECDSA_SIG *sign_det(EVP_PKEY *pkey, const uint8_t *digest, size_t digest_len,
                           size_t *order_len, nsmkit_error *e)
{
    ECDSA_SIG *sig = NULL;
    EC_KEY *ec = EVP_PKEY_get1_EC_KEY(pkey); /* owned */
    BN_CTX *bn = BN_CTX_new();
    BIGNUM *k = BN_new(), *kinv = BN_new(), *rp = BN_new(), *order = BN_new();
    EC_POINT *point = NULL;
    uint8_t x[MAX_ORDER_LEN];
    if (!ec || !bn || !k || !kinv || !rp || !order) {
        nsmkit_fail(e, "deterministic signature: not an EC key, or out of memory");
        goto out;
    }
    const EC_GROUP *group = EC_KEY_get0_group(ec);
    const BIGNUM *d = EC_KEY_get0_private_key(ec);
    if (!group || !d || !EC_GROUP_get_order(group, order, bn)) {
        nsmkit_fail(e, "deterministic signature: the key has no private part");
        goto out;
    }
    *order_len = (size_t)BN_num_bytes(order);
    const EVP_MD *md = digest_len == 32 ? EVP_sha256() : EVP_sha384();
    point = EC_POINT_new(group);
    if (*order_len > MAX_ORDER_LEN || BN_bn2binpad(d, x, (int)*order_len) != (int)*order_len ||
        rfc6979_k(md, order, *order_len, x, digest, digest_len, k, bn) != 0 || !point ||
        !EC_POINT_mul(group, point, k, NULL, NULL, bn) ||
        !EC_POINT_get_affine_coordinates(group, point, rp, NULL, bn) ||
        !BN_nnmod(rp, rp, order, bn) || !BN_mod_inverse(kinv, k, order, bn)) {
        nsmkit_fail(e, "deterministic signature: nonce setup failed");
        goto out;
    }
    sig = ECDSA_do_sign_ex(digest, (int)digest_len, kinv, rp, ec);
    if (!sig)
        nsmkit_fail(e, "deterministic signature: ECDSA_do_sign_ex failed");
out:
    OPENSSL_cleanse(x, sizeof(x));
    EC_POINT_free(point);
    BN_clear_free(k);
    BN_clear_free(kinv);
    BN_free(rp);
    BN_free(order);
    BN_CTX_free(bn);
    EC_KEY_free(ec);
    return sig;
}

int nsmkit_sign_p384_det(EVP_PKEY *key, const uint8_t digest[48], uint8_t out[96],
                         nsmkit_error *e)
{
    size_t order_len = 0;
    ECDSA_SIG *sig = sign_det(key, digest, 48, &order_len, e);
    if (!sig)
        return -1;
    int ok = order_len == NSMKIT_DET_P384_LEN &&
             BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 48) == 48 &&
             BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 48, 48) == 48;
    ECDSA_SIG_free(sig);
    return ok ? 0 : nsmkit_fail(e, "deterministic signature: the key is not a P-384 key");
}

int nsmkit_sign_ec_der_det(EVP_PKEY *key, const uint8_t *digest, size_t digest_len,
                           uint8_t *der, size_t *der_len, nsmkit_error *e)
{
    size_t order_len = 0;
    ECDSA_SIG *sig = sign_det(key, digest, digest_len, &order_len, e);
    if (!sig)
        return -1;
    int n = i2d_ECDSA_SIG(sig, NULL);
    int rc = -1;
    if (n > 0 && (size_t)n <= *der_len) {
        uint8_t *p = der;
        *der_len = (size_t)i2d_ECDSA_SIG(sig, &p);
        rc = 0;
    } else {
        nsmkit_fail(e, "deterministic signature: DER does not fit");
    }
    ECDSA_SIG_free(sig);
    return rc;
}

int nsmkit_p384_negate_s(uint8_t sig[96], nsmkit_error *e)
{
    BIGNUM *n = BN_bin2bn(nsmkit_p384_order, NSMKIT_P384_SCALAR_LEN, NULL);
    BIGNUM *s = BN_bin2bn(sig + 48, 48, NULL);
    int ok = n && s && !BN_is_zero(s) && BN_sub(s, n, s) && BN_bn2binpad(s, sig + 48, 48) == 48;
    BN_free(n);
    BN_free(s);
    return ok ? 0 : nsmkit_fail(e, "cannot negate s");
}
