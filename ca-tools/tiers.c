/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The root and the intermediates on disk.
 *
 *   root.key (0600), root.pem      written once, at creation; never replaced
 *   intermediates.pem (0600)       for each tier below the root, in order: its PKCS#8 key,
 *                                  then its certificate; one rename switches them all
 *
 * Loading checks every certificate against its key and against the tier above it, so a
 * store that loads is a whole chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "internal.h"
#include "nsmkit/bytes.h"
#include "store.h"

nsmca_code ca_tier_issue(const nsmca_pki *pki, unsigned index, const ca_tier *issuer,
                         uint64_t t, ca_tier *out, nsmkit_error *e)
{
    ca_tier fresh = {0};
    fresh.key = ca_key_new(e);
    if (!fresh.key)
        return NSMCA_ERR_CRYPTO;
    nsmca_code code = ca_tier_cert_build(pki, index, fresh.key, issuer, t, &fresh.cert, e);
    if (code == NSMCA_OK)
        code = ca_tier_set_der(&fresh, e);
    if (code != NSMCA_OK) {
        ca_tier_clear(&fresh);
        return code;
    }
    ca_tier_move(out, &fresh);
    return NSMCA_OK;
}

/* Writes a memory BIO's bytes as DIR/NAME. */
static nsmca_code bio_save(const nsmca_pki *pki, BIO *bio, const char *name, unsigned mode,
                           nsmkit_error *e)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n < 0 || !data)
        return ca_fail(e, NSMCA_ERR_INTERNAL, "internal: empty PEM buffer");
    return ca_file_replace(pki->dir, name, (const uint8_t *)data, (size_t)n, mode, e);
}

nsmca_code ca_root_save(const nsmca_pki *pki, nsmkit_error *e)
{
    BIO *key_bio = BIO_new(BIO_s_secmem());
    BIO *cert_bio = BIO_new(BIO_s_mem());
    nsmca_code code = !key_bio || !cert_bio
                          ? ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory")
                          : ca_tier_write_pem(&pki->cert[TIER_ROOT], key_bio, cert_bio, e);
    /* The key first: a root certificate on disk always has its key beside it. */
    if (code == NSMCA_OK)
        code = bio_save(pki, key_bio, CA_ROOT_KEY_NAME, 0600, e);
    if (code == NSMCA_OK)
        code = bio_save(pki, cert_bio, CA_ROOT_CERT_NAME, 0644, e);
    BIO_free(key_bio);
    BIO_free(cert_bio);
    return code;
}

/* A file's bytes as a read-only memory BIO that owns them (wiped when freed). */
typedef struct {
    uint8_t *data;
    size_t len;
    BIO *bio;
} file_bio;

static nsmca_code file_bio_open(const nsmca_pki *pki, const char *name, bool secret,
                                file_bio *fb, nsmkit_error *e)
{
    memset(fb, 0, sizeof(*fb));
    nsmca_code code = ca_file_read(pki->dir, name, secret, &fb->data, &fb->len, e);
    if (code != NSMCA_OK)
        return code;
    fb->bio = BIO_new_mem_buf(fb->data, (int)fb->len);
    return fb->bio ? NSMCA_OK : ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory");
}

static void file_bio_close(file_bio *fb)
{
    BIO_free(fb->bio);
    if (fb->data)
        nsmkit_wipe(fb->data, fb->len);
    free(fb->data);
    memset(fb, 0, sizeof(*fb));
}

/* Each certificate must be signed by the key of the one above it; the root by itself. */
static nsmca_code check_signed_by(const nsmca_pki *pki, const ca_tier *tier,
                                  const ca_tier *issuer, unsigned index, nsmkit_error *e)
{
    if (X509_verify(tier->cert, issuer->key) == 1)
        return NSMCA_OK;
    ERR_clear_error();
    return ca_fail(e, NSMCA_ERR_CHAIN_BROKEN, "%s/%s: the %s certificate is not signed by the %s "
                   "key", pki->dir, index ? CA_INTERMEDIATES_NAME : CA_ROOT_CERT_NAME,
                   ca_tier_names[index], ca_tier_names[index ? index - 1 : 0]);
}

nsmca_code ca_root_load(nsmca_pki *pki, nsmkit_error *e)
{
    file_bio key = {0}, cert = {0};
    nsmca_code code = file_bio_open(pki, CA_ROOT_KEY_NAME, true, &key, e);
    if (code == NSMCA_OK)
        code = file_bio_open(pki, CA_ROOT_CERT_NAME, false, &cert, e);
    char *key_path = ca_path(pki->dir, CA_ROOT_KEY_NAME);
    char *cert_path = ca_path(pki->dir, CA_ROOT_CERT_NAME);
    if (code == NSMCA_OK && (!key_path || !cert_path))
        code = ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory");
    if (code == NSMCA_OK)
        code = ca_tier_read_pem(&pki->cert[TIER_ROOT], key.bio, key_path, cert.bio, cert_path, e);
    if (code == NSMCA_OK)
        code = check_signed_by(pki, &pki->cert[TIER_ROOT], &pki->cert[TIER_ROOT], 0, e);
    free(key_path);
    free(cert_path);
    file_bio_close(&key);
    file_bio_close(&cert);
    return code;
}

