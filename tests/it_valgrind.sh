#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# valgrind memcheck of nsm-verify and nsm-sim attest over a small corpus (the whole-verifier
# seeds: simulated and real documents, every regression input, cut and corrupted
# documents): zero errors and zero leaks (definite, indirect and possible; OpenSSL keeps
# some blocks reachable at exit, which are not leaks), or the test fails. Beside the ASan/UBSan pass, this checks the binaries as users build
# them (no sanitizer). valgrind cannot run sanitized binaries: the sanitizer pass skips.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
if [ -n "${SANITIZE:-}" ]; then
    echo "SKIP: valgrind cannot run binaries built with SANITIZE=$SANITIZE (the plain pass runs it)"
    exit 0
fi
if ! command -v valgrind >/dev/null 2>&1; then
    echo "SKIP: valgrind is not installed (make deps installs it)"
    exit 0
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# memcheck WHAT ALLOWED_STATUSES -- COMMAND...: runs COMMAND under memcheck; fails on any
# memcheck error or leak (exit 99) and on an exit status outside ALLOWED_STATUSES.
memcheck() {
    what=$1; allowed=$2; shift 3
    valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
        --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes \
        --log-file="$work/vg.log" "$@" > "$work/out" 2>&1
    rc=$?
    if [ "$rc" = 99 ] || [ -s "$work/vg.log" ]; then
        fail "$what: memcheck reported errors or leaks"; sed 's/^/    | /' "$work/vg.log" | head -40
    elif ! echo " $allowed " | grep -q " $rc "; then
        fail "$what: exit $rc, want one of: $allowed"; sed 's/^/    | /' "$work/out" | head -10
    else
        echo "ok: $what (exit $rc, memcheck clean)"
    fi
}

# ---- the corpus -------------------------------------------------------------------------------
mkdir -p "$work/docs"
cp fuzz/corpus/fuzz_verify/* "$work/docs/"
cp fuzz/regressions/* "$work/docs/"
first=$(ls fuzz/corpus/fuzz_verify/sim-* | head -1)
head -c 100 "$first" > "$work/docs/cut-100"
head -c 4000 "$first" > "$work/docs/cut-4000"
# a corrupted signature and a corrupted certificate byte
cp "$first" "$work/docs/bad-signature"
printf '\001' | dd of="$work/docs/bad-signature" bs=1 seek=$(($(wc -c < "$first") - 5)) conv=notrunc 2>/dev/null
cp "$first" "$work/docs/bad-certificate"
printf '\377' | dd of="$work/docs/bad-certificate" bs=1 seek=2000 conv=notrunc 2>/dev/null
echo "corpus: $(ls "$work/docs" | wc -l) documents"

# ---- nsm-verify -----------------------------------------------------------------------------
# The fixture PKI's root at its fixed time (fuzz/fixture.h): simulated documents are valid.
memcheck "nsm-verify --all --json, simulated root" "0 1" -- \
    "$bin/nsm-verify" --root fuzz/pki/root.pem --time 1790000660 --all --json "$work"/docs/*
memcheck "nsm-verify --all, AWS root at the documents' time, strict" "0 1" -- \
    "$bin/nsm-verify" --at-doc-time --profile strict --all "$work"/docs/*
memcheck "nsm-verify --dump" "0 1" -- "$bin/nsm-verify" --dump "$work"/docs/*
memcheck "nsm-verify with a policy" "1" -- \
    "$bin/nsm-verify" --root fuzz/pki/root.pem --time 1790000660 --nonce 00ff --user-data 01 \
    --public-key 02 --max-age 10 --refuse-debug --expect-pcr 16="$(printf '%096d' 0)" "$work"/docs/*

# ---- nsm-sim attest -------------------------------------------------------------------------
head -c 1000 "$first" > "$work/1000"
cp -r fuzz/pki "$work/ca"; chmod 700 "$work/ca"; chmod 600 "$work/ca"/*
memcheck "nsm-sim attest" "0" -- \
    "$bin/nsm-sim" attest --ca "$work/ca" --time 1790000600 -o "$work/a.doc"
memcheck "nsm-sim attest with every option" "0" -- \
    "$bin/nsm-sim" attest --ca "$work/ca" --time 1790000600 --nonce 0001 --user-data @"$work/1000" \
    --public-key 02 --pcr 3="$(printf '%096d' 7)" --map indefinite -o "$work/b.doc"
memcheck "nsm-sim attest refusing a bad option" "2" -- \
    "$bin/nsm-sim" attest --ca "$work/ca" --time 1790000600 --nonce zz -o "$work/c.doc"
memcheck "nsm-verify of what attest wrote" "0" -- \
    "$bin/nsm-verify" --root fuzz/pki/root.pem --time 1790000660 "$work/a.doc" "$work/b.doc"

echo "$failures failures"
[ "$failures" -eq 0 ]
