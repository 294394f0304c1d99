/* SPDX-License-Identifier: Apache-2.0 */
/* `nsm-sim exec` (nsm-sim/exec.c), called in this process: the command's environment,
 * its exit status, exec's own errors, and that exec leaves the process as it found it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../nsm-sim/commands.h"
#include "testutil.h"
#include "nsmkit/error.h"
#include "nsmkit/sim.h"

static char *ca_dir;

static int run(const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)(uintptr_t)"--ca";
    argv[argc++] = ca_dir;
    for (; *args; args++)
        argv[argc++] = (char *)(uintptr_t)*args;
    argv[argc] = NULL;
    return nsmsim_cmd_exec(argc, argv);
}

static void command_environment_and_status(void **state)
{
    (void)state;
    /* the socket exists and answers, the shim is preloaded, the server is private */
    const char *check[] = {
        "--", "sh", "-c",
        "test -S \"$NSM_SIM_SOCKET\" || exit 10; "
        "case \"$LD_PRELOAD\" in *libnsm-sim-preload.so*) ;; *) exit 11;; esac; "
        "test \"$(stat -c %a \"$NSM_SIM_SOCKET\")\" = 600 || exit 12; "
        "test \"$(stat -c %a \"$(dirname \"$NSM_SIM_SOCKET\")\")\" = 700 || exit 13",
        NULL};
    assert_int_equal(run(check), 0);
    const char *seven[] = {"sh", "-c", "exit 7", NULL}; /* no "--" needed */
    assert_int_equal(run(seven), 7);
    const char *killed[] = {"--", "sh", "-c", "kill -KILL $$", NULL};
    assert_int_equal(run(killed), 128 + SIGKILL);
    const char *missing[] = {"--", "/nonexistent/program", NULL};
    assert_int_equal(run(missing), 127);
    const char *not_executable[] = {"--", "/dev/null", NULL};
    assert_int_equal(run(not_executable), 126);
}

static void own_errors(void **state)
{
    (void)state;
    const char *none[] = {NULL};
    assert_int_equal(run(none), 125);
    const char *only_dashes[] = {"--", NULL};
    assert_int_equal(run(only_dashes), 125);
    const char *bogus[] = {"--bogus", "--", "true", NULL};
    assert_int_equal(run(bogus), 125);
    const char *bad_pcr[] = {"--pcr", "99=00", "--", "true", NULL};
    assert_int_equal(run(bad_pcr), 125);
    char *bad_ca[] = {(char *)(uintptr_t)"--ca", (char *)(uintptr_t)"/nonexistent/ca",
                      (char *)(uintptr_t)"true", NULL};
    assert_int_equal(nsmsim_cmd_exec(3, bad_ca), 125);
    setenv("NSM_SIM_PRELOAD", "/nonexistent/libnsm-sim-preload.so", 1);
    const char *t[] = {"--", "true", NULL};
    assert_int_equal(run(t), 125);
    unsetenv("NSM_SIM_PRELOAD");
    char *help[] = {(char *)(uintptr_t)"--help", NULL};
    assert_int_equal(nsmsim_cmd_exec(1, help), 0);
}

static void leaves_the_process_as_it_was(void **state)
{
    (void)state;
    struct sigaction before, after;
    sigaction(SIGTERM, NULL, &before);
    sigset_t mask_before, mask_after;
    sigprocmask(SIG_BLOCK, NULL, &mask_before);
    int probe = dup(0);
    close(probe);
    const char *t[] = {"--", "true", NULL};
    for (int i = 0; i < 5; i++)
        assert_int_equal(run(t), 0);
    sigaction(SIGTERM, NULL, &after);
    sigprocmask(SIG_BLOCK, NULL, &mask_after);
    assert_ptr_equal(before.sa_handler, after.sa_handler);
    assert_int_equal(sigismember(&mask_after, SIGCHLD), sigismember(&mask_before, SIGCHLD));
    int next = dup(0);
    assert_int_equal(next, probe); /* no descriptor leaked */
    close(next);
}

int main(void)
{
    ca_dir = test_mkdtemp();
    nsmkit_error e;
    if (nsmca_init(ca_dir, NULL, &e) != 0) {
        fprintf(stderr, "CA: %s\n", e.msg);
        return 1;
    }
    unsetenv("NSM_SIM_PRELOAD");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(command_environment_and_status),
        cmocka_unit_test(own_errors),
        cmocka_unit_test(leaves_the_process_as_it_was),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    test_rmdir(ca_dir);
    free(ca_dir);
    return rc;
}
