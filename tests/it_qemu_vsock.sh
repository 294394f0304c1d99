#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A QEMU guest on the emulated vsock network (issue 19 item 2): `nsm-qemu run --vsock-dir DIR
# --cid 42` gives the guest a vhost-user-vsock device served by `nsm-vsock vhost-user`. One
# boot (TCG is slow) carries every guest check: the guest proves its CID before anything
# connects, guest -> host (DIR/3.P, and DIR/G.vsock_P first for CID 2), AWS init's
# heartbeat (0xB7 to CID 3 port 9000, answered by nsm-vsock heartbeat), Debian's socat in the
# guest (VSOCK-CONNECT and VSOCK-LISTEN), a refused port, socat under `nsm-vsock exec --cid 5`
# connecting to the guest, 8 MiB out and 4 MiB in, and
# host -> guest through Firecracker's CONNECT/OK on DIR/42.vsock, from a plain socket and
# from a socket bound at a peer name. The host side is unix sockets only
# (tests/vsock_host_side.py), and the one host AF_VSOCK program runs under nsm-vsock exec
# after proving its emulated CID (tests/vsock_tool cid 5). Host-only checks:
# a hostile vhost-user peer, and nsm-qemu's option errors.
set -u
BUILD=${BUILD:-build}
# The sanitizer pass of make test cannot put ASan into the guest (static programs, the
# image's own libraries), but it can put the sanitized backend behind the plain image: the
# guest, QEMU and the host tools come from the plain build, nsm-vsock vhost-user from
# $BUILD, and any sanitizer report in its log fails the test.
plain=$BUILD
[ -n "${SANITIZE:-}" ] && plain=$(dirname "$BUILD")
bin="$plain/bin"
image="$plain/qemu/image"
backend="$BUILD/bin/nsm-vsock"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
work=$(mktemp -d)
mkdir -p "$work/tmp" "$work/out"
host_pid=""
trap 'for p in $host_pid; do kill $p 2> /dev/null; done; rm -rf "$work"' EXIT
export TMPDIR="$work/tmp"

for f in "$image/vmlinuz" "$image/initramfs.cpio" "$bin/nsm-qemu" "$bin/nsm-vsock" \
    "$plain/tests/vsock_tool" "$backend"; do
    if [ ! -f "$f" ]; then
        [ -n "${SANITIZE:-}" ] && { echo "SKIP: no plain build at $plain ($f): the sanitized backend is not put behind a guest"; exit 0; }
        echo "FAIL: missing $f (make qemu-image)"; exit 1
    fi
done
command -v python3 > /dev/null || { echo "SKIP: python3 (the host side) is missing"; exit 0; }

# ---- host only: a hostile vhost-user peer -------------------------------------------------
"$backend" vhost-user --socket "$work/vu.sock" --cid 77 --dir "$work/hnet" \
    2> "$work/vu.log" &
vu_pid=$!
i=0; while [ ! -S "$work/vu.sock" ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i + 1)); done
python3 - "$work/vu.sock" > "$work/vu.out" 2>&1 << 'PY'
import socket, struct, sys
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1]); s.settimeout(5); return s
def closed(s):
    try: return s.recv(1) == b""
    except OSError: return True
