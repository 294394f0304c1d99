/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enclave-init: nsmkit's own /init for the bootstrap ramdisk of an enclave image (EIF).
 *
 * It keeps the contract of AWS's bootstrap init (NSM-FACTS section 12), so an image built with
 * it boots wherever an image built by nitro-cli boots, and an application ramdisk made by
 * `nsm-eif ramdisk` (or nitro-cli) runs under it unchanged:
 *
 *   1. mount /dev (devtmpfs), /proc, /sys; the console becomes stdin, stdout and stderr;
 *   2. load /nsm.ko when the ramdisk has one (silently skipped when it has none);
 *   3. the heartbeat: AF_VSOCK to CID 3 port 9000, write 0xB7, and die unless 0xB7 comes back
 *      (the parent's side tells the hypervisor the enclave is alive);
 *   4. read /env (one NAME=VALUE a line) and /cmd (one argument a line);
 *   5. move /rootfs onto / (with /dev, /proc and /sys moved into it), chroot, run the command.
 *
 * Dying means what it means for AWS's init: one line on the console, then PID 1 exits and the
 * kernel panics (the image's command line says what a panic does, `panic=30` in nitro-cli's).
 * When the command exits, init prints "NSMKIT-ENCLAVE-EXIT <status>" (the line nsm-qemu
 * run-eif reports the status from) and powers the machine off.
 *
 * Safety: the heartbeat is the only connection it opens, and only when /dev/vsock says the
 * local CID is an enclave's (4 or more): on a machine whose vsock reaches its hypervisor (a
 * parent, CID 3) it refuses before connecting. It also refuses to run unless it is PID 1.
 *
 * Static, no allocation beyond two bounded buffers; built with the guest programs.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enclave_lines.h"

#define HEARTBEAT_CID 3u
#define HEARTBEAT_PORT 9000u
#define HEARTBEAT_BYTE 0xB7
#define HEARTBEAT_TIMEOUT_S 10
#define FILE_MAX (256u * 1024u) /* /cmd and /env: far above any real command line */
#define ARGS_MAX 4096u

static char cmd_text[FILE_MAX + 1], env_text[FILE_MAX + 1];
static char *cmd_argv[ARGS_MAX + 1], *cmd_envp[ARGS_MAX + 1];

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

/* As AWS's init: PID 1 exits, so the kernel panics and the enclave stops. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    say("nsmkit-init: %s", msg);
    exit(1);
}

static void mount_or_die(const char *source, const char *target, const char *type,
                         unsigned long flags)
{
    if (mkdir(target, 0755) != 0 && errno != EEXIST)
        die("mkdir %s: %s", target, strerror(errno));
    if (mount(source, target, type, flags, NULL) != 0 && errno != EBUSY)
        die("mount %s on %s: %s", type, target, strerror(errno));
}

static void early_mounts(void)
{
    mount_or_die("dev", "/dev", "devtmpfs", MS_NOSUID);
    /* The kernel opens /dev/console for init only if the ramdisk has it; ours need not. */
    int fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd >= 0) {
        for (int k = 0; k < 3; k++)
            if (fcntl(k, F_GETFD) < 0)
                dup2(fd, k);
        if (fd > 2)
            close(fd);
    }
    mount_or_die("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    mount_or_die("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

static void load_nsm_driver(void)
{
    int fd = open("/nsm.ko", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return; /* an image without the driver: nothing to load */
        die("open /nsm.ko: %s", strerror(errno));
    }
    if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)
        die("load /nsm.ko: %s", strerror(errno));
    close(fd);
}

static void heartbeat(void)
{
    int vsock = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
    unsigned int local_cid = 0;
    if (vsock < 0 || ioctl(vsock, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &local_cid) != 0)
        die("heartbeat: no vsock (/dev/vsock: %s)", strerror(errno));
    close(vsock);
    if (local_cid < 4 || local_cid == VMADDR_CID_ANY)
        die("heartbeat: the local CID is %u, not an enclave's (4 or more); not connecting",
            local_cid);

    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        die("heartbeat: socket(AF_VSOCK): %s", strerror(errno));
    struct timeval tv = {.tv_sec = HEARTBEAT_TIMEOUT_S};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_vm parent = {.svm_family = AF_VSOCK, .svm_cid = HEARTBEAT_CID,
                                 .svm_port = HEARTBEAT_PORT};
    if (connect(s, (struct sockaddr *)&parent, sizeof(parent)) != 0)
        die("heartbeat: connect to CID %u port %u: %s", HEARTBEAT_CID, HEARTBEAT_PORT,
            strerror(errno));
    unsigned char byte = HEARTBEAT_BYTE;
    if (write(s, &byte, 1) != 1)
        die("heartbeat: write: %s", strerror(errno));
    ssize_t n = read(s, &byte, 1);
    if (n != 1 || byte != HEARTBEAT_BYTE)
        die("heartbeat: %s", n == 1 ? "wrong answer" : n == 0 ? "no answer" : strerror(errno));
    close(s);
}

