#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# nsm-qemu run-eif: boots an enclave image (EIF) in a QEMU guest, so that the image's own init
# and application run unmodified, with a /dev/nsm whose PCRs are the image's.
#
#   nsm-qemu run-eif [options] FILE.eif
#
# options:
#   --ca DIR               the simulated Nitro PKI (nsm-sim serve --ca; default: nsm-sim's)
#   --cid N                the enclave's CID on the vsock network (default 16; 4 or more)
#   --vsock-dir DIR        the vsock network (default $NSM_VSOCK_DIR, else
#                          ${XDG_RUNTIME_DIR:-/tmp}/nsmkit-vsock-<uid>): the parent side
#                          (CID 3), nsm-vsock proxy and other programs on DIR are reachable
#   --memory MIB           guest memory (default 512)
#   --cpus N               guest CPUs (default 1; TCG on a shared machine boots fastest so)
#   --debug-mode           as nitro-cli's: the measured PCRs (0, 1, 2, 3, 4, 8) read as zero
#   --pcr3 HEX             PCR3 (the parent's IAM role), or
#   --parent-role-arn ARN  PCR3 derived from it as the Nitro service does:
#                          SHA-384(48 zero bytes || ARN)
#   --pcr4 HEX             PCR4 (the parent's instance id), or
#   --parent-instance-id ID  PCR4 = SHA-384(48 zero bytes || ID); without either, nsm-sim's
#                          PCR4 (derived from its simulated instance id)
#   --timeout S            the watchdog: stop the guest after S seconds (default 300), exit 124
#   --console FILE         also write the console there, line by line, as it comes
#   --timings              print boot to the application's first attestation beside the
#                          kernel's boot to init, measured in the same run (uses socat)
#   --image DIR            the QEMU image (default build/qemu/image: Debian's cloud kernel and
#                          eif-overlay.cpio)
#
# What runs: the image's command line and ramdisks, unmodified and in order, then nsmkit's
# overlay ramdisk (/nsmkit/eif: virtio-mmio, vsock and CUSE modules, the CUSE /dev/nsm daemon,
# qemu/eif-init), on Debian's cloud kernel instead of the image's (QEMU 7.2 has no virtio NSM
# device and the image's kernel has no CUSE), on QEMU's microvm machine (virtio-mmio devices,
# no PCI, as the image's pci=off expects); rdinit=/nsmkit/eif/init is appended to the command
# line (and tsc_early_khz=<the host's TSC kHz>: microvm gives the kernel no clock to calibrate
# against under TCG: no HPET, no PM timer); the overlay moves the image's /nsm.ko aside and
# execs the image's /init.
# The malformed image is refused (nsm-eif's reason) before anything starts.
#
# Exit status: the enclave command's (nsmkit's init prints NSMKIT-ENCLAVE-EXIT <status>);
# 123 the enclave stopped without reporting one (a kernel panic - e.g. init died because the
# heartbeat failed - or an init that does not report), with the console's last lines;
# 124 the watchdog fired; 125 nsm-qemu's own errors (a malformed image included); 130 and 143
# on SIGINT and SIGTERM. Whatever it started is stopped, its temporary directory removed.
set -u

prog="nsm-qemu run-eif"
die() { echo "$prog: $*" >&2; exit 125; }
usage() { sed -n '3,46s/^# \{0,1\}//p' "$0"; }

here=$(cd "$(dirname "$0")" && pwd)
bin=${NSM_QEMU_BIN:-$here}
nsm_sim=${NSM_QEMU_NSM_SIM:-$bin/nsm-sim}
nsm_eif=${NSM_QEMU_NSM_EIF:-$bin/nsm-eif}
nsm_vsock=${NSM_QEMU_NSM_VSOCK:-$bin/nsm-vsock}
qemu=${NSM_QEMU_QEMU:-qemu-system-x86_64}

