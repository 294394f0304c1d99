/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Orchestration: the verifier object and nsmv_verify, which runs the stages in order. The
 * first failure ends the run unless report_all is set; then every stage whose inputs are
 * sound runs (the chain needs certificate and cabundle, the signature needs a usable leaf
 * key, each policy check needs its field). The stages report through failure.c and the
 * code table lives in codes.c, so no stage calls back into this file.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "nsmkit/error.h"
#include "nsmkit/file.h"

void nsmv_options_init(nsmv_options *options)
{
    memset(options, 0, sizeof(*options));
    options->profile = NSMV_PROFILE_AWS;
    options->time_mode = NSMV_TIME_NOW;
}

/* ---- the verifier ----------------------------------------------------------------------------- */

int nsmv_root_read_pem(const char *path, uint8_t **der, size_t *der_len, nsmv_error *e)
{
    nsmkit_error ne;
    uint8_t *text = NULL;
    size_t text_len = 0;
    BIO *bio = NULL;
    X509 *cert = NULL, *extra = NULL;
    unsigned char *out = NULL;
    int rc = -1;

    *der = NULL;
    *der_len = 0;
    if (nsmkit_file_read(path, 64 * 1024, &text, &text_len, &ne) != 0) {
        nsmkit_fail(e, "root %s", ne.msg);
        return -1;
    }
    bio = BIO_new_mem_buf(text, (int)text_len);
    if (!bio) {
        nsmkit_fail(e, "root %s: out of memory", path);
        goto out;
    }
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (!cert) {
        nsmkit_fail(e, "root %s: not a PEM certificate", path);
        goto out;
    }
    extra = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (extra) {
        nsmkit_fail(e,
                 "root %s: holds more than one certificate; give exactly the root", path);
        goto out;
    }
    int n = i2d_X509(cert, &out);
    if (n <= 0) {
        nsmkit_fail(e, "root %s: the certificate does not re-encode", path);
        goto out;
    }
    *der = malloc((size_t)n);
    if (!*der) {
        nsmkit_fail(e, "root %s: out of memory", path);
        goto out;
    }
    memcpy(*der, out, (size_t)n);
    *der_len = (size_t)n;
    rc = 0;
out:
    OPENSSL_free(out);
    X509_free(extra);
    X509_free(cert);
    BIO_free(bio);
    free(text);
    ERR_clear_error();
    return rc;
}

int nsmv_verifier_new(const nsmv_config *config, nsmv_verifier **out, nsmv_error *e)
{
    nsmv_config defaults = {0};
    const uint8_t *der;
    size_t len;
    char why[96];

    *out = NULL;
    if (!config)
        config = &defaults;
    der = config->root_der;
    len = config->root_len;
    if (!der)
        der = nsmv_aws_root_der(&len);

    nsmv_verifier *v = calloc(1, sizeof(*v));
    if (!v) {
        nsmkit_fail(e, "out of memory");
        return -1;
    }
    const unsigned char *p = der;
    v->root = len > 0 && len <= NSMV_DOC_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
    if (!v->root || p != der + len) {
        nsmkit_fail(e, "the root is not one DER certificate");
        goto fail;
    }
    /* Documents carry the root byte for byte, and every certificate must be DER. */
    if (!nsmv_cert_is_der(v->root, der, len)) {
        nsmkit_fail(e, "the root is BER, not DER: it re-encodes differently");
        goto fail;
    }
    if (!nsmv_key_is_p384(X509_get0_pubkey(v->root), why, sizeof(why)) ||
        !nsmv_key_is_uncompressed(v->root, why, sizeof(why))) {
        nsmkit_fail(e, "the root has %s, not a P-384 key", why);
        goto fail;
    }
    /* Extensions are decoded once here: documents then share the root read-only. */
    if (X509_get_extension_flags(v->root) & EXFLAG_INVALID) {
        nsmkit_fail(e, "the root's extensions do not decode");
        goto fail;
    }
    if (!nsmv_cert_validity(v->root, &v->root_not_before, &v->root_not_after)) {
        nsmkit_fail(e, "the root's validity does not decode");
        goto fail;
    }
    if ((unsigned)config->crypto >= NSMKIT_P384_IMPL_COUNT) {
        nsmkit_fail(e, "unknown crypto implementation %d", (int)config->crypto);
        goto fail;
    }
    v->crypto = config->crypto;
    v->keyless = OSSL_LIB_CTX_new();
    v->keyless_null = v->keyless ? OSSL_PROVIDER_load(v->keyless, "null") : NULL;
    if (!v->keyless_null) {
        nsmkit_fail(e, "cannot set up OpenSSL (out of memory?)");
        goto fail;
    }
    v->root_der = malloc(len);
    v->store = X509_STORE_new();
    v->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    v->sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
    if (!v->root_der || !v->store || !v->sha256 || !v->sha384 ||
        X509_STORE_add_cert(v->store, v->root) != 1) {
        nsmkit_fail(e, "cannot set up OpenSSL (out of memory?)");
        goto fail;
    }
    memcpy(v->root_der, der, len);
    v->root_len = len;
    if (EVP_Digest(der, len, v->root_digest, NULL, v->sha256, NULL) != 1) {
        nsmkit_fail(e, "cannot hash the root");
        goto fail;
    }
    if (!config->no_cache && !(v->cache = nsmv_cache_new(config->cache_entries))) {
        nsmkit_fail(e, "out of memory");
        goto fail;
    }
    ERR_clear_error();
    *out = v;
    return 0;
fail:
    ERR_clear_error();
    nsmv_verifier_free(v);
    return -1;
}

