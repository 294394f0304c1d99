#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The simulated /dev/nsm end to end: the drop-in libnsm, the LD_PRELOAD shim (in-process
# and against `nsm-sim serve`), `nsm-sim exec`, the socket server under misbehaving and
# concurrent clients, and the one-line errors. Documents are checked with the openssl
# command line alone (tests/tools/openssl-verify.sh), and with nsm-verify.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
tests="$BUILD/tests"
shim="$(cd "$BUILD/lib" && pwd)/libnsm-sim-preload.so"
work=$(mktemp -d)
servers=""
cleanup() {
    for p in $servers; do kill "$p" 2> /dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# A sanitized shim needs the sanitizer runtime first in every process it is preloaded into.
preload="$shim"
old_preload="$BUILD/lib/libnsm.so" # any library that is harmless to preload
if [ -n "${SANITIZE:-}" ]; then
    # the runtime our instrumented programs were linked with
    asan_rt=$(ldd "$tests/devnsm_client" | awk '/libasan/ { print $3 }')
    if [ -n "$asan_rt" ]; then
        old_preload="$asan_rt"
        preload="$asan_rt:$shim"
    fi
    sanflags="-fsanitize=$SANITIZE"
else
    sanflags=""
fi
with_shim() { LD_PRELOAD="$preload" "$@"; }

"$bin/nsm-ca" init "$work/ca" > /dev/null
root="$work/ca/root.pem"
pcr0=$(printf 'ab%.0s' $(seq 48))
export NSM_SIM_CA="$work/ca"
[ -e /dev/nsm ] && echo "note: this machine has a /dev/nsm; the shim hides it from the programs it runs"

# verify DOC NAME [FIELD=VALUE...]: openssl chain + signature, the fields, and nsm-verify
verify() {
    doc=$1; name=$2; shift 2
    rm -rf "$work/split"
    if ! sh tests/tools/cose-split.sh "$doc" "$work/split" > "$work/split.out" 2>&1 ||
        ! sh tests/tools/openssl-verify.sh "$doc" "$root" > "$work/verify.out" 2>&1; then
        fail "$name: does not verify with openssl: $(cat "$work/split.out" "$work/verify.out" | tail -n 2)"
        return
    fi
    for f in "$@"; do
        grep -qx "$f" "$work/split/fields.txt" || fail "$name: $f not in $(tr '\n' ' ' < "$work/split/fields.txt" | cut -c1-300)"
    done
    "$bin/nsm-verify" --root "$root" "$doc" > "$work/nv.out" 2>&1 &&
        ok "$name verifies with nsm-verify" || fail "$name: nsm-verify: $(tail -n 2 "$work/nv.out")"
    ok "$name verifies with openssl (chain and ES384 signature)"
}

hexdoc() { tr -d '\r\n' < "$1" | xxd -r -p > "$2"; }

# ---- 1. the blog client linked against the drop-in libnsm (in-process NSM) -----------------
if "$tests/blog_client" > "$work/blog1.hex" 2> "$work/blog1.err"; then
    hexdoc "$work/blog1.hex" "$work/blog1.bin"
    verify "$work/blog1.bin" "blog client on the drop-in libnsm" user_data=null nonce=null \
        public_key=null pcr_count=16
else fail "blog client on the drop-in libnsm: $(cat "$work/blog1.err")"; fi

# The switch that forbids the in-process fallback works: without a device the client fails.
if NSM_SIM_REQUIRE_DEVICE=1 "$tests/blog_client" > /dev/null 2> "$work/nodev.err"; then
    fail "NSM_SIM_REQUIRE_DEVICE=1 without a device still produced a document"
elif grep -q 'libnsm: cannot open /dev/nsm' "$work/nodev.err"; then
    ok "NSM_SIM_REQUIRE_DEVICE=1 refuses the in-process fallback"
else fail "no clear line without a device: $(cat "$work/nodev.err")"; fi

# ---- 2. the same binary under nsm-sim exec: through the shim's ioctl and the server --------
mkdir -p "$work/tmp"
if TMPDIR="$work/tmp" NSM_SIM_REQUIRE_DEVICE=1 NSM_SIM_TRACE=1 \
    "$bin/nsm-sim" exec --ca "$work/ca" --pcr "0=$pcr0" -- "$tests/blog_client" \
    > "$work/blog2.hex" 2> "$work/blog2.err"; then
    hexdoc "$work/blog2.hex" "$work/blog2.bin"
    verify "$work/blog2.bin" "blog client under nsm-sim exec" user_data=null nonce=null
    # proof of the path: exactly one request went through the shim's ioctl to exec's server
    n=$(grep -c 'nsm-sim-preload: NSM_IOCTL_RAW on fd [0-9]*: 44-byte request, [0-9]*-byte response (.*nsm-sim-exec\.[^/]*/nsm.sock)' "$work/blog2.err")
    [ "$n" = 1 ] && ok "the document came through the shim's NSM_IOCTL_RAW and exec's server" ||
        fail "expected one traced shim ioctl, stderr: $(cat "$work/blog2.err")"
    pcr0_doc=$(sed -n 's/^pcr0=//p' "$work/split/fields.txt")
    [ "$pcr0_doc" = "$pcr0" ] && ok "exec's --pcr reached the document" || fail "PCR0 is $pcr0_doc"
else fail "blog client under nsm-sim exec: $(cat "$work/blog2.err")"; fi
[ -z "$(ls "$work/tmp")" ] && ok "exec removed its private directory" || fail "exec left $(ls "$work/tmp")"

# ---- 3. what a user types: cc app.c -Ibuild/include -Lbuild/lib -lnsm (and the static one) -
if ${CC:-cc} $sanflags tests/blog_client.c -I"$BUILD/include" -L"$BUILD/lib" -lnsm -o "$work/bc_shared" 2> "$work/cc.err" &&
    LD_LIBRARY_PATH="$BUILD/lib" "$work/bc_shared" > "$work/bc_shared.hex" 2>&1; then
    hexdoc "$work/bc_shared.hex" "$work/bc_shared.bin"
    verify "$work/bc_shared.bin" "blog client built with -lnsm (shared, LD_LIBRARY_PATH)"
else fail "cc ... -lnsm: $(cat "$work/cc.err" "$work/bc_shared.hex" 2> /dev/null | tail -n 3)"; fi
if ${CC:-cc} $sanflags tests/blog_client.c -I"$BUILD/include" "$BUILD/lib/libnsm.a" -lcbor -lcrypto -lhogweed -lgmp -ljansson -lz -pthread \
    -o "$work/bc_static" 2> "$work/cc.err" && "$work/bc_static" > "$work/bc_static.hex" 2>&1; then
    hexdoc "$work/bc_static.hex" "$work/bc_static.bin"
    verify "$work/bc_static.bin" "blog client linked with libnsm.a"
    nm --extern-only "$work/bc_static" | grep -q ' nsmsim_handle$' &&
        fail "libnsm.a leaks internal symbols" || ok "libnsm.a exports only nsm_*"
else fail "static link: $(cat "$work/cc.err" "$work/bc_static.hex" 2> /dev/null | tail -n 3)"; fi

# ---- 4. the official library's conformance expectations through the C API ------------------
"$tests/nsm_conformance" > "$work/conf1.out" 2>&1 && ok "nsm_conformance on the in-process libnsm" ||
    fail "nsm_conformance in-process: $(grep FAIL "$work/conf1.out" | head -n 5)"
NSM_SIM_REQUIRE_DEVICE=1 "$bin/nsm-sim" exec --ca "$work/ca" -- "$tests/nsm_conformance" \
    > "$work/conf2.out" 2>&1 && ok "nsm_conformance through the shim under nsm-sim exec" ||
    fail "nsm_conformance under exec: $(grep FAIL "$work/conf2.out" | head -n 5)"

# ---- 5. raw ioctls through the shim, in-process: bytes, errnos, descriptors ----------------
mkdir -p "$work/docs"
if NSM_SIM_PCR="0=$pcr0" with_shim "$tests/devnsm_client" conformance --pcr0 "$pcr0" \
    --save "$work/docs" > "$work/raw1.out" 2>&1; then
    ok "raw-ioctl conformance, in-process shim ($(tail -n 1 "$work/raw1.out"))"
    verify "$work/docs/plain.bin" "raw plain document" pcr_count=16 user_data=null "pcr0=$pcr0"
    verify "$work/docs/full.bin" "raw document with 1024-byte fields" user_data=bytes:1024 \
        nonce=bytes:1024 public_key=bytes:1024
    verify "$work/docs/locked.bin" "raw document after locking every PCR" pcr_count=32
else fail "raw conformance in-process: $(grep FAIL "$work/raw1.out" | head -n 10)"; fi
with_shim "$tests/devnsm_client" descriptors > "$work/desc1.out" 2>&1 &&
    ok "descriptors (open family, dup, fork, exec, close_range), in-process" ||
    fail "descriptors in-process: $(grep FAIL "$work/desc1.out" | head -n 10)"

# ---- 6. nsm-sim serve: the same through the server, then misbehaving and many clients ------
start_server() { # start_server SOCKET LOG [state options]
    sock=$1; log=$2; shift 2
    "$bin/nsm-sim" serve --socket "$sock" "$@" 2> "$log" &
    server_pid=$!
    servers="$servers $server_pid"
    "$tests/devnsm_client" wait "$sock" > /dev/null || fail "server on $sock did not start: $(cat "$log")"
}
sock="$work/nsm.sock"
start_server "$sock" "$work/serve1.log" --ca "$work/ca" --pcr "0=$pcr0"
NSM_SIM_SOCKET="$sock" with_shim "$tests/devnsm_client" conformance --pcr0 "$pcr0" \
    > "$work/raw2.out" 2>&1 && ok "raw-ioctl conformance through the server" ||
    fail "raw conformance via server: $(grep FAIL "$work/raw2.out" | head -n 10)"
kill -TERM "$server_pid"; wait "$server_pid"; rc=$?
[ $rc -eq 0 ] && [ ! -e "$sock" ] && ok "SIGTERM stops the server cleanly and removes its socket" ||
    fail "server stop: exit $rc, socket $(ls "$sock" 2>&1)"

start_server "$sock" "$work/serve2.log" --ca "$work/ca"
NSM_SIM_SOCKET="$sock" with_shim "$tests/devnsm_client" descriptors --server \
    > "$work/desc2.out" 2>&1 && ok "descriptors through the server (fork, clobbered connection)" ||
    fail "descriptors via server: $(grep FAIL "$work/desc2.out" | head -n 10)"
"$tests/devnsm_client" frames "$sock" > "$work/frames.out" 2>&1 &&
    ok "misbehaving socket clients: $(tail -n 1 "$work/frames.out")" ||
    fail "frames: $(grep FAIL "$work/frames.out" | head -n 10)"
for pattern in 'short frame: closed after 2 of 4 header bytes' \
    'frame of 4294967295 bytes is over the 4096-byte request limit' \
    'short frame: closed after 26 of 27 bytes'; do
    grep -q "client [0-9]*: $pattern; closing it" "$work/serve2.log" &&
        ok "server logged: $pattern" || fail "server log lacks '$pattern': $(cat "$work/serve2.log")"
done
bad_lines=$(grep -c 'closing it' "$work/serve2.log")
[ "$bad_lines" -ge 8 ] && ok "one log line per misbehaving client ($bad_lines)" || fail "$bad_lines log lines"

# 8 processes x 200 requests at once; every extend lands exactly once
pids=""
for i in 0 1 2 3 4 5 6 7; do
    NSM_SIM_SOCKET="$sock" with_shim "$tests/devnsm_client" worker $i 200 "$work/w$i.rec" \
        > "$work/w$i.out" 2>&1 &
    pids="$pids $!"
done
wfail=0
for p in $pids; do wait "$p" || wfail=$((wfail + 1)); done
[ $wfail -eq 0 ] && ok "8 processes x 200 requests against one server, all answered correctly" ||
    fail "$wfail workers failed: $(grep -h FAIL "$work"/w*.out | head -n 5)"
NSM_SIM_SOCKET="$sock" with_shim "$tests/devnsm_client" chain 8 200 "$work"/w*.rec > "$work/chain.out" 2>&1 &&
    ok "$(head -n 1 "$work/chain.out")" || fail "chain: $(grep FAIL "$work/chain.out" | head -n 5)"
kill -0 "$server_pid" 2> /dev/null && ok "the server survived everything" || fail "the server died"
kill -INT "$server_pid"; wait "$server_pid" || fail "SIGINT: server exit $?"

# ---- 7. one clear line when something cannot work ---------------------------------------------
if "$bin/nsm-sim" serve --socket "$work/missing/dir/s" --ca "$work/ca" 2> "$work/e1" ; then
    fail "bind into a missing directory succeeded"
else
    [ "$(wc -l < "$work/e1")" -eq 1 ] && grep -q "cannot bind $work/missing/dir/s: No such file" "$work/e1" &&
        ok "unbindable socket: $(cat "$work/e1")" || fail "bind error: $(cat "$work/e1")"
fi
start_server "$sock" "$work/serve3.log" --ca "$work/ca"
"$bin/nsm-sim" serve --socket "$sock" --ca "$work/ca" 2> "$work/e2" && fail "second server bound" ||
    { grep -q 'another server is listening there' "$work/e2" && ok "live socket: $(cat "$work/e2")" ||
        fail "second server: $(cat "$work/e2")"; }
kill -KILL "$server_pid"; wait "$server_pid" 2> /dev/null
start_server "$sock" "$work/serve4.log" --ca "$work/ca"
ok "a stale socket left by a killed server is replaced"
kill "$server_pid"; wait "$server_pid"
: > "$work/plainfile"
"$bin/nsm-sim" serve --socket "$work/plainfile" --ca "$work/ca" 2> "$work/e3" && fail "bound over a file" ||
    { grep -q 'exists and is not a socket' "$work/e3" && ok "not a socket: refused" || fail "$(cat "$work/e3")"; }
"$bin/nsm-sim" serve --ca "$work/ca" > /dev/null 2>&1; [ $? -eq 2 ] && ok "serve without --socket: usage error" ||
    fail "serve without --socket"

NSM_SIM_SOCKET="$work/nobody.sock" with_shim "$tests/devnsm_client" unreachable > "$work/u.out" 2> "$work/u.err" &&
    ok "unreachable server: EIO" || fail "unreachable: $(cat "$work/u.out")"
[ "$(grep -c 'nsm-sim-preload: cannot reach the NSM simulator at' "$work/u.err")" = 1 ] &&
    ok "one line for three failed requests: $(cat "$work/u.err")" || fail "stderr: $(cat "$work/u.err")"
NSM_SIM_SOCKET="$work/nobody.sock" with_shim "$tests/blog_client" > "$work/u2.out" 2> "$work/u2.err"
grep -q 'error code 8$' "$work/u2.err" && ok "the C API reports an unreachable server as InternalError" ||
    fail "blog client with no server: $(cat "$work/u2.err")"
with_shim "$tests/devnsm_client" timeout > "$work/t.out" 2> "$work/t.err" &&
    ok "a server that never answers: ETIMEDOUT ($(cat "$work/t.err"))" || fail "timeout: $(cat "$work/t.out")"
NSM_SIM_CA="$work/no-such-ca" with_shim "$tests/devnsm_client" conformance > "$work/nc.out" 2> "$work/nc.err"
NSM_SIM_CA="$work/no-such-ca" with_shim "$tests/blog_client" > /dev/null 2> "$work/nc2.err" &&
    fail "blog client ran without a working device"
[ "$(grep -c . "$work/nc2.err")" -eq 2 ] && grep -q '^nsm-sim-preload: cannot start' "$work/nc2.err" &&
    grep -q '^blog_client: nsm_lib_init failed' "$work/nc2.err" &&
    ok "a failed shim is not replaced by libnsm's own NSM" || fail "failed shim + libnsm: $(cat "$work/nc2.err")"
[ "$(grep -c . "$work/nc.err")" -eq 1 ] && grep -q 'nsm-sim-preload: cannot start the simulated NSM: .*no-such-ca' "$work/nc.err" &&
    grep -q 'open /dev/nsm: No such device' "$work/nc.out" &&
    ok "bad embedded state options: $(cat "$work/nc.err"), open fails with ENODEV" ||
    fail "bad NSM_SIM_CA: $(cat "$work/nc.err" "$work/nc.out")"
"$bin/nsm-sim" exec --ca "$work/no-such-ca" -- true 2> "$work/ne.err"; rc=$?
[ $rc -eq 125 ] && [ "$(grep -c . "$work/ne.err")" -eq 1 ] && ok "exec with a bad --ca: 125, $(cat "$work/ne.err")" ||
    fail "exec with a bad --ca: $rc $(cat "$work/ne.err")"

# ---- 8. nsm-sim exec: status, signals, shared state, LD_PRELOAD, errors ----------------------
"$bin/nsm-sim" exec --ca "$work/ca" -- sh -c 'exit 7'; [ $? -eq 7 ] && ok "exec passes the exit status" || fail "exit status"
"$bin/nsm-sim" exec --ca "$work/ca" -- sh -c 'kill -TERM $$'; [ $? -eq 143 ] && ok "exec reports death by SIGTERM as 143" || fail "signal status"
"$bin/nsm-sim" exec --ca "$work/ca" -- "$work/no-such-program" 2> "$work/x.err"; rc=$?
[ $rc -eq 127 ] && grep -q 'cannot run' "$work/x.err" && ok "missing command: 127, $(cat "$work/x.err")" || fail "missing command: $rc"
"$bin/nsm-sim" exec --bogus -- true 2> /dev/null; [ $? -eq 125 ] && ok "exec's own errors: 125" || fail "bad option"
LD_PRELOAD="$old_preload" "$bin/nsm-sim" exec --ca "$work/ca" -- sh -c 'echo "$LD_PRELOAD"' > "$work/ld.out" 2>&1
case "$(cat "$work/ld.out")" in
    *"$shim:$old_preload") ok "exec puts the shim in front of an existing LD_PRELOAD" ;;
    *) fail "LD_PRELOAD under exec: $(cat "$work/ld.out")" ;;
