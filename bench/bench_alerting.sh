#!/usr/bin/env bash
# bench_alerting.sh — 2,000 alerts in distinct groups delivered to a local nginx sink, by
# wavegate (durable SQLite outbox, synchronous=FULL) and by Alertmanager in the same run.
# Runs RUNS (default 3) rounds side by side; prints a table and the medians (Alertmanager
# varies a lot between runs). Needs nginx and prometheus-alertmanager.
# PG=1: wavegate's outbox (and alert states, logs) on a throwaway PostgreSQL instead
# (tests/integration/pg_lib.sh; a fresh database each round): `alert bench --pg-dsn-env`.
# usage: WG_BIN=/path/to/wavegate [RUNS=3] [PG=1] bench/bench_alerting.sh [N]
#        (or WG_ALERT_CMD="/path/to/cli" where "$WG_ALERT_CMD bench ..." runs `alert bench`)
set -euo pipefail
N=${1:-2000}
CMD=${WG_ALERT_CMD:-"${WG_BIN:-wavegate} alert"}
AM=${AM_BIN:-/usr/bin/prometheus-alertmanager}
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
T=$(mktemp -d /tmp/wg-bench-alert.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -n "${PG:-}" ] && { pg_stop; true; }
    rm -rf "$T"
}
trap cleanup EXIT
if [ -n "${PG:-}" ]; then
    SRC=$(cd "$(dirname "$0")/.." && pwd)
    set +u
    WG_TMP=$T
    wg_on_exit() { :; } # cleanup above stops the cluster
    free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
    . "$SRC/tests/integration/pg_lib.sh"
    pg_start >/dev/null || { echo "cannot start postgresql" >&2; exit 1; }
    set -u
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url
    local deadline=$((SECONDS + 20))
    until curl -fs -o /dev/null "$1"; do
        (( SECONDS < deadline )) || { echo "timeout waiting for $1" >&2; exit 1; }
        sleep 0.05
    done
}
count() { grep -c " $1" "$T/access.log" 2>/dev/null || true; }
wait_count() { # path n -> seconds (float) from $2 start
    local deadline=$((SECONDS + 300))
    until [ "$(count "$1")" -ge "$2" ]; do
        (( SECONDS < deadline )) || { echo "timeout: $(count "$1")/$2 at $1" >&2; exit 1; }
        sleep 0.01
    done
}

NP=$(free_port)
mkdir -p "$T/nginx/logs"
cat > "$T/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log $T/nginx/error.log;
pid $T/nginx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log $T/access.log;
    client_body_temp_path $T/nginx;
    keepalive_requests 100000;
    server { listen 127.0.0.1:$NP; location / { return 200 "ok"; } }
}
EOF
"$NGINX" -p "$T/nginx" -c "$T/nginx.conf" &
pids+=($!)
wait_http "http://127.0.0.1:$NP/ready"

python3 - "$N" > "$T/alerts.json" <<'PY'
import json, sys
n = int(sys.argv[1])
print(json.dumps([{"labels": {"alertname": "Bench%06d" % i, "severity": "critical"},
                   "annotations": {"summary": "bench"}} for i in range(n)]))
PY

