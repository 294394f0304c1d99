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

#include "fixture.h"

static char pki_dir[64];
static nsmca_pki *pki;
static nsmca_leaf *leaf;
static nsmsim *sim;
static uint8_t random_counter;
static nsmv_verifier *verifier_sim, *verifier_aws;
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
    nsmv_config config = {.root_der = root_der, .root_len = root_len, .cache_entries = 16,
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
    (void)fuzz_null_stream();
    return 0;
}
