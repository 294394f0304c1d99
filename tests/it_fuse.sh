#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The FUSE /dev/nsm end to end: `nsm-sim exec --device fuse|auto` and `nsm-sim fuse --mount`,
# with programs the LD_PRELOAD shim cannot reach (a -static raw-ioctl client, a static Go
# program) and the dynamic C API clients; the driver's answers to bad input; concurrency,
# fork and exec; a killed client and a killed server; the one-line errors and the fallback;
# and, after every step, a host left as it was (no /dev/nsm, no mount, no process).
set -u
BUILD=${BUILD:-build}
bin="$(cd "$BUILD/bin" && pwd)"
tests="$(cd "$BUILD/tests" && pwd)"
static="$tests/devnsm_client_static"
work=$(mktemp -d)
bg=""
cleanup() {
    for p in $bg; do kill -KILL "$p" 2> /dev/null; done
    grep -F " $work/" /proc/mounts | while read -r _ mnt _; do umount -l "$mnt" 2> /dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

"$bin/nsm-ca" init "$work/ca" > /dev/null
root="$work/ca/root.pem"
pcr0=$(printf 'cd%.0s' $(seq 48))

# ---- the host, before anything ------------------------------------------------------------
if [ -e /dev/nsm ]; then had_nsm=yes; else had_nsm=no; fi
our_mounts() { grep -E 'fuse\.nsm-sim|nsm-sim' /proc/self/mountinfo | grep -F -e "$work" -e ' /dev/nsm ' ; }
mounts_before=$(our_mounts | wc -l)
# Processes whose command line names $work: every nsm-sim and client started here does.
# (/proc directly: procps is not on every machine.)
our_processes() {
    for d in /proc/[0-9]*; do
        [ "${d#/proc/}" = "$$" ] && continue
        args=$(tr '\0' ' ' 2> /dev/null < "$d/cmdline") || continue
        case "$args" in *"$work"*) echo "${d#/proc/} $args" ;; esac
    done
}
# host_unchanged STEP: no /dev/nsm appeared, no mount of ours is left, no process of ours left.
host_unchanged() {
    sleep 0.1
    now_nsm=no; [ -e /dev/nsm ] && now_nsm=yes
    left=$(our_processes)
    if [ "$now_nsm" != "$had_nsm" ]; then fail "$1: /dev/nsm on the host changed ($had_nsm -> $now_nsm)"
    elif [ "$(our_mounts | wc -l)" != "$mounts_before" ]; then fail "$1: a mount is left: $(our_mounts)"
    elif [ -n "$left" ]; then fail "$1: processes left: $left"
    else ok "$1: host unchanged (no /dev/nsm, no mount, no process left)"; fi
}

# Can FUSE work here at all? One line saying why not, then a visible skip.
if ! "$bin/nsm-sim" exec --device fuse --ca "$work/ca" -- true 2> "$work/probe.err"; then
    [ "$(grep -c . "$work/probe.err")" -eq 1 ] && ok "one line when FUSE cannot work: $(cat "$work/probe.err")" ||
        fail "FUSE probe said: $(cat "$work/probe.err")"
    echo "SKIP: the FUSE device cannot work on this machine: $(cat "$work/probe.err")"
    [ "$failures" -eq 0 ] || exit 1
    exit 0
fi
host_unchanged "probe"
fuse_exec() { "$bin/nsm-sim" exec --device fuse --ca "$work/ca" "$@"; }

# ---- 1. a -static raw-ioctl client: conformance, device semantics, documents ---------------
file "$static" 2> /dev/null | grep -q 'statically linked' && ok "devnsm_client_static is statically linked" ||
    { ldd "$static" 2>&1 | grep -q 'not a dynamic' && ok "devnsm_client_static is static" || fail "devnsm_client_static is dynamic"; }
mkdir -p "$work/docs"
fuse_exec --pcr "0=$pcr0" -- sh -c "stat -c '%F %a' /dev/nsm; exec $static conformance --pcr0 $pcr0 --save $work/docs" \
    > "$work/conf.out" 2>&1
if grep -q '^conformance: [0-9]* checks, 0 failed' "$work/conf.out"; then
    ok "static client, NSM-FACTS conformance and the driver's answers: $(tail -n 1 "$work/conf.out")"
else fail "static conformance: $(grep FAIL "$work/conf.out" | head -n 10)"; fi
grep -q '^regular empty file 666$' "$work/conf.out" && ok "the device is a regular file (S_ISREG), as documented" ||
    fail "stat of /dev/nsm: $(head -n 1 "$work/conf.out")"
