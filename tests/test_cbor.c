/* SPDX-License-Identifier: Apache-2.0 */
/* CBOR heads, the encoder, and the bounded pre-pass in front of libcbor. */
#include <stdlib.h>
#include <string.h>

#include "nsmkit/reader.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/cbor.h"
#include "nsmkit/hex.h"
#include "testutil.h"

static const nsmkit_cbor_limits strict_limits = {
    .max_depth = 8, .max_items = 0, .allow_indefinite_strings = false, .allow_tags = false};
static const nsmkit_cbor_limits lax_limits = {
    .max_depth = 8, .max_items = 0, .allow_indefinite_strings = true, .allow_tags = true};

static nsmkit_cbor_status check_hex(const char *hex, const nsmkit_cbor_limits *limits,
                                    size_t *offset)
{
    size_t len;
    uint8_t *bytes = test_hex(hex, &len);
    nsmkit_cbor_report report;
    nsmkit_cbor_status status = nsmkit_cbor_check(bytes, len, limits, &report);
    assert_int_equal(report.status, status);
    if (offset)
        *offset = report.offset;
    free(bytes);
    return status;
}

static void heads_use_the_shortest_form(void **state)
{
    (void)state;
    static const struct {
        uint64_t value;
        const char *hex;
    } cases[] = {
        {0, "00"},           {23, "17"},           {24, "1818"},
        {255, "18ff"},       {256, "190100"},      {65535, "19ffff"},
        {65536, "1a00010000"}, {0xffffffffu, "1affffffff"},
        {0x100000000ull, "1b0000000100000000"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nsmkit_buf b;
        nsmkit_buf_init(&b, 64);
        nsmkit_cbor_put_uint(&b, cases[i].value);
        char hex[32];
        nsmkit_hex_encode(b.data, b.len, hex);
        assert_string_equal(hex, cases[i].hex);
        /* and the reader reads the same value back */
        nsmkit_reader r;
        nsmkit_cbor_head h;
        nsmkit_reader_init(&r, b.data, b.len);
        assert_true(nsmkit_cbor_read_head(&r, &h));
        assert_int_equal(h.major, NSMKIT_CBOR_UINT);
        assert_true(h.argument == cases[i].value);
        assert_true(nsmkit_reader_finish(&r));
        nsmkit_buf_free(&b);
    }
}

static void encoder_writes_strings_null_and_bools(void **state)
{
    (void)state;
    nsmkit_buf b;
    nsmkit_buf_init(&b, 64);
    nsmkit_cbor_put_text(&b, "index");
    nsmkit_cbor_put_bytes(&b, (const uint8_t *)"\x01\x02\x03", 3);
    nsmkit_cbor_put_null(&b);
    nsmkit_cbor_put_bool(&b, true);
    nsmkit_cbor_put_bool(&b, false);
    nsmkit_cbor_put_head(&b, NSMKIT_CBOR_NEGINT, 34); /* -35 */
    char hex[64];
    nsmkit_hex_encode(b.data, b.len, hex);
    assert_string_equal(hex, "65696e64657843010203f6f5f43822");
    nsmkit_buf_free(&b);
}

static void reserved_info_fails_the_head(void **state)
{
    (void)state;
    for (uint8_t info = 28; info <= 30; info++) {
        uint8_t in[1] = {info};
        nsmkit_reader r;
        nsmkit_cbor_head h;
        nsmkit_reader_init(&r, in, 1);
        assert_false(nsmkit_cbor_read_head(&r, &h));
        assert_int_equal(nsmkit_cbor_check(in, 1, &lax_limits, NULL),
                         NSMKIT_CBOR_RESERVED_INFO);
    }
}

static void well_formed_items_pass(void **state)
{
    (void)state;
    const char *good[] = {
        "00", "f6", "a0", "80", "40", "60",
        "a16b4174746573746174696f6ea369757365725f64617461f6656e6f6e6365f66a7075626c69635f6b6579f6",
        "bf6161016162820203ff",         /* indefinite map */
        "9f0102ff",                     /* indefinite array */
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(check_hex(good[i], &strict_limits, NULL), NSMKIT_CBOR_OK);
    /* indefinite byte string: fine when allowed, refused when not */
    assert_int_equal(check_hex("5f 42 0102 41 03 ff", &lax_limits, NULL), NSMKIT_CBOR_OK);
    assert_int_equal(check_hex("5f4201024103ff", &strict_limits, NULL),
                     NSMKIT_CBOR_INDEFINITE_STRING);
    assert_int_equal(check_hex("d2 84 40 a0 40 40", &lax_limits, NULL), NSMKIT_CBOR_OK);
    assert_int_equal(check_hex("d2 84 40 a0 40 40", &strict_limits, NULL),
                     NSMKIT_CBOR_TAG_NOT_ALLOWED);
    /* floats and simple values */
    assert_int_equal(check_hex("f93c00", &strict_limits, NULL), NSMKIT_CBOR_OK);
    assert_int_equal(check_hex("fb3ff0000000000000", &strict_limits, NULL), NSMKIT_CBOR_OK);
    assert_int_equal(check_hex("f820", &strict_limits, NULL), NSMKIT_CBOR_OK);
}

static void malformed_items_get_their_own_status(void **state)
{
    (void)state;
    size_t at;
    assert_int_equal(nsmkit_cbor_check(NULL, 0, &strict_limits, NULL), NSMKIT_CBOR_EMPTY);
    assert_int_equal(check_hex("19 01", &strict_limits, &at), NSMKIT_CBOR_TRUNCATED);
    assert_int_equal(at, 0);
    assert_int_equal(check_hex("82 01", &strict_limits, &at), NSMKIT_CBOR_LENGTH_TOO_LARGE);
    assert_int_equal(check_hex("82 01 19", &strict_limits, &at), NSMKIT_CBOR_TRUNCATED);
    assert_int_equal(at, 2);
    assert_int_equal(check_hex("1f", &strict_limits, NULL), NSMKIT_CBOR_BAD_INDEFINITE);
    assert_int_equal(check_hex("3f", &strict_limits, NULL), NSMKIT_CBOR_BAD_INDEFINITE);
    assert_int_equal(check_hex("df 00", &lax_limits, NULL), NSMKIT_CBOR_BAD_INDEFINITE);
    assert_int_equal(check_hex("5f 61 00 ff", &lax_limits, NULL), NSMKIT_CBOR_BAD_CHUNK);
    assert_int_equal(check_hex("5f 5f ff ff", &lax_limits, NULL), NSMKIT_CBOR_BAD_CHUNK);
    assert_int_equal(check_hex("ff", &strict_limits, NULL), NSMKIT_CBOR_STRAY_BREAK);
    assert_int_equal(check_hex("82 01 ff", &strict_limits, NULL), NSMKIT_CBOR_STRAY_BREAK);
    assert_int_equal(check_hex("bf 01 ff", &strict_limits, NULL),
                     NSMKIT_CBOR_MAP_MISSING_VALUE);
    assert_int_equal(check_hex("f8 1f", &strict_limits, NULL), NSMKIT_CBOR_BAD_SIMPLE);
    assert_int_equal(check_hex("00 00", &strict_limits, &at), NSMKIT_CBOR_TRAILING_BYTES);
    assert_int_equal(at, 1);
    assert_int_equal(check_hex("9f 01", &strict_limits, NULL), NSMKIT_CBOR_TRUNCATED);
}

static void huge_declared_lengths_are_refused_before_allocation(void **state)
{
    (void)state;
    /* Each of these asks libcbor 0.8 for gigabytes if loaded blindly. */
    assert_int_equal(check_hex("9b 00000000ffffffff 00", &strict_limits, NULL),
                     NSMKIT_CBOR_LENGTH_TOO_LARGE);
    assert_int_equal(check_hex("bb 7fffffffffffffff 00 00", &strict_limits, NULL),
                     NSMKIT_CBOR_LENGTH_TOO_LARGE);
    assert_int_equal(check_hex("5b ffffffffffffffff 00", &strict_limits, NULL),
                     NSMKIT_CBOR_LENGTH_TOO_LARGE);
    assert_int_equal(check_hex("7a 00010000 61", &strict_limits, NULL),
                     NSMKIT_CBOR_LENGTH_TOO_LARGE);
    /* A map of n entries needs 2n bytes: one byte short is refused. */
    assert_int_equal(check_hex("a2 00 00 00", &strict_limits, NULL),
                     NSMKIT_CBOR_LENGTH_TOO_LARGE);
    assert_int_equal(check_hex("a2 00 00 00 00", &strict_limits, NULL), NSMKIT_CBOR_OK);
}

static void depth_and_item_limits_hold(void **state)
{
    (void)state;
    /* 9 nested arrays against a depth limit of 8 */
    assert_int_equal(check_hex("81 81 81 81 81 81 81 81 80", &strict_limits, NULL),
                     NSMKIT_CBOR_OK);
    assert_int_equal(check_hex("81 81 81 81 81 81 81 81 81 80", &strict_limits, NULL),
                     NSMKIT_CBOR_TOO_DEEP);
    /* deep indefinite nesting: a classic stack exhaustion input */
    uint8_t deep[100000];
    memset(deep, 0x9f, sizeof(deep));
    nsmkit_cbor_limits big = strict_limits;
    big.max_depth = 1000000; /* clamped internally to the fixed stack */
    assert_int_equal(nsmkit_cbor_check(deep, sizeof(deep), &big, NULL), NSMKIT_CBOR_TOO_DEEP);
    nsmkit_cbor_limits few = strict_limits;
    few.max_items = 3;
    assert_int_equal(check_hex("83 01 02 03", &few, NULL), NSMKIT_CBOR_TOO_MANY_ITEMS);
    assert_int_equal(check_hex("82 01 02", &few, NULL), NSMKIT_CBOR_OK);
}

static void load_returns_owned_items(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bytes = test_hex("a1 65 696e646578 10", &len);
    cbor_item_t *item = NULL;
    nsmkit_cbor_report report;
    assert_int_equal(nsmkit_cbor_load(bytes, len, &strict_limits, &item, &report),
                     NSMKIT_CBOR_OK);
    assert_non_null(item);
    assert_true(cbor_isa_map(item));
    struct cbor_pair *pairs = cbor_map_handle(item);
    assert_true(nsmkit_cbor_text_equals(pairs[0].key, "index"));
    assert_false(nsmkit_cbor_text_equals(pairs[0].key, "inde"));
    assert_false(nsmkit_cbor_text_equals(pairs[0].value, "index"));
    cbor_decref(&item);
    assert_null(item);
    free(bytes);

    bytes = test_hex("a1 65 696e646578", &len); /* the value is missing */
    item = (cbor_item_t *)1;
    assert_int_equal(nsmkit_cbor_load(bytes, len, &strict_limits, &item, &report),
                     NSMKIT_CBOR_TRUNCATED);
    assert_null(item);
    free(bytes);
}

/* Regression: Debian's libcbor asserts (and aborts) in cbor_is_null() on a float. */
static void is_null_survives_floats(void **state)
{
    (void)state;
    static const char *const items[] = {"f6", "f93c00", "fa3f800000", "fb3ff0000000000000",
                                        "f5", "f7", "00", "40"};
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        size_t len;
        uint8_t *bytes = test_hex(items[i], &len);
        cbor_item_t *item;
        assert_int_equal(nsmkit_cbor_load(bytes, len, &strict_limits, &item, NULL), NSMKIT_CBOR_OK);
        assert_int_equal(nsmkit_cbor_is_null(item), i == 0);
        cbor_decref(&item);
        free(bytes);
    }
    assert_false(nsmkit_cbor_is_null(NULL));
}

static void status_names_are_distinct(void **state)
{
    (void)state;
    for (int a = NSMKIT_CBOR_OK; a <= NSMKIT_CBOR_LIBRARY_ERROR; a++)
        for (int b = a + 1; b <= NSMKIT_CBOR_LIBRARY_ERROR; b++)
            assert_string_not_equal(nsmkit_cbor_status_name((nsmkit_cbor_status)a),
                                    nsmkit_cbor_status_name((nsmkit_cbor_status)b));
}

static cbor_item_t *load_hex(const char *hex)
{
    uint8_t *bytes;
    size_t len;
    nsmkit_error e;
    assert_int_equal(nsmkit_hex_decode(hex, 4096, &bytes, &len, &e), 0);
    cbor_item_t *item = NULL;
    nsmkit_cbor_limits limits = {.max_depth = 8, .max_items = 64};
    assert_int_equal(nsmkit_cbor_load(bytes, len, &limits, &item, NULL), NSMKIT_CBOR_OK);
    free(bytes);
    return item;
}

static void map_fields_by_key(void **state)
{
    (void)state;
    static const char *const names[] = {"index", "data"};
    const cbor_item_t *values[2] = {NULL, NULL};
    size_t pos = 0;

    /* {"index": 16, "data": h'0102'} */
    cbor_item_t *map = load_hex("a265696e646578106464617461420102");
    assert_int_equal(nsmkit_cbor_map_fields(map, names, 2, values, &pos), NSMKIT_MAP_OK);
    assert_int_equal(pos, 2);
    assert_int_equal(cbor_get_int(values[0]), 16);
    assert_true(cbor_isa_bytestring(values[1]));
    cbor_decref(&map);

    /* {"index": 1, "x": 2, "index": 3}: unknown at 1, then the duplicate at 2 */
    map = load_hex("a365696e64657801617802" "65696e64657803");
    values[0] = values[1] = NULL;
    pos = 0;
    assert_int_equal(nsmkit_cbor_map_fields(map, names, 2, values, &pos), NSMKIT_MAP_UNKNOWN_KEY);
    assert_int_equal(pos, 1);
    pos++;
    assert_int_equal(nsmkit_cbor_map_fields(map, names, 2, values, &pos),
                     NSMKIT_MAP_DUPLICATE_KEY);
    assert_int_equal(pos, 2);
    assert_int_equal(cbor_get_int(values[0]), 1); /* the first value is kept */
    values[0] = values[1] = NULL;
    assert_int_equal(nsmkit_cbor_map_fields_lenient(map, names, 2, values),
                     NSMKIT_MAP_DUPLICATE_KEY);
    cbor_decref(&map);

    /* {1: 2, "data": h''}: a key that is not text; lenient skips it */
    map = load_hex("a20102646461746140");
    values[0] = values[1] = NULL;
    pos = 0;
    assert_int_equal(nsmkit_cbor_map_fields(map, names, 2, values, &pos),
                     NSMKIT_MAP_KEY_NOT_TEXT);
    assert_int_equal(pos, 0);
    assert_int_equal(nsmkit_cbor_map_fields_lenient(map, names, 2, values), NSMKIT_MAP_OK);
    assert_null(values[0]);
    assert_non_null(values[1]);
    cbor_decref(&map);

    /* not a map at all; a float key never reaches libcbor's string accessors */
    map = load_hex("8101");
    values[0] = values[1] = NULL;
    pos = 0;
    assert_int_equal(nsmkit_cbor_map_fields(map, names, 2, values, &pos), NSMKIT_MAP_NOT_MAP);
    cbor_decref(&map);
    map = load_hex("a1f93c0001");
    assert_int_equal(nsmkit_cbor_map_fields_lenient(map, names, 2, values), NSMKIT_MAP_OK);
    cbor_decref(&map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(heads_use_the_shortest_form),
        cmocka_unit_test(encoder_writes_strings_null_and_bools),
        cmocka_unit_test(reserved_info_fails_the_head),
        cmocka_unit_test(well_formed_items_pass),
        cmocka_unit_test(malformed_items_get_their_own_status),
        cmocka_unit_test(huge_declared_lengths_are_refused_before_allocation),
        cmocka_unit_test(depth_and_item_limits_hold),
        cmocka_unit_test(load_returns_owned_items),
        cmocka_unit_test(is_null_survives_floats),
        cmocka_unit_test(status_names_are_distinct),
        cmocka_unit_test(map_fields_by_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
