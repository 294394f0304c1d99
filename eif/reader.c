/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit eif: the streaming reader. One pass, front to back, through a fixed buffer: the
 * header and its whole section table are checked against the file's size before any section
 * is read, so no read can run past the file and no size is believed before it is bounded.
 * Every data byte goes to the CRC and to two SHA-384 contexts (PCR0, and PCR1 or PCR2) from
 * the one read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "eif_internal.h"

#define READ_CHUNK (1024u * 1024)

static uint64_t be(const uint8_t *p, size_t width)
{
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++)
        v = (v << 8) | p[i];
    return v;
}

typedef struct {
    int fd;
    uint8_t *buf;
    size_t buf_len; /* READ_CHUNK, or the file's size when smaller */
    EVP_MD_CTX *all;  /* PCR0: kernel, cmdline, every ramdisk */
    EVP_MD_CTX *boot; /* PCR1: kernel, cmdline, the first ramdisk */
    EVP_MD_CTX *app;  /* PCR2: the other ramdisks */
    uLong crc;
} walk;

/* Reads exactly n bytes (the caller has checked they lie inside the file). */
static int read_exact(walk *w, nsmeif_image *image, uint8_t *dst, size_t n)
{
    while (n > 0) {
        ssize_t got = read(w->fd, dst, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            nsmeif_fail(image, NSMEIF_ERR_IO, "read: %s",
                        got < 0 ? strerror(errno) : "the file ended early (did it shrink?)");
            return -1;
        }
        dst += got;
        n -= (size_t)got;
    }
    return 0;
}

static nsmeif_code parse_header(nsmeif_image *image, const uint8_t *h)
{
    if (memcmp(h, ".eif", 4) != 0)
        return nsmeif_fail(image, NSMEIF_ERR_BAD_MAGIC, "the magic is %02x %02x %02x %02x, "
                           "not \".eif\"", h[0], h[1], h[2], h[3]);
    image->version = (uint16_t)be(h + 4, 2);
    image->flags = (uint16_t)be(h + 6, 2);
    image->default_mem = be(h + 8, 8);
    image->default_cpus = be(h + 16, 8);
    uint16_t reserved = (uint16_t)be(h + 24, 2);
    image->num_sections = (uint16_t)be(h + 26, 2);
    uint32_t unused = (uint32_t)be(h + 540, 4);
    image->header_crc = (uint32_t)be(h + 544, 4);
    if (image->version != NSMEIF_VERSION)
        return nsmeif_fail(image, NSMEIF_ERR_VERSION, "version %u (nitro-cli writes 4; QEMU "
                           "refuses below 4)", image->version);
    if (image->flags & ~NSMEIF_FLAG_AARCH64)
        return nsmeif_fail(image, NSMEIF_ERR_HEADER_FLAGS, "header flags 0x%04x (only bit 0, "
                           "aarch64, is defined)", image->flags);
    if (image->num_sections == 0 || image->num_sections > NSMEIF_MAX_SECTIONS)
        return nsmeif_fail(image, NSMEIF_ERR_SECTION_COUNT, "%u sections (1..32)",
                           image->num_sections);
    if (reserved != 0 || unused != 0)
        return nsmeif_fail(image, NSMEIF_ERR_HEADER_RESERVED, "reserved 0x%04x, unused 0x%08x",
                           reserved, unused);
    for (unsigned i = 0; i < NSMEIF_MAX_SECTIONS; i++) {
        uint64_t off = be(h + 28 + 8 * i, 8), size = be(h + 28 + 256 + 8 * i, 8);
        if (i >= image->num_sections) {
            if (off != 0 || size != 0)
                return nsmeif_fail(image, NSMEIF_ERR_TABLE_TAIL, "table entry %u (past the %u "
                                   "sections) holds offset %llu, size %llu", i,
                                   image->num_sections, (unsigned long long)off,
                                   (unsigned long long)size);
            continue;
        }
        image->sections[i].offset = off;
        image->sections[i].size = size;
    }
    return NSMEIF_ERR_OK;
}

/* The table against the file: each section where the one before it ends, inside the file,
 * and nothing after the last. */
