/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening AWS KMS's CiphertextForRecipient inside an enclave: a strict reader of the one
 * form KMS emits (BER, indefinite lengths outside, EnvelopedData v2, one
 * KeyTransRecipientInfo v2 named by the SHA-256 of the recipient's DER SubjectPublicKeyInfo,
 * RSAES-OAEP with explicit SHA-256/MGF1-SHA-256 parameters, AES-256-CBC), then RSA-OAEP and
 * AES-256-CBC decryption with OpenSSL.
 *
 * It refuses what AWS's enclave SDK (aws-nitro-enclaves-sdk-c) refuses: definite-length
 * outer structures, another EnvelopedData or recipient version, a recipient set that is not
 * definite-length, a content cipher other than AES-256-CBC; and, as edgebit's enclaver does,
 * RSAES-OAEP without explicit SHA-256 parameters. It also checks that the recipient
 * identifier is the SHA-256 of the caller's own public key.
 *
 * Copy cms_open.c and this header into an enclave application; it needs libcrypto only.
 */
#ifndef KMS_EXAMPLE_CMS_OPEN_H
#define KMS_EXAMPLE_CMS_OPEN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* Decrypts blob with the enclave's RSA private key. On success *out is a new allocation
 * (free it) and 0 is returned; otherwise -1 and err says what was wrong. */
int cms_open(const uint8_t *blob, size_t len, EVP_PKEY *private_key, uint8_t **out,
             size_t *out_len, char *err, size_t err_size);

#endif /* KMS_EXAMPLE_CMS_OPEN_H */
