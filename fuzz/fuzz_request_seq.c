/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: a sequence of NSM requests from one input, answered by one NSM booted
 * afresh for the input, so that state across requests (extended and locked PCRs, the
 * attestation of an extended PCR, locks then extends) is explored while each input still
 * reproduces on its own.
 *
 * Input: records of `u16 little-endian length || request bytes`, at most
 * FUZZ_SEQ_MAX_REQUESTS of them; a record cut short by the end of the input is sent as it
 * is. Lengths above the NSM's 4 KiB limit are allowed (they must get InputTooLarge).
 */
#include "fixture.h"
#include "request_check.h"

#define FUZZ_SEQ_MAX_REQUESTS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nsmsim *sim = fuzz_sim_fresh();
    size_t at = 0;
    for (int n = 0; n < FUZZ_SEQ_MAX_REQUESTS && size - at >= 2; n++) {
        size_t len = (size_t)data[at] | (size_t)data[at + 1] << 8;
        at += 2;
        if (len > size - at)
            len = size - at;
        fuzz_request_one("fuzz_request_seq", sim, data + at, len);
        at += len;
    }
    return 0;
}
