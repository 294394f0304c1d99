/* SPDX-License-Identifier: Apache-2.0 */
/* The AF_VSOCK emulation (vsock/emu.c) called directly, as the shim and the supervisor
 * call it, on a temporary DIR: its sockets are AF_UNIX; no AF_VSOCK socket is ever made. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "../vsock/emu.h"
#include "testutil.h"

typedef struct {
    char *dir;
    vsemu emu;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_mkdtemp();
    nsmkit_error e;
    assert_int_equal(nsmvsock_net_open(&f->emu.net, f->dir, &e), NSMVSOCK_ERR_OK);
    f->emu.local_cid = 16;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    test_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static struct sockaddr_vm vm(unsigned cid, unsigned port)
{
    struct sockaddr_vm a;
    memset(&a, 0, sizeof(a));
    a.svm_family = AF_VSOCK;
    a.svm_cid = cid;
    a.svm_port = port;
    return a;
}

#define ADDR(a) ((uintptr_t) & (a))

static void bind_checks_the_address_as_the_kernel_does(void **state)
{
    fixture *f = *state;
    pid_t me = getpid();
    int s = vsemu_socket(&f->emu, SOCK_STREAM, 0);
    assert_true(s >= 0);
    assert_int_equal(vsemu_is_vsock(&f->emu, s), 1);
    struct sockaddr_vm a = vm(VMADDR_CID_ANY, 5005);
    assert_int_equal(vsemu_bind(&f->emu, s, me, ADDR(a), sizeof(a) - 1), -EINVAL);
    assert_int_equal(vsemu_bind(&f->emu, s, me, ADDR(a), -1), -EINVAL);
    assert_int_equal(vsemu_bind(&f->emu, s, me, ADDR(a), 4096), -EINVAL);
    assert_int_equal(vsemu_bind(&f->emu, s, me, 8, sizeof(a)), -EFAULT);
    struct sockaddr_vm bad = a;
    bad.svm_family = AF_INET;
    assert_int_equal(vsemu_bind(&f->emu, s, me, ADDR(bad), sizeof(bad)), -EINVAL);
    bad = a;
    bad.svm_flags = 0x80;
    assert_int_equal(vsemu_bind(&f->emu, s, me, ADDR(bad), sizeof(bad)), -EINVAL);
    bad = vm(17, 5005);
    assert_int_equal(vsemu_bind(&f->emu, s, me, ADDR(bad), sizeof(bad)), -EADDRNOTAVAIL);
    assert_int_equal(vsemu_bind(&f->emu, s, me, ADDR(a), sizeof(a)), 0);
    assert_int_equal(vsemu_bind(&f->emu, s, me, ADDR(a), sizeof(a)), -EINVAL); /* bound already */
    int t = vsemu_socket(&f->emu, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(vsemu_bind(&f->emu, t, me, ADDR(a), sizeof(a)), -EADDRINUSE);
    /* a plain unix socket is not the emulation's */
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(vsemu_is_vsock(&f->emu, u), 0);
    assert_int_equal(vsemu_bind(&f->emu, u, me, ADDR(a), sizeof(a)), VSEMU_PASS);
    assert_int_equal(vsemu_socket(&f->emu, SOCK_DGRAM, 0), -ESOCKTNOSUPPORT);
    assert_int_equal(vsemu_socket(&f->emu, SOCK_STREAM, 6), -EPROTONOSUPPORT);
    close(u);
    close(t);
    close(s);
}

