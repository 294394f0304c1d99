/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms: key policy validation and evaluation (see policy.h for the language). */
#include "policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define ATTESTATION_PREFIX "kms:recipientattestation:"

bool kms_glob_match(const char *pattern, const char *text)
{
    /* iterative matcher with one backtrack point: linear in practice, never recursive */
    const char *star = NULL, *resume = NULL;
    while (*text != '\0') {
        if (*pattern == '*') {
            star = pattern++;
            resume = text;
        } else if (*pattern == '?' ||
                   tolower((unsigned char)*pattern) == tolower((unsigned char)*text)) {
            pattern++;
            text++;
        } else if (star != NULL) {
            pattern = star + 1;
            text = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

/* Which attestation PCR a condition key names: 0..31, or -1 for a key that is not an
 * attestation key, or -2 for an attestation key that is not one KMS has. *nitrotpm says
 * whether it is a NitroTPMPCR<n> key (may be NULL). */
static int attestation_pcr_kind(const char *key, bool *nitrotpm)
{
    size_t prefix = strlen(ATTESTATION_PREFIX);
    if (nitrotpm != NULL)
        *nitrotpm = false;
    if (strncasecmp(key, ATTESTATION_PREFIX, prefix) != 0)
        return -1;
    const char *rest = key + prefix;
    if (strcasecmp(rest, "ImageSha384") == 0)
        return 0;
    if (strncasecmp(rest, "NitroTPM", 8) == 0) {
        rest += 8;
        if (nitrotpm != NULL)
            *nitrotpm = true;
    }
    if (strncasecmp(rest, "PCR", 3) != 0)
        return -2;
    rest += 3;
    size_t digits = strlen(rest);
    if (digits < 1 || digits > 2 || !isdigit((unsigned char)rest[0]) ||
        (digits == 2 && (!isdigit((unsigned char)rest[1]) || rest[0] == '0')))
        return -2;
    int index = atoi(rest);
    return index < KMS_PCR_COUNT ? index : -2;
}

static int attestation_pcr(const char *key)
{
    return attestation_pcr_kind(key, NULL);
}

typedef struct {
    bool ignore_case;
    bool if_exists;
} condition_operator;

static bool operator_parse(const char *name, condition_operator *op)
{
    static const char suffix[] = "IfExists";
    size_t len = strlen(name), slen = sizeof(suffix) - 1;
    op->if_exists = len > slen && strcmp(name + len - slen, suffix) == 0;
    if (op->if_exists)
        len -= slen;
    if (len == strlen("StringEquals") && strncmp(name, "StringEquals", len) == 0) {
        op->ignore_case = false;
        return true;
    }
    if (len == strlen("StringEqualsIgnoreCase") &&
        strncmp(name, "StringEqualsIgnoreCase", len) == 0) {
        op->ignore_case = true;
        return true;
    }
    return false;
}

/* A string or a non-empty array of strings. */
static bool string_or_list(json_t *value)
{
    if (json_is_string(value))
        return true;
    if (!json_is_array(value) || json_array_size(value) == 0)
        return false;
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item)
    {
        if (!json_is_string(item))
            return false;
    }
    return true;
}

static int validate_condition(size_t s, json_t *condition, nsmkit_error *e)
{
    if (!json_is_object(condition))
        return nsmkit_fail(e, "Statement[%zu].Condition is not an object", s);
    const char *op_name;
    json_t *keys;
    json_object_foreach(condition, op_name, keys)
    {
        condition_operator op;
        if (!operator_parse(op_name, &op))
            return nsmkit_fail(e,
                               "Statement[%zu].Condition: operator %.60s is not supported "
                               "(nsm-kms evaluates StringEquals and StringEqualsIgnoreCase, "
                               "with or without IfExists)",
                               s, op_name);
        if (!json_is_object(keys) || json_object_size(keys) == 0)
            return nsmkit_fail(e, "Statement[%zu].Condition.%.60s is not a non-empty object", s,
                               op_name);
        const char *key;
        json_t *values;
        json_object_foreach(keys, key, values)
        {
            if (attestation_pcr(key) == -2)
                return nsmkit_fail(e, "Statement[%zu].Condition.%.60s: %.80s is not a condition "
                                   "key KMS has (ImageSha384 or PCR0..PCR31)", s, op_name, key);
            if (!string_or_list(values))
                return nsmkit_fail(e, "Statement[%zu].Condition.%.60s.%.80s is not a string or a "
                                   "non-empty list of strings", s, op_name, key);
        }
    }
    return 0;
}

static int validate_statement(size_t s, json_t *st, nsmkit_error *e)
{
    if (!json_is_object(st))
        return nsmkit_fail(e, "Statement[%zu] is not an object", s);
    const char *name;
    json_t *value;
    json_object_foreach(st, name, value)
    {
        if (strcmp(name, "Sid") == 0) {
            if (!json_is_string(value))
                return nsmkit_fail(e, "Statement[%zu].Sid is not a string", s);
        } else if (strcmp(name, "Effect") == 0) {
            const char *effect = json_string_value(value);
            if (effect == NULL || (strcmp(effect, "Allow") != 0 && strcmp(effect, "Deny") != 0))
                return nsmkit_fail(e, "Statement[%zu].Effect is neither \"Allow\" nor \"Deny\"", s);
        } else if (strcmp(name, "Action") == 0) {
            if (!string_or_list(value))
                return nsmkit_fail(e, "Statement[%zu].Action is not a string or a non-empty "
                                   "list of strings", s);
            size_t i;
            json_t *item;
            json_t *list = json_is_array(value) ? value : NULL;
            if (list == NULL) {
                const char *action = json_string_value(value);
                if (strcmp(action, "*") != 0 && strncasecmp(action, "kms:", 4) != 0)
                    return nsmkit_fail(e, "Statement[%zu].Action %.80s is not a kms: action", s,
                                       action);
            } else {
                json_array_foreach(list, i, item)
                {
                    const char *action = json_string_value(item);
                    if (strcmp(action, "*") != 0 && strncasecmp(action, "kms:", 4) != 0)
                        return nsmkit_fail(e, "Statement[%zu].Action %.80s is not a kms: action",
                                           s, action);
                }
            }
        } else if (strcmp(name, "Principal") == 0 || strcmp(name, "Resource") == 0) {
            /* accepted and not modelled: every caller is the account (README) */
        } else if (strcmp(name, "Condition") == 0) {
            if (validate_condition(s, value, e) != 0)
                return -1;
        } else if (strcmp(name, "NotAction") == 0 || strcmp(name, "NotResource") == 0 ||
                   strcmp(name, "NotPrincipal") == 0) {
            return nsmkit_fail(e, "Statement[%zu].%s is not supported by nsm-kms", s, name);
        } else {
            return nsmkit_fail(e, "Statement[%zu] has an unknown element %.60s", s, name);
        }
    }
    if (json_object_get(st, "Effect") == NULL)
        return nsmkit_fail(e, "Statement[%zu] has no Effect", s);
    if (json_object_get(st, "Action") == NULL)
        return nsmkit_fail(e, "Statement[%zu] has no Action", s);
    return 0;
}

/* Loads a policy document as a JSON object; NULL with a message otherwise. Owned. */
static json_t *policy_load(const char *text, size_t len, nsmkit_error *e)
{
    if (len > KMS_POLICY_MAX) {
        nsmkit_fail(e, "the policy is %zu bytes, over KMS's limit of %d", len, KMS_POLICY_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        nsmkit_fail(e, "the policy is not valid JSON: %s (line %d, column %d)", jerr.text,
                    jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        nsmkit_fail(e, "the policy is not a JSON object");
        return NULL;
    }
    return root;
}

int kms_policy_validate(const char *text, size_t len, nsmkit_error *e)
{
    json_t *root = policy_load(text, len, e); /* owned */
    if (root == NULL)
        return -1;
    int rc = -1;
    const char *name;
    json_t *value;
    json_object_foreach(root, name, value)
    {
        if (strcmp(name, "Version") == 0) {
            const char *v = json_string_value(value);
            if (v == NULL || (strcmp(v, "2012-10-17") != 0 && strcmp(v, "2008-10-17") != 0)) {
                nsmkit_fail(e, "Version is not \"2012-10-17\" or \"2008-10-17\"");
                goto done;
            }
        } else if (strcmp(name, "Id") == 0) {
            if (!json_is_string(value)) {
                nsmkit_fail(e, "Id is not a string");
                goto done;
            }
        } else if (strcmp(name, "Statement") != 0) {
            nsmkit_fail(e, "the policy has an unknown element %.60s", name);
            goto done;
        }
    }
    json_t *statements = json_object_get(root, "Statement");
    if (statements == NULL) {
        nsmkit_fail(e, "the policy has no Statement");
        goto done;
    }
    if (json_is_array(statements)) {
        if (json_array_size(statements) == 0) {
            nsmkit_fail(e, "Statement is an empty list");
            goto done;
        }
        size_t i;
        json_t *st;
        json_array_foreach(statements, i, st)
        {
            if (validate_statement(i, st, e) != 0)
                goto done;
        }
    } else if (validate_statement(0, statements, e) != 0) {
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

static bool value_matches(json_t *values, const char *actual, bool ignore_case)
{
    if (json_is_string(values)) {
        const char *v = json_string_value(values);
        return ignore_case ? strcasecmp(v, actual) == 0 : strcmp(v, actual) == 0;
    }
    size_t i;
    json_t *item;
    json_array_foreach(values, i, item)
    {
        if (value_matches(item, actual, ignore_case))
            return true;
    }
    return false;
}

/* The first value a condition wants, and how many more, for explanations. */
static void wanted_values(json_t *values, char *out, size_t out_size)
{
    json_t *first = json_is_array(values) ? json_array_get(values, 0) : values;
    size_t more = json_is_array(values) && json_array_size(values) > 1
                      ? json_array_size(values) - 1 : 0;
    const char *v = json_string_value(first);
    if (more > 0)
        snprintf(out, out_size, "%.100s (or one of %zu more)", v != NULL ? v : "?", more);
    else
        snprintf(out, out_size, "%.100s", v != NULL ? v : "?");
}

static bool all_zero_hex(const char *hex)
{
    return strspn(hex, "0") == strlen(hex);
}

/* Why a value condition failed, with the two common causes named: upper-case hex under the
 * case-sensitive StringEquals, and a debug-mode document (its PCRs 0-2 are zeros). */
static void explain_mismatch(const char *op_name, const char *key, int pcr, json_t *values,
                             const char *actual, bool ignore_case, char *why, size_t why_size)
{
    char wanted[160];
    wanted_values(values, wanted, sizeof(wanted));
    const char *hint = "";
    if (!ignore_case && value_matches(values, actual, true))
        hint = " (the same hex in another case: StringEquals compares case-sensitively and "
               "a document's PCRs are lower-case hex; use StringEqualsIgnoreCase)";
    else if (all_zero_hex(actual) && pcr <= 2)
        hint = " (all zeros: the document is from an enclave in debug mode)";
    snprintf(why, why_size, "%sPCR%d of the document is %s, the policy's %s on %.60s wants %s%s",
             strncasecmp(key + strlen(ATTESTATION_PREFIX), "NitroTPM", 8) == 0 ? "NitroTPM" : "",
             pcr, actual, op_name, key, wanted, hint);
}

/* Whether every condition holds; when one does not, why says which and why. */
static bool conditions_hold(json_t *condition, const kms_claims *claims, char *why,
                            size_t why_size)
{
    if (condition == NULL)
        return true;
    const char *op_name;
    json_t *keys;
    json_object_foreach(condition, op_name, keys)
    {
        condition_operator op;
        if (!operator_parse(op_name, &op) || !json_is_object(keys)) {
            snprintf(why, why_size, "the operator %.60s is not one nsm-kms evaluates", op_name);
            return false;
        }
        const char *key;
        json_t *values;
        json_object_foreach(keys, key, values)
        {
            bool tpm_key = false;
            int pcr = attestation_pcr_kind(key, &tpm_key);
            bool present = pcr >= 0 && claims != NULL && claims->attested &&
                           claims->nitrotpm == tpm_key && claims->pcr_present[pcr];
            if (!present) {
                if (op.if_exists)
                    continue;
                snprintf(why, why_size, "the request carries no %.80s (%s), and %.60s wants it",
                         key, pcr < 0 ? "nsm-kms models no such key"
                              : claims == NULL || !claims->attested ? "it has no Recipient"
                              : claims->nitrotpm != tpm_key
                                  ? (tpm_key ? "the document is an enclave's, not a NitroTPM's"
                                             : "the document is a NitroTPM's, not an enclave's")
                                  : "the document lacks that PCR",
                         op_name);
                return false;
            }
            if (!value_matches(values, claims->pcr_hex[pcr], op.ignore_case)) {
                explain_mismatch(op_name, key, pcr, values, claims->pcr_hex[pcr], op.ignore_case,
                                 why, why_size);
                return false;
            }
        }
    }
    return true;
}

static bool action_matches(json_t *actions, const char *action)
{
    if (json_is_string(actions))
        return kms_glob_match(json_string_value(actions), action);
    size_t i;
    json_t *item;
    json_array_foreach(actions, i, item)
    {
        if (json_is_string(item) && kms_glob_match(json_string_value(item), action))
            return true;
    }
    return false;
}

static void statement_label(json_t *st, size_t index, char *out, size_t out_size)
{
    const char *sid = json_string_value(json_object_get(st, "Sid"));
    if (sid != NULL)
        snprintf(out, out_size, "statement %zu (Sid \"%.80s\")", index, sid);
    else
        snprintf(out, out_size, "statement %zu", index);
}

void kms_policy_evaluate(const char *text, size_t len, const char *action,
                         const kms_claims *claims, kms_decision *out)
{
    nsmkit_error e;
    out->allowed = false;
    out->explicit_deny = false;
    json_t *root = policy_load(text, len, &e); /* owned */
    if (root == NULL) {
        snprintf(out->reason, sizeof(out->reason), "the key policy does not parse: %.200s", e.msg);
        return;
    }
    json_t *statements = json_object_get(root, "Statement");
    size_t count = json_is_array(statements) ? json_array_size(statements)
                                             : (statements != NULL ? 1 : 0);
    bool allowed = false;
    char allow_label[128] = "", failed[KMS_REASON_MAX - 224] = "";
    for (size_t i = 0; i < count; i++) {
        json_t *st = json_is_array(statements) ? json_array_get(statements, i) : statements;
        const char *effect = json_string_value(json_object_get(st, "Effect"));
        json_t *actions = json_object_get(st, "Action");
        if (effect == NULL || actions == NULL || !action_matches(actions, action))
            continue;
        char label[128], why[KMS_REASON_MAX / 2];
        statement_label(st, i, label, sizeof(label));
        if (!conditions_hold(json_object_get(st, "Condition"), claims, why, sizeof(why))) {
            if (failed[0] == '\0' && strcmp(effect, "Allow") == 0) /* the first near miss */
                snprintf(failed, sizeof(failed), "%s allows %.64s, but its condition does not "
                         "hold: %s", label, action, why);
            continue;
        }
        if (strcmp(effect, "Deny") == 0) {
            snprintf(out->reason, sizeof(out->reason), "%s of the key policy denies %s", label,
                     action);
            out->explicit_deny = true;
            json_decref(root);
            return; /* an explicit Deny wins */
        }
        if (strcmp(effect, "Allow") == 0 && !allowed) {
            allowed = true;
            snprintf(allow_label, sizeof(allow_label), "%s", label);
        }
    }
    json_decref(root);
    out->allowed = allowed;
    if (allowed)
        snprintf(out->reason, sizeof(out->reason), "%s of the key policy allows %s", allow_label,
                 action);
    else if (failed[0] != '\0')
        snprintf(out->reason, sizeof(out->reason), "no statement of the key policy allows %.64s: "
                 "%s", action, failed);
    else
        snprintf(out->reason, sizeof(out->reason),
                 "no statement of the key policy allows %s%s", action,
                 claims != NULL && claims->attested
                     ? " for this attestation document"
                     : " (a request without Recipient carries no attestation condition keys)");
    out->explicit_deny = false;
}

size_t kms_policy_default(const char *account, char *out, size_t out_size)
{
    int n = snprintf(out, out_size,
                     "{\n  \"Version\": \"2012-10-17\",\n  \"Id\": \"key-default-1\",\n"
                     "  \"Statement\": [\n    {\n      \"Sid\": \"Enable IAM User Permissions\",\n"
                     "      \"Effect\": \"Allow\",\n"
                     "      \"Principal\": {\"AWS\": \"arn:aws:iam::%s:root\"},\n"
                     "      \"Action\": \"kms:*\",\n      \"Resource\": \"*\"\n    }\n  ]\n}",
                     account);
    return n < 0 ? 0 : (size_t)n < out_size ? (size_t)n : out_size - 1;
}
