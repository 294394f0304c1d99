/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fleet path (verifier/leaflink.c): a document with a new leaf under intermediates the
 * verifier has already verified has its leaf's link checked outside X509_verify_cert. The
 * differential rule: every document gets the same verdict and code through the fleet path
 * (a verifier whose cache holds the intermediates), the full path (no cache) with nettle,
 * and the full path with OpenSSL checking the COSE signature. Documents: leaves of many
 * shapes issued here under the simulated PKI, every real document, and every document of
 * the committed corpus (vectors/, or the one NSMKIT_CORPUS_DIR names).
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify_fixture.h"
#include "nsmkit/buf.h"

#define LEAF_NB (VFX_ISSUE_S - NSMCA_LEAF_BACKDATE_S)
#define LEAF_NA (VFX_ISSUE_S + NSMCA_LEAF_LIFETIME_S)

static nsmv_verifier *verifier_for(const uint8_t *root, size_t root_len, bool cache,
                                   nsmkit_p384_impl crypto)
{
    nsmv_verifier *v = NULL;
    nsmv_error e;
    nsmv_config c = {.root_der = root, .root_len = root_len, .no_cache = !cache,
                     .cache_entries = 64, .crypto = crypto};
    if (nsmv_verifier_new(&c, &v, &e) != 0)
        fail_msg("verifier: %s", e.msg);
    return v;
}

/* The fixture's own document, which puts its intermediates into a verifier's cache. */
static void warm_up(const vfx *fx, nsmv_verifier *v)
{
    nsmkit_buf payload, doc;
    nsmv_options o;
    nsmv_result r;
    vfx_options(&o);
    vfx_encode(&fx->payload, &payload);
    vfx_sign(fx, payload.data, payload.len, &doc);
    assert_vcode(nsmv_verify(v, doc.data, doc.len, &o, &r), NSMV_OK);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
}

/* doc through the full path (nettle and OpenSSL) and through a warm verifier: the same
 * code everywhere (report_all too), which is returned; *fleet says whether the warm
 * verifier took the fleet path. */
static nsmv_code differential(nsmv_verifier *warm, nsmv_verifier *cold_nettle,
                              nsmv_verifier *cold_openssl, const uint8_t *doc, size_t len,
                              const nsmv_options *o, bool *fleet)
{
    nsmv_result rw, rn, ro;
    nsmv_options all = *o;
    all.report_all = true;
    nsmv_code cn = nsmv_verify(cold_nettle, doc, len, o, &rn);
    nsmv_code co = nsmv_verify(cold_openssl, doc, len, o, &ro);
    nsmv_code cw = nsmv_verify(warm, doc, len, o, &rw);
    if (cw != cn || co != cn)
        fail_msg("fleet/warm %s, full nettle %s, full OpenSSL %s", nsmv_code_name(cw),
                 nsmv_code_name(cn), nsmv_code_name(co));
    *fleet = rw.chain_fleet;
    assert_false(rn.chain_fleet || ro.chain_fleet || rn.chain_cached || ro.chain_cached);
    /* every independent failure, the same in both */
    nsmv_verify(cold_nettle, doc, len, &all, &rn);
    nsmv_verify(cold_openssl, doc, len, &all, &ro);
    assert_int_equal(rn.failure_count, ro.failure_count);
    for (size_t i = 0; i < rn.failure_count; i++)
        assert_int_equal(rn.failures[i].code, ro.failures[i].code);
    return cn;
}

/* ---- leaves of many shapes under the simulated PKI --------------------------------------------- */

typedef struct {
    const char *what;
    vfx_cert_spec spec;      /* issuer, issuer_key and key are filled in */
    bool sign_with_zonal;    /* the certificate's signature by the wrong key */
    bool flip_signature;     /* the last byte of the certificate (its signature's s) */
    bool ber;                /* the outer length in a longer form than needed */
    bool p256;               /* a P-256 subject key */
    bool compressed;         /* the subject key as a compressed point */
    uint64_t doc_ms;         /* 0: the fixture's timestamp */
    uint64_t at_s;           /* 0: VFX_VERIFY_S */
    nsmv_code code;
    bool fleet;              /* the warm verifier takes the fleet path */
} leaf_case;

