/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms: the operations (see service.h). */
#include "service.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "asym.h"
#include "base64.h"
#include "blob.h"
#include "policy.h"
#include "recipient.h"

#define KMS_RANDOM_MAX 1024        /* GenerateRandom and NumberOfBytes */
#define KMS_KEY_REF_MAX 2048       /* KeyId: id, ARN, alias or alias ARN */
#define KMS_CONTEXT_MAX 8192       /* canonical encryption context, bytes */
#define KMS_LIST_LIMIT_MAX 1000
#define KMS_LIST_LIMIT_DEFAULT 100

/* ---- errors -------------------------------------------------------------------------------- */

void kms_response_clear(kms_response *out)
{
    free(out->body);
    out->body = NULL;
    out->len = 0;
}

/* Takes ownership of doc. */
static void respond_json(kms_response *out, unsigned status, kms_code code, json_t *doc)
{
    out->status = status;
    out->code = code;
    out->body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (out->body == NULL) { /* out of memory: a fixed body, still KMS-shaped */
        out->status = 500;
        out->code = KMS_ERR_INTERNAL;
        out->body = strdup("{\"__type\":\"KMSInternalException\",\"message\":\"out of memory\"}");
    }
    out->len = out->body != NULL ? strlen(out->body) : 0;
}

void kms_response_error(kms_response *out, kms_code code, const char *message)
{
    const char *type = kms_code_type(code);
    respond_json(out, kms_code_status(code), code,
                 json_pack("{s:s, s:s}", "__type", type != NULL ? type : "KMSInternalException",
                           "message", message));
}

/* ---- reading fields -------------------------------------------------------------------------- */

/* "KeyId" -> "keyId", the way AWS names members in validation messages. */
static const char *member_name(const char *field, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s", field);
    out[0] = (char)tolower((unsigned char)out[0]);
    return out;
}

static kms_code missing(kms_error *e, const char *field)
{
    char m[64];
    return kms_fail(e, KMS_ERR_VALIDATION,
                    "1 validation error detected: Value null at '%s' failed to satisfy "
                    "constraint: Member must not be null", member_name(field, m, sizeof(m)));
}

static kms_code wrong_type(kms_error *e, const char *field, const char *want)
{
    return kms_fail(e, KMS_ERR_SERIALIZATION, "%s must be %s", field, want);
}

/* A string member of min..max bytes (UTF-8 checked by jansson). *out borrowed from req;
 * NULL when absent and not required. */
static kms_code get_string(json_t *req, const char *field, bool required, size_t min,
                           size_t max, const char **out, kms_error *e)
{
    json_t *v = json_object_get(req, field);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return required ? missing(e, field) : KMS_ERR_OK;
    if (!json_is_string(v))
        return wrong_type(e, field, "a string");
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    char m[64];
    if (len < min || len > max)
        return kms_fail(e, KMS_ERR_VALIDATION,
                        "1 validation error detected: Value at '%s' failed to satisfy "
                        "constraint: Member must have length between %zu and %zu",
                        member_name(field, m, sizeof(m)), min, max);
    if (strlen(s) != len)
        return kms_fail(e, KMS_ERR_VALIDATION, "%s holds a NUL character", field);
    *out = s;
    return KMS_ERR_OK;
}

/* A base64 member decoding to min..max bytes; *out owned by the caller (NULL if absent). */
static kms_code get_blob(json_t *req, const char *field, bool required, size_t min,
                         size_t max, uint8_t **out, size_t *out_len, kms_error *e)
{
    const char *text;
    *out = NULL;
    *out_len = 0;
    kms_code code = get_string(req, field, required, 0, (max + 2) / 3 * 4, &text, e);
    if (code != KMS_ERR_OK)
        return code;
    if (text == NULL)
        return KMS_ERR_OK;
    nsmkit_error be;
    char m[64];
    if (kms_base64_decode(text, strlen(text), max, out, out_len, &be) != 0)
        return kms_fail(e, KMS_ERR_SERIALIZATION, "%s is not valid base64: %s", field, be.msg);
    if (*out_len < min) {
        free(*out);
        *out = NULL;
        return kms_fail(e, KMS_ERR_VALIDATION,
                        "1 validation error detected: Value at '%s' failed to satisfy "
                        "constraint: Member must have length greater than or equal to %zu",
                        member_name(field, m, sizeof(m)), min);
    }
    return KMS_ERR_OK;
}

static kms_code get_int(json_t *req, const char *field, long long min, long long max,
                        bool *present, long long *out, kms_error *e)
{
    json_t *v = json_object_get(req, field);
    *present = false;
    if (v == NULL || json_is_null(v))
        return KMS_ERR_OK;
    if (!json_is_integer(v))
        return wrong_type(e, field, "an integer");
    long long n = json_integer_value(v);
    char m[64];
    if (n < min || n > max)
        return kms_fail(e, KMS_ERR_VALIDATION,
                        "1 validation error detected: Value '%lld' at '%s' failed to satisfy "
                        "constraint: Member must have value between %lld and %lld", n,
                        member_name(field, m, sizeof(m)), min, max);
    *present = true;
    *out = n;
    return KMS_ERR_OK;
}

static kms_code get_bool(json_t *req, const char *field, kms_error *e)
{
    json_t *v = json_object_get(req, field);
    if (v != NULL && !json_is_null(v) && !json_is_boolean(v))
        return wrong_type(e, field, "a boolean");
    return KMS_ERR_OK;
}

/* An enumeration: absent is fine, otherwise one of the NULL-terminated allowed values. */
static kms_code get_enum(json_t *req, const char *field, const char *const *allowed,
                         const char **out, kms_error *e)
{
    kms_code code = get_string(req, field, false, 1, 64, out, e);
    if (code != KMS_ERR_OK || *out == NULL)
        return code;
    for (size_t i = 0; allowed[i] != NULL; i++)
        if (strcmp(*out, allowed[i]) == 0)
            return KMS_ERR_OK;
    char m[64];
    return kms_fail(e, KMS_ERR_VALIDATION,
                    "1 validation error detected: Value '%.64s' at '%s' failed to satisfy "
                    "constraint: Member must satisfy enum value set (nsm-kms supports %s%s)",
                    *out, member_name(field, m, sizeof(m)), allowed[0],
                    allowed[1] != NULL ? ", ..." : "");
}

/* EncryptionContext: a map of strings, canonicalised (sorted keys, compact) into out, which
 * the caller frees; an absent or empty map gives NULL. */
