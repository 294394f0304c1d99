/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chain stage (verifier/chain.c): the pinned root, the cabundle's order, certificate
 * profiles, validity at the verification time, and the cache. Real documents verify at
 * their own time and are expired now; simulated documents verify under the simulated root
 * and not under AWS's. Certificates of other shapes are issued here with the simulated
 * PKI's own keys, and every document is re-signed by its leaf.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "../verifier/internal.h" /* nsmv_cache_copy */
#include "verify_fixture.h"
#include "nsmkit/buf.h"
#include "nsmkit/hex.h"

#define LEAF_NB (VFX_ISSUE_S - NSMCA_LEAF_BACKDATE_S)
#define LEAF_NA (VFX_ISSUE_S + NSMCA_LEAF_LIFETIME_S)

/* A document with this leaf and cabundle, signed by leaf_key (NULL: the fixture's leaf). */
static nsmv_code check_chain(const vfx *fx, const uint8_t *leaf, size_t leaf_len,
                             const uint8_t *const *bundle, const size_t *lens, size_t n,
                             EVP_PKEY *leaf_key, const nsmv_options *o)
{
    nsmsim_payload p = fx->payload;
    nsmkit_buf payload, doc;
    nsmv_result r;
    if (leaf) {
        p.certificate = leaf;
        p.certificate_len = leaf_len;
    }
    if (bundle) {
        p.cabundle = bundle;
        p.cabundle_lens = lens;
        p.cabundle_count = n;
    }
    vfx_encode(&p, &payload);
    if (leaf_key)
        vfx_sign_with(leaf_key, nsmsim_protected_es384, 4, payload.data, payload.len, &doc);
    else
        vfx_sign(fx, payload.data, payload.len, &doc);
    nsmv_code c = vfx_verify(fx, doc.data, doc.len, o, &r);
    if (c != NSMV_OK)
        print_message("    -> %d %s: %s\n", (int)c, nsmv_code_name(c), r.failures[0].detail);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
    return c;
}

/* The fixture's bundle with positions picked: order[i] is the tier at position i. */
static nsmv_code check_order(const vfx *fx, const unsigned *order, size_t n)
{
    const uint8_t *bundle[8];
    size_t lens[8];
    for (size_t i = 0; i < n; i++) {
        bundle[i] = fx->bundle[order[i]];
        lens[i] = fx->bundle_lens[order[i]];
    }
    return check_chain(fx, NULL, 0, bundle, lens, n, NULL, NULL);
}

/* ---- the roots ----------------------------------------------------------------------------- */

static void embedded_aws_root_is_root_g1(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *der = nsmv_aws_root_der(&len);
    uint8_t digest[32];
    char hex[65];
    assert_int_equal(EVP_Digest(der, len, digest, NULL, EVP_sha256(), NULL), 1);
    nsmkit_hex_encode(digest, sizeof(digest), hex);
    assert_string_equal(hex, "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b");

    const char *shared = test_shared_dir();
    if (!shared)
        test_skip("../shared not present: the embedded root is not compared with the file");
    char path[4200];
    uint8_t *file_der = NULL;
    size_t file_len = 0;
    nsmv_error e;
    snprintf(path, sizeof(path), "%s/vectors/real/aws-nitro-root-g1.pem", shared);
    assert_int_equal(nsmv_root_read_pem(path, &file_der, &file_len, &e), 0);
    assert_int_equal(file_len, len);
    assert_memory_equal(file_der, der, len);
    free(file_der);
}

