/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-vectors: nothing a grading starts outlives it. The grader is the subreaper of every
 * process its commands start (prctl PR_SET_CHILD_SUBREAPER), so that a process which left
 * the command's process group (setsid, a daemon's double fork) becomes the grader's child
 * when its parent exits, instead of init's; these orphans are then killed.
 */
#ifndef NSMKIT_HARNESS_REAP_H
#define NSMKIT_HARNESS_REAP_H

#include <stddef.h>
#include <sys/types.h>

/* Makes this process the subreaper of its descendants; -1 with errno when it cannot. */
int hv_reap_init(void);

/* Kills and reaps every child of this process whose pid is not in keep[0..n) (the commands
 * still being graded); returns how many were killed. The caller must keep new children from
 * being started meanwhile (they would not be in keep yet). */
size_t hv_reap_orphans(const pid_t *keep, size_t n);

/* Kills and reaps every descendant, until this process has no child left (or, after about
 * five seconds of children that will not die, gives up); returns how many were killed. */
size_t hv_reap_all(void);

#endif /* NSMKIT_HARNESS_REAP_H */
