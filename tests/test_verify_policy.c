/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy stage (verifier/policy.c): what the caller expects of an authentic document.
 * Every document here is valid and signed; only the expectation decides.
 */
#include <stdlib.h>
#include <string.h>

#include "verify_fixture.h"
#include "nsmkit/buf.h"

static nsmv_expected_pcr expect_pcr(const vfx *fx, unsigned index)
{
    nsmv_expected_pcr e = {.index = index};
    memcpy(e.value, fx->pcr_values[index], NSMV_PCR_LEN);
    return e;
}

static void expected_pcrs(void **state)
{
    const vfx *fx = *state;
    nsmv_expected_pcr want[3] = {expect_pcr(fx, 0), expect_pcr(fx, 4), expect_pcr(fx, 15)};
    nsmv_options o;
    vfx_options(&o);
    o.pcrs = want;
    o.pcr_count = 3;
    assert_vcode(vfx_check(fx, &fx->payload, &o), NSMV_OK);

    want[1].value[47] ^= 1;
    assert_vcode(vfx_check(fx, &fx->payload, &o), NSMV_ERR_POLICY_PCR_MISMATCH);
    want[1].value[47] ^= 1;
    want[2].index = 16; /* not locked, so not in the document */
    assert_vcode(vfx_check(fx, &fx->payload, &o), NSMV_ERR_POLICY_PCR_ABSENT);

    /* both failures with report_all */
    want[0].value[0] ^= 1;
    o.report_all = true;
    nsmkit_buf payload, doc;
    nsmv_result r;
    vfx_encode(&fx->payload, &payload);
    vfx_sign(fx, payload.data, payload.len, &doc);
    assert_vcode(vfx_verify(fx, doc.data, doc.len, &o, &r), NSMV_ERR_POLICY_PCR_MISMATCH);
    assert_int_equal(r.failure_count, 2);
    assert_code(nsmv_codes, r.failures[1].code, NSMV_ERR_POLICY_PCR_ABSENT);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
}

static void expected_nonce_user_data_and_public_key(void **state)
{
    const vfx *fx = *state;
    static const uint8_t abc[] = "abc", abd[] = "abd";
    nsmsim_payload p = fx->payload;
    nsmv_options o;
    p.nonce = (nsmsim_optional_bytes){abc, 3, true};
    p.user_data = (nsmsim_optional_bytes){abc, 3, true};
    p.public_key = (nsmsim_optional_bytes){abc, 0, true};

    struct {
        nsmv_expected_bytes *field;
        nsmv_code code;
    } fields[] = {{&o.nonce, NSMV_ERR_POLICY_NONCE}, {&o.user_data, NSMV_ERR_POLICY_USER_DATA}};
    for (size_t i = 0; i < 2; i++) {
        vfx_options(&o);
        *fields[i].field = (nsmv_expected_bytes){true, abc, 3};
        assert_vcode(vfx_check(fx, &p, &o), NSMV_OK);
        *fields[i].field = (nsmv_expected_bytes){true, abd, 3};
        assert_vcode(vfx_check(fx, &p, &o), fields[i].code);
        *fields[i].field = (nsmv_expected_bytes){true, abc, 2};
        assert_vcode(vfx_check(fx, &p, &o), fields[i].code);
        *fields[i].field = (nsmv_expected_bytes){true, abc, 0};
        assert_vcode(vfx_check(fx, &p, &o), fields[i].code);
        /* null and absent never match, not even an empty expectation */
        assert_vcode(vfx_check(fx, &fx->payload, &o), fields[i].code);
    }
    /* public_key: present with 0 bytes matches exactly an empty expectation */
    vfx_options(&o);
    o.public_key = (nsmv_expected_bytes){true, abc, 0};
    assert_vcode(vfx_check(fx, &p, &o), NSMV_OK);
    o.public_key = (nsmv_expected_bytes){true, abc, 1};
    assert_vcode(vfx_check(fx, &p, &o), NSMV_ERR_POLICY_PUBLIC_KEY);
    o.public_key = (nsmv_expected_bytes){true, abc, 0};
    assert_vcode(vfx_check(fx, &fx->payload, &o), NSMV_ERR_POLICY_PUBLIC_KEY);
    nsmkit_buf m;
    vfx_encode(&p, &m);
    vfx_remove(&m, "public_key");
    assert_vcode(vfx_check_bytes(fx, &m, &o), NSMV_ERR_POLICY_PUBLIC_KEY);
    nsmkit_buf_free(&m);
}

