/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The whole verifier on one input (see verify_target.h). What is checked is the contract
 * of nsmkit/verify.h for any bytes: a verdict with a known code, consistent with the
 * failures listed, and printable text - never a crash, leak or hang (the sanitizers and
 * libFuzzer's limits see to those).
 */
#include <string.h>

#include "fixture.h"
#include "verify_target.h"

static bool printable(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    if (n == size)
        return false; /* not terminated */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

static void check_result(const char *target, nsmv_code code, const nsmv_result *r)
{
    if (code != r->code || !nsmv_code_name(code))
        fuzz_fail(target, "the verdict's code is not a known code");
    if (r->valid != (code == NSMV_OK))
        fuzz_fail(target, "valid disagrees with the code");
    if (r->failure_count > NSMV_MAX_FAILURES)
        fuzz_fail(target, "more failures than the result holds");
    if (!r->valid && (r->failure_count == 0 || r->failures[0].code != code))
        fuzz_fail(target, "an invalid verdict without its first failure");
    if (r->valid && r->failure_count != 0)
        fuzz_fail(target, "a valid verdict with failures");
    for (size_t i = 0; i < r->failure_count; i++) {
        if (!nsmv_code_name(r->failures[i].code) ||
            nsmv_code_stage(r->failures[i].code) != r->failures[i].stage)
            fuzz_fail(target, "a failure with an unknown code or the wrong stage");
        if (r->stages[r->failures[i].stage] != NSMV_OUTCOME_FAILED)
            fuzz_fail(target, "a failure in a stage that is not marked failed");
        if (!printable(r->failures[i].detail, sizeof(r->failures[i].detail)))
            fuzz_fail(target, "a failure detail that is not printable ASCII");
    }
    if (!printable(r->module_id, sizeof(r->module_id)))
        fuzz_fail(target, "a module_id that is not printable ASCII");
    if (r->pcr_count > NSMV_PCR_MAX || r->cabundle_count > NSMV_CABUNDLE_MAX)
        fuzz_fail(target, "more PCRs or cabundle entries than a document can hold");
}

/* nsmv_claims on any input: a known code, claims only on success; and whenever the
 * verdict's envelope, cbor and payload stages passed (the AWS profile's rules, those the
 * claims are read under), the claims read and say the same module id, kind, time and PCRs
 * as the verdict. The fixture's policy refuses every document, so that is the test. */
static void check_claims(const char *target, const uint8_t *data, size_t size,
                         const nsmv_result *r)
{
    nsmv_claims *c = NULL;
    nsmv_code read = nsmv_claims_read(data, size, &c);
    if (!nsmv_code_name(read) || (read == NSMV_OK) != (c != NULL))
        fuzz_fail(target, "claims read with an unknown code, or claims without success");
    bool parsed = r->profile == NSMV_PROFILE_AWS &&
                  r->stages[NSMV_STAGE_ENVELOPE] == NSMV_OUTCOME_PASSED &&
                  r->stages[NSMV_STAGE_CBOR] == NSMV_OUTCOME_PASSED &&
                  r->stages[NSMV_STAGE_PAYLOAD] == NSMV_OUTCOME_PASSED;
    if (parsed && read != NSMV_OK)
        fuzz_fail(target, "a document whose payload passed does not give its claims");
    if (parsed) {
        unsigned pcrs = 0;
        for (unsigned i = 0; i < NSMV_PCR_MAX + 8; i++)
            pcrs += nsmv_claims_pcr(c, i) != NULL;
        if (strcmp(nsmv_claims_module_id(c), r->module_id) != 0 ||
            nsmv_claims_kind(c) != r->kind || nsmv_claims_timestamp_ms(c) != r->timestamp_ms ||
            pcrs != r->pcr_count)
            fuzz_fail(target, "the claims disagree with the verdict");
        bool (*const optional[3])(const nsmv_claims *, const uint8_t **, size_t *) = {
            nsmv_claims_public_key, nsmv_claims_user_data, nsmv_claims_nonce};
        for (int i = 0; i < 3; i++) {
            const uint8_t *bytes = NULL;
            size_t len = 0;
            bool given = optional[i](c, &bytes, &len);
            if ((given && len > 0 && !bytes) || (!given && (bytes || len)) || len > 1024)
                fuzz_fail(target, "an optional field's bytes disagree with its state or size");
        }
    }
    nsmv_claims_free(c);
}

void fuzz_verify_document(const char *target, const uint8_t *data, size_t size, bool warm)
{
    /* The policy expects something of every kind, so that each comparison runs. */
    static const uint8_t expected_bytes[16] = "nsmkit fuzzing!";
    static nsmv_expected_pcr pcrs[2] = {{.index = 0}, {.index = 16}};
    nsmv_options options;
    nsmv_result result;
    fuzz_verify_options(&options);
    options.pcrs = pcrs;
    options.pcr_count = 2;
    options.nonce = (nsmv_expected_bytes){true, expected_bytes, sizeof(expected_bytes)};
    options.user_data = (nsmv_expected_bytes){true, expected_bytes, 0};
    options.public_key = (nsmv_expected_bytes){true, expected_bytes, 8};
    options.check_max_age = true;
    options.max_age_s = 300;
    options.refuse_debug = true;
    nsmv_verifier *v = warm ? fuzz_verifier_sim_warm() : fuzz_verifier_sim();
    nsmv_code code = nsmv_verify(v, data, size, &options, &result);
    check_result(target, code, &result);
    if (result.stages[NSMV_STAGE_CHAIN] == NSMV_OUTCOME_PASSED) {
        /* The chain is now cached: a second verification takes the warm path, and the
         * cache must never change a verdict. */
        nsmv_result again;
        nsmv_code code2 = nsmv_verify(v, data, size, &options, &again);
        check_result(target, code2, &again);
        if (code2 != code || again.failure_count != result.failure_count)
            fuzz_fail(target, "the chain cache changed the verdict");
        for (size_t i = 0; i < result.failure_count; i++)
            if (again.failures[i].code != result.failures[i].code)
                fuzz_fail(target, "the chain cache changed a failure");
    }
    nsmv_report_json(fuzz_null_stream(), "input", &result);
    nsmv_report_text(fuzz_null_stream(), "input", &result);
    check_claims(target, data, size, &result);

    /* Real documents chain to the AWS root, at their own time. */
    nsmv_options_init(&options);
    options.time_mode = NSMV_TIME_DOCUMENT;
    options.profile = NSMV_PROFILE_STRICT;
    code = nsmv_verify(fuzz_verifier_aws(), data, size, &options, &result);
    check_result(target, code, &result);
    nsmv_report_json(fuzz_null_stream(), "input", &result);

    nsmv_code dumped = nsmv_dump_text(fuzz_null_stream(), "input", data, size);
    if (!nsmv_code_name(dumped))
        fuzz_fail(target, "the dump returned an unknown code");
}
