/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fault generator's signing material: an nsm-ca PKI read from its files, a leaf key, and
 * the certificates the PKI faults need (expired and not-yet-valid tiers, a rogue root, P-256
 * and RSA leaves, wrong extensions), made once and kept in a store directory so that a
 * committed store regenerates the same documents.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "fault_internal.h"
#include "nsmkit/file.h"

/* ---- the signing material ---------------------------------------------------------------- */

static const char *const tier_names[NSMFAULT_TIER_MAX] = {"regional", "zonal", "instance"};
const char *const nsmfault_tier_basic[NSMFAULT_TIER_MAX] = {
    "critical,CA:TRUE,pathlen:2", "critical,CA:TRUE,pathlen:1", "critical,CA:TRUE,pathlen:0"};
const char *const nsmfault_tier_usage[NSMFAULT_TIER_MAX] = {
    "critical,digitalSignature,keyCertSign,cRLSign", "critical,digitalSignature,keyCertSign,cRLSign",
    "critical,keyCertSign"};

int nsmfault_ossl_fail(nsmkit_error *e, const char *what)
{
    unsigned long err = ERR_get_error();
    char text[256] = "";
    if (err)
        ERR_error_string_n(err, text, sizeof(text));
    ERR_clear_error();
    return nsmkit_fail(e, "%s%s%s", what, *text ? ": " : "", text);
}

static X509 *read_cert(const char *path, nsmkit_error *e)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!x)
        nsmfault_ossl_fail(e, path);
    return x;
}

static EVP_PKEY *read_key(const char *path, nsmkit_error *e)
{
    BIO *bio = BIO_new_file(path, "r");
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!k)
        nsmfault_ossl_fail(e, path);
    return k;
}

static int der_of(X509 *x, uint8_t **der, size_t *len, nsmkit_error *e)
{
    *der = NULL;
    int n = i2d_X509(x, der);
    if (n <= 0)
        return nsmfault_ossl_fail(e, "encode certificate");
    *len = (size_t)n;
    return 0;
}

/* Writes a PEM object through a memory BIO and nsmkit_file_write (atomic, with mode). */
static int write_pem(const char *path, X509 *cert, EVP_PKEY *key, nsmkit_error *e)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    int ok = mem && (cert ? PEM_write_bio_X509(mem, cert)
                          : PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL));
    long n = ok ? BIO_get_mem_data(mem, &data) : 0;
    int rc = ok && n > 0 ? nsmkit_file_write(path, (const uint8_t *)data, (size_t)n,
                                             key ? 0600 : 0644, e)
                         : nsmfault_ossl_fail(e, path);
    BIO_free(mem);
    return rc;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A key of the store: read back when present, made (and kept) otherwise. */
EVP_PKEY *nsmfault_store_key(nsmfault_pki *pki, const char *name, const char *type,
                           nsmkit_error *e)
{
    char path[4200];
    if (pki->store) {
        snprintf(path, sizeof(path), "%s/%s.key", pki->store, name);
        if (file_exists(path))
            return read_key(path, e);
    }
    EVP_PKEY *key = strcmp(type, "RSA") == 0 ? EVP_RSA_gen(2048) : EVP_EC_gen(type);
    if (!key) {
        nsmfault_ossl_fail(e, "generate a key");
        return NULL;
    }
    if (pki->store && write_pem(path, NULL, key, e) != 0) {
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}


static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, nsmkit_error *e)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : nsmfault_ossl_fail(e, "add a certificate extension");
}

