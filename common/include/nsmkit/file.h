/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: whole-file reads with a size bound, atomic writes with a mode, mkdir -p.
 */
#ifndef NSMKIT_FILE_H
#define NSMKIT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "nsmkit/error.h"

/* Reads a whole regular file of at most max_len bytes into a new allocation. */
int nsmkit_file_read(const char *path, size_t max_len, uint8_t **out, size_t *out_len,
                     nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Writes a file atomically (temporary file, fsync, rename) with the given mode. */
int nsmkit_file_write(const char *path, const uint8_t *data, size_t len, unsigned mode,
                      nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Creates a directory and its parents (like mkdir -p) with the given mode. */
int nsmkit_mkdir_p(const char *path, unsigned mode, nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_FILE_H */