# 1. SET_MEM_TABLE claiming 9 regions, no descriptors: dropped
s = conn(); s.sendall(struct.pack("<III", 5, 1, 8) + struct.pack("<II", 9, 0)); print("memtable", closed(s))
# 2. a header announcing 1 MiB: dropped before reading it
s = conn(); s.sendall(struct.pack("<III", 1, 1, 1 << 20)); print("huge", closed(s))
# 3. a vring index past the queues: dropped
s = conn(); s.sendall(struct.pack("<III", 8, 1, 8) + struct.pack("<II", 5, 64)); print("index", closed(s))
# 4. half a header, then silence: dropped after the backend's 5 s, not waited for forever
s = conn(); s.sendall(b"\x01\x00\x00\x00\x01\x00"); s.settimeout(15); print("stalled", closed(s))
# 5. and still serving: GET_FEATURES answered, then GET_CONFIG gives the CID
s = conn(); s.sendall(struct.pack("<III", 1, 1, 0))
r, f, n = struct.unpack("<III", s.recv(12)); feat, = struct.unpack("<Q", s.recv(n))
s.sendall(struct.pack("<III", 24, 1, 20) + struct.pack("<III", 0, 8, 0) + b"\0" * 8)
r, f, n = struct.unpack("<III", s.recv(12)); cfg = s.recv(n)
print("served", hex(feat), struct.unpack("<Q", cfg[12:20])[0])
PY
grep -q '^memtable True' "$work/vu.out" && grep -q '^huge True' "$work/vu.out" &&
    grep -q '^index True' "$work/vu.out" && grep -q '^stalled True' "$work/vu.out" &&
    ok "a hostile vhost-user peer is dropped (bad memory table, oversized message, bad vring index, a message stalled halfway)" ||
    fail "hostile vhost-user peer: $(cat "$work/vu.out")"
grep -q '^served 0x140000000 77$' "$work/vu.out" &&
    ok "the backend serves the next connection: features VERSION_1|PROTOCOL_FEATURES, config CID 77" ||
    fail "after the hostile peer: $(cat "$work/vu.out")"
grep -q '5505 VU_MEM_TABLE' "$work/vu.log" && grep -q '5507 VU_RING_INDEX' "$work/vu.log" &&
    ok "each refusal is logged with its number" || fail "backend log: $(cat "$work/vu.log")"
kill $vu_pid; wait $vu_pid 2> /dev/null
[ ! -e "$work/vu.sock" ] && [ ! -e "$work/hnet/77.vsock" ] &&
    ok "the backend removes its sockets when stopped" || fail "sockets left: $(ls "$work" "$work/hnet")"

out=$("$bin/nsm-qemu" run --cid 42 -- true 2>&1); rc=$?
[ $rc -eq 125 ] && echo "$out" | grep -q -- '--vsock-dir and --cid go together' &&
    ok "nsm-qemu: --cid without --vsock-dir is refused" || fail "nsm-qemu --cid alone: $rc $out"

# ---- one guest boot ------------------------------------------------------------------------
"$bin/nsm-ca" init "$work/ca" > /dev/null || { echo "FAIL: nsm-ca init"; exit 1; }
net="$work/net"
mkdir -m 0700 "$net"
# AWS init's heartbeat is answered by the product's own responder
"$bin/nsm-vsock" heartbeat --dir "$net" 2> "$work/heartbeat.err" &
hb_pid=$!
python3 tests/vsock_host_side.py "$net" 42 "$work/out" --no-echo-9000 2> "$work/host.err" &
host_pid="$! $hb_pid"
i=0; while [ ! -f "$work/out/ready" ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i + 1)); done
# a host program nobody here wrote, under `nsm-vsock exec` as CID 5: Debian's socat connects
# to the guest's port 5000 through the emulated AF_VSOCK (tried until the guest listens)
(
    i=0
    while [ $i -lt 300 ]; do
        # inside the emulation, the local CID is proved to be 5 before socat runs
        printf exec-hello | VSOCK_TOOL_CID=5 "$bin/nsm-vsock" exec --cid 5 --dir "$net" -- \
            sh -c '"$0" cid 5 > /dev/null || { echo "CID check failed" >&2; exit 97; }; exec "$@"' \
            "$plain/tests/vsock_tool" socat -t 20 - VSOCK-CONNECT:42:5000 \
            > "$work/out/exec.try" 2> "$work/out/exec.err"
        grep -q '^guest:' "$work/out/exec.try" && { mv "$work/out/exec.try" "$work/out/exec"; break; }
        sleep 0.5; i=$((i + 1))
    done
) &
host_pid="$host_pid $!"

