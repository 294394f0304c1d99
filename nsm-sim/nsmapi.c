/*
 * The official NSM library's requests and responses, byte for byte as its serde_cbor
 * writes and reads them (NSM-FACTS section 2): a unit variant is a bare text string, a
 * struct variant a one-key map {"Name": {fields in declaration order}}, absent optionals
 * are null, integers take the shortest head.
 */
#include <string.h>

#include "frontend.h"
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

static uint64_t bytes_size(uint64_t len)
{
    return head_size(len) + len;
}

static void put_variant(nsmkit_buf *out, const char *name, uint64_t fields)
{
    nsmkit_cbor_put_head(out, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(out, name);
    nsmkit_cbor_put_head(out, NSMKIT_CBOR_MAP, fields);
}

void nsmsim_api_encode_describe_nsm(nsmkit_buf *out)
{
    nsmkit_cbor_put_text(out, "DescribeNSM");
}

void nsmsim_api_encode_get_random(nsmkit_buf *out)
{
    nsmkit_cbor_put_text(out, "GetRandom");
}

static void encode_u16_field(nsmkit_buf *out, const char *variant, const char *field,
                             uint16_t value)
{
    put_variant(out, variant, 1);
    nsmkit_cbor_put_text(out, field);
    nsmkit_cbor_put_uint(out, value);
}

void nsmsim_api_encode_describe_pcr(nsmkit_buf *out, uint16_t index)
{
    encode_u16_field(out, "DescribePCR", "index", index);
}

void nsmsim_api_encode_lock_pcr(nsmkit_buf *out, uint16_t index)
{
    encode_u16_field(out, "LockPCR", "index", index);
}

void nsmsim_api_encode_lock_pcrs(nsmkit_buf *out, uint16_t range)
{
    encode_u16_field(out, "LockPCRs", "range", range);
}

uint64_t nsmsim_api_extend_pcr_size(uint16_t index, uint64_t len)
{
    return 1 + text_size("ExtendPCR") + 1 + text_size("index") + head_size(index) +
           text_size("data") + bytes_size(len);
}

void nsmsim_api_encode_extend_pcr(nsmkit_buf *out, uint16_t index, const uint8_t *data,
                                  size_t len)
{
    put_variant(out, "ExtendPCR", 2);
    nsmkit_cbor_put_text(out, "index");
    nsmkit_cbor_put_uint(out, index);
    nsmkit_cbor_put_text(out, "data");
    nsmkit_cbor_put_bytes(out, data, len);
}

static uint64_t optional_size(nsmsim_api_optional o)
{
    return o.data ? bytes_size(o.len) : 1;
}

uint64_t nsmsim_api_attestation_size(nsmsim_api_optional user_data, nsmsim_api_optional nonce,
                                     nsmsim_api_optional public_key)
{
    return 1 + text_size("Attestation") + 1 + text_size("user_data") +
           optional_size(user_data) + text_size("nonce") + optional_size(nonce) +
           text_size("public_key") + optional_size(public_key);
}

static void put_optional(nsmkit_buf *out, nsmsim_api_optional o)
{
    if (o.data)
        nsmkit_cbor_put_bytes(out, o.data, o.len);
    else
        nsmkit_cbor_put_null(out);
}

void nsmsim_api_encode_attestation(nsmkit_buf *out, nsmsim_api_optional user_data,
                                   nsmsim_api_optional nonce, nsmsim_api_optional public_key)
{
    put_variant(out, "Attestation", 3);
    nsmkit_cbor_put_text(out, "user_data");
    put_optional(out, user_data);
    nsmkit_cbor_put_text(out, "nonce");
    put_optional(out, nonce);
    nsmkit_cbor_put_text(out, "public_key");
    put_optional(out, public_key);
}

/* ---- responses ------------------------------------------------------------------------ */

static const char *const error_names[] = {
    "Success",         "InvalidArgument", "InvalidIndex",  "InvalidResponse", "ReadOnlyIndex",
    "InvalidOperation", "BufferTooSmall", "InputTooLarge", "InternalError",
};

static bool text_is(const cbor_item_t *item, const char *text)
{
    return nsmkit_cbor_text_equals(item, text);
}

static bool get_u16(const cbor_item_t *item, uint16_t *out)
{
    if (!cbor_isa_uint(item))
        return false;
    uint64_t v = cbor_get_int(item);
    if (v > UINT16_MAX)
        return false;
    *out = (uint16_t)v;
    return true;
}

static bool get_bytes(const cbor_item_t *item, const uint8_t **data, size_t *len)
{
    if (!cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item))
        return false;
    *data = cbor_bytestring_handle(item);
    *len = cbor_bytestring_length(item);
    return true;
}

/* The fields of one struct variant: looked up by name, each at most once. */
typedef struct {
    const char *name;
    const cbor_item_t *value;
} field_slot;

