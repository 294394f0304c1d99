/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cbor and payload stages (verifier/payload.c): every field rule of both profiles on
 * both sides of its boundary, and every CBOR decoding code. Each document is built with
 * the simulator's builder (or edited from its output) and re-signed, so each one gets past
 * the envelope and signature and fails, if it fails, on the rule under test.
 */
#include <stdlib.h>
#include <string.h>

#include "verify_fixture.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/cbor.h"

static uint8_t filler[2048];

static nsmv_code check_profile(const vfx *fx, const nsmsim_payload *p, nsmv_profile profile)
{
    nsmv_options o;
    vfx_options(&o);
    o.profile = profile;
    return vfx_check(fx, p, &o);
}

static nsmsim_optional_bytes bytes_of(size_t n)
{
    return (nsmsim_optional_bytes){filler, n, true};
}

/* Edits the default payload with one surgery and checks it. */
static nsmv_code check_value(const vfx *fx, const char *key, const char *hex)
{
    nsmkit_buf m;
    vfx_encode(&fx->payload, &m);
    vfx_set_value_hex(&m, key, hex);
    nsmv_code c = vfx_check_bytes(fx, &m, NULL);
    nsmkit_buf_free(&m);
    return c;
}

static void put_text_key(nsmkit_buf *b, const char *key)
{
    nsmkit_buf_init(b, 256);
    nsmkit_cbor_put_text(b, key);
}

/* ---- what real NSM hardware emits ---------------------------------------------------------- */

static void both_map_encodings_are_accepted(void **state)
{
    const vfx *fx = *state;
    nsmsim_payload p = fx->payload;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_OK);
    p.map = NSMSIM_MAP_INDEFINITE;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_OK);
    assert_vcode(check_profile(fx, &p, NSMV_PROFILE_STRICT), NSMV_ERR_PAYLOAD_NULL_FIELD);
}

static void keys_in_any_order_are_accepted(void **state)
{
    const vfx *fx = *state;
    static const char *const keys[] = {"module_id", "digest", "timestamp", "pcrs", "certificate",
                                       "cabundle", "public_key", "user_data", "nonce"};
    nsmkit_buf m, reversed;
    vfx_encode(&fx->payload, &m);
    nsmkit_buf_init(&reversed, 2 * NSMV_DOC_MAX);
    nsmkit_cbor_put_head(&reversed, NSMKIT_CBOR_MAP, 9);
    for (size_t i = 9; i-- > 0;) {
        nsmkit_buf entry;
        vfx_entry(&m, keys[i], &entry);
        nsmkit_buf_append(&reversed, entry.data, entry.len);
        nsmkit_buf_free(&entry);
    }
    assert_false(memcmp(m.data, reversed.data, 16) == 0);
    assert_vcode(vfx_check_bytes(fx, &reversed, NULL), NSMV_OK);
    /* module_id moved to the end of an indefinite map */
    nsmsim_payload p = fx->payload;
    p.map = NSMSIM_MAP_INDEFINITE;
    nsmkit_buf_free(&m);
    vfx_encode(&p, &m);
    nsmkit_buf entry;
    vfx_entry(&m, "module_id", &entry);
    vfx_remove(&m, "module_id");
    vfx_append(&m, entry.data, entry.len, NULL, 0); /* before the break */
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_OK);
    nsmkit_buf_free(&entry);
    nsmkit_buf_free(&m);
    nsmkit_buf_free(&reversed);
}