cat > "$work/guest.sh" << 'GUEST'
c=$(vsock_guest cid) || { echo "FAIL: no local CID"; exit 1; }
echo "CID $c"
# safety: nothing below connects unless the guest's vsock is the emulated CID 42
[ "$c" = 42 ] || { echo "FAIL: the local CID is $c, not 42: stopping before any connect"; exit 1; }
vsock_guest --cid 42 serve 5000 3 > /tmp/serve.out 2>&1 &
spid=$!
socat VSOCK-LISTEN:5100 EXEC:cat 2> /tmp/socat-listen.err &
lpid=$!
vsock_guest --cid 42 heartbeat
echo "SEND7000 $(vsock_guest --cid 42 send 3 7000 ping)"
echo "SEND7100 $(vsock_guest --cid 42 send 2 7100 which)"
echo "SOCAT $(echo socat-hello | socat -t 20 - VSOCK-CONNECT:3:7000 2>&1)"
echo "REFUSED $(vsock_guest --cid 42 send 3 7999 x 2>&1)"
vsock_guest --cid 42 blast 3 7200 8 | sed 's/^/BLAST /'
vsock_guest --cid 42 recv 3 7300 | sed 's/^/RECV /'
i=0; while kill -0 $spid 2> /dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $spid 2> /dev/null && echo "SERVE-TIMEOUT"
i=0; while kill -0 $lpid 2> /dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill $lpid 2> /dev/null
sed 's/^/SERVE /' /tmp/serve.out
GUEST
NSM_QEMU_VSOCK_LOG="$work/backend.log" NSM_QEMU_NSM_VSOCK="$backend" "$bin/nsm-qemu" run --ca "$work/ca" --timeout 280 \
    --vsock-dir "$net" --cid 42 --add "$work/guest.sh:/root/guest.sh" -- sh /root/guest.sh \
    > "$work/guest.out" 2> "$work/guest.err"
rc=$?
kill $host_pid 2> /dev/null; wait $host_pid 2> /dev/null; host_pid=""
[ $rc -eq 0 ] && ok "guest run exited 0" || fail "guest run exited $rc: $(tail -n 5 "$work/guest.err" "$work/guest.out")"
g() { grep "^$1" "$work/guest.out" | head -n 1; }
[ "$(g CID)" = "CID 42" ] && ok "the guest's IOCTL_VM_SOCKETS_GET_LOCAL_CID is 42, the CID its backend was given" ||
    fail "guest CID: $(g CID) $(g FAIL)"
g heartbeat | grep -q 'heartbeat answered 0xb7' &&
    ok "heartbeat: the guest's 0xB7 to CID 3 port 9000 is answered by nsm-vsock heartbeat" ||
    fail "heartbeat: $(cat "$work/guest.out" | head -n 5)"
g SEND7000 | grep -Eq '^SEND7000 host:ping peer=42\.[0-9]+\.peer$' &&
    ok "guest -> CID 3 port 7000 reaches DIR/3.7000; the acceptor sees the guest as 42.<port>.peer" ||
    fail "guest -> 3:7000: $(g SEND7000)"
[ "$(g SEND7100)" = "SEND7100 fc:which" ] &&
    ok "guest -> CID 2 port 7100 reaches DIR/42.vsock_7100 before DIR/3.7100 (Firecracker's order)" ||
    fail "guest -> 2:7100: $(g SEND7100)"
if [ -x /usr/bin/socat ]; then
    g SOCAT | grep -Eq '^SOCAT host:socat-hello' && ok "Debian's socat VSOCK-CONNECT in the guest reaches the host" ||
        fail "socat in the guest: $(g SOCAT)"
    printf '%s' "$(cat "$work/out/socat_listen" 2> /dev/null)" | tail -n 1 | grep -qx 'from-host' &&
        head -n 1 "$work/out/socat_listen" | grep -Eq '^OK [0-9]+$' &&
        ok "Debian's socat VSOCK-LISTEN in the guest answers a host program (CONNECT 5100)" ||
        fail "socat VSOCK-LISTEN in the guest: $(cat "$work/out/socat_listen" 2> /dev/null)"
