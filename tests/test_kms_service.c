/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms operations without the transport: request validation (every malformed field a
 * KMS-shaped error), keys, aliases, blobs, policies, and Recipient with documents from the
 * verifier's fixture PKI (verified at the fixture's time). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../kms/base64.h"
#include "../kms/service.h"
#include "../kms/store.h"
#include "verify_fixture.h"

typedef struct {
    vfx *fx;
    char *dir;
    kms_store *store;
    kms_service service;
    EVP_PKEY *rsa;          /* the enclave's key pair */
    uint8_t *spki;          /* its public key, DER */
    int spki_len;
    char pcr0_hex[NSMV_PCR_LEN * 2 + 1];
} kfx;

static kfx *K;

static int setup(void **state)
{
    if (vfx_setup(state) != 0)
        return -1;
    K = calloc(1, sizeof(*K));
    K->fx = *state;
    K->dir = test_mkdtemp();
    char path[512];
    snprintf(path, sizeof(path), "%s/state", K->dir);
    nsmkit_error e;
    if (kms_store_open(path, "us-east-1", KMS_DEFAULT_ACCOUNT, &K->store, &e) != 0)
        return -1;
    K->service = (kms_service){.store = K->store, .verifier = K->fx->verifier,
                               .verify_time_s = VFX_VERIFY_S};
    K->rsa = EVP_RSA_gen(2048);
    K->spki = NULL;
    K->spki_len = i2d_PUBKEY(K->rsa, &K->spki);
    for (size_t i = 0; i < NSMV_PCR_LEN; i++)
        snprintf(K->pcr0_hex + 2 * i, 3, "%02x", K->fx->pcr_values[0][i]);
    return K->spki_len > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    kms_store_close(K->store);
    test_rmdir(K->dir);
    free(K->dir);
    OPENSSL_free(K->spki);
    EVP_PKEY_free(K->rsa);
    free(K);
    return vfx_teardown(state);
}

/* Runs op with a JSON body (printf-style); returns the parsed answer (caller decrefs) and
 * the code. */
