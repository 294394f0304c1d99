/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-nitro-cli: one image layer (a tar, compressed or not) applied to a root filesystem
 * directory, as a container runtime applies it, but refusing anything a hostile tarball
 * could use to write outside the tree.
 *
 * - Names: a leading "./" and repeated or trailing slashes are dropped; an absolute name, a
 *   ".." component, a name above PATH_MAX or deeper than 64 components is refused.
 * - Every directory on the way is opened with O_NOFOLLOW from the tree's root: a path that
 *   goes through a symbolic link (absolute or relative) or through a non-directory is
 *   refused, so no entry can land outside the tree whatever earlier entries planted.
 * - Symbolic links are stored as they are and never followed here; a hard link must name a
 *   regular file already in the tree (checked the same way).
 * - Whiteouts (OCI image spec): ".wh.NAME" removes NAME from the layers below,
 *   ".wh..wh..opq" empties its directory of them. They are applied in a first pass over the
 *   layer, before its own entries are written in a second, so the order of entries inside
 *   the layer does not matter.
 * - Bounds: total bytes and entries across all layers (the caller's limits), checked before
 *   each write. Devices and FIFOs are skipped with a note (an enclave's /dev is devtmpfs).
 * - Ownership is not kept (the ramdisk is all 0:0, as nitro-cli's); owner read (files) and
 *   owner rwx (directories) are added to the modes so that later layers can be applied.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nitro_cli.h"
#include "layer.h"

#define MAX_DEPTH 64
#define WHITEOUT ".wh."
#define OPAQUE ".wh..wh..opq"

int nitrocli_name_normalize(const char *raw, bool allow_dotdot, char *out, size_t cap,
                            nsmkit_error *e)
{
    size_t n = 0;
    unsigned depth = 0;
    if (raw[0] == '/')
        return nsmkit_fail(e, "%s: an absolute name", raw);
    const char *p = raw;
    while (*p) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || (len == 1 && start[0] == '.'))
            continue;
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            if (!allow_dotdot || depth == 0)
                return nsmkit_fail(e, "%s: a \"..\" component", raw);
            while (n > 0 && out[n - 1] != '/') /* drop the last component */
                n--;
            if (n > 0)
                n--;
            depth--;
            continue;
        }
        if (n + len + 2 > cap || ++depth > MAX_DEPTH)
            return nsmkit_fail(e, "%.64s...: longer than %zu bytes or deeper than %d", raw,
                               cap - 1, MAX_DEPTH);
        if (n > 0)
            out[n++] = '/';
        memcpy(out + n, start, len);
        n += len;
    }
    out[n] = '\0';
    return 0;
}

/* Opens the directory holding rel's last component, walking from rootfd without following
 * any link; missing directories are created (0755) when create is set. *last points into
 * rel. Returns the fd, -1 with e set (unsafe), or -2 when a directory is missing and create
 * is not set. */
int nitrocli_open_parent(int rootfd, const char *rel, bool create, const char **last,
                         nsmkit_error *e)
{
    int fd = dup(rootfd);
    if (fd < 0)
        return nsmkit_fail(e, "dup: %s", strerror(errno));
    const char *p = rel;
    const char *slash;
    while ((slash = strchr(p, '/')) != NULL) {
        char comp[NAME_MAX + 1];
        size_t len = (size_t)(slash - p);
        if (len > NAME_MAX) {
            close(fd);
            return nsmkit_fail(e, "%s: a component longer than %d bytes", rel, NAME_MAX);
        }
        memcpy(comp, p, len);
        comp[len] = '\0';
        int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
                close(fd);
                return nsmkit_fail(e, "%s: mkdir: %s", rel, strerror(errno));
            }
            next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        int saved = errno;
        close(fd);
        if (next < 0 && saved == ENOENT)
            return -2;
        if (next < 0)
            return nsmkit_fail(e, "%s: goes through \"%s\", a symbolic link or not a "
                                  "directory (%s)", rel, comp, strerror(saved));
        fd = next;
        p = slash + 1;
    }
    *last = p;
    return fd;
}

