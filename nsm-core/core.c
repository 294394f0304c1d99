/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NSM core: state and request handling.
 *
 * Requests are decoded by request.c from the message table (messages.def), which also
 * lists what odd requests get; each request id has its handler here. The state rules:
 *   index >= 32 (range > 32 for LockPCRs)            PCR_INDEX   [InvalidIndex]
 *   extend or lock of a locked PCR                   PCR_LOCKED  [ReadOnlyIndex]
 * Every refusal keeps its nsmsim_code and detail for the trace (nsmsim_handle_traced)
 * while the wire answer stays the device's ErrorCode.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "messages.h"
#include "nsmkit/sim.h"
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
    /* what may replace each document (the device fault mode plugs in here) */
    nsmsim_document_hook hook;
    nsmkit_error fault_error;   /* why the last replaced document could not be made */
    nsmkit_buf document;
    nsmkit_buf response;
    nsmsim_request_decoded decoded; /* the request being answered, with its bytes */
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
static int fault_mode_check(const nsmsim_options *options, nsmkit_error *e);

nsmsim_code nsmsim_new(const nsmsim_options *options, nsmsim **out, nsmkit_error *e)
{
    *out = NULL;
    if (options->debug_mode && options->boot_pcrs_given) {
        nsmkit_fail(e, "--debug-mode reads every boot PCR as zero: it cannot be combined "
                       "with --pcr or --measurements");
        return NSMSIM_ERR_DEBUG_WITH_PCRS;
    }
    nsmsim *sim = calloc(1, sizeof(*sim));
    if (!sim) {
        nsmkit_fail(e, "out of memory");
        return NSMSIM_ERR_NO_MEMORY;
    }
    nsmsim_code code = NSMSIM_ERR_PKI;
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

    code = NSMSIM_ERR_FAULT_MODE;
    if (fault_mode_check(options, e) != 0)
        goto fail;

    /* Enclave ids look like the real ones: 6 bytes of start time in ms, 2 random bytes. */
    uint64_t start_ms = clock_ms(sim);
    for (int i = 0; i < 6; i++)
        sim->enclave_id[i] = (uint8_t)(start_ms >> (40 - 8 * i));
    code = NSMSIM_ERR_BOOT;
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
    code = NSMSIM_ERR_LEAF_ISSUE;
    if (leaf_for_time(sim, start_ms / 1000, e) != 0)
        goto fail;
    *out = sim;
    return NSMSIM_ERR_OK;
fail:
    nsmsim_free(sim);
    return code;
}

/* The device fault mode lives in the fault library (nsmfault_sim_new), which plugs into
 * the document hook: the core only checks that the flags that tune it come with it. */
static int fault_mode_check(const nsmsim_options *options, nsmkit_error *e)
{
    if (options->faults)
        return nsmkit_fail(e, "the device fault mode (--fault) is not part of the NSM core: "
                              "boot it with nsmfault_sim_new (nsmkit/fault.h)");
    if (options->fault_every || options->fault_rate_ppm || options->fault_no_resign)
        return nsmkit_fail(e, "--fault-every, --fault-rate and --no-resign need --fault");
    return 0;
}

void nsmsim_set_document_hook(nsmsim *sim, const nsmsim_document_hook *hook)
{
    pthread_mutex_lock(&sim->lock);
    if (sim->hook.free)
        sim->hook.free(sim->hook.ctx);
    sim->hook = hook ? *hook : (nsmsim_document_hook){0};
    pthread_mutex_unlock(&sim->lock);
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
    if (sim->hook.free)
        sim->hook.free(sim->hook.ctx);
    nsmkit_buf_free(&sim->payload);
    nsmkit_buf_free(&sim->document);
    nsmkit_buf_free(&sim->response);
    pthread_mutex_destroy(&sim->lock);
    free(sim);
}

int nsmsim_reboot(nsmsim *sim)
{
    pthread_mutex_lock(&sim->lock);
    int r = measure_boot_pcrs(sim);
    pthread_mutex_unlock(&sim->lock);
    return r;
}

bool nsmsim_created_default_pki(const nsmsim *sim)
{
    return sim->created_default_pki;
}

