/* SPDX-License-Identifier: Apache-2.0 */
/* The one error machinery (nsmkit/codes.h): every component's table ascends within its
 * range, no number means two things across the project, and the one lookup finds every
 * row and nothing else. */
#include <stdio.h>
#include <string.h>

#include "nsmkit/ca.h"
#include "nsmkit/codes.h"
#include "nsmkit/sim_codes.h"
#include "nsmkit/verify.h"
#include "testutil.h"

static const nsmkit_code_table *const tables[] = {&nsmv_codes, &nsmsim_codes, &nsmca_codes};
#define TABLE_COUNT (sizeof(tables) / sizeof(tables[0]))

static void every_table_ascends_within_its_range(void **state)
{
    (void)state;
    for (size_t t = 0; t < TABLE_COUNT; t++) {
        nsmkit_error e = {{0}};
        if (nsmkit_code_table_check(tables[t], &e) != 0)
            fail_msg("%s", e.msg);
        assert_true(tables[t]->count > 1);
    }
}

static void no_number_means_two_things(void **state)
{
    (void)state;
    for (size_t a = 0; a < TABLE_COUNT; a++)
        for (size_t b = a + 1; b < TABLE_COUNT; b++)
            for (size_t i = 0; i < tables[a]->count; i++) {
                int n = tables[a]->rows[i].number;
                const nsmkit_code_info *other = n ? nsmkit_code_find(tables[b], n) : NULL;
                if (other)
                    fail_msg("%d is %s in %s and %s in %s", n, tables[a]->rows[i].name,
                             tables[a]->component, other->name, tables[b]->component);
            }
}

static void the_lookup_finds_every_row_and_nothing_else(void **state)
{
    (void)state;
    for (size_t t = 0; t < TABLE_COUNT; t++) {
        const nsmkit_code_table *table = tables[t];
        for (size_t i = 0; i < table->count; i++) {
            const nsmkit_code_info *row = &table->rows[i];
            assert_ptr_equal(nsmkit_code_find(table, row->number), row);
            assert_string_equal(nsmkit_code_name(table, row->number), row->name);
            if (!nsmkit_code_find(table, row->number + 1) && row->number + 1 <= table->last)
                assert_null(nsmkit_code_name(table, row->number + 1));
        }
        assert_null(nsmkit_code_find(table, -1));
        assert_null(nsmkit_code_find(table, table->last + 1));
    }
    /* the components' own names go through the same lookup */
    assert_string_equal(nsmsim_code_name(NSMSIM_ERR_PCR_LOCKED), "PCR_LOCKED");
    assert_string_equal(nsmca_code_name(NSMCA_ERR_KEY_PERMISSIONS), "KEY_PERMISSIONS");
    assert_string_equal(nsmv_code_name(NSMV_ERR_CERT_EXPIRED), "CERT_EXPIRED");
    assert_null(nsmsim_code_name((nsmsim_code)201));
    assert_code(nsmsim_codes, NSMSIM_ERR_PCR_LOCKED, 1201);
}

static void a_bad_table_is_named(void **state)
{
    (void)state;
    static const nsmkit_code_info rows[] = {{0, "OK", "success"}, {1205, "B", "b"},
                                            {1200, "A", "a"}};
    nsmkit_code_table t = NSMKIT_CODE_TABLE("test", rows, NSMKIT_RANGE_SIM);
    nsmkit_error e = {{0}};
    assert_int_equal(nsmkit_code_table_check(&t, &e), -1);
    assert_non_null(strstr(e.msg, "1200 A does not ascend after 1205 B"));
    static const nsmkit_code_info outside[] = {{0, "OK", "success"}, {2000, "X", "x"}};
    nsmkit_code_table u = NSMKIT_CODE_TABLE("test", outside, NSMKIT_RANGE_SIM);
    assert_int_equal(nsmkit_code_table_check(&u, &e), -1);
    assert_non_null(strstr(e.msg, "outside its range 1000-1999"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_table_ascends_within_its_range),
        cmocka_unit_test(no_number_means_two_things),
        cmocka_unit_test(the_lookup_finds_every_row_and_nothing_else),
        cmocka_unit_test(a_bad_table_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
