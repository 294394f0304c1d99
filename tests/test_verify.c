/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The orchestration (verifier/verify.c): the code table, the public header's hygiene,
 * hostile input of every shape, and several threads sharing one verifier.
 */
#include "nsmkit/verify.h"
/* The public header must not drag libcbor or OpenSSL into its users. */
#if defined(LIBCBOR_H_) || defined(OPENSSL_X509_H) || defined(OPENSSL_EVP_H) || \
    defined(OPENSSL_CRYPTO_H)
#error "nsmkit/verify.h exposes libcbor or OpenSSL"
#endif

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../verifier/internal.h" /* nsmv_fail */
#include "verify_fixture.h"
#include "nsmkit/buf.h"

/* ---- the code table ---------------------------------------------------------------------------- */

static void codes_are_unique_named_and_in_their_stage_range(void **state)
{
    (void)state;
    static const nsmv_stage by_hundred[10] = {
        NSMV_STAGE_NONE,    NSMV_STAGE_ENVELOPE,  NSMV_STAGE_CBOR,   NSMV_STAGE_PAYLOAD,
        NSMV_STAGE_CHAIN,   NSMV_STAGE_SIGNATURE, NSMV_STAGE_POLICY, NSMV_STAGE_NONE,
        NSMV_STAGE_NONE,    NSMV_STAGE_INTERNAL};
    size_t n = nsmv_code_count();
    assert_true(n > 80);
    for (size_t i = 0; i < n; i++) {
        nsmv_code c = nsmv_code_at(i);
        const char *name = nsmv_code_name(c);
        assert_non_null(name);
        assert_non_null(nsmv_code_sentence(c));
        assert_true((int)c >= 0 && (int)c < 1000);
        assert_int_equal(nsmv_code_stage(c), by_hundred[(int)c / 100]);
        if (i > 0)
            assert_true((int)nsmv_code_at(i - 1) < (int)c); /* sorted, so unique */
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(nsmv_code_name(nsmv_code_at(k)), name);
    }
    assert_null(nsmv_code_name((nsmv_code)999));
    assert_null(nsmv_code_sentence((nsmv_code)150));
    /* the lookup is a table by number: numbers outside it are no code either */
    assert_null(nsmv_code_name((nsmv_code)1000));
    assert_null(nsmv_code_name((nsmv_code)-1));
    assert_int_equal(nsmv_code_stage((nsmv_code)123456), NSMV_STAGE_INTERNAL);
    assert_int_equal(nsmv_code_stage(NSMV_ERR_USAGE), NSMV_STAGE_INTERNAL);
    assert_int_equal(nsmv_code_stage(NSMV_ERR_CBOR_TAG), NSMV_STAGE_CBOR);
    assert_string_equal(nsmv_code_name(NSMV_ERR_CERT_EXPIRED), "CERT_EXPIRED");
    assert_int_equal(NSMV_ERR_CERT_EXPIRED, 410); /* numbers are stable */
    assert_string_equal(nsmv_stage_name(NSMV_STAGE_SIGNATURE), "signature");
    assert_string_equal(nsmv_kind_name(NSMV_KIND_NITROTPM), "nitrotpm");
    nsmv_profile p;
    assert_true(nsmv_profile_parse("strict", &p) && p == NSMV_PROFILE_STRICT);
    assert_true(nsmv_profile_parse("aws", &p) && p == NSMV_PROFILE_AWS);
    assert_false(nsmv_profile_parse("AWS", &p));
}

/* A failure's detail holds only 0x20..0x7e: every other byte of what it was formatted
 * from becomes '?', at the start, in the middle, at the end and past the first one. */
