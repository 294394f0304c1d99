#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# examples/kms-recipient end to end: the C client (drop-in nsm.h + libnsm, its own SigV4 and
# its strict CMS reader) and the Python client (libnsm through ctypes, botocore's SigV4Auth,
# asn1crypto) run under nsm-sim exec against nsm-kms: the secret released to the enclave
# whose PCR0 the key policy names, refused with KMS's AccessDeniedException to another.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
work=$(mktemp -d)
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

PY=/usr/bin/python3
if [ ! -x "$PY" ] || ! "$PY" -c 'import botocore, asn1crypto, cryptography' 2>/dev/null; then
    echo "SKIP: python3-botocore, python3-asn1crypto or python3-cryptography missing (make deps): the examples are not run"
    exit 0
fi
if [ ! -x "$BUILD/tests/enclave_decrypt" ]; then
    echo "FAIL: $BUILD/tests/enclave_decrypt is not built (make $BUILD/tests/enclave_decrypt)"
    exit 1
fi
export HOME="$work/home" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDEXAMPLES AWS_SECRET_ACCESS_KEY=examples-secret
mkdir -p "$HOME"
"$bin/nsm-ca" init "$work/ca" > /dev/null || { echo "FAIL: nsm-ca init"; exit 1; }
printf '%s %s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$work/creds"
chmod 600 "$work/creds"
"$bin/nsm-kms" serve --listen 127.0.0.1:0 --state "$work/state" --ca "$work/ca" \
    --credentials "$work/creds" > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
port=""
i=0
while [ -z "$port" ]; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$server_pid" 2>/dev/null; then
        echo "FAIL: nsm-kms did not start"; cat "$work/server.err"; exit 1
    fi
    sleep 0.1
    port=$(sed -n 's|^nsm-kms: listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/server.out")
done
endpoint="http://127.0.0.1:$port"

raw() { "$PY" tests/kms_client.py "$endpoint" raw "$1" "$2"; }
field() { "$PY" -c 'import json,sys
d=json.loads(sys.stdin.read().partition(" ")[2])
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }

pcr0=$(printf '5a%.0s' $(seq 48))
policy=$("$PY" -c 'import json,sys; print(json.dumps(json.dumps({"Statement": [
  {"Sid": "admin", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:DescribeKey"]},
  {"Sid": "enclave", "Effect": "Allow", "Action": "kms:Decrypt",
   "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": sys.argv[1]}}}]})))' "$pcr0")
key=$(raw CreateKey "{\"Policy\": $policy}" | field KeyMetadata.KeyId)
[ -n "$key" ] && ok "a key whose policy releases Decrypt to PCR0 5a..5a: $key" || { fail "CreateKey"; exit 1; }
secret_b64=$(printf 'the enclave example secret' | base64 -w0)
blob=$(raw Encrypt "{\"KeyId\": \"$key\", \"Plaintext\": \"$secret_b64\"}" | field CiphertextBlob)
[ -n "$blob" ] || { fail "Encrypt"; exit 1; }

run() { # run PCR0 PROGRAM ARGS...: under nsm-sim exec; output in $work/out
    pcr="$1"
    shift
    NSM_SIM_REQUIRE_DEVICE=1 NSM_LIBNSM="$BUILD/lib/libnsm.so" "$bin/nsm-sim" exec --ca "$work/ca" \
        --pcr "0=$pcr" -- "$@" > "$work/out" 2> "$work/err"
}
other=$(printf 'a5%.0s' $(seq 48))
want="secret: the enclave example secret"
deny="^kms error: AccessDeniedException: User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:111122223333:key/$key because no resource-based policy allows the kms:Decrypt action$"

run "$pcr0" "$BUILD/tests/enclave_decrypt" 127.0.0.1 "$port" "$blob"; rc=$?
[ $rc -eq 0 ] && [ "$(cat "$work/out")" = "$want" ] &&
    ok "C example (nsm.h + libnsm, its own SigV4, strict CMS reader) under nsm-sim exec: $want" ||
    { fail "C example (exit $rc)"; cat "$work/out" "$work/err"; }
run "$other" "$BUILD/tests/enclave_decrypt" 127.0.0.1 "$port" "$blob" "$key"; rc=$?
[ $rc -eq 1 ] && grep -q "$deny" "$work/out" &&
    ok "C example in an enclave with another PCR0: KMS's AccessDeniedException, exit 1" ||
    { fail "C example, other PCR0 (exit $rc)"; cat "$work/out" "$work/err"; }

# Under a sanitizer build the shim brings its runtime into Python, whose interpreter keeps
# memory to its end by design: leak reports there are Python's, not the example's.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
run "$pcr0" "$PY" examples/kms-recipient/enclave_decrypt.py "$endpoint" "$blob"; rc=$?
[ $rc -eq 0 ] && [ "$(cat "$work/out")" = "$want" ] &&
    ok "Python example (libnsm via ctypes, botocore's SigV4Auth, asn1crypto) under nsm-sim exec: $want" ||
    { fail "Python example (exit $rc)"; cat "$work/out" "$work/err"; }
run "$other" "$PY" examples/kms-recipient/enclave_decrypt.py "$endpoint" "$blob" "$key"; rc=$?
[ $rc -eq 1 ] && grep -q "$deny" "$work/out" &&
    ok "Python example with another PCR0: KMS's AccessDeniedException, exit 1" ||
    { fail "Python example, other PCR0 (exit $rc)"; cat "$work/out" "$work/err"; }

echo "----"
[ $failures -eq 0 ] && echo "it_kms_examples: all checks passed" || echo "it_kms_examples: $failures checks failed"
[ $failures -eq 0 ]
