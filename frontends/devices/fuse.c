/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE /dev/nsm (see fuse.h): the copier over the calling thread, the one-file
 * filesystem, its serving loop, and `nsm-sim fuse --mount PATH`.
 *
 * The filesystem has one inode, its root, a regular file (mounted with rootmode=100000
 * over a file). open, getattr, ioctl and release are all it answers; read and write fail
 * with EINVAL as on the driver, which has neither.
 */
#define FUSE_USE_VERSION 35
#include <fuse3/fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frontends/transports/client.h"
#include "frontends/transports/device.h"
#include "frontends/transports/envopts.h"
#include "frontends/transports/log.h"
#include "frontends/transports/core_handler.h"
#include "fuse.h"
#include "nsmkit/fault.h"
#include "nsmkit/opts.h"

/* ---- the copier -------------------------------------------------------------------------- */

void nsmsim_fuse_caller_init(nsmsim_fuse_caller *caller, pid_t tid, uint64_t argp,
                             const void *arg_in)
{
    memset(caller, 0, sizeof(*caller));
    caller->tid = tid;
    caller->argp = argp;
    caller->arg_in = arg_in;
}

static bool is_argument(const nsmsim_fuse_caller *caller, uint64_t addr, size_t n)
{
    return addr == caller->argp && n == sizeof(struct nsm_raw);
}

/* process_vm_* on the caller's thread; a partial copy is a fault, as in copy_from_user. */
static int caller_copy(nsmsim_fuse_caller *caller, void *local, uint64_t remote, size_t n,
                       bool to_remote)
{
    if (n == 0)
        return 0;
    if (remote > UINTPTR_MAX || n > UINTPTR_MAX - remote)
        return EFAULT;
    struct iovec l = {.iov_base = local, .iov_len = n};
    struct iovec r = {.iov_base = (void *)(uintptr_t)remote, .iov_len = n};
    int saved = errno;
    ssize_t got = to_remote ? process_vm_writev(caller->tid, &l, 1, &r, 1, 0)
                            : process_vm_readv(caller->tid, &l, 1, &r, 1, 0);
    if (got < 0 && errno != EFAULT)
        caller->refused = errno; /* not the caller's pointer: we cannot reach it at all */
    errno = saved;
    return got == (ssize_t)n ? 0 : EFAULT;
}

static int caller_read(void *ctx, void *dst, uint64_t addr, size_t n)
{
    nsmsim_fuse_caller *caller = ctx;
    if (is_argument(caller, addr, n)) {
        memcpy(dst, caller->arg_in, n);
        return 0;
    }
    return caller_copy(caller, dst, addr, n, false);
}

static int caller_write(void *ctx, uint64_t addr, const void *src, size_t n)
{
    nsmsim_fuse_caller *caller = ctx;
    if (is_argument(caller, addr, n)) {
        /* the kernel copies the reply to the argument after we answer */
        memcpy(caller->arg_out, src, n);
        caller->arg_written = true;
        return 0;
    }
    return caller_copy(caller, (void *)(uintptr_t)src, addr, n, true);
}

nsmsim_copier nsmsim_fuse_copier(nsmsim_fuse_caller *caller)
{
    return (nsmsim_copier){.read = caller_read, .write = caller_write, .ctx = caller};
}

int nsmsim_fuse_ioctl(nsmsim_fuse_caller *caller, unsigned cmd, size_t in_len, size_t out_len,
                      nsmsim_handler_fn handler, void *handler_ctx)
{
    /* drivers/misc/nsm.c: every other request is EINVAL */
    if (cmd != NSM_IOCTL_RAW)
        return EINVAL;
    /* A restricted ioctl always carries the 32 bytes _IOWR declares; anything else is not
     * the kernel we know. */
    if (in_len != sizeof(struct nsm_raw) || out_len != sizeof(struct nsm_raw))
        return EINVAL;
    if (caller->tid <= 0) {
        caller->refused = ESRCH; /* the caller is outside our pid namespace */
        return EIO;
    }
    nsmsim_copier copier = nsmsim_fuse_copier(caller);
    int err = nsmsim_device_ioctl_raw(&copier, caller->argp, handler, handler_ctx);
    if (err == EFAULT && caller->refused)
        return EIO;
    if (err == 0 && !caller->arg_written)
        return EIO;
    return err;
}