static kms_code get_context(json_t *req, char **out, kms_error *e)
{
    json_t *v = json_object_get(req, "EncryptionContext");
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return KMS_ERR_OK;
    if (!json_is_object(v))
        return wrong_type(e, "EncryptionContext", "a map of strings");
    if (json_object_size(v) == 0)
        return KMS_ERR_OK;
    const char *key;
    json_t *value;
    json_object_foreach(v, key, value)
    {
        if (!json_is_string(value))
            return wrong_type(e, "EncryptionContext", "a map of strings");
        if (key[0] == '\0')
            return kms_fail(e, KMS_ERR_VALIDATION, "EncryptionContext has an empty key");
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        return kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    if (strlen(text) > KMS_CONTEXT_MAX) {
        free(text);
        return kms_fail(e, KMS_ERR_VALIDATION, "EncryptionContext is over %d bytes",
                        KMS_CONTEXT_MAX);
    }
    *out = text;
    return KMS_ERR_OK;
}

static nsmkit_bytes context_bytes(const char *context)
{
    return context != NULL ? nsmkit_bytes_of(context, strlen(context)) : NSMKIT_BYTES_NONE;
}

/* Recipient: verifies the document; *out NULL when the request has none. */
static kms_code get_recipient(const kms_service *s, json_t *req, kms_recipient **out,
                              kms_error *e)
{
    json_t *v = json_object_get(req, "Recipient");
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return KMS_ERR_OK;
    if (!json_is_object(v))
        return wrong_type(e, "Recipient", "a structure");
    static const char *const algorithms[] = {KMS_RECIPIENT_ALGORITHM, NULL};
    const char *algorithm;
    kms_code code = get_enum(v, "KeyEncryptionAlgorithm", algorithms, &algorithm, e);
    if (code != KMS_ERR_OK)
        return code;
    uint8_t *doc = NULL; /* owned */
    size_t doc_len = 0;
    code = get_blob(v, "AttestationDocument", true, 1, NSMV_DOC_MAX, &doc, &doc_len, e);
    if (code != KMS_ERR_OK)
        return code;
    code = kms_recipient_from_document(s->verifier, nsmkit_bytes_of(doc, doc_len),
                                       s->verify_time_s, out, e);
    free(doc);
    return code;
}

/* ---- shared steps ------------------------------------------------------------------------------ */

/* KeyId: resolved and copied into key (caller clears). */
static kms_code get_key(const kms_service *s, json_t *req, const char *field, kms_key *key,
                        kms_error *e)
{
    const char *ref;
    kms_code code = get_string(req, field, true, 1, KMS_KEY_REF_MAX, &ref, e);
    if (code != KMS_ERR_OK)
        return code;
    return kms_store_find(s->store, ref, key, e);
}

/* The key policy's verdict. A denial answers in KMS's words; the reason (which statement,
 * which condition, both values) goes to the log, and into the message with --explain. */
static kms_code authorize(const kms_service *s, const kms_key *key, const char *action,
                          const kms_recipient *recipient, kms_error *e)
{
    kms_claims none;
    memset(&none, 0, sizeof(none));
    kms_decision d;
    kms_policy_evaluate(key->policy, strlen(key->policy), action,
                        recipient != NULL ? kms_recipient_claims(recipient) : &none, &d);
    if (d.allowed)
        return KMS_ERR_OK;
    char arn[256];
    kms_store_key_arn(s->store, key->id, arn, sizeof(arn));
    if (s->log_denials)
        fprintf(stderr, "nsm-kms: denied %s on %s: %s\n", action, key->id, d.reason);
    return kms_fail(e, KMS_ERR_ACCESS_DENIED, "User: arn:aws:iam::%s:root is not authorized to "
                    "perform: %s on resource: %s because %s%s%s%s%s%s",
                    kms_store_account(s->store), action, arn,
                    d.explicit_deny ? "of an explicit deny in a resource-based policy"
                                    : "no resource-based policy allows the ",
                    d.explicit_deny ? "" : action, d.explicit_deny ? "" : " action",
                    s->explain ? " (nsm-kms --explain: " : "", s->explain ? d.reason : "",
                    s->explain ? ")" : "");
}

static kms_code require_enabled(const kms_key *key, kms_error *e)
{
    if (!key->enabled)
        return kms_fail(e, KMS_ERR_DISABLED, "%s is disabled.", key->id);
    return KMS_ERR_OK;
}

static bool is_symmetric(const kms_key *key)
{
    return key->private_der == NULL;
}

/* The operation needs an enabled symmetric key, or an asymmetric one of this usage. */
static kms_code require_usage(const kms_key *key, bool symmetric, const char *usage,
                              const char *operation, kms_error *e)
{
    if (symmetric ? is_symmetric(key) : !is_symmetric(key) && strcmp(key->usage, usage) == 0)
        return require_enabled(key, e);
    char arn[64];
    snprintf(arn, sizeof(arn), "%s", key->id);
    return kms_fail(e, KMS_ERR_INVALID_KEY_USAGE, "%s key usage is %s (KeySpec %s), which is "
                    "not valid for %s", arn, key->usage, key->spec, operation);
}

/* Adds a base64 member to out. */
static kms_code put_blob(json_t *out, const char *field, const uint8_t *data, size_t len,
                         kms_error *e)
{
    char *text = kms_base64_encode(data, len);
    if (text == NULL || json_object_set_new(out, field, json_string(text)) != 0) {
        free(text);
        return kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    }
    free(text);
    return KMS_ERR_OK;
}

/* The secret goes out as Plaintext, or sealed to the recipient as CiphertextForRecipient
 * (and then no Plaintext at all, as KMS does). */
static kms_code put_secret(json_t *out, const kms_recipient *recipient, const uint8_t *secret,
                           size_t len, kms_error *e)
{
    if (recipient == NULL)
        return put_blob(out, "Plaintext", secret, len, e);
    uint8_t *cms = NULL;
    size_t cms_len = 0;
    nsmkit_error ce;
    if (kms_recipient_seal(recipient, nsmkit_bytes_of(secret, len), &cms, &cms_len, &ce) != 0)
        return kms_fail(e, KMS_ERR_INTERNAL, "cannot make CiphertextForRecipient: %s", ce.msg);
    kms_code code = put_blob(out, "CiphertextForRecipient", cms, cms_len, e);
    free(cms);
    return code;
}

static kms_code put_key_arn(const kms_service *s, json_t *out, const char *id, kms_error *e)
{
    char arn[256];
    kms_store_key_arn(s->store, id, arn, sizeof(arn));
    if (json_object_set_new(out, "KeyId", json_string(arn)) != 0)
        return kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    return KMS_ERR_OK;
}

static json_t *string_list(const char *const *items)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && items[i] != NULL; i++)
        if (json_array_append_new(list, json_string(items[i])) != 0) {
            json_decref(list);
            return NULL;
        }
    return list;
}

static json_t *key_metadata(const kms_service *s, const kms_key *key)
{
    static const char *const symmetric_algorithms[] = {"SYMMETRIC_DEFAULT", NULL};
    static const char *const ecdh[] = {"ECDH", NULL};
    char arn[256];
    kms_store_key_arn(s->store, key->id, arn, sizeof(arn));
    json_t *meta = json_pack("{s:s, s:s, s:s, s:I, s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}",
                             "AWSAccountId", kms_store_account(s->store), "KeyId", key->id,
                             "Arn", arn, "CreationDate", (json_int_t)key->creation_s, "Enabled",
                             key->enabled, "Description", key->description, "KeyUsage",
                             key->usage, "KeyState", key->enabled ? "Enabled" : "Disabled",
                             "Origin", "AWS_KMS", "KeyManager", "CUSTOMER", "KeySpec", key->spec,
                             "CustomerMasterKeySpec", key->spec, "MultiRegion", 0);
    /* the algorithms the key's usage allows, under AWS's member names */
    const char *member = NULL;
    const char *const *algorithms = NULL;
    if (is_symmetric(key)) {
        member = "EncryptionAlgorithms";
        algorithms = symmetric_algorithms;
    } else if (strcmp(key->usage, "ENCRYPT_DECRYPT") == 0) {
        member = "EncryptionAlgorithms";
        algorithms = kms_asym_encryption_algorithms(key->spec);
    } else if (strcmp(key->usage, "SIGN_VERIFY") == 0) {
        member = "SigningAlgorithms";
        algorithms = kms_asym_signing_algorithms(key->spec);
    } else {
        member = "KeyAgreementAlgorithms";
        algorithms = ecdh;
    }
    if (meta != NULL && json_object_set_new(meta, member, string_list(algorithms)) != 0) {
        json_decref(meta);
        return NULL;
    }
    return meta;
}


