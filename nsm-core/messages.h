/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NSM messages as data (nsm-core/messages.def expanded): request and response ids,
 * their fields with CBOR types and limits, a request as values, and the two halves that
 * must agree about its bytes - the codec's encoder (nsmapi.c, what the official library
 * writes) and the core's decoder (request.c, what the device reads).
 *
 * Internal to nsm-sim; the public API is nsmkit/sim.h.
 */
#ifndef NSMSIM_MESSAGES_H
#define NSMSIM_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsmkit/buf.h"
#include "nsmkit/bytes.h"
#include "nsmkit/sim.h"
#include "nsmkit/sim_codes.h"

typedef enum {
    NSMSIM_SHAPE_UNIT,   /* a bare text string: "DescribeNSM" */
    NSMSIM_SHAPE_STRUCT, /* {"Name": {fields}} */
    NSMSIM_SHAPE_TEXT,   /* {"Name": "text"}: the error response */
} nsmsim_shape;

typedef enum {
    NSMSIM_FIELD_UINT,
    NSMSIM_FIELD_BYTES,
    NSMSIM_FIELD_OPTIONAL_BYTES,
    NSMSIM_FIELD_BOOL,
    NSMSIM_FIELD_TEXT,
    NSMSIM_FIELD_UINT_SET,
    NSMSIM_FIELD_DIGEST,
} nsmsim_field_type;

typedef enum {
#define NSMSIM_REQUEST(id, name, shape) NSMSIM_REQ_##id,
#include "messages.def"
    NSMSIM_REQ_COUNT
} nsmsim_request_id;

typedef enum {
#define NSMSIM_REQUEST_FIELD(id, field, name, type, max) NSMSIM_REQF_##id##_##field,
#include "messages.def"
    NSMSIM_REQF_COUNT
} nsmsim_request_field_id;

typedef enum {
#define NSMSIM_RESPONSE(id, name, shape) NSMSIM_RESP_##id,
#include "messages.def"
    NSMSIM_RESP_COUNT
} nsmsim_response_kind;

typedef enum {
#define NSMSIM_RESPONSE_FIELD(id, field, name, type, max) NSMSIM_RESPF_##id##_##field,
#include "messages.def"
    NSMSIM_RESPF_COUNT
} nsmsim_response_field_id;

typedef struct {
    const char *name;
    nsmsim_shape shape;
} nsmsim_message_spec;

typedef struct {
    unsigned message; /* nsmsim_request_id or nsmsim_response_kind */
    const char *name;
    nsmsim_field_type type;
    uint64_t max; /* UINT: largest value; BYTES, TEXT: longest length */
} nsmsim_field_spec;

extern const nsmsim_message_spec nsmsim_requests[NSMSIM_REQ_COUNT];
extern const nsmsim_field_spec nsmsim_request_fields[NSMSIM_REQF_COUNT];
extern const nsmsim_message_spec nsmsim_responses[NSMSIM_RESP_COUNT];
extern const nsmsim_field_spec nsmsim_response_fields[NSMSIM_RESPF_COUNT];

/* The most fields any message has. */
#define NSMSIM_MESSAGE_MAX_FIELDS 8

/* The fields of one message, in table order (the order serde writes them): fills ids and
 * returns how many. */
size_t nsmsim_message_field_ids(const nsmsim_field_spec *table, size_t table_len,
                                unsigned message, unsigned ids[NSMSIM_MESSAGE_MAX_FIELDS]);

/* A request as values: only the fields of `id` are used. */
typedef struct {
    uint64_t uint;      /* UINT */
    nsmkit_bytes bytes; /* BYTES, OPTIONAL_BYTES (ptr NULL: absent, null on the wire) */
} nsmsim_field_value;

typedef struct {
    nsmsim_request_id id;
    nsmsim_field_value field[NSMSIM_REQF_COUNT];
} nsmsim_request;

/* ---- the codec (nsmapi.c): the request as the official library writes it -------------- */

/* The encoded size, computed without encoding, so that huge inputs are refused before
 * anything is copied (callers compare it with NSM_REQUEST_MAX_SIZE). */
uint64_t nsmsim_request_encoded_size(const nsmsim_request *request);
/* Appends the request: fields in table order, shortest heads, null for absent. */
void nsmsim_request_encode(const nsmsim_request *request, nsmkit_buf *out);

/* ---- the core (request.c): a raw request as the device reads it ------------------------- */

/* A decoded request with the bytes of its byte fields (text and chunked strings copied
 * together); request.field[].bytes point into storage. */
typedef struct {
    nsmsim_request request;
    uint8_t storage[NSM_REQUEST_MAX_SIZE];
    size_t used;
} nsmsim_request_decoded;

/* Decodes as the device does: unknown keys inside the fields are ignored, a known field
 * twice, missing, null (unless optional) or of another type is refused, a byte field may
 * also be a text string or chunked; fields are judged in table order and the first
 * problem decides. Returns NSMSIM_OK or the code of the problem (outcome has the detail;
 * nsmsim_code_wire gives the device's answer). */
nsmsim_code nsmsim_request_decode(const uint8_t *buf, size_t len, nsmsim_request_decoded *out,
                                  nsmsim_outcome *outcome) NSMKIT_WARN_UNUSED;

#endif /* NSMSIM_MESSAGES_H */
