/* SPDX-License-Identifier: Apache-2.0 */
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
 *
 * --device fuse gives COMMAND a kernel-visible /dev/nsm instead (fuse.h): a child sets up
 * private namespaces with a FUSE file mounted on /dev/nsm, hands the /dev/fuse descriptor
 * back, and becomes COMMAND when told to; exec serves the device. --device auto tries that
 * and falls back to the shim with one line saying why - unless COMMAND is statically
 * linked or a Go program (binkind.h), which the shim cannot reach: plain exec says so in
 * one line, and auto then insists on the FUSE device.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "binkind.h"
#include "commands.h"
#include "frontends/transports/device.h"
#include "frontends/transports/core_handler.h"
#include "frontends/devices/fuse.h"
#include "frontends/devices/mountns.h"
#include "frontends/transports/server.h"
#include "nsmkit/fault.h"
#include "nsmkit/hex.h"
#include "nsmkit/opts.h"
#include "nsmkit/error.h"
#include "nsmkit/sim.h"

#ifndef NSMKIT_LIBDIR
#define NSMKIT_LIBDIR "/usr/local/lib"
#endif
#define PRELOAD_NAME "libnsm-sim-preload.so"
#define EXEC_FAILED 125

extern char **environ;

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

/* What serves the command's device: the socket server of the shim, or the FUSE device.
 * serve returns 0 when stop_fd became readable, 1 when there is nothing left to serve
 * (the device's mount is gone), -1 on an error. */
typedef struct {
    int (*serve)(void *ctx, int stop_fd, nsmkit_error *e);
    void *ctx;
    pid_t prepared;    /* a child already set up (FUSE) waiting for a byte on ... */
    int prepared_ctl;  /* ... this socket, which then reports a failed exec like report[] */
} exec_plan;

/* In the child: the signal dispositions and mask the command expects, then the command;
 * exec's errno goes back through the report pipe (or the prepared child's socket). */
static _Noreturn void exec_child(char **argv, char **env, const sigset_t *mask, int report)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGCHLD, &dfl, NULL);
    sigaction(SIGPIPE, &dfl, NULL);
    for (size_t i = 0; i < FORWARDED_COUNT; i++)
        sigaction(forwarded[i], &dfl, NULL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    execvpe(argv[0], argv, env);
    int err = errno;
    ssize_t w = write(report, &err, sizeof(err));
    (void)w;
    _exit(127);
}

/* Starts the command and serves until it has exited. */
static int supervise(const exec_plan *plan, char **argv, char **env, const sigset_t *old_mask,
                     int *status)
{
    int report[2];
    pid_t pid;
    if (plan->prepared > 0) {
        pid = plan->prepared;
        report[0] = plan->prepared_ctl;
        report[1] = -1;
        char go = 'g';
        if (write(report[0], &go, 1) != 1) {
            fprintf(stderr, "nsm-sim exec: the prepared command is gone: %s\n", strerror(errno));
            return -1;
        }
    } else {
        if (pipe2(report, O_CLOEXEC) != 0) {
            fprintf(stderr, "nsm-sim exec: pipe: %s\n", strerror(errno));
            return -1;
        }
        pid = fork();
        if (pid == 0)
            exec_child(argv, env, old_mask, report[1]);
        int fork_err = errno;
        close(report[1]);
        if (pid < 0) {
            close(report[0]);
            fprintf(stderr, "nsm-sim exec: fork: %s\n", strerror(fork_err));
            return -1;
        }
    }
    command_pid = pid;
    sigprocmask(SIG_SETMASK, old_mask, NULL);

    /* The report pipe closes on a successful exec, or carries exec's errno. */
    int err = 0;
    ssize_t got;
    do
        got = read(report[0], &err, sizeof(err));
    while (got < 0 && errno == EINTR);
    if (plan->prepared <= 0)
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
        int r = plan->serve(plan->ctx, signal_pipe[0], &e);
        if (r < 0) {
            fprintf(stderr, "nsm-sim exec: %s\n", e.msg);
            kill(pid, SIGTERM);
            waitpid(pid, &w, 0);
            return -1;
        }
        if (r > 0) { /* nothing left to serve: wait for the command alone */
            while (waitpid(pid, &w, 0) < 0 && errno == EINTR)
                ;
            *status = WIFEXITED(w) ? WEXITSTATUS(w) : WIFSIGNALED(w) ? 128 + WTERMSIG(w) : 1;
            return 0;
        }
        char drain[64];
        while (read(signal_pipe[0], drain, sizeof(drain)) > 0)
            ;
    }
}

