/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cbor and payload stages.
 *
 * cbor: the payload bytes go through nsmkit_cbor_load with limits that fit a document and
 * nothing larger (depth 3: payload map > pcrs map or cabundle array > value), so libcbor
 * never sees a declared length it could preallocate. Indefinite strings and tags are
 * refused there; an indefinite-length payload map is fine (real NSM output since 2025).
 *
 * payload: keys first (all text, known, each once, exactly one PCR map kind, required ones
 * present), then each field in a fixed order, so that the code reported does not depend on
 * the order of keys in the document.
 */
#include <string.h>

#include "internal.h"
#include "nsmkit/cbor.h"

/* Items in the largest valid payload: map + 10 keys + values + 32 PCR pairs + cabundle. */
#define PAYLOAD_MAX_ITEMS 256

typedef enum {
    KEY_MODULE_ID,
    KEY_DIGEST,
    KEY_TIMESTAMP,
    KEY_PCRS,
    KEY_NITROTPM_PCRS,
    KEY_CERTIFICATE,
    KEY_CABUNDLE,
    KEY_PUBLIC_KEY,
    KEY_USER_DATA,
    KEY_NONCE,
    KEY_COUNT
} payload_key;

static const char *const key_names[KEY_COUNT] = {
    "module_id", "digest",      "timestamp", "pcrs",       "nitrotpm_pcrs",
    "certificate", "cabundle", "public_key", "user_data", "nonce",
};

/* The pre-pass refuses indefinite strings; these still check before every accessor. */
static bool is_text(const cbor_item_t *item)
{
    return cbor_isa_string(item) && cbor_string_is_definite(item);
}

static bool is_bytes(const cbor_item_t *item)
{
    return cbor_isa_bytestring(item) && cbor_bytestring_is_definite(item);
}

static nsmkit_bytes text_of(const cbor_item_t *item)
{
    nsmkit_bytes s = {cbor_string_handle(item), cbor_string_length(item)};
    return s;
}

/* libcbor's cbor_is_bool and cbor_is_undef assert (and abort) on a float item: check the
 * width first (nsmkit_cbor_is_null does the same for null). */
static bool ctrl_is(const cbor_item_t *item, uint8_t ctrl)
{
    return cbor_isa_float_ctrl(item) && cbor_float_ctrl_is_ctrl(item) &&
           cbor_ctrl_value(item) == ctrl;
}

static const char *type_name(const cbor_item_t *item)
{
    if (nsmkit_cbor_is_null(item))
        return "null";
    switch (cbor_typeof(item)) {
    case CBOR_TYPE_UINT: return "unsigned integer";
    case CBOR_TYPE_NEGINT: return "negative integer";
    case CBOR_TYPE_BYTESTRING: return "byte string";
    case CBOR_TYPE_STRING: return "text string";
    case CBOR_TYPE_ARRAY: return "array";
    case CBOR_TYPE_MAP: return "map";
    case CBOR_TYPE_TAG: return "tag";
    case CBOR_TYPE_FLOAT_CTRL: break;
    }
    if (ctrl_is(item, CBOR_CTRL_TRUE) || ctrl_is(item, CBOR_CTRL_FALSE))
        return "boolean";
    if (ctrl_is(item, CBOR_CTRL_UNDEF))
        return "undefined";
    return cbor_float_ctrl_is_ctrl(item) ? "simple value" : "float";
}

