/* SPDX-License-Identifier: Apache-2.0 */
/* nsmkit eif: what the library's files share and nothing outside eif/ sees. */
#ifndef NSMKIT_EIF_INTERNAL_H
#define NSMKIT_EIF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "nsmkit/eif.h"

/* Records the first problem found (later ones are dropped) and returns the code kept. */
nsmeif_code nsmeif_fail(nsmeif_image *image, nsmeif_code code, const char *fmt, ...)
    NSMKIT_PRINTF(3, 4);

/* The metadata section against the JSON nitro-cli writes (eif_utils' EifIdentityInfo). */
void nsmeif_metadata_check(nsmeif_image *image);
/* The signature section: decodes it, measures PCR8, verifies the COSE_Sign1 against the
 * certificate's key and the signed PCR0 against the image's. */
void nsmeif_signature_check(nsmeif_image *image);

/* The payload nitro-cli signs for a PCR: serde_cbor's {register_index: i, register_value:
 * [48 integers]}. Returns its length (at most NSMEIF_PCR_PAYLOAD_MAX). */
#define NSMEIF_PCR_PAYLOAD_MAX 160
size_t nsmeif_pcr_payload(unsigned index, const uint8_t value[NSMEIF_PCR_LEN],
                          uint8_t out[NSMEIF_PCR_PAYLOAD_MAX]);

/* Appends a CBOR head (major type, argument) in its shortest form; returns the bytes
 * written (at most 9). */
size_t nsmeif_cbor_head(uint8_t *out, unsigned major, uint64_t value);

/* The SHA-384 of the COSE Sig_structure ["Signature1", {1: -35}, h'', payload]. */
int nsmeif_cose_digest(const uint8_t *payload, size_t len, uint8_t digest[48]);

/* The SigningCertificate object of describe-eif (a jansson json_t *), built from a DER
 * certificate; NULL on failure. */
void *nsmeif_cert_info(const uint8_t *der, size_t len);

/* An EC P-384 private key from PEM (SEC1 or PKCS#8) that matches the certificate's key. */
int nsmeif_load_private_key(const uint8_t *key_pem, size_t key_len, const uint8_t *cert_pem,
                            size_t cert_len, nsmkit_p384_private **out,
                            nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* The signature section nitro-cli writes for PCR0 (owned by the caller). */
int nsmeif_sign_pcr0(const uint8_t pcr0[NSMEIF_PCR_LEN], const uint8_t *cert_pem,
                     size_t cert_len, const nsmkit_p384_private *key,
                     const nsmkit_p384_nonce_source *nonce, uint8_t **out, size_t *out_len,
                     nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_EIF_INTERNAL_H */