for d in plain full user_data locked; do
    "$bin/nsm-verify" --root "$root" --expect-pcr "0=$pcr0" "$work/docs/$d.bin" > "$work/nv.out" 2>&1 &&
        ok "static client's $d.bin verifies with nsm-verify (PCR0 from --pcr)" ||
        fail "$d.bin: $(tail -n 3 "$work/nv.out")"
done
host_unchanged "static conformance"

fuse_exec -- "$static" descriptors > "$work/desc.out" 2>&1 &&
    ok "static client: open flags, dup family, fork, exec with the descriptor inherited, close_range, poll" ||
    fail "descriptors: $(grep FAIL "$work/desc.out" | head -n 5)"

# many processes and many threads on one NSM
fuse_exec -- sh -c "
    for i in 0 1 2 3 4 5 6 7; do $static worker \$i 100 $work/w\$i.rec > $work/w\$i.out 2>&1 & done; wait
    $static chain 8 100 $work/w0.rec $work/w1.rec $work/w2.rec $work/w3.rec $work/w4.rec $work/w5.rec $work/w6.rec $work/w7.rec" \
    > "$work/chain.out" 2>&1 &&
    ok "8 static processes x 100 mixed requests at once: $(head -n 1 "$work/chain.out")" ||
    fail "workers: $(grep -h FAIL "$work"/w*.out "$work/chain.out" | head -n 5)"
fuse_exec -- "$static" threads 8 100 > "$work/threads.out" 2>&1 &&
    ok "$(head -n 1 "$work/threads.out")" || fail "threads: $(grep FAIL "$work/threads.out" | head -n 5)"
host_unchanged "concurrency"

# ---- 2. the dynamic C API clients (drop-in libnsm opening the real file) --------------------
if NSM_SIM_REQUIRE_DEVICE=1 fuse_exec -- "$tests/blog_client" > "$work/blog.hex" 2> "$work/blog.err"; then
    tr -d '\r\n' < "$work/blog.hex" | xxd -r -p > "$work/blog.bin"
    "$bin/nsm-verify" --root "$root" "$work/blog.bin" > "$work/nv.out" 2>&1 &&
        ok "blog client through the FUSE device: its document verifies with nsm-verify" ||
        fail "blog document: $(tail -n 3 "$work/nv.out")"
else fail "blog client under --device fuse: $(cat "$work/blog.err")"; fi
NSM_SIM_REQUIRE_DEVICE=1 fuse_exec -- "$tests/nsm_conformance" > "$work/nc.out" 2>&1 &&
    ok "the official library's conformance expectations through the FUSE device" ||
    fail "nsm_conformance: $(grep FAIL "$work/nc.out" | head -n 5)"
# the faulty-document modes are state options like the others: through the FUSE device too
if NSM_SIM_REQUIRE_DEVICE=1 fuse_exec --fault env_trailing_byte -- "$tests/blog_client" > "$work/fault.hex" 2> "$work/fault.err"; then
    tr -d '\r\n' < "$work/fault.hex" | xxd -r -p > "$work/fault.bin"
    "$bin/nsm-verify" --root "$root" "$work/fault.bin" > "$work/nv.out" 2>&1
    [ $? -eq 1 ] && grep -q 'ENV_TRAILING_BYTES' "$work/nv.out" &&
        ok "exec --device fuse --fault env_trailing_byte: the document is refused with ENV_TRAILING_BYTES" ||
        fail "faulty document through FUSE: $(head -n 4 "$work/nv.out")"
else fail "blog client with --fault under --device fuse: $(cat "$work/fault.err")"; fi
host_unchanged "C API clients"

# ---- 3. a static Go program using syscall.Syscall(SYS_IOCTL) --------------------------------
if command -v go > /dev/null 2>&1; then
    mkdir -p "$BUILD/go-cache"
    gocache=$(cd "$BUILD/go-cache" && pwd)
    # offline and standard library only: no proxy, no module cache outside this test
    if (cd tests/go && GOCACHE="$gocache" GOPATH="$work/gopath" GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=0 \
        go build -o "$work/devnsmgo" .) > "$work/go.err" 2>&1; then
        nonce=0badc0ffee0ddf00d
        fuse_exec -- "$work/devnsmgo" "${nonce}0" "$work/go.doc" > "$work/go.out" 2>&1 &&
            ok "static Go program (CGO_ENABLED=0, raw ioctl): $(tail -n 1 "$work/go.out")" ||
            fail "Go program: $(cat "$work/go.out")"
        "$bin/nsm-verify" --root "$root" --nonce "${nonce}0" "$work/go.doc" > "$work/nv.out" 2>&1 &&
            ok "the Go program's document verifies with nsm-verify, nonce included" ||
            fail "Go document: $(tail -n 3 "$work/nv.out")"
    else fail "go build: $(tail -n 5 "$work/go.err")"; fi
