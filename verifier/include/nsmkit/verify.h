/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit verifier: libnsmverify, a staged verifier of Nitro attestation documents.
 *
 * A document (COSE_Sign1 bytes) goes through six stages; the first failure ends the run
 * unless report_all is set, in which case every stage whose inputs are still sound runs
 * and reports its own failures:
 *
 *   envelope   byte-level COSE_Sign1: optional tag 18, array(4), protected header exactly
 *              bstr(a1 01 38 22) = {1: -35}, unprotected exactly {} (a0), payload bstr,
 *              signature bstr of 96 bytes, no trailing bytes, shortest length encodings;
 *   cbor       the payload decoded with every declared length and the depth bounded
 *              before anything is allocated; no indefinite strings, no tags;
 *   payload    field types and sizes, in any key order; duplicate and unknown keys are
 *              refused; `pcrs` makes an NSM document, `nitrotpm_pcrs` a NitroTPM one;
 *   chain      cabundle[0] must be the pinned root byte for byte; the chain
 *              leaf <- cabundle[N] <- ... <- cabundle[1] <- pinned root is verified by
 *              OpenSSL at the verification time, with the pinned root as the only anchor;
 *              every certificate is EC P-384 signed with ecdsa-with-SHA384, CA certificates
 *              carry basicConstraints CA and keyCertSign, the leaf is not a CA and carries
 *              digitalSignature, and the cabundle is root first with no tier missing;
 *              every certificate is canonical DER (re-encoding gives the same bytes), with
 *              its key as an uncompressed point; the document's timestamp lies inside its
 *              own leaf's validity;
 *   signature  ES384 over Sig_structure ["Signature1", protected, h'', payload], the hash
 *              taken from the header's alg (high-S signatures are accepted: real NSM
 *              signatures are not normalised, so a document's hash is no replay
 *              identifier), checked with nettle or OpenSSL (nsmkit/p384.h);
 *   policy     what the caller expects: PCR values, nonce, user_data, public_key, a
 *              maximum age, and optionally no debug-mode document (PCR0..2 all zero).
 *
 * Profiles (payload rules; every other stage is the same in both):
 *
 *   rule                                aws (default)           strict (AWS guide's letter)
 *   user_data, nonce                    0..1024 bytes           0..512 bytes
 *   public_key                          0..1024 bytes           1..1024 bytes
 *   null public_key/user_data/nonce     accepted (= absent)     refused
 *   absent optional field               accepted                accepted
 *   tag 18, indefinite payload map      accepted                accepted
 *   everything else (both): module_id text of 1..256 bytes; digest "SHA384"; timestamp an
 *   unsigned integer > 0; 1..32 PCRs, index 0..31, values of exactly 48 bytes; certificate
 *   and every cabundle entry 1..1024 bytes; cabundle of 1..8 entries.
 *
 * The aws profile accepts everything real NSM hardware has been seen to emit (null
 * optional fields, a 0-byte public_key, 1024-byte user_data and nonce); the strict profile
 * refuses those where the AWS guide's check-content table does.
 *
 * Codes: every failure has one stable code from NSMV_CODES below: 1xx envelope, 2xx CBOR,
 * 3xx payload fields, 4xx certificates and chain, 5xx signature, 6xx policy, 9xx internal
 * and usage. Numbers are never reused or renumbered; new codes are appended in their range.
 *
 * Threads: a verifier may be shared by any number of threads; nsmv_verify only reads it,
 * except for its certificate cache, which has its own lock. Results and options belong to
 * the caller.
 *
 * Cache: chains that verified are remembered by the SHA-256 of each certificate's DER and
 * of its issuer's, with the window of time in which the whole path is valid. A document
 * whose root, cabundle and leaf are all remembered, at a time inside that window, skips the
 * chain's signature checks (a warm verification is one P-384 verify). A new leaf under
 * remembered intermediates has its link checked outside X509_verify_cert, with every check
 * OpenSSL makes on it (the fleet path: two P-384 verifies); that path only accepts, and
 * anything else takes the full path, so the cache never changes a verdict.
 *
 * This header uses neither OpenSSL nor libcbor types.
 */
#ifndef NSMKIT_VERIFY_H
#define NSMKIT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nsmkit/codes.h"
#include "nsmkit/error.h"
#include "nsmkit/p384.h"

/* Largest document accepted: a real NSM response is at most 12 KiB. */
#define NSMV_DOC_MAX (64 * 1024)
#define NSMV_PCR_LEN 48
#define NSMV_PCR_MAX 32
#define NSMV_FIELD_MAX 1024       /* user_data, nonce, public_key (aws profile) */
#define NSMV_STRICT_DATA_MAX 512  /* user_data, nonce (strict profile) */
#define NSMV_MODULE_ID_MAX 256
#define NSMV_CERT_MAX 1024        /* certificate and each cabundle entry */
#define NSMV_CABUNDLE_MAX 8
#define NSMV_MAX_FAILURES 16
/* Tolerated clock difference when a maximum age is checked: a document this far ahead of
 * the verification time still passes. */
#define NSMV_CLOCK_SKEW_S 60
/* 9999-12-31T23:59:59Z: the last time an X.509 certificate can name. */
#define NSMV_TIME_MAX_S 253402300799ull

typedef enum {
    NSMV_STAGE_NONE = 0,
    NSMV_STAGE_ENVELOPE,
    NSMV_STAGE_CBOR,
    NSMV_STAGE_PAYLOAD,
    NSMV_STAGE_CHAIN,
    NSMV_STAGE_SIGNATURE,
    NSMV_STAGE_POLICY,
    NSMV_STAGE_INTERNAL,
    NSMV_STAGE_COUNT
} nsmv_stage;

/* X(NAME, number, stage, sentence). The sentence says what is wrong in general; each
 * failure adds a detail about this document. */
#define NSMV_CODES(X)                                                                        \
    X(OK, 0, NONE, "the document is valid")                                                 \
    /* 1xx: the bytes and the COSE_Sign1 envelope */                                         \
    X(DOC_EMPTY, 100, ENVELOPE, "the document is empty")                                     \
    X(DOC_TOO_LARGE, 101, ENVELOPE, "the document is larger than any NSM response can be")   \
    X(ENV_TRUNCATED, 102, ENVELOPE, "the document ends inside the COSE_Sign1 envelope")      \
    X(ENV_MALFORMED, 103, ENVELOPE, "the envelope is not well-formed CBOR")                  \
    X(ENV_BAD_TAG, 104, ENVELOPE, "the document carries a tag other than COSE_Sign1 (18)")   \
    X(ENV_NOT_ARRAY4, 105, ENVELOPE, "the document is not a COSE_Sign1 array of four items") \
    X(ENV_NON_MINIMAL, 106, ENVELOPE, "an envelope length is not in its shortest encoding")  \
    X(ENV_INDEFINITE_STRING, 107, ENVELOPE, "an envelope byte string has indefinite length") \
    X(ENV_PROTECTED_NOT_BSTR, 108, ENVELOPE, "the protected header is not a byte string")    \
    X(ENV_PROTECTED_MALFORMED, 109, ENVELOPE,                                                \
      "the protected header does not hold a well-formed CBOR map")                           \
    X(ENV_ALG_MISSING, 110, ENVELOPE, "the protected header has no alg")                     \
    X(ENV_ALG_TEXT, 111, ENVELOPE,                                                           \
      "the protected header gives alg as text instead of the COSE integer -35")              \
    X(ENV_ALG_UNSUPPORTED, 112, ENVELOPE, "alg is not ES384 (-35)")                          \
    X(ENV_PROTECTED_NOT_EXACT, 113, ENVELOPE,                                                \
      "the protected header holds more than {1: -35} or encodes it unusually")               \
    X(ENV_UNPROTECTED_NOT_EMPTY, 114, ENVELOPE, "the unprotected header is not the empty map") \
    X(ENV_PAYLOAD_NOT_BSTR, 115, ENVELOPE, "the payload is not an embedded byte string")     \
    X(ENV_SIGNATURE_NOT_BSTR, 116, ENVELOPE, "the signature is not a byte string")           \
    X(ENV_SIGNATURE_LENGTH, 117, ENVELOPE, "the signature is not 96 bytes (ES384 r||s)")     \
    X(ENV_TRAILING_BYTES, 118, ENVELOPE, "bytes follow the COSE_Sign1 array")                \
    /* 2xx: CBOR decoding of the payload */                                                  \
    X(CBOR_EMPTY, 200, CBOR, "the payload is empty")                                         \
    X(CBOR_TRUNCATED, 201, CBOR, "the payload ends inside a CBOR item")                      \
    X(CBOR_MALFORMED, 202, CBOR, "the payload is not well-formed CBOR")                      \
    X(CBOR_LENGTH_TOO_LARGE, 203, CBOR,                                                      \
      "a length declared in the payload exceeds the bytes present")                          \
    X(CBOR_TOO_DEEP, 204, CBOR, "the payload nests deeper than a document can")              \
    X(CBOR_TOO_MANY_ITEMS, 205, CBOR, "the payload holds more items than a document can")    \
    X(CBOR_INDEFINITE_STRING, 206, CBOR,                                                     \
      "the payload holds an indefinite-length byte or text string")                          \
    X(CBOR_TAG, 207, CBOR, "the payload holds a CBOR tag")                                   \
    X(CBOR_TRAILING_BYTES, 208, CBOR, "bytes follow the payload map inside the payload")     \
    X(CBOR_UNSUPPORTED, 209, CBOR,                                                           \
      "the payload holds CBOR the decoder does not support (an unassigned simple value)")    \
    /* 3xx: payload fields */                                                                \
    X(PAYLOAD_NOT_MAP, 300, PAYLOAD, "the payload is not a map")                             \
    X(PAYLOAD_KEY_NOT_TEXT, 301, PAYLOAD, "a payload key is not a text string")              \
    X(PAYLOAD_DUPLICATE_KEY, 302, PAYLOAD, "a payload key appears more than once")           \
    X(PAYLOAD_UNKNOWN_KEY, 303, PAYLOAD, "the payload holds a key no document has")          \
    X(PAYLOAD_MISSING_FIELD, 304, PAYLOAD, "a required payload field is missing")            \
    X(PAYLOAD_TWO_PCR_KINDS, 305, PAYLOAD, "the payload holds both pcrs and nitrotpm_pcrs")  \
    X(PAYLOAD_NULL_FIELD, 306, PAYLOAD, "an optional field is null (the strict profile allows no null)") \
    X(MODULE_ID_TYPE, 310, PAYLOAD, "module_id is not a text string")                        \
    X(MODULE_ID_LENGTH, 311, PAYLOAD, "module_id is empty or too long")                      \
    X(DIGEST_TYPE, 312, PAYLOAD, "digest is not a text string")                              \
    X(DIGEST_UNSUPPORTED, 313, PAYLOAD, "digest is not \"SHA384\"")                          \
    X(TIMESTAMP_TYPE, 314, PAYLOAD, "timestamp is not an unsigned integer")                  \
    X(TIMESTAMP_ZERO, 315, PAYLOAD, "timestamp is zero")                                     \
    X(PCRS_TYPE, 320, PAYLOAD, "the PCR map is not a map")                                   \
    X(PCRS_EMPTY, 321, PAYLOAD, "the PCR map is empty")                                      \
    X(PCRS_TOO_MANY, 322, PAYLOAD, "the PCR map holds more than 32 entries")                 \
    X(PCR_INDEX_TYPE, 323, PAYLOAD, "a PCR index is not an unsigned integer")                \
    X(PCR_INDEX_RANGE, 324, PAYLOAD, "a PCR index is above 31")                              \
    X(PCR_DUPLICATE_INDEX, 325, PAYLOAD, "a PCR index appears more than once")               \
    X(PCR_VALUE_TYPE, 326, PAYLOAD, "a PCR value is not a byte string")                      \
    X(PCR_VALUE_LENGTH, 327, PAYLOAD, "a PCR value is not as long as a SHA-384 digest (48 bytes)") \
    X(CERTIFICATE_TYPE, 330, PAYLOAD, "certificate is not a byte string")                    \
    X(CERTIFICATE_LENGTH, 331, PAYLOAD, "certificate is empty or longer than 1024 bytes")    \
    X(CABUNDLE_TYPE, 332, PAYLOAD, "cabundle is not an array")                               \
    X(CABUNDLE_EMPTY, 333, PAYLOAD, "cabundle is empty")                                     \
    X(CABUNDLE_TOO_LONG, 334, PAYLOAD, "cabundle holds more than 8 certificates")            \
    X(CABUNDLE_ENTRY_TYPE, 335, PAYLOAD, "a cabundle entry is not a byte string")            \
    X(CABUNDLE_ENTRY_LENGTH, 336, PAYLOAD, "a cabundle entry is empty or longer than 1024 bytes") \
    X(PUBLIC_KEY_TYPE, 340, PAYLOAD, "public_key is neither a byte string nor null")         \
    X(PUBLIC_KEY_LENGTH, 341, PAYLOAD, "public_key is longer than the profile allows")       \
    X(USER_DATA_TYPE, 342, PAYLOAD, "user_data is neither a byte string nor null")           \
    X(USER_DATA_LENGTH, 343, PAYLOAD, "user_data is longer than the profile allows")         \
    X(NONCE_TYPE, 344, PAYLOAD, "nonce is neither a byte string nor null")                   \
    X(NONCE_LENGTH, 345, PAYLOAD, "nonce is longer than the profile allows")                 \
    /* 4xx: certificates and the chain */                                                    \
    X(CERT_PARSE, 400, CHAIN, "the leaf certificate is not one well-formed DER certificate") \
    X(CABUNDLE_CERT_PARSE, 401, CHAIN,                                                       \
      "a cabundle entry is not one well-formed DER certificate")                             \
    X(ROOT_MISMATCH, 402, CHAIN, "cabundle[0] is not the pinned root certificate")           \
    X(CABUNDLE_NOT_ROOT_FIRST, 403, CHAIN,                                                   \
      "the cabundle holds the pinned root, but not first as AWS specifies")                  \
    X(CABUNDLE_BROKEN, 404, CHAIN,                                                           \
      "a cabundle certificate was not issued by the one before it (a tier is missing or out of order)") \
    X(LEAF_ISSUER, 405, CHAIN, "the leaf was not issued by the last cabundle certificate")   \
    X(CERT_KEY, 406, CHAIN, "a certificate key is not an EC P-384 key on the named curve")   \
    X(CERT_SIGNATURE_ALG, 407, CHAIN, "a certificate is not signed with ecdsa-with-SHA384")  \
    X(CA_PROFILE, 408, CHAIN, "a CA certificate lacks basicConstraints CA or keyCertSign")   \
    X(LEAF_PROFILE, 409, CHAIN, "the leaf is a CA or lacks the digitalSignature key usage")  \
    X(CERT_EXPIRED, 410, CHAIN, "a certificate had expired at the verification time")        \
    X(CERT_NOT_YET_VALID, 411, CHAIN, "a certificate was not yet valid at the verification time") \
    X(CERT_SIGNATURE, 412, CHAIN, "a certificate signature does not verify")                 \
    X(PATH_LENGTH, 413, CHAIN, "the chain is longer than a pathLen constraint allows")       \
    X(CHAIN_INVALID, 414, CHAIN, "OpenSSL rejected the certificate chain")                   \
    X(CERT_NOT_DER, 415, CHAIN,                                                              \
      "a certificate is not in canonical DER (re-encoding it gives other bytes)")            \
    X(DOC_TIME_OUTSIDE_LEAF, 416, CHAIN,                                                     \
      "the document's timestamp lies outside its own leaf certificate's validity")           \
    /* 5xx: the COSE signature */                                                            \
    X(SIGNATURE_INVALID, 500, SIGNATURE, "the COSE signature does not verify under the leaf key") \
    X(SIGNATURE_VALUE, 501, SIGNATURE,                                                       \
      "r or s is zero or not below the P-384 group order")                                   \
    /* 6xx: the caller's policy */                                                           \
    X(POLICY_PCR_MISMATCH, 600, POLICY, "a PCR differs from the expected value")             \
    X(POLICY_PCR_ABSENT, 601, POLICY, "an expected PCR is not in the document")              \
    X(POLICY_NONCE, 602, POLICY, "the nonce differs from the expected one")                  \
    X(POLICY_USER_DATA, 603, POLICY, "user_data differs from the expected value")            \
    X(POLICY_PUBLIC_KEY, 604, POLICY, "public_key differs from the expected value")          \
    X(POLICY_TOO_OLD, 605, POLICY, "the document is older than the maximum age")             \
    X(POLICY_FUTURE, 606, POLICY, "the document is dated after the verification time")       \
    X(POLICY_DEBUG_MODE, 607, POLICY, "the document comes from a debug-mode enclave")        \
    /* 9xx: internal errors and misuse */                                                    \
    X(INTERNAL, 900, INTERNAL, "internal error")                                             \
    X(NO_MEMORY, 901, INTERNAL, "out of memory")                                             \
    X(USAGE, 902, INTERNAL, "the verifier was called with invalid arguments")

typedef enum {
#define NSMV_CODE_ENUM(name, number, stage, sentence) NSMKIT_CODE_ENUM(NSMV_ERR_, name, number)
    NSMV_CODES(NSMV_CODE_ENUM)
#undef NSMV_CODE_ENUM
} nsmv_code;

/* The table of NSMV_CODES (nsmkit/codes.h): names and sentences by number. */
extern const nsmkit_code_table nsmv_codes;
#define NSMV_OK NSMV_ERR_OK

/* "CERT_EXPIRED"; NULL for a number that is not a code. */
const char *nsmv_code_name(nsmv_code code);
/* The code's general sentence; NULL for a number that is not a code. */
const char *nsmv_code_sentence(nsmv_code code);
nsmv_stage nsmv_code_stage(nsmv_code code);
/* "envelope", "cbor", "payload", "chain", "signature", "policy", "internal". */
const char *nsmv_stage_name(nsmv_stage stage);
/* Every code in numeric order (for manifests and tests). */
size_t nsmv_code_count(void);
nsmv_code nsmv_code_at(size_t i);

/* ---- options ------------------------------------------------------------------------------ */

typedef enum {
    NSMV_PROFILE_AWS = 0,
    NSMV_PROFILE_STRICT = 1,
} nsmv_profile;

typedef enum {
    NSMV_TIME_NOW = 0,      /* the current time */
    NSMV_TIME_FIXED = 1,    /* options.time_s */
    NSMV_TIME_DOCUMENT = 2, /* the document's own timestamp (captured documents) */
} nsmv_time_mode;

typedef struct {
    unsigned index; /* 0..31 */
    uint8_t value[NSMV_PCR_LEN];
} nsmv_expected_pcr;

/* Bytes the document must carry; set = false: not checked. */
typedef struct {
    bool set;
    const uint8_t *data; /* borrowed */
    size_t len;
} nsmv_expected_bytes;

typedef struct {
    nsmv_profile profile;
    nsmv_time_mode time_mode;
    uint64_t time_s;                 /* NSMV_TIME_FIXED: Unix seconds */
    const nsmv_expected_pcr *pcrs;   /* borrowed; at most NSMV_PCR_MAX, distinct indices */
    size_t pcr_count;
    nsmv_expected_bytes nonce, user_data, public_key;
    bool check_max_age;
    uint64_t max_age_s;              /* verification time - document time, in seconds */
    bool refuse_debug;               /* refuse documents whose PCR0..2 are all zero */
    bool report_all;                 /* keep going to report every independent failure */
} nsmv_options;

void nsmv_options_init(nsmv_options *options);
/* Parses "aws" or "strict". */
bool nsmv_profile_parse(const char *text, nsmv_profile *out);
const char *nsmv_profile_name(nsmv_profile profile);

/* ---- results ------------------------------------------------------------------------------- */

typedef enum {
    NSMV_KIND_UNKNOWN = 0,
    NSMV_KIND_NSM,      /* an enclave's NSM: `pcrs` */
    NSMV_KIND_NITROTPM, /* a NitroTPM: `nitrotpm_pcrs` */
} nsmv_kind;
const char *nsmv_kind_name(nsmv_kind kind); /* "unknown", "nsm", "nitrotpm" */

typedef enum {
    NSMV_OUTCOME_NOT_RUN = 0,
    NSMV_OUTCOME_PASSED,
    NSMV_OUTCOME_FAILED,
} nsmv_outcome;

typedef struct {
    nsmv_code code;
    nsmv_stage stage;
    char detail[256]; /* about this document; printable ASCII */
} nsmv_failure;

typedef struct {
    bool valid;
    nsmv_code code;                     /* the first failure, or NSMV_OK */
    nsmv_outcome stages[NSMV_STAGE_COUNT];
    size_t failure_count;
    nsmv_failure failures[NSMV_MAX_FAILURES];
    size_t failures_dropped;            /* failures beyond NSMV_MAX_FAILURES */

    /* What the document says, as far as it could be read. */
    nsmv_profile profile;
    nsmv_kind kind;
    char module_id[NSMV_MODULE_ID_MAX + 1]; /* printable ASCII; others become '?' */
    bool has_timestamp;
    uint64_t timestamp_ms;
    unsigned pcr_count;
    unsigned cabundle_count;
    bool debug_mode;                    /* PCR0..2 present and all zero */
    bool has_time;
    uint64_t time_s;                    /* the verification time used for the chain */
    bool chain_cached;                  /* the chain was answered from the cache */
    bool chain_fleet;                   /* the leaf was checked under remembered
                                           intermediates (the fleet path) */
} nsmv_result;

/* ---- the verifier --------------------------------------------------------------------------- */

typedef struct nsmv_verifier nsmv_verifier;

/* The one message carrier of the project (nsmkit/error.h): a line for the user. */
typedef nsmkit_error nsmv_error;

typedef struct {
    const uint8_t *root_der; /* NULL: the AWS Nitro Enclaves Root-G1 */
    size_t root_len;
    size_t cache_entries;    /* 0: the default (1024); the cache is bounded by this */
    bool no_cache;           /* every verification takes the full path */
    nsmkit_p384_impl crypto; /* the COSE signature check: NSMKIT_P384_NETTLE (0, the
                                default) or NSMKIT_P384_OPENSSL; verdicts are the same */
} nsmv_config;

/* Creates a verifier that trusts exactly one root. Fails on a root that is not one DER
 * certificate with an EC P-384 key. */
int nsmv_verifier_new(const nsmv_config *config, nsmv_verifier **out, nsmv_error *e);
void nsmv_verifier_free(nsmv_verifier *v);
/* Forgets every cached chain. */
void nsmv_verifier_cache_clear(nsmv_verifier *v);
/* Forgets every remembered leaf and keeps the intermediates: the next document of each
 * leaf takes the fleet path (for tests and benchmarks of that path). */
void nsmv_verifier_cache_forget_leaves(nsmv_verifier *v);
/* Hits and misses since creation (for benchmarks and tests). */
void nsmv_verifier_cache_stats(nsmv_verifier *v, uint64_t *hits, uint64_t *misses);

/* The embedded AWS Nitro Enclaves Root-G1 certificate (DER). */
const uint8_t *nsmv_aws_root_der(size_t *len);

/* Reads a PEM file holding exactly one certificate and returns its DER (caller frees).
 * A missing, unreadable or non-certificate file fails with a one-line message. */
int nsmv_root_read_pem(const char *path, uint8_t **der, size_t *der_len, nsmv_error *e);

/* Verifies one document. Always fills result (for any input bytes) and returns
 * result->code: NSMV_OK when the document is valid. */
nsmv_code nsmv_verify(nsmv_verifier *v, const uint8_t *doc, size_t len,
                      const nsmv_options *options, nsmv_result *result);

/* ---- claims: what an accepted document says ----------------------------------------------- */

/* The payload's fields, for the relying party once nsmv_verify accepted the document: the
 * PCRs, and the public_key, user_data and nonce the enclave bound into it. */
typedef struct nsmv_claims nsmv_claims;

/* Decodes doc's payload with the verifier's parser and the AWS profile's field rules (which
 * every document either profile accepts passes). It does not verify: call it on a document
 * nsmv_verify accepted. On NSMV_OK *out is owned (nsmv_claims_free); otherwise *out is NULL
 * and the code is the first rule the document breaks. Pointers the accessors return borrow
 * from the claims, not from doc. */
nsmv_code nsmv_claims_read(const uint8_t *doc, size_t len, nsmv_claims **out);
void nsmv_claims_free(nsmv_claims *claims);
nsmv_kind nsmv_claims_kind(const nsmv_claims *claims);
const char *nsmv_claims_module_id(const nsmv_claims *claims); /* printable ASCII */
uint64_t nsmv_claims_timestamp_ms(const nsmv_claims *claims);
/* PCR index's value (NSMV_PCR_LEN bytes), or NULL when the document has no such PCR. */
const uint8_t *nsmv_claims_pcr(const nsmv_claims *claims, unsigned index);
/* True when the field is present and not null; then *data and *len (either may be NULL)
 * are its bytes, which may be zero bytes long. */
bool nsmv_claims_public_key(const nsmv_claims *claims, const uint8_t **data, size_t *len);
bool nsmv_claims_user_data(const nsmv_claims *claims, const uint8_t **data, size_t *len);
bool nsmv_claims_nonce(const nsmv_claims *claims, const uint8_t **data, size_t *len);

/* ---- reports ---------------------------------------------------------------------------------- */

/* Human report: a verdict line, then one line per stage. */
void nsmv_report_text(FILE *out, const char *name, const nsmv_result *result);
/* One JSON object (no trailing newline). */
void nsmv_report_json(FILE *out, const char *name, const nsmv_result *result);
/* Writes s as a JSON string (with quotes). */
void nsmv_json_string(FILE *out, const char *s);

/* Decodes a document (envelope, CBOR and payload stages only: no chain, no signature) and
 * prints its contents: header, module id, digest, time in UTC, PCRs, optional fields, and
 * each certificate's subject, issuer, serial, validity and key. Returns the code of the
 * first decoding failure (printed too) or NSMV_OK. */
nsmv_code nsmv_dump_text(FILE *out, const char *name, const uint8_t *doc, size_t len);

#endif /* NSMKIT_VERIFY_H */
