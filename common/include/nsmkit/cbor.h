/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: bounded libcbor decoding. libcbor 0.8 preallocates declared sizes and
 * Debian's build keeps its assertions, so nsmkit_cbor_check walks the bytes first
 * without allocating (every declared length, the depth and the item count bounded), and
 * the accessors here check types before libcbor's own accessors could abort.
 *
 * The only nsmkit header that includes <cbor.h>.
 */
#ifndef NSMKIT_CBOR_H
#define NSMKIT_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#include "nsmkit/cbor_head.h"
#include "nsmkit/error.h"

/* ---- bounded CBOR decoding ----------------------------------------------------------- */

typedef enum {
    NSMKIT_CBOR_OK = 0,
    NSMKIT_CBOR_EMPTY,              /* no bytes at all */
    NSMKIT_CBOR_TRUNCATED,          /* a head, string or container runs past the end */
    NSMKIT_CBOR_RESERVED_INFO,      /* additional information 28..30 */
    NSMKIT_CBOR_BAD_INDEFINITE,     /* indefinite length on an integer, tag or simple value */
    NSMKIT_CBOR_BAD_CHUNK,          /* a chunk of an indefinite string of the wrong type */
    NSMKIT_CBOR_STRAY_BREAK,        /* 0xff outside an indefinite container */
    NSMKIT_CBOR_MAP_MISSING_VALUE,  /* an indefinite map closed after a key */
    NSMKIT_CBOR_BAD_SIMPLE,         /* two-byte simple value below 32 */
    NSMKIT_CBOR_TOO_DEEP,           /* nesting beyond the limit */
    NSMKIT_CBOR_TOO_MANY_ITEMS,     /* more data items than the limit */
    NSMKIT_CBOR_LENGTH_TOO_LARGE,   /* a declared length larger than the bytes left */
    NSMKIT_CBOR_INDEFINITE_STRING,  /* indefinite byte/text string, when not allowed */
    NSMKIT_CBOR_TAG_NOT_ALLOWED,    /* a tag, when not allowed */
    NSMKIT_CBOR_TRAILING_BYTES,     /* bytes after the first complete item */
    NSMKIT_CBOR_NO_MEMORY,          /* libcbor could not allocate */
    NSMKIT_CBOR_LIBRARY_ERROR,      /* libcbor refused what the pre-pass accepted */
} nsmkit_cbor_status;

typedef struct {
    size_t max_depth;           /* containers and tags nested deeper than this fail */
    size_t max_items;           /* total data items (0: no limit beyond the input size) */
    bool allow_indefinite_strings;
    bool allow_tags;
} nsmkit_cbor_limits;

typedef struct {
    nsmkit_cbor_status status;
    size_t offset;              /* where the problem was found */
    size_t items;               /* data items seen */
} nsmkit_cbor_report;

const char *nsmkit_cbor_status_name(nsmkit_cbor_status status);

/* Walks one complete item covering exactly buf[0..len) without allocating.
 * Every declared string length, array count and map count is checked against the bytes
 * that remain before it is believed. */
nsmkit_cbor_status nsmkit_cbor_check(const uint8_t *buf, size_t len,
                                     const nsmkit_cbor_limits *limits,
                                     nsmkit_cbor_report *report) NSMKIT_WARN_UNUSED;

/* nsmkit_cbor_check, then cbor_load. On success *item is an owned reference (release it
 * with cbor_decref); on failure *item is NULL and the status says why. */
nsmkit_cbor_status nsmkit_cbor_load(const uint8_t *buf, size_t len,
                                    const nsmkit_cbor_limits *limits, cbor_item_t **item,
                                    nsmkit_cbor_report *report) NSMKIT_WARN_UNUSED;

/* True when item is CBOR null. Debian's libcbor keeps its internal assertions, so
 * cbor_is_null() aborts the process on a float: this checks the width first. */
bool nsmkit_cbor_is_null(const cbor_item_t *item);

/* True when item is a definite text string equal to text. */
bool nsmkit_cbor_text_equals(const cbor_item_t *item, const char *text);

/* ---- fields of a map by key ---------------------------------------------------------- */

typedef enum {
    NSMKIT_MAP_OK = 0,
    NSMKIT_MAP_NOT_MAP,       /* the item is not a map */
    NSMKIT_MAP_KEY_NOT_TEXT,  /* a key that is not a definite text string */
    NSMKIT_MAP_UNKNOWN_KEY,   /* a text key that is none of the names */
    NSMKIT_MAP_DUPLICATE_KEY, /* a name given a second time (values[k] keeps the first) */
} nsmkit_map_status;

/* The one walk of a map by key, shared by the NSM request decoder, the drop-in library's
 * response decoder and the verifier's payload rules; each caller decides what a problem
 * means for it. For each pair from *pos on, a key equal to names[k] stores its value in
 * values[k] (borrowed from map; values[] must start NULL). It stops at the first problem
 * and returns it with *pos at the offending pair, so a caller that tolerates that
 * problem (the NSM ignores unknown keys) goes on from *pos + 1; NSMKIT_MAP_OK means the
 * whole map was walked. Types of the values are for the caller to check. */
nsmkit_map_status nsmkit_cbor_map_fields(const cbor_item_t *map, const char *const *names,
                                         size_t count, const cbor_item_t **values,
                                         size_t *pos) NSMKIT_WARN_UNUSED;

/* nsmkit_cbor_map_fields for callers that ignore unknown keys (and keys that are not
 * text): NSMKIT_MAP_OK, NSMKIT_MAP_NOT_MAP or NSMKIT_MAP_DUPLICATE_KEY. */
nsmkit_map_status nsmkit_cbor_map_fields_lenient(const cbor_item_t *map,
                                                 const char *const *names, size_t count,
                                                 const cbor_item_t **values) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_CBOR_H */