/* ---- the filesystem ------------------------------------------------------------------------ */

struct nsmsim_fuse_device {
    nsmsim_fuse_options options;
    struct fuse_session *session;
    struct fuse_buf buf;
    bool mounted_by_path;
    time_t started;
    uint64_t requests;
    int logged_refusal; /* the errno last reported, so that it is said once */
    bool trace;         /* NSM_SIM_TRACE: one line per request, as the shim prints */
};

/* The NSM_SIM_TRACE line of one request, in the shim's words (programs the shim cannot
 * reach, static and Go ones, are traced here). */
static void trace_request(const nsmsim_fuse_device *dev, const nsmsim_fuse_caller *caller,
                          int err)
{
    struct nsm_raw raw;
    if (err == 0) {
        memcpy(&raw, caller->arg_out, sizeof(raw));
        nsmsim_log_line(dev->options.log_prefix,
                        "NSM_IOCTL_RAW from process %d: %llu-byte request, %llu-byte response "
                        "(FUSE /dev/nsm)", (int)caller->tid, (unsigned long long)raw.request.len,
                        (unsigned long long)raw.response.len);
    } else {
        nsmsim_log_line(dev->options.log_prefix, "NSM_IOCTL_RAW from process %d: %s (FUSE "
                        "/dev/nsm)", (int)caller->tid, strerror(err));
    }
}

static void fill_stat(const nsmsim_fuse_device *dev, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = FUSE_ROOT_ID;
    st->st_mode = S_IFREG | (dev->options.mode & 07777);
    st->st_nlink = 1;
    st->st_uid = dev->options.uid;
    st->st_gid = dev->options.gid;
    st->st_atime = st->st_mtime = st->st_ctime = dev->started;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    nsmsim_fuse_device *dev = fuse_req_userdata(req);
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct stat st;
    fill_stat(dev, &st);
    fuse_reply_attr(req, &st, 3600.0);
}

/* O_TRUNC on open arrives as a size change: a device has no size, so it is ignored as the
 * kernel ignores it for a character device. Every other change is refused. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    (void)attr;
    (void)fi;
    nsmsim_fuse_device *dev = fuse_req_userdata(req);
    if (ino != FUSE_ROOT_ID || (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_CTIME))) {
        fuse_reply_err(req, EPERM);
        return;
    }
    struct stat st;
    fill_stat(dev, &st);
    fuse_reply_attr(req, &st, 3600.0);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    (void)parent;
    (void)name;
    fuse_reply_err(req, ENOTDIR);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    fi->direct_io = 1;   /* no page cache between callers and the device */
    fi->nonseekable = 1; /* as a misc device opened without llseek */
    fi->keep_cache = 0;
    fuse_reply_open(req, fi);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)ino;
    (void)size;
    (void)off;
    (void)fi;
    fuse_reply_err(req, EINVAL);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)ino;
    (void)buf;
    (void)size;
    (void)off;
    (void)fi;
    fuse_reply_err(req, EINVAL);
}

static void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
                     struct fuse_file_info *fi, unsigned flags, const void *in_buf,
                     size_t in_bufsz, size_t out_bufsz)
{
    (void)ino;
    (void)fi;
    (void)flags; /* FUSE_IOCTL_COMPAT: struct nsm_raw has the same layout for 32-bit callers */
    nsmsim_fuse_device *dev = fuse_req_userdata(req);
    nsmsim_fuse_caller caller;
    nsmsim_fuse_caller_init(&caller, fuse_req_ctx(req)->pid, (uint64_t)(uintptr_t)arg, in_buf);
    int err = nsmsim_fuse_ioctl(&caller, cmd, in_bufsz, out_bufsz, dev->options.handler,
                                dev->options.handler_ctx);
    dev->requests++;
    if (dev->trace)
        trace_request(dev, &caller, err);
    if (err == EIO && caller.refused && caller.refused != dev->logged_refusal) {
        dev->logged_refusal = caller.refused;
        if (caller.refused == ESRCH)
            nsmsim_log_line(dev->options.log_prefix,
                            "a caller outside this server's pid namespace (or one that "
                            "exited) cannot be served: its requests fail with EIO");
        else
            nsmsim_log_line(dev->options.log_prefix,
                            "cannot reach the memory of process %d: %s (process_vm_readv/"
                            "writev refused: ptrace rules, seccomp or an LSM); requests "
                            "fail with EIO",
                            (int)caller.tid, strerror(caller.refused));
    }
    if (err != 0)
        fuse_reply_err(req, err);
    else
        fuse_reply_ioctl(req, 0, caller.arg_out, sizeof(caller.arg_out));
}