static X509 *make_cert(const nsmfault_cert_spec *s, nsmkit_error *e)
{
    uint8_t serial[32];
    X509 *x = X509_new();
    BIGNUM *bn = NULL;
    if (!x)
        goto fail;
    if (s->serial) {
        bn = BN_bin2bn(s->serial, (int)s->serial_len, NULL);
    } else {
        EVP_Digest(s->name, strlen(s->name), serial, NULL, EVP_sha256(), NULL);
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        bn = BN_bin2bn(serial, 16, NULL);
    }
    if (!bn || !X509_set_version(x, 2) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
        !X509_set_subject_name(x, s->subject) ||
        !X509_set_issuer_name(x, s->issuer ? X509_get_subject_name(s->issuer) : s->subject) ||
        !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)s->not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)s->not_after) ||
        !X509_set_pubkey(x, s->key))
        goto fail;
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, s->issuer ? s->issuer : x, x, NULL, NULL, 0);
    if ((s->basic && add_ext(x, &ctx, NID_basic_constraints, s->basic, e) != 0) ||
        (s->usage && add_ext(x, &ctx, NID_key_usage, s->usage, e) != 0))
        goto out;
    if (s->key_ids && (add_ext(x, &ctx, NID_subject_key_identifier, "hash", e) != 0 ||
                       (s->issuer && add_ext(x, &ctx, NID_authority_key_identifier,
                                             "keyid:always", e) != 0)))
        goto out;
    if (s->unknown_critical) {
        static const unsigned char null_der[] = {0x05, 0x00};
        ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.4.1.55555.1.1", 1);
        ASN1_OCTET_STRING *data = ASN1_OCTET_STRING_new();
        X509_EXTENSION *ext = NULL;
        int ok = obj && data && ASN1_OCTET_STRING_set(data, null_der, sizeof(null_der)) &&
                 (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, data)) &&
                 X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(data);
        ASN1_OBJECT_free(obj);
        if (!ok)
            goto fail;
    }
    if (X509_sign(x, s->issuer_key, s->md ? s->md : EVP_sha384()) <= 0)
        goto fail;
    BN_free(bn);
    return x;
fail:
    nsmfault_ossl_fail(e, "make certificate");
out:
    BN_free(bn);
    X509_free(x);
    return NULL;
}

static const nsmfault_crafted *remember(nsmfault_pki *pki, const char *name, X509 *x, nsmkit_error *e)
{
    if (pki->made_count == NSMFAULT_CRAFTED_MAX) {
        X509_free(x);
        nsmkit_fail(e, "too many crafted certificates");
        return NULL;
    }
    nsmfault_crafted *c = &pki->made[pki->made_count];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->cert = x;
    if (der_of(x, &c->der, &c->der_len, e) != 0) {
        X509_free(x);
        return NULL;
    }
    pki->made_count++;
    return c;
}

/* A certificate of the store: read back when present, made (and kept) otherwise. */
const nsmfault_crafted *nsmfault_store_cert(nsmfault_pki *pki, const nsmfault_cert_spec *s, nsmkit_error *e)
{
    char path[4200];
    for (size_t i = 0; i < pki->made_count; i++)
        if (strcmp(pki->made[i].name, s->name) == 0)
            return &pki->made[i];
    if (pki->store) {
        snprintf(path, sizeof(path), "%s/%s.pem", pki->store, s->name);
        if (file_exists(path)) {
            X509 *x = read_cert(path, e);
            return x ? remember(pki, s->name, x, e) : NULL;
        }
    }
    X509 *x = make_cert(s, e);
    if (!x)
        return NULL;
    if (pki->store && write_pem(path, x, NULL, e) != 0) {
        X509_free(x);
        return NULL;
    }
    return remember(pki, s->name, x, e);
}

void nsmfault_pki_free(nsmfault_pki *pki)
{
    if (!pki)
        return;
    X509_free(pki->root);
    EVP_PKEY_free(pki->root_key);
    OPENSSL_free(pki->root_der);
    for (unsigned i = 0; i < NSMFAULT_TIER_MAX; i++) {
        X509_free(pki->tier[i]);
        EVP_PKEY_free(pki->tier_key[i]);
        OPENSSL_free(pki->tier_der[i]);
    }
    EVP_PKEY_free(pki->leaf_key);
    for (size_t i = 0; i < pki->made_count; i++) {
        X509_free(pki->made[i].cert);
        OPENSSL_free(pki->made[i].der);
    }
    free(pki->store);
    free(pki);
}

/* nsm-ca's layout: intermediates.pem holds, for each tier in order, its PKCS#8 key and then
 * its certificate. */
