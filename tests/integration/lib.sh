# lib.sh — helpers for integration tests and the demo: a real InfluxDB 1.x on a free loopback
# port with a temporary directory, line-protocol writes, and small assertions.
# Source it; call influx_start, then influx_write / influx_query; cleanup runs on exit.

WG_TMP=${WG_TMP:-$(mktemp -d "${TMPDIR:-/tmp}/wavegate-test.XXXXXX")}
WG_FAILS=0
WG_PASSES=0
_wg_cleanup_fns=()

wg_on_exit() { _wg_cleanup_fns+=("$1"); }
_wg_run_cleanup() {
    local fn
    for fn in "${_wg_cleanup_fns[@]}"; do "$fn" || true; done
    [ -n "${WG_KEEP_TMP:-}" ] || rm -rf "$WG_TMP"
}
trap _wg_run_cleanup EXIT

# A TCP port nobody listens on right now (the kernel picks it).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Wait until a command succeeds, polling every 0.1 s, for at most $1 seconds.
wait_for() {
    local secs=$1; shift
    local deadline=$(( $(date +%s) + secs ))
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

influx_start() {
    local influxd=${INFLUXD:-$(command -v influxd || echo /usr/bin/influxd)}
    if [ ! -x "$influxd" ]; then
        echo "influxd not found: apt-get install -y influxdb" >&2
        return 1
    fi
    local dir="$WG_TMP/influxdb" http rpc
    mkdir -p "$dir"
    http=$(free_port); rpc=$(free_port)
    cat > "$dir/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$dir/meta"
  logging-enabled = false
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:$http"
  log-enabled = false
  pprof-enabled = false
[continuous_queries]
  enabled = false
CONF
    "$influxd" -config "$dir/influxdb.conf" > "$dir/influxd.log" 2>&1 &
    INFLUX_PID=$!
    INFLUX_URL="http://127.0.0.1:$http"
    export INFLUX_URL INFLUX_PID
    wg_on_exit influx_stop
    if ! wait_for 60 curl -sf "$INFLUX_URL/ping"; then
        echo "influxd did not start; its log:" >&2
        tail -20 "$dir/influxd.log" >&2
        return 1
    fi
}

influx_stop() {
    if [ -n "${INFLUX_PID:-}" ] && kill -0 "$INFLUX_PID" 2>/dev/null; then
        kill "$INFLUX_PID" 2>/dev/null
        wait "$INFLUX_PID" 2>/dev/null || true
    fi
    INFLUX_PID=
}

# influx_query DB QUERY — POST a statement (CREATE DATABASE etc.).
influx_query() {
    curl -sf -XPOST "$INFLUX_URL/query" --data-urlencode "db=$1" --data-urlencode "q=$2" >/dev/null
}

# influx_write DB FILE — line protocol with second precision.
influx_write() {
    local out
    out=$(curl -s -w '%{http_code}' -o "$WG_TMP/write.out" -XPOST \
        "$INFLUX_URL/write?db=$1&precision=s" --data-binary @"$2")
    if [ "$out" != 204 ]; then
        echo "write failed ($out): $(cat "$WG_TMP/write.out")" >&2
        return 1
    fi
}

# influx_deploy_scenario — a real InfluxDB with scripts/gen_deploy.py's deploy written to
# database telemetry (staging healthy, internal regressed, a canary rollout), the deploy 11
# minutes ago on a whole minute. Sets deploy (unix seconds) and T (RFC3339).
influx_deploy_scenario() {
    local src
    src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    influx_start || return 1
    influx_query "" 'CREATE DATABASE "telemetry"' || return 1
    deploy=$(( $(date +%s) / 60 * 60 - 11 * 60 ))
    python3 "$src/scripts/gen_deploy.py" "$deploy" "$WG_TMP/deploy.lp" || return 1
    influx_write telemetry "$WG_TMP/deploy.lp" || return 1
    T=$(date -u -d "@$deploy" +%Y-%m-%dT%H:%M:%SZ)
}

# dead_source_yaml — the head of a config whose one source is a closed loopback port (9): wave
# staging, feature f with one rule r (max 1). The test appends its own keys after it.
dead_source_yaml() {
    cat <<'YAML'
sources:
  local: {kind: influxql, url: "http://127.0.0.1:9", database: x}
waves:
  - {name: staging, env: staging, source: local}
features:
  f:
    rules:
      - name: r
        query: SELECT 1 FROM m WHERE time >= {{ start }} AND time < {{ end }}
        threshold: {max: 1}
YAML
}

# previous_yaml MAX_INCREASE — sources, waves and features of a config on the real InfluxDB
# ($INFLUX_URL, influx_deploy_scenario's telemetry): wave staging, feature prev with one rule
# mean-vs-previous (baseline: previous, max_increase MAX_INCREASE). The caller adds the rest.
previous_yaml() {
    cat <<YAML
sources:
  local: {kind: influxql, url: $INFLUX_URL, database: telemetry}
waves: [{name: staging, env: staging, source: local}]
features:
  prev:
    rules:
      - name: mean-vs-previous
        query: SELECT mean("latency_ms") FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        baseline: previous
        max_increase: $1
YAML
}

# serve_bg CONFIG LOG [ARG...] — `$WG serve --config CONFIG ARG...` on a free loopback port in
# the background, its stderr in LOG (emptied first); sets BG_PID, BG_PORT and BG_BASE. Returns
# 1 with the log on stderr if it is not listening within 20 s (BG_PID is set all the same).
serve_bg() {
    local conf=$1 log=$2
    shift 2
    : > "$log"
    BG_PORT= BG_BASE=
    "$WG" serve --config "$conf" --listen 127.0.0.1:0 "$@" 2>>"$log" &
    BG_PID=$!
    if ! wait_for 20 grep -q 'listening on port [0-9]' "$log"; then
        echo "serve ($conf) did not start:" >&2; cat "$log" >&2; return 1
    fi
    BG_PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$log" | head -1)
    BG_BASE="http://127.0.0.1:$BG_PORT"
}

# serve_start [CONFIG [ARG...]] — serve_bg of CONFIG (default $cfg) with ARG..., logging to
# $WG_TMP/serve.log; sets SERVE_PID, PORT and BASE. serve_stop sends SIGTERM and waits,
# leaving the exit status in SERVE_RC.
serve_start() {
    local rc=0
    serve_bg "${1:-$cfg}" "$WG_TMP/serve.log" "${@:2}" || rc=1
    SERVE_PID=$BG_PID PORT=$BG_PORT BASE=$BG_BASE
    return $rc
}
serve_stop() {
    if [ -n "${SERVE_PID:-}" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
        kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; SERVE_RC=$?
    fi
    SERVE_PID=
}

# sink_start — $PEERS/sink_peer.py on $WG_TMP/scenario.json (write it first), logging the
# requests it gets to SINK_LOG; sets SINK_PID and SP (its port), stopped on exit; exits the
# test if it does not start.
sink_start() {
    local peers=${PEERS:?PEERS must point at tests/peers}
    SINK_LOG="$WG_TMP/sink.jsonl"
    : > "$SINK_LOG"
    python3 "$peers/sink_peer.py" "$WG_TMP/scenario.json" "$SINK_LOG" > "$WG_TMP/sink.out" &
    SINK_PID=$!
    wg_on_exit sink_stop
    wait_for 10 grep -q '^PORT ' "$WG_TMP/sink.out" || { echo "sink did not start"; exit 1; }
    SP=$(sed -n 's/^PORT //p' "$WG_TMP/sink.out")
}
sink_stop() { kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null; }
# sink PYEXPR — the test's own $WG_TMP/q.py evaluating PYEXPR over SINK_LOG.
sink() { python3 "$WG_TMP/q.py" "$SINK_LOG" "$1"; }
# poll_until SECS PYEXPR — until `sink PYEXPR` prints True, for at most SECS seconds.
poll_until() {
    local deadline=$(( $(date +%s) + $1 ))
    until [ "$(sink "$2")" = True ]; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# influx_peer_start SCENARIO [LOG] — $PEERS/influx_peer.py on port 0; sets PEER_URL. Its stdin
# is a pipe we hold: the peer exits when the test does, whatever happens.
influx_peer_start() {
    local peers=${PEERS:?PEERS must point at tests/peers}
    mkfifo "$WG_TMP/peer.in"
    python3 "$peers/influx_peer.py" "$@" < "$WG_TMP/peer.in" > "$WG_TMP/peer.port" &
    PEER_PID=$!
    exec {PEER_FD}> "$WG_TMP/peer.in"
    wg_on_exit influx_peer_stop
    if ! wait_for 10 test -s "$WG_TMP/peer.port"; then
        echo "influx_peer.py did not start" >&2
        return 1
    fi
    PEER_URL="http://127.0.0.1:$(head -1 "$WG_TMP/peer.port")"
}
influx_peer_stop() {
    [ -n "${PEER_PID:-}" ] || return 0
    exec {PEER_FD}>&-
    kill "$PEER_PID" 2>/dev/null
    wait "$PEER_PID" 2>/dev/null
    PEER_PID=
}

# ---- assertions: each prints want and got on failure -------------------------------------
ok() { WG_PASSES=$((WG_PASSES + 1)); echo "ok - $1"; }
not_ok() { WG_FAILS=$((WG_FAILS + 1)); echo "not ok - $1"; shift; for l in "$@"; do echo "    $l"; done; }

# expect_eq NAME WANT GOT
expect_eq() {
    if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "want: $2" "got:  $3"; fi
}
# expect_match NAME REGEX TEXT
expect_match() {
    if [[ "$3" =~ $2 ]]; then ok "$1"; else not_ok "$1" "want match: $2" "got: ${3:0:2000}"; fi
}
# jq_get JSON EXPR — a value from JSON via python3 (expr is a Python expression on `d`).
jq_get() {
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

finish() {
    echo "$WG_PASSES passed, $WG_FAILS failed"
    [ "$WG_FAILS" -eq 0 ]
}
