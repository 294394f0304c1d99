/* SPDX-License-Identifier: Apache-2.0 */
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
 * Numbers (nsm-sim's range is 1000-1999, nsmkit/codes.h): 11xx the request's bytes and
 * fields, 12xx the NSM's state rules, 13xx the simulator while answering, 14xx setup
 * (options, PKI) and the command line, 15xx the front-ends (socket server). Numbers are
 * never reused; new codes are appended in their range.
 */
#ifndef NSMKIT_SIM_CODES_H
#define NSMKIT_SIM_CODES_H

#include "nsmkit/codes.h"
#include "nsmkit/error.h"

/* X(NAME, number, wire ErrorCode, sentence) */
#define NSMSIM_CODES(X)                                                                       \
    X(OK, 0, SUCCESS, "success")                                                              \
    /* 11xx: the request */                                                                   \
    X(REQ_TOO_LARGE, 1100, INPUT_TOO_LARGE, "the request is longer than 4096 bytes")          \
    X(REQ_NOT_CBOR, 1101, INVALID_OPERATION,                                                  \
      "the request is not one well-formed CBOR item within the request limits")               \
    X(REQ_NOT_MESSAGE, 1102, INVALID_OPERATION,                                               \
      "the request is neither a name nor a one-key map from a name to a map")                 \
    X(REQ_UNKNOWN, 1103, INVALID_OPERATION, "no request has this name in this shape")         \
    X(REQ_FIELD_MISSING, 1104, INVALID_OPERATION, "a required field is missing or null")      \
    X(REQ_FIELD_DUPLICATE, 1105, INVALID_OPERATION, "a field is given twice")                 \
    X(REQ_FIELD_TYPE, 1106, INVALID_OPERATION, "a field has the wrong CBOR type")             \
    X(REQ_FIELD_TOO_LONG, 1107, INPUT_TOO_LARGE, "a byte field is longer than its limit")     \
    /* 12xx: the NSM's state rules */                                                         \
    X(PCR_INDEX, 1200, INVALID_INDEX, "the PCR index or range is out of range")               \
    X(PCR_LOCKED, 1201, READ_ONLY_INDEX, "the PCR is locked")                                 \
    /* 13xx: the simulator while answering */                                                 \
    X(NO_RANDOMNESS, 1300, INTERNAL_ERROR, "no random bytes could be drawn")                  \
    X(LEAF_ISSUE, 1301, INTERNAL_ERROR, "the signing leaf could not be issued")               \
    X(DOCUMENT, 1302, INTERNAL_ERROR, "the document could not be encoded or signed")          \
    X(HASH, 1303, INTERNAL_ERROR, "SHA-384 failed")                                           \
    X(RESPONSE_TOO_LARGE, 1304, INTERNAL_ERROR, "the response does not fit in its buffer")    \
    X(NO_HANDLER, 1305, INTERNAL_ERROR, "the request has no handler")                         \
    X(FAULT, 1306, INTERNAL_ERROR, "the device fault mode could not make its faulty document") \
    /* 14xx: setup and the command line */                                                    \
    X(USAGE, 1400, INTERNAL_ERROR, "the command line is not valid")                           \
    X(OPTION, 1401, INTERNAL_ERROR, "a state option is not valid")                            \
    X(DEBUG_WITH_PCRS, 1402, INTERNAL_ERROR,                                                  \
      "--debug-mode cannot be combined with --pcr or --measurements")                         \
    X(PKI, 1403, INTERNAL_ERROR, "the simulated PKI cannot be opened or created")             \
    X(NO_MEMORY, 1404, INTERNAL_ERROR, "out of memory")                                       \
    X(BOOT, 1405, INTERNAL_ERROR, "the simulated NSM cannot boot (randomness, boot PCRs)")    \
    X(OUTPUT, 1406, INTERNAL_ERROR, "the output cannot be written")                           \
    X(UNEXPECTED_RESPONSE, 1407, INTERNAL_ERROR, "the NSM gave an unexpected response")       \
    X(NSM_ERROR, 1408, INTERNAL_ERROR, "the NSM answered with an error")                      \
    X(FAULT_MODE, 1409, INTERNAL_ERROR, "the device fault mode's options do not fit together") \
    /* 15xx: the front-ends */                                                                \
    X(SOCKET_PATH, 1500, INTERNAL_ERROR, "the socket path is empty or too long")              \
    X(SOCKET_TAKEN, 1501, INTERNAL_ERROR, "another server is listening on the socket")        \
    X(SOCKET_NOT_SOCKET, 1502, INTERNAL_ERROR, "the socket path exists and is not a socket")  \
    X(SOCKET_BIND, 1503, INTERNAL_ERROR, "the socket cannot be created, bound or listened on") \
    X(SERVER_POLL, 1504, INTERNAL_ERROR, "the server cannot wait for its clients")

typedef enum {
#define NSMSIM_CODE_ENUM(name, number, wire, sentence) NSMKIT_CODE_ENUM(NSMSIM_ERR_, name, number)
    NSMSIM_CODES(NSMSIM_CODE_ENUM)
#undef NSMSIM_CODE_ENUM
} nsmsim_code;

/* The table of NSMSIM_CODES (nsmkit/codes.h): names and sentences by number. */
extern const nsmkit_code_table nsmsim_codes;

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
