#!/usr/bin/env bash
# bench_replicas.sh — the replica figures (docs/state.md), in one run on this machine, against a
# throwaway PostgreSQL cluster and a real InfluxDB:
#  1. uncached gate evaluations (cache_ttl: 0, a rule with `baseline: previous`, so each call
#     reads and writes the verdict history): 3 replicas on PostgreSQL vs 1 replica on SQLite,
#     total req/s and each replica's p99 (target: >= 0.9x, p99 <= 20 ms);
#  2. failover: tests/integration/test_replicas_pg.sh with KILLS kill -9 of the leader,
#     its median and max time to a new leader.
# Not measured yet: 2,000 alerts through a PostgreSQL outbox (the outbox is still per-replica
# SQLite). usage: WG_BIN=build-rel/wavegate bench/bench_replicas.sh [SECONDS] ; needs wrk.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${WG_SRC:-$(cd "$HERE/.." && pwd)}
source "$SRC/tests/integration/lib.sh"
source "$SRC/tests/integration/pg_lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
DUR=${1:-10}
KILLS=${KILLS:-20}
CONN=${CONN:-8}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install -y wrk)" >&2; exit 1; }

influx_deploy_scenario || exit 1
pg_start || exit 1
export WG_PG="$PG_DSN"

mkcfg() { # FILE STATE_DIR BACKEND
    cat >"$1" <<YAML
state_dir: $2
state: {backend: $3, dsn_env: WG_PG}
sources:
  local: {kind: influxql, url: $INFLUX_URL, database: telemetry}
waves: [{name: staging, env: staging, source: local}]
features:
  prev:
    rules:
      - name: mean-vs-previous
        query: SELECT mean("latency_ms") FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        baseline: previous
        max_increase: 1000%
server: {cache_ttl: 0s, max_connections: 1024, per_ip_connections: 1024}
YAML
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
# Each request a different deploy_time (a minute within the last 10 hours): never the cache.
cat >"$WG_TMP/vary.lua" <<LUA
math.randomseed(42)
request = function()
  local t = $deploy - 60 * math.random(0, 600)
  return wrk.format("GET", "/v1/gate?wave=staging&feature=prev&deploy_time=" .. os.date("!%Y-%m-%dT%H:%M:%SZ", t))
end
LUA
run_wrk() { # PORT OUT
    wrk -t1 -c"$CONN" -d"${DUR}s" --latency -s "$WG_TMP/vary.lua" "http://127.0.0.1:$1" >"$2" 2>&1
}
rps() { awk '/^Requests\/sec/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }

# 1a. one replica on SQLite
mkcfg "$WG_TMP/sq.yaml" "$WG_TMP/sq" sqlite
start "$WG_TMP/sq.yaml" "$WG_TMP/sq.log"
run_wrk "$PORT" "$WG_TMP/wrk-sq.txt"
stop_all
echo "1 replica, SQLite:      $(rps "$WG_TMP/wrk-sq.txt") req/s, p99 $(p99 "$WG_TMP/wrk-sq.txt")"

# 1b. three replicas on PostgreSQL, loaded at once
ports=()
for r in 1 2 3; do
    mkcfg "$WG_TMP/pg$r.yaml" "$WG_TMP/pg$r" postgres
    start "$WG_TMP/pg$r.yaml" "$WG_TMP/pg$r.log"
    ports+=("$PORT")
done
wpids=()
for r in 0 1 2; do run_wrk "${ports[$r]}" "$WG_TMP/wrk-pg$r.txt" & wpids+=($!); done
wait "${wpids[@]}"
stop_all
total=0
for r in 0 1 2; do
    echo "  replica $((r + 1)) on PostgreSQL: $(rps "$WG_TMP/wrk-pg$r.txt") req/s, p99 $(p99 "$WG_TMP/wrk-pg$r.txt")"
    total=$(python3 -c "print(round($total + $(rps "$WG_TMP/wrk-pg$r.txt"), 2))")
done
echo "3 replicas, PostgreSQL: $total req/s in total ($(python3 -c "print(round($total / $(rps "$WG_TMP/wrk-sq.txt"), 2))")x the SQLite replica)"

# 2. failover over KILLS kill -9 of the leader
WG_LEADER_KILLS=$KILLS WG_BIN="$WG" bash "$SRC/tests/integration/test_replicas_pg.sh" 2>&1 |
    grep -E '^failover|not ok - (kill|a new leader|exactly|still)'
