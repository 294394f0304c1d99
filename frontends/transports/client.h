/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-sim client: one connection to `nsm-sim serve` per process, checked before every
 * use, as a handler (device.h) for the shim and the drop-in library.
 *
 * Internal to nsm-sim's front-ends (not installed).
 */
#ifndef NSMSIM_CLIENT_H
#define NSMSIM_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "device.h"
#include "nsmkit/error.h"

/* Connects to a server's unix socket; returns a close-on-exec descriptor or -1. */
int nsmsim_client_connect(const char *path, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* The driver's timeout for one request (drivers/misc/nsm.c). */
#define NSMSIM_DEFAULT_TIMEOUT_MS 120000

/* A connection to a server owned by one process: a forked child or a program that closed
 * or reused the descriptor gets a fresh connection instead of sharing or misusing the
 * old one. One request at a time, like the driver's mutex. */
typedef struct {
    char path[108];
    int timeout_ms;
    const char *log_prefix; /* one line on stderr per change from working to failing */
    pthread_mutex_t lock;
    int fd;
    pid_t pid;
    dev_t dev;
    ino_t ino;
    bool failing;
} nsmsim_remote;

int nsmsim_remote_init(nsmsim_remote *remote, const char *path, int timeout_ms,
                       const char *log_prefix, nsmkit_error *e) NSMKIT_WARN_UNUSED;
void nsmsim_remote_close(nsmsim_remote *remote);
/* A handler (ctx is the nsmsim_remote): EIO when the server cannot be reached or broke the
 * protocol, ETIMEDOUT when it did not answer in time. */
int nsmsim_remote_handler(void *ctx, const uint8_t *req, size_t req_len,
                          uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len);

#endif /* NSMSIM_CLIENT_H */
