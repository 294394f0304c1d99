/*
 * `nsm-sim exec [state options] [--] COMMAND [ARGS]`: runs COMMAND with a simulated
 * /dev/nsm. A server for the command listens on a socket in a private temporary
 * directory; COMMAND runs with the LD_PRELOAD shim (put in front of any LD_PRELOAD it
 * already had) and NSM_SIM_SOCKET naming that socket, so every process it starts shares
 * one NSM, as the processes of an enclave do. When COMMAND exits the server stops, the
 * directory goes, and exec exits with COMMAND's status (128+N when signal N killed it).
 * Exec's own failures exit 125; a COMMAND that cannot run exits 127 (not found) or 126.
 *
 * The shim is looked for in $NSM_SIM_PRELOAD, then ../lib beside the nsm-sim binary
 * (build/bin -> build/lib, PREFIX/bin -> PREFIX/lib), then NSMKIT_LIBDIR.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "device.h"
#include "server.h"
#include "nsmkit/error.h"
#include "nsmkit/sim.h"

#ifndef NSMKIT_LIBDIR
#define NSMKIT_LIBDIR "/usr/local/lib"
#endif
#define PRELOAD_NAME "libnsm-sim-preload.so"
#define EXEC_FAILED 125

extern char **environ;

static const char exec_usage[] =
    "usage: nsm-sim exec [--ca DIR] [--time UNIX_MS] [--pcr I=HEX]... [--measurements FILE]\n"
    "                    [--debug-mode] [--map definite|indefinite] [--] COMMAND [ARGS]\n"
    "Runs COMMAND with a simulated /dev/nsm shared by every process it starts.\n";

static int find_preload(char *out, size_t size)
{
    const char *env = getenv("NSM_SIM_PRELOAD");
    if (env && *env) {
        if (!realpath(env, out)) {
            fprintf(stderr, "nsm-sim exec: NSM_SIM_PRELOAD=%s: %s\n", env, strerror(errno));
            return -1;
        }
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char beside[PATH_MAX + 64] = "";
    if (n > 0) {
        exe[n] = '\0';
        snprintf(beside, sizeof(beside), "%s/../lib/" PRELOAD_NAME, dirname(exe));
        if (realpath(beside, out) && access(out, R_OK) == 0)
            return 0;
    }
    if (realpath(NSMKIT_LIBDIR "/" PRELOAD_NAME, out) && access(out, R_OK) == 0)
        return 0;
    fprintf(stderr,
            "nsm-sim exec: cannot find " PRELOAD_NAME " (looked in %s and %s); "
            "set NSM_SIM_PRELOAD\n",
            beside[0] ? beside : "../lib", NSMKIT_LIBDIR);
    (void)size;
    return -1;
}

/* When nsm-sim itself runs under AddressSanitizer, so does the shim, whose runtime must
 * then be the first library of every process it is preloaded into. */
const char *nsmsim_sanitizer_runtime(void)
{
    void *sym = dlsym(RTLD_DEFAULT, "__asan_init");
    Dl_info info;
    if (sym && dladdr(sym, &info) && info.dli_fname && strstr(info.dli_fname, "asan"))
        return info.dli_fname;
    return NULL;
}

/* environ with LD_PRELOAD and NSM_SIM_SOCKET replaced; free with free_environment. */
static char **command_environment(const char *preload, const char *socket_path)
{
    size_t count = 0;
    for (char **p = environ; *p; p++)
        count++;
    char **env = calloc(count + 3, sizeof(*env));
    if (!env)
        return NULL;
    const char *old = getenv("LD_PRELOAD");
    const char *runtime = nsmsim_sanitizer_runtime();
    size_t len = strlen(preload) + (old ? strlen(old) : 0) + (runtime ? strlen(runtime) : 0) + 32;
    char *ld = malloc(len);
    size_t sock_len = strlen(socket_path) + sizeof("NSM_SIM_SOCKET=");
    char *sock = malloc(sock_len);
    if (!ld || !sock) {
        free(env);
        free(ld);
        free(sock);
        return NULL;
    }
    snprintf(ld, len, "LD_PRELOAD=%s%s%s%s%s", runtime ? runtime : "", runtime ? ":" : "",
             preload, old && *old ? ":" : "", old && *old ? old : "");
    snprintf(sock, sock_len, "NSM_SIM_SOCKET=%s", socket_path);
    size_t k = 0;
    for (char **p = environ; *p; p++)
        if (strncmp(*p, "LD_PRELOAD=", 11) != 0 && strncmp(*p, "NSM_SIM_SOCKET=", 15) != 0)
            env[k++] = *p;
    env[k++] = ld;
    env[k++] = sock;
    env[k] = NULL;
    return env;
}

