/* SPDX-License-Identifier: Apache-2.0 */
/* The verifier tests' fixture (see verify_fixture.h). */
#include "verify_fixture.h"
#include "nsmkit/error.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/surgery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

int vfx_setup(void **state)
{
    static const uint8_t enclave_id[NSMCA_ENCLAVE_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
    nsmkit_error e;
    nsmv_error ve;
    char path[4200];
    vfx *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);

    fx->dir = test_mkdtemp();
    snprintf(path, sizeof(path), "%s/ca", fx->dir);
    nsmca_init_options init = {.region = NULL, .intermediates = 3, .now_s = VFX_T0};
    if (nsmca_init(path, &init, &e) != 0 || nsmca_open(path, &fx->pki, &e) != 0 ||
        nsmca_leaf_issue(fx->pki, enclave_id, VFX_ISSUE_S, &fx->leaf, &e) != 0)
        fail_msg("fixture PKI: %s", e.msg);

    fx->payload.cabundle_count = nsmca_leaf_bundle_count(fx->leaf);
    for (unsigned i = 0; i < fx->payload.cabundle_count; i++)
        fx->bundle[i] = nsmca_leaf_bundle_der(fx->leaf, i, &fx->bundle_lens[i]);
    fx->root_der = fx->bundle[0];
    fx->root_len = fx->bundle_lens[0];
    nsmv_config config = {.root_der = fx->root_der, .root_len = fx->root_len};
    if (nsmv_verifier_new(&config, &fx->verifier, &ve) != 0)
        fail_msg("fixture verifier: %s", ve.msg);
    /* the other side of every comparison: no cache (no fleet path either) and OpenSSL
     * checking the COSE signature, so every verifier test is also a differential test */
    config.no_cache = true;
    config.crypto = NSMKIT_P384_OPENSSL;
    if (nsmv_verifier_new(&config, &fx->cold, &ve) != 0)
        fail_msg("fixture verifier: %s", ve.msg);

    snprintf(fx->module_id, sizeof(fx->module_id), "%s-enc0102030405060708",
             nsmca_instance_id(fx->pki));
    for (unsigned i = 0; i < NSMSIM_BOOT_PCR_COUNT; i++) {
        bool measured = i <= 2 || i == 4;
        for (unsigned k = 0; k < NSMSIM_PCR_LEN; k++)
            fx->pcr_values[i][k] = measured ? (uint8_t)(i * 31 + k + 1) : 0;
        fx->pcrs[i] = (nsmsim_pcr_entry){i, fx->pcr_values[i], NSMSIM_PCR_LEN};
    }
    nsmsim_payload *p = &fx->payload;
    p->module_id = fx->module_id;
    p->digest = "SHA384";
    p->timestamp_ms = VFX_DOC_MS;
    p->pcrs = fx->pcrs;
    p->pcr_count = NSMSIM_BOOT_PCR_COUNT;
    p->certificate = nsmca_leaf_der(fx->leaf, &p->certificate_len);
    p->cabundle = fx->bundle;
    p->cabundle_lens = fx->bundle_lens;
    p->map = NSMSIM_MAP_DEFINITE;
    *state = fx;
    return 0;
}

int vfx_teardown(void **state)
{
    vfx *fx = *state;
    nsmv_verifier_free(fx->verifier);
    nsmv_verifier_free(fx->cold);
    nsmca_leaf_free(fx->leaf);
    nsmca_close(fx->pki);
    test_rmdir(fx->dir);
    free(fx->dir);
    free(fx);
    return 0;
}

uint8_t *vfx_real_doc(const char *name, size_t *len)
{
    const char *shared = test_shared_dir();
    char path[4200];
    if (!shared)
        test_skip("../shared/vectors/real not present: %s not checked", name);
    snprintf(path, sizeof(path), "%s/vectors/real/%s", shared, name);
    return test_read_file(path, len);
}

nsmv_verifier *vfx_aws_verifier(bool cache)
{
    nsmv_verifier *v = NULL;
    nsmv_error e;
    nsmv_config no_cache = {.no_cache = true};
    if (nsmv_verifier_new(cache ? NULL : &no_cache, &v, &e) != 0) /* NULL: the defaults */
        fail_msg("AWS verifier: %s", e.msg);
    return v;
}

void vfx_options(nsmv_options *o)
{
    nsmv_options_init(o);
    o->time_mode = NSMV_TIME_FIXED;
    o->time_s = VFX_VERIFY_S;
}

void vfx_encode(const nsmsim_payload *p, nsmkit_buf *payload)
{
    nsmkit_buf_init(payload, 2 * NSMV_DOC_MAX);
    nsmsim_payload_encode(p, payload);
    assert_false(payload->err);
}

