#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `make install` into a DESTDIR, then what a C user does with it: build a program with
# pkg-config alone (shared, then static), run it, and read the man pages. Also checks the
# shape of what was installed: SONAMEs and their links, exported symbols, headers without
# libcbor's, programs linking only the libraries they use.
set -u
BUILD=${BUILD:-build}
SANITIZE=${SANITIZE:-}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
root="$work/root"
prefix=/usr/local
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

${MAKE:-make} --no-print-directory -s BUILD="$BUILD" SANITIZE="$SANITIZE" PREFIX="$prefix" \
    DESTDIR="$root" install > "$work/install.log" 2>&1 || { cat "$work/install.log"; echo "FAIL: make install"; exit 1; }
lib="$root$prefix/lib"; inc="$root$prefix/include"

# libraries: real file, SONAME link, development link; only their own prefix exported
# (libnsmfault also exports the parser of the device's state options, which knows its classes)
for pair in nsmkit:nsmkit_ nsmca:nsmca_ nsmverify:nsmv_ nsmsim:nsmsim_ \
            'nsmfault:\(nsmfault_\|nsmsim_options_parse_arg\)'; do
    n=${pair%%:*}; prefix_sym=${pair#*:}
    [ -f "$lib/lib$n.so.0.1.0" ] || fail "lib$n.so.0.1.0 missing"
    [ "$(readlink "$lib/lib$n.so.0")" = "lib$n.so.0.1.0" ] || fail "lib$n.so.0 does not point at lib$n.so.0.1.0"
    [ "$(readlink "$lib/lib$n.so")" = "lib$n.so.0" ] || fail "lib$n.so does not point at lib$n.so.0"
    readelf -d "$lib/lib$n.so.0.1.0" | grep -q "SONAME.*\[lib$n.so.0\]" || fail "lib$n: SONAME is not lib$n.so.0"
    others=$(nm -D --defined-only "$lib/lib$n.so.0.1.0" | awk '{print $3}' | grep -v "^$prefix_sym" | head -3)
    [ -z "$others" ] || fail "lib$n exports more than $prefix_sym*: $others"
    [ -f "$lib/lib$n.a" ] || fail "lib$n.a missing"
    [ -f "$lib/pkgconfig/$n.pc" ] || fail "$n.pc missing"
done
# the drop-in libnsm, as before
for f in lib/libnsm.so lib/libnsm.a lib/libnsm-sim-preload.so include/nsm.h; do
    [ -f "$root$prefix/$f" ] || fail "$f missing"
done
# the NSM core stands without the fault machinery and the verifier
needs=$(readelf -d "$lib/libnsmsim.so.0.1.0" | sed -n 's/.*NEEDED.*\[\(libnsm[a-z]*\).*/\1/p' | sort | tr '\n' ' ')
[ "$needs" = "libnsmca libnsmkit " ] || fail "libnsmsim needs $needs, want libnsmca libnsmkit"
[ ! -e "$inc/nsmkit/cbor.h" ] || fail "nsmkit/cbor.h (libcbor's types) installed though no public API needs it"
# programs link only what they use
needed() { readelf -d "$root$prefix/bin/$1" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | sed 's/\.so.*//' | sort | tr '\n' ' '; }
[ -z "$SANITIZE" ] || echo "(sanitizer build: its runtime libraries are left out of the comparison)"
check_needed() {
    got=$(needed "$1" | tr ' ' '\n' | grep -v -e '^libasan' -e '^libubsan' -e '^$' | tr '\n' ' ')
    [ "$got" = "$2" ] || fail "$1 links $got, want $2"
}
check_needed nsm-ca "libc libcrypto "
# (nettle's libhogweed on GMP signs and verifies P-384 for nsm-sim and nsm-verify;
# libfuse3 serves nsm-sim's FUSE /dev/nsm)
check_needed nsm-verify "libc libcbor libcrypto libgmp libhogweed "
check_needed nsm-sim "libc libcbor libcrypto libfuse3 libgmp libhogweed libjansson libz "   # jansson: --measurements; zlib: --eif (CRC-32)
check_needed nsm-kms "libc libcbor libcrypto libgmp libhogweed libjansson libmicrohttpd "
check_needed nsm-eif "libc libcbor libcrypto libgmp libhogweed libjansson libz "

# a program built with pkg-config alone
export PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root"
san=${SANITIZE:+-fsanitize=$SANITIZE}
cflags=$(pkg-config --cflags nsmsim nsmverify) && libs=$(pkg-config --libs nsmsim nsmverify) ||
    fail "pkg-config cannot resolve nsmsim nsmverify"
echo "pkg-config --cflags --libs nsmsim nsmverify: $cflags $libs"
if cc -std=c11 -Wall -Wextra -Werror $san $cflags tests/install_client.c $libs -o "$work/client" 2> "$work/cc.log"; then
    mkdir "$work/ca-shared"
    LD_LIBRARY_PATH="$lib" "$work/client" "$work/ca-shared/pki" || fail "the program built against the shared libraries failed"
    readelf -d "$work/client" | grep -q 'NEEDED.*libnsmverify.so.0' || fail "the program does not use libnsmverify.so.0"
else
    cat "$work/cc.log"; fail "cannot build a program with pkg-config (shared)"
fi
# and statically: our archives by the names pkg-config --static gives, system libraries shared
static_libs=$(pkg-config --static --libs nsmsim nsmverify | tr ' ' '\n' |
    sed -e "s|^-l\(nsm[a-z]*\)$|$lib/lib\1.a|" | tr '\n' ' ')
echo "static: $static_libs"
if cc -std=c11 $san $cflags tests/install_client.c $static_libs -pthread -o "$work/client-static" 2> "$work/cc.log"; then
    mkdir "$work/ca-static"
    "$work/client-static" "$work/ca-static/pki" || fail "the statically linked program failed"
    readelf -d "$work/client-static" | grep -q 'NEEDED.*libnsm' && fail "the static program still needs a shared nsmkit library"
else
    cat "$work/cc.log"; fail "cannot build a program with pkg-config --static (Libs.private/Requires.private wrong?)"
fi

# man pages: one per program, rendering without warnings
for p in nsm-ca nsm-sim nsm-verify nsm-vectors nsm-kms nsm-eif; do
    page="$root$prefix/share/man/man1/$p.1"
    [ -f "$page" ] || { fail "man page $p.1 missing"; continue; }
    if command -v groff > /dev/null 2>&1; then
        warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
        [ -z "$warnings" ] || fail "$p.1: $warnings"
        groff -man -Tutf8 "$page" 2> /dev/null | grep -q "$p" || fail "$p.1 renders without its name"
    elif command -v man > /dev/null 2>&1; then
        MANWIDTH=80 man -l "$page" 2> /dev/null | grep -q "$p" || fail "$p.1 does not render"
    else
        echo "SKIP: neither groff nor man is installed: $p.1 not rendered"
    fi
done

# ---- a second install to another prefix (issue 23): its .pc files point at it --------------------
# The paths are a stamp the .pc files depend on: without it the second install copied the first
# prefix's files, and a program built with pkg-config looked for headers in the wrong tree.
prefix2=/opt/nsmkit-second
root2="$work/root2"
if ${MAKE:-make} --no-print-directory -s BUILD="$BUILD" SANITIZE="$SANITIZE" PREFIX="$prefix2" \
        DESTDIR="$root2" install > "$work/install2.log" 2>&1; then
    pc2="$root2$prefix2/lib/pkgconfig/nsmverify.pc"
    grep -q "^prefix=$prefix2\$" "$pc2" && grep -q "^libdir=$prefix2/lib\$" "$pc2" &&
        grep -q "^includedir=$prefix2/include\$" "$pc2" &&
        echo "ok: second install: nsmverify.pc says prefix=$prefix2" ||
        fail "second install: nsmverify.pc is $(grep -E '^(prefix|libdir|includedir)=' "$pc2" | tr '\n' ' ')"
    grep -q "^prefix=$prefix\$" "$lib/pkgconfig/nsmverify.pc" ||
        fail "the first install's nsmverify.pc changed"
    grep -q '^License: Apache-2.0$' "$pc2" && echo "ok: nsmverify.pc names its licence (License: Apache-2.0)" ||
        fail "nsmverify.pc has no License: line"
    # built against the second tree alone, without the first (removed), as a user would
    rm -rf "$root"
    cflags2=$(PKG_CONFIG_PATH="$root2$prefix2/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root2" pkg-config --cflags --libs nsmverify) ||
        fail "pkg-config cannot resolve nsmverify in the second prefix"
    cat > "$work/pc2.c" <<'EOC'
#include <stdio.h>
#include "nsmkit/verify.h"
int main(void) { printf("%s\n", nsmv_code_name(NSMV_OK)); return 0; }
EOC
    # shellcheck disable=SC2086
    if cc -std=c11 $san "$work/pc2.c" $cflags2 -o "$work/pc2" 2> "$work/cc2.log" &&
       LD_LIBRARY_PATH="$root2$prefix2/lib" "$work/pc2" > "$work/pc2.out" 2>&1; then
        echo "ok: a program builds and runs with pkg-config --cflags --libs nsmverify against the second prefix"
    else
        fail "building against the second prefix: $(head -c 400 "$work/cc2.log") $(cat "$work/pc2.out" 2> /dev/null)"
    fi
    [ -f "$root2$prefix2/share/nsmkit/vectors/manifest.tsv" ] &&
        [ "$(ls "$root2$prefix2/share/nsmkit/vectors/docs" | wc -l)" -eq "$(ls vectors/docs | wc -l)" ] &&
        echo "ok: the corpus is installed under share/nsmkit/vectors" || fail "the corpus is not installed"
    [ -f "$root2$prefix2/share/nsmkit/LICENSE" ] || fail "LICENSE not installed"
    # outside a checkout, nsm-vectors grades with the installed corpus (found from its own bin/)
    (cd "$work" && "$root2$prefix2/bin/nsm-vectors" grade --jobs 2 --cmd 'true {doc}') > "$work/nv.out" 2> "$work/nv.err"
    grep -q "on $root2$prefix2/bin/../share/nsmkit/vectors: $(($(wc -l < vectors/manifest.tsv) - 1)) documents" "$work/nv.out" &&
        echo "ok: outside a checkout, nsm-vectors grade uses the installed corpus" ||
        fail "nsm-vectors grade outside a checkout: $(head -n 2 "$work/nv.out" "$work/nv.err")"
    # without either, it says where it looked and how to name one
    cp "$BUILD/bin/nsm-vectors" "$work/nsm-vectors"
    (cd "$work" && ./nsm-vectors grade --cmd 'true {doc}') > "$work/nv.out" 2>&1
    [ $? -eq 2 ] && grep -q 'no corpus: .*--dir DIR' "$work/nv.out" &&
        echo "ok: no corpus anywhere: $(cut -c1-90 "$work/nv.out")" || fail "no corpus: $(cat "$work/nv.out")"
else
    cat "$work/install2.log"; fail "make install PREFIX=$prefix2"
fi
# the build tree back to the default prefix (nsm-sim's exec.c carries LIBDIR)
${MAKE:-make} --no-print-directory -s BUILD="$BUILD" SANITIZE="$SANITIZE" all > /dev/null 2>&1 ||
    fail "make all after the second install"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "install: libraries, headers, pkg-config files and man pages work from a DESTDIR"
