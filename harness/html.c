/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-vectors: the HTML picture of one or more gradings (report.h). One page, no script and
 * nothing fetched: a summary table, then the layer x class matrix with one column per
 * grading, each cell coloured by its verdict, the class's description and the command's
 * answer on hover (title attributes).
 */
#include <stdlib.h>
#include <string.h>

#include "report.h"

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* Cell colours, one per verdict (and the abbreviation written in the cell, for printing in
 * black and white and for colour-blind readers). */
static const char *const verdict_colour[V_COUNT] = {"#b7e1b0", "#e53935", "#fb8c00", "#8e44ad",
                                                    "#5d6d7e"};
static const char *const verdict_mark[V_COUNT] = {"ok", "WA", "WR", "ERR", "HANG"};

static void head(FILE *f)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<title>nsm-vectors grades</title>\n<style>\n"
          "body{font-family:sans-serif;margin:1.5em;color:#222}\n"
          "table{border-collapse:collapse;margin:1em 0}\n"
          "th,td{border:1px solid #ccc;padding:2px 6px;font-size:13px}\n"
          "th{background:#f4f4f4;text-align:left}\n"
          "td.num{text-align:right}\n"
          "tr.layer th{background:#dde4ec;font-size:14px}\n"
          "td.cell{text-align:center;font-family:monospace;min-width:3.5em}\n"
          "td.missing{background:#fff}\n", f);
    for (int v = 0; v < V_COUNT; v++)
        fprintf(f, "td.v-%s,span.v-%s{background:%s;color:%s}\n", hv_verdict_keys[v],
                hv_verdict_keys[v], verdict_colour[v], v == V_RIGHT ? "#1b4d1b" : "#fff");
    fputs("span.count{padding:1px 4px;white-space:nowrap}\n", f);
    fputs(".legend span{display:inline-block;padding:2px 8px;margin-right:6px}\n"
          "</style>\n</head>\n<body>\n<h1>nsm-vectors grades</h1>\n<p class=\"legend\">", f);
    for (int v = 0; v < V_COUNT; v++)
        fprintf(f, "<span class=\"v-%s\" style=\"background:%s;color:%s\">%s: %s</span>",
                hv_verdict_keys[v], verdict_colour[v], v == V_RIGHT ? "#1b4d1b" : "#fff",
                verdict_mark[v], hv_verdict_names[v]);
    fputs("</p>\n", f);
}

