#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The house's rules on the real tree (tests/structure_check.py, docs/architecture.md):
# includes and calls between libraries only run down a floor and form no circle, no
# top-level folder holds more than a quarter of the code, the NSM core library needs no
# verifier or fault symbol, no function outside tests/ and fuzz/ runs over 100 lines.
set -u
BUILD=${BUILD:-build}
command -v python3 > /dev/null 2>&1 || { echo "SKIP: python3 is not installed (it reads the tree)"; exit 0; }
command -v nm > /dev/null 2>&1 || { echo "SKIP: nm is not installed (binutils)"; exit 0; }
git rev-parse --git-dir > /dev/null 2>&1 || { echo "SKIP: not a git checkout (the check reads the tracked files)"; exit 0; }
python3 tests/structure_check.py "$BUILD"
