#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Every fuzz target, built with the project's compiler and a plain main() (fuzz/replay.c),
# replays fuzz/regressions/ (every crash ever found, whichever target found it) and its own
# seed corpus. A target that crashes, aborts on a broken invariant, or (in the sanitizer
# pass) trips ASan/UBSan/LeakSanitizer fails the test.
set -u
BUILD=${BUILD:-build}
failures=0
count=0
for t in "$BUILD"/fuzz/replay/fuzz_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    inputs="fuzz/regressions"
    [ -d "fuzz/corpus/$name" ] && inputs="$inputs fuzz/corpus/$name"
    # shellcheck disable=SC2086
    if out=$("$t" $inputs 2>&1); then
        echo "ok: $out"
    else
        echo "FAIL: $name:"; echo "$out" | tail -n 30 | sed 's/^/    | /'
        failures=$((failures + 1))
    fi
    count=$((count + 1))
done
expected=$(ls fuzz/fuzz_*.c | wc -l)
if [ "$count" -ne "$expected" ]; then
    echo "FAIL: $count replay targets for $expected fuzz/fuzz_*.c in $BUILD/fuzz/replay (make check builds them)"
    failures=$((failures + 1))
fi
[ "$(ls fuzz/regressions | wc -l)" -gt 0 ] || { echo "FAIL: fuzz/regressions is empty"; failures=$((failures + 1)); }
echo "$failures failures"
[ "$failures" -eq 0 ]