static void failure_details_are_printable_ascii(void **state)
{
    (void)state;
    nsmv_result result;
    memset(&result, 0, sizeof(result));
    nsmv_run run = {&result, true};
    const char hostile[] = {'\x01', 'a', '\n', '\x7f', 'b', '\x80', ' ', '~', '\xff', '\0'};
    assert_int_equal(nsmv_fail(&run, NSMV_ERR_PAYLOAD_UNKNOWN_KEY, "key \"%s\"", hostile),
                     NSMV_ERR_PAYLOAD_UNKNOWN_KEY);
    assert_string_equal(result.failures[0].detail, "key \"?a??b? ~?\"");
    assert_int_equal(result.failures[0].stage, NSMV_STAGE_PAYLOAD);
    assert_int_equal(result.stages[NSMV_STAGE_PAYLOAD], NSMV_OUTCOME_FAILED);
    /* cut to the detail's size, a bad byte as its last */
    char longer[400];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    longer[sizeof(result.failures[1].detail) - 2] = '\t';
    assert_code(nsmv_codes, nsmv_fail(&run, NSMV_ERR_NONCE_LENGTH, "%s", longer), NSMV_ERR_NONCE_LENGTH);
    const char *d = result.failures[1].detail;
    assert_int_equal(strlen(d), sizeof(result.failures[1].detail) - 1);
    assert_int_equal(d[sizeof(result.failures[1].detail) - 2], '?');
    assert_int_equal(strspn(d, "x"), sizeof(result.failures[1].detail) - 2);
    /* a clean detail is left alone */
    assert_int_equal(nsmv_fail(&run, NSMV_ERR_TIMESTAMP_ZERO, "plain %d", 7),
                     NSMV_ERR_TIMESTAMP_ZERO);
    assert_string_equal(result.failures[2].detail, "plain 7");
    assert_code(nsmv_codes, result.code, NSMV_ERR_PAYLOAD_UNKNOWN_KEY);
    assert_int_equal(result.failure_count, 3);
}

/* Every code a document can earn is asserted by some test: the sources say so. */
static void every_reachable_code_has_a_test(void **state)
{
    (void)state;
    static const char *const files[] = {"tests/test_verify_envelope.c", "tests/test_verify_payload.c",
                                        "tests/test_verify_chain.c", "tests/test_verify_cose.c",
                                        "tests/test_verify_policy.c", "tests/test_verify.c"};
    char *all = NULL;
    size_t total = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        FILE *f = fopen(files[i], "r");
        if (!f)
            test_skip("test sources are not in ./tests (run from the repository root)");
        fclose(f);
        size_t len;
        uint8_t *text = test_read_file(files[i], &len);
        all = realloc(all, total + len + 1);
        assert_non_null(all);
        memcpy(all + total, text, len);
        total += len;
        free(text);
    }
    all[total] = '\0';
    for (size_t i = 0; i < nsmv_code_count(); i++) {
        nsmv_code c = nsmv_code_at(i);
        /* out of memory and internal errors cannot be provoked by a document */
        if (c == NSMV_OK || c == NSMV_ERR_NO_MEMORY || c == NSMV_ERR_INTERNAL)
            continue;
        char needle[64];
        snprintf(needle, sizeof(needle), "NSMV_ERR_%s)", nsmv_code_name(c));
        char needle2[64];
        snprintf(needle2, sizeof(needle2), "NSMV_ERR_%s}", nsmv_code_name(c));
        if (!strstr(all, needle) && !strstr(all, needle2))
            fail_msg("no test expects %s", nsmv_code_name(c));
    }
    free(all);
}

/* ---- hostile input ------------------------------------------------------------------------------- */

static void assert_sane(const nsmv_result *r, nsmv_code c)
{
    assert_non_null(nsmv_code_name(c));
    assert_int_equal(r->code, c);
    assert_int_equal(r->valid, c == NSMV_OK);
    if (c != NSMV_OK) {
        assert_true(r->failure_count >= 1);
        assert_int_equal(r->failures[0].code, c);
        assert_true(strlen(r->failures[0].detail) < sizeof(r->failures[0].detail));
    }
}

/* Every prefix is refused; flipped bytes at many offsets are refused. */
static void truncate_and_flip(const vfx *fx, nsmv_verifier *v, const uint8_t *doc, size_t len,
                              const nsmv_options *o)
{
    nsmv_result r;
    assert_int_equal(nsmv_verify(v, doc, len, o, &r), NSMV_OK);
    for (size_t n = 0; n < len; n++) {
        nsmv_code c = nsmv_verify(v, doc, n, o, &r);
        assert_sane(&r, c);
        assert_true(c != NSMV_OK);
    }
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, doc, len);
    size_t flips = 0;
    /* every byte of the envelope head and the signature, a sample of the payload between */
    for (size_t at = 0; at < len; at += at < 64 || at >= len - 100 ? 1 : 37) {
        int bit = at % 2 ? 7 : 0;
        copy[at] ^= (uint8_t)(1u << bit);
        nsmv_code c = nsmv_verify(v, copy, len, o, &r);
        assert_sane(&r, c);
        if (c == NSMV_OK)
            fail_msg("flipping bit %d of byte %zu left the document valid", bit, at);
        copy[at] ^= (uint8_t)(1u << bit);
        flips++;
    }
    (void)fx;
    print_message("  %zu prefixes and %zu flips of a %zu-byte document refused\n", len, flips,
                  len);
    free(copy);
}

