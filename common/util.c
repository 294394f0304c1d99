/* SPDX-License-Identifier: Apache-2.0 */
/* Errors, hex, files and small parsing helpers for the command-line tools. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsmkit/error.h"
#include "nsmkit/bytes.h"
#include "nsmkit/hex.h"
#include "nsmkit/file.h"

void nsmkit_vfail(nsmkit_error *e, const char *fmt, va_list ap)
{
    if (e)
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int nsmkit_fail(nsmkit_error *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nsmkit_vfail(e, fmt, ap);
    va_end(ap);
    return -1;
}

int nsmkit_fail_with(nsmkit_error *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nsmkit_vfail(e, fmt, ap);
    va_end(ap);
    return code;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int nsmkit_hex_decode(const char *hex, size_t max_len, uint8_t **out, size_t *out_len,
                      nsmkit_error *e)
{
    *out = NULL;
    *out_len = 0;
    size_t digits = strlen(hex);
    if (digits % 2 != 0)
        return nsmkit_fail(e, "hex has an odd number of digits (%zu)", digits);
    if (digits / 2 > max_len)
        return nsmkit_fail(e, "hex decodes to %zu bytes, more than the limit of %zu",
                           digits / 2, max_len);
    uint8_t *bytes = malloc(digits / 2 + 1); /* +1: a valid pointer for empty input */
    if (!bytes)
        return nsmkit_fail(e, "out of memory");
    for (size_t i = 0; i < digits; i += 2) {
        int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            free(bytes);
            size_t bad = hi < 0 ? i : i + 1;
            return nsmkit_fail(e, "not a hex digit at position %zu: '%c'", bad, hex[bad]);
        }
        bytes[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *out = bytes;
    *out_len = digits / 2;
    return 0;
}

void nsmkit_hex_encode(const uint8_t *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0xf];
    }
    out[2 * len] = '\0';
}

int nsmkit_file_read(const char *path, size_t max_len, uint8_t **out, size_t *out_len,
                     nsmkit_error *e)
{
    *out = NULL;
    *out_len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nsmkit_fail(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return nsmkit_fail(e, "%s: cannot stat: %s", path, strerror(saved));
    }
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) {
        close(fd);
        return nsmkit_fail(e, "%s: not a regular file", path);
    }
    /* Read up to max_len + 1 bytes so that a file over the limit is noticed even when
     * its size is not known in advance (pipes, /dev/stdin). */
    size_t cap = max_len + 1;
    uint8_t *data = malloc(cap);
    if (!data) {
        close(fd);
        return nsmkit_fail(e, "%s: out of memory", path);
    }
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, data + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            free(data);
            close(fd);
            return nsmkit_fail(e, "%s: cannot read: %s", path, strerror(saved));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > max_len) {
        free(data);
        return nsmkit_fail(e, "%s: larger than the limit of %zu bytes", path, max_len);
    }
    *out = data;
    *out_len = len;
    return 0;
}

int nsmkit_file_write(const char *path, const uint8_t *data, size_t len, unsigned mode,
                      nsmkit_error *e)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return nsmkit_fail(e, "%s: out of memory", path);
    snprintf(tmp, plen + 16, "%s.tmp%ld", path, (long)getpid());
    /* O_EXCL with the final mode: the content is never readable by others, not even
     * for a moment. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        int saved = errno;
        free(tmp);
        return nsmkit_fail(e, "%s: cannot create: %s", path, strerror(saved));
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        done += (size_t)n;
    }
    int saved = errno;
    bool ok = done == len && fchmod(fd, (mode_t)mode) == 0 && fsync(fd) == 0;
    if (!ok && done == len)
        saved = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return nsmkit_fail(e, "%s: cannot write: %s", path, strerror(saved));
    }
    free(tmp);
    return 0;
}

int nsmkit_mkdir_p(const char *path, unsigned mode, nsmkit_error *e)
{
    size_t n = strlen(path);
    if (n == 0)
        return nsmkit_fail(e, "empty directory name");
    char *copy = strdup(path);
    if (!copy)
        return nsmkit_fail(e, "out of memory");
    for (size_t i = 1; i <= n; i++) {
        if (copy[i] != '/' && copy[i] != '\0')
            continue;
        char saved = copy[i];
        copy[i] = '\0';
        if (mkdir(copy, (mode_t)mode) != 0 && errno != EEXIST) {
            int err = errno;
            nsmkit_fail(e, "%s: cannot create directory: %s", copy, strerror(err));
            free(copy);
            return -1;
        }
        copy[i] = saved;
    }
    free(copy);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return nsmkit_fail(e, "%s: not a directory", path);
    return 0;
}

bool nsmkit_parse_u64(const char *text, uint64_t *out)
{
    uint64_t value = 0;
    if (!text || !*text)
        return false;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

void nsmkit_wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

bool nsmkit_parse_unix_time(const char *text, uint64_t *ms)
{
    char whole[24];
    const char *dot = strchr(text, '.');
    size_t n = dot ? (size_t)(dot - text) : strlen(text);
    uint64_t s, frac_ms = 0;
    if (n == 0 || n >= sizeof(whole))
        return false;
    memcpy(whole, text, n);
    whole[n] = '\0';
    if (!nsmkit_parse_u64(whole, &s) || s > UINT64_MAX / 1000 - 1)
        return false;
    if (dot) {
        const char *f = dot + 1;
        size_t digits = strlen(f);
        if (digits == 0 || strspn(f, "0123456789") != digits)
            return false;
        for (size_t k = 0; k < 3; k++) /* milliseconds: the rest is below every clock here */
            frac_ms = frac_ms * 10 + (k < digits ? (uint64_t)(f[k] - '0') : 0);
    }
    *ms = s * 1000 + frac_ms;
    return true;
}
