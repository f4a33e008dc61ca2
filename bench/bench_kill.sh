#!/usr/bin/env bash
# bench_kill.sh — kill -9 at random moments (fixed seed) of a process whose alerts keep firing
# and resolving while deliveries go to a loopback sink, KILLS times (default 100), then a last
# restart: prints kills, seconds, requests, distinct notifications, rows pending at the kills,
# lost (must be 0), re-sends with the same idempotency key, duplicates with a new key (must be
# 0) and resolves. The same harness runs 10 kills in CI (tests/unit/test_alerting_kill.c).
# STEP_MS (default 15) is the time between ticks: 15 keeps the write lock busy (many outcomes
# not yet recorded at a kill, so re-sent after it with the same key); 200 is closer to serve.
# usage: [KILLS=100] [STEP_MS=15] bench/bench_kill.sh [BUILD_DIR]   (build the test_alerting_kill target first)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
BIN=$BUILD/tests/test_alerting_kill
[ -x "$BIN" ] || { echo "build it first: cmake --build $BUILD --target test_alerting_kill" >&2; exit 1; }
WG_PEERS=$SRC/tests/peers WG_KILLS=${KILLS:-100} WG_KILL_STEP_MS=${STEP_MS:-15} "$BIN" 2>/dev/null | grep -E '^kill9:|PASSED|FAILED'
