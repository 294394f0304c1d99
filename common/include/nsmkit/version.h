/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: the project's version, printed by every program's --version and given to
 * the shared libraries (the Makefile reads SO_VERSION from this line).
 */
#ifndef NSMKIT_VERSION_H
#define NSMKIT_VERSION_H

#define NSMKIT_VERSION "0.1.0"

#endif /* NSMKIT_VERSION_H */
