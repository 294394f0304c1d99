#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# nsm-kms end to end: Debian's AWS CLI and boto3 against the endpoint (--endpoint-url), the
# Recipient call as a raw request signed by botocore's SigV4Auth (Debian's botocore predates
# Recipient), the enclave's secret-injection flow under nsm-sim exec (secret released, PCR0
# mismatch denied, untrusted PKI refused with the verifier's code), signature checking,
# restarts, listen rules and hostile clients.
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

# Debian's clients, not whatever else is first on PATH (a pip-installed boto3 knows Recipient).
PY=/usr/bin/python3
AWS=/usr/bin/aws
if [ ! -x "$PY" ] || ! "$PY" -c 'import boto3' 2>/dev/null || [ ! -x "$AWS" ]; then
    echo "SKIP: Debian's awscli and python3-boto3 are not installed (make deps installs them): nsm-kms not driven end to end"
    exit 0
fi

# An isolated AWS client configuration: no user files, no instance metadata.
export HOME="$work/home" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDNSMKMSTEST AWS_SECRET_ACCESS_KEY=nsm-kms-test-secret
export AWS_PAGER=""
mkdir -p "$HOME"

# Two simulated PKIs: the one the server trusts, and one it does not.
"$bin/nsm-ca" init "$work/ca" > /dev/null || { echo "FAIL: nsm-ca init"; exit 1; }
"$bin/nsm-ca" init "$work/other-ca" > /dev/null || { echo "FAIL: nsm-ca init (other)"; exit 1; }
printf '# test keys\n%s %s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$work/creds"
chmod 600 "$work/creds"

