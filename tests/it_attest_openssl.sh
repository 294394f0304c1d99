#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Documents from `nsm-sim attest` verify with the openssl command line alone: the chain
# (leaf + cabundle intermediates, root pinned, at the document's time) and the ES384
# signature over the Sig_structure rebuilt from the document's own bytes.
set -eu
BUILD=${BUILD:-build}
bin="$BUILD/bin"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# verify_with_openssl DOC ROOT_PEM [TIME_S]; also leaves the fields in $work/split.<doc>/
verify_with_openssl() {
    rm -rf "$work/split.$(basename "$1")"
    sh tests/tools/cose-split.sh "$1" "$work/split.$(basename "$1")" &&
        sh tests/tools/openssl-verify.sh "$@"
}

"$bin/nsm-ca" init "$work/ca" > /dev/null
root="$work/ca/root.pem"

# 1. a plain document, both payload encodings, and one with every optional field at 1024 bytes
"$bin/nsm-sim" attest --ca "$work/ca" -o "$work/plain.bin" 2> /dev/null
"$bin/nsm-sim" attest --ca "$work/ca" --map indefinite -o "$work/indef.bin" 2> /dev/null
head -c 1024 /dev/urandom > "$work/k1024"
hex1024=$(od -An -v -tx1 "$work/k1024" | tr -d ' \n')
"$bin/nsm-sim" attest --ca "$work/ca" --user-data "$hex1024" --nonce "@$work/k1024" \
    --public-key "@$work/k1024" -o "$work/full.bin" 2> /dev/null
for d in plain indef full; do
    if verify_with_openssl "$work/$d.bin" "$root"; then echo "ok: $d document verifies with openssl"
    else fail "$d document does not verify with openssl"; fi
done
grep -q '^payload_map=definite$' "$work/split.plain.bin/fields.txt" || fail "plain map not definite"
grep -q '^payload_map=indefinite$' "$work/split.indef.bin/fields.txt" || fail "indefinite map not indefinite"
grep -q '^user_data=bytes:1024$' "$work/split.full.bin/fields.txt" || fail "user_data not 1024 bytes"
grep -q '^nonce=null$' "$work/split.plain.bin/fields.txt" || fail "absent nonce is not null"

# 2. the envelope's first bytes are exactly the NSM's: 84 44 a1 01 38 22 a0 59
head_bytes=$(od -An -v -tx1 -N8 "$work/plain.bin" | tr -d ' \n')
[ "$head_bytes" = "8444a1013822a059" ] || fail "envelope starts $head_bytes"
tail_head=$(od -An -v -tx1 -j $(( $(wc -c < "$work/plain.bin") - 98 )) -N2 "$work/plain.bin" | tr -d ' \n')
[ "$tail_head" = "5860" ] || fail "signature head is $tail_head, not 58 60"

# 3. a fixed clock: the chain holds at that time, and only then
"$bin/nsm-sim" attest --ca "$work/ca" --time "$(( $(date +%s) + 3600 ))" \
    -o "$work/fixed.bin" 2> /dev/null
verify_with_openssl "$work/fixed.bin" "$root" > /dev/null || fail "fixed-time document does not verify"
if verify_with_openssl "$work/fixed.bin" "$root" $(( $(date +%s) + 3600 + 4 * 3600 )) > /dev/null 2>&1; then
    fail "a document verified four hours after its leaf expired"
else echo "ok: expired leaf refused by openssl"; fi

# 4. a tampered payload byte breaks the signature (the check can fail)
cp "$work/plain.bin" "$work/tampered.bin"
printf 'X' | dd of="$work/tampered.bin" bs=1 seek=40 conv=notrunc 2> /dev/null
if verify_with_openssl "$work/tampered.bin" "$root" > /dev/null 2>&1; then
    fail "a tampered document verified"
else echo "ok: tampered document refused by openssl"; fi

# 5. a document of another PKI does not verify under this root
"$bin/nsm-ca" init "$work/other" > /dev/null
"$bin/nsm-sim" attest --ca "$work/other" -o "$work/other.bin" 2> /dev/null
if verify_with_openssl "$work/other.bin" "$root" > /dev/null 2>&1; then
    fail "a document of another PKI verified"
else echo "ok: other PKI's document refused"; fi

# 6. fewer intermediate tiers still make a valid chain of the right length
for tiers in 1 2; do
    "$bin/nsm-ca" init "$work/ca$tiers" --intermediates $tiers > /dev/null
    "$bin/nsm-sim" attest --ca "$work/ca$tiers" -o "$work/tiers$tiers.bin" 2> /dev/null
    if verify_with_openssl "$work/tiers$tiers.bin" "$work/ca$tiers/root.pem"; then
        grep -q "^cabundle_count=$((tiers + 1))$" "$work/split.tiers$tiers.bin/fields.txt" \
            && echo "ok: $tiers intermediate tier(s)" || fail "cabundle of $tiers tiers has the wrong length"
    else fail "document with $tiers tier(s) does not verify"; fi
done

# 7. the same openssl path accepts real documents at their own time: this proves the checks
#    above hold our documents to what real hardware produces, not to our own reading of it.
shared=${NSMKIT_SHARED:-../shared}
if [ -d "$shared/vectors/real" ]; then
    for d in "$shared"/vectors/real/*.bin; do
        name=$(basename "$d")
        if verify_with_openssl "$d" "$shared/vectors/real/aws-nitro-root-g1.pem" > "$work/real.out" 2>&1; then
            echo "ok: real $name verifies with the same openssl path"
        else fail "real $name does not verify: $(tail -n 2 "$work/real.out")"; fi
    done
    bad="$shared/vectors/real/invalid/veracruz-go_aws_nitro_document_bad_sig.bin"
    if verify_with_openssl "$bad" "$shared/vectors/real/aws-nitro-root-g1.pem" > /dev/null 2>&1; then
        fail "the real tampered document verified"
    else echo "ok: real tampered document refused"; fi
else
    echo "SKIP: real documents: $shared/vectors/real is absent"
fi

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all openssl checks passed"
