/* SPDX-License-Identifier: Apache-2.0 */
/* The emulated vsock network (vsock/net.c) on a temporary DIR: unix sockets only, no
 * AF_VSOCK anywhere in this file. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "nsmkit/vsock_net.h"
#include "testutil.h"

static void open_dir(nsmvsock_net *net, const char *dir)
{
    nsmkit_error e;
    assert_int_equal(nsmvsock_net_open(net, dir, &e), NSMVSOCK_ERR_OK);
}

static void dir_is_created_0700_and_checked(void **state)
{
    (void)state;
    char *tmp = test_mkdtemp();
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/net", tmp);
    nsmvsock_net net;
    nsmkit_error e;
    assert_int_equal(nsmvsock_net_open(&net, dir, &e), NSMVSOCK_ERR_OK);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    chmod(dir, 0777);
    assert_int_equal(nsmvsock_net_open(&net, dir, &e), NSMVSOCK_ERR_DIR_UNSAFE);
    assert_non_null(strstr(e.msg, "writable by others"));
    chmod(dir, 0700);

    char longdir[200];
    memset(longdir, 'a', sizeof(longdir));
    longdir[0] = '/';
    longdir[NSMVSOCK_DIR_MAX + 1] = '\0';
    assert_int_equal(nsmvsock_net_open(&net, longdir, &e), NSMVSOCK_ERR_DIR_TOO_LONG);
    assert_non_null(strstr(e.msg, "too long"));
    /* a file where the directory should be */
    char file[600];
    snprintf(file, sizeof(file), "%s/f", tmp);
    close(open(file, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(nsmvsock_net_open(&net, file, &e), NSMVSOCK_ERR_DIR_CREATE);
    assert_int_equal(nsmvsock_net_open(&net, "", &e), NSMVSOCK_ERR_DIR_TOO_LONG);
    test_rmdir(tmp);
    free(tmp);
}

static void default_dir_follows_the_environment(void **state)
{
    (void)state;
    char out[256];
    nsmkit_error e;
    setenv("NSM_VSOCK_DIR", "/x/y", 1);
    assert_int_equal(nsmvsock_net_default_dir(out, sizeof(out), &e), 0);
    assert_string_equal(out, "/x/y");
    unsetenv("NSM_VSOCK_DIR");
    setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
    assert_int_equal(nsmvsock_net_default_dir(out, sizeof(out), &e), 0);
    char want[64];
    snprintf(want, sizeof(want), "/run/user/7/nsmkit-vsock-%u", (unsigned)getuid());
    assert_string_equal(out, want);
    unsetenv("XDG_RUNTIME_DIR");
    assert_int_equal(nsmvsock_net_default_dir(out, sizeof(out), &e), 0);
    snprintf(want, sizeof(want), "/tmp/nsmkit-vsock-%u", (unsigned)getuid());
    assert_string_equal(out, want);
    assert_int_equal(nsmvsock_net_default_dir(out, 8, &e), -1);
}

static void names_parse_strictly(void **state)
{
    (void)state;
    uint32_t c = 0, p = 0;
    const char *good = "/d/16.5005.peer";
    assert_int_equal(nsmvsock_peer_name_parse(good, strlen(good), &c, &p), 0);
    assert_int_equal(c, 16);
    assert_int_equal(p, 5005);
    assert_int_equal(nsmvsock_peer_name_parse("4294967295.4294967294.peer", 26, &c, &p), 0);
    assert_int_equal(c, 4294967295u);
    assert_int_equal(p, 4294967294u);
    const char *bad[] = {"16.5005",       "016.5.peer",   "16.05.peer",       ".5.peer",
                         "16..peer",      "16.5.5.peer",  "4294967296.1.peer", "a.1.peer",
                         "16.5.peerx",    "",             "/d/.peer",         "1 .2.peer",
                         "12345678901.1.peer"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(nsmvsock_peer_name_parse(bad[i], strlen(bad[i]), &c, &p), -1);
    /* the length bounds the name even without a NUL */
    assert_int_equal(nsmvsock_peer_name_parse("3.4.peerZZZ", 8, &c, &p), 0);
    assert_int_equal(nsmvsock_peer_name_parse(NULL, 0, &c, &p), -1);
    assert_int_equal(nsmvsock_listener_name_parse("/d/3.9000", 9, &c, &p), 0);
    assert_int_equal(c, 3);
    assert_int_equal(p, 9000);
    assert_int_equal(nsmvsock_listener_name_parse("/d/3.9000.peer", 14, &c, &p), -1);

    uint32_t n = 0;
    assert_int_equal(nsmvsock_ok_line_parse("OK 1073741824\n", 14, &n), 0);
    assert_int_equal(n, 1073741824u);
    const char *badline[] = {"OK\n", "OK 1", "OK 01\n", "ok 1\n", "OK 1 \n", "OK -1\n",
                             "OK 4294967296\n", "OK  1\n", "FAIL 1\n"};
    for (size_t i = 0; i < sizeof(badline) / sizeof(badline[0]); i++)
        assert_int_equal(nsmvsock_ok_line_parse(badline[i], strlen(badline[i]), &n), -1);
}

static void ephemeral_ports_are_not_reserved(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++) {
        uint32_t p = nsmvsock_ephemeral_port();
        assert_true(p >= NSMVSOCK_FIRST_EPHEMERAL);
        assert_true(p != NSMVSOCK_PORT_ANY);
    }
}

static void listen_connect_and_peer_names(void **state)
{
    (void)state;
    char *tmp = test_mkdtemp();
    nsmvsock_net net;
    open_dir(&net, tmp);
    int l = nsmvsock_net_listen(&net, 16, 5005, 8, SOCK_CLOEXEC);
    assert_true(l >= 0);
    assert_int_equal(nsmvsock_net_port_alive(&net, 16, 5005), 1);
    assert_int_equal(nsmvsock_net_listen(&net, 16, 5005, 8, 0), -EADDRINUSE);

    int c = nsmvsock_net_connect(&net, 5, 7777, 16, 5005, 1000, SOCK_CLOEXEC);
    assert_true(c >= 0);
    int a = accept(l, NULL, NULL);
    assert_true(a >= 0);
    uint32_t cid, port;
    nsmvsock_net_peer_of(a, &cid, &port);
    assert_int_equal(cid, 5);
    assert_int_equal(port, 7777);
    /* the .peer name is gone once connect() returned */
    char peer[NSMVSOCK_PATH_MAX];
    nsmvsock_net_peer_path(&net, 5, 7777, peer);
    assert_int_equal(access(peer, F_OK), -1);
    assert_int_equal(write(c, "x", 1), 1);
    char b;
    assert_int_equal(read(a, &b, 1), 1);
    close(a);
    close(c);

    /* a plain host tool: CID 2 and a fresh port each time */
    char path[NSMVSOCK_PATH_MAX];
    nsmvsock_net_listener_path(&net, 16, 5005, path);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, path);
    uint32_t ports[2];
    for (int i = 0; i < 2; i++) {
        int h = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_int_equal(connect(h, (struct sockaddr *)&sun, sizeof(sun)), 0);
        a = accept(l, NULL, NULL);
        nsmvsock_net_peer_of(a, &cid, &ports[i]);
        assert_int_equal(cid, NSMVSOCK_CID_HOST);
        close(a);
        close(h);
    }
    assert_int_not_equal(ports[0], ports[1]);

    /* nobody on that port, or that CID */
    assert_int_equal(nsmvsock_net_connect(&net, 5, NSMVSOCK_PORT_ANY, 16, 5006, 1000, 0),
                     -ECONNREFUSED);
    assert_int_equal(nsmvsock_net_connect(&net, 5, NSMVSOCK_PORT_ANY, 17, 5005, 1000, 0),
                     -ECONNREFUSED);
    nsmvsock_net_unlisten(&net, l, 16, 5005);
    close(l);
    assert_int_equal(access(path, F_OK), -1);
    test_rmdir(tmp);
    free(tmp);
}

