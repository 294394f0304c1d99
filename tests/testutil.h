/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the cmocka unit tests. */
#ifndef NSMKIT_TESTUTIL_H
#define NSMKIT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the three headers above first. */
#include <cmocka.h>

#include "nsmkit/codes.h"

/* The shared read-only material (../shared beside the checkout, or $NSMKIT_SHARED).
 * Returns NULL when it is absent. */
const char *test_shared_dir(void);

/* Skips the current test with a visible reason ("SKIP: ..." on stdout, then cmocka's
 * own SKIPPED line). */
#define test_skip(...)                                                                    \
    do {                                                                                  \
        test_print_skip(__VA_ARGS__);                                                     \
        skip();                                                                           \
    } while (0)
void test_print_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a file whole; fails the test when it cannot. Caller frees. */
uint8_t *test_read_file(const char *path, size_t *len);

/* Decodes hex (spaces allowed) into a new allocation; fails the test on bad hex. */
uint8_t *test_hex(const char *hex, size_t *len);

/* A fresh empty directory under $TMPDIR; removed (recursively) by test_rmdir. */
char *test_mkdtemp(void);
void test_rmdir(const char *dir);

/* Runs the test binary again with the LD_PRELOAD shim (../lib/libnsm-sim-preload.so beside
 * the binary's directory, after the sanitizer runtime when there is one) and the given
 * extra environment ("NAME=VALUE" strings, NULL-terminated); returns only in that second
 * process. */
void test_reexec_preloaded(char **argv, const char *const *extra_env);

/* Asserts that a numbered code is the one wanted; on failure prints both by name
 * ("got 1201 PCR_LOCKED, want 1200 PCR_INDEX"), not as bare numbers. table is one of
 * nsmsim_codes, nsmca_codes, nsmv_codes (nsmkit/codes.h). */
#define assert_code(table, got, want)                                                     \
    test_assert_code(&(table), (int)(got), (int)(want), #got, __FILE__, __LINE__)
void test_assert_code(const nsmkit_code_table *table, int got, int want, const char *expr,
                      const char *file, int line);

#endif
