/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The leaf's link checked outside X509_verify_cert, for the fleet case: many documents,
 * each with a new leaf, under intermediates this verifier has already verified (and
 * keeps, parsed, in its cache). X509_verify_cert would decode and check every certificate
 * again; here only the leaf is parsed, and its signature is checked with the issuer's
 * key, decoded once, through the P-384 seam.
 *
 * This path can only accept. It accepts when every check X509_verify_cert makes on the
 * leaf (with this verifier's settings: no purpose, no policy, no hostname, no CRLs, no
 * X509_V_FLAG_X509_STRICT) passes on this leaf; anything unusual, and every failure,
 * sends the document down the full path, which finds the failure and names it. So the
 * verdict and code of every document are the full path's (tests/test_verify_fleet.c runs
 * documents through both and compares). What OpenSSL checks on the leaf's link, and
 * where it is checked here:
 *
 *   parse, canonical DER, P-384 key, profile (not a CA, digitalSignature)   1, 2
 *   extensions it knows, nothing critical it does not (UNHANDLED_CRITICAL),
 *   none invalid, no proxy certificate, no RFC 3779 resources                3
 *   validity at the verification time (notBefore <= t < notAfter)            4
 *   issuer and subject chaining (X509_check_issued: names, AKID, the
 *   issuer's keyUsage), and no other candidate issuer in the chain          5
 *   the signature: the same algorithm inside and outside the tbs,
 *   ecdsa-with-SHA384 without parameters, a DER ECDSA-Sig-Value in a
 *   BIT STRING with no unused bits, verified over the tbs bytes               6
 *
 * Checks on the intermediates (their signatures, validity windows, basicConstraints,
 * keyUsage, path lengths, which do not depend on the leaf) were made by X509_verify_cert
 * when they were cached; the cache re-checks their window at every verification time and
 * keeps no intermediate with name constraints (which would constrain the leaf's names).
 */
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "internal.h"

/* The header and total length of the DER TLV at der (a SEQUENCE). */
static bool der_sequence(const uint8_t *der, size_t len, size_t *header, size_t *total)
{
    if (len < 2 || der[0] != 0x30)
        return false;
    size_t h = 2, body = der[1];
    if (der[1] & 0x80) {
        size_t bytes = der[1] & 0x7f;
        if (bytes == 0 || bytes > 3 || bytes > len - 2)
            return false;
        body = 0;
        for (size_t i = 0; i < bytes; i++)
            body = body << 8 | der[2 + i];
        h += bytes;
    }
    if (body > len - h)
        return false;
    *header = h;
    *total = h + body;
    return true;
}

/* Extensions this path knows the meaning of for a leaf; anything else goes the full way. */
static bool extensions_known(X509 *leaf)
{
    static const int known[] = {NID_basic_constraints,     NID_key_usage,
                                NID_ext_key_usage,         NID_subject_key_identifier,
                                NID_authority_key_identifier, NID_subject_alt_name};
    for (int i = 0; i < X509_get_ext_count(leaf); i++) {
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(X509_get_ext(leaf, i)));
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && known[k] != nid)
            k++;
        if (k == sizeof(known) / sizeof(known[0]))
            return false;
    }
    uint32_t flags = X509_get_extension_flags(leaf);
    return !(flags & (EXFLAG_INVALID | EXFLAG_CRITICAL | EXFLAG_PROXY));
}

/* UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ: the forms RFC 5280 allows,
 * which OpenSSL and ASN1_TIME_to_tm read alike. */
