/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit faults: named malformed attestation documents on demand.
 *
 * The classes come from one table (nsmkit/faults.def); each has a stable name, a layer, a
 * one-line description and the verifier code expected under the `aws` and `strict`
 * profiles. A document is built from a shape (the valid document's form) and a set of
 * classes applied in phases: fields, payload bytes, headers, signature, envelope.
 *
 * Signatures are deterministic (RFC 6979, nsmkit/det_sign.h): the same PKI, shape and
 * classes give the same bytes.
 *
 * Ownership: nsmfault_pki_open returns an object freed with nsmfault_pki_free;
 * nsmfault_doc_free releases what nsmfault_build put in a document.
 */
#ifndef NSMKIT_FAULT_H
#define NSMKIT_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsmkit/buf.h"
#include "nsmkit/error.h"
#include "nsmkit/opts.h"
#include "nsmkit/sim.h"
#include "nsmkit/verify.h"

typedef enum {
    NSMFAULT_LAYER_BYTES,
    NSMFAULT_LAYER_CBOR,
    NSMFAULT_LAYER_HEADER,
    NSMFAULT_LAYER_PAYLOAD,
    NSMFAULT_LAYER_PKI,
    NSMFAULT_LAYER_SIGNATURE,
    NSMFAULT_LAYER_POLICY,
    NSMFAULT_LAYER_COUNT
} nsmfault_layer;

typedef enum {
#define X(name, layer, target, aws, strict, text) NSMFAULT_##name,
#include "nsmkit/faults.def"
#undef X
    NSMFAULT_COUNT
} nsmfault_class;

typedef struct {
    const char *name;
    nsmfault_layer layer;
    const char *target; /* classes with the same target do not combine */
    nsmv_code aws, strict;
    const char *description;
} nsmfault_info;

const nsmfault_info *nsmfault_get(nsmfault_class c); /* NULL outside the table */
/* The class named name; -1 when there is none. */
int nsmfault_by_name(const char *name);
/* "bytes", "cbor", "header", "payload", "pki", "signature", "policy". */
const char *nsmfault_layer_name(nsmfault_layer layer);

/* A set of classes: bit c set = class c applies. */
typedef struct {
    uint64_t bits[(NSMFAULT_COUNT + 63) / 64];
} nsmfault_set;

void nsmfault_set_clear(nsmfault_set *set);
void nsmfault_set_add(nsmfault_set *set, nsmfault_class c);
bool nsmfault_set_has(const nsmfault_set *set, nsmfault_class c);
bool nsmfault_set_empty(const nsmfault_set *set);
/* Parses "a,b,c": each name must be a class, and no two may share a target (they would
 * change the same thing). Fails with a message naming the unknown class or the pair. */
int nsmfault_set_parse(const char *list, nsmfault_set *set, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* "a,b" in table order (out of out_size bytes). */
void nsmfault_set_format(const nsmfault_set *set, char *out, size_t out_size);
/* The verifier code expected for the set under a profile: the code of the first stage
 * that fails (the lowest code number), OK when every class is accepted. With resign false,
 * classes that change signed bytes without failing first give SIGNATURE_INVALID. */
nsmv_code nsmfault_set_expected(const nsmfault_set *set, nsmv_profile profile, bool resign);

/* ---- the signing material ------------------------------------------------------------- */

typedef struct nsmfault_pki nsmfault_pki;

/* Opens a PKI made by nsm-ca in ca_dir (root.pem, root.key, intermediates.pem; or the older
 * layout of one NAME.pem and NAME.key per tier) and issues leaves at issue_s (Unix
 * seconds). The files are only read: a PKI that nsm-ca would repair is used as it is. store_dir: where the certificates and
 * keys the faults need are kept (made on first use, then read back, so that a committed store
 * makes documents reproducible); NULL keeps them in memory only. Key files are read whatever
 * their mode: this is test material. */
int nsmfault_pki_open(const char *ca_dir, const char *store_dir, uint64_t issue_s,
                      nsmfault_pki **out, nsmkit_error *e) NSMKIT_WARN_UNUSED;
void nsmfault_pki_free(nsmfault_pki *pki);
const uint8_t *nsmfault_pki_root_der(const nsmfault_pki *pki, size_t *len);
unsigned nsmfault_pki_tiers(const nsmfault_pki *pki);
uint64_t nsmfault_pki_issue_time(const nsmfault_pki *pki);

/* ---- shapes and documents -------------------------------------------------------------- */

typedef enum {
    NSMFAULT_OPTIONAL_BYTES = 0, /* public_key 65 bytes, user_data 32, nonce 20 */
    NSMFAULT_OPTIONAL_ABSENT,    /* the three keys left out */
    NSMFAULT_OPTIONAL_NULL,      /* null */
    NSMFAULT_OPTIONAL_EMPTY,     /* 0 bytes */
    NSMFAULT_OPTIONAL_MAX,       /* 1024 bytes */
} nsmfault_optional;

typedef struct {
    nsmsim_map_encoding map;
    bool tagged;              /* tag 18 in front */
    unsigned pcr_count;       /* 1..32; 0: 16 */
    unsigned tiers;           /* 1..3 intermediates; 0: all of the PKI's */
    nsmfault_optional optional;
    /* Overrides (NULL/0: the generator's own): the NSM's own values when a simulator
     * issues the document. */
    const char *module_id;
    const nsmsim_pcr_entry *pcrs; /* pcr_count entries */
    const nsmsim_optional_bytes *public_key, *user_data, *nonce;
    uint64_t timestamp_ms;
} nsmfault_shape;

void nsmfault_shape_init(nsmfault_shape *shape);

/* What a verifier needs besides the document (the manifest's columns). */
typedef struct {
    uint64_t verify_time_s;
    bool expect_pcr0;
    uint8_t pcr0[NSMSIM_PCR_LEN];
    nsmkit_buf nonce, user_data, public_key; /* expected; len 0 and !set: none */
    bool expect_nonce, expect_user_data, expect_public_key;
    uint64_t max_age_s;                      /* 0: no maximum age */
    bool refuse_debug;
} nsmfault_policy;

typedef struct {
    nsmkit_buf doc;
    nsmfault_policy policy;
} nsmfault_doc;

/* Builds a document of the shape with the classes in faults applied; resign false signs
 * the valid document and keeps that signature after the faults. */
int nsmfault_build(nsmfault_pki *pki, const nsmfault_shape *shape, const nsmfault_set *faults,
                   bool resign, nsmfault_doc *out, nsmkit_error *e) NSMKIT_WARN_UNUSED;
void nsmfault_doc_free(nsmfault_doc *doc);
/* Verifier options matching a document's policy (pointers borrow from doc). */
void nsmfault_doc_options(const nsmfault_doc *doc, nsmv_profile profile, nsmv_options *o,
                          nsmv_expected_pcr *pcr_storage);

#endif /* NSMKIT_FAULT_H */

/* Parses one of the state options shared by `attest`, `serve` and `exec` at argv[*i]:
 * --ca DIR, --time UNIX_S[.FRAC], --pcr I=HEX, --measurements FILE, --debug-mode,
 * --map definite|indefinite, and the device fault mode: --fault CLASS[,CLASS],
 * --fault-every N, --fault-rate P (0..1), --seed S, --no-resign. Returns 1 and advances *i past what it used when the option
 * is one of these, 0 when it is not, -1 with a message when its value is bad. Strings are
 * borrowed from argv. */
int nsmsim_options_parse_arg(nsmsim_options *options, int argc, char **argv, int *i,
                             nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* The same options as rows of a command-line table (nsmkit/opts.h): the context given to
 * nsmkit_opts_parse must start with the nsmsim_options they fill. */
extern const nsmkit_opt_group nsmfault_state_options;

/* Boots a simulated NSM (nsmsim_new) with the device fault mode of options (faults,
 * fault_every, fault_rate_ppm, fault_seed, fault_no_resign) plugged into its document
 * hook: documents are replaced by faulty ones of those classes - every time, every Nth
 * time, or at random with the seed. Without options->faults it is nsmsim_new. A bad class
 * or combination gives NSMSIM_ERR_FAULT_MODE. */
nsmsim_code nsmfault_sim_new(const nsmsim_options *options, nsmsim **out,
                             nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Fails (naming the class) when a class changes the verification time or the relying
 * party's expectations rather than the document: those exist only in a corpus. */
int nsmfault_set_document_only(const nsmfault_set *faults, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Rebuilds a document the simulator issued (module id, timestamp, PCRs, optional fields and
 * map encoding taken from it) with the classes applied, signed by a leaf issued under the
 * PKI in ca_dir; appends it to out. Used by `nsm-sim attest --fault` and the device fault
 * mode of `serve` and `exec`. */
int nsmfault_refault(const char *ca_dir, const uint8_t *doc, size_t doc_len,
                     const nsmfault_set *faults, bool resign, nsmkit_buf *out,
                     nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* ---- the corpus ------------------------------------------------------------------------- */

/* One document of the committed corpus (vectors/): the valid shapes, one document per
 * class, a few combinations and documents whose faults were not re-signed. */
typedef struct {
    char name[96];       /* file name without extension */
    char classes[160];   /* "valid" or "a,b" */
    nsmfault_shape shape;
    nsmfault_set faults;
    bool resign;
} nsmfault_corpus_entry;

size_t nsmfault_corpus_count(void);
/* Fills out with entry i (< nsmfault_corpus_count()). */
void nsmfault_corpus_get(size_t i, nsmfault_corpus_entry *out);
/* The expected code of an entry under a profile. */
nsmv_code nsmfault_corpus_expected(const nsmfault_corpus_entry *entry, nsmv_profile profile);
