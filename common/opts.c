/* SPDX-License-Identifier: Apache-2.0 */
/* Command lines from tables (nsmkit/opts.h): one parser, and the help from the same rows. */
#include <string.h>

#include "nsmkit/opts.h"

#define HELP_COLUMN 28

static const nsmkit_opt *row_named(const nsmkit_cli *cli, const char *name, size_t len)
{
    for (size_t g = 0; g < cli->group_count; g++)
        for (size_t r = 0; r < cli->groups[g].count; r++) {
            const nsmkit_opt *row = &cli->groups[g].rows[r];
            if (strlen(row->name) == len && strncmp(row->name, name, len) == 0)
                return row;
        }
    return NULL;
}

static int apply(const nsmkit_opt *row, void *ctx, const char *value, nsmkit_error *e)
{
    switch (row->kind) {
    case NSMKIT_OPT_KIND_STRING:
        memcpy((char *)ctx + row->offset, &value, sizeof(value));
        return 0;
    case NSMKIT_OPT_KIND_FLAG: {
        bool yes = true;
        memcpy((char *)ctx + row->offset, &yes, sizeof(yes));
        return 0;
    }
    case NSMKIT_OPT_KIND_CALL:
        break;
    }
    if (row->set(ctx, value, e) == 0)
        return 0;
    return -1;
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

bool nsmkit_opts_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (is_help(argv[i]) || strcmp(argv[i], "--version") == 0)
            return true;
    return false;
}

/* One option at argv[*i] (which starts with '-'); advances *i past what it used. */
static int one_option(const nsmkit_cli *cli, int argc, char **argv, int *i, void *ctx,
                      nsmkit_error *e)
{
    const char *arg = argv[*i];
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
    const nsmkit_opt *row = row_named(cli, arg, name_len);
    if (!row) {
        nsmkit_fail(e, "unknown option %.*s", (int)name_len, arg);
        return NSMKIT_OPTS_USAGE;
    }
    const char *value = NULL;
    if (row->arg && eq) {
        value = eq + 1;
        *i += 1;
    } else if (row->arg) {
        if (*i + 1 >= argc) {
            nsmkit_fail(e, "%s needs a value (%s)", row->name, row->arg);
            return NSMKIT_OPTS_USAGE;
        }
        value = argv[*i + 1];
        *i += 2;
    } else if (eq) {
        nsmkit_fail(e, "%s takes no value", row->name);
        return NSMKIT_OPTS_USAGE;
    } else {
        *i += 1;
    }
    return apply(row, ctx, value, e) == 0 ? NSMKIT_OPTS_RUN : NSMKIT_OPTS_BAD_VALUE;
}

int nsmkit_opts_parse(const nsmkit_cli *cli, int *argc, char **argv, void *ctx, nsmkit_error *e)
{
    int n = *argc, operands = 0, i = 0;
    while (i < n) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0') { /* an operand ("-" is one: stdin/stdout) */
            if (cli->stop_at_operand)
                break;
            argv[operands++] = argv[i++];
            continue;
        }
        if (is_help(arg)) {
            nsmkit_opts_help(cli, stdout);
            return NSMKIT_OPTS_DONE;
        }
        /* a table may own "--version" (nsm-eif build's image version takes a value) */
        if (strcmp(arg, "--version") == 0 && !row_named(cli, arg, strlen(arg))) {
            nsmkit_opts_version(cli->program, stdout);
            return NSMKIT_OPTS_DONE;
        }
        int r = one_option(cli, n, argv, &i, ctx, e);
        if (r != NSMKIT_OPTS_RUN)
            return r;
    }
    while (i < n)
        argv[operands++] = argv[i++];
    if (operands < n) /* a COMMAND given to exec ends where argv ended: at a NULL */
        argv[operands] = NULL;
    *argc = operands;
    return NSMKIT_OPTS_RUN;
}

static void print_synopsis(const nsmkit_cli *cli, FILE *out)
{
    const char *s = cli->synopsis ? cli->synopsis : "";
    size_t indent = strlen("usage: ") + strlen(cli->program) + 1;
    fprintf(out, "usage: %s%s", cli->program, *s ? " " : ""); /* "list": no operands */
    for (; *s; s++) {
        fputc(*s, out);
        if (*s == '\n')
            fprintf(out, "%*s", (int)indent, "");
    }
    fputc('\n', out);
}

void nsmkit_opts_usage(const nsmkit_cli *cli, FILE *out)
{
    print_synopsis(cli, out);
    fprintf(out, "Try '%s --help'.\n", cli->program);
}

/* "  --name ARG" padded to the help column, then the help with its continuation lines
 * indented to that column. */
static void print_row(const char *name, const char *arg, const char *help, FILE *out)
{
    int used = fprintf(out, "  %s%s%s", name, arg ? " " : "", arg ? arg : "");
    if (used >= HELP_COLUMN)
        fprintf(out, "\n%*s", HELP_COLUMN, "");
    else
        fprintf(out, "%*s", HELP_COLUMN - used, "");
    for (const char *h = help ? help : ""; *h; h++) {
        fputc(*h, out);
        if (*h == '\n')
            fprintf(out, "%*s", HELP_COLUMN, "");
    }
    fputc('\n', out);
}

void nsmkit_opts_help(const nsmkit_cli *cli, FILE *out)
{
    print_synopsis(cli, out);
    if (cli->about)
        fprintf(out, "\n%s\n", cli->about);
    for (size_t g = 0; g < cli->group_count; g++) {
        const nsmkit_opt_group *group = &cli->groups[g];
        if (group->count == 0)
            continue;
        fprintf(out, "\n%s:\n", group->title ? group->title : "options");
        for (size_t r = 0; r < group->count; r++)
            print_row(group->rows[r].name, group->rows[r].arg, group->rows[r].help, out);
    }
    fputc('\n', out);
    print_row("--help", NULL, "print this help and exit", out);
    print_row("--version", NULL, "print the version and exit", out);
    if (cli->epilogue)
        fprintf(out, "\n%s\n", cli->epilogue);
}

void nsmkit_opts_version(const char *program, FILE *out)
{
    fprintf(out, "%s (nsmkit) %s\n", program, NSMKIT_VERSION);
}
