/* SPDX-License-Identifier: Apache-2.0 */
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
 * Files: DIR/ca.conf (region, tier count, instance id; written last, so a directory without
 * it holds no PKI), DIR/root.key (0600) and DIR/root.pem (the root to pin), and
 * DIR/intermediates.pem (0600): every intermediate tier's key and certificate in one file,
 * replaced by one atomic rename, so that a refresh is all or nothing whatever happens
 * (full disk, SIGKILL, power loss). Intermediates found missing, unreadable as PEM or not
 * chaining are re-issued from the root when the directory is writable (nsmca_repaired
 * says so); the root is never replaced. Writers hold DIR/.lock (with their pid in it) and
 * wait for it a bounded time; readers need no lock. Every file is opened without blocking
 * and refused unless it is a regular file.
 *
 * Errors: every function that can fail returns an nsmca_code from NSMCA_CODES below
 * (0 is success) and, when e is not NULL, a one-line message with the details. Numbers
 * are stable (ca-tools' range is 2000-2999, nsmkit/codes.h): 21xx arguments and times,
 * 22xx the CA directory and its files, 23xx keys and certificates, 29xx internal. New
 * codes are appended in their range, never reused.
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

#include "nsmkit/codes.h"
#include "nsmkit/error.h"

#define NSMCA_MAX_TIERS 3
#define NSMCA_DEFAULT_REGION "us-east-1"
#define NSMCA_LEAF_LIFETIME_S (3 * 3600)
/* The leaf's notBefore precedes the issue time (and the first document) by this much. */
#define NSMCA_LEAF_BACKDATE_S 3
#define NSMCA_ECDSA_P384_SIG_LEN 96
#define NSMCA_ENCLAVE_ID_LEN 8

/* X(NAME, number, sentence): the sentence says what is wrong in general; the nsmkit_error
 * message adds the file and the detail. */
#define NSMCA_CODES(X)                                                                        \
    X(OK, 0, "success")                                                                       \
    /* 21xx: arguments and times */                                                           \
    X(BAD_REGION, 2100, "the region is not 1-32 characters of a-z, 0-9 and '-'")              \
    X(BAD_TIER_COUNT, 2101, "the number of intermediate tiers is not 1, 2 or 3")              \
    X(TIME_TOO_EARLY, 2102, "the creation time is too early")                                 \
    X(TIME_OUTSIDE_ROOT, 2103, "the time is outside the root's validity")                     \
    X(TIME_NOT_U32, 2104, "the issue time does not fit the 4-byte serial field")              \
    X(NO_DEFAULT_DIR, 2105, "neither XDG_STATE_HOME nor HOME is set")                         \
    X(NAME_TOO_LONG, 2106, "a directory or file name is too long")                            \
    X(BAD_ARGUMENT, 2107, "a required argument is missing or out of range")                   \
    /* 22xx: the CA directory and its files */                                                \
    X(NO_DIRECTORY, 2200, "the CA directory does not exist or cannot be searched")            \
    X(NOT_A_DIRECTORY, 2201, "the CA path is not a directory")                                \
    X(ALREADY_EXISTS, 2202, "the directory already holds a PKI")                              \
    X(NO_PKI, 2203, "the directory holds no PKI (no ca.conf)")                                \
    X(FILE_UNREADABLE, 2204, "a CA file cannot be opened or read")                            \
    X(NOT_REGULAR_FILE, 2205, "a CA file is not a regular file")                              \
    X(FILE_TOO_LARGE, 2206, "a CA file is larger than any the CA writes")                     \
    X(KEY_PERMISSIONS, 2207, "a private key file is readable by group or others")             \
    X(WRITE_FAILED, 2208, "a CA file cannot be written")                                      \
    X(LOCK_TIMEOUT, 2209, "another process held the CA directory's lock for too long")        \
    X(LOCK_FAILED, 2210, "the CA directory's lock cannot be taken")                           \
    X(CONF_MALFORMED, 2211, "ca.conf holds a bad or unknown line")                            \
    X(CONF_INCOMPLETE, 2212, "ca.conf lacks a setting")                                       \
    X(MKDIR_FAILED, 2213, "the CA directory cannot be created")                               \
    X(FILE_MISSING, 2214, "a CA file does not exist")                                         \
    X(DIR_UNSAFE, 2215, "the CA directory is writable by others or owned by another user")    \
    /* 23xx: keys and certificates */                                                         \
    X(KEY_MALFORMED, 2300, "a key file does not hold a P-384 private key in PEM")             \
    X(CERT_MALFORMED, 2301, "a certificate file does not hold a PEM certificate")             \
    X(CERT_KEY_MISMATCH, 2302, "a certificate does not match its key")                        \
    X(CHAIN_BROKEN, 2303, "a certificate is not signed by the tier above it")                 \
    X(INTERMEDIATES_MALFORMED, 2304,                                                          \
      "the intermediates file does not hold one key and one certificate per tier")            \
    /* 29xx: internal */                                                                      \
    X(NO_MEMORY, 2900, "out of memory")                                                       \
    X(CRYPTO, 2901, "an OpenSSL operation failed")                                            \
    X(RANDOM, 2902, "no random bytes")                                                        \
    X(INTERNAL, 2903, "internal error")

typedef enum {
#define NSMCA_CODE_ENUM(name, number, sentence) NSMKIT_CODE_ENUM(NSMCA_ERR_, name, number)
    NSMCA_CODES(NSMCA_CODE_ENUM)
#undef NSMCA_CODE_ENUM
} nsmca_code;
#define NSMCA_OK NSMCA_ERR_OK

/* The table of NSMCA_CODES (nsmkit/codes.h): names and sentences by number. */
extern const nsmkit_code_table nsmca_codes;

/* "KEY_PERMISSIONS"; NULL for a number that is not a code. */
const char *nsmca_code_name(nsmca_code code);
/* The code's general sentence; NULL for a number that is not a code. */
const char *nsmca_code_sentence(nsmca_code code);
/* Every code in numeric order (for manifests and tests). */
size_t nsmca_code_count(void);
nsmca_code nsmca_code_at(size_t i);

typedef struct {
    const char *region;      /* NULL: NSMCA_DEFAULT_REGION */
    unsigned intermediates;  /* 1..3; 0 means 3 */
    uint64_t now_s;          /* creation time in Unix seconds; 0 means the current time */
} nsmca_init_options;

typedef struct nsmca_pki nsmca_pki;
typedef struct nsmca_leaf nsmca_leaf;

/* Creates a new PKI in dir (created 0700 if missing). Fails if dir already holds one. */
nsmca_code nsmca_init(const char *dir, const nsmca_init_options *options,
                      nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Loads a PKI. Refuses key files readable by group or others, any file that is not a
 * regular file, and a root that does not match its key; repairs the intermediates (see
 * above) when it can and refuses them when it cannot. */
nsmca_code nsmca_open(const char *dir, nsmca_pki **out, nsmkit_error *e) NSMKIT_WARN_UNUSED;
void nsmca_close(nsmca_pki *pki);
/* NULL, or why nsmca_open re-issued the intermediates from the root (their file was
 * missing or inconsistent, e.g. a store of an older nsmkit); the root is never re-issued. */
const char *nsmca_repaired(const nsmca_pki *pki);

/* The default PKI directory: ${XDG_STATE_HOME:-$HOME/.local/state}/nsmkit/ca. */
nsmca_code nsmca_default_dir(char *out, size_t out_size, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Opens dir, creating it with default options first when it does not exist yet. When
 * several processes do this at once, exactly one creates it and sees *created true. */
nsmca_code nsmca_open_or_init(const char *dir, nsmca_pki **out, bool *created,
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
nsmca_code nsmca_refresh(nsmca_pki *pki, uint64_t unix_s, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Issues a leaf for an enclave at issue time unix_s (refreshing intermediates first):
 * notBefore = unix_s - 3 s, notAfter = unix_s + 3 h, serial = enclave id || 0000 ||
 * u32 unix_s, subject CN "<instance>-enc<enclave hex>.<region>.aws". */
nsmca_code nsmca_leaf_issue(nsmca_pki *pki, const uint8_t enclave_id[NSMCA_ENCLAVE_ID_LEN],
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
nsmca_code nsmca_leaf_sign_digest(const nsmca_leaf *leaf, const uint8_t digest[48],
                                  uint8_t signature[NSMCA_ECDSA_P384_SIG_LEN]) NSMKIT_WARN_UNUSED;

/* The leaf's private scalar (48 bytes, big-endian), for a signer in this process (the
 * nettle P-384 seam, nsmkit/p384.h, which signs the documents). It must not leave the
 * process; wipe it after use. NSMCA_ERR_CRYPTO when OpenSSL cannot export it. */
#define NSMCA_P384_SCALAR_LEN 48
nsmca_code nsmca_leaf_private_scalar(const nsmca_leaf *leaf,
                                     uint8_t scalar[NSMCA_P384_SCALAR_LEN]) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_CA_H */
