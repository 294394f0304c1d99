/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: one raw NSM request - any bytes a program or guest could send - into
 * the simulator core, from the just-booted state (rebooted per input, so every crash
 * reproduces from its own input). The answer must be one the official client can decode.
 */
#include "fixture.h"
#include "request_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_request_one("fuzz_request", fuzz_sim_fresh(), data, size);
    return 0;
}
