/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fuzz targets' fixture (see fixture.h). Everything is created once, on first use, and
 * reset per input where it holds state.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../frontends/devnsm/codec.h"
#include "../verifier/internal.h"
#include "fixture.h"

static char pki_dir[64];
static nsmca_pki *pki;
static nsmca_leaf *leaf;
static nsmsim *sim;
static uint8_t random_counter;
static nsmv_verifier *verifier_sim, *verifier_aws;
static nsmv_cache *warm_cache; /* the fixture's intermediates, verified once */
static FILE *null_stream;

void fuzz_fail(const char *target, const char *what)
{
    fprintf(stderr, "%s: %s\n", target, what);
    abort();
}

static void setup_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz fixture: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void remove_pki_dir(void)
{
    if (!pki_dir[0])
        return;
    DIR *d = opendir(pki_dir);
    if (d) {
        struct dirent *entry;
        while ((entry = readdir(d)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                continue;
            char path[sizeof(pki_dir) + 300];
            snprintf(path, sizeof(path), "%s/%s", pki_dir, entry->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(pki_dir);
}

const char *fuzz_pki_dir(void)
{
    if (pki_dir[0])
        return pki_dir;
    const char *tmp = getenv("TMPDIR");
    snprintf(pki_dir, sizeof(pki_dir), "%s/nsmkit-fuzz-XXXXXX",
             tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(pki_dir))
        setup_fail("cannot create a temporary directory", strerror(errno));
    atexit(remove_pki_dir);
    for (size_t i = 0; i < fuzz_pki_file_count; i++) {
        char path[sizeof(pki_dir) + 64];
        snprintf(path, sizeof(path), "%s/%s", pki_dir, fuzz_pki_files[i].name);
        /* keys must be 0600 for nsmca_open; certificates may be too */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, fuzz_pki_files[i].data, fuzz_pki_files[i].len) !=
                          (ssize_t)fuzz_pki_files[i].len)
            setup_fail("cannot write the fixture PKI", path);
        close(fd);
    }
    return pki_dir;
}

nsmca_pki *fuzz_pki(void)
{
    nsmkit_error e;
    if (!pki && nsmca_open(fuzz_pki_dir(), &pki, &e) != 0)
        setup_fail("cannot open the fixture PKI", e.msg);
    return pki;
}

const nsmca_leaf *fuzz_leaf(void)
{
    static const uint8_t enclave_id[NSMCA_ENCLAVE_ID_LEN] = {0x01, 0x9a, 0x5e, 0x0f,
                                                             0x2b, 0x70, 0x00, 0x01};
    nsmkit_error e;
    if (!leaf && nsmca_leaf_issue(fuzz_pki(), enclave_id, FUZZ_SIM_TIME_MS / 1000, &leaf, &e) != 0)
        setup_fail("cannot issue the fixture leaf", e.msg);
    return leaf;
}

static int counting_random(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        out[i] = random_counter++;
    return 0;
}

nsmsim *fuzz_sim_fresh(void)
{
    if (!sim) {
        nsmkit_error e;
        nsmsim_options options;
        nsmsim_options_init(&options);
        options.ca_dir = fuzz_pki_dir();
        options.time_ms = FUZZ_SIM_TIME_MS;
        options.random = counting_random;
        if (nsmsim_new(&options, &sim, &e) != 0)
            setup_fail("cannot boot the simulated NSM", e.msg);
    }
    if (nsmsim_reboot(sim) != 0)
        setup_fail("cannot reboot the simulated NSM", NULL);
    random_counter = 0;
    return sim;
}

static nsmv_verifier *verifier_for(const uint8_t *root_der, size_t root_len, bool cache)
{
    nsmv_config config = {.root_der = root_der, .root_len = root_len, .cache_entries = FUZZ_CACHE_ENTRIES,
                          .no_cache = !cache};
    nsmv_verifier *v;
    nsmv_error e;
    if (nsmv_verifier_new(&config, &v, &e) != 0)
        setup_fail("cannot create a verifier", e.msg);
    return v;
}

nsmv_verifier *fuzz_verifier_sim(void)
{
    if (verifier_sim) {
        nsmv_verifier_cache_clear(verifier_sim);
    } else {
        size_t len;
        const uint8_t *root = nsmca_cert_der(fuzz_pki(), 0, &len);
        verifier_sim = verifier_for(root, len, true);
    }
    return verifier_sim;
}

/* Verifies one document of the simulated NSM (the fixture's PKI, a leaf of its own) with
 * an empty cache, then keeps what the cache holds without the leaf: the fixture's
 * intermediates, verified, as a long-running verifier holds them. */
static void warm_up(void)
{
    nsmkit_buf request, document;
    uint8_t response[NSM_RESPONSE_MAX_SIZE];
    size_t response_len = 0;
    nsmsim_api_response decoded;
    nsmkit_bytes none = {NULL, 0};
    nsmv_options options;
    nsmv_result result;

    nsmkit_buf_init(&request, NSM_REQUEST_MAX_SIZE);
    nsmsim_api_encode_attestation(&request, none, none, none);
    if (request.err || nsmsim_handle(fuzz_sim_fresh(), request.data, request.len, response,
                                     &response_len) != 0)
        setup_fail("the simulated NSM gave no document", NULL);
    nsmkit_buf_free(&request);
    if (nsmsim_api_response_decode(response, response_len, &decoded) != 0 ||
        decoded.kind != NSMSIM_RESP_ATTESTATION)
        setup_fail("the simulated NSM's answer is not a document", NULL);
    nsmkit_buf_init(&document, NSM_RESPONSE_MAX_SIZE);
    nsmkit_buf_append(&document, decoded.bytes, decoded.bytes_len);
    nsmsim_api_response_free(&decoded);

    nsmv_verifier *v = fuzz_verifier_sim();
    fuzz_verify_options(&options);
    if (document.err || nsmv_verify(v, document.data, document.len, &options, &result) != NSMV_OK)
        setup_fail("the fixture's own document does not verify", result.failures[0].detail);
    nsmkit_buf_free(&document);
    nsmv_cache_forget_leaves(v->cache);
    warm_cache = nsmv_cache_new(FUZZ_CACHE_ENTRIES);
    if (!warm_cache || nsmv_cache_copy(warm_cache, v->cache) != 0)
        setup_fail("cannot keep the warm cache", NULL);
    nsmv_verifier_cache_clear(v);
    (void)fuzz_sim_fresh(); /* the NSM as every input finds it */
}

nsmv_verifier *fuzz_verifier_sim_warm(void)
{
    if (!warm_cache)
        warm_up();
    if (nsmv_cache_copy(verifier_sim->cache, warm_cache) != 0)
        setup_fail("cannot restore the warm cache", NULL);
    return verifier_sim;
}

nsmv_verifier *fuzz_verifier_aws(void)
{
    if (!verifier_aws)
        verifier_aws = verifier_for(NULL, 0, false);
    return verifier_aws;
}

void fuzz_verify_options(nsmv_options *options)
{
    nsmv_options_init(options);
    options->time_mode = NSMV_TIME_FIXED;
    options->time_s = FUZZ_VERIFY_TIME_S;
    options->report_all = true;
}

FILE *fuzz_null_stream(void)
{
    if (!null_stream && !(null_stream = fopen("/dev/null", "we")))
        setup_fail("cannot open /dev/null", strerror(errno));
    return null_stream;
}

/* Sets the fixture up before the first input, so that its cost is not counted in it. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)fuzz_leaf();
    (void)fuzz_sim_fresh();
    (void)fuzz_verifier_sim();
    (void)fuzz_verifier_aws();
    (void)fuzz_verifier_sim_warm();
    (void)fuzz_null_stream();
    return 0;
}
