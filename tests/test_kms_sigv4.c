/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms SigV4: AWS's published test vector, what a well-formed header is, and what the
 * signature check refuses with which KMS error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../kms/sigv4.h"
#include "testutil.h"

typedef struct {
    const char *names[8];
    const char *values[8];
    size_t count;
} headers;

static const char *lookup(void *ctx, const char *name)
{
    const headers *h = ctx;
    for (size_t i = 0; i < h->count; i++)
        if (strcmp(h->names[i], name) == 0)
            return h->values[i];
    return NULL;
}

/* AWS's SigV4 test suite, "get-vanilla": GET / with host and x-amz-date, empty body, secret
 * wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20150830T123600Z, us-east-1, service "service". */
static void test_aws_get_vanilla_vector(void **state)
{
    (void)state;
    headers h = {{"host", "x-amz-date"}, {"example.amazonaws.com", "20150830T123600Z"}, 2};
    kms_sigv4_request r = {"GET", "/", lookup, &h, NSMKIT_BYTES_NONE};
    char sig[65];
    nsmkit_error e;
    assert_int_equal(kms_sigv4_signature(&r, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830",
                                         "us-east-1", "service", "20150830T123600Z",
                                         "host;x-amz-date", sig, &e),
                     0);
    assert_string_equal(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

/* A KMS request signed now (or at a given time) with secret, into h and auth. */
typedef struct {
    headers h;
    char date[17], auth[1024];
    const char *body;
} signed_request;

/* Signed over signed_headers with a credential scope of region. */
static void sign_with(signed_request *s, const char *akid, const char *secret, time_t when,
                      const char *body, const char *region, const char *signed_headers)
{
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(s->date, sizeof(s->date), "%Y%m%dT%H%M%SZ", &tm);
    s->body = body;
    s->h = (headers){{"content-type", "host", "x-amz-date", "x-amz-target"},
                     {"application/x-amz-json-1.1", "127.0.0.1:4000", s->date,
                      "TrentService.ListKeys"},
                     4};
    kms_sigv4_request r = {"POST", "/", lookup, &s->h, nsmkit_bytes_of(body, strlen(body))};
    char date8[9], sig[65];
    memcpy(date8, s->date, 8);
    date8[8] = '\0';
    nsmkit_error e;
    assert_int_equal(kms_sigv4_signature(&r, secret, date8, region, "kms", s->date,
                                         signed_headers, sig, &e), 0);
    snprintf(s->auth, sizeof(s->auth),
             "AWS4-HMAC-SHA256 Credential=%s/%s/%s/kms/aws4_request, "
             "SignedHeaders=%s, Signature=%s", akid, date8, region, signed_headers, sig);
    s->h.names[4] = "authorization";
    s->h.values[4] = s->auth;
    s->h.count = 5;
}

static void sign_at(signed_request *s, const char *akid, const char *secret, time_t when,
                    const char *body)
{
    sign_with(s, akid, secret, when, body, "us-east-1", "content-type;host;x-amz-date;x-amz-target");
}

static kms_code check(signed_request *s, const char *body, const kms_credentials *creds,
                      time_t now, kms_error *e)
{
    kms_sigv4_request r = {"POST", "/", lookup, &s->h, nsmkit_bytes_of(body, strlen(body))};
    e->msg[0] = '\0';
    return kms_sigv4_check(&r, creds, "us-east-1", now, e);
}

static kms_credentials creds_of(const char *akid, const char *secret)
{
    kms_credentials c;
    memset(&c, 0, sizeof(c));
    c.count = 1;
    snprintf(c.keys[0].access_key_id, sizeof(c.keys[0].access_key_id), "%s", akid);
    snprintf(c.keys[0].secret, sizeof(c.keys[0].secret), "%s", secret);
    return c;
}

static void test_signature_checked_against_credentials(void **state)
{
    (void)state;
    time_t now = time(NULL);
    kms_credentials creds = creds_of("AKIDTEST", "s3cret");
    signed_request s;
    kms_error e;
    sign_at(&s, "AKIDTEST", "s3cret", now, "{}");
    assert_int_equal(check(&s, "{}", &creds, now, &e), KMS_ERR_OK);
    assert_int_equal(check(&s, "{}", NULL, now, &e), KMS_ERR_OK);
    /* the body is signed */
    assert_int_equal(check(&s, "{\"Limit\":1}", &creds, now, &e), KMS_ERR_INVALID_SIGNATURE);
    assert_non_null(strstr(e.msg, "signature we calculated does not match"));
    /* so are the signed headers */
    s.h.values[3] = "TrentService.CreateKey";
    assert_int_equal(check(&s, "{}", &creds, now, &e), KMS_ERR_INVALID_SIGNATURE);
    /* a wrong secret */
    sign_at(&s, "AKIDTEST", "other", now, "{}");
    assert_int_equal(check(&s, "{}", &creds, now, &e), KMS_ERR_INVALID_SIGNATURE);
    /* without credentials the form is all that counts */
    assert_int_equal(check(&s, "{}", NULL, now, &e), KMS_ERR_OK);
    /* an access key the server does not know */
    sign_at(&s, "AKIDOTHER", "s3cret", now, "{}");
    assert_int_equal(check(&s, "{}", &creds, now, &e), KMS_ERR_UNRECOGNIZED_CLIENT);
    /* signed 20 minutes away from the server's clock */
    sign_at(&s, "AKIDTEST", "s3cret", now - 20 * 60, "{}");
    assert_int_equal(check(&s, "{}", &creds, now, &e), KMS_ERR_INVALID_SIGNATURE);
    assert_non_null(strstr(e.msg, "Signature expired"));
    sign_at(&s, "AKIDTEST", "s3cret", now - 10 * 60, "{}");
    assert_int_equal(check(&s, "{}", &creds, now, &e), KMS_ERR_OK);
}

/* Probe finding (issue 22): a signature that left X-Amz-Target out was accepted, so a
 * captured DescribeKey replayed as DisableKey. A correct signature over the other headers is
 * now refused, with and without --credentials. */
static void test_x_amz_target_must_be_signed(void **state)
{
    (void)state;
    time_t now = time(NULL);
    kms_credentials creds = creds_of("AKIDTEST", "s3cret");
    signed_request s;
    kms_error e;
    sign_with(&s, "AKIDTEST", "s3cret", now, "{}", "us-east-1", "content-type;host;x-amz-date");
    assert_int_equal(check(&s, "{}", &creds, now, &e), KMS_ERR_INCOMPLETE_SIGNATURE);
    assert_non_null(strstr(e.msg, "does not include x-amz-target"));
    assert_int_equal(check(&s, "{}", NULL, now, &e), KMS_ERR_INCOMPLETE_SIGNATURE);
    sign_with(&s, "AKIDTEST", "s3cret", now, "{}", "us-east-1", "host;x-amz-target");
    assert_int_equal(check(&s, "{}", &creds, now, &e), KMS_ERR_INCOMPLETE_SIGNATURE);
    assert_non_null(strstr(e.msg, "does not include x-amz-date"));
    sign_with(&s, "AKIDTEST", "s3cret", now, "{}", "us-east-1", "host;x-amz-date;x-amz-target");
    assert_int_equal(check(&s, "{}", &creds, now, &e), KMS_ERR_OK);
}

/* Probe finding (issue 22): a credential scope naming another region was accepted; AWS
 * answers InvalidSignatureException "Credential should be scoped to a valid region". */
static void test_credential_scope_of_another_region_refused(void **state)
{
    (void)state;
    time_t now = time(NULL);
    kms_credentials creds = creds_of("AKIDTEST", "s3cret");
    signed_request s;
    kms_error e;
    sign_with(&s, "AKIDTEST", "s3cret", now, "{}", "eu-west-1",
              "content-type;host;x-amz-date;x-amz-target");
    assert_int_equal(check(&s, "{}", &creds, now, &e), KMS_ERR_INVALID_SIGNATURE);
    assert_non_null(strstr(e.msg, "Credential should be scoped to a valid region, not 'eu-west-1'"));
    assert_int_equal(check(&s, "{}", NULL, now, &e), KMS_ERR_INVALID_SIGNATURE);
    kms_sigv4_request r = {"POST", "/", lookup, &s.h, nsmkit_bytes_of("{}", 2)};
    assert_int_equal(kms_sigv4_check(&r, &creds, "eu-west-1", now, &e), KMS_ERR_OK);
}

static void expect_form(const char *auth, kms_code want, const char *reason)
{
    time_t now = time(NULL);
    signed_request s;
    kms_error e;
    sign_at(&s, "AKIDTEST", "s3cret", now, "{}");
    s.h.values[4] = auth;
    kms_code got = check(&s, "{}", NULL, now, &e);
    if (got != want || strstr(e.msg, reason) == NULL)
        fail_msg("%s: got %s (%s), want %s with \"%s\"", auth, kms_code_name(got), e.msg,
                 kms_code_name(want), reason);
}

static void test_malformed_authorization(void **state)
{
    (void)state;
    char date8[9];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date8, sizeof(date8), "%Y%m%d", &tm);
    char good_cred[128], buf[1024];
    snprintf(good_cred, sizeof(good_cred), "Credential=AKID/%s/us-east-1/kms/aws4_request", date8);
    const char *sig = "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const char *hdrs = "SignedHeaders=content-type;host;x-amz-date;x-amz-target";

    expect_form("Basic dXNlcjpwYXNz", KMS_ERR_INCOMPLETE_SIGNATURE, "does not start with");
    expect_form("AWS4-HMAC-SHA256", KMS_ERR_INCOMPLETE_SIGNATURE, "does not start with");
    expect_form("AWS4-HMAC-SHA256 ", KMS_ERR_INCOMPLETE_SIGNATURE, "lacks Credential");
    snprintf(buf, sizeof(buf), "AWS4-HMAC-SHA256 %s, %s", good_cred, hdrs);
    expect_form(buf, KMS_ERR_INCOMPLETE_SIGNATURE, "lacks Signature");
    snprintf(buf, sizeof(buf), "AWS4-HMAC-SHA256 %s, %s, %s, %s", good_cred, hdrs, sig, sig);
    expect_form(buf, KMS_ERR_INCOMPLETE_SIGNATURE, "unknown or repeated");
    snprintf(buf, sizeof(buf), "AWS4-HMAC-SHA256 Credential=AKID/%s/us-east-1/kms, %s, %s", date8,
             hdrs, sig);
    expect_form(buf, KMS_ERR_INCOMPLETE_SIGNATURE, "Credential is not");
    snprintf(buf, sizeof(buf), "AWS4-HMAC-SHA256 Credential=AKID/%s/us-east-1/s3/aws4_request, "
             "%s, %s", date8, hdrs, sig);
    expect_form(buf, KMS_ERR_INVALID_SIGNATURE, "not kms");
    snprintf(buf, sizeof(buf), "AWS4-HMAC-SHA256 Credential=AKID/2015083/us-east-1/kms/"
             "aws4_request, %s, %s", hdrs, sig);
    expect_form(buf, KMS_ERR_INCOMPLETE_SIGNATURE, "YYYYMMDD");
    snprintf(buf, sizeof(buf), "AWS4-HMAC-SHA256 Credential=AKID/19990101/us-east-1/kms/"
             "aws4_request, %s, %s", hdrs, sig);
    expect_form(buf, KMS_ERR_INVALID_SIGNATURE, "not the day of X-Amz-Date");
    snprintf(buf, sizeof(buf), "AWS4-HMAC-SHA256 %s, %s, Signature=XYZ", good_cred, hdrs);
    expect_form(buf, KMS_ERR_INCOMPLETE_SIGNATURE, "64 lower-case hex");
    snprintf(buf, sizeof(buf), "AWS4-HMAC-SHA256 %s, SignedHeaders=host;content-type;x-amz-date, "
             "%s", good_cred, sig);
    expect_form(buf, KMS_ERR_INCOMPLETE_SIGNATURE, "not sorted");
    snprintf(buf, sizeof(buf), "AWS4-HMAC-SHA256 %s, SignedHeaders=content-type;x-amz-date, %s",
             good_cred, sig);
    expect_form(buf, KMS_ERR_INCOMPLETE_SIGNATURE, "does not include host");
    snprintf(buf, sizeof(buf), "AWS4-HMAC-SHA256 %s, SignedHeaders=Host;x-amz-date, %s",
             good_cred, sig);
    expect_form(buf, KMS_ERR_INCOMPLETE_SIGNATURE, "not lower case");
    snprintf(buf, sizeof(buf), "AWS4-HMAC-SHA256 %s, SignedHeaders=host;x-amz-date;x-amz-target;x-custom, %s",
             good_cred, sig);
    expect_form(buf, KMS_ERR_INCOMPLETE_SIGNATURE, "signed header x-custom is not in the request");
    /* an over-long header is refused before it is parsed */
    static char huge[KMS_SIGV4_AUTH_MAX + 100];
    memset(huge, 'A', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    expect_form(huge, KMS_ERR_INCOMPLETE_SIGNATURE, "over 4096 bytes");

    /* no Authorization at all, and no X-Amz-Date */
    signed_request s;
    kms_error e;
    sign_at(&s, "AKIDTEST", "s3cret", now, "{}");
    s.h.count = 4;
    assert_int_equal(check(&s, "{}", NULL, now, &e), KMS_ERR_MISSING_AUTHENTICATION);
    sign_at(&s, "AKIDTEST", "s3cret", now, "{}");
    s.h.values[2] = "yesterday";
    assert_int_equal(check(&s, "{}", NULL, now, &e), KMS_ERR_INCOMPLETE_SIGNATURE);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_credentials_file(void **state)
{
    (void)state;
    char *dir = test_mkdtemp();
    char path[512];
    snprintf(path, sizeof(path), "%s/creds", dir);
    kms_credentials c;
    nsmkit_error e;
    write_file(path, "# test keys\nAKID1 secret1\n\n  AKID2\tsecret2  \n", 0600);
    assert_int_equal(kms_credentials_load(path, &c, &e), 0);
    assert_int_equal(c.count, 2);
    assert_string_equal(c.keys[1].access_key_id, "AKID2");
    assert_string_equal(c.keys[1].secret, "secret2");
    write_file(path, "AKID1 secret1\n", 0644);
    assert_int_equal(kms_credentials_load(path, &c, &e), -1);
    assert_non_null(strstr(e.msg, "open to group or others"));
    write_file(path, "AKID1 secret1 extra\n", 0600);
    assert_int_equal(kms_credentials_load(path, &c, &e), -1);
    assert_non_null(strstr(e.msg, ":1: want"));
    write_file(path, "# nothing\n", 0600);
    assert_int_equal(kms_credentials_load(path, &c, &e), -1);
    assert_non_null(strstr(e.msg, "no access keys"));
    snprintf(path, sizeof(path), "%s/absent", dir);
    assert_int_equal(kms_credentials_load(path, &c, &e), -1);
    test_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_get_vanilla_vector),
        cmocka_unit_test(test_signature_checked_against_credentials),
        cmocka_unit_test(test_malformed_authorization),
        cmocka_unit_test(test_x_amz_target_must_be_signed),
        cmocka_unit_test(test_credential_scope_of_another_region_refused),
        cmocka_unit_test(test_credentials_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
