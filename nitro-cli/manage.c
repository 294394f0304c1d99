/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-nitro-cli describe-enclaves, console and terminate-enclave: the running enclaves in
 * the state directory (state.c).
 *
 * describe-enclaves prints nitro-cli's array (EnclaveName, EnclaveID, ProcessID,
 * EnclaveCID, NumberOfCPUs, CPUIDs, MemoryMiB, State, Flags, Measurements). An enclave
 * whose process has ended is not listed, as with nitro-cli; it is reported once on stderr
 * with its console's last lines and its directory removed.
 * console follows console.log (from its start) until the enclave ends or
 * --disconnect-timeout seconds pass; a non-debug enclave is refused with nitro-cli's E44.
 * terminate-enclave stops the enclave's whole process group (nsm-qemu's cleanup removes
 * QEMU, the NSM server, the vsock backend and their sockets) and removes its directory.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nsmkit/hex.h"

#include "enclave_state.h"
#include "nitro_cli.h"

static nitrocli_enclave list[NITROCLI_MAX_ENCLAVES];

static bool is_help(int argc, char **argv, const char *text)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(text, stdout);
        return true;
    }
    return false;
}

/* Reports and removes the enclaves whose process has ended. */
static void reap_ended(nitrocli_enclave *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (l[i].alive)
            continue;
        const char *name = json_string_value(json_object_get(l[i].info, "EnclaveName"));
        fprintf(stderr, "nsm-nitro-cli: enclave %s (%s) has ended; its console's last lines:\n",
                l[i].id, name ? name : "?");
        nitrocli_console_tail(l[i].dir, 12, stderr);
        json_int_t pid = json_integer_value(json_object_get(l[i].info, "ProcessID"));
        if (pid > 1 && pid < INT32_MAX && nitrocli_group_alive((pid_t)pid))
            nitrocli_group_stop((pid_t)pid); /* a leftover of a crashed enclave process */
        nsmkit_error ignored;
        (void)nitrocli_rm_rf(l[i].dir, &ignored);
    }
}

static json_t *describe_one(json_t *info)
{
    json_t *o = json_object();
    static const char *const before[] = {"EnclaveName", "EnclaveID", "ProcessID", "EnclaveCID",
                                         "NumberOfCPUs", "CPUIDs", "MemoryMiB"};
    for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++)
        json_object_set(o, before[i], json_object_get(info, before[i]));
    json_object_set_new(o, "State", json_string("RUNNING"));
    json_object_set(o, "Flags", json_object_get(info, "Flags"));
    json_object_set(o, "Measurements", json_object_get(info, "Measurements"));
    return o;
}

int nitrocli_cmd_describe_enclaves(int argc, char **argv)
{
    nsmkit_error e = {{0}};
    char base[PATH_MAX];
    if (is_help(argc, argv, "usage: nsm-nitro-cli describe-enclaves\n"
                            "Prints nitro-cli's JSON array of the running enclaves.\n"))
        return 0;
    if (argc > 1 && strcmp(argv[1], "--metadata") != 0) {
        nsmkit_fail(&e, "%s: unknown flag", argv[1]);
        return nitrocli_report("describe-enclaves", NITROCLI_ERR_USAGE, &e);
    }
    if (nitrocli_state_base(base, sizeof(base), &e) != 0)
        return nitrocli_report("describe-enclaves", NITROCLI_ERR_STATE_DIR, &e);
    size_t n = nitrocli_enclaves_list(base, list, NITROCLI_MAX_ENCLAVES);
    reap_ended(list, n);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        if (list[i].alive)
            json_array_append_new(out, describe_one(list[i].info));
    json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(out);
    nitrocli_enclaves_free(list, n);
    return 0;
}

/* The running enclave named by --enclave-id or --enclave-name (index into list). */
static nitrocli_code find(size_t n, const char *id, const char *name, size_t *found,
                          nsmkit_error *e)
{
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *other = json_string_value(json_object_get(list[i].info, "EnclaveName"));
        if (list[i].alive && ((id && strcmp(list[i].id, id) == 0) ||
                              (name && other && strcmp(other, name) == 0)))
            *found = i, hits++;
    }
    if (hits == 1)
        return NITROCLI_ERR_OK;
    if (name != NULL)
        return nsmkit_fail(e, "%s enclave is named %s", hits ? "more than one" : "no", name),
               NITROCLI_ERR_NAME;
    return nsmkit_fail(e, "no running enclave has the ID %s", id),
           NITROCLI_ERR_UNKNOWN_ENCLAVE;
}

static int parse_target(int argc, char **argv, const char **id, const char **name,
                        bool *all, uint64_t *timeout, nsmkit_error *e)
{
    for (int i = 1; i < argc; i++) {
        if (all && strcmp(argv[i], "--all") == 0) {
            *all = true;
            continue;
        }
        if (i + 1 >= argc)
            return nsmkit_fail(e, "%s: unknown flag or missing value", argv[i]);
        if (strcmp(argv[i], "--enclave-id") == 0)
            *id = argv[++i];
        else if (strcmp(argv[i], "--enclave-name") == 0)
            *name = argv[++i];
        else if (timeout && strcmp(argv[i], "--disconnect-timeout") == 0) {
            if (!nsmkit_parse_u64(argv[++i], timeout) || *timeout == 0)
                return nsmkit_fail(e, "--disconnect-timeout takes a positive whole number");
        } else
            return nsmkit_fail(e, "%s: unknown flag", argv[i]);
    }
    int given = (*id != NULL) + (*name != NULL) + (all && *all);
    if (given != 1)
        return nsmkit_fail(e, "give exactly one of --enclave-id, --enclave-name%s",
                           all ? " and --all" : "");
    return 0;
}

