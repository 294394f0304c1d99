#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the QEMU guest image for nsm-qemu from Debian bookworm packages, reproducibly:
#
#   OUT/vmlinuz        Debian's cloud kernel (linux-image-*-cloud-amd64), as packaged
#   OUT/modules.cpio   the modules /dev/nsm needs (virtio PCI and console, fuse, cuse)
#   OUT/nsmkit.cpio    the nsmkit layer: busybox (busybox-static), /nsmkit/init, the static
#                      CUSE daemon, the guest test tools and the shared libraries the
#                      dynamically linked ones need (libcbor has no static library in Debian)
#   OUT/initramfs.cpio modules.cpio then nsmkit.cpio (the kernel reads concatenated archives)
#   OUT/eif-overlay.cpio what nsm-qemu run-eif appends to an enclave image's ramdisks
#                      (/nsmkit/eif: busybox, the CUSE daemon, qemu/eif-init, virtio-mmio modules)
#   OUT/manifest.txt   every input with its package version and SHA-256, and the outputs'
#
# Same inputs, same bytes: every file is owned by 0:0 with mtime 0, the archives list their
# files in C-locale order (cpio --reproducible), and nothing of this machine (user, time,
# path) enters them.
#
# usage: build-image.sh --build BUILD_DIR --out OUT_DIR [--add HOST_PATH:GUEST_PATH]...
# Environment: NSMKIT_QEMU_KERNEL_PKG names the kernel package (default: what
# linux-image-cloud-amd64 depends on); NSMKIT_QEMU_DEBS is the download cache
# (default BUILD_DIR/qemu/debs); NSMKIT_QEMU_APT_UPDATE=0 forbids the one `apt-get update`
# tried (as root) when apt does not know a package.
set -eu

die() { echo "nsm-qemu image: $*" >&2; exit 1; }
say() { echo "nsm-qemu image: $*" >&2; }
# human BYTES: "27.1 MB", "928 kB"
human() { awk -v b="${1:-0}" 'BEGIN { if (b >= 1000000) printf "%.1f MB", b / 1000000; else printf "%d kB", (b + 999) / 1000 }'; }

build=""; out=""; adds=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --add) adds="$adds
$2"; shift 2 ;;
        *) die "unknown argument $1 (usage: build-image.sh --build DIR --out DIR [--add HOST:GUEST]...)" ;;
    esac
done
[ -n "$build" ] && [ -n "$out" ] || die "usage: build-image.sh --build DIR --out DIR [--add HOST:GUEST]..."

for tool in apt-get apt-cache dpkg-deb cpio sha256sum ldd; do
    command -v "$tool" > /dev/null 2>&1 || die "missing tool $tool (Debian packages: apt, dpkg, cpio, coreutils, libc-bin)"
done

guest="$build/qemu/guest"
debs=${NSMKIT_QEMU_DEBS:-$build/qemu/debs}
for f in nsm-sim nsm-probe devnsm_client blog_client; do
    [ -x "$guest/$f" ] || die "missing $guest/$f (run make qemu-image)"
