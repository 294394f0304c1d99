/* SPDX-License-Identifier: Apache-2.0 */
/* The corpus's table of contents (see nsmkit/fault.h): shapes, classes, combinations. */
#include <stdio.h>
#include <string.h>

#include "nsmkit/fault.h"

typedef struct {
    const char *name;
    nsmsim_map_encoding map;
    bool tagged;
    unsigned pcr_count, tiers;
    nsmfault_optional optional;
    nsmv_code strict; /* what the strict profile says of this valid shape */
} shape_row;

static const shape_row shapes[] = {
    {"valid_definite", NSMSIM_MAP_DEFINITE, false, 0, 0, NSMFAULT_OPTIONAL_BYTES, NSMV_OK},
    {"valid_indefinite", NSMSIM_MAP_INDEFINITE, false, 0, 0, NSMFAULT_OPTIONAL_BYTES, NSMV_OK},
    {"valid_tagged", NSMSIM_MAP_DEFINITE, true, 0, 0, NSMFAULT_OPTIONAL_BYTES, NSMV_OK},
    {"valid_tagged_indefinite", NSMSIM_MAP_INDEFINITE, true, 0, 0, NSMFAULT_OPTIONAL_BYTES, NSMV_OK},
    {"valid_optional_absent", NSMSIM_MAP_DEFINITE, false, 0, 0, NSMFAULT_OPTIONAL_ABSENT, NSMV_OK},
    {"valid_optional_absent_indefinite", NSMSIM_MAP_INDEFINITE, false, 0, 0, NSMFAULT_OPTIONAL_ABSENT, NSMV_OK},
    {"valid_optional_null", NSMSIM_MAP_DEFINITE, false, 0, 0, NSMFAULT_OPTIONAL_NULL, NSMV_ERR_PAYLOAD_NULL_FIELD},
    {"valid_optional_empty", NSMSIM_MAP_DEFINITE, false, 0, 0, NSMFAULT_OPTIONAL_EMPTY, NSMV_ERR_PUBLIC_KEY_LENGTH},
    {"valid_optional_1024", NSMSIM_MAP_INDEFINITE, false, 0, 0, NSMFAULT_OPTIONAL_MAX, NSMV_ERR_USER_DATA_LENGTH},
    {"valid_pcrs_1", NSMSIM_MAP_DEFINITE, false, 1, 0, NSMFAULT_OPTIONAL_BYTES, NSMV_OK},
    {"valid_pcrs_32", NSMSIM_MAP_INDEFINITE, false, 32, 0, NSMFAULT_OPTIONAL_BYTES, NSMV_OK},
    {"valid_tiers_1", NSMSIM_MAP_DEFINITE, false, 0, 1, NSMFAULT_OPTIONAL_BYTES, NSMV_OK},
    {"valid_tiers_2", NSMSIM_MAP_INDEFINITE, false, 0, 2, NSMFAULT_OPTIONAL_BYTES, NSMV_OK},
};
#define SHAPE_COUNT (sizeof(shapes) / sizeof(shapes[0]))

/* Combinations (faults on different targets) and faults kept without re-signing. */
static const struct {
    const char *classes;
    bool resign;
} extras[] = {
    {"payload_unknown_key,sig_bit_flip", true},
    {"hdr_alg_es256,nonce_1025", true},
    {"timestamp_zero,pki_leaf_expired", true},
    {"nonce_512,policy_stale", true},
    {"nonce_1025", false},
    {"user_data_512", false},
    {"payload_unknown_key", false},
};
#define EXTRA_COUNT (sizeof(extras) / sizeof(extras[0]))

size_t nsmfault_corpus_count(void)
{
    return SHAPE_COUNT + NSMFAULT_COUNT + EXTRA_COUNT;
}

void nsmfault_corpus_get(size_t i, nsmfault_corpus_entry *out)
{
    memset(out, 0, sizeof(*out));
    nsmfault_shape_init(&out->shape);
    out->resign = true;
    if (i < SHAPE_COUNT) {
        const shape_row *s = &shapes[i];
        snprintf(out->name, sizeof(out->name), "%s", s->name);
        snprintf(out->classes, sizeof(out->classes), "valid");
        out->shape.map = s->map;
        out->shape.tagged = s->tagged;
        out->shape.pcr_count = s->pcr_count;
        out->shape.tiers = s->tiers;
        out->shape.optional = s->optional;
        return;
    }
    i -= SHAPE_COUNT;
    if (i < NSMFAULT_COUNT) {
        const nsmfault_info *info = nsmfault_get((nsmfault_class)i);
        snprintf(out->name, sizeof(out->name), "%s", info->name);
        snprintf(out->classes, sizeof(out->classes), "%s", info->name);
        nsmfault_set_add(&out->faults, (nsmfault_class)i);
        return;
    }
    i -= NSMFAULT_COUNT;
    nsmkit_error e;
    if (i < EXTRA_COUNT && nsmfault_set_parse(extras[i].classes, &out->faults, &e) == 0) {
        out->resign = extras[i].resign;
        snprintf(out->classes, sizeof(out->classes), "%s", extras[i].classes);
        snprintf(out->name, sizeof(out->name), "%s%s", extras[i].classes,
                 extras[i].resign ? "" : ".no_resign");
        for (char *c = out->name; *c; c++)
            if (*c == ',')
                *c = '+';
    }
}

nsmv_code nsmfault_corpus_expected(const nsmfault_corpus_entry *entry, nsmv_profile profile)
{
    if (nsmfault_set_empty(&entry->faults)) {
        for (size_t i = 0; i < SHAPE_COUNT; i++)
            if (strcmp(shapes[i].name, entry->name) == 0)
                return profile == NSMV_PROFILE_STRICT ? shapes[i].strict : NSMV_OK;
        return NSMV_OK;
    }
    return nsmfault_set_expected(&entry->faults, profile, entry->resign);
}
