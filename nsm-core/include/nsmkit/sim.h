/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit nsm-sim: a simulated Nitro Secure Module.
 *
 * The core (nsmsim_*) holds the NSM state - 32 SHA-384 PCRs with their locks, the module
 * id, the clock, the randomness, the signing leaf - and answers raw NSM requests (CBOR in,
 * CBOR out) exactly as the real device does (NSM-FACTS sections 2-3). The front-ends
 * (socket server, LD_PRELOAD shim, drop-in libnsm, CUSE device, the CLI) only move bytes
 * to and from nsmsim_handle.
 *
 * The attestation builder (nsmsim_payload_encode, nsmsim_cose_sign1_encode) is public so
 * that tests and the fault generator can build documents field by field and sign them.
 */
#ifndef NSMKIT_SIM_H
#define NSMKIT_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsmkit/ca.h"
#include "nsmkit/error.h"
#include "nsmkit/buf.h"
#include "nsmkit/p384.h"

#include "nsmkit/nsm_abi.h"
#include "nsmkit/sim_codes.h"

/* ---- the NSM error codes (wire names and the official C ABI values) -------------------- */

typedef enum {
    NSMSIM_SUCCESS = 0,
    NSMSIM_INVALID_ARGUMENT = 1,
    NSMSIM_INVALID_INDEX = 2,
    NSMSIM_INVALID_RESPONSE = 3,
    NSMSIM_READ_ONLY_INDEX = 4,
    NSMSIM_INVALID_OPERATION = 5,
    NSMSIM_BUFFER_TOO_SMALL = 6,
    NSMSIM_INPUT_TOO_LARGE = 7,
    NSMSIM_INTERNAL_ERROR = 8,
} nsmsim_error_code;

/* "InvalidIndex" etc.; NULL for values outside the enum. */
const char *nsmsim_error_code_name(nsmsim_error_code code);

/* ---- sizes ----------------------------------------------------------------------------- */

#define NSMSIM_PCR_COUNT 32
#define NSMSIM_BOOT_PCR_COUNT 16 /* PCR0..15: measured at boot, locked */
#define NSMSIM_PCR_LEN 48        /* SHA-384 */
#define NSMSIM_FIELD_MAX 1024    /* user_data, nonce, public_key */
#define NSMSIM_RANDOM_LEN 256    /* bytes per GetRandom, as real devices return */

typedef enum {
    NSMSIM_MAP_DEFINITE = 0,   /* payload map head a9: documents up to mid-2025 */
    NSMSIM_MAP_INDEFINITE = 1, /* bf ... ff: documents since */
} nsmsim_map_encoding;

/* ---- options ------------------------------------------------------------------------------ */

/* Fills out with n random bytes; returns 0 on success. */
typedef int (*nsmsim_random_fn)(void *ctx, uint8_t *out, size_t n);

typedef struct {
    const char *ca_dir;           /* NULL: the default PKI, created on first use */
    bool debug_mode;              /* every boot PCR reads zero */
    nsmsim_map_encoding map;
    uint8_t boot_pcrs[NSMSIM_BOOT_PCR_COUNT][NSMSIM_PCR_LEN];
    uint16_t boot_pcrs_given;     /* bit i: boot_pcrs[i] was set by the user */
    uint16_t eif_pcrs;            /* bits set by --eif (--debug-mode drops them) */
    uint64_t time_ms;             /* 0: the real clock; otherwise a fixed clock */
    nsmsim_random_fn random;      /* NULL: OpenSSL's RAND_bytes */
    void *random_ctx;
    /* Device fault mode (nsmkit/fault.h): attestation documents are replaced by malformed
     * ones of these classes - every time, every Nth time, or at random with a seed. */
    const char *faults;           /* "a,b"; NULL: none (borrowed) */
    unsigned fault_every;         /* every Nth document; 0: not counted */
    uint32_t fault_rate_ppm;      /* each document with this chance in a million (seeded) */
    uint64_t fault_seed;
    bool fault_no_resign;         /* keep the valid document's signature */
} nsmsim_options;

