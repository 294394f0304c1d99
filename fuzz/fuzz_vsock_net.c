/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the names and lines of the emulated vsock network that come from
 * others (vsock/net.c): a peer's unix name ("c.p.peer", read from accept()), a listener's
 * name ("C.P") and a device socket's answer ("OK <n>\n"). Every accepted input must print
 * back to exactly the same bytes (decimal, no leading zeros, one form per value).
 */
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "nsmkit/vsock_net.h"

static void fail(const char *what)
{
    fuzz_fail("fuzz_vsock_net", what);
}

/* The last path component of data[0..size) up to a NUL, as the parser sees it. */
static size_t last_component(const char *s, size_t size, size_t *start)
{
    const char *nul = memchr(s, '\0', size);
    size_t len = nul != NULL ? (size_t)(nul - s) : size;
    size_t b = len;
    while (b > 0 && s[b - 1] != '/')
        b--;
    *start = b;
    return len - b;
}

static void check_name(const char *s, size_t size, int peer)
{
    uint32_t cid = 0, port = 0;
    int rc = peer ? nsmvsock_peer_name_parse(s, size, &cid, &port)
                  : nsmvsock_listener_name_parse(s, size, &cid, &port);
    if (rc != 0)
        return;
    char back[64];
    int n = snprintf(back, sizeof(back), peer ? "%u.%u.peer" : "%u.%u", cid, port);
    size_t start, len = last_component(s, size, &start);
    if (n < 0 || (size_t)n != len || memcmp(back, s + start, len) != 0)
        fail("an accepted name does not print back to itself");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_name(s, size, 1);
    check_name(s, size, 0);
    uint32_t n = 0;
    if (nsmvsock_ok_line_parse(s, size, &n) == 0) {
        char back[NSMVSOCK_LINE_MAX + 1];
        int len = snprintf(back, sizeof(back), "OK %u\n", n);
        if (len < 0 || (size_t)len != size || memcmp(back, s, size) != 0)
            fail("an accepted OK line does not print back to itself");
    }
    return 0;
}
