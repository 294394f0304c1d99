/* The fake Nitro PKI: the certificate profile of every tier (parsed back and checked field
 * by field against the shape of the real chain), files and permissions, re-issue. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "nsmkit/ca.h"
#include "testutil.h"
#include "nsmkit/error.h"
#include "nsmkit/file.h"

#define T0 1790000000ull /* creation time of the test PKI */
#define HOUR 3600ull
#define DAY (24 * HOUR)

static X509 *parse(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    assert_non_null(cert);
    assert_ptr_equal(p, der + len); /* every byte consumed */
    return cert;
}

static X509 *tier_cert(nsmca_pki *pki, unsigned index)
{
    size_t len;
    const uint8_t *der = nsmca_cert_der(pki, index, &len);
    assert_non_null(der);
    return parse(der, len);
}

/* Subject attributes in encoded order, e.g. "C=US|O=NSM Simulator|...". Also checks that
 * countryName is a PrintableString and everything else a UTF8String, as in real ones. */
static void expect_subject(X509 *cert, const char *want)
{
    const X509_NAME *name = X509_get_subject_name(cert);
    char got[512] = "";
    for (int i = 0; i < X509_NAME_entry_count(name); i++) {
        const X509_NAME_ENTRY *entry = X509_NAME_get_entry(name, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
        const ASN1_STRING *value = X509_NAME_ENTRY_get_data(entry);
        assert_int_equal(ASN1_STRING_type(value),
                         nid == NID_countryName ? V_ASN1_PRINTABLESTRING : V_ASN1_UTF8STRING);
        char part[200];
        snprintf(part, sizeof(part), "%s%s=%.*s", i ? "|" : "", OBJ_nid2sn(nid),
                 ASN1_STRING_length(value), (const char *)ASN1_STRING_get0_data(value));
        strncat(got, part, sizeof(got) - strlen(got) - 1);
    }
    if (strcmp(got, want) != 0)
        fail_msg("subject\n  got  %s\n  want %s", got, want);
}

/* Extension NIDs in order, "!" marking critical ones, e.g. "!BC,SKI,!KU". */
static void expect_extensions(X509 *cert, const char *want)
{
    char got[256] = "";
    for (int i = 0; i < X509_get_ext_count(cert); i++) {
        X509_EXTENSION *ext = X509_get_ext(cert, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
        const char *name = nid == NID_basic_constraints          ? "BC"
                           : nid == NID_subject_key_identifier   ? "SKI"
                           : nid == NID_authority_key_identifier ? "AKI"
                           : nid == NID_key_usage                ? "KU"
                           : nid == NID_crl_distribution_points  ? "CRLDP"
                                                                 : "other";
        char part[16];
        snprintf(part, sizeof(part), "%s%s%s", i ? "," : "",
                 X509_EXTENSION_get_critical(ext) ? "!" : "", name);
        strncat(got, part, sizeof(got) - strlen(got) - 1);
    }
    if (strcmp(got, want) != 0)
        fail_msg("extensions\n  got  %s\n  want %s", got, want);
}

static int64_t cert_time(const ASN1_TIME *t)
{
    struct tm tm;
    assert_true(ASN1_TIME_to_tm(t, &tm));
    return (int64_t)timegm(&tm);
}

static void expect_validity(X509 *cert, int64_t not_before, int64_t life)
{
    assert_int_equal(cert_time(X509_get0_notBefore(cert)), not_before);
    assert_int_equal(cert_time(X509_get0_notAfter(cert)) - not_before, life);
}

static void expect_common(X509 *cert, X509 *issuer)
{
    assert_int_equal(X509_get_version(cert), X509_VERSION_3);
    assert_int_equal(X509_get_signature_nid(cert), NID_ecdsa_with_SHA384);
    EVP_PKEY *key = X509_get0_pubkey(cert);
    assert_non_null(key);
    assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
    char group[64];
    size_t n;
    assert_true(EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &n));
    assert_string_equal(group, "secp384r1");
    assert_int_equal(X509_verify(cert, X509_get0_pubkey(issuer)), 1);
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(issuer)), 0);
}

static int serial_len(X509 *cert)
{
    return ASN1_STRING_length(X509_get0_serialNumber(cert));
}

