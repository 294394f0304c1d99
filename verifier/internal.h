/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the verifier's stages share. Not installed: the public API is nsmkit/verify.h.
 *
 * Ownership: nsmv_envelope slices point into the caller's document; nsmv_payload slices
 * point into the libcbor item it owns (payload->root), and live until nsmv_payload_clear.
 */
#ifndef NSMKIT_VERIFY_INTERNAL_H
#define NSMKIT_VERIFY_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>

#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "nsmkit/bytes.h"
#include "nsmkit/error.h"
#include "nsmkit/p384.h"
#include "nsmkit/cbor.h"
#include "nsmkit/verify.h"

#define NSMV_COSE_ALG_ES384 (-35)
#define NSMV_SIGNATURE_LEN 96


/* ---- a run: where the stages report ----------------------------------------------------------- */

typedef struct {
    nsmv_result *result;
    bool all;
} nsmv_run;

/* For checks that do not depend on each other: evaluates call (an nsmv_code), keeps the
 * first failure in first, and returns it from the enclosing function unless the run
 * reports every failure. */
#define NSMV_CHECK(run, first, call)                                                         \
    do {                                                                                     \
        nsmv_code check_ = (call);                                                           \
        if (check_ != NSMV_OK) {                                                             \
            if ((first) == NSMV_OK)                                                          \
                (first) = check_;                                                            \
            if (!(run)->all)                                                                 \
                return (first);                                                              \
        }                                                                                    \
    } while (0)

/* ---- failure.c: how stages report (depends on the code table only) ----------------------- */

/* Records a failure (stage from the code) and returns the code. */
nsmv_code nsmv_fail(nsmv_run *run, nsmv_code code, const char *fmt, ...) NSMKIT_PRINTF(3, 4);
/* Printable-ASCII copy of bytes for messages: others become '?', long input is cut with
 * "...". out_size >= 4. */
void nsmv_printable(const uint8_t *data, size_t len, char *out, size_t out_size);
/* "2022-11-09T22:52:00Z"; "<unix seconds>" when out of range. out_size >= 32. */
void nsmv_format_utc(int64_t unix_s, char *out, size_t out_size);

/* ---- envelope.c ------------------------------------------------------------------------------- */

typedef struct {
    bool tagged;            /* tag 18 present */
    int64_t alg;            /* from the protected header (always -35 after success) */
    nsmkit_bytes protected_hdr; /* the bytes inside the protected bstr */
    nsmkit_bytes payload;
    nsmkit_bytes signature;
} nsmv_envelope;

nsmv_code nsmv_envelope_parse(const uint8_t *doc, size_t len, nsmv_envelope *env,
                              nsmv_run *run);

/* ---- payload.c -------------------------------------------------------------------------------- */

typedef struct {
    bool present;           /* the key is there */
    bool is_null;           /* ... with null */
    nsmkit_bytes bytes;
} nsmv_optional;

typedef struct {
    unsigned index;
    const uint8_t *value;   /* NSMV_PCR_LEN bytes */
} nsmv_pcr;

/* Fields that parsed and passed their rules (bit set) - later stages use only those. */
enum {
    NSMV_FIELD_MODULE_ID = 1u << 0,
    NSMV_FIELD_DIGEST = 1u << 1,
    NSMV_FIELD_TIMESTAMP = 1u << 2,
    NSMV_FIELD_PCRS = 1u << 3,
    NSMV_FIELD_CERTIFICATE = 1u << 4,
    NSMV_FIELD_CABUNDLE = 1u << 5,
    NSMV_FIELD_PUBLIC_KEY = 1u << 6,
    NSMV_FIELD_USER_DATA = 1u << 7,
    NSMV_FIELD_NONCE = 1u << 8,
};

typedef struct {
    cbor_item_t *root;      /* owned */
    bool definite_map;
    unsigned valid;         /* NSMV_FIELD_* */
    nsmv_kind kind;
    nsmkit_bytes module_id;
    nsmkit_bytes digest;
    uint64_t timestamp_ms;
    nsmv_pcr pcrs[NSMV_PCR_MAX]; /* in document order */
    size_t pcr_count;
    int pcr_slot[NSMV_PCR_MAX];  /* index -> position in pcrs, or -1 */
    nsmkit_bytes certificate;
    nsmkit_bytes cabundle[NSMV_CABUNDLE_MAX];
    size_t cabundle_count;
    nsmv_optional public_key, user_data, nonce;
} nsmv_payload;

/* The cbor stage: bounded decode of the payload bytes into payload->root. */
nsmv_code nsmv_payload_load(nsmkit_bytes bytes, nsmv_payload *payload, nsmv_run *run);
/* The payload stage: field rules of the profile. */
nsmv_code nsmv_payload_fields(nsmv_payload *payload, nsmv_profile profile, nsmv_run *run);
void nsmv_payload_clear(nsmv_payload *payload);
/* PCR0..2 present and all zero. */
bool nsmv_payload_debug_mode(const nsmv_payload *payload);

typedef struct nsmv_cache nsmv_cache;

struct nsmv_verifier {
    X509 *root;
    uint8_t *root_der;
    size_t root_len;
    uint8_t root_digest[32];  /* SHA-256 of root_der */
    int64_t root_not_before, root_not_after;
    X509_STORE *store;        /* holds the root only */
    EVP_MD *sha256, *sha384;  /* fetched once */
    nsmv_cache *cache;        /* NULL: no cache */
    nsmkit_p384_impl crypto;  /* who checks the COSE signature */
    /* A library context with no provider but "null", where the fleet path parses leaves:
     * d2i_X509 then skips OpenSSL 3.0's decoder for the public key (ten times the rest of
     * the parse); the seam decodes and checks the point instead. */
    OSSL_LIB_CTX *keyless;
    OSSL_PROVIDER *keyless_null;
};

