/*
 * The NSM core: state and request handling.
 *
 * Requests arrive as the official client writes them (serde_cbor, NSM-FACTS section 2):
 *
 *   "DescribeNSM"                                   unit variant: a bare text string
 *   {"ExtendPCR": {"index": 16, "data": h'...'}}    struct variant: a one-key map
 *
 * and are answered the way the real device answers, odd requests included:
 *   unknown command, invalid CBOR, wrong key or type, null or negative index,
 *   extra top-level keys                              -> InvalidOperation
 *   index >= 32                                       -> InvalidIndex
 *   extend or lock of a locked PCR                    -> ReadOnlyIndex
 *   unknown keys inside the inner map                 -> ignored
 *   ExtendPCR data as a text string                   -> accepted like bytes
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "nsmkit/sim.h"
#include "nsmkit/fault.h"
#include "nsmkit/error.h"
#include "nsmkit/bytes.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/cbor.h"
#include "nsmkit/hex.h"

/* Simulated device version reported by DescribeNSM. */
#define NSMSIM_VERSION_MAJOR 1
#define NSMSIM_VERSION_MINOR 0
#define NSMSIM_VERSION_PATCH 0

/* Requests are at most 4 KiB; the deepest valid one nests three levels. */
static const nsmkit_cbor_limits request_limits = {
    .max_depth = 8,
    .max_items = 0,
    .allow_indefinite_strings = true, /* serde_cbor reads them */
    .allow_tags = false,
};

struct nsmsim {
    pthread_mutex_t lock;
    nsmsim_options options;
    nsmca_pki *pki;
    nsmca_leaf *leaf; /* issued at the first attestation, replaced when it expires */
    bool created_default_pki;
    uint8_t enclave_id[NSMCA_ENCLAVE_ID_LEN];
    char module_id[64];
    uint8_t pcr[NSMSIM_PCR_COUNT][NSMSIM_PCR_LEN];
    bool locked[NSMSIM_PCR_COUNT];
    nsmkit_buf payload;  /* scratch, reused by every attestation */
    /* device fault mode (options.faults) */
    bool faulty;
    nsmfault_set faults;
    char *fault_ca_dir;
    uint64_t fault_count, fault_rng;
    nsmkit_error fault_error;   /* why the last faulty document could not be made */
    nsmkit_buf document;
    nsmkit_buf response;
};

const char *nsmsim_error_code_name(nsmsim_error_code code)
{
    switch (code) {
    case NSMSIM_SUCCESS: return "Success";
    case NSMSIM_INVALID_ARGUMENT: return "InvalidArgument";
    case NSMSIM_INVALID_INDEX: return "InvalidIndex";
    case NSMSIM_INVALID_RESPONSE: return "InvalidResponse";
    case NSMSIM_READ_ONLY_INDEX: return "ReadOnlyIndex";
    case NSMSIM_INVALID_OPERATION: return "InvalidOperation";
    case NSMSIM_BUFFER_TOO_SMALL: return "BufferTooSmall";
    case NSMSIM_INPUT_TOO_LARGE: return "InputTooLarge";
    case NSMSIM_INTERNAL_ERROR: return "InternalError";
    }
    return NULL;
}

/* ---- state ---------------------------------------------------------------------------------- */