static nsmeif_code check_layout(nsmeif_image *image)
{
    uint64_t expected = NSMEIF_HEADER_LEN;
    for (unsigned i = 0; i < image->num_sections; i++) {
        const nsmeif_section *s = &image->sections[i];
        if (s->offset > expected)
            return nsmeif_fail(image, NSMEIF_ERR_OFFSET_GAP, "section %u at offset %llu, but "
                               "the one before it ends at %llu (%llu bytes unaccounted for)", i,
                               (unsigned long long)s->offset, (unsigned long long)expected,
                               (unsigned long long)(s->offset - expected));
        if (s->offset < expected)
            return nsmeif_fail(image, NSMEIF_ERR_OFFSET_OVERLAP, "section %u at offset %llu, "
                               "before the end of the one before it (%llu)", i,
                               (unsigned long long)s->offset, (unsigned long long)expected);
        uint64_t left = image->file_size - expected; /* expected <= file_size here */
        if (left < NSMEIF_SECTION_HEADER_LEN || s->size > left - NSMEIF_SECTION_HEADER_LEN)
            return nsmeif_fail(image, NSMEIF_ERR_SECTION_PAST_END, "section %u (offset %llu, "
                               "%llu bytes of data) runs past the end of the %llu-byte file", i,
                               (unsigned long long)s->offset, (unsigned long long)s->size,
                               (unsigned long long)image->file_size);
        expected += NSMEIF_SECTION_HEADER_LEN + s->size;
    }
    if (expected != image->file_size)
        return nsmeif_fail(image, NSMEIF_ERR_TRAILING_BYTES, "%llu bytes after the last "
                           "section (AWS's reader would read them as another section)",
                           (unsigned long long)(image->file_size - expected));
    return NSMEIF_ERR_OK;
}

/* The measured sections' order: kernel, cmdline, ramdisks (PCR0 and PCR1 hash them in file
 * order, and the specification puts every ramdisk after the kernel). Metadata and signature
 * are not measured and may stand anywhere: 3. Unknown types: -1. */
static int type_rank(uint16_t type)
{
    switch (type) {
    case NSMEIF_SECTION_KERNEL: return 0;
    case NSMEIF_SECTION_CMDLINE: return 1;
    case NSMEIF_SECTION_RAMDISK: return 2;
    case NSMEIF_SECTION_METADATA:
    case NSMEIF_SECTION_SIGNATURE: return 3;
    default: return -1;
    }
}

static nsmeif_code check_section_header(nsmeif_image *image, unsigned i, const uint8_t *h,
                                        unsigned *seen, int *last_rank)
{
    nsmeif_section *s = &image->sections[i];
    s->type = (uint16_t)be(h, 2);
    s->flags = (uint16_t)be(h + 2, 2);
    uint64_t size = be(h + 4, 8);
    if (size != s->size)
        return nsmeif_fail(image, NSMEIF_ERR_SIZE_MISMATCH, "section %u: the table says %llu "
                           "bytes, its header %llu", i, (unsigned long long)s->size,
                           (unsigned long long)size);
    int rank = type_rank(s->type);
    if (rank < 0)
        return nsmeif_fail(image, NSMEIF_ERR_SECTION_TYPE, "section %u has type %u", i, s->type);
    if (s->flags != 0)
        return nsmeif_fail(image, NSMEIF_ERR_SECTION_FLAGS, "section %u (%s) has flags 0x%04x",
                           i, nsmeif_section_type_name(s->type), s->flags);
    static const nsmeif_code duplicate[] = {
        [NSMEIF_SECTION_KERNEL] = NSMEIF_ERR_DUPLICATE_KERNEL,
        [NSMEIF_SECTION_CMDLINE] = NSMEIF_ERR_DUPLICATE_CMDLINE,
        [NSMEIF_SECTION_SIGNATURE] = NSMEIF_ERR_DUPLICATE_SIGNATURE,
        [NSMEIF_SECTION_METADATA] = NSMEIF_ERR_DUPLICATE_METADATA,
    };
    if (s->type != NSMEIF_SECTION_RAMDISK && (*seen & (1u << s->type)))
        return nsmeif_fail(image, duplicate[s->type], "section %u is a second %s section", i,
                           nsmeif_section_type_name(s->type));
    if (rank < 3 && rank < *last_rank)
        return nsmeif_fail(image, NSMEIF_ERR_SECTION_ORDER, "section %u (%s) comes after a "
                           "%s; the measured sections must come as kernel, cmdline, ramdisks",
                           i, nsmeif_section_type_name(s->type),
                           *last_rank == 2 ? "ramdisk" : "cmdline");
    if (rank < 3)
        *last_rank = rank;
    *seen |= 1u << s->type;
    if ((s->type == NSMEIF_SECTION_KERNEL || s->type == NSMEIF_SECTION_RAMDISK) && s->size == 0)
        return nsmeif_fail(image, NSMEIF_ERR_EMPTY_SECTION, "section %u (%s) is empty", i,
                           nsmeif_section_type_name(s->type));
    uint64_t bound = s->type == NSMEIF_SECTION_CMDLINE    ? NSMEIF_CMDLINE_MAX
                     : s->type == NSMEIF_SECTION_METADATA ? NSMEIF_METADATA_MAX
                     : s->type == NSMEIF_SECTION_SIGNATURE ? NSMEIF_SIGNATURE_MAX
                                                           : UINT64_MAX;
    if (s->size > bound)
        return nsmeif_fail(image, NSMEIF_ERR_SECTION_TOO_LARGE, "section %u (%s) is %llu bytes "
                           "(at most %llu)", i, nsmeif_section_type_name(s->type),
                           (unsigned long long)s->size, (unsigned long long)bound);
    return NSMEIF_ERR_OK;
}

