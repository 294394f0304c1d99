/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the whole verifier, as fuzz_verify, with the structure-aware document
 * mutator (doc_mutator.h): what it changes is signed again with the fixture PKI, so the
 * field, chain, signature and policy checks see inputs that pass the checks before them.
 * Its inputs replay through any target; they are plain documents.
 */
#include "doc_mutator.h"
#include "fixture.h"
#include "verify_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_verify_document("fuzz_verify_structured", data, size, true);
    return 0;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    return fuzz_doc_mutate(data, size, max_size, seed);
}

size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2,
                                 size_t size2, uint8_t *out, size_t max_out_size,
                                 unsigned int seed)
{
    return fuzz_doc_crossover(data1, size1, data2, size2, out, max_out_size, seed);
}
