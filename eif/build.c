/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit eif: the builder, laid out byte for byte as eif_utils' EifBuilder writes an image:
 *
 *   header | kernel | cmdline | metadata | ramdisk... | [signature]
 *
 * with default_mem 1 GiB, default_cpus 2, every section flag 0, the cmdline without a NUL,
 * the metadata serde_json's compact text of EifIdentityInfo, and the signature (when signing)
 * a COSE_Sign1 over PCR0 with the certificate in serde_cbor's integer arrays. Deterministic:
 * the same inputs and build time give the same bytes (signatures too, with the RFC 6979
 * nonce source nsm-eif passes). Inputs are read twice (measure, then write), never held in
 * memory; the output appears by rename only when complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <zlib.h>

#include "nsmkit/bytes.h"
#include "nsmkit/file.h"
#include "nsmkit/hex.h"

#include "eif_internal.h"
#include "eif_json.h"

#define COPY_CHUNK (1024u * 1024)
#define PEM_MAX (32u * 1024)

typedef struct {
    const nsmeif_build_options *o;
    nsmkit_error *e;
    int fds[NSMEIF_MAX_SECTIONS];      /* kernel, ramdisks (by section index) */
    uint64_t sizes[NSMEIF_MAX_SECTIONS];
    uint16_t types[NSMEIF_MAX_SECTIONS];
    const uint8_t *inline_data[NSMEIF_MAX_SECTIONS]; /* cmdline, metadata, signature */
    unsigned count;
    char *metadata;
    uint8_t *signature;
    size_t signature_len;
    uint8_t pcr0[NSMEIF_PCR_LEN];
    uint8_t *buf;
} builder;

/* serde_json's string: quote, backslash and the control characters escaped (\uXXXX in
 * lower case for those without a short form), everything else as is. */
static int json_string_serde(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n' || *p == '\r' || *p == '\t' || *p == '\b' || *p == '\f')
            fprintf(f, "\\%c", *p == '\n' ? 'n' : *p == '\r' ? 'r' : *p == '\t' ? 't'
                                            : *p == '\b' ? 'b' : 'f');
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    return fputc('"', f) == EOF ? -1 : 0;
}

static char *default_build_time(void)
{
    static char text[64];
    const char *epoch = getenv("SOURCE_DATE_EPOCH");
    struct timespec ts;
    uint64_t v;
    bool fixed = epoch && *epoch && nsmkit_parse_u64(epoch, &v);
    if (fixed) {
        ts.tv_sec = (time_t)v;
        ts.tv_nsec = 0;
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
    }
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!fixed) /* chrono's to_rfc3339 with its sub-second digits */
        n += (size_t)snprintf(text + n, sizeof(text) - n, ".%06ld", (long)(ts.tv_nsec / 1000));
    snprintf(text + n, sizeof(text) - n, "+00:00");
    return text;
}

/* The custom metadata file, as a sorted compact JSON object. */
static char *custom_metadata(const char *path, nsmkit_error *e)
{
    uint8_t *text;
    size_t len;
    if (nsmkit_file_read(path, NSMEIF_METADATA_MAX / 2, &text, &len, e) != 0)
        return NULL;
    json_error_t err;
    json_t *root = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &err);
    free(text);
    if (!json_is_object(root)) {
        nsmkit_fail(e, "%s: not a JSON object%s%s", path, root ? "" : ": ", root ? "" : err.text);
        json_decref(root);
        return NULL;
    }
    json_t *sorted = nsmeif_json_sorted(root);
    char *out = sorted ? json_dumps(sorted, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(sorted);
    json_decref(root);
    if (!out)
        nsmkit_fail(e, "%s: cannot be written as JSON", path);
    return out;
}

