#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The guest half of tests/it_qemu.sh, run inside the guest by nsm-qemu:
#   guest-tests.sh main      /dev/nsm end to end (prints ok:/FAIL: lines, and the documents
#                            as "DOC-<name> <hex>" for the host to verify)
#   guest-tests.sh conformance  the raw-ioctl client's conformance run (a fresh NSM)
#   guest-tests.sh garbage   bad frames from the guest straight onto the port
#   guest-tests.sh socket    nsm-sim cuse --socket in front of a server in the guest
# Exits 1 if any check failed.
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

main() {
    nsm-probe stat > /tmp/stat.out 2>&1 && ok "$(cat /tmp/stat.out)" || fail "$(cat /tmp/stat.out)"
    # bad pointers: EFAULT, state untouched
    nsm-probe efault 20 > /tmp/efault.out 2>&1 && ok "$(cat /tmp/efault.out)" || fail "$(cat /tmp/efault.out)"
    # concurrent processes: four workers, every extend lands exactly once
    for i in 0 1 2 3; do devnsm_client worker $i 40 /tmp/w$i.rec > /tmp/w$i.out 2>&1 & done
    wait
    grep -h FAIL /tmp/w*.out > /tmp/wfail.out && fail "workers: $(head -n 3 /tmp/wfail.out)"
    devnsm_client chain 4 40 /tmp/w0.rec /tmp/w1.rec /tmp/w2.rec /tmp/w3.rec > /tmp/chain.out 2>&1 &&
        ok "concurrent: $(head -n 1 /tmp/chain.out)" || fail "chain: $(grep FAIL /tmp/chain.out | head -n 3)"
    # an extend made here shows in a document
    value=$(nsm-probe extend 24 "$EXTEND_HEX") && ok "PCR24 extended to $value" || fail "extend: $value"
    echo "PCR24 $value"
    # locked, it is in every document from now on (the first 16 always are)
    nsm-probe lock 24 || fail "LockPCR 24"
    printf 'DOC-extended ' && nsm-probe attest "$NONCE_HEX" || fail "attestation after the extend"
    # the blog client, dynamically linked against the drop-in libnsm
    printf 'DOC-blog ' && NSM_SIM_REQUIRE_DEVICE=1 blog_client || fail "blog client"
}

# Every request through /dev/nsm with the raw-ioctl client; it needs a fresh NSM (PCR16-31
# zero) and locks every PCR, so it gets a boot of its own.
conformance() {
    devnsm_client conformance > /tmp/conf.out 2>&1 &&
        ok "raw-ioctl $(tail -n 1 /tmp/conf.out)" || fail "conformance: $(grep FAIL /tmp/conf.out | head -n 5)"
}

# Stops the CUSE daemon and waits until it is gone: the port is free only once the process
# has closed it (a virtio-serial port has one opener at a time).
stop_daemon() {
    kill "$(pidof nsm-sim)"
    i=0; while pidof nsm-sim > /dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    pidof nsm-sim > /dev/null && fail "the daemon did not stop"
    [ -e /dev/nsm ] && fail "/dev/nsm still there after the daemon stopped"
}

port() { for d in /sys/class/virtio-ports/*; do [ "$(cat "$d/name")" = nsm ] && echo "/dev/${d##*/}"; done; }

garbage() {
    p=$(port)
    nsm-probe describe 0 > /dev/null && ok "served before the garbage" || fail "not served before the garbage"
    # The port belongs to the daemon; stop it to write to the port ourselves.
    stop_daemon
    # 1. a frame whose CBOR is garbage: an NSM error comes back, the connection stays
    printf '\003\000\000\000\377\377\377' > "$p" || fail "cannot write to $p"
    # 2. a frame declared larger than any request: the server drops this connection
    printf '\377\377\377\177' > "$p" || fail "cannot write to $p"
    # QEMU reconnects (reconnect=1); a new daemon serves again on a fresh stream
    sleep 2
    nsm-sim cuse --port auto --background --timeout-ms 5000 || fail "daemon restart"
    n=0
    until nsm-probe describe 0 > /tmp/after.out 2>&1 || [ $n -ge 10 ]; do sleep 0.5; n=$((n + 1)); done
    grep -q '^lock=1 ' /tmp/after.out && ok "served again after the garbage (retries: $n)" ||
        fail "not served after the garbage: $(cat /tmp/after.out)"
    # 3. a request cut off mid-frame by the guest's end: the host sees QEMU go away
    stop_daemon
    printf '\100\000\000\000\241\153' > "$p" || fail "cannot write to $p"
    sleep 1 # for QEMU to pass the bytes on before the guest powers off
    ok "left a partial frame on the port"
}

# `nsm-sim cuse --socket`: the same daemon in front of a server socket, as on a host whose
# kernel has CUSE. The guest plays that host: the test adds the host's (dynamically linked)
# nsm-sim as /usr/local/bin/nsm-sim-host, which serves a simulated NSM inside the guest.
socket_mode() {
    stop_daemon
    nsm-sim-host serve --socket /tmp/nsm.sock 2> /tmp/serve.err &
    i=0; while [ ! -S /tmp/nsm.sock ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
    [ -S /tmp/nsm.sock ] || fail "the in-guest server did not start: $(cat /tmp/serve.err)"
    nsm-sim cuse --socket /tmp/nsm.sock --background || fail "nsm-sim cuse --socket did not start"
    nsm-probe stat > /tmp/stat.out 2>&1 && ok "socket mode: $(cat /tmp/stat.out)" || fail "socket mode: $(cat /tmp/stat.out)"
    nsm-probe describe 0 > /tmp/d.out 2>&1 && grep -q '^lock=1 ' /tmp/d.out &&
        ok "socket mode: DescribePCR through /dev/nsm and the socket" || fail "socket mode describe: $(cat /tmp/d.out)"
    nsm-probe attest > /tmp/a.out 2>&1 && ok "socket mode: a $(($(wc -c < /tmp/a.out) / 2))-byte document" ||
        fail "socket mode attest: $(cat /tmp/a.out)"
    nsm-probe efault 20 > /tmp/e.out 2>&1 && ok "socket mode: $(cat /tmp/e.out)" || fail "socket mode: $(cat /tmp/e.out)"
}

case "${1:-}" in
    main) main ;;
    conformance) conformance ;;
    socket) socket_mode ;;
    garbage) garbage ;;
    *) echo "usage: guest-tests.sh main|conformance|garbage|socket"; exit 2 ;;
esac
[ $failures -eq 0 ]