static void optional_fields_absent_null_or_empty(void **state)
{
    const vfx *fx = *state;
    static const char *const optional[] = {"public_key", "user_data", "nonce"};
    /* absent: accepted by both profiles */
    nsmkit_buf m;
    vfx_encode(&fx->payload, &m);
    for (size_t i = 0; i < 3; i++)
        vfx_remove(&m, optional[i]);
    nsmv_options strict;
    vfx_options(&strict);
    strict.profile = NSMV_PROFILE_STRICT;
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_OK);
    assert_vcode(vfx_check_bytes(fx, &m, &strict), NSMV_OK);
    nsmkit_buf_free(&m);

    /* null: aws accepts, strict refuses each */
    nsmsim_payload p = fx->payload;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_OK);
    for (size_t i = 0; i < 3; i++) {
        p.public_key = p.user_data = p.nonce = bytes_of(1);
        nsmsim_optional_bytes *field = i == 0 ? &p.public_key : i == 1 ? &p.user_data : &p.nonce;
        field->present = false;
        assert_vcode(check_profile(fx, &p, NSMV_PROFILE_AWS), NSMV_OK);
        assert_vcode(check_profile(fx, &p, NSMV_PROFILE_STRICT), NSMV_ERR_PAYLOAD_NULL_FIELD);
    }

    /* a 0-byte public_key: real output, aws accepts, strict wants 1..1024 */
    p = fx->payload;
    p.public_key = bytes_of(0);
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_OK);
    p.user_data = p.nonce = bytes_of(0);
    assert_vcode(check_profile(fx, &p, NSMV_PROFILE_STRICT), NSMV_ERR_PUBLIC_KEY_LENGTH);
    p.public_key = bytes_of(1);
    assert_vcode(check_profile(fx, &p, NSMV_PROFILE_STRICT), NSMV_OK);
}

static void optional_field_lengths(void **state)
{
    const vfx *fx = *state;
    static const struct {
        size_t field; /* 0 public_key, 1 user_data, 2 nonce */
        nsmv_profile profile;
        size_t ok, too_long;
        nsmv_code code;
    } cases[] = {
        {0, NSMV_PROFILE_AWS, 1024, 1025, NSMV_ERR_PUBLIC_KEY_LENGTH},
        {1, NSMV_PROFILE_AWS, 1024, 1025, NSMV_ERR_USER_DATA_LENGTH},
        {2, NSMV_PROFILE_AWS, 1024, 1025, NSMV_ERR_NONCE_LENGTH},
        {0, NSMV_PROFILE_STRICT, 1024, 1025, NSMV_ERR_PUBLIC_KEY_LENGTH},
        {1, NSMV_PROFILE_STRICT, 512, 513, NSMV_ERR_USER_DATA_LENGTH},
        {2, NSMV_PROFILE_STRICT, 512, 513, NSMV_ERR_NONCE_LENGTH},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nsmsim_payload p = fx->payload;
        p.public_key = p.user_data = p.nonce = bytes_of(1);
        nsmsim_optional_bytes *field = cases[i].field == 0   ? &p.public_key
                                       : cases[i].field == 1 ? &p.user_data
                                                             : &p.nonce;
        print_message("  field %zu, %s profile: %zu / %zu bytes\n", cases[i].field,
                      nsmv_profile_name(cases[i].profile), cases[i].ok, cases[i].too_long);
        *field = bytes_of(cases[i].ok);
        assert_vcode(check_profile(fx, &p, cases[i].profile), NSMV_OK);
        *field = bytes_of(cases[i].too_long);
        assert_vcode(check_profile(fx, &p, cases[i].profile), cases[i].code);
    }
}

static void optional_fields_must_be_bytes_or_null(void **state)
{
    const vfx *fx = *state;
    assert_vcode(check_value(fx, "public_key", "6161"), NSMV_ERR_PUBLIC_KEY_TYPE);
    assert_vcode(check_value(fx, "public_key", "f7"), NSMV_ERR_PUBLIC_KEY_TYPE); /* undefined */
    assert_vcode(check_value(fx, "user_data", "00"), NSMV_ERR_USER_DATA_TYPE);
    assert_vcode(check_value(fx, "user_data", "f4"), NSMV_ERR_USER_DATA_TYPE);
    assert_vcode(check_value(fx, "nonce", "80"), NSMV_ERR_NONCE_TYPE);
    assert_vcode(check_value(fx, "nonce", "a0"), NSMV_ERR_NONCE_TYPE);
    /* floats where null may stand: libcbor's own null test would abort on these */
    assert_vcode(check_value(fx, "nonce", "f93c00"), NSMV_ERR_NONCE_TYPE);
    assert_vcode(check_value(fx, "public_key", "fa3f800000"), NSMV_ERR_PUBLIC_KEY_TYPE);
    assert_vcode(check_value(fx, "user_data", "fb3ff0000000000000"), NSMV_ERR_USER_DATA_TYPE);
}

