/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The P-384 seam: every input checked once, the same way for both implementations (so
 * that they refuse the same inputs with the same status), then handed to the chosen one.
 */
#include <stdlib.h>
#include <string.h>

#include "nsmkit/bytes.h"
#include "p384_impl.h"

/* The field prime p = 2^384 - 2^128 - 2^96 + 2^32 - 1, big-endian. */
static const uint8_t p384_prime[48] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
};

static const nsmkit_p384_ops *ops_of(nsmkit_p384_impl impl)
{
    switch (impl) {
    case NSMKIT_P384_NETTLE: return &nsmkit_p384_nettle_ops;
    case NSMKIT_P384_OPENSSL: return &nsmkit_p384_openssl_ops;
    }
    return NULL;
}

const char *nsmkit_p384_impl_name(nsmkit_p384_impl impl)
{
    const nsmkit_p384_ops *ops = ops_of(impl);
    return ops ? ops->name : "?";
}

const char *nsmkit_p384_status_name(nsmkit_p384_status status)
{
    static const char *const names[] = {
        "OK",           "KEY_LENGTH",    "KEY_FORMAT", "KEY_NOT_ON_CURVE", "SIGNATURE_VALUE",
        "SIGNATURE_INVALID", "PRIVATE_KEY", "NONCE",   "NO_MEMORY",        "LIBRARY_ERROR",
        "BAD_IMPL",
    };
    return (unsigned)status < sizeof(names) / sizeof(names[0]) ? names[status] : "?";
}

/* ---- public keys ------------------------------------------------------------------------- */

nsmkit_p384_status nsmkit_p384_public_new(nsmkit_p384_impl impl, const uint8_t *sec1,
                                          size_t len, nsmkit_p384_public **out)
{
    const nsmkit_p384_ops *ops = ops_of(impl);
    *out = NULL;
    if (!ops)
        return NSMKIT_P384_BAD_IMPL;
    if (!sec1 || len != NSMKIT_P384_PUBLIC_LEN) {
        /* 00 alone is the point at infinity, 02/03 || x a compressed point: both are the
         * wrong form before they are the wrong length */
        if (sec1 && len >= 1 && sec1[0] != 0x04)
            return NSMKIT_P384_KEY_FORMAT;
        return NSMKIT_P384_KEY_LENGTH;
    }
    if (sec1[0] != 0x04)
        return NSMKIT_P384_KEY_FORMAT; /* hybrid (06/07) or anything else */
    if (memcmp(sec1 + 1, p384_prime, 48) >= 0 || memcmp(sec1 + 49, p384_prime, 48) >= 0)
        return NSMKIT_P384_KEY_NOT_ON_CURVE; /* a coordinate that is no field element */
    nsmkit_p384_public *key = calloc(1, sizeof(*key));
    if (!key)
        return NSMKIT_P384_NO_MEMORY;
    atomic_init(&key->refs, 1);
    key->impl = impl;
    memcpy(key->sec1, sec1, NSMKIT_P384_PUBLIC_LEN);
    nsmkit_p384_status st = ops->public_init(key);
    if (st != NSMKIT_P384_OK) {
        free(key);
        return st;
    }
    *out = key;
    return NSMKIT_P384_OK;
}

nsmkit_p384_public *nsmkit_p384_public_ref(nsmkit_p384_public *key)
{
    if (key)
        atomic_fetch_add_explicit(&key->refs, 1, memory_order_relaxed);
    return key;
}

void nsmkit_p384_public_free(nsmkit_p384_public *key)
{
    if (!key || atomic_fetch_sub_explicit(&key->refs, 1, memory_order_acq_rel) != 1)
        return;
    ops_of(key->impl)->public_clear(key);
    free(key);
}

nsmkit_p384_impl nsmkit_p384_public_impl(const nsmkit_p384_public *key)
{
    return key->impl;
}

nsmkit_p384_status nsmkit_p384_verify(const nsmkit_p384_public *key,
                                      const uint8_t digest[NSMKIT_P384_DIGEST_LEN],
                                      const uint8_t signature[NSMKIT_P384_SIGNATURE_LEN])
{
    if (!nsmkit_p384_scalar_in_range(signature) || !nsmkit_p384_scalar_in_range(signature + 48))
        return NSMKIT_P384_SIGNATURE_VALUE;
    return ops_of(key->impl)->verify(key, digest, signature);
}

/* ---- private keys ------------------------------------------------------------------------ */

nsmkit_p384_status nsmkit_p384_private_new(nsmkit_p384_impl impl,
                                           const uint8_t scalar[NSMKIT_P384_SCALAR_LEN],
                                           nsmkit_p384_private **out)
{
    const nsmkit_p384_ops *ops = ops_of(impl);
    *out = NULL;
    if (!ops)
        return NSMKIT_P384_BAD_IMPL;
    if (!nsmkit_p384_scalar_in_range(scalar))
        return NSMKIT_P384_PRIVATE_KEY;
    nsmkit_p384_private *key = calloc(1, sizeof(*key));
    if (!key)
        return NSMKIT_P384_NO_MEMORY;
    key->impl = impl;
    memcpy(key->scalar, scalar, NSMKIT_P384_SCALAR_LEN);
    nsmkit_p384_status st = ops->private_init(key);
    if (st != NSMKIT_P384_OK) {
        nsmkit_wipe(key->scalar, sizeof(key->scalar));
        free(key);
        return st;
    }
    *out = key;
    return NSMKIT_P384_OK;
}

void nsmkit_p384_private_free(nsmkit_p384_private *key)
{
    if (!key)
        return;
    ops_of(key->impl)->private_clear(key);
    nsmkit_wipe(key->scalar, sizeof(key->scalar));
    free(key);
}

nsmkit_p384_status nsmkit_p384_private_public(const nsmkit_p384_private *key,
                                              uint8_t sec1[NSMKIT_P384_PUBLIC_LEN])
{
    return ops_of(key->impl)->private_public(key, sec1);
}

nsmkit_p384_status nsmkit_p384_sign(const nsmkit_p384_private *key,
                                    const uint8_t digest[NSMKIT_P384_DIGEST_LEN],
                                    const nsmkit_p384_nonce_source *nonce,
                                    uint8_t signature[NSMKIT_P384_SIGNATURE_LEN])
{
    if (!nonce)
        return ops_of(key->impl)->sign(key, digest, NULL, signature);
    uint8_t k[NSMKIT_P384_SCALAR_LEN];
    nsmkit_p384_status st = NSMKIT_P384_NONCE;
    if (nonce->fn && nonce->fn(nonce->ctx, key->scalar, digest, k) == 0 &&
        nsmkit_p384_scalar_in_range(k))
        st = ops_of(key->impl)->sign(key, digest, k, signature);
    nsmkit_wipe(k, sizeof(k));
    return st;
}
