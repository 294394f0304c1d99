#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Executions per second of every target on one core: each runs from its committed seeds
# (with its dictionary) for SECONDS into an empty corpus, one target after the other, and
# prints exec/s and the edges and features it reached. The rates of fuzz/README.md come
# from it; run it on a quiet machine, after `make fuzz`.
#   sh fuzz/rates.sh [SECONDS]          (default 20)
set -u
seconds=${1:-20}
BIN=${FUZZ_BIN:-build/fuzz-build/fuzz/bin}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "$BIN"/fuzz_*; do
    name=$(basename "$t")
    dict=""; [ -f "fuzz/dict/$name.dict" ] && dict="-dict=fuzz/dict/$name.dict"
    mkdir -p "$work/$name"
    # shellcheck disable=SC2086
    "$t" -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -print_final_stats=1 \
        $dict -artifact_prefix="$work/$name-" "$work/$name" "fuzz/corpus/$name" \
        > "$work/$name.log" 2>&1
    rc=$?
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$name.log" | tail -1)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log" | tail -1)
    cov=$(grep -E '^#[0-9]+' "$work/$name.log" | tail -1 |
          sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*/edges \1, features \2/p')
    printf '%-24s %8s exec/s  %10s runs in %s s  %s%s\n' "$name" "${rate:-?}" "${runs:-?}" \
        "$seconds" "$cov" "$([ $rc -ne 0 ] && echo "  FAILED (exit $rc): $work/$name.log")"
    [ $rc -eq 0 ] || { cp "$work/$name.log" "/tmp/$name.rates.log"; }
done
