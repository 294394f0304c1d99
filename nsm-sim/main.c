/* nsm-sim: the simulated Nitro Secure Module's command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend.h"
#include "nsmkit/sim.h"
#include "nsmkit/error.h"
#include "nsmkit/buf.h"
#include "nsmkit/cbor_head.h"
#include "nsmkit/cbor.h"
#include "nsmkit/hex.h"
#include "nsmkit/file.h"
#include "nsmkit/fault.h"

static const char usage_text[] =
    "usage: nsm-sim attest [state options] [--nonce HEX|@FILE] [--user-data HEX|@FILE]\n"
    "                      [--public-key HEX|@FILE] -o FILE\n"
    "       nsm-sim serve --socket PATH [state options]\n"
    "       nsm-sim exec [state options] [--] COMMAND [ARGS]\n"
    "\n"
    "attest  boots a simulated NSM and writes one attestation document (COSE_Sign1) to\n"
    "        FILE ('-' for standard output).\n"
    "serve   serves one simulated NSM on a unix socket (u32 LE length || CBOR frames),\n"
    "        shared by every client; stops on SIGINT or SIGTERM.\n"
    "exec    runs COMMAND with a simulated /dev/nsm (LD_PRELOAD shim and a private\n"
    "        server); exits with COMMAND's status.\n"
    "\n"
    "state options:\n"
    "  --ca DIR                  the simulated PKI (default: ${XDG_STATE_HOME:-$HOME/.local/state}\n"
    "                            /nsmkit/ca, created on first use)\n"
    "  --time UNIX_MS            a fixed clock instead of the real one\n"
    "  --pcr I=HEX               boot PCR I (0..15), 48 bytes of hex; repeatable\n"
    "  --measurements FILE       boot PCRs from the JSON `nitro-cli build-enclave` prints\n"
    "  --debug-mode              a debug enclave: every boot PCR reads zero\n"
    "  --map definite|indefinite payload map encoding (real documents use both)\n"
    "  --fault CLASS[,CLASS]     malformed attestation documents (`nsm-vectors list`)\n"
    "  --fault-every N | --fault-rate P [--seed S]\n"
    "                            only every Nth document, or each with chance P (default: all)\n"
    "  --no-resign               keep the valid document's signature after the fault\n"
    "\n"
    "user_data, nonce and public_key take at most 1024 bytes each.\n"
    "Faulty documents are signed by a leaf of the same PKI; payload faults are re-signed unless\n"
    "--no-resign. Under serve and exec the device itself returns them through /dev/nsm.\n";

static int usage(const char *problem)
{
    if (problem)
        fprintf(stderr, "nsm-sim: %s\n", problem);
    fputs(usage_text, problem ? stderr : stdout);
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

typedef struct {
    uint8_t *data;
    size_t len;
} field;

static void put_field(nsmkit_buf *b, const char *name, const field *f)
{
    nsmkit_cbor_put_text(b, name);
    if (f->data)
        nsmkit_cbor_put_bytes(b, f->data, f->len);
    else
        nsmkit_cbor_put_null(b);
}

/* Copies the document out of {"Attestation": {"document": bstr}} (caller frees), or names
 * the error of {"Error": "Name"}. */