static void root_files_that_are_not_one_certificate_are_refused(void **state)
{
    const vfx *fx = *state;
    char path[4200];
    uint8_t *der = NULL;
    size_t len = 0;
    nsmv_error e;

    snprintf(path, sizeof(path), "%s/ca/root.pem", fx->dir);
    assert_int_equal(nsmv_root_read_pem(path, &der, &len, &e), 0);
    assert_int_equal(len, fx->root_len);
    assert_memory_equal(der, fx->root_der, len);
    free(der);

    snprintf(path, sizeof(path), "%s/missing.pem", fx->dir);
    assert_int_equal(nsmv_root_read_pem(path, &der, &len, &e), -1);
    assert_non_null(strstr(e.msg, "cannot open"));
    assert_null(der);

    snprintf(path, sizeof(path), "%s/ca/root.key", fx->dir); /* a key, not a certificate */
    assert_int_equal(nsmv_root_read_pem(path, &der, &len, &e), -1);
    assert_non_null(strstr(e.msg, "not a PEM certificate"));

    snprintf(path, sizeof(path), "%s/two.pem", fx->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    X509 *root = vfx_tier_cert(fx, 0), *regional = vfx_tier_cert(fx, 1);
    PEM_write_X509(f, root);
    PEM_write_X509(f, regional);
    fclose(f);
    assert_int_equal(nsmv_root_read_pem(path, &der, &len, &e), -1);
    assert_non_null(strstr(e.msg, "more than one"));
    X509_free(root);
    X509_free(regional);

    /* the verifier itself wants one DER certificate with a P-384 key */
    nsmv_verifier *v = NULL;
    nsmv_config c = {.root_der = fx->root_der, .root_len = fx->root_len - 1};
    assert_int_equal(nsmv_verifier_new(&c, &v, &e), -1);
    assert_null(v);
    EVP_PKEY *p256 = vfx_key("P-256");
    X509 *weak = vfx_cert(&(vfx_cert_spec){.cn = "weak root", .key = p256, .not_before = 0,
                                           .not_after = 4102444800,
                                           .basic_constraints = "critical,CA:TRUE",
                                           .key_usage = "critical,keyCertSign"});
    uint8_t *weak_der = vfx_der(weak, &c.root_len);
    c.root_der = weak_der;
    assert_int_equal(nsmv_verifier_new(&c, &v, &e), -1);
    assert_non_null(strstr(e.msg, "P-384"));
    free(weak_der);
    X509_free(weak);
    EVP_PKEY_free(p256);
}

static void simulated_documents_need_the_simulated_root(void **state)
{
    const vfx *fx = *state;
    nsmkit_buf payload, doc;
    nsmv_verifier *aws = vfx_aws_verifier(true);
    nsmv_result r;
    nsmv_options o;
    vfx_options(&o);
    vfx_encode(&fx->payload, &payload);
    vfx_sign(fx, payload.data, payload.len, &doc);
    assert_vcode(vfx_verify(fx, doc.data, doc.len, &o, &r), NSMV_OK);
    assert_vcode(nsmv_verify(aws, doc.data, doc.len, &o, &r), NSMV_ERR_ROOT_MISMATCH);
    assert_int_equal(r.stages[NSMV_STAGE_SIGNATURE], NSMV_OUTCOME_NOT_RUN);
    nsmv_verifier_free(aws);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
}

/* ---- real documents ----------------------------------------------------------------------------- */

static void real_documents_verify_at_their_time_and_are_expired_now(void **state)
{
    const vfx *fx = *state;
    const char *shared = test_shared_dir();
    if (!shared)
        test_skip("../shared/vectors/real not present");
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/vectors/real", shared);
    DIR *d = opendir(dir);
    assert_non_null(d);
    nsmv_verifier *aws = vfx_aws_verifier(true), *cold = vfx_aws_verifier(false);
    size_t seen = 0, nitrotpm = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        size_t n = strlen(ent->d_name);
        if (n < 5 || strcmp(ent->d_name + n - 4, ".bin") != 0)
            continue;
        char path[8400];
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
        uint8_t *doc = test_read_file(path, &len);
        nsmv_options o;
        nsmv_result r;
        nsmv_options_init(&o);
        o.time_mode = NSMV_TIME_DOCUMENT;
        print_message("  %s\n", ent->d_name);
        for (int pass = 0; pass < 3; pass++) { /* cold, then filling and hitting the cache */
            assert_vcode(nsmv_verify(pass ? aws : cold, doc, len, &o, &r), NSMV_OK);
            assert_int_equal(r.chain_cached, pass == 2);
        }
        bool tpm = strstr(ent->d_name, "nitrotpm") != NULL;
        assert_int_equal(r.kind, tpm ? NSMV_KIND_NITROTPM : NSMV_KIND_NSM);
        nitrotpm += tpm;
        assert_int_equal(r.cabundle_count, 4);
        o.time_mode = NSMV_TIME_NOW;
        assert_vcode(nsmv_verify(aws, doc, len, &o, &r), NSMV_ERR_CERT_EXPIRED);
        assert_vcode(nsmv_verify(cold, doc, len, &o, &r), NSMV_ERR_CERT_EXPIRED);
        /* under another root they are not valid at any time */
        o.time_mode = NSMV_TIME_DOCUMENT;
        assert_vcode(nsmv_verify(fx->verifier, doc, len, &o, &r), NSMV_ERR_ROOT_MISMATCH);
        free(doc);
        seen++;
    }
    closedir(d);
    nsmv_verifier_free(aws);
    nsmv_verifier_free(cold);
    assert_true(seen >= 17);
    assert_int_equal(nitrotpm, 1);
}

static void strict_profile_refuses_what_real_documents_carry(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        nsmv_code strict;
    } cases[] = {
        {"blocky_nitro_attestation.bin", NSMV_ERR_USER_DATA_LENGTH},      /* 1024 bytes */
        {"hf-nitrite_pr2_nitrite_test.bin", NSMV_ERR_PUBLIC_KEY_LENGTH},  /* 0 bytes */
        {"anjuna_sample_prod_doc.bin", NSMV_ERR_PAYLOAD_NULL_FIELD},      /* null fields */
        {"anjuna_attester_sample_attestation_doc_full.bin", NSMV_OK},     /* all present */
    };
    if (!test_shared_dir()) /* before anything is allocated: a skip leaves the function */
        test_skip("../shared/vectors/real not present: real documents not checked under strict");
    nsmv_verifier *aws = vfx_aws_verifier(true);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        uint8_t *doc = vfx_real_doc(cases[i].file, &len);
        nsmv_options o;
        nsmv_result r;
        nsmv_options_init(&o);
        o.time_mode = NSMV_TIME_DOCUMENT;
        assert_vcode(nsmv_verify(aws, doc, len, &o, &r), NSMV_OK);
        o.profile = NSMV_PROFILE_STRICT;
        assert_vcode(nsmv_verify(aws, doc, len, &o, &r), cases[i].strict);
        free(doc);
    }
    nsmv_verifier_free(aws);
}