static void listen_connect_accept_and_names(void **state)
{
    fixture *f = *state;
    pid_t me = getpid();
    int l = vsemu_socket(&f->emu, SOCK_STREAM, 0);
    struct sockaddr_vm a = vm(VMADDR_CID_ANY, 6000);
    assert_int_equal(vsemu_listen(&f->emu, l, 4), -EINVAL); /* not bound */
    assert_int_equal(vsemu_bind(&f->emu, l, me, ADDR(a), sizeof(a)), 0);
    assert_int_equal(vsemu_listen(&f->emu, l, 4), 0);
    int c = vsemu_socket(&f->emu, SOCK_STREAM, 0);
    struct sockaddr_vm to = vm(VMADDR_CID_HOST, 6000); /* CID 2 is this network's 3: nobody */
    assert_int_equal(vsemu_connect(&f->emu, c, me, ADDR(to), sizeof(to)), -ECONNREFUSED);
    c = vsemu_socket(&f->emu, SOCK_STREAM, 0);
    to = vm(16, 6000);
    assert_int_equal(vsemu_connect(&f->emu, c, me, ADDR(to), sizeof(to)), 0);
    assert_int_equal(vsemu_connect(&f->emu, c, me, ADDR(to), sizeof(to)), -EISCONN);
    assert_int_equal(vsemu_connect(&f->emu, l, me, ADDR(to), sizeof(to)), -EINVAL);

    struct sockaddr_vm mine, peer;
    int len = sizeof(mine);
    assert_int_equal(vsemu_getname(&f->emu, c, me, ADDR(mine), ADDR(len), 0), 0);
    assert_int_equal(mine.svm_cid, VMADDR_CID_ANY);
    assert_true(mine.svm_port >= 1024);
    len = sizeof(peer);
    assert_int_equal(vsemu_getname(&f->emu, c, me, ADDR(peer), ADDR(len), 1), 0);
    assert_int_equal(peer.svm_cid, 16);
    assert_int_equal(peer.svm_port, 6000);

    int conn = -1;
    len = 3; /* too short: truncated, the full length comes back */
    char small[3];
    assert_int_equal(vsemu_accept(&f->emu, l, me, ADDR(small), ADDR(len), 0, &conn), 0);
    assert_int_equal(len, (int)sizeof(struct sockaddr_vm));
    len = sizeof(peer);
    assert_int_equal(vsemu_getname(&f->emu, conn, me, ADDR(peer), ADDR(len), 1), 0);
    assert_int_equal(peer.svm_cid, 16);
    assert_int_equal(peer.svm_port, mine.svm_port);
    len = sizeof(mine);
    assert_int_equal(vsemu_getname(&f->emu, conn, me, ADDR(mine), ADDR(len), 0), 0);
    assert_int_equal(mine.svm_cid, 16);
    assert_int_equal(mine.svm_port, 6000);
    len = -1;
    assert_int_equal(vsemu_getname(&f->emu, conn, me, ADDR(mine), ADDR(len), 0), -EINVAL);
    assert_int_equal(vsemu_getname(&f->emu, conn, me, ADDR(mine), 8, 0), -EFAULT);
    int nb = -1;
    fcntl(l, F_SETFL, O_NONBLOCK); /* a non-blocking listener with nothing waiting */
    assert_int_equal(vsemu_accept(&f->emu, l, me, 0, 0, SOCK_NONBLOCK, &nb), -EAGAIN);
    fcntl(l, F_SETFL, 0);
    assert_int_equal(vsemu_accept(&f->emu, l, me, 0, 0, 0x4000000, &nb), -EINVAL);
    assert_int_equal(vsemu_accept(&f->emu, c, me, 0, 0, 0, &nb), -EINVAL); /* not listening */
    len = sizeof(peer);
    assert_int_equal(vsemu_getname(&f->emu, l, me, ADDR(peer), ADDR(len), 1), -ENOTCONN);
    assert_int_equal(write(c, "x", 1), 1);
    char b;
    assert_int_equal(read(conn, &b, 1), 1);
    close(conn);
    close(c);
    vsemu_closing(&f->emu, l);
    close(l);
    char path[NSMVSOCK_PATH_MAX];
    nsmvsock_net_listener_path(&f->emu.net, 16, 6000, path);
    assert_int_equal(access(path, F_OK), -1); /* the listener's name left with it */
}

