#!/usr/bin/env bash
# test.sh — the whole test suite, as CI runs it (each step timed): source checks
# (clang-format, check-src.sh); the build matrix (gcc and clang x Debug and Release, -Werror,
# build only, each from scratch); the Release binary's hardening; the module link order; the
# fuzzers briefly; the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (real
# InfluxDB 1.x and Alertmanager started by the tests themselves); the threaded tests under
# ThreadSanitizer; the unit tests under valgrind. WG_QUICK=1 skips the matrix, TSan and valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
wg_install_deps clang libclang-rt-14-dev clang-format git valgrind

jobs=${WG_JOBS:-2}
status=0
failed=()
summary=()
# step NAME CMD...: run, time, remember the outcome (the suite goes on after a failure).
step() {
    local name=$1 t0 t1 rc=0
    shift
    echo "=== $name"
    t0=$(date +%s)
    "$@" || rc=$?
    t1=$(date +%s)
    summary+=("$(printf '%-34s %5ss  %s' "$name" $((t1 - t0)) "$([ $rc -eq 0 ] && echo ok || echo FAILED)")")
    if [ $rc -ne 0 ]; then
        status=1
        failed+=("$name")
    fi
    echo "=== $name: $((t1 - t0))s, $([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)")"
}

# The modules follow the committed .clang-format (tests and benches keep their hand-aligned
# tables).
format_check() {
    clang-format --dry-run -Werror $(git ls-files 'common/*.[ch]' 'config/*.[ch]' \
        'collector/*.[ch]' 'rules/*.[ch]' 'gate/*.[ch]' 'alerting/*.[ch]' 'cmd/*.[ch]')
}

# matrix_build CC TYPE: a fresh -Werror build (no tests run); Release builds keep their tree
# for the hardening check.
matrix_build() {
    local cc=$1 type=$2 dir=build-ci-$1-$2
    rm -rf "$dir"
    CC=$cc cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DWG_WERROR=ON >/dev/null &&
        cmake --build "$dir" -j"$jobs" >"$dir/build.log" 2>&1 ||
        { grep -E "error|warning" "$dir/build.log" | head -40; return 1; }
}

release_checks() {
    scripts/check-hardening.sh build-ci-gcc-Release/wavegate &&
        scripts/check-hardening.sh build-ci-clang-Release/wavegate &&
        CC=gcc scripts/check-links.sh build-ci-gcc-Release
}

asan=${WG_BUILD_DIR:-build-asan}
asan_build() {
    cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=Debug -DWG_WERROR=ON -DWG_SANITIZE=ON >/dev/null &&
        cmake --build "$asan" -j"$jobs"
}
# A test that fails once and passes on its re-run does not fail the step, but it is named in
# the summary: a flaky test is a defect (test or code) to be found, never one to be hidden.
retried=()
asan_suite() {
    local log=$asan/ctest.log rc
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        ctest --test-dir "$asan" --output-on-failure -j2 --timeout 900 --repeat until-pass:2 \
        2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    mapfile -t retried < <(comm -12 \
        <(sed -nE 's/.*Test +#[0-9]+: ([^ ]+) .*\*\*\*.*/\1/p' "$log" | sort -u) \
        <(sed -nE 's/.*Test +#[0-9]+: ([^ ]+) .* Passed .*/\1/p' "$log" | sort -u))
    return "$rc"
}

tsan=build-ci-tsan
tsan_suite() {
    rm -rf "$tsan"
    cmake -S . -B "$tsan" -DCMAKE_BUILD_TYPE=Debug -DWG_WERROR=ON -DWG_SANITIZE=thread \
        >/dev/null && cmake --build "$tsan" -j"$jobs" >"$tsan/build.log" 2>&1 &&
        TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp} \
            ctest --test-dir "$tsan" -L tsan --output-on-failure -j2 --timeout 900
}

vg=build-ci-valgrind
valgrind_suite() {
    rm -rf "$vg"
    cmake -S . -B "$vg" -DCMAKE_BUILD_TYPE=Debug -DWG_WERROR=ON -DWG_VALGRIND=ON >/dev/null &&
        cmake --build "$vg" -j"$jobs" >"$vg/build.log" 2>&1 &&
        ctest --test-dir "$vg" -L unit -LE wallclock --output-on-failure -j2 --timeout 900
}

t_start=$(date +%s)
command -v clang-format >/dev/null && step "clang-format" format_check
step "check-src.sh" scripts/check-src.sh
if [ "${WG_QUICK:-0}" != 1 ]; then
    for cc in gcc clang; do
        for type in Debug Release; do
            step "build $cc $type -Werror" matrix_build "$cc" "$type"
        done
    done
    step "hardening + link order (Release)" release_checks
fi
step "build ASan+UBSan" asan_build
# The fuzzers first, briefly, so that ctest's summary is near the end.
if [ -x tests/fuzz/run.sh ] && command -v clang >/dev/null; then
    step "fuzz (${WG_FUZZ_SECONDS:-60}s each)" tests/fuzz/run.sh "${WG_FUZZ_SECONDS:-60}"
fi
step "suite under ASan+UBSan" asan_suite
if [ "${WG_QUICK:-0}" != 1 ]; then
    step "TSan: build + ctest -L tsan" tsan_suite
    if command -v valgrind >/dev/null; then
        step "valgrind: build + ctest -L unit" valgrind_suite # minus -L wallclock
    fi
fi

echo
echo "=== step durations"
printf '  %s\n' "${summary[@]}"
echo "  total: $(($(date +%s) - t_start))s"
[ ${#retried[@]} -eq 0 ] || echo "FLAKY (failed, then passed on the re-run): ${retried[*]}"
[ ${#failed[@]} -eq 0 ] || echo "FAILED: ${failed[*]}"
echo "steps: $((${#summary[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
exit $status
