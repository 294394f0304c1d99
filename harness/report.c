/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-vectors: the reports of a grading (report.h): text on stdout, --json, --markdown and
 * --html. The HTML page is self-contained (inline style, no script, nothing fetched), so it
 * can be mailed or attached to a CI run as one file.
 */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nsmkit/fault.h"

const char *const hv_outcome_names[OUT_COUNT] = {"accept", "reject", "hang", "crash",
                                                 "no output", "error"};
const char *const hv_verdict_names[V_COUNT] = {"right", "wrongly accepted", "wrongly rejected",
                                               "error", "hang"};
const char *const hv_verdict_keys[V_COUNT] = {"right", "wrongly_accepted", "wrongly_rejected",
                                              "error", "hang"};
const char *const hv_layers[HV_LAYER_COUNT] = {"valid", "bytes", "cbor", "header", "payload",
                                               "pki", "signature", "policy"};

hv_verdict hv_verdict_of(const hv_result *r)
{
    switch (r->got) {
    case OUT_ACCEPT:
        return r->expect_accept ? V_RIGHT : V_WRONG_ACCEPT;
    case OUT_REJECT:
        return r->expect_accept ? V_WRONG_REJECT : V_RIGHT;
    case OUT_HANG:
        return V_HANG;
    default:
        return V_ERROR;
    }
}

const char *hv_class_description(const char *class_name)
{
    char first[64];
    size_t n = strcspn(class_name, ",");
    if (strcmp(class_name, "valid") == 0)
        return "a valid document of this shape";
    if (n >= sizeof(first))
        return "";
    memcpy(first, class_name, n);
    first[n] = '\0';
    int c = nsmfault_by_name(first);
    const nsmfault_info *i = c < 0 ? NULL : nsmfault_get((nsmfault_class)c);
    return i ? i->description : "";
}

hv_counts hv_count(const hv_grade *g, const char *layer)
{
    hv_counts c = {0};
    for (size_t i = 0; i < g->count; i++) {
        if (layer && strcmp(g->results[i].layer, layer) != 0)
            continue;
        c.docs++;
        c.by[hv_verdict_of(&g->results[i])]++;
    }
    return c;
}

/* ---- text ------------------------------------------------------------------------------------ */

static void outcome_detail(FILE *f, const hv_result *r)
{
    fputs(hv_outcome_names[r->got], f);
    if (r->got == OUT_HANG)
        fprintf(f, " (no verdict in %d s)", r->detail);
    if (r->got == OUT_CRASH)
        fprintf(f, " (signal %d)", r->detail > 128 ? r->detail - 128 : r->detail);
    if (r->got == OUT_ERROR)
        fprintf(f, " (exit %d: %s)", r->detail, r->output);
}

/* Errors alike: the same outcome, status and output. */
static bool same_error(const hv_result *a, const hv_result *b)
{
    return a->got == b->got && a->detail == b->detail && strcmp(a->output, b->output) == 0;
}

/* Ordered by outcome, status and output, then by position, so that sorting puts each group
 * together with its first document first. */
static const hv_result *sort_base;

static int error_cmp(const void *a, const void *b)
{
    const hv_result *x = &sort_base[*(const size_t *)a], *y = &sort_base[*(const size_t *)b];
    if (x->got != y->got)
        return x->got < y->got ? -1 : 1;
    if (x->detail != y->detail)
        return x->detail < y->detail ? -1 : 1;
    int c = strcmp(x->output, y->output);
    if (c)
        return c;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* alike[i]: for the first document of a group of errors alike, the group's size; 0 for the
 * others (and for documents that are no error). O(n log n): corpora may be large. */
static size_t *group_errors(const hv_grade *g)
{
    size_t *alike = calloc(g->count ? g->count : 1, sizeof(size_t));
    size_t *idx = calloc(g->count ? g->count : 1, sizeof(size_t));
    size_t n = 0;
    if (!alike || !idx) {
        free(idx);
        free(alike);
        return NULL;
    }
    for (size_t i = 0; i < g->count; i++)
        if (hv_verdict_of(&g->results[i]) >= V_ERROR)
            idx[n++] = i;
    sort_base = g->results; /* reports are written by one thread */
    qsort(idx, n, sizeof(*idx), error_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && same_error(&g->results[idx[i]], &g->results[idx[j]]))
            j++;
        alike[idx[i]] = j - i;
        i = j;
    }
    free(idx);
    return alike;
}

