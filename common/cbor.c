/* SPDX-License-Identifier: Apache-2.0 */
/* CBOR heads, encoding helpers, and the bounded pre-pass in front of libcbor. */
#include <string.h>

#include "nsmkit/reader.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/cbor.h"

/* How many argument bytes follow the initial byte, by its low five bits: none for 0..23
 * (the argument is the five bits themselves), 1, 2, 4 or 8 for 24..27; 28..30 are
 * reserved and 31 is an indefinite length. A table load where a switch would compare, and
 * the common case (0..23) takes one test. */
enum { HEAD_RESERVED = 0xfe, HEAD_INDEFINITE = 0xff };
static const uint8_t head_argument_width[32] = {
    [24] = 1, [25] = 2, [26] = 4, [27] = 8,
    [28] = HEAD_RESERVED, [29] = HEAD_RESERVED, [30] = HEAD_RESERVED,
    [31] = HEAD_INDEFINITE,
};

/* The one head reader: nsmkit_cbor_read_head for other files, and inlined into the
 * checker's loop below, where the reader then lives in registers and the compiler drops
 * the checks it can prove (the sticky error after a read that succeeded). The checker runs
 * once per item of every document, and a fuzzer calls a hook for each comparison left. */
NSMKIT_ALWAYS_INLINE
static inline bool head_read(nsmkit_reader *r, nsmkit_cbor_head *head)
{
    uint8_t initial;
    head->offset = r->pos;
    if (!nsmkit_reader_u8(r, &initial))
        return false;
    head->major = (uint8_t)(initial >> 5);
    head->info = initial & 0x1f;
    head->indefinite = false;
    head->argument = head->info;
    uint8_t width = head_argument_width[head->info];
    if (width == 0)
        return true;
    head->argument = 0;
    if (width == HEAD_INDEFINITE) {
        head->indefinite = true;
        return true;
    }
    if (width == HEAD_RESERVED) {
        r->err = true;
        return false;
    }
    const uint8_t *p;
    if (!nsmkit_reader_bytes(r, width, &p))
        return false;
    uint64_t value = 0;
    for (uint8_t i = 0; i < width; i++)
        value = (value << 8) | p[i];
    head->argument = value;
    return true;
}

bool nsmkit_cbor_read_head(nsmkit_reader *r, nsmkit_cbor_head *head)
{
    return head_read(r, head);
}

void nsmkit_cbor_put_head(nsmkit_buf *b, uint8_t major, uint64_t argument)
{
    uint8_t out[9];
    size_t n;
    uint8_t type = (uint8_t)(major << 5);
    if (argument < 24) {
        out[0] = type | (uint8_t)argument;
        n = 1;
    } else if (argument <= 0xff) {
        out[0] = type | 24;
        n = 2;
    } else if (argument <= 0xffff) {
        out[0] = type | 25;
        n = 3;
    } else if (argument <= 0xffffffffu) {
        out[0] = type | 26;
        n = 5;
    } else {
        out[0] = type | 27;
        n = 9;
    }
    for (size_t i = 1; i < n; i++)
        out[i] = (uint8_t)(argument >> (8 * (n - 1 - i)));
    nsmkit_buf_append(b, out, n);
}

void nsmkit_cbor_put_uint(nsmkit_buf *b, uint64_t value)
{
    nsmkit_cbor_put_head(b, NSMKIT_CBOR_UINT, value);
}

void nsmkit_cbor_put_bytes(nsmkit_buf *b, const uint8_t *data, size_t n)
{
    nsmkit_cbor_put_head(b, NSMKIT_CBOR_BYTES, n);
    nsmkit_buf_append(b, data, n);
}

void nsmkit_cbor_put_text_n(nsmkit_buf *b, const char *text, size_t n)
{
    nsmkit_cbor_put_head(b, NSMKIT_CBOR_TEXT, n);
    nsmkit_buf_append(b, text, n);
}

void nsmkit_cbor_put_text(nsmkit_buf *b, const char *text)
{
    nsmkit_cbor_put_text_n(b, text, strlen(text));
}

