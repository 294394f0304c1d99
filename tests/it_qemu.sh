#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# QEMU guests with a CUSE /dev/nsm served by the host (make qemu-test; make check runs it).
# Boots the image from `make qemu-image` under TCG with nsm-qemu and checks, in the guest:
# the character device, every request through it (the raw-ioctl client's conformance run),
# EFAULT without side effects, concurrent processes, a PCR extend that shows in a document,
# and the blog client on the drop-in libnsm, whose documents the host's nsm-verify accepts
# under the simulated root only; then bad input from the guest, the watchdog, exit statuses,
# --add, the one-line errors for a missing QEMU or kernel module, and that building the
# image twice gives the same bytes.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
image="$BUILD/qemu/image"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
work=$(mktemp -d)
mkdir -p "$work/tmp"
trap 'rm -rf "$work"' EXIT
export TMPDIR="$work/tmp" # nsm-qemu's temporary directories: checked empty at the end

if [ -n "${SANITIZE:-}" ]; then
    # The guest's programs are static or run from the image's own libraries: an ASan build
    # cannot go in, so the guest suite runs in the plain pass of make test. What this pass
    # can do is put the sanitized host server behind the plain image and let a hostile
    # guest at it.
    plain=$(dirname "$BUILD")
    echo "SKIP: the QEMU guest suite runs in the build without sanitizers (make qemu-test)"
    if [ ! -f "$plain/qemu/image/initramfs.cpio" ] || [ ! -x "$plain/bin/nsm-qemu" ]; then
        echo "SKIP: no plain image at $plain/qemu/image: the sanitized server is not put behind a guest"
        exit 0
    fi
    "$BUILD/bin/nsm-ca" init "$work/ca" > /dev/null || { echo "FAIL: nsm-ca init"; exit 1; }
    NSM_QEMU_NSM_SIM="$BUILD/bin/nsm-sim" NSM_QEMU_SERVER_LOG="$work/serve.log" \
        "$plain/bin/nsm-qemu" run --image "$plain/qemu/image" --ca "$work/ca" --timeout 180 \
        -- sh /nsmkit/tests/guest-tests.sh garbage > "$work/garbage.out" 2>&1
    rc=$?
    grep -E '^(ok|FAIL):' "$work/garbage.out"
    [ $rc -eq 0 ] && ok "the sanitized server served a guest that sent garbage" ||
        fail "garbage run against the sanitized server exited $rc: $(tail -n 3 "$work/garbage.out")"
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$work/serve.log"; then
        fail "the sanitized server reported: $(grep -E 'Sanitizer|runtime error' "$work/serve.log" | head -n 3)"
    else
        grep -q 'over the 4096-byte request limit; closing it' "$work/serve.log" &&
            grep -q 'stopped after' "$work/serve.log" &&
            ok "the sanitized server refused the oversized frame and stopped cleanly, no sanitizer report" ||
            fail "sanitized server log: $(cat "$work/serve.log")"
    fi
    echo "qemu (sanitized server): $failures failed"
    [ $failures -eq 0 ]
    exit
fi

for f in "$image/vmlinuz" "$image/initramfs.cpio" "$image/nsmkit.cpio" "$bin/nsm-qemu"; do
    [ -f "$f" ] || { echo "FAIL: missing $f (make qemu-image)"; exit 1; }
done
"$bin/nsm-ca" init "$work/ca" > /dev/null || { echo "FAIL: nsm-ca init"; exit 1; }
root="$work/ca/root.pem"
qrun() { "$bin/nsm-qemu" run --ca "$work/ca" "$@"; }

# ---- 1. /dev/nsm in the guest, end to end ---------------------------------------------------
extend_hex=6e736d2d71656d75 # "nsm-qemu"
nonce_hex=$(printf 'guest-nonce' | xxd -p)
qrun --timings --timeout 300 -- env EXTEND_HEX=$extend_hex NONCE_HEX=$nonce_hex \
    sh /nsmkit/tests/guest-tests.sh main > "$work/main.out" 2> "$work/main.err"
rc=$?
cat "$work/main.err"
grep -E '^(ok|FAIL):' "$work/main.out"
[ $rc -eq 0 ] && ok "guest suite exited 0" || fail "guest suite exited $rc: $(tail -n 3 "$work/main.err")"
grep -q '^ok: /dev/nsm: character device' "$work/main.out" || fail "stat /dev/nsm did not say character device"
grep -q '^ok: efault: ' "$work/main.out" || fail "no EFAULT check"
grep -q '^ok: concurrent: chain: 4 workers' "$work/main.out" || fail "no concurrency check"
grep -q 'boot to first attestation: [0-9]* ms' "$work/main.err" || fail "no boot timing printed"
grep -q 'guest round trip (median of 30): DescribePCR [0-9]* us, Attestation [0-9]* us; a pipe round trip between two guest processes in the same run: [0-9]* us (DescribePCR = [0-9.]*x, Attestation = [0-9.]*x)' "$work/main.err" ||
    fail "no round-trip timing printed"

