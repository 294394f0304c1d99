/* SPDX-License-Identifier: Apache-2.0 */
/* Errors, hex, files and number parsing. */
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsmkit/error.h"
#include "nsmkit/hex.h"
#include "nsmkit/file.h"
#include "testutil.h"

static void hex_round_trip_and_errors(void **state)
{
    (void)state;
    uint8_t *out;
    size_t len;
    nsmkit_error e;
    assert_int_equal(nsmkit_hex_decode("00Ff7a", 16, &out, &len, &e), 0);
    assert_int_equal(len, 3);
    assert_int_equal(out[1], 0xff);
    char back[7];
    nsmkit_hex_encode(out, len, back);
    assert_string_equal(back, "00ff7a");
    free(out);

    assert_int_equal(nsmkit_hex_decode("", 16, &out, &len, &e), 0);
    assert_int_equal(len, 0);
    assert_non_null(out);
    free(out);

    assert_int_equal(nsmkit_hex_decode("abc", 16, &out, &len, &e), -1);
    assert_non_null(strstr(e.msg, "odd number"));
    assert_null(out);
    assert_int_equal(nsmkit_hex_decode("zz", 16, &out, &len, &e), -1);
    assert_non_null(strstr(e.msg, "position 0"));
    assert_int_equal(nsmkit_hex_decode("0g", 16, &out, &len, &e), -1);
    assert_non_null(strstr(e.msg, "position 1"));
    assert_int_equal(nsmkit_hex_decode("000000", 2, &out, &len, &e), -1);
    assert_non_null(strstr(e.msg, "limit of 2"));
}

static void files_round_trip_with_mode_and_limits(void **state)
{
    (void)state;
    char *dir = test_mkdtemp();
    char path[4200];
    nsmkit_error e;
    snprintf(path, sizeof(path), "%s/a/b/c", dir);
    assert_int_equal(nsmkit_mkdir_p(path, 0700, &e), 0);
    snprintf(path, sizeof(path), "%s/a/b/c/secret", dir);
    const uint8_t data[] = "key material";
    assert_int_equal(nsmkit_file_write(path, data, sizeof(data), 0600, &e), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    uint8_t *back;
    size_t len;
    assert_int_equal(nsmkit_file_read(path, 100, &back, &len, &e), 0);
    assert_int_equal(len, sizeof(data));
    assert_memory_equal(back, data, len);
    free(back);
    /* one byte under the size is over the limit */
    assert_int_equal(nsmkit_file_read(path, sizeof(data) - 1, &back, &len, &e), -1);
    assert_non_null(strstr(e.msg, "larger than the limit"));
    assert_null(back);

    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(nsmkit_file_read(path, 100, &back, &len, &e), -1);
    assert_non_null(strstr(e.msg, "No such file"));
    assert_int_equal(nsmkit_file_read(dir, 100, &back, &len, &e), -1);
    assert_non_null(strstr(e.msg, "not a regular file"));

    /* a directory component that is a file */
    snprintf(path, sizeof(path), "%s/a/b/c/secret/sub", dir);
    assert_int_equal(nsmkit_mkdir_p(path, 0700, &e), -1);
    test_rmdir(dir);
    free(dir);
}

static void u64_parsing_is_whole_and_bounded(void **state)
{
    (void)state;
    uint64_t v;
    assert_true(nsmkit_parse_u64("0", &v));
    assert_true(v == 0);
    assert_true(nsmkit_parse_u64("18446744073709551615", &v));
    assert_true(v == UINT64_MAX);
    assert_false(nsmkit_parse_u64("18446744073709551616", &v));
    assert_false(nsmkit_parse_u64("", &v));
    assert_false(nsmkit_parse_u64("12a", &v));
    assert_false(nsmkit_parse_u64("-1", &v));
    assert_false(nsmkit_parse_u64(" 1", &v));
}

static void fail_formats_and_returns_minus_one(void **state)
{
    (void)state;
    nsmkit_error e;
    assert_int_equal(nsmkit_fail(&e, "bad %s %d", "thing", 7), -1);
    assert_string_equal(e.msg, "bad thing 7");
    assert_int_equal(nsmkit_fail(NULL, "ignored"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hex_round_trip_and_errors),
        cmocka_unit_test(files_round_trip_with_mode_and_limits),
        cmocka_unit_test(u64_parsing_is_whole_and_bounded),
        cmocka_unit_test(fail_formats_and_returns_minus_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