/* ---- PCRs ------------------------------------------------------------------------------------ */

static void pcr_counts_from_1_to_32(void **state)
{
    const vfx *fx = *state;
    nsmsim_pcr_entry pcrs[33];
    for (unsigned i = 0; i < 33; i++)
        pcrs[i] = (nsmsim_pcr_entry){i, filler, NSMV_PCR_LEN};
    nsmsim_payload p = fx->payload;
    p.pcrs = pcrs;
    p.pcr_count = 1;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_OK);
    p.pcr_count = 32;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_OK);
    p.pcr_count = 0;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_PCRS_EMPTY);
    p.pcr_count = 33;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_PCRS_TOO_MANY);
}

static void pcr_indices_0_to_31_once_each(void **state)
{
    const vfx *fx = *state;
    nsmsim_pcr_entry pcrs[2] = {{0, filler, NSMV_PCR_LEN}, {31, filler, NSMV_PCR_LEN}};
    nsmsim_payload p = fx->payload;
    p.pcrs = pcrs;
    p.pcr_count = 2;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_OK);
    pcrs[1].index = 32;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_PCR_INDEX_RANGE);
    pcrs[1].index = 0;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_PCR_DUPLICATE_INDEX);
    assert_vcode(check_value(fx, "pcrs", "a11bffffffffffffffff5830" /* index 2^64-1 */
                                        "000000000000000000000000000000000000000000000000"
                                        "000000000000000000000000000000000000000000000000"),
                NSMV_ERR_PCR_INDEX_RANGE);
    assert_vcode(check_value(fx, "pcrs", "a1205830" /* index -1 */
                                        "000000000000000000000000000000000000000000000000"
                                        "000000000000000000000000000000000000000000000000"),
                NSMV_ERR_PCR_INDEX_TYPE);
    assert_vcode(check_value(fx, "pcrs", "a161305830" /* index "0" */
                                        "000000000000000000000000000000000000000000000000"
                                        "000000000000000000000000000000000000000000000000"),
                NSMV_ERR_PCR_INDEX_TYPE);
}

static void pcr_values_are_48_byte_strings(void **state)
{
    const vfx *fx = *state;
    static const size_t wrong[] = {0, 32, 47, 49, 64};
    nsmsim_pcr_entry pcrs[1] = {{0, filler, NSMV_PCR_LEN}};
    nsmsim_payload p = fx->payload;
    p.pcrs = pcrs;
    p.pcr_count = 1;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_OK);
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        pcrs[0].len = wrong[i];
        assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_PCR_VALUE_LENGTH);
    }
    assert_vcode(check_value(fx, "pcrs", "a1006161"), NSMV_ERR_PCR_VALUE_TYPE);
    assert_vcode(check_value(fx, "pcrs", "a100f6"), NSMV_ERR_PCR_VALUE_TYPE);
    assert_vcode(check_value(fx, "pcrs", "80"), NSMV_ERR_PCRS_TYPE);
    assert_vcode(check_value(fx, "pcrs", "f6"), NSMV_ERR_PCRS_TYPE);
}