/* Signals: SIGCHLD wakes the server loop; the others go on to the command. Everything is
 * put back as it was afterwards. */
static int run_command(const exec_plan *plan, char **argv, char **env, int *status)
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

    int r = supervise(plan, argv, env, &old_mask, status);

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

/* ---- the two ways of serving ------------------------------------------------------------- */

static int serve_socket(void *ctx, int stop_fd, nsmkit_error *e)
{
    nsmkit_error inner;
    nsmsim_code code = nsmsim_server_run(ctx, stop_fd, &inner);
    if (code == NSMSIM_ERR_OK)
        return 0;
    nsmkit_fail(e, "%d %s: %s", (int)code, nsmsim_code_name(code), inner.msg);
    return -1;
}

static int serve_fuse(void *ctx, int stop_fd, nsmkit_error *e)
{
    nsmsim_fuse_status s = nsmsim_fuse_serve(ctx, stop_fd, e);
    return s == NSMSIM_FUSE_STOPPED ? 0 : s == NSMSIM_FUSE_GONE ? 1 : -1;
}

/* ---- --device fuse: the prepared child ---------------------------------------------------- */

/* In the child: private namespaces with the device mounted, then the /dev/fuse descriptor
 * (or the reason there is none) to the launcher over ctl; then, on the launcher's byte, it
 * becomes COMMAND. The launcher never enters the namespaces, so a failure leaves it as it
 * was and --device auto can fall back to the shim. */
static _Noreturn void fuse_child(int ctl, char **argv)
{
    nsmkit_error e = {{0}};
    int fd = nsmsim_private_dev_nsm(&e);
    if (fd < 0) {
        ssize_t w = send(ctl, e.msg, strlen(e.msg), MSG_NOSIGNAL);
        (void)w;
        _exit(1);
    }
    char ok = 0;
    struct iovec iov = {.iov_base = &ok, .iov_len = 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (sendmsg(ctl, &msg, MSG_NOSIGNAL) != 1)
        _exit(1);
    close(fd); /* only the launcher serves the device */
    char go;
    ssize_t got;
    do
        got = read(ctl, &go, 1);
    while (got < 0 && errno == EINTR);
    if (got != 1)
        _exit(0); /* the launcher gave up before starting the command */
    sigset_t mask;
    sigprocmask(SIG_SETMASK, NULL, &mask);
    exec_child(argv, environ, &mask, ctl);
}

/* Forks the prepared child and waits for its descriptor. On failure the child is gone and
 * e says why in one line. */
static int prepare_fuse(char **argv, exec_plan *plan, int *fuse_fd, nsmkit_error *e)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return nsmkit_fail(e, "socketpair: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        fuse_child(sv[1], argv);
    }
    int fork_err = errno;
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return nsmkit_fail(e, "fork: %s", strerror(fork_err));
    }
    char text[sizeof(e->msg)];
    struct iovec iov = {.iov_base = text, .iov_len = sizeof(text) - 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    ssize_t n;
    do
        n = recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (n == 1 && text[0] == 0 && c && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int))) {
        memcpy(fuse_fd, CMSG_DATA(c), sizeof(int));
        plan->prepared = pid;
        plan->prepared_ctl = sv[0];
        return 0;
    }
    close(sv[0]);
    int w;
    while (waitpid(pid, &w, 0) < 0 && errno == EINTR)
        ;
    if (n > 0) {
        text[n] = '\0';
        return nsmkit_fail(e, "%s", text);
    }
    return nsmkit_fail(e, "the child setting up the namespaces died (status %d)", w);
}

/* A prepared child that will not run the command exits when its socket closes; one that
 * ran it was reaped by supervise already (waitpid then fails at once with ECHILD). */
