/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-vectors: one grading's results, shared by the grader (grade.c) and the reports
 * (report.c), which also read them back from --json files (`nsm-vectors report`).
 */
#ifndef NSMKIT_HARNESS_GRADE_H
#define NSMKIT_HARNESS_GRADE_H

#include <stdbool.h>
#include <stddef.h>

/* What the command did with one document. */
typedef enum { OUT_ACCEPT, OUT_REJECT, OUT_HANG, OUT_CRASH, OUT_NO_OUTPUT, OUT_ERROR,
               OUT_COUNT } hv_outcome;
extern const char *const hv_outcome_names[OUT_COUNT];

/* How that compares with the corpus: the colours of the HTML matrix. */
typedef enum { V_RIGHT, V_WRONG_ACCEPT, V_WRONG_REJECT, V_ERROR, V_HANG, V_COUNT } hv_verdict;
extern const char *const hv_verdict_names[V_COUNT]; /* "right", "wrongly accepted", ... */
extern const char *const hv_verdict_keys[V_COUNT];  /* "right", "wrongly_accepted", ... */

/* One document's result. The strings belong to the grading (manifest text or JSON). */
typedef struct {
    const char *name, *class_name, *layer, *description;
    const char *expected_code; /* nsm-verify's code for the document ("" if unknown) */
    bool expect_accept;
    hv_outcome got;
    int detail; /* exit status, signal number or timeout in seconds */
    char output[160]; /* the first line of output, printable */
} hv_result;

/* One grading: a verifier's results over one corpus. */
typedef struct {
    const char *verifier, *profile, *corpus;
    size_t count;
    hv_result *results;
} hv_grade;

/* The layers in the order of the reports. */
#define HV_LAYER_COUNT 8
extern const char *const hv_layers[HV_LAYER_COUNT];

hv_verdict hv_verdict_of(const hv_result *r);
/* r->output := text, cut to fit at a character's boundary. */
void hv_set_output(hv_result *r, const char *text);
/* The description of a class list ("valid", "a,b": the first class's), "" if unknown. */
const char *hv_class_description(const char *class_name);

/* `nsm-vectors grade ...` (the arguments after "grade"); returns the exit status. */
int hv_cmd_grade(int argc, char **argv);

#endif /* NSMKIT_HARNESS_GRADE_H */
