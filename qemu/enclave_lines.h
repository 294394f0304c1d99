/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The line splitter of nsmkit's enclave init (qemu/enclave-init.c) for /cmd and /env, the
 * files of an application ramdisk: one argument, or one NAME=VALUE, a line. A header of its
 * own so that fuzz/fuzz_enclave_lines.c drives exactly this code.
 */
#ifndef NSMKIT_QEMU_ENCLAVE_LINES_H
#define NSMKIT_QEMU_ENCLAVE_LINES_H

#include <stddef.h>
#include <string.h>

enum {
    ENCLAVE_LINES_OK = 0,
    ENCLAVE_LINES_NUL = -1,      /* a NUL byte inside the text: no C string can carry it */
    ENCLAVE_LINES_TOO_MANY = -2, /* more than max lines */
};

/* Cuts buf[0..len) (with buf[len] == '\0') into lines in place: each '\n' becomes '\0' and
 * out[0..*count) point at the lines, out[*count] = NULL (out has room for max + 1). A final
 * '\n' ends the last line; it does not start an empty one. Empty lines in between are kept
 * (an empty argument is an argument). */
static inline int enclave_split_lines(char *buf, size_t len, char **out, size_t max,
                                      size_t *count)
{
    *count = 0;
    out[0] = NULL;
    if (memchr(buf, '\0', len))
        return ENCLAVE_LINES_NUL;
    for (char *p = buf; *p;) {
        char *end = strchr(p, '\n');
        if (end)
            *end = '\0';
        if (*count == max)
            return ENCLAVE_LINES_TOO_MANY;
        out[(*count)++] = p;
        out[*count] = NULL;
        if (!end)
            break;
        p = end + 1;
    }
    return ENCLAVE_LINES_OK;
}

#endif
