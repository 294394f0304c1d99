/*
 * nsm-eif: read, measure, build and extract AWS Nitro Enclave images (man/nsm-eif.1).
 *
 *   nsm-eif describe [--json] FILE
 *   nsm-eif build --kernel K --cmdline S --ramdisk R [--ramdisk R]... --output FILE [...]
 *   nsm-eif extract FILE DIR
 *   nsm-eif ramdisk --output FILE [--rootfs DIR] [--env NAME=VALUE]... -- COMMAND [ARG]...
 *   nsm-eif list | corpus DIR | grade --cmd TEMPLATE [--dir DIR] [--timeout S]
 *
 * Exit status: 0 a sound image (or success), 1 a malformed image, 2 usage and I/O errors.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsmkit/det_sign.h"
#include "nsmkit/eif.h"
#include "nsmkit/file.h"
#include "nsmkit/hex.h"

#include "nsm-eif.h"

#define VERSION "nsm-eif (nsmkit) 0.1.0"

static const char usage_text[] =
    "usage: nsm-eif describe [--json] FILE\n"
    "       nsm-eif build --kernel FILE --cmdline TEXT --ramdisk FILE [--ramdisk FILE]...\n"
    "                     --output FILE [--name N] [--version V] [--build-time T]\n"
    "                     [--signing-certificate PEM --private-key PEM] [--arch x86_64|aarch64]\n"
    "                     [--metadata JSON] [--build-tool T] [--build-tool-version V]\n"
    "                     [--image-os OS] [--image-kernel V]\n"
    "       nsm-eif extract FILE DIR\n"
    "       nsm-eif ramdisk --output FILE [--rootfs DIR] [--env NAME=VALUE]... -- COMMAND [ARG]...\n"
    "       nsm-eif list\n"
    "       nsm-eif corpus DIR [--signer-cert PEM --signer-key PEM]\n"
    "       nsm-eif grade --cmd 'READER ... {eif}' [--dir DIR] [--timeout S] [--accept-exit N]\n"
    "Exit status: 0 sound (or done), 1 malformed image, 2 usage or I/O error.\n";

int nsmeif_usage(void)
{
    fputs(usage_text, stderr);
    return 2;
}
#define usage nsmeif_usage

static bool help_or_version(const char *arg, int *status)
{
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        fputs(usage_text, stdout);
        *status = 0;
        return true;
    }
    return false;
}

static int report(const nsmeif_image *image, const char *path)
{
    if (image->code != NSMEIF_ERR_OK)
        fprintf(stderr, "nsm-eif: %s: %d %s: %s\n", path, image->code,
                nsmeif_code_name(image->code), image->reason.msg);
    return nsmeif_code_exit(image->code);
}

/* ---- describe ----------------------------------------------------------------------------- */

static void print_pcr(const char *name, const uint8_t *pcr)
{
    char hex[2 * NSMEIF_PCR_LEN + 1];
    nsmkit_hex_encode(pcr, NSMEIF_PCR_LEN, hex);
    printf("%-5s %s\n", name, hex);
}

static void describe_text(const nsmeif_image *im)
{
    printf("EIF version %u, flags 0x%04x (%s), default memory %llu bytes, %llu CPUs, "
           "%u sections, %llu bytes\n", im->version, im->flags,
           im->flags & NSMEIF_FLAG_AARCH64 ? "aarch64" : "x86_64",
           (unsigned long long)im->default_mem, (unsigned long long)im->default_cpus,
           im->num_sections, (unsigned long long)im->file_size);
    for (unsigned i = 0; i < im->num_sections && im->sections[i].offset; i++)
        printf("  section %2u  %-9s offset %-12llu size %llu\n", i,
               nsmeif_section_type_name(im->sections[i].type),
               (unsigned long long)im->sections[i].offset,
               (unsigned long long)im->sections[i].size);
    if (!im->walked)
        return;
    printf("CRC-32 %08x (%s)\n", im->crc, im->crc_ok ? "matches the header" : "header differs");
    print_pcr("PCR0", im->pcr0);
    print_pcr("PCR1", im->pcr1);
    print_pcr("PCR2", im->pcr2);
    if (im->is_signed && im->cert_ok)
        print_pcr("PCR8", im->pcr8);
    printf("signed: %s\n", !im->is_signed           ? "no"
                           : im->signature_ok       ? "yes, the signature signs this image's PCR0"
                           : im->signature_checked  ? "yes, but the signature does not hold"
                                                    : "yes, but the signature cannot be read");
    if (im->cmdline)
        printf("cmdline: %s\n", im->cmdline);
}

