/* SPDX-License-Identifier: Apache-2.0 */
/* The seccomp filters of `nsm-vsock exec` (filter.c). */
#ifndef NSMKIT_VSOCK_FILTER_H
#define NSMKIT_VSOCK_FILTER_H

/* preload mode: AF_VSOCK sockets and the real GET_LOCAL_CID refused for this process and
 * everything it runs. Sets no_new_privs. 0 or -1 (errno). */
int vsfilter_install_guard(void);

/* seccomp mode: the vsock calls go to a supervisor; returns the listener descriptor, or -1
 * (errno). Sets no_new_privs. */
int vsfilter_install_notify(void);

#endif /* NSMKIT_VSOCK_FILTER_H */