static void nitrotpm_documents_are_their_own_kind(void **state)
{
    const vfx *fx = *state;
    nsmsim_pcr_entry pcrs[24];
    for (unsigned i = 0; i < 24; i++)
        pcrs[i] = (nsmsim_pcr_entry){i, filler, NSMV_PCR_LEN};
    nsmsim_payload p = fx->payload;
    p.pcrs = pcrs;
    p.pcr_count = 24;
    p.map = NSMSIM_MAP_INDEFINITE;
    nsmkit_buf m, key, doc;
    vfx_encode(&p, &m);
    put_text_key(&key, "nitrotpm_pcrs");
    vfx_set_key(&m, "pcrs", key.data, key.len);
    vfx_sign(fx, m.data, m.len, &doc);
    nsmv_result r;
    assert_vcode(vfx_verify(fx, doc.data, doc.len, NULL, &r), NSMV_OK);
    assert_int_equal(r.kind, NSMV_KIND_NITROTPM);
    assert_int_equal(r.pcr_count, 24);
    nsmkit_buf_free(&doc);

    /* both kinds at once, or neither */
    nsmkit_buf pcrs_entry;
    vfx_entry(&m, "nitrotpm_pcrs", &pcrs_entry);
    nsmkit_buf both;
    vfx_encode(&p, &both);
    vfx_append(&both, pcrs_entry.data, pcrs_entry.len, NULL, 0);
    assert_vcode(vfx_check_bytes(fx, &both, NULL), NSMV_ERR_PAYLOAD_TWO_PCR_KINDS);
    vfx_remove(&m, "nitrotpm_pcrs");
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_PAYLOAD_MISSING_FIELD);
    nsmkit_buf_free(&both);
    nsmkit_buf_free(&pcrs_entry);
    nsmkit_buf_free(&key);
    nsmkit_buf_free(&m);
}

/* ---- the other fields ------------------------------------------------------------------------- */

static void timestamp_is_a_positive_integer(void **state)
{
    const vfx *fx = *state;
    nsmsim_payload p = fx->payload;
    p.timestamp_ms = 0;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_TIMESTAMP_ZERO);
    /* any positive integer is a timestamp; one outside the leaf's validity is refused by
     * the chain stage (tests/test_verify_chain.c, documents_are_dated_inside_their_leaf) */
    p.timestamp_ms = 1;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_DOC_TIME_OUTSIDE_LEAF);
    p.timestamp_ms = UINT64_MAX;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_DOC_TIME_OUTSIDE_LEAF);
    /* as the verification time (--at-doc-time), year 584 million is past every notAfter */
    nsmv_options at_doc;
    vfx_options(&at_doc);
    at_doc.time_mode = NSMV_TIME_DOCUMENT;
    assert_vcode(vfx_check(fx, &p, &at_doc), NSMV_ERR_CERT_EXPIRED);
    p.timestamp_ms = (NSMV_TIME_MAX_S + 1) * 1000; /* the first second past year 9999 */
    assert_vcode(vfx_check(fx, &p, &at_doc), NSMV_ERR_CERT_EXPIRED);
    p.timestamp_ms = NSMV_TIME_MAX_S * 1000; /* the last one OpenSSL judges itself */
    assert_vcode(vfx_check(fx, &p, &at_doc), NSMV_ERR_CERT_EXPIRED);
    assert_vcode(check_value(fx, "timestamp", "3a00ffffff"), NSMV_ERR_TIMESTAMP_TYPE);
    assert_vcode(check_value(fx, "timestamp", "6131"), NSMV_ERR_TIMESTAMP_TYPE);
    assert_vcode(check_value(fx, "timestamp", "fb41d9e3bd0e800000"), NSMV_ERR_TIMESTAMP_TYPE);
    assert_vcode(check_value(fx, "timestamp", "f6"), NSMV_ERR_TIMESTAMP_TYPE);
    /* non-shortest integers are still integers (VFX_DOC_MS in eight bytes, inside the
     * leaf's validity) */
    assert_vcode(check_value(fx, "timestamp", "1b0000019b76e3e348"), NSMV_OK);
}

