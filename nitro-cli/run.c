/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-nitro-cli run-enclave: checks the image with nsmkit's strict reader (a malformed image
 * never boots), then starts `nsm-qemu run-eif` detached (its own session, stdin from
 * /dev/null, stdout and stderr into the enclave's console.log) and returns with
 * nitro-cli's JSON while the enclave boots in the background.
 *
 * Flags as nitro-cli's: --eif-path, --cpu-count | --cpu-ids, --memory, --enclave-cid,
 * --debug-mode, --attach-console, --enclave-name, or --config FILE holding the same as JSON
 * (eif_path, cpu_count, cpu_ids, memory_mib, enclave_cid, debug_mode, enclave_name,
 * attach_console). nsmkit's own: --ca DIR (the simulated PKI), --vsock-dir DIR (the emulated
 * vsock network; default as nsm-vsock's), --timeout S (run-eif's watchdog; default none). Without --enclave-cid the first free CID from 16
 * is taken. CPUIDs are the guest's vCPU numbers (QEMU pins no host CPU).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nsmkit/eif.h"
#include "nsmkit/hex.h"

#include "enclave_state.h"
#include "nitro_cli.h"

#define DEFAULT_CID 16
#define MAX_CPUS 64

typedef struct {
    const char *eif, *name, *ca, *vsock_dir, *timeout;
    uint64_t cpus, memory, cid;
    bool have_cid, debug, attach;
    json_t *config; /* --config's JSON (owned), the strings above may point into it */
} run_args;

static const char run_help[] =
    "usage: nsm-nitro-cli run-enclave --eif-path FILE --memory MIB (--cpu-count N | --cpu-ids ID...)\n"
    "           [--enclave-cid CID] [--debug-mode] [--attach-console] [--enclave-name NAME]\n"
    "           [--ca DIR] [--vsock-dir DIR] [--timeout S]\n"
    "       nsm-nitro-cli run-enclave --config FILE.json\n"
    "Starts the image in a QEMU guest (nsm-qemu run-eif) in the background and prints\n"
    "nitro-cli's JSON (EnclaveName, EnclaveID, ProcessID, EnclaveCID, NumberOfCPUs, CPUIDs,\n"
    "MemoryMiB). The console goes to the enclave's state directory; `console` streams it\n"
    "for a --debug-mode enclave.\n";

static int number(const char *flag, const char *text, uint64_t max, uint64_t *out,
                  nsmkit_error *e)
{
    if (!nsmkit_parse_u64(text, out) || *out > max)
        return nsmkit_fail(e, "%s takes a whole number up to %llu, not %s", flag,
                           (unsigned long long)max, text);
    return 0;
}

static int from_config(run_args *a, const char *path, nsmkit_error *e)
{
    json_error_t je;
    a->config = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(a->config))
        return nsmkit_fail(e, "%s: not a JSON object (%s)", path, je.text);
    json_t *c = a->config, *v;
    a->eif = json_string_value(json_object_get(c, "eif_path"));
    a->name = json_string_value(json_object_get(c, "enclave_name"));
    a->memory = (uint64_t)json_integer_value(json_object_get(c, "memory_mib"));
    a->cpus = (uint64_t)json_integer_value(json_object_get(c, "cpu_count"));
    if ((v = json_object_get(c, "cpu_ids")) != NULL)
        a->cpus = json_array_size(v);
    if ((v = json_object_get(c, "enclave_cid")) != NULL && json_is_integer(v))
        a->cid = (uint64_t)json_integer_value(v), a->have_cid = true;
    a->debug = json_is_true(json_object_get(c, "debug_mode"));
    a->attach = json_is_true(json_object_get(c, "attach_console"));
    return 0;
}