/* ---- operations -------------------------------------------------------------------------------- */

typedef kms_code (*op_fn)(const kms_service *s, json_t *req, json_t *out, kms_error *e);

static const char *const key_specs[] = {"SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096",
                                        "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
                                        "ECC_SECG_P256K1", NULL};

/* KeySpec (or the older CustomerMasterKeySpec) and KeyUsage of CreateKey, as AWS pairs them. */
static kms_code get_spec_and_usage(json_t *req, const char **spec, const char **usage,
                                   kms_error *e)
{
    static const char *const usages[] = {"ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT", NULL};
    const char *old_spec;
    kms_code code;
    if ((code = get_enum(req, "KeyUsage", usages, usage, e)) ||
        (code = get_enum(req, "KeySpec", key_specs, spec, e)) ||
        (code = get_enum(req, "CustomerMasterKeySpec", key_specs, &old_spec, e)))
        return code;
    if (*spec != NULL && old_spec != NULL)
        return kms_fail(e, KMS_ERR_VALIDATION, "You cannot specify KeySpec and "
                        "CustomerMasterKeySpec in the same request. CustomerMasterKeySpec "
                        "parameter is deprecated. Use KeySpec instead.");
    if (*spec == NULL)
        *spec = old_spec != NULL ? old_spec : "SYMMETRIC_DEFAULT";
    if (*usage == NULL)
        *usage = "ENCRYPT_DECRYPT";
    bool symmetric = strcmp(*spec, "SYMMETRIC_DEFAULT") == 0;
    if (symmetric ? strcmp(*usage, "ENCRYPT_DECRYPT") != 0 : !kms_asym_usage_allowed(*spec, *usage))
        return kms_fail(e, KMS_ERR_VALIDATION, "KeyUsage %s is not compatible with KeySpec %s",
                        *usage, *spec);
    return KMS_ERR_OK;
}

static kms_code op_create_key(const kms_service *s, json_t *req, json_t *out, kms_error *e)
{
    static const char *const origins[] = {"AWS_KMS", NULL};
    const char *description, *policy, *value, *spec, *usage;
    kms_code code;
    if ((code = get_string(req, "Description", false, 0, KMS_DESCRIPTION_MAX, &description, e)) ||
        (code = get_string(req, "Policy", false, 1, KMS_POLICY_MAX, &policy, e)) ||
        (code = get_spec_and_usage(req, &spec, &usage, e)) ||
        (code = get_enum(req, "Origin", origins, &value, e)) ||
        (code = get_bool(req, "BypassPolicyLockoutSafetyCheck", e)) ||
        (code = get_bool(req, "MultiRegion", e)))
        return code;
    if (json_is_true(json_object_get(req, "MultiRegion")))
        return kms_fail(e, KMS_ERR_VALIDATION, "nsm-kms has no multi-Region keys");
    json_t *tags = json_object_get(req, "Tags");
    if (tags != NULL && !json_is_null(tags) && !json_is_array(tags))
        return wrong_type(e, "Tags", "a list");
    nsmkit_error pe;
    if (policy != NULL && kms_policy_validate(policy, strlen(policy), &pe) != 0)
        return kms_fail(e, KMS_ERR_MALFORMED_POLICY, "%s", pe.msg);
    kms_key key;
    if ((code = kms_store_create_key(s->store, description, policy, spec, usage, &key, e)) !=
        KMS_ERR_OK)
        return code;
    json_t *meta = key_metadata(s, &key);
    kms_key_clear(&key);
    if (meta == NULL || json_object_set_new(out, "KeyMetadata", meta) != 0)
        return kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    return KMS_ERR_OK;
}

static kms_code op_describe_key(const kms_service *s, json_t *req, json_t *out, kms_error *e)
{
    kms_key key;
    kms_code code = get_key(s, req, "KeyId", &key, e);
    if (code != KMS_ERR_OK)
        return code;
    if ((code = authorize(s, &key, "kms:DescribeKey", NULL, e)) == KMS_ERR_OK) {
        json_t *meta = key_metadata(s, &key);
        if (meta == NULL || json_object_set_new(out, "KeyMetadata", meta) != 0)
            code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    }
    kms_key_clear(&key);
    return code;
}

/* Limit and Marker of the List operations: Marker is the decimal index we handed out. */
static kms_code get_page(json_t *req, size_t total, size_t *start, size_t *limit,
                         kms_error *e)
{
    bool present;
    long long n = KMS_LIST_LIMIT_DEFAULT;
    kms_code code = get_int(req, "Limit", 1, KMS_LIST_LIMIT_MAX, &present, &n, e);
    if (code != KMS_ERR_OK)
        return code;
    *limit = (size_t)n;
    const char *marker;
    if ((code = get_string(req, "Marker", false, 1, 1024, &marker, e)) != KMS_ERR_OK)
        return code;
    *start = 0;
    if (marker != NULL) {
        char *end = NULL;
        unsigned long long at = strtoull(marker, &end, 10);
        if (!isdigit((unsigned char)marker[0]) || *end != '\0' || at == 0 || at > total)
            return kms_fail(e, KMS_ERR_INVALID_MARKER, "Marker %.64s is not one this server "
                            "handed out", marker);
        *start = (size_t)at;
    }
    return KMS_ERR_OK;
}

static kms_code put_page_end(json_t *out, size_t next, size_t total, kms_error *e)
{
    bool truncated = next < total;
    char marker[32];
    snprintf(marker, sizeof(marker), "%zu", next);
    if (json_object_set_new(out, "Truncated", json_boolean(truncated)) != 0 ||
        (truncated && json_object_set_new(out, "NextMarker", json_string(marker)) != 0))
        return kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    return KMS_ERR_OK;
}

static kms_code op_list_keys(const kms_service *s, json_t *req, json_t *out, kms_error *e)
{
    char(*ids)[KMS_KEY_ID_LEN + 1] = NULL;
    size_t count = 0, start, limit;
    kms_code code = kms_store_list_keys(s->store, &ids, &count, e);
    if (code != KMS_ERR_OK)
        return code;
    json_t *keys = json_array();
    if ((code = get_page(req, count, &start, &limit, e)) != KMS_ERR_OK)
        goto done;
    size_t end = start + limit < count ? start + limit : count;
    for (size_t i = start; i < end; i++) {
        char arn[256];
        kms_store_key_arn(s->store, ids[i], arn, sizeof(arn));
        if (json_array_append_new(keys, json_pack("{s:s, s:s}", "KeyId", ids[i], "KeyArn", arn)) != 0) {
            code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
            goto done;
        }
    }
    if (json_object_set(out, "Keys", keys) != 0)
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    else
        code = put_page_end(out, end, count, e);
done:
    json_decref(keys);
    free(ids);
    return code;
}

