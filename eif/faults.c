/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit eif: the fault table's images. Each starts as the parts nitro-cli writes (kernel,
 * cmdline, metadata, two ramdisks, the signature for signed rows), is changed in the model
 * (parts added, dropped, reordered, a gap), serialized with a table that matches, patched in
 * its bytes (header fields, the table, the file's length), and given a correct CRC-32 last,
 * except by crc_mismatch.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "nsmkit/eif_faults.h"

#include "eif_internal.h"

static const nsmeif_fault_info table[] = {
#define X(name, expected, is_signed, description) \
    {#name, NSMEIF_ERR_##expected, is_signed, description},
#include "nsmkit/eif_faults.def"
#undef X
};

const nsmeif_fault_info *nsmeif_fault_get(nsmeif_fault fault)
{
    return (unsigned)fault < NSMEIF_FAULT_COUNT ? &table[fault] : NULL;
}

nsmeif_fault nsmeif_fault_find(const char *name)
{
    for (unsigned i = 0; i < NSMEIF_FAULT_COUNT; i++)
        if (strcmp(table[i].name, name) == 0)
            return (nsmeif_fault)i;
    return NSMEIF_FAULT_COUNT;
}

int nsmeif_fault_load_key(const uint8_t *key_pem, size_t key_len, const uint8_t *cert_pem,
                          size_t cert_len, nsmkit_p384_private **key, nsmkit_error *e)
{
    return nsmeif_load_private_key(key_pem, key_len, cert_pem, cert_len, key, e);
}

/* ---- the model ---------------------------------------------------------------------------- */

#define MAX_PARTS 12

typedef struct {
    uint16_t type, flags;
    const uint8_t *data;
    size_t len;
} part;

typedef struct {
    part p[MAX_PARTS];
    unsigned n;
    unsigned gap_index; /* 16 zero bytes before this part (0: none) */
    uint8_t kernel[1024], ramdisk0[512], ramdisk1[256], big[NSMEIF_CMDLINE_MAX + 1];
    uint8_t *signature;
    size_t signature_len;
} model;

static const char cmdline[] = "reboot=k panic=30 pci=off nomodules console=ttyS0";
static const char cmdline_nul[] = "reboot=k panic=30\0 init=/bin/sh";
#define META_HEAD "{\"ImageName\":\"fault\",\"ImageVersion\":\"1.0\",\"BuildMetadata\":{"
#define META_BUILD "\"BuildTime\":\"2024-06-01T00:00:00+00:00\",\"BuildTool\":\"nsm-eif\"," \
                   "\"BuildToolVersion\":\"0.1.0\",\"OperatingSystem\":\"Generic Linux\","
static const char metadata[] = META_HEAD META_BUILD "\"KernelVersion\":\"6.1\"},"
                               "\"DockerInfo\":null,\"CustomMetadata\":null}";
static const char *metadata_variant(nsmeif_fault f)
{
    switch (f) {
    case NSMEIF_FAULT_sound_custom_metadata:
        return META_HEAD META_BUILD "\"KernelVersion\":\"6.1\"},\"DockerInfo\":null,"
                                    "\"CustomMetadata\":{\"team\":\"nsmkit\",\"build\":{\"z\":1,\"a\":2}}}";
    case NSMEIF_FAULT_metadata_not_json:
        return "ImageName: fault";
    case NSMEIF_FAULT_metadata_missing_field:
        return META_HEAD META_BUILD "\"Kernel\":\"6.1\"},\"DockerInfo\":null,\"CustomMetadata\":null}";
    case NSMEIF_FAULT_metadata_unknown_key:
        return META_HEAD META_BUILD "\"KernelVersion\":\"6.1\"},\"DockerInfo\":null,"
                                    "\"CustomMetadata\":null,\"Extra\":1}";
    case NSMEIF_FAULT_metadata_duplicate_key:
        return "{\"ImageName\":\"a\",\"ImageName\":\"fault\",\"ImageVersion\":\"1.0\","
               "\"BuildMetadata\":{" META_BUILD "\"KernelVersion\":\"6.1\"},\"DockerInfo\":null,"
               "\"CustomMetadata\":null}";
    case NSMEIF_FAULT_metadata_custom_array:
        return META_HEAD META_BUILD "\"KernelVersion\":\"6.1\"},\"DockerInfo\":null,"
                                    "\"CustomMetadata\":[1,2]}";
    default:
        return metadata;
    }
}

static void add(model *m, uint16_t type, const void *data, size_t len)
{
    if (m->n < MAX_PARTS)
        m->p[m->n++] = (part){type, 0, data, len};
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 8)) ^ seed);
}

