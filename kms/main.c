/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms: a local stand-in for AWS KMS that releases secrets to attested enclaves. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "nsmkit/ca.h"
#include "nsmkit/error.h"
#include "nsmkit/hex.h"
#include "nsmkit/opts.h"
#include "nsmkit/verify.h"

#include "http.h"
#include "service.h"
#include "sigv4.h"
#include "store.h"

typedef struct {
    const char *listen, *state, *root, *ca, *credentials, *region, *account;
    bool allow_remote, quiet, explain;
    unsigned max_connections, timeout_s, request_timeout_s, threads;
} serve_options;

static bool parse_unsigned(const char *text, unsigned min, unsigned max, unsigned *out)
{
    uint64_t v;
    if (!nsmkit_parse_u64(text, &v) || v < min || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

/* Binds HOST:PORT and listens; refuses non-loopback addresses unless allowed. */
static int open_listener(const char *spec, bool allow_remote, nsmkit_error *e)
{
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec || colon[1] == '\0')
        return nsmkit_fail(e, "--listen wants HOST:PORT, got %s", spec);
    char host[64];
    size_t host_len = (size_t)(colon - spec);
    if (host_len >= sizeof(host))
        return nsmkit_fail(e, "--listen: host too long");
    memcpy(host, spec, host_len);
    host[host_len] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    unsigned port;
    if (!parse_unsigned(colon + 1, 0, 65535, &port))
        return nsmkit_fail(e, "--listen: %s is not a port", colon + 1);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return nsmkit_fail(e, "--listen: %s is not an IPv4 address", host);
    bool loopback = (ntohl(addr.sin_addr.s_addr) >> 24) == 127;
    if (!loopback && !allow_remote)
        return nsmkit_fail(e, "--listen: %s is not a loopback address; the server has no TLS "
                           "and no principals, so pass --allow-remote to listen there anyway",
                           host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return nsmkit_fail(e, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 128) != 0) {
        int err = errno;
        close(fd);
        return nsmkit_fail(e, "cannot listen on %s: %s", spec, strerror(err));
    }
    return fd;
}

/* The root's DER (caller frees) and a line saying where it came from. */
static int load_root(const serve_options *o, uint8_t **der, size_t *len, char *what,
                     size_t what_size, nsmkit_error *e)
{
    if (o->root != NULL && strcmp(o->root, "aws") == 0) {
        const uint8_t *aws = nsmv_aws_root_der(len);
        *der = malloc(*len);
        if (*der == NULL)
            return nsmkit_fail(e, "out of memory");
        memcpy(*der, aws, *len);
        snprintf(what, what_size, "the AWS Nitro Enclaves root (real documents only)");
        return 0;
    }
    if (o->root != NULL) {
        nsmv_error ve;
        if (nsmv_root_read_pem(o->root, der, len, &ve) != 0)
            return nsmkit_fail(e, "--root: %s", ve.msg);
        snprintf(what, what_size, "%s", o->root);
        return 0;
    }
    char dir[4096];
    if (o->ca != NULL)
        snprintf(dir, sizeof(dir), "%s", o->ca);
    else if (nsmca_default_dir(dir, sizeof(dir), e) != 0)
        return -1;
    nsmca_pki *pki = NULL;
    bool created = false;
    if (nsmca_open_or_init(dir, &pki, &created, e) != 0)
        return -1;
    const uint8_t *root = nsmca_cert_der(pki, 0, len);
    *der = malloc(*len);
    if (*der != NULL)
        memcpy(*der, root, *len);
    nsmca_close(pki);
    if (*der == NULL)
        return nsmkit_fail(e, "out of memory");
    snprintf(what, what_size, "the simulated root of %s%s", dir, created ? " (created now)" : "");
    return 0;
}

static int default_state_dir(char *out, size_t out_size, nsmkit_error *e)
{
    char ca[4096];
    if (nsmca_default_dir(ca, sizeof(ca), e) != 0)
        return -1;
    size_t len = strlen(ca);
    if (len < 3 || strcmp(ca + len - 3, "/ca") != 0)
        return nsmkit_fail(e, "unexpected default PKI directory %s: pass --state DIR", ca);
    ca[len - 3] = '\0';
    int n = snprintf(out, out_size, "%s/kms", ca);
    return n > 0 && (size_t)n < out_size ? 0 : nsmkit_fail(e, "state directory name too long");
}

static int serve(const serve_options *o)
{
    nsmkit_error e;
    int rc = 1, fd = -1;
    uint8_t *root = NULL;
    size_t root_len = 0;
    nsmv_verifier *verifier = NULL;
    kms_store *store = NULL;
    kms_http *http = NULL;
    kms_credentials *creds = NULL;
    char state[4096], root_what[4200];

    if (o->state != NULL)
        snprintf(state, sizeof(state), "%s", o->state);
    else if (default_state_dir(state, sizeof(state), &e) != 0)
        goto fail;
    if (o->credentials != NULL) {
        creds = calloc(1, sizeof(*creds));
        if (creds == NULL || kms_credentials_load(o->credentials, creds, &e) != 0) {
            if (creds == NULL)
                nsmkit_fail(&e, "out of memory");
            goto fail;
        }
    }
    if (load_root(o, &root, &root_len, root_what, sizeof(root_what), &e) != 0)
        goto fail;
    nsmv_config vc = {.root_der = root, .root_len = root_len};
    nsmv_error ve;
    if (nsmv_verifier_new(&vc, &verifier, &ve) != 0) {
        nsmkit_fail(&e, "root: %s", ve.msg);
        goto fail;
    }
    if (kms_store_open(state, o->region, o->account, &store, &e) != 0)
        goto fail;
    if (kms_store_temporaries_removed(store) > 0)
        fprintf(stderr, "nsm-kms: removed %zu temporary files of interrupted writes from %s\n",
                kms_store_temporaries_removed(store), state);
    if ((fd = open_listener(o->listen, o->allow_remote, &e)) < 0)
        goto fail;
    struct sockaddr_in bound;
    socklen_t bound_len = sizeof(bound);
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0) {
        nsmkit_fail(&e, "getsockname: %s", strerror(errno));
        goto fail;
    }

    /* Signals are taken by sigwait below: block them before any thread starts. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    kms_service service = {.store = store, .verifier = verifier, .explain = o->explain,
                           .log_denials = true};
    kms_http_config hc = {.service = &service, .creds = creds, .listen_fd = fd,
                          .connection_limit = o->max_connections, .timeout_s = o->timeout_s,
                          .request_timeout_s = o->request_timeout_s, .threads = o->threads,
                          .log_requests = !o->quiet};
    if (kms_http_start(&hc, &http, &e) != 0)
        goto fail;
    fd = -1; /* the server owns it now */
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &bound.sin_addr, ip, sizeof(ip));
    printf("nsm-kms: listening on http://%s:%u\n", ip, (unsigned)ntohs(bound.sin_port));
    printf("nsm-kms: state in %s\n", state);
    printf("nsm-kms: attestation documents must chain to %s\n", root_what);
    printf("nsm-kms: signatures %s\n", creds != NULL ? "checked against --credentials"
                                                     : "must be well-formed (not checked)");
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "nsm-kms: stopping (signal %d)\n", sig);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "nsm-kms: %s\n", e.msg);
done:
    kms_http_stop(http);
    if (fd >= 0)
        close(fd);
    kms_store_close(store);
    nsmv_verifier_free(verifier);
    free(root);
    if (creds != NULL) {
        nsmkit_wipe(creds, sizeof(*creds));
        free(creds);
    }
    return rc;
}

