/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-vectors grade: runs a verifier's command line once per document of a corpus and
 * compares its verdicts with the manifest's.
 *
 * What it guards against, besides the verifier's own mistakes: a command line that cannot
 * work (an unknown placeholder is refused; a command that rejects every valid document, or
 * answers every document the same, is warned about), a grading that looks dead (progress on
 * stderr every two seconds), and processes that outlive it (reap.h).
 */
#include "grade.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nsmkit/buf.h"
#include "nsmkit/file.h"
#include "nsmkit/hex.h"
#include "nsmkit/verify.h"
#include "reap.h"
#include "report.h"

extern char **environ;

enum { COL_NAME, COL_CLASS, COL_LAYER, COL_FILE, COL_TIME, COL_AWS, COL_STRICT, COL_ERROR,
       COL_ERROR_STRICT, COL_PCR0, COL_NONCE, COL_USER_DATA, COL_PUBLIC_KEY, COL_MAX_AGE,
       COL_REFUSE_DEBUG, COL_DESCRIPTION, COL_COUNT };

typedef struct {
    char *col[COL_COUNT];
} row;

#define MAX_JOBS 256
/* far above any corpus (vectors/ has 201): the reports stay fast on a hostile manifest */
#define MAX_DOCUMENTS 100000
#define PROGRESS_EVERY_MS 2000
#define SWEEP_EVERY_MS 1000

static const char *const placeholders[] = {"doc", "root", "time", "profile", "pcr0", "nonce",
                                           "user_data", "public_key", "max_age", "refuse_debug"};
#define PLACEHOLDER_COUNT (sizeof(placeholders) / sizeof(placeholders[0]))

typedef struct {
    hv_grade grade;
    row *rows;
    const char *tmpl, *dir;
    regex_t accept_re, reject_re;
    bool has_accept_re, has_reject_re;
    unsigned timeout_s;
    long jobs;
    /* next document, documents done, wrong verdicts so far */
    pthread_mutex_t lock;
    size_t next, done, wrong;
    /* the command each worker runs now: spawning and sweeping exclude each other, so that
     * the sweep never takes a command that has just started for an orphan */
    pthread_mutex_t spawn_lock;
    pid_t live[MAX_JOBS];
    bool stopping; /* interrupted: start nothing more (under spawn_lock) */
} grader;

/* SIGTERM, SIGHUP or SIGINT: the grading stops, and takes what it started with it (the
 * commands run in process groups of their own, out of reach of the terminal's ^C). */
static volatile sig_atomic_t interrupted;

static void on_signal(int signo)
{
    interrupted = signo;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    static const int signals[] = {SIGTERM, SIGHUP, SIGINT};
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        struct sigaction old;
        /* a ^C a shell told this program to ignore (a background job) stays ignored */
        if (sigaction(signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(signals[i], &sa, NULL);
    }
}

static bool path_join(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "nsm-vectors: path too long: %.80s/%s\n", dir, name);
        return false;
    }
    return true;
}

/* ---- the command line -------------------------------------------------------------------- */

/* A "{word}" in the template that is not a placeholder is a typo ({docs}, {roots}): graded,
 * it would reach the verifier verbatim and score as its mistakes. "${word}" is the shell's. */
