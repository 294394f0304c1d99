/* SPDX-License-Identifier: Apache-2.0 */
/* The NSM core: every request and every error answer of NSM-FACTS sections 2-3, byte for
 * byte, the PCR rules, the official client's conformance expectations, and malformed
 * requests. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "nsmkit/sim.h"
#include "testutil.h"
#include "nsmkit/error.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/cbor.h"
#include "nsmkit/hex.h"

#define FIXED_TIME_MS 1790000000123ull

typedef struct {
    char *ca_dir;
    nsmsim *sim;
    uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    size_t resp_len;
} fixture;

/* A predictable "random" source: a counter, so responses can be compared byte for byte. */
static int counting_random(void *ctx, uint8_t *out, size_t n)
{
    uint8_t *next = ctx;
    for (size_t i = 0; i < n; i++)
        out[i] = (*next)++;
    return 0;
}

static uint8_t random_counter;
static char *shared_ca;

static int group_setup(void **state)
{
    (void)state;
    shared_ca = test_mkdtemp();
    nsmkit_error e;
    /* a PKI born a day before the fixed clock, so documents at that time chain */
    nsmca_init_options ca_options = {.now_s = FIXED_TIME_MS / 1000 - 86400};
    if (nsmca_init(shared_ca, &ca_options, &e) != 0) {
        fprintf(stderr, "CA: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    test_rmdir(shared_ca);
    free(shared_ca);
    return 0;
}

static int boot_with(void **state, nsmsim_options *options)
{
    fixture *f = calloc(1, sizeof(*f));
    nsmkit_error e;
    options->ca_dir = shared_ca;
    if (nsmsim_new(options, &f->sim, &e) != 0) {
        fprintf(stderr, "boot: %s\n", e.msg);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int setup(void **state)
{
    nsmsim_options options;
    nsmsim_options_init(&options);
    options.time_ms = FIXED_TIME_MS;
    random_counter = 0;
    options.random = counting_random;
    options.random_ctx = &random_counter;
    return boot_with(state, &options);
}

static int teardown(void **state)
{
    fixture *f = *state;
    nsmsim_free(f->sim);
    free(f);
    return 0;
}

/* Sends a request given in hex; returns the response as lower-case hex (static buffer). */
static const char *ask_hex(fixture *f, const char *request_hex)
{
    static char out[2 * NSM_RESPONSE_MAX_SIZE + 1];
    size_t len;
    uint8_t *req = test_hex(request_hex, &len);
    assert_int_equal(nsmsim_handle(f->sim, req, len, f->resp, &f->resp_len), 0);
    free(req);
    nsmkit_hex_encode(f->resp, f->resp_len, out);
    return out;
}

static void expect_hex(fixture *f, const char *request_hex, const char *response_hex)
{
    size_t len;
    uint8_t *want = test_hex(response_hex, &len);
    char want_hex[2 * NSM_RESPONSE_MAX_SIZE + 1];
    nsmkit_hex_encode(want, len, want_hex);
    free(want);
    const char *got = ask_hex(f, request_hex);
    if (strcmp(got, want_hex) != 0)
        fail_msg("request %s\n  got  %s\n  want %s", request_hex, got, want_hex);
}

/* {"Error": "<name>"} */
static void expect_error(fixture *f, const char *request_hex, nsmsim_error_code code)
{
    nsmkit_buf b;
    nsmkit_buf_init(&b, 64);
    nsmkit_cbor_put_head(&b, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(&b, "Error");
    nsmkit_cbor_put_text(&b, nsmsim_error_code_name(code));
    char want[200];
    nsmkit_hex_encode(b.data, b.len, want);
    nsmkit_buf_free(&b);
    const char *got = ask_hex(f, request_hex);
    if (strcmp(got, want) != 0)
        fail_msg("request %s: got %s, want Error(%s) %s", request_hex, got,
                 nsmsim_error_code_name(code), want);
}

/* Request builders for the variable parts. */
static char *req_index(const char *name, const char *field, const char *value_hex)
{
    nsmkit_buf b;
    nsmkit_buf_init(&b, 256);
    nsmkit_cbor_put_head(&b, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(&b, name);
    nsmkit_cbor_put_head(&b, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(&b, field);
    size_t n;
    uint8_t *v = test_hex(value_hex, &n);
    nsmkit_buf_append(&b, v, n);
    free(v);
    char *hex = malloc(2 * b.len + 1);
    nsmkit_hex_encode(b.data, b.len, hex);
    nsmkit_buf_free(&b);
    return hex;
}

static char *req_extend(unsigned index, const uint8_t *data, size_t len)
{
    nsmkit_buf b;
    nsmkit_buf_init(&b, 8192);
    nsmkit_cbor_put_head(&b, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(&b, "ExtendPCR");
    nsmkit_cbor_put_head(&b, NSMKIT_CBOR_MAP, 2);
    nsmkit_cbor_put_text(&b, "index");
    nsmkit_cbor_put_uint(&b, index);
    nsmkit_cbor_put_text(&b, "data");
    nsmkit_cbor_put_bytes(&b, data, len);
    char *hex = malloc(2 * b.len + 1);
    nsmkit_hex_encode(b.data, b.len, hex);
    nsmkit_buf_free(&b);
    return hex;
}

static const char *const describe_pcr_16 = "a1 6b 4465736372696265504352 a1 65 696e646578 10";
static const char *const lock_pcr_16 = "a1 67 4c6f636b504352 a1 65 696e646578 10";
static const char *const zero48 =
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

/* ---- every request, byte for byte ----------------------------------------------------------- */

static void describe_nsm_answers_exactly(void **state)
{
    fixture *f = *state;
    const char *module_id = nsmsim_module_id(f->sim);
    char module_hex[200];
    nsmkit_hex_encode((const uint8_t *)module_id, strlen(module_id), module_hex);
    char want[1024];
    /* {"DescribeNSM": {version_major: 1, version_minor: 0, version_patch: 0,
     *   module_id: text, max_pcrs: 32, locked_pcrs: [0..15], digest: "SHA384"}} */
    snprintf(want, sizeof(want),
             "a1 6b 44657363726962654e534d a7"
             " 6d 76657273696f6e5f6d616a6f72 01"
             " 6d 76657273696f6e5f6d696e6f72 00"
             " 6d 76657273696f6e5f7061746368 00"
             " 69 6d6f64756c655f6964 78 %02zx %s"
             " 68 6d61785f70637273 18 20"
             " 6b 6c6f636b65645f70637273 90 000102030405060708090a0b0c0d0e0f"
             " 66 646967657374 66 534841333834",
             strlen(module_id), module_hex);
    expect_hex(f, "6b 44657363726962654e534d", want);
}

static void module_id_has_the_real_shape(void **state)
{
    fixture *f = *state;
    const char *id = nsmsim_module_id(f->sim);
    /* i-<17 hex>-enc<16 hex> */
    assert_int_equal(strlen(id), 2 + 17 + 4 + 16);
    assert_memory_equal(id, "i-", 2);
    assert_memory_equal(id + 19, "-enc", 4);
    for (size_t i = 2; i < strlen(id); i++)
        if (i < 19 || i >= 23)
            assert_non_null(strchr("0123456789abcdef", id[i]));
    /* the enclave id starts with the boot time in milliseconds (6 bytes) */
    char time_hex[13];
    uint8_t t[6];
    for (int i = 0; i < 6; i++)
        t[i] = (uint8_t)(FIXED_TIME_MS >> (40 - 8 * i));
    nsmkit_hex_encode(t, 6, time_hex);
    assert_memory_equal(id + 23, time_hex, 12);
}

static void get_random_answers_256_bytes(void **state)
{
    fixture *f = *state;
    /* the counter has given 2 bytes for the enclave id; the next 256 are 02, 03, ... */
    char want[600] = "a1 69 47657452616e646f6d a1 66 72616e646f6d 59 0100 ";
    for (unsigned i = 0; i < 256; i++) {
        char byte[3];
        snprintf(byte, sizeof(byte), "%02x", (i + 2) & 0xff);
        strcat(want, byte);
    }
    expect_hex(f, "69 47657452616e646f6d", want);
}

static void describe_pcr_answers_exactly(void **state)
{
    fixture *f = *state;
    char want[300];
    snprintf(want, sizeof(want), "a1 6b 4465736372696265504352 a2 64 6c6f636b f4 64 64617461 58 30 %s",
             zero48);
    expect_hex(f, describe_pcr_16, want);
    /* PCR0 is locked at boot: lock = true */
    const char *got = ask_hex(f, "a1 6b 4465736372696265504352 a1 65 696e646578 00");
    const char *locked_prefix = "a16b4465736372696265504352a2646c6f636bf5";
    assert_memory_equal(got, locked_prefix, strlen(locked_prefix));
}

static void extend_pcr_hashes_old_value_and_data(void **state)
{
    fixture *f = *state;
    /* SHA384(0^48 || 010203) and then SHA384(that || "abc"), computed independently */
    expect_hex(f, "a1 69 457874656e64504352 a2 65 696e646578 10 64 64617461 43 010203",
               "a1 69 457874656e64504352 a1 64 64617461 58 30"
               " cb178fcd3f328244c05c6248723fd068b3a1dda878e1ab8be911098f199958add55d0c27f04826d27b44d949a650694e");
    expect_hex(f, "a1 69 457874656e64504352 a2 65 696e646578 10 64 64617461 43 616263",
               "a1 69 457874656e64504352 a1 64 64617461 58 30"
               " 6cc6fd72393ef37b4af864e22f9997909439f9a9cec58b47c5f6b6ae0ac053aa6b51d7c7801fc15debc507c42f3a9b95");
    /* DescribePCR reads the new value back */
    const char *got = ask_hex(f, describe_pcr_16);
    assert_non_null(strstr(got, "6cc6fd72393ef37b4af864e22f9997909439f9a9cec58b47c5f6b6ae0ac053aa"));
}

static void extend_pcr_accepts_text_data_and_ignores_unknown_keys(void **state)
{
    fixture *f = *state;
    /* data as the text "hello": same as the bytes "hello" */
    expect_hex(f, "a1 69 457874656e64504352 a2 65 696e646578 11 64 64617461 65 68656c6c6f",
               "a1 69 457874656e64504352 a1 64 64617461 58 30"
               " 30e84b2d7eeffe6d90a475797b35e59a11b0da473eee4b3b8edfe73daf0279801bb18730c39db7f27f2f77b7b458cb9e");
    /* an unknown inner key ("x": 1) is ignored: index 18 extended with "hello" */
    expect_hex(f, "a1 69 457874656e64504352 a3 61 78 01 65 696e646578 12 64 64617461 45 68656c6c6f",
               "a1 69 457874656e64504352 a1 64 64617461 58 30"
               " 30e84b2d7eeffe6d90a475797b35e59a11b0da473eee4b3b8edfe73daf0279801bb18730c39db7f27f2f77b7b458cb9e");
    /* data in chunks (indefinite byte string) reads as the concatenation */
    expect_hex(f, "a1 69 457874656e64504352 a2 65 696e646578 13 64 64617461 5f 42 6865 43 6c6c6f ff",
               "a1 69 457874656e64504352 a1 64 64617461 58 30"
               " 30e84b2d7eeffe6d90a475797b35e59a11b0da473eee4b3b8edfe73daf0279801bb18730c39db7f27f2f77b7b458cb9e");
}

static void lock_pcr_and_lock_pcrs_answer_bare_names(void **state)
{
    fixture *f = *state;
    expect_hex(f, lock_pcr_16, "67 4c6f636b504352");
    expect_hex(f, "a1 68 4c6f636b50435273 a1 65 72616e6765 18 20", "68 4c6f636b50435273");
}

static void error_answers_are_exact(void **state)
{
    fixture *f = *state;
    expect_hex(f, "a1 6b 4465736372696265504352 a1 65 696e646578 18 20",
               "a1 65 4572726f72 6c 496e76616c6964496e646578");
    expect_error(f, "a1 67 4c6f636b504352 a1 65 696e646578 00", NSMSIM_READ_ONLY_INDEX);
    expect_error(f, "ff", NSMSIM_INVALID_OPERATION);
}

/* ---- PCR rules ------------------------------------------------------------------------------------- */

static void boot_pcrs_are_locked_and_others_extendable(void **state)
{
    fixture *f = *state;
    uint8_t data[1] = {0x42};
    for (unsigned i = 0; i < NSMSIM_PCR_COUNT; i++) {
        char *req = req_extend(i, data, 1);
        if (i < 16)
            expect_error(f, req, NSMSIM_READ_ONLY_INDEX);
        else
            assert_memory_equal(ask_hex(f, req), "a169457874656e64504352", 22);
        free(req);
    }
    char *req = req_extend(32, data, 1);
    expect_error(f, req, NSMSIM_INVALID_INDEX);
    free(req);
}

static void locking_rules_hold(void **state)
{
    fixture *f = *state;
    for (unsigned i = 0; i < 16; i++) {
        char idx[8];
        snprintf(idx, sizeof(idx), "%02x", i);
        char *req = req_index("LockPCR", "index", idx);
        expect_error(f, req, NSMSIM_READ_ONLY_INDEX);
        free(req);
    }
    expect_hex(f, lock_pcr_16, "67 4c6f636b504352");
    expect_error(f, lock_pcr_16, NSMSIM_READ_ONLY_INDEX); /* twice */
    uint8_t data[1] = {1};
    char *ext = req_extend(16, data, 1);
    expect_error(f, ext, NSMSIM_READ_ONLY_INDEX); /* extend after lock */
    free(ext);
    char want[300];
    snprintf(want, sizeof(want), "a1 6b 4465736372696265504352 a2 64 6c6f636b f5 64 64617461 58 30 %s",
             zero48);
    expect_hex(f, describe_pcr_16, want);
    char *bad = req_index("LockPCR", "index", "1820");
    expect_error(f, bad, NSMSIM_INVALID_INDEX);
    free(bad);
    /* LockPCRs(20) locks 16..19 (16 already locked is fine); 33 is out of range */
    expect_hex(f, "a1 68 4c6f636b50435273 a1 65 72616e6765 14", "68 4c6f636b50435273");
    ext = req_extend(19, data, 1);
    expect_error(f, ext, NSMSIM_READ_ONLY_INDEX);
    free(ext);
    ext = req_extend(20, data, 1);
    assert_memory_equal(ask_hex(f, ext), "a169457874656e64504352", 22);
    free(ext);
    expect_error(f, "a1 68 4c6f636b50435273 a1 65 72616e6765 18 21", NSMSIM_INVALID_INDEX);
    expect_hex(f, "a1 68 4c6f636b50435273 a1 65 72616e6765 00", "68 4c6f636b50435273");
    /* DescribeNSM lists 0..19 as locked now */
    const char *got = ask_hex(f, "6b 44657363726962654e534d");
    assert_non_null(strstr(got, "6b6c6f636b65645f7063727394000102030405060708090a0b0c0d0e0f10111213"));
}

/* ---- the attestation ------------------------------------------------------------------------------- */

/* Pulls the payload map out of an Attestation response. Caller decrefs. */
static cbor_item_t *attestation_payload(fixture *f)
{
    static const nsmkit_cbor_limits limits = {.max_depth = 8};
    cbor_item_t *resp = NULL, *doc = NULL, *payload = NULL;
    assert_int_equal(nsmkit_cbor_load(f->resp, f->resp_len, &limits, &resp, NULL), NSMKIT_CBOR_OK);
    struct cbor_pair *top = cbor_map_handle(resp);
    assert_true(nsmkit_cbor_text_equals(top[0].key, "Attestation"));
    struct cbor_pair *inner = cbor_map_handle(top[0].value);
    assert_true(nsmkit_cbor_text_equals(inner[0].key, "document"));
    cbor_item_t *bytes = inner[0].value;
    assert_int_equal(nsmkit_cbor_load(cbor_bytestring_handle(bytes), cbor_bytestring_length(bytes),
                                      &limits, &doc, NULL),
                     NSMKIT_CBOR_OK);
    cbor_item_t *p = cbor_array_get(doc, 2);
    assert_int_equal(nsmkit_cbor_load(cbor_bytestring_handle(p), cbor_bytestring_length(p),
                                      &limits, &payload, NULL),
                     NSMKIT_CBOR_OK);
    cbor_decref(&p);
    cbor_decref(&doc);
    cbor_decref(&resp);
    return payload;
}

static cbor_item_t *payload_field(cbor_item_t *payload, const char *name)
{
    struct cbor_pair *pairs = cbor_map_handle(payload);
    for (size_t i = 0; i < cbor_map_size(payload); i++)
        if (nsmkit_cbor_text_equals(pairs[i].key, name))
            return pairs[i].value;
    fail_msg("no %s in the payload", name);
    return NULL;
}

static const char *const attest_all_null =
    "a1 6b 4174746573746174696f6e a3 69 757365725f64617461 f6 65 6e6f6e6365 f6"
    " 6a 7075626c69635f6b6579 f6";

static void attestation_holds_the_state(void **state)
{
    fixture *f = *state;
    ask_hex(f, attest_all_null);
    cbor_item_t *payload = attestation_payload(f);
    assert_int_equal(cbor_map_size(payload), 9);
    assert_true(nsmkit_cbor_text_equals(payload_field(payload, "module_id"),
                                        nsmsim_module_id(f->sim)));
    assert_true(nsmkit_cbor_text_equals(payload_field(payload, "digest"), "SHA384"));
    assert_true(cbor_get_int(payload_field(payload, "timestamp")) == FIXED_TIME_MS);
    cbor_item_t *pcrs = payload_field(payload, "pcrs");
    assert_int_equal(cbor_map_size(pcrs), 16);
    struct cbor_pair *entries = cbor_map_handle(pcrs);
    for (size_t i = 0; i < 16; i++) {
        assert_int_equal(cbor_get_int(entries[i].key), i);
        assert_int_equal(cbor_bytestring_length(entries[i].value), 48);
    }
    /* conformance: PCR0-2 and PCR4 non-zero, the other boot PCRs zero */
    static const uint8_t zero[48];
    for (size_t i = 0; i < 16; i++) {
        bool is_zero = memcmp(cbor_bytestring_handle(entries[i].value), zero, 48) == 0;
        bool measured = i <= 2 || i == 4;
        if (is_zero == measured)
            fail_msg("PCR%zu is %s", i, is_zero ? "zero" : "not zero");
    }
    assert_true(cbor_is_null(payload_field(payload, "nonce")));
    assert_true(cbor_is_null(payload_field(payload, "user_data")));
    assert_true(cbor_is_null(payload_field(payload, "public_key")));
    assert_int_equal(cbor_array_size(payload_field(payload, "cabundle")), 4);
    cbor_decref(&payload);

    /* lock three more: the document holds 19 PCRs */
    expect_hex(f, "a1 68 4c6f636b50435273 a1 65 72616e6765 13", "68 4c6f636b50435273");
    ask_hex(f, attest_all_null);
    payload = attestation_payload(f);
    assert_int_equal(cbor_map_size(payload_field(payload, "pcrs")), 19);
    cbor_decref(&payload);
}

static char *req_attestation(size_t user_data, size_t nonce, size_t public_key)
{
    nsmkit_buf b;
    nsmkit_buf_init(&b, 8192);
    uint8_t fill[2048];
    memset(fill, 0xab, sizeof(fill));
    nsmkit_cbor_put_head(&b, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(&b, "Attestation");
    nsmkit_cbor_put_head(&b, NSMKIT_CBOR_MAP, 3);
    nsmkit_cbor_put_text(&b, "user_data");
    nsmkit_cbor_put_bytes(&b, fill, user_data);
    nsmkit_cbor_put_text(&b, "nonce");
    nsmkit_cbor_put_bytes(&b, fill, nonce);
    nsmkit_cbor_put_text(&b, "public_key");
    nsmkit_cbor_put_bytes(&b, fill, public_key);
    char *hex = malloc(2 * b.len + 1);
    nsmkit_hex_encode(b.data, b.len, hex);
    nsmkit_buf_free(&b);
    return hex;
}

static void attestation_field_sizes(void **state)
{
    fixture *f = *state;
    char *req = req_attestation(1024, 1024, 1024);
    ask_hex(f, req);
    free(req);
    cbor_item_t *payload = attestation_payload(f);
    assert_int_equal(cbor_bytestring_length(payload_field(payload, "user_data")), 1024);
    assert_int_equal(cbor_bytestring_length(payload_field(payload, "nonce")), 1024);
    assert_int_equal(cbor_bytestring_length(payload_field(payload, "public_key")), 1024);
    cbor_decref(&payload);
    assert_true(f->resp_len <= NSM_RESPONSE_MAX_SIZE);

    size_t sizes[3][3] = {{1025, 0, 0}, {0, 1025, 0}, {0, 0, 1025}};
    for (int i = 0; i < 3; i++) {
        req = req_attestation(sizes[i][0], sizes[i][1], sizes[i][2]);
        expect_error(f, req, NSMSIM_INPUT_TOO_LARGE);
        free(req);
    }
    /* present but empty: a 0-byte byte string, not null */
    req = req_attestation(0, 0, 0);
    ask_hex(f, req);
    free(req);
    payload = attestation_payload(f);
    cbor_item_t *pk = payload_field(payload, "public_key");
    assert_true(cbor_isa_bytestring(pk));
    assert_int_equal(cbor_bytestring_length(pk), 0);
    cbor_decref(&payload);
    /* absent fields read as null */
    ask_hex(f, "a1 6b 4174746573746174696f6e a0");
    payload = attestation_payload(f);
    assert_true(cbor_is_null(payload_field(payload, "nonce")));
    cbor_decref(&payload);
    /* a field of the wrong type */
    expect_error(f, "a1 6b 4174746573746174696f6e a1 65 6e6f6e6365 01", NSMSIM_INVALID_OPERATION);
}

static void debug_mode_zeroes_every_boot_pcr(void **state)
{
    (void)state;
    nsmsim_options options;
    nsmsim_options_init(&options);
    options.debug_mode = true;
    fixture *f;
    assert_int_equal(boot_with((void **)&f, &options), 0);
    ask_hex(f, attest_all_null);
    cbor_item_t *payload = attestation_payload(f);
    cbor_item_t *pcrs = payload_field(payload, "pcrs");
    struct cbor_pair *entries = cbor_map_handle(pcrs);
    static const uint8_t zero[48];
    for (size_t i = 0; i < cbor_map_size(pcrs); i++)
        assert_memory_equal(cbor_bytestring_handle(entries[i].value), zero, 48);
    cbor_decref(&payload);
    void *s = f;
    teardown(&s);
}

static void given_boot_pcrs_are_reported(void **state)
{
    (void)state;
    nsmsim_options options;
    nsmsim_options_init(&options);
    nsmkit_error e;
    char assignment[120] = "8=";
    for (int i = 0; i < 48; i++)
        strcat(assignment, "5a");
    assert_int_equal(nsmsim_options_set_pcr(&options, assignment, &e), 0);
    fixture *f;
    assert_int_equal(boot_with((void **)&f, &options), 0);
    const char *got = ask_hex(f, "a1 6b 4465736372696265504352 a1 65 696e646578 08");
    assert_non_null(strstr(got, "58305a5a5a5a"));
    void *s = f;
    teardown(&s);
    /* debug mode and given PCRs contradict each other */
    options.debug_mode = true;
    options.ca_dir = shared_ca;
    nsmsim *sim;
    assert_code(nsmsim_codes, nsmsim_new(&options, &sim, &e), NSMSIM_ERR_DEBUG_WITH_PCRS);
    assert_non_null(strstr(e.msg, "debug-mode"));
}

static void random_responses_all_differ(void **state)
{
    (void)state;
    nsmsim_options options;
    nsmsim_options_init(&options); /* the real RNG */
    fixture *f;
    assert_int_equal(boot_with((void **)&f, &options), 0);
    char seen[16][2 * NSM_RESPONSE_MAX_SIZE + 1];
    for (int i = 0; i < 16; i++) {
        strcpy(seen[i], ask_hex(f, "69 47657452616e646f6d"));
        assert_int_equal(f->resp_len, 1 + 10 + 1 + 7 + 3 + 256);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
    }
    void *s = f;
    teardown(&s);
}

/* ---- malformed requests ---------------------------------------------------------------------------- */

static void malformed_requests_get_the_devices_answers(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *hex;
        nsmsim_error_code code;
        const char *what;
        nsmsim_code cause; /* what the trace says behind the wire answer */
    } cases[] = {
        {"63 466f6f", NSMSIM_INVALID_OPERATION, "unknown command", NSMSIM_ERR_REQ_UNKNOWN},
        {"ff", NSMSIM_INVALID_OPERATION, "invalid CBOR", NSMSIM_ERR_REQ_NOT_CBOR},
        {"a1 6b 4465736372696265504352", NSMSIM_INVALID_OPERATION, "truncated", NSMSIM_ERR_REQ_NOT_CBOR},
        {"6b 4465736372696265504352", NSMSIM_INVALID_OPERATION, "struct variant as text", NSMSIM_ERR_REQ_UNKNOWN},
        {"a1 6b 44657363726962654e534d a0", NSMSIM_INVALID_OPERATION, "unit variant as map", NSMSIM_ERR_REQ_UNKNOWN},
        {"a1 6b 4465736372696265504352 01", NSMSIM_INVALID_OPERATION, "arguments not a map", NSMSIM_ERR_REQ_NOT_MESSAGE},
        {"a1 6b 4465736372696265504352 a1 65 696e646578 f6", NSMSIM_INVALID_OPERATION, "null index", NSMSIM_ERR_REQ_FIELD_MISSING},
        {"a1 6b 4465736372696265504352 a1 65 696e646578 20", NSMSIM_INVALID_OPERATION, "negative index", NSMSIM_ERR_REQ_FIELD_TYPE},
        {"a1 6b 4465736372696265504352 a1 65 696e646578 61 30", NSMSIM_INVALID_OPERATION, "text index", NSMSIM_ERR_REQ_FIELD_TYPE},
        {"a1 6b 4465736372696265504352 a1 65 696e646578 f9 3c00", NSMSIM_INVALID_OPERATION, "float index", NSMSIM_ERR_REQ_FIELD_TYPE},
        {"a1 6b 4465736372696265504352 a0", NSMSIM_INVALID_OPERATION, "missing index", NSMSIM_ERR_REQ_FIELD_MISSING},
        {"a1 6b 4465736372696265504352 a2 65 696e646578 00 65 696e646578 01", NSMSIM_INVALID_OPERATION, "duplicate index", NSMSIM_ERR_REQ_FIELD_DUPLICATE},
        {"a1 6b 4465736372696265504352 a1 65 696e646578 1b 0000010000000000", NSMSIM_INVALID_INDEX, "huge index", NSMSIM_ERR_PCR_INDEX},
        {"a2 6b 4465736372696265504352 a1 65 696e646578 00 61 78 00", NSMSIM_INVALID_OPERATION, "extra top-level key", NSMSIM_ERR_REQ_NOT_MESSAGE},
        {"a1 69 457874656e64504352 a1 65 696e646578 10", NSMSIM_INVALID_OPERATION, "extend without data", NSMSIM_ERR_REQ_FIELD_MISSING},
        {"a1 69 457874656e64504352 a2 65 696e646578 10 64 64617461 01", NSMSIM_INVALID_OPERATION, "extend data integer", NSMSIM_ERR_REQ_FIELD_TYPE},
        {"a1 69 457874656e64504352 a2 65 696e646578 20 64 64617461 41 00", NSMSIM_INVALID_OPERATION, "extend negative index", NSMSIM_ERR_REQ_FIELD_TYPE},
        {"a1 68 4c6f636b50435273 a1 65 72616e6765 20", NSMSIM_INVALID_OPERATION, "negative range", NSMSIM_ERR_REQ_FIELD_TYPE},
        {"a0", NSMSIM_INVALID_OPERATION, "empty map", NSMSIM_ERR_REQ_NOT_MESSAGE},
        {"01", NSMSIM_INVALID_OPERATION, "integer", NSMSIM_ERR_REQ_NOT_MESSAGE},
        {"d8 18 6b 44657363726962654e534d", NSMSIM_INVALID_OPERATION, "tagged command", NSMSIM_ERR_REQ_NOT_CBOR},
        {"6b 44657363726962654e534d 00", NSMSIM_INVALID_OPERATION, "trailing byte", NSMSIM_ERR_REQ_NOT_CBOR},
        {"9b ffffffffffffffff", NSMSIM_INVALID_OPERATION, "huge array", NSMSIM_ERR_REQ_NOT_CBOR},
        /* regression: a float where null may stand aborted inside libcbor's cbor_is_null */
        {"a1 6b 4174746573746174696f6e a1 65 6e6f6e6365 f9 3c00", NSMSIM_INVALID_OPERATION, "float nonce", NSMSIM_ERR_REQ_FIELD_TYPE},
        {"a1 69 457874656e64504352 a2 65 696e646578 10 64 64617461 fb 3ff0000000000000", NSMSIM_INVALID_OPERATION, "float data", NSMSIM_ERR_REQ_FIELD_TYPE},
        {"a1 6b 4174746573746174696f6e a1 69 757365725f64617461 f5", NSMSIM_INVALID_OPERATION, "bool user_data", NSMSIM_ERR_REQ_FIELD_TYPE},
        {"7a 7fffffff", NSMSIM_INVALID_OPERATION, "huge text", NSMSIM_ERR_REQ_NOT_CBOR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("  %s\n", cases[i].what);
        expect_error(f, cases[i].hex, cases[i].code);
        size_t len;
        uint8_t *req = test_hex(cases[i].hex, &len);
        nsmsim_outcome o;
        assert_int_equal(nsmsim_handle_traced(f->sim, req, len, f->resp, &f->resp_len, &o), 0);
        free(req);
        print_message("    %d %s: %s\n", o.code, nsmsim_code_name(o.code), o.detail);
        assert_int_equal(o.code, cases[i].cause);
        assert_int_equal(nsmsim_code_wire(o.code), cases[i].code);
        assert_true(o.detail[0] != '\0');
    }
    /* an empty request */
    assert_int_equal(nsmsim_handle(f->sim, (const uint8_t *)"", 0, f->resp, &f->resp_len), 0);
    assert_memory_equal(f->resp, "\xa1\x65" "Error" "\x70" "InvalidOperation", 2 + 5 + 1 + 16);
}

static void request_size_limit(void **state)
{
    fixture *f = *state;
    uint8_t *big = malloc(NSM_REQUEST_MAX_SIZE + 1);
    memset(big, 0x80, NSM_REQUEST_MAX_SIZE + 1); /* garbage: 0x80 is an empty array, repeated */
    size_t len;
    assert_int_equal(nsmsim_handle(f->sim, big, NSM_REQUEST_MAX_SIZE + 1, f->resp, &len), 0);
    char hex[200];
    nsmkit_hex_encode(f->resp, len, hex);
    assert_string_equal(hex, "a1654572726f726d496e707574546f6f4c61726765"); /* InputTooLarge */
    assert_int_equal(nsmsim_handle(f->sim, big, NSM_REQUEST_MAX_SIZE, f->resp, &len), 0);
    nsmkit_hex_encode(f->resp, len, hex);
    assert_string_equal(hex, "a1654572726f7270496e76616c69644f7065726174696f6e"); /* InvalidOperation */
    /* a 4096-byte ExtendPCR is a fine request */
    memset(big, 0x11, NSM_REQUEST_MAX_SIZE);
    char *req = req_extend(16, big, NSM_REQUEST_MAX_SIZE - 30);
    size_t n;
    uint8_t *bytes = test_hex(req, &n);
    assert_true(n <= NSM_REQUEST_MAX_SIZE);
    assert_int_equal(nsmsim_handle(f->sim, bytes, n, f->resp, &len), 0);
    assert_memory_equal(f->resp, "\xa1\x69" "ExtendPCR", 11);
    free(bytes);
    free(req);
    free(big);
}

static void bad_input_leaves_the_state_alone(void **state)
{
    fixture *f = *state;
    char before[2 * NSM_RESPONSE_MAX_SIZE + 1];
    strcpy(before, ask_hex(f, describe_pcr_16));
    const char *junk[] = {"ff", "a1 69 457874656e64504352 a2 65 696e646578 10 64 64617461",
                          "a1 69 457874656e64504352 a2 65 696e646578 10 64 64617461 01"};
    for (size_t i = 0; i < 3; i++)
        ask_hex(f, junk[i]);
    assert_string_equal(ask_hex(f, describe_pcr_16), before);
}

/* Every byte string gets an answer that is itself well-formed CBOR: a success or an error.
 * Mutations of valid requests reach deep into the decoder; a fixed seed keeps it repeatable. */
static void mutated_requests_always_get_a_wellformed_answer(void **state)
{
    fixture *f = *state;
    static const char *const seeds[] = {
        "6b 44657363726962654e534d",
        "a1 6b 4465736372696265504352 a1 65 696e646578 00",
        "a1 69 457874656e64504352 a2 65 696e646578 10 64 64617461 43 010203",
        "a1 68 4c6f636b50435273 a1 65 72616e6765 18 20",
        "a1 6b 4174746573746174696f6e a3 69 757365725f64617461 f6 65 6e6f6e6365 f6"
        " 6a 7075626c69635f6b6579 f6",
    };
    static const nsmkit_cbor_limits any = {.max_depth = 8, .allow_indefinite_strings = true};
    uint32_t rng = 12345;
    for (int round = 0; round < 3000; round++) {
        size_t len;
        uint8_t *req = test_hex(seeds[round % 5], &len);
        uint8_t mutated[128];
        memcpy(mutated, req, len);
        free(req);
        int edits = 1 + (int)(rng % 3);
        for (int k = 0; k < edits; k++) {
            rng = rng * 1103515245u + 12345u;
            size_t at = (rng >> 8) % len;
            switch ((rng >> 4) % 3) {
            case 0: mutated[at] = (uint8_t)(rng >> 16); break;      /* change a byte */
            case 1: len = at + 1; break;                            /* truncate */
            default: mutated[at] ^= (uint8_t)(1u << (rng % 8)); break; /* flip a bit */
            }
        }
        size_t resp_len;
        assert_int_equal(nsmsim_handle(f->sim, mutated, len, f->resp, &resp_len), 0);
        assert_int_equal(nsmkit_cbor_check(f->resp, resp_len, &any, NULL), NSMKIT_CBOR_OK);
    }
}

/* ---- threads ------------------------------------------------------------------------------------- */

typedef struct {
    nsmsim *sim;
    unsigned pcr;
    int failures;
} worker;

static void *extend_worker(void *arg)
{
    worker *w = arg;
    uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    for (int i = 0; i < 100; i++) {
        uint8_t req[64];
        nsmkit_buf b = {.data = req, .cap = sizeof(req), .limit = sizeof(req)};
        nsmkit_cbor_put_head(&b, NSMKIT_CBOR_MAP, 1);
        nsmkit_cbor_put_text(&b, "ExtendPCR");
        nsmkit_cbor_put_head(&b, NSMKIT_CBOR_MAP, 2);
        nsmkit_cbor_put_text(&b, "index");
        nsmkit_cbor_put_uint(&b, w->pcr);
        nsmkit_cbor_put_text(&b, "data");
        uint8_t byte = (uint8_t)i;
        nsmkit_cbor_put_bytes(&b, &byte, 1);
        size_t len;
        if (nsmsim_handle(w->sim, req, b.len, resp, &len) != 0 || len != 67)
            w->failures++;
    }
    return NULL;
}

static void concurrent_extends_land_exactly_once(void **state)
{
    fixture *f = *state;
    pthread_t threads[4];
    worker workers[4];
    for (int t = 0; t < 4; t++) {
        workers[t] = (worker){f->sim, 20 + (unsigned)t, 0};
        pthread_create(&threads[t], NULL, extend_worker, &workers[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(workers[t].failures, 0);
    }
    /* each PCR went through exactly the 100 extends of its thread, in order */
    uint8_t expect[48] = {0};
    for (int i = 0; i < 100; i++) {
        uint8_t in[49];
        memcpy(in, expect, 48);
        in[48] = (uint8_t)i;
        unsigned int n;
        EVP_Digest(in, 49, expect, &n, EVP_sha384(), NULL);
    }
    char want[97];
    nsmkit_hex_encode(expect, 48, want);
    for (int t = 0; t < 4; t++) {
        char idx[3];
        snprintf(idx, sizeof(idx), "%02x", 20 + t);
        char *req = req_index("DescribePCR", "index", idx);
        assert_non_null(strstr(ask_hex(f, req), want));
        free(req);
    }
}

static void error_code_names_match_the_wire(void **state)
{
    (void)state;
    static const char *const names[] = {"Success", "InvalidArgument", "InvalidIndex",
                                        "InvalidResponse", "ReadOnlyIndex", "InvalidOperation",
                                        "BufferTooSmall", "InputTooLarge", "InternalError"};
    for (int i = 0; i <= 8; i++)
        assert_string_equal(nsmsim_error_code_name((nsmsim_error_code)i), names[i]);
    assert_null(nsmsim_error_code_name((nsmsim_error_code)9));
}

/* nsmsim_reboot: the PCR state of a fresh boot, whatever happened before (the fuzz targets
 * rely on it to answer every input from the same state). */
static void reboot_restores_the_boot_state(void **state)
{
    fixture *f = *state;
    const char *describe16 = "a1 6b 4465736372696265504352 a1 65 696e646578 10";
    char before[2 * NSM_RESPONSE_MAX_SIZE + 1], nsm_before[2 * NSM_RESPONSE_MAX_SIZE + 1];
    strcpy(before, ask_hex(f, describe16));
    strcpy(nsm_before, ask_hex(f, "6b 44657363726962654e534d"));
    const uint8_t data[1] = {7};
    char *ext = req_extend(16, data, 1);
    char extended[2 * NSM_RESPONSE_MAX_SIZE + 1];
    strcpy(extended, ask_hex(f, ext));
    expect_hex(f, lock_pcr_16, "67 4c6f636b504352");
    expect_error(f, ext, NSMSIM_READ_ONLY_INDEX);
    assert_string_not_equal(ask_hex(f, describe16), before);
    assert_int_equal(nsmsim_reboot(f->sim), 0);
    assert_string_equal(ask_hex(f, describe16), before);       /* zero and unlocked again */
    assert_string_equal(ask_hex(f, "6b 44657363726962654e534d"), nsm_before); /* locks 0..15 */
    assert_string_equal(ask_hex(f, ext), extended); /* extendable again, from zero again */
    free(ext);
}


/* ---- the document hook (the device fault mode plugs in here) ---------------------------- */

typedef struct {
    int answer;   /* what rewrite returns */
    int calls;
    bool freed;
} hook_state;

static int hook_rewrite(void *ctx, const uint8_t *doc, size_t len, nsmkit_buf *out,
                        nsmkit_error *e)
{
    hook_state *h = ctx;
    h->calls++;
    assert_true(len > 0 && doc[0] == 0x84); /* the signed COSE_Sign1 the core made */
    if (h->answer == 1)
        nsmkit_buf_append(out, (const uint8_t *)"\xa0", 1);
    if (h->answer < 0)
        return nsmkit_fail(e, "hook says no");
    return h->answer;
}

static void hook_free(void *ctx)
{
    ((hook_state *)ctx)->freed = true;
}

static void document_hook_replaces_or_refuses(void **state)
{
    fixture *f = *state;
    hook_state h = {0, 0, false};
    nsmsim_set_document_hook(f->sim, &(nsmsim_document_hook){hook_rewrite, hook_free, &h});
    ask_hex(f, attest_all_null); /* 0: unchanged */
    cbor_item_t *payload = attestation_payload(f);
    assert_non_null(payload);
    cbor_decref(&payload);
    h.answer = 1; /* replaced: the response carries the hook's bytes */
    assert_string_equal(ask_hex(f, attest_all_null),
                        "a16b4174746573746174696f6ea168646f63756d656e7441a0");
    h.answer = -1; /* refused: InternalError, and the core says why */
    expect_error(f, attest_all_null, NSMSIM_INTERNAL_ERROR);
    assert_string_equal(nsmsim_fault_error(f->sim), "hook says no");
    assert_int_equal(h.calls, 3);
    nsmsim_set_document_hook(f->sim, NULL);
    assert_true(h.freed);
}

static void core_refuses_the_fault_mode_itself(void **state)
{
    (void)state;
    nsmsim_options options;
    nsmsim_options_init(&options);
    options.ca_dir = shared_ca;
    options.faults = "sig_bit_flip";
    nsmsim *sim = NULL;
    nsmkit_error e;
    assert_code(nsmsim_codes, nsmsim_new(&options, &sim, &e), NSMSIM_ERR_FAULT_MODE);
    assert_null(sim);
    assert_non_null(strstr(e.msg, "nsmfault_sim_new"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(describe_nsm_answers_exactly),
        T(module_id_has_the_real_shape),
        T(get_random_answers_256_bytes),
        T(describe_pcr_answers_exactly),
        T(extend_pcr_hashes_old_value_and_data),
        T(extend_pcr_accepts_text_data_and_ignores_unknown_keys),
        T(lock_pcr_and_lock_pcrs_answer_bare_names),
        T(error_answers_are_exact),
        T(boot_pcrs_are_locked_and_others_extendable),
        T(locking_rules_hold),
        T(attestation_holds_the_state),
        T(attestation_field_sizes),
        cmocka_unit_test(debug_mode_zeroes_every_boot_pcr),
        cmocka_unit_test(given_boot_pcrs_are_reported),
        cmocka_unit_test(random_responses_all_differ),
        T(malformed_requests_get_the_devices_answers),
        T(request_size_limit),
        T(bad_input_leaves_the_state_alone),
        T(mutated_requests_always_get_a_wellformed_answer),
        T(concurrent_extends_land_exactly_once),
        T(reboot_restores_the_boot_state),
        cmocka_unit_test(error_code_names_match_the_wire),
        T(document_hook_replaces_or_refuses),
        cmocka_unit_test(core_refuses_the_fault_mode_itself),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
