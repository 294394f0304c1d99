/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The envelope stage (verifier/envelope.c): every byte-level rule of the COSE_Sign1
 * envelope, each with its exact code, on both sides of the rule. Documents come from the
 * simulator's builder; envelopes are then assembled part by part.
 */
#include <stdlib.h>
#include <string.h>

#include "verify_fixture.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"

/* Parts of an envelope as hex; NULL takes the part of a valid signed document. */
typedef struct {
    const char *tag;          /* before the array */
    const char *array;        /* the array head */
    const char *protected_hdr; /* the whole protected item */
    const char *unprotected;
    const char *payload;      /* the whole payload item; "HEAD:<hex>" replaces only its head */
    const char *signature;    /* the whole signature item */
    const char *trailing;
} env_parts;

static void put_hex(nsmkit_buf *b, const char *hex)
{
    size_t n;
    uint8_t *bytes = test_hex(hex, &n);
    nsmkit_buf_append(b, bytes, n);
    free(bytes);
}

/* Builds a valid document, then assembles the envelope from parts. */
static void assemble(const vfx *fx, const env_parts *p, nsmkit_buf *out)
{
    nsmkit_buf payload, doc;
    vfx_encode(&fx->payload, &payload);
    vfx_sign(fx, payload.data, payload.len, &doc);
    const uint8_t *sig_item = doc.data + doc.len - 98; /* 58 60 r||s */

    nsmkit_buf_init(out, 4 * NSMV_DOC_MAX);
    if (p->tag)
        put_hex(out, p->tag);
    put_hex(out, p->array ? p->array : "84");
    put_hex(out, p->protected_hdr ? p->protected_hdr : "44a1013822");
    put_hex(out, p->unprotected ? p->unprotected : "a0");
    if (p->payload && strncmp(p->payload, "HEAD:", 5) == 0) {
        put_hex(out, p->payload + 5);
        nsmkit_buf_append(out, payload.data, payload.len);
    } else if (p->payload) {
        put_hex(out, p->payload);
    } else {
        nsmkit_cbor_put_bytes(out, payload.data, payload.len);
    }
    if (p->signature)
        put_hex(out, p->signature);
    else
        nsmkit_buf_append(out, sig_item, 98);
    if (p->trailing)
        put_hex(out, p->trailing);
    assert_false(out->err);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
}

static nsmv_code check_parts(const vfx *fx, const env_parts *p)
{
    nsmkit_buf doc;
    nsmv_result r;
    assemble(fx, p, &doc);
    nsmv_code c = vfx_verify(fx, doc.data, doc.len, NULL, &r);
    nsmkit_buf_free(&doc);
    return c;
}

static nsmv_code check_hex(const vfx *fx, const char *hex)
{
    size_t n;
    nsmv_result r;
    uint8_t *doc = test_hex(hex, &n);
    nsmv_code c = vfx_verify(fx, doc, n, NULL, &r);
    free(doc);
    return c;
}

static void valid_document_passes_every_stage(void **state)
{
    const vfx *fx = *state;
    nsmkit_buf doc;
    nsmv_result r;
    assemble(fx, &(env_parts){0}, &doc);
    assert_vcode(vfx_verify(fx, doc.data, doc.len, NULL, &r), NSMV_OK);
    for (int s = NSMV_STAGE_ENVELOPE; s <= NSMV_STAGE_POLICY; s++)
        assert_int_equal(r.stages[s], NSMV_OUTCOME_PASSED);
    assert_int_equal(r.kind, NSMV_KIND_NSM);
    nsmkit_buf_free(&doc);
}

static void empty_and_oversized_documents(void **state)
{
    const vfx *fx = *state;
    nsmv_result r;
    assert_vcode(vfx_verify(fx, NULL, 0, NULL, &r), NSMV_ERR_DOC_EMPTY);
    assert_vcode(vfx_verify(fx, (const uint8_t *)"", 0, NULL, &r), NSMV_ERR_DOC_EMPTY);

    /* a valid document padded to the limit is judged on its bytes (trailing), one byte
     * more is too large before anything is read */
    nsmkit_buf doc;
    assemble(fx, &(env_parts){0}, &doc);
    uint8_t *big = calloc(1, NSMV_DOC_MAX + 1);
    assert_non_null(big);
    memcpy(big, doc.data, doc.len);
    assert_vcode(vfx_verify(fx, big, NSMV_DOC_MAX, NULL, &r), NSMV_ERR_ENV_TRAILING_BYTES);
    assert_vcode(vfx_verify(fx, big, NSMV_DOC_MAX + 1, NULL, &r), NSMV_ERR_DOC_TOO_LARGE);
    free(big);
    nsmkit_buf_free(&doc);
}