/* Removes dirfd/name whatever it is (a directory with everything in it), never following
 * a link. Missing is not an error. */
static int remove_tree(int parent, const char *name, nsmkit_error *e)
{
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return nsmkit_fail(e, "%s: unlink: %s", name, strerror(errno));
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return nsmkit_fail(e, "%s: open: %s", name, strerror(errno));
    fchmod(fd, 0700); /* a read-only directory from an image must still be emptied */
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return nsmkit_fail(e, "%s: opendir: %s", name, strerror(errno));
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = remove_tree(dirfd(d), de->d_name, e);
    }
    closedir(d);
    if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0)
        return nsmkit_fail(e, "%s: rmdir: %s", name, strerror(errno));
    return rc;
}

int nitrocli_remove_at(int parent, const char *name, nsmkit_error *e)
{
    /* "." or ".." would empty the directory itself or the one above it: never a name here */
    if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strchr(name, '/') != NULL)
        return nsmkit_fail(e, "\"%s\": not a name in a directory", name);
    return remove_tree(parent, name, e);
}

int nitrocli_rm_rf(const char *path, nsmkit_error *e)
{
    return remove_tree(AT_FDCWD, path, e);
}

/* ---- the two passes ------------------------------------------------------------------------ */

typedef struct {
    int rootfd;
    const nitrocli_limits *limits;
    uint64_t *bytes;
    uint64_t *entries;
    unsigned skipped;
    nsmkit_error *e;
} layer_ctx;

static const char *base_name(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    return slash ? slash + 1 : rel;
}

static nitrocli_code whiteout(layer_ctx *c, const char *rel)
{
    const char *base = base_name(rel);
    const char *last;
    int pfd = nitrocli_open_parent(c->rootfd, rel, false, &last, c->e);
    if (pfd == -2)
        return NITROCLI_ERR_OK; /* nothing below to hide */
    if (pfd < 0)
        return NITROCLI_ERR_IMAGE_UNSAFE;
    int rc = 0;
    if (strcmp(base, OPAQUE) == 0) {
        DIR *d = fdopendir(dup(pfd));
        if (d == NULL)
            rc = nsmkit_fail(c->e, "%s: opendir: %s", rel, strerror(errno));
        struct dirent *de;
        while (rc == 0 && d != NULL && (de = readdir(d)) != NULL)
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                rc = nitrocli_remove_at(pfd, de->d_name, c->e);
        if (d != NULL)
            closedir(d);
    } else {
        const char *target = base + strlen(WHITEOUT);
        if (target[0] == '\0' || strcmp(target, ".") == 0 || strcmp(target, "..") == 0) {
            close(pfd);
            return nsmkit_fail(c->e, "%s: a whiteout of \"%s\"", rel, target),
                   NITROCLI_ERR_IMAGE_UNSAFE;
        }
        rc = nitrocli_remove_at(pfd, target, c->e);
    }
    close(pfd);
    return rc == 0 ? NITROCLI_ERR_OK : NITROCLI_ERR_IO;
}

/* The entry's data into fd. The declared size is what the file will be (holes of a sparse
 * entry included: the ramdisk stores them as bytes), so it is what counts against the
 * bound, and no block may lie beyond it. */
