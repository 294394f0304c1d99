/* SPDX-License-Identifier: Apache-2.0 */
/* The vsock-proxy allowlist (vsock/allowlist.c): nitro-cli's YAML, bounded, and its rule. */
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "../vsock/allowlist.h"
#include "testutil.h"

static int parse(const char *text, vsallow *a, nsmkit_error *e)
{
    return vsallow_parse(text, strlen(text), a, e);
}

static void nitro_cli_format_parses(void **state)
{
    (void)state;
    vsallow a;
    nsmkit_error e;
    const char *yaml = "allowlist:\n"
                       "- {address: kms.us-east-1.amazonaws.com, port: 443}\n"
                       "- address: 127.0.0.1\n  port: 8000\n"
                       "other: ignored\n";
    assert_int_equal(parse(yaml, &a, &e), 0);
    assert_int_equal(a.count, 2);
    assert_string_equal(a.entries[0].address, "kms.us-east-1.amazonaws.com");
    assert_int_equal(a.entries[0].port, 443);
    assert_int_equal(a.entries[1].port, 8000);
    vsallow_free(&a);
    assert_int_equal(parse("allowlist: []\n", &a, &e), 0);
    assert_int_equal(a.count, 0);
    vsallow_free(&a);
}

static void bad_files_say_what_is_wrong(void **state)
{
    (void)state;
    vsallow a;
    nsmkit_error e;
    struct {
        const char *yaml, *msg;
    } cases[] = {
        {"other: 1\n", "no 'allowlist'"},
        {"allowlist: {address: a}\n", "not a list"},
        {"allowlist: [1]\n", "entry 1 is not a mapping"},
        {"allowlist: [{port: 1}]\n", "entry 1: no address"},
        {"allowlist: [{address: a, port: 1}, {address: b}]\n", "entry 2: no port"},
        {"allowlist: [{address: a, port: 0}]\n", "from 1 to 65535"},
        {"allowlist: [{address: a, port: 65536}]\n", "from 1 to 65535"},
        {"allowlist: [{address: a, port: -1}]\n", "from 1 to 65535"},
        {"allowlist: [{address: a, port: 1x}]\n", "from 1 to 65535"},
        {"allowlist: [{address: [a], port: 1}]\n", "no address"},
        {"allowlist: [\n", "not YAML"},
        {"", "no 'allowlist'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(parse(cases[i].yaml, &a, &e), -1);
        if (strstr(e.msg, cases[i].msg) == NULL)
            fail_msg("case %zu: '%s' does not say '%s'", i, e.msg, cases[i].msg);
        assert_null(a.entries);
    }
    char *big = calloc(1, VSALLOW_MAX_BYTES + 2);
    memset(big, ' ', VSALLOW_MAX_BYTES + 1);
    assert_int_equal(vsallow_parse(big, VSALLOW_MAX_BYTES + 1, &a, &e), -1);
    assert_non_null(strstr(e.msg, "longer than"));
    free(big);
    assert_int_equal(vsallow_load("/nonexistent/allow.yaml", &a, &e), -1);
}

/* libyaml's time is quadratic in the nesting: deep input is refused after a linear pass. */
static void deep_nesting_is_refused_quickly(void **state)
{
    (void)state;
    vsallow a;
    nsmkit_error e;
    size_t n = VSALLOW_MAX_BYTES - 16;
    char *deep = malloc(n + 1);
    memcpy(deep, "allowlist: ", 11);
    memset(deep + 11, '[', n - 11);
    deep[n] = '\0';
    assert_int_equal(vsallow_parse(deep, n, &a, &e), -1);
    assert_non_null(strstr(e.msg, "nested deeper than"));
    free(deep);
    assert_int_equal(parse("allowlist: [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]\n", &a, &e), -1);
    assert_non_null(strstr(e.msg, "nested deeper than 16"));
}

static void the_rule_is_port_then_name_then_address(void **state)
{
    (void)state;
    vsallow a;
    nsmkit_error e;
    assert_int_equal(parse("allowlist:\n- {address: localhost, port: 8000}\n- {address: kms.example, port: 443}\n", &a,
                           &e),
                     0);
    struct sockaddr_in lo = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr);
    struct sockaddr_in other = {.sin_family = AF_INET};
    inet_pton(AF_INET, "192.0.2.1", &other.sin_addr);
    const struct sockaddr *lop = (const struct sockaddr *)&lo, *otherp = (const struct sockaddr *)&other;
    assert_int_equal(vsallow_permits(&a, "127.0.0.1", 8000, lop, sizeof(lo)), 1);   /* localhost resolves to it */
    assert_int_equal(vsallow_permits(&a, "127.0.0.1", 8001, lop, sizeof(lo)), 0);   /* wrong port */
    assert_int_equal(vsallow_permits(&a, "kms.example", 443, otherp, sizeof(other)), 1); /* the name itself */
    assert_int_equal(vsallow_permits(&a, "192.0.2.1", 443, otherp, sizeof(other)), 0);
    vsallow_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nitro_cli_format_parses),
        cmocka_unit_test(bad_files_say_what_is_wrong),
        cmocka_unit_test(the_rule_is_port_then_name_then_address),
        cmocka_unit_test(deep_nesting_is_refused_quickly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