static char *metadata_text(const nsmeif_build_options *o, nsmkit_error *e)
{
    char *kernel_copy = strdup(o->kernel);
    char *custom = o->custom_metadata ? custom_metadata(o->custom_metadata, e) : NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f || !kernel_copy || (o->custom_metadata && !custom)) {
        if (f)
            fclose(f);
        free(text);
        free(kernel_copy);
        free(custom);
        if (!o->custom_metadata || custom)
            nsmkit_fail(e, "out of memory");
        return NULL;
    }
    const char *fields[][2] = {
        {"BuildTime", o->build_time ? o->build_time : default_build_time()},
        {"BuildTool", o->build_tool ? o->build_tool : "nsm-eif"},
        {"BuildToolVersion", o->build_tool_version ? o->build_tool_version : "0.1.0"},
        {"OperatingSystem", o->image_os ? o->image_os : "Generic Linux"},
        {"KernelVersion", o->image_kernel ? o->image_kernel : "Unkown version"},
    };
    fputs("{\"ImageName\":", f);
    json_string_serde(f, o->image_name ? o->image_name : basename(kernel_copy));
    fputs(",\"ImageVersion\":", f);
    json_string_serde(f, o->image_version ? o->image_version : "1.0");
    fputs(",\"BuildMetadata\":{", f);
    for (size_t k = 0; k < 5; k++) {
        fprintf(f, "%s\"%s\":", k ? "," : "", fields[k][0]);
        json_string_serde(f, fields[k][1]);
    }
    fprintf(f, "},\"DockerInfo\":null,\"CustomMetadata\":%s}", custom ? custom : "null");
    free(custom);
    free(kernel_copy);
    if (fclose(f) != 0) {
        free(text);
        nsmkit_fail(e, "out of memory");
        return NULL;
    }
    return text;
}

static int open_input(builder *b, const char *path, uint16_t type)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        nsmkit_fail(b->e, "%s: %s", path, fd < 0 ? strerror(errno) : "not a non-empty regular file");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    b->fds[b->count] = fd;
    b->sizes[b->count] = (uint64_t)st.st_size;
    b->types[b->count++] = type;
    return 0;
}

static void add_inline(builder *b, uint16_t type, const void *data, size_t len)
{
    b->fds[b->count] = -1;
    b->inline_data[b->count] = data;
    b->sizes[b->count] = len;
    b->types[b->count++] = type;
}

