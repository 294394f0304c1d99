/* SPDX-License-Identifier: Apache-2.0 */
/* The NSM message table (nsm-core/messages.def) as data, and the simulator's code list. */
#include <stdarg.h>
#include <stdio.h>

#include "messages.h"

const nsmsim_message_spec nsmsim_requests[NSMSIM_REQ_COUNT] = {
#define NSMSIM_REQUEST(id, name_, shape_)                                                     \
    [NSMSIM_REQ_##id] = {.name = name_, .shape = NSMSIM_SHAPE_##shape_},
#include "messages.def"
};

const nsmsim_field_spec nsmsim_request_fields[NSMSIM_REQF_COUNT] = {
#define NSMSIM_REQUEST_FIELD(id, field, name_, type_, max_)                                   \
    [NSMSIM_REQF_##id##_##field] = {.message = NSMSIM_REQ_##id, .name = name_,               \
                                    .type = NSMSIM_FIELD_##type_, .max = (max_)},
#include "messages.def"
};

const nsmsim_message_spec nsmsim_responses[NSMSIM_RESP_COUNT] = {
#define NSMSIM_RESPONSE(id, name_, shape_)                                                    \
    [NSMSIM_RESP_##id] = {.name = name_, .shape = NSMSIM_SHAPE_##shape_},
#include "messages.def"
};

const nsmsim_field_spec nsmsim_response_fields[NSMSIM_RESPF_COUNT] = {
#define NSMSIM_RESPONSE_FIELD(id, field, name_, type_, max_)                                  \
    [NSMSIM_RESPF_##id##_##field] = {.message = NSMSIM_RESP_##id, .name = name_,              \
                                     .type = NSMSIM_FIELD_##type_, .max = (max_)},
#include "messages.def"
};

size_t nsmsim_message_field_ids(const nsmsim_field_spec *table, size_t table_len,
                                unsigned message, unsigned ids[NSMSIM_MESSAGE_MAX_FIELDS])
{
    size_t n = 0;
    for (size_t f = 0; f < table_len && n < NSMSIM_MESSAGE_MAX_FIELDS; f++)
        if (table[f].message == message)
            ids[n++] = (unsigned)f;
    return n;
}

/* ---- codes ------------------------------------------------------------------------------ */

static const nsmkit_code_info code_rows[] = {
#define NSMSIM_CODE_ROW(name, number, wire, sentence) NSMKIT_CODE_ROW(name, number, sentence)
    NSMSIM_CODES(NSMSIM_CODE_ROW)
#undef NSMSIM_CODE_ROW
};

const nsmkit_code_table nsmsim_codes = NSMKIT_CODE_TABLE("nsm-sim", code_rows, NSMKIT_RANGE_SIM);

const char *nsmsim_code_name(nsmsim_code code)
{
    return nsmkit_code_name(&nsmsim_codes, (int)code);
}

const char *nsmsim_code_sentence(nsmsim_code code)
{
    return nsmkit_code_sentence(&nsmsim_codes, (int)code);
}

int nsmsim_code_wire(nsmsim_code code)
{
    switch (code) {
#define NSMSIM_CODE_WIRE(name, number, wire, sentence)                                        \
    case NSMSIM_ERR_##name:                                                                       \
        return NSMSIM_##wire;
        NSMSIM_CODES(NSMSIM_CODE_WIRE)
#undef NSMSIM_CODE_WIRE
    }
    return NSMSIM_INTERNAL_ERROR;
}

nsmsim_code nsmsim_outcome_set(nsmsim_outcome *outcome, nsmsim_code code, const char *fmt, ...)
{
    if (!outcome)
        return code;
    outcome->code = code;
    outcome->detail[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(outcome->detail, sizeof(outcome->detail), fmt, ap);
        va_end(ap);
    }
    return code;
}
