/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms: asymmetric keys (see asym.h). */
#include "asym.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

static const struct {
    const char *spec;
    int rsa_bits;       /* 0 for a curve */
    const char *curve;  /* OpenSSL's group name */
} specs[] = {
    {"RSA_2048", 2048, NULL},          {"RSA_3072", 3072, NULL},
    {"RSA_4096", 4096, NULL},          {"ECC_NIST_P256", 0, "P-256"},
    {"ECC_NIST_P384", 0, "P-384"},     {"ECC_NIST_P521", 0, "P-521"},
    {"ECC_SECG_P256K1", 0, "secp256k1"},
};

static const char *const rsa_signing[] = {
    "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512", NULL};
static const char *const rsa_encryption[] = {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", NULL};
static const char *const ecdsa_256[] = {"ECDSA_SHA_256", NULL};
static const char *const ecdsa_384[] = {"ECDSA_SHA_384", NULL};
static const char *const ecdsa_512[] = {"ECDSA_SHA_512", NULL};
static const char *const none[] = {NULL};

static int spec_index(const char *spec)
{
    for (size_t i = 0; spec != NULL && i < sizeof(specs) / sizeof(specs[0]); i++)
        if (strcmp(specs[i].spec, spec) == 0)
            return (int)i;
    return -1;
}

bool kms_asym_spec_known(const char *spec, bool *ecc)
{
    int i = spec_index(spec);
    if (i >= 0 && ecc != NULL)
        *ecc = specs[i].rsa_bits == 0;
    return i >= 0;
}

bool kms_asym_usage_allowed(const char *spec, const char *usage)
{
    bool ecc;
    if (!kms_asym_spec_known(spec, &ecc))
        return false;
    if (strcmp(usage, "SIGN_VERIFY") == 0)
        return true;
    if (strcmp(usage, "ENCRYPT_DECRYPT") == 0)
        return !ecc;
    if (strcmp(usage, "KEY_AGREEMENT") == 0)
        return ecc && strcmp(spec, "ECC_SECG_P256K1") != 0;
    return false;
}

const char *const *kms_asym_signing_algorithms(const char *spec)
{
    int i = spec_index(spec);
    if (i < 0)
        return none;
    if (specs[i].rsa_bits != 0)
        return rsa_signing;
    if (strcmp(spec, "ECC_NIST_P384") == 0)
        return ecdsa_384;
    if (strcmp(spec, "ECC_NIST_P521") == 0)
        return ecdsa_512;
    return ecdsa_256;
}

const char *const *kms_asym_encryption_algorithms(const char *spec)
{
    int i = spec_index(spec);
    return i >= 0 && specs[i].rsa_bits != 0 ? rsa_encryption : none;
}

static int openssl_fail(nsmkit_error *e, const char *what)
{
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
    ERR_clear_error();
    return nsmkit_fail(e, "%s (%s)", what, reason);
}

/* Copies an OpenSSL allocation into a malloc one the caller frees. */
static int take(unsigned char *der, int len, uint8_t **out, size_t *out_len, nsmkit_error *e)
{
    if (len <= 0) {
        OPENSSL_free(der);
        return openssl_fail(e, "cannot encode the key");
    }
    *out = malloc((size_t)len);
    if (*out != NULL)
        memcpy(*out, der, (size_t)len);
    OPENSSL_clear_free(der, (size_t)len);
    if (*out == NULL)
        return nsmkit_fail(e, "out of memory");
    *out_len = (size_t)len;
    return 0;
}

int kms_asym_generate(const char *spec, uint8_t **pkcs8, size_t *len, nsmkit_error *e)
{
    int i = spec_index(spec);
    if (i < 0)
        return nsmkit_fail(e, "unknown key spec %s", spec != NULL ? spec : "(none)");
    EVP_PKEY *key = specs[i].rsa_bits != 0
                        ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)specs[i].rsa_bits)
                        : EVP_PKEY_Q_keygen(NULL, NULL, "EC", specs[i].curve); /* owned */
    if (key == NULL)
        return openssl_fail(e, "key generation failed");
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key); /* owned */
    unsigned char *der = NULL;
    int n = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_PKEY_free(key);
    return take(der, n, pkcs8, len, e);
}

