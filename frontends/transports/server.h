/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-sim server: one handler (the core) shared by many clients on a unix socket, in a
 * single-threaded poll loop.
 *
 * Internal to nsm-sim's front-ends (not installed).
 */
#ifndef NSMSIM_SERVER_H
#define NSMSIM_SERVER_H

#include <stdint.h>

#include "device.h"
#include "nsmkit/error.h"
#include "nsmkit/sim_codes.h"

typedef struct {
    const char *socket_path;
    unsigned max_clients; /* 0: NSMSIM_SERVER_MAX_CLIENTS */
    const char *log_prefix; /* e.g. "nsm-sim serve" */
    /* How long a client may take to send the rest of a frame once its first byte arrived,
     * or to read its answer. 0: NSMSIM_SERVER_FRAME_TIMEOUT_MS. */
    int frame_timeout_ms;
} nsmsim_server_options;

#define NSMSIM_SERVER_MAX_CLIENTS 256
/* A client writes its frame in one call and reads its answer at once; ten seconds is
 * generous for one on a loaded machine and short for an attacker holding a slot. */
#define NSMSIM_SERVER_FRAME_TIMEOUT_MS 10000
/* Lines of one kind (client dropped, refused, accept failure) per window. */
#define NSMSIM_SERVER_LOG_BURST 10
#define NSMSIM_SERVER_LOG_WINDOW_MS 10000

typedef struct {
    uint64_t requests;  /* frames answered */
    uint64_t accepted;  /* connections accepted */
    uint64_t dropped;   /* connections closed for misbehaving (timed_out included) */
    uint64_t timed_out; /* of which: past the frame deadline */
    uint64_t evicted;   /* idle connections closed to make room for a newcomer */
    uint64_t refused;   /* newcomers closed at once (table busy, descriptor limit) */
    uint64_t log_suppressed; /* log lines held back by the rate limit */
} nsmsim_server_stats;

typedef struct nsmsim_server nsmsim_server;

/* Binds and listens (socket mode 0600). Returns NSMSIM_ERR_OK or SOCKET_PATH,
 * SOCKET_TAKEN, SOCKET_NOT_SOCKET, SOCKET_BIND, NO_MEMORY with the message in e. A stale socket left by a dead server is replaced;
 * a live one, or a path that is not a socket, is an error. */
nsmsim_code nsmsim_server_open(const nsmsim_server_options *options, nsmsim_handler_fn handler,
                               void *ctx, nsmsim_server **out,
                               nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Serves until stop_fd is readable or hung up (-1: forever). */
nsmsim_code nsmsim_server_run(nsmsim_server *server, int stop_fd,
                              nsmkit_error *e) NSMKIT_WARN_UNUSED;
nsmsim_server_stats nsmsim_server_get_stats(const nsmsim_server *server);
/* Closes every client and the listening socket, and removes the socket file. */
void nsmsim_server_close(nsmsim_server *server);

#endif /* NSMSIM_SERVER_H */
