/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X.509 building: the certificate of each tier, shaped as the real chain is (NSM-FACTS
 * section 5):
 *
 *   tier      subject order                 life      extensions (in order)               serial
 *   root      C O OU CN                     30 y      BC!(CA) SKI KU!(ds,kcs,crl)         16 B
 *   regional  C O OU CN                     20 d      BC!(len 2) AKI SKI KU!(..) CRLDP    16 B
 *   zonal     CN OU O C ST L                ~6 d      BC!(len 1) AKI SKI KU!(..) CRLDP    16 B
 *   instance  C ST L O OU CN                1 d       BC!(len 0) KU!(kcs) SKI AKI         20 B
 *   leaf      C ST L O OU CN                3 h + 3 s BC!(CA:FALSE) KU(ds,nr)             enclave id
 *
 * Every subject says O=NSM Simulator, OU=NOT AWS. The leaf's shape lives in leaf.c.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "internal.h"

#define SIM_ORG "NSM Simulator"
#define SIM_UNIT "NOT AWS"
#define SIM_ROOT_CN "nsm-sim.nitro-enclaves"

/* How long each tier lives and how far before the time that needs it its life starts. */
static const uint64_t tier_lifetime_s[] = {30 * YEAR_S + HOUR_S, 20 * DAY_S + HOUR_S,
                                           141 * HOUR_S, DAY_S};
static const uint64_t tier_backdate_s[] = {HOUR_S, DAY_S, 12 * HOUR_S, 3 * HOUR_S};

static nsmca_code name_build(X509_NAME *name, const ca_name_part *parts, size_t count,
                             nsmkit_error *e)
{
    for (size_t i = 0; i < count; i++) {
        /* MBSTRING_UTF8: OpenSSL's string table makes countryName a PrintableString and
         * leaves the others UTF8String, exactly as in the real certificates. */
        if (!X509_NAME_add_entry_by_NID(name, parts[i].nid, MBSTRING_UTF8,
                                        (const unsigned char *)parts[i].value, -1, -1, 0))
            return ca_ossl_fail(e, NSMCA_ERR_CRYPTO, "build certificate name");
    }
    return NSMCA_OK;
}

static nsmca_code add_extensions(X509 *cert, X509 *issuer, const ca_cert_spec *spec,
                                 nsmkit_error *e)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
    for (size_t i = 0; i < spec->ext_count; i++) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, spec->ext_nids[i],
                                                  spec->ext_values[i]);
        if (!ext)
            return ca_ossl_fail(e, NSMCA_ERR_CRYPTO, "build certificate extension");
        int ok = X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
        if (!ok)
            return ca_ossl_fail(e, NSMCA_ERR_CRYPTO, "add certificate extension");
    }
    return NSMCA_OK;
}

/* Everything but the extensions and the signature. */
static nsmca_code cert_fill(X509 *cert, X509_NAME *subject, ASN1_INTEGER *serial,
                            const ca_cert_spec *spec, nsmkit_error *e)
{
    if (!X509_set_version(cert, X509_VERSION_3) || !X509_set_serialNumber(cert, serial))
        return ca_ossl_fail(e, NSMCA_ERR_CRYPTO, "set certificate serial");
    nsmca_code code = name_build(subject, spec->subject, spec->subject_count, e);
    if (code != NSMCA_OK)
        return code;
    if (!X509_set_subject_name(cert, subject) ||
        !X509_set_issuer_name(cert, spec->issuer ? X509_get_subject_name(spec->issuer)
                                                 : subject))
        return ca_ossl_fail(e, NSMCA_ERR_CRYPTO, "set certificate names");
    if (!ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)spec->not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)spec->not_after) ||
        !X509_set_pubkey(cert, spec->subject_key))
        return ca_ossl_fail(e, NSMCA_ERR_CRYPTO, "set certificate validity or key");
    return NSMCA_OK;
}

