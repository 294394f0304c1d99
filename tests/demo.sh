#!/bin/sh
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

step "Done"
echo "The document is $out/doc.bin; the simulated PKI (O=NSM Simulator, OU=NOT AWS) is in $ca."
