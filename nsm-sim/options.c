/* The simulated NSM's state options, shared by `attest`, `serve`, `exec` and the shim. */
#include <stdlib.h>
#include <string.h>

#include "nsmkit/sim.h"
#include "nsmkit/fault.h"
#include "nsmkit/error.h"
#include "nsmkit/hex.h"
#include "nsmkit/json.h"
#include "nsmkit/file.h"
#include "nsmkit/eif.h"

#define MEASUREMENTS_FILE_MAX (64 * 1024)

void nsmsim_options_init(nsmsim_options *options)
{
    memset(options, 0, sizeof(*options));
    options->map = NSMSIM_MAP_DEFINITE;
}

static int set_boot_pcr(nsmsim_options *options, uint64_t index, const char *hex,
                        const char *origin, nsmkit_error *e)
{
    if (index >= NSMSIM_BOOT_PCR_COUNT)
        return nsmkit_fail(e, "%s: PCR%llu is not a boot PCR (0..15); PCR16-31 start at zero "
                              "and are extended at run time",
                           origin, (unsigned long long)index);
    uint8_t *value;
    size_t len;
    nsmkit_error hex_error;
    if (nsmkit_hex_decode(hex, NSMSIM_PCR_LEN, &value, &len, &hex_error) != 0)
        return nsmkit_fail(e, "%s: PCR%llu: %s", origin, (unsigned long long)index,
                           hex_error.msg);
    if (len != NSMSIM_PCR_LEN) {
        free(value);
        return nsmkit_fail(e, "%s: PCR%llu must be %d bytes (%d hex digits), not %zu bytes",
                           origin, (unsigned long long)index, NSMSIM_PCR_LEN,
                           2 * NSMSIM_PCR_LEN, len);
    }
    memcpy(options->boot_pcrs[index], value, NSMSIM_PCR_LEN);
    options->boot_pcrs_given |= (uint16_t)(1u << index);
    free(value);
    return 0;
}

int nsmsim_options_set_pcr(nsmsim_options *options, const char *assignment, nsmkit_error *e)
{
    const char *eq = strchr(assignment, '=');
    char index_text[8];
    uint64_t index;
    if (!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof(index_text))
        return nsmkit_fail(e, "--pcr wants I=HEX, not '%s'", assignment);
    memcpy(index_text, assignment, (size_t)(eq - assignment));
    index_text[eq - assignment] = '\0';
    if (!nsmkit_parse_u64(index_text, &index))
        return nsmkit_fail(e, "--pcr: '%s' is not a PCR index", index_text);
    return set_boot_pcr(options, index, eq + 1, "--pcr", e);
}

/* What the walk callback returns for a bad value (its message is already written). */
#define MEASUREMENT_REFUSED 2

typedef struct {
    nsmsim_options *options;
    const char *path;
    unsigned found;
    nsmkit_error *e;
} measurements_ctx;

static int measurement_seen(void *ctx_ptr, const char *const *keys, size_t depth,
                            const char *value, size_t value_len)
{
    measurements_ctx *ctx = ctx_ptr;
    (void)value_len;
    if (depth != 2 || strcmp(keys[0], "Measurements") != 0 || strncmp(keys[1], "PCR", 3) != 0)
        return 0;
    uint64_t index;
    if (!nsmkit_parse_u64(keys[1] + 3, &index))
        return 0;
    if (set_boot_pcr(ctx->options, index, value, ctx->path, ctx->e) != 0)
        return MEASUREMENT_REFUSED;
    ctx->found++;
    return 0;
}

int nsmsim_options_load_measurements(nsmsim_options *options, const char *path, nsmkit_error *e)
{
    uint8_t *text;
    size_t len;
    if (nsmkit_file_read(path, MEASUREMENTS_FILE_MAX, &text, &len, e) != 0)
        return -1;
    measurements_ctx ctx = {options, path, 0, e};
    nsmkit_error json_error;
    int rc = nsmkit_json_walk((const char *)text, len, measurement_seen, &ctx, &json_error);
    free(text);
    if (rc == MEASUREMENT_REFUSED)
        return -1;
    if (rc != 0)
        return nsmkit_fail(e, "%s: %s", path, json_error.msg);
    if (ctx.found == 0)
        return nsmkit_fail(e, "%s: no \"Measurements\": {\"PCRn\": \"hex\"} values found", path);
    return 0;
}

/* --eif FILE: PCR0, PCR1, PCR2 (and PCR8 when signed) are the image's, as libnsmeif measures
 * them; a malformed image is refused with its code. Under --debug-mode (before or after) the
 * image is still checked, but its PCRs read as zero. */
static int load_eif(nsmsim_options *options, const char *path, nsmkit_error *e)
{
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

int nsmsim_options_parse_arg(nsmsim_options *options, int argc, char **argv, int *i,
                             nsmkit_error *e)
{
    const char *arg = argv[*i];
    bool has_value = *i + 1 < argc;
    const char *value = has_value ? argv[*i + 1] : NULL;
    static const char *const with_value[] = {"--ca",    "--time",        "--pcr",
                                             "--measurements", "--map", "--fault",
                                             "--fault-every",  "--fault-rate", "--seed",
                                             "--eif"};

    if (strcmp(arg, "--debug-mode") == 0) {
        options->debug_mode = true;
        options->boot_pcrs_given &= (uint16_t)~options->eif_pcrs; /* a debug enclave reads 0 */
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
    } else if (strcmp(arg, "--eif") == 0) {
        if (load_eif(options, value, e) != 0)
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