EVP_PKEY *kms_asym_load(nsmkit_bytes pkcs8)
{
    const unsigned char *p = pkcs8.ptr;
    if (pkcs8.len == 0 || pkcs8.len > KMS_ASYM_DER_MAX)
        return NULL;
    EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &p, (long)pkcs8.len);
    ERR_clear_error();
    return key;
}

int kms_asym_public_der(EVP_PKEY *key, uint8_t **out, size_t *len, nsmkit_error *e)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key, &der);
    return take(der, n, out, len, e);
}

/* "..._SHA_256" -> SHA-256, and so on. */
static const EVP_MD *algorithm_md(const char *algorithm)
{
    size_t n = strlen(algorithm);
    if (n > 4 && strcmp(algorithm + n - 4, "_256") == 0)
        return EVP_sha256();
    if (n > 4 && strcmp(algorithm + n - 4, "_384") == 0)
        return EVP_sha384();
    if (n > 4 && strcmp(algorithm + n - 4, "_512") == 0)
        return EVP_sha512();
    if (n > 2 && strcmp(algorithm + n - 2, "_1") == 0)
        return EVP_sha1();
    return NULL;
}

size_t kms_asym_digest_len(const char *algorithm)
{
    const EVP_MD *md = algorithm_md(algorithm);
    return md != NULL ? (size_t)EVP_MD_get_size(md) : 0;
}

/* A signing/verifying context on key for algorithm (PSS: salt = digest length, as KMS). */
static EVP_PKEY_CTX *sign_ctx(EVP_PKEY *key, const char *algorithm, bool sign, nsmkit_error *e)
{
    const EVP_MD *md = algorithm_md(algorithm);
    EVP_PKEY_CTX *ctx = md != NULL ? EVP_PKEY_CTX_new(key, NULL) : NULL; /* owned */
    bool pss = strncmp(algorithm, "RSASSA_PSS", 10) == 0;
    bool pkcs1 = strncmp(algorithm, "RSASSA_PKCS1", 12) == 0;
    if (ctx == NULL || (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) <= 0 ||
        EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0 ||
        (pss && (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
                 EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0)) ||
        (pkcs1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0)) {
        EVP_PKEY_CTX_free(ctx);
        openssl_fail(e, "cannot set up the signing algorithm");
        return NULL;
    }
    return ctx;
}

/* message, or its digest when it is a RAW message. */
static int digest_of(const char *algorithm, nsmkit_bytes message, bool digest, uint8_t out[64],
                     size_t *len, nsmkit_error *e)
{
    const EVP_MD *md = algorithm_md(algorithm);
    if (md == NULL)
        return nsmkit_fail(e, "unknown signing algorithm");
    if (digest) {
        if (message.len != (size_t)EVP_MD_get_size(md))
            return nsmkit_fail(e, "a DIGEST message must be the %d-byte digest",
                               EVP_MD_get_size(md));
        memcpy(out, message.ptr, message.len);
        *len = message.len;
        return 0;
    }
    unsigned int n = 0;
    if (EVP_Digest(message.ptr != NULL ? message.ptr : (const uint8_t *)"", message.len, out, &n,
                   md, NULL) != 1)
        return openssl_fail(e, "digest failed");
    *len = n;
    return 0;
}

