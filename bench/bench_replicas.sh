#!/usr/bin/env bash
# bench_replicas.sh — the replica figures (docs/state.md), in one run on this machine, against a
# throwaway PostgreSQL cluster and a real InfluxDB:
#  1. uncached gate evaluations (cache_ttl: 0s, each request its own deploy_time, a rule with
#     `baseline: previous`, so each call reads and writes the verdict history): one replica on
#     SQLite, then one on PostgreSQL, then 3 replicas on PostgreSQL, all under the same load
#     (one wrk, THREADS threads and CONN connections in all; for 3 replicas each thread talks
#     to its own replica). Per phase: req/s, p50/p99, CPU ms per request of each process
#     (wavegate, postgres, influxd, wrk), store queries and their mean time per request, cache
#     hits (must be 0) and non-2xx answers (must be 0). Target: 3 PG >= 0.9x SQLite, p99 <= 20 ms.
#     pg3-rate: the 3 replicas again, each connection pausing between requests so the load is
#     about 0.9x the SQLite replica's req/s: the p99 at that throughput, not at saturation.
#  2. failover: tests/integration/test_replicas_pg.sh with KILLS kill -9 of the leader, its
#     median and max time to a new leader (KILLS=0 skips it).
# PostgreSQL runs with fsync on (PG_FSYNC=off to compare), as SQLite's synchronous=FULL fsyncs.
# "others" is the CPU the rest of the machine used meanwhile (other jobs on the 2 cores).
# usage: WG_BIN=build-rel/wavegate bench/bench_replicas.sh [SECONDS] ; needs wrk.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${WG_SRC:-$(cd "$HERE/.." && pwd)}
source "$SRC/tests/integration/lib.sh"
source "$SRC/tests/integration/pg_lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
DUR=${1:-10}
KILLS=${KILLS:-20}
THREADS=3 # one per PostgreSQL replica; the SQLite phase uses the same three threads
CONN=${CONN:-9}
PHASES=${PHASES:-sqlite pg1 pg3 pg3-rate}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install -y wrk)" >&2; exit 1; }

export PG_FSYNC=${PG_FSYNC:-on}
influx_deploy_scenario || exit 1
pg_start || exit 1
export WG_PG="$PG_DSN"

