/*
 * The fault table and sets of classes (see nsmkit/fault.h), and faults applied to documents
 * the simulator issued (attest --fault, the device fault mode). The signing material is in
 * fault_pki.c, the document builder in fault_build.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_internal.h"
#include "nsmkit/cbor.h"

/* ---- the table -------------------------------------------------------------------------- */

const nsmfault_info nsmfault_table[NSMFAULT_COUNT] = {
#define X(name, layer, target, aws, strict, text)                                              \
    {#name, NSMFAULT_LAYER_##layer, #target, NSMV_ERR_##aws, NSMV_ERR_##strict, text},
#include "nsmkit/faults.def"
#undef X
};

static const char *const layer_names[NSMFAULT_LAYER_COUNT] = {
    "bytes", "cbor", "header", "payload", "pki", "signature", "policy"};

const nsmfault_info *nsmfault_get(nsmfault_class c)
{
    return (unsigned)c < NSMFAULT_COUNT ? &nsmfault_table[c] : NULL;
}

int nsmfault_by_name(const char *name)
{
    for (int i = 0; i < NSMFAULT_COUNT; i++)
        if (strcmp(nsmfault_table[i].name, name) == 0)
            return i;
    return -1;
}

const char *nsmfault_layer_name(nsmfault_layer layer)
{
    return (unsigned)layer < NSMFAULT_LAYER_COUNT ? layer_names[layer] : "unknown";
}

void nsmfault_set_clear(nsmfault_set *set)
{
    memset(set, 0, sizeof(*set));
}

void nsmfault_set_add(nsmfault_set *set, nsmfault_class c)
{
    if ((unsigned)c < NSMFAULT_COUNT)
        set->bits[c / 64] |= 1ull << (c % 64);
}

bool nsmfault_set_has(const nsmfault_set *set, nsmfault_class c)
{
    return (unsigned)c < NSMFAULT_COUNT && (set->bits[c / 64] >> (c % 64)) & 1u;
}

bool nsmfault_set_empty(const nsmfault_set *set)
{
    for (size_t i = 0; i < sizeof(set->bits) / sizeof(set->bits[0]); i++)
        if (set->bits[i])
            return false;
    return true;
}

int nsmfault_set_parse(const char *list, nsmfault_set *set, nsmkit_error *e)
{
    char name[128];
    nsmfault_set_clear(set);
    if (!list || !*list)
        return nsmkit_fail(e, "no fault class given (nsm-vectors list prints them)");
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof(name))
            return nsmkit_fail(e, "fault list \"%.80s\": an empty or overlong class name", list);
        memcpy(name, p, n);
        name[n] = '\0';
        int c = nsmfault_by_name(name);
        if (c < 0)
            return nsmkit_fail(e, "unknown fault class \"%s\" (nsm-vectors list prints them)",
                               name);
        for (int other = 0; other < NSMFAULT_COUNT; other++)
            if (other != c && nsmfault_set_has(set, (nsmfault_class)other) &&
                strcmp(nsmfault_table[other].target, nsmfault_table[c].target) == 0)
                return nsmkit_fail(e, "fault classes %s and %s cannot combine: both change the %s",
                                   nsmfault_table[other].name, name, nsmfault_table[c].target);
        nsmfault_set_add(set, (nsmfault_class)c);
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

void nsmfault_set_format(const nsmfault_set *set, char *out, size_t out_size)
{
    size_t at = 0;
    if (out_size)
        out[0] = '\0';
    for (int c = 0; c < NSMFAULT_COUNT; c++) {
        if (!nsmfault_set_has(set, (nsmfault_class)c))
            continue;
        int n = snprintf(out + at, out_size - at, "%s%s", at ? "," : "", nsmfault_table[c].name);
        if (n < 0 || (size_t)n >= out_size - at)
            return;
        at += (size_t)n;
    }
}

/* Classes that leave the signed bytes alone: the original signature still verifies. */
static bool changes_signed_bytes(nsmfault_class c)
{
    switch (nsmfault_table[c].layer) {
    case NSMFAULT_LAYER_BYTES:
    case NSMFAULT_LAYER_SIGNATURE:
        return false;
    case NSMFAULT_LAYER_POLICY:
        return strcmp(nsmfault_table[c].target, "pcrs") == 0 || strcmp(nsmfault_table[c].target, "nonce") == 0 ||
               strcmp(nsmfault_table[c].target, "timestamp") == 0;
    case NSMFAULT_LAYER_PKI:
        return strcmp(nsmfault_table[c].target, "verify_time") != 0;
    default:
        return true;
    }
}

nsmv_code nsmfault_set_expected(const nsmfault_set *set, nsmv_profile profile, bool resign)
{
    nsmv_code first = NSMV_OK;
    bool changed = false;
    for (int c = 0; c < NSMFAULT_COUNT; c++) {
        if (!nsmfault_set_has(set, (nsmfault_class)c))
            continue;
        nsmv_code code = profile == NSMV_PROFILE_STRICT ? nsmfault_table[c].strict : nsmfault_table[c].aws;
        if (code != NSMV_OK && (first == NSMV_OK || code < first))
            first = code;
        changed |= changes_signed_bytes((nsmfault_class)c);
    }
    /* Without re-signing, the signature stage fails before the policy stage. */
    if (!resign && changed && (first == NSMV_OK || first >= NSMV_ERR_POLICY_PCR_MISMATCH))
        first = NSMV_ERR_SIGNATURE_INVALID;
    return first;
}

/* ---- faults on documents the simulator issued ---------------------------------------------------- */

int nsmfault_set_document_only(const nsmfault_set *faults, nsmkit_error *e)
{
    for (int c = 0; c < NSMFAULT_COUNT; c++)
        if (nsmfault_set_has(faults, (nsmfault_class)c) &&
            (strcmp(nsmfault_table[c].target, "verify_time") == 0 ||
             strncmp(nsmfault_table[c].target, "expect_", 7) == 0))
            return nsmkit_fail(e, "%s changes the verification time or what the relying party "
                                  "expects, not the document: it exists only in a corpus "
                                  "(nsm-vectors gen)", nsmfault_table[c].name);
    return 0;
}

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

