/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit eif: signing an image as eif_utils does (aws-nitro-enclaves-cose's CoseSign1::new
 * with an empty unprotected header, written untagged):
 *
 *   section   = [ {"signing_certificate": [PEM as integers], "signature": [COSE as integers]} ]
 *   COSE      = 84  44 a1 01 38 22  a0  bstr(payload)  58 60 r||s
 *   payload   = {"register_index": 0, "register_value": [PCR0 as 48 integers]}
 *
 * The signature goes through the project's P-384 seam (nsmkit/p384.h); the nonce source is
 * the caller's (RFC 6979 for reproducible images).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "nsmkit/bytes.h"

#include "eif_internal.h"

int nsmeif_load_private_key(const uint8_t *key_pem, size_t key_len, const uint8_t *cert_pem,
                            size_t cert_len, nsmkit_p384_private **out, nsmkit_error *e)
{
    BIO *kb = BIO_new_mem_buf(key_pem, (int)key_len);
    BIO *cb = BIO_new_mem_buf(cert_pem, (int)cert_len);
    EVP_PKEY *pkey = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    BIGNUM *d = NULL;
    char group[32] = "";
    uint8_t scalar[NSMKIT_P384_SCALAR_LEN];
    int rc = -1;
    if (!pkey || !cert)
        nsmkit_fail(e, "the %s is not PEM", pkey ? "signing certificate" : "private key");
    else if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
             !EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) ||
             strcmp(group, "secp384r1") != 0)
        nsmkit_fail(e, "the private key is not EC P-384 (nitro-cli signs with ES384)");
    else if (X509_check_private_key(cert, pkey) != 1)
        nsmkit_fail(e, "the private key does not match the signing certificate's key");
    else if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) ||
             BN_bn2binpad(d, scalar, sizeof(scalar)) != (int)sizeof(scalar))
        nsmkit_fail(e, "the private key's scalar cannot be read");
    else if (nsmkit_p384_private_new(NSMKIT_P384_NETTLE, scalar, out) != NSMKIT_P384_OK)
        nsmkit_fail(e, "the private key's scalar is out of range");
    else
        rc = 0;
    nsmkit_wipe(scalar, sizeof(scalar));
    BN_clear_free(d);
    EVP_PKEY_free(pkey);
    X509_free(cert);
    BIO_free(kb);
    BIO_free(cb);
    return rc;
}

/* bytes as serde_cbor writes a Vec<u8>: an array head, then one unsigned integer each. */
static size_t integer_array(uint8_t *out, const uint8_t *data, size_t len)
{
    size_t n = nsmeif_cbor_head(out, 4, len);
    for (size_t i = 0; i < len; i++)
        n += nsmeif_cbor_head(out + n, 0, data[i]);
    return n;
}

static size_t text(uint8_t *out, const char *s)
{
    size_t len = strlen(s), n = nsmeif_cbor_head(out, 3, len);
    memcpy(out + n, s, len);
    return n + len;
}

int nsmeif_sign_pcr0(const uint8_t pcr0[NSMEIF_PCR_LEN], const uint8_t *cert_pem,
                     size_t cert_len, const nsmkit_p384_private *key,
                     const nsmkit_p384_nonce_source *nonce, uint8_t **out, size_t *out_len,
                     nsmkit_error *e)
{
    static const uint8_t cose_head[] = {0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0};
    uint8_t payload[NSMEIF_PCR_PAYLOAD_MAX], digest[48], rs[NSMKIT_P384_SIGNATURE_LEN];
    size_t payload_len = nsmeif_pcr_payload(0, pcr0, payload);
    if (nsmeif_cose_digest(payload, payload_len, digest) != 0 ||
        nsmkit_p384_sign(key, digest, nonce, rs) != NSMKIT_P384_OK)
        return nsmkit_fail(e, "the ES384 signature could not be made");
    uint8_t cose[sizeof(cose_head) + 9 + NSMEIF_PCR_PAYLOAD_MAX + 2 + sizeof(rs)];
    size_t c = sizeof(cose_head);
    memcpy(cose, cose_head, c);
    c += nsmeif_cbor_head(cose + c, 2, payload_len);
    memcpy(cose + c, payload, payload_len);
    c += payload_len;
    c += nsmeif_cbor_head(cose + c, 2, sizeof(rs));
    memcpy(cose + c, rs, sizeof(rs));
    c += sizeof(rs);
    size_t cap = 64 + 2 * (cert_len + c) + 18;
    if (cap > NSMEIF_SIGNATURE_MAX)
        return nsmkit_fail(e, "the signing certificate is too large for a %u-byte signature "
                              "section", NSMEIF_SIGNATURE_MAX);
    uint8_t *s = malloc(cap);
    if (!s)
        return nsmkit_fail(e, "out of memory");
    size_t n = 0;
    s[n++] = 0x81; /* one PCR signature */
    s[n++] = 0xa2;
    n += text(s + n, "signing_certificate");
    n += integer_array(s + n, cert_pem, cert_len);
    n += text(s + n, "signature");
    n += integer_array(s + n, cose, c);
    *out = s;
    *out_len = n;
    return 0;
}
