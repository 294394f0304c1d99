/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-kms: CiphertextForRecipient, byte for byte in the form AWS KMS emits (NSM-FACTS 11):
 *
 *   30 80                                   ContentInfo, indefinite length
 *     06 09 2a864886f70d010703              envelopedData
 *     a0 80                                 [0] EXPLICIT, indefinite
 *       30 80                               EnvelopedData, indefinite
 *         02 01 02                          version 2
 *         31 ..                             recipientInfos: definite-length DER
 *           30 .. KeyTransRecipientInfo
 *             02 01 02                      version 2
 *             80 20 <32 bytes>              rid [0] subjectKeyIdentifier = SHA-256(DER SPKI)
 *             30 3c rsaesOaep { [0] sha256 (NULL params), [1] mgf1 { sha256 (NULL) } }
 *             04 .. <encrypted key>         RSAES-OAEP of the 32-byte AES key
 *         30 80                             EncryptedContentInfo, indefinite
 *           06 09 2a864886f70d010701        data
 *           30 1d 06 09 aes-256-cbc 04 10 <IV>
 *           a0 80                           [0] IMPLICIT OCTET STRING, constructed, indefinite
 *             04 .. <up to 1000 bytes>      the ciphertext (PKCS#7 padded) in pieces
 *           00 00
 *         00 00  00 00  00 00  00 00        the four enclosing end-of-contents
 *
 * The content is the secret's raw bytes. Definite lengths inside are DER (shortest form).
 * AWS's enclave SDK reads exactly this: the outer structures must be indefinite (it steps
 * into them header by header), the recipient set definite. Pieces of 1000 bytes are the
 * CER rule; one public capture of a 32-byte key has a single piece, as here.
 */
#ifndef NSMKIT_KMS_CMS_H
#define NSMKIT_KMS_CMS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "nsmkit/bytes.h"
#include "nsmkit/error.h"

#define KMS_CMS_CHUNK 1000          /* bytes of ciphertext per OCTET STRING piece */
#define KMS_CMS_SKI_LEN 32          /* SHA-256 */

/* Encrypts secret to key (an RSA public key) whose DER SubjectPublicKeyInfo is spki; the
 * blob is a new allocation the caller frees. */
int kms_cms_seal(EVP_PKEY *key, nsmkit_bytes spki, nsmkit_bytes secret, uint8_t **out,
                 size_t *out_len, nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_KMS_CMS_H */