static int sha384(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                  uint8_t out[NSMSIM_PCR_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha384(), NULL) &&
             EVP_DigestUpdate(ctx, a, a_len) && EVP_DigestUpdate(ctx, b, b_len) &&
             EVP_DigestFinal_ex(ctx, out, &n) && n == NSMSIM_PCR_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

static int random_fill(const nsmsim *sim, uint8_t *out, size_t n)
{
    if (sim->options.random)
        return sim->options.random(sim->options.random_ctx, out, n);
    return RAND_bytes(out, (int)n) == 1 ? 0 : -1;
}

static uint64_t clock_ms(const nsmsim *sim)
{
    if (sim->options.time_ms)
        return sim->options.time_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Boot measurements when the user gave none: PCR0-2 stand for an image, PCR4 for the
 * parent instance (extended from zero with its id, as the real PCR4 is); the other boot
 * PCRs stay zero, as for an unsigned image started without an IAM role. */
static int measure_boot_pcrs(nsmsim *sim)
{
    static const char *const defaults[3] = {
        "nsmkit simulated enclave image (PCR0)",
        "nsmkit simulated kernel and bootstrap (PCR1)",
        "nsmkit simulated application (PCR2)",
    };
    static const uint8_t zero[NSMSIM_PCR_LEN];
    memset(sim->pcr, 0, sizeof(sim->pcr));
    for (unsigned i = 0; i < NSMSIM_PCR_COUNT; i++)
        sim->locked[i] = i < NSMSIM_BOOT_PCR_COUNT;
    if (sim->options.debug_mode)
        return 0; /* a debug enclave reads zero in every boot PCR */
    for (unsigned i = 0; i < 3; i++)
        if (sha384(zero, 0, (const uint8_t *)defaults[i], strlen(defaults[i]), sim->pcr[i]) != 0)
            return -1;
    const char *instance = nsmca_instance_id(sim->pki);
    if (sha384(zero, sizeof(zero), (const uint8_t *)instance, strlen(instance), sim->pcr[4]) != 0)
        return -1;
    for (unsigned i = 0; i < NSMSIM_BOOT_PCR_COUNT; i++)
        if (sim->options.boot_pcrs_given & (1u << i))
            memcpy(sim->pcr[i], sim->options.boot_pcrs[i], NSMSIM_PCR_LEN);
    return 0;
}

static int leaf_for_time(nsmsim *sim, uint64_t t_s, nsmkit_error *e);
static int fault_mode_init(nsmsim *sim, const nsmsim_options *options, nsmkit_error *e);

int nsmsim_new(const nsmsim_options *options, nsmsim **out, nsmkit_error *e)
{
    *out = NULL;
    if (options->debug_mode && options->boot_pcrs_given)
        return nsmkit_fail(e, "--debug-mode reads every boot PCR as zero: it cannot be combined "
                              "with --pcr or --measurements");
    nsmsim *sim = calloc(1, sizeof(*sim));
    if (!sim)
        return nsmkit_fail(e, "out of memory");
    sim->options = *options;
    sim->options.ca_dir = NULL; /* borrowed: only used here */
    pthread_mutex_init(&sim->lock, NULL);
    nsmkit_buf_init(&sim->payload, NSM_RESPONSE_MAX_SIZE);
    nsmkit_buf_init(&sim->document, NSM_RESPONSE_MAX_SIZE);
    nsmkit_buf_init(&sim->response, NSM_RESPONSE_MAX_SIZE);

    if (options->ca_dir) {
        if (nsmca_open(options->ca_dir, &sim->pki, e) != 0)
            goto fail;
    } else {
        char dir[4096];
        if (nsmca_default_dir(dir, sizeof(dir), e) != 0 ||
            nsmca_open_or_init(dir, &sim->pki, &sim->created_default_pki, e) != 0)
            goto fail;
    }

    if (fault_mode_init(sim, options, e) != 0)
        goto fail;

    /* Enclave ids look like the real ones: 6 bytes of start time in ms, 2 random bytes. */
    uint64_t start_ms = clock_ms(sim);
    for (int i = 0; i < 6; i++)
        sim->enclave_id[i] = (uint8_t)(start_ms >> (40 - 8 * i));
    if (random_fill(sim, sim->enclave_id + 6, 2) != 0) {
        nsmkit_fail(e, "no randomness for the enclave id");
        goto fail;
    }
    char hex[2 * NSMCA_ENCLAVE_ID_LEN + 1];
    nsmkit_hex_encode(sim->enclave_id, sizeof(sim->enclave_id), hex);
    snprintf(sim->module_id, sizeof(sim->module_id), "%s-enc%s", nsmca_instance_id(sim->pki), hex);
    if (measure_boot_pcrs(sim) != 0) {
        nsmkit_fail(e, "cannot compute the boot PCRs");
        goto fail;
    }
    /* The leaf exists from boot, as on real hardware: its first document follows within
     * seconds, and a clock the PKI cannot serve is reported now, in words. */
    if (leaf_for_time(sim, start_ms / 1000, e) != 0)
        goto fail;
    *out = sim;
    return 0;
fail:
    nsmsim_free(sim);
    return -1;
}

/* The device fault mode's state: the classes (checked against the table now, so that a bad
 * name stops the NSM at boot with a message) and the PKI directory the faulty documents are
 * signed under. */
static int fault_mode_init(nsmsim *sim, const nsmsim_options *options, nsmkit_error *e)
{
    if (!options->faults) {
        if (options->fault_every || options->fault_rate_ppm || options->fault_no_resign)
            return nsmkit_fail(e, "--fault-every, --fault-rate and --no-resign need --fault");
        return 0;
    }
    if (options->fault_every && options->fault_rate_ppm)
        return nsmkit_fail(e, "--fault-every and --fault-rate exclude each other");
    if (nsmfault_set_parse(options->faults, &sim->faults, e) != 0 ||
        nsmfault_set_document_only(&sim->faults, e) != 0)
        return -1;
    char dir[4096];
    if (options->ca_dir)
        snprintf(dir, sizeof(dir), "%s", options->ca_dir);
    else if (nsmca_default_dir(dir, sizeof(dir), e) != 0)
        return -1;
    sim->fault_ca_dir = strdup(dir);
    if (!sim->fault_ca_dir)
        return nsmkit_fail(e, "out of memory");
    sim->fault_rng = options->fault_seed ^ 0x9e3779b97f4a7c15ull; /* never zero for xorshift */
    if (sim->fault_rng == 0)
        sim->fault_rng = 1;
    sim->options.faults = NULL; /* borrowed: parsed here */
    sim->faulty = true;
    return 0;
}

const char *nsmsim_fault_error(const nsmsim *sim)
{
    return sim->fault_error.msg[0] ? sim->fault_error.msg : NULL;
}

void nsmsim_free(nsmsim *sim)
{
    if (!sim)
        return;
    nsmca_leaf_free(sim->leaf);
    nsmca_close(sim->pki);
    free(sim->fault_ca_dir);
    nsmkit_buf_free(&sim->payload);
    nsmkit_buf_free(&sim->document);
    nsmkit_buf_free(&sim->response);
    pthread_mutex_destroy(&sim->lock);
    free(sim);
}

bool nsmsim_created_default_pki(const nsmsim *sim)
{
    return sim->created_default_pki;
}

const char *nsmsim_module_id(const nsmsim *sim)
{
    return sim->module_id;
}

/* ---- request decoding ------------------------------------------------------------------------ */

/* The value of the single field `name` in the inner map. Unknown keys are ignored, as the
 * real device does; a field given twice is malformed. Returns the NSM error code. */
static nsmsim_error_code field_find(const cbor_item_t *map, const char *name,
                                    const cbor_item_t **value)
{
    *value = NULL;
    size_t n = cbor_map_size(map);
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < n; i++) {
        if (!nsmkit_cbor_text_equals(pairs[i].key, name))
            continue;
        if (*value)
            return NSMSIM_INVALID_OPERATION;
        *value = pairs[i].value;
    }
    return NSMSIM_SUCCESS;
}

/* A PCR index or range: a non-negative integer. Anything else (missing, null, negative,
 * another type) is malformed; the range is checked by the caller. */
static nsmsim_error_code field_uint(const cbor_item_t *map, const char *name, uint64_t *out)
{
    const cbor_item_t *value;
    nsmsim_error_code rc = field_find(map, name, &value);
    if (rc != NSMSIM_SUCCESS)
        return rc;
    if (!value || !cbor_isa_uint(value))
        return NSMSIM_INVALID_OPERATION;
    *out = cbor_get_int(value);
    return NSMSIM_SUCCESS;
}

/* Byte data: a byte string, or a text string (the device takes both), definite or in
 * chunks. Copies into out (capacity cap); too long -> InputTooLarge. `present` is false
 * for a missing field or null when `optional`. */
static nsmsim_error_code field_bytes(const cbor_item_t *map, const char *name, bool optional,
                                     uint8_t *out, size_t cap, size_t *len, bool *present)
{
    const cbor_item_t *value;
    nsmsim_error_code rc = field_find(map, name, &value);
    *len = 0;
    *present = false;
    if (rc != NSMSIM_SUCCESS)
        return rc;
    if (!value || nsmkit_cbor_is_null(value))
        return optional ? NSMSIM_SUCCESS : NSMSIM_INVALID_OPERATION;
    if (!cbor_isa_bytestring(value) && !cbor_isa_string(value))
        return NSMSIM_INVALID_OPERATION;
    bool is_bytes = cbor_isa_bytestring(value);
    bool definite = is_bytes ? cbor_bytestring_is_definite(value) : cbor_string_is_definite(value);
    size_t chunk_count = 1;
    cbor_item_t **chunks = NULL;
    if (!definite) {
        chunk_count = is_bytes ? cbor_bytestring_chunk_count(value) : cbor_string_chunk_count(value);
        chunks = is_bytes ? cbor_bytestring_chunks_handle(value) : cbor_string_chunks_handle(value);
    }
    for (size_t i = 0; i < chunk_count; i++) {
        const cbor_item_t *piece = definite ? value : chunks[i];
        /* chunks of an indefinite string are definite strings of the same type (checked by
         * the pre-pass), but check again where we read */
        bool ok = is_bytes ? cbor_isa_bytestring(piece) && cbor_bytestring_is_definite(piece)
                           : cbor_isa_string(piece) && cbor_string_is_definite(piece);
        if (!ok)
            return NSMSIM_INVALID_OPERATION;
        size_t n = is_bytes ? cbor_bytestring_length(piece) : cbor_string_length(piece);
        const uint8_t *data = is_bytes ? cbor_bytestring_handle(piece) : cbor_string_handle(piece);
        if (n > cap - *len)
            return NSMSIM_INPUT_TOO_LARGE;
        if (n)
            memcpy(out + *len, data, n);
        *len += n;
    }
    *present = true;
    return NSMSIM_SUCCESS;
}

/* ---- responses -------------------------------------------------------------------------------- */

static void respond_error(nsmkit_buf *r, nsmsim_error_code code)
{
    nsmkit_buf_reset(r);
    nsmkit_cbor_put_head(r, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(r, "Error");
    nsmkit_cbor_put_text(r, nsmsim_error_code_name(code));
}

/* {"Name": {  ... the caller appends `fields` key/value pairs */
static void respond_struct(nsmkit_buf *r, const char *name, size_t fields)
{
    nsmkit_buf_reset(r);
    nsmkit_cbor_put_head(r, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(r, name);
    nsmkit_cbor_put_head(r, NSMKIT_CBOR_MAP, fields);
}

static bool pcr_index_ok(uint64_t index)
{
    return index < NSMSIM_PCR_COUNT;
}

/* ---- handlers ----------------------------------------------------------------------------------- */

typedef nsmsim_error_code (*request_handler)(nsmsim *sim, const cbor_item_t *args);

static nsmsim_error_code handle_describe_nsm(nsmsim *sim, const cbor_item_t *args)
{
    (void)args;
    nsmkit_buf *r = &sim->response;
    size_t locked = 0;
    for (unsigned i = 0; i < NSMSIM_PCR_COUNT; i++)
        locked += sim->locked[i];
    respond_struct(r, "DescribeNSM", 7);
    nsmkit_cbor_put_text(r, "version_major");
    nsmkit_cbor_put_uint(r, NSMSIM_VERSION_MAJOR);
    nsmkit_cbor_put_text(r, "version_minor");
    nsmkit_cbor_put_uint(r, NSMSIM_VERSION_MINOR);
    nsmkit_cbor_put_text(r, "version_patch");
    nsmkit_cbor_put_uint(r, NSMSIM_VERSION_PATCH);
    nsmkit_cbor_put_text(r, "module_id");
    nsmkit_cbor_put_text(r, sim->module_id);
    nsmkit_cbor_put_text(r, "max_pcrs");
    nsmkit_cbor_put_uint(r, NSMSIM_PCR_COUNT);
    nsmkit_cbor_put_text(r, "locked_pcrs");
    nsmkit_cbor_put_head(r, NSMKIT_CBOR_ARRAY, locked);
    for (unsigned i = 0; i < NSMSIM_PCR_COUNT; i++)
        if (sim->locked[i])
            nsmkit_cbor_put_uint(r, i);
    nsmkit_cbor_put_text(r, "digest");
    nsmkit_cbor_put_text(r, "SHA384");
    return NSMSIM_SUCCESS;
}

static nsmsim_error_code handle_get_random(nsmsim *sim, const cbor_item_t *args)
{
    (void)args;
    uint8_t random[NSMSIM_RANDOM_LEN];
    if (random_fill(sim, random, sizeof(random)) != 0)
        return NSMSIM_INTERNAL_ERROR;
    respond_struct(&sim->response, "GetRandom", 1);
    nsmkit_cbor_put_text(&sim->response, "random");
    nsmkit_cbor_put_bytes(&sim->response, random, sizeof(random));
    nsmkit_wipe(random, sizeof(random));
    return NSMSIM_SUCCESS;
}

static nsmsim_error_code handle_describe_pcr(nsmsim *sim, const cbor_item_t *args)
{
    uint64_t index;
    nsmsim_error_code rc = field_uint(args, "index", &index);
    if (rc != NSMSIM_SUCCESS)
        return rc;
    if (!pcr_index_ok(index))
        return NSMSIM_INVALID_INDEX;
    respond_struct(&sim->response, "DescribePCR", 2);
    nsmkit_cbor_put_text(&sim->response, "lock");
    nsmkit_cbor_put_bool(&sim->response, sim->locked[index]);
    nsmkit_cbor_put_text(&sim->response, "data");
    nsmkit_cbor_put_bytes(&sim->response, sim->pcr[index], NSMSIM_PCR_LEN);
    return NSMSIM_SUCCESS;
}

static nsmsim_error_code handle_extend_pcr(nsmsim *sim, const cbor_item_t *args)
{
    uint64_t index;
    uint8_t data[NSM_REQUEST_MAX_SIZE];
    size_t len;
    bool present;
    nsmsim_error_code rc = field_uint(args, "index", &index);
    if (rc == NSMSIM_SUCCESS)
        rc = field_bytes(args, "data", false, data, sizeof(data), &len, &present);
    if (rc != NSMSIM_SUCCESS)
        return rc;
    if (!pcr_index_ok(index))
        return NSMSIM_INVALID_INDEX;
    if (sim->locked[index])
        return NSMSIM_READ_ONLY_INDEX;
    uint8_t extended[NSMSIM_PCR_LEN];
    if (sha384(sim->pcr[index], NSMSIM_PCR_LEN, data, len, extended) != 0)
        return NSMSIM_INTERNAL_ERROR;
    memcpy(sim->pcr[index], extended, NSMSIM_PCR_LEN);
    respond_struct(&sim->response, "ExtendPCR", 1);
    nsmkit_cbor_put_text(&sim->response, "data");
    nsmkit_cbor_put_bytes(&sim->response, extended, NSMSIM_PCR_LEN);
    return NSMSIM_SUCCESS;
}

static nsmsim_error_code handle_lock_pcr(nsmsim *sim, const cbor_item_t *args)
{
    uint64_t index;
    nsmsim_error_code rc = field_uint(args, "index", &index);
    if (rc != NSMSIM_SUCCESS)
        return rc;
    if (!pcr_index_ok(index))
        return NSMSIM_INVALID_INDEX;
    if (sim->locked[index])
        return NSMSIM_READ_ONLY_INDEX;
    sim->locked[index] = true;
    nsmkit_buf_reset(&sim->response);
    nsmkit_cbor_put_text(&sim->response, "LockPCR");
    return NSMSIM_SUCCESS;
}

static nsmsim_error_code handle_lock_pcrs(nsmsim *sim, const cbor_item_t *args)
{
    uint64_t range;
    nsmsim_error_code rc = field_uint(args, "range", &range);
    if (rc != NSMSIM_SUCCESS)
        return rc;
    if (range > NSMSIM_PCR_COUNT)
        return NSMSIM_INVALID_INDEX;
    /* Locking an already locked PCR in the range is not an error: PCR0-15 always are. */
    for (uint64_t i = 0; i < range; i++)
        sim->locked[i] = true;
    nsmkit_buf_reset(&sim->response);
    nsmkit_cbor_put_text(&sim->response, "LockPCRs");
    return NSMSIM_SUCCESS;
}

/* Makes sure the signing leaf is valid at t_s, issuing a new one when it is not (a real
 * NSM reuses its leaf for every document of its three-hour life). */
static int leaf_for_time(nsmsim *sim, uint64_t t_s, nsmkit_error *e)
{
    if (sim->leaf && nsmca_leaf_valid_at(sim->leaf, t_s) &&
        nsmca_leaf_valid_at(sim->leaf, t_s + 1))
        return 0;
    nsmca_leaf *fresh;
    if (nsmca_leaf_issue(sim->pki, sim->enclave_id, t_s, &fresh, e) != 0)
        return -1;
    nsmca_leaf_free(sim->leaf);
    sim->leaf = fresh;
    return 0;
}

/* Whether this document is one the fault mode replaces: every one, every Nth, or at random
 * (xorshift64 from the seed, so that a run can be repeated). */
static bool fault_due(nsmsim *sim)
{
    sim->fault_count++;
    if (sim->options.fault_every)
        return sim->fault_count % sim->options.fault_every == 0;
    if (sim->options.fault_rate_ppm) {
        uint64_t x = sim->fault_rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sim->fault_rng = x;
        return x % 1000000u < sim->options.fault_rate_ppm;
    }
    return true;
}

static nsmsim_error_code handle_attestation(nsmsim *sim, const cbor_item_t *args)
{
    uint8_t user_data[NSMSIM_FIELD_MAX], nonce[NSMSIM_FIELD_MAX], public_key[NSMSIM_FIELD_MAX];
    nsmsim_payload p = {0};
    nsmsim_error_code rc;

    /* Decode all three before judging any, as the device's decoder does. */
    rc = field_bytes(args, "user_data", true, user_data, sizeof(user_data), &p.user_data.len,
                     &p.user_data.present);
    if (rc == NSMSIM_SUCCESS)
        rc = field_bytes(args, "nonce", true, nonce, sizeof(nonce), &p.nonce.len,
                         &p.nonce.present);
    if (rc == NSMSIM_SUCCESS)
        rc = field_bytes(args, "public_key", true, public_key, sizeof(public_key),
                         &p.public_key.len, &p.public_key.present);
    if (rc != NSMSIM_SUCCESS)
        return rc;
    p.user_data.data = user_data;
    p.nonce.data = nonce;
    p.public_key.data = public_key;

    uint64_t now_ms = clock_ms(sim);
    if (leaf_for_time(sim, now_ms / 1000, NULL) != 0)
        return NSMSIM_INTERNAL_ERROR;

    nsmsim_pcr_entry pcrs[NSMSIM_PCR_COUNT];
    for (unsigned i = 0; i < NSMSIM_PCR_COUNT; i++) {
        if (!sim->locked[i])
            continue;
        pcrs[p.pcr_count++] = (nsmsim_pcr_entry){i, sim->pcr[i], NSMSIM_PCR_LEN};
    }
    const uint8_t *bundle[1 + NSMCA_MAX_TIERS];
    size_t bundle_lens[1 + NSMCA_MAX_TIERS];
    unsigned bundle_count = nsmca_leaf_bundle_count(sim->leaf);
    for (unsigned i = 0; i < bundle_count; i++)
        bundle[i] = nsmca_leaf_bundle_der(sim->leaf, i, &bundle_lens[i]);
    p.module_id = sim->module_id;
    p.digest = "SHA384";
    p.timestamp_ms = now_ms;
    p.pcrs = pcrs;
    p.certificate = nsmca_leaf_der(sim->leaf, &p.certificate_len);
    p.cabundle = bundle;
    p.cabundle_lens = bundle_lens;
    p.cabundle_count = bundle_count;
    p.map = sim->options.map;

    nsmkit_buf_reset(&sim->payload);
    nsmkit_buf_reset(&sim->document);
    nsmsim_payload_encode(&p, &sim->payload);
    if (sim->payload.err ||
        nsmsim_cose_sign1_encode(sim->payload.data, sim->payload.len, sim->leaf,
                                 &sim->document) != 0)
        return NSMSIM_INTERNAL_ERROR;
    if (sim->faulty && fault_due(sim)) {
        /* the device fault mode: the same document, malformed (nsmkit/fault.h) */
        nsmkit_buf faulty;
        nsmkit_buf_init(&faulty, NSM_RESPONSE_MAX_SIZE - 64);
        int frc = nsmfault_refault(sim->fault_ca_dir, sim->document.data, sim->document.len,
                                   &sim->faults, !sim->options.fault_no_resign, &faulty,
                                   &sim->fault_error);
        nsmkit_buf_free(&sim->document);
        sim->document = faulty;
        if (frc != 0)
            return NSMSIM_INTERNAL_ERROR;
    }
    respond_struct(&sim->response, "Attestation", 1);
    nsmkit_cbor_put_text(&sim->response, "document");
    nsmkit_cbor_put_bytes(&sim->response, sim->document.data, sim->document.len);
    return NSMSIM_SUCCESS;
}

typedef struct {
    const char *name;
    bool unit;  /* unit variant: a bare text string; otherwise a one-key map */
    request_handler handler;
} request_kind;

static const request_kind request_kinds[] = {
    {"DescribeNSM", true, handle_describe_nsm},
    {"GetRandom", true, handle_get_random},
    {"DescribePCR", false, handle_describe_pcr},
    {"ExtendPCR", false, handle_extend_pcr},
    {"LockPCR", false, handle_lock_pcr},
    {"LockPCRs", false, handle_lock_pcrs},
    {"Attestation", false, handle_attestation},
};

static const request_kind *request_kind_find(const cbor_item_t *name, bool unit)
{
    for (size_t i = 0; i < sizeof(request_kinds) / sizeof(request_kinds[0]); i++)
        if (request_kinds[i].unit == unit && nsmkit_cbor_text_equals(name, request_kinds[i].name))
            return &request_kinds[i];
    return NULL;
}

static nsmsim_error_code dispatch(nsmsim *sim, const uint8_t *req, size_t req_len)
{
    if (req_len > NSM_REQUEST_MAX_SIZE)
        return NSMSIM_INPUT_TOO_LARGE;
    cbor_item_t *request = NULL;
    if (nsmkit_cbor_load(req, req_len, &request_limits, &request, NULL) != NSMKIT_CBOR_OK)
        return NSMSIM_INVALID_OPERATION;

    nsmsim_error_code rc = NSMSIM_INVALID_OPERATION;
    if (cbor_isa_string(request)) {
        const request_kind *kind = request_kind_find(request, true);
        if (kind)
            rc = kind->handler(sim, NULL);
    } else if (cbor_isa_map(request) && cbor_map_size(request) == 1) {
        struct cbor_pair *pair = cbor_map_handle(request);
        const request_kind *kind = request_kind_find(pair[0].key, false);
        if (kind && cbor_isa_map(pair[0].value))
            rc = kind->handler(sim, pair[0].value);
    }
    cbor_decref(&request);
    return rc;
}

int nsmsim_handle(nsmsim *sim, const uint8_t *req, size_t req_len,
                  uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len)
{
    *resp_len = 0;
    pthread_mutex_lock(&sim->lock);
    nsmsim_error_code rc = dispatch(sim, req, req_len);
    if (rc == NSMSIM_SUCCESS && sim->response.err)
        rc = NSMSIM_INTERNAL_ERROR;
    if (rc != NSMSIM_SUCCESS)
        respond_error(&sim->response, rc);
    int result = -1;
    if (!sim->response.err && sim->response.len <= NSM_RESPONSE_MAX_SIZE) {
        memcpy(resp, sim->response.data, sim->response.len);
        *resp_len = sim->response.len;
        result = 0;
    }
    pthread_mutex_unlock(&sim->lock);
    return result;
}
