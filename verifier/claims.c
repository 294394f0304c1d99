/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What an accepted document says, for the relying party: the PCRs it can compare itself,
 * and the public_key, user_data and nonce the enclave bound into the document (a key to
 * encrypt to, a session to tie to). The payload is decoded again with the verifier's own
 * parser and field rules; the claims own what they decoded.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct nsmv_claims {
    nsmv_payload payload; /* owns the decoded item every borrowed pointer points into */
    char module_id[NSMV_MODULE_ID_MAX + 1];
};

nsmv_code nsmv_claims_read(const uint8_t *doc, size_t len, nsmv_claims **out)
{
    nsmv_result result;
    nsmv_run run = {.result = &result, .all = false};
    nsmv_envelope env;

    if (!out)
        return NSMV_ERR_INTERNAL;
    *out = NULL;
    memset(&result, 0, sizeof(result));
    nsmv_claims *c = calloc(1, sizeof(*c));
    if (!c)
        return NSMV_ERR_NO_MEMORY;
    /* The AWS profile's field rules: every document either profile accepts passes them. */
    nsmv_code code = nsmv_envelope_parse(doc, len, &env, &run);
    if (code == NSMV_OK)
        code = nsmv_payload_load(env.payload, &c->payload, &run);
    if (code == NSMV_OK)
        code = nsmv_payload_fields(&c->payload, NSMV_PROFILE_AWS, &run);
    if (code != NSMV_OK) {
        nsmv_claims_free(c);
        return code;
    }
    nsmv_printable(c->payload.module_id.ptr, c->payload.module_id.len, c->module_id,
                   sizeof(c->module_id));
    *out = c;
    return NSMV_OK;
}

void nsmv_claims_free(nsmv_claims *c)
{
    if (!c)
        return;
    nsmv_payload_clear(&c->payload);
    free(c);
}

nsmv_kind nsmv_claims_kind(const nsmv_claims *c)
{
    return c->payload.kind;
}

const char *nsmv_claims_module_id(const nsmv_claims *c)
{
    return c->module_id;
}

uint64_t nsmv_claims_timestamp_ms(const nsmv_claims *c)
{
    return c->payload.timestamp_ms;
}

const uint8_t *nsmv_claims_pcr(const nsmv_claims *c, unsigned index)
{
    if (index >= NSMV_PCR_MAX || c->payload.pcr_slot[index] < 0)
        return NULL;
    return c->payload.pcrs[c->payload.pcr_slot[index]].value;
}

static bool optional_of(const nsmv_optional *o, const uint8_t **data, size_t *len)
{
    bool given = o->present && !o->is_null;
    if (data)
        *data = given ? o->bytes.ptr : NULL;
    if (len)
        *len = given ? o->bytes.len : 0;
    return given;
}

bool nsmv_claims_public_key(const nsmv_claims *c, const uint8_t **data, size_t *len)
{
    return optional_of(&c->payload.public_key, data, len);
}

bool nsmv_claims_user_data(const nsmv_claims *c, const uint8_t **data, size_t *len)
{
    return optional_of(&c->payload.user_data, data, len);
}

bool nsmv_claims_nonce(const nsmv_claims *c, const uint8_t **data, size_t *len)
{
    return optional_of(&c->payload.nonce, data, len);
}
