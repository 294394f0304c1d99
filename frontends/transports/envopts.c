/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulator's state options from the environment, for the front-ends that run the
 * core inside someone else's program (the LD_PRELOAD shim, the drop-in libnsm) and so
 * have no command line. Each variable is turned into the matching command-line option
 * and parsed by nsmsim_options_parse_arg, so values are checked exactly as `nsm-sim serve`
 * checks them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envopts.h"
#include "nsmkit/fault.h"
#include "nsmkit/error.h"

bool nsmsim_env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0 && strcmp(v, "no") != 0;
}

void nsmsim_env_storage_free(nsmsim_env_storage *storage)
{
    for (size_t i = 0; i < storage->count; i++)
        free(storage->strings[i]);
    free(storage->strings);
    storage->strings = NULL;
    storage->count = 0;
}

static int push(nsmsim_env_storage *storage, const char *text, size_t len, nsmkit_error *e)
{
    char **grown = realloc(storage->strings, (storage->count + 1) * sizeof(*grown));
    if (!grown)
        return nsmkit_fail(e, "out of memory");
    storage->strings = grown;
    char *copy = malloc(len + 1);
    if (!copy)
        return nsmkit_fail(e, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    storage->strings[storage->count++] = copy;
    return 0;
}

static int push_option(nsmsim_env_storage *storage, const char *option, const char *value,
                       size_t value_len, nsmkit_error *e)
{
    if (push(storage, option, strlen(option), e) != 0)
        return -1;
    return value ? push(storage, value, value_len, e) : 0;
}

static const struct {
    const char *variable;
    const char *option;
} simple_options[] = {
    {"NSM_SIM_CA", "--ca"},
    {"NSM_SIM_TIME", "--time"},
    {"NSM_SIM_MEASUREMENTS", "--measurements"},
    {"NSM_SIM_EIF", "--eif"},
    {"NSM_SIM_MAP", "--map"},
};

int nsmsim_options_from_env(nsmsim_options *options, nsmsim_env_storage *storage,
                            nsmkit_error *e)
{
    storage->strings = NULL;
    storage->count = 0;
    for (size_t k = 0; k < sizeof(simple_options) / sizeof(simple_options[0]); k++) {
        const char *v = getenv(simple_options[k].variable);
        if (v && *v && push_option(storage, simple_options[k].option, v, strlen(v), e) != 0)
            goto fail;
    }
    const char *pcrs = getenv("NSM_SIM_PCR");
    while (pcrs && *pcrs) {
        size_t n = strcspn(pcrs, ", ");
        if (n > 0 && push_option(storage, "--pcr", pcrs, n, e) != 0)
            goto fail;
        pcrs += n;
        pcrs += strspn(pcrs, ", ");
    }
    if (nsmsim_env_flag("NSM_SIM_DEBUG_MODE") &&
        push_option(storage, "--debug-mode", NULL, 0, e) != 0)
        goto fail;

    int argc = (int)storage->count;
    for (int i = 0; i < argc;) {
        int r = nsmsim_options_parse_arg(options, argc, storage->strings, &i, e);
        if (r < 0)
            goto fail;
        if (r == 0) {
            nsmkit_fail(e, "internal error: option %s not understood", storage->strings[i]);
            goto fail;
        }
    }
    return 0;

fail:
    {
        /* Say which variable the message is about: the parser speaks of options. */
        char msg[sizeof(e->msg)];
        snprintf(msg, sizeof(msg), "%s", e ? e->msg : "");
        if (e)
            nsmkit_fail(e, "environment: %s", msg);
    }
    nsmsim_env_storage_free(storage);
    return -1;
}
