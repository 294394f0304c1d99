/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the payload decoder alone (verifier/payload.c): the bounded CBOR load
 * and the field rules of both profiles, on any bytes as the payload. Every field it
 * accepts must have the sizes the rules promise; ASan checks that each slice is readable.
 */
#include <string.h>

#include "../verifier/internal.h"
#include "fixture.h"

static volatile uint8_t sink;

/* Reads every byte of a slice, so that ASan reports any that is not readable. memcpy in
 * pieces rather than a loop over bytes: ASan checks the whole source range of each copy,
 * and the fuzzer's comparison hooks are not called once per byte of every certificate. */
static void touch(nsmkit_bytes s)
{
    static uint8_t copy[4096];
    for (size_t done = 0; done < s.len;) {
        size_t n = s.len - done < sizeof(copy) ? s.len - done : sizeof(copy);
        memcpy(copy, s.ptr + done, n);
        sink ^= copy[n - 1];
        done += n;
    }
}

static void check_fields(const nsmv_payload *p, nsmv_profile profile)
{
    if (p->pcr_count > NSMV_PCR_MAX || p->cabundle_count > NSMV_CABUNDLE_MAX)
        fuzz_fail("fuzz_payload", "more PCRs or cabundle entries than allowed");
    if ((p->valid & NSMV_FIELD_MODULE_ID) &&
        (p->module_id.len == 0 || p->module_id.len > NSMV_MODULE_ID_MAX))
        fuzz_fail("fuzz_payload", "accepted a module_id of a size it must refuse");
    if ((p->valid & NSMV_FIELD_CERTIFICATE) &&
        (p->certificate.len == 0 || p->certificate.len > NSMV_CERT_MAX))
        fuzz_fail("fuzz_payload", "accepted a certificate of a size it must refuse");
    size_t data_max = profile == NSMV_PROFILE_STRICT ? NSMV_STRICT_DATA_MAX : NSMV_FIELD_MAX;
    if (((p->valid & NSMV_FIELD_NONCE) && p->nonce.bytes.len > data_max) ||
        ((p->valid & NSMV_FIELD_USER_DATA) && p->user_data.bytes.len > data_max) ||
        ((p->valid & NSMV_FIELD_PUBLIC_KEY) && p->public_key.bytes.len > NSMV_FIELD_MAX))
        fuzz_fail("fuzz_payload", "accepted optional bytes longer than the profile allows");
    touch(p->module_id);
    touch(p->digest);
    touch(p->certificate);
    for (size_t i = 0; i < p->cabundle_count; i++)
        touch(p->cabundle[i]);
    for (size_t i = 0; i < p->pcr_count; i++) {
        if (p->pcrs[i].index >= NSMV_PCR_MAX)
            fuzz_fail("fuzz_payload", "a PCR index above 31");
        touch((nsmkit_bytes){p->pcrs[i].value, NSMV_PCR_LEN});
    }
    touch(p->public_key.bytes);
    touch(p->user_data.bytes);
    touch(p->nonce.bytes);
    (void)nsmv_payload_debug_mode(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const nsmv_profile profiles[2] = {NSMV_PROFILE_AWS, NSMV_PROFILE_STRICT};
    nsmv_result result;
    memset(&result, 0, sizeof(result));
    nsmv_run run = {&result, true};
    nsmv_payload loaded;
    memset(&loaded, 0, sizeof(loaded));
    nsmv_code code = nsmv_payload_load((nsmkit_bytes){data, size}, &loaded, &run);
    if (!nsmv_code_name(code))
        fuzz_fail("fuzz_payload", "an unknown code from the load");
    if (code != NSMV_OK) {
        if (loaded.root)
            fuzz_fail("fuzz_payload", "a failed load kept a decoded item");
        if (result.failure_count == 0)
            fuzz_fail("fuzz_payload", "a failure that was not recorded");
        return 0;
    }
    /* The field rules only read the decoded item: both profiles run on copies of what
     * the load left, and the item is released once. */
    for (int i = 0; i < 2; i++) {
        nsmv_payload payload = loaded;
        memset(&result, 0, sizeof(result));
        code = nsmv_payload_fields(&payload, profiles[i], &run);
        if (!nsmv_code_name(code))
            fuzz_fail("fuzz_payload", "an unknown code from the field rules");
        if ((code == NSMV_OK) != (result.failure_count == 0))
            fuzz_fail("fuzz_payload", "the code disagrees with the failures recorded");
        check_fields(&payload, profiles[i]);
    }
    nsmv_payload_clear(&loaded);
    return 0;
}
