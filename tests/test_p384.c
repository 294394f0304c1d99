/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The P-384 seam (common/p384*.c): both implementations sign and verify, each verifies
 * what the other signs (random messages, and every real document's COSE signature),
 * they agree on a given nonce to the byte, and they refuse the same bad keys, bad
 * signatures and bad nonces with the same status.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "testutil.h"
#include "nsmkit/cbor.h"
#include "nsmkit/hex.h"
#include "nsmkit/p384.h"
#include "nsmkit/sim.h"
#include "nsmkit/det_sign.h"

static const nsmkit_p384_impl impls[NSMKIT_P384_IMPL_COUNT] = {NSMKIT_P384_NETTLE,
                                                               NSMKIT_P384_OPENSSL};

/* The P-384 generator G, as a SEC1 point: a public key on the curve (of the scalar 1). */
static const char generator_hex[] =
    "04aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e"
    "3872760ab73617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e81"
    "9d7a431d7c90ea0e5f";

static void random_scalar(uint8_t k[48])
{
    do
        assert_int_equal(RAND_bytes(k, 48), 1);
    while (!nsmkit_p384_scalar_in_range(k));
}

static nsmkit_p384_public *public_from_hex(nsmkit_p384_impl impl, const char *hex)
{
    size_t len;
    uint8_t *b = test_hex(hex, &len);
    nsmkit_p384_public *key = NULL;
    assert_int_equal(nsmkit_p384_public_new(impl, b, len, &key), NSMKIT_P384_OK);
    free(b);
    return key;
}

/* Both implementations on the same input: the same status, which is returned. */
static nsmkit_p384_status public_status(const uint8_t *sec1, size_t len)
{
    nsmkit_p384_status first = NSMKIT_P384_OK;
    for (size_t i = 0; i < NSMKIT_P384_IMPL_COUNT; i++) {
        nsmkit_p384_public *key = NULL;
        nsmkit_p384_status st = nsmkit_p384_public_new(impls[i], sec1, len, &key);
        assert_true((st == NSMKIT_P384_OK) == (key != NULL));
        nsmkit_p384_public_free(key);
        if (i == 0)
            first = st;
        else if (st != first)
            fail_msg("%s says %s, %s says %s", nsmkit_p384_impl_name(impls[0]),
                     nsmkit_p384_status_name(first), nsmkit_p384_impl_name(impls[i]),
                     nsmkit_p384_status_name(st));
    }
    return first;
}

/* ---- sign and verify, across implementations ------------------------------------------------ */

static void each_verifies_what_the_other_signs(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        uint8_t scalar[48], digest[48], sec1[2][97];
        nsmkit_p384_private *priv[2];
        nsmkit_p384_public *pub[2];
        random_scalar(scalar);
        assert_int_equal(RAND_bytes(digest, sizeof(digest)), 1);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(nsmkit_p384_private_new(impls[i], scalar, &priv[i]), NSMKIT_P384_OK);
            assert_int_equal(nsmkit_p384_private_public(priv[i], sec1[i]), NSMKIT_P384_OK);
        }
        assert_memory_equal(sec1[0], sec1[1], 97); /* the same public key from both */
        for (int i = 0; i < 2; i++)
            assert_int_equal(nsmkit_p384_public_new(impls[i], sec1[0], 97, &pub[i]),
                             NSMKIT_P384_OK);
        for (int signer = 0; signer < 2; signer++) {
            uint8_t sig[96];
            assert_int_equal(nsmkit_p384_sign(priv[signer], digest, NULL, sig), NSMKIT_P384_OK);
            for (int checker = 0; checker < 2; checker++) {
                assert_int_equal(nsmkit_p384_verify(pub[checker], digest, sig), NSMKIT_P384_OK);
                digest[round % 48] ^= 0x01; /* another message */
                assert_int_equal(nsmkit_p384_verify(pub[checker], digest, sig),
                                 NSMKIT_P384_SIGNATURE_INVALID);
                digest[round % 48] ^= 0x01;
                sig[95] ^= 0x01; /* another s */
                assert_int_equal(nsmkit_p384_verify(pub[checker], digest, sig),
                                 NSMKIT_P384_SIGNATURE_INVALID);
                sig[95] ^= 0x01;
            }
        }
        for (int i = 0; i < 2; i++) {
            nsmkit_p384_private_free(priv[i]);
            nsmkit_p384_public_free(pub[i]);
        }
    }
}

