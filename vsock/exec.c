/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-vsock exec --cid N [--dir DIR] [--mode preload|seccomp|auto] -- COMMAND [ARG]...
 *
 * preload: COMMAND runs with libnsm-vsock-preload.so (dynamic programs) under a guard
 *          filter that refuses AF_VSOCK to whatever bypasses the shim (filter.c);
 * seccomp: COMMAND runs under a user-notification filter and this process answers its
 *          vsock calls (supervise.c): static programs and Go's raw system calls;
 * auto:    seccomp for a program without PT_INTERP or with Go's build information,
 *          preload otherwise (scripts, dynamic C programs).
 * Either way COMMAND's environment carries NSM_VSOCK_CID and NSM_VSOCK_DIR.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "emu.h"
#include "filter.h"
#include "supervise.h"

#ifndef NSMKIT_LIBDIR
#define NSMKIT_LIBDIR "/usr/local/lib"
#endif
#define SHIM_NAME "libnsm-vsock-preload.so"

int nsmvsock_usage(const nsmkit_cli *cli, const char *problem)
{
    fprintf(stderr, "%s: %s\n", cli->program, problem);
    nsmkit_opts_usage(cli, stderr);
    return 2;
}

int nsmvsock_parse(const nsmkit_cli *cli, int argc, char **argv, void *ctx, int *operands)
{
    nsmkit_error e;
    *operands = argc - 1;
    int r = nsmkit_opts_parse(cli, operands, argv + 1, ctx, &e);
    if (r == NSMKIT_OPTS_RUN)
        return -1;
    return r == NSMKIT_OPTS_DONE ? 0 : nsmvsock_usage(cli, e.msg);
}

int nsmvsock_report(const char *cmd, int code, const char *msg)
{
    fprintf(stderr, "nsm-vsock %s: %d %s: %s\n", cmd, code, nsmvsock_code_name(code), msg);
    return 2;
}

enum mode { MODE_AUTO, MODE_PRELOAD, MODE_SECCOMP };

/* ---- which mode fits the program --------------------------------------------------------- */

/* The program's file as execvp would find it. 0 or -1. */
static int find_program(const char *name, char *out, size_t cap)
{
    if (strchr(name, '/') != NULL)
        return snprintf(out, cap, "%s", name) < (int)cap && access(out, X_OK) == 0 ? 0 : -1;
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        int w = snprintf(out, cap, "%.*s/%s", (int)n, path, name);
        if (w > 0 && (size_t)w < cap && access(out, X_OK) == 0)
            return 0;
        path += n;
        if (*path == ':')
            path++;
    }
    return -1;
}

/* Whether the ELF file has a section named name (64-bit little-endian files only). */
static int has_section(int fd, const Elf64_Ehdr *eh, const char *name)
{
    if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shstrndx >= eh->e_shnum || eh->e_shnum > 4096)
        return 0;
    Elf64_Shdr strtab;
    if (pread(fd, &strtab, sizeof(strtab), (off_t)(eh->e_shoff + eh->e_shstrndx * sizeof(Elf64_Shdr))) !=
        (ssize_t)sizeof(strtab))
        return 0;
    size_t nlen = strlen(name) + 1;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        Elf64_Shdr sh;
        char got[32];
        if (pread(fd, &sh, sizeof(sh), (off_t)(eh->e_shoff + i * sizeof(sh))) != (ssize_t)sizeof(sh))
            return 0;
        if (sh.sh_name >= strtab.sh_size || nlen > sizeof(got))
            continue;
        if (pread(fd, got, nlen, (off_t)(strtab.sh_offset + sh.sh_name)) == (ssize_t)nlen &&
            memcmp(got, name, nlen) == 0)
            return 1;
    }
    return 0;
}

/* MODE_SECCOMP for a static ELF program or a Go one, MODE_PRELOAD for anything else. */
static enum mode pick_mode(const char *program)
{
    char path[PATH_MAX];
    if (find_program(program, path, sizeof(path)) != 0)
        return MODE_PRELOAD; /* execvp will report it */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return MODE_PRELOAD;
    Elf64_Ehdr eh;
    enum mode m = MODE_PRELOAD;
    if (pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
        eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 4096) {
        int interp = 0;
        for (unsigned i = 0; i < eh.e_phnum; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) == (ssize_t)sizeof(ph) &&
                ph.p_type == PT_INTERP)
                interp = 1;
        }
        if (!interp || has_section(fd, &eh, ".go.buildinfo") || has_section(fd, &eh, ".note.go.buildid"))
            m = MODE_SECCOMP;
    } else if (pread(fd, &eh, 4, 0) == 4 && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0) {
        m = MODE_SECCOMP; /* another ELF class: let nothing bypass the emulation */
    }
    close(fd);
    return m;
}

/* ---- the environment ------------------------------------------------------------------------ */

