/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit common: the fixed bytes of the NSM's COSE_Sign1 (RFC 9052), written once for the
 * builder (nsm-core/attest.c) and the verifier (verifier/envelope.c, verifier/cose.c).
 *
 *   84                         array(4)
 *     44 a1 01 38 22           protected = bstr({1: -35})  (alg ES384)
 *     a0                       unprotected = {}
 *     59 LLLL <payload>        payload
 *     58 60 <r || s>           signature, 96 bytes
 *
 * The byte lists are initializers, so each user holds its own const array and no symbol
 * crosses components.
 */
#ifndef NSMKIT_COSE_H
#define NSMKIT_COSE_H

/* COSE alg ES384. */
#define NSMKIT_COSE_ALG_ES384 (-35)

/* The protected header's content, {1: -35}, exactly as the NSM encodes it (4 bytes). */
#define NSMKIT_COSE_PROTECTED_ES384 {0xa1, 0x01, 0x38, 0x22}
#define NSMKIT_COSE_PROTECTED_ES384_LEN 4

/* What every Sig_structure starts with: array(4), then the text "Signature1" (12 bytes).
 * The protected bstr, external_aad (h'' = 40) and the payload bstr follow. */
#define NSMKIT_COSE_SIG_STRUCTURE_PREFIX                                                      \
    {0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1'}
#define NSMKIT_COSE_SIG_STRUCTURE_PREFIX_LEN 12

#endif /* NSMKIT_COSE_H */