static void stale_listener_is_replaced_and_cid_2_is_3(void **state)
{
    (void)state;
    char *tmp = test_mkdtemp();
    nsmvsock_net net;
    open_dir(&net, tmp);
    int l = nsmvsock_net_listen(&net, 3, 9000, 8, 0);
    assert_true(l >= 0);
    close(l); /* its file stays: stale */
    assert_int_equal(nsmvsock_net_port_alive(&net, 3, 9000), 0);
    assert_int_equal(nsmvsock_net_connect(&net, 16, NSMVSOCK_PORT_ANY, 3, 9000, 1000, 0),
                     -ECONNREFUSED);
    l = nsmvsock_net_listen(&net, 3, 9000, 8, 0);
    assert_true(l >= 0);
    int c = nsmvsock_net_connect(&net, 16, NSMVSOCK_PORT_ANY, NSMVSOCK_CID_HOST, 9000, 1000, 0);
    assert_true(c >= 0);
    int a = accept(l, NULL, NULL);
    uint32_t cid, port;
    nsmvsock_net_peer_of(a, &cid, &port);
    assert_int_equal(cid, 16);
    assert_true(port >= NSMVSOCK_FIRST_EPHEMERAL);
    close(a);
    close(c);
    close(l);
    test_rmdir(tmp);
    free(tmp);
}