static void maximum_age_to_the_millisecond(void **state)
{
    const vfx *fx = *state;
    nsmsim_payload p = fx->payload;
    nsmv_options o;
    vfx_options(&o);
    o.check_max_age = true;
    o.max_age_s = 5;
    uint64_t now_ms = VFX_VERIFY_S * 1000;

    p.timestamp_ms = now_ms - 5000;
    assert_vcode(vfx_check(fx, &p, &o), NSMV_OK);
    p.timestamp_ms = now_ms - 5001;
    assert_vcode(vfx_check(fx, &p, &o), NSMV_ERR_POLICY_TOO_OLD);
    o.max_age_s = 0;
    p.timestamp_ms = now_ms;
    assert_vcode(vfx_check(fx, &p, &o), NSMV_OK);
    p.timestamp_ms = now_ms - 1;
    assert_vcode(vfx_check(fx, &p, &o), NSMV_ERR_POLICY_TOO_OLD);
    o.max_age_s = UINT64_MAX; /* no overflow: no limit */
    p.timestamp_ms = (VFX_ISSUE_S - NSMCA_LEAF_BACKDATE_S) * 1000; /* the leaf's first ms */
    assert_vcode(vfx_check(fx, &p, &o), NSMV_OK);

    /* dated after the verification time: tolerated up to the clock skew */
    o.max_age_s = 300;
    p.timestamp_ms = now_ms + NSMV_CLOCK_SKEW_S * 1000;
    assert_vcode(vfx_check(fx, &p, &o), NSMV_OK);
    p.timestamp_ms++;
    assert_vcode(vfx_check(fx, &p, &o), NSMV_ERR_POLICY_FUTURE);
    o.check_max_age = false; /* no age policy, no time policy */
    assert_vcode(vfx_check(fx, &p, &o), NSMV_OK);

    /* with --at-doc-time the age is zero */
    vfx_options(&o);
    o.time_mode = NSMV_TIME_DOCUMENT;
    o.check_max_age = true;
    o.max_age_s = 0;
    assert_vcode(vfx_check(fx, &fx->payload, &o), NSMV_OK);
}

static void debug_mode_documents_refused_on_request(void **state)
{
    const vfx *fx = *state;
    static const uint8_t zero[NSMV_PCR_LEN];
    nsmsim_pcr_entry pcrs[NSMSIM_BOOT_PCR_COUNT];
    memcpy(pcrs, fx->pcrs, sizeof(pcrs));
    nsmsim_payload p = fx->payload;
    p.pcrs = pcrs;
    nsmv_options o;
    nsmkit_buf payload, doc;
    nsmv_result r;
    vfx_options(&o);
    o.refuse_debug = true;
    assert_vcode(vfx_check(fx, &p, &o), NSMV_OK);

    pcrs[0].value = pcrs[1].value = zero;
    assert_vcode(vfx_check(fx, &p, &o), NSMV_OK); /* PCR2 still measured */
    pcrs[2].value = zero;
    assert_vcode(vfx_check(fx, &p, &o), NSMV_ERR_POLICY_DEBUG_MODE);
    vfx_encode(&p, &payload);
    vfx_sign(fx, payload.data, payload.len, &doc);
    assert_vcode(vfx_verify(fx, doc.data, doc.len, NULL, &r), NSMV_OK);
    assert_true(r.debug_mode);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);

    /* without PCR0 debug mode cannot be ruled out */
    p.pcrs = fx->pcrs + 1;
    p.pcr_count = NSMSIM_BOOT_PCR_COUNT - 1;
    assert_vcode(vfx_check(fx, &p, &o), NSMV_ERR_POLICY_DEBUG_MODE);
}