static void summary(FILE *f, const hv_grade *grades, size_t n)
{
    fputs("<table class=\"summary\">\n<tr><th>verifier</th><th>profile</th><th>corpus</th>"
          "<th>documents</th>", f);
    for (int v = 0; v < V_COUNT; v++)
        fprintf(f, "<th>%s</th>", hv_verdict_names[v]);
    fputs("</tr>\n", f);
    for (size_t k = 0; k < n; k++) {
        hv_counts c = hv_count(&grades[k], NULL);
        fputs("<tr><td>", f);
        esc(f, grades[k].verifier);
        fputs("</td><td>", f);
        esc(f, grades[k].profile);
        fputs("</td><td>", f);
        esc(f, grades[k].corpus);
        fprintf(f, "</td><td class=\"num\">%zu</td>", c.docs);
        for (int v = 0; v < V_COUNT; v++)
            fprintf(f, "<td class=\"num\">%zu</td>", c.by[v]);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* Each grading's results by name, for finding a document in the others in O(log n). */
typedef struct {
    const hv_grade *grade;
    const hv_result **by_name;
} index_t;

static int by_name_cmp(const void *a, const void *b)
{
    return strcmp((*(const hv_result *const *)a)->name, (*(const hv_result *const *)b)->name);
}

/* Per layer and grading, how many documents got each verdict: the matrix at a glance. */
static void by_layer(FILE *f, const hv_grade *grades, size_t n)
{
    fputs("<h2>By layer</h2>\n<table class=\"layers\">\n<tr><th>layer</th>", f);
    for (size_t k = 0; k < n; k++) {
        fputs("<th>", f);
        esc(f, grades[k].verifier);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t l = 0; l < HV_LAYER_COUNT; l++) {
        fprintf(f, "<tr><th>%s</th>", hv_layers[l]);
        for (size_t k = 0; k < n; k++) {
            hv_counts c = hv_count(&grades[k], hv_layers[l]);
            fputs("<td>", f);
            for (int v = 0; v < V_COUNT; v++)
                if (c.by[v])
                    fprintf(f, "<span class=\"count v-%s\" title=\"%zu of %zu %s\">%zu %s</span> ",
                            hv_verdict_keys[v], c.by[v], c.docs, hv_verdict_names[v], c.by[v],
                            verdict_mark[v]);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static const hv_result *find(const index_t *x, const char *name)
{
    hv_result key = {.name = name};
    const hv_result *k = &key;
    const hv_result **hit = x->by_name ? bsearch(&k, x->by_name, x->grade->count,
                                                 sizeof(*x->by_name), by_name_cmp) : NULL;
    return hit ? *hit : NULL;
}

static bool known_layer(const char *layer)
{
    for (size_t l = 0; l < HV_LAYER_COUNT; l++)
        if (strcmp(layer, hv_layers[l]) == 0)
            return true;
    return false;
}

/* One matrix cell: grading k's verdict on the document, its answer on hover. */
static void cell(FILE *f, const hv_result *r)
{
    if (!r) {
        fputs("<td class=\"cell missing\" title=\"not in this grading\"></td>", f);
        return;
    }
    hv_verdict v = hv_verdict_of(r);
    fprintf(f, "<td class=\"cell v-%s\" title=\"%s: expected %s, got %s", hv_verdict_keys[v],
            hv_verdict_names[v], r->expect_accept ? "accept" : "reject", hv_outcome_names[r->got]);
    if (r->output[0]) {
        fputs(": ", f);
        esc(f, r->output);
    }
    fprintf(f, "\">%s</td>", verdict_mark[v]);
}

/* The rows of one layer (NULL: every layer this program does not know, from a newer
 * corpus): every document of it in any grading, in first-seen order. */
static void layer_rows(FILE *f, const index_t *x, size_t n, const char *layer)
{
    bool any = false;
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < x[k].grade->count; i++) {
            const hv_result *r = &x[k].grade->results[i];
            if (layer ? strcmp(r->layer, layer) != 0 : known_layer(r->layer))
                continue;
            bool seen = false; /* listed already, from an earlier grading */
            for (size_t j = 0; j < k && !seen; j++)
                seen = find(&x[j], r->name) != NULL;
            if (seen)
                continue;
            if (!any)
                fprintf(f, "<tr class=\"layer\"><th colspan=\"%zu\">%s</th></tr>\n", n + 2,
                        layer ? layer : "other layers");
            any = true;
            const char *desc = r->description && r->description[0] ? r->description
                                                                  : hv_class_description(r->class_name);
            fputs("<tr><th class=\"doc\" title=\"", f);
            esc(f, desc);
            fputs("\">", f);
            esc(f, r->name);
            fputs("</th><td class=\"class\" title=\"", f);
            esc(f, desc);
            fputs("\">", f);
            esc(f, r->class_name);
            fputs("</td>", f);
            for (size_t c = 0; c < n; c++)
                cell(f, c == k ? r : find(&x[c], r->name));
            fputs("</tr>\n", f);
        }
}

void hv_report_html(FILE *f, const hv_grade *grades, size_t n)
{
    head(f);
    summary(f, grades, n);
    by_layer(f, grades, n);
    fputs("<h2>Layer x class</h2>\n<p>Hover over a document or class for its description, over "
          "a cell for the command's answer.</p>\n<table class=\"matrix\">\n"
          "<tr><th>document</th><th>class</th>", f);
    for (size_t k = 0; k < n; k++) {
        fputs("<th class=\"grading\">", f);
        esc(f, grades[k].verifier);
        fputs(" (", f);
        esc(f, grades[k].profile);
        fputs(")</th>", f);
    }
    fputs("</tr>\n", f);
    index_t *x = calloc(n ? n : 1, sizeof(*x));
    for (size_t k = 0; x && k < n; k++) {
        x[k].grade = &grades[k];
        x[k].by_name = calloc(grades[k].count ? grades[k].count : 1, sizeof(*x[k].by_name));
        for (size_t i = 0; x[k].by_name && i < grades[k].count; i++)
            x[k].by_name[i] = &grades[k].results[i];
        if (x[k].by_name)
            qsort(x[k].by_name, grades[k].count, sizeof(*x[k].by_name), by_name_cmp);
    }
    for (size_t l = 0; x && l <= HV_LAYER_COUNT; l++)
        layer_rows(f, x, n, l < HV_LAYER_COUNT ? hv_layers[l] : NULL);
    for (size_t k = 0; x && k < n; k++)
        free(x[k].by_name);
    free(x);
    fputs("</table>\n<p>Made by nsm-vectors (nsmkit).</p>\n</body>\n</html>\n", f);
}
