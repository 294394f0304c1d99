/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A main() for the fuzz targets without libFuzzer: feeds each file named on the command
 * line (a directory: each regular file in it, in name order) to LLVMFuzzerTestOneInput
 * once. `make check` builds every target this way with the project's compiler and flags
 * (gcc, and ASan/UBSan in the sanitizer pass) and replays fuzz/regressions/ and the seed
 * corpora through it, so past crashes stay fixed without clang.
 *
 * Exit status: 0 when every input was replayed, 2 when a file could not be read. A
 * finding aborts (a signal), as under libFuzzer.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fixture.h"

/* Inputs larger than this are not fuzz inputs (libFuzzer's -max_len is far below). */
#define REPLAY_MAX_INPUT (1024 * 1024)

static size_t replayed;

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rbe");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *data = malloc(REPLAY_MAX_INPUT + 1);
    size_t n = data ? fread(data, 1, REPLAY_MAX_INPUT + 1, f) : 0;
    int bad = !data || ferror(f) || n > REPLAY_MAX_INPUT;
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: %s: unreadable or larger than %d bytes\n", path,
                REPLAY_MAX_INPUT);
        free(data);
        return -1;
    }
    /* an exact-size copy, so that ASan sees a read past the input's end */
    uint8_t *input = malloc(n ? n : 1);
    if (!input) {
        free(data);
        return -1;
    }
    memcpy(input, data, n);
    free(data);
    LLVMFuzzerTestOneInput(input, n);
    free(input);
    replayed++;
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    struct dirent **names;
    int count = scandir(path, &names, NULL, by_name);
    if (count < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < count; i++) {
        char child[4096];
        if (names[i]->d_name[0] != '.' &&
            snprintf(child, sizeof(child), "%s/%s", path, names[i]->d_name) < (int)sizeof(child) &&
            stat(child, &st) == 0 && S_ISREG(st.st_mode) && replay_file(child) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    int rc = 0;
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i]) != 0)
            rc = 2;
    printf("%s: replayed %zu inputs\n", argv[0], replayed);
    return rc;
}

/* The structure-aware target's mutator calls libFuzzer's; replay never mutates. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size)
{
    (void)data;
    (void)max_size;
    return size;
}
