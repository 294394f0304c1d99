#!/bin/bash -eu
# SPDX-License-Identifier: Apache-2.0
# ClusterFuzzLite / OSS-Fuzz build script: the project's own fuzz build and nothing else.
# The builder gives $CC, $CXX, $CFLAGS, $CXXFLAGS (sanitizer and coverage flags),
# $LIB_FUZZING_ENGINE, $SRC, $WORK and $OUT; `make fuzz-targets` adds them to the project's
# flags. Each target goes to $OUT with its seed corpus (fuzz/corpus/<target> and every
# regression input), its dictionary and its options.
cd "$SRC/nsmkit"

# A clear line instead of pages of compiler errors on a builder with old libraries.
if ! echo '#include <openssl/opensslv.h>
#if OPENSSL_VERSION_MAJOR < 3
#error old
#endif' | $CC -E -x c - >/dev/null 2>&1; then
    echo "build.sh: nsmkit needs OpenSSL >= 3.0 (use the ubuntu-24-04 builder image)" >&2
    exit 1
fi

build="${WORK:-/tmp}/nsmkit-fuzz-build"
make -j"$(nproc)" fuzz-targets BUILD="$build" CC="$CC" CFLAGS="$CFLAGS" \
    LIB_FUZZING_ENGINE="$LIB_FUZZING_ENGINE" FUZZ_LINK="$CXX $CXXFLAGS"

for target in "$build"/fuzz/bin/fuzz_*; do
    name=$(basename "$target")
    cp "$target" "$OUT/"
    if [ -f "fuzz/dict/$name.dict" ]; then
        cp -L "fuzz/dict/$name.dict" "$OUT/$name.dict"
    fi
    printf '[libfuzzer]\nmax_len = 16384\n' > "$OUT/$name.options"
    seeds="$WORK/seeds-$name"
    rm -rf "$seeds" && mkdir -p "$seeds"
    cp fuzz/regressions/* "$seeds/"
    if [ -d "fuzz/corpus/$name" ]; then
        cp fuzz/corpus/"$name"/* "$seeds/"
    fi
    rm -f "$OUT/${name}_seed_corpus.zip"
    (cd "$seeds" && zip -q -r "$OUT/${name}_seed_corpus.zip" .)
done
