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

void nsmkit_reader_init(nsmkit_reader *r, const uint8_t *buf, size_t len);
size_t nsmkit_reader_remaining(const nsmkit_reader *r);
/* Each read either succeeds completely or sets the sticky error and returns false. */
bool nsmkit_reader_u8(nsmkit_reader *r, uint8_t *out) NSMKIT_WARN_UNUSED;
bool nsmkit_reader_peek_u8(const nsmkit_reader *r, uint8_t *out) NSMKIT_WARN_UNUSED;
/* Big-endian unsigned integer of 1, 2, 4 or 8 bytes. */
bool nsmkit_reader_be(nsmkit_reader *r, size_t width, uint64_t *out) NSMKIT_WARN_UNUSED;
/* A slice of n bytes pointing into the input. */
bool nsmkit_reader_bytes(nsmkit_reader *r, size_t n, const uint8_t **out) NSMKIT_WARN_UNUSED;
/* True when no error happened and every byte was consumed. */
bool nsmkit_reader_finish(const nsmkit_reader *r) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_READER_H */
