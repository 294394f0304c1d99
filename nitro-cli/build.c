/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-nitro-cli build-enclave: an EIF laid out as nitro-cli lays it out, without Docker.
 *
 *   kernel    --kernel, else the project's QEMU guest kernel (build/qemu/image/vmlinuz)
 *   cmdline   --cmdline, else nitro-cli's blob cmdline's parameters that concern the guest
 *   ramdisk 0 the bootstrap ramdisk: dev/, dev/console (c 5 1), init (--init, else nsmkit's
 *             enclave init, build/qemu/guest/enclave-init), nsm.ko when --nsm-ko names one,
 *             proc/ and sys/ (the mount points make enclave-bootstrap's ramdisk has too)
 *   ramdisk 1 the application ramdisk: cmd, env, rootfs/ (nsmeif_ramdisk_write) from
 *             --rootfs DIR or --image-tar FILE (docker save / OCI), the command and
 *             environment from the image's config unless given after "--" / with --env
 *
 * Both ramdisks are byte-reproducible (all entries 0:0, mtime 0, inode numbers counted),
 * so two builds of the same inputs have the same PCR0/1/2; the metadata section, which
 * holds the build time, is not measured.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "nsmkit/det_sign.h"
#include "nsmkit/eif.h"
#include "nsmkit/file.h"
#include "nsmkit/hex.h"

#include "nitro_cli.h"

#define DEFAULT_CMDLINE "reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on"
#define MAX_ENV 4096
#define MAX_ARGS 4096
#define BLOB_MAX (64u * 1024 * 1024)

static const char build_help[] =
    "usage: nsm-nitro-cli build-enclave --output-file FILE\n"
    "           (--rootfs DIR | --image-tar FILE [--docker-uri URI]) [-- COMMAND [ARG]...]\n"
    "           [--env NAME=VALUE]... [--init FILE] [--nsm-ko FILE] [--kernel FILE]\n"
    "           [--cmdline TEXT] [--signing-certificate PEM --private-key KEY]\n"
    "           [--name NAME] [--version VERSION] [--metadata FILE] [--max-image-bytes N]\n"
    "Builds an enclave image file as nitro-cli does, without Docker: from a root filesystem\n"
    "directory, or from a `docker save` / OCI image tarball (layers applied in order,\n"
    "whiteouts honoured, hostile entries refused). Prints nitro-cli's Measurements JSON.\n"
    "--docker-uri picks the image in a tarball holding several; --docker-dir (docker build)\n"
    "is not supported. Default init: nsmkit's enclave init; default kernel: the QEMU guest\n"
    "image's (make qemu-image).\n";

typedef struct {
    const char *output, *rootfs, *image_tar, *uri, *init, *nsm_ko, *kernel, *cmdline;
    const char *cert, *key, *name, *version, *metadata;
    const char *env[MAX_ENV];
    size_t envc;
    char **argv; /* after "--" */
    size_t argc;
    uint64_t max_bytes;
} build_args;

static int parse_build(int argc, char **argv, build_args *a, nsmkit_error *e)
{
    static const struct {
        const char *flag;
        size_t field;
    } strings[] = {
        {"--output-file", offsetof(build_args, output)},
        {"--rootfs", offsetof(build_args, rootfs)},
        {"--image-tar", offsetof(build_args, image_tar)},
        {"--docker-uri", offsetof(build_args, uri)},
        {"--init", offsetof(build_args, init)},
        {"--nsm-ko", offsetof(build_args, nsm_ko)},
        {"--kernel", offsetof(build_args, kernel)},
        {"--cmdline", offsetof(build_args, cmdline)},
        {"--signing-certificate", offsetof(build_args, cert)},
        {"--private-key", offsetof(build_args, key)},
        {"--name", offsetof(build_args, name)},
        {"--version", offsetof(build_args, version)},
        {"--metadata", offsetof(build_args, metadata)},
    };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            a->argv = argv + i + 1;
            a->argc = (size_t)(argc - i - 1);
            break;
        }
        if (i + 1 >= argc)
            return nsmkit_fail(e, "%s: unknown flag or missing value", argv[i]);
        bool known = false;
        for (size_t s = 0; s < sizeof(strings) / sizeof(strings[0]); s++)
            if (strcmp(argv[i], strings[s].flag) == 0) {
                *(const char **)((char *)a + strings[s].field) = argv[i + 1];
                known = true;
            }
        if (strcmp(argv[i], "--env") == 0) {
            if (a->envc == MAX_ENV || strchr(argv[i + 1], '=') == NULL)
                return nsmkit_fail(e, "--env takes NAME=VALUE (at most %d)", MAX_ENV);
            a->env[a->envc++] = argv[i + 1];
            known = true;
        }
        if (strcmp(argv[i], "--max-image-bytes") == 0) {
            if (!nsmkit_parse_u64(argv[i + 1], &a->max_bytes) || a->max_bytes == 0)
                return nsmkit_fail(e, "--max-image-bytes takes a positive whole number");
            known = true;
        }
        if (strcmp(argv[i], "--docker-dir") == 0)
            return nsmkit_fail(e, "--docker-dir needs Docker (docker build); build the image "
                                  "elsewhere and give `docker save` output as --image-tar");
        if (!known)
            return nsmkit_fail(e, "%s: unknown flag", argv[i]);
        i++;
    }
    if (a->output == NULL)
        return nsmkit_fail(e, "--output-file is required");
    if ((a->rootfs == NULL) == (a->image_tar == NULL))
        return nsmkit_fail(e, "give exactly one of --rootfs DIR and --image-tar FILE "
                              "(`docker save IMAGE -o FILE`): there is no Docker here");
    if ((a->cert == NULL) != (a->key == NULL))
        return nsmkit_fail(e, "--signing-certificate and --private-key go together");
    return 0;
}

