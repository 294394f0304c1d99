/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON walker on jansson: the text is parsed by jansson (RFC 8259, no trailing data,
 * no duplicate keys), after a nesting pre-scan that keeps the depth bound ahead of the
 * parser; then every string value is reported with its key path, in document order. */
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "nsmkit/error.h"
#include "nsmkit/json.h"

#define JSON_MAX_DEPTH 32
#define JSON_MAX_STRING 4096

/* Refuses nesting deeper than JSON_MAX_DEPTH before anything is parsed (jansson's own bound
 * is 2048 and reports a truncated text before its depth). Brackets inside strings do not
 * count. */
static int depth_check(const char *text, size_t len, nsmkit_error *e)
{
    size_t depth = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > JSON_MAX_DEPTH)
                return nsmkit_fail(e, "JSON: nesting too deep (over %d levels) at byte %zu",
                                   JSON_MAX_DEPTH, i);
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

typedef struct {
    nsmkit_json_string_fn fn;
    void *ctx;
    nsmkit_error *e;
    const char *keys[JSON_MAX_DEPTH + 1];
    size_t depth; /* number of keys in effect */
} json_walker;

static int walk_value(json_walker *w, json_t *value)
{
    if (json_is_string(value)) {
        size_t len = json_string_length(value);
        if (len > JSON_MAX_STRING)
            return nsmkit_fail(w->e, "JSON: string too long (%zu bytes, at most %d)", len,
                               JSON_MAX_STRING);
        return w->fn(w->ctx, w->keys, w->depth, json_string_value(value), len);
    }
    if (json_is_array(value)) {
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item)
        {
            int rc = walk_value(w, item);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    if (json_is_object(value)) {
        const char *key;
        json_t *member;
        json_object_foreach(value, key, member) /* insertion order: the document's */
        {
            if (strlen(key) > JSON_MAX_STRING)
                return nsmkit_fail(w->e, "JSON: key too long (at most %d bytes)", JSON_MAX_STRING);
            if (w->depth >= JSON_MAX_DEPTH)
                return nsmkit_fail(w->e, "JSON: nesting too deep (over %d levels)", JSON_MAX_DEPTH);
            w->keys[w->depth++] = key;
            int rc = walk_value(w, member);
            w->depth--;
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    return 0; /* numbers, true, false, null: nothing to report */
}

int nsmkit_json_walk(const char *text, size_t len, nsmkit_json_string_fn fn, void *ctx,
                     nsmkit_error *e)
{
    if (depth_check(text, len, e) != 0)
        return -1;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr); /* owned */
    if (root == NULL)
        return nsmkit_fail(e, "JSON: %s at byte %d", jerr.text, jerr.position);
    json_walker w = {.fn = fn, .ctx = ctx, .e = e};
    int rc = walk_value(&w, root);
    json_decref(root);
    return rc;
}