nsmca_code ca_cert_build(const ca_cert_spec *spec, X509 **out, nsmkit_error *e)
{
    *out = NULL;
    X509 *cert = X509_new();
    X509_NAME *subject = X509_NAME_new();
    BIGNUM *serial_bn = BN_bin2bn(spec->serial, (int)spec->serial_len, NULL);
    ASN1_INTEGER *serial = serial_bn ? BN_to_ASN1_INTEGER(serial_bn, NULL) : NULL;
    nsmca_code code;

    if (!cert || !subject || !serial)
        code = ca_ossl_fail(e, NSMCA_ERR_NO_MEMORY, "allocate certificate");
    else
        code = cert_fill(cert, subject, serial, spec, e);
    if (code == NSMCA_OK)
        code = add_extensions(cert, spec->issuer, spec, e);
    if (code == NSMCA_OK && !X509_sign(cert, spec->issuer_key, EVP_sha384()))
        code = ca_ossl_fail(e, NSMCA_ERR_CRYPTO, "sign certificate");
    ASN1_INTEGER_free(serial);
    BN_free(serial_bn);
    X509_NAME_free(subject);
    if (code == NSMCA_OK)
        *out = cert;
    else
        X509_free(cert);
    return code;
}

/* The variable parts of a tier's certificate, kept alive while it is built. */
typedef struct {
    char cn[128];
    char basic[48];
    char crl[128];
    const char *values[5];
    ca_name_part parts[6];
    size_t nparts;
} tier_text;

static void add_part(tier_text *tt, int nid, const char *value)
{
    tt->parts[tt->nparts++] = (ca_name_part){nid, value};
}

static void root_shape(tier_text *tt, ca_cert_spec *spec)
{
    static const int nids[] = {NID_basic_constraints, NID_subject_key_identifier, NID_key_usage};
    static const char *const values[] = {"critical,CA:TRUE", "hash",
                                         "critical,digitalSignature,keyCertSign,cRLSign"};
    add_part(tt, NID_countryName, "US");
    add_part(tt, NID_organizationName, SIM_ORG);
    add_part(tt, NID_organizationalUnitName, SIM_UNIT);
    add_part(tt, NID_commonName, SIM_ROOT_CN);
    spec->ext_nids = nids;
    spec->ext_values = values;
    spec->ext_count = 3;
}

/* Regional and zonal: random hex names and a CRL distribution point, as the real ones. */
static nsmca_code middle_shape(const nsmca_pki *pki, unsigned index, tier_text *tt,
                               ca_cert_spec *spec, nsmkit_error *e)
{
    static const int nids[] = {NID_basic_constraints, NID_authority_key_identifier,
                               NID_subject_key_identifier, NID_key_usage,
                               NID_crl_distribution_points};
    char hex16[17], uuid[33];
    nsmca_code code = ca_random_hex(hex16, 16, e);
    if (code == NSMCA_OK)
        code = ca_random_hex(uuid, 32, e);
    if (code != NSMCA_OK)
        return code;
    snprintf(tt->cn, sizeof(tt->cn), "%s.%s%s.aws.nitro-enclaves", hex16,
             index == TIER_ZONAL ? "zonal." : "", pki->region);
    snprintf(tt->crl, sizeof(tt->crl),
             "URI:http://crl.%s.nsm-sim.invalid/crl/%.8s-%.4s-%.4s-%.4s-%.12s.crl", pki->region,
             uuid, uuid + 8, uuid + 12, uuid + 16, uuid + 20);
    if (index == TIER_REGIONAL) {
        add_part(tt, NID_countryName, "US");
        add_part(tt, NID_organizationName, SIM_ORG);
        add_part(tt, NID_organizationalUnitName, SIM_UNIT);
        add_part(tt, NID_commonName, tt->cn);
    } else {
        /* The real zonal subject starts with CN and ends with ST, L. */
        add_part(tt, NID_commonName, tt->cn);
        add_part(tt, NID_organizationalUnitName, SIM_UNIT);
        add_part(tt, NID_organizationName, SIM_ORG);
        add_part(tt, NID_countryName, "US");
        add_part(tt, NID_stateOrProvinceName, "WA");
        add_part(tt, NID_localityName, "Seattle");
    }
    tt->values[0] = tt->basic;
    tt->values[1] = "keyid:always";
    tt->values[2] = "hash";
    tt->values[3] = "critical,digitalSignature,keyCertSign,cRLSign";
    tt->values[4] = tt->crl;
    spec->ext_nids = nids;
    spec->ext_values = tt->values;
    spec->ext_count = 5;
    return NSMCA_OK;
}