nsmca_code ca_intermediates_save(const nsmca_pki *pki, const ca_tier *tiers, nsmkit_error *e)
{
    /* Keys and certificates interleave in one secure-memory buffer. */
    BIO *bio = BIO_new(BIO_s_secmem());
    nsmca_code code = bio ? NSMCA_OK : ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory");
    for (unsigned i = 1; i <= pki->tiers && code == NSMCA_OK; i++)
        code = ca_tier_write_pem(&tiers[i], bio, bio, e);
    if (code == NSMCA_OK)
        code = bio_save(pki, bio, CA_INTERMEDIATES_NAME, 0600, e);
    BIO_free(bio);
    return code;
}

nsmca_code ca_intermediates_load(const nsmca_pki *pki, ca_tier *tiers, nsmkit_error *e)
{
    file_bio fb;
    nsmca_code code = file_bio_open(pki, CA_INTERMEDIATES_NAME, true, &fb, e);
    char *what = ca_path(pki->dir, CA_INTERMEDIATES_NAME);
    if (code == NSMCA_OK && !what)
        code = ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory");
    for (unsigned i = 1; i <= pki->tiers && code == NSMCA_OK; i++) {
        code = ca_tier_read_pem(&tiers[i], fb.bio, what, fb.bio, what, e);
        if (code == NSMCA_ERR_KEY_MALFORMED || code == NSMCA_ERR_CERT_MALFORMED)
            code = ca_fail(e, NSMCA_ERR_INTERMEDIATES_MALFORMED,
                           "%s: no readable key and certificate for the %s tier", what,
                           ca_tier_names[i]);
        if (code == NSMCA_OK)
            code = check_signed_by(pki, &tiers[i], &tiers[i - 1], i, e);
    }
    if (code == NSMCA_OK && BIO_pending(fb.bio) != 0)
        code = ca_fail(e, NSMCA_ERR_INTERMEDIATES_MALFORMED,
                       "%s: more than the %u tier(s) ca.conf names", what, pki->tiers);
    free(what);
    file_bio_close(&fb);
    if (code != NSMCA_OK)
        for (unsigned i = 1; i <= NSMCA_MAX_TIERS; i++)
            ca_tier_clear(&tiers[i]);
    return code;
}

bool ca_intermediates_repairable(nsmca_code code)
{
    return code == NSMCA_ERR_FILE_MISSING || code == NSMCA_ERR_INTERMEDIATES_MALFORMED ||
           code == NSMCA_ERR_KEY_MALFORMED || code == NSMCA_ERR_CERT_MALFORMED ||
           code == NSMCA_ERR_CERT_KEY_MISMATCH || code == NSMCA_ERR_CHAIN_BROKEN;
}

/* The files of the layout before intermediates.pem: one key and one certificate per tier,
 * each renamed on its own (which is how a refresh could leave them half switched). */
static void remove_old_layout(const nsmca_pki *pki)
{
    for (unsigned i = 1; i <= NSMCA_MAX_TIERS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "%s.key", ca_tier_names[i]);
        char *key = ca_path(pki->dir, name);
        snprintf(name, sizeof(name), "%s.pem", ca_tier_names[i]);
        char *cert = ca_path(pki->dir, name);
        if (key)
            (void)unlink(key);
        if (cert)
            (void)unlink(cert);
        free(key);
        free(cert);
    }
}

nsmca_code ca_intermediates_reissue(nsmca_pki *pki, uint64_t t, nsmkit_error *e)
{
    ca_tier fresh[1 + NSMCA_MAX_TIERS] = {{0}};
    nsmca_code code = NSMCA_OK;
    for (unsigned i = 1; i <= pki->tiers && code == NSMCA_OK; i++)
        code = ca_tier_issue(pki, i, i == 1 ? &pki->cert[TIER_ROOT] : &fresh[i - 1], t,
                             &fresh[i], e);
    if (code == NSMCA_OK)
        code = ca_intermediates_save(pki, fresh, e);
    for (unsigned i = 1; i <= pki->tiers; i++) {
        if (code == NSMCA_OK)
            ca_tier_move(&pki->cert[i], &fresh[i]);
        ca_tier_clear(&fresh[i]);
    }
    if (code == NSMCA_OK)
        remove_old_layout(pki);
    return code;
}
