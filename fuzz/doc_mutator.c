/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The document mutator (doc_mutator.h).
 *
 * Model: a document is cut into spans of encoded CBOR - the envelope's four items, the
 * payload map's keys and values, and inside them the PCR map's and the cabundle's entries.
 * A mutation replaces some spans with new bytes (kept in a per-call arena), and the document
 * is encoded again around them. Spans that were not touched keep their original bytes.
 *
 * Ownership: spans borrow either the input or the arena; the arena is reset at the start of
 * each call. OpenSSL objects live inside one function each and are freed there; the issuer
 * keys and the spare keys are loaded once and kept for the life of the process.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/det_sign.h"
#include "nsmkit/p384.h"
#include "nsmkit/reader.h"
#include "doc_mutator.h"
#include "fixture.h"

#define MAX_ENTRIES 48      /* payload keys, PCRs or cabundle entries handled */
#define MAX_DEPTH 16        /* nesting the span walker follows */
#define ARENA_SIZE (512 * 1024)
#define FIELD_MAX 2048      /* largest field a byte mutation grows to */

typedef struct {
    const uint8_t *p;
    size_t n;
} span;

typedef struct {
    span key, value; /* value only, for arrays */
} entry;

typedef struct {
    entry e[MAX_ENTRIES];
    size_t count;
    bool indefinite;
} container;

typedef struct {
    bool tagged;
    span protected_item, unprotected, payload_item, signature_item;
    span protected_content, payload;     /* contents when the items are byte strings */
    bool have_payload;
    container map;                       /* the payload map, when it is one */
    bool have_map;
} document;

/* ---- per-call state ----------------------------------------------------------------------- */

static uint8_t arena[ARENA_SIZE];
static size_t arena_used;
static uint64_t rng;

