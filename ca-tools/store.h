/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ca-tools internal: the CA directory on disk, below any X.509 (no OpenSSL types here, so
 * that tests include it plainly).
 *
 * Every file is opened with O_NONBLOCK and checked with fstat before it is read: a FIFO,
 * a device or a directory in the store is refused instead of blocking. Every write goes to
 * a temporary file NAME.tmp<pid>, is fsynced, renamed over NAME in one step, and the
 * directory is fsynced after: a reader sees the old file or the new one, never a mix.
 * Writers hold DIR/.lock (flock, with the holder's pid written in it) and wait for it at
 * most ca_store_lock_timeout_ms; a temporary left by a process that died is removed by the
 * next writer, so that a reused PID never makes a write fail.
 */
#ifndef NSMKIT_CA_STORE_H
#define NSMKIT_CA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsmkit/ca.h"

#define CA_FILE_MAX (64 * 1024)
#define CA_LOCK_NAME ".lock"
/* How long a writer waits for another one before it gives up and says who holds the lock. */
#define CA_LOCK_TIMEOUT_MS_DEFAULT 10000u

/* DIR/NAME in a new allocation; NULL when out of memory. */
char *ca_path(const char *dir, const char *name);

/* Reads DIR/NAME whole (at most CA_FILE_MAX bytes) into a new allocation. A secret file
 * (a private key) is refused when group or others may read it. The caller frees *out
 * (and wipes a secret first). FILE_MISSING only for ENOENT, so that callers can tell an
 * absent file from one they may not read. */
nsmca_code ca_file_read(const char *dir, const char *name, bool secret, uint8_t **out,
                        size_t *out_len, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Replaces DIR/NAME atomically with data, created with mode (0600 for anything secret).
 * The caller holds the lock. */
nsmca_code ca_file_replace(const char *dir, const char *name, const uint8_t *data, size_t len,
                           unsigned mode, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Removes DIR/NAME.tmp<digits> files for the given names: temporaries of writers that died.
 * The caller holds the lock, so no live writer owns one. */
void ca_store_clean_temporaries(const char *dir, const char *const *names, size_t count);

/* Takes the directory's write lock; *fd_out is released with ca_lock_release. */
nsmca_code ca_lock_take(const char *dir, int *fd_out, nsmkit_error *e) NSMKIT_WARN_UNUSED;
void ca_lock_release(int fd);

/* ---- for tests only ----------------------------------------------------------------------- */

/* Called before each step of a write (op is "create", "write", "fsync", "rename" or
 * "fsync-dir"); returning true makes that step fail with ENOSPC, as a full disk would.
 * A hook may also end the process there to stand for a crash. NULL: no hook. */
typedef bool (*ca_store_fault_fn)(const char *op, const char *path, void *ctx);
void ca_store_set_fault_hook(ca_store_fault_fn hook, void *ctx);
/* 0 restores the default. */
void ca_store_set_lock_timeout_ms(unsigned ms);

#endif /* NSMKIT_CA_STORE_H */
