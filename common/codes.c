/* SPDX-License-Identifier: Apache-2.0 */
/* The one lookup of numbered codes (nsmkit/codes.h). */
#include "nsmkit/codes.h"

const nsmkit_code_info *nsmkit_code_find(const nsmkit_code_table *table, int number)
{
    size_t lo = 0, hi = table->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int n = table->rows[mid].number;
        if (n == number)
            return &table->rows[mid];
        if (n < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *nsmkit_code_name(const nsmkit_code_table *table, int number)
{
    const nsmkit_code_info *row = nsmkit_code_find(table, number);
    return row ? row->name : NULL;
}

const char *nsmkit_code_sentence(const nsmkit_code_table *table, int number)
{
    const nsmkit_code_info *row = nsmkit_code_find(table, number);
    return row ? row->sentence : NULL;
}

int nsmkit_code_table_check(const nsmkit_code_table *table, nsmkit_error *e)
{
    for (size_t i = 0; i < table->count; i++) {
        const nsmkit_code_info *row = &table->rows[i];
        if (!row->name || !row->name[0] || !row->sentence || !row->sentence[0])
            return nsmkit_fail(e, "%s: row %zu has no name or sentence", table->component, i);
        if (row->number != 0 && (row->number < table->first || row->number > table->last))
            return nsmkit_fail(e, "%s: %d %s is outside its range %d-%d", table->component,
                               row->number, row->name, table->first, table->last);
        if (i > 0 && row->number <= table->rows[i - 1].number)
            return nsmkit_fail(e, "%s: %d %s does not ascend after %d %s", table->component,
                               row->number, row->name, table->rows[i - 1].number,
                               table->rows[i - 1].name);
    }
    return 0;
}