nsmv_code nsmv_payload_load(nsmkit_bytes bytes, nsmv_payload *payload, nsmv_run *run)
{
    static const nsmkit_cbor_limits limits = {.max_depth = 3,
                                              .max_items = PAYLOAD_MAX_ITEMS,
                                              .allow_indefinite_strings = false,
                                              .allow_tags = false};
    nsmkit_cbor_report report;
    nsmv_code code;

    memset(payload, 0, sizeof(*payload));
    for (size_t i = 0; i < NSMV_PCR_MAX; i++)
        payload->pcr_slot[i] = -1;
    nsmkit_cbor_status st = nsmkit_cbor_load(bytes.ptr, bytes.len, &limits, &payload->root,
                                             &report);
    switch (st) {
    case NSMKIT_CBOR_OK:
        payload->definite_map = cbor_isa_map(payload->root) && cbor_map_is_definite(payload->root);
        return NSMV_OK;
    case NSMKIT_CBOR_EMPTY: code = NSMV_ERR_CBOR_EMPTY; break;
    case NSMKIT_CBOR_TRUNCATED: code = NSMV_ERR_CBOR_TRUNCATED; break;
    case NSMKIT_CBOR_LENGTH_TOO_LARGE: code = NSMV_ERR_CBOR_LENGTH_TOO_LARGE; break;
    case NSMKIT_CBOR_TOO_DEEP: code = NSMV_ERR_CBOR_TOO_DEEP; break;
    case NSMKIT_CBOR_TOO_MANY_ITEMS: code = NSMV_ERR_CBOR_TOO_MANY_ITEMS; break;
    case NSMKIT_CBOR_INDEFINITE_STRING: code = NSMV_ERR_CBOR_INDEFINITE_STRING; break;
    case NSMKIT_CBOR_TAG_NOT_ALLOWED: code = NSMV_ERR_CBOR_TAG; break;
    case NSMKIT_CBOR_TRAILING_BYTES: code = NSMV_ERR_CBOR_TRAILING_BYTES; break;
    case NSMKIT_CBOR_NO_MEMORY: code = NSMV_ERR_NO_MEMORY; break;
    case NSMKIT_CBOR_LIBRARY_ERROR: code = NSMV_ERR_CBOR_UNSUPPORTED; break;
    default: code = NSMV_ERR_CBOR_MALFORMED; break;
    }
    return nsmv_fail(run, code, "%s at byte %zu of the %zu-byte payload",
                     nsmkit_cbor_status_name(st), report.offset, bytes.len);
}

void nsmv_payload_clear(nsmv_payload *payload)
{
    if (payload->root)
        cbor_decref(&payload->root);
    memset(payload, 0, sizeof(*payload));
}

/* ---- keys ------------------------------------------------------------------------------------- */

static nsmv_code check_keys(const cbor_item_t *map, const cbor_item_t *values[KEY_COUNT],
                            nsmv_run *run)
{
    nsmv_code first = NSMV_OK;
    struct cbor_pair *pairs = cbor_map_handle(map);
    char shown[64];

#define FAIL(...) NSMV_CHECK(run, first, nsmv_fail(run, __VA_ARGS__))

    /* The shared walk stops at each problem with pos at the pair; every problem is
     * reported and the walk goes on after it (values[] keeps the first of a duplicate). */
    for (size_t pos = 0;; pos++) {
        nsmkit_map_status st = nsmkit_cbor_map_fields(map, key_names, KEY_COUNT, values, &pos);
        if (st == NSMKIT_MAP_OK)
            break;
        const cbor_item_t *key = pairs[pos].key;
        switch (st) {
        case NSMKIT_MAP_KEY_NOT_TEXT:
            FAIL(NSMV_ERR_PAYLOAD_KEY_NOT_TEXT, "key %zu is a %s", pos, type_name(key));
            break;
        case NSMKIT_MAP_UNKNOWN_KEY:
            nsmv_printable(cbor_string_handle(key), cbor_string_length(key), shown,
                           sizeof(shown));
            FAIL(NSMV_ERR_PAYLOAD_UNKNOWN_KEY, "key \"%s\"", shown);
            break;
        case NSMKIT_MAP_DUPLICATE_KEY:
            nsmv_printable(cbor_string_handle(key), cbor_string_length(key), shown,
                           sizeof(shown));
            FAIL(NSMV_ERR_PAYLOAD_DUPLICATE_KEY, "\"%s\" appears again as key %zu", shown, pos);
            break;
        default: /* NSMKIT_MAP_NOT_MAP: the caller checked the map */
            return nsmv_fail(run, NSMV_ERR_INTERNAL, "the payload map walk failed");
        }
    }
    if (values[KEY_PCRS] && values[KEY_NITROTPM_PCRS])
        FAIL(NSMV_ERR_PAYLOAD_TWO_PCR_KINDS, "a document is either an NSM or a NitroTPM one");
    static const payload_key required[] = {KEY_MODULE_ID, KEY_DIGEST, KEY_TIMESTAMP,
                                           KEY_CERTIFICATE, KEY_CABUNDLE};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!values[required[i]])
            FAIL(NSMV_ERR_PAYLOAD_MISSING_FIELD, "no \"%s\"", key_names[required[i]]);
    if (!values[KEY_PCRS] && !values[KEY_NITROTPM_PCRS])
        FAIL(NSMV_ERR_PAYLOAD_MISSING_FIELD, "neither \"pcrs\" nor \"nitrotpm_pcrs\"");