static int parse_run(int argc, char **argv, run_args *a, nsmkit_error *e)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(f, "--debug-mode") == 0 || strcmp(f, "--attach-console") == 0) {
            *(f[2] == 'd' ? &a->debug : &a->attach) = true;
            a->debug = a->debug || a->attach; /* --attach-console implies debug mode */
            continue;
        }
        if (v == NULL)
            return nsmkit_fail(e, "%s: unknown flag or missing value", f);
        if (strcmp(f, "--cpu-ids") == 0) { /* one or more IDs: only their count matters */
            for (a->cpus = 0; i + 1 < argc && argv[i + 1][0] != '-'; i++, a->cpus++)
                ;
            continue;
        }
        if (strcmp(f, "--eif-path") == 0)
            a->eif = v;
        else if (strcmp(f, "--enclave-name") == 0)
            a->name = v;
        else if (strcmp(f, "--ca") == 0)
            a->ca = v;
        else if (strcmp(f, "--vsock-dir") == 0)
            a->vsock_dir = v;
        else if (strcmp(f, "--timeout") == 0)
            a->timeout = v;
        else if (strcmp(f, "--config") == 0)
            rc = from_config(a, v, e);
        else if (strcmp(f, "--cpu-count") == 0)
            rc = number(f, v, MAX_CPUS, &a->cpus, e);
        else if (strcmp(f, "--memory") == 0)
            rc = number(f, v, 1u << 20, &a->memory, e);
        else if (strcmp(f, "--enclave-cid") == 0)
            rc = number(f, v, UINT32_MAX - 1, &a->cid, e), a->have_cid = true;
        else
            return nsmkit_fail(e, "%s: unknown flag", f);
        if (rc != 0)
            return -1;
        i++;
    }
    if (a->eif == NULL || a->memory == 0 || a->cpus == 0)
        return nsmkit_fail(e, "--eif-path, --memory and --cpu-count (or --cpu-ids) are "
                              "required (or --config FILE)");
    /* the same bounds for --config's numbers as for the flags' */
    if (a->memory > (1u << 20) || a->cpus > MAX_CPUS || a->cid > UINT32_MAX - 1)
        return nsmkit_fail(e, "memory above 1 TiB, more than %d CPUs or a CID above "
                              "4294967294", MAX_CPUS);
    if (a->have_cid && a->cid < 4)
        return nsmkit_fail(e, "--enclave-cid must be at least 4 (0-2 are reserved, 3 is "
                              "the parent)");
    return 0;
}

/* i-<17 hex of the machine id>-enc<16 random hex>: the shape scripts split on "-enc". */
static void new_enclave_id(char *out, size_t cap)
{
    char machine[18] = "00000000000000000";
    FILE *f = fopen("/etc/machine-id", "r");
    if (f != NULL) {
        char buf[64] = {0};
        if (fgets(buf, sizeof(buf), f) && strspn(buf, "0123456789abcdef") >= 17)
            memcpy(machine, buf, 17);
        fclose(f);
    }
    uint8_t r[8] = {0};
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        uint64_t t = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        memcpy(r, &t, sizeof(r));
    }
    char hex[17];
    nsmkit_hex_encode(r, sizeof(r), hex);
    snprintf(out, cap, "i-%s-enc%s", machine, hex);
}

/* CID and name against the running enclaves: a given CID must be free; the name gets _1,
 * _2... as nitro-cli's does when taken. */
static nitrocli_code pick_cid_name(const char *base, run_args *a, char *name, size_t cap,
                                   nsmkit_error *e)
{
    static nitrocli_enclave list[NITROCLI_MAX_ENCLAVES];
    size_t n = nitrocli_enclaves_list(base, list, NITROCLI_MAX_ENCLAVES);
    nitrocli_code code = NITROCLI_ERR_OK;
    uint64_t cid = a->have_cid ? a->cid : DEFAULT_CID;
    for (size_t i = 0; i < n; i++) {
        if (!list[i].alive)
            continue;
        if ((uint64_t)json_integer_value(json_object_get(list[i].info, "EnclaveCID")) == cid) {
            if (a->have_cid) {
                nsmkit_fail(e, "CID %llu is used by %s", (unsigned long long)cid, list[i].id);
                code = NITROCLI_ERR_CID_IN_USE;
                break;
            }
            cid++, i = (size_t)-1; /* look again from the first */
        }
    }
    a->cid = cid;
    const char *slash = strrchr(a->eif, '/');
    char wanted[256];
    snprintf(wanted, sizeof(wanted), "%s", a->name ? a->name : slash ? slash + 1 : a->eif);
    size_t len = strlen(wanted);
    if (a->name == NULL && len > 4 && strcmp(wanted + len - 4, ".eif") == 0)
        wanted[len - 4] = '\0';
    snprintf(name, cap, "%s", wanted);
    for (unsigned suffix = 1; code == NITROCLI_ERR_OK; suffix++) {
        bool taken = false;
        for (size_t i = 0; i < n && !taken; i++) {
            const char *other = json_string_value(json_object_get(list[i].info, "EnclaveName"));
            taken = list[i].alive && other && strcmp(other, name) == 0;
        }
        if (!taken)
            break;
        snprintf(name, cap, "%s_%u", wanted, suffix);
    }
    nitrocli_enclaves_free(list, n);
    return code;
}

