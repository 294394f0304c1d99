/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fault table, the generator, the corpus and the surgery helpers (faults/fault.c,
 * corpus.c, surgery.c, det_sign.c).
 *
 * Every corpus entry is built from a fresh PKI and verified under both profiles: the code
 * must be exactly the table's. The committed corpus (vectors/) is verified against its own
 * manifest. Every verifier code a document can reach must be some class's expected code.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "nsmkit/ca.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/det_sign.h"
#include "nsmkit/fault.h"
#include "nsmkit/file.h"
#include "nsmkit/hex.h"
#include "nsmkit/surgery.h"
#include "nsmkit/verify.h"

#define T0 1767225600ull

typedef struct {
    char *dir;
    nsmfault_pki *pki;
    nsmv_verifier *verifier;
} fx;

static int setup(void **state)
{
    char ca[4200], store[4200];
    nsmkit_error e;
    nsmv_error ve;
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->dir = test_mkdtemp();
    snprintf(ca, sizeof(ca), "%s/ca", f->dir);
    snprintf(store, sizeof(store), "%s/store", f->dir);
    nsmca_init_options init = {.intermediates = 3, .now_s = T0};
    if (nsmca_init(ca, &init, &e) != 0 || nsmfault_pki_open(ca, store, T0 + 600, &f->pki, &e) != 0)
        fail_msg("fixture: %s", e.msg);
    size_t root_len;
    const uint8_t *root = nsmfault_pki_root_der(f->pki, &root_len);
    nsmv_config config = {.root_der = root, .root_len = root_len};
    if (nsmv_verifier_new(&config, &f->verifier, &ve) != 0)
        fail_msg("verifier: %s", ve.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    nsmv_verifier_free(f->verifier);
    nsmfault_pki_free(f->pki);
    test_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Every corpus entry, built from this run's PKI, gets exactly the expected code. */
static void corpus_codes_match_the_table(void **state)
{
    fx *f = *state;
    size_t mismatches = 0, checked = 0;
    for (size_t i = 0; i < nsmfault_corpus_count(); i++) {
        nsmfault_corpus_entry entry;
        nsmfault_doc doc;
        nsmkit_error e;
        nsmfault_corpus_get(i, &entry);
        if (nsmfault_build(f->pki, &entry.shape, &entry.faults, entry.resign, &doc, &e) != 0)
            fail_msg("%s: %s", entry.name, e.msg);
        for (int p = 0; p < 2; p++) {
            nsmv_profile profile = p ? NSMV_PROFILE_STRICT : NSMV_PROFILE_AWS;
            nsmv_options o;
            nsmv_expected_pcr pcr;
            nsmv_result r;
            nsmfault_doc_options(&doc, profile, &o, &pcr);
            nsmv_code got = nsmv_verify(f->verifier, doc.doc.data, doc.doc.len, &o, &r);
            nsmv_code want = nsmfault_corpus_expected(&entry, profile);
            checked++;
            if (got != want) {
                print_message("%s (%s): got %d %s (%s), want %d %s\n", entry.name,
                              nsmv_profile_name(profile), (int)got, nsmv_code_name(got),
                              r.failure_count ? r.failures[0].detail : "", (int)want,
                              nsmv_code_name(want));
                mismatches++;
            }
        }
        nsmfault_doc_free(&doc);
    }
    print_message("%zu verdicts checked, %zu wrong\n", checked, mismatches);
    assert_int_equal(mismatches, 0);
}

/* The same PKI, shape and classes give the same bytes (RFC 6979 nonces). */
static void documents_are_reproducible(void **state)
{
    fx *f = *state;
    static const char *const lists[] = {"sig_high_s", "pki_rogue_root", "nonce_1025"};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        nsmfault_set set;
        nsmfault_shape shape;
        nsmfault_doc a, b;
        nsmkit_error e;
        nsmfault_shape_init(&shape);
        assert_int_equal(nsmfault_set_parse(lists[i], &set, &e), 0);
        assert_int_equal(nsmfault_build(f->pki, &shape, &set, true, &a, &e), 0);
        assert_int_equal(nsmfault_build(f->pki, &shape, &set, true, &b, &e), 0);
        assert_int_equal(a.doc.len, b.doc.len);
        assert_memory_equal(a.doc.data, b.doc.data, a.doc.len);
        nsmfault_doc_free(&a);
        nsmfault_doc_free(&b);
    }
}

/* Codes no document can reach, with the reason; every other code needs a class. */
static const struct {
    nsmv_code code;
    const char *why;
} unreachable[] = {
    {NSMV_ERR_INTERNAL, "a verifier defect, not a property of the document"},
    {NSMV_ERR_NO_MEMORY, "allocation failure inside the verifier"},
    {NSMV_ERR_USAGE, "invalid arguments to nsmv_verify, not a document"},
};

static void every_reachable_code_has_a_class(void **state)
{
    (void)state;
    size_t missing = 0;
    for (size_t i = 0; i < nsmv_code_count(); i++) {
        nsmv_code code = nsmv_code_at(i);
        if (code == NSMV_OK)
            continue; /* not a failure; the valid shapes and accepted classes expect it */
        bool excused = false, covered = false;
        for (size_t k = 0; k < sizeof(unreachable) / sizeof(unreachable[0]); k++)
            excused |= unreachable[k].code == code;
        for (int c = 0; c < NSMFAULT_COUNT; c++) {
            const nsmfault_info *info = nsmfault_get((nsmfault_class)c);
            covered |= info->aws == code || info->strict == code;
        }
        if (excused && covered)
            fail_msg("code %d %s is listed as unreachable but a class expects it", (int)code,
                     nsmv_code_name(code));
        if (!excused && !covered) {
            print_message("code %d %s: no fault class expects it\n", (int)code,
                          nsmv_code_name(code));
            missing++;
        }
    }
    assert_int_equal(missing, 0);
}

/* Names are unique, layers known, descriptions present. */
static void the_table_is_well_formed(void **state)
{
    (void)state;
    for (int c = 0; c < NSMFAULT_COUNT; c++) {
        const nsmfault_info *info = nsmfault_get((nsmfault_class)c);
        assert_non_null(info);
        assert_int_equal(nsmfault_by_name(info->name), c);
        assert_true(info->layer < NSMFAULT_LAYER_COUNT);
        assert_true(strlen(info->description) > 3);
        assert_non_null(nsmv_code_name(info->aws));
        assert_non_null(nsmv_code_name(info->strict));
    }
    assert_null(nsmfault_get(NSMFAULT_COUNT));
    assert_int_equal(nsmfault_by_name("no_such_fault"), -1);
}

static void fault_lists_parse_with_clear_errors(void **state)
{
    (void)state;
    nsmfault_set set;
    nsmkit_error e;
    char text[256];
    assert_int_equal(nsmfault_set_parse("sig_bit_flip,payload_unknown_key", &set, &e), 0);
    nsmfault_set_format(&set, text, sizeof(text));
    assert_string_equal(text, "payload_unknown_key,sig_bit_flip");
    assert_int_equal(nsmfault_set_parse("sig_bit_flip,no_such", &set, &e), -1);
    assert_non_null(strstr(e.msg, "unknown fault class \"no_such\""));
    assert_int_equal(nsmfault_set_parse("sig_bit_flip,sig_der", &set, &e), -1);
    assert_non_null(strstr(e.msg, "cannot combine"));
    assert_int_equal(nsmfault_set_parse("", &set, &e), -1);
    assert_int_equal(nsmfault_set_parse("a,,b", &set, &e), -1);
    assert_int_equal(nsmfault_set_parse(",", &set, &e), -1);
}

/* A class that cannot apply to the shape says so instead of building something else. */
static void faults_that_cannot_apply_fail_clearly(void **state)
{
    fx *f = *state;
    nsmfault_set set;
    nsmfault_shape shape;
    nsmfault_doc doc;
    nsmkit_error e;
    nsmfault_shape_init(&shape);
    shape.tiers = 1;
    assert_int_equal(nsmfault_set_parse("pki_zonal_expired", &set, &e), 0);
    assert_int_equal(nsmfault_build(f->pki, &shape, &set, true, &doc, &e), -1);
    assert_non_null(strstr(e.msg, "needs 2 tiers"));
    nsmfault_shape_init(&shape);
    shape.optional = NSMFAULT_OPTIONAL_ABSENT;
    assert_int_equal(nsmfault_set_parse("nonce_int", &set, &e), 0);
    assert_int_equal(nsmfault_build(f->pki, &shape, &set, true, &doc, &e), -1);
    assert_non_null(strstr(e.msg, "no key \"nonce\""));
    shape.optional = NSMFAULT_OPTIONAL_NULL;
    assert_int_equal(nsmfault_set_parse("policy_nonce_mismatch", &set, &e), 0);
    assert_int_equal(nsmfault_build(f->pki, &shape, &set, true, &doc, &e), -1);
    nsmfault_shape_init(&shape);
    shape.pcr_count = 1;
    assert_int_equal(nsmfault_set_parse("policy_debug_mode", &set, &e), 0);
    assert_int_equal(nsmfault_build(f->pki, &shape, &set, true, &doc, &e), -1);
}

/* RFC 6979 A.2.6: P-384, SHA-384, message "sample". */
static void rfc6979_known_answer(void **state)
{
    (void)state;
    static const char *x_hex = "6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D8"
                               "96D5724E4C70A825F872C9EA60D2EDF5";
    static const char *pub_hex = "04"
        "EC3A4E415B4E19A4568618029F427FA5DA9A8BC4AE92E02E06AAE5286B300C64DEF8F0EA9055866064A254515480BC13"
        "8015D9B72D7D57244EA8EF9AC0C621896708A59367F9DFB9F54CA84B3F1C9DB1288B231C3AE0D4FE7344FD2533264720";
    static const char *k_hex = "94ED910D1A099DAD3254E9242AE85ABDE4BA15168EAF0CA87A555FD56D10FBCA"
                               "2907E3E83BA95368623B8C4686915CF9";
    static const char *sig_hex = "94EDBB92A5ECB8AAD4736E56C691916B3F88140666CE9FA73D64C4EA95AD133C"
                                 "81A648152E44ACF96E36DD1E80FABE46"
                                 "99EF4AEB15F178CEA1FE40DB2603138F130E740A19624526203B6351D0A3A94F"
                                 "A329C145786E679E7B82C71A38628AC8";
    size_t x_len, pub_len, k_len, sig_len;
    uint8_t *x = test_hex(x_hex, &x_len), *pub = test_hex(pub_hex, &pub_len);
    uint8_t *k_want = test_hex(k_hex, &k_len), *sig_want = test_hex(sig_hex, &sig_len);
    uint8_t digest[48], k[48], sig[96];
    nsmkit_error e;
    assert_int_equal(EVP_Digest("sample", 6, digest, NULL, EVP_sha384(), NULL), 1);
    assert_int_equal(nsmkit_rfc6979_k_p384(x, digest, k, &e), 0);
    assert_memory_equal(k, k_want, 48);

    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *d = BN_bin2bn(x, (int)x_len, NULL);
    assert_non_null(bld);
    assert_non_null(d);
    assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-384", 0), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len), 1);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *key = NULL;
    assert_non_null(params);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params), 1);
    assert_int_equal(nsmkit_sign_p384_det(key, digest, sig, &e), 0);
    assert_memory_equal(sig, sig_want, 96);

    /* high S: n - s is the other valid signature, and negating twice gives s back */
    assert_int_equal(nsmkit_p384_negate_s(sig, &e), 0);
    assert_memory_not_equal(sig + 48, sig_want + 48, 48);
    assert_int_equal(nsmkit_p384_negate_s(sig, &e), 0);
    assert_memory_equal(sig, sig_want, 96);

    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(d);
    free(x);
    free(pub);
    free(k_want);
    free(sig_want);
}