/* Each wrong verdict on a line; errors alike as one line with their count, so that a command
 * that cannot run says so once, not 201 times. */
static void text_wrong(FILE *f, const hv_grade *g)
{
    size_t *alike = group_errors(g);
    for (size_t i = 0; i < g->count; i++) {
        const hv_result *r = &g->results[i];
        hv_verdict v = hv_verdict_of(r);
        if (v == V_RIGHT)
            continue;
        if (v == V_WRONG_ACCEPT || v == V_WRONG_REJECT) {
            fprintf(f, "  %-16s %-9s %-44s %s%s\n",
                    v == V_WRONG_ACCEPT ? "WRONGLY ACCEPTED" : "WRONGLY REJECTED", r->layer,
                    r->name, v == V_WRONG_REJECT ? " said: " : "",
                    v == V_WRONG_REJECT ? r->output : "");
            continue;
        }
        size_t n = alike ? alike[i] : 1;
        if (n == 0)
            continue; /* shown with the first of its group */
        if (n == 1)
            fprintf(f, "  %-16s %-9s %-44s ", "ERROR", r->layer, r->name);
        else
            fprintf(f, "  %-16s %zu documents alike (first %s): ", "ERROR", n, r->name);
        outcome_detail(f, r);
        fputc('\n', f);
    }
    free(alike);
}

void hv_report_text(FILE *f, const hv_grade *g)
{
    fprintf(f, "grade of %s (profile %s) on %s: %zu documents\n", g->verifier, g->profile,
            g->corpus, g->count);
    fprintf(f, "%-10s %6s %6s %14s %14s %7s\n", "layer", "docs", "right", "wrong-accept",
            "wrong-reject", "errors");
    for (size_t l = 0; l < HV_LAYER_COUNT; l++) {
        hv_counts c = hv_count(g, hv_layers[l]);
        fprintf(f, "%-10s %6zu %6zu %14zu %14zu %7zu\n", hv_layers[l], c.docs, c.by[V_RIGHT],
                c.by[V_WRONG_ACCEPT], c.by[V_WRONG_REJECT], c.by[V_ERROR] + c.by[V_HANG]);
    }
    text_wrong(f, g);
    hv_counts all = hv_count(g, NULL);
    fprintf(f, "summary: %zu documents, %zu right, %zu wrongly accepted, %zu wrongly rejected, "
               "%zu errors (hang, crash, no output)\n", all.docs, all.by[V_RIGHT],
            all.by[V_WRONG_ACCEPT], all.by[V_WRONG_REJECT], all.by[V_ERROR] + all.by[V_HANG]);
}

/* ---- JSON and markdown ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlong forms, no surrogates, at
 * most U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || p[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
        return 0;
    return n;
}

void hv_set_output(hv_result *r, const char *text)
{
    /* whole UTF-8 sequences only: a cut one would not survive the next JSON */
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        size_t n = utf8_sequence(p);
        n = n ? n : 1;
        if (len + n >= sizeof(r->output))
            break;
        len += n;
        p += n;
    }
    memcpy(r->output, text, len);
    r->output[len] = '\0';
}

/* A JSON string: text from --json files (jansson checked it) keeps its characters; bytes
 * that are not UTF-8 (a hostile manifest) become U+FFFD. */
static void json_text(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_sequence(p);
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else if (n == 0)
            fputs("\\ufffd", f);
        else
            fwrite(p, 1, n, f);
        p += n ? n : 1;
    }
    fputc('"', f);
}

