/*
 * The fake Nitro PKI: a root, AWS-shaped intermediates, and per-enclave leaves.
 *
 * Shapes measured on the real documents (NSM-FACTS section 5):
 *
 *   tier      subject order                 life      extensions (in order)               serial
 *   root      C O OU CN                     30 y      BC!(CA) SKI KU!(ds,kcs,crl)         16 B
 *   regional  C O OU CN                     20 d      BC!(len 2) AKI SKI KU!(..) CRLDP    16 B
 *   zonal     CN OU O C ST L                ~6 d      BC!(len 1) AKI SKI KU!(..) CRLDP    16 B
 *   instance  C ST L O OU CN                1 d       BC!(len 0) KU!(kcs) SKI AKI         20 B
 *   leaf      C ST L O OU CN                3 h + 3 s BC!(CA:FALSE) KU(ds,nr)             enclave id
 *
 * Files in the CA directory: ca.conf, and NAME.pem / NAME.key for the root and each tier.
 * Keys are written 0600 and refused when group or others can read them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "nsmkit/ca.h"
#include "nsmkit/error.h"
#include "nsmkit/bytes.h"
#include "nsmkit/hex.h"
#include "nsmkit/file.h"

#define CA_FILE_MAX (64 * 1024)
#define HOUR_S 3600ull
#define DAY_S (24 * HOUR_S)
#define YEAR_S (365 * DAY_S + DAY_S / 4)

enum { TIER_ROOT = 0, TIER_REGIONAL = 1, TIER_ZONAL = 2, TIER_INSTANCE = 3 };

static const char *const tier_names[] = {"root", "regional", "zonal", "instance"};

/* How long each tier lives and how far before the time that needs it its life starts. */
static const uint64_t tier_lifetime_s[] = {30 * YEAR_S + HOUR_S, 20 * DAY_S + HOUR_S,
                                           141 * HOUR_S, DAY_S};
static const uint64_t tier_backdate_s[] = {HOUR_S, DAY_S, 12 * HOUR_S, 3 * HOUR_S};

#define SIM_ORG "NSM Simulator"
#define SIM_UNIT "NOT AWS"
#define SIM_ROOT_CN "nsm-sim.nitro-enclaves"

typedef struct {
    EVP_PKEY *key;
    X509 *cert;
    uint8_t *der;
    size_t der_len;
    bool unsaved; /* issued in memory, not (yet) on disk */
} ca_tier;

struct nsmca_pki {
    char *dir;
    char region[33];
    unsigned tiers;
    char instance_id[20]; /* "i-" + 17 hex + NUL */
    ca_tier cert[1 + NSMCA_MAX_TIERS];
};

struct nsmca_leaf {
    EVP_PKEY *key;
    uint8_t *der;
    size_t der_len;
    uint8_t *bundle[1 + NSMCA_MAX_TIERS];
    size_t bundle_len[1 + NSMCA_MAX_TIERS];
    unsigned bundle_count;
    uint64_t not_before, not_after;
};

/* ---- small helpers ----------------------------------------------------------------------- */

static int ossl_fail(nsmkit_error *e, const char *what)
{
    unsigned long code = ERR_get_error();
    char reason[256] = "unknown error";
    if (code)
        ERR_error_string_n(code, reason, sizeof(reason));
    ERR_clear_error();
    return nsmkit_fail(e, "%s: %s", what, reason);
}

static uint64_t now_seconds(void)
{
    return (uint64_t)time(NULL);
}

static int random_bytes(uint8_t *out, size_t n, nsmkit_error *e)
{
    if (RAND_bytes(out, (int)n) != 1)
        return ossl_fail(e, "random bytes");
    return 0;
}

static int random_hex(char *out, size_t digits, nsmkit_error *e)
{
    uint8_t raw[16];
    if (digits > 2 * sizeof(raw) || random_bytes(raw, sizeof(raw), e) != 0)
        return -1;
    char hex[2 * sizeof(raw) + 1];
    nsmkit_hex_encode(raw, sizeof(raw), hex);
    memcpy(out, hex, digits);
    out[digits] = '\0';
    return 0;
}

static char *path_join(const char *dir, const char *name, const char *suffix)
{
    size_t n = strlen(dir) + strlen(name) + strlen(suffix) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s%s", dir, name, suffix);
    return p;
}

static void tier_clear(ca_tier *t)
{
    EVP_PKEY_free(t->key);
    X509_free(t->cert);
    free(t->der);
    memset(t, 0, sizeof(*t));
}

static int tier_set_der(ca_tier *t, nsmkit_error *e)
{
    unsigned char *der = NULL;
    int n = i2d_X509(t->cert, &der);
    if (n <= 0)
        return ossl_fail(e, "encode certificate");
    free(t->der);
    t->der = malloc((size_t)n);
    if (!t->der) {
        OPENSSL_free(der);
        return nsmkit_fail(e, "out of memory");
    }
    memcpy(t->der, der, (size_t)n);
    t->der_len = (size_t)n;
    OPENSSL_free(der);
    return 0;
}