void nsmv_verifier_free(nsmv_verifier *v)
{
    if (!v)
        return;
    nsmv_cache_free(v->cache);
    EVP_MD_free(v->sha256);
    EVP_MD_free(v->sha384);
    X509_STORE_free(v->store);
    X509_free(v->root);
    free(v->root_der);
    OSSL_PROVIDER_unload(v->keyless_null);
    OSSL_LIB_CTX_free(v->keyless);
    free(v);
}

void nsmv_verifier_cache_clear(nsmv_verifier *v)
{
    if (v)
        nsmv_cache_clear(v->cache);
}

void nsmv_verifier_cache_forget_leaves(nsmv_verifier *v)
{
    if (v)
        nsmv_cache_forget_leaves(v->cache);
}

void nsmv_verifier_cache_stats(nsmv_verifier *v, uint64_t *hits, uint64_t *misses)
{
    nsmv_cache_stats(v ? v->cache : NULL, hits, misses);
}

/* ---- one document ----------------------------------------------------------------------------- */

static void stage_done(nsmv_run *run, nsmv_stage stage)
{
    if (run->result->stages[stage] != NSMV_OUTCOME_FAILED)
        run->result->stages[stage] = NSMV_OUTCOME_PASSED;
}

static nsmv_code check_options(const nsmv_options *o, nsmv_run *run)
{
    bool seen[NSMV_PCR_MAX] = {false};
    if (o->profile != NSMV_PROFILE_AWS && o->profile != NSMV_PROFILE_STRICT)
        return nsmv_fail(run, NSMV_ERR_USAGE, "unknown profile %d", (int)o->profile);
    if ((unsigned)o->time_mode > NSMV_TIME_DOCUMENT)
        return nsmv_fail(run, NSMV_ERR_USAGE, "unknown time mode %d", (int)o->time_mode);
    if (o->pcr_count > NSMV_PCR_MAX || (o->pcr_count && !o->pcrs))
        return nsmv_fail(run, NSMV_ERR_USAGE, "%zu expected PCRs", o->pcr_count);
    for (size_t i = 0; i < o->pcr_count; i++) {
        unsigned index = o->pcrs[i].index;
        if (index >= NSMV_PCR_MAX || seen[index])
            return nsmv_fail(run, NSMV_ERR_USAGE, "expected PCR index %u is %s", index,
                             index >= NSMV_PCR_MAX ? "above 31" : "given twice");
        seen[index] = true;
    }
    const nsmv_expected_bytes *bytes[] = {&o->nonce, &o->user_data, &o->public_key};
    for (size_t i = 0; i < 3; i++)
        if (bytes[i]->set && bytes[i]->len && !bytes[i]->data)
            return nsmv_fail(run, NSMV_ERR_USAGE, "expected bytes without data");
    return NSMV_OK;
}