static void digest_is_sha384(void **state)
{
    const vfx *fx = *state;
    nsmsim_payload p = fx->payload;
    p.digest = "SHA256";
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_DIGEST_UNSUPPORTED);
    p.digest = "sha384";
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_DIGEST_UNSUPPORTED);
    p.digest = "";
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_DIGEST_UNSUPPORTED);
    assert_vcode(check_value(fx, "digest", "46534841333834"), NSMV_ERR_DIGEST_TYPE);
    assert_vcode(check_value(fx, "digest", "1901 80"), NSMV_ERR_DIGEST_TYPE);
}

static void module_id_is_text_of_1_to_256_bytes(void **state)
{
    const vfx *fx = *state;
    char id[300];
    nsmsim_payload p = fx->payload;
    memset(id, 'i', sizeof(id));
    id[256] = '\0';
    p.module_id = id;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_OK);
    id[256] = 'i';
    id[257] = '\0';
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_MODULE_ID_LENGTH);
    p.module_id = "";
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_MODULE_ID_LENGTH);
    p.module_id = "i";
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_OK);
    assert_vcode(check_value(fx, "module_id", "4169"), NSMV_ERR_MODULE_ID_TYPE);
    assert_vcode(check_value(fx, "module_id", "f6"), NSMV_ERR_MODULE_ID_TYPE);
}

static void certificate_is_1_to_1024_bytes(void **state)
{
    const vfx *fx = *state;
    nsmsim_payload p = fx->payload;
    p.certificate = filler;
    p.certificate_len = 0;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_CERTIFICATE_LENGTH);
    p.certificate_len = 1025;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_CERTIFICATE_LENGTH);
    p.certificate_len = 1024; /* passes the payload stage, is no certificate */
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_CERT_PARSE);
    p.certificate_len = 1;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_CERT_PARSE);
    assert_vcode(check_value(fx, "certificate", "6161"), NSMV_ERR_CERTIFICATE_TYPE);
    assert_vcode(check_value(fx, "certificate", "f6"), NSMV_ERR_CERTIFICATE_TYPE);
}

static void cabundle_is_1_to_8_certificates(void **state)
{
    const vfx *fx = *state;
    const uint8_t *entries[9];
    size_t lens[9];
    nsmsim_payload p = fx->payload;
    p.cabundle = entries;
    p.cabundle_lens = lens;
    for (size_t i = 0; i < 9; i++) {
        entries[i] = i < 4 ? fx->bundle[i] : fx->bundle[3];
        lens[i] = i < 4 ? fx->bundle_lens[i] : fx->bundle_lens[3];
    }
    p.cabundle_count = 0;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_CABUNDLE_EMPTY);
    p.cabundle_count = 9;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_CABUNDLE_TOO_LONG);
    p.cabundle_count = 8; /* passes the payload stage; the repeated tier breaks the chain */
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_CABUNDLE_BROKEN);
    p.cabundle_count = 4;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_OK);

    entries[2] = filler;
    lens[2] = 0;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_CABUNDLE_ENTRY_LENGTH);
    lens[2] = 1025;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_CABUNDLE_ENTRY_LENGTH);
    lens[2] = 1024;
    assert_vcode(vfx_check(fx, &p, NULL), NSMV_ERR_CABUNDLE_CERT_PARSE);
    assert_vcode(check_value(fx, "cabundle", "816161"), NSMV_ERR_CABUNDLE_ENTRY_TYPE);
    assert_vcode(check_value(fx, "cabundle", "81f6"), NSMV_ERR_CABUNDLE_ENTRY_TYPE);
    assert_vcode(check_value(fx, "cabundle", "a0"), NSMV_ERR_CABUNDLE_TYPE);
    assert_vcode(check_value(fx, "cabundle", "4100"), NSMV_ERR_CABUNDLE_TYPE);
}

/* ---- keys -------------------------------------------------------------------------------------- */