static void dismiss_prepared(exec_plan *plan)
{
    if (plan->prepared <= 0)
        return;
    close(plan->prepared_ctl);
    int w;
    while (waitpid(plan->prepared, &w, 0) < 0 && errno == EINTR)
        ;
    plan->prepared = 0;
    plan->prepared_ctl = -1;
}

/* ---- the command line ------------------------------------------------------------------- */

typedef enum { DEVICE_PRELOAD, DEVICE_FUSE, DEVICE_AUTO } exec_device;

typedef struct {
    nsmsim_options options; /* first: the state options' rows fill it */
    exec_device device;
    const char *vsock_cid; /* --vsock-cid: COMMAND also gets an emulated AF_VSOCK */
    const char *vsock_dir;
} exec_args;

static int set_vsock_cid(void *ctx, const char *value, nsmkit_error *e)
{
    uint64_t cid;
    if (!nsmkit_parse_u64(value, &cid) || cid < 3 || cid > UINT32_MAX - 1)
        return nsmkit_fail(e, "--vsock-cid takes a CID of 3 or more, not '%s'", value);
    ((exec_args *)ctx)->vsock_cid = value;
    return 0;
}

static int set_vsock_dir(void *ctx, const char *value, nsmkit_error *e)
{
    (void)e;
    ((exec_args *)ctx)->vsock_dir = value;
    return 0;
}

/* COMMAND run through `nsm-vsock exec --cid CID [--dir DIR] --` (issue 19): nsm-vsock
 * beside this program, else on PATH. An array kept for the process's life (the strings
 * are borrowed), or NULL. */
static char **vsock_command(char **command, const char *cid, const char *dir)
{
    static char tool[PATH_MAX + 16];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    snprintf(tool, sizeof(tool), "nsm-vsock");
    if (n > 0) {
        exe[n] = '\0';
        snprintf(tool, sizeof(tool), "%s/nsm-vsock", dirname(exe));
        if (access(tool, X_OK) != 0)
            snprintf(tool, sizeof(tool), "nsm-vsock");
    }
    size_t count = 0;
    while (command[count])
        count++;
    static char **v;
    v = calloc(count + 8, sizeof(*v));
    if (!v)
        return NULL;
    size_t k = 0;
    v[k++] = tool;
    v[k++] = "exec";
    v[k++] = "--cid";
    v[k++] = (char *)(uintptr_t)cid;
    if (dir) {
        v[k++] = "--dir";
        v[k++] = (char *)(uintptr_t)dir;
    }
    v[k++] = "--";
    for (size_t j = 0; j < count; j++)
        v[k++] = command[j];
    return v;
}

static int set_device(void *ctx, const char *value, nsmkit_error *e)
{
    exec_args *a = ctx;
    if (!strcmp(value, "preload"))
        a->device = DEVICE_PRELOAD;
    else if (!strcmp(value, "fuse"))
        a->device = DEVICE_FUSE;
    else if (!strcmp(value, "auto"))
        a->device = DEVICE_AUTO;
    else
        return nsmkit_fail(e, "--device takes preload, fuse or auto, not '%s'", value);
    return 0;
}

static const nsmkit_opt exec_rows[] = {
    NSMKIT_OPT_CALL("--device", "preload|fuse|auto", set_device,
                    "preload (default): the LD_PRELOAD shim (dynamically linked\n"
                    "programs that call ioctl through the C library);\n"
                    "fuse: a FUSE file on /dev/nsm in private namespaces (any\n"
                    "program: static and Go ones too);\n"
                    "auto: fuse when it can be mounted, else preload (a static or\n"
                    "Go COMMAND needs fuse)"),
    NSMKIT_OPT_CALL("--vsock-cid", "N", set_vsock_cid,
                    "COMMAND also gets AF_VSOCK with local CID N (through\n"
                    "`nsm-vsock exec`, beside nsm-sim or on PATH)"),
    NSMKIT_OPT_CALL("--vsock-dir", "DIR", set_vsock_dir,
                    "the emulated vsock network (with --vsock-cid; default as\n"
                    "nsm-vsock's)"),
};

/* Parses exec's options; returns -1 to go on with COMMAND and its arguments moved to
 * argv[0..), or the exit status (0 after --help or --version). */