static long path_len(X509 *cert)
{
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(cert, NID_basic_constraints, NULL, NULL);
    assert_non_null(bc);
    long len = bc->pathlen ? ASN1_INTEGER_get(bc->pathlen) : -1;
    assert_true(bc->ca);
    BASIC_CONSTRAINTS_free(bc);
    return len;
}

static bool hex_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]) || !s[i])
            return false;
    return true;
}

static const char *cn_of(X509 *cert, char *buf, size_t size)
{
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, (int)size);
    return buf;
}

typedef struct {
    char *dir;
    nsmca_pki *pki;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_mkdtemp();
    nsmca_init_options options = {.region = "eu-west-1", .now_s = T0};
    nsmkit_error e;
    if (nsmca_init(f->dir, &options, &e) != 0 || nsmca_open(f->dir, &f->pki, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nsmca_close(f->pki);
    test_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* ---- the profile of each tier ----------------------------------------------------------------- */

static void root_profile(void **state)
{
    fixture *f = *state;
    X509 *root = tier_cert(f->pki, 0);
    expect_common(root, root);
    expect_subject(root, "C=US|O=NSM Simulator|OU=NOT AWS|CN=nsm-sim.nitro-enclaves");
    expect_extensions(root, "!BC,SKI,!KU");
    assert_int_equal(path_len(root), -1); /* CA, no pathLen */
    assert_int_equal(X509_get_key_usage(root), KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_int_equal(serial_len(root), 16);
    /* 30 years (and an hour), starting an hour before creation */
    expect_validity(root, T0 - HOUR, (int64_t)(30 * (365 * DAY + DAY / 4) + HOUR));
    X509_free(root);
}

static void regional_profile(void **state)
{
    fixture *f = *state;
    X509 *root = tier_cert(f->pki, 0), *regional = tier_cert(f->pki, 1);
    expect_common(regional, root);
    char cn[128];
    cn_of(regional, cn, sizeof(cn));
    assert_true(hex_run(cn, 16));
    assert_string_equal(cn + 16, ".eu-west-1.aws.nitro-enclaves");
    char want[256];
    snprintf(want, sizeof(want), "C=US|O=NSM Simulator|OU=NOT AWS|CN=%s", cn);
    expect_subject(regional, want);
    expect_extensions(regional, "!BC,AKI,SKI,!KU,CRLDP");
    assert_int_equal(path_len(regional), 2);
    assert_int_equal(X509_get_key_usage(regional),
                     KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    /* the AKI names the root's key */
    assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(regional),
                                           X509_get0_subject_key_id(root)), 0);
    assert_int_equal(serial_len(regional), 16);
    expect_validity(regional, T0 - DAY, (int64_t)(20 * DAY + HOUR));
    X509_free(root);
    X509_free(regional);
}

static void zonal_profile(void **state)
{
    fixture *f = *state;
    X509 *regional = tier_cert(f->pki, 1), *zonal = tier_cert(f->pki, 2);
    expect_common(zonal, regional);
    char cn[128];
    cn_of(zonal, cn, sizeof(cn));
    assert_true(hex_run(cn, 16));
    assert_string_equal(cn + 16, ".zonal.eu-west-1.aws.nitro-enclaves");
    char want[256];
    /* CN first, ST and L last: the real zonal subject's odd order */
    snprintf(want, sizeof(want), "CN=%s|OU=NOT AWS|O=NSM Simulator|C=US|ST=WA|L=Seattle", cn);
    expect_subject(zonal, want);
    expect_extensions(zonal, "!BC,AKI,SKI,!KU,CRLDP");
    assert_int_equal(path_len(zonal), 1);
    assert_int_equal(serial_len(zonal), 16);
    expect_validity(zonal, T0 - 12 * HOUR, (int64_t)(141 * HOUR));
    X509_free(regional);
    X509_free(zonal);
}

static void instance_profile(void **state)
{
    fixture *f = *state;
    X509 *zonal = tier_cert(f->pki, 2), *instance = tier_cert(f->pki, 3);
    expect_common(instance, zonal);
    const char *id = nsmca_instance_id(f->pki);
    assert_int_equal(strlen(id), 19);
    assert_true(hex_run(id + 2, 17));
    char want[256];
    snprintf(want, sizeof(want),
             "C=US|ST=Washington|L=Seattle|O=NSM Simulator|OU=NOT AWS|CN=%s.eu-west-1.aws.nitro-enclaves",
             id);
    expect_subject(instance, want);
    expect_extensions(instance, "!BC,!KU,SKI,AKI");
    assert_int_equal(path_len(instance), 0);
    assert_int_equal(X509_get_key_usage(instance), KU_KEY_CERT_SIGN);
    assert_int_equal(serial_len(instance), 20);
    expect_validity(instance, T0 - 3 * HOUR, (int64_t)DAY);
    X509_free(zonal);
    X509_free(instance);
}

static void leaf_profile(void **state)
{
    fixture *f = *state;
    const uint8_t enclave[8] = {0x01, 0x98, 0x18, 0xd6, 0xb7, 0x78, 0x4d, 0xe5};
    uint64_t t = T0 + 600;
    nsmca_leaf *leaf;
    nsmkit_error e;
    assert_int_equal(nsmca_leaf_issue(f->pki, enclave, t, &leaf, &e), 0);
    size_t len;
    const uint8_t *leaf_der = nsmca_leaf_der(leaf, &len);
    X509 *cert = parse(leaf_der, len);
    X509 *instance = tier_cert(f->pki, 3);
    expect_common(cert, instance);
    char want[256];
    snprintf(want, sizeof(want),
             "C=US|ST=Washington|L=Seattle|O=NSM Simulator|OU=NOT AWS|CN=%s-enc019818d6b7784de5.eu-west-1.aws",
             nsmca_instance_id(f->pki));
    expect_subject(cert, want);
    /* no SKI, no AKI; keyUsage not critical */
    expect_extensions(cert, "!BC,KU");
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(cert, NID_basic_constraints, NULL, NULL);
    assert_non_null(bc);
    assert_false(bc->ca);
    BASIC_CONSTRAINTS_free(bc);
    assert_int_equal(X509_get_key_usage(cert), KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION);
    /* serial: enclave id || 00000000 || issue time */
    const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
    assert_int_equal(ASN1_STRING_length(serial), 16);
    const uint8_t *s = ASN1_STRING_get0_data(serial);
    assert_memory_equal(s, enclave, 8);
    assert_memory_equal(s + 8, "\0\0\0\0", 4);
    assert_int_equal((uint32_t)s[12] << 24 | s[13] << 16 | s[14] << 8 | s[15], t);
    /* three hours and three seconds, from three seconds before the issue */
    expect_validity(cert, (int64_t)t - 3, (int64_t)(3 * HOUR + 3));
    assert_true(nsmca_leaf_valid_at(leaf, t - 3));
    assert_true(nsmca_leaf_valid_at(leaf, t + 3 * HOUR));
    assert_false(nsmca_leaf_valid_at(leaf, t - 4));
    assert_false(nsmca_leaf_valid_at(leaf, t + 3 * HOUR + 1));
    /* the bundle is the PKI, root first */
    assert_int_equal(nsmca_leaf_bundle_count(leaf), 4);
    for (unsigned i = 0; i < 4; i++) {
        size_t a, b;
        const uint8_t *x = nsmca_leaf_bundle_der(leaf, i, &a), *y = nsmca_cert_der(f->pki, i, &b);
        assert_int_equal(a, b);
        assert_memory_equal(x, y, a);
    }
    assert_null(nsmca_leaf_bundle_der(leaf, 4, &len));
    X509_free(instance);
    X509_free(cert);
    nsmca_leaf_free(leaf);
}

static void chain_verifies_with_openssl_at_issue_time(void **state)
{
    fixture *f = *state;
    const uint8_t enclave[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    nsmca_leaf *leaf;
    assert_int_equal(nsmca_leaf_issue(f->pki, enclave, T0 + 60, &leaf, NULL), 0);
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509 *root = tier_cert(f->pki, 0);
    X509_STORE_add_cert(store, root);
    for (unsigned i = 1; i < 4; i++)
        sk_X509_push(untrusted, tier_cert(f->pki, i));
    size_t len;
    const uint8_t *leaf_der = nsmca_leaf_der(leaf, &len);
    X509 *cert = parse(leaf_der, len);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, cert, untrusted);
    X509_STORE_CTX_set_time(ctx, 0, (time_t)(T0 + 60));
    assert_int_equal(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    /* and not four hours later, when the leaf has expired */
    ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, cert, untrusted);
    X509_STORE_CTX_set_time(ctx, 0, (time_t)(T0 + 60 + 4 * HOUR));
    assert_int_not_equal(X509_verify_cert(ctx), 1);
    assert_int_equal(X509_STORE_CTX_get_error(ctx), X509_V_ERR_CERT_HAS_EXPIRED);
    X509_STORE_CTX_free(ctx);
    X509_free(cert);
    X509_free(root);
    sk_X509_pop_free(untrusted, X509_free);
    X509_STORE_free(store);
    nsmca_leaf_free(leaf);
}

static void leaf_signs_raw_r_s(void **state)
{
    fixture *f = *state;
    const uint8_t enclave[8] = {0};
    nsmca_leaf *leaf;
    assert_int_equal(nsmca_leaf_issue(f->pki, enclave, T0, &leaf, NULL), 0);
    uint8_t digest[48], sig[96];
    memset(digest, 0x33, sizeof(digest));
    assert_int_equal(nsmca_leaf_sign_digest(leaf, digest, sig), 0);
    /* rebuild the DER signature and verify with the certificate's key */
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 48, NULL), BN_bin2bn(sig + 48, 48, NULL));
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG(es, &der);
    size_t len;
    const uint8_t *leaf_der = nsmca_leaf_der(leaf, &len);
    X509 *cert = parse(leaf_der, len);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(X509_get0_pubkey(cert), NULL);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    assert_int_equal(EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, 48), 1);
    digest[0] ^= 1;
    assert_int_not_equal(EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, 48), 1);
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    X509_free(cert);
    nsmca_leaf_free(leaf);
}

