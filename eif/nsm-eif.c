/* SPDX-License-Identifier: Apache-2.0 */
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

static const nsmkit_cli top_cli = {
    "nsm-eif",
    "describe [--json] FILE\n"
    "build --kernel FILE --cmdline TEXT --ramdisk FILE [--ramdisk FILE]...\n"
    "      --output FILE [--name N] [--version V] [--build-time T]\n"
    "      [--signing-certificate PEM --private-key PEM] [--arch x86_64|aarch64]\n"
    "      [--metadata JSON] [--build-tool T] [--build-tool-version V]\n"
    "      [--image-os OS] [--image-kernel V]\n"
    "extract FILE DIR\n"
    "ramdisk --output FILE [--rootfs DIR] [--env NAME=VALUE]... -- COMMAND [ARG]...\n"
    "list\n"
    "corpus DIR [--signer-cert PEM --signer-key PEM]\n"
    "grade --cmd 'READER ... {eif}' [--dir DIR] [--timeout S] [--accept-exit N]",
    "Exit status: 0 sound (or done), 1 malformed image, 2 usage or I/O error.\n"
    "Each command answers --help.",
    NULL, 0, true, NULL};

int nsmeif_usage(void)
{
    nsmkit_opts_usage(&top_cli, stderr);
    return 2;
}

int nsmeif_cli_usage(const nsmkit_cli *cli, const char *problem)
{
    fprintf(stderr, "%s: %s\n", cli->program, problem);
    nsmkit_opts_usage(cli, stderr);
    return 2;
}