/* Surgery refuses broken bytes with a message and leaves the buffer alone. */
static void surgery_on_broken_maps_fails_cleanly(void **state)
{
    (void)state;
    static const char *const broken[] = {
        "",                  /* nothing */
        "a1",                /* a map with no entries present */
        "a16161",            /* a key, no value */
        "a1616178ff",        /* a value whose length runs past the end */
        "bf616101",          /* indefinite map with no break */
        "a19fffff",          /* a non-text key */
        "83010203",          /* not a map */
        "a1616181818181818181818181818181818181818181818181818181818181818181818181818181"
        "8181818181818181818181818181818181818181818181818181818181818181818181818181818100",
    };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        nsmkit_buf m;
        nsmkit_error e;
        size_t n;
        uint8_t *bytes = *broken[i] ? test_hex(broken[i], &n) : NULL;
        if (!bytes)
            n = 0;
        nsmkit_buf_init(&m, 4096);
        nsmkit_buf_append(&m, bytes, n);
        static const uint8_t v[] = {0x00};
        assert_int_equal(nsmsim_map_set_value(&m, "b", v, 1, &e), -1);
        assert_int_equal(nsmsim_map_remove(&m, "b", &e), -1);
        assert_int_equal(m.len, n);
        if (n)
            assert_memory_equal(m.data, bytes, n);
        nsmkit_buf_free(&m);
        free(bytes);
    }
}