void nsmkit_cbor_put_null(nsmkit_buf *b)
{
    nsmkit_buf_u8(b, 0xf6);
}

void nsmkit_cbor_put_bool(nsmkit_buf *b, bool value)
{
    nsmkit_buf_u8(b, value ? 0xf5 : 0xf4);
}

const char *nsmkit_cbor_status_name(nsmkit_cbor_status status)
{
    switch (status) {
    case NSMKIT_CBOR_OK: return "well-formed";
    case NSMKIT_CBOR_EMPTY: return "empty input";
    case NSMKIT_CBOR_TRUNCATED: return "truncated item";
    case NSMKIT_CBOR_RESERVED_INFO: return "reserved additional information (28..30)";
    case NSMKIT_CBOR_BAD_INDEFINITE: return "indefinite length on an item that cannot have one";
    case NSMKIT_CBOR_BAD_CHUNK: return "indefinite string chunk of the wrong type";
    case NSMKIT_CBOR_STRAY_BREAK: return "break (0xff) outside an indefinite container";
    case NSMKIT_CBOR_MAP_MISSING_VALUE: return "indefinite map closed after a key";
    case NSMKIT_CBOR_BAD_SIMPLE: return "two-byte simple value below 32";
    case NSMKIT_CBOR_TOO_DEEP: return "nesting too deep";
    case NSMKIT_CBOR_TOO_MANY_ITEMS: return "too many data items";
    case NSMKIT_CBOR_LENGTH_TOO_LARGE: return "declared length larger than the input";
    case NSMKIT_CBOR_INDEFINITE_STRING: return "indefinite-length byte or text string";
    case NSMKIT_CBOR_TAG_NOT_ALLOWED: return "tag not allowed here";
    case NSMKIT_CBOR_TRAILING_BYTES: return "trailing bytes after the item";
    case NSMKIT_CBOR_NO_MEMORY: return "out of memory";
    case NSMKIT_CBOR_LIBRARY_ERROR: return "CBOR library refused the input";
    }
    return "unknown CBOR status";
}

/* The checker never recurses: open containers live on this fixed stack. */
#define CHECK_STACK_MAX 256

typedef struct {
    /* Items still expected: a definite container's count, 1 for a tag and for the top
     * level, and for indefinite containers more than any input holds (a break closes
     * them). One test per item then tells whether it closes its container. */
    uint64_t remaining;
    uint64_t seen;       /* items seen (indefinite maps: keys and values) */
    uint8_t major;       /* ARRAY, MAP, TAG, or BYTES/TEXT for indefinite string chunks */
    bool indefinite;
    bool chunks;         /* an indefinite byte or text string: only chunks of its type */
} check_frame;

static nsmkit_cbor_status check_fail(nsmkit_cbor_report *report, nsmkit_cbor_status status,
                                     size_t offset)
{
    report->status = status;
    report->offset = offset;
    return status;
}

/* What one head (not a break) means for the check: the bytes of a definite string are
 * skipped, a container's frame is filled in and *opens set when it waits for items.
 * Returns NSMKIT_CBOR_OK or the status the item fails with. */
