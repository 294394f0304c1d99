/*
 * nsmkit ca-tools: the fake Nitro PKI.
 *
 * A CA directory holds a P-384 root and one to three AWS-shaped intermediate tiers
 * (regional, zonal, instance), each as NAME.pem (certificate) and NAME.key (PKCS#8,
 * mode 0600), plus ca.conf (region, tier count, instance id). Leaf certificates are
 * issued per simulated enclave, live three hours, and are never written to disk.
 *
 * Shapes follow the real chain (NSM-FACTS section 5): subject attribute order, validity
 * periods, basicConstraints/pathLen, keyUsage criticality, serial formats, a leaf without
 * SKI/AKI. Every subject says O=NSM Simulator, OU=NOT AWS.
 *
 * Ownership: nsmca_open and nsmca_leaf_issue return objects the caller frees with
 * nsmca_close / nsmca_leaf_free. Byte pointers returned by accessors are borrowed and
 * live as long as the object they came from.
 */
#ifndef NSMKIT_CA_H
#define NSMKIT_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsmkit/error.h"

#define NSMCA_MAX_TIERS 3
#define NSMCA_DEFAULT_REGION "us-east-1"
#define NSMCA_LEAF_LIFETIME_S (3 * 3600)
/* The leaf's notBefore precedes the issue time (and the first document) by this much. */
#define NSMCA_LEAF_BACKDATE_S 3
#define NSMCA_ECDSA_P384_SIG_LEN 96
#define NSMCA_ENCLAVE_ID_LEN 8

typedef struct {
    const char *region;      /* NULL: NSMCA_DEFAULT_REGION */
    unsigned intermediates;  /* 1..3; 0 means 3 */
    uint64_t now_s;          /* creation time in Unix seconds; 0 means the current time */
} nsmca_init_options;

typedef struct nsmca_pki nsmca_pki;
typedef struct nsmca_leaf nsmca_leaf;

/* Creates a new PKI in dir (created 0700 if missing). Fails if dir already holds one. */
int nsmca_init(const char *dir, const nsmca_init_options *options,
               nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Loads a PKI. Refuses key files readable by group or others, and certificates that do
 * not match their keys or do not chain. */
int nsmca_open(const char *dir, nsmca_pki **out, nsmkit_error *e) NSMKIT_WARN_UNUSED;
void nsmca_close(nsmca_pki *pki);

/* The default PKI directory: ${XDG_STATE_HOME:-$HOME/.local/state}/nsmkit/ca. */
int nsmca_default_dir(char *out, size_t out_size, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Opens dir, creating it with default options first when it does not exist yet. */
int nsmca_open_or_init(const char *dir, nsmca_pki **out, bool *created,
                       nsmkit_error *e) NSMKIT_WARN_UNUSED;

const char *nsmca_region(const nsmca_pki *pki);
unsigned nsmca_tier_count(const nsmca_pki *pki);    /* intermediates, 1..3 */
const char *nsmca_instance_id(const nsmca_pki *pki); /* "i-" and 17 hex digits */
/* Certificates root first: index 0 is the root, then regional, zonal, instance. */
const uint8_t *nsmca_cert_der(const nsmca_pki *pki, unsigned index, size_t *len);
unsigned nsmca_cert_count(const nsmca_pki *pki); /* 1 + tiers */

/* Re-issues (under the root, with fresh keys) every intermediate that is not valid for
 * the whole life of a leaf issued at unix_s, and the tiers below it. Newer certificates
 * replace the stored ones; older (time-travelling) ones live only in memory. */
int nsmca_refresh(nsmca_pki *pki, uint64_t unix_s, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Issues a leaf for an enclave at issue time unix_s (refreshing intermediates first):
 * notBefore = unix_s - 3 s, notAfter = unix_s + 3 h, serial = enclave id || 0000 ||
 * u32 unix_s, subject CN "<instance>-enc<enclave hex>.<region>.aws". */
int nsmca_leaf_issue(nsmca_pki *pki, const uint8_t enclave_id[NSMCA_ENCLAVE_ID_LEN],
                     uint64_t unix_s, nsmca_leaf **out, nsmkit_error *e) NSMKIT_WARN_UNUSED;
void nsmca_leaf_free(nsmca_leaf *leaf);

const uint8_t *nsmca_leaf_der(const nsmca_leaf *leaf, size_t *len);
/* The cabundle that goes with the leaf, root first (a snapshot taken at issue). */
unsigned nsmca_leaf_bundle_count(const nsmca_leaf *leaf);
const uint8_t *nsmca_leaf_bundle_der(const nsmca_leaf *leaf, unsigned index, size_t *len);
/* True when unix_s lies within the leaf's validity. */
bool nsmca_leaf_valid_at(const nsmca_leaf *leaf, uint64_t unix_s);

/* ECDSA P-384 over a SHA-384 digest, as raw r||s (48 bytes each, big-endian).
 * Safe to call from several threads on the same leaf. */
int nsmca_leaf_sign_digest(const nsmca_leaf *leaf, const uint8_t digest[48],
                           uint8_t signature[NSMCA_ECDSA_P384_SIG_LEN]) NSMKIT_WARN_UNUSED;

/* The leaf's private scalar (48 bytes, big-endian), for a signer in this process (the
 * nettle P-384 seam, nsmkit/p384.h). It must not leave the process; wipe it after use. */
#define NSMCA_P384_SCALAR_LEN 48
int nsmca_leaf_private_scalar(const nsmca_leaf *leaf,
                              uint8_t scalar[NSMCA_P384_SCALAR_LEN]) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_CA_H */