/* The parts as nitro-cli writes them, with the model-level changes of the row. */
static void base_parts(model *m, nsmeif_fault f)
{
    fill(m->kernel, sizeof(m->kernel), 1);
    fill(m->ramdisk0, sizeof(m->ramdisk0), 2);
    fill(m->ramdisk1, sizeof(m->ramdisk1), 3);
    const char *meta = metadata_variant(f);
    const char *cmd = f == NSMEIF_FAULT_cmdline_nul ? cmdline_nul : cmdline;
    size_t cmd_len = f == NSMEIF_FAULT_cmdline_nul ? sizeof(cmdline_nul) - 1 : strlen(cmdline);
    if (f == NSMEIF_FAULT_cmdline_too_large) {
        memset(m->big, 'a', sizeof(m->big));
        cmd = (const char *)m->big;
        cmd_len = sizeof(m->big);
    }
    if (f == NSMEIF_FAULT_order_ramdisk_first)
        add(m, NSMEIF_SECTION_RAMDISK, m->ramdisk0, sizeof(m->ramdisk0));
    if (f == NSMEIF_FAULT_order_cmdline_first)
        add(m, NSMEIF_SECTION_CMDLINE, cmd, cmd_len);
    if (f != NSMEIF_FAULT_missing_kernel)
        add(m, NSMEIF_SECTION_KERNEL, m->kernel, sizeof(m->kernel));
    if (f == NSMEIF_FAULT_duplicate_kernel)
        add(m, NSMEIF_SECTION_KERNEL, m->kernel, sizeof(m->kernel));
    if (f != NSMEIF_FAULT_missing_cmdline && f != NSMEIF_FAULT_order_cmdline_first &&
        f != NSMEIF_FAULT_order_cmdline_after_ramdisk)
        add(m, NSMEIF_SECTION_CMDLINE, cmd, cmd_len);
    if (f == NSMEIF_FAULT_duplicate_cmdline)
        add(m, NSMEIF_SECTION_CMDLINE, cmd, cmd_len);
    if (f != NSMEIF_FAULT_missing_metadata)
        add(m, NSMEIF_SECTION_METADATA, meta, strlen(meta));
    if (f == NSMEIF_FAULT_duplicate_metadata)
        add(m, NSMEIF_SECTION_METADATA, meta, strlen(meta));
    if (f != NSMEIF_FAULT_missing_ramdisk && f != NSMEIF_FAULT_order_ramdisk_first)
        add(m, NSMEIF_SECTION_RAMDISK, m->ramdisk0, sizeof(m->ramdisk0));
    if (f == NSMEIF_FAULT_empty_ramdisk)
        add(m, NSMEIF_SECTION_RAMDISK, m->ramdisk1, 0);
    else if (f != NSMEIF_FAULT_missing_ramdisk && f != NSMEIF_FAULT_sound_one_ramdisk)
        add(m, NSMEIF_SECTION_RAMDISK, m->ramdisk1, sizeof(m->ramdisk1));
    if (f == NSMEIF_FAULT_order_cmdline_after_ramdisk)
        add(m, NSMEIF_SECTION_CMDLINE, cmd, cmd_len);
    if (f == NSMEIF_FAULT_section_type_0 || f == NSMEIF_FAULT_section_type_6)
        add(m, f == NSMEIF_FAULT_section_type_0 ? 0 : 6, m->ramdisk1, 16);
    if (f == NSMEIF_FAULT_section_flags)
        m->p[m->n - 1].flags = 1;
    if (f == NSMEIF_FAULT_offset_gap)
        m->gap_index = m->n - 1;
}