static int read_intermediates(nsmfault_pki *pki, const char *path, nsmkit_error *e)
{
    BIO *bio = BIO_new_file(path, "r");
    if (!bio)
        return nsmfault_ossl_fail(e, path);
    int rc = 0;
    for (unsigned i = 0; i < NSMFAULT_TIER_MAX; i++) {
        EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (!key) {
            ERR_clear_error(); /* the end of the file: fewer tiers */
            break;
        }
        pki->tier_key[i] = key;
        pki->tier[i] = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!pki->tier[i] ||
            der_of(pki->tier[i], &pki->tier_der[i], &pki->tier_der_len[i], e) != 0) {
            rc = pki->tier[i] ? -1 : nsmfault_ossl_fail(e, path);
            break;
        }
        pki->tiers = i + 1;
    }
    BIO_free(bio);
    return rc;
}

/* The layout before intermediates.pem: NAME.pem and NAME.key per tier. */
static int read_tier_files(nsmfault_pki *pki, const char *ca_dir, nsmkit_error *e)
{
    char path[4200];
    for (unsigned i = 0; i < NSMFAULT_TIER_MAX; i++) {
        snprintf(path, sizeof(path), "%s/%s.pem", ca_dir, tier_names[i]);
        if (!file_exists(path))
            break;
        if (!(pki->tier[i] = read_cert(path, e)))
            return -1;
        snprintf(path, sizeof(path), "%s/%s.key", ca_dir, tier_names[i]);
        if (!(pki->tier_key[i] = read_key(path, e)) ||
            der_of(pki->tier[i], &pki->tier_der[i], &pki->tier_der_len[i], e) != 0)
            return -1;
        pki->tiers = i + 1;
    }
    return 0;
}

int nsmfault_pki_open(const char *ca_dir, const char *store_dir, uint64_t issue_s,
                      nsmfault_pki **out, nsmkit_error *e)
{
    char path[4200];
    nsmfault_pki *pki = calloc(1, sizeof(*pki));
    *out = NULL;
    if (!pki)
        return nsmkit_fail(e, "out of memory");
    pki->issue_s = issue_s;
    if (store_dir) {
        pki->store = strdup(store_dir);
        if (!pki->store || nsmkit_mkdir_p(store_dir, 0700, e) != 0)
            goto fail;
    }
    snprintf(path, sizeof(path), "%s/root.pem", ca_dir);
    if (!(pki->root = read_cert(path, e)))
        goto fail;
    snprintf(path, sizeof(path), "%s/root.key", ca_dir);
    if (!(pki->root_key = read_key(path, e)) ||
        der_of(pki->root, &pki->root_der, &pki->root_der_len, e) != 0)
        goto fail;
    snprintf(path, sizeof(path), "%s/intermediates.pem", ca_dir);
    if (file_exists(path) ? read_intermediates(pki, path, e) != 0
                          : read_tier_files(pki, ca_dir, e) != 0)
        goto fail;
    if (pki->tiers == 0) {
        nsmkit_fail(e, "%s: no intermediate tier (intermediates.pem)", ca_dir);
        goto fail;
    }
    if (!(pki->leaf_key = nsmfault_store_key(pki, "leaf", "P-384", e)))
        goto fail;
    *out = pki;
    return 0;
fail:
    nsmfault_pki_free(pki);
    return -1;
}

const uint8_t *nsmfault_pki_root_der(const nsmfault_pki *pki, size_t *len)
{
    *len = pki->root_der_len;
    return pki->root_der;
}

unsigned nsmfault_pki_tiers(const nsmfault_pki *pki)
{
    return pki->tiers;
}

uint64_t nsmfault_pki_issue_time(const nsmfault_pki *pki)
{
    return pki->issue_s;
}