ca=""; cid=16; vsock_dir=""; memory=512; cpus=1; debug=0; pcr3=""; pcr4=""; role=""
instance=""; timeout=300; console_file=""; timings=0; image=""; eif=""
while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h) usage; exit 0 ;;
        --version) echo "nsm-qemu run-eif (nsmkit) @NSMKIT_VERSION@"; exit 0 ;;
        --debug-mode) debug=1; shift ;;
        --timings) timings=1; shift ;;
        --ca|--cid|--vsock-dir|--memory|--cpus|--pcr3|--pcr4|--parent-role-arn| \
        --parent-instance-id|--timeout|--console|--image)
            [ $# -ge 2 ] || die "$1 needs a value"
            case "$1" in
                --ca) ca=$2 ;; --cid) cid=$2 ;; --vsock-dir) vsock_dir=$2 ;;
                --memory) memory=$2 ;; --cpus) cpus=$2 ;; --pcr3) pcr3=$2 ;; --pcr4) pcr4=$2 ;;
                --parent-role-arn) role=$2 ;; --parent-instance-id) instance=$2 ;;
                --timeout) timeout=$2 ;; --console) console_file=$2 ;; --image) image=$2 ;;
            esac
            shift 2 ;;
        --) shift; [ $# -eq 1 ] || die "one image after --"; eif=$1; shift ;;
        -*) die "unknown option $1 (nsm-qemu run-eif --help)" ;;
        *) [ -z "$eif" ] || die "one image only ($eif, then $1)"; eif=$1; shift ;;
    esac
done
[ -n "$eif" ] || die "no image: nsm-qemu run-eif [options] FILE.eif (nsm-qemu run-eif --help)"
for v in "$cid" "$memory" "$cpus" "$timeout"; do
    case "$v" in ''|*[!0-9]*) die "--cid, --memory, --cpus and --timeout take whole numbers, not '$v'" ;; esac
