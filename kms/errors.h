/*
 * nsm-kms: the one list of errors a request can get, each with a stable number, the HTTP
 * status and the `__type` AWS KMS answers with (NSM-FACTS section 11), and a message
 * carried with it. Numbers are never reused; new errors are appended.
 */
#ifndef NSMKIT_KMS_ERRORS_H
#define NSMKIT_KMS_ERRORS_H

#include "nsmkit/error.h"

/* X(NAME, number, HTTP status, __type) */
#define KMS_ERRORS(X)                                                                       \
    X(OK, 0, 200, "")                                                                       \
    X(VALIDATION, 1, 400, "ValidationException")                                            \
    X(SERIALIZATION, 2, 400, "SerializationException")                                      \
    X(UNKNOWN_OPERATION, 3, 400, "UnknownOperationException")                               \
    X(NOT_FOUND, 4, 400, "NotFoundException")                                               \
    X(ACCESS_DENIED, 5, 400, "AccessDeniedException")                                       \
    X(INVALID_CIPHERTEXT, 6, 400, "InvalidCiphertextException")                             \
    X(INCORRECT_KEY, 7, 400, "IncorrectKeyException")                                       \
    X(DISABLED, 8, 400, "DisabledException")                                                \
    X(ALREADY_EXISTS, 9, 400, "AlreadyExistsException")                                     \
    X(MALFORMED_POLICY, 10, 400, "MalformedPolicyDocumentException")                        \
    X(MISSING_AUTHENTICATION, 11, 400, "MissingAuthenticationTokenException")               \
    X(INCOMPLETE_SIGNATURE, 12, 400, "IncompleteSignatureException")                        \
    X(INVALID_SIGNATURE, 13, 400, "InvalidSignatureException")                              \
    X(UNRECOGNIZED_CLIENT, 14, 400, "UnrecognizedClientException")                          \
    X(TOO_LARGE, 15, 413, "ValidationException")                                            \
    X(INTERNAL, 16, 500, "KMSInternalException")                                            \
    X(METHOD_NOT_ALLOWED, 17, 405, "ValidationException")                                   \
    X(UNSUPPORTED_MEDIA, 18, 415, "ValidationException")                                    \
    X(ATTESTATION_REFUSED, 19, 400, "ValidationException")                                  \
    X(INVALID_KEY_USAGE, 20, 400, "InvalidKeyUsageException")                               \
    X(INVALID_MARKER, 21, 400, "InvalidMarkerException")                                    \
    X(INVALID_ALIAS_NAME, 22, 400, "InvalidAliasNameException")

typedef enum {
#define KMS_ERROR_ENUM(name, number, status, type) KMS_ERR_##name = number,
    KMS_ERRORS(KMS_ERROR_ENUM)
#undef KMS_ERROR_ENUM
} kms_code;

/* The error of one request: a code and a one-line message for the client. */
typedef struct {
    kms_code code;
    char msg[640];
} kms_error;

/* Sets e (code and message) and returns the code, so that handlers can write
 * `return kms_fail(e, KMS_ERR_..., "...")`. */
kms_code kms_fail(kms_error *e, kms_code code, const char *fmt, ...) NSMKIT_PRINTF(3, 4);
const char *kms_code_type(kms_code code);   /* "NotFoundException"; NULL if unknown */
const char *kms_code_name(kms_code code);   /* "NOT_FOUND"; NULL if unknown */
unsigned kms_code_status(kms_code code);    /* HTTP status; 500 if unknown */

#endif /* NSMKIT_KMS_ERRORS_H */