int64_t nsmfault_cert_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (!ASN1_TIME_to_tm(t, &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

/* The enclave the generator's leaves belong to. */
static const uint8_t enclave_id[NSMCA_ENCLAVE_ID_LEN] = {0x0f, 0xa1, 0x5e, 0xc0, 0xde, 0x00, 0x00, 0x01};

/* The leaf's subject, AWS-shaped (NSM-FACTS section 5): C, ST, L, O, OU, CN. Owned. */
static X509_NAME *leaf_subject(void)
{
    X509_NAME *n = X509_NAME_new();
    static const char *const fields[][2] = {
        {"C", "US"}, {"ST", "Washington"}, {"L", "Seattle"}, {"O", "NSM Simulator"},
        {"OU", "NOT AWS"}, {"CN", "i-0fa15ec0de0000001-enc0fa15ec0de000001.us-east-1.aws"}};
    for (size_t i = 0; n && i < sizeof(fields) / sizeof(fields[0]); i++)
        if (!X509_NAME_add_entry_by_txt(n, fields[i][0], MBSTRING_ASC,
                                        (const unsigned char *)fields[i][1], -1, -1, 0)) {
            X509_NAME_free(n);
            return NULL;
        }
    return n;
}

/* A leaf issued by issuer/issuer_key for key; variations from the real leaf profile. */
const nsmfault_crafted *nsmfault_leaf_cert(nsmfault_pki *pki, const char *name, X509 *issuer,
                                EVP_PKEY *issuer_key, EVP_PKEY *key, const char *basic,
                                const char *usage, const EVP_MD *md, bool unknown_critical,
                                nsmkit_error *e)
{
    uint8_t serial[16];
    memcpy(serial, enclave_id, 8);
    memset(serial + 8, 0, 4);
    for (int i = 0; i < 4; i++)
        serial[12 + i] = (uint8_t)(pki->issue_s >> (24 - 8 * i));
    X509_NAME *subject = leaf_subject();
    if (!subject) {
        nsmfault_ossl_fail(e, "leaf subject");
        return NULL;
    }
    nsmfault_cert_spec s = {.name = name, .subject = subject, .issuer = issuer, .issuer_key = issuer_key,
                   .key = key, .not_before = (int64_t)pki->issue_s - NSMCA_LEAF_BACKDATE_S,
                   .not_after = (int64_t)pki->issue_s + NSMCA_LEAF_LIFETIME_S,
                   .basic = basic, .usage = usage, .md = md,
                   .unknown_critical = unknown_critical, .serial = serial,
                   .serial_len = sizeof(serial)};
    const nsmfault_crafted *c = nsmfault_store_cert(pki, &s, e);
    X509_NAME_free(subject);
    return c;
}

const nsmfault_crafted *nsmfault_normal_leaf(nsmfault_pki *pki, unsigned tiers, nsmkit_error *e)
{
    static const char *const names[NSMFAULT_TIER_MAX] = {"leaf_t1", "leaf_t2", "leaf_t3"};
    return nsmfault_leaf_cert(pki, names[tiers - 1], pki->tier[tiers - 1], pki->tier_key[tiers - 1],
                     pki->leaf_key, "critical,CA:FALSE", "digitalSignature,nonRepudiation", NULL,
                     false, e);
}

/* Tier i re-issued by its own issuer with other validity, key or extensions. */
const nsmfault_crafted *nsmfault_tier_variant(nsmfault_pki *pki, const char *name, unsigned i,
                                   EVP_PKEY *key, int64_t not_before, int64_t not_after,
                                   const char *basic, const char *usage, nsmkit_error *e)
{
    nsmfault_cert_spec s = {.name = name, .subject = X509_get_subject_name(pki->tier[i]),
                   .issuer = i ? pki->tier[i - 1] : pki->root,
                   .issuer_key = i ? pki->tier_key[i - 1] : pki->root_key,
                   .key = key ? key : pki->tier_key[i],
                   .not_before = not_before ? not_before : nsmfault_cert_time(X509_get0_notBefore(pki->tier[i])),
                   .not_after = not_after ? not_after : nsmfault_cert_time(X509_get0_notAfter(pki->tier[i])),
                   .basic = basic ? basic : nsmfault_tier_basic[i], .usage = usage ? usage : nsmfault_tier_usage[i],
                   .key_ids = true};
    return nsmfault_store_cert(pki, &s, e);
}

