/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-sim options from the environment: the embedded core's state options (shim, libnsm).
 *
 * Internal to nsm-sim's front-ends (not installed).
 */
#ifndef NSMSIM_ENVOPTS_H
#define NSMSIM_ENVOPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "nsmkit/error.h"
#include "nsmkit/sim.h"

/* The state options the embedded core reads from the environment (shim and libnsm):
 *   NSM_SIM_CA=DIR  NSM_SIM_TIME=UNIX_MS  NSM_SIM_PCR=I=HEX[,I=HEX]...
 *   NSM_SIM_MEASUREMENTS=FILE  NSM_SIM_DEBUG_MODE=1  NSM_SIM_MAP=definite|indefinite
 * Each is parsed by nsmsim_options_parse_arg as the matching command-line option. Strings
 * are copied into storage, which must outlive options (nsmsim_env_storage_free). */
typedef struct {
    char **strings;
    size_t count;
} nsmsim_env_storage;

int nsmsim_options_from_env(nsmsim_options *options, nsmsim_env_storage *storage,
                            nsmkit_error *e) NSMKIT_WARN_UNUSED;
void nsmsim_env_storage_free(nsmsim_env_storage *storage);

/* True when an environment variable is set to something other than "", "0" or "no". */
bool nsmsim_env_flag(const char *name);

#endif /* NSMSIM_ENVOPTS_H */
