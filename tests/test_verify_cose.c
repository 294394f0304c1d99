/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signature stage (verifier/cose.c): ES384 over the Sig_structure, with the hash the
 * header names, r and s in range, high s accepted (the NSM does not normalise).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>

#include "verify_fixture.h"
#include "nsmkit/error.h"
#include "nsmkit/buf.h"

/* The order of the P-384 group. */
static const char p384_n[] = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
                             "581a0db248b0a77aecec196accc52973";

static void valid_doc(const vfx *fx, nsmkit_buf *doc)
{
    nsmkit_buf payload;
    vfx_encode(&fx->payload, &payload);
    vfx_sign(fx, payload.data, payload.len, doc);
    nsmkit_buf_free(&payload);
}

static nsmv_code verify(const vfx *fx, const nsmkit_buf *doc, nsmv_result *r)
{
    return vfx_verify(fx, doc->data, doc->len, NULL, r);
}

static void tampered_real_document_fails_at_the_signature(void **state)
{
    (void)state;
    size_t len;
    uint8_t *doc = vfx_real_doc("invalid/veracruz-go_aws_nitro_document_bad_sig.bin", &len);
    nsmv_verifier *aws = vfx_aws_verifier(true);
    nsmv_options o;
    nsmv_result r;
    nsmv_options_init(&o);
    o.time_mode = NSMV_TIME_DOCUMENT;
    assert_vcode(nsmv_verify(aws, doc, len, &o, &r), NSMV_ERR_SIGNATURE_INVALID);
    assert_int_equal(r.stages[NSMV_STAGE_CHAIN], NSMV_OUTCOME_PASSED);
    assert_int_equal(r.stages[NSMV_STAGE_SIGNATURE], NSMV_OUTCOME_FAILED);
    /* now: the chain is expired as well; --all reports both */
    o.time_mode = NSMV_TIME_NOW;
    o.report_all = true;
    assert_vcode(nsmv_verify(aws, doc, len, &o, &r), NSMV_ERR_CERT_EXPIRED);
    assert_int_equal(r.failure_count, 2);
    assert_code(nsmv_codes, r.failures[1].code, NSMV_ERR_SIGNATURE_INVALID);
    nsmv_verifier_free(aws);
    free(doc);
}

static void a_changed_payload_byte_breaks_the_signature(void **state)
{
    const vfx *fx = *state;
    nsmkit_buf doc;
    nsmv_result r;
    valid_doc(fx, &doc);
    assert_vcode(verify(fx, &doc, &r), NSMV_OK);
    /* a byte of PCR4: the payload stays well-formed and valid, only the signature sees it */
    uint8_t *at = memmem(doc.data, doc.len, fx->pcr_values[4], NSMV_PCR_LEN);
    assert_non_null(at);
    at[10] ^= 0x80;
    assert_vcode(verify(fx, &doc, &r), NSMV_ERR_SIGNATURE_INVALID);
    assert_int_equal(r.stages[NSMV_STAGE_PAYLOAD], NSMV_OUTCOME_PASSED);
    at[10] ^= 0x80;
    doc.data[doc.len - 1] ^= 0x01; /* the last byte of s */
    assert_vcode(verify(fx, &doc, &r), NSMV_ERR_SIGNATURE_INVALID);
    nsmkit_buf_free(&doc);
}

static void another_key_signature_is_invalid(void **state)
{
    const vfx *fx = *state;
    static const uint8_t other_id[NSMCA_ENCLAVE_ID_LEN] = {9, 9, 9, 9, 9, 9, 9, 9};
    nsmca_leaf *other = NULL;
    nsmkit_error e;
    if (nsmca_leaf_issue(fx->pki, other_id, VFX_ISSUE_S, &other, &e) != 0)
        fail_msg("%s", e.msg);
    nsmkit_buf payload, doc;
    nsmv_result r;
    vfx_encode(&fx->payload, &payload); /* names the fixture's leaf */
    nsmkit_buf_init(&doc, 4 * NSMV_DOC_MAX);
    assert_int_equal(nsmsim_cose_sign1_encode(payload.data, payload.len, other, &doc), 0);
    assert_vcode(verify(fx, &doc, &r), NSMV_ERR_SIGNATURE_INVALID);
    nsmkit_buf_free(&doc);

    EVP_PKEY *stranger = vfx_key("P-384");
    vfx_sign_with(stranger, nsmsim_protected_es384, 4, payload.data, payload.len, &doc);
    assert_vcode(verify(fx, &doc, &r), NSMV_ERR_SIGNATURE_INVALID);
    nsmkit_buf_free(&doc);
    EVP_PKEY_free(stranger);
    nsmkit_buf_free(&payload);
    nsmca_leaf_free(other);
}

/* Sets r (which = 0) or s (which = 1) of a document's signature to hex (48 bytes). */
static void set_scalar(nsmkit_buf *doc, int which, const char *hex)
{
    size_t n;
    uint8_t *v = test_hex(hex, &n);
    assert_int_equal(n, 48);
    memcpy(doc->data + doc->len - 96 + 48 * which, v, 48);
    free(v);
}

