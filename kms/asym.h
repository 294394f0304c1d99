/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-kms: asymmetric keys, as AWS KMS names them (KeySpec / KeyPairSpec):
 *
 *   RSA_2048, RSA_3072, RSA_4096                 ENCRYPT_DECRYPT or SIGN_VERIFY
 *   ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521  SIGN_VERIFY or KEY_AGREEMENT
 *   ECC_SECG_P256K1                              SIGN_VERIFY (data key pairs too)
 *
 * Private keys are kept as PKCS#8 DER (what GenerateDataKeyPair hands out), public keys as
 * DER SubjectPublicKeyInfo (what GetPublicKey returns). Signing algorithms: RSASSA_PSS_SHA_*
 * and RSASSA_PKCS1_V1_5_SHA_* (256/384/512) for RSA, ECDSA_SHA_256/384/512 for the curve of
 * that size (ECDSA_SHA_256 for secp256k1), signatures DER-encoded as KMS returns them.
 * Key agreement: ECDH, the raw shared secret (the x coordinate), as KMS's DeriveSharedSecret.
 */
#ifndef NSMKIT_KMS_ASYM_H
#define NSMKIT_KMS_ASYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "nsmkit/bytes.h"
#include "nsmkit/error.h"

#define KMS_ASYM_DER_MAX 4096   /* a PKCS#8 RSA-4096 key is about 2,400 bytes */

/* Whether spec is an asymmetric KeySpec nsm-kms makes; ecc: an elliptic curve. */
bool kms_asym_spec_known(const char *spec, bool *ecc);
/* Whether usage is allowed for spec (AWS's table above). */
bool kms_asym_usage_allowed(const char *spec, const char *usage);

/* A fresh key pair of spec: *pkcs8 is its private key, a new allocation. */
int kms_asym_generate(const char *spec, uint8_t **pkcs8, size_t *len,
                      nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* The key pair from PKCS#8 DER; NULL when it does not decode. Caller frees. */
EVP_PKEY *kms_asym_load(nsmkit_bytes pkcs8);
/* The public key as DER SubjectPublicKeyInfo, a new allocation. */
int kms_asym_public_der(EVP_PKEY *key, uint8_t **out, size_t *len,
                        nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* The NULL-terminated list of algorithms for spec: signing, or encryption (RSA only). */
const char *const *kms_asym_signing_algorithms(const char *spec);
const char *const *kms_asym_encryption_algorithms(const char *spec);

/* Sign/verify message (digest: message is already the hash) with algorithm. Verify returns 1
 * for a valid signature, 0 for an invalid one, -1 for an error. */
int kms_asym_sign(EVP_PKEY *key, const char *algorithm, nsmkit_bytes message, bool digest,
                  uint8_t **sig, size_t *sig_len, nsmkit_error *e) NSMKIT_WARN_UNUSED;
int kms_asym_verify(EVP_PKEY *key, const char *algorithm, nsmkit_bytes message, bool digest,
                    nsmkit_bytes sig, nsmkit_error *e);
/* The digest length an algorithm signs (32, 48, 64). */
size_t kms_asym_digest_len(const char *algorithm);

/* ECDH of key with the peer's DER SubjectPublicKeyInfo (same curve): the raw secret. */
int kms_asym_derive(EVP_PKEY *key, nsmkit_bytes peer_spki, uint8_t **secret, size_t *len,
                    nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* RSAES-OAEP with SHA-1 or SHA-256 (RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256). */
int kms_asym_encrypt(EVP_PKEY *key, const char *algorithm, nsmkit_bytes in, uint8_t **out,
                     size_t *out_len, nsmkit_error *e) NSMKIT_WARN_UNUSED;
int kms_asym_decrypt(EVP_PKEY *key, const char *algorithm, nsmkit_bytes in, uint8_t **out,
                     size_t *out_len, nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_KMS_ASYM_H */
