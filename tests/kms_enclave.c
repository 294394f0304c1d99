/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms_enclave: the first job of an enclave, as the secret-injection flow describes it
 * (generate a key pair, attest it, ask KMS to decrypt with Recipient, decrypt
 * CiphertextForRecipient with the private key), written against the drop-in NSM C API
 * (nsm.h, libnsm) the way an enclave application is, so that under `nsm-sim exec` every NSM
 * call goes through the simulated /dev/nsm.
 *
 *   kms_enclave HOST PORT CIPHERTEXT_BLOB_BASE64 [--key-id ID] [--cms-out FILE]
 *
 * The request is signed with SigV4 (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION or
 * us-east-1). Prints "secret: <the plaintext>" and exits 0; a KMS error prints
 * "kms error: <__type>: <message>" and exits 1; anything else exits 2.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <nsm.h>

#include "../kms/base64.h"
#include "../kms/sigv4.h"

#define DOC_MAX (16 * 1024)
#define RESPONSE_MAX (256 * 1024)

static int die(const char *what)
{
    fprintf(stderr, "kms_enclave: %s\n", what);
    return 2;
}

/* The headers the request carries, for the signer to look up. */
typedef struct {
    const char *names[8];
    const char *values[8];
    size_t count;
} header_list;

static const char *header_get(void *ctx, const char *name)
{
    const header_list *h = ctx;
    for (size_t i = 0; i < h->count; i++)
        if (strcasecmp(h->names[i], name) == 0)
            return h->values[i];
    return NULL;
}

