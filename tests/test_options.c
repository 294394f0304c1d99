/* SPDX-License-Identifier: Apache-2.0 */
/* The shared state options: --pcr, --measurements, --time, --map and friends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsmkit/fault.h"
#include "nsmkit/sim.h"
#include "testutil.h"
#include "nsmkit/error.h"
#include "nsmkit/file.h"

static char pcr_hex[97];

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < 48; i++)
        snprintf(pcr_hex + 2 * i, 3, "%02x", i);
    return 0;
}

static void set_pcr_accepts_boot_pcrs_only(void **state)
{
    (void)state;
    nsmsim_options o;
    nsmsim_options_init(&o);
    nsmkit_error e;
    char arg[200];
    snprintf(arg, sizeof(arg), "15=%s", pcr_hex);
    assert_int_equal(nsmsim_options_set_pcr(&o, arg, &e), 0);
    assert_int_equal(o.boot_pcrs_given, 1u << 15);
    assert_int_equal(o.boot_pcrs[15][47], 47);

    snprintf(arg, sizeof(arg), "16=%s", pcr_hex);
    assert_int_equal(nsmsim_options_set_pcr(&o, arg, &e), -1);
    assert_non_null(strstr(e.msg, "not a boot PCR"));
    assert_int_equal(nsmsim_options_set_pcr(&o, "1=00", &e), -1);
    assert_non_null(strstr(e.msg, "must be 48 bytes"));
    snprintf(arg, sizeof(arg), "1=%s00", pcr_hex);
    assert_int_equal(nsmsim_options_set_pcr(&o, arg, &e), -1);
    assert_non_null(strstr(e.msg, "limit of 48"));
    assert_int_equal(nsmsim_options_set_pcr(&o, "x=00", &e), -1);
    assert_non_null(strstr(e.msg, "not a PCR index"));
    assert_int_equal(nsmsim_options_set_pcr(&o, "00", &e), -1);
    assert_non_null(strstr(e.msg, "I=HEX"));
    assert_int_equal(nsmsim_options_set_pcr(&o, "2=zz", &e), -1);
    assert_non_null(strstr(e.msg, "not a hex digit"));
    assert_int_equal(o.boot_pcrs_given, 1u << 15); /* failures changed nothing */
}

static char *write_temp(const char *text)
{
    char *dir = test_mkdtemp();
    char *path = malloc(4200);
    snprintf(path, 4200, "%s/m.json", dir);
    nsmkit_error e;
    assert_int_equal(nsmkit_file_write(path, (const uint8_t *)text, strlen(text), 0644, &e), 0);
    free(dir);
    return path;
}

static void remove_temp(char *path)
{
    char *slash = strrchr(path, '/');
    *slash = '\0';
    test_rmdir(path);
    free(path);
}

static void measurements_from_nitro_cli_json(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof(text),
             "{\n  \"Measurements\": {\n    \"HashAlgorithm\": \"Sha384 { ... }\",\n"
             "    \"PCR0\": \"%s\",\n    \"PCR1\": \"%s\",\n    \"PCR2\": \"%s\",\n"
             "    \"PCR8\": \"%s\"\n  }\n}\n",
             pcr_hex, pcr_hex, pcr_hex, pcr_hex);
    char *path = write_temp(text);
    nsmsim_options o;
    nsmsim_options_init(&o);
    nsmkit_error e;
    assert_int_equal(nsmsim_options_load_measurements(&o, path, &e), 0);
    assert_int_equal(o.boot_pcrs_given, 0x107);
    remove_temp(path);
}

