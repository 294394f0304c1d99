/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: the attribute macros every header uses, and nsmkit_error, a one-line
 * message carried out of a call for the user.
 */
#ifndef NSMKIT_ERROR_H
#define NSMKIT_ERROR_H

#include <stdarg.h>

#define NSMKIT_WARN_UNUSED __attribute__((warn_unused_result))
#define NSMKIT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
/* For the few tiny reads parsers make per input byte or item: inlined even at -O1 (the
 * sanitizer and fuzzing builds), where the compiler otherwise keeps them as calls. */
#define NSMKIT_ALWAYS_INLINE __attribute__((always_inline))

/* A message for the user: one line, no trailing newline. The one message carrier of every
 * component (nsmv_error is this type); a numbered code travels beside it (nsmkit/codes.h). */
typedef struct {
    char msg[640];
} nsmkit_error;

/* Sets the message (when e is not NULL) and returns -1, so that callers can write
 * `return nsmkit_fail(e, "...")`. */
int nsmkit_fail(nsmkit_error *e, const char *fmt, ...) NSMKIT_PRINTF(2, 3);

/* The same for callers with numbered errors: sets the message and returns code, so that
 * `return nsmkit_fail_with(e, NSMSIM_ERR_..., "...")` works for any code list. */
int nsmkit_fail_with(nsmkit_error *e, int code, const char *fmt, ...) NSMKIT_PRINTF(3, 4);

/* Sets the message from a va_list (when e is not NULL). */
void nsmkit_vfail(nsmkit_error *e, const char *fmt, va_list ap) NSMKIT_PRINTF(2, 0);

#endif /* NSMKIT_ERROR_H */
