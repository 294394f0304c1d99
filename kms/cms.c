/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms: CiphertextForRecipient written as KMS writes it (see cms.h). */
#include "cms.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "nsmkit/buf.h"

#define CMS_KEY_LEN 32 /* AES-256 */
#define CMS_IV_LEN 16
#define CMS_BLOB_LIMIT (1u << 20)

/* Fixed parts, as DER (the OIDs of RFC 5652, RFC 3560 and NIST's AES arc). */
static const uint8_t oid_enveloped_data[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
                                             0x0d, 0x01, 0x07, 0x03};
static const uint8_t oid_data[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
/* AlgorithmIdentifier { rsaesOaep, RSAES-OAEP-params { [0] sha256, [1] mgf1(sha256) } },
 * the hash identifiers with NULL parameters, as KMS writes them. */
static const uint8_t alg_rsaes_oaep_sha256[] = {
    0x30, 0x3c, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07,
    0x30, 0x2f,
    0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08,
    0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
};
/* SEQUENCE { aes256-CBC, OCTET STRING (16) }: the IV follows. */
static const uint8_t alg_aes256_cbc_head[] = {0x30, 0x1d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                              0x65, 0x03, 0x04, 0x01, 0x2a, 0x04, 0x10};
static const uint8_t indefinite_content_info[] = {0x30, 0x80};
static const uint8_t indefinite_explicit0[] = {0xa0, 0x80};
static const uint8_t version2[] = {0x02, 0x01, 0x02};
static const uint8_t end_of_contents[] = {0x00, 0x00};

/* A DER tag and definite length in the shortest form. */
static void der_head(nsmkit_buf *b, uint8_t tag, size_t len)
{
    nsmkit_buf_u8(b, tag);
    if (len < 0x80) {
        nsmkit_buf_u8(b, (uint8_t)len);
        return;
    }
    uint8_t bytes[sizeof(size_t)];
    size_t n = 0;
    for (size_t v = len; v != 0; v >>= 8)
        bytes[n++] = (uint8_t)v;
    nsmkit_buf_u8(b, (uint8_t)(0x80 | n));
    while (n > 0)
        nsmkit_buf_u8(b, bytes[--n]);
}

static size_t der_head_len(size_t len)
{
    size_t n = 2;
    if (len >= 0x80)
        for (size_t v = len; v != 0; v >>= 8)
            n++;
    return n;
}

/* A message with OpenSSL's first queued error. */
static int openssl_fail(nsmkit_error *e, const char *what)
{
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
    ERR_clear_error();
    return nsmkit_fail(e, "%s (%s)", what, reason);
}

/* RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label: *out is a new allocation. */
static int oaep_encrypt(EVP_PKEY *key, const uint8_t *in, size_t in_len, uint8_t **out,
                        size_t *out_len, nsmkit_error *e)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL); /* owned */
    size_t len = 0;
    int rc = -1;
    *out = NULL;
    if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) <= 0 ||
        EVP_PKEY_encrypt(ctx, NULL, &len, in, in_len) <= 0) {
        openssl_fail(e, "cannot set up RSAES-OAEP-SHA256");
        goto done;
    }
    *out = malloc(len);
    if (*out == NULL) {
        nsmkit_fail(e, "out of memory");
        goto done;
    }
    if (EVP_PKEY_encrypt(ctx, *out, &len, in, in_len) <= 0) {
        free(*out);
        *out = NULL;
        openssl_fail(e, "RSAES-OAEP encryption failed");
        goto done;
    }
    *out_len = len;
    rc = 0;
done:
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* AES-256-CBC with PKCS#7 padding: *out is a new allocation. */
static int cbc_encrypt(const uint8_t key[CMS_KEY_LEN], const uint8_t iv[CMS_IV_LEN],
                       nsmkit_bytes in, uint8_t **out, size_t *out_len, nsmkit_error *e)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new(); /* owned */
    int n1 = 0, n2 = 0, rc = -1;
    *out = in.len <= CMS_BLOB_LIMIT ? malloc(in.len + CMS_IV_LEN) : NULL;
    if (ctx == NULL || *out == NULL) {
        nsmkit_fail(e, "out of memory or content too long");
        goto done;
    }
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv) != 1 ||
        EVP_EncryptUpdate(ctx, *out, &n1, in.ptr != NULL ? in.ptr : (const uint8_t *)"",
                          (int)in.len) != 1 ||
        EVP_EncryptFinal_ex(ctx, *out + n1, &n2) != 1) {
        openssl_fail(e, "AES-256-CBC failed");
        goto done;
    }
    *out_len = (size_t)n1 + (size_t)n2;
    rc = 0;
