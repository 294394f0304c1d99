/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small AF_VSOCK program for tests/it_vsock.sh, built dynamic (the LD_PRELOAD shim's
 * case) and with gcc -static (the seccomp supervisor's case). It only ever runs under
 * `nsm-vsock exec`, and every mode that touches a socket first checks that the local CID
 * is the emulated one given in $VSOCK_TOOL_CID (refusing to go on otherwise), so that it
 * can never reach a real vsock.
 *
 *   vsock_tool cid N                 exit 0 when IOCTL_VM_SOCKETS_GET_LOCAL_CID says N
 *   vsock_tool listen PORT [COUNT]   accepts COUNT connections (1), prints each peer
 *                                    "peer CID PORT" and echoes what it sends
 *   vsock_tool connect CID PORT MSG  prints "local CID PORT", "remote CID PORT" and the echo
 *   vsock_tool errno connect CID PORT  prints the errno name of connect (or "ok")
 *   vsock_tool semantics             checks the calls' errors and options, prints ok lines
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/vm_sockets.h>

static int failures;

static void check(int ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    if (!ok)
        failures++;
}

static long local_cid(void)
{
    int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    unsigned int cid = 0;
    int rc = ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid);
    close(fd);
    return rc == 0 ? (long)cid : -1;
}

/* Refuses to touch a socket unless the emulated CID is in place. */
static void require_emulation(void)
{
    const char *want = getenv("VSOCK_TOOL_CID");
    long cid = local_cid();
    if (want == NULL || cid < 0 || cid != strtol(want, NULL, 10)) {
        fprintf(stderr, "vsock_tool: local CID %ld is not the emulated %s: refusing to run\n", cid,
                want ? want : "(VSOCK_TOOL_CID unset)");
        exit(3);
    }
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

static const char *errname(int e)
{
    switch (e) {
    case 0: return "ok";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EADDRINUSE: return "EADDRINUSE";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    default: return strerror(e);
    }
}

static int do_listen(unsigned port, int count)
{
    int l = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_vm a = vm(VMADDR_CID_ANY, port);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 16) != 0) {
        printf("listen: %s\n", errname(errno));
        return 1;
    }
    printf("listening %u\n", port);
    fflush(stdout);
    for (int i = 0; i < count; i++) {
        struct sockaddr_vm peer;
        socklen_t len = sizeof(peer);
        int c = accept(l, (struct sockaddr *)&peer, &len);
        if (c < 0)
            return 1;
        printf("peer %u %u\n", peer.svm_cid, peer.svm_port);
        fflush(stdout);
        char buf[4096];
        ssize_t n;
        while ((n = read(c, buf, sizeof(buf))) > 0)
            if (write(c, buf, (size_t)n) != n)
                break;
        close(c);
    }
    close(l);
    return 0;
}

static int do_connect(unsigned cid, unsigned port, const char *msg)
{
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm a = vm(cid, port), got;
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
        printf("connect: %s\n", errname(errno));
        return 1;
    }
    socklen_t len = sizeof(got);
    getsockname(s, (struct sockaddr *)&got, &len);
    printf("local %u %u\n", got.svm_cid, got.svm_port);
    len = sizeof(got);
    getpeername(s, (struct sockaddr *)&got, &len);
    printf("remote %u %u\n", got.svm_cid, got.svm_port);
    size_t n = strlen(msg);
    if (write(s, msg, n) != (ssize_t)n)
        return 1;
    shutdown(s, SHUT_WR);
    char buf[4096];
    ssize_t r, total = 0;
    while ((r = read(s, buf + total, sizeof(buf) - 1 - (size_t)total)) > 0)
        total += r;
    buf[total] = '\0';
    printf("echo %s\n", buf);
    close(s);
    return 0;
}

static int connect_errno(unsigned cid, unsigned port)
{
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm a = vm(cid, port);
    int rc = connect(s, (struct sockaddr *)&a, sizeof(a));
    printf("%s\n", errname(rc == 0 ? 0 : errno));
    close(s);
    return 0;
}

