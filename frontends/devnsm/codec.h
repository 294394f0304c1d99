/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-sim api codec: the official library's requests and responses, as its serde_cbor
 * writes and reads them, from the message table (messages.def). Absent optional fields
 * are nsmkit_bytes with a NULL pointer.
 *
 * Internal to nsm-sim's front-ends (not installed).
 */
#ifndef NSMSIM_CODEC_H
#define NSMSIM_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsm-core/messages.h"
#include "nsmkit/buf.h"
#include "nsmkit/bytes.h"
#include "nsmkit/cbor.h"
#include "nsmkit/sim.h"

/* Each appends one request as serde_cbor writes it (nsmsim_request_encode on a request of
 * that id; messages.h). Callers check the size against
 * NSM_REQUEST_MAX_SIZE with nsmsim_api_*_size first, so huge inputs are never copied. */
void nsmsim_api_encode_describe_nsm(nsmkit_buf *out);
void nsmsim_api_encode_get_random(nsmkit_buf *out);
void nsmsim_api_encode_describe_pcr(nsmkit_buf *out, uint16_t index);
void nsmsim_api_encode_lock_pcr(nsmkit_buf *out, uint16_t index);
void nsmsim_api_encode_lock_pcrs(nsmkit_buf *out, uint16_t range);
void nsmsim_api_encode_extend_pcr(nsmkit_buf *out, uint16_t index, const uint8_t *data,
                                  size_t len);
void nsmsim_api_encode_attestation(nsmkit_buf *out, nsmkit_bytes user_data,
                                   nsmkit_bytes nonce, nsmkit_bytes public_key);
uint64_t nsmsim_api_extend_pcr_size(uint16_t index, uint64_t len);
uint64_t nsmsim_api_attestation_size(nsmkit_bytes user_data, nsmkit_bytes nonce,
                                     nsmkit_bytes public_key);

/* The response kinds are the table's (NSMSIM_RESP_*, messages.h). */
typedef nsmsim_response_kind nsmsim_api_response_kind;

#define NSMSIM_API_MAX_LOCKED 64 /* the C API's NsmDescription holds at most this many */

typedef struct {
    nsmsim_api_response_kind kind;
    nsmsim_error_code error;  /* ERROR */
    bool lock;                /* DESCRIBE_PCR */
    const uint8_t *bytes;     /* DESCRIBE_PCR/EXTEND_PCR data, ATTESTATION document, */
    size_t bytes_len;         /* GET_RANDOM random: borrowed from item */
    /* DESCRIBE_NSM */
    uint16_t version_major, version_minor, version_patch, max_pcrs;
    const char *module_id; /* borrowed, not NUL-terminated */
    size_t module_id_len;
    uint16_t locked_pcrs[NSMSIM_API_MAX_LOCKED]; /* ascending, without duplicates */
    size_t locked_pcrs_len;
    bool locked_pcrs_overflow; /* more than NSMSIM_API_MAX_LOCKED distinct indices */
    unsigned digest;           /* 0 SHA256, 1 SHA384, 2 SHA512 (the C API's Digest) */
    cbor_item_t *item;         /* owned: what the borrowed pointers point into */
} nsmsim_api_response;

/* Decodes a response the way the official client's serde_cbor does: the enum's external
 * tagging, struct fields in any order with unknown ones ignored, duplicates, missing
 * fields, wrong types, out-of-range integers and trailing bytes refused. Returns 0, or -1
 * when the bytes are not a Response (the official library's InternalError). On success
 * release out with nsmsim_api_response_free. */
int nsmsim_api_response_decode(const uint8_t *buf, size_t len,
                               nsmsim_api_response *out) NSMKIT_WARN_UNUSED;
void nsmsim_api_response_free(nsmsim_api_response *response);

#endif /* NSMSIM_CODEC_H */
