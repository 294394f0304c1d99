/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit deterministic signing: ECDSA P-384 with the nonce k derived per RFC 6979
 * (HMAC-SHA-384), so that a corpus of signed documents is reproducible byte for byte.
 * Everything in nsmkit that signs reproducibly goes through this file.
 *
 * OpenSSL 3.0 has no deterministic ECDSA of its own (NSM-FACTS section 10): k is derived
 * here and handed to ECDSA_do_sign_ex as (k^-1, r).
 */
#ifndef NSMKIT_DET_SIGN_H
#define NSMKIT_DET_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "nsmkit/error.h"
#include "nsmkit/p384.h"

/* OpenSSL's own forward declaration (openssl/types.h), repeated so that this header does not
 * pull OpenSSL in. */
typedef struct evp_pkey_st EVP_PKEY;

#define NSMKIT_DET_P384_LEN 48

/* RFC 6979 section 3.2: the nonce k for a P-384 private key x and a SHA-384 digest. */
int nsmkit_rfc6979_k_p384(const uint8_t x[NSMKIT_DET_P384_LEN], const uint8_t digest[48],
                          uint8_t k[NSMKIT_DET_P384_LEN], nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* The RFC 6979 nonce as a nonce source of the P-384 seam (nsmkit_p384_sign), for callers
 * that sign through nsmkit/p384.h and want reproducible signatures. */
extern const nsmkit_p384_nonce_source nsmkit_rfc6979_nonce;
/* Signs a SHA-384 digest with an EC P-384 key and the RFC 6979 nonce: raw r||s. */
int nsmkit_sign_p384_det(EVP_PKEY *key, const uint8_t digest[48], uint8_t sig[96],
                         nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Signs a digest with any EC key (any curve) by the RFC 6979 nonce of that curve's order
 * length, DER-encoded (for certificates); *der_len in: capacity, out: length. The digest
 * is SHA-384 or SHA-256 (its length says which). */
int nsmkit_sign_ec_der_det(EVP_PKEY *key, const uint8_t *digest, size_t digest_len,
                           uint8_t *der, size_t *der_len, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* s := n - s in a raw P-384 r||s: the other valid signature (high S when s was low). */
int nsmkit_p384_negate_s(uint8_t sig[96], nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_DET_SIGN_H */