static const struct fuse_lowlevel_ops device_ops = {
    .lookup = op_lookup,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .release = op_release,
    .ioctl = op_ioctl,
};

static int open_session(const nsmsim_fuse_options *options, const char *mount_options,
                        nsmsim_fuse_device **out, nsmkit_error *e)
{
    nsmsim_fuse_device *dev = calloc(1, sizeof(*dev));
    if (!dev)
        return nsmkit_fail(e, "out of memory");
    dev->options = *options;
    dev->trace = nsmsim_env_flag("NSM_SIM_TRACE");
    dev->started = time(NULL);
    char *argv[] = {"nsm-sim", "-o", (char *)(uintptr_t)mount_options, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(mount_options ? 3 : 1, argv);
    dev->session = fuse_session_new(&args, &device_ops, sizeof(device_ops), dev);
    fuse_opt_free_args(&args);
    if (!dev->session) {
        free(dev);
        return nsmkit_fail(e, "libfuse cannot start a session (see the line above)");
    }
    *out = dev;
    return 0;
}

int nsmsim_fuse_open_fd(const nsmsim_fuse_options *options, int fuse_fd,
                        nsmsim_fuse_device **out, nsmkit_error *e)
{
    if (open_session(options, NULL, out, e) != 0) {
        close(fuse_fd);
        return -1;
    }
    /* libfuse takes a mounted descriptor as the mount point /dev/fd/N */
    char path[32];
    snprintf(path, sizeof(path), "/dev/fd/%d", fuse_fd);
    if (fuse_session_mount((*out)->session, path) != 0) {
        close(fuse_fd);
        nsmsim_fuse_close(*out);
        *out = NULL;
        return nsmkit_fail(e, "libfuse refused the mounted /dev/fuse descriptor");
    }
    return 0;
}

int nsmsim_fuse_open_mount(const nsmsim_fuse_options *options, const char *path,
                           nsmsim_fuse_device **out, nsmkit_error *e)
{
    /* default_permissions: the kernel checks the file's mode; allow_other (root only, or
     * fusermount3 refuses it) lets other users' processes reach the file at all. */
    const char *mount_options =
        geteuid() == 0 ? "fsname=nsm-sim,subtype=nsm-sim,default_permissions,auto_unmount,"
                         "allow_other"
                       : "fsname=nsm-sim,subtype=nsm-sim,default_permissions,auto_unmount";
    if (open_session(options, mount_options, out, e) != 0)
        return -1;
    if (fuse_session_mount((*out)->session, path) != 0) {
        nsmsim_fuse_close(*out);
        *out = NULL;
        return nsmkit_fail(e, "cannot mount on %s (libfuse or fusermount3 said why above)",
                           path);
    }
    (*out)->mounted_by_path = true;
    return 0;
}

nsmsim_fuse_status nsmsim_fuse_serve(nsmsim_fuse_device *dev, int stop_fd, nsmkit_error *e)
{
    struct fuse_session *se = dev->session;
    struct pollfd fds[2] = {{.fd = fuse_session_fd(se), .events = POLLIN},
                            {.fd = stop_fd, .events = POLLIN}};
    for (;;) {
        if (fuse_session_exited(se))
            return NSMSIM_FUSE_GONE;
        int n = poll(fds, stop_fd >= 0 ? 2 : 1, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            nsmkit_fail(e, "poll: %s", strerror(errno));
            return NSMSIM_FUSE_FAILED;
        }
        if (stop_fd >= 0 && fds[1].revents)
            return NSMSIM_FUSE_STOPPED;
        if (!fds[0].revents)
            continue;
        int res = fuse_session_receive_buf(se, &dev->buf);
        if (res == -EINTR || res == -EAGAIN)
            continue;
        if (res == 0 || res == -ENODEV)
            return NSMSIM_FUSE_GONE; /* unmounted: libfuse reads ENODEV as the end */
        if (res < 0) {
            nsmkit_fail(e, "reading /dev/fuse: %s", strerror(-res));
            return NSMSIM_FUSE_FAILED;
        }
        fuse_session_process_buf(se, &dev->buf);
    }
}

uint64_t nsmsim_fuse_requests(const nsmsim_fuse_device *dev)
{
    return dev->requests;
}

void nsmsim_fuse_close(nsmsim_fuse_device *dev)
{
    if (!dev)
        return;
    if (dev->mounted_by_path)
        fuse_session_unmount(dev->session);
    fuse_session_destroy(dev->session);
    free(dev->buf.mem);
    free(dev);
}

/* ---- the unmount watcher ----------------------------------------------------------------- */

/* mountinfo escapes these in mount points (as \ooo) */
static void mountinfo_escape(const char *path, char *out, size_t size)
{
    size_t k = 0;
    for (const char *p = path; *p && k + 5 < size; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\\')
            k += (size_t)snprintf(out + k, size - k, "\\%03o", (unsigned char)*p);
        else
            out[k++] = *p;
    }
    out[k] = '\0';
}

/* The device number of the topmost fuse.nsm-sim mount on the (escaped) mount point, read
 * from mountinfo: a stat() would ask our own filesystem, which is not serving yet. */
static bool find_mount(const char *escaped, unsigned *major_no, unsigned *minor_no)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return false;
    char line[8192];
    bool found = false;
    while (fgets(line, sizeof(line), f)) {
        unsigned ma, mi;
        char mnt[4096];
        const char *sep = strstr(line, " - ");
        if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi, mnt) == 3 && sep &&
            !strncmp(sep + 3, "fuse.nsm-sim ", 13) && !strcmp(mnt, escaped)) {
            *major_no = ma; /* the last one listed is the one on top */
            *minor_no = mi;
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* True while that very mount (mount point and device number) is still there. */
static bool still_mounted(const char *escaped, unsigned major_no, unsigned minor_no)
{
    unsigned ma, mi;
    return find_mount(escaped, &ma, &mi) && ma == major_no && mi == minor_no;
}

/* libfuse's auto_unmount (fusermount3) does not always unmount after a SIGKILL (seen here
 * about one time in six), so a watcher of our own does: a child that waits until the
 * server's end of a pipe closes - the server exited, however - and then unmounts the file
 * if this very mount is still there, and removes the file the server created. Returns the
 * pipe's write end for the server to keep (close-on-exec), or -1. */
static int start_unmount_watcher(const char *path, bool created, int fuse_fd, pid_t *out_pid)
{
    char escaped[4096];
    mountinfo_escape(path, escaped, sizeof(escaped));
    unsigned ma, mi;
    if (!find_mount(escaped, &ma, &mi)) {
        errno = ENOENT;
        return -1;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        /* signals for the server's process group are not for us: we outlive the server */
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        close(p[1]);
        close(fuse_fd); /* only the server may keep the connection alive */
        char c;
        while (read(p[0], &c, 1) < 0 && errno == EINTR)
            ;
        if (still_mounted(escaped, ma, mi)) {
            if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
                pid_t u = fork();
                if (u == 0) {
                    execlp("fusermount3", "fusermount3", "-u", "-z", "--", path, (char *)NULL);
                    _exit(127);
                }
                int w;
                if (u > 0)
                    waitpid(u, &w, 0);
            }
        }
        if (created && !still_mounted(escaped, ma, mi))
            unlink(path); /* the server did not live to remove it (ENOENT when it did) */
        _exit(0);
    }
    close(p[0]);
    *out_pid = pid;
    return p[1];
}

