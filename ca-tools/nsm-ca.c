/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-ca: create and inspect the simulated Nitro PKI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "nsmkit/ca.h"
#include "nsmkit/error.h"
#include "nsmkit/hex.h"
#include "nsmkit/opts.h"

static const char top_about[] =
    "init  creates a P-384 root and N (1..3, default 3) AWS-shaped intermediate tiers\n"
    "      (regional, zonal, instance) in DIR; DIR/root.pem is the root to pin in tests.\n"
    "      --time makes a PKI whose life starts at that time (for documents in the past).\n"
    "show  prints each certificate's subject, validity, serial and SHA-256 fingerprint.\n"
    "      Intermediates found missing or inconsistent are re-issued from the root first.\n"
    "\n"
    "The PKI is a simulation (O=NSM Simulator, OU=NOT AWS): never trust it outside tests.\n"
    "Each command answers --help.";

static const nsmkit_cli top_cli = {
    "nsm-ca", "init DIR [--region R] [--intermediates N] [--time UNIX_S]\nshow DIR", top_about,
    NULL, 0, true, NULL};

/* "nsm-ca: NAME (number): details", the name first so that scripts can match it. */
static int fail(nsmca_code code, const nsmkit_error *e)
{
    const char *name = nsmca_code_name(code);
    fprintf(stderr, "nsm-ca: %s (%d): %s\n", name ? name : "UNKNOWN", (int)code, e->msg);
    return 1;
}

static int usage(const nsmkit_cli *cli, const char *problem)
{
    fprintf(stderr, "%s: %s\n", cli->program, problem);
    nsmkit_opts_usage(cli, stderr);
    return 2;
}

/* Parses a subcommand's options and its one DIR; returns -1 to go on, or the exit status
 * (0 after --help or --version). */
static int parse_dir(const nsmkit_cli *cli, int argc, char **argv, void *ctx, const char **dir)
{
    nsmkit_error e;
    int n = argc;
    int r = nsmkit_opts_parse(cli, &n, argv, ctx, &e);
    if (r == NSMKIT_OPTS_DONE)
        return 0;
    if (r != NSMKIT_OPTS_RUN)
        return usage(cli, e.msg);
    if (n != 1) {
        char problem[64];
        snprintf(problem, sizeof(problem), "%s %s", cli->program + strlen("nsm-ca "),
                 n == 0 ? "needs a DIR" : "takes one DIR");
        return usage(cli, problem);
    }
    *dir = argv[0];
    return -1;
}

static int set_region(void *ctx, const char *value, nsmkit_error *e)
{
    (void)e;
    ((nsmca_init_options *)ctx)->region = value;
    return 0;
}

static int set_intermediates(void *ctx, const char *value, nsmkit_error *e)
{
    uint64_t n;
    if (!nsmkit_parse_u64(value, &n) || n < 1 || n > NSMCA_MAX_TIERS)
        return nsmkit_fail(e, "--intermediates must be 1, 2 or 3, not '%s'", value);
    ((nsmca_init_options *)ctx)->intermediates = (unsigned)n;
    return 0;
}

static int set_time(void *ctx, const char *value, nsmkit_error *e)
{
    uint64_t ms;
    if (!nsmkit_parse_unix_time(value, &ms) || ms < 1000 || ms / 1000 > UINT32_MAX)
        return nsmkit_fail(e, "--time must be Unix seconds (a fraction allowed), not '%s'", value);
    ((nsmca_init_options *)ctx)->now_s = ms / 1000;
    return 0;
}

static const nsmkit_opt init_rows[] = {
    NSMKIT_OPT_CALL("--region", "R", set_region, "the AWS-shaped region (default us-east-1)"),
    NSMKIT_OPT_CALL("--intermediates", "N", set_intermediates,
                    "intermediate tiers, 1..3 (default 3)"),
    NSMKIT_OPT_CALL("--time", "UNIX_S", set_time,
                    "the PKI's life starts then (Unix seconds, a fraction allowed)"),
};
static const nsmkit_opt_group init_groups[] = {{NULL, init_rows, NSMKIT_ROWS(init_rows)}};
static const nsmkit_cli init_cli = {
    "nsm-ca init", "DIR [--region R] [--intermediates N] [--time UNIX_S]",
    "Creates a P-384 root and N AWS-shaped intermediate tiers (regional, zonal, instance)\n"
    "in DIR; DIR/root.pem is the root to pin in tests.",
    init_groups, 1, false, NULL};

