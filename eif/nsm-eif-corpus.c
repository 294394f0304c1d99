/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-eif list | corpus | grade: the EIF fault table, its generated corpus (one image per row
 * and a manifest), and the grading of another EIF reader against it.
 *
 *   manifest.tsv   name <TAB> expected code <TAB> expected name <TAB> signed <TAB> description
 *
 * grade runs a command per image (TEMPLATE with {eif} replaced by the shell-quoted path);
 * exit status 0 (or --accept-exit N) means the reader accepted the image. A reader agrees with
 * nsm-eif on a row when it accepts exactly the sound images.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nsmkit/det_sign.h"
#include "nsmkit/eif_faults.h"
#include "nsmkit/file.h"
#include "nsmkit/hex.h"

#include "nsm-eif.h"

static const nsmkit_cli list_cli = {
    "nsm-eif list", "", "Lists the malformed images nsm-eif corpus writes, with the code each\n"
    "should be refused with.", NULL, 0, false, NULL};

int nsmeif_cmd_list(int argc, char **argv)
{
    int status = nsmeif_parse(&list_cli, &argc, argv, NULL);
    if (status >= 0)
        return status;
    if (argc != 0)
        return nsmeif_cli_usage(&list_cli, "takes no operands");
    printf("%-26s %-6s %-20s %-6s %s\n", "name", "code", "expected", "signed", "description");
    for (unsigned i = 0; i < NSMEIF_FAULT_COUNT; i++) {
        const nsmeif_fault_info *f = nsmeif_fault_get((nsmeif_fault)i);
        printf("%-26s %-6d %-20s %-6s %s\n", f->name, f->expected, nsmeif_code_name(f->expected),
               f->is_signed ? "yes" : "no", f->description);
    }
    return 0;
}

static int write_corpus(const char *dir, const nsmeif_fault_signer *signer, nsmkit_error *e)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
    FILE *manifest = fopen(path, "w");
    if (!manifest)
        return nsmkit_fail(e, "%s: %s", path, strerror(errno));
    fputs("# name\texpected code\texpected\tsigned\tdescription\n", manifest);
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < NSMEIF_FAULT_COUNT; i++) {
        const nsmeif_fault_info *f = nsmeif_fault_get((nsmeif_fault)i);
        uint8_t *image = NULL;
        size_t len = 0;
        rc = nsmeif_fault_make((nsmeif_fault)i, signer, &image, &len, e);
        snprintf(path, sizeof(path), "%s/%s.eif", dir, f->name);
        if (rc == 0)
            rc = nsmkit_file_write(path, image, len, 0644, e);
        free(image);
        fprintf(manifest, "%s\t%d\t%s\t%d\t%s\n", f->name, f->expected,
                nsmeif_code_name(f->expected), f->is_signed, f->description);
    }
    if (fclose(manifest) != 0 && rc == 0)
        rc = nsmkit_fail(e, "manifest.tsv: %s", strerror(errno));
    return rc;
}

typedef struct {
    const char *cert, *key;
} corpus_args;

static const nsmkit_opt corpus_rows[] = {
    NSMKIT_OPT_STRING("--signer-cert", "PEM", corpus_args, cert,
                      "the signer's certificate (default: one made in DIR/signer.pem)"),
    NSMKIT_OPT_STRING("--signer-key", "PEM", corpus_args, key,
                      "the signer's P-384 key (default: DIR/signer.key)"),
};
static const nsmkit_opt_group corpus_groups[] = {{NULL, corpus_rows, NSMKIT_ROWS(corpus_rows)}};
static const nsmkit_cli corpus_cli = {
    "nsm-eif corpus", "DIR [--signer-cert PEM --signer-key PEM]",
    "Writes one image per fault (nsm-eif list) and DIR/manifest.tsv.",
    corpus_groups, 1, false, NULL};

