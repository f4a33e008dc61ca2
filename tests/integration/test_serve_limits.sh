#!/usr/bin/env bash
# test_serve_limits.sh — `wavegate serve` under hostile clients: the per-IP connection cap,
# idle connections timed out, a trickling (slowloris) peer cannot starve others, malformed
# and oversized requests answered 4xx or closed, and the server alive after all of it.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
PEERS=${WG_PEERS:-$(cd "$(dirname "$0")/../peers" && pwd)}

cfg="$WG_TMP/wavegate.yaml"
cat > "$cfg" <<YAML
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
state_dir: $WG_TMP/state
server:
  listen: 127.0.0.1:0
  per_ip_connections: 4
  connection_timeout: 2s
  max_connections: 64
YAML
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

out=$(python3 "$PEERS/slow_clients.py" "$PORT" junk | tr '\n' ' ')
expect_match "malformed requests: 4xx or closed, never 2xx" \
    '^(4[0-9][0-9]|closed) (4[0-9][0-9]|closed) (4[0-9][0-9]|closed) (4[0-9][0-9]|closed) (4[0-9][0-9]|closed) (4[0-9][0-9]|closed) after=200 $' "$out"
expect_eq "server alive" 1 "$(kill -0 "$pid" && echo 1)"
finish
