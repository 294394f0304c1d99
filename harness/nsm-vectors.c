/*
 * nsm-vectors: the fault classes, the vectors corpus and a grader for other verifiers.
 *
 *   nsm-vectors list                         the classes (name, layer, aws, strict, text)
 *   nsm-vectors gen DIR [--pki DIR] [--time UNIX_S]
 *   nsm-vectors grade --cmd TEMPLATE [--dir DIR] [options]
 *
 * gen writes DIR/manifest.tsv, DIR/root.pem and DIR/docs/NAME.cose. The PKI (nsm-ca layout
 * in PKI/ca, fault certificates and keys in PKI/store) is made on first use and read back
 * after, so that a committed PKI regenerates the same bytes (signatures per RFC 6979).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nsmkit/ca.h"
#include "nsmkit/fault.h"
#include "nsmkit/file.h"
#include "nsmkit/hex.h"
#include "nsmkit/verify.h"

extern char **environ;

/* 2026-01-01T00:00:00Z: the corpus PKI's creation; the leaf is issued ten minutes later. */
#define VECTORS_T0 1767225600ull
#define VECTORS_ISSUE_OFFSET 600u

/* dir + "/" + name into out; false (with a message) when it does not fit. */
static bool path_join(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "nsm-vectors: path too long: %.80s/%s\n", dir, name);
        return false;
    }
    return true;
}

static int usage(void)
{
    fputs("usage: nsm-vectors list\n"
          "       nsm-vectors gen DIR [--pki DIR] [--time UNIX_S]\n"
          "       nsm-vectors grade --cmd TEMPLATE [--dir DIR] [--profile aws|strict]\n"
          "                         [--accept-regex RE | --reject-regex RE] [--timeout S]\n"
          "                         [--jobs N] [--name LABEL] [--json FILE] [--markdown FILE]\n"
          "TEMPLATE placeholders (shell-quoted): {doc} {root} {time} {profile} {pcr0} {nonce}\n"
          "{user_data} {public_key} {max_age} {refuse_debug} (hex; empty when not expected)\n",
          stderr);
    return 2;
}

/* ---- list -------------------------------------------------------------------------------- */

static int cmd_list(void)
{
    printf("%-34s %-9s %-26s %-26s %s\n", "class", "layer", "aws", "strict", "description");
    for (int c = 0; c < NSMFAULT_COUNT; c++) {
        const nsmfault_info *i = nsmfault_get((nsmfault_class)c);
        printf("%-34s %-9s %-26s %-26s %s\n", i->name, nsmfault_layer_name(i->layer),
               i->aws ? nsmv_code_name(i->aws) : "accept",
               i->strict ? nsmv_code_name(i->strict) : "accept", i->description);
    }
    return 0;
}

/* ---- gen --------------------------------------------------------------------------------- */

static void hex_field(FILE *f, bool set, const uint8_t *data, size_t len)
{
    char hex[2 * 1024 + 1];
    if (set && len <= 1024) {
        nsmkit_hex_encode(data, len, hex);
        fputs(hex, f);
    }
    fputc('\t', f);
}

