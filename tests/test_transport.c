/* SPDX-License-Identifier: Apache-2.0 */
/* Framing and the client side of the socket transport (frontends/transports/frame.c): every frame
 * status, timeouts, no SIGPIPE, and the per-process connection that survives fork,
 * closed or reused descriptors, and a restarted server. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../frontends/transports/client.h"
#include "../frontends/transports/frame.h"
#include "testutil.h"
#include "nsmkit/error.h"
#include "nsmkit/sim.h"

static void headers_are_little_endian(void **state)
{
    (void)state;
    uint8_t h[4];
    nsmsim_frame_header_encode(h, 0x01020304);
    assert_memory_equal(h, "\x04\x03\x02\x01", 4);
    assert_int_equal(nsmsim_frame_header_decode(h), 0x01020304);
    nsmsim_frame_header_encode(h, UINT32_MAX);
    assert_int_equal(nsmsim_frame_header_decode(h), UINT32_MAX);
}

static void frame_statuses(void **state)
{
    (void)state;
    int sv[2];
    uint8_t buf[64];
    size_t n;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(nsmsim_frame_write(sv[0], (const uint8_t *)"hello", 5, -1), NSMSIM_IO_OK);
    assert_int_equal(nsmsim_frame_write(sv[0], NULL, 0, -1), NSMSIM_IO_OK);
    assert_int_equal(nsmsim_frame_read(sv[1], buf, sizeof(buf), &n, 1000), NSMSIM_IO_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(nsmsim_frame_read(sv[1], buf, sizeof(buf), &n, -1), NSMSIM_IO_OK);
    assert_int_equal(n, 0);
    /* nothing arrives: a timeout, not a hang */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(nsmsim_frame_read(sv[1], buf, sizeof(buf), &n, 100), NSMSIM_IO_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 90);
    /* a declared length over the limit is refused before anything else is read */
    uint8_t big[65] = {0};
    assert_int_equal(nsmsim_frame_write(sv[0], big, sizeof(big), -1), NSMSIM_IO_OK);
    assert_int_equal(nsmsim_frame_read(sv[1], buf, 64, &n, 1000), NSMSIM_IO_TOO_LARGE);
    close(sv[0]);
    close(sv[1]);

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(send(sv[0], "\x08\x00\x00\x00" "abc", 7, 0), 7);
    close(sv[0]);
    assert_int_equal(nsmsim_frame_read(sv[1], buf, sizeof(buf), &n, 1000), NSMSIM_IO_SHORT);
    close(sv[1]);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(send(sv[0], "\x08\x00", 2, 0), 2);
    close(sv[0]);
    assert_int_equal(nsmsim_frame_read(sv[1], buf, sizeof(buf), &n, 1000), NSMSIM_IO_SHORT);
    close(sv[1]);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[0]);
    assert_int_equal(nsmsim_frame_read(sv[1], buf, sizeof(buf), &n, 1000), NSMSIM_IO_EOF);
    /* writing to a vanished peer is an error, not a SIGPIPE (SIGPIPE is left at default) */
    assert_int_equal(nsmsim_frame_write(sv[1], big, 8, 1000), NSMSIM_IO_ERROR);
    assert_int_equal(errno, EPIPE);
    close(sv[1]);

    /* descriptors that are not sockets: a pipe, as a virtio-serial port would be */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(nsmsim_frame_write(p[1], (const uint8_t *)"pipe", 4, 1000), NSMSIM_IO_OK);
    assert_int_equal(nsmsim_frame_read(p[0], buf, sizeof(buf), &n, 1000), NSMSIM_IO_OK);
    assert_int_equal(n, 4);
    close(p[0]);
    close(p[1]);
    for (int s = NSMSIM_IO_OK; s <= NSMSIM_IO_ERROR; s++)
        assert_string_not_equal(nsmsim_io_status_name((nsmsim_io_status)s), "unknown");
}

static void large_frames_through_a_nonblocking_socket(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    static uint8_t big[200000], back[200000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    pid_t pid = fork();
    if (pid == 0) {
        size_t n;
        bool ok = nsmsim_frame_read(sv[1], back, sizeof(back), &n, 5000) == NSMSIM_IO_OK &&
                  n == sizeof(big) && !memcmp(back, big, n);
        _exit(ok ? 0 : 1);
    }
    /* the writer meets EAGAIN many times and waits for room */
    assert_int_equal(nsmsim_frame_write(sv[0], big, sizeof(big), 5000), NSMSIM_IO_OK);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(sv[0]);
    close(sv[1]);
}

static void connect_errors(void **state)
{
    (void)state;
    nsmkit_error e;
    char longer[200];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(nsmsim_client_connect(longer, &e), -1);
    assert_non_null(strstr(e.msg, "too long"));
    assert_int_equal(nsmsim_client_connect("", &e), -1);
    assert_int_equal(nsmsim_client_connect("/nonexistent/nsm.sock", &e), -1);
    assert_non_null(strstr(e.msg, "cannot connect to /nonexistent/nsm.sock"));
}

/* ---- a tiny framing server for the remote tests: answers "re:" + request ------------ */

typedef struct {
    char path[100];
    int listen_fd;
    pthread_t thread;
    int accepted;
    bool silent; /* accept nothing, answer nothing */
    int conns[32];
    pthread_t conn_threads[32];
} tiny_server;

static void *tiny_answer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t req[NSM_REQUEST_MAX_SIZE], resp[NSM_RESPONSE_MAX_SIZE];
    size_t n;
    while (nsmsim_frame_read(fd, req, sizeof(req), &n, -1) == NSMSIM_IO_OK) {
        memcpy(resp, "re:", 3);
        memcpy(resp + 3, req, n);
        if (nsmsim_frame_write(fd, resp, n + 3, -1) != NSMSIM_IO_OK)
            break;
    }
    return NULL;
}

