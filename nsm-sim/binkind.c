/* SPDX-License-Identifier: Apache-2.0 */
/* The kind of program a command is (binkind.h), from its ELF headers. */
#include <elf.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binkind.h"

#define NOTE_READ_MAX (64 * 1024)
#define PHDR_MAX 256

static bool read_at(int fd, void *buf, size_t n, uint64_t off)
{
    return off <= (uint64_t)INT64_MAX && pread(fd, buf, n, (off_t)off) == (ssize_t)n;
}

/* Whether a PT_NOTE segment holds a note named "Go" (the Go toolchain's build id). */
static bool notes_name_go(int fd, uint64_t off, uint64_t size)
{
    if (size > NOTE_READ_MAX)
        size = NOTE_READ_MAX;
    uint8_t *buf = malloc(size ? size : 1);
    bool go = false;
    if (!buf || !read_at(fd, buf, size, off)) {
        free(buf);
        return false;
    }
    for (uint64_t at = 0; at + 12 <= size && !go;) {
        uint32_t namesz, descsz;
        memcpy(&namesz, buf + at, 4);
        memcpy(&descsz, buf + at + 4, 4);
        uint64_t name_end = at + 12 + namesz;
        /* the Go linker writes the name padded: "Go\0\0", namesz 4 */
        go = (namesz == 3 || namesz == 4) && name_end <= size &&
             memcmp(buf + at + 12, "Go", 3) == 0;
        at = at + 12 + ((uint64_t)namesz + 3) / 4 * 4 + ((uint64_t)descsz + 3) / 4 * 4;
    }
    free(buf);
    return go;
}

/* One program header, in the 64- or 32-bit layout, as (type, offset, size). */
static bool phdr_at(int fd, bool is64, uint64_t off, uint32_t *type, uint64_t *seg_off,
                    uint64_t *seg_size)
{
    if (is64) {
        Elf64_Phdr p;
        if (!read_at(fd, &p, sizeof(p), off))
            return false;
        *type = p.p_type, *seg_off = p.p_offset, *seg_size = p.p_filesz;
    } else {
        Elf32_Phdr p;
        if (!read_at(fd, &p, sizeof(p), off))
            return false;
        *type = p.p_type, *seg_off = p.p_offset, *seg_size = p.p_filesz;
    }
    return true;
}

static nsmsim_bin_kind classify_fd(int fd)
{
    unsigned char ident[EI_NIDENT];
    if (!read_at(fd, ident, sizeof(ident), 0) || memcmp(ident, ELFMAG, SELFMAG) != 0 ||
        ident[EI_DATA] != ELFDATA2LSB)
        return NSMSIM_BIN_UNKNOWN;
    bool is64 = ident[EI_CLASS] == ELFCLASS64;
    uint64_t phoff;
    unsigned phnum, phentsize;
    if (is64) {
        Elf64_Ehdr h;
        if (!read_at(fd, &h, sizeof(h), 0))
            return NSMSIM_BIN_UNKNOWN;
        phoff = h.e_phoff, phnum = h.e_phnum, phentsize = h.e_phentsize;
    } else {
        Elf32_Ehdr h;
        if (!read_at(fd, &h, sizeof(h), 0))
            return NSMSIM_BIN_UNKNOWN;
        phoff = h.e_phoff, phnum = h.e_phnum, phentsize = h.e_phentsize;
    }
    if (phnum == 0 || phnum > PHDR_MAX || phentsize < (is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
        return NSMSIM_BIN_UNKNOWN;
    bool interp = false, go = false;
    for (unsigned i = 0; i < phnum; i++) {
        uint32_t type;
        uint64_t off, size;
        if (!phdr_at(fd, is64, phoff + (uint64_t)i * phentsize, &type, &off, &size))
            return NSMSIM_BIN_UNKNOWN;
        interp |= type == PT_INTERP;
        if (type == PT_NOTE && !go)
            go = notes_name_go(fd, off, size);
    }
    return go ? NSMSIM_BIN_GO : interp ? NSMSIM_BIN_DYNAMIC : NSMSIM_BIN_STATIC;
}

/* command itself when it holds a '/', otherwise the first executable file of that name
 * in PATH (execvp's default path when PATH is unset). */
static bool find_command(const char *command, char *out, size_t size)
{
    if (strchr(command, '/'))
        return (size_t)snprintf(out, size, "%s", command) < size;
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        struct stat st;
        if ((size_t)snprintf(out, size, "%.*s%s%s", (int)n, path, n ? "/" : "", command) < size &&
            stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

nsmsim_bin_kind nsmsim_bin_classify(const char *command, char *path, size_t path_size)
{
    char found[4096];
    if (!find_command(command, found, sizeof(found)))
        return NSMSIM_BIN_UNKNOWN;
    if (path && path_size)
        snprintf(path, path_size, "%s", found);
    int fd = open(found, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NSMSIM_BIN_UNKNOWN;
    struct stat st;
    nsmsim_bin_kind kind = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? classify_fd(fd)
                                                                       : NSMSIM_BIN_UNKNOWN;
    close(fd);
    return kind;
}

const char *nsmsim_bin_kind_words(nsmsim_bin_kind kind)
{
    switch (kind) {
    case NSMSIM_BIN_DYNAMIC: return "dynamically linked";
    case NSMSIM_BIN_STATIC: return "statically linked";
    case NSMSIM_BIN_GO: return "a Go program";
    case NSMSIM_BIN_UNKNOWN: break;
    }
    return "of an unknown kind";
}
