/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enclave_decrypt: the first job of an enclave application, end to end, in one file an
 * application can copy (with cms_open.c/.h beside it):
 *
 *   1. generate an RSA-2048 key pair inside the enclave;
 *   2. ask the NSM for an attestation document carrying the public key (nsm.h, libnsm);
 *   3. send KMS `Decrypt` with `Recipient` (the document, RSAES_OAEP_SHA_256), signed with
 *      AWS Signature Version 4 (written out below: no AWS SDK needed);
 *   4. open `CiphertextForRecipient` with the private key (cms_open.c): only this enclave can.
 *
 *   enclave_decrypt HOST PORT CIPHERTEXT_BLOB_BASE64 [KEY_ID]
 *
 * Credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN when
 * set), region from AWS_REGION (default us-east-1). Prints "secret: <plaintext>" and exits 0;
 * a KMS error prints "kms error: <__type>: <message>" and exits 1; anything else exits 2.
 *
 * In a real enclave HOST:PORT is the parent's vsock proxy to kms.REGION.amazonaws.com (over
 * TLS); against nsm-kms under `nsm-sim exec` it is the local server. Build:
 *   cc enclave_decrypt.c cms_open.c -lnsm -ljansson -lcrypto
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>

#include <nsm.h>

#include "cms_open.h"

#define DOC_MAX (16 * 1024)
#define RESPONSE_MAX (256 * 1024)

static int die(const char *what)
{
    fprintf(stderr, "enclave_decrypt: %s\n", what);
    return 2;
}

/* ---- AWS Signature Version 4 for one KMS request ------------------------------------------ */

static void sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t digest[32];
    unsigned int n = 0;
    EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static void hmac(const uint8_t *key, size_t key_len, const char *msg, uint8_t out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const uint8_t *)msg, strlen(msg), out, &n);
}

/* The Authorization header for POST / with these headers, all of them signed (KMS requires
 * host, x-amz-date and x-amz-target among them). */
static int sigv4_authorization(const char *access_key, const char *secret, const char *region,
                               const char *amz_date, const char *host, const char *target,
                               const char *token, const char *body, char *out, size_t out_size)
{
    char body_hash[65], creq_hash[65], date8[9], creq[2048], to_sign[512];
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    sha256_hex(body, strlen(body), body_hash);
    const char *signed_headers = token != NULL
        ? "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        : "content-type;host;x-amz-date;x-amz-target";
    int n = snprintf(creq, sizeof(creq),
                     "POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:%s\n"
                     "x-amz-date:%s\n%s%s%sx-amz-target:%s\n\n%s\n%s",
                     host, amz_date, token != NULL ? "x-amz-security-token:" : "",
                     token != NULL ? token : "", token != NULL ? "\n" : "", target,
                     signed_headers, body_hash);
    if (n < 0 || (size_t)n >= sizeof(creq))
        return -1;
    sha256_hex(creq, (size_t)n, creq_hash);
    snprintf(to_sign, sizeof(to_sign), "AWS4-HMAC-SHA256\n%s\n%s/%s/kms/aws4_request\n%s",
             amz_date, date8, region, creq_hash);
    char k_secret[256];
    uint8_t k_date[32], k_region[32], k_service[32], k_signing[32], sig[32];
    snprintf(k_secret, sizeof(k_secret), "AWS4%s", secret);
    hmac((const uint8_t *)k_secret, strlen(k_secret), date8, k_date);
    hmac(k_date, 32, region, k_region);
    hmac(k_region, 32, "kms", k_service);
    hmac(k_service, 32, "aws4_request", k_signing);
    hmac(k_signing, 32, to_sign, sig);
    char sig_hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(sig_hex + 2 * i, 3, "%02x", sig[i]);
    n = snprintf(out, out_size, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/kms/aws4_request, "
                 "SignedHeaders=%s, Signature=%s", access_key, date8, region, signed_headers,
                 sig_hex);
    return n > 0 && (size_t)n < out_size ? 0 : -1;
}

/* ---- one HTTP request ------------------------------------------------------------------------- */

