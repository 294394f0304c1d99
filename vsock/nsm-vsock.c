/*
 * nsm-vsock: AF_VSOCK in user space. Host programs join an emulated vsock network (a
 * directory of unix sockets, vsock/README.md) under `exec`; `proxy` is the parent's
 * vsock-proxy and `heartbeat` answers AWS init's heartbeat.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "nsmkit/vhost_cmd.h"
#include "nsmkit/vsock_net.h"

static const char usage[] =
    "usage: nsm-vsock exec --cid N [--dir DIR] [--mode preload|seccomp|auto] -- COMMAND [ARG]...\n"
    "       nsm-vsock proxy [--dir DIR] --port P --to HOST:PORT [--allow FILE]\n"
    "       nsm-vsock heartbeat [--dir DIR]\n"
    "       nsm-vsock vhost-user --socket PATH --cid N [--dir DIR]\n"
    "       nsm-vsock --help | --version\n"
    "\n"
    "exec       runs COMMAND with its AF_VSOCK sockets emulated over DIR, local CID N\n"
    "proxy      the parent's vsock-proxy: (3, P) in DIR forwarded to TCP HOST:PORT\n"
    "heartbeat  answers AWS init's 0xB7 on (3, 9000) in DIR\n"
    "vhost-user a vhost-user backend giving a QEMU guest CID N in DIR\n"
    "\n"
    "DIR (one emulated vsock network): $NSM_VSOCK_DIR, else ${XDG_RUNTIME_DIR:-/tmp}/nsmkit-vsock-UID.\n"
    "Each subcommand answers --help. Exit codes: 0 ok, 1 refused input, 2 usage or I/O error;\n"
    "exec exits with COMMAND's status.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        puts(NSMVSOCK_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "exec"))
        return nsmvsock_cmd_exec(argc - 1, argv + 1);
    if (!strcmp(cmd, "proxy"))
        return nsmvsock_cmd_proxy(argc - 1, argv + 1);
    if (!strcmp(cmd, "heartbeat"))
        return nsmvsock_cmd_heartbeat(argc - 1, argv + 1);
    if (!strcmp(cmd, "vhost-user"))
        return nsm_vsock_vhost_user_main(argc - 1, argv + 1);
    fprintf(stderr, "nsm-vsock: unknown command '%s'\n%s", cmd, usage);
    return 2;
}
