/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The official NSM library's requests and responses, byte for byte as its serde_cbor
 * writes and reads them (NSM-FACTS section 2), driven by the message table
 * (messages.def): a unit variant is a bare text string, a struct variant a one-key map
 * {"Name": {fields in the table's order}}, absent optionals are null, integers take the
 * shortest head.
 */
#include <string.h>

#include "codec.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/cbor.h"

/* ---- requests ------------------------------------------------------------------------- */

static uint64_t head_size(uint64_t argument)
{
    return argument < 24 ? 1 : argument <= 0xff ? 2 : argument <= 0xffff ? 3
                           : argument <= 0xffffffffu ? 5 : 9;
}

static uint64_t text_size(const char *text)
{
    return head_size(strlen(text)) + strlen(text);
}

static uint64_t value_size(const nsmsim_field_spec *spec, const nsmsim_field_value *v)
{
    if (spec->type == NSMSIM_FIELD_UINT)
        return head_size(v->uint);
    if (spec->type == NSMSIM_FIELD_OPTIONAL_BYTES && !nsmkit_bytes_present(v->bytes))
        return 1; /* null */
    return head_size(v->bytes.len) + v->bytes.len;
}

uint64_t nsmsim_request_encoded_size(const nsmsim_request *request)
{
    const nsmsim_message_spec *m = &nsmsim_requests[request->id];
    if (m->shape == NSMSIM_SHAPE_UNIT)
        return text_size(m->name);
    unsigned ids[NSMSIM_MESSAGE_MAX_FIELDS];
    size_t count = nsmsim_message_field_ids(nsmsim_request_fields, NSMSIM_REQF_COUNT,
                                            request->id, ids);
    uint64_t size = 1 + text_size(m->name) + head_size(count);
    for (size_t k = 0; k < count; k++) {
        const nsmsim_field_spec *spec = &nsmsim_request_fields[ids[k]];
        size += text_size(spec->name) + value_size(spec, &request->field[ids[k]]);
    }
    return size;
}

void nsmsim_request_encode(const nsmsim_request *request, nsmkit_buf *out)
{
    const nsmsim_message_spec *m = &nsmsim_requests[request->id];
    if (m->shape == NSMSIM_SHAPE_UNIT) {
        nsmkit_cbor_put_text(out, m->name);
        return;
    }
    unsigned ids[NSMSIM_MESSAGE_MAX_FIELDS];
    size_t count = nsmsim_message_field_ids(nsmsim_request_fields, NSMSIM_REQF_COUNT,
                                            request->id, ids);
    nsmkit_cbor_put_head(out, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(out, m->name);
    nsmkit_cbor_put_head(out, NSMKIT_CBOR_MAP, count);
    for (size_t k = 0; k < count; k++) {
        const nsmsim_field_spec *spec = &nsmsim_request_fields[ids[k]];
        const nsmsim_field_value *v = &request->field[ids[k]];
        nsmkit_cbor_put_text(out, spec->name);
        if (spec->type == NSMSIM_FIELD_UINT)
            nsmkit_cbor_put_uint(out, v->uint);
        else if (nsmkit_bytes_present(v->bytes) || spec->type != NSMSIM_FIELD_OPTIONAL_BYTES)
            nsmkit_cbor_put_bytes(out, v->bytes.ptr, v->bytes.len);
        else
            nsmkit_cbor_put_null(out);
    }
}

/* A request of one id and at most one UINT field. */
static void encode_simple(nsmkit_buf *out, nsmsim_request_id id, nsmsim_request_field_id field,
                          uint64_t value)
{
    nsmsim_request r = {.id = id};
    if ((unsigned)field < NSMSIM_REQF_COUNT)
        r.field[field].uint = value;
    nsmsim_request_encode(&r, out);
}

void nsmsim_api_encode_describe_nsm(nsmkit_buf *out)
{
    encode_simple(out, NSMSIM_REQ_DESCRIBE_NSM, NSMSIM_REQF_COUNT, 0);
}

void nsmsim_api_encode_get_random(nsmkit_buf *out)
{
    encode_simple(out, NSMSIM_REQ_GET_RANDOM, NSMSIM_REQF_COUNT, 0);
}

void nsmsim_api_encode_describe_pcr(nsmkit_buf *out, uint16_t index)
{
    encode_simple(out, NSMSIM_REQ_DESCRIBE_PCR, NSMSIM_REQF_DESCRIBE_PCR_INDEX, index);
}

void nsmsim_api_encode_lock_pcr(nsmkit_buf *out, uint16_t index)
{
    encode_simple(out, NSMSIM_REQ_LOCK_PCR, NSMSIM_REQF_LOCK_PCR_INDEX, index);
}

void nsmsim_api_encode_lock_pcrs(nsmkit_buf *out, uint16_t range)
{
    encode_simple(out, NSMSIM_REQ_LOCK_PCRS, NSMSIM_REQF_LOCK_PCRS_RANGE, range);
}

static nsmsim_request extend_request(uint16_t index, const uint8_t *data, uint64_t len)
{
    nsmsim_request r = {.id = NSMSIM_REQ_EXTEND_PCR};
    r.field[NSMSIM_REQF_EXTEND_PCR_INDEX].uint = index;
    r.field[NSMSIM_REQF_EXTEND_PCR_DATA].bytes = (nsmkit_bytes){data, (size_t)len};
    return r;
}

uint64_t nsmsim_api_extend_pcr_size(uint16_t index, uint64_t len)
{
    if (len > SIZE_MAX)
        return UINT64_MAX;
    nsmsim_request r = extend_request(index, NULL, len);
    return nsmsim_request_encoded_size(&r);
}

void nsmsim_api_encode_extend_pcr(nsmkit_buf *out, uint16_t index, const uint8_t *data,
                                  size_t len)
{
    nsmsim_request r = extend_request(index, data, len);
    nsmsim_request_encode(&r, out);
}

static nsmsim_request attestation_request(nsmkit_bytes user_data, nsmkit_bytes nonce,
                                          nsmkit_bytes public_key)
{
    nsmsim_request r = {.id = NSMSIM_REQ_ATTESTATION};
    r.field[NSMSIM_REQF_ATTESTATION_USER_DATA].bytes = user_data;
    r.field[NSMSIM_REQF_ATTESTATION_NONCE].bytes = nonce;
    r.field[NSMSIM_REQF_ATTESTATION_PUBLIC_KEY].bytes = public_key;
    return r;
}

uint64_t nsmsim_api_attestation_size(nsmkit_bytes user_data, nsmkit_bytes nonce,
                                     nsmkit_bytes public_key)
{
    nsmsim_request r = attestation_request(user_data, nonce, public_key);
    return nsmsim_request_encoded_size(&r);
}

void nsmsim_api_encode_attestation(nsmkit_buf *out, nsmkit_bytes user_data, nsmkit_bytes nonce,
                                   nsmkit_bytes public_key)
{
    nsmsim_request r = attestation_request(user_data, nonce, public_key);
    nsmsim_request_encode(&r, out);
}

/* ---- responses ------------------------------------------------------------------------ */

static const char *const error_names[] = {
    "Success",         "InvalidArgument", "InvalidIndex",  "InvalidResponse", "ReadOnlyIndex",
    "InvalidOperation", "BufferTooSmall", "InputTooLarge", "InternalError",
};

static bool get_uint(const cbor_item_t *item, uint64_t max, uint64_t *out)
{
    if (!cbor_isa_uint(item) || cbor_get_int(item) > max)
        return false;
    *out = cbor_get_int(item);
    return true;
}

static bool get_u16(const cbor_item_t *item, uint16_t *out)
{
    uint64_t v;
    if (!get_uint(item, UINT16_MAX, &v))
        return false;
    *out = (uint16_t)v;
    return true;
}

/* A BTreeSet<u16>: sorted, duplicates merged; more than the C API holds is flagged. */
static bool get_uint_set(const cbor_item_t *item, nsmsim_api_response *out)
{
    if (!cbor_isa_array(item))
        return false;
    static const size_t words = 65536 / 64;
    uint64_t seen[65536 / 64];
    memset(seen, 0, sizeof(seen));
    size_t n = cbor_array_size(item);
    cbor_item_t **items = cbor_array_handle(item);
    for (size_t i = 0; i < n; i++) {
        uint16_t index;
        if (!get_u16(items[i], &index))
            return false;
        seen[index / 64] |= (uint64_t)1 << (index % 64);
    }
    out->locked_pcrs_len = 0;
    out->locked_pcrs_overflow = false;
    for (size_t w = 0; w < words; w++) {
        for (unsigned b = 0; seen[w] && b < 64; b++) {
            if (!(seen[w] & ((uint64_t)1 << b)))
                continue;
            if (out->locked_pcrs_len == NSMSIM_API_MAX_LOCKED) {
                out->locked_pcrs_overflow = true;
                break;
            }
            out->locked_pcrs[out->locked_pcrs_len++] = (uint16_t)(w * 64 + b);
        }
    }
    return true;
}

/* Where each response field lands in nsmsim_api_response. */
static bool store_uint(nsmsim_response_field_id field, uint16_t v, nsmsim_api_response *out)
{
    switch (field) {
    case NSMSIM_RESPF_DESCRIBE_NSM_VERSION_MAJOR: out->version_major = v; return true;
    case NSMSIM_RESPF_DESCRIBE_NSM_VERSION_MINOR: out->version_minor = v; return true;
    case NSMSIM_RESPF_DESCRIBE_NSM_VERSION_PATCH: out->version_patch = v; return true;
    case NSMSIM_RESPF_DESCRIBE_NSM_MAX_PCRS: out->max_pcrs = v; return true;
    default: return false;
    }
}

static bool decode_field(nsmsim_response_field_id field, const cbor_item_t *value,
                         nsmsim_api_response *out)
{
    const nsmsim_field_spec *spec = &nsmsim_response_fields[field];
    uint16_t u16;
    switch (spec->type) {
    case NSMSIM_FIELD_UINT:
        return get_u16(value, &u16) && store_uint(field, u16, out);
    case NSMSIM_FIELD_BOOL:
        if (!cbor_isa_float_ctrl(value) || !cbor_float_ctrl_is_ctrl(value) || !cbor_is_bool(value))
            return false;
        out->lock = cbor_get_bool(value);
        return true;
    case NSMSIM_FIELD_BYTES:
        if (!cbor_isa_bytestring(value) || !cbor_bytestring_is_definite(value))
            return false;
        out->bytes = cbor_bytestring_handle(value);
        out->bytes_len = cbor_bytestring_length(value);
        return true;
    case NSMSIM_FIELD_TEXT:
        if (!cbor_isa_string(value) || !cbor_string_is_definite(value))
            return false;
        out->module_id = (const char *)cbor_string_handle(value);
        out->module_id_len = cbor_string_length(value);
        return true;
    case NSMSIM_FIELD_UINT_SET:
        return get_uint_set(value, out);
    case NSMSIM_FIELD_DIGEST: {
        static const char *const digests[] = {"SHA256", "SHA384", "SHA512"};
        for (unsigned d = 0; d < 3; d++) {
            if (nsmkit_cbor_text_equals(value, digests[d])) {
                out->digest = d;
                return true;
            }
        }
        return false;
    }
    case NSMSIM_FIELD_OPTIONAL_BYTES:
        break; /* request type only */
    }
    return false;
}

/* The fields of one struct response: every key a definite text, unknown keys ignored,
 * none twice, none missing; then each value of its type. */
static bool decode_struct(nsmsim_response_kind kind, const cbor_item_t *body,
                          nsmsim_api_response *out)
{
    unsigned ids[NSMSIM_MESSAGE_MAX_FIELDS];
    size_t count = nsmsim_message_field_ids(nsmsim_response_fields, NSMSIM_RESPF_COUNT, kind, ids);
    const char *names[NSMSIM_MESSAGE_MAX_FIELDS];
    const cbor_item_t *values[NSMSIM_MESSAGE_MAX_FIELDS] = {0};
    for (size_t k = 0; k < count; k++)
        names[k] = nsmsim_response_fields[ids[k]].name;
    for (size_t pos = 0;; pos++) {
        nsmkit_map_status st = nsmkit_cbor_map_fields(body, names, count, values, &pos);
        if (st == NSMKIT_MAP_OK)
            break;
        if (st != NSMKIT_MAP_UNKNOWN_KEY)
            return false;
    }
    for (size_t k = 0; k < count; k++)
        if (!values[k] || !decode_field((nsmsim_response_field_id)ids[k], values[k], out))
            return false;
    return true;
}

static bool decode_error(const cbor_item_t *body, nsmsim_api_response *out)
{
    for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++) {
        if (nsmkit_cbor_text_equals(body, error_names[i])) {
            out->error = (nsmsim_error_code)i;
            return true;
        }
    }
    return false;
}

static bool find_response(const cbor_item_t *name, bool unit, nsmsim_response_kind *kind)
{
    for (unsigned i = 0; i < NSMSIM_RESP_COUNT; i++) {
        if ((nsmsim_responses[i].shape == NSMSIM_SHAPE_UNIT) == unit &&
            nsmkit_cbor_text_equals(name, nsmsim_responses[i].name)) {
            *kind = (nsmsim_response_kind)i;
            return true;
        }
    }
    return false;
}

int nsmsim_api_response_decode(const uint8_t *buf, size_t len, nsmsim_api_response *out)
{
    /* The largest legal response is a 12 KiB document; the limits keep libcbor from
     * allocating for declared sizes that are not there. */
    static const nsmkit_cbor_limits limits = {
        .max_depth = 8, .max_items = 4096, .allow_indefinite_strings = false, .allow_tags = false};
    memset(out, 0, sizeof(*out));
    cbor_item_t *item = NULL;
    if (nsmkit_cbor_load(buf, len, &limits, &item, NULL) != NSMKIT_CBOR_OK)
        return -1;

    bool ok = false;
    nsmsim_response_kind kind;
    if (cbor_isa_string(item)) {
        ok = find_response(item, true, &kind);
    } else if (cbor_isa_map(item) && cbor_map_size(item) == 1) {
        struct cbor_pair *pair = cbor_map_handle(item);
        ok = find_response(pair[0].key, false, &kind) &&
             (nsmsim_responses[kind].shape == NSMSIM_SHAPE_TEXT
                  ? decode_error(pair[0].value, out)
                  : decode_struct(kind, pair[0].value, out));
    }
    if (!ok) {
        cbor_decref(&item);
        memset(out, 0, sizeof(*out));
        return -1;
    }
    out->kind = kind;
    out->item = item;
    return 0;
}

void nsmsim_api_response_free(nsmsim_api_response *response)
{
    if (response->item)
        cbor_decref(&response->item);
    memset(response, 0, sizeof(*response));
}
