/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-kms: the HTTP side, on libmicrohttpd. A request is `POST /` with
 * `X-Amz-Target: TrentService.<Operation>`, `Content-Type: application/x-amz-json-1.1` (1.0
 * is accepted too) and a SigV4 Authorization header. Bodies over body_max are refused
 * before anything is parsed (by Content-Length at once, by counting for chunked bodies).
 * At the connection limit the server stops accepting, so further connections wait in the
 * kernel's listen backlog until a slot frees. A connection idle for timeout_s is closed, and
 * so is one whose request has not arrived whole request_timeout_s after it began (a client
 * trickling bytes is not idle, but cannot hold a slot for longer than that).
 */
#ifndef NSMKIT_KMS_HTTP_H
#define NSMKIT_KMS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "nsmkit/error.h"

#include "service.h"
#include "sigv4.h"

#define KMS_HTTP_BODY_MAX (64 * 1024)
#define KMS_HTTP_CONNECTIONS_DEFAULT 64
#define KMS_HTTP_TIMEOUT_DEFAULT_S 10
#define KMS_HTTP_THREADS_DEFAULT 2
#define KMS_HTTP_REQUEST_TIMEOUT_DEFAULT_S 10

typedef struct {
    const kms_service *service;      /* borrowed */
    const kms_credentials *creds;    /* borrowed; NULL: signatures checked for form only */
    int listen_fd;                   /* a bound, listening socket; the server takes it */
    size_t body_max;                 /* 0: KMS_HTTP_BODY_MAX */
    unsigned connection_limit;       /* 0: the default */
    unsigned timeout_s;              /* idle time; 0: the default */
    unsigned request_timeout_s;      /* time for one request to arrive; 0: the default */
    unsigned threads;                /* 0: the default */
    bool log_requests;               /* one line per request on stderr */
} kms_http_config;

typedef struct kms_http kms_http;

int kms_http_start(const kms_http_config *config, kms_http **out, nsmkit_error *e) NSMKIT_WARN_UNUSED;
void kms_http_stop(kms_http *server);

#endif /* NSMKIT_KMS_HTTP_H */
