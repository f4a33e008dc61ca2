#!/usr/bin/env bash
# test_check_timeout.sh — `wavegate check --timeout D` against a source that accepts and never
# answers (tests/peers/influx_peer.py "hang"; the source's own timeout 10 s, 2 retries): the
# check ends at about D with exit 3 and every rule "could not evaluate", the deadline named,
# never a pass; with --wait each look has its own D; a bad D is a usage error (exit 64).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
PEERS=${WG_PEERS:-$(cd "$(dirname "$0")/../peers" && pwd)}

cat > "$WG_TMP/scenario.json" <<'JSON'
{"routes": [{"path": "/query", "responses": [{"hang": true}]}]}
JSON
influx_peer_start "$WG_TMP/scenario.json" || exit 1
cfg=$WG_TMP/wavegate.yaml
cat > "$cfg" <<YAML
sources:
  db: {kind: influxql, url: '$PEER_URL', database: telemetry, timeout: 10s, retries: 2}
waves: [{name: staging, source: db}]
features:
  f:
    rules:
      - {name: a, query: 'SELECT max(p95) FROM http WHERE time >= {{ start }} AND time < {{ end }}', threshold: {max: 1000}, no_data: pass}
      - {name: b, query: 'SELECT max(p99) FROM http WHERE time >= {{ start }} AND time < {{ end }}', threshold: {max: 1000}, no_data: pass}
state_dir: $WG_TMP/state
YAML

ms() { date +%s%3N; }
t0=$(ms)
"$WG" check --config "$cfg" --wave staging --timeout 1s --format json > "$WG_TMP/out.json" 2> "$WG_TMP/err.txt"
rc=$?
el=$(( $(ms) - t0 ))
expect_eq "check --timeout 1s on a hung source: exit 3 (could not evaluate)" 3 "$rc"
[ "$el" -lt 5000 ] && ok "it ended at the deadline, not the source's 30 s ($el ms)" ||
    not_ok "it ended at the deadline" "took $el ms"
expect_eq "the verdict is error" error "$(jq -r .verdict "$WG_TMP/out.json")"
expect_eq "every rule could not be evaluated" "error error" \
    "$(jq -r '[.rules[].verdict] | join(" ")' "$WG_TMP/out.json")"
expect_match "the reason names the deadline" 'deadline' "$(jq -r '.rules[0].reason' "$WG_TMP/out.json")"

# --wait: two looks a second apart, each cut at its own 1 s: ends within a few seconds
t0=$(ms)
"$WG" check --config "$cfg" --wave staging --timeout 1s --wait --interval 1s --count 2 \
    --error-limit 1 > /dev/null 2>&1
rc=$?
el=$(( $(ms) - t0 ))
expect_eq "check --wait --timeout 1s: exit 3" 3 "$rc"
[ "$el" -lt 8000 ] && ok "each look ended at its deadline ($el ms for 2 looks)" ||
    not_ok "each look ended at its deadline" "took $el ms"

for bad in bogus 0s 6m; do
    "$WG" check --config "$cfg" --wave staging --timeout "$bad" > /dev/null 2> "$WG_TMP/err.txt"
    expect_eq "--timeout $bad is a usage error (exit 64)" 64 "$?"
done
expect_match "the usage error names the option" '--timeout' "$(cat "$WG_TMP/err.txt")"
finish
