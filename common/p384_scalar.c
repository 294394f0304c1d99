/* SPDX-License-Identifier: Apache-2.0 */
/*
 * P-384 scalars (nsmkit/p384.h): the group order, the range check and random scalars from
 * the kernel. Both implementations and the seam (p384.c) use them, so they sit below all
 * three.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>

#include "p384_impl.h"

const uint8_t nsmkit_p384_order[NSMKIT_P384_SCALAR_LEN] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
    0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
};

int nsmkit_p384_scalar_in_range(const uint8_t v[NSMKIT_P384_SCALAR_LEN])
{
    static const uint8_t zero[NSMKIT_P384_SCALAR_LEN];
    return memcmp(v, zero, sizeof(zero)) != 0 &&
           memcmp(v, nsmkit_p384_order, NSMKIT_P384_SCALAR_LEN) < 0;
}

bool nsmkit_p384_random_scalar(uint8_t k[NSMKIT_P384_SCALAR_LEN])
{
    /* n is within 2^-190 of 2^384: a retry is as good as never needed, but bounded. */
    for (int attempt = 0; attempt < 64; attempt++) {
        size_t got = 0;
        while (got < NSMKIT_P384_SCALAR_LEN) {
            ssize_t n = getrandom(k + got, NSMKIT_P384_SCALAR_LEN - got, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return false;
            got += (size_t)n;
        }
        if (nsmkit_p384_scalar_in_range(k))
            return true;
    }
    return false;
}

