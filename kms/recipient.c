/* nsm-kms: attestation documents in, CiphertextForRecipient out (see recipient.h). */
#include "recipient.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "nsmkit/buf.h"
#include "nsmkit/hex.h"
/* nsmv_claims: the claims are read by the verifier's own parser, after nsmv_verify
 * accepted the document. */
#include "nsmkit/verify.h"

struct kms_recipient {
    X509 *carrier;  /* owned: a certificate that only carries the document's key (below) */
    EVP_PKEY *key;  /* borrowed from carrier: the document's public key */
    kms_claims claims;
};

void kms_recipient_free(kms_recipient *recipient)
{
    if (recipient == NULL)
        return;
    X509_free(recipient->carrier);
    free(recipient);
}

const kms_claims *kms_recipient_claims(const kms_recipient *recipient)
{
    return &recipient->claims;
}

/* ---- the carrier certificate ---------------------------------------------------------------
 * OpenSSL's CMS code names a KeyTransRecipientInfo's recipient only through a certificate.
 * The document gives a bare key, so the key travels in a certificate assembled here as DER
 * around the document's SubjectPublicKeyInfo bytes, taken verbatim:
 *
 *   Certificate ::= SEQUENCE {
 *     SEQUENCE {                                   -- TBSCertificate
 *       [0] { INTEGER 2 }                          -- v3
 *       INTEGER 1
 *       SEQUENCE { OID 1.3.101.112 }               -- Ed25519 (never checked)
 *       SEQUENCE {}                                -- issuer: empty
 *       SEQUENCE { UTCTime 700101000000Z, UTCTime 700101000000Z }
 *       SEQUENCE {}                                -- subject: empty
 *       <the document's SubjectPublicKeyInfo>
 *       [3] { SEQUENCE { SEQUENCE { OID 2.5.29.14, OCTET STRING { OCTET STRING (20) } } } }
 *     }
 *     SEQUENCE { OID 1.3.101.112 }
 *     BIT STRING (64 zero bytes)                   -- no signature: nothing verifies it
 *   }
 *
 * The subjectKeyIdentifier is the SHA-1 of the subjectPublicKey bits (RFC 5280, 4.2.1.2),
 * and becomes the recipient's identifier (KeyTransRecipientInfo version 2). One parse
 * (d2i_X509) decodes the key once; the certificate never leaves the process. */

/* Appends a DER tag and length. */
static void der_head(nsmkit_buf *b, uint8_t tag, size_t len)
{
    nsmkit_buf_u8(b, tag);
    if (len < 0x80) {
        nsmkit_buf_u8(b, (uint8_t)len);
    } else if (len < 0x100) {
        nsmkit_buf_u8(b, 0x81);
        nsmkit_buf_u8(b, (uint8_t)len);
    } else {
        nsmkit_buf_u8(b, 0x82);
        nsmkit_buf_u8(b, (uint8_t)(len >> 8));
        nsmkit_buf_u8(b, (uint8_t)len);
    }
}

/* Reads one DER tag and length at *pos within [0, end): *pos moves to the contents. */
static bool der_read(const uint8_t *d, size_t end, size_t *pos, uint8_t tag, size_t *len)
{
    if (*pos >= end || end - *pos < 2 || d[*pos] != tag)
        return false;
    size_t p = *pos + 1, n = d[p++];
    if (n == 0x81 || n == 0x82) {
        size_t bytes = n - 0x80;
        if (end - p < bytes)
            return false;
        n = 0;
        for (size_t i = 0; i < bytes; i++)
            n = n << 8 | d[p++];
        if (n < 0x80 || (bytes == 2 && n < 0x100)) /* not the shortest form */
            return false;
    } else if (n >= 0x80) {
        return false;
    }
    if (n > end - p)
        return false;
    *pos = p;
    *len = n;
    return true;
}

/* The SHA-1 of the subjectPublicKey bits of a SubjectPublicKeyInfo that must be exactly one
 * DER SEQUENCE { SEQUENCE (algorithm), BIT STRING }. */
static int spki_key_id(nsmkit_bytes spki, uint8_t out[20], nsmkit_error *e)
{
    size_t pos = 0, len, alg_len, bits_len;
    if (!der_read(spki.ptr, spki.len, &pos, 0x30, &len) || pos + len != spki.len)
        return nsmkit_fail(e, "not one DER SEQUENCE");
    if (!der_read(spki.ptr, spki.len, &pos, 0x30, &alg_len))
        return nsmkit_fail(e, "no algorithm identifier");
    pos += alg_len;
    if (!der_read(spki.ptr, spki.len, &pos, 0x03, &bits_len) || pos + bits_len != spki.len ||
        bits_len < 2 || spki.ptr[pos] != 0)
        return nsmkit_fail(e, "no whole-byte subjectPublicKey BIT STRING at its end");
    unsigned int n = 0;
    if (EVP_Digest(spki.ptr + pos + 1, bits_len - 1, out, &n, EVP_sha1(), NULL) != 1)
        return nsmkit_fail(e, "SHA-1 failed");
    return 0;
}