done
[ ${#cid} -le 10 ] && [ "$cid" -ge 4 ] && [ "$cid" -le 4294967294 ] ||
    die "--cid must be an enclave's CID, 4 to 4294967294, not $cid"
[ ${#memory} -le 7 ] && [ "$memory" -ge 64 ] || die "--memory must be at least 64 (MiB), not $memory"
[ ${#cpus} -le 3 ] && [ "$cpus" -ge 1 ] && [ "$cpus" -le 64 ] || die "--cpus must be 1 to 64, not $cpus"
[ ${#timeout} -le 7 ] && [ "$timeout" -ge 1 ] || die "--timeout must be at least 1 (seconds)"
[ -z "$pcr3" ] || [ -z "$role" ] || die "--pcr3 and --parent-role-arn are two ways to give PCR3: one of them"
[ -z "$pcr4" ] || [ -z "$instance" ] || die "--pcr4 and --parent-instance-id are two ways to give PCR4: one of them"
is_pcr() { [ ${#1} -eq 96 ] && case "$1" in *[!0-9a-fA-F]*) false ;; *) true ;; esac; }
[ -z "$pcr3" ] || is_pcr "$pcr3" || die "--pcr3 takes 96 hex digits (SHA-384), not '$pcr3'"
[ -z "$pcr4" ] || is_pcr "$pcr4" || die "--pcr4 takes 96 hex digits (SHA-384), not '$pcr4'"
# The Nitro service's derivation (AWS's user guide, "Where to get an enclave's measurements"):
# an extend of the UTF-8 string itself, not of its hash.
extend_string() { { head -c 48 /dev/zero; printf '%s' "$1"; } | sha384sum | cut -c1-96; }
[ -z "$role" ] || pcr3=$(extend_string "$role")
[ -z "$instance" ] || pcr4=$(extend_string "$instance")
[ -n "$image" ] || image="$here/../qemu/image"
[ -n "$vsock_dir" ] || vsock_dir=${NSM_VSOCK_DIR:-${XDG_RUNTIME_DIR:-/tmp}/nsmkit-vsock-$(id -u)}

command -v "$qemu" > /dev/null 2>&1 || die "$qemu not found (Debian package qemu-system-x86)"
for p in "$nsm_sim" "$nsm_eif" "$nsm_vsock"; do
    [ -x "$p" ] || die "$(basename "$p") not found at $p (build it with make)"
done
[ "$timings" = 0 ] || command -v socat > /dev/null 2>&1 || die "--timings needs socat (Debian package socat)"
[ -f "$image/vmlinuz" ] && [ -f "$image/eif-overlay.cpio" ] ||
    die "no kernel and overlay in $image (run make qemu-image)"
[ -f "$eif" ] || die "no image at $eif"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nsm-qemu-eif.XXXXXX") || die "cannot create a temporary directory"
server_pid=""; qemu_pid=""; watchdog_pid=""; vsock_pid=""; heartbeat_pid=""; relay_pid=""
panic_pid=""; fifo_guard_pid=""
cleanup() {
    for p in $fifo_guard_pid $watchdog_pid $panic_pid $qemu_pid $server_pid $vsock_pid $heartbeat_pid $relay_pid; do
        kill "$p" 2> /dev/null
    done
    for p in $fifo_guard_pid $watchdog_pid $panic_pid $qemu_pid $server_pid $vsock_pid $heartbeat_pid $relay_pid; do
        wait "$p" 2> /dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- the image: one copy, read by the checker, the extractor and the NSM alike ------------
# (the PCRs in the documents are those of the bytes that boot, whatever happens to FILE)
cp "$eif" "$tmp/image.eif" 2> "$tmp/cp.err" || die "cannot read $eif: $(head -n 1 "$tmp/cp.err")"
"$nsm_eif" describe "$tmp/image.eif" > "$tmp/describe.txt" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    echo "$prog: $eif refused before boot (nsm-eif describe exit $rc):" >&2
    grep -v '^  section\|^PCR\|^CRC' "$tmp/describe.txt" | awk -v t="$tmp/image.eif" -v f="$eif" \
        -v p="$prog:   " '{ while ((i = index($0, t)) > 0) $0 = substr($0, 1, i - 1) f substr($0, i + length(t)); print p $0 }' |
        head -n 5 >&2
    exit 125
fi
mkdir "$tmp/eif"
"$nsm_eif" extract "$tmp/image.eif" "$tmp/eif" > /dev/null 2> "$tmp/extract.err" ||
    die "cannot extract $eif: $(head -n 2 "$tmp/extract.err")"
rm -f "$tmp/eif/kernel" # substituted: see above
cmdline=$(cat "$tmp/eif/cmdline")
nl='
'
case "$cmdline" in *"$nl"*) die "the image's command line holds a newline" ;; esac
ramdisks=$(cd "$tmp/eif" && ls | grep '^ramdisk[0-9]*$' | sort -t k -k 2n)
[ -n "$ramdisks" ] || die "the image has no ramdisk"
# The kernel reads concatenated archives, compressed or not, but finds an uncompressed one only
# at a 4-byte boundary, and skips zero bytes between them: each piece is padded with zeros.
: > "$tmp/initrd"
pad4() {
    size=$(wc -c < "$tmp/initrd")
    [ $((size % 4)) -eq 0 ] || head -c $((4 - size % 4)) /dev/zero >> "$tmp/initrd"
}
for r in $ramdisks; do
    cat "$tmp/eif/$r" >> "$tmp/initrd" || die "cannot assemble the ramdisks"
    rm -f "$tmp/eif/$r"
    pad4
done
cat "$image/eif-overlay.cpio" >> "$tmp/initrd" || die "cannot append the overlay"
append="$cmdline rdinit=/nsmkit/eif/init"
# microvm has neither HPET nor an ACPI PM timer, and under TCG on a loaded machine the kernel's
# PIT calibration of the TSC fails and its delay loop can stall for minutes: the guest is told
# the frequency its TSC runs at under TCG (the host's).
tsc_khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo 2> /dev/null)
[ -z "$tsc_khz" ] || [ "$tsc_khz" -lt 100000 ] || append="$append tsc_early_khz=$tsc_khz"

# ---- the host side: the NSM, the vsock device, the heartbeat ---------------------------------
# wait_for PID FILE WHAT: until FILE is a socket, or PID died (its log in $tmp/WHAT.log).
wait_for() {
    i=0
    while [ ! -S "$2" ]; do
        kill -0 "$1" 2> /dev/null || { wait "$1" 2> /dev/null; return 1; }
        i=$((i + 1)); [ $i -lt 1000 ] || die "$3 did not create $2 within 10 s"
        sleep 0.01
    done
}
start_nsm() {
    set -- --socket "$tmp/nsm.sock" --eif "$tmp/image.eif"
    [ -z "$ca" ] || set -- "$@" --ca "$ca"
    if [ "$debug" = 1 ]; then
        # a debug-mode enclave reads zeros in every boot PCR, 3 and 4 included (nsm-sim's)
        set -- "$@" --debug-mode
    else
        [ -z "$pcr3" ] || set -- "$@" --pcr "3=$pcr3"
        [ -z "$pcr4" ] || set -- "$@" --pcr "4=$pcr4"
    fi
    exec_bg "$tmp/serve.log" "$nsm_sim" serve "$@"; server_pid=$bg_pid
    wait_for "$server_pid" "$tmp/nsm.sock" "the NSM server" || { server_pid=""
        die "the NSM server did not start: $(grep -v 'listening' "$tmp/serve.log" | head -n 3)"; }
    nsm_chardev="$tmp/nsm.sock"
    if [ "$timings" = 1 ]; then
        # A relay that timestamps every transfer: the first document the host sends back is
        # the application's first attestation, whatever program asked for it.
        exec_bg "$tmp/relay.log" socat -d -v "UNIX-LISTEN:$tmp/relay.sock,fork" "UNIX-CONNECT:$tmp/nsm.sock"
        relay_pid=$bg_pid
        wait_for "$relay_pid" "$tmp/relay.sock" "the timing relay" || { relay_pid=""
            die "the timing relay (socat) did not start: $(head -n 2 "$tmp/relay.log")"; }
        nsm_chardev="$tmp/relay.sock"
    fi
}
# exec_bg LOG COMMAND...: COMMAND in the background (exec'd, so bg_pid is COMMAND itself).
exec_bg() {
    log=$1; shift
    ( exec "$@" < /dev/null > /dev/null 2> "$log" ) &
    bg_pid=$!
}
start_vsock() {
    exec_bg "$tmp/vsock.log" "$nsm_vsock" vhost-user --socket "$tmp/vsock.sock" --cid "$cid" --dir "$vsock_dir"
    vsock_pid=$bg_pid
    wait_for "$vsock_pid" "$tmp/vsock.sock" "the vsock backend" || { vsock_pid=""
        die "the vsock backend did not start: $(head -n 3 "$tmp/vsock.log")"; }
    # The heartbeat: ours, unless something on DIR already listens on (3, 9000).
    exec_bg "$tmp/heartbeat.log" "$nsm_vsock" heartbeat --dir "$vsock_dir"
    heartbeat_pid=$bg_pid
    i=0
    until grep -q answering "$tmp/heartbeat.log" 2> /dev/null; do
        if ! kill -0 "$heartbeat_pid" 2> /dev/null; then
            wait "$heartbeat_pid" 2> /dev/null; heartbeat_pid=""
            grep -q 'in use' "$tmp/heartbeat.log" ||
                die "the heartbeat responder did not start: $(head -n 2 "$tmp/heartbeat.log")"
            heartbeat_note="answered by the listener already on $vsock_dir/3.9000"
            return 0
        fi
        i=$((i + 1)); [ $i -lt 1000 ] || die "the heartbeat responder did not start within 10 s"
        sleep 0.01
    done
    heartbeat_note="answered by nsm-vsock heartbeat (started for this run)"
}
say_what_runs() {
    kernel_pkg=$(awk '/^kernel-package/ { print $2 " " $3 }' "$image/manifest.txt" 2> /dev/null)
    n=$(echo "$ramdisks" | wc -l)
    {
        echo "$prog: image $eif: $(grep -m1 '^PCR0' "$tmp/describe.txt")"
        echo "$prog:   the image's: command line (kept; appended: ${append#"$cmdline "}), $n ramdisks (unmodified, in order: its init and application run as built)"
        echo "$prog:   substituted: the kernel (Debian's ${kernel_pkg:-cloud kernel}: QEMU 7.2 has no virtio NSM device for the image's nsm.ko, and /dev/nsm is a CUSE device); added: the overlay ramdisk /nsmkit/eif (virtio-mmio, vsock and CUSE modules, the /dev/nsm daemon; it moves /nsm.ko aside, then execs /init)"
        echo "$prog:   machine: QEMU microvm (TCG, virtio-mmio devices, no PCI, as pci=off expects), $cpus CPU(s), $memory MiB; vsock CID $cid on $vsock_dir; heartbeat $heartbeat_note"
        if [ "$debug" = 1 ]; then echo "$prog:   debug mode: PCR0-4 and 8 read as zero"
        else
            pcr4_text=${pcr4:-"nsm-sim's own (from its simulated instance id)"}
            echo "$prog:   NSM: PCR0/1/2${pcr8:-} the image's, PCR3 ${pcr3:-zero (no role)}, PCR4 $pcr4_text"
        fi
    } >&2
}

# ---- the guest ---------------------------------------------------------------------------------
start_guest() {
    mkfifo "$tmp/console" || die "mkfifo failed"
    start_ns=$(date +%s%N)
    # vhost-user needs the guest's memory shared with the backend (a memfd)
    "$qemu" -M microvm,memory-backend=mem -accel tcg -m "$memory" -smp "$cpus" \
        -nodefaults -no-user-config -display none -no-reboot \
        -object memory-backend-memfd,id=mem,size="${memory}M",share=on \
        -chardev file,id=con,path="$tmp/console" -serial chardev:con \
        -kernel "$image/vmlinuz" -initrd "$tmp/initrd" -append "$append" \
        -device virtio-serial-device \
        -chardev socket,id=nsm,path="$nsm_chardev",reconnect=1 \
        -device virtserialport,chardev=nsm,name=nsm \
        -chardev socket,id=vsock,path="$tmp/vsock.sock" -device vhost-user-vsock-device,chardev=vsock \
        < /dev/null > /dev/null 2> "$tmp/qemu.err" &
    qemu_pid=$!
    (
        trap 'kill $s 2> /dev/null; exit 0' TERM
        sleep "$timeout" < /dev/null > /dev/null 2>&1 & s=$!
        wait $s
        echo "$prog: watchdog: the enclave did not finish within $timeout s; stopping it" >&2
        : > "$tmp/watchdog"
        kill "$qemu_pid" 2> /dev/null
    ) &
    watchdog_pid=$!
    # A QEMU that dies before it opens the console (a bad option, no memory) would leave the
    # reader below blocked in open() until the watchdog: once QEMU is gone, this opens the
    # FIFO read-write (never blocks) and closes it, so the reader gets its end of file.
    (
        # (gone, or a zombie: its parent, this script, waits for it only after reading)
        while :; do
            state=$(sed 's/.*) //' "/proc/$qemu_pid/stat" 2> /dev/null | cut -c1)
            case "$state" in ''|Z|X) break ;; esac
            sleep 0.2
        done
        exec 3<> "$tmp/console"
    ) &
    fifo_guard_pid=$!
}
ms_since_start() { echo $((($(date +%s%N) - start_ns) / 1000000)); }
# The console: streamed to stdout (and --console FILE) as it comes, the last lines kept for the
# report; markers timed; a kernel panic stops the guest at once (the image's panic=N would
# otherwise keep it a while, and -no-reboot ends QEMU on the reboot anyway).
watch_console() {
    status=""; panicked=0
    cr=$(printf '\r')
    if [ -n "$console_file" ]; then exec 4>> "$console_file" || die "cannot write $console_file"
    else exec 4> /dev/null; fi
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line%"$cr"}
        case "$line" in
            NSMKIT-ENCLAVE-EXIT\ *) status=${line#NSMKIT-ENCLAVE-EXIT }; printf '%s\n' "$line" >&4; continue ;;
            *NSMKIT-EIF-OVERLAY*) t_overlay=$(ms_since_start) ;;
            *NSMKIT-EIF-IMAGE-INIT*) t_image_init=$(ms_since_start) ;;
            *"Kernel panic - not syncing"*)
                if [ $panicked = 0 ]; then
                    panicked=1
                    ( sleep 1; kill "$qemu_pid" 2> /dev/null ) & panic_pid=$!
                fi ;;
        esac
        printf '%s\n' "$line"
        printf '%s\n' "$line" >&4
        printf '%s\n' "$line" >> "$tmp/console.log"
    done < "$tmp/console"
    exec 4>&-
}
# The first transfer of 1000 bytes or more from the NSM server to the guest (socat -v: "<"),
# in ms since QEMU started: the first attestation document (other replies are far smaller).
first_document_ms() {
    ts=$(grep -ao '< [0-9/]* [0-9:.]*  *length=[0-9]*' "$tmp/relay.log" 2> /dev/null |
        awk '{ n = substr($4, 8) + 0; if (n >= 1000) { print $2 " " $3; exit } }')
    [ -n "$ts" ] || return 1
    # socat 1.7.4 prints the microseconds as nine digits ("HH:MM:SS.000uuuuuu")
    s=$(date -d "$(echo "${ts%.*}" | tr / -)" +%s 2> /dev/null) || return 1
    us=$(echo "${ts##*.}" | sed 's/^0*//'); us=$(( ${us:-0} % 1000000 ))
    echo $(((s * 1000000 + us) / 1000 - start_ns / 1000000))
}
report_timings() {
    [ "$timings" = 1 ] || return 0
    doc=$(first_document_ms) || doc=""
    {
        echo "$prog: timings (ms from QEMU's start, TCG, $cpus CPU(s)):"
        echo "$prog:   the kernel's boot to init (the overlay's first line):     ${t_overlay:-?}"
        echo "$prog:   the overlay done, the image's /init started:               ${t_image_init:-?}"
        if [ -n "$doc" ]; then
            echo "$prog:   the application's first attestation (document sent):    $doc"
            [ -z "${t_overlay:-}" ] ||
                echo "$prog:   boot to first attestation = $(awk -v a="$doc" -v b="$t_overlay" 'BEGIN { printf "%.2f", a / (b > 0 ? b : 1) }')x the boot to init; of which the image's init and application: $((doc - ${t_image_init:-0})) ms"
        else
            echo "$prog:   the application asked for no attestation document"
        fi
    } >&2
}
last_lines() {
    echo "$prog: $1; the console's last lines:" >&2
    if [ "$panicked" = 1 ]; then
        # the lines before the panic say why (init's last words), not the stack dump after it
        awk '/Kernel panic - not syncing/ { n = NR } { l[NR] = $0 }
             END { for (i = (n > 12 ? n - 12 : 1); i <= n; i++) print l[i] }' "$tmp/console.log"
    else
        tail -n 15 "$tmp/console.log"
    fi 2> /dev/null | sed "s/^/$prog: | /" >&2
}
boot_and_watch() {
    start_guest
    watch_console
    wait "$qemu_pid"; qemu_rc=$?; qemu_pid=""
    kill "$watchdog_pid" 2> /dev/null; wait "$watchdog_pid" 2> /dev/null; watchdog_pid=""
    [ -z "$panic_pid" ] || { wait "$panic_pid" 2> /dev/null; panic_pid=""; }
    wait "$fifo_guard_pid" 2> /dev/null; fifo_guard_pid=""
    sleep 0.2 # the server sees the guest's connection close before it is stopped
    report_timings
    if [ -n "${NSM_QEMU_SERVER_LOG:-}" ]; then cp "$tmp/serve.log" "$NSM_QEMU_SERVER_LOG"; fi
    if [ -n "${NSM_QEMU_RELAY_LOG:-}" ] && [ -f "$tmp/relay.log" ]; then cp "$tmp/relay.log" "$NSM_QEMU_RELAY_LOG"; fi
    if [ -e "$tmp/watchdog" ]; then last_lines "stopped by the watchdog"; exit 124; fi
    if [ ! -s "$tmp/console.log" ] && [ "$qemu_rc" != 0 ]; then
        echo "$prog: QEMU did not start the guest (exit $qemu_rc)" >&2
        sed "s/^/$prog: qemu: /" "$tmp/qemu.err" | head -n 5 >&2
        exit 125
    fi
    case "$status" in
        ''|*[!0-9]*)
            if [ "$panicked" = 1 ]; then last_lines "the enclave's kernel panicked (its init died?)"
            else last_lines "the enclave stopped without reporting an exit status (QEMU exit $qemu_rc)"; fi
            [ -s "$tmp/qemu.err" ] && sed "s/^/$prog: qemu: /" "$tmp/qemu.err" | head -n 5 >&2
            exit 123 ;;
    esac
    [ "$status" = 0 ] || last_lines "the enclave's command exited with status $status"
    exit "$status"
}

start_nsm
heartbeat_note=""
start_vsock
! grep -q "^signed: yes" "$tmp/describe.txt" || pcr8="/8"
say_what_runs
boot_and_watch
