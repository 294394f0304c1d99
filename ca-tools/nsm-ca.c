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

static const char usage_text[] =
    "usage: nsm-ca init DIR [--region R] [--intermediates N] [--time UNIX_S]\n"
    "       nsm-ca show DIR\n"
    "\n"
    "init  creates a P-384 root and N (1..3, default 3) AWS-shaped intermediate tiers\n"
    "      (regional, zonal, instance) in DIR; DIR/root.pem is the root to pin in tests.\n"
    "      --time makes a PKI whose life starts at that time (for documents in the past).\n"
    "show  prints each certificate's subject, validity, serial and SHA-256 fingerprint.\n"
    "      Intermediates found missing or inconsistent are re-issued from the root first.\n"
    "\n"
    "The PKI is a simulation (O=NSM Simulator, OU=NOT AWS): never trust it outside tests.\n";

/* "nsm-ca: NAME (number): details", the name first so that scripts can match it. */
static int fail(nsmca_code code, const nsmkit_error *e)
{
    const char *name = nsmca_code_name(code);
    fprintf(stderr, "nsm-ca: %s (%d): %s\n", name ? name : "UNKNOWN", (int)code, e->msg);
    return 1;
}

static int usage(const char *problem)
{
    if (problem)
        fprintf(stderr, "nsm-ca: %s\n", problem);
    fputs(usage_text, problem ? stderr : stdout);
    return 2;
}

static int cmd_init(int argc, char **argv)
{
    nsmca_init_options options = {0};
    const char *dir = NULL;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        uint64_t number;
        if (strcmp(arg, "--region") == 0 && i + 1 < argc) {
            options.region = argv[++i];
        } else if (strcmp(arg, "--intermediates") == 0 && i + 1 < argc) {
            if (!nsmkit_parse_u64(argv[++i], &number) || number < 1 || number > NSMCA_MAX_TIERS) {
                fprintf(stderr, "nsm-ca: --intermediates must be 1, 2 or 3, not '%s'\n", argv[i]);
                return 2;
            }
            options.intermediates = (unsigned)number;
        } else if (strcmp(arg, "--time") == 0 && i + 1 < argc) {
            if (!nsmkit_parse_u64(argv[++i], &number) || number == 0 || number > UINT32_MAX) {
                fprintf(stderr, "nsm-ca: --time must be Unix seconds, not '%s'\n", argv[i]);
                return 2;
            }
            options.now_s = number;
        } else if (arg[0] == '-') {
            return usage("unknown option or missing value");
        } else if (!dir) {
            dir = arg;
        } else {
            return usage("more than one DIR");
        }
    }
    if (!dir)
        return usage("init needs a DIR");
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

static int cmd_show(int argc, char **argv)
{
    if (argc != 1)
        return usage("show needs exactly one DIR");
    nsmca_pki *pki;
    nsmkit_error e;
    nsmca_code code = nsmca_open(argv[0], &pki, &e);
    if (code != NSMCA_OK)
        return fail(code, &e);
    if (nsmca_repaired(pki))
        fprintf(stderr, "nsm-ca: note: %s\n", nsmca_repaired(pki));
    static const char *const labels[] = {"root", "regional", "zonal", "instance"};
    printf("simulated Nitro PKI in %s: region %s, %u intermediate tier(s), instance %s\n",
           argv[0], nsmca_region(pki), nsmca_tier_count(pki), nsmca_instance_id(pki));
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
        return usage("missing command");
    if (strcmp(argv[1], "init") == 0)
        return cmd_init(argc - 2, argv + 2);
    if (strcmp(argv[1], "show") == 0)
        return cmd_show(argc - 2, argv + 2);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(NULL);
        return 0;
    }
    return usage("unknown command");
}
