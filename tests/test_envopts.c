/* SPDX-License-Identifier: Apache-2.0 */
/* The embedded core's state options from the environment (frontends/transports/envopts.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../frontends/transports/envopts.h"
#include "testutil.h"
#include "nsmkit/error.h"
#include "nsmkit/sim.h"

static const char *const variables[] = {"NSM_SIM_CA", "NSM_SIM_TIME", "NSM_SIM_PCR",
                                        "NSM_SIM_MEASUREMENTS", "NSM_SIM_DEBUG_MODE",
                                        "NSM_SIM_MAP"};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(variables) / sizeof(variables[0]); i++)
        unsetenv(variables[i]);
    return 0;
}

static void nothing_set_changes_nothing(void **state)
{
    (void)state;
    nsmsim_options a, b;
    nsmsim_env_storage st;
    nsmkit_error e;
    nsmsim_options_init(&a);
    nsmsim_options_init(&b);
    assert_int_equal(nsmsim_options_from_env(&a, &st, &e), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(st.count, 0);
    nsmsim_env_storage_free(&st);
}

static void every_variable(void **state)
{
    (void)state;
    char pcrs[300];
    char hex0[97], hex5[97];
    memset(hex0, 'a', 96);
    memset(hex5, '5', 96);
    hex0[96] = hex5[96] = '\0';
    snprintf(pcrs, sizeof(pcrs), "0=%s, 5=%s", hex0, hex5);
    setenv("NSM_SIM_CA", "/some/ca", 1);
    setenv("NSM_SIM_TIME", "1790000000.123", 1); /* Unix seconds, as --time */
    setenv("NSM_SIM_PCR", pcrs, 1);
    setenv("NSM_SIM_MAP", "indefinite", 1);
    nsmsim_options o;
    nsmsim_env_storage st;
    nsmkit_error e;
    nsmsim_options_init(&o);
    if (nsmsim_options_from_env(&o, &st, &e) != 0)
        fail_msg("%s", e.msg);
    assert_string_equal(o.ca_dir, "/some/ca");
    assert_int_equal(o.time_ms, 1790000000123ull);
    assert_int_equal(o.map, NSMSIM_MAP_INDEFINITE);
    assert_int_equal(o.boot_pcrs_given, (1u << 0) | (1u << 5));
    assert_int_equal(o.boot_pcrs[0][0], 0xaa);
    assert_int_equal(o.boot_pcrs[5][47], 0x55);
    assert_false(o.debug_mode);
    /* the strings are copies: changing the environment does not change the options */
    setenv("NSM_SIM_CA", "/other", 1);
    assert_string_equal(o.ca_dir, "/some/ca");
    nsmsim_env_storage_free(&st);
    assert_null(st.strings);

    clear_env(NULL);
    setenv("NSM_SIM_DEBUG_MODE", "1", 1);
    nsmsim_options_init(&o);
    assert_int_equal(nsmsim_options_from_env(&o, &st, &e), 0);
    assert_true(o.debug_mode);
    nsmsim_env_storage_free(&st);
    setenv("NSM_SIM_DEBUG_MODE", "0", 1);
    nsmsim_options_init(&o);
    assert_int_equal(nsmsim_options_from_env(&o, &st, &e), 0);
    assert_false(o.debug_mode);
    nsmsim_env_storage_free(&st);
}

static void bad_values_say_so(void **state)
{
    (void)state;
    nsmsim_options o;
    nsmsim_env_storage st;
    nsmkit_error e;
    const char *cases[][2] = {
        {"NSM_SIM_TIME", "soon"},
        {"NSM_SIM_MAP", "sideways"},
        {"NSM_SIM_PCR", "16=00"},
        {"NSM_SIM_PCR", "0=zz"},
        {"NSM_SIM_MEASUREMENTS", "/nonexistent/measurements.json"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        clear_env(NULL);
        setenv(cases[i][0], cases[i][1], 1);
        nsmsim_options_init(&o);
        e.msg[0] = '\0';
        assert_int_equal(nsmsim_options_from_env(&o, &st, &e), -1);
        assert_true(strncmp(e.msg, "environment: ", 13) == 0);
        assert_true(strlen(e.msg) > 13);
        assert_null(st.strings);
    }
}

static void flags(void **state)
{
    (void)state;
    unsetenv("NSMKIT_TEST_FLAG");
    assert_false(nsmsim_env_flag("NSMKIT_TEST_FLAG"));
    const char *no[] = {"", "0", "no"}, *yes[] = {"1", "yes", "true"};
    for (int i = 0; i < 3; i++) {
        setenv("NSMKIT_TEST_FLAG", no[i], 1);
        assert_false(nsmsim_env_flag("NSMKIT_TEST_FLAG"));
        setenv("NSMKIT_TEST_FLAG", yes[i], 1);
        assert_true(nsmsim_env_flag("NSMKIT_TEST_FLAG"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(nothing_set_changes_nothing, clear_env),
        cmocka_unit_test_setup(every_variable, clear_env),
        cmocka_unit_test_setup(bad_values_say_so, clear_env),
        cmocka_unit_test(flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