/* ---- the cabundle's order --------------------------------------------------------------------- */

static void cabundle_must_be_root_first_and_complete(void **state)
{
    const vfx *fx = *state;
    assert_vcode(check_order(fx, (unsigned[]){0, 1, 2, 3}, 4), NSMV_OK);
    assert_vcode(check_order(fx, (unsigned[]){3, 2, 1, 0}, 4), NSMV_ERR_CABUNDLE_NOT_ROOT_FIRST);
    assert_vcode(check_order(fx, (unsigned[]){1, 2, 3, 0}, 4), NSMV_ERR_CABUNDLE_NOT_ROOT_FIRST);
    assert_vcode(check_order(fx, (unsigned[]){1, 2, 3}, 3), NSMV_ERR_ROOT_MISMATCH);
    assert_vcode(check_order(fx, (unsigned[]){0, 2, 1, 3}, 4), NSMV_ERR_CABUNDLE_BROKEN);
    assert_vcode(check_order(fx, (unsigned[]){0, 1, 3}, 3), NSMV_ERR_CABUNDLE_BROKEN);
    assert_vcode(check_order(fx, (unsigned[]){0, 2, 3}, 3), NSMV_ERR_CABUNDLE_BROKEN);
    assert_vcode(check_order(fx, (unsigned[]){0, 0, 1, 2, 3}, 5), NSMV_ERR_CABUNDLE_BROKEN);
    assert_vcode(check_order(fx, (unsigned[]){0, 1, 2, 2, 3}, 5), NSMV_ERR_CABUNDLE_BROKEN);
    assert_vcode(check_order(fx, (unsigned[]){0, 1, 2}, 3), NSMV_ERR_LEAF_ISSUER);
    assert_vcode(check_order(fx, (unsigned[]){0}, 1), NSMV_ERR_LEAF_ISSUER);
}

static void cabundle_entries_must_never_become_anchors(void **state)
{
    const vfx *fx = *state;
    /* an attacker's own root and chain: the leaf chains perfectly, to the wrong root */
    EVP_PKEY *evil_root_key = vfx_key("P-384"), *evil_leaf_key = vfx_key("P-384");
    vfx_cert_spec root_spec = {.cn = "evil root", .key = evil_root_key, .not_before = 0,
                               .not_after = 4102444800,
                               .basic_constraints = "critical,CA:TRUE",
                               .key_usage = "critical,keyCertSign,cRLSign", .key_ids = true};
    X509 *evil_root = vfx_cert(&root_spec);
    X509 *evil_leaf = vfx_cert(&(vfx_cert_spec){
        .cn = "evil leaf", .issuer = evil_root, .issuer_key = evil_root_key, .key = evil_leaf_key,
        .not_before = LEAF_NB, .not_after = LEAF_NA, .basic_constraints = "critical,CA:FALSE",
        .key_usage = "digitalSignature"});
    size_t root_len, leaf_len;
    uint8_t *root_der = vfx_der(evil_root, &root_len), *leaf_der = vfx_der(evil_leaf, &leaf_len);

    const uint8_t *alone[1] = {root_der};
    size_t alone_lens[1] = {root_len};
    assert_vcode(check_chain(fx, leaf_der, leaf_len, alone, alone_lens, 1, evil_leaf_key, NULL),
                NSMV_ERR_ROOT_MISMATCH);
    /* the pinned root first, then the attacker's root as an "intermediate" */
    const uint8_t *behind[2] = {fx->root_der, root_der};
    size_t behind_lens[2] = {fx->root_len, root_len};
    assert_vcode(check_chain(fx, leaf_der, leaf_len, behind, behind_lens, 2, evil_leaf_key, NULL),
                NSMV_ERR_CABUNDLE_BROKEN);
    free(root_der);
    free(leaf_der);
    X509_free(evil_root);
    X509_free(evil_leaf);
    EVP_PKEY_free(evil_root_key);
    EVP_PKEY_free(evil_leaf_key);
}

/* ---- certificates of other shapes ------------------------------------------------------------- */

typedef struct {
    X509 *instance;
    EVP_PKEY *instance_key;
} issuer;

static issuer instance_of(const vfx *fx)
{
    issuer i = {vfx_tier_cert(fx, 3), vfx_tier_key(fx, "instance")};
    return i;
}

static void issuer_free(issuer *i)
{
    X509_free(i->instance);
    EVP_PKEY_free(i->instance_key);
}

