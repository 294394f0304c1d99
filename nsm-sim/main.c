/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-sim: the simulated Nitro Secure Module's command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontends/devnsm/codec.h"
#include "commands.h"
#include "frontends/devices/cuse.h"
#include "frontends/devices/fuse.h"
#include "nsmkit/sim.h"
#include "nsmkit/error.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/cbor.h"
#include "nsmkit/hex.h"
#include "nsmkit/file.h"
#include "nsmkit/fault.h"
#include "nsmkit/opts.h"

static const char top_synopsis[] =
    "attest [state options] [--nonce HEX|@FILE] [--user-data HEX|@FILE]\n"
    "       [--public-key HEX|@FILE] -o FILE\n"
    "serve --socket PATH [state options]\n"
    "exec [--device preload|fuse|auto] [state options] [--] COMMAND [ARGS]\n"
    "fuse --mount PATH [--socket SERVER] [--mode OCTAL] [state options]\n"
    "cuse (--port PATH|auto | --socket PATH) [--name NAME] [--background]";

static const char top_about[] =
    "attest  boots a simulated NSM and writes one attestation document (COSE_Sign1) to\n"
    "        FILE ('-' for standard output).\n"
    "serve   serves one simulated NSM on a unix socket (u32 LE length || CBOR frames),\n"
    "        shared by every client; stops on SIGINT or SIGTERM.\n"
    "exec    runs COMMAND with a simulated /dev/nsm (LD_PRELOAD shim and a private\n"
    "        server, or with --device fuse a FUSE /dev/nsm in private namespaces);\n"
    "        exits with COMMAND's status.\n"
    "fuse    serves a simulated /dev/nsm as a FUSE file mounted on PATH; stops on SIGINT\n"
    "        or SIGTERM and unmounts.\n"
    "cuse    creates a character device /dev/nsm through CUSE whose requests go to a\n"
    "        server (--socket PATH) or a virtio-serial port (--port auto, in a guest).\n"
    "\n"
    "Each command answers --help with its options.";

static const char fault_note[] =
    "user_data, nonce and public_key take at most 1024 bytes each.\n"
    "Faulty documents are signed by a leaf of the same PKI; payload faults are re-signed unless\n"
    "--no-resign. Under serve and exec the device itself returns them through /dev/nsm.\n"
    "Some classes (policy_*) fail only a verifier that checks the policy in question, e.g.\n"
    "policy_future only with nsm-verify --max-age: the message after attest says which.";

static const nsmkit_cli top_cli = {"nsm-sim", top_synopsis, top_about, NULL, 0, true,
                                   fault_note};

static int usage(const char *problem)
{
    fprintf(stderr, "nsm-sim: %s\n", problem);
    nsmkit_opts_usage(&top_cli, stderr);
    return 2;
}

/* HEX, or @FILE for raw bytes; at most NSMSIM_FIELD_MAX bytes. */
static int load_field(const char *name, const char *value, uint8_t **out, size_t *len,
                      nsmkit_error *e)
{
    nsmkit_error inner;
    int rc = value[0] == '@'
                 ? nsmkit_file_read(value + 1, NSMSIM_FIELD_MAX, out, len, &inner)
                 : nsmkit_hex_decode(value, NSMSIM_FIELD_MAX, out, len, &inner);
    if (rc != 0)
        return nsmkit_fail(e, "--%s: %s", name, inner.msg);
    return 0;
}

/* One failure of `nsm-sim attest`: "nsm-sim: NUMBER NAME: message" on stderr. */
static int attest_fail(nsmsim_code code, const char *msg)
{
    fprintf(stderr, "nsm-sim: %d %s: %s\n", (int)code, nsmsim_code_name(code),
            msg && msg[0] ? msg : nsmsim_code_sentence(code));
    return code == NSMSIM_ERR_USAGE || code == NSMSIM_ERR_OPTION ? 2 : 1;
}

