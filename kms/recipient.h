/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-kms: the Recipient parameter. An attestation document is verified with libnsmverify
 * under the server's root; its PCRs become the request's condition keys and its public_key
 * (a DER SubjectPublicKeyInfo of an RSA key, 2048 to 4096 bits) receives the answer as
 * CiphertextForRecipient, in KMS's own BER form (cms.h).
 */
#ifndef NSMKIT_KMS_RECIPIENT_H
#define NSMKIT_KMS_RECIPIENT_H

#include <stddef.h>
#include <stdint.h>

#include "nsmkit/bytes.h"
#include "nsmkit/error.h"
#include "nsmkit/verify.h"

#include "errors.h"
#include "policy.h"

#define KMS_RECIPIENT_ALGORITHM "RSAES_OAEP_SHA_256"
#define KMS_RSA_BITS_MIN 2048
#define KMS_RSA_BITS_MAX 4096

typedef struct kms_recipient kms_recipient;

/* Verifies doc (aws profile, at time_s in Unix seconds, 0 meaning now) and reads its PCRs
 * and public key. Fails with ATTESTATION_REFUSED naming the verifier's code, or VALIDATION
 * for a document without a usable RSA public key. */
kms_code kms_recipient_from_document(nsmv_verifier *verifier, nsmkit_bytes doc, uint64_t time_s,
                                     kms_recipient **out, kms_error *e);
const kms_claims *kms_recipient_claims(const kms_recipient *recipient);
/* Encrypts secret to the recipient's key as CiphertextForRecipient (cms.h), a new allocation. */
int kms_recipient_seal(const kms_recipient *recipient, nsmkit_bytes secret, uint8_t **out,
                       size_t *out_len, nsmkit_error *e) NSMKIT_WARN_UNUSED;
void kms_recipient_free(kms_recipient *recipient);

#endif /* NSMKIT_KMS_RECIPIENT_H */