# start_server ARGS...: nsm-kms on 127.0.0.1 with a free port (port 0; the bound address is
# read from its first line), state in $work/state.
start_server() {
    rm -f "$work/server.out" # a restart must not read the previous server's address
    "$bin/nsm-kms" serve --listen 127.0.0.1:0 --state "$work/state" --ca "$work/ca" "$@" \
        > "$work/server.out" 2> "$work/server.err" &
    server_pid=$!
    i=0
    port=""
    while [ -z "$port" ]; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 "$server_pid" 2>/dev/null; then
            echo "FAIL: nsm-kms did not start"; cat "$work/server.err"; exit 1
        fi
        sleep 0.1
        port=$(sed -n 's|^nsm-kms: listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/server.out" 2>/dev/null)
    done
    endpoint="http://127.0.0.1:$port"
}

# aws_kms ARGS...: Debian's AWS CLI against the endpoint; output in $work/aws.out.
aws_kms() {
    "$AWS" kms --endpoint-url "$endpoint" --output json "$@" > "$work/aws.out" 2>&1
}
json_field() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$work/aws.out" "$1"; }

start_server --credentials "$work/creds" --timeout 3 --request-timeout 3 --max-connections 16
ok "server on $endpoint (signatures checked against a credentials file)"

# ---- the AWS CLI ---------------------------------------------------------------------------------
"$AWS" --version 2>&1 | sed 's/^/    /'
if aws_kms create-key --description "it_kms key"; then
    key_id=$(json_field KeyMetadata.KeyId)
    ok "aws kms create-key: $key_id"
else
    fail "aws kms create-key"; cat "$work/aws.out"; exit 1
fi
aws_kms create-alias --alias-name alias/it-kms --target-key-id "$key_id" && ok "aws kms create-alias" ||
    { fail "create-alias"; cat "$work/aws.out"; }
printf 'the secret the enclave needs' > "$work/secret.txt"
if aws_kms encrypt --key-id alias/it-kms --plaintext "fileb://$work/secret.txt"; then
    json_field CiphertextBlob > "$work/blob.b64"
    ok "aws kms encrypt with an alias"
else
    fail "aws kms encrypt"; cat "$work/aws.out"
fi
base64 -d "$work/blob.b64" > "$work/blob.bin"
if aws_kms decrypt --ciphertext-blob "fileb://$work/blob.bin" &&
    [ "$(json_field Plaintext | base64 -d)" = "the secret the enclave needs" ]; then
    ok "aws kms decrypt gives the plaintext back"
else
    fail "aws kms decrypt"; cat "$work/aws.out"
fi
if aws_kms generate-data-key --key-id "$key_id" --key-spec AES_256 &&
    [ "$(json_field Plaintext | base64 -d | wc -c)" -eq 32 ]; then
    json_field CiphertextBlob | base64 -d > "$work/dk.bin"
    dk_plain=$(json_field Plaintext)
    aws_kms decrypt --ciphertext-blob "fileb://$work/dk.bin" && [ "$(json_field Plaintext)" = "$dk_plain" ] &&
        ok "aws kms generate-data-key: the blob decrypts to the data key" ||
        fail "data key blob does not decrypt to the data key"
else
    fail "aws kms generate-data-key"; cat "$work/aws.out"
fi
aws_kms generate-data-key-without-plaintext --key-id alias/it-kms --number-of-bytes 16 &&
    ! grep -q Plaintext "$work/aws.out" && ok "aws kms generate-data-key-without-plaintext" ||
    fail "generate-data-key-without-plaintext"
aws_kms generate-random --number-of-bytes 64 && ok "aws kms generate-random" || fail "generate-random"
aws_kms describe-key --key-id "arn:aws:kms:us-east-1:111122223333:alias/it-kms" &&
    [ "$(json_field KeyMetadata.KeyId)" = "$key_id" ] && ok "aws kms describe-key by alias ARN" ||
    fail "describe-key by alias ARN"
aws_kms list-keys && grep -q "$key_id" "$work/aws.out" && ok "aws kms list-keys" || fail "list-keys"
aws_kms list-aliases && grep -q "alias/it-kms" "$work/aws.out" && ok "aws kms list-aliases" ||
    fail "list-aliases"
aws_kms get-key-policy --key-id "$key_id" --policy-name default &&
    grep -q "Enable IAM User Permissions" "$work/aws.out" && ok "aws kms get-key-policy (KMS's default)" ||
    fail "get-key-policy"
# KMS-shaped errors as the CLI shows them
aws_kms describe-key --key-id 00000000-0000-4000-8000-000000000000
grep -q "NotFoundException" "$work/aws.out" && ok "unknown key id: NotFoundException" ||
    { fail "unknown key id"; cat "$work/aws.out"; }
printf 'x' > "$work/junk.bin"
aws_kms decrypt --ciphertext-blob "fileb://$work/junk.bin"
grep -q "InvalidCiphertextException" "$work/aws.out" && ok "junk ciphertext: InvalidCiphertextException" ||
    { fail "junk ciphertext"; cat "$work/aws.out"; }
printf '{"Statement": [{"Effect": "Allow"}]}' > "$work/broken-policy.json"
aws_kms put-key-policy --key-id "$key_id" --policy-name default --policy "file://$work/broken-policy.json"
grep -q "MalformedPolicyDocumentException.*no Action" "$work/aws.out" &&
    ok "broken policy refused at PutKeyPolicy with the reason" || { fail "broken policy"; cat "$work/aws.out"; }
AWS_SECRET_ACCESS_KEY=wrong "$AWS" kms --endpoint-url "$endpoint" list-keys > "$work/aws.out" 2>&1
grep -q "InvalidSignatureException" "$work/aws.out" && ok "a wrong secret key: InvalidSignatureException" ||
    { fail "wrong secret accepted"; cat "$work/aws.out"; }
AWS_DEFAULT_REGION=eu-west-1 AWS_REGION=eu-west-1 "$AWS" kms --endpoint-url "$endpoint" list-keys > "$work/aws.out" 2>&1
grep -q "InvalidSignatureException.*Credential should be scoped to a valid region, not 'eu-west-1'" "$work/aws.out" &&
    ok "a credential scope of another region: InvalidSignatureException, as AWS answers" ||
    { fail "another region's credential scope accepted"; cat "$work/aws.out"; }
AWS_ACCESS_KEY_ID=AKIDUNKNOWN "$AWS" kms --endpoint-url "$endpoint" list-keys > "$work/aws.out" 2>&1
grep -q "UnrecognizedClientException" "$work/aws.out" && ok "an unknown access key: UnrecognizedClientException" ||
    { fail "unknown access key accepted"; cat "$work/aws.out"; }

# ---- boto3 ---------------------------------------------------------------------------------------------
"$PY" tests/kms_client.py "$endpoint" boto3 || fail "boto3 checks"
"$PY" tests/kms_client.py "$endpoint" model > "$work/model.out" 2>&1
sed 's/^/    /' "$work/model.out"
if grep -q "RECIPIENT_IN_MODEL=False" "$work/model.out"; then
    ok "Debian's botocore has no Recipient member in Decrypt: the Recipient call below is a raw request signed with SigV4Auth"
elif grep -q "RECIPIENT_IN_MODEL=True" "$work/model.out"; then
    ok "this botocore knows Recipient (newer than Debian bookworm's); the raw request below works the same"
else
    fail "could not read botocore's KMS model"
fi

# ---- Recipient with a document from nsm-sim attest, decrypted with openssl cms ------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/enclave.pem" 2>/dev/null
chmod 600 "$work/enclave.pem"
openssl pkey -in "$work/enclave.pem" -pubout -outform DER -out "$work/enclave.spki"
pcr0=$(printf 'ab%.0s' $(seq 48))
pcr0_upper=$(printf 'AB%.0s' $(seq 48))
"$bin/nsm-sim" attest --ca "$work/ca" --pcr "0=$pcr0" --public-key "@$work/enclave.spki" -o "$work/doc.bin" ||
    fail "nsm-sim attest"
# a key whose policy releases Decrypt only to an enclave with that PCR0 (written in upper case,
# compared with StringEqualsIgnoreCase)
cat > "$work/enclave-policy.json" <<EOF
{"Version": "2012-10-17", "Statement": [
  {"Sid": "admin", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy"], "Resource": "*"},
  {"Sid": "enclave", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
   "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:ImageSha384": "$pcr0_upper"}}}]}