declare -a am_secs am_rss wg_secs wg_rss wg_accept arrived
# run R — Alertmanager then wavegate, each into its own nginx path (/am-rR/, /wg-rR/).
run() {
    local r=$1 AP AMPID t0 t1 out
    AP=$(free_port)
    cat > "$T/am$r.yml" <<YML
route:
  receiver: sink
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: sink
    webhook_configs: [{url: 'http://127.0.0.1:$NP/am-r$r/', send_resolved: false}]
YML
    "$AM" --config.file="$T/am$r.yml" --storage.path="$T/am-data$r" \
        --web.listen-address="127.0.0.1:$AP" --cluster.listen-address= 2>"$T/am$r.log" &
    AMPID=$!
    pids+=($AMPID)
    wait_http "http://127.0.0.1:$AP/-/ready"
    t0=$(date +%s.%N)
    curl -fs -o /dev/null -H 'Content-Type: application/json' --data-binary @"$T/alerts.json" \
        "http://127.0.0.1:$AP/api/v2/alerts"
    wait_count "/am-r$r/" "$N"
    t1=$(date +%s.%N)
    am_rss[r]=$(awk '/VmHWM/ {print $2}' "/proc/$AMPID/status")
    kill "$AMPID"
    wait "$AMPID" 2>/dev/null || true
    am_secs[r]=$(echo "$t1 - $t0" | bc -l)

    # wavegate: N alerts → N groups → outbox (chunked commits) → worker → nginx. Timed like
    # Alertmanager, from starting the command (process start, database open, restore) to the
    # N-th request logged by nginx.
    local pgopt=""
    if [ -n "${PG:-}" ]; then
        pg_psql postgres -c "CREATE DATABASE bench$r" >/dev/null
        export WG_BENCH_PG="host=127.0.0.1 port=$PG_PORT user=wg dbname=bench$r"
        pgopt="--pg-dsn-env WG_BENCH_PG"
    fi
    t0=$(date +%s.%N)
    out=$($CMD bench --url "http://127.0.0.1:$NP/wg-r$r/" --n "$N" --state-dir "$T/wg-state$r" $pgopt)
    wait_count "/wg-r$r/" "$N"
    t1=$(date +%s.%N)
    wg_secs[r]=$(echo "$t1 - $t0" | bc -l)
    wg_rss[r]=$(sed -n 's/.*rss_hwm_kib=\([0-9]*\).*/\1/p' <<<"$out")
    wg_accept[r]=$(sed -n 's/.*accept_ms=\([0-9.]*\).*/\1/p' <<<"$out")
    arrived[r]=$(count "/wg-r$r/")
}

RUNS=${RUNS:-3}
printf '%-4s %12s %11s %12s %11s %10s %7s %6s\n' run am_notif/s am_rss_KiB wg_notif/s \
    wg_rss_KiB accept_ms speed rss
for r in $(seq 1 "$RUNS"); do
    run "$r"
    printf '%-4s %12.0f %11d %12.0f %11d %10s %6.2fx %6.2f\n' "$r" \
        "$(echo "$N / ${am_secs[r]}" | bc -l)" "${am_rss[r]}" \
        "$(echo "$N / ${wg_secs[r]}" | bc -l)" "${wg_rss[r]}" "${wg_accept[r]}" \
        "$(echo "${am_secs[r]} / ${wg_secs[r]}" | bc -l)" \
        "$(echo "${wg_rss[r]} / ${am_rss[r]}" | bc -l)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
am_rate=$(median $(for r in $(seq 1 "$RUNS"); do echo "$N / ${am_secs[r]}" | bc -l; done))
wg_rate=$(median $(for r in $(seq 1 "$RUNS"); do echo "$N / ${wg_secs[r]}" | bc -l; done))
am_rss_m=$(median "${am_rss[@]}")
wg_rss_m=$(median "${wg_rss[@]}")
printf 'median: alertmanager %.0f/s, RSS %d KiB; wavegate (%s outbox) %.0f/s, RSS %d KiB\n' \
    "$am_rate" "$am_rss_m" "$([ -n "${PG:-}" ] && echo postgres || echo sqlite)" "$wg_rate" "$wg_rss_m"
ratio=$(echo "$wg_rate / $am_rate" | bc -l)
rss_ratio=$(echo "$wg_rss_m / $am_rss_m" | bc -l)
printf 'throughput ratio %.2fx (want >= 2), RSS ratio %.2f (want <= 0.33)\n' "$ratio" "$rss_ratio"
ok=1
(( $(echo "$ratio >= 2" | bc -l) )) || ok=0
(( $(echo "$rss_ratio <= 0.3334" | bc -l) )) || ok=0
for r in $(seq 1 "$RUNS"); do [ "${arrived[r]}" -ge "$N" ] || ok=0; done
[ $ok = 1 ] && echo PASS || { echo FAIL; exit 1; }
