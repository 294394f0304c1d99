/* The socket server (nsm-sim/server.c) with a scripted handler: binding rules, framing,
 * many clients, and clients that misbehave. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../nsm-sim/frontend.h"
#include "testutil.h"
#include "nsmkit/error.h"
#include "nsmkit/file.h"

/* Answers "echo:" + the request; a request starting with 0xee makes the handler fail. */
static int echo(void *ctx, const uint8_t *req, size_t req_len, uint8_t resp[NSM_RESPONSE_MAX_SIZE],
                size_t *resp_len)
{
    (void)ctx;
    if (req_len > 0 && req[0] == 0xee)
        return ENOMEM;
    memcpy(resp, "echo:", 5);
    memcpy(resp + 5, req, req_len);
    *resp_len = 5 + req_len;
    return 0;
}

typedef struct {
    char *dir;
    char path[256];
    nsmsim_server *server;
    pthread_t thread;
    int stop[2];
    int result;
} harness;

static void *serve_thread(void *arg)
{
    harness *h = arg;
    nsmkit_error e;
    h->result = nsmsim_server_run(h->server, h->stop[0], &e);
    return NULL;
}

static harness *start(unsigned max_clients)
{
    harness *h = calloc(1, sizeof(*h));
    h->dir = test_mkdtemp();
    snprintf(h->path, sizeof(h->path), "%s/s", h->dir);
    nsmsim_server_options o = {.socket_path = h->path, .max_clients = max_clients,
                               .log_prefix = "test_server"};
    nsmkit_error e;
    if (nsmsim_server_open(&o, echo, NULL, &h->server, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(pipe(h->stop), 0);
    assert_int_equal(pthread_create(&h->thread, NULL, serve_thread, h), 0);
    return h;
}

static nsmsim_server_stats stop(harness *h)
{
    assert_int_equal(write(h->stop[1], "x", 1), 1);
    pthread_join(h->thread, NULL);
    assert_int_equal(h->result, 0);
    nsmsim_server_stats st = nsmsim_server_get_stats(h->server);
    nsmsim_server_close(h->server);
    struct stat sb;
    assert_int_equal(stat(h->path, &sb), -1); /* the socket is gone */
    close(h->stop[0]);
    close(h->stop[1]);
    test_rmdir(h->dir);
    free(h->dir);
    free(h);
    return st;
}

static int client(const harness *h)
{
    nsmkit_error e;
    int fd = nsmsim_client_connect(h->path, &e);
    if (fd < 0)
        fail_msg("%s", e.msg);
    return fd;
}

static bool roundtrip(int fd, const char *msg)
{
    uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    size_t n;
    if (nsmsim_frame_write(fd, (const uint8_t *)msg, strlen(msg), 5000) != NSMSIM_IO_OK ||
        nsmsim_frame_read(fd, resp, sizeof(resp), &n, 5000) != NSMSIM_IO_OK)
        return false;
    return n == 5 + strlen(msg) && !memcmp(resp, "echo:", 5) && !memcmp(resp + 5, msg, n - 5);
}

/* True when the server closes the connection (EOF or reset). */
static bool closed(int fd)
{
    uint8_t c;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t r = recv(fd, &c, 1, 0);
    return r == 0 || (r < 0 && errno == ECONNRESET);
}

static void serves_many_clients(void **state)
{
    (void)state;
    harness *h = start(0);
    struct stat sb;
    assert_int_equal(stat(h->path, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0600);
    int fds[10];
    for (int i = 0; i < 10; i++)
        fds[i] = client(h);
    for (int round = 0; round < 5; round++)
        for (int i = 9; i >= 0; i--)
            assert_true(roundtrip(fds[i], round % 2 ? "hello" : ""));
    /* the largest request */
    static uint8_t big[NSM_REQUEST_MAX_SIZE];
    static uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    size_t n;
    memset(big, 'b', sizeof(big));
    assert_int_equal(nsmsim_frame_write(fds[0], big, sizeof(big), 5000), NSMSIM_IO_OK);
    assert_int_equal(nsmsim_frame_read(fds[0], resp, sizeof(resp), &n, 5000), NSMSIM_IO_OK);
    assert_int_equal(n, 5 + sizeof(big));
    for (int i = 0; i < 10; i++)
        close(fds[i]);
    nsmsim_server_stats st = stop(h);
    assert_int_equal(st.requests, 51);
    assert_int_equal(st.accepted, 10);
    assert_int_equal(st.dropped, 0);
}

static void misbehaving_clients_are_dropped(void **state)
{
    (void)state;
    harness *h = start(0);
    int good = client(h);

    int fd = client(h); /* a length over the limit */
    assert_int_equal(send(fd, "\x01\x10\x00\x00", 4, MSG_NOSIGNAL), 4);
    assert_true(closed(fd));
    close(fd);
    fd = client(h); /* a frame cut short */
    assert_int_equal(send(fd, "\x05\x00\x00\x00" "ab", 6, MSG_NOSIGNAL), 6);
    shutdown(fd, SHUT_WR);
    assert_true(closed(fd));
    close(fd);
    fd = client(h); /* half a header */
    assert_int_equal(send(fd, "\x05\x00", 2, MSG_NOSIGNAL), 2);
    shutdown(fd, SHUT_WR);
    assert_true(closed(fd));
    close(fd);
    fd = client(h); /* the handler cannot answer */
    assert_int_equal(nsmsim_frame_write(fd, (const uint8_t *)"\xee", 1, 5000), NSMSIM_IO_OK);
    assert_true(closed(fd));
    close(fd);
    fd = client(h); /* a stalled half frame stays open and bothers no one */
    assert_int_equal(send(fd, "\x05\x00\x00\x00" "a", 5, MSG_NOSIGNAL), 5);
    assert_true(roundtrip(good, "still here"));
    close(fd);
    /* a quiet goodbye between frames is not misbehaving */
    int quiet = client(h);
    assert_true(roundtrip(quiet, "bye"));
    close(quiet);
    assert_true(roundtrip(good, "still here"));
    close(good);
    nsmsim_server_stats st = stop(h);
    assert_int_equal(st.dropped, 5);
    assert_int_equal(st.requests, 3);
}

static void client_limit(void **state)
{
    (void)state;
    harness *h = start(2);
    int a = client(h), b = client(h);
    assert_true(roundtrip(a, "a") && roundtrip(b, "b"));
    int c = client(h); /* connects through the backlog, then is refused */
    assert_true(closed(c));
    close(c);
    close(b);
    /* a slot freed is a slot for the next one */
    int d = -1;
    for (int i = 0; i < 50; i++) {
        d = client(h);
        if (roundtrip(d, "d"))
            break;
        close(d);
        d = -1;
        usleep(20000);
    }
    assert_true(d >= 0);
    close(d);
    close(a);
    stop(h);
}

static void binding_rules(void **state)
{
    (void)state;
    char *dir = test_mkdtemp();
    char path[512];
    nsmkit_error e;
    nsmsim_server *s = NULL;
    nsmsim_server_options o = {.socket_path = path};

    snprintf(path, sizeof(path), "%s/missing/s", dir);
    assert_int_equal(nsmsim_server_open(&o, echo, NULL, &s, &e), -1);
    assert_non_null(strstr(e.msg, "cannot bind"));
    assert_non_null(strstr(e.msg, "No such file or directory"));

    char longer[200];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    snprintf(path, sizeof(path), "%s/%s", dir, longer);
    assert_int_equal(nsmsim_server_open(&o, echo, NULL, &s, &e), -1);
    assert_non_null(strstr(e.msg, "too long"));

    snprintf(path, sizeof(path), "%s/file", dir);
    assert_int_equal(nsmkit_file_write(path, (const uint8_t *)"x", 1, 0600, &e), 0);
    assert_int_equal(nsmsim_server_open(&o, echo, NULL, &s, &e), -1);
    assert_non_null(strstr(e.msg, "is not a socket"));

    /* a live server keeps its socket; a dead one's socket is replaced */
    snprintf(path, sizeof(path), "%s/s", dir);
    nsmsim_server *first = NULL, *second = NULL;
    assert_int_equal(nsmsim_server_open(&o, echo, NULL, &first, &e), 0);
    assert_int_equal(nsmsim_server_open(&o, echo, NULL, &second, &e), -1);
    assert_non_null(strstr(e.msg, "another server is listening"));
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s/stale", dir);
    assert_int_equal(bind(stale, (struct sockaddr *)&a, sizeof(a)), 0);
    close(stale); /* a socket file nobody listens on */
    char stale_path[512];
    snprintf(stale_path, sizeof(stale_path), "%s/stale", dir);
    nsmsim_server_options o2 = {.socket_path = stale_path};
    assert_int_equal(nsmsim_server_open(&o2, echo, NULL, &second, &e), 0);
    nsmsim_server_close(second);

    /* closing removes only our own socket file */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(nsmkit_file_write(path, (const uint8_t *)"y", 1, 0600, &e), 0);
    nsmsim_server_close(first);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    test_rmdir(dir);
    free(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(serves_many_clients),
        cmocka_unit_test(misbehaving_clients_are_dropped),
        cmocka_unit_test(client_limit),
        cmocka_unit_test(binding_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