/* A nonce source that returns the k it was given (or fails). */
typedef struct {
    const uint8_t *k;
    int calls;
    const uint8_t *x; /* the scalar expected, or NULL */
} fixed_nonce;

static int give_k(void *ctx, const uint8_t x[48], const uint8_t digest[48], uint8_t k[48])
{
    (void)digest;
    fixed_nonce *f = ctx;
    if (f->x)
        assert_memory_equal(x, f->x, 48); /* the signing key's scalar reaches the source */
    f->calls++;
    if (!f->k)
        return -1;
    memcpy(k, f->k, 48);
    return 0;
}

static void a_given_nonce_gives_the_same_signature_in_both(void **state)
{
    (void)state;
    uint8_t scalar[48], digest[48], k[48], sig[2][96];
    random_scalar(scalar);
    random_scalar(k);
    assert_int_equal(RAND_bytes(digest, sizeof(digest)), 1);
    fixed_nonce f = {k, 0, scalar};
    nsmkit_p384_nonce_source source = {give_k, &f};
    for (int i = 0; i < 2; i++) {
        nsmkit_p384_private *priv;
        uint8_t sec1[97];
        nsmkit_p384_public *pub;
        assert_int_equal(nsmkit_p384_private_new(impls[i], scalar, &priv), NSMKIT_P384_OK);
        assert_int_equal(nsmkit_p384_sign(priv, digest, &source, sig[i]), NSMKIT_P384_OK);
        assert_int_equal(nsmkit_p384_private_public(priv, sec1), NSMKIT_P384_OK);
        assert_int_equal(nsmkit_p384_public_new(impls[1 - i], sec1, 97, &pub), NSMKIT_P384_OK);
        assert_int_equal(nsmkit_p384_verify(pub, digest, sig[i]), NSMKIT_P384_OK);
        nsmkit_p384_public_free(pub);

        /* a source that fails, or gives 0, n or more: refused, nothing signed */
        static const uint8_t zero[48];
        uint8_t above[48];
        memset(above, 0xff, sizeof(above));
        const uint8_t *bad[] = {NULL, zero, nsmkit_p384_order, above};
        for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
            fixed_nonce fb = {bad[b], 0, NULL};
            nsmkit_p384_nonce_source bad_source = {give_k, &fb};
            uint8_t out[96];
            assert_int_equal(nsmkit_p384_sign(priv, digest, &bad_source, out),
                             NSMKIT_P384_NONCE);
            assert_int_equal(fb.calls, 1);
        }
        nsmkit_p384_nonce_source no_fn = {NULL, NULL};
        assert_int_equal(nsmkit_p384_sign(priv, digest, &no_fn, sig[i]), NSMKIT_P384_NONCE);
        assert_int_equal(nsmkit_p384_sign(priv, digest, &source, sig[i]), NSMKIT_P384_OK);
        nsmkit_p384_private_free(priv);
    }
    assert_int_equal(f.calls, 4);
    assert_memory_equal(sig[0], sig[1], 96); /* r and s to the byte */
}

/* The RFC 6979 derivation of the fault generator (common/det_sign.c) plugged into the
 * seam's nonce source: nettle and OpenSSL then give the fault generator's own
 * deterministic signature, byte for byte. */
static int rfc6979_source(void *ctx, const uint8_t x[48], const uint8_t digest[48],
                          uint8_t k[48])
{
    return nsmkit_rfc6979_k_p384(x, digest, k, ctx);
}

