/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit eif: libnsmeif, a strict streaming reader, measurer and writer of AWS Nitro
 * Enclave Image Format files (NSM-FACTS section 12; docs/eif.md for every decision).
 *
 * Layout (big-endian): a 548-byte header (magic ".eif", version, flags, default memory and
 * CPUs, a section table of 32 offsets and 32 sizes, CRC-32 of the rest of the file), then
 * sections, each a 12-byte header (type, flags, size) and its data.
 *
 * The reader walks the file once, front to back, with one fixed buffer: it never reads past
 * the file, never seeks back, and keeps in memory only the small sections (cmdline, metadata,
 * signature), each with a fixed bound. Whatever the public readers (AWS's eif_utils, which
 * walks sections in file order, and QEMU's, which seeks to the table's offsets) could read
 * differently is refused with a code from NSMEIF_CODES.
 *
 * Codes: 40xx usage and I/O (exit 2), 41xx header, 42xx layout, 43xx sections,
 * 44xx metadata, 45xx CRC, 46xx signature (exit 1). Numbers are never reused or renumbered;
 * new codes are appended in their range.
 */
#ifndef NSMKIT_EIF_H
#define NSMKIT_EIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsmkit/error.h"
#include "nsmkit/p384.h"

/* X(NAME, number, sentence) */
#define NSMEIF_CODES(X)                                                                      \
    X(OK, 0, "the image is sound")                                                           \
    /* 40xx: usage and I/O */                                                                \
    X(IO, 4000, "the image cannot be opened, read or written")                               \
    X(NO_MEMORY, 4001, "out of memory")                                                      \
    X(USAGE, 4002, "the command line or the build inputs are not valid")                     \
    X(CRYPTO, 4003, "a cryptographic library call failed on valid input")                    \
    /* 41xx: the header */                                                                   \
    X(HEADER_TRUNCATED, 4100, "the file is shorter than the 548-byte header")                \
    X(BAD_MAGIC, 4101, "the file does not start with \".eif\"")                              \
    X(VERSION, 4102, "the version is not 4 (QEMU refuses below 4; nothing defines above)")   \
    X(HEADER_FLAGS, 4103, "header flags other than 0 (x86_64) or 1 (aarch64)")               \
    X(SECTION_COUNT, 4104, "the section count is 0 or above 32")                               \
    X(HEADER_RESERVED, 4105, "the reserved or unused header field is not zero")              \
    X(TABLE_TAIL, 4106, "an offset or size beyond the section count is not zero")            \
    /* 42xx: the layout */                                                                   \
    X(OFFSET_GAP, 4200, "a section's offset lies past the end of the section before it "     \
                        "(AWS's reader, walking in order, reads other bytes than QEMU's)")   \
    X(OFFSET_OVERLAP, 4201, "a section's offset lies before the end of the section before "  \
                            "it (sections overlap, or the table is out of order)")           \
    X(SECTION_PAST_END, 4202, "a section header or its data runs past the end of the file")  \
    X(TRAILING_BYTES, 4203, "bytes follow the last section in the table")                    \
    X(SIZE_MISMATCH, 4204, "the table's size and the section header's size differ")          \
    /* 43xx: the sections */                                                                 \
    X(SECTION_TYPE, 4300, "a section type other than 1..5 (AWS refuses it, QEMU skips it)")  \
    X(SECTION_FLAGS, 4301, "a section header's flags are not zero (QEMU refuses them)")      \
    X(DUPLICATE_KERNEL, 4302, "a second kernel section")                                     \
    X(DUPLICATE_CMDLINE, 4303, "a second cmdline section")                                   \
    X(DUPLICATE_METADATA, 4304, "a second metadata section")                                 \
    X(DUPLICATE_SIGNATURE, 4305, "a second signature section")                               \
    X(MISSING_SECTION, 4306, "no kernel, cmdline, metadata or ramdisk section")              \
    X(SECTION_ORDER, 4307, "the measured sections are not in the order kernel, cmdline, "    \
                           "ramdisks (the PCRs hash them in file order)")                    \
    X(CMDLINE_NUL, 4308, "the cmdline holds a NUL byte (QEMU stops there, the PCRs do not)") \
    X(SECTION_TOO_LARGE, 4309, "a cmdline, metadata or signature section above its bound")   \
    X(EMPTY_SECTION, 4310, "a kernel or ramdisk section of zero bytes")                      \
    /* 44xx: metadata */                                                                     \
    X(METADATA, 4400, "the metadata is not the JSON object nitro-cli writes")                \
    /* 45xx: CRC */                                                                          \
    X(CRC_MISMATCH, 4500, "the header's CRC-32 is not the file's")                           \
    /* 46xx: signature */                                                                    \
    X(SIGNATURE_CBOR, 4600, "the signature section is not a CBOR array of "                  \
                            "{signing_certificate, signature} written as integer arrays")    \
    X(SIGNATURE_COUNT, 4601, "the signature section holds other than one PCR signature")     \
    X(SIGNATURE_CERT, 4602, "the signing certificate is not one PEM X.509 certificate with " \
                            "an EC key on P-256, P-384 or P-521")                            \
    X(SIGNATURE_COSE, 4603, "the signature is not a COSE_Sign1 with the algorithm of the "   \
                            "certificate's curve (ES256, ES384, ES512)")                     \
    X(SIGNATURE_PAYLOAD, 4604, "the signed payload is not {register_index: 0, "              \
                               "register_value: 48 bytes} as nitro-cli writes it")           \
    X(SIGNATURE_INVALID, 4605, "the COSE signature does not verify with the certificate's key") \
    X(SIGNATURE_PCR0, 4606, "the signature is valid but signs another PCR0 than the image's")

