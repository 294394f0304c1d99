/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The core's request decoder: a raw request read the way the real device reads it
 * (NSM-FACTS section 2), driven by the message table.
 *
 *   "DescribeNSM"                                   unit variant: a bare text string
 *   {"ExtendPCR": {"index": 16, "data": h'...'}}    struct variant: a one-key map
 *
 * What the device does with odd requests, and the code each gets here (the wire answer
 * in brackets):
 *   over 4096 bytes                                  REQ_TOO_LARGE        [InputTooLarge]
 *   invalid CBOR, over the depth limit, tags         REQ_NOT_CBOR         [InvalidOperation]
 *   not a text string nor a one-key map to a map     REQ_NOT_MESSAGE      [InvalidOperation]
 *   unknown name, a unit name as a map or back       REQ_UNKNOWN          [InvalidOperation]
 *   a field missing, or null when not optional       REQ_FIELD_MISSING    [InvalidOperation]
 *   a known field twice                              REQ_FIELD_DUPLICATE  [InvalidOperation]
 *   a field of another type (negative index...)      REQ_FIELD_TYPE       [InvalidOperation]
 *   byte data longer than its limit                  REQ_FIELD_TOO_LONG   [InputTooLarge]
 *   unknown keys inside the fields                   ignored
 *   byte data as a text string, or chunked           accepted like bytes
 * Fields are judged in the table's order and the first problem decides, as the device's
 * decoder does.
 */
#include <string.h>

#include "messages.h"
#include "nsmkit/cbor.h"

/* Requests are at most 4 KiB; the deepest valid one nests three levels. */
static const nsmkit_cbor_limits request_limits = {
    .max_depth = 8,
    .max_items = 0,
    .allow_indefinite_strings = true, /* serde_cbor reads them */
    .allow_tags = false,
};

static bool find_request(const cbor_item_t *name, nsmsim_shape shape, nsmsim_request_id *id)
{
    for (unsigned i = 0; i < NSMSIM_REQ_COUNT; i++) {
        if (nsmsim_requests[i].shape == shape &&
            nsmkit_cbor_text_equals(name, nsmsim_requests[i].name)) {
            *id = (nsmsim_request_id)i;
            return true;
        }
    }
    return false;
}

/* Byte data: a byte string or a text string, definite or in chunks, copied into the
 * decoded request's storage. */
static nsmsim_code copy_bytes(const cbor_item_t *value, const nsmsim_field_spec *spec,
                              nsmsim_request_decoded *out, nsmkit_bytes *dst,
                              nsmsim_outcome *outcome)
{
    bool is_bytes = cbor_isa_bytestring(value);
    if (!is_bytes && !cbor_isa_string(value))
        return nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_FIELD_TYPE,
                                  "%s is neither a byte nor a text string", spec->name);
    bool definite = is_bytes ? cbor_bytestring_is_definite(value) : cbor_string_is_definite(value);
    size_t chunk_count = 1;
    cbor_item_t **chunks = NULL;
    if (!definite) {
        chunk_count = is_bytes ? cbor_bytestring_chunk_count(value) : cbor_string_chunk_count(value);
        chunks = is_bytes ? cbor_bytestring_chunks_handle(value) : cbor_string_chunks_handle(value);
    }
    uint8_t *start = out->storage + out->used;
    size_t len = 0;
    for (size_t i = 0; i < chunk_count; i++) {
        const cbor_item_t *piece = definite ? value : chunks[i];
        /* chunks of an indefinite string are definite strings of the same type (checked by
         * the pre-pass), but check again where we read */
        bool ok = is_bytes ? cbor_isa_bytestring(piece) && cbor_bytestring_is_definite(piece)
                           : cbor_isa_string(piece) && cbor_string_is_definite(piece);
        if (!ok)
            return nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_FIELD_TYPE,
                                      "%s has a chunk of another type", spec->name);
        size_t n = is_bytes ? cbor_bytestring_length(piece) : cbor_string_length(piece);
        const uint8_t *data = is_bytes ? cbor_bytestring_handle(piece) : cbor_string_handle(piece);
        if (n > spec->max - len || n > sizeof(out->storage) - out->used - len)
            return nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_FIELD_TOO_LONG,
                                      "%s is over %llu bytes", spec->name,
                                      (unsigned long long)spec->max);
        if (n)
            memcpy(start + len, data, n);
        len += n;
    }
    out->used += len;
    *dst = nsmkit_bytes_of(start, len);
    return NSMSIM_ERR_OK;
}

