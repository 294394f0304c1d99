/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device's state options on a command line or from the environment (nsmkit/fault.h):
 * the core's options (nsmkit/sim.h) and the device fault mode's, whose classes are checked
 * against the fault table here, so that a bad class is a usage error.
 */
#include <stdlib.h>
#include <string.h>

#include "nsmkit/eif.h"
#include "nsmkit/error.h"
#include "nsmkit/fault.h"
#include "nsmkit/hex.h"
#include "nsmkit/opts.h"
#include "nsmkit/sim.h"

/* Unix seconds with a fraction, as milliseconds, 1 ms .. UINT32_MAX s: the leaf serial holds
 * the issue time in 32 bits of seconds. */
static int parse_unix_ms(const char *text, uint64_t *ms, nsmkit_error *e)
{
    if (nsmkit_parse_unix_time(text, ms) && *ms > 0 && *ms / 1000 <= UINT32_MAX)
        return 0;
    if (nsmkit_parse_u64(text, ms) && *ms > UINT32_MAX && *ms / 1000 <= UINT32_MAX)
        return nsmkit_fail(e, "--time takes Unix seconds (a fraction allowed), not milliseconds: "
                              "for '%s' give %llu.%03llu", text, (unsigned long long)(*ms / 1000),
                           (unsigned long long)(*ms % 1000));
    return nsmkit_fail(e, "--time wants Unix seconds, a fraction allowed (1..%llu, e.g. "
                          "1790000000.5), not '%s'", (unsigned long long)UINT32_MAX, text);
}

static int set_ca(void *ctx, const char *value, nsmkit_error *e)
{
    (void)e;
    ((nsmsim_options *)ctx)->ca_dir = value;
    return 0;
}

static int set_time(void *ctx, const char *value, nsmkit_error *e)
{
    return parse_unix_ms(value, &((nsmsim_options *)ctx)->time_ms, e);
}

static int set_pcr(void *ctx, const char *value, nsmkit_error *e)
{
    return nsmsim_options_set_pcr(ctx, value, e);
}

static int set_measurements(void *ctx, const char *value, nsmkit_error *e)
{
    return nsmsim_options_load_measurements(ctx, value, e);
}

static int set_debug_mode(void *ctx, const char *value, nsmkit_error *e)
{
    (void)value, (void)e;
    nsmsim_options *options = ctx;
    options->debug_mode = true;
    options->boot_pcrs_given &= (uint16_t)~options->eif_pcrs; /* a debug enclave reads 0 */
    return 0;
}

/* --eif FILE: PCR0, PCR1, PCR2 (and PCR8 when signed) are the image's, as libnsmeif measures
 * them; a malformed image is refused with its code. Under --debug-mode (before or after) the
 * image is still checked, but its PCRs read as zero. */
static int set_eif(void *ctx, const char *path, nsmkit_error *e)
{
    nsmsim_options *options = ctx;
    nsmeif_image image;
    nsmeif_code code = nsmeif_read(path, &image, NULL, NULL);
    if (code != NSMEIF_ERR_OK) {
        nsmkit_fail(e, "--eif %s: %d %s: %s", path, code, nsmeif_code_name(code),
                    image.reason.msg);
        nsmeif_image_free(&image);
        return -1;
    }
    const struct {
        unsigned index;
        const uint8_t *value;
    } pcrs[] = {{0, image.pcr0}, {1, image.pcr1}, {2, image.pcr2}, {8, image.pcr8}};
    for (size_t k = 0; k < (image.is_signed ? 4u : 3u); k++) {
        uint16_t bit = (uint16_t)(1u << pcrs[k].index);
        memcpy(options->boot_pcrs[pcrs[k].index], pcrs[k].value, NSMSIM_PCR_LEN);
        options->eif_pcrs |= bit;
        if (!options->debug_mode)
            options->boot_pcrs_given |= bit;
    }
    nsmeif_image_free(&image);
    return 0;
}

static int set_map(void *ctx, const char *value, nsmkit_error *e)
{
    nsmsim_options *options = ctx;
    if (strcmp(value, "definite") == 0)
        options->map = NSMSIM_MAP_DEFINITE;
    else if (strcmp(value, "indefinite") == 0)
        options->map = NSMSIM_MAP_INDEFINITE;
    else
        return nsmkit_fail(e, "--map wants definite or indefinite, not '%s'", value);
    return 0;
}