static void instance_shape(const nsmca_pki *pki, tier_text *tt, ca_cert_spec *spec)
{
    static const int nids[] = {NID_basic_constraints, NID_key_usage, NID_subject_key_identifier,
                               NID_authority_key_identifier};
    snprintf(tt->cn, sizeof(tt->cn), "%s.%s.aws.nitro-enclaves", pki->instance_id, pki->region);
    add_part(tt, NID_countryName, "US");
    add_part(tt, NID_stateOrProvinceName, "Washington");
    add_part(tt, NID_localityName, "Seattle");
    add_part(tt, NID_organizationName, SIM_ORG);
    add_part(tt, NID_organizationalUnitName, SIM_UNIT);
    add_part(tt, NID_commonName, tt->cn);
    tt->values[0] = tt->basic;
    tt->values[1] = "critical,keyCertSign";
    tt->values[2] = "hash";
    tt->values[3] = "keyid:always";
    spec->ext_nids = nids;
    spec->ext_values = tt->values;
    spec->ext_count = 4;
}

/* A positive serial of n random bytes whose first byte is not zero, so that its encoded
 * length is always the same, as in the real certificates. */
static nsmca_code random_serial(uint8_t *serial, size_t n, nsmkit_error *e)
{
    nsmca_code code = ca_random_bytes(serial, n, e);
    if (code == NSMCA_OK && serial[0] == 0)
        serial[0] = 0x5a;
    return code;
}

nsmca_code ca_tier_cert_build(const nsmca_pki *pki, unsigned index, EVP_PKEY *key,
                              const ca_tier *issuer, uint64_t t, X509 **out, nsmkit_error *e)
{
    tier_text tt = {.nparts = 0};
    ca_cert_spec spec = {0};
    uint8_t serial[20];
    size_t serial_len = index == TIER_INSTANCE ? 20 : 16;
    nsmca_code code = NSMCA_OK;

    *out = NULL;
    if (index > pki->tiers || (index > 0 && !issuer))
        return ca_fail(e, NSMCA_ERR_INTERNAL, "internal: no tier %u", index);
    snprintf(tt.basic, sizeof(tt.basic), "critical,CA:TRUE,pathlen:%u", pki->tiers - index);
    if (index == TIER_ROOT)
        root_shape(&tt, &spec);
    else if (index == TIER_INSTANCE)
        instance_shape(pki, &tt, &spec);
    else
        code = middle_shape(pki, index, &tt, &spec, e);
    if (code == NSMCA_OK)
        code = random_serial(serial, serial_len, e);
    if (code != NSMCA_OK)
        return code;
    spec.serial = serial;
    spec.serial_len = serial_len;
    spec.subject = tt.parts;
    spec.subject_count = tt.nparts;
    spec.not_before = t > tier_backdate_s[index] ? t - tier_backdate_s[index] : 0;
    spec.not_after = spec.not_before + tier_lifetime_s[index];
    spec.subject_key = key;
    spec.issuer = index == TIER_ROOT ? NULL : issuer->cert;
    spec.issuer_key = index == TIER_ROOT ? key : issuer->key;
    return ca_cert_build(&spec, out, e);
}

bool ca_cert_valid_over(X509 *cert, uint64_t from_s, uint64_t to_s)
{
    time_t from = (time_t)from_s, to = (time_t)to_s;
    /* X509_cmp_time: -1 when the certificate time is before the given time. */
    return X509_cmp_time(X509_get0_notBefore(cert), &from) <= 0 &&
           X509_cmp_time(X509_get0_notAfter(cert), &to) >= 0;
}

int64_t ca_time_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (!ASN1_TIME_to_tm(t, &tm))
        return 0;
    return (int64_t)timegm(&tm);
}
