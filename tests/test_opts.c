/* SPDX-License-Identifier: Apache-2.0 */
/* Command lines from tables (nsmkit/opts.h): the forms of an option, operands, the errors,
 * --help generated from the rows, --version. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsmkit/opts.h"
#include "testutil.h"

typedef struct {
    const char *name;
    bool quiet;
    int count;
    int calls;
} args;

static int set_count(void *ctx, const char *value, nsmkit_error *e)
{
    args *a = ctx;
    a->calls++;
    if (strcmp(value, "bad") == 0)
        return nsmkit_fail(e, "--count wants a number, not '%s'", value);
    a->count = atoi(value);
    return 0;
}

static const nsmkit_opt rows[] = {
    NSMKIT_OPT_STRING("--name", "NAME", args, name, "who\nacross two lines"),
    NSMKIT_OPT_FLAG("--quiet", args, quiet, "say nothing"),
    NSMKIT_OPT_CALL("--count", "N", set_count, "how many"),
    NSMKIT_OPT_STRING("-o", "FILE", args, name, "a short one"),
};
static const nsmkit_opt_group groups[] = {{"things", rows, NSMKIT_ROWS(rows)}};
static const nsmkit_cli cli = {"prog sub", "[--quiet] FILE...", "About it.", groups, 1, false,
                               "The end."};
static const nsmkit_cli cli_command = {"prog exec", "[--quiet] COMMAND [ARGS]", NULL, groups, 1,
                                       true, NULL};

/* Parses a NULL-terminated list; returns the parser's answer. */
static int parse(const nsmkit_cli *c, char **argv, args *a, int *n, nsmkit_error *e)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    *n = argc;
    memset(a, 0, sizeof(*a));
    return nsmkit_opts_parse(c, n, argv, a, e);
}

static void options_in_every_form(void **state)
{
    (void)state;
    char *argv[] = {"one", "--name", "x", "--quiet", "two", "--count=7", "--", "--three", NULL};
    args a;
    int n;
    nsmkit_error e;
    assert_int_equal(parse(&cli, argv, &a, &n, &e), NSMKIT_OPTS_RUN);
    assert_string_equal(a.name, "x");
    assert_true(a.quiet);
    assert_int_equal(a.count, 7);
    assert_int_equal(n, 3); /* the operands, in order, "--three" after -- among them */
    assert_string_equal(argv[0], "one");
    assert_string_equal(argv[1], "two");
    assert_string_equal(argv[2], "--three");
    assert_null(argv[3]);
    char *argv2[] = {"--name=", "-o", "f", "-", NULL}; /* an empty value; "-" is an operand */
    assert_int_equal(parse(&cli, argv2, &a, &n, &e), NSMKIT_OPTS_RUN);
    assert_string_equal(a.name, "f");
    assert_int_equal(n, 1);
    assert_string_equal(argv2[0], "-");
}

static void a_command_ends_the_options(void **state)
{
    (void)state;
    char *argv[] = {"--quiet", "cmd", "--name", "y", NULL};
    args a;
    int n;
    nsmkit_error e;
    assert_int_equal(parse(&cli_command, argv, &a, &n, &e), NSMKIT_OPTS_RUN);
    assert_true(a.quiet);
    assert_null(a.name); /* COMMAND's own --name */
    assert_int_equal(n, 3);
    assert_string_equal(argv[0], "cmd");
    assert_string_equal(argv[1], "--name");
    assert_null(argv[3]);
}

static void errors_name_the_option(void **state)
{
    (void)state;
    args a;
    int n;
    nsmkit_error e;
    char *unknown[] = {"--colour", "red", NULL};
    assert_int_equal(parse(&cli, unknown, &a, &n, &e), NSMKIT_OPTS_USAGE);
    assert_string_equal(e.msg, "unknown option --colour");
    char *missing[] = {"--count", NULL};
    assert_int_equal(parse(&cli, missing, &a, &n, &e), NSMKIT_OPTS_USAGE);
    assert_string_equal(e.msg, "--count needs a value (N)");
    char *bad[] = {"--count", "bad", NULL};
    assert_int_equal(parse(&cli, bad, &a, &n, &e), NSMKIT_OPTS_BAD_VALUE);
    assert_string_equal(e.msg, "--count wants a number, not 'bad'");
    char *flag_value[] = {"--quiet=yes", NULL};
    assert_int_equal(parse(&cli, flag_value, &a, &n, &e), NSMKIT_OPTS_USAGE);
    assert_string_equal(e.msg, "--quiet takes no value");
    char *prefix[] = {"--nam", "x", NULL}; /* no abbreviations: a new row never breaks one */
    assert_int_equal(parse(&cli, prefix, &a, &n, &e), NSMKIT_OPTS_USAGE);
}

