/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmv_claims (verifier/claims.c): what an accepted document says, read back through the
 * public API - the PCRs, the optional fields with their three states (absent, null, bytes,
 * zero bytes included), the module id and time - and refusals of what is not a document.
 */
#include <stdlib.h>
#include <string.h>

#include "verify_fixture.h"

static void build(const vfx *fx, const nsmsim_payload *p, nsmkit_buf *doc)
{
    nsmkit_buf payload;
    vfx_encode(p, &payload);
    vfx_sign(fx, payload.data, payload.len, doc);
    nsmkit_buf_free(&payload);
}

static void claims_of_an_accepted_document(void **state)
{
    const vfx *fx = *state;
    nsmsim_payload p = fx->payload;
    static const uint8_t key[] = {0x30, 0x59, 0x01, 0x02};
    p.public_key = (nsmsim_optional_bytes){key, sizeof(key), true};
    p.user_data = (nsmsim_optional_bytes){(const uint8_t *)"", 0, true}; /* zero bytes */
    p.nonce = (nsmsim_optional_bytes){NULL, 0, false};                    /* null */
    nsmkit_buf doc;
    build(fx, &p, &doc);
    nsmv_options o;
    nsmv_result r;
    vfx_options(&o);
    assert_vcode(nsmv_verify(fx->verifier, doc.data, doc.len, &o, &r), NSMV_OK);

    nsmv_claims *c = NULL;
    assert_vcode(nsmv_claims_read(doc.data, doc.len, &c), NSMV_OK);
    assert_non_null(c);
    assert_int_equal(nsmv_claims_kind(c), NSMV_KIND_NSM);
    assert_string_equal(nsmv_claims_module_id(c), fx->module_id);
    assert_int_equal(nsmv_claims_timestamp_ms(c), p.timestamp_ms);
    for (size_t i = 0; i < p.pcr_count; i++) {
        const uint8_t *value = nsmv_claims_pcr(c, p.pcrs[i].index);
        assert_non_null(value);
        assert_memory_equal(value, p.pcrs[i].value, NSMV_PCR_LEN);
    }
    assert_null(nsmv_claims_pcr(c, 32));
    assert_null(nsmv_claims_pcr(c, 1000));

    const uint8_t *data = NULL;
    size_t len = 99;
    assert_true(nsmv_claims_public_key(c, &data, &len));
    assert_int_equal(len, sizeof(key));
    assert_memory_equal(data, key, sizeof(key));
    assert_true(nsmv_claims_user_data(c, &data, &len));
    assert_int_equal(len, 0);
    assert_false(nsmv_claims_nonce(c, &data, &len));
    assert_null(data);
    assert_int_equal(len, 0);
    assert_false(nsmv_claims_nonce(c, NULL, NULL));
    nsmkit_buf_free(&doc); /* the claims own their bytes */
    assert_memory_equal(nsmv_claims_pcr(c, p.pcrs[0].index), p.pcrs[0].value, NSMV_PCR_LEN);
    nsmv_claims_free(c);
    nsmv_claims_free(NULL);
}

static void a_document_with_fewer_pcrs(void **state)
{
    const vfx *fx = *state;
    nsmsim_payload p = fx->payload;
    p.pcr_count = 4; /* PCR0..3 only */
    nsmkit_buf doc;
    build(fx, &p, &doc);
    nsmv_claims *c = NULL;
    assert_vcode(nsmv_claims_read(doc.data, doc.len, &c), NSMV_OK);
    for (unsigned i = 0; i < 32; i++) {
        bool given = false;
        for (size_t k = 0; k < p.pcr_count; k++)
            given = given || p.pcrs[k].index == i;
        if (given != (nsmv_claims_pcr(c, i) != NULL))
            fail_msg("PCR%u: %s", i, given ? "missing" : "invented");
    }
    nsmv_claims_free(c);
    nsmkit_buf_free(&doc);
}

static void what_is_not_a_document_has_no_claims(void **state)
{
    const vfx *fx = *state;
    nsmv_claims *c = (nsmv_claims *)&c; /* must be reset to NULL */
    assert_vcode(nsmv_claims_read((const uint8_t *)"\xa0", 1, &c), NSMV_ERR_ENV_NOT_ARRAY4);
    assert_null(c);
    assert_vcode(nsmv_claims_read(NULL, 0, &c), NSMV_ERR_DOC_EMPTY);
    assert_null(c);
    nsmsim_payload p = fx->payload;
    p.timestamp_ms = 0;
    nsmkit_buf doc;
    build(fx, &p, &doc);
    assert_vcode(nsmv_claims_read(doc.data, doc.len, &c), NSMV_ERR_TIMESTAMP_ZERO);
    assert_null(c);
    nsmkit_buf_free(&doc);
}

static void claims_of_a_real_nitrotpm_document(void **state)
{
    (void)state;
    size_t len;
    uint8_t *doc = vfx_real_doc("vaportpm_nitrotpm_2026-02-01.bin", &len);
    nsmv_claims *c = NULL;
    assert_vcode(nsmv_claims_read(doc, len, &c), NSMV_OK);
    assert_int_equal(nsmv_claims_kind(c), NSMV_KIND_NITROTPM);
    assert_true(strlen(nsmv_claims_module_id(c)) > 0);
    assert_non_null(nsmv_claims_pcr(c, 0));
    nsmv_claims_free(c);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(claims_of_an_accepted_document),
        cmocka_unit_test(a_document_with_fewer_pcrs),
        cmocka_unit_test(what_is_not_a_document_has_no_claims),
        cmocka_unit_test(claims_of_a_real_nitrotpm_document),
    };
    return cmocka_run_group_tests(tests, vfx_setup, vfx_teardown);
}
