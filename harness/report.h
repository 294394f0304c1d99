/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-vectors: the reports of a grading (text, JSON, markdown, HTML) and `nsm-vectors report`,
 * which reads --json results back and puts several side by side.
 */
#ifndef NSMKIT_HARNESS_REPORT_H
#define NSMKIT_HARNESS_REPORT_H

#include <stdio.h>

#include "grade.h"
#include "nsmkit/opts.h"

/* Counts of each verdict, over a grading or one layer of it (layer NULL: all). */
typedef struct {
    size_t docs, by[V_COUNT];
} hv_counts;
hv_counts hv_count(const hv_grade *g, const char *layer);

/* The matrix by layer, each wrong verdict (identical errors as one line with their count)
 * and the summary line. */
void hv_report_text(FILE *f, const hv_grade *g);
void hv_report_json(FILE *f, const hv_grade *g);
void hv_report_markdown(FILE *f, const hv_grade *g);
/* One self-contained page: a layer x class matrix per grading, side by side. */
void hv_report_html(FILE *f, const hv_grade *grades, size_t n);

/* Writes one report to path with writer (HTML: over grades[0..n)); 0, or 2 with a message. */
int hv_report_write(const char *path, const char *what,
                    void (*writer)(FILE *, const hv_grade *), const hv_grade *g);
int hv_report_write_html(const char *path, const hv_grade *grades, size_t n);

/* Reads a --json grade from text (name: for messages); *owner owns its strings until
 * hv_grade_release (also after a failure). 0, or 2 with a message on msgs (NULL: none). */
int hv_grade_parse(const char *text, size_t len, const char *name, hv_grade *g, void **owner,
                   FILE *msgs);
void hv_grade_release(hv_grade *g, void *owner);

/* Parses a command's arguments (those after "nsm-vectors COMMAND") with its table: -1 to
 * go on with the operands in argv[0..*argc), else the exit status (0 after --help or
 * --version, 2 a usage error, said on stderr). */
int hv_parse(const nsmkit_cli *cli, int *argc, char **argv, void *ctx);
/* "PROGRAM: problem" and the usage on stderr; returns 2. */
int hv_usage(const nsmkit_cli *cli, const char *problem);
/* `nsm-vectors report A.json [B.json ...] [--html FILE] [--markdown FILE]`. */
int hv_cmd_report(int argc, char **argv);

#endif /* NSMKIT_HARNESS_REPORT_H */
