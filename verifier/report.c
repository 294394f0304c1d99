/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reports: the human report (a verdict line and one line per stage), JSON for machines,
 * and the dump of a document's contents. Everything printed that came from a document is
 * reduced to printable ASCII or hex first.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "nsmkit/hex.h"

static const char *outcome_name(nsmv_outcome o)
{
    switch (o) {
    case NSMV_OUTCOME_PASSED: return "passed";
    case NSMV_OUTCOME_FAILED: return "failed";
    default: return "not run";
    }
}

/* "2022-11-09T22:52:00.696Z" */
static void format_ms(uint64_t ms, char *out, size_t out_size)
{
    char s[32];
    nsmv_format_utc((int64_t)(ms / 1000u), s, sizeof(s));
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == 'Z')
        snprintf(out, out_size, "%.*s.%03uZ", (int)(n - 1), s, (unsigned)(ms % 1000u));
    else
        snprintf(out, out_size, "%llu ms", (unsigned long long)ms);
}

static void stage_note(const nsmv_result *r, nsmv_stage stage, char *out, size_t out_size)
{
    char when[40];
    out[0] = '\0';
    if (r->stages[stage] != NSMV_OUTCOME_PASSED)
        return;
    switch (stage) {
    case NSMV_STAGE_PAYLOAD:
        if (r->has_timestamp)
            format_ms(r->timestamp_ms, when, sizeof(when));
        else
            snprintf(when, sizeof(when), "?");
        snprintf(out, out_size, "module_id %s, %u PCRs%s, timestamp %s", r->module_id,
                 r->pcr_count,
                 r->debug_mode ? " (debug mode: PCR0..2 zero)" : "", when);
        break;
    case NSMV_STAGE_CHAIN:
        nsmv_format_utc((int64_t)r->time_s, when, sizeof(when));
        snprintf(out, out_size, "leaf + %u cabundle certificates to the pinned root, at %s%s",
                 r->cabundle_count, when, r->chain_cached ? " (cached)" : "");
        break;
    case NSMV_STAGE_SIGNATURE:
        snprintf(out, out_size, "ES384");
        break;
    default:
        break;
    }
}

void nsmv_report_text(FILE *out, const char *name, const nsmv_result *r)
{
    char when[40] = "-";
    if (r->has_time)
        nsmv_format_utc((int64_t)r->time_s, when, sizeof(when));
    fprintf(out, "%s: %s (%s document, profile %s, time %s)\n", name,
            r->valid ? "VALID" : "INVALID", nsmv_kind_name(r->kind),
            nsmv_profile_name(r->profile), when);
    for (int s = NSMV_STAGE_ENVELOPE; s <= NSMV_STAGE_POLICY; s++) {
        char note[400];
        stage_note(r, (nsmv_stage)s, note, sizeof(note));
        if (note[0])
            fprintf(out, "  %-10s %-7s %s\n", nsmv_stage_name((nsmv_stage)s),
                    outcome_name(r->stages[s]), note);
        else
            fprintf(out, "  %-10s %s\n", nsmv_stage_name((nsmv_stage)s),
                    outcome_name(r->stages[s]));
        for (size_t i = 0; i < r->failure_count; i++) {
            const nsmv_failure *f = &r->failures[i];
            if ((int)f->stage == s)
                fprintf(out, "      %d %s: %s: %s\n", (int)f->code, nsmv_code_name(f->code),
                        nsmv_code_sentence(f->code), f->detail);
        }
    }
    for (size_t i = 0; i < r->failure_count; i++) {
        const nsmv_failure *f = &r->failures[i];
        if (f->stage == NSMV_STAGE_INTERNAL || f->stage == NSMV_STAGE_NONE)
            fprintf(out, "  internal   %d %s: %s: %s\n", (int)f->code, nsmv_code_name(f->code),
                    nsmv_code_sentence(f->code), f->detail);
    }
    if (r->failures_dropped)
        fprintf(out, "  (%zu more failures not shown)\n", r->failures_dropped);
}

