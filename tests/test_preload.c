/* SPDX-License-Identifier: Apache-2.0 */
/* The LD_PRELOAD shim (frontends/devnsm/preload.c), in-process: this binary re-executes itself with
 * the shim preloaded. What is interposed (every open form of exactly "/dev/nsm"), what is
 * passed through untouched (other paths, their modes, other descriptors' ioctls), the
 * ioctl numbers, threads racing for the first open, and fork while requests run. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../frontends/transports/device.h"
#include "testutil.h"
#include "nsmkit/error.h"
#include "nsmkit/sim.h"

/* The _FORTIFY_SOURCE entry points, called directly so that every build exercises them. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

static const uint8_t describe16[] = {0xa1, 0x6b, 'D', 'e', 's', 'c', 'r', 'i', 'b', 'e', 'P',
                                     'C',  'R',  0xa1, 0x65, 'i', 'n', 'd', 'e', 'x', 0x10};

static bool works(int fd)
{
    uint8_t resp[NSM_RESPONSE_MAX_SIZE];
    struct nsm_raw r = {{(uintptr_t)describe16, sizeof(describe16)},
                        {(uintptr_t)resp, sizeof(resp)}};
    return fd >= 0 && ioctl(fd, NSM_IOCTL_RAW, &r) == 0 && r.response.len == 13 + 1 + 5 + 1 + 5 + 2 + 48 &&
           resp[2] == 'D';
}

typedef struct {
    int index;
    bool ok;
} racer;

static void *race_first_open(void *arg)
{
    racer *x = arg;
    x->ok = true;
    for (int i = 0; i < 30; i++) {
        int fd = open("/dev/nsm", O_RDWR);
        x->ok = x->ok && works(fd);
        close(fd);
    }
    return NULL;
}

static void threads_race_for_the_first_open(void **state)
{
    (void)state;
    pthread_t th[8];
    racer x[8];
    for (int i = 0; i < 8; i++) {
        x[i].index = i;
        assert_int_equal(pthread_create(&th[i], NULL, race_first_open, &x[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_true(x[i].ok);
    }
}

static void every_open_form(void **state)
{
    (void)state;
    int fds[] = {
        open("/dev/nsm", O_RDWR),
        open64("/dev/nsm", O_RDONLY),
        openat(AT_FDCWD, "/dev/nsm", O_WRONLY),
        openat64(AT_FDCWD, "/dev/nsm", O_RDWR | O_CLOEXEC),
        __open_2("/dev/nsm", O_RDWR),
        __open64_2("/dev/nsm", O_RDWR),
        __openat_2(AT_FDCWD, "/dev/nsm", O_RDWR),
        __openat64_2(AT_FDCWD, "/dev/nsm", O_RDWR),
        open("/dev/nsm", O_RDWR | O_CREAT, 0600), /* an existing device: O_CREAT is moot */
    };
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (!works(fds[i]))
            fail_msg("open form %zu", i);
        assert_int_equal(nsmsim_devfd_kind_of(fds[i]), NSMSIM_DEVFD_SHIM);
        close(fds[i]);
    }
    const char *modes[] = {"r", "r+", "w", "a+", "re", "rb"};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        FILE *f = i % 2 ? fopen64("/dev/nsm", modes[i]) : fopen("/dev/nsm", modes[i]);
        assert_non_null(f);
        assert_true(works(fileno(f)));
        assert_int_equal(!!(fcntl(fileno(f), F_GETFD) & FD_CLOEXEC), !strcmp(modes[i], "re"));
        fclose(f);
    }
    assert_null(fopen("/dev/nsm", "wx"));
    assert_int_equal(errno, EEXIST);
    assert_null(fopen("/dev/nsm", "q"));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(open("/dev/nsm", O_RDONLY | O_DIRECTORY), -1);
    assert_int_equal(errno, ENOTDIR);
    assert_int_equal(open("/dev/nsm", O_RDWR | O_CREAT | O_EXCL, 0600), -1);
    assert_int_equal(errno, EEXIST);
}

static void other_files_untouched(void **state)
{
    (void)state;
    char *dir = test_mkdtemp();
    char path[4200];
    mode_t old = umask(022);
    snprintf(path, sizeof(path), "%s/a", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640); /* the variadic mode went through */
    assert_int_equal(nsmsim_devfd_kind_of(fd), NSMSIM_DEVFD_NONE);
    close(fd);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    fd = openat(dfd, "b", O_WRONLY | O_CREAT, 0604);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0604);
    close(fd);
    fd = open(dir, O_TMPFILE | O_RDWR, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    close(fd);
    snprintf(path, sizeof(path), "%s/a", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(open("/dev/nsm/", O_RDONLY), -1); /* not the exact path */
    assert_int_equal(open("dev/nsm", O_RDONLY), -1);
    close(dfd);
    umask(old);

    /* other descriptors' ioctls reach the kernel unchanged */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "abc", 3), 3);
    int avail = 0;
    assert_int_equal(ioctl(p[0], FIONREAD, &avail), 0);
    assert_int_equal(avail, 3);
    struct nsm_raw r = {{(uintptr_t)describe16, sizeof(describe16)}, {0, 0}};
    assert_int_equal(ioctl(p[0], NSM_IOCTL_RAW, &r), -1);
    assert_int_equal(errno, ENOTTY);
    close(p[0]);
    close(p[1]);
    test_rmdir(dir);
    free(dir);
}