typedef struct {
    nsmsim_options options; /* first: the state options' rows fill it */
    uint8_t *fields[3]; /* user_data, nonce, public_key: owned, NULL when not given */
    size_t field_lens[3];
    const char *output;
} attest_args;

static void attest_args_free(attest_args *a)
{
    for (int k = 0; k < 3; k++)
        free(a->fields[k]);
}

static int set_field(attest_args *a, int k, const char *name, const char *value,
                     nsmkit_error *e)
{
    free(a->fields[k]);
    a->fields[k] = NULL;
    return load_field(name, value, &a->fields[k], &a->field_lens[k], e);
}

static int set_user_data(void *ctx, const char *value, nsmkit_error *e)
{
    return set_field(ctx, 0, "user-data", value, e);
}

static int set_nonce(void *ctx, const char *value, nsmkit_error *e)
{
    return set_field(ctx, 1, "nonce", value, e);
}

static int set_public_key(void *ctx, const char *value, nsmkit_error *e)
{
    return set_field(ctx, 2, "public-key", value, e);
}

static const nsmkit_opt attest_rows[] = {
    NSMKIT_OPT_CALL("--nonce", "HEX|@FILE", set_nonce, "the document's nonce"),
    NSMKIT_OPT_CALL("--user-data", "HEX|@FILE", set_user_data, "the document's user_data"),
    NSMKIT_OPT_CALL("--public-key", "HEX|@FILE", set_public_key, "the document's public_key"),
    NSMKIT_OPT_STRING("-o", "FILE", attest_args, output,
                      "where the document goes ('-': standard output)"),
};

/* Parses attest's arguments; returns NSMSIM_ERR_OK, OPTION or FAULT_MODE with a message,
 * or with *done set: NSMSIM_ERR_OK after --help or --version, USAGE after saying so with
 * the usage. */
static nsmsim_code attest_parse(int argc, char **argv, attest_args *a, bool *done,
                                nsmkit_error *e)
{
    const nsmkit_opt_group groups[2] = {{NULL, attest_rows, NSMKIT_ROWS(attest_rows)},
                                        nsmfault_state_options};
    const nsmkit_cli cli = {"nsm-sim attest",
                            "[state options] [--nonce HEX|@FILE] [--user-data HEX|@FILE]\n"
                            "[--public-key HEX|@FILE] -o FILE",
                            "Boots a simulated NSM and writes one attestation document "
                            "(COSE_Sign1) to FILE.",
                            groups, 2, false, fault_note};
    int n = argc;
    int r = nsmkit_opts_parse(&cli, &n, argv, a, e);
    *done = r == NSMKIT_OPTS_DONE;
    if (r == NSMKIT_OPTS_USAGE || (r == NSMKIT_OPTS_RUN && (n > 0 || !a->output))) {
        if (r == NSMKIT_OPTS_RUN)
            nsmkit_fail(e, n > 0 ? "unknown argument %s" : "attest needs -o FILE",
                        n > 0 ? argv[0] : "");
        fprintf(stderr, "nsm-sim attest: %d %s: %s\n", (int)NSMSIM_ERR_USAGE,
                nsmsim_code_name(NSMSIM_ERR_USAGE), e->msg);
        nsmkit_opts_usage(&cli, stderr);
        *done = true;
        return NSMSIM_ERR_USAGE;
    }
    if (r == NSMKIT_OPTS_BAD_VALUE)
        return NSMSIM_ERR_OPTION;
    if (r == NSMKIT_OPTS_DONE)
        return NSMSIM_ERR_OK;
    /* One document: with every Nth or a chance it could come out valid while attest says
     * which failure to expect. The modes are for serve and exec, which answer many. */
    if (a->options.fault_every || a->options.fault_rate_ppm) {
        nsmkit_fail(e, "--fault-every and --fault-rate choose among many documents: use them "
                       "with serve or exec (attest issues one, faulty whenever --fault is given)");
        return NSMSIM_ERR_FAULT_MODE;
    }
    return NSMSIM_ERR_OK;
}

