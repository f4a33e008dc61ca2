#!/usr/bin/env bash
# test_rules_influx.sh — issue 4's judges against a real InfluxDB 1.x with a pre-deploy and a
# post-deploy period: Mann-Whitney on raw samples against the pre-deploy window, a canary
# split by tag, baseline: previous with `history list|invalidate`, per-wave overrides, scoring
# with key and dry-run rules, and `check --wait` (a bake-time analysis) failing fast.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
SRC=${WG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

influx_deploy_scenario || exit 1
cfg="$WG_TMP/rules.yaml"
cat > "$cfg" <<YAML
state_dir: $WG_TMP/state
sources:
  db: {kind: influxql, url: $INFLUX_URL, database: telemetry}
waves:
  - {name: staging, env: staging, source: db}
  - name: prod-internal
    env: internal
    source: db
    defaults: {severity: page}
features:
  latency:
    rules:
      - name: shift
        query: SELECT "latency_ms" FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        judge: mann-whitney
        baseline: {window: 30m}
        direction: increase
        allowed_increase: 10%
        min_samples: 50
  canary:
    rules:
      - name: canary-vs-stable
        query: SELECT "latency_ms" FROM "rollout" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }} GROUP BY "version"
        judge: mann-whitney
        split: {tag: version, baseline: stable, canary: canary}
        direction: increase
        allowed_increase: 5%
  starved:
    rules:
      - name: too-few
        query: SELECT "latency_ms" FROM "http" WHERE "env" = {{ env }} AND "host" = 'a' AND time >= {{ start }} AND time < {{ start }} + 100s
        judge: mann-whitney
        baseline: {window: 30m}
  previous:
    rules:
      - name: mean-vs-previous
        query: SELECT mean("latency_ms") FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        baseline: previous
        max_increase: 20%
  scored:
    score: {pass: 70%, warning: 50%}
    rules:
      - name: strict-p95
        query: SELECT percentile("latency_ms", 95) FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        threshold: {max: 100}
        weight: 1
      - name: loose-p95
        query: SELECT percentile("latency_ms", 95) FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        threshold: {max: 1000}
        weight: 3
      - name: dry
        query: SELECT max("latency_ms") FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        threshold: {max: 1}
        dry_run: true
  overridden:
    rules:
      - name: p95
        query: SELECT percentile("latency_ms", 95) FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        threshold: {max: 100}
        waves:
          staging: {threshold: {max: 1000}}
YAML

run() { out=$("$WG" "$@" 2>"$WG_TMP/stderr"); rc=$?; err=$(cat "$WG_TMP/stderr"); }
rule() { jq_get "$out" "[r for r in d['rules'] if r['rule']=='$1'][0]$2"; }

run validate --config "$cfg"
expect_eq "config is valid" 0 "$rc"
[ "$rc" -eq 0 ] || { echo "$err"; finish; exit 1; }

# --- Mann-Whitney against the pre-deploy window
run check --config "$cfg" --wave staging --feature latency --deploy-time "$T" --format json
expect_eq "mann-whitney: unchanged latency passes" 0 "$rc"
# 3 hosts, a point every 10 s: 10 min after the deploy and 30 min before it
expect_eq "mann-whitney: both sides counted" "180 540" \
    "$(rule shift '["mann_whitney"]["n_current"]') $(rule shift '["mann_whitney"]["n_baseline"]')"
run check --config "$cfg" --wave prod-internal --feature latency --deploy-time "$T" --format json
expect_eq "mann-whitney: 3x latency fails" 1 "$rc"
expect_eq "mann-whitney: tiny p-value" True "$(rule shift '["mann_whitney"]["p_value"] < 1e-6')"
expect_eq "mann-whitney: mean ratio near 3" True "$(rule shift '["mann_whitney"]["mean_ratio"] > 2.5')"
expect_eq "wave defaults apply (severity)" page "$(rule shift '["severity"]')"

# --- canary split by tag in one window
run check --config "$cfg" --wave staging --feature canary --deploy-time "$T" --format json
expect_eq "split: equal canary passes" 0 "$rc"
run check --config "$cfg" --wave prod-internal --feature canary --deploy-time "$T" --format json
expect_eq "split: 40% slower canary fails" 1 "$rc"
expect_eq "split: shift is positive" True "$(rule canary-vs-stable '["mann_whitney"]["shift"] > 0')"

