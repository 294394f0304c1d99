/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-verify: verifies Nitro attestation documents (or dumps them with --dump).
 *
 * Exit status: 0 every DOC valid; 1 some DOC invalid; 2 usage or I/O error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsmkit/error.h"
#include "nsmkit/hex.h"
#include "nsmkit/opts.h"
#include "nsmkit/verify.h"

#define EXIT_INVALID 1
#define EXIT_USAGE 2

static int usage_error(const char *fmt, ...) NSMKIT_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nsm-verify: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see nsm-verify --help)\n");
    va_end(ap);
    return EXIT_USAGE;
}

/* Reads at most NSMV_DOC_MAX + 1 bytes: a longer document gets its verdict (too large)
 * from the library without being read whole. */
static int read_doc(const char *path, uint8_t **out, size_t *out_len, char *err, size_t err_size)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    *out = NULL;
    *out_len = 0;
    if (fd < 0) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        snprintf(err, err_size, "%s: %s", path,
                 S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
        if (fd != STDIN_FILENO)
            close(fd);
        return -1;
    }
    size_t cap = NSMV_DOC_MAX + 1, len = 0;
    uint8_t *data = malloc(cap);
    if (!data) {
        snprintf(err, err_size, "%s: out of memory", path);
        if (fd != STDIN_FILENO)
            close(fd);
        return -1;
    }
    while (len < cap) {
        ssize_t n = read(fd, data + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, err_size, "%s: cannot read: %s", path, strerror(errno));
            free(data);
            if (fd != STDIN_FILENO)
                close(fd);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (fd != STDIN_FILENO)
        close(fd);
    *out = data;
    *out_len = len;
    return 0;
}

/* What the command line asks for: the verifier's options and what they point into. */
typedef struct {
    nsmv_options options;
    nsmv_expected_pcr pcrs[NSMV_PCR_MAX];
    uint8_t *nonce, *user_data, *public_key; /* owned */
    const char *root_path;
    bool json, quiet, dump, time_given, at_doc_time;
} verify_args;

static int set_bytes(const char *name, const char *hex, uint8_t **store,
                     nsmv_expected_bytes *out, nsmkit_error *e)
{
    nsmkit_error inner;
    size_t len;
    if (*store)
        return nsmkit_fail(e, "%s given twice", name);
    if (nsmkit_hex_decode(hex, NSMV_FIELD_MAX, store, &len, &inner) != 0)
        return nsmkit_fail(e, "%s: %s", name, inner.msg);
    *out = (nsmv_expected_bytes){true, *store, len};
    return 0;
}

static int set_nonce(void *ctx, const char *value, nsmkit_error *e)
{
    verify_args *a = ctx;
    return set_bytes("--nonce", value, &a->nonce, &a->options.nonce, e);
}

static int set_user_data(void *ctx, const char *value, nsmkit_error *e)
{
    verify_args *a = ctx;
    return set_bytes("--user-data", value, &a->user_data, &a->options.user_data, e);
}

static int set_public_key(void *ctx, const char *value, nsmkit_error *e)
{
    verify_args *a = ctx;
    return set_bytes("--public-key", value, &a->public_key, &a->options.public_key, e);
}

static int set_pcr(void *ctx, const char *arg, nsmkit_error *e)
{
    verify_args *a = ctx;
    const char *eq = strchr(arg, '=');
    char index_text[8];
    uint64_t index;
    uint8_t *value = NULL;
    size_t len;
    nsmkit_error inner;
    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(index_text))
        return nsmkit_fail(e, "--expect-pcr wants I=HEX, got \"%s\"", arg);
    memcpy(index_text, arg, (size_t)(eq - arg));
    index_text[eq - arg] = '\0';
    if (!nsmkit_parse_u64(index_text, &index) || index >= NSMV_PCR_MAX)
        return nsmkit_fail(e, "--expect-pcr: index \"%s\" is not 0..31", index_text);
    for (size_t i = 0; i < a->options.pcr_count; i++)
        if (a->pcrs[i].index == index)
            return nsmkit_fail(e, "--expect-pcr: PCR%s given twice", index_text);
    if (nsmkit_hex_decode(eq + 1, NSMV_PCR_LEN, &value, &len, &inner) != 0)
        return nsmkit_fail(e, "--expect-pcr %s: %s", index_text, inner.msg);
    if (len != NSMV_PCR_LEN) {
        free(value);
        return nsmkit_fail(e, "--expect-pcr: the value must be 48 bytes (96 hex digits) for "
                              "PCR%s", index_text);
    }
    a->pcrs[a->options.pcr_count].index = (unsigned)index;
    memcpy(a->pcrs[a->options.pcr_count].value, value, NSMV_PCR_LEN);
    a->options.pcr_count++;
    free(value);
    return 0;
}