/* A stand-in for a guest's device socket: answers one CONNECT with `answer`, then echoes
 * one byte. */
struct device {
    int fd;
    const char *answer;
    char request[64];
};

static void *device_main(void *arg)
{
    struct device *d = arg;
    int a = accept(d->fd, NULL, NULL);
    size_t n = 0;
    while (n + 1 < sizeof(d->request) && read(a, d->request + n, 1) == 1 && d->request[n] != '\n')
        n++;
    d->request[n] = '\0';
    if (write(a, d->answer, strlen(d->answer)) < 0)
        d->request[0] = '!';
    char b;
    if (d->answer[0] == 'O' && read(a, &b, 1) == 1 && write(a, &b, 1) != 1)
        d->request[0] = '!';
    close(a);
    return NULL;
}

static void device_socket_fallback(const char *answer, int want)
{
    char *tmp = test_mkdtemp();
    nsmvsock_net net;
    open_dir(&net, tmp);
    char path[NSMVSOCK_PATH_MAX];
    nsmvsock_net_device_path(&net, 16, path);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, path);
    struct device d = {.fd = socket(AF_UNIX, SOCK_STREAM, 0), .answer = answer};
    assert_int_equal(bind(d.fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(listen(d.fd, 4), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, device_main, &d), 0);
    int c = nsmvsock_net_connect(&net, 3, NSMVSOCK_PORT_ANY, 16, 5005, 2000, 0);
    if (want == 0) {
        assert_true(c >= 0);
        char b = 'z';
        assert_int_equal(write(c, &b, 1), 1);
        b = 0;
        assert_int_equal(read(c, &b, 1), 1);
        assert_int_equal(b, 'z');
        close(c);
    } else {
        assert_int_equal(c, want);
    }
    pthread_join(t, NULL);
    assert_string_equal(d.request, "CONNECT 5005");
    close(d.fd);
    test_rmdir(tmp);
    free(tmp);
}

static void device_socket_ok(void **state)
{
    (void)state;
    device_socket_fallback("OK 1073741824\n", 0);
}

/* A stale DIR/16.5005 (its listener gone) does not hide the guest's device socket. */
static void stale_listener_falls_back_to_the_device(void **state)
{
    (void)state;
    char *tmp = test_mkdtemp();
    nsmvsock_net net;
    open_dir(&net, tmp);
    int l = nsmvsock_net_listen(&net, 16, 5005, 4, 0);
    assert_true(l >= 0);
    close(l); /* stale now */
    char path[NSMVSOCK_PATH_MAX];
    nsmvsock_net_device_path(&net, 16, path);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, path);
    struct device d = {.fd = socket(AF_UNIX, SOCK_STREAM, 0), .answer = "OK 7\n"};
    assert_int_equal(bind(d.fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(listen(d.fd, 4), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, device_main, &d), 0);
    int c = nsmvsock_net_connect(&net, 3, 4000, 16, 5005, 2000, 0);
    assert_true(c >= 0);
    char b = 'q';
    assert_int_equal(write(c, &b, 1), 1);
    assert_int_equal(read(c, &b, 1), 1);
    assert_int_equal(b, 'q');
    close(c);
    pthread_join(t, NULL);
    assert_string_equal(d.request, "CONNECT 5005");
    close(d.fd);
    test_rmdir(tmp);
    free(tmp);
}

static void device_socket_refusal_is_a_reset(void **state)
{
    (void)state;
    device_socket_fallback("", -ECONNRESET);
    device_socket_fallback("NO\n", -ECONNRESET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dir_is_created_0700_and_checked),
        cmocka_unit_test(default_dir_follows_the_environment),
        cmocka_unit_test(names_parse_strictly),
        cmocka_unit_test(ephemeral_ports_are_not_reserved),
        cmocka_unit_test(listen_connect_and_peer_names),
        cmocka_unit_test(stale_listener_is_replaced_and_cid_2_is_3),
        cmocka_unit_test(device_socket_ok),
        cmocka_unit_test(stale_listener_falls_back_to_the_device),
        cmocka_unit_test(device_socket_refusal_is_a_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
