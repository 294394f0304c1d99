/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One line per event on stderr (log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

void nsmsim_log_vline(const char *prefix, const char *fmt, va_list ap)
{
    char line[640];
    int n = snprintf(line, sizeof(line), "%s: ", prefix);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    size_t len = strnlen(line, sizeof(line) - 2);
    line[len] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len + 1);
    (void)w;
}

void nsmsim_log_line(const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nsmsim_log_vline(prefix, fmt, ap);
    va_end(ap);
}