/* The first of: the flag's value, $env, and <exe dir>/candidate that exists. */
static const char *find_blob(const char *given, const char *env, const char *const *candidates,
                             char *buf, size_t cap)
{
    if (given != NULL)
        return given;
    const char *v = getenv(env);
    if (v != NULL && v[0] != '\0')
        return v;
    for (size_t i = 0; candidates[i] != NULL; i++) {
        snprintf(buf, cap, "%s/%s", nitrocli_exe_dir(), candidates[i]);
        if (access(buf, R_OK) == 0)
            return buf;
    }
    return NULL;
}

static int add_entry(struct archive *w, const char *name, mode_t type, unsigned perm,
                     const void *data, size_t len, unsigned ino)
{
    struct archive_entry *en = archive_entry_new();
    if (en == NULL)
        return -1;
    archive_entry_set_pathname(en, name);
    archive_entry_set_filetype(en, type);
    archive_entry_set_perm(en, perm);
    archive_entry_set_ino(en, ino);
    archive_entry_set_nlink(en, type == AE_IFDIR ? 2 : 1);
    archive_entry_set_size(en, (la_int64_t)len);
    if (type == AE_IFCHR)
        archive_entry_set_rdev(en, makedev(5, 1));
    int rc = archive_write_header(w, en) == ARCHIVE_OK &&
                     (len == 0 || archive_write_data(w, data, len) == (la_ssize_t)len)
                 ? 0
                 : -1;
    archive_entry_free(en);
    return rc;
}

/* The bootstrap ramdisk: what nitro-cli's holds (init, nsm.ko) and the console node the
 * kernel opens for init before anything is mounted. */