static json_t *call(const char *op, kms_code *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static json_t *call(const char *op, kms_code *code, const char *fmt, ...)
{
    char *body = NULL;
    va_list ap;
    va_start(ap, fmt);
    assert_true(vasprintf(&body, fmt, ap) >= 0);
    va_end(ap);
    kms_response r;
    kms_service_handle(&K->service, op, nsmkit_bytes_of(body, strlen(body)), &r);
    free(body);
    json_error_t jerr;
    json_t *answer = json_loadb(r.body, r.len, 0, &jerr);
    if (answer == NULL)
        fail_msg("answer is not JSON: %.*s", (int)r.len, r.body);
    *code = r.code;
    if (r.code != KMS_ERR_OK) {
        /* every error is KMS-shaped: the status of its type and {__type, message} */
        assert_int_equal(r.status, kms_code_status(r.code));
        assert_string_equal(json_string_value(json_object_get(answer, "__type")),
                            kms_code_type(r.code));
        assert_non_null(json_string_value(json_object_get(answer, "message")));
    } else {
        assert_int_equal(r.status, 200);
    }
    kms_response_clear(&r);
    return answer;
}

static void expect(kms_code want, const char *message_part, const char *op, const char *body)
{
    kms_code got;
    json_t *a = call(op, &got, "%s", body);
    const char *message = json_string_value(json_object_get(a, "message"));
    if (got != want || (message_part != NULL && (message == NULL || !strstr(message, message_part))))
        fail_msg("%s %s: got %s (%s), want %s with \"%s\"", op, body, kms_code_name(got),
                 message != NULL ? message : "", kms_code_name(want), message_part);
    json_decref(a);
}

/* A new key; its id into id. */
static void create_key(const char *policy_json, char id[KMS_KEY_ID_LEN + 1])
{
    kms_code code;
    json_t *a = policy_json != NULL
                    ? call("CreateKey", &code, "{\"Policy\": %s}", policy_json)
                    : call("CreateKey", &code, "{\"Description\": \"test\"}");
    if (code != KMS_ERR_OK)
        fail_msg("CreateKey: %s", json_string_value(json_object_get(a, "message")));
    snprintf(id, KMS_KEY_ID_LEN + 1, "%s",
             json_string_value(json_object_get(json_object_get(a, "KeyMetadata"), "KeyId")));
    json_decref(a);
}

static char *encrypt(const char *key, const char *plain_b64)
{
    kms_code code;
    json_t *a = call("Encrypt", &code, "{\"KeyId\": \"%s\", \"Plaintext\": \"%s\"}", key, plain_b64);
    assert_int_equal(code, KMS_ERR_OK);
    char *blob = strdup(json_string_value(json_object_get(a, "CiphertextBlob")));
    json_decref(a);
    return blob;
}

static void test_request_validation(void **state)
{
    (void)state;
    char id[KMS_KEY_ID_LEN + 1], body[512];
    create_key(NULL, id);
    expect(KMS_ERR_UNKNOWN_OPERATION, "unknown operation", "DeleteEverything", "{}");
    expect(KMS_ERR_UNKNOWN_OPERATION, "X-Amz-Target", NULL, "{}");
    expect(KMS_ERR_SERIALIZATION, "not valid JSON", "ListKeys", "{\"Limit\": ");
    expect(KMS_ERR_SERIALIZATION, "not valid JSON", "ListKeys", "{} {}");
    expect(KMS_ERR_SERIALIZATION, "not a JSON object", "ListKeys", "[1]");
    expect(KMS_ERR_SERIALIZATION, "not valid JSON", "ListKeys", "{\"Limit\": 1, \"Limit\": 2}");
    expect(KMS_ERR_VALIDATION, "Value null at 'keyId'", "DescribeKey", "{}");
    expect(KMS_ERR_SERIALIZATION, "KeyId must be a string", "DescribeKey", "{\"KeyId\": 5}");
    expect(KMS_ERR_VALIDATION, "length between", "DescribeKey", "{\"KeyId\": \"\"}");
    expect(KMS_ERR_NOT_FOUND, "does not exist", "DescribeKey",
           "{\"KeyId\": \"00000000-0000-4000-8000-000000000000\"}");
    expect(KMS_ERR_NOT_FOUND, "not of this server's region", "DescribeKey",
           "{\"KeyId\": \"arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-4000-8000-000000000000\"}");
    expect(KMS_ERR_NOT_FOUND, "Alias", "DescribeKey", "{\"KeyId\": \"alias/none\"}");
    expect(KMS_ERR_VALIDATION, "Value null at 'plaintext'", "Encrypt", (snprintf(body, sizeof(body), "{\"KeyId\": \"%s\"}", id), body));
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Plaintext\": \"***=\"}", id);
    expect(KMS_ERR_SERIALIZATION, "not valid base64", "Encrypt", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Plaintext\": \"\"}", id);
    expect(KMS_ERR_VALIDATION, "greater than or equal to 1", "Encrypt", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Plaintext\": [\"aGk=\"]}", id);
    expect(KMS_ERR_SERIALIZATION, "Plaintext must be a string", "Encrypt", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Plaintext\": \"aGk=\", \"EncryptionContext\": {\"a\": 1}}", id);
    expect(KMS_ERR_SERIALIZATION, "map of strings", "Encrypt", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Plaintext\": \"aGk=\", "
             "\"EncryptionAlgorithm\": \"RSAES_PKCS1_V1_5\"}", id);
    expect(KMS_ERR_VALIDATION, "enum value set", "Encrypt", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Plaintext\": \"aGk=\", "
             "\"EncryptionAlgorithm\": \"RSAES_OAEP_SHA_1\"}", id);
    expect(KMS_ERR_INVALID_KEY_USAGE, "this key is symmetric", "Encrypt", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\"}", id);
    expect(KMS_ERR_VALIDATION, "either number of bytes or key spec", "GenerateDataKey", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"KeySpec\": \"AES_256\", \"NumberOfBytes\": 32}", id);
    expect(KMS_ERR_VALIDATION, "either number of bytes or key spec", "GenerateDataKey", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"KeySpec\": \"AES_512\"}", id);
    expect(KMS_ERR_VALIDATION, "enum value set", "GenerateDataKey", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"NumberOfBytes\": 1025}", id);
    expect(KMS_ERR_VALIDATION, "between 1 and 1024", "GenerateDataKeyWithoutPlaintext", body);
    expect(KMS_ERR_VALIDATION, "between 1 and 1024", "GenerateRandom", "{\"NumberOfBytes\": 0}");
    expect(KMS_ERR_SERIALIZATION, "integer", "GenerateRandom", "{\"NumberOfBytes\": \"8\"}");
    expect(KMS_ERR_SERIALIZATION, "integer", "GenerateRandom", "{\"NumberOfBytes\": 8.5}");
    expect(KMS_ERR_VALIDATION, "Value null at 'numberOfBytes'", "GenerateRandom", "{}");
    expect(KMS_ERR_VALIDATION, "between 1 and 1000", "ListKeys", "{\"Limit\": 0}");
    expect(KMS_ERR_INVALID_MARKER, "Marker", "ListKeys", "{\"Marker\": \"x\"}");
    expect(KMS_ERR_VALIDATION, "enum value set", "CreateKey", "{\"KeySpec\": \"HMAC_256\"}");
    /* KeySpec and KeyUsage as AWS pairs them */
    expect(KMS_ERR_VALIDATION, "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec "
           "ECC_NIST_P256", "CreateKey", "{\"KeySpec\": \"ECC_NIST_P256\"}");
    expect(KMS_ERR_VALIDATION, "not compatible", "CreateKey",
           "{\"KeySpec\": \"RSA_2048\", \"KeyUsage\": \"KEY_AGREEMENT\"}");
    expect(KMS_ERR_VALIDATION, "not compatible", "CreateKey",
           "{\"KeyUsage\": \"SIGN_VERIFY\"}");
    expect(KMS_ERR_VALIDATION, "deprecated", "CreateKey",
           "{\"KeySpec\": \"RSA_2048\", \"CustomerMasterKeySpec\": \"RSA_2048\"}");
    expect(KMS_ERR_VALIDATION, "enum value set", "CreateKey", "{\"KeyUsage\": \"GENERATE_VERIFY_MAC\"}");
    expect(KMS_ERR_SERIALIZATION, "Recipient must be a structure", "GenerateRandom",
           "{\"NumberOfBytes\": 8, \"Recipient\": \"doc\"}");
    expect(KMS_ERR_VALIDATION, "Value null at 'attestationDocument'", "GenerateRandom",
           "{\"NumberOfBytes\": 8, \"Recipient\": {}}");
    expect(KMS_ERR_VALIDATION, "enum value set", "GenerateRandom",
           "{\"NumberOfBytes\": 8, \"Recipient\": {\"KeyEncryptionAlgorithm\": \"RSAES_OAEP_SHA_1\", "
           "\"AttestationDocument\": \"aGk=\"}}");
    expect(KMS_ERR_ATTESTATION_REFUSED, "105 ENV_NOT_ARRAY4", "GenerateRandom",
           "{\"NumberOfBytes\": 8, \"Recipient\": {\"AttestationDocument\": \"aGk=\"}}");
    /* a plain GenerateRandom works and says so in Plaintext */
    kms_code code;
    json_t *a = call("GenerateRandom", &code, "{\"NumberOfBytes\": 24}");
    assert_int_equal(code, KMS_ERR_OK);
    assert_int_equal(strlen(json_string_value(json_object_get(a, "Plaintext"))), 32);
    json_decref(a);
}

