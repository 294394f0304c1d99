/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit eif: the signature section, checked by reconstruction.
 *
 *   [ {"signing_certificate": [PEM bytes as integers], "signature": [COSE bytes as integers]} ]
 *
 * (serde_cbor writes a Vec<u8> as an array of unsigned integers.) The COSE_Sign1 is untagged
 * (nitro-cli writes it so; tag 18 is accepted), its protected header exactly {1: alg} with the
 * algorithm of the certificate's curve (the specification allows ES256, ES384 and ES512;
 * nitro-cli's documentation signs with P-384), its unprotected header {}, its payload the CBOR
 * nitro-cli signs for PCR0. The payload this image would carry is rebuilt from the measured
 * PCR0 and compared byte for byte, after the signature verifies with the certificate's key
 * (ES384 through the project's P-384 seam, nsmkit/p384.h; ES256 and ES512 through OpenSSL).
 * PCR8 is the extend of the SHA-384 of the certificate's DER.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "nsmkit/cbor.h"
#include "nsmkit/cose.h"
#include "nsmkit/p384.h"

#include "eif_internal.h"

size_t nsmeif_cbor_head(uint8_t *out, unsigned major, uint64_t value)
{
    uint8_t m = (uint8_t)(major << 5);
    if (value < 24) {
        out[0] = m | (uint8_t)value;
        return 1;
    }
    size_t width = value <= 0xff ? 1 : value <= 0xffff ? 2 : value <= 0xffffffffu ? 4 : 8;
    out[0] = m | (uint8_t)(width == 1 ? 24 : width == 2 ? 25 : width == 4 ? 26 : 27);
    for (size_t i = 0; i < width; i++)
        out[1 + i] = (uint8_t)(value >> (8 * (width - 1 - i)));
    return 1 + width;
}

size_t nsmeif_pcr_payload(unsigned index, const uint8_t value[NSMEIF_PCR_LEN],
                          uint8_t out[NSMEIF_PCR_PAYLOAD_MAX])
{
    size_t n = 0;
    out[n++] = 0xa2;
    n += nsmeif_cbor_head(out + n, 3, 14);
    memcpy(out + n, "register_index", 14);
    n += 14;
    n += nsmeif_cbor_head(out + n, 0, index);
    n += nsmeif_cbor_head(out + n, 3, 14);
    memcpy(out + n, "register_value", 14);
    n += 14;
    n += nsmeif_cbor_head(out + n, 4, NSMEIF_PCR_LEN);
    for (size_t i = 0; i < NSMEIF_PCR_LEN; i++)
        n += nsmeif_cbor_head(out + n, 0, value[i]);
    return n;
}

/* The Sig_structure ["Signature1", protected, h'', payload] hashed with md. */
static int cose_digest(const uint8_t *protected_hdr, size_t protected_len, const uint8_t *payload,
                       size_t len, const EVP_MD *md, uint8_t *digest, unsigned *digest_len)
{
    static const uint8_t prefix[] = NSMKIT_COSE_SIG_STRUCTURE_PREFIX;
    uint8_t head[16], tail[16];
    size_t n = nsmeif_cbor_head(head, 2, protected_len), t = 0;
    tail[t++] = 0x40; /* external_aad h'' */
    t += nsmeif_cbor_head(tail + t, 2, len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
             EVP_DigestUpdate(ctx, prefix, sizeof(prefix)) == 1 &&
             EVP_DigestUpdate(ctx, head, n) == 1 &&
             EVP_DigestUpdate(ctx, protected_hdr, protected_len) == 1 &&
             EVP_DigestUpdate(ctx, tail, t) == 1 && EVP_DigestUpdate(ctx, payload, len) == 1 &&
             EVP_DigestFinal_ex(ctx, digest, digest_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

int nsmeif_cose_digest(const uint8_t *payload, size_t len, uint8_t digest[48])
{
    static const uint8_t es384[] = NSMKIT_COSE_PROTECTED_ES384;
    unsigned n = 0;
    return cose_digest(es384, sizeof(es384), payload, len, EVP_sha384(), digest, &n);
}

/* The signature algorithms the EIF specification allows, each tied to its curve: the
 * protected header is exactly {1: alg}, the signature r || s of twice the scalar's length. */
typedef struct {
    const char *name, *curve;
    uint8_t protected_hdr[4];
    size_t protected_len, scalar_len;
    const EVP_MD *(*md)(void);
} cose_alg;

static const cose_alg cose_algs[] = {
    {"ES256", "prime256v1", {0xa1, 0x01, 0x26}, 3, 32, EVP_sha256},
    {"ES384", "secp384r1", {0xa1, 0x01, 0x38, 0x22}, 4, 48, EVP_sha384},
    {"ES512", "secp521r1", {0xa1, 0x01, 0x38, 0x23}, 4, 66, EVP_sha512},
};

/* The certificate's key: ES384 keys go through the project's P-384 seam, the other two
 * curves through OpenSSL. */
typedef struct {
    const cose_alg *alg;
    EVP_PKEY *pkey;          /* a reference of our own */
    nsmkit_p384_public *p384; /* for ES384 */
} signer_key;

/* An array of unsigned integers below 256, each in one byte of argument at most (QEMU
 * refuses wider ones), copied out; NULL when item is anything else. */
static uint8_t *integer_array(const cbor_item_t *item, size_t *len)
{
    if (!cbor_isa_array(item) || !cbor_array_is_definite(item) || cbor_array_size(item) == 0)
        return NULL;
    size_t n = cbor_array_size(item);
    uint8_t *out = malloc(n);
    cbor_item_t **items = cbor_array_handle(item);
    for (size_t i = 0; out && i < n; i++) {
        if (!cbor_isa_uint(items[i]) || cbor_int_get_width(items[i]) != CBOR_INT_8) {
            free(out);
            return NULL;
        }
        out[i] = cbor_get_uint8(items[i]);
    }
    *len = n;
    return out;
}

typedef struct {
    uint8_t *pem, *cose;
    size_t pem_len, cose_len;
} pcr_signature;

static nsmeif_code decode_section(nsmeif_image *image, pcr_signature *sig)
{
    static const nsmkit_cbor_limits limits = {.max_depth = 4};
    cbor_item_t *root = NULL;
    nsmkit_cbor_report report;
    nsmkit_cbor_status st = nsmkit_cbor_load(image->signature, image->signature_len, &limits,
                                             &root, &report);
    if (st != NSMKIT_CBOR_OK)
        return nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_CBOR, "not one CBOR item: %s at byte %zu",
                           nsmkit_cbor_status_name(st), report.offset);
    nsmeif_code code = NSMEIF_ERR_OK;
    if (!cbor_isa_array(root) || !cbor_array_is_definite(root)) {
        code = nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_CBOR, "not a definite array");
    } else if (cbor_array_size(root) != 1) {
        code = nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_COUNT, "%zu PCR signatures (nitro-cli "
                           "writes one, for PCR0; both public readers use only the first)",
                           cbor_array_size(root));
    } else {
        cbor_item_t *map = cbor_array_handle(root)[0];
        struct cbor_pair *pairs = cbor_isa_map(map) ? cbor_map_handle(map) : NULL;
        if (!pairs || !cbor_map_is_definite(map) || cbor_map_size(map) != 2 ||
            !nsmkit_cbor_text_equals(pairs[0].key, "signing_certificate") ||
            !nsmkit_cbor_text_equals(pairs[1].key, "signature"))
            code = nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_CBOR, "the PCR signature is not the "
                               "map {signing_certificate, signature} in that order (QEMU reads "
                               "the first key only)");
        else if (!(sig->pem = integer_array(pairs[0].value, &sig->pem_len)) ||
                 !(sig->cose = integer_array(pairs[1].value, &sig->cose_len)))
            code = nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_CBOR, "%s is not a non-empty array "
                               "of integers 0..255 (how serde_cbor writes bytes)",
                               sig->pem ? "signature" : "signing_certificate");
    }
    cbor_decref(&root);
    return code;
}

