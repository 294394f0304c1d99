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
#include "nsmkit/error.h"
#include "nsmkit/sim.h"

static const char serve_usage[] =
    "usage: nsm-sim serve --socket PATH [--ca DIR] [--time UNIX_MS] [--pcr I=HEX]...\n"
    "                     [--measurements FILE] [--debug-mode] [--map definite|indefinite]\n"
    "Serves one simulated NSM on a unix socket (mode 0600), framing: u32 LE length || CBOR.\n";

static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    ssize_t w = write(stop_pipe[1], &c, 1);
    (void)w;
    errno = saved;
}

/* Parses serve's arguments: returns -1 to go on, or the exit status (0 for --help). */
static int serve_parse(int argc, char **argv, const char **socket_path, nsmsim_options *options)
{
    nsmkit_error e;
    for (int i = 0; i < argc;) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(serve_usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--socket")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "nsm-sim serve: --socket needs a path\n%s", serve_usage);
                return 2;
            }
            *socket_path = argv[i + 1];
            i += 2;
            continue;
        }
        int r = nsmsim_options_parse_arg(options, argc, argv, &i, &e);
        if (r < 0) {
            fprintf(stderr, "nsm-sim serve: %s\n", e.msg);
            return 2;
        }
        if (r == 0) {
            fprintf(stderr, "nsm-sim serve: unknown argument %s\n%s", argv[i], serve_usage);
            return 2;
        }
    }
    if (!*socket_path) {
        fprintf(stderr, "nsm-sim serve: --socket PATH is required\n%s", serve_usage);
        return 2;
    }
    return -1;
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
    const char *socket_path = NULL;
    nsmsim_options options;
    nsmkit_error e;
    nsmsim_options_init(&options);
    int parsed = serve_parse(argc, argv, &socket_path, &options);
    if (parsed >= 0)
        return parsed;

    int status = 1;
    nsmsim *sim = NULL;
    nsmsim_server *server = NULL;
    if (pipe2(stop_pipe, O_CLOEXEC) != 0) {
        fprintf(stderr, "nsm-sim serve: pipe: %s\n", strerror(errno));
        return 1;
    }
    nsmsim_code code = nsmfault_sim_new(&options, &sim, &e);
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