doc() { sed -n "s/^DOC-$1 \([0-9a-fA-F]*\)\$/\1/p" "$work/main.out" | head -n 1 | xxd -r -p > "$work/$1.bin"; [ -s "$work/$1.bin" ]; }
# the blog client's document: valid under the simulated root, refused under AWS's
if doc blog; then
    "$bin/nsm-verify" --root "$root" "$work/blog.bin" > "$work/nv.out" 2>&1 &&
        ok "the guest blog client's document verifies on the host (nsm-verify --root)" ||
        fail "blog document: $(tail -n 2 "$work/nv.out")"
    "$bin/nsm-verify" "$work/blog.bin" > "$work/nv.out" 2>&1 &&
        fail "the blog document verified under the AWS root" ||
        ok "the blog document is refused under the AWS root"
else fail "no blog client document in the guest output"; fi
# the extend made in the guest shows in the document, beside the nonce
want=$( (head -c 48 /dev/zero; printf '%s' $extend_hex | xxd -r -p) | openssl dgst -sha384 -binary | xxd -p -c 48)
grep -qx "PCR24 $want" "$work/main.out" && ok "the guest's ExtendPCR answered the expected value" ||
    fail "PCR24 in the guest: $(grep '^PCR24' "$work/main.out"), want $want"
if doc extended; then
    "$bin/nsm-verify" --root "$root" --expect-pcr "24=$want" --nonce "$nonce_hex" "$work/extended.bin" \
        > "$work/nv.out" 2>&1 && ok "the document holds the guest's PCR24 and nonce" ||
        fail "extended document: $(tail -n 2 "$work/nv.out")"
else fail "no document after the extend in the guest output"; fi

qrun --timeout 300 -- sh /nsmkit/tests/guest-tests.sh conformance > "$work/conf.out" 2>&1
rc=$?
grep -E '^(ok|FAIL):' "$work/conf.out"
[ $rc -eq 0 ] && grep -q '^ok: raw-ioctl conformance: [0-9]* checks, 0 failed' "$work/conf.out" &&
    ok "every request through the guest's /dev/nsm with the raw-ioctl client" ||
    fail "conformance run exited $rc: $(tail -n 3 "$work/conf.out")"

# ---- 2. state options reach the host server -----------------------------------------------
pcr0=$(printf 'cd%.0s' $(seq 48))
out=$(qrun --timeout 120 --pcr "0=$pcr0" -- nsm-probe describe 0 2>&1)
[ "$out" = "lock=1 $pcr0" ] && ok "--pcr 0=... is the guest's PCR0" || fail "--pcr: $out"

# the faulty-document modes too: a document with a trailing byte, refused for exactly that
qrun --timeout 120 --fault env_trailing_byte -- nsm-probe attest > "$work/fault.hex" 2> "$work/fault.err"
rc=$?
xxd -r -p "$work/fault.hex" > "$work/fault.bin"
if [ $rc -eq 0 ] && [ -s "$work/fault.bin" ]; then
    "$bin/nsm-verify" --root "$root" "$work/fault.bin" > "$work/nv.out" 2>&1
    vrc=$?
    [ $vrc -eq 1 ] && grep -q 'ENV_TRAILING_BYTES' "$work/nv.out" &&
        ok "--fault env_trailing_byte reaches the guest's documents (nsm-verify: ENV_TRAILING_BYTES)" ||
        fail "--fault: nsm-verify exit $vrc: $(tail -n 2 "$work/nv.out")"
else fail "--fault run exited $rc: $(tail -n 2 "$work/fault.err")"; fi

# ---- 3. bad input from the guest ----------------------------------------------------------
NSM_QEMU_SERVER_LOG="$work/serve.log" qrun --timeout 120 -- sh /nsmkit/tests/guest-tests.sh garbage \
    > "$work/garbage.out" 2>&1
rc=$?
grep -E '^(ok|FAIL):' "$work/garbage.out"
[ $rc -eq 0 ] && ok "garbage: the guest was served again afterwards" || fail "garbage run exited $rc: $(tail -n 3 "$work/garbage.out")"
grep -q 'over the 4096-byte request limit; closing it' "$work/serve.log" &&
    ok "the server closed the connection of an oversized frame" || fail "no oversized-frame line: $(cat "$work/serve.log")"
grep -q 'short frame: closed after' "$work/serve.log" &&
    ok "the server closed a connection that ended mid-frame" || fail "no short-frame line: $(cat "$work/serve.log")"
grep -q 'stopped after' "$work/serve.log" &&
    ok "the server stopped cleanly after the bad guest" || fail "the server did not stop cleanly: $(tail -n 3 "$work/serve.log")"

