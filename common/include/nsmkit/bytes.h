/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: nsmkit_bytes, the one {pointer, length} slice type of the project (a view
 * into memory someone else owns), and wiping secrets.
 */
#ifndef NSMKIT_BYTES_H
#define NSMKIT_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A borrowed view of len bytes at ptr. ptr may be NULL only when len is 0; where a
 * field may be absent (CBOR null), ptr == NULL says "absent" and a non-NULL ptr with
 * len 0 says "present and empty". */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} nsmkit_bytes;

#define NSMKIT_BYTES_NONE ((nsmkit_bytes){NULL, 0})

static inline nsmkit_bytes nsmkit_bytes_of(const void *ptr, size_t len)
{
    return (nsmkit_bytes){(const uint8_t *)ptr, len};
}

static inline bool nsmkit_bytes_present(nsmkit_bytes b)
{
    return b.ptr != NULL;
}

/* Overwrites memory in a way the compiler may not remove. */
void nsmkit_wipe(void *p, size_t n);

#endif /* NSMKIT_BYTES_H */
