/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms key policies: what PutKeyPolicy refuses (and why), and how statements decide. */
#include <stdio.h>
#include <string.h>

#include "../kms/policy.h"
#include "testutil.h"

#define PCR0_HEX "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1" \
                 "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define PCR0_UPPER "A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1" \
                   "A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1"
#define ZERO_HEX "000000000000000000000000000000000000000000000000" \
                 "000000000000000000000000000000000000000000000000"
#define OTHER_HEX "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2" \
                  "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"

static void refused(const char *policy, const char *reason_part)
{
    nsmkit_error e = {""};
    if (kms_policy_validate(policy, strlen(policy), &e) == 0)
        fail_msg("accepted: %s", policy);
    if (strstr(e.msg, reason_part) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", e.msg, reason_part);
}

static void accepted(const char *policy)
{
    nsmkit_error e = {""};
    if (kms_policy_validate(policy, strlen(policy), &e) != 0)
        fail_msg("refused (%s): %s", e.msg, policy);
}

static void test_validate_refuses_broken_policies(void **state)
{
    (void)state;
    refused("", "not valid JSON");
    refused("{\"Statement\": [", "not valid JSON");
    refused("[]", "not a JSON object");
    refused("{\"Version\": \"2012-10-17\"}", "no Statement");
    refused("{\"Statement\": []}", "empty list");
    refused("{\"Statement\": [{\"Effect\": \"Allow\"}]}", "no Action");
    refused("{\"Statement\": [{\"Action\": \"kms:*\"}]}", "no Effect");
    refused("{\"Statement\": [{\"Effect\": \"allow\", \"Action\": \"kms:*\"}]}", "Effect");
    refused("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": []}]}", "Action");
    refused("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": [1]}]}", "Action");
    refused("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:GetObject\"}]}",
            "not a kms: action");
    refused("{\"Statement\": [{\"Effect\": \"Allow\", \"NotAction\": \"kms:Decrypt\"}]}",
            "NotAction is not supported");
    refused("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Bogus\": 1}]}",
            "unknown element Bogus");
    refused("{\"Statement\": [], \"Extra\": 1}", "unknown element Extra");
    refused("{\"Version\": \"2020-01-01\", \"Statement\": {\"Effect\": \"Allow\", \"Action\": "
            "\"kms:*\"}}", "Version");
    refused("{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Condition\": "
            "{\"NumericLessThan\": {\"kms:RecipientAttestation:PCR0\": \"1\"}}}}",
            "operator NumericLessThan is not supported");
    refused("{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Condition\": "
            "{\"StringEquals\": {\"kms:RecipientAttestation:PCR32\": \"00\"}}}}",
            "not a condition key KMS has");
    refused("{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Condition\": "
            "{\"StringEquals\": {\"kms:RecipientAttestation:PCR00\": \"00\"}}}}",
            "not a condition key KMS has");
    refused("{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Condition\": "
            "{\"StringEquals\": {\"kms:RecipientAttestation:PCR0\": 5}}}}",
            "not a string or a non-empty list");
    refused("{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Condition\": "
            "{\"StringEquals\": {}}}}", "non-empty object");
    refused("{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Condition\": []}}",
            "Condition is not an object");
    /* duplicate keys are ambiguous: refused, not resolved silently */
    refused("{\"Statement\": {\"Effect\": \"Allow\", \"Effect\": \"Deny\", \"Action\": \"kms:*\"}}",
            "not valid JSON");
    /* over KMS's 32 KiB limit */
    static char big[KMS_POLICY_MAX + 64];
    memset(big, ' ', sizeof(big) - 1);
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    big[sizeof(big) - 1] = '\0';
    refused(big, "over KMS's limit");
}

static void test_validate_accepts_the_language(void **state)
{
    (void)state;
    char policy[1024];
    kms_policy_default("111122223333", policy, sizeof(policy));
    accepted(policy);
    accepted("{\"Version\": \"2012-10-17\", \"Id\": \"x\", \"Statement\": [{\"Sid\": \"a\", "
             "\"Effect\": \"Deny\", \"Principal\": \"*\", \"Resource\": \"*\", \"Action\": "
             "[\"kms:Decrypt\", \"kms:Generate*\"], \"Condition\": {\"StringEqualsIgnoreCase\": "
             "{\"kms:RecipientAttestation:ImageSha384\": [\"" PCR0_HEX "\"], "
             "\"kms:RecipientAttestation:PCR31\": \"00\"}, \"StringEqualsIfExists\": "
             "{\"aws:SourceVpc\": \"vpc-1\"}}}]}");
}

