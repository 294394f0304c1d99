/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reports (verifier/report.c): the human report, the JSON report (checked with the
 * project's JSON walker) and the dump.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify_fixture.h"
#include "nsmkit/error.h"
#include "nsmkit/buf.h"
#include "nsmkit/json.h"

typedef struct {
    char *text;
    size_t len;
    FILE *f;
} capture;

static void capture_open(capture *c)
{
    memset(c, 0, sizeof(*c));
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
}

static void capture_close(capture *c)
{
    assert_int_equal(fclose(c->f), 0);
}

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("\"%s\" not in:\n%s", part, text);
}

static void build(const vfx *fx, const nsmsim_payload *p, nsmkit_buf *doc)
{
    nsmkit_buf payload;
    vfx_encode(p, &payload);
    vfx_sign(fx, payload.data, payload.len, doc);
    nsmkit_buf_free(&payload);
}

static void text_report_names_every_stage(void **state)
{
    const vfx *fx = *state;
    nsmkit_buf doc;
    nsmv_options o;
    nsmv_result r;
    capture c;
    build(fx, &fx->payload, &doc);
    vfx_options(&o);

    assert_int_equal(nsmv_verify(fx->verifier, doc.data, doc.len, &o, &r), NSMV_OK);
    capture_open(&c);
    nsmv_report_text(c.f, "doc.bin", &r);
    capture_close(&c);
    assert_contains(c.text, "doc.bin: VALID (nsm document, profile aws, time 2026-01-01T00:10:10Z)");
    assert_contains(c.text, "  envelope   passed");
    assert_contains(c.text, "  signature  passed  ES384");
    assert_contains(c.text, fx->module_id);
    free(c.text);

    o.time_s = VFX_ISSUE_S + 5 * 3600;
    assert_code(nsmv_codes, nsmv_verify(fx->verifier, doc.data, doc.len, &o, &r), NSMV_ERR_CERT_EXPIRED);
    capture_open(&c);
    nsmv_report_text(c.f, "doc.bin", &r);
    capture_close(&c);
    assert_contains(c.text, "doc.bin: INVALID");
    assert_contains(c.text, "  chain      failed\n      410 CERT_EXPIRED: a certificate had expired");
    assert_contains(c.text, "  signature  not run");
    free(c.text);
    nsmkit_buf_free(&doc);
}

typedef struct {
    char module_id[300];
    char first_failure[64];
    size_t strings;
} json_seen;

static int json_collect(void *ctx, const char *const *keys, size_t depth, const char *value,
                        size_t len)
{
    json_seen *s = ctx;
    s->strings++;
    /* {"results": [{"module_id": .., "failures": [{"name": ..}]}]}: arrays add no key */
    if (depth == 2 && !strcmp(keys[1], "module_id") && len < sizeof(s->module_id))
        memcpy(s->module_id, value, len);
    if (depth == 3 && !strcmp(keys[1], "failures") && !strcmp(keys[2], "name") &&
        !s->first_failure[0] && len < sizeof(s->first_failure))
        memcpy(s->first_failure, value, len);
    return 0;
}