else
    echo "SKIP: go is not installed (make deps installs golang-go): no Go client test"
fi
host_unchanged "Go client"

# ---- 4. a client killed mid-request, then a server that dies ---------------------------------
fuse_exec -- sh -c "
    $static worker 0 100000 $work/k.rec > /dev/null 2>&1 & p=\$!
    sleep 0.5; kill -KILL \$p; wait \$p
    $static worker 1 40 $work/k1.rec" > "$work/kill.out" 2>&1 &&
    ok "a client killed mid-run disturbs nothing: the next one is served" ||
    fail "after a killed client: $(grep FAIL "$work/kill.out" | head -n 3)"
# the launcher (the command's parent) dies: the command sees ENOTCONN at once, never a hang
"$bin/nsm-sim" exec --device fuse --ca "$work/ca" -- sh -c "
    kill -KILL \$PPID; sleep 0.3; $static worker 0 1 $work/d.rec > $work/dead.out 2>&1
    echo \$? > $work/dead.done" 2> /dev/null
rc=$?
i=0; while [ $i -lt 400 ] && [ ! -s "$work/dead.done" ]; do sleep 0.05; i=$((i + 1)); done
[ $rc -eq 137 ] && [ -s "$work/dead.done" ] && grep -q 'Transport endpoint is not connected' "$work/dead.out" &&
    ok "a dead server: the program's open fails at once ($(grep -o 'open /dev/nsm: [^(]*' "$work/dead.out"))" ||
    fail "dead server: status $rc, $(cat "$work/dead.out" "$work/dead.done" 2>&1)"
host_unchanged "killed client and server"

# ---- 5. --device auto, and the one line when FUSE cannot work ------------------------------
fuse_auto() { "$bin/nsm-sim" exec --device auto --ca "$work/ca" "$@"; }
fuse_auto -- sh -c 'stat -c %F /dev/nsm' > "$work/auto.out" 2> "$work/auto.err"
[ "$(cat "$work/auto.out")" = "regular empty file" ] && [ ! -s "$work/auto.err" ] &&
    ok "--device auto picks FUSE silently where it works" || fail "auto: $(cat "$work/auto.out" "$work/auto.err")"
if [ "$(id -u)" = 0 ] && command -v unshare > /dev/null; then
    # a /dev without fuse, in a mount namespace of this test only
    unshare -m sh -c "mount --make-rprivate / && mount -t tmpfs tmpfs /dev &&
        NSM_SIM_REQUIRE_DEVICE=1 $bin/nsm-sim exec --device auto --ca $work/ca -- $tests/blog_client" \
        > "$work/fb.hex" 2> "$work/fb.err"
    rc=$?
    [ $rc -eq 0 ] && [ "$(grep -c . "$work/fb.err")" -eq 1 ] &&
        grep -q '^nsm-sim exec: --device auto: cannot open /dev/fuse: No such file or directory .*; using the LD_PRELOAD shim$' "$work/fb.err" &&
        ok "no /dev/fuse: auto falls back to the shim with one line: $(cat "$work/fb.err")" ||
        fail "fallback: status $rc, $(cat "$work/fb.err")"
    unshare -m sh -c "mount --make-rprivate / && mount -t tmpfs tmpfs /dev &&
        $bin/nsm-sim exec --device fuse --ca $work/ca -- true" 2> "$work/nf.err"
    rc=$?
    [ $rc -eq 125 ] && [ "$(grep -c . "$work/nf.err")" -eq 1 ] && grep -q 'cannot open /dev/fuse' "$work/nf.err" &&
        ok "no /dev/fuse with --device fuse: 125 and $(cat "$work/nf.err")" || fail "no fuse: $rc $(cat "$work/nf.err")"
else
    echo "SKIP: not root: the missing-/dev/fuse fallback needs a private mount namespace"
