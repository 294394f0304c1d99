/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-kms: key policies in AWS's JSON policy language, the subset that decides key release
 * to an enclave:
 *
 *   { "Version": "2012-10-17", "Id": "...",
 *     "Statement": [ { "Sid": "...", "Effect": "Allow" | "Deny",
 *                      "Principal": ..., "Resource": ...,          (accepted, not modelled)
 *                      "Action": "kms:Decrypt" | ["kms:*", ...],     (* and ? wildcards)
 *                      "Condition": { "StringEqualsIgnoreCase": {
 *                          "kms:RecipientAttestation:PCR0": "<hex>" | ["<hex>", ...] } } } ] }
 *
 * Condition operators: StringEquals, StringEqualsIgnoreCase, and both with the IfExists
 * suffix. Condition keys: kms:RecipientAttestation:ImageSha384 (= PCR0) and
 * kms:RecipientAttestation:PCR0..PCR31 for an enclave's document,
 * kms:RecipientAttestation:NitroTPMPCR0..NitroTPMPCR31 for a NitroTPM's, as lower-case hex of
 * the document's PCR (a key of the other kind is absent from the request); any other
 * key is accepted and, as in IAM, absent from every request (so its condition fails unless
 * IfExists). Operators AND, keys AND, values OR. A Deny that matches wins over any Allow;
 * without a matching Allow the request is denied. A request without Recipient carries no
 * attestation keys. NotAction, NotResource and NotPrincipal are refused.
 */
#ifndef NSMKIT_KMS_POLICY_H
#define NSMKIT_KMS_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "nsmkit/error.h"

#define KMS_POLICY_MAX 32768 /* KMS's limit on a key policy, in bytes */
#define KMS_PCR_COUNT 32
#define KMS_PCR_HEX_LEN 96   /* a SHA-384 PCR as hex */

/* What a request carries for conditions: the PCRs of a verified attestation document. */
typedef struct {
    bool attested;                               /* the request had a Recipient */
    bool nitrotpm;                               /* ... from a NitroTPM: NitroTPMPCR<n> keys */
    bool pcr_present[KMS_PCR_COUNT];
    char pcr_hex[KMS_PCR_COUNT][KMS_PCR_HEX_LEN + 1]; /* lower case */
} kms_claims;

#define KMS_REASON_MAX 1024

typedef struct {
    bool allowed;
    bool explicit_deny;          /* a Deny statement decided */
    char reason[KMS_REASON_MAX]; /* which statement decided, or why nothing allowed: the
                                    first Allow for the action whose condition failed, which
                                    condition and the values on both sides */
} kms_decision;

/* Checks that text is a policy nsm-kms can evaluate; e says what is wrong. */
int kms_policy_validate(const char *text, size_t len, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Evaluates a (validated) policy for action ("kms:Decrypt") with the request's claims.
 * A policy that does not parse denies. */
void kms_policy_evaluate(const char *text, size_t len, const char *action,
                         const kms_claims *claims, kms_decision *out);

/* The policy CreateKey gives a key without one: KMS's default, every kms: action for the
 * account. Written into out (NUL-terminated); returns its length. */
size_t kms_policy_default(const char *account, char *out, size_t out_size);

/* Case-insensitive glob with * and ? (IAM action matching). */
bool kms_glob_match(const char *pattern, const char *text);

#endif /* NSMKIT_KMS_POLICY_H */
