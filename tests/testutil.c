/* SPDX-License-Identifier: Apache-2.0 */
#include "testutil.h"

#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../nsm-sim/commands.h"
#include "nsmkit/error.h"
#include "nsmkit/hex.h"
#include "nsmkit/file.h"

const char *test_shared_dir(void)
{
    static char path[4096];
    const char *env = getenv("NSMKIT_SHARED");
    snprintf(path, sizeof(path), "%s", env && *env ? env : "../shared");
    struct stat st;
    char probe[4200];
    snprintf(probe, sizeof(probe), "%s/vectors/real", path);
    if (stat(probe, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    return path;
}

void test_print_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP: ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

uint8_t *test_read_file(const char *path, size_t *len)
{
    uint8_t *data = NULL;
    nsmkit_error e;
    if (nsmkit_file_read(path, 1 << 24, &data, len, &e) != 0)
        fail_msg("%s", e.msg);
    return data;
}

uint8_t *test_hex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    char *compact = malloc(n + 1);
    assert_non_null(compact);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (hex[i] != ' ' && hex[i] != '\n')
            compact[k++] = hex[i];
    compact[k] = '\0';
    uint8_t *out = NULL;
    nsmkit_error e;
    if (nsmkit_hex_decode(compact, SIZE_MAX, &out, len, &e) != 0)
        fail_msg("bad test hex: %s", e.msg);
    free(compact);
    return out;
}

char *test_mkdtemp(void)
{
    const char *tmp = getenv("TMPDIR");
    char *path = malloc(4096);
    assert_non_null(path);
    snprintf(path, 4096, "%s/nsmkit-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(path));
    return path;
}

void test_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                test_rmdir(path);
            else
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}


void test_reexec_preloaded(char **argv, const char *const *extra_env)
{
    if (getenv("NSMKIT_TEST_PRELOADED"))
        return;
    char exe[PATH_MAX], shim[PATH_MAX + 64], value[2 * PATH_MAX + 128];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        fprintf(stderr, "cannot find this test binary\n");
        exit(1);
    }
    exe[n] = '\0';
    snprintf(shim, sizeof(shim), "%s/../lib/libnsm-sim-preload.so", dirname(exe));
    if (access(shim, R_OK) != 0) {
        fprintf(stderr, "%s is missing: build it (make all) before the tests\n", shim);
        exit(1);
    }
    const char *runtime = nsmsim_sanitizer_runtime();
    snprintf(value, sizeof(value), "%s%s%s", runtime ? runtime : "", runtime ? ":" : "", shim);
    setenv("LD_PRELOAD", value, 1);
    setenv("NSMKIT_TEST_PRELOADED", "1", 1);
    for (size_t i = 0; extra_env && extra_env[i]; i++)
        putenv((char *)(uintptr_t)extra_env[i]);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "cannot re-execute the test binary\n");
    exit(1);
}

void test_assert_code(const nsmkit_code_table *table, int got, int want, const char *expr,
                      const char *file, int line)
{
    if (got == want)
        return;
    const char *g = nsmkit_code_name(table, got), *w = nsmkit_code_name(table, want);
    print_error("%s: got %d %s, want %d %s (%s codes)\n", expr, got, g ? g : "(not a code)",
                want, w ? w : "(not a code)", table->component);
    _fail(file, line);
}