static void fewer_tiers_shorten_the_chain(void **state)
{
    (void)state;
    for (unsigned tiers = 1; tiers <= 2; tiers++) {
        char *dir = test_mkdtemp();
        nsmca_init_options options = {.intermediates = tiers, .now_s = T0};
        nsmca_pki *pki;
        assert_int_equal(nsmca_init(dir, &options, NULL), 0);
        assert_int_equal(nsmca_open(dir, &pki, NULL), 0);
        assert_int_equal(nsmca_tier_count(pki), tiers);
        assert_int_equal(nsmca_cert_count(pki), tiers + 1);
        for (unsigned i = 1; i <= tiers; i++) {
            X509 *c = tier_cert(pki, i);
            assert_int_equal(path_len(c), (long)(tiers - i)); /* CA tiers below it */
            X509_free(c);
        }
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s.pem", dir, tiers == 1 ? "zonal" : "instance");
        assert_int_equal(access(path, F_OK), -1);
        nsmca_close(pki);
        test_rmdir(dir);
        free(dir);
    }
}

/* ---- files, permissions, bad input ------------------------------------------------------------ */

static void keys_are_0600_and_refused_when_open(void **state)
{
    fixture *f = *state;
    static const char *const names[] = {"root", "regional", "zonal", "instance"};
    char path[4200];
    struct stat st;
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s.key", f->dir, names[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    snprintf(path, sizeof(path), "%s/zonal.key", f->dir);
    chmod(path, 0640);
    nsmca_pki *pki;
    nsmkit_error e;
    assert_int_equal(nsmca_open(f->dir, &pki, &e), -1);
    assert_null(pki);
    assert_non_null(strstr(e.msg, "zonal.key: permissions 0640 are too open"));
}

