#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Regenerates the seed corpora under fuzz/corpus/ from the simulator (with the fixture PKI
# and clock of fuzz/fixture.h) and, when given, the real documents of $NSMKIT_SHARED.
# A maintainer's tool: the corpora it writes are committed. Needs `make` done first.
#   sh fuzz/make-seeds.sh            (from the top of the tree)
set -eu
BUILD=${BUILD:-build}
SIM="$BUILD/bin/nsm-sim"
C=fuzz/corpus
SIM_TIME_MS=1790000600000   # FUZZ_SIM_TIME_MS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r fuzz/pki "$work/ca"
chmod 700 "$work/ca"; chmod 600 "$work/ca"/*

hexfile() { printf '%s' "$1" | xxd -r -p > "$2"; }
# u16 little-endian of a number, as hex
le16() { printf '%02x%02x' $(($1 & 255)) $(($1 >> 8)); }
le32() { printf '%02x%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24)); }
size() { wc -c < "$1" | tr -d ' '; }

rm -rf "$C"/fuzz_verify "$C"/fuzz_verify_structured "$C"/fuzz_envelope "$C"/fuzz_payload \
       "$C"/fuzz_request_seq "$C"/fuzz_device "$C"/fuzz_framing "$C"/fuzz_cuse
mkdir -p "$C"/fuzz_verify "$C"/fuzz_verify_structured "$C"/fuzz_envelope "$C"/fuzz_payload \
         "$C"/fuzz_request "$C"/fuzz_request_seq "$C"/fuzz_device "$C"/fuzz_framing "$C"/fuzz_cuse

# ---- documents: the simulator's, in the shapes it can take ---------------------------------
attest() { name=$1; shift
    "$SIM" attest --ca "$work/ca" --time "$SIM_TIME_MS" "$@" -o "$work/$name.doc"; }
attest sim-plain
attest sim-indefinite --map indefinite
attest sim-all-fields --nonce 6e736d6b69742066757a7a696e672100 --user-data 00 --public-key 0102030405060708
attest sim-debug --debug-mode --nonce 6e736d6b69742066757a7a696e672100
head -c 1024 fuzz/pki/intermediates.pem > "$work/1024"
attest sim-big-fields --nonce @"$work/1024" --user-data @"$work/1024" --public-key @"$work/1024"
attest sim-pcr --pcr 3=$(printf '%096d' 7) --map indefinite
for d in "$work"/*.doc; do
    n=$(basename "$d" .doc)
    cp "$d" "$C/fuzz_verify/$n"; cp "$d" "$C/fuzz_verify_structured/$n"; cp "$d" "$C/fuzz_envelope/$n"
    # the payload: 84 44 a1 01 38 22 a0 59 LL LL <payload> (the simulator's envelope)
    len=$(od -An -tu1 -j8 -N2 "$d" | awk '{print $1 * 256 + $2}')
    tail -c +11 "$d" | head -c "$len" > "$C/fuzz_payload/$n"
done

# ---- real documents (public, from the projects INDEX.md names) ------------------------------
if [ -n "${NSMKIT_SHARED:-}" ] && [ -d "$NSMKIT_SHARED/vectors/real" ]; then
    for f in veracruz-go_aws_nitro_document anchorage_turnkey-preprod vaportpm_nitrotpm_2026-02-01 \
             hf-nitrite_pr2_nitrite_test blocky_nitro_attestation evervault_beta_debug-mode-attestation-doc-bytes; do
        src="$NSMKIT_SHARED/vectors/real/$f.bin"
        [ -f "$src" ] || continue
        cp "$src" "$C/fuzz_verify/real-$f"; cp "$src" "$C/fuzz_envelope/real-$f"
        cp "$src" "$C/fuzz_verify_structured/real-$f"
    done
fi

# ---- requests ---------------------------------------------------------------------------------
req() { hexfile "$2" "$C/fuzz_request/$1"; }
DESCRIBE_NSM=6b44657363726962654e534d
GET_RANDOM=6947657452616e646f6d
DESCRIBE_PCR16=a16b4465736372696265504352a165696e64657810
EXTEND_PCR16=a169457874656e64504352a265696e646578106464617461430102a3
LOCK_PCR16=a1674c6f636b504352a165696e64657810
LOCK_PCRS20=a1684c6f636b50435273a16572616e67651814
ATTEST_NULLS=a16b4174746573746174696f6ea369757365725f64617461f6656e6f6e6365f66a7075626c69635f6b6579f6
ATTEST_NONCE=a16b4174746573746174696f6ea369757365725f64617461416b656e6f6e636544000102036a7075626c69635f6b6579f6
req describe-pcr16 $DESCRIBE_PCR16
req lock-pcrs-20 $LOCK_PCRS20
req attestation-nonce $ATTEST_NONCE

seq_of() { out=$1; shift; hex=""
    for r in "$@"; do hex="$hex$(le16 $((${#r} / 2)))$r"; done
    hexfile "$hex" "$C/fuzz_request_seq/$out"; }
seq_of extend-describe $EXTEND_PCR16 $DESCRIBE_PCR16
seq_of extend-lock-extend $EXTEND_PCR16 $LOCK_PCR16 $EXTEND_PCR16 $DESCRIBE_PCR16
seq_of lockrange-extend-attest $LOCK_PCRS20 $EXTEND_PCR16 $ATTEST_NONCE
seq_of describe-random $DESCRIBE_NSM $GET_RANDOM $ATTEST_NULLS

# ---- the device: [fail mask][device][u16 argp offset][struct nsm_raw][request] ---------------
BASE=00007f0000000000
addr() { printf '%016x' $((0x7f0000000000 + $1)) | sed 's/../& /g' | awk '{for (i = 8; i >= 1; i--) printf "%s", $i}'; }
le64() { printf '%016x' "$1" | sed 's/../& /g' | awk '{for (i = 8; i >= 1; i--) printf "%s", $i}'; }
dev() { name=$1 mask=$2 devsel=$3 req=$4 cap=$5
    hexfile "$mask$devsel$(le16 256)$(addr 4096)$(le64 $((${#req} / 2)))$(addr 8192)$(le64 "$cap")$req" \
        "$C/fuzz_device/$name"; }
dev describe-nsm 00 00 $DESCRIBE_NSM 12288
dev attest-truncated 00 00 $ATTEST_NONCE 100
dev extend-response-fault 08 00 $EXTEND_PCR16 12288
dev request-fault 02 00 $DESCRIBE_PCR16 12288
dev device-eio 00 01 $GET_RANDOM 12288

# ---- CUSE: what /dev/cuse delivers (records of u16 length || message; linux/fuse.h) --------
# fuse_in_header: len u32, opcode u32, unique u64, nodeid u64, uid, gid, pid u32, u16 u16
CUSE_INIT=4096 FUSE_OPEN=14 FUSE_RELEASE=18 FUSE_IOCTL=39 FUSE_FORGET=2 FUSE_READ=15
NSM_IOCTL_RAW=3223325184  # 0xC0200A00
UNRESTRICTED=2
cuse_unique=0
cuse_msg() { opcode=$1 body=$2; cuse_unique=$((cuse_unique + 1))
    m="$(le32 $((40 + ${#body} / 2)))$(le32 "$opcode")$(le64 $cuse_unique)$(le64 0)$(le32 0)$(le32 0)$(le32 4242)$(le32 0)$body"
    printf '%s%s' "$(le16 $((${#m} / 2)))" "$m"; }
# fuse_ioctl_in: fh u64, flags u32, cmd u32, arg u64, in_size u32, out_size u32, then in bytes
cuse_ioctl() { cmd=$1 in=$2 out_size=$3
    cuse_msg $FUSE_IOCTL "$(le64 0)$(le32 $UNRESTRICTED)$(le32 "$cmd")$(addr 256)$(le32 $((${#in} / 2)))$(le32 "$out_size")$in"; }
# struct nsm_raw: request {addr, len}, response {addr, len}
nsm_raw() { printf '%s%s%s%s' "$(addr 4096)" "$(le64 "$1")" "$(addr 8192)" "$(le64 "$2")"; }
cuse_call() { req=$1 cap=$2 rlen=$((${#1} / 2)); c=$cap; [ "$c" -gt 12288 ] && c=12288
    cuse_ioctl $NSM_IOCTL_RAW "" 0
    cuse_ioctl $NSM_IOCTL_RAW "$(nsm_raw $rlen "$cap")" 0
    cuse_ioctl $NSM_IOCTL_RAW "$(nsm_raw $rlen "$cap")$req" $((32 + c)); }
CUSE_START="$(cuse_msg $CUSE_INIT "$(le32 7)$(le32 38)$(le32 0)$(le32 0)")$(cuse_msg $FUSE_OPEN "$(le32 2)$(le32 0)")"
hexfile "$CUSE_START$(cuse_call $DESCRIBE_PCR16 12288)$(cuse_msg $FUSE_RELEASE "$(le64 0)$(le32 0)$(le32 0)$(le64 0)")" \
    "$C/fuzz_cuse/describe-pcr"
hexfile "$CUSE_START$(cuse_call $EXTEND_PCR16 12288)$(cuse_call $LOCK_PCR16 100)$(cuse_call $ATTEST_NONCE 12288)" \
    "$C/fuzz_cuse/extend-lock-attest"
# the caller changes the lengths between passes: a fresh RETRY, then the call
hexfile "$CUSE_START$(cuse_ioctl $NSM_IOCTL_RAW "$(nsm_raw 2 50)" 0)$(cuse_call $GET_RANDOM 50)" \
    "$C/fuzz_cuse/lengths-changed"
hexfile "$CUSE_START$(cuse_ioctl $NSM_IOCTL_RAW "$(nsm_raw 4097 100)" 0)$(cuse_ioctl 1 "" 0)$(cuse_msg $FUSE_READ "")$(cuse_msg $FUSE_FORGET "$(le64 1)")" \
    "$C/fuzz_cuse/refusals"

# ---- framing: what a peer sends ------------------------------------------------------------
frame() { printf '%s%s' "$(le32 $((${#1} / 2)))" "$1"; }
hexfile "$(frame $DESCRIBE_NSM)$(frame $EXTEND_PCR16)" "$C/fuzz_framing/two-requests"
hexfile "$(frame "")$(frame $GET_RANDOM)" "$C/fuzz_framing/empty-then-request"
hexfile "$(frame $ATTEST_NULLS | head -c 40)" "$C/fuzz_framing/cut-short"
hexfile "01$(le32 12289)00" "$C/fuzz_framing/too-large"
echo "seeds written under $C/"
