/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Certificate helpers the chain stage and the leaf-link check share: parsing (one
 * canonical DER certificate), validity as Unix seconds, the key and extension profiles,
 * and the leaf's key for the signature seam. Calls no other file of the verifier.
 */
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/x509v3.h>

#include "internal.h"

bool nsmv_cert_validity(const X509 *cert, int64_t *not_before, int64_t *not_after)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm) != 1)
        return false;
    *not_before = (int64_t)timegm(&tm);
    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
        return false;
    *not_after = (int64_t)timegm(&tm);
    return true;
}

bool nsmv_key_is_p384(EVP_PKEY *key, char *detail, size_t detail_size)
{
    char group[64] = "", encoding[32] = "";
    if (!key) {
        snprintf(detail, detail_size, "no public key OpenSSL can use");
        return false;
    }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
        snprintf(detail, detail_size, "a %s key", OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
        return false;
    }
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING, encoding,
                                       sizeof(encoding), NULL) != 1 ||
        strcmp(encoding, OSSL_PKEY_EC_ENCODING_GROUP) != 0) {
        snprintf(detail, detail_size, "an EC key with explicit curve parameters");
        return false;
    }
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       NULL) != 1 ||
        strcmp(group, "secp384r1") != 0) {
        snprintf(detail, detail_size, "an EC key on %s", group[0] ? group : "an unnamed curve");
        return false;
    }
    return true;
}

bool nsmv_key_is_uncompressed(const X509 *cert, char *detail, size_t detail_size)
{
    const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(cert);
    const uint8_t *point = bits ? ASN1_STRING_get0_data(bits) : NULL;
    int len = bits ? ASN1_STRING_length(bits) : 0;
    if (point && len == NSMKIT_P384_PUBLIC_LEN && point[0] == 0x04)
        return true;
    snprintf(detail, detail_size, "a P-384 point that is not in uncompressed form (%d bytes%s)",
             len, point && len > 0 && (point[0] == 2 || point[0] == 3) ? ", compressed" : "");
    return false;
}

nsmkit_p384_status nsmv_cert_leaf_key(const nsmv_verifier *v, const X509 *leaf,
                                      nsmkit_p384_public **out)
{
    const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(leaf);
    if (!bits)
        return NSMKIT_P384_KEY_LENGTH;
    return nsmkit_p384_public_new(v->crypto, ASN1_STRING_get0_data(bits),
                                  (size_t)ASN1_STRING_length(bits), out);
}

X509 *nsmv_cert_parse_keyless(OSSL_LIB_CTX *keyless, nsmkit_bytes der, bool canonical)
{
    X509 *x = X509_new_ex(keyless, NULL);
    const unsigned char *p = der.ptr;
    if (!x)
        return NULL;
    if (!d2i_X509(&x, &p, (long)der.len)) /* frees x and sets it to NULL */
        return NULL;
    if (p != der.ptr + der.len || (canonical && !nsmv_cert_is_der(x, der.ptr, der.len))) {
        X509_free(x);
        return NULL;
    }
    return x;
}

bool nsmv_cert_spki_is_p384(X509 *x)
{
    ASN1_OBJECT *alg = NULL;
    X509_ALGOR *params = NULL;
    const unsigned char *point = NULL;
    int point_len = 0, param_type = 0;
    const void *param = NULL;
    const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);
    if (!bits || (bits->flags & 0x07) != 0 ||
        X509_PUBKEY_get0_param(&alg, &point, &point_len, &params, X509_get_X509_PUBKEY(x)) != 1 ||
        OBJ_obj2nid(alg) != NID_X9_62_id_ecPublicKey || !params)
        return false;
    X509_ALGOR_get0(NULL, &param_type, &param, params);
    return param_type == V_ASN1_OBJECT && OBJ_obj2nid(param) == NID_secp384r1;
}

X509 *nsmv_cert_decode(nsmkit_bytes der)
{
    const unsigned char *p = der.ptr;
    X509 *x = d2i_X509(NULL, &p, (long)der.len);
    if (x && p != der.ptr + der.len) { /* every byte must belong to the certificate */
        X509_free(x);
        return NULL;
    }
    return x;
}

/* The DER header of a SEQUENCE at der: its size, and the size of header and body. Only
 * the shortest length encoding is accepted (DER's rule). */
static bool der_sequence_header(const uint8_t *der, size_t len, size_t *header, size_t *total)
{
    if (len < 2 || der[0] != 0x30)
        return false;
    size_t h = 2, body = der[1];
    if (der[1] & 0x80) {
        size_t bytes = der[1] & 0x7f;
        if (bytes == 0 || bytes > 3 || bytes > len - 2 || der[2] == 0)
            return false;
        body = 0;
        for (size_t i = 0; i < bytes; i++)
            body = body << 8 | der[2 + i];
        if (body < 0x80) /* the short form would do */
            return false;
        h += bytes;
    }
    if (body > len - h)
        return false;
    *header = h;
    *total = h + body;
    return true;
}