static void tag_18_is_accepted_and_no_other(void **state)
{
    const vfx *fx = *state;
    assert_vcode(check_parts(fx, &(env_parts){.tag = "d2"}), NSMV_OK);
    /* the strict profile too (its payload has no null, so that tag 18 is what is tested) */
    static const uint8_t one = 1;
    nsmsim_payload p = fx->payload;
    p.public_key = p.user_data = p.nonce = (nsmsim_optional_bytes){&one, 1, true};
    nsmkit_buf payload, doc, tagged;
    nsmv_options strict;
    nsmv_result r;
    vfx_options(&strict);
    strict.profile = NSMV_PROFILE_STRICT;
    vfx_encode(&p, &payload);
    vfx_sign(fx, payload.data, payload.len, &doc);
    nsmkit_buf_init(&tagged, 4 * NSMV_DOC_MAX);
    nsmkit_buf_u8(&tagged, 0xd2);
    nsmkit_buf_append(&tagged, doc.data, doc.len);
    assert_vcode(vfx_verify(fx, doc.data, doc.len, &strict, &r), NSMV_OK);
    assert_vcode(vfx_verify(fx, tagged.data, tagged.len, &strict, &r), NSMV_OK);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
    nsmkit_buf_free(&tagged);

    assert_vcode(check_parts(fx, &(env_parts){.tag = "d3"}), NSMV_ERR_ENV_BAD_TAG);     /* 19 */
    assert_vcode(check_parts(fx, &(env_parts){.tag = "d862"}), NSMV_ERR_ENV_BAD_TAG);   /* 98 */
    assert_vcode(check_parts(fx, &(env_parts){.tag = "c0"}), NSMV_ERR_ENV_BAD_TAG);
    assert_vcode(check_parts(fx, &(env_parts){.tag = "d812"}), NSMV_ERR_ENV_NON_MINIMAL);
    assert_vcode(check_parts(fx, &(env_parts){.tag = "d2d2"}), NSMV_ERR_ENV_NOT_ARRAY4);
}

static void array_of_four_exactly(void **state)
{
    const vfx *fx = *state;
    assert_vcode(check_parts(fx, &(env_parts){.array = "83"}), NSMV_ERR_ENV_NOT_ARRAY4);
    assert_vcode(check_parts(fx, &(env_parts){.array = "85"}), NSMV_ERR_ENV_NOT_ARRAY4);
    assert_vcode(check_parts(fx, &(env_parts){.array = "9f", .trailing = "ff"}),
                NSMV_ERR_ENV_NOT_ARRAY4);
    assert_vcode(check_parts(fx, &(env_parts){.array = "9804"}), NSMV_ERR_ENV_NON_MINIMAL);
    assert_vcode(check_parts(fx, &(env_parts){.array = "a4"}), NSMV_ERR_ENV_NOT_ARRAY4);
    assert_vcode(check_hex(fx, "00"), NSMV_ERR_ENV_NOT_ARRAY4);
    assert_vcode(check_hex(fx, "f6"), NSMV_ERR_ENV_NOT_ARRAY4);
    assert_vcode(check_hex(fx, "9bffffffffffffffff"), NSMV_ERR_ENV_NOT_ARRAY4);
}

