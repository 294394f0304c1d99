#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The command-line contract (DESIGN.md, issue 23 items 3, 4, 11): every program and
# subcommand answers --help on stdout with exit 0 and --version with exit 0; every --time
# is Unix seconds with a fraction allowed (nsm-sim's too, which took milliseconds); a
# policy fault says which nsm-verify option shows it.
set -u
BUILD=${BUILD:-build}
bin="$(cd "$BUILD/bin" && pwd)"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# help_version NAME ARGS...: `ARGS --help` prints a usage on stdout, nothing on stderr,
# exit 0; `ARGS --version` prints "NAME (nsmkit) VERSION", exit 0.
help_version() {
    name=$1; shift
    "$@" --help > "$work/out" 2> "$work/err"; rc=$?
    if [ $rc -eq 0 ] && grep -q '^usage:\|^nsm-qemu:' "$work/out" && [ ! -s "$work/err" ]; then
        ok "$name --help: usage on stdout, exit 0"
    else fail "$name --help: exit $rc, stdout $(head -c 80 "$work/out"), stderr $(head -c 200 "$work/err")"; fi
    "$@" -h > "$work/out-h" 2> /dev/null && cmp -s "$work/out" "$work/out-h" ||
        fail "$name -h differs from --help"
    out=$("$@" --version 2> "$work/err"); rc=$?
    case "$out" in
        "$name (nsmkit) "[0-9]*) [ $rc -eq 0 ] && ok "$name --version: $out" || fail "$name --version: exit $rc" ;;
        *) fail "$name --version: exit $rc, '$out' $(head -c 200 "$work/err")" ;;
    esac
}

help_version nsm-sim "$bin/nsm-sim"
for sub in attest serve exec fuse cuse; do help_version "nsm-sim $sub" "$bin/nsm-sim" "$sub"; done
help_version nsm-ca "$bin/nsm-ca"
for sub in init show; do help_version "nsm-ca $sub" "$bin/nsm-ca" "$sub"; done
help_version nsm-verify "$bin/nsm-verify"
help_version nsm-qemu "$bin/nsm-qemu"
help_version "nsm-qemu run" "$bin/nsm-qemu" run
# the programs whose command lines are nsmkit/opts.h tables too (issue 18), each subcommand
help_version nsm-kms "$bin/nsm-kms"
help_version "nsm-kms serve" "$bin/nsm-kms" serve
help_version nsm-vectors "$bin/nsm-vectors"
for sub in list gen grade report; do help_version "nsm-vectors $sub" "$bin/nsm-vectors" "$sub"; done
help_version nsm-eif "$bin/nsm-eif"
for sub in describe build extract ramdisk list corpus grade; do
    help_version "nsm-eif $sub" "$bin/nsm-eif" "$sub"
done
help_version nsm-vsock "$bin/nsm-vsock"
for sub in exec proxy heartbeat vhost-user; do help_version "nsm-vsock $sub" "$bin/nsm-vsock" "$sub"; done
# an unknown option is a usage error (exit 2) that names it, in every converted command
for cmd in "nsm-kms serve" "nsm-vectors gen" "nsm-vectors report" "nsm-eif describe" \
           "nsm-eif build" "nsm-vsock exec" "nsm-vsock proxy" "nsm-vsock vhost-user"; do
    # shellcheck disable=SC2086
    "$bin"/$cmd --no-such-option > "$work/out" 2>&1; rc=$?
    [ $rc -eq 2 ] && grep -q 'unknown option --no-such-option' "$work/out" &&
        ok "$cmd --no-such-option: exit 2, named" || fail "$cmd --no-such-option: exit $rc, $(head -c 200 "$work/out")"
done
# a value that is not the option's is refused by the option's setter, with exit 2
"$bin/nsm-eif" build --arch sparc > "$work/out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q -- "--arch is x86_64 or aarch64" "$work/out" &&
    ok "nsm-eif build --arch sparc: exit 2, said" || fail "nsm-eif build --arch sparc: exit $rc, $(head -c 200 "$work/out")"
"$bin/nsm-kms" serve --listen 127.0.0.1:0 --threads 65 > "$work/out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q -- "--threads wants 1..64" "$work/out" &&
    ok "nsm-kms serve --threads 65: exit 2, said" || fail "nsm-kms --threads 65: exit $rc, $(head -c 200 "$work/out")"
# nsm-eif build's --version V names the image's version (a row of its table); alone, nsm-eif's
"$bin/nsm-eif" build --version > "$work/out" 2>&1 && grep -q '^nsm-eif build (nsmkit) ' "$work/out" &&
    ok "nsm-eif build --version alone: the program's version" || fail "nsm-eif build --version: $(cat "$work/out")"