static bool placeholders_known(const char *tmpl)
{
    bool ok = true;
    for (const char *t = strchr(tmpl, '{'); t; t = strchr(t + 1, '{')) {
        size_t n = strspn(t + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (n == 0 || t[1 + n] != '}' || (t > tmpl && t[-1] == '$'))
            continue;
        bool known = false;
        for (size_t i = 0; i < PLACEHOLDER_COUNT && !known; i++)
            known = strlen(placeholders[i]) == n && strncmp(t + 1, placeholders[i], n) == 0;
        if (!known) {
            fprintf(stderr, "nsm-vectors grade: unknown placeholder {%.*s} in --cmd (known: "
                            "{doc} {root} {time} {profile} {pcr0} {nonce} {user_data} "
                            "{public_key} {max_age} {refuse_debug})\n", (int)n, t + 1);
            ok = false;
        }
    }
    return ok;
}

static void put_quoted(nsmkit_buf *b, const char *s)
{
    nsmkit_buf_u8(b, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            nsmkit_buf_append(b, "'\\''", 4);
        else
            nsmkit_buf_u8(b, (uint8_t)*s);
    }
    nsmkit_buf_u8(b, '\'');
}

static char *expand(const grader *g, const row *r)
{
    char doc[4200], root[4200];
    if (snprintf(doc, sizeof(doc), "%s/%s", g->dir, r->col[COL_FILE]) >= (int)sizeof(doc))
        return NULL;
    snprintf(root, sizeof(root), "%s/root.pem", g->dir);
    const char *values[PLACEHOLDER_COUNT] = {
        doc, root, r->col[COL_TIME], g->grade.profile, r->col[COL_PCR0], r->col[COL_NONCE],
        r->col[COL_USER_DATA], r->col[COL_PUBLIC_KEY], r->col[COL_MAX_AGE],
        r->col[COL_REFUSE_DEBUG]};
    nsmkit_buf b;
    nsmkit_buf_init(&b, 64 * 1024);
    for (const char *t = g->tmpl; *t;) {
        bool done = false;
        for (size_t i = 0; i < PLACEHOLDER_COUNT && !done && *t == '{'; i++) {
            size_t n = strlen(placeholders[i]);
            if (strncmp(t + 1, placeholders[i], n) == 0 && t[1 + n] == '}') {
                put_quoted(&b, values[i]);
                t += n + 2;
                done = true;
            }
        }
        if (!done)
            nsmkit_buf_u8(&b, (uint8_t)*t++);
    }
    nsmkit_buf_u8(&b, 0);
    if (b.err) {
        nsmkit_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

/* ---- running one command ------------------------------------------------------------------ */

static long ms_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* True once the command has exited. WNOWAIT leaves it a zombie, so its process group id
 * cannot be reused before the group is killed. */
static bool command_exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts `sh -c cmd` in a process group of its own, output to fd; records it as worker
 * slot's command. Returns posix_spawn's error. */
static int spawn_command(grader *g, size_t slot, char *cmd, int fd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    char *args[] = {(char *)"sh", (char *)"-c", cmd, NULL};
    pthread_mutex_lock(&g->spawn_lock);
    int rc = g->stopping ? ECANCELED : posix_spawn(pid, "/bin/sh", &fa, &attr, args, environ);
    g->live[slot] = rc == 0 ? *pid : 0;
    pthread_mutex_unlock(&g->spawn_lock);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

/* Reads the command's output until it exits or times out; true when it hung. Until the
 * command exits its output is read as it comes; once it has, only what is already written
 * is taken: a child it left behind may hold the pipe open (and write) for ever, and the
 * command's own exit is the verdict, not the pipe's end. */
static bool collect(const grader *g, pid_t pid, int fd, char *out, size_t size, size_t *len)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool exited = false, eof = false;
    long eof_pause_ms = 1; /* the exit usually follows the pipe's end within microseconds */
    for (;;) {
        long left_ms = (long)g->timeout_s * 1000 - ms_since(&start);
        exited = exited || command_exited(pid);
        if (left_ms <= 0 && !exited)
            return true;
        if (eof) { /* the pipe is closed but the command runs on: wait for its exit */
            if (exited)
                return false;
            sleep_ms(left_ms < eof_pause_ms ? left_ms : eof_pause_ms);
            eof_pause_ms = eof_pause_ms < 20 ? eof_pause_ms * 2 : 20;
            continue;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int n = poll(&pfd, 1, exited ? 0 : (int)(left_ms < 20 ? left_ms : 20));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n == 0 && exited))
            return false;
        if (n == 0)
            continue;
        char chunk[4096];
        ssize_t got = read(fd, chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            eof = true;
            continue;
        }
        size_t keep = (size_t)got < size - 1 - *len ? (size_t)got : size - 1 - *len;
        memcpy(out + *len, chunk, keep);
        *len += keep;
        if (exited && *len == size - 1)
            return false; /* a leftover child flooding the pipe: what the command wrote is in */
    }
}

static void classify(const grader *g, hv_result *r, int st, const char *out, size_t out_len)
{
    if (WIFSIGNALED(st)) {
        r->got = OUT_CRASH;
        r->detail = WTERMSIG(st);
        return;
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 255;
    r->detail = code;
    if (g->has_accept_re || g->has_reject_re) {
        if (out_len == 0)
            r->got = OUT_NO_OUTPUT;
        else if (g->has_accept_re)
            r->got = regexec(&g->accept_re, out, 0, NULL, 0) == 0 ? OUT_ACCEPT : OUT_REJECT;
        else
            r->got = regexec(&g->reject_re, out, 0, NULL, 0) == 0 ? OUT_REJECT : OUT_ACCEPT;
        return;
    }
    /* 126/127: the shell could not run the command; 128+: killed by a signal it reported */
    if (code == 0)
        r->got = OUT_ACCEPT;
    else if (code >= 126)
        r->got = code > 128 ? OUT_CRASH : OUT_ERROR;
    else
        r->got = OUT_REJECT;
}

static void run_one(grader *g, size_t slot, const row *rw, hv_result *r)
{
    char *cmd = expand(g, rw);
    int fds[2] = {-1, -1};
    pid_t pid = -1;
    const size_t out_size = 65536;
    char *out = malloc(out_size);
    size_t out_len = 0;
    r->got = OUT_ERROR;
    if (!cmd || !out || pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(r->output, sizeof(r->output), "could not start: %s", strerror(errno));
        free(cmd);
        free(out);
        return;
    }
    int rc = spawn_command(g, slot, cmd, fds[1], &pid);
    close(fds[1]);
    free(cmd);
    if (rc != 0) {
        snprintf(r->output, sizeof(r->output), "could not start: %s", strerror(rc));
        close(fds[0]);
        free(out);
        return;
    }
    bool hung = collect(g, pid, fds[0], out, out_size, &out_len);
    close(fds[0]);
    /* The command and anything it started in its group; what left the group is swept. */
    kill(-pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&g->spawn_lock);
    g->live[slot] = 0;
    pthread_mutex_unlock(&g->spawn_lock);
    out[out_len] = '\0';
    size_t k = 0; /* the first line of output, printable, for the report */
    for (size_t i = 0; i < out_len && k + 1 < sizeof(r->output) && out[i] != '\n'; i++)
        r->output[k++] = out[i] >= 0x20 && out[i] < 0x7f ? out[i] : '?';
    r->output[k] = '\0';
    if (hung) {
        r->got = OUT_HANG;
        r->detail = (int)g->timeout_s;
    } else
        classify(g, r, st, out, out_len);
    free(out);
}

typedef struct {
    grader *g;
    size_t slot;
} worker_arg;

static void *worker(void *arg)
{
    worker_arg *w = arg;
    grader *g = w->g;
    for (;;) {
        pthread_mutex_lock(&g->lock);
        size_t i = g->next < g->grade.count ? g->next++ : g->grade.count;
        pthread_mutex_unlock(&g->lock);
        if (i == g->grade.count)
            return NULL;
        hv_result *r = &g->grade.results[i];
        run_one(g, w->slot, &g->rows[i], r);
        pthread_mutex_lock(&g->lock);
        g->done++;
        g->wrong += hv_verdict_of(r) != V_RIGHT;
        pthread_mutex_unlock(&g->lock);
    }
}

/* Interrupted: no new document, no new command, the running ones killed. */
static void stop_all(grader *g)
{
    pthread_mutex_lock(&g->lock);
    g->next = g->grade.count;
    pthread_mutex_unlock(&g->lock);
    pthread_mutex_lock(&g->spawn_lock);
    g->stopping = true;
    for (long j = 0; j < g->jobs; j++)
        if (g->live[j] > 0)
            kill(-g->live[j], SIGKILL);
    pthread_mutex_unlock(&g->spawn_lock);
}

/* Runs the workers; meanwhile prints the progress and kills orphans. */
static void run_all(grader *g)
{
    static pthread_t threads[MAX_JOBS];
    static worker_arg args[MAX_JOBS];
    long started = 0;
    for (; started < g->jobs; started++) {
        args[started] = (worker_arg){g, (size_t)started};
        if (pthread_create(&threads[started], NULL, worker, &args[started]) != 0)
            break;
    }
    if (started == 0) {
        args[0] = (worker_arg){g, 0};
        worker(&args[0]);
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long next_progress = PROGRESS_EVERY_MS, next_sweep = SWEEP_EVERY_MS;
    for (;;) {
        pthread_mutex_lock(&g->lock);
        size_t done = g->done, wrong = g->wrong;
        pthread_mutex_unlock(&g->lock);
        if (done == g->grade.count)
            break;
        if (interrupted) {
            stop_all(g);
            break;
        }
        sleep_ms(50);
        long now = ms_since(&start);
        if (now >= next_sweep) {
            pthread_mutex_lock(&g->spawn_lock);
            hv_reap_orphans(g->live, (size_t)g->jobs);
            pthread_mutex_unlock(&g->spawn_lock);
            next_sweep = now + SWEEP_EVERY_MS;
        }
        if (now >= next_progress) {
            fprintf(stderr, "nsm-vectors: %zu/%zu documents graded, %zu wrong so far (%ld s)\n",
                    done, g->grade.count, wrong, now / 1000);
            next_progress = now + PROGRESS_EVERY_MS;
        }
    }
    for (long t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
    size_t left = hv_reap_all();
    if (left)
        fprintf(stderr, "nsm-vectors: killed %zu process%s the graded commands left behind\n",
                left, left == 1 ? "" : "es");
}

/* ---- the corpus ---------------------------------------------------------------------------- */

static int split_rows(char *s, const char *path, row *rows, size_t *count)
{
    char *save = NULL, *line = strtok_r(s, "\n", &save);
    if (!line || strncmp(line, "name\tclass\t", 11) != 0) {
        fprintf(stderr, "nsm-vectors: %s: not a manifest (no header row)\n", path);
        return -1;
    }
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        row *r = &rows[*count];
        char *p = line;
        int c = 0;
        for (; c < COL_COUNT; c++) {
            r->col[c] = p;
            char *tab = strchr(p, '\t');
            if (!tab) {
                c++;
                break;
            }
            *tab = '\0';
            p = tab + 1;
        }
        if (c < COL_COUNT) {
            fprintf(stderr, "nsm-vectors: %s: line %zu has %d columns, not %d\n", path,
                    *count + 2, c, COL_COUNT);
            return -1;
        }
        (*count)++;
    }
    if (*count == 0) {
        fprintf(stderr, "nsm-vectors: %s: no documents\n", path);
        return -1;
    }
    return 0;
}

/* Reads DIR/manifest.tsv; *text_out owns the strings the rows point into. */
static int read_manifest(const char *dir, row **rows_out, size_t *count_out, char **text_out)
{
    char path[4200];
    nsmkit_error e;
    uint8_t *text = NULL;
    size_t len = 0;
    if (!path_join(path, sizeof(path), dir, "manifest.tsv"))
        return -1;
    if (nsmkit_file_read(path, 64u << 20, &text, &len, &e) != 0) {
        fprintf(stderr, "nsm-vectors: %s\n", e.msg);
        return -1;
    }
    char *s = realloc(text, len + 1);
    if (!s) {
        free(text);
        return -1;
    }
    s[len] = '\0';
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += s[i] == '\n';
    if (lines > MAX_DOCUMENTS + 1) {
        fprintf(stderr, "nsm-vectors: %s: %zu lines: more than %d documents\n", path, lines,
                MAX_DOCUMENTS);
        free(s);
        return -1;
    }
    row *rows = calloc(lines + 1, sizeof(*rows));
    size_t count = 0;
    if (!rows || split_rows(s, path, rows, &count) != 0) {
        free(rows);
        free(s);
        return -1;
    }
    *rows_out = rows;
    *count_out = count;
    *text_out = s;
    return 0;
}

/* A document the manifest names but the corpus lacks is the corpus's fault: graded, it
 * would count as a wrong verdict of the command (it cannot open the file). */
static bool documents_present(const grader *g)
{
    for (size_t i = 0; i < g->grade.count; i++) {
        char doc[4200];
        struct stat st;
        if (!path_join(doc, sizeof(doc), g->dir, g->rows[i].col[COL_FILE]) ||
            stat(doc, &st) != 0 || !S_ISREG(st.st_mode)) {
            fprintf(stderr, "nsm-vectors: %s/manifest.tsv: %s: its document %s is missing or "
                            "not a regular file\n", g->dir, g->rows[i].col[COL_NAME],
                    g->rows[i].col[COL_FILE]);
            return false;
        }
    }
    return true;
}

/* The corpus when --dir is not given: ./vectors in a checkout, else the installed one
 * (PREFIX/share/nsmkit/vectors, found from this program's own PREFIX/bin). */
static const char *default_corpus(char *buf, size_t size)
{
    if (access("vectors/manifest.tsv", R_OK) == 0)
        return "vectors";
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char manifest[PATH_MAX + 64];
        int len = snprintf(buf, size, "%s/../share/nsmkit/vectors", dirname(exe));
        if (len > 0 && (size_t)len < size && path_join(manifest, sizeof(manifest), buf, "manifest.tsv") &&
            access(manifest, R_OK) == 0)
            return buf;
    }
    fprintf(stderr, "nsm-vectors grade: no corpus: neither ./vectors/manifest.tsv nor %s/manifest.tsv "
                    "exists; give one with --dir DIR (a checkout's vectors/, or `make install`'s "
                    "PREFIX/share/nsmkit/vectors)\n", n > 0 ? buf : "PREFIX/share/nsmkit/vectors");
    return NULL;
}

/* ---- the grading ---------------------------------------------------------------------------- */

/* Warnings for results that say more about the command line than about the verifier. */
static void warn_suspicious(const hv_grade *g)
{
    size_t valid = 0, valid_rejected = 0, same = 0, verdicts = 0;
    const hv_result *first = &g->results[0];
    for (size_t i = 0; i < g->count; i++) {
        const hv_result *r = &g->results[i];
        if (r->expect_accept) {
            valid++;
            valid_rejected += r->got != OUT_ACCEPT;
        }
        verdicts += r->got == OUT_ACCEPT || r->got == OUT_REJECT;
        same += r->got == first->got && r->detail == first->detail &&
                strcmp(r->output, first->output) == 0;
    }
    if (valid > 0 && valid_rejected == valid)
        fprintf(stderr, "nsm-vectors: warning: every valid document (%zu) was rejected: is the "
                        "command line right ({root}, {time} passed, the verifier found)?\n", valid);
    if (g->count > 1 && same == g->count)
        fprintf(stderr, "nsm-vectors: warning: every document (%zu) got the same answer (%s, exit "
                        "%d: %s): the command probably never looked at them\n", g->count,
                hv_outcome_names[first->got], first->detail, first->output);
    else if (g->count > 1 && verdicts == 0)
        fprintf(stderr, "nsm-vectors: warning: the command gave no verdict on any document "
                        "(only errors, hangs or crashes)\n");
}

typedef struct {
    const char *json, *markdown, *html;
} outputs;

typedef struct {
    grader *g;
    outputs o;
} grade_args;

static int parse_number(const char *a, const char *v, unsigned max, uint64_t *out,
                        nsmkit_error *e)
{
    /* whole decimal numbers only: "10x" or "2abc" is a typo, not 10 or 2 */
    if (!nsmkit_parse_u64(v, out) || *out == 0 || *out > max)
        return nsmkit_fail(e, "%s %s: want a whole number from 1 to %u", a, v, max);
    return 0;
}

static int set_timeout(void *ctx, const char *v, nsmkit_error *e)
{
    uint64_t n;
    if (parse_number("--timeout", v, 3600, &n, e) != 0)
        return -1;
    ((grade_args *)ctx)->g->timeout_s = (unsigned)n;
    return 0;
}

static int set_jobs(void *ctx, const char *v, nsmkit_error *e)
{
    uint64_t n;
    if (parse_number("--jobs", v, MAX_JOBS, &n, e) != 0)
        return -1;
    ((grade_args *)ctx)->g->jobs = (long)n;
    return 0;
}

static int set_regex(grader *g, bool acc, const char *v, nsmkit_error *e)
{
    regex_t *re = acc ? &g->accept_re : &g->reject_re;
    if (g->has_accept_re || g->has_reject_re || regcomp(re, v, REG_EXTENDED | REG_NOSUB) != 0)
        return nsmkit_fail(e, "--%s-regex: a bad pattern, or both kinds given",
                           acc ? "accept" : "reject");
    *(acc ? &g->has_accept_re : &g->has_reject_re) = true;
    return 0;
}

static int set_accept_regex(void *ctx, const char *v, nsmkit_error *e)
{
    return set_regex(((grade_args *)ctx)->g, true, v, e);
}

static int set_reject_regex(void *ctx, const char *v, nsmkit_error *e)
{
    return set_regex(((grade_args *)ctx)->g, false, v, e);
}

/* The grader's strings: the setters below store into the grader the context points to. */
#define GRADER_STRING(fn, field)                                                                   static int fn(void *ctx, const char *v, nsmkit_error *e)                                        {                                                                                                  (void)e;                                                                                       ((grade_args *)ctx)->g->field = v;                                                             return 0;                                                                                  }
GRADER_STRING(set_cmd, tmpl)
GRADER_STRING(set_dir, dir)
GRADER_STRING(set_profile, grade.profile)
GRADER_STRING(set_name, grade.verifier)

static const nsmkit_opt grade_rows[] = {
    NSMKIT_OPT_CALL("--cmd", "TEMPLATE", set_cmd,
                    "run through /bin/sh once per document; placeholders, shell-quoted:\n"
                    "{doc} {root} {time} {profile} {pcr0} {nonce} {user_data} {public_key}\n"
                    "{max_age} {refuse_debug} (hex; empty when not expected); any other\n"
                    "{word} is refused"),
    NSMKIT_OPT_CALL("--dir", "CORPUS", set_dir,
                    "the corpus (default ./vectors in a checkout, else the installed\n"
                    "PREFIX/share/nsmkit/vectors)"),
    NSMKIT_OPT_CALL("--profile", "aws|strict", set_profile, "the manifest's column (default aws)"),
    NSMKIT_OPT_CALL("--accept-regex", "RE", set_accept_regex,
                    "output matching RE accepts (instead of the exit status)"),
    NSMKIT_OPT_CALL("--reject-regex", "RE", set_reject_regex,
                    "output matching RE rejects (instead of the exit status)"),
    NSMKIT_OPT_CALL("--timeout", "S", set_timeout, "seconds per document, 1..3600 (default 10)"),
    NSMKIT_OPT_CALL("--jobs", "N", set_jobs, "commands at once (default: the CPUs)"),
    NSMKIT_OPT_CALL("--name", "LABEL", set_name, "the verifier's name in the reports"),
    NSMKIT_OPT_STRING("--json", "FILE", grade_args, o.json, "the results as JSON"),
    NSMKIT_OPT_STRING("--markdown", "FILE", grade_args, o.markdown, "a Markdown report"),
    NSMKIT_OPT_STRING("--html", "FILE", grade_args, o.html, "an HTML report"),
};
static const nsmkit_opt_group grade_groups[] = {{NULL, grade_rows, NSMKIT_ROWS(grade_rows)}};
static const nsmkit_cli grade_cli = {
    "nsm-vectors grade",
    "--cmd TEMPLATE [--dir CORPUS] [--profile aws|strict]\n"
    "[--accept-regex RE | --reject-regex RE] [--timeout S] [--jobs N]\n"
    "[--name LABEL] [--json FILE] [--markdown FILE] [--html FILE]",
    "Runs TEMPLATE through /bin/sh once per document of CORPUS and compares its verdicts with\n"
    "the manifest's. The verdict is the exit status (0 accepts) or, with a pattern, a match\n"
    "on the output. Progress goes to stderr every 2 s; processes the command leaves behind\n"
    "are killed.",
    grade_groups, 1, false, "Exit: 0 every verdict right, 1 some wrong, 2 usage or I/O error."};

/* -1 to grade, else the exit status. --help wins wherever it stands, as it always has. */
static int parse_options(grader *g, outputs *o, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            nsmkit_opts_help(&grade_cli, stdout);
            return 0;
        }
    grade_args args = {.g = g};
    int parsed = hv_parse(&grade_cli, &argc, argv, &args);
    *o = args.o;
    if (parsed >= 0)
        return parsed;
    if (argc != 0)
        return hv_usage(&grade_cli, "takes no operands (quote the --cmd TEMPLATE)");
    nsmv_profile profile;
    if (!g->tmpl)
        return hv_usage(&grade_cli, "--cmd TEMPLATE is required");
    if (!nsmv_profile_parse(g->grade.profile, &profile)) {
        fprintf(stderr, "nsm-vectors grade: --profile %s: want aws or strict\n", g->grade.profile);
        return 2;
    }
    return placeholders_known(g->tmpl) ? -1 : 2;
}

static int write_reports(const hv_grade *g, const outputs *o)
{
    int status = 0;
    if (o->json && hv_report_write(o->json, "json", hv_report_json, g) != 0)
        status = 2;
    if (o->markdown && hv_report_write(o->markdown, "markdown", hv_report_markdown, g) != 0)
        status = 2;
    if (o->html && hv_report_write_html(o->html, g, 1) != 0)
        status = 2;
    return status;
}

static void grader_free(grader *g, char *text)
{
    if (g->has_accept_re)
        regfree(&g->accept_re);
    if (g->has_reject_re)
        regfree(&g->reject_re);
    free(g->rows);
    free(g->grade.results);
    free(text);
}

int hv_cmd_grade(int argc, char **argv)
{
    static grader g;
    outputs o = {0};
    char corpus[PATH_MAX + 64];
    g.grade.profile = "aws";
    g.timeout_s = 10;
    g.jobs = sysconf(_SC_NPROCESSORS_ONLN);
    g.jobs = g.jobs < 1 ? 1 : g.jobs > MAX_JOBS ? MAX_JOBS : g.jobs;
    int rc = parse_options(&g, &o, argc, argv);
    if (rc >= 0)
        return rc;
    if (!g.dir && !(g.dir = default_corpus(corpus, sizeof(corpus))))
        return 2;
    g.grade.corpus = g.dir;
    if (!g.grade.verifier)
        g.grade.verifier = g.tmpl;
    char *text = NULL;
    if (read_manifest(g.dir, &g.rows, &g.grade.count, &text) != 0)
        return 2;
    g.grade.results = calloc(g.grade.count, sizeof(*g.grade.results));
    if (!g.grade.results || !documents_present(&g)) {
        grader_free(&g, text);
        return 2;
    }
    nsmv_profile profile;
    (void)nsmv_profile_parse(g.grade.profile, &profile);
    for (size_t i = 0; i < g.grade.count; i++) {
        const row *w = &g.rows[i];
        hv_result *r = &g.grade.results[i];
        *r = (hv_result){.name = w->col[COL_NAME], .class_name = w->col[COL_CLASS],
                         .layer = w->col[COL_LAYER], .description = w->col[COL_DESCRIPTION],
                         .expected_code = w->col[profile == NSMV_PROFILE_STRICT ? COL_ERROR_STRICT
                                                                                : COL_ERROR]};
        r->expect_accept =
            strcmp(w->col[profile == NSMV_PROFILE_STRICT ? COL_STRICT : COL_AWS], "accept") == 0;
    }
    if (hv_reap_init() != 0)
        fprintf(stderr, "nsm-vectors: warning: cannot be the subreaper of the commands (%s): a "
                        "process that leaves their group may outlive the grading\n",
                strerror(errno));
    pthread_mutex_init(&g.lock, NULL);
    pthread_mutex_init(&g.spawn_lock, NULL);
    catch_signals();
    run_all(&g);
    pthread_mutex_destroy(&g.lock);
    pthread_mutex_destroy(&g.spawn_lock);
    if (interrupted) {
        fprintf(stderr, "nsm-vectors: interrupted by signal %d after %zu of %zu documents; every "
                        "command it started is stopped\n", (int)interrupted, g.done, g.grade.count);
        grader_free(&g, text);
        return 128 + (int)interrupted;
    }

    hv_report_text(stdout, &g.grade);
    warn_suspicious(&g.grade);
    int status = write_reports(&g.grade, &o);
    hv_counts all = hv_count(&g.grade, NULL);
    grader_free(&g, text);
    return status ? status : (all.by[V_RIGHT] == all.docs ? 0 : 1);
}
