#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# nsm-eif against independent implementations: PCRs of images nsm-eif builds, computed again
# by openssl dgst over sections cut out with dd and by a separate Python reader
# (tests/it_eif_check.py: hashlib, zlib); images hand-assembled by that Python writer read by
# nsm-eif; signatures made by nsm-eif verified by Python's cryptography and the other way
# round; determinism of build and ramdisk; extract; the exit codes; nsm-sim --eif.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
check="$PY tests/it_eif_check.py"
eif="$bin/nsm-eif"

# ---- inputs ----------------------------------------------------------------------------------
head -c 70000 /dev/urandom > "$work/kernel"
head -c 50000 /dev/urandom > "$work/rd0"
head -c 20001 /dev/urandom > "$work/rd1"
openssl ecparam -name secp384r1 -genkey -noout -out "$work/key.pem" 2>/dev/null
openssl req -new -x509 -key "$work/key.pem" -sha384 -out "$work/cert.pem" -days 30 \
    -subj "/C=US/O=nsmkit tests/CN=eif signer" 2>/dev/null || { echo "FAIL: openssl req"; exit 1; }
cmdline="reboot=k panic=30 pci=off nomodules console=ttyS0"
build() { # build OUT [extra flags]
    out=$1; shift
    "$eif" build --kernel "$work/kernel" --cmdline "$cmdline" --ramdisk "$work/rd0" \
        --ramdisk "$work/rd1" --build-time 2024-06-01T00:00:00+00:00 --output "$out" "$@" \
        > "$out.json" 2> "$out.err"
}
build "$work/a.eif" || { fail "build"; cat "$work/a.eif.err"; }
build "$work/s.eif" --signing-certificate "$work/cert.pem" --private-key "$work/key.pem" ||
    { fail "signed build"; cat "$work/s.eif.err"; }
build "$work/a2.eif"; build "$work/s2.eif" --signing-certificate "$work/cert.pem" --private-key "$work/key.pem"
cmp -s "$work/a.eif" "$work/a2.eif" && cmp -s "$work/s.eif" "$work/s2.eif" &&
    ok "build is deterministic, signed images too (RFC 6979 nonces): $(wc -c < "$work/s.eif") bytes" ||
    fail "two builds of the same inputs differ"
grep -q '"Measurements"' "$work/a.eif.json" && ok "build prints the measurements as JSON" ||
    fail "build output: $(cat "$work/a.eif.json")"

# field: a value of describe --json (py_field FILE KEY.KEY)
field() { "$PY" -c 'import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(str(d).lower() if isinstance(d,bool) else d)' "$1" "$2"; }

# ---- our images, measured independently ------------------------------------------------------
for img in a s; do
    "$eif" describe --json "$work/$img.eif" > "$work/$img.describe" || fail "describe $img.eif"
    $check pcrs "$work/$img.eif" > "$work/$img.py"
    same=1
    for pcr in PCR0 PCR1 PCR2; do
        [ "$(field "$work/$img.describe" Measurements.$pcr)" = "$(field "$work/$img.py" $pcr)" ] || same=0
    done
    if [ $img = s ]; then
        [ "$(field "$work/$img.describe" Measurements.PCR8)" = "$(field "$work/$img.py" PCR8)" ] || same=0
    fi
    [ "$(field "$work/$img.py" CRC)" = true ] || same=0
    [ $same = 1 ] && ok "$img.eif: PCR0/1/2$([ $img = s ] && echo /8) and the CRC as the Python reader computes them" ||
        { fail "$img.eif: PCRs differ"; cat "$work/$img.describe" "$work/$img.py"; }
done

