/* SPDX-License-Identifier: Apache-2.0 */
/* The ca-tools code table (NSMCA_CODES in nsmkit/ca.h) and the one way to fail with a code. */
#include <stdarg.h>
#include <stdio.h>

#include <openssl/err.h>

#include "internal.h"

static const nsmkit_code_info code_rows[] = {
#define NSMCA_CODE_ROW(name, number, sentence) NSMKIT_CODE_ROW(name, number, sentence)
    NSMCA_CODES(NSMCA_CODE_ROW)
#undef NSMCA_CODE_ROW
};

const nsmkit_code_table nsmca_codes = NSMKIT_CODE_TABLE("ca-tools", code_rows, NSMKIT_RANGE_CA);

const char *nsmca_code_name(nsmca_code code)
{
    return nsmkit_code_name(&nsmca_codes, (int)code);
}

const char *nsmca_code_sentence(nsmca_code code)
{
    return nsmkit_code_sentence(&nsmca_codes, (int)code);
}

size_t nsmca_code_count(void)
{
    return nsmca_codes.count;
}

nsmca_code nsmca_code_at(size_t i)
{
    return i < nsmca_codes.count ? (nsmca_code)code_rows[i].number : NSMCA_ERR_INTERNAL;
}

nsmca_code ca_fail(nsmkit_error *e, nsmca_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nsmkit_vfail(e, fmt, ap);
    va_end(ap);
    return code;
}

nsmca_code ca_ossl_fail(nsmkit_error *e, nsmca_code code, const char *what)
{
    unsigned long err = ERR_get_error();
    char reason[256] = "unknown error";
    if (err)
        ERR_error_string_n(err, reason, sizeof(reason));
    ERR_clear_error();
    return ca_fail(e, code, "%s: %s", what, reason);
}