/* ---- signatures ----------------------------------------------------------------------------- */

static int measured_pcr0(const model *m, uint8_t pcr0[NSMEIF_PCR_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t digest[48];
    unsigned len = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha384(), NULL) == 1;
    for (unsigned i = 0; ok && i < m->n; i++)
        if (m->p[i].type == NSMEIF_SECTION_KERNEL || m->p[i].type == NSMEIF_SECTION_CMDLINE ||
            m->p[i].type == NSMEIF_SECTION_RAMDISK)
            ok = EVP_DigestUpdate(ctx, m->p[i].data, m->p[i].len) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, digest, &len) == 1 && nsmeif_pcr_extend(digest, pcr0) == 0;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} out_buf;

static void put(out_buf *o, const void *data, size_t len)
{
    if (o->len + len <= o->cap)
        memcpy(o->buf + o->len, data, len);
    o->len += len;
}

static void put_head(out_buf *o, unsigned major, uint64_t v)
{
    uint8_t h[9];
    put(o, h, nsmeif_cbor_head(h, major, v));
}

static void put_text(out_buf *o, const char *s)
{
    put_head(o, 3, strlen(s));
    put(o, s, strlen(s));
}

/* bytes as serde_cbor's integer array, or (as_bstr) as a byte string */
static void put_bytes(out_buf *o, const uint8_t *data, size_t len, bool as_bstr)
{
    put_head(o, as_bstr ? 2 : 4, len);
    for (size_t i = 0; i < len; i++) {
        if (as_bstr)
            put(o, data + i, 1);
        else
            put_head(o, 0, data[i]);
    }
}

/* The COSE_Sign1 of a row: payload over pcr0 (or another index), its tag and header. */
static int cose_for(nsmeif_fault f, const nsmeif_fault_signer *s, const uint8_t pcr0[48],
                    out_buf *o, nsmkit_error *e)
{
    uint8_t payload[NSMEIF_PCR_PAYLOAD_MAX], value[NSMEIF_PCR_LEN], digest[48], rs[96];
    memcpy(value, pcr0, sizeof(value));
    if (f == NSMEIF_FAULT_sig_other_pcr0)
        value[0] ^= 1;
    size_t len = nsmeif_pcr_payload(f == NSMEIF_FAULT_sig_index_1 ? 1 : 0, value, payload);
    if (nsmeif_cose_digest(payload, len, digest) != 0 ||
        nsmkit_p384_sign(s->key, digest, s->nonce, rs) != NSMKIT_P384_OK)
        return nsmkit_fail(e, "signing failed");
    if (f == NSMEIF_FAULT_sig_invalid)
        rs[10] ^= 0x40;
    if (f == NSMEIF_FAULT_sound_cose_tag18 || f == NSMEIF_FAULT_sig_cose_tag17)
        put_head(o, 6, f == NSMEIF_FAULT_sig_cose_tag17 ? 17 : 18);
    static const uint8_t es384[] = {0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0};
    static const uint8_t es256[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0};
    if (f == NSMEIF_FAULT_sig_cose_es256)
        put(o, es256, sizeof(es256));
    else
        put(o, es384, sizeof(es384));
    put_head(o, 2, len);
    put(o, payload, len);
    put_head(o, 2, sizeof(rs));
    put(o, rs, sizeof(rs));
    return 0;
}

