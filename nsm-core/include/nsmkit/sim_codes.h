/*
 * nsmkit nsm-sim: the simulator's own numbered errors, in the verifier's style (one X-macro
 * list: a stable number, a name, the NSM ErrorCode a request gets for it, a sentence).
 *
 * Two kinds of failure are told apart here:
 *   - a request the NSM refuses: the wire answer is the ErrorCode of the third column
 *     (what the real device answers); the code says which rule refused it, and the
 *     detail (a CBOR status, a field name) goes to NSM_SIM_TRACE and the logs, so the
 *     cause behind "InvalidOperation" stays visible;
 *   - the simulator itself failing (PKI, options, output): the code says where, the
 *     message says what; the CLI prints "NUMBER NAME: message".
 *
 * Ranges: 1xx the request's bytes and fields, 2xx the NSM's state rules, 3xx the
 * simulator while answering, 4xx setup (options, PKI) and the command line, 5xx the
 * front-ends (socket server). Numbers are
 * never reused or renumbered; new codes are appended in their range.
 */
#ifndef NSMKIT_SIM_CODES_H
#define NSMKIT_SIM_CODES_H

#include "nsmkit/error.h"

/* X(NAME, number, wire ErrorCode, sentence) */
#define NSMSIM_CODES(X)                                                                       \
    X(OK, 0, SUCCESS, "success")                                                              \
    /* 1xx: the request */                                                                    \
    X(REQ_TOO_LARGE, 100, INPUT_TOO_LARGE, "the request is longer than 4096 bytes")           \
    X(REQ_NOT_CBOR, 101, INVALID_OPERATION,                                                   \
      "the request is not one well-formed CBOR item within the request limits")               \
    X(REQ_NOT_MESSAGE, 102, INVALID_OPERATION,                                                \
      "the request is neither a name nor a one-key map from a name to a map")                 \
    X(REQ_UNKNOWN, 103, INVALID_OPERATION, "no request has this name in this shape")          \
    X(REQ_FIELD_MISSING, 104, INVALID_OPERATION, "a required field is missing or null")       \
    X(REQ_FIELD_DUPLICATE, 105, INVALID_OPERATION, "a field is given twice")                  \
    X(REQ_FIELD_TYPE, 106, INVALID_OPERATION, "a field has the wrong CBOR type")              \
    X(REQ_FIELD_TOO_LONG, 107, INPUT_TOO_LARGE, "a byte field is longer than its limit")      \
    /* 2xx: the NSM's state rules */                                                          \
    X(PCR_INDEX, 200, INVALID_INDEX, "the PCR index or range is out of range")                \
    X(PCR_LOCKED, 201, READ_ONLY_INDEX, "the PCR is locked")                                  \
    /* 3xx: the simulator while answering */                                                  \
    X(NO_RANDOMNESS, 300, INTERNAL_ERROR, "no random bytes could be drawn")                   \
    X(LEAF_ISSUE, 301, INTERNAL_ERROR, "the signing leaf could not be issued")                \
    X(DOCUMENT, 302, INTERNAL_ERROR, "the document could not be encoded or signed")           \
    X(HASH, 303, INTERNAL_ERROR, "SHA-384 failed")                                            \
    X(RESPONSE_TOO_LARGE, 304, INTERNAL_ERROR, "the response does not fit in its buffer")     \
    X(NO_HANDLER, 305, INTERNAL_ERROR, "the request has no handler")                          \
    X(FAULT, 306, INTERNAL_ERROR, "the device fault mode could not make its faulty document") \
    /* 4xx: setup and the command line */                                                     \
    X(USAGE, 400, INTERNAL_ERROR, "the command line is not valid")                            \
    X(OPTION, 401, INTERNAL_ERROR, "a state option is not valid")                             \
    X(DEBUG_WITH_PCRS, 402, INTERNAL_ERROR,                                                   \
      "--debug-mode cannot be combined with --pcr or --measurements")                         \
    X(PKI, 403, INTERNAL_ERROR, "the simulated PKI cannot be opened or created")              \
    X(NO_MEMORY, 404, INTERNAL_ERROR, "out of memory")                                        \
    X(BOOT, 405, INTERNAL_ERROR, "the simulated NSM cannot boot (randomness, boot PCRs)")     \
    X(OUTPUT, 406, INTERNAL_ERROR, "the output cannot be written")                            \
    X(UNEXPECTED_RESPONSE, 407, INTERNAL_ERROR, "the NSM gave an unexpected response")        \
    X(NSM_ERROR, 408, INTERNAL_ERROR, "the NSM answered with an error")                       \
    X(FAULT_MODE, 409, INTERNAL_ERROR, "the device fault mode's options do not fit together") \
    /* 5xx: the front-ends */                                                                 \
    X(SOCKET_PATH, 500, INTERNAL_ERROR, "the socket path is empty or too long")               \
    X(SOCKET_TAKEN, 501, INTERNAL_ERROR, "another server is listening on the socket")         \
    X(SOCKET_NOT_SOCKET, 502, INTERNAL_ERROR, "the socket path exists and is not a socket")   \
    X(SOCKET_BIND, 503, INTERNAL_ERROR, "the socket cannot be created, bound or listened on") \
    X(SERVER_POLL, 504, INTERNAL_ERROR, "the server cannot wait for its clients")

typedef enum {
#define NSMSIM_CODE_ENUM(name, number, wire, sentence) NSMSIM_ERR_##name = number,
    NSMSIM_CODES(NSMSIM_CODE_ENUM)
#undef NSMSIM_CODE_ENUM
} nsmsim_code;

/* The C names are NSMSIM_ERR_<NAME> (NSMSIM_ERR_OK is 0). "PCR_LOCKED" etc., the sentence, and the wire ErrorCode (an nsmsim_error_code value);
 * NULL / NULL / InternalError for numbers outside the list. */
const char *nsmsim_code_name(nsmsim_code code);
const char *nsmsim_code_sentence(nsmsim_code code);
int nsmsim_code_wire(nsmsim_code code);

/* What became of one request (or one setup step): the code, and the cause in words
 * (the CBOR status, the field) for trace and log lines. */
typedef struct {
    nsmsim_code code;
    char detail[160];
} nsmsim_outcome;

/* Sets outcome (when not NULL) and returns code. */
nsmsim_code nsmsim_outcome_set(nsmsim_outcome *outcome, nsmsim_code code, const char *fmt, ...)
    NSMKIT_PRINTF(3, 4);

#endif /* NSMKIT_SIM_CODES_H */