static void r_and_s_must_lie_in_1_to_n_minus_1(void **state)
{
    const vfx *fx = *state;
    static const char zero[] = "000000000000000000000000000000000000000000000000"
                               "000000000000000000000000000000000000000000000000";
    static const char all_ff[] = "ffffffffffffffffffffffffffffffffffffffffffffffff"
                                 "ffffffffffffffffffffffffffffffffffffffffffffffff";
    static const char n_minus_1[] = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
                                    "581a0db248b0a77aecec196accc52972";
    for (int which = 0; which < 2; which++) {
        nsmkit_buf doc;
        nsmv_result r;
        valid_doc(fx, &doc);
        set_scalar(&doc, which, zero);
        assert_vcode(verify(fx, &doc, &r), NSMV_ERR_SIGNATURE_VALUE);
        set_scalar(&doc, which, p384_n);
        assert_vcode(verify(fx, &doc, &r), NSMV_ERR_SIGNATURE_VALUE);
        set_scalar(&doc, which, all_ff);
        assert_vcode(verify(fx, &doc, &r), NSMV_ERR_SIGNATURE_VALUE);
        set_scalar(&doc, which, n_minus_1); /* in range, but not the signature */
        assert_vcode(verify(fx, &doc, &r), NSMV_ERR_SIGNATURE_INVALID);
        nsmkit_buf_free(&doc);
    }
}

static void high_s_is_accepted(void **state)
{
    const vfx *fx = *state;
    nsmkit_buf doc;
    nsmv_result r;
    valid_doc(fx, &doc);
    BIGNUM *n = NULL, *s = BN_bin2bn(doc.data + doc.len - 48, 48, NULL), *flipped = BN_new();
    assert_true(BN_hex2bn(&n, p384_n) > 0);
    assert_non_null(s);
    assert_non_null(flipped);
    assert_int_equal(BN_sub(flipped, n, s), 1); /* (r, n - s) is the other valid signature */
    assert_int_equal(BN_bn2binpad(flipped, doc.data + doc.len - 48, 48), 48);
    assert_vcode(verify(fx, &doc, &r), NSMV_OK);
    assert_int_equal(BN_bn2binpad(s, doc.data + doc.len - 48, 48), 48);
    assert_vcode(verify(fx, &doc, &r), NSMV_OK);
    BN_free(n);
    BN_free(s);
    BN_free(flipped);
    nsmkit_buf_free(&doc);
}

/* (r, s) -> (r, n - s) in place: the other signature that verifies for the same message. */
static void malleate(uint8_t *doc, size_t len)
{
    BIGNUM *n = NULL, *s = BN_bin2bn(doc + len - 48, 48, NULL), *flipped = BN_new();
    assert_true(BN_hex2bn(&n, p384_n) > 0);
    assert_non_null(s);
    assert_non_null(flipped);
    assert_int_equal(BN_sub(flipped, n, s), 1);
    assert_int_equal(BN_bn2binpad(flipped, doc + len - 48, 48), 48);
    BN_free(n);
    BN_free(s);
    BN_free(flipped);
}

/* What the README's replay warning says: anyone holding a document can make a second one,
 * with other bytes and another hash, that verifies exactly as well (same payload, same
 * nonce and timestamp), without any key. A hash of the document identifies nothing. */
static void a_document_hash_is_no_replay_identifier(void **state)
{
    const vfx *fx = *state;
    nsmkit_buf doc;
    nsmv_result r;
    uint8_t h1[32], h2[32];
    valid_doc(fx, &doc);
    assert_vcode(verify(fx, &doc, &r), NSMV_OK);
    assert_int_equal(EVP_Digest(doc.data, doc.len, h1, NULL, EVP_sha256(), NULL), 1);
    malleate(doc.data, doc.len);
    assert_vcode(verify(fx, &doc, &r), NSMV_OK);
    assert_int_equal(EVP_Digest(doc.data, doc.len, h2, NULL, EVP_sha256(), NULL), 1);
    assert_memory_not_equal(h1, h2, 32);
    nsmkit_buf_free(&doc);

    /* the same with a real document: its signature was not normalised either way */
    size_t len;
    uint8_t *real = vfx_real_doc("veracruz-go_aws_nitro_document.bin", &len);
    nsmv_verifier *aws = vfx_aws_verifier(false);
    nsmv_options o;
    nsmv_options_init(&o);
    o.time_mode = NSMV_TIME_DOCUMENT;
    assert_vcode(nsmv_verify(aws, real, len, &o, &r), NSMV_OK);
    malleate(real, len);
    assert_vcode(nsmv_verify(aws, real, len, &o, &r), NSMV_OK);
    nsmv_verifier_free(aws);
    free(real);
}

/* A signature that is valid for SHA-384 under the leaf's P-384 key, but whose header names
 * another algorithm: a verifier that takes the hash from the key would accept it. */
static void the_header_names_the_algorithm_not_the_key(void **state)
{
    const vfx *fx = *state;
    static const char *const headers[] = {"a1013823" /* ES512 */, "a10126" /* ES256 */,
                                          "a1013825" /* PS384 */};
    nsmkit_buf payload;
    vfx_encode(&fx->payload, &payload);
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        size_t n;
        uint8_t *hdr = test_hex(headers[i], &n);
        nsmkit_buf doc;
        nsmv_result r;
        vfx_sign_protected(fx, hdr, n, payload.data, payload.len, &doc);
        assert_vcode(verify(fx, &doc, &r), NSMV_ERR_ENV_ALG_UNSUPPORTED);
        nsmkit_buf_free(&doc);
        free(hdr);
    }
    nsmkit_buf_free(&payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tampered_real_document_fails_at_the_signature),
        cmocka_unit_test(a_changed_payload_byte_breaks_the_signature),
        cmocka_unit_test(another_key_signature_is_invalid),
        cmocka_unit_test(r_and_s_must_lie_in_1_to_n_minus_1),
        cmocka_unit_test(high_s_is_accepted),
        cmocka_unit_test(a_document_hash_is_no_replay_identifier),
        cmocka_unit_test(the_header_names_the_algorithm_not_the_key),
    };
    return cmocka_run_group_tests(tests, vfx_setup, vfx_teardown);
}
