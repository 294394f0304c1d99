/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signature stage: ES384 over the COSE Sig_structure
 *
 *   84 6a "Signature1" <protected bstr> 40 <payload bstr>
 *
 * hashed in pieces (no copy of the payload). The hash comes from the header's alg, never
 * from the key's curve (a verifier that picks the hash from the key accepts documents whose
 * header says something else). The raw r||s signature goes to the P-384 seam
 * (nsmkit/p384.h: nettle by default, OpenSSL on request, the same verdicts); r and s must
 * lie in [1, n-1], but high s is fine: the NSM does not normalise to low s.
 */
#include <string.h>

#include <openssl/err.h>

#include "internal.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/cose.h"

nsmv_code nsmv_cose_verify(const nsmv_verifier *v, const nsmv_envelope *env,
                           const nsmkit_p384_public *leaf_key, nsmv_run *run)
{
    static const uint8_t prefix[] = NSMKIT_COSE_SIG_STRUCTURE_PREFIX;
    static const uint8_t empty_external_aad = 0x40;
    uint8_t digest[EVP_MAX_MD_SIZE];
    nsmkit_buf heads; /* the two bstr heads, shortest form as the signer wrote them */
    unsigned int digest_len = 0;
    EVP_MD_CTX *md = NULL;
    nsmv_code c = NSMV_OK;
    const EVP_MD *hash;

    /* The table of algorithms this verifier accepts; the envelope admitted nothing else. */
    if (env->alg == NSMV_COSE_ALG_ES384) {
        hash = v->sha384;
    } else {
        return nsmv_fail(run, NSMV_ERR_INTERNAL, "no hash for alg %lld", (long long)env->alg);
    }

    const uint8_t *raw = env->signature.ptr;
    if (env->signature.len != NSMV_SIGNATURE_LEN)
        return nsmv_fail(run, NSMV_ERR_INTERNAL, "signature length not checked");
    if (!nsmkit_p384_scalar_in_range(raw))
        return nsmv_fail(run, NSMV_ERR_SIGNATURE_VALUE, "r is %s",
                         memcmp(raw, nsmkit_p384_order, 48) < 0 ? "zero" : "not below n");
    if (!nsmkit_p384_scalar_in_range(raw + 48))
        return nsmv_fail(run, NSMV_ERR_SIGNATURE_VALUE, "s is %s",
                         memcmp(raw + 48, nsmkit_p384_order, 48) < 0 ? "zero" : "not below n");

    nsmkit_buf_init(&heads, 18);
    nsmkit_cbor_put_head(&heads, NSMKIT_CBOR_BYTES, env->protected_hdr.len);
    size_t n_protected = heads.len;
    nsmkit_cbor_put_head(&heads, NSMKIT_CBOR_BYTES, env->payload.len);
    md = EVP_MD_CTX_new();
    if (!md || heads.err) {
        c = nsmv_fail(run, NSMV_ERR_NO_MEMORY, "hashing the Sig_structure");
        goto out;
    }
    if (EVP_DigestInit_ex(md, hash, NULL) != 1 ||
        EVP_DigestUpdate(md, prefix, sizeof(prefix)) != 1 ||
        EVP_DigestUpdate(md, heads.data, n_protected) != 1 ||
        EVP_DigestUpdate(md, env->protected_hdr.ptr, env->protected_hdr.len) != 1 ||
        EVP_DigestUpdate(md, &empty_external_aad, 1) != 1 ||
        EVP_DigestUpdate(md, heads.data + n_protected, heads.len - n_protected) != 1 ||
        EVP_DigestUpdate(md, env->payload.ptr, env->payload.len) != 1 ||
        EVP_DigestFinal_ex(md, digest, &digest_len) != 1) {
        c = nsmv_fail(run, NSMV_ERR_INTERNAL, "hashing the Sig_structure failed");
        goto out;
    }

    nsmkit_p384_status st = digest_len == NSMKIT_P384_DIGEST_LEN
                                ? nsmkit_p384_verify(leaf_key, digest, raw)
                                : NSMKIT_P384_LIBRARY_ERROR;
    if (st == NSMKIT_P384_SIGNATURE_INVALID)
        c = nsmv_fail(run, NSMV_ERR_SIGNATURE_INVALID,
                      "ES384 over the Sig_structure of the %zu-byte payload", env->payload.len);
    else if (st != NSMKIT_P384_OK)
        c = nsmv_fail(run, NSMV_ERR_INTERNAL, "the P-384 check (%s) failed: %s",
                      nsmkit_p384_impl_name(nsmkit_p384_public_impl(leaf_key)),
                      nsmkit_p384_status_name(st));

out:
    EVP_MD_CTX_free(md);
    nsmkit_buf_free(&heads);
    ERR_clear_error();
    return c;
}