static vfx_cert_spec leaf_spec(const issuer *by, EVP_PKEY *key)
{
    return (vfx_cert_spec){.cn = "test leaf", .issuer = by->instance,
                           .issuer_key = by->instance_key, .key = key, .not_before = LEAF_NB,
                           .not_after = LEAF_NA, .basic_constraints = "critical,CA:FALSE",
                           .key_usage = "digitalSignature,nonRepudiation"};
}

/* Issues a leaf from spec under the fixture's bundle and verifies a document it signs with
 * sign_key (P-384 keys only can sign here; others get the fixture leaf's signature). */
static nsmv_code check_leaf(const vfx *fx, const vfx_cert_spec *spec, EVP_PKEY *sign_key)
{
    X509 *leaf = vfx_cert(spec);
    size_t len;
    uint8_t *der = vfx_der(leaf, &len);
    nsmv_code c = check_chain(fx, der, len, fx->bundle, fx->bundle_lens, 4, sign_key, NULL);
    free(der);
    X509_free(leaf);
    return c;
}

static void leaf_profile_and_keys(void **state)
{
    const vfx *fx = *state;
    issuer by = instance_of(fx);
    EVP_PKEY *p384 = vfx_key("P-384"), *p256 = vfx_key("P-256"), *p521 = vfx_key("P-521");
    EVP_PKEY *rsa = vfx_key("RSA");

    vfx_cert_spec s = leaf_spec(&by, p384);
    assert_vcode(check_leaf(fx, &s, p384), NSMV_OK); /* the shape itself is fine */
    s.basic_constraints = NULL;
    assert_vcode(check_leaf(fx, &s, p384), NSMV_OK); /* no basicConstraints: not a CA */

    s = leaf_spec(&by, p384);
    s.basic_constraints = "critical,CA:TRUE";
    assert_vcode(check_leaf(fx, &s, p384), NSMV_ERR_LEAF_PROFILE);
    s = leaf_spec(&by, p384);
    s.key_usage = "nonRepudiation";
    assert_vcode(check_leaf(fx, &s, p384), NSMV_ERR_LEAF_PROFILE);
    s.key_usage = NULL;
    assert_vcode(check_leaf(fx, &s, p384), NSMV_ERR_LEAF_PROFILE);

    s = leaf_spec(&by, p256);
    assert_vcode(check_leaf(fx, &s, NULL), NSMV_ERR_CERT_KEY);
    s = leaf_spec(&by, p521);
    assert_vcode(check_leaf(fx, &s, NULL), NSMV_ERR_CERT_KEY);
    s = leaf_spec(&by, rsa);
    assert_vcode(check_leaf(fx, &s, NULL), NSMV_ERR_CERT_KEY);

    s = leaf_spec(&by, p384);
    s.md = EVP_sha256();
    assert_vcode(check_leaf(fx, &s, p384), NSMV_ERR_CERT_SIGNATURE_ALG);
    s.md = EVP_sha512();
    assert_vcode(check_leaf(fx, &s, p384), NSMV_ERR_CERT_SIGNATURE_ALG);

    s = leaf_spec(&by, p384);
    s.unknown_critical = true;
    assert_vcode(check_leaf(fx, &s, p384), NSMV_ERR_CHAIN_INVALID);

    /* issued by the right name with the wrong key */
    s = leaf_spec(&by, p384);
    s.issuer_key = p384;
    assert_vcode(check_leaf(fx, &s, p384), NSMV_ERR_CERT_SIGNATURE);

    EVP_PKEY_free(p384);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p521);
    EVP_PKEY_free(rsa);
    issuer_free(&by);
}

/* A fifth tier under the instance (whose pathLen is 0) and a leaf under it. */
static nsmv_code check_extra_tier(const vfx *fx, const char *bc, const char *ku)
{
    issuer by = instance_of(fx);
    EVP_PKEY *ca_key = vfx_key("P-384"), *leaf_key = vfx_key("P-384");
    X509 *ca = vfx_cert(&(vfx_cert_spec){.cn = "extra tier", .issuer = by.instance,
                                         .issuer_key = by.instance_key, .key = ca_key,
                                         .not_before = LEAF_NB, .not_after = LEAF_NA,
                                         .basic_constraints = bc, .key_usage = ku,
                                         .key_ids = true});
    issuer under = {ca, ca_key};
    vfx_cert_spec s = leaf_spec(&under, leaf_key);
    X509 *leaf = vfx_cert(&s);
    size_t ca_len, leaf_len;
    uint8_t *ca_der = vfx_der(ca, &ca_len), *leaf_der = vfx_der(leaf, &leaf_len);
    const uint8_t *bundle[5] = {fx->bundle[0], fx->bundle[1], fx->bundle[2], fx->bundle[3],
                                ca_der};
    size_t lens[5] = {fx->bundle_lens[0], fx->bundle_lens[1], fx->bundle_lens[2],
                      fx->bundle_lens[3], ca_len};
    nsmv_code c = check_chain(fx, leaf_der, leaf_len, bundle, lens, 5, leaf_key, NULL);
    free(ca_der);
    free(leaf_der);
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
    issuer_free(&by);
    return c;
}