/* ---- the command line ------------------------------------------------------------------- */

#define UNSIGNED_SETTER(fn, field, min, max, problem)                                          \
    static int fn(void *ctx, const char *value, nsmkit_error *e)                                \
    {                                                                                          \
        if (!parse_unsigned(value, (min), (max), &((serve_options *)ctx)->field))              \
            return nsmkit_fail(e, problem);                                                    \
        return 0;                                                                              \
    }
UNSIGNED_SETTER(set_max_connections, max_connections, 1, 10000, "--max-connections wants 1..10000")
UNSIGNED_SETTER(set_timeout, timeout_s, 1, 3600, "--timeout wants 1..3600 seconds")
UNSIGNED_SETTER(set_request_timeout, request_timeout_s, 1, 3600,
                "--request-timeout wants 1..3600 seconds")
UNSIGNED_SETTER(set_threads, threads, 1, 64, "--threads wants 1..64")

static const nsmkit_opt serve_rows[] = {
    NSMKIT_OPT_STRING("--listen", "HOST:PORT", serve_options, listen,
                      "an IPv4 address (or localhost) and port; port 0 picks a free one.\n"
                      "The address actually bound is printed on standard output."),
    NSMKIT_OPT_FLAG("--allow-remote", serve_options, allow_remote,
                    "allow a HOST that is not loopback (no TLS: local networks only)"),
    NSMKIT_OPT_STRING("--state", "DIR", serve_options, state,
                      "keys, policies and aliases (default: beside the simulated PKI,\n"
                      "${XDG_STATE_HOME:-$HOME/.local/state}/nsmkit/kms)"),
    NSMKIT_OPT_STRING("--root", "PEM", serve_options, root,
                      "the root attestation documents must chain to; `--root aws` is\n"
                      "AWS's Nitro Enclaves root. Default: the root of --ca DIR, or of\n"
                      "the default simulated PKI (created on first use)"),
    NSMKIT_OPT_STRING("--ca", "DIR", serve_options, ca, "a simulated PKI whose root to use"),
    NSMKIT_OPT_STRING("--credentials", "FILE", serve_options, credentials,
                      "\"ACCESS_KEY_ID SECRET\" lines (mode 0600): signatures are then\n"
                      "checked; without it they must only be well-formed"),
    NSMKIT_OPT_STRING("--region", "R", serve_options, region,
                      "what key ARNs say (default us-east-1)"),
    NSMKIT_OPT_STRING("--account", "ID", serve_options, account,
                      "what key ARNs say (default " KMS_DEFAULT_ACCOUNT ")"),
    NSMKIT_OPT_CALL("--max-connections", "N", set_max_connections,
                    "connections served at once (default 64); at the limit the\n"
                    "server stops accepting: more connections wait in the kernel's\n"
                    "listen backlog until a slot frees"),
    NSMKIT_OPT_CALL("--timeout", "SECONDS", set_timeout,
                    "an idle connection is closed after this (default 10)"),
    NSMKIT_OPT_CALL("--request-timeout", "SECONDS", set_request_timeout,
                    "a connection whose request has not arrived whole this long\n"
                    "after it began is closed, however busy (default 10)"),
    NSMKIT_OPT_FLAG("--explain", serve_options, explain,
                    "an AccessDeniedException's message also says which statement\n"
                    "and condition decided (always logged on standard error)"),
    NSMKIT_OPT_CALL("--threads", "N", set_threads, "request threads (default 2)"),
    NSMKIT_OPT_FLAG("--quiet", serve_options, quiet, "no line per request on standard error"),
};
static const nsmkit_opt_group serve_groups[] = {{NULL, serve_rows, NSMKIT_ROWS(serve_rows)}};

