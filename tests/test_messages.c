/* SPDX-License-Identifier: Apache-2.0 */
/* The NSM message table (nsm-core/messages.def) and its two readers: every request the
 * codec encodes from the table is decoded by the core to the same request, the core
 * answers it with the response of the same name that the codec decodes, and the table
 * itself is well formed. A codec and a core that drift apart fail here. */
#include <stdlib.h>
#include <string.h>

#include "../frontends/devnsm/codec.h"
#include "../nsm-core/messages.h"
#include "nsmkit/sim.h"
#include "testutil.h"
#include "nsmkit/error.h"

#define FIXED_TIME_MS 1790000000123ull

static uint8_t pattern[NSM_REQUEST_MAX_SIZE];

/* A request of id with every field set: UINT fields to uint_value, byte fields to len
 * bytes of the pattern (optional ones absent when len is SIZE_MAX). */
static nsmsim_request sample(nsmsim_request_id id, uint64_t uint_value, size_t len)
{
    nsmsim_request r;
    memset(&r, 0, sizeof(r));
    r.id = id;
    for (unsigned f = 0; f < NSMSIM_REQF_COUNT; f++) {
        const nsmsim_field_spec *spec = &nsmsim_request_fields[f];
        if (spec->message != (unsigned)id)
            continue;
        if (spec->type == NSMSIM_FIELD_UINT)
            r.field[f].uint = uint_value;
        else if (len == SIZE_MAX && spec->type == NSMSIM_FIELD_OPTIONAL_BYTES)
            r.field[f].bytes = NSMKIT_BYTES_NONE;
        else if (len == SIZE_MAX) /* a required field cannot be absent */
            r.field[f].bytes = nsmkit_bytes_of(pattern, 5);
        else
            r.field[f].bytes = nsmkit_bytes_of(pattern, len < spec->max ? len : spec->max);
    }
    return r;
}

static void assert_same_request(const nsmsim_request *want, const nsmsim_request *got)
{
    assert_int_equal(got->id, want->id);
    for (unsigned f = 0; f < NSMSIM_REQF_COUNT; f++) {
        const nsmsim_field_spec *spec = &nsmsim_request_fields[f];
        if (spec->message != (unsigned)want->id)
            continue;
        if (spec->type == NSMSIM_FIELD_UINT) {
            assert_int_equal(got->field[f].uint, want->field[f].uint);
            continue;
        }
        assert_int_equal(nsmkit_bytes_present(got->field[f].bytes),
                         nsmkit_bytes_present(want->field[f].bytes));
        assert_int_equal(got->field[f].bytes.len, want->field[f].bytes.len);
        if (want->field[f].bytes.len)
            assert_memory_equal(got->field[f].bytes.ptr, want->field[f].bytes.ptr,
                                want->field[f].bytes.len);
    }
}

/* Every request of the table, with several values and lengths: the codec's bytes (and its
 * size computed without encoding) decode in the core to the same request. */
static void codec_and_core_agree_on_every_request(void **state)
{
    (void)state;
    static const uint64_t uints[] = {0, 7, 23, 24, 255, 256, 31, 65535};
    static const size_t lens[] = {SIZE_MAX, 0, 1, 23, 24, 255, 256, 1024};
    static nsmsim_request_decoded decoded;
    for (unsigned id = 0; id < NSMSIM_REQ_COUNT; id++) {
        for (size_t u = 0; u < sizeof(uints) / sizeof(uints[0]); u++) {
            for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
                nsmsim_request want = sample((nsmsim_request_id)id, uints[u], lens[l]);
                nsmkit_buf b;
                nsmkit_buf_init(&b, NSM_REQUEST_MAX_SIZE);
                nsmsim_request_encode(&want, &b);
                if (b.err)
                    fail_msg("%s, uint %llu, len %zu: does not encode in %d bytes",
                             nsmsim_requests[id].name, (unsigned long long)uints[u], lens[l],
                             NSM_REQUEST_MAX_SIZE);
                assert_int_equal(nsmsim_request_encoded_size(&want), b.len);
                nsmsim_outcome o;
                nsmsim_code c = nsmsim_request_decode(b.data, b.len, &decoded, &o);
                if (c != NSMSIM_ERR_OK)
                    fail_msg("%s: %d %s: %s", nsmsim_requests[id].name, c, nsmsim_code_name(c),
                             o.detail);
                assert_same_request(&want, &decoded.request);
                nsmkit_buf_free(&b);
            }
        }
    }
}

