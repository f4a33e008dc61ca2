#!/usr/bin/env bash
# test_install.sh — `cmake --install BUILD --prefix <tmp>` lays out the binary, the --help text
# and docs, the example config and the systemd unit, and the installed binary reports the
# project's version. Usage: test_install.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: test_install.sh <build dir>}
prefix=$(mktemp -d /tmp/wg-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
status=0
for f in bin/wavegate share/doc/wavegate/wavegate-help.txt share/doc/wavegate/README.md \
    share/doc/wavegate/pipelines.md share/doc/wavegate/examples/wavegate.yaml \
    lib/systemd/system/wavegate.service; do
    if [ -s "$prefix/$f" ]; then
        echo "ok   $f"
    else
        echo "FAIL $f: not installed" >&2
        status=1
    fi
done
want=$(sed -n 's/^project(wavegate VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")
for arg in --version version; do
    got=$("$prefix/bin/wavegate" "$arg")
    if [ "$got" = "wavegate $want" ]; then
        echo "ok   wavegate $arg: $got"
    else
        echo "FAIL wavegate $arg: want 'wavegate $want', got '$got'" >&2
        status=1
    fi
done
grep -q '^usage: wavegate' "$prefix/share/doc/wavegate/wavegate-help.txt" ||
    { echo "FAIL the installed help text is not wavegate --help" >&2; status=1; }
exit $status