mkcfg() { # FILE STATE_DIR BACKEND
    {
        printf 'state_dir: %s\nstate: {backend: %s, dsn_env: WG_PG}\n' "$2" "$3"
        previous_yaml 1000%
        echo 'server: {cache_ttl: 0s, max_connections: 1024, per_ip_connections: 1024}'
    } >"$1"
}
declare -a PIDS=()
stop_all() { local p; for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; PIDS=(); }
wg_on_exit stop_all
start() { # CONFIG LOG -> PORT
    "$WG" serve --config "$1" --listen 127.0.0.1:0 2>"$2" &
    PIDS+=($!)
    wait_for 20 grep -q 'listening on port [0-9]' "$2" || { cat "$2"; exit 1; }
    PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$2" | head -1)
}
# Each request a deploy_time drawn from 1,200 seconds whose 10-minute window is full of data
# (10 to 30 min before the scenario's deploy; a seed per thread): the cache is off, and two
# identical requests in flight at once (shared, counted) stay rare. Thread i talks to PORTS[i].
cat >"$WG_TMP/vary.lua" <<LUA
local ports = {}
for p in string.gmatch(os.getenv("BENCH_PORTS"), "%d+") do ports[#ports + 1] = p end
local n = 0
function setup(thread)
  n = n + 1
  thread.addr = wrk.lookup("127.0.0.1", ports[(n - 1) % #ports + 1])[1]
  thread:set("id", n)
end
function init(args)
  math.randomseed(42 + id)
end
-- ms before each request (the pg3-rate phase): wrk waits whole milliseconds, so a fractional
-- think time is the floor or the ceiling at random, the mean being the think time asked
local think = tonumber(os.getenv("BENCH_DELAY") or "0")
local whole, frac = math.floor(think), think - math.floor(think)
function delay() return whole + (math.random() < frac and 1 or 0) end
request = function()
  local t = $deploy - math.random(600, 1799)
  return wrk.format("GET", "/v1/gate?wave=staging&feature=prev&deploy_time=" .. os.date("!%Y-%m-%dT%H:%M:%SZ", t))
end
LUA
# CPU ticks (utime + stime) of the processes given, and of the PostgreSQL cluster.
ticks() { local p s=0; for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $s; }
busy() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
pg_pids() { local pm; pm=$(head -1 "$PG_DATA/postmaster.pid"); echo "$pm" $(ps -o pid= --ppid "$pm"); }
metric_sum() { # NAME PORTS... : the metric summed over replicas
    local name=$1 p; shift
    for p in "$@"; do curl -s "http://127.0.0.1:$p/metrics"; done |
        awk -v n="$name" '$1 == n {s += $2} END {printf "%.6f\n", s}'
}
lat() { # FILE PCT -> ms
    awk -v p="$2" '$1 == p {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000}
        else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}
        printf "%.2f\n", v}' "$1"
}
phase() { # NAME PORTS...
    local name=$1; shift
    local hz; hz=$(getconf CLK_TCK)
    local q0 s0 h0 sh0 w0 p0 i0
    q0=$(metric_sum wavegate_state_queries_total "$@")
    s0=$(metric_sum wavegate_state_query_seconds_total "$@")
    h0=$(metric_sum wavegate_gate_cache_hits_total "$@")
    sh0=$(metric_sum wavegate_gate_shared_evaluations_total "$@")
    local b0 b1
    w0=$(ticks "${PIDS[@]}"); p0=$(ticks $(pg_pids)); i0=$(ticks "$INFLUX_PID"); b0=$(busy)
    BENCH_PORTS="$*" /usr/bin/time -f '%U %S' -o "$WG_TMP/time-$name.txt" \
        wrk -t"$THREADS" -c"$CONN" -d"${DUR}s" --latency -s "$WG_TMP/vary.lua" \
        "http://127.0.0.1:$1" >"$WG_TMP/wrk-$name.txt" 2>&1
    local w1 p1 i1; w1=$(ticks "${PIDS[@]}"); p1=$(ticks $(pg_pids)); i1=$(ticks "$INFLUX_PID"); b1=$(busy)
    local backends; backends=$(($(pg_pids | wc -w) - 1))
    local q1 s1 h1 sh1
    q1=$(metric_sum wavegate_state_queries_total "$@")
    s1=$(metric_sum wavegate_state_query_seconds_total "$@")
    h1=$(metric_sum wavegate_gate_cache_hits_total "$@")
    sh1=$(metric_sum wavegate_gate_shared_evaluations_total "$@")
    local rps n non2xx
    rps=$(awk '/^Requests\/sec/ {print $2}' "$WG_TMP/wrk-$name.txt")
    n=$(awk '/requests in/ {print $1}' "$WG_TMP/wrk-$name.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$WG_TMP/wrk-$name.txt")
    RPS[$name]=$rps
    P99[$name]=$(lat "$WG_TMP/wrk-$name.txt" 99%)
    P50[$name]=$(lat "$WG_TMP/wrk-$name.txt" 50%)
    python3 - "$name" "$rps" "$n" "${non2xx:-0}" "$(lat "$WG_TMP/wrk-$name.txt" 50%)" \
        "${P99[$name]}" "$hz" $((w1 - w0)) $((p1 - p0)) $((i1 - i0)) \
        "$(cat "$WG_TMP/time-$name.txt")" "$q0" "$q1" "$s0" "$s1" "$h0" "$h1" $((b1 - b0)) "$DUR" \
        "$backends" "$sh0" "$sh1" <<'PY'
import sys
a = sys.argv[1:]
name, rps, n, bad, p50, p99, hz = a[0], float(a[1]), max(int(a[2]), 1), a[3], a[4], a[5], int(a[6])
wg, pg, ifx = (int(x) * 1000.0 / hz / n for x in a[7:10])
wrk = sum(float(x) for x in a[10].split()) * 1000.0 / n
q0, q1, s0, s1, h0, h1 = (float(x) for x in a[11:17])
dq = q1 - q0
others = (int(a[17]) * 1000.0 / hz - (wg + pg + ifx + wrk) * n) / (float(a[18]) * 1000.0)
print(f"{name:8s} {rps:8.1f} req/s  p50 {p50:>6s} ms  p99 {p99:>6s} ms  non-2xx {bad}  "
      f"cache hits {int(h1 - h0)}  shared {float(a[21]) - float(a[20]):.0f}")
print(f"        CPU ms/request: wavegate {wg:.2f}  postgres {pg:.2f}  influxd {ifx:.2f}  "
      f"wrk {wrk:.2f}  (sum {wg + pg + ifx + wrk:.2f}); others {max(others, 0) * 100:.0f}% of a core")
print(f"        store: {dq / n:.2f} queries/request, {(s1 - s0) * 1000 / max(dq, 1):.3f} ms each, "
      f"{(s1 - s0) * 1000 / n:.2f} ms/request; postgres processes {a[19]}")
PY
}
declare -A RPS P99 P50

for ph in $PHASES; do
    case $ph in
    sqlite)
        mkcfg "$WG_TMP/sq.yaml" "$WG_TMP/sq" sqlite
        start "$WG_TMP/sq.yaml" "$WG_TMP/sq.log"
        phase sqlite "$PORT" ;;
    pg1)
        mkcfg "$WG_TMP/pg1.yaml" "$WG_TMP/pg1" postgres
        start "$WG_TMP/pg1.yaml" "$WG_TMP/pg1.log"
        phase pg1 "$PORT" ;;
    pg3 | pg3-rate)
        ports=()
        for r in 1 2 3; do
            mkcfg "$WG_TMP/pg3-$r.yaml" "$WG_TMP/pg3-$r" postgres
            start "$WG_TMP/pg3-$r.yaml" "$WG_TMP/pg3-$r.log"
            ports+=("$PORT")
        done
        if [ "$ph" = pg3 ]; then
            phase pg3 "${ports[@]}"
        else
            # the same load paced to about 0.9x the SQLite replica's req/s (each connection
            # waits between its requests): p99 at that throughput rather than at saturation
            BENCH_DELAY=$(python3 -c "print(round(max(0, $CONN * 1000 / (0.9 * ${RPS[sqlite]:-1000}) - ${P50[pg3]:-5}), 2))") \
                phase pg3-rate "${ports[@]}"
        fi ;;
    esac
    stop_all