/* ---- nsm-sim fuse --mount PATH ----------------------------------------------------------- */

static int fuse_stop_pipe[2] = {-1, -1};

static void on_fuse_stop(int sig)
{
    int saved = errno;
    char c = (char)sig;
    ssize_t w = write(fuse_stop_pipe[1], &c, 1);
    (void)w;
    errno = saved;
}

typedef struct {
    nsmsim_options options; /* first: the state options' rows fill it */
    const char *mount, *socket;
    unsigned mode;
} fuse_args;

static int set_mode(void *ctx, const char *value, nsmkit_error *e)
{
    char *end;
    unsigned long m = strtoul(value, &end, 8);
    if (*end || end == value || m > 0777)
        return nsmkit_fail(e, "--mode %s: not permission bits in octal", value);
    ((fuse_args *)ctx)->mode = (unsigned)m;
    return 0;
}

static const nsmkit_opt fuse_rows[] = {
    NSMKIT_OPT_STRING("--mount", "PATH", fuse_args, mount,
                      "the file the device is mounted on (created when missing\n"
                      "and removed again)"),
    NSMKIT_OPT_STRING("--socket", "SERVER", fuse_args, socket,
                      "forward to `nsm-sim serve` on SERVER instead of an NSM\nof its own"),
    NSMKIT_OPT_CALL("--mode", "OCTAL", set_mode, "the file's permissions (default 0600)"),
};