static int response_document(const uint8_t *resp, size_t len, uint8_t **doc,
                             size_t *doc_len, nsmkit_error *e)
{
    static const nsmkit_cbor_limits limits = {.max_depth = 4};
    cbor_item_t *item;
    if (nsmkit_cbor_load(resp, len, &limits, &item, NULL) != NSMKIT_CBOR_OK)
        return nsmkit_fail(e, "the simulated NSM gave an undecodable response");
    int rc = -1;
    if (cbor_isa_map(item) && cbor_map_size(item) == 1) {
        struct cbor_pair *top = cbor_map_handle(item);
        if (nsmkit_cbor_text_equals(top[0].key, "Error") && cbor_isa_string(top[0].value) &&
            cbor_string_is_definite(top[0].value)) {
            nsmkit_fail(e, "the simulated NSM answered %.*s", (int)cbor_string_length(top[0].value),
                        (const char *)cbor_string_handle(top[0].value));
        } else if (nsmkit_cbor_text_equals(top[0].key, "Attestation") &&
                   cbor_isa_map(top[0].value) && cbor_map_size(top[0].value) == 1) {
            struct cbor_pair *inner = cbor_map_handle(top[0].value);
            if (nsmkit_cbor_text_equals(inner[0].key, "document") &&
                cbor_isa_bytestring(inner[0].value) &&
                cbor_bytestring_is_definite(inner[0].value)) {
                size_t n = cbor_bytestring_length(inner[0].value);
                *doc = malloc(n ? n : 1);
                if (*doc) {
                    if (n)
                        memcpy(*doc, cbor_bytestring_handle(inner[0].value), n);
                    *doc_len = n;
                    rc = 0;
                }
            }
        }
    }
    if (rc != 0 && !e->msg[0])
        nsmkit_fail(e, "the simulated NSM gave an unexpected response");
    cbor_decref(&item);
    return rc;
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
    nsmsim_options options;
    nsmsim_options_init(&options);
    field user_data = {0}, nonce = {0}, public_key = {0};
    const char *output = NULL;
    nsmkit_error e = {{0}};
    nsmsim *sim = NULL;
    uint8_t *doc = NULL;
    nsmkit_buf request;
    nsmkit_buf_init(&request, NSM_REQUEST_MAX_SIZE);
    uint8_t *response = malloc(NSM_RESPONSE_MAX_SIZE);
    int status = 1;

    if (!response) {
        fprintf(stderr, "nsm-sim: out of memory\n");
        goto out;
    }
    for (int i = 0; i < argc;) {
        int taken = nsmsim_options_parse_arg(&options, argc, argv, &i, &e);
        if (taken < 0) {
            fprintf(stderr, "nsm-sim: %s\n", e.msg);
            status = 2;
            goto out;
        }
        if (taken > 0)
            continue;
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        field *target = strcmp(arg, "--user-data") == 0    ? &user_data
                        : strcmp(arg, "--nonce") == 0      ? &nonce
                        : strcmp(arg, "--public-key") == 0 ? &public_key
                                                           : NULL;
        if (target && value) {
            free(target->data);
            target->data = NULL;
            if (load_field(arg + 2, value, &target->data, &target->len, &e) != 0) {
                fprintf(stderr, "nsm-sim: %s\n", e.msg);
                status = 2;
                goto out;
            }
        } else if (strcmp(arg, "-o") == 0 && value) {
            output = value;
        } else {
            status = usage(target || strcmp(arg, "-o") == 0 ? "option needs a value"
                                                            : "unknown option");
            goto out;
        }
        i += 2;
    }
    if (!output) {
        status = usage("attest needs -o FILE");
        goto out;
    }

    char default_dir[4096] = "";
    if (!options.ca_dir && nsmca_default_dir(default_dir, sizeof(default_dir), &e) != 0) {
        fprintf(stderr, "nsm-sim: %s\n", e.msg);
        goto out;
    }
    if (nsmsim_new(&options, &sim, &e) != 0) {
        fprintf(stderr, "nsm-sim: %s\n", e.msg);
        goto out;
    }
    /* Only the process that created it says so, however many started at once. */
    if (nsmsim_created_default_pki(sim))
        fprintf(stderr, "nsm-sim: created a simulated Nitro PKI in %s (root: %s/root.pem)\n",
                default_dir, default_dir);

    /* The request exactly as the official client writes it. */
    nsmkit_cbor_put_head(&request, NSMKIT_CBOR_MAP, 1);
    nsmkit_cbor_put_text(&request, "Attestation");
    nsmkit_cbor_put_head(&request, NSMKIT_CBOR_MAP, 3);
    put_field(&request, "user_data", &user_data);
    put_field(&request, "nonce", &nonce);
    put_field(&request, "public_key", &public_key);
    if (request.err) {
        fprintf(stderr, "nsm-sim: the request does not fit in %d bytes\n", NSM_REQUEST_MAX_SIZE);
        goto out;
    }
    size_t response_len;
    size_t doc_len = 0;
    if (nsmsim_handle(sim, request.data, request.len, response, &response_len) != 0 ||
        response_document(response, response_len, &doc, &doc_len, &e) != 0) {
        if (nsmsim_fault_error(sim))
            fprintf(stderr, "nsm-sim: --fault: %s\n", nsmsim_fault_error(sim));
        else
            fprintf(stderr, "nsm-sim: %s\n", e.msg[0] ? e.msg : "the simulated NSM failed");
        goto out;
    }
    if (options.faults) {
        /* the core replaced the document (device fault mode, every time): say what to expect */
        nsmfault_set faults;
        if (nsmfault_set_parse(options.faults, &faults, &e) == 0) {
            bool resign = !options.fault_no_resign;
            nsmv_code aws = nsmfault_set_expected(&faults, NSMV_PROFILE_AWS, resign);
            nsmv_code strict = nsmfault_set_expected(&faults, NSMV_PROFILE_STRICT, resign);
            fprintf(stderr, "nsm-sim: fault %s: nsm-verify expects %s (aws), %s (strict)%s\n",
                    options.faults, aws ? nsmv_code_name(aws) : "valid",
                    strict ? nsmv_code_name(strict) : "valid",
                    resign ? "" : "; the valid document's signature is kept");
        }
    }
    if (write_output(output, doc, doc_len, &e) != 0) {
        fprintf(stderr, "nsm-sim: %s\n", e.msg);
        goto out;
    }
    fprintf(stderr, "nsm-sim: wrote a %zu-byte attestation document for %s to %s\n", doc_len,
            nsmsim_module_id(sim), output);
    status = 0;
out:
    nsmsim_free(sim);
    free(doc);
    free(user_data.data);
    free(nonce.data);
    free(public_key.data);
    free(response);
    nsmkit_buf_free(&request);
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
};

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage("missing command");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(NULL);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    return usage("unknown command");
}