int nsmeif_cmd_corpus(int argc, char **argv)
{
    corpus_args args = {0};
    int parsed = nsmeif_parse(&corpus_cli, &argc, argv, &args);
    if (parsed >= 0)
        return parsed;
    if (argc != 1)
        return nsmeif_cli_usage(&corpus_cli, argc == 0 ? "needs a DIR" : "takes one DIR");
    const char *dir = argv[0], *cert = args.cert, *key = args.key;
    char cert_default[4200], key_default[4200];
    snprintf(cert_default, sizeof(cert_default), "%s/signer.pem", dir);
    snprintf(key_default, sizeof(key_default), "%s/signer.key", dir);
    uint8_t *cert_pem = NULL, *key_pem = NULL;
    size_t cert_len = 0, key_len = 0;
    nsmkit_p384_private *pkey = NULL;
    nsmkit_error e;
    int status = 2;
    if (nsmkit_mkdir_p(dir, 0755, &e) == 0 &&
        nsmkit_file_read(cert ? cert : cert_default, 64 * 1024, &cert_pem, &cert_len, &e) == 0 &&
        nsmkit_file_read(key ? key : key_default, 64 * 1024, &key_pem, &key_len, &e) == 0 &&
        nsmeif_fault_load_key(key_pem, key_len, cert_pem, cert_len, &pkey, &e) == 0) {
        nsmeif_fault_signer signer = {cert_pem, cert_len, pkey, &nsmkit_rfc6979_nonce};
        if (write_corpus(dir, &signer, &e) == 0)
            status = 0;
    }
    if (status != 0)
        fprintf(stderr, "nsm-eif corpus: %s (the signed rows need --signer-cert PEM and "
                        "--signer-key PEM, or DIR/signer.pem and DIR/signer.key)\n", e.msg);
    else
        printf("%d images and manifest.tsv in %s\n", NSMEIF_FAULT_COUNT, dir);
    nsmkit_p384_private_free(pkey);
    free(cert_pem);
    free(key_pem);
    return status;
}

/* ---- grade -------------------------------------------------------------------------------- */

/* TEMPLATE with every {eif} replaced by path in single quotes. */
static char *expand(const char *tmpl, const char *path)
{
    size_t cap = strlen(tmpl) + 1;
    for (const char *p = tmpl; (p = strstr(p, "{eif}")); p += 5)
        cap += 4 * strlen(path) + 2;
    char *out = malloc(cap), *o = out;
    for (const char *p = tmpl; out && *p;) {
        if (strncmp(p, "{eif}", 5) == 0) {
            *o++ = '\'';
            for (const char *c = path; *c; c++)
                o += *c == '\'' ? (size_t)sprintf(o, "'\\''") : (size_t)(*o = *c, 1);
            *o++ = '\'';
            p += 5;
        } else {
            *o++ = *p++;
        }
    }
    if (out)
        *o = 0;
    return out;
}

typedef enum { GOT_ACCEPT, GOT_REJECT, GOT_CRASH, GOT_TIMEOUT, GOT_ERROR } outcome;
static const char *const outcome_names[] = {"accept", "reject", "crash", "timeout", "error"};

static outcome run(const char *cmd, unsigned timeout_s, int accept_exit, int *detail)
{
    fflush(stdout); /* the child must not write the parent's buffered lines again */
    pid_t pid = fork();
    if (pid < 0)
        return GOT_ERROR;
    if (pid == 0) {
        setpgid(0, 0);
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    struct timespec start, now, pause = {0, 5 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (r < 0 || now.tv_sec - start.tv_sec >= (time_t)timeout_s) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            return r < 0 ? GOT_ERROR : GOT_TIMEOUT;
        }
        nanosleep(&pause, NULL);
    }
    if (WIFSIGNALED(st)) {
        *detail = WTERMSIG(st);
        return GOT_CRASH;
    }
    *detail = WEXITSTATUS(st);
    return *detail == accept_exit ? GOT_ACCEPT : GOT_REJECT;
}

