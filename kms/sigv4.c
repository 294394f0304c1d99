/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms: SigV4 parsing, checking and computing (see sigv4.h). */
#include "sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "nsmkit/buf.h"
#include "nsmkit/file.h"
#include "nsmkit/hex.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define CREDENTIALS_FILE_MAX (64 * 1024)

int kms_credentials_load(const char *path, kms_credentials *out, nsmkit_error *e)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return nsmkit_fail(e, "%s: %s", path, strerror(errno));
    if ((st.st_mode & 077) != 0)
        return nsmkit_fail(e, "%s: holds secrets but is open to group or others (mode %03o); "
                           "chmod 600 it", path, (unsigned)(st.st_mode & 0777));
    uint8_t *data = NULL; /* owned */
    size_t len = 0;
    if (nsmkit_file_read(path, CREDENTIALS_FILE_MAX, &data, &len, e) != 0)
        return -1;
    memset(out, 0, sizeof(*out));
    int rc = -1;
    size_t line_no = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = pos;
        while (end < len && data[end] != '\n')
            end++;
        line_no++;
        char line[300];
        size_t n = end - pos;
        if (n >= sizeof(line)) {
            nsmkit_fail(e, "%s:%zu: line too long", path, line_no);
            goto done;
        }
        memcpy(line, data + pos, n);
        line[n] = '\0';
        pos = end + 1;
        char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        char id[300], secret[300], extra[2];
        int fields = sscanf(p, "%299s %299s %1s", id, secret, extra);
        if (fields != 2 || strlen(id) >= sizeof(out->keys[0].access_key_id) ||
            strlen(secret) >= sizeof(out->keys[0].secret)) {
            nsmkit_fail(e, "%s:%zu: want \"ACCESS_KEY_ID SECRET_ACCESS_KEY\"", path, line_no);
            goto done;
        }
        if (out->count == KMS_CREDENTIALS_MAX) {
            nsmkit_fail(e, "%s: more than %d access keys", path, KMS_CREDENTIALS_MAX);
            goto done;
        }
        /* lengths checked above */
        memcpy(out->keys[out->count].access_key_id, id, strlen(id) + 1);
        memcpy(out->keys[out->count].secret, secret, strlen(secret) + 1);
        out->count++;
        nsmkit_wipe(secret, sizeof(secret));
    }
    if (out->count == 0) {
        nsmkit_fail(e, "%s: no access keys", path);
        goto done;
    }
    rc = 0;
done:
    nsmkit_wipe(data, len);
    free(data);
    return rc;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t digest[32];
    unsigned int dlen = 0;
    EVP_Digest(data, len, digest, &dlen, EVP_sha256(), NULL);
    nsmkit_hex_encode(digest, sizeof(digest), out);
}

static void hmac(const void *key, size_t key_len, const char *msg, uint8_t out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &len);
}

/* Appends a header value trimmed, with runs of spaces folded into one (SigV4's rule). */
static void append_value(nsmkit_buf *b, const char *value)
{
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen(value);
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    bool space = false;
    for (size_t i = 0; i < len; i++) {
        bool is_space = value[i] == ' ' || value[i] == '\t';
        if (is_space && space)
            continue;
        nsmkit_buf_u8(b, is_space ? ' ' : (uint8_t)value[i]);
        space = is_space;
    }
}