static void surgery_edits_definite_and_indefinite_maps(void **state)
{
    (void)state;
    /* {"a": 1, "b": 2} both ways */
    static const char *const maps[] = {"a2616101616202", "bf616101616202ff"};
    static const char *const after[] = {"a2616101616203", "bf616101616203ff"};
    static const char *const removed[] = {"a1616203", "bf616203ff"};
    static const char *const appended[] = {"a2616203616304", "bf616203616304ff"};
    for (int i = 0; i < 2; i++) {
        nsmkit_buf m;
        nsmkit_error e;
        size_t n, want_len;
        uint8_t *bytes = test_hex(maps[i], &n), *want;
        nsmkit_buf_init(&m, 4096);
        nsmkit_buf_append(&m, bytes, n);
        static const uint8_t three[] = {0x03}, key_c[] = {0x61, 'c'}, four[] = {0x04};
        assert_int_equal(nsmsim_map_set_value(&m, "b", three, 1, &e), 0);
        want = test_hex(after[i], &want_len);
        assert_int_equal(m.len, want_len);
        assert_memory_equal(m.data, want, want_len);
        free(want);
        assert_int_equal(nsmsim_map_remove(&m, "a", &e), 0);
        want = test_hex(removed[i], &want_len);
        assert_int_equal(m.len, want_len);
        assert_memory_equal(m.data, want, want_len);
        free(want);
        assert_int_equal(nsmsim_map_append(&m, key_c, 2, four, 1, &e), 0);
        want = test_hex(appended[i], &want_len);
        assert_int_equal(m.len, want_len);
        assert_memory_equal(m.data, want, want_len);
        free(want);
        assert_int_equal(nsmsim_map_set_value(&m, "zz", three, 1, &e), -1);
        assert_non_null(strstr(e.msg, "no key \"zz\""));
        nsmkit_buf_free(&m);
        free(bytes);
    }
}

