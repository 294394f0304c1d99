/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-eif: what its two source files share (the program's own, not the library's). */
#ifndef NSMKIT_NSM_EIF_H
#define NSMKIT_NSM_EIF_H

#include "nsmkit/opts.h"

/* Prints the program's usage to stderr; returns 2. */
int nsmeif_usage(void);
/* "PROGRAM: problem" and the command's usage on stderr; returns 2. */
int nsmeif_cli_usage(const nsmkit_cli *cli, const char *problem);
/* Parses a command's arguments (those after "nsm-eif COMMAND"): -1 to go on with the
 * operands in argv[0..*argc), else the exit status (0 after --help/--version, 2 a usage
 * error, said on stderr). */
int nsmeif_parse(const nsmkit_cli *cli, int *argc, char **argv, void *ctx);
/* Each takes the arguments after "nsm-eif COMMAND". */
int nsmeif_cmd_list(int argc, char **argv);
int nsmeif_cmd_corpus(int argc, char **argv);
int nsmeif_cmd_grade(int argc, char **argv);

#endif /* NSMKIT_NSM_EIF_H */