/* The key of the certificate: EC on one of the specification's three curves. */
static bool certificate_key(EVP_PKEY *pkey, signer_key *key, char *group, size_t group_len)
{
    if (!pkey || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
        !EVP_PKEY_get_group_name(pkey, group, group_len, NULL))
        return false;
    for (size_t i = 0; i < sizeof(cose_algs) / sizeof(cose_algs[0]); i++)
        if (strcmp(group, cose_algs[i].curve) == 0)
            key->alg = &cose_algs[i];
    if (!key->alg || EVP_PKEY_up_ref(pkey) != 1)
        return false;
    key->pkey = pkey;
    if (strcmp(key->alg->name, "ES384") != 0)
        return true;
    uint8_t point[NSMKIT_P384_PUBLIC_LEN + 1];
    size_t point_len = 0;
    return EVP_PKEY_get_octet_string_param(pkey, "encoded-pub-key", point, sizeof(point),
                                           &point_len) &&
           nsmkit_p384_public_new(NSMKIT_P384_NETTLE, point, point_len, &key->p384) ==
               NSMKIT_P384_OK;
}

/* The certificate: one PEM X.509 certificate; its key, its DER and PCR8. */
static nsmeif_code decode_certificate(nsmeif_image *image, const pcr_signature *sig,
                                      signer_key *key)
{
    BIO *bio = BIO_new_mem_buf(sig->pem, (int)sig->pem_len);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    X509 *second = cert ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    char group[32] = "";
    nsmeif_code code = NSMEIF_ERR_OK;
    int der_len = cert ? i2d_X509(cert, NULL) : -1;
    if (!cert || second || der_len <= 0)
        code = nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_CERT, "%s", second ? "more than one "
                           "PEM certificate" : "no PEM X.509 certificate could be read");
    else if (!certificate_key(X509_get0_pubkey(cert), key, group, sizeof(group)))
        code = nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_CERT, "the certificate's key is not a "
                           "valid EC point on P-256, P-384 or P-521 (group '%s')", group);
    if (code == NSMEIF_ERR_OK) {
        image->cert_der = malloc((size_t)der_len);
        uint8_t *p = image->cert_der, digest[48];
        unsigned dlen = 0;
        if (!p || i2d_X509(cert, &p) != der_len ||
            EVP_Digest(image->cert_der, (size_t)der_len, digest, &dlen, EVP_sha384(), NULL) != 1 ||
            nsmeif_pcr_extend(digest, image->pcr8) != 0) {
            code = nsmeif_fail(image, NSMEIF_ERR_CRYPTO, "the certificate's DER or its SHA-384");
        } else {
            image->cert_der_len = (size_t)der_len;
            image->cert_info = nsmeif_cert_info(image->cert_der, image->cert_der_len);
            image->cert_ok = image->cert_info != NULL;
            if (!image->cert_ok)
                code = nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_CERT, "the certificate's issuer, "
                                   "validity or signature cannot be described");
        }
    }
    X509_free(cert);
    X509_free(second);
    return code;
}

