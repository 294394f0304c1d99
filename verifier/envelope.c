/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The envelope stage: the COSE_Sign1 bytes, checked by hand with the bounded reader
 * before any CBOR library sees them.
 *
 *   [d2]                     optional tag 18 (COSE_Sign1)
 *   84                       array(4)
 *     44 a1 01 38 22         protected = bstr({1: -35})
 *     a0                     unprotected = {}
 *     59 LLLL <payload>      payload bstr (shortest length head)
 *     58 60 <96 bytes>       signature r||s
 *
 * Anything else gets its own code: a wrong alg is told apart from a protected header
 * that is merely unusual, so that the report says what an attacker (or a buggy signer)
 * tried.
 */
#include <string.h>

#include "internal.h"
#include "nsmkit/reader.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/cbor.h"
#include "nsmkit/cose.h"

static const uint8_t protected_es384[NSMKIT_COSE_PROTECTED_ES384_LEN] =
    NSMKIT_COSE_PROTECTED_ES384;

static const char *major_name(uint8_t major)
{
    static const char *const names[8] = {"unsigned integer", "negative integer", "byte string",
                                         "text string", "array", "map", "tag", "simple value"};
    return names[major & 7];
}

/* True when the head's argument uses the fewest bytes possible. */
static bool head_is_minimal(const nsmkit_cbor_head *h)
{
    switch (h->info) {
    case 24: return h->argument >= 24;
    case 25: return h->argument > 0xff;
    case 26: return h->argument > 0xffff;
    case 27: return h->argument > 0xffffffffu;
    default: return true;
    }
}

/* Reads one head; a failure is told apart as reserved (malformed) or truncated. */
static nsmv_code read_head(nsmkit_reader *r, nsmkit_cbor_head *h, const char *what,
                           nsmv_run *run)
{
    uint8_t initial;
    size_t at = r->pos;
    if (!nsmkit_reader_peek_u8(r, &initial))
        return nsmv_fail(run, NSMV_ERR_ENV_TRUNCATED, "the document ends at byte %zu, before the %s",
                         at, what);
    if (!nsmkit_cbor_read_head(r, h)) {
        uint8_t info = initial & 0x1f;
        if (info >= 28 && info <= 30)
            return nsmv_fail(run, NSMV_ERR_ENV_MALFORMED,
                             "the %s at byte %zu starts with 0x%02x, whose additional "
                             "information %u is reserved", what, at, initial, info);
        return nsmv_fail(run, NSMV_ERR_ENV_TRUNCATED,
                         "the document ends inside the head of the %s at byte %zu", what, at);
    }
    return NSMV_OK;
}

/* A definite byte string with its shortest head; the slice points into the input. */
static nsmv_code read_bstr(nsmkit_reader *r, const char *what, nsmv_code not_bstr,
                           size_t exact_len, nsmkit_bytes *out, nsmv_run *run)
{
    nsmkit_cbor_head h;
    nsmv_code c = read_head(r, &h, what, run);
    if (c != NSMV_OK)
        return c;
    if (h.major != NSMKIT_CBOR_BYTES) {
        if (h.major == NSMKIT_CBOR_SIMPLE && h.info == 22)
            return nsmv_fail(run, not_bstr, "the %s is null (a detached payload is not allowed)",
                             what);
        return nsmv_fail(run, not_bstr, "the %s at byte %zu is a %s", what, h.offset,
                         major_name(h.major));
    }
    if (h.indefinite)
        return nsmv_fail(run, NSMV_ERR_ENV_INDEFINITE_STRING,
                         "the %s at byte %zu is an indefinite-length byte string", what, h.offset);
    if (!head_is_minimal(&h))
        return nsmv_fail(run, NSMV_ERR_ENV_NON_MINIMAL,
                         "the %s length %llu at byte %zu is written in a longer head than needed",
                         what, (unsigned long long)h.argument, h.offset);
    if (exact_len && h.argument != exact_len)
        return nsmv_fail(run, NSMV_ERR_ENV_SIGNATURE_LENGTH, "the %s is %llu bytes, not %zu", what,
                         (unsigned long long)h.argument, exact_len);
    if (h.argument > nsmkit_reader_remaining(r))
        return nsmv_fail(run, NSMV_ERR_ENV_TRUNCATED,
                         "the %s declares %llu bytes but only %zu remain", what,
                         (unsigned long long)h.argument, nsmkit_reader_remaining(r));
    if (!nsmkit_reader_bytes(r, (size_t)h.argument, &out->ptr))
        return nsmv_fail(run, NSMV_ERR_INTERNAL, "reader refused a checked length");
    out->len = (size_t)h.argument;
    return NSMV_OK;
}

