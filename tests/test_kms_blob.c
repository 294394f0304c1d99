/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms CiphertextBlob (AES-256-GCM, key id and context bound in) and base64. */
#include <stdlib.h>
#include <string.h>

#include "../kms/base64.h"
#include "../kms/blob.h"
#include "testutil.h"

static const char key_a[] = "11111111-2222-4333-8444-555555555555";
static const char key_b[] = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

static void material(uint8_t out[KMS_KEY_MATERIAL_LEN], uint8_t seed)
{
    for (size_t i = 0; i < KMS_KEY_MATERIAL_LEN; i++)
        out[i] = (uint8_t)(seed + i);
}

static int opens(const uint8_t m[KMS_KEY_MATERIAL_LEN], const uint8_t *blob, size_t len,
                 const char *context, const char *want)
{
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    nsmkit_error e;
    nsmkit_bytes ctx = context != NULL ? nsmkit_bytes_of(context, strlen(context)) : NSMKIT_BYTES_NONE;
    if (kms_blob_open(m, nsmkit_bytes_of(blob, len), ctx, &plain, &plain_len, &e) != 0)
        return 0;
    int same = want != NULL && plain_len == strlen(want) && memcmp(plain, want, plain_len) == 0;
    free(plain);
    return same ? 1 : -1;
}