static int exec_parse(int argc, char **argv, exec_args *a)
{
    const nsmkit_opt_group groups[2] = {{NULL, exec_rows, NSMKIT_ROWS(exec_rows)},
                                        nsmfault_state_options};
    const nsmkit_cli cli = {"nsm-sim exec", "[--device preload|fuse|auto] [state options] [--] "
                                            "COMMAND [ARGS]",
                            "Runs COMMAND with a simulated /dev/nsm shared by every process it "
                            "starts, and exits with its status\n(125: exec itself failed).",
                            groups, 2, true, "NSM_SIM_TRACE=1 prints one line per request."};
    nsmkit_error e;
    int n = argc;
    int r = nsmkit_opts_parse(&cli, &n, argv, a, &e);
    if (r == NSMKIT_OPTS_DONE)
        return 0;
    if (r != NSMKIT_OPTS_RUN) {
        fprintf(stderr, "nsm-sim exec: %s\n", e.msg);
        nsmkit_opts_usage(&cli, stderr);
        return EXEC_FAILED;
    }
    if (n == 0) {
        fprintf(stderr, "nsm-sim exec: no command given\n");
        nsmkit_opts_usage(&cli, stderr);
        return EXEC_FAILED;
    }
    return -1;
}

/* The shim reaches only dynamically linked programs that call ioctl through the C
 * library: a static or Go COMMAND is told, in one line, to use the FUSE device, and under
 * --device auto it gets it without falling back. */
static bool needs_fuse_device(exec_device asked, const char *command)
{
    char path[4096] = "";
    nsmsim_bin_kind kind = nsmsim_bin_classify(command, path, sizeof(path));
    bool needs_fuse = kind == NSMSIM_BIN_STATIC || kind == NSMSIM_BIN_GO;
    if (needs_fuse && asked == DEVICE_PRELOAD)
        fprintf(stderr, "nsm-sim exec: %s is %s: the LD_PRELOAD shim cannot reach it, "
                        "use --device fuse (or --device auto)\n", path, nsmsim_bin_kind_words(kind));
    return needs_fuse;
}

/* The FUSE device first, before the simulated NSM's keys exist in this process: the
 * prepared child never holds a copy of them. Returns the device to use, or -1. */
static int prepare_device(exec_device device, bool needs_fuse, char **command,
                          exec_plan *plan, int *fuse_fd)
{
    nsmkit_error e;
    if (device == DEVICE_PRELOAD || prepare_fuse(command, plan, fuse_fd, &e) == 0)
        return (int)device;
    if (device == DEVICE_FUSE || needs_fuse) {
        fprintf(stderr, "nsm-sim exec: --device %s: %s%s\n", device == DEVICE_FUSE ? "fuse" : "auto",
                e.msg, needs_fuse ? " (and the LD_PRELOAD shim cannot reach this program)" : "");
        return -1;
    }
    fprintf(stderr, "nsm-sim exec: --device auto: %s; using the LD_PRELOAD shim\n", e.msg);
    return DEVICE_PRELOAD;
}

/* The shim's path, checked for what LD_PRELOAD cannot hold. */
static int preload_path(char *preload, size_t size)
{
    if (find_preload(preload, size) != 0)
        return -1;
    if (strpbrk(preload, ": ")) {
        fprintf(stderr, "nsm-sim exec: %s contains ':' or ' ', which LD_PRELOAD cannot hold\n",
                preload);
        return -1;
    }
    return 0;
}

/* What exec serves for COMMAND, and the environment COMMAND runs in. */
typedef struct {
    nsmsim_server *server;
    nsmsim_fuse_device *fuse_device;
    char **env;
    char dir[PATH_MAX];
    char socket_path[PATH_MAX + 16];
} exec_backend;

static int start_fuse(nsmsim *sim, int *fuse_fd, exec_plan *plan, exec_backend *b)
{
    nsmkit_error e;
    /* 0666: only the command's processes see this file, in their own namespace */
    nsmsim_fuse_options fo = {.handler = nsmsim_core_handler, .handler_ctx = sim,
                              .mode = 0666, .uid = geteuid(), .gid = getegid(),
                              .log_prefix = "nsm-sim exec"};
    int fd = *fuse_fd;
    *fuse_fd = -1;
    if (nsmsim_fuse_open_fd(&fo, fd, &b->fuse_device, &e) != 0) {
        fprintf(stderr, "nsm-sim exec: %s\n", e.msg);
        return -1;
    }
    plan->serve = serve_fuse;
    plan->ctx = b->fuse_device;
    b->env = environ;
    return 0;
}

