/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: a grade's --json file as `nsm-vectors report` reads it
 * (harness/report_cmd.c) from a hostile file, then every report written from what it
 * accepted (text, JSON, markdown, HTML: harness/report.c, html.c). A grade it accepts must be
 * whole (a name and a known outcome for every result), and its own JSON must read back as the
 * same results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness/report.h"
#include "fixture.h"

#define FUZZ_GRADE_MAX_INPUT (256 * 1024)

static void fail(const char *what)
{
    fuzz_fail("fuzz_grade_json", what);
}

static void same_results(const hv_grade *a, const hv_grade *b)
{
    if (a->count != b->count)
        fail("the grade's own JSON reads back with another number of results");
    for (size_t i = 0; i < a->count; i++) {
        const hv_result *x = &a->results[i], *y = &b->results[i];
        if (strcmp(x->name, y->name) != 0 || x->got != y->got ||
            x->expect_accept != y->expect_accept || strcmp(x->output, y->output) != 0 ||
            hv_verdict_of(x) != hv_verdict_of(y))
            fail("a result changed on its way through the grade's own JSON");
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > FUZZ_GRADE_MAX_INPUT)
        return 0;
    hv_grade g;
    void *owner = NULL;
    if (hv_grade_parse((const char *)data, size, "input", &g, &owner, NULL) == 0) {
        for (size_t i = 0; i < g.count; i++)
            if (!g.results[i].name || g.results[i].got >= OUT_COUNT || !g.results[i].layer)
                fail("an accepted grade has a result without name, layer or known outcome");
        FILE *sink = fuzz_null_stream();
        hv_report_text(sink, &g);
        hv_report_markdown(sink, &g);
        hv_report_html(sink, &g, 1);
        char *json = NULL;
        size_t json_len = 0;
        FILE *mem = open_memstream(&json, &json_len);
        if (!mem)
            fail("open_memstream");
        hv_report_json(mem, &g);
        if (fclose(mem) != 0)
            fail("cannot write the grade's JSON");
        hv_grade back;
        void *back_owner = NULL;
        if (hv_grade_parse(json, json_len, "round trip", &back, &back_owner, NULL) != 0)
            fail("the grade's own JSON does not read back");
        same_results(&g, &back);
        hv_grade_release(&back, back_owner);
        free(json);
    }
    hv_grade_release(&g, owner);
    return 0;
}