static kms_claims claims_with_pcr0(const char *hex)
{
    kms_claims c;
    memset(&c, 0, sizeof(c));
    c.attested = true;
    c.pcr_present[0] = true;
    snprintf(c.pcr_hex[0], sizeof(c.pcr_hex[0]), "%s", hex);
    c.pcr_present[8] = true;
    snprintf(c.pcr_hex[8], sizeof(c.pcr_hex[8]), "%s", OTHER_HEX);
    return c;
}

static bool decide(const char *policy, const char *action, const kms_claims *c, kms_decision *d)
{
    nsmkit_error e;
    if (kms_policy_validate(policy, strlen(policy), &e) != 0)
        fail_msg("test policy refused: %s", e.msg);
    kms_policy_evaluate(policy, strlen(policy), action, c, d);
    return d->allowed;
}

#define PCR0_POLICY(op, value)                                                              \
    "{\"Statement\": [{\"Sid\": \"admin\", \"Effect\": \"Allow\", \"Action\": "             \
    "[\"kms:Encrypt\", \"kms:*KeyPolicy\"]}, {\"Sid\": \"enclave\", \"Effect\": \"Allow\", " \
    "\"Action\": \"kms:Decrypt\", \"Condition\": {\"" op "\": "                              \
    "{\"kms:RecipientAttestation:PCR0\": \"" value "\"}}}]}"

/* Why a denial happened (issue 22): the statement, the condition, both values, and the two
 * common causes named. */
