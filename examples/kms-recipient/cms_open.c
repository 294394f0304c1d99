/* SPDX-License-Identifier: Apache-2.0 */
/* Opening CiphertextForRecipient (see cms_open.h). */
#include "cms_open.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define CEK_LEN 32
#define IV_LEN 16
#define CONTENT_MAX (1u << 20)

/* The DER of the identifiers the form must carry (RFC 5652, RFC 4055, NIST's AES arc). */
static const uint8_t oid_enveloped_data[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03};
static const uint8_t oid_data[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
static const uint8_t oid_aes256_cbc[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a};
/* rsaesOaep { hashFunc [0] sha256 (NULL), maskGenFunc [1] mgf1 { sha256 (NULL) } } */
static const uint8_t alg_oaep_sha256[] = {
    0x30, 0x3c, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07, 0x30, 0x2f,
    0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
    0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    0x05, 0x00,
};

typedef struct {
    const uint8_t *p;
    size_t len;
} reader;

typedef struct {
    char *msg;
    size_t size;
} failure;

static int fail(failure *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(failure *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg, f->size, fmt, ap);
    va_end(ap);
    return -1;
}

/* tag, then a definite length in the shortest form; *content is the value. */
static bool definite(reader *r, uint8_t tag, reader *content)
{
    if (r->len < 2 || r->p[0] != tag || r->p[1] == 0x80)
        return false;
    size_t at = 2, n = r->p[1];
    if (n > 0x80) {
        size_t bytes = n - 0x80;
        if (bytes > 3 || r->len < 2 + bytes || r->p[2] == 0)
            return false;
        n = 0;
        for (size_t i = 0; i < bytes; i++)
            n = n << 8 | r->p[at++];
        if (n < 0x80)
            return false;
    }
    if (n > r->len - at)
        return false;
    content->p = r->p + at;
    content->len = n;
    r->p += at + n;
    r->len -= at + n;
    return true;
}

/* tag with the indefinite length: 80. */
static bool indefinite(reader *r, uint8_t tag)
{
    if (r->len < 2 || r->p[0] != tag || r->p[1] != 0x80)
        return false;
    r->p += 2;
    r->len -= 2;
    return true;
}

static bool end_of_contents(reader *r)
{
    if (r->len < 2 || r->p[0] != 0 || r->p[1] != 0)
        return false;
    r->p += 2;
    r->len -= 2;
    return true;
}

static bool value_is(reader *r, uint8_t tag, const uint8_t *want, size_t want_len)
{
    reader v;
    return definite(r, tag, &v) && v.len == want_len && memcmp(v.p, want, want_len) == 0;
}

/* The one KeyTransRecipientInfo: version 2, [0] SHA-256(SPKI), RSAES-OAEP-SHA256; *wrapped is
 * the encrypted content-encryption key. */
static int recipient(reader *r, const uint8_t ski[32], reader *wrapped, failure *f)
{
    static const uint8_t two[] = {0x02};
    reader set, ktri, rid;
    if (!definite(r, 0x31, &set))
        return fail(f, "recipientInfos is not a definite-length SET");
    if (!definite(&set, 0x30, &ktri) || set.len != 0)
        return fail(f, "recipientInfos does not hold exactly one KeyTransRecipientInfo");
    if (!value_is(&ktri, 0x02, two, 1))
        return fail(f, "KeyTransRecipientInfo is not version 2");
    if (!definite(&ktri, 0x80, &rid) || rid.len != 32)
        return fail(f, "the recipient is not named by a 32-byte [0] subjectKeyIdentifier");
    if (memcmp(rid.p, ski, 32) != 0)
        return fail(f, "the subjectKeyIdentifier is not the SHA-256 of this enclave's key");
    if (ktri.len < sizeof(alg_oaep_sha256) ||
        memcmp(ktri.p, alg_oaep_sha256, sizeof(alg_oaep_sha256)) != 0)
        return fail(f, "key encryption is not RSAES-OAEP with explicit SHA-256/MGF1-SHA-256");
    ktri.p += sizeof(alg_oaep_sha256);
    ktri.len -= sizeof(alg_oaep_sha256);
    if (!definite(&ktri, 0x04, wrapped) || ktri.len != 0)
        return fail(f, "no encrypted key, or bytes after it");
    return 0;
}

/* EncryptedContentInfo: data, AES-256-CBC with its IV, the ciphertext gathered from its
 * pieces into a new allocation. */
static int encrypted_content(reader *r, uint8_t iv[IV_LEN], uint8_t **ct, size_t *ct_len,
                             failure *f)
{
    reader alg, v;
    if (!indefinite(r, 0x30) || !value_is(r, 0x06, oid_data, sizeof(oid_data)))
        return fail(f, "EncryptedContentInfo is not an indefinite SEQUENCE of type data");
    if (!definite(r, 0x30, &alg) || !value_is(&alg, 0x06, oid_aes256_cbc, sizeof(oid_aes256_cbc)) ||
        !definite(&alg, 0x04, &v) || v.len != IV_LEN || alg.len != 0)
        return fail(f, "content encryption is not AES-256-CBC with a 16-byte IV");
    memcpy(iv, v.p, IV_LEN);
    *ct = malloc(r->len > 0 ? r->len : 1);
    *ct_len = 0;
    if (*ct == NULL)
        return fail(f, "out of memory");
    if (r->len > 0 && r->p[0] == 0x80) { /* primitive [0] */
        if (!definite(r, 0x80, &v))
            return fail(f, "the [0] encrypted content is malformed");
        memcpy(*ct, v.p, v.len);
        *ct_len = v.len;
    } else {
        if (!indefinite(r, 0xa0))
            return fail(f, "the encrypted content is neither [0] nor an indefinite [0]");
        while (r->len > 0 && r->p[0] == 0x04) {
            if (!definite(r, 0x04, &v))
                return fail(f, "a piece of the encrypted content is malformed");
            memcpy(*ct + *ct_len, v.p, v.len);
            *ct_len += v.len;
        }
        if (!end_of_contents(r))
            return fail(f, "the encrypted content does not end with end-of-contents");
    }
    if (!end_of_contents(r))
        return fail(f, "EncryptedContentInfo does not end with end-of-contents");
    if (*ct_len == 0 || *ct_len % 16 != 0 || *ct_len > CONTENT_MAX)
        return fail(f, "the encrypted content is not whole AES blocks");
    return 0;
}

static int spki_sha256(EVP_PKEY *key, uint8_t out[32], failure *f)
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    unsigned int n = 0;
    int ok = len > 0 && EVP_Digest(der, (size_t)len, out, &n, EVP_sha256(), NULL) == 1;
    OPENSSL_free(der);
    return ok ? 0 : fail(f, "cannot encode the enclave's public key");
}