static void rfc6979_through_the_seam_matches_the_fault_generator(void **state)
{
    (void)state;
    nsmkit_error e;
    nsmkit_p384_nonce_source source = {rfc6979_source, &e};
    for (int round = 0; round < 5; round++) {
        EVP_PKEY *key = EVP_EC_gen("P-384");
        BIGNUM *d = NULL;
        uint8_t scalar[48], digest[48], want[96], got[96];
        assert_non_null(key);
        assert_int_equal(EVP_PKEY_get_bn_param(key, "priv", &d), 1);
        assert_int_equal(BN_bn2binpad(d, scalar, 48), 48);
        assert_int_equal(RAND_bytes(digest, sizeof(digest)), 1);
        assert_int_equal(nsmkit_sign_p384_det(key, digest, want, &e), 0);
        for (size_t i = 0; i < NSMKIT_P384_IMPL_COUNT; i++) {
            nsmkit_p384_private *priv = NULL;
            assert_int_equal(nsmkit_p384_private_new(impls[i], scalar, &priv), NSMKIT_P384_OK);
            assert_int_equal(nsmkit_p384_sign(priv, digest, &source, got), NSMKIT_P384_OK);
            assert_memory_equal(got, want, 96);
            nsmkit_p384_private_free(priv);
        }
        BN_clear_free(d);
        EVP_PKEY_free(key);
    }
}

/* ---- bad input, refused alike --------------------------------------------------------------- */

static void bad_public_keys_are_refused_alike(void **state)
{
    (void)state;
    size_t len;
    uint8_t *g = test_hex(generator_hex, &len);
    uint8_t k[98];
    assert_int_equal(len, 97);
    assert_int_equal(public_status(g, 97), NSMKIT_P384_OK);

    /* not on the curve: y + 1, and (0, 0) */
    memcpy(k, g, 97);
    k[96] ^= 0x01;
    assert_int_equal(public_status(k, 97), NSMKIT_P384_KEY_NOT_ON_CURVE);
    memset(k, 0, 97);
    k[0] = 0x04;
    assert_int_equal(public_status(k, 97), NSMKIT_P384_KEY_NOT_ON_CURVE);
    /* a coordinate that is p or more (x + p would be the same point modulo p) */
    memcpy(k, g, 97);
    memset(k + 1, 0xff, 48);
    assert_int_equal(public_status(k, 97), NSMKIT_P384_KEY_NOT_ON_CURVE);
    memcpy(k, g, 97);
    memset(k + 49, 0xff, 48);
    assert_int_equal(public_status(k, 97), NSMKIT_P384_KEY_NOT_ON_CURVE);
    /* the point at infinity: 00 alone, or 00 and zeros */
    k[0] = 0x00;
    assert_int_equal(public_status(k, 1), NSMKIT_P384_KEY_FORMAT);
    memset(k, 0, 97);
    assert_int_equal(public_status(k, 97), NSMKIT_P384_KEY_FORMAT);
    /* compressed (02/03 || x) and hybrid (06/07 || x || y) */
    memcpy(k, g, 49);
    k[0] = 0x02 | (g[96] & 1);
    assert_int_equal(public_status(k, 49), NSMKIT_P384_KEY_FORMAT);
    memcpy(k, g, 97);
    k[0] = 0x06 | (g[96] & 1);
    assert_int_equal(public_status(k, 97), NSMKIT_P384_KEY_FORMAT);
    /* the wrong length */
    memcpy(k, g, 97);
    assert_int_equal(public_status(k, 96), NSMKIT_P384_KEY_LENGTH);
    k[97] = 0;
    assert_int_equal(public_status(k, 98), NSMKIT_P384_KEY_LENGTH);
    assert_int_equal(public_status(k, 0), NSMKIT_P384_KEY_LENGTH);
    assert_int_equal(public_status(NULL, 97), NSMKIT_P384_KEY_LENGTH);
    /* a P-256 point (65 bytes) */
    assert_int_equal(public_status(k, 65), NSMKIT_P384_KEY_LENGTH);
    free(g);

    nsmkit_p384_public *key = NULL;
    assert_int_equal(nsmkit_p384_public_new((nsmkit_p384_impl)7, k, 97, &key),
                     NSMKIT_P384_BAD_IMPL);
    assert_null(key);
}