#define SERVE_SYNOPSIS                                                                         \
    "--listen HOST:PORT [--state DIR] [--root PEM|aws | --ca DIR]\n"                           \
    "[--credentials FILE] [--region R] [--account ID] [--allow-remote]\n"                      \
    "[--max-connections N] [--timeout SECONDS]\n"                                              \
    "[--request-timeout SECONDS] [--threads N] [--explain] [--quiet]"
#define KMS_ABOUT                                                                              \
    "Serves AWS KMS's JSON protocol (POST /, X-Amz-Target: TrentService.<Operation>) with\n"   \
    "Recipient support: attestation documents are verified with libnsmverify, key policies\n"  \
    "may hold kms:RecipientAttestation conditions, secrets go out as CiphertextForRecipient."

static const nsmkit_cli serve_cli = {"nsm-kms serve", SERVE_SYNOPSIS, KMS_ABOUT, serve_groups,
                                     1, false, "Stops on SIGINT or SIGTERM."};
/* The program's help is serve's, under "nsm-kms serve ..." (its one command). */
static const nsmkit_cli top_cli = {"nsm-kms", "serve " SERVE_SYNOPSIS "\n--help | --version",
                                   KMS_ABOUT, serve_groups, 1, true,
                                   "Stops on SIGINT or SIGTERM."};

/* "nsm-kms: problem" and the usage on standard error; returns 2. */
static int usage(const nsmkit_cli *cli, const char *problem)
{
    fprintf(stderr, "%s: %s\n", cli->program, problem);
    nsmkit_opts_usage(cli, stderr);
    return 2;
}

/* -1 to serve, else the exit status. serve's --help (--version) wins wherever it stands (even after a
 * bad value), as it always has. */
static int parse_serve(int argc, char **argv, serve_options *o)
{
    nsmkit_error e;
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            nsmkit_opts_help(&serve_cli, stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            nsmkit_opts_version(serve_cli.program, stdout);
            return 0;
        }
    int n = argc, r = nsmkit_opts_parse(&serve_cli, &n, argv, o, &e);
    if (r == NSMKIT_OPTS_DONE)
        return 0;
    if (r != NSMKIT_OPTS_RUN)
        return usage(&serve_cli, e.msg);
    if (n != 0)
        return usage(&serve_cli, "serve takes no operands");
    if (o->listen == NULL)
        return usage(&serve_cli, "serve needs --listen HOST:PORT");
    if (o->root != NULL && o->ca != NULL)
        return usage(&serve_cli, "--root and --ca both name the root: give one");
    size_t region_len = strlen(o->region);
    if (region_len == 0 || region_len > 32 ||
        strspn(o->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != region_len)
        return usage(&serve_cli, "--region wants a region name such as us-east-1");
    if (strlen(o->account) != 12 || strspn(o->account, "0123456789") != 12)
        return usage(&serve_cli, "--account wants 12 digits");
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(&top_cli, "no command");
    if (strcmp(argv[1], "help") == 0) {
        nsmkit_opts_help(&top_cli, stdout);
        return 0;
    }
    if (argv[1][0] == '-') { /* --help, --version, or a usage error */
        nsmkit_error e;
        int n = argc - 1, r = nsmkit_opts_parse(&top_cli, &n, argv + 1, NULL, &e);
        if (r == NSMKIT_OPTS_DONE)
            return 0;
        return usage(&top_cli, r == NSMKIT_OPTS_RUN ? "unknown command (want serve)" : e.msg);
    }
    if (strcmp(argv[1], "serve") != 0)
        return usage(&top_cli, "unknown command (want serve)");
    serve_options o = {.region = "us-east-1", .account = KMS_DEFAULT_ACCOUNT};
    int status = parse_serve(argc - 2, argv + 2, &o);
    return status >= 0 ? status : serve(&o);
}
