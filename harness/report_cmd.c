/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-vectors report: reads the --json files of earlier gradings (jansson) and writes them
 * side by side as one HTML page, as markdown, or as text. Files written before the fields
 * "description" and "detail" existed are read too (the description then comes from the
 * fault table).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "nsmkit/file.h"
#include "report.h"

#define MAX_GRADES 32
#define MAX_JSON_BYTES (64u << 20)
#define MAX_RESULTS 100000 /* as grade's documents */

static const char *str_member(json_t *obj, const char *key, const char *fallback)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : fallback;
}

static int load_result(json_t *item, hv_result *r)
{
    if (!json_is_object(item))
        return -1;
    const char *got = str_member(item, "got", NULL), *expected = str_member(item, "expected", NULL);
    *r = (hv_result){.name = str_member(item, "name", NULL),
                     .class_name = str_member(item, "class", ""),
                     .layer = str_member(item, "layer", ""),
                     .description = str_member(item, "description", ""),
                     .expected_code = str_member(item, "expected_code", "")};
    if (!r->name || !got || !expected ||
        (strcmp(expected, "accept") != 0 && strcmp(expected, "reject") != 0))
        return -1;
    r->expect_accept = strcmp(expected, "accept") == 0;
    int o = 0;
    while (o < OUT_COUNT && strcmp(hv_outcome_names[o], got) != 0)
        o++;
    if (o == OUT_COUNT)
        return -1;
    r->got = (hv_outcome)o;
    json_t *detail = json_object_get(item, "detail");
    r->detail = json_is_integer(detail) ? (int)json_integer_value(detail) : 0;
    hv_set_output(r, str_member(item, "output", ""));
    return 0;
}

int hv_grade_parse(const char *text, size_t len, const char *name, hv_grade *g, void **owner,
                   FILE *msgs)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    *owner = root;
    *g = (hv_grade){0};
    json_t *results = root ? json_object_get(root, "results") : NULL;
    if (!root || !json_is_object(root) || !json_is_array(results)) {
        if (msgs)
            fprintf(msgs, "nsm-vectors report: %s: not a grade (--json of nsm-vectors grade): %s\n",
                    name, root ? "no \"results\" array" : err.text);
        return 2;
    }
    if (json_array_size(results) > MAX_RESULTS) {
        if (msgs)
            fprintf(msgs, "nsm-vectors report: %s: more than %d results\n", name, MAX_RESULTS);
        return 2;
    }
    *g = (hv_grade){.verifier = str_member(root, "verifier", name),
                    .profile = str_member(root, "profile", "?"),
                    .corpus = str_member(root, "corpus", "?"),
                    .count = json_array_size(results)};
    g->results = calloc(g->count ? g->count : 1, sizeof(*g->results));
    if (!g->results)
        return 2;
    for (size_t i = 0; i < g->count; i++)
        if (load_result(json_array_get(results, i), &g->results[i]) != 0) {
            if (msgs)
                fprintf(msgs, "nsm-vectors report: %s: result %zu lacks name, expected or a known "
                              "\"got\"\n", name, i);
            return 2;
        }
    return 0;
}

void hv_grade_release(hv_grade *g, void *owner)
{
    free(g->results);
    g->results = NULL;
    json_decref(owner);
}

/* Loads path into *g; *owner owns the strings. 0, or 2 with a message. */
static int load_grade(const char *path, hv_grade *g, void **owner)
{
    nsmkit_error e;
    uint8_t *text = NULL;
    size_t len = 0;
    *owner = NULL;
    if (nsmkit_file_read(path, MAX_JSON_BYTES, &text, &len, &e) != 0) {
        fprintf(stderr, "nsm-vectors report: %s\n", e.msg);
        return 2;
    }
    int rc = hv_grade_parse((const char *)text, len, path, g, owner, stderr);
    free(text);
    return rc;
}

int hv_usage(const nsmkit_cli *cli, const char *problem)
{
    fprintf(stderr, "%s: %s\n", cli->program, problem);
    nsmkit_opts_usage(cli, stderr);
    return 2;
}

int hv_parse(const nsmkit_cli *cli, int *argc, char **argv, void *ctx)
{
    nsmkit_error e;
    int r = nsmkit_opts_parse(cli, argc, argv, ctx, &e);
    if (r == NSMKIT_OPTS_RUN)
        return -1;
    return r == NSMKIT_OPTS_DONE ? 0 : hv_usage(cli, e.msg);
}

typedef struct {
    const char *html, *markdown;
} report_args;

static const nsmkit_opt report_rows[] = {
    NSMKIT_OPT_STRING("--html", "FILE", report_args, html,
                      "one self-contained page: the layer x class matrix, one column per\n"
                      "grading, coloured by verdict"),
    NSMKIT_OPT_STRING("--markdown", "FILE", report_args, markdown, "each grading's report"),
};
static const nsmkit_opt_group report_groups[] = {{NULL, report_rows, NSMKIT_ROWS(report_rows)}};
static const nsmkit_cli report_cli = {
    "nsm-vectors report", "GRADE.json [GRADE.json ...] [--html FILE] [--markdown FILE]",
    "Reads the --json results of nsm-vectors grade and writes them side by side; with\n"
    "neither --html nor --markdown, the text report of each.",
    report_groups, 1, false, NULL};

int hv_cmd_report(int argc, char **argv)
{
    report_args args = {0};
    int parsed = hv_parse(&report_cli, &argc, argv, &args);
    if (parsed >= 0)
        return parsed;
    if (argc == 0)
        return hv_usage(&report_cli, "no GRADE.json given");
    if (argc > MAX_GRADES) {
        fprintf(stderr, "nsm-vectors report: at most %d gradings\n", MAX_GRADES);
        return 2;
    }
    const char *html = args.html, *markdown = args.markdown;
    const char *const *files = (const char *const *)argv;
    size_t n = (size_t)argc;
    hv_grade grades[MAX_GRADES] = {{0}};
    void *roots[MAX_GRADES] = {0};
    int status = 0;
    for (size_t k = 0; k < n && status == 0; k++)
        status = load_grade(files[k], &grades[k], &roots[k]);
    if (status == 0 && html)
        status = hv_report_write_html(html, grades, n);
    for (size_t k = 0; k < n && status == 0 && markdown; k++) {
        FILE *f = fopen(markdown, k == 0 ? "w" : "a");
        if (!f) {
            perror(markdown);
            status = 2;
            break;
        }
        hv_report_markdown(f, &grades[k]);
        fputc('\n', f);
        status = fclose(f) == 0 ? 0 : 2;
    }
    for (size_t k = 0; k < n && status == 0 && !html && !markdown; k++)
        hv_report_text(stdout, &grades[k]);
    for (size_t k = 0; k < n; k++)
        hv_grade_release(&grades[k], roots[k]);
    return status;
}
