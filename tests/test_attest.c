/* SPDX-License-Identifier: Apache-2.0 */
/* The attestation builder: payload bytes, both map encodings, the COSE_Sign1 envelope and
 * its signature over the Sig_structure. */
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "nsmkit/sim.h"
#include "testutil.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor.h"
#include "nsmkit/hex.h"

#define T0 1790000000ull

static char *ca_dir;
static nsmca_pki *pki;
static nsmca_leaf *leaf;

static int group_setup(void **state)
{
    (void)state;
    ca_dir = test_mkdtemp();
    nsmca_init_options options = {.now_s = T0};
    const uint8_t enclave[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    if (nsmca_init(ca_dir, &options, NULL) != 0 || nsmca_open(ca_dir, &pki, NULL) != 0 ||
        nsmca_leaf_issue(pki, enclave, T0 + 5, &leaf, NULL) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    nsmca_leaf_free(leaf);
    nsmca_close(pki);
    test_rmdir(ca_dir);
    free(ca_dir);
    return 0;
}

/* A small payload whose every byte is known (the expected hex was written out by hand from
 * the CBOR rules, not by this code). */
static void small_payload(nsmsim_payload *p, nsmsim_pcr_entry pcrs[2], const uint8_t **bundle,
                          size_t *bundle_lens)
{
    static const uint8_t aa = 0xaa, bb = 0xbb, cert[2] = {1, 2}, b0 = 3, b1 = 4,
                         nonce[3] = {5, 6, 7};
    pcrs[0] = (nsmsim_pcr_entry){0, &aa, 1};
    pcrs[1] = (nsmsim_pcr_entry){16, &bb, 1};
    bundle[0] = &b0;
    bundle[1] = &b1;
    bundle_lens[0] = bundle_lens[1] = 1;
    *p = (nsmsim_payload){
        .module_id = "i-0",
        .digest = "SHA384",
        .timestamp_ms = 1790000000123ull,
        .pcrs = pcrs,
        .pcr_count = 2,
        .certificate = cert,
        .certificate_len = 2,
        .cabundle = bundle,
        .cabundle_lens = bundle_lens,
        .cabundle_count = 2,
        .public_key = {NULL, 0, false},
        .user_data = {cert, 0, true},
        .nonce = {nonce, 3, true},
    };
}

static const char *const small_payload_body =
    "696d6f64756c655f696463692d3066646967657374665348413338346974696d657374616d701b000001a0c4506c7b"
    "6470637273a20041aa1041bb6b636572746966696361746542010268636162756e646c6582410341046a7075626c"
    "69635f6b6579f669757365725f6461746140656e6f6e636543050607";

static void payload_bytes_are_exact_in_both_encodings(void **state)
{
    (void)state;
    nsmsim_payload p;
    nsmsim_pcr_entry pcrs[2];
    const uint8_t *bundle[2];
    size_t lens[2];
    small_payload(&p, pcrs, bundle, lens);
    nsmkit_buf b;
    char got[1024], want[1024];

    nsmkit_buf_init(&b, 4096);
    nsmsim_payload_encode(&p, &b);
    assert_false(b.err);
    nsmkit_hex_encode(b.data, b.len, got);
    snprintf(want, sizeof(want), "a9%s", small_payload_body);
    assert_string_equal(got, want);

    nsmkit_buf_reset(&b);
    p.map = NSMSIM_MAP_INDEFINITE;
    nsmsim_payload_encode(&p, &b);
    nsmkit_hex_encode(b.data, b.len, got);
    snprintf(want, sizeof(want), "bf%sff", small_payload_body); /* inner items stay definite */
    assert_string_equal(got, want);
    nsmkit_buf_free(&b);
}

static void envelope_layout_is_the_nsms(void **state)
{
    (void)state;
    uint8_t payload[300];
    memset(payload, 0x5a, sizeof(payload));
    nsmkit_buf doc;
    nsmkit_buf_init(&doc, 8192);
    assert_int_equal(nsmsim_cose_sign1_encode(payload, sizeof(payload), leaf, &doc), 0);
    /* 84 | 44 a1 01 38 22 | a0 | 59 012c <payload> | 58 60 <96 bytes> */
    assert_int_equal(doc.len, 1 + 5 + 1 + 3 + 300 + 2 + 96);
    assert_memory_equal(doc.data, "\x84\x44\xa1\x01\x38\x22\xa0\x59\x01\x2c", 10);
    assert_memory_equal(doc.data + 10, payload, 300);
    assert_memory_equal(doc.data + 310, "\x58\x60", 2);
    /* the well-formedness pre-pass agrees that this is one complete item */
    nsmkit_cbor_limits limits = {.max_depth = 4};
    assert_int_equal(nsmkit_cbor_check(doc.data, doc.len, &limits, NULL), NSMKIT_CBOR_OK);

    /* a small payload gets the one-byte length form: 58 LL */
    nsmkit_buf_reset(&doc);
    assert_int_equal(nsmsim_cose_sign1_encode(payload, 30, leaf, &doc), 0);
    assert_memory_equal(doc.data + 7, "\x58\x1e", 2);
    nsmkit_buf_free(&doc);
}

static void signature_verifies_over_the_sig_structure(void **state)
{
    (void)state;
    uint8_t payload[100];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)i;
    nsmkit_buf doc;
    nsmkit_buf_init(&doc, 8192);
    assert_int_equal(nsmsim_cose_sign1_encode(payload, sizeof(payload), leaf, &doc), 0);
    const uint8_t *sig = doc.data + doc.len - 96;

    /* Sig_structure built out in full here, hashed in one go */
    uint8_t structure[200];
    size_t n = 0;
    static const char prefix[] = "\x84\x6aSignature1\x44\xa1\x01\x38\x22\x40\x58\x64";
    memcpy(structure + n, prefix, sizeof(prefix) - 1);
    n += sizeof(prefix) - 1;
    memcpy(structure + n, payload, sizeof(payload));
    n += sizeof(payload);
    uint8_t digest[48], streamed[48];
    unsigned int dlen;
    assert_int_equal(EVP_Digest(structure, n, digest, &dlen, EVP_sha384(), NULL), 1);
    assert_int_equal(nsmsim_sig_structure_digest(nsmsim_protected_es384, 4, payload,
                                                 sizeof(payload), streamed), 0);
    assert_memory_equal(digest, streamed, 48);

    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 48, NULL), BN_bin2bn(sig + 48, 48, NULL));
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG(es, &der);
    size_t cert_len;
    const uint8_t *cert_der = nsmca_leaf_der(leaf, &cert_len);
    const unsigned char *p = cert_der;
    X509 *cert = d2i_X509(NULL, &p, (long)cert_len);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(X509_get0_pubkey(cert), NULL);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    assert_int_equal(EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, 48), 1);
    /* a payload that differs in one byte does not verify */
    payload[50] ^= 1;
    assert_int_equal(nsmsim_sig_structure_digest(nsmsim_protected_es384, 4, payload,
                                                 sizeof(payload), streamed), 0);
    assert_int_not_equal(EVP_PKEY_verify(ctx, der, (size_t)der_len, streamed, 48), 1);
    EVP_PKEY_CTX_free(ctx);
    X509_free(cert);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    nsmkit_buf_free(&doc);
}