done
if [ -n "${RPS[sqlite]:-}" ] && [ -n "${RPS[pg3]:-}" ]; then
    python3 - "${RPS[sqlite]}" "${RPS[pg3]}" "${P99[pg3]}" "${RPS[pg3-rate]:-0}" \
        "${P99[pg3-rate]:-0}" <<'PY'
import sys
sq, pg, p99, rrate, rp99 = (float(x) for x in sys.argv[1:])
r = pg / sq
print(f"3 replicas on PostgreSQL / 1 on SQLite: {r:.2f}x (target >= 0.9: "
      f"{'met' if r >= 0.9 else 'NOT met'}), p99 at saturation {p99:.1f} ms (target <= 20: "
      f"{'met' if p99 <= 20 else 'NOT met'})")
if rrate:
    print(f"paced to {rrate / sq:.2f}x the SQLite replica: p99 {rp99:.1f} ms (target <= 20: "
          f"{'met' if rp99 <= 20 and rrate / sq >= 0.88 else 'NOT met'})")
PY
fi

# 2. failover over KILLS kill -9 of the leader
[ "$KILLS" -gt 0 ] || exit 0
WG_LEADER_KILLS=$KILLS WG_BIN="$WG" bash "$SRC/tests/integration/test_replicas_pg.sh" 2>&1 |
    grep -E '^failover|not ok - (kill|a new leader|exactly|still)'
