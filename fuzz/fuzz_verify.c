/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the whole verifier (nsmv_verify, reports, dump) on any bytes, with
 * libFuzzer's own byte-level mutations. Most mutations of a signed document die at the
 * signature; fuzz_verify_structured re-signs what it mutates to get past it.
 */
#include "fixture.h"
#include "verify_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_verify_document("fuzz_verify", data, size, false);
    return 0;
}
