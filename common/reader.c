/* SPDX-License-Identifier: Apache-2.0 */
/* The bounded reader and the bounded output buffer (see nsmkit/common.h). */
#include <stdlib.h>
#include <string.h>

#include "nsmkit/reader.h"
#include "nsmkit/buf.h"

/* The external definitions of the inline reads in reader.h (C11 6.7.4p7). */
extern inline void nsmkit_reader_init(nsmkit_reader *r, const uint8_t *buf, size_t len);
extern inline size_t nsmkit_reader_remaining(const nsmkit_reader *r);
extern inline bool nsmkit_reader_bytes(nsmkit_reader *r, size_t n, const uint8_t **out);
extern inline bool nsmkit_reader_u8(nsmkit_reader *r, uint8_t *out);
extern inline bool nsmkit_reader_peek_u8(const nsmkit_reader *r, uint8_t *out);

bool nsmkit_reader_be(nsmkit_reader *r, size_t width, uint64_t *out)
{
    const uint8_t *p;
    if (width != 1 && width != 2 && width != 4 && width != 8) {
        r->err = true;
        return false;
    }
    if (!nsmkit_reader_bytes(r, width, &p))
        return false;
    uint64_t value = 0;
    for (size_t i = 0; i < width; i++)
        value = (value << 8) | p[i];
    *out = value;
    return true;
}

bool nsmkit_reader_finish(const nsmkit_reader *r)
{
    return !r->err && r->pos == r->len;
}

void nsmkit_buf_init(nsmkit_buf *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit;
}

void nsmkit_buf_free(nsmkit_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void nsmkit_buf_reset(nsmkit_buf *b)
{
    b->len = 0;
    b->err = false;
}

void nsmkit_buf_append(nsmkit_buf *b, const void *data, size_t n)
{
    if (b->err)
        return;
    if (n > b->limit - b->len) {
        b->err = true;
        return;
    }
    if (n > b->cap - b->len) {
        size_t want = b->cap ? b->cap : 256;
        while (want - b->len < n)
            want = (want > b->limit / 2) ? b->limit : want * 2;
        uint8_t *grown = realloc(b->data, want);
        if (!grown) {
            b->err = true;
            return;
        }
        b->data = grown;
        b->cap = want;
    }
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
}

void nsmkit_buf_u8(nsmkit_buf *b, uint8_t byte)
{
    nsmkit_buf_append(b, &byte, 1);
}