/* Reads PATH (at most FILE_MAX bytes) into buf and cuts it into lines: the pointers go into
 * out (at most ARGS_MAX, NULL-terminated). Returns the count. */
static size_t read_lines(const char *path, char *buf, char **out, bool required)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (!required && errno == ENOENT) {
            out[0] = NULL;
            return 0;
        }
        die("open %s: %s", path, strerror(errno));
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read %s: %s", path, strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > FILE_MAX)
            die("%s is larger than %u bytes", path, FILE_MAX);
    }
    close(fd);
    buf[len] = '\0';
    size_t count;
    int rc = enclave_split_lines(buf, len, out, ARGS_MAX, &count);
    if (rc == ENCLAVE_LINES_NUL)
        die("%s holds a NUL byte", path);
    if (rc == ENCLAVE_LINES_TOO_MANY)
        die("%s has more than %u lines", path, ARGS_MAX);
    return count;
}

static void move_mount_into(const char *root, const char *what)
{
    char target[64];
    snprintf(target, sizeof(target), "%s%s", root, what);
    if (mkdir(target, 0755) != 0 && errno != EEXIST)
        die("mkdir %s: %s", target, strerror(errno));
    if (mount(what, target, NULL, MS_MOVE, NULL) != 0)
        die("move %s to %s: %s", what, target, strerror(errno));
}

/* /rootfs becomes /: a bind mount of itself (MS_MOVE needs a mount point), the early mounts
 * moved into it, then moved onto / and chrooted into, as switch_root does. */
static void enter_rootfs(void)
{
    struct stat st;
    if (stat("/rootfs", &st) != 0 || !S_ISDIR(st.st_mode))
        die("no /rootfs directory in the image's ramdisks");
    if (mount("/rootfs", "/rootfs", NULL, MS_BIND | MS_REC, NULL) != 0)
        die("bind /rootfs: %s", strerror(errno));
    move_mount_into("/rootfs", "/dev");
    move_mount_into("/rootfs", "/proc");
    move_mount_into("/rootfs", "/sys");
    if (chdir("/rootfs") != 0)
        die("chdir /rootfs: %s", strerror(errno));
    if (mount(".", "/", NULL, MS_MOVE, NULL) != 0)
        die("move /rootfs onto /: %s", strerror(errno));
    if (chroot(".") != 0 || chdir("/") != 0)
        die("chroot into /rootfs: %s", strerror(errno));
}

/* Runs the command as PID 1's child and reaps every orphan until it exits. */
static int run_command(void)
{
    pid_t child = fork();
    if (child < 0)
        die("fork: %s", strerror(errno));
    if (child == 0) {
        setsid();
        execve(cmd_argv[0], cmd_argv, cmd_envp);
        say("nsmkit-init: exec %s: %s", cmd_argv[0], strerror(errno));
        _exit(127);
    }
    for (;;) {
        int status;
        pid_t pid = wait(&status);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0)
            return 125;
        if (pid == child)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
}

int main(void)
{
    if (getpid() != 1) {
        fprintf(stderr, "nsmkit-init: this is an enclave's /init (PID 1); it does nothing "
                        "elsewhere\n");
        return 2;
    }
    early_mounts();
    load_nsm_driver();
    heartbeat();
    if (read_lines("/cmd", cmd_text, cmd_argv, true) == 0 || cmd_argv[0][0] == '\0')
        die("/cmd names no command");
    read_lines("/env", env_text, cmd_envp, false);
    enter_rootfs();
    int status = run_command();
    char line[64];
    int n = snprintf(line, sizeof(line), "NSMKIT-ENCLAVE-EXIT %d\n", status);
    ssize_t w = write(STDOUT_FILENO, line, (size_t)n);
    (void)w;
    sync();
    reboot(RB_POWER_OFF);
    reboot(RB_AUTOBOOT); /* a machine that cannot power off restarts, which stops QEMU here */
    for (;;)
        pause();
}