/* Boots the NSM, saying so when it created the default PKI on the way (only the process
 * that created it says so, however many started at once). */
static nsmsim_code attest_boot(const nsmsim_options *options, nsmsim **sim, nsmkit_error *e)
{
    char default_dir[4096] = "";
    if (!options->ca_dir && nsmca_default_dir(default_dir, sizeof(default_dir), e) != 0)
        return NSMSIM_ERR_PKI;
    nsmsim_code code = nsmfault_sim_new(options, sim, e);
    if (code != NSMSIM_ERR_OK)
        return code;
    if (nsmsim_created_default_pki(*sim))
        fprintf(stderr, "nsm-sim: created a simulated Nitro PKI in %s (root: %s/root.pem)\n",
                default_dir, default_dir);
    /* issue 14's probe, finding C: a repair is news to whoever pinned the old chain */
    if (nsmsim_pki_repaired(*sim))
        fprintf(stderr, "nsm-sim: note: %s\n", nsmsim_pki_repaired(*sim));
    return NSMSIM_ERR_OK;
}

/* Asks the NSM for a document exactly as the official client does: the request through
 * the codec, the response through the codec's decoder. On success *doc is owned by the
 * caller. */
static nsmsim_code attest_request(nsmsim *sim, const attest_args *a, uint8_t **doc,
                                  size_t *doc_len, nsmkit_error *e)
{
    nsmkit_bytes f[3];
    for (int k = 0; k < 3; k++)
        f[k] = a->fields[k] ? nsmkit_bytes_of(a->fields[k], a->field_lens[k]) : NSMKIT_BYTES_NONE;
    nsmkit_buf request;
    nsmkit_buf_init(&request, NSM_REQUEST_MAX_SIZE);
    uint8_t *response = malloc(NSM_RESPONSE_MAX_SIZE);
    nsmsim_api_response resp = {0};
    nsmsim_outcome outcome = {0};
    size_t response_len = 0;
    nsmsim_code code = NSMSIM_ERR_NO_MEMORY;
    if (!response)
        goto out;
    nsmsim_api_encode_attestation(&request, f[0], f[1], f[2]);
    code = NSMSIM_ERR_REQ_TOO_LARGE;
    if (request.err) {
        nsmkit_fail(e, "the request does not fit in %d bytes", NSM_REQUEST_MAX_SIZE);
        goto out;
    }
    code = NSMSIM_ERR_NO_MEMORY;
    if (nsmsim_handle_traced(sim, request.data, request.len, response, &response_len,
                             &outcome) != 0)
        goto out;
    code = NSMSIM_ERR_UNEXPECTED_RESPONSE;
    if (nsmsim_api_response_decode(response, response_len, &resp) != 0)
        goto out;
    if (resp.kind == NSMSIM_RESP_ERROR) {
        code = outcome.code != NSMSIM_ERR_OK ? outcome.code : NSMSIM_ERR_NSM_ERROR;
        if (code == NSMSIM_ERR_FAULT)
            nsmkit_fail(e, "--fault: %s", outcome.detail);
        else
            nsmkit_fail(e, "the simulated NSM answered %s (%s)",
                        nsmsim_error_code_name(resp.error), outcome.detail);
    } else if (resp.kind == NSMSIM_RESP_ATTESTATION && (*doc = malloc(resp.bytes_len + 1))) {
        memcpy(*doc, resp.bytes, resp.bytes_len);
        *doc_len = resp.bytes_len;
        code = NSMSIM_ERR_OK;
    }
out:
    nsmsim_api_response_free(&resp);
    free(response);
    nsmkit_buf_free(&request);
    return code;
}

/* The nsm-verify option without which a policy failure is never reported: a policy is
 * what the relying party expects, and nsm-verify checks only the policies it is given. */
