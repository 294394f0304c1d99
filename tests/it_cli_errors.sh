#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Bad input to nsm-ca and nsm-sim: one clear line naming the problem, a non-zero exit,
# never a crash (a signal would show as an exit status above 128).
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
work=$(mktemp -d); trap 'chmod -R u+rwX "$work"; rm -rf "$work"' EXIT
export XDG_STATE_HOME="$work/state"
failures=0

# expect STATUS PATTERN -- COMMAND...: exit status, and stderr has PATTERN on one line
expect() {
    want_status=$1; pattern=$2; shift 3
    "$@" > "$work/out" 2> "$work/err"; status=$?
    lines=$(grep -c . "$work/err")
    if [ "$status" -ne "$want_status" ]; then
        echo "FAIL: $* -> exit $status, want $want_status; stderr: $(head -c 300 "$work/err")"
        failures=$((failures + 1))
    elif ! grep -q -- "$pattern" "$work/err"; then
        echo "FAIL: $* -> stderr lacks '$pattern': $(head -c 300 "$work/err")"
        failures=$((failures + 1))
    elif [ "$want_status" -ne 0 ] && [ "$lines" -ne 1 ] && ! grep -q '^usage:' "$work/err"; then
        echo "FAIL: $* -> $lines lines of error, want one"
        failures=$((failures + 1))
    else
        echo "ok: $(echo "$*" | cut -c1-90) -> $status: $(head -n 1 "$work/err" | cut -c1-90)"
    fi
}

"$bin/nsm-ca" init "$work/ca" > /dev/null || { echo "cannot create a CA"; exit 1; }
ca="$work/ca"
big=$(head -c 1025 /dev/zero | od -An -v -tx1 | tr -d ' \n')
head -c 1025 /dev/zero > "$work/big.bin"

expect 2 "needs -o FILE" -- "$bin/nsm-sim" attest --ca "$ca"
expect 2 "unknown option" -- "$bin/nsm-sim" attest --ca "$ca" --colour red -o "$work/d"
expect 2 "unknown command" -- "$bin/nsm-sim" frobnicate
expect 2 "odd number of digits" -- "$bin/nsm-sim" attest --ca "$ca" --nonce abc -o "$work/d"
expect 2 "not a hex digit" -- "$bin/nsm-sim" attest --ca "$ca" --user-data zz -o "$work/d"
expect 2 "more than the limit of 1024" -- "$bin/nsm-sim" attest --ca "$ca" --public-key "$big" -o "$work/d"
expect 2 "larger than the limit of 1024" -- "$bin/nsm-sim" attest --ca "$ca" --user-data "@$work/big.bin" -o "$work/d"
expect 2 "cannot open" -- "$bin/nsm-sim" attest --ca "$ca" --nonce "@$work/missing" -o "$work/d"
expect 2 "not a boot PCR" -- "$bin/nsm-sim" attest --ca "$ca" --pcr "16=00" -o "$work/d"
expect 2 "needs a value" -- "$bin/nsm-sim" attest --ca
expect 2 "Unix seconds" -- "$bin/nsm-sim" attest --ca "$ca" --time yesterday -o "$work/d"
expect 2 "unknown fault class \"bad_alg\"" -- "$bin/nsm-sim" attest --ca "$ca" --fault bad_alg -o "$work/d"
expect 2 "cannot combine" -- "$bin/nsm-sim" attest --ca "$ca" --fault sig_der,sig_short -o "$work/d"
expect 2 "exists only in a corpus" -- "$bin/nsm-sim" attest --ca "$ca" --fault pki_leaf_expired -o "$work/d"
expect 125 "need --fault" -- "$bin/nsm-sim" exec --ca "$ca" --fault-every 2 -- true
# issue 14 probe: attest wrote a valid document while saying which failure to expect
expect 1 "use them with serve or exec" -- "$bin/nsm-sim" attest --ca "$ca" --fault sig_der --fault-every 2 -o "$work/d"
expect 1 "use them with serve or exec" -- "$bin/nsm-sim" attest --ca "$ca" --fault sig_der --fault-rate 0.5 -o "$work/d"
expect 1 "exclude each other" -- "$bin/nsm-sim" serve --socket "$work/s" --ca "$ca" --fault sig_der --fault-every 2 --fault-rate 0.5
expect 125 "probability" -- "$bin/nsm-sim" exec --ca "$ca" --fault sig_der --fault-rate 2 -- true
expect 2 "unknown fault class" -- "$bin/nsm-sim" serve --socket "$work/s" --ca "$ca" --fault nope
"$bin/nsm-ca" init "$work/ca1" --intermediates 1 > /dev/null || { echo "cannot create a one-tier CA"; exit 1; }
expect 1 "needs 2 tiers" -- "$bin/nsm-sim" attest --ca "$work/ca1" --fault pki_zonal_expired -o "$work/d"
expect 1 "cannot be combined" -- "$bin/nsm-sim" attest --ca "$ca" --debug-mode --pcr "0=$(head -c 48 /dev/zero | od -An -v -tx1 | tr -d ' \n')" -o "$work/d"
expect 1 "no CA directory" -- "$bin/nsm-sim" attest --ca "$work/nope" -o "$work/d"
expect 1 "outside the root's validity" -- "$bin/nsm-sim" attest --ca "$ca" --time 1000000000 -o "$work/d"
expect 1 "cannot create" -- "$bin/nsm-sim" attest --ca "$ca" -o "$work/no/such/dir/doc"
# nsm-sim's numbered errors: the line names the code (nsmkit/sim_codes.h)
expect 2 "1400 USAGE: unknown option --colour" -- "$bin/nsm-sim" attest --ca "$ca" --colour red -o "$work/d"
expect 2 "1401 OPTION: --nonce" -- "$bin/nsm-sim" attest --ca "$ca" --nonce abc -o "$work/d"
expect 1 "1402 DEBUG_WITH_PCRS" -- "$bin/nsm-sim" attest --ca "$ca" --debug-mode --pcr "0=$(head -c 48 /dev/zero | od -An -v -tx1 | tr -d ' \n')" -o "$work/d"
expect 1 "1403 PKI: .*no CA directory" -- "$bin/nsm-sim" attest --ca "$work/nope" -o "$work/d"
expect 1 "1301 LEAF_ISSUE: .*outside the root's validity" -- "$bin/nsm-sim" attest --ca "$ca" --time 1000000000 -o "$work/d"
expect 1 "1406 OUTPUT: .*cannot create" -- "$bin/nsm-sim" attest --ca "$ca" -o "$work/no/such/dir/doc"