static bool collect_fields(const cbor_item_t *map, field_slot *slots, size_t count)
{
    if (!cbor_isa_map(map))
        return false;
    size_t n = cbor_map_size(map);
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < n; i++) {
        if (!cbor_isa_string(pairs[i].key) || !cbor_string_is_definite(pairs[i].key))
            return false;
        for (size_t k = 0; k < count; k++) {
            if (text_is(pairs[i].key, slots[k].name)) {
                if (slots[k].value)
                    return false; /* duplicate field */
                slots[k].value = pairs[i].value;
            }
        }
    }
    for (size_t k = 0; k < count; k++)
        if (!slots[k].value)
            return false; /* missing field */
    return true;
}

static bool decode_describe_nsm(const cbor_item_t *body, nsmsim_api_response *out)
{
    field_slot f[] = {{"version_major", NULL}, {"version_minor", NULL}, {"version_patch", NULL},
                      {"module_id", NULL},     {"max_pcrs", NULL},      {"locked_pcrs", NULL},
                      {"digest", NULL}};
    if (!collect_fields(body, f, sizeof(f) / sizeof(f[0])))
        return false;
    if (!get_u16(f[0].value, &out->version_major) || !get_u16(f[1].value, &out->version_minor) ||
        !get_u16(f[2].value, &out->version_patch) || !get_u16(f[4].value, &out->max_pcrs))
        return false;
    if (!cbor_isa_string(f[3].value) || !cbor_string_is_definite(f[3].value))
        return false;
    out->module_id = (const char *)cbor_string_handle(f[3].value);
    out->module_id_len = cbor_string_length(f[3].value);

    /* A BTreeSet<u16>: sorted, duplicates merged. */
    const cbor_item_t *locked = f[5].value;
    if (!cbor_isa_array(locked))
        return false;
    static const size_t words = 65536 / 64;
    uint64_t seen[65536 / 64];
    memset(seen, 0, sizeof(seen));
    size_t n = cbor_array_size(locked);
    cbor_item_t **items = cbor_array_handle(locked);
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

    const cbor_item_t *digest = f[6].value;
    if (text_is(digest, "SHA256"))
        out->digest = 0;
    else if (text_is(digest, "SHA384"))
        out->digest = 1;
    else if (text_is(digest, "SHA512"))
        out->digest = 2;
    else
        return false;
    return true;
}

static bool decode_variant(const char *name, const cbor_item_t *body, nsmsim_api_response *out)
{
    if (!strcmp(name, "DescribePCR")) {
        field_slot f[] = {{"lock", NULL}, {"data", NULL}};
        out->kind = NSMSIM_RESP_DESCRIBE_PCR;
        if (!collect_fields(body, f, 2) || !cbor_isa_float_ctrl(f[0].value) ||
            !cbor_float_ctrl_is_ctrl(f[0].value) || !cbor_is_bool(f[0].value))
            return false;
        out->lock = cbor_get_bool(f[0].value);
        return get_bytes(f[1].value, &out->bytes, &out->bytes_len);
    }
    const char *only_field = NULL;
    if (!strcmp(name, "ExtendPCR")) {
        out->kind = NSMSIM_RESP_EXTEND_PCR;
        only_field = "data";
    } else if (!strcmp(name, "Attestation")) {
        out->kind = NSMSIM_RESP_ATTESTATION;
        only_field = "document";
    } else if (!strcmp(name, "GetRandom")) {
        out->kind = NSMSIM_RESP_GET_RANDOM;
        only_field = "random";
    }
    if (only_field) {
        field_slot f[] = {{only_field, NULL}};
        return collect_fields(body, f, 1) && get_bytes(f[0].value, &out->bytes, &out->bytes_len);
    }
    if (!strcmp(name, "DescribeNSM")) {
        out->kind = NSMSIM_RESP_DESCRIBE_NSM;
        return decode_describe_nsm(body, out);
    }
    if (!strcmp(name, "Error")) {
        out->kind = NSMSIM_RESP_ERROR;
        for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++) {
            if (text_is(body, error_names[i])) {
                out->error = (nsmsim_error_code)i;
                return true;
            }
        }
        return false;
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
    if (cbor_isa_string(item) && cbor_string_is_definite(item)) {
        if (text_is(item, "LockPCR")) {
            out->kind = NSMSIM_RESP_LOCK_PCR;
            ok = true;
        } else if (text_is(item, "LockPCRs")) {
            out->kind = NSMSIM_RESP_LOCK_PCRS;
            ok = true;
        }
    } else if (cbor_isa_map(item) && cbor_map_size(item) == 1) {
        struct cbor_pair *pair = cbor_map_handle(item);
        const cbor_item_t *key = pair[0].key;
        if (cbor_isa_string(key) && cbor_string_is_definite(key)) {
            char name[16];
            size_t n = cbor_string_length(key);
            if (n < sizeof(name)) {
                memcpy(name, cbor_string_handle(key), n);
                name[n] = '\0';
                ok = strlen(name) == n && decode_variant(name, pair[0].value, out);
            }
        }
    }
    if (!ok) {
        cbor_decref(&item);
        memset(out, 0, sizeof(*out));
        return -1;
    }
    out->item = item;
    return 0;
}

void nsmsim_api_response_free(nsmsim_api_response *response)
{
    if (response->item)
        cbor_decref(&response->item);
    memset(response, 0, sizeof(*response));
}
