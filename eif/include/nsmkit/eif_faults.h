/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit eif: the EIF fault table (nsmkit/eif_faults.def) and the generator of its images:
 * small, deterministic images (the same signer and nonce source give the same bytes), each
 * sound or wrong in exactly the one way its row names.
 */
#ifndef NSMKIT_EIF_FAULTS_H
#define NSMKIT_EIF_FAULTS_H

#include <stddef.h>
#include <stdint.h>

#include "nsmkit/eif.h"
#include "nsmkit/p384.h"

typedef enum {
#define X(name, expected, is_signed, description) NSMEIF_FAULT_##name,
#include "nsmkit/eif_faults.def"
#undef X
    NSMEIF_FAULT_COUNT
} nsmeif_fault;

typedef struct {
    const char *name;
    nsmeif_code expected;
    bool is_signed;
    const char *description;
} nsmeif_fault_info;

/* NULL for a number outside the table. */
const nsmeif_fault_info *nsmeif_fault_get(nsmeif_fault fault);
/* NSMEIF_FAULT_COUNT when no row has that name. */
nsmeif_fault nsmeif_fault_find(const char *name);

/* Who signs the signed rows: a PEM certificate and its EC P-384 key (borrowed). */
typedef struct {
    const uint8_t *cert_pem;
    size_t cert_len;
    const nsmkit_p384_private *key;
    const nsmkit_p384_nonce_source *nonce; /* NULL: the CSPRNG (then not reproducible) */
} nsmeif_fault_signer;

/* The image of one row (malloc'd; caller frees). signer may be NULL for unsigned rows. */
int nsmeif_fault_make(nsmeif_fault fault, const nsmeif_fault_signer *signer, uint8_t **out,
                      size_t *out_len, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Loads a signer's key from PEM (EC P-384 matching the certificate), for nsm-eif corpus. */
int nsmeif_fault_load_key(const uint8_t *key_pem, size_t key_len, const uint8_t *cert_pem,
                          size_t cert_len, nsmkit_p384_private **key,
                          nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_EIF_FAULTS_H */