static int set_fault(void *ctx, const char *value, nsmkit_error *e)
{
    nsmsim_options *options = ctx;
    /* A second --fault would silently replace the first: say how to combine them. */
    if (options->faults)
        return nsmkit_fail(e, "--fault given twice ('%s', then '%s'): give the classes once, "
                              "separated by commas", options->faults, value);
    nsmfault_set set; /* checked here for a usage error; the fault mode parses it again */
    if (nsmfault_set_parse(value, &set, e) != 0 || nsmfault_set_document_only(&set, e) != 0)
        return -1;
    options->faults = value;
    return 0;
}

static int set_fault_every(void *ctx, const char *value, nsmkit_error *e)
{
    uint64_t n;
    if (!nsmkit_parse_u64(value, &n) || n == 0 || n > UINT32_MAX)
        return nsmkit_fail(e, "--fault-every wants a count of 1 or more, not '%s'", value);
    ((nsmsim_options *)ctx)->fault_every = (unsigned)n;
    return 0;
}

static int set_fault_rate(void *ctx, const char *value, nsmkit_error *e)
{
    nsmsim_options *options = ctx;
    char *end = NULL;
    double p = strtod(value, &end);
    if (!end || *end || !(p > 0.0 && p <= 1.0))
        return nsmkit_fail(e, "--fault-rate wants a probability in (0, 1], not '%s'", value);
    options->fault_rate_ppm = (uint32_t)(p * 1e6 + 0.5);
    if (options->fault_rate_ppm == 0)
        options->fault_rate_ppm = 1;
    return 0;
}

static int set_seed(void *ctx, const char *value, nsmkit_error *e)
{
    if (!nsmkit_parse_u64(value, &((nsmsim_options *)ctx)->fault_seed))
        return nsmkit_fail(e, "--seed wants an unsigned integer, not '%s'", value);
    return 0;
}

static int set_no_resign(void *ctx, const char *value, nsmkit_error *e)
{
    (void)value, (void)e;
    ((nsmsim_options *)ctx)->fault_no_resign = true;
    return 0;
}

static const nsmkit_opt state_rows[] = {
    NSMKIT_OPT_CALL("--ca", "DIR", set_ca,
                    "the simulated PKI (default: ${XDG_STATE_HOME:-$HOME/.local/state}\n"
                    "/nsmkit/ca, created on first use)"),
    NSMKIT_OPT_CALL("--time", "UNIX_S", set_time,
                    "a fixed clock instead of the real one: Unix seconds,\na fraction allowed"),
    NSMKIT_OPT_CALL("--pcr", "I=HEX", set_pcr, "boot PCR I (0..15), 48 bytes of hex; repeatable"),
    NSMKIT_OPT_CALL("--measurements", "FILE", set_measurements,
                    "boot PCRs from the JSON `nitro-cli build-enclave` prints"),
    NSMKIT_OPT_CALL("--eif", "FILE", set_eif,
                    "PCR0/1/2 (PCR8 if signed) of an enclave image (nsm-eif)"),
    NSMKIT_OPT_CALL("--debug-mode", NULL, set_debug_mode,
                    "a debug enclave: every boot PCR reads zero"),
    NSMKIT_OPT_CALL("--map", "definite|indefinite", set_map,
                    "payload map encoding (real documents use both)"),
    NSMKIT_OPT_CALL("--fault", "CLASS[,CLASS]", set_fault,
                    "malformed attestation documents (`nsm-vectors list`)"),
    NSMKIT_OPT_CALL("--fault-every", "N", set_fault_every, "only every Nth document"),
    NSMKIT_OPT_CALL("--fault-rate", "P", set_fault_rate,
                    "each document with chance P (0..1] (default: all)"),
    NSMKIT_OPT_CALL("--seed", "S", set_seed, "the seed of --fault-rate"),
    NSMKIT_OPT_CALL("--no-resign", NULL, set_no_resign,
                    "keep the valid document's signature after the fault"),
};

const nsmkit_opt_group nsmfault_state_options = {"state options", state_rows,
                                                 NSMKIT_ROWS(state_rows)};

int nsmsim_options_parse_arg(nsmsim_options *options, int argc, char **argv, int *i,
                             nsmkit_error *e)
{
    const char *arg = argv[*i];
    for (size_t r = 0; r < NSMKIT_ROWS(state_rows); r++) {
        const nsmkit_opt *row = &state_rows[r];
        if (strcmp(arg, row->name) != 0)
            continue;
        if (row->arg && *i + 1 >= argc)
            return nsmkit_fail(e, "%s needs a value", arg);
        if (row->set(options, row->arg ? argv[*i + 1] : NULL, e) != 0)
            return -1;
        *i += row->arg ? 2 : 1;
        return 1;
    }
    return 0;
}
