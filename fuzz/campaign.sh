#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs one libFuzzer campaign per target, one target at a time, at the lowest priority,
# and prints one summary line per target (executions, exec/s, edges, features, corpus,
# crashes). The numbers of fuzz/README.md come from this script.
#
#   sh fuzz/campaign.sh TARGET:RUNS_OR_SECONDS ...     e.g. fuzz_envelope:10000000 fuzz_verify:600s
#
# RUNS is a number of executions (-runs); a trailing "s" makes it seconds (-max_total_time).
# Corpora grow in $CORPUS/<target> (default build/fuzz-campaign/corpus), seeded from
# fuzz/corpus/<target>; crashes land in $CORPUS/../artifacts/. Extra libFuzzer flags:
# FUZZ_FLAGS (e.g. "-fork=2" for two cores, see fuzz/README.md).
set -u
BIN=${FUZZ_BIN:-build/fuzz-build/fuzz/bin}
CORPUS=${CORPUS:-build/fuzz-campaign/corpus}
ART=$(dirname "$CORPUS")/artifacts
LOGS=$(dirname "$CORPUS")/logs
mkdir -p "$ART" "$LOGS"
for spec in "$@"; do
    name=${spec%%:*}; amount=${spec#*:}
    case "$amount" in
        *s) limit="-max_total_time=${amount%s}" ;;
        *) limit="-runs=$amount" ;;
    esac
    dict=""; [ -f "fuzz/dict/$name.dict" ] && dict="-dict=fuzz/dict/$name.dict"
    mkdir -p "$CORPUS/$name"
    log="$LOGS/$name.log"
    start=$(date +%s)
    # shellcheck disable=SC2086
    nice -n 19 "$BIN/$name" $limit -max_len=16384 -rss_limit_mb=2048 -timeout=30 \
        -print_final_stats=1 $dict ${FUZZ_FLAGS:-} -artifact_prefix="$ART/$name-" \
        "$CORPUS/$name" "fuzz/corpus/$name" > "$log" 2>&1
    rc=$?
    end=$(date +%s)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/edges \1 features \2 corpus \3/p')
    crashes=$(ls "$ART" | grep -c "^$name-")
    echo "$name: rc $rc, ${execs:-?} executions in $((end - start)) s, ${rate:-?} exec/s, $cov, $crashes crash files"
done
