#!/bin/sh
# The vectors corpus and the grader (issue 8):
#  - `nsm-vectors gen` twice from the committed test PKI gives the committed corpus byte for
#    byte (what `make vectors` does);
#  - nsm-verify gets every verdict right under both profiles (zero wrong);
#  - a signature-only verifier (tests/weak_verifier.c) gets a report naming what it misses;
#  - a graded command that hangs, crashes, prints nothing or cannot run is reported as such,
#    and the grader always finishes with its summary.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

if [ ! -f vectors/manifest.tsv ]; then
    echo "SKIP: vectors/ not found (run from the repository root): corpus checks not run"
    exit 0
fi

# ---- reproducibility: two generations from a copy of the committed PKI ------------------------
for run in a b; do
    mkdir -p "$work/$run"
    cp -R vectors/pki "$work/$run/pki"
    "$bin/nsm-vectors" gen "$work/$run" 2> "$work/gen.err" || { fail "gen $run: $(cat "$work/gen.err")"; continue; }
    rm -rf "$work/$run/pki"
done
if diff -r "$work/a" "$work/b" > "$work/diff" && diff -r -x pki -x README.md -x eif vectors "$work/a" >> "$work/diff"; then
    ok "gen twice from the committed PKI: identical, and identical to vectors/ ($(ls vectors/docs | wc -l) documents)"
else
    fail "regenerated corpus differs: $(head -c 600 "$work/diff")"
fi
classes=$("$bin/nsm-vectors" list | tail -n +2 | wc -l)
in_table=$(grep -c '^X(' faults/include/nsmkit/faults.def)
[ "$classes" -eq "$in_table" ] && ok "list prints $classes classes" || fail "list prints $classes classes, the table has $in_table"

# ---- the project's own verifier: zero wrong verdicts ------------------------------------------------
tmpl='sh docs/grades/nsm-verify.sh {doc} {root} {time} {profile} {pcr0} {nonce} {user_data} {public_key} {max_age} {refuse_debug}'
for profile in aws strict; do
    if NSM_VERIFY="$bin/nsm-verify" "$bin/nsm-vectors" grade --profile "$profile" --name nsm-verify \
            --cmd "$tmpl" --json "$work/own-$profile.json" > "$work/own.out" 2>&1 &&
       grep -q ' 0 wrongly accepted, 0 wrongly rejected, 0 errors' "$work/own.out"; then
        ok "nsm-verify ($profile): $(grep '^summary' "$work/own.out")"
    else
        fail "nsm-verify ($profile): $(tail -n 20 "$work/own.out")"
    fi
done

# ---- a signature-only verifier: the report names the classes it misses -------------------------------
"$bin/nsm-vectors" grade --name weak_verifier --cmd "$BUILD/tests/weak_verifier {doc}" \
    --json "$work/weak.json" --markdown "$work/weak.md" > "$work/weak.out" 2>&1
status=$?
[ "$status" -eq 1 ] && ok "weak verifier graded with exit 1" || fail "weak verifier grade exit $status"
for missed in pki_rogue_root pki_leaf_expired pki_cabundle_reversed payload_unknown_key \
              timestamp_zero policy_nonce_mismatch policy_stale; do
    if grep -q "WRONGLY ACCEPTED .* $missed *\$" "$work/weak.out" &&
       grep -q "| $missed |" "$work/weak.md" &&
       grep -q "\"name\": \"$missed\",.*\"wrong\": true" "$work/weak.json"; then
        ok "weak verifier: report names $missed"
    else
        fail "weak verifier: $missed not named as wrongly accepted"
    fi
done
# ... and does not blame it for what it checks
for caught in sig_bit_flip sig_other_payload env_trailing_array; do
    grep -q " $caught *\$" "$work/weak.out" && [ "$caught" != env_trailing_array ] &&
        fail "weak verifier blamed for $caught" || true
done
docs=$(($(wc -l < vectors/manifest.tsv) - 1))
grep -q "^summary: $docs documents" "$work/weak.out" && ok "weak verifier: $(grep '^summary' "$work/weak.out")" ||
    fail "weak verifier: no summary line"

