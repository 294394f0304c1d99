/*
 * libFuzzer target: raw NSM requests into the simulator core. Every input must get a
 * response that is well-formed CBOR, never a crash, and the state must stay consistent.
 * Deterministic: a fixed clock and a counting "random" source.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsmkit/sim.h"
#include "nsmkit/error.h"
#include "nsmkit/cbor.h"

static nsmsim *sim;
static uint8_t counter;

static int counting_random(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        out[i] = counter++;
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char dir[] = "/tmp/nsmkit-fuzz-ca-XXXXXX";
    nsmkit_error e;
    nsmca_init_options ca = {.now_s = 1790000000};
    nsmsim_options options;
    nsmsim_options_init(&options);
    options.ca_dir = dir;
    options.time_ms = 1790000000000ull + 1234;
    options.random = counting_random;
    if (!mkdtemp(dir) || nsmca_init(dir, &ca, &e) != 0 || nsmsim_new(&options, &sim, &e) != 0) {
        fprintf(stderr, "fuzz_request: %s\n", e.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    static const nsmkit_cbor_limits any = {.max_depth = 8, .allow_indefinite_strings = true};
    size_t len;
    if (nsmsim_handle(sim, data, size, resp, &len) != 0)
        abort();
    if (nsmkit_cbor_check(resp, len, &any, NULL) != NSMKIT_CBOR_OK)
        abort();
    return 0;
}
