#!/usr/bin/env bash
# test_secrets.sh — no configured secret in anything wavegate writes or answers: the admin and
# read tokens (a read token refused with 403 on an admin route, Basic auth on a page), a
# source token and a source password (real InfluxDB; another source down), a
# webhook signing secret, a Slack URL and a PagerDuty routing key (receivers answering 500),
# driven through `serve` and `check` on success and failure paths (bad auth, source down,
# receiver 500). Every log line, error, /metrics body and verdict JSON is searched for each
# secret, raw and in the encodings it travels in (Basic auth base64, the whsec_ key).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
SRC=${WG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PEERS=${WG_PEERS:-$SRC/tests/peers}

influx_deploy_scenario || exit 1

export WG_S_BEARER="wgsec-bearer-Zq81xK3vT0aB5cD7eF9gH2"   # the admin token
export WG_S_READ="wgsec-read-Rr4Ee6Aa8Dd0Tt2Oo4Kk6"
export WG_S_SRC_TOKEN="wgsec-srctoken-Hh2Jj4Kk6Ll8Mm0Nn"
export WG_S_SRC_PASS="wgsec-srcpass-Pp1Qq3Rr5Ss7Tt9Uu"
export WG_S_WEBHOOK="whsec_d2dzZWMtd2ViaG9vay1rZXktMDEyMzQ1Njc4OWFiY2RlZg=="
export WG_S_PD="wgsec-pdkey-0123456789abcdefABCDEF"
SLACK_PATH="/slack/T0WGSEC/B0WGSEC/wgsecslackXyZ1234567890"
# every form a secret may show up in
secrets=("$WG_S_BEARER" "$WG_S_READ" "$(printf 'x:%s' "$WG_S_READ" | base64 -w0)" "$WG_S_SRC_TOKEN" "$WG_S_SRC_PASS" "$WG_S_WEBHOOK" "$WG_S_PD"
         "wgsecslackXyZ1234567890"
         "${WG_S_WEBHOOK#whsec_}" "$(printf 'wg:%s' "$WG_S_SRC_PASS" | base64 -w0)"
         "$(printf '%s' "${WG_S_WEBHOOK#whsec_}" | base64 -d)")

# ---- receivers that fail: every path answers 500 -----------------------------------------
cat > "$WG_TMP/scenario.json" <<EOF
{"*": [{"status": 500, "body": "internal error"}]}
EOF
sink_start
DEAD=$(free_port)

cfg="$WG_TMP/wavegate.yaml"
{
    cat <<YAML
sources:
  tok: {kind: influxql, url: "$INFLUX_URL", database: telemetry, token_env: WG_S_SRC_TOKEN}
  pw: {kind: influxql, url: "$INFLUX_URL", database: telemetry, username: wg,
       password_env: WG_S_SRC_PASS}
  down: {kind: influxql, url: "http://127.0.0.1:$DEAD", database: telemetry,
         token_env: WG_S_SRC_TOKEN, timeout: 2s}
waves:
  - {name: staging, env: staging, source: tok}
  - {name: prod-internal, env: internal, source: pw}
  - {name: broken, env: staging, source: down}
YAML
    sed -n '/^features:/,$p' "$SRC/examples/demo.yaml.in"
    cat <<YAML
state_dir: $WG_TMP/state
server:
  listen: 127.0.0.1:0
  auth: {read_token_env: WG_S_READ, admin_token_env: WG_S_BEARER}
  drain_timeout: 2s
alerting:
  receivers:
    - {name: hook, kind: webhook, url: 'http://127.0.0.1:$SP/hook', secret_env: WG_S_WEBHOOK}
    - {name: chat, kind: slack, url: 'http://127.0.0.1:$SP$SLACK_PATH'}
    - {name: pager, kind: pagerduty, url: 'http://127.0.0.1:$SP/pd', routing_key_env: WG_S_PD}
  route:
    receiver: hook
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 1h
    routes:
      - {receiver: hook, continue: true}
      - {receiver: chat, continue: true}
      - {receiver: pager, continue: true}
monitor:
  interval: 1s
  waves: [staging, prod-internal, broken]
  features: [checkout]
  for: 0s
YAML
} > "$cfg"
"$WG" validate --config "$cfg" > "$WG_TMP/out.validate" 2>&1 ||
    { echo "config invalid:"; cat "$WG_TMP/out.validate"; exit 1; }

# ---- check: success (token, password) and source down -----------------------------------
for w in staging prod-internal broken; do
    for f in json text; do
        "$WG" check --config "$cfg" --wave "$w" --feature checkout --deploy-time "$T" \
            --format "$f" > "$WG_TMP/out.check-$w-$f" 2>&1
        echo "exit $?" >> "$WG_TMP/out.check-$w-$f"
    done
done
expect_match "check staging (source token) evaluates" 'exit [012]$' "$(tail -1 "$WG_TMP/out.check-staging-json")"
expect_match "check prod-internal (source password) evaluates" 'exit [012]$' \
    "$(tail -1 "$WG_TMP/out.check-prod-internal-json")"
expect_eq "check broken (source down) could not evaluate" "exit 3" "$(tail -1 "$WG_TMP/out.check-broken-json")"
for w in staging broken; do
    "$WG" query --config "$cfg" --wave "$w" --feature checkout --rule error-rate \
        --deploy-time "$T" > "$WG_TMP/out.query-$w" 2>&1
done
# a missing secret variable is an error that names the variable, not a value
WG_S_SRC_TOKEN= "$WG" check --config "$cfg" --wave staging --feature checkout \
    > "$WG_TMP/out.check-unset" 2>&1

# ---- serve: success, bad auth, source down, receivers answering 500 ----------------------
# debug level: the most the server ever logs
"$WG" serve --config "$cfg" --log-level debug 2>"$WG_TMP/serve.log" &
SERVE_PID=$!
wg_on_exit serve_stop
wait_for 20 grep -q 'listening on port [0-9]' "$WG_TMP/serve.log" || { cat "$WG_TMP/serve.log"; exit 1; }
PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$WG_TMP/serve.log" | head -1)
BASE="http://127.0.0.1:$PORT"
A="Authorization: Bearer $WG_S_BEARER"
q="feature=checkout&deploy_time=$T"
hit() { # NAME CURL-ARGS... -> prints the status; body and headers kept in out.serve-NAME
    local name=$1; shift
    code=$(curl -s -D "$WG_TMP/out.serve-$name.hdr" -o "$WG_TMP/out.serve-$name" \
        -w '%{http_code}' "$@")
    echo "$code"
}
expect_eq "gate staging with the token" 200 "$(hit ok -H "$A" "$BASE/v1/gate?wave=staging&$q")"
expect_eq "gate prod-internal (password source)" 200 \
    "$(hit pw -H "$A" "$BASE/v1/gate?wave=prod-internal&$q")"
# Body mode answers "could not evaluate" as a 200 whose verdict is "error" (the Argo web
# provider's conditions make it Inconclusive, not Error); status mode answers 503.
expect_eq "gate broken source (body mode): 200" 200 "$(hit down -H "$A" "$BASE/v1/gate?wave=broken&$q")"
expect_match "gate broken source (body mode): verdict error" '"verdict": *"error"' \
    "$(cat "$WG_TMP/out.serve-down")"
expect_eq "gate broken source (status mode): 503" 503 \
    "$(hit down-status -H "$A" "$BASE/v1/gate?wave=broken&mode=status&$q")"
expect_eq "gate with the read token" 200 \
    "$(hit read -H "Authorization: Bearer $WG_S_READ" "$BASE/v1/gate?wave=staging&$q")"
expect_eq "read token deleting a silence: 403" 403 \
    "$(hit read-del -XDELETE -H "Authorization: Bearer $WG_S_READ" "$BASE/v1/silences/0123456789abcdef")"
expect_eq "page with the read token as a Basic password" 200 \
    "$(hit read-page -u "x:$WG_S_READ" "$BASE/")"
expect_eq "page with a wrong Basic password: 401" 401 "$(hit read-page-bad -u "x:${WG_S_READ}x" "$BASE/")"
expect_eq "no token: 401" 401 "$(hit none "$BASE/v1/gate?wave=staging&$q")"
expect_eq "wrong token: 401" 401 \
    "$(hit wrong -H "Authorization: Bearer ${WG_S_BEARER}x" "$BASE/v1/gate?wave=staging&$q")"
expect_eq "token prefix only: 401" 401 \
    "$(hit prefix -H "Authorization: Bearer ${WG_S_BEARER:0:12}" "$BASE/v1/gate?wave=staging")"
expect_eq "flagger with metadata.token" 200 "$(hit flagger -XPOST -H 'Content-Type: application/json' \
    -d "{\"name\":\"x\",\"metadata\":{\"wave\":\"staging\",\"feature\":\"checkout\",\"deploy_time\":\"$T\",\"token\":\"$WG_S_BEARER\"}}" \
    "$BASE/v1/flagger/confirm-rollout")"
expect_eq "flagger with a wrong metadata.token: 401" 401 "$(hit flagger-bad -XPOST \
    -d "{\"name\":\"x\",\"metadata\":{\"wave\":\"staging\",\"token\":\"${WG_S_BEARER}x\"}}" \
    "$BASE/v1/flagger/confirm-rollout")"
expect_eq "malformed body with the token inside: 400" 400 "$(hit badjson -XPOST -H "$A" \
    -d "{\"wave\":\"$WG_S_BEARER" "$BASE/v1/gate")"
expect_eq "analysis with the source down" 201 "$(hit analysis -XPOST -H "$A" \
    -d '{"wave":"broken","feature":"checkout","interval":"1s","count":2}' "$BASE/v1/analyses")"
hit readyz "$BASE/readyz" >/dev/null
id=$(jq_get "$(cat "$WG_TMP/out.serve-analysis")" 'd["id"]')
wait_for 20 grep -q '"verdict":"error"\|"status":"error"' <(curl -s -H "$A" "$BASE/v1/analyses/$id")
hit analysis-get -H "$A" "$BASE/v1/analyses/$id" >/dev/null

# receivers: each answered 500 at least twice (a retry), and the failure was logged
wait_for 60 python3 - "$SINK_LOG" <<'PY' || echo "# receivers were not retried in time"
import json, sys
n = {}
for l in open(sys.argv[1]):
    p = json.loads(l)["path"].split("/")[1]
    n[p] = n.get(p, 0) + 1
sys.exit(0 if all(n.get(p, 0) >= 2 for p in ("hook", "slack", "pd")) else 1)
PY
delivered=$(python3 -c 'import json,sys; print(sorted({json.loads(l)["path"].split("/")[1] for l in open(sys.argv[1])}))' "$SINK_LOG")
expect_eq "every receiver was tried (and answered 500)" "['hook', 'pd', 'slack']" "$delivered"
hit metrics "$BASE/metrics" >/dev/null
hit silences -H "$A" "$BASE/v1/silences" >/dev/null
serve_stop
# a test notification through each failing receiver (the CLI's own error path)
alert_test() {
    timeout 60 "$WG" alert test --config "$cfg" --receiver "$1" > "$WG_TMP/out.alert-$1" 2>&1
    echo "exit $?" >> "$WG_TMP/out.alert-$1"
}
apids=()
for r in hook chat pager; do alert_test "$r" & apids+=($!); done
wait "${apids[@]}"
expect_eq "alert test through a receiver answering 500 fails" "exit 1" "$(tail -1 "$WG_TMP/out.alert-chat")"
"$WG" silence list --config "$cfg" > "$WG_TMP/out.silences" 2>&1 || true

# ---- nothing written or answered holds a secret ---------------------------------------------
leaks=""
for s in "${secrets[@]}"; do
    for f in "$WG_TMP"/out.* "$WG_TMP/serve.log"; do
        if grep -qF -- "$s" "$f"; then
            leaks+="${s:0:24}... in $(basename "$f"): $(grep -F -- "$s" "$f" | head -1 | cut -c1-200)"$'\n'
        fi
    done
done
nfiles=$(ls "$WG_TMP"/out.* | wc -l)
nlines=$(cat "$WG_TMP"/out.* "$WG_TMP/serve.log" | wc -l)
echo "# searched $nfiles outputs + serve.log ($nlines lines) for ${#secrets[@]} secret forms"
expect_eq "no secret in any log, error, /metrics or verdict" "" "$leaks"
# the search itself works: the PagerDuty routing key is in the body the receiver got
expect_eq "the search finds a secret where it belongs (PagerDuty body)" 1 \
    "$(grep -qF -- "$WG_S_PD" "$SINK_LOG" && echo 1)"
# the failures were reported (the search above covered real error text)
expect_match "serve logged the receiver failures" '500' "$(grep -i 'deliver\|receiver\|notif' "$WG_TMP/serve.log" | head -5)"
expect_match "the unset variable is named" 'WG_S_SRC_TOKEN' "$(cat "$WG_TMP/out.check-unset")"
finish