static nsmsim_code decode_field(const cbor_item_t *value, bool duplicate,
                                const nsmsim_field_spec *spec, nsmsim_request_decoded *out,
                                nsmsim_field_value *dst, nsmsim_outcome *outcome)
{
    if (duplicate)
        return nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_FIELD_DUPLICATE, "%s given twice",
                                  spec->name);
    bool absent = !value || nsmkit_cbor_is_null(value);
    switch (spec->type) {
    case NSMSIM_FIELD_UINT:
        /* the device reads any unsigned integer; its range is the handler's rule */
        if (absent)
            return nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_FIELD_MISSING, "%s %s",
                                      spec->name, value ? "is null" : "is missing");
        if (!cbor_isa_uint(value))
            return nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_FIELD_TYPE,
                                      "%s is not an unsigned integer", spec->name);
        dst->uint = cbor_get_int(value);
        return NSMSIM_ERR_OK;
    case NSMSIM_FIELD_OPTIONAL_BYTES:
        if (absent) {
            dst->bytes = NSMKIT_BYTES_NONE;
            return NSMSIM_ERR_OK;
        }
        return copy_bytes(value, spec, out, &dst->bytes, outcome);
    case NSMSIM_FIELD_BYTES:
        if (absent)
            return nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_FIELD_MISSING, "%s %s",
                                      spec->name, value ? "is null" : "is missing");
        return copy_bytes(value, spec, out, &dst->bytes, outcome);
    case NSMSIM_FIELD_BOOL:
    case NSMSIM_FIELD_TEXT:
    case NSMSIM_FIELD_UINT_SET:
    case NSMSIM_FIELD_DIGEST:
        break; /* response types only */
    }
    return nsmsim_outcome_set(outcome, NSMSIM_ERR_NO_HANDLER, "no request decoder for %s",
                              spec->name);
}

/* The fields of a struct request: one walk of the map by key (unknown keys skipped, a
 * known key seen again remembered), then each field judged in table order. */
static nsmsim_code decode_fields(const cbor_item_t *map, nsmsim_request_decoded *out,
                                 nsmsim_outcome *outcome)
{
    unsigned ids[NSMSIM_MESSAGE_MAX_FIELDS];
    size_t count = nsmsim_message_field_ids(nsmsim_request_fields, NSMSIM_REQF_COUNT,
                                            out->request.id, ids);
    const char *names[NSMSIM_MESSAGE_MAX_FIELDS];
    const cbor_item_t *values[NSMSIM_MESSAGE_MAX_FIELDS] = {0};
    bool duplicate[NSMSIM_MESSAGE_MAX_FIELDS] = {0};
    for (size_t k = 0; k < count; k++)
        names[k] = nsmsim_request_fields[ids[k]].name;
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t pos = 0;; pos++) {
        nsmkit_map_status st = nsmkit_cbor_map_fields(map, names, count, values, &pos);
        if (st == NSMKIT_MAP_OK)
            break;
        if (st == NSMKIT_MAP_DUPLICATE_KEY) {
            for (size_t k = 0; k < count; k++)
                if (nsmkit_cbor_text_equals(pairs[pos].key, names[k]))
                    duplicate[k] = true;
        } else if (st != NSMKIT_MAP_KEY_NOT_TEXT && st != NSMKIT_MAP_UNKNOWN_KEY) {
            return nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_NOT_MESSAGE, "fields not a map");
        }
    }
    for (size_t k = 0; k < count; k++) {
        nsmsim_code c = decode_field(values[k], duplicate[k], &nsmsim_request_fields[ids[k]],
                                     out, &out->request.field[ids[k]], outcome);
        if (c != NSMSIM_ERR_OK)
            return c;
    }
    return NSMSIM_ERR_OK;
}

nsmsim_code nsmsim_request_decode(const uint8_t *buf, size_t len, nsmsim_request_decoded *out,
                                  nsmsim_outcome *outcome)
{
    memset(&out->request, 0, sizeof(out->request));
    out->used = 0;
    nsmsim_outcome_set(outcome, NSMSIM_ERR_OK, NULL);
    if (len > NSM_REQUEST_MAX_SIZE)
        return nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_TOO_LARGE, "%zu bytes", len);
    cbor_item_t *item = NULL;
    nsmkit_cbor_report report = {0};
    nsmkit_cbor_status st = nsmkit_cbor_load(buf, len, &request_limits, &item, &report);
    if (st != NSMKIT_CBOR_OK)
        return nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_NOT_CBOR, "%s at byte %zu",
                                  nsmkit_cbor_status_name(st), report.offset);

    nsmsim_code c;
    if (cbor_isa_string(item)) {
        c = find_request(item, NSMSIM_SHAPE_UNIT, &out->request.id)
                ? NSMSIM_ERR_OK
                : nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_UNKNOWN, "no unit request of that name");
    } else if (cbor_isa_map(item) && cbor_map_size(item) == 1 &&
               cbor_isa_map(cbor_map_handle(item)[0].value)) {
        struct cbor_pair *pair = cbor_map_handle(item);
        c = find_request(pair[0].key, NSMSIM_SHAPE_STRUCT, &out->request.id)
                ? decode_fields(pair[0].value, out, outcome)
                : nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_UNKNOWN,
                                     "no struct request of that name");
    } else {
        c = nsmsim_outcome_set(outcome, NSMSIM_ERR_REQ_NOT_MESSAGE, "a %s",
                               cbor_isa_map(item) ? "map that is not {name: {fields}}"
                                                  : "value that is neither text nor a map");
    }
    cbor_decref(&item);
    return c;
}
