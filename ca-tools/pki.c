/* SPDX-License-Identifier: Apache-2.0 */
/* The public PKI API: create, open (and repair), refresh, accessors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "nsmkit/file.h"
#include "store.h"

/* Every name a writer may leave a temporary of, the layout before intermediates.pem
 * included (its writers renamed each tier's key and certificate separately). */
static const char *const store_names[] = {
    CA_CONF_NAME, CA_ROOT_KEY_NAME, CA_ROOT_CERT_NAME, CA_INTERMEDIATES_NAME,
    "regional.key", "regional.pem", "zonal.key", "zonal.pem", "instance.key", "instance.pem",
};

static uint64_t now_seconds(void)
{
    return (uint64_t)time(NULL);
}

/* Takes the write lock and removes what dead writers left. */
nsmca_code ca_writer_begin(const char *dir, int *lock, nsmkit_error *e)
{
    nsmca_code code = ca_lock_take(dir, lock, e);
    if (code == NSMCA_OK)
        ca_store_clean_temporaries(dir, store_names, sizeof(store_names) / sizeof(store_names[0]));
    return code;
}

static nsmca_pki *pki_alloc(const char *dir)
{
    nsmca_pki *pki = calloc(1, sizeof(*pki));
    if (!pki)
        return NULL;
    pki->dir = strdup(dir);
    if (!pki->dir) {
        free(pki);
        return NULL;
    }
    return pki;
}

void nsmca_close(nsmca_pki *pki)
{
    if (!pki)
        return;
    for (unsigned i = 0; i <= NSMCA_MAX_TIERS; i++)
        ca_tier_clear(&pki->cert[i]);
    free(pki->dir);
    free(pki);
}

const char *nsmca_repaired(const nsmca_pki *pki)
{
    return pki->repaired[0] ? pki->repaired : NULL;
}

static nsmca_code init_check_options(const nsmca_init_options *options, nsmkit_error *e)
{
    const char *region = options->region ? options->region : NSMCA_DEFAULT_REGION;
    if (!ca_valid_region(region))
        return ca_fail(e, NSMCA_ERR_BAD_REGION,
                       "bad region '%s' (1-32 characters of a-z, 0-9 and '-')", region);
    if (options->intermediates > NSMCA_MAX_TIERS)
        return ca_fail(e, NSMCA_ERR_BAD_TIER_COUNT, "bad number of intermediates %u (1..%d)",
                       options->intermediates, NSMCA_MAX_TIERS);
    if (options->now_s != 0 && options->now_s < HOUR_S)
        return ca_fail(e, NSMCA_ERR_TIME_TOO_EARLY, "creation time %llu is too early",
                       (unsigned long long)options->now_s);
    return NSMCA_OK;
}

/* The keys are only as private as their directory: where another user may write, or
 * owns the directory, they could replace a key or the root between two runs. Root's
 * directories are trusted by everyone (root can do anything anyway). */
static nsmca_code dir_check_private(const char *dir, const struct stat *st, nsmkit_error *e)
{
    if (st->st_uid != geteuid() && st->st_uid != 0)
        return ca_fail(e, NSMCA_ERR_DIR_UNSAFE,
                       "%s: owned by uid %u, not by this user (uid %u) or root", dir,
                       (unsigned)st->st_uid, (unsigned)geteuid());
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return ca_fail(e, NSMCA_ERR_DIR_UNSAFE,
                       "%s: writable by %s (mode %04o); use a private directory or chmod go-w",
                       dir, (st->st_mode & S_IWOTH) ? "everyone" : "its group",
                       (unsigned)(st->st_mode & 07777));
    return NSMCA_OK;
}