/* A restart keeps every key, alias and policy; the files are private. */
static void restart_keeps(const char *blob, const char *a_id)
{
    char path[512], body[1024];
    nsmkit_error e;
    kms_store_close(K->store);
    snprintf(path, sizeof(path), "%s/state", K->dir);
    assert_int_equal(kms_store_open(path, "us-east-1", KMS_DEFAULT_ACCOUNT, &K->store, &e), 0);
    K->service.store = K->store;
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\", \"KeyId\": \"alias/app\"}", blob);
    expect(KMS_ERR_OK, NULL, "Decrypt", body);
    struct stat st;
    snprintf(path, sizeof(path), "%s/state/keys/%s.json", K->dir, a_id);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/state/aliases", K->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
}

/* ListAliases filtered by key, ListKeys in pages. */
static void listings_page(const char *a_id)
{
    kms_code code;
    json_t *r;
    r = call("ListAliases", &code, "{\"KeyId\": \"%s\"}", a_id);
    assert_int_equal(code, KMS_ERR_OK);
    assert_int_equal(json_array_size(json_object_get(r, "Aliases")), 1);
    json_decref(r);
    r = call("ListKeys", &code, "{\"Limit\": 1}");
    assert_int_equal(code, KMS_ERR_OK);
    assert_true(json_is_true(json_object_get(r, "Truncated")));
    char *marker = strdup(json_string_value(json_object_get(r, "NextMarker")));
    json_decref(r);
    r = call("ListKeys", &code, "{\"Limit\": 1000, \"Marker\": \"%s\"}", marker);
    assert_int_equal(code, KMS_ERR_OK);
    assert_true(json_array_size(json_object_get(r, "Keys")) >= 1);
    assert_true(json_is_false(json_object_get(r, "Truncated")));
    json_decref(r);
    free(marker);
}

static void test_keys_aliases_and_blobs(void **state)
{
    (void)state;
    char a_id[KMS_KEY_ID_LEN + 1], b_id[KMS_KEY_ID_LEN + 1], body[1024];
    create_key(NULL, a_id);
    create_key(NULL, b_id);
    snprintf(body, sizeof(body), "{\"AliasName\": \"alias/app\", \"TargetKeyId\": \"%s\"}", a_id);
    expect(KMS_ERR_OK, NULL, "CreateAlias", body);
    expect(KMS_ERR_ALREADY_EXISTS, "already exists", "CreateAlias", body);
    snprintf(body, sizeof(body), "{\"AliasName\": \"alias/aws/x\", \"TargetKeyId\": \"%s\"}", a_id);
    expect(KMS_ERR_INVALID_ALIAS_NAME, "reserved", "CreateAlias", body);
    snprintf(body, sizeof(body), "{\"AliasName\": \"app\", \"TargetKeyId\": \"%s\"}", a_id);
    expect(KMS_ERR_VALIDATION, "prefix", "CreateAlias", body);
    snprintf(body, sizeof(body), "{\"AliasName\": \"alias/a b\", \"TargetKeyId\": \"%s\"}", a_id);
    expect(KMS_ERR_VALIDATION, "character", "CreateAlias", body);
    expect(KMS_ERR_VALIDATION, "not an alias", "CreateAlias",
           "{\"AliasName\": \"alias/x\", \"TargetKeyId\": \"alias/app\"}");

    /* aliases and ARNs work wherever a key id does */
    char *blob = encrypt("alias/app", "c2VjcmV0");
    char arn[256];
    snprintf(arn, sizeof(arn), "arn:aws:kms:us-east-1:111122223333:alias/app");
    free(encrypt(arn, "c2VjcmV0"));
    snprintf(arn, sizeof(arn), "arn:aws:kms:us-east-1:111122223333:key/%s", a_id);
    free(encrypt(arn, "c2VjcmV0"));
    kms_code code;
    json_t *r = call("Decrypt", &code, "{\"CiphertextBlob\": \"%s\"}", blob);
    assert_int_equal(code, KMS_ERR_OK);
    assert_string_equal(json_string_value(json_object_get(r, "Plaintext")), "c2VjcmV0");
    assert_non_null(strstr(json_string_value(json_object_get(r, "KeyId")), a_id));
    json_decref(r);
    /* the wrong key named: IncorrectKeyException; the right one: fine */
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\", \"KeyId\": \"%s\"}", blob, b_id);
    expect(KMS_ERR_INCORRECT_KEY, "names key", "Decrypt", body);
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\", \"KeyId\": \"alias/app\"}", blob);
    expect(KMS_ERR_OK, NULL, "Decrypt", body);
    /* another encryption context */
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\", \"EncryptionContext\": {\"k\": \"v\"}}", blob);
    expect(KMS_ERR_INVALID_CIPHERTEXT, "authenticate", "Decrypt", body);
    /* a flipped bit in the body, and the key id rewritten to the other key */
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    nsmkit_error e;
    assert_int_equal(kms_base64_decode(blob, strlen(blob), 8192, &raw, &raw_len, &e), 0);
    raw[raw_len - 20] ^= 0x01;
    char *tampered = kms_base64_encode(raw, raw_len);
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\"}", tampered);
    expect(KMS_ERR_INVALID_CIPHERTEXT, "authenticate", "Decrypt", body);
    free(tampered);
    raw[raw_len - 20] ^= 0x01;
    memcpy(raw + 5, b_id, KMS_KEY_ID_LEN);
    tampered = kms_base64_encode(raw, raw_len);
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\"}", tampered);
    expect(KMS_ERR_INVALID_CIPHERTEXT, "authenticate", "Decrypt", body);
    free(tampered);
    free(raw);
    expect(KMS_ERR_INVALID_CIPHERTEXT, "shorter than any blob", "Decrypt", "{\"CiphertextBlob\": \"aGk=\"}");
    expect(KMS_ERR_INVALID_CIPHERTEXT, "does not hold", "Decrypt",
           "{\"CiphertextBlob\": \"TktNUwEwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}");

    /* data keys: the blob decrypts to the plaintext handed out */
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"KeySpec\": \"AES_256\", \"EncryptionContext\": {\"app\": \"x\"}}", a_id);
    r = call("GenerateDataKey", &code, "%s", body);
    assert_int_equal(code, KMS_ERR_OK);
    char *plain = strdup(json_string_value(json_object_get(r, "Plaintext")));
    char *dk_blob = strdup(json_string_value(json_object_get(r, "CiphertextBlob")));
    json_decref(r);
    assert_int_equal(strlen(plain), 44);
    r = call("Decrypt", &code, "{\"CiphertextBlob\": \"%s\", \"EncryptionContext\": {\"app\": \"x\"}}", dk_blob);
    assert_int_equal(code, KMS_ERR_OK);
    assert_string_equal(json_string_value(json_object_get(r, "Plaintext")), plain);
    json_decref(r);
    free(plain);
    free(dk_blob);
    r = call("GenerateDataKeyWithoutPlaintext", &code, "{\"KeyId\": \"%s\", \"NumberOfBytes\": 7}", b_id);
    assert_int_equal(code, KMS_ERR_OK);
    assert_null(json_object_get(r, "Plaintext"));
    assert_non_null(json_object_get(r, "CiphertextBlob"));
    json_decref(r);

    /* a disabled key refuses to work, an enabled one works again */
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\"}", a_id);
    expect(KMS_ERR_OK, NULL, "DisableKey", body);
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\"}", blob);
    expect(KMS_ERR_DISABLED, "disabled", "Decrypt", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\"}", a_id);
    expect(KMS_ERR_OK, NULL, "EnableKey", body);
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\"}", blob);
    expect(KMS_ERR_OK, NULL, "Decrypt", body);

    listings_page(a_id);

    restart_keeps(blob, a_id);
    free(blob);
}

