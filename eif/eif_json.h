/* SPDX-License-Identifier: Apache-2.0 */
/* nsmkit eif: the JSON helpers shared by metadata.c, describe.c and build.c (jansson). */
#ifndef NSMKIT_EIF_JSON_H
#define NSMKIT_EIF_JSON_H

#include <stddef.h>
#include <stdlib.h>

#include <jansson.h>

#include "nsmkit/error.h"

/* The metadata section parsed and checked (an owned json_t *), or NULL with the reason. */
void *nsmeif_metadata_parse(const char *text, size_t len, nsmkit_error *e);
/* A deep copy whose objects hold their keys sorted byte-wise, as serde_json's Value (a
 * BTreeMap) prints them. */
json_t *nsmeif_json_sorted(json_t *value);
/* qsort's comparison for an array of C strings. */
int nsmeif_strcmp_ptr(const void *a, const void *b);

#endif /* NSMKIT_EIF_JSON_H */