done
[ -f "$build/lib/libnsm.so" ] || die "missing $build/lib/libnsm.so (run make)"
mkdir -p "$debs" "$out"
debs=$(cd "$debs" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

# ---- Debian packages: downloaded once into the cache, never installed ----------------------

# fetch PACKAGE: prints the path of PACKAGE's .deb in the cache, downloading it if needed.
fetch() {
    pkg=$1
    ver=$(apt-cache policy "$pkg" 2> /dev/null | awk '/Candidate:/ { print $2 }')
    if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
        # a fresh machine may have no package lists yet
        if [ "$(id -u)" = 0 ] && [ "${NSMKIT_QEMU_APT_UPDATE:-1}" != 0 ]; then
            apt-get update -qq > /dev/null 2>&1 || true
        fi
        ver=$(apt-cache policy "$pkg" 2> /dev/null | awk '/Candidate:/ { print $2 }')
    fi
    [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "Debian package $pkg is not known to apt (apt-get update?)"
    file_ver=$(printf '%s' "$ver" | sed 's/:/%3a/')
    deb=$(ls "$debs/${pkg}_${file_ver}_"*.deb 2> /dev/null | head -n 1 || true)
    if [ -z "$deb" ]; then
        # what is fetched, from where and how big, then its progress every 2 s (on stderr:
        # stdout is the .deb's path)
        uri=$(cd "$debs" && apt-get download --print-uris "$pkg=$ver" 2> /dev/null | head -n 1)
        url=$(printf '%s' "$uri" | awk '{ print $1 }' | tr -d "'")
        name=$(printf '%s' "$uri" | awk '{ print $2 }')
        size=$(printf '%s' "$uri" | awk '{ print $3 }')
        say "fetching $pkg $ver ($(human "$size")) from ${url:-the Debian archive} into $debs"
        (cd "$debs" && apt-get download -q "$pkg=$ver" > "$debs/download.log" 2>&1) &
        dl=$!
        while kill -0 "$dl" 2> /dev/null; do
            sleep 2
            kill -0 "$dl" 2> /dev/null || break
            have=$(stat -c %s "$debs/$name" 2> /dev/null || echo 0)
            say "  $pkg: $(human "$have") of $(human "$size")"
        done
        wait "$dl" ||
            die "cannot download Debian package $pkg=$ver: $(grep -E '^(E|Err)' "$debs/download.log" | head -n 1)"
        deb=$(ls "$debs/${pkg}_${file_ver}_"*.deb 2> /dev/null | head -n 1 || true)
        [ -n "$deb" ] || die "apt-get download $pkg=$ver left no .deb in $debs"
        say "  $pkg: done ($(human "$(stat -c %s "$deb")"))"
    else
        say "using $pkg $ver from the cache: $deb"
    fi
    echo "$deb"
}

kpkg=${NSMKIT_QEMU_KERNEL_PKG:-}
if [ -z "$kpkg" ]; then
    kpkg=$(apt-cache depends linux-image-cloud-amd64 2> /dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
    if [ -z "$kpkg" ] && [ "$(id -u)" = 0 ]; then
        apt-get update -qq > /dev/null 2>&1 || true
        kpkg=$(apt-cache depends linux-image-cloud-amd64 2> /dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
    fi
    [ -n "$kpkg" ] || die "cannot resolve Debian package linux-image-cloud-amd64 to a kernel package (apt-get update?)"
fi
kdeb=$(fetch "$kpkg")
bdeb=$(fetch busybox-static)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT INT TERM

# ---- kernel and modules --------------------------------------------------------------------

mkdir -p "$stage/kernel"
dpkg-deb --fsys-tarfile "$kdeb" | (cd "$stage/kernel" && tar -x --wildcards './boot/vmlinuz-*' \
    './lib/modules/*/kernel/drivers/virtio/*' './lib/modules/*/kernel/drivers/char/virtio_console.ko' \
    './lib/modules/*/kernel/fs/fuse/*' './lib/modules/*/kernel/net/vmw_vsock/*') ||
    die "cannot unpack $kdeb"
vmlinuz=$(ls "$stage"/kernel/boot/vmlinuz-* | head -n 1)
kver=${vmlinuz##*/vmlinuz-}
mods="$stage/kernel/lib/modules/$kver/kernel"
mkdir -p "$stage/modules/nsmkit/modules"
# NSM-FACTS 9: the load order; the package ships no modules.dep, so init loads these by path
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev \
    drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci drivers/char/virtio_console \
    fs/fuse/fuse fs/fuse/cuse net/vmw_vsock/vsock net/vmw_vsock/vmw_vsock_virtio_transport_common \
    net/vmw_vsock/vmw_vsock_virtio_transport; do
    [ -f "$mods/$m.ko" ] || die "kernel package $kpkg has no module $(basename "$m").ko"
    cp "$mods/$m.ko" "$stage/modules/nsmkit/modules/"
done
printf '%s\n' virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
    virtio_console fuse cuse vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport \
    > "$stage/modules/nsmkit/modules/order"

# ---- the nsmkit layer ----------------------------------------------------------------------

n="$stage/nsmkit"
mkdir -p "$n/nsmkit/bin" "$n/nsmkit/tests" "$n/lib64" "$n/lib/x86_64-linux-gnu" "$n/bin" \
    "$n/sbin" "$n/proc" "$n/sys" "$n/dev" "$n/tmp" "$n/root" "$n/etc"
dpkg-deb --fsys-tarfile "$bdeb" | (cd "$stage" && tar -x ./bin/busybox) || die "cannot unpack $bdeb"
cp "$stage/bin/busybox" "$n/bin/busybox"
cp "$here/init" "$n/nsmkit/init"
chmod 0755 "$n/nsmkit/init"
cp "$guest/nsm-sim" "$guest/nsm-probe" "$n/nsmkit/bin/"
cp "$guest/devnsm_client" "$guest/blog_client" "$n/nsmkit/tests/"
# vsock in the guest: the static test client, and Debian's socat (dynamic, with its
# libraries below) when this machine has it: a vsock program nobody here wrote.
if [ -x "$guest/vsock_guest" ]; then cp "$guest/vsock_guest" "$n/nsmkit/tests/"; fi
socat=$(command -v socat || true)
if [ -n "$socat" ]; then mkdir -p "$n/usr/bin" && cp -L "$socat" "$n/usr/bin/socat"; fi
cp "$here/guest-tests.sh" "$n/nsmkit/tests/guest-tests.sh"
# The drop-in libnsm and what the dynamically linked clients need, from this machine's
# Debian packages (recorded in the manifest with their versions).
cp "$build/lib/libnsm.so" "$n/lib/x86_64-linux-gnu/"
libs=$(LD_LIBRARY_PATH="$build/lib" ldd "$guest/devnsm_client" "$guest/blog_client" $socat |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/lib64\/ld-linux/ { print $1 }' | sort -u)
for lib in $libs; do
    case "$lib" in
        */libnsm.so) continue ;;
        /lib64/*) cp -L "$lib" "$n/lib64/" ;;
        *) cp -L "$lib" "$n/lib/x86_64-linux-gnu/" ;;
    esac
done
echo "root:x:0:0:root:/root:/bin/sh" > "$n/etc/passwd"

# User files: --add HOST_PATH:GUEST_PATH (a file or a directory, copied with its modes).
echo "$adds" | while IFS= read -r add; do
    [ -n "$add" ] || continue
    src=${add%%:*}; dst=${add#*:}
    [ "$src" != "$add" ] && [ -n "$dst" ] || die "--add takes HOST_PATH:GUEST_PATH, not $add"
    case "$dst" in /*) ;; *) die "--add $add: the guest path must be absolute" ;; esac
    [ -e "$src" ] || die "--add $add: $src does not exist"
    mkdir -p "$n$(dirname "$dst")"
    cp -R "$src" "$n$dst"
done

# pack DIR ARCHIVE: a newc archive of DIR, reproducible.
pack() {
    (cd "$1" && find . -exec touch -h -d @0 {} + &&
        find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) > "$2"
}
pack "$stage/modules" "$stage/modules.cpio"
pack "$n" "$stage/nsmkit.cpio"

# ---- the run-eif overlay: appended to an enclave image's own ramdisks ----------------------
# Everything under /nsmkit/eif, so no file of the image is replaced: busybox, the CUSE
# daemon, the init run before the image's (qemu/eif-init) and the modules for the microvm
# machine's virtio-mmio devices, in load order (nsm-qemu run-eif, qemu/README.md).
e="$stage/eif/nsmkit/eif"
mkdir -p "$e/modules"
cp "$stage/bin/busybox" "$guest/nsm-sim" "$e/"
cp "$here/eif-init" "$e/init"
chmod 0755 "$e/init"
eif_modules="virtio_ring virtio virtio_mmio virtio_console fuse cuse vsock
    vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport"
for m in $eif_modules; do
    f=$(find "$mods" -name "$m.ko" | head -n 1)
    [ -n "$f" ] || die "kernel package $kpkg has no module $m.ko"
    cp "$f" "$e/modules/"
done
printf '%s\n' $eif_modules > "$e/modules/order"
pack "$stage/eif" "$stage/eif-overlay.cpio"

cp "$vmlinuz" "$out/vmlinuz.new"
cp "$stage/modules.cpio" "$out/modules.cpio.new"
cp "$stage/nsmkit.cpio" "$out/nsmkit.cpio.new"
cp "$stage/eif-overlay.cpio" "$out/eif-overlay.cpio.new"
cat "$stage/modules.cpio" "$stage/nsmkit.cpio" > "$out/initramfs.cpio.new"

{
    echo "# nsm-qemu guest image: inputs and outputs (sha256)"
    echo "kernel-package $kpkg $(dpkg-deb -f "$kdeb" Version) $(sha256sum < "$kdeb" | cut -d' ' -f1)"
    echo "busybox-package busybox-static $(dpkg-deb -f "$bdeb" Version) $(sha256sum < "$bdeb" | cut -d' ' -f1)"
    for lib in $libs; do
        pkg=$(dpkg -S "$lib" 2> /dev/null | head -n 1 | cut -d: -f1 || true)
        [ -n "$pkg" ] || pkg=$(dpkg -S "$(readlink -f "$lib")" 2> /dev/null | head -n 1 | cut -d: -f1 || true)
        case "$lib" in */libnsm.so) continue ;; esac
        ver=$(dpkg-query -W -f='${Version}' "$pkg" 2> /dev/null || echo unknown)
        echo "library $(basename "$lib") ${pkg:-unknown} $ver $(sha256sum < "$lib" | cut -d' ' -f1)"
    done
    for f in nsm-sim nsm-probe devnsm_client blog_client; do
        echo "nsmkit $f $(sha256sum < "$guest/$f" | cut -d' ' -f1)"
    done
    echo "nsmkit libnsm.so $(sha256sum < "$build/lib/libnsm.so" | cut -d' ' -f1)"
    if [ -x "$guest/vsock_guest" ]; then
        echo "nsmkit vsock_guest $(sha256sum < "$guest/vsock_guest" | cut -d' ' -f1)"
    fi
    if [ -n "$socat" ]; then
        echo "program socat socat $(dpkg-query -W -f='${Version}' socat 2> /dev/null) $(sha256sum < "$socat" | cut -d' ' -f1)"
    fi
    for f in vmlinuz modules.cpio nsmkit.cpio initramfs.cpio eif-overlay.cpio; do
        echo "output $f $(sha256sum < "$out/$f.new" | cut -d' ' -f1)"
    done
} > "$out/manifest.txt.new"
for f in vmlinuz modules.cpio nsmkit.cpio initramfs.cpio eif-overlay.cpio manifest.txt; do
    mv "$out/$f.new" "$out/$f"
done
echo "nsm-qemu image: $out (kernel $kver, initramfs $(wc -c < "$out/initramfs.cpio") bytes, sha256 $(sha256sum < "$out/initramfs.cpio" | cut -c1-16)...)"
