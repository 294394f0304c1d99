/*
 * nsm-sim front-ends: the internal interfaces shared by everything that moves NSM requests
 * between a program and the core (socket server, LD_PRELOAD shim, drop-in libnsm, exec,
 * and later the CUSE device and the QEMU bridge). Not installed; the public API of the
 * component is nsmkit/sim.h, and the drop-in C API is nsm-sim/include/nsm.h.
 *
 *  - framing:   `u32 little-endian length || CBOR`, both ways, over any stream descriptor
 *               (unix socket on the host, virtio-serial port from a guest);
 *  - handlers:  "a device": request bytes in, response bytes out, or an errno;
 *  - client:    one connection to a server, per process, checked before every use;
 *  - server:    one core shared by many clients, single-threaded poll loop;
 *  - device:    the kernel driver's NSM_IOCTL_RAW semantics on user memory, and the
 *               descriptor that stands for an open /dev/nsm;
 *  - api codec: the official library's requests and responses (serde_cbor's encoding);
 *  - options:   the simulator's state options taken from the environment.
 */
#ifndef NSMSIM_FRONTEND_H
#define NSMSIM_FRONTEND_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "device.h"
#include "nsmkit/sim.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor.h"

/* ---- logging --------------------------------------------------------------------------- */

/* Writes "prefix: message\n" to stderr in one write(), so that lines from concurrent
 * processes and threads never interleave. */
void nsmsim_log_line(const char *prefix, const char *fmt, ...) NSMKIT_PRINTF(2, 3);
void nsmsim_log_vline(const char *prefix, const char *fmt, va_list ap);

/* ---- handlers: nsmsim_handler_fn is in device.h ----------------------------------- */

/* nsmsim_handle as a handler (ctx is the nsmsim). */
int nsmsim_core_handler(void *ctx, const uint8_t *req, size_t req_len,
                        uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len);

/* ---- framing --------------------------------------------------------------------------- */

#define NSMSIM_FRAME_HEADER_LEN 4

void nsmsim_frame_header_encode(uint8_t out[NSMSIM_FRAME_HEADER_LEN], uint32_t len);
uint32_t nsmsim_frame_header_decode(const uint8_t in[NSMSIM_FRAME_HEADER_LEN]);

typedef enum {
    NSMSIM_IO_OK = 0,
    NSMSIM_IO_EOF,       /* the peer closed before the first byte of a frame */
    NSMSIM_IO_SHORT,     /* the peer closed inside a frame */
    NSMSIM_IO_TOO_LARGE, /* the declared length is above the limit (nothing more was read) */
    NSMSIM_IO_TIMEOUT,   /* the deadline passed */
    NSMSIM_IO_ERROR,     /* a system call failed; errno says why */
} nsmsim_io_status;

const char *nsmsim_io_status_name(nsmsim_io_status status);

/* Writes a whole frame; header and body leave in one system call when they fit.
 * timeout_ms < 0 waits forever. Never raises SIGPIPE on a socket. */
nsmsim_io_status nsmsim_frame_write(int fd, const uint8_t *body, size_t len,
                                    int timeout_ms) NSMKIT_WARN_UNUSED;
/* Reads one whole frame of at most max bytes into body. */
nsmsim_io_status nsmsim_frame_read(int fd, uint8_t *body, size_t max, size_t *len,
                                   int timeout_ms) NSMKIT_WARN_UNUSED;

/* ---- client ---------------------------------------------------------------------------- */

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

/* ---- server ---------------------------------------------------------------------------- */

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

/* Binds and listens (socket mode 0600). A stale socket left by a dead server is replaced;
 * a live one, or a path that is not a socket, is an error. */