static void every_prefix_and_many_flips_of_a_simulated_document(void **state)
{
    const vfx *fx = *state;
    nsmkit_buf payload, doc;
    nsmv_options o;
    vfx_options(&o);
    nsmsim_payload p = fx->payload;
    static const uint8_t data[64] = {1};
    p.nonce = (nsmsim_optional_bytes){data, sizeof(data), true};
    vfx_encode(&p, &payload);
    vfx_sign(fx, payload.data, payload.len, &doc);
    truncate_and_flip(fx, fx->verifier, doc.data, doc.len, &o);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
}

static void every_prefix_and_many_flips_of_a_real_document(void **state)
{
    const vfx *fx = *state;
    static const char *const names[] = {"veracruz-go_aws_nitro_document.bin",
                                        "vaportpm_nitrotpm_2026-02-01.bin"};
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        uint8_t *doc = vfx_real_doc(names[i], &len);
        nsmv_verifier *aws = vfx_aws_verifier(true);
        nsmv_options o;
        nsmv_options_init(&o);
        o.time_mode = NSMV_TIME_DOCUMENT;
        truncate_and_flip(fx, aws, doc, len, &o);
        nsmv_verifier_free(aws);
        free(doc);
    }
}

/* A small deterministic generator: tests do not depend on the clock or a seed file. */
static uint32_t next_random(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static void garbage_gets_a_verdict(void **state)
{
    const vfx *fx = *state;
    static const uint8_t prefix[] = {0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0};
    uint64_t seed = 0x6e736d6b6974ull;
    uint8_t buf[700];
    nsmv_result r;
    size_t by_stage[NSMV_STAGE_COUNT] = {0};
    for (int i = 0; i < 3000; i++) {
        size_t len = next_random(&seed) % sizeof(buf);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)next_random(&seed);
        if (i % 2 && len > sizeof(prefix) + 3) {
            /* an envelope head and a payload head that fits: reach the CBOR stages */
            memcpy(buf, prefix, sizeof(prefix));
            size_t inner = len - sizeof(prefix) - 3 - (i % 4 ? 98 : 0);
            if (inner > len)
                inner = 0;
            buf[sizeof(prefix)] = 0x59;
            buf[sizeof(prefix) + 1] = (uint8_t)(inner >> 8);
            buf[sizeof(prefix) + 2] = (uint8_t)inner;
            if (i % 4 && inner)
                buf[sizeof(prefix) + 3] = (uint8_t)(0xa0 | (next_random(&seed) % 10));
            if (i % 4 && len >= 98) {
                buf[len - 98] = 0x58;
                buf[len - 97] = 0x60;
            }
        }
        nsmv_code c = nsmv_verify(fx->verifier, buf, len, NULL, &r);
        assert_sane(&r, c);
        assert_true(c != NSMV_OK);
        by_stage[nsmv_code_stage(c)]++;
    }
    print_message("  envelope %zu, cbor %zu, payload %zu\n", by_stage[NSMV_STAGE_ENVELOPE],
                  by_stage[NSMV_STAGE_CBOR], by_stage[NSMV_STAGE_PAYLOAD]);
    assert_true(by_stage[NSMV_STAGE_CBOR] + by_stage[NSMV_STAGE_PAYLOAD] > 100);
}

