#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The README stays short and the documentation whole (issue 23): every relative link in
# README.md and docs/*.md reaches a file of the tree, docs/README.md lists every page of docs/,
# and the README keeps what a newcomer needs (the two commands, a Components list, the licence).
set -u
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

links=0
for page in README.md docs/*.md; do
    dir=$(dirname "$page")
    # markdown links: ](target) with no scheme; the #anchor is dropped
    for target in $(grep -o '](\([^)]*\))' "$page" | sed 's/^](//; s/)$//' | grep -v -e '^[a-z]*:' -e '^#'); do
        path=${target%%#*}
        links=$((links + 1))
        [ -e "$dir/$path" ] || fail "$page links to $target, which does not exist"
    done
done
ok "$links relative links in README.md and docs/*.md checked"

for page in docs/*.md; do
    name=$(basename "$page")
    [ "$name" = README.md ] && continue
    grep -q "]($name)" docs/README.md || fail "docs/README.md does not list $name"
done
ok "docs/README.md lists every page of docs/"

lines=$(wc -l < README.md)
[ "$lines" -le 120 ] && ok "README.md is $lines lines (at most 120: the rest is in docs/)" ||
    fail "README.md has grown to $lines lines: move reference parts to docs/"
for want in 'make demo' 'make test' '## Components' 'docs/README.md' 'Apache-2.0' 'LICENSE'; do
    grep -q -- "$want" README.md || fail "README.md lacks $want"
done
grep -q '^- `' README.md && ok "README.md has its Components list" || fail "README.md has no Components list"
[ -f LICENSE ] && grep -q 'Apache License' LICENSE && grep -q 'Version 2.0' LICENSE &&
    ok "LICENSE is the Apache License 2.0" || fail "LICENSE missing or not Apache-2.0"

[ "$failures" -eq 0 ] || exit 1
