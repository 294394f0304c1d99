/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Force-included (-include) into the shim's own copies of net.c and emu.c: inside
 * libnsm-vsock-preload.so a call to bind() or close() would land in the shim's
 * interposers again, so these names go to preload.c's vsock_libc_* (libc's definitions).
 */
#ifndef NSMKIT_VSOCK_LIBC_DIRECT_H
#define NSMKIT_VSOCK_LIBC_DIRECT_H

#include <sys/socket.h>
#include <unistd.h>

int vsock_libc_socket(int domain, int type, int protocol);
int vsock_libc_bind(int fd, const struct sockaddr *addr, socklen_t len);
int vsock_libc_connect(int fd, const struct sockaddr *addr, socklen_t len);
int vsock_libc_listen(int fd, int backlog);
int vsock_libc_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int vsock_libc_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int vsock_libc_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
int vsock_libc_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int vsock_libc_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int vsock_libc_close(int fd);

/* preload.c, which defines them, takes only the declarations */
#ifndef VSOCK_LIBC_DIRECT_DECLARE_ONLY
#define socket vsock_libc_socket
#define bind vsock_libc_bind
#define connect vsock_libc_connect
#define listen vsock_libc_listen
#define accept4 vsock_libc_accept4
#define getsockname vsock_libc_getsockname
#define getpeername vsock_libc_getpeername
#define getsockopt vsock_libc_getsockopt
#define setsockopt vsock_libc_setsockopt
#define close vsock_libc_close
#endif

#endif /* NSMKIT_VSOCK_LIBC_DIRECT_H */