static void test_put_key_policy(void **state)
{
    (void)state;
    char id[KMS_KEY_ID_LEN + 1], body[2048];
    create_key(NULL, id);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Policy\": \"{\\\"Statement\\\": []}\"}", id);
    expect(KMS_ERR_MALFORMED_POLICY, "empty list", "PutKeyPolicy", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Policy\": \"{\"}", id);
    expect(KMS_ERR_MALFORMED_POLICY, "not valid JSON", "PutKeyPolicy", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"PolicyName\": \"other\", \"Policy\": \"{}\"}", id);
    expect(KMS_ERR_NOT_FOUND, "default", "PutKeyPolicy", body);
    expect(KMS_ERR_MALFORMED_POLICY, "no Statement", "CreateKey", "{\"Policy\": \"{}\"}");
    /* the refused policies changed nothing */
    kms_code code;
    json_t *r = call("GetKeyPolicy", &code, "{\"KeyId\": \"%s\", \"PolicyName\": \"default\"}", id);
    assert_int_equal(code, KMS_ERR_OK);
    assert_non_null(strstr(json_string_value(json_object_get(r, "Policy")), "Enable IAM User Permissions"));
    json_decref(r);
    /* a policy that allows only GetKeyPolicy: everything else is denied with the reason */
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Policy\": \"{\\\"Statement\\\": "
             "{\\\"Effect\\\": \\\"Allow\\\", \\\"Action\\\": \\\"kms:GetKeyPolicy\\\"}}\"}", id);
    expect(KMS_ERR_OK, NULL, "PutKeyPolicy", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Plaintext\": \"aGk=\"}", id);
    expect(KMS_ERR_ACCESS_DENIED, "kms:Encrypt", "Encrypt", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\"}", id);
    expect(KMS_ERR_ACCESS_DENIED, "kms:DescribeKey", "DescribeKey", body);
    expect(KMS_ERR_OK, NULL, "GetKeyPolicy", body);
}

/* ---- Recipient ---------------------------------------------------------------------------------- */

/* A document from the fixture's PKI carrying public_key (NULL: none), base64. */
static char *document_b64(const uint8_t *public_key, size_t len)
{
    nsmsim_payload p = K->fx->payload;
    p.public_key = (nsmsim_optional_bytes){public_key, len, public_key != NULL};
    nsmkit_buf payload, doc;
    vfx_encode(&p, &payload);
    vfx_sign(K->fx, payload.data, payload.len, &doc);
    char *b64 = kms_base64_encode(doc.data, doc.len);
    nsmkit_buf_free(&payload);
    nsmkit_buf_free(&doc);
    return b64;
}