static void test_round_trip_and_binding(void **state)
{
    (void)state;
    uint8_t ma[KMS_KEY_MATERIAL_LEN], mb[KMS_KEY_MATERIAL_LEN];
    material(ma, 1);
    material(mb, 2);
    const char *secret = "the enclave's secret";
    const char *ctx = "{\"purpose\":\"test\"}";
    uint8_t *blob = NULL;
    size_t len = 0;
    nsmkit_error e;
    assert_int_equal(kms_blob_seal(ma, key_a, nsmkit_bytes_of(ctx, strlen(ctx)),
                                   nsmkit_bytes_of(secret, strlen(secret)), &blob, &len, &e), 0);
    assert_int_equal(len, KMS_BLOB_OVERHEAD + strlen(secret));
    char id[KMS_KEY_ID_LEN + 1];
    assert_int_equal(kms_blob_key_id(nsmkit_bytes_of(blob, len), id, &e), 0);
    assert_string_equal(id, key_a);
    assert_int_equal(opens(ma, blob, len, ctx, secret), 1);
    /* another key's material, another context, no context */
    assert_int_equal(opens(mb, blob, len, ctx, secret), 0);
    assert_int_equal(opens(ma, blob, len, "{\"purpose\":\"other\"}", secret), 0);
    assert_int_equal(opens(ma, blob, len, NULL, secret), 0);
    /* every single flipped bit, anywhere in the blob, fails (or names no key) */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            blob[i] ^= (uint8_t)(1u << bit);
            if (opens(ma, blob, len, ctx, secret) != 0)
                fail_msg("a blob with byte %zu bit %d flipped opened", i, bit);
            blob[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* the key id rewritten to another well-formed id: the GCM tag refuses it */
    memcpy(blob + 5, key_b, KMS_KEY_ID_LEN);
    assert_int_equal(kms_blob_key_id(nsmkit_bytes_of(blob, len), id, &e), 0);
    assert_string_equal(id, key_b);
    assert_int_equal(opens(ma, blob, len, ctx, secret), 0);
    assert_int_equal(opens(mb, blob, len, ctx, secret), 0);
    memcpy(blob + 5, key_a, KMS_KEY_ID_LEN);
    /* truncated by one byte and at the header */
    assert_int_equal(opens(ma, blob, len - 1, ctx, secret), 0);
    assert_int_equal(kms_blob_key_id(nsmkit_bytes_of(blob, KMS_BLOB_OVERHEAD - 1), id, &e), -1);
    free(blob);
}

static void test_shapes(void **state)
{
    (void)state;
    uint8_t m[KMS_KEY_MATERIAL_LEN];
    material(m, 7);
    uint8_t *blob = NULL;
    size_t len = 0;
    nsmkit_error e;
    /* an empty plaintext seals and opens */
    assert_int_equal(kms_blob_seal(m, key_a, NSMKIT_BYTES_NONE, NSMKIT_BYTES_NONE, &blob, &len, &e), 0);
    assert_int_equal(opens(m, blob, len, NULL, ""), 1);
    /* magic and version */
    char id[KMS_KEY_ID_LEN + 1];
    blob[0] = 'X';
    assert_int_equal(kms_blob_key_id(nsmkit_bytes_of(blob, len), id, &e), -1);
    assert_non_null(strstr(e.msg, "not an nsm-kms blob"));
    blob[0] = 'N';
    blob[4] = 2;
    assert_int_equal(kms_blob_key_id(nsmkit_bytes_of(blob, len), id, &e), -1);
    blob[4] = 1;
    blob[5] = 'G'; /* not hex */
    assert_int_equal(kms_blob_key_id(nsmkit_bytes_of(blob, len), id, &e), -1);
    assert_non_null(strstr(e.msg, "no valid key id"));
    free(blob);
    /* limits */
    static uint8_t big[KMS_PLAINTEXT_MAX + 1];
    assert_int_equal(kms_blob_seal(m, key_a, NSMKIT_BYTES_NONE, nsmkit_bytes_of(big, sizeof(big)),
                                   &blob, &len, &e), -1);
    assert_int_equal(kms_blob_seal(m, "not-a-key", NSMKIT_BYTES_NONE, NSMKIT_BYTES_NONE, &blob,
                                   &len, &e), -1);
    static uint8_t huge[KMS_BLOB_MAX + 1];
    memcpy(huge, "NKMS\001", 5);
    memcpy(huge + 5, key_a, KMS_KEY_ID_LEN);
    assert_int_equal(kms_blob_key_id(nsmkit_bytes_of(huge, sizeof(huge)), id, &e), -1);
    assert_non_null(strstr(e.msg, "over"));
    assert_true(kms_key_id_valid(key_a, strlen(key_a)));
    assert_false(kms_key_id_valid("11111111-2222-4333-8444-55555555555", 35));
    assert_false(kms_key_id_valid("11111111-2222-4333-8444-55555555555A", 36));
    assert_false(kms_key_id_valid("11111111x2222-4333-8444-555555555555", 36));
}

static void decodes(const char *text, const char *want)
{
    uint8_t *out = NULL;
    size_t len = 0;
    nsmkit_error e;
    if (kms_base64_decode(text, strlen(text), 1024, &out, &len, &e) != 0)
        fail_msg("\"%s\" refused: %s", text, e.msg);
    if (len != strlen(want) || memcmp(out, want, len) != 0)
        fail_msg("\"%s\" decoded wrongly", text);
    free(out);
}

static void refuses(const char *text, size_t max, const char *reason)
{
    uint8_t *out = NULL;
    size_t len = 0;
    nsmkit_error e;
    if (kms_base64_decode(text, strlen(text), max, &out, &len, &e) == 0) {
        free(out);
        fail_msg("\"%s\" accepted", text);
    }
    if (strstr(e.msg, reason) == NULL)
        fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", text, e.msg, reason);
}

static void test_base64(void **state)
{
    (void)state;
    decodes("", "");
    decodes("aGVsbG8=", "hello");
    decodes("aGVsbG8h", "hello!");
    decodes("aGk=", "hi");
    decodes("YQ==", "a");
    refuses("aGVsbG8", 1024, "multiple of 4");
    refuses("aGVs bG8=", 1024, "multiple of 4");
    refuses("aGV\nbG8=", 1024, "outside the alphabet");
    refuses("aGVs*G8=", 1024, "outside the alphabet");
    refuses("aG==bG8=", 1024, "outside the alphabet");
    refuses("a===", 1024, "outside the alphabet");
    refuses("aGVsbG8h", 5, "over the limit");
    /* URL-safe alphabet is not KMS's */
    refuses("aGVsbG8-", 1024, "outside the alphabet");
    char *text = kms_base64_encode((const uint8_t *)"hello", 5);
    assert_string_equal(text, "aGVsbG8=");
    free(text);
    text = kms_base64_encode((const uint8_t *)"", 0);
    assert_string_equal(text, "");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_binding),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
