/* SPDX-License-Identifier: Apache-2.0 */
/* Byte-level edits of an encoded CBOR map (see nsmkit/surgery.h). */
#include <string.h>

#include "nsmkit/surgery.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/reader.h"

/* Deeper than any document nests; the bound keeps a hostile buffer from exhausting the
 * stack. */
#define SURGERY_MAX_DEPTH 64

static int item_end(const uint8_t *b, size_t len, size_t pos, unsigned depth, size_t *end,
                    nsmkit_error *e)
{
    nsmkit_reader r;
    nsmkit_cbor_head h;
    if (depth > SURGERY_MAX_DEPTH)
        return nsmkit_fail(e, "surgery: CBOR nests deeper than %d at byte %zu",
                           SURGERY_MAX_DEPTH, pos);
    if (pos > len)
        return nsmkit_fail(e, "surgery: offset %zu is past the end (%zu)", pos, len);
    nsmkit_reader_init(&r, b, len);
    r.pos = pos;
    if (!nsmkit_cbor_read_head(&r, &h))
        return nsmkit_fail(e, "surgery: no CBOR head at byte %zu", pos);
    size_t at = r.pos;
    uint64_t items = 0;
    switch (h.major) {
    case NSMKIT_CBOR_BYTES:
    case NSMKIT_CBOR_TEXT:
        if (!h.indefinite) {
            if (h.argument > len - at)
                return nsmkit_fail(e, "surgery: a string at byte %zu runs past the end", pos);
            *end = at + (size_t)h.argument;
            return 0;
        }
        break;
    case NSMKIT_CBOR_ARRAY: items = h.argument; break;
    case NSMKIT_CBOR_MAP:
        if (h.argument > UINT64_MAX / 2)
            return nsmkit_fail(e, "surgery: a map at byte %zu is too large", pos);
        items = 2 * h.argument;
        break;
    case NSMKIT_CBOR_TAG: items = 1; break;
    default:
        *end = at;
        return 0;
    }
    if (h.indefinite) {
        while (at < len && b[at] != 0xff)
            if (item_end(b, len, at, depth + 1, &at, e) != 0)
                return -1;
        if (at >= len)
            return nsmkit_fail(e, "surgery: an indefinite item at byte %zu has no end", pos);
        *end = at + 1;
        return 0;
    }
    /* Every item takes at least one byte: a count beyond the bytes left is truncated. */
    if (items > len - at)
        return nsmkit_fail(e, "surgery: the item at byte %zu declares more items than bytes",
                           pos);
    for (uint64_t i = 0; i < items; i++)
        if (item_end(b, len, at, depth + 1, &at, e) != 0)
            return -1;
    *end = at;
    return 0;
}

int nsmsim_cbor_item_end(const uint8_t *b, size_t len, size_t pos, size_t *end, nsmkit_error *e)
{
    return item_end(b, len, pos, 0, end, e);
}

static int key_is(const uint8_t *b, size_t len, size_t pos, const char *key, bool *same,
                  nsmkit_error *e)
{
    nsmkit_buf want;
    nsmkit_buf_init(&want, 512);
    nsmkit_cbor_put_text(&want, key);
    if (want.err) {
        nsmkit_buf_free(&want);
        return nsmkit_fail(e, "surgery: key \"%.40s\" is too long", key);
    }
    *same = len - pos >= want.len && memcmp(b + pos, want.data, want.len) == 0;
    nsmkit_buf_free(&want);
    return 0;
}

int nsmsim_map_find(const uint8_t *m, size_t len, const char *key, size_t *key_at,
                    size_t *value_at, size_t *end, nsmkit_error *e)
{
    nsmkit_reader r;
    nsmkit_cbor_head h;
    nsmkit_reader_init(&r, m, len);
    if (!nsmkit_cbor_read_head(&r, &h) || h.major != NSMKIT_CBOR_MAP)
        return nsmkit_fail(e, "surgery: the payload is not a map");
    size_t at = r.pos;
    for (uint64_t i = 0; h.indefinite ? at < len && m[at] != 0xff : i < h.argument; i++) {
        size_t v, end_of_value;
        bool same = false;
        if (item_end(m, len, at, 1, &v, e) != 0 || item_end(m, len, v, 1, &end_of_value, e) != 0 ||
            key_is(m, len, at, key, &same, e) != 0)
            return -1;
        if (same) {
            *key_at = at;
            *value_at = v;
            *end = end_of_value;
            return 0;
        }
        at = end_of_value;
    }
    return nsmkit_fail(e, "surgery: the payload has no key \"%.64s\"", key);
}