# ---- a graded command that misbehaves -----------------------------------------------------------------
mini="$work/mini"
mkdir -p "$mini"
cp -R vectors/docs vectors/root.pem "$mini/"
head -n 4 vectors/manifest.tsv > "$mini/manifest.tsv"
grade() { "$bin/nsm-vectors" grade --dir "$mini" --jobs 2 "$@" > "$work/g.out" 2>&1; echo $? > "$work/g.status"; }
check_report() {
    what=$1 pattern=$2
    if grep -q "$pattern" "$work/g.out" && grep -q '^summary: 3 documents' "$work/g.out"; then
        ok "$what: reported ($(grep -m1 "$pattern" "$work/g.out" | sed 's/  */ /g' | cut -c1-80))"
    else
        fail "$what: $(cat "$work/g.out")"
    fi
}
# numbers that are not whole numbers are refused, not read as their leading digits
for bad in "--timeout 10x" "--timeout 0" "--timeout 3601" "--jobs 2abc" "--jobs 0" "--jobs -1"; do
    # shellcheck disable=SC2086
    "$bin/nsm-vectors" grade --dir "$mini" $bad --cmd true > "$work/bad.out" 2>&1
    st=$?
    if [ "$st" -eq 2 ] && grep -q "want a whole number\|usage" "$work/bad.out"; then
        ok "grade $bad: refused ($(head -1 "$work/bad.out" | cut -c1-70))"
    else
        fail "grade $bad: exit $st, $(head -2 "$work/bad.out")"
    fi
done
grade --timeout 1 --cmd 'sleep 30'
check_report "a command that hangs" 'ERROR .* hang (no verdict in 1 s)'
grade --cmd 'kill -SEGV $$'
check_report "a command that crashes" 'ERROR .* crash (signal 11)'
grade --accept-regex '^valid' --cmd 'true'
check_report "a command that prints nothing" 'ERROR .* no output'
grade --cmd 'exit 127'
check_report "a command that cannot run" 'ERROR .* error (exit 127'
# A command that leaves a child behind (issue 14 probe): the verdict is the command's own exit
# even while the child holds its output open (not a hang), and no child outlives the grading.
: > "$work/children"
child="sh -c 'echo \$\$ >> $work/children; exec sleep 60'"
grade --timeout 10 --cmd "$child & $bin/nsm-verify --quiet --root {root} --time {time} {doc}"
check_report "a command whose child holds its output open: its own verdict" ' 3 right, 0 wrongly accepted, 0 wrongly rejected, 0 errors'
grade --cmd "$child > /dev/null 2>&1 & $bin/nsm-verify --quiet --root {root} --time {time} {doc}"
left=""
for pid in $(cat "$work/children"); do
    state=$(sed "s/.*) //" "/proc/$pid/stat" 2> /dev/null | cut -c1)
    case "$state" in ''|Z*) ;; *) left="$left $pid" ;; esac
done
[ "$(wc -l < "$work/children")" -eq 6 ] && [ -z "$left" ] &&
    ok "a command whose child outlives it: its 6 children were stopped with it" ||
    fail "children left running after grading:${left:- none, but $(wc -l < "$work/children") of 6 started}"
for pid in $left; do kill "$pid" 2> /dev/null; done
grade --reject-regex 'invalid' --cmd "$BUILD/tests/weak_verifier {doc}"
check_report "verdict by pattern (the weak verifier refuses tagged documents)" ' 2 right, 0 wrongly accepted, 1 wrongly rejected'
"$bin/nsm-vectors" grade --dir "$work/nowhere" --cmd true > "$work/g.out" 2>&1
[ $? -eq 2 ] && grep -q 'manifest.tsv' "$work/g.out" && ok "a missing corpus: $(head -n1 "$work/g.out")" ||
    fail "a missing corpus: $(cat "$work/g.out")"
printf 'not a manifest\n' > "$mini/manifest.tsv"
"$bin/nsm-vectors" grade --dir "$mini" --cmd true > "$work/g.out" 2>&1
[ $? -eq 2 ] && grep -q 'no header row' "$work/g.out" && ok "a broken manifest: $(head -n1 "$work/g.out")" ||
    fail "a broken manifest: $(cat "$work/g.out")"

# issue 14 probe: a document the manifest names but the corpus lacks was graded as the
# command's wrong verdict; it is the corpus's error
{ head -n 1 vectors/manifest.tsv; sed -n 2p vectors/manifest.tsv | awk -F'\t' -v OFS='\t' '{$4 = "docs/gone.cose"; print}'; } > "$mini/manifest.tsv"
"$bin/nsm-vectors" grade --dir "$mini" --cmd true > "$work/g.out" 2>&1
[ $? -eq 2 ] && grep -q 'docs/gone.cose is missing' "$work/g.out" && ok "a corpus missing a document: $(head -n1 "$work/g.out")" ||
    fail "a corpus missing a document: $(cat "$work/g.out")"

