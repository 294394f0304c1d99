/* SPDX-License-Identifier: Apache-2.0 */
/* nsmkit vsock guest side: `nsm-vsock vhost-user`, the backend command (vhost_cmd.c). */
#ifndef NSMKIT_VHOST_CMD_H
#define NSMKIT_VHOST_CMD_H

/* argv[0] is "vhost-user". Returns the exit status: 0, 2 for usage and I/O errors. */
int nsm_vsock_vhost_user_main(int argc, char **argv);

#endif /* NSMKIT_VHOST_CMD_H */
