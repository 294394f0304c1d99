/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-nitro-cli: the command dispatcher, nitro-cli's error output, and the two commands
 * that only read files: describe-eif and pcr.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "nsmkit/eif.h"
#include "nsmkit/file.h"
#include "nsmkit/hex.h"

#include "nitro_cli.h"

/* ---- describe-eif ---------------------------------------------------------------------------- */

int nitrocli_cmd_describe_eif(int argc, char **argv)
{
    nsmkit_error e = {{0}};
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("usage: nsm-nitro-cli describe-eif --eif-path FILE\n"
             "Prints nitro-cli's describe-eif JSON for the image (nsm-eif describe --json).");
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "--eif-path") != 0) {
        nsmkit_fail(&e, "usage: describe-eif --eif-path FILE");
        return nitrocli_report("describe-eif", NITROCLI_ERR_USAGE, &e);
    }
    nsmeif_image image;
    nsmeif_code code = nsmeif_read(argv[2], &image, NULL, NULL);
    char *json = code == NSMEIF_ERR_OK ? nsmeif_describe_json(&image) : NULL;
    if (code != NSMEIF_ERR_OK || json == NULL) {
        nsmkit_fail(&e, "%s: %d %s: %s", argv[2], (int)code, nsmeif_code_name(code),
                    image.reason.msg);
        nsmeif_image_free(&image);
        return nitrocli_report("describe-eif", code == NSMEIF_ERR_IO ? NITROCLI_ERR_IO
                                                                    : NITROCLI_ERR_EIF_INVALID,
                               &e);
    }
    fputs(json, stdout);
    free(json);
    nsmeif_image_free(&image);
    return 0;
}

/* ---- pcr ------------------------------------------------------------------------------------------ */

/* The certificate's DER (what PCR8 measures), from a PEM file. */
static nitrocli_code cert_der(const uint8_t *pem, size_t len, uint8_t **der, size_t *der_len,
                              nsmkit_error *e)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int n = cert ? i2d_X509(cert, NULL) : -1;
    nitrocli_code code = NITROCLI_ERR_OK;
    *der = n > 0 ? malloc((size_t)n) : NULL;
    unsigned char *p = *der;
    if (*der == NULL || i2d_X509(cert, &p) != n) {
        nsmkit_fail(e, "not a PEM X.509 certificate");
        code = NITROCLI_ERR_PCR_CERT;
        free(*der);
        *der = NULL;
    }
    *der_len = n > 0 ? (size_t)n : 0;
    X509_free(cert);
    BIO_free(bio);
    return code;
}

/* SHA-384 of a file's bytes, read in pieces (an input may be a whole image). */
static nitrocli_code file_digest(const char *path, uint8_t digest[NSMEIF_PCR_LEN],
                                 nsmkit_error *e)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return nsmkit_fail(e, "%s: %s", path, strerror(errno)), NITROCLI_ERR_IO;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha384(), NULL) == 1;
    unsigned char buf[65536];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        ok = EVP_DigestUpdate(ctx, buf, n) == 1;
    unsigned len = 0;
    if (ferror(f))
        ok = 0, nsmkit_fail(e, "%s: read error", path);
    else if (ok && EVP_DigestFinal_ex(ctx, digest, &len) != 1)
        ok = 0, nsmkit_fail(e, "SHA-384 failed");
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return ok ? NITROCLI_ERR_OK : NITROCLI_ERR_IO;
}

int nitrocli_cmd_pcr(int argc, char **argv)
{
    nsmkit_error e = {{0}};
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("usage: nsm-nitro-cli pcr (--input FILE | --signing-certificate PEM)\n"
             "Prints {\"PCR\": hex}, the PCR of the file's bytes (SHA-384 of 48 zero bytes and\n"
             "the file's SHA-384), or {\"PCR8\": hex} for a signing certificate (its DER).");
        return 0;
    }
    bool cert = argc == 3 && strcmp(argv[1], "--signing-certificate") == 0;
    if (argc != 3 || (!cert && strcmp(argv[1], "--input") != 0)) {
        nsmkit_fail(&e, "give exactly one of --input FILE and --signing-certificate PEM");
        return nitrocli_report("pcr", NITROCLI_ERR_USAGE, &e);
    }
    uint8_t digest[NSMEIF_PCR_LEN], pcr[NSMEIF_PCR_LEN];
    nitrocli_code code = NITROCLI_ERR_OK;
    if (cert) {
        uint8_t *pem = NULL, *der = NULL;
        size_t len = 0, der_len = 0;
        unsigned digest_len = 0;
        if (nsmkit_file_read(argv[2], 1024 * 1024, &pem, &len, &e) != 0)
            return nitrocli_report("pcr", NITROCLI_ERR_IO, &e);
        code = cert_der(pem, len, &der, &der_len, &e);
        if (code == NITROCLI_ERR_OK &&
            EVP_Digest(der, der_len, digest, &digest_len, EVP_sha384(), NULL) != 1)
            code = NITROCLI_ERR_IO, nsmkit_fail(&e, "SHA-384 failed");
        free(pem);
        free(der);
    } else {
        code = file_digest(argv[2], digest, &e);
    }
    if (code == NITROCLI_ERR_OK && nsmeif_pcr_extend(digest, pcr) != 0)
        code = NITROCLI_ERR_IO, nsmkit_fail(&e, "SHA-384 failed");
    if (code != NITROCLI_ERR_OK)
        return nitrocli_report("pcr", code, &e);
    char hex[2 * NSMEIF_PCR_LEN + 1];
    nsmkit_hex_encode(pcr, sizeof(pcr), hex);
    printf("{\n  \"%s\": \"%s\"\n}\n", cert ? "PCR8" : "PCR", hex);
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static const char usage[] =
    "Nitro CLI (nsmkit's nsm-nitro-cli " NSMKIT_NITRO_CLI_VERSION ")\n"
    "nitro-cli's commands, flags and JSON output, with enclaves run as QEMU guests by\n"
    "nsm-qemu run-eif (simulated NSM, emulated vsock; no Nitro hardware, no Docker).\n\n"
    "usage: nsm-nitro-cli COMMAND [FLAGS]   (COMMAND --help for each)\n"
    "  build-enclave      build an EIF from a root filesystem or a docker-save/OCI tarball\n"
    "  describe-eif       --eif-path FILE: the image's measurements and metadata\n"
    "  pcr                --input FILE | --signing-certificate PEM\n"
    "  run-enclave        start an enclave in the background, print its JSON\n"
    "  describe-enclaves  the running enclaves\n"
    "  console            --enclave-id ID: stream a debug-mode enclave's console\n"
    "  terminate-enclave  --enclave-id ID | --all\n";

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {
        {"build-enclave", nitrocli_cmd_build},
        {"describe-eif", nitrocli_cmd_describe_eif},
        {"pcr", nitrocli_cmd_pcr},
        {"run-enclave", nitrocli_cmd_run},
        {"describe-enclaves", nitrocli_cmd_describe_enclaves},
        {"console", nitrocli_cmd_console},
        {"terminate-enclave", nitrocli_cmd_terminate},
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        puts("Nitro CLI " NSMKIT_NITRO_CLI_VERSION " (nsmkit nsm-nitro-cli)");
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (argc == 3 && strcmp(argv[2], "--version") == 0) {
            puts("Nitro CLI " NSMKIT_NITRO_CLI_VERSION " (nsmkit nsm-nitro-cli)");
            return 0;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "nsm-nitro-cli: unknown command %s\n%s", argv[1], usage);
    return 2;
}