/* Decrypts CiphertextForRecipient with the enclave's private key; checks the CMS shape. */
static char *open_for_recipient(json_t *answer)
{
    assert_null(json_object_get(answer, "Plaintext"));
    const char *sealed = json_string_value(json_object_get(answer, "CiphertextForRecipient"));
    assert_non_null(sealed);
    uint8_t *der = NULL;
    size_t len = 0;
    nsmkit_error e;
    assert_int_equal(kms_base64_decode(sealed, strlen(sealed), 65536, &der, &len, &e), 0);
    assert_true(len > 2 && der[0] == 0x30 && der[1] == 0x80); /* BER, indefinite, as KMS */
    const unsigned char *p = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    assert_non_null(cms);
    assert_int_equal(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_enveloped);
    STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
    assert_int_equal(sk_CMS_RecipientInfo_num(ris), 1);
    CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, 0);
    assert_int_equal(CMS_RecipientInfo_type(ri), CMS_RECIPINFO_TRANS);
    X509_ALGOR *alg = NULL;
    assert_int_equal(CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &alg), 1);
    const ASN1_OBJECT *oid = NULL;
    X509_ALGOR_get0(&oid, NULL, NULL, alg);
    assert_int_equal(OBJ_obj2nid(oid), NID_rsaesOaep);
    ASN1_OCTET_STRING *keyid = NULL;
    assert_int_equal(CMS_RecipientInfo_ktri_get0_signer_id(ri, &keyid, NULL, NULL), 1);
    assert_non_null(keyid); /* subjectKeyIdentifier: KeyTransRecipientInfo version 2 */
    /* ... the SHA-256 of the enclave key's DER SubjectPublicKeyInfo, as KMS names it */
    unsigned char *spki = NULL;
    int spki_len = i2d_PUBKEY(K->rsa, &spki);
    uint8_t sha256[32];
    unsigned int sha256_len = 0;
    assert_int_equal(EVP_Digest(spki, (size_t)spki_len, sha256, &sha256_len, EVP_sha256(), NULL), 1);
    OPENSSL_free(spki);
    assert_int_equal(ASN1_STRING_length(keyid), 32);
    assert_memory_equal(ASN1_STRING_get0_data(keyid), sha256, 32);
    BIO *out = BIO_new(BIO_s_mem());
    assert_int_equal(CMS_decrypt(cms, K->rsa, NULL, NULL, out, CMS_BINARY), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(out, &data);
    char *text = kms_base64_encode((const uint8_t *)data, (size_t)n);
    BIO_free(out);
    CMS_ContentInfo_free(cms);
    free(der);
    return text;
}

static void policy_key(const char *pcr0, char id[KMS_KEY_ID_LEN + 1])
{
    char policy[1024];
    snprintf(policy, sizeof(policy),
             "\"{\\\"Statement\\\": [{\\\"Effect\\\": \\\"Allow\\\", \\\"Action\\\": "
             "[\\\"kms:Encrypt\\\", \\\"kms:DescribeKey\\\"]}, {\\\"Sid\\\": \\\"enclave\\\", "
             "\\\"Effect\\\": \\\"Allow\\\", \\\"Action\\\": [\\\"kms:Decrypt\\\", "
             "\\\"kms:GenerateDataKey\\\"], \\\"Condition\\\": {\\\"StringEqualsIgnoreCase\\\": "
             "{\\\"kms:RecipientAttestation:PCR0\\\": \\\"%s\\\"}}}]}\"", pcr0);
    create_key(policy, id);
}