#undef FAIL
    return first;
}

/* ---- fields ----------------------------------------------------------------------------------- */

static nsmv_code check_module_id(const cbor_item_t *v, nsmv_payload *p, nsmv_run *run)
{
    if (!is_text(v))
        return nsmv_fail(run, NSMV_ERR_MODULE_ID_TYPE, "module_id is a %s", type_name(v));
    p->module_id = text_of(v);
    if (p->module_id.len == 0 || p->module_id.len > NSMV_MODULE_ID_MAX)
        return nsmv_fail(run, NSMV_ERR_MODULE_ID_LENGTH, "module_id is %zu bytes; 1..%d allowed",
                         p->module_id.len, NSMV_MODULE_ID_MAX);
    p->valid |= NSMV_FIELD_MODULE_ID;
    return NSMV_OK;
}

static nsmv_code check_digest(const cbor_item_t *v, nsmv_payload *p, nsmv_run *run)
{
    if (!is_text(v))
        return nsmv_fail(run, NSMV_ERR_DIGEST_TYPE, "digest is a %s", type_name(v));
    p->digest = text_of(v);
    if (!nsmkit_cbor_text_equals(v, "SHA384")) {
        char shown[48];
        nsmv_printable(p->digest.ptr, p->digest.len, shown, sizeof(shown));
        return nsmv_fail(run, NSMV_ERR_DIGEST_UNSUPPORTED, "digest is \"%s\"", shown);
    }
    p->valid |= NSMV_FIELD_DIGEST;
    return NSMV_OK;
}

static nsmv_code check_timestamp(const cbor_item_t *v, nsmv_payload *p, nsmv_run *run)
{
    if (!cbor_isa_uint(v))
        return nsmv_fail(run, NSMV_ERR_TIMESTAMP_TYPE, "timestamp is a %s", type_name(v));
    p->timestamp_ms = cbor_get_int(v);
    if (p->timestamp_ms == 0)
        return nsmv_fail(run, NSMV_ERR_TIMESTAMP_ZERO, "timestamp is 0 ms after the epoch");
    p->valid |= NSMV_FIELD_TIMESTAMP;
    return NSMV_OK;
}

static nsmv_code check_pcrs(const cbor_item_t *v, const char *name, nsmv_payload *p,
                            nsmv_run *run)
{
    if (!cbor_isa_map(v))
        return nsmv_fail(run, NSMV_ERR_PCRS_TYPE, "%s is a %s", name, type_name(v));
    size_t n = cbor_map_size(v);
    if (n == 0)
        return nsmv_fail(run, NSMV_ERR_PCRS_EMPTY, "%s has no entries", name);
    if (n > NSMV_PCR_MAX)
        return nsmv_fail(run, NSMV_ERR_PCRS_TOO_MANY, "%s has %zu entries", name, n);
    struct cbor_pair *pairs = cbor_map_handle(v);
    for (size_t i = 0; i < n; i++) {
        const cbor_item_t *key = pairs[i].key, *value = pairs[i].value;
        if (!cbor_isa_uint(key))
            return nsmv_fail(run, NSMV_ERR_PCR_INDEX_TYPE, "%s key %zu is a %s", name, i,
                             type_name(key));
        uint64_t index = cbor_get_int(key);
        if (index >= NSMV_PCR_MAX)
            return nsmv_fail(run, NSMV_ERR_PCR_INDEX_RANGE, "%s has index %llu", name,
                             (unsigned long long)index);
        if (p->pcr_slot[index] >= 0)
            return nsmv_fail(run, NSMV_ERR_PCR_DUPLICATE_INDEX, "%s has index %llu twice", name,
                             (unsigned long long)index);
        if (!is_bytes(value))
            return nsmv_fail(run, NSMV_ERR_PCR_VALUE_TYPE, "PCR%llu is a %s",
                             (unsigned long long)index, type_name(value));
        if (cbor_bytestring_length(value) != NSMV_PCR_LEN)
            return nsmv_fail(run, NSMV_ERR_PCR_VALUE_LENGTH, "PCR%llu is %zu bytes, not %d",
                             (unsigned long long)index, cbor_bytestring_length(value),
                             NSMV_PCR_LEN);
        p->pcr_slot[index] = (int)p->pcr_count;
        p->pcrs[p->pcr_count].index = (unsigned)index;
        p->pcrs[p->pcr_count].value = cbor_bytestring_handle(value);
        p->pcr_count++;
    }
    p->valid |= NSMV_FIELD_PCRS;
    return NSMV_OK;
}

