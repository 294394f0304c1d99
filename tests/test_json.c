/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON walker used for nitro-cli measurement files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsmkit/error.h"
#include "nsmkit/json.h"
#include "testutil.h"

typedef struct {
    char seen[8][256];
    size_t count;
} collected;

static int collect(void *ctx, const char *const *keys, size_t depth, const char *value,
                   size_t value_len)
{
    collected *c = ctx;
    if (c->count < 8) {
        char path[64] = "";
        for (size_t i = 0; i < depth; i++) {
            strncat(path, keys[i], sizeof(path) - strlen(path) - 1);
            strncat(path, "/", sizeof(path) - strlen(path) - 1);
        }
        int shown = value_len > 100 ? 100 : (int)value_len;
        snprintf(c->seen[c->count++], sizeof(c->seen[0]), "%s=%.*s", path, shown, value);
    }
    return 0;
}

static int walk(const char *text, collected *c, nsmkit_error *e)
{
    memset(c, 0, sizeof(*c));
    return nsmkit_json_walk(text, strlen(text), collect, c, e);
}

static void walks_nitro_cli_output(void **state)
{
    (void)state;
    const char *text =
        "{\n  \"Measurements\": {\n    \"HashAlgorithm\": \"Sha384 { ... }\",\n"
        "    \"PCR0\": \"aa\",\n    \"PCR1\": \"bb\",\n    \"PCR2\": \"cc\"\n  },\n"
        "  \"n\": [1, -2.5e3, true, false, null, {\"x\": \"\\u00e9\\n\"}]\n}\n";
    collected c;
    nsmkit_error e;
    assert_int_equal(walk(text, &c, &e), 0);
    assert_int_equal(c.count, 5);
    assert_string_equal(c.seen[0], "Measurements/HashAlgorithm/=Sha384 { ... }");
    assert_string_equal(c.seen[1], "Measurements/PCR0/=aa");
    assert_string_equal(c.seen[3], "Measurements/PCR2/=cc");
    assert_string_equal(c.seen[4], "n/x/=\xc3\xa9\n");
}

static void refuses_malformed_json(void **state)
{
    (void)state;
    const char *bad[] = {
        "", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "\"open", "01", "1.", "1e",
        "{} {}", "tru", "{\"a\":\"\x01\"}", "\"\\x\"", "\"\\u12\"", "[1 2]", "{1:2}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        collected c;
        nsmkit_error e;
        if (walk(bad[i], &c, &e) != -1)
            fail_msg("accepted malformed JSON: '%s'", bad[i]);
        assert_non_null(strstr(e.msg, "JSON: "));
    }
}

static void deep_nesting_and_long_strings_are_bounded(void **state)
{
    (void)state;
    char deep[200];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    collected c;
    nsmkit_error e;
    assert_int_equal(walk(deep, &c, &e), -1);
    assert_non_null(strstr(e.msg, "too deep"));

    size_t n = 5000;
    char *longstr = malloc(n + 3);
    longstr[0] = '"';
    memset(longstr + 1, 'a', n);
    longstr[n + 1] = '"';
    longstr[n + 2] = '\0';
    assert_int_equal(walk(longstr, &c, &e), -1);
    assert_non_null(strstr(e.msg, "too long"));
    free(longstr);
}

static int stop_at_second(void *ctx, const char *const *keys, size_t depth,
                          const char *value, size_t value_len)
{
    (void)keys;
    (void)depth;
    (void)value;
    (void)value_len;
    return ++*(int *)ctx == 2 ? 42 : 0;
}

static void callback_can_stop_the_walk(void **state)
{
    (void)state;
    int calls = 0;
    const char *text = "[\"a\", \"b\", \"c\"]";
    assert_int_equal(nsmkit_json_walk(text, strlen(text), stop_at_second, &calls, NULL), 42);
    assert_int_equal(calls, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(walks_nitro_cli_output),
        cmocka_unit_test(refuses_malformed_json),
        cmocka_unit_test(deep_nesting_and_long_strings_are_bounded),
        cmocka_unit_test(callback_can_stop_the_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