/* True when args name one of the state options (before parsing moves them). */
static bool names_state_option(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        for (size_t r = 0; r < nsmfault_state_options.count; r++) {
            const char *name = nsmfault_state_options.rows[r].name;
            size_t n = strlen(name);
            if (strncmp(argv[i], name, n) == 0 && (argv[i][n] == '\0' || argv[i][n] == '='))
                return true;
        }
    return false;
}

/* Returns -1 to go on, or the exit status (0 after --help or --version). */
static int fuse_parse(int argc, char **argv, fuse_args *a, const char *prefix)
{
    const nsmkit_opt_group groups[2] = {{NULL, fuse_rows, NSMKIT_ROWS(fuse_rows)},
                                        nsmfault_state_options};
    const nsmkit_cli cli = {prefix, "--mount PATH [--socket SERVER] [--mode OCTAL] [state options]",
                            "Serves a simulated /dev/nsm as a FUSE file mounted on PATH, with "
                            "its own simulated NSM\nor forwarding to `nsm-sim serve` on SERVER. "
                            "Stops on SIGINT or SIGTERM and unmounts.",
                            groups, 2, false, "NSM_SIM_TRACE=1 prints one line per request."};
    bool state_options = names_state_option(argc, argv);
    nsmkit_error e;
    int n = argc;
    int r = nsmkit_opts_parse(&cli, &n, argv, a, &e);
    if (r == NSMKIT_OPTS_DONE)
        return 0;
    if (r == NSMKIT_OPTS_RUN && n > 0)
        nsmkit_fail(&e, "unknown argument %s", argv[0]);
    else if (r == NSMKIT_OPTS_RUN && !a->mount)
        nsmkit_fail(&e, "--mount PATH is required");
    else if (r == NSMKIT_OPTS_RUN && a->socket && state_options)
        nsmkit_fail(&e, "state options set up an NSM of its own; with --socket the server's "
                        "NSM answers (give them to `nsm-sim serve`)");
    else if (r == NSMKIT_OPTS_RUN)
        return -1;
    fprintf(stderr, "%s: %s\n", prefix, e.msg);
    nsmkit_opts_usage(&cli, stderr);
    return 2;
}

/* The causes a user can act on, each in one line, before libfuse speaks; then the file to
 * mount on (*created when made here). Returns 0, or 1 after saying why not. */
static int fuse_mount_file(const char *prefix, const char *path, bool *created)
{
    int probe = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (probe < 0) {
        fprintf(stderr, "%s: cannot open /dev/fuse: %s (%s)\n", prefix, strerror(errno),
                errno == ENOENT ? "no FUSE in this kernel or container; load the fuse module "
                                  "or pass the device in"
                                : "FUSE is not available to this user");
        return 1;
    }
    close(probe);
    struct stat st;
    *created = false;
    if (lstat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
            fprintf(stderr, "%s: %s is not a file: mount the device on a file\n", prefix, path);
            return 1;
        }
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot create %s: %s\n", prefix, path, strerror(errno));
        return 1;
    }
    close(fd);
    *created = true;
    return 0;
}

