/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NSM core as a handler of this process (core_handler.h): what `nsm-sim serve`, exec's
 * server and the FUSE device answer requests with.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "core_handler.h"
#include "envopts.h"
#include "log.h"
#include "nsmkit/sim.h"

int nsmsim_core_handler(void *ctx, const uint8_t *req, size_t req_len,
                        uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len)
{
    nsmsim_outcome o;
    if (nsmsim_handle_traced(ctx, req, req_len, resp, resp_len, &o) != 0)
        return ENOMEM;
    /* The wire answer is the device's ErrorCode; with NSM_SIM_TRACE the rule behind it
     * (and its cause) is logged where the core runs (nsm-sim serve, exec's server). */
    if (o.code != NSMSIM_ERR_OK && nsmsim_env_flag("NSM_SIM_TRACE"))
        nsmsim_log_line("nsm-sim", "request of %zu bytes refused: %d %s: %s", req_len,
                        (int)o.code, nsmsim_code_name(o.code), o.detail);
    return 0;
}