static void leaves_of_every_shape_get_the_same_verdict_both_ways(void **state)
{
    const vfx *fx = *state;
    X509 *instance = vfx_tier_cert(fx, 3), *zonal = vfx_tier_cert(fx, 2);
    EVP_PKEY *instance_key = vfx_tier_key(fx, "instance"), *zonal_key = vfx_tier_key(fx, "zonal");
    const vfx_cert_spec base = {.cn = "fleet leaf", .not_before = LEAF_NB, .not_after = LEAF_NA,
                                .basic_constraints = "critical,CA:FALSE",
                                .key_usage = "critical,digitalSignature"};
    leaf_case cases[] = {
        {"a new leaf", base, .code = NSMV_OK, .fleet = true},
        {"with SKI and AKI", base, .code = NSMV_OK, .fleet = true},
        {"valid from the verification time", base, .at_s = LEAF_NB, .code = NSMV_OK,
         .fleet = true},
        {"expiring at the verification time", base, .at_s = LEAF_NA, .code = NSMV_ERR_CERT_EXPIRED},
        {"valid from the next second", base, .at_s = LEAF_NB - 1,
         .code = NSMV_ERR_CERT_NOT_YET_VALID},
        {"valid until 2050 (GeneralizedTime)", base, .code = NSMV_OK, .fleet = true},
        {"dated outside its leaf", base, .doc_ms = LEAF_NB * 1000 - 1,
         .code = NSMV_ERR_DOC_TIME_OUTSIDE_LEAF, .fleet = true},
        {"an unknown critical extension", base, .code = NSMV_ERR_CHAIN_INVALID},
        {"a CA", base, .code = NSMV_ERR_LEAF_PROFILE},
        {"without digitalSignature", base, .code = NSMV_ERR_LEAF_PROFILE},
        {"signed with SHA-256", base, .code = NSMV_ERR_CERT_SIGNATURE_ALG},
        {"signed by the zonal key", base, .sign_with_zonal = true, .code = NSMV_ERR_CERT_SIGNATURE},
        {"with a broken signature", base, .flip_signature = true, .code = NSMV_ERR_CERT_SIGNATURE},
        {"naming the zonal CA as issuer", base, .code = NSMV_ERR_LEAF_ISSUER},
        {"in BER", base, .ber = true, .code = NSMV_ERR_CERT_NOT_DER},
        {"with a P-256 key", base, .p256 = true, .code = NSMV_ERR_CERT_KEY},
        {"with a compressed point", base, .compressed = true, .code = NSMV_ERR_CERT_KEY},
    };
    cases[1].spec.key_ids = true;
    cases[5].spec.not_after = 2524608000; /* 2050-01-01 */
    cases[7].spec.unknown_critical = true;
    cases[8].spec.basic_constraints = "critical,CA:TRUE";
    cases[9].spec.key_usage = "critical,keyCertSign";
    cases[10].spec.md = EVP_sha256();

    nsmv_verifier *cold_nettle = verifier_for(fx->root_der, fx->root_len, false, NSMKIT_P384_NETTLE);
    nsmv_verifier *cold_openssl =
        verifier_for(fx->root_der, fx->root_len, false, NSMKIT_P384_OPENSSL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        leaf_case *c = &cases[i];
        print_message("  a leaf %s\n", c->what);
        nsmv_verifier *warm = verifier_for(fx->root_der, fx->root_len, true, NSMKIT_P384_NETTLE);
        warm_up(fx, warm);
        EVP_PKEY *key = vfx_key(c->p256 ? "P-256" : "P-384");
        if (c->compressed)
            assert_int_equal(EVP_PKEY_set_utf8_string_param(key, "point-format", "compressed"), 1);
        vfx_cert_spec spec = c->spec;
        spec.key = key;
        spec.issuer = i == 13 ? zonal : instance;
        spec.issuer_key = c->sign_with_zonal || i == 13 ? zonal_key : instance_key;
        X509 *leaf = vfx_cert(&spec);
        size_t der_len;
        uint8_t *der = vfx_der(leaf, &der_len);
        if (c->flip_signature)
            der[der_len - 1] ^= 0x01;
        if (c->ber) { /* 30 82 LL LL -> 30 83 00 LL LL */
            uint8_t *longer = malloc(der_len + 1);
            assert_non_null(longer);
            longer[0] = 0x30;
            longer[1] = 0x83;
            longer[2] = 0x00;
            memcpy(longer + 3, der + 2, der_len - 2);
            free(der);
            der = longer;
            der_len++;
        }
        nsmsim_payload p = fx->payload;
        p.certificate = der;
        p.certificate_len = der_len;
        p.timestamp_ms = c->doc_ms ? c->doc_ms : (c->at_s ? c->at_s : VFX_VERIFY_S) * 1000;
        nsmkit_buf payload, doc;
        vfx_encode(&p, &payload);
        if (c->p256)
            vfx_sign(fx, payload.data, payload.len, &doc);
        else
            vfx_sign_with(key, nsmsim_protected_es384, 4, payload.data, payload.len, &doc);
        nsmv_options o;
        vfx_options(&o);
        if (c->at_s)
            o.time_s = c->at_s;
        bool fleet = false;
        assert_vcode(differential(warm, cold_nettle, cold_openssl, doc.data, doc.len, &o, &fleet),
                    c->code);
        assert_int_equal(fleet, c->fleet);
        if (c->code == NSMV_OK) { /* the leaf joined the cache: its next document is warm */
            nsmv_result r;
            assert_vcode(nsmv_verify(warm, doc.data, doc.len, &o, &r), NSMV_OK);
            assert_true(r.chain_cached);
        }
        nsmkit_buf_free(&payload);
        nsmkit_buf_free(&doc);
        free(der);
        X509_free(leaf);
        EVP_PKEY_free(key);
        nsmv_verifier_free(warm);
    }
    nsmv_verifier_free(cold_nettle);
    nsmv_verifier_free(cold_openssl);
    X509_free(instance);
    X509_free(zonal);
    EVP_PKEY_free(instance_key);
    EVP_PKEY_free(zonal_key);
}