static inline NSMKIT_ALWAYS_INLINE nsmkit_cbor_status
check_head(const nsmkit_cbor_head *h, nsmkit_reader *r, const nsmkit_cbor_limits *limits,
           check_frame *frame, bool *opens)
{
    switch (h->major) {
    case NSMKIT_CBOR_UINT:
    case NSMKIT_CBOR_NEGINT:
        if (h->indefinite)
            return NSMKIT_CBOR_BAD_INDEFINITE;
        break;
    case NSMKIT_CBOR_BYTES:
    case NSMKIT_CBOR_TEXT:
        if (h->indefinite) {
            if (!limits->allow_indefinite_strings)
                return NSMKIT_CBOR_INDEFINITE_STRING;
            frame->chunks = true;
            *opens = true;
        } else {
            const uint8_t *skip;
            if (h->argument > nsmkit_reader_remaining(r))
                return NSMKIT_CBOR_LENGTH_TOO_LARGE;
            if (!nsmkit_reader_bytes(r, (size_t)h->argument, &skip))
                return NSMKIT_CBOR_TRUNCATED;
        }
        break;
    case NSMKIT_CBOR_ARRAY:
    case NSMKIT_CBOR_MAP:
        if (!h->indefinite) {
            /* Each item takes at least one byte: a count above the bytes left is
             * a lie, whatever the items are. */
            uint64_t left = nsmkit_reader_remaining(r);
            uint64_t per_entry = h->major == NSMKIT_CBOR_MAP ? 2 : 1;
            if (h->argument > left / per_entry)
                return NSMKIT_CBOR_LENGTH_TOO_LARGE;
            frame->remaining = h->argument * per_entry;
            *opens = frame->remaining > 0;
        } else {
            *opens = true;
        }
        break;
    case NSMKIT_CBOR_TAG:
        if (h->indefinite)
            return NSMKIT_CBOR_BAD_INDEFINITE;
        if (!limits->allow_tags)
            return NSMKIT_CBOR_TAG_NOT_ALLOWED;
        frame->remaining = 1;
        *opens = true;
        break;
    default: /* NSMKIT_CBOR_SIMPLE; the break was handled above */
        if (h->info == 24 && h->argument < 32)
            return NSMKIT_CBOR_BAD_SIMPLE;
        break;
    }
    return NSMKIT_CBOR_OK;
}

nsmkit_cbor_status nsmkit_cbor_check(const uint8_t *buf, size_t len,
                                     const nsmkit_cbor_limits *limits,
                                     nsmkit_cbor_report *report)
{
    nsmkit_cbor_report unused;
    /* stack[0] is the top level, never popped: a definite "container" of one item that is
     * no string, so the item at the top needs no test for "is there a parent". */
    check_frame stack[CHECK_STACK_MAX + 1];
    size_t depth = 0; /* open containers: stack[1..depth] */
    size_t max_depth = limits->max_depth < CHECK_STACK_MAX ? limits->max_depth : CHECK_STACK_MAX;
    /* 0 means no limit: one comparison per item instead of two */
    size_t max_items = limits->max_items ? limits->max_items : SIZE_MAX;
    nsmkit_reader r;

    if (!report)
        report = &unused;
    memset(report, 0, sizeof(*report));
    if (!buf || len == 0)
        return check_fail(report, NSMKIT_CBOR_EMPTY, 0);
    nsmkit_reader_init(&r, buf, len);
    stack[0] = (check_frame){.remaining = 1};

    for (;;) {
        nsmkit_cbor_head h;
        size_t at = r.pos;
        if (!head_read(&r, &h)) {
            bool reserved =
                at < len && head_argument_width[buf[at] & 0x1f] == HEAD_RESERVED;
            return check_fail(report, reserved ? NSMKIT_CBOR_RESERVED_INFO
                                               : NSMKIT_CBOR_TRUNCATED, at);
        }

        check_frame *top = &stack[depth];
        if (h.indefinite && h.major == NSMKIT_CBOR_SIMPLE) { /* a break (0xff) */
            if (!top->indefinite)
                return check_fail(report, NSMKIT_CBOR_STRAY_BREAK, at);
            if (top->major == NSMKIT_CBOR_MAP && top->seen % 2 != 0)
                return check_fail(report, NSMKIT_CBOR_MAP_MISSING_VALUE, at);
            depth--; /* the container is complete: fall through to completion below */
        } else {
            report->items++;
            if (report->items > max_items)
                return check_fail(report, NSMKIT_CBOR_TOO_MANY_ITEMS, at);
            if (top->chunks && (h.major != top->major || h.indefinite))
                return check_fail(report, NSMKIT_CBOR_BAD_CHUNK, at);

            bool opens = false; /* a container that waits for its items */
            check_frame frame = {UINT64_MAX, 0, h.major, h.indefinite, false};
            nsmkit_cbor_status st = check_head(&h, &r, limits, &frame, &opens);
            if (st != NSMKIT_CBOR_OK)
                return check_fail(report, st, at);
            if (opens) {
                if (depth >= max_depth)
                    return check_fail(report, NSMKIT_CBOR_TOO_DEEP, at);
                stack[++depth] = frame;
                continue;
            }
        }

        /* One item is complete: count it against the containers it closes. */
        for (;;) {
            check_frame *parent = &stack[depth];
            parent->seen++;
            if (--parent->remaining > 0)
                break;
            if (depth == 0) { /* the top-level item */
                if (r.pos != len)
                    return check_fail(report, NSMKIT_CBOR_TRAILING_BYTES, r.pos);
                report->status = NSMKIT_CBOR_OK;
                report->offset = r.pos;
                return NSMKIT_CBOR_OK;
            }
            depth--;
        }
    }
}