static uint64_t next(void)
{
    /* xorshift64*: cheap, and seeded by libFuzzer so a mutation replays from its seed */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

static size_t pick(size_t n)
{
    return n ? (size_t)(next() % n) : 0;
}

static uint8_t *arena_alloc(size_t n)
{
    if (n > ARENA_SIZE - arena_used)
        return NULL;
    uint8_t *p = arena + arena_used;
    arena_used += n;
    return p;
}

/* Moves what a buffer holds into the arena (the buffer is freed). */
static bool arena_take(nsmkit_buf *b, span *out)
{
    bool ok = !b->err;
    uint8_t *p = ok ? arena_alloc(b->len) : NULL;
    if (p) {
        memcpy(p, b->data, b->len);
        *out = (span){p, b->len};
    }
    nsmkit_buf_free(b);
    return p != NULL;
}

/* ---- walking encoded CBOR ------------------------------------------------------------------- */

static bool skip_item(nsmkit_reader *r, int depth)
{
    nsmkit_cbor_head h;
    const uint8_t *unused;
    if (depth > MAX_DEPTH || !nsmkit_cbor_read_head(r, &h))
        return false;
    switch (h.major) {
    case NSMKIT_CBOR_BYTES:
    case NSMKIT_CBOR_TEXT:
        if (h.indefinite) {
            for (;;) {
                uint8_t b;
                if (!nsmkit_reader_peek_u8(r, &b))
                    return false;
                if (b == 0xff)
                    return nsmkit_reader_u8(r, &b);
                if (!skip_item(r, depth + 1))
                    return false;
            }
        }
        return nsmkit_reader_bytes(r, h.argument, &unused);
    case NSMKIT_CBOR_ARRAY:
    case NSMKIT_CBOR_MAP: {
        uint64_t per = h.major == NSMKIT_CBOR_MAP ? 2 : 1;
        if (h.indefinite) {
            for (;;) {
                uint8_t b;
                if (!nsmkit_reader_peek_u8(r, &b))
                    return false;
                if (b == 0xff)
                    return nsmkit_reader_u8(r, &b);
                for (uint64_t k = 0; k < per; k++)
                    if (!skip_item(r, depth + 1))
                        return false;
            }
        }
        if (h.argument > nsmkit_reader_remaining(r))
            return false; /* every item takes a byte at least */
        for (uint64_t i = 0; i < h.argument * per; i++)
            if (!skip_item(r, depth + 1))
                return false;
        return true;
    }
    case NSMKIT_CBOR_TAG:
        return skip_item(r, depth + 1);
    default:
        return true; /* integers and simple values: the head is the item */
    }
}

/* The next item of r as a span. */
static bool next_item(nsmkit_reader *r, span *out)
{
    size_t start = r->pos;
    if (!skip_item(r, 0))
        return false;
    *out = (span){r->buf + start, r->pos - start};
    return true;
}

/* The content of a definite byte string item. */
static bool bytes_content(span item, span *out)
{
    nsmkit_reader r;
    nsmkit_cbor_head h;
    nsmkit_reader_init(&r, item.p, item.n);
    if (!nsmkit_cbor_read_head(&r, &h) || h.major != NSMKIT_CBOR_BYTES || h.indefinite ||
        h.argument != nsmkit_reader_remaining(&r))
        return false;
    *out = (span){item.p + r.pos, (size_t)h.argument};
    return true;
}

/* A map's pairs or an array's elements. */
static bool parse_container(span item, uint8_t major, container *c)
{
    nsmkit_reader r;
    nsmkit_cbor_head h;
    nsmkit_reader_init(&r, item.p, item.n);
    if (!nsmkit_cbor_read_head(&r, &h) || h.major != major)
        return false;
    c->indefinite = h.indefinite;
    c->count = 0;
    for (;;) {
        if (h.indefinite) {
            uint8_t b;
            if (!nsmkit_reader_peek_u8(&r, &b))
                return false;
            if (b == 0xff)
                break;
        } else if (c->count == h.argument) {
            break;
        }
        if (c->count == MAX_ENTRIES)
            return false;
        entry *e = &c->e[c->count++];
        if (major == NSMKIT_CBOR_MAP && !next_item(&r, &e->key))
            return false;
        if (!next_item(&r, &e->value))
            return false;
    }
    return true;
}

static bool encode_container(const container *c, uint8_t major, span *out)
{
    nsmkit_buf b;
    nsmkit_buf_init(&b, NSMV_DOC_MAX);
    if (c->indefinite)
        nsmkit_buf_u8(&b, (uint8_t)(major << 5 | 31));
    else
        nsmkit_cbor_put_head(&b, major, c->count);
    for (size_t i = 0; i < c->count; i++) {
        if (major == NSMKIT_CBOR_MAP)
            nsmkit_buf_append(&b, c->e[i].key.p, c->e[i].key.n);
        nsmkit_buf_append(&b, c->e[i].value.p, c->e[i].value.n);
    }
    if (c->indefinite)
        nsmkit_buf_u8(&b, 0xff);
    return arena_take(&b, out);
}

static bool parse_document(const uint8_t *data, size_t size, document *d)
{
    nsmkit_reader r;
    nsmkit_cbor_head h;
    memset(d, 0, sizeof(*d));
    nsmkit_reader_init(&r, data, size);
    if (!nsmkit_cbor_read_head(&r, &h))
        return false;
    if (h.major == NSMKIT_CBOR_TAG) {
        d->tagged = true;
        if (!nsmkit_cbor_read_head(&r, &h))
            return false;
    }
    if (h.major != NSMKIT_CBOR_ARRAY || h.indefinite || h.argument != 4)
        return false;
    if (!next_item(&r, &d->protected_item) || !next_item(&r, &d->unprotected) ||
        !next_item(&r, &d->payload_item) || !next_item(&r, &d->signature_item))
        return false;
    (void)bytes_content(d->protected_item, &d->protected_content);
    d->have_payload = bytes_content(d->payload_item, &d->payload);
    d->have_map = d->have_payload &&
                  parse_container(d->payload, NSMKIT_CBOR_MAP, &d->map);
    return true;
}

/* ---- new items ----------------------------------------------------------------------------- */

static bool new_bytes(uint8_t major, const uint8_t *p, size_t n, span *out)
{
    nsmkit_buf b;
    nsmkit_buf_init(&b, NSMV_DOC_MAX);
    nsmkit_cbor_put_head(&b, major, n);
    nsmkit_buf_append(&b, p, n);
    return arena_take(&b, out);
}

static bool new_uint(uint64_t v, span *out)
{
    nsmkit_buf b;
    nsmkit_buf_init(&b, 16);
    nsmkit_cbor_put_uint(&b, v);
    return arena_take(&b, out);
}

static bool new_text(const char *text, span *out)
{
    return new_bytes(NSMKIT_CBOR_TEXT, (const uint8_t *)text, strlen(text), out);
}

/* The content of a definite byte or text string (any other item: empty). */
static span string_content(span item, uint8_t *major)
{
    nsmkit_reader r;
    nsmkit_cbor_head h;
    nsmkit_reader_init(&r, item.p, item.n);
    *major = 0xff;
    if (!nsmkit_cbor_read_head(&r, &h) ||
        (h.major != NSMKIT_CBOR_BYTES && h.major != NSMKIT_CBOR_TEXT) || h.indefinite ||
        h.argument != nsmkit_reader_remaining(&r))
        return (span){item.p, 0};
    *major = h.major;
    return (span){item.p + r.pos, (size_t)h.argument};
}

/* libFuzzer's byte mutations on a copy of in, as a string of the given major type. */
static bool mutate_string(span in, uint8_t major, span *out)
{
    size_t room = in.n * 2 + 64;
    if (room > FIELD_MAX)
        room = FIELD_MAX > in.n ? FIELD_MAX : in.n;
    uint8_t *tmp = arena_alloc(room);
    if (!tmp)
        return false;
    memcpy(tmp, in.p, in.n);
    size_t n = LLVMFuzzerMutate(tmp, in.n, room);
    return new_bytes(major, tmp, n, out);
}

/* A replacement of any type, for type confusion. */
static bool other_type(span *out)
{
    static const uint8_t items[][3] = {
        {1, 0xf6}, {1, 0xf5}, {1, 0xf7}, {1, 0x00}, {1, 0x20}, {1, 0x40},
        {1, 0x60}, {1, 0x80}, {1, 0xa0}, {2, 0xc0, 0x00}, {2, 0x41, 0x00},
    };
    size_t i = pick(sizeof(items) / sizeof(items[0]));
    uint8_t *p = arena_alloc(items[i][0]);
    if (!p)
        return false;
    memcpy(p, items[i] + 1, items[i][0]);
    *out = (span){p, items[i][0]};
    return true;
}

static uint64_t interesting_uint(void)
{
    static const int64_t time_deltas_ms[] = {0, -1, 1, -300000, 300001, -10800000, 10800000,
                                             -60000, 61000};
    switch (pick(6)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return UINT64_MAX - pick(2);
    case 3: return (uint64_t)1 << pick(64);
    case 4: return FUZZ_SIM_TIME_MS +
                   (uint64_t)time_deltas_ms[pick(sizeof(time_deltas_ms) / sizeof(time_deltas_ms[0]))];
    default: return next();
    }
}

/* ---- certificates --------------------------------------------------------------------------- */

static EVP_PKEY *issuer_keys[4]; /* root, regional, zonal, instance (the fixture's order) */
static EVP_PKEY *spare_p384, *spare_p256;

/* Every private key in a PEM file of the fixture PKI (root.key; intermediates.pem holds a
 * key and a certificate per tier). */
static size_t load_pem_keys(const char *name, EVP_PKEY **keys, size_t room)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", fuzz_pki_dir(), name);
    FILE *f = fopen(path, "re");
    size_t n = 0;
    if (!f)
        return 0;
    while (n < room) {
        EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL); /* skips other PEM blocks */
        if (!k)
            break;
        keys[n++] = k;
    }
    fclose(f);
    ERR_clear_error();
    return n;
}

