/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-nitro-cli: the enclave state directory and process checks (state.c).
 */
#ifndef NSMKIT_NITRO_CLI_STATE_H
#define NSMKIT_NITRO_CLI_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "nsmkit/error.h"

#define NITROCLI_ID_MAX 64
#define NITROCLI_MAX_ENCLAVES 256

typedef struct {
    char id[NITROCLI_ID_MAX];
    char dir[PATH_MAX];
    json_t *info; /* owned; NULL when info.json is unreadable */
    bool alive;
} nitrocli_enclave;

/* The base directory (created 0700; refused unless the user's and 0700). */
int nitrocli_state_base(char *out, size_t cap, nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Every enclave directory under base (at most cap). Free with nitrocli_enclaves_free. */
size_t nitrocli_enclaves_list(const char *base, nitrocli_enclave *out, size_t cap);
void nitrocli_enclaves_free(nitrocli_enclave *list, size_t n);
json_t *nitrocli_info_load(const char *dir);
int nitrocli_info_write(const char *dir, json_t *info, nsmkit_error *e) NSMKIT_WARN_UNUSED;
bool nitrocli_info_alive(json_t *info);

/* The process's start time (clock ticks since boot), 0 when it is gone. */
unsigned long long nitrocli_proc_start(pid_t pid);
bool nitrocli_enclave_alive(pid_t pid, unsigned long long start);
/* Whether any non-zombie process is left in the group. */
bool nitrocli_group_alive(pid_t pgid);
/* SIGTERM to the group, up to 10 s, then SIGKILL; 0 when nothing is left. */
int nitrocli_group_stop(pid_t pgid);
/* The last lines of the enclave's console.log. */
void nitrocli_console_tail(const char *dir, unsigned lines, FILE *out);

#endif /* NSMKIT_NITRO_CLI_STATE_H */
