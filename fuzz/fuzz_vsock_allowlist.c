/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: nsm-vsock proxy's allowlist file (vsock/allowlist.c, nitro-cli's YAML
 * read with libyaml). Every input either fails with a message or gives entries that keep
 * the format's bounds (a non-empty address without NUL, a port 1..65535, at most
 * VSALLOW_MAX_ENTRIES); deep nesting must be refused quickly (libFuzzer's -timeout).
 */
#include <string.h>

#include "../vsock/allowlist.h"
#include "fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vsallow a;
    nsmkit_error e;
    if (vsallow_parse((const char *)data, size, &a, &e) != 0) {
        if (e.msg[0] == '\0' || a.entries != NULL)
            fuzz_fail("fuzz_vsock_allowlist", "a refusal without a message, or with entries");
        return 0;
    }
    if (a.count > VSALLOW_MAX_ENTRIES)
        fuzz_fail("fuzz_vsock_allowlist", "more entries than the bound");
    for (size_t i = 0; i < a.count; i++) {
        size_t len = strnlen(a.entries[i].address, sizeof(a.entries[i].address));
        if (len == 0 || len > VSALLOW_MAX_ADDRESS || a.entries[i].port == 0)
            fuzz_fail("fuzz_vsock_allowlist", "an entry outside the format's bounds");
    }
    vsallow_free(&a);
    return 0;
}