/* The issuer keys in cabundle order, matched by public key against the chain the fixture
 * leaf was issued under (so a PKI that re-issued its tiers in memory is caught here, not
 * by certificates that silently never verify). */
static void load_keys(void)
{
    EVP_PKEY *found[1 + NSMCA_MAX_TIERS];
    if (issuer_keys[0])
        return;
    size_t n = load_pem_keys("root.key", found, 1);
    n += load_pem_keys("intermediates.pem", found + n, NSMCA_MAX_TIERS);
    const nsmca_leaf *leaf = fuzz_leaf();
    if (nsmca_leaf_bundle_count(leaf) != 4)
        fuzz_fail("doc_mutator", "the fixture PKI does not have three intermediates");
    for (unsigned i = 0; i < 4; i++) {
        size_t len;
        const unsigned char *der = nsmca_leaf_bundle_der(leaf, i, &len);
        X509 *cert = d2i_X509(NULL, &der, (long)len);
        for (size_t k = 0; cert && k < n && !issuer_keys[i]; k++)
            if (X509_check_private_key(cert, found[k]) == 1)
                issuer_keys[i] = found[k];
        X509_free(cert);
        if (!issuer_keys[i])
            fuzz_fail("doc_mutator", "no fixture key for a tier of the leaf's chain");
    }
    ERR_clear_error();
    for (size_t k = 0; k < n; k++) {
        bool used = false;
        for (unsigned i = 0; i < 4; i++)
            used = used || issuer_keys[i] == found[k];
        if (!used)
            EVP_PKEY_free(found[k]);
    }
    spare_p384 = EVP_EC_gen("P-384");
    spare_p256 = EVP_EC_gen("P-256");
    if (!spare_p384 || !spare_p256)
        fuzz_fail("doc_mutator", "cannot generate the spare keys");
}

