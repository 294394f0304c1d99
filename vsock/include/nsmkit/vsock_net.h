/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit vsock: the emulated vsock network ("DIR"), as the coordination contract
 * (docs: vsock/README.md, "The DIR network") defines it.
 *
 *   DIR/C.P           a listener on (cid C, port P): AF_UNIX SOCK_STREAM, bound there
 *   DIR/c.p.peer      the name a connecting party with local address (c, p) binds just
 *                     before connect() and unlinks right after: the acceptor reads the
 *                     peer's (cid, port) from it
 *   DIR/G.vsock       a QEMU guest's device socket (Firecracker's convention):
 *                     "CONNECT P\n" -> "OK <n>\n", then the stream is the guest's
 *   DIR/G.vsock_P     guest-initiated connections to the host's port P (Firecracker)
 *
 * Connecting to (C, P): CID 2 (host) is CID 3 (parent); DIR/C.P if it exists, else
 * DIR/C.vsock with the CONNECT handshake, else ECONNREFUSED.
 *
 * Operations on the network return 0 (or a descriptor) on success and -errno on failure,
 * with the errno a real vsock gives, so that interposers can hand it to the program as is.
 * Setup (opening a DIR) returns an NSMVSOCK_ERR_* code and a message.
 */
#ifndef NSMKIT_VSOCK_NET_H
#define NSMKIT_VSOCK_NET_H

#include <stddef.h>
#include <stdint.h>

#include "nsmkit/error.h"

/* X(NAME, number, sentence): the host interposer's and network's numbered errors
 * (range 5000-5499). Numbers are never reused; new codes are appended. */
#define NSMVSOCK_CODES(X)                                                                  \
    X(OK, 0, "success")                                                                    \
    X(USAGE, 5000, "the command line is not valid")                                        \
    X(DIR_TOO_LONG, 5001, "the network directory's path is too long for a unix socket")    \
    X(DIR_CREATE, 5002, "the network directory cannot be created or opened")               \
    X(DIR_UNSAFE, 5003, "the network directory belongs to another user or others can write it") \
    X(NO_MEMORY, 5004, "out of memory")                                                    \
    X(LISTEN, 5005, "the vsock port cannot be listened on")                                \
    X(ALLOWLIST, 5006, "the allowlist file cannot be read or is not valid")                \
    X(NOT_ALLOWED, 5007, "the proxy's destination is not in the allowlist")                \
    X(RESOLVE, 5008, "the destination host cannot be resolved")                            \
    X(EXEC, 5009, "the command cannot be started under the emulation")                     \
    X(SHIM, 5010, "the interposer library cannot be found")                                \
    X(SECCOMP, 5011, "the seccomp filter cannot be installed")                             \
    X(SUPERVISOR, 5012, "the seccomp supervisor failed")

typedef enum {
#define NSMVSOCK_ENUM(name, num, text) NSMVSOCK_ERR_##name = num,
    NSMVSOCK_CODES(NSMVSOCK_ENUM)
#undef NSMVSOCK_ENUM
} nsmvsock_code;

/* The code's name ("DIR_UNSAFE") and sentence; "UNKNOWN" / "" for other numbers. */
const char *nsmvsock_code_name(int code);
const char *nsmvsock_code_text(int code);

#define NSMVSOCK_CID_ANY 0xffffffffu
#define NSMVSOCK_CID_LOCAL 1u
#define NSMVSOCK_CID_HOST 2u
#define NSMVSOCK_CID_PARENT 3u
#define NSMVSOCK_PORT_ANY 0xffffffffu
/* Ports below this need privileges on a real vsock; ephemeral ports start here. */
#define NSMVSOCK_FIRST_EPHEMERAL 1024u
/* A real vsock's default connect timeout (SO_VM_SOCKETS_CONNECT_TIMEOUT): 2 s. */
#define NSMVSOCK_CONNECT_TIMEOUT_MS 2000
/* sizeof(sockaddr_un.sun_path), and the DIR length every name of the contract fits in:
 * "/4294967295.vsock_4294967295" is the longest name + NUL. */
#define NSMVSOCK_PATH_MAX 108
#define NSMVSOCK_DIR_MAX (NSMVSOCK_PATH_MAX - 29)
/* The longest "OK <n>\n" line a device socket may answer (more is a protocol error). */
#define NSMVSOCK_LINE_MAX 32

/* One network: its directory (absolute or relative, as given). */
typedef struct {
    char dir[NSMVSOCK_DIR_MAX + 1];
} nsmvsock_net;

/* The default DIR: $NSM_VSOCK_DIR, else ${XDG_RUNTIME_DIR:-/tmp}/nsmkit-vsock-<uid>.
 * 0, or -1 with a message when it does not fit in cap. */
int nsmvsock_net_default_dir(char *out, size_t cap, nsmkit_error *e);