static void bad_measurement_files_are_named(void **state)
{
    (void)state;
    char pcr16[300], shortpcr[200];
    snprintf(pcr16, sizeof(pcr16), "{\"Measurements\": {\"PCR16\": \"%s\"}}", pcr_hex);
    snprintf(shortpcr, sizeof(shortpcr), "{\"Measurements\": {\"PCR0\": \"abcd\"}}");
    const struct {
        const char *text;
        const char *error;
    } cases[] = {
        {"{\"Measurements\": {\"PCR0\": ", "JSON: "},
        {"{\"Measurements\": {}}", "no \"Measurements\""},
        {"[]", "no \"Measurements\""},
        {pcr16, "not a boot PCR"},
        {shortpcr, "must be 48 bytes"},
        {"{\"Measurements\": {\"PCR0\": \"xyz\"}}", "odd number"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = write_temp(cases[i].text);
        nsmsim_options o;
        nsmsim_options_init(&o);
        nsmkit_error e;
        assert_int_equal(nsmsim_options_load_measurements(&o, path, &e), -1);
        if (!strstr(e.msg, cases[i].error) || !strstr(e.msg, "m.json"))
            fail_msg("case %zu: '%s' lacks '%s' or the file name", i, e.msg, cases[i].error);
        remove_temp(path);
    }
    nsmsim_options o;
    nsmsim_options_init(&o);
    nsmkit_error e;
    assert_int_equal(nsmsim_options_load_measurements(&o, "/nonexistent.json", &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent.json: cannot open"));
}

/* argv strings are borrowed by the options, so they live in static storage here. */
static int parse_one(nsmsim_options *o, const char *a, const char *b, int *i, nsmkit_error *e)
{
    static char args[16][128];
    static int next;
    char *argv[3] = {args[next % 16], b ? args[(next + 1) % 16] : NULL, NULL};
    snprintf(argv[0], 128, "%s", a);
    if (b)
        snprintf(argv[1], 128, "%s", b);
    next += 2;
    *i = 0;
    return nsmsim_options_parse_arg(o, b ? 2 : 1, argv, i, e);
}

static void parse_arg_takes_state_options(void **state)
{
    (void)state;
    nsmsim_options o;
    nsmsim_options_init(&o);
    nsmkit_error e;
    int i;
    assert_int_equal(parse_one(&o, "--ca", "dir", &i, &e), 1);
    assert_int_equal(i, 2);
    assert_string_equal(o.ca_dir, "dir");
    o.ca_dir = NULL;
    assert_int_equal(parse_one(&o, "--debug-mode", NULL, &i, &e), 1);
    assert_int_equal(i, 1);
    assert_true(o.debug_mode);
    /* one time unit in every program: Unix seconds, a fraction allowed (issue 23) */
    assert_int_equal(parse_one(&o, "--time", "1700000000", &i, &e), 1);
    assert_true(o.time_ms == 1700000000000ull);
    assert_int_equal(parse_one(&o, "--time", "1700000000.5", &i, &e), 1);
    assert_true(o.time_ms == 1700000000500ull);
    assert_int_equal(parse_one(&o, "--time", "1700000000.123456", &i, &e), 1);
    assert_true(o.time_ms == 1700000000123ull);
    assert_int_equal(parse_one(&o, "--map", "indefinite", &i, &e), 1);
    assert_int_equal(o.map, NSMSIM_MAP_INDEFINITE);
    assert_int_equal(parse_one(&o, "--map", "definite", &i, &e), 1);
    assert_int_equal(o.map, NSMSIM_MAP_DEFINITE);

    assert_int_equal(parse_one(&o, "--nonce", "00", &i, &e), 0); /* not a state option */
    assert_int_equal(i, 0);
    assert_int_equal(parse_one(&o, "--ca", NULL, &i, &e), -1);
    assert_non_null(strstr(e.msg, "--ca needs a value"));
    assert_int_equal(parse_one(&o, "--time", "soon", &i, &e), -1);
    assert_non_null(strstr(e.msg, "Unix seconds"));
    assert_int_equal(parse_one(&o, "--time", "0", &i, &e), -1);
    assert_int_equal(parse_one(&o, "--time", "1700000000.", &i, &e), -1);
    assert_int_equal(parse_one(&o, "--time", ".5", &i, &e), -1);
    assert_int_equal(parse_one(&o, "--time", "1700000000.5x", &i, &e), -1);
    assert_int_equal(parse_one(&o, "--time", "4294967296", &i, &e), -1);
    assert_int_equal(parse_one(&o, "--time", "4294967295.999", &i, &e), 1);
    /* milliseconds, the old unit, are refused with the seconds they meant */
    assert_int_equal(parse_one(&o, "--time", "1700000000123", &i, &e), -1);
    assert_non_null(strstr(e.msg, "not milliseconds"));
    assert_non_null(strstr(e.msg, "1700000000.123"));
    assert_int_equal(parse_one(&o, "--map", "sorted", &i, &e), -1);
    assert_non_null(strstr(e.msg, "definite or indefinite"));
    assert_int_equal(parse_one(&o, "--pcr", "99=00", &i, &e), -1);
}

/* Issue 14 probe: `--fault a --fault b` applied only b, silently. */
static void repeated_fault_is_refused(void **state)
{
    (void)state;
    nsmsim_options o;
    nsmsim_options_init(&o);
    nsmkit_error e;
    int i;
    assert_int_equal(parse_one(&o, "--fault", "sig_bit_flip", &i, &e), 1);
    assert_string_equal(o.faults, "sig_bit_flip");
    assert_int_equal(parse_one(&o, "--fault", "timestamp_zero", &i, &e), -1);
    assert_non_null(strstr(e.msg, "--fault given twice"));
    assert_string_equal(o.faults, "sig_bit_flip");
    nsmsim_options_init(&o);
    assert_int_equal(parse_one(&o, "--fault", "sig_bit_flip,timestamp_zero", &i, &e), 1);
    /* a list that ends with a comma forgot a class */
    nsmsim_options_init(&o);
    assert_int_equal(parse_one(&o, "--fault", "sig_bit_flip,", &i, &e), -1);
    assert_non_null(strstr(e.msg, "ends with a comma"));
    assert_null(o.faults);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_pcr_accepts_boot_pcrs_only),
        cmocka_unit_test(measurements_from_nitro_cli_json),
        cmocka_unit_test(bad_measurement_files_are_named),
        cmocka_unit_test(parse_arg_takes_state_options),
        cmocka_unit_test(repeated_fault_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
