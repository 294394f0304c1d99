#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The helpers that grade third-party verifiers (docs/grades/, issue 8) make sound corpora:
#  - real-corpus.sh turns the shared real documents into a grading corpus: one row per
#    document, nsm-verify gets every verdict right, and an accept-everything command is caught
#    on the invalid one (so the manifest holds a reject row that can fail);
#  - same-length-root.sh makes a test root whose DER (so PEM) length is the AWS root's, and a
#    corpus under it that nsm-verify grades with zero wrong verdicts (the script checks it and
#    fails otherwise); its root says NOT AWS and its key is 0600.
# Both need the shared folder's real documents; without them the checks skip visibly.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
shared=${NSMKIT_SHARED:-../shared}
real="$shared/vectors/real"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

if [ ! -f "$real/aws-nitro-root-g1.pem" ]; then
    echo "SKIP: $real not found (set NSMKIT_SHARED): grading-corpus helpers not checked"
    exit 0
fi
tmpl='sh docs/grades/nsm-verify.sh {doc} {root} {time} {profile} {pcr0} {nonce} {user_data} {public_key} {max_age} {refuse_debug}'

# ---- real-corpus.sh -----------------------------------------------------------------------------
if NSMKIT_SHARED="$shared" NSMKIT_BIN="$bin" sh docs/grades/real-corpus.sh "$work/real" > "$work/real.out" 2>&1; then
    docs=$(ls "$real"/*.bin "$real"/invalid/*.bin 2>/dev/null | wc -l)
    rows=$(($(wc -l < "$work/real/manifest.tsv") - 1))
    [ "$rows" -eq "$docs" ] && [ "$docs" -gt 0 ] && ok "real-corpus: $rows rows for $docs documents" ||
        fail "real-corpus: $rows rows for $docs documents"
    if NSM_VERIFY="$bin/nsm-verify" "$bin/nsm-vectors" grade --dir "$work/real" --name nsm-verify \
            --cmd "$tmpl" > "$work/grade.out" 2>&1 &&
       grep -q ' 0 wrongly accepted, 0 wrongly rejected, 0 errors' "$work/grade.out"; then
        ok "real-corpus: nsm-verify $(grep '^summary' "$work/grade.out")"
    else
        fail "real-corpus: nsm-verify: $(tail -n 8 "$work/grade.out")"
    fi
    rejects=$(cut -f6 "$work/real/manifest.tsv" | grep -c '^reject$')
    if "$bin/nsm-vectors" grade --dir "$work/real" --name accept-all --cmd 'true {doc}' > "$work/all.out" 2>&1; then
        fail "real-corpus: an accept-everything command was graded all right"
    elif grep -q " $rejects wrongly accepted" "$work/all.out" && [ "$rejects" -gt 0 ]; then
        ok "real-corpus: an accept-everything command is caught on the $rejects invalid document(s)"
    else
        fail "real-corpus: accept-everything: $(grep '^summary' "$work/all.out")"
    fi
else
    fail "real-corpus.sh: $(tail -n 5 "$work/real.out")"
fi

# ---- same-length-root.sh ------------------------------------------------------------------------
if ! command -v openssl > /dev/null 2>&1; then
    echo "SKIP: no openssl command: same-length-root.sh not checked"
elif NSMKIT_BIN="$bin" sh docs/grades/same-length-root.sh "$real/aws-nitro-root-g1.pem" "$work/same" > "$work/same.out" 2>&1; then
    want=$(openssl x509 -in "$real/aws-nitro-root-g1.pem" -outform der | wc -c)
    got=$(openssl x509 -in "$work/same/corpus/root.pem" -outform der | wc -c)
    [ "$got" -eq "$want" ] && ok "same-length-root: a test root of $got DER bytes, as the pinned one" ||
        fail "same-length-root: root of $got DER bytes, want $want"
    openssl x509 -in "$work/same/corpus/root.pem" -noout -subject | grep -q 'OU *= *NOT' &&
        ok "same-length-root: the root says NOT (AWS)" || fail "same-length-root: subject $(openssl x509 -in "$work/same/corpus/root.pem" -noout -subject)"
    mode=$(stat -c %a "$work/same/pki/ca/root.key")
    [ "$mode" = 600 ] && ok "same-length-root: root key 0600" || fail "same-length-root: root key mode $mode"
    grep -q ' 0 wrongly accepted, 0 wrongly rejected, 0 errors' "$work/same.out" &&
        ok "same-length-root: its corpus $(grep '^summary' "$work/same.out")" ||
        fail "same-length-root: corpus check: $(tail -n 3 "$work/same.out")"
else
    fail "same-length-root.sh: $(tail -n 8 "$work/same.out")"
fi

[ "$failures" -eq 0 ] || exit 1
