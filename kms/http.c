/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms: the HTTP transport on libmicrohttpd (see http.h). */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "nsmkit/buf.h"

/* One open connection, for the request deadline: libmicrohttpd only closes connections that
 * are idle, so a client that trickles a byte now and then would hold its slot for ever. */
typedef struct connection_entry {
    int fd;                 /* libmicrohttpd's socket; valid until the CLOSED notification */
    struct timespec since;  /* when the request now arriving began (connection or last answer) */
    bool arrived;           /* the whole request is in: it is being answered */
    bool cut;               /* shut down by the watchdog */
    struct connection_entry *prev, *next;
} connection_entry;

struct kms_http {
    kms_http_config config;
    struct MHD_Daemon *daemon; /* owned */
    pthread_mutex_t lock;      /* guards the connection list and stopping */
    pthread_cond_t wake;
    connection_entry *connections;
    bool stopping, watchdog_running;
    pthread_t watchdog;
};

static void request_mark(kms_http *server, struct MHD_Connection *conn, bool arrived);

/* One request in progress: its body, bounded. */
typedef struct {
    nsmkit_buf body;
    bool too_large;
} request_state;

static void log_line(const kms_http *server, const char *operation, unsigned status,
                     kms_code code)
{
    if (!server->config.log_requests)
        return;
    fprintf(stderr, "nsm-kms: %s %u%s%s\n", operation != NULL ? operation : "-", status,
            code != KMS_ERR_OK ? " " : "", code != KMS_ERR_OK ? kms_code_type(code) : "");
}

static enum MHD_Result send_response(struct MHD_Connection *conn, const kms_response *r)
{
    struct MHD_Response *response = MHD_create_response_from_buffer(
        r->len, r->body, MHD_RESPMEM_MUST_COPY); /* owned until queued */
    if (response == NULL)
        return MHD_NO;
    MHD_add_response_header(response, "Content-Type", "application/x-amz-json-1.1");
    enum MHD_Result ret = MHD_queue_response(conn, r->status, response);
    MHD_destroy_response(response);
    return ret;
}

static enum MHD_Result send_error(const kms_http *server, struct MHD_Connection *conn,
                                  kms_code code, const char *message)
{
    kms_response r;
    kms_response_error(&r, code, message);
    log_line(server, NULL, r.status, code);
    enum MHD_Result ret = send_response(conn, &r);
    kms_response_clear(&r);
    return ret;
}

static const char *header_lookup(void *ctx, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)ctx, MHD_HEADER_KIND, name);
}