static EVP_PKEY *new_p384_key(nsmkit_error *e)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    if (!key)
        ossl_fail(e, "generate P-384 key");
    return key;
}

static bool is_p384_key(EVP_PKEY *key)
{
    char group[64];
    size_t len = 0;
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return false;
    if (!EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &len))
        return false;
    return strcmp(group, "secp384r1") == 0;
}

static bool cert_valid_over(X509 *cert, uint64_t from_s, uint64_t to_s)
{
    time_t from = (time_t)from_s, to = (time_t)to_s;
    /* X509_cmp_time: -1 when the certificate time is before the given time. */
    return X509_cmp_time(X509_get0_notBefore(cert), &from) <= 0 &&
           X509_cmp_time(X509_get0_notAfter(cert), &to) >= 0;
}

/* Unix seconds of an ASN1_TIME (for comparing validity ends). */
static int asn1_time_to_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    if (!ASN1_TIME_to_tm(t, &tm))
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* ---- certificate construction -------------------------------------------------------------- */

typedef struct {
    int nid;
    const char *value;
} name_part;

static int name_build(X509_NAME *name, const name_part *parts, size_t count, nsmkit_error *e)
{
    for (size_t i = 0; i < count; i++) {
        /* MBSTRING_UTF8: OpenSSL's string table makes countryName a PrintableString and
         * leaves the others UTF8String, exactly as in the real certificates. */
        if (!X509_NAME_add_entry_by_NID(name, parts[i].nid, MBSTRING_UTF8,
                                        (const unsigned char *)parts[i].value, -1, -1, 0))
            return ossl_fail(e, "build certificate name");
    }
    return 0;
}

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value, nsmkit_error *e)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (!ext)
        return ossl_fail(e, "build certificate extension");
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : ossl_fail(e, "add certificate extension");
}

typedef struct {
    const uint8_t *serial;
    size_t serial_len;
    const name_part *subject;
    size_t subject_count;
    uint64_t not_before, not_after;
    EVP_PKEY *subject_key;
    X509 *issuer;        /* NULL: self-signed */
    EVP_PKEY *issuer_key;
    /* extensions in order: NID and value (OpenSSL config syntax) */
    const int *ext_nids;
    const char *const *ext_values;
    size_t ext_count;
} cert_spec;

static X509 *cert_build(const cert_spec *spec, nsmkit_error *e)
{
    X509 *cert = X509_new();
    X509_NAME *subject = X509_NAME_new();
    BIGNUM *serial_bn = BN_bin2bn(spec->serial, (int)spec->serial_len, NULL);
    ASN1_INTEGER *serial = serial_bn ? BN_to_ASN1_INTEGER(serial_bn, NULL) : NULL;
    bool ok = false;

    if (!cert || !subject || !serial) {
        ossl_fail(e, "allocate certificate");
        goto out;
    }
    if (!X509_set_version(cert, X509_VERSION_3) || !X509_set_serialNumber(cert, serial)) {
        ossl_fail(e, "set certificate serial");
        goto out;
    }
    if (name_build(subject, spec->subject, spec->subject_count, e) != 0)
        goto out;
    if (!X509_set_subject_name(cert, subject) ||
        !X509_set_issuer_name(cert, spec->issuer ? X509_get_subject_name(spec->issuer)
                                                 : subject)) {
        ossl_fail(e, "set certificate names");
        goto out;
    }
    if (!ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)spec->not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)spec->not_after) ||
        !X509_set_pubkey(cert, spec->subject_key)) {
        ossl_fail(e, "set certificate validity or key");
        goto out;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, spec->issuer ? spec->issuer : cert, cert, NULL, NULL, 0);
    for (size_t i = 0; i < spec->ext_count; i++)
        if (add_ext(cert, &ctx, spec->ext_nids[i], spec->ext_values[i], e) != 0)
            goto out;
    if (!X509_sign(cert, spec->issuer_key, EVP_sha384())) {
        ossl_fail(e, "sign certificate");
        goto out;
    }
    ok = true;
out:
    ASN1_INTEGER_free(serial);
    BN_free(serial_bn);
    X509_NAME_free(subject);
    if (!ok) {
        X509_free(cert);
        cert = NULL;
    }
    return cert;
}

/* A positive serial of n random bytes whose first byte is not zero, so that its encoded
 * length is always the same, as in the real certificates. */
static int random_serial(uint8_t *serial, size_t n, nsmkit_error *e)
{
    if (random_bytes(serial, n, e) != 0)
        return -1;
    if (serial[0] == 0)
        serial[0] = 0x5a;
    return 0;
}