/* The codec's named encoders are the table's requests. */
static void named_encoders_are_the_tables(void **state)
{
    (void)state;
    static nsmsim_request_decoded decoded;
    nsmkit_buf b;
    nsmkit_buf_init(&b, NSM_REQUEST_MAX_SIZE);
    nsmsim_api_encode_extend_pcr(&b, 17, pattern, 40);
    assert_code(nsmsim_codes, nsmsim_request_decode(b.data, b.len, &decoded, NULL), NSMSIM_ERR_OK);
    assert_int_equal(decoded.request.id, NSMSIM_REQ_EXTEND_PCR);
    assert_int_equal(decoded.request.field[NSMSIM_REQF_EXTEND_PCR_INDEX].uint, 17);
    assert_int_equal(decoded.request.field[NSMSIM_REQF_EXTEND_PCR_DATA].bytes.len, 40);
    nsmkit_buf_reset(&b);
    nsmsim_api_encode_attestation(&b, NSMKIT_BYTES_NONE, nsmkit_bytes_of(pattern, 0),
                                  nsmkit_bytes_of(pattern, 3));
    assert_code(nsmsim_codes, nsmsim_request_decode(b.data, b.len, &decoded, NULL), NSMSIM_ERR_OK);
    assert_int_equal(decoded.request.id, NSMSIM_REQ_ATTESTATION);
    assert_false(nsmkit_bytes_present(decoded.request.field[NSMSIM_REQF_ATTESTATION_USER_DATA].bytes));
    assert_true(nsmkit_bytes_present(decoded.request.field[NSMSIM_REQF_ATTESTATION_NONCE].bytes));
    assert_int_equal(decoded.request.field[NSMSIM_REQF_ATTESTATION_NONCE].bytes.len, 0);
    assert_int_equal(decoded.request.field[NSMSIM_REQF_ATTESTATION_PUBLIC_KEY].bytes.len, 3);
    nsmkit_buf_reset(&b);
    nsmsim_api_encode_lock_pcrs(&b, 20);
    assert_code(nsmsim_codes, nsmsim_request_decode(b.data, b.len, &decoded, NULL), NSMSIM_ERR_OK);
    assert_int_equal(decoded.request.id, NSMSIM_REQ_LOCK_PCRS);
    assert_int_equal(decoded.request.field[NSMSIM_REQF_LOCK_PCRS_RANGE].uint, 20);
    nsmkit_buf_free(&b);
}

/* The core answers each request of the table (in table order, on one NSM) with the
 * response of the same name, which the codec decodes to that kind. */
static void core_answers_decode_in_the_codec(void **state)
{
    (void)state;
    char *ca = test_mkdtemp();
    nsmkit_error e;
    nsmca_init_options ca_options = {.now_s = FIXED_TIME_MS / 1000 - 86400};
    if (nsmca_init(ca, &ca_options, &e) != 0)
        fail_msg("CA: %s", e.msg);
    nsmsim_options options;
    nsmsim_options_init(&options);
    options.ca_dir = ca;
    options.time_ms = FIXED_TIME_MS;
    nsmsim *sim;
    assert_code(nsmsim_codes, nsmsim_new(&options, &sim, &e), NSMSIM_ERR_OK);
    static uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    for (unsigned id = 0; id < NSMSIM_REQ_COUNT; id++) {
        /* PCR 16 is the first one a request may change */
        nsmsim_request req = sample((nsmsim_request_id)id, 16, 32);
        nsmkit_buf b;
        nsmkit_buf_init(&b, NSM_REQUEST_MAX_SIZE);
        nsmsim_request_encode(&req, &b);
        size_t len;
        nsmsim_outcome o;
        assert_int_equal(nsmsim_handle_traced(sim, b.data, b.len, resp, &len, &o), 0);
        nsmkit_buf_free(&b);
        if (o.code != NSMSIM_ERR_OK)
            fail_msg("%s: %d %s: %s", nsmsim_requests[id].name, o.code, nsmsim_code_name(o.code),
                     o.detail);
        nsmsim_api_response r;
        assert_int_equal(nsmsim_api_response_decode(resp, len, &r), 0);
        print_message("  %s -> %s\n", nsmsim_requests[id].name, nsmsim_responses[r.kind].name);
        assert_string_equal(nsmsim_responses[r.kind].name, nsmsim_requests[id].name);
        nsmsim_api_response_free(&r);
    }
    nsmsim_free(sim);
    test_rmdir(ca);
    free(ca);
}