static nitrocli_code write_data(layer_ctx *c, struct archive *a, struct archive_entry *en,
                                int fd, const char *rel)
{
    la_int64_t size = archive_entry_size_is_set(en) ? archive_entry_size(en) : -1;
    if (size < 0 || (uint64_t)size > c->limits->max_bytes - *c->bytes) {
        nsmkit_fail(c->e, "%s: no size, or the image's files exceed %llu bytes", rel,
                    (unsigned long long)c->limits->max_bytes);
        return NITROCLI_ERR_IMAGE_TOO_LARGE;
    }
    *c->bytes += (uint64_t)size;
    const void *block;
    size_t len;
    la_int64_t offset;
    int r;
    while ((r = archive_read_data_block(a, &block, &len, &offset)) == ARCHIVE_OK) {
        if (offset < 0 || offset > size || len > (uint64_t)(size - offset)) {
            nsmkit_fail(c->e, "%s: data beyond its declared size", rel);
            return NITROCLI_ERR_IMAGE_TAR;
        }
        if (pwrite(fd, block, len, offset) != (ssize_t)len) {
            nsmkit_fail(c->e, "%s: write: %s", rel, strerror(errno));
            return NITROCLI_ERR_IO;
        }
    }
    if (r != ARCHIVE_EOF) {
        nsmkit_fail(c->e, "%s: %s", rel, archive_error_string(a));
        return NITROCLI_ERR_IMAGE_TAR;
    }
    if (ftruncate(fd, size) != 0) { /* a trailing hole */
        nsmkit_fail(c->e, "%s: truncate: %s", rel, strerror(errno));
        return NITROCLI_ERR_IO;
    }
    return NITROCLI_ERR_OK;
}