/* The section's own copy, for the small kinds the reader keeps. */
static uint8_t **kept_copy(nsmeif_image *image, uint16_t type, size_t **len)
{
    switch (type) {
    case NSMEIF_SECTION_CMDLINE: *len = &image->cmdline_len; return (uint8_t **)&image->cmdline;
    case NSMEIF_SECTION_METADATA: *len = &image->metadata_len; return (uint8_t **)&image->metadata;
    case NSMEIF_SECTION_SIGNATURE: *len = &image->signature_len; return &image->signature;
    default: return NULL;
    }
}

static int stream_section(walk *w, nsmeif_image *image, unsigned i, nsmeif_data_fn on_data,
                          void *ctx)
{
    const nsmeif_section *s = &image->sections[i];
    size_t *kept_len = NULL;
    uint8_t **kept = kept_copy(image, s->type, &kept_len);
    if (kept) { /* bounded by check_section_header */
        *kept = malloc((size_t)s->size + 1);
        if (!*kept) {
            nsmeif_fail(image, NSMEIF_ERR_NO_MEMORY, "out of memory");
            return -1;
        }
        (*kept)[s->size] = 0;
        *kept_len = (size_t)s->size;
    }
    EVP_MD_CTX *second = NULL;
    bool measured = s->type == NSMEIF_SECTION_KERNEL || s->type == NSMEIF_SECTION_CMDLINE ||
                    s->type == NSMEIF_SECTION_RAMDISK;
    if (measured)
        second = s->type == NSMEIF_SECTION_RAMDISK && image->ramdisks > 0 ? w->app : w->boot;
    for (uint64_t done = 0; done < s->size;) {
        size_t n = s->size - done > w->buf_len ? w->buf_len : (size_t)(s->size - done);
        if (read_exact(w, image, w->buf, n) != 0)
            return -1;
        w->crc = crc32(w->crc, w->buf, (uInt)n);
        if (measured && (EVP_DigestUpdate(w->all, w->buf, n) != 1 ||
                         EVP_DigestUpdate(second, w->buf, n) != 1)) {
            nsmeif_fail(image, NSMEIF_ERR_CRYPTO, "SHA-384 failed");
            return -1;
        }
        if (kept)
            memcpy(*kept + done, w->buf, n);
        if (on_data && on_data(ctx, i, s, w->buf, n) != 0) {
            nsmeif_fail(image, NSMEIF_ERR_IO, "section %u: the consumer of its data failed", i);
            return -1;
        }
        done += n;
    }
    if (s->type == NSMEIF_SECTION_RAMDISK)
        image->ramdisks++;
    return 0;
}

static int finish_pcr(EVP_MD_CTX *ctx, uint8_t pcr[NSMEIF_PCR_LEN])
{
    uint8_t digest[NSMEIF_PCR_LEN];
    unsigned len = 0;
    if (EVP_DigestFinal_ex(ctx, digest, &len) != 1)
        return -1;
    return nsmeif_pcr_extend(digest, pcr);
}

static nsmeif_code walk_sections(walk *w, nsmeif_image *image, nsmeif_data_fn on_data,
                                 void *ctx)
{
    unsigned seen = 0;
    int last_rank = 0;
    for (unsigned i = 0; i < image->num_sections; i++) {
        uint8_t h[NSMEIF_SECTION_HEADER_LEN];
        if (read_exact(w, image, h, sizeof(h)) != 0)
            return image->code;
        w->crc = crc32(w->crc, h, sizeof(h));
        if (check_section_header(image, i, h, &seen, &last_rank) != NSMEIF_ERR_OK)
            return image->code;
        if (stream_section(w, image, i, on_data, ctx) != 0)
            return image->code;
    }
    static const struct {
        unsigned type;
        const char *name;
    } required[] = {{NSMEIF_SECTION_KERNEL, "kernel"}, {NSMEIF_SECTION_CMDLINE, "cmdline"},
                    {NSMEIF_SECTION_METADATA, "metadata"}, {NSMEIF_SECTION_RAMDISK, "ramdisk"}};
    for (size_t k = 0; k < sizeof(required) / sizeof(required[0]); k++)
        if (!(seen & (1u << required[k].type)))
            return nsmeif_fail(image, NSMEIF_ERR_MISSING_SECTION, "no %s section",
                               required[k].name);
    if (finish_pcr(w->all, image->pcr0) != 0 || finish_pcr(w->boot, image->pcr1) != 0 ||
        finish_pcr(w->app, image->pcr2) != 0)
        return nsmeif_fail(image, NSMEIF_ERR_CRYPTO, "SHA-384 failed");
    image->crc = (uint32_t)w->crc;
    image->crc_ok = image->crc == image->header_crc;
    image->walked = true;
    return NSMEIF_ERR_OK;
}