static int find_shim(char *out, size_t cap)
{
    const char *env = getenv("NSM_VSOCK_PRELOAD");
    if (env != NULL && env[0] != '\0')
        return realpath(env, out) != NULL && access(out, R_OK) == 0 ? 0 : -1;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char beside[PATH_MAX + 64];
        snprintf(beside, sizeof(beside), "%s/../lib/" SHIM_NAME, dirname(exe));
        if (realpath(beside, out) != NULL && access(out, R_OK) == 0)
            return 0;
    }
    (void)cap;
    return realpath(NSMKIT_LIBDIR "/" SHIM_NAME, out) != NULL && access(out, R_OK) == 0 ? 0 : -1;
}

/* When nsm-vsock runs under AddressSanitizer, so does the shim: its runtime goes first. */
static const char *sanitizer_runtime(void)
{
    void *sym = dlsym(RTLD_DEFAULT, "__asan_init");
    Dl_info info;
    if (sym != NULL && dladdr(sym, &info) && info.dli_fname != NULL && strstr(info.dli_fname, "asan"))
        return info.dli_fname;
    return NULL;
}

static int set_environment(const vsemu *emu, const char *shim)
{
    char cid[16];
    snprintf(cid, sizeof(cid), "%u", emu->local_cid);
    if (setenv("NSM_VSOCK_CID", cid, 1) != 0 || setenv("NSM_VSOCK_DIR", emu->net.dir, 1) != 0)
        return -1;
    if (shim == NULL)
        return 0;
    const char *old = getenv("LD_PRELOAD");
    const char *runtime = sanitizer_runtime();
    size_t len = strlen(shim) + (old ? strlen(old) : 0) + (runtime ? strlen(runtime) : 0) + 4;
    char *ld = malloc(len);
    if (ld == NULL)
        return -1;
    snprintf(ld, len, "%s%s%s%s%s", runtime ? runtime : "", runtime ? ":" : "", shim,
             old && *old ? ":" : "", old && *old ? old : "");
    int rc = setenv("LD_PRELOAD", ld, 1);
    free(ld);
    return rc;
}

/* ---- running ----------------------------------------------------------------------------- */

static int run_preload(const vsemu *emu, char **argv)
{
    char shim[PATH_MAX];
    if (find_shim(shim, sizeof(shim)) != 0 || strpbrk(shim, ": ") != NULL)
        return nsmvsock_report("exec", NSMVSOCK_ERR_SHIM,
                               "cannot find " SHIM_NAME " (beside the program's ../lib or in "
                               NSMKIT_LIBDIR "; NSM_VSOCK_PRELOAD names it)");
    if (set_environment(emu, shim) != 0)
        return nsmvsock_report("exec", NSMVSOCK_ERR_NO_MEMORY, "cannot set the environment");
    if (vsfilter_install_guard() != 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "the guard filter: %s", strerror(errno));
        return nsmvsock_report("exec", NSMVSOCK_ERR_SECCOMP, msg);
    }
    execvp(argv[0], argv);
    char msg[PATH_MAX + 64];
    snprintf(msg, sizeof(msg), "%s: %s", argv[0], strerror(errno));
    return nsmvsock_report("exec", NSMVSOCK_ERR_EXEC, msg);
}

/* The child of seccomp mode: filter, hand the listener over, exec. */
static _Noreturn void seccomp_child(char **argv, int sock)
{
    /* without its supervisor the program's vsock calls would fail (ENOSYS): end with it */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int listener = vsfilter_install_notify();
    if (listener < 0) {
        int err = errno;
        if (write(sock, &err, sizeof(err)) < 0)
            _exit(127);
        _exit(127);
    }
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof(cbuf));
    int zero = 0;
    struct iovec iov = {.iov_base = &zero, .iov_len = sizeof(zero)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &listener, sizeof(int));
    if (sendmsg(sock, &msg, 0) != (ssize_t)sizeof(zero))
        _exit(127);
    close(listener);
    /* wait until the supervisor holds the listener: the exec itself opens files */
    char go;
    if (read(sock, &go, 1) != 1)
        _exit(127);
    close(sock);
    execvp(argv[0], argv);
    fprintf(stderr, "nsm-vsock exec: %d %s: %s: %s\n", NSMVSOCK_ERR_EXEC, nsmvsock_code_name(NSMVSOCK_ERR_EXEC),
            argv[0], strerror(errno));
    _exit(127);
}

/* The listener from the child, or -1 (errno in *err when the child could not filter). */
static int receive_listener(int sock, int *err)
{
    int word = 0;
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = &word, .iov_len = sizeof(word)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    *err = word != 0 ? word : EIO;
    if (n != (ssize_t)sizeof(word))
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c == NULL || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(fd));
    return fd;
}

