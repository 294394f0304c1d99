/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A deliberately weak verifier, for grading the grader (tests/it_vectors.sh): it checks the
 * COSE signature under the key of the document's own leaf certificate and nothing else -
 * no root, no chain, no times, no payload rules, no policy. `nsm-vectors grade` must name
 * the classes it wrongly accepts.
 *
 *   weak_verifier DOC     exit 0: "valid", 1: "invalid: why", 2: usage
 *
 * It reads hostile documents, so it still checks what it touches before using it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "nsmkit/cbor.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/file.h"
#include "nsmkit/sim.h"

static int invalid(const char *why)
{
    printf("invalid: %s\n", why);
    return 1;
}

static bool definite_bytes(const cbor_item_t *item)
{
    return item && cbor_isa_bytestring(item) && cbor_bytestring_is_definite(item);
}

static int check(const uint8_t *doc, size_t len)
{
    struct cbor_load_result res;
    cbor_item_t *cose = cbor_load(doc, len, &res), *body = cose, *payload = NULL;
    int rc = 1;
    X509 *leaf = NULL;
    EVP_PKEY *key = NULL;
    if (!cose)
        return invalid("not CBOR");
    if (cbor_isa_tag(body))
        body = cbor_tag_item(body); /* counted reference */
    else
        cbor_incref(body);
    if (!cbor_isa_array(body) || cbor_array_size(body) != 4) {
        rc = invalid("not a COSE_Sign1 array");
        goto out;
    }
    cbor_item_t *prot = cbor_array_get(body, 0), *pl = cbor_array_get(body, 2),
                *sig = cbor_array_get(body, 3);
    if (!definite_bytes(prot) || !definite_bytes(pl) || !definite_bytes(sig) ||
        cbor_bytestring_length(sig) != 96) {
        rc = invalid("envelope items are not what a signature check needs");
        goto items;
    }
    payload = cbor_load(cbor_bytestring_handle(pl), cbor_bytestring_length(pl), &res);
    if (!payload || !cbor_isa_map(payload)) {
        rc = invalid("payload is not a map");
        goto items;
    }
    struct cbor_pair *pairs = cbor_map_handle(payload);
    const cbor_item_t *cert = NULL;
    for (size_t i = 0; i < cbor_map_size(payload); i++)
        if (nsmkit_cbor_text_equals(pairs[i].key, "certificate"))
            cert = pairs[i].value;
    if (!definite_bytes(cert)) {
        rc = invalid("no certificate");
        goto items;
    }
    const unsigned char *p = cbor_bytestring_handle(cert);
    leaf = d2i_X509(NULL, &p, (long)cbor_bytestring_length(cert));
    key = leaf ? X509_get_pubkey(leaf) : NULL;
    if (!key) {
        rc = invalid("certificate unreadable");
        goto items;
    }
    uint8_t digest[48], der[128], *d = der;
    const uint8_t *rs = cbor_bytestring_handle(sig);
    if (nsmsim_sig_structure_digest(cbor_bytestring_handle(prot), cbor_bytestring_length(prot),
                                    cbor_bytestring_handle(pl), cbor_bytestring_length(pl),
                                    digest) != 0) {
        rc = invalid("digest");
        goto items;
    }
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, 48, NULL), *sv = BN_bin2bn(rs + 48, 48, NULL);
    int der_len = 0;
    if (s && r && sv && ECDSA_SIG_set0(s, r, sv)) {
        r = sv = NULL;
        der_len = i2d_ECDSA_SIG(s, &d);
    }
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(s);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    if (der_len > 0 && ctx && EVP_PKEY_verify_init(ctx) == 1 &&
        EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, sizeof(digest)) == 1) {
        printf("valid\n");
        rc = 0;
    } else {
        rc = invalid("signature");
    }
    EVP_PKEY_CTX_free(ctx);
items:
    cbor_decref(&prot);
    cbor_decref(&pl);
    cbor_decref(&sig);
out:
    if (payload)
        cbor_decref(&payload);
    EVP_PKEY_free(key);
    X509_free(leaf);
    cbor_decref(&body);
    cbor_decref(&cose);
    return rc;
}

int main(int argc, char **argv)
{
    uint8_t *doc;
    size_t len;
    nsmkit_error e;
    if (argc != 2) {
        fprintf(stderr, "usage: weak_verifier DOC\n");
        return 2;
    }
    if (nsmkit_file_read(argv[1], 1u << 20, &doc, &len, &e) != 0) {
        fprintf(stderr, "weak_verifier: %s\n", e.msg);
        return 2;
    }
    int rc = check(doc, len);
    free(doc);
    return rc;
}