/* The table itself: names unique per shape, every field within its message's limit,
 * every request with a response of its name, limits that fit a request. */
static void the_table_is_well_formed(void **state)
{
    (void)state;
    for (unsigned i = 0; i < NSMSIM_REQ_COUNT; i++) {
        for (unsigned j = i + 1; j < NSMSIM_REQ_COUNT; j++)
            assert_string_not_equal(nsmsim_requests[i].name, nsmsim_requests[j].name);
        unsigned ids[NSMSIM_MESSAGE_MAX_FIELDS];
        size_t n = nsmsim_message_field_ids(nsmsim_request_fields, NSMSIM_REQF_COUNT, i, ids);
        assert_true(n < NSMSIM_MESSAGE_MAX_FIELDS);
        assert_int_equal(n == 0, nsmsim_requests[i].shape == NSMSIM_SHAPE_UNIT);
        bool answered = false;
        for (unsigned k = 0; k < NSMSIM_RESP_COUNT; k++)
            answered = answered || !strcmp(nsmsim_responses[k].name, nsmsim_requests[i].name);
        assert_true(answered);
    }
    for (unsigned f = 0; f < NSMSIM_REQF_COUNT; f++) {
        const nsmsim_field_spec *spec = &nsmsim_request_fields[f];
        assert_true(spec->message < NSMSIM_REQ_COUNT);
        assert_true(spec->type == NSMSIM_FIELD_UINT || spec->type == NSMSIM_FIELD_BYTES ||
                    spec->type == NSMSIM_FIELD_OPTIONAL_BYTES);
        assert_true(spec->max <= NSM_REQUEST_MAX_SIZE || spec->type == NSMSIM_FIELD_UINT);
        /* the fields of a message stand together, so table order is serde's order */
        if (f > 0 && nsmsim_request_fields[f - 1].message != spec->message)
            for (unsigned g = 0; g + 1 < f; g++)
                assert_int_not_equal(nsmsim_request_fields[g].message, spec->message);
    }
    for (unsigned f = 0; f < NSMSIM_RESPF_COUNT; f++)
        assert_true(nsmsim_response_fields[f].message < NSMSIM_RESP_COUNT);
    assert_int_equal(nsmsim_responses[NSMSIM_RESP_ERROR].shape, NSMSIM_SHAPE_TEXT);
}

/* The numbered errors: stable numbers, names and sentences for each, a wire answer. */
static void codes_have_names_and_wire_answers(void **state)
{
    (void)state;
    assert_string_equal(nsmsim_code_name(NSMSIM_ERR_PCR_LOCKED), "PCR_LOCKED");
    assert_int_equal(NSMSIM_ERR_PCR_LOCKED, 1201); /* nsm-sim: 1000-1999 */
    assert_int_equal(nsmsim_code_wire(NSMSIM_ERR_PCR_LOCKED), NSMSIM_READ_ONLY_INDEX);
    assert_int_equal(nsmsim_code_wire(NSMSIM_ERR_REQ_NOT_CBOR), NSMSIM_INVALID_OPERATION);
    assert_int_equal(nsmsim_code_wire(NSMSIM_ERR_REQ_FIELD_TOO_LONG), NSMSIM_INPUT_TOO_LARGE);
    assert_int_equal(nsmsim_code_wire(NSMSIM_ERR_OK), NSMSIM_SUCCESS);
    assert_null(nsmsim_code_name((nsmsim_code)999));
    assert_null(nsmsim_code_sentence((nsmsim_code)999));
    for (int n = 0; n < 1000; n++) {
        const char *name = nsmsim_code_name((nsmsim_code)n);
        if (!name)
            continue;
        assert_non_null(nsmsim_code_sentence((nsmsim_code)n));
        assert_non_null(nsmsim_error_code_name((nsmsim_error_code)nsmsim_code_wire((nsmsim_code)n)));
    }
}

int main(void)
{
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t)(i * 7 + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_table_is_well_formed),
        cmocka_unit_test(codec_and_core_agree_on_every_request),
        cmocka_unit_test(named_encoders_are_the_tables),
        cmocka_unit_test(core_answers_decode_in_the_codec),
        cmocka_unit_test(codes_have_names_and_wire_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