/* The fleet path re-checks the intermediates' window at every verification time: after
 * they expire, the full path says so. */
static void remembered_intermediates_are_rechecked_in_time(void **state)
{
    const vfx *fx = *state;
    nsmv_verifier *warm = verifier_for(fx->root_der, fx->root_len, true, NSMKIT_P384_NETTLE);
    nsmv_verifier *cold = verifier_for(fx->root_der, fx->root_len, false, NSMKIT_P384_NETTLE);
    warm_up(fx, warm);
    X509 *instance = vfx_tier_cert(fx, 3);
    EVP_PKEY *instance_key = vfx_tier_key(fx, "instance"), *key = vfx_key("P-384");
    int64_t inb = 0, ina = 0;
    {
        const ASN1_TIME *t = X509_get0_notAfter(instance);
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
        ina = (int64_t)timegm(&tm);
        (void)inb;
    }
    /* a leaf that outlives its instance CA by a day */
    vfx_cert_spec spec = {.cn = "long leaf", .issuer = instance, .issuer_key = instance_key,
                          .key = key, .not_before = LEAF_NB, .not_after = ina + 86400,
                          .basic_constraints = "critical,CA:FALSE",
                          .key_usage = "critical,digitalSignature"};
    X509 *leaf = vfx_cert(&spec);
    size_t der_len;
    uint8_t *der = vfx_der(leaf, &der_len);
    const struct {
        uint64_t at;
        nsmv_code code;
        bool fleet;
    } times[] = {{ina - 1, NSMV_OK, true}, {ina, NSMV_ERR_CERT_EXPIRED, false}};
    for (size_t i = 0; i < 2; i++) {
        nsmsim_payload p = fx->payload;
        p.certificate = der;
        p.certificate_len = der_len;
        p.timestamp_ms = times[i].at * 1000;
        nsmkit_buf payload, doc;
        nsmv_result r, rc;
        vfx_encode(&p, &payload);
        vfx_sign_with(key, nsmsim_protected_es384, 4, payload.data, payload.len, &doc);
        nsmv_options o;
        vfx_options(&o);
        o.time_s = times[i].at;
        nsmv_verifier_cache_clear(warm);
        warm_up(fx, warm); /* at VFX_VERIFY_S: the intermediates are remembered */
        assert_vcode(nsmv_verify(warm, doc.data, doc.len, &o, &r), times[i].code);
        assert_vcode(nsmv_verify(cold, doc.data, doc.len, &o, &rc), times[i].code);
        assert_int_equal(r.chain_fleet, times[i].fleet);
        nsmkit_buf_free(&payload);
        nsmkit_buf_free(&doc);
    }
    free(der);
    X509_free(leaf);
    X509_free(instance);
    EVP_PKEY_free(instance_key);
    EVP_PKEY_free(key);
    nsmv_verifier_free(warm);
    nsmv_verifier_free(cold);
}

