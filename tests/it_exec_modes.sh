#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `nsm-sim exec` and the programs the LD_PRELOAD shim cannot reach (issue 23 items 8, 9):
# a statically linked or Go COMMAND under plain exec gets one line saying to use
# --device fuse; under --device auto it gets the FUSE device (no fallback to the shim);
# NSM_SIM_TRACE=1 traces requests under --device fuse as it does under the shim.
set -u
BUILD=${BUILD:-build}
bin="$(cd "$BUILD/bin" && pwd)"
tests="$(cd "$BUILD/tests" && pwd)"
static="$tests/devnsm_client_static"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
"$bin/nsm-ca" init "$work/ca" > /dev/null

# ---- plain exec: the kind of COMMAND, said in one line --------------------------------------
if [ -x "$static" ]; then
    "$bin/nsm-sim" exec --ca "$work/ca" -- "$static" threads 1 1 > /dev/null 2> "$work/err"
    n=$(grep -c 'statically linked: the LD_PRELOAD shim cannot reach it, use --device fuse' "$work/err")
    [ "$n" = 1 ] && ok "plain exec of a static program: $(grep 'statically linked' "$work/err")" ||
        fail "plain exec of a static program said: $(cat "$work/err")"
else echo "SKIP: $static is not built (make $static)"; fi
go=$(command -v go 2> /dev/null) && go=$(readlink -f "$go")
if [ -n "$go" ] && [ -x "$go" ]; then
    "$bin/nsm-sim" exec --ca "$work/ca" -- "$go" version > "$work/out" 2> "$work/err"
    grep -q 'is a Go program: the LD_PRELOAD shim cannot reach it, use --device fuse' "$work/err" &&
        ok "plain exec of a Go program ($go): named as one, and run ($(head -c 60 "$work/out"))" ||
        fail "plain exec of a Go program said: $(cat "$work/err")"
else echo "SKIP: no Go toolchain binary to stand for a Go program (golang-go)"; fi
"$bin/nsm-sim" exec --ca "$work/ca" -- true 2> "$work/err" && [ ! -s "$work/err" ] &&
    ok "plain exec of a dynamic program says nothing extra" ||
    fail "plain exec of true said: $(cat "$work/err")"
"$bin/nsm-sim" exec --ca "$work/ca" -- "$work/nonexistent" 2> "$work/err"; rc=$?
[ $rc -eq 127 ] && ! grep -q 'shim cannot reach' "$work/err" &&
    ok "a missing COMMAND is still 127, with no word about its kind" ||
    fail "missing COMMAND: exit $rc, $(cat "$work/err")"

# ---- the FUSE device: auto picks it for a static program, and the trace follows -------------
if ! "$bin/nsm-sim" exec --device fuse --ca "$work/ca" -- true 2> "$work/probe.err"; then
    echo "SKIP: the FUSE device cannot work on this machine: $(cat "$work/probe.err")"
elif [ -x "$static" ]; then
    NSM_SIM_TRACE=1 "$bin/nsm-sim" exec --device auto --ca "$work/ca" -- "$static" threads 1 1 \
        > "$work/out" 2> "$work/err"; rc=$?
    [ $rc -eq 0 ] && grep -q 'NSM_IOCTL_RAW from process [0-9]*: [0-9]*-byte request, [0-9]*-byte response (FUSE /dev/nsm)' "$work/err" &&
        ok "--device auto serves a static program through FUSE, traced: $(grep -m1 NSM_IOCTL_RAW "$work/err")" ||
        fail "--device auto, static program: exit $rc, $(cat "$work/err")"
    grep -q 'shim cannot reach' "$work/err" && fail "--device auto still told the user to use fuse" ||
        ok "--device auto says nothing about the shim"
    NSM_SIM_TRACE=1 "$bin/nsm-sim" exec --device fuse --ca "$work/ca" -- "$static" threads 1 1 \
        > /dev/null 2> "$work/err"
    n=$(grep -c 'NSM_IOCTL_RAW from process' "$work/err")
    [ "$n" -ge 1 ] && ok "NSM_SIM_TRACE=1 under --device fuse: $n traced request(s)" ||
        fail "NSM_SIM_TRACE=1 under --device fuse printed: $(cat "$work/err")"
    "$bin/nsm-sim" exec --device fuse --ca "$work/ca" -- "$static" threads 1 1 > /dev/null 2> "$work/err"
    grep -q NSM_IOCTL_RAW "$work/err" && fail "without NSM_SIM_TRACE the FUSE device traced" ||
        ok "without NSM_SIM_TRACE nothing is traced"
fi

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