static void test_recipient(void **state)
{
    (void)state;
    char good[KMS_KEY_ID_LEN + 1], other[KMS_KEY_ID_LEN + 1];
    policy_key(K->pcr0_hex, good);
    policy_key("00", other);
    char *doc = document_b64(K->spki, (size_t)K->spki_len);
    char *blob = encrypt(good, "aGVsbG8gZW5jbGF2ZQ==");
    kms_code code;

    /* the PCR0 condition holds: the secret comes back sealed to the document's key */
    json_t *r = call("Decrypt", &code, "{\"CiphertextBlob\": \"%s\", \"Recipient\": "
                     "{\"AttestationDocument\": \"%s\", \"KeyEncryptionAlgorithm\": "
                     "\"RSAES_OAEP_SHA_256\"}}", blob, doc);
    if (code != KMS_ERR_OK)
        fail_msg("Decrypt with Recipient: %s", json_string_value(json_object_get(r, "message")));
    char *secret = open_for_recipient(r);
    assert_string_equal(secret, "aGVsbG8gZW5jbGF2ZQ==");
    free(secret);
    json_decref(r);
    /* without Recipient the same key denies Decrypt: the condition key is absent */
    char body[16384];
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\"}", blob);
    expect(KMS_ERR_ACCESS_DENIED, "because no resource-based policy allows the kms:Decrypt "
           "action", "Decrypt", body);
    /* GenerateDataKey and GenerateRandom with Recipient */
    r = call("GenerateDataKey", &code, "{\"KeyId\": \"%s\", \"NumberOfBytes\": 16, \"Recipient\": "
             "{\"AttestationDocument\": \"%s\"}}", good, doc);
    assert_int_equal(code, KMS_ERR_OK);
    secret = open_for_recipient(r);
    const char *dk_blob = json_string_value(json_object_get(r, "CiphertextBlob"));
    json_t *r2 = call("Decrypt", &code, "{\"CiphertextBlob\": \"%s\", \"Recipient\": "
                      "{\"AttestationDocument\": \"%s\"}}", dk_blob, doc);
    assert_int_equal(code, KMS_ERR_OK);
    char *again = open_for_recipient(r2);
    assert_string_equal(secret, again);
    free(again);
    free(secret);
    json_decref(r2);
    json_decref(r);
    r = call("GenerateRandom", &code, "{\"NumberOfBytes\": 32, \"Recipient\": "
             "{\"AttestationDocument\": \"%s\"}}", doc);
    assert_int_equal(code, KMS_ERR_OK);
    secret = open_for_recipient(r);
    assert_int_equal(strlen(secret), 44);
    free(secret);
    json_decref(r);

    /* a document with a broken signature, one without a public key, one with an EC key */
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    nsmkit_error e;
    assert_int_equal(kms_base64_decode(doc, strlen(doc), 65536, &raw, &raw_len, &e), 0);
    raw[raw_len - 1] ^= 0x01;
    char *bad = kms_base64_encode(raw, raw_len);
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\", \"Recipient\": "
             "{\"AttestationDocument\": \"%s\"}}", blob, bad);
    expect(KMS_ERR_ATTESTATION_REFUSED, "500 SIGNATURE_INVALID", "Decrypt", body);
    free(bad);
    free(raw);
    char *no_key = document_b64(NULL, 0);
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\", \"Recipient\": "
             "{\"AttestationDocument\": \"%s\"}}", blob, no_key);
    expect(KMS_ERR_VALIDATION, "no public_key", "Decrypt", body);
    free(no_key);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    uint8_t *ec_spki = NULL;
    int ec_len = i2d_PUBKEY(ec, &ec_spki);
    char *ec_doc = document_b64(ec_spki, (size_t)ec_len);
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\", \"Recipient\": "
             "{\"AttestationDocument\": \"%s\"}}", blob, ec_doc);
    expect(KMS_ERR_VALIDATION, "not an RSA key", "Decrypt", body);
    free(ec_doc);
    OPENSSL_free(ec_spki);
    EVP_PKEY_free(ec);
    char *junk_doc = document_b64((const uint8_t *)"not a key", 9);
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\", \"Recipient\": "
             "{\"AttestationDocument\": \"%s\"}}", blob, junk_doc);
    expect(KMS_ERR_VALIDATION, "SubjectPublicKeyInfo", "Decrypt", body);
    free(junk_doc);

    /* a server that trusts another root (AWS's) refuses the simulated document, naming the code */
    nsmv_verifier *aws = vfx_aws_verifier(true);
    kms_service saved = K->service;
    K->service.verifier = aws;
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\", \"Recipient\": "
             "{\"AttestationDocument\": \"%s\"}}", blob, doc);
    expect(KMS_ERR_ATTESTATION_REFUSED, "402 ROOT_MISMATCH", "Decrypt", body);
    K->service = saved;
    nsmv_verifier_free(aws);
    /* and a document verified long after its leaf expired */
    K->service.verify_time_s = VFX_VERIFY_S + 86400;
    expect(KMS_ERR_ATTESTATION_REFUSED, "410 CERT_EXPIRED", "Decrypt", body);
    K->service = saved;
    free(blob);
    free(doc);
}

/* A new asymmetric key of spec and usage with the default policy; its id into id. */
static void create_asym_key(const char *spec, const char *usage, char id[KMS_KEY_ID_LEN + 1])
{
    kms_code code;
    json_t *a = call("CreateKey", &code, "{\"KeySpec\": \"%s\", \"KeyUsage\": \"%s\"}", spec, usage);
    if (code != KMS_ERR_OK)
        fail_msg("CreateKey %s: %s", spec, json_string_value(json_object_get(a, "message")));
    snprintf(id, KMS_KEY_ID_LEN + 1, "%s",
             json_string_value(json_object_get(json_object_get(a, "KeyMetadata"), "KeyId")));
    json_decref(a);
}

/* A base64 member decoded (caller frees). */
static uint8_t *member_bytes(json_t *answer, const char *name, size_t *len)
{
    const char *text = json_string_value(json_object_get(answer, name));
    uint8_t *out = NULL;
    nsmkit_error e;
    if (text == NULL || kms_base64_decode(text, strlen(text), 65536, &out, len, &e) != 0)
        fail_msg("no base64 member %s", name);
    return out;
}

/* A PCR0 condition that does not hold: KMS's message, and with --explain the reason. */
static void test_denial_explained(void **state)
{
    (void)state;
    char other[KMS_KEY_ID_LEN + 1], body[16384];
    policy_key("00", other);
    char *doc = document_b64(K->spki, (size_t)K->spki_len);
    char *other_blob = encrypt(other, "aGk=");
    snprintf(body, sizeof(body), "{\"CiphertextBlob\": \"%s\", \"Recipient\": "
             "{\"AttestationDocument\": \"%s\"}}", other_blob, doc);
    expect(KMS_ERR_ACCESS_DENIED, "is not authorized to perform: kms:Decrypt on resource: "
           "arn:aws:kms:us-east-1:111122223333:key/", "Decrypt", body);
    /* KMS's message says nothing more; with --explain it names the statement, the
     * condition and both values */
    K->service.explain = true;
    char why[512];
    snprintf(why, sizeof(why), "(nsm-kms --explain: no statement of the key policy allows "
             "kms:Decrypt: statement 1 (Sid \"enclave\") allows kms:Decrypt, but its condition "
             "does not hold: PCR0 of the document is %s, the policy's StringEqualsIgnoreCase on "
             "kms:RecipientAttestation:PCR0 wants 00)", K->pcr0_hex);
    expect(KMS_ERR_ACCESS_DENIED, why, "Decrypt", body);
    K->service.explain = false;
    free(other_blob);
    free(doc);
}