static void set_time(ASN1_TIME *t, int64_t unix_s)
{
    ASN1_TIME_set(t, (time_t)unix_s);
}

static void replace_ext(X509 *x, int nid, const char *value)
{
    int at = X509_get_ext_by_NID(x, nid, -1);
    if (at >= 0)
        X509_EXTENSION_free(X509_delete_ext(x, at));
    if (!value)
        return;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    if (ext) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
}

/* One change to a certificate, then signed again by issuer (unless the change is the
 * signature). position: 0 the root slot, 1..3 the intermediates, 4 the leaf. */
static bool mutate_certificate(span der, int position, span *out)
{
    static const int64_t t0 = (int64_t)FUZZ_VERIFY_TIME_S;
    static const int64_t times[] = {0, 1, -1, 3600, -3600, 10800, -10800, 86400 * 400,
                                    -86400 * 400};
    load_keys();
    if (pick(8) == 0) { /* DER bytes, not a certificate change: the parser's checks */
        uint8_t major;
        span item;
        if (!mutate_string(der, NSMKIT_CBOR_BYTES, &item))
            return false;
        *out = string_content(item, &major);
        return true;
    }
    const unsigned char *p = der.p;
    X509 *x = d2i_X509(NULL, &p, (long)der.n);
    if (!x)
        return false;
    EVP_PKEY *signer = issuer_keys[position >= 4 ? 3 : position == 0 ? 0 : position - 1];
    const EVP_MD *md = EVP_sha384();
    bool sign = pick(8) != 0;
    size_t nt = sizeof(times) / sizeof(times[0]);
    switch (pick(12)) {
    case 0: set_time(X509_getm_notBefore(x), t0 + times[pick(nt)]); break;
    case 1: set_time(X509_getm_notAfter(x), t0 + times[pick(nt)]); break;
    case 2: replace_ext(x, NID_basic_constraints, pick(2) ? "critical,CA:TRUE" : "CA:FALSE"); break;
    case 3: replace_ext(x, NID_basic_constraints, pick(2) ? NULL : "critical,CA:TRUE,pathlen:0"); break;
    case 4: {
        static const char *const usages[] = {NULL, "critical,digitalSignature",
                                             "critical,keyCertSign,cRLSign", "keyEncipherment"};
        replace_ext(x, NID_key_usage, usages[pick(4)]);
        break;
    }
    case 5: X509_set_pubkey(x, pick(2) ? spare_p384 : spare_p256); break;
    case 6: md = pick(2) ? EVP_sha256() : EVP_sha512(); break;
    case 7: {
        X509_NAME *name = X509_NAME_dup(X509_get_subject_name(x));
        if (name) {
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       (const unsigned char *)"mutated", -1, -1, 0);
            X509_set_subject_name(x, name);
            X509_NAME_free(name);
        }
        break;
    }
    case 8: {
        X509_NAME *name = X509_NAME_dup(X509_get_issuer_name(x));
        if (name) {
            X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                       (const unsigned char *)"other", -1, -1, 0);
            X509_set_issuer_name(x, name);
            X509_NAME_free(name);
        }
        break;
    }
    case 9: ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), next()); break;
    case 10: X509_set_version(x, pick(3)); break;
    default: signer = issuer_keys[pick(4)]; break; /* signed by the wrong tier */
    }
    if (sign && !X509_sign(x, signer, md)) {
        X509_free(x);
        return false;
    }
    unsigned char *enc = NULL;
    int len = i2d_X509(x, &enc);
    X509_free(x);
    uint8_t *dst = len > 0 ? arena_alloc((size_t)len) : NULL;
    if (dst)
        memcpy(dst, enc, (size_t)len);
    OPENSSL_free(enc);
    if (!dst)
        return false;
    *out = (span){dst, (size_t)len};
    return true;
}

