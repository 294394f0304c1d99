/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The public headers stand on their own and keep their dependencies to themselves: a
 * program that includes nsmkit/ca.h, nsmkit/sim.h and nsmkit/verify.h never sees libcbor
 * (only nsmkit/cbor.h wraps it) nor OpenSSL. This file failing to compile is the test;
 * the checks below make sure the declarations it got are the real ones.
 */

/* If any header below included <cbor.h>, libcbor's own typedef of cbor_item_t would
 * clash with this one and the build would stop here. */
typedef struct not_libcbor cbor_item_t;

#include "nsmkit/ca.h"
#include "nsmkit/sim.h"
#include "nsmkit/verify.h"
#include "nsmkit/p384.h"
#include "nsmkit/fault.h"
#include "nsmkit/surgery.h"
#include "nsmkit/det_sign.h"

#ifdef LIBCBOR_H_
#error "a public nsmkit header includes <cbor.h>"
#endif
#ifdef OPENSSL_TYPES_H
#error "a public nsmkit header includes OpenSSL"
#endif
#if defined(NETTLE_ECC_H_INCLUDED) || defined(__GMP_H__)
#error "a public nsmkit header includes nettle or GMP"
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

static void declarations_are_usable(void **state)
{
    (void)state;
    assert_string_equal(nsmsim_error_code_name(NSMSIM_INVALID_INDEX), "InvalidIndex");
    assert_int_equal(sizeof(struct nsm_raw), 32);
    assert_int_equal(NSM_IOCTL_RAW, 0xC0200A00u);
    assert_string_equal(nsmkit_p384_impl_name(NSMKIT_P384_NETTLE), "nettle");
    assert_int_equal(nsmfault_by_name("sig_bit_flip"), NSMFAULT_sig_bit_flip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(declarations_are_usable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
