#!/usr/bin/env bash
# test_serve_limits.sh — `wavegate serve` under hostile clients: the per-IP connection cap,
# idle connections timed out, a trickling (slowloris) peer cannot starve others, a request
# head trickled past request_timeout is closed (the idle timeout alone never fires), a
# keep-alive client outlives it, slowloris from 60 addresses plus a connection flood leave a
# normal client every request (p99 reported), malformed and oversized requests answered 4xx
# or closed, and the server alive after all of it.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
PEERS=${WG_PEERS:-$(cd "$(dirname "$0")/../peers" && pwd)}

cfg="$WG_TMP/wavegate.yaml"
{ dead_source_yaml; cat <<YAML
state_dir: $WG_TMP/state
server:
  listen: 127.0.0.1:0
  per_ip_connections: 4
  connection_timeout: 2s
  request_timeout: 3s
  max_connections: 64
YAML
} > "$cfg"
"$WG" serve --config "$cfg" 2>"$WG_TMP/serve.log" &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null && wait "$pid"; }
wg_on_exit stop
wait_for 20 grep -q 'listening on port [0-9]' "$WG_TMP/serve.log" || { cat "$WG_TMP/serve.log"; exit 1; }
PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$WG_TMP/serve.log" | head -1)

out=$(python3 "$PEERS/slow_clients.py" "$PORT" perip)
expect_eq "per-IP cap: 4 of 8 idle connections kept, others still served" "kept=4 served=200" "$out"

# idle connections are closed after connection_timeout (2s): the per-IP slots come back
t0=$(date +%s%N)
python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.4", 0)); s.connect(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
s.recv(1)  # returns b'' when the server closes it
PY
el=$(( ($(date +%s%N) - t0) / 1000000 ))
expect_eq "idle connection closed after the timeout (1.5-6 s)" 1 \
    "$([ "$el" -ge 1500 ] && [ "$el" -le 6000 ] && echo 1 || echo "$el ms")"

out=$(python3 "$PEERS/slow_clients.py" "$PORT" slowloris)
expect_eq "slowloris peer does not starve others" "served=200" "$out"

# A header trickled a byte every 0.5 s is never idle for 2 s: only the whole-request deadline
# (request_timeout: 3s) closes it. Fails on the idle-timeout-only server ("open").
out=$(python3 "$PEERS/slow_clients.py" "$PORT" trickle 8)
expect_eq "trickled request head closed at request_timeout (2.5-5.5 s)" 1 \
    "$(python3 -c 'import sys; v=sys.argv[1]; print(1 if v!="open" and 2.5<=float(v)<=5.5 else v)' "$out")"

# The deadline is per request: a keep-alive client making a request every 0.5 s for 5 s (past
# request_timeout) keeps its connection.
out=$(python3 "$PEERS/slow_clients.py" "$PORT" keepalive 10)
expect_eq "keep-alive connection outlives request_timeout" "ok=10" "$out"

# Slowloris from 60 loopback addresses (240 connections, 4 per address: the per-IP cap does
# not help) plus a flood of 160 idle connections, all reopened when closed, against
# max_connections 64; meanwhile a normal client makes 30 requests. All must succeed; p99 is
# reported and bounded loosely (the machine is shared). On the old server 64 trickling
# connections hold every slot and the normal client times out.
ready="$WG_TMP/siege.ready"
python3 "$PEERS/slow_clients.py" "$PORT" siege 60 240 60 160 "$ready" > "$WG_TMP/siege.out" &
siege=$!
stop_siege() { kill "$siege" 2>/dev/null; wait "$siege" 2>/dev/null; }
wg_on_exit stop_siege
wait_for 20 test -s "$ready" || echo "siege did not start"
out=$(python3 "$PEERS/slow_clients.py" "$PORT" probe 30)
echo "# under siege: $out"
# Under ThreadSanitizer (every memory access instrumented, several times slower) the guard can
# shed behind the flood's reopening, so one probe in 30 may meet a full connection table (seen
# once in CI's TSan step); starvation (the old server: every probe timed out) still fails.
want='^ok=30 failed=0 ' label="30 of 30 served"
if [ -n "${TSAN_OPTIONS:-}" ]; then
    want='^ok=(30 failed=0|29 failed=1) ' label="at least 29 of 30 served (TSan build)"
fi
expect_match "normal client under slowloris + flood: $label" "$want" "$out"
p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$out")
expect_eq "normal client p99 under siege <= 1000 ms (target 50 ms; got ${p99:-?} ms)" 1 \
    "$(python3 -c 'import sys; print(1 if 0 <= float(sys.argv[1] or -1) <= 1000 else 0)' "${p99:-}")"
# The probe may finish before any trickler reached its deadline: poll (against a deadline)
# until the siege has been shed both ways, then read the counters.
shed_metrics() { curl -s "http://127.0.0.1:$PORT/metrics" | grep '^wavegate_http_connections_shed_total' | tr '\n' ' '; }
shed_both() { grep -Eq 'reason="deadline"} [1-9][0-9]* .*reason="capacity"} [1-9]' <<<"$(shed_metrics)"; }
wait_for 20 shed_both || true
shed=$(shed_metrics)
echo "# $shed"
stop_siege
expect_match "the guard shed connections (deadline and capacity)" \
    'reason="deadline"} [1-9][0-9]* .*reason="capacity"} [1-9]' "$shed"

out=$(python3 "$PEERS/slow_clients.py" "$PORT" junk | tr '\n' ' ')
expect_match "malformed requests: 4xx or closed, never 2xx" \
    '^(4[0-9][0-9]|closed) (4[0-9][0-9]|closed) (4[0-9][0-9]|closed) (4[0-9][0-9]|closed) (4[0-9][0-9]|closed) (4[0-9][0-9]|closed) after=200 $' "$out"
expect_eq "server alive" 1 "$(kill -0 "$pid" && echo 1)"
finish