/* One POST over a fresh connection; the response's status and body (caller frees). */
static int http_post(const char *host, unsigned port, const header_list *headers,
                     const char *body, int *status, char **response_body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || inet_pton(AF_INET, host, &addr.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    FILE *out = fdopen(dup(fd), "w");
    if (out == NULL) {
        close(fd);
        return -1;
    }
    fprintf(out, "POST / HTTP/1.1\r\n");
    for (size_t i = 0; i < headers->count; i++)
        fprintf(out, "%s: %s\r\n", headers->names[i], headers->values[i]);
    fprintf(out, "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body), body);
    fclose(out);
    char *buf = malloc(RESPONSE_MAX + 1);
    size_t len = 0;
    ssize_t n;
    while (buf != NULL && len < RESPONSE_MAX && (n = read(fd, buf + len, RESPONSE_MAX - len)) > 0)
        len += (size_t)n;
    close(fd);
    if (buf == NULL)
        return -1;
    buf[len] = '\0';
    char *start = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.1 ", 9) != 0 || start == NULL) {
        free(buf);
        return -1;
    }
    *status = atoi(buf + 9);
    *response_body = strdup(start + 4);
    free(buf);
    return *response_body != NULL ? 0 : -1;
}

/* CiphertextForRecipient -> the secret, with the private key that never left this process. */
static int open_envelope(EVP_PKEY *key, const uint8_t *cms_der, size_t cms_len, const char *cms_out)
{
    if (cms_out != NULL) {
        FILE *f = fopen(cms_out, "wb");
        if (f == NULL || fwrite(cms_der, 1, cms_len, f) != cms_len) {
            if (f != NULL)
                fclose(f);
            return die("cannot write --cms-out");
        }
        fclose(f);
    }
    const unsigned char *p = cms_der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)cms_len);
    BIO *plain = BIO_new(BIO_s_mem());
    if (cms == NULL || plain == NULL || CMS_decrypt(cms, key, NULL, NULL, plain, CMS_BINARY) != 1) {
        CMS_ContentInfo_free(cms);
        BIO_free(plain);
        return die("CiphertextForRecipient does not decrypt with the enclave's private key");
    }
    char *data = NULL;
    long len = BIO_get_mem_data(plain, &data);
    printf("secret: %.*s\n", (int)len, data);
    CMS_ContentInfo_free(cms);
    BIO_free(plain);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return die("usage: kms_enclave HOST PORT CIPHERTEXT_BLOB_BASE64 [--key-id ID] "
                   "[--cms-out FILE]");
    const char *host = argv[1], *blob = argv[3], *key_id = NULL, *cms_out = NULL;
    unsigned port = (unsigned)atoi(argv[2]);
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--key-id") == 0)
            key_id = argv[i + 1];
        else if (strcmp(argv[i], "--cms-out") == 0)
            cms_out = argv[i + 1];
        else
            return die("unknown option");
    }
    const char *access_key = getenv("AWS_ACCESS_KEY_ID");
    const char *secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    const char *region = getenv("AWS_REGION") != NULL ? getenv("AWS_REGION") : "us-east-1";
    if (access_key == NULL || secret_key == NULL)
        return die("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");

    /* 1. a key pair born in the enclave */
    EVP_PKEY *key = EVP_RSA_gen(2048);
    unsigned char *spki = NULL;
    int spki_len = key != NULL ? i2d_PUBKEY(key, &spki) : -1;
    if (spki_len <= 0)
        return die("cannot generate an RSA-2048 key pair");

    /* 2. an attestation document carrying the public key (SubjectPublicKeyInfo DER) */
    int32_t nsm = nsm_lib_init();
    if (nsm < 0)
        return die("nsm_lib_init failed (no /dev/nsm?)");
    static uint8_t doc[DOC_MAX];
    uint32_t doc_len = sizeof(doc);
    ErrorCode rc = nsm_get_attestation_doc(nsm, NULL, 0, NULL, 0, spki, (uint32_t)spki_len, doc,
                                           &doc_len);
    nsm_lib_exit(nsm);
    if (rc != ERROR_CODE_SUCCESS)
        return die("nsm_get_attestation_doc failed");
    fprintf(stderr, "kms_enclave: attestation document of %u bytes carries the public key\n",
            doc_len);

    /* 3. Decrypt with Recipient */
    char *doc_b64 = kms_base64_encode(doc, doc_len);
    json_t *req = json_pack("{s:s, s:{s:s, s:s}}", "CiphertextBlob", blob, "Recipient",
                            "AttestationDocument", doc_b64, "KeyEncryptionAlgorithm",
                            "RSAES_OAEP_SHA_256");
    if (key_id != NULL)
        json_object_set_new(req, "KeyId", json_string(key_id));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    free(doc_b64);
    if (body == NULL)
        return die("out of memory");

    char amz_date[17], date8[9], host_header[64], credential[512], authorization[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    snprintf(host_header, sizeof(host_header), "%s:%u", host, port);
    header_list headers = {
        .names = {"Content-Type", "Host", "X-Amz-Date", "X-Amz-Target"},
        .values = {"application/x-amz-json-1.1", host_header, amz_date, "TrentService.Decrypt"},
        .count = 4};
    const char *signed_headers = "content-type;host;x-amz-date;x-amz-target";
    kms_sigv4_request sreq = {"POST", "/", header_get, &headers,
                              nsmkit_bytes_of(body, strlen(body))};
    char signature[65];
    nsmkit_error e;
    if (kms_sigv4_signature(&sreq, secret_key, date8, region, "kms", amz_date, signed_headers,
                            signature, &e) != 0)
        return die(e.msg);
    snprintf(credential, sizeof(credential), "%s/%s/%s/kms/aws4_request", access_key, date8, region);
    snprintf(authorization, sizeof(authorization),
             "AWS4-HMAC-SHA256 Credential=%s, SignedHeaders=%s, Signature=%s", credential,
             signed_headers, signature);
    headers.names[headers.count] = "Authorization";
    headers.values[headers.count++] = authorization;

    int status = 0;
    char *response = NULL;
    if (http_post(host, port, &headers, body, &status, &response) != 0)
        return die("no HTTP answer from KMS");
    free(body);
    json_error_t jerr;
    json_t *answer = json_loads(response, 0, &jerr);
    free(response);
    if (answer == NULL)
        return die("KMS's answer is not JSON");
    int exit_code;
    if (status != 200) {
        printf("kms error: %s: %s\n", json_string_value(json_object_get(answer, "__type")),
               json_string_value(json_object_get(answer, "message")));
        exit_code = 1;
    } else if (json_object_get(answer, "Plaintext") != NULL) {
        exit_code = die("KMS answered a Recipient request with Plaintext");
    } else {
        /* 4. only the enclave's private key opens the answer */
        const char *sealed = json_string_value(json_object_get(answer, "CiphertextForRecipient"));
        uint8_t *cms = NULL;
        size_t cms_len = 0;
        if (sealed == NULL ||
            kms_base64_decode(sealed, strlen(sealed), RESPONSE_MAX, &cms, &cms_len, &e) != 0)
            exit_code = die("no CiphertextForRecipient in KMS's answer");
        else
            exit_code = open_envelope(key, cms, cms_len, cms_out);
        free(cms);
    }
    json_decref(answer);
    OPENSSL_free(spki);
    EVP_PKEY_free(key);
    return exit_code;
}
