/* SPDX-License-Identifier: Apache-2.0 */
/* The FUSE device's copier and ioctl (frontends/devices/fuse.c) against another process's memory:
 * a forked child whose buffers differ from ours at the same addresses, so every byte that
 * arrives proves it came from the caller named by its thread id, not from this process. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../frontends/transports/client.h"
#include "../frontends/transports/core_handler.h"
#include "../frontends/transports/device.h"
#include "../frontends/transports/envopts.h"
#include "../frontends/transports/frame.h"
#include "../frontends/transports/log.h"
#include "../frontends/transports/server.h"
#include "../frontends/devnsm/codec.h"
#include "../nsm-core/messages.h"
#include "../frontends/devices/fuse.h"
#include "testutil.h"

/* Laid out the same in the child (fork), filled differently there. */
static uint8_t request_mem[NSM_REQUEST_MAX_SIZE + 1];
static uint8_t response_mem[256];
static uint8_t *readonly_page;

typedef struct {
    pid_t pid;
    int done; /* closing it lets the child exit */
} child_proc;

/* The child fills its buffers, says so, and waits; its memory is what the copier sees. */
static child_proc start_child(void)
{
    int ready[2], done[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(done[1]);
        memset(request_mem, 'C', sizeof(request_mem));
        memcpy(request_mem, "child request", 13);
        memset(response_mem, 0xee, sizeof(response_mem));
        mprotect(readonly_page, (size_t)sysconf(_SC_PAGESIZE), PROT_READ);
        char c = 'r';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        ssize_t got = read(done[0], &c, 1); /* EOF when the parent is finished */
        (void)got;
        _exit(0);
    }
    close(ready[1]);
    close(done[0]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    /* our own copies differ at the same addresses */
    memset(request_mem, 'P', sizeof(request_mem));
    memset(response_mem, 0, sizeof(response_mem));
    return (child_proc){.pid = pid, .done = done[1]};
}

/* The child's response buffer, read back through the copier. */
static void child_read(child_proc *c, void *dst, const void *addr, size_t n)
{
    nsmsim_fuse_caller caller;
    nsmsim_fuse_caller_init(&caller, c->pid, 0, NULL);
    nsmsim_copier copier = nsmsim_fuse_copier(&caller);
    assert_int_equal(copier.read(copier.ctx, dst, (uintptr_t)addr, n), 0);
}

static void stop_child(child_proc *c)
{
    close(c->done);
    int st;
    assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int setup(void **state)
{
    (void)state;
    readonly_page = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return readonly_page == MAP_FAILED ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    munmap(readonly_page, (size_t)sysconf(_SC_PAGESIZE));
    return 0;
}

/* A handler that records the request and answers with fixed bytes. */
typedef struct {
    uint8_t seen[NSM_REQUEST_MAX_SIZE];
    size_t seen_len;
    int calls;
} script;

static int scripted(void *ctx, const uint8_t *req, size_t req_len,
                    uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len)
{
    script *s = ctx;
    s->calls++;
    memcpy(s->seen, req, req_len);
    s->seen_len = req_len;
    memcpy(resp, "the device's answer", 19);
    *resp_len = 19;
    return 0;
}

static void copier_maps_the_argument_and_the_caller(void **state)
{
    (void)state;
    child_proc c = start_child();
    struct nsm_raw in = {.request = {0x1000, 5}, .response = {0x2000, 6}};
    nsmsim_fuse_caller caller;
    nsmsim_fuse_caller_init(&caller, c.pid, 0x7000, &in);
    nsmsim_copier copier = nsmsim_fuse_copier(&caller);

    /* the argument comes from the kernel's bytes, not from the caller's address 0x7000 */
    struct nsm_raw got;
    assert_int_equal(copier.read(copier.ctx, &got, 0x7000, sizeof(got)), 0);
    assert_memory_equal(&got, &in, sizeof(in));
    /* everything else is the caller's memory */
    uint8_t buf[13];
    assert_int_equal(copier.read(copier.ctx, buf, (uintptr_t)request_mem, sizeof(buf)), 0);
    assert_memory_equal(buf, "child request", 13);
    assert_int_equal(copier.read(copier.ctx, buf, 16, sizeof(buf)), EFAULT);
    assert_int_equal(copier.read(copier.ctx, buf, UINT64_MAX - 4, 8), EFAULT);
    assert_int_equal(copier.read(copier.ctx, buf, 16, 0), 0);
    assert_int_equal(caller.refused, 0); /* faults are the caller's, not a refusal */
    /* the argument written back goes to the reply */
    got.response.len = 3;
    assert_false(caller.arg_written);
    assert_int_equal(copier.write(copier.ctx, 0x7000, &got, sizeof(got)), 0);
    assert_true(caller.arg_written);
    assert_memory_equal(caller.arg_out, &got, sizeof(got));
    /* writes land in the caller, not here */
    assert_int_equal(copier.write(copier.ctx, (uintptr_t)response_mem, "xyz", 3), 0);
    assert_int_equal(response_mem[0], 0);
    uint8_t back[4];
    child_read(&c, back, response_mem, 4);
    assert_memory_equal(back, "xyz\xee", 4);
    /* read-only memory of the caller can be read, not written */
    assert_int_equal(copier.read(copier.ctx, buf, (uintptr_t)readonly_page, 4), 0);
    assert_int_equal(copier.write(copier.ctx, (uintptr_t)readonly_page, "no", 2), EFAULT);
    stop_child(&c);
}

static void ioctl_round_trip_through_the_seam(void **state)
{
    (void)state;
    child_proc c = start_child();
    script s = {.calls = 0};
    struct nsm_raw in = {.request = {(uintptr_t)request_mem, 13},
                         .response = {(uintptr_t)response_mem, sizeof(response_mem)}};
    nsmsim_fuse_caller caller;
    nsmsim_fuse_caller_init(&caller, c.pid, 0x7000, &in);
    assert_int_equal(nsmsim_fuse_ioctl(&caller, NSM_IOCTL_RAW, sizeof(in), sizeof(in),
                                       scripted, &s),
                     0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.seen_len, 13);
    assert_memory_equal(s.seen, "child request", 13); /* read from the caller */
    struct nsm_raw out;
    memcpy(&out, caller.arg_out, sizeof(out));
    assert_int_equal(out.response.len, 19);
    assert_int_equal(out.request.len, 13);
    uint8_t back[20];
    child_read(&c, back, response_mem, 20);
    assert_memory_equal(back, "the device's answer\xee", 20);

    /* truncated to response.len, which then says how much came */
    in.response.len = 4;
    nsmsim_fuse_caller_init(&caller, c.pid, 0x7000, &in);
    assert_int_equal(nsmsim_fuse_ioctl(&caller, NSM_IOCTL_RAW, 32, 32, scripted, &s), 0);
    memcpy(&out, caller.arg_out, sizeof(out));
    assert_int_equal(out.response.len, 4);

    /* 4097 bytes: EMSGSIZE before the device is asked */
    int before = s.calls;
    in = (struct nsm_raw){.request = {(uintptr_t)request_mem, NSM_REQUEST_MAX_SIZE + 1},
                          .response = {(uintptr_t)response_mem, 16}};
    nsmsim_fuse_caller_init(&caller, c.pid, 0x7000, &in);
    assert_int_equal(nsmsim_fuse_ioctl(&caller, NSM_IOCTL_RAW, 32, 32, scripted, &s), EMSGSIZE);
    /* a bad request pointer: EFAULT, the device not asked */
    in = (struct nsm_raw){.request = {16, 10}, .response = {(uintptr_t)response_mem, 16}};
    nsmsim_fuse_caller_init(&caller, c.pid, 0x7000, &in);
    assert_int_equal(nsmsim_fuse_ioctl(&caller, NSM_IOCTL_RAW, 32, 32, scripted, &s), EFAULT);
    assert_int_equal(s.calls, before);
    /* a read-only response buffer: the request took effect, then EFAULT (the driver's
     * order), and nothing to reply with */
    in = (struct nsm_raw){.request = {(uintptr_t)request_mem, 5},
                          .response = {(uintptr_t)readonly_page, 16}};
    nsmsim_fuse_caller_init(&caller, c.pid, 0x7000, &in);
    assert_int_equal(nsmsim_fuse_ioctl(&caller, NSM_IOCTL_RAW, 32, 32, scripted, &s), EFAULT);
    assert_int_equal(s.calls, before + 1);
    assert_false(caller.arg_written);

    /* other requests and shapes: EINVAL, the device not asked */
    before = s.calls;
    nsmsim_fuse_caller_init(&caller, c.pid, 0x7000, &in);
    assert_int_equal(nsmsim_fuse_ioctl(&caller, 0, 0, 0, scripted, &s), EINVAL);
    assert_int_equal(nsmsim_fuse_ioctl(&caller, NSM_IOCTL_RAW + 1, 32, 32, scripted, &s), EINVAL);
    assert_int_equal(nsmsim_fuse_ioctl(&caller, NSM_IOCTL_RAW, 0, 32, scripted, &s), EINVAL);
    assert_int_equal(nsmsim_fuse_ioctl(&caller, NSM_IOCTL_RAW, 32, 16, scripted, &s), EINVAL);
    assert_int_equal(s.calls, before);
    stop_child(&c);
}

static void unreachable_callers_are_eio(void **state)
{
    (void)state;
    script s = {.calls = 0};
    struct nsm_raw in = {.request = {(uintptr_t)request_mem, 5},
                         .response = {(uintptr_t)response_mem, 16}};
    nsmsim_fuse_caller caller;
    /* pid 0: FUSE's name for a caller outside the server's pid namespace */
    nsmsim_fuse_caller_init(&caller, 0, 0x7000, &in);
    assert_int_equal(nsmsim_fuse_ioctl(&caller, NSM_IOCTL_RAW, 32, 32, scripted, &s), EIO);
    assert_int_equal(caller.refused, ESRCH);
    /* a caller that has exited: its memory cannot be reached (ESRCH), not a fault */
    child_proc c = start_child();
    pid_t gone = c.pid;
    stop_child(&c);
    nsmsim_fuse_caller_init(&caller, gone, 0x7000, &in);
    assert_int_equal(nsmsim_fuse_ioctl(&caller, NSM_IOCTL_RAW, 32, 32, scripted, &s), EIO);
    assert_int_equal(caller.refused, ESRCH);
    assert_int_equal(s.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copier_maps_the_argument_and_the_caller),
        cmocka_unit_test(ioctl_round_trip_through_the_seam),
        cmocka_unit_test(unreachable_callers_are_eio),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