static nitrocli_code bootstrap_ramdisk(const char *path, const char *init, const char *nsm_ko,
                                       nsmkit_error *e)
{
    uint8_t *init_data = NULL, *ko_data = NULL;
    size_t init_len = 0, ko_len = 0;
    if (nsmkit_file_read(init, BLOB_MAX, &init_data, &init_len, e) != 0)
        return NITROCLI_ERR_NO_BLOB;
    if (nsm_ko && nsmkit_file_read(nsm_ko, BLOB_MAX, &ko_data, &ko_len, e) != 0) {
        free(init_data);
        return NITROCLI_ERR_NO_BLOB;
    }
    struct archive *w = archive_write_new();
    int rc = w ? 0 : -1;
    if (rc == 0 && (archive_write_set_format_cpio_newc(w) != ARCHIVE_OK ||
                    archive_write_open_filename(w, path) != ARCHIVE_OK))
        rc = -1;
    if (rc == 0)
        rc = add_entry(w, "dev", AE_IFDIR, 0755, NULL, 0, 1) |
             add_entry(w, "dev/console", AE_IFCHR, 0600, NULL, 0, 2) |
             add_entry(w, "init", AE_IFREG, 0755, init_data, init_len, 3) |
             (ko_data ? add_entry(w, "nsm.ko", AE_IFREG, 0644, ko_data, ko_len, 4) : 0) |
             add_entry(w, "proc", AE_IFDIR, 0755, NULL, 0, 5) |
             add_entry(w, "sys", AE_IFDIR, 0755, NULL, 0, 6);
    if (rc == 0 && archive_write_close(w) != ARCHIVE_OK)
        rc = -1;
    if (rc != 0)
        nsmkit_fail(e, "%s: %s", path, w ? archive_error_string(w) : "out of memory");
    archive_write_free(w);
    free(init_data);
    free(ko_data);
    return rc == 0 ? NITROCLI_ERR_OK : NITROCLI_ERR_IO;
}

/* The application ramdisk from a directory or an image tarball, into tmp/app.cpio. */
static nitrocli_code app_ramdisk(const build_args *a, const char *tmp, nsmkit_error *e)
{
    char work[PATH_MAX + 32], root[PATH_MAX + 32], cpio[PATH_MAX + 32];
    snprintf(work, sizeof(work), "%s/tarball", tmp);
    snprintf(root, sizeof(root), "%s/rootfs", tmp);
    snprintf(cpio, sizeof(cpio), "%s/app.cpio", tmp);
    nitrocli_image_config config = {0};
    nitrocli_code code = NITROCLI_ERR_OK;
    const char *rootfs = a->rootfs;
    if (a->image_tar != NULL) {
        nitrocli_limits limits = {a->max_bytes ? a->max_bytes : 4ull << 30, 1000000};
        /* the top of the tree is 0755 as a directory's usually is, so that a tarball and
         * the same tree as a directory give the same ramdisk */
        if (mkdir(work, 0700) != 0 || mkdir(root, 0700) != 0 || chmod(root, 0755) != 0)
            return nsmkit_fail(e, "%s: mkdir: %s", tmp, strerror(errno)), NITROCLI_ERR_IO;
        code = nitrocli_image_unpack(a->image_tar, a->uri, work, root, &limits, &config, e);
        rootfs = root;
    }
    const char *const *argv = a->argc ? (const char *const *)a->argv
                                      : (const char *const *)config.argv;
    size_t argc = a->argc ? a->argc : config.argc;
    const char *env[2 * MAX_ENV];
    size_t envc = 0;
    for (size_t i = 0; i < config.envc && envc < MAX_ENV; i++)
        env[envc++] = config.env[i];
    for (size_t i = 0; i < a->envc; i++)
        env[envc++] = a->env[i];
    if (code == NITROCLI_ERR_OK && (argc == 0 || argc > MAX_ARGS)) {
        nsmkit_fail(e, "no command: the image has no Entrypoint or Cmd; give one after --");
        code = NITROCLI_ERR_IMAGE_CONFIG;
    }
    if (code == NITROCLI_ERR_OK &&
        nsmeif_ramdisk_write(cpio, rootfs, argv, argc, env, envc, e) != 0)
        code = NITROCLI_ERR_BUILD;
    nitrocli_image_config_free(&config);
    return code;
}