const char *nsmsim_pki_repaired(const nsmsim *sim)
{
    return nsmca_repaired(sim->pki);
}

const char *nsmsim_module_id(const nsmsim *sim)
{
    return sim->module_id;
}

/* ---- responses -------------------------------------------------------------------------------- */

/* Responses are written from the message table: the name, then (for a struct) the
 * number of fields the table lists; the handler appends each field with respond_field,
 * in table order. */
static void respond(nsmkit_buf *r, nsmsim_response_kind kind)
{
    const nsmsim_message_spec *m = &nsmsim_responses[kind];
    nsmkit_buf_reset(r);
    if (m->shape == NSMSIM_SHAPE_UNIT) {
        nsmkit_cbor_put_text(r, m->name);
        return;
    }
    nsmkit_cbor_put_head(r, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(r, m->name);
    if (m->shape == NSMSIM_SHAPE_STRUCT) {
        unsigned ids[NSMSIM_MESSAGE_MAX_FIELDS];
        nsmkit_cbor_put_head(r, NSMKIT_CBOR_MAP,
                             nsmsim_message_field_ids(nsmsim_response_fields, NSMSIM_RESPF_COUNT,
                                                      kind, ids));
    }
}

static void respond_field(nsmkit_buf *r, nsmsim_response_field_id field)
{
    nsmkit_cbor_put_text(r, nsmsim_response_fields[field].name);
}

static void respond_error(nsmkit_buf *r, nsmsim_error_code code)
{
    respond(r, NSMSIM_RESP_ERROR);
    nsmkit_cbor_put_text(r, nsmsim_error_code_name(code));
}

/* The steps every PCR request shares: the index in range, and for a change, unlocked. */
static nsmsim_code pcr_check(const nsmsim *sim, uint64_t index, bool change,
                             nsmsim_outcome *o)
{
    if (index >= NSMSIM_PCR_COUNT)
        return nsmsim_outcome_set(o, NSMSIM_ERR_PCR_INDEX, "PCR %llu of %d",
                                  (unsigned long long)index, NSMSIM_PCR_COUNT);
    if (change && sim->locked[index])
        return nsmsim_outcome_set(o, NSMSIM_ERR_PCR_LOCKED, "PCR %llu is locked",
                                  (unsigned long long)index);
    return NSMSIM_ERR_OK;
}

/* ---- handlers ----------------------------------------------------------------------------------- */

typedef nsmsim_code (*request_handler)(nsmsim *sim, const nsmsim_request *req, nsmsim_outcome *o);

static nsmsim_code handle_describe_nsm(nsmsim *sim, const nsmsim_request *req, nsmsim_outcome *o)
{
    (void)req;
    (void)o;
    nsmkit_buf *r = &sim->response;
    size_t locked = 0;
    for (unsigned i = 0; i < NSMSIM_PCR_COUNT; i++)
        locked += sim->locked[i];
    respond(r, NSMSIM_RESP_DESCRIBE_NSM);
    respond_field(r, NSMSIM_RESPF_DESCRIBE_NSM_VERSION_MAJOR);
    nsmkit_cbor_put_uint(r, NSMSIM_VERSION_MAJOR);
    respond_field(r, NSMSIM_RESPF_DESCRIBE_NSM_VERSION_MINOR);
    nsmkit_cbor_put_uint(r, NSMSIM_VERSION_MINOR);
    respond_field(r, NSMSIM_RESPF_DESCRIBE_NSM_VERSION_PATCH);
    nsmkit_cbor_put_uint(r, NSMSIM_VERSION_PATCH);
    respond_field(r, NSMSIM_RESPF_DESCRIBE_NSM_MODULE_ID);
    nsmkit_cbor_put_text(r, sim->module_id);
    respond_field(r, NSMSIM_RESPF_DESCRIBE_NSM_MAX_PCRS);
    nsmkit_cbor_put_uint(r, NSMSIM_PCR_COUNT);
    respond_field(r, NSMSIM_RESPF_DESCRIBE_NSM_LOCKED_PCRS);
    nsmkit_cbor_put_head(r, NSMKIT_CBOR_ARRAY, locked);
    for (unsigned i = 0; i < NSMSIM_PCR_COUNT; i++)
        if (sim->locked[i])
            nsmkit_cbor_put_uint(r, i);
    respond_field(r, NSMSIM_RESPF_DESCRIBE_NSM_DIGEST);
    nsmkit_cbor_put_text(r, "SHA384");
    return NSMSIM_ERR_OK;
}

static nsmsim_code handle_get_random(nsmsim *sim, const nsmsim_request *req, nsmsim_outcome *o)
{
    (void)req;
    uint8_t random[NSMSIM_RANDOM_LEN];
    if (random_fill(sim, random, sizeof(random)) != 0)
        return nsmsim_outcome_set(o, NSMSIM_ERR_NO_RANDOMNESS, "GetRandom");
    respond(&sim->response, NSMSIM_RESP_GET_RANDOM);
    respond_field(&sim->response, NSMSIM_RESPF_GET_RANDOM_RANDOM);
    nsmkit_cbor_put_bytes(&sim->response, random, sizeof(random));
    nsmkit_wipe(random, sizeof(random));
    return NSMSIM_ERR_OK;
}

/* The PCR handlers get an index already checked by dispatch (pcr_check). */
static nsmsim_code handle_describe_pcr(nsmsim *sim, const nsmsim_request *req, nsmsim_outcome *o)
{
    (void)o;
    uint64_t index = req->field[NSMSIM_REQF_DESCRIBE_PCR_INDEX].uint;
    respond(&sim->response, NSMSIM_RESP_DESCRIBE_PCR);
    respond_field(&sim->response, NSMSIM_RESPF_DESCRIBE_PCR_LOCK);
    nsmkit_cbor_put_bool(&sim->response, sim->locked[index]);
    respond_field(&sim->response, NSMSIM_RESPF_DESCRIBE_PCR_DATA);
    nsmkit_cbor_put_bytes(&sim->response, sim->pcr[index], NSMSIM_PCR_LEN);
    return NSMSIM_ERR_OK;
}

static nsmsim_code handle_extend_pcr(nsmsim *sim, const nsmsim_request *req, nsmsim_outcome *o)
{
    uint64_t index = req->field[NSMSIM_REQF_EXTEND_PCR_INDEX].uint;
    nsmkit_bytes data = req->field[NSMSIM_REQF_EXTEND_PCR_DATA].bytes;
    uint8_t extended[NSMSIM_PCR_LEN];
    if (sha384(sim->pcr[index], NSMSIM_PCR_LEN, data.ptr, data.len, extended) != 0)
        return nsmsim_outcome_set(o, NSMSIM_ERR_HASH, "extending PCR %llu",
                                  (unsigned long long)index);
    memcpy(sim->pcr[index], extended, NSMSIM_PCR_LEN);
    respond(&sim->response, NSMSIM_RESP_EXTEND_PCR);
    respond_field(&sim->response, NSMSIM_RESPF_EXTEND_PCR_DATA);
    nsmkit_cbor_put_bytes(&sim->response, extended, NSMSIM_PCR_LEN);
    return NSMSIM_ERR_OK;
}

static nsmsim_code handle_lock_pcr(nsmsim *sim, const nsmsim_request *req, nsmsim_outcome *o)
{
    (void)o;
    sim->locked[req->field[NSMSIM_REQF_LOCK_PCR_INDEX].uint] = true;
    respond(&sim->response, NSMSIM_RESP_LOCK_PCR);
    return NSMSIM_ERR_OK;
}

static nsmsim_code handle_lock_pcrs(nsmsim *sim, const nsmsim_request *req, nsmsim_outcome *o)
{
    uint64_t range = req->field[NSMSIM_REQF_LOCK_PCRS_RANGE].uint;
    /* a range counts PCRs: 32 is the whole bank (PCR index 31 is its last) */
    nsmsim_code c = range == 0 ? NSMSIM_ERR_OK : pcr_check(sim, range - 1, false, o);
    if (c != NSMSIM_ERR_OK)
        return c;
    /* Locking an already locked PCR in the range is not an error: PCR0-15 always are. */
    for (uint64_t i = 0; i < range; i++)
        sim->locked[i] = true;
    respond(&sim->response, NSMSIM_RESP_LOCK_PCRS);
    return NSMSIM_ERR_OK;
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

/* The payload of a document at now_ms: the locked PCRs, the leaf and its bundle, the
 * request's optional fields. Pointers borrow from sim and req; pcrs and bundle are the
 * caller's arrays. */
static void payload_fill(nsmsim *sim, const nsmsim_request *req, uint64_t now_ms,
                         nsmsim_payload *p, nsmsim_pcr_entry pcrs[NSMSIM_PCR_COUNT],
                         const uint8_t *bundle[1 + NSMCA_MAX_TIERS],
                         size_t bundle_lens[1 + NSMCA_MAX_TIERS])
{
    static const nsmsim_request_field_id optional[3] = {NSMSIM_REQF_ATTESTATION_USER_DATA,
                                                         NSMSIM_REQF_ATTESTATION_NONCE,
                                                         NSMSIM_REQF_ATTESTATION_PUBLIC_KEY};
    nsmsim_optional_bytes *dst[3] = {&p->user_data, &p->nonce, &p->public_key};
    memset(p, 0, sizeof(*p));
    for (unsigned k = 0; k < 3; k++) {
        nsmkit_bytes b = req->field[optional[k]].bytes;
        *dst[k] = (nsmsim_optional_bytes){b.ptr, b.len, nsmkit_bytes_present(b)};
    }
    for (unsigned i = 0; i < NSMSIM_PCR_COUNT; i++)
        if (sim->locked[i])
            pcrs[p->pcr_count++] = (nsmsim_pcr_entry){i, sim->pcr[i], NSMSIM_PCR_LEN};
    unsigned bundle_count = nsmca_leaf_bundle_count(sim->leaf);
    for (unsigned i = 0; i < bundle_count; i++)
        bundle[i] = nsmca_leaf_bundle_der(sim->leaf, i, &bundle_lens[i]);
    p->module_id = sim->module_id;
    p->digest = "SHA384";
    p->timestamp_ms = now_ms;
    p->pcrs = pcrs;
    p->certificate = nsmca_leaf_der(sim->leaf, &p->certificate_len);
    p->cabundle = bundle;
    p->cabundle_lens = bundle_lens;
    p->cabundle_count = bundle_count;
    p->map = sim->options.map;
}

static nsmsim_code handle_attestation(nsmsim *sim, const nsmsim_request *req, nsmsim_outcome *o)
{
    uint64_t now_ms = clock_ms(sim);
    nsmkit_error e = {{0}};
    if (leaf_for_time(sim, now_ms / 1000, &e) != 0)
        return nsmsim_outcome_set(o, NSMSIM_ERR_LEAF_ISSUE, "%s", e.msg);

    nsmsim_payload p;
    nsmsim_pcr_entry pcrs[NSMSIM_PCR_COUNT];
    const uint8_t *bundle[1 + NSMCA_MAX_TIERS];
    size_t bundle_lens[1 + NSMCA_MAX_TIERS];
    payload_fill(sim, req, now_ms, &p, pcrs, bundle, bundle_lens);

    nsmkit_buf_reset(&sim->payload);
    nsmkit_buf_reset(&sim->document);
    nsmsim_payload_encode(&p, &sim->payload);
    if (sim->payload.err ||
        nsmsim_cose_sign1_encode(sim->payload.data, sim->payload.len, sim->leaf,
                                 &sim->document) != 0)
        return nsmsim_outcome_set(o, NSMSIM_ERR_DOCUMENT, "%s",
                                  sim->payload.err ? "payload over its buffer" : "signing");
    if (sim->hook.rewrite) {
        /* the same document, replaced (the device fault mode: nsmkit/fault.h) */
        nsmkit_buf replaced;
        nsmkit_buf_init(&replaced, NSM_RESPONSE_MAX_SIZE - 64);
        int hrc = sim->hook.rewrite(sim->hook.ctx, sim->document.data, sim->document.len,
                                    &replaced, &sim->fault_error);
        if (hrc == 0) {
            nsmkit_buf_free(&replaced);
        } else {
            nsmkit_buf_free(&sim->document);
            sim->document = replaced;
        }
        if (hrc < 0)
            return nsmsim_outcome_set(o, NSMSIM_ERR_FAULT, "%s", sim->fault_error.msg);
    }
    respond(&sim->response, NSMSIM_RESP_ATTESTATION);
    respond_field(&sim->response, NSMSIM_RESPF_ATTESTATION_DOCUMENT);
    nsmkit_cbor_put_bytes(&sim->response, sim->document.data, sim->document.len);
    return NSMSIM_ERR_OK;
}

/* One handler per request of the table; for a request naming one PCR, the field that
 * names it and whether the request changes it: dispatch checks those steps once. */
typedef struct {
    request_handler fn;
    bool names_pcr;
    nsmsim_request_field_id pcr_field;
    bool changes_pcr;
} handler_spec;

static const handler_spec handlers[NSMSIM_REQ_COUNT] = {
    [NSMSIM_REQ_DESCRIBE_PCR] = {handle_describe_pcr, true, NSMSIM_REQF_DESCRIBE_PCR_INDEX, false},
    [NSMSIM_REQ_EXTEND_PCR] = {handle_extend_pcr, true, NSMSIM_REQF_EXTEND_PCR_INDEX, true},
    [NSMSIM_REQ_LOCK_PCR] = {handle_lock_pcr, true, NSMSIM_REQF_LOCK_PCR_INDEX, true},
    [NSMSIM_REQ_LOCK_PCRS] = {handle_lock_pcrs, false, 0, false},
    [NSMSIM_REQ_DESCRIBE_NSM] = {handle_describe_nsm, false, 0, false},
    [NSMSIM_REQ_ATTESTATION] = {handle_attestation, false, 0, false},
    [NSMSIM_REQ_GET_RANDOM] = {handle_get_random, false, 0, false},
};

static nsmsim_code dispatch(nsmsim *sim, const uint8_t *req, size_t req_len, nsmsim_outcome *o)
{
    nsmsim_request_decoded *decoded = &sim->decoded;
    nsmsim_code c = nsmsim_request_decode(req, req_len, decoded, o);
    if (c != NSMSIM_ERR_OK)
        return c;
    const handler_spec *h = &handlers[decoded->request.id];
    if (!h->fn)
        return nsmsim_outcome_set(o, NSMSIM_ERR_NO_HANDLER, "%s",
                                  nsmsim_requests[decoded->request.id].name);
    if (h->names_pcr)
        c = pcr_check(sim, decoded->request.field[h->pcr_field].uint, h->changes_pcr, o);
    if (c == NSMSIM_ERR_OK)
        c = h->fn(sim, &decoded->request, o);
    return c;
}

int nsmsim_handle(nsmsim *sim, const uint8_t *req, size_t req_len,
                  uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len)
{
    return nsmsim_handle_traced(sim, req, req_len, resp, resp_len, NULL);
}

int nsmsim_handle_traced(nsmsim *sim, const uint8_t *req, size_t req_len,
                         uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len,
                         nsmsim_outcome *outcome)
{
    nsmsim_outcome local;
    nsmsim_outcome *o = outcome ? outcome : &local;
    *resp_len = 0;
    pthread_mutex_lock(&sim->lock);
    nsmsim_code rc = dispatch(sim, req, req_len, o);
    /* the request's bytes (user data, nonces) do not outlive it, whatever became of it */
    nsmkit_wipe(sim->decoded.storage, sim->decoded.used);
    sim->decoded.used = 0;
    if (rc == NSMSIM_ERR_OK && sim->response.err)
        rc = nsmsim_outcome_set(o, NSMSIM_ERR_RESPONSE_TOO_LARGE, "response over %d bytes",
                                NSM_RESPONSE_MAX_SIZE);
    if (rc != NSMSIM_ERR_OK)
        respond_error(&sim->response, (nsmsim_error_code)nsmsim_code_wire(rc));
    int result = -1;
    if (!sim->response.err && sim->response.len <= NSM_RESPONSE_MAX_SIZE) {
        memcpy(resp, sim->response.data, sim->response.len);
        *resp_len = sim->response.len;
        result = 0;
    }
    pthread_mutex_unlock(&sim->lock);
    return result;
}