/*
 * Explains a protected header that is not exactly a1 01 38 22. Its bytes are bounded by
 * the document, and are checked by the pre-pass before libcbor loads them.
 */
static nsmv_code explain_protected(nsmkit_bytes hdr, nsmv_envelope *env, nsmv_run *run)
{
    static const nsmkit_cbor_limits limits = {
        .max_depth = 4, .max_items = 64, .allow_indefinite_strings = false, .allow_tags = false};
    cbor_item_t *map = NULL;
    nsmkit_cbor_report report;
    nsmv_code c = NSMV_OK;

    if (hdr.len == 0)
        return nsmv_fail(run, NSMV_ERR_ENV_ALG_MISSING,
                         "the protected header is empty (h''), so it names no algorithm");
    nsmkit_cbor_status st = nsmkit_cbor_load(hdr.ptr, hdr.len, &limits, &map, &report);
    if (st == NSMKIT_CBOR_NO_MEMORY)
        return nsmv_fail(run, NSMV_ERR_NO_MEMORY, "decoding the protected header");
    if (st != NSMKIT_CBOR_OK)
        return nsmv_fail(run, NSMV_ERR_ENV_PROTECTED_MALFORMED, "%s at byte %zu of the header",
                         nsmkit_cbor_status_name(st), report.offset);
    if (!cbor_isa_map(map)) {
        c = nsmv_fail(run, NSMV_ERR_ENV_PROTECTED_MALFORMED, "the protected header holds a %s",
                      major_name((uint8_t)cbor_typeof(map)));
        goto out;
    }

    const cbor_item_t *alg = NULL;
    size_t alg_count = 0, others = 0;
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        const cbor_item_t *key = pairs[i].key;
        if (cbor_isa_uint(key) && cbor_get_int(key) == 1) {
            alg = pairs[i].value;
            alg_count++;
        } else {
            others++;
        }
    }
    if (!alg) {
        c = nsmv_fail(run, NSMV_ERR_ENV_ALG_MISSING, "the protected header has %zu parameters, none of them alg (1)",
                      others);
        goto out;
    }
    if (cbor_isa_string(alg) && cbor_string_is_definite(alg)) {
        char text[48];
        nsmv_printable(cbor_string_handle(alg), cbor_string_length(alg), text, sizeof(text));
        c = nsmv_fail(run, NSMV_ERR_ENV_ALG_TEXT, "alg is the text \"%s\"", text);
        goto out;
    }
    if (cbor_isa_negint(alg) || cbor_isa_uint(alg)) {
        uint64_t raw = cbor_get_int(alg);
        if (cbor_isa_uint(alg)) {
            c = nsmv_fail(run, NSMV_ERR_ENV_ALG_UNSUPPORTED, "alg is %llu", (unsigned long long)raw);
            goto out;
        }
        if (raw != (uint64_t)(-NSMV_COSE_ALG_ES384 - 1)) {
            c = nsmv_fail(run, NSMV_ERR_ENV_ALG_UNSUPPORTED, "alg is -%llu",
                          (unsigned long long)raw + 1);
            goto out;
        }
    } else {
        c = nsmv_fail(run, NSMV_ERR_ENV_ALG_UNSUPPORTED, "alg is a %s, not an integer",
                      major_name((uint8_t)cbor_typeof(alg)));
        goto out;
    }
    env->alg = NSMV_COSE_ALG_ES384;
    if (alg_count > 1)
        c = nsmv_fail(run, NSMV_ERR_ENV_PROTECTED_NOT_EXACT, "alg appears %zu times", alg_count);
    else if (others)
        c = nsmv_fail(run, NSMV_ERR_ENV_PROTECTED_NOT_EXACT,
                      "the protected header has %zu parameters besides alg", others);
    else
        c = nsmv_fail(run, NSMV_ERR_ENV_PROTECTED_NOT_EXACT,
                      "{1: -35} is encoded in %zu bytes instead of a1 01 38 22", hdr.len);