void nsmv_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void nsmv_report_json(FILE *out, const char *name, const nsmv_result *r)
{
    fprintf(out, "{\"file\":");
    nsmv_json_string(out, name);
    fprintf(out, ",\"valid\":%s,\"code\":%d,\"name\":", r->valid ? "true" : "false",
            (int)r->code);
    nsmv_json_string(out, nsmv_code_name(r->code));
    fprintf(out, ",\"kind\":\"%s\",\"profile\":\"%s\",\"module_id\":", nsmv_kind_name(r->kind),
            nsmv_profile_name(r->profile));
    if (r->module_id[0])
        nsmv_json_string(out, r->module_id);
    else
        fprintf(out, "null");
    if (r->has_timestamp)
        fprintf(out, ",\"timestamp_ms\":%llu", (unsigned long long)r->timestamp_ms);
    else
        fprintf(out, ",\"timestamp_ms\":null");
    if (r->has_time)
        fprintf(out, ",\"verification_time\":%llu", (unsigned long long)r->time_s);
    else
        fprintf(out, ",\"verification_time\":null");
    fprintf(out, ",\"pcr_count\":%u,\"cabundle_count\":%u,\"debug_mode\":%s,\"chain_cached\":%s",
            r->pcr_count, r->cabundle_count, r->debug_mode ? "true" : "false",
            r->chain_cached ? "true" : "false");
    fprintf(out, ",\"stages\":{");
    for (int s = NSMV_STAGE_ENVELOPE; s <= NSMV_STAGE_POLICY; s++)
        fprintf(out, "%s\"%s\":\"%s\"", s == NSMV_STAGE_ENVELOPE ? "" : ",",
                nsmv_stage_name((nsmv_stage)s), outcome_name(r->stages[s]));
    fprintf(out, "},\"failures\":[");
    for (size_t i = 0; i < r->failure_count; i++) {
        const nsmv_failure *f = &r->failures[i];
        fprintf(out, "%s{\"stage\":\"%s\",\"code\":%d,\"name\":", i ? "," : "",
                nsmv_stage_name(f->stage), (int)f->code);
        nsmv_json_string(out, nsmv_code_name(f->code));
        fprintf(out, ",\"sentence\":");
        nsmv_json_string(out, nsmv_code_sentence(f->code));
        fprintf(out, ",\"detail\":");
        nsmv_json_string(out, f->detail);
        fprintf(out, "}");
    }
    fprintf(out, "],\"failures_dropped\":%zu}", r->failures_dropped);
}

/* ---- dump ------------------------------------------------------------------------------------- */

static void print_hex_block(FILE *out, const char *indent, const uint8_t *data, size_t len)
{
    char line[2 * 32 + 1];
    for (size_t at = 0; at < len; at += 32) {
        size_t n = len - at < 32 ? len - at : 32;
        nsmkit_hex_encode(data + at, n, line);
        fprintf(out, "%s%s\n", indent, line);
    }
}

static void print_optional(FILE *out, const char *name, const nsmv_optional *o, bool valid)
{
    if (!o->present)
        fprintf(out, "  %-13s absent\n", name);
    else if (o->is_null)
        fprintf(out, "  %-13s null\n", name);
    else if (!valid)
        fprintf(out, "  %-13s (invalid, see above)\n", name);
    else {
        fprintf(out, "  %-13s %zu bytes\n", name, o->bytes.len);
        print_hex_block(out, "      ", o->bytes.ptr, o->bytes.len);
    }
}

static void print_name(FILE *out, BIO *bio, const char *label, const X509_NAME *name)
{
    fprintf(out, "      %-10s ", label); /* the BIO writes to the same FILE, in order */
    /* ESC_MSB and ESC_CTRL keep the output printable, whatever the certificate holds. */
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ);
    (void)BIO_flush(bio);
    fprintf(out, "\n");
}

