/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the verifier's unit tests: a temporary simulated PKI, documents built with the
 * simulator's attestation builder and re-signed after every change (so that each test
 * reaches the rule it is about), byte surgery on payload maps, and certificates of any
 * shape for the chain rules.
 */
#ifndef NSMKIT_VERIFY_FIXTURE_H
#define NSMKIT_VERIFY_FIXTURE_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "nsmkit/ca.h"
#include "nsmkit/buf.h"
#include "nsmkit/sim.h"
#include "nsmkit/verify.h"
#include "testutil.h"

/* 2026-01-01T00:00:00Z: the PKI's creation; the leaf is issued ten minutes later. */
#define VFX_T0 1767225600ull
#define VFX_ISSUE_S (VFX_T0 + 600)
#define VFX_DOC_MS ((VFX_ISSUE_S + 5) * 1000ull)
#define VFX_VERIFY_S (VFX_ISSUE_S + 10)

typedef struct {
    char *dir;
    nsmca_pki *pki;
    nsmca_leaf *leaf;
    nsmv_verifier *verifier;          /* trusts the simulated root (with the cache) */
    nsmv_verifier *cold;              /* the same root, no cache, OpenSSL's P-384 */
    const uint8_t *root_der;
    size_t root_len;
    char module_id[64];
    uint8_t pcr_values[NSMSIM_PCR_COUNT][NSMSIM_PCR_LEN];
    nsmsim_pcr_entry pcrs[NSMSIM_PCR_COUNT];
    const uint8_t *bundle[1 + NSMCA_MAX_TIERS];
    size_t bundle_lens[1 + NSMCA_MAX_TIERS];
    nsmsim_payload payload;           /* a valid document's fields; copy before changing */
} vfx;

/* cmocka group setup and teardown: *state becomes a vfx. */
int vfx_setup(void **state);
int vfx_teardown(void **state);

/* Fails the test (at the caller's line) unless got == want, naming both codes
 * (assert_code of testutil.h on the verifier's table). */
#define assert_vcode(got, want) assert_code(nsmv_codes, got, want)

/* A real captured document (a path under ../shared/vectors/real); skips the test when the
 * shared material is absent. Caller frees. */
uint8_t *vfx_real_doc(const char *name, size_t *len);
/* A verifier that pins the AWS root (the default); caller frees. */
nsmv_verifier *vfx_aws_verifier(bool cache);

/* Default options: aws profile, chain checked at VFX_VERIFY_S. */
void vfx_options(nsmv_options *o);

/* Encodes p with nsmsim_payload_encode into payload (initialised here). */
void vfx_encode(const nsmsim_payload *p, nsmkit_buf *payload);
/* Signs payload bytes with the fixture's leaf into doc (initialised here). */
void vfx_sign(const vfx *fx, const uint8_t *payload, size_t len, nsmkit_buf *doc);
/* Signs with the fixture's leaf under another protected header (same envelope otherwise). */
void vfx_sign_protected(const vfx *fx, const uint8_t *protected_hdr, size_t protected_len,
                        const uint8_t *payload, size_t len, nsmkit_buf *doc);
/* Signs with any P-384 key and the given protected header bytes; the envelope is
 * [d2?] 84 bstr(protected) a0 bstr(payload) bstr(r||s). */
void vfx_sign_with(EVP_PKEY *key, const uint8_t *protected_hdr, size_t protected_len,
                   const uint8_t *payload, size_t len, nsmkit_buf *doc);

/* Verifies doc and returns the code; checks that the reported stage matches the code. */
nsmv_code vfx_verify(const vfx *fx, const uint8_t *doc, size_t len, const nsmv_options *o,
                     nsmv_result *result);
/* Builds (encode + sign) and verifies p with default options or o. */
nsmv_code vfx_check(const vfx *fx, const nsmsim_payload *p, const nsmv_options *o);
/* Signs payload bytes and verifies them. */
nsmv_code vfx_check_bytes(const vfx *fx, const nsmkit_buf *payload, const nsmv_options *o);

/* ---- payload map surgery (top-level keys; definite or indefinite maps) ----------------------- */

/* Replaces the encoded value of key with value (CBOR bytes). */
void vfx_set_value(nsmkit_buf *payload, const char *key, const uint8_t *value, size_t n);
void vfx_set_value_hex(nsmkit_buf *payload, const char *key, const char *hex);
/* Replaces the encoded key itself (CBOR bytes): rename, or another type of key. */
void vfx_set_key(nsmkit_buf *payload, const char *key, const uint8_t *new_key, size_t n);
void vfx_remove(nsmkit_buf *payload, const char *key);
/* Appends an entry (CBOR key and value bytes) to the map. */
void vfx_append(nsmkit_buf *payload, const uint8_t *key, size_t key_len, const uint8_t *value,
                size_t value_len);
/* Copies the encoded entry of key (key and value bytes) into out (initialised here). */
void vfx_entry(const nsmkit_buf *payload, const char *key, nsmkit_buf *out);

/* ---- certificates ------------------------------------------------------------------------------- */

typedef struct {
    const char *cn;
    X509 *issuer;             /* NULL: self-signed */
    EVP_PKEY *issuer_key;
    EVP_PKEY *key;            /* the subject key */
    int64_t not_before, not_after;
    const char *basic_constraints; /* e.g. "critical,CA:TRUE,pathlen:0"; NULL: none */
    const char *key_usage;         /* e.g. "critical,keyCertSign"; NULL: none */
    const EVP_MD *md;              /* NULL: SHA-384 */
    bool unknown_critical;         /* add a critical extension no one understands */
    bool key_ids;                  /* add SKI and AKI */
} vfx_cert_spec;

X509 *vfx_cert(const vfx_cert_spec *spec);
EVP_PKEY *vfx_key(const char *curve); /* "P-384", "P-256", "P-521" or "RSA" */
/* A tier's key from the CA directory ("zonal", "instance", ...). */
EVP_PKEY *vfx_tier_key(const vfx *fx, const char *tier);
X509 *vfx_tier_cert(const vfx *fx, unsigned index);
/* DER of x (caller frees). */
uint8_t *vfx_der(X509 *x, size_t *len);

#endif
