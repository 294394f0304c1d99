#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# An image's own PCR0 in a KMS key policy: nsm-eif builds (and signs) an image, the key policy
# names the PCR0 that nsm-eif describe prints, and the enclave program (tests/kms_enclave)
# under `nsm-sim exec --eif IMAGE` gets the secret from nsm-kms; the same image under
# --debug-mode (PCRs read zero, as a real debug-mode enclave's do) is denied, and so is another
# image. Drives nsm-kms with Debian's AWS CLI, as tests/it_kms.sh does.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
work=$(mktemp -d)
server_pid=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
        server_pid=""
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

PY=/usr/bin/python3
AWS=/usr/bin/aws
if [ ! -x "$PY" ] || [ ! -x "$AWS" ]; then
    echo "SKIP: Debian's awscli is not installed (make deps installs it): the KMS flow is not driven"
    exit 0
fi
if [ ! -x "$BUILD/tests/kms_enclave" ]; then
    echo "SKIP: $BUILD/tests/kms_enclave is not built (make $BUILD/tests/kms_enclave; make check builds it)"
    exit 0
fi
export HOME="$work/home" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDNSMEIFTEST AWS_SECRET_ACCESS_KEY=nsm-eif-test-secret
export AWS_PAGER=""
mkdir -p "$HOME"
"$bin/nsm-ca" init "$work/ca" > /dev/null || { echo "FAIL: nsm-ca init"; exit 1; }
printf '%s %s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$work/creds"
chmod 600 "$work/creds"

# ---- two images: the production one (signed) and another --------------------------------------
head -c 40000 /dev/urandom > "$work/kernel"
head -c 30000 /dev/urandom > "$work/bootstrap"
head -c 10000 /dev/urandom > "$work/other"
openssl ecparam -name secp384r1 -genkey -noout -out "$work/key.pem" 2>/dev/null
openssl req -new -x509 -key "$work/key.pem" -sha384 -out "$work/cert.pem" -days 30 \
    -subj "/CN=release signer" 2>/dev/null
"$bin/nsm-eif" ramdisk --output "$work/app.cpio" -- /bin/app || fail "nsm-eif ramdisk"
"$bin/nsm-eif" build --kernel "$work/kernel" --cmdline "console=ttyS0" --ramdisk "$work/bootstrap" \
    --ramdisk "$work/app.cpio" --name prod --version 1 --build-time 2024-06-01T00:00:00+00:00 \
    --signing-certificate "$work/cert.pem" --private-key "$work/key.pem" --output "$work/prod.eif" \
    > "$work/prod.json" 2>/dev/null || fail "build prod.eif"
"$bin/nsm-eif" build --kernel "$work/kernel" --cmdline "console=ttyS0" --ramdisk "$work/bootstrap" \
    --ramdisk "$work/other" --output "$work/other.eif" > /dev/null 2>&1 || fail "build other.eif"
pcr0=$("$bin/nsm-eif" describe --json "$work/prod.eif" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["Measurements"]["PCR0"])')
[ ${#pcr0} -eq 96 ] && ok "prod.eif's PCR0 from nsm-eif describe --json: $(echo "$pcr0" | cut -c1-16)..." ||
    { fail "no PCR0"; exit 1; }

# ---- nsm-kms and a key released only to that PCR0 ----------------------------------------------
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
    port=$(sed -n 's|^nsm-kms: listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/server.out" 2>/dev/null)
done
endpoint="http://127.0.0.1:$port"
aws_kms() { "$AWS" kms --endpoint-url "$endpoint" --output json "$@" > "$work/aws.out" 2>&1; }
json_field() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$work/aws.out" "$1"; }
cat > "$work/policy.json" <<EOF
{"Version": "2012-10-17", "Statement": [
  {"Sid": "admin", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:DescribeKey"], "Resource": "*"},
  {"Sid": "enclave", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
   "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:ImageSha384": "$pcr0"}}}]}
EOF
aws_kms create-key --description "prod.eif" --policy "file://$work/policy.json" ||
    { fail "create-key"; cat "$work/aws.out"; exit 1; }
key=$(json_field KeyMetadata.KeyId)
printf 'released to prod.eif only' > "$work/secret.txt"
aws_kms encrypt --key-id "$key" --plaintext "fileb://$work/secret.txt" || { fail "encrypt"; exit 1; }
blob=$(json_field CiphertextBlob)
ok "a key whose Decrypt is released only to PCR0 = prod.eif's (kms:RecipientAttestation:ImageSha384)"

enclave() { # enclave STATE-OPTIONS...: kms_enclave under nsm-sim exec; output in $work/enclave.out
    NSM_SIM_REQUIRE_DEVICE=1 "$bin/nsm-sim" exec --ca "$work/ca" "$@" -- \
        "$BUILD/tests/kms_enclave" 127.0.0.1 "$port" "$blob" > "$work/enclave.out" 2> "$work/enclave.err"
}
enclave --eif "$work/prod.eif"; rc=$?
[ $rc -eq 0 ] && grep -q "^secret: released to prod.eif only$" "$work/enclave.out" &&
    ok "kms_enclave under nsm-sim exec --eif prod.eif: the secret is released" ||
    { fail "--eif prod.eif (exit $rc)"; cat "$work/enclave.out" "$work/enclave.err"; }
# the drop-in libnsm's in-process NSM (no device), its state from the environment
NSM_SIM_CA="$work/ca" NSM_SIM_EIF="$work/prod.eif" "$BUILD/tests/kms_enclave" 127.0.0.1 "$port" \
    "$blob" > "$work/enclave.out" 2> "$work/enclave.err"; rc=$?
[ $rc -eq 0 ] && grep -q "^secret: released to prod.eif only$" "$work/enclave.out" &&
    ok "the same with the drop-in libnsm's in-process NSM and NSM_SIM_EIF" ||
    { fail "NSM_SIM_EIF (exit $rc)"; cat "$work/enclave.out" "$work/enclave.err"; }
enclave --eif "$work/prod.eif" --debug-mode; rc=$?
[ $rc -eq 1 ] && grep -q "^kms error: AccessDeniedException" "$work/enclave.out" &&
    ok "prod.eif under --debug-mode (PCR0 reads zero): AccessDeniedException" ||
    { fail "debug mode not denied (exit $rc)"; cat "$work/enclave.out" "$work/enclave.err"; }
enclave --eif "$work/other.eif"; rc=$?
[ $rc -eq 1 ] && grep -q "^kms error: AccessDeniedException" "$work/enclave.out" &&
    ok "another image (other.eif): AccessDeniedException" ||
    { fail "other image not denied (exit $rc)"; cat "$work/enclave.out" "$work/enclave.err"; }

stop_server
[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
exit 0
