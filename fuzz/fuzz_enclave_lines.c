/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the line splitter of nsmkit's enclave init (qemu/enclave_lines.h), which
 * cuts an application ramdisk's /cmd and /env into arguments and variables. Checks: every
 * line lies inside the buffer and holds no newline, the count respects the limit, and the
 * lines joined with '\n' give back the input (without a final newline), so nothing is lost,
 * duplicated or read outside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../qemu/enclave_lines.h"
#include "fixture.h"

#define MAX_LINES 64

static void fail(const char *what)
{
    fuzz_fail("fuzz_enclave_lines", what);
}

static void check_lines(const uint8_t *data, size_t size, char *buf, char **out, size_t count)
{
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        if (out[i] < buf || out[i] > buf + size)
            fail("a line outside the buffer");
        size_t len = strlen(out[i]);
        if ((size_t)(out[i] - buf) != at || at + len > size)
            fail("lines out of order or overlapping");
        if (memchr(out[i], '\n', len) || memcmp(out[i], data + at, len) != 0)
            fail("a line differs from the input");
        at += len;
        if (i + 1 < count && (at >= size || data[at] != '\n'))
            fail("lines not separated by one newline");
        at += 1;
    }
    if (out[count] != NULL)
        fail("the list is not NULL-terminated");
    /* all consumed: the whole input, or all but a final newline */
    if (count > 0 && !(at == size || at == size + 1))
        fail("input left over");
    if (count == 0 && size != 0)
        fail("no line from a non-empty input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1u << 16)
        return 0;
    char *buf = malloc(size + 1);
    char **out = malloc((MAX_LINES + 1) * sizeof(*out));
    if (!buf || !out)
        abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    size_t count = 0;
    int rc = enclave_split_lines(buf, size, out, MAX_LINES, &count);
    if (rc == ENCLAVE_LINES_NUL) {
        if (!memchr(data, '\0', size))
            fail("NUL reported in an input without one");
    } else if (rc == ENCLAVE_LINES_TOO_MANY) {
        if (memchr(data, '\0', size) || count != MAX_LINES)
            fail("too many lines reported wrongly");
    } else if (rc == ENCLAVE_LINES_OK) {
        if (memchr(data, '\0', size) || count > MAX_LINES)
            fail("an input with a NUL or too many lines accepted");
        check_lines(data, size, buf, out, count);
    } else {
        fail("an unknown result");
    }
    free(out);
    free(buf);
    return 0;
}
