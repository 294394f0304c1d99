#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Grades nsm-verify (this project's verifier) with nsm-vectors:
#   nsm-vectors grade --cmd 'sh docs/grades/nsm-verify.sh {doc} {root} {time} {profile} {pcr0} {nonce} {user_data} {public_key} {max_age} {refuse_debug}'
# Every expectation the manifest gives is passed on; empty ones are left out.
doc=$1 root=$2 time=$3 profile=$4 pcr0=$5 nonce=$6 user_data=$7 public_key=$8 max_age=$9
shift 9
refuse_debug=$1
bin=${NSM_VERIFY:-build/bin/nsm-verify}
set -- --quiet --root "$root" --time "$time" --profile "$profile"
[ -n "$pcr0" ] && set -- "$@" --expect-pcr "0=$pcr0"
[ -n "$nonce" ] && set -- "$@" --nonce "$nonce"
[ -n "$user_data" ] && set -- "$@" --user-data "$user_data"
[ -n "$public_key" ] && set -- "$@" --public-key "$public_key"
[ -n "$max_age" ] && set -- "$@" --max-age "$max_age"
[ "$refuse_debug" = 1 ] && set -- "$@" --refuse-debug
exec "$bin" "$@" "$doc"
