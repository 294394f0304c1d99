#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make demo-kms: the secret-injection flow of an enclave, end to end on one machine, saying
# what it does: a local KMS, a key whose policy releases secrets only to one enclave image,
# and the enclave program asking for its secret under the simulated /dev/nsm.
set -eu
BUILD=${BUILD:-build}
bin="$BUILD/bin"
out="$BUILD/demo/kms"
rm -rf "$out"
mkdir -p "$out"
chmod 700 "$out"
step() { printf '\n== %s\n' "$*"; }
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; true' EXIT

export AWS_ACCESS_KEY_ID=AKIDDEMO AWS_SECRET_ACCESS_KEY=demo-secret AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export AWS_PAGER=""
ca="${XDG_STATE_HOME:-$HOME/.local/state}/nsmkit/ca"

step "1. A local KMS on a free loopback port, trusting the default simulated PKI ($ca)"
echo "\$ nsm-kms serve --listen 127.0.0.1:0 --state $out/state"
"$bin/nsm-kms" serve --listen 127.0.0.1:0 --state "$out/state" > "$out/server.out" 2> "$out/server.err" &
server_pid=$!
i=0
until grep -q "listening on" "$out/server.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 300 ] || { cat "$out/server.err"; exit 1; }; sleep 0.1
done
sed 's/^/    /' "$out/server.out"
port=$(sed -n 's|^nsm-kms: listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$out/server.out")
endpoint="http://127.0.0.1:$port"

step "2. The enclave image's measurements, as nitro-cli build-enclave prints them"
pcr() { printf "$1%.0s" $(seq 48); }
cat > "$out/measurements.json" <<JSON
{"Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": "$(pcr 0a)", "PCR1": "$(pcr 1b)", "PCR2": "$(pcr 2c)"}}
JSON
sed 's/^/    /' "$out/measurements.json"

step "3. A key whose policy releases Decrypt only to an enclave with that PCR0 (ImageSha384)"
cat > "$out/policy.json" <<JSON
{"Version": "2012-10-17", "Statement": [
  {"Sid": "operator", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:DescribeKey", "kms:GetKeyPolicy"], "Resource": "*"},
  {"Sid": "enclave", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
   "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:ImageSha384": "$(pcr 0A)"}}}]}
JSON
aws="/usr/bin/aws kms --endpoint-url $endpoint --output text"
echo "\$ aws kms create-key --endpoint-url $endpoint --policy file://policy.json"
key=$($aws create-key --description "demo-kms" --policy "file://$out/policy.json" --query KeyMetadata.KeyId)
echo "    key $key"

step "4. The operator encrypts the enclave's secret (the encrypted blob it keeps in storage)"
printf 'database password: correct horse battery staple' > "$out/secret.txt"
echo "\$ aws kms encrypt --key-id $key --plaintext fileb://secret.txt"
blob=$($aws encrypt --key-id "$key" --plaintext "fileb://$out/secret.txt" --query CiphertextBlob)
echo "    CiphertextBlob $(printf %.60s "$blob")..."
echo "\$ aws kms decrypt --ciphertext-blob ...   (no Recipient: the policy's condition cannot hold)"
$aws decrypt --ciphertext-blob "$blob" 2>&1 | sed 's/^/    /' || true

step "5. The enclave: RSA-2048 key pair, attestation document with the public key, Decrypt with Recipient, CMS opened with the private key"
echo "\$ nsm-sim exec --measurements measurements.json -- kms_enclave 127.0.0.1 $port BLOB"
NSM_SIM_REQUIRE_DEVICE=1 "$bin/nsm-sim" exec --measurements "$out/measurements.json" -- \
    "$BUILD/tests/kms_enclave" 127.0.0.1 "$port" "$blob" --cms-out "$out/cms.der" 2>&1 | sed 's/^/    /'
echo "What KMS sent back (CiphertextForRecipient): BER as KMS writes it, first bytes $(head -c 8 "$out/cms.der" | od -An -tx1 | tr -s ' ')"
echo "... and as openssl sees it:"
openssl cms -cmsout -print -inform DER -in "$out/cms.der" |
    grep -E 'contentType|version|subjectKeyIdentifier|algorithm:' | sed 's/^/    /'

step "6. Another image (PCR0 differs): the key policy denies it"
sed 's/"PCR0": "0a/"PCR0": "0b/' "$out/measurements.json" > "$out/other-measurements.json"
NSM_SIM_REQUIRE_DEVICE=1 "$bin/nsm-sim" exec --measurements "$out/other-measurements.json" -- \
    "$BUILD/tests/kms_enclave" 127.0.0.1 "$port" "$blob" 2>&1 | sed 's/^/    /' || true

step "7. A document from a PKI the server does not trust: refused, naming the verifier's code"
"$bin/nsm-ca" init "$out/untrusted-ca" > /dev/null
NSM_SIM_REQUIRE_DEVICE=1 "$bin/nsm-sim" exec --ca "$out/untrusted-ca" --measurements "$out/measurements.json" -- \
    "$BUILD/tests/kms_enclave" 127.0.0.1 "$port" "$blob" 2>&1 | sed 's/^/    /' || true

step "The server's log"
sed 's/^/    /' "$out/server.err"
