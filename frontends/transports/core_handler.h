/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NSM core (nsmkit/sim.h) as a device handler (device.h) in this process. With
 * NSM_SIM_TRACE set, each refused request is logged with the rule behind it.
 *
 * Internal to the front-ends (not installed).
 */
#ifndef NSMSIM_CORE_HANDLER_H
#define NSMSIM_CORE_HANDLER_H

#include "device.h"

/* nsmsim_handle as a handler (ctx is the nsmsim). */
int nsmsim_core_handler(void *ctx, const uint8_t *req, size_t req_len,
                        uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len);

#endif /* NSMSIM_CORE_HANDLER_H */