static void test_denials_explained(void **state)
{
    (void)state;
    kms_decision d;
    kms_claims bad = claims_with_pcr0(OTHER_HEX), debug = claims_with_pcr0(ZERO_HEX);
    assert_false(decide(PCR0_POLICY("StringEqualsIgnoreCase", PCR0_HEX), "kms:Decrypt", &bad, &d));
    char want[600];
    snprintf(want, sizeof(want), "statement 1 (Sid \"enclave\") allows kms:Decrypt, but its "
             "condition does not hold: PCR0 of the document is %s, the policy's "
             "StringEqualsIgnoreCase on kms:RecipientAttestation:PCR0 wants %s", OTHER_HEX,
             PCR0_HEX);
    if (strstr(d.reason, want) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", d.reason, want);
    assert_false(decide(PCR0_POLICY("StringEqualsIgnoreCase", PCR0_HEX), "kms:Decrypt", &debug, &d));
    assert_non_null(strstr(d.reason, "all zeros: the document is from an enclave in debug mode"));
    assert_false(decide(PCR0_POLICY("StringEquals", PCR0_UPPER), "kms:Decrypt", &bad, &d));
    assert_null(strstr(d.reason, "case-sensitively")); /* another value, not another case */
}

static void test_evaluate_attestation_conditions(void **state)
{
    (void)state;
    kms_decision d;
    kms_claims good = claims_with_pcr0(PCR0_HEX), bad = claims_with_pcr0(OTHER_HEX), none;
    memset(&none, 0, sizeof(none));

    assert_true(decide(PCR0_POLICY("StringEqualsIgnoreCase", PCR0_UPPER), "kms:Decrypt", &good, &d));
    assert_non_null(strstr(d.reason, "Sid \"enclave\""));
    assert_false(decide(PCR0_POLICY("StringEqualsIgnoreCase", PCR0_UPPER), "kms:Decrypt", &bad, &d));
    assert_non_null(strstr(d.reason, "no statement"));
    /* a request without Recipient carries no attestation keys: the condition fails */
    assert_false(decide(PCR0_POLICY("StringEqualsIgnoreCase", PCR0_HEX), "kms:Decrypt", &none, &d));
    assert_non_null(strstr(d.reason, "it has no Recipient"));
    /* StringEquals is case-sensitive; the document's PCRs are lower-case hex */
    assert_false(decide(PCR0_POLICY("StringEquals", PCR0_UPPER), "kms:Decrypt", &good, &d));
    assert_non_null(strstr(d.reason, "StringEquals compares case-sensitively"));
    assert_true(decide(PCR0_POLICY("StringEquals", PCR0_HEX), "kms:Decrypt", &good, &d));
    /* IfExists: absent passes, present must match */
    assert_true(decide(PCR0_POLICY("StringEqualsIfExists", PCR0_HEX), "kms:Decrypt", &none, &d));
    assert_false(decide(PCR0_POLICY("StringEqualsIfExists", PCR0_HEX), "kms:Decrypt", &bad, &d));
    /* the admin statement is unconditional; other actions fall to the implicit deny */
    assert_true(decide(PCR0_POLICY("StringEquals", PCR0_HEX), "kms:PutKeyPolicy", &none, &d));
    assert_false(decide(PCR0_POLICY("StringEquals", PCR0_HEX), "kms:GenerateDataKey", &good, &d));

    /* ImageSha384 is PCR0; values OR, keys AND; condition key names ignore case */
    const char *both =
        "{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:Decrypt\", \"Condition\": "
        "{\"StringEqualsIgnoreCase\": {\"KMS:RecipientAttestation:ImageSHA384\": [\"00\", \""
        PCR0_HEX "\"], \"kms:RecipientAttestation:PCR8\": \"" OTHER_HEX "\"}}}}";
    assert_true(decide(both, "kms:Decrypt", &good, &d));
    const char *pcr8_wrong =
        "{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:Decrypt\", \"Condition\": "
        "{\"StringEqualsIgnoreCase\": {\"kms:RecipientAttestation:ImageSha384\": \"" PCR0_HEX
        "\", \"kms:RecipientAttestation:PCR8\": \"" PCR0_HEX "\"}}}}";
    assert_false(decide(pcr8_wrong, "kms:Decrypt", &good, &d));
    /* a key no request carries never matches */
    const char *other_key =
        "{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Condition\": "
        "{\"StringEquals\": {\"kms:CallerAccount\": \"111122223333\"}}}}";
    assert_false(decide(other_key, "kms:Decrypt", &good, &d));
    /* PCR4 is not in these claims: absent */
    const char *pcr4 =
        "{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Condition\": "
        "{\"StringEquals\": {\"kms:RecipientAttestation:PCR4\": \"" PCR0_HEX "\"}}}}";
    assert_false(decide(pcr4, "kms:Decrypt", &good, &d));
}

static void test_evaluate_deny_wins(void **state)
{
    (void)state;
    kms_decision d;
    kms_claims good = claims_with_pcr0(PCR0_HEX);
    const char *policy =
        "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"kms:*\"}, {\"Sid\": \"no-pcr0\", "
        "\"Effect\": \"Deny\", \"Action\": \"kms:Decrypt\", \"Condition\": {\"StringEquals\": "
        "{\"kms:RecipientAttestation:PCR0\": \"" PCR0_HEX "\"}}}]}";
    assert_false(decide(policy, "kms:Decrypt", &good, &d));
    assert_non_null(strstr(d.reason, "Sid \"no-pcr0\""));
    assert_non_null(strstr(d.reason, "denies"));
    assert_true(decide(policy, "kms:Encrypt", &good, &d));
    /* a single statement object works like a list of one */
    assert_true(decide("{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"*\"}}",
                       "kms:Decrypt", NULL, &d));
    /* an unparsable policy denies */
    kms_policy_evaluate("{", 1, "kms:Decrypt", &good, &d);
    assert_false(d.allowed);
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(kms_glob_match("kms:*", "kms:Decrypt"));
    assert_true(kms_glob_match("KMS:decrypt", "kms:Decrypt"));
    assert_true(kms_glob_match("kms:Generate*", "kms:GenerateDataKeyWithoutPlaintext"));
    assert_true(kms_glob_match("kms:*Key*", "kms:GenerateDataKey"));
    assert_true(kms_glob_match("kms:?ecrypt", "kms:Decrypt"));
    assert_true(kms_glob_match("*", "kms:Decrypt"));
    assert_false(kms_glob_match("kms:Generate*", "kms:Decrypt"));
    assert_false(kms_glob_match("kms:Decrypt", "kms:DecryptX"));
    assert_false(kms_glob_match("kms:?", "kms:"));
    /* many stars on a long miss stays quick (no exponential backtracking) */
    assert_false(kms_glob_match("*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_refuses_broken_policies),
        cmocka_unit_test(test_validate_accepts_the_language),
        cmocka_unit_test(test_evaluate_attestation_conditions),
        cmocka_unit_test(test_denials_explained),
        cmocka_unit_test(test_evaluate_deny_wins),
        cmocka_unit_test(test_glob),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