typedef enum {
#define NSMEIF_CODE_ENUM(name, number, sentence) NSMEIF_ERR_##name = number,
    NSMEIF_CODES(NSMEIF_CODE_ENUM)
#undef NSMEIF_CODE_ENUM
} nsmeif_code;

/* "CRC_MISMATCH", its sentence; NULL for numbers outside the list. */
const char *nsmeif_code_name(nsmeif_code code);
const char *nsmeif_code_sentence(nsmeif_code code);
/* 0 for OK, 2 for 40xx, 1 for the rest: nsm-eif's exit status. */
int nsmeif_code_exit(nsmeif_code code);

/* ---- format constants ----------------------------------------------------------------- */

#define NSMEIF_HEADER_LEN 548
#define NSMEIF_SECTION_HEADER_LEN 12
#define NSMEIF_MAX_SECTIONS 32
#define NSMEIF_VERSION 4
#define NSMEIF_FLAG_AARCH64 0x1
#define NSMEIF_PCR_LEN 48
/* Bounds of the sections kept in memory (the kernel and ramdisks are streamed). */
#define NSMEIF_CMDLINE_MAX (64u * 1024)
#define NSMEIF_METADATA_MAX (1024u * 1024)
#define NSMEIF_SIGNATURE_MAX (32u * 1024) /* the specification's SIGNATURE_MAX_SIZE */

typedef enum {
    NSMEIF_SECTION_INVALID = 0,
    NSMEIF_SECTION_KERNEL = 1,
    NSMEIF_SECTION_CMDLINE = 2,
    NSMEIF_SECTION_RAMDISK = 3,
    NSMEIF_SECTION_SIGNATURE = 4,
    NSMEIF_SECTION_METADATA = 5,
} nsmeif_section_type;

/* "kernel", ...; "unknown" otherwise. */
const char *nsmeif_section_type_name(unsigned type);

typedef struct {
    uint16_t type;
    uint16_t flags;
    uint64_t offset; /* of the section header */
    uint64_t size;   /* of the data */
} nsmeif_section;

/* ---- reading ----------------------------------------------------------------------------- */

/* Called with every byte of every section's data, in file order, in pieces. Returning
 * non-zero stops the walk (the read fails with NSMEIF_ERR_IO). */
typedef int (*nsmeif_data_fn)(void *ctx, unsigned index, const nsmeif_section *section,
                              const uint8_t *data, size_t len);

