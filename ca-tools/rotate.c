/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <time.h>
/*
 * Rotation: intermediates re-issued when a leaf issued now would outlive them.
 *
 * The new tiers are built beside the current ones and replace them (in memory and on
 * disk) only when everything worked: a failure at any step leaves the PKI as it was, and
 * the file on disk is switched by one rename (tiers.c). Under the lock, a chain another
 * process stored meanwhile is adopted when it already serves the time, so that several
 * simulators sharing a PKI do not rotate it once each.
 */
#include <string.h>

#include "internal.h"
#include "store.h"

typedef struct {
    uint64_t from, to; /* the whole life of a leaf issued at the asked time */
} window;

/* A shallow view: the current tiers above `first`, the fresh ones from it down. Owns
 * nothing. */
static void tiers_view(ca_tier *view, const nsmca_pki *pki, const ca_tier *fresh, unsigned first)
{
    for (unsigned i = 0; i <= NSMCA_MAX_TIERS; i++)
        view[i] = i < first ? pki->cert[i] : fresh[i];
}

/* The stored chain, when it chains to our root and serves the window; otherwise false. */
static bool adopt_stored(nsmca_pki *pki, window w)
{
    ca_tier stored[1 + NSMCA_MAX_TIERS] = {{0}};
    stored[TIER_ROOT] = pki->cert[TIER_ROOT]; /* borrowed: the issuer to check against */
    bool usable = ca_intermediates_load(pki, stored, NULL) == NSMCA_OK;
    for (unsigned i = 1; usable && i <= pki->tiers; i++)
        usable = ca_cert_valid_over(stored[i].cert, w.from, w.to);
    for (unsigned i = 1; i <= NSMCA_MAX_TIERS; i++) {
        if (usable && i <= pki->tiers)
            ca_tier_move(&pki->cert[i], &stored[i]);
        ca_tier_clear(&stored[i]);
    }
    return usable;
}

static nsmca_code save_fresh(nsmca_pki *pki, const ca_tier *fresh, unsigned first, window w,
                             nsmkit_error *e)
{
    int lock = -1;
    nsmca_code code = ca_writer_begin(pki->dir, &lock, e);
    if (code != NSMCA_OK)
        return code;
    if (adopt_stored(pki, w)) {
        ca_lock_release(lock);
        return NSMCA_ERR_ALREADY_EXISTS; /* not an error: tells the caller to drop fresh */
    }
    ca_tier view[1 + NSMCA_MAX_TIERS];
    tiers_view(view, pki, fresh, first);
    code = ca_intermediates_save(pki, view, e);
    ca_lock_release(lock);
    return code;
}

/* "2026-12-07T22:00:00Z": dates make a time in the wrong unit or century plain to see. */
static void format_utc(int64_t unix_s, char *out, size_t size)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, size, "%lld", (long long)unix_s);
}

static nsmca_code check_root(const nsmca_pki *pki, uint64_t unix_s, window w, nsmkit_error *e)
{
    X509 *root = pki->cert[TIER_ROOT].cert;
    if (ca_cert_valid_over(root, w.from, w.to))
        return NSMCA_OK;
    char at[32], from[32], to[32];
    format_utc((int64_t)unix_s, at, sizeof(at));
    format_utc(ca_time_unix(X509_get0_notBefore(root)), from, sizeof(from));
    format_utc(ca_time_unix(X509_get0_notAfter(root)), to, sizeof(to));
    return ca_fail(e, NSMCA_ERR_TIME_OUTSIDE_ROOT,
                   "time %s (Unix %llu s) is outside the root's validity (%s .. %s): to sign "
                   "at that time, create a PKI that starts then with `nsm-ca init DIR --time "
                   "UNIX_S`", at, (unsigned long long)unix_s, from, to);
}

nsmca_code nsmca_refresh(nsmca_pki *pki, uint64_t unix_s, nsmkit_error *e)
{
    window w = {unix_s > NSMCA_LEAF_BACKDATE_S ? unix_s - NSMCA_LEAF_BACKDATE_S : 0,
                unix_s + NSMCA_LEAF_LIFETIME_S};
    nsmca_code code = check_root(pki, unix_s, w, e);
    unsigned first = 1; /* the highest tier re-issued; everything below follows it */
    while (code == NSMCA_OK && first <= pki->tiers &&
           ca_cert_valid_over(pki->cert[first].cert, w.from, w.to))
        first++;
    if (code != NSMCA_OK || first > pki->tiers)
        return code;

    ca_tier fresh[1 + NSMCA_MAX_TIERS] = {{0}};
    for (unsigned i = first; i <= pki->tiers && code == NSMCA_OK; i++)
        code = ca_tier_issue(pki, i, i == first ? &pki->cert[i - 1] : &fresh[i - 1], unix_s,
                             &fresh[i], e);
    /* Issued for a time in the past, the chain is older than the stored one, which is the
     * one later runs at the current time want: it then lives only in memory. */
    bool newer = code == NSMCA_OK &&
                 ca_time_unix(X509_get0_notAfter(fresh[first].cert)) >=
                     ca_time_unix(X509_get0_notAfter(pki->cert[first].cert));
    bool adopted = false;
    if (newer) {
        code = save_fresh(pki, fresh, first, w, e);
        adopted = code == NSMCA_ERR_ALREADY_EXISTS;
        if (adopted)
            code = NSMCA_OK;
    }
    for (unsigned i = first; i <= NSMCA_MAX_TIERS; i++) {
        if (code == NSMCA_OK && !adopted && i <= pki->tiers)
            ca_tier_move(&pki->cert[i], &fresh[i]);
        ca_tier_clear(&fresh[i]);
    }
    return code;
}
