/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the ELF headers `nsm-sim exec` reads to tell a static or Go COMMAND
 * from one the LD_PRELOAD shim reaches (nsm-sim/binkind.c). Every input must classify
 * without a crash, a hang or an unbounded read; the file is a memfd named by its
 * /proc/self/fd path, as exec names a command by its path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../nsm-sim/binkind.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-binkind", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    fchmod(fd, 0700);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    nsmsim_bin_kind kind = nsmsim_bin_classify(path, NULL, 0);
    if (kind != NSMSIM_BIN_UNKNOWN && kind != NSMSIM_BIN_DYNAMIC && kind != NSMSIM_BIN_STATIC &&
        kind != NSMSIM_BIN_GO)
        abort();
    /* fewer than an ELF header's bytes is never a program */
    if (size < 52 && kind != NSMSIM_BIN_UNKNOWN)
        abort();
    close(fd);
    return 0;
}