# PCRs with openssl dgst over the sections cut out with dd (offsets from the header walk)
$check layout "$work/a.eif" > "$work/layout"
: > "$work/pcr0.in"; : > "$work/pcr1.in"; : > "$work/pcr2.in"; n=0
while read -r kind off size; do
    dd if="$work/a.eif" of="$work/cut" bs=1 skip="$off" count="$size" 2>/dev/null
    case $kind in
    1|2) cat "$work/cut" >> "$work/pcr0.in"; cat "$work/cut" >> "$work/pcr1.in" ;;
    3) cat "$work/cut" >> "$work/pcr0.in"
       if [ $n = 0 ]; then cat "$work/cut" >> "$work/pcr1.in"; else cat "$work/cut" >> "$work/pcr2.in"; fi
       n=$((n + 1)) ;;
    esac
done < "$work/layout"
cmp -s "$work/pcr0.in" /dev/null && fail "nothing cut"
extend() { { head -c 48 /dev/zero; openssl dgst -sha384 -binary "$1"; } | openssl dgst -sha384 -r | cut -d' ' -f1; }
good=1
for i in 0 1 2; do
    [ "$(extend "$work/pcr$i.in")" = "$(field "$work/a.describe" Measurements.PCR$i)" ] || good=0
done
[ $good = 1 ] && ok "PCR0/1/2 = openssl dgst -sha384 of 48 zero bytes and the digest of the sections cut with dd" ||
    fail "openssl dgst disagrees with describe"
{ "$eif" describe "$work/a.eif" | grep -q "^verdict: sound$"; } && ok "describe (text): verdict sound" ||
    fail "describe text"