/* Encrypt and Decrypt with an RSA ENCRYPT_DECRYPT key: RSAES-OAEP, algorithm required, no
 * context; the ciphertext opens with OpenSSL and the key's public key. */
static void test_rsa_encrypt_decrypt(void **state)
{
    (void)state;
    char rsa[KMS_KEY_ID_LEN + 1], body[2048];
    create_asym_key("RSA_2048", "ENCRYPT_DECRYPT", rsa);
    kms_code code;
    json_t *a = call("Encrypt", &code, "{\"KeyId\": \"%s\", \"Plaintext\": \"aGVsbG8=\", "
                     "\"EncryptionAlgorithm\": \"RSAES_OAEP_SHA_256\"}", rsa);
    if (code != KMS_ERR_OK)
        fail_msg("Encrypt: %s", json_string_value(json_object_get(a, "message")));
    assert_string_equal(json_string_value(json_object_get(a, "EncryptionAlgorithm")),
                        "RSAES_OAEP_SHA_256");
    char *blob = strdup(json_string_value(json_object_get(a, "CiphertextBlob")));
    json_decref(a);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"CiphertextBlob\": \"%s\", "
             "\"EncryptionAlgorithm\": \"RSAES_OAEP_SHA_256\"}", rsa, blob);
    a = call("Decrypt", &code, "%s", body);
    assert_int_equal(code, KMS_ERR_OK);
    assert_string_equal(json_string_value(json_object_get(a, "Plaintext")), "aGVsbG8=");
    json_decref(a);
    /* with Recipient: the plaintext only inside CiphertextForRecipient */
    char *doc = document_b64(K->spki, (size_t)K->spki_len);
    a = call("Decrypt", &code, "{\"KeyId\": \"%s\", \"CiphertextBlob\": \"%s\", "
             "\"EncryptionAlgorithm\": \"RSAES_OAEP_SHA_256\", \"Recipient\": "
             "{\"AttestationDocument\": \"%s\"}}", rsa, blob, doc);
    assert_int_equal(code, KMS_ERR_OK);
    char *opened = open_for_recipient(a);
    assert_string_equal(opened, "aGVsbG8=");
    free(opened);
    json_decref(a);
    free(doc);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"CiphertextBlob\": \"%s\", "
             "\"EncryptionAlgorithm\": \"RSAES_OAEP_SHA_1\"}", rsa, blob);
    expect(KMS_ERR_INVALID_CIPHERTEXT, "decryption failed", "Decrypt", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"CiphertextBlob\": \"%s\"}", rsa, blob);
    expect(KMS_ERR_VALIDATION, "must be RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256", "Decrypt", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Plaintext\": \"aGk=\", "
             "\"EncryptionAlgorithm\": \"RSAES_OAEP_SHA_1\", \"EncryptionContext\": "
             "{\"a\": \"b\"}}", rsa);
    expect(KMS_ERR_VALIDATION, "no EncryptionContext", "Encrypt", body);
    free(blob);
}

static void test_asymmetric_signing(void **state)
{
    (void)state;
    char ecc[KMS_KEY_ID_LEN + 1], sym[KMS_KEY_ID_LEN + 1], body[1024];
    create_asym_key("ECC_NIST_P384", "SIGN_VERIFY", ecc);
    create_key(NULL, sym);
    kms_code code;
    json_t *a = call("GetPublicKey", &code, "{\"KeyId\": \"%s\"}", ecc);
    assert_int_equal(code, KMS_ERR_OK);
    assert_string_equal(json_string_value(json_object_get(a, "KeyUsage")), "SIGN_VERIFY");
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "SigningAlgorithms"),
                                                         0)), "ECDSA_SHA_384");
    size_t spki_len = 0;
    uint8_t *spki = member_bytes(a, "PublicKey", &spki_len);
    const unsigned char *p = spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)spki_len);
    assert_non_null(pub);
    json_decref(a);
    a = call("Sign", &code, "{\"KeyId\": \"%s\", \"Message\": \"aGVsbG8=\", \"SigningAlgorithm\": "
             "\"ECDSA_SHA_384\"}", ecc);
    assert_int_equal(code, KMS_ERR_OK);
    size_t sig_len = 0;
    uint8_t *sig = member_bytes(a, "Signature", &sig_len);
    /* the signature verifies with OpenSSL on the public key GetPublicKey gave */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, pub), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, sig_len, (const uint8_t *)"hello", 5), 1);
    EVP_MD_CTX_free(md);
    char *sig_b64 = kms_base64_encode(sig, sig_len);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Message\": \"aGVsbG8=\", \"Signature\": "
             "\"%s\", \"SigningAlgorithm\": \"ECDSA_SHA_384\"}", ecc, sig_b64);
    expect(KMS_ERR_OK, NULL, "Verify", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Message\": \"aGVsbG9v\", \"Signature\": "
             "\"%s\", \"SigningAlgorithm\": \"ECDSA_SHA_384\"}", ecc, sig_b64);
    expect(KMS_ERR_KMS_INVALID_SIGNATURE, "not valid", "Verify", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Message\": \"aGVsbG8=\", "
             "\"SigningAlgorithm\": \"RSASSA_PSS_SHA_256\"}", ecc);
    expect(KMS_ERR_INVALID_KEY_USAGE, "not supported", "Sign", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Message\": \"aGVsbG8=\", "
             "\"MessageType\": \"DIGEST\", \"SigningAlgorithm\": \"ECDSA_SHA_384\"}", ecc);
    expect(KMS_ERR_VALIDATION, "48-byte digest", "Sign", body);
    /* usages: a symmetric key has no public key; an ECC signing key does not encrypt */
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\"}", sym);
    expect(KMS_ERR_UNSUPPORTED_OPERATION, "symmetric", "GetPublicKey", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Plaintext\": \"aGk=\"}", ecc);
    expect(KMS_ERR_INVALID_KEY_USAGE, "not valid for Encrypt", "Encrypt", body);
    snprintf(body, sizeof(body), "{\"KeyId\": \"%s\", \"Message\": \"aGk=\", "
             "\"SigningAlgorithm\": \"ECDSA_SHA_256\"}", sym);
    expect(KMS_ERR_INVALID_KEY_USAGE, "not valid for Sign", "Sign", body);
    free(sig_b64);
    free(sig);
    json_decref(a);
    EVP_PKEY_free(pub);
    free(spki);
}

