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

bool nsmv_cert_is_der(X509 *x, const uint8_t *der, size_t len)
{
    /* i2d_X509 alone replays the tbsCertificate bytes as they were read (OpenSSL keeps
     * them for the signature check), so BER inside them would survive: i2d_re_X509_tbs
     * makes every later encoding come from the parsed fields. For a DER certificate those
     * are the same bytes, so the signature checks that follow see no difference. */
    unsigned char *tbs = NULL, *out = NULL;
    int tbs_len = i2d_re_X509_tbs(x, &tbs);
    int n = tbs_len > 0 ? i2d_X509(x, &out) : -1;
    bool same = n > 0 && (size_t)n == len && memcmp(out, der, len) == 0;
    OPENSSL_free(tbs);
    OPENSSL_free(out);
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