/* Copies what console.log gained since *offset to stdout. */
static int pump(FILE *f, long *offset)
{
    char buf[8192];
    size_t got;
    clearerr(f);
    if (fseek(f, *offset, SEEK_SET) != 0)
        return -1;
    while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (fwrite(buf, 1, got, stdout) != got)
            return -1;
        *offset += (long)got;
    }
    fflush(stdout);
    return 0;
}

static nitrocli_code follow(const nitrocli_enclave *en, uint64_t timeout, nsmkit_error *e)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/console.log", en->dir);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return nsmkit_fail(e, "%s: %s", path, strerror(errno)), NITROCLI_ERR_CONSOLE_READ;
    printf("Connecting to the console for enclave %lld...\nSuccessfully connected to the "
           "console.\n",
           (long long)json_integer_value(json_object_get(en->info, "EnclaveCID")));
    long offset = 0;
    time_t end = timeout ? time(NULL) + (time_t)timeout : 0;
    nitrocli_code code = NITROCLI_ERR_OK;
    for (;;) {
        if (pump(f, &offset) != 0) {
            code = NITROCLI_ERR_CONSOLE_READ;
            nsmkit_fail(e, "%s: %s", path, strerror(errno));
            break;
        }
        if (!nitrocli_info_alive(en->info) || (end && time(NULL) >= end))
            break;
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    if (code == NITROCLI_ERR_OK)
        (void)pump(f, &offset);
    fclose(f);
    return code;
}

int nitrocli_cmd_console(int argc, char **argv)
{
    const char *id = NULL, *name = NULL;
    uint64_t timeout = 0;
    nsmkit_error e = {{0}};
    char base[PATH_MAX];
    if (is_help(argc, argv, "usage: nsm-nitro-cli console (--enclave-id ID | --enclave-name "
                            "NAME) [--disconnect-timeout S]\nStreams a debug-mode enclave's "
                            "console until it ends or S seconds pass.\n"))
        return 0;
    if (parse_target(argc, argv, &id, &name, NULL, &timeout, &e) != 0)
        return nitrocli_report("console", NITROCLI_ERR_USAGE, &e);
    if (nitrocli_state_base(base, sizeof(base), &e) != 0)
        return nitrocli_report("console", NITROCLI_ERR_STATE_DIR, &e);
    size_t n = nitrocli_enclaves_list(base, list, NITROCLI_MAX_ENCLAVES), i = 0;
    nitrocli_code code = find(n, id, name, &i, &e);
    if (code == NITROCLI_ERR_OK) {
        const char *flags = json_string_value(json_object_get(list[i].info, "Flags"));
        if (flags == NULL || strcmp(flags, "DEBUG_MODE") != 0) {
            nsmkit_fail(&e, "%s was not started with --debug-mode", list[i].id);
            code = NITROCLI_ERR_NOT_DEBUG;
        } else {
            code = follow(&list[i], timeout, &e);
        }
    }
    nitrocli_enclaves_free(list, n);
    return code == NITROCLI_ERR_OK ? 0 : nitrocli_report("console", code, &e);
}

static nitrocli_code terminate_one(nitrocli_enclave *en, nsmkit_error *e)
{
    json_int_t pid = json_integer_value(json_object_get(en->info, "ProcessID"));
    if (pid <= 1 || pid >= INT32_MAX || nitrocli_group_stop((pid_t)pid) != 0)
        return nsmkit_fail(e, "%s: its processes (group %lld) did not stop", en->id,
                           (long long)pid),
               NITROCLI_ERR_TERMINATE;
    if (nitrocli_rm_rf(en->dir, e) != 0)
        return NITROCLI_ERR_STATE_DIR;
    fprintf(stderr, "Successfully terminated enclave %s.\n", en->id);
    json_t *out = json_pack("{s:O, s:s, s:b}", "EnclaveName",
                            json_object_get(en->info, "EnclaveName"), "EnclaveID", en->id,
                            "Terminated", 1);
    json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(out);
    return NITROCLI_ERR_OK;
}

int nitrocli_cmd_terminate(int argc, char **argv)
{
    const char *id = NULL, *name = NULL;
    bool all = false;
    nsmkit_error e = {{0}};
    char base[PATH_MAX];
    if (is_help(argc, argv, "usage: nsm-nitro-cli terminate-enclave (--enclave-id ID | "
                            "--enclave-name NAME | --all)\nStops the enclave and everything "
                            "its nsm-qemu started, and removes its state.\n"))
        return 0;
    if (parse_target(argc, argv, &id, &name, &all, NULL, &e) != 0)
        return nitrocli_report("terminate-enclave", NITROCLI_ERR_USAGE, &e);
    if (nitrocli_state_base(base, sizeof(base), &e) != 0)
        return nitrocli_report("terminate-enclave", NITROCLI_ERR_STATE_DIR, &e);
    size_t n = nitrocli_enclaves_list(base, list, NITROCLI_MAX_ENCLAVES), i = 0;
    nitrocli_code code = NITROCLI_ERR_OK;
    if (all) {
        reap_ended(list, n);
        for (i = 0; i < n; i++)
            if (list[i].alive) {
                nitrocli_code one = terminate_one(&list[i], &e);
                code = code == NITROCLI_ERR_OK ? one : code;
            }
    } else if ((code = find(n, id, name, &i, &e)) == NITROCLI_ERR_OK) {
        code = terminate_one(&list[i], &e);
    }
    nitrocli_enclaves_free(list, n);
    return code == NITROCLI_ERR_OK ? 0 : nitrocli_report("terminate-enclave", code, &e);
}