int nsmeif_parse(const nsmkit_cli *cli, int *argc, char **argv, void *ctx)
{
    nsmkit_error e;
    int r = nsmkit_opts_parse(cli, argc, argv, ctx, &e);
    if (r == NSMKIT_OPTS_RUN)
        return -1;
    if (r == NSMKIT_OPTS_DONE)
        return 0;
    return nsmeif_cli_usage(cli, e.msg);
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

typedef struct {
    bool json;
} describe_args;

static const nsmkit_opt describe_rows[] = {
    NSMKIT_OPT_FLAG("--json", describe_args, json,
                    "nitro-cli describe-eif's JSON instead of the text"),
};
static const nsmkit_opt_group describe_groups[] = {
    {NULL, describe_rows, NSMKIT_ROWS(describe_rows)}};
static const nsmkit_cli describe_cli = {
    "nsm-eif describe", "[--json] FILE",
    "Reads an image: its sections, CRC, PCRs and signature, and a verdict.\n"
    "Exit status: 0 sound, 1 malformed, 2 usage or I/O error.",
    describe_groups, 1, false, NULL};

static int cmd_describe(int argc, char **argv)
{
    describe_args args = {0};
    int status = nsmeif_parse(&describe_cli, &argc, argv, &args);
    if (status >= 0)
        return status;
    if (argc != 1)
        return nsmeif_cli_usage(&describe_cli, argc == 0 ? "needs a FILE" : "takes one FILE");
    const char *path = argv[0];
    bool json = args.json;
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

typedef struct {
    nsmeif_build_options o;
    const char *ramdisks[NSMEIF_MAX_SECTIONS];
} build_args;

static int set_ramdisk(void *ctx, const char *value, nsmkit_error *e)
{
    build_args *b = ctx;
    if (b->o.ramdisk_count >= NSMEIF_MAX_SECTIONS)
        return nsmkit_fail(e, "at most %d ramdisks", NSMEIF_MAX_SECTIONS);
    b->ramdisks[b->o.ramdisk_count++] = value;
    return 0;
}

static int set_arch(void *ctx, const char *value, nsmkit_error *e)
{
    if (strcmp(value, "x86_64") != 0 && strcmp(value, "aarch64") != 0)
        return nsmkit_fail(e, "--arch is x86_64 or aarch64, not '%s'", value);
    ((build_args *)ctx)->o.aarch64 = strcmp(value, "aarch64") == 0;
    return 0;
}

#define BUILD_STRING(name, arg, field, help) NSMKIT_OPT_STRING(name, arg, build_args, o.field, help)
static const nsmkit_opt build_rows[] = {
    BUILD_STRING("--kernel", "FILE", kernel, "the kernel image (bzImage, Image)"),
    BUILD_STRING("--cmdline", "TEXT", cmdline, "the kernel command line"),
    NSMKIT_OPT_CALL("--ramdisk", "FILE", set_ramdisk,
                    "a ramdisk, in boot order (repeat; the first is the bootstrap one)"),
    BUILD_STRING("--output", "FILE", output, "the image to write"),
    BUILD_STRING("--name", "N", image_name, "the image's name in the metadata"),
    BUILD_STRING("--image-name", "N", image_name, "the same as --name"),
    BUILD_STRING("--version", "V", image_version,
                 "the image's version in the metadata (alone: nsm-eif's version)"),
    BUILD_STRING("--image-version", "V", image_version, "the same as --version V"),
    BUILD_STRING("--build-time", "T", build_time, "the metadata's build time"),
    BUILD_STRING("--build-tool", "T", build_tool, "the metadata's build tool"),
    BUILD_STRING("--build-tool-version", "V", build_tool_version,
                 "the metadata's build tool version"),
    BUILD_STRING("--image-os", "OS", image_os, "the metadata's operating system"),
    BUILD_STRING("--image-kernel", "V", image_kernel, "the metadata's kernel version"),
    BUILD_STRING("--metadata", "JSON", custom_metadata, "custom metadata (a JSON object)"),
    BUILD_STRING("--signing-certificate", "PEM", signing_certificate,
                 "sign the image: the signer's certificate"),
    BUILD_STRING("--private-key", "PEM", private_key, "sign the image: the signer's P-384 key"),
    NSMKIT_OPT_CALL("--arch", "x86_64|aarch64", set_arch, "the image's architecture"),
};
static const nsmkit_opt_group build_groups[] = {{NULL, build_rows, NSMKIT_ROWS(build_rows)}};
static const nsmkit_cli build_cli = {
    "nsm-eif build",
    "--kernel FILE --cmdline TEXT --ramdisk FILE [--ramdisk FILE]...\n"
    "--output FILE [--name N] [--version V] [--build-time T]\n"
    "[--signing-certificate PEM --private-key PEM] [--arch x86_64|aarch64]\n"
    "[--metadata JSON] [--build-tool T] [--build-tool-version V]\n"
    "[--image-os OS] [--image-kernel V]",
    "Builds an image as nitro-cli build-enclave does and prints its measurements (JSON).",
    build_groups, 1, false, NULL};

static int cmd_build(int argc, char **argv)
{
    build_args b = {.o = {.nonce = &nsmkit_rfc6979_nonce}};
    b.o.ramdisks = b.ramdisks;
    if (argc == 1 && strcmp(argv[0], "--version") == 0) { /* (--version V names the image's) */
        nsmkit_opts_version(build_cli.program, stdout);
        return 0;
    }
    int status = nsmeif_parse(&build_cli, &argc, argv, &b);
    if (status >= 0)
        return status;
    if (argc != 0)
        return nsmeif_cli_usage(&build_cli, "takes no operands");
    nsmeif_build_options o = b.o;
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

static const nsmkit_cli extract_cli = {
    "nsm-eif extract", "FILE DIR",
    "Writes each section of FILE into DIR (kernel, cmdline, ramdiskN, metadata.json,\n"
    "signature.cbor); nothing of a malformed image stays.",
    NULL, 0, false, NULL};

static int cmd_extract(int argc, char **argv)
{
    int status = nsmeif_parse(&extract_cli, &argc, argv, NULL);
    if (status >= 0)
        return status;
    if (argc != 2)
        return nsmeif_cli_usage(&extract_cli, "takes a FILE and a DIR");
    nsmkit_error e;
    if (nsmkit_mkdir_p(argv[1], 0755, &e) != 0) {
        fprintf(stderr, "nsm-eif extract: %s\n", e.msg);
        return 2;
    }
    extract_ctx x = {.dir = argv[1]};
    for (unsigned i = 0; i < NSMEIF_MAX_SECTIONS; i++)
        x.fds[i] = -1;
    nsmeif_image image;
    (void)nsmeif_read(argv[0], &image, extract_data, &x);
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
    status = report(&image, argv[0]);
    nsmeif_image_free(&image);
    return status;
}

/* ---- ramdisk -------------------------------------------------------------------------------- */

typedef struct {
    const char *output, *rootfs;
    const char **env;
    size_t envc;
} ramdisk_args;

static int set_env(void *ctx, const char *value, nsmkit_error *e)
{
    ramdisk_args *r = ctx;
    if (!strchr(value, '='))
        return nsmkit_fail(e, "--env is NAME=VALUE, not '%s'", value);
    r->env[r->envc++] = value; /* env has a slot per argument */
    return 0;
}

static const nsmkit_opt ramdisk_rows[] = {
    NSMKIT_OPT_STRING("--output", "FILE", ramdisk_args, output, "the cpio archive to write"),
    NSMKIT_OPT_STRING("-o", "FILE", ramdisk_args, output, "the same as --output"),
    NSMKIT_OPT_STRING("--rootfs", "DIR", ramdisk_args, rootfs, "a tree to put under /rootfs"),
    NSMKIT_OPT_CALL("--env", "NAME=VALUE", set_env, "a line of /env (repeat)"),
};
static const nsmkit_opt_group ramdisk_groups[] = {
    {NULL, ramdisk_rows, NSMKIT_ROWS(ramdisk_rows)}};
static const nsmkit_cli ramdisk_cli = {
    "nsm-eif ramdisk", "--output FILE [--rootfs DIR] [--env NAME=VALUE]... -- COMMAND [ARG]...",
    "Writes the application ramdisk (newc cpio: /cmd, /env, /rootfs) that starts COMMAND.",
    ramdisk_groups, 1, true, NULL};

/* COMMAND must follow a "--": the argument before the first operand. */
static bool command_after_dashes(char *const *before, int argc, int operands)
{
    return operands > 0 && argc - operands >= 1 && strcmp(before[argc - operands - 1], "--") == 0;
}

static int cmd_ramdisk(int argc, char **argv)
{
    ramdisk_args r = {.env = calloc((size_t)argc + 1, sizeof(*r.env))};
    char **before = calloc((size_t)argc + 1, sizeof(*before));
    int n = argc, status = 2;
    if (r.env && before) {
        memcpy(before, argv, (size_t)argc * sizeof(*before));
        status = nsmeif_parse(&ramdisk_cli, &n, argv, &r);
    }
    if (status == -1 && (!command_after_dashes(before, argc, n) || !r.output))
        status = nsmeif_cli_usage(&ramdisk_cli, "needs --output FILE and -- COMMAND");
    nsmkit_error e;
    if (status == -1 && nsmeif_ramdisk_write(r.output, r.rootfs, (const char *const *)argv,
                                             (size_t)n, r.env, r.envc, &e) != 0) {
        fprintf(stderr, "nsm-eif ramdisk: %s\n", e.msg);
        status = 2;
    } else if (status == -1) {
        status = 0;
    }
    free(before);
    free(r.env);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return nsmeif_usage();
    if (argv[1][0] == '-') { /* --help, --version, or a usage error */
        int n = argc - 1;
        int status = nsmeif_parse(&top_cli, &n, argv + 1, NULL);
        return status >= 0 ? status : nsmeif_usage();
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {{"describe", cmd_describe}, {"build", cmd_build}, {"extract", cmd_extract},
                    {"ramdisk", cmd_ramdisk}, {"list", nsmeif_cmd_list},
                    {"corpus", nsmeif_cmd_corpus}, {"grade", nsmeif_cmd_grade}};
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
        if (strcmp(argv[1], commands[k].name) == 0)
            return commands[k].fn(argc - 2, argv + 2);
    return nsmeif_usage();
}