int kms_sigv4_signature(const kms_sigv4_request *request, const char *secret,
                        const char *date8, const char *region, const char *service,
                        const char *amz_date, const char *signed_headers, char out[65],
                        nsmkit_error *e)
{
    nsmkit_buf creq;
    nsmkit_buf_init(&creq, 64 * 1024);
    char body_hash[65];
    sha256_hex(request->body.ptr, request->body.len, body_hash);
    nsmkit_buf_append(&creq, request->method, strlen(request->method));
    nsmkit_buf_append(&creq, "\n", 1);
    nsmkit_buf_append(&creq, request->path, strlen(request->path));
    nsmkit_buf_append(&creq, "\n\n", 2); /* an empty query string */
    const char *name = signed_headers;
    while (*name != '\0') {
        const char *end = strchr(name, ';');
        size_t n = end != NULL ? (size_t)(end - name) : strlen(name);
        char lower[64];
        if (n == 0 || n >= sizeof(lower)) {
            nsmkit_buf_free(&creq);
            return nsmkit_fail(e, "a signed header name is empty or too long");
        }
        memcpy(lower, name, n);
        lower[n] = '\0';
        const char *value = request->header(request->header_ctx, lower);
        if (value == NULL) {
            nsmkit_buf_free(&creq);
            return nsmkit_fail(e, "signed header %s is not in the request", lower);
        }
        nsmkit_buf_append(&creq, lower, n);
        nsmkit_buf_u8(&creq, ':');
        append_value(&creq, value);
        nsmkit_buf_u8(&creq, '\n');
        name += n + (end != NULL ? 1 : 0);
    }
    nsmkit_buf_u8(&creq, '\n');
    nsmkit_buf_append(&creq, signed_headers, strlen(signed_headers));
    nsmkit_buf_u8(&creq, '\n');
    nsmkit_buf_append(&creq, body_hash, 64);
    if (creq.err) {
        nsmkit_buf_free(&creq);
        return nsmkit_fail(e, "the canonical request is too large");
    }
    char creq_hash[65];
    sha256_hex(creq.data, creq.len, creq_hash);
    nsmkit_buf_free(&creq);

    char string_to_sign[512];
    int n = snprintf(string_to_sign, sizeof(string_to_sign), "%s\n%s\n%s/%s/%s/aws4_request\n%s",
                     SIGV4_ALGORITHM, amz_date, date8, region, service, creq_hash);
    if (n < 0 || (size_t)n >= sizeof(string_to_sign))
        return nsmkit_fail(e, "the credential scope is too long");
    char first_key[4 + 129];
    n = snprintf(first_key, sizeof(first_key), "AWS4%s", secret);
    if (n < 0 || (size_t)n >= sizeof(first_key))
        return nsmkit_fail(e, "the secret is too long");
    uint8_t k_date[32], k_region[32], k_service[32], k_signing[32], signature[32];
    hmac(first_key, (size_t)n, date8, k_date);
    hmac(k_date, 32, region, k_region);
    hmac(k_region, 32, service, k_service);
    hmac(k_service, 32, "aws4_request", k_signing);
    hmac(k_signing, 32, string_to_sign, signature);
    nsmkit_hex_encode(signature, sizeof(signature), out);
    nsmkit_wipe(first_key, sizeof(first_key));
    nsmkit_wipe(k_signing, sizeof(k_signing));
    return 0;
}

/* The three parts of an Authorization header, each copied NUL-terminated. */
typedef struct {
    char credential[300];
    char signed_headers[1024];
    char signature[80];
    char access_key_id[130], date8[9], region[64], service[32];
} sigv4_auth;

static bool copy_part(const char *value, size_t len, char *out, size_t out_size)
{
    if (len == 0 || len >= out_size)
        return false;
    memcpy(out, value, len);
    out[len] = '\0';
    return true;
}

/* SignedHeaders: sorted, lower case, includes host, x-amz-date and x-amz-target. */
static kms_code signed_headers_check(const char *signed_headers, kms_error *e)
{
    size_t names = 0;
    bool host = false, date = false, target = false;
    char previous[64] = "";
    for (const char *h = signed_headers; *h != '\0';) {
        size_t n = strcspn(h, ";");
        if (n == 0 || n >= sizeof(previous))
            return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE, "SignedHeaders has an empty or long name");
        for (size_t i = 0; i < n; i++)
            if (!(islower((unsigned char)h[i]) || isdigit((unsigned char)h[i]) || h[i] == '-'))
                return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE,
                                "SignedHeaders holds a name that is not lower case");
        char name[64];
        memcpy(name, h, n);
        name[n] = '\0';
        if (names > 0 && strcmp(previous, name) >= 0)
            return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE, "SignedHeaders is not sorted");
        if (++names > KMS_SIGV4_MAX_HEADERS)
            return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE, "SignedHeaders names over %d headers",
                            KMS_SIGV4_MAX_HEADERS);
        host = host || strcmp(name, "host") == 0;
        date = date || strcmp(name, "x-amz-date") == 0;
        target = target || strcmp(name, "x-amz-target") == 0;
        memcpy(previous, name, n + 1);
        h += n;
        if (*h == ';') {
            h++;
            if (*h == '\0')
                return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE, "SignedHeaders ends with ';'");
        }
    }
    /* x-amz-target names the operation: unsigned, a captured DescribeKey would replay as
     * DisableKey. AWS's SDKs sign it; KMS requires host and x-amz-date as well. */
    if (!host || !date || !target)
        return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE, "SignedHeaders does not include %s",
                        !host ? "host" : !date ? "x-amz-date" : "x-amz-target");
    return KMS_ERR_OK;
}

