/*
 * The code table (one row per NSMV_CODES entry) and the names of stages, kinds and
 * profiles. Calls nothing else of the verifier: every other file may use it.
 */
#include <string.h>

#include "nsmkit/verify.h"

/* ---- codes ------------------------------------------------------------------------------------ */

typedef struct {
    nsmv_code code;
    const char *name;
    nsmv_stage stage;
    const char *sentence;
} code_info;

static const code_info codes[] = {
#define NSMV_CODE_INFO(name, number, stage, sentence)                                          \
    {NSMV_ERR_##name, #name, NSMV_STAGE_##stage, sentence},
    NSMV_CODES(NSMV_CODE_INFO)
#undef NSMV_CODE_INFO
};

static const code_info *code_find(nsmv_code code)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == code)
            return &codes[i];
    return NULL;
}

const char *nsmv_code_name(nsmv_code code)
{
    const code_info *c = code_find(code);
    return c ? c->name : NULL;
}

const char *nsmv_code_sentence(nsmv_code code)
{
    const code_info *c = code_find(code);
    return c ? c->sentence : NULL;
}

nsmv_stage nsmv_code_stage(nsmv_code code)
{
    const code_info *c = code_find(code);
    return c ? c->stage : NSMV_STAGE_INTERNAL;
}

size_t nsmv_code_count(void)
{
    return sizeof(codes) / sizeof(codes[0]);
}

nsmv_code nsmv_code_at(size_t i)
{
    return i < nsmv_code_count() ? codes[i].code : NSMV_ERR_INTERNAL;
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