void hv_report_json(FILE *f, const hv_grade *g)
{
    hv_counts all = hv_count(g, NULL);
    fputs("{\"verifier\": ", f);
    json_text(f, g->verifier);
    fputs(", \"profile\": ", f);
    json_text(f, g->profile);
    fputs(", \"corpus\": ", f);
    json_text(f, g->corpus);
    fprintf(f, ", \"documents\": %zu, \"right\": %zu, \"wrongly_accepted\": %zu, "
               "\"wrongly_rejected\": %zu, \"errors\": %zu, \"results\": [\n", all.docs,
            all.by[V_RIGHT], all.by[V_WRONG_ACCEPT], all.by[V_WRONG_REJECT],
            all.by[V_ERROR] + all.by[V_HANG]);
    for (size_t i = 0; i < g->count; i++) {
        const hv_result *r = &g->results[i];
        fputs("  {\"name\": ", f);
        json_text(f, r->name);
        fputs(", \"class\": ", f);
        json_text(f, r->class_name);
        fputs(", \"layer\": ", f);
        json_text(f, r->layer);
        fprintf(f, ", \"expected\": \"%s\", \"got\": \"%s\", \"wrong\": %s, \"verdict\": \"%s\", "
                   "\"detail\": %d, \"output\": ", r->expect_accept ? "accept" : "reject",
                hv_outcome_names[r->got], hv_verdict_of(r) != V_RIGHT ? "true" : "false",
                hv_verdict_keys[hv_verdict_of(r)], r->detail);
        json_text(f, r->output);
        fputs(", \"description\": ", f);
        json_text(f, r->description);
        fputs(", \"expected_code\": ", f);
        json_text(f, r->expected_code);
        fprintf(f, "}%s\n", i + 1 < g->count ? "," : "");
    }
    fputs("]}\n", f);
}

static void md_text(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(*s == '|' ? '/' : *s, f);
}

void hv_report_markdown(FILE *f, const hv_grade *g)
{
    hv_counts all = hv_count(g, NULL);
    fputs("# Grade: ", f);
    md_text(f, g->verifier);
    fprintf(f, "\n\nProfile `%s`, corpus `%s`, %zu documents.\n\n", g->profile, g->corpus, g->count);
    fprintf(f, "**%zu right, %zu wrongly accepted, %zu wrongly rejected, %zu errors.**\n\n",
            all.by[V_RIGHT], all.by[V_WRONG_ACCEPT], all.by[V_WRONG_REJECT],
            all.by[V_ERROR] + all.by[V_HANG]);
    fputs("| layer | documents | right | wrongly accepted | wrongly rejected | error | hang |\n"
          "|---|---:|---:|---:|---:|---:|---:|\n", f);
    for (size_t l = 0; l <= HV_LAYER_COUNT; l++) {
        hv_counts c = l < HV_LAYER_COUNT ? hv_count(g, hv_layers[l]) : all;
        fprintf(f, "| %s | %zu | %zu | %zu | %zu | %zu | %zu |\n",
                l < HV_LAYER_COUNT ? hv_layers[l] : "**all**", c.docs, c.by[V_RIGHT],
                c.by[V_WRONG_ACCEPT], c.by[V_WRONG_REJECT], c.by[V_ERROR], c.by[V_HANG]);
    }
    fputs("\n| document | layer | expected | got | output |\n|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < g->count; i++) {
        const hv_result *r = &g->results[i];
        if (hv_verdict_of(r) == V_RIGHT)
            continue;
        fprintf(f, "| %s | %s | %s%s%s%s | %s | ", r->name, r->layer,
                r->expect_accept ? "accept" : "reject", r->expected_code[0] ? " (" : "",
                r->expected_code, r->expected_code[0] ? ")" : "", hv_outcome_names[r->got]);
        md_text(f, r->output);
        fputs(" |\n", f);
    }
}

/* ---- writing a file --------------------------------------------------------------------------- */

static FILE *open_out(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "nsm-vectors: %s: %s\n", path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path)
{
    if (ferror(f) | (fclose(f) != 0)) {
        fprintf(stderr, "nsm-vectors: %s: write failed\n", path);
        return 2;
    }
    return 0;
}

int hv_report_write(const char *path, const char *what,
                    void (*writer)(FILE *, const hv_grade *), const hv_grade *g)
{
    (void)what;
    FILE *f = open_out(path);
    if (!f)
        return 2;
    writer(f, g);
    return close_out(f, path);
}

int hv_report_write_html(const char *path, const hv_grade *grades, size_t n)
{
    FILE *f = open_out(path);
    if (!f)
        return 2;
    hv_report_html(f, grades, n);
    return close_out(f, path);
}