static int signature_for(nsmeif_fault f, const nsmeif_fault_signer *s, const model *m,
                         uint8_t **out, size_t *out_len, nsmkit_error *e)
{
    uint8_t pcr0[NSMEIF_PCR_LEN], cose_bytes[512];
    if (!s || !s->key || !s->cert_pem)
        return nsmkit_fail(e, "a signed row needs a signer");
    out_buf cose = {cose_bytes, 0, sizeof(cose_bytes)};
    if (measured_pcr0(m, pcr0) != 0 || cose_for(f, s, pcr0, &cose, e) != 0)
        return -1;
    if (f == NSMEIF_FAULT_sig_not_cbor) {
        *out = malloc(16);
        if (*out)
            memset(*out, 0xff, 16);
        *out_len = 16;
        return *out ? 0 : nsmkit_fail(e, "out of memory");
    }
    static const char garbage[] = "not a certificate";
    const uint8_t *pem = f == NSMEIF_FAULT_sig_cert_garbage ? (const uint8_t *)garbage : s->cert_pem;
    size_t pem_len = f == NSMEIF_FAULT_sig_cert_garbage ? sizeof(garbage) - 1 : s->cert_len;
    bool bstr = f == NSMEIF_FAULT_sig_bytestrings;
    out_buf o = {NULL, 0, 0};
    for (int pass = 0; pass < 2; pass++) { /* measure, then write */
        o.len = 0;
        unsigned entries = f == NSMEIF_FAULT_sig_two ? 2 : f == NSMEIF_FAULT_sig_empty ? 0 : 1;
        put_head(&o, 4, entries);
        for (unsigned k = 0; k < entries; k++) {
            put_head(&o, 5, 2);
            bool reversed = f == NSMEIF_FAULT_sig_key_order;
            put_text(&o, reversed ? "signature" : "signing_certificate");
            put_bytes(&o, reversed ? cose.buf : pem, reversed ? cose.len : pem_len, bstr);
            put_text(&o, reversed ? "signing_certificate" : "signature");
            put_bytes(&o, reversed ? pem : cose.buf, reversed ? pem_len : cose.len, bstr);
        }
        if (pass == 0 && !(o.buf = malloc(o.cap = o.len)))
            return nsmkit_fail(e, "out of memory");
    }
    *out = o.buf;
    *out_len = o.len;
    return 0;
}

/* ---- bytes ------------------------------------------------------------------------------------ */

static void put_be(uint8_t *p, uint64_t v, size_t width)
{
    for (size_t i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

static uint8_t *serialize(const model *m, size_t *len)
{
    size_t total = NSMEIF_HEADER_LEN + (m->gap_index ? 16 : 0);
    for (unsigned i = 0; i < m->n; i++)
        total += NSMEIF_SECTION_HEADER_LEN + m->p[i].len;
    uint8_t *b = calloc(1, total + 64); /* room for trailing_bytes */
    if (!b)
        return NULL;
    memcpy(b, ".eif", 4);
    put_be(b + 4, NSMEIF_VERSION, 2);
    put_be(b + 8, 512ull << 20, 8);
    put_be(b + 16, 2, 8);
    put_be(b + 26, m->n, 2);
    size_t pos = NSMEIF_HEADER_LEN;
    for (unsigned i = 0; i < m->n; i++) {
        if (m->gap_index && i == m->gap_index)
            pos += 16;
        put_be(b + 28 + 8 * i, pos, 8);
        put_be(b + 28 + 256 + 8 * i, m->p[i].len, 8);
        put_be(b + pos, m->p[i].type, 2);
        put_be(b + pos + 2, m->p[i].flags, 2);
        put_be(b + pos + 4, m->p[i].len, 8);
        if (m->p[i].len)
            memcpy(b + pos + 12, m->p[i].data, m->p[i].len);
        pos += 12 + m->p[i].len;
    }
    *len = total;
    return b;
}

/* Offset of section i's header (from the table just written). */
static size_t section_at(const uint8_t *b, unsigned i)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < 8; k++)
        v = (v << 8) | b[28 + 8 * i + k];
    return (size_t)v;
}

