/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-kms: AWS KMS's JSON protocol without the transport. One request is an operation name
 * (from `X-Amz-Target: TrentService.<Operation>`) and a JSON body; the answer is an HTTP
 * status and a JSON body: the operation's output, or {"__type": "...Exception",
 * "message": "..."}. Operations come from one table (service.c); fields are checked where
 * they are read: a wrong JSON type is a SerializationException, a value outside KMS's
 * constraints (lengths, enumerations, base64) a ValidationException. Unknown members are
 * ignored, as AWS services do.
 */
#ifndef NSMKIT_KMS_SERVICE_H
#define NSMKIT_KMS_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "nsmkit/bytes.h"
#include "nsmkit/verify.h"

#include "errors.h"
#include "store.h"

#define KMS_TARGET_PREFIX "TrentService."
#define KMS_DEFAULT_ACCOUNT "111122223333"

typedef struct {
    kms_store *store;          /* borrowed */
    nsmv_verifier *verifier;   /* borrowed: the root Recipient documents must chain to */
    uint64_t verify_time_s;    /* when documents are verified (Unix seconds); 0: now */
    bool explain;              /* AccessDeniedException messages say which statement and
                                  condition decided (--explain); KMS's own shape otherwise */
    bool log_denials;          /* every denial's reason on stderr, one line */
} kms_service;

typedef struct {
    unsigned status;
    kms_code code;   /* KMS_ERR_OK, or the error the body carries */
    char *body;      /* owned: JSON text */
    size_t len;
} kms_response;

/* Runs one request. operation is the part after "TrentService." (NULL: the header was
 * missing or had another prefix). Always fills out; free with kms_response_clear. */
void kms_service_handle(const kms_service *service, const char *operation, nsmkit_bytes body,
                        kms_response *out);
/* Fills out with an error response (for the transport's own refusals). */
void kms_response_error(kms_response *out, kms_code code, const char *message);
void kms_response_clear(kms_response *out);

/* The operations the table holds, for usage text and tests: NULL after the last. */
const char *kms_service_operation_at(size_t i);

#endif /* NSMKIT_KMS_SERVICE_H */