static void free_environment(char **env)
{
    for (char **p = env; *p; p++)
        if (!strncmp(*p, "LD_PRELOAD=", 11) || !strncmp(*p, "NSM_SIM_SOCKET=", 15))
            free(*p); /* ours: the inherited ones were left out */
    free(env);
}

static int signal_pipe[2] = {-1, -1};
static volatile pid_t command_pid;
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGCHLD) {
        char c = 'c';
        ssize_t w = write(signal_pipe[1], &c, 1);
        (void)w;
    } else if (command_pid > 0) {
        kill(command_pid, sig);
    }
    errno = saved;
}

#define FORWARDED_COUNT (sizeof(forwarded) / sizeof(forwarded[0]))

/* In the child: the signal dispositions and mask the command expects, then the command;
 * exec's errno goes back through the report pipe. */
__attribute__((noreturn)) static void exec_child(char **argv, char **env, const sigset_t *old_mask,
                                                  int report_fd)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGCHLD, &dfl, NULL);
    sigaction(SIGPIPE, &dfl, NULL);
    for (size_t i = 0; i < FORWARDED_COUNT; i++)
        sigaction(forwarded[i], &dfl, NULL);
    sigprocmask(SIG_SETMASK, old_mask, NULL);
    execvpe(argv[0], argv, env);
    int err = errno;
    ssize_t w = write(report_fd, &err, sizeof(err));
    (void)w;
    _exit(127);
}

/* Starts the command and serves until it has exited. */
static int supervise(nsmsim_server *server, char **argv, char **env, const sigset_t *old_mask,
                     int *status)
{
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        fprintf(stderr, "nsm-sim exec: pipe: %s\n", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0)
        exec_child(argv, env, old_mask, report[1]);
    int fork_err = errno;
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        fprintf(stderr, "nsm-sim exec: fork: %s\n", strerror(fork_err));
        return -1;
    }
    command_pid = pid;
    sigprocmask(SIG_SETMASK, old_mask, NULL);

    /* The report pipe closes on a successful exec, or carries exec's errno. */
    int err = 0;
    ssize_t got;
    do
        got = read(report[0], &err, sizeof(err));
    while (got < 0 && errno == EINTR);
    close(report[0]);
    int w;
    if (got == (ssize_t)sizeof(err)) {
        fprintf(stderr, "nsm-sim exec: cannot run %s: %s\n", argv[0], strerror(err));
        while (waitpid(pid, &w, 0) < 0 && errno == EINTR)
            ;
        *status = err == ENOENT ? 127 : 126;
        return 0;
    }
    for (;;) {
        if (waitpid(pid, &w, WNOHANG) == pid) {
            *status = WIFEXITED(w) ? WEXITSTATUS(w) : WIFSIGNALED(w) ? 128 + WTERMSIG(w) : 1;
            return 0;
        }
        nsmkit_error e;
        nsmsim_code code = nsmsim_server_run(server, signal_pipe[0], &e);
        if (code != NSMSIM_ERR_OK) {
            fprintf(stderr, "nsm-sim exec: %d %s: %s\n", (int)code, nsmsim_code_name(code),
                    e.msg);
            kill(pid, SIGTERM);
            waitpid(pid, &w, 0);
            return -1;
        }
        char drain[64];
        while (read(signal_pipe[0], drain, sizeof(drain)) > 0)
            ;
    }
}

/* Signals: SIGCHLD wakes the server loop; the others go on to the command. Everything is
 * put back as it was afterwards. */
