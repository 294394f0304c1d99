/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-nitro-cli: the per-user enclave state directory and the processes behind it.
 *
 *   ${NSM_NITRO_CLI_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/nsmkit/enclaves}/
 *     <EnclaveID>/info.json     what describe-enclaves prints, plus ProcessID's start time,
 *                               the image path and the vsock DIR (0600, written atomically)
 *     <EnclaveID>/console.log   everything `nsm-qemu run-eif` wrote: its notes and the
 *                               guest's console (0600)
 *
 * The base and every enclave directory are 0700 and must belong to the user: another
 * user's or a group/world-writable directory is refused. An enclave is running while its
 * process (the session leader nsm-nitro-cli started, `nsm-qemu run-eif`) lives with the
 * start time recorded; a pid reused by another program is therefore never signalled. A
 * process group counts as gone when only zombies are left in it (the machine's PID 1 may
 * not reap orphans).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nsmkit/file.h"

#include "enclave_state.h"

int nitrocli_state_base(char *out, size_t cap, nsmkit_error *e)
{
    const char *env = getenv("NSM_NITRO_CLI_STATE");
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (env && *env)
        n = snprintf(out, cap, "%s", env);
    else if (xdg && *xdg)
        n = snprintf(out, cap, "%s/nsmkit/enclaves", xdg);
    else if (home && *home)
        n = snprintf(out, cap, "%s/.local/state/nsmkit/enclaves", home);
    else
        return nsmkit_fail(e, "neither NSM_NITRO_CLI_STATE, XDG_STATE_HOME nor HOME is set");
    if (n < 0 || (size_t)n >= cap - 64)
        return nsmkit_fail(e, "the state directory's path is too long");
    if (nsmkit_mkdir_p(out, 0700, e) != 0)
        return -1;
    struct stat st;
    if (lstat(out, &st) != 0 || !S_ISDIR(st.st_mode))
        return nsmkit_fail(e, "%s: not a directory", out);
    if (st.st_uid != getuid() || (st.st_mode & 077) != 0)
        return nsmkit_fail(e, "%s: must belong to you and be mode 0700 (it is %o, uid %u)",
                           out, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
    return 0;
}

/* /proc/PID/stat: state, process group and start time (after the last ')'). */
static int proc_stat(pid_t pid, char *state, long *pgrp, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    /* fields 3..22: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime stime cutime cstime priority nice threads itrealvalue starttime */
    int ppid, session, tty, tpgid;
    unsigned flags;
    unsigned long skip[8];
    long skip2[5];
    if (sscanf(p + 2, "%c %d %ld %d %d %d %u %lu %lu %lu %lu %lu %lu %lu %lu %ld %ld %ld "
                      "%ld %ld %llu",
               state, &ppid, pgrp, &session, &tty, &tpgid, &flags, &skip[0], &skip[1],
               &skip[2], &skip[3], &skip[4], &skip[5], &skip[6], &skip[7], &skip2[0],
               &skip2[1], &skip2[2], &skip2[3], &skip2[4], start) != 21)
        return -1;
    return 0;
}

unsigned long long nitrocli_proc_start(pid_t pid)
{
    char state;
    long pgrp;
    unsigned long long start = 0;
    return proc_stat(pid, &state, &pgrp, &start) == 0 ? start : 0;
}

bool nitrocli_enclave_alive(pid_t pid, unsigned long long start)
{
    char state;
    long pgrp;
    unsigned long long now = 0;
    return pid > 1 && proc_stat(pid, &state, &pgrp, &now) == 0 && now == start &&
           state != 'Z' && state != 'X';
}

bool nitrocli_group_alive(pid_t pgid)
{
    DIR *d = opendir("/proc");
    bool alive = false;
    struct dirent *de;
    while (d != NULL && !alive && (de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        char state;
        long pgrp;
        unsigned long long start;
        if (*end == '\0' && pid > 0 && proc_stat((pid_t)pid, &state, &pgrp, &start) == 0 &&
            pgrp == pgid && state != 'Z' && state != 'X')
            alive = true;
    }
    if (d != NULL)
        closedir(d);
    return alive;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int nitrocli_group_stop(pid_t pgid)
{
    if (pgid <= 1)
        return -1;
    kill(-pgid, SIGTERM);
    for (int i = 0; i < 100 && nitrocli_group_alive(pgid); i++) /* 10 s to clean up */
        sleep_ms(100);
    if (nitrocli_group_alive(pgid)) {
        kill(-pgid, SIGKILL);
        for (int i = 0; i < 50 && nitrocli_group_alive(pgid); i++)
            sleep_ms(100);
    }
    return nitrocli_group_alive(pgid) ? -1 : 0;
}

void nitrocli_console_tail(const char *dir, unsigned lines, FILE *out)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/console.log", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    long keep = 8192;
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > keep)
        fseek(f, -keep, SEEK_END);
    else
        fseek(f, 0, SEEK_SET);
    char buf[8193];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *start = buf + n;
    unsigned seen = 0;
    while (start > buf && seen <= lines)
        if (*--start == '\n' && start + 1 < buf + n)
            seen++;
    if (seen > lines)
        start++;
    fprintf(out, "%s%s", start, n > 0 && buf[n - 1] != '\n' ? "\n" : "");
}

/* ---- listing ---------------------------------------------------------------------------------- */

json_t *nitrocli_info_load(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/info.json", dir);
    json_error_t je;
    json_t *info = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (info != NULL && !json_is_object(info)) {
        json_decref(info);
        return NULL;
    }
    return info;
}

bool nitrocli_info_alive(json_t *info)
{
    json_int_t pid = json_integer_value(json_object_get(info, "ProcessID"));
    json_int_t start = json_integer_value(json_object_get(info, "StartTime"));
    return pid > 1 && pid < INT32_MAX &&
           nitrocli_enclave_alive((pid_t)pid, (unsigned long long)start);
}

size_t nitrocli_enclaves_list(const char *base, nitrocli_enclave *out, size_t cap)
{
    DIR *d = opendir(base);
    size_t n = 0;
    struct dirent *de;
    while (d != NULL && n < cap && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, "i-", 2) != 0 || len >= NITROCLI_ID_MAX)
            continue;
        snprintf(out[n].dir, sizeof(out[n].dir), "%s/%s", base, de->d_name);
        memcpy(out[n].id, de->d_name, len + 1);
        out[n].info = nitrocli_info_load(out[n].dir);
        out[n].alive = out[n].info != NULL && nitrocli_info_alive(out[n].info);
        n++;
    }
    if (d != NULL)
        closedir(d);
    return n;
}

void nitrocli_enclaves_free(nitrocli_enclave *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(list[i].info);
}

int nitrocli_info_write(const char *dir, json_t *info, nsmkit_error *e)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/info.json", dir);
    char *text = json_dumps(info, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL)
        return nsmkit_fail(e, "out of memory");
    int rc = nsmkit_file_write(path, (const uint8_t *)text, strlen(text), 0600, e);
    free(text);
    return rc;
}
