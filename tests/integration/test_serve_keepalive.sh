#!/usr/bin/env bash
# test_serve_keepalive.sh — `wavegate serve` keeps its connections to the sources alive between
# gate calls (no TCP or TLS handshake per call): a second uncached /v1/gate reaches the source
# over the connections the first one opened, and a reload (SIGHUP: sources may have changed)
# closes them, so the next call opens new ones. The source is tests/peers/influx_peer.py, which
# logs each request's client port.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
PEERS=${WG_PEERS:-$(cd "$(dirname "$0")/../peers" && pwd)}

now=$(date +%s)
cat > "$WG_TMP/scenario.json" <<JSON
{"routes": [{"path": "/query", "responses": [{"status": 200,
  "headers": {"Content-Type": "application/json"},
  "body_json": {"results": [{"statement_id": 0, "series": [{"name": "http",
    "columns": ["time", "p95"], "values": [[${now}000000000, 100]]}]}]}}]}]}
JSON
influx_peer_start "$WG_TMP/scenario.json" "$WG_TMP/peer.jsonl" || exit 1

cfg=$WG_TMP/wavegate.yaml
cat > "$cfg" <<YAML
sources:
  db: {kind: influxql, url: '$PEER_URL', database: telemetry, chunk_size: 0}
waves: [{name: staging, source: db}]
features:
  f:
    rules:
      - {name: a, query: 'SELECT max(p95) FROM http WHERE time >= {{ start }} AND time < {{ end }}', threshold: {max: 1000}}
      - {name: b, query: 'SELECT max(p95) FROM http WHERE time >= {{ start }} AND time < {{ end }} AND p95 > 0', threshold: {max: 1000}}
state_dir: $WG_TMP/state
server: {cache_ttl: 0s}
YAML
SERVE_PID=
wg_on_exit serve_stop
serve_start "$cfg" || exit 1

# gate N: one uncached /v1/gate (its own deploy time), its verdict; the client ports the peer
# saw for it land in ports.N (one per line, sorted, unique)
gate() {
    local before after v
    before=$(wc -l < "$WG_TMP/peer.jsonl")
    v=$(curl -s "$BASE/v1/gate?wave=staging" | tee "$WG_TMP/gate.$1.json" | jq -r .verdict)
    [ "$v" = pass ] || jq -c "[.rules[] | {rule, verdict, reason}]" "$WG_TMP/gate.$1.json" >&2
    after=$(wc -l < "$WG_TMP/peer.jsonl")
    sed -n "$((before + 1)),${after}p" "$WG_TMP/peer.jsonl" | jq -r .client_port | sort -u \
        > "$WG_TMP/ports.$1"
    echo "$v"
}
expect_eq "first gate call passes" pass "$(gate 1)"
expect_eq "second gate call passes" pass "$(gate 2)"
n1=$(wc -l < "$WG_TMP/ports.1")
[ "$n1" -ge 1 ] && ok "the first call reached the source ($n1 connection(s))" ||
    not_ok "the first call reached the source" "no request logged"
new2=$(comm -13 "$WG_TMP/ports.1" "$WG_TMP/ports.2" | wc -l)
expect_eq "the second call opened no new connection (ports: $(tr '\n' ' ' < "$WG_TMP/ports.2"))" \
    0 "$new2"

kill -HUP "$SERVE_PID"
wait_for 10 grep -q 'serve: reloaded' "$WG_TMP/serve.log" ||
    not_ok "reload" "$(tail -3 "$WG_TMP/serve.log")"
expect_eq "the call after a reload passes" pass "$(gate 3)"
old3=$(comm -12 <(cat "$WG_TMP/ports.1" "$WG_TMP/ports.2" | sort -u) "$WG_TMP/ports.3" | wc -l)
expect_eq "after a reload the old connections are closed (ports: $(tr '\n' ' ' < "$WG_TMP/ports.3"))" \
    0 "$old3"
finish
