#!/usr/bin/env bash
# test_time_limits.sh — deploy times and durations that would overflow int64 nanoseconds, end
# to end through the real binary: `check --deploy-time` out of range is exit 64 (never 0),
# `validate` refuses durations past 366d, and `serve` answers such a POST /v1/gate with a 400
# JSON error and stays up. No data source is needed: nothing here may reach one.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}

# no_data: pass and a source nobody listens on: the old false pass needed nothing more
cfg="$WG_TMP/wavegate.yaml"
cat > "$cfg" <<YAML
sources:
  local: {kind: influxql, url: "http://127.0.0.1:9", database: x, retries: 0, timeout: 2s}
waves:
  - {name: staging, env: staging, source: local}
features:
  f:
    rules:
      - name: r
        query: SELECT 1 FROM m WHERE time >= {{ start }} AND time < {{ end }}
        no_data: pass
        threshold: {max: 1}
state_dir: $WG_TMP/state
server:
  listen: 127.0.0.1:0
  bearer_token_env: WG_T_TOKEN
YAML

# ---- wavegate check --deploy-time ---------------------------------------------------------
for t in 2262-04-11T23:40:00Z 2200-01-01T00:00:00Z 1970-01-01T00:00:00Z 1969-12-31T23:00:00Z \
    "$(date -u -d '+2 days' +%Y-%m-%dT%H:%M:%SZ)"; do
    err=$("$WG" check --config "$cfg" --wave staging --deploy-time "$t" 2>&1 >/dev/null)
    rc=$?
    expect_eq "check --deploy-time $t: exit 64" 64 "$rc"
    expect_match "check --deploy-time $t: names the option" "^wavegate: --deploy-time: $t is " "$err"
done
err=$("$WG" check --config "$cfg" --wave staging --now 1677-09-22T00:00:00Z 2>&1 >/dev/null)
expect_eq "check --now before 1970: exit 64" "64 wavegate: --now: 1677-09-22T00:00:00Z is too early: must be after 1970-01-01T00:00:00Z" "$? $err"
# in range: evaluated (the source is down: exit 3), not refused
"$WG" check --config "$cfg" --wave staging --deploy-time "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" \
    >/dev/null 2>&1
expect_eq "check with a deploy an hour ago: evaluated, source down: exit 3" 3 "$?"

# durations on the command line are capped like the config's: now + it always fits
"$WG" check --config "$cfg" --wave staging --wait --interval 106751d >/dev/null 2>&1
expect_eq "check --wait --interval 106751d: exit 64" 64 "$?"
"$WG" silence add --state-dir "$WG_TMP/sil" --duration 106751d 'alertname="x"' >/dev/null 2>&1
expect_eq "silence add --duration 106751d: exit 64 (was a signed overflow)" 64 "$?"

# ---- wavegate validate: durations are capped at 366d ---------------------------------------
for kv in "window: 106751d" "window: 9223372036s" "delay: 106000d"; do
    sed "s/        no_data: pass/        no_data: pass\n        $kv/" "$cfg" > "$WG_TMP/big.yaml"
    out=$("$WG" validate --config "$WG_TMP/big.yaml" 2>&1)
    rc=$?
    key=${kv%%:*}
    col=$(( 8 + ${#key} + 3 ))  # the value, after "        key: "
    expect_eq "validate $kv: exit 78 with the position" \
        "78 $WG_TMP/big.yaml:11:$col: features.f.rules[0].$key: duration too large (max 366d)" \
        "$rc $(grep -m1 'too large' <<<"$out")"
done

# ---- serve: POST /v1/gate with an overflowing deploy_time is a 400, never a crash ----------
export WG_T_TOKEN=s3cret-time-limits
serve_start "$cfg" || exit 1
wg_on_exit serve_stop
post() {
    curl -s -o "$WG_TMP/body" -w '%{http_code}' -H "Authorization: Bearer $WG_T_TOKEN" \
        -H 'Content-Type: application/json' --data-binary "$1" "$BASE/v1/gate"
}
for body in '{"wave": "staging", "deploy_time": "2262-04-11T23:40:00Z"}' \
    '{"wave": "staging", "deploy_time": 9223371600}' \
    '{"wave": "staging", "deploy_time": "9223371600"}' \
    '{"wave": "staging", "deploy_time": 1e300}' \
    '{"wave": "staging", "deploy_time": "32503679999"}' \
    '{"wave": "staging", "deploy_time": "2199-12-31T00:00:00Z"}'; do
    code=$(post "$body")
    got=$(jq_get "$(cat "$WG_TMP/body")" 'd["error"]' 2>&1)
    expect_match "POST $body: 400 with a deploy_time error" \
        '^400 deploy_time: ' "$code $got"
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $WG_T_TOKEN" \
    "$BASE/v1/gate?wave=staging&deploy_time=2262-04-11T23:40:00Z")
expect_eq "GET /v1/gate with the same deploy_time: 400" 400 "$code"
expect_eq "serve alive after the overflowing requests" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz")"
code=$(post "{\"wave\": \"staging\", \"deploy_time\": \"$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)\"}")
expect_match "a deploy an hour ago is evaluated (not a 400)" '^(200|503)$' "$code"
serve_stop
expect_eq "serve exits cleanly on SIGTERM" 0 "${SERVE_RC:-x}"
finish