static void unknown_duplicate_and_non_text_keys(void **state)
{
    const vfx *fx = *state;
    nsmkit_buf m, key;

    vfx_encode(&fx->payload, &m);
    put_text_key(&key, "extra");
    vfx_append(&m, key.data, key.len, (const uint8_t *)"\xf6", 1);
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_PAYLOAD_UNKNOWN_KEY);
    nsmkit_buf_free(&m);
    nsmkit_buf_free(&key);

    /* a key that differs from a real one by case only is unknown */
    vfx_encode(&fx->payload, &m);
    put_text_key(&key, "Nonce");
    vfx_set_key(&m, "nonce", key.data, key.len);
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_PAYLOAD_UNKNOWN_KEY);
    nsmkit_buf_free(&m);
    nsmkit_buf_free(&key);

    /* duplicate keys: same value or not, definite or indefinite map */
    for (int indefinite = 0; indefinite <= 1; indefinite++) {
        nsmsim_payload p = fx->payload;
        p.map = indefinite ? NSMSIM_MAP_INDEFINITE : NSMSIM_MAP_DEFINITE;
        nsmkit_buf entry;
        vfx_encode(&p, &m);
        vfx_entry(&m, "nonce", &entry);
        vfx_append(&m, entry.data, entry.len, NULL, 0);
        assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_PAYLOAD_DUPLICATE_KEY);
        nsmkit_buf_free(&m);
        vfx_encode(&p, &m);
        put_text_key(&key, "timestamp");
        vfx_append(&m, key.data, key.len, (const uint8_t *)"\x01", 1);
        assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_PAYLOAD_DUPLICATE_KEY);
        nsmkit_buf_free(&m);
        nsmkit_buf_free(&key);
        nsmkit_buf_free(&entry);
    }

    vfx_encode(&fx->payload, &m);
    vfx_set_key(&m, "nonce", (const uint8_t *)"\x01", 1);
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_PAYLOAD_KEY_NOT_TEXT);
    nsmkit_buf_free(&m);
    vfx_encode(&fx->payload, &m);
    vfx_set_key(&m, "nonce", (const uint8_t *)"\x45nonce", 6); /* a byte string */
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_PAYLOAD_KEY_NOT_TEXT);
    nsmkit_buf_free(&m);
}

static void required_fields_must_be_present(void **state)
{
    const vfx *fx = *state;
    static const char *const required[] = {"module_id", "digest", "timestamp", "pcrs",
                                           "certificate", "cabundle"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        nsmkit_buf m;
        vfx_encode(&fx->payload, &m);
        vfx_remove(&m, required[i]);
        print_message("  without %s\n", required[i]);
        assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_PAYLOAD_MISSING_FIELD);
        nsmkit_buf_free(&m);
    }
    nsmkit_buf m;
    nsmkit_buf_init(&m, 16);
    nsmkit_buf_u8(&m, 0xa0);
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_PAYLOAD_MISSING_FIELD);
    nsmkit_buf_free(&m);
}

static void payload_must_be_a_map(void **state)
{
    const vfx *fx = *state;
    static const char *const others[] = {"80", "4100", "00", "f6", "6474657874"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        nsmkit_buf m;
        size_t n;
        uint8_t *bytes = test_hex(others[i], &n);
        nsmkit_buf_init(&m, 64);
        nsmkit_buf_append(&m, bytes, n);
        assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_PAYLOAD_NOT_MAP);
        nsmkit_buf_free(&m);
        free(bytes);
    }
}

static void field_order_does_not_change_the_code(void **state)
{
    const vfx *fx = *state;
    /* two faults: the code is the first field in the fixed order, whatever the key order */
    nsmsim_payload p = fx->payload;
    p.timestamp_ms = 0;
    p.nonce = bytes_of(1025);
    nsmkit_buf m, entry;
    vfx_encode(&p, &m);
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_TIMESTAMP_ZERO);
    vfx_entry(&m, "timestamp", &entry);
    vfx_remove(&m, "timestamp");
    vfx_append(&m, entry.data, entry.len, NULL, 0);
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_TIMESTAMP_ZERO);
    nsmkit_buf_free(&entry);
    nsmkit_buf_free(&m);
}

