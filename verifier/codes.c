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

/* Row of each code in codes[], by the code's number, plus one (0: not a code). Every
 * failure asks for its code's stage, so this is a load, not a search of the table. The
 * numbers are stable, grouped by stage and below 1000; an out-of-range number is a compile
 * error here, and two codes with one number an initializer-override error (-Werror). */
enum {
#define NSMV_CODE_ROW(name, number, stage, sentence) CODE_ROW_##name,
    NSMV_CODES(NSMV_CODE_ROW)
#undef NSMV_CODE_ROW
    CODE_ROW_COUNT
};
_Static_assert(CODE_ROW_COUNT < 256, "code rows must fit the uint8_t index");
#define CODE_NUMBER_LIMIT 1000

static const uint8_t code_row_plus_one[CODE_NUMBER_LIMIT] = {
#define NSMV_CODE_INDEX(name, number, stage, sentence) [number] = CODE_ROW_##name + 1,
    NSMV_CODES(NSMV_CODE_INDEX)
#undef NSMV_CODE_INDEX
};

static const code_info *code_find(nsmv_code code)
{
    /* the enum's type may be signed: a negative number wraps above the limit */
    unsigned number = (unsigned)code;
    if (number >= CODE_NUMBER_LIMIT || code_row_plus_one[number] == 0)
        return NULL;
    return &codes[code_row_plus_one[number] - 1];
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