int nsmsim_splice(nsmkit_buf *m, size_t at, size_t remove, const uint8_t *insert, size_t n,
                  nsmkit_error *e)
{
    nsmkit_buf out;
    if (at > m->len || remove > m->len - at)
        return nsmkit_fail(e, "surgery: edit at %zu+%zu is outside %zu bytes", at, remove, m->len);
    nsmkit_buf_init(&out, m->limit);
    nsmkit_buf_append(&out, m->data, at);
    if (n)
        nsmkit_buf_append(&out, insert, n);
    nsmkit_buf_append(&out, m->data + at + remove, m->len - at - remove);
    if (out.err) {
        nsmkit_buf_free(&out);
        return nsmkit_fail(e, "surgery: the edited bytes exceed %zu bytes", m->limit);
    }
    nsmkit_buf_free(m);
    *m = out;
    return 0;
}

/* A definite map's count lives in its head: 0xa0..0xb7 hold it in the initial byte. */
static int adjust_count(nsmkit_buf *m, int delta, nsmkit_error *e)
{
    uint8_t head = m->data[0];
    if (head == 0xbf)
        return 0;
    if (head < 0xa0 || head > 0xb7)
        return nsmkit_fail(e, "surgery: only maps of up to 23 entries are edited (head %02x)",
                           head);
    int count = (head & 0x1f) + delta;
    if (count < 0 || count > 23)
        return nsmkit_fail(e, "surgery: the map would hold %d entries", count);
    m->data[0] = (uint8_t)(0xa0 | count);
    return 0;
}

int nsmsim_map_set_value(nsmkit_buf *m, const char *key, const uint8_t *value, size_t n,
                         nsmkit_error *e)
{
    size_t k, v, end;
    if (nsmsim_map_find(m->data, m->len, key, &k, &v, &end, e) != 0)
        return -1;
    return nsmsim_splice(m, v, end - v, value, n, e);
}

int nsmsim_map_set_key(nsmkit_buf *m, const char *key, const uint8_t *new_key, size_t n,
                       nsmkit_error *e)
{
    size_t k, v, end;
    if (nsmsim_map_find(m->data, m->len, key, &k, &v, &end, e) != 0)
        return -1;
    return nsmsim_splice(m, k, v - k, new_key, n, e);
}

int nsmsim_map_remove(nsmkit_buf *m, const char *key, nsmkit_error *e)
{
    size_t k, v, end;
    if (nsmsim_map_find(m->data, m->len, key, &k, &v, &end, e) != 0)
        return -1;
    uint8_t head = m->data[0];
    if (head != 0xbf && (head <= 0xa0 || head > 0xb7))
        return nsmkit_fail(e, "surgery: cannot lower the count of map head %02x", head);
    if (nsmsim_splice(m, k, end - k, NULL, 0, e) != 0)
        return -1;
    return adjust_count(m, -1, e);
}

int nsmsim_map_append(nsmkit_buf *m, const uint8_t *key, size_t key_len, const uint8_t *value,
                      size_t value_len, nsmkit_error *e)
{
    nsmkit_buf entry;
    if (m->len == 0)
        return nsmkit_fail(e, "surgery: the payload is empty");
    uint8_t head = m->data[0];
    if (head != 0xbf && (head < 0xa0 || head >= 0xb7))
        return nsmkit_fail(e, "surgery: cannot raise the count of map head %02x", head);
    nsmkit_buf_init(&entry, m->limit);
    nsmkit_buf_append(&entry, key, key_len);
    nsmkit_buf_append(&entry, value, value_len);
    size_t at = head == 0xbf ? m->len - 1 : m->len;
    int rc = entry.err ? nsmkit_fail(e, "surgery: the entry is too large")
                       : nsmsim_splice(m, at, 0, entry.data, entry.len, e);
    nsmkit_buf_free(&entry);
    return rc != 0 ? -1 : adjust_count(m, +1, e);
}

int nsmsim_map_entry(const nsmkit_buf *m, const char *key, nsmkit_buf *out, nsmkit_error *e)
{
    size_t k, v, end;
    nsmkit_buf_init(out, m->limit);
    if (nsmsim_map_find(m->data, m->len, key, &k, &v, &end, e) != 0)
        return -1;
    nsmkit_buf_append(out, m->data + k, end - k);
    return out->err ? nsmkit_fail(e, "surgery: out of memory") : 0;
}
