/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A structure-aware mutator for attestation documents (libFuzzer's CustomMutator and
 * CustomCrossOver for fuzz_verify_structured).
 *
 * A byte-level mutation of a signed document almost always dies at the first check that
 * sees it, and a payload change always dies at the signature. This mutator takes the
 * document apart (COSE_Sign1 envelope, payload map, PCR map, cabundle), changes one thing
 * - a field's value or type, a key, the map's shape, a PCR, a certificate's validity, CA
 * flag, key usage, key, name or signature algorithm, the chain's order - and puts it back
 * together: certificates it changed are signed again by their issuer in the fixture PKI,
 * and the document is signed again by the fixture leaf, so the verifier's field, chain,
 * signature and policy checks each see inputs that pass every check before them.
 *
 * The CBOR surgery here is self-contained (item spans over the original bytes, so untouched
 * items keep their exact encoding). The fault library (issue 8) moves document surgery
 * into nsm-sim; once it is on main, the payload and certificate edits here can use it.
 */
#ifndef NSMKIT_FUZZ_DOC_MUTATOR_H
#define NSMKIT_FUZZ_DOC_MUTATOR_H

#include <stddef.h>
#include <stdint.h>

/* Mutates the document in data (size bytes, room for max_size) in place; returns the new
 * size. Falls back to libFuzzer's byte mutations for inputs that are not a COSE_Sign1. */
size_t fuzz_doc_mutate(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
/* Writes into out a document made of data1 with payload fields or certificates taken from
 * data2, signed again; returns its size (0: none). */
size_t fuzz_doc_crossover(const uint8_t *data1, size_t size1, const uint8_t *data2,
                          size_t size2, uint8_t *out, size_t max_out_size, unsigned int seed);

#endif /* NSMKIT_FUZZ_DOC_MUTATOR_H */
