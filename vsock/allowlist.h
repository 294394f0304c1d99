/* SPDX-License-Identifier: Apache-2.0 */
/* The vsock-proxy allowlist (allowlist.c): nitro-cli's YAML and its matching rule. */
#ifndef NSMKIT_VSOCK_ALLOWLIST_H
#define NSMKIT_VSOCK_ALLOWLIST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "nsmkit/error.h"

/* Bounds on hostile files: bytes read, entries kept, the length of one address, nesting
 * and YAML items (libyaml's time grows with the square of the nesting). */
#define VSALLOW_MAX_BYTES (256 * 1024)
#define VSALLOW_MAX_ENTRIES 4096
#define VSALLOW_MAX_ADDRESS 253
/* an allowlist is 3 levels deep (mapping, list, entry); aliases and flow style get room */
#define VSALLOW_MAX_DEPTH 16
#define VSALLOW_MAX_EVENTS (8 * VSALLOW_MAX_ENTRIES + 64)

typedef struct {
    char address[VSALLOW_MAX_ADDRESS + 1];
    uint16_t port;
} vsallow_entry;

typedef struct {
    vsallow_entry *entries;
    size_t count;
} vsallow;

/* Parses `allowlist: [{address: A, port: P}, ...]` (other top-level keys are ignored, as
 * nitro-cli does; every entry needs a string address and a port 1..65535). 0, or -1 with a
 * message naming what is wrong. Free with vsallow_free. */
int vsallow_parse(const char *text, size_t len, vsallow *out, nsmkit_error *e);
/* The same for a file (at most VSALLOW_MAX_BYTES). */
int vsallow_load(const char *path, vsallow *out, nsmkit_error *e);
void vsallow_free(vsallow *a);

/* nitro-cli's rule: an entry with this port whose address is host itself, or resolves to
 * the address host resolved to (resolved, resolved_len). 1 allowed, 0 not. */
int vsallow_permits(const vsallow *a, const char *host, uint16_t port,
                    const struct sockaddr *resolved, socklen_t resolved_len);

#endif /* NSMKIT_VSOCK_ALLOWLIST_H */
