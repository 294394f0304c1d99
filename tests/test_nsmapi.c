/* SPDX-License-Identifier: Apache-2.0 */
/* The official library's request encoding and response decoding (frontends/devnsm/nsmapi.c), byte
 * for byte against NSM-FACTS section 2, and the decoder's refusals. */
#include <stdlib.h>
#include <string.h>

#include "../frontends/devnsm/codec.h"
#include "testutil.h"
#include "nsmkit/buf.h"

static void assert_encoded(nsmkit_buf *b, const char *hex)
{
    size_t n;
    uint8_t *want = test_hex(hex, &n);
    assert_false(b->err);
    assert_int_equal(b->len, n);
    assert_memory_equal(b->data, want, n);
    free(want);
    nsmkit_buf_reset(b);
}

static void requests_match_nsm_facts(void **state)
{
    (void)state;
    nsmkit_buf b;
    nsmkit_buf_init(&b, NSM_REQUEST_MAX_SIZE);
    nsmsim_api_encode_describe_nsm(&b);
    assert_encoded(&b, "6b 44657363726962654e534d");
    nsmsim_api_encode_get_random(&b);
    assert_encoded(&b, "69 47657452616e646f6d");
    nsmsim_api_encode_describe_pcr(&b, 0);
    assert_encoded(&b, "a1 6b 4465736372696265504352 a1 65 696e646578 00");
    const uint8_t data[] = {1, 2, 3};
    nsmsim_api_encode_extend_pcr(&b, 16, data, 3);
    assert_encoded(&b, "a1 69 457874656e64504352 a2 65 696e646578 10 64 64617461 43 010203");
    nsmsim_api_encode_lock_pcr(&b, 16);
    assert_encoded(&b, "a1 67 4c6f636b504352 a1 65 696e646578 10");
    nsmsim_api_encode_lock_pcrs(&b, 32);
    assert_encoded(&b, "a1 68 4c6f636b50435273 a1 65 72616e6765 18 20");
    nsmkit_bytes none = {NULL, 0};
    nsmsim_api_encode_attestation(&b, none, none, none);
    assert_encoded(&b, "a1 6b 4174746573746174696f6e a3 69 757365725f64617461 f6 65 6e6f6e6365 "
                       "f6 6a 7075626c69635f6b6579 f6");
    /* present but empty is an empty byte string, not null */
    nsmkit_bytes empty = {data, 0}, two = {data, 2};
    nsmsim_api_encode_attestation(&b, empty, two, none);
    assert_encoded(&b, "a1 6b 4174746573746174696f6e a3 69 757365725f64617461 40 65 6e6f6e6365 "
                       "42 0102 6a 7075626c69635f6b6579 f6");
    nsmkit_buf_free(&b);
}

static void sizes_are_exact(void **state)
{
    (void)state;
    static uint8_t fill[70000];
    const size_t lens[] = {0, 1, 23, 24, 255, 256, 1024, 4000, 65535, 65536};
    const uint16_t indices[] = {0, 23, 24, 255, 256, 65535};
    nsmkit_buf b;
    nsmkit_buf_init(&b, sizeof(fill) + 1024);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        for (size_t k = 0; k < sizeof(indices) / sizeof(indices[0]); k++) {
            nsmkit_buf_reset(&b);
            nsmsim_api_encode_extend_pcr(&b, indices[k], fill, lens[i]);
            assert_false(b.err);
            assert_int_equal(nsmsim_api_extend_pcr_size(indices[k], lens[i]), b.len);
        }
        nsmkit_bytes o = {fill, lens[i] % 5000}, none = {NULL, 0};
        nsmkit_buf_reset(&b);
        nsmsim_api_encode_attestation(&b, o, none, o);
        assert_int_equal(nsmsim_api_attestation_size(o, none, o), b.len);
    }
    /* a 4 GiB length is sized, never encoded */
    assert_true(nsmsim_api_extend_pcr_size(1, UINT32_MAX) > NSM_REQUEST_MAX_SIZE);
    nsmkit_buf_free(&b);
}

