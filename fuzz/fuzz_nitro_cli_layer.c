/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: nsm-nitro-cli's image layer writer (nitro-cli/layer.c), the code that
 * turns a hostile tarball into a root filesystem. The input is a layer (any format and
 * compression libarchive reads) applied to an empty directory inside a private sandbox
 * directory. Whatever the input: a code from the table, the bounds kept (bytes written,
 * entries), and nothing created in the sandbox beside the tree itself and the layer file;
 * the tree is removed after each input, so inputs do not carry over.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../nitro-cli/nitro_cli.h"
#include "fixture.h"

static char sandbox[256], root[300], layer[300];

static void remove_sandbox(void)
{
    nsmkit_error e;
    (void)nitrocli_rm_rf(sandbox, &e);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(sandbox, sizeof(sandbox), "%s/fuzz_nitro_cli_layer.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(sandbox) == NULL)
        fuzz_fail("fuzz_nitro_cli_layer", "mkdtemp");
    snprintf(root, sizeof(root), "%s/root", sandbox);
    snprintf(layer, sizeof(layer), "%s/layer", sandbox);
    atexit(remove_sandbox);
}

/* Only "root" and "layer" may be in the sandbox: anything else escaped the tree. */
static void check_sandbox(void)
{
    DIR *d = opendir(sandbox);
    struct dirent *de;
    if (d == NULL)
        fuzz_fail("fuzz_nitro_cli_layer", "the sandbox is gone");
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            strcmp(de->d_name, "root") && strcmp(de->d_name, "layer"))
            fuzz_fail("fuzz_nitro_cli_layer", "an entry escaped the tree");
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sandbox[0] == '\0')
        setup();
    FILE *f = fopen(layer, "wb");
    if (f == NULL || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        fuzz_fail("fuzz_nitro_cli_layer", "writing the layer");
    if (mkdir(root, 0700) != 0)
        fuzz_fail("fuzz_nitro_cli_layer", "the tree is left over from the last input");
    nitrocli_limits limits = {1024 * 1024, 2000};
    uint64_t bytes = 0, entries = 0;
    nsmkit_error e;
    nitrocli_code code = nitrocli_layer_apply(layer, root, &limits, &bytes, &entries, &e);
    if (nitrocli_code_name(code) == NULL)
        fuzz_fail("fuzz_nitro_cli_layer", "a code outside the table");
    if (bytes > limits.max_bytes || entries > limits.max_entries + 1)
        fuzz_fail("fuzz_nitro_cli_layer", "a bound was passed");
    check_sandbox();
    if (nitrocli_rm_rf(root, &e) != 0)
        fuzz_fail("fuzz_nitro_cli_layer", "the tree cannot be removed");
    return 0;
}
