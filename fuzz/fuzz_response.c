/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: bytes a device (or a hostile server behind the shim) answers, into the
 * drop-in libnsm's response decoder (frontends/devnsm/nsmapi.c). Every input must decode or be
 * refused - never abort inside libcbor (Debian keeps its assertions) - and what decodes
 * must be internally consistent.
 */
#include <stdlib.h>
#include <string.h>

#include "../frontends/transports/client.h"
#include "../frontends/transports/core_handler.h"
#include "../frontends/transports/device.h"
#include "../frontends/transports/envopts.h"
#include "../frontends/transports/frame.h"
#include "../frontends/transports/log.h"
#include "../frontends/transports/server.h"
#include "../frontends/devnsm/codec.h"
#include "../nsm-core/messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nsmsim_api_response r;
    if (nsmsim_api_response_decode(data, size, &r) != 0)
        return 0;
    if (r.kind > NSMSIM_RESP_ERROR || r.locked_pcrs_len > NSMSIM_API_MAX_LOCKED ||
        (r.kind == NSMSIM_RESP_ERROR && r.error > NSMSIM_INTERNAL_ERROR) || r.digest > 2)
        abort();
    for (size_t i = 1; i < r.locked_pcrs_len; i++)
        if (r.locked_pcrs[i - 1] >= r.locked_pcrs[i])
            abort(); /* a BTreeSet: ascending, no duplicates */
    /* every borrowed byte is readable (ASan checks) */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < r.bytes_len; i++)
        sink ^= r.bytes[i];
    for (size_t i = 0; i < r.module_id_len; i++)
        sink ^= (uint8_t)r.module_id[i];
    (void)sink;
    nsmsim_api_response_free(&r);
    return 0;
}
