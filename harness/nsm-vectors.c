/* SPDX-License-Identifier: Apache-2.0 */
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

static const nsmkit_cli top_cli = {
    "nsm-vectors",
    "list\n"
    "gen DIR [--pki PKIDIR] [--time UNIX_S]\n"
    "grade --cmd TEMPLATE [--dir CORPUS] [options]\n"
    "report GRADE.json [GRADE.json ...] [--html FILE] [--markdown FILE]",
    "Named malformed Nitro attestation documents, and a grader for verifiers.\n"
    "Each command answers --help.",
    NULL, 0, true, NULL};

static int usage(void)
{
    nsmkit_opts_usage(&top_cli, stderr);
    return 2;
}

/* ---- list -------------------------------------------------------------------------------- */

static const nsmkit_cli list_cli = {
    "nsm-vectors list", "",
    "Prints every fault class: name, layer, nsm-verify's code under the aws and strict\n"
    "profiles (or accept), description.",
    NULL, 0, false, NULL};

static int cmd_list(int argc, char **argv)
{
    int parsed = hv_parse(&list_cli, &argc, argv, NULL);
    if (parsed >= 0)
        return parsed;
    if (argc != 0)
        return hv_usage(&list_cli, "takes no operands");
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

typedef struct {
    const char *pki_dir;
    uint64_t issue_s;
} gen_args;

static int set_time(void *ctx, const char *value, nsmkit_error *e)
{
    uint64_t s;
    if (!nsmkit_parse_u64(value, &s) || s < VECTORS_ISSUE_OFFSET || s > 4000000000ull)
        return nsmkit_fail(e, "--time wants Unix seconds (1970..2096)");
    ((gen_args *)ctx)->issue_s = s;
    return 0;
}

static const nsmkit_opt gen_rows[] = {
    NSMKIT_OPT_STRING("--pki", "PKIDIR", gen_args, pki_dir,
                      "the test PKI (default DIR/pki), made there on first use"),
    NSMKIT_OPT_CALL("--time", "UNIX_S", set_time,
                    "the leaf's issue time when the PKI is made (default 2026-01-01T00:10:00Z)"),
};
static const nsmkit_opt_group gen_groups[] = {{NULL, gen_rows, NSMKIT_ROWS(gen_rows)}};
static const nsmkit_cli gen_cli = {
    "nsm-vectors gen", "DIR [--pki PKIDIR] [--time UNIX_S]",
    "Writes a corpus to DIR: manifest.tsv, root.pem, docs/NAME.cose; the same PKI gives the\n"
    "same bytes.",
    gen_groups, 1, false, NULL};

static int cmd_gen(int argc, char **argv)
{
    gen_args args = {.issue_s = VECTORS_T0 + VECTORS_ISSUE_OFFSET};
    char path[4200], ca[4200], store[4200], pki_default[4200];
    nsmkit_error e;
    int parsed = hv_parse(&gen_cli, &argc, argv, &args);
    if (parsed >= 0)
        return parsed;
    if (argc != 1)
        return hv_usage(&gen_cli, argc == 0 ? "DIR is required" : "takes one DIR");
    const char *dir = argv[0], *pki_dir = args.pki_dir;
    uint64_t issue_s = args.issue_s;
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
    if (argv[1][0] == '-') { /* --help, --version, or a usage error */
        int n = argc - 1;
        int status = hv_parse(&top_cli, &n, argv + 1, NULL);
        return status >= 0 ? status : usage();
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {{"list", cmd_list}, {"gen", cmd_gen}, {"grade", hv_cmd_grade},
                    {"report", hv_cmd_report}};
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "nsm-vectors: unknown command %s\n", argv[1]);
    return usage();
}
