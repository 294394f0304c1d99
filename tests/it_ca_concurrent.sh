#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Several `nsm-sim attest` started at once on a machine with no PKI yet: all succeed, one
# PKI is created, and exactly one of them says it created it (issue 14, item 7).
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export XDG_STATE_HOME="$work/state"
n=6
i=0; pids=""
while [ $i -lt $n ]; do
    "$bin/nsm-sim" attest -o "$work/doc$i.bin" 2> "$work/err$i" &
    pids="$pids $!"
    i=$((i + 1))
done
failures=0
for pid in $pids; do
    wait "$pid" || { echo "FAIL: an nsm-sim attest failed"; failures=$((failures + 1)); }
done
cat "$work"/err*
said=$(cat "$work"/err* | grep -c "created a simulated Nitro PKI")
if [ "$said" -ne 1 ]; then
    echo "FAIL: $said processes said they created the default PKI, want 1"
    failures=$((failures + 1))
fi
docs=$(ls "$work"/doc*.bin 2> /dev/null | wc -l)
[ "$docs" -eq "$n" ] || { echo "FAIL: $docs documents, want $n"; failures=$((failures + 1)); }
for d in "$work"/doc*.bin; do
    "$bin/nsm-verify" --root "$XDG_STATE_HOME/nsmkit/ca/root.pem" "$d" > /dev/null ||
        { echo "FAIL: $d does not verify against the one root"; failures=$((failures + 1)); }
done
[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "$n concurrent first runs: one PKI, one 'created' line, $n verifying documents"