static int set_time(void *ctx, const char *value, nsmkit_error *e)
{
    verify_args *a = ctx;
    uint64_t ms;
    if (!nsmkit_parse_unix_time(value, &ms) || ms / 1000 > NSMV_TIME_MAX_S)
        return nsmkit_fail(e, "--time wants Unix seconds (a fraction allowed) up to year 9999, "
                              "got \"%s\"", value);
    a->options.time_mode = NSMV_TIME_FIXED;
    a->options.time_s = ms / 1000;
    a->time_given = true;
    return 0;
}

static int set_profile(void *ctx, const char *value, nsmkit_error *e)
{
    if (!nsmv_profile_parse(value, &((verify_args *)ctx)->options.profile))
        return nsmkit_fail(e, "--profile is aws or strict, not \"%s\"", value);
    return 0;
}

static int set_max_age(void *ctx, const char *value, nsmkit_error *e)
{
    verify_args *a = ctx;
    if (!nsmkit_parse_u64(value, &a->options.max_age_s))
        return nsmkit_fail(e, "--max-age wants seconds, got \"%s\"", value);
    a->options.check_max_age = true;
    return 0;
}

static int set_flag(bool *flag)
{
    *flag = true;
    return 0;
}

static int set_refuse_debug(void *ctx, const char *value, nsmkit_error *e)
{
    (void)value, (void)e;
    return set_flag(&((verify_args *)ctx)->options.refuse_debug);
}

static int set_all(void *ctx, const char *value, nsmkit_error *e)
{
    (void)value, (void)e;
    return set_flag(&((verify_args *)ctx)->options.report_all);
}

static const nsmkit_opt verify_rows[] = {
    NSMKIT_OPT_STRING("--root", "PEM", verify_args, root_path,
                      "trust this root instead of the AWS Nitro Enclaves Root-G1\n"
                      "(a simulated root is trusted only when given here)"),
    NSMKIT_OPT_CALL("--time", "UNIX_S", set_time,
                    "verify the chain at this time (default: now; a fraction allowed)"),
    NSMKIT_OPT_FLAG("--at-doc-time", verify_args, at_doc_time,
                    "verify the chain at the document's own timestamp (captured\ndocuments)"),
    NSMKIT_OPT_CALL("--profile", "aws|strict", set_profile,
                    "aws (default): accept what real NSM hardware emits;\nstrict: the AWS "
                    "guide's letter (user_data/nonce <= 512, no null, ...)"),
    NSMKIT_OPT_CALL("--expect-pcr", "I=HEX", set_pcr, "PCR I must hold these 48 bytes (repeatable)"),
    NSMKIT_OPT_CALL("--nonce", "HEX", set_nonce, "the nonce must hold exactly these bytes"),
    NSMKIT_OPT_CALL("--user-data", "HEX", set_user_data, "user_data must hold exactly these bytes"),
    NSMKIT_OPT_CALL("--public-key", "HEX", set_public_key,
                    "public_key must hold exactly these bytes"),
    NSMKIT_OPT_CALL("--max-age", "S", set_max_age,
                    "refuse documents more than S seconds older than the verification\ntime "
                    "(and documents dated after it: POLICY_FUTURE)"),
    NSMKIT_OPT_CALL("--refuse-debug", NULL, set_refuse_debug,
                    "refuse debug-mode documents (PCR0..2 all zero)"),
    NSMKIT_OPT_FLAG("--json", verify_args, json, "one JSON object on stdout"),
    NSMKIT_OPT_FLAG("--quiet", verify_args, quiet, "no output; the exit status says it all"),
    NSMKIT_OPT_CALL("--all", NULL, set_all, "report every independent failure, not only the first"),
    NSMKIT_OPT_FLAG("--dump", verify_args, dump,
                    "print each document's decoded contents and certificates"),
};
static const nsmkit_opt_group verify_groups[] = {{NULL, verify_rows, NSMKIT_ROWS(verify_rows)}};
static const nsmkit_cli verify_cli = {
    "nsm-verify",
    "[--root PEM] [--time UNIX_S | --at-doc-time] [--profile aws|strict]\n"
    "[--expect-pcr I=HEX]... [--nonce HEX] [--user-data HEX]\n"
    "[--public-key HEX] [--max-age SECONDS] [--refuse-debug]\n"
    "[--json] [--quiet] [--all] DOC...\n"
    "--dump DOC...",
    "Verifies AWS Nitro attestation documents (COSE_Sign1 bytes; DOC '-' reads stdin).",
    verify_groups, 1, false,
    "Exit status: 0 every DOC valid, 1 some DOC invalid, 2 usage or I/O error."};