/* ---- the payload -------------------------------------------------------------------------- */

static const char *const known_keys[] = {"module_id", "digest", "timestamp", "pcrs",
                                         "certificate", "cabundle", "public_key",
                                         "user_data", "nonce", "nitrotpm_pcrs"};
#define KNOWN_KEYS (sizeof(known_keys) / sizeof(known_keys[0]))

static bool key_is(span key, const char *name)
{
    uint8_t major;
    span s = string_content(key, &major);
    return major == NSMKIT_CBOR_TEXT && s.n == strlen(name) && memcmp(s.p, name, s.n) == 0;
}

static entry *find_key(container *map, const char *name)
{
    for (size_t i = 0; i < map->count; i++)
        if (key_is(map->e[i].key, name))
            return &map->e[i];
    return NULL;
}

static bool mutate_pcrs(span value, span *out)
{
    container c;
    if (!parse_container(value, NSMKIT_CBOR_MAP, &c) || c.count == 0)
        return other_type(out);
    size_t i = pick(c.count);
    switch (pick(6)) {
    case 0: /* a PCR's value */ {
        uint8_t major;
        span s = string_content(c.e[i].value, &major);
        if (!mutate_string(s, major == 0xff ? NSMKIT_CBOR_BYTES : major, &c.e[i].value))
            return false;
        break;
    }
    case 1: /* its index */
        if (!new_uint(pick(3) ? pick(40) : interesting_uint(), &c.e[i].key))
            return false;
        break;
    case 2: /* one fewer */
        c.e[i] = c.e[--c.count];
        break;
    case 3: /* one more (maybe a duplicate index) */
        if (c.count < MAX_ENTRIES) {
            entry copy = c.e[pick(c.count)];
            c.e[c.count++] = copy;
        }
        break;
    case 4: /* type confusion in the key or the value */
        if (!other_type(pick(2) ? &c.e[i].key : &c.e[i].value))
            return false;
        break;
    default: /* the encoding */
        c.indefinite = !c.indefinite;
        break;
    }
    return encode_container(&c, NSMKIT_CBOR_MAP, out);
}

static bool mutate_cabundle(span value, span *out)
{
    container c;
    if (!parse_container(value, NSMKIT_CBOR_ARRAY, &c) || c.count == 0)
        return other_type(out);
    size_t i = pick(c.count);
    switch (pick(6)) {
    case 0:
    case 1: { /* a certificate */
        uint8_t major;
        span der = string_content(c.e[i].value, &major), changed;
        if (major != NSMKIT_CBOR_BYTES || !mutate_certificate(der, (int)i, &changed) ||
            !new_bytes(NSMKIT_CBOR_BYTES, changed.p, changed.n, &c.e[i].value))
            return false;
        break;
    }
    case 2: /* a tier missing */
        memmove(&c.e[i], &c.e[i + 1], (c.count - i - 1) * sizeof(entry));
        c.count--;
        break;
    case 3: { /* two tiers swapped */
        size_t j = pick(c.count);
        entry t = c.e[i];
        c.e[i] = c.e[j];
        c.e[j] = t;
        break;
    }
    case 4: /* a tier twice */
        if (c.count < MAX_ENTRIES)
            c.e[c.count++] = c.e[i];
        break;
    default:
        if (!other_type(&c.e[i].value))
            return false;
        break;
    }
    return encode_container(&c, NSMKIT_CBOR_ARRAY, out);
}