static void summarise(const nsmv_payload *p, nsmv_result *r)
{
    r->kind = p->kind;
    if (p->valid & NSMV_FIELD_MODULE_ID)
        nsmv_printable(p->module_id.ptr, p->module_id.len, r->module_id, sizeof(r->module_id));
    r->has_timestamp = (p->valid & NSMV_FIELD_TIMESTAMP) != 0;
    r->timestamp_ms = r->has_timestamp ? p->timestamp_ms : 0;
    r->pcr_count = (unsigned)p->pcr_count;
    r->cabundle_count = (unsigned)p->cabundle_count;
    r->debug_mode = nsmv_payload_debug_mode(p);
}

nsmv_code nsmv_verify(nsmv_verifier *v, const uint8_t *doc, size_t len,
                      const nsmv_options *options, nsmv_result *result)
{
    nsmv_options defaults;
    nsmv_envelope env;
    nsmv_payload payload;
    nsmkit_p384_public *leaf_key = NULL;
    nsmv_code c;

    if (!result)
        return NSMV_ERR_USAGE;
    if (!options) {
        nsmv_options_init(&defaults);
        options = &defaults;
    }
    memset(result, 0, sizeof(*result));
    memset(&payload, 0, sizeof(payload));
    result->profile = options->profile;
    nsmv_run run = {result, options->report_all};
    if (!v) {
        nsmv_fail(&run, NSMV_ERR_USAGE, "no verifier");
        goto out;
    }
    if (check_options(options, &run) != NSMV_OK)
        goto out;

    if (nsmv_envelope_parse(doc, len, &env, &run) != NSMV_OK)
        goto out;
    stage_done(&run, NSMV_STAGE_ENVELOPE);
    if (nsmv_payload_load(env.payload, &payload, &run) != NSMV_OK)
        goto out;
    stage_done(&run, NSMV_STAGE_CBOR);
    c = nsmv_payload_fields(&payload, options->profile, &run);
    summarise(&payload, result);
    if (c != NSMV_OK && !run.all)
        goto out;
    stage_done(&run, NSMV_STAGE_PAYLOAD);

    switch (options->time_mode) {
    case NSMV_TIME_FIXED:
        result->time_s = options->time_s;
        result->has_time = true;
        break;
    case NSMV_TIME_DOCUMENT:
        result->time_s = payload.timestamp_ms / 1000u;
        result->has_time = (payload.valid & NSMV_FIELD_TIMESTAMP) != 0;
        break;
    default: {
        time_t now = time(NULL);
        result->time_s = now > 0 ? (uint64_t)now : 0;
        result->has_time = now > 0;
        break;
    }
    }
    /* X.509 times end with year 9999 (and OpenSSL cannot compare later ones): every
     * certificate has expired by then. */
    if (result->has_time && result->time_s > NSMV_TIME_MAX_S) {
        nsmv_fail(&run, NSMV_ERR_CERT_EXPIRED,
                  "the verification time %llu s lies after year 9999, when every certificate "
                  "has expired", (unsigned long long)result->time_s);
        result->has_time = false;
        if (!run.all)
            goto out;
    }

    unsigned need = NSMV_FIELD_CERTIFICATE | NSMV_FIELD_CABUNDLE;
    if ((payload.valid & need) == need && result->has_time) {
        c = nsmv_chain_verify(v, &payload, (int64_t)result->time_s, &leaf_key, &run);
        if (c != NSMV_OK && !run.all)
            goto out;
        stage_done(&run, NSMV_STAGE_CHAIN);
    }
    if (!leaf_key && result->stages[NSMV_STAGE_CHAIN] == NSMV_OUTCOME_PASSED) {
        nsmv_fail(&run, NSMV_ERR_INTERNAL, "the chain passed without a leaf key");
        goto out;
    }
    if (leaf_key) {
        c = nsmv_cose_verify(v, &env, leaf_key, &run);
        if (c != NSMV_OK && !run.all)
            goto out;
        stage_done(&run, NSMV_STAGE_SIGNATURE);
    }
    nsmv_policy_check(options, &payload, (int64_t)result->time_s, result->has_time, &run);
    stage_done(&run, NSMV_STAGE_POLICY);

out:
    nsmkit_p384_public_free(leaf_key);
    nsmv_payload_clear(&payload);
    result->valid = result->code == NSMV_OK && result->failure_count == 0;
    /* A run that ends early leaves later stages NOT_RUN. */
    return result->code;
}