"$bin/nsm-eif" build --version 1.2 --output "$work/x.eif" > "$work/out" 2>&1; rc=$?
[ $rc -eq 2 ] && ! grep -q '(nsmkit)' "$work/out" &&
    ok "nsm-eif build --version 1.2: taken as the image's version (the build then needs a kernel)" ||
    fail "nsm-eif build --version 1.2: exit $rc, $(head -c 200 "$work/out")"
# --help after other options, and a subcommand's --help never runs it
"$bin/nsm-sim" attest --ca "$work/nowhere" --help > "$work/out" 2>&1 && [ ! -e "$work/nowhere" ] &&
    ok "attest --ca X --help: help, no PKI created" || fail "attest --ca X --help: $(head -c 200 "$work/out")"
# the help comes from the table: every state option appears in every command that takes them
for sub in attest serve exec fuse; do
    "$bin/nsm-sim" "$sub" --help > "$work/out"
    missing=""
    for o in --ca --time --pcr --measurements --debug-mode --map --fault --fault-every \
             --fault-rate --seed --no-resign; do
        grep -q -- "^  $o\b" "$work/out" || missing="$missing $o"
    done
    [ -z "$missing" ] && ok "nsm-sim $sub --help lists every state option" ||
        fail "nsm-sim $sub --help lacks:$missing"
done

# ---- one time unit: Unix seconds, a fraction allowed ---------------------------------------
"$bin/nsm-ca" init --time 1789990000.75 "$work/ca" > /dev/null 2> "$work/err" &&
    ok "nsm-ca init --time takes a fraction" || fail "nsm-ca init --time S.FRAC: $(cat "$work/err")"
if "$bin/nsm-sim" attest --ca "$work/ca" --time 1790000000.25 -o "$work/doc" 2> "$work/err"; then
    ts=$("$bin/nsm-verify" --dump "$work/doc" | sed -n 's/.*timestamp *\([0-9]*\).*/\1/p' | head -n 1)
    [ "$ts" = 1790000000250 ] && ok "nsm-sim attest --time 1790000000.25: the document's timestamp is 1790000000250 ms" ||
        fail "nsm-sim --time 1790000000.25 gave timestamp '$ts'"
    "$bin/nsm-verify" --root "$work/ca/root.pem" --time 1790000000.5 "$work/doc" > /dev/null 2>&1 &&
        ok "nsm-verify --time takes a fraction too" || fail "nsm-verify --time S.FRAC refused"
else fail "nsm-sim attest --time 1790000000.25: $(cat "$work/err")"; fi
"$bin/nsm-sim" attest --ca "$work/ca" --time 1790000000250 -o "$work/doc2" 2> "$work/err"; rc=$?
[ $rc -eq 2 ] && grep -q 'not milliseconds.*1790000000\.250' "$work/err" &&
    ok "milliseconds are refused with the seconds they meant: $(cat "$work/err")" ||
    fail "--time in milliseconds: exit $rc, $(cat "$work/err")"
# a time before the PKI says so with dates, not only numbers
"$bin/nsm-sim" attest --ca "$work/ca" --time 1000000000 -o "$work/doc3" 2> "$work/err"
grep -q 'outside the root.s validity' "$work/err" && grep -q '2001-09-09' "$work/err" &&
    ok "a time outside the PKI is named as a date: $(head -c 300 "$work/err")" ||
    fail "a time outside the PKI: $(cat "$work/err")"

# ---- a policy fault names the option that shows it (issue 23 item 11) ----------------------
"$bin/nsm-sim" attest --ca "$work/ca" --fault policy_future -o "$work/pf" 2> "$work/err"
grep -q 'POLICY_FUTURE.*only with --max-age' "$work/err" &&
    ok "attest --fault policy_future: $(grep POLICY_FUTURE "$work/err")" ||
    fail "attest --fault policy_future says: $(cat "$work/err")"
"$bin/nsm-verify" --root "$work/ca/root.pem" --max-age 300 "$work/pf" > "$work/v" 2>&1
grep -q POLICY_FUTURE "$work/v" && ok "nsm-verify --max-age reports POLICY_FUTURE" ||
    fail "nsm-verify --max-age on policy_future: $(cat "$work/v")"
"$bin/nsm-sim" attest --ca "$work/ca" --fault sig_bit_flip -o "$work/sb" 2> "$work/err"
grep -q 'only with' "$work/err" && fail "a signature fault claims an option: $(cat "$work/err")" ||
    ok "a non-policy fault names no option"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