static void bad_signatures_are_refused_alike(void **state)
{
    (void)state;
    static const uint8_t zero[48];
    uint8_t above[48], n_minus_1[48], digest[48] = {1};
    memset(above, 0xff, sizeof(above));
    memcpy(n_minus_1, nsmkit_p384_order, 48);
    n_minus_1[47]--;
    const struct {
        const uint8_t *v;
        nsmkit_p384_status st;
    } values[] = {{zero, NSMKIT_P384_SIGNATURE_VALUE},
                  {nsmkit_p384_order, NSMKIT_P384_SIGNATURE_VALUE},
                  {above, NSMKIT_P384_SIGNATURE_VALUE},
                  {n_minus_1, NSMKIT_P384_SIGNATURE_INVALID}};
    for (size_t i = 0; i < NSMKIT_P384_IMPL_COUNT; i++) {
        nsmkit_p384_public *key = public_from_hex(impls[i], generator_hex);
        for (int which = 0; which < 2; which++)
            for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
                uint8_t sig[96];
                memset(sig, 0x11, sizeof(sig)); /* the other scalar in range */
                memcpy(sig + 48 * which, values[v].v, 48);
                assert_int_equal(nsmkit_p384_verify(key, digest, sig), values[v].st);
            }
        nsmkit_p384_public_free(key);
    }
}

static void bad_private_keys_are_refused_alike(void **state)
{
    (void)state;
    static const uint8_t zero[48];
    uint8_t above[48];
    memset(above, 0xff, sizeof(above));
    const uint8_t *bad[] = {zero, nsmkit_p384_order, above};
    for (size_t i = 0; i < NSMKIT_P384_IMPL_COUNT; i++)
        for (size_t b = 0; b < 3; b++) {
            nsmkit_p384_private *key = NULL;
            assert_int_equal(nsmkit_p384_private_new(impls[i], bad[b], &key),
                             NSMKIT_P384_PRIVATE_KEY);
            assert_null(key);
        }
    /* the scalar 1 has the generator as its public key, in both */
    uint8_t one[48] = {0}, sec1[97];
    one[47] = 1;
    size_t len;
    uint8_t *g = test_hex(generator_hex, &len);
    for (size_t i = 0; i < NSMKIT_P384_IMPL_COUNT; i++) {
        nsmkit_p384_private *key = NULL;
        assert_int_equal(nsmkit_p384_private_new(impls[i], one, &key), NSMKIT_P384_OK);
        assert_int_equal(nsmkit_p384_private_public(key, sec1), NSMKIT_P384_OK);
        assert_memory_equal(sec1, g, 97);
        nsmkit_p384_private_free(key);
    }
    free(g);
    assert_string_equal(nsmkit_p384_status_name(NSMKIT_P384_KEY_NOT_ON_CURVE), "KEY_NOT_ON_CURVE");
    assert_string_equal(nsmkit_p384_status_name((nsmkit_p384_status)99), "?");
}

/* ---- every real document, both ways ---------------------------------------------------------- */

/* The COSE digest, signature and leaf key of a real document; false when it is not the
 * shape this test reads (the verifier's tests cover those). */
