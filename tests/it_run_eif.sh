#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# nsm-qemu run-eif (issue 21): an enclave image laid out as nitro-cli lays it out - a bootstrap
# ramdisk with nsmkit's init (qemu/enclave-init.c) and a placeholder /nsm.ko, an application
# ramdisk from `nsm-eif ramdisk` with static programs - boots under run-eif, and:
#   - its attestation document verifies with the image's PCR0/1/2 and the PCR3 derived from
#     the parent's role ARN (nsm-verify --root), and reads zeros in debug mode;
#   - the heartbeat is answered; with a wrong answer on (3, 9000) init dies as AWS's does;
#   - /env reaches the command, its exit status is run-eif's, --console writes the console;
#   - the enclave talks to a host program over vsock (DIR/3.P), and to nsm-kms through
#     nsm-vsock proxy, as through the parent's vsock-proxy;
#   - a malformed image is refused before anything boots; the watchdog stops a guest;
#   - nothing is left running, no temporary directory left;
#   - the bootstrap ramdisk is byte-reproducible.
# Six guest boots under TCG (two of them cut short). Skips (SKIP lines) without the QEMU image.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
image="$BUILD/qemu/image"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

if [ -n "${SANITIZE:-}" ]; then
    echo "SKIP: run-eif boots static guest programs; it runs in the build without sanitizers"
    exit 0
fi
for f in "$image/vmlinuz" "$image/eif-overlay.cpio" "$BUILD/qemu/guest/enclave-init" \
    "$BUILD/qemu/guest/nsm-probe" "$BUILD/qemu/guest/vsock_guest" "$bin/nsm-qemu-run-eif"; do
    [ -f "$f" ] || { echo "SKIP: missing $f (make qemu-image)"; exit 0; }