static int cmd_init(int argc, char **argv)
{
    nsmca_init_options options = {0};
    const char *dir = NULL;
    int parsed = parse_dir(&init_cli, argc, argv, &options, &dir);
    if (parsed >= 0)
        return parsed;
    nsmkit_error e;
    nsmca_code code = nsmca_init(dir, &options, &e);
    if (code != NSMCA_OK)
        return fail(code, &e);
    printf("created a simulated Nitro PKI in %s (root: %s/root.pem)\n", dir, dir);
    return 0;
}

static void print_time(const char *label, const ASN1_TIME *t)
{
    struct tm tm;
    char text[64] = "?";
    if (ASN1_TIME_to_tm(t, &tm))
        strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("    %s %s\n", label, text);
}

static void print_cert(const char *label, const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    printf("%s\n", label);
    if (!cert) {
        printf("    (undecodable)\n");
        return;
    }
    char *subject = X509_NAME_oneline(X509_get_subject_name(cert), NULL, 0);
    printf("    subject  %s\n", subject ? subject : "?");
    OPENSSL_free(subject);
    print_time("notBefore", X509_get0_notBefore(cert));
    print_time("notAfter ", X509_get0_notAfter(cert));
    const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
    char hex[2 * 64 + 1] = "";
    if (serial->length > 0 && serial->length <= 64)
        nsmkit_hex_encode(serial->data, (size_t)serial->length, hex);
    printf("    serial   %s\n", hex);
    unsigned char digest[32];
    unsigned int dlen = 0;
    char fp[65] = "";
    if (EVP_Digest(der, len, digest, &dlen, EVP_sha256(), NULL) && dlen == 32)
        nsmkit_hex_encode(digest, 32, fp);
    printf("    sha256   %s\n", fp);
    X509_free(cert);
}

static const nsmkit_cli show_cli = {
    "nsm-ca show", "DIR",
    "Prints each certificate's subject, validity, serial and SHA-256 fingerprint.\n"
    "Intermediates found missing or inconsistent are re-issued from the root first.",
    NULL, 0, false, NULL};

static int cmd_show(int argc, char **argv)
{
    const char *dir = NULL;
    int parsed = parse_dir(&show_cli, argc, argv, NULL, &dir);
    if (parsed >= 0)
        return parsed;
    nsmca_pki *pki;
    nsmkit_error e;
    nsmca_code code = nsmca_open(dir, &pki, &e);
    if (code != NSMCA_OK)
        return fail(code, &e);
    if (nsmca_repaired(pki))
        fprintf(stderr, "nsm-ca: note: %s\n", nsmca_repaired(pki));
    static const char *const labels[] = {"root", "regional", "zonal", "instance"};
    printf("simulated Nitro PKI in %s: region %s, %u intermediate tier(s), instance %s\n",
           dir, nsmca_region(pki), nsmca_tier_count(pki), nsmca_instance_id(pki));
    for (unsigned i = 0; i < nsmca_cert_count(pki); i++) {
        size_t len;
        const uint8_t *der = nsmca_cert_der(pki, i, &len);
        print_cert(labels[i], der, len);
    }
    nsmca_close(pki);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(&top_cli, "missing command");
    if (strcmp(argv[1], "init") == 0)
        return cmd_init(argc - 2, argv + 2);
    if (strcmp(argv[1], "show") == 0)
        return cmd_show(argc - 2, argv + 2);
    int n = argc - 1;
    nsmkit_error e;
    int r = nsmkit_opts_parse(&top_cli, &n, argv + 1, NULL, &e);
    if (r == NSMKIT_OPTS_DONE)
        return 0;
    return usage(&top_cli, r == NSMKIT_OPTS_RUN ? "unknown command" : e.msg);
}
