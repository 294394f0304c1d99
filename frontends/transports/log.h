/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-sim logging: one line per event on stderr, written whole.
 *
 * Internal to nsm-sim's front-ends (not installed).
 */
#ifndef NSMSIM_LOG_H
#define NSMSIM_LOG_H

#include <stdarg.h>

#include "nsmkit/error.h"

/* Writes "prefix: message\n" to stderr in one write(), so that lines from concurrent
 * processes and threads never interleave. */
void nsmsim_log_line(const char *prefix, const char *fmt, ...) NSMKIT_PRINTF(2, 3);
void nsmsim_log_vline(const char *prefix, const char *fmt, va_list ap) NSMKIT_PRINTF(2, 0);

#endif /* NSMSIM_LOG_H */
