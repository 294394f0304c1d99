/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attestation builder: the payload map and the COSE_Sign1 envelope, byte for byte as
 * the NSM writes them (NSM-FACTS section 4; the envelope's fixed bytes are in
 * nsmkit/cose.h).
 */
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

#include "nsmkit/sim.h"
#include "nsmkit/buf.h"
#include "nsmkit/bytes.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/cose.h"
#include "nsmkit/p384.h"

const uint8_t nsmsim_protected_es384[NSMKIT_COSE_PROTECTED_ES384_LEN] =
    NSMKIT_COSE_PROTECTED_ES384;

static void put_optional(nsmkit_buf *b, const nsmsim_optional_bytes *field)
{
    if (field->present)
        nsmkit_cbor_put_bytes(b, field->data, field->len);
    else
        nsmkit_cbor_put_null(b);
}

void nsmsim_payload_encode(const nsmsim_payload *p, nsmkit_buf *b)
{
    if (p->map == NSMSIM_MAP_INDEFINITE)
        nsmkit_buf_u8(b, 0xbf);
    else
        nsmkit_cbor_put_head(b, NSMKIT_CBOR_MAP, 9);

    nsmkit_cbor_put_text(b, "module_id");
    nsmkit_cbor_put_text(b, p->module_id);
    nsmkit_cbor_put_text(b, "digest");
    nsmkit_cbor_put_text(b, p->digest);
    nsmkit_cbor_put_text(b, "timestamp");
    nsmkit_cbor_put_uint(b, p->timestamp_ms);
    nsmkit_cbor_put_text(b, "pcrs");
    nsmkit_cbor_put_head(b, NSMKIT_CBOR_MAP, p->pcr_count);
    for (size_t i = 0; i < p->pcr_count; i++) {
        nsmkit_cbor_put_uint(b, p->pcrs[i].index);
        nsmkit_cbor_put_bytes(b, p->pcrs[i].value, p->pcrs[i].len);
    }
    nsmkit_cbor_put_text(b, "certificate");
    nsmkit_cbor_put_bytes(b, p->certificate, p->certificate_len);
    nsmkit_cbor_put_text(b, "cabundle");
    nsmkit_cbor_put_head(b, NSMKIT_CBOR_ARRAY, p->cabundle_count);
    for (size_t i = 0; i < p->cabundle_count; i++)
        nsmkit_cbor_put_bytes(b, p->cabundle[i], p->cabundle_lens[i]);
    nsmkit_cbor_put_text(b, "public_key");
    put_optional(b, &p->public_key);
    nsmkit_cbor_put_text(b, "user_data");
    put_optional(b, &p->user_data);
    nsmkit_cbor_put_text(b, "nonce");
    put_optional(b, &p->nonce);

    if (p->map == NSMSIM_MAP_INDEFINITE)
        nsmkit_buf_u8(b, 0xff);
}

/* SHA-384 is fetched once: an implicit fetch on every document would cost more than the
 * rest of the encoding. */
static EVP_MD *sha384_md;
static pthread_once_t sha384_once = PTHREAD_ONCE_INIT;

static void sha384_fetch(void)
{
    sha384_md = EVP_MD_fetch(NULL, "SHA384", NULL);
}

int nsmsim_sig_structure_digest(const uint8_t *protected_hdr, size_t protected_len,
                                const uint8_t *payload, size_t payload_len, uint8_t digest[48])
{
    /* Sig_structure = ["Signature1", protected, external_aad = h'', payload], hashed as it
     * is encoded without building it: the payload is the bulk of it. */
    static const uint8_t context[] = NSMKIT_COSE_SIG_STRUCTURE_PREFIX;
    uint8_t head[9];
    nsmkit_buf h = {.data = head, .cap = sizeof(head), .limit = sizeof(head)};
    unsigned int out_len = 0;
    int rc = -1;

    pthread_once(&sha384_once, sha384_fetch);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!sha384_md || !ctx || !EVP_DigestInit_ex(ctx, sha384_md, NULL) ||
        !EVP_DigestUpdate(ctx, context, sizeof(context)))
        goto out;
    nsmkit_cbor_put_head(&h, NSMKIT_CBOR_BYTES, protected_len);
    if (h.err || !EVP_DigestUpdate(ctx, head, h.len) ||
        !EVP_DigestUpdate(ctx, protected_hdr, protected_len))
        goto out;
    h.len = 0;
    nsmkit_cbor_put_head(&h, NSMKIT_CBOR_BYTES, 0); /* external_aad */
    nsmkit_cbor_put_head(&h, NSMKIT_CBOR_BYTES, payload_len);
    if (h.err || !EVP_DigestUpdate(ctx, head, h.len) ||
        !EVP_DigestUpdate(ctx, payload, payload_len) ||
        !EVP_DigestFinal_ex(ctx, digest, &out_len) || out_len != 48)
        goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* ES384 with nettle (about six times OpenSSL 3.0's signing rate): the leaf's scalar is
 * read from the leaf (its key stays OpenSSL's for the certificate), used, and wiped. */
static int leaf_sign(const nsmca_leaf *leaf, const uint8_t digest[48],
                     const nsmkit_p384_nonce_source *nonce, uint8_t signature[96])
{
    uint8_t scalar[NSMCA_P384_SCALAR_LEN];
    nsmkit_p384_private *key = NULL;
    int rc = -1;
    if (nsmca_leaf_private_scalar(leaf, scalar) == NSMCA_OK &&
        nsmkit_p384_private_new(NSMKIT_P384_NETTLE, scalar, &key) == NSMKIT_P384_OK &&
        nsmkit_p384_sign(key, digest, nonce, signature) == NSMKIT_P384_OK)
        rc = 0;
    nsmkit_p384_private_free(key);
    nsmkit_wipe(scalar, sizeof(scalar));
    return rc;
}

int nsmsim_cose_sign1_encode_nonce(const uint8_t *payload, size_t payload_len,
                                   const nsmca_leaf *leaf, const nsmkit_p384_nonce_source *nonce,
                                   nsmkit_buf *out)
{
    uint8_t digest[48], signature[NSMCA_ECDSA_P384_SIG_LEN];
    if (nsmsim_sig_structure_digest(nsmsim_protected_es384, sizeof(nsmsim_protected_es384),
                                    payload, payload_len, digest) != 0 ||
        leaf_sign(leaf, digest, nonce, signature) != 0)
        return -1;
    nsmkit_cbor_put_head(out, NSMKIT_CBOR_ARRAY, 4);
    nsmkit_cbor_put_bytes(out, nsmsim_protected_es384, sizeof(nsmsim_protected_es384));
    nsmkit_cbor_put_head(out, NSMKIT_CBOR_MAP, 0);
    nsmkit_cbor_put_bytes(out, payload, payload_len);
    nsmkit_cbor_put_bytes(out, signature, sizeof(signature));
    return out->err ? -1 : 0;
}

int nsmsim_cose_sign1_encode(const uint8_t *payload, size_t payload_len,
                             const nsmca_leaf *leaf, nsmkit_buf *out)
{
    return nsmsim_cose_sign1_encode_nonce(payload, payload_len, leaf, NULL, out);
}