static int cmd_describe(int argc, char **argv)
{
    bool json = false;
    const char *path = NULL;
    int status;
    for (int i = 2; i < argc; i++) {
        if (help_or_version(argv[i], &status))
            return status;
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            return usage();
    }
    if (!path)
        return usage();
    nsmeif_image image;
    (void)nsmeif_read(path, &image, NULL, NULL);
    if (json) {
        char *text = nsmeif_describe_json(&image);
        if (text)
            fputs(text, stdout);
        free(text);
    } else {
        describe_text(&image);
        printf("verdict: %s\n", image.code == NSMEIF_ERR_OK ? "sound" : nsmeif_code_name(image.code));
    }
    status = report(&image, path);
    nsmeif_image_free(&image);
    return status;
}

/* ---- build --------------------------------------------------------------------------------- */

static int parse_build(int argc, char **argv, nsmeif_build_options *o, const char **ramdisks)
{
    static const struct {
        const char *flag, *alias;
        size_t field;
    } strings[] = {
        {"--kernel", NULL, offsetof(nsmeif_build_options, kernel)},
        {"--cmdline", NULL, offsetof(nsmeif_build_options, cmdline)},
        {"--output", NULL, offsetof(nsmeif_build_options, output)},
        {"--name", "--image-name", offsetof(nsmeif_build_options, image_name)},
        {"--version", "--image-version", offsetof(nsmeif_build_options, image_version)},
        {"--build-time", NULL, offsetof(nsmeif_build_options, build_time)},
        {"--build-tool", NULL, offsetof(nsmeif_build_options, build_tool)},
        {"--build-tool-version", NULL, offsetof(nsmeif_build_options, build_tool_version)},
        {"--image-os", NULL, offsetof(nsmeif_build_options, image_os)},
        {"--image-kernel", NULL, offsetof(nsmeif_build_options, image_kernel)},
        {"--metadata", NULL, offsetof(nsmeif_build_options, custom_metadata)},
        {"--signing-certificate", NULL, offsetof(nsmeif_build_options, signing_certificate)},
        {"--private-key", NULL, offsetof(nsmeif_build_options, private_key)},
    };
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc) /* every build flag takes a value */
            return usage();
        const char *flag = argv[i], *value = argv[++i];
        bool done = false;
        for (size_t k = 0; !done && k < sizeof(strings) / sizeof(strings[0]); k++)
            if (strcmp(flag, strings[k].flag) == 0 ||
                (strings[k].alias && strcmp(flag, strings[k].alias) == 0)) {
                *(const char **)((char *)o + strings[k].field) = value;
                done = true;
            }
        if (done)
            continue;
        if (strcmp(flag, "--ramdisk") == 0 && o->ramdisk_count < NSMEIF_MAX_SECTIONS)
            ramdisks[o->ramdisk_count++] = value;
        else if (strcmp(flag, "--arch") == 0 &&
                 (strcmp(value, "x86_64") == 0 || strcmp(value, "aarch64") == 0))
            o->aarch64 = strcmp(value, "aarch64") == 0;
        else
            return usage();
    }
    return 0;
}

static int cmd_build(int argc, char **argv)
{
    const char *ramdisks[NSMEIF_MAX_SECTIONS];
    nsmeif_build_options o = {.ramdisks = ramdisks, .nonce = &nsmkit_rfc6979_nonce};
    int status;
    if (argc == 3 && help_or_version(argv[2], &status))
        return status;
    if (argc == 3 && strcmp(argv[2], "--version") == 0) { /* (--version V names the image's) */
        puts(VERSION);
        return 0;
    }
    if (parse_build(argc, argv, &o, ramdisks) != 0)
        return 2;
    nsmeif_image image;
    nsmkit_error e;
    nsmeif_code code = nsmeif_build(&o, &image, &e);
    if (code != NSMEIF_ERR_OK) {
        fprintf(stderr, "nsm-eif build: %d %s: %s\n", code, nsmeif_code_name(code), e.msg);
        nsmeif_image_free(&image);
        return 2;
    }
    char *m = nsmeif_measurements_json(&image);
    fprintf(stderr, "Output file: %s\n", o.output);
    if (m) /* nitro-cli build-enclave's shape, which nsm-sim --measurements reads */
        fputs(m, stdout);
    free(m);
    nsmeif_image_free(&image);
    return m ? 0 : 2;
}

/* ---- extract -------------------------------------------------------------------------------- */

typedef struct {
    const char *dir;
    int fds[NSMEIF_MAX_SECTIONS];
    char names[NSMEIF_MAX_SECTIONS][64];
    unsigned ramdisk;
} extract_ctx;

