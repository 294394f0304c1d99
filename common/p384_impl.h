/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the P-384 seam (not installed): the key objects and what each implementation
 * provides. p384.c checks every input once for both implementations and dispatches;
 * p384_nettle.c and p384_openssl.c only compute.
 */
#ifndef NSMKIT_P384_IMPL_H
#define NSMKIT_P384_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "nsmkit/p384.h"

struct nsmkit_p384_public {
    atomic_uint refs;
    nsmkit_p384_impl impl;
    uint8_t sec1[NSMKIT_P384_PUBLIC_LEN]; /* checked: 04 || x || y, x and y below p */
    void *state;                          /* the implementation's decoded key, owned */
};

struct nsmkit_p384_private {
    nsmkit_p384_impl impl;
    uint8_t scalar[NSMKIT_P384_SCALAR_LEN]; /* checked: in [1, n-1]; wiped on free */
    void *state;
};

typedef struct {
    const char *name;
    /* key->sec1 is checked for length and form; decode it (on-curve check included). */
    nsmkit_p384_status (*public_init)(nsmkit_p384_public *key);
    void (*public_clear)(nsmkit_p384_public *key);
    /* r and s are in [1, n-1]. */
    nsmkit_p384_status (*verify)(const nsmkit_p384_public *key, const uint8_t digest[48],
                                 const uint8_t signature[96]);
    nsmkit_p384_status (*private_init)(nsmkit_p384_private *key);
    void (*private_clear)(nsmkit_p384_private *key);
    nsmkit_p384_status (*private_public)(const nsmkit_p384_private *key, uint8_t sec1[97]);
    /* k: in [1, n-1], or NULL for the implementation's own CSPRNG nonce. */
    nsmkit_p384_status (*sign)(const nsmkit_p384_private *key, const uint8_t digest[48],
                               const uint8_t *k, uint8_t signature[96]);
} nsmkit_p384_ops;

extern const nsmkit_p384_ops nsmkit_p384_nettle_ops;
extern const nsmkit_p384_ops nsmkit_p384_openssl_ops;

/* 48 bytes from the system's CSPRNG in [1, n-1] (rejection sampling). */
bool nsmkit_p384_random_scalar(uint8_t k[NSMKIT_P384_SCALAR_LEN]);

#endif /* NSMKIT_P384_IMPL_H */
