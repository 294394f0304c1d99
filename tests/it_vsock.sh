#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# nsm-vsock on the host: programs nobody here wrote (Debian's socat, Python's
# socket.AF_VSOCK, a CGO_ENABLED=0 Go program) and our own -static C program talk over one
# emulated vsock network: host to host, CID 2 -> 3, ECONNREFUSED, EADDRINUSE, the heartbeat,
# the proxy's allowlist, and the guard that keeps a program which bypasses the shim away
# from the real vsock.
#
# Safety: this machine's /dev/vsock is real. Every command that touches a vsock socket runs
# under `nsm-vsock exec` and, inside that same emulation and before anything else, proves
# that its local CID is the emulated one (run_as below: `vsock_tool cid N || exit`); the
# tools refuse to open a socket themselves unless the CID they see is $VSOCK_TOOL_CID.
set -u
BUILD=${BUILD:-build}
bin="$(cd "$BUILD/bin" && pwd)"
tests="$(cd "$BUILD/tests" && pwd)"
tool="$tests/vsock_tool"
static="$tests/vsock_tool_static"
work=$(mktemp -d)
net="$work/net"
bg=""
cleanup() {
    for p in $bg; do kill -TERM "$p" 2> /dev/null; done
    sleep 0.2
    for p in $bg; do kill -KILL "$p" 2> /dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# run_as CID MODE CHECKER COMMAND...: COMMAND under the emulation as CID, after CHECKER
# (vsock_tool or its static twin) proved inside it that the local CID is CID.
# It ends in exec: call it in a subshell - $(...), ( ... ) or `run_as ... &`, whose PID is then
# the command's own, for stop.
run_as() {
    cid=$1 mode=$2 checker=$3
    shift 3
    no_leak_report
    VSOCK_TOOL_CID=$cid exec timeout 60 "$bin/nsm-vsock" exec --cid "$cid" --dir "$net" --mode "$mode" -- \
        sh -c '"$0" cid "$VSOCK_TOOL_CID" > /dev/null || { echo "CID check failed" >&2; exit 97; }; exec "$@"' \
        "$checker" "$@"
}
# Under SANITIZE the sanitizer runtime is preloaded with the shim into socat, bash and Python:
# their own leaks are not ours to report (the unit tests run our code with LeakSanitizer).
no_leak_report() {
    [ -n "${SANITIZE:-}" ] && export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    return 0
}
# wait_for FILE: until it exists (30 s at most: Python under the sanitizers starts slowly)
wait_for() {
    i=0
    while [ ! -e "$1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    [ -e "$1" ]
}
# stop PID: TERM and reap one background process
stop() { kill -TERM "$1" 2> /dev/null; wait "$1" 2> /dev/null; }

# ---- the command line ----------------------------------------------------------------------
for c in "" exec proxy heartbeat; do
    if "$bin/nsm-vsock" $c --help > "$work/help" 2>&1 && grep -q usage "$work/help" &&
        "$bin/nsm-vsock" $c --version > /dev/null 2>&1; then ok "nsm-vsock $c --help and --version"
    else fail "nsm-vsock $c --help/--version"; fi
done
"$bin/nsm-vsock" exec --cid 1 -- true 2> /dev/null; [ $? -eq 2 ] && ok "exec --cid 1: usage error (2)" || fail "exec --cid 1"
"$bin/nsm-vsock" exec --cid 16 --mode fast -- true 2> /dev/null; [ $? -eq 2 ] && ok "exec --mode fast: usage error" || fail "--mode fast"
mkdir -m 0700 "$work/open"; chmod 0777 "$work/open"
"$bin/nsm-vsock" exec --cid 16 --dir "$work/open" -- true 2> "$work/err"
[ $? -eq 2 ] && grep -q "5003 DIR_UNSAFE" "$work/err" && ok "a DIR others can write to is refused: $(cat "$work/err")" ||
    fail "DIR others can write: $(cat "$work/err")"
long="$work/$(printf 'd%.0s' $(seq 90))"
"$bin/nsm-vsock" heartbeat --dir "$long" 2> "$work/err"
[ $? -eq 2 ] && grep -q "5001 DIR_TOO_LONG" "$work/err" && ok "a DIR too long for sun_path is refused" || fail "long DIR: $(cat "$work/err")"
NSM_VSOCK_PRELOAD="$work/none.so" "$bin/nsm-vsock" exec --cid 16 --dir "$net" --mode preload -- true 2> "$work/err"
[ $? -eq 2 ] && grep -q "5010 SHIM" "$work/err" && ok "no shim: exit 2, 5010 SHIM" || fail "no shim: $(cat "$work/err")"

# ---- the emulated CID, and the guard ------------------------------------------------------------
out=$("$bin/nsm-vsock" exec --cid 16 --dir "$net" --mode preload -- "$tool" cid 16)
[ "$out" = "local CID 16" ] && ok "preload: /dev/vsock's GET_LOCAL_CID answers 16" || fail "preload CID: $out"
out=$("$bin/nsm-vsock" exec --cid 16 --dir "$net" --mode seccomp -- "$static" cid 16)
[ "$out" = "local CID 16" ] && ok "seccomp: a -static program's GET_LOCAL_CID answers 16" || fail "seccomp CID: $out"
out=$("$bin/nsm-vsock" exec --cid 16 --dir "$net" -- "$static" cid 16)
[ "$out" = "local CID 16" ] && ok "auto picks seccomp for a -static program" || fail "auto static: $out"
# A static program under the preload mode bypasses the shim: the guard filter, not the real
# device, answers it (no CID, no AF_VSOCK socket).
out=$("$bin/nsm-vsock" exec --cid 16 --dir "$net" --mode preload -- "$static" cid 16)
[ "$out" = "local CID -1" ] && ok "guard: a program that bypasses the shim gets no CID (never the real one)" ||
    fail "guard CID: $out"
out=$(no_leak_report; "$bin/nsm-vsock" exec --cid 16 --dir "$net" --mode preload -- python3 -c '
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(41, socket.AF_VSOCK, socket.SOCK_STREAM, 0)
print(fd, ctypes.get_errno())' 2>&1)
[ "$out" = "-1 97" ] && ok "guard: a raw socket(AF_VSOCK) system call under preload: EAFNOSUPPORT" ||
    fail "guard raw socket: $out"

for m in preload seccomp; do
    out=$(no_leak_report; "$bin/nsm-vsock" exec --cid 16 --dir "$net" --mode $m -- python3 -c '
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
print(libc.syscall(425, 8, params), ctypes.get_errno())' 2>&1)
    [ "$out" = "-1 38" ] && ok "$m: io_uring_setup refused (ENOSYS): IORING_OP_SOCKET would bypass the filter" ||
        fail "$m io_uring: $out"
done

# ---- the calls as a real vsock answers them -------------------------------------------------------
(run_as 16 preload "$tool" "$tool" semantics > "$work/sem.out" 2>&1)
[ $? -eq 0 ] && ok "preload: $(grep -c '^ok' "$work/sem.out") checks of the calls (errors, names, options)" ||
    fail "preload semantics: $(grep -v '^ok' "$work/sem.out")"
(run_as 16 seccomp "$static" "$static" semantics > "$work/sem.out" 2>&1)
[ $? -eq 0 ] && ok "seccomp (-static): $(grep -c '^ok' "$work/sem.out") checks of the calls" ||
    fail "seccomp semantics: $(grep -v '^ok' "$work/sem.out")"

# ---- socat, host to host ----------------------------------------------------------------------------
if ! command -v socat > /dev/null; then
    echo "SKIP: socat is not installed (make deps)"
else
    run_as 16 preload "$tool" socat VSOCK-LISTEN:5005,fork EXEC:cat 2> "$work/socat.err" &
    srv=$!; bg="$bg $srv"
    if wait_for "$net/16.5005"; then
        out=$(echo hello-socat | run_as 5 preload "$tool" socat -t 2 - VSOCK-CONNECT:16:5005 2>&1)
        [ "$out" = "hello-socat" ] && ok "socat CID 5 -> socat VSOCK-LISTEN on (16, 5005): echo" || fail "socat echo: $out"
        out=$(echo again | run_as 6 seccomp "$static" socat -t 2 - VSOCK-CONNECT:16:5005 2>&1)
        [ "$out" = "again" ] && ok "socat under the seccomp supervisor too" || fail "socat seccomp: $out"
        out=$(run_as 16 preload "$tool" "$tool" listen 5005 2>&1)
        [ "$out" = "listen: EADDRINUSE" ] && ok "a second listener on (16, 5005) while socat listens: EADDRINUSE" ||
            fail "EADDRINUSE: $out"
        (run_as 16 preload "$tool" socat VSOCK-LISTEN:5005 - < /dev/null > /dev/null 2> "$work/socat2.err")
        grep -q "Address already in use" "$work/socat2.err" && ok "socat VSOCK-LISTEN on a port in use: Address already in use" ||
            fail "socat EADDRINUSE: $(tail -n 1 "$work/socat2.err")"
    else
        fail "socat VSOCK-LISTEN never listened: $(cat "$work/socat.err")"
    fi
    stop "$srv"
    # socat ended by a signal leaves its name behind: the next listener takes it over
    out=$(printf 'stale' | run_as 16 preload "$tool" socat -t 1 VSOCK-LISTEN:5005 - 2>&1 &
          sleep 0.5; run_as 9 preload "$tool" socat -t 1 - VSOCK-CONNECT:16:5005 < /dev/null 2>&1)
    [ "$out" = "stale" ] && ok "a stale listener name (its socat killed) is taken over by the next listener" ||
        fail "stale name: $out"
fi

# ---- CID 2 and 3: the parent -----------------------------------------------------------------------
run_as 3 preload "$tool" "$tool" listen 7000 2 > "$work/parent.out" 2>&1 &
srv=$!; bg="$bg $srv"
wait_for "$net/3.7000" || fail "the parent's listener"
out=$(run_as 16 preload "$tool" "$tool" connect 2 7000 to-host)
echo "$out" | grep -q "^remote 2 7000$" && echo "$out" | grep -q "^echo to-host$" &&
    ok "CID 16 -> (2, 7000) reaches the program registered as CID 3; getpeername says (2, 7000)" || fail "CID 2: $out"
out=$(run_as 16 seccomp "$static" "$static" connect 3 7000 to-parent)
echo "$out" | grep -q "^echo to-parent$" && ok "CID 16 (-static) -> (3, 7000)" || fail "CID 3: $out"
wait "$srv"
grep -q "^peer 16 " "$work/parent.out" && ok "the parent sees CID 16 as the peer: $(head -n 1 "$work/parent.out")" ||
    fail "parent's peer: $(cat "$work/parent.out")"

# ---- refused connections ----------------------------------------------------------------------------
out=$(run_as 16 preload "$tool" "$tool" errno connect 3 7999)
[ "$out" = "ECONNREFUSED" ] && ok "a port nobody listens on: ECONNREFUSED" || fail "refused: $out"
out=$(run_as 16 seccomp "$static" "$static" errno connect 99 1)
[ "$out" = "ECONNREFUSED" ] && ok "a CID nobody has: ECONNREFUSED (-static)" || fail "refused CID: $out"

# ---- Python's socket.AF_VSOCK --------------------------------------------------------------------------
cat > "$work/server.py" << 'EOF'
import socket, sys
s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
s.bind((socket.VMADDR_CID_ANY, 5006))
s.listen()
c, peer = s.accept()
data = c.recv(64)
c.sendall(data.upper())
c.close()
print("python peer", peer[0], s.getsockname())
EOF
run_as 20 preload "$tool" python3 "$work/server.py" > "$work/py.out" 2>&1 &
srv=$!; bg="$bg $srv"
if wait_for "$net/20.5006"; then
    out=$(run_as 21 seccomp "$static" "$static" connect 20 5006 from-static)
    echo "$out" | grep -q "^echo FROM-STATIC$" && ok "a -static C program -> a Python AF_VSOCK server" || fail "static->python: $out"
    wait "$srv"
    grep -q "python peer 21 (4294967295, 5006)" "$work/py.out" && ok "Python's accept() and getsockname(): $(cat "$work/py.out")" ||
        fail "python server: $(cat "$work/py.out")"
else
    fail "the Python server never listened: $(cat "$work/py.out")"
fi
out=$(run_as 20 preload "$tool" python3 -c '
import socket
s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
try:
    s.connect((20, 5006)); print("connected")
except ConnectionRefusedError: print("refused")' 2>&1)
[ "$out" = "refused" ] && ok "Python: ConnectionRefusedError once the server is gone" || fail "python refused: $out"

# ---- a CGO_ENABLED=0 Go program ------------------------------------------------------------------------
gobin=""
if command -v go > /dev/null; then
    if (cd tests/go-vsock && GOCACHE="$work/gocache" GOPATH="$work/gopath" GOFLAGS=-mod=mod GOPROXY=off \
        CGO_ENABLED=0 go build -o "$work/govsock" .) > "$work/go.err" 2>&1; then gobin="$work/govsock"
    else fail "go build: $(tail -n 5 "$work/go.err")"; fi
else
    echo "SKIP: no Go toolchain (golang-go)"
fi
if [ -n "$gobin" ]; then
    # auto mode on the Go binary itself (it proves its CID before any socket: requireEmulation)
    out=$(VSOCK_TOOL_CID=8 timeout 60 "$bin/nsm-vsock" exec --cid 8 --dir "$net" -- "$gobin" selftest 2>&1)
    echo "$out" | grep -q "selftest echo go peer 8" && echo "$out" | grep -q "refused ECONNREFUSED" &&
        ok "Go (static, raw system calls): blocking accept in one thread while another connects; ECONNREFUSED" ||
        fail "go selftest: $out"
fi

# ---- the heartbeat --------------------------------------------------------------------------------------
"$bin/nsm-vsock" heartbeat --dir "$net" 2> "$work/hb.err" &
hb=$!; bg="$bg $hb"
if wait_for "$net/3.9000"; then
    if [ -n "$gobin" ]; then
        out=$(run_as 16 seccomp "$static" "$gobin" heartbeat 2>&1)
        [ "$out" = "heartbeat ok" ] && ok "heartbeat: a Go client's 0xB7 answered" || fail "go heartbeat: $out"
    fi
    out=$(run_as 16 preload "$tool" python3 -c '
import socket, threading
res = []
def beat():
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.connect((3, 9000)); s.sendall(b"\xb7"); res.append(s.recv(1)); s.close()
idle = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM); idle.connect((3, 9000))
ts = [threading.Thread(target=beat) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print(res.count(b"\xb7"))' 2>&1)
    [ "$out" = "8" ] && ok "heartbeat: 8 concurrent clients answered while another connection idles" || fail "heartbeat python: $out"
    out=$(printf 'x' | run_as 16 preload "$tool" socat -t 1 - VSOCK-CONNECT:3:9000 2>&1 | od -An -tx1 | tr -d ' ')
    [ -z "$out" ] && ok "heartbeat: a byte that is not 0xB7 gets no answer" || fail "heartbeat wrong byte: $out"
else
    fail "heartbeat never listened: $(cat "$work/hb.err")"
fi
stop "$hb"

# ---- the proxy and its allowlist ---------------------------------------------------------------------------
tcp_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
open(sys.argv[2], "w").close()
while True:
    c, _ = s.accept()
    d = c.recv(64); c.sendall(b"tcp:" + d); c.close()' "$tcp_port" "$work/tcp.ready" &
tcp=$!; bg="$bg $tcp"
wait_for "$work/tcp.ready" || fail "the TCP server never listened"
printf 'allowlist:\n- {address: localhost, port: %s}\n- {address: kms.example, port: 443}\n' "$tcp_port" > "$work/allow.yaml"
printf 'allowlist:\n- {address: 127.0.0.1, port: 1}\n' > "$work/deny.yaml"
printf 'allowlist: {address: 127.0.0.1}\n' > "$work/bad.yaml"
"$bin/nsm-vsock" proxy --dir "$net" --port 8000 --to "127.0.0.1:$tcp_port" --allow "$work/deny.yaml" 2> "$work/err"
[ $? -eq 1 ] && grep -q "5007 NOT_ALLOWED" "$work/err" && ok "proxy: a destination not in the allowlist: refuses to start (1)" ||
    fail "proxy deny: $(cat "$work/err")"
"$bin/nsm-vsock" proxy --dir "$net" --port 8000 --to "127.0.0.1:$tcp_port" --allow "$work/bad.yaml" 2> "$work/err"
[ $? -eq 2 ] && grep -q "5006 ALLOWLIST" "$work/err" && ok "proxy: a malformed allowlist: $(cat "$work/err")" ||
    fail "proxy bad allowlist: $(cat "$work/err")"
# 127.0.0.1 is allowed through the entry "localhost": nitro-cli's match by resolved address
"$bin/nsm-vsock" proxy --dir "$net" --port 8000 --to "127.0.0.1:$tcp_port" --allow "$work/allow.yaml" 2> "$work/proxy.err" &
px=$!; bg="$bg $px"
if wait_for "$net/3.8000"; then
    out=$(run_as 16 preload "$tool" "$tool" connect 3 8000 through)
    echo "$out" | grep -q "^echo tcp:through$" && ok "proxy: CID 16 -> (3, 8000) -> TCP 127.0.0.1:$tcp_port (allowed as localhost)" ||
        fail "proxy forward: $out"
    out=$(run_as 16 seccomp "$static" "$static" connect 2 8000 static)
    echo "$out" | grep -q "^echo tcp:static$" && ok "proxy: the same from a -static program via CID 2" || fail "proxy static: $out"
else
    fail "proxy never listened: $(cat "$work/proxy.err")"
fi
stop "$px"
stop "$tcp"

# ---- nsm-sim exec --vsock-cid: /dev/nsm and vsock in one command --------------------------------
if "$bin/nsm-ca" init "$work/ca" > /dev/null 2>&1; then
    out=$(no_leak_report; VSOCK_TOOL_CID=16 timeout 60 "$bin/nsm-sim" exec --ca "$work/ca" --vsock-cid 16 --vsock-dir "$net" -- \
        sh -c '"$0" cid 16 > /dev/null || exit 97; exec python3 -c "
import os, socket
os.close(os.open(\"/dev/nsm\", os.O_RDWR))
s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
try:
    s.connect((3, 7999))
except ConnectionRefusedError:
    print(\"nsm and vsock\")"' "$tool" 2>&1)
    [ "$out" = "nsm and vsock" ] && ok "nsm-sim exec --vsock-cid 16: /dev/nsm opens and AF_VSOCK is emulated" ||
        fail "nsm-sim exec --vsock-cid: $out"
else
    fail "nsm-ca init"
fi

echo "it_vsock: $failures failed"
[ "$failures" -eq 0 ]
