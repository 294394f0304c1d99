/* nsm-kms: attestation documents in, CiphertextForRecipient out (see recipient.h). */
#include "recipient.h"

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

#include "nsmkit/hex.h"
/* The verifier's own envelope and payload readers: the claims are read by the same code
 * that verified them, after nsmv_verify accepted the document. */
#include "../verifier/internal.h"

struct kms_recipient {
    EVP_PKEY *key;  /* owned: the document's public key */
    kms_claims claims;
};

void kms_recipient_free(kms_recipient *recipient)
{
    if (recipient == NULL)
        return;
    EVP_PKEY_free(recipient->key);
    free(recipient);
}

const kms_claims *kms_recipient_claims(const kms_recipient *recipient)
{
    return &recipient->claims;
}

/* Reads PCRs and the public key of a document nsmv_verify has accepted. */
static kms_code read_claims(nsmkit_bytes doc, kms_recipient *r, kms_error *e)
{
    nsmv_result result;
    memset(&result, 0, sizeof(result));
    nsmv_run run = {.result = &result, .all = false};
    nsmv_envelope env;
    nsmv_payload payload;
    memset(&payload, 0, sizeof(payload));
    kms_code code = KMS_ERR_INTERNAL;
    if (nsmv_envelope_parse(doc.ptr, doc.len, &env, &run) != NSMV_OK ||
        nsmv_payload_load(env.payload, &payload, &run) != NSMV_OK ||
        nsmv_payload_fields(&payload, NSMV_PROFILE_AWS, &run) != NSMV_OK) {
        kms_fail(e, KMS_ERR_INTERNAL, "a verified document did not decode again");
        goto done;
    }
    if (payload.kind != NSMV_KIND_NSM) {
        kms_fail(e, KMS_ERR_ATTESTATION_REFUSED,
                 "the attestation document is not from an enclave's NSM (%s)",
                 nsmv_kind_name(payload.kind));
        code = KMS_ERR_ATTESTATION_REFUSED;
        goto done;
    }
    r->claims.attested = true;
    for (size_t i = 0; i < payload.pcr_count; i++) {
        unsigned index = payload.pcrs[i].index;
        if (index >= KMS_PCR_COUNT)
            continue;
        r->claims.pcr_present[index] = true;
        nsmkit_hex_encode(payload.pcrs[i].value, NSMV_PCR_LEN, r->claims.pcr_hex[index]);
    }
    if (!payload.public_key.present || payload.public_key.is_null ||
        payload.public_key.bytes.len == 0) {
        code = kms_fail(e, KMS_ERR_VALIDATION,
                        "the attestation document carries no public_key to encrypt to");
        goto done;
    }
    const unsigned char *p = payload.public_key.bytes.data;
    long len = (long)payload.public_key.bytes.len;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, len); /* owned */
    if (key == NULL || p != payload.public_key.bytes.data + len) {
        EVP_PKEY_free(key);
        code = kms_fail(e, KMS_ERR_VALIDATION,
                        "the document's public_key is not one DER SubjectPublicKeyInfo");
        goto done;
    }
    int bits = EVP_PKEY_get_bits(key);
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || bits < KMS_RSA_BITS_MIN ||
        bits > KMS_RSA_BITS_MAX) {
        EVP_PKEY_free(key);
        code = kms_fail(e, KMS_ERR_VALIDATION,
                        "the document's public_key is not an RSA key of %d to %d bits, as "
                        "RSAES_OAEP_SHA_256 needs", KMS_RSA_BITS_MIN, KMS_RSA_BITS_MAX);
        goto done;
    }
    r->key = key;
    code = KMS_ERR_OK;
done:
    nsmv_payload_clear(&payload);
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

/* A certificate that exists only to carry the key and its subjectKeyIdentifier into
 * OpenSSL's CMS code, which names a KeyTransRecipientInfo's recipient from a certificate
 * (only the key and the identifier are used). It must encode, so it gets a serial, names,
 * a validity and a signature by a throwaway Ed25519 key; it never leaves this process. */
static X509 *carrier_certificate(EVP_PKEY *key)
{
    X509 *cert = X509_new();                      /* owned until returned */
    ASN1_OCTET_STRING *skid = ASN1_OCTET_STRING_new(); /* owned */
    EVP_PKEY *signer = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); /* owned */
    X509_NAME *name = X509_NAME_new();            /* owned */
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (cert == NULL || skid == NULL || signer == NULL || name == NULL ||
        X509_set_version(cert, 2) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   (const unsigned char *)"nsm-kms recipient", -1, -1, 0) != 1 ||
        X509_set_subject_name(cert, name) != 1 || X509_set_issuer_name(cert, name) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(cert), 60) == NULL ||
        X509_set_pubkey(cert, key) != 1 ||
        X509_pubkey_digest(cert, EVP_sha1(), digest, &digest_len) != 1 ||
        ASN1_OCTET_STRING_set(skid, digest, (int)digest_len) != 1 ||
        X509_add1_ext_i2d(cert, NID_subject_key_identifier, skid, 0, X509V3_ADD_DEFAULT) != 1 ||
        X509_sign(cert, signer, NULL) <= 0) {
        X509_free(cert);
        cert = NULL;
    }
    X509_NAME_free(name);
    EVP_PKEY_free(signer);
    ASN1_OCTET_STRING_free(skid);
    return cert;
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
    X509 *cert = carrier_certificate(recipient->key);       /* owned */
    BIO *in = BIO_new_mem_buf(secret.ptr != NULL ? secret.ptr : (const uint8_t *)"",
                              (int)secret.len);             /* owned */
    CMS_ContentInfo *cms = NULL;                            /* owned */
    unsigned char *der = NULL;                              /* owned by OpenSSL until copied */
    if (cert == NULL || in == NULL) {
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
    X509_free(cert);
    return rc;
}