else echo "SKIP: no socat on this machine, so none in the image"; fi
g REFUSED | grep -q 'connect: Connection reset by peer' &&
    ok "a port nobody listens on: the guest's connect fails (reset)" || fail "refused port: $(g REFUSED)"
# 8 MiB of 0x5a: the sink's count and sum
g BLAST | grep -q "ack=ok 8388608 $((8388608 * 0x5a % 4294967296))\$" &&
    ok "guest -> host 8 MiB through the credit window: every byte arrived ($(g BLAST | sed 's/.*throughput_mib_s=\([0-9.]*\).*/\1/') MiB/s)" ||
    fail "guest -> host bulk: $(g BLAST)"
want_sum=$(python3 -c 'print(sum((i * 7) % 251 for i in range(4 << 20)) & 0xffffffff)')
[ "$(g RECV)" = "RECV recv bytes=4194304 sum=$want_sum" ] &&
    ok "host -> guest 4 MiB within the guest's credit: every byte arrived (count and sum)" ||
    fail "host -> guest bulk: $(g RECV), want sum $want_sum"
[ "$(cat "$work/out/bad_line" 2> /dev/null)" = None ] &&
    ok "a malformed CONNECT line (leading zero) is closed without OK" ||
    fail "bad CONNECT line: $(cat "$work/out/bad_line" 2> /dev/null)"
plain=$(cat "$work/out/plain" 2> /dev/null)
hp=$(printf '%s' "$plain" | sed -n '1s/^OK \([0-9]*\)$/\1/p')
[ -n "$hp" ] && printf '%s' "$plain" | grep -q "^guest:from-host from 2:$hp\$" &&
    ok "host -> guest port 5000 by CONNECT on DIR/42.vsock: OK $hp, the guest sees CID 2 port $hp" ||
    fail "host -> guest (plain): $plain"
named=$(cat "$work/out/named" 2> /dev/null)
printf '%s' "$named" | head -n 1 | grep -qx 'OK 6000' &&
    printf '%s' "$named" | grep -q '^guest:from-host from 3:6000$' &&
    ok "host -> guest from a socket bound at DIR/3.6000.peer: the guest sees CID 3 port 6000" ||
    fail "host -> guest (named): $named"
if command -v socat > /dev/null; then
    grep -Eq '^guest:exec-hello from 5:[0-9]+$' "$work/out/exec" 2> /dev/null &&
        ok "host -> guest from socat under nsm-vsock exec --cid 5: the guest sees CID 5" ||
        fail "nsm-vsock exec socat -> guest: $(cat "$work/out/exec" "$work/out/exec.try" "$work/out/exec.err" 2> /dev/null | head -n 5)"
else echo "SKIP: no socat on this machine"; fi
left=$(cd "$net" && ls | grep -Ev '^(3\.9000|3\.7[0-3]00|42\.vsock_7100)$')
[ -z "$left" ] && ok "nothing left in DIR but the host's listeners (no 42.vsock, no .peer names)" ||
    fail "left in DIR: $left"
if grep -E '^nsm-vsock vhost-user: 5[5-9][0-9][0-9] ' "$work/backend.log" | grep -qv 'CMD_CONNECT_LINE'; then
    fail "the backend refused something from the real guest: $(grep -E ' 5[5-9][0-9][0-9] ' "$work/backend.log" | head -n 3)"
else ok "the real guest broke no rule (the backend's log has only the bad CONNECT line)"; fi
if [ -n "${SANITIZE:-}" ]; then
    grep -qE 'Sanitizer|runtime error' "$work/vu.log" "$work/backend.log" &&
        fail "the sanitized backend reported: $(grep -hE 'Sanitizer|runtime error' "$work/vu.log" "$work/backend.log" | head -n 3)" ||
        ok "the sanitized backend served the hostile peers and the guest without a sanitizer report"
fi
[ -z "$(ls "$work/tmp")" ] && ok "no temporary directory left" || fail "left in TMPDIR: $(ls "$work/tmp")"
echo "qemu vsock: $failures failed"
[ $failures -eq 0 ]