static void options_as_vsock_gives_them(void **state)
{
    fixture *f = *state;
    pid_t me = getpid();
    int s = vsemu_socket(&f->emu, SOCK_STREAM, 0);
    unsigned long long v = 0;
    int len = sizeof(v);
    assert_int_equal(vsemu_getsockopt(&f->emu, s, me, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MIN_SIZE, ADDR(v), ADDR(len)), 0);
    assert_int_equal(v, 128);
    v = 64;
    assert_int_equal(vsemu_setsockopt(&f->emu, s, me, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MAX_SIZE, ADDR(v), sizeof(v)), 0);
    len = sizeof(v);
    assert_int_equal(vsemu_getsockopt(&f->emu, s, me, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, ADDR(v), ADDR(len)), 0);
    assert_int_equal(v, 64); /* size clamped to the new max, min lowered with it */
    assert_int_equal(vsemu_setsockopt(&f->emu, s, me, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, ADDR(v), 4), -EINVAL);
    assert_int_equal(vsemu_setsockopt(&f->emu, s, me, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, 8, sizeof(v)), -EFAULT);
    struct timeval tv = {.tv_sec = -1};
    assert_int_equal(vsemu_setsockopt(&f->emu, s, me, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, ADDR(tv), sizeof(tv)),
                     -ERANGE);
    tv.tv_sec = 0;
    assert_int_equal(vsemu_setsockopt(&f->emu, s, me, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, ADDR(tv), sizeof(tv)), 0);
    len = sizeof(tv);
    assert_int_equal(vsemu_getsockopt(&f->emu, s, me, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, ADDR(tv), ADDR(len)), 0);
    assert_int_equal(tv.tv_sec, 2); /* 0 means the default, 2 s */
    assert_int_equal(vsemu_getsockopt(&f->emu, s, me, AF_VSOCK, SO_VM_SOCKETS_TRUSTED, ADDR(v), ADDR(len)), -ENOPROTOOPT);
    int d = 0;
    len = sizeof(d);
    assert_int_equal(vsemu_getsockopt(&f->emu, s, me, SOL_SOCKET, SO_DOMAIN, ADDR(d), ADDR(len)), 0);
    assert_int_equal(d, AF_VSOCK);
    assert_int_equal(vsemu_getsockopt(&f->emu, s, me, SOL_SOCKET, SO_TYPE, ADDR(d), ADDR(len)), VSEMU_PASS);
    unsigned cid = 0;
    assert_int_equal(vsemu_get_local_cid(&f->emu, me, ADDR(cid)), 0);
    assert_int_equal(cid, 16);
    assert_int_equal(vsemu_get_local_cid(&f->emu, me, 8), -EFAULT);
    close(s);
}

/* A socket the table never saw (inherited across exec) is known by its names. */
static void a_socket_is_recognised_by_its_names(void **state)
{
    fixture *f = *state;
    int l = nsmvsock_net_listen(&f->emu.net, 16, 7000, 4, 0);
    assert_true(l >= 0);
    vsemu_sock s;
    assert_int_equal(vsemu_state(&f->emu, l, &s), 0);
    assert_true(s.listening);
    assert_int_equal(s.bound_port, 7000);
    int c = nsmvsock_net_connect(&f->emu.net, 5, 4444, 16, 7000, 1000, 0);
    assert_true(c >= 0);
    assert_int_equal(vsemu_state(&f->emu, c, &s), 0);
    assert_true(s.connected);
    assert_int_equal(s.bound_cid, 5);
    assert_int_equal(s.bound_port, 4444);
    assert_int_equal(s.peer_cid, 16);
    assert_int_equal(s.peer_port, 7000);
    close(c);
    close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(bind_checks_the_address_as_the_kernel_does, setup, teardown),
        cmocka_unit_test_setup_teardown(listen_connect_accept_and_names, setup, teardown),
        cmocka_unit_test_setup_teardown(options_as_vsock_gives_them, setup, teardown),
        cmocka_unit_test_setup_teardown(a_socket_is_recognised_by_its_names, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