void nsmsim_options_init(nsmsim_options *options);
/* "--pcr I=HEX": I in 0..15, HEX exactly 48 bytes. */
int nsmsim_options_set_pcr(nsmsim_options *options, const char *assignment,
                           nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* The JSON that `nitro-cli build-enclave` prints: {"Measurements": {"PCR0": "hex", ...}}. */
int nsmsim_options_load_measurements(nsmsim_options *options, const char *path,
                                     nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* ---- the core ------------------------------------------------------------------------------ */

typedef struct nsmsim nsmsim;

/* Boots a simulated NSM: opens (or creates) the PKI, draws the enclave id, measures the
 * boot PCRs. Returns NSMSIM_ERR_OK (0), or the code of the step that failed with the
 * message in e: DEBUG_WITH_PCRS, NO_MEMORY, PKI, FAULT_MODE, BOOT, LEAF_ISSUE. The
 * device fault mode (options->faults) is booted by nsmfault_sim_new (nsmkit/fault.h);
 * here it is FAULT_MODE. */
nsmsim_code nsmsim_new(const nsmsim_options *options, nsmsim **out,
                       nsmkit_error *e) NSMKIT_WARN_UNUSED;
void nsmsim_free(nsmsim *sim);
/* True when this nsmsim_new created the default PKI (of several processes starting at
 * once, exactly one did). */
bool nsmsim_created_default_pki(const nsmsim *sim);
/* What nsmsim_new repaired in the PKI it opened (intermediates re-issued from the root),
 * as one line for the user, or NULL when nothing was repaired. */
const char *nsmsim_pki_repaired(const nsmsim *sim);

/* Answers one raw request with the response the real NSM would give: a success or an
 * NSM error, both as CBOR in resp (at most NSM_RESPONSE_MAX_SIZE bytes). Requests longer
 * than NSM_REQUEST_MAX_SIZE get InputTooLarge. Safe to call from several threads: one
 * mutex serialises requests, as in the driver. Returns 0; -1 only when even an error
 * response could not be written (out of memory). */
int nsmsim_handle(nsmsim *sim, const uint8_t *req, size_t req_len,
                  uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len) NSMKIT_WARN_UNUSED;
/* nsmsim_handle, also saying what became of the request: outcome->code is NSMSIM_ERR_OK
 * for a success answer, or the rule that refused it (the wire answer is that code's
 * ErrorCode), with the cause (a CBOR status, a field, a PCR) in outcome->detail. */
int nsmsim_handle_traced(nsmsim *sim, const uint8_t *req, size_t req_len,
                         uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len,
                         nsmsim_outcome *outcome) NSMKIT_WARN_UNUSED;

const char *nsmsim_module_id(const nsmsim *sim);
/* Back to the PCR state right after boot: boot PCRs measured again, PCR16..31 zero and
 * unlocked. The PKI, the leaf and the module id are kept. For harnesses that must answer
 * every input from the same state (the fuzz targets) without booting a new NSM, which
 * costs a leaf key and certificate. Returns 0, or -1 when hashing failed. */
int nsmsim_reboot(nsmsim *sim) NSMKIT_WARN_UNUSED;
/* In the device fault mode: why the last faulty document could not be made (the request
 * then got InternalError); NULL when none failed. */
const char *nsmsim_fault_error(const nsmsim *sim);

/* A hook that may replace each attestation document after the core signed it. The device
 * fault mode (nsmfault_sim_new in nsmkit/fault.h) plugs in here, so that the core needs
 * neither the fault library nor the verifier. rewrite runs under the core's lock, once per
 * document: it returns 0 to send the document unchanged, 1 when out (empty, with a limit)
 * holds the replacement, -1 with e set when the replacement could not be made (the request
 * then gets InternalError, and nsmsim_fault_error says why). free releases ctx when the
 * hook is replaced or the core freed. */
typedef struct {
    int (*rewrite)(void *ctx, const uint8_t *doc, size_t len, nsmkit_buf *out,
                   nsmkit_error *e);
    void (*free)(void *ctx);
    void *ctx;
} nsmsim_document_hook;
/* Installs hook (copied; NULL: none), freeing the one before. */
void nsmsim_set_document_hook(nsmsim *sim, const nsmsim_document_hook *hook);

/* ---- the attestation builder ---------------------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t len;
    bool present; /* false: encoded as null */
} nsmsim_optional_bytes;

typedef struct {
    unsigned index;
    const uint8_t *value;
    size_t len;
} nsmsim_pcr_entry;

typedef struct {
    const char *module_id;
    const char *digest;           /* "SHA384" */
    uint64_t timestamp_ms;
    const nsmsim_pcr_entry *pcrs; /* in the order given */
    size_t pcr_count;
    const uint8_t *certificate;
    size_t certificate_len;
    const uint8_t *const *cabundle; /* root first */
    const size_t *cabundle_lens;
    size_t cabundle_count;
    nsmsim_optional_bytes public_key, user_data, nonce;
    nsmsim_map_encoding map;
} nsmsim_payload;

/* Appends the payload map, keys in the NSM's order. */
void nsmsim_payload_encode(const nsmsim_payload *payload, nsmkit_buf *out);

/* The protected header the NSM uses: bstr-wrapped {1: -35} (alg ES384). */
extern const uint8_t nsmsim_protected_es384[4];

/* SHA-384 of the COSE Sig_structure ["Signature1", protected, h'', payload]. */
int nsmsim_sig_structure_digest(const uint8_t *protected_hdr, size_t protected_len,
                                const uint8_t *payload, size_t payload_len,
                                uint8_t digest[48]) NSMKIT_WARN_UNUSED;

/* Appends an untagged COSE_Sign1 [protected, {}, payload, signature] signed by leaf
 * (ES384 with nettle's P-384, the nonce from the system's CSPRNG). */
int nsmsim_cose_sign1_encode(const uint8_t *payload, size_t payload_len,
                             const nsmca_leaf *leaf, nsmkit_buf *out) NSMKIT_WARN_UNUSED;
/* The same with the nonce from a source (NULL: the CSPRNG): a deterministic derivation
 * (RFC 6979) makes reproducible documents. */
int nsmsim_cose_sign1_encode_nonce(const uint8_t *payload, size_t payload_len,
                                   const nsmca_leaf *leaf, const nsmkit_p384_nonce_source *nonce,
                                   nsmkit_buf *out) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_SIM_H */
