/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AF_VSOCK emulation shared by the LD_PRELOAD shim (preload.c) and the seccomp
 * supervisor (supervise.c): each emulated socket is a real AF_UNIX SOCK_STREAM socket
 * (so that poll, epoll, select, send/recv, shutdown and close work natively), and only
 * the calls that see addresses or vsock options are emulated here.
 *
 * Every function works on a descriptor `fd` that the caller holds for the program's
 * socket (the program's own in the shim; a pidfd_getfd() copy in the supervisor) and
 * reads or writes the program's memory only through process_vm_readv/writev on `pid`, so
 * a bad pointer gives EFAULT and never a crash. Results: 0 (or a count) or -errno, or
 * VSEMU_PASS when the descriptor is not an emulated vsock and the call must go to the
 * kernel as it is.
 *
 * A socket's state (bound address, peer, options) is kept by the sockfs inode, so dup()s
 * and fork()s share it; a socket the table does not know (after exec) is recognised by
 * its unix names in the DIR.
 */
#ifndef NSMKIT_VSOCK_EMU_H
#define NSMKIT_VSOCK_EMU_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "nsmkit/vsock_net.h"

#define VSEMU_PASS 1
/* <linux/vm_sockets.h>'s IOCTL_VM_SOCKETS_GET_LOCAL_CID: _IO(7, 0xb9). */
#define VSEMU_IOCTL_GET_LOCAL_CID 0x7b9ul
/* AF_VSOCK is also the option level of SO_VM_SOCKETS_*. */
#define VSEMU_AF_VSOCK 40

typedef struct {
    nsmvsock_net net;
    uint32_t local_cid;
} vsemu;

/* Sets up from the environment the exec command leaves: NSM_VSOCK_DIR (the network,
 * opened or created as nsmvsock_net_open) and NSM_VSOCK_CID. 0, or -1 with a message. */
int vsemu_from_env(vsemu *emu, nsmkit_error *e);

/* A new emulated socket for socket(AF_VSOCK, type, protocol) in this process: the unix
 * descriptor or -errno. type may carry SOCK_NONBLOCK/SOCK_CLOEXEC. */
int vsemu_socket(vsemu *emu, int type, int protocol);
/* 1 when fd is an emulated vsock, 0 when not. */
int vsemu_is_vsock(vsemu *emu, int fd);

long vsemu_bind(vsemu *emu, int fd, pid_t pid, uintptr_t addr, long len);
long vsemu_listen(vsemu *emu, int fd, int backlog);
/* Connects by the network's rule within the socket's SO_VM_SOCKETS_CONNECT_TIMEOUT. */
long vsemu_connect(vsemu *emu, int fd, pid_t pid, uintptr_t addr, long len);
/* Accepts on the listener fd with accept4 flags; *newfd is this process's descriptor of the
 * connection (the caller gives it to the program, or it already is the program's). The
 * peer's address goes to addr/lenp as accept() writes it (both may be 0). */
long vsemu_accept(vsemu *emu, int fd, pid_t pid, uintptr_t addr, uintptr_t lenp, int flags,
                  int *newfd);
long vsemu_getname(vsemu *emu, int fd, pid_t pid, uintptr_t addr, uintptr_t lenp, int peer);
long vsemu_getsockopt(vsemu *emu, int fd, pid_t pid, int level, int name, uintptr_t val,
                      uintptr_t lenp);
long vsemu_setsockopt(vsemu *emu, int fd, pid_t pid, int level, int name, uintptr_t val,
                      long len);
/* ioctl(IOCTL_VM_SOCKETS_GET_LOCAL_CID) on any descriptor: writes the local CID. */
long vsemu_get_local_cid(vsemu *emu, pid_t pid, uintptr_t arg);
/* A listener closing: its name in the DIR goes (only the shim sees close()). */
void vsemu_closing(vsemu *emu, int fd);

/* The program's memory (EFAULT on a bad address; pid == getpid() for this process). */
int vsemu_mem_read(pid_t pid, uintptr_t addr, void *buf, size_t len);
int vsemu_mem_write(pid_t pid, uintptr_t addr, const void *buf, size_t len);

/* The state of a socket, for tests and the supervisor. */
typedef struct {
    uint32_t bound_cid, bound_port; /* valid when bound */
    uint32_t peer_cid, peer_port;   /* valid when connected */
    uint64_t buffer_size, buffer_min, buffer_max;
    long long connect_timeout_ms;
    pid_t listener_pid; /* the process that listened: only its close() unlinks the name */
    unsigned bound : 1, listening : 1, connected : 1;
} vsemu_sock;

/* Copies the state of an emulated socket: 0, or -1 when fd is not one. */
int vsemu_state(vsemu *emu, int fd, vsemu_sock *out);

#endif /* NSMKIT_VSOCK_EMU_H */
