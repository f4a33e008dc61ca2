#!/usr/bin/env bash
# bench_kill.sh — two kill -9 benches.
# MODE=sqlite (default): kill -9 at random moments (fixed seed) of a process whose alerts keep
# firing and resolving while deliveries go to a loopback sink, KILLS times (default 100), then a
# last restart: prints kills, seconds, requests, distinct notifications, rows pending at the
# kills, lost (must be 0), re-sends with the same idempotency key, duplicates with a new key
# (must be 0) and resolves. The same harness runs 10 kills in CI (tests/unit/test_alerting_kill.c).
# STEP_MS (default 15) is the time between ticks: 15 keeps the write lock busy (many outcomes
# not yet recorded at a kill, so re-sent after it with the same key); 200 is closer to serve.
# MODE=pg: three `wavegate serve` replicas on a throwaway PostgreSQL (tests/integration/pg_lib.sh
# pg_kill_run), N (default 500) notifications in the shared outbox delivered to the loopback
# sink (tests/peers/sink_peer.py, 50 ms per answer, RATE per second, default 6), the leader
# killed -9 KILLS times (default 20, seed SEED) at random moments: prints delivered / distinct /
# resends / overlapping in-flight keys (must be 0), takeovers over the bound (leader_takeover,
# default 10 s: must be 0), and the median and max failover time from the kill to the first
# notification delivered by the new leader. CI runs 3 kills / 100 in test_replicas_pg.sh.
# usage: [MODE=sqlite] [KILLS=100] [STEP_MS=15] bench/bench_kill.sh [BUILD_DIR]   (build test_alerting_kill first)
#        MODE=pg [KILLS=20] [N=500] [RATE=6] [TAKEOVER=10s] [SEED=2026] bench/bench_kill.sh [BUILD_DIR]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
if [ "${MODE:-sqlite}" = sqlite ]; then
    BIN=$BUILD/tests/test_alerting_kill
    [ -x "$BIN" ] || { echo "build it first: cmake --build $BUILD --target test_alerting_kill" >&2; exit 1; }
    WG_PEERS=$SRC/tests/peers WG_KILLS=${KILLS:-100} WG_KILL_STEP_MS=${STEP_MS:-15} "$BIN" 2>/dev/null | grep -E '^kill9:|PASSED|FAILED'
    exit 0
fi
set +e +u
WG=$BUILD/wavegate
[ -x "$WG" ] || { echo "build it first: cmake --build $BUILD --target wavegate" >&2; exit 1; }
. "$SRC/tests/integration/lib.sh"
. "$SRC/tests/integration/pg_lib.sh"
PEERS=$SRC/tests/peers
pg_bin >/dev/null || { echo "postgresql not installed" >&2; exit 1; }
pg_start || exit 1
cat >"$WG_TMP/scenario.json" <<'J'
{"/kill": [{"status": 200, "body": "ok", "delay": 0.05}]}
J
sink_start
KILLS=${KILLS:-20} N=${N:-500}
t0=$(date +%s)
bound=${TAKEOVER:-10s}
KILL_TAKEOVER=$bound KILL_BOUND_S=${bound%s} KILL_RATE=${RATE:-6} pg_kill_run "$KILLS" "$N" "${SEED:-2026}" 2>"$WG_TMP/bench.err"
echo "pg kill -9: kills=$KILLS notifications=$N seconds=$(( $(date +%s) - t0 )) requests=$KILL_REQUESTS distinct=$KILL_DISTINCT lost=$((N - KILL_DISTINCT)) resends=$((KILL_REQUESTS - KILL_DISTINCT)) reclaimed_by_survivors=$KILL_RECLAIMED overlaps=$KILL_OVERLAPS takeover_over_bound=$KILL_OVER_BOUND"
echo "takeover (kill to a new leader): $(median_max "${KILL_TAKEOVER_MS[@]}") over ${#KILL_TAKEOVER_MS[@]} kills"
echo "failover (kill to the first notification delivered by the new leader): $(median_max "${KILL_FAILOVER_MS[@]}") over ${#KILL_FAILOVER_MS[@]} kills"
[ "$KILL_DISTINCT" = "$N" ] && [ "$KILL_OVERLAPS" = 0 ] && [ "$KILL_OVER_BOUND" = 0 ] &&
    [ "${#KILL_FAILOVER_MS[@]}" = "$KILLS" ] && echo PASS || { echo FAIL; grep -v Killed "$WG_TMP/bench.err" | tail -5; exit 1; }
