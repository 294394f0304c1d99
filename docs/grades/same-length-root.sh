#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Makes a TEST root whose PEM text has exactly the length of a pinned root's, a simulated PKI
# under it (nsm-ca layout) and a corpus like vectors/ signed by it, for grading a verifier
# that pins its root as a PEM blob of fixed length (see evervault-wasm.mjs):
#
#   sh docs/grades/same-length-root.sh PINNED.pem OUTDIR      (from the repository root, after make)
#
# writes OUTDIR/pki/ca (root.key 0600, root.pem, intermediates) and OUTDIR/corpus (manifest.tsv,
# root.pem, docs/). The names are chosen for the AWS Nitro Enclaves Root-G1's shape (C=US, a
# 6-character O, a 3-character OU, an 18-character CN, serial of 16 bytes, UTCTime validity);
# the ECDSA signature's length varies, so the root is re-signed until its DER has the pinned
# length. The root says what it is: O=NSMSim, OU=NOT, CN=not-aws.nsm-sim.ca. Never trust it.
# The corpus is then checked with nsm-verify, which must get every verdict right.
set -eu
pinned=${1:?usage: same-length-root.sh PINNED.pem OUTDIR}
out=${2:?usage: same-length-root.sh PINNED.pem OUTDIR}
bin=${NSMKIT_BIN:-build/bin}
[ -x "$bin/nsm-vectors" ] || { echo "same-length-root: $bin/nsm-vectors missing: run make first" >&2; exit 2; }
[ ! -e "$out/pki" ] || { echo "same-length-root: $out/pki exists: choose a new OUTDIR" >&2; exit 2; }
want=$(openssl x509 -in "$pinned" -outform der | wc -c)

mkdir -p "$out/pki/ca" "$out/work"
chmod 700 "$out/pki"
work=$out/work
cat > "$work/req.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
string_mask = utf8only
[dn]
C = US
O = NSMSim
OU = NOT
CN = not-aws.nsm-sim.ca
EOF
cat > "$work/ca.cnf" <<EOF
[ca]
default_ca = selfsign
[selfsign]
database = $work/index.txt
serial = $work/serial
new_certs_dir = $work
default_md = sha384
policy = supplied_names
unique_subject = no
x509_extensions = root_ext
[supplied_names]
countryName = supplied
organizationName = supplied
organizationalUnitName = supplied
commonName = supplied
[root_ext]
basicConstraints = critical,CA:TRUE
subjectKeyIdentifier = hash
keyUsage = critical,digitalSignature,keyCertSign,cRLSign
EOF
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$out/pki/ca/root.key")
openssl req -new -config "$work/req.cnf" -key "$out/pki/ca/root.key" -out "$work/root.csr"
got=0
for try in $(seq 1 200); do
    # a 16-byte serial with its top bit set, so that its DER INTEGER is 17 bytes like AWS's
    serial=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    serial=$(printf '%x' $((0x$(echo "$serial" | cut -c1) | 8)))$(echo "$serial" | cut -c2-)
    : > "$work/index.txt"
    echo "$serial" > "$work/serial"
    openssl ca -batch -config "$work/ca.cnf" -selfsign -keyfile "$out/pki/ca/root.key" \
        -in "$work/root.csr" -notext -startdate 20251231230000Z -enddate 20491231120000Z \
        -out "$out/pki/ca/root.pem" 2> "$work/ca.log"
    got=$(openssl x509 -in "$out/pki/ca/root.pem" -outform der | wc -c)
    [ "$got" = "$want" ] && break
done
[ "$got" = "$want" ] || { echo "same-length-root: no root of $want DER bytes after $try tries" >&2; exit 1; }
printf '%s\n' '# nsmkit simulated Nitro PKI (NOT AWS): do not trust it outside tests' \
    'region=us-east-1' 'intermediates=3' 'instance_id=i-0be421fc03c3a1a31' > "$out/pki/ca/ca.conf"
rm -rf "$work"

# nsm-ca issues the missing intermediate tiers from the root at the current time; the corpus
# is issued 600 s later, as nsm-vectors gen does with a PKI it makes itself.
now=$(date +%s)
"$bin/nsm-ca" show "$out/pki/ca" > /dev/null
"$bin/nsm-vectors" gen "$out/corpus" --pki "$out/pki" --time $((now + 600))
echo "same-length-root: root of $got DER bytes ($(wc -c < "$out/pki/ca/root.pem") PEM bytes) after $try tries"
if ! "$bin/nsm-vectors" grade --dir "$out/corpus" --name 'nsm-verify (check of the corpus)' \
    --cmd "NSM_VERIFY=$bin/nsm-verify sh docs/grades/nsm-verify.sh {doc} {root} {time} {profile} {pcr0} {nonce} {user_data} {public_key} {max_age} {refuse_debug}" \
    > "$out/corpus-check.txt"; then
    cat "$out/corpus-check.txt" >&2
    echo "same-length-root: nsm-verify disagrees with the corpus: do not use it" >&2
    exit 1
fi
tail -n 1 "$out/corpus-check.txt"