/* The COSE_Sign1: [bstr {1: alg}, {}, bstr payload, bstr r||s], optionally tag 18, alg the
 * one of the certificate's curve. The payload and signature are borrowed from *root. */
static nsmeif_code decode_cose(nsmeif_image *image, const pcr_signature *sig,
                               const cose_alg *alg, cbor_item_t **root, cbor_item_t **payload,
                               const uint8_t **rs)
{
    static const nsmkit_cbor_limits limits = {.max_depth = 2};
    const uint8_t *bytes = sig->cose;
    size_t len = sig->cose_len;
    /* tag 18 (COSE_Sign1) is one byte, d2; any other tag (major type 6) is not this */
    if (len > 0 && bytes[0] == 0xd2)
        bytes++, len--;
    else if (len > 0 && bytes[0] >> 5 == 6)
        return nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_COSE, "tagged with head 0x%02x (COSE_Sign1 "
                           "is tag 18, d2)", bytes[0]);
    nsmkit_cbor_report report;
    nsmkit_cbor_status st = nsmkit_cbor_load(bytes, len, &limits, root, &report);
    if (st != NSMKIT_CBOR_OK)
        return nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_COSE, "the COSE_Sign1 is not one CBOR "
                           "item: %s at byte %zu", nsmkit_cbor_status_name(st), report.offset);
    cbor_item_t *a = *root;
    cbor_item_t **items = cbor_isa_array(a) && cbor_array_is_definite(a) &&
                                  cbor_array_size(a) == 4 ? cbor_array_handle(a) : NULL;
    if (!items || !cbor_isa_bytestring(items[0]) || !cbor_bytestring_is_definite(items[0]) ||
        cbor_bytestring_length(items[0]) != alg->protected_len ||
        memcmp(cbor_bytestring_handle(items[0]), alg->protected_hdr, alg->protected_len) != 0 ||
        !cbor_isa_map(items[1]) || cbor_map_size(items[1]) != 0 ||
        !cbor_isa_bytestring(items[2]) || !cbor_bytestring_is_definite(items[2]) ||
        !cbor_isa_bytestring(items[3]) || !cbor_bytestring_is_definite(items[3]) ||
        cbor_bytestring_length(items[3]) != 2 * alg->scalar_len)
        return nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_COSE, "not [bstr {1: %s}, {}, bstr "
                           "payload, bstr of %zu bytes] (%s, the certificate's %s key's)",
                           alg->name, 2 * alg->scalar_len, alg->name, alg->curve);
    *payload = items[2];
    *rs = cbor_bytestring_handle(items[3]);
    return NSMEIF_ERR_OK;
}

/* Whether payload has the shape of a PCR payload (same keys, index 0, 48 integers), so that a
 * mismatch can be told from a malformed payload. */