/* Issues tier `index` at time t (the root when index is 0) with a fresh key. */
static int tier_issue(nsmca_pki *pki, unsigned index, uint64_t t, nsmkit_error *e)
{
    static const int root_nids[] = {NID_basic_constraints, NID_subject_key_identifier,
                                    NID_key_usage};
    static const char *const root_values[] = {"critical,CA:TRUE", "hash",
                                              "critical,digitalSignature,keyCertSign,cRLSign"};
    static const int mid_nids[] = {NID_basic_constraints, NID_authority_key_identifier,
                                   NID_subject_key_identifier, NID_key_usage,
                                   NID_crl_distribution_points};
    static const int instance_nids[] = {NID_basic_constraints, NID_key_usage,
                                        NID_subject_key_identifier,
                                        NID_authority_key_identifier};
    char cn[128], hex16[17], basic[48], crl[128], uuid_hex[33];
    uint8_t serial[20];
    size_t serial_len = index == TIER_INSTANCE ? 20 : 16;
    const char *values[5];
    cert_spec spec = {0};
    name_part parts[6];
    size_t nparts = 0;

    if (index > pki->tiers)
        return nsmkit_fail(e, "internal: no tier %u", index);
    if (random_serial(serial, serial_len, e) != 0)
        return -1;
    EVP_PKEY *key = new_p384_key(e);
    if (!key)
        return -1;

    /* pathLen: the number of CA tiers below this one. */
    snprintf(basic, sizeof(basic), "critical,CA:TRUE,pathlen:%u", pki->tiers - index);
    switch (index) {
    case TIER_ROOT:
        parts[nparts++] = (name_part){NID_countryName, "US"};
        parts[nparts++] = (name_part){NID_organizationName, SIM_ORG};
        parts[nparts++] = (name_part){NID_organizationalUnitName, SIM_UNIT};
        parts[nparts++] = (name_part){NID_commonName, SIM_ROOT_CN};
        spec.ext_nids = root_nids;
        spec.ext_values = root_values;
        spec.ext_count = 3;
        break;
    case TIER_REGIONAL:
    case TIER_ZONAL:
        if (random_hex(hex16, 16, e) != 0 || random_hex(uuid_hex, 32, e) != 0)
            goto fail;
        snprintf(cn, sizeof(cn), "%s.%s%s.aws.nitro-enclaves", hex16,
                 index == TIER_ZONAL ? "zonal." : "", pki->region);
        snprintf(crl, sizeof(crl), "URI:http://crl.%s.nsm-sim.invalid/crl/%.8s-%.4s-%.4s-%.4s-%.12s.crl",
                 pki->region, uuid_hex, uuid_hex + 8, uuid_hex + 12, uuid_hex + 16,
                 uuid_hex + 20);
        if (index == TIER_REGIONAL) {
            parts[nparts++] = (name_part){NID_countryName, "US"};
            parts[nparts++] = (name_part){NID_organizationName, SIM_ORG};
            parts[nparts++] = (name_part){NID_organizationalUnitName, SIM_UNIT};
            parts[nparts++] = (name_part){NID_commonName, cn};
        } else {
            /* The real zonal subject starts with CN and ends with ST, L. */
            parts[nparts++] = (name_part){NID_commonName, cn};
            parts[nparts++] = (name_part){NID_organizationalUnitName, SIM_UNIT};
            parts[nparts++] = (name_part){NID_organizationName, SIM_ORG};
            parts[nparts++] = (name_part){NID_countryName, "US"};
            parts[nparts++] = (name_part){NID_stateOrProvinceName, "WA"};
            parts[nparts++] = (name_part){NID_localityName, "Seattle"};
        }
        values[0] = basic;
        values[1] = "keyid:always";
        values[2] = "hash";
        values[3] = "critical,digitalSignature,keyCertSign,cRLSign";
        values[4] = crl;
        spec.ext_nids = mid_nids;
        spec.ext_values = values;
        spec.ext_count = 5;
        break;
    default: /* TIER_INSTANCE */
        snprintf(cn, sizeof(cn), "%s.%s.aws.nitro-enclaves", pki->instance_id, pki->region);
        parts[nparts++] = (name_part){NID_countryName, "US"};
        parts[nparts++] = (name_part){NID_stateOrProvinceName, "Washington"};
        parts[nparts++] = (name_part){NID_localityName, "Seattle"};
        parts[nparts++] = (name_part){NID_organizationName, SIM_ORG};
        parts[nparts++] = (name_part){NID_organizationalUnitName, SIM_UNIT};
        parts[nparts++] = (name_part){NID_commonName, cn};
        values[0] = basic;
        values[1] = "critical,keyCertSign";
        values[2] = "hash";
        values[3] = "keyid:always";
        spec.ext_nids = instance_nids;
        spec.ext_values = values;
        spec.ext_count = 4;
        break;
    }
    spec.serial = serial;
    spec.serial_len = serial_len;
    spec.subject = parts;
    spec.subject_count = nparts;
    spec.not_before = t > tier_backdate_s[index] ? t - tier_backdate_s[index] : 0;
    spec.not_after = spec.not_before + tier_lifetime_s[index];
    spec.subject_key = key;
    spec.issuer = index == TIER_ROOT ? NULL : pki->cert[index - 1].cert;
    spec.issuer_key = index == TIER_ROOT ? key : pki->cert[index - 1].key;

    X509 *cert = cert_build(&spec, e);
    if (!cert)
        goto fail;
    tier_clear(&pki->cert[index]);
    pki->cert[index].key = key;
    pki->cert[index].cert = cert;
    pki->cert[index].unsaved = true;
    return tier_set_der(&pki->cert[index], e);
fail:
    EVP_PKEY_free(key);
    return -1;
}