# our signature, checked by Python's cryptography (independent of nettle and of OpenSSL-in-C)
if "$PY" -c 'import cryptography' 2>/dev/null; then
    if $check verify "$work/s.eif" > "$work/verify.json" 2> "$work/verify.err" &&
        [ "$(field "$work/verify.json" register_value)" = "$(field "$work/s.describe" Measurements.PCR0)" ] &&
        [ "$(field "$work/verify.json" register_index)" = 0 ] &&
        [ "$(field "$work/verify.json" protected)" = a1013822 ]; then
        ok "Python's cryptography verifies nsm-eif's COSE_Sign1 ({1: -35}) over {register_index: 0, register_value: PCR0}"
    else
        fail "nsm-eif's signature does not verify in Python"; cat "$work/verify.err"
    fi
    [ "$(field "$work/s.describe" SignatureCheck)" = true ] && [ "$(field "$work/s.describe" IsSigned)" = true ] &&
        [ "$(field "$work/s.describe" SigningCertificate.IssuerName.commonName)" = "eif signer" ] &&
        [ "$(field "$work/s.describe" SigningCertificate.Algorithm)" = "ecdsa-with-SHA384" ] &&
        ok "describe --json: IsSigned, SigningCertificate (issuer, ecdsa-with-SHA384), SignatureCheck" ||
        { fail "signed describe"; cat "$work/s.describe"; }
    # ---- images hand-assembled by Python, read by nsm-eif ------------------------------------
    $check make "$work/py.eif" && $check make "$work/pys.eif" --sign "$work/key.pem" "$work/cert.pem" ||
        fail "python make"
    for img in py pys; do
        if "$eif" describe --json "$work/$img.eif" > "$work/$img.describe" 2> "$work/$img.err"; then
            $check pcrs "$work/$img.eif" > "$work/$img.py"
            same=1
            for pcr in PCR0 PCR1 PCR2; do
                [ "$(field "$work/$img.describe" Measurements.$pcr)" = "$(field "$work/$img.py" $pcr)" ] || same=0
            done
            [ $img = pys ] && { [ "$(field "$work/$img.describe" Measurements.PCR8)" = "$(field "$work/$img.py" PCR8)" ] &&
                [ "$(field "$work/$img.describe" SignatureCheck)" = true ] || same=0; }
            [ $same = 1 ] && ok "hand-assembled $img.eif (3 ramdisks$([ $img = pys ] && echo ', signed by Python')) read by nsm-eif with Python's PCRs" ||
                { fail "$img.eif PCRs"; cat "$work/$img.describe" "$work/$img.py"; }
        else
            fail "nsm-eif refuses the hand-assembled $img.eif"; cat "$work/$img.err"
        fi
    done
    # the specification's other two algorithms: ES256 (P-256) and ES512 (P-521), signed by Python
    for curve in prime256v1:ES256 secp521r1:ES512; do
        name=${curve%%:*}; alg=${curve##*:}
        openssl ecparam -name "$name" -genkey -noout -out "$work/$name.key" 2>/dev/null
        openssl req -new -x509 -key "$work/$name.key" -out "$work/$name.pem" -days 30 -subj "/CN=$alg signer" 2>/dev/null
        $check make "$work/$name.eif" --sign "$work/$name.key" "$work/$name.pem" || fail "python make $alg"
        "$eif" describe --json "$work/$name.eif" > "$work/$name.describe" 2> "$work/$name.err" &&
            [ "$(field "$work/$name.describe" SignatureCheck)" = true ] &&
            $check pcrs "$work/$name.eif" > "$work/$name.py" &&
            [ "$(field "$work/$name.describe" Measurements.PCR8)" = "$(field "$work/$name.py" PCR8)" ] &&
            ok "an image signed by Python with $alg ($name): SignatureCheck true, Python's PCR8" ||
            { fail "$alg image"; cat "$work/$name.err"; }
    done
else
    echo "SKIP: Debian's python3-cryptography is absent: signatures not cross-checked"
fi

# ---- malformed: one flipped byte ----------------------------------------------------------------
cp "$work/a.eif" "$work/bad.eif"
printf '\377' | dd of="$work/bad.eif" bs=1 seek=60000 conv=notrunc 2>/dev/null
"$eif" describe --json "$work/bad.eif" > "$work/bad.json" 2> "$work/bad.err"; rc=$?
[ $rc = 1 ] && grep -q "4500 CRC_MISMATCH" "$work/bad.err" && [ "$(field "$work/bad.json" CheckCRC)" = false ] &&
    ok "a flipped byte: exit 1, 4500 CRC_MISMATCH, CheckCRC false" || fail "flipped byte (exit $rc): $(cat "$work/bad.err")"
"$eif" describe "$work/missing.eif" > /dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "a missing file: exit 2" || fail "missing file exit $rc"
"$eif" describe > /dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "no file: usage, exit 2" || fail "usage exit $rc"

# ---- streaming: describe of a 256 MiB image inside a 64 MiB address-space limit ------------------
if [ -n "${SANITIZE:-}" ]; then
    echo "SKIP: the sanitizers reserve terabytes of address space: no ulimit -v under SANITIZE"
else
    truncate -s 256M "$work/big-kernel"
    "$eif" build --kernel "$work/big-kernel" --cmdline "$cmdline" --ramdisk "$work/rd0" \
        --build-time 0 --output "$work/big.eif" > /dev/null 2>&1 && rm -f "$work/big-kernel" &&
        ( ulimit -v 65536 && "$eif" describe "$work/big.eif" > "$work/big.out" 2>&1 ) &&
        grep -q "^verdict: sound$" "$work/big.out" &&
        ok "describe of a $(($(wc -c < "$work/big.eif") / 1048576)) MiB image under ulimit -v 65536 (64 MiB): the reader streams" ||
        { fail "streaming describe"; cat "$work/big.out"; }
    rm -f "$work/big.eif" "$work/big-kernel"
fi

# ---- extract ------------------------------------------------------------------------------------
if "$eif" extract "$work/s.eif" "$work/x" > "$work/x.list"; then
    cmp -s "$work/x/kernel" "$work/kernel" && cmp -s "$work/x/ramdisk0" "$work/rd0" &&
        cmp -s "$work/x/ramdisk1" "$work/rd1" && [ "$(cat "$work/x/cmdline")" = "$cmdline" ] &&
        [ -s "$work/x/signature.cbor" ] && grep -q '"ImageName":"kernel"' "$work/x/metadata.json" &&
        ok "extract: kernel, cmdline, metadata.json, ramdisk0, ramdisk1, signature.cbor as built" ||
        fail "extract contents"
else
    fail "extract"
fi
"$eif" extract "$work/bad.eif" "$work/y" > /dev/null 2>&1; rc=$?
[ $rc = 1 ] && [ -z "$(ls "$work/y")" ] && ok "extract of a malformed image: exit 1, nothing left behind" ||
    fail "extract of a bad image (exit $rc): $(ls "$work/y")"

# ---- the application ramdisk ---------------------------------------------------------------------
mkdir -p "$work/root/bin" "$work/root/etc"
printf 'hello\n' > "$work/root/etc/greeting"
printf '#!/bin/sh\necho hi\n' > "$work/root/bin/app"; chmod 755 "$work/root/bin/app"
ln -s ../etc/greeting "$work/root/bin/link"
"$eif" ramdisk --output "$work/app1.cpio" --rootfs "$work/root" --env PATH=/bin --env A=b -- /bin/app --flag &&
    touch -d '2001-01-01' "$work/root/etc/greeting" &&
    "$eif" ramdisk --output "$work/app2.cpio" --rootfs "$work/root" --env PATH=/bin --env A=b -- /bin/app --flag ||
    fail "ramdisk"
cmp -s "$work/app1.cpio" "$work/app2.cpio" && ok "ramdisk: byte-reproducible (mtimes do not matter)" ||
    fail "ramdisk differs between runs"
if command -v cpio > /dev/null; then
    mkdir -p "$work/unpack"
    (cd "$work/unpack" && cpio -idm --quiet < "$work/app1.cpio") 2> "$work/cpio.err"
    [ "$(cat "$work/unpack/cmd")" = "$(printf '/bin/app\n--flag')" ] &&
        [ "$(cat "$work/unpack/env")" = "$(printf 'PATH=/bin\nA=b')" ] &&
        cmp -s "$work/unpack/rootfs/etc/greeting" "$work/root/etc/greeting" &&
        [ -x "$work/unpack/rootfs/bin/app" ] && [ "$(readlink "$work/unpack/rootfs/bin/link")" = ../etc/greeting ] &&
        ok "Debian's cpio unpacks it: /cmd, /env, /rootfs/... with modes and links" ||
        { fail "cpio unpack"; cat "$work/cpio.err"; ls -lR "$work/unpack"; }
else
    echo "SKIP: cpio is not installed"
fi

# ---- help, version ------------------------------------------------------------------------------
for sub in describe build extract ramdisk; do
    "$eif" $sub --help > /dev/null && "$eif" $sub --version > /dev/null || fail "$sub --help/--version"
done
"$eif" --help | grep -q "nsm-eif describe" && "$eif" --version | grep -q nsm-eif &&
    ok "--help and --version (program and subcommands)" || fail "--help/--version"

# ---- nsm-sim --eif -------------------------------------------------------------------------------
pcr0=$(field "$work/s.describe" Measurements.PCR0)
pcr8=$(field "$work/s.describe" Measurements.PCR8)
zero=$(printf '00%.0s' $(seq 48))
"$bin/nsm-ca" init "$work/ca" > /dev/null || fail "nsm-ca init"
if "$bin/nsm-sim" attest --ca "$work/ca" --eif "$work/s.eif" -o "$work/doc.bin" 2> "$work/attest.err"; then
    "$bin/nsm-verify" --root "$work/ca/root.pem" --at-doc-time --expect-pcr "0=$pcr0" \
        --expect-pcr "8=$pcr8" "$work/doc.bin" > "$work/v.out" 2>&1 &&
        ok "nsm-sim attest --eif: the document carries the image's PCR0 and PCR8" ||
        { fail "document PCRs"; cat "$work/v.out"; }
else
    fail "nsm-sim attest --eif"; cat "$work/attest.err"
fi
for order in "--eif $work/s.eif --debug-mode" "--debug-mode --eif $work/s.eif"; do
    # shellcheck disable=SC2086
    "$bin/nsm-sim" attest --ca "$work/ca" $order -o "$work/dbg.bin" 2> "$work/attest.err" &&
        "$bin/nsm-verify" --root "$work/ca/root.pem" --at-doc-time --expect-pcr "0=$zero" \
            --expect-pcr "8=$zero" "$work/dbg.bin" > "$work/v.out" 2>&1 &&
        ok "nsm-sim attest $(echo "$order" | sed "s|$work/||"): PCR0 and PCR8 read zero" ||
        { fail "debug mode ($order)"; cat "$work/attest.err" "$work/v.out"; }
done
"$bin/nsm-sim" attest --ca "$work/ca" --eif "$work/bad.eif" -o "$work/x.bin" 2> "$work/attest.err"; rc=$?
[ $rc != 0 ] && grep -q "4500 CRC_MISMATCH" "$work/attest.err" &&
    ok "nsm-sim attest --eif with a malformed image: refused with the image's code" ||
    fail "bad image accepted by nsm-sim (exit $rc)"

# ---- the fault corpus: reproducible, and nsm-eif graded by its own grader -------------------------
if "$eif" corpus "$work/corpus" --signer-cert vectors/eif/signer.pem --signer-key vectors/eif/signer.key \
    > /dev/null; then
    same=1
    for f in vectors/eif/*.eif vectors/eif/manifest.tsv; do
        cmp -s "$f" "$work/corpus/$(basename "$f")" || { same=0; echo "    differs: $f"; }
    done
    [ "$(ls "$work/corpus" | wc -l)" = "$(ls vectors/eif | grep -c -v '^signer\.\|README')" ] || same=0
    [ $same = 1 ] && ok "nsm-eif corpus regenerates vectors/eif byte for byte ($(ls vectors/eif/*.eif | wc -l) images, signed ones by RFC 6979)" ||
        fail "vectors/eif is not what nsm-eif corpus writes (regenerate: nsm-eif corpus vectors/eif)"
else
    fail "nsm-eif corpus"
fi
[ "$("$eif" list | tail -n +2 | wc -l)" = "$(grep -vc '^#' vectors/eif/manifest.tsv)" ] &&
    ok "nsm-eif list: one line per manifest row" || fail "list and manifest differ"
if "$eif" grade --cmd "$eif describe {eif}" --dir vectors/eif > "$work/grade.out"; then
    ok "nsm-eif grade of nsm-eif describe: $(tail -1 "$work/grade.out")"
else
    fail "nsm-eif disagrees with its own corpus"; grep DIFFERS "$work/grade.out"
fi
# another reader: the Python one above measures without judging, so it accepts what nsm-eif
# refuses, and the grade says which
"$eif" grade --cmd "$PY tests/it_eif_check.py pcrs {eif}" --dir vectors/eif > "$work/grade.out"; rc=$?
[ $rc = 1 ] && grep -q "^offsets_swapped .*accept .*DIFFERS: accepts what nsm-eif refuses" "$work/grade.out" &&
    grep -q "^sound_signed .*accept *$" "$work/grade.out" &&
    ok "grade of a lax reader (the Python one): exit 1; $(tail -1 "$work/grade.out")" ||
    { fail "grade of the Python reader (exit $rc)"; tail -5 "$work/grade.out"; }
"$eif" grade --cmd "false {eif}" --dir vectors/eif > "$work/grade.out"; rc=$?
[ $rc = 1 ] && grep -q "sound ones refused" "$work/grade.out" &&
    ok "grade of a reader that refuses everything: exit 1, the sound images named" || fail "grade of false (exit $rc)"

[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
exit 0
