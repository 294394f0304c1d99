/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The P-384 seam on nettle (libhogweed): ecc_ecdsa_sign and ecc_ecdsa_verify, the
 * low-level functions behind GnuTLS's ECDSA, called on limbs directly so that no GMP
 * integer is allocated per signature. The public key is decoded once (ecc_point_set
 * checks that it lies on the curve) and kept as its limbs.
 */
#include <stdlib.h>
#include <string.h>

#include <gmp.h>
#include <nettle/ecc-curve.h>
#include <nettle/ecc.h>
#include <nettle/ecdsa.h>

#include "nsmkit/bytes.h"
#include "p384_impl.h"

#if GMP_NAIL_BITS != 0 || GMP_NUMB_BITS % 8 != 0
#error "limbs of whole bytes expected"
#endif

#define LIMBS ((384 + GMP_NUMB_BITS - 1) / GMP_NUMB_BITS)
/* Scratch for one signature or verification; the itch of this nettle is checked against
 * it on every call (it is a few hundred limbs at most for P-384). */
#define SCRATCH_LIMBS 1024

static const struct ecc_curve *curve(void)
{
    return nettle_get_secp_384r1();
}

static bool scratch_fits(void)
{
    return ecc_size(curve()) == LIMBS && ecc_ecdsa_sign_itch(curve()) <= SCRATCH_LIMBS &&
           ecc_ecdsa_verify_itch(curve()) <= SCRATCH_LIMBS;
}

/* 48 big-endian bytes to LIMBS little-endian limbs, and back. */
static void bytes_to_limbs(mp_limb_t out[LIMBS], const uint8_t in[48])
{
    memset(out, 0, LIMBS * sizeof(mp_limb_t));
    for (size_t i = 0; i < 48; i++) {
        size_t bit = (47 - i) * 8;
        out[bit / GMP_NUMB_BITS] |= (mp_limb_t)in[i] << (bit % GMP_NUMB_BITS);
    }
}

static void limbs_to_bytes(uint8_t out[48], const mp_limb_t in[LIMBS])
{
    for (size_t i = 0; i < 48; i++) {
        size_t bit = (47 - i) * 8;
        out[i] = (uint8_t)(in[bit / GMP_NUMB_BITS] >> (bit % GMP_NUMB_BITS));
    }
}

static nsmkit_p384_status public_init(nsmkit_p384_public *key)
{
    if (!scratch_fits())
        return NSMKIT_P384_LIBRARY_ERROR;
    struct ecc_point *point = malloc(sizeof(*point));
    if (!point)
        return NSMKIT_P384_NO_MEMORY;
    mpz_t x, y;
    mpz_init(x);
    mpz_init(y);
    mpz_import(x, 48, 1, 1, 1, 0, key->sec1 + 1);
    mpz_import(y, 48, 1, 1, 1, 0, key->sec1 + 49);
    ecc_point_init(point, curve());
    int on_curve = ecc_point_set(point, x, y); /* checks x, y < p and the equation */
    mpz_clear(x);
    mpz_clear(y);
    if (!on_curve) {
        ecc_point_clear(point);
        free(point);
        return NSMKIT_P384_KEY_NOT_ON_CURVE;
    }
    key->state = point;
    return NSMKIT_P384_OK;
}

static void public_clear(nsmkit_p384_public *key)
{
    struct ecc_point *point = key->state;
    if (point) {
        ecc_point_clear(point);
        free(point);
    }
}

static nsmkit_p384_status verify(const nsmkit_p384_public *key, const uint8_t digest[48],
                                 const uint8_t signature[96])
{
    const struct ecc_point *point = key->state;
    mp_limb_t r[LIMBS], s[LIMBS], scratch[SCRATCH_LIMBS];
    bytes_to_limbs(r, signature);
    bytes_to_limbs(s, signature + 48);
    return ecc_ecdsa_verify(curve(), point->p, 48, digest, r, s, scratch)
               ? NSMKIT_P384_OK
               : NSMKIT_P384_SIGNATURE_INVALID;
}