# ---- 4. nsm-sim cuse --socket: the daemon in front of a server socket ----------------------
# (as on a host whose kernel has CUSE; this machine's has none, so the guest plays that host
# with the host build of nsm-sim added to it)
# with the shared libraries it loads (the image has only those of the guest's own clients)
libadds=""
for lib in $(ldd "$bin/nsm-sim" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
    libadds="$libadds --add $(readlink -f "$lib"):/lib/x86_64-linux-gnu/$(basename "$lib")"
done
# shellcheck disable=SC2086 # libadds is a list of options
qrun --timeout 120 --add "$bin/nsm-sim:/usr/local/bin/nsm-sim-host" $libadds \
    -- sh /nsmkit/tests/guest-tests.sh socket > "$work/socket.out" 2>&1
rc=$?
grep -E '^(ok|FAIL):' "$work/socket.out"
[ $rc -eq 0 ] && [ "$(grep -c '^ok: socket mode' "$work/socket.out")" -eq 4 ] &&
    ok "nsm-sim cuse --socket serves /dev/nsm" || fail "socket mode exited $rc: $(tail -n 3 "$work/socket.out")"

# ---- 4b. exit statuses, arguments, --add -----------------------------------------------------
qrun --timeout 120 -- sh -c 'exit 7' > /dev/null 2>&1
rc=$?
[ $rc -eq 7 ] && ok "the guest command's status is nsm-qemu's" || fail "exit 7 came back as $rc"
printf 'added file\n' > "$work/added.txt"
out=$(qrun --timeout 120 --add "$work/added.txt:/opt/added.txt" -- sh -c 'printf "%s|" "$@"; cat /opt/added.txt' x "a b" "it's" 2>&1)
[ "$out" = "a b|it's|added file" ] && ok "arguments and --add files reach the guest unchanged" ||
    fail "arguments or --add: $out"

# ---- 5. the watchdog ----------------------------------------------------------------------------
qrun --timeout 8 -- sleep 600 > "$work/wd.out" 2>&1
rc=$?
[ $rc -eq 124 ] && grep -q 'watchdog: the guest did not finish within 8 s' "$work/wd.out" &&
    ok "the watchdog stopped a hung guest (exit 124, one line)" || fail "watchdog: exit $rc, $(cat "$work/wd.out")"

# ---- 6. one clear line for what is missing --------------------------------------------------------
out=$(NSM_QEMU_QEMU=qemu-system-missing qrun -- true 2>&1)
rc=$?
[ $rc -eq 125 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] &&
    printf '%s' "$out" | grep -q 'qemu-system-missing not found (Debian package qemu-system-x86)' &&
    ok "a missing QEMU: $out" || fail "missing QEMU: exit $rc, $out"
: | cpio -o -H newc --quiet > "$work/empty.cpio"
out=$(qrun --timeout 120 --kernel "$image/vmlinuz" --initrd "$work/empty.cpio" -- true 2>&1)
rc=$?
[ $rc -eq 125 ] && printf '%s' "$out" | grep -q 'no /dev/cuse: this kernel has no CUSE (kernel module cuse' &&
    ok "a kernel without the cuse module: $(printf '%s' "$out" | head -n 1)" || fail "missing module: exit $rc, $out"

NSMKIT_QEMU_APT_UPDATE=0 NSMKIT_QEMU_KERNEL_PKG=linux-image-nsmkit-missing \
    sh qemu/build-image.sh --build "$BUILD" --out "$work/imgx" > "$work/imgx.out" 2>&1
rc=$?
[ $rc -ne 0 ] && [ "$(wc -l < "$work/imgx.out")" -eq 1 ] &&
    grep -q 'Debian package linux-image-nsmkit-missing is not known to apt' "$work/imgx.out" &&
    ok "a kernel package apt cannot find: $(cat "$work/imgx.out")" || fail "missing package: exit $rc, $(cat "$work/imgx.out")"

# ---- 7. nothing left behind ---------------------------------------------------------------------
left=$(ls -A "$work/tmp")
[ -z "$left" ] && ok "no temporary directory or socket left" || fail "left behind: $left"
if pgrep -f "$work/tmp" > "$work/pids" 2>/dev/null; then fail "processes left: $(cat "$work/pids")"; else ok "no process left"; fi

# ---- 8. reproducibility: the image built twice is the same bytes ---------------------------------
for i in 1 2; do
    sh qemu/build-image.sh --build "$BUILD" --out "$work/img$i" > "$work/img$i.out" 2>&1 ||
        fail "image build $i: $(tail -n 2 "$work/img$i.out")"
done
h1=$(sha256sum < "$work/img1/initramfs.cpio"); h2=$(sha256sum < "$work/img2/initramfs.cpio")
if [ -s "$work/img1/initramfs.cpio" ] && [ "$h1" = "$h2" ] && cmp -s "$work/img1/manifest.txt" "$work/img2/manifest.txt"; then
    ok "the image built twice is identical (initramfs sha256 ${h1%% *})"
else fail "two builds differ: ${h1%% *} ${h2%% *}"; fi

echo "qemu: $failures failed"
[ $failures -eq 0 ]