static void bad_directories_get_clear_errors(void **state)
{
    fixture *f = *state;
    nsmca_pki *pki;
    nsmkit_error e;
    char path[4200];

    assert_int_equal(nsmca_open("/nonexistent/nsmkit-ca", &pki, &e), -1);
    assert_non_null(strstr(e.msg, "no CA directory"));

    assert_int_equal(nsmca_init(f->dir, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "already holds a PKI"));

    char *empty = test_mkdtemp();
    assert_int_equal(nsmca_open(empty, &pki, &e), -1);
    assert_non_null(strstr(e.msg, "ca.conf"));
    nsmca_init_options bad_region = {.region = "us-east-1/../x"};
    assert_int_equal(nsmca_init(empty, &bad_region, &e), -1);
    assert_non_null(strstr(e.msg, "bad region"));
    nsmca_init_options bad_tiers = {.intermediates = 4};
    assert_int_equal(nsmca_init(empty, &bad_tiers, &e), -1);
    assert_non_null(strstr(e.msg, "intermediates"));
    test_rmdir(empty);
    free(empty);

    /* a certificate that is not PEM */
    snprintf(path, sizeof(path), "%s/regional.pem", f->dir);
    assert_int_equal(nsmkit_file_write(path, (const uint8_t *)"junk\n", 5, 0644, &e), 0);
    assert_int_equal(nsmca_open(f->dir, &pki, &e), -1);
    assert_non_null(strstr(e.msg, "regional.pem: not a PEM certificate"));
}