/* execv's argv is char *const[] for historical reasons; it never writes to the strings. */
static char *unconst(const char *s)
{
    char *p;
    memcpy(&p, &s, sizeof(p));
    return p;
}

/* The child: its own session, console.log for output, then nsm-qemu run-eif. */
static void exec_run_eif(const run_args *a, const char *dir)
{
    char console[PATH_MAX + 200], qemu[PATH_MAX], cid[24], mem[24], cpus[24];
    snprintf(console, sizeof(console), "%s/console.log", dir);
    const char *env = getenv("NSM_NITRO_CLI_QEMU");
    snprintf(qemu, sizeof(qemu), "%s", env && *env ? env : "");
    if (qemu[0] == '\0')
        snprintf(qemu, sizeof(qemu), "%s/nsm-qemu", nitrocli_exe_dir());
    snprintf(cid, sizeof(cid), "%llu", (unsigned long long)a->cid);
    snprintf(mem, sizeof(mem), "%llu", (unsigned long long)a->memory);
    snprintf(cpus, sizeof(cpus), "%llu", (unsigned long long)a->cpus);
    /* an enclave runs until it is terminated: run-eif's watchdog at its largest (115 days)
     * unless --timeout asks for one */
    char *argv[24] = {qemu, "run-eif", "--cid", cid, "--memory", mem, "--cpus", cpus,
                      "--timeout", a->timeout ? unconst(a->timeout) : "9999999"};
    int n = 10;
    if (a->debug)
        argv[n++] = "--debug-mode";
    if (a->ca)
        argv[n++] = "--ca", argv[n++] = unconst(a->ca);
    if (a->vsock_dir)
        argv[n++] = "--vsock-dir", argv[n++] = unconst(a->vsock_dir);
    argv[n++] = unconst(a->eif);
    argv[n] = NULL;
    setsid();
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open(console, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(127);
    execv(qemu, argv);
    fprintf(stderr, "nsm-nitro-cli: cannot run %s: %s\n", qemu, strerror(errno));
    _exit(127);
}

static json_t *run_info(const run_args *a, const char *id, const char *name, pid_t pid)
{
    json_t *cpu_ids = json_array();
    for (uint64_t i = 0; i < a->cpus; i++)
        json_array_append_new(cpu_ids, json_integer((json_int_t)i));
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:I}", "EnclaveName", name, "EnclaveID",
                     id, "ProcessID", (json_int_t)pid, "EnclaveCID", (json_int_t)a->cid,
                     "NumberOfCPUs", (json_int_t)a->cpus, "CPUIDs", cpu_ids, "MemoryMiB",
                     (json_int_t)a->memory);
}

/* Forks the enclave process and watches it briefly: an image nsm-qemu refuses, or a
 * missing nsm-qemu, ends here with the console's last lines. */
static nitrocli_code spawn(const run_args *a, const char *dir, pid_t *pid_out, nsmkit_error *e)
{
    pid_t pid = fork();
    if (pid < 0)
        return nsmkit_fail(e, "fork: %s", strerror(errno)), NITROCLI_ERR_SPAWN;
    if (pid == 0)
        exec_run_eif(a, dir);
    for (int i = 0; i < 5; i++) { /* 0.5 s */
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "nsm-nitro-cli: the enclave process ended at once; its output:\n");
            nitrocli_console_tail(dir, 20, stderr);
            nsmkit_fail(e, "nsm-qemu run-eif exited with status %d",
                        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? NITROCLI_ERR_SPAWN
                                                                   : NITROCLI_ERR_BOOT;
        }
    }
    *pid_out = pid;
    return NITROCLI_ERR_OK;
}

