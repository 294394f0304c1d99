/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-vsock heartbeat [--dir DIR]: what the parent's nitro-enclaves service does for AWS's
 * init in every enclave image: a listener on (3, 9000) that answers each 0xB7 byte with
 * 0xB7. Connections are served concurrently by one poll loop; any other byte ends that
 * connection (it is not the heartbeat protocol), never the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "commands.h"
#include "nsmkit/vsock_net.h"

#define HEARTBEAT_PORT 9000u
#define HEARTBEAT_BYTE 0xB7
#define MAX_CONNECTIONS 1024

typedef struct {
    const char *dir;
} heartbeat_args;

static const nsmkit_opt heartbeat_rows[] = {
    NSMKIT_OPT_STRING("--dir", "DIR", heartbeat_args, dir, "the emulated vsock network"),
};
static const nsmkit_opt_group heartbeat_groups[] = {
    {NULL, heartbeat_rows, NSMKIT_ROWS(heartbeat_rows)}};
static const nsmkit_cli heartbeat_cli = {
    "nsm-vsock heartbeat", "[--dir DIR]",
    "Listens on (CID 3, port 9000) of the emulated vsock network DIR and answers every 0xB7\n"
    "byte with 0xB7, as the parent does for AWS's enclave init. Runs until SIGINT/SIGTERM.",
    heartbeat_groups, 1, false, NULL};

/* Serves what one connection sent: 0 keep it, -1 close it. */
static int serve(int fd)
{
    unsigned char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (n == 0)
        return -1;
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != HEARTBEAT_BYTE) {
            fprintf(stderr, "nsm-vsock heartbeat: a connection sent 0x%02x, not 0xB7: closed\n", buf[i]);
            return -1;
        }
    }
    /* the answer is as many bytes as were asked, at most 256 at a time: it fits */
    memset(buf, HEARTBEAT_BYTE, (size_t)n);
    return send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n ? 0 : -1;
}

static int loop(int listener, int sigfd)
{
    static struct pollfd p[MAX_CONNECTIONS + 2];
    nfds_t count = 2;
    p[0] = (struct pollfd){.fd = listener, .events = POLLIN};
    p[1] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    for (;;) {
        if (poll(p, count, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (p[1].revents)
            return 0;
        for (nfds_t i = 2; i < count;) {
            if (p[i].revents != 0 && serve(p[i].fd) != 0) {
                close(p[i].fd);
                p[i] = p[--count];
                continue;
            }
            i++;
        }
        if (p[0].revents & POLLIN) {
            int c = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c >= 0 && count < MAX_CONNECTIONS + 2)
                p[count++] = (struct pollfd){.fd = c, .events = POLLIN};
            else if (c >= 0)
                close(c); /* full: the newest waits no answer */
        }
    }
}

int nsmvsock_cmd_heartbeat(int argc, char **argv)
{
    heartbeat_args args = {0};
    int n, status = nsmvsock_parse(&heartbeat_cli, argc, argv, &args, &n);
    if (status >= 0)
        return status;
    if (n != 0) {
        char problem[300];
        snprintf(problem, sizeof(problem), "unexpected argument '%.200s'", argv[1]);
        return nsmvsock_usage(&heartbeat_cli, problem);
    }
    const char *dir = args.dir;
    nsmvsock_net net;
    nsmkit_error e;
    int code = nsmvsock_net_open(&net, dir, &e);
    if (code != NSMVSOCK_ERR_OK)
        return nsmvsock_report("heartbeat", code, e.msg);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
    int l = nsmvsock_net_listen(&net, NSMVSOCK_CID_PARENT, HEARTBEAT_PORT, 128, SOCK_CLOEXEC);
    if (l < 0 || sigfd < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "(3, 9000) in %s: %s", net.dir, strerror(l < 0 ? -l : errno));
        return nsmvsock_report("heartbeat", NSMVSOCK_ERR_LISTEN, msg);
    }
    fprintf(stderr, "nsm-vsock heartbeat: answering 0xB7 on (3, 9000) in %s\n", net.dir);
    int rc = loop(l, sigfd);
    nsmvsock_net_unlisten(&net, l, NSMVSOCK_CID_PARENT, HEARTBEAT_PORT);
    close(l);
    return rc == 0 ? 0 : 2;
}
