/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: numbered codes, one machinery for every component.
 *
 * A component keeps its codes in one X-macro list, X(NAME, number, ..., sentence), and
 * generates from it its enum (NSMKIT_CODE_ENUM) and its table (NSMKIT_CODE_ROW): the rows
 * in ascending order of number, and the component's range. One lookup (nsmkit_code_find)
 * serves every table. The message that goes with a code travels in an nsmkit_error
 * (nsmkit/error.h), the one carrier of messages.
 *
 * Ranges, so that no number means two things across the project (0 is success in every
 * list): verifier 100-999, nsm-sim 1000-1999, ca-tools 2000-2999, kms 3000-3999,
 * eif 4000-4999, vsock 5000-5999, harness 6000-6999, common 7000-7999.
 */
#ifndef NSMKIT_CODES_H
#define NSMKIT_CODES_H

#include <stddef.h>

#include "nsmkit/error.h"

#define NSMKIT_RANGE_VERIFIER 100, 999
#define NSMKIT_RANGE_SIM 1000, 1999
#define NSMKIT_RANGE_CA 2000, 2999
#define NSMKIT_RANGE_KMS 3000, 3999
#define NSMKIT_RANGE_EIF 4000, 4999
#define NSMKIT_RANGE_VSOCK 5000, 5999
#define NSMKIT_RANGE_HARNESS 6000, 6999
#define NSMKIT_RANGE_COMMON 7000, 7999

typedef struct {
    int number;
    const char *name;     /* "PCR_LOCKED": the list's NAME */
    const char *sentence; /* what the code means, for documentation and messages */
} nsmkit_code_info;

typedef struct {
    const char *component;       /* "nsm-sim" */
    int first, last;             /* the component's range; 0 (success) is allowed too */
    const nsmkit_code_info *rows; /* ascending numbers */
    size_t count;
} nsmkit_code_table;

/* In a list's adapters: `#define ROW(name, number, wire, sentence) NSMKIT_CODE_ROW(name,
 * number, sentence)` and `#define ENUM(name, number, ...) NSMKIT_CODE_ENUM(NSMSIM_ERR_,
 * name, number)`. */
#define NSMKIT_CODE_ROW(name, number, sentence) {(number), #name, (sentence)},
#define NSMKIT_CODE_ENUM(prefix, name, number) prefix##name = (number),
/* A table from an array of rows and a range macro: NSMKIT_CODE_TABLE("nsm-sim", rows,
 * NSMKIT_RANGE_SIM). */
#define NSMKIT_CODE_TABLE(component, rows, ...) NSMKIT_CODE_TABLE_(component, rows, __VA_ARGS__)
#define NSMKIT_CODE_TABLE_(component, rows, first, last)                                      \
    {(component), (first), (last), (rows), sizeof(rows) / sizeof((rows)[0])}

/* The row of number in table, or NULL (a binary search: the rows ascend). */
const nsmkit_code_info *nsmkit_code_find(const nsmkit_code_table *table, int number);
/* The row's name or sentence, or NULL for a number not in the table. */
const char *nsmkit_code_name(const nsmkit_code_table *table, int number);
const char *nsmkit_code_sentence(const nsmkit_code_table *table, int number);
/* Checks a table: numbers ascending and unique, each 0 or within the range, names and
 * sentences present. Returns 0, or -1 with the first problem in e. */
int nsmkit_code_table_check(const nsmkit_code_table *table, nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_CODES_H */