static void protected_header_must_be_a_byte_string(void **state)
{
    const vfx *fx = *state;
    assert_vcode(check_parts(fx, &(env_parts){.protected_hdr = "a1013822"}),
                NSMV_ERR_ENV_PROTECTED_NOT_BSTR);
    assert_vcode(check_parts(fx, &(env_parts){.protected_hdr = "64a1013822"}),
                NSMV_ERR_ENV_PROTECTED_NOT_BSTR);
    assert_vcode(check_parts(fx, &(env_parts){.protected_hdr = "f6"}),
                NSMV_ERR_ENV_PROTECTED_NOT_BSTR);
    assert_vcode(check_parts(fx, &(env_parts){.protected_hdr = "5f44a1013822ff"}),
                NSMV_ERR_ENV_INDEFINITE_STRING);
    assert_vcode(check_parts(fx, &(env_parts){.protected_hdr = "5804a1013822"}),
                NSMV_ERR_ENV_NON_MINIMAL);
}

static void alg_must_be_es384(void **state)
{
    const vfx *fx = *state;
    static const struct {
        const char *item;
        nsmv_code code;
    } cases[] = {
        {"40", NSMV_ERR_ENV_ALG_MISSING},                 /* h'' */
        {"41a0", NSMV_ERR_ENV_ALG_MISSING},               /* {} */
        {"43a10440", NSMV_ERR_ENV_ALG_MISSING},           /* {4: h''} */
        {"48a1016545533338 34", NSMV_ERR_ENV_ALG_TEXT},   /* {1: "ES384"} */
        {"43a10126", NSMV_ERR_ENV_ALG_UNSUPPORTED},       /* ES256 (-7) */
        {"44a1013823", NSMV_ERR_ENV_ALG_UNSUPPORTED},     /* ES512 is -36 */
        {"43a10101", NSMV_ERR_ENV_ALG_UNSUPPORTED},       /* 1 (A128GCM) */
        {"44a1014100", NSMV_ERR_ENV_ALG_UNSUPPORTED},     /* {1: h'00'} */
        {"43a10120", NSMV_ERR_ENV_ALG_UNSUPPORTED},       /* -1 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("  protected %s\n", cases[i].item);
        assert_vcode(check_parts(fx, &(env_parts){.protected_hdr = cases[i].item}),
                    cases[i].code);
    }
}

/* Headers that name ES384 but are not a1 01 38 22, each signed under its own bytes: only
 * the rule can refuse them. */
static void protected_header_must_be_exactly_alg(void **state)
{
    const vfx *fx = *state;
    static const char *const headers[] = {
        "a2013822044100", /* {1: -35, 4: h'00'} (kid) */
        "a20138220138 22", /* alg twice */
        "a101390022",     /* -35 in a two-byte head */
        "a118013822",     /* key 1 in a one-byte head */
        "bf013822ff",     /* indefinite-length map */
    };
    nsmkit_buf payload;
    vfx_encode(&fx->payload, &payload);
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        size_t n;
        uint8_t *hdr = test_hex(headers[i], &n);
        nsmkit_buf doc;
        nsmv_result r;
        print_message("  protected content %s\n", headers[i]);
        vfx_sign_protected(fx, hdr, n, payload.data, payload.len, &doc);
        assert_vcode(vfx_verify(fx, doc.data, doc.len, NULL, &r),
                    NSMV_ERR_ENV_PROTECTED_NOT_EXACT);
        nsmkit_buf_free(&doc);
        free(hdr);
    }
    /* and the exact header under the same signing path is valid */
    nsmkit_buf doc;
    nsmv_result r;
    vfx_sign_protected(fx, nsmsim_protected_es384, 4, payload.data, payload.len, &doc);
    assert_vcode(vfx_verify(fx, doc.data, doc.len, NULL, &r), NSMV_OK);
    nsmkit_buf_free(&doc);
    nsmkit_buf_free(&payload);
}

static void protected_header_must_be_well_formed(void **state)
{
    const vfx *fx = *state;
    assert_vcode(check_parts(fx, &(env_parts){.protected_hdr = "41ff"}),
                NSMV_ERR_ENV_PROTECTED_MALFORMED);
    assert_vcode(check_parts(fx, &(env_parts){.protected_hdr = "43a10138"}),
                NSMV_ERR_ENV_PROTECTED_MALFORMED);
    assert_vcode(check_parts(fx, &(env_parts){.protected_hdr = "4101"}),
                NSMV_ERR_ENV_PROTECTED_MALFORMED);
    assert_vcode(check_parts(fx, &(env_parts){.protected_hdr = "45a101382200"}),
                NSMV_ERR_ENV_PROTECTED_MALFORMED);
    assert_vcode(check_parts(fx, &(env_parts){.protected_hdr = "44a101d822"}),
                NSMV_ERR_ENV_PROTECTED_MALFORMED); /* a tag inside */
}

static void unprotected_header_must_be_the_empty_map(void **state)
{
    const vfx *fx = *state;
    assert_vcode(check_parts(fx, &(env_parts){.unprotected = "a1044100"}),
                NSMV_ERR_ENV_UNPROTECTED_NOT_EMPTY);
    assert_vcode(check_parts(fx, &(env_parts){.unprotected = "bfff"}),
                NSMV_ERR_ENV_UNPROTECTED_NOT_EMPTY);
    assert_vcode(check_parts(fx, &(env_parts){.unprotected = "40"}),
                NSMV_ERR_ENV_UNPROTECTED_NOT_EMPTY);
    assert_vcode(check_parts(fx, &(env_parts){.unprotected = "f6"}),
                NSMV_ERR_ENV_UNPROTECTED_NOT_EMPTY);
    assert_vcode(check_parts(fx, &(env_parts){.unprotected = "b800"}), NSMV_ERR_ENV_NON_MINIMAL);
}

static void payload_must_be_an_embedded_byte_string(void **state)
{
    const vfx *fx = *state;
    assert_vcode(check_parts(fx, &(env_parts){.payload = "f6"}), NSMV_ERR_ENV_PAYLOAD_NOT_BSTR);
    assert_vcode(check_parts(fx, &(env_parts){.payload = "6161"}), NSMV_ERR_ENV_PAYLOAD_NOT_BSTR);
    assert_vcode(check_parts(fx, &(env_parts){.payload = "a0"}), NSMV_ERR_ENV_PAYLOAD_NOT_BSTR);
    assert_vcode(check_parts(fx, &(env_parts){.payload = "5f4100ff"}),
                NSMV_ERR_ENV_INDEFINITE_STRING);
    /* the real payload behind a four-byte length head */
    nsmkit_buf payload;
    vfx_encode(&fx->payload, &payload);
    char head[16];
    snprintf(head, sizeof(head), "HEAD:5a%08zx", payload.len);
    assert_vcode(check_parts(fx, &(env_parts){.payload = head}), NSMV_ERR_ENV_NON_MINIMAL);
    snprintf(head, sizeof(head), "HEAD:59%04zx", payload.len);
    assert_vcode(check_parts(fx, &(env_parts){.payload = head}), NSMV_OK);
    nsmkit_buf_free(&payload);
    /* an empty payload passes the envelope and fails CBOR decoding */
    assert_vcode(check_parts(fx, &(env_parts){.payload = "40"}), NSMV_ERR_CBOR_EMPTY);
}

static char *sig_item(const char *head, size_t n)
{
    char *hex = malloc(strlen(head) + 2 * n + 1);
    assert_non_null(hex);
    strcpy(hex, head);
    for (size_t i = 0; i < n; i++)
        memcpy(hex + strlen(head) + 2 * i, "5a", 2);
    hex[strlen(head) + 2 * n] = '\0';
    return hex;
}

static void signature_must_be_96_bytes(void **state)
{
    const vfx *fx = *state;
    char *s95 = sig_item("585f", 95), *s97 = sig_item("5861", 97), *s96 = sig_item("5860", 96);
    char *s96_long = sig_item("590060", 96), *s64 = sig_item("5840", 64);
    assert_vcode(check_parts(fx, &(env_parts){.signature = s95}), NSMV_ERR_ENV_SIGNATURE_LENGTH);
    assert_vcode(check_parts(fx, &(env_parts){.signature = s97}), NSMV_ERR_ENV_SIGNATURE_LENGTH);
    assert_vcode(check_parts(fx, &(env_parts){.signature = s64}), NSMV_ERR_ENV_SIGNATURE_LENGTH);
    assert_vcode(check_parts(fx, &(env_parts){.signature = "40"}), NSMV_ERR_ENV_SIGNATURE_LENGTH);
    assert_vcode(check_parts(fx, &(env_parts){.signature = s96_long}), NSMV_ERR_ENV_NON_MINIMAL);
    /* 96 bytes that are not the signature pass the envelope and fail at the signature */
    assert_vcode(check_parts(fx, &(env_parts){.signature = s96}), NSMV_ERR_SIGNATURE_INVALID);
    assert_vcode(check_parts(fx, &(env_parts){.signature = "f6"}),
                NSMV_ERR_ENV_SIGNATURE_NOT_BSTR);
    assert_vcode(check_parts(fx, &(env_parts){.signature = "80"}),
                NSMV_ERR_ENV_SIGNATURE_NOT_BSTR);
    free(s95);
    free(s97);
    free(s96);
    free(s96_long);
    free(s64);
}

static void nothing_may_follow_the_array(void **state)
{
    const vfx *fx = *state;
    assert_vcode(check_parts(fx, &(env_parts){.trailing = "00"}), NSMV_ERR_ENV_TRAILING_BYTES);
    assert_vcode(check_parts(fx, &(env_parts){.trailing = "ff"}), NSMV_ERR_ENV_TRAILING_BYTES);
    /* two documents back to back */
    nsmkit_buf one, two;
    nsmv_result r;
    assemble(fx, &(env_parts){0}, &one);
    assemble(fx, &(env_parts){0}, &two);
    nsmkit_buf_append(&one, two.data, two.len);
    assert_vcode(vfx_verify(fx, one.data, one.len, NULL, &r), NSMV_ERR_ENV_TRAILING_BYTES);
    nsmkit_buf_free(&one);
    nsmkit_buf_free(&two);
}

static void every_truncation_is_reported_as_truncated(void **state)
{
    const vfx *fx = *state;
    nsmkit_buf doc;
    assemble(fx, &(env_parts){.tag = "d2"}, &doc);
    for (size_t len = 1; len < doc.len; len++) {
        nsmv_result r;
        nsmv_code c = nsmv_verify(fx->verifier, doc.data, len, NULL, &r);
        if (c != NSMV_ERR_ENV_TRUNCATED)
            fail_msg("prefix of %zu bytes: %d %s", len, (int)c, nsmv_code_name(c));
    }
    nsmkit_buf_free(&doc);
    /* huge declared lengths are lengths beyond the end, nothing is allocated */
    assert_vcode(check_hex(fx, "8444a1013822a05bffffffffffffffff"), NSMV_ERR_ENV_TRUNCATED);
    assert_vcode(check_hex(fx, "8444a1013822a05a7fffffff00"), NSMV_ERR_ENV_TRUNCATED);
    assert_vcode(check_hex(fx, "845bffffffffffffffff"), NSMV_ERR_ENV_TRUNCATED);
    assert_vcode(check_hex(fx, "845b00000000000000ff"), NSMV_ERR_ENV_NON_MINIMAL);
}

static void reserved_heads_are_malformed(void **state)
{
    const vfx *fx = *state;
    assert_vcode(check_hex(fx, "9c"), NSMV_ERR_ENV_MALFORMED);
    assert_vcode(check_hex(fx, "845c"), NSMV_ERR_ENV_MALFORMED);
    assert_vcode(check_hex(fx, "8444a1013822a05d"), NSMV_ERR_ENV_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_document_passes_every_stage),
        cmocka_unit_test(empty_and_oversized_documents),
        cmocka_unit_test(tag_18_is_accepted_and_no_other),
        cmocka_unit_test(array_of_four_exactly),
        cmocka_unit_test(protected_header_must_be_a_byte_string),
        cmocka_unit_test(alg_must_be_es384),
        cmocka_unit_test(protected_header_must_be_exactly_alg),
        cmocka_unit_test(protected_header_must_be_well_formed),
        cmocka_unit_test(unprotected_header_must_be_the_empty_map),
        cmocka_unit_test(payload_must_be_an_embedded_byte_string),
        cmocka_unit_test(signature_must_be_96_bytes),
        cmocka_unit_test(nothing_may_follow_the_array),
        cmocka_unit_test(every_truncation_is_reported_as_truncated),
        cmocka_unit_test(reserved_heads_are_malformed),
    };
    return cmocka_run_group_tests(tests, vfx_setup, vfx_teardown);
}
