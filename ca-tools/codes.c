/* The ca-tools code table (NSMCA_CODES in nsmkit/ca.h) and the one way to fail with a code. */
#include <stdarg.h>
#include <stdio.h>

#include <openssl/err.h>

#include "internal.h"

typedef struct {
    nsmca_code code;
    const char *name;
    const char *sentence;
} code_info;

static const code_info codes[] = {
#define NSMCA_CODE_INFO(name, number, sentence) {NSMCA_ERR_##name, #name, sentence},
    NSMCA_CODES(NSMCA_CODE_INFO)
#undef NSMCA_CODE_INFO
};

static const code_info *code_find(nsmca_code code)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == code)
            return &codes[i];
    return NULL;
}

const char *nsmca_code_name(nsmca_code code)
{
    const code_info *c = code_find(code);
    return c ? c->name : NULL;
}

const char *nsmca_code_sentence(nsmca_code code)
{
    const code_info *c = code_find(code);
    return c ? c->sentence : NULL;
}

size_t nsmca_code_count(void)
{
    return sizeof(codes) / sizeof(codes[0]);
}

nsmca_code nsmca_code_at(size_t i)
{
    return i < nsmca_code_count() ? codes[i].code : NSMCA_ERR_INTERNAL;
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