static void report_all_lists_every_payload_failure(void **state)
{
    const vfx *fx = *state;
    nsmsim_payload p = fx->payload;
    p.timestamp_ms = 0;
    p.nonce = bytes_of(1025);
    p.user_data = bytes_of(2000);
    nsmkit_buf m, doc, key;
    vfx_encode(&p, &m);
    put_text_key(&key, "surprise");
    vfx_append(&m, key.data, key.len, (const uint8_t *)"\x00", 1);
    vfx_sign(fx, m.data, m.len, &doc);
    nsmv_options o;
    nsmv_result r;
    vfx_options(&o);
    o.report_all = true;
    assert_vcode(vfx_verify(fx, doc.data, doc.len, &o, &r), NSMV_ERR_PAYLOAD_UNKNOWN_KEY);
    assert_int_equal(r.failure_count, 4);
    assert_code(nsmv_codes, r.failures[1].code, NSMV_ERR_TIMESTAMP_ZERO);
    assert_code(nsmv_codes, r.failures[2].code, NSMV_ERR_USER_DATA_LENGTH);
    assert_code(nsmv_codes, r.failures[3].code, NSMV_ERR_NONCE_LENGTH);
    /* the certificate fields were sound: the chain and signature still ran and passed */
    assert_int_equal(r.stages[NSMV_STAGE_CHAIN], NSMV_OUTCOME_PASSED);
    assert_int_equal(r.stages[NSMV_STAGE_SIGNATURE], NSMV_OUTCOME_PASSED);
    /* without report_all, one failure */
    assert_vcode(vfx_verify(fx, doc.data, doc.len, NULL, &r), NSMV_ERR_PAYLOAD_UNKNOWN_KEY);
    assert_int_equal(r.failure_count, 1);
    assert_int_equal(r.stages[NSMV_STAGE_CHAIN], NSMV_OUTCOME_NOT_RUN);
    nsmkit_buf_free(&key);
    nsmkit_buf_free(&doc);
    nsmkit_buf_free(&m);
}

/* ---- the cbor stage ------------------------------------------------------------------------------ */

static nsmv_code check_payload_hex(const vfx *fx, const char *hex)
{
    nsmkit_buf m;
    size_t n;
    uint8_t *bytes = test_hex(hex, &n);
    nsmkit_buf_init(&m, 4096);
    nsmkit_buf_append(&m, bytes, n);
    nsmv_code c = vfx_check_bytes(fx, &m, NULL);
    nsmkit_buf_free(&m);
    free(bytes);
    return c;
}

