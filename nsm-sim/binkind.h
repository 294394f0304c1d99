/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What kind of program a command is, for `nsm-sim exec`: the LD_PRELOAD shim reaches only
 * dynamically linked programs that call ioctl through the C library, so statically linked
 * programs (no PT_INTERP) and Go programs (raw system calls, a Go build-id note) need the
 * FUSE device.
 *
 * Internal to nsm-sim (not installed).
 */
#ifndef NSMSIM_BINKIND_H
#define NSMSIM_BINKIND_H

#include <stddef.h>

typedef enum {
    NSMSIM_BIN_UNKNOWN, /* not found, not readable, not ELF (a script: its interpreter runs) */
    NSMSIM_BIN_DYNAMIC, /* an ELF program with an interpreter: the shim reaches it */
    NSMSIM_BIN_STATIC,  /* an ELF program without PT_INTERP */
    NSMSIM_BIN_GO,      /* a Go program, static or not */
} nsmsim_bin_kind;

/* Finds command as execvp would (PATH when it has no '/'), writing the path found to path
 * (may be NULL), and classifies it. Reads at most the ELF and program headers and the
 * PT_NOTE segments' first 64 KiB; never fails harder than UNKNOWN. */
nsmsim_bin_kind nsmsim_bin_classify(const char *command, char *path, size_t path_size);
/* "statically linked", "a Go program", ... */
const char *nsmsim_bin_kind_words(nsmsim_bin_kind kind);

#endif /* NSMSIM_BINKIND_H */
