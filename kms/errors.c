/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms: the error table (see errors.h). */
#include "errors.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static const struct {
    kms_code code;
    const char *name;
    unsigned status;
    const char *type;
} error_table[] = {
#define KMS_ERROR_ROW(name, number, status, type) {KMS_ERR_##name, #name, status, type},
    KMS_ERRORS(KMS_ERROR_ROW)
#undef KMS_ERROR_ROW
};

kms_code kms_fail(kms_error *e, kms_code code, const char *fmt, ...)
{
    if (e != NULL) {
        e->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

static size_t error_index(kms_code code)
{
    for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
        if (error_table[i].code == code)
            return i;
    return (size_t)-1;
}

const char *kms_code_type(kms_code code)
{
    size_t i = error_index(code);
    return i == (size_t)-1 ? NULL : error_table[i].type;
}

const char *kms_code_name(kms_code code)
{
    size_t i = error_index(code);
    return i == (size_t)-1 ? NULL : error_table[i].name;
}

unsigned kms_code_status(kms_code code)
{
    size_t i = error_index(code);
    return i == (size_t)-1 ? 500 : error_table[i].status;
}