/* Creates everything under the lock; ca.conf last, so that it marks a complete PKI. */
static nsmca_code init_locked(nsmca_pki *pki, const nsmca_init_options *options, uint64_t now,
                              nsmkit_error *e)
{
    char *conf = ca_path(pki->dir, CA_CONF_NAME);
    if (!conf)
        return ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory");
    struct stat st;
    bool exists = lstat(conf, &st) == 0;
    free(conf);
    if (exists)
        return ca_fail(e, NSMCA_ERR_ALREADY_EXISTS, "%s: already holds a PKI (%s/%s exists)",
                       pki->dir, pki->dir, CA_CONF_NAME);
    snprintf(pki->region, sizeof(pki->region), "%s",
             options->region ? options->region : NSMCA_DEFAULT_REGION);
    pki->tiers = options->intermediates ? options->intermediates : NSMCA_MAX_TIERS;
    /* Instance ids are "i-" and 17 hex digits, starting with 0 as real ones do. */
    memcpy(pki->instance_id, "i-0", 3);
    nsmca_code code = ca_random_hex(pki->instance_id + 3, 16, e);
    if (code == NSMCA_OK)
        code = ca_tier_issue(pki, TIER_ROOT, NULL, now, &pki->cert[TIER_ROOT], e);
    if (code == NSMCA_OK)
        code = ca_root_save(pki, e);
    if (code == NSMCA_OK)
        code = ca_intermediates_reissue(pki, now, e);
    if (code == NSMCA_OK)
        code = ca_conf_write(pki, e);
    return code;
}

nsmca_code nsmca_init(const char *dir, const nsmca_init_options *options, nsmkit_error *e)
{
    nsmca_init_options defaults = {0};
    if (!options)
        options = &defaults;
    if (!dir)
        return ca_fail(e, NSMCA_ERR_BAD_ARGUMENT, "no CA directory given");
    nsmca_code code = init_check_options(options, e);
    if (code != NSMCA_OK)
        return code;
    nsmkit_error mkdir_error;
    if (nsmkit_mkdir_p(dir, 0700, &mkdir_error) != 0)
        return ca_fail(e, NSMCA_ERR_MKDIR_FAILED, "%s", mkdir_error.msg);
    struct stat st;
    if (stat(dir, &st) != 0)
        return ca_fail(e, NSMCA_ERR_NO_DIRECTORY, "%s: %s", dir, strerror(errno));
    code = dir_check_private(dir, &st, e);
    if (code != NSMCA_OK)
        return code;
    nsmca_pki *pki = pki_alloc(dir);
    if (!pki)
        return ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory");
    int lock = -1;
    code = ca_writer_begin(dir, &lock, e);
    if (code == NSMCA_OK)
        code = init_locked(pki, options, options->now_s ? options->now_s : now_seconds(), e);
    ca_lock_release(lock);
    nsmca_close(pki);
    return code;
}

/* The time a repair issues the intermediates at: now when the root serves it, otherwise
 * the root's creation time (a PKI made with --time for documents in the past). */
static uint64_t repair_time(const nsmca_pki *pki)
{
    uint64_t now = now_seconds();
    X509 *root = pki->cert[TIER_ROOT].cert;
    if (ca_cert_valid_over(root, now, now + NSMCA_LEAF_LIFETIME_S))
        return now;
    return (uint64_t)ca_time_unix(X509_get0_notBefore(root)) + HOUR_S;
}

/* Intermediates that did not load: re-issued from the root under the lock, unless another
 * process mended them meanwhile. A directory we cannot lock keeps the first failure. */
static nsmca_code repair(nsmca_pki *pki, nsmca_code failure, const nsmkit_error *why,
                         nsmkit_error *e)
{
    int lock = -1;
    nsmkit_error lock_error;
    nsmca_code code = ca_writer_begin(pki->dir, &lock, &lock_error);
    if (code != NSMCA_OK) {
        if (code == NSMCA_ERR_LOCK_TIMEOUT)
            return ca_fail(e, code, "%s", lock_error.msg);
        /* the failure is what is wrong; why it stays wrong is the lock's */
        return ca_fail(e, failure, "%s (not repaired: %s)", why->msg, lock_error.msg);
    }
    nsmkit_error again;
    code = ca_intermediates_load(pki, pki->cert, &again);
    if (ca_intermediates_repairable(code)) {
        code = ca_intermediates_reissue(pki, repair_time(pki), e);
        if (code == NSMCA_OK)
            snprintf(pki->repaired, sizeof(pki->repaired),
                     "the intermediates were re-issued from the root: %s", why->msg);
    } else if (code != NSMCA_OK) {
        ca_fail(e, code, "%s", again.msg);
    }
    ca_lock_release(lock);
    return code;
}