/* ---- the committed corpus ---------------------------------------------------------------- */

static char *field(char **cursor)
{
    char *start = *cursor, *tab = strchr(start, '\t');
    if (tab) {
        *tab = '\0';
        *cursor = tab + 1;
    } else {
        *cursor = start + strlen(start);
    }
    return start;
}

static void set_bytes(nsmv_expected_bytes *b, const char *hex, uint8_t **owned)
{
    nsmkit_error e;
    size_t len = 0;
    *owned = NULL;
    if (!*hex)
        return;
    if (nsmkit_hex_decode(hex, 4096, owned, &len, &e) != 0)
        fail_msg("manifest hex: %s", e.msg);
    *b = (nsmv_expected_bytes){true, *owned, len};
}

/* The verifier gives every committed document exactly the manifest's code, both profiles. */
static void committed_corpus_matches_its_manifest(void **state)
{
    (void)state;
    const char *dir = getenv("NSMKIT_VECTORS") ? getenv("NSMKIT_VECTORS") : "vectors";
    char path[4200];
    uint8_t *text, *root = NULL;
    size_t text_len, root_len;
    nsmkit_error e;
    nsmv_error ve;
    snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
    if (nsmkit_file_read(path, 16u << 20, &text, &text_len, &e) != 0)
        test_skip("%s not found (run from the repository root): committed corpus not checked", path);
    snprintf(path, sizeof(path), "%s/root.pem", dir);
    if (nsmv_root_read_pem(path, &root, &root_len, &ve) != 0)
        fail_msg("%s", ve.msg);
    nsmv_verifier *v;
    nsmv_config config = {.root_der = root, .root_len = root_len};
    assert_int_equal(nsmv_verifier_new(&config, &v, &ve), 0);
    char *s = realloc(text, text_len + 1);
    assert_non_null(s);
    s[text_len] = '\0';
    size_t rows = 0, wrong = 0;
    char *save = NULL;
    char *line = strtok_r(s, "\n", &save);
    assert_non_null(line);
    assert_true(strncmp(line, "name\tclass\tlayer\tfile\tverify_time\taws\tstrict\terror\t", 50) == 0);
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *cur = line;
        char *name = field(&cur), *cls = field(&cur), *layer = field(&cur), *file = field(&cur);
        char *time = field(&cur), *aws = field(&cur), *strict = field(&cur);
        char *err = field(&cur), *err_strict = field(&cur), *pcr0 = field(&cur);
        char *nonce = field(&cur), *user_data = field(&cur), *public_key = field(&cur);
        char *max_age = field(&cur), *refuse_debug = field(&cur);
        (void)cls;
        (void)layer;
        uint8_t *doc;
        size_t doc_len;
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        if (nsmkit_file_read(path, 1u << 20, &doc, &doc_len, &e) != 0)
            fail_msg("%s", e.msg);
        for (int p = 0; p < 2; p++) {
            nsmv_options o;
            nsmv_expected_pcr pcr;
            nsmv_result r;
            uint8_t *owned[4] = {NULL, NULL, NULL, NULL};
            nsmv_options_init(&o);
            o.profile = p ? NSMV_PROFILE_STRICT : NSMV_PROFILE_AWS;
            o.time_mode = NSMV_TIME_FIXED;
            assert_true(nsmkit_parse_u64(time, &o.time_s));
            if (*pcr0) {
                size_t n;
                if (nsmkit_hex_decode(pcr0, 48, &owned[3], &n, &e) != 0 || n != 48)
                    fail_msg("%s: pcr0", name);
                pcr.index = 0;
                memcpy(pcr.value, owned[3], 48);
                o.pcrs = &pcr;
                o.pcr_count = 1;
            }
            set_bytes(&o.nonce, nonce, &owned[0]);
            set_bytes(&o.user_data, user_data, &owned[1]);
            set_bytes(&o.public_key, public_key, &owned[2]);
            if (*max_age) {
                o.check_max_age = true;
                assert_true(nsmkit_parse_u64(max_age, &o.max_age_s));
            }
            o.refuse_debug = strcmp(refuse_debug, "1") == 0;
            nsmv_code got = nsmv_verify(v, doc, doc_len, &o, &r);
            const char *want = p ? err_strict : err;
            const char *verdict = p ? strict : aws;
            if (strcmp(nsmv_code_name(got), want) != 0 ||
                strcmp(verdict, got == NSMV_OK ? "accept" : "reject") != 0) {
                print_message("%s (%s): got %s, manifest says %s %s\n", name,
                              p ? "strict" : "aws", nsmv_code_name(got), verdict, want);
                wrong++;
            }
            for (int k = 0; k < 4; k++)
                free(owned[k]);
        }
        free(doc);
        rows++;
    }
    print_message("%zu documents, %zu verdicts, %zu disagree with the manifest\n", rows, 2 * rows,
                  wrong);
    assert_true(rows >= (size_t)NSMFAULT_COUNT);
    assert_int_equal(wrong, 0);
    nsmv_verifier_free(v);
    free(root);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_table_is_well_formed),
        cmocka_unit_test(every_reachable_code_has_a_class),
        cmocka_unit_test(fault_lists_parse_with_clear_errors),
        cmocka_unit_test(rfc6979_known_answer),
        cmocka_unit_test(surgery_on_broken_maps_fails_cleanly),
        cmocka_unit_test(surgery_edits_definite_and_indefinite_maps),
        cmocka_unit_test(committed_corpus_matches_its_manifest),
        cmocka_unit_test_setup_teardown(corpus_codes_match_the_table, setup, teardown),
        cmocka_unit_test_setup_teardown(documents_are_reproducible, setup, teardown),
        cmocka_unit_test_setup_teardown(faults_that_cannot_apply_fail_clearly, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