static void patch(nsmeif_fault f, uint8_t *b, size_t *len, unsigned n)
{
    switch (f) {
    case NSMEIF_FAULT_sound_aarch64: put_be(b + 6, NSMEIF_FLAG_AARCH64, 2); break;
    case NSMEIF_FAULT_bad_magic: memcpy(b, ".EIF", 4); break;
    case NSMEIF_FAULT_version_3: put_be(b + 4, 3, 2); break;
    case NSMEIF_FAULT_version_5: put_be(b + 4, 5, 2); break;
    case NSMEIF_FAULT_header_flags_2: put_be(b + 6, 2, 2); break;
    case NSMEIF_FAULT_section_count_0: put_be(b + 26, 0, 2); break;
    case NSMEIF_FAULT_section_count_33: put_be(b + 26, 33, 2); break;
    case NSMEIF_FAULT_header_reserved: put_be(b + 24, 1, 2); break;
    case NSMEIF_FAULT_header_unused: put_be(b + 540, 1, 4); break;
    case NSMEIF_FAULT_table_tail: put_be(b + 28 + 8 * n, *len, 8); break;
    case NSMEIF_FAULT_offsets_swapped: { /* the two ramdisks' entries */
        uint8_t tmp[8];
        for (unsigned t = 0; t < 2; t++) {
            uint8_t *x = b + 28 + 256 * t + 8 * (n - 2), *y = x + 8;
            memcpy(tmp, x, 8), memcpy(x, y, 8), memcpy(y, tmp, 8);
        }
        break;
    }
    case NSMEIF_FAULT_offset_overlap: put_be(b + 28 + 8 * (n - 1), section_at(b, n - 1) - 8, 8); break;
    case NSMEIF_FAULT_table_size_past_end:
        put_be(b + 28 + 256 + 8 * (n - 1), 1ull << 63, 8);
        put_be(b + section_at(b, n - 1) + 4, 1ull << 63, 8);
        break;
    case NSMEIF_FAULT_file_truncated: *len -= 10; break;
    case NSMEIF_FAULT_trailing_bytes: *len += 12; break;
    case NSMEIF_FAULT_size_mismatch: {
        size_t at = section_at(b, n - 1);
        put_be(b + at + 4, (uint64_t)(*len - at - 12 - 1), 8);
        break;
    }
    default: break;
    }
}

int nsmeif_fault_make(nsmeif_fault f, const nsmeif_fault_signer *signer, uint8_t **out,
                      size_t *out_len, nsmkit_error *e)
{
    const nsmeif_fault_info *info = nsmeif_fault_get(f);
    if (!info)
        return nsmkit_fail(e, "no fault %d", (int)f);
    model *m = calloc(1, sizeof(*m));
    if (!m)
        return nsmkit_fail(e, "out of memory");
    base_parts(m, f);
    int rc = 0;
    if (info->is_signed) {
        rc = signature_for(f, signer, m, &m->signature, &m->signature_len, e);
        if (rc == 0 && f == NSMEIF_FAULT_order_signature_inside) { /* between the ramdisks */
            m->p[m->n] = m->p[m->n - 1];
            m->p[m->n - 1] = (part){NSMEIF_SECTION_SIGNATURE, 0, m->signature, m->signature_len};
            m->n++;
        } else if (rc == 0) {
            add(m, NSMEIF_SECTION_SIGNATURE, m->signature, m->signature_len);
            if (f == NSMEIF_FAULT_duplicate_signature)
                add(m, NSMEIF_SECTION_SIGNATURE, m->signature, m->signature_len);
        }
    }
    if (rc == 0 && f == NSMEIF_FAULT_sound_spec_order) { /* the metadata (part 2) last */
        part meta = m->p[2];
        memmove(&m->p[2], &m->p[3], (m->n - 3) * sizeof(part));
        m->p[m->n - 1] = meta;
    }
    size_t len = 0;
    uint8_t *b = rc == 0 ? serialize(m, &len) : NULL;
    if (rc == 0 && !b)
        rc = nsmkit_fail(e, "out of memory");
    if (b) {
        patch(f, b, &len, m->n);
        uLong crc = crc32(crc32(0, NULL, 0), b, NSMEIF_HEADER_LEN - 4);
        crc = crc32(crc, b + NSMEIF_HEADER_LEN, (uInt)(len - NSMEIF_HEADER_LEN));
        put_be(b + 544, crc ^ (f == NSMEIF_FAULT_crc_mismatch ? 1u : 0u), 4);
        if (f == NSMEIF_FAULT_header_truncated)
            len = 100;
        *out = b;
        *out_len = len;
    }
    free(m->signature);
    free(m);
    return rc;
}