EOF
aws_kms create-key --description enclave --policy "file://$work/enclave-policy.json" ||
    { fail "create-key with a policy"; cat "$work/aws.out"; }
enclave_key=$(json_field KeyMetadata.KeyId)
printf 'released only to PCR0 ab..ab' > "$work/enclave-secret.txt"
aws_kms encrypt --key-id "$enclave_key" --plaintext "fileb://$work/enclave-secret.txt"
enclave_blob=$(json_field CiphertextBlob)
aws_kms decrypt --ciphertext-blob "$(echo "$enclave_blob")" --cli-binary-format base64
grep -q "AccessDeniedException" "$work/aws.out" &&
    ok "the enclave key's Decrypt without Recipient: AccessDeniedException" ||
    { fail "Decrypt without Recipient was not denied"; cat "$work/aws.out"; }
if "$PY" tests/kms_client.py "$endpoint" recipient "$enclave_key" "$enclave_blob" "$work/doc.bin" "$work/cms.der"; then
    openssl cms -cmsout -print -inform DER -in "$work/cms.der" > "$work/cms.txt"
    grep -q "contentType: pkcs7-envelopedData" "$work/cms.txt" &&
        [ "$(grep -c 'version: 2' "$work/cms.txt")" -eq 2 ] &&
        grep -q "d.subjectKeyIdentifier" "$work/cms.txt" &&
        grep -q "algorithm: rsaesOaep" "$work/cms.txt" &&
        [ "$(grep -c ':sha256' "$work/cms.txt")" -eq 2 ] &&
        grep -q "algorithm: aes-256-cbc" "$work/cms.txt" &&
        ok "CiphertextForRecipient: EnvelopedData v2, KeyTransRecipientInfo v2 (subjectKeyIdentifier), RSAES-OAEP SHA-256/MGF1-SHA-256, AES-256-CBC" ||
        { fail "CMS shape"; cat "$work/cms.txt"; }
    openssl cms -decrypt -inform DER -in "$work/cms.der" -inkey "$work/enclave.pem" -binary \
        -out "$work/released.txt" 2>"$work/cms.err"
    cmp -s "$work/released.txt" "$work/enclave-secret.txt" &&
        ok "openssl cms -decrypt with the enclave's private key gives the secret" ||
        { fail "openssl cms -decrypt"; cat "$work/cms.err"; }
    [ "$(head -c 2 "$work/cms.der" | od -An -tx1 | tr -d ' ')" = 3080 ] &&
        ok "CiphertextForRecipient starts 30 80: BER with indefinite lengths, as KMS writes it" ||
        fail "CiphertextForRecipient is not KMS's BER form"
    if "$PY" -c 'import asn1crypto, cryptography' 2>/dev/null; then
        "$PY" tests/kms_cms_check.py "$work/cms.der" "$work/enclave.pem" "$work/enclave-secret.txt" ||
            fail "asn1crypto/cryptography could not read CiphertextForRecipient"
    else
        echo "SKIP: python3-asn1crypto or python3-cryptography missing (make deps): no independent Python reading"
    fi