/* ---- many threads, many leaves, a small cache --------------------------------------------------- */

typedef struct {
    nsmv_verifier *v;
    nsmkit_buf *docs;
    size_t count;
    size_t fleet, bad;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    nsmv_options o;
    vfx_options(&o);
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < w->count; i++) {
            nsmv_result r;
            if (nsmv_verify(w->v, w->docs[i].data, w->docs[i].len, &o, &r) != NSMV_OK)
                w->bad++;
            w->fleet += r.chain_fleet;
        }
    return NULL;
}

static void threads_share_the_fleet_path(void **state)
{
    const vfx *fx = *state;
    enum { DOCS = 12, THREADS = 4 };
    nsmkit_buf docs[DOCS];
    X509 *instance = vfx_tier_cert(fx, 3);
    EVP_PKEY *instance_key = vfx_tier_key(fx, "instance");
    for (size_t i = 0; i < DOCS; i++) {
        EVP_PKEY *key = vfx_key("P-384");
        char cn[32];
        snprintf(cn, sizeof(cn), "leaf %zu", i);
        vfx_cert_spec spec = {.cn = cn, .issuer = instance, .issuer_key = instance_key,
                              .key = key, .not_before = LEAF_NB, .not_after = LEAF_NA,
                              .basic_constraints = "critical,CA:FALSE",
                              .key_usage = "critical,digitalSignature"};
        X509 *leaf = vfx_cert(&spec);
        size_t der_len;
        uint8_t *der = vfx_der(leaf, &der_len);
        nsmsim_payload p = fx->payload;
        p.certificate = der;
        p.certificate_len = der_len;
        nsmkit_buf payload;
        vfx_encode(&p, &payload);
        vfx_sign_with(key, nsmsim_protected_es384, 4, payload.data, payload.len, &docs[i]);
        nsmkit_buf_free(&payload);
        free(der);
        X509_free(leaf);
        EVP_PKEY_free(key);
    }
    /* 8 entries: the three intermediates and a few leaves, which keep evicting each other */
    nsmv_verifier *v = NULL;
    nsmv_error e;
    nsmv_config c = {.root_der = fx->root_der, .root_len = fx->root_len, .cache_entries = 8};
    assert_int_equal(nsmv_verifier_new(&c, &v, &e), 0);
    warm_up(fx, v);
    pthread_t t[THREADS];
    worker w[THREADS];
    for (size_t i = 0; i < THREADS; i++) {
        w[i] = (worker){v, docs, DOCS, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    size_t fleet = 0;
    for (size_t i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].bad, 0);
        fleet += w[i].fleet;
    }
    print_message("  %zu of %d verifications took the fleet path\n", fleet, THREADS * 3 * DOCS);
    assert_true(fleet > 0);
    nsmv_verifier_free(v);
    for (size_t i = 0; i < DOCS; i++)
        nsmkit_buf_free(&docs[i]);
    X509_free(instance);
    EVP_PKEY_free(instance_key);
}