/* Runs the parser with stdout in a file; returns what it printed (caller frees). */
static char *printed(const nsmkit_cli *c, char *opt, int *r)
{
    char *argv[] = {"--count", "1", opt, "--colour", NULL};
    args a;
    int n;
    nsmkit_error e;
    char path[] = "/tmp/nsmkit-opts-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    FILE *saved = stdout;
    stdout = fdopen(fd, "w+");
    *r = parse(c, argv, &a, &n, &e);
    fflush(stdout);
    size_t len = 0;
    uint8_t *text = test_read_file(path, &len);
    fclose(stdout);
    stdout = saved;
    unlink(path);
    char *s = malloc(len + 1);
    memcpy(s, text, len);
    s[len] = '\0';
    free(text);
    return s;
}

static void help_and_version_come_from_the_table(void **state)
{
    (void)state;
    int r;
    char *help = printed(&cli, "--help", &r);
    assert_int_equal(r, NSMKIT_OPTS_DONE); /* before the unknown option after it */
    assert_non_null(strstr(help, "usage: prog sub [--quiet] FILE...\n"));
    assert_non_null(strstr(help, "About it."));
    assert_non_null(strstr(help, "things:\n"));
    assert_non_null(strstr(help, "  --name NAME               who\n"
                                 "                            across two lines\n"));
    assert_non_null(strstr(help, "  --count N                 how many\n"));
    assert_non_null(strstr(help, "  -o FILE"));
    assert_non_null(strstr(help, "  --help                    print this help and exit\n"));
    assert_non_null(strstr(help, "  --version"));
    assert_non_null(strstr(help, "The end."));
    free(help);
    char *h = printed(&cli, "-h", &r);
    assert_int_equal(r, NSMKIT_OPTS_DONE);
    free(h);
    char *version = printed(&cli, "--version", &r);
    assert_int_equal(r, NSMKIT_OPTS_DONE);
    assert_string_equal(version, "prog sub (nsmkit) " NSMKIT_VERSION "\n");
    free(version);
}

typedef struct {
    const char *version;
    int seen;
} version_args;

static int count_seen(void *ctx, const char *value, nsmkit_error *e)
{
    (void)value;
    (void)e;
    ((version_args *)ctx)->seen++;
    return 0;
}

static const nsmkit_opt version_rows[] = {
    NSMKIT_OPT_STRING("--version", "V", version_args, version, "the image's version"),
    NSMKIT_OPT_CALL("--again", "X", count_seen, "repeats"),
};
static const nsmkit_opt_group version_groups[] = {
    {NULL, version_rows, NSMKIT_ROWS(version_rows)}};
static const nsmkit_cli version_cli = {"prog build", "[--version V]", NULL, version_groups, 1,
                                       false, NULL};

/* A row named --version takes its value instead of printing the version; a CALL row
 * repeats, once per occurrence. */
static void a_table_may_own_version(void **state)
{
    (void)state;
    char *argv[] = {"--again", "a", "--version", "2.0", "--again=b", "file", NULL};
    version_args a = {0};
    int n = 6;
    nsmkit_error e;
    assert_int_equal(nsmkit_opts_parse(&version_cli, &n, argv, &a, &e), NSMKIT_OPTS_RUN);
    assert_string_equal(a.version, "2.0");
    assert_int_equal(a.seen, 2);
    assert_int_equal(n, 1);
    assert_string_equal(argv[0], "file");
    char *alone[] = {"--version", NULL};
    n = 1;
    assert_int_equal(nsmkit_opts_parse(&version_cli, &n, alone, &a, &e), NSMKIT_OPTS_USAGE);
    assert_non_null(strstr(e.msg, "--version needs a value"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options_in_every_form),
        cmocka_unit_test(a_command_ends_the_options),
        cmocka_unit_test(errors_name_the_option),
        cmocka_unit_test(help_and_version_come_from_the_table),
        cmocka_unit_test(a_table_may_own_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
