/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fault table and sets of classes (see nsmkit/fault.h). The signing material is in
 * fault_pki.c, the document builder in fault_build.c, faults applied to documents the
 * simulator issued (attest --fault, the device fault mode) in device_mode.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_internal.h"

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
        if (*p == ',' && !*++p) /* "a,": a class was forgotten, not nothing meant */
            return nsmkit_fail(e, "fault list \"%.80s\" ends with a comma", list);
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