/* The fixture leaf and its chain instead of the document's (documents made elsewhere have
 * leaves whose keys the mutator does not hold). */
static bool adopt_fixture_chain(container *map)
{
    const nsmca_leaf *leaf = fuzz_leaf();
    entry *cert = find_key(map, "certificate"), *bundle = find_key(map, "cabundle");
    size_t len;
    const uint8_t *der = nsmca_leaf_der(leaf, &len);
    if (cert && !new_bytes(NSMKIT_CBOR_BYTES, der, len, &cert->value))
        return false;
    if (bundle) {
        nsmkit_buf b;
        nsmkit_buf_init(&b, NSMV_DOC_MAX);
        unsigned n = nsmca_leaf_bundle_count(leaf);
        nsmkit_cbor_put_head(&b, NSMKIT_CBOR_ARRAY, n);
        for (unsigned i = 0; i < n; i++) {
            der = nsmca_leaf_bundle_der(leaf, i, &len);
            nsmkit_cbor_put_bytes(&b, der, len);
        }
        if (!arena_take(&b, &bundle->value))
            return false;
    }
    return true;
}

static bool leaf_is_fixture(container *map)
{
    entry *cert = find_key(map, "certificate");
    if (!cert)
        return true; /* nothing to adopt */
    uint8_t major;
    span s = string_content(cert->value, &major);
    const unsigned char *p = s.p;
    X509 *x = major == NSMKIT_CBOR_BYTES ? d2i_X509(NULL, &p, (long)s.n) : NULL;
    size_t len;
    const uint8_t *der = nsmca_leaf_der(fuzz_leaf(), &len);
    const unsigned char *q = der;
    X509 *ours = d2i_X509(NULL, &q, (long)len);
    bool same = x && ours && EVP_PKEY_eq(X509_get0_pubkey(x), X509_get0_pubkey(ours)) == 1;
    X509_free(x);
    X509_free(ours);
    return same;
}

static bool mutate_payload(container *map)
{
    if (map->count == 0 || pick(6) == 0) {
        /* the map's shape */
        switch (pick(5)) {
        case 0: /* a field gone */
            if (map->count) {
                size_t i = pick(map->count);
                memmove(&map->e[i], &map->e[i + 1], (map->count - i - 1) * sizeof(entry));
                map->count--;
            }
            return true;
        case 1: /* a field twice, or a known key with any value */
            if (map->count < MAX_ENTRIES && map->count) {
                map->e[map->count] = map->e[pick(map->count)];
                if (pick(2) && !new_text(known_keys[pick(KNOWN_KEYS)], &map->e[map->count].key))
                    return false;
                map->count++;
            }
            return true;
        case 2: /* an unknown or mangled key */
            if (map->count) {
                size_t i = pick(map->count);
                uint8_t major;
                span s = string_content(map->e[i].key, &major);
                return pick(4) ? mutate_string(s, NSMKIT_CBOR_TEXT, &map->e[i].key)
                               : other_type(&map->e[i].key);
            }
            return true;
        case 3: { /* keys in another order */
            if (map->count > 1) {
                size_t i = pick(map->count), j = pick(map->count);
                entry t = map->e[i];
                map->e[i] = map->e[j];
                map->e[j] = t;
            }
            return true;
        }
        default:
            map->indefinite = !map->indefinite;
            return true;
        }
    }
    entry *e = &map->e[pick(map->count)];
    if (pick(10) == 0)
        return other_type(&e->value);
    if (key_is(e->key, "pcrs") || key_is(e->key, "nitrotpm_pcrs"))
        return mutate_pcrs(e->value, &e->value);
    if (key_is(e->key, "cabundle"))
        return mutate_cabundle(e->value, &e->value);
    if (key_is(e->key, "certificate")) {
        uint8_t major;
        span der = string_content(e->value, &major), changed;
        return major == NSMKIT_CBOR_BYTES && mutate_certificate(der, 4, &changed) &&
               new_bytes(NSMKIT_CBOR_BYTES, changed.p, changed.n, &e->value);
    }
    if (key_is(e->key, "timestamp"))
        return new_uint(interesting_uint(), &e->value);
    if (key_is(e->key, "digest") && pick(2)) {
        static const char *const digests[] = {"SHA384", "SHA256", "SHA512", "sha384", ""};
        return new_text(digests[pick(5)], &e->value);
    }
    uint8_t major;
    span s = string_content(e->value, &major);
    if (major == 0xff) /* null or another type: bytes of some length */
        major = NSMKIT_CBOR_BYTES;
    return mutate_string(s, major, &e->value);
}

