#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Source coverage of what corpora reach: builds the fuzz targets with clang's source-based
# coverage (no sanitizers), runs each target once over its corpus (no fuzzing: -runs=0),
# merges the profiles, and prints llvm-cov's per-file summary and every function of
# verifier/, common/, nsm-core/ and frontends/ whose execution count is zero.
#   sh fuzz/coverage.sh [CORPUS_ROOT]    (default build/fuzz-campaign/corpus; each target
#                                         also gets fuzz/corpus/<target> and fuzz/regressions)
set -eu
root=${1:-build/fuzz-campaign/corpus}
BUILD_COV=${BUILD_COV:-build/fuzz-coverage}
LLVM_PROFDATA=${LLVM_PROFDATA:-llvm-profdata}
LLVM_COV=${LLVM_COV:-llvm-cov}
make --no-print-directory -j2 fuzz-targets BUILD="$BUILD_COV" CC=clang SANITIZE= \
    CFLAGS="-g -fprofile-instr-generate -fcoverage-mapping -fsanitize=fuzzer-no-link" \
    LIB_FUZZING_ENGINE=-fsanitize=fuzzer FUZZ_LINK="clang -fprofile-instr-generate" >/dev/null
prof="$BUILD_COV/profiles"
rm -rf "$prof"; mkdir -p "$prof"
objects=""
for t in "$BUILD_COV"/fuzz/bin/fuzz_*; do
    name=$(basename "$t")
    dirs="fuzz/corpus/$name fuzz/regressions"
    [ -d "$root/$name" ] && dirs="$root/$name $dirs"
    # shellcheck disable=SC2086
    LLVM_PROFILE_FILE="$prof/$name.profraw" "$t" -runs=0 $dirs > "$prof/$name.log" 2>&1 || {
        echo "coverage: $name failed on its corpus: $prof/$name.log" >&2; exit 1; }
    if [ -z "$objects" ]; then objects="$t"; else objects="$objects -object=$t"; fi
done
"$LLVM_PROFDATA" merge -sparse "$prof"/*.profraw -o "$prof/all.profdata"
# shellcheck disable=SC2086
"$LLVM_COV" report $objects -instr-profile="$prof/all.profdata" verifier/*.c common/*.c \
    nsm-core/core.c nsm-core/attest.c frontends/transports/frame.c frontends/transports/client.c frontends/transports/device.c frontends/devnsm/nsmapi.c \
    frontends/devices/cuse.c
echo
echo "functions never reached:"
# shellcheck disable=SC2086
"$LLVM_COV" report -show-functions $objects -instr-profile="$prof/all.profdata" \
    verifier/*.c common/*.c nsm-core/core.c nsm-core/attest.c frontends/transports/frame.c frontends/transports/client.c \
    frontends/transports/device.c frontends/devnsm/nsmapi.c frontends/devices/cuse.c |
    awk -v top="$(pwd)/" '/^File /{file=$2; gsub(/[:\047]/, "", file); sub(top, "", file)}
        $1 !~ /^(Name|---|File|TOTAL)/ && NF > 6 && $4 == "0.00%" {print "  " file ": " $1}'