static int cmd_gen(int argc, char **argv)
{
    const char *dir = NULL, *pki_dir = NULL;
    uint64_t issue_s = VECTORS_T0 + VECTORS_ISSUE_OFFSET;
    char path[4200], ca[4200], store[4200], pki_default[4200];
    nsmkit_error e;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--pki") == 0 && i + 1 < argc)
            pki_dir = argv[++i];
        else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) {
            if (!nsmkit_parse_u64(argv[++i], &issue_s) || issue_s < VECTORS_ISSUE_OFFSET ||
                issue_s > 4000000000ull) {
                fprintf(stderr, "nsm-vectors: --time wants Unix seconds (1970..2096)\n");
                return 2;
            }
        } else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else
            return usage();
    }
    if (!dir)
        return usage();
    if (!path_join(pki_default, sizeof(pki_default), dir, "pki"))
        return 2;
    if (!pki_dir)
        pki_dir = pki_default;
    if (!path_join(ca, sizeof(ca), pki_dir, "ca"))
        return 2;
    if (!path_join(store, sizeof(store), pki_dir, "store"))
        return 2;
    if (!path_join(path, sizeof(path), dir, "docs"))
        return 2;
    if (nsmkit_mkdir_p(path, 0755, &e) != 0 || nsmkit_mkdir_p(pki_dir, 0700, &e) != 0) {
        fprintf(stderr, "nsm-vectors: %s\n", e.msg);
        return 2;
    }
    if (!path_join(path, sizeof(path), ca, "root.pem"))
        return 2;
    if (access(path, F_OK) != 0) {
        nsmca_init_options init = {.intermediates = 3, .now_s = issue_s - VECTORS_ISSUE_OFFSET};
        if (nsmca_init(ca, &init, &e) != 0) {
            fprintf(stderr, "nsm-vectors: %s\n", e.msg);
            return 2;
        }
        fprintf(stderr, "nsm-vectors: made a test PKI in %s\n", ca);
    }
    nsmfault_pki *pki;
    if (nsmfault_pki_open(ca, store, issue_s, &pki, &e) != 0) {
        fprintf(stderr, "nsm-vectors: %s\n", e.msg);
        return 2;
    }
    int status = 0;
    if (!path_join(path, sizeof(path), ca, "root.pem"))
        return 2;
    uint8_t *root_pem = NULL;
    size_t root_pem_len = 0;
    char out[4200];
    if (!path_join(out, sizeof(out), dir, "root.pem"))
        return 2;
    if (nsmkit_file_read(path, 65536, &root_pem, &root_pem_len, &e) != 0 ||
        nsmkit_file_write(out, root_pem, root_pem_len, 0644, &e) != 0) {
        fprintf(stderr, "nsm-vectors: %s\n", e.msg);
        free(root_pem);
        nsmfault_pki_free(pki);
        return 2;
    }
    free(root_pem);
    char tmp[4200];
    if (!path_join(tmp, sizeof(tmp), dir, "manifest.tsv.tmp"))
        return 2;
    FILE *m = fopen(tmp, "w");
    if (!m) {
        fprintf(stderr, "nsm-vectors: %s: %s\n", tmp, strerror(errno));
        nsmfault_pki_free(pki);
        return 2;
    }
    fputs("name\tclass\tlayer\tfile\tverify_time\taws\tstrict\terror\terror_strict\tpcr0\tnonce\t"
          "user_data\tpublic_key\tmax_age\trefuse_debug\tdescription\n", m);
    size_t count = nsmfault_corpus_count(), written = 0;
    for (size_t i = 0; i < count; i++) {
        nsmfault_corpus_entry entry;
        nsmfault_doc doc;
        nsmfault_corpus_get(i, &entry);
        if (nsmfault_build(pki, &entry.shape, &entry.faults, entry.resign, &doc, &e) != 0) {
            fprintf(stderr, "nsm-vectors: %s: %s\n", entry.name, e.msg);
            status = 1;
            continue;
        }
        char file[200];
        snprintf(file, sizeof(file), "docs/%s.cose", entry.name);
        if (!path_join(out, sizeof(out), dir, file)) {
            nsmfault_doc_free(&doc);
            status = 1;
            continue;
        }
        if (nsmkit_file_write(out, doc.doc.data, doc.doc.len, 0644, &e) != 0) {
            fprintf(stderr, "nsm-vectors: %s\n", e.msg);
            nsmfault_doc_free(&doc);
            status = 1;
            continue;
        }
        nsmv_code aws = nsmfault_corpus_expected(&entry, NSMV_PROFILE_AWS);
        nsmv_code strict = nsmfault_corpus_expected(&entry, NSMV_PROFILE_STRICT);
        const char *layer = "valid", *text = "a valid document of this shape";
        int first = -1;
        for (int c = 0; c < NSMFAULT_COUNT && first < 0; c++)
            if (nsmfault_set_has(&entry.faults, (nsmfault_class)c))
                first = c;
        if (first >= 0) {
            layer = nsmfault_layer_name(nsmfault_get((nsmfault_class)first)->layer);
            text = nsmfault_get((nsmfault_class)first)->description;
        }
        const nsmfault_policy *p = &doc.policy;
        fprintf(m, "%s\t%s\t%s\t%s\t%llu\t%s\t%s\t%s\t%s\t", entry.name, entry.classes, layer,
                file, (unsigned long long)p->verify_time_s, aws ? "reject" : "accept",
                strict ? "reject" : "accept", nsmv_code_name(aws), nsmv_code_name(strict));
        hex_field(m, p->expect_pcr0, p->pcr0, sizeof(p->pcr0));
        hex_field(m, p->expect_nonce, p->nonce.data, p->nonce.len);
        hex_field(m, p->expect_user_data, p->user_data.data, p->user_data.len);
        hex_field(m, p->expect_public_key, p->public_key.data, p->public_key.len);
        if (p->max_age_s)
            fprintf(m, "%llu", (unsigned long long)p->max_age_s);
        fprintf(m, "\t%d\t%s%s\n", p->refuse_debug ? 1 : 0, text,
                entry.resign ? "" : " (signature of the valid document kept)");
        nsmfault_doc_free(&doc);
        written++;
    }
    char final[4200];
    if (!path_join(final, sizeof(final), dir, "manifest.tsv"))
        return 2;
    if (fclose(m) != 0 || rename(tmp, final) != 0) {
        fprintf(stderr, "nsm-vectors: %s: %s\n", final, strerror(errno));
        status = 2;
    }
    nsmfault_pki_free(pki);
    fprintf(stderr, "nsm-vectors: wrote %zu of %zu documents and %s\n", written, count, final);
    return status;
}

