/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit document surgery: byte-level edits of an encoded CBOR map (the attestation
 * payload), for the fault generator and the tests. The map may be definite or indefinite;
 * only its top-level entries are addressed, by text key.
 *
 * Every function checks the bytes it walks (heads, lengths, nesting) and fails with a
 * message instead of reading out of bounds: surgery is applied to documents we built, but a
 * fault combination may already have broken them. On failure the buffer is unchanged.
 */
#ifndef NSMKIT_SURGERY_H
#define NSMKIT_SURGERY_H

#include <stddef.h>
#include <stdint.h>

#include "nsmkit/buf.h"
#include "nsmkit/error.h"

/* The end of the CBOR item that starts at pos (depth bounded). */
int nsmsim_cbor_item_end(const uint8_t *b, size_t len, size_t pos, size_t *end,
                         nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Offsets of key's entry in the map: its key, its value and the end of the value. */
int nsmsim_map_find(const uint8_t *m, size_t len, const char *key, size_t *key_at,
                    size_t *value_at, size_t *end, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Replaces the encoded value of key with value (CBOR bytes). */
int nsmsim_map_set_value(nsmkit_buf *m, const char *key, const uint8_t *value, size_t n,
                         nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Replaces the encoded key itself (CBOR bytes): a rename or another type of key. */
int nsmsim_map_set_key(nsmkit_buf *m, const char *key, const uint8_t *new_key, size_t n,
                       nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Removes key's entry and lowers a definite map's count. */
int nsmsim_map_remove(nsmkit_buf *m, const char *key, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Appends an entry (key and value CBOR bytes) and raises a definite map's count. */
int nsmsim_map_append(nsmkit_buf *m, const uint8_t *key, size_t key_len, const uint8_t *value,
                      size_t value_len, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Copies key's whole entry (key and value bytes) into out (initialised here). */
int nsmsim_map_entry(const nsmkit_buf *m, const char *key, nsmkit_buf *out,
                     nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Replaces len bytes at at with n bytes of insert. */
int nsmsim_splice(nsmkit_buf *b, size_t at, size_t remove, const uint8_t *insert, size_t n,
                  nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_SURGERY_H */