static void print_extensions(FILE *out, X509 *x)
{
    uint32_t flags = X509_get_extension_flags(x);
    char line[256] = "";
    size_t n = 0;

    if (flags & EXFLAG_BCONS) {
        int crit = X509_EXTENSION_get_critical(
            X509_get_ext(x, X509_get_ext_by_NID(x, NID_basic_constraints, -1)));
        long pathlen = X509_get_pathlen(x);
        n += (size_t)snprintf(line + n, sizeof(line) - n, "basicConstraints%s CA:%s",
                              crit ? "!" : "", (flags & EXFLAG_CA) ? "TRUE" : "FALSE");
        if (pathlen >= 0 && n < sizeof(line))
            n += (size_t)snprintf(line + n, sizeof(line) - n, " pathLen:%ld", pathlen);
    } else {
        n += (size_t)snprintf(line + n, sizeof(line) - n, "no basicConstraints");
    }
    if (n < sizeof(line) && (flags & EXFLAG_KUSAGE)) {
        static const struct {
            uint32_t bit;
            const char *name;
        } usages[] = {{KU_DIGITAL_SIGNATURE, "digitalSignature"},
                      {KU_NON_REPUDIATION, "nonRepudiation"},
                      {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
                      {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
                      {KU_KEY_AGREEMENT, "keyAgreement"},
                      {KU_KEY_CERT_SIGN, "keyCertSign"},
                      {KU_CRL_SIGN, "cRLSign"}};
        int crit = X509_EXTENSION_get_critical(
            X509_get_ext(x, X509_get_ext_by_NID(x, NID_key_usage, -1)));
        uint32_t ku = X509_get_key_usage(x);
        n += (size_t)snprintf(line + n, sizeof(line) - n, "; keyUsage%s", crit ? "!" : "");
        for (size_t i = 0; i < sizeof(usages) / sizeof(usages[0]) && n < sizeof(line); i++)
            if (ku & usages[i].bit)
                n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", usages[i].name);
    }
    if (n < sizeof(line))
        n += (size_t)snprintf(line + n, sizeof(line) - n, "; SKI %s; AKI %s",
                              X509_get0_subject_key_id(x) ? "yes" : "no",
                              X509_get0_authority_key_id(x) ? "yes" : "no");
    fprintf(out, "      %-10s %s\n", "extensions", line);
}

/* True when x's key is a P-384 point the seam takes (uncompressed, on the curve): what
 * nsmv_key_is_p384 says of the decoded key, without OpenSSL's decoder. */
static bool keyless_key_is_p384(X509 *x)
{
    const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);
    nsmkit_p384_public *key = NULL;
    if (!nsmv_cert_spki_is_p384(x) || !bits ||
        nsmkit_p384_public_new(NSMKIT_P384_NETTLE, ASN1_STRING_get0_data(bits),
                               (size_t)ASN1_STRING_length(bits), &key) != NSMKIT_P384_OK)
        return false;
    nsmkit_p384_public_free(key);
    return true;
}

/* keyless (may be NULL): a provider-less library context. A certificate with a P-384 key
 * the seam reads is parsed there, which spares OpenSSL 3.0's public-key decoder (most of
 * the dump's time); any other certificate is parsed as before, so what is printed is the
 * same either way. */
static void print_cert(FILE *out, BIO *bio, const char *title, nsmkit_bytes der, EVP_MD *sha256,
                       OSSL_LIB_CTX *keyless)
{
    X509 *x = keyless ? nsmv_cert_parse_keyless(keyless, der, false) : NULL;
    bool p384 = x && keyless_key_is_p384(x);
    const unsigned char *p = der.ptr + der.len;
    if (!p384) {
        X509_free(x);
        p = der.ptr;
        x = d2i_X509(NULL, &p, (long)der.len);
    }
    fprintf(out, "    %s: %zu bytes\n", title, der.len);
    if (!x || p != der.ptr + der.len) {
        fprintf(out, "      not one DER certificate\n");
        X509_free(x);
        ERR_clear_error();
        return;
    }
    print_name(out, bio, "subject", X509_get_subject_name(x));
    print_name(out, bio, "issuer", X509_get_issuer_name(x));

    const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
    char hex[2 * 64 + 1] = "?";
    if (serial->length > 0 && serial->length <= 64)
        nsmkit_hex_encode(serial->data, (size_t)serial->length, hex);
    fprintf(out, "      %-10s %s%s\n", "serial", serial->type == V_ASN1_NEG_INTEGER ? "-" : "",
            hex);

    int64_t nb, na;
    char from[32] = "?", to[32] = "?";
    if (nsmv_cert_validity(x, &nb, &na)) {
        nsmv_format_utc(nb, from, sizeof(from));
        nsmv_format_utc(na, to, sizeof(to));
    }
    fprintf(out, "      %-10s %s .. %s\n", "validity", from, to);

    char why[96];
    if (p384 || nsmv_key_is_p384(X509_get0_pubkey(x), why, sizeof(why)))
        fprintf(out, "      %-10s EC P-384 (secp384r1)\n", "key");
    else
        fprintf(out, "      %-10s %s\n", "key", why);
    int sig = X509_get_signature_nid(x);
    fprintf(out, "      %-10s %s\n", "signature", sig == NID_undef ? "unknown" : OBJ_nid2ln(sig));
    print_extensions(out, x);

    uint8_t digest[32];
    char digest_hex[65];
    if (EVP_Digest(der.ptr, der.len, digest, NULL, sha256, NULL) == 1) {
        nsmkit_hex_encode(digest, sizeof(digest), digest_hex);
        fprintf(out, "      %-10s %s\n", "sha256", digest_hex);
    }
    X509_free(x);
    ERR_clear_error();
}

/* The dump's provider-less context (see print_cert): made once per process, on first
 * use, and kept, as OpenSSL keeps its default one - a context made per call costs more
 * than it saves, since each fills its name tables again. NULL (no memory) makes every
 * certificate take the slow parse, which prints the same text. */
static OSSL_LIB_CTX *dump_keyless;

static void dump_keyless_make(void)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    if (ctx && !OSSL_PROVIDER_load(ctx, "null")) {
        OSSL_LIB_CTX_free(ctx);
        ctx = NULL;
    }
    dump_keyless = ctx;
}

static OSSL_LIB_CTX *dump_keyless_context(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    return pthread_once(&once, dump_keyless_make) == 0 ? dump_keyless : NULL;
}