static void ca_profile_and_path_length(void **state)
{
    const vfx *fx = *state;
    assert_vcode(check_extra_tier(fx, "critical,CA:TRUE", "critical,keyCertSign"),
                NSMV_ERR_PATH_LENGTH);
    assert_vcode(check_extra_tier(fx, "critical,CA:TRUE", "critical,digitalSignature"),
                NSMV_ERR_CA_PROFILE);
    assert_vcode(check_extra_tier(fx, "critical,CA:TRUE", NULL), NSMV_ERR_CA_PROFILE);
    assert_vcode(check_extra_tier(fx, "critical,CA:FALSE", "critical,keyCertSign"),
                NSMV_ERR_CA_PROFILE);
    assert_vcode(check_extra_tier(fx, NULL, "critical,keyCertSign"), NSMV_ERR_CA_PROFILE);
}

static void certificates_must_decode_whole(void **state)
{
    const vfx *fx = *state;
    size_t leaf_len;
    const uint8_t *leaf = nsmca_leaf_der(fx->leaf, &leaf_len);
    uint8_t *longer = malloc(leaf_len + 1);
    assert_non_null(longer);
    memcpy(longer, leaf, leaf_len);
    longer[leaf_len] = 0;
    assert_vcode(check_chain(fx, longer, leaf_len + 1, NULL, NULL, 0, NULL, NULL),
                NSMV_ERR_CERT_PARSE);
    assert_vcode(check_chain(fx, longer, leaf_len - 1, NULL, NULL, 0, NULL, NULL),
                NSMV_ERR_CERT_PARSE);
    assert_vcode(check_chain(fx, longer, leaf_len, NULL, NULL, 0, NULL, NULL), NSMV_OK);
    free(longer);

    const uint8_t *bundle[4];
    size_t lens[4];
    memcpy(bundle, fx->bundle, sizeof(bundle));
    memcpy(lens, fx->bundle_lens, sizeof(lens));
    lens[2]--;
    assert_vcode(check_chain(fx, NULL, 0, bundle, lens, 4, NULL, NULL),
                NSMV_ERR_CABUNDLE_CERT_PARSE);
}

/* ---- canonical DER (issue 14 item 4) ------------------------------------------------------ */

typedef enum {
    BER_INDEFINITE_OUTER, /* 30 80 <content> 00 00 */
    BER_LONG_OUTER,       /* 30 83 00 LL LL: a length field longer than needed */
    BER_LONG_INNER,       /* the tbsCertificate's version [0] with 81 03 where 03 suffices */
} ber_kind;

/* der re-encoded as BER of the given kind (caller frees). Certificates of the fixture are
 * between 256 and 65535 bytes long, so their outer and tbs heads are 30 82 LL LL. */
static uint8_t *ber_variant(const uint8_t *der, size_t len, ber_kind kind, size_t *out_len)
{
    assert_true(len > 8 && der[0] == 0x30 && der[1] == 0x82 && der[4] == 0x30 && der[5] == 0x82);
    size_t content = len - 4;
    uint8_t *out = malloc(len + 8);
    assert_non_null(out);
    switch (kind) {
    case BER_INDEFINITE_OUTER:
        out[0] = 0x30;
        out[1] = 0x80;
        memcpy(out + 2, der + 4, content);
        out[2 + content] = 0x00;
        out[3 + content] = 0x00;
        *out_len = content + 4;
        break;
    case BER_LONG_OUTER:
        out[0] = 0x30;
        out[1] = 0x83;
        out[2] = 0x00;
        memcpy(out + 3, der + 2, len - 2);
        *out_len = len + 1;
        break;
    case BER_LONG_INNER: {
        static const uint8_t version[] = {0xa0, 0x03, 0x02, 0x01, 0x02};
        assert_memory_equal(der + 8, version, sizeof(version));
        size_t outer = ((size_t)der[2] << 8 | der[3]) + 1, tbs = ((size_t)der[6] << 8 | der[7]) + 1;
        uint8_t head[] = {0x30, 0x82, (uint8_t)(outer >> 8), (uint8_t)outer,
                          0x30, 0x82, (uint8_t)(tbs >> 8),   (uint8_t)tbs,
                          0xa0, 0x81, 0x03};
        memcpy(out, head, sizeof(head));
        memcpy(out + sizeof(head), der + 10, len - 10);
        *out_len = len + 1;
        break;
    }
    }
    return out;
}