static int decode_hex(const char *hex, nsmsim_api_response *r)
{
    size_t n;
    uint8_t *buf = test_hex(hex, &n);
    int rc = nsmsim_api_response_decode(buf, n, r);
    free(buf);
    return rc;
}

static void responses_decode(void **state)
{
    (void)state;
    nsmsim_api_response r;
    assert_int_equal(decode_hex("67 4c6f636b504352", &r), 0);
    assert_int_equal(r.kind, NSMSIM_RESP_LOCK_PCR);
    nsmsim_api_response_free(&r);
    assert_int_equal(decode_hex("68 4c6f636b50435273", &r), 0);
    assert_int_equal(r.kind, NSMSIM_RESP_LOCK_PCRS);
    nsmsim_api_response_free(&r);

    static const char *const names[] = {
        "Success",          "InvalidArgument", "InvalidIndex",  "InvalidResponse", "ReadOnlyIndex",
        "InvalidOperation", "BufferTooSmall",  "InputTooLarge", "InternalError"};
    for (unsigned i = 0; i < 9; i++) {
        uint8_t buf[64] = {0xa1, 0x65, 'E', 'r', 'r', 'o', 'r'};
        size_t n = strlen(names[i]);
        buf[7] = (uint8_t)(0x60 + n);
        memcpy(buf + 8, names[i], n);
        assert_int_equal(nsmsim_api_response_decode(buf, 8 + n, &r), 0);
        assert_int_equal(r.kind, NSMSIM_RESP_ERROR);
        assert_int_equal(r.error, i);
        nsmsim_api_response_free(&r);
    }
    assert_int_equal(decode_hex("a1 65 4572726f72 63 466f6f", &r), -1); /* Error("Foo") */

    char hex[512];
    snprintf(hex, sizeof(hex), "a1 6b 4465736372696265504352 a2 64 6c6f636b f5 64 64617461 58 30 aa");
    for (int i = 0; i < 46; i++)
        strcat(hex, "00");
    strcat(hex, "bb");
    assert_int_equal(decode_hex(hex, &r), 0);
    assert_int_equal(r.kind, NSMSIM_RESP_DESCRIBE_PCR);
    assert_true(r.lock);
    assert_int_equal(r.bytes_len, 48);
    assert_int_equal(r.bytes[0], 0xaa);
    assert_int_equal(r.bytes[47], 0xbb);
    nsmsim_api_response_free(&r);
    /* fields in another order, and an unknown one, are fine (serde) */
    assert_int_equal(decode_hex("a1 6b 4465736372696265504352 a3 64 64617461 41 07 63 666f6f 00 "
                                "64 6c6f636b f4", &r), 0);
    assert_false(r.lock);
    assert_int_equal(r.bytes_len, 1);
    nsmsim_api_response_free(&r);
    /* an indefinite-length inner map is CBOR too */
    assert_int_equal(decode_hex("a1 69 457874656e64504352 bf 64 64617461 42 0102 ff", &r), 0);
    assert_int_equal(r.kind, NSMSIM_RESP_EXTEND_PCR);
    assert_int_equal(r.bytes_len, 2);
    nsmsim_api_response_free(&r);
    assert_int_equal(decode_hex("a1 6b 4174746573746174696f6e a1 68 646f63756d656e74 43 840102", &r), 0);
    assert_int_equal(r.kind, NSMSIM_RESP_ATTESTATION);
    assert_int_equal(r.bytes_len, 3);
    nsmsim_api_response_free(&r);
    assert_int_equal(decode_hex("a1 69 47657452616e646f6d a1 66 72616e646f6d 42 ffee", &r), 0);
    assert_int_equal(r.kind, NSMSIM_RESP_GET_RANDOM);
    nsmsim_api_response_free(&r);
}

static const char describe_nsm_head[] = "a1 6b 44657363726962654e534d";

