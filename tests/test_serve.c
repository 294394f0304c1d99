/* SPDX-License-Identifier: Apache-2.0 */
/* `nsm-sim serve` (nsm-sim/serve.c) in a child process: it answers with the core, stops
 * cleanly on SIGTERM and SIGINT removing its socket, and refuses bad arguments. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../frontends/transports/client.h"
#include "../nsm-sim/commands.h"
#include "../frontends/transports/frame.h"
#include "testutil.h"
#include "nsmkit/error.h"
#include "nsmkit/sim.h"

static char *ca_dir;

static pid_t start(const char *socket_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {(char *)(uintptr_t)"--socket", (char *)(uintptr_t)socket_path,
                        (char *)(uintptr_t)"--ca", ca_dir, NULL};
        _exit(nsmsim_cmd_serve(4, argv));
    }
    return pid;
}

static int connect_retry(const char *path)
{
    nsmkit_error e;
    for (int i = 0; i < 400; i++) {
        int fd = nsmsim_client_connect(path, &e);
        if (fd >= 0)
            return fd;
        usleep(25000);
    }
    fail_msg("%s", e.msg);
    return -1;
}

static void serves_and_stops(void **state)
{
    (void)state;
    int sigs[] = {SIGTERM, SIGINT};
    for (int k = 0; k < 2; k++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/s%d", ca_dir, k);
        pid_t pid = start(path);
        int fd = connect_retry(path);
        const uint8_t lock[] = {0xa1, 0x67, 'L', 'o', 'c', 'k', 'P', 'C', 'R',
                                0xa1, 0x65, 'i', 'n', 'd', 'e', 'x', 0x14};
        uint8_t resp[NSM_RESPONSE_MAX_SIZE];
        size_t n;
        assert_int_equal(nsmsim_frame_write(fd, lock, sizeof(lock), 5000), NSMSIM_IO_OK);
        assert_int_equal(nsmsim_frame_read(fd, resp, sizeof(resp), &n, 5000), NSMSIM_IO_OK);
        assert_int_equal(n, 8);
        assert_memory_equal(resp, "\x67LockPCR", 8);
        /* the state is the server's: the same request again finds PCR20 locked */
        assert_int_equal(nsmsim_frame_write(fd, lock, sizeof(lock), 5000), NSMSIM_IO_OK);
        assert_int_equal(nsmsim_frame_read(fd, resp, sizeof(resp), &n, 5000), NSMSIM_IO_OK);
        assert_non_null(memmem(resp, n, "ReadOnlyIndex", 13));
        kill(pid, sigs[k]);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        struct stat sb;
        assert_int_equal(stat(path, &sb), -1);
        close(fd);
    }
}

static int serve_args(const char *const *args)
{
    char *argv[16];
    int argc = 0;
    for (; *args; args++)
        argv[argc++] = (char *)(uintptr_t)*args;
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid == 0)
        _exit(nsmsim_cmd_serve(argc, argv));
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void refuses_bad_arguments(void **state)
{
    (void)state;
    const char *none[] = {NULL};
    assert_int_equal(serve_args(none), 2);
    const char *no_value[] = {"--socket", NULL};
    assert_int_equal(serve_args(no_value), 2);
    const char *unknown[] = {"--socket", "/tmp/x", "--frobnicate", NULL};
    assert_int_equal(serve_args(unknown), 2);
    const char *bad_time[] = {"--socket", "/tmp/x", "--time", "later", NULL};
    assert_int_equal(serve_args(bad_time), 2);
    const char *unbindable[] = {"--socket", "/nonexistent/dir/s", "--ca", ca_dir, NULL};
    assert_int_equal(serve_args(unbindable), 1);
    const char *help[] = {"--help", NULL};
    assert_int_equal(serve_args(help), 0);
}

int main(void)
{
    ca_dir = test_mkdtemp();
    nsmkit_error e;
    if (nsmca_init(ca_dir, NULL, &e) != 0) {
        fprintf(stderr, "CA: %s\n", e.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(serves_and_stops),
        cmocka_unit_test(refuses_bad_arguments),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    test_rmdir(ca_dir);
    free(ca_dir);
    return rc;
}
