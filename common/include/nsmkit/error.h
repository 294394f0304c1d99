/*
 * nsmkit common: the attribute macros every header uses, and nsmkit_error, a one-line
 * message carried out of a call for the user.
 */
#ifndef NSMKIT_ERROR_H
#define NSMKIT_ERROR_H

#define NSMKIT_WARN_UNUSED __attribute__((warn_unused_result))
#define NSMKIT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* A message for the user: one line, no trailing newline. */
typedef struct {
    char msg[512];
} nsmkit_error;

/* Sets the message (when e is not NULL) and returns -1, so that callers can write
 * `return nsmkit_fail(e, "...")`. */
int nsmkit_fail(nsmkit_error *e, const char *fmt, ...) NSMKIT_PRINTF(2, 3);

#endif /* NSMKIT_ERROR_H */