static void describe_nsm(void **state)
{
    (void)state;
    nsmsim_api_response r;
    char hex[2048];
    /* keys out of order, locked_pcrs unsorted with a duplicate: a BTreeSet */
    snprintf(hex, sizeof(hex),
             "%s a7 66 646967657374 66 534841333834 68 6d61785f70637273 18 20 "
             "6d 76657273696f6e5f6d616a6f72 01 6d 76657273696f6e5f6d696e6f72 02 "
             "6d 76657273696f6e5f7061746368 03 69 6d6f64756c655f6964 63 616263 "
             "6b 6c6f636b65645f70637273 84 03 01 03 02",
             describe_nsm_head);
    assert_int_equal(decode_hex(hex, &r), 0);
    assert_int_equal(r.kind, NSMSIM_RESP_DESCRIBE_NSM);
    assert_int_equal(r.version_major, 1);
    assert_int_equal(r.version_minor, 2);
    assert_int_equal(r.version_patch, 3);
    assert_int_equal(r.max_pcrs, 32);
    assert_int_equal(r.digest, 1);
    assert_int_equal(r.module_id_len, 3);
    assert_memory_equal(r.module_id, "abc", 3);
    assert_int_equal(r.locked_pcrs_len, 3);
    assert_int_equal(r.locked_pcrs[0], 1);
    assert_int_equal(r.locked_pcrs[2], 3);
    assert_false(r.locked_pcrs_overflow);
    nsmsim_api_response_free(&r);

    /* 65 distinct locked indices do not fit the C struct: flagged */
    char arr[1024] = "98 41";
    for (int i = 0; i < 65; i++)
        snprintf(arr + strlen(arr), sizeof(arr) - strlen(arr), " 19 %04x", 1000 + i);
    snprintf(hex, sizeof(hex),
             "%s a7 6d 76657273696f6e5f6d616a6f72 01 6d 76657273696f6e5f6d696e6f72 00 "
             "6d 76657273696f6e5f7061746368 00 69 6d6f64756c655f6964 60 68 6d61785f70637273 "
             "18 20 6b 6c6f636b65645f70637273 %s 66 646967657374 66 534841353132",
             describe_nsm_head, arr);
    assert_int_equal(decode_hex(hex, &r), 0);
    assert_true(r.locked_pcrs_overflow);
    assert_int_equal(r.locked_pcrs_len, 64);
    assert_int_equal(r.digest, 2);
    nsmsim_api_response_free(&r);
}

static void refusals(void **state)
{
    (void)state;
    nsmsim_api_response r;
    const char *bad[] = {
        "",                                     /* nothing */
        "67 4c6f636b504352 00",                 /* trailing byte */
        "67 4c6f636b5043",                      /* truncated */
        "6b 4465736372696265504352",            /* a struct variant as a bare string */
        "63 466f6f",                            /* unknown unit variant */
        "a1 63 466f6f a0",                      /* unknown variant */
        "a2 67 4c6f636b504352 f6 68 4c6f636b50435273 f6", /* two variants */
        "a1 69 457874656e64504352 a0",          /* missing field */
        "a1 69 457874656e64504352 a2 64 64617461 41 00 64 64617461 41 01", /* duplicate */
        "a1 69 457874656e64504352 a1 64 64617461 61 00", /* text where bytes belong */
        "a1 69 457874656e64504352 a1 64 64617461 5f 41 00 ff", /* indefinite bytes */
        "a1 69 457874656e64504352 a1 01 41 00", /* a non-text key */
        "a1 6b 4465736372696265504352 a2 64 6c6f636b 01 64 64617461 41 00", /* lock not bool */
        "a1 6b 4465736372696265504352 a2 64 6c6f636b f6 64 64617461 41 00", /* lock null */
        "a1 69 457874656e64504352 a1 64 64617461 c2 41 00", /* a tag */
        "a1 65 4572726f72 a0",                  /* Error without a name */
        "ff",                                   /* a stray break */
        "a1 69 457874656e64504352 a1 64 64617461 5a ffffffff", /* a huge declared length */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (decode_hex(bad[i], &r) != -1)
            fail_msg("accepted bad response %zu: %s", i, bad[i]);
        assert_null(r.item);
    }
    /* version above u16, negative max_pcrs, unknown digest */
    char hex[2048];
    const char *variants[][3] = {
        {"1a 00010000", "18 20", "534841333834"},
        {"01", "20", "534841333834"},
        {"01", "18 20", "4d4435203131"},
    };
    for (int i = 0; i < 3; i++) {
        snprintf(hex, sizeof(hex),
                 "%s a7 6d 76657273696f6e5f6d616a6f72 %s 6d 76657273696f6e5f6d696e6f72 00 "
                 "6d 76657273696f6e5f7061746368 00 69 6d6f64756c655f6964 60 68 6d61785f70637273 "
                 "%s 6b 6c6f636b65645f70637273 80 66 646967657374 66 %s",
                 describe_nsm_head, variants[i][0], variants[i][1], variants[i][2]);
        assert_int_equal(decode_hex(hex, &r), -1);
    }
}

