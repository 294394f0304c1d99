/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-nitro-cli: nitro-cli's commands, flags and JSON output, with the enclave in a QEMU
 * guest (`nsm-qemu run-eif`) instead of a Nitro slot (docs/nitro-cli.md).
 *
 * Errors print as nitro-cli prints them ("[ Exx ] sentence", a blank line, the link to
 * AWS's page for Exx) and exit with nitro-cli's status for Exx (its error enum's value,
 * which is xx), so that scripts that look at either see what they would see on EC2. The
 * nsmkit code (65xx) and the detail follow on the next line. Usage errors exit 2.
 */
#ifndef NSMKIT_NITRO_CLI_H
#define NSMKIT_NITRO_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsmkit/error.h"

#define NSMKIT_NITRO_CLI_VERSION "0.1.0"

/* X(NAME, number, nitro-cli's E number, sentence) */
#define NITROCLI_CODES(X)                                                                    \
    X(OK, 0, 0, "done")                                                                      \
    X(USAGE, 6500, 1, "the command line is not valid")                                       \
    X(IO, 6501, 19, "a file could not be opened, read or written")                           \
    X(NO_MEMORY, 6502, 0, "out of memory")                                                   \
    /* 651x: building from a root filesystem or an image tarball */                          \
    X(IMAGE_TAR, 6510, 48, "the image tarball is not a docker-save or OCI archive")          \
    X(IMAGE_UNSAFE, 6511, 48, "the image tarball holds an entry that would escape the "      \
                              "root filesystem (absolute or .. path, path through a "        \
                              "symbolic link, link out of the tree)")                        \
    X(IMAGE_TOO_LARGE, 6512, 48, "the image tarball exceeds a bound (bytes, entries, "       \
                                 "path length or depth)")                                    \
    X(IMAGE_CONFIG, 6513, 48, "the image's manifest or config JSON is missing or malformed") \
    X(BUILD, 6514, 48, "the enclave image could not be built")                               \
    X(NO_BLOB, 6515, 52, "the kernel or the init program was not found")                     \
    /* 652x: reading images */                                                               \
    X(EIF_INVALID, 6520, 35, "the enclave image was refused by nsmkit's strict reader")      \
    X(PCR_CERT, 6521, 57, "the signing certificate is not a PEM X.509 certificate")          \
    /* 653x: running */                                                                      \
    X(SPAWN, 6530, 5, "the enclave process (nsm-qemu run-eif) could not be started")         \
    X(BOOT, 6531, 36, "the enclave stopped while booting")                                   \
    X(CID_IN_USE, 6532, 29, "another running enclave has this CID")                          \
    X(STATE_DIR, 6533, 7, "the enclave state directory is missing or unsafe")                \
    /* 654x: managing running enclaves */                                                    \
    X(UNKNOWN_ENCLAVE, 6540, 11, "no running enclave has this ID")                           \
    X(NOT_DEBUG, 6541, 44, "the enclave was not started with --debug-mode, so its console "  \
                           "is not available")                                               \
    X(CONSOLE_READ, 6542, 45, "the enclave's console could not be read")                     \
    X(NAME, 6543, 58, "no single running enclave has this name")                             \
    X(TERMINATE, 6544, 29, "the enclave could not be stopped")

typedef enum {
#define NITROCLI_CODE_ENUM(name, number, e, sentence) NITROCLI_ERR_##name = number,
    NITROCLI_CODES(NITROCLI_CODE_ENUM)
#undef NITROCLI_CODE_ENUM
} nitrocli_code;

const char *nitrocli_code_name(nitrocli_code code);
const char *nitrocli_code_sentence(nitrocli_code code);
/* nitro-cli's E number for the code (its exit status); 0 for OK. */
int nitrocli_code_e(nitrocli_code code);

/* Prints the error as nitro-cli does, plus nsmkit's code and e's message; returns the exit
 * status to use. */
int nitrocli_report(const char *command, nitrocli_code code, const nsmkit_error *e);

/* The directory of this program (for nsm-qemu, the kernel and init beside it). */
const char *nitrocli_exe_dir(void);

/* ---- subcommands (argv[0] is the subcommand's name) -------------------------------------- */
int nitrocli_cmd_build(int argc, char **argv);
int nitrocli_cmd_describe_eif(int argc, char **argv);
int nitrocli_cmd_pcr(int argc, char **argv);
int nitrocli_cmd_run(int argc, char **argv);
int nitrocli_cmd_describe_enclaves(int argc, char **argv);
int nitrocli_cmd_console(int argc, char **argv);
int nitrocli_cmd_terminate(int argc, char **argv);

/* ---- image tarballs (image.c) ------------------------------------------------------------ */

typedef struct {
    uint64_t max_bytes;   /* total bytes written, over all layers */
    uint64_t max_entries; /* entries, over the outer tarball and all layers */
} nitrocli_limits;

typedef struct {
    char **argv; /* Entrypoint then Cmd (owned) */
    size_t argc;
    char **env;  /* Env (owned) */
    size_t envc;
} nitrocli_image_config;

void nitrocli_image_config_free(nitrocli_image_config *config);

/* Unpacks a `docker save` or OCI image-layout tarball: its layers applied in order into
 * rootfs (an empty directory), whiteouts honoured, and its config's command and
 * environment into *config. uri (may be NULL) picks the image by RepoTag when the tarball
 * holds several. work is a private empty directory for the tarball's members. */
nitrocli_code nitrocli_image_unpack(const char *tarball, const char *uri, const char *work,
                                    const char *rootfs, const nitrocli_limits *limits,
                                    nitrocli_image_config *config,
                                    nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Applies one layer (a tar, possibly compressed) to rootfs. *bytes and *entries count
 * up against the limits. */
nitrocli_code nitrocli_layer_apply(const char *layer, const char *rootfs,
                                   const nitrocli_limits *limits, uint64_t *bytes,
                                   uint64_t *entries, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* ---- small helpers (layer.c) ------------------------------------------------------------- */

/* Removes a tree without following symbolic links; 0 or -1 with e set. */
int nitrocli_rm_rf(const char *path, nsmkit_error *e);

#endif /* NSMKIT_NITRO_CLI_H */