static int extract_data(void *ctx_ptr, unsigned index, const nsmeif_section *s,
                        const uint8_t *data, size_t len)
{
    extract_ctx *x = ctx_ptr;
    if (x->fds[index] < 0) {
        const char *name = s->type == NSMEIF_SECTION_KERNEL      ? "kernel"
                           : s->type == NSMEIF_SECTION_CMDLINE   ? "cmdline"
                           : s->type == NSMEIF_SECTION_METADATA  ? "metadata.json"
                           : s->type == NSMEIF_SECTION_SIGNATURE ? "signature.cbor"
                                                                 : NULL;
        if (name)
            snprintf(x->names[index], sizeof(x->names[index]), "%s", name);
        else
            snprintf(x->names[index], sizeof(x->names[index]), "ramdisk%u", x->ramdisk++);
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", x->dir, x->names[index]);
        x->fds[index] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (x->fds[index] < 0) {
            fprintf(stderr, "nsm-eif extract: %s: %s\n", path, strerror(errno));
            return -1;
        }
    }
    while (len > 0) {
        ssize_t n = write(x->fds[index], data, len);
        if (n <= 0) {
            fprintf(stderr, "nsm-eif extract: %s: %s\n", x->names[index], strerror(errno));
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int cmd_extract(int argc, char **argv)
{
    int status;
    if (argc == 3 && help_or_version(argv[2], &status))
        return status;
    if (argc != 4)
        return usage();
    nsmkit_error e;
    if (nsmkit_mkdir_p(argv[3], 0755, &e) != 0) {
        fprintf(stderr, "nsm-eif extract: %s\n", e.msg);
        return 2;
    }
    extract_ctx x = {.dir = argv[3]};
    for (unsigned i = 0; i < NSMEIF_MAX_SECTIONS; i++)
        x.fds[i] = -1;
    nsmeif_image image;
    (void)nsmeif_read(argv[2], &image, extract_data, &x);
    for (unsigned i = 0; i < NSMEIF_MAX_SECTIONS; i++) {
        if (x.fds[i] >= 0 && close(x.fds[i]) != 0 && image.code == NSMEIF_ERR_OK)
            image.code = NSMEIF_ERR_IO;
        if (x.fds[i] >= 0 && image.code != NSMEIF_ERR_OK) { /* nothing of a bad image stays */
            char path[4200];
            snprintf(path, sizeof(path), "%s/%s", x.dir, x.names[i]);
            unlink(path);
        } else if (x.fds[i] >= 0) {
            printf("%s\n", x.names[i]);
        }
    }
    status = report(&image, argv[2]);
    nsmeif_image_free(&image);
    return status;
}

/* ---- ramdisk -------------------------------------------------------------------------------- */

static int cmd_ramdisk(int argc, char **argv)
{
    const char *output = NULL, *rootfs = NULL;
    const char **env = calloc((size_t)argc, sizeof(*env));
    size_t envc = 0;
    int i = 2, status = 2;
    if (!env)
        return 2;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (help_or_version(argv[i], &status))
            break;
        if (i + 1 >= argc)
            break;
        if (strcmp(argv[i], "--output") == 0 || strcmp(argv[i], "-o") == 0)
            output = argv[++i];
        else if (strcmp(argv[i], "--rootfs") == 0)
            rootfs = argv[++i];
        else if (strcmp(argv[i], "--env") == 0 && strchr(argv[i + 1], '='))
            env[envc++] = argv[++i];
        else
            break;
    }
    if (status == 0 || i + 1 >= argc || strcmp(argv[i], "--") != 0 || !output) {
        free(env);
        return status == 0 ? 0 : usage();
    }
    nsmkit_error e;
    if (nsmeif_ramdisk_write(output, rootfs, (const char *const *)argv + i + 1,
                             (size_t)(argc - i - 1), env, envc, &e) != 0) {
        fprintf(stderr, "nsm-eif ramdisk: %s\n", e.msg);
        status = 2;
    } else {
        status = 0;
    }
    free(env);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    int status;
    if (help_or_version(argv[1], &status))
        return status;
    if (strcmp(argv[1], "--version") == 0) {
        puts(VERSION);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[2], "--version") == 0 && strcmp(argv[1], "build") != 0) {
        puts(VERSION);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {{"describe", cmd_describe}, {"build", cmd_build}, {"extract", cmd_extract},
                    {"ramdisk", cmd_ramdisk}, {"list", nsmeif_cmd_list},
                    {"corpus", nsmeif_cmd_corpus}, {"grade", nsmeif_cmd_grade}};
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
        if (strcmp(argv[1], commands[k].name) == 0)
            return commands[k].fn(argc, argv);
    return usage();
}
