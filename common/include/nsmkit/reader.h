/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: the one bounded reader for untrusted bytes (QCBOR's UsefulInputBuf
 * shape): a sticky error, slices that point into the input, and "leftover bytes" as an
 * error at finish. Every bound is written n > len - pos, never pos + n > len.
 */
#ifndef NSMKIT_READER_H
#define NSMKIT_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsmkit/error.h"

typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    bool err; /* sticky: once set, every read fails and returns nothing */
} nsmkit_reader;

inline void nsmkit_reader_init(nsmkit_reader *r, const uint8_t *buf, size_t len);
/* Each read either succeeds completely or sets the sticky error and returns false.
 * The inline ones are declared inline here too: in C11 one declaration without it would
 * make every includer's copy an external definition. */
inline bool nsmkit_reader_u8(nsmkit_reader *r, uint8_t *out) NSMKIT_WARN_UNUSED;
inline bool nsmkit_reader_peek_u8(const nsmkit_reader *r, uint8_t *out) NSMKIT_WARN_UNUSED;
/* Big-endian unsigned integer of 1, 2, 4 or 8 bytes. */
bool nsmkit_reader_be(nsmkit_reader *r, size_t width, uint64_t *out) NSMKIT_WARN_UNUSED;
/* A slice of n bytes pointing into the input. */
inline bool nsmkit_reader_bytes(nsmkit_reader *r, size_t n,
                                const uint8_t **out) NSMKIT_WARN_UNUSED;
/* True when no error happened and every byte was consumed. */
bool nsmkit_reader_finish(const nsmkit_reader *r) NSMKIT_WARN_UNUSED;
inline size_t nsmkit_reader_remaining(const nsmkit_reader *r);

/*
 * The setup and the per-byte reads are inline definitions (C11 6.7.4): parsers call them
 * once or more per CBOR item. Inlined, a local reader lives in registers and the compiler
 * drops the checks a caller repeats (the sticky error tested again after a read that
 * succeeded); under a fuzzer every comparison left is a call into its comparison hooks.
 * reader.c holds the one external definition of each, so the library still exports them.
 */
NSMKIT_ALWAYS_INLINE
inline void nsmkit_reader_init(nsmkit_reader *r, const uint8_t *buf, size_t len)
{
    r->buf = buf;
    r->len = buf ? len : 0;
    r->pos = 0;
    r->err = false;
}

NSMKIT_ALWAYS_INLINE
inline bool nsmkit_reader_bytes(nsmkit_reader *r, size_t n, const uint8_t **out)
{
    /* n <= len - pos, never pos + n <= len: the sum could wrap. */
    if (r->err || n > r->len - r->pos) {
        r->err = true;
        return false;
    }
    *out = r->buf + r->pos;
    r->pos += n;
    return true;
}

NSMKIT_ALWAYS_INLINE
inline bool nsmkit_reader_u8(nsmkit_reader *r, uint8_t *out)
{
    const uint8_t *p;
    if (!nsmkit_reader_bytes(r, 1, &p))
        return false;
    *out = p[0];
    return true;
}

NSMKIT_ALWAYS_INLINE
inline bool nsmkit_reader_peek_u8(const nsmkit_reader *r, uint8_t *out)
{
    if (r->err || r->pos >= r->len)
        return false;
    *out = r->buf[r->pos];
    return true;
}

NSMKIT_ALWAYS_INLINE
inline size_t nsmkit_reader_remaining(const nsmkit_reader *r)
{
    return r->err ? 0 : r->len - r->pos;
}

#endif /* NSMKIT_READER_H */