static kms_code alias_name_check(const char *name, kms_error *e)
{
    if (strncmp(name, "alias/", 6) != 0 || name[6] == '\0')
        return kms_fail(e, KMS_ERR_VALIDATION, "Alias must start with the prefix \"alias/\" and "
                        "have a name after it");
    if (strncmp(name, "alias/aws/", 10) == 0)
        return kms_fail(e, KMS_ERR_INVALID_ALIAS_NAME,
                        "Alias names starting with alias/aws/ are reserved for AWS managed keys");
    for (const char *p = name; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && strchr("/_-", *p) == NULL)
            return kms_fail(e, KMS_ERR_VALIDATION, "Alias %.256s holds a character outside "
                            "a-z A-Z 0-9 / _ -", name);
    return KMS_ERR_OK;
}

static kms_code op_create_alias(const kms_service *s, json_t *req, json_t *out, kms_error *e)
{
    (void)out;
    const char *name;
    kms_code code = get_string(req, "AliasName", true, 1, KMS_ALIAS_NAME_MAX, &name, e);
    if (code != KMS_ERR_OK || (code = alias_name_check(name, e)) != KMS_ERR_OK)
        return code;
    const char *target;
    if ((code = get_string(req, "TargetKeyId", true, 1, KMS_KEY_REF_MAX, &target, e)) != KMS_ERR_OK)
        return code;
    if (strncmp(target, "alias/", 6) == 0 || strstr(target, ":alias/") != NULL)
        return kms_fail(e, KMS_ERR_VALIDATION, "TargetKeyId must name a key, not an alias");
    kms_key key;
    if ((code = kms_store_find(s->store, target, &key, e)) != KMS_ERR_OK)
        return code;
    if ((code = authorize(s, &key, "kms:CreateAlias", NULL, e)) == KMS_ERR_OK)
        code = kms_store_create_alias(s->store, name, key.id, e);
    kms_key_clear(&key);
    return code;
}

static kms_code op_list_aliases(const kms_service *s, json_t *req, json_t *out, kms_error *e)
{
    const char *filter_ref;
    kms_code code = get_string(req, "KeyId", false, 1, KMS_KEY_REF_MAX, &filter_ref, e);
    if (code != KMS_ERR_OK)
        return code;
    char filter[KMS_KEY_ID_LEN + 1] = "";
    if (filter_ref != NULL) {
        kms_key key;
        if ((code = kms_store_find(s->store, filter_ref, &key, e)) != KMS_ERR_OK)
            return code;
        memcpy(filter, key.id, sizeof(filter));
        kms_key_clear(&key);
    }
    kms_alias *aliases = NULL;
    size_t count = 0, start, limit, kept = 0;
    if ((code = kms_store_list_aliases(s->store, &aliases, &count, e)) != KMS_ERR_OK)
        return code;
    for (size_t i = 0; i < count; i++) /* filter first, so that markers index the answer */
        if (filter[0] == '\0' || strcmp(aliases[i].target, filter) == 0)
            aliases[kept++] = aliases[i];
    json_t *list = json_array();
    if ((code = get_page(req, kept, &start, &limit, e)) != KMS_ERR_OK)
        goto done;
    size_t end = start + limit < kept ? start + limit : kept;
    for (size_t i = start; i < end; i++) {
        char arn[512];
        snprintf(arn, sizeof(arn), "arn:aws:kms:%s:%s:%s", kms_store_region(s->store),
                 kms_store_account(s->store), aliases[i].name);
        if (json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "AliasName", aliases[i].name,
                                                  "AliasArn", arn, "TargetKeyId",
                                                  aliases[i].target)) != 0) {
            code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
            goto done;
        }
    }
    if (json_object_set(out, "Aliases", list) != 0)
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    else
        code = put_page_end(out, end, kept, e);
done:
    json_decref(list);
    free(aliases);
    return code;
}

static kms_code load_pair(const kms_key *key, EVP_PKEY **out, kms_error *e);

/* ---- Encrypt and Decrypt with an RSA key (ENCRYPT_DECRYPT): RSAES-OAEP, the ciphertext bare,
 * no encryption context, as KMS does it ----------------------------------------------------- */

static const char *const encryption_algorithms[] = {"SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1",
                                                   "RSAES_OAEP_SHA_256", NULL};

static kms_code symmetric_algorithm(const char *algorithm, kms_error *e)
{
    if (algorithm != NULL && strcmp(algorithm, "SYMMETRIC_DEFAULT") != 0)
        return kms_fail(e, KMS_ERR_INVALID_KEY_USAGE, "%s is an algorithm of asymmetric RSA "
                        "keys; this key is symmetric (SYMMETRIC_DEFAULT)", algorithm);
    return KMS_ERR_OK;
}

/* The checks Encrypt and Decrypt share for an RSA key. */
static kms_code asymmetric_checks(const kms_service *s, const kms_key *key, const char *algorithm,
                                  const char *context, const char *action,
                                  const kms_recipient *recipient, EVP_PKEY **pair, kms_error *e)
{
    kms_code code;
    if (algorithm == NULL || strcmp(algorithm, "SYMMETRIC_DEFAULT") == 0)
        return kms_fail(e, KMS_ERR_VALIDATION, "%s is an asymmetric key (%s): EncryptionAlgorithm "
                        "must be RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256", key->id, key->spec);
    if (context != NULL)
        return kms_fail(e, KMS_ERR_VALIDATION, "asymmetric keys take no EncryptionContext");
    if ((code = require_enabled(key, e)) || (code = authorize(s, key, action, recipient, e)))
        return code;
    return load_pair(key, pair, e);
}

static kms_code put_algorithm(const kms_service *s, json_t *out, const kms_key *key,
                              const char *algorithm, kms_error *e)
{
    kms_code code = put_key_arn(s, out, key->id, e);
    if (code == KMS_ERR_OK &&
        json_object_set_new(out, "EncryptionAlgorithm", json_string(algorithm)) != 0)
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    return code;
}

static kms_code asymmetric_encrypt(const kms_service *s, const kms_key *key,
                                   const char *algorithm, const char *context, nsmkit_bytes plain,
                                   json_t *out, kms_error *e)
{
    EVP_PKEY *pair = NULL;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    nsmkit_error ae;
    kms_code code = asymmetric_checks(s, key, algorithm, context, "kms:Encrypt", NULL, &pair, e);
    if (code == KMS_ERR_OK && kms_asym_encrypt(pair, algorithm, plain, &blob, &blob_len, &ae) != 0)
        code = kms_fail(e, KMS_ERR_VALIDATION, "%s", ae.msg);
    if (code == KMS_ERR_OK && (code = put_blob(out, "CiphertextBlob", blob, blob_len, e)) == KMS_ERR_OK)
        code = put_algorithm(s, out, key, algorithm, e);
    free(blob);
    EVP_PKEY_free(pair);
    return code;
}