/* Debian's libcbor keeps its assertions: an accessor on the wrong kind of item aborts. Every
 * truncation and many byte mutations of valid responses must decode or be refused, never
 * abort (half floats where a bool stands, tags, strings where maps stand, ...). */
static void mutations_never_abort(void **state)
{
    (void)state;
    const char *valid[] = {
        "67 4c6f636b504352",
        "a1 65 4572726f72 6c 496e76616c6964496e646578",
        "a1 6b 4465736372696265504352 a2 64 6c6f636b f5 64 64617461 43 010203",
        "a1 69 457874656e64504352 a1 64 64617461 42 0102",
        "a1 6b 44657363726962654e534d a7 6d 76657273696f6e5f6d616a6f72 01 6d "
        "76657273696f6e5f6d696e6f72 00 6d 76657273696f6e5f7061746368 00 69 6d6f64756c655f6964 "
        "63 616263 68 6d61785f70637273 18 20 6b 6c6f636b65645f70637273 82 00 01 66 646967657374 "
        "66 534841333834",
    };
    static const uint8_t replacements[] = {0xf9, 0xfa, 0xfb, 0xf4, 0xf5, 0xf6, 0xf7, 0xc0, 0xd8,
                                           0x5f, 0x7f, 0x9f, 0xbf, 0xff, 0x00, 0x20, 0x1b, 0x60,
                                           0x40, 0x80, 0xa0, 0x18, 0x19};
    unsigned accepted = 0, refused = 0;
    for (size_t v = 0; v < sizeof(valid) / sizeof(valid[0]); v++) {
        size_t n;
        uint8_t *orig = test_hex(valid[v], &n);
        uint8_t *buf = malloc(n + 8);
        nsmsim_api_response r;
        for (size_t cut = 0; cut <= n; cut++) {
            memcpy(buf, orig, cut);
            if (nsmsim_api_response_decode(buf, cut, &r) == 0) {
                accepted++;
                nsmsim_api_response_free(&r);
            } else {
                refused++;
            }
        }
        for (size_t pos = 0; pos < n; pos++) {
            for (size_t k = 0; k < sizeof(replacements); k++) {
                memcpy(buf, orig, n);
                buf[pos] = replacements[k];
                /* a half float needs two more bytes, a 64-bit head eight: give them */
                memcpy(buf + n, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
                for (size_t extra = 0; extra <= 8; extra += 2) {
                    if (nsmsim_api_response_decode(buf, n + extra, &r) == 0) {
                        accepted++;
                        nsmsim_api_response_free(&r);
                    } else {
                        refused++;
                    }
                }
            }
        }
        free(buf);
        free(orig);
    }
    assert_true(accepted > 5);
    assert_true(refused > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(requests_match_nsm_facts),
        cmocka_unit_test(sizes_are_exact),
        cmocka_unit_test(responses_decode),
        cmocka_unit_test(describe_nsm),
        cmocka_unit_test(refusals),
        cmocka_unit_test(mutations_never_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