static kms_code auth_parse(const char *header, sigv4_auth *a, kms_error *e)
{
    size_t alg_len = strlen(SIGV4_ALGORITHM);
    if (strlen(header) > KMS_SIGV4_AUTH_MAX)
        return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE, "the Authorization header is over %d bytes",
                        KMS_SIGV4_AUTH_MAX);
    if (strncmp(header, SIGV4_ALGORITHM, alg_len) != 0 || header[alg_len] != ' ')
        return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE,
                        "the Authorization header does not start with \"%s \"", SIGV4_ALGORITHM);
    memset(a, 0, sizeof(*a));
    bool have_cred = false, have_headers = false, have_sig = false;
    const char *p = header + alg_len;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        const char *eq = strchr(p, '=');
        if (eq == NULL)
            return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE,
                            "the Authorization header has a part without '='");
        const char *value = eq + 1;
        size_t vlen = strcspn(value, ", ");
        size_t klen = (size_t)(eq - p);
        bool ok;
        if (klen == 10 && strncmp(p, "Credential", klen) == 0 && !have_cred) {
            ok = have_cred = copy_part(value, vlen, a->credential, sizeof(a->credential));
        } else if (klen == 13 && strncmp(p, "SignedHeaders", klen) == 0 && !have_headers) {
            ok = have_headers = copy_part(value, vlen, a->signed_headers, sizeof(a->signed_headers));
        } else if (klen == 9 && strncmp(p, "Signature", klen) == 0 && !have_sig) {
            ok = have_sig = copy_part(value, vlen, a->signature, sizeof(a->signature));
        } else {
            return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE,
                            "the Authorization header has an unknown or repeated part %.*s",
                            (int)(klen < 40 ? klen : 40), p);
        }
        if (!ok)
            return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE,
                            "an Authorization part is empty or too long");
        p = value + vlen;
    }
    if (!have_cred || !have_headers || !have_sig)
        return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE,
                        "the Authorization header lacks %s",
                        !have_cred ? "Credential" : !have_headers ? "SignedHeaders" : "Signature");
    /* Credential=AKID/YYYYMMDD/region/service/aws4_request */
    char scope[300];
    snprintf(scope, sizeof(scope), "%s", a->credential);
    char *parts[6] = {0};
    size_t count = 0;
    char *save = NULL;
    for (char *t = strtok_r(scope, "/", &save); t != NULL && count < 6;
         t = strtok_r(NULL, "/", &save))
        parts[count++] = t;
    if (count != 5 || strcmp(parts[4], "aws4_request") != 0)
        return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE,
                        "Credential is not ACCESS_KEY/YYYYMMDD/REGION/kms/aws4_request");
    if (strlen(parts[1]) != 8 || strspn(parts[1], "0123456789") != 8)
        return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE, "the Credential date is not YYYYMMDD");
    if (strcmp(parts[3], "kms") != 0)
        return kms_fail(e, KMS_ERR_INVALID_SIGNATURE,
                        "the Credential is scoped to service %.30s, not kms", parts[3]);
    if (!copy_part(parts[0], strlen(parts[0]), a->access_key_id, sizeof(a->access_key_id)) ||
        !copy_part(parts[2], strlen(parts[2]), a->region, sizeof(a->region)))
        return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE, "a Credential part is too long");
    memcpy(a->date8, parts[1], 9);
    snprintf(a->service, sizeof(a->service), "%s", parts[3]);
    /* Signature: 64 lower-case hex digits */
    if (strlen(a->signature) != 64 || strspn(a->signature, "0123456789abcdef") != 64)
        return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE,
                        "Signature is not 64 lower-case hex digits");
    return signed_headers_check(a->signed_headers, e);
}

