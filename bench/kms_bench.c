/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms_bench: Decrypt-with-Recipient requests per second, beside the cost of the crypto such
 * a request cannot avoid, measured in the same run: one document verification (warm: the
 * chain cached, one P-384 verify) plus one RSAES-OAEP-SHA256 encryption to the document's
 * key. Two request paths: the service alone (kms_service_handle: JSON, blob, policy,
 * verification, CMS) and the whole server over loopback HTTP (libmicrohttpd, SigV4 checked
 * against credentials, one keep-alive client). Wall-clock time, best of interleaved rounds,
 * because the HTTP path runs on the server's threads; the machine is shared, so read the
 * ratios, not the rates.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "nsmkit/buf.h"
#include "nsmkit/ca.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/error.h"
#include "nsmkit/sim.h"
#include "nsmkit/verify.h"

#include "../kms/base64.h"
#include "../kms/http.h"
#include "../kms/service.h"
#include "../kms/sigv4.h"
#include "../kms/store.h"

#define ROUNDS 3
#define ROUND_SECONDS 1.5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what)
{
    fprintf(stderr, "kms_bench: %s\n", what);
    return 1;
}

/* The document from an Attestation response {"Attestation": {"document": bstr}}. */
static int document_of(const uint8_t *resp, size_t len, const uint8_t **doc, size_t *doc_len)
{
    static const char key[] = "document";
    for (size_t i = 0; i + sizeof(key) + 4 < len; i++) {
        if (memcmp(resp + i, key, sizeof(key) - 1) != 0)
            continue;
        const uint8_t *p = resp + i + sizeof(key) - 1;
        size_t n;
        if (p[0] == 0x59) {
            n = (size_t)p[1] << 8 | p[2];
            p += 3;
        } else {
            return -1;
        }
        if (n > len - (size_t)(p - resp))
            return -1;
        *doc = p;
        *doc_len = n;
        return 0;
    }
    return -1;
}

typedef struct {
    nsmv_verifier *verifier;
    const uint8_t *doc;
    size_t doc_len;
    EVP_PKEY *public_key;
    const kms_service *service;
    const char *body;
    int fd;              /* HTTP client socket */
    const char *request; /* the whole HTTP request */
} bench;

/* One verification plus one RSA-OAEP-SHA256 encryption of a 32-byte secret. */
static int crypto_once(bench *b)
{
    nsmv_options o;
    nsmv_options_init(&o);
    nsmv_result r;
    if (nsmv_verify(b->verifier, b->doc, b->doc_len, &o, &r) != NSMV_OK)
        return -1;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(b->public_key, NULL);
    uint8_t secret[32] = {0}, out[512];
    size_t out_len = sizeof(out);
    int ok = ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
             EVP_PKEY_encrypt(ctx, out, &out_len, secret, sizeof(secret)) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : -1;
}

static int service_once(bench *b)
{
    kms_response r;
    kms_service_handle(b->service, "Decrypt", nsmkit_bytes_of(b->body, strlen(b->body)), &r);
    int ok = r.code == KMS_ERR_OK && strstr(r.body, "CiphertextForRecipient") != NULL;
    kms_response_clear(&r);
    return ok ? 0 : -1;
}