static void certificates_must_be_canonical_der(void **state)
{
    const vfx *fx = *state;
    size_t leaf_len;
    const uint8_t *leaf = nsmca_leaf_der(fx->leaf, &leaf_len);
    nsmv_options profiles[2];
    vfx_options(&profiles[0]);
    vfx_options(&profiles[1]);
    profiles[1].profile = NSMV_PROFILE_STRICT;
    /* strict refuses the fixture's null fields: give them bytes */
    static const uint8_t some[1] = {1};
    const uint8_t *bundle[4];
    size_t lens[4];

    for (int kind = BER_INDEFINITE_OUTER; kind <= BER_LONG_INNER; kind++) {
        size_t ber_len, ber_ca_len;
        uint8_t *ber_leaf = ber_variant(leaf, leaf_len, (ber_kind)kind, &ber_len);
        uint8_t *ber_ca = ber_variant(fx->bundle[2], fx->bundle_lens[2], (ber_kind)kind,
                                      &ber_ca_len);
        /* OpenSSL itself takes these bytes as the same certificate */
        const unsigned char *p = ber_leaf;
        X509 *x = d2i_X509(NULL, &p, (long)ber_len);
        assert_non_null(x);
        assert_ptr_equal(p, ber_leaf + ber_len);
        X509_free(x);
        for (int pi = 0; pi < 2; pi++) {
            nsmv_options *o = &profiles[pi];
            nsmsim_payload pl = fx->payload;
            pl.public_key = (nsmsim_optional_bytes){some, 1, true};
            pl.user_data = pl.nonce = pl.public_key;
            nsmkit_buf payload, doc;
            nsmv_result r;

            /* the DER document is valid (and fills the cache) */
            vfx_encode(&pl, &payload);
            vfx_sign(fx, payload.data, payload.len, &doc);
            assert_vcode(vfx_verify(fx, doc.data, doc.len, o, &r), NSMV_OK);
            nsmkit_buf_free(&payload);
            nsmkit_buf_free(&doc);

            pl.certificate = ber_leaf;
            pl.certificate_len = ber_len;
            vfx_encode(&pl, &payload);
            vfx_sign(fx, payload.data, payload.len, &doc);
            assert_vcode(vfx_verify(fx, doc.data, doc.len, o, &r), NSMV_ERR_CERT_NOT_DER);
            assert_non_null(strstr(r.failures[0].detail, "certificate is BER"));
            nsmkit_buf_free(&payload);
            nsmkit_buf_free(&doc);

            pl.certificate = leaf;
            pl.certificate_len = leaf_len;
            memcpy(bundle, fx->bundle, sizeof(bundle));
            memcpy(lens, fx->bundle_lens, sizeof(lens));
            bundle[2] = ber_ca;
            lens[2] = ber_ca_len;
            pl.cabundle = bundle;
            pl.cabundle_lens = lens;
            vfx_encode(&pl, &payload);
            vfx_sign(fx, payload.data, payload.len, &doc);
            assert_vcode(vfx_verify(fx, doc.data, doc.len, o, &r), NSMV_ERR_CERT_NOT_DER);
            assert_non_null(strstr(r.failures[0].detail, "cabundle[2]"));
            nsmkit_buf_free(&payload);
            nsmkit_buf_free(&doc);
        }
        free(ber_leaf);
        free(ber_ca);
    }

    /* a root given in BER is refused when the verifier is made */
    size_t ber_root_len;
    uint8_t *ber_root = ber_variant(fx->root_der, fx->root_len, BER_LONG_OUTER, &ber_root_len);
    nsmv_config c = {.root_der = ber_root, .root_len = ber_root_len};
    nsmv_verifier *v = NULL;
    nsmv_error e;
    assert_int_equal(nsmv_verifier_new(&c, &v, &e), -1);
    assert_null(v);
    assert_non_null(strstr(e.msg, "not DER"));
    free(ber_root);
}

/* ---- the document's time inside its leaf (issue 14 item 6) ----------------------------------- */

static void documents_are_dated_inside_their_leaf(void **state)
{
    const vfx *fx = *state;
    static const uint8_t some[1] = {1};
    static const struct {
        uint64_t ms;
        nsmv_code code;
    } edges[] = {
        {LEAF_NB * 1000 - 1, NSMV_ERR_DOC_TIME_OUTSIDE_LEAF},
        {LEAF_NB * 1000, NSMV_OK},
        {LEAF_NA * 1000 - 1, NSMV_OK},
        {LEAF_NA * 1000, NSMV_ERR_DOC_TIME_OUTSIDE_LEAF},
        {1, NSMV_ERR_DOC_TIME_OUTSIDE_LEAF},
        {UINT64_MAX, NSMV_ERR_DOC_TIME_OUTSIDE_LEAF},
    };
    for (int pi = 0; pi < 2; pi++) {
        nsmv_options o;
        vfx_options(&o); /* a fixed verification time inside every certificate */
        o.profile = pi ? NSMV_PROFILE_STRICT : NSMV_PROFILE_AWS;
        nsmsim_payload p = fx->payload;
        p.public_key = (nsmsim_optional_bytes){some, 1, true};
        p.user_data = p.nonce = p.public_key;
        for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
            p.timestamp_ms = edges[i].ms;
            for (int pass = 0; pass < 2; pass++) { /* the second answered from the cache */
                nsmkit_buf payload, doc;
                nsmv_result r;
                vfx_encode(&p, &payload);
                vfx_sign(fx, payload.data, payload.len, &doc);
                assert_vcode(vfx_verify(fx, doc.data, doc.len, &o, &r), edges[i].code);
                assert_true(r.chain_cached);
                nsmkit_buf_free(&payload);
                nsmkit_buf_free(&doc);
            }
        }
    }
}

