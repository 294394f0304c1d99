#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# docs/protocol.md cannot rot: its complete clients (C, and Go when go is installed) are
# extracted from the markdown, built as a reader would build them, and run against the
# simulator; the documents they write must verify with their nonce. The ioctl number and
# sizes the page states are checked against the simulator's ABI header.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
doc=docs/protocol.md
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# extract NAME: the fenced block after the line "<!-- extract: NAME -->"
extract() {
    awk -v name="$1" '
        $0 == "<!-- extract: " name " -->" { want = 1; next }
        want && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$doc"
}

"$bin/nsm-ca" init "$work/ca" > /dev/null || { echo "FAIL: nsm-ca init"; exit 1; }
nonce=0102030405060708

# ---- the C client --------------------------------------------------------------------------------
extract nsm_client.c > "$work/nsm_client.c"
[ "$(wc -l < "$work/nsm_client.c")" -gt 40 ] || fail "the C client was not found in $doc"
if cc -std=c11 -Wall -Wextra -Werror -pedantic -o "$work/nsm_client" "$work/nsm_client.c" 2> "$work/cc.log"; then
    ok "the C client of $doc builds with -std=c11 -Wall -Wextra -Werror -pedantic"
    if "$bin/nsm-sim" exec --ca "$work/ca" -- "$work/nsm_client" "$work/c.cose" > "$work/c.out" 2>&1 &&
       "$bin/nsm-verify" --root "$work/ca/root.pem" --nonce "$nonce" "$work/c.cose" > "$work/v.out" 2>&1; then
        ok "under nsm-sim exec: $(cat "$work/c.out"); nsm-verify accepts it with the nonce"
    else
        fail "the C client under nsm-sim exec: $(cat "$work/c.out" "$work/v.out" 2> /dev/null | head -n 5)"
    fi
    # without a device it says so (and does not crash)
    if [ ! -e /dev/nsm ]; then
        "$work/nsm_client" "$work/none.cose" > "$work/n.out" 2>&1
        [ $? -eq 1 ] && grep -q 'open /dev/nsm' "$work/n.out" && ok "without /dev/nsm: $(cat "$work/n.out")" ||
            fail "without /dev/nsm: $(cat "$work/n.out")"
    fi
else
    fail "the C client of $doc does not build: $(head -n 10 "$work/cc.log")"
fi

# ---- the Go client --------------------------------------------------------------------------------
mkdir -p "$work/go" && extract main.go > "$work/go/main.go"
[ "$(wc -l < "$work/go/main.go")" -gt 40 ] || fail "the Go client was not found in $doc"
if ! command -v go > /dev/null 2>&1; then
    echo "SKIP: go is not installed (make deps installs golang-go): the Go client of $doc is not built"
else
    mkdir -p "$BUILD/go-cache"
    gocache=$(cd "$BUILD/go-cache" && pwd)
    printf 'module nsmclient\n\ngo 1.19\n' > "$work/go/go.mod"
    if (cd "$work/go" && GOCACHE="$gocache" GOPATH="$work/gopath" GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=0 \
            go vet . && GOCACHE="$gocache" GOPATH="$work/gopath" GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=0 \
            go build -o "$work/nsm_client_go" .) > "$work/go.log" 2>&1; then
        ok "the Go client of $doc passes go vet and builds (CGO_ENABLED=0)"
        if [ "$(id -u)" != 0 ] && ! unshare -Ur true 2> /dev/null; then
            echo "SKIP: neither root nor user namespaces: the Go client needs the FUSE device to run"
        elif "$bin/nsm-sim" exec --device fuse --ca "$work/ca" -- "$work/nsm_client_go" "$work/go.cose" > "$work/g.out" 2>&1 &&
             "$bin/nsm-verify" --root "$work/ca/root.pem" --nonce "$nonce" "$work/go.cose" > "$work/v.out" 2>&1; then
            ok "under nsm-sim exec --device fuse: $(cat "$work/g.out"); nsm-verify accepts it with the nonce"
        else
            fail "the Go client under the FUSE device: $(cat "$work/g.out" "$work/v.out" 2> /dev/null | head -n 5)"
        fi
    else
        fail "the Go client of $doc: $(tail -n 10 "$work/go.log")"
    fi
fi

# ---- the constants the page states ----------------------------------------------------------------
abi=nsm-core/include/nsmkit/nsm_abi.h
for pair in "NSM_IOCTL_RAW:0xC0200A00" "NSM_REQUEST_MAX_SIZE:0x1000" "NSM_RESPONSE_MAX_SIZE:0x3000" "NSM_MAGIC:0x0A"; do
    name=${pair%%:*} value=${pair#*:}
    grep -q "#define $name $value" "$abi" && grep -q "$value" "$doc" && ok "$name is $value in $abi and in $doc" ||
        fail "$name: $abi and $doc disagree on $value"
done
for name in DescribePCR ExtendPCR LockPCR LockPCRs DescribeNSM Attestation GetRandom; do
    grep -q "NSMSIM_REQUEST([A-Z_]*, \"$name\"" nsm-core/messages.def && grep -q "| \`$name\` |" "$doc" ||
        fail "request $name: not both in messages.def and in $doc's table"
done
for field in $(sed -n 's/^NSMSIM_\(REQUEST\|RESPONSE\)_FIELD([A-Z_]*, [A-Z_0-9]*, "\([a-z_]*\)".*/\2/p' nsm-core/messages.def | sort -u); do
    grep -q "\`$field\`" "$doc" || fail "field $field of messages.def is not in $doc"
done
ok "every request and field of nsm-core/messages.def is in $doc"

[ "$failures" -eq 0 ] || exit 1
echo "docs/protocol.md: its clients build and work against the simulator"
