/*
 * nsm-vectors: the fault classes, the vectors corpus and a grader for other verifiers.
 *
 *   nsm-vectors list                         the classes (name, layer, aws, strict, text)
 *   nsm-vectors gen DIR [--pki DIR] [--time UNIX_S]
 *   nsm-vectors grade --cmd TEMPLATE [--dir DIR] [options]      (grade.c)
 *   nsm-vectors report GRADE.json... [--html FILE]               (report_cmd.c, html.c)
 *
 * gen writes DIR/manifest.tsv, DIR/root.pem and DIR/docs/NAME.cose. The PKI (nsm-ca layout
 * in PKI/ca, fault certificates and keys in PKI/store) is made on first use and read back
 * after, so that a committed PKI regenerates the same bytes (signatures per RFC 6979).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsmkit/ca.h"
#include "nsmkit/fault.h"
#include "nsmkit/file.h"
#include "nsmkit/hex.h"
#include "nsmkit/verify.h"
#include "grade.h"
#include "report.h"

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

#ifndef NSMKIT_VERSION
#define NSMKIT_VERSION "0.1.0"
#endif

static const char usage_list[] =
    "usage: nsm-vectors list\n"
    "Prints every fault class: name, layer, nsm-verify's code under the aws and strict\n"
    "profiles (or accept), description.\n";
static const char usage_gen[] =
    "usage: nsm-vectors gen DIR [--pki PKIDIR] [--time UNIX_S]\n"
    "Writes a corpus to DIR: manifest.tsv, root.pem, docs/NAME.cose. The test PKI is read from\n"
    "PKIDIR (default DIR/pki), made there on first use with --time as the leaf's issue time\n"
    "(default 2026-01-01T00:10:00Z); the same PKI gives the same bytes.\n";
static const char usage_grade[] =
    "usage: nsm-vectors grade --cmd TEMPLATE [--dir CORPUS] [--profile aws|strict]\n"
    "                         [--accept-regex RE | --reject-regex RE] [--timeout S] [--jobs N]\n"
    "                         [--name LABEL] [--json FILE] [--markdown FILE] [--html FILE]\n"
    "Runs TEMPLATE through /bin/sh once per document of CORPUS and compares its verdicts with\n"
    "the manifest's. CORPUS defaults to ./vectors in a checkout, else the installed corpus\n"
    "(PREFIX/share/nsmkit/vectors). TEMPLATE placeholders, replaced shell-quoted:\n"
    "  {doc} {root} {time} {profile} {pcr0} {nonce} {user_data} {public_key} {max_age}\n"
    "  {refuse_debug} (hex; empty when not expected); any other {word} is refused.\n"
    "The verdict is the exit status (0 accepts) or, with a pattern, a match on the output.\n"
    "Progress goes to stderr every 2 s; processes the command leaves behind are killed.\n"
    "Exit: 0 every verdict right, 1 some wrong, 2 usage or I/O error.\n";

static const char *const usage_all[] = {usage_list, usage_gen, usage_grade};

static int usage_to(FILE *f, int status)
{
    fputs("nsm-vectors: named malformed Nitro attestation documents, and a grader for verifiers\n",
          f);
    for (size_t i = 0; i < sizeof(usage_all) / sizeof(usage_all[0]); i++)
        fputs(usage_all[i], f);
    hv_report_usage(f, 0);
    fputs("nsm-vectors --version; nsm-vectors COMMAND --help\n", f);
    return status;
}

static int usage(void)
{
    return usage_to(stderr, 2);
}

/* True when argv[2..] asks for help. */
static bool wants_help(int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
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

/* One document per corpus entry into DIR/docs and one manifest row each into m; returns 0,
 * or 1 when some could not be made or written (the others are). */
static int gen_entries(nsmfault_pki *pki, const char *dir, FILE *m, size_t count, size_t *written_out)
{
    int status = 0;
    size_t written = 0;
    char out[4200];
    nsmkit_error e;
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
    *written_out = written;
    return status;
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
        else {
            fprintf(stderr, "nsm-vectors gen: unknown option, missing value or second DIR: %s\n%s",
                    argv[i], usage_gen);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "nsm-vectors gen: DIR is required\n%s", usage_gen);
        return 2;
    }
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
    status = gen_entries(pki, dir, m, count, &written);
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

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return usage_to(stdout, 0);
    bool version = false;
    for (int i = 1; i < argc && i < 3; i++)
        version = version || strcmp(argv[i], "--version") == 0;
    if (version) {
        printf("nsm-vectors (nsmkit) %s\n", NSMKIT_VERSION);
        return 0;
    }
    static const struct {
        const char *name, *help;
    } commands[] = {{"list", usage_list}, {"gen", usage_gen}, {"grade", usage_grade}};
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0 && wants_help(argc, argv)) {
            fputs(commands[i].help, stdout);
            return 0;
        }
    if (strcmp(argv[1], "list") == 0)
        return argc == 2 ? cmd_list() : usage();
    if (strcmp(argv[1], "gen") == 0)
        return cmd_gen(argc, argv);
    if (strcmp(argv[1], "grade") == 0)
        return hv_cmd_grade(argc, argv);
    if (strcmp(argv[1], "report") == 0)
        return hv_cmd_report(argc, argv);
    fprintf(stderr, "nsm-vectors: unknown command %s\n", argv[1]);
    return usage();
}
