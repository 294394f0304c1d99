#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
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

# ---- pictures of a grade: --html, nsm-vectors report, the markdown matrix (issue 23) ----------------
if ! command -v python3 > /dev/null 2>&1; then
    echo "SKIP: no python3: the HTML reports are not checked structurally"
else
    NSM_VERIFY="$bin/nsm-verify" "$bin/nsm-vectors" grade --name nsm-verify --cmd "$tmpl" \
        --html "$work/own.html" --markdown "$work/own.md" > /dev/null 2>&1
    python3 tests/check_html.py "$work/own.html" 1 "$docs" valid_definite:0:right pki_rogue_root:0:right \
        > "$work/html.out" 2>&1 && ok "grade --html: $(cat "$work/html.out")" || fail "grade --html: $(cat "$work/html.out")"
    "$bin/nsm-vectors" report "$work/own-aws.json" "$work/weak.json" --html "$work/both.html" > "$work/r.out" 2>&1 &&
        python3 tests/check_html.py "$work/both.html" 2 "$docs" pki_rogue_root:0:right \
            pki_rogue_root:1:wrongly_accepted valid_tagged:1:wrongly_rejected > "$work/html.out" 2>&1 &&
        ok "report a.json b.json --html: side by side, $(cat "$work/html.out")" ||
        fail "report --html: $(cat "$work/r.out" "$work/html.out")"
    # the committed grades (written before the page existed) are read as well
    "$bin/nsm-vectors" report docs/grades/weak-verifier.json docs/grades/nsm-verify-aws.json \
        --html "$work/old.html" > "$work/r.out" 2>&1 &&
        python3 tests/check_html.py "$work/old.html" 2 "$docs" pki_rogue_root:0:wrongly_accepted \
            > "$work/html.out" 2>&1 && ok "report of docs/grades/*.json: $(cat "$work/html.out")" ||
        fail "report of the committed grades: $(cat "$work/r.out" "$work/html.out")"
    printf '{"results": [{"name": 1}]}' > "$work/bad.json"
    "$bin/nsm-vectors" report "$work/bad.json" --html "$work/bad.html" > "$work/r.out" 2>&1
    [ $? -eq 2 ] && grep -q 'lacks name' "$work/r.out" && ok "report of a malformed grade: exit 2 ($(head -c 80 "$work/r.out"))" ||
        fail "report of a malformed grade: $(cat "$work/r.out")"
fi
grep -q '^| layer | documents | right | wrongly accepted | wrongly rejected | error | hang |$' "$work/weak.md" &&
    grep -q '^| pki | 35 | ' "$work/weak.md" && ok "the markdown report has the layer matrix ($(grep '^| pki' "$work/weak.md"))" ||
    fail "the markdown report lacks the matrix"
if command -v chromium > /dev/null 2>&1 && [ -n "${NSMKIT_SCREENSHOT:-}" ]; then
    chromium --headless --no-sandbox --screenshot="$NSMKIT_SCREENSHOT" --window-size=1200,2400 "$work/both.html" \
        > /dev/null 2>&1 && echo "(screenshot of the side-by-side page in $NSMKIT_SCREENSHOT)"
fi

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
# (the command waits a little before its verdict: the child has started by then)
child="sh -c 'echo \$\$ >> $work/children; exec sleep 60'"
grade --timeout 10 --cmd "$child & sleep 0.3; $bin/nsm-verify --quiet --root {root} --time {time} {doc}"
check_report "a command whose child holds its output open: its own verdict" ' 3 right, 0 wrongly accepted, 0 wrongly rejected, 0 errors'
grade --cmd "$child > /dev/null 2>&1 & sleep 0.3; $bin/nsm-verify --quiet --root {root} --time {time} {doc}"
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

# ---- the grader tells a broken command line from a strict verifier (issue 23) ---------------------
restore_mini() { head -n 4 vectors/manifest.tsv > "$mini/manifest.tsv"; }
restore_mini
"$bin/nsm-vectors" grade --dir "$mini" --cmd 'true {docs} {root}' > "$work/g.out" 2>&1
[ $? -eq 2 ] && grep -q 'unknown placeholder {docs}' "$work/g.out" && ! grep -q '^summary' "$work/g.out" &&
    ok "an unknown placeholder is refused by name: $(head -n1 "$work/g.out" | cut -c1-70)" ||
    fail "unknown placeholder: $(cat "$work/g.out")"
"$bin/nsm-vectors" grade --dir "$mini" --cmd 'awk "{ print }" {doc} ${HOME:+x} >/dev/null' > "$work/g.out" 2>&1
grep -q '^summary: 3 documents' "$work/g.out" && ok "shell braces (\${HOME:+x}, awk's { print }) are not taken for placeholders" ||
    fail "shell braces refused: $(head -n 3 "$work/g.out")"