/* Random edits of a payload, re-signed each time: they reach the deep stages. */
static void resigned_mutations_get_a_verdict(void **state)
{
    const vfx *fx = *state;
    uint64_t seed = 42;
    nsmkit_buf base;
    size_t by_stage[NSMV_STAGE_COUNT] = {0};
    vfx_encode(&fx->payload, &base);
    for (int i = 0; i < 150; i++) {
        nsmkit_buf m, doc;
        nsmv_result r;
        nsmkit_buf_init(&m, 2 * NSMV_DOC_MAX);
        nsmkit_buf_append(&m, base.data, base.len);
        int edits = 1 + (int)(next_random(&seed) % 3);
        for (int k = 0; k < edits; k++) {
            size_t at = next_random(&seed) % m.len;
            /* bias towards the head of the map, where the structure is */
            if (next_random(&seed) % 2)
                at %= 200;
            m.data[at] = (uint8_t)next_random(&seed);
        }
        vfx_sign(fx, m.data, m.len, &doc);
        nsmv_code c = vfx_verify(fx, doc.data, doc.len, NULL, &r);
        assert_sane(&r, c);
        by_stage[nsmv_code_stage(c)]++;
        nsmkit_buf_free(&doc);
        nsmkit_buf_free(&m);
    }
    print_message("  ok %zu, cbor %zu, payload %zu, chain %zu\n", by_stage[NSMV_STAGE_NONE],
                  by_stage[NSMV_STAGE_CBOR], by_stage[NSMV_STAGE_PAYLOAD],
                  by_stage[NSMV_STAGE_CHAIN]);
    nsmkit_buf_free(&base);
}

/* ---- threads ---------------------------------------------------------------------------------- */

typedef struct {
    nsmv_verifier *v;
    const nsmkit_buf *docs;
    const nsmv_options *options;
    const nsmv_code *expected;
    size_t count;
    int rounds;
    unsigned seed;
    bool clears;
    int wrong;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < w->rounds; i++) {
        size_t k = (size_t)(i * 7 + w->seed) % w->count;
        nsmv_result r;
        if (nsmv_verify(w->v, w->docs[k].data, w->docs[k].len, &w->options[k], &r) !=
            w->expected[k])
            w->wrong++;
        if (w->clears && i % 10 == 0)
            nsmv_verifier_cache_clear(w->v);
    }
    return NULL;
}

static void several_threads_share_one_verifier(void **state)
{
    const vfx *fx = *state;
    enum { DOCS = 4, THREADS = 4 };
    nsmkit_buf docs[DOCS], payload;
    nsmv_options options[DOCS];
    nsmv_code expected[DOCS];
    nsmsim_payload p = fx->payload;

    vfx_encode(&p, &payload);
    for (size_t i = 0; i < DOCS; i++) {
        vfx_sign(fx, payload.data, payload.len, &docs[i]);
        vfx_options(&options[i]);
    }
    options[1].time_s = VFX_ISSUE_S + 4 * 3600;             /* expired */
    docs[2].data[docs[2].len - 1] ^= 1;                       /* bad signature */
    options[3].nonce = (nsmv_expected_bytes){true, (const uint8_t *)"x", 1}; /* policy */
    for (size_t i = 0; i < DOCS; i++) {
        nsmv_result r;
        expected[i] = nsmv_verify(fx->cold, docs[i].data, docs[i].len, &options[i], &r);
    }
    assert_int_equal(expected[0], NSMV_OK);
    assert_code(nsmv_codes, expected[1], NSMV_ERR_CERT_EXPIRED);
    assert_code(nsmv_codes, expected[2], NSMV_ERR_SIGNATURE_INVALID);
    assert_code(nsmv_codes, expected[3], NSMV_ERR_POLICY_NONCE);

    pthread_t threads[THREADS];
    worker workers[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        workers[t] = (worker){fx->verifier, docs, options, expected, DOCS, 40, t, t == 0, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, work, &workers[t]), 0);
    }
    for (unsigned t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(threads[t], NULL), 0);
        assert_int_equal(workers[t].wrong, 0);
    }
    for (size_t i = 0; i < DOCS; i++)
        nsmkit_buf_free(&docs[i]);
    nsmkit_buf_free(&payload);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* one test by name, when investigating */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(codes_are_unique_named_and_in_their_stage_range),
        cmocka_unit_test(every_reachable_code_has_a_test),
        cmocka_unit_test(failure_details_are_printable_ascii),
        cmocka_unit_test(every_prefix_and_many_flips_of_a_simulated_document),
        cmocka_unit_test(every_prefix_and_many_flips_of_a_real_document),
        cmocka_unit_test(garbage_gets_a_verdict),
        cmocka_unit_test(resigned_mutations_get_a_verdict),
        cmocka_unit_test(several_threads_share_one_verifier),
    };
    return cmocka_run_group_tests(tests, vfx_setup, vfx_teardown);
}