static kms_code asymmetric_decrypt(const kms_service *s, json_t *req, const kms_key *key,
                                   const char *algorithm, const char *context, nsmkit_bytes blob,
                                   json_t *out, kms_error *e)
{
    EVP_PKEY *pair = NULL;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    nsmkit_error ae;
    kms_recipient *recipient = NULL;
    kms_code code = get_recipient(s, req, &recipient, e);
    if (code != KMS_ERR_OK ||
        (code = asymmetric_checks(s, key, algorithm, context, "kms:Decrypt", recipient, &pair, e)))
        goto done;
    if (kms_asym_decrypt(pair, algorithm, blob, &plain, &plain_len, &ae) != 0) {
        code = kms_fail(e, KMS_ERR_INVALID_CIPHERTEXT, "%s", ae.msg);
        goto done;
    }
    if ((code = put_secret(out, recipient, plain, plain_len, e)) == KMS_ERR_OK)
        code = put_algorithm(s, out, key, algorithm, e);
done:
    if (plain != NULL) {
        nsmkit_wipe(plain, plain_len);
        free(plain);
    }
    kms_recipient_free(recipient);
    EVP_PKEY_free(pair);
    return code;
}

static kms_code op_encrypt(const kms_service *s, json_t *req, json_t *out, kms_error *e)
{
    uint8_t *plain = NULL, *blob = NULL;
    size_t plain_len = 0, blob_len = 0;
    char *context = NULL;
    const char *algorithm;
    kms_key key;
    kms_code code = get_key(s, req, "KeyId", &key, e);
    if (code != KMS_ERR_OK)
        return code;
    nsmkit_error be;
    if ((code = get_blob(req, "Plaintext", true, 1, KMS_PLAINTEXT_MAX, &plain, &plain_len, e)) ||
        (code = get_context(req, &context, e)) ||
        (code = get_enum(req, "EncryptionAlgorithm", encryption_algorithms, &algorithm, e)))
        goto done;
    if (!is_symmetric(&key) && strcmp(key.usage, "ENCRYPT_DECRYPT") == 0) {
        code = asymmetric_encrypt(s, &key, algorithm, context, nsmkit_bytes_of(plain, plain_len),
                                  out, e);
        goto done;
    }
    if ((code = require_usage(&key, true, NULL, "Encrypt", e)) ||
        (code = symmetric_algorithm(algorithm, e)) ||
        (code = authorize(s, &key, "kms:Encrypt", NULL, e)))
        goto done;
    if (kms_blob_seal(key.material, key.id, context_bytes(context),
                      nsmkit_bytes_of(plain, plain_len), &blob, &blob_len, &be) != 0) {
        code = kms_fail(e, KMS_ERR_INTERNAL, "%s", be.msg);
        goto done;
    }
    if ((code = put_blob(out, "CiphertextBlob", blob, blob_len, e)) ||
        (code = put_key_arn(s, out, key.id, e)))
        goto done;
    if (json_object_set_new(out, "EncryptionAlgorithm", json_string("SYMMETRIC_DEFAULT")) != 0)
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
done:
    if (plain != NULL)
        nsmkit_wipe(plain, plain_len);
    free(plain);
    free(blob);
    free(context);
    kms_key_clear(&key);
    return code;
}

static kms_code op_decrypt(const kms_service *s, json_t *req, json_t *out, kms_error *e)
{
    uint8_t *blob = NULL, *plain = NULL;
    size_t blob_len = 0, plain_len = 0;
    char *context = NULL;
    const char *algorithm, *key_ref;
    kms_recipient *recipient = NULL;
    kms_key key;
    memset(&key, 0, sizeof(key));
    bool have_key = false;
    char blob_key[KMS_KEY_ID_LEN + 1];
    nsmkit_error be;
    kms_code code;
    if ((code = get_blob(req, "CiphertextBlob", true, 1, KMS_BLOB_MAX, &blob, &blob_len, e)) ||
        (code = get_context(req, &context, e)) ||
        (code = get_enum(req, "EncryptionAlgorithm", encryption_algorithms, &algorithm, e)) ||
        (code = get_string(req, "KeyId", false, 1, KMS_KEY_REF_MAX, &key_ref, e)))
        goto done;
    if (key_ref != NULL) {
        if ((code = kms_store_find(s->store, key_ref, &key, e)) != KMS_ERR_OK)
            goto done;
        have_key = true;
        if (!is_symmetric(&key) && strcmp(key.usage, "ENCRYPT_DECRYPT") == 0) {
            code = asymmetric_decrypt(s, req, &key, algorithm, context,
                                      nsmkit_bytes_of(blob, blob_len), out, e);
            goto done;
        }
    }
    if ((code = symmetric_algorithm(algorithm, e)))
        goto done;
    if (kms_blob_key_id(nsmkit_bytes_of(blob, blob_len), blob_key, &be) != 0) {
        code = kms_fail(e, KMS_ERR_INVALID_CIPHERTEXT, "%s", be.msg);
        goto done;
    }
    if (key_ref != NULL) {
        if (strcmp(key.id, blob_key) != 0) {
            code = kms_fail(e, KMS_ERR_INCORRECT_KEY, "The key ID in the request does not "
                            "identify a KMS key that can perform this operation (the "
                            "ciphertext names key %s)", blob_key);
            goto done;
        }
    } else {
        if ((code = kms_store_find(s->store, blob_key, &key, e)) != KMS_ERR_OK) {
            code = kms_fail(e, KMS_ERR_INVALID_CIPHERTEXT, "the ciphertext names key %s, "
                            "which this server does not hold", blob_key);
            goto done;
        }
        have_key = true;
    }
    if ((code = require_usage(&key, true, NULL, "Decrypt", e)) ||
        (code = get_recipient(s, req, &recipient, e)) ||
        (code = authorize(s, &key, "kms:Decrypt", recipient, e)))
        goto done;
    if (kms_blob_open(key.material, nsmkit_bytes_of(blob, blob_len), context_bytes(context),
                      &plain, &plain_len, &be) != 0) {
        code = kms_fail(e, KMS_ERR_INVALID_CIPHERTEXT, "%s", be.msg);
        goto done;
    }
    if ((code = put_secret(out, recipient, plain, plain_len, e)) ||
        (code = put_key_arn(s, out, key.id, e)))
        goto done;
    if (json_object_set_new(out, "EncryptionAlgorithm", json_string("SYMMETRIC_DEFAULT")) != 0)
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
done:
    if (plain != NULL)
        nsmkit_wipe(plain, plain_len);
    free(plain);
    free(blob);
    free(context);
    kms_recipient_free(recipient);
    if (have_key)
        kms_key_clear(&key);
    return code;
}

