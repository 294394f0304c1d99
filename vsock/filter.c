/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seccomp filters of `nsm-vsock exec` (filter.h). Both keep every AF_VSOCK socket away
 * from the kernel; they differ in who answers:
 *   guard   (preload mode): the shim emulates; anything that bypasses it (a raw system
 *           call, a static program run in the wrong mode) gets EAFNOSUPPORT for
 *           socket(AF_VSOCK) and ENOTTY for IOCTL_VM_SOCKETS_GET_LOCAL_CID, never the
 *           real vsock;
 *   notify  (seccomp mode): socket(AF_VSOCK), the address and option calls on every
 *           socket, that ioctl and the opens (for /dev/vsock) go to the supervisor.
 * 32-bit (i386) system calls can name AF_VSOCK through socketcall(2), whose arguments a
 * filter cannot read: they are refused whole. io_uring (whose IORING_OP_SOCKET makes sockets
 * no filter sees) is refused: programs fall back to system calls.
 */
#include <errno.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "emu.h"
#include "filter.h"

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#define X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "nsm-vsock's seccomp filters know x86_64 and aarch64"
#endif

#define STMT(code, k) ((struct sock_filter)BPF_STMT((code), (k)))
#define JUMP(code, k, t, f) ((struct sock_filter)BPF_JUMP((code), (k), (t), (f)))
#define LOAD(field) STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
/* the low 32 bits of argument i (little-endian) */
#define LOAD_ARG(i) STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[i]))
#define RET(v) STMT(BPF_RET | BPF_K, (v))
#define IF_EQ(k, t, f) JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))

/* The system calls the supervisor answers for every descriptor (it passes the others on). */
static const unsigned notified[] = {
    __NR_bind,        __NR_connect,     __NR_listen,      __NR_accept,
    __NR_accept4,     __NR_getsockname, __NR_getpeername, __NR_getsockopt,
    __NR_setsockopt,  __NR_openat,      __NR_openat2,
#ifdef __NR_open
    __NR_open,
#endif
};
#define NOTIFIED (sizeof(notified) / sizeof(notified[0]))

static int build(struct sock_filter *f, int notify)
{
    const __u32 vsock_socket = notify ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_ERRNO | EAFNOSUPPORT;
    const __u32 vsock_ioctl = notify ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_ERRNO | ENOTTY;
    int n = 0;
    f[n++] = LOAD(arch);
    f[n++] = IF_EQ(NATIVE_ARCH, 1, 0);
    f[n++] = JUMP(BPF_JMP | BPF_JA, 0, 0, 0); /* patched: -> foreign */
    int to_foreign = n - 1;
    f[n++] = LOAD(nr);
#ifdef X32_BIT
    f[n++] = JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 1);
    f[n++] = RET(SECCOMP_RET_ERRNO | ENOSYS);
#endif
    f[n++] = IF_EQ(__NR_socket, 0, 4);
    f[n++] = LOAD_ARG(0);
    f[n++] = IF_EQ(AF_VSOCK, 0, 1);
    f[n++] = RET(vsock_socket);
    f[n++] = RET(SECCOMP_RET_ALLOW);
    f[n++] = IF_EQ(__NR_socketpair, 0, 4);
    f[n++] = LOAD_ARG(0);
    f[n++] = IF_EQ(AF_VSOCK, 0, 1);
    f[n++] = RET(SECCOMP_RET_ERRNO | EOPNOTSUPP);
    f[n++] = RET(SECCOMP_RET_ALLOW);
    f[n++] = IF_EQ(__NR_ioctl, 0, 4);
    f[n++] = LOAD_ARG(1);
    f[n++] = IF_EQ((__u32)VSEMU_IOCTL_GET_LOCAL_CID, 0, 1);
    f[n++] = RET(vsock_ioctl);
    f[n++] = RET(SECCOMP_RET_ALLOW);
    /* io_uring can make sockets (IORING_OP_SOCKET) where no filter sees them */
    f[n++] = IF_EQ(__NR_io_uring_setup, 0, 1);
    f[n++] = RET(SECCOMP_RET_ERRNO | ENOSYS);
    if (notify) {
        for (size_t i = 0; i < NOTIFIED; i++)
            f[n++] = IF_EQ(notified[i], (__u8)(NOTIFIED - i), 0);
    }
    f[n++] = RET(SECCOMP_RET_ALLOW);
    if (notify)
        f[n++] = RET(SECCOMP_RET_USER_NOTIF);
    /* foreign: i386 on x86_64 (socketcall, socket, socketpair and the ioctl refused),
     * anything else killed */
    f[to_foreign].k = (__u32)(n - to_foreign - 1);
#if defined(__x86_64__)
    f[n++] = IF_EQ(AUDIT_ARCH_I386, 1, 0);
    f[n++] = RET(SECCOMP_RET_KILL_PROCESS);
    f[n++] = LOAD(nr);
    f[n++] = IF_EQ(102, 3, 0); /* socketcall */
    f[n++] = IF_EQ(359, 2, 0); /* socket */
    f[n++] = IF_EQ(360, 1, 0); /* socketpair */
    f[n++] = IF_EQ(54, 2, 1);  /* ioctl */
    f[n++] = RET(SECCOMP_RET_ERRNO | EAFNOSUPPORT);
    f[n++] = RET(SECCOMP_RET_ALLOW);
    f[n++] = LOAD_ARG(1);
    f[n++] = IF_EQ((__u32)VSEMU_IOCTL_GET_LOCAL_CID, 0, 1);
    f[n++] = RET(SECCOMP_RET_ERRNO | ENOTTY);
    f[n++] = RET(SECCOMP_RET_ALLOW);
#else
    f[n++] = RET(SECCOMP_RET_KILL_PROCESS);
#endif
    return n;
}

static int install(int notify)
{
    struct sock_filter f[80];
    int n = build(f, notify);
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    unsigned flags = notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
    return (int)syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

int vsfilter_install_guard(void)
{
    return install(0) < 0 ? -1 : 0;
}

int vsfilter_install_notify(void)
{
    return install(1);
}