esac
# one NSM for every process under one exec: the chain of three processes' extends
"$bin/nsm-sim" exec --ca "$work/ca" -- sh -c "
    $tests/devnsm_client worker 0 16 $work/e0.rec && $tests/devnsm_client worker 1 16 $work/e1.rec &&
    $tests/devnsm_client chain 2 16 $work/e0.rec $work/e1.rec" > "$work/shared.out" 2>&1 &&
    ok "processes under one exec share one NSM" || fail "shared state: $(grep FAIL "$work/shared.out" | head -n 3)"
TMPDIR="$work/tmp" "$bin/nsm-sim" exec --ca "$work/ca" -- sleep 30 &
exec_pid=$!
i=0 # the server listens before the command starts: wait for it, then a little more
while [ $i -lt 200 ] && ! ls "$work"/tmp/nsm-sim-exec.*/nsm.sock > /dev/null 2>&1; do
    sleep 0.05; i=$((i + 1))
done
sleep 0.3
kill -TERM "$exec_pid"; wait "$exec_pid"; rc=$?
[ $rc -eq 143 ] && [ -z "$(ls "$work/tmp")" ] && ok "SIGTERM to exec reaches the command; exec cleans up" ||
    fail "SIGTERM to exec: status $rc, left $(ls "$work/tmp")"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all /dev/nsm checks passed"
