#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `make test` in a checkout other users cannot enter (issue 23): a clone under a 0700 home (root's,
# or any home made by Debian 12's adduser). The FUSE device's unprivileged run switches to uid
# 65534, which cannot execute anything below such a directory: it must run from copies the user
# can reach, or say why it skips. This runs tests/it_fuse.sh from a copy of the built tree placed
# under a 0700 directory, and wants it to pass with the unprivileged check made (as root) or
# skipped with a visible reason (otherwise).
set -u
BUILD=${BUILD:-build}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

home="$work/home"
copy="$home/nsmkit"
mkdir -p "$copy/build/tests" && chmod 0700 "$home" "$work"
# what it_fuse.sh uses: the programs, the shared libraries the C API clients load beside them,
# the test clients and tests/ (the Go client's sources); the Go build cache is shared (read
# and written by this user only)
cp -R tests "$copy/tests" && cp -R "$BUILD/bin" "$BUILD/lib" "$copy/build/" &&
    for t in devnsm_client_static devnsm_client blog_client nsm_conformance; do
        cp "$BUILD/tests/$t" "$copy/build/tests/" || exit 1
    done || { echo "FAIL: cannot copy the built tree"; exit 1; }
mkdir -p "$BUILD/go-cache" && ln -s "$(cd "$BUILD/go-cache" && pwd)" "$copy/build/go-cache"
[ "$(stat -c %a "$home")" = 700 ] || fail "the home is not 0700"

(cd "$copy" && BUILD=build SANITIZE="${SANITIZE:-}" sh tests/it_fuse.sh) > "$work/fuse.out" 2>&1
status=$?
if [ "$status" -eq 0 ]; then
    ok "it_fuse.sh passes in a checkout under a 0700 directory ($(grep -c '^ok' "$work/fuse.out") checks)"
else
    fail "it_fuse.sh under a 0700 directory: exit $status: $(grep -E '^FAIL' "$work/fuse.out" | head -n 5)"
fi
if grep -q '^ok: as uid 65534' "$work/fuse.out"; then
    ok "the unprivileged run was made there: $(grep '^ok: as uid 65534' "$work/fuse.out" | cut -c5-90)"
elif grep -q '^SKIP: .*unprivileged' "$work/fuse.out"; then
    # not root: it_fuse.sh says why, and so does this test
    grep '^SKIP: .*unprivileged' "$work/fuse.out"
else
    fail "the unprivileged run neither ran nor skipped visibly: $(tail -n 5 "$work/fuse.out")"
fi
[ "$failures" -eq 0 ] || exit 1
echo "a checkout under a 0700 directory passes the FUSE checks"
