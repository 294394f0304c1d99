/* SPDX-License-Identifier: Apache-2.0 */
/* ca.conf: the PKI's region, tier count and instance id, one key=value a line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nsmkit/hex.h"
#include "store.h"

#define CONF_MAX 4096

bool ca_valid_region(const char *region)
{
    size_t n = strlen(region);
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = region[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static bool valid_instance_id(const char *id)
{
    if (strlen(id) != 19 || strncmp(id, "i-", 2) != 0)
        return false;
    for (size_t i = 2; i < 19; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

nsmca_code ca_conf_write(const nsmca_pki *pki, nsmkit_error *e)
{
    char text[256];
    int n = snprintf(text, sizeof(text),
                     "# nsmkit simulated Nitro PKI (NOT AWS): do not trust it outside tests\n"
                     "region=%s\nintermediates=%u\ninstance_id=%s\n",
                     pki->region, pki->tiers, pki->instance_id);
    if (n < 0 || (size_t)n >= sizeof(text))
        return ca_fail(e, NSMCA_ERR_INTERNAL, "internal: ca.conf does not fit");
    return ca_file_replace(pki->dir, CA_CONF_NAME, (const uint8_t *)text, (size_t)n, 0644, e);
}

enum { HAVE_REGION = 1, HAVE_TIERS = 2, HAVE_INSTANCE = 4 };

/* One "key=value" line (already without its newline); returns the HAVE_ bit it set or 0. */
static int conf_line(nsmca_pki *pki, char *line)
{
    char *eq = strchr(line, '=');
    if (!eq)
        return 0;
    *eq = '\0';
    const char *value = eq + 1;
    uint64_t number;
    if (strcmp(line, "region") == 0 && ca_valid_region(value)) {
        snprintf(pki->region, sizeof(pki->region), "%s", value);
        return HAVE_REGION;
    }
    if (strcmp(line, "intermediates") == 0 && nsmkit_parse_u64(value, &number) &&
        number >= 1 && number <= NSMCA_MAX_TIERS) {
        pki->tiers = (unsigned)number;
        return HAVE_TIERS;
    }
    if (strcmp(line, "instance_id") == 0 && valid_instance_id(value)) {
        snprintf(pki->instance_id, sizeof(pki->instance_id), "%s", value);
        return HAVE_INSTANCE;
    }
    *eq = '=';
    return 0;
}

static nsmca_code conf_parse(nsmca_pki *pki, const uint8_t *text, size_t len, nsmkit_error *e)
{
    int have = 0;
    unsigned line_no = 0;
    for (size_t pos = 0; pos < len;) {
        char line[256];
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        line_no++;
        if (end - pos >= sizeof(line))
            return ca_fail(e, NSMCA_ERR_CONF_MALFORMED, "%s/ca.conf:%u: line too long",
                           pki->dir, line_no);
        memcpy(line, text + pos, end - pos);
        line[end - pos] = '\0';
        /* A NUL inside a line would cut it short unseen: refuse it. */
        bool has_nul = strlen(line) != end - pos;
        pos = end + 1;
        if (!has_nul && (line[0] == '#' || line[0] == '\0'))
            continue;
        int bit = has_nul ? 0 : conf_line(pki, line);
        if (!bit)
            return ca_fail(e, NSMCA_ERR_CONF_MALFORMED,
                           "%s/ca.conf:%u: bad or unknown setting '%s' (expected key=value)",
                           pki->dir, line_no, line);
        have |= bit;
    }
    if (have != (HAVE_REGION | HAVE_TIERS | HAVE_INSTANCE))
        return ca_fail(e, NSMCA_ERR_CONF_INCOMPLETE, "%s/ca.conf: missing %s", pki->dir,
                       !(have & HAVE_REGION)  ? "region"
                       : !(have & HAVE_TIERS) ? "intermediates"
                                              : "instance_id");
    return NSMCA_OK;
}

nsmca_code ca_conf_read(nsmca_pki *pki, nsmkit_error *e)
{
    uint8_t *text = NULL;
    size_t len = 0;
    nsmca_code code = ca_file_read(pki->dir, CA_CONF_NAME, false, &text, &len, e);
    if (code == NSMCA_ERR_FILE_MISSING)
        return ca_fail(e, NSMCA_ERR_NO_PKI, "%s: holds no PKI (no ca.conf): create one with "
                       "`nsm-ca init %s`", pki->dir, pki->dir);
    if (code != NSMCA_OK)
        return code;
    if (len > CONF_MAX)
        code = ca_fail(e, NSMCA_ERR_FILE_TOO_LARGE, "%s/ca.conf: larger than %d bytes",
                       pki->dir, CONF_MAX);
    else
        code = conf_parse(pki, text, len, e);
    free(text);
    return code;
}
