#!/usr/bin/env bash
# run.sh — build the libFuzzer targets with clang and run each for N seconds (default 20) on its
# seed corpus (tests/fuzz/corpus/<name>/, copied to a scratch dir so new inputs do not land in
# the tree). Needs clang (Debian package `clang`). A crash leaves crash-* in the work dir;
# turn it into a unit-test case named after it. Usage: tests/fuzz/run.sh [seconds] [names...]
set -euo pipefail
secs=${1:-20}
shift || true
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(fluxcsv jsonl influxql split config)
# the request bodies of serve (fuzz_body.c)
[ "$#" -eq 0 ] && names+=(body_gate body_flagger body_analyses body_silences gate_auth)
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${WG_FUZZ_BUILD:-$src/build-fuzz}
work=${WG_FUZZ_WORK:-$build/work}
command -v clang >/dev/null || { echo "run.sh: clang is required (apt-get install clang)" >&2; exit 2; }
cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang -DWG_FUZZ=ON -DWG_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
make -C "$build" -j2 $(printf 'fuzz_%s ' "${names[@]}") >/dev/null
status=0
for n in "${names[@]}"; do
    corpus="$work/$n"
    mkdir -p "$corpus"
    cp -n "$src/tests/fuzz/corpus/$n/"* "$corpus/" 2>/dev/null || true
    echo "== fuzz_$n for ${secs}s"
    (cd "$work" && "$build/tests/fuzz/fuzz_$n" -max_total_time="$secs" -max_len=65536 \
        -rss_limit_mb=1024 -print_final_stats=1 "$corpus" 2>&1 | tail -n 12) || status=1
done
exit $status
