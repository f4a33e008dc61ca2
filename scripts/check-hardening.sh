#!/usr/bin/env bash
# check-hardening.sh — checks a Release binary for the hardening CMakeLists.txt asks for:
# full RELRO (GNU_RELRO segment + BIND_NOW), PIE (ELF type DYN, FLAGS_1 PIE), the stack
# protector (__stack_chk_fail) and _FORTIFY_SOURCE (__*_chk symbols). Usage: check-hardening.sh BIN
set -euo pipefail
bin=${1:?usage: check-hardening.sh <binary>}
dyn=$(readelf -dW "$bin")
status=0
check() { # name, then a command that succeeds when present
    local name=$1
    shift
    if "$@"; then
        echo "  ok   $name"
    else
        echo "  FAIL $name" >&2
        status=1
    fi
}
check "PIE (ELF type DYN)" grep -q 'Type:[[:space:]]*DYN' <<<"$(readelf -hW "$bin")"
check "FLAGS_1 PIE" grep -Eq 'FLAGS_1.*PIE' <<<"$dyn"
check "BIND_NOW" grep -Eq 'BIND_NOW|FLAGS_1.*NOW' <<<"$dyn"
check "GNU_RELRO segment" grep -q GNU_RELRO <<<"$(readelf -lW "$bin")"
syms=$(nm -D "$bin")
check "__stack_chk_fail (stack protector)" grep -q '__stack_chk_fail' <<<"$syms"
check "__*_chk symbols (_FORTIFY_SOURCE)" grep -Eq ' U __[a-z]+_chk@' <<<"$syms"
exit $status