else
    fail "Decrypt with Recipient"
fi

# ---- the rest of the Recipient API from a raw SigV4 client: asymmetric keys, Sign/Verify,
# DeriveSharedSecret, GenerateDataKeyPair, a NitroTPM document as recipient ------------------------------
"$bin/nsm-sim" attest --ca "$work/ca" --pcr "0=$pcr0" --public-key "@$work/enclave.spki" \
    --fault payload_nitrotpm_pcrs -o "$work/tpm.bin" 2> /dev/null || fail "nsm-sim attest (NitroTPM)"
if "$PY" -c 'import asn1crypto, cryptography' 2>/dev/null; then
    "$PY" tests/kms_asym.py "$endpoint" "$work/enclave.pem" "$work/doc.bin" "$work/tpm.bin" "$pcr0" ||
        fail "the asymmetric and Recipient operations from a raw SigV4 client"
else
    echo "SKIP: python3-asn1crypto or python3-cryptography missing (make deps): asymmetric operations not driven"
fi

# ---- the enclave program under nsm-sim exec: the seed's flow -------------------------------------------
enclave() { # enclave CA PCR0: runs the enclave program; output in $work/enclave.out
    NSM_SIM_REQUIRE_DEVICE=1 "$bin/nsm-sim" exec --ca "$1" --pcr "0=$2" -- \
        "$BUILD/tests/kms_enclave" 127.0.0.1 "$port" "$enclave_blob" --cms-out "$work/enclave-cms.der" \
        > "$work/enclave.out" 2> "$work/enclave.err"
}
enclave "$work/ca" "$pcr0"; rc=$?
if [ $rc -eq 0 ] && grep -q "^secret: released only to PCR0 ab..ab$" "$work/enclave.out"; then
    ok "enclave under nsm-sim exec: key pair, document, Decrypt with Recipient, CMS opened: $(cat "$work/enclave.out")"
else
    fail "enclave flow (exit $rc)"; cat "$work/enclave.out" "$work/enclave.err"
fi
enclave "$work/ca" "$(printf 'cd%.0s' $(seq 48))"; rc=$?
[ $rc -eq 1 ] && grep -q "^kms error: AccessDeniedException: User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:111122223333:key/$enclave_key because no resource-based policy allows the kms:Decrypt action$" "$work/enclave.out" &&
    ok "enclave with another PCR0: KMS's own message: $(cut -c1-120 "$work/enclave.out")..." ||
    { fail "PCR0 mismatch not denied (exit $rc)"; cat "$work/enclave.out" "$work/enclave.err"; }
grep -q "denied kms:Decrypt on $enclave_key: .*Sid \"enclave\").*PCR0 of the document is cdcd.*, the policy's StringEqualsIgnoreCase on kms:RecipientAttestation:ImageSha384 wants ABAB" "$work/server.err" &&
    ok "the server's log says why: $(grep "denied kms:Decrypt on $enclave_key: .*PCR0 of the document is cdcd" "$work/server.err" | head -n 1 | cut -c1-200)..." ||
    { fail "the denial's reason is not in the log"; tail -5 "$work/server.err"; }
enclave "$work/other-ca" "$pcr0"; rc=$?
[ $rc -eq 1 ] && grep -q "^kms error: ValidationException: .*402 ROOT_MISMATCH" "$work/enclave.out" &&
    ok "enclave under a PKI the server does not trust: $(cut -c1-150 "$work/enclave.out")..." ||
    { fail "untrusted PKI not refused with its code (exit $rc)"; cat "$work/enclave.out" "$work/enclave.err"; }

# ---- hostile clients -----------------------------------------------------------------------------------
"$PY" tests/kms_hostile.py 127.0.0.1 "$port" 65536 16 3 || fail "hostile clients"
kill -0 "$server_pid" 2>/dev/null && ok "the server survived every hostile client" || fail "the server died"

# ---- a restart keeps every key; state files are private; temporary files of interrupted
# writes (a SIGKILL between write and rename) are removed at start ---------------------------------------
stop_server
any_key=$(find "$work/state/keys" -name '*.json' | head -n 1)
cp "$any_key" "$any_key.tmp31337"
printf '{"AliasName": ' > "$work/state/aliases/half.json.tmp4242"
start_server --credentials "$work/creds"
[ ! -e "$any_key.tmp31337" ] && [ ! -e "$work/state/aliases/half.json.tmp4242" ] &&
    grep -q "removed 2 temporary files of interrupted writes" "$work/server.err" &&
    ok "temporary files of interrupted writes removed at start, and said so" ||
    { fail "temporary files left"; cat "$work/server.err"; }
