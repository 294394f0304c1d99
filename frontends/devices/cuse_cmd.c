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

static const char cuse_usage[] =
    "usage: nsm-sim cuse (--port PATH|auto | --socket PATH) [--name NAME] [--mode OCTAL]\n"
    "                    [--timeout-ms N] [--background]\n"
    "Creates the character device /dev/NAME (default nsm, mode 0666) through CUSE and\n"
    "forwards each NSM_IOCTL_RAW to the NSM behind a virtio-serial port (auto: the port\n"
    "named \"nsm\") or an `nsm-sim serve` socket. --background returns once the device\n"
    "exists. Needs /dev/cuse (modprobe cuse).\n";

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

int nsmsim_cmd_cuse(int argc, char **argv)
{
    const char *port = NULL, *socket_path = NULL, *name = "nsm";
    mode_t mode = 0666; /* the real misc device's mode */
    int timeout_ms = NSMSIM_DEFAULT_TIMEOUT_MS;
    int background = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            fputs(cuse_usage, stdout);
            return 0;
        }
        if (!strcmp(arg, "--background")) {
            background = 1;
            continue;
        }
        if (!value) {
            fprintf(stderr, LOG_PREFIX ": %s needs a value\n%s", arg, cuse_usage);
            return 2;
        }
        if (!strcmp(arg, "--port"))
            port = value;
        else if (!strcmp(arg, "--socket"))
            socket_path = value;
        else if (!strcmp(arg, "--name"))
            name = value;
        else if (!strcmp(arg, "--mode")) {
            if (parse_mode(value, &mode) != 0) {
                fprintf(stderr, LOG_PREFIX ": --mode takes an octal mode, not %s\n", value);
                return 2;
            }
        } else if (!strcmp(arg, "--timeout-ms")) {
            uint64_t v;
            if (!nsmkit_parse_u64(value, &v) || v == 0 || v > INT_MAX) {
                fprintf(stderr, LOG_PREFIX ": --timeout-ms takes 1..%d, not %s\n", INT_MAX,
                        value);
                return 2;
            }
            timeout_ms = (int)v;
        } else {
            fprintf(stderr, LOG_PREFIX ": unknown argument %s\n%s", arg, cuse_usage);
            return 2;
        }
        i++;
    }
    if (!port == !socket_path) {
        fprintf(stderr, LOG_PREFIX ": give exactly one of --port and --socket\n%s", cuse_usage);
        return 2;
    }
    if (!*name || strlen(name) > 32 || strchr(name, '/')) {
        fprintf(stderr, LOG_PREFIX ": --name must be 1..32 characters without '/'\n");
        return 2;
    }

    /* The core behind the device. */
    port_link link = {.fd = -1, .timeout_ms = timeout_ms};
    nsmsim_remote remote;
    int have_remote = 0;
    nsmsim_handler_fn handler;
    void *handler_ctx;
    char port_path[PATH_MAX];
    nsmkit_error e;
    if (port) {
        if (!strcmp(port, "auto")) {
            if (find_port("nsm", port_path, sizeof(port_path)) != 0) {
                fprintf(stderr, LOG_PREFIX ": no virtio-serial port named \"nsm\" in "
                                "/sys/class/virtio-ports (QEMU needs -device virtserialport,"
                                "name=nsm; the guest needs virtio_console)\n");
                return 1;
            }
        } else if (snprintf(port_path, sizeof(port_path), "%s", port) >= (int)sizeof(port_path)) {
            fprintf(stderr, LOG_PREFIX ": --port path too long\n");
            return 2;
        }
        link.path = port_path;
        link.fd = open(port_path, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (link.fd < 0) {
            fprintf(stderr, LOG_PREFIX ": cannot open %s: %s\n", port_path, strerror(errno));
            return 1;
        }
        handler = port_handler;
        handler_ctx = &link;
    } else {
        if (nsmsim_remote_init(&remote, socket_path, timeout_ms, LOG_PREFIX, &e) != 0) {
            fprintf(stderr, LOG_PREFIX ": %s\n", e.msg);
            return 2;
        }
        have_remote = 1;
        handler = nsmsim_remote_handler;
        handler_ctx = &remote;
    }

    int status = 1;
    uint8_t *msg = malloc(NSMSIM_CUSE_READ_SIZE);
    uint8_t *reply = malloc(NSMSIM_CUSE_REPLY_MAX);
    int cuse_fd = -1;
    if (!msg || !reply) {
        fprintf(stderr, LOG_PREFIX ": out of memory\n");
        goto out;
    }
    cuse_fd = open("/dev/cuse", O_RDWR | O_CLOEXEC);
    if (cuse_fd < 0) {
        if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
            fprintf(stderr, LOG_PREFIX ": /dev/cuse is missing: this kernel has no CUSE "
                            "(CONFIG_CUSE; load the module with modprobe cuse)\n");
        else
            fprintf(stderr, LOG_PREFIX ": cannot open /dev/cuse: %s\n", strerror(errno));
        goto out;
    }

    nsmsim_cuse cuse;
    nsmsim_cuse_init(&cuse, name, handler, handler_ctx);
    /* CUSE_INIT first: once it is answered the kernel has created the device. */
    while (!cuse.initialised) {
        ssize_t n = cuse_read(cuse_fd, msg, NSMSIM_CUSE_READ_SIZE);
        if (n < 0)
            goto out;
        if (n == 0)
            continue;
        size_t r = nsmsim_cuse_dispatch(&cuse, msg, (size_t)n, reply, NSMSIM_CUSE_REPLY_MAX);
        if (r && cuse_write(cuse_fd, reply, r) != 0) {
            fprintf(stderr, LOG_PREFIX ": the kernel refused /dev/%s (is the name taken?)\n",
                    name);
            goto out;
        }
    }
    char dev_path[64];
    snprintf(dev_path, sizeof(dev_path), "/dev/%s", name);
    struct stat st;
    if (stat(dev_path, &st) != 0 || !S_ISCHR(st.st_mode)) {
        fprintf(stderr, LOG_PREFIX ": the kernel accepted the device but %s is not a "
                        "character device (is devtmpfs mounted on /dev?)\n", dev_path);
        goto out;
    }
    /* devtmpfs creates the node 0600; the real misc device is 0666. */
    if (chmod(dev_path, mode) != 0)
        nsmsim_log_line(LOG_PREFIX, "chmod %s: %s", dev_path, strerror(errno));

    if (background) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, LOG_PREFIX ": fork: %s\n", strerror(errno));
            goto out;
        }
        if (pid > 0) {
            /* The device exists and the child serves it. */
            status = 0;
            free(msg);
            free(reply);
            return status; /* the descriptors now belong to the child */
        }
        setsid();
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop; /* no SA_RESTART: a blocked read returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    if (!background) /* in the background, our parent's exit status says it */
        nsmsim_log_line(LOG_PREFIX, "serving %s through %s", dev_path,
                        port ? port_path : socket_path);
    while (!stop_requested) {
        ssize_t n = cuse_read(cuse_fd, msg, NSMSIM_CUSE_READ_SIZE);
        if (n < 0)
            break;
        if (n == 0)
            continue;
        size_t r = nsmsim_cuse_dispatch(&cuse, msg, (size_t)n, reply, NSMSIM_CUSE_REPLY_MAX);
        if (r && cuse_write(cuse_fd, reply, r) != 0)
            break;
    }
    nsmsim_log_line(LOG_PREFIX,
                    "stopped: %llu ioctls, %llu refused, %llu retries, %llu malformed messages",
                    (unsigned long long)cuse.stats.ioctls, (unsigned long long)cuse.stats.refused,
                    (unsigned long long)cuse.stats.retries,
                    (unsigned long long)cuse.stats.bad_messages);
    status = 0;
out:
    if (cuse_fd >= 0)
        close(cuse_fd);
    if (link.fd >= 0)
        close(link.fd);
    if (have_remote)
        nsmsim_remote_close(&remote);
    free(msg);
    free(reply);
    return status;
}
