/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms: CiphertextBlob sealing and opening (see blob.h for the layout). */
#include "blob.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

int kms_key_id_valid(const char *text, size_t len)
{
    if (len != KMS_KEY_ID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

static void blob_header(const char *key_id, uint8_t out[KMS_BLOB_HEADER_LEN])
{
    memcpy(out, KMS_BLOB_MAGIC, 4);
    out[4] = KMS_BLOB_VERSION;
    memcpy(out + 5, key_id, KMS_KEY_ID_LEN);
}

/* One GCM pass: encrypt (enc = 1) or decrypt and check the tag (enc = 0). in and out may
 * not overlap. */
static int gcm_run(int enc, const uint8_t material[KMS_KEY_MATERIAL_LEN], const uint8_t *iv,
                   const uint8_t *header, nsmkit_bytes context, const uint8_t *in, size_t len,
                   uint8_t *out, uint8_t tag[KMS_BLOB_TAG_LEN], nsmkit_error *e)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new(); /* owned */
    int ok = 0, n = 0;
    if (ctx == NULL)
        return nsmkit_fail(e, "out of memory");
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, KMS_BLOB_IV_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, material, iv, enc) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &n, header, KMS_BLOB_HEADER_LEN) != 1 ||
        (context.len > 0 &&
         EVP_CipherUpdate(ctx, NULL, &n, context.ptr, (int)context.len) != 1) ||
        (len > 0 && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)) {
        nsmkit_fail(e, "AES-256-GCM failed");
        goto done;
    }
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KMS_BLOB_TAG_LEN, tag) != 1) {
        nsmkit_fail(e, "AES-256-GCM failed");
        goto done;
    }
    if (EVP_CipherFinal_ex(ctx, out + (len > 0 ? n : 0), &n) != 1) {
        nsmkit_fail(e, "the ciphertext does not authenticate");
        goto done;
    }
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KMS_BLOB_TAG_LEN, tag) != 1) {
        nsmkit_fail(e, "AES-256-GCM failed");
        goto done;
    }
    ok = 1;
done:
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

int kms_blob_seal(const uint8_t material[KMS_KEY_MATERIAL_LEN], const char *key_id,
                  nsmkit_bytes context, nsmkit_bytes plaintext, uint8_t **out, size_t *out_len,
                  nsmkit_error *e)
{
    if (key_id == NULL || !kms_key_id_valid(key_id, strlen(key_id)))
        return nsmkit_fail(e, "not a key id");
    if (plaintext.len > KMS_PLAINTEXT_MAX)
        return nsmkit_fail(e, "plaintext over %d bytes", KMS_PLAINTEXT_MAX);
    if (context.len > INT32_MAX)
        return nsmkit_fail(e, "encryption context too large");
    size_t total = KMS_BLOB_OVERHEAD + plaintext.len;
    uint8_t *blob = malloc(total); /* owned until returned */
    if (blob == NULL)
        return nsmkit_fail(e, "out of memory");
    blob_header(key_id, blob);
    uint8_t *iv = blob + KMS_BLOB_HEADER_LEN;
    uint8_t *body = iv + KMS_BLOB_IV_LEN;
    uint8_t *tag = body + plaintext.len;
    if (RAND_bytes(iv, KMS_BLOB_IV_LEN) != 1) {
        free(blob);
        return nsmkit_fail(e, "no random bytes for the IV");
    }
    if (gcm_run(1, material, iv, blob, context, plaintext.ptr, plaintext.len, body, tag, e) != 0) {
        free(blob);
        return -1;
    }
    *out = blob;
    *out_len = total;
    return 0;
}

int kms_blob_key_id(nsmkit_bytes blob, char key_id[KMS_KEY_ID_LEN + 1], nsmkit_error *e)
{
    if (blob.len < KMS_BLOB_OVERHEAD)
        return nsmkit_fail(e, "the ciphertext is %zu bytes, shorter than any blob", blob.len);
    if (blob.len > KMS_BLOB_MAX)
        return nsmkit_fail(e, "the ciphertext is over %d bytes", KMS_BLOB_MAX);
    if (memcmp(blob.ptr, KMS_BLOB_MAGIC, 4) != 0 || blob.ptr[4] != KMS_BLOB_VERSION)
        return nsmkit_fail(e, "the ciphertext is not an nsm-kms blob");
    const char *id = (const char *)blob.ptr + 5;
    if (!kms_key_id_valid(id, KMS_KEY_ID_LEN))
        return nsmkit_fail(e, "the ciphertext names no valid key id");
    memcpy(key_id, id, KMS_KEY_ID_LEN);
    key_id[KMS_KEY_ID_LEN] = '\0';
    return 0;
}

int kms_blob_open(const uint8_t material[KMS_KEY_MATERIAL_LEN], nsmkit_bytes blob,
                  nsmkit_bytes context, uint8_t **out, size_t *out_len, nsmkit_error *e)
{
    char key_id[KMS_KEY_ID_LEN + 1];
    if (kms_blob_key_id(blob, key_id, e) != 0)
        return -1;
    if (context.len > INT32_MAX)
        return nsmkit_fail(e, "encryption context too large");
    size_t len = blob.len - KMS_BLOB_OVERHEAD;
    const uint8_t *iv = blob.ptr + KMS_BLOB_HEADER_LEN;
    const uint8_t *body = iv + KMS_BLOB_IV_LEN;
    uint8_t tag[KMS_BLOB_TAG_LEN];
    memcpy(tag, body + len, KMS_BLOB_TAG_LEN);
    /* one spare byte so that an empty plaintext still has an allocation */
    uint8_t *plain = malloc(len + 1); /* owned until returned */
    if (plain == NULL)
        return nsmkit_fail(e, "out of memory");
    if (gcm_run(0, material, iv, blob.ptr, context, body, len, plain, tag, e) != 0) {
        nsmkit_wipe(plain, len + 1);
        free(plain);
        return -1;
    }
    *out = plain;
    *out_len = len;
    return 0;
}
