/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Faults on documents the simulator issued: `nsm-sim attest --fault` (nsmfault_refault)
 * and the device fault mode of `serve`, `exec` and the devices (nsmfault_sim_new), which
 * plugs into the NSM core's document hook (nsmsim_set_document_hook). The table is in
 * fault.c, the document builder in fault_build.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_internal.h"
#include "nsmkit/cbor.h"

/* The valid document's fields (module id, timestamp, PCRs, optional fields, map encoding),
 * rebuilt by the fault generator with the classes applied. */
int nsmfault_refault(const char *ca_dir, const uint8_t *doc, size_t doc_len,
                     const nsmfault_set *faults, bool resign, nsmkit_buf *out, nsmkit_error *e)
{
    if (nsmfault_set_document_only(faults, e) != 0)
        return -1;
    struct cbor_load_result res;
    cbor_item_t *cose = cbor_load(doc, doc_len, &res), *payload = NULL;
    nsmfault_pki *pki = NULL;
    nsmsim_pcr_entry pcrs[NSMSIM_PCR_COUNT];
    nsmsim_optional_bytes opt[3] = {{0}};
    char module_id[300] = "";
    nsmfault_shape shape;
    nsmfault_doc fd;
    int rc = -1;
    nsmfault_shape_init(&shape);
    cbor_item_t *pl = cose && cbor_isa_array(cose) && cbor_array_size(cose) == 4
                          ? cbor_array_get(cose, 2) : NULL;
    if (pl && cbor_isa_bytestring(pl) && cbor_bytestring_is_definite(pl)) {
        shape.map = cbor_bytestring_handle(pl)[0] == 0xbf ? NSMSIM_MAP_INDEFINITE
                                                          : NSMSIM_MAP_DEFINITE;
        payload = cbor_load(cbor_bytestring_handle(pl), cbor_bytestring_length(pl), &res);
    }
    if (!payload || !cbor_isa_map(payload)) {
        nsmkit_fail(e, "the simulator's own document did not decode");
        goto out;
    }
    static const char *const opt_names[3] = {"public_key", "user_data", "nonce"};
    struct cbor_pair *pairs = cbor_map_handle(payload);
    for (size_t i = 0; i < cbor_map_size(payload); i++) {
        const cbor_item_t *k = pairs[i].key, *v = pairs[i].value;
        if (nsmkit_cbor_text_equals(k, "module_id") && cbor_isa_string(v) &&
            cbor_string_length(v) < sizeof(module_id)) {
            memcpy(module_id, cbor_string_handle(v), cbor_string_length(v));
            module_id[cbor_string_length(v)] = '\0';
        } else if (nsmkit_cbor_text_equals(k, "timestamp") && cbor_isa_uint(v)) {
            shape.timestamp_ms = cbor_get_int(v);
        } else if (nsmkit_cbor_text_equals(k, "pcrs") && cbor_isa_map(v) &&
                   cbor_map_size(v) <= NSMSIM_PCR_COUNT) {
            struct cbor_pair *p = cbor_map_handle(v);
            for (size_t j = 0; j < cbor_map_size(v); j++) {
                if (!cbor_isa_uint(p[j].key) || !cbor_isa_bytestring(p[j].value))
                    continue;
                pcrs[shape.pcr_count++] = (nsmsim_pcr_entry){
                    (unsigned)cbor_get_int(p[j].key), cbor_bytestring_handle(p[j].value),
                    cbor_bytestring_length(p[j].value)};
            }
        }
        for (int f = 0; f < 3; f++)
            if (nsmkit_cbor_text_equals(k, opt_names[f])) {
                bool bytes = cbor_isa_bytestring(v);
                opt[f] = (nsmsim_optional_bytes){bytes ? cbor_bytestring_handle(v) : NULL,
                                                 bytes ? cbor_bytestring_length(v) : 0, bytes};
            }
    }
    shape.module_id = module_id;
    shape.pcrs = pcrs;
    shape.public_key = &opt[0];
    shape.user_data = &opt[1];
    shape.nonce = &opt[2];
    if (shape.pcr_count == 0 || !shape.timestamp_ms) {
        nsmkit_fail(e, "the simulator's own document has no PCRs or timestamp");
        goto out;
    }
    /* the leaf lives from 5 s before the document, as the NSM's own */
    if (nsmfault_pki_open(ca_dir, NULL, shape.timestamp_ms / 1000u - 5, &pki, e) != 0 ||
        nsmfault_build(pki, &shape, faults, resign, &fd, e) != 0)
        goto out;
    nsmkit_buf_append(out, fd.doc.data, fd.doc.len);
    if (out->err) {
        nsmkit_fail(e, "the faulty document (%zu bytes) does not fit in %zu bytes", fd.doc.len,
                    out->limit);
        nsmfault_doc_free(&fd);
        goto out;
    }
    nsmfault_doc_free(&fd);
    rc = 0;
out:
    nsmfault_pki_free(pki);
    if (pl)
        cbor_decref(&pl);
    if (payload)
        cbor_decref(&payload);
    if (cose)
        cbor_decref(&cose);
    return rc;
}


