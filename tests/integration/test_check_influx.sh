#!/usr/bin/env bash
# test_check_influx.sh — `wavegate check`, `validate` and `query` against a real InfluxDB 1.x:
# a healthy wave passes (exit 0), a regressed wave fails (exit 1) naming each failing rule
# with its value, a feature without data is inconclusive (exit 2), a stopped InfluxDB is
# "could not evaluate" (exit 3, never 0), a broken config exits 78 naming the line.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
SRC=${WG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

influx_deploy_scenario || exit 1
cfg="$WG_TMP/wavegate.yaml"
sed "s|@INFLUX_URL@|$INFLUX_URL|" "$SRC/examples/demo.yaml.in" > "$cfg"

run() { out=$("$WG" "$@" 2>"$WG_TMP/stderr"); rc=$?; err=$(cat "$WG_TMP/stderr"); }

# --- validate
run validate --config "$cfg"
expect_eq "validate: demo config is valid" 0 "$rc"

# --- healthy wave
run check --config "$cfg" --wave staging --feature checkout --deploy-time "$T" --format json
expect_eq "healthy wave exits 0" 0 "$rc"
expect_eq "healthy wave verdict" pass "$(jq_get "$out" 'd["verdict"]')"
expect_eq "healthy wave has 3 rules" 3 "$(jq_get "$out" 'len(d["rules"])')"
expect_eq "window starts at the deploy" "$T" "$(jq_get "$out" 'd["rules"][0]["window"]["start"]')"
expect_eq "p95 is judged per host" "a,b,c" \
    "$(jq_get "$out" '",".join(sorted(g["labels"]["host"] for g in d["rules"][0]["groups"]))')"
expect_eq "baseline rule reports its baseline" True \
    "$(jq_get "$out" 'd["rules"][2]["baseline"] > 50')"

# --- regressed wave
run check --config "$cfg" --wave prod-internal --feature checkout --deploy-time "$T" --format json
expect_eq "regressed wave exits 1" 1 "$rc"
expect_eq "regressed wave verdict" fail "$(jq_get "$out" 'd["verdict"]')"
expect_eq "every failing rule is named" "error-rate,latency-vs-before,p95-latency" \
    "$(jq_get "$out" '",".join(sorted(r["rule"] for r in d["rules"] if r["verdict"]=="fail"))')"
expect_eq "failing p95 carries its measured value" True \
    "$(jq_get "$out" '[r for r in d["rules"] if r["rule"]=="p95-latency"][0]["value"] > 250')"
expect_eq "failing p95 carries its threshold" 250 \
    "$(jq_get "$out" '[r for r in d["rules"] if r["rule"]=="p95-latency"][0]["threshold"]["max"]')"
expect_match "reason explains the failure" '250' \
    "$(jq_get "$out" '[r for r in d["rules"] if r["rule"]=="p95-latency"][0]["reason"]')"

run check --config "$cfg" --wave prod-internal --feature checkout --deploy-time "$T"
expect_eq "text format exits 1 too" 1 "$rc"
expect_match "text format shows FAIL and the rule" 'FAIL +checkout +p95-latency' "$out"

# --- no data
run check --config "$cfg" --wave staging --feature search --deploy-time "$T" --format json
expect_eq "feature without data exits 2" 2 "$rc"
expect_eq "no data verdict" inconclusive "$(jq_get "$out" 'd["verdict"]')"
expect_match "no data reason" 'no data' "$(jq_get "$out" 'd["rules"][0]["reason"]')"

# --- a wave whose env has no data at all: inconclusive, never pass
run check --config "$cfg" --wave prod-external --feature checkout --deploy-time "$T"
expect_eq "wave without data exits 2" 2 "$rc"

# --- window not complete yet: cannot pass
future=$(date -u -d "@$(( $(date +%s) - 60 ))" +%Y-%m-%dT%H:%M:%SZ)
run check --config "$cfg" --wave staging --feature checkout --deploy-time "$future" --format json
expect_eq "incomplete window is not a pass" 2 "$rc"

# --- unknown wave / feature: usage error naming it
run check --config "$cfg" --wave nope
expect_eq "unknown wave exits 64" 64 "$rc"
expect_match "unknown wave is named" 'unknown wave "nope"' "$err"
run check --config "$cfg" --wave staging --feature nope
expect_eq "unknown feature exits 64" 64 "$rc"

# --- query command
run query --config "$cfg" --wave prod-internal --feature checkout --rule p95-latency \
    --deploy-time "$T" --format json
expect_eq "query exits 0" 0 "$rc"
expect_eq "query returns one table per host" 3 "$(jq_get "$out" 'len(d["tables"])')"
expect_match "query shows the rendered query" "\"env\" = 'internal'" "$(jq_get "$out" 'd["query"]')"
expect_eq "query columns" "time,p95" \
    "$(jq_get "$out" '",".join(c["name"] for c in d["tables"][0]["columns"])')"

# --- a query the server rejects: exit 3 with the server's message
sed 's|SELECT mean("latency_ms") AS "mean" FROM "http"|SELECT mean("latency_ms" FROM "http"|' \
    "$cfg" > "$WG_TMP/bad-query.yaml"
run check --config "$WG_TMP/bad-query.yaml" --wave staging --feature checkout --deploy-time "$T" \
    --format json
expect_eq "query error exits 3" 3 "$rc"
expect_match "query error carries the server's message" 'error parsing query' \
    "$(jq_get "$out" '[r for r in d["rules"] if r["verdict"]=="error"][0]["reason"]')"
run query --config "$WG_TMP/bad-query.yaml" --wave staging --feature checkout \
    --rule latency-vs-before --deploy-time "$T"
expect_eq "query command on a bad query exits 3" 3 "$rc"

# --- a database that does not exist: statement error inside HTTP 200 is not data
sed 's|database: telemetry|database: nosuchdb|' "$cfg" > "$WG_TMP/nodb.yaml"
run check --config "$WG_TMP/nodb.yaml" --wave staging --feature checkout --deploy-time "$T" \
    --format json
expect_eq "missing database exits 3" 3 "$rc"
expect_match "missing database is named" 'database not found' "$out"

# --- broken YAML: 78, naming file and line
printf 'sources:\n  local:\n    kind: influxql\n    url: [unclosed\n' > "$WG_TMP/broken.yaml"
run check --config "$WG_TMP/broken.yaml" --wave staging
expect_eq "broken YAML exits 78" 78 "$rc"
expect_match "broken YAML names file:line:col" 'broken.yaml:[0-9]+:[0-9]+' "$err"
sed 's|window: 10m|window: 10 minutes|' "$cfg" > "$WG_TMP/baddur.yaml"
run validate --config "$WG_TMP/baddur.yaml"
expect_eq "bad duration exits 78" 78 "$rc"
expect_match "bad duration names line and key" 'baddur.yaml:[0-9]+:[0-9]+: features\.checkout\.rules\[0\]\.window' "$err"

# --- nothing judged is inconclusive (exit 2), never a pass: no features at all, a feature
# with no rules, every rule dry-run; the reason is shown and no 1970 window is printed.
# (Before: `verdict: PASS`, exit 0, window 1970-01-01.) /v1/gate goes through the same code.
printf 'sources:\n  db: {url: %s, database: telemetry}\nwaves: [{name: staging, source: db}]\n' \
    "$INFLUX_URL" > "$WG_TMP/nofeat.yaml"
cp "$WG_TMP/nofeat.yaml" "$WG_TMP/norules.yaml"
printf 'features:\n  f:\n    rules: []\n' >> "$WG_TMP/norules.yaml"
sed 's|^\(\s*\)window: 10m|\1window: 10m\n\1dry_run: true|' "$cfg" > "$WG_TMP/dry.yaml"
run validate --config "$WG_TMP/nofeat.yaml"
expect_eq "a config without features validates" 0 "$rc"
for c in nofeat norules dry; do
    args=(--wave staging)
    [ "$c" = dry ] && args+=(--feature checkout --deploy-time "$T")
    run check --config "$WG_TMP/$c.yaml" "${args[@]}"
    expect_eq "$c: nothing judged exits 2" 2 "$rc"
    expect_match "$c: text verdict inconclusive" 'verdict: INCONCLUSIVE' "$out"
    expect_match "$c: text reason" 'reason: no rules for this wave/feature' "$out"
    expect_eq "$c: no 1970 window in text" "" "$(grep 1970 <<<"$out")"
    run check --config "$WG_TMP/$c.yaml" "${args[@]}" --format json
    expect_eq "$c: json exits 2" 2 "$rc"
    expect_eq "$c: json verdict" inconclusive "$(jq_get "$out" 'd["verdict"]')"
    expect_match "$c: json reason" 'no rules for this wave/feature' "$(jq_get "$out" 'd["reason"]')"
    expect_eq "$c: no 1970 window in json" "" "$(grep 1970 <<<"$out")"
done
serve_start "$WG_TMP/nofeat.yaml" || exit 1
body=$(curl -s "$BASE/v1/gate?wave=staging")
expect_eq "/v1/gate without features: inconclusive" inconclusive "$(jq_get "$body" 'd["verdict"]')"
expect_match "/v1/gate gives the reason" 'no rules for this wave/feature' \
    "$(jq_get "$body" 'd.get("reason")')"
serve_stop

# --- history for baseline: previous is what the caller decides: deploys and finished analyses,
# not every check without a deploy (a monitor tick, a look). (Before: every check recorded.)
pcfg="$WG_TMP/previous.yaml"
{ echo "state_dir: $WG_TMP/pstate"; previous_yaml 20%; } > "$pcfg"
rows() { "$WG" history list --config "$pcfg" | grep -c ' mean-vs-previous '; }
run check --config "$pcfg" --wave staging
run check --config "$pcfg" --wave staging
expect_eq "checks without a deploy record no history" 0 "$(rows)"
run check --config "$pcfg" --wave staging --deploy-time "$T"
expect_eq "a deploy-anchored check records" 1 "$(rows)"
run check --config "$pcfg" --wave staging --deploy-time "$T" --wait --count 3 --interval 100ms
expect_eq "check --wait records its decision only (3 looks, 1 row)" 2 "$(rows)"
serve_start "$pcfg" || exit 1
curl -s "$BASE/v1/gate?wave=staging" > /dev/null
expect_eq "/v1/gate without deploy_time records nothing" 2 "$(rows)"
curl -s "$BASE/v1/gate?wave=staging&deploy_time=$T" > /dev/null
expect_eq "/v1/gate with deploy_time records" 3 "$(rows)"
id=$(jq_get "$(curl -s -H 'Content-Type: application/json' --data-binary \
    "{\"wave\":\"staging\",\"deploy_time\":\"$T\",\"interval\":\"100ms\",\"count\":3}" \
    "$BASE/v1/analyses")" 'd["id"]')
analysis_done() { curl -s "$BASE/v1/analyses/$id" | grep -q '"status":"\(pass\|fail\|inconclusive\|error\)"'; }
wait_for 20 analysis_done
expect_eq "/v1/analyses records its final look only (3 looks, 1 row)" 4 "$(rows)"
serve_stop

# --- InfluxDB stopped: could not evaluate, exit 3 (never 0)
influx_stop
run check --config "$cfg" --wave staging --feature checkout --deploy-time "$T" --format json
expect_eq "stopped InfluxDB exits 3" 3 "$rc"
expect_eq "stopped InfluxDB verdict" error "$(jq_get "$out" 'd["verdict"]')"
expect_match "the reason says why" '[Cc]onnect' "$(jq_get "$out" 'd["rules"][0]["reason"]')"

finish
