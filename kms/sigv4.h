/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-kms: AWS Signature Version 4, as KMS's clients sign their requests:
 *
 *   Authorization: AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/REGION/kms/aws4_request,
 *                  SignedHeaders=host;x-amz-date;..., Signature=<64 hex>
 *   X-Amz-Date: YYYYMMDDTHHMMSSZ
 *
 * Every request must carry a well-formed Authorization header (credential scope for the
 * kms service in the server's region, sorted lower-case signed headers including host,
 * x-amz-date and x-amz-target, every signed
 * header present, a 64-digit signature, an X-Amz-Date of the credential's day). With
 * credentials loaded, the access key must be known, X-Amz-Date within 15 minutes of the
 * server's clock, and the signature must be the one computed over the request (path "/",
 * no query string, the body's SHA-256).
 */
#ifndef NSMKIT_KMS_SIGV4_H
#define NSMKIT_KMS_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "nsmkit/bytes.h"
#include "nsmkit/error.h"

#include "errors.h"

#define KMS_SIGV4_MAX_SKEW_S (15 * 60)
#define KMS_SIGV4_AUTH_MAX 4096     /* longest Authorization header looked at */
#define KMS_SIGV4_MAX_HEADERS 32    /* signed headers */
#define KMS_CREDENTIALS_MAX 64      /* access keys in a credentials file */

/* Looks up a request header by lower-case name; NULL when absent. */
typedef const char *(*kms_header_fn)(void *ctx, const char *name);

typedef struct {
    const char *method;   /* "POST" */
    const char *path;     /* "/" */
    kms_header_fn header;
    void *header_ctx;
    nsmkit_bytes body;
} kms_sigv4_request;

typedef struct {
    char access_key_id[129];
    char secret[129];
} kms_credential;

typedef struct {
    size_t count;
    kms_credential keys[KMS_CREDENTIALS_MAX];
} kms_credentials;

/* Reads a credentials file: one "ACCESS_KEY_ID SECRET_ACCESS_KEY" per line, blank lines and
 * lines starting with '#' ignored. The file must not be readable or writable by group or
 * others (it holds secrets). */
int kms_credentials_load(const char *path, kms_credentials *out, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Checks a request's signature: well-formedness always (host, x-amz-date and x-amz-target
 * signed; a credential scope of region, unless region is NULL), the signature itself when
 * creds is not NULL (now: the server's clock). Returns KMS_ERR_OK or the error KMS gives. */
kms_code kms_sigv4_check(const kms_sigv4_request *request, const kms_credentials *creds,
                         const char *region, time_t now, kms_error *e);

/* The signature (64 lower-case hex digits and a NUL) over a request: for servers and for
 * clients that sign by hand. signed_headers is the sorted ';'-separated list. */
int kms_sigv4_signature(const kms_sigv4_request *request, const char *secret,
                        const char *date8, const char *region, const char *service,
                        const char *amz_date, const char *signed_headers, char out[65],
                        nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMKIT_KMS_SIGV4_H */