static nsmkit_p384_status private_init(nsmkit_p384_private *key)
{
    if (!scratch_fits())
        return NSMKIT_P384_LIBRARY_ERROR;
    mp_limb_t *z = malloc(LIMBS * sizeof(mp_limb_t));
    if (!z)
        return NSMKIT_P384_NO_MEMORY;
    bytes_to_limbs(z, key->scalar);
    key->state = z;
    return NSMKIT_P384_OK;
}

static void private_clear(nsmkit_p384_private *key)
{
    if (key->state) {
        nsmkit_wipe(key->state, LIMBS * sizeof(mp_limb_t));
        free(key->state);
    }
}

static nsmkit_p384_status private_public(const nsmkit_p384_private *key, uint8_t sec1[97])
{
    struct ecc_scalar z;
    struct ecc_point q;
    mpz_t v, x, y;
    mpz_init(v);
    mpz_init(x);
    mpz_init(y);
    mpz_import(v, 48, 1, 1, 1, 0, key->scalar);
    ecc_scalar_init(&z, curve());
    ecc_point_init(&q, curve());
    nsmkit_p384_status st = NSMKIT_P384_LIBRARY_ERROR;
    if (ecc_scalar_set(&z, v)) {
        ecc_point_mul_g(&q, &z);
        ecc_point_get(&q, x, y);
        size_t nx = 0, ny = 0;
        memset(sec1, 0, 97);
        sec1[0] = 0x04;
        if (mpz_sizeinbase(x, 256) <= 48 && mpz_sizeinbase(y, 256) <= 48) {
            mpz_export(sec1 + 1 + 48 - mpz_sizeinbase(x, 256), &nx, 1, 1, 1, 0, x);
            mpz_export(sec1 + 49 + 48 - mpz_sizeinbase(y, 256), &ny, 1, 1, 1, 0, y);
            st = NSMKIT_P384_OK;
        }
    }
    ecc_point_clear(&q);
    ecc_scalar_clear(&z); /* nettle zeroes nothing itself: v holds the scalar too */
    mpz_clear(x);
    mpz_clear(y);
    /* overwrite the scalar before its memory goes back to GMP */
    nsmkit_wipe(mpz_limbs_modify(v, LIMBS), LIMBS * sizeof(mp_limb_t));
    mpz_clear(v);
    return st;
}

static bool is_zero(const mp_limb_t v[LIMBS])
{
    mp_limb_t any = 0;
    for (size_t i = 0; i < LIMBS; i++)
        any |= v[i];
    return any == 0;
}

static nsmkit_p384_status sign(const nsmkit_p384_private *key, const uint8_t digest[48],
                               const uint8_t *k, uint8_t signature[96])
{
    mp_limb_t kp[LIMBS], r[LIMBS], s[LIMBS], scratch[SCRATCH_LIMBS];
    uint8_t fresh[48];
    nsmkit_p384_status st = NSMKIT_P384_NONCE;
    /* r or s of zero has probability about 2^-383; a given k that gives one is refused,
     * a random one is drawn again */
    for (int attempt = 0; attempt < 4; attempt++) {
        if (!k && !nsmkit_p384_random_scalar(fresh))
            break;
        bytes_to_limbs(kp, k ? k : fresh);
        ecc_ecdsa_sign(curve(), key->state, kp, 48, digest, r, s, scratch);
        if (!is_zero(r) && !is_zero(s)) {
            limbs_to_bytes(signature, r);
            limbs_to_bytes(signature + 48, s);
            st = NSMKIT_P384_OK;
            break;
        }
        if (k)
            break;
    }
    nsmkit_wipe(kp, sizeof(kp));
    nsmkit_wipe(fresh, sizeof(fresh));
    nsmkit_wipe(scratch, sizeof(scratch));
    return st;
}

const nsmkit_p384_ops nsmkit_p384_nettle_ops = {
    .name = "nettle",
    .public_init = public_init,
    .public_clear = public_clear,
    .verify = verify,
    .private_init = private_init,
    .private_clear = private_clear,
    .private_public = private_public,
    .sign = sign,
};
