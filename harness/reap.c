/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-vectors: the subreaper's sweep (reap.h). Children are found in /proc by their parent
 * pid, since the orphans were never started by this process and it has no list of them.
 */
#include "reap.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int hv_reap_init(void)
{
    return prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L);
}

/* The parent pid of pid from /proc/PID/stat, or -1 when it is gone. The command name may
 * hold spaces and parentheses: the fields start after its last ')'. */
static pid_t parent_of(pid_t pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *close = strrchr(stat, ')');
    int ppid;
    char state;
    if (!close || sscanf(close + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return (pid_t)ppid;
}

static bool kept(pid_t pid, const pid_t *keep, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (keep[i] == pid)
            return true;
    return false;
}

size_t hv_reap_orphans(const pid_t *keep, size_t n)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    pid_t self = getpid();
    size_t killed = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)ent->d_name[0]))
            continue;
        pid_t pid = (pid_t)strtol(ent->d_name, NULL, 10);
        if (pid <= 0 || pid == self || kept(pid, keep, n) || parent_of(pid) != self)
            continue;
        /* ours, so its pid cannot be reused before the waitpid below */
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        killed++;
    }
    closedir(d);
    return killed;
}

size_t hv_reap_all(void)
{
    size_t killed = 0;
    /* Killing a child hands its own children to us: sweep until none is left. */
    for (int round = 0; round < 500; round++) {
        killed += hv_reap_orphans(NULL, 0);
        int st;
        pid_t got;
        while ((got = waitpid(-1, &st, WNOHANG)) > 0)
            ;
        if (got < 0 && errno == ECHILD)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return killed;
}