static void a_tampered_intermediate_fails_its_signature(void **state)
{
    const vfx *fx = *state;
    const uint8_t *bundle[4];
    size_t lens[4];
    memcpy(bundle, fx->bundle, sizeof(bundle));
    memcpy(lens, fx->bundle_lens, sizeof(lens));
    uint8_t *zonal = malloc(lens[2]);
    assert_non_null(zonal);
    memcpy(zonal, bundle[2], lens[2]);
    zonal[lens[2] - 1] ^= 0x01; /* the last byte of its signature's s */
    bundle[2] = zonal;
    assert_vcode(check_chain(fx, NULL, 0, bundle, lens, 4, NULL, NULL), NSMV_ERR_CERT_SIGNATURE);
    free(zonal);
}

/* ---- time ------------------------------------------------------------------------------------- */

static nsmv_code check_at(const vfx *fx, uint64_t t)
{
    nsmv_options o;
    vfx_options(&o);
    o.time_s = t;
    return check_chain(fx, NULL, 0, NULL, NULL, 0, NULL, &o);
}

static void validity_at_the_verification_time(void **state)
{
    const vfx *fx = *state;
    /* OpenSSL's rule: valid from notBefore (inclusive) to notAfter (exclusive) */
    assert_vcode(check_at(fx, LEAF_NB - 1), NSMV_ERR_CERT_NOT_YET_VALID);
    assert_vcode(check_at(fx, LEAF_NB), NSMV_OK);
    assert_vcode(check_at(fx, LEAF_NA - 1), NSMV_OK);
    assert_vcode(check_at(fx, LEAF_NA), NSMV_ERR_CERT_EXPIRED);
    assert_vcode(check_at(fx, LEAF_NA + 86400), NSMV_ERR_CERT_EXPIRED);
    assert_vcode(check_at(fx, 0), NSMV_ERR_CERT_NOT_YET_VALID);
    /* --at-doc-time uses the document's timestamp */
    nsmv_options o;
    nsmv_result r;
    vfx_options(&o);
    o.time_mode = NSMV_TIME_DOCUMENT;
    assert_vcode(check_chain(fx, NULL, 0, NULL, NULL, 0, NULL, &o), NSMV_OK);
    nsmsim_payload p = fx->payload;
    p.timestamp_ms = (LEAF_NA + 10) * 1000;
    nsmkit_buf payload, doc;
    vfx_encode(&p, &payload);
    vfx_sign(fx, payload.data, payload.len, &doc);
    assert_vcode(vfx_verify(fx, doc.data, doc.len, &o, &r), NSMV_ERR_CERT_EXPIRED);
    assert_int_equal(r.time_s, LEAF_NA + 10);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
}

/* ---- the cache ---------------------------------------------------------------------------------- */

static void the_cache_remembers_chains_but_rechecks_time(void **state)
{
    const vfx *fx = *state;
    nsmv_verifier *v = NULL;
    nsmv_error e;
    nsmv_config c = {.root_der = fx->root_der, .root_len = fx->root_len, .cache_entries = 8};
    assert_int_equal(nsmv_verifier_new(&c, &v, &e), 0);
    nsmkit_buf payload, doc;
    vfx_encode(&fx->payload, &payload);
    vfx_sign(fx, payload.data, payload.len, &doc);
    nsmv_options o;
    nsmv_result r;
    uint64_t hits, misses;
    vfx_options(&o);

    assert_vcode(nsmv_verify(v, doc.data, doc.len, &o, &r), NSMV_OK);
    assert_false(r.chain_cached);
    assert_vcode(nsmv_verify(v, doc.data, doc.len, &o, &r), NSMV_OK);
    assert_true(r.chain_cached);
    nsmv_verifier_cache_stats(v, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 1);

    /* inside the window (edges included, as OpenSSL's) the cache answers; outside it the
     * full path decides, with its own precise code */
    static const struct {
        uint64_t t;
        nsmv_code code;
        bool cached;
    } edges[] = {{LEAF_NB, NSMV_OK, true},
                 {LEAF_NA - 1, NSMV_OK, true},
                 {LEAF_NA, NSMV_ERR_CERT_EXPIRED, false},
                 {LEAF_NB - 1, NSMV_ERR_CERT_NOT_YET_VALID, false},
                 {LEAF_NA + 86400 * 30, NSMV_ERR_CERT_EXPIRED, false}};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        o.time_s = edges[i].t;
        assert_vcode(nsmv_verify(v, doc.data, doc.len, &o, &r), edges[i].code);
        assert_int_equal(r.chain_cached, edges[i].cached);
    }
    o.time_s = VFX_VERIFY_S;
    assert_vcode(nsmv_verify(v, doc.data, doc.len, &o, &r), NSMV_OK);
    assert_true(r.chain_cached);

    /* a cached leaf under a changed cabundle is a miss (then a failure) */
    assert_vcode(check_order(fx, (unsigned[]){0, 1, 3}, 3), NSMV_ERR_CABUNDLE_BROKEN);

    nsmv_verifier_cache_clear(v);
    assert_vcode(nsmv_verify(v, doc.data, doc.len, &o, &r), NSMV_OK);
    assert_false(r.chain_cached);

    /* a tiny cache under pressure of other chains still answers correctly */
    EVP_PKEY *key = vfx_key("P-384");
    issuer by = instance_of(fx);
    for (int i = 0; i < 12; i++) {
        vfx_cert_spec s = leaf_spec(&by, key);
        X509 *leaf = vfx_cert(&s);
        size_t len;
        uint8_t *der = vfx_der(leaf, &len);
        nsmsim_payload p = fx->payload;
        p.certificate = der;
        p.certificate_len = len;
        nsmkit_buf pl, d;
        vfx_encode(&p, &pl);
        vfx_sign_with(key, nsmsim_protected_es384, 4, pl.data, pl.len, &d);
        for (int k = 0; k < 2; k++)
            assert_vcode(nsmv_verify(v, d.data, d.len, &o, &r), NSMV_OK);
        nsmkit_buf_free(&pl);
        nsmkit_buf_free(&d);
        free(der);
        X509_free(leaf);
    }
    issuer_free(&by);
    EVP_PKEY_free(key);
    nsmv_verifier_free(v);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
}