static void json_report_is_json_and_escapes(void **state)
{
    const vfx *fx = *state;
    /* a module id with the characters JSON must escape (and bytes that become '?') */
    char id[] = "i-\"quoted\\back\x01slash\x7f";
    nsmsim_payload p = fx->payload;
    p.module_id = id;
    p.nonce = (nsmsim_optional_bytes){(const uint8_t *)"n", 1, true};
    nsmkit_buf doc;
    nsmv_options o;
    nsmv_result r;
    capture c;
    build(fx, &p, &doc);
    vfx_options(&o);
    o.nonce = (nsmv_expected_bytes){true, (const uint8_t *)"m", 1};
    assert_code(nsmv_codes, nsmv_verify(fx->verifier, doc.data, doc.len, &o, &r), NSMV_ERR_POLICY_NONCE);

    capture_open(&c);
    fputs("{\"results\":[", c.f);
    nsmv_report_json(c.f, "a \"file\".bin", &r);
    fputs("]}", c.f);
    capture_close(&c);
    json_seen seen;
    nsmkit_error e;
    memset(&seen, 0, sizeof(seen));
    if (nsmkit_json_walk(c.text, c.len, json_collect, &seen, &e) != 0)
        fail_msg("not JSON (%s):\n%s", e.msg, c.text);
    assert_string_equal(seen.module_id, "i-\"quoted\\back?slash?");
    assert_string_equal(seen.first_failure, "POLICY_NONCE");
    assert_contains(c.text, "\"valid\":false,\"code\":602,\"name\":\"POLICY_NONCE\"");
    assert_contains(c.text, "\"stages\":{\"envelope\":\"passed\"");
    assert_contains(c.text, "\"policy\":\"failed\"");
    free(c.text);
    nsmkit_buf_free(&doc);

    /* a document that never got far: nulls, not made-up values */
    assert_int_equal(nsmv_verify(fx->verifier, (const uint8_t *)"\x84", 1, &o, &r),
                     NSMV_ERR_ENV_TRUNCATED);
    capture_open(&c);
    nsmv_report_json(c.f, "short", &r);
    capture_close(&c);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(nsmkit_json_walk(c.text, c.len, json_collect, &seen, &e), 0);
    assert_contains(c.text, "\"module_id\":null,\"timestamp_ms\":null,\"verification_time\":null");
    assert_contains(c.text, "\"cbor\":\"not run\"");
    free(c.text);
}

static void dump_prints_the_contents(void **state)
{
    const vfx *fx = *state;
    nsmsim_payload p = fx->payload;
    p.user_data = (nsmsim_optional_bytes){(const uint8_t *)"hello", 5, true};
    p.map = NSMSIM_MAP_INDEFINITE;
    nsmkit_buf doc;
    capture c;
    build(fx, &p, &doc);
    capture_open(&c);
    assert_int_equal(nsmv_dump_text(c.f, "doc.bin", doc.data, doc.len), NSMV_OK);
    capture_close(&c);
    assert_contains(c.text, "COSE_Sign1 (untagged): protected {1: -35} (ES384)");
    assert_contains(c.text, "Payload (indefinite-length map), nsm document");
    assert_contains(c.text, fx->module_id);
    assert_contains(c.text, "timestamp     1767226205000 (2026-01-01T00:10:05.000Z)");
    assert_contains(c.text, "    PCR15 0000");
    assert_contains(c.text, "  user_data     5 bytes\n      68656c6c6f\n");
    assert_contains(c.text, "  nonce         null\n");
    assert_contains(c.text, "subject    C=US, ST=Washington, L=Seattle, O=NSM Simulator, OU=NOT AWS");
    assert_contains(c.text, "validity   2026-01-01T00:09:57Z .. 2026-01-01T03:10:00Z");
    assert_contains(c.text, "serial     0102030405060708000000006955bb58");
    assert_contains(c.text, "extensions basicConstraints! CA:FALSE; keyUsage digitalSignature nonRepudiation; SKI no; AKI no");
    assert_contains(c.text, "cabundle[3]: ");
    assert_contains(c.text, "key        EC P-384 (secp384r1)");
    free(c.text);

    /* a broken document: what could be read, then the failure */
    nsmkit_buf_free(&doc);
    p.timestamp_ms = 0;
    build(fx, &p, &doc);
    capture_open(&c);
    assert_code(nsmv_codes, nsmv_dump_text(c.f, "doc.bin", doc.data, doc.len), NSMV_ERR_TIMESTAMP_ZERO);
    capture_close(&c);
    assert_contains(c.text, fx->module_id);
    assert_contains(c.text, "! payload 315 TIMESTAMP_ZERO: timestamp is zero");
    free(c.text);
    capture_open(&c);
    assert_code(nsmv_codes, nsmv_dump_text(c.f, "x", (const uint8_t *)"\xa0", 1), NSMV_ERR_ENV_NOT_ARRAY4);
    capture_close(&c);
    assert_contains(c.text, "! envelope 105 ENV_NOT_ARRAY4");
    free(c.text);
    nsmkit_buf_free(&doc);
}