static void swapped_certificates_are_refused(void **state)
{
    fixture *f = *state;
    char a[4200], b[4200];
    nsmkit_error e;
    nsmca_pki *pki;
    /* the zonal certificate where the instance one should be: wrong key */
    snprintf(a, sizeof(a), "%s/zonal.pem", f->dir);
    snprintf(b, sizeof(b), "%s/instance.pem", f->dir);
    uint8_t *data;
    size_t len;
    assert_int_equal(nsmkit_file_read(a, 1 << 16, &data, &len, &e), 0);
    assert_int_equal(nsmkit_file_write(b, data, len, 0644, &e), 0);
    free(data);
    assert_int_equal(nsmca_open(f->dir, &pki, &e), -1);
    assert_non_null(strstr(e.msg, "does not match"));
}

static void corrupt_conf_is_refused(void **state)
{
    fixture *f = *state;
    char path[4200];
    nsmkit_error e;
    nsmca_pki *pki;
    snprintf(path, sizeof(path), "%s/ca.conf", f->dir);
    const char *bad[] = {"region=us-east-1\nintermediates=9\ninstance_id=i-0123456789abcdef0\n",
                         "region=us-east-1\nintermediates=3\n",
                         "region=us-east-1\nintermediates=3\ninstance_id=i-zz\n",
                         "region=us-east-1\nintermediates=3\ninstance_id=i-0123456789abcdef0\ncolour=blue\n",
                         "no equals sign\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(nsmkit_file_write(path, (const uint8_t *)bad[i], strlen(bad[i]), 0644, &e), 0);
        assert_int_equal(nsmca_open(f->dir, &pki, &e), -1);
        assert_non_null(strstr(e.msg, "ca.conf"));
    }
}

/* ---- re-issue ---------------------------------------------------------------------------------------- */

static void expired_intermediates_are_reissued_and_saved(void **state)
{
    fixture *f = *state;
    size_t len;
    uint8_t old_instance[2048], old_regional[2048];
    size_t old_instance_len, old_regional_len;
    const uint8_t *der = nsmca_cert_der(f->pki, 1, &old_regional_len);
    memcpy(old_regional, der, old_regional_len);
    der = nsmca_cert_der(f->pki, 3, &old_instance_len);
    memcpy(old_instance, der, old_instance_len);

    /* two days on: the instance tier (1 day) has expired, the zonal (~6 d) and regional have not */
    uint64_t later = T0 + 2 * DAY;
    assert_int_equal(nsmca_refresh(f->pki, later, NULL), 0);
    const uint8_t *regional = nsmca_cert_der(f->pki, 1, &len);
    assert_int_equal(len, old_regional_len);
    assert_memory_equal(regional, old_regional, len);
    const uint8_t *instance = nsmca_cert_der(f->pki, 3, &len);
    assert_false(len == old_instance_len && memcmp(instance, old_instance, len) == 0);
    X509 *cert = tier_cert(f->pki, 3);
    expect_validity(cert, (int64_t)later - 3 * (int64_t)HOUR, (int64_t)DAY);
    X509_free(cert);

    /* saved: a fresh open sees the new instance certificate, and it chains */
    nsmca_pki *again;
    assert_int_equal(nsmca_open(f->dir, &again, NULL), 0);
    size_t again_len;
    const uint8_t *reread = nsmca_cert_der(again, 3, &again_len);
    assert_int_equal(again_len, len);
    assert_memory_equal(reread, instance, len);
    nsmca_close(again);

    /* thirty days on: the regional tier too, and everything below it with it */
    assert_int_equal(nsmca_refresh(f->pki, T0 + 30 * DAY, NULL), 0);
    regional = nsmca_cert_der(f->pki, 1, &len);
    assert_false(len == old_regional_len && memcmp(regional, old_regional, len) == 0);
    for (unsigned i = 1; i <= 3; i++) {
        X509 *child = tier_cert(f->pki, i), *parent = tier_cert(f->pki, i - 1);
        assert_int_equal(X509_verify(child, X509_get0_pubkey(parent)), 1);
        X509_free(child);
        X509_free(parent);
    }
}

