#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make demo: the main job end to end on the default setup, saying what it does.
set -eu
BUILD=${BUILD:-build}
bin="$BUILD/bin"
out="$BUILD/demo"
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }

step "1. An attestation document from the simulated NSM (default PKI, created on first use)"
echo "\$ nsm-sim attest --nonce 6e6f6e6365 --user-data 68656c6c6f -o $out/doc.bin"
"$bin/nsm-sim" attest --nonce 6e6f6e6365 --user-data 68656c6c6f -o "$out/doc.bin"
ca="${XDG_STATE_HOME:-$HOME/.local/state}/nsmkit/ca"

step "2. What is inside (taken apart with od/awk, independently of nsmkit)"
sh tests/tools/cose-split.sh "$out/doc.bin" "$out/parts"
grep -E '^(payload_map|module_id|digest|timestamp|pcr_count|cabundle_count|public_key|user_data|nonce)=' \
    "$out/parts/fields.txt" | sed 's/^/    /'

step "3. Checked with the openssl command line alone, pinned to the simulated root"
VERBOSE=1 sh tests/tools/openssl-verify.sh "$out/doc.bin" "$ca/root.pem"

step "4. An unmodified program: the minimal client of AWS's blog post, under nsm-sim exec"
echo "It is built against the drop-in nsm.h and libnsm the way a user builds it (plus an rpath):"
echo "\$ cc tests/blog_client.c -I$BUILD/include -L$BUILD/lib -lnsm"
echo "and runs with the LD_PRELOAD shim and a private server; NSM_SIM_REQUIRE_DEVICE=1 keeps"
echo "libnsm from simulating the NSM itself, so the document comes through the shim's ioctl:"
echo "\$ NSM_SIM_REQUIRE_DEVICE=1 NSM_SIM_TRACE=1 nsm-sim exec -- $BUILD/tests/blog_client"
NSM_SIM_REQUIRE_DEVICE=1 NSM_SIM_TRACE=1 "$bin/nsm-sim" exec -- "$BUILD/tests/blog_client" \
    > "$out/blog.hex" 2> "$out/blog.err"
sed 's/^/    /' "$out/blog.err"
echo "    $(head -c 72 "$out/blog.hex")... ($(tr -d '\n' < "$out/blog.hex" | wc -c) hex digits)"
tr -d '\r\n' < "$out/blog.hex" | xxd -r -p > "$out/blog.bin"
VERBOSE=1 sh tests/tools/openssl-verify.sh "$out/blog.bin" "$ca/root.pem"
echo "\$ nsm-verify --root $ca/root.pem $out/blog.bin"
"$bin/nsm-verify" --root "$ca/root.pem" "$out/blog.bin"

step "5. Checked with nsm-verify, pinned to the simulated root, and refused under AWS's"
echo "\$ nsm-verify --root $ca/root.pem $out/doc.bin"
"$bin/nsm-verify" --root "$ca/root.pem" "$out/doc.bin"
echo "\$ nsm-verify $out/doc.bin    # the default root: AWS Nitro Enclaves Root-G1"
if "$bin/nsm-verify" "$out/doc.bin" | grep -E '^ +[0-9]{3} '; then :; fi

step "Done"
echo "The document is $out/doc.bin; the simulated PKI (O=NSM Simulator, OU=NOT AWS) is in $ca."