/* ---- grade ------------------------------------------------------------------------------- */

enum { COL_NAME, COL_CLASS, COL_LAYER, COL_FILE, COL_TIME, COL_AWS, COL_STRICT, COL_ERROR,
       COL_ERROR_STRICT, COL_PCR0, COL_NONCE, COL_USER_DATA, COL_PUBLIC_KEY, COL_MAX_AGE,
       COL_REFUSE_DEBUG, COL_DESCRIPTION, COL_COUNT };

typedef enum { OUT_ACCEPT, OUT_REJECT, OUT_HANG, OUT_CRASH, OUT_NO_OUTPUT, OUT_ERROR } outcome;
static const char *const outcome_names[] = {"accept", "reject", "hang", "crash", "no output",
                                            "error"};

typedef struct {
    char *col[COL_COUNT];
    bool expect_accept;
    outcome got;
    int detail; /* exit status or signal */
    char output[160];
} row;

typedef struct {
    row *rows;
    size_t count, next;
    pthread_mutex_t lock;
    const char *tmpl, *dir, *profile;
    regex_t accept_re, reject_re;
    bool has_accept_re, has_reject_re;
    unsigned timeout_s;
} grader;

/* Appends s single-quoted for sh. */
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
    const struct { const char *name; const char *value; } vars[] = {
        {"{doc}", doc}, {"{root}", root}, {"{time}", r->col[COL_TIME]},
        {"{profile}", g->profile}, {"{pcr0}", r->col[COL_PCR0]}, {"{nonce}", r->col[COL_NONCE]},
        {"{user_data}", r->col[COL_USER_DATA]}, {"{public_key}", r->col[COL_PUBLIC_KEY]},
        {"{max_age}", r->col[COL_MAX_AGE]}, {"{refuse_debug}", r->col[COL_REFUSE_DEBUG]}};
    nsmkit_buf b;
    nsmkit_buf_init(&b, 64 * 1024);
    for (const char *t = g->tmpl; *t;) {
        bool done = false;
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]) && !done; i++) {
            size_t n = strlen(vars[i].name);
            if (strncmp(t, vars[i].name, n) == 0) {
                put_quoted(&b, vars[i].value);
                t += n;
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

/* Milliseconds left of timeout_s since start. */
static long ms_left(const struct timespec *start, unsigned timeout_s)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)timeout_s * 1000 -
           ((now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000);
}

/* True once the command has exited. WNOWAIT leaves it a zombie, so its process group id
 * cannot be reused before the group is killed. */
static bool command_exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

static void sleep_slice_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void run_one(grader *g, row *r)
{
    char *cmd = expand(g, r);
    int fds[2] = {-1, -1};
    pid_t pid = -1;
    char out[65536];
    size_t out_len = 0;
    r->got = OUT_ERROR;
    if (!cmd || pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(r->output, sizeof(r->output), "could not start: %s", strerror(errno));
        free(cmd);
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    char *args[] = {(char *)"sh", (char *)"-c", cmd, NULL};
    int rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    free(cmd);
    if (rc != 0) {
        snprintf(r->output, sizeof(r->output), "could not start: %s", strerror(rc));
        close(fds[0]);
        return;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool hung = false;
    /* Until the command exits, its output is read as it comes; once it has exited, only
     * what is already written is taken. A child it left behind may hold the pipe open
     * (and keep writing) for ever: the command's own exit is the verdict, not the pipe's
     * end. */
    bool exited = false, eof = false;
    long eof_pause_ms = 1; /* the exit usually follows the pipe's end within microseconds */
    for (;;) {
        long left_ms = ms_left(&start, g->timeout_s);
        exited = exited || command_exited(pid);
        if (left_ms <= 0 && !exited) {
            hung = true;
            break;
        }
        if (eof) { /* the pipe is closed but the command runs on: wait for its exit */
            if (exited)
                break;
            sleep_slice_ms(left_ms < eof_pause_ms ? left_ms : eof_pause_ms);
            eof_pause_ms = eof_pause_ms < 20 ? eof_pause_ms * 2 : 20;
            continue;
        }
        struct pollfd pfd = {fds[0], POLLIN, 0};
        /* Short slices while the command runs, to notice its exit; none once it has. */
        int n = poll(&pfd, 1, exited ? 0 : (int)(left_ms < 20 ? left_ms : 20));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n == 0 && exited))
            break;
        if (n == 0)
            continue;
        char chunk[4096];
        ssize_t got = read(fds[0], chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            eof = true;
            continue;
        }
        size_t keep = (size_t)got < sizeof(out) - 1 - out_len ? (size_t)got : sizeof(out) - 1 - out_len;
        memcpy(out + out_len, chunk, keep);
        out_len += keep;
        if (exited && out_len == sizeof(out) - 1)
            break; /* a leftover child flooding the pipe: what the command wrote is in */
    }
    close(fds[0]);
    /* The command and anything it started in its group: nothing outlives its grading. */
    kill(-pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    out[out_len] = '\0';
    /* the first line of output, printable, for the report */
    size_t k = 0;
    for (size_t i = 0; i < out_len && k + 1 < sizeof(r->output) && out[i] != '\n'; i++)
        r->output[k++] = out[i] >= 0x20 && out[i] < 0x7f ? out[i] : '?';
    r->output[k] = '\0';
    if (hung) {
        r->got = OUT_HANG;
        r->detail = (int)g->timeout_s;
        return;
    }
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

static void *worker(void *arg)
{
    grader *g = arg;
    for (;;) {
        pthread_mutex_lock(&g->lock);
        size_t i = g->next < g->count ? g->next++ : g->count;
        pthread_mutex_unlock(&g->lock);
        if (i == g->count)
            return NULL;
        run_one(g, &g->rows[i]);
    }
}

static int read_manifest(const char *dir, row **rows_out, size_t *count_out, char **text_out)
{
    char path[4200];
    nsmkit_error e;
    uint8_t *text = NULL;
    size_t len = 0;
    if (!path_join(path, sizeof(path), dir, "manifest.tsv"))
        return 2;
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
    row *rows = calloc(lines + 1, sizeof(*rows));
    size_t count = 0;
    char *save = NULL, *line = strtok_r(s, "\n", &save);
    bool header = true;
    for (; rows && line; line = strtok_r(NULL, "\n", &save)) {
        if (header) {
            header = false;
            if (strncmp(line, "name\tclass\t", 11) != 0) {
                fprintf(stderr, "nsm-vectors: %s: not a manifest (no header row)\n", path);
                break;
            }
            continue;
        }
        row *r = &rows[count];
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
                    count + 2, c, COL_COUNT);
            free(rows);
            free(s);
            return -1;
        }
        count++;
    }
    if (!rows || count == 0) {
        free(rows);
        free(s);
        fprintf(stderr, "nsm-vectors: %s: no documents\n", path);
        return -1;
    }
    *rows_out = rows;
    *count_out = count;
    *text_out = s;
    return 0;
}

static bool wrong(const row *r)
{
    return (r->got == OUT_ACCEPT && !r->expect_accept) || (r->got == OUT_REJECT && r->expect_accept) ||
           r->got > OUT_REJECT;
}

static void json_str(FILE *f, const char *s)
{
    nsmv_json_string(f, s);
}

static int cmd_grade(int argc, char **argv)
{
    grader g = {.dir = "vectors", .profile = "aws", .timeout_s = 10};
    const char *json = NULL, *markdown = NULL, *label = NULL;
    long jobs = sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (strcmp(a, "--cmd") == 0) g.tmpl = v;
        else if (strcmp(a, "--dir") == 0) g.dir = v;
        else if (strcmp(a, "--profile") == 0) g.profile = v;
        else if (strcmp(a, "--json") == 0) json = v;
        else if (strcmp(a, "--markdown") == 0) markdown = v;
        else if (strcmp(a, "--name") == 0) label = v;
        else if (strcmp(a, "--timeout") == 0 || strcmp(a, "--jobs") == 0) {
            /* whole decimal numbers only: "10x" or "2abc" is a typo, not 10 or 2 */
            uint64_t n;
            if (!nsmkit_parse_u64(v, &n) || n == 0 || n > (a[2] == 't' ? 3600 : 256)) {
                fprintf(stderr, "nsm-vectors: %s %s: want a whole number from 1 to %d\n", a, v,
                        a[2] == 't' ? 3600 : 256);
                return 2;
            }
            if (a[2] == 't')
                g.timeout_s = (unsigned)n;
            else
                jobs = (long)n;
        }
        else if (strcmp(a, "--accept-regex") == 0 || strcmp(a, "--reject-regex") == 0) {
            bool acc = a[2] == 'a';
            regex_t *re = acc ? &g.accept_re : &g.reject_re;
            if (g.has_accept_re || g.has_reject_re || regcomp(re, v, REG_EXTENDED | REG_NOSUB) != 0) {
                fprintf(stderr, "nsm-vectors: %s: a bad pattern, or both kinds given\n", a);
                return 2;
            }
            *(acc ? &g.has_accept_re : &g.has_reject_re) = true;
        } else
            return usage();
        i++;
    }
    nsmv_profile profile;
    if (!g.tmpl || !nsmv_profile_parse(g.profile, &profile) || g.timeout_s == 0 ||
        g.timeout_s > 3600 || jobs < 1 || jobs > 256)
        return usage();
    char *text = NULL;
    if (read_manifest(g.dir, &g.rows, &g.count, &text) != 0)
        return 2;
    /* A document the manifest names but the corpus lacks is the corpus's fault: graded, it
     * would count as a wrong verdict of the command (it cannot open the file). */
    for (size_t i = 0; i < g.count; i++) {
        char doc[4200];
        struct stat st;
        if (!path_join(doc, sizeof(doc), g.dir, g.rows[i].col[COL_FILE]) || stat(doc, &st) != 0 ||
            !S_ISREG(st.st_mode)) {
            fprintf(stderr, "nsm-vectors: %s/manifest.tsv: %s: its document %s is missing or not "
                            "a regular file\n", g.dir, g.rows[i].col[COL_NAME],
                    g.rows[i].col[COL_FILE]);
            free(g.rows);
            free(text);
            return 2;
        }
    }
    for (size_t i = 0; i < g.count; i++)
        g.rows[i].expect_accept =
            strcmp(g.rows[i].col[profile == NSMV_PROFILE_STRICT ? COL_STRICT : COL_AWS],
                   "accept") == 0;
    pthread_mutex_init(&g.lock, NULL);
    pthread_t threads[256];
    long started = 0;
    for (; started < jobs; started++)
        if (pthread_create(&threads[started], NULL, worker, &g) != 0)
            break;
    if (started == 0)
        worker(&g);
    for (long t = 0; t < started; t++)
        pthread_join(threads[t], NULL);

    /* the matrix: per layer, then each class with a wrong verdict */
    size_t right = 0, wrong_accept = 0, wrong_reject = 0, errors = 0;
    for (size_t i = 0; i < g.count; i++) {
        const row *r = &g.rows[i];
        if (!wrong(r)) right++;
        else if (r->got == OUT_ACCEPT) wrong_accept++;
        else if (r->got == OUT_REJECT) wrong_reject++;
        else errors++;
    }
    static const char *const layers[] = {"valid", "bytes", "cbor", "header", "payload", "pki",
                                         "signature", "policy"};
    printf("grade of %s (profile %s) on %s: %zu documents\n", label ? label : g.tmpl, g.profile,
           g.dir, g.count);
    printf("%-10s %6s %6s %14s %14s %7s\n", "layer", "docs", "right", "wrong-accept",
           "wrong-reject", "errors");
    for (size_t l = 0; l < sizeof(layers) / sizeof(layers[0]); l++) {
        size_t n = 0, ok = 0, wa = 0, wr = 0, er = 0;
        for (size_t i = 0; i < g.count; i++) {
            const row *r = &g.rows[i];
            if (strcmp(r->col[COL_LAYER], layers[l]) != 0)
                continue;
            n++;
            if (!wrong(r)) ok++;
            else if (r->got == OUT_ACCEPT) wa++;
            else if (r->got == OUT_REJECT) wr++;
            else er++;
        }
        printf("%-10s %6zu %6zu %14zu %14zu %7zu\n", layers[l], n, ok, wa, wr, er);
    }
    for (size_t i = 0; i < g.count; i++) {
        const row *r = &g.rows[i];
        if (!wrong(r))
            continue;
        const char *what = r->got == OUT_ACCEPT ? "WRONGLY ACCEPTED"
                           : r->got == OUT_REJECT ? "WRONGLY REJECTED" : "ERROR";
        printf("  %-16s %-9s %-44s %s", what, r->col[COL_LAYER], r->col[COL_NAME],
               r->got > OUT_REJECT ? outcome_names[r->got] : "");
        if (r->got == OUT_HANG) printf(" (no verdict in %d s)", r->detail);
        if (r->got == OUT_CRASH) printf(" (signal %d)", r->detail > 128 ? r->detail - 128 : r->detail);
        if (r->got == OUT_ERROR) printf(" (exit %d: %s)", r->detail, r->output);
        printf("%s%s\n", r->got == OUT_REJECT ? " said: " : "", r->got == OUT_REJECT ? r->output : "");
    }
    printf("summary: %zu documents, %zu right, %zu wrongly accepted, %zu wrongly rejected, "
           "%zu errors (hang, crash, no output)\n", g.count, right, wrong_accept, wrong_reject, errors);

    int status = 0;
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            fprintf(stderr, "nsm-vectors: %s: %s\n", json, strerror(errno));
            status = 2;
        } else {
            fputs("{\"verifier\": ", f);
            json_str(f, label ? label : g.tmpl);
            fputs(", \"profile\": ", f);
            json_str(f, g.profile);
            fprintf(f, ", \"documents\": %zu, \"right\": %zu, \"wrongly_accepted\": %zu, "
                       "\"wrongly_rejected\": %zu, \"errors\": %zu, \"results\": [\n",
                    g.count, right, wrong_accept, wrong_reject, errors);
            for (size_t i = 0; i < g.count; i++) {
                const row *r = &g.rows[i];
                fputs("  {\"name\": ", f);
                json_str(f, r->col[COL_NAME]);
                fputs(", \"class\": ", f);
                json_str(f, r->col[COL_CLASS]);
                fputs(", \"layer\": ", f);
                json_str(f, r->col[COL_LAYER]);
                fprintf(f, ", \"expected\": \"%s\", \"got\": \"%s\", \"wrong\": %s, \"output\": ",
                        r->expect_accept ? "accept" : "reject", outcome_names[r->got],
                        wrong(r) ? "true" : "false");
                json_str(f, r->output);
                fprintf(f, "}%s\n", i + 1 < g.count ? "," : "");
            }
            fputs("]}\n", f);
            if (fclose(f) != 0)
                status = 2;
        }
    }
    if (markdown) {
        FILE *f = fopen(markdown, "w");
        if (!f) {
            fprintf(stderr, "nsm-vectors: %s: %s\n", markdown, strerror(errno));
            status = 2;
        } else {
            fprintf(f, "# Grade: %s\n\nProfile `%s`, corpus `%s`, %zu documents.\n\n", label ? label : g.tmpl,
                    g.profile, g.dir, g.count);
            fprintf(f, "**%zu right, %zu wrongly accepted, %zu wrongly rejected, %zu errors.**\n\n",
                    right, wrong_accept, wrong_reject, errors);
            fputs("| document | layer | expected | got | output |\n|---|---|---|---|---|\n", f);
            for (size_t i = 0; i < g.count; i++) {
                const row *r = &g.rows[i];
                if (!wrong(r))
                    continue;
                fprintf(f, "| %s | %s | %s (%s) | %s | ", r->col[COL_NAME], r->col[COL_LAYER],
                        r->expect_accept ? "accept" : "reject",
                        r->col[profile == NSMV_PROFILE_STRICT ? COL_ERROR_STRICT : COL_ERROR],
                        outcome_names[r->got]);
                for (const char *c = r->output; *c; c++)
                    fputc(*c == '|' ? '/' : *c, f);
                fputs(" |\n", f);
            }
            if (fclose(f) != 0)
                status = 2;
        }
    }
    if (g.has_accept_re) regfree(&g.accept_re);
    if (g.has_reject_re) regfree(&g.reject_re);
    pthread_mutex_destroy(&g.lock);
    free(g.rows);
    free(text);
    return status ? status : (right == g.count ? 0 : 1);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "list") == 0)
        return argc == 2 ? cmd_list() : usage();
    if (strcmp(argv[1], "gen") == 0)
        return cmd_gen(argc, argv);
    if (strcmp(argv[1], "grade") == 0)
        return cmd_grade(argc, argv);
    return usage();
}