/* ---- real documents and a generated corpus ------------------------------------------------------ */

/* Every file of dir ending in suffix (NULL: every regular file but root.pem and
 * manifest.tsv) through the three verifiers; returns how many, and counts fleet paths. */
static size_t run_dir(const char *dir, const char *suffix, nsmv_verifier *warm,
                      nsmv_verifier *cold_nettle, nsmv_verifier *cold_openssl,
                      const nsmv_options *o, size_t *fleet, size_t *valid)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *ent;
    size_t seen = 0;
    while ((ent = readdir(d)) != NULL) {
        size_t n = strlen(ent->d_name);
        if (ent->d_name[0] == '.' ||
            (suffix && (n < strlen(suffix) || strcmp(ent->d_name + n - strlen(suffix), suffix))) ||
            (!suffix && (!strcmp(ent->d_name, "root.pem") || !strcmp(ent->d_name, "manifest.tsv"))))
            continue;
        char path[8400];
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
        uint8_t *doc = test_read_file(path, &len);
        bool f = false;
        nsmv_code c = differential(warm, cold_nettle, cold_openssl, doc, len, o, &f);
        *fleet += f;
        *valid += c == NSMV_OK;
        free(doc);
        seen++;
    }
    closedir(d);
    return seen;
}

static void every_real_document_gets_the_same_verdict_both_ways(void **state)
{
    (void)state;
    const char *shared = test_shared_dir();
    if (!shared)
        test_skip("../shared/vectors/real not present: real documents not run both ways");
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/vectors/real", shared);
    size_t aws_len;
    const uint8_t *aws = nsmv_aws_root_der(&aws_len);
    nsmv_verifier *warm = verifier_for(aws, aws_len, true, NSMKIT_P384_NETTLE);
    nsmv_verifier *cold_nettle = verifier_for(aws, aws_len, false, NSMKIT_P384_NETTLE);
    nsmv_verifier *cold_openssl = verifier_for(aws, aws_len, false, NSMKIT_P384_OPENSSL);
    nsmv_options o;
    nsmv_options_init(&o);
    o.time_mode = NSMV_TIME_DOCUMENT;
    size_t fleet = 0, valid = 0;
    size_t seen = run_dir(dir, ".bin", warm, cold_nettle, cold_openssl, &o, &fleet, &valid);
    /* and again at one time for all (most are expired then: the codes still agree) */
    nsmv_verifier_cache_clear(warm);
    o.time_mode = NSMV_TIME_FIXED;
    o.time_s = 1700000000;
    size_t fleet_fixed = 0, valid_fixed = 0;
    run_dir(dir, ".bin", warm, cold_nettle, cold_openssl, &o, &fleet_fixed, &valid_fixed);
    print_message("  %zu real documents: %zu valid at their time, %zu by the fleet path\n", seen,
                  valid, fleet);
    assert_true(seen >= 17);
    assert_int_equal(valid, seen);

    /* each real leaf through the fleet path itself: its intermediates remembered, the leaf
     * forgotten, then the document again (nettle and OpenSSL on the COSE side) */
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *ent;
    size_t by_fleet = 0;
    o.time_mode = NSMV_TIME_DOCUMENT;
    nsmv_verifier *warm_openssl = verifier_for(aws, aws_len, true, NSMKIT_P384_OPENSSL);
    while ((ent = readdir(d)) != NULL) {
        size_t n = strlen(ent->d_name);
        if (n < 5 || strcmp(ent->d_name + n - 4, ".bin") != 0)
            continue;
        char path[8400];
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
        uint8_t *doc = test_read_file(path, &len);
        nsmv_verifier *both[2] = {warm, warm_openssl};
        for (int i = 0; i < 2; i++) {
            nsmv_result r;
            assert_vcode(nsmv_verify(both[i], doc, len, &o, &r), NSMV_OK);
            nsmv_verifier_cache_forget_leaves(both[i]);
            assert_vcode(nsmv_verify(both[i], doc, len, &o, &r), NSMV_OK);
            if (!r.chain_fleet)
                fail_msg("%s did not take the fleet path", ent->d_name);
            assert_vcode(nsmv_verify(both[i], doc, len, &o, &r), NSMV_OK);
            assert_true(r.chain_cached);
        }
        by_fleet++;
        free(doc);
    }
    closedir(d);
    assert_int_equal(by_fleet, seen);
    nsmv_verifier_free(warm_openssl);
    nsmv_verifier_free(warm);
    nsmv_verifier_free(cold_nettle);
    nsmv_verifier_free(cold_openssl);
}

