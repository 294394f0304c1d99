/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: nsmkit_buf, a growable output buffer with a hard size limit and a sticky
 * error (allocation failure or limit exceeded), checked once at the end.
 */
#ifndef NSMKIT_BUF_H
#define NSMKIT_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit; /* never grows beyond this many bytes */
    bool err;     /* sticky: allocation failure or limit exceeded */
} nsmkit_buf;

void nsmkit_buf_init(nsmkit_buf *b, size_t limit);
void nsmkit_buf_free(nsmkit_buf *b);
void nsmkit_buf_reset(nsmkit_buf *b); /* keeps the allocation, forgets the content */
void nsmkit_buf_append(nsmkit_buf *b, const void *data, size_t n);
void nsmkit_buf_u8(nsmkit_buf *b, uint8_t byte);

#endif /* NSMKIT_BUF_H */