static X509 *carrier_certificate(nsmkit_bytes spki, nsmkit_error *e)
{
    static const uint8_t version_serial_alg_issuer[] = {
        0xa0, 0x03, 0x02, 0x01, 0x02,                   /* [0] { INTEGER 2 } */
        0x02, 0x01, 0x01,                               /* INTEGER 1 */
        0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,       /* { Ed25519 } */
        0x30, 0x00,                                     /* issuer {} */
    };
    static const uint8_t validity_subject[] = {
        0x30, 0x1e, 0x17, 0x0d, '7', '0', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0', 'Z',
        0x17, 0x0d, '7', '0', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0', 'Z',
        0x30, 0x00,                                     /* subject {} */
    };
    static const uint8_t ski_head[] = {
        0xa3, 0x21, 0x30, 0x1f, 0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14,
    };
    static const uint8_t alg[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};
    uint8_t key_id[20];
    if (spki.len == 0 || spki.len > NSMV_FIELD_MAX || spki_key_id(spki, key_id, e) != 0)
        return NULL;
    size_t tbs_len = sizeof(version_serial_alg_issuer) + sizeof(validity_subject) + spki.len +
                     sizeof(ski_head) + sizeof(key_id);
    nsmkit_buf tbs, cert;
    nsmkit_buf_init(&tbs, 4096);
    nsmkit_buf_init(&cert, 4096);
    der_head(&tbs, 0x30, tbs_len);
    nsmkit_buf_append(&tbs, version_serial_alg_issuer, sizeof(version_serial_alg_issuer));
    nsmkit_buf_append(&tbs, validity_subject, sizeof(validity_subject));
    nsmkit_buf_append(&tbs, spki.ptr, spki.len);
    nsmkit_buf_append(&tbs, ski_head, sizeof(ski_head));
    nsmkit_buf_append(&tbs, key_id, sizeof(key_id));
    static const uint8_t no_signature[2 + 1 + 64] = {0x03, 0x41, 0x00};
    der_head(&cert, 0x30, tbs.len + sizeof(alg) + sizeof(no_signature));
    nsmkit_buf_append(&cert, tbs.data, tbs.len);
    nsmkit_buf_append(&cert, alg, sizeof(alg));
    nsmkit_buf_append(&cert, no_signature, sizeof(no_signature));
    X509 *x = NULL; /* owned until returned */
    if (tbs.err || cert.err) {
        nsmkit_fail(e, "out of memory");
    } else {
        const unsigned char *p = cert.data;
        x = d2i_X509(NULL, &p, (long)cert.len);
        if (x == NULL || p != cert.data + cert.len || X509_get0_pubkey(x) == NULL) {
            X509_free(x);
            x = NULL;
            ERR_clear_error();
            nsmkit_fail(e, "OpenSSL cannot decode the key");
        }
    }
    nsmkit_buf_free(&tbs);
    nsmkit_buf_free(&cert);
    return x;
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
    if (nsmv_claims_kind(claims) != NSMV_KIND_NSM) {
        code = kms_fail(e, KMS_ERR_ATTESTATION_REFUSED,
                        "the attestation document is not from an enclave's NSM (%s)",
                        nsmv_kind_name(nsmv_claims_kind(claims)));
        goto done;
    }
    r->claims.attested = true;
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
    nsmkit_error ce;
    r->carrier = carrier_certificate(nsmkit_bytes_of(key_der, key_len), &ce);
    if (r->carrier == NULL) {
        code = kms_fail(e, KMS_ERR_VALIDATION, "the document's public_key is not one DER "
                        "SubjectPublicKeyInfo: %s", ce.msg);
        goto done;
    }
    EVP_PKEY *key = X509_get0_pubkey(r->carrier); /* borrowed */
    int bits = key != NULL ? EVP_PKEY_get_bits(key) : 0;
    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || bits < KMS_RSA_BITS_MIN ||
        bits > KMS_RSA_BITS_MAX) {
        code = kms_fail(e, KMS_ERR_VALIDATION,
                        "the document's public_key is not an RSA key of %d to %d bits, as "
                        "RSAES_OAEP_SHA_256 needs", KMS_RSA_BITS_MIN, KMS_RSA_BITS_MAX);
        goto done;
    }
    r->key = key;
    code = KMS_ERR_OK;
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

/* A message with OpenSSL's first queued error, so that the cause survives into the log. */
static void openssl_fail(nsmkit_error *e, const char *what)
{
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
    ERR_clear_error();
    nsmkit_fail(e, "%s (%s)", what, reason);
}

int kms_recipient_seal(const kms_recipient *recipient, nsmkit_bytes secret, uint8_t **out,
                       size_t *out_len, nsmkit_error *e)
{
    const unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_KEY_PARAM | CMS_USE_KEYID;
    int rc = -1;
    X509 *cert = recipient->carrier;                        /* borrowed */
    BIO *in = BIO_new_mem_buf(secret.ptr != NULL ? secret.ptr : (const uint8_t *)"",
                              (int)secret.len);             /* owned */
    CMS_ContentInfo *cms = NULL;                            /* owned */
    unsigned char *der = NULL;                              /* owned by OpenSSL until copied */
    if (in == NULL) {
        nsmkit_fail(e, "out of memory");
        goto done;
    }
    cms = CMS_encrypt(NULL, NULL, EVP_aes_256_cbc(), flags);
    if (cms == NULL) {
        openssl_fail(e, "CMS_encrypt failed");
        goto done;
    }
    CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, cert, flags); /* borrowed */
    EVP_PKEY_CTX *pctx = ri != NULL ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL; /* borrowed */
    if (ri == NULL) {
        openssl_fail(e, "cannot add the document's key as a CMS recipient");
        goto done;
    }
    if (pctx == NULL || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0) {
        openssl_fail(e, "cannot set up RSAES-OAEP-SHA256 key transport");
        goto done;
    }
    if (CMS_final(cms, in, NULL, flags) != 1) {
        openssl_fail(e, "CMS_final failed");
        goto done;
    }
    int len = i2d_CMS_ContentInfo(cms, &der);
    if (len <= 0) {
        nsmkit_fail(e, "cannot encode the EnvelopedData");
        goto done;
    }
    *out = malloc((size_t)len);
    if (*out == NULL) {
        nsmkit_fail(e, "out of memory");
        goto done;
    }
    memcpy(*out, der, (size_t)len);
    *out_len = (size_t)len;
    rc = 0;
done:
    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    return rc;
}