int kms_asym_sign(EVP_PKEY *key, const char *algorithm, nsmkit_bytes message, bool digest,
                  uint8_t **sig, size_t *sig_len, nsmkit_error *e)
{
    uint8_t hash[64];
    size_t hash_len = 0;
    if (digest_of(algorithm, message, digest, hash, &hash_len, e) != 0)
        return -1;
    EVP_PKEY_CTX *ctx = sign_ctx(key, algorithm, true, e); /* owned */
    size_t n = 0;
    if (ctx == NULL)
        return -1;
    int rc = -1;
    if (EVP_PKEY_sign(ctx, NULL, &n, hash, hash_len) <= 0 || (*sig = malloc(n)) == NULL) {
        openssl_fail(e, "signing failed");
    } else if (EVP_PKEY_sign(ctx, *sig, &n, hash, hash_len) <= 0) {
        free(*sig);
        *sig = NULL;
        openssl_fail(e, "signing failed");
    } else {
        *sig_len = n;
        rc = 0;
    }
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int kms_asym_verify(EVP_PKEY *key, const char *algorithm, nsmkit_bytes message, bool digest,
                    nsmkit_bytes sig, nsmkit_error *e)
{
    uint8_t hash[64];
    size_t hash_len = 0;
    if (digest_of(algorithm, message, digest, hash, &hash_len, e) != 0)
        return -1;
    EVP_PKEY_CTX *ctx = sign_ctx(key, algorithm, false, e); /* owned */
    if (ctx == NULL)
        return -1;
    int v = EVP_PKEY_verify(ctx, sig.ptr, sig.len, hash, hash_len);
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    return v == 1 ? 1 : 0;
}

int kms_asym_derive(EVP_PKEY *key, nsmkit_bytes peer_spki, uint8_t **secret, size_t *len,
                    nsmkit_error *e)
{
    const unsigned char *p = peer_spki.ptr;
    EVP_PKEY *peer = peer_spki.len > 0 && peer_spki.len <= KMS_ASYM_DER_MAX
                         ? d2i_PUBKEY(NULL, &p, (long)peer_spki.len) : NULL; /* owned */
    if (peer == NULL || p != peer_spki.ptr + peer_spki.len) {
        EVP_PKEY_free(peer);
        ERR_clear_error();
        return nsmkit_fail(e, "PublicKey is not one DER SubjectPublicKeyInfo");
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL); /* owned */
    size_t n = 0;
    int rc = -1;
    *secret = NULL;
    if (ctx == NULL || EVP_PKEY_derive_init(ctx) <= 0 || EVP_PKEY_derive_set_peer(ctx, peer) <= 0) {
        ERR_clear_error();
        nsmkit_fail(e, "PublicKey is not a point on the key's curve");
    } else if (EVP_PKEY_derive(ctx, NULL, &n) <= 0 || (*secret = malloc(n)) == NULL ||
               EVP_PKEY_derive(ctx, *secret, &n) <= 0) {
        free(*secret);
        *secret = NULL;
        openssl_fail(e, "ECDH failed");
    } else {
        *len = n;
        rc = 0;
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    return rc;
}

static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *key, const char *algorithm, bool encrypt,
                              nsmkit_error *e)
{
    const EVP_MD *md = strcmp(algorithm, "RSAES_OAEP_SHA_1") == 0     ? EVP_sha1()
                       : strcmp(algorithm, "RSAES_OAEP_SHA_256") == 0 ? EVP_sha256()
                                                                      : NULL;
    EVP_PKEY_CTX *ctx = md != NULL ? EVP_PKEY_CTX_new(key, NULL) : NULL; /* owned */
    if (ctx == NULL ||
        (encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0) {
        EVP_PKEY_CTX_free(ctx);
        openssl_fail(e, "cannot set up RSAES-OAEP");
        return NULL;
    }
    return ctx;
}

static int oaep_run(EVP_PKEY *key, const char *algorithm, bool encrypt, nsmkit_bytes in,
                    uint8_t **out, size_t *out_len, nsmkit_error *e)
{
    EVP_PKEY_CTX *ctx = oaep_ctx(key, algorithm, encrypt, e); /* owned */
    if (ctx == NULL)
        return -1;
    size_t n = (size_t)EVP_PKEY_get_size(key);
    int rc = -1;
    *out = malloc(n);
    int ok = *out != NULL && (encrypt ? EVP_PKEY_encrypt(ctx, *out, &n, in.ptr, in.len)
                                      : EVP_PKEY_decrypt(ctx, *out, &n, in.ptr, in.len)) > 0;
    if (!ok) {
        free(*out);
        *out = NULL;
        ERR_clear_error();
        nsmkit_fail(e, encrypt ? "RSAES-OAEP encryption failed (plaintext too long?)"
                               : "RSAES-OAEP decryption failed");
    } else {
        *out_len = n;
        rc = 0;
    }
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int kms_asym_encrypt(EVP_PKEY *key, const char *algorithm, nsmkit_bytes in, uint8_t **out,
                     size_t *out_len, nsmkit_error *e)
{
    return oaep_run(key, algorithm, true, in, out, out_len, e);
}

int kms_asym_decrypt(EVP_PKEY *key, const char *algorithm, nsmkit_bytes in, uint8_t **out,
                     size_t *out_len, nsmkit_error *e)
{
    return oaep_run(key, algorithm, false, in, out, out_len, e);
}