static int start_socket(nsmsim *sim, const char *preload, exec_plan *plan, exec_backend *b)
{
    nsmkit_error e;
    const char *tmp = getenv("TMPDIR");
    snprintf(b->dir, sizeof(b->dir), "%s/nsm-sim-exec.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(b->dir)) {
        fprintf(stderr, "nsm-sim exec: cannot create a directory in %s: %s\n",
                tmp && *tmp ? tmp : "/tmp", strerror(errno));
        b->dir[0] = '\0';
        return -1;
    }
    snprintf(b->socket_path, sizeof(b->socket_path), "%s/nsm.sock", b->dir);
    nsmsim_server_options so = {.socket_path = b->socket_path, .log_prefix = "nsm-sim exec"};
    nsmsim_code code = nsmsim_server_open(&so, nsmsim_core_handler, sim, &b->server, &e);
    if (code != NSMSIM_ERR_OK) {
        fprintf(stderr, "nsm-sim exec: %d %s: %s\n", (int)code, nsmsim_code_name(code), e.msg);
        return -1;
    }
    b->env = command_environment(preload, b->socket_path);
    if (!b->env) {
        fprintf(stderr, "nsm-sim exec: out of memory\n");
        return -1;
    }
    plan->serve = serve_socket;
    plan->ctx = b->server;
    return 0;
}

static void stop_backend(exec_backend *b, bool use_fuse)
{
    if (b->env && !use_fuse)
        free_environment(b->env);
    nsmsim_fuse_close(b->fuse_device);
    nsmsim_server_close(b->server);
    if (b->dir[0])
        rmdir(b->dir);
}

int nsmsim_cmd_exec(int argc, char **argv)
{
    exec_args a = {.device = DEVICE_PRELOAD};
    nsmsim_options_init(&a.options);
    int parsed = exec_parse(argc, argv, &a);
    if (parsed >= 0)
        return parsed;
    bool needs_fuse = needs_fuse_device(a.device, argv[0]);
    if (a.vsock_dir && !a.vsock_cid) {
        fprintf(stderr, "nsm-sim exec: --vsock-dir needs --vsock-cid\n");
        return EXEC_FAILED;
    }
    char **command = a.vsock_cid ? vsock_command(argv, a.vsock_cid, a.vsock_dir) : argv;
    if (!command)
        return EXEC_FAILED;

    exec_plan plan = {.prepared = 0, .prepared_ctl = -1};
    int fuse_fd = -1;
    int device = prepare_device(a.device, needs_fuse, command, &plan, &fuse_fd);
    if (device < 0)
        return EXEC_FAILED;
    bool use_fuse = device != DEVICE_PRELOAD;
    char preload[PATH_MAX];
    if (!use_fuse && preload_path(preload, sizeof(preload)) != 0) {
        dismiss_prepared(&plan);
        return EXEC_FAILED;
    }

    int status = EXEC_FAILED;
    nsmsim *sim = NULL;
    exec_backend b = {0};
    nsmkit_error e;
    nsmsim_code code = nsmfault_sim_new(&a.options, &sim, &e);
    if (code != NSMSIM_ERR_OK)
        fprintf(stderr, "nsm-sim exec: %d %s: %s\n", (int)code, nsmsim_code_name(code), e.msg);
    else if ((use_fuse ? start_fuse(sim, &fuse_fd, &plan, &b)
                       : start_socket(sim, preload, &plan, &b)) == 0) {
        int command_status;
        if (run_command(&plan, command, b.env, &command_status) == 0)
            status = command_status;
    }
    dismiss_prepared(&plan);
    if (fuse_fd >= 0)
        close(fuse_fd);
    stop_backend(&b, use_fuse);
    if (sim)
        nsmsim_free(sim);
    return status;
}
