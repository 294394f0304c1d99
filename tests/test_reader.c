/* SPDX-License-Identifier: Apache-2.0 */
/* The bounded reader and output buffer. */
#include <stdlib.h>
#include <string.h>

#include "nsmkit/reader.h"
#include "nsmkit/buf.h"
#include "testutil.h"

static void reads_in_order_and_finishes(void **state)
{
    (void)state;
    const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
    nsmkit_reader r;
    nsmkit_reader_init(&r, in, sizeof(in));
    uint8_t byte;
    uint64_t wide;
    const uint8_t *slice;
    assert_true(nsmkit_reader_u8(&r, &byte));
    assert_int_equal(byte, 1);
    assert_true(nsmkit_reader_be(&r, 2, &wide));
    assert_int_equal(wide, 0x0203);
    assert_false(nsmkit_reader_finish(&r));
    assert_true(nsmkit_reader_bytes(&r, 4, &slice));
    assert_ptr_equal(slice, in + 3);
    assert_true(nsmkit_reader_finish(&r));
}

static void overlong_read_sets_sticky_error(void **state)
{
    (void)state;
    const uint8_t in[] = {0xaa, 0xbb};
    nsmkit_reader r;
    nsmkit_reader_init(&r, in, sizeof(in));
    const uint8_t *slice = NULL;
    /* A length that would wrap pos + n must not pass. */
    assert_false(nsmkit_reader_bytes(&r, SIZE_MAX, &slice));
    assert_null(slice);
    assert_true(r.err);
    uint8_t byte;
    assert_false(nsmkit_reader_u8(&r, &byte)); /* sticky: even an in-bounds read fails */
    assert_int_equal(nsmkit_reader_remaining(&r), 0);
    assert_false(nsmkit_reader_finish(&r));
}

static void be_rejects_odd_widths_and_reads_eight(void **state)
{
    (void)state;
    const uint8_t in[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    nsmkit_reader r;
    uint64_t v;
    nsmkit_reader_init(&r, in, sizeof(in));
    assert_false(nsmkit_reader_be(&r, 3, &v));
    nsmkit_reader_init(&r, in, sizeof(in));
    assert_true(nsmkit_reader_be(&r, 8, &v));
    assert_true(v == 0x0102030405060708ull);
    assert_false(nsmkit_reader_be(&r, 2, &v)); /* one byte left */
}

static void null_input_is_empty(void **state)
{
    (void)state;
    nsmkit_reader r;
    uint8_t b;
    nsmkit_reader_init(&r, NULL, 100);
    assert_int_equal(nsmkit_reader_remaining(&r), 0);
    assert_false(nsmkit_reader_peek_u8(&r, &b));
    assert_true(nsmkit_reader_finish(&r));
}

static void buf_grows_and_stops_at_limit(void **state)
{
    (void)state;
    nsmkit_buf b;
    nsmkit_buf_init(&b, 1000);
    uint8_t chunk[1000];
    memset(chunk, 0x5a, sizeof(chunk));
    nsmkit_buf_append(&b, chunk, 300);
    nsmkit_buf_append(&b, chunk, 300);
    nsmkit_buf_append(&b, chunk, 300);
    assert_false(b.err);
    assert_int_equal(b.len, 900);
    nsmkit_buf_append(&b, chunk, 101); /* one byte over the limit */
    assert_true(b.err);
    assert_int_equal(b.len, 900);
    nsmkit_buf_u8(&b, 1); /* sticky */
    assert_int_equal(b.len, 900);
    nsmkit_buf_reset(&b);
    assert_false(b.err);
    nsmkit_buf_append(&b, chunk, 1000);
    assert_false(b.err);
    assert_int_equal(b.len, 1000);
    nsmkit_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_in_order_and_finishes),
        cmocka_unit_test(overlong_read_sets_sticky_error),
        cmocka_unit_test(be_rejects_odd_widths_and_reads_eight),
        cmocka_unit_test(null_input_is_empty),
        cmocka_unit_test(buf_grows_and_stops_at_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
