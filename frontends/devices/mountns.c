/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A private /dev/nsm for one command (see fuse.h): namespaces, a private /dev, the FUSE
 * mount. Runs in the child that becomes the command, so the launcher (the FUSE server)
 * stays in the host's namespaces and nothing of the host is ever changed: every mount
 * made here lives in a mount namespace that dies with the command's last process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mountns.h"

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int err = errno;
    close(fd);
    errno = err;
    return w == (ssize_t)len ? 0 : -1;
}

/* A user namespace in which the caller keeps its own uid and gid (so files and programs
 * see the same ids as outside) and holds the capabilities to mount. */
static int enter_user_namespace(nsmkit_error *e)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER) != 0)
        return nsmkit_fail(e, "cannot create a user namespace: %s (%s)", strerror(errno),
                           errno == EPERM || errno == ENOSPC
                               ? "unprivileged user namespaces are disabled here; run as root"
                               : "the kernel refused");
    char map[64];
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    if (write_file("/proc/self/uid_map", map) != 0)
        return nsmkit_fail(e, "cannot write /proc/self/uid_map: %s", strerror(errno));
    /* an unprivileged process may map its gid only after giving up setgroups */
    if (write_file("/proc/self/setgroups", "deny") != 0 && errno != ENOENT)
        return nsmkit_fail(e, "cannot write /proc/self/setgroups: %s", strerror(errno));
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    if (write_file("/proc/self/gid_map", map) != 0)
        return nsmkit_fail(e, "cannot write /proc/self/gid_map: %s", strerror(errno));
    return 0;
}

/* Bind-mounts old /dev's entry onto the same name in the new /dev. Entries are reached
 * through the descriptor of the old /dev (/proc/self/fd/N/NAME): the old /dev is covered
 * by then, and the walk crosses into submounts such as /dev/pts and /dev/shm. */
static int bring_back(int old_dev, const char *name, nsmkit_error *e)
{
    struct stat st;
    if (fstatat(old_dev, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return 0; /* gone meanwhile */
    char target[PATH_MAX], source[PATH_MAX];
    snprintf(target, sizeof(target), "/dev/%s", name);
    if (S_ISLNK(st.st_mode)) {
        char link[PATH_MAX];
        ssize_t n = readlinkat(old_dev, name, link, sizeof(link) - 1);
        if (n < 0)
            return nsmkit_fail(e, "cannot read the link /dev/%s: %s", name, strerror(errno));
        link[n] = '\0';
        if (symlink(link, target) != 0)
            return nsmkit_fail(e, "cannot recreate the link %s: %s", target, strerror(errno));
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(target, st.st_mode & 07777) != 0)
            return nsmkit_fail(e, "cannot create %s: %s", target, strerror(errno));
    } else {
        int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return nsmkit_fail(e, "cannot create %s: %s", target, strerror(errno));
        close(fd);
    }
    snprintf(source, sizeof(source), "/proc/self/fd/%d/%s", old_dev, name);
    if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) != 0)
        return nsmkit_fail(e, "cannot bind %s back into the private /dev: %s", target,
                           strerror(errno));
    return 0;
}

/* A tmpfs over /dev holding every original entry, plus an empty /dev/nsm to mount on. */
static int private_dev(nsmkit_error *e)
{
    int old_dev = open("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (old_dev < 0)
        return nsmkit_fail(e, "cannot open /dev: %s", strerror(errno));
    int listing = dup(old_dev);
    DIR *dir = listing >= 0 ? fdopendir(listing) : NULL;
    if (!dir) {
        if (listing >= 0)
            close(listing);
        close(old_dev);
        return nsmkit_fail(e, "cannot list /dev: %s", strerror(errno));
    }
    int rc = -1;
    if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "mode=0755,size=1m") != 0) {
        nsmkit_fail(e, "cannot mount a private /dev (tmpfs): %s", strerror(errno));
        goto out;
    }
    struct dirent *ent;
    while ((ent = readdir(dir)) != NULL) {
        if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
            continue;
        if (bring_back(old_dev, ent->d_name, e) != 0)
            goto out;
    }
    int fd = open("/dev/nsm", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        nsmkit_fail(e, "cannot create /dev/nsm in the private /dev: %s", strerror(errno));
        goto out;
    }
    close(fd);
    rc = 0;
out:
    closedir(dir);
    close(old_dev);
    return rc;
}

int nsmsim_private_dev_nsm(nsmkit_error *e)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (uid != 0 && enter_user_namespace(e) != 0)
        return -1;
    if (unshare(CLONE_NEWNS) != 0)
        return nsmkit_fail(e, "cannot create a mount namespace: %s", strerror(errno));
    /* nothing mounted from now on may propagate back to the host */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return nsmkit_fail(e, "cannot make the mounts private: %s", strerror(errno));
    int fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fuse_fd < 0)
        return nsmkit_fail(e, "cannot open /dev/fuse: %s (%s)", strerror(errno),
                           errno == ENOENT ? "no FUSE in this kernel or container"
                                           : "FUSE is not available to this user");
    struct stat st;
    if (lstat("/dev/nsm", &st) != 0) {
        if (errno != ENOENT || private_dev(e) != 0) {
            if (errno != ENOENT)
                nsmkit_fail(e, "cannot look at /dev/nsm: %s", strerror(errno));
            close(fuse_fd);
            return -1;
        }
    } else if (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) {
        close(fuse_fd);
        return nsmkit_fail(e, "/dev/nsm is a %s: nothing to mount the device on",
                           S_ISDIR(st.st_mode) ? "directory" : "symbolic link");
    }
    /* rootmode=100000: the filesystem's root is a regular file, mounted over a file. The
     * owner is the caller's own uid, which the user namespace maps (an unmapped owner
     * makes open for writing fail with EACCES). */
    char data[160];
    snprintf(data, sizeof(data),
             "fd=%d,rootmode=100000,user_id=%u,group_id=%u,allow_other,default_permissions",
             fuse_fd, (unsigned)uid, (unsigned)gid);
    if (mount("nsm-sim", "/dev/nsm", "fuse.nsm-sim", MS_NOSUID | MS_NOEXEC, data) != 0) {
        int err = errno;
        close(fuse_fd);
        return nsmkit_fail(e, "cannot mount FUSE on /dev/nsm: %s", strerror(err));
    }
    return fuse_fd;
}
