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
#include "nsmkit/verify.h"

#define EXIT_INVALID 1
#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: nsm-verify [--root PEM] [--time UNIX_S | --at-doc-time] [--profile aws|strict]\n"
    "                  [--expect-pcr I=HEX]... [--nonce HEX] [--user-data HEX]\n"
    "                  [--public-key HEX] [--max-age SECONDS] [--refuse-debug]\n"
    "                  [--json] [--quiet] [--all] DOC...\n"
    "       nsm-verify --dump DOC...\n"
    "\n"
    "Verifies AWS Nitro attestation documents (COSE_Sign1 bytes; DOC '-' reads stdin).\n"
    "  --root PEM        trust this root instead of the AWS Nitro Enclaves Root-G1\n"
    "                    (a simulated root is trusted only when given here)\n"
    "  --time UNIX_S     verify the chain at this time (default: now)\n"
    "  --at-doc-time     verify the chain at the document's own timestamp (captured documents)\n"
    "  --profile P       aws (default): accept what real NSM hardware emits;\n"
    "                    strict: the AWS guide's letter (user_data/nonce <= 512, no null, ...)\n"
    "  --expect-pcr I=HEX  PCR I must hold these 48 bytes (repeatable)\n"
    "  --nonce, --user-data, --public-key HEX   the field must hold exactly these bytes\n"
    "  --max-age S       refuse documents more than S seconds older than the verification time\n"
    "  --refuse-debug    refuse debug-mode documents (PCR0..2 all zero)\n"
    "  --json            one JSON object on stdout\n"
    "  --quiet           no output; the exit status says it all\n"
    "  --all             report every independent failure, not only the first\n"
    "  --dump            print each document's decoded contents and certificates\n"
    "Exit status: 0 every DOC valid, 1 some DOC invalid, 2 usage or I/O error.\n";

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

static int parse_hex_option(const char *name, const char *hex, uint8_t **store,
                            nsmv_expected_bytes *out)
{
    nsmkit_error e;
    size_t len;
    if (*store)
        return usage_error("%s given twice", name);
    if (nsmkit_hex_decode(hex, NSMV_FIELD_MAX, store, &len, &e) != 0) {
        fprintf(stderr, "nsm-verify: %s: %s\n", name, e.msg);
        return EXIT_USAGE;
    }
    out->set = true;
    out->data = *store;
    out->len = len;
    return 0;
}

static int parse_pcr(const char *arg, nsmv_expected_pcr *pcrs, size_t *count)
{
    const char *eq = strchr(arg, '=');
    char index_text[8];
    uint64_t index;
    uint8_t *value = NULL;
    size_t len;
    nsmkit_error e;

    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(index_text))
        return usage_error("--expect-pcr wants I=HEX, got \"%s\"", arg);
    memcpy(index_text, arg, (size_t)(eq - arg));
    index_text[eq - arg] = '\0';
    if (!nsmkit_parse_u64(index_text, &index) || index >= NSMV_PCR_MAX)
        return usage_error("--expect-pcr: index \"%s\" is not 0..31", index_text);
    for (size_t i = 0; i < *count; i++)
        if (pcrs[i].index == index)
            return usage_error("--expect-pcr: PCR%s given twice", index_text);
    if (nsmkit_hex_decode(eq + 1, NSMV_PCR_LEN, &value, &len, &e) != 0) {
        fprintf(stderr, "nsm-verify: --expect-pcr %s: %s\n", index_text, e.msg);
        return EXIT_USAGE;
    }
    if (len != NSMV_PCR_LEN) {
        free(value);
        return usage_error("--expect-pcr: the value must be 48 bytes (96 hex digits) for PCR%s",
                           index_text);
    }
    pcrs[*count].index = (unsigned)index;
    memcpy(pcrs[*count].value, value, NSMV_PCR_LEN);
    (*count)++;
    free(value);
    return 0;
}