static nitrocli_code start(run_args *a, const char *base, json_t **info, nsmkit_error *e)
{
    nsmeif_image image;
    if (nsmeif_read(a->eif, &image, NULL, NULL) != NSMEIF_ERR_OK) {
        nsmkit_fail(e, "%s: %d %s: %s", a->eif, (int)image.code, nsmeif_code_name(image.code),
                    image.reason.msg);
        nsmeif_image_free(&image);
        return NITROCLI_ERR_EIF_INVALID;
    }
    char *measurements = nsmeif_measurements_json(&image);
    nsmeif_image_free(&image);
    char name[300], id[NITROCLI_ID_MAX], dir[PATH_MAX + 80], console[PATH_MAX + 96];
    nitrocli_code code = pick_cid_name(base, a, name, sizeof(name), e);
    new_enclave_id(id, sizeof(id));
    snprintf(dir, sizeof(dir), "%s/%s", base, id);
    snprintf(console, sizeof(console), "%s/console.log", dir);
    int fd = -1;
    if (code == NITROCLI_ERR_OK && (mkdir(dir, 0700) != 0 ||
        (fd = open(console, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)) {
        nsmkit_fail(e, "%s: %s", dir, strerror(errno));
        code = NITROCLI_ERR_STATE_DIR;
    }
    if (fd >= 0)
        close(fd);
    pid_t pid = 0;
    if (code == NITROCLI_ERR_OK)
        code = spawn(a, dir, &pid, e);
    json_error_t je;
    json_t *m = measurements ? json_loads(measurements, 0, &je) : NULL;
    free(measurements);
    if (code == NITROCLI_ERR_OK) {
        *info = run_info(a, id, name, pid);
        json_t *saved = json_deep_copy(*info);
        json_object_set_new(saved, "Flags", json_string(a->debug ? "DEBUG_MODE" : "NONE"));
        json_object_set(saved, "Measurements", json_object_get(m, "Measurements"));
        json_object_set_new(saved, "StartTime", json_integer((json_int_t)nitrocli_proc_start(pid)));
        json_object_set_new(saved, "EifPath", json_string(a->eif));
        if (nitrocli_info_write(dir, saved, e) != 0) {
            nitrocli_group_stop(pid);
            code = NITROCLI_ERR_STATE_DIR;
        }
        json_decref(saved);
    }
    json_decref(m);
    if (code != NITROCLI_ERR_OK && dir[0] != '\0') {
        nsmkit_error ignored;
        if (access(dir, F_OK) == 0)
            (void)nitrocli_rm_rf(dir, &ignored);
    }
    return code;
}

int nitrocli_cmd_run(int argc, char **argv)
{
    run_args a = {.eif = NULL};
    nsmkit_error e = {{0}};
    char base[PATH_MAX];
    json_t *info = NULL;
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return fputs(run_help, stdout), 0;
    int status = 0;
    if (parse_run(argc, argv, &a, &e) != 0)
        status = nitrocli_report("run-enclave", NITROCLI_ERR_USAGE, &e);
    else if (nitrocli_state_base(base, sizeof(base), &e) != 0)
        status = nitrocli_report("run-enclave", NITROCLI_ERR_STATE_DIR, &e);
    if (status == 0) {
        fprintf(stderr, "Start allocating memory...\n");
        /* one run-enclave at a time picks a CID and a name and records its enclave, so
         * that two started together never share a CID */
        char lock_path[PATH_MAX + 16];
        snprintf(lock_path, sizeof(lock_path), "%s/.lock", base);
        int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lock >= 0)
            (void)flock(lock, LOCK_EX);
        nitrocli_code code = start(&a, base, &info, &e);
        if (lock >= 0)
            close(lock);
        if (code != NITROCLI_ERR_OK)
            status = nitrocli_report("run-enclave", code, &e);
    }
    if (status == 0) {
        fprintf(stderr, "Started enclave with enclave-cid: %llu, memory: %llu MiB, cpu-ids: [",
                (unsigned long long)a.cid, (unsigned long long)a.memory);
        for (uint64_t i = 0; i < a.cpus; i++)
            fprintf(stderr, "%s%llu", i ? ", " : "", (unsigned long long)i);
        fprintf(stderr, "]\n");
        json_dumpf(info, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        fflush(stdout);
        if (a.attach && a.debug) {
            char *args[] = {"console", "--enclave-id",
                            unconst(json_string_value(json_object_get(info, "EnclaveID"))), NULL};
            status = nitrocli_cmd_console(3, args);
        }
    }
    json_decref(info);
    json_decref(a.config);
    return status;
}