/* A thread per connection, until the listening socket is shut down. */
static void *tiny_serve(void *arg)
{
    tiny_server *t = arg;
    for (;;) {
        int fd = accept(t->listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        int k = __atomic_load_n(&t->accepted, __ATOMIC_SEQ_CST);
        if (k >= 32) {
            close(fd);
            continue;
        }
        /* Counted before the answering thread starts: a client that has its answer has
         * always been counted (counting after raced with the answer). */
        t->conns[k] = fd;
        __atomic_add_fetch(&t->accepted, 1, __ATOMIC_SEQ_CST);
        if (pthread_create(&t->conn_threads[k], NULL, tiny_answer, (void *)(intptr_t)fd) != 0)
            abort(); /* a test server that cannot answer is a broken test */
    }
    return NULL;
}

static void tiny_start(tiny_server *t, const char *dir, bool silent)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->path, sizeof(t->path), "%s/tiny.sock", dir);
    unlink(t->path);
    t->silent = silent;
    t->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", t->path);
    assert_int_equal(bind(t->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(t->listen_fd, 16), 0);
    if (!silent)
        assert_int_equal(pthread_create(&t->thread, NULL, tiny_serve, t), 0);
}

/* Stops listening and drops every connection, as a server that exits does. */
static void tiny_stop(tiny_server *t)
{
    shutdown(t->listen_fd, SHUT_RDWR);
    if (!t->silent)
        pthread_join(t->thread, NULL);
    for (int k = 0; k < t->accepted; k++) {
        shutdown(t->conns[k], SHUT_RDWR);
        pthread_join(t->conn_threads[k], NULL);
        close(t->conns[k]);
    }
    close(t->listen_fd);
    unlink(t->path);
}

static bool remote_says(nsmsim_remote *r, const char *msg)
{
    uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    size_t n = 0;
    int err = nsmsim_remote_handler(r, (const uint8_t *)msg, strlen(msg), resp, &n);
    return err == 0 && n == 3 + strlen(msg) && !memcmp(resp, "re:", 3);
}

static void remote_connection_lifecycle(void **state)
{
    (void)state;
    char *dir = test_mkdtemp();
    tiny_server t;
    tiny_start(&t, dir, false);
    nsmsim_remote r;
    nsmkit_error e;
    assert_int_equal(nsmsim_remote_init(&r, t.path, 2000, NULL, &e), 0);
    assert_true(remote_says(&r, "one"));
    assert_true(remote_says(&r, "two"));
    assert_int_equal(t.accepted, 1); /* one connection, reused */

    /* the program closes our descriptor behind our back: a new connection */
    int old = r.fd;
    close(old);
    assert_true(remote_says(&r, "three"));
    /* the number now belongs to one of the program's files: it is left alone */
    int mine = open("/dev/null", O_RDONLY);
    assert_int_equal(dup2(mine, r.fd), r.fd);
    int clobbered = r.fd;
    assert_true(remote_says(&r, "four"));
    assert_int_not_equal(r.fd, clobbered);
    assert_int_equal(fcntl(clobbered, F_GETFD), 0); /* still open, still the program's */
    close(clobbered);
    close(mine);
    int before = __atomic_load_n(&t.accepted, __ATOMIC_SEQ_CST);
    assert_true(before >= 3);

    /* a forked child never shares the parent's stream */
    pid_t pid = fork();
    if (pid == 0)
        _exit(remote_says(&r, "child") ? 0 : 1);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(remote_says(&r, "parent"));
    /* the child made its own connection; the parent kept its one */
    assert_int_equal(__atomic_load_n(&t.accepted, __ATOMIC_SEQ_CST), before + 1);

    /* the server restarts: the first request after it still goes through (one retry) */
    tiny_stop(&t);
    tiny_start(&t, dir, false);
    assert_true(remote_says(&r, "after restart"));
    assert_int_equal(t.accepted, 1);
    tiny_stop(&t);
    nsmsim_remote_close(&r);
    test_rmdir(dir);
    free(dir);
}

static void remote_failures(void **state)
{
    (void)state;
    char *dir = test_mkdtemp();
    char path[256];
    snprintf(path, sizeof(path), "%s/nobody.sock", dir);
    nsmsim_remote r;
    nsmkit_error e;
    assert_int_equal(nsmsim_remote_init(&r, path, 2000, NULL, &e), 0);
    uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    size_t n;
    errno = 4321;
    assert_int_equal(nsmsim_remote_handler(&r, (const uint8_t *)"x", 1, resp, &n), EIO);
    assert_int_equal(errno, 4321);
    assert_true(r.failing); /* the one log line has been written */
    nsmsim_remote_close(&r);

    /* a server that accepts through its backlog and never answers */
    tiny_server t;
    tiny_start(&t, dir, true);
    assert_int_equal(nsmsim_remote_init(&r, t.path, 150, NULL, &e), 0);
    assert_int_equal(nsmsim_remote_handler(&r, (const uint8_t *)"x", 1, resp, &n), ETIMEDOUT);
    assert_int_equal(r.fd, -1); /* a late answer must not be read as the next one's */
    nsmsim_remote_close(&r);
    tiny_stop(&t);

    char longer[200];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(nsmsim_remote_init(&r, longer, 100, NULL, &e), -1);
    test_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(headers_are_little_endian),
        cmocka_unit_test(frame_statuses),
        cmocka_unit_test(large_frames_through_a_nonblocking_socket),
        cmocka_unit_test(connect_errors),
        cmocka_unit_test(remote_connection_lifecycle),
        cmocka_unit_test(remote_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
