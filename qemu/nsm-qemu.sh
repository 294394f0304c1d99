#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# nsm-qemu: runs a command in a QEMU guest whose /dev/nsm (a CUSE character device) is
# served by `nsm-sim serve` on this host, over a virtio-serial port. The keys and the NSM
# state never enter the guest.
#
#   nsm-qemu run [image options] [run options] [state options] -- COMMAND [ARGS]
#
# image options:
#   --image DIR          the image built by `make qemu-image` (default: ../qemu/image beside
#                        this script, i.e. build/qemu/image)
#   --kernel FILE        bring your own kernel (with CUSE, virtio_pci and virtio_console,
#   --initrd FILE        built in or as loadable modules) and initramfs: nsm-qemu appends
#                        the nsmkit layer (busybox, /nsmkit/init, the CUSE daemon) to it
#   --add HOST:GUEST     copy a file or directory into the guest (repeatable)
# run options:
#   --timeout SECONDS    the watchdog: stop the guest after this long (default 300)
#   --memory MB          guest memory (default 256)
#   --timings            print boot-to-first-attestation and round-trip times
#   --rtt-count N        round trips per request kind for --timings (default 30)
# vsock options (both or neither):
#   --vsock-dir DIR      give the guest a virtio-vsock device on the vsock network DIR,
#   --cid N              as CID N (nsm-vsock vhost-user, started and stopped here)
# state options: every option of `nsm-sim serve` (--ca, --time, --pcr, --measurements,
#   --debug-mode, --map, and the faulty-document modes --fault, --fault-every,
#   --fault-rate, --seed, --no-resign)
#
# COMMAND runs in the guest under /bin/sh as root in /root, its output (stdout and stderr)
# streamed here; nsm-qemu exits with its status, 124 when the watchdog stopped the guest,
# 125 for its own errors. Everything it starts is stopped and its temporary directory
# (the server's socket included) removed on every exit path.
#
#   nsm-qemu run-eif [--ca DIR] [--cid N] [--memory MIB] [--cpus N] [--debug-mode]
#       [--vsock-dir DIR] [--timeout S] [--timings] [--console FILE] [--image DIR]
#       [--pcr3 HEX|--parent-role-arn ARN] [--pcr4 HEX|--parent-instance-id ID] FILE.eif
# boots an enclave image: its own init and application, unmodified, with /dev/nsm holding its
# PCRs, the heartbeat answered and vsock on DIR (nsm-qemu run-eif --help: every option).
set -u

prog=nsm-qemu
die() { echo "$prog: $*" >&2; exit 125; }

here=$(cd "$(dirname "$0")" && pwd)
version=@NSMKIT_VERSION@ # filled in by the Makefile
help() { sed -n '3,37s/^# \{0,1\}//p' "$0"; }
# --help and --version answer at the top and after run, before the guest command's --
# run-eif (issue 21): its own script, installed beside this one (it answers --help itself)
if [ "${1:-}" = run-eif ]; then shift; exec sh "${NSM_QEMU_RUN_EIF:-$here/nsm-qemu-run-eif}" "$@"; fi
name=nsm-qemu; [ "${1:-}" = run ] && name="nsm-qemu run"
for arg in "$@"; do
    case "$arg" in
        --) break ;;
        --help|-h) help; exit 0 ;;
        --version) echo "$name (nsmkit) $version"; exit 0 ;;
    esac
done
[ "${1:-}" = run ] || die "usage: nsm-qemu run [options] -- COMMAND [ARGS] (nsm-qemu --help)"
shift

image=""; kernel=""; initrd=""; timeout=300; memory=256; timings=0; rtt_count=30
adds_file=""
vsock_dir=""; vsock_cid=""; vsock_pid=""
nsm_vsock=${NSM_QEMU_NSM_VSOCK:-$here/nsm-vsock}
state=""
nsm_sim=${NSM_QEMU_NSM_SIM:-$here/nsm-sim}
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nsm-qemu.XXXXXX") || die "cannot create a temporary directory"
server_pid=""; qemu_pid=""; watchdog_pid=""
cleanup() {
    for p in $watchdog_pid $qemu_pid $server_pid $vsock_pid; do kill "$p" 2> /dev/null; done
    for p in $watchdog_pid $qemu_pid $server_pid $vsock_pid; do wait "$p" 2> /dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; break ;;
        --image|--kernel|--initrd|--add|--timeout|--memory|--rtt-count|--vsock-dir|--cid)
            [ $# -ge 2 ] || die "$1 needs a value"
            case "$1" in
                --image) image=$2 ;;
                --kernel) kernel=$2 ;;
                --initrd) initrd=$2 ;;
                --add) printf '%s\n' "$2" >> "$tmp/adds"; adds_file="$tmp/adds" ;;
                --timeout) timeout=$2 ;;
                --memory) memory=$2 ;;
                --rtt-count) rtt_count=$2 ;;
                --vsock-dir) vsock_dir=$2 ;;
                --cid) vsock_cid=$2 ;;
            esac
            shift 2 ;;
        --timings) timings=1; shift ;;
        --debug-mode|--no-resign) state="$state $(quote "$1")"; shift ;; # nsm-sim's flags
        --*)
            [ $# -ge 2 ] || die "$1 needs a value (or is unknown: see nsm-sim serve --help)"
            state="$state $(quote "$1") $(quote "$2")"; shift 2 ;;
        *) die "unexpected $1: put the guest command after --" ;;
    esac