/* GenerateDataKey (with_plaintext) and GenerateDataKeyWithoutPlaintext. */
static kms_code generate_data_key(const kms_service *s, json_t *req, json_t *out,
                                  bool with_plaintext, kms_error *e)
{
    static const char *const specs[] = {"AES_256", "AES_128", NULL};
    uint8_t secret[KMS_RANDOM_MAX], *blob = NULL;
    size_t blob_len = 0;
    char *context = NULL;
    const char *spec;
    bool have_bytes;
    long long bytes = 0;
    kms_recipient *recipient = NULL;
    kms_key key;
    kms_code code = get_key(s, req, "KeyId", &key, e);
    if (code != KMS_ERR_OK)
        return code;
    nsmkit_error be;
    if ((code = get_enum(req, "KeySpec", specs, &spec, e)) ||
        (code = get_int(req, "NumberOfBytes", 1, KMS_RANDOM_MAX, &have_bytes, &bytes, e)) ||
        (code = get_context(req, &context, e)))
        goto done;
    if ((spec == NULL) == !have_bytes) {
        code = kms_fail(e, KMS_ERR_VALIDATION, "Please specify either number of bytes or key spec.");
        goto done;
    }
    size_t len = spec != NULL ? (strcmp(spec, "AES_256") == 0 ? 32 : 16) : (size_t)bytes;
    if (with_plaintext && (code = get_recipient(s, req, &recipient, e)))
        goto done;
    if ((code = require_usage(&key, true, NULL, "GenerateDataKey", e)) ||
        (code = authorize(s, &key, with_plaintext ? "kms:GenerateDataKey"
                                               : "kms:GenerateDataKeyWithoutPlaintext",
                          recipient, e)))
        goto done;
    if (RAND_bytes(secret, (int)len) != 1) {
        code = kms_fail(e, KMS_ERR_INTERNAL, "no random bytes");
        goto done;
    }
    if (kms_blob_seal(key.material, key.id, context_bytes(context), nsmkit_bytes_of(secret, len),
                      &blob, &blob_len, &be) != 0) {
        code = kms_fail(e, KMS_ERR_INTERNAL, "%s", be.msg);
        goto done;
    }
    if ((code = put_blob(out, "CiphertextBlob", blob, blob_len, e)) ||
        (with_plaintext && (code = put_secret(out, recipient, secret, len, e))) ||
        (code = put_key_arn(s, out, key.id, e)))
        goto done;
done:
    nsmkit_wipe(secret, sizeof(secret));
    free(blob);
    free(context);
    kms_recipient_free(recipient);
    kms_key_clear(&key);
    return code;
}

static kms_code op_generate_data_key(const kms_service *s, json_t *req, json_t *out,
                                     kms_error *e)
{
    return generate_data_key(s, req, out, true, e);
}

static kms_code op_generate_data_key_without_plaintext(const kms_service *s, json_t *req,
                                                       json_t *out, kms_error *e)
{
    return generate_data_key(s, req, out, false, e);
}

static kms_code op_generate_random(const kms_service *s, json_t *req, json_t *out,
                                   kms_error *e)
{
    bool have_bytes;
    long long bytes = 0;
    const char *store_id;
    kms_recipient *recipient = NULL;
    kms_code code;
    if ((code = get_int(req, "NumberOfBytes", 1, KMS_RANDOM_MAX, &have_bytes, &bytes, e)) ||
        (code = get_string(req, "CustomKeyStoreId", false, 1, 64, &store_id, e)))
        return code;
    if (!have_bytes)
        return missing(e, "NumberOfBytes");
    if (store_id != NULL)
        return kms_fail(e, KMS_ERR_NOT_FOUND, "nsm-kms has no custom key stores");
    /* No key, so no key policy: the document is verified, and that is the condition. */
    if ((code = get_recipient(s, req, &recipient, e)) != KMS_ERR_OK)
        return code;
    uint8_t secret[KMS_RANDOM_MAX];
    if (RAND_bytes(secret, (int)bytes) != 1)
        code = kms_fail(e, KMS_ERR_INTERNAL, "no random bytes");
    else
        code = put_secret(out, recipient, secret, (size_t)bytes, e);
    nsmkit_wipe(secret, sizeof(secret));
    kms_recipient_free(recipient);
    return code;
}

static kms_code get_policy_name(json_t *req, kms_error *e)
{
    const char *name;
    kms_code code = get_string(req, "PolicyName", false, 1, 128, &name, e);
    if (code == KMS_ERR_OK && name != NULL && strcmp(name, "default") != 0)
        return kms_fail(e, KMS_ERR_NOT_FOUND, "A key has one policy, named \"default\"; "
                        "there is no policy %.128s", name);
    return code;
}

static kms_code op_get_key_policy(const kms_service *s, json_t *req, json_t *out,
                                  kms_error *e)
{
    kms_key key;
    kms_code code = get_key(s, req, "KeyId", &key, e);
    if (code != KMS_ERR_OK)
        return code;
    if ((code = get_policy_name(req, e)) == KMS_ERR_OK &&
        (code = authorize(s, &key, "kms:GetKeyPolicy", NULL, e)) == KMS_ERR_OK &&
        (json_object_set_new(out, "Policy", json_string(key.policy)) != 0 ||
         json_object_set_new(out, "PolicyName", json_string("default")) != 0))
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    kms_key_clear(&key);
    return code;
}

static kms_code op_put_key_policy(const kms_service *s, json_t *req, json_t *out,
                                  kms_error *e)
{
    (void)out;
    const char *policy;
    kms_key key;
    kms_code code = get_key(s, req, "KeyId", &key, e);
    if (code != KMS_ERR_OK)
        return code;
    nsmkit_error pe;
    if ((code = get_policy_name(req, e)) ||
        (code = get_string(req, "Policy", true, 1, KMS_POLICY_MAX, &policy, e)) ||
        (code = get_bool(req, "BypassPolicyLockoutSafetyCheck", e)) ||
        (code = authorize(s, &key, "kms:PutKeyPolicy", NULL, e)))
        goto done;
    if (kms_policy_validate(policy, strlen(policy), &pe) != 0) {
        code = kms_fail(e, KMS_ERR_MALFORMED_POLICY, "%s", pe.msg);
        goto done;
    }
    code = kms_store_put_policy(s->store, key.id, policy, e);
done:
    kms_key_clear(&key);
    return code;
}

static kms_code set_enabled(const kms_service *s, json_t *req, bool enabled, kms_error *e)
{
    kms_key key;
    kms_code code = get_key(s, req, "KeyId", &key, e);
    if (code != KMS_ERR_OK)
        return code;
    if ((code = authorize(s, &key, enabled ? "kms:EnableKey" : "kms:DisableKey", NULL, e)) ==
        KMS_ERR_OK)
        code = kms_store_set_enabled(s->store, key.id, enabled, e);
    kms_key_clear(&key);
    return code;
}

static kms_code op_enable_key(const kms_service *s, json_t *req, json_t *out, kms_error *e)
{
    (void)out;
    return set_enabled(s, req, true, e);
}

static kms_code op_disable_key(const kms_service *s, json_t *req, json_t *out, kms_error *e)
{
    (void)out;
    return set_enabled(s, req, false, e);
}

/* ---- asymmetric keys ---------------------------------------------------------------------------- */

/* The key pair of an asymmetric key (caller frees). */
static kms_code load_pair(const kms_key *key, EVP_PKEY **out, kms_error *e)
{
    *out = kms_asym_load(nsmkit_bytes_of(key->private_der, key->private_len));
    if (*out == NULL)
        return kms_fail(e, KMS_ERR_INTERNAL, "the key material of %s does not decode", key->id);
    return KMS_ERR_OK;
}

