#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `make qemu-image` says what it downloads and how far it is (issue 23): qemu/build-image.sh
# names each Debian package it fetches with its version, size and source, prints its progress
# while it downloads (every 2 s), and says when it uses its cache instead. Run against stand-in
# apt-get and apt-cache that serve a slow download from a local file: no network, no packages.
set -u
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

fake="$work/bin"; build="$work/build"
mkdir -p "$fake" "$build/qemu/guest" "$build/lib"
for f in nsm-sim nsm-probe devnsm_client blog_client; do
    printf '#!/bin/sh\n' > "$build/qemu/guest/$f" && chmod 755 "$build/qemu/guest/$f"
done
: > "$build/lib/libnsm.so"
# apt-cache: the kernel package linux-image-cloud-amd64 depends on, and candidate versions
cat > "$fake/apt-cache" <<'EOS'
#!/bin/sh
case "$1" in
    depends) echo "linux-image-cloud-amd64"; echo "  Depends: linux-image-6.1.0-99-cloud-amd64" ;;
    policy) echo "$2:"; echo "  Installed: (none)"; echo "  Candidate: 1:1.0-1" ;;
esac
EOS
# apt-get download: --print-uris as apt prints it; a download of 3 MB written in three steps
cat > "$fake/apt-get" <<'EOS'
#!/bin/sh
[ "$1" = download ] || exit 0
if [ "$2" = --print-uris ]; then
    pkg=${3%%=*}
    echo "'http://deb.example/pool/$pkg.deb' ${pkg}_1%3a1.0-1_amd64.deb 3000000 SHA256:00"
    exit 0
fi
spec=$3; [ "$spec" = -q ] && spec=$4
pkg=${spec%%=*}
file="${pkg}_1%3a1.0-1_amd64.deb"
for i in 1 2 3; do head -c 1000000 /dev/zero >> "$file"; case $pkg in linux-image*) sleep 1.5 ;; esac; done
echo "Get:1 http://deb.example $pkg [3000 kB]"
EOS
chmod 755 "$fake/apt-cache" "$fake/apt-get"

PATH="$fake:$PATH" NSMKIT_QEMU_DEBS="$work/debs" sh qemu/build-image.sh --build "$build" --out "$work/out" \
    > "$work/out.log" 2> "$work/err.log"
# (it stops later, at unpacking the stand-in kernel: only the messages until then matter)
grep -q "^nsm-qemu image: fetching linux-image-6.1.0-99-cloud-amd64 1:1.0-1 (3.0 MB) from http://deb.example/pool/linux-image-6.1.0-99-cloud-amd64.deb into $work/debs" "$work/err.log" &&
    ok "says what it fetches: $(grep -m1 fetching "$work/err.log" | cut -c1-100)" ||
    fail "no line naming the download: $(head -n 5 "$work/err.log")"
progress=$(grep -c '^nsm-qemu image:   linux-image-6.1.0-99-cloud-amd64: [0-9.]* [Mk]B of 3.0 MB$' "$work/err.log")
[ "$progress" -ge 1 ] && ok "progress while downloading ($progress lines: $(grep -m1 ' of 3.0 MB' "$work/err.log"))" ||
    fail "no progress lines: $(head -n 8 "$work/err.log")"
grep -q 'linux-image-6.1.0-99-cloud-amd64: done (3.0 MB)' "$work/err.log" && grep -q 'fetching busybox-static' "$work/err.log" &&
    ok "says when each download is done, and fetches busybox-static next" || fail "no done line: $(cat "$work/err.log")"

# a second run finds both in the cache and says so
PATH="$fake:$PATH" NSMKIT_QEMU_DEBS="$work/debs" sh qemu/build-image.sh --build "$build" --out "$work/out" \
    > /dev/null 2> "$work/err2.log"
grep -q 'using busybox-static 1:1.0-1 from the cache' "$work/err2.log" && ! grep -q fetching "$work/err2.log" &&
    ok "a second run uses the cache and says so" || fail "second run: $(head -n 5 "$work/err2.log")"

[ "$failures" -eq 0 ] || exit 1
