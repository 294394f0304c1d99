/* SPDX-License-Identifier: Apache-2.0 */
/* The subcommands of nsm-vsock (nsm-vsock.c dispatches; each returns the exit code:
 * 0 ok, 1 a refused input, 2 usage or I/O errors). */
#ifndef NSMKIT_VSOCK_COMMANDS_H
#define NSMKIT_VSOCK_COMMANDS_H

#include "nsmkit/opts.h"

/* Each takes its own name in argv[0] and its arguments after it. */
int nsmvsock_cmd_exec(int argc, char **argv);
int nsmvsock_cmd_proxy(int argc, char **argv);
int nsmvsock_cmd_heartbeat(int argc, char **argv);

/* Parses a subcommand's arguments (argv[1..argc), argv[0] its name) with its table: -1 to
 * go on with the operands in argv[1..1+*operands) (argv[1+*operands] NULL), else the exit
 * status (0 after --help/--version, 2 a usage error, said on stderr). */
int nsmvsock_parse(const nsmkit_cli *cli, int argc, char **argv, void *ctx, int *operands);
/* "PROGRAM: problem" and the usage on stderr; returns 2. */
int nsmvsock_usage(const nsmkit_cli *cli, const char *problem);

/* Prints "nsm-vsock <cmd>: NUMBER NAME: message" on stderr; returns 2. */
int nsmvsock_report(const char *cmd, int code, const char *msg);

#endif /* NSMKIT_VSOCK_COMMANDS_H */
