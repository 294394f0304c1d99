/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cost of the simulated /dev/nsm's transport: requests per second and median latency of
 * DescribePCR (almost no work in the core, so nearly all transport) and Attestation (one
 * P-384 signature) along three paths, measured in the same run:
 *
 *   core      nsmsim_handle called directly (no transport at all)
 *   shim      ioctl(NSM_IOCTL_RAW) under the LD_PRELOAD shim, core in the process
 *   server    the same ioctl, forwarded by the shim to `nsm-sim serve`'s loop over a socket
 *   fuse      the ioctl system call on the FUSE /dev/nsm of `nsm-sim exec --device fuse`
 *             (kernel round trip to the launcher, process_vm_readv/writev of the caller)
 *
 * beside OpenSSL's own P-384 signing rate. The transport's cost is the difference of the
 * medians against the core; the target is under 50 microseconds per request.
 *
 * The shim paths run in child processes (this binary again, with LD_PRELOAD), the server
 * in a thread of this process. Rounds alternate between the paths so that a noisy
 * neighbour on a shared machine hurts all of them; the best round of each is reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../frontends/devnsm/codec.h"
#include "../nsm-sim/commands.h"
#include "../frontends/transports/device.h"
#include "../frontends/transports/core_handler.h"
#include "../frontends/transports/server.h"
#include "nsmkit/error.h"
#include "nsmkit/sim.h"

#define DESCRIBE_COUNT 10000
#define ATTEST_COUNT 150
#define ROUNDS 3

/* The two requests, from the message table (DescribePCR of PCR16; Attestation with every
 * field null), built once in main. */
static uint8_t describe_req[64], attest_req[64];
static size_t describe_req_len, attest_req_len;

static int build_requests(void)
{
    nsmkit_buf b;
    nsmkit_buf_init(&b, sizeof(describe_req));
    nsmsim_api_encode_describe_pcr(&b, 16);
    int ok = !b.err;
    if (ok) {
        memcpy(describe_req, b.data, b.len);
        describe_req_len = b.len;
    }
    nsmkit_buf_reset(&b);
    nsmsim_api_encode_attestation(&b, NSMKIT_BYTES_NONE, NSMKIT_BYTES_NONE, NSMKIT_BYTES_NONE);
    ok = ok && !b.err;
    if (ok) {
        memcpy(attest_req, b.data, b.len);
        attest_req_len = b.len;
    }
    nsmkit_buf_free(&b);
    return ok ? 0 : -1;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double rate;      /* requests per second */
    double median_us; /* per request */
} figure;

typedef int (*request_fn)(void *ctx, const uint8_t *req, size_t len);

static figure measure(request_fn fn, void *ctx, const uint8_t *req, size_t len, int count)
{
    double *lat = malloc(sizeof(double) * (size_t)count);
    figure f = {0, 0};
    if (!lat)
        return f;
    for (int i = 0; i < count / 20 + 1; i++) /* warm up: connections, leaf, caches */
        if (fn(ctx, req, len) != 0)
            goto out;
    double start = now_us();
    for (int i = 0; i < count; i++) {
        double t = now_us();
        if (fn(ctx, req, len) != 0)
            goto out;
        lat[i] = now_us() - t;
    }
    double total = now_us() - start;
    qsort(lat, (size_t)count, sizeof(double), compare);
    f.rate = count / (total / 1e6);
    f.median_us = lat[count / 2];
out:
    free(lat);
    return f;
}

static int core_request(void *ctx, const uint8_t *req, size_t len)
{
    static uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    size_t n;
    return nsmsim_handle(ctx, req, len, resp, &n) == 0 && n > 20 && resp[0] == 0xa1 &&
                   resp[2] != 'E'
               ? 0
               : -1;
}

static int ioctl_request(void *ctx, const uint8_t *req, size_t len)
{
    static uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    struct nsm_raw r = {{(uintptr_t)req, len}, {(uintptr_t)resp, sizeof(resp)}};
    return ioctl(*(int *)ctx, NSM_IOCTL_RAW, &r) == 0 && r.response.len > 20 && resp[2] != 'E'
               ? 0
               : -1;
}

/* In a child under the shim: prints "describe RATE MEDIAN" and "attest RATE MEDIAN". */
static int child(void)
{
    int fd = open("/dev/nsm", O_RDWR);
    if (fd < 0) {
        fprintf(stderr, "devnsm_bench: open /dev/nsm: %s (shim not preloaded?)\n", strerror(errno));
        return 1;
    }
    figure d = measure(ioctl_request, &fd, describe_req, describe_req_len, DESCRIBE_COUNT);
    figure a = measure(ioctl_request, &fd, attest_req, attest_req_len, ATTEST_COUNT);
    if (d.rate == 0 || a.rate == 0)
        return 1;
    printf("describe %f %f\nattest %f %f\n", d.rate, d.median_us, a.rate, a.median_us);
    return 0;
}