/* ---- files ------------------------------------------------------------------------------------- */

static int tier_save(const nsmca_pki *pki, unsigned index, nsmkit_error *e)
{
    const ca_tier *t = &pki->cert[index];
    BIO *key_bio = BIO_new(BIO_s_mem());
    BIO *cert_bio = BIO_new(BIO_s_mem());
    char *key_path = path_join(pki->dir, tier_names[index], ".key");
    char *cert_path = path_join(pki->dir, tier_names[index], ".pem");
    int rc = -1;

    if (!key_bio || !cert_bio || !key_path || !cert_path) {
        nsmkit_fail(e, "out of memory");
        goto out;
    }
    if (!PEM_write_bio_PrivateKey(key_bio, t->key, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_X509(cert_bio, t->cert)) {
        ossl_fail(e, "encode PEM");
        goto out;
    }
    char *data;
    long n = BIO_get_mem_data(key_bio, &data);
    /* The key first: a certificate on disk always has its key beside it. */
    if (nsmkit_file_write(key_path, (const uint8_t *)data, (size_t)n, 0600, e) != 0)
        goto out;
    n = BIO_get_mem_data(cert_bio, &data);
    if (nsmkit_file_write(cert_path, (const uint8_t *)data, (size_t)n, 0644, e) != 0)
        goto out;
    rc = 0;
out:
    BIO_free(key_bio);
    BIO_free_all(cert_bio);
    free(key_path);
    free(cert_path);
    return rc;
}

static int tier_load(nsmca_pki *pki, unsigned index, nsmkit_error *e)
{
    ca_tier *t = &pki->cert[index];
    char *key_path = path_join(pki->dir, tier_names[index], ".key");
    char *cert_path = path_join(pki->dir, tier_names[index], ".pem");
    uint8_t *key_pem = NULL, *cert_pem = NULL;
    size_t key_len = 0, cert_len = 0;
    BIO *bio = NULL;
    int rc = -1;
    struct stat st;

    if (!key_path || !cert_path) {
        nsmkit_fail(e, "out of memory");
        goto out;
    }
    if (stat(key_path, &st) != 0) {
        nsmkit_fail(e, "%s: cannot open: %s", key_path, strerror(errno));
        goto out;
    }
    if (st.st_mode & 077) {
        nsmkit_fail(e, "%s: permissions %04o are too open (a private key must be 0600)",
                    key_path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if (nsmkit_file_read(key_path, CA_FILE_MAX, &key_pem, &key_len, e) != 0 ||
        nsmkit_file_read(cert_path, CA_FILE_MAX, &cert_pem, &cert_len, e) != 0)
        goto out;
    bio = BIO_new_mem_buf(key_pem, (int)key_len);
    t->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!t->key || !is_p384_key(t->key)) {
        ERR_clear_error();
        nsmkit_fail(e, "%s: not a P-384 private key in PEM", key_path);
        goto out;
    }
    bio = BIO_new_mem_buf(cert_pem, (int)cert_len);
    t->cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!t->cert) {
        ERR_clear_error();
        nsmkit_fail(e, "%s: not a PEM certificate", cert_path);
        goto out;
    }
    if (X509_check_private_key(t->cert, t->key) != 1) {
        ERR_clear_error();
        nsmkit_fail(e, "%s: certificate does not match %s", cert_path, key_path);
        goto out;
    }
    rc = tier_set_der(t, e);
out:
    if (key_pem)
        nsmkit_wipe(key_pem, key_len);
    free(key_pem);
    free(cert_pem);
    free(key_path);
    free(cert_path);
    return rc;
}

static bool valid_region(const char *region)
{
    size_t n = strlen(region);
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = region[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static bool valid_instance_id(const char *id)
{
    if (strlen(id) != 19 || strncmp(id, "i-", 2) != 0)
        return false;
    for (size_t i = 2; i < 19; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

static int conf_write(const nsmca_pki *pki, nsmkit_error *e)
{
    char text[256];
    int n = snprintf(text, sizeof(text),
                     "# nsmkit simulated Nitro PKI (NOT AWS): do not trust it outside tests\n"
                     "region=%s\nintermediates=%u\ninstance_id=%s\n",
                     pki->region, pki->tiers, pki->instance_id);
    char *path = path_join(pki->dir, "ca", ".conf");
    if (!path)
        return nsmkit_fail(e, "out of memory");
    int rc = nsmkit_file_write(path, (const uint8_t *)text, (size_t)n, 0644, e);
    free(path);
    return rc;
}

static int conf_read(nsmca_pki *pki, nsmkit_error *e)
{
    char *path = path_join(pki->dir, "ca", ".conf");
    uint8_t *text = NULL;
    size_t len = 0;
    int rc = -1;
    bool have_region = false, have_tiers = false, have_instance = false;

    if (!path)
        return nsmkit_fail(e, "out of memory");
    if (nsmkit_file_read(path, 4096, &text, &len, e) != 0)
        goto out;
    size_t pos = 0;
    unsigned line_no = 0;
    while (pos < len) {
        char line[256];
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        line_no++;
        if (end - pos >= sizeof(line)) {
            nsmkit_fail(e, "%s:%u: line too long", path, line_no);
            goto out;
        }
        memcpy(line, text + pos, end - pos);
        line[end - pos] = '\0';
        pos = end + 1;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            nsmkit_fail(e, "%s:%u: expected key=value", path, line_no);
            goto out;
        }
        *eq = '\0';
        const char *value = eq + 1;
        uint64_t number;
        if (strcmp(line, "region") == 0 && valid_region(value)) {
            snprintf(pki->region, sizeof(pki->region), "%s", value);
            have_region = true;
        } else if (strcmp(line, "intermediates") == 0 && nsmkit_parse_u64(value, &number) &&
                   number >= 1 && number <= NSMCA_MAX_TIERS) {
            pki->tiers = (unsigned)number;
            have_tiers = true;
        } else if (strcmp(line, "instance_id") == 0 && valid_instance_id(value)) {
            snprintf(pki->instance_id, sizeof(pki->instance_id), "%s", value);
            have_instance = true;
        } else {
            nsmkit_fail(e, "%s:%u: bad or unknown setting '%s'", path, line_no, line);
            goto out;
        }
    }
    if (!have_region || !have_tiers || !have_instance) {
        nsmkit_fail(e, "%s: missing %s", path,
                    !have_region ? "region" : !have_tiers ? "intermediates" : "instance_id");
        goto out;
    }
    rc = 0;
out:
    free(text);
    free(path);
    return rc;
}

/* An exclusive lock on DIR/.lock for the duration of a load-modify-save. Readers of a
 * CA directory they cannot write (a checked-in test PKI) go on without it: nobody can
 * be changing it through them. Returns the descriptor, -2 for "no lock needed", or -1. */
static int dir_lock(const char *dir, bool for_writing, nsmkit_error *e)
{
    char *path = path_join(dir, ".lock", "");
    if (!path)
        return nsmkit_fail(e, "out of memory");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 && !for_writing && (errno == EACCES || errno == EROFS || errno == EPERM)) {
        free(path);
        return -2;
    }
    if (fd < 0) {
        nsmkit_fail(e, "%s: cannot open: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    free(path);
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int saved = errno;
            close(fd);
            return nsmkit_fail(e, "%s: cannot lock: %s", dir, strerror(saved));
        }
    }
    return fd;
}

static void dir_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing releases the flock */
}

/* ---- public API ------------------------------------------------------------------------------ */

static nsmca_pki *pki_alloc(const char *dir)
{
    nsmca_pki *pki = calloc(1, sizeof(*pki));
    if (!pki)
        return NULL;
    pki->dir = strdup(dir);
    if (!pki->dir) {
        free(pki);
        return NULL;
    }
    return pki;
}

void nsmca_close(nsmca_pki *pki)
{
    if (!pki)
        return;
    for (unsigned i = 0; i <= NSMCA_MAX_TIERS; i++)
        tier_clear(&pki->cert[i]);
    free(pki->dir);
    free(pki);
}

static int pki_save_unsaved(nsmca_pki *pki, nsmkit_error *e)
{
    for (unsigned i = 0; i <= pki->tiers; i++) {
        if (!pki->cert[i].unsaved)
            continue;
        if (tier_save(pki, i, e) != 0)
            return -1;
        pki->cert[i].unsaved = false;
    }
    return 0;
}

int nsmca_init(const char *dir, const nsmca_init_options *options, nsmkit_error *e)
{
    nsmca_init_options defaults = {0};
    if (!options)
        options = &defaults;
    const char *region = options->region ? options->region : NSMCA_DEFAULT_REGION;
    unsigned tiers = options->intermediates ? options->intermediates : NSMCA_MAX_TIERS;
    uint64_t now = options->now_s ? options->now_s : now_seconds();

    if (!valid_region(region))
        return nsmkit_fail(e, "bad region '%s' (1-32 characters of a-z, 0-9 and '-')", region);
    if (tiers > NSMCA_MAX_TIERS)
        return nsmkit_fail(e, "bad number of intermediates %u (1..%d)", tiers, NSMCA_MAX_TIERS);
    if (now < HOUR_S)
        return nsmkit_fail(e, "creation time %llu is too early", (unsigned long long)now);
    if (nsmkit_mkdir_p(dir, 0700, e) != 0)
        return -1;
    int lock = dir_lock(dir, true, e);
    if (lock < 0)
        return -1;

    int rc = -1;
    nsmca_pki *pki = pki_alloc(dir);
    char *conf = path_join(dir, "ca", ".conf");
    if (!pki || !conf) {
        nsmkit_fail(e, "out of memory");
        goto out;
    }
    if (access(conf, F_OK) == 0) {
        nsmkit_fail(e, "%s: already holds a PKI (%s exists)", dir, conf);
        goto out;
    }
    snprintf(pki->region, sizeof(pki->region), "%s", region);
    pki->tiers = tiers;
    /* Instance ids are "i-" and 17 hex digits, starting with 0 as real ones do. */
    pki->instance_id[0] = 'i';
    pki->instance_id[1] = '-';
    pki->instance_id[2] = '0';
    if (random_hex(pki->instance_id + 3, 16, e) != 0)
        goto out;
    for (unsigned i = 0; i <= tiers; i++)
        if (tier_issue(pki, i, now, e) != 0)
            goto out;
    if (pki_save_unsaved(pki, e) != 0 || conf_write(pki, e) != 0)
        goto out;
    rc = 0;
out:
    free(conf);
    nsmca_close(pki);
    dir_unlock(lock);
    return rc;
}

static int pki_load(nsmca_pki *pki, nsmkit_error *e)
{
    if (conf_read(pki, e) != 0)
        return -1;
    for (unsigned i = 0; i <= pki->tiers; i++)
        if (tier_load(pki, i, e) != 0)
            return -1;
    /* Each certificate must be signed by the one above it; the root by itself. */
    for (unsigned i = 0; i <= pki->tiers; i++) {
        EVP_PKEY *issuer_key = pki->cert[i == 0 ? 0 : i - 1].key;
        if (X509_verify(pki->cert[i].cert, issuer_key) != 1) {
            ERR_clear_error();
            return nsmkit_fail(e, "%s/%s.pem: not signed by the %s key", pki->dir,
                               tier_names[i], tier_names[i == 0 ? 0 : i - 1]);
        }
    }
    return 0;
}

int nsmca_open(const char *dir, nsmca_pki **out, nsmkit_error *e)
{
    *out = NULL;
    struct stat st;
    if (stat(dir, &st) != 0)
        return nsmkit_fail(e, "%s: no CA directory: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return nsmkit_fail(e, "%s: not a directory", dir);
    nsmca_pki *pki = pki_alloc(dir);
    if (!pki)
        return nsmkit_fail(e, "out of memory");
    /* Under the lock: a refresh in another process never shows a half-written tier. */
    int lock = dir_lock(dir, false, e);
    if (lock == -1 || pki_load(pki, e) != 0) {
        dir_unlock(lock);
        nsmca_close(pki);
        return -1;
    }
    dir_unlock(lock);
    *out = pki;
    return 0;
}

int nsmca_default_dir(char *out, size_t out_size, nsmkit_error *e)
{
    const char *state = getenv("XDG_STATE_HOME");
    int n;
    if (state && *state) {
        n = snprintf(out, out_size, "%s/nsmkit/ca", state);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return nsmkit_fail(e, "neither XDG_STATE_HOME nor HOME is set: pass --ca DIR");
        n = snprintf(out, out_size, "%s/.local/state/nsmkit/ca", home);
    }
    if (n < 0 || (size_t)n >= out_size)
        return nsmkit_fail(e, "default CA directory name too long");
    return 0;
}

int nsmca_open_or_init(const char *dir, nsmca_pki **out, bool *created, nsmkit_error *e)
{
    *out = NULL;
    if (created)
        *created = false;
    char *conf = path_join(dir, "ca", ".conf");
    if (!conf)
        return nsmkit_fail(e, "out of memory");
    bool exists = access(conf, F_OK) == 0;
    free(conf);
    if (!exists) {
        nsmkit_error init_error;
        if (nsmca_init(dir, NULL, &init_error) == 0) {
            if (created)
                *created = true;
        } else if (!strstr(init_error.msg, "already holds a PKI")) {
            /* Someone else may have created it in between: that is fine. */
            if (e)
                *e = init_error;
            return -1;
        }
    }
    return nsmca_open(dir, out, e);
}

const char *nsmca_region(const nsmca_pki *pki)
{
    return pki->region;
}

unsigned nsmca_tier_count(const nsmca_pki *pki)
{
    return pki->tiers;
}

const char *nsmca_instance_id(const nsmca_pki *pki)
{
    return pki->instance_id;
}

unsigned nsmca_cert_count(const nsmca_pki *pki)
{
    return pki->tiers + 1;
}

const uint8_t *nsmca_cert_der(const nsmca_pki *pki, unsigned index, size_t *len)
{
    if (index > pki->tiers) {
        *len = 0;
        return NULL;
    }
    *len = pki->cert[index].der_len;
    return pki->cert[index].der;
}

int nsmca_refresh(nsmca_pki *pki, uint64_t unix_s, nsmkit_error *e)
{
    /* Valid over the whole life of a leaf issued now. */
    uint64_t from = unix_s > NSMCA_LEAF_BACKDATE_S ? unix_s - NSMCA_LEAF_BACKDATE_S : 0;
    uint64_t to = unix_s + NSMCA_LEAF_LIFETIME_S;
    if (!cert_valid_over(pki->cert[0].cert, from, to)) {
        int64_t nb = 0, na = 0;
        (void)asn1_time_to_unix(X509_get0_notBefore(pki->cert[0].cert), &nb);
        (void)asn1_time_to_unix(X509_get0_notAfter(pki->cert[0].cert), &na);
        return nsmkit_fail(e,
                           "time %llu is outside the root's validity (%lld..%lld): create a "
                           "CA for that time with `nsm-ca init DIR --time UNIX_S`",
                           (unsigned long long)unix_s, (long long)nb, (long long)na);
    }
    unsigned first = 0; /* the highest tier re-issued; everything below follows it */
    bool newer = false;
    for (unsigned i = 1; i <= pki->tiers; i++) {
        if (!first && cert_valid_over(pki->cert[i].cert, from, to))
            continue;
        int64_t old_end = 0, new_end = 0;
        (void)asn1_time_to_unix(X509_get0_notAfter(pki->cert[i].cert), &old_end);
        if (tier_issue(pki, i, unix_s, e) != 0)
            return -1;
        (void)asn1_time_to_unix(X509_get0_notAfter(pki->cert[i].cert), &new_end);
        if (!first) {
            first = i;
            newer = new_end >= old_end;
        }
    }
    if (!first)
        return 0;
    if (!newer) {
        /* Issued for a time in the past: the stored chain is the newer one and the one
         * later runs at the current time want, so this one lives only in memory. */
        for (unsigned i = first; i <= pki->tiers; i++)
            pki->cert[i].unsaved = false;
        return 0;
    }
    int lock = dir_lock(pki->dir, true, e);
    if (lock < 0)
        return -1;
    int rc = pki_save_unsaved(pki, e);
    dir_unlock(lock);
    return rc;
}

void nsmca_leaf_free(nsmca_leaf *leaf)
{
    if (!leaf)
        return;
    EVP_PKEY_free(leaf->key);
    free(leaf->der);
    for (unsigned i = 0; i < leaf->bundle_count; i++)
        free(leaf->bundle[i]);
    free(leaf);
}

int nsmca_leaf_issue(nsmca_pki *pki, const uint8_t enclave_id[NSMCA_ENCLAVE_ID_LEN],
                     uint64_t unix_s, nsmca_leaf **out, nsmkit_error *e)
{
    static const int leaf_nids[] = {NID_basic_constraints, NID_key_usage};
    static const char *const leaf_values[] = {"critical,CA:FALSE",
                                              "digitalSignature,nonRepudiation"};
    *out = NULL;
    if (unix_s > UINT32_MAX)
        return nsmkit_fail(e, "issue time %llu does not fit the 4-byte serial field",
                           (unsigned long long)unix_s);
    if (nsmca_refresh(pki, unix_s, e) != 0)
        return -1;

    nsmca_leaf *leaf = calloc(1, sizeof(*leaf));
    if (!leaf)
        return nsmkit_fail(e, "out of memory");
    leaf->key = new_p384_key(e);
    if (!leaf->key)
        goto fail;

    /* serial: enclave id || 00000000 || issue time (u32 seconds, big-endian) */
    uint8_t serial[16] = {0};
    memcpy(serial, enclave_id, NSMCA_ENCLAVE_ID_LEN);
    for (int i = 0; i < 4; i++)
        serial[12 + i] = (uint8_t)(unix_s >> (24 - 8 * i));
    char enclave_hex[2 * NSMCA_ENCLAVE_ID_LEN + 1], cn[128];
    nsmkit_hex_encode(enclave_id, NSMCA_ENCLAVE_ID_LEN, enclave_hex);
    snprintf(cn, sizeof(cn), "%s-enc%s.%s.aws", pki->instance_id, enclave_hex, pki->region);
    const name_part parts[] = {
        {NID_countryName, "US"},           {NID_stateOrProvinceName, "Washington"},
        {NID_localityName, "Seattle"},     {NID_organizationName, SIM_ORG},
        {NID_organizationalUnitName, SIM_UNIT}, {NID_commonName, cn},
    };
    unsigned issuer = pki->tiers;
    cert_spec spec = {
        .serial = serial,
        .serial_len = sizeof(serial),
        .subject = parts,
        .subject_count = sizeof(parts) / sizeof(parts[0]),
        .not_before = unix_s - NSMCA_LEAF_BACKDATE_S,
        .not_after = unix_s + NSMCA_LEAF_LIFETIME_S,
        .subject_key = leaf->key,
        .issuer = pki->cert[issuer].cert,
        .issuer_key = pki->cert[issuer].key,
        .ext_nids = leaf_nids,
        .ext_values = leaf_values,
        .ext_count = 2,
    };
    ca_tier leaf_tier = {0};
    leaf_tier.cert = cert_build(&spec, e);
    if (!leaf_tier.cert || tier_set_der(&leaf_tier, e) != 0) {
        X509_free(leaf_tier.cert);
        free(leaf_tier.der);
        goto fail;
    }
    X509_free(leaf_tier.cert);
    leaf->der = leaf_tier.der;
    leaf->der_len = leaf_tier.der_len;
    leaf->not_before = spec.not_before;
    leaf->not_after = spec.not_after;
    for (unsigned i = 0; i <= pki->tiers; i++) {
        leaf->bundle[i] = malloc(pki->cert[i].der_len);
        if (!leaf->bundle[i]) {
            nsmkit_fail(e, "out of memory");
            goto fail;
        }
        memcpy(leaf->bundle[i], pki->cert[i].der, pki->cert[i].der_len);
        leaf->bundle_len[i] = pki->cert[i].der_len;
        leaf->bundle_count = i + 1;
    }
    *out = leaf;
    return 0;
fail:
    nsmca_leaf_free(leaf);
    return -1;
}

const uint8_t *nsmca_leaf_der(const nsmca_leaf *leaf, size_t *len)
{
    *len = leaf->der_len;
    return leaf->der;
}

unsigned nsmca_leaf_bundle_count(const nsmca_leaf *leaf)
{
    return leaf->bundle_count;
}

const uint8_t *nsmca_leaf_bundle_der(const nsmca_leaf *leaf, unsigned index, size_t *len)
{
    if (index >= leaf->bundle_count) {
        *len = 0;
        return NULL;
    }
    *len = leaf->bundle_len[index];
    return leaf->bundle[index];
}

bool nsmca_leaf_valid_at(const nsmca_leaf *leaf, uint64_t unix_s)
{
    return unix_s >= leaf->not_before && unix_s <= leaf->not_after;
}

int nsmca_leaf_sign_digest(const nsmca_leaf *leaf, const uint8_t digest[48],
                           uint8_t signature[NSMCA_ECDSA_P384_SIG_LEN])
{
    unsigned char der[128];
    size_t der_len = sizeof(der);
    const unsigned char *p = der;
    ECDSA_SIG *sig = NULL;
    int rc = -1;

    /* A context per call keeps the leaf shareable between threads without a lock. */
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, leaf->key, NULL);
    if (!ctx || EVP_PKEY_sign_init(ctx) <= 0 ||
        EVP_PKEY_sign(ctx, der, &der_len, digest, 48) <= 0)
        goto out;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!sig || p != der + der_len)
        goto out;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, signature, 48) != 48 || BN_bn2binpad(s, signature + 48, 48) != 48)
        goto out;
    rc = 0;
out:
    ERR_clear_error();
    ECDSA_SIG_free(sig);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int nsmca_leaf_private_scalar(const nsmca_leaf *leaf, uint8_t scalar[NSMCA_P384_SCALAR_LEN])
{
    BIGNUM *d = NULL;
    int rc = -1;
    /* "priv" is OSSL_PKEY_PARAM_PRIV_KEY; the leaf key is EC P-384, so d < n < 2^384 */
    if (EVP_PKEY_get_bn_param(leaf->key, "priv", &d) == 1 &&
        BN_bn2binpad(d, scalar, NSMCA_P384_SCALAR_LEN) == NSMCA_P384_SCALAR_LEN)
        rc = 0;
    BN_clear_free(d);
    ERR_clear_error();
    return rc;
}
