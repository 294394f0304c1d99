#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The whole nitro-cli flow with one real boot (called by tests/it_nitro_cli.sh, and named
# without it_ so that make check does not run it a second time, when
# `nsm-qemu run-eif` and the QEMU image are in the build): build-enclave from a root
# filesystem holding a static program that asks /dev/nsm for a document (nitro_cli_attest),
# run-enclave --debug-mode on a vsock network of its own, describe-enclaves, console until the
# document appears, terminate-enclave; the document verified by nsm-verify under the run's
# simulated root with the PCRs a debug-mode enclave reports (zeros), describe-enclaves showing
# the image's PCRs; the enclave also sends the document to its parent (CID 3) over vsock,
# received here by a plain unix-socket listener at DIR/3.PORT (the emulated network's
# contract: no AF_VSOCK socket on this host), after the program proved inside the guest that
# its local CID is the emulated one; and it asks nsm-kms for ListKeys through nsm-vsock proxy
# on (CID 3, port 8000); nothing left running.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
cli="$bin/nsm-nitro-cli"
work=$(mktemp -d)
export NSM_NITRO_CLI_STATE="$work/state"
cleanup() {
    "$cli" terminate-enclave --all > /dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
field() { "$PY" -c 'import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[int(k)] if isinstance(d,list) else d[k]
print(d)' "$1" "$2"; }

app="$BUILD/tests/nitro_cli_attest"
[ -x "$app" ] || { echo "SKIP: the whole flow: $app is not built (make $app)"; exit 0; }
mkdir -p "$work/root/bin"
cp "$app" "$work/root/bin/attest"
"$bin/nsm-ca" init "$work/ca" > /dev/null 2>&1 || { fail "nsm-ca init"; exit 1; }
"$cli" build-enclave --rootfs "$work/root" --output-file "$work/app.eif" -- /bin/attest \
    --send 23 5005 8000 > "$work/build.json" 2> "$work/build.err"
if [ $? != 0 ]; then
    if grep -q "6515" "$work/build.err"; then
        echo "SKIP: the whole flow: $(sed -n 's/^nsm-nitro-cli build-enclave: //p' "$work/build.err")"
        exit 0
    fi
    fail "build-enclave: $(cat "$work/build.err")"; exit 1
fi
# the parent's listener on (CID 3, port 5005): a unix socket named DIR/3.5005
mkdir -m 700 "$work/vsock"
parent=""
if command -v socat > /dev/null 2>&1; then
    socat -u "UNIX-LISTEN:$work/vsock/3.5005" "CREATE:$work/parent.txt" 2> "$work/socat.err" &
    parent=$!
fi
# nsm-kms behind the parent's vsock-proxy on (3, 8000), as an enclave reaches KMS on EC2
kms=""
"$bin/nsm-kms" serve --listen 127.0.0.1:0 --state "$work/kms" --ca "$work/ca" --quiet > "$work/kms.out" 2>&1 &
kms="$!"
i=0; while ! grep -q 'listening on' "$work/kms.out" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
kms_port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/kms.out")
"$bin/nsm-vsock" proxy --dir "$work/vsock" --port 8000 --to "127.0.0.1:${kms_port:-1}" > /dev/null 2>&1 &
kms="$kms $!"
t0=$(date +%s)
"$cli" run-enclave --eif-path "$work/app.eif" --cpu-count 2 --memory 512 --debug-mode \
    --enclave-cid 23 \
    --ca "$work/ca" --vsock-dir "$work/vsock" > "$work/run.json" 2> "$work/run.err" ||
    { fail "run-enclave: $(cat "$work/run.err")"; exit 1; }
id=$(field "$work/run.json" EnclaveID)
pid=$(field "$work/run.json" ProcessID)
ok "run-enclave returned in $(( $(date +%s) - t0 )) s: $id"
"$cli" describe-enclaves > "$work/desc.json"
[ "$(field "$work/desc.json" 0.EnclaveID)" = "$id" ] && [ "$(field "$work/desc.json" 0.State)" = RUNNING ] &&
    [ "$(field "$work/desc.json" 0.Measurements.PCR0)" = "$(field "$work/build.json" Measurements.PCR0)" ] &&
    ok "describe-enclaves: the enclave RUNNING with the image's PCR0" || fail "describe: $(cat "$work/desc.json")"
# the console until the document is there (TCG boot: up to 240 s)
i=0
while [ $i -lt 48 ]; do
    "$cli" console --enclave-id "$id" --disconnect-timeout 5 > "$work/console.out" 2>&1
    # the application's last line: KMS's answer (or its error on the console)
    grep -q "^KMS \|nitro_cli_attest:" "$work/console.out" && break
    "$cli" describe-enclaves 2>> "$work/ended.err" | grep -q "$id" || break
    i=$((i + 1))
done
if grep -q "NSMKIT-DOC-END" "$work/console.out"; then
    ok "console: the enclave's application printed its document $(( $(date +%s) - t0 )) s after run-enclave"
    sed -n 's/.*NSMKIT-DOC-BEGIN \([0-9a-f]*\) NSMKIT-DOC-END.*/\1/p' "$work/console.out" | head -1 |
        xxd -r -p > "$work/doc.cbor"
    zeros=$(printf '%096d' 0)
    "$bin/nsm-verify" --root "$work/ca/root.pem" --expect-pcr "0=$zeros" --expect-pcr "1=$zeros" \
        --expect-pcr "2=$zeros" "$work/doc.cbor" > "$work/verify.out" 2>&1 &&
        ok "the enclave's document verifies under the run's root with the PCRs of a debug-mode enclave (zeros)" ||
        fail "nsm-verify: $(cat "$work/verify.out")"
else
    fail "no document on the console: $(tail -20 "$work/console.out"; cat "$work/ended.err" 2> /dev/null)"
fi
if [ -z "$parent" ]; then
    echo "SKIP: the parent over vsock: socat is not installed"
else
    i=0
    while [ $i -lt 20 ] && ! grep -q "NSMKIT-DOC-END" "$work/parent.txt" 2> /dev/null; do
        sleep 0.5; i=$((i + 1))
    done
    grep "NSMKIT-DOC-BEGIN" "$work/console.out" | head -1 > "$work/console.line"
    grep -q "NSMKIT-SENT-TO-PARENT 5005" "$work/console.out" && [ -s "$work/parent.txt" ] &&
        cmp -s "$work/parent.txt" "$work/console.line" &&
        ok "the enclave (CID 23, proven inside the guest) sent its document to the parent: CID 3 port 5005 over vsock" ||
        fail "the parent got: $(head -c 200 "$work/parent.txt" 2> /dev/null) $(cat "$work/socat.err")"
    kill "$parent" 2> /dev/null; wait "$parent" 2> /dev/null
fi
grep -q 'KMS {"Keys":\[\],"Truncated":false}' "$work/console.out" &&
    ok "the enclave reached nsm-kms through nsm-vsock proxy on CID 3 port 8000 (ListKeys answered)" ||
    fail "KMS: $(grep '^KMS' "$work/console.out") (nsm-kms: $(head -n 1 "$work/kms.out"))"
for p in $kms; do kill "$p" 2> /dev/null; wait "$p" 2> /dev/null; done
"$cli" terminate-enclave --enclave-id "$id" > "$work/term.json" 2> "$work/term.err" ||
    fail "terminate: $(cat "$work/term.err")"
! ps -eo pgid=,stat= | awk -v g="$pid" '$1 == g && $2 !~ /^Z/' | grep -q . &&
    [ "$(field "$work/term.json" Terminated)" = True ] && [ -z "$(ls "$work/state")" ] &&
    ok "terminate-enclave: QEMU and everything nsm-qemu started are gone, no state left" ||
    fail "after terminate: $(ps -eo pid,pgid,args | awk -v g="$pid" '$2 == g')"
[ $failures -eq 0 ]