/* Opens the network at dir (NULL: the default): creates the directory 0700 when missing,
 * refuses one another user owns or others can write to, and one too long for the names
 * of the contract. NSMVSOCK_ERR_OK or a code with a message. */
int nsmvsock_net_open(nsmvsock_net *net, const char *dir, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* The names of the contract, written to out[NSMVSOCK_PATH_MAX]. */
void nsmvsock_net_listener_path(const nsmvsock_net *net, uint32_t cid, uint32_t port,
                                char out[NSMVSOCK_PATH_MAX]);
void nsmvsock_net_peer_path(const nsmvsock_net *net, uint32_t cid, uint32_t port,
                            char out[NSMVSOCK_PATH_MAX]);
void nsmvsock_net_device_path(const nsmvsock_net *net, uint32_t cid, char out[NSMVSOCK_PATH_MAX]);
void nsmvsock_net_device_port_path(const nsmvsock_net *net, uint32_t cid, uint32_t port,
                                   char out[NSMVSOCK_PATH_MAX]);

/* Whether a listener is alive at (cid, port): a socket of this machine holds DIR/C.P and
 * listens (read from /proc/net/unix without connecting, so that no listener sees a probe).
 * 1 alive, 0 not (no file, or a stale one). */
int nsmvsock_net_port_alive(const nsmvsock_net *net, uint32_t cid, uint32_t port);

/* Binds the AF_UNIX SOCK_STREAM socket fd at DIR/C.P and listens with backlog: a stale
 * file is unlinked and bound again, a live one gives -EADDRINUSE. 0 or -errno. */
int nsmvsock_net_listen_fd(const nsmvsock_net *net, int fd, uint32_t cid, uint32_t port,
                           int backlog) NSMKIT_WARN_UNUSED;
/* A new listening socket (flags: SOCK_CLOEXEC, SOCK_NONBLOCK): the descriptor or -errno. */
int nsmvsock_net_listen(const nsmvsock_net *net, uint32_t cid, uint32_t port, int backlog,
                        int flags) NSMKIT_WARN_UNUSED;
/* Removes DIR/C.P when it is the file fd is bound to (a listener closing). */
void nsmvsock_net_unlisten(const nsmvsock_net *net, int fd, uint32_t cid, uint32_t port);

/* Connects the unbound AF_UNIX SOCK_STREAM socket fd, with local address (local_cid,
 * local_port), to (cid, port) by the contract's rule (CID 2 -> 3; DIR/C.P; DIR/C.vsock
 * and "CONNECT P"). timeout_ms bounds the whole connection (a full backlog, the
 * handshake), also on a non-blocking fd. 0 or -errno: -ECONNREFUSED (nobody listens),
 * -ECONNRESET (the device socket broke off the handshake), -ETIMEDOUT. */
int nsmvsock_net_connect_fd(const nsmvsock_net *net, int fd, uint32_t local_cid,
                            uint32_t local_port, uint32_t cid, uint32_t port,
                            int timeout_ms) NSMKIT_WARN_UNUSED;
/* The same with a new socket (flags: SOCK_CLOEXEC, SOCK_NONBLOCK; local_port
 * NSMVSOCK_PORT_ANY picks an ephemeral one): the descriptor or -errno. */
int nsmvsock_net_connect(const nsmvsock_net *net, uint32_t local_cid, uint32_t local_port,
                         uint32_t cid, uint32_t port, int timeout_ms, int flags) NSMKIT_WARN_UNUSED;

/* On a device socket just connected: writes "CONNECT <port>\n" and reads "OK <n>\n"
 * within timeout_ms. 0, or -ECONNRESET (EOF or another answer), -ETIMEDOUT, -errno. */
int nsmvsock_net_handshake(int fd, uint32_t port, int timeout_ms) NSMKIT_WARN_UNUSED;

/* Parses a peer name: the last path component of name[0..len) must be "c.p.peer" (decimal,
 * no leading zeros, each < 2^32). 0 with *cid and *port, or -1. */
int nsmvsock_peer_name_parse(const char *name, size_t len, uint32_t *cid, uint32_t *port);
/* Parses a listener name "C.P" the same way (the last component). 0 or -1. */
int nsmvsock_listener_name_parse(const char *name, size_t len, uint32_t *cid, uint32_t *port);
/* Parses a device socket's answer line[0..len): exactly "OK <n>\n", n a decimal < 2^32 with
 * no leading zeros. 0 with *n, or -1. */
int nsmvsock_ok_line_parse(const char *line, size_t len, uint32_t *n);

/* The (cid, port) of the party at the other end of an accepted unix socket: from its
 * "c.p.peer" name, else CID 2 (a host tool) and a port unique per call. */
void nsmvsock_net_peer_of(int fd, uint32_t *cid, uint32_t *port);

/* A fresh ephemeral port: random in [1024, 2^32 - 1). */
uint32_t nsmvsock_ephemeral_port(void);

#endif /* NSMKIT_VSOCK_NET_H */
