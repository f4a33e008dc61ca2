#!/usr/bin/env bash
# bench_alerting.sh — 2,000 alerts in distinct groups delivered to a local nginx sink, by
# wavegate (durable SQLite outbox, synchronous=FULL) and by Alertmanager in the same run.
# Prints notifications/s and peak RSS of both. Needs nginx and prometheus-alertmanager.
# usage: WG_BIN=/path/to/wavegate bench/bench_alerting.sh [N]
#        (or WG_ALERT_CMD="/path/to/cli" where "$WG_ALERT_CMD bench ..." runs `alert bench`)
set -euo pipefail
N=${1:-2000}
CMD=${WG_ALERT_CMD:-"${WG_BIN:-wavegate} alert"}
AM=${AM_BIN:-/usr/bin/prometheus-alertmanager}
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
T=$(mktemp -d /tmp/wg-bench-alert.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT

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

# ---- Alertmanager: push N alerts, wait until N webhook notifications reach nginx ----
AP=$(free_port)
cat > "$T/am.yml" <<EOF
route:
  receiver: sink
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: sink
    webhook_configs: [{url: 'http://127.0.0.1:$NP/am', send_resolved: false}]
EOF
"$AM" --config.file="$T/am.yml" --storage.path="$T/am-data" \
    --web.listen-address="127.0.0.1:$AP" --cluster.listen-address= 2>"$T/am.log" &
AMPID=$!
pids+=($AMPID)
wait_http "http://127.0.0.1:$AP/-/ready"
python3 - "$N" > "$T/alerts.json" <<'EOF'
import json, sys
n = int(sys.argv[1])
print(json.dumps([{"labels": {"alertname": "Bench%06d" % i, "severity": "critical"},
                   "annotations": {"summary": "bench"}} for i in range(n)]))
EOF
t0=$(date +%s.%N)
curl -fs -o /dev/null -H 'Content-Type: application/json' --data-binary @"$T/alerts.json" \
    "http://127.0.0.1:$AP/api/v2/alerts"
wait_count /am "$N"
t1=$(date +%s.%N)
am_rss=$(awk '/VmHWM/ {print $2}' /proc/$AMPID/status)
kill $AMPID
am_secs=$(echo "$t1 - $t0" | bc -l)
am_rate=$(echo "$N / $am_secs" | bc -l)

# ---- wavegate: N alerts → N groups → outbox (one commit) → worker → nginx ----
# Timed like Alertmanager: from starting the command (process start, database open, restore)
# to the N-th request logged by nginx.
t0=$(date +%s.%N)
out=$($CMD bench --url "http://127.0.0.1:$NP/wg" --n "$N" --state-dir "$T/wg-state")
wait_count /wg "$N"
t1=$(date +%s.%N)
wg_secs=$(echo "$t1 - $t0" | bc -l)
wg_rate=$(echo "$N / $wg_secs" | bc -l)
wg_rss=$(sed -n 's/.*rss_hwm_kib=\([0-9]*\).*/\1/p' <<<"$out")
arrived=$(count /wg)

printf 'alertmanager: %d notifications in %.2fs = %.0f/s, peak RSS %d KiB\n' \
    "$N" "$am_secs" "$am_rate" "$am_rss"
printf 'wavegate:     %d notifications in %.2fs = %.0f/s, peak RSS %d KiB (in-process: %s)\n' \
    "$arrived" "$wg_secs" "$wg_rate" "$wg_rss" "$out"
ratio=$(echo "$wg_rate / $am_rate" | bc -l)
rss_ratio=$(echo "$wg_rss / $am_rss" | bc -l)
printf 'throughput ratio %.2fx (want >= 2), RSS ratio %.2f (want <= 0.33)\n' "$ratio" "$rss_ratio"
ok=1
(( $(echo "$ratio >= 2" | bc -l) )) || ok=0
(( $(echo "$rss_ratio <= 0.3334" | bc -l) )) || ok=0
[ "$arrived" -ge "$N" ] || ok=0
[ $ok = 1 ] && echo PASS || { echo FAIL; exit 1; }
