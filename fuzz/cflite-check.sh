#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs .clusterfuzzlite/build.sh on this machine the way ClusterFuzzLite's and OSS-Fuzz's
# builder runs it, for each sanitizer given (address, undefined), then runs every target it
# left in $OUT the way their runner's build check does: from another directory, over its
# seed corpus zip, with its options file and dictionary. `make cflite-check` calls it with
# LIBS, FUZZ_NAMES and FUZZ_BUILDER_DEB_PACKAGES from the Makefile.
#
# What it cannot check here: the builder image itself (Ubuntu 24.04, no Docker on this
# machine). What stands in for that: every library the targets link must come from a
# package of FUZZ_BUILDER_DEB_PACKAGES, the list the Dockerfile installs.
set -euo pipefail

: "${LIBS:?run through make cflite-check}" "${FUZZ_NAMES:?}" "${FUZZ_BUILDER_DEB_PACKAGES:?}"
top=$(pwd)
fail() { echo "cflite-check: $*" >&2; exit 1; }

# 1. The Dockerfile's package list covers what the targets link.
for flag in $LIBS; do
    lib=${flag#-l}
    # the unversioned lib*.so link belongs to the -dev package
    so=$(find /usr/lib -name "lib$lib.so" 2>/dev/null | head -1)
    [ -n "$so" ] || fail "no lib$lib.so on this machine to check against"
    dev=$(dpkg-query -S "$so" 2>/dev/null | head -1 | cut -d: -f1)
    [ -n "$dev" ] || fail "no package owns $so"
    case " $FUZZ_BUILDER_DEB_PACKAGES " in
        *" $dev "*) ;;
        *) fail "-l$lib needs $dev, which FUZZ_BUILDER_DEB_PACKAGES (the Dockerfile's list) lacks" ;;
    esac
done
grep -q 'make fuzz-builder-deps' .clusterfuzzlite/Dockerfile ||
    fail "the Dockerfile does not install FUZZ_BUILDER_DEB_PACKAGES"
echo "cflite-check: the builder's packages cover $LIBS"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# OSS-Fuzz's flags for each sanitizer (infra/base-images/base-clang), without the C++-only
# checks (function, vptr) that clang refuses for C.
ubsan_checks=array-bounds,bool,builtin,enum,float-divide-by-zero,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow,unreachable,vla-bound
for sanitizer in "${@:-address}"; do
    case "$sanitizer" in
        address) san="-fsanitize=address -fsanitize-address-use-after-scope" ;;
        undefined) san="-fsanitize=$ubsan_checks,unsigned-integer-overflow -fno-sanitize-recover=$ubsan_checks" ;;
        *) fail "unknown sanitizer $sanitizer (address or undefined)" ;;
    esac
    # 2. The builder's environment, and a copy of the tree where the Dockerfile puts it.
    export SRC=$tmp/$sanitizer/src WORK=$tmp/$sanitizer/work OUT=$tmp/$sanitizer/out
    mkdir -p "$SRC/nsmkit" "$WORK" "$OUT"
    tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$SRC/nsmkit" -xf -
    cp "$top/.clusterfuzzlite/build.sh" "$SRC/"
    export CC=clang CXX=clang++ SANITIZER=$sanitizer FUZZING_ENGINE=libfuzzer ARCHITECTURE=x86_64
    export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION $san -fsanitize=fuzzer-no-link"
    export CXXFLAGS="$CFLAGS" LIB_FUZZING_ENGINE=-fsanitize=fuzzer
    echo "cflite-check: build.sh with SANITIZER=$sanitizer"
    (cd "$SRC" && bash -eu "$SRC/build.sh") > "$tmp/$sanitizer.build.log" 2>&1 ||
        { tail -20 "$tmp/$sanitizer.build.log" >&2; fail "build.sh failed ($sanitizer)"; }

    # 3. What it left, run as the runner runs it.
    for name in $FUZZ_NAMES; do
        [ -x "$OUT/$name" ] || fail "build.sh left no $name in \$OUT ($sanitizer)"
        [ -f "$OUT/$name.options" ] && [ -f "$OUT/${name}_seed_corpus.zip" ] ||
            fail "$name has no options file or seed corpus in \$OUT"
        if [ -f "fuzz/dict/$name.dict" ] && [ ! -f "$OUT/$name.dict" ]; then
            fail "$name's dictionary is not in \$OUT"
        fi
        seeds=$tmp/$sanitizer/seeds-$name
        mkdir -p "$seeds" && (cd "$seeds" && unzip -q "$OUT/${name}_seed_corpus.zip")
        n=$(ls "$seeds" | wc -l)
        [ "$n" -gt 0 ] || fail "$name's seed corpus is empty"
        dict=""
        [ -f "$OUT/$name.dict" ] && dict="-dict=$OUT/$name.dict"
        log=$tmp/$sanitizer/$name.log
        # every seed, then 2,000 mutations, from a directory that is not the tree
        if ! (cd "$tmp" && UBSAN_OPTIONS=silence_unsigned_overflow=1:halt_on_error=1 \
              "$OUT/$name" -runs=2000 -max_len=16384 -rss_limit_mb=2560 -timeout=25 \
              $dict -artifact_prefix="$tmp/$sanitizer/$name-" "$seeds") > "$log" 2>&1; then
            grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -5 >&2
            fail "$name failed under $sanitizer"
        fi
        grep -q 'runtime error' "$log" && { grep 'runtime error' "$log" | head -3 >&2; fail "$name: UBSan report under $sanitizer"; }
        echo "cflite-check: $name ($sanitizer): $n seeds and 2000 runs, clean"
    done
done
echo "cflite-check: .clusterfuzzlite/build.sh builds and every target runs (${*:-address})"
