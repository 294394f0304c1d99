/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A program built the way a user builds one against an installed nsmkit: its headers and
 * libraries found by pkg-config alone (tests/it_install.sh). It creates a simulated PKI,
 * signs a document with a leaf of it and verifies the document against the root:
 * nsmca, nsmsim (with nsmkit's buffers) and nsmverify in one run.
 */

/* If an installed header included <cbor.h>, libcbor's typedef would clash with this one:
 * the installed public headers keep libcbor to themselves. */
typedef struct not_libcbor cbor_item_t;

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nsmkit/ca.h>
#include <nsmkit/sim.h>
#include <nsmkit/verify.h>

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "install_client: %s: %s\n", what, detail);
    return 1;
}

/* A signed document from a fresh leaf of pki at time t. */
static int make_document(nsmca_pki *pki, uint64_t t, nsmkit_buf *doc, nsmca_leaf **leaf)
{
    static const uint8_t enclave[NSMCA_ENCLAVE_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
    nsmkit_error e;
    if (nsmca_leaf_issue(pki, enclave, t, leaf, &e) != NSMCA_OK)
        return fail("leaf", e.msg);
    uint8_t values[16][48];
    nsmsim_pcr_entry pcrs[16];
    for (unsigned i = 0; i < 16; i++) {
        memset(values[i], (int)i + 1, sizeof(values[i]));
        pcrs[i] = (nsmsim_pcr_entry){i, values[i], sizeof(values[i])};
    }
    const uint8_t *bundle[1 + NSMCA_MAX_TIERS];
    size_t lens[1 + NSMCA_MAX_TIERS];
    unsigned count = nsmca_leaf_bundle_count(*leaf);
    for (unsigned i = 0; i < count; i++)
        bundle[i] = nsmca_leaf_bundle_der(*leaf, i, &lens[i]);
    nsmsim_payload p = {.module_id = "i-0123456789abcdef0-enc0102030405060708",
                        .digest = "SHA384", .timestamp_ms = t * 1000,
                        .pcrs = pcrs, .pcr_count = 16,
                        .cabundle = bundle, .cabundle_lens = lens, .cabundle_count = count};
    p.certificate = nsmca_leaf_der(*leaf, &p.certificate_len);
    nsmkit_buf payload;
    nsmkit_buf_init(&payload, NSMV_DOC_MAX);
    nsmsim_payload_encode(&p, &payload);
    int rc = payload.err || nsmsim_cose_sign1_encode(payload.data, payload.len, *leaf, doc) != 0;
    nsmkit_buf_free(&payload);
    return rc ? fail("document", "cannot encode") : 0;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return fail("usage", "install_client EMPTY_DIR");
    uint64_t t = (uint64_t)time(NULL);
    nsmca_init_options init = {.now_s = t};
    nsmkit_error e;
    nsmca_pki *pki = NULL;
    nsmca_code code = nsmca_init(argv[1], &init, &e);
    if (code == NSMCA_OK)
        code = nsmca_open(argv[1], &pki, &e);
    if (code != NSMCA_OK)
        return fail(nsmca_code_name(code), e.msg);

    nsmkit_buf doc;
    nsmkit_buf_init(&doc, NSMV_DOC_MAX);
    nsmca_leaf *leaf = NULL;
    int status = make_document(pki, t, &doc, &leaf);
    size_t root_len = 0;
    const uint8_t *root = nsmca_cert_der(pki, 0, &root_len);
    nsmv_config config = {.root_der = root, .root_len = root_len};
    nsmv_verifier *v = NULL;
    nsmv_error ve;
    if (status == 0 && nsmv_verifier_new(&config, &v, &ve) != 0)
        status = fail("verifier", ve.msg);
    if (status == 0) {
        nsmv_options options;
        nsmv_options_init(&options);
        nsmv_result result;
        nsmv_code verdict = nsmv_verify(v, doc.data, doc.len, &options, &result);
        printf("document of %zu bytes: %s; a bad CA key would be %s\n", doc.len,
               nsmv_code_name(verdict), nsmca_code_name(NSMCA_ERR_KEY_PERMISSIONS));
        status = verdict == NSMV_OK ? 0 : 1;
        /* what the accepted document says, through the installed library */
        nsmv_claims *claims = NULL;
        if (status == 0 && nsmv_claims_read(doc.data, doc.len, &claims) != NSMV_OK)
            status = fail("claims", "an accepted document gives no claims");
        if (status == 0) {
            printf("its module %s, PCR0 %s\n", nsmv_claims_module_id(claims),
                   nsmv_claims_pcr(claims, 0) ? "present" : "missing");
            if (nsmv_claims_pcr(claims, 0) == NULL)
                status = fail("claims", "no PCR0");
        }
        nsmv_claims_free(claims);
    }
    nsmv_verifier_free(v);
    nsmca_leaf_free(leaf);
    nsmkit_buf_free(&doc);
    nsmca_close(pki);
    return status;
}
