/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: a validating JSON walker that reports string values with their key path
 * (enough for `nitro-cli build-enclave`'s measurements), parsed by jansson.
 */
#ifndef NSMKIT_JSON_H
#define NSMKIT_JSON_H

#include <stddef.h>

#include "nsmkit/error.h"

/* Called for every string value met while walking a JSON text: keys holds the member
 * names from the top object down to the value (array elements add no key). Returning
 * non-zero stops the walk and makes nsmkit_json_walk return that value. */
typedef int (*nsmkit_json_string_fn)(void *ctx, const char *const *keys, size_t depth,
                                     const char *value, size_t value_len);

/* Validates a whole JSON text (RFC 8259; nesting at most 32 deep, strings at most 4 KiB,
 * no duplicate keys in an object) and reports its string values in document order. Returns 0, -1 with a message on malformed input, or the
 * callback's non-zero value. */
int nsmkit_json_walk(const char *text, size_t len, nsmkit_json_string_fn fn, void *ctx,
                     nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_JSON_H */