static void envelope(const uint8_t *protected_hdr, size_t protected_len, const uint8_t *payload,
                     size_t len, const uint8_t sig[96], nsmkit_buf *doc)
{
    nsmkit_buf_init(doc, 4 * NSMV_DOC_MAX);
    nsmkit_cbor_put_head(doc, NSMKIT_CBOR_ARRAY, 4);
    nsmkit_cbor_put_bytes(doc, protected_hdr, protected_len);
    nsmkit_cbor_put_head(doc, NSMKIT_CBOR_MAP, 0);
    nsmkit_cbor_put_bytes(doc, payload, len);
    nsmkit_cbor_put_bytes(doc, sig, 96);
    assert_false(doc->err);
}

void vfx_sign(const vfx *fx, const uint8_t *payload, size_t len, nsmkit_buf *doc)
{
    nsmkit_buf_init(doc, 4 * NSMV_DOC_MAX);
    assert_int_equal(nsmsim_cose_sign1_encode(payload, len, fx->leaf, doc), 0);
}

void vfx_sign_protected(const vfx *fx, const uint8_t *protected_hdr, size_t protected_len,
                        const uint8_t *payload, size_t len, nsmkit_buf *doc)
{
    uint8_t digest[48], sig[96];
    assert_int_equal(nsmsim_sig_structure_digest(protected_hdr, protected_len, payload, len,
                                                 digest), 0);
    assert_int_equal(nsmca_leaf_sign_digest(fx->leaf, digest, sig), 0);
    envelope(protected_hdr, protected_len, payload, len, sig, doc);
}

void vfx_sign_with(EVP_PKEY *key, const uint8_t *protected_hdr, size_t protected_len,
                   const uint8_t *payload, size_t len, nsmkit_buf *doc)
{
    uint8_t digest[48], sig[96], der[160];
    size_t der_len = sizeof(der);
    assert_int_equal(nsmsim_sig_structure_digest(protected_hdr, protected_len, payload, len,
                                                 digest), 0);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
    assert_int_equal(EVP_PKEY_sign(ctx, der, &der_len, digest, sizeof(digest)), 1);
    EVP_PKEY_CTX_free(ctx);
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    assert_non_null(s);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 48), 48);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 48, 48), 48);
    ECDSA_SIG_free(s);
    envelope(protected_hdr, protected_len, payload, len, sig, doc);
}

nsmv_code vfx_verify(const vfx *fx, const uint8_t *doc, size_t len, const nsmv_options *o,
                     nsmv_result *result)
{
    nsmv_options defaults;
    nsmv_result cold;
    if (!o) {
        vfx_options(&defaults);
        o = &defaults;
    }
    nsmv_code code = nsmv_verify(fx->verifier, doc, len, o, result);
    /* The cache never changes a verdict: the verifier without one (the full path, with
     * OpenSSL's P-384 for the COSE signature) agrees. */
    nsmv_code cold_code = nsmv_verify(fx->cold, doc, len, o, &cold);
    if (cold_code != code)
        fail_msg("cached verifier says %d %s, uncached %d %s", (int)code, nsmv_code_name(code),
                 (int)cold_code, nsmv_code_name(cold_code));
    assert_int_equal(result->valid, code == NSMV_OK);
    if (code != NSMV_OK) {
        assert_true(result->failure_count > 0);
        assert_int_equal(result->failures[0].code, code);
        assert_int_equal(result->failures[0].stage, nsmv_code_stage(code));
        assert_int_equal(result->stages[nsmv_code_stage(code)], NSMV_OUTCOME_FAILED);
    }
    return code;
}

nsmv_code vfx_check_bytes(const vfx *fx, const nsmkit_buf *payload, const nsmv_options *o)
{
    nsmkit_buf doc;
    nsmv_result r;
    vfx_sign(fx, payload->data, payload->len, &doc);
    nsmv_code code = vfx_verify(fx, doc.data, doc.len, o, &r);
    if (code != NSMV_OK)
        print_message("    -> %d %s: %s\n", (int)code, nsmv_code_name(code), r.failures[0].detail);
    nsmkit_buf_free(&doc);
    return code;
}

nsmv_code vfx_check(const vfx *fx, const nsmsim_payload *p, const nsmv_options *o)
{
    nsmkit_buf payload;
    vfx_encode(p, &payload);
    nsmv_code code = vfx_check_bytes(fx, &payload, o);
    nsmkit_buf_free(&payload);
    return code;
}

/* ---- map surgery: the library's (nsmkit/surgery.h); a failure fails the test ---------------- */

#define SURGERY(call)                                                                         \
    do {                                                                                      \
        nsmkit_error surgery_error;                                                           \
        if ((call) != 0)                                                                      \
            fail_msg("fixture: %s", surgery_error.msg);                                       \
    } while (0)

void vfx_set_value(nsmkit_buf *m, const char *key, const uint8_t *value, size_t n)
{
    SURGERY(nsmsim_map_set_value(m, key, value, n, &surgery_error));
}