done
command -v qemu-system-x86_64 > /dev/null || { echo "SKIP: no qemu-system-x86_64"; exit 0; }
busybox_deb=$(ls "$BUILD"/qemu/debs/busybox-static_*.deb 2> /dev/null | head -n 1)
[ -n "$busybox_deb" ] || { echo "SKIP: no busybox-static package in $BUILD/qemu/debs (make qemu-image)"; exit 0; }
for t in socat xxd; do
    command -v $t > /dev/null || { echo "SKIP: $t is missing"; exit 0; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/it_run_eif.XXXXXX")
mkdir -p "$work/tmp"
listener_pid=""
trap 'for p in $listener_pid; do kill $p 2> /dev/null; done; rm -rf "$work"' EXIT
export TMPDIR="$work/tmp" # run-eif's temporary directories: checked empty at the end
"$bin/nsm-ca" init "$work/ca" > /dev/null || { echo "FAIL: nsm-ca init"; exit 1; }
root="$work/ca/root.pem"
net="$work/net"
mkdir -m 0700 "$net"

# ---- the image, as nitro-cli lays it out ----------------------------------------------------
printf 'not a real module: run-eif must move it out of init'"'"'s way\n' > "$work/nsm.ko"
sh qemu/build-bootstrap.sh --init "$BUILD/qemu/guest/enclave-init" --nsm-ko "$work/nsm.ko" \
    --output "$work/bootstrap.cpio" || { echo "FAIL: build-bootstrap"; exit 1; }
sh qemu/build-bootstrap.sh --init "$BUILD/qemu/guest/enclave-init" --nsm-ko "$work/nsm.ko" \
    --output "$work/bootstrap2.cpio"
cmp -s "$work/bootstrap.cpio" "$work/bootstrap2.cpio" &&
    ok "the bootstrap ramdisk is byte-reproducible ($(wc -c < "$work/bootstrap.cpio") bytes)" ||
    fail "two bootstrap ramdisks differ"
cpio -it --quiet < "$work/bootstrap.cpio" | LC_ALL=C sort | tr '\n' ' ' | grep -q '^dev init nsm.ko proc sys $' &&
    ok "the bootstrap ramdisk holds init, nsm.ko and the mount points" ||
    fail "bootstrap contents: $(cpio -it --quiet < "$work/bootstrap.cpio" | tr '\n' ' ')"

mkdir -p "$work/rootfs/bin"
dpkg-deb --fsys-tarfile "$busybox_deb" | tar -x -O ./bin/busybox > "$work/rootfs/bin/busybox"
chmod 0755 "$work/rootfs/bin/busybox"
cp "$BUILD/qemu/guest/nsm-probe" "$BUILD/qemu/guest/vsock_guest" "$work/rootfs/bin/"
# The application: /env's variable, a document from /dev/nsm, a vsock exchange with the host
# (vsock_guest proves its CID is 16 before it connects), then exit 3.
# Then a KMS request (ListKeys, with a well-formed SigV4 header) to CID 3 port 8000, where
# nsm-vsock proxy forwards to nsm-kms, as an enclave reaches KMS through the parent.
"$bin/nsm-eif" ramdisk --rootfs "$work/rootfs" --env PATH=/bin --env GREETING=hello-env \
    --env KMS_SIG="$(printf '%064d' 0)" --output "$work/app.cpio" -- /bin/busybox sh -c \
    'echo "app: $GREETING"; echo "DOC $(nsm-probe attest)"; echo "VSOCK $(vsock_guest --cid 16 send 3 7001 hello-from-enclave)"; echo "KMS $(vsock_guest --cid 16 send 3 8000 "$(printf "POST / HTTP/1.1\r\nHost: kms\r\nX-Amz-Target: TrentService.ListKeys\r\nX-Amz-Date: 20261207T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=$KMS_SIG\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")" | busybox tail -n 1)"; exit 3' \
    > /dev/null || { echo "FAIL: nsm-eif ramdisk"; exit 1; }
cmdline="reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6"
# signed, as `nitro-cli build-enclave --signing-certificate --private-key` does: PCR8 too
openssl ecparam -name secp384r1 -genkey -noout -out "$work/signer.key" 2> /dev/null
openssl req -new -x509 -key "$work/signer.key" -sha384 -out "$work/signer.pem" -days 30 \
    -subj "/C=US/O=nsmkit tests/CN=run-eif signer" 2> /dev/null || { echo "FAIL: openssl req"; exit 1; }
"$bin/nsm-eif" build --kernel "$image/vmlinuz" --cmdline "$cmdline" --ramdisk "$work/bootstrap.cpio" \
    --ramdisk "$work/app.cpio" --build-time 2026-01-01T00:00:00Z --output "$work/app.eif" \
    --signing-certificate "$work/signer.pem" --private-key "$work/signer.key" > /dev/null ||
    { echo "FAIL: nsm-eif build"; exit 1; }
"$bin/nsm-eif" describe "$work/app.eif" > "$work/describe.txt"
pcr() { sed -n "s/^PCR$1  *\([0-9a-f]*\)\$/\1/p" "$work/describe.txt"; }
pcr0=$(pcr 0); pcr1=$(pcr 1); pcr2=$(pcr 2); pcr8=$(pcr 8)
[ ${#pcr0} -eq 96 ] && [ ${#pcr8} -eq 96 ] || { echo "FAIL: no PCR0 or PCR8 from nsm-eif describe"; exit 1; }

# ---- usage, and what is refused before boot ---------------------------------------------------
"$bin/nsm-qemu" run-eif --help | grep -q -- '--parent-role-arn' && ok "run-eif --help documents its options" ||
    fail "run-eif --help"
"$bin/nsm-qemu" run-eif --version > /dev/null && ok "run-eif --version exits 0" || fail "run-eif --version"
for bad in "--cid 3" "--cid x" "--memory 8" "--pcr3 12" "--bogus"; do
    # shellcheck disable=SC2086
    "$bin/nsm-qemu" run-eif $bad "$work/app.eif" > /dev/null 2> "$work/bad.err"
    [ $? -eq 125 ] && ok "refused: run-eif $bad ($(head -n 1 "$work/bad.err" | cut -c1-70)...)" ||
        fail "run-eif $bad was not refused"
done
# a malformed image (one byte of its kernel changed: the CRC no longer matches) never boots
cp "$work/app.eif" "$work/bad.eif"
printf 'X' | dd of="$work/bad.eif" bs=1 seek=4096 conv=notrunc 2> /dev/null
printf '#!/bin/sh\n: > "%s/qemu-started"\n' "$work" > "$work/fake-qemu"
chmod +x "$work/fake-qemu"
NSM_QEMU_QEMU="$work/fake-qemu" "$bin/nsm-qemu" run-eif --vsock-dir "$net" "$work/bad.eif" \
    > /dev/null 2> "$work/bad.err"
rc=$?
[ $rc -eq 125 ] && grep -q 'refused before boot' "$work/bad.err" && [ ! -e "$work/qemu-started" ] &&
    ok "a malformed image is refused before anything boots: $(grep -m1 CRC "$work/bad.err" | cut -c1-90)" ||
    fail "malformed image: exit $rc, qemu started: $([ -e "$work/qemu-started" ] && echo yes || echo no): $(cat "$work/bad.err")"

# a QEMU that fails at once is reported at once (not when the watchdog fires)
printf '#!/bin/sh\necho "qemu: simulated start failure" >&2\nexit 1\n' > "$work/failing-qemu"
chmod +x "$work/failing-qemu"
start=$(date +%s)
NSM_QEMU_QEMU="$work/failing-qemu" "$bin/nsm-qemu" run-eif --vsock-dir "$net" --timeout 60 "$work/app.eif" \
    > /dev/null 2> "$work/qf.err"
rc=$?
[ $rc -eq 125 ] && grep -q 'simulated start failure' "$work/qf.err" && [ $(($(date +%s) - start)) -lt 30 ] &&
    ok "a QEMU that fails to start is reported at once with its message (125)" ||
    fail "failing QEMU: exit $rc after $(($(date +%s) - start)) s: $(cat "$work/qf.err")"

# ---- 1. the image runs: document, heartbeat, /env, vsock, exit status, console -------------
socat UNIX-LISTEN:"$net/3.7001" SYSTEM:"cat > '$work/received'; printf host-reply" 2> /dev/null &
listener_pid=$!
"$bin/nsm-kms" serve --listen 127.0.0.1:0 --state "$work/kms" --ca "$work/ca" --quiet > "$work/kms.out" 2>&1 &
listener_pid="$listener_pid $!"
i=0; while ! grep -q 'listening on' "$work/kms.out" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
kms_port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/kms.out")
"$bin/nsm-vsock" proxy --dir "$net" --port 8000 --to "127.0.0.1:${kms_port:-1}" > /dev/null 2>&1 &
listener_pid="$listener_pid $!"
role="arn:aws:iam::123456789012:role/Webserver"
# AWS's user guide gives this PCR3 for that ARN
pcr3=78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6
"$bin/nsm-qemu" run-eif --ca "$work/ca" --vsock-dir "$net" --timings --timeout 400 \
    --console "$work/console.txt" --parent-role-arn "$role" "$work/app.eif" > "$work/run.out" 2> "$work/run.err"
rc=$?
grep 'timings\|   the\|  boot to' "$work/run.err" | grep -v "the image's:" | sed 's/^/  /'
[ $rc -eq 3 ] && ok "the enclave's command exited 3, run-eif's status is 3" ||
    fail "run-eif exited $rc: $(tail -n 12 "$work/run.err")"
grep -qx 'app: hello-env' "$work/run.out" && ok "/env reached the command (image's init: /env, /cmd, /rootfs)" ||
    fail "no 'app: hello-env' in the console"
grep -q "the image's /nsm.ko moved" "$work/run.out" && ok "the image's placeholder nsm.ko was moved out of init's way" ||
    fail "no nsm.ko line"
sed -n 's/^DOC \([0-9a-f]*\)$/\1/p' "$work/run.out" | head -n 1 | xxd -r -p > "$work/doc.bin"
if [ -s "$work/doc.bin" ]; then
    "$bin/nsm-verify" --root "$root" --expect-pcr "0=$pcr0" --expect-pcr "1=$pcr1" --expect-pcr "2=$pcr2" \
        --expect-pcr "3=$pcr3" --expect-pcr "8=$pcr8" "$work/doc.bin" > "$work/nv.out" 2>&1 &&
        ok "the application's document verifies with the signed image's PCR0/1/2/8 and the role ARN's PCR3" ||
        fail "document: $(tail -n 2 "$work/nv.out")"
    "$bin/nsm-verify" --root "$root" --expect-pcr "0=$(printf '%096d' 0)" "$work/doc.bin" > /dev/null 2>&1 &&
        fail "the document verified with a zero PCR0" || ok "the same document is refused with a zero PCR0"
else fail "no document in the console"; fi
grep -qx 'VSOCK host-reply' "$work/run.out" && [ "$(cat "$work/received" 2> /dev/null)" = hello-from-enclave ] &&
    ok "the enclave talked to a host program on DIR/3.7001 over vsock" ||
    fail "vsock: $(grep '^VSOCK' "$work/run.out"), host received '$(cat "$work/received" 2> /dev/null)'"
grep -qx 'KMS {"Keys":\[\],"Truncated":false}' "$work/run.out" &&
    ok "the enclave reached nsm-kms through nsm-vsock proxy on CID 3 port 8000 (ListKeys answered)" ||
    fail "KMS through the proxy: $(grep '^KMS' "$work/run.out") (nsm-kms: $(head -n 1 "$work/kms.out"))"
grep -q 'heartbeat answered by nsm-vsock heartbeat' "$work/run.err" && ok "run-eif answered the heartbeat" ||
    fail "no heartbeat line"
grep -qx 'app: hello-env' "$work/console.txt" && grep -q 'NSMKIT-ENCLAVE-EXIT 3' "$work/console.txt" &&
    ok "--console FILE holds the console" || fail "--console file: $(tail -n 3 "$work/console.txt")"
grep -q "substituted: the kernel" "$work/run.err" && grep -q "appended: rdinit=/nsmkit/eif/init" "$work/run.err" &&
    grep -q "NSM: PCR0/1/2/8 the image's, PCR3 $pcr3" "$work/run.err" &&
    ok "run-eif says what is the image's and what is substituted" || fail "no substitution lines"
grep -q "the application's first attestation (document sent): *[0-9]" "$work/run.err" &&
    grep -q "the kernel's boot to init (the overlay's first line): *[0-9]" "$work/run.err" &&
    ok "--timings: boot to first attestation beside boot to init" || fail "--timings lines missing"
for p in $listener_pid; do kill $p 2> /dev/null; wait $p 2> /dev/null; done; listener_pid=""

# ---- 2. debug mode: the measured PCRs read as zero ----------------------------------------
# (this image's application ramdisk is gzip-compressed and of a length that is not a multiple
# of 4, as a compressed ramdisk may be: the overlay after it must still be found)
for level in 9 1 6; do
    gzip -n -$level < "$work/app.cpio" > "$work/app.cpio.gz"
    [ $(($(wc -c < "$work/app.cpio.gz") % 4)) -eq 0 ] || break
done
# and its command line names its init with rdinit= (a third ramdisk holds /init.real): the
# overlay must hand over to that one, not to /init
mkdir -p "$work/extra"
cp "$BUILD/qemu/guest/enclave-init" "$work/extra/init.real"
(cd "$work/extra" && echo init.real | cpio -o -H newc -R 0:0 --quiet) > "$work/extra.cpio"
"$bin/nsm-eif" build --kernel "$image/vmlinuz" --cmdline "$cmdline rdinit=/init.real" \
    --ramdisk "$work/bootstrap.cpio" --ramdisk "$work/app.cpio.gz" --ramdisk "$work/extra.cpio" \
    --build-time 2026-01-01T00:00:00Z --output "$work/gz.eif" > /dev/null ||
    fail "nsm-eif build with a gzip ramdisk"
"$bin/nsm-qemu" run-eif --ca "$work/ca" --vsock-dir "$net" --debug-mode --timeout 400 --cid 17 \
    "$work/gz.eif" > "$work/debug.out" 2> "$work/debug.err"
rc=$?
zero=$(printf '%096d' 0)
sed -n 's/^DOC \([0-9a-f]*\)$/\1/p' "$work/debug.out" | head -n 1 | xxd -r -p > "$work/debug.bin"
# (the app's vsock step refuses: it expects CID 16; the run is about the document)
if [ -s "$work/debug.bin" ]; then
    "$bin/nsm-verify" --root "$root" --expect-pcr "0=$zero" --expect-pcr "1=$zero" --expect-pcr "2=$zero" \
        --expect-pcr "3=$zero" --expect-pcr "4=$zero" "$work/debug.bin" > "$work/nv.out" 2>&1 &&
        ok "debug mode: the document's PCR0-4 are zero; a gzip ramdisk of $(wc -c < "$work/app.cpio.gz") bytes before the overlay booted (exit $rc)" || fail "debug document: $(tail -n 2 "$work/nv.out")"
else fail "debug mode: no document (exit $rc): $(tail -n 5 "$work/debug.err")"; fi
grep -q "starting the image's /init.real" "$work/debug.out" && grep -qx 'app: hello-env' "$work/debug.out" &&
    ok "the image's own rdinit=/init.real ran the application" ||
    fail "rdinit=: $(grep 'starting the image' "$work/debug.out")"

# ---- 3. a wrong heartbeat answer: init dies, as AWS's does ------------------------------------
socat UNIX-LISTEN:"$net/3.9000",fork SYSTEM:"head -c 1 > /dev/null; printf x" 2> /dev/null &
listener_pid=$!
i=0; while [ ! -S "$net/3.9000" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
"$bin/nsm-qemu" run-eif --ca "$work/ca" --vsock-dir "$net" --timeout 400 "$work/app.eif" \
    > "$work/hb.out" 2> "$work/hb.err"
rc=$?
[ $rc -eq 123 ] && grep -q 'nsmkit-init: heartbeat: wrong answer' "$work/hb.err" && grep -q 'panicked' "$work/hb.err" &&
    ! grep -q '^app:' "$work/hb.out" &&
    ok "a wrong heartbeat answer: init died before the app, run-eif reported the panic with the last lines (123)" ||
    fail "heartbeat failure: exit $rc: $(tail -n 6 "$work/hb.err")"
kill $listener_pid 2> /dev/null; wait $listener_pid 2> /dev/null; listener_pid=""

# ---- 3b. an init that stops the enclave without a status (as AWS's would): 123 ------------------
mkdir -p "$work/silent"
printf '#!/rootfs/bin/busybox sh\necho "silent init: powering off"\n/rootfs/bin/busybox poweroff -f\n' \
    > "$work/silent/init.silent"
chmod 0755 "$work/silent/init.silent"
(cd "$work/silent" && echo init.silent | cpio -o -H newc -R 0:0 --quiet) > "$work/silent.cpio"
"$bin/nsm-eif" build --kernel "$image/vmlinuz" --cmdline "$cmdline rdinit=/init.silent" \
    --ramdisk "$work/bootstrap.cpio" --ramdisk "$work/app.cpio" --ramdisk "$work/silent.cpio" \
    --build-time 2026-01-01T00:00:00Z --output "$work/silent.eif" > /dev/null 2>&1
"$bin/nsm-qemu" run-eif --vsock-dir "$net" --timeout 400 "$work/silent.eif" > "$work/silent.out" 2> "$work/silent.err"
rc=$?
[ $rc -eq 123 ] && grep -q 'stopped without reporting an exit status' "$work/silent.err" &&
    grep -q 'silent init: powering off' "$work/silent.err" &&
    ok "an init that powers off without a status: 123, with the console's last lines" ||
    fail "silent init: exit $rc: $(tail -n 4 "$work/silent.err")"

# ---- 4. the watchdog -------------------------------------------------------------------------
# (an init that never ends: a guest that finishes before the timeout would prove nothing, and
# on a quiet machine app.eif is done within 3 s)
mkdir -p "$work/hang"
printf '#!/rootfs/bin/busybox sh\necho "hanging init: sleeping"\nwhile :; do /rootfs/bin/busybox sleep 60; done\n' \
    > "$work/hang/init.hang"
chmod 0755 "$work/hang/init.hang"
(cd "$work/hang" && echo init.hang | cpio -o -H newc -R 0:0 --quiet) > "$work/hang.cpio"
"$bin/nsm-eif" build --kernel "$image/vmlinuz" --cmdline "$cmdline rdinit=/init.hang" \
    --ramdisk "$work/bootstrap.cpio" --ramdisk "$work/app.cpio" --ramdisk "$work/hang.cpio" \
    --build-time 2026-01-01T00:00:00Z --output "$work/hang.eif" > /dev/null 2>&1
"$bin/nsm-qemu" run-eif --vsock-dir "$net" --timeout 8 "$work/hang.eif" > /dev/null 2> "$work/wd.err"
rc=$?
[ $rc -eq 124 ] && grep -q 'watchdog' "$work/wd.err" && ok "the watchdog stopped the guest (124)" ||
    fail "watchdog: exit $rc: $(tail -n 3 "$work/wd.err")"

# SIGTERM (how a supervisor such as nsm-nitro-cli's terminate-enclave stops it): 143, and
# the checks below find nothing of it left
"$bin/nsm-qemu" run-eif --vsock-dir "$net" --timeout 120 "$work/app.eif" > "$work/term.out" 2> /dev/null &
term_pid=$!
i=0; while ! grep -q 'Linux version' "$work/term.out" 2> /dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM $term_pid
wait $term_pid
rc=$?
[ $rc -eq 143 ] && ok "SIGTERM stops run-eif and its guest (143)" || fail "SIGTERM: exit $rc"

# ---- nothing left behind ------------------------------------------------------------------
sleep 0.5
left=$(ps -eo args | grep -F "$work/" | grep -v grep)
[ -z "$left" ] && ok "no process left running" || fail "left running: $left"
[ -z "$(ls -A "$work/tmp")" ] && ok "no temporary directory left" || fail "left in TMPDIR: $(ls "$work/tmp")"
[ ! -e "$net/16.vsock" ] && [ ! -e "$net/3.9000" ] && ok "no vsock name left in DIR" || fail "left in DIR: $(ls "$net")"

echo "run-eif: $failures failed"
[ $failures -eq 0 ]