static int grade_rows(const char *dir, const char *tmpl, unsigned timeout_s, int accept_exit,
                      FILE *manifest)
{
    char line[2048];
    size_t rows = 0, agree = 0, wrong_accept = 0, wrong_reject = 0, broken = 0;
    printf("%-26s %-20s %-8s %s\n", "image", "nsm-eif", "reader", "");
    while (fgets(line, sizeof(line), manifest)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *name = strtok(line, "\t"), *code = strtok(NULL, "\t"), *expected = strtok(NULL, "\t");
        if (!name || !code || !expected)
            continue;
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s.eif", dir, name);
        char *cmd = expand(tmpl, path);
        int detail = 0;
        outcome got = cmd ? run(cmd, timeout_s, accept_exit, &detail) : GOT_ERROR;
        free(cmd);
        bool sound = strcmp(code, "0") == 0;
        bool same = (got == GOT_ACCEPT) == sound && got <= GOT_REJECT;
        rows++;
        agree += same;
        wrong_accept += got == GOT_ACCEPT && !sound;
        wrong_reject += got == GOT_REJECT && sound;
        broken += got > GOT_REJECT;
        printf("%-26s %-20s %-8s %s\n", name, sound ? "accept" : expected, outcome_names[got],
               same ? "" : got == GOT_ACCEPT ? "DIFFERS: accepts what nsm-eif refuses"
                         : got == GOT_REJECT ? "DIFFERS: refuses a sound image"
                                             : "DIFFERS: the reader did not finish");
    }
    printf("%zu images: %zu agree with nsm-eif, %zu accepted that nsm-eif refuses, %zu sound "
           "ones refused, %zu crashed or timed out\n", rows, agree, wrong_accept, wrong_reject,
           broken);
    return rows && agree == rows ? 0 : 1;
}

typedef struct {
    const char *tmpl, *dir;
    uint64_t timeout_s, accept;
} grade_args;

static int set_timeout(void *ctx, const char *value, nsmkit_error *e)
{
    uint64_t s;
    if (!nsmkit_parse_u64(value, &s) || s == 0 || s >= 3600)
        return nsmkit_fail(e, "--timeout is 1..3599 seconds, not '%s'", value);
    ((grade_args *)ctx)->timeout_s = s;
    return 0;
}

static int set_accept(void *ctx, const char *value, nsmkit_error *e)
{
    uint64_t n;
    if (!nsmkit_parse_u64(value, &n) || n >= 256)
        return nsmkit_fail(e, "--accept-exit is 0..255, not '%s'", value);
    ((grade_args *)ctx)->accept = n;
    return 0;
}

static const nsmkit_opt grade_opt_rows[] = {
    NSMKIT_OPT_STRING("--cmd", "TEMPLATE", grade_args, tmpl,
                      "the reader to grade; {eif} becomes each image's path"),
    NSMKIT_OPT_STRING("--dir", "DIR", grade_args, dir, "the corpus (default vectors/eif)"),
    NSMKIT_OPT_CALL("--timeout", "S", set_timeout, "seconds per image (default 10)"),
    NSMKIT_OPT_CALL("--accept-exit", "N", set_accept,
                    "the reader's exit status for a sound image (default 0)"),
};
static const nsmkit_opt_group grade_groups[] = {{NULL, grade_opt_rows, NSMKIT_ROWS(grade_opt_rows)}};
static const nsmkit_cli grade_cli = {
    "nsm-eif grade", "--cmd 'READER ... {eif}' [--dir DIR] [--timeout S] [--accept-exit N]",
    "Runs a reader on every image of a corpus and says where it agrees with the manifest.",
    grade_groups, 1, false, NULL};

int nsmeif_cmd_grade(int argc, char **argv)
{
    grade_args args = {.dir = "vectors/eif", .timeout_s = 10};
    int parsed = nsmeif_parse(&grade_cli, &argc, argv, &args);
    if (parsed >= 0)
        return parsed;
    if (argc != 0 || !args.tmpl || !strstr(args.tmpl, "{eif}"))
        return nsmeif_cli_usage(&grade_cli, "needs --cmd with {eif} in it, and no operands");
    const char *tmpl = args.tmpl, *dir = args.dir;
    uint64_t timeout_s = args.timeout_s, accept = args.accept;
    char path[4200];
    snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
    FILE *manifest = fopen(path, "r");
    if (!manifest) {
        fprintf(stderr, "nsm-eif grade: %s: %s (nsm-eif corpus DIR makes one)\n", path,
                strerror(errno));
        return 2;
    }
    int status = grade_rows(dir, tmpl, (unsigned)timeout_s, (int)accept, manifest);
    fclose(manifest);
    return status;
}
