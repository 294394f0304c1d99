/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The answer check shared by the request, sequence and device targets (request_check.h).
 * The official client's decoder (nsmsim_api_response_decode, the drop-in libnsm's) is the
 * judge: a program using the real library must be able to read every answer.
 */
#include "../frontends/transports/client.h"
#include "../frontends/transports/core_handler.h"
#include "../frontends/transports/device.h"
#include "../frontends/transports/envopts.h"
#include "../frontends/transports/frame.h"
#include "../frontends/transports/log.h"
#include "../frontends/transports/server.h"
#include "../frontends/devnsm/codec.h"
#include "../nsm-core/messages.h"
#include "fixture.h"
#include "request_check.h"

void fuzz_check_response(const char *target, const uint8_t *resp, size_t len)
{
    static const nsmkit_cbor_limits any = {.max_depth = 8, .allow_indefinite_strings = true};
    if (len == 0 || len > NSM_RESPONSE_MAX_SIZE)
        fuzz_fail(target, "an answer of impossible size");
    if (nsmkit_cbor_check(resp, len, &any, NULL) != NSMKIT_CBOR_OK)
        fuzz_fail(target, "an answer that is not well-formed CBOR");
    nsmsim_api_response r;
    if (nsmsim_api_response_decode(resp, len, &r) != 0)
        fuzz_fail(target, "an answer the official client cannot decode");
    if (r.kind == NSMSIM_RESP_ERROR &&
        (r.error == NSMSIM_SUCCESS || !nsmsim_error_code_name(r.error)))
        fuzz_fail(target, "an error answer without a known NSM error");
    nsmsim_api_response_free(&r);
}

void fuzz_request_one(const char *target, struct nsmsim *sim, const uint8_t *req, size_t len)
{
    static uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    size_t resp_len = 0;
    if (nsmsim_handle(sim, req, len, resp, &resp_len) != 0)
        fuzz_fail(target, "nsmsim_handle found no answer");
    fuzz_check_response(target, resp, resp_len);
}