nsmkit_cbor_status nsmkit_cbor_load(const uint8_t *buf, size_t len,
                                    const nsmkit_cbor_limits *limits, cbor_item_t **item,
                                    nsmkit_cbor_report *report)
{
    nsmkit_cbor_report unused;
    struct cbor_load_result result;

    if (!report)
        report = &unused;
    *item = NULL;
    nsmkit_cbor_status status = nsmkit_cbor_check(buf, len, limits, report);
    if (status != NSMKIT_CBOR_OK)
        return status;

    cbor_item_t *loaded = cbor_load(buf, len, &result);
    if (!loaded || result.error.code != CBOR_ERR_NONE || result.read != len) {
        if (loaded)
            cbor_decref(&loaded);
        report->status = result.error.code == CBOR_ERR_MEMERROR ? NSMKIT_CBOR_NO_MEMORY
                                                                : NSMKIT_CBOR_LIBRARY_ERROR;
        report->offset = result.error.position;
        return report->status;
    }
    *item = loaded;
    return NSMKIT_CBOR_OK;
}

bool nsmkit_cbor_is_null(const cbor_item_t *item)
{
    return item && cbor_isa_float_ctrl(item) && cbor_float_ctrl_is_ctrl(item) &&
           cbor_ctrl_value(item) == CBOR_CTRL_NULL;
}

bool nsmkit_cbor_text_equals(const cbor_item_t *item, const char *text)
{
    if (!item || !cbor_isa_string(item) || !cbor_string_is_definite(item))
        return false;
    size_t n = strlen(text);
    return cbor_string_length(item) == n &&
           (n == 0 || memcmp(cbor_string_handle(item), text, n) == 0);
}

nsmkit_map_status nsmkit_cbor_map_fields(const cbor_item_t *map, const char *const *names,
                                         size_t count, const cbor_item_t **values,
                                         size_t *pos)
{
    if (!map || !cbor_isa_map(map))
        return NSMKIT_MAP_NOT_MAP;
    size_t n = cbor_map_size(map);
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (; *pos < n; (*pos)++) {
        const cbor_item_t *key = pairs[*pos].key;
        if (!cbor_isa_string(key) || !cbor_string_is_definite(key))
            return NSMKIT_MAP_KEY_NOT_TEXT;
        size_t k = 0;
        while (k < count && !nsmkit_cbor_text_equals(key, names[k]))
            k++;
        if (k == count)
            return NSMKIT_MAP_UNKNOWN_KEY;
        if (values[k])
            return NSMKIT_MAP_DUPLICATE_KEY;
        values[k] = pairs[*pos].value;
    }
    return NSMKIT_MAP_OK;
}

nsmkit_map_status nsmkit_cbor_map_fields_lenient(const cbor_item_t *map,
                                                 const char *const *names, size_t count,
                                                 const cbor_item_t **values)
{
    size_t pos = 0;
    for (;;) {
        nsmkit_map_status status = nsmkit_cbor_map_fields(map, names, count, values, &pos);
        if (status != NSMKIT_MAP_KEY_NOT_TEXT && status != NSMKIT_MAP_UNKNOWN_KEY)
            return status;
        pos++;
    }
}