static nsmv_code check_certificate(const cbor_item_t *v, nsmv_payload *p, nsmv_run *run)
{
    if (!is_bytes(v))
        return nsmv_fail(run, NSMV_ERR_CERTIFICATE_TYPE, "certificate is a %s", type_name(v));
    size_t len = cbor_bytestring_length(v);
    if (len == 0 || len > NSMV_CERT_MAX)
        return nsmv_fail(run, NSMV_ERR_CERTIFICATE_LENGTH, "certificate is %zu bytes", len);
    p->certificate.ptr = cbor_bytestring_handle(v);
    p->certificate.len = len;
    p->valid |= NSMV_FIELD_CERTIFICATE;
    return NSMV_OK;
}

static nsmv_code check_cabundle(const cbor_item_t *v, nsmv_payload *p, nsmv_run *run)
{
    if (!cbor_isa_array(v))
        return nsmv_fail(run, NSMV_ERR_CABUNDLE_TYPE, "cabundle is a %s", type_name(v));
    size_t n = cbor_array_size(v);
    if (n == 0)
        return nsmv_fail(run, NSMV_ERR_CABUNDLE_EMPTY, "cabundle has no certificates");
    if (n > NSMV_CABUNDLE_MAX)
        return nsmv_fail(run, NSMV_ERR_CABUNDLE_TOO_LONG, "cabundle has %zu certificates", n);
    cbor_item_t **items = cbor_array_handle(v);
    for (size_t i = 0; i < n; i++) {
        if (!is_bytes(items[i]))
            return nsmv_fail(run, NSMV_ERR_CABUNDLE_ENTRY_TYPE, "cabundle[%zu] is a %s", i,
                             type_name(items[i]));
        size_t len = cbor_bytestring_length(items[i]);
        if (len == 0 || len > NSMV_CERT_MAX)
            return nsmv_fail(run, NSMV_ERR_CABUNDLE_ENTRY_LENGTH, "cabundle[%zu] is %zu bytes", i,
                             len);
        p->cabundle[i].ptr = cbor_bytestring_handle(items[i]);
        p->cabundle[i].len = len;
    }
    p->cabundle_count = n;
    p->valid |= NSMV_FIELD_CABUNDLE;
    return NSMV_OK;
}

typedef struct {
    const char *name;
    unsigned field;
    nsmv_code type_code, length_code;
} optional_rule;

static nsmv_code check_optional(const cbor_item_t *v, const optional_rule *rule, size_t min,
                                size_t max, nsmv_profile profile, nsmv_optional *out,
                                nsmv_payload *p, nsmv_run *run)
{
    memset(out, 0, sizeof(*out));
    if (!v) {
        p->valid |= rule->field;
        return NSMV_OK;
    }
    out->present = true;
    if (nsmkit_cbor_is_null(v)) {
        out->is_null = true;
        if (profile == NSMV_PROFILE_STRICT)
            return nsmv_fail(run, NSMV_ERR_PAYLOAD_NULL_FIELD,
                             "%s is null; the strict profile wants it absent or bytes",
                             rule->name);
        p->valid |= rule->field;
        return NSMV_OK;
    }
    if (!is_bytes(v))
        return nsmv_fail(run, rule->type_code, "%s is a %s", rule->name, type_name(v));
    size_t len = cbor_bytestring_length(v);
    if (len < min || len > max)
        return nsmv_fail(run, rule->length_code, "%s is %zu bytes; the %s profile allows %zu..%zu",
                         rule->name, len, nsmv_profile_name(profile), min, max);
    out->bytes.ptr = cbor_bytestring_handle(v);
    out->bytes.len = len;
    p->valid |= rule->field;
    return NSMV_OK;
}