/* Who answers the device's requests: a server (--socket) or an NSM of its own. */
static int fuse_answerer(const fuse_args *a, nsmsim_fuse_device *dev, nsmsim **sim,
                         nsmsim_remote *remote, bool *have_remote)
{
    nsmkit_error e;
    const char *prefix = dev->options.log_prefix;
    if (a->socket) {
        if (nsmsim_remote_init(remote, a->socket, NSMSIM_DEFAULT_TIMEOUT_MS, prefix, &e) != 0) {
            fprintf(stderr, "%s: %s\n", prefix, e.msg);
            return -1;
        }
        *have_remote = true;
        dev->options.handler = nsmsim_remote_handler;
        dev->options.handler_ctx = remote;
        return 0;
    }
    if (nsmfault_sim_new(&a->options, sim, &e) != 0) {
        fprintf(stderr, "%s: %s\n", prefix, e.msg);
        return -1;
    }
    dev->options.handler = nsmsim_core_handler;
    dev->options.handler_ctx = *sim;
    return 0;
}

static void fuse_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fuse_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int nsmsim_cmd_fuse(int argc, char **argv)
{
    static const char *prefix = "nsm-sim fuse";
    fuse_args a = {.mode = 0600};
    nsmkit_error e;
    nsmsim_options_init(&a.options);
    int parsed = fuse_parse(argc, argv, &a, prefix);
    if (parsed >= 0)
        return parsed;
    bool created = false;
    if (fuse_mount_file(prefix, a.mount, &created) != 0)
        return 1;

    int status = 1;
    nsmsim *sim = NULL;
    nsmsim_remote remote;
    bool have_remote = false;
    nsmsim_fuse_device *dev = NULL;
    int watch_fd = -1;
    pid_t watcher = 0;
    if (pipe2(fuse_stop_pipe, O_CLOEXEC) != 0) {
        fprintf(stderr, "%s: pipe: %s\n", prefix, strerror(errno));
        goto out;
    }
    /* Mounted first, the device answering nothing until it serves; then the watcher is
     * forked, before the simulated NSM (and its keys) exist in this process. */
    nsmsim_fuse_options fo = {.mode = a.mode, .uid = geteuid(), .gid = getegid(),
                              .log_prefix = prefix};
    if (nsmsim_fuse_open_mount(&fo, a.mount, &dev, &e) != 0) {
        fprintf(stderr, "%s: %s\n", prefix, e.msg);
        goto out;
    }
    watch_fd = start_unmount_watcher(a.mount, created, fuse_session_fd(dev->session),
                                     &watcher);
    if (watch_fd < 0)
        fprintf(stderr, "%s: no unmount watcher (%s): a SIGKILL may leave the mount behind\n",
                prefix, strerror(errno));
    if (fuse_answerer(&a, dev, &sim, &remote, &have_remote) != 0)
        goto out;
    fuse_signals();
    if (a.socket)
        fprintf(stderr, "%s: serving %s, forwarding to %s\n", prefix, a.mount, a.socket);
    else
        fprintf(stderr, "%s: serving %s (module %s)\n", prefix, a.mount,
                nsmsim_module_id(sim));
    nsmsim_fuse_status s = nsmsim_fuse_serve(dev, fuse_stop_pipe[0], &e);
    if (s == NSMSIM_FUSE_FAILED) {
        fprintf(stderr, "%s: %s\n", prefix, e.msg);
        goto out;
    }
    fprintf(stderr, "%s: %s after %llu requests\n", prefix,
            s == NSMSIM_FUSE_GONE ? "unmounted from outside" : "stopped",
            (unsigned long long)nsmsim_fuse_requests(dev));
    status = 0;
out:
    nsmsim_fuse_close(dev);
    if (created && unlink(a.mount) != 0)
        fprintf(stderr, "%s: cannot remove %s: %s\n", prefix, a.mount, strerror(errno));
    if (watch_fd >= 0) { /* the watcher finds nothing left to do and exits */
        close(watch_fd);
        int w;
        while (waitpid(watcher, &w, 0) < 0 && errno == EINTR)
            ;
    }
    if (have_remote)
        nsmsim_remote_close(&remote);
    if (sim)
        nsmsim_free(sim);
    for (int i = 0; i < 2; i++)
        if (fuse_stop_pipe[i] >= 0)
            close(fuse_stop_pipe[i]);
    fuse_stop_pipe[0] = fuse_stop_pipe[1] = -1;
    return status;
}
