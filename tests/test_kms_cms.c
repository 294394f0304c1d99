/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CiphertextForRecipient byte parity (kms/cms.c): the blob has, byte for byte, the framing of
 * a public capture of a real KMS answer (a 32-byte data key to an RSA-2048 key), differing
 * only where the key identifier, encrypted key, IV and ciphertext go; it opens with a strict
 * reader that refuses what AWS's enclave SDK refuses (examples/kms-recipient/cms_open.c) and
 * with OpenSSL's CMS; the DER re-encoding of the same message, and a recipient named by
 * another identifier, are refused by the strict reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "../examples/kms-recipient/cms_open.h"
#include "../kms/cms.h"

/* The capture's bytes outside the variable fields, as offset ranges: what KMS wrote
 * around a 32-byte secret for an RSA-2048 recipient (493 bytes in all). */
static const char capture_head_hex[] = /* offsets 0..32 */
    "3080" "06092a864886f70d010703" "a080" "3080" "020102" "3182016b" "30820167" "020102" "8020";
static const char capture_alg_hex[] = /* offsets 65..130: rsaesOaep params, encryptedKey head */
    "303c06092a864886f70d010107302fa00f300d06096086480165030402010500"
    "a11c301a06092a864886f70d010108300d06096086480165030402010500" "04820100";
static const char capture_content_hex[] = /* offsets 387..414: EncryptedContentInfo to the IV */
    "3080" "06092a864886f70d010701" "301d" "060960864801650304012a" "0410";
static const char capture_pieces_hex[] = "a0800430"; /* offsets 431..434 */
static const char capture_tail_hex[] = "00000000000000000000"; /* offsets 483..492 */

static EVP_PKEY *rsa_key(int bits)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
    EVP_PKEY *key = NULL;
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits), 1);
    assert_int_equal(EVP_PKEY_keygen(ctx, &key), 1);
    EVP_PKEY_CTX_free(ctx);
    return key;
}

static void seal(EVP_PKEY *key, const uint8_t *secret, size_t len, uint8_t **blob,
                 size_t *blob_len)
{
    unsigned char *spki = NULL;
    int spki_len = i2d_PUBKEY(key, &spki);
    assert_true(spki_len > 0);
    nsmkit_error e;
    if (kms_cms_seal(key, (nsmkit_bytes){spki, (size_t)spki_len}, (nsmkit_bytes){secret, len},
                     blob, blob_len, &e) != 0)
        fail_msg("kms_cms_seal: %s", e.msg);
    OPENSSL_free(spki);
}

static void expect_hex_at(const uint8_t *blob, size_t at, const char *hex)
{
    size_t n = strlen(hex);
    assert_int_equal(n % 2, 0);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        if (blob[at + i] != v)
            fail_msg("byte %zu is %02x, KMS's capture has %02x there", at + i, blob[at + i], v);
    }
}

static void test_framing_is_kms_byte_for_byte(void **state)
{
    (void)state;
    EVP_PKEY *key = rsa_key(2048);
    uint8_t secret[32], *blob = NULL;
    size_t len = 0;
    RAND_bytes(secret, sizeof(secret));
    seal(key, secret, sizeof(secret), &blob, &len);
    assert_int_equal(len, 493);
    expect_hex_at(blob, 0, capture_head_hex);
    expect_hex_at(blob, 65, capture_alg_hex);
    expect_hex_at(blob, 387, capture_content_hex);
    expect_hex_at(blob, 431, capture_pieces_hex);
    expect_hex_at(blob, 483, capture_tail_hex);
    /* the identifier is the SHA-256 of the DER SubjectPublicKeyInfo */
    unsigned char *spki = NULL;
    int spki_len = i2d_PUBKEY(key, &spki);
    uint8_t ski[32];
    unsigned int n = 0;
    EVP_Digest(spki, (size_t)spki_len, ski, &n, EVP_sha256(), NULL);
    assert_memory_equal(blob + 33, ski, 32);
    OPENSSL_free(spki);
    free(blob);
    EVP_PKEY_free(key);
}

static void opens_both_ways(EVP_PKEY *key, const uint8_t *secret, size_t len)
{
    uint8_t *blob = NULL, *out = NULL;
    size_t blob_len = 0, out_len = 0;
    char err[256];
    seal(key, secret, len, &blob, &blob_len);
    if (cms_open(blob, blob_len, key, &out, &out_len, err, sizeof(err)) != 0)
        fail_msg("strict reader: %s", err);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, secret, len);
    free(out);
    const unsigned char *p = blob;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)blob_len);
    assert_non_null(cms);
    assert_ptr_equal(p, blob + blob_len);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(CMS_decrypt(cms, key, NULL, NULL, bio, CMS_BINARY), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    assert_int_equal((size_t)n, len);
    assert_memory_equal(data, secret, len);
    BIO_free(bio);
    CMS_ContentInfo_free(cms);
    free(blob);
}

static void test_opens_with_the_strict_reader_and_openssl(void **state)
{
    (void)state;
    static const int sizes[] = {2048, 3072, 4096};
    /* 1 byte, a block, one piece exactly, several pieces (an RSA-4096 private key's size) */
    static const size_t lengths[] = {1, 16, 999, KMS_CMS_CHUNK, 2500};
    uint8_t secret[2500];
    RAND_bytes(secret, sizeof(secret));
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        EVP_PKEY *key = rsa_key(sizes[k]);
        for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++)
            opens_both_ways(key, secret, lengths[i]);
        EVP_PKEY_free(key);
    }
}

static void expect_refused(const uint8_t *blob, size_t len, EVP_PKEY *key, const char *why)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    char err[256] = "";
    assert_int_equal(cms_open(blob, len, key, &out, &out_len, err, sizeof(err)), -1);
    assert_null(out);
    if (strstr(err, why) == NULL)
        fail_msg("refused for \"%s\", want \"%s\"", err, why);
}

static void test_the_strict_reader_refuses_other_forms(void **state)
{
    (void)state;
    EVP_PKEY *key = rsa_key(2048), *other = rsa_key(2048);
    uint8_t secret[32], *blob = NULL;
    size_t len = 0;
    RAND_bytes(secret, sizeof(secret));
    seal(key, secret, sizeof(secret), &blob, &len);
    /* the same message as DER (what nsm-kms sent before): AWS's SDK cannot read it */
    const unsigned char *p = blob;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    unsigned char *der = NULL;
    int der_len = i2d_CMS_ContentInfo(cms, &der);
    assert_true(der_len > 0);
    assert_int_equal(der[1], 0x82);
    expect_refused(der, (size_t)der_len, key, "start 30 80");
    /* another enclave's key: the identifier is not its SHA-256 */
    expect_refused(blob, len, other, "not the SHA-256 of this enclave's key");
    /* truncations and flipped bytes never crash and never open */
    for (size_t cut = 0; cut < len; cut += 7)
        expect_refused(blob, cut, key, "");
    uint8_t *copy = malloc(len);
    memcpy(copy, blob, len);
    copy[len - 40] ^= 0x01; /* the ciphertext */
    uint8_t *out = NULL;
    size_t out_len = 0;
    char err[256];
    if (cms_open(copy, len, key, &out, &out_len, err, sizeof(err)) == 0) {
        /* CBC without authentication may decrypt to other bytes; never to the secret */
        assert_false(out_len == sizeof(secret) && memcmp(out, secret, out_len) == 0);
        free(out);
    }
    free(copy);
    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    free(blob);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_is_kms_byte_for_byte),
        cmocka_unit_test(test_opens_with_the_strict_reader_and_openssl),
        cmocka_unit_test(test_the_strict_reader_refuses_other_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