/* DeriveSharedSecret and GenerateDataKeyPair with Recipient: the secret only inside
 * CiphertextForRecipient, and what it holds is right. */
static void test_recipient_key_agreement_and_pairs(void **state)
{
    (void)state;
    char agree[KMS_KEY_ID_LEN + 1], sym[KMS_KEY_ID_LEN + 1];
    create_asym_key("ECC_NIST_P256", "KEY_AGREEMENT", agree);
    create_key(NULL, sym);
    char *doc = document_b64(K->spki, (size_t)K->spki_len);
    kms_code code;
    json_t *a = call("GetPublicKey", &code, "{\"KeyId\": \"%s\"}", agree);
    size_t kms_spki_len = 0;
    uint8_t *kms_spki = member_bytes(a, "PublicKey", &kms_spki_len);
    json_decref(a);
    EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char *peer_spki = NULL;
    int peer_len = i2d_PUBKEY(peer, &peer_spki);
    char *peer_b64 = kms_base64_encode(peer_spki, (size_t)peer_len);
    a = call("DeriveSharedSecret", &code, "{\"KeyId\": \"%s\", \"KeyAgreementAlgorithm\": "
             "\"ECDH\", \"PublicKey\": \"%s\", \"Recipient\": {\"AttestationDocument\": \"%s\"}}",
             agree, peer_b64, doc);
    if (code != KMS_ERR_OK)
        fail_msg("DeriveSharedSecret: %s", json_string_value(json_object_get(a, "message")));
    assert_null(json_object_get(a, "SharedSecret"));
    char *sealed = open_for_recipient(a);
    /* the peer's side of ECDH, with KMS's public key */
    const unsigned char *p = kms_spki;
    EVP_PKEY *kms_pub = d2i_PUBKEY(NULL, &p, (long)kms_spki_len);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(peer, NULL);
    uint8_t expected[32];
    size_t n = sizeof(expected);
    assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
    assert_int_equal(EVP_PKEY_derive_set_peer(ctx, kms_pub), 1);
    assert_int_equal(EVP_PKEY_derive(ctx, expected, &n), 1);
    char *expected_b64 = kms_base64_encode(expected, n);
    assert_string_equal(sealed, expected_b64);
    json_decref(a);
    /* GenerateDataKeyPair: PrivateKeyPlaintext absent, the PKCS#8 key in the envelope */
    a = call("GenerateDataKeyPair", &code, "{\"KeyId\": \"%s\", \"KeyPairSpec\": \"ECC_NIST_P384\", "
             "\"Recipient\": {\"AttestationDocument\": \"%s\"}}", sym, doc);
    assert_int_equal(code, KMS_ERR_OK);
    assert_null(json_object_get(a, "PrivateKeyPlaintext"));
    assert_non_null(json_object_get(a, "PrivateKeyCiphertextBlob"));
    char *private_b64 = open_for_recipient(a);
    uint8_t *private_der = NULL;
    size_t private_len = 0;
    nsmkit_error e;
    assert_int_equal(kms_base64_decode(private_b64, strlen(private_b64), 65536, &private_der,
                                       &private_len, &e), 0);
    p = private_der;
    EVP_PKEY *pair = d2i_AutoPrivateKey(NULL, &p, (long)private_len);
    assert_non_null(pair);
    unsigned char *pair_spki = NULL;
    int pair_spki_len = i2d_PUBKEY(pair, &pair_spki);
    size_t pub_len = 0;
    uint8_t *pub = member_bytes(a, "PublicKey", &pub_len);
    assert_int_equal((size_t)pair_spki_len, pub_len);
    assert_memory_equal(pair_spki, pub, pub_len);
    free(pub);
    OPENSSL_free(pair_spki);
    EVP_PKEY_free(pair);
    free(private_der);
    free(private_b64);
    json_decref(a);
    free(expected_b64);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(kms_pub);
    free(sealed);
    free(peer_b64);
    OPENSSL_free(peer_spki);
    EVP_PKEY_free(peer);
    free(kms_spki);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_validation),
        cmocka_unit_test(test_keys_aliases_and_blobs),
        cmocka_unit_test(test_put_key_policy),
        cmocka_unit_test(test_recipient),
        cmocka_unit_test(test_denial_explained),
        cmocka_unit_test(test_asymmetric_signing),
        cmocka_unit_test(test_rsa_encrypt_decrypt),
        cmocka_unit_test(test_recipient_key_agreement_and_pairs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
