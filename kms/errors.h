/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-kms: the one list of errors a request can get, each with a stable number, the HTTP
 * status and the `__type` AWS KMS answers with (NSM-FACTS section 11), and a message
 * carried with it. Numbers are kms's range of the project's codes, 3000-3999 (0 is
 * success); they are never reused; new errors are appended.
 */
#ifndef NSMKIT_KMS_ERRORS_H
#define NSMKIT_KMS_ERRORS_H

#include "nsmkit/error.h"

/* X(NAME, number, HTTP status, __type) */
#define KMS_ERRORS(X)                                                                       \
    X(OK, 0, 200, "")                                                                       \
    X(VALIDATION, 3001, 400, "ValidationException")                                         \
    X(SERIALIZATION, 3002, 400, "SerializationException")                                   \
    X(UNKNOWN_OPERATION, 3003, 400, "UnknownOperationException")                            \
    X(NOT_FOUND, 3004, 400, "NotFoundException")                                            \
    X(ACCESS_DENIED, 3005, 400, "AccessDeniedException")                                    \
    X(INVALID_CIPHERTEXT, 3006, 400, "InvalidCiphertextException")                          \
    X(INCORRECT_KEY, 3007, 400, "IncorrectKeyException")                                    \
    X(DISABLED, 3008, 400, "DisabledException")                                             \
    X(ALREADY_EXISTS, 3009, 400, "AlreadyExistsException")                                  \
    X(MALFORMED_POLICY, 3010, 400, "MalformedPolicyDocumentException")                      \
    X(MISSING_AUTHENTICATION, 3011, 400, "MissingAuthenticationTokenException")             \
    X(INCOMPLETE_SIGNATURE, 3012, 400, "IncompleteSignatureException")                      \
    X(INVALID_SIGNATURE, 3013, 400, "InvalidSignatureException")                            \
    X(UNRECOGNIZED_CLIENT, 3014, 400, "UnrecognizedClientException")                        \
    X(TOO_LARGE, 3015, 413, "ValidationException")                                          \
    X(INTERNAL, 3016, 500, "KMSInternalException")                                          \
    X(METHOD_NOT_ALLOWED, 3017, 405, "ValidationException")                                 \
    X(UNSUPPORTED_MEDIA, 3018, 415, "ValidationException")                                  \
    X(ATTESTATION_REFUSED, 3019, 400, "ValidationException")                                \
    X(INVALID_KEY_USAGE, 3020, 400, "InvalidKeyUsageException")                             \
    X(INVALID_MARKER, 3021, 400, "InvalidMarkerException")                                  \
    X(INVALID_ALIAS_NAME, 3022, 400, "InvalidAliasNameException")                           \
    X(LIMIT_EXCEEDED, 3023, 400, "LimitExceededException")                                  \
    X(UNSUPPORTED_OPERATION, 3024, 400, "UnsupportedOperationException")                    \
    X(KMS_INVALID_SIGNATURE, 3025, 400, "KMSInvalidSignatureException")

typedef enum {
#define KMS_ERROR_ENUM(name, number, status, type) KMS_ERR_##name = number,
    KMS_ERRORS(KMS_ERROR_ENUM)
#undef KMS_ERROR_ENUM
} kms_code;

/* The error of one request: a code and a one-line message for the client. */
typedef struct {
    kms_code code;
    char msg[1600];
} kms_error;

/* Sets e (code and message) and returns the code, so that handlers can write
 * `return kms_fail(e, KMS_ERR_..., "...")`. */
kms_code kms_fail(kms_error *e, kms_code code, const char *fmt, ...) NSMKIT_PRINTF(3, 4);
const char *kms_code_type(kms_code code);   /* "NotFoundException"; NULL if unknown */
const char *kms_code_name(kms_code code);   /* "NOT_FOUND"; NULL if unknown */
unsigned kms_code_status(kms_code code);    /* HTTP status; 500 if unknown */

#endif /* NSMKIT_KMS_ERRORS_H */
