#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds an enclave image's bootstrap ramdisk (the first ramdisk of an EIF) with nsmkit's own
# init (qemu/enclave-init.c, which keeps AWS init's contract: NSM-FACTS section 12):
#
#   /init      the static enclave init
#   /nsm.ko    only with --nsm-ko FILE (AWS's images carry the Nitro NSM driver there; init
#              loads it when present and skips it silently when absent)
#   /dev /proc /sys   empty mount points
#
# Byte-reproducible: entries owned by 0:0 with mtime 0, in C-locale order (cpio --reproducible),
# uncompressed newc (the kernel reads it as it is; PCR1 measures these exact bytes).
#
# usage: build-bootstrap.sh --init FILE [--nsm-ko FILE] --output FILE
set -eu
die() { echo "build-bootstrap: $*" >&2; exit 2; }
init=""; nsmko=""; output=""
while [ $# -gt 0 ]; do
    case "$1" in
        --init|--nsm-ko|--output)
            [ $# -ge 2 ] || die "$1 needs a value"
            case "$1" in --init) init=$2 ;; --nsm-ko) nsmko=$2 ;; --output) output=$2 ;; esac
            shift 2 ;;
        --help|-h) sed -n '3,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (usage: build-bootstrap.sh --init FILE [--nsm-ko FILE] --output FILE)" ;;
    esac
done
[ -n "$init" ] && [ -n "$output" ] || die "usage: build-bootstrap.sh --init FILE [--nsm-ko FILE] --output FILE"
[ -f "$init" ] || die "no init at $init"
[ -z "$nsmko" ] || [ -f "$nsmko" ] || die "no module at $nsmko"
command -v cpio > /dev/null 2>&1 || die "cpio not found (Debian package cpio)"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT INT TERM
mkdir -p "$stage/dev" "$stage/proc" "$stage/sys"
cp "$init" "$stage/init"
chmod 0755 "$stage/init" "$stage/dev" "$stage/proc" "$stage/sys"
if [ -n "$nsmko" ]; then cp "$nsmko" "$stage/nsm.ko"; chmod 0644 "$stage/nsm.ko"; fi
mkdir -p "$(dirname "$output")"
(cd "$stage" && find . -exec touch -h -d @0 {} + &&
    find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) > "$output.tmp"
mv "$output.tmp" "$output"