/* ---- the device fault mode ---------------------------------------------------------------- */

/* Which documents are replaced and how: the classes, the PKI they are signed under, and the
 * counter or seeded generator that picks every Nth document or one at random. */
typedef struct {
    nsmfault_set faults;
    char *ca_dir;
    unsigned every;
    uint32_t rate_ppm;
    bool resign;
    uint64_t count, rng;
} device_mode;

/* Whether this document is one the fault mode replaces: every one, every Nth, or at random
 * (xorshift64, seeded: a run can be repeated). */
static bool fault_due(device_mode *m)
{
    m->count++;
    if (m->every)
        return m->count % m->every == 0;
    if (m->rate_ppm) {
        uint64_t x = m->rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        m->rng = x;
        return x % 1000000u < m->rate_ppm;
    }
    return true;
}

static int device_mode_rewrite(void *ctx, const uint8_t *doc, size_t len, nsmkit_buf *out,
                               nsmkit_error *e)
{
    device_mode *m = ctx;
    if (!fault_due(m))
        return 0;
    return nsmfault_refault(m->ca_dir, doc, len, &m->faults, m->resign, out, e) == 0 ? 1 : -1;
}

static void device_mode_free(void *ctx)
{
    device_mode *m = ctx;
    if (!m)
        return;
    free(m->ca_dir);
    free(m);
}

/* The classes (checked against the table now, so that a bad name stops the NSM at boot
 * with a message) and the PKI directory the faulty documents are signed under. */
static device_mode *device_mode_new(const nsmsim_options *options, nsmkit_error *e)
{
    if (options->fault_every && options->fault_rate_ppm) {
        nsmkit_fail(e, "--fault-every and --fault-rate exclude each other");
        return NULL;
    }
    device_mode *m = calloc(1, sizeof(*m));
    char dir[4096];
    if (!m) {
        nsmkit_fail(e, "out of memory");
        return NULL;
    }
    if (nsmfault_set_parse(options->faults, &m->faults, e) != 0 ||
        nsmfault_set_document_only(&m->faults, e) != 0)
        goto fail;
    if (options->ca_dir)
        snprintf(dir, sizeof(dir), "%s", options->ca_dir);
    else if (nsmca_default_dir(dir, sizeof(dir), e) != 0)
        goto fail;
    m->ca_dir = strdup(dir);
    if (!m->ca_dir) {
        nsmkit_fail(e, "out of memory");
        goto fail;
    }
    m->every = options->fault_every;
    m->rate_ppm = options->fault_rate_ppm;
    m->resign = !options->fault_no_resign;
    m->rng = options->fault_seed ^ 0x9e3779b97f4a7c15ull; /* never zero for xorshift */
    if (m->rng == 0)
        m->rng = 1;
    return m;
fail:
    device_mode_free(m);
    return NULL;
}

nsmsim_code nsmfault_sim_new(const nsmsim_options *options, nsmsim **out, nsmkit_error *e)
{
    if (!options->faults)
        return nsmsim_new(options, out, e);
    nsmsim_options core = *options;
    core.faults = NULL;
    core.fault_every = 0;
    core.fault_rate_ppm = 0;
    core.fault_no_resign = false;
    nsmsim_code code = nsmsim_new(&core, out, e);
    if (code != NSMSIM_ERR_OK)
        return code;
    device_mode *m = device_mode_new(options, e);
    if (!m) {
        nsmsim_free(*out);
        *out = NULL;
        return NSMSIM_ERR_FAULT_MODE;
    }
    nsmsim_set_document_hook(*out, &(nsmsim_document_hook){device_mode_rewrite,
                                                           device_mode_free, m});
    return NSMSIM_ERR_OK;
}
