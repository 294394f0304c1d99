/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the COSE_Sign1 envelope parser alone (verifier/envelope.c), first
 * failure and every failure. What parses must point inside the input with the sizes the
 * parser promises.
 */
#include <string.h>

#include "../verifier/internal.h"
#include "fixture.h"

static bool inside(nsmkit_bytes s, const uint8_t *data, size_t size)
{
    if (s.len == 0)
        return true;
    return s.ptr >= data && s.len <= size && (size_t)(s.ptr - data) <= size - s.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int all = 0; all <= 1; all++) {
        nsmv_result result;
        memset(&result, 0, sizeof(result));
        nsmv_run run = {&result, all == 1};
        nsmv_envelope env;
        memset(&env, 0, sizeof(env));
        nsmv_code code = nsmv_envelope_parse(data, size, &env, &run);
        if (!nsmv_code_name(code))
            fuzz_fail("fuzz_envelope", "an unknown code");
        if (code != NSMV_OK) {
            if (nsmv_code_stage(code) != NSMV_STAGE_ENVELOPE || result.failure_count == 0)
                fuzz_fail("fuzz_envelope", "a failure outside the envelope stage, or unrecorded");
            continue;
        }
        if (result.failure_count != 0)
            fuzz_fail("fuzz_envelope", "success with failures recorded");
        if (!inside(env.protected_hdr, data, size) || !inside(env.payload, data, size) ||
            !inside(env.signature, data, size))
            fuzz_fail("fuzz_envelope", "a slice outside the document");
        if (env.signature.len != NSMV_SIGNATURE_LEN || env.alg != NSMV_COSE_ALG_ES384)
            fuzz_fail("fuzz_envelope", "accepted a signature length or alg it must refuse");
    }
    return 0;
}
