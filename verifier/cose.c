/*
 * The signature stage: ES384 over the COSE Sig_structure
 *
 *   84 6a "Signature1" <protected bstr> 40 <payload bstr>
 *
 * hashed in pieces (no copy of the payload). The hash comes from the header's alg, never
 * from the key's curve (a verifier that picks the hash from the key accepts documents whose
 * header says something else). The raw r||s signature becomes DER for OpenSSL; r and s
 * must lie in [1, n-1], but high s is fine: the NSM does not normalise to low s.
 */
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>

#include "internal.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/cose.h"

/* The order n of the P-384 group, big-endian. */
static const uint8_t p384_order[48] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
    0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
};

static bool scalar_in_range(const uint8_t v[48])
{
    static const uint8_t zero[48];
    return memcmp(v, zero, 48) != 0 && memcmp(v, p384_order, 48) < 0;
}

nsmv_code nsmv_cose_verify(const nsmv_verifier *v, const nsmv_envelope *env,
                           EVP_PKEY *leaf_key, nsmv_run *run)
{
    static const uint8_t prefix[] = NSMKIT_COSE_SIG_STRUCTURE_PREFIX;
    static const uint8_t empty_external_aad = 0x40;
    uint8_t digest[EVP_MAX_MD_SIZE];
    nsmkit_buf heads; /* the two bstr heads, shortest form as the signer wrote them */
    unsigned int digest_len = 0;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    ECDSA_SIG *sig = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *der = NULL;
    nsmv_code c = NSMV_OK;
    const EVP_MD *hash;

    /* The table of algorithms this verifier accepts; the envelope admitted nothing else. */
    if (env->alg == NSMV_COSE_ALG_ES384) {
        hash = v->sha384;
    } else {
        return nsmv_fail(run, NSMV_ERR_INTERNAL, "no hash for alg %lld", (long long)env->alg);
    }

    const uint8_t *raw = env->signature.data;
    if (env->signature.len != NSMV_SIGNATURE_LEN)
        return nsmv_fail(run, NSMV_ERR_INTERNAL, "signature length not checked");
    if (!scalar_in_range(raw))
        return nsmv_fail(run, NSMV_ERR_SIGNATURE_VALUE, "r is %s",
                         memcmp(raw, p384_order, 48) < 0 ? "zero" : "not below n");
    if (!scalar_in_range(raw + 48))
        return nsmv_fail(run, NSMV_ERR_SIGNATURE_VALUE, "s is %s",
                         memcmp(raw + 48, p384_order, 48) < 0 ? "zero" : "not below n");

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
        EVP_DigestUpdate(md, env->protected_hdr.data, env->protected_hdr.len) != 1 ||
        EVP_DigestUpdate(md, &empty_external_aad, 1) != 1 ||
        EVP_DigestUpdate(md, heads.data + n_protected, heads.len - n_protected) != 1 ||
        EVP_DigestUpdate(md, env->payload.data, env->payload.len) != 1 ||
        EVP_DigestFinal_ex(md, digest, &digest_len) != 1) {
        c = nsmv_fail(run, NSMV_ERR_INTERNAL, "hashing the Sig_structure failed");
        goto out;
    }

    sig = ECDSA_SIG_new();
    r = BN_bin2bn(raw, 48, NULL);
    s = BN_bin2bn(raw + 48, 48, NULL);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
        c = nsmv_fail(run, NSMV_ERR_NO_MEMORY, "building the DER signature");
        goto out;
    }
    r = s = NULL; /* owned by sig now */
    int der_len = i2d_ECDSA_SIG(sig, &der);
    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, leaf_key, NULL);
    if (der_len <= 0 || !pctx || EVP_PKEY_verify_init(pctx) != 1) {
        c = nsmv_fail(run, NSMV_ERR_INTERNAL, "preparing the ECDSA verification failed");
        goto out;
    }
    if (EVP_PKEY_verify(pctx, der, (size_t)der_len, digest, digest_len) != 1)
        c = nsmv_fail(run, NSMV_ERR_SIGNATURE_INVALID,
                      "ES384 over the Sig_structure of the %zu-byte payload", env->payload.len);

out:
    EVP_PKEY_CTX_free(pctx);
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    nsmkit_buf_free(&heads);
    ERR_clear_error();
    return c;
}
