/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vsock_guest: a small static AF_VSOCK client and server for QEMU guests served by
 * `nsm-vsock vhost-user` (tests/it_qemu_vsock.sh and the guest benchmark).
 *
 *   vsock_guest cid                              print the local CID
 *   vsock_guest --cid N send CID PORT TEXT       connect, send TEXT, half-close, print the reply
 *   vsock_guest --cid N heartbeat                AWS init's heartbeat: 0xB7 to CID 3 port 9000,
 *                                                expects 0xB7 back
 *   vsock_guest --cid N serve PORT COUNT         accept COUNT connections one at a time, answer
 *                                                each with "guest:" and the bytes it sent
 *   vsock_guest --cid N rtt CID PORT COUNT SIZE  COUNT echoes of SIZE bytes: the median in us
 *   vsock_guest --cid N blast CID PORT MIB       MIB MiB one way, then a one-line answer: MiB/s
 *   vsock_guest --cid N recv CID PORT            reads until EOF: "recv bytes=N sum=S" (S: the
 *                                                bytes' sum mod 2^32)
 *   vsock_guest serial-rtt PORTDEV COUNT SIZE    the same echo over a virtio-serial port
 *   vsock_guest serial-blast PORTDEV MIB         the same one-way stream over virtio-serial
 *
 * Safety: every network command first reads the local CID with
 * IOCTL_VM_SOCKETS_GET_LOCAL_CID and refuses to go on unless it is the N given with
 * --cid, the CID the test configured on its own backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what)
{
    fprintf(stderr, "vsock_guest: %s: %s\n", what, strerror(errno));
    return 1;
}

static long local_cid(void)
{
    int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
    unsigned int cid = 0;
    if (fd < 0)
        return -1;
    int rc = ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid);
    close(fd);
    return rc == 0 ? (long)cid : -1;
}

static int vconnect(unsigned cid, unsigned port)
{
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t k = write(fd, (const char *)p + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t k = read(fd, (char *)p + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    return 0;
}

static void copy_to_stdout(int fd)
{
    char buf[4096];
    ssize_t k;
    while ((k = read(fd, buf, sizeof buf)) > 0)
        (void)!write(1, buf, (size_t)k);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* COUNT echoes of SIZE bytes over fd; prints the median. */
static int rtt(int fd, int count, size_t size, const char *label)
{
    char *buf = calloc(1, size);
    double *t = calloc((size_t)count, sizeof *t);
    if (!buf || !t || count < 1)
        return 2;
    memset(buf, 0xa5, size);
    for (int i = 0; i < count; i++) {
        double s = now_us();
        if (write_all(fd, buf, size) != 0 || read_all(fd, buf, size) != 0)
            return die("echo");
        t[i] = now_us() - s;
    }
    qsort(t, (size_t)count, sizeof *t, cmp_double);
    printf("%s rtt_us=%.0f n=%d size=%zu\n", label, t[count / 2], count, size);
    free(buf);
    free(t);
    return 0;
}

/* MIB MiB one way, then waits for the receiver's one-line answer. */
static int blast(int fd, int mib, const char *label, int half_close)
{
    static char buf[65536];
    memset(buf, 0x5a, sizeof buf);
    double s = now_us();
    for (int i = 0; i < mib * 16; i++)
        if (write_all(fd, buf, sizeof buf) != 0)
            return die("blast");
    if (half_close)
        shutdown(fd, SHUT_WR);
    char line[64] = { 0 };
    for (size_t n = 0; n + 1 < sizeof line; n++)
        if (read(fd, line + n, 1) != 1 || line[n] == '\n')
            break;
    double us = now_us() - s;
    printf("%s throughput_mib_s=%.1f mib=%d ack=%s", label, mib / (us / 1e6), mib,
           line[0] ? line : "none\n");
    return 0;
}

static int serve(unsigned port, int count)
{
    int l = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 8) != 0)
        return die("listen");
    printf("listening %u\n", port);
    fflush(stdout);
    for (int i = 0; i < count; i++) {
        struct sockaddr_vm peer;
        socklen_t len = sizeof peer;
        int c = accept(l, (struct sockaddr *)&peer, &len);
        if (c < 0)
            return die("accept");
        char buf[4096];
        ssize_t k = read(c, buf, sizeof buf);
        if (k > 0) {
            char out[4200];
            int n = snprintf(out, sizeof out, "guest:%.*s from %u:%u\n", (int)k, buf,
                             peer.svm_cid, peer.svm_port);
            (void)!write(c, out, (size_t)n);
        }
        close(c);
    }
    close(l);
    return 0;
}

static int network(int argc, char **argv)
{
    const char *cmd = argv[0];
    if (!strcmp(cmd, "heartbeat")) {
        int fd = vconnect(3, 9000);
        unsigned char b = 0xb7;
        if (fd < 0 || write_all(fd, &b, 1) != 0 || read_all(fd, &b, 1) != 0)
            return die("heartbeat");
        printf("heartbeat answered 0x%02x\n", b);
        return b == 0xb7 ? 0 : 1;
    }
    if (!strcmp(cmd, "serve") && argc == 3)
        return serve((unsigned)strtoul(argv[1], NULL, 10), atoi(argv[2]));
    if (argc < 3)
        return 2;
    int fd = vconnect((unsigned)strtoul(argv[1], NULL, 10), (unsigned)strtoul(argv[2], NULL, 10));
    if (fd < 0)
        return die("connect");
    if (!strcmp(cmd, "send") && argc == 4) {
        if (write_all(fd, argv[3], strlen(argv[3])) != 0)
            return die("send");
        shutdown(fd, SHUT_WR);
        copy_to_stdout(fd);
        return 0;
    }
    if (!strcmp(cmd, "rtt") && argc == 5)
        return rtt(fd, atoi(argv[3]), (size_t)atoi(argv[4]), "vsock");
    if (!strcmp(cmd, "recv") && argc == 3) {
        static unsigned char buf[65536];
        unsigned long long total = 0;
        uint32_t sum = 0;
        ssize_t k;
        while ((k = read(fd, buf, sizeof buf)) > 0) {
            total += (unsigned long long)k;
            for (ssize_t i = 0; i < k; i++)
                sum += buf[i];
        }
        printf("recv bytes=%llu sum=%u\n", total, sum);
        return k < 0 ? die("recv") : 0;
    }
    if (!strcmp(cmd, "blast") && argc == 4)
        return blast(fd, atoi(argv[3]), "vsock", 1);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "cid")) {
        long c = local_cid();
        if (c < 0)
            return die("IOCTL_VM_SOCKETS_GET_LOCAL_CID on /dev/vsock");
        printf("%ld\n", c);
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "serial-rtt")) {
        int fd = open(argv[2], O_RDWR | O_CLOEXEC);
        return fd < 0 ? die(argv[2]) : rtt(fd, atoi(argv[3]), (size_t)atoi(argv[4]), "serial");
    }
    if (argc >= 4 && !strcmp(argv[1], "serial-blast")) {
        int fd = open(argv[2], O_RDWR | O_CLOEXEC);
        return fd < 0 ? die(argv[2]) : blast(fd, atoi(argv[3]), "serial", 0);
    }
    if (argc < 4 || strcmp(argv[1], "--cid") != 0) {
        fprintf(stderr, "usage: vsock_guest cid | vsock_guest --cid N COMMAND ... (see the source)\n");
        return 2;
    }
    long want = strtol(argv[2], NULL, 10), have = local_cid();
    if (have != want) {
        fprintf(stderr, "vsock_guest: refusing: the local CID is %ld, not %ld\n", have, want);
        return 3;
    }
    return network(argc - 3, argv + 3);
}
