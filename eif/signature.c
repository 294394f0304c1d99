/*
 * nsmkit eif: the signature section, checked by reconstruction.
 *
 *   [ {"signing_certificate": [PEM bytes as integers], "signature": [COSE bytes as integers]} ]
 *
 * (serde_cbor writes a Vec<u8> as an array of unsigned integers.) The COSE_Sign1 is untagged
 * (nitro-cli writes it so; tag 18 is accepted), its protected header exactly {1: -35}, its
 * unprotected header {}, its payload the CBOR nitro-cli signs for PCR0. The payload this image
 * would carry is rebuilt from the measured PCR0 and compared byte for byte, after the ES384
 * signature verifies with the certificate's key (nsmkit/p384.h). PCR8 is the extend of the
 * SHA-384 of the certificate's DER.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
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

int nsmeif_cose_digest(const uint8_t *payload, size_t len, uint8_t digest[48])
{
    static const uint8_t prefix[] = NSMKIT_COSE_SIG_STRUCTURE_PREFIX;
    static const uint8_t protected_hdr[] = NSMKIT_COSE_PROTECTED_ES384;
    uint8_t head[16];
    size_t n = 0;
    n += nsmeif_cbor_head(head + n, 2, sizeof(protected_hdr));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned out_len = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha384(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, prefix, sizeof(prefix)) == 1 &&
             EVP_DigestUpdate(ctx, head, n) == 1 &&
             EVP_DigestUpdate(ctx, protected_hdr, sizeof(protected_hdr)) == 1;
    uint8_t tail[16];
    size_t t = 0;
    tail[t++] = 0x40; /* external_aad h'' */
    t += nsmeif_cbor_head(tail + t, 2, len);
    ok = ok && EVP_DigestUpdate(ctx, tail, t) == 1 && EVP_DigestUpdate(ctx, payload, len) == 1 &&
         EVP_DigestFinal_ex(ctx, digest, &out_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

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

/* The certificate: one PEM X.509 certificate, EC P-384; its DER and PCR8. */
static nsmeif_code decode_certificate(nsmeif_image *image, const pcr_signature *sig,
                                      nsmkit_p384_public **key)
{
    BIO *bio = BIO_new_mem_buf(sig->pem, (int)sig->pem_len);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    X509 *second = cert ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    EVP_PKEY *pkey = cert ? X509_get0_pubkey(cert) : NULL;
    char group[32] = "";
    uint8_t point[NSMKIT_P384_PUBLIC_LEN + 1];
    size_t point_len = 0;
    nsmeif_code code = NSMEIF_ERR_OK;
    int der_len = cert ? i2d_X509(cert, NULL) : -1;
    if (!cert || second || der_len <= 0)
        code = nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_CERT, "%s", second ? "more than one "
                           "PEM certificate" : "no PEM X.509 certificate could be read");
    else if (!pkey || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
             !EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) ||
             strcmp(group, "secp384r1") != 0 ||
             !EVP_PKEY_get_octet_string_param(pkey, "encoded-pub-key", point, sizeof(point),
                                              &point_len) ||
             nsmkit_p384_public_new(NSMKIT_P384_NETTLE, point, point_len, key) != NSMKIT_P384_OK)
        code = nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_CERT, "the certificate's key is not an "
                           "EC P-384 point (group '%s')", group);
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

/* The COSE_Sign1: [bstr {1: -35}, {}, bstr payload, bstr r||s], optionally tag 18. The
 * payload and signature are borrowed from cose. */
static nsmeif_code decode_cose(nsmeif_image *image, const pcr_signature *sig, cbor_item_t **root,
                               cbor_item_t **payload, const uint8_t **rs)
{
    static const nsmkit_cbor_limits limits = {.max_depth = 2};
    static const uint8_t es384[] = NSMKIT_COSE_PROTECTED_ES384;
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
        cbor_bytestring_length(items[0]) != sizeof(es384) ||
        memcmp(cbor_bytestring_handle(items[0]), es384, sizeof(es384)) != 0 ||
        !cbor_isa_map(items[1]) || cbor_map_size(items[1]) != 0 ||
        !cbor_isa_bytestring(items[2]) || !cbor_bytestring_is_definite(items[2]) ||
        !cbor_isa_bytestring(items[3]) || !cbor_bytestring_is_definite(items[3]) ||
        cbor_bytestring_length(items[3]) != NSMKIT_P384_SIGNATURE_LEN)
        return nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_COSE, "not [bstr {1: -35}, {}, bstr "
                           "payload, bstr of 96 bytes]");
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

static void verify_cose(nsmeif_image *image, const pcr_signature *sig,
                        const nsmkit_p384_public *key)
{
    cbor_item_t *root = NULL, *payload = NULL;
    const uint8_t *rs = NULL;
    if (decode_cose(image, sig, &root, &payload, &rs) == NSMEIF_ERR_OK) {
        const uint8_t *p = cbor_bytestring_handle(payload);
        size_t len = cbor_bytestring_length(payload);
        uint8_t digest[48], expected[NSMEIF_PCR_PAYLOAD_MAX];
        size_t expected_len = nsmeif_pcr_payload(0, image->pcr0, expected);
        if (nsmeif_cose_digest(p, len, digest) != 0) {
            nsmeif_fail(image, NSMEIF_ERR_CRYPTO, "SHA-384 failed");
        } else if (nsmkit_p384_verify(key, digest, rs) != NSMKIT_P384_OK) {
            image->signature_checked = true;
            nsmeif_fail(image, NSMEIF_ERR_SIGNATURE_INVALID, "the ES384 signature does not "
                        "verify with the signing certificate's key");
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
    nsmkit_p384_public *key = NULL;
    if (decode_section(image, &sig) == NSMEIF_ERR_OK &&
        decode_certificate(image, &sig, &key) == NSMEIF_ERR_OK)
        verify_cose(image, &sig, key);
    nsmkit_p384_public_free(key);
    free(sig.pem);
    free(sig.cose);
}