/* POSTs a KMS request over a fresh connection; *status and *answer (caller frees) on 0. */
static int kms_post(const char *host, unsigned port, const char *operation, const char *body,
                    int *status, char **answer)
{
    const char *access_key = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    const char *region = getenv("AWS_REGION") != NULL ? getenv("AWS_REGION") : "us-east-1";
    char amz_date[17], host_header[300], target[96], auth[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(host_header, sizeof(host_header), "%s:%u", host, port);
    snprintf(target, sizeof(target), "TrentService.%s", operation);
    if (access_key == NULL || secret == NULL ||
        sigv4_authorization(access_key, secret, region, amz_date, host_header, target, token,
                            body, auth, sizeof(auth)) != 0)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || inet_pton(AF_INET, host, &addr.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    FILE *out = fdopen(dup(fd), "w");
    if (out != NULL) {
        fprintf(out, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
                "X-Amz-Date: %s\r\nX-Amz-Target: %s\r\n%s%s%sAuthorization: %s\r\n"
                "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", host_header, amz_date,
                target, token != NULL ? "X-Amz-Security-Token: " : "", token != NULL ? token : "",
                token != NULL ? "\r\n" : "", auth, strlen(body), body);
        fclose(out);
    }
    char *buf = malloc(RESPONSE_MAX + 1);
    size_t len = 0;
    ssize_t n;
    while (buf != NULL && len < RESPONSE_MAX && (n = read(fd, buf + len, RESPONSE_MAX - len)) > 0)
        len += (size_t)n;
    close(fd);
    char *start = buf != NULL ? (buf[len] = '\0', strstr(buf, "\r\n\r\n")) : NULL;
    if (start == NULL || strncmp(buf, "HTTP/1.1 ", 9) != 0) {
        free(buf);
        return -1;
    }
    *status = atoi(buf + 9);
    *answer = strdup(start + 4);
    free(buf);
    return *answer != NULL ? 0 : -1;
}

/* ---- base64 (OpenSSL's) ------------------------------------------------------------------------ */

static char *base64_encode(const uint8_t *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out != NULL)
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

static uint8_t *base64_decode(const char *text, size_t *len)
{
    size_t n = strlen(text);
    uint8_t *out = n % 4 == 0 ? malloc(n / 4 * 3 + 1) : NULL;
    int got = out != NULL ? EVP_DecodeBlock(out, (const unsigned char *)text, (int)n) : -1;
    if (got < 0) {
        free(out);
        return NULL;
    }
    *len = (size_t)got - (n >= 1 && text[n - 1] == '=') - (n >= 2 && text[n - 2] == '=');
    return out;
}

/* ---- the flow ------------------------------------------------------------------------------------ */

/* Steps 1 and 2: the key pair and the document that carries its public key. */
static int attest_new_key(EVP_PKEY **key, uint8_t *doc, uint32_t *doc_len)
{
    *key = EVP_RSA_gen(2048);
    unsigned char *spki = NULL;
    int spki_len = *key != NULL ? i2d_PUBKEY(*key, &spki) : -1;
    if (spki_len <= 0)
        return die("cannot generate an RSA-2048 key pair");
    int32_t nsm = nsm_lib_init();
    ErrorCode rc = nsm >= 0 ? nsm_get_attestation_doc(nsm, NULL, 0, NULL, 0, spki,
                                                      (uint32_t)spki_len, doc, doc_len)
                            : ERROR_CODE_INTERNAL_ERROR;
    if (nsm >= 0)
        nsm_lib_exit(nsm);
    OPENSSL_free(spki);
    return rc == ERROR_CODE_SUCCESS ? 0 : die("no attestation document from the NSM");
}

/* Step 4: CiphertextForRecipient -> the secret. */
static int open_answer(json_t *answer, EVP_PKEY *key)
{
    if (json_object_get(answer, "Plaintext") != NULL)
        return die("KMS answered a Recipient request with Plaintext");
    const char *sealed = json_string_value(json_object_get(answer, "CiphertextForRecipient"));
    size_t blob_len = 0, secret_len = 0;
    uint8_t *blob = sealed != NULL ? base64_decode(sealed, &blob_len) : NULL, *secret = NULL;
    char err[256];
    int rc = 0;
    if (blob == NULL)
        rc = die("no CiphertextForRecipient in KMS's answer");
    else if (cms_open(blob, blob_len, key, &secret, &secret_len, err, sizeof(err)) != 0)
        rc = die(err);
    else
        printf("secret: %.*s\n", (int)secret_len, (const char *)secret);
    if (secret != NULL)
        OPENSSL_cleanse(secret, secret_len);
    free(secret);
    free(blob);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5)
        return die("usage: enclave_decrypt HOST PORT CIPHERTEXT_BLOB_BASE64 [KEY_ID]");
    static uint8_t doc[DOC_MAX];
    uint32_t doc_len = sizeof(doc);
    EVP_PKEY *key = NULL;
    if (attest_new_key(&key, doc, &doc_len) != 0)
        return 2;
    /* Step 3: Decrypt with Recipient */
    char *doc_b64 = base64_encode(doc, doc_len);
    json_t *req = json_pack("{s:s, s:{s:s, s:s}}", "CiphertextBlob", argv[3], "Recipient",
                            "AttestationDocument", doc_b64 != NULL ? doc_b64 : "",
                            "KeyEncryptionAlgorithm", "RSAES_OAEP_SHA_256");
    if (req != NULL && argc == 5)
        json_object_set_new(req, "KeyId", json_string(argv[4]));
    char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    free(doc_b64);
    int status = 0, rc;
    char *text = NULL;
    json_t *answer = NULL;
    if (body == NULL || kms_post(argv[1], (unsigned)atoi(argv[2]), "Decrypt", body, &status,
                                 &text) != 0 ||
        (answer = json_loads(text, 0, NULL)) == NULL) {
        rc = die("no answer from KMS (credentials set? server up?)");
    } else if (status != 200) {
        printf("kms error: %s: %s\n", json_string_value(json_object_get(answer, "__type")),
               json_string_value(json_object_get(answer, "message")));
        rc = 1;
    } else {
        rc = open_answer(answer, key);
    }
    json_decref(answer);
    free(text);
    free(body);
    EVP_PKEY_free(key);
    return rc;
}
