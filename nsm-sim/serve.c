/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `nsm-sim serve --socket PATH [state options]`: one simulated NSM behind a unix socket,
 * shared by every client (programs under the shim with NSM_SIM_SOCKET=PATH, the CUSE
 * device, QEMU guests). Stops cleanly on SIGINT or SIGTERM, removing the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "frontends/transports/device.h"
#include "frontends/transports/core_handler.h"
#include "frontends/transports/server.h"
#include "nsmkit/fault.h"
#include "nsmkit/opts.h"
#include "nsmkit/error.h"
#include "nsmkit/sim.h"

static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    ssize_t w = write(stop_pipe[1], &c, 1);
    (void)w;
    errno = saved;
}

typedef struct {
    nsmsim_options options; /* first: the state options' rows fill it */
    const char *socket;
} serve_args;

static const nsmkit_opt serve_rows[] = {
    NSMKIT_OPT_STRING("--socket", "PATH", serve_args, socket,
                      "the unix socket to listen on (mode 0600)"),
};

/* Parses serve's arguments: returns -1 to go on, or the exit status (0 for --help). */
static int serve_parse(int argc, char **argv, serve_args *a)
{
    const nsmkit_opt_group groups[2] = {{NULL, serve_rows, NSMKIT_ROWS(serve_rows)},
                                        nsmfault_state_options};
    const nsmkit_cli cli = {"nsm-sim serve", "--socket PATH [state options]",
                            "Serves one simulated NSM on a unix socket, framing: u32 LE length "
                            "|| CBOR,\nshared by every client; stops on SIGINT or SIGTERM.",
                            groups, 2, false,
                            "NSM_SIM_TRACE=1 logs each refused request with its rule."};
    nsmkit_error e;
    int n = argc;
    int r = nsmkit_opts_parse(&cli, &n, argv, a, &e);
    if (r == NSMKIT_OPTS_DONE)
        return 0;
    if (r == NSMKIT_OPTS_RUN && n > 0)
        nsmkit_fail(&e, "unknown argument %s", argv[0]);
    else if (r == NSMKIT_OPTS_RUN && !a->socket)
        nsmkit_fail(&e, "--socket PATH is required");
    else if (r == NSMKIT_OPTS_RUN)
        return -1;
    fprintf(stderr, "nsm-sim serve: %s\n", e.msg);
    nsmkit_opts_usage(&cli, stderr);
    return 2;
}

static void serve_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int nsmsim_cmd_serve(int argc, char **argv)
{
    serve_args a = {0};
    nsmkit_error e;
    nsmsim_options_init(&a.options);
    int parsed = serve_parse(argc, argv, &a);
    if (parsed >= 0)
        return parsed;
    const char *socket_path = a.socket;
    const nsmsim_options *options = &a.options;

    int status = 1;
    nsmsim *sim = NULL;
    nsmsim_server *server = NULL;
    if (pipe2(stop_pipe, O_CLOEXEC) != 0) {
        fprintf(stderr, "nsm-sim serve: pipe: %s\n", strerror(errno));
        return 1;
    }
    nsmsim_code code = nsmfault_sim_new(options, &sim, &e);
    if (code != NSMSIM_ERR_OK) {
        fprintf(stderr, "nsm-sim serve: %d %s: %s\n", (int)code, nsmsim_code_name(code), e.msg);
        goto out;
    }
    nsmsim_server_options so = {.socket_path = socket_path, .log_prefix = "nsm-sim serve"};
    code = nsmsim_server_open(&so, nsmsim_core_handler, sim, &server, &e);
    if (code != NSMSIM_ERR_OK) {
        fprintf(stderr, "nsm-sim serve: %d %s: %s\n", (int)code, nsmsim_code_name(code), e.msg);
        goto out;
    }
    serve_signals();
    fprintf(stderr, "nsm-sim serve: listening on %s (module %s)\n", socket_path,
            nsmsim_module_id(sim));
    code = nsmsim_server_run(server, stop_pipe[0], &e);
    if (code != NSMSIM_ERR_OK) {
        fprintf(stderr, "nsm-sim serve: %d %s: %s\n", (int)code, nsmsim_code_name(code), e.msg);
        goto out;
    }
    nsmsim_server_stats stats = nsmsim_server_get_stats(server);
    fprintf(stderr, "nsm-sim serve: stopped after %llu requests from %llu clients\n",
            (unsigned long long)stats.requests, (unsigned long long)stats.accepted);
    status = 0;
out:
    nsmsim_server_close(server);
    if (sim)
        nsmsim_free(sim);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    return status;
}