nsmv_code nsmv_dump_text(FILE *out, const char *name, const uint8_t *doc, size_t len)
{
    nsmv_result result;
    nsmv_run run = {&result, true};
    nsmv_envelope env;
    nsmv_payload payload;
    EVP_MD *sha256 = NULL;
    BIO *bio = NULL;

    memset(&result, 0, sizeof(result));
    memset(&payload, 0, sizeof(payload));
    fprintf(out, "%s: %zu bytes\n", name, len);
    if (nsmv_envelope_parse(doc, len, &env, &run) != NSMV_OK)
        goto report;
    fprintf(out, "COSE_Sign1 (%s): protected {1: -35} (ES384), unprotected {}, payload %zu "
                 "bytes, signature %zu bytes\n",
            env.tagged ? "tag 18" : "untagged", env.payload.len, env.signature.len);
    char scalar[2 * 48 + 1];
    nsmkit_hex_encode(env.signature.ptr, 48, scalar);
    fprintf(out, "  r  %s\n", scalar);
    nsmkit_hex_encode(env.signature.ptr + 48, 48, scalar);
    fprintf(out, "  s  %s\n", scalar);
    if (nsmv_payload_load(env.payload, &payload, &run) != NSMV_OK)
        goto report;
    nsmv_payload_fields(&payload, NSMV_PROFILE_AWS, &run);

    fprintf(out, "Payload (%s map), %s document\n",
            payload.definite_map ? "definite-length" : "indefinite-length",
            nsmv_kind_name(payload.kind));
    char text[NSMV_MODULE_ID_MAX + 1];
    if (payload.valid & NSMV_FIELD_MODULE_ID) {
        nsmv_printable(payload.module_id.ptr, payload.module_id.len, text, sizeof(text));
        fprintf(out, "  %-13s %s\n", "module_id", text);
    }
    if (payload.valid & NSMV_FIELD_DIGEST)
        fprintf(out, "  %-13s SHA384\n", "digest");
    if (payload.valid & NSMV_FIELD_TIMESTAMP) {
        format_ms(payload.timestamp_ms, text, sizeof(text));
        fprintf(out, "  %-13s %llu (%s)\n", "timestamp", (unsigned long long)payload.timestamp_ms,
                text);
    }
    if (payload.valid & NSMV_FIELD_PCRS) {
        fprintf(out, "  %-13s %zu entries%s\n",
                payload.kind == NSMV_KIND_NITROTPM ? "nitrotpm_pcrs" : "pcrs", payload.pcr_count,
                nsmv_payload_debug_mode(&payload) ? " (PCR0..2 zero: debug mode)" : "");
        for (unsigned i = 0; i < NSMV_PCR_MAX; i++) {
            int slot = payload.pcr_slot[i];
            if (slot < 0)
                continue;
            char hex[2 * NSMV_PCR_LEN + 1];
            nsmkit_hex_encode(payload.pcrs[slot].value, NSMV_PCR_LEN, hex);
            fprintf(out, "    PCR%-2u %s\n", i, hex);
        }
    }
    print_optional(out, "public_key", &payload.public_key,
                   (payload.valid & NSMV_FIELD_PUBLIC_KEY) != 0);
    print_optional(out, "user_data", &payload.user_data, (payload.valid & NSMV_FIELD_USER_DATA) != 0);
    print_optional(out, "nonce", &payload.nonce, (payload.valid & NSMV_FIELD_NONCE) != 0);

    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    bio = BIO_new_fp(out, BIO_NOCLOSE);
    OSSL_LIB_CTX *keyless = dump_keyless_context();
    if (!sha256 || !bio) {
        nsmv_fail(&run, NSMV_ERR_NO_MEMORY, "printing certificates");
        goto report;
    }
    if (payload.valid & NSMV_FIELD_CERTIFICATE) {
        fprintf(out, "  %-13s\n", "certificate");
        print_cert(out, bio, "leaf", payload.certificate, sha256, keyless);
    }
    if (payload.valid & NSMV_FIELD_CABUNDLE) {
        fprintf(out, "  %-13s %zu certificates, root first\n", "cabundle", payload.cabundle_count);
        for (size_t i = 0; i < payload.cabundle_count; i++) {
            char title[32];
            snprintf(title, sizeof(title), "cabundle[%zu]", i);
            print_cert(out, bio, title, payload.cabundle[i], sha256, keyless);
        }
    }

report:
    for (size_t i = 0; i < result.failure_count; i++) {
        const nsmv_failure *f = &result.failures[i];
        fprintf(out, "! %s %d %s: %s: %s\n", nsmv_stage_name(f->stage), (int)f->code,
                nsmv_code_name(f->code), nsmv_code_sentence(f->code), f->detail);
    }
    BIO_free(bio);
    EVP_MD_free(sha256);
    nsmv_payload_clear(&payload);
    ERR_clear_error();
    return result.code;
}
