/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How stages report: nsmv_fail records a failure in the run's result, and the two
 * formatting helpers every stage uses in its details. Depends only on the code table
 * (codes.c), never on the orchestrator (verify.c) or a stage, so no stage calls back into
 * the file that calls it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* ---- failures and formatting ------------------------------------------------------------------ */

void nsmv_printable(const uint8_t *data, size_t len, char *out, size_t out_size)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (k + 1 >= out_size || (i + 1 < len && k + 4 >= out_size)) {
            /* no room for this byte and an ellipsis after it */
            k = k > out_size - 4 ? out_size - 4 : k;
            memcpy(out + k, "...", 3);
            k += 3;
            break;
        }
        out[k++] = data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '?';
    }
    out[k] = '\0';
}

void nsmv_format_utc(int64_t unix_s, char *out, size_t out_size)
{
    struct tm tm;
    time_t t = (time_t)unix_s;
    if (gmtime_r(&t, &tm) && tm.tm_year + 1900 >= 0 && tm.tm_year + 1900 <= 9999 &&
        strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
        return;
    snprintf(out, out_size, "%lld s", (long long)unix_s);
}

/* Every byte from 0x20 to 0x7e: what a detail may hold. */
static const char printable_ascii[] =
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
    "abcdefghijklmnopqrstuvwxyz{|}~";
_Static_assert(sizeof(printable_ascii) == 0x7f - 0x20 + 1, "0x20..0x7e, then the NUL");

nsmv_code nsmv_fail(nsmv_run *run, nsmv_code code, const char *fmt, ...)
{
    nsmv_result *r = run->result;
    nsmv_stage stage = nsmv_code_stage(code);
    if (r->code == NSMV_OK)
        r->code = code;
    r->stages[stage] = NSMV_OUTCOME_FAILED;
    if (r->failure_count >= NSMV_MAX_FAILURES) {
        r->failures_dropped++;
        return code;
    }
    nsmv_failure *f = &r->failures[r->failure_count++];
    f->code = code;
    f->stage = stage;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
    va_end(ap);
    /* Messages end up in terminals and JSON: anything outside 0x20..0x7e becomes '?'.
     * strspn finds the next such byte without a comparison per byte in this file, which a
     * fuzzer would hook: the details of every failure pass here. */
    for (char *p = f->detail + strspn(f->detail, printable_ascii); *p;
         p += 1 + strspn(p + 1, printable_ascii))
        *p = '?';
    return code;
}

