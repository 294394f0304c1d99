/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-nitro-cli: the code table, nitro-cli's error output, and where the program lives.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>

#include "nitro_cli.h"

#define AWS_ERRORS_PAGE "https://docs.aws.amazon.com/enclaves/latest/user/cli-errors.html"

static const struct {
    nitrocli_code code;
    const char *name, *sentence;
    int e;
} codes[] = {
#define NITROCLI_CODE_ROW(name, number, e, sentence) {NITROCLI_ERR_##name, #name, sentence, e},
    NITROCLI_CODES(NITROCLI_CODE_ROW)
#undef NITROCLI_CODE_ROW
};

const char *nitrocli_code_name(nitrocli_code code)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == code)
            return codes[i].name;
    return NULL;
}

const char *nitrocli_code_sentence(nitrocli_code code)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == code)
            return codes[i].sentence;
    return NULL;
}

int nitrocli_code_e(nitrocli_code code)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == code)
            return codes[i].e;
    return 0;
}

int nitrocli_report(const char *command, nitrocli_code code, const nsmkit_error *e)
{
    const char *sentence = nitrocli_code_sentence(code);
    if (code == NITROCLI_ERR_USAGE) {
        fprintf(stderr, "nsm-nitro-cli %s: %s\n(nsm-nitro-cli %s --help)\n", command, e->msg,
                command);
        return 2;
    }
    int number = nitrocli_code_e(code);
    fprintf(stderr, "[ E%02d ] %c%s.\n\nFor more details, please visit %s#E%02d\n\n"
                    "nsm-nitro-cli %s: %d %s: %s\n",
            number, sentence ? sentence[0] - 'a' + 'A' : '?', sentence ? sentence + 1 : "",
            AWS_ERRORS_PAGE, number, command, (int)code, nitrocli_code_name(code), e->msg);
    return number ? number : 1;
}

const char *nitrocli_exe_dir(void)
{
    static char dir[PATH_MAX];
    if (dir[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
        if (n <= 0) {
            snprintf(dir, sizeof(dir), ".");
        } else {
            dir[n] = '\0';
            char *slash = strrchr(dir, '/');
            if (slash != NULL)
                *slash = '\0';
        }
    }
    return dir;
}

