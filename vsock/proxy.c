/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-vsock proxy [--dir DIR] --port P --to HOST:PORT [--allow FILE]: the parent's
 * vsock-proxy (nitro-cli's). Listens on (CID 3, port P) of DIR and forwards each
 * connection to TCP HOST:PORT. With --allow, the destination must be in the allowlist by
 * nitro-cli's rule (port, then host name, then the addresses it resolves to), or the
 * proxy refuses to start (exit 1). Without --allow every destination is allowed (a
 * development machine's proxy; nitro-cli requires the file).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "allowlist.h"
#include "commands.h"
#include "nsmkit/vsock_net.h"

#define MAX_CONNECTIONS 256
#define PUMP_BUFFER (64 * 1024)

typedef struct {
    struct sockaddr_storage to;
    socklen_t to_len;
} destination;

static _Atomic int active;

typedef struct {
    int in;
    const destination *dest;
} connection;

/* Copies what is readable from one side to the other: 0 more, 1 end of that direction,
 * -1 broken. */
static int pump(int from, int to, char *buf)
{
    ssize_t n = recv(from, buf, PUMP_BUFFER, MSG_DONTWAIT);
    if (n == 0)
        return 1;
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += w;
    }
    return 0;
}

static void forward(int a, int b)
{
    char *buf = malloc(PUMP_BUFFER);
    int open_ab = 1, open_ba = 1;
    while (buf != NULL && (open_ab || open_ba)) {
        struct pollfd p[2] = {{.fd = open_ab ? a : -1, .events = POLLIN}, {.fd = open_ba ? b : -1, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        int r;
        if (open_ab && p[0].revents) {
            r = pump(a, b, buf);
            if (r < 0)
                break;
            if (r == 1) {
                open_ab = 0;
                shutdown(b, SHUT_WR);
            }
        }
        if (open_ba && p[1].revents) {
            r = pump(b, a, buf);
            if (r < 0)
                break;
            if (r == 1) {
                open_ba = 0;
                shutdown(a, SHUT_WR);
            }
        }
    }
    free(buf);
}

static void *connection_main(void *arg)
{
    connection *c = arg;
    int out = socket(c->dest->to.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (out >= 0 && connect(out, (const struct sockaddr *)&c->dest->to, c->dest->to_len) == 0)
        forward(c->in, out);
    else
        fprintf(stderr, "nsm-vsock proxy: the destination refused a connection: %s\n", strerror(errno));
    if (out >= 0)
        close(out);
    close(c->in);
    free(c);
    atomic_fetch_sub(&active, 1);
    return NULL;
}

static void start_connection(int in, const destination *dest)
{
    connection *c = malloc(sizeof(*c));
    pthread_t t;
    pthread_attr_t attr;
    if (c == NULL || atomic_fetch_add(&active, 1) >= MAX_CONNECTIONS) {
        if (c != NULL)
            atomic_fetch_sub(&active, 1);
        free(c);
        close(in);
        return;
    }
    c->in = in;
    c->dest = dest;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, connection_main, c) != 0) {
        atomic_fetch_sub(&active, 1);
        close(in);
        free(c);
    }
    pthread_attr_destroy(&attr);
}

/* "HOST:PORT" or "[V6]:PORT" into host (cap bytes) and port. 0 or -1. */
static int split_destination(const char *s, char *host, size_t cap, uint16_t *port)
{
    const char *start = s, *colon;
    if (s[0] == '[') {
        const char *close_br = strchr(s, ']');
        if (close_br == NULL || close_br[1] != ':')
            return -1;
        start = s + 1;
        colon = close_br + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
    }
    size_t hlen = (size_t)((s[0] == '[' ? colon - 1 : colon) - start);
    if (hlen == 0 || hlen >= cap)
        return -1;
    memcpy(host, start, hlen);
    host[hlen] = '\0';
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || colon[1] == '-' || p == 0 || p > 65535)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

static int serve(int l, int sigfd, const destination *dest)
{
    for (;;) {
        struct pollfd p[2] = {{.fd = l, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 2;
        }
        if (p[1].revents)
            return 0;
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            start_connection(c, dest);
    }
}

typedef struct {
    const char *dir, *to, *allow;
    uint32_t port;
    int have_port;
} proxy_options;

static int set_port(void *ctx, const char *value, nsmkit_error *e)
{
    proxy_options *o = ctx;
    char *end;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || v >= NSMVSOCK_PORT_ANY)
        return nsmkit_fail(e, "--port takes a vsock port (0 to 4294967294)");
    o->port = (uint32_t)v;
    o->have_port = 1;
    return 0;
}

static const nsmkit_opt proxy_rows[] = {
    NSMKIT_OPT_STRING("--dir", "DIR", proxy_options, dir, "the emulated vsock network"),
    NSMKIT_OPT_CALL("--port", "P", set_port, "the vsock port to listen on (CID 3)"),
    NSMKIT_OPT_STRING("--to", "HOST:PORT", proxy_options, to,
                      "the TCP destination (IPv6: [ADDR]:PORT)"),
    NSMKIT_OPT_STRING("--allow", "FILE", proxy_options, allow,
                      "nitro-cli's allowlist (YAML: allowlist: [{address: A, port: N}, ...]);\n"
                      "the proxy refuses to start (exit 1) when HOST:PORT is not in it"),
};
static const nsmkit_opt_group proxy_groups[] = {{NULL, proxy_rows, NSMKIT_ROWS(proxy_rows)}};
static const nsmkit_cli proxy_cli = {
    "nsm-vsock proxy", "[--dir DIR] --port P --to HOST:PORT [--allow FILE]",
    "The parent's vsock-proxy: listens on (CID 3, port P) of the emulated vsock network DIR\n"
    "and forwards each connection to TCP HOST:PORT (IPv6: [ADDR]:PORT).\n"
    "Runs until SIGINT/SIGTERM.",
    proxy_groups, 1, false, NULL};

int nsmvsock_cmd_proxy(int argc, char **argv)
{
    proxy_options o = {0};
    int n, rc = nsmvsock_parse(&proxy_cli, argc, argv, &o, &n);
    if (rc >= 0)
        return rc;
    if (!o.have_port || o.to == NULL || n != 0)
        return nsmvsock_usage(&proxy_cli, "--port and --to are needed, nothing else");
    char host[256], msg[600];
    uint16_t tport;
    if (split_destination(o.to, host, sizeof(host), &tport) != 0) {
        fprintf(stderr, "nsm-vsock proxy: --to takes HOST:PORT or [IPV6]:PORT, not '%s'\n", o.to);
        return 2;
    }
    static destination dest;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%u", tport);
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0 || res == NULL || res->ai_addrlen > sizeof(dest.to)) {
        snprintf(msg, sizeof(msg), "%s: %s", host, gai != 0 ? gai_strerror(gai) : "no address");
        return nsmvsock_report("proxy", NSMVSOCK_ERR_RESOLVE, msg);
    }
    memcpy(&dest.to, res->ai_addr, res->ai_addrlen);
    dest.to_len = res->ai_addrlen;
    freeaddrinfo(res);
    if (o.allow != NULL) {
        vsallow allow;
        nsmkit_error e;
        if (vsallow_load(o.allow, &allow, &e) != 0)
            return nsmvsock_report("proxy", NSMVSOCK_ERR_ALLOWLIST, e.msg);
        int ok = vsallow_permits(&allow, host, tport, (const struct sockaddr *)&dest.to, dest.to_len);
        vsallow_free(&allow);
        if (!ok) {
            snprintf(msg, sizeof(msg), "%s:%u is not in %s", host, tport, o.allow);
            nsmvsock_report("proxy", NSMVSOCK_ERR_NOT_ALLOWED, msg);
            return 1;
        }
    }
    nsmvsock_net net;
    nsmkit_error e;
    int code = nsmvsock_net_open(&net, o.dir, &e);
    if (code != NSMVSOCK_ERR_OK)
        return nsmvsock_report("proxy", code, e.msg);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
    int l = nsmvsock_net_listen(&net, NSMVSOCK_CID_PARENT, o.port, 128, SOCK_CLOEXEC);
    if (l < 0 || sigfd < 0) {
        snprintf(msg, sizeof(msg), "(3, %u) in %s: %s", o.port, net.dir, strerror(l < 0 ? -l : errno));
        return nsmvsock_report("proxy", NSMVSOCK_ERR_LISTEN, msg);
    }
    fprintf(stderr, "nsm-vsock proxy: (3, %u) in %s -> %s\n", o.port, net.dir, o.to);
    rc = serve(l, sigfd, &dest);
    nsmvsock_net_unlisten(&net, l, NSMVSOCK_CID_PARENT, o.port);
    close(l);
    return rc;
}