# --- power guard: fewer than min_samples is inconclusive, never a guess
run check --config "$cfg" --wave prod-internal --feature starved --deploy-time "$T" --format json
expect_eq "below min_samples is inconclusive" 2 "$rc"
expect_match "below min_samples says so" 'min_samples' "$(rule too-few '["reason"]')"

# --- baseline: previous, history list and invalidate
run check --config "$cfg" --wave staging --feature previous --deploy-time "$T" --format json
expect_eq "previous: first run has no baseline yet" 2 "$rc"
expect_match "previous: the first value seeds the baseline" 'bootstrap' \
    "$("$WG" history list --config "$cfg" --feature previous)"
expect_match "previous: says there is no baseline" 'baseline' "$(rule mean-vs-previous '["reason"]')"
# two healthy windows before the deploy pass against that seed
for shift in 1800 1200; do
    earlier=$(date -u -d "@$(( deploy - shift ))" +%Y-%m-%dT%H:%M:%SZ)
    "$WG" check --config "$cfg" --wave staging --feature previous --deploy-time "$earlier" >/dev/null 2>&1
done
run history list --config "$cfg" --feature previous
expect_eq "history list exits 0" 0 "$rc"
expect_eq "history has three evaluations" 3 "$(grep -c mean-vs-previous <<<"$out")"
run check --config "$cfg" --wave staging --feature previous --deploy-time "$T" --format json
expect_eq "previous: healthy deploy passes against earlier passes" 0 "$rc"
expect_eq "previous: baseline reported" True "$(rule mean-vs-previous '["baseline"] > 50')"
run check --config "$cfg" --wave prod-internal --feature previous --deploy-time "$T" --format json
expect_eq "previous: history is per wave" 2 "$rc"
run history invalidate --config "$cfg" --feature previous --wave staging
expect_eq "history invalidate exits 0" 0 "$rc"
expect_match "history invalidate counts" 'invalidated [1-9]' "$out"
run check --config "$cfg" --wave staging --feature previous --deploy-time "$T" --format json
expect_eq "previous: invalidated history is no baseline" 2 "$rc"

# --- scoring, key and dry-run rules
run check --config "$cfg" --wave prod-internal --feature scored --deploy-time "$T" --format json
expect_eq "score: 3 of 4 weight passing is 75% >= 70% -> pass" 0 "$rc"
expect_eq "score reported" 75 "$(jq_get "$out" 'round(d["features"][0]["score"])')"
expect_eq "dry-run rule is reported as fail" fail "$(rule dry '["verdict"]')"
expect_eq "dry-run rule is flagged" True "$(rule dry '["dry_run"]')"

# --- per-wave override: loose in staging, strict elsewhere
run check --config "$cfg" --wave staging --feature overridden --deploy-time "$T" --format json
expect_eq "override: staging threshold 1000 passes" 0 "$rc"
expect_eq "override: effective threshold reported" 1000 "$(rule p95 '["threshold"]["max"]')"
run check --config "$cfg" --wave prod-internal --feature overridden --deploy-time "$T" --format json
expect_eq "override: other waves keep max 100" 1 "$rc"

# --- check --wait: a bake-time analysis that fails fast and one that passes
start=$(date +%s)
run check --config "$cfg" --wave prod-internal --feature latency --deploy-time "$T" --wait \
    --interval 1s --count 5 --format json
expect_eq "wait: regression fails at the first look" 1 "$rc"
expect_eq "wait: one measurement taken" 1 "$(jq_get "$out" 'd["analysis"]["measurements"]')"
run check --config "$cfg" --wave staging --feature latency --deploy-time "$T" --wait \
    --interval 1s --count 3 --format json
expect_eq "wait: healthy analysis passes after every look" 0 "$rc"
expect_eq "wait: three measurements" 3 "$(jq_get "$out" 'd["analysis"]["measurements"]')"
expect_match "wait: one progress line per look" 'look 3/3' "$err"
influx_stop
run check --config "$cfg" --wave staging --feature latency --deploy-time "$T" --wait \
    --interval 1s --count 5 --error-limit 1 --format json
expect_eq "wait: an outage is an error, not a failure" 3 "$rc"
expect_eq "wait: stops after error-limit + 1 errors" 2 "$(jq_get "$out" 'd["analysis"]["errors"]')"

finish
