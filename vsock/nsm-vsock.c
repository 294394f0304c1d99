/* SPDX-License-Identifier: Apache-2.0 */
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

static const nsmkit_cli top_cli = {
    "nsm-vsock",
    "exec --cid N [--dir DIR] [--mode preload|seccomp|auto] -- COMMAND [ARG]...\n"
    "proxy [--dir DIR] --port P --to HOST:PORT [--allow FILE]\n"
    "heartbeat [--dir DIR]\n"
    "vhost-user --socket PATH --cid N [--dir DIR]\n"
    "--help | --version",
    "exec       runs COMMAND with its AF_VSOCK sockets emulated over DIR, local CID N\n"
    "proxy      the parent's vsock-proxy: (3, P) in DIR forwarded to TCP HOST:PORT\n"
    "heartbeat  answers AWS init's 0xB7 on (3, 9000) in DIR\n"
    "vhost-user a vhost-user backend giving a QEMU guest CID N in DIR\n"
    "\n"
    "DIR (one emulated vsock network): $NSM_VSOCK_DIR, else ${XDG_RUNTIME_DIR:-/tmp}/nsmkit-vsock-UID.\n"
    "Each subcommand answers --help. Exit codes: 0 ok, 1 refused input, 2 usage or I/O error;\n"
    "exec exits with COMMAND's status.",
    NULL, 0, true, NULL};

int main(int argc, char **argv)
{
    if (argc < 2) {
        nsmkit_opts_usage(&top_cli, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help")) {
        nsmkit_opts_help(&top_cli, stdout);
        return 0;
    }
    if (cmd[0] == '-') { /* --help, --version, or a usage error */
        int n, status = nsmvsock_parse(&top_cli, argc, argv, NULL, &n);
        return status >= 0 ? status : nsmvsock_usage(&top_cli, "a command comes first");
    }
    if (!strcmp(cmd, "exec"))
        return nsmvsock_cmd_exec(argc - 1, argv + 1);
    if (!strcmp(cmd, "proxy"))
        return nsmvsock_cmd_proxy(argc - 1, argv + 1);
    if (!strcmp(cmd, "heartbeat"))
        return nsmvsock_cmd_heartbeat(argc - 1, argv + 1);
    if (!strcmp(cmd, "vhost-user"))
        return nsm_vsock_vhost_user_main(argc - 1, argv + 1);
    char problem[300];
    snprintf(problem, sizeof(problem), "unknown command '%.200s'", cmd);
    return nsmvsock_usage(&top_cli, problem);
}