nsmv_code nsmv_payload_fields(nsmv_payload *p, nsmv_profile profile, nsmv_run *run)
{
    const cbor_item_t *values[KEY_COUNT] = {0};
    nsmv_code first;

    if (!cbor_isa_map(p->root))
        return nsmv_fail(run, NSMV_ERR_PAYLOAD_NOT_MAP, "the payload is a %s",
                         type_name(p->root));
    first = check_keys(p->root, values, run);
    if (first != NSMV_OK && !run->all)
        return first;

#define CHECK(call) NSMV_CHECK(run, first, call)

    if (values[KEY_MODULE_ID])
        CHECK(check_module_id(values[KEY_MODULE_ID], p, run));
    if (values[KEY_DIGEST])
        CHECK(check_digest(values[KEY_DIGEST], p, run));
    if (values[KEY_TIMESTAMP])
        CHECK(check_timestamp(values[KEY_TIMESTAMP], p, run));
    if (values[KEY_PCRS] && !values[KEY_NITROTPM_PCRS]) {
        p->kind = NSMV_KIND_NSM;
        CHECK(check_pcrs(values[KEY_PCRS], "pcrs", p, run));
    } else if (values[KEY_NITROTPM_PCRS] && !values[KEY_PCRS]) {
        p->kind = NSMV_KIND_NITROTPM;
        CHECK(check_pcrs(values[KEY_NITROTPM_PCRS], "nitrotpm_pcrs", p, run));
    }
    if (values[KEY_CERTIFICATE])
        CHECK(check_certificate(values[KEY_CERTIFICATE], p, run));
    if (values[KEY_CABUNDLE])
        CHECK(check_cabundle(values[KEY_CABUNDLE], p, run));

    size_t data_max = profile == NSMV_PROFILE_STRICT ? NSMV_STRICT_DATA_MAX : NSMV_FIELD_MAX;
    size_t key_min = profile == NSMV_PROFILE_STRICT ? 1 : 0;
    static const optional_rule public_key = {"public_key", NSMV_FIELD_PUBLIC_KEY,
                                             NSMV_ERR_PUBLIC_KEY_TYPE, NSMV_ERR_PUBLIC_KEY_LENGTH};
    static const optional_rule user_data = {"user_data", NSMV_FIELD_USER_DATA,
                                            NSMV_ERR_USER_DATA_TYPE, NSMV_ERR_USER_DATA_LENGTH};
    static const optional_rule nonce = {"nonce", NSMV_FIELD_NONCE, NSMV_ERR_NONCE_TYPE,
                                        NSMV_ERR_NONCE_LENGTH};
    CHECK(check_optional(values[KEY_PUBLIC_KEY], &public_key, key_min, NSMV_FIELD_MAX, profile,
                         &p->public_key, p, run));
    CHECK(check_optional(values[KEY_USER_DATA], &user_data, 0, data_max, profile, &p->user_data,
                         p, run));
    CHECK(check_optional(values[KEY_NONCE], &nonce, 0, data_max, profile, &p->nonce, p, run));
#undef CHECK
    return first;
}

bool nsmv_payload_debug_mode(const nsmv_payload *p)
{
    if (!(p->valid & NSMV_FIELD_PCRS))
        return false;
    for (unsigned i = 0; i < 3; i++) {
        int slot = p->pcr_slot[i];
        if (slot < 0)
            return false;
        for (size_t k = 0; k < NSMV_PCR_LEN; k++)
            if (p->pcrs[slot].value[k] != 0)
                return false;
    }
    return true;
}
