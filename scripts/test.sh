#!/usr/bin/env bash
# test.sh — the whole test suite, as CI runs it: installs what is missing, builds with
# -Werror under AddressSanitizer + UndefinedBehaviorSanitizer, runs every unit and integration
# test (real InfluxDB 1.x and Alertmanager started by the tests themselves), after running the
# fuzzers briefly when clang is present.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
wg_install_deps clang libclang-rt-14-dev clang-format git

# The modules follow the committed .clang-format (tests and benches keep their hand-aligned
# tables).
if command -v clang-format >/dev/null; then
    clang-format --dry-run -Werror $(git ls-files 'common/*.[ch]' 'config/*.[ch]' \
        'collector/*.[ch]' 'rules/*.[ch]' 'gate/*.[ch]' 'alerting/*.[ch]' 'cmd/*.[ch]')
fi

build=${WG_BUILD_DIR:-build-asan}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DWG_WERROR=ON -DWG_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
# The fuzzers first, briefly, so that ctest's summary is the last thing printed.
if [ -x tests/fuzz/run.sh ] && command -v clang >/dev/null; then
    tests/fuzz/run.sh "${WG_FUZZ_SECONDS:-15}" || status=1
fi
ctest --test-dir "$build" --output-on-failure -j2 --timeout 900 || status=1
exit $status