static void cbor_decoding_codes(void **state)
{
    const vfx *fx = *state;
    nsmkit_buf m;

    assert_vcode(check_payload_hex(fx, ""), NSMV_ERR_CBOR_EMPTY);

    vfx_encode(&fx->payload, &m);
    m.len--; /* the last nonce byte: the map ends early */
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_CBOR_TRUNCATED);
    nsmkit_buf_u8(&m, 0xf6);
    nsmkit_buf_u8(&m, 0x00);
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_CBOR_TRAILING_BYTES);
    nsmkit_buf_free(&m);

    assert_vcode(check_value(fx, "nonce", "5f4100ff"), NSMV_ERR_CBOR_INDEFINITE_STRING);
    assert_vcode(check_value(fx, "module_id", "7f6169ff"), NSMV_ERR_CBOR_INDEFINITE_STRING);
    assert_vcode(check_value(fx, "nonce", "c24101"), NSMV_ERR_CBOR_TAG);
    assert_vcode(check_value(fx, "timestamp", "c11a5f000000"), NSMV_ERR_CBOR_TAG);
    assert_vcode(check_value(fx, "nonce", "1c"), NSMV_ERR_CBOR_MALFORMED);   /* reserved */
    assert_vcode(check_value(fx, "nonce", "ff"), NSMV_ERR_CBOR_MALFORMED);   /* stray break */
    assert_vcode(check_value(fx, "nonce", "f810"), NSMV_ERR_CBOR_MALFORMED); /* bad simple */
    assert_vcode(check_value(fx, "nonce", "1f"), NSMV_ERR_CBOR_MALFORMED);   /* indefinite int */
    /* well-formed, but simple values libcbor 0.8 cannot decode */
    assert_vcode(check_value(fx, "nonce", "f820"), NSMV_ERR_CBOR_UNSUPPORTED);
    assert_vcode(check_value(fx, "nonce", "f0"), NSMV_ERR_CBOR_UNSUPPORTED);
    assert_vcode(check_value(fx, "nonce", "9bffffffffffffffff"), NSMV_ERR_CBOR_LENGTH_TOO_LARGE);
    assert_vcode(check_value(fx, "nonce", "5bffffffffffffffff"), NSMV_ERR_CBOR_LENGTH_TOO_LARGE);
    assert_vcode(check_value(fx, "nonce", "ba7fffffff"), NSMV_ERR_CBOR_LENGTH_TOO_LARGE);
    assert_vcode(check_value(fx, "nonce", "81818100"), NSMV_ERR_CBOR_TOO_DEEP);
    assert_vcode(check_value(fx, "nonce", "818100"), NSMV_ERR_NONCE_TYPE); /* as deep as allowed */
    assert_vcode(check_payload_hex(fx, "bf"), NSMV_ERR_CBOR_TRUNCATED);

    /* 300 items in one array: more than any document holds */
    char hex[2 * 310];
    strcpy(hex, "99012c");
    for (size_t i = 0; i < 300; i++)
        strcat(hex, "00");
    assert_vcode(check_value(fx, "nonce", hex), NSMV_ERR_CBOR_TOO_MANY_ITEMS);

    /* deep nesting far beyond any limit */
    nsmkit_buf_init(&m, 20000);
    nsmkit_buf_u8(&m, 0xa1);
    nsmkit_cbor_put_text(&m, "nonce");
    for (size_t i = 0; i < 10000; i++)
        nsmkit_buf_u8(&m, 0x81);
    nsmkit_buf_u8(&m, 0x00);
    assert_vcode(vfx_check_bytes(fx, &m, NULL), NSMV_ERR_CBOR_TOO_DEEP);
    nsmkit_buf_free(&m);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(filler); i++)
        filler[i] = (uint8_t)(i * 7 + 3);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(both_map_encodings_are_accepted),
        cmocka_unit_test(keys_in_any_order_are_accepted),
        cmocka_unit_test(optional_fields_absent_null_or_empty),
        cmocka_unit_test(optional_field_lengths),
        cmocka_unit_test(optional_fields_must_be_bytes_or_null),
        cmocka_unit_test(pcr_counts_from_1_to_32),
        cmocka_unit_test(pcr_indices_0_to_31_once_each),
        cmocka_unit_test(pcr_values_are_48_byte_strings),
        cmocka_unit_test(nitrotpm_documents_are_their_own_kind),
        cmocka_unit_test(timestamp_is_a_positive_integer),
        cmocka_unit_test(digest_is_sha384),
        cmocka_unit_test(module_id_is_text_of_1_to_256_bytes),
        cmocka_unit_test(certificate_is_1_to_1024_bytes),
        cmocka_unit_test(cabundle_is_1_to_8_certificates),
        cmocka_unit_test(unknown_duplicate_and_non_text_keys),
        cmocka_unit_test(required_fields_must_be_present),
        cmocka_unit_test(payload_must_be_a_map),
        cmocka_unit_test(field_order_does_not_change_the_code),
        cmocka_unit_test(report_all_lists_every_payload_failure),
        cmocka_unit_test(cbor_decoding_codes),
    };
    return cmocka_run_group_tests(tests, vfx_setup, vfx_teardown);
}