static bool bytes_equal_encoding(const uint8_t *bytes, size_t len, int n, const unsigned char *enc)
{
    return n > 0 && (size_t)n == len && memcmp(bytes, enc, len) == 0;
}

bool nsmv_cert_is_der(X509 *x, const uint8_t *der, size_t len)
{
    /* i2d_X509 would replay the tbsCertificate bytes as they were read (OpenSSL keeps
     * them for the signature check), so BER inside them would survive: i2d_re_X509_tbs
     * encodes them from the parsed fields. For a DER certificate those are the same
     * bytes, so the signature checks that follow see no difference. The certificate is
     * SEQUENCE { tbs, signatureAlgorithm, signature }: each part is compared with its
     * own encoding (one encoding of the tbs, not two as with i2d_X509 after it). */
    size_t header, total, tbs_header, tbs_total;
    if (!der_sequence_header(der, len, &header, &total) || total != len ||
        !der_sequence_header(der + header, len - header, &tbs_header, &tbs_total))
        return false;
    const ASN1_BIT_STRING *sig = NULL;
    const X509_ALGOR *alg = NULL;
    unsigned char *tbs = NULL, *alg_der = NULL, *sig_der = NULL;
    X509_get0_signature(&sig, &alg, x);
    int tbs_n = i2d_re_X509_tbs(x, &tbs);
    int alg_n = alg ? i2d_X509_ALGOR(alg, &alg_der) : -1;
    int sig_n = sig ? i2d_ASN1_BIT_STRING(sig, &sig_der) : -1;
    const uint8_t *rest = der + header + tbs_total;
    size_t rest_len = len - header - tbs_total;
    bool same = bytes_equal_encoding(der + header, tbs_total, tbs_n, tbs) && alg_n > 0 &&
                (size_t)alg_n <= rest_len &&
                bytes_equal_encoding(rest, (size_t)alg_n, alg_n, alg_der) &&
                bytes_equal_encoding(rest + alg_n, rest_len - (size_t)alg_n, sig_n, sig_der);
    OPENSSL_free(tbs);
    OPENSSL_free(alg_der);
    OPENSSL_free(sig_der);
    return same;
}

nsmv_code nsmv_cert_parse(nsmkit_bytes der, nsmv_code parse_code, X509 **out)
{
    *out = nsmv_cert_decode(der);
    if (!*out)
        return parse_code;
    if (!nsmv_cert_is_der(*out, der.ptr, der.len)) {
        X509_free(*out);
        *out = NULL;
        return NSMV_ERR_CERT_NOT_DER;
    }
    return NSMV_OK;
}

nsmv_code nsmv_cert_check_profile(X509 *x, bool is_leaf, char *why, size_t why_size)
{
    char key[80];
    if (!nsmv_key_is_p384(X509_get0_pubkey(x), key, sizeof(key)) ||
        !nsmv_key_is_uncompressed(x, key, sizeof(key))) {
        snprintf(why, why_size, "has %s", key);
        return NSMV_ERR_CERT_KEY;
    }
    return nsmv_cert_check_usage(x, is_leaf, why, why_size);
}

nsmv_code nsmv_cert_check_usage(X509 *x, bool is_leaf, char *why, size_t why_size)
{
    int sig = X509_get_signature_nid(x);
    if (sig != NID_ecdsa_with_SHA384) {
        snprintf(why, why_size, "is signed with %s",
                 sig == NID_undef ? "an unknown algorithm" : OBJ_nid2ln(sig));
        return NSMV_ERR_CERT_SIGNATURE_ALG;
    }
    uint32_t flags = X509_get_extension_flags(x);
    if (flags & EXFLAG_INVALID) {
        snprintf(why, why_size, "has extensions that do not decode");
        return is_leaf ? NSMV_ERR_CERT_PARSE : NSMV_ERR_CABUNDLE_CERT_PARSE;
    }
    bool has_ku = (flags & EXFLAG_KUSAGE) != 0;
    uint32_t ku = X509_get_key_usage(x);
    const char *problem = NULL;
    if (is_leaf) {
        if (flags & EXFLAG_CA)
            problem = "is a CA (basicConstraints CA:TRUE)";
        else if (!has_ku || !(ku & KU_DIGITAL_SIGNATURE))
            problem = has_ku ? "lacks the digitalSignature key usage" : "has no keyUsage extension";
    } else {
        if (!(flags & EXFLAG_BCONS) || !(flags & EXFLAG_CA))
            problem = (flags & EXFLAG_BCONS) ? "has basicConstraints CA:FALSE"
                                             : "has no basicConstraints";
        else if (!has_ku || !(ku & KU_KEY_CERT_SIGN))
            problem = has_ku ? "lacks the keyCertSign key usage" : "has no keyUsage extension";
    }
    if (!problem)
        return NSMV_OK;
    snprintf(why, why_size, "%s", problem);
    return is_leaf ? NSMV_ERR_LEAF_PROFILE : NSMV_ERR_CA_PROFILE;
}

