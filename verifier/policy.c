/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy stage: what the caller expects of a document that is authentic.
 * Each check is independent, so in report_all mode every one of them reports.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "internal.h"

static bool bytes_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || CRYPTO_memcmp(a, b, a_len) == 0);
}

/* Seconds to milliseconds, saturating: a limit too large to count is no limit. */
static uint64_t to_ms(uint64_t s)
{
    return s > UINT64_MAX / 1000u ? UINT64_MAX : s * 1000u;
}

static nsmv_code expect_bytes(const nsmv_expected_bytes *want, const nsmv_optional *got,
                              const char *name, nsmv_code code, nsmv_run *run)
{
    if (!want->set)
        return NSMV_OK;
    if (!got->present || got->is_null)
        return nsmv_fail(run, code, "expected %zu bytes of %s; the document has %s", want->len,
                         name, got->present ? "null" : "none");
    if (!bytes_equal(got->bytes.ptr, got->bytes.len, want->data, want->len))
        return nsmv_fail(run, code, "expected %zu bytes of %s; the document has %zu other bytes",
                         want->len, name, got->bytes.len);
    return NSMV_OK;
}

nsmv_code nsmv_policy_check(const nsmv_options *o, const nsmv_payload *p, int64_t time_s,
                            bool have_time, nsmv_run *run)
{
    nsmv_code first = NSMV_OK;

#define NOTE(call) NSMV_CHECK(run, first, call)

    if (p->valid & NSMV_FIELD_PCRS) {
        for (size_t i = 0; i < o->pcr_count; i++) {
            unsigned index = o->pcrs[i].index;
            int slot = index < NSMV_PCR_MAX ? p->pcr_slot[index] : -1;
            if (slot < 0)
                NOTE(nsmv_fail(run, NSMV_ERR_POLICY_PCR_ABSENT, "PCR%u is not in the document",
                               index));
            else if (CRYPTO_memcmp(p->pcrs[slot].value, o->pcrs[i].value, NSMV_PCR_LEN) != 0)
                NOTE(nsmv_fail(run, NSMV_ERR_POLICY_PCR_MISMATCH, "PCR%u differs", index));
        }
        if (o->refuse_debug) {
            bool all_present = p->pcr_slot[0] >= 0 && p->pcr_slot[1] >= 0 && p->pcr_slot[2] >= 0;
            if (!all_present)
                NOTE(nsmv_fail(run, NSMV_ERR_POLICY_DEBUG_MODE,
                               "PCR0..2 are not all in the document, so debug mode cannot be "
                               "ruled out"));
            else if (nsmv_payload_debug_mode(p))
                NOTE(nsmv_fail(run, NSMV_ERR_POLICY_DEBUG_MODE, "PCR0, PCR1 and PCR2 are zero"));
        }
    }
    if (p->valid & NSMV_FIELD_NONCE)
        NOTE(expect_bytes(&o->nonce, &p->nonce, "nonce", NSMV_ERR_POLICY_NONCE, run));
    if (p->valid & NSMV_FIELD_USER_DATA)
        NOTE(expect_bytes(&o->user_data, &p->user_data, "user_data", NSMV_ERR_POLICY_USER_DATA,
                          run));
    if (p->valid & NSMV_FIELD_PUBLIC_KEY)
        NOTE(expect_bytes(&o->public_key, &p->public_key, "public_key",
                          NSMV_ERR_POLICY_PUBLIC_KEY, run));
    if (o->check_max_age && have_time && (p->valid & NSMV_FIELD_TIMESTAMP)) {
        /* Whole milliseconds count: a document 1 ms past the limit is too old. */
        uint64_t doc_ms = p->timestamp_ms;
        uint64_t now_ms = time_s > 0 ? to_ms((uint64_t)time_s) : 0;
        uint64_t skew_ms = (uint64_t)NSMV_CLOCK_SKEW_S * 1000u;
        char doc_time[32], now_time[32];
        nsmv_format_utc((int64_t)(doc_ms / 1000u), doc_time, sizeof(doc_time));
        nsmv_format_utc(time_s, now_time, sizeof(now_time));
        if (now_ms < UINT64_MAX - skew_ms && doc_ms > now_ms + skew_ms)
            NOTE(nsmv_fail(run, NSMV_ERR_POLICY_FUTURE,
                           "the document is dated %s, after the verification time %s", doc_time,
                           now_time));
        else if (doc_ms < now_ms && now_ms - doc_ms > to_ms(o->max_age_s))
            NOTE(nsmv_fail(run, NSMV_ERR_POLICY_TOO_OLD,
                           "the document is dated %s, %llu s before %s; the limit is %llu s",
                           doc_time, (unsigned long long)((now_ms - doc_ms) / 1000u), now_time,
                           (unsigned long long)o->max_age_s));
    }
#undef NOTE
    return first;
}