/* The checks that need the whole walk: cmdline, metadata, signature, then the CRC (last, so
 * that an image damaged on purpose and re-checksummed reports what is wrong with it). */
static void check_content(nsmeif_image *image)
{
    if (memchr(image->cmdline, 0, image->cmdline_len))
        nsmeif_fail(image, NSMEIF_ERR_CMDLINE_NUL, "the cmdline holds a NUL byte at %zu of %zu",
                    (size_t)((char *)memchr(image->cmdline, 0, image->cmdline_len) -
                             image->cmdline),
                    image->cmdline_len);
    nsmeif_metadata_check(image);
    nsmeif_signature_check(image);
    if (!image->crc_ok)
        nsmeif_fail(image, NSMEIF_ERR_CRC_MISMATCH, "the header says CRC-32 %08x, the file's "
                    "is %08x", image->header_crc, image->crc);
}

nsmeif_code nsmeif_read_fd(int fd, nsmeif_image *image, nsmeif_data_fn on_data, void *ctx)
{
    memset(image, 0, sizeof(*image));
    struct stat st;
    off_t start = lseek(fd, 0, SEEK_CUR);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || start < 0 || start > st.st_size)
        return nsmeif_fail(image, NSMEIF_ERR_IO, "not a regular file (the reader checks every "
                           "section against the file's size before reading it)");
    image->file_size = (uint64_t)(st.st_size - start);
    (void)posix_fadvise(fd, start, 0, POSIX_FADV_SEQUENTIAL);
    size_t buf_len = image->file_size < READ_CHUNK ? (size_t)image->file_size + 1 : READ_CHUNK;
    walk w = {fd, malloc(buf_len), buf_len, EVP_MD_CTX_new(), EVP_MD_CTX_new(), EVP_MD_CTX_new(),
              crc32(0, NULL, 0)};
    uint8_t h[NSMEIF_HEADER_LEN];
    if (!w.buf || !w.all || !w.boot || !w.app) {
        nsmeif_fail(image, NSMEIF_ERR_NO_MEMORY, "out of memory");
    } else if (EVP_DigestInit_ex(w.all, EVP_sha384(), NULL) != 1 ||
               EVP_DigestInit_ex(w.boot, EVP_sha384(), NULL) != 1 ||
               EVP_DigestInit_ex(w.app, EVP_sha384(), NULL) != 1) {
        nsmeif_fail(image, NSMEIF_ERR_CRYPTO, "SHA-384 failed");
    } else if (image->file_size < NSMEIF_HEADER_LEN) {
        nsmeif_fail(image, NSMEIF_ERR_HEADER_TRUNCATED, "the file is %llu bytes",
                    (unsigned long long)image->file_size);
    } else if (read_exact(&w, image, h, sizeof(h)) == 0 &&
               parse_header(image, h) == NSMEIF_ERR_OK && check_layout(image) == NSMEIF_ERR_OK) {
        w.crc = crc32(w.crc, h, NSMEIF_HEADER_LEN - 4); /* all but the CRC field itself */
        if (walk_sections(&w, image, on_data, ctx) == NSMEIF_ERR_OK)
            check_content(image);
    }
    free(w.buf);
    EVP_MD_CTX_free(w.all);
    EVP_MD_CTX_free(w.boot);
    EVP_MD_CTX_free(w.app);
    return image->code;
}

nsmeif_code nsmeif_read(const char *path, nsmeif_image *image, nsmeif_data_fn on_data, void *ctx)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        memset(image, 0, sizeof(*image));
        return nsmeif_fail(image, NSMEIF_ERR_IO, "%s: %s", path, strerror(errno));
    }
    nsmeif_code code = nsmeif_read_fd(fd, image, on_data, ctx);
    close(fd);
    return code;
}

void nsmeif_image_free(nsmeif_image *image)
{
    free(image->cmdline);
    free(image->metadata);
    free(image->signature);
    free(image->cert_der);
    json_decref((json_t *)image->cert_info);
    image->cert_info = NULL;
    image->cmdline = image->metadata = NULL;
    image->signature = image->cert_der = NULL;
}
