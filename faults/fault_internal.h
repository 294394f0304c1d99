/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the fault generator's files (not installed): the signing material and the
 * certificates the PKI faults need (fault_pki.c), the table (fault.c), the document builder
 * (fault_build.c).
 *
 * Ownership: an nsmfault_pki owns every certificate, key and DER it holds; the crafted
 * certificates it hands out are borrowed and live as long as it does.
 */
#ifndef NSMKIT_FAULT_INTERNAL_H
#define NSMKIT_FAULT_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "nsmkit/fault.h"

extern const nsmfault_info nsmfault_table[NSMFAULT_COUNT];

#define NSMFAULT_TIER_MAX NSMCA_MAX_TIERS
/* More than the classes need (about 30): the certificates of one PKI are few and fixed. */
#define NSMFAULT_CRAFTED_MAX 48

/* A certificate made (or read back) for a fault, by its store name. */
typedef struct {
    char name[40];
    X509 *cert;   /* owned */
    uint8_t *der; /* owned (OPENSSL_malloc'd by i2d) */
    size_t der_len;
} nsmfault_crafted;

/* The PKI's root and tiers as nsm-ca wrote them, the leaf key, and the crafted
 * certificates made so far. */
struct nsmfault_pki {
    char *store; /* NULL: memory only */
    uint64_t issue_s;
    X509 *root;  /* owned */
    EVP_PKEY *root_key;
    unsigned tiers;
    X509 *tier[NSMFAULT_TIER_MAX];
    EVP_PKEY *tier_key[NSMFAULT_TIER_MAX];
    uint8_t *root_der, *tier_der[NSMFAULT_TIER_MAX];
    size_t root_der_len, tier_der_len[NSMFAULT_TIER_MAX];
    EVP_PKEY *leaf_key;
    nsmfault_crafted made[NSMFAULT_CRAFTED_MAX];
    size_t made_count;
};

/* What a crafted certificate looks like (the test fixture's certificate builder, grown). */
typedef struct {
    const char *name;          /* the store's file name */
    X509_NAME *subject;        /* borrowed */
    X509 *issuer;              /* borrowed; NULL: self-signed */
    EVP_PKEY *issuer_key;      /* borrowed */
    EVP_PKEY *key;             /* borrowed: the subject key */
    int64_t not_before, not_after;
    const char *basic, *usage; /* OpenSSL config syntax; NULL: absent */
    const EVP_MD *md;          /* NULL: SHA-384 */
    bool unknown_critical;
    bool key_ids;
    const uint8_t *serial;     /* NULL: from the name */
    size_t serial_len;
} nsmfault_cert_spec;

/* basicConstraints and keyUsage of the regional, zonal and instance tiers (NSM-FACTS 5). */
extern const char *const nsmfault_tier_basic[NSMFAULT_TIER_MAX];
extern const char *const nsmfault_tier_usage[NSMFAULT_TIER_MAX];

/* Fails with what and OpenSSL's first queued error (the queue is cleared). */
int nsmfault_ossl_fail(nsmkit_error *e, const char *what);
/* A key of the store ("P-384", "P-256" or "RSA"): read back when present, made and kept
 * otherwise. Caller frees. */
EVP_PKEY *nsmfault_store_key(nsmfault_pki *pki, const char *name, const char *type,
                             nsmkit_error *e);
/* A certificate of the store: read back when present, made from s and kept otherwise. */
const nsmfault_crafted *nsmfault_store_cert(nsmfault_pki *pki, const nsmfault_cert_spec *s,
                                            nsmkit_error *e);
/* A leaf (AWS-shaped subject and serial, three hours from the PKI's issue time) issued by
 * issuer/issuer_key for key, with the given extensions and signature digest. */
const nsmfault_crafted *nsmfault_leaf_cert(nsmfault_pki *pki, const char *name, X509 *issuer,
                                           EVP_PKEY *issuer_key, EVP_PKEY *key,
                                           const char *basic, const char *usage,
                                           const EVP_MD *md, bool unknown_critical,
                                           nsmkit_error *e);
/* The valid leaf under the last of `tiers` intermediate tiers. */
const nsmfault_crafted *nsmfault_normal_leaf(nsmfault_pki *pki, unsigned tiers, nsmkit_error *e);
/* Tier i re-issued by its own issuer with another key, validity or extensions (0/NULL: the
 * original's). */
const nsmfault_crafted *nsmfault_tier_variant(nsmfault_pki *pki, const char *name, unsigned i,
                                              EVP_PKEY *key, int64_t not_before,
                                              int64_t not_after, const char *basic,
                                              const char *usage, nsmkit_error *e);
/* Unix seconds of an ASN1_TIME (0 when it cannot be read). */
int64_t nsmfault_cert_time(const ASN1_TIME *t);

#endif /* NSMKIT_FAULT_INTERNAL_H */