static void signatures_are_fresh_each_time(void **state)
{
    (void)state;
    /* ECDSA with random k: the same payload signed twice gives two signatures */
    uint8_t payload[4] = {1, 2, 3, 4};
    nsmkit_buf a, b;
    nsmkit_buf_init(&a, 512);
    nsmkit_buf_init(&b, 512);
    assert_int_equal(nsmsim_cose_sign1_encode(payload, 4, leaf, &a), 0);
    assert_int_equal(nsmsim_cose_sign1_encode(payload, 4, leaf, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_not_equal(a.data + a.len - 96, b.data + b.len - 96, 96);
    nsmkit_buf_free(&a);
    nsmkit_buf_free(&b);
}

static void output_limit_is_an_error_not_an_overflow(void **state)
{
    (void)state;
    uint8_t payload[1000] = {0};
    nsmkit_buf small;
    nsmkit_buf_init(&small, 500);
    assert_int_equal(nsmsim_cose_sign1_encode(payload, sizeof(payload), leaf, &small), -1);
    assert_true(small.err);
    nsmkit_buf_free(&small);
}

/* The signature is nettle's (attest.c signs through the P-384 seam); OpenSSL's side of the
 * seam verifies it under the key in the leaf certificate, and a given nonce source makes
 * the document reproducible to the byte (what deterministic test vectors need). */
static int fixed_k(void *ctx, const uint8_t x[48], const uint8_t digest[48], uint8_t k[48])
{
    (void)x;
    (void)digest;
    memcpy(k, ctx, 48);
    return 0;
}

static void nettle_signs_and_a_nonce_source_reproduces(void **state)
{
    (void)state;
    uint8_t payload[64], k[48], digest[48];
    memset(payload, 0x42, sizeof(payload));
    memset(k, 0x17, sizeof(k));
    nsmkit_p384_nonce_source source = {fixed_k, k};
    nsmkit_buf doc[2];
    for (int i = 0; i < 2; i++) {
        nsmkit_buf_init(&doc[i], 1024);
        assert_int_equal(nsmsim_cose_sign1_encode_nonce(payload, sizeof(payload), leaf, &source,
                                                        &doc[i]),
                         0);
    }
    assert_int_equal(doc[0].len, doc[1].len);
    assert_memory_equal(doc[0].data, doc[1].data, doc[0].len);

    /* the leaf certificate's key (OpenSSL) verifies nettle's signature (OpenSSL) */
    size_t der_len;
    const unsigned char *der = nsmca_leaf_der(leaf, &der_len);
    X509 *x = d2i_X509(NULL, &der, (long)der_len);
    assert_non_null(x);
    const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);
    nsmkit_p384_public *key = NULL;
    assert_int_equal(nsmkit_p384_public_new(NSMKIT_P384_OPENSSL, ASN1_STRING_get0_data(bits),
                                            (size_t)ASN1_STRING_length(bits), &key),
                     NSMKIT_P384_OK);
    assert_int_equal(nsmsim_sig_structure_digest(nsmsim_protected_es384, 4, payload,
                                                 sizeof(payload), digest),
                     0);
    assert_int_equal(nsmkit_p384_verify(key, digest, doc[0].data + doc[0].len - 96),
                     NSMKIT_P384_OK);
    nsmkit_buf_free(&doc[1]);
    nsmkit_buf_init(&doc[1], 1024);
    assert_int_equal(nsmsim_cose_sign1_encode(payload, sizeof(payload), leaf, &doc[1]), 0);
    assert_int_equal(nsmkit_p384_verify(key, digest, doc[1].data + doc[1].len - 96),
                     NSMKIT_P384_OK);
    assert_memory_not_equal(doc[0].data + doc[0].len - 96, doc[1].data + doc[1].len - 96, 96);
    nsmkit_p384_public_free(key);
    X509_free(x);
    nsmkit_buf_free(&doc[0]);
    nsmkit_buf_free(&doc[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(payload_bytes_are_exact_in_both_encodings),
        cmocka_unit_test(envelope_layout_is_the_nsms),
        cmocka_unit_test(signature_verifies_over_the_sig_structure),
        cmocka_unit_test(signatures_are_fresh_each_time),
        cmocka_unit_test(output_limit_is_an_error_not_an_overflow),
        cmocka_unit_test(nettle_signs_and_a_nonce_source_reproduces),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