static nitrocli_code build_eif(const build_args *a, const char *tmp, nsmkit_error *e)
{
    static const char *const kernels[] = {"../qemu/image/vmlinuz", "../share/nsmkit/vmlinuz",
                                          NULL};
    static const char *const inits[] = {"../qemu/guest/enclave-init",
                                        "../libexec/nsmkit/enclave-init", NULL};
    char kbuf[PATH_MAX], ibuf[PATH_MAX], boot[PATH_MAX + 32], app[PATH_MAX + 32];
    const char *kernel = find_blob(a->kernel, "NSM_NITRO_CLI_KERNEL", kernels, kbuf,
                                   sizeof(kbuf));
    const char *init = find_blob(a->init, "NSM_NITRO_CLI_INIT", inits, ibuf, sizeof(ibuf));
    if (kernel == NULL || init == NULL)
        return nsmkit_fail(e, "no %s: give --%s FILE (or build it: make qemu-image)",
                           kernel ? "init" : "kernel", kernel ? "init" : "kernel"),
               NITROCLI_ERR_NO_BLOB;
    snprintf(boot, sizeof(boot), "%s/bootstrap.cpio", tmp);
    snprintf(app, sizeof(app), "%s/app.cpio", tmp);
    nitrocli_code code = bootstrap_ramdisk(boot, init, a->nsm_ko, e);
    if (code == NITROCLI_ERR_OK)
        code = app_ramdisk(a, tmp, e);
    if (code != NITROCLI_ERR_OK)
        return code;
    const char *ramdisks[] = {boot, app};
    nsmeif_build_options o = {
        .kernel = kernel, .cmdline = a->cmdline ? a->cmdline : DEFAULT_CMDLINE,
        .ramdisks = ramdisks, .ramdisk_count = 2, .output = a->output,
        .image_name = a->name ? a->name : a->uri, .image_version = a->version,
        .build_tool = "nsm-nitro-cli", .build_tool_version = NSMKIT_NITRO_CLI_VERSION,
        .custom_metadata = a->metadata, .signing_certificate = a->cert,
        .private_key = a->key, .nonce = &nsmkit_rfc6979_nonce,
    };
    nsmeif_image image;
    if (nsmeif_build(&o, &image, e) != NSMEIF_ERR_OK) {
        nsmeif_image_free(&image);
        return NITROCLI_ERR_BUILD;
    }
    char *json = nsmeif_measurements_json(&image);
    nsmeif_image_free(&image);
    if (json == NULL)
        return nsmkit_fail(e, "out of memory"), NITROCLI_ERR_NO_MEMORY;
    fprintf(stderr, "Enclave Image successfully created.\n");
    fputs(json, stdout);
    free(json);
    return NITROCLI_ERR_OK;
}

int nitrocli_cmd_build(int argc, char **argv)
{
    build_args a = {.envc = 0};
    nsmkit_error e = {{0}};
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return fputs(build_help, stdout), 0;
    if (parse_build(argc, argv, &a, &e) != 0)
        return nitrocli_report("build-enclave", NITROCLI_ERR_USAGE, &e);
    fprintf(stderr, "Start building the Enclave Image...\n");
    char tmp[PATH_MAX];
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof(tmp), "%s/nsm-nitro-cli.XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(tmp) == NULL) {
        nsmkit_fail(&e, "%s: %s", tmp, strerror(errno));
        return nitrocli_report("build-enclave", NITROCLI_ERR_IO, &e);
    }
    nitrocli_code code = build_eif(&a, tmp, &e);
    nsmkit_error ignored;
    if (nitrocli_rm_rf(tmp, &ignored) != 0)
        fprintf(stderr, "nsm-nitro-cli: could not remove %s: %s\n", tmp, ignored.msg);
    return code == NITROCLI_ERR_OK ? 0 : nitrocli_report("build-enclave", code, &e);
}
