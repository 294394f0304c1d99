/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-kms: base64 as KMS's JSON protocol carries binary fields (RFC 4648 standard alphabet,
 * with padding), through OpenSSL's encoder and decoder.
 */
#ifndef NSMKIT_KMS_BASE64_H
#define NSMKIT_KMS_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "nsmkit/error.h"

/* Decodes text into a new allocation (caller frees) of at most max bytes. Refuses
 * characters outside the alphabet, whitespace, a length that is not a multiple of 4 and
 * misplaced padding. */
int kms_base64_decode(const char *text, size_t len, size_t max, uint8_t **out, size_t *out_len,
                      nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Encodes into a new NUL-terminated allocation (caller frees); NULL when out of memory. */
char *kms_base64_encode(const uint8_t *data, size_t len);

#endif /* NSMKIT_KMS_BASE64_H */