static int run_command(nsmsim_server *server, char **argv, char **env, int *status)
{
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        fprintf(stderr, "nsm-sim exec: pipe: %s\n", strerror(errno));
        return -1;
    }
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    for (size_t i = 0; i < FORWARDED_COUNT; i++)
        sigaddset(&block, forwarded[i]);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    struct sigaction sa, saved[FORWARDED_COUNT], saved_chld, saved_pipe;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, &saved_chld);
    for (size_t i = 0; i < FORWARDED_COUNT; i++)
        sigaction(forwarded[i], &sa, &saved[i]);
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &ignore, &saved_pipe);

    int r = supervise(server, argv, env, &old_mask, status);

    sigprocmask(SIG_BLOCK, &block, NULL);
    command_pid = 0;
    sigaction(SIGCHLD, &saved_chld, NULL);
    for (size_t i = 0; i < FORWARDED_COUNT; i++)
        sigaction(forwarded[i], &saved[i], NULL);
    sigaction(SIGPIPE, &saved_pipe, NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    signal_pipe[0] = signal_pipe[1] = -1;
    return r;
}

/* Parses exec's options up to the command: returns -1 with *command_at set to go on, or
 * the exit status (0 for --help). */
static int exec_parse(int argc, char **argv, nsmsim_options *options, int *command_at)
{
    nsmkit_error e;
    int i = 0;
    while (i < argc) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(exec_usage, stdout);
            return 0;
        }
        if (argv[i][0] != '-')
            break;
        int r = nsmsim_options_parse_arg(options, argc, argv, &i, &e);
        if (r < 0) {
            fprintf(stderr, "nsm-sim exec: %s\n", e.msg);
            return EXEC_FAILED;
        }
        if (r == 0) {
            fprintf(stderr, "nsm-sim exec: unknown option %s\n%s", argv[i], exec_usage);
            return EXEC_FAILED;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "nsm-sim exec: no command given\n%s", exec_usage);
        return EXEC_FAILED;
    }
    *command_at = i;
    return -1;
}

int nsmsim_cmd_exec(int argc, char **argv)
{
    nsmsim_options options;
    nsmkit_error e;
    nsmsim_options_init(&options);
    int i = 0;
    int parsed = exec_parse(argc, argv, &options, &i);
    if (parsed >= 0)
        return parsed;

    char preload[PATH_MAX];
    if (find_preload(preload, sizeof(preload)) != 0)
        return EXEC_FAILED;
    if (strpbrk(preload, ": ")) {
        fprintf(stderr, "nsm-sim exec: %s contains ':' or ' ', which LD_PRELOAD cannot hold\n",
                preload);
        return EXEC_FAILED;
    }

    int status = EXEC_FAILED;
    nsmsim *sim = NULL;
    nsmsim_server *server = NULL;
    char dir[PATH_MAX] = "";
    char socket_path[PATH_MAX + 16];
    nsmsim_code code = nsmsim_new(&options, &sim, &e);
    if (code != NSMSIM_ERR_OK) {
        fprintf(stderr, "nsm-sim exec: %d %s: %s\n", (int)code, nsmsim_code_name(code), e.msg);
        goto out;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/nsm-sim-exec.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "nsm-sim exec: cannot create a directory in %s: %s\n",
                tmp && *tmp ? tmp : "/tmp", strerror(errno));
        dir[0] = '\0';
        goto out;
    }
    snprintf(socket_path, sizeof(socket_path), "%s/nsm.sock", dir);
    nsmsim_server_options so = {.socket_path = socket_path, .log_prefix = "nsm-sim exec"};
    code = nsmsim_server_open(&so, nsmsim_core_handler, sim, &server, &e);
    if (code != NSMSIM_ERR_OK) {
        fprintf(stderr, "nsm-sim exec: %d %s: %s\n", (int)code, nsmsim_code_name(code), e.msg);
        goto out;
    }
    char **env = command_environment(preload, socket_path);
    if (!env) {
        fprintf(stderr, "nsm-sim exec: out of memory\n");
        goto out;
    }
    int command_status;
    if (run_command(server, argv + i, env, &command_status) == 0)
        status = command_status;
    free_environment(env);
out:
    nsmsim_server_close(server);
    if (dir[0])
        rmdir(dir);
    if (sim)
        nsmsim_free(sim);
    return status;
}