aws_kms decrypt --ciphertext-blob "fileb://$work/blob.bin" &&
    [ "$(json_field Plaintext | base64 -d)" = "the secret the enclave needs" ] &&
    ok "after a restart the old blob still decrypts" || { fail "restart lost the key"; cat "$work/aws.out"; }
aws_kms describe-key --key-id alias/it-kms && ok "after a restart the alias still resolves" ||
    fail "restart lost the alias"
"$bin/nsm-kms" serve --listen 127.0.0.1:0 --state "$work/state" --ca "$work/ca" > "$work/out" 2>&1 &&
    fail "a second server on the same state directory" ||
    { grep -q "another nsm-kms serves this state directory" "$work/out" &&
        ok "a second server on the same state directory is refused" ||
        { fail "second server's message"; cat "$work/out"; }; }
modes=$(find "$work/state" -type f -exec stat -c '%a' {} + | sort -u | tr '\n' ' ')
[ "$modes" = "600 " ] && ok "every state file is 0600" || fail "state file modes: $modes"
[ "$(stat -c '%a' "$work/state")" = 700 ] && ok "the state directory is 0700" || fail "state directory mode"
stop_server

# ---- listening rules and start-up refusals ----------------------------------------------------------------
"$bin/nsm-kms" serve --listen 0.0.0.0:0 --state "$work/state" --ca "$work/ca" > "$work/out" 2>&1 &&
    fail "listening on 0.0.0.0 without --allow-remote" ||
    { grep -q "not a loopback address" "$work/out" && ok "0.0.0.0 refused without --allow-remote" ||
        { fail "0.0.0.0 refusal message"; cat "$work/out"; }; }
chmod 644 "$work/creds"
"$bin/nsm-kms" serve --listen 127.0.0.1:0 --state "$work/state" --ca "$work/ca" --credentials "$work/creds" \
    > "$work/out" 2>&1 && fail "a credentials file open to others was accepted" ||
    { grep -q "open to group or others" "$work/out" && ok "credentials file readable by others refused" ||
        { fail "credentials refusal message"; cat "$work/out"; }; }
key_file=$(find "$work/state/keys" -name '*.json' | head -n 1)
printf '{"KeyId": 1}' > "$key_file"
"$bin/nsm-kms" serve --listen 127.0.0.1:0 --state "$work/state" --ca "$work/ca" > "$work/out" 2>&1 &&
    fail "a broken key file was accepted" ||
    { grep -q "$(basename "$key_file")" "$work/out" && ok "a broken key file stops the server at start, named" ||
        { fail "broken key file message"; cat "$work/out"; }; }
"$bin/nsm-kms" serve > "$work/out" 2>&1; [ $? -eq 2 ] && grep -q "needs --listen" "$work/out" &&
    ok "usage error: exit 2" || fail "usage error"
# --help on standard output with exit 0, for the program and its subcommand; --version; and
# the help says what the server does beyond the connection limit (tests/kms_hostile.py shows
# the extra connections waiting in the backlog and then served)
for args in "--help" "serve --help" "serve --listen 127.0.0.1:0 --help"; do
    # shellcheck disable=SC2086
    "$bin/nsm-kms" $args > "$work/out" 2> "$work/err"; rc=$?
    [ $rc -eq 0 ] && grep -q "^usage: nsm-kms serve" "$work/out" && [ ! -s "$work/err" ] &&
        ok "nsm-kms $args: usage on standard output, exit 0" || fail "nsm-kms $args (exit $rc)"
done
grep -q "more connections wait in the kernel's" "$work/out" && ! grep -qi "are closed)" "$work/out" &&
    ok "--help says connections beyond --max-connections wait in the backlog (as the server does)" ||
    fail "--help on the connection limit"
"$bin/nsm-kms" --version > "$work/out" 2>&1 && grep -q "^nsm-kms (nsmkit) [0-9]" "$work/out" &&
    ok "nsm-kms --version: $(cat "$work/out")" || fail "nsm-kms --version"

echo "----"
[ $failures -eq 0 ] && echo "it_kms: all checks passed" || echo "it_kms: $failures checks failed"
[ $failures -eq 0 ]
