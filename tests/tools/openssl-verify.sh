#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# openssl-verify.sh DOC ROOT_PEM [UNIX_S]: checks an attestation document with the openssl
# command line alone - cabundle[0] is the pinned root, the chain (leaf + cabundle[1..] as
# untrusted intermediates) verifies at UNIX_S (default: the document's own timestamp), and
# the ES384 signature verifies over the Sig_structure rebuilt from the document's bytes.
# Set VERBOSE=1 to see each openssl command. Exits non-zero, saying why, on any failure.
set -eu
doc=$1; root=$2
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
say() { [ "${VERBOSE:-0}" = 1 ] && echo "$@" || true; }

sh "$(dirname "$0")/cose-split.sh" "$doc" "$dir"
ts_ms=$(sed -n 's/^timestamp=//p' "$dir/fields.txt")
at=${3:-$((ts_ms / 1000))}
count=$(sed -n 's/^cabundle_count=//p' "$dir/fields.txt")

openssl x509 -in "$root" -outform der -out "$dir/root.der"
cmp -s "$dir/root.der" "$dir/cabundle0.der" || { echo "cabundle[0] is not the pinned root"; exit 1; }
: > "$dir/untrusted.pem"
i=1
while [ "$i" -lt "$count" ]; do
    openssl x509 -inform der -in "$dir/cabundle$i.der" >> "$dir/untrusted.pem"; i=$((i + 1))
done
openssl x509 -inform der -in "$dir/certificate.der" -out "$dir/leaf.pem"
say "\$ openssl verify -attime $at -CAfile $root -untrusted <cabundle[1..$((count - 1))]> <leaf>"
openssl verify -attime "$at" -CAfile "$root" -untrusted "$dir/untrusted.pem" "$dir/leaf.pem" \
    > "$dir/verify.out" 2>&1 || { cat "$dir/verify.out"; exit 1; }
say "  $(tail -n 1 "$dir/verify.out")"

# r||s (96 bytes) -> DER ECDSA-Sig-Value, through openssl's own ASN.1 generator
hex=$(od -An -v -tx1 "$dir/signature.bin" | tr -d ' \n')
[ ${#hex} -eq 192 ] || { echo "signature is $(( ${#hex} / 2 )) bytes, not 96"; exit 1; }
printf 'asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x%s\ns=INTEGER:0x%s\n' \
    "$(echo "$hex" | cut -c1-96)" "$(echo "$hex" | cut -c97-192)" > "$dir/sig.cnf"
openssl asn1parse -genconf "$dir/sig.cnf" -out "$dir/sig.der" > /dev/null
openssl x509 -in "$dir/leaf.pem" -pubkey -noout > "$dir/leaf.pub"
say "\$ openssl dgst -sha384 -verify <leaf key> -signature <r,s as DER> <Sig_structure>"
openssl dgst -sha384 -verify "$dir/leaf.pub" -signature "$dir/sig.der" "$dir/sig_structure.bin" \
    > "$dir/dgst.out" 2>&1 || { cat "$dir/dgst.out"; exit 1; }
say "  $(cat "$dir/dgst.out")"
