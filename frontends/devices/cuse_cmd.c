/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `nsm-sim cuse`: a character device /dev/nsm served from user space through CUSE, whose
 * requests go to a core elsewhere:
 *
 *   --port PATH|auto   a virtio-serial port (inside a QEMU guest: the host side of the port
 *                      is `nsm-sim serve`); auto finds the port named "nsm" in sysfs
 *   --socket PATH      an `nsm-sim serve` socket (on a host whose kernel has CUSE)
 *
 * The daemon only forwards bytes (`u32 LE length || CBOR` frames): the keys and the NSM
 * state stay with the server. It speaks the FUSE protocol on /dev/cuse itself (cuse.c),
 * serving one request at a time as the driver's mutex does. The guest build of this file
 * (build/qemu/guest/nsm-sim, cuse_main.c) is a static binary with no libcbor or OpenSSL.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cuse.h"
#include "frontends/transports/client.h"
#include "frontends/transports/frame.h"
#include "frontends/transports/log.h"
#include "nsmkit/error.h"
#include "nsmkit/hex.h"
#include "nsmkit/opts.h"

#define LOG_PREFIX "nsm-sim cuse"

/* ---- the virtio-serial port as a handler ------------------------------------------------ */

typedef struct {
    const char *path;
    int fd;
    int timeout_ms;
    int desynced; /* a frame failed half-way: late bytes may still arrive */
    int failing;
} port_link;

/* Throws away whatever the host sent that nobody asked for (the tail of a response that
 * arrived after we gave up on it), so the next request starts on a frame boundary. */
static void port_drain(port_link *link)
{
    uint8_t junk[4096];
    for (;;) {
        struct pollfd p = {.fd = link->fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
            break;
        ssize_t n = read(link->fd, junk, sizeof(junk));
        if (n <= 0)
            break;
    }
    link->desynced = 0;
}

static int port_handler(void *ctx, const uint8_t *req, size_t req_len,
                        uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len)
{
    port_link *link = ctx;
    if (link->desynced)
        port_drain(link);
    nsmsim_io_status st = nsmsim_frame_write(link->fd, req, req_len, link->timeout_ms);
    if (st == NSMSIM_IO_OK)
        st = nsmsim_frame_read(link->fd, resp, NSM_RESPONSE_MAX_SIZE, resp_len,
                               link->timeout_ms);
    if (st == NSMSIM_IO_OK) {
        if (link->failing)
            nsmsim_log_line(LOG_PREFIX, "the NSM behind %s answers again", link->path);
        link->failing = 0;
        return 0;
    }
    int err = errno;
    link->desynced = 1;
    if (!link->failing)
        nsmsim_log_line(LOG_PREFIX, "no response through %s: %s", link->path,
                        st == NSMSIM_IO_ERROR ? strerror(err) : nsmsim_io_status_name(st));
    link->failing = 1;
    return st == NSMSIM_IO_TIMEOUT ? ETIMEDOUT : EIO;
}

/* The /dev entry of the virtio-serial port whose name is `name`. */
static int find_port(const char *name, char *out, size_t cap)
{
    const char *base = "/sys/class/virtio-ports";
    DIR *dir = opendir(base);
    if (!dir)
        return -1;
    int found = -1;
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s/name", base, d->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        char line[128] = "";
        char *got = fgets(line, sizeof(line), f);
        fclose(f);
        if (!got)
            continue;
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, name) == 0 && strlen(d->d_name) + 6 < cap) {
            snprintf(out, cap, "/dev/%s", d->d_name);
            found = 0;
            break;
        }
    }
    closedir(dir);
    return found;
}

/* ---- the loop on /dev/cuse ---------------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Reads one message. Returns its length, 0 to try again, -1 when the device is gone. */
static ssize_t cuse_read(int fd, uint8_t *buf, size_t cap)
{
    ssize_t n = read(fd, buf, cap);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOENT))
        return 0; /* ENOENT: the request was interrupted before we read it */
    if (n < 0 && errno != ENODEV)
        nsmsim_log_line(LOG_PREFIX, "reading /dev/cuse: %s", strerror(errno));
    return -1;
}

static int cuse_write(int fd, const uint8_t *reply, size_t len)
{
    for (;;) {
        ssize_t w = write(fd, reply, len);
        if (w == (ssize_t)len)
            return 0;
        if (w < 0 && errno == EINTR)
            continue;
        /* ENOENT: the caller's request was interrupted and is gone; that is fine. */
        if (w < 0 && errno == ENOENT)
            return 0;
        nsmsim_log_line(LOG_PREFIX, "writing to /dev/cuse: %s",
                        w < 0 ? strerror(errno) : "short write");
        return -1;
    }
}

static int parse_mode(const char *text, mode_t *mode)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 8);
    if (errno || end == text || *end || v > 07777)
        return -1;
    *mode = (mode_t)v;
    return 0;
}

typedef struct {
    const char *port, *socket, *name;
    mode_t mode;
    int timeout_ms;
    bool background;
} cuse_args;

