/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ca-tools internal: what the files of the fake Nitro PKI share. One file per concern:
 *
 *   codes.c    the code table, ca_fail (code + message)
 *   keys.c     P-384 keys, randomness, PEM in and out of a tier
 *   x509.c     certificate construction and the profile of each tier (shapes of the real chain)
 *   conf.c     ca.conf: region, tier count, instance id
 *   store.c    files: non-blocking reads, atomic replacement, the directory lock (store.h)
 *   tiers.c    the root and intermediates on disk: load, check, save, repair
 *   pki.c      the public PKI API: init, open, refresh
 *   leaf.c     leaf issuing and signing
 */
#ifndef NSMKIT_CA_INTERNAL_H
#define NSMKIT_CA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "nsmkit/ca.h"
#include "nsmkit/error.h"

#define HOUR_S 3600ull
#define DAY_S (24 * HOUR_S)
#define YEAR_S (365 * DAY_S + DAY_S / 4)

enum { TIER_ROOT = 0, TIER_REGIONAL = 1, TIER_ZONAL = 2, TIER_INSTANCE = 3 };

#define CA_CONF_NAME "ca.conf"
#define CA_ROOT_KEY_NAME "root.key"
#define CA_ROOT_CERT_NAME "root.pem"
#define CA_INTERMEDIATES_NAME "intermediates.pem"

/* "root", "regional", "zonal", "instance" */
extern const char *const ca_tier_names[1 + NSMCA_MAX_TIERS];

/* A key and its certificate. Owns all three. */
typedef struct {
    EVP_PKEY *key;
    X509 *cert;
    uint8_t *der;
    size_t der_len;
} ca_tier;

struct nsmca_pki {
    char *dir;
    char region[33];
    unsigned tiers;
    char instance_id[20]; /* "i-" + 17 hex + NUL */
    ca_tier cert[1 + NSMCA_MAX_TIERS];
    char repaired[sizeof(nsmkit_error) + 64]; /* empty unless nsmca_open re-issued them */
};

/* ---- codes.c ---- */
/* Sets e's message (when e is not NULL) and returns code. */
nsmca_code ca_fail(nsmkit_error *e, nsmca_code code, const char *fmt, ...) NSMKIT_PRINTF(3, 4);
/* The same with OpenSSL's first queued error appended (the queue is cleared). */
nsmca_code ca_ossl_fail(nsmkit_error *e, nsmca_code code, const char *what);

/* ---- keys.c ---- */
nsmca_code ca_random_bytes(uint8_t *out, size_t n, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* digits random lowercase hex digits (at most 32) and a NUL. */
nsmca_code ca_random_hex(char *out, size_t digits, nsmkit_error *e) NSMKIT_WARN_UNUSED;
EVP_PKEY *ca_key_new(nsmkit_error *e);
void ca_tier_clear(ca_tier *t);
/* Moves src into dst (dst's old content is freed; src is left empty). */
void ca_tier_move(ca_tier *dst, ca_tier *src);
/* Sets t->der from t->cert. */
nsmca_code ca_tier_set_der(ca_tier *t, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Appends the tier's key (PKCS#8) and certificate as PEM to a memory BIO. */
nsmca_code ca_tier_write_pem(const ca_tier *t, BIO *key_out, BIO *cert_out,
                             nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Reads one P-384 key, then (from cert_in, which may be the same BIO) one certificate
 * that matches it; key_what and cert_what name the sources in messages. */
nsmca_code ca_tier_read_pem(ca_tier *t, BIO *key_in, const char *key_what, BIO *cert_in,
                            const char *cert_what, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* ---- x509.c ---- */
typedef struct {
    int nid;
    const char *value;
} ca_name_part;

typedef struct {
    const uint8_t *serial;
    size_t serial_len;
    const ca_name_part *subject;
    size_t subject_count;
    uint64_t not_before, not_after;
    EVP_PKEY *subject_key;
    X509 *issuer; /* NULL: self-signed */
    EVP_PKEY *issuer_key;
    /* extensions in order: NID and value (OpenSSL config syntax) */
    const int *ext_nids;
    const char *const *ext_values;
    size_t ext_count;
} ca_cert_spec;

nsmca_code ca_cert_build(const ca_cert_spec *spec, X509 **out, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Builds the certificate of tier `index` for key at time t, issued by issuer (the tier
 * above; ignored for the root), with the pki's region, tier count and instance id. */
nsmca_code ca_tier_cert_build(const nsmca_pki *pki, unsigned index, EVP_PKEY *key,
                              const ca_tier *issuer, uint64_t t, X509 **out,
                              nsmkit_error *e) NSMKIT_WARN_UNUSED;
bool ca_cert_valid_over(X509 *cert, uint64_t from_s, uint64_t to_s);
/* Unix seconds of an ASN1_TIME; 0 when it cannot be read. */
int64_t ca_time_unix(const ASN1_TIME *t);

/* ---- conf.c ---- */
bool ca_valid_region(const char *region);
nsmca_code ca_conf_write(const nsmca_pki *pki, nsmkit_error *e) NSMKIT_WARN_UNUSED;
nsmca_code ca_conf_read(nsmca_pki *pki, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* ---- pki.c ---- */
/* Takes the directory's write lock and removes the temporaries dead writers left. */
nsmca_code ca_writer_begin(const char *dir, int *lock, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* ---- tiers.c ---- */
/* Issues tier `index` at time t with a fresh key into out, under tiers[index - 1]. */
nsmca_code ca_tier_issue(const nsmca_pki *pki, unsigned index, const ca_tier *issuer,
                         uint64_t t, ca_tier *out, nsmkit_error *e) NSMKIT_WARN_UNUSED;
nsmca_code ca_root_save(const nsmca_pki *pki, nsmkit_error *e) NSMKIT_WARN_UNUSED;
nsmca_code ca_root_load(nsmca_pki *pki, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Writes tiers[1..pki->tiers] as one file (one rename switches them all). */
nsmca_code ca_intermediates_save(const nsmca_pki *pki, const ca_tier *tiers,
                                 nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Reads the intermediates into tiers[1..pki->tiers] and checks each against its key and
 * the tier above (tiers[0] must be the loaded root). */
nsmca_code ca_intermediates_load(const nsmca_pki *pki, ca_tier *tiers,
                                 nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* True for the failures of ca_intermediates_load that a re-issue from the root mends
 * (missing or inconsistent content; not permissions, file types or I/O errors). */
bool ca_intermediates_repairable(nsmca_code code);
/* Re-issues every intermediate from the root and saves them; the caller holds the lock. */
nsmca_code ca_intermediates_reissue(nsmca_pki *pki, uint64_t t, nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_CA_INTERNAL_H */