/* The whole body has arrived: check the request's form and signature, then run it. */
static enum MHD_Result handle(kms_http *server, struct MHD_Connection *conn, const char *method,
                              const char *url, request_state *state)
{
    request_mark(server, conn, true);
    if (state->too_large) {
        char msg[128];
        snprintf(msg, sizeof(msg), "the request body is over %zu bytes", server->config.body_max);
        return send_error(server, conn, KMS_ERR_TOO_LARGE, msg);
    }
    if (state->body.err)
        return send_error(server, conn, KMS_ERR_INTERNAL, "out of memory");
    const char *type = header_lookup(conn, "content-type");
    if (type == NULL || (strcasecmp(type, "application/x-amz-json-1.1") != 0 &&
                         strcasecmp(type, "application/x-amz-json-1.0") != 0))
        return send_error(server, conn, KMS_ERR_UNSUPPORTED_MEDIA,
                          "Content-Type must be application/x-amz-json-1.1");
    nsmkit_bytes body = nsmkit_bytes_of(state->body.data, state->body.len);
    kms_sigv4_request sreq = {method, url, header_lookup, conn, body};
    kms_error e;
    kms_code code = kms_sigv4_check(&sreq, server->config.creds,
                                     kms_store_region(server->config.service->store), time(NULL), &e);
    if (code != KMS_ERR_OK)
        return send_error(server, conn, code, e.msg);
    const char *target = header_lookup(conn, "x-amz-target");
    const char *operation = NULL;
    if (target != NULL && strncmp(target, KMS_TARGET_PREFIX, strlen(KMS_TARGET_PREFIX)) == 0)
        operation = target + strlen(KMS_TARGET_PREFIX);
    kms_response r;
    kms_service_handle(server->config.service, operation, body, &r);
    log_line(server, operation, r.status, r.code);
    enum MHD_Result ret = send_response(conn, &r);
    kms_response_clear(&r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    kms_http *server = cls;
    request_state *state = *con_cls;
    if (state == NULL) {
        /* first call: only headers so far; refuse what needs no body at once */
        if (strcmp(method, "POST") != 0)
            return send_error(server, conn, KMS_ERR_METHOD_NOT_ALLOWED,
                              "KMS takes POST requests only");
        if (strcmp(url, "/") != 0)
            return send_error(server, conn, KMS_ERR_VALIDATION, "KMS requests go to path /");
        const char *length = header_lookup(conn, "content-length");
        if (length != NULL) {
            char *end = NULL;
            unsigned long long n = strtoull(length, &end, 10);
            if (end == length || *end != '\0' || n > server->config.body_max) {
                char msg[128];
                snprintf(msg, sizeof(msg), "the request body is over %zu bytes",
                         server->config.body_max);
                return send_error(server, conn, KMS_ERR_TOO_LARGE, msg);
            }
        }
        state = calloc(1, sizeof(*state)); /* freed in on_completed */
        if (state == NULL)
            return MHD_NO;
        nsmkit_buf_init(&state->body, server->config.body_max);
        *con_cls = state;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (state->body.len + *upload_data_size > server->config.body_max)
            state->too_large = true; /* keep counting nothing: the answer is decided */
        else
            nsmkit_buf_append(&state->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return handle(server, conn, method, url, state);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    request_mark(cls, conn, false); /* the next request on this connection starts now */
    request_state *state = *con_cls;
    if (state == NULL)
        return;
    if (state->body.data != NULL)
        nsmkit_wipe(state->body.data, state->body.len);
    nsmkit_buf_free(&state->body);
    free(state);
    *con_cls = NULL;
}

static double seconds_since(const struct timespec *since, const struct timespec *now)
{
    return (double)(now->tv_sec - since->tv_sec) + (double)(now->tv_nsec - since->tv_nsec) / 1e9;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    kms_http *server = cls;
    connection_entry *entry = *socket_context;
    pthread_mutex_lock(&server->lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        entry = info != NULL ? calloc(1, sizeof(*entry)) : NULL; /* freed at CLOSED */
        if (entry != NULL) {
            entry->fd = info->connect_fd;
            clock_gettime(CLOCK_MONOTONIC, &entry->since);
            entry->next = server->connections;
            if (server->connections != NULL)
                server->connections->prev = entry;
            server->connections = entry;
        }
        *socket_context = entry;
    } else if (entry != NULL) { /* CLOSED: called before libmicrohttpd closes the socket */
        if (entry->prev != NULL)
            entry->prev->next = entry->next;
        else
            server->connections = entry->next;
        if (entry->next != NULL)
            entry->next->prev = entry->prev;
        free(entry);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&server->lock);
}

/* Marks the connection's request as arrived (true) or a new one as begun (false). */
static void request_mark(kms_http *server, struct MHD_Connection *conn, bool arrived)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    pthread_mutex_lock(&server->lock);
    connection_entry *entry = info != NULL ? info->socket_context : NULL;
    if (entry != NULL) {
        entry->arrived = arrived;
        if (!arrived)
            clock_gettime(CLOCK_MONOTONIC, &entry->since);
    }
    pthread_mutex_unlock(&server->lock);
}

/* Every quarter second: connections whose request has been arriving for longer than the
 * deadline are shut down (libmicrohttpd then sees the end and frees the slot). */
static void *watchdog_main(void *arg)
{
    kms_http *server = arg;
    pthread_mutex_lock(&server->lock);
    while (!server->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000 * 1000;
        if (until.tv_nsec >= 1000 * 1000 * 1000) {
            until.tv_sec++;
            until.tv_nsec -= 1000 * 1000 * 1000;
        }
        pthread_cond_timedwait(&server->wake, &server->lock, &until);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        for (connection_entry *c = server->connections; c != NULL; c = c->next) {
            if (c->arrived || c->cut ||
                seconds_since(&c->since, &now) <= (double)server->config.request_timeout_s)
                continue;
            shutdown(c->fd, SHUT_RDWR);
            c->cut = true;
            if (server->config.log_requests)
                fprintf(stderr, "nsm-kms: a request took over %u s to arrive: its connection "
                        "was closed (--request-timeout)\n", server->config.request_timeout_s);
        }
    }
    pthread_mutex_unlock(&server->lock);
    return NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    const kms_http *server = cls;
    if (!server->config.log_requests)
        return;
    fputs("nsm-kms: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

int kms_http_start(const kms_http_config *config, kms_http **out, nsmkit_error *e)
{
    kms_http *server = calloc(1, sizeof(*server));
    if (server == NULL)
        return nsmkit_fail(e, "out of memory");
    server->config = *config;
    if (server->config.body_max == 0)
        server->config.body_max = KMS_HTTP_BODY_MAX;
    if (server->config.connection_limit == 0)
        server->config.connection_limit = KMS_HTTP_CONNECTIONS_DEFAULT;
    if (server->config.timeout_s == 0)
        server->config.timeout_s = KMS_HTTP_TIMEOUT_DEFAULT_S;
    if (server->config.threads == 0)
        server->config.threads = KMS_HTTP_THREADS_DEFAULT;
    if (server->config.request_timeout_s == 0)
        server->config.request_timeout_s = KMS_HTTP_REQUEST_TIMEOUT_DEFAULT_S;
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->wake, NULL);
    /* the pool's threads share the listening socket: it must not block any of them */
    int flags = fcntl(config->listen_fd, F_GETFL);
    if (flags < 0 || fcntl(config->listen_fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        free(server);
        return nsmkit_fail(e, "cannot make the listening socket non-blocking");
    }
    server->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_request, server, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, server,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)config->listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)server->config.threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)server->config.connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)server->config.timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, server, MHD_OPTION_END);
    if (server->daemon == NULL) {
        kms_http_stop(server);
        return nsmkit_fail(e, "libmicrohttpd could not start on the listening socket");
    }
    if (pthread_create(&server->watchdog, NULL, watchdog_main, server) != 0) {
        kms_http_stop(server);
        return nsmkit_fail(e, "cannot start the request deadline's thread");
    }
    server->watchdog_running = true;
    *out = server;
    return 0;
}

void kms_http_stop(kms_http *server)
{
    if (server == NULL)
        return;
    pthread_mutex_lock(&server->lock);
    server->stopping = true;
    pthread_cond_signal(&server->wake);
    pthread_mutex_unlock(&server->lock);
    if (server->watchdog_running)
        pthread_join(server->watchdog, NULL);
    if (server->daemon != NULL)
        MHD_stop_daemon(server->daemon);
    pthread_cond_destroy(&server->wake);
    pthread_mutex_destroy(&server->lock);
    free(server);
}