/* The committed corpus (vectors/, or the corpus NSMKIT_CORPUS_DIR names: a directory
 * written by nsm-vectors gen, with manifest.tsv and root.pem): every document at its
 * manifest's verification time, the leaves forgotten before each so that the warm verifier
 * tries the fleet path whenever the intermediates are remembered. */
static void every_corpus_document_gets_the_same_verdict_both_ways(void **state)
{
    (void)state;
    const char *dir = getenv("NSMKIT_CORPUS_DIR");
    if (!dir || !*dir)
        dir = "vectors";
    char path[4200];
    snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
    FILE *manifest = fopen(path, "r");
    if (!manifest)
        test_skip("no corpus manifest at %s (run from the repository root, or set "
                  "NSMKIT_CORPUS_DIR): the corpus is not run both ways", path);
    snprintf(path, sizeof(path), "%s/root.pem", dir);
    uint8_t *root = NULL;
    size_t root_len = 0;
    nsmv_error e;
    if (nsmv_root_read_pem(path, &root, &root_len, &e) != 0)
        fail_msg("corpus root: %s", e.msg);
    nsmv_verifier *warm = verifier_for(root, root_len, true, NSMKIT_P384_NETTLE);
    nsmv_verifier *cold_nettle = verifier_for(root, root_len, false, NSMKIT_P384_NETTLE);
    nsmv_verifier *cold_openssl = verifier_for(root, root_len, false, NSMKIT_P384_OPENSSL);
    char line[8192];
    size_t seen = 0, fleet = 0, valid = 0;
    while (fgets(line, sizeof(line), manifest)) {
        /* name, class, layer, file, verify_time, ... (tab-separated, a header row) */
        char *fields[5] = {NULL}, *cursor = line;
        for (int i = 0; i < 5 && cursor; i++) {
            fields[i] = cursor;
            cursor = strchr(cursor, '\t');
            if (cursor)
                *cursor++ = '\0';
        }
        if (!fields[4] || strcmp(fields[0], "name") == 0)
            continue;
        char *end = NULL;
        unsigned long long at = strtoull(fields[4], &end, 10);
        assert_true(end && *end == '\0');
        snprintf(path, sizeof(path), "%s/%s", dir, fields[3]);
        size_t len;
        uint8_t *doc = test_read_file(path, &len);
        nsmv_options o;
        nsmv_options_init(&o);
        o.time_mode = NSMV_TIME_FIXED;
        o.time_s = at;
        bool f = false;
        nsmv_verifier_cache_forget_leaves(warm);
        nsmv_code c = differential(warm, cold_nettle, cold_openssl, doc, len, &o, &f);
        fleet += f;
        valid += c == NSMV_OK;
        free(doc);
        seen++;
    }
    fclose(manifest);
    print_message("  %zu corpus documents: %zu valid, %zu by the fleet path\n", seen, valid,
                  fleet);
    assert_true(seen > 0);
    assert_true(fleet > 0);
    nsmv_verifier_free(warm);
    nsmv_verifier_free(cold_nettle);
    nsmv_verifier_free(cold_openssl);
    free(root);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leaves_of_every_shape_get_the_same_verdict_both_ways),
        cmocka_unit_test(remembered_intermediates_are_rechecked_in_time),
        cmocka_unit_test(threads_share_the_fleet_path),
        cmocka_unit_test(every_real_document_gets_the_same_verdict_both_ways),
        cmocka_unit_test(every_corpus_document_gets_the_same_verdict_both_ways),
    };
    return cmocka_run_group_tests(tests, vfx_setup, vfx_teardown);
}
