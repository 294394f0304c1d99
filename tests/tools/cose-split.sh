#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# cose-split.sh DOC OUTDIR: takes an attestation document apart with nothing but od, awk
# and xxd - an implementation independent of nsmkit's own - so that tests can check it with
# the openssl command line alone. Writes into OUTDIR:
#   protected.bin payload.bin signature.bin sig_structure.bin  (COSE_Sign1 parts)
#   certificate.der cabundle<N>.der                              (payload fields)
#   fields.txt                                                   (name=value lines)
# Exits non-zero, naming the problem, when the document does not have the NSM's shape.
set -eu
doc=$1; out=$2
mkdir -p "$out"
od -An -v -tx1 "$doc" | tr -s ' \n' '\n\n' | sed '/^$/d' > "$out/bytes.hex"

awk -v out="$out" '
function fail(msg) { print "cose-split: " msg > "/dev/stderr"; failed = 1; exit 1 }
function need(n) { if (pos + n > count) fail("truncated at byte " pos) }
function hexval(h,   i, v, c) {
    v = 0
    for (i = 1; i <= length(h); i++) { c = index("0123456789abcdef", substr(h, i, 1)) - 1; v = v * 16 + c }
    return v
}
# Reads one head at pos: sets major, arg, indef; returns nothing.
function head(   ib, info, n, i) {
    need(1); ib = hexval(b[pos]); pos++
    major = int(ib / 32); info = ib % 32; indef = 0
    if (info < 24) { arg = info; return }
    if (info == 31) { indef = 1; arg = -1; return }
    if (info > 27) fail("reserved additional information")
    n = 2 ^ (info - 24); need(n); arg = 0
    for (i = 0; i < n; i++) { arg = arg * 256 + hexval(b[pos]); pos++ }
}
# Skips one complete item (any type).
function skip(   m, a, i, d) {
    head(); m = major; a = arg; d = indef
    if (m == 0 || m == 1 || m == 7) return
    if (m == 2 || m == 3) { if (d) fail("indefinite string"); need(a); pos += a; return }
    if (m == 6) { skip(); return }
    if (d) { while (b[pos] != "ff") { skip(); if (m == 5) skip() } pos++; return }
    for (i = 0; i < a * (m == 5 ? 2 : 1); i++) skip()
}
function text(   s, i) {
    head(); if (major != 3 || indef) fail("expected a text string at " pos)
    need(arg); s = ""
    for (i = 0; i < arg; i++) s = s sprintf("%c", hexval(b[pos + i]))
    pos += arg; return s
}
function emit(file, start, len,   i) {
    printf "" > file
    for (i = start; i < start + len; i++) printf "%s", b[i] > file
    printf "\n" > file; close(file)
}
function bytes_to(file) {
    head(); if (major != 2 || indef) fail("expected a byte string for " file)
    need(arg); emit(file, pos, arg); pos += arg
}
{ b[count++] = $1 }
END {
    if (failed) exit 1
    pos = 0
    if (b[0] == "d2") pos++                      # optional COSE tag 18
    head(); if (major != 4 || arg != 4) fail("not an array of 4")
    bytes_to(out "/protected.hex")
    head(); if (major != 5 || arg != 0) fail("unprotected header is not an empty map")
    head(); if (major != 2 || indef) fail("payload is not a byte string")
    pstart = pos; plen = arg; need(plen); emit(out "/payload.hex", pstart, plen)
    pos = pstart + plen
    bytes_to(out "/signature.hex")
    if (pos != count) fail("trailing bytes after the COSE array")

    # the payload map
    end = pstart + plen; pos = pstart
    head(); if (major != 5) fail("payload is not a map")
    entries = indef ? -1 : arg; n = 0
    fields = out "/fields.txt"; printf "" > fields
    printf "payload_map=%s\n", (indef ? "indefinite" : "definite") > fields
    while (entries < 0 ? b[pos] != "ff" : n < entries) {
        key = text(); n++
        if (key == "certificate") bytes_to(out "/certificate.hex")
        else if (key == "cabundle") {
            head(); if (major != 4) fail("cabundle is not an array")
            k = arg; printf "cabundle_count=%d\n", k > fields
            for (j = 0; j < k; j++) bytes_to(out "/cabundle" j ".hex")
        } else if (key == "timestamp") {
            head(); if (major != 0) fail("timestamp is not an unsigned integer")
            printf "timestamp=%.0f\n", arg > fields
        } else if (key == "module_id" || key == "digest") {
            printf "%s=%s\n", key, text() > fields
        } else if (key == "pcrs") {
            head(); if (major != 5) fail("pcrs is not a map")
            k = arg; printf "pcr_count=%d\n", k > fields
            for (j = 0; j < k; j++) {
                head(); idx = arg; head(); if (major != 2) fail("PCR value is not bytes")
                printf "pcr%d=", idx > fields
                for (i = pos; i < pos + arg; i++) printf "%s", b[i] > fields
                printf "\n" > fields; pos += arg
            }
        } else {
            st = pos; head()
            if (major == 7 && arg == 22) printf "%s=null\n", key > fields
            else if (major == 2) { printf "%s=bytes:%d\n", key, arg > fields; pos += arg }
            else { pos = st; skip(); printf "%s=other\n", key > fields }
        }
    }
    printf "keys=%d\n", n > fields
}' "$out/bytes.hex" || exit 1

for f in protected payload signature certificate; do
    xxd -r -p "$out/$f.hex" > "$out/$f.bin"
done
mv "$out/certificate.bin" "$out/certificate.der"
for f in "$out"/cabundle*.hex; do xxd -r -p "$f" > "${f%.hex}.der"; done
# Sig_structure = ["Signature1", protected, h'', payload]
plen=$(wc -c < "$out/payload.bin")
{
    printf '\204\152Signature1'                      # 84 6a "Signature1"
    printf '\104'; cat "$out/protected.bin"          # 44 <protected>
    printf '\100'                                    # 40 (external_aad)
    if [ "$plen" -lt 24 ]; then printf "$(printf '\\%03o' $((0x40 + plen)))"
    elif [ "$plen" -lt 256 ]; then printf '\130'; printf "$(printf '\\%03o' "$plen")"
    else printf '\131'; printf "$(printf '\\%03o' $((plen / 256)))"; printf "$(printf '\\%03o' $((plen % 256)))"
    fi
    cat "$out/payload.bin"
} > "$out/sig_structure.bin"
rm -f "$out"/*.hex