static int set_mode(void *ctx, const char *value, nsmkit_error *e)
{
    if (parse_mode(value, &((cuse_args *)ctx)->mode) != 0)
        return nsmkit_fail(e, "--mode takes an octal mode, not %s", value);
    return 0;
}

static int set_timeout(void *ctx, const char *value, nsmkit_error *e)
{
    uint64_t v;
    if (!nsmkit_parse_u64(value, &v) || v == 0 || v > INT_MAX)
        return nsmkit_fail(e, "--timeout-ms takes 1..%d, not %s", INT_MAX, value);
    ((cuse_args *)ctx)->timeout_ms = (int)v;
    return 0;
}

static const nsmkit_opt cuse_rows[] = {
    NSMKIT_OPT_STRING("--port", "PATH|auto", cuse_args, port,
                      "a virtio-serial port (auto: the port named \"nsm\")"),
    NSMKIT_OPT_STRING("--socket", "PATH", cuse_args, socket, "an `nsm-sim serve` socket"),
    NSMKIT_OPT_STRING("--name", "NAME", cuse_args, name, "the device is /dev/NAME (default nsm)"),
    NSMKIT_OPT_CALL("--mode", "OCTAL", set_mode, "the device's mode (default 0666)"),
    NSMKIT_OPT_CALL("--timeout-ms", "N", set_timeout, "each request's limit (default 120000)"),
    NSMKIT_OPT_FLAG("--background", cuse_args, background, "return once the device exists"),
};

/* Returns -1 to go on, or the exit status (0 after --help or --version). */
static int cuse_parse(int argc, char **argv, cuse_args *a)
{
    const nsmkit_opt_group groups[1] = {{NULL, cuse_rows, NSMKIT_ROWS(cuse_rows)}};
    const nsmkit_cli cli = {LOG_PREFIX, "(--port PATH|auto | --socket PATH) [--name NAME] "
                                        "[--mode OCTAL]\n[--timeout-ms N] [--background]",
                            "Creates the character device /dev/NAME through CUSE and forwards "
                            "each NSM_IOCTL_RAW to the NSM\nbehind a virtio-serial port or an "
                            "`nsm-sim serve` socket. Needs /dev/cuse (modprobe cuse).",
                            groups, 1, false, NULL};
    nsmkit_error e;
    int n = argc;
    int r = nsmkit_opts_parse(&cli, &n, argv, a, &e);
    if (r == NSMKIT_OPTS_DONE)
        return 0;
    if (r == NSMKIT_OPTS_RUN && n > 0)
        nsmkit_fail(&e, "unknown argument %s", argv[0]);
    else if (r == NSMKIT_OPTS_RUN && !a->port == !a->socket)
        nsmkit_fail(&e, "give exactly one of --port and --socket");
    else if (r == NSMKIT_OPTS_RUN && (!*a->name || strlen(a->name) > 32 || strchr(a->name, '/')))
        nsmkit_fail(&e, "--name must be 1..32 characters without '/'");
    else if (r == NSMKIT_OPTS_RUN)
        return -1;
    fprintf(stderr, LOG_PREFIX ": %s\n", e.msg);
    nsmkit_opts_usage(&cli, stderr);
    return 2;
}

/* The NSM behind the device: a virtio-serial port or a server. */
typedef struct {
    port_link link;
    nsmsim_remote remote;
    bool have_remote;
    char port_path[PATH_MAX];
    nsmsim_handler_fn handler;
    void *handler_ctx;
} cuse_backend;