# ---- nsm-sim attest --fault: the verifier gives each class's code --------------------------------------
"$bin/nsm-ca" init "$work/ca" > /dev/null || { echo "cannot create a CA"; exit 1; }
for pair in timestamp_zero:TIMESTAMP_ZERO pki_rogue_root:ROOT_MISMATCH sig_bit_flip:SIGNATURE_INVALID \
            hdr_alg_es256:ENV_ALG_UNSUPPORTED pki_leaf_unknown_critical:CHAIN_INVALID \
            nonce_1025,sig_der:ENV_SIGNATURE_LENGTH sig_high_s:VALID; do
    classes=${pair%%:*} want=${pair#*:}
    if ! "$bin/nsm-sim" attest --ca "$work/ca" --nonce 0102 --fault "$classes" -o "$work/f.cose" 2> "$work/f.err"; then
        fail "attest --fault $classes: $(cat "$work/f.err")"
        continue
    fi
    "$bin/nsm-verify" --root "$work/ca/root.pem" "$work/f.cose" > "$work/v.out" 2>&1
    if grep -q " $want" "$work/v.out" && grep -q "expects" "$work/f.err"; then
        ok "attest --fault $classes: nsm-verify says $want"
    else
        fail "attest --fault $classes: want $want; got $(head -n 3 "$work/v.out")"
    fi
done
"$bin/nsm-sim" attest --ca "$work/ca" --no-resign --fault user_data_512 -o "$work/f.cose" 2> /dev/null &&
    "$bin/nsm-verify" --root "$work/ca/root.pem" "$work/f.cose" | grep -q SIGNATURE_INVALID &&
    ok "attest --no-resign --fault user_data_512: SIGNATURE_INVALID" || fail "attest --no-resign"

# ---- the device fault mode: the blog-style client's document through /dev/nsm -------------------------
for pair in timestamp_zero:TIMESTAMP_ZERO hdr_alg_text:ENV_ALG_TEXT pki_cabundle_reversed:CABUNDLE_NOT_ROOT_FIRST; do
    classes=${pair%%:*} want=${pair#*:}
    if "$bin/nsm-sim" exec --ca "$work/ca" --fault "$classes" -- "$BUILD/tests/blog_client" \
            > "$work/blog.hex" 2> "$work/blog.err"; then
        tr -d '\r\n' < "$work/blog.hex" | xxd -r -p > "$work/blog.cose"
        "$bin/nsm-verify" --root "$work/ca/root.pem" "$work/blog.cose" > "$work/v.out" 2>&1
        grep -q " $want" "$work/v.out" && ok "exec --fault $classes: the blog client's document fails nsm-verify with $want" ||
            fail "exec --fault $classes: want $want; got $(head -n 4 "$work/v.out")"
    else
        fail "exec --fault $classes: $(tail -n 3 "$work/blog.err")"
    fi
done
# every Nth document, and at random with a seed (the same seed, the same documents)
cat > "$work/four.sh" <<'EOS'
for i in 1 2 3 4 5 6; do "$1" | tr -d '\r\n' | xxd -r -p > "$2.$i"; done
EOS
verdicts() { v=""; for i in 1 2 3 4 5 6; do "$bin/nsm-verify" --quiet --root "$work/ca/root.pem" "$1.$i" > /dev/null 2>&1; v="$v$?"; done; echo "$v"; }
"$bin/nsm-sim" exec --ca "$work/ca" --fault sig_bit_flip --fault-every 3 -- sh "$work/four.sh" "$BUILD/tests/blog_client" "$work/e" 2> /dev/null
[ "$(verdicts "$work/e")" = 001001 ] && ok "exec --fault-every 3: documents 3 and 6 fail" || fail "exec --fault-every 3: $(verdicts "$work/e")"
for run in a b; do
    "$bin/nsm-sim" exec --ca "$work/ca" --fault sig_bit_flip --fault-rate 0.5 --seed 8 -- sh "$work/four.sh" "$BUILD/tests/blog_client" "$work/r$run" 2> /dev/null
done
ra=$(verdicts "$work/ra") rb=$(verdicts "$work/rb")
[ "$ra" = "$rb" ] && [ "$ra" != 000000 ] && [ "$ra" != 111111 ] &&
    ok "exec --fault-rate 0.5 --seed 8: the same mix twice ($ra)" || fail "exec --fault-rate: $ra then $rb"

echo "failures: $failures"
[ "$failures" -eq 0 ]
