#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs every test given on the command line (cmocka binaries and it_*.sh scripts), keeps
# each one's output in $BUILD/test-logs/, and prints one line per test and a summary.
# Skipped checks are counted and named, never reported as passes.
BUILD=${BUILD:-build}
logs="$BUILD/test-logs"
mkdir -p "$logs"
pass=0; fail=0; skipped=0; failed=""
for t in "$@"; do
    name=$(basename "$t" .sh)
    log="$logs/$name.log"
    case "$t" in
        *.sh) BUILD="$BUILD" SANITIZE="$SANITIZE" sh "$t" >"$log" 2>&1 ;;
        *) CMOCKA_MESSAGE_OUTPUT=stdout "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    # every skip prints one "SKIP: why" line (test_skip() in C, echo in scripts)
    skips=$(grep -c -E '^SKIP' "$log")
    skipped=$((skipped + skips))
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        if [ "$skips" -gt 0 ]; then
            echo "PASS  $name  ($skips skipped:)"
            grep -E '^SKIP' "$log" | sed 's/^/        /'
        else
            echo "PASS  $name"
        fi
    else
        fail=$((fail + 1)); failed="$failed $name"
        echo "FAIL  $name  (exit $rc; last lines of $log:)"
        tail -n 25 "$log" | sed 's/^/    | /'
    fi
done
echo "----"
echo "tests: $pass passed, $fail failed; $skipped checks skipped"
[ $fail -eq 0 ] || { echo "failed:$failed"; exit 1; }