/* One request over the keep-alive connection; the whole response read. */
static int http_once(bench *b)
{
    size_t len = strlen(b->request), sent = 0;
    while (sent < len) {
        ssize_t n = write(b->fd, b->request + sent, len - sent);
        if (n <= 0)
            return -1;
        sent += (size_t)n;
    }
    static char buf[65536];
    size_t got = 0, need = 0;
    char *body = NULL;
    for (;;) {
        ssize_t n = read(b->fd, buf + got, sizeof(buf) - 1 - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
        buf[got] = '\0';
        if (body == NULL && (body = strstr(buf, "\r\n\r\n")) != NULL) {
            char *cl = strcasestr(buf, "content-length:");
            if (cl == NULL || strncmp(buf, "HTTP/1.1 200", 12) != 0)
                return -1;
            need = (size_t)(body + 4 - buf) + strtoul(cl + 15, NULL, 10);
        }
        if (body != NULL && got >= need)
            return strstr(body, "CiphertextForRecipient") != NULL ? 0 : -1;
    }
}

/* The signed request's headers, for kms_sigv4_signature. */
static const char *header_names[] = {"content-type", "host", "x-amz-date", "x-amz-target"};
static const char *header_values[4];

static const char *header_lookup(void *ctx, const char *name)
{
    (void)ctx;
    for (size_t i = 0; i < 4; i++)
        if (strcmp(header_names[i], name) == 0)
            return header_values[i];
    return NULL;
}

static double rate(int (*fn)(bench *), bench *b)
{
    long count = 0;
    double start = now_s(), end;
    do {
        if (fn(b) != 0)
            return 0;
        count++;
        end = now_s();
    } while (end - start < ROUND_SECONDS);
    return (double)count / (end - start);
}

int main(void)
{
    char dir[] = "/tmp/nsmkit-kms-bench-XXXXXX", state[256], pki[256], creds_path[256];
    if (mkdtemp(dir) == NULL)
        return die("mkdtemp");
    snprintf(pki, sizeof(pki), "%s/ca", dir);
    snprintf(state, sizeof(state), "%s/state", dir);
    nsmkit_error e;
    nsmsim_options options;
    nsmsim_options_init(&options);
    options.ca_dir = pki;
    char pcr0[97], assignment[128];
    for (int i = 0; i < 48; i++)
        snprintf(pcr0 + 2 * i, 3, "%02x", 0xa0 + (i & 15));
    snprintf(assignment, sizeof(assignment), "0=%s", pcr0);
    nsmsim *sim = NULL;
    nsmca_pki *ca = NULL;
    if (nsmca_init(pki, NULL, &e) != 0 || nsmsim_options_set_pcr(&options, assignment, &e) != 0 ||
        nsmsim_new(&options, &sim, &e) != 0 ||
        nsmca_open(pki, &ca, &e) != 0)
        return die(e.msg);

    /* the enclave's key and a document carrying it */
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    uint8_t *spki = NULL;
    int spki_len = i2d_PUBKEY(rsa, &spki);
    nsmkit_buf req;
    nsmkit_buf_init(&req, 4096);
    nsmkit_cbor_put_head(&req, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(&req, "Attestation");
    nsmkit_cbor_put_head(&req, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(&req, "public_key");
    nsmkit_cbor_put_bytes(&req, spki, (size_t)spki_len);
    static uint8_t resp[16384];
    size_t resp_len = sizeof(resp);
    bench b = {0};
    b.public_key = rsa;
    if (nsmsim_handle(sim, req.data, req.len, resp, &resp_len) != 0 ||
        document_of(resp, resp_len, &b.doc, &b.doc_len) != 0)
        return die("no attestation document");

    /* the server's side: root, store, a key whose policy checks PCR0, a blob */
    size_t root_len = 0;
    const uint8_t *root = nsmca_cert_der(ca, 0, &root_len);
    nsmv_config vc = {.root_der = root, .root_len = root_len};
    nsmv_error ve;
    kms_store *store = NULL;
    if (nsmv_verifier_new(&vc, &b.verifier, &ve) != 0 ||
        kms_store_open(state, "us-east-1", KMS_DEFAULT_ACCOUNT, &store, &e) != 0)
        return die("verifier or store");
    kms_service service = {.store = store, .verifier = b.verifier};
    b.service = &service;
    char policy[1024];
    snprintf(policy, sizeof(policy),
             "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"kms:Encrypt\"}, "
             "{\"Effect\": \"Allow\", \"Action\": \"kms:Decrypt\", \"Condition\": "
             "{\"StringEqualsIgnoreCase\": {\"kms:RecipientAttestation:PCR0\": \"%s\"}}}]}",
             pcr0);
    kms_key key;
    kms_error ke;
    if (kms_store_create_key(store, "bench", policy, NULL, NULL, &key, &ke) != KMS_ERR_OK)
        return die(ke.msg);
    char encrypt_body[256];
    snprintf(encrypt_body, sizeof(encrypt_body),
             "{\"KeyId\": \"%s\", \"Plaintext\": \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"}",
             key.id);
    kms_response r;
    kms_service_handle(&service, "Encrypt", nsmkit_bytes_of(encrypt_body, strlen(encrypt_body)), &r);
    char *blob_at = r.code == KMS_ERR_OK ? strstr(r.body, "\"CiphertextBlob\":\"") : NULL;
    if (blob_at == NULL)
        return die("Encrypt failed");
    blob_at += strlen("\"CiphertextBlob\":\"");
    *strchr(blob_at, '"') = '\0';
    char *doc_b64 = kms_base64_encode(b.doc, b.doc_len);
    size_t body_size = strlen(doc_b64) + strlen(blob_at) + 256;
    char *body = malloc(body_size);
    snprintf(body, body_size,
             "{\"CiphertextBlob\": \"%s\", \"Recipient\": {\"AttestationDocument\": \"%s\", "
             "\"KeyEncryptionAlgorithm\": \"RSAES_OAEP_SHA_256\"}}", blob_at, doc_b64);
    b.body = body;
    if (service_once(&b) != 0)
        return die("Decrypt with Recipient failed in the service");

    /* the HTTP server on a loopback port, credentials checked */
    snprintf(creds_path, sizeof(creds_path), "%s/creds", dir);
    FILE *cf = fopen(creds_path, "w");
    fputs("AKIDBENCH benchsecret\n", cf);
    fclose(cf);
    chmod(creds_path, 0600);
    kms_credentials creds;
    if (kms_credentials_load(creds_path, &creds, &e) != 0)
        return die(e.msg);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(addr);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0)
        return die("listen");
    kms_http_config hc = {.service = &service, .creds = &creds, .listen_fd = lfd, .threads = 1};
    kms_http *http = NULL;
    if (kms_http_start(&hc, &http, &e) != 0)
        return die(e.msg);
    char amz_date[17], date8[9], host[32], sig[65];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    snprintf(host, sizeof(host), "127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
    header_values[0] = "application/x-amz-json-1.1";
    header_values[1] = host;
    header_values[2] = amz_date;
    header_values[3] = "TrentService.Decrypt";
    kms_sigv4_request sreq = {"POST", "/", header_lookup, NULL, nsmkit_bytes_of(body, strlen(body))};
    if (kms_sigv4_signature(&sreq, "benchsecret", date8, "us-east-1", "kms", amz_date,
                            "content-type;host;x-amz-date;x-amz-target", sig, &e) != 0)
        return die(e.msg);
    size_t request_size = strlen(body) + 1024;
    char *request = malloc(request_size);
    snprintf(request, request_size,
             "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
             "X-Amz-Date: %s\r\nX-Amz-Target: TrentService.Decrypt\r\nContent-Length: %zu\r\n"
             "Authorization: AWS4-HMAC-SHA256 Credential=AKIDBENCH/%s/us-east-1/kms/aws4_request, "
             "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=%s\r\n\r\n%s",
             host, amz_date, strlen(body), date8, sig, body);
    b.request = request;
    b.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(b.fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || http_once(&b) != 0)
        return die("Decrypt with Recipient failed over HTTP");

    double best_crypto = 0, best_service = 0, best_http = 0;
    for (int round = 0; round < ROUNDS; round++) {
        double c = rate(crypto_once, &b), s_rate = rate(service_once, &b), h = rate(http_once, &b);
        if (c == 0 || s_rate == 0 || h == 0)
            return die("a measurement failed");
        best_crypto = c > best_crypto ? c : best_crypto;
        best_service = s_rate > best_service ? s_rate : best_service;
        best_http = h > best_http ? h : best_http;
    }
    printf("Decrypt with Recipient (%zu-byte document, RSA-2048 recipient), best of %d rounds of "
           "%.1f s, wall clock:\n", b.doc_len, ROUNDS, ROUND_SECONDS);
    printf("  its own crypto: nsmv_verify (warm) + RSA-OAEP-SHA256 encrypt: %8.0f /s (%.0f us)\n",
           best_crypto, 1e6 / best_crypto);
    printf("  kms_service_handle(Decrypt + Recipient):                   %8.0f /s  ratio %.2f\n",
           best_service, best_service / best_crypto);
    printf("  HTTP, one keep-alive client, SigV4 checked, 1 server thread: %8.0f /s  ratio %.2f\n",
           best_http, best_http / best_crypto);

    close(b.fd);
    kms_http_stop(http);
    free(request);
    free(body);
    free(doc_b64);
    kms_response_clear(&r);
    kms_key_clear(&key);
    kms_store_close(store);
    nsmv_verifier_free(b.verifier);
    nsmca_close(ca);
    nsmsim_free(sim);
    nsmkit_buf_free(&req);
    OPENSSL_free(spki);
    EVP_PKEY_free(rsa);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