/* Runs this binary as a child with the shim and the given extra variable, or (nsm_sim set)
 * under `nsm-sim exec --device fuse --ca ca_dir`; reads its figures. */
static int run_child(const char *self, const char *shim, const char *extra, const char *nsm_sim,
                     const char *ca_dir, figure *d, figure *a)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        if (nsm_sim) {
            execl(nsm_sim, "nsm-sim", "exec", "--device", "fuse", "--ca", ca_dir, "--", self,
                  "--child", (char *)NULL);
            _exit(127);
        }
        char preload[8192];
        const char *runtime = nsmsim_sanitizer_runtime();
        snprintf(preload, sizeof(preload), "%s%s%s", runtime ? runtime : "", runtime ? ":" : "",
                 shim);
        setenv("LD_PRELOAD", preload, 1);
        if (extra)
            putenv((char *)(uintptr_t)extra);
        execl(self, self, "--child", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    int got = f ? fscanf(f, "describe %lf %lf\nattest %lf %lf", &d->rate, &d->median_us,
                         &a->rate, &a->median_us)
                : 0;
    if (f)
        fclose(f);
    int st;
    waitpid(pid, &st, 0);
    return got == 4 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static double openssl_sign_rate(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY_CTX *ctx = key ? EVP_PKEY_CTX_new(key, NULL) : NULL;
    unsigned char tbs[48] = {0}, sig[256];
    double rate = 0;
    if (ctx && EVP_PKEY_sign_init(ctx) > 0) {
        long count = 0;
        double start = now_us(), end;
        do {
            for (int i = 0; i < 16; i++) {
                size_t sig_len = sizeof(sig);
                if (EVP_PKEY_sign(ctx, sig, &sig_len, tbs, sizeof(tbs)) <= 0)
                    goto out;
            }
            count += 16;
            end = now_us();
        } while (end - start < 1e6);
        rate = count / ((end - start) / 1e6);
    }
out:
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    return rate;
}

static nsmsim_server *server;
static int stop_pipe[2];

static void *serve(void *arg)
{
    (void)arg;
    nsmkit_error e;
    if (nsmsim_server_run(server, stop_pipe[0], &e) != 0)
        fprintf(stderr, "devnsm_bench: %s\n", e.msg);
    return NULL;
}

static void best(figure *keep, figure f)
{
    keep->rate = f.rate > keep->rate ? f.rate : keep->rate;
    keep->median_us = f.median_us < keep->median_us ? f.median_us : keep->median_us;
}

static void row(const char *path, figure f, double core_median)
{
    printf("  %-42s %9.0f /s  median %8.1f us", path, f.rate, f.median_us);
    if (core_median > 0)
        printf("  (transport %+.1f us)", f.median_us - core_median);
    printf("\n");
}

int main(int argc, char **argv)
{
    if (build_requests() != 0)
        return 1;
    if (argc > 1 && !strcmp(argv[1], "--child"))
        return child();

    char self[4096], shim[4200], nsm_sim[4200];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    snprintf(shim, sizeof(shim), "%.*s/../lib/libnsm-sim-preload.so",
             (int)(strrchr(self, '/') - self), self);
    snprintf(nsm_sim, sizeof(nsm_sim), "%.*s/../bin/nsm-sim", (int)(strrchr(self, '/') - self),
             self);
    if (access(shim, R_OK) != 0 || access(nsm_sim, X_OK) != 0) {
        fprintf(stderr, "devnsm_bench: %s or %s is missing (make all)\n", shim, nsm_sim);
        return 1;
    }
    char dir[] = "/tmp/nsmkit-devnsm-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    nsmkit_error e;
    nsmsim_options options;
    nsmsim_options_init(&options);
    options.ca_dir = dir;
    nsmsim *sim = NULL, *served = NULL;
    if (nsmca_init(dir, NULL, &e) != 0 || nsmsim_new(&options, &sim, &e) != 0 ||
        nsmsim_new(&options, &served, &e) != 0) {
        fprintf(stderr, "devnsm_bench: %s\n", e.msg);
        return 1;
    }
    static char ca_env[128], socket_env[128];
    snprintf(ca_env, sizeof(ca_env), "NSM_SIM_CA=%s", dir);
    putenv(ca_env);
    char socket_path[100];
    snprintf(socket_path, sizeof(socket_path), "%s/nsm.sock", dir);
    snprintf(socket_env, sizeof(socket_env), "NSM_SIM_SOCKET=%s", socket_path);
    nsmsim_server_options so = {.socket_path = socket_path, .log_prefix = "devnsm_bench"};
    pthread_t th;
    if (nsmsim_server_open(&so, nsmsim_core_handler, served, &server, &e) != 0 ||
        pipe(stop_pipe) != 0 || pthread_create(&th, NULL, serve, NULL) != 0) {
        fprintf(stderr, "devnsm_bench: %s\n", e.msg);
        return 1;
    }

    /* The FUSE path needs /dev/fuse and a mount namespace: measured where they exist. */
    char probe[9000];
    snprintf(probe, sizeof(probe), "'%s' exec --device fuse --ca '%s' -- true", nsm_sim, dir);
    bool fuse_ok = system(probe) == 0;
    if (!fuse_ok)
        printf("SKIP: the FUSE device cannot work here (the line above says why): no FUSE row\n");
    figure fuse_d = {0, 1e18}, fuse_a = {0, 1e18};

    double sign_rate = 0;
    figure core_d = {0, 1e18}, core_a = {0, 1e18}, shim_d = {0, 1e18}, shim_a = {0, 1e18},
           srv_d = {0, 1e18}, srv_a = {0, 1e18};
    int rc = 0;
    for (int round = 0; round < ROUNDS && rc == 0; round++) {
        double s = openssl_sign_rate();
        figure cd = measure(core_request, sim, describe_req, describe_req_len, DESCRIBE_COUNT);
        figure ca = measure(core_request, sim, attest_req, attest_req_len, ATTEST_COUNT);
        figure sd, sa, vd, va, fd = {0, 0}, fa = {0, 0};
        if (s == 0 || cd.rate == 0 || ca.rate == 0 ||
            run_child(self, shim, NULL, NULL, NULL, &sd, &sa) != 0 ||
            run_child(self, shim, socket_env, NULL, NULL, &vd, &va) != 0 ||
            (fuse_ok && run_child(self, NULL, NULL, nsm_sim, dir, &fd, &fa) != 0)) {
            fprintf(stderr, "devnsm_bench: a measurement failed\n");
            rc = 1;
            break;
        }
        sign_rate = s > sign_rate ? s : sign_rate;
        best(&core_d, cd);
        best(&core_a, ca);
        best(&shim_d, sd);
        best(&shim_a, sa);
        best(&srv_d, vd);
        best(&srv_a, va);
        if (fuse_ok) {
            best(&fuse_d, fd);
            best(&fuse_a, fa);
        }
    }
    if (rc == 0) {
        printf("simulated /dev/nsm, one client, best of %d rounds (%d DescribePCR, %d Attestation"
               " per path and round):\n",
               ROUNDS, DESCRIBE_COUNT, ATTEST_COUNT);
        printf(" DescribePCR\n");
        row("core (nsmsim_handle, no transport)", core_d, 0);
        row("shim, in-process core (ioctl)", shim_d, core_d.median_us);
        row("shim -> socket -> server (ioctl)", srv_d, core_d.median_us);
        if (fuse_ok)
            row("FUSE /dev/nsm -> exec's core (ioctl syscall)", fuse_d, core_d.median_us);
        printf(" Attestation (one P-384 signature each)\n");
        row("core (nsmsim_handle, no transport)", core_a, 0);
        row("shim, in-process core (ioctl)", shim_a, core_a.median_us);
        row("shim -> socket -> server (ioctl)", srv_a, core_a.median_us);
        if (fuse_ok)
            row("FUSE /dev/nsm -> exec's core (ioctl syscall)", fuse_a, core_a.median_us);
        printf(" OpenSSL P-384 sign (EVP_PKEY_sign):          %9.0f /s  (%.1f us each)\n",
               sign_rate, 1e6 / sign_rate);
        printf(" attestation signing cost: core attestation %.1f us = %.2f x OpenSSL's sign\n",
               core_a.median_us, core_a.median_us * sign_rate / 1e6);
        double worst = srv_d.median_us - core_d.median_us;
        printf(" transport cost per request (server path, DescribePCR): %.1f us (target < 50 us)\n",
               worst);
        if (fuse_ok)
            printf(" transport cost per request (FUSE device, DescribePCR): %.1f us (target < 50 us)\n",
                   fuse_d.median_us - core_d.median_us);
    }
    if (write(stop_pipe[1], "x", 1) != 1)
        rc = 1;
    pthread_join(th, NULL);
    nsmsim_server_close(server);
    nsmsim_free(sim);
    nsmsim_free(served);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
