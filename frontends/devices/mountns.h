/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A private /dev/nsm for one command: the namespaces and mounts under which
 * `nsm-sim exec --device fuse` runs its command (mountns.c). Plain system calls, no libfuse.
 *
 * Not installed; part of nsm-sim's internal front-end interfaces.
 */
#ifndef NSMSIM_MOUNTNS_H
#define NSMSIM_MOUNTNS_H

#include "nsmkit/error.h"

/* In the calling process, which must be single-threaded and about to run the command:
 * a private mount namespace (and, without root, a user namespace mapping only the
 * caller's uid and gid), a private /dev when /dev/nsm does not exist (a tmpfs with every
 * original entry bind-mounted back), and a FUSE mount on /dev/nsm. Returns the /dev/fuse
 * descriptor of the mount (close-on-exec), or -1 with e naming the step that failed. The
 * host's mounts and /dev are never changed: everything happens in the new namespace. */
int nsmsim_private_dev_nsm(nsmkit_error *e) NSMKIT_WARN_UNUSED;

#endif /* NSMSIM_MOUNTNS_H */
