/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-sim commands: `serve` and `exec` (main.c dispatches to them).
 *
 * Internal to nsm-sim's front-ends (not installed).
 */
#ifndef NSMSIM_COMMANDS_H
#define NSMSIM_COMMANDS_H


/* `nsm-sim serve` and `nsm-sim exec`; argv holds the arguments after the subcommand's name
 * (as for attest). They return the process exit status. */
int nsmsim_cmd_serve(int argc, char **argv);
int nsmsim_cmd_exec(int argc, char **argv);

/* The AddressSanitizer runtime this process runs with, or NULL: a sanitized shim needs it
 * preloaded first in every process it goes into. */
const char *nsmsim_sanitizer_runtime(void);

#endif /* NSMSIM_COMMANDS_H */
