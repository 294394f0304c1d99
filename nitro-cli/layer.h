/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-nitro-cli: the path helpers the layer code and the image code share (layer.c).
 */
#ifndef NSMKIT_NITRO_CLI_LAYER_H
#define NSMKIT_NITRO_CLI_LAYER_H

#include <stdbool.h>
#include <stddef.h>

#include "nsmkit/error.h"

/* Writes raw as a relative name without "." components and repeated slashes into out.
 * Refuses an absolute name, too long or too deep names, and ".." (resolved lexically
 * when allow_dotdot is set, but never above the top). "" means the top itself. */
int nitrocli_name_normalize(const char *raw, bool allow_dotdot, char *out, size_t cap,
                            nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Opens the directory holding rel's last component from rootfd, following no link.
 * Returns the fd, -1 (e set) when unsafe, -2 when a directory is missing and !create. */
int nitrocli_open_parent(int rootfd, const char *rel, bool create, const char **last,
                         nsmkit_error *e);
/* Removes dirfd/name and everything under it, following no link; missing is fine. */
int nitrocli_remove_at(int dirfd, const char *name, nsmkit_error *e);

#endif /* NSMKIT_NITRO_CLI_LAYER_H */