static bool time_canonical(const ASN1_TIME *t)
{
    int len = ASN1_STRING_length(t);
    const unsigned char *s = ASN1_STRING_get0_data(t);
    int want = ASN1_STRING_type(t) == V_ASN1_UTCTIME           ? 13
               : ASN1_STRING_type(t) == V_ASN1_GENERALIZEDTIME ? 15
                                                               : -1;
    if (len != want || s[len - 1] != 'Z')
        return false;
    for (int i = 0; i < len - 1; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* The leaf's signature as r || s, when it is exactly what OpenSSL would accept. */
static bool signature_raw(const X509 *leaf, uint8_t raw[96])
{
    const ASN1_BIT_STRING *sig = NULL;
    const X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *oid = NULL;
    int param_type = 0;
    X509_get0_signature(&sig, &alg, leaf);
    if (!sig || !alg || X509_ALGOR_cmp(alg, X509_get0_tbs_sigalg(leaf)) != 0)
        return false;
    X509_ALGOR_get0(&oid, &param_type, NULL, alg);
    if (OBJ_obj2nid(oid) != NID_ecdsa_with_SHA384 || param_type != V_ASN1_UNDEF ||
        (sig->flags & 0x07) != 0) /* unused bits: OpenSSL refuses them */
        return false;
    const unsigned char *p = sig->data, *end = sig->data + sig->length;
    ECDSA_SIG *ecdsa = d2i_ECDSA_SIG(NULL, &p, sig->length);
    unsigned char *again = NULL;
    bool ok = false;
    /* OpenSSL's ECDSA verify refuses a signature that does not re-encode to itself */
    if (ecdsa && p == end && i2d_ECDSA_SIG(ecdsa, &again) == sig->length &&
        memcmp(again, sig->data, (size_t)sig->length) == 0) {
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(ecdsa, &r, &s);
        ok = !BN_is_negative(r) && !BN_is_negative(s) && BN_bn2binpad(r, raw, 48) == 48 &&
             BN_bn2binpad(s, raw + 48, 48) == 48;
    }
    OPENSSL_free(again);
    ECDSA_SIG_free(ecdsa);
    return ok;
}

bool nsmv_leaf_link_accept(const nsmv_verifier *v, nsmkit_bytes leaf_der,
                           const nsmv_leaf_link *link, int64_t time_s,
                           nsmkit_p384_public **leaf_key, int64_t leaf_window[2])
{
    X509 *leaf = NULL;
    nsmkit_p384_public *key = NULL;
    uint8_t raw[96], digest[48];
    size_t header, total, tbs_header, tbs_total;
    char why[128];
    bool ok = false;

    /* 1, 2: the leaf itself, as the full path's steps 1 and 3 want it (the key read by
     * the seam, which checks that the point is on the curve, as OpenSSL's decoder does) */
    if (!(leaf = nsmv_cert_parse_keyless(v->keyless, leaf_der, true)) ||
        !nsmv_cert_spki_is_p384(leaf) ||
        nsmv_cert_check_usage(leaf, true, why, sizeof(why)) != NSMV_OK ||
        nsmv_cert_leaf_key(v, leaf, &key) != NSMKIT_P384_OK)
        goto out;
    /* 3 */
    if (!extensions_known(leaf))
        goto out;
    /* 4 */
    if (!time_canonical(X509_get0_notBefore(leaf)) || !time_canonical(X509_get0_notAfter(leaf)) ||
        !nsmv_cert_validity(leaf, &leaf_window[0], &leaf_window[1]) ||
        !(leaf_window[0] <= time_s && time_s < leaf_window[1]))
        goto out;
    /* 5: issued by cabundle[n-1], and by nothing else OpenSSL could pick instead */
    if (X509_check_issued(link->issuer, leaf) != X509_V_OK ||
        X509_check_issued(leaf, leaf) == X509_V_OK)
        goto out;
    for (size_t i = 0; i < link->other_count; i++)
        if (X509_check_issued(link->others[i], leaf) == X509_V_OK)
            goto out;
    /* 6: the tbs bytes are those of the input (canonical DER was checked) */
    if (!signature_raw(leaf, raw) || !der_sequence(leaf_der.ptr, leaf_der.len, &header, &total) ||
        total != leaf_der.len ||
        !der_sequence(leaf_der.ptr + header, leaf_der.len - header, &tbs_header, &tbs_total) ||
        EVP_Digest(leaf_der.ptr + header, tbs_total, digest, NULL, v->sha384, NULL) != 1 ||
        nsmkit_p384_verify(link->issuer_key, digest, raw) != NSMKIT_P384_OK)
        goto out;
    (void)tbs_header;
    ok = true;
out:
    X509_free(leaf);
    if (ok)
        *leaf_key = key;
    else
        nsmkit_p384_public_free(key);
    ERR_clear_error();
    return ok;
}