void vfx_set_value_hex(nsmkit_buf *m, const char *key, const char *hex)
{
    size_t n;
    uint8_t *value = test_hex(hex, &n);
    vfx_set_value(m, key, value, n);
    free(value);
}

void vfx_set_key(nsmkit_buf *m, const char *key, const uint8_t *new_key, size_t n)
{
    SURGERY(nsmsim_map_set_key(m, key, new_key, n, &surgery_error));
}

void vfx_remove(nsmkit_buf *m, const char *key)
{
    SURGERY(nsmsim_map_remove(m, key, &surgery_error));
}

void vfx_append(nsmkit_buf *m, const uint8_t *key, size_t key_len, const uint8_t *value,
                size_t value_len)
{
    SURGERY(nsmsim_map_append(m, key, key_len, value, value_len, &surgery_error));
}

void vfx_entry(const nsmkit_buf *m, const char *key, nsmkit_buf *out)
{
    SURGERY(nsmsim_map_entry(m, key, out, &surgery_error));
}

/* ---- certificates ------------------------------------------------------------------------------ */

EVP_PKEY *vfx_key(const char *curve)
{
    EVP_PKEY *key = strcmp(curve, "RSA") == 0 ? EVP_RSA_gen(2048) : EVP_EC_gen(curve);
    assert_non_null(key);
    return key;
}

EVP_PKEY *vfx_tier_key(const vfx *fx, const char *tier)
{
    /* The root's key has a file of its own; the intermediates' keys sit in one file, in
     * tier order, each followed by its certificate (which the key reader skips). */
    static const char *const below_root[] = {"regional", "zonal", "instance"};
    bool root = strcmp(tier, "root") == 0;
    unsigned skip = 0;
    while (!root && skip < 3 && strcmp(tier, below_root[skip]) != 0)
        skip++;
    assert_true(root || skip < 3);
    char path[4200];
    snprintf(path, sizeof(path), "%s/ca/%s", fx->dir, root ? "root.key" : "intermediates.pem");
    BIO *bio = BIO_new_file(path, "r");
    assert_non_null(bio);
    EVP_PKEY *key = NULL;
    for (unsigned i = 0; i <= skip; i++) {
        EVP_PKEY_free(key);
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        assert_non_null(key);
    }
    BIO_free(bio);
    return key;
}

X509 *vfx_tier_cert(const vfx *fx, unsigned index)
{
    const unsigned char *p = fx->bundle[index];
    X509 *x = d2i_X509(NULL, &p, (long)fx->bundle_lens[index]);
    assert_non_null(x);
    return x;
}

uint8_t *vfx_der(X509 *x, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    uint8_t *copy = malloc((size_t)n);
    assert_non_null(copy);
    memcpy(copy, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return copy;
}

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

X509 *vfx_cert(const vfx_cert_spec *s)
{
    X509 *x = X509_new();
    uint8_t serial[16];
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(RAND_bytes(serial, sizeof(serial)), 1);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
    BN_free(bn);

    X509_NAME *name = X509_NAME_new();
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                                (const unsigned char *)"NSM Simulator test", -1,
                                                -1, 0), 1);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)s->cn, -1, -1, 0), 1);
    assert_int_equal(X509_set_subject_name(x, name), 1);
    X509_NAME_free(name);
    assert_int_equal(X509_set_issuer_name(x, s->issuer ? X509_get_subject_name(s->issuer)
                                                       : X509_get_subject_name(x)), 1);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)s->not_before));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)s->not_after));
    assert_int_equal(X509_set_pubkey(x, s->key), 1);

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, s->issuer ? s->issuer : x, x, NULL, NULL, 0);
    if (s->basic_constraints)
        add_ext(x, &ctx, NID_basic_constraints, s->basic_constraints);
    if (s->key_usage)
        add_ext(x, &ctx, NID_key_usage, s->key_usage);
    if (s->key_ids) {
        add_ext(x, &ctx, NID_subject_key_identifier, "hash");
        if (s->issuer)
            add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
    }
    if (s->unknown_critical) {
        ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.4.1.55555.1.1", 1);
        ASN1_OCTET_STRING *data = ASN1_OCTET_STRING_new();
        static const unsigned char null_der[] = {0x05, 0x00};
        assert_non_null(obj);
        assert_non_null(data);
        assert_int_equal(ASN1_OCTET_STRING_set(data, null_der, sizeof(null_der)), 1);
        X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, data);
        assert_non_null(ext);
        assert_int_equal(X509_add_ext(x, ext, -1), 1);
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(data);
        ASN1_OBJECT_free(obj);
    }
    assert_true(X509_sign(x, s->issuer_key ? s->issuer_key : s->key,
                          s->md ? s->md : EVP_sha384()) > 0);
    return x;
}