static nsmca_code pki_load(nsmca_pki *pki, nsmkit_error *e)
{
    nsmca_code code = ca_conf_read(pki, e);
    if (code == NSMCA_OK)
        code = ca_root_load(pki, e);
    if (code != NSMCA_OK)
        return code; /* the root is never re-issued: it is what users pinned */
    nsmkit_error why;
    code = ca_intermediates_load(pki, pki->cert, &why);
    if (ca_intermediates_repairable(code))
        return repair(pki, code, &why, e);
    if (code != NSMCA_OK)
        ca_fail(e, code, "%s", why.msg);
    return code;
}

nsmca_code nsmca_open(const char *dir, nsmca_pki **out, nsmkit_error *e)
{
    *out = NULL;
    struct stat st;
    if (!dir)
        return ca_fail(e, NSMCA_ERR_BAD_ARGUMENT, "no CA directory given");
    if (stat(dir, &st) != 0)
        return ca_fail(e, NSMCA_ERR_NO_DIRECTORY, "%s: no CA directory: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return ca_fail(e, NSMCA_ERR_NOT_A_DIRECTORY, "%s: not a directory", dir);
    nsmca_code code = dir_check_private(dir, &st, e);
    if (code != NSMCA_OK)
        return code;
    nsmca_pki *pki = pki_alloc(dir);
    if (!pki)
        return ca_fail(e, NSMCA_ERR_NO_MEMORY, "out of memory");
    /* No lock to read: every file is replaced by one rename, so a reader sees a whole
     * old chain or a whole new one. */
    code = pki_load(pki, e);
    if (code != NSMCA_OK) {
        nsmca_close(pki);
        return code;
    }
    *out = pki;
    return NSMCA_OK;
}

nsmca_code nsmca_default_dir(char *out, size_t out_size, nsmkit_error *e)
{
    const char *state = getenv("XDG_STATE_HOME");
    int n;
    if (state && *state) {
        n = snprintf(out, out_size, "%s/nsmkit/ca", state);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return ca_fail(e, NSMCA_ERR_NO_DEFAULT_DIR,
                           "neither XDG_STATE_HOME nor HOME is set: pass --ca DIR");
        n = snprintf(out, out_size, "%s/.local/state/nsmkit/ca", home);
    }
    if (n < 0 || (size_t)n >= out_size)
        return ca_fail(e, NSMCA_ERR_NAME_TOO_LONG, "default CA directory name too long");
    return NSMCA_OK;
}

nsmca_code nsmca_open_or_init(const char *dir, nsmca_pki **out, bool *created, nsmkit_error *e)
{
    *out = NULL;
    if (created)
        *created = false;
    char *conf = dir ? ca_path(dir, CA_CONF_NAME) : NULL;
    if (!conf)
        return ca_fail(e, dir ? NSMCA_ERR_NO_MEMORY : NSMCA_ERR_BAD_ARGUMENT,
                       dir ? "out of memory" : "no CA directory given");
    struct stat st;
    bool exists = lstat(conf, &st) == 0;
    free(conf);
    if (!exists) {
        /* Creation is decided under the lock: of several processes here at once, one
         * creates the PKI and the others find it there (ALREADY_EXISTS), which is fine. */
        nsmca_code code = nsmca_init(dir, NULL, e);
        if (code == NSMCA_OK && created)
            *created = true;
        else if (code != NSMCA_OK && code != NSMCA_ERR_ALREADY_EXISTS)
            return code;
    }
    return nsmca_open(dir, out, e);
}

const char *nsmca_region(const nsmca_pki *pki)
{
    return pki->region;
}

unsigned nsmca_tier_count(const nsmca_pki *pki)
{
    return pki->tiers;
}

const char *nsmca_instance_id(const nsmca_pki *pki)
{
    return pki->instance_id;
}

unsigned nsmca_cert_count(const nsmca_pki *pki)
{
    return pki->tiers + 1;
}

const uint8_t *nsmca_cert_der(const nsmca_pki *pki, unsigned index, size_t *len)
{
    if (index > pki->tiers) {
        *len = 0;
        return NULL;
    }
    *len = pki->cert[index].der_len;
    return pki->cert[index].der;
}