/* ---- the envelope ---------------------------------------------------------------------------- */

/* Signs a document's digest with the fixture leaf through the P-384 seam's nettle side:
 * OpenSSL 3.0's P-384 signing, whose allocations all pass through ASan, was a quarter of
 * the target's time. The key is made once from the leaf's scalar and kept. */
static bool sign_with_leaf(const uint8_t digest[48], uint8_t sig[NSMCA_ECDSA_P384_SIG_LEN])
{
    static nsmkit_p384_private *key;
    if (!key) {
        uint8_t scalar[NSMCA_P384_SCALAR_LEN];
        bool ok = nsmca_leaf_private_scalar(fuzz_leaf(), scalar) == 0 &&
                  nsmkit_p384_private_new(NSMKIT_P384_NETTLE, scalar, &key) == NSMKIT_P384_OK;
        OPENSSL_cleanse(scalar, sizeof(scalar));
        if (!ok)
            fuzz_fail("fuzz_verify_structured", "cannot make the fixture leaf's signing key");
    }
    return nsmkit_p384_sign(key, digest, &nsmkit_rfc6979_nonce, sig) == NSMKIT_P384_OK;
}

static size_t encode_document(const document *d, span payload, bool sign, uint8_t *out,
                              size_t max_size)
{
    uint8_t sig[NSMCA_ECDSA_P384_SIG_LEN], digest[48];
    span signature_item = d->signature_item;
    span protected_content;
    if (sign && bytes_content(d->protected_item, &protected_content) &&
        nsmsim_sig_structure_digest(protected_content.p, protected_content.n, payload.p,
                                    payload.n, digest) == 0 &&
        sign_with_leaf(digest, sig) &&
        !new_bytes(NSMKIT_CBOR_BYTES, sig, sizeof(sig), &signature_item))
        return 0;
    nsmkit_buf b;
    nsmkit_buf_init(&b, max_size);
    if (d->tagged)
        nsmkit_cbor_put_head(&b, NSMKIT_CBOR_TAG, 18);
    nsmkit_cbor_put_head(&b, NSMKIT_CBOR_ARRAY, 4);
    nsmkit_buf_append(&b, d->protected_item.p, d->protected_item.n);
    nsmkit_buf_append(&b, d->unprotected.p, d->unprotected.n);
    nsmkit_cbor_put_bytes(&b, payload.p, payload.n);
    nsmkit_buf_append(&b, signature_item.p, signature_item.n);
    size_t n = 0;
    if (!b.err && b.len <= max_size) {
        memcpy(out, b.data, b.len);
        n = b.len;
    }
    nsmkit_buf_free(&b);
    return n;
}

/* Changes one envelope item. *keep_signature is set when the change is the signature
 * itself, which signing again would undo. */