/* Streams section i's data (from its file, which must still have its size) to fn. */
typedef int (*chunk_fn)(void *ctx, const uint8_t *data, size_t len);
static int each_chunk(builder *b, unsigned i, chunk_fn fn, void *ctx)
{
    if (b->fds[i] < 0)
        return fn(ctx, b->inline_data[i], (size_t)b->sizes[i]);
    if (lseek(b->fds[i], 0, SEEK_SET) != 0)
        return nsmkit_fail(b->e, "seek: %s", strerror(errno));
    for (uint64_t done = 0; done < b->sizes[i];) {
        size_t want = b->sizes[i] - done > COPY_CHUNK ? COPY_CHUNK : (size_t)(b->sizes[i] - done);
        ssize_t got = read(b->fds[i], b->buf, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return nsmkit_fail(b->e, "an input changed size while the image was built");
        if (fn(ctx, b->buf, (size_t)got) != 0)
            return -1;
        done += (uint64_t)got;
    }
    return 0;
}

static int measure_chunk(void *ctx, const uint8_t *data, size_t len)
{
    return EVP_DigestUpdate(ctx, data, len) == 1 ? 0 : -1;
}

/* PCR0 of the kernel, cmdline and ramdisks (the signature needs it before the image exists;
 * the reader measures all three PCRs again from the file written). */
static int measure_pcr0(builder *b)
{
    EVP_MD_CTX *all = EVP_MD_CTX_new();
    uint8_t digest[48];
    unsigned len = 0;
    int rc = all && EVP_DigestInit_ex(all, EVP_sha384(), NULL) == 1 ? 0 : -1;
    for (unsigned i = 0; rc == 0 && i < b->count; i++)
        if (b->types[i] != NSMEIF_SECTION_METADATA)
            rc = each_chunk(b, i, measure_chunk, all);
    if (rc == 0 && (EVP_DigestFinal_ex(all, digest, &len) != 1 ||
                    nsmeif_pcr_extend(digest, b->pcr0) != 0))
        rc = nsmkit_fail(b->e, "SHA-384 failed");
    EVP_MD_CTX_free(all);
    return rc;
}

static int sign_image(builder *b)
{
    uint8_t *pem = NULL, *key_pem = NULL;
    size_t pem_len, key_len;
    nsmkit_p384_private *key = NULL;
    int rc = -1;
    if (nsmkit_file_read(b->o->signing_certificate, PEM_MAX, &pem, &pem_len, b->e) != 0 ||
        nsmkit_file_read(b->o->private_key, PEM_MAX, &key_pem, &key_len, b->e) != 0)
        goto out;
    if (nsmeif_load_private_key(key_pem, key_len, pem, pem_len, &key, b->e) != 0)
        goto out;
    rc = nsmeif_sign_pcr0(b->pcr0, pem, pem_len, key, b->o->nonce, &b->signature,
                          &b->signature_len, b->e);
out:
    nsmkit_p384_private_free(key);
    if (key_pem)
        nsmkit_wipe(key_pem, key_len);
    free(key_pem);
    free(pem);
    return rc;
}

typedef struct {
    int fd;
    uLong crc;
    nsmkit_error *e;
} write_ctx;

static int write_chunk(void *ctx, const uint8_t *data, size_t len)
{
    write_ctx *w = ctx;
    w->crc = crc32(w->crc, data, (uInt)len);
    while (len > 0) {
        ssize_t n = write(w->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return nsmkit_fail(w->e, "write: %s", n < 0 ? strerror(errno) : "no progress");
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void put_be(uint8_t *p, uint64_t v, size_t width)
{
    for (size_t i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

static int write_image(builder *b, int fd)
{
    uint8_t h[NSMEIF_HEADER_LEN] = {'.', 'e', 'i', 'f'};
    put_be(h + 4, NSMEIF_VERSION, 2);
    put_be(h + 6, b->o->aarch64 ? NSMEIF_FLAG_AARCH64 : 0, 2);
    put_be(h + 8, 1024ull * 1024 * 1024, 8); /* eif_utils' defaults */
    put_be(h + 16, 2, 8);
    put_be(h + 26, b->count, 2);
    uint64_t off = NSMEIF_HEADER_LEN;
    for (unsigned i = 0; i < b->count; i++) {
        put_be(h + 28 + 8 * i, off, 8);
        put_be(h + 28 + 256 + 8 * i, b->sizes[i], 8);
        off += NSMEIF_SECTION_HEADER_LEN + b->sizes[i];
    }
    write_ctx w = {fd, crc32(0, NULL, 0), b->e};
    /* the header with a zero CRC for now; the CRC covers all of it but the CRC field */
    if (write_chunk(&w, h, NSMEIF_HEADER_LEN) != 0)
        return -1;
    w.crc = crc32(crc32(0, NULL, 0), h, NSMEIF_HEADER_LEN - 4);
    for (unsigned i = 0; i < b->count; i++) {
        uint8_t sh[NSMEIF_SECTION_HEADER_LEN] = {0};
        put_be(sh, b->types[i], 2);
        put_be(sh + 4, b->sizes[i], 8);
        if (write_chunk(&w, sh, sizeof(sh)) != 0 || each_chunk(b, i, write_chunk, &w) != 0)
            return -1;
    }
    uint8_t crc[4];
    put_be(crc, w.crc, 4);
    if (pwrite(fd, crc, 4, 544) != 4)
        return nsmkit_fail(b->e, "write: %s", strerror(errno));
    return 0;
}

static int write_output(builder *b)
{
    size_t n = strlen(b->o->output);
    char *tmp = malloc(n + 8);
    if (!tmp)
        return nsmkit_fail(b->e, "out of memory");
    memcpy(tmp, b->o->output, n);
    memcpy(tmp + n, ".XXXXXX", 8);
    int fd = mkstemp(tmp);
    int rc = -1;
    if (fd < 0) {
        nsmkit_fail(b->e, "%s: %s", tmp, strerror(errno));
    } else if (write_image(b, fd) == 0) { /* (its message is set when it fails) */
        int closed = fchmod(fd, 0644) == 0 && fsync(fd) == 0 ? close(fd) : (close(fd), -1);
        fd = -1;
        if (closed != 0 || rename(tmp, b->o->output) != 0)
            nsmkit_fail(b->e, "%s: %s", b->o->output, strerror(errno));
        else
            rc = 0;
    }
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

static int collect_inputs(builder *b)
{
    const nsmeif_build_options *o = b->o;
    bool signing = o->signing_certificate || o->private_key;
    if (!o->kernel || !o->cmdline || !o->output || o->ramdisk_count == 0)
        return nsmkit_fail(b->e, "--kernel, --cmdline, --ramdisk and --output are required");
    if (signing && !(o->signing_certificate && o->private_key))
        return nsmkit_fail(b->e, "--signing-certificate and --private-key go together");
    if (o->ramdisk_count > NSMEIF_MAX_SECTIONS - 3 - (signing ? 1 : 0))
        return nsmkit_fail(b->e, "%zu ramdisks: an image holds 32 sections", o->ramdisk_count);
    if (strlen(o->cmdline) > NSMEIF_CMDLINE_MAX)
        return nsmkit_fail(b->e, "the cmdline is longer than %u bytes", NSMEIF_CMDLINE_MAX);
    if (open_input(b, o->kernel, NSMEIF_SECTION_KERNEL) != 0)
        return -1;
    add_inline(b, NSMEIF_SECTION_CMDLINE, o->cmdline, strlen(o->cmdline));
    if (!(b->metadata = metadata_text(o, b->e)))
        return -1;
    add_inline(b, NSMEIF_SECTION_METADATA, b->metadata, strlen(b->metadata));
    for (size_t i = 0; i < o->ramdisk_count; i++)
        if (open_input(b, o->ramdisks[i], NSMEIF_SECTION_RAMDISK) != 0)
            return -1;
    return 0;
}

nsmeif_code nsmeif_build(const nsmeif_build_options *options, nsmeif_image *image,
                         nsmkit_error *e)
{
    memset(image, 0, sizeof(*image));
    builder b = {.o = options, .e = e, .buf = malloc(COPY_CHUNK)};
    e->msg[0] = 0;
    nsmeif_code code = NSMEIF_ERR_USAGE;
    if (!b.buf) {
        code = nsmkit_fail_with(e, NSMEIF_ERR_NO_MEMORY, "out of memory");
    } else if (collect_inputs(&b) == 0) {
        code = NSMEIF_ERR_IO;
        bool signing = options->signing_certificate != NULL;
        if (signing && (measure_pcr0(&b) != 0 || sign_image(&b) != 0))
            code = NSMEIF_ERR_USAGE;
        else if (signing)
            add_inline(&b, NSMEIF_SECTION_SIGNATURE, b.signature, b.signature_len);
        if ((!signing || b.signature) && write_output(&b) == 0) {
            code = nsmeif_read(options->output, image, NULL, NULL);
            if (code != NSMEIF_ERR_OK)
                nsmkit_fail(e, "the image written does not read back: %s %s",
                            nsmeif_code_name(code), image->reason.msg);
        }
    }
    for (unsigned i = 0; i < b.count; i++)
        if (b.fds[i] >= 0)
            close(b.fds[i]);
    free(b.metadata);
    free(b.signature);
    free(b.buf);
    return code;
}
