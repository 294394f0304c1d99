/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: command lines from tables. A program describes its options as rows; one
 * parser reads every command line (`--name VALUE`, `--name=VALUE`, flags, `--` and
 * operands), and the `--help` text is generated from the same rows, so a new flag is one
 * row. Every table answers `--help` (and -h) with the help on stdout and `--version`
 * with the version, both for exit status 0.
 *
 *   typedef struct { const char *socket; bool quiet; uint64_t n; } my_args;
 *   static int set_n(void *ctx, const char *value, nsmkit_error *e) { ... }
 *   static const nsmkit_opt my_rows[] = {
 *       NSMKIT_OPT_STRING("--socket", "PATH", my_args, socket, "the server's socket"),
 *       NSMKIT_OPT_FLAG("--quiet", my_args, quiet, "say nothing"),
 *       NSMKIT_OPT_CALL("--count", "N", set_n, "how many"),
 *   };
 *   static const nsmkit_opt_group my_groups[] = {{NULL, my_rows, NSMKIT_ROWS(my_rows)}};
 *   static const nsmkit_cli my_cli = {"prog sub", "--socket PATH [--quiet] [FILE]",
 *                                     "What it does.", my_groups, 1, false};
 *   ...
 *   int n = argc;
 *   int r = nsmkit_opts_parse(&my_cli, &n, argv, &args, &e);
 *   // r: NSMKIT_OPTS_RUN (operands now argv[0..n)), NSMKIT_OPTS_DONE (--help or
 *   // --version printed: exit 0), NSMKIT_OPTS_USAGE / NSMKIT_OPTS_BAD_VALUE (e says why)
 *
 * Setters are called in command-line order, once per occurrence (a CALL row is how an
 * option repeats); strings are borrowed from argv. A table's own "--version" row replaces
 * the built-in one (an option that names a version); --help cannot be replaced.
 */
#ifndef NSMKIT_OPTS_H
#define NSMKIT_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "nsmkit/error.h"
#include "nsmkit/version.h"

/* Called with the command's context and the option's value (NULL for a flag); returns 0,
 * or -1 with a message in e when the value is bad. */
typedef int (*nsmkit_opt_set_fn)(void *ctx, const char *value, nsmkit_error *e);

typedef enum { NSMKIT_OPT_KIND_CALL, NSMKIT_OPT_KIND_STRING, NSMKIT_OPT_KIND_FLAG } nsmkit_opt_kind;

typedef struct {
    const char *name;     /* "--socket", or a short "-o" */
    const char *arg;      /* "PATH" in the help; NULL: a flag (no value) */
    const char *help;     /* one line; '\n' continues it on the next, indented */
    nsmkit_opt_kind kind;
    nsmkit_opt_set_fn set; /* KIND_CALL */
    size_t offset;         /* KIND_STRING (const char *) and KIND_FLAG (bool) in the context */
} nsmkit_opt;

#define NSMKIT_OPT_CALL(name, arg, fn, help) {(name), (arg), (help), NSMKIT_OPT_KIND_CALL, (fn), 0}
#define NSMKIT_OPT_STRING(name, arg, type, field, help)                                       \
    {(name), (arg), (help), NSMKIT_OPT_KIND_STRING, NULL, offsetof(type, field)}
#define NSMKIT_OPT_FLAG(name, type, field, help)                                              \
    {(name), NULL, (help), NSMKIT_OPT_KIND_FLAG, NULL, offsetof(type, field)}
#define NSMKIT_ROWS(rows) (sizeof(rows) / sizeof((rows)[0]))

typedef struct {
    const char *title; /* "state options"; NULL: "options" */
    const nsmkit_opt *rows;
    size_t count;
} nsmkit_opt_group;

typedef struct {
    const char *program;   /* "nsm-sim attest" */
    const char *synopsis;  /* after the program name in the usage line; '\n' starts another */
    const char *about;     /* a paragraph after the usage; NULL: none */
    const nsmkit_opt_group *groups;
    size_t group_count;
    bool stop_at_operand;  /* the first operand ends the options (a COMMAND and its own) */
    const char *epilogue;  /* text after the options; NULL: none */
} nsmkit_cli;

enum {
    NSMKIT_OPTS_RUN = 0,        /* parsed: run the command */
    NSMKIT_OPTS_DONE = 1,       /* --help or --version was printed: exit 0 */
    NSMKIT_OPTS_USAGE = -1,     /* an unknown option or a missing value */
    NSMKIT_OPTS_BAD_VALUE = -2, /* a setter refused a value */
};

/* Parses argv[0..*argc) (the arguments after the program or subcommand name). On
 * NSMKIT_OPTS_RUN the operands are moved to argv[0..*argc), in order, and argv[*argc]
 * becomes NULL (argv must have its NULL at the old argv[*argc], as main's has). */
int nsmkit_opts_parse(const nsmkit_cli *cli, int *argc, char **argv, void *ctx,
                      nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* The whole help: usage line(s), about, every group's rows, --help and --version. */
void nsmkit_opts_help(const nsmkit_cli *cli, FILE *out);
/* "usage: PROGRAM SYNOPSIS" line(s) and "Try 'PROGRAM --help'.", for errors. */
void nsmkit_opts_usage(const nsmkit_cli *cli, FILE *out);
/* "PROGRAM (nsmkit) VERSION" */
void nsmkit_opts_version(const char *program, FILE *out);
/* True when args hold --help/-h or --version before any "--": for programs that look
 * before dispatching. */
bool nsmkit_opts_wants_help(int argc, char **argv);

#endif /* NSMKIT_OPTS_H */