# a CA whose key others can read, a CA file that is garbage, a CA directory that is a file
cp -r "$ca" "$work/open"; chmod 0644 "$work/open/root.key"
expect 1 "too open" -- "$bin/nsm-sim" attest --ca "$work/open" -o "$work/d"
cp -r "$ca" "$work/garbage"; echo junk > "$work/garbage/root.pem"
expect 1 "not a PEM certificate" -- "$bin/nsm-sim" attest --ca "$work/garbage" -o "$work/d"
expect 1 "CERT_MALFORMED (2301)" -- "$bin/nsm-ca" show "$work/garbage"
# a FIFO where a CA file should be: refused at once, not waited on
cp -r "$ca" "$work/fifo"; rm "$work/fifo/ca.conf"; mkfifo "$work/fifo/ca.conf"
expect 1 "not a regular file" -- timeout 20 "$bin/nsm-sim" attest --ca "$work/fifo" -o "$work/d"
expect 1 "NOT_REGULAR_FILE (2205)" -- timeout 20 "$bin/nsm-ca" show "$work/fifo"
echo x > "$work/file"
expect 1 "not a directory" -- "$bin/nsm-sim" attest --ca "$work/file" -o "$work/d"
# An unreadable key: as root every file is readable, so run that one as nobody.
cp -r "$ca" "$work/locked"; chmod 000 "$work/locked/intermediates.pem"
as_user=""
if [ "$(id -u)" = 0 ]; then
    chown -R nobody "$work/locked"; chmod o+x "$work"
    as_user="setpriv --reuid=nobody --regid=nogroup --clear-groups --"
fi
if $as_user "$bin/nsm-sim" --help > /dev/null 2>&1; then
    expect 1 "Permission denied" -- $as_user "$bin/nsm-sim" attest --ca "$work/locked" -o /dev/null
else
    echo "SKIP: unreadable key file: cannot run nsm-sim as an unprivileged user here"
fi

expect 2 "init needs a DIR" -- "$bin/nsm-ca" init
expect 2 "must be 1, 2 or 3" -- "$bin/nsm-ca" init "$work/x" --intermediates 4
expect 2 "Unix seconds" -- "$bin/nsm-ca" init "$work/x" --time soon
expect 1 "bad region" -- "$bin/nsm-ca" init "$work/x" --region "US East"
expect 1 "ALREADY_EXISTS (2202): .*already holds a PKI" -- "$bin/nsm-ca" init "$ca"
expect 1 "NO_DIRECTORY (2200)" -- "$bin/nsm-ca" show "$work/nope"

# A CA directory others can write to is refused by name (issue 14's probe, finding A)
cp -r "$ca" "$work/shared"; chmod 0777 "$work/shared"
expect 1 "DIR_UNSAFE (2215): .*writable by everyone" -- "$bin/nsm-ca" show "$work/shared"
expect 1 "writable by everyone" -- "$bin/nsm-sim" attest --ca "$work/shared" -o "$work/d"
mkdir -m 0777 "$work/open-dir"
expect 1 "DIR_UNSAFE (2215)" -- "$bin/nsm-ca" init "$work/open-dir"
# A repaired PKI is news to whoever pinned its chain: said once, by the run that repaired it
# (finding C)
cp -r "$ca" "$work/repair"; echo junk > "$work/repair/intermediates.pem"
expect 0 "note: the intermediates were re-issued from the root" -- "$bin/nsm-sim" attest --ca "$work/repair" -o "$work/r.bin"
expect 0 "wrote a" -- "$bin/nsm-sim" attest --ca "$work/repair" -o "$work/r.bin"
grep -q "note:" "$work/err" && { echo "FAIL: the repair was announced twice"; failures=$((failures + 1)); }

# and what works: the first command a newcomer types, with no set-up at all
expect 0 "created a simulated Nitro PKI" -- "$bin/nsm-sim" attest -o "$work/first.bin"
[ -f "$XDG_STATE_HOME/nsmkit/ca/root.pem" ] || { echo "FAIL: no default PKI"; failures=$((failures + 1)); }
expect 0 "wrote a" -- "$bin/nsm-sim" attest -o "$work/second.bin"
grep -q "created" "$work/err" && { echo "FAIL: the default PKI was created twice"; failures=$((failures + 1)); }
expect 0 "region us-east-1" -- sh -c "\"$bin/nsm-ca\" show \"$ca\" >&2"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all CLI error checks passed"
