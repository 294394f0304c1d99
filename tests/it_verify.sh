#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# nsm-verify end to end: real captured documents, documents from `nsm-sim attest` under the
# simulated root and under AWS's, policy options, output formats, exit codes 0/1/2, and
# one clear line for every usage or I/O error.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
verify="$bin/nsm-verify"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# expect STATUS PATTERN DESCRIPTION -- ARGS...: runs nsm-verify, checks the exit status and
# that stdout+stderr match the grep pattern (empty: no check).
expect() {
    want=$1; pattern=$2; what=$3; shift 4
    "$verify" "$@" > "$work/out" 2>&1
    got=$?
    if [ "$got" != "$want" ]; then
        fail "$what: exit $got, want $want"; sed 's/^/    | /' "$work/out" | head -20; return
    fi
    if [ -n "$pattern" ] && ! grep -q -e "$pattern" "$work/out"; then
        fail "$what: output lacks '$pattern'"; sed 's/^/    | /' "$work/out" | head -20; return
    fi
    ok "$what"
}

# ---- real documents ---------------------------------------------------------------------------
real=${NSMKIT_SHARED:-../shared}/vectors/real
if [ -d "$real" ]; then
    for doc in "$real"/*.bin; do
        name=$(basename "$doc")
        case "$name" in
            *nitrotpm*) kind="nitrotpm document" ;;
            *) kind="nsm document" ;;
        esac
        expect 0 "VALID ($kind" "$name valid at its own time, $kind" -- --at-doc-time "$doc"
        expect 1 "410 CERT_EXPIRED" "$name expired now" -- "$doc"
    done
    expect 0 "" "all real documents at once" -- --quiet --at-doc-time "$real"/*.bin
    expect 1 "500 SIGNATURE_INVALID" "tampered real document refused at the signature" -- \
        --at-doc-time "$real"/invalid/*.bin
    grep -q "^  signature  failed" "$work/out" || fail "tampered: signature stage not failed"
    expect 1 "607 POLICY_DEBUG_MODE" "real debug document refused with --refuse-debug" -- \
        --at-doc-time --refuse-debug "$real/ppmag_nitro_ad_debug.bin"
    expect 1 "343 USER_DATA_LENGTH" "1024-byte user_data refused by the strict profile" -- \
        --at-doc-time --profile strict "$real/blocky_nitro_attestation.bin"
    expect 0 "module_id     i-04fd167167daacf3b-enc01845e97d0b3eb4e" "dump of a real document" -- \
        --dump "$real/veracruz-go_aws_nitro_document.bin"
    grep -q "subject    C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves" "$work/out" ||
        fail "dump: no root subject"
else
    echo "SKIP: $real not present: real documents not checked"
fi

# ---- simulated documents ------------------------------------------------------------------------
# a PKI whose life starts two hours ago, so that it can sign an hour-old document
"$bin/nsm-ca" init "$work/ca" --time $(( $(date +%s) - 7200 )) > /dev/null ||
    { echo "FAIL: nsm-ca init"; exit 1; }
root="$work/ca/root.pem"
sim() { "$bin/nsm-sim" attest --ca "$work/ca" "$@" 2> "$work/sim.err" || { cat "$work/sim.err"; fail "nsm-sim attest $*"; }; }
sim -o "$work/plain.bin"
sim --map indefinite --nonce 6e6f6e6365 --user-data 75736572 --public-key 6b6579 -o "$work/full.bin"
sim --debug-mode -o "$work/debug.bin"
pcr0=$(printf 'ab%.0s' $(seq 48))
sim --pcr "0=$pcr0" -o "$work/pcr.bin"
now_ms=$(( $(date +%s) * 1000 ))
sim --time $(( now_ms / 1000 - 3600 )) -o "$work/hour-old.bin"

expect 0 "VALID (nsm document, profile aws" "simulated document valid under the simulated root" -- \
    --root "$root" "$work/plain.bin"
expect 1 "402 ROOT_MISMATCH" "simulated document refused under the AWS root" -- "$work/plain.bin"
expect 0 "" "indefinite map with every field, at its own time" -- \
    --root "$root" --at-doc-time "$work/full.bin"
expect 0 "" "expected nonce, user_data and public_key" -- --root "$root" \
    --nonce 6e6f6e6365 --user-data 75736572 --public-key 6b6579 "$work/full.bin"
expect 1 "602 POLICY_NONCE" "a different nonce" -- --root "$root" --nonce 6e6f6e6366 "$work/full.bin"
expect 1 "602 POLICY_NONCE" "a nonce the document lacks" -- --root "$root" --nonce 00 "$work/plain.bin"
expect 0 "" "expected PCR0" -- --root "$root" --expect-pcr "0=$pcr0" "$work/pcr.bin"
expect 1 "600 POLICY_PCR_MISMATCH" "PCR0 differs" -- --root "$root" --expect-pcr "0=$pcr0" "$work/plain.bin"
expect 1 "601 POLICY_PCR_ABSENT" "PCR20 is not locked" -- --root "$root" --expect-pcr "20=$pcr0" "$work/plain.bin"
expect 0 "" "an hour-old document within --max-age 7200" -- --root "$root" --max-age 7200 "$work/hour-old.bin"
expect 1 "605 POLICY_TOO_OLD" "an hour-old document beyond --max-age 60" -- --root "$root" --max-age 60 "$work/hour-old.bin"
expect 0 "debug mode" "debug document accepted and flagged" -- --root "$root" "$work/debug.bin"
expect 1 "607 POLICY_DEBUG_MODE" "debug document refused on request" -- --root "$root" --refuse-debug "$work/debug.bin"
expect 1 "306 PAYLOAD_NULL_FIELD" "strict profile refuses null" -- --root "$root" --profile strict "$work/plain.bin"
expect 0 "" "strict profile accepts a document without null" -- --root "$root" --profile strict "$work/full.bin"
expect 0 "" "the document's time as the verification time" -- --root "$root" --time $(( now_ms / 1000 - 3000 )) "$work/hour-old.bin"
expect 1 "410 CERT_EXPIRED" "a verification time four hours later" -- --root "$root" --time $(( now_ms / 1000 + 4 * 3600 )) "$work/plain.bin"

printf '\322' > "$work/tagged.bin"; cat "$work/plain.bin" >> "$work/tagged.bin"
expect 0 "" "tag 18 accepted" -- --root "$root" "$work/tagged.bin"
cp "$work/plain.bin" "$work/trailing.bin"; printf '\000' >> "$work/trailing.bin"
expect 1 "118 ENV_TRAILING_BYTES" "a trailing byte" -- --root "$root" "$work/trailing.bin"
: > "$work/empty.bin"
expect 1 "100 DOC_EMPTY" "an empty file" -- --root "$root" "$work/empty.bin"
head -c 70000 /dev/zero > "$work/huge.bin"
expect 1 "101 DOC_TOO_LARGE" "a 70000-byte file" -- --root "$root" "$work/huge.bin"
head -c 5000 /dev/urandom > "$work/garbage.bin"
expect 1 "INVALID" "random bytes" -- --root "$root" "$work/garbage.bin"
if "$verify" --root "$root" - < "$work/plain.bin" > "$work/out" 2>&1; then ok "document on stdin"
else fail "document on stdin"; fi

# several documents: 1 when any is invalid; --all lists independent failures
expect 1 "" "one valid and one invalid document" -- --root "$root" "$work/plain.bin" "$work/trailing.bin"
cp "$work/full.bin" "$work/bad-sig.bin"
# the signature's last byte with its low bit flipped (writing a constant byte leaves the
# signature valid whenever the byte already was that constant: one run in 256)
last=$(tail -c 1 "$work/full.bin" | od -An -tu1 | tr -d ' ')
printf "\\$(printf '%03o' $(( last ^ 1 )))" |
    dd of="$work/bad-sig.bin" bs=1 seek=$(( $(wc -c < "$work/full.bin") - 1 )) conv=notrunc 2> /dev/null
cmp -s "$work/full.bin" "$work/bad-sig.bin" && fail "the signature was not changed"
expect 1 "500 SIGNATURE_INVALID" "--all: expired chain and bad signature" -- --root "$root" --all \
    --time $(( now_ms / 1000 + 4 * 3600 )) "$work/bad-sig.bin"
grep -q "410 CERT_EXPIRED" "$work/out" || fail "--all: the chain failure is missing"

# machine output
expect 1 '"name":"ROOT_MISMATCH"' "--json" -- --json "$work/plain.bin"
grep -q '^{"results":\[{"file":".*","valid":false,"code":402,' "$work/out" || fail "--json shape"
if command -v python3 > /dev/null 2>&1; then
    "$verify" --json --root "$root" "$work/plain.bin" "$work/trailing.bin" "$work/missing.bin" \
        2> /dev/null > "$work/json"
    if python3 -m json.tool "$work/json" > /dev/null; then ok "--json output parses"
    else fail "--json output does not parse"; fi
else
    echo "SKIP: python3 not installed: --json output not parsed"
fi
expect 1 "" "--quiet" -- --quiet --root "$root" "$work/trailing.bin"
[ -s "$work/out" ] && fail "--quiet printed: $(head -1 "$work/out")"
expect 0 "module_id     i-" "--dump" -- --dump "$work/full.bin"
grep -q "O=NSM Simulator, OU=NOT AWS" "$work/out" || fail "--dump: no simulated subject"
expect 1 "! envelope 118 ENV_TRAILING_BYTES" "--dump of a broken document" -- --dump "$work/trailing.bin"

# ---- usage and I/O errors: exit 2, one line ------------------------------------------------------
usage() {
    what=$1; shift
    "$verify" "$@" > "$work/out" 2>&1
    got=$?
    lines=$(wc -l < "$work/out")
    if [ "$got" = 2 ] && [ "$lines" -le 1 ] && grep -q '^nsm-verify: ' "$work/out"; then
        ok "$what: $(cat "$work/out")"
    else
        fail "$what: exit $got, $lines lines"; sed 's/^/    | /' "$work/out" | head -5
    fi
}
usage "root file missing" --root "$work/nope.pem" "$work/plain.bin"
usage "root is not a certificate" --root "$work/plain.bin" "$work/plain.bin"
usage "root is a key" --root "$work/ca/root.key" "$work/plain.bin"
usage "document missing" --root "$root" "$work/missing.bin"
usage "document is a directory" --root "$root" "$work"
usage "no document" --root "$root"
usage "unknown option" --frobnicate "$work/plain.bin"
usage "--time with --at-doc-time" --time 5 --at-doc-time "$work/plain.bin"
usage "bad --time" --time soon "$work/plain.bin"
usage "bad profile" --profile lax "$work/plain.bin"
usage "short PCR value" --expect-pcr 0=abcd "$work/plain.bin"
usage "PCR index 32" --expect-pcr "32=$pcr0" "$work/plain.bin"
usage "bad hex nonce" --nonce xyz "$work/plain.bin"
usage "option without value" "$work/plain.bin" --nonce
usage "--dump with --json" --dump --json "$work/plain.bin"
"$verify" --root "$root" "$work/plain.bin" "$work/missing.bin" > "$work/out" 2>&1
[ $? = 2 ] && ok "a missing document among valid ones: exit 2" || fail "missing among valid: not exit 2"
"$verify" --help > "$work/out" 2>&1 && grep -q "^usage: nsm-verify" "$work/out" && ok "--help" || fail "--help"

echo "----"
if [ "$failures" -gt 0 ]; then echo "$failures failures"; exit 1; fi
echo "all nsm-verify checks passed"