out:
    cbor_decref(&map);
    return c;
}

nsmv_code nsmv_envelope_parse(const uint8_t *doc, size_t len, nsmv_envelope *env,
                              nsmv_run *run)
{
    nsmkit_reader r;
    nsmkit_cbor_head h;
    nsmv_code c;

    memset(env, 0, sizeof(*env));
    if (!doc || len == 0)
        return nsmv_fail(run, NSMV_ERR_DOC_EMPTY, "0 bytes");
    if (len > NSMV_DOC_MAX)
        return nsmv_fail(run, NSMV_ERR_DOC_TOO_LARGE, "%zu bytes; the limit is %d", len,
                         NSMV_DOC_MAX);
    nsmkit_reader_init(&r, doc, len);

    if ((c = read_head(&r, &h, "COSE_Sign1 array", run)) != NSMV_OK)
        return c;
    if (h.major == NSMKIT_CBOR_TAG) {
        if (h.indefinite || h.argument != 18)
            return nsmv_fail(run, NSMV_ERR_ENV_BAD_TAG, "tag %llu", (unsigned long long)h.argument);
        if (!head_is_minimal(&h))
            return nsmv_fail(run, NSMV_ERR_ENV_NON_MINIMAL, "tag 18 is written in %zu bytes",
                             r.pos - h.offset);
        env->tagged = true;
        if ((c = read_head(&r, &h, "COSE_Sign1 array", run)) != NSMV_OK)
            return c;
    }
    if (h.major != NSMKIT_CBOR_ARRAY)
        return nsmv_fail(run, NSMV_ERR_ENV_NOT_ARRAY4, "the document is a %s",
                         major_name(h.major));
    if (h.indefinite)
        return nsmv_fail(run, NSMV_ERR_ENV_NOT_ARRAY4, "the array has indefinite length");
    if (h.argument != 4)
        return nsmv_fail(run, NSMV_ERR_ENV_NOT_ARRAY4, "an array of %llu items",
                         (unsigned long long)h.argument);
    if (!head_is_minimal(&h))
        return nsmv_fail(run, NSMV_ERR_ENV_NON_MINIMAL, "array(4) is written in %zu bytes",
                         r.pos - h.offset);

    c = read_bstr(&r, "protected header", NSMV_ERR_ENV_PROTECTED_NOT_BSTR, 0,
                  &env->protected_hdr, run);
    if (c != NSMV_OK)
        return c;
    if (env->protected_hdr.len != sizeof(protected_es384) ||
        memcmp(env->protected_hdr.ptr, protected_es384, sizeof(protected_es384)) != 0)
        return explain_protected(env->protected_hdr, env, run);
    env->alg = NSMV_COSE_ALG_ES384;

    if ((c = read_head(&r, &h, "unprotected header", run)) != NSMV_OK)
        return c;
    if (h.major != NSMKIT_CBOR_MAP)
        return nsmv_fail(run, NSMV_ERR_ENV_UNPROTECTED_NOT_EMPTY, "the unprotected header is a %s",
                         major_name(h.major));
    if (h.indefinite)
        return nsmv_fail(run, NSMV_ERR_ENV_UNPROTECTED_NOT_EMPTY,
                         "the unprotected header is an indefinite-length map");
    if (h.argument != 0)
        return nsmv_fail(run, NSMV_ERR_ENV_UNPROTECTED_NOT_EMPTY,
                         "the unprotected header holds %llu parameters",
                         (unsigned long long)h.argument);
    if (!head_is_minimal(&h))
        return nsmv_fail(run, NSMV_ERR_ENV_NON_MINIMAL, "the empty map is written in %zu bytes",
                         r.pos - h.offset);

    c = read_bstr(&r, "payload", NSMV_ERR_ENV_PAYLOAD_NOT_BSTR, 0, &env->payload, run);
    if (c != NSMV_OK)
        return c;
    c = read_bstr(&r, "signature", NSMV_ERR_ENV_SIGNATURE_NOT_BSTR, NSMV_SIGNATURE_LEN,
                  &env->signature, run);
    if (c != NSMV_OK)
        return c;
    if (!nsmkit_reader_finish(&r))
        return nsmv_fail(run, NSMV_ERR_ENV_TRAILING_BYTES, "%zu bytes after byte %zu",
                         len - r.pos, r.pos);
    return NSMV_OK;
}