static nitrocli_code hard_link(layer_ctx *c, int pfd, const char *last, const char *target)
{
    char rel[PATH_MAX];
    const char *tlast;
    if (nitrocli_name_normalize(target, false, rel, sizeof(rel), c->e) != 0)
        return NITROCLI_ERR_IMAGE_UNSAFE;
    int tfd = nitrocli_open_parent(c->rootfd, rel, false, &tlast, c->e);
    if (tfd < 0) {
        if (tfd == -2)
            nsmkit_fail(c->e, "hard link to %s, which is not in the tree", rel);
        return NITROCLI_ERR_IMAGE_UNSAFE;
    }
    struct stat st;
    nitrocli_code code = NITROCLI_ERR_OK;
    if (fstatat(tfd, tlast, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
        nsmkit_fail(c->e, "hard link to %s, which is not a regular file in the tree", rel);
        code = NITROCLI_ERR_IMAGE_UNSAFE;
    } else if ((uint64_t)st.st_size > c->limits->max_bytes - *c->bytes) {
        /* each link becomes a copy in the ramdisk: it counts as the bytes it will cost */
        nsmkit_fail(c->e, "hard link to %s: the image's files exceed %llu bytes", rel,
                    (unsigned long long)c->limits->max_bytes);
        code = NITROCLI_ERR_IMAGE_TOO_LARGE;
    } else {
        *c->bytes += (uint64_t)st.st_size;
        if (linkat(tfd, tlast, pfd, last, 0) != 0) {
            nsmkit_fail(c->e, "hard link %s: %s", last, strerror(errno));
            code = NITROCLI_ERR_IO;
        }
    }
    close(tfd);
    return code;
}

static nitrocli_code make_entry(layer_ctx *c, struct archive *a, struct archive_entry *en,
                                int pfd, const char *last, const char *rel)
{
    mode_t type = archive_entry_filetype(en);
    mode_t perm = archive_entry_perm(en) & 07777;
    const char *link = archive_entry_hardlink(en);
    struct stat st;
    if (type == AE_IFDIR) {
        if (fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) &&
            nitrocli_remove_at(pfd, last, c->e) != 0)
            return NITROCLI_ERR_IO;
        if (mkdirat(pfd, last, 0700) != 0 && errno != EEXIST)
            return nsmkit_fail(c->e, "%s: mkdir: %s", rel, strerror(errno)),
                   NITROCLI_ERR_IO;
        return fchmodat(pfd, last, perm | 0700, 0) == 0 ? NITROCLI_ERR_OK : NITROCLI_ERR_IO;
    }
    if (type != AE_IFREG && type != AE_IFLNK && link == NULL) {
        c->skipped++;
        return NITROCLI_ERR_OK;
    }
    if (nitrocli_remove_at(pfd, last, c->e) != 0)
        return NITROCLI_ERR_IO;
    if (link != NULL)
        return hard_link(c, pfd, last, link);
    if (type == AE_IFLNK) {
        const char *target = archive_entry_symlink(en);
        if (target == NULL || strlen(target) >= PATH_MAX)
            return nsmkit_fail(c->e, "%s: a symbolic link without a valid target", rel),
                   NITROCLI_ERR_IMAGE_UNSAFE;
        if (symlinkat(target, pfd, last) != 0)
            return nsmkit_fail(c->e, "%s: symlink: %s", rel, strerror(errno)),
                   NITROCLI_ERR_IO;
        return NITROCLI_ERR_OK;
    }
    int fd = openat(pfd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return nsmkit_fail(c->e, "%s: create: %s", rel, strerror(errno)), NITROCLI_ERR_IO;
    nitrocli_code code = write_data(c, a, en, fd, rel);
    if (code == NITROCLI_ERR_OK && fchmod(fd, perm | 0400) != 0)
        code = NITROCLI_ERR_IO;
    close(fd);
    return code;
}

/* One pass over the layer: whiteouts only (first) or everything else (second). */
static nitrocli_code layer_pass(layer_ctx *c, const char *layer, bool whiteouts)
{
    struct archive *a = archive_read_new();
    if (a == NULL)
        return nsmkit_fail(c->e, "out of memory"), NITROCLI_ERR_NO_MEMORY;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    nitrocli_code code = NITROCLI_ERR_OK;
    if (archive_read_open_filename(a, layer, 64 * 1024) != ARCHIVE_OK) {
        nsmkit_fail(c->e, "%s: %s", layer, archive_error_string(a));
        code = NITROCLI_ERR_IMAGE_TAR;
    }
    struct archive_entry *en;
    int r = ARCHIVE_OK;
    while (code == NITROCLI_ERR_OK && (r = archive_read_next_header(a, &en)) == ARCHIVE_OK) {
        char rel[PATH_MAX];
        const char *raw = archive_entry_pathname(en);
        if (whiteouts && ++*c->entries > c->limits->max_entries) {
            nsmkit_fail(c->e, "more than %llu entries",
                        (unsigned long long)c->limits->max_entries);
            code = NITROCLI_ERR_IMAGE_TOO_LARGE;
        } else if (raw == NULL || nitrocli_name_normalize(raw, false, rel, sizeof(rel), c->e)) {
            if (raw == NULL)
                nsmkit_fail(c->e, "an entry without a name");
            code = NITROCLI_ERR_IMAGE_UNSAFE;
        } else if (rel[0] == '\0') {
            continue; /* "./": the root itself */
        } else if (strncmp(base_name(rel), WHITEOUT, strlen(WHITEOUT)) == 0) {
            code = whiteouts ? whiteout(c, rel) : NITROCLI_ERR_OK;
        } else if (!whiteouts) {
            const char *last;
            int pfd = nitrocli_open_parent(c->rootfd, rel, true, &last, c->e);
            if (pfd < 0)
                code = NITROCLI_ERR_IMAGE_UNSAFE;
            else
                code = make_entry(c, a, en, pfd, last, rel), close(pfd);
        }
    }
    if (code == NITROCLI_ERR_OK && r != ARCHIVE_EOF) {
        nsmkit_fail(c->e, "%s: %s", layer, archive_error_string(a));
        code = NITROCLI_ERR_IMAGE_TAR;
    }
    archive_read_free(a);
    return code;
}

nitrocli_code nitrocli_layer_apply(const char *layer, const char *rootfs,
                                   const nitrocli_limits *limits, uint64_t *bytes,
                                   uint64_t *entries, nsmkit_error *e)
{
    layer_ctx c = {.limits = limits, .bytes = bytes, .entries = entries, .e = e};
    c.rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c.rootfd < 0)
        return nsmkit_fail(e, "%s: %s", rootfs, strerror(errno)), NITROCLI_ERR_IO;
    nitrocli_code code = layer_pass(&c, layer, true);
    if (code == NITROCLI_ERR_OK)
        code = layer_pass(&c, layer, false);
    if (code == NITROCLI_ERR_OK && c.skipped > 0)
        fprintf(stderr, "nsm-nitro-cli: %s: skipped %u device or FIFO entr%s\n", layer,
                c.skipped, c.skipped == 1 ? "y" : "ies");
    close(c.rootfd);
    return code;
}
