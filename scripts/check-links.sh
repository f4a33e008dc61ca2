#!/usr/bin/env bash
# check-links.sh — the module libraries of a build call only down the dependency order
# (common <- config <- {collector, rules, alerting} <- gate_eval <- gate_server) and only the
# system libraries their module may use: every undefined symbol of libwg_<m>.a must be defined
# in the module itself, a module library it may use, or one of its system libraries (libc and
# libm, libgcc_s and the dynamic loader always). So rules/ reaching libcurl, or alerting/ calling into the gate, fails here.
# Usage: check-links.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: check-links.sh <build dir>}
cc=${CC:-cc}

declare -A mods=(
    [common]="|curl sqlite3 pq"
    [config]="common|yaml"
    [collector]="common config|cjson"
    [rules]="common config|"
    [alerting]="common config|cjson sqlite3 crypto"
    [gate_eval]="common config collector rules alerting|cjson sqlite3"
    [gate_server]="common config collector rules alerting gate_eval|microhttpd cjson sqlite3 crypto"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
defined() { nm -g --defined-only "$1" 2>/dev/null | awk 'NF >= 3 {print $3}' | sed 's/@.*//'; }
sysdefs() { # the dynamic symbols of a shared library named like -l<name>
    local f
    f=$($cc -print-file-name="lib$1.so.6")
    [ -e "$f" ] || f=$($cc -print-file-name="lib$1.so")
    nm -D --defined-only "$(readlink -f "$f")" | awk '{print $NF}' | sed 's/@.*//'
}
# libc, libm, libgcc_s and the dynamic loader (__tls_get_addr: a _Thread_local in PIC code)
ldso=$(ldd /bin/sh | grep -o '/[^ ]*ld-linux[^ ]*' | head -1)
{ sysdefs c; sysdefs m; nm -D --defined-only "$(readlink -f "$($cc -print-file-name=libgcc_s.so.1)")" |
    awk '{print $NF}' | sed 's/@.*//'
  [ -n "$ldso" ] && nm -D --defined-only "$(readlink -f "$ldso")" | awk '{print $NF}' | sed 's/@.*//'
} | sort -u >"$tmp/base"
status=0
for m in common config collector rules alerting gate_eval gate_server; do
    a="$build/libwg_$m.a"
    [ -f "$a" ] || { echo "check-links: $a missing (build first)" >&2; exit 2; }
    IFS='|' read -r deps libs <<<"${mods[$m]}"
    cp "$tmp/base" "$tmp/allowed"
    defined "$a" >>"$tmp/allowed"
    for d in $deps; do defined "$build/libwg_$d.a" >>"$tmp/allowed"; done
    for l in $libs; do sysdefs "$l" >>"$tmp/allowed"; done
    sort -u -o "$tmp/allowed" "$tmp/allowed"
    # Sanitizer and coverage runtime hooks are the compiler's, not a dependency.
    nm -u "$a" | awk '{print $2}' | sed 's/@.*//' | grep -Ev '^__(asan|ubsan|tsan|lsan|sanitizer|sancov)' |
        grep -v -e '^_GLOBAL_OFFSET_TABLE_$' -e '^$' | sort -u >"$tmp/undef"
    bad=$(comm -23 "$tmp/undef" "$tmp/allowed")
    # rules/ is pure: no clock (time comes in as arguments), no HTTP.
    if [ "$m" = rules ]; then
        bad+=$(grep -E '^(clock_gettime|time|gettimeofday|wg_now_ns|wg_mono_ns|wg_http_.*)$' \
            "$tmp/undef" || true)
    fi
    if [ -n "$bad" ]; then
        echo "check-links: libwg_$m.a uses what its module may not (allowed: ${deps:-none}; ${libs:-no other library}):" >&2
        sed 's/^/    /' <<<"$bad" >&2
        status=1
    fi
done
[ $status -eq 0 ] && echo "check-links: every module library links only down the dependency order"
exit $status