fi
# SIGTERM to exec reaches the command, which is in the namespaces; exec cleans up
"$bin/nsm-sim" exec --device fuse --ca "$work/ca" -- sh -c "echo up > $work/up; exec sleep 30" &
epid=$!
i=0; while [ $i -lt 200 ] && [ ! -s "$work/up" ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM "$epid"; wait "$epid"; rc=$?
[ $rc -eq 143 ] && ok "SIGTERM to exec --device fuse reaches the command (status 143)" || fail "SIGTERM: status $rc"
if [ "$(id -u)" = 0 ] && command -v unshare > /dev/null; then
    # a /dev/nsm that exists already (a real device, a file): mounted over in the private
    # namespace, found as it was afterwards - here in a /dev of this test's own
    mkdir -p "$work/devtree"
    unshare -m sh -c "mount --make-rprivate / && mount -t tmpfs tmpfs $work/devtree &&
        mknod -m 600 $work/devtree/fuse c 10 229 && mknod -m 666 $work/devtree/null c 1 3 &&
        echo original > $work/devtree/nsm && mount --bind $work/devtree /dev &&
        $bin/nsm-sim exec --device fuse --ca $work/ca -- sh -c 'stat -c %F /dev/nsm; $static worker 2 16 $work/ex.rec' &&
        cat /dev/nsm" > "$work/exist.out" 2>&1
    [ "$(sed -n 1p "$work/exist.out")" = "regular empty file" ] && grep -q '^original$' "$work/exist.out" &&
        ! grep -q FAIL "$work/exist.out" &&
        ok "an existing /dev/nsm is covered for the command only, and untouched afterwards" ||
        fail "existing /dev/nsm: $(cat "$work/exist.out")"
fi
"$bin/nsm-sim" exec --device bogus -- true 2> /dev/null; [ $? -eq 125 ] && ok "--device bogus: 125" || fail "--device bogus"
host_unchanged "auto and fallback"

# ---- 6. an ordinary user: a user namespace of its own ----------------------------------------
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && command -v unshare > /dev/null; then
    # The user needs a /dev/fuse it may open (Debian's is 0666; some machines make it 0600):
    # a node of its own, bound over /dev/fuse in this test's mount namespace only.
    # The checkout may sit where the user cannot enter (a 0700 home, issue 23): the user runs
    # copies of nsm-sim and the client from this test's own directory instead.
    mkdir -p "$work/user" "$work/userdev"
    cp -a "$work/ca" "$work/user/ca" && cp "$static" "$work/user/client" &&
        cp "$bin/nsm-sim" "$work/user/nsm-sim"
    chown -R 65534:65534 "$work/user"
    chmod 711 "$work"
    if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$work/user/nsm-sim"; then
        echo "SKIP: uid 65534 cannot reach $work (TMPDIR under a private directory?): the unprivileged run not checked"
    else
    unshare -m sh -c "mount --make-rprivate / && mount -t tmpfs tmpfs $work/userdev &&
        mknod -m 666 $work/userdev/fuse c 10 229 && mount --bind $work/userdev/fuse /dev/fuse &&
        cd / && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=$work/user \
        $work/user/nsm-sim exec --device fuse --ca $work/user/ca -- sh -c 'id -u; stat -c %u /dev/nsm; $work/user/client conformance --save $work/user'" \
        > "$work/user.out" 2>&1
    if grep -q '^conformance: [0-9]* checks, 0 failed' "$work/user.out" && [ "$(head -n 2 "$work/user.out" | tr '\n' ' ')" = "65534 65534 " ]; then
        ok "as uid 65534 (user and mount namespaces): conformance passes, the file is the user's own"
    else fail "unprivileged: $(head -n 12 "$work/user.out")"; fi
    "$bin/nsm-verify" --root "$work/user/ca/root.pem" "$work/user/plain.bin" > "$work/nv.out" 2>&1 &&
        ok "the unprivileged run's document verifies" || fail "unprivileged document: $(tail -n 2 "$work/nv.out")"
    host_unchanged "unprivileged"
    fi
else
    echo "SKIP: not root (or no setpriv/unshare): the unprivileged run needs a user to switch to"
fi

# ---- 7. nsm-sim fuse --mount PATH: a long-running device on a file --------------------------
wait_mount() { # wait_mount PATH: until PATH is a FUSE mount (10 s at most)
    i=0
    while [ $i -lt 200 ]; do
        grep -q " $1 fuse.nsm-sim " /proc/mounts && return 0
        sleep 0.05; i=$((i + 1))
    done
    return 1
}
dev="$work/nsm"
"$bin/nsm-sim" fuse --mount "$dev" --ca "$work/ca" 2> "$work/fm.log" &
fpid=$!; bg="$bg $fpid"
if wait_mount "$dev"; then
    [ "$(stat -c '%a %u' "$dev")" = "600 $(id -u)" ] && ok "fuse --mount: the file is 0600 and the server's user's" ||
        fail "mode/owner: $(stat -c '%a %u' "$dev")"
    NSM_DEVICE="$dev" "$static" conformance > "$work/fm.out" 2>&1 &&
        ok "fuse --mount: static conformance on $dev" || fail "fuse --mount: $(grep FAIL "$work/fm.out" | head -n 5)"
    kill -TERM "$fpid"; wait "$fpid"; rc=$?
    [ $rc -eq 0 ] && [ ! -e "$dev" ] && ! grep -q " $dev " /proc/mounts &&
        ok "SIGTERM: unmounted, the file it created removed ($(tail -n 1 "$work/fm.log"))" ||
        fail "SIGTERM: status $rc, $(ls -la "$dev" 2>&1), $(cat "$work/fm.log")"
else fail "fuse --mount did not mount: $(cat "$work/fm.log")"; kill "$fpid"; wait "$fpid"; fi

# forwarding to nsm-sim serve
"$bin/nsm-sim" serve --socket "$work/s.sock" --ca "$work/ca" --pcr "0=$pcr0" 2> "$work/serve.log" &
spid=$!; bg="$bg $spid"
"$tests/devnsm_client" wait "$work/s.sock" > /dev/null
"$bin/nsm-sim" fuse --mount "$dev" --socket "$work/s.sock" 2> "$work/fm2.log" &
fpid=$!; bg="$bg $fpid"
if wait_mount "$dev"; then
    NSM_DEVICE="$dev" "$static" conformance --pcr0 "$pcr0" > "$work/fm2.out" 2>&1 &&
        ok "fuse --mount --socket: conformance through nsm-sim serve (its --pcr seen)" ||
        fail "fuse --socket: $(grep FAIL "$work/fm2.out" | head -n 5)"
    # the server behind it dies: each request fails with EIO, one line in the device's log
    kill -TERM "$spid"; wait "$spid"
    NSM_DEVICE="$dev" "$static" unreachable > "$work/fm3.out" 2>&1 &&
        [ "$(grep -c 'cannot reach the NSM simulator' "$work/fm2.log")" = 1 ] &&
        ok "the server behind fuse --socket died: EIO, and one line: $(grep 'cannot reach' "$work/fm2.log")" ||
        fail "dead server behind fuse: $(cat "$work/fm3.out" "$work/fm2.log")"
    # SIGKILL: nothing runs our cleanup, fusermount3's auto_unmount still removes the mount
    kill -KILL "$fpid"; wait "$fpid" 2> /dev/null
    i=0; while [ $i -lt 100 ] && grep -q " $dev " /proc/mounts; do sleep 0.05; i=$((i + 1)); done
    i=0; while [ $i -lt 100 ] && [ -e "$dev" ]; do sleep 0.05; i=$((i + 1)); done
    ! grep -q " $dev " /proc/mounts && [ ! -e "$dev" ] &&
        ok "a server killed with SIGKILL leaves no stale mount and no file it created" ||
        fail "after SIGKILL: $(grep " $dev " /proc/mounts) $(ls -la "$dev" 2>&1)"
else
    fail "fuse --mount --socket did not mount: $(cat "$work/fm2.log")"
    kill "$fpid" "$spid"; wait "$fpid" "$spid"
fi

"$bin/nsm-sim" fuse --ca "$work/ca" 2> /dev/null; [ $? -eq 2 ] && ok "fuse without --mount: usage error" || fail "fuse without --mount"
"$bin/nsm-sim" fuse --mount "$dev" --socket "$work/s.sock" --ca "$work/ca" 2> "$work/fs.err"; rc=$?
[ $rc -eq 2 ] && grep -q 'with --socket the server' "$work/fs.err" && [ ! -e "$dev" ] &&
    ok "fuse --socket with state options: usage error, nothing created" || fail "--socket with --ca: $rc $(cat "$work/fs.err")"
mkdir -p "$work/adir"
"$bin/nsm-sim" fuse --mount "$work/adir" --ca "$work/ca" 2> "$work/fd.err"; rc=$?
[ $rc -eq 1 ] && [ "$(grep -c . "$work/fd.err")" -eq 1 ] && grep -q 'is not a file' "$work/fd.err" &&
    ok "fuse --mount on a directory: $(cat "$work/fd.err")" || fail "directory: $rc $(cat "$work/fd.err")"
"$bin/nsm-sim" fuse --mount "$work/no/such/dir/nsm" --ca "$work/ca" 2> "$work/fn.err"; rc=$?
[ $rc -eq 1 ] && [ "$(grep -c . "$work/fn.err")" -eq 1 ] && grep -q 'cannot create' "$work/fn.err" &&
    ok "fuse --mount in a missing directory: $(cat "$work/fn.err")" || fail "missing dir: $rc $(cat "$work/fn.err")"
host_unchanged "fuse --mount"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all FUSE device checks passed"