/* Issue 14 item 7: the driver has no read operation, so read() on /dev/nsm fails with
 * EINVAL; the shim's descriptor used to return the memfd's zero bytes. */
static void read_fails_as_on_the_driver(void **state)
{
    (void)state;
    int fd = open("/dev/nsm", O_RDWR);
    assert_true(works(fd));
    uint8_t buf[16];
    memset(buf, 0xa5, sizeof(buf));
    errno = 0;
    assert_int_equal(read(fd, buf, sizeof(buf)), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(buf[0], 0xa5);
    errno = 0;
    assert_int_equal(read(fd, buf, 0), -1); /* whatever the size, as vfs_read */
    assert_int_equal(errno, EINVAL);
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    errno = 0;
    assert_int_equal(readv(fd, &iov, 1), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(pread(fd, buf, sizeof(buf), 0), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(preadv(fd, &iov, 1, 0), -1);
    assert_int_equal(errno, EINVAL);
    int copy = dup(fd); /* the identity travels with the descriptor */
    errno = 0;
    assert_int_equal(read(copy, buf, sizeof(buf)), -1);
    assert_int_equal(errno, EINVAL);
    assert_true(works(copy));
    /* inherited across exec: a preloaded `head` reads it and fails */
    int inherited = open("/dev/nsm", O_RDONLY); /* not close-on-exec */
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "exec head -c 1 <&%d >/dev/null 2>&1", inherited);
    int status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    close(inherited);
    close(copy);
    close(fd);
    /* other descriptors read as ever */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "abc", 3), 3);
    assert_int_equal(read(p[0], buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "abc", 3);
    close(p[0]);
    close(p[1]);
}

static void ioctl_numbers(void **state)
{
    (void)state;
    int fd = open("/dev/nsm", O_RDWR);
    int n;
    assert_int_equal(ioctl(fd, FIONREAD, &n), -1);
    assert_int_equal(errno, EINVAL); /* the driver's answer to anything else */
    assert_int_equal(ioctl(fd, _IOWR(NSM_MAGIC, 0, uint64_t), &n), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(ioctl(fd, FIONBIO, &(int){1}), 0);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(ioctl(fd, FIOCLEX), 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(ioctl(fd, NSM_IOCTL_RAW, NULL), -1);
    assert_int_equal(errno, EFAULT);
    assert_true(works(fd));
    close(fd);
    assert_int_equal(ioctl(fd, NSM_IOCTL_RAW, NULL), -1);
    assert_int_equal(errno, EBADF);
}

static volatile bool stop_requests;

static void *keep_requesting(void *arg)
{
    int fd = *(int *)arg;
    while (!stop_requests)
        if (!works(fd))
            return (void *)1;
    return NULL;
}

static void fork_while_requests_run(void **state)
{
    (void)state;
    int fd = open("/dev/nsm", O_RDWR);
    pthread_t th;
    stop_requests = false;
    assert_int_equal(pthread_create(&th, NULL, keep_requesting, &fd), 0);
    /* a child forked while another thread is inside the core must not inherit a held
     * lock; its NSM is a copy of the parent's (in-process state is per process) */
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            uint8_t pcr[48];
            struct nsm_raw r = {{(uintptr_t)describe16, sizeof(describe16)},
                                {(uintptr_t)pcr, sizeof(pcr)}};
            _exit(works(fd) && ioctl(fd, NSM_IOCTL_RAW, &r) == 0 ? 0 : 1);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    stop_requests = true;
    void *result;
    pthread_join(th, &result);
    assert_null(result);
    close(fd);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (!getenv("NSMKIT_TEST_PRELOADED")) {
        char *ca = test_mkdtemp();
        nsmkit_error e;
        if (nsmca_init(ca, NULL, &e) != 0) {
            fprintf(stderr, "CA: %s\n", e.msg);
            return 1;
        }
        static char ca_env[4200];
        snprintf(ca_env, sizeof(ca_env), "NSM_SIM_CA=%s", ca);
        const char *extra[] = {ca_env, NULL};
        unsetenv("NSM_SIM_SOCKET");
        test_reexec_preloaded(argv, extra);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threads_race_for_the_first_open),
        cmocka_unit_test(every_open_form),
        cmocka_unit_test(other_files_untouched),
        cmocka_unit_test(ioctl_numbers),
        cmocka_unit_test(read_fails_as_on_the_driver),
        cmocka_unit_test(fork_while_requests_run),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    test_rmdir(getenv("NSM_SIM_CA"));
    return rc;
}