static int oaep_decrypt(EVP_PKEY *key, reader wrapped, uint8_t cek[CEK_LEN], failure *f)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    uint8_t out[1024];
    size_t n = sizeof(out);
    int ok = ctx != NULL && EVP_PKEY_decrypt_init(ctx) > 0 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) > 0 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0 &&
             wrapped.len <= sizeof(out) &&
             EVP_PKEY_decrypt(ctx, out, &n, wrapped.p, wrapped.len) > 0 && n == CEK_LEN;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    if (ok)
        memcpy(cek, out, CEK_LEN);
    OPENSSL_cleanse(out, sizeof(out));
    return ok ? 0 : fail(f, "RSAES-OAEP decryption of the content key failed");
}

static int cbc_decrypt(const uint8_t cek[CEK_LEN], const uint8_t iv[IV_LEN], const uint8_t *ct,
                       size_t ct_len, uint8_t **out, size_t *out_len, failure *f)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    *out = malloc(ct_len);
    int ok = ctx != NULL && *out != NULL &&
             EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, cek, iv) == 1 &&
             EVP_DecryptUpdate(ctx, *out, &n1, ct, (int)ct_len) == 1 &&
             EVP_DecryptFinal_ex(ctx, *out + n1, &n2) == 1;
    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();
    if (!ok) {
        free(*out);
        *out = NULL;
        return fail(f, "AES-256-CBC decryption failed (wrong key or padding)");
    }
    *out_len = (size_t)n1 + (size_t)n2;
    return 0;
}

/* Everything up to the EncryptedContentInfo. */
static int envelope_head(reader *r, const uint8_t ski[32], reader *wrapped, failure *f)
{
    static const uint8_t two[] = {0x02};
    if (!indefinite(r, 0x30))
        return fail(f, "not BER with an indefinite-length ContentInfo (KMS's blobs start 30 80)");
    if (!value_is(r, 0x06, oid_enveloped_data, sizeof(oid_enveloped_data)))
        return fail(f, "the content type is not envelopedData");
    if (!indefinite(r, 0xa0) || !indefinite(r, 0x30))
        return fail(f, "the EnvelopedData is not indefinite-length");
    if (!value_is(r, 0x02, two, 1))
        return fail(f, "EnvelopedData is not version 2");
    return recipient(r, ski, wrapped, f);
}

int cms_open(const uint8_t *blob, size_t len, EVP_PKEY *private_key, uint8_t **out,
             size_t *out_len, char *err, size_t err_size)
{
    failure f = {err, err_size};
    reader r = {blob, len}, wrapped;
    uint8_t ski[32], iv[IV_LEN], cek[CEK_LEN], *ct = NULL;
    size_t ct_len = 0;
    int rc = -1;
    *out = NULL;
    if (spki_sha256(private_key, ski, &f) != 0 || envelope_head(&r, ski, &wrapped, &f) != 0 ||
        encrypted_content(&r, iv, &ct, &ct_len, &f) != 0)
        goto done;
    for (int i = 0; i < 3; i++)
        if (!end_of_contents(&r)) {
            fail(&f, "the enclosing structures do not end with end-of-contents");
            goto done;
        }
    if (r.len != 0) {
        fail(&f, "%zu bytes after the ContentInfo", r.len);
        goto done;
    }
    if (oaep_decrypt(private_key, wrapped, cek, &f) == 0)
        rc = cbc_decrypt(cek, iv, ct, ct_len, out, out_len, &f);
    OPENSSL_cleanse(cek, sizeof(cek));
done:
    free(ct);
    return rc;
}
