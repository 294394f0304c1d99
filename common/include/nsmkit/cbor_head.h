/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: reading and writing the head of a CBOR item (major type and argument)
 * on the bounded reader and the output buffer. No libcbor here: byte-level code (the
 * COSE envelope, the NSM wire encoder) uses these alone.
 */
#ifndef NSMKIT_CBOR_HEAD_H
#define NSMKIT_CBOR_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsmkit/buf.h"
#include "nsmkit/reader.h"

/* ---- CBOR heads ---------------------------------------------------------------------- */

enum {
    NSMKIT_CBOR_UINT = 0,
    NSMKIT_CBOR_NEGINT = 1,
    NSMKIT_CBOR_BYTES = 2,
    NSMKIT_CBOR_TEXT = 3,
    NSMKIT_CBOR_ARRAY = 4,
    NSMKIT_CBOR_MAP = 5,
    NSMKIT_CBOR_TAG = 6,
    NSMKIT_CBOR_SIMPLE = 7,
};

typedef struct {
    uint8_t major;      /* 0..7 */
    uint8_t info;       /* the low five bits of the initial byte */
    bool indefinite;    /* info == 31 */
    uint64_t argument;  /* length, count, value or tag number (0 when indefinite) */
    size_t offset;      /* where the head starts in the input */
} nsmkit_cbor_head;

/* Reads one head. Fails (sticky) on truncation and on the reserved infos 28..30. */
bool nsmkit_cbor_read_head(nsmkit_reader *r, nsmkit_cbor_head *head) NSMKIT_WARN_UNUSED;

/* Writes a head with the shortest argument encoding (as serde_cbor and the NSM do). */
void nsmkit_cbor_put_head(nsmkit_buf *b, uint8_t major, uint64_t argument);
void nsmkit_cbor_put_uint(nsmkit_buf *b, uint64_t value);
void nsmkit_cbor_put_bytes(nsmkit_buf *b, const uint8_t *data, size_t n);
void nsmkit_cbor_put_text(nsmkit_buf *b, const char *text);
void nsmkit_cbor_put_text_n(nsmkit_buf *b, const char *text, size_t n);
void nsmkit_cbor_put_null(nsmkit_buf *b);
void nsmkit_cbor_put_bool(nsmkit_buf *b, bool value);

#endif /* NSMKIT_CBOR_HEAD_H */