static kms_code op_get_public_key(const kms_service *s, json_t *req, json_t *out, kms_error *e)
{
    kms_key key;
    kms_code code = get_key(s, req, "KeyId", &key, e);
    if (code != KMS_ERR_OK)
        return code;
    EVP_PKEY *pair = NULL;
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    nsmkit_error ae;
    if (is_symmetric(&key)) {
        code = kms_fail(e, KMS_ERR_UNSUPPORTED_OPERATION, "%s is a symmetric key: it has no "
                        "public key", key.id);
        goto done;
    }
    if ((code = require_enabled(&key, e)) ||
        (code = authorize(s, &key, "kms:GetPublicKey", NULL, e)) ||
        (code = load_pair(&key, &pair, e)))
        goto done;
    if (kms_asym_public_der(pair, &spki, &spki_len, &ae) != 0) {
        code = kms_fail(e, KMS_ERR_INTERNAL, "%s", ae.msg);
        goto done;
    }
    json_t *meta = key_metadata(s, &key); /* owned: the algorithm lists come from it */
    const char *lists[] = {"EncryptionAlgorithms", "SigningAlgorithms", "KeyAgreementAlgorithms"};
    for (size_t i = 0; meta != NULL && i < 3; i++) {
        json_t *list = json_object_get(meta, lists[i]);
        if (list != NULL)
            json_object_set(out, lists[i], list);
    }
    json_decref(meta);
    if ((code = put_blob(out, "PublicKey", spki, spki_len, e)) ||
        (code = put_key_arn(s, out, key.id, e)))
        goto done;
    if (json_object_set_new(out, "KeySpec", json_string(key.spec)) != 0 ||
        json_object_set_new(out, "CustomerMasterKeySpec", json_string(key.spec)) != 0 ||
        json_object_set_new(out, "KeyUsage", json_string(key.usage)) != 0)
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
done:
    free(spki);
    EVP_PKEY_free(pair);
    kms_key_clear(&key);
    return code;
}

/* GenerateDataKeyPair (with_plaintext; Recipient allowed) and ...WithoutPlaintext. */
static kms_code generate_data_key_pair(const kms_service *s, json_t *req, json_t *out,
                                       bool with_plaintext, kms_error *e)
{
    static const char *const pair_specs[] = {"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256",
                                             "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
                                             NULL};
    const char *spec;
    char *context = NULL;
    uint8_t *priv = NULL, *blob = NULL, *spki = NULL;
    size_t priv_len = 0, blob_len = 0, spki_len = 0;
    EVP_PKEY *pair = NULL;
    kms_recipient *recipient = NULL;
    nsmkit_error ae;
    kms_key key;
    kms_code code = get_key(s, req, "KeyId", &key, e);
    if (code != KMS_ERR_OK)
        return code;
    if ((code = get_enum(req, "KeyPairSpec", pair_specs, &spec, e)) ||
        (code = get_context(req, &context, e)))
        goto done;
    if (spec == NULL) {
        code = missing(e, "KeyPairSpec");
        goto done;
    }
    if ((with_plaintext && (code = get_recipient(s, req, &recipient, e))) ||
        (code = require_usage(&key, true, NULL, "GenerateDataKeyPair", e)) ||
        (code = authorize(s, &key, with_plaintext ? "kms:GenerateDataKeyPair"
                                                  : "kms:GenerateDataKeyPairWithoutPlaintext",
                          recipient, e)))
        goto done;
    if (kms_asym_generate(spec, &priv, &priv_len, &ae) != 0 ||
        (pair = kms_asym_load(nsmkit_bytes_of(priv, priv_len))) == NULL ||
        kms_asym_public_der(pair, &spki, &spki_len, &ae) != 0 ||
        kms_blob_seal(key.material, key.id, context_bytes(context), nsmkit_bytes_of(priv, priv_len),
                      &blob, &blob_len, &ae) != 0) {
        code = kms_fail(e, KMS_ERR_INTERNAL, "cannot make the %s key pair: %s", spec, ae.msg);
        goto done;
    }
    /* the private key goes out encrypted under the KMS key, and in the clear only without
     * Recipient: with it, only inside CiphertextForRecipient (PrivateKeyPlaintext absent) */
    if ((code = put_blob(out, "PrivateKeyCiphertextBlob", blob, blob_len, e)) ||
        (with_plaintext && recipient == NULL &&
         (code = put_blob(out, "PrivateKeyPlaintext", priv, priv_len, e))) ||
        (recipient != NULL && (code = put_secret(out, recipient, priv, priv_len, e))) ||
        (code = put_blob(out, "PublicKey", spki, spki_len, e)) ||
        (code = put_key_arn(s, out, key.id, e)))
        goto done;
    if (json_object_set_new(out, "KeyPairSpec", json_string(spec)) != 0)
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
done:
    if (priv != NULL) {
        nsmkit_wipe(priv, priv_len);
        free(priv);
    }
    EVP_PKEY_free(pair);
    free(blob);
    free(spki);
    free(context);
    kms_recipient_free(recipient);
    kms_key_clear(&key);
    return code;
}

static kms_code op_generate_data_key_pair(const kms_service *s, json_t *req, json_t *out,
                                          kms_error *e)
{
    return generate_data_key_pair(s, req, out, true, e);
}

static kms_code op_generate_data_key_pair_without_plaintext(const kms_service *s, json_t *req,
                                                           json_t *out, kms_error *e)
{
    return generate_data_key_pair(s, req, out, false, e);
}

static kms_code op_derive_shared_secret(const kms_service *s, json_t *req, json_t *out,
                                        kms_error *e)
{
    static const char *const algorithms[] = {"ECDH", NULL};
    const char *algorithm;
    uint8_t *peer = NULL, *secret = NULL;
    size_t peer_len = 0, secret_len = 0;
    EVP_PKEY *pair = NULL;
    kms_recipient *recipient = NULL;
    nsmkit_error ae;
    kms_key key;
    kms_code code = get_key(s, req, "KeyId", &key, e);
    if (code != KMS_ERR_OK)
        return code;
    if ((code = get_enum(req, "KeyAgreementAlgorithm", algorithms, &algorithm, e)) ||
        (code = get_blob(req, "PublicKey", true, 1, 8192, &peer, &peer_len, e)) ||
        (code = get_bool(req, "DryRun", e)))
        goto done;
    if (algorithm == NULL) {
        code = missing(e, "KeyAgreementAlgorithm");
        goto done;
    }
    if ((code = get_recipient(s, req, &recipient, e)) ||
        (code = require_usage(&key, false, "KEY_AGREEMENT", "DeriveSharedSecret", e)) ||
        (code = authorize(s, &key, "kms:DeriveSharedSecret", recipient, e)) ||
        (code = load_pair(&key, &pair, e)))
        goto done;
    if (kms_asym_derive(pair, nsmkit_bytes_of(peer, peer_len), &secret, &secret_len, &ae) != 0) {
        code = kms_fail(e, KMS_ERR_VALIDATION, "%s", ae.msg);
        goto done;
    }
    if ((code = recipient != NULL ? put_secret(out, recipient, secret, secret_len, e)
                                  : put_blob(out, "SharedSecret", secret, secret_len, e)) ||
        (code = put_key_arn(s, out, key.id, e)))
        goto done;
    if (json_object_set_new(out, "KeyAgreementAlgorithm", json_string("ECDH")) != 0 ||
        json_object_set_new(out, "KeyOrigin", json_string("AWS_KMS")) != 0)
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
done:
    if (secret != NULL) {
        nsmkit_wipe(secret, secret_len);
        free(secret);
    }
    free(peer);
    EVP_PKEY_free(pair);
    kms_recipient_free(recipient);
    kms_key_clear(&key);
    return code;
}

