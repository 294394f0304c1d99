/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit eif: the metadata section, the JSON eif_utils' EifIdentityInfo is serialized to:
 *
 *   {"ImageName": s, "ImageVersion": s,
 *    "BuildMetadata": {"BuildTime": s, "BuildTool": s, "BuildToolVersion": s,
 *                      "OperatingSystem": s, "KernelVersion": s},
 *    "DockerInfo": any, "CustomMetadata": null or an object}
 *
 * Strict: every field present with its type, no other key, no duplicate key (serde would
 * keep the last of two, jansson refuses them), UTF-8 throughout.
 */
#include <string.h>

#include <jansson.h>

#include "eif_internal.h"
#include "eif_json.h"

static const char *const build_fields[] = {"BuildTime", "BuildTool", "BuildToolVersion",
                                           "OperatingSystem", "KernelVersion"};

static int check_object(json_t *obj, const char *const *names, size_t count, const char *where,
                        nsmkit_error *e)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        bool known = false;
        for (size_t k = 0; k < count; k++)
            known |= strcmp(key, names[k]) == 0;
        if (!known)
            return nsmkit_fail(e, "%s: unknown key \"%s\"", where, key);
    }
    return 0;
}

void *nsmeif_metadata_parse(const char *text, size_t len, nsmkit_error *e)
{
    static const char *const top[] = {"ImageName", "ImageVersion", "BuildMetadata",
                                       "DockerInfo", "CustomMetadata"};
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        nsmkit_fail(e, "not JSON: %s (line %d, column %d)", err.text, err.line, err.column);
        return NULL;
    }
    json_t *build = json_object_get(root, "BuildMetadata");
    json_t *custom = json_object_get(root, "CustomMetadata");
    int bad = 0;
    if (!json_is_object(root))
        bad = nsmkit_fail(e, "not a JSON object");
    else if (check_object(root, top, 5, "metadata", e) != 0)
        bad = -1;
    else if (!json_is_string(json_object_get(root, "ImageName")) ||
             !json_is_string(json_object_get(root, "ImageVersion")))
        bad = nsmkit_fail(e, "ImageName and ImageVersion must be strings");
    else if (!json_is_object(build) || check_object(build, build_fields, 5, "BuildMetadata", e))
        bad = json_is_object(build) ? -1 : nsmkit_fail(e, "BuildMetadata must be an object");
    else if (!json_object_get(root, "DockerInfo"))
        bad = nsmkit_fail(e, "no DockerInfo (null when the image was not built from Docker)");
    else if (!custom || !(json_is_null(custom) || json_is_object(custom)))
        bad = nsmkit_fail(e, "CustomMetadata must be null or an object (describe-eif merges "
                             "its keys into Metadata)");
    for (size_t k = 0; !bad && k < 5; k++)
        if (!json_is_string(json_object_get(build, build_fields[k])))
            bad = nsmkit_fail(e, "BuildMetadata.%s must be a string", build_fields[k]);
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;
}

void nsmeif_metadata_check(nsmeif_image *image)
{
    nsmkit_error e;
    json_t *root = nsmeif_metadata_parse(image->metadata, image->metadata_len, &e);
    if (!root)
        nsmeif_fail(image, NSMEIF_ERR_METADATA, "%s", e.msg);
    json_decref(root);
}

json_t *nsmeif_json_sorted(json_t *value)
{
    if (json_is_array(value)) {
        json_t *out = json_array();
        for (size_t i = 0; out && i < json_array_size(value); i++)
            json_array_append_new(out, nsmeif_json_sorted(json_array_get(value, i)));
        return out;
    }
    if (!json_is_object(value))
        return json_incref(value);
    size_t n = json_object_size(value);
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    json_t *out = json_object();
    if (!keys || !out) {
        free(keys);
        json_decref(out);
        return NULL;
    }
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(value, key, v) keys[i++] = key;
    qsort(keys, n, sizeof(*keys), nsmeif_strcmp_ptr);
    for (i = 0; i < n; i++)
        json_object_set_new(out, keys[i], nsmeif_json_sorted(json_object_get(value, keys[i])));
    free(keys);
    return out;
}

int nsmeif_strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}
