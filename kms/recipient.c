/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms: attestation documents in, CiphertextForRecipient out (see recipient.h). */
#include "recipient.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "nsmkit/hex.h"
/* nsmv_claims: the claims are read by the verifier's own parser, after nsmv_verify
 * accepted the document. */
#include "nsmkit/verify.h"

#include "cms.h"

struct kms_recipient {
    EVP_PKEY *key;     /* owned: the document's public key */
    uint8_t *spki;     /* owned: its DER SubjectPublicKeyInfo, as the document carries it */
    size_t spki_len;
    kms_claims claims;
};

void kms_recipient_free(kms_recipient *recipient)
{
    if (recipient == NULL)
        return;
    EVP_PKEY_free(recipient->key);
    free(recipient->spki);
    free(recipient);
}

const kms_claims *kms_recipient_claims(const kms_recipient *recipient)
{
    return &recipient->claims;
}

/* The document's public_key: one DER SubjectPublicKeyInfo of an RSA key of an allowed size,
 * nothing after it. Its bytes are kept verbatim: their SHA-256 names the recipient. */
static kms_code recipient_key(const uint8_t *der, size_t len, kms_recipient *r, kms_error *e)
{
    const unsigned char *p = der;
    EVP_PKEY *key = len > 0 && len <= NSMV_FIELD_MAX ? d2i_PUBKEY(NULL, &p, (long)len) : NULL;
    ERR_clear_error();
    if (key == NULL || p != der + len) {
        EVP_PKEY_free(key);
        return kms_fail(e, KMS_ERR_VALIDATION,
                        "the document's public_key is not one DER SubjectPublicKeyInfo");
    }
    int bits = EVP_PKEY_get_bits(key);
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || bits < KMS_RSA_BITS_MIN ||
        bits > KMS_RSA_BITS_MAX) {
        EVP_PKEY_free(key);
        return kms_fail(e, KMS_ERR_VALIDATION,
                        "the document's public_key is not an RSA key of %d to %d bits, as "
                        "RSAES_OAEP_SHA_256 needs", KMS_RSA_BITS_MIN, KMS_RSA_BITS_MAX);
    }
    r->spki = malloc(len);
    if (r->spki == NULL) {
        EVP_PKEY_free(key);
        return kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    }
    memcpy(r->spki, der, len);
    r->spki_len = len;
    r->key = key;
    return KMS_ERR_OK;
}

/* Reads PCRs and the public key of a document nsmv_verify has accepted. */
static kms_code read_claims(nsmkit_bytes doc, kms_recipient *r, kms_error *e)
{
    nsmv_claims *claims = NULL;
    kms_code code = KMS_ERR_INTERNAL;
    if (nsmv_claims_read(doc.ptr, doc.len, &claims) != NSMV_OK) {
        kms_fail(e, KMS_ERR_INTERNAL, "a verified document did not decode again");
        goto done;
    }
    nsmv_kind kind = nsmv_claims_kind(claims);
    if (kind != NSMV_KIND_NSM && kind != NSMV_KIND_NITROTPM) {
        code = kms_fail(e, KMS_ERR_ATTESTATION_REFUSED,
                        "the attestation document is neither an enclave's nor a NitroTPM's (%s)",
                        nsmv_kind_name(kind));
        goto done;
    }
    r->claims.attested = true;
    r->claims.nitrotpm = kind == NSMV_KIND_NITROTPM; /* its PCRs are NitroTPMPCR<n> keys */
    for (unsigned index = 0; index < KMS_PCR_COUNT; index++) {
        const uint8_t *value = nsmv_claims_pcr(claims, index);
        r->claims.pcr_present[index] = value != NULL;
        if (value)
            nsmkit_hex_encode(value, NSMV_PCR_LEN, r->claims.pcr_hex[index]);
    }
    const uint8_t *key_der = NULL;
    size_t key_len = 0;
    if (!nsmv_claims_public_key(claims, &key_der, &key_len) || key_len == 0) {
        code = kms_fail(e, KMS_ERR_VALIDATION,
                        "the attestation document carries no public_key to encrypt to");
        goto done;
    }
    code = recipient_key(key_der, key_len, r, e);

done:
    nsmv_claims_free(claims);
    return code;
}

kms_code kms_recipient_from_document(nsmv_verifier *verifier, nsmkit_bytes doc, uint64_t time_s,
                                     kms_recipient **out, kms_error *e)
{
    nsmv_options options;
    nsmv_options_init(&options);
    if (time_s != 0) {
        options.time_mode = NSMV_TIME_FIXED;
        options.time_s = time_s;
    }
    nsmv_result result;
    if (nsmv_verify(verifier, doc.ptr, doc.len, &options, &result) != NSMV_OK) {
        const char *detail = result.failure_count > 0 ? result.failures[0].detail : "";
        return kms_fail(e, KMS_ERR_ATTESTATION_REFUSED,
                        "the attestation document failed verification: %d %s (%s stage): %s%s%s",
                        (int)result.code, nsmv_code_name(result.code),
                        nsmv_stage_name(nsmv_code_stage(result.code)),
                        nsmv_code_sentence(result.code), detail[0] != '\0' ? ": " : "", detail);
    }
    kms_recipient *r = calloc(1, sizeof(*r)); /* owned until returned */
    if (r == NULL)
        return kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    kms_code code = read_claims(doc, r, e);
    if (code != KMS_ERR_OK) {
        kms_recipient_free(r);
        return code;
    }
    *out = r;
    return KMS_ERR_OK;
}

int kms_recipient_seal(const kms_recipient *recipient, nsmkit_bytes secret, uint8_t **out,
                       size_t *out_len, nsmkit_error *e)
{
    return kms_cms_seal(recipient->key, nsmkit_bytes_of(recipient->spki, recipient->spki_len),
                        secret, out, out_len, e);
}
