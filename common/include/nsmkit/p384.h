/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: ECDSA P-384 over a SHA-384 digest, the one crypto seam of the project.
 *
 * Two implementations stand behind it: nettle (the default: on these machines it signs
 * about six times and verifies about twice as fast as OpenSSL 3.0, and its ECC code is
 * written to be side-channel silent) and OpenSSL (kept compiled and tested; every test of
 * the seam runs on both and cross-checks them). Both refuse the same inputs with the same
 * status, checked here before either implementation sees them.
 *
 * Encodings are those of the documents: a signature is raw r || s (48 bytes each,
 * big-endian, as COSE writes it); a public key is a SEC1 uncompressed point 04 || x || y
 * (97 bytes, as a certificate's subjectPublicKey holds it); a private key is a 48-byte
 * big-endian scalar.
 *
 * Ownership and threads: keys are immutable once made. A public key is reference counted
 * (nsmkit_p384_public_ref, nsmkit_p384_public_free), so a cache can hand it to several
 * threads at once; any number of threads may verify with one key or sign with one private
 * key at the same time. Private keys are wiped when freed.
 *
 * This header uses neither nettle, GMP nor OpenSSL types.
 */
#ifndef NSMKIT_P384_H
#define NSMKIT_P384_H

#include <stddef.h>
#include <stdint.h>

#include "nsmkit/error.h"

#define NSMKIT_P384_SCALAR_LEN 48
#define NSMKIT_P384_DIGEST_LEN 48
#define NSMKIT_P384_SIGNATURE_LEN 96
#define NSMKIT_P384_PUBLIC_LEN 97 /* 04 || x || y */

typedef enum {
    NSMKIT_P384_NETTLE = 0, /* the default */
    NSMKIT_P384_OPENSSL = 1,
} nsmkit_p384_impl;
#define NSMKIT_P384_IMPL_COUNT 2

typedef enum {
    NSMKIT_P384_OK = 0,
    NSMKIT_P384_KEY_LENGTH,        /* a public key that is not 97 bytes */
    NSMKIT_P384_KEY_FORMAT,        /* not 04 || x || y: compressed, hybrid, infinity (00) */
    NSMKIT_P384_KEY_NOT_ON_CURVE,  /* a coordinate >= p, or the point is not on the curve */
    NSMKIT_P384_SIGNATURE_VALUE,   /* r or s is 0, n or above n */
    NSMKIT_P384_SIGNATURE_INVALID, /* well-formed, but not a signature of this digest */
    NSMKIT_P384_PRIVATE_KEY,       /* a private scalar of 0, n or above n */
    NSMKIT_P384_NONCE,             /* the nonce source failed, or gave k outside [1, n-1] */
    NSMKIT_P384_NO_MEMORY,
    NSMKIT_P384_LIBRARY_ERROR,     /* the implementation failed on valid input */
    NSMKIT_P384_BAD_IMPL,          /* no such implementation */
} nsmkit_p384_status;

/* "KEY_NOT_ON_CURVE", ...; "?" for a number that is not a status. */
const char *nsmkit_p384_status_name(nsmkit_p384_status status);
/* "nettle", "openssl". */
const char *nsmkit_p384_impl_name(nsmkit_p384_impl impl);

/* ---- public keys and verification ------------------------------------------------------- */

typedef struct nsmkit_p384_public nsmkit_p384_public;

/* Decodes and checks a SEC1 public key (length, uncompressed form, coordinates below p,
 * on the curve). On success *out is owned by the caller. */
nsmkit_p384_status nsmkit_p384_public_new(nsmkit_p384_impl impl, const uint8_t *sec1,
                                          size_t len,
                                          nsmkit_p384_public **out) NSMKIT_WARN_UNUSED;
/* Another reference to key (thread-safe); release each with nsmkit_p384_public_free. */
nsmkit_p384_public *nsmkit_p384_public_ref(nsmkit_p384_public *key);
void nsmkit_p384_public_free(nsmkit_p384_public *key);
nsmkit_p384_impl nsmkit_p384_public_impl(const nsmkit_p384_public *key);

/* NSMKIT_P384_OK when signature (r || s) signs digest under key; SIGNATURE_VALUE when r
 * or s lies outside [1, n-1]; SIGNATURE_INVALID otherwise. High s is accepted. */
nsmkit_p384_status nsmkit_p384_verify(const nsmkit_p384_public *key,
                                      const uint8_t digest[NSMKIT_P384_DIGEST_LEN],
                                      const uint8_t signature[NSMKIT_P384_SIGNATURE_LEN])
    NSMKIT_WARN_UNUSED;

/* ---- private keys and signing ----------------------------------------------------------- */

typedef struct nsmkit_p384_private nsmkit_p384_private;

/* A signing key from its 48-byte scalar (in [1, n-1]). The caller wipes its copy. */
nsmkit_p384_status nsmkit_p384_private_new(nsmkit_p384_impl impl,
                                           const uint8_t scalar[NSMKIT_P384_SCALAR_LEN],
                                           nsmkit_p384_private **out) NSMKIT_WARN_UNUSED;
void nsmkit_p384_private_free(nsmkit_p384_private *key);
/* The public key that goes with a private one, as 04 || x || y. */
nsmkit_p384_status nsmkit_p384_private_public(const nsmkit_p384_private *key,
                                              uint8_t sec1[NSMKIT_P384_PUBLIC_LEN])
    NSMKIT_WARN_UNUSED;

/* Where the per-signature nonce k comes from. fn writes k (48 bytes, big-endian) for the
 * private scalar x and the digest and returns 0; the seam refuses a k outside [1, n-1]
 * (NSMKIT_P384_NONCE) and wipes its copy. A deterministic derivation plugs in here: RFC
 * 6979 section 3.2 is a function of exactly (x, digest), so reproducible test vectors need
 * nothing else. x is the signing key: fn must not keep or copy it anywhere. */
typedef struct {
    int (*fn)(void *ctx, const uint8_t x[NSMKIT_P384_SCALAR_LEN],
              const uint8_t digest[NSMKIT_P384_DIGEST_LEN], uint8_t k[NSMKIT_P384_SCALAR_LEN]);
    void *ctx;
} nsmkit_p384_nonce_source;

/* Signs digest as r || s. nonce NULL: k from the system's CSPRNG (getrandom). */
nsmkit_p384_status nsmkit_p384_sign(const nsmkit_p384_private *key,
                                    const uint8_t digest[NSMKIT_P384_DIGEST_LEN],
                                    const nsmkit_p384_nonce_source *nonce,
                                    uint8_t signature[NSMKIT_P384_SIGNATURE_LEN])
    NSMKIT_WARN_UNUSED;

/* ---- shared checks (also used by callers that report their own detail) ----------------- */

/* The order n of the P-384 group, big-endian. */
extern const uint8_t nsmkit_p384_order[NSMKIT_P384_SCALAR_LEN];
/* v (48 bytes, big-endian) lies in [1, n-1]. */
int nsmkit_p384_scalar_in_range(const uint8_t v[NSMKIT_P384_SCALAR_LEN]);

#endif /* NSMKIT_P384_H */
