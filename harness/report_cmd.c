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

int hv_report_usage(FILE *f, int status)
{
    fputs("usage: nsm-vectors report GRADE.json [GRADE.json ...] [--html FILE] [--markdown FILE]\n"
          "Reads the --json results of nsm-vectors grade and writes them side by side: --html\n"
          "one self-contained page (the layer x class matrix, one column per grading, coloured\n"
          "by verdict), --markdown each grading's report; with neither, the text report of each.\n",
          f);
    return status;
}

int hv_cmd_report(int argc, char **argv)
{
    const char *html = NULL, *markdown = NULL, *files[MAX_GRADES];
    size_t n = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return hv_report_usage(stdout, 0);
        if ((strcmp(argv[i], "--html") == 0 || strcmp(argv[i], "--markdown") == 0) && i + 1 < argc) {
            *(argv[i][2] == 'h' ? &html : &markdown) = argv[i + 1];
            i++;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "nsm-vectors report: unknown option or missing value: %s\n", argv[i]);
            return hv_report_usage(stderr, 2);
        } else if (n == MAX_GRADES) {
            fprintf(stderr, "nsm-vectors report: at most %d gradings\n", MAX_GRADES);
            return 2;
        } else
            files[n++] = argv[i];
    }
    if (n == 0) {
        fprintf(stderr, "nsm-vectors report: no GRADE.json given\n");
        return hv_report_usage(stderr, 2);
    }
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
