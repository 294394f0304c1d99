#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Makes a grading corpus (nsm-vectors grade --dir) from the real captured documents of the
# shared folder, for verifiers that can only trust the AWS root:
#
#   NSMKIT_SHARED=../shared sh docs/grades/real-corpus.sh OUTDIR   (repository root, after make)
#
# writes OUTDIR/manifest.tsv, OUTDIR/root.pem (the AWS Nitro Enclaves Root-G1 copy kept there)
# and OUTDIR/docs/ (links to the documents). Expectations: the documents directly in
# vectors/real are valid real NSM output (accept, layer valid), those in vectors/real/invalid
# are not (reject, layer signature: the only kind there is a changed signature byte); see
# vectors/real/INDEX.md. Each is verified at its own timestamp (its leaf lived ~3 hours), which
# is read with nsm-verify --dump. The strict column holds nsm-verify's own strict-profile
# verdict (the real documents exceed the AWS guide's letter in places); grade with the aws
# profile for an independent truth. No relying-party expectations are set (no PCR, nonce...).
set -eu
out=${1:?usage: real-corpus.sh OUTDIR}
real=${NSMKIT_SHARED:-../shared}/vectors/real
bin=${NSMKIT_BIN:-build/bin}
[ -f "$real/aws-nitro-root-g1.pem" ] || { echo "real-corpus: $real not found: set NSMKIT_SHARED" >&2; exit 2; }
[ -x "$bin/nsm-verify" ] || { echo "real-corpus: $bin/nsm-verify missing: run make first" >&2; exit 2; }
real=$(cd "$real" && pwd)
mkdir -p "$out/docs"
cp "$real/aws-nitro-root-g1.pem" "$out/root.pem"
tab=$(printf '\t')
{
    printf 'name\tclass\tlayer\tfile\tverify_time\taws\tstrict\terror\terror_strict\tpcr0\tnonce\tuser_data\tpublic_key\tmax_age\trefuse_debug\tdescription\n'
    for doc in "$real"/*.bin "$real"/invalid/*.bin; do
        [ -f "$doc" ] || continue
        name=$(basename "$doc" .bin)
        case $doc in
            "$real"/invalid/*) class=real_invalid layer=signature aws=reject
                               what="real document made invalid (INDEX.md)" ;;
            *) class=real layer=valid aws=accept what="real NSM output (INDEX.md)" ;;
        esac
        ms=$("$bin/nsm-verify" --dump "$doc" | sed -n 's/^  timestamp *\([0-9][0-9]*\) .*/\1/p')
        [ -n "$ms" ] || { echo "real-corpus: $doc: no timestamp" >&2; exit 1; }
        time=$((ms / 1000))
        if "$bin/nsm-verify" --quiet --root "$out/root.pem" --time "$time" --profile strict "$doc"; then
            strict=accept
        else
            strict=reject
        fi
        ln -sf "$doc" "$out/docs/$name.bin"
        printf '%s\n' "$name$tab$class$tab$layer${tab}docs/$name.bin$tab$time$tab$aws$tab$strict$tab-$tab-$tab$tab$tab$tab$tab$tab${tab}$what"
    done
} > "$out/manifest.tsv"
echo "real-corpus: $(($(wc -l < "$out/manifest.tsv") - 1)) documents in $out"
