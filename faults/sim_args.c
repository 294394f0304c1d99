/*
 * The device's state options on a command line or from the environment (nsmkit/fault.h):
 * the core's options (nsmkit/sim.h) and the device fault mode's, whose classes are checked
 * against the fault table here, so that a bad class is a usage error.
 */
#include <stdlib.h>
#include <string.h>

#include "nsmkit/error.h"
#include "nsmkit/fault.h"
#include "nsmkit/hex.h"
#include "nsmkit/sim.h"

int nsmsim_options_parse_arg(nsmsim_options *options, int argc, char **argv, int *i,
                             nsmkit_error *e)
{
    const char *arg = argv[*i];
    bool has_value = *i + 1 < argc;
    const char *value = has_value ? argv[*i + 1] : NULL;
    static const char *const with_value[] = {"--ca",    "--time",        "--pcr",
                                             "--measurements", "--map", "--fault",
                                             "--fault-every",  "--fault-rate", "--seed"};

    if (strcmp(arg, "--debug-mode") == 0) {
        options->debug_mode = true;
        *i += 1;
        return 1;
    }
    if (strcmp(arg, "--no-resign") == 0) {
        options->fault_no_resign = true;
        *i += 1;
        return 1;
    }
    bool known = false;
    for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
        known |= strcmp(arg, with_value[k]) == 0;
    if (!known)
        return 0;
    if (!has_value)
        return nsmkit_fail(e, "%s needs a value", arg);

    if (strcmp(arg, "--ca") == 0) {
        options->ca_dir = value;
    } else if (strcmp(arg, "--time") == 0) {
        uint64_t ms;
        /* The leaf serial holds the issue time in 32 bits of seconds. */
        if (!nsmkit_parse_u64(value, &ms) || ms == 0 || ms / 1000 > UINT32_MAX)
            return nsmkit_fail(e, "--time wants Unix milliseconds (1..%llu), not '%s'",
                               (unsigned long long)UINT32_MAX * 1000ull, value);
        options->time_ms = ms;
    } else if (strcmp(arg, "--pcr") == 0) {
        if (nsmsim_options_set_pcr(options, value, e) != 0)
            return -1;
    } else if (strcmp(arg, "--measurements") == 0) {
        if (nsmsim_options_load_measurements(options, value, e) != 0)
            return -1;
    } else if (strcmp(arg, "--fault") == 0) {
        /* A second --fault would silently replace the first: say how to combine them. */
        if (options->faults)
            return nsmkit_fail(e, "--fault given twice ('%s', then '%s'): give the classes once, "
                                  "separated by commas", options->faults, value);
        nsmfault_set set; /* checked here for a usage error; the core parses it again */
        if (nsmfault_set_parse(value, &set, e) != 0 || nsmfault_set_document_only(&set, e) != 0)
            return -1;
        options->faults = value;
    } else if (strcmp(arg, "--fault-every") == 0) {
        uint64_t n;
        if (!nsmkit_parse_u64(value, &n) || n == 0 || n > UINT32_MAX)
            return nsmkit_fail(e, "--fault-every wants a count of 1 or more, not '%s'", value);
        options->fault_every = (unsigned)n;
    } else if (strcmp(arg, "--fault-rate") == 0) {
        char *end = NULL;
        double p = strtod(value, &end);
        if (!end || *end || !(p > 0.0 && p <= 1.0))
            return nsmkit_fail(e, "--fault-rate wants a probability in (0, 1], not '%s'", value);
        options->fault_rate_ppm = (uint32_t)(p * 1e6 + 0.5);
        if (options->fault_rate_ppm == 0)
            options->fault_rate_ppm = 1;
    } else if (strcmp(arg, "--seed") == 0) {
        if (!nsmkit_parse_u64(value, &options->fault_seed))
            return nsmkit_fail(e, "--seed wants an unsigned integer, not '%s'", value);
    } else { /* --map */
        if (strcmp(value, "definite") == 0)
            options->map = NSMSIM_MAP_DEFINITE;
        else if (strcmp(value, "indefinite") == 0)
            options->map = NSMSIM_MAP_INDEFINITE;
        else
            return nsmkit_fail(e, "--map wants definite or indefinite, not '%s'", value);
    }
    *i += 2;
    return 1;
}
