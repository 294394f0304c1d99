/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-kms: CiphertextBlob, the authenticated form of everything Encrypt and GenerateDataKey
 * hand out. Layout (all of it authenticated):
 *
 *   "NKMS" | version 0x01 | key id (36 ASCII characters, a UUID) | IV (12) | ciphertext | tag (16)
 *
 * AES-256-GCM under the key's 32-byte material; the additional data is the header (magic,
 * version, key id) followed by the caller's context bytes (the canonical encryption
 * context), so a blob whose key id was rewritten, that was sealed under another key or
 * context, or that has any bit flipped does not open.
 */
#ifndef NSMKIT_KMS_BLOB_H
#define NSMKIT_KMS_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "nsmkit/bytes.h"
#include "nsmkit/error.h"

#define KMS_KEY_ID_LEN 36        /* 8-4-4-4-12 hex digits */
#define KMS_KEY_MATERIAL_LEN 32  /* AES-256 */
#define KMS_BLOB_MAGIC "NKMS"
#define KMS_BLOB_VERSION 1
#define KMS_BLOB_IV_LEN 12
#define KMS_BLOB_TAG_LEN 16
#define KMS_BLOB_HEADER_LEN (4 + 1 + KMS_KEY_ID_LEN)
#define KMS_BLOB_OVERHEAD (KMS_BLOB_HEADER_LEN + KMS_BLOB_IV_LEN + KMS_BLOB_TAG_LEN)
/* KMS's own limits: Plaintext up to 4096 bytes, CiphertextBlob up to 6144. */
#define KMS_PLAINTEXT_MAX 4096
#define KMS_BLOB_MAX 6144

/* Seals plaintext (at most KMS_PLAINTEXT_MAX bytes) into a new allocation (caller frees). */
int kms_blob_seal(const uint8_t material[KMS_KEY_MATERIAL_LEN], const char *key_id,
                  nsmkit_bytes context, nsmkit_bytes plaintext, uint8_t **out, size_t *out_len,
                  nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Reads the key id a blob names (NUL-terminated into key_id) without authenticating it:
 * the caller then looks the key up and opens the blob with it. Fails on a blob too short
 * or too long, with another magic or version, or whose key id is not UUID-shaped. */
int kms_blob_key_id(nsmkit_bytes blob, char key_id[KMS_KEY_ID_LEN + 1],
                    nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Authenticates and decrypts a blob into a new allocation (caller frees and wipes). Every
 * failure is the same to the client (InvalidCiphertextException); e says which. */
int kms_blob_open(const uint8_t material[KMS_KEY_MATERIAL_LEN], nsmkit_bytes blob,
                  nsmkit_bytes context, uint8_t **out, size_t *out_len,
                  nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* True for a lower-case UUID of the 8-4-4-4-12 shape. */
int kms_key_id_valid(const char *text, size_t len);

#endif /* NSMKIT_KMS_BLOB_H */