done:
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* The recipientInfos SET (definite-length DER). */
static void write_recipient_infos(nsmkit_buf *b, const uint8_t ski[KMS_CMS_SKI_LEN],
                                  const uint8_t *wrapped, size_t wrapped_len)
{
    size_t ktri_len = sizeof(version2) + 2 + KMS_CMS_SKI_LEN + sizeof(alg_rsaes_oaep_sha256) +
                      der_head_len(wrapped_len) + wrapped_len;
    der_head(b, 0x31, der_head_len(ktri_len) + ktri_len);
    der_head(b, 0x30, ktri_len);
    nsmkit_buf_append(b, version2, sizeof(version2));
    der_head(b, 0x80, KMS_CMS_SKI_LEN); /* rid [0] IMPLICIT SubjectKeyIdentifier */
    nsmkit_buf_append(b, ski, KMS_CMS_SKI_LEN);
    nsmkit_buf_append(b, alg_rsaes_oaep_sha256, sizeof(alg_rsaes_oaep_sha256));
    der_head(b, 0x04, wrapped_len);
    nsmkit_buf_append(b, wrapped, wrapped_len);
}

/* The EncryptedContentInfo (indefinite), the ciphertext in pieces. */
static void write_encrypted_content(nsmkit_buf *b, const uint8_t iv[CMS_IV_LEN],
                                    const uint8_t *ct, size_t ct_len)
{
    nsmkit_buf_append(b, indefinite_content_info, sizeof(indefinite_content_info));
    nsmkit_buf_append(b, oid_data, sizeof(oid_data));
    nsmkit_buf_append(b, alg_aes256_cbc_head, sizeof(alg_aes256_cbc_head));
    nsmkit_buf_append(b, iv, CMS_IV_LEN);
    nsmkit_buf_append(b, indefinite_explicit0, sizeof(indefinite_explicit0));
    for (size_t at = 0; at < ct_len; at += KMS_CMS_CHUNK) {
        size_t n = ct_len - at < KMS_CMS_CHUNK ? ct_len - at : KMS_CMS_CHUNK;
        der_head(b, 0x04, n);
        nsmkit_buf_append(b, ct + at, n);
    }
    nsmkit_buf_append(b, end_of_contents, sizeof(end_of_contents)); /* [0] */
    nsmkit_buf_append(b, end_of_contents, sizeof(end_of_contents)); /* EncryptedContentInfo */
}

int kms_cms_seal(EVP_PKEY *key, nsmkit_bytes spki, nsmkit_bytes secret, uint8_t **out,
                 size_t *out_len, nsmkit_error *e)
{
    uint8_t cek[CMS_KEY_LEN], iv[CMS_IV_LEN], ski[KMS_CMS_SKI_LEN];
    uint8_t *wrapped = NULL, *ct = NULL; /* owned */
    size_t wrapped_len = 0, ct_len = 0;
    unsigned int ski_len = 0;
    nsmkit_buf b;
    nsmkit_buf_init(&b, CMS_BLOB_LIMIT * 2);
    int rc = -1;
    if (RAND_bytes(cek, sizeof(cek)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1) {
        nsmkit_fail(e, "no random bytes");
        goto done;
    }
    if (EVP_Digest(spki.ptr, spki.len, ski, &ski_len, EVP_sha256(), NULL) != 1) {
        openssl_fail(e, "SHA-256 failed");
        goto done;
    }
    if (oaep_encrypt(key, cek, sizeof(cek), &wrapped, &wrapped_len, e) != 0 ||
        cbc_encrypt(cek, iv, secret, &ct, &ct_len, e) != 0)
        goto done;
    nsmkit_buf_append(&b, indefinite_content_info, sizeof(indefinite_content_info));
    nsmkit_buf_append(&b, oid_enveloped_data, sizeof(oid_enveloped_data));
    nsmkit_buf_append(&b, indefinite_explicit0, sizeof(indefinite_explicit0));
    nsmkit_buf_append(&b, indefinite_content_info, sizeof(indefinite_content_info));
    nsmkit_buf_append(&b, version2, sizeof(version2));
    write_recipient_infos(&b, ski, wrapped, wrapped_len);
    write_encrypted_content(&b, iv, ct, ct_len);
    nsmkit_buf_append(&b, end_of_contents, sizeof(end_of_contents)); /* EnvelopedData */
    nsmkit_buf_append(&b, end_of_contents, sizeof(end_of_contents)); /* [0] */
    nsmkit_buf_append(&b, end_of_contents, sizeof(end_of_contents)); /* ContentInfo */
    if (b.err) {
        nsmkit_fail(e, "out of memory");
        goto done;
    }
    *out = b.data; /* the caller owns the buffer now */
    *out_len = b.len;
    b.data = NULL;
    rc = 0;
done:
    nsmkit_wipe(cek, sizeof(cek));
    free(wrapped);
    free(ct);
    nsmkit_buf_free(&b);
    return rc;
}