int main(int argc, char **argv)
{
    nsmv_options options;
    nsmv_expected_pcr pcrs[NSMV_PCR_MAX];
    uint8_t *nonce = NULL, *user_data = NULL, *public_key = NULL, *root = NULL;
    const char *root_path = NULL;
    bool json = false, quiet = false, dump = false, time_given = false;
    nsmv_verifier *v = NULL;
    int status = 0, doc_count = 0;
    uint64_t number;
    const char **docs = calloc((size_t)argc, sizeof(*docs));

    if (!docs) {
        fprintf(stderr, "nsm-verify: out of memory\n");
        return EXIT_USAGE;
    }

    nsmv_options_init(&options);
    options.pcrs = pcrs;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = !strcmp(a, "--root") || !strcmp(a, "--time") ||
                           !strcmp(a, "--profile") || !strcmp(a, "--expect-pcr") ||
                           !strcmp(a, "--nonce") || !strcmp(a, "--user-data") ||
                           !strcmp(a, "--public-key") || !strcmp(a, "--max-age");
        if (takes_value && !next) {
            status = usage_error("%s needs a value", a);
            goto out;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            goto out;
        } else if (!strcmp(a, "--root")) {
            root_path = next;
        } else if (!strcmp(a, "--time")) {
            if (!nsmkit_parse_u64(next, &number) || number > NSMV_TIME_MAX_S) {
                status = usage_error("--time wants Unix seconds up to year 9999, got \"%s\"", next);
                goto out;
            }
            options.time_mode = NSMV_TIME_FIXED;
            options.time_s = number;
            time_given = true;
        } else if (!strcmp(a, "--at-doc-time")) {
            options.time_mode = NSMV_TIME_DOCUMENT;
        } else if (!strcmp(a, "--profile")) {
            if (!nsmv_profile_parse(next, &options.profile)) {
                status = usage_error("--profile is aws or strict, not \"%s\"", next);
                goto out;
            }
        } else if (!strcmp(a, "--expect-pcr")) {
            if ((status = parse_pcr(next, pcrs, &options.pcr_count)) != 0)
                goto out;
        } else if (!strcmp(a, "--nonce")) {
            if ((status = parse_hex_option(a, next, &nonce, &options.nonce)) != 0)
                goto out;
        } else if (!strcmp(a, "--user-data")) {
            if ((status = parse_hex_option(a, next, &user_data, &options.user_data)) != 0)
                goto out;
        } else if (!strcmp(a, "--public-key")) {
            if ((status = parse_hex_option(a, next, &public_key, &options.public_key)) != 0)
                goto out;
        } else if (!strcmp(a, "--max-age")) {
            if (!nsmkit_parse_u64(next, &number)) {
                status = usage_error("--max-age wants seconds, got \"%s\"", next);
                goto out;
            }
            options.check_max_age = true;
            options.max_age_s = number;
        } else if (!strcmp(a, "--refuse-debug")) {
            options.refuse_debug = true;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "--all")) {
            options.report_all = true;
        } else if (!strcmp(a, "--dump")) {
            dump = true;
        } else if (!strcmp(a, "--")) {
            while (++i < argc)
                docs[doc_count++] = argv[i];
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            status = usage_error("unknown option %s", a);
            goto out;
        } else {
            docs[doc_count++] = a;
        }
        if (takes_value)
            i++;
    }
    if (time_given && options.time_mode == NSMV_TIME_DOCUMENT) {
        status = usage_error("%s", "--time and --at-doc-time exclude each other");
        goto out;
    }
    if (dump && (json || quiet)) {
        status = usage_error("%s", "--dump prints text; it does not combine with --json or --quiet");
        goto out;
    }
    if (doc_count == 0) {
        status = usage_error("%s", "no DOC given");
        goto out;
    }

    if (!dump) {
        nsmv_config config = {0};
        nsmv_error e;
        size_t root_len = 0;
        if (root_path) {
            if (nsmv_root_read_pem(root_path, &root, &root_len, &e) != 0) {
                fprintf(stderr, "nsm-verify: %s\n", e.msg);
                status = EXIT_USAGE;
                goto out;
            }
            config.root_der = root;
            config.root_len = root_len;
        }
        if (nsmv_verifier_new(&config, &v, &e) != 0) {
            fprintf(stderr, "nsm-verify: --root %s: %s\n", root_path ? root_path : "(AWS)", e.msg);
            status = EXIT_USAGE;
            goto out;
        }
    }

    bool any_invalid = false, any_error = false;
    if (json && !quiet)
        printf("{\"results\":[");
    for (int i = 0; i < doc_count; i++) {
        uint8_t *doc = NULL;
        size_t len = 0;
        char err[512];
        bool first = i == 0;
        if (read_doc(docs[i], &doc, &len, err, sizeof(err)) != 0) {
            fprintf(stderr, "nsm-verify: %s\n", err);
            if (json && !quiet) {
                printf("%s{\"file\":", first ? "" : ",");
                nsmv_json_string(stdout, docs[i]);
                printf(",\"error\":");
                nsmv_json_string(stdout, err);
                printf("}");
            }
            any_error = true;
            continue;
        }
        if (dump) {
            nsmv_code c = nsmv_dump_text(stdout, docs[i], doc, len);
            any_invalid |= c != NSMV_OK;
            if (i + 1 < doc_count)
                printf("\n");
        } else {
            nsmv_result result;
            nsmv_verify(v, doc, len, &options, &result);
            any_invalid |= !result.valid;
            if (quiet) {
                /* the exit status says it */
            } else if (json) {
                if (!first)
                    printf(",");
                nsmv_report_json(stdout, docs[i], &result);
            } else {
                nsmv_report_text(stdout, docs[i], &result);
            }
        }
        free(doc);
    }
    if (json && !quiet)
        printf("],\"valid\":%s}\n", any_invalid || any_error ? "false" : "true");
    status = any_error ? EXIT_USAGE : any_invalid ? EXIT_INVALID : 0;

out:
    nsmv_verifier_free(v);
    free(root);
    free(nonce);
    free(user_data);
    free(public_key);
    free(docs);
    if (fflush(stdout) != 0 && status == 0)
        status = EXIT_USAGE;
    return status;
}
