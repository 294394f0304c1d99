/* SPDX-License-Identifier: Apache-2.0 */
/* The seccomp supervisor of `nsm-vsock exec --mode seccomp` (supervise.c). */
#ifndef NSMKIT_VSOCK_SUPERVISE_H
#define NSMKIT_VSOCK_SUPERVISE_H

#include <sys/types.h>

#include "emu.h"

/* Answers the notifications of listener (the filter of filter.c) for child and everything
 * it starts, until child exits; forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to it.
 * Returns the exit code for child's status (128+N for a signal N), or 2. */
int vssup_run(vsemu *emu, int listener, pid_t child);

#endif /* NSMKIT_VSOCK_SUPERVISE_H */