/* Parses the command line; DOCs end up in argv[0..*docs). Returns -1 to go on, or the exit
 * status (0 after --help or --version). */
static int parse_args(int argc, char **argv, verify_args *a, int *docs)
{
    nsmkit_error e;
    int n = argc;
    int r = nsmkit_opts_parse(&verify_cli, &n, argv, a, &e);
    *docs = n;
    if (r == NSMKIT_OPTS_DONE)
        return 0;
    if (r != NSMKIT_OPTS_RUN)
        return usage_error("%s", e.msg);
    if (a->at_doc_time)
        a->options.time_mode = NSMV_TIME_DOCUMENT;
    if (a->time_given && a->at_doc_time)
        return usage_error("%s", "--time and --at-doc-time exclude each other");
    if (a->dump && (a->json || a->quiet))
        return usage_error("%s", "--dump prints text; it does not combine with --json or --quiet");
    if (n == 0)
        return usage_error("%s", "no DOC given");
    return -1;
}

/* The verifier, pinning --root or the AWS root; NULL after saying why. */
static nsmv_verifier *make_verifier(const char *root_path, uint8_t **root)
{
    nsmv_config config = {0};
    nsmv_error e;
    nsmv_verifier *v = NULL;
    size_t root_len = 0;
    if (root_path) {
        if (nsmv_root_read_pem(root_path, root, &root_len, &e) != 0) {
            fprintf(stderr, "nsm-verify: %s\n", e.msg);
            return NULL;
        }
        config.root_der = *root;
        config.root_len = root_len;
    }
    if (nsmv_verifier_new(&config, &v, &e) != 0) {
        fprintf(stderr, "nsm-verify: --root %s: %s\n", root_path ? root_path : "(AWS)", e.msg);
        return NULL;
    }
    return v;
}

static void json_read_error(const char *path, const char *err, bool first)
{
    printf("%s{\"file\":", first ? "" : ",");
    nsmv_json_string(stdout, path);
    printf(",\"error\":");
    nsmv_json_string(stdout, err);
    printf("}");
}

/* Verifies (or dumps) each DOC; returns the exit status. */
static int verify_docs(const verify_args *a, nsmv_verifier *v, char **docs, int doc_count)
{
    bool any_invalid = false, any_error = false, json = a->json && !a->quiet;
    if (json)
        printf("{\"results\":[");
    for (int i = 0; i < doc_count; i++) {
        uint8_t *doc = NULL;
        size_t len = 0;
        char err[512];
        if (read_doc(docs[i], &doc, &len, err, sizeof(err)) != 0) {
            fprintf(stderr, "nsm-verify: %s\n", err);
            if (json)
                json_read_error(docs[i], err, i == 0);
            any_error = true;
            continue;
        }
        if (a->dump) {
            any_invalid |= nsmv_dump_text(stdout, docs[i], doc, len) != NSMV_OK;
            if (i + 1 < doc_count)
                printf("\n");
        } else {
            nsmv_result result;
            nsmv_verify(v, doc, len, &a->options, &result);
            any_invalid |= !result.valid;
            if (json && i > 0)
                printf(",");
            if (json)
                nsmv_report_json(stdout, docs[i], &result);
            else if (!a->quiet)
                nsmv_report_text(stdout, docs[i], &result);
        }
        free(doc);
    }
    if (json)
        printf("],\"valid\":%s}\n", any_invalid || any_error ? "false" : "true");
    return any_error ? EXIT_USAGE : any_invalid ? EXIT_INVALID : 0;
}

int main(int argc, char **argv)
{
    verify_args a = {0};
    nsmv_options_init(&a.options);
    a.options.pcrs = a.pcrs;
    uint8_t *root = NULL;
    nsmv_verifier *v = NULL;
    int doc_count = 0;
    int status = parse_args(argc - 1, argv + 1, &a, &doc_count);
    if (status < 0 && !a.dump && !(v = make_verifier(a.root_path, &root)))
        status = EXIT_USAGE;
    if (status < 0)
        status = verify_docs(&a, v, argv + 1, doc_count);
    nsmv_verifier_free(v);
    free(root);
    free(a.nonce);
    free(a.user_data);
    free(a.public_key);
    if (fflush(stdout) != 0 && status == 0)
        status = EXIT_USAGE;
    return status;
}
