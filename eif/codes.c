/* SPDX-License-Identifier: Apache-2.0 */
/* nsmkit eif: the code table's names and sentences, and the exit status of each range. */
#include <stdarg.h>
#include <stddef.h>

#include "nsmkit/eif.h"

#include "eif_internal.h"

const char *nsmeif_code_name(nsmeif_code code)
{
    switch (code) {
#define NSMEIF_CODE_NAME(name, number, sentence) \
    case NSMEIF_ERR_##name:                      \
        return #name;
        NSMEIF_CODES(NSMEIF_CODE_NAME)
#undef NSMEIF_CODE_NAME
    }
    return NULL;
}

const char *nsmeif_code_sentence(nsmeif_code code)
{
    switch (code) {
#define NSMEIF_CODE_SENTENCE(name, number, sentence) \
    case NSMEIF_ERR_##name:                          \
        return sentence;
        NSMEIF_CODES(NSMEIF_CODE_SENTENCE)
#undef NSMEIF_CODE_SENTENCE
    }
    return NULL;
}

int nsmeif_code_exit(nsmeif_code code)
{
    if (code == NSMEIF_ERR_OK)
        return 0;
    return code >= 4000 && code < 4100 ? 2 : 1;
}

const char *nsmeif_section_type_name(unsigned type)
{
    switch (type) {
    case NSMEIF_SECTION_INVALID: return "invalid";
    case NSMEIF_SECTION_KERNEL: return "kernel";
    case NSMEIF_SECTION_CMDLINE: return "cmdline";
    case NSMEIF_SECTION_RAMDISK: return "ramdisk";
    case NSMEIF_SECTION_SIGNATURE: return "signature";
    case NSMEIF_SECTION_METADATA: return "metadata";
    default: return "unknown";
    }
}

/* The first problem found is the one an image reports. */
nsmeif_code nsmeif_fail(nsmeif_image *image, nsmeif_code code, const char *fmt, ...)
{
    if (image->code != NSMEIF_ERR_OK)
        return image->code; /* the first problem is the one reported */
    image->code = code;
    va_list ap;
    va_start(ap, fmt);
    nsmkit_vfail(&image->reason, fmt, ap);
    va_end(ap);
    return code;
}