/* Returns 0, or the exit status after saying why not. */
static int cuse_connect(const cuse_args *a, cuse_backend *b)
{
    nsmkit_error e;
    b->link = (port_link){.fd = -1, .timeout_ms = a->timeout_ms};
    if (a->socket) {
        if (nsmsim_remote_init(&b->remote, a->socket, a->timeout_ms, LOG_PREFIX, &e) != 0) {
            fprintf(stderr, LOG_PREFIX ": %s\n", e.msg);
            return 2;
        }
        b->have_remote = true;
        b->handler = nsmsim_remote_handler;
        b->handler_ctx = &b->remote;
        return 0;
    }
    if (!strcmp(a->port, "auto")) {
        if (find_port("nsm", b->port_path, sizeof(b->port_path)) != 0) {
            fprintf(stderr, LOG_PREFIX ": no virtio-serial port named \"nsm\" in "
                            "/sys/class/virtio-ports (QEMU needs -device virtserialport,"
                            "name=nsm; the guest needs virtio_console)\n");
            return 1;
        }
    } else if (snprintf(b->port_path, sizeof(b->port_path), "%s", a->port) >=
               (int)sizeof(b->port_path)) {
        fprintf(stderr, LOG_PREFIX ": --port path too long\n");
        return 2;
    }
    b->link.path = b->port_path;
    b->link.fd = open(b->port_path, O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (b->link.fd < 0) {
        fprintf(stderr, LOG_PREFIX ": cannot open %s: %s\n", b->port_path, strerror(errno));
        return 1;
    }
    b->handler = port_handler;
    b->handler_ctx = &b->link;
    return 0;
}

/* Opens /dev/cuse and answers CUSE_INIT, after which the kernel has made /dev/NAME; then
 * gives it the real misc device's mode. Returns the descriptor, or -1 after saying why. */
static int cuse_create(const cuse_args *a, nsmsim_cuse *cuse, uint8_t *msg, uint8_t *reply)
{
    int fd = open("/dev/cuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
            fprintf(stderr, LOG_PREFIX ": /dev/cuse is missing: this kernel has no CUSE "
                            "(CONFIG_CUSE; load the module with modprobe cuse)\n");
        else
            fprintf(stderr, LOG_PREFIX ": cannot open /dev/cuse: %s\n", strerror(errno));
        return -1;
    }
    while (!cuse->initialised) {
        ssize_t n = cuse_read(fd, msg, NSMSIM_CUSE_READ_SIZE);
        if (n < 0)
            goto fail;
        if (n == 0)
            continue;
        size_t r = nsmsim_cuse_dispatch(cuse, msg, (size_t)n, reply, NSMSIM_CUSE_REPLY_MAX);
        if (r && cuse_write(fd, reply, r) != 0) {
            fprintf(stderr, LOG_PREFIX ": the kernel refused /dev/%s (is the name taken?)\n",
                    a->name);
            goto fail;
        }
    }
    char dev_path[64];
    snprintf(dev_path, sizeof(dev_path), "/dev/%s", a->name);
    struct stat st;
    if (stat(dev_path, &st) != 0 || !S_ISCHR(st.st_mode)) {
        fprintf(stderr, LOG_PREFIX ": the kernel accepted the device but %s is not a "
                        "character device (is devtmpfs mounted on /dev?)\n", dev_path);
        goto fail;
    }
    /* devtmpfs creates the node 0600; the real misc device is 0666. */
    if (chmod(dev_path, a->mode) != 0)
        nsmsim_log_line(LOG_PREFIX, "chmod %s: %s", dev_path, strerror(errno));
    return fd;
fail:
    close(fd);
    return -1;
}

static void cuse_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop; /* no SA_RESTART: a blocked read returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* Serves until SIGINT or SIGTERM, one request at a time. */
static void cuse_serve(int cuse_fd, nsmsim_cuse *cuse, uint8_t *msg, uint8_t *reply)
{
    while (!stop_requested) {
        ssize_t n = cuse_read(cuse_fd, msg, NSMSIM_CUSE_READ_SIZE);
        if (n < 0)
            break;
        if (n == 0)
            continue;
        size_t r = nsmsim_cuse_dispatch(cuse, msg, (size_t)n, reply, NSMSIM_CUSE_REPLY_MAX);
        if (r && cuse_write(cuse_fd, reply, r) != 0)
            break;
    }
    nsmsim_log_line(LOG_PREFIX,
                    "stopped: %llu ioctls, %llu refused, %llu retries, %llu malformed messages",
                    (unsigned long long)cuse->stats.ioctls, (unsigned long long)cuse->stats.refused,
                    (unsigned long long)cuse->stats.retries,
                    (unsigned long long)cuse->stats.bad_messages);
}

int nsmsim_cmd_cuse(int argc, char **argv)
{
    /* mode 0666: the real misc device's */
    cuse_args a = {.name = "nsm", .mode = 0666, .timeout_ms = NSMSIM_DEFAULT_TIMEOUT_MS};
    int status = cuse_parse(argc, argv, &a);
    if (status >= 0)
        return status;
    cuse_backend b = {0};
    if ((status = cuse_connect(&a, &b)) != 0)
        return status;

    status = 1;
    uint8_t *msg = malloc(NSMSIM_CUSE_READ_SIZE);
    uint8_t *reply = malloc(NSMSIM_CUSE_REPLY_MAX);
    int cuse_fd = -1;
    nsmsim_cuse cuse;
    nsmsim_cuse_init(&cuse, a.name, b.handler, b.handler_ctx);
    if (!msg || !reply) {
        fprintf(stderr, LOG_PREFIX ": out of memory\n");
        goto out;
    }
    cuse_fd = cuse_create(&a, &cuse, msg, reply);
    if (cuse_fd < 0)
        goto out;
    if (a.background) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, LOG_PREFIX ": fork: %s\n", strerror(errno));
            goto out;
        }
        if (pid > 0) { /* the device exists and the child serves it */
            free(msg);
            free(reply);
            return 0; /* the descriptors now belong to the child */
        }
        setsid();
    }
    cuse_signals();
    if (!a.background) /* in the background, our parent's exit status says it */
        nsmsim_log_line(LOG_PREFIX, "serving /dev/%s through %s", a.name,
                        a.port ? b.port_path : a.socket);
    cuse_serve(cuse_fd, &cuse, msg, reply);
    status = 0;
out:
    if (cuse_fd >= 0)
        close(cuse_fd);
    if (b.link.fd >= 0)
        close(b.link.fd);
    if (b.have_remote)
        nsmsim_remote_close(&b.remote);
    free(msg);
    free(reply);
    return status;
}