static int run_seccomp(vsemu *emu, char **argv)
{
    if (set_environment(emu, NULL) != 0)
        return nsmvsock_report("exec", NSMVSOCK_ERR_NO_MEMORY, "cannot set the environment");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return nsmvsock_report("exec", NSMVSOCK_ERR_EXEC, strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        return nsmvsock_report("exec", NSMVSOCK_ERR_EXEC, strerror(errno));
    if (pid == 0) {
        close(sv[0]);
        seccomp_child(argv, sv[1]);
    }
    close(sv[1]);
    int err;
    int listener = receive_listener(sv[0], &err);
    if (listener < 0) {
        close(sv[0]);
        waitpid(pid, NULL, 0);
        char msg[128];
        snprintf(msg, sizeof(msg), "the notification filter: %s", strerror(err));
        return nsmvsock_report("exec", NSMVSOCK_ERR_SECCOMP, msg);
    }
    if (write(sv[0], "g", 1) != 1) {
        close(sv[0]);
        close(listener);
        waitpid(pid, NULL, 0);
        return nsmvsock_report("exec", NSMVSOCK_ERR_EXEC, "the command did not start");
    }
    close(sv[0]);
    return vssup_run(emu, listener, pid);
}

static int parse_cid(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < NSMVSOCK_CID_HOST || v >= NSMVSOCK_CID_ANY)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

typedef struct {
    const char *dir, *cid;
    enum mode mode;
} exec_args;

static int set_mode(void *ctx, const char *value, nsmkit_error *e)
{
    exec_args *x = ctx;
    if (!strcmp(value, "preload"))
        x->mode = MODE_PRELOAD;
    else if (!strcmp(value, "seccomp"))
        x->mode = MODE_SECCOMP;
    else if (!strcmp(value, "auto"))
        x->mode = MODE_AUTO;
    else
        return nsmkit_fail(e, "--mode takes preload, seccomp or auto");
    return 0;
}

static const nsmkit_opt exec_rows[] = {
    NSMKIT_OPT_STRING("--cid", "N", exec_args, cid,
                      "COMMAND's local CID, 2..4294967294 (IOCTL_VM_SOCKETS_GET_LOCAL_CID)"),
    NSMKIT_OPT_STRING("--dir", "DIR", exec_args, dir, "the emulated vsock network"),
    NSMKIT_OPT_CALL("--mode", "MODE", set_mode,
                    "preload: an LD_PRELOAD shim, dynamically linked programs (fastest)\n"
                    "seccomp: seccomp user notification: static programs, Go, raw system calls\n"
                    "auto: (default) seccomp for static or Go programs, preload otherwise"),
};
static const nsmkit_opt_group exec_groups[] = {{NULL, exec_rows, NSMKIT_ROWS(exec_rows)}};
static const nsmkit_cli exec_cli = {
    "nsm-vsock exec", "--cid N [--dir DIR] [--mode preload|seccomp|auto] -- COMMAND [ARG]...",
    "Runs COMMAND with its AF_VSOCK sockets emulated over the network DIR, its local CID N\n"
    "(IOCTL_VM_SOCKETS_GET_LOCAL_CID on /dev/vsock answers N). No AF_VSOCK socket of COMMAND\n"
    "reaches the kernel.",
    exec_groups, 1, true,
    "Exit status: COMMAND's (128+N when a signal N ended it), 2 when it cannot start."};

int nsmvsock_cmd_exec(int argc, char **argv)
{
    exec_args x = {.mode = MODE_AUTO};
    int n, status = nsmvsock_parse(&exec_cli, argc, argv, &x, &n);
    if (status >= 0)
        return status;
    vsemu emu;
    if (x.cid == NULL || parse_cid(x.cid, &emu.local_cid) != 0)
        return nsmvsock_usage(&exec_cli, "--cid takes a CID from 2 to 4294967294");
    if (n == 0)
        return nsmvsock_usage(&exec_cli, "no COMMAND");
    char **command = argv + 1;
    const char *dir = x.dir;
    enum mode mode = x.mode;
    nsmkit_error e;
    int code = nsmvsock_net_open(&emu.net, dir, &e);
    if (code != NSMVSOCK_ERR_OK)
        return nsmvsock_report("exec", code, e.msg);
    char abs[PATH_MAX];
    size_t alen;
    if (emu.net.dir[0] != '/' && realpath(emu.net.dir, abs) != NULL && (alen = strlen(abs)) <= NSMVSOCK_DIR_MAX)
        memcpy(emu.net.dir, abs, alen + 1); /* COMMAND may chdir */
    if (mode == MODE_AUTO)
        mode = pick_mode(command[0]);
    if (getenv("NSM_VSOCK_TRACE") != NULL)
        fprintf(stderr, "nsm-vsock exec: %s mode, CID %u, DIR %s\n",
                mode == MODE_SECCOMP ? "seccomp" : "preload", emu.local_cid, emu.net.dir);
    return mode == MODE_SECCOMP ? run_seccomp(&emu, command) : run_preload(&emu, command);
}