/* The dump parses P-384 certificates without OpenSSL's key decoder and every other one
 * with it: both must print what the key is. */
static void dump_names_every_kind_of_key(void **state)
{
    const vfx *fx = *state;
    static const struct {
        const char *curve, *printed;
    } kinds[] = {{"P-384", "key        EC P-384 (secp384r1)\n"},
                 {"P-256", "key        an EC key on prime256v1\n"},
                 {"P-521", "key        an EC key on secp521r1\n"},
                 {"RSA", "key        a rsaEncryption key\n"}};
    X509 *instance = vfx_tier_cert(fx, 3);
    EVP_PKEY *instance_key = vfx_tier_key(fx, "instance");
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        EVP_PKEY *key = vfx_key(kinds[i].curve);
        vfx_cert_spec spec = {.cn = "dumped leaf", .issuer = instance,
                              .issuer_key = instance_key, .key = key,
                              .not_before = 1767225600, .not_after = 1767236400,
                              .basic_constraints = "critical,CA:FALSE",
                              .key_usage = "digitalSignature"};
        X509 *leaf = vfx_cert(&spec);
        size_t len;
        uint8_t *der = vfx_der(leaf, &len);
        nsmsim_payload p = fx->payload;
        p.certificate = der;
        p.certificate_len = len;
        nsmkit_buf doc;
        capture c;
        build(fx, &p, &doc);
        capture_open(&c);
        (void)nsmv_dump_text(c.f, "doc.bin", doc.data, doc.len);
        capture_close(&c);
        const char *leaf_part = strstr(c.text, "    leaf: ");
        const char *bundle_part = strstr(c.text, "cabundle[0]: ");
        assert_non_null(leaf_part);
        assert_non_null(bundle_part);
        const char *printed = strstr(leaf_part, kinds[i].printed);
        if (!printed || printed > bundle_part)
            fail_msg("a %s leaf: no \"%s\" in\n%s", kinds[i].curve, kinds[i].printed, c.text);
        free(c.text);
        nsmkit_buf_free(&doc);
        free(der);
        X509_free(leaf);
        EVP_PKEY_free(key);
    }
    X509_free(instance);
    EVP_PKEY_free(instance_key);
}

static void dump_of_a_real_document(void **state)
{
    (void)state;
    size_t len;
    capture c;
    uint8_t *doc = vfx_real_doc("vaportpm_nitrotpm_2026-02-01.bin", &len);
    capture_open(&c);
    assert_int_equal(nsmv_dump_text(c.f, "tpm", doc, len), NSMV_OK);
    capture_close(&c);
    assert_contains(c.text, "nitrotpm document");
    assert_contains(c.text, "nitrotpm_pcrs 24 entries");
    assert_contains(c.text, "    PCR23 22a3e580");
    assert_contains(c.text, "subject    C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves");
    assert_contains(c.text, "sha256     641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b");
    assert_contains(c.text, "subject    CN=48cfb331f4a7acba.zonal.us-east-1.aws.nitro-enclaves, OU=AWS, O=Amazon, C=US, ST=WA, L=Seattle");
    free(c.text);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_report_names_every_stage),
        cmocka_unit_test(json_report_is_json_and_escapes),
        cmocka_unit_test(dump_prints_the_contents),
        cmocka_unit_test(dump_names_every_kind_of_key),
        cmocka_unit_test(dump_of_a_real_document),
    };
    return cmocka_run_group_tests(tests, vfx_setup, vfx_teardown);
}