"$bin/nsm-vectors" grade --dir "$mini" --profile foo --cmd 'true {doc}' > "$work/g.out" 2>&1
[ $? -eq 2 ] && grep -q -- '--profile foo: want aws or strict' "$work/g.out" && ok "--profile foo: the reason is printed" ||
    fail "--profile foo: $(cat "$work/g.out")"
grade --cmd 'false {doc}'
grep -q 'warning: every valid document (3) was rejected' "$work/g.out" &&
    ok "a command that rejects every valid document is warned about" || fail "no warning for rejecting every valid document: $(cat "$work/g.out")"
grade --cmd 'nsm-no-such-verifier {doc}'
if grep -q 'ERROR *3 documents alike (first valid_definite): error (exit 127: .*not found)' "$work/g.out" &&
   [ "$(grep -c 'ERROR' "$work/g.out")" -eq 1 ] && grep -q 'warning: every document (3) got the same answer' "$work/g.out"; then
    ok "a command that cannot run: one line with a count, and a warning"
else
    fail "identical errors not collapsed: $(cat "$work/g.out")"
fi
grade --jobs 1 --cmd 'sleep 1.2; true {doc}'
progress=$(grep -c '^nsm-vectors: [0-9]/3 documents graded, [0-9] wrong so far' "$work/g.out")
[ "$progress" -ge 1 ] && ok "progress on stderr while grading ($progress line(s): $(grep -m1 'graded,' "$work/g.out"))" ||
    fail "no progress line in a 3.6 s grading: $(cat "$work/g.out")"

# ---- nothing a grading starts survives it, setsid included (issue 23) -------------------------------
: > "$work/escaped"
escape="setsid sh -c 'echo \$\$ >> $work/escaped; exec sleep 60' > /dev/null 2>&1 < /dev/null &"
# (the command waits a little: the children escape before it exits)
grade --cmd "$escape sleep 0.5; true {doc}"
grade --timeout 1 --cmd "$escape sleep 30; true {doc}"
sleep 0.2
left=""
for pid in $(cat "$work/escaped"); do
    state=$(sed "s/.*) //" "/proc/$pid/stat" 2> /dev/null | cut -c1)
    case "$state" in ''|Z*) ;; *) left="$left $pid" ;; esac
done
started=$(wc -l < "$work/escaped")
[ "$started" -eq 6 ] && [ -z "$left" ] &&
    ok "children that called setsid (6, after an exit and after a hang) were killed with the grading" ||
    fail "setsid children left running:${left:- none, but $started of 6 started}"
for pid in $left; do kill "$pid" 2> /dev/null; done

# a grading stopped by a signal stops its commands too (they are out of reach of the terminal)
: > "$work/stopped"
"$bin/nsm-vectors" grade --dir "$mini" --jobs 2 --timeout 60 \
    --cmd "echo \$\$ >> $work/stopped; sleep 30; true {doc}" > "$work/g.out" 2>&1 &
grader=$!
sleep 1
kill -TERM "$grader"
wait "$grader"; st=$?
sleep 0.2
left=""
for pid in $(cat "$work/stopped"); do
    state=$(sed "s/.*) //" "/proc/$pid/stat" 2> /dev/null | cut -c1)
    case "$state" in ''|Z*) ;; *) left="$left $pid" ;; esac
done
[ "$st" -eq 143 ] && grep -q 'interrupted by signal 15' "$work/g.out" && [ -s "$work/stopped" ] && [ -z "$left" ] &&
    ok "SIGTERM stops the grading (exit 143) and its $(wc -l < "$work/stopped") running commands" ||
    fail "SIGTERM: exit $st, left:${left:- none}, $(cat "$work/g.out")"
for pid in $left; do kill "$pid" 2> /dev/null; done

# ---- --help and --version (issue 23) ---------------------------------------------------------------
for args in "--help" "list --help" "gen --help" "grade --help" "report --help" "--version" "grade --version"; do
    # shellcheck disable=SC2086
    "$bin/nsm-vectors" $args > "$work/h.out" 2> "$work/h.err"
    st=$?
    [ "$st" -eq 0 ] && [ -s "$work/h.out" ] && [ ! -s "$work/h.err" ] &&
        ok "nsm-vectors $args: stdout, exit 0 ($(head -n1 "$work/h.out" | cut -c1-60))" ||
        fail "nsm-vectors $args: exit $st, stdout $(wc -c < "$work/h.out") bytes, stderr $(cat "$work/h.err")"
done
"$bin/nsm-vectors" grade --help | grep -q -- '--dir CORPUS' && ok "grade --help shows --dir" || fail "grade --help lacks --dir"
"$bin/nsm-vectors" bogus > /dev/null 2>&1; [ $? -eq 2 ] && ok "an unknown command: exit 2" || fail "unknown command exit"

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
