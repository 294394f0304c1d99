/* SPDX-License-Identifier: Apache-2.0 */
/* The whole-verifier target's body, shared by fuzz_verify (libFuzzer's byte mutations) and
 * fuzz_verify_structured (the document mutator of doc_mutator.c). */
#ifndef NSMKIT_FUZZ_VERIFY_TARGET_H
#define NSMKIT_FUZZ_VERIFY_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Verifies data as a document under the fixture's root at the fixed time (every failure
 * reported, a policy that checks every kind of expectation) and under the AWS root at the
 * document's own time (strict profile, first failure only), prints both reports and the
 * dump into a null stream, and aborts when a result breaks the verifier's contract. warm:
 * the first verification starts from the fixture's intermediates in the cache (fixture.h)
 * instead of an empty cache. */
void fuzz_verify_document(const char *target, const uint8_t *data, size_t size, bool warm);

#endif
