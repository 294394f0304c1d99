/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: hex and decimal text as the command-line tools take it.
 */
#ifndef NSMKIT_HEX_H
#define NSMKIT_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsmkit/error.h"

/* Decodes a hex string (upper or lower case, even length, no separators) into a new
 * allocation of at most max_len bytes. An empty string gives length 0 and a non-NULL
 * allocation. */
int nsmkit_hex_decode(const char *hex, size_t max_len, uint8_t **out, size_t *out_len,
                      nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Writes 2*len lower-case hex digits and a NUL into out (size 2*len+1). */
void nsmkit_hex_encode(const uint8_t *data, size_t len, char *out);

/* Parses a decimal unsigned integer that must fill the whole string. */
bool nsmkit_parse_u64(const char *text, uint64_t *out) NSMKIT_WARN_UNUSED;
/* Parses Unix seconds with an optional fraction ("1790000000", "1790000000.25": every
 * program's --time) into milliseconds (digits past the third are dropped). */
bool nsmkit_parse_unix_time(const char *text, uint64_t *ms) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_HEX_H */