/* nsmv_cache_copy, with which the fuzz targets start each input from one cache: the copy
 * answers as the original would, holds its own references (the original can go), and a
 * cache of another size is refused and left as it was. */
static void a_copied_cache_is_the_same_cache(void **state)
{
    const vfx *fx = *state;
    nsmv_verifier *first = NULL, *second = NULL, *other_size = NULL;
    nsmv_error e;
    nsmv_config c = {.root_der = fx->root_der, .root_len = fx->root_len, .cache_entries = 8};
    nsmv_config big = {.root_der = fx->root_der, .root_len = fx->root_len, .cache_entries = 64};
    assert_int_equal(nsmv_verifier_new(&c, &first, &e), 0);
    assert_int_equal(nsmv_verifier_new(&c, &second, &e), 0);
    assert_int_equal(nsmv_verifier_new(&big, &other_size, &e), 0);
    nsmkit_buf payload, doc;
    vfx_encode(&fx->payload, &payload);
    vfx_sign(fx, payload.data, payload.len, &doc);
    nsmv_options o;
    nsmv_result r;
    uint64_t hits, misses;
    vfx_options(&o);

    /* the intermediates, without the leaf: what the fuzz fixture keeps */
    assert_vcode(nsmv_verify(first, doc.data, doc.len, &o, &r), NSMV_OK);
    assert_false(r.chain_cached || r.chain_fleet);
    nsmv_cache_forget_leaves(first->cache);
    assert_int_equal(nsmv_cache_copy(second->cache, first->cache), 0);
    assert_int_equal(nsmv_cache_copy(other_size->cache, first->cache), -1);
    assert_int_equal(nsmv_cache_copy(second->cache, second->cache), -1);
    nsmv_verifier_free(first); /* the copy's entries hold their own references */

    assert_vcode(nsmv_verify(second, doc.data, doc.len, &o, &r), NSMV_OK);
    assert_true(r.chain_fleet);
    assert_vcode(nsmv_verify(second, doc.data, doc.len, &o, &r), NSMV_OK);
    assert_true(r.chain_cached);
    nsmv_verifier_cache_stats(second, &hits, &misses);
    assert_int_equal(hits, 1);   /* the copy's own */
    assert_int_equal(misses, 2); /* the original's, then the fleet path's */

    /* the refused copy changed nothing: the other verifier starts cold */
    assert_vcode(nsmv_verify(other_size, doc.data, doc.len, &o, &r), NSMV_OK);
    assert_false(r.chain_cached || r.chain_fleet);

    nsmv_verifier_free(second);
    nsmv_verifier_free(other_size);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(embedded_aws_root_is_root_g1),
        cmocka_unit_test(root_files_that_are_not_one_certificate_are_refused),
        cmocka_unit_test(simulated_documents_need_the_simulated_root),
        cmocka_unit_test(real_documents_verify_at_their_time_and_are_expired_now),
        cmocka_unit_test(strict_profile_refuses_what_real_documents_carry),
        cmocka_unit_test(cabundle_must_be_root_first_and_complete),
        cmocka_unit_test(cabundle_entries_must_never_become_anchors),
        cmocka_unit_test(leaf_profile_and_keys),
        cmocka_unit_test(ca_profile_and_path_length),
        cmocka_unit_test(certificates_must_decode_whole),
        cmocka_unit_test(certificates_must_be_canonical_der),
        cmocka_unit_test(documents_are_dated_inside_their_leaf),
        cmocka_unit_test(a_tampered_intermediate_fails_its_signature),
        cmocka_unit_test(validity_at_the_verification_time),
        cmocka_unit_test(the_cache_remembers_chains_but_rechecks_time),
        cmocka_unit_test(a_copied_cache_is_the_same_cache),
    };
    return cmocka_run_group_tests(tests, vfx_setup, vfx_teardown);
}