static bool pcr_payload_shape(const uint8_t *p, size_t len)
{
    static const nsmkit_cbor_limits limits = {.max_depth = 3};
    cbor_item_t *item = NULL;
    nsmkit_cbor_report report;
    if (nsmkit_cbor_load(p, len, &limits, &item, &report) != NSMKIT_CBOR_OK)
        return false;
    bool ok = false;
    if (cbor_isa_map(item) && cbor_map_is_definite(item) && cbor_map_size(item) == 2) {
        struct cbor_pair *pairs = cbor_map_handle(item);
        size_t n = 0;
        uint8_t *value = integer_array(pairs[1].value, &n);
        ok = nsmkit_cbor_text_equals(pairs[0].key, "register_index") &&
             cbor_isa_uint(pairs[0].value) && cbor_get_int(pairs[0].value) == 0 &&
             nsmkit_cbor_text_equals(pairs[1].key, "register_value") && value &&
             n == NSMEIF_PCR_LEN;
        free(value);
    }
    cbor_decref(&item);
    return ok;
}

/* r || s against the digest with the certificate's key. */
static bool signature_holds(const signer_key *key, const uint8_t *digest, size_t digest_len,
                            const uint8_t *rs)
{
    if (key->p384)
        return nsmkit_p384_verify(key->p384, digest, rs) == NSMKIT_P384_OK;
    size_t n = key->alg->scalar_len;
    ECDSA_SIG *ecdsa = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, (int)n, NULL), *s = BN_bin2bn(rs + n, (int)n, NULL);
    unsigned char *der = NULL;
    int der_len = -1;
    if (ecdsa && r && s && ECDSA_SIG_set0(ecdsa, r, s) == 1) {
        r = s = NULL; /* owned by ecdsa now */
        der_len = i2d_ECDSA_SIG(ecdsa, &der);
    }
    EVP_PKEY_CTX *ctx = der_len > 0 ? EVP_PKEY_CTX_new(key->pkey, NULL) : NULL;
    bool ok = ctx && EVP_PKEY_verify_init(ctx) == 1 &&
              EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, digest_len) == 1;
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(ecdsa);
    return ok;
}

static void verify_cose(nsmeif_image *image, const pcr_signature *sig, const signer_key *key)
{
    cbor_item_t *root = NULL, *payload = NULL;
    const uint8_t *rs = NULL;
    if (decode_cose(image, sig, key->alg, &root, &payload, &rs) == NSMEIF_ERR_OK) {
        const uint8_t *p = cbor_bytestring_handle(payload);
        size_t len = cbor_bytestring_length(payload);
        uint8_t digest[EVP_MAX_MD_SIZE], expected[NSMEIF_PCR_PAYLOAD_MAX];
        unsigned digest_len = 0;
        size_t expected_len = nsmeif_pcr_payload(0, image->pcr0, expected);
        if (cose_digest(key->alg->protected_hdr, key->alg->protected_len, p, len, key->alg->md(),
                        digest, &digest_len) != 0) {
            nsmeif_fail(image, NSMEIF_ERR_CRYPTO, "the Sig_structure's digest failed");
        } else if (!signature_holds(key, digest, digest_len, rs)) {
            image->signature_checked = true;
            nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_INVALID, "the %s signature does not verify "
                        "with the signing certificate's key", key->alg->name);
        } else {
            image->signature_checked = true;
            image->signature_ok = len == expected_len && memcmp(p, expected, len) == 0;
            if (!image->signature_ok && pcr_payload_shape(p, len))
                nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_PCR0, "the signature is valid for "
                            "another image: the PCR0 it signs is not this image's");
            else if (!image->signature_ok)
                nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_PAYLOAD, "the signed payload (%zu bytes) "
                            "is not {register_index: 0, register_value: [48 integers]}", len);
        }
    }
    if (root)
        cbor_decref(&root);
}

void nsmeif_signature_check(nsmeif_image *image)
{
    if (!image->signature)
        return;
    image->is_signed = true;
    pcr_signature sig = {0};
    signer_key key = {0};
    if (decode_section(image, &sig) == NSMEIF_ERR_OK &&
        decode_certificate(image, &sig, &key) == NSMEIF_ERR_OK)
        verify_cose(image, &sig, &key);
    nsmkit_p384_public_free(key.p384);
    EVP_PKEY_free(key.pkey);
    free(sig.pem);
    free(sig.cose);
}

/* PCRn = SHA-384(48 zero bytes || digest): one extend of a zero register. */
int nsmeif_pcr_extend(const uint8_t digest[NSMEIF_PCR_LEN], uint8_t pcr[NSMEIF_PCR_LEN])
{
    uint8_t buf[2 * NSMEIF_PCR_LEN] = {0};
    memcpy(buf + NSMEIF_PCR_LEN, digest, NSMEIF_PCR_LEN);
    unsigned len = 0;
    return EVP_Digest(buf, sizeof(buf), pcr, &len, EVP_sha384(), NULL) == 1 ? 0 : -1;
}