static void semantics_addresses(void)
{
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    check(s >= 0, "socket(AF_VSOCK, SOCK_STREAM)");
    int d = -1;
    socklen_t dl = sizeof(d);
    check(getsockopt(s, SOL_SOCKET, SO_DOMAIN, &d, &dl) == 0 && d == AF_VSOCK, "SO_DOMAIN is AF_VSOCK");
    struct sockaddr_vm a = vm(VMADDR_CID_ANY, 40001);
    check(bind(s, (struct sockaddr *)&a, sizeof(a) - 1) != 0 && errno == EINVAL, "bind with a short sockaddr: EINVAL");
    check(bind(s, (struct sockaddr *)(uintptr_t)8, sizeof(a)) != 0 && errno == EFAULT, "bind with a bad pointer: EFAULT");
    struct sockaddr_vm wrong = vm(12345, 40001);
    check(bind(s, (struct sockaddr *)&wrong, sizeof(wrong)) != 0 && errno == EADDRNOTAVAIL,
          "bind to another CID: EADDRNOTAVAIL");
    check(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0, "bind (ANY, 40001)");
    check(listen(s, 4) == 0, "listen");
    int t = socket(AF_VSOCK, SOCK_STREAM, 0);
    check(bind(t, (struct sockaddr *)&a, sizeof(a)) != 0 && errno == EADDRINUSE, "a second bind to 40001: EADDRINUSE");
    struct sockaddr_vm got;
    socklen_t len = sizeof(got);
    check(getsockname(s, (struct sockaddr *)&got, &len) == 0 && len == sizeof(got) && got.svm_cid == VMADDR_CID_ANY &&
              got.svm_port == 40001,
          "getsockname of the listener: (ANY, 40001)");
    check(getsockname(s, (struct sockaddr *)(uintptr_t)8, &len) != 0 && errno == EFAULT, "getsockname to a bad pointer: EFAULT");
    len = sizeof(got);
    check(getpeername(s, (struct sockaddr *)&got, &len) != 0 && errno == ENOTCONN, "getpeername of a listener: ENOTCONN");
    struct sockaddr_vm any = vm(VMADDR_CID_ANY, VMADDR_PORT_ANY);
    check(bind(t, (struct sockaddr *)&any, sizeof(any)) == 0, "bind (ANY, PORT_ANY)");
    len = sizeof(got);
    check(getsockname(t, (struct sockaddr *)&got, &len) == 0 && got.svm_port >= 1024 && got.svm_port != VMADDR_PORT_ANY,
          "PORT_ANY picks an ephemeral port >= 1024");
    close(t);

    /* a connection to ourselves: CID 1 is the local CID, and the acceptor sees our port */
    int c = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm self = vm(VMADDR_CID_LOCAL, 40001);
    check(connect(c, (struct sockaddr *)&self, sizeof(self)) == 0, "connect to (LOCAL, 40001)");
    check(connect(c, (struct sockaddr *)&self, sizeof(self)) != 0 && errno == EISCONN, "connect again: EISCONN");
    struct sockaddr_vm mine, peer;
    len = sizeof(mine);
    getsockname(c, (struct sockaddr *)&mine, &len);
    len = sizeof(peer);
    int acc = accept(s, (struct sockaddr *)&peer, &len);
    check(acc >= 0 && peer.svm_port == mine.svm_port && peer.svm_cid == strtoul(getenv("VSOCK_TOOL_CID"), NULL, 10),
          "accept: the peer is our CID and port");
    char small[4];
    len = 4;
    int acc2_fd = acc;
    check(getpeername(acc2_fd, (struct sockaddr *)small, &len) == 0 && len == sizeof(struct sockaddr_vm),
          "getpeername into 4 bytes: truncated, full length returned");
    struct pollfd p = {.fd = acc, .events = POLLIN};
    check(write(c, "hi", 2) == 2 && poll(&p, 1, 2000) == 1 && (p.revents & POLLIN), "poll sees the data");
    char buf[2];
    check(recv(acc, buf, 2, 0) == 2 && memcmp(buf, "hi", 2) == 0, "recv");
    close(c);
    check(recv(acc, buf, 2, 0) == 0, "EOF after the peer closed");
    close(acc);
    close(s);
}