static bool document_parts(const uint8_t *doc, size_t len, uint8_t digest[48], uint8_t sig[96],
                           uint8_t *pub, size_t *pub_len)
{
    struct cbor_load_result res;
    cbor_item_t *root = cbor_load(doc, len, &res), *payload = NULL;
    bool ok = false;
    cbor_item_t *arr = root && cbor_isa_tag(root) ? cbor_tag_item(root) : NULL;
    cbor_item_t *a = arr ? arr : root;
    if (!a || !cbor_isa_array(a) || cbor_array_size(a) != 4)
        goto out;
    cbor_item_t **items = cbor_array_handle(a);
    if (!cbor_isa_bytestring(items[0]) || !cbor_isa_bytestring(items[2]) ||
        !cbor_isa_bytestring(items[3]) || cbor_bytestring_length(items[3]) != 96)
        goto out;
    memcpy(sig, cbor_bytestring_handle(items[3]), 96);
    if (nsmsim_sig_structure_digest(cbor_bytestring_handle(items[0]),
                                    cbor_bytestring_length(items[0]),
                                    cbor_bytestring_handle(items[2]),
                                    cbor_bytestring_length(items[2]), digest) != 0)
        goto out;
    payload = cbor_load(cbor_bytestring_handle(items[2]), cbor_bytestring_length(items[2]), &res);
    static const char *const names[] = {"certificate"};
    const cbor_item_t *cert = NULL;
    if (!payload || nsmkit_cbor_map_fields_lenient(payload, names, 1, &cert) != NSMKIT_MAP_OK ||
        !cert || !cbor_isa_bytestring(cert))
        goto out;
    const unsigned char *p = cbor_bytestring_handle(cert);
    X509 *x = d2i_X509(NULL, &p, (long)cbor_bytestring_length(cert));
    const ASN1_BIT_STRING *bits = x ? X509_get0_pubkey_bitstr(x) : NULL;
    if (bits && ASN1_STRING_length(bits) <= 133) {
        *pub_len = (size_t)ASN1_STRING_length(bits);
        memcpy(pub, ASN1_STRING_get0_data(bits), *pub_len);
        ok = true;
    }
    X509_free(x);
out:
    if (arr)
        cbor_decref(&arr);
    if (payload)
        cbor_decref(&payload);
    if (root)
        cbor_decref(&root);
    return ok;
}

static void every_real_document_verifies_in_both(void **state)
{
    (void)state;
    const char *shared = test_shared_dir();
    if (!shared)
        test_skip("../shared/vectors/real not present: real signatures not cross-checked");
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/vectors/real", shared);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *ent;
    size_t seen = 0;
    while ((ent = readdir(d)) != NULL) {
        size_t n = strlen(ent->d_name);
        if (n < 5 || strcmp(ent->d_name + n - 4, ".bin") != 0)
            continue;
        char path[8400];
        size_t len, pub_len = 0;
        snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
        uint8_t *doc = test_read_file(path, &len);
        uint8_t digest[48], sig[96], pub[133];
        assert_true(document_parts(doc, len, digest, sig, pub, &pub_len));
        for (size_t i = 0; i < NSMKIT_P384_IMPL_COUNT; i++) {
            nsmkit_p384_public *key = NULL;
            assert_int_equal(nsmkit_p384_public_new(impls[i], pub, pub_len, &key), NSMKIT_P384_OK);
            assert_int_equal(nsmkit_p384_verify(key, digest, sig), NSMKIT_P384_OK);
            digest[0] ^= 0x80;
            assert_int_equal(nsmkit_p384_verify(key, digest, sig), NSMKIT_P384_SIGNATURE_INVALID);
            digest[0] ^= 0x80;
            nsmkit_p384_public_free(key);
        }
        free(doc);
        seen++;
    }
    closedir(d);
    print_message("  %zu real documents, both implementations\n", seen);
    assert_true(seen >= 17);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_verifies_what_the_other_signs),
        cmocka_unit_test(a_given_nonce_gives_the_same_signature_in_both),
        cmocka_unit_test(rfc6979_through_the_seam_matches_the_fault_generator),
        cmocka_unit_test(bad_public_keys_are_refused_alike),
        cmocka_unit_test(bad_signatures_are_refused_alike),
        cmocka_unit_test(bad_private_keys_are_refused_alike),
        cmocka_unit_test(every_real_document_verifies_in_both),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