nsmv_cache *nsmv_cache_new(size_t entries);
void nsmv_cache_free(nsmv_cache *cache);
void nsmv_cache_clear(nsmv_cache *cache);
void nsmv_cache_forget_leaves(nsmv_cache *cache);
void nsmv_cache_stats(nsmv_cache *cache, uint64_t *hits, uint64_t *misses);
/* Makes dst the same cache as src - entries, their order of use and the counters - so a
 * caller can start each piece of work from one known state (the fuzz targets do, per
 * input). Both must have the same size. -1 (dst unchanged) when they do not, or when a
 * reference cannot be taken. */
int nsmv_cache_copy(nsmv_cache *dst, nsmv_cache *src);

/* ---- cert.c: certificates --------------------------------------------------------------- */

/* Reads a certificate's validity as Unix seconds. */
bool nsmv_cert_validity(const X509 *cert, int64_t *not_before, int64_t *not_after);
/* Checks the key of a certificate: EC, named curve P-384. detail gets why not. */
bool nsmv_key_is_p384(EVP_PKEY *key, char *detail, size_t detail_size);
/* Checks that a certificate's P-384 point is 04 || x || y (97 bytes), the only form the
 * signature seam takes: a compressed point would verify under OpenSSL and not nettle. */
bool nsmv_key_is_uncompressed(const X509 *cert, char *detail, size_t detail_size);
/* True when x, parsed from der, re-encodes to exactly those bytes (canonical DER). Makes
 * every later encoding of x come from its parsed fields. */
bool nsmv_cert_is_der(X509 *x, const uint8_t *der, size_t len);
/* One certificate, every byte of der (in canonical DER if asked), parsed in a library
 * context with no provider but "null" (nsmv_verifier's keyless): d2i_X509 then skips
 * OpenSSL 3.0's decoder for the public key, ten times the rest of the parse. The key is
 * left undecoded (X509_get0_pubkey is NULL): read it with nsmv_cert_spki_is_p384 and the
 * seam. Owned by the caller; NULL if der is not that. */
X509 *nsmv_cert_parse_keyless(OSSL_LIB_CTX *keyless, nsmkit_bytes der, bool canonical);
/* What nsmv_key_is_p384 and nsmv_key_is_uncompressed check on a decoded key, read from
 * the SubjectPublicKeyInfo: id-ecPublicKey on the named curve secp384r1, a bit string with
 * no unused bits; the point itself (04 || x || y, on the curve) is for the seam. */
bool nsmv_cert_spki_is_p384(X509 *x);
/* One certificate, every byte of der (BER accepted: for messages only); NULL if not. */
X509 *nsmv_cert_decode(nsmkit_bytes der);
/* One DER certificate and nothing else (parse_code when it does not decode whole), in
 * canonical DER (NSMV_ERR_CERT_NOT_DER). *out is owned on success. */
nsmv_code nsmv_cert_parse(nsmkit_bytes der, nsmv_code parse_code, X509 **out);
/* The key and extension profile of a leaf or CA certificate: the code, and in why what is
 * wrong with it. */
nsmv_code nsmv_cert_check_profile(X509 *x, bool is_leaf, char *why, size_t why_size);
/* The profile without the key: signature algorithm, basicConstraints, keyUsage. */
nsmv_code nsmv_cert_check_usage(X509 *x, bool is_leaf, char *why, size_t why_size);
/* The leaf's key for the signature seam, from the point in the certificate. */
nsmkit_p384_status nsmv_cert_leaf_key(const nsmv_verifier *v, const X509 *leaf,
                                      nsmkit_p384_public **out);

/* ---- chain.c ---------------------------------------------------------------------------------- */

/* The chain stage at time_s. On success, and in report_all mode whenever the leaf parsed
 * with a P-384 key, *leaf_key receives an owned reference to the leaf's key. */
nsmv_code nsmv_chain_verify(nsmv_verifier *v, const nsmv_payload *payload, int64_t time_s,
                            nsmkit_p384_public **leaf_key, nsmv_run *run);

/* ---- leaflink.c: the leaf's link outside X509_verify_cert (the fleet path) ------------- */

typedef struct {
    X509 *issuer;                         /* cabundle[n-1], verified and cached (borrowed) */
    const nsmkit_p384_public *issuer_key; /* its key, for the seam (borrowed) */
    X509 *const *others;                  /* the root and cabundle[1..n-2] (borrowed) */
    size_t other_count;
} nsmv_leaf_link;

/* True when every check X509_verify_cert makes on the leaf's link passes at time_s (see
 * leaflink.c); then *leaf_key (owned) is the leaf's key and leaf_window its own validity.
 * False for anything else: the caller takes the full path, which names the failure. */
bool nsmv_leaf_link_accept(const nsmv_verifier *v, nsmkit_bytes leaf_der,
                           const nsmv_leaf_link *link, int64_t time_s,
                           nsmkit_p384_public **leaf_key, int64_t leaf_window[2]);

/* ---- cose.c ----------------------------------------------------------------------------------- */

nsmv_code nsmv_cose_verify(const nsmv_verifier *v, const nsmv_envelope *env,
                           const nsmkit_p384_public *leaf_key, nsmv_run *run);

/* ---- policy.c --------------------------------------------------------------------------------- */

nsmv_code nsmv_policy_check(const nsmv_options *options, const nsmv_payload *payload,
                            int64_t time_s, bool have_time, nsmv_run *run);

#endif /* NSMKIT_VERIFY_INTERNAL_H */