done
[ $# -gt 0 ] || die "no command: nsm-qemu run [options] -- COMMAND [ARGS]"
for v in "$timeout" "$memory" "$rtt_count"; do
    case "$v" in ''|*[!0-9]*) die "--timeout, --memory and --rtt-count take whole numbers, not $v" ;; esac
done
[ "$timeout" -gt 0 ] || die "--timeout must be at least 1"
if [ -n "$vsock_dir$vsock_cid" ]; then
    [ -n "$vsock_dir" ] && [ -n "$vsock_cid" ] || die "--vsock-dir and --cid go together"
    [ -x "$nsm_vsock" ] || die "nsm-vsock not found at $nsm_vsock (build it with make)"
fi

qemu=${NSM_QEMU_QEMU:-qemu-system-x86_64}
command -v "$qemu" > /dev/null 2>&1 || die "$qemu not found (Debian package qemu-system-x86)"
command -v cpio > /dev/null 2>&1 || die "cpio not found (Debian package cpio)"
[ -x "$nsm_sim" ] || die "nsm-sim not found at $nsm_sim (build it with make)"

if [ -n "$kernel" ] || [ -n "$initrd" ]; then
    [ -n "$kernel" ] && [ -n "$initrd" ] || die "--kernel and --initrd go together"
    [ -n "$image" ] || image="$here/../qemu/image"
    [ -f "$image/nsmkit.cpio" ] || die "no nsmkit layer at $image/nsmkit.cpio (run make qemu-image)"
    base="$initrd"; layer="$image/nsmkit.cpio"
else
    [ -n "$image" ] || image="$here/../qemu/image"
    kernel="$image/vmlinuz"; base="$image/initramfs.cpio"; layer=""
fi
[ -f "$kernel" ] || die "no kernel at $kernel (run make qemu-image)"
[ -f "$base" ] || die "no initramfs at $base (run make qemu-image)"

# ---- the host side: one simulated NSM for this guest ---------------------------------------
sock="$tmp/nsm.sock"
# exec: $! is the server itself, so that cleanup stops it and nothing holds our output open
eval "exec \"\$nsm_sim\" serve --socket \"\$sock\" $state" < /dev/null > /dev/null 2> "$tmp/serve.log" &
server_pid=$!
i=0
while [ ! -S "$sock" ]; do
    if ! kill -0 "$server_pid" 2> /dev/null; then
        wait "$server_pid" 2> /dev/null; server_pid=""
        die "the NSM server did not start: $(grep -v '^nsm-sim serve: listening' "$tmp/serve.log" | head -n 3)"
    fi
    i=$((i + 1)); [ $i -lt 1000 ] || die "the NSM server did not create $sock within 10 s"
    sleep 0.01
done

# ---- the guest's vsock: a vhost-user backend joining it to DIR as CID N -----------------------
vsock_args=""
if [ -n "$vsock_cid" ]; then
    vsock_sock="$tmp/vhost-vsock.sock"
    "$nsm_vsock" vhost-user --socket "$vsock_sock" --cid "$vsock_cid" --dir "$vsock_dir" \
        < /dev/null > /dev/null 2> "$tmp/vsock.log" &
    vsock_pid=$!
    i=0
    while [ ! -S "$vsock_sock" ]; do
        if ! kill -0 "$vsock_pid" 2> /dev/null; then
            wait "$vsock_pid" 2> /dev/null; vsock_pid=""
            die "the vsock backend did not start: $(head -n 3 "$tmp/vsock.log")"
        fi
        i=$((i + 1)); [ $i -lt 1000 ] || die "the vsock backend did not create its socket within 10 s"
        sleep 0.01
    done
    # vhost-user needs the guest's memory shared with the backend (a memfd)
    vsock_args="-object memory-backend-memfd,id=mem,size=${memory}M,share=on -machine memory-backend=mem
        -chardev socket,id=vsock,path=$vsock_sock -device vhost-user-vsock-pci,chardev=vsock"
fi