typedef struct {
    /* the header */
    uint16_t version;
    uint16_t flags;
    uint64_t default_mem;
    uint64_t default_cpus;
    uint16_t num_sections;
    uint32_t header_crc;
    uint64_t file_size;
    nsmeif_section sections[NSMEIF_MAX_SECTIONS];
    unsigned ramdisks;
    /* what was measured: valid when walked is true */
    bool walked;
    uint8_t pcr0[NSMEIF_PCR_LEN], pcr1[NSMEIF_PCR_LEN], pcr2[NSMEIF_PCR_LEN];
    uint32_t crc;        /* computed */
    bool crc_ok;
    /* the kept sections (owned; NUL-terminated copies) */
    char *cmdline;
    size_t cmdline_len;
    char *metadata;
    size_t metadata_len;
    uint8_t *signature;
    size_t signature_len;
    /* the signature, when there is one and it could be decoded */
    bool is_signed;
    bool cert_ok;        /* the certificate decoded: pcr8 and cert_der are valid */
    uint8_t pcr8[NSMEIF_PCR_LEN];
    uint8_t *cert_der;   /* owned */
    size_t cert_der_len;
    void *cert_info;     /* describe-eif's SigningCertificate: a jansson json_t *, owned */
    bool signature_checked; /* the COSE signature verified (SignatureCheck's value below) */
    bool signature_ok;   /* it signs this image's PCR0 */
    /* the first problem found (NSMEIF_ERR_OK for a sound image) and its reason */
    nsmeif_code code;
    nsmkit_error reason;
} nsmeif_image;

/* Reads, checks and measures the image at path. Returns image->code (also kept there); the image is filled as
 * far as the walk got (walked says whether the PCRs are valid). on_data may be NULL.
 * Release with nsmeif_image_free in every case. */
nsmeif_code nsmeif_read(const char *path, nsmeif_image *image, nsmeif_data_fn on_data,
                        void *ctx);
/* The same on an open file descriptor (read from its current position to its end; not
 * closed). */
nsmeif_code nsmeif_read_fd(int fd, nsmeif_image *image, nsmeif_data_fn on_data,
                           void *ctx);
void nsmeif_image_free(nsmeif_image *image);

/* PCR = SHA-384(48 zero bytes || SHA-384(content)): the extend of one digest. */
int nsmeif_pcr_extend(const uint8_t digest[NSMEIF_PCR_LEN], uint8_t pcr[NSMEIF_PCR_LEN]);

/* ---- describe --------------------------------------------------------------------------- */

/* `nitro-cli describe-eif`'s JSON for a walked image (malloc'd, with a final newline);
 * NULL when the image was not walked or on allocation failure. */
char *nsmeif_describe_json(const nsmeif_image *image);
/* What `nitro-cli build-enclave` prints: {"Measurements": {"HashAlgorithm": ..., "PCR0": ...}}
 * (the shape nsm-sim --measurements reads). */
char *nsmeif_measurements_json(const nsmeif_image *image);

/* ---- building ----------------------------------------------------------------------------- */

typedef struct {
    const char *kernel;            /* path */
    const char *cmdline;           /* the text itself */
    const char *const *ramdisks;   /* paths, the first the bootstrap ramdisk */
    size_t ramdisk_count;
    const char *output;
    const char *image_name;        /* NULL: the kernel file's name */
    const char *image_version;     /* NULL: "1.0" */
    const char *build_time;        /* NULL: SOURCE_DATE_EPOCH, else now (RFC 3339) */
    const char *build_tool;        /* NULL: "nsm-eif" */
    const char *build_tool_version;
    const char *image_os;          /* NULL: "Generic Linux" */
    const char *image_kernel;      /* NULL: "Unkown version" (eif_build's spelling) */
    const char *custom_metadata;   /* path of a JSON file, or NULL */
    bool aarch64;
    const char *signing_certificate; /* PEM path, with private_key */
    const char *private_key;         /* PEM path (EC P-384) */
    /* where each signature's nonce comes from; NULL: the system's CSPRNG. nsm-eif passes
     * RFC 6979 (common/det_sign.c), so a signed image is reproducible too. */
    const nsmkit_p384_nonce_source *nonce;
} nsmeif_build_options;

/* Writes the image (to a temporary file beside output, renamed over it) and reads it back
 * with nsmeif_read into *image (caller frees). Returns NSMEIF_ERR_OK, or a 40xx code with
 * the reason in e. */
nsmeif_code nsmeif_build(const nsmeif_build_options *options, nsmeif_image *image,
                         nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* ---- the application ramdisk ----------------------------------------------------------------- */

/* Writes a newc cpio archive laid out as nitro-cli lays out the application ramdisk:
 * "cmd" (one argument a line), "env" (one NAME=VALUE a line), and the tree of rootfs under
 * "rootfs/". Byte-reproducible: entries sorted by name, every mtime, uid and gid 0, inode
 * numbers counted, no device numbers. Regular files, directories and symbolic links only.
 * rootfs may be NULL (an empty rootfs/). */
int nsmeif_ramdisk_write(const char *output, const char *rootfs, const char *const *argv,
                         size_t argc, const char *const *env, size_t envc,
                         nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_EIF_H */