/* Sign (verify false) and Verify. */
static kms_code sign_or_verify(const kms_service *s, json_t *req, json_t *out, bool verify,
                               kms_error *e)
{
    static const char *const all[] = {
        "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
        "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
        "ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", NULL};
    static const char *const types[] = {"RAW", "DIGEST", NULL};
    const char *algorithm, *type;
    uint8_t *message = NULL, *sig = NULL;
    size_t message_len = 0, sig_len = 0;
    EVP_PKEY *pair = NULL;
    nsmkit_error ae;
    kms_key key;
    kms_code code = get_key(s, req, "KeyId", &key, e);
    if (code != KMS_ERR_OK)
        return code;
    if ((code = get_blob(req, "Message", true, 1, 4096, &message, &message_len, e)) ||
        (code = get_enum(req, "MessageType", types, &type, e)) ||
        (code = get_enum(req, "SigningAlgorithm", all, &algorithm, e)) ||
        (verify && (code = get_blob(req, "Signature", true, 1, 6144, &sig, &sig_len, e))))
        goto done;
    if (algorithm == NULL) {
        code = missing(e, "SigningAlgorithm");
        goto done;
    }
    if ((code = require_usage(&key, false, "SIGN_VERIFY", verify ? "Verify" : "Sign", e)) ||
        (code = authorize(s, &key, verify ? "kms:Verify" : "kms:Sign", NULL, e)))
        goto done;
    bool supported = false;
    for (const char *const *a = kms_asym_signing_algorithms(key.spec); *a != NULL; a++)
        supported = supported || strcmp(*a, algorithm) == 0;
    if (!supported) {
        code = kms_fail(e, KMS_ERR_INVALID_KEY_USAGE, "Signing algorithm %s is not supported "
                        "by key %s (%s)", algorithm, key.id, key.spec);
        goto done;
    }
    bool digest = type != NULL && strcmp(type, "DIGEST") == 0;
    if ((code = load_pair(&key, &pair, e)))
        goto done;
    if (verify) {
        int v = kms_asym_verify(pair, algorithm, nsmkit_bytes_of(message, message_len), digest,
                                nsmkit_bytes_of(sig, sig_len), &ae);
        if (v != 1) {
            code = kms_fail(e, v == 0 ? KMS_ERR_KMS_INVALID_SIGNATURE : KMS_ERR_VALIDATION, "%s",
                            v == 0 ? "The signature is not valid for this message, key and "
                                     "signing algorithm." : ae.msg);
            goto done;
        }
        if (json_object_set_new(out, "SignatureValid", json_true()) != 0)
            code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    } else if (kms_asym_sign(pair, algorithm, nsmkit_bytes_of(message, message_len), digest, &sig,
                             &sig_len, &ae) != 0) {
        code = kms_fail(e, digest ? KMS_ERR_VALIDATION : KMS_ERR_INTERNAL, "%s", ae.msg);
        goto done;
    } else {
        code = put_blob(out, "Signature", sig, sig_len, e);
    }
    if (code == KMS_ERR_OK && ((code = put_key_arn(s, out, key.id, e)) == KMS_ERR_OK) &&
        json_object_set_new(out, "SigningAlgorithm", json_string(algorithm)) != 0)
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
done:
    free(message);
    free(sig);
    EVP_PKEY_free(pair);
    kms_key_clear(&key);
    return code;
}

static kms_code op_sign(const kms_service *s, json_t *req, json_t *out, kms_error *e)
{
    return sign_or_verify(s, req, out, false, e);
}

static kms_code op_verify(const kms_service *s, json_t *req, json_t *out, kms_error *e)
{
    return sign_or_verify(s, req, out, true, e);
}

static const struct {
    const char *name;
    op_fn fn;
} operations[] = {
    {"CreateKey", op_create_key},
    {"DescribeKey", op_describe_key},
    {"ListKeys", op_list_keys},
    {"CreateAlias", op_create_alias},
    {"ListAliases", op_list_aliases},
    {"Encrypt", op_encrypt},
    {"Decrypt", op_decrypt},
    {"GenerateDataKey", op_generate_data_key},
    {"GenerateDataKeyWithoutPlaintext", op_generate_data_key_without_plaintext},
    {"GenerateRandom", op_generate_random},
    {"GetKeyPolicy", op_get_key_policy},
    {"PutKeyPolicy", op_put_key_policy},
    {"EnableKey", op_enable_key},
    {"DisableKey", op_disable_key},
    {"GetPublicKey", op_get_public_key},
    {"GenerateDataKeyPair", op_generate_data_key_pair},
    {"GenerateDataKeyPairWithoutPlaintext", op_generate_data_key_pair_without_plaintext},
    {"DeriveSharedSecret", op_derive_shared_secret},
    {"Sign", op_sign},
    {"Verify", op_verify},
};

const char *kms_service_operation_at(size_t i)
{
    return i < sizeof(operations) / sizeof(operations[0]) ? operations[i].name : NULL;
}

void kms_service_handle(const kms_service *service, const char *operation, nsmkit_bytes body,
                        kms_response *out)
{
    kms_error e = {KMS_ERR_OK, ""};
    memset(out, 0, sizeof(*out));
    op_fn fn = NULL;
    for (size_t i = 0; operation != NULL && i < sizeof(operations) / sizeof(operations[0]); i++)
        if (strcmp(operations[i].name, operation) == 0)
            fn = operations[i].fn;
    if (fn == NULL) {
        kms_fail(&e, KMS_ERR_UNKNOWN_OPERATION, "%s%.100s", operation != NULL ? "unknown operation "
                 : "X-Amz-Target must be TrentService.<Operation>", operation != NULL ? operation : "");
        kms_response_error(out, e.code, e.msg);
        return;
    }
    json_error_t jerr;
    /* An empty body is an empty request (some clients send nothing for no parameters). */
    json_t *req = body.len == 0 ? json_object()
                                : json_loadb((const char *)body.ptr, body.len,
                                             JSON_REJECT_DUPLICATES, &jerr); /* owned */
    if (req == NULL || !json_is_object(req)) {
        if (req == NULL)
            kms_fail(&e, KMS_ERR_SERIALIZATION, "the body is not valid JSON: %s", jerr.text);
        else
            kms_fail(&e, KMS_ERR_SERIALIZATION, "the body is not a JSON object");
        json_decref(req);
        kms_response_error(out, e.code, e.msg);
        return;
    }
    json_t *result = json_object(); /* owned */
    kms_code code = result == NULL ? kms_fail(&e, KMS_ERR_INTERNAL, "out of memory")
                                   : fn(service, req, result, &e);
    json_decref(req);
    if (code != KMS_ERR_OK) {
        json_decref(result);
        kms_response_error(out, code, e.msg);
        return;
    }
    respond_json(out, 200, KMS_ERR_OK, result);
}