static const char *policy_option(nsmv_code code)
{
    switch (code) {
    case NSMV_ERR_POLICY_FUTURE:
    case NSMV_ERR_POLICY_TOO_OLD: return "--max-age S";
    case NSMV_ERR_POLICY_PCR_MISMATCH:
    case NSMV_ERR_POLICY_PCR_ABSENT: return "--expect-pcr I=HEX";
    case NSMV_ERR_POLICY_NONCE: return "--nonce HEX";
    case NSMV_ERR_POLICY_USER_DATA: return "--user-data HEX";
    case NSMV_ERR_POLICY_PUBLIC_KEY: return "--public-key HEX";
    case NSMV_ERR_POLICY_DEBUG_MODE: return "--refuse-debug";
    default: return NULL;
    }
}

/* With --fault the core replaced the document every time: say what nsm-verify will make
 * of it under each profile, and which option a policy failure needs to show. */
static void attest_say_fault(const nsmsim_options *options)
{
    nsmfault_set faults;
    nsmkit_error ignored;
    if (!options->faults || nsmfault_set_parse(options->faults, &faults, &ignored) != 0)
        return;
    bool resign = !options->fault_no_resign;
    nsmv_code aws = nsmfault_set_expected(&faults, NSMV_PROFILE_AWS, resign);
    nsmv_code strict = nsmfault_set_expected(&faults, NSMV_PROFILE_STRICT, resign);
    const char *needs = policy_option(aws);
    fprintf(stderr, "nsm-sim: fault %s: nsm-verify expects %s (aws), %s (strict)%s%s%s%s\n",
            options->faults, aws ? nsmv_code_name(aws) : "valid",
            strict ? nsmv_code_name(strict) : "valid",
            resign ? "" : "; the valid document's signature is kept",
            needs ? "; a policy failure: nsm-verify reports it only with " : "",
            needs ? needs : "", needs ? " (without it the document passes the policy stage)" : "");
}

static int write_output(const char *path, const uint8_t *data, size_t len, nsmkit_error *e)
{
    if (strcmp(path, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
            return nsmkit_fail(e, "cannot write to standard output");
        return 0;
    }
    return nsmkit_file_write(path, data, len, 0644, e);
}

static int cmd_attest(int argc, char **argv)
{
    attest_args a = {0};
    nsmsim_options_init(&a.options);
    nsmkit_error e = {{0}};
    nsmsim *sim = NULL;
    uint8_t *doc = NULL;
    size_t doc_len = 0;
    bool done = false;
    nsmsim_code code = attest_parse(argc, argv, &a, &done, &e);
    if (done) { /* --help, --version, or a usage error already said */
        attest_args_free(&a);
        return code == NSMSIM_ERR_USAGE ? 2 : 0;
    }
    if (code == NSMSIM_ERR_OK)
        code = attest_boot(&a.options, &sim, &e);
    if (code == NSMSIM_ERR_OK)
        code = attest_request(sim, &a, &doc, &doc_len, &e);
    if (code == NSMSIM_ERR_OK)
        attest_say_fault(&a.options);
    if (code == NSMSIM_ERR_OK && write_output(a.output, doc, doc_len, &e) != 0)
        code = NSMSIM_ERR_OUTPUT;
    int status = 0;
    if (code != NSMSIM_ERR_OK)
        status = attest_fail(code, e.msg);
    else
        fprintf(stderr, "nsm-sim: wrote a %zu-byte attestation document for %s to %s\n",
                doc_len, nsmsim_module_id(sim), a.output);
    nsmsim_free(sim);
    free(doc);
    attest_args_free(&a);
    return status;
}

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"attest", cmd_attest},
    {"serve", nsmsim_cmd_serve},
    {"exec", nsmsim_cmd_exec},
    {"fuse", nsmsim_cmd_fuse},
    {"cuse", nsmsim_cmd_cuse},
};

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage("missing command");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    int n = argc - 1;
    nsmkit_error e;
    int r = nsmkit_opts_parse(&top_cli, &n, argv + 1, NULL, &e);
    if (r == NSMKIT_OPTS_DONE)
        return 0;
    return usage(r == NSMKIT_OPTS_RUN ? "unknown command" : e.msg);
}
