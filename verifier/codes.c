/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The code table (one row per NSMV_CODES entry) and the names of stages, kinds and
 * profiles. Calls nothing else of the verifier: every other file may use it.
 */
#include <string.h>

#include "nsmkit/verify.h"

/* ---- codes ------------------------------------------------------------------------------------ */

static const nsmkit_code_info code_rows[] = {
#define NSMV_CODE_ROW(name, number, stage, sentence) NSMKIT_CODE_ROW(name, number, sentence)
    NSMV_CODES(NSMV_CODE_ROW)
#undef NSMV_CODE_ROW
};

/* The stage of each row, beside code_rows. */
static const nsmv_stage code_stages[] = {
#define NSMV_CODE_STAGE(name, number, stage, sentence) NSMV_STAGE_##stage,
    NSMV_CODES(NSMV_CODE_STAGE)
#undef NSMV_CODE_STAGE
};

const nsmkit_code_table nsmv_codes = NSMKIT_CODE_TABLE("verifier", code_rows,
                                                       NSMKIT_RANGE_VERIFIER);

const char *nsmv_code_name(nsmv_code code)
{
    return nsmkit_code_name(&nsmv_codes, (int)code);
}

const char *nsmv_code_sentence(nsmv_code code)
{
    return nsmkit_code_sentence(&nsmv_codes, (int)code);
}

nsmv_stage nsmv_code_stage(nsmv_code code)
{
    const nsmkit_code_info *row = nsmkit_code_find(&nsmv_codes, (int)code);
    return row ? code_stages[row - code_rows] : NSMV_STAGE_INTERNAL;
}

size_t nsmv_code_count(void)
{
    return nsmv_codes.count;
}

nsmv_code nsmv_code_at(size_t i)
{
    return i < nsmv_codes.count ? (nsmv_code)code_rows[i].number : NSMV_ERR_INTERNAL;
}

const char *nsmv_stage_name(nsmv_stage stage)
{
    static const char *const names[NSMV_STAGE_COUNT] = {
        "none", "envelope", "cbor", "payload", "chain", "signature", "policy", "internal"};
    return (unsigned)stage < NSMV_STAGE_COUNT ? names[stage] : "internal";
}

const char *nsmv_kind_name(nsmv_kind kind)
{
    switch (kind) {
    case NSMV_KIND_NSM: return "nsm";
    case NSMV_KIND_NITROTPM: return "nitrotpm";
    default: return "unknown";
    }
}

const char *nsmv_profile_name(nsmv_profile profile)
{
    return profile == NSMV_PROFILE_STRICT ? "strict" : "aws";
}

bool nsmv_profile_parse(const char *text, nsmv_profile *out)
{
    if (strcmp(text, "aws") == 0)
        *out = NSMV_PROFILE_AWS;
    else if (strcmp(text, "strict") == 0)
        *out = NSMV_PROFILE_STRICT;
    else
        return false;
    return true;
}