/* Parses YYYYMMDDTHHMMSSZ into Unix seconds. */
static bool amz_date_parse(const char *text, time_t *out)
{
    if (strlen(text) != 16 || text[8] != 'T' || text[15] != 'Z' ||
        strspn(text, "0123456789") != 8 || strspn(text + 9, "0123456789") != 6)
        return false;
    struct tm tm = {0};
    int year, mon, day, hour, min, sec;
    if (sscanf(text, "%4d%2d%2dT%2d%2d%2dZ", &year, &mon, &day, &hour, &min, &sec) != 6)
        return false;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return false;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    *out = timegm(&tm);
    return true;
}

kms_code kms_sigv4_check(const kms_sigv4_request *request, const kms_credentials *creds,
                         const char *region, time_t now, kms_error *e)
{
    const char *auth = request->header(request->header_ctx, "authorization");
    if (auth == NULL)
        return kms_fail(e, KMS_ERR_MISSING_AUTHENTICATION,
                        "the request has no Authorization header (SigV4 signing is required)");
    sigv4_auth a;
    kms_code code = auth_parse(auth, &a, e);
    if (code != KMS_ERR_OK)
        return code;
    const char *amz_date = request->header(request->header_ctx, "x-amz-date");
    time_t signed_at;
    if (amz_date == NULL || !amz_date_parse(amz_date, &signed_at))
        return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE,
                        "X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ");
    if (region != NULL && strcmp(a.region, region) != 0)
        return kms_fail(e, KMS_ERR_INVALID_SIGNATURE,
                        "Credential should be scoped to a valid region, not '%.64s'. ", a.region);
    if (strncmp(amz_date, a.date8, 8) != 0)
        return kms_fail(e, KMS_ERR_INVALID_SIGNATURE,
                        "the Credential date %s is not the day of X-Amz-Date", a.date8);
    for (const char *h = a.signed_headers; *h != '\0';) {
        size_t n = strcspn(h, ";");
        char name[64];
        memcpy(name, h, n);
        name[n] = '\0';
        if (request->header(request->header_ctx, name) == NULL)
            return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE,
                            "signed header %s is not in the request", name);
        h += n + (h[n] == ';');
    }
    if (creds == NULL)
        return KMS_ERR_OK; /* well-formed is all that is asked without --credentials */

    const kms_credential *key = NULL;
    for (size_t i = 0; i < creds->count; i++)
        if (strcmp(creds->keys[i].access_key_id, a.access_key_id) == 0)
            key = &creds->keys[i];
    if (key == NULL)
        return kms_fail(e, KMS_ERR_UNRECOGNIZED_CLIENT,
                        "the access key id %.40s is not known to this server", a.access_key_id);
    double skew = difftime(now, signed_at);
    if (skew > KMS_SIGV4_MAX_SKEW_S || skew < -KMS_SIGV4_MAX_SKEW_S)
        return kms_fail(e, KMS_ERR_INVALID_SIGNATURE,
                        "Signature expired: X-Amz-Date %s is more than %d minutes from the "
                        "server's time", amz_date, KMS_SIGV4_MAX_SKEW_S / 60);
    const char *content_hash = request->header(request->header_ctx, "x-amz-content-sha256");
    if (content_hash != NULL) {
        char body_hash[65];
        sha256_hex(request->body.ptr, request->body.len, body_hash);
        if (strcmp(content_hash, body_hash) != 0 && strcmp(content_hash, "UNSIGNED-PAYLOAD") != 0)
            return kms_fail(e, KMS_ERR_INVALID_SIGNATURE,
                            "X-Amz-Content-Sha256 is not the SHA-256 of the body");
    }
    char expected[65];
    nsmkit_error se;
    if (kms_sigv4_signature(request, key->secret, a.date8, a.region, a.service, amz_date,
                            a.signed_headers, expected, &se) != 0)
        return kms_fail(e, KMS_ERR_INCOMPLETE_SIGNATURE, "%s", se.msg);
    if (CRYPTO_memcmp(expected, a.signature, 64) != 0)
        return kms_fail(e, KMS_ERR_INVALID_SIGNATURE,
                        "The request signature we calculated does not match the signature you "
                        "provided. Check your AWS Secret Access Key and signing method.");
    return KMS_ERR_OK;
}
