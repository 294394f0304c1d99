/* SPDX-License-Identifier: Apache-2.0 */
/* The simulated NSM's state options, shared by `attest`, `serve`, `exec` and the shim. */
#include <stdlib.h>
#include <string.h>

#include "nsmkit/sim.h"
#include "nsmkit/error.h"
#include "nsmkit/hex.h"
#include "nsmkit/json.h"
#include "nsmkit/file.h"

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