static bool mutate_envelope(document *d, bool *keep_signature)
{
    static const uint8_t protected_variants[][9] = {
        {4, 0x44, 0xa1, 0x01, 0x38, 0x22},             /* ES384, as the NSM writes it */
        {4, 0x44, 0xa1, 0x01, 0x38, 0x26},             /* ES512 */
        {3, 0x43, 0xa1, 0x01, 0x26},                   /* ES256 */
        {1, 0x40},                                     /* empty */
        {5, 0x45, 0xa1, 0x01, 0x39, 0x00, 0x22},       /* -35, not shortest */
        {7, 0x47, 0xa1, 0x01, 0x65, 'E', 'S', '3', '8'}, /* alg as text (cut) */
        {6, 0x45, 0xa2, 0x01, 0x38, 0x22, 0x04},       /* a second key (cut) */
        {5, 0x44, 0xa1, 0x01, 0x38, 0x22, 0x00},       /* trailing byte after the bstr */
    };
    switch (pick(6)) {
    case 0:
        d->tagged = !d->tagged;
        return true;
    case 5: { /* r or s zero or at least the group order: the signature value checks */
        uint8_t sig[NSMCA_ECDSA_P384_SIG_LEN];
        uint8_t major;
        span old = string_content(d->signature_item, &major);
        memset(sig, 0, sizeof(sig));
        memcpy(sig, old.p, old.n < sizeof(sig) ? old.n : sizeof(sig));
        memset(sig + (pick(2) ? 0 : 48), pick(2) ? 0x00 : 0xff, 48);
        *keep_signature = true;
        return new_bytes(NSMKIT_CBOR_BYTES, sig, sizeof(sig), &d->signature_item);
    }
    case 1: {
        size_t i = pick(sizeof(protected_variants) / sizeof(protected_variants[0]));
        uint8_t *p = arena_alloc(protected_variants[i][0]);
        if (!p)
            return false;
        memcpy(p, protected_variants[i] + 1, protected_variants[i][0]);
        d->protected_item = (span){p, protected_variants[i][0]};
        return true;
    }
    case 2:
        return other_type(&d->unprotected);
    case 3: {
        uint8_t major;
        span s = string_content(d->signature_item, &major);
        *keep_signature = true;
        return mutate_string(s, NSMKIT_CBOR_BYTES, &d->signature_item);
    }
    default: {
        uint8_t major;
        span s = string_content(d->protected_item, &major);
        return mutate_string(s, NSMKIT_CBOR_BYTES, &d->protected_item);
    }
    }
}

size_t fuzz_doc_mutate(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    document d;
    arena_used = 0;
    rng = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 1;
    if (pick(16) == 0 || !parse_document(data, size, &d) || !d.have_map)
        return LLVMFuzzerMutate(data, size, max_size);
    bool sign = pick(16) != 0;
    bool ok = true;
    if (!leaf_is_fixture(&d.map) && pick(4) != 0)
        ok = adopt_fixture_chain(&d.map);
    else if (pick(8) == 0) {
        bool keep_signature = false;
        ok = mutate_envelope(&d, &keep_signature);
        sign = sign && !keep_signature;
    }
    else
        ok = mutate_payload(&d.map);
    span payload;
    if (!ok || !encode_container(&d.map, NSMKIT_CBOR_MAP, &payload))
        return LLVMFuzzerMutate(data, size, max_size);
    if (pick(32) == 0) { /* a payload that is not the map it was */
        uint8_t *copy = arena_alloc(payload.n + 8);
        if (copy) {
            memcpy(copy, payload.p, payload.n);
            payload = (span){copy, LLVMFuzzerMutate(copy, payload.n, payload.n + 8)};
        }
    }
    size_t n = encode_document(&d, payload, sign, data, max_size);
    return n ? n : LLVMFuzzerMutate(data, size, max_size);
}

size_t fuzz_doc_crossover(const uint8_t *data1, size_t size1, const uint8_t *data2,
                          size_t size2, uint8_t *out, size_t max_out_size, unsigned int seed)
{
    document a, b;
    arena_used = 0;
    rng = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 7;
    if (!parse_document(data1, size1, &a) || !a.have_map || !parse_document(data2, size2, &b) ||
        !b.have_map || b.map.count == 0)
        return 0;
    /* one of b's fields into a: replacing a's field of that name, or added */
    entry from = b.map.e[pick(b.map.count)];
    size_t i;
    for (i = 0; i < a.map.count; i++)
        if (a.map.e[i].key.n == from.key.n && memcmp(a.map.e[i].key.p, from.key.p, from.key.n) == 0)
            break;
    if (i < a.map.count)
        a.map.e[i].value = from.value;
    else if (a.map.count < MAX_ENTRIES)
        a.map.e[a.map.count++] = from;
    span payload;
    if (!encode_container(&a.map, NSMKIT_CBOR_MAP, &payload))
        return 0;
    return encode_document(&a, payload, true, out, max_out_size);
}