static void semantics_options(void)
{
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    unsigned long long v = 0;
    socklen_t len = sizeof(v);
    check(getsockopt(s, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, &len) == 0 && v == 262144 && len == 8,
          "SO_VM_SOCKETS_BUFFER_SIZE is 262144");
    len = 4;
    check(getsockopt(s, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, &len) != 0 && errno == EINVAL,
          "a 4-byte buffer for it: EINVAL");
    v = 1 << 20;
    check(setsockopt(s, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MAX_SIZE, &v, sizeof(v)) == 0 &&
              setsockopt(s, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, sizeof(v)) == 0,
          "buffer max and size set to 1 MiB");
    len = sizeof(v);
    v = 0;
    check(getsockopt(s, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, &len) == 0 && v == 1 << 20, "and read back");
    struct timeval tv = {.tv_sec = 1, .tv_usec = 500000};
    check(setsockopt(s, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv)) == 0, "connect timeout set to 1.5 s");
    memset(&tv, 0, sizeof(tv));
    len = sizeof(tv);
    check(getsockopt(s, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, &len) == 0 && tv.tv_sec == 1 && tv.tv_usec == 500000,
          "and read back");
    tv.tv_usec = 2000000;
    check(setsockopt(s, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv)) != 0 && errno == ERANGE,
          "a timeout with 2,000,000 us: ERANGE");
    check(setsockopt(s, AF_VSOCK, 99, &v, sizeof(v)) != 0 && errno == ENOPROTOOPT, "an unknown option: ENOPROTOOPT");
    close(s);
}

static void semantics_connect(void)
{
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_vm nobody = vm(VMADDR_CID_HOST, 40999);
    check(connect(s, (struct sockaddr *)&nobody, sizeof(nobody)) != 0 && errno == ECONNREFUSED,
          "non-blocking connect to a port nobody listens on: ECONNREFUSED");
    close(s);
    s = socket(AF_VSOCK, SOCK_STREAM, 0);
    check(connect(s, (struct sockaddr *)&nobody, 3) != 0 && errno == EINVAL, "connect with a short sockaddr: EINVAL");
    struct sockaddr_in in = {.sin_family = AF_INET};
    check(connect(s, (struct sockaddr *)&in, sizeof(in)) != 0 && errno == EINVAL, "connect with an AF_INET sockaddr: EINVAL");
    check(socket(AF_VSOCK, SOCK_DGRAM, 0) < 0, "SOCK_DGRAM is refused");
    close(s);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "cid")) {
        long cid = local_cid();
        printf("local CID %ld\n", cid);
        return cid == strtol(argv[2], NULL, 10) ? 0 : 1;
    }
    require_emulation();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && !strcmp(argv[1], "listen"))
        return do_listen((unsigned)strtoul(argv[2], NULL, 10), argc >= 4 ? atoi(argv[3]) : 1);
    if (argc >= 5 && !strcmp(argv[1], "connect"))
        return do_connect((unsigned)strtoul(argv[2], NULL, 10), (unsigned)strtoul(argv[3], NULL, 10), argv[4]);
    if (argc >= 5 && !strcmp(argv[1], "errno") && !strcmp(argv[2], "connect"))
        return connect_errno((unsigned)strtoul(argv[3], NULL, 10), (unsigned)strtoul(argv[4], NULL, 10));
    if (argc >= 2 && !strcmp(argv[1], "semantics")) {
        semantics_addresses();
        semantics_options();
        semantics_connect();
        return failures != 0;
    }
    fprintf(stderr, "usage: see tests/vsock_tool.c\n");
    return 2;
}