int nsmsim_server_open(const nsmsim_server_options *options, nsmsim_handler_fn handler,
                       void *ctx, nsmsim_server **out, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Serves until stop_fd is readable or hung up (-1: forever). */
int nsmsim_server_run(nsmsim_server *server, int stop_fd, nsmkit_error *e) NSMKIT_WARN_UNUSED;
nsmsim_server_stats nsmsim_server_get_stats(const nsmsim_server *server);
/* Closes every client and the listening socket, and removes the socket file. */
void nsmsim_server_close(nsmsim_server *server);

/* ---- the official library's requests and responses ------------------------------------- */

typedef struct {
    const uint8_t *data; /* NULL: absent (null on the wire) */
    size_t len;
} nsmsim_api_optional;

/* Each appends one request as serde_cbor writes it. Callers check the size against
 * NSM_REQUEST_MAX_SIZE with nsmsim_api_*_size first, so huge inputs are never copied. */
void nsmsim_api_encode_describe_nsm(nsmkit_buf *out);
void nsmsim_api_encode_get_random(nsmkit_buf *out);
void nsmsim_api_encode_describe_pcr(nsmkit_buf *out, uint16_t index);
void nsmsim_api_encode_lock_pcr(nsmkit_buf *out, uint16_t index);
void nsmsim_api_encode_lock_pcrs(nsmkit_buf *out, uint16_t range);
void nsmsim_api_encode_extend_pcr(nsmkit_buf *out, uint16_t index, const uint8_t *data,
                                  size_t len);
void nsmsim_api_encode_attestation(nsmkit_buf *out, nsmsim_api_optional user_data,
                                   nsmsim_api_optional nonce, nsmsim_api_optional public_key);
uint64_t nsmsim_api_extend_pcr_size(uint16_t index, uint64_t len);
uint64_t nsmsim_api_attestation_size(nsmsim_api_optional user_data, nsmsim_api_optional nonce,
                                     nsmsim_api_optional public_key);

typedef enum {
    NSMSIM_RESP_DESCRIBE_PCR,
    NSMSIM_RESP_EXTEND_PCR,
    NSMSIM_RESP_LOCK_PCR,
    NSMSIM_RESP_LOCK_PCRS,
    NSMSIM_RESP_DESCRIBE_NSM,
    NSMSIM_RESP_ATTESTATION,
    NSMSIM_RESP_GET_RANDOM,
    NSMSIM_RESP_ERROR,
} nsmsim_api_response_kind;

#define NSMSIM_API_MAX_LOCKED 64 /* the C API's NsmDescription holds at most this many */

typedef struct {
    nsmsim_api_response_kind kind;
    nsmsim_error_code error;  /* ERROR */
    bool lock;                /* DESCRIBE_PCR */
    const uint8_t *bytes;     /* DESCRIBE_PCR/EXTEND_PCR data, ATTESTATION document, */
    size_t bytes_len;         /* GET_RANDOM random: borrowed from item */
    /* DESCRIBE_NSM */
    uint16_t version_major, version_minor, version_patch, max_pcrs;
    const char *module_id; /* borrowed, not NUL-terminated */
    size_t module_id_len;
    uint16_t locked_pcrs[NSMSIM_API_MAX_LOCKED]; /* ascending, without duplicates */
    size_t locked_pcrs_len;
    bool locked_pcrs_overflow; /* more than NSMSIM_API_MAX_LOCKED distinct indices */
    unsigned digest;           /* 0 SHA256, 1 SHA384, 2 SHA512 (the C API's Digest) */
    cbor_item_t *item;         /* owned: what the borrowed pointers point into */
} nsmsim_api_response;

/* Decodes a response the way the official client's serde_cbor does: the enum's external
 * tagging, struct fields in any order with unknown ones ignored, duplicates, missing
 * fields, wrong types, out-of-range integers and trailing bytes refused. Returns 0, or -1
 * when the bytes are not a Response (the official library's InternalError). On success
 * release out with nsmsim_api_response_free. */
int nsmsim_api_response_decode(const uint8_t *buf, size_t len,
                               nsmsim_api_response *out) NSMKIT_WARN_UNUSED;
void nsmsim_api_response_free(nsmsim_api_response *response);

/* ---- options from the environment ------------------------------------------------------ */

/* The state options the embedded core reads from the environment (shim and libnsm):
 *   NSM_SIM_CA=DIR  NSM_SIM_TIME=UNIX_MS  NSM_SIM_PCR=I=HEX[,I=HEX]...
 *   NSM_SIM_MEASUREMENTS=FILE  NSM_SIM_DEBUG_MODE=1  NSM_SIM_MAP=definite|indefinite
 * Each is parsed by nsmsim_options_parse_arg as the matching command-line option. Strings
 * are copied into storage, which must outlive options (nsmsim_env_storage_free). */
typedef struct {
    char **strings;
    size_t count;
} nsmsim_env_storage;

int nsmsim_options_from_env(nsmsim_options *options, nsmsim_env_storage *storage,
                            nsmkit_error *e) NSMKIT_WARN_UNUSED;
void nsmsim_env_storage_free(nsmsim_env_storage *storage);

/* True when an environment variable is set to something other than "", "0" or "no". */
bool nsmsim_env_flag(const char *name);

/* ---- commands ------------------------------------------------------------------------------ */

/* `nsm-sim serve` and `nsm-sim exec`; argv holds the arguments after the subcommand's name
 * (as for attest). They return the process exit status. */
int nsmsim_cmd_serve(int argc, char **argv);
int nsmsim_cmd_exec(int argc, char **argv);

/* The AddressSanitizer runtime this process runs with, or NULL: a sanitized shim needs it
 * preloaded first in every process it goes into. */
const char *nsmsim_sanitizer_runtime(void);

#endif /* NSMSIM_FRONTEND_H */
