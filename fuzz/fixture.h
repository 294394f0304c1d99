/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the fuzz targets share: a fixed simulated PKI (fuzz/pki, embedded in each binary so
 * that targets run from any directory, as ClusterFuzzLite runs them), a fixed clock, a
 * counting "random" source, and verifiers that trust exactly the roots they are given.
 *
 * Determinism: every target answers an input from the same state - the NSM is rebooted and
 * the random counter reset before each input, verifiers have no chain cache - so a crash
 * reproduces from its own input alone.
 *
 * The PKI is a test fixture: its keys are public (committed), its subjects say
 * "NSM Simulator, NOT AWS", and only these fuzz targets trust its root.
 */
#ifndef NSMKIT_FUZZ_FIXTURE_H
#define NSMKIT_FUZZ_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nsmkit/ca.h"
#include "nsmkit/sim.h"
#include "nsmkit/verify.h"

/* fuzz/pki was created with `nsm-ca init --time` this. */
#define FUZZ_PKI_TIME_S 1790000000ull
/* The simulated NSM's fixed clock: ten minutes after the PKI was made. */
#define FUZZ_SIM_TIME_MS ((FUZZ_PKI_TIME_S + 600) * 1000ull)
/* The verification time: a minute after the NSM's clock, inside every validity. */
#define FUZZ_CACHE_ENTRIES 16
#define FUZZ_VERIFY_TIME_S (FUZZ_PKI_TIME_S + 660)

/* The libFuzzer entry points (declared here for -Wmissing-prototypes). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2,
                                 size_t size2, uint8_t *out, size_t max_out_size,
                                 unsigned int seed);
/* libFuzzer's own mutator, callable from a custom one (absent in the replay driver). */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* Each aborts with a message when the fixture cannot be set up (never on input). */

/* A private copy of the embedded PKI in a temporary directory, removed at exit. */
const char *fuzz_pki_dir(void);
/* The PKI, opened once. */
nsmca_pki *fuzz_pki(void);
/* A leaf issued at the NSM's fixed clock for a fixed enclave id (for re-signing). */
const nsmca_leaf *fuzz_leaf(void);
/* The simulated NSM in its just-booted state (rebooted, random counter reset). */
nsmsim *fuzz_sim_fresh(void);
/* The verifier trusting the fixture's root, its chain cache emptied (so each input starts
 * from the same state and the cache's code is fuzzed too), and one trusting the AWS root,
 * without a cache. */
nsmv_verifier *fuzz_verifier_sim(void);
/* The same verifier with its cache as a long-running verifier has it: the fixture's
 * intermediates verified, no leaf. Restored to exactly that state for each input, so a
 * document whose chain is the fixture's takes the fleet path (leaflink.c) and one whose
 * chain was changed the full path, whatever came before it. */
nsmv_verifier *fuzz_verifier_sim_warm(void);
nsmv_verifier *fuzz_verifier_aws(void);
/* Options for the simulated-root verifier: fixed time, report every failure. */
void fuzz_verify_options(nsmv_options *options);
/* A stream that discards what is written (for the report functions). */
FILE *fuzz_null_stream(void);

/* Aborts (a finding) with a message: an invariant the target checks does not hold. */
void fuzz_fail(const char *target, const char *what) __attribute__((noreturn));

/* The embedded PKI files (generated from fuzz/pki by the Makefile). */
typedef struct {
    const char *name;
    const unsigned char *data;
    size_t len;
} fuzz_embedded_file;
extern const fuzz_embedded_file fuzz_pki_files[];
extern const size_t fuzz_pki_file_count;

#endif /* NSMKIT_FUZZ_FIXTURE_H */