# ---- the run layer: the command, the settings, the user's files -----------------------------
run="$tmp/run"
mkdir -p "$run/nsmkit/run"
{
    printf 'exec'
    for a in "$@"; do printf ' %s' "$(quote "$a")"; done
    printf '\n'
} > "$run/nsmkit/run/cmd"
{
    echo "NSMKIT_TIMINGS=$timings"
    echo "NSMKIT_RTT_COUNT=$rtt_count"
    echo "NSMKIT_VSOCK_CID=$vsock_cid"
} > "$run/nsmkit/run/config"
if [ -n "$adds_file" ]; then
    while IFS= read -r add; do
        src=${add%%:*}; dst=${add#*:}
        [ "$src" != "$add" ] && [ -n "$dst" ] || die "--add takes HOST:GUEST, not $add"
        case "$dst" in /*) ;; *) die "--add $add: the guest path must be absolute" ;; esac
        [ -e "$src" ] || die "--add $add: $src does not exist"
        mkdir -p "$run$(dirname "$dst")"
        cp -R "$src" "$run$dst" || die "--add $add: cannot copy"
    done < "$adds_file"
fi
(cd "$run" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$tmp/run.cpio" ||
    die "cannot pack the run layer"
cat "$base" $layer "$tmp/run.cpio" > "$tmp/initrd" || die "cannot assemble the initramfs"

# ---- the guest ---------------------------------------------------------------------------------
mkfifo "$tmp/console" || die "mkfifo failed"
start_ns=$(date +%s%N)
"$qemu" -accel tcg -m "$memory" -nodefaults -no-user-config -display none -no-reboot \
    -chardev file,id=con,path="$tmp/console" -serial chardev:con \
    -bios qboot.rom -kernel "$kernel" -initrd "$tmp/initrd" \
    -append "console=ttyS0 quiet loglevel=1 panic=-1 mitigations=off rdinit=/nsmkit/init" \
    -device virtio-serial-pci \
    -chardev socket,id=nsm,path="$sock",reconnect=1 -device virtserialport,chardev=nsm,name=nsm \
    $vsock_args \
    < /dev/null > /dev/null 2> "$tmp/qemu.err" &
qemu_pid=$!
(
    trap 'kill $s 2> /dev/null; exit 0' TERM
    sleep "$timeout" < /dev/null > /dev/null 2>&1 & s=$!
    wait $s
    echo "$prog: watchdog: the guest did not finish within $timeout s; stopping it" >&2
    : > "$tmp/watchdog"
    kill "$qemu_pid" 2> /dev/null
) &
watchdog_pid=$!

status=""
ms_since_start() { echo $((($(date +%s%N) - start_ns) / 1000000)); }
while IFS= read -r line || [ -n "$line" ]; do
    [ -z "$status" ] || continue # after the exit marker: the kernel's goodbye
    case "$line" in
        NSMQEMU-EXIT\ *) status=${line#NSMQEMU-EXIT } ;;
        NSMQEMU-FIRST-ATTESTATION\ *)
            echo "$prog: boot to first attestation: $(ms_since_start) ms (QEMU start to a document in the guest, TCG)" >&2 ;;
        NSMQEMU-RTT\ *)
            set -- ${line#NSMQEMU-RTT }
            d=${1#describe_pcr_us=}; a=${2#attestation_us=}; p=${4#pipe_us=}
            [ "$p" -gt 0 ] 2> /dev/null || p=1
            echo "$prog: guest round trip (median of ${3#n=}): DescribePCR $d us, Attestation $a us; a pipe round trip between two guest processes in the same run: $p us (DescribePCR = $((d / p)).$((d * 10 / p % 10))x, Attestation = $((a / p)).$((a * 10 / p % 10))x)" >&2 ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$tmp/console"
wait "$qemu_pid"; qemu_rc=$?; qemu_pid=""
kill "$watchdog_pid" 2> /dev/null; wait "$watchdog_pid" 2> /dev/null; watchdog_pid=""
# A moment for the server to see the guest's connection close (and log a frame it cut
# short) before it is told to stop.
sleep 0.5
kill "$server_pid" 2> /dev/null; wait "$server_pid" 2> /dev/null; server_pid=""
if [ -n "$vsock_pid" ]; then
    kill "$vsock_pid" 2> /dev/null; wait "$vsock_pid" 2> /dev/null; vsock_pid=""
    if [ -n "${NSM_QEMU_VSOCK_LOG:-}" ]; then cp "$tmp/vsock.log" "$NSM_QEMU_VSOCK_LOG"; fi
fi
if [ -n "${NSM_QEMU_SERVER_LOG:-}" ]; then cp "$tmp/serve.log" "$NSM_QEMU_SERVER_LOG"; fi

if [ -e "$tmp/watchdog" ]; then exit 124; fi
case "$status" in
    ''|*[!0-9]*)
        echo "$prog: the guest stopped without reporting a status (QEMU exit $qemu_rc)" >&2
        [ -s "$tmp/qemu.err" ] && sed "s/^/$prog: qemu: /" "$tmp/qemu.err" | head -n 5 >&2
        exit 125 ;;
esac
exit "$status"