static void past_times_do_not_overwrite_newer_files(void **state)
{
    fixture *f = *state;
    /* move the stored chain forward, then ask for a leaf back at T0 */
    assert_int_equal(nsmca_refresh(f->pki, T0 + 30 * DAY, NULL), 0);
    size_t stored_len;
    uint8_t stored[2048];
    const uint8_t *der = nsmca_cert_der(f->pki, 1, &stored_len);
    memcpy(stored, der, stored_len);
    const uint8_t enclave[8] = {0};
    nsmca_leaf *leaf;
    assert_int_equal(nsmca_leaf_issue(f->pki, enclave, T0 + 10, &leaf, NULL), 0);
    nsmca_leaf_free(leaf);
    nsmca_pki *again;
    assert_int_equal(nsmca_open(f->dir, &again, NULL), 0);
    size_t len;
    const uint8_t *on_disk = nsmca_cert_der(again, 1, &len);
    assert_int_equal(len, stored_len);
    assert_memory_equal(on_disk, stored, len);
    nsmca_close(again);
}

static void times_outside_the_root_are_refused(void **state)
{
    fixture *f = *state;
    const uint8_t enclave[8] = {0};
    nsmca_leaf *leaf;
    nsmkit_error e;
    assert_int_equal(nsmca_leaf_issue(f->pki, enclave, T0 - 2 * HOUR, &leaf, &e), -1);
    assert_null(leaf);
    assert_non_null(strstr(e.msg, "outside the root's validity"));
    assert_int_equal(nsmca_leaf_issue(f->pki, enclave, T0 + 31ull * 366 * DAY, &leaf, &e), -1);
}

static void default_dir_follows_xdg(void **state)
{
    (void)state;
    char dir[4096];
    setenv("XDG_STATE_HOME", "/tmp/state-test", 1);
    assert_int_equal(nsmca_default_dir(dir, sizeof(dir), NULL), 0);
    assert_string_equal(dir, "/tmp/state-test/nsmkit/ca");
    unsetenv("XDG_STATE_HOME");
    setenv("HOME", "/home/someone", 1);
    assert_int_equal(nsmca_default_dir(dir, sizeof(dir), NULL), 0);
    assert_string_equal(dir, "/home/someone/.local/state/nsmkit/ca");
    unsetenv("HOME");
    nsmkit_error e;
    assert_int_equal(nsmca_default_dir(dir, sizeof(dir), &e), -1);
    assert_non_null(strstr(e.msg, "--ca"));
}

static void open_or_init_creates_once(void **state)
{
    (void)state;
    char *base = test_mkdtemp();
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/deeper/ca", base);
    nsmca_pki *pki;
    bool created;
    assert_int_equal(nsmca_open_or_init(dir, &pki, &created, NULL), 0);
    assert_true(created);
    char id[32];
    snprintf(id, sizeof(id), "%s", nsmca_instance_id(pki));
    nsmca_close(pki);
    assert_int_equal(nsmca_open_or_init(dir, &pki, &created, NULL), 0);
    assert_false(created);
    assert_string_equal(nsmca_instance_id(pki), id);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    nsmca_close(pki);
    test_rmdir(base);
    free(base);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(root_profile),
        T(regional_profile),
        T(zonal_profile),
        T(instance_profile),
        T(leaf_profile),
        T(chain_verifies_with_openssl_at_issue_time),
        T(leaf_signs_raw_r_s),
        cmocka_unit_test(fewer_tiers_shorten_the_chain),
        T(keys_are_0600_and_refused_when_open),
        T(bad_directories_get_clear_errors),
        T(swapped_certificates_are_refused),
        T(corrupt_conf_is_refused),
        T(expired_intermediates_are_reissued_and_saved),
        T(past_times_do_not_overwrite_newer_files),
        T(times_outside_the_root_are_refused),
        cmocka_unit_test(default_dir_follows_xdg),
        cmocka_unit_test(open_or_init_creates_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