static void real_debug_document_refused_on_request(void **state)
{
    (void)state;
    size_t len;
    uint8_t *doc = vfx_real_doc("ppmag_nitro_ad_debug.bin", &len);
    nsmv_verifier *aws = vfx_aws_verifier(true);
    nsmv_options o;
    nsmv_result r;
    nsmv_options_init(&o);
    o.time_mode = NSMV_TIME_DOCUMENT;
    assert_vcode(nsmv_verify(aws, doc, len, &o, &r), NSMV_OK);
    assert_true(r.debug_mode);
    o.refuse_debug = true;
    assert_vcode(nsmv_verify(aws, doc, len, &o, &r), NSMV_ERR_POLICY_DEBUG_MODE);
    nsmv_verifier_free(aws);
    free(doc);
}

static void invalid_options_are_usage_errors(void **state)
{
    const vfx *fx = *state;
    nsmkit_buf payload, doc;
    nsmv_options o;
    nsmv_result r;
    vfx_encode(&fx->payload, &payload);
    vfx_sign(fx, payload.data, payload.len, &doc);

    nsmv_expected_pcr twice[2] = {expect_pcr(fx, 0), expect_pcr(fx, 0)};
    vfx_options(&o);
    o.pcrs = twice;
    o.pcr_count = 2;
    assert_vcode(nsmv_verify(fx->verifier, doc.data, doc.len, &o, &r), NSMV_ERR_USAGE);
    twice[1].index = 32;
    assert_vcode(nsmv_verify(fx->verifier, doc.data, doc.len, &o, &r), NSMV_ERR_USAGE);
    o.pcrs = NULL;
    assert_vcode(nsmv_verify(fx->verifier, doc.data, doc.len, &o, &r), NSMV_ERR_USAGE);

    vfx_options(&o);
    o.nonce = (nsmv_expected_bytes){true, NULL, 3};
    assert_vcode(nsmv_verify(fx->verifier, doc.data, doc.len, &o, &r), NSMV_ERR_USAGE);
    vfx_options(&o);
    o.profile = (nsmv_profile)7;
    assert_vcode(nsmv_verify(fx->verifier, doc.data, doc.len, &o, &r), NSMV_ERR_USAGE);
    vfx_options(&o);
    o.time_mode = (nsmv_time_mode)9;
    assert_vcode(nsmv_verify(fx->verifier, doc.data, doc.len, &o, &r), NSMV_ERR_USAGE);
    assert_vcode(nsmv_verify(NULL, doc.data, doc.len, NULL, &r), NSMV_ERR_USAGE);
    assert_int_equal(r.stages[NSMV_STAGE_INTERNAL], NSMV_OUTCOME_FAILED);
    assert_false(r.valid);
    assert_vcode(nsmv_verify(fx->verifier, doc.data, doc.len, NULL, NULL), NSMV_ERR_USAGE);
    /* NULL options: the defaults (now: the fixture's leaf is not valid now) */
    assert_vcode(nsmv_verify(fx->verifier, doc.data, doc.len, NULL, &r), NSMV_ERR_CERT_EXPIRED);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(expected_pcrs),
        cmocka_unit_test(expected_nonce_user_data_and_public_key),
        cmocka_unit_test(maximum_age_to_the_millisecond),
        cmocka_unit_test(debug_mode_documents_refused_on_request),
        cmocka_unit_test(real_debug_document_refused_on_request),
        cmocka_unit_test(invalid_options_are_usage_errors),
    };
    return cmocka_run_group_tests(tests, vfx_setup, vfx_teardown);
}
