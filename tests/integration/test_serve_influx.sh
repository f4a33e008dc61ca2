#!/usr/bin/env bash
# test_serve_influx.sh — `wavegate serve` on port 0 against a real InfluxDB 1.x, over real HTTP:
# /v1/gate in body and status mode (the body is `check --format json`'s), Flagger hooks,
# auth, 404 naming the unknown wave, analyses (pass, fail fast, resumed after a restart),
# SIGHUP reload (valid and invalid), readiness, metrics, and a graceful SIGTERM drain.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
SRC=${WG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

influx_deploy_scenario || exit 1
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" > "$WG_TMP/token"

cfg="$WG_TMP/wavegate.yaml"
make_config() { # make_config P95_MAX
    sed "s|@INFLUX_URL@|$INFLUX_URL|; s|threshold: {max: 250, warn_max: 180}|threshold: {max: $1}|" \
        "$SRC/examples/demo.yaml.in" > "$cfg.new"
    cat >> "$cfg.new" <<YAML
state_dir: $WG_TMP/state
server:
  listen: 127.0.0.1:0
  bearer_token_file: $WG_TMP/token
  cache_ttl: 30s
  max_body: 16KiB
  drain_timeout: 20s
YAML
    mv "$cfg.new" "$cfg"
}
make_config 250

SERVE_PID=
wg_on_exit serve_stop
serve_start || exit 1

# req METHOD PATH [BODY] — sets code and body; with the token unless NOAUTH=1.
req() {
    local auth=(-H "Authorization: Bearer $TOKEN")
    [ "${NOAUTH:-0}" = 1 ] && auth=()
    local data=()
    [ $# -ge 3 ] && data=(-H 'Content-Type: application/json' --data-binary "$3")
    code=$(curl -s -o "$WG_TMP/body" -D "$WG_TMP/headers" -w '%{http_code}' -X "$1" \
        "${auth[@]}" "${data[@]}" "$BASE$2")
    body=$(cat "$WG_TMP/body")
}
Q="deploy_time=$T&feature=checkout"

# --- body mode is check --format json, for every verdict
check_json=$("$WG" check --config "$cfg" --wave staging --feature checkout --deploy-time "$T" \
    --format json 2>/dev/null)
req GET "/v1/gate?wave=staging&$Q"
expect_eq "body mode: pass is 200" 200 "$code"
expect_eq "body mode: same verdict as check" "$(jq_get "$check_json" 'd["verdict"]')" \
    "$(jq_get "$body" 'd["verdict"]')"
# (the server's answer also links its evidence page: evaluation_id, report_url)
expect_eq "body mode: same keys and rules as check" \
    "$(jq_get "$check_json" 'sorted(d.keys()), [r["rule"] for r in d["rules"]]')" \
    "$(jq_get "$body" 'sorted(set(d.keys()) - {"evaluation_id", "report_url", "look"}), [r["rule"] for r in d["rules"]]')"
expect_match "body mode: links its evidence page" '^/ui/evaluations/[0-9a-f]{32}$' \
    "$(jq_get "$body" 'd["report_url"]')"
expect_match "body mode: JSON content type" 'Content-Type: application/json' \
    "$(cat "$WG_TMP/headers")"
req GET "/v1/gate?wave=prod-internal&$Q"
expect_eq "body mode: fail is 200" "200 fail" "$code $(jq_get "$body" 'd["verdict"]')"
req POST /v1/gate "{\"wave\":\"staging\",\"features\":[\"search\"],\"deploy_time\":\"$T\"}"
expect_eq "body mode: inconclusive is 200" "200 inconclusive" \
    "$code $(jq_get "$body" 'd["verdict"]')"

# --- status mode
for c in "staging checkout 200" "prod-internal checkout 412" "staging search 409"; do
    set -- $c
    req GET "/v1/gate?mode=status&wave=$1&feature=$2&deploy_time=$T"
    expect_eq "status mode: $1/$2" "$3" "$code"
done

# --- Flagger: token in metadata, wave/feature in the query string
flagger() { # HOOK WAVE [THRESHOLD]
    req POST "/v1/flagger/$1?wave=$2&feature=checkout" \
        "{\"name\":\"podinfo\",\"namespace\":\"test\",\"phase\":\"Progressing\",\"checksum\":\"85d557f47b\",\"metadata\":{\"token\":\"$TOKEN\",\"deploy_time\":\"$T\",\"threshold\":\"${3:-1}\"}}"
}
NOAUTH=1
for c in "rollout staging 200" "rollout prod-internal 412" "confirm-promotion staging 200" \
         "confirm-promotion prod-internal 412" "rollback prod-internal 200" \
         "rollback staging 412" "confirm-traffic-increase staging 200" \
         "pre-rollout prod-internal 412" "post-rollout prod-internal 200"; do
    set -- $c
    flagger "$1" "$2"
    expect_eq "flagger $1 on $2" "$3" "$code"
done
req POST "/v1/flagger/rollout?wave=staging" '{"name":"p","metadata":{"token":"wrong"}}'
expect_eq "flagger: wrong metadata.token is 401" 401 "$code"
req GET "/v1/gate?wave=staging"
expect_eq "no token: 401" 401 "$code"
expect_match "no token: WWW-Authenticate" 'WWW-Authenticate: Bearer' "$(cat "$WG_TMP/headers")"
NOAUTH=0

# --- bad input
req GET "/v1/gate?wave=nope"
expect_eq "unknown wave: 404" 404 "$code"
expect_match "unknown wave is named" 'nope' "$body"
req GET "/v1/gate?wave=staging&feature=nofeature"
expect_eq "unknown feature: 404" 404 "$code"
expect_match "unknown feature is named" 'nofeature' "$body"
expect_eq "unknown feature: the error shape" True "$(jq_get "$body" '"nofeature" in d["error"]')"
expect_eq "unknown feature: no Retry-After" "" "$(grep -i '^Retry-After' "$WG_TMP/headers")"
req POST /v1/gate '{"wave": "staging",'
expect_eq "malformed JSON: 400" 400 "$code"
expect_match "malformed JSON: reason" 'malformed JSON at byte' "$body"
req POST /v1/gate "{\"wave\":\"staging\",\"pad\":\"$(head -c 40000 /dev/zero | tr '\0' x)\"}"
expect_eq "body over max_body: 413" 413 "$code"

# --- ready, metrics
req GET /readyz
expect_eq "readyz with InfluxDB up" 200 "$code"
req GET /metrics
expect_match "metrics: requests by consumer and verdict" \
    'wavegate_gate_requests_total\{consumer="gate_status",verdict="fail"\} [1-9]' "$body"
expect_match "metrics: rule evaluations" 'wavegate_rule_evaluations_total\{verdict="pass"\} [1-9]' \
    "$body"
expect_match "metrics: evaluation histogram" \
    'wavegate_gate_evaluation_duration_seconds_bucket\{le="\+Inf"\} [1-9]' "$body"
expect_match "metrics: query latency per source" \
    'wavegate_source_query_duration_seconds_count\{source="[a-z]+"\} [1-9]' "$body"

# --- analyses: pass after count measurements; fail fast
poll_analysis() { # ID SECS -> body of the finished analysis
    local deadline=$(( $(date +%s) + $2 ))
    while :; do
        req GET "/v1/analyses/$1"
        [ "$(jq_get "$body" 'd["status"]')" != running ] && return 0
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}
req POST /v1/analyses "{\"wave\":\"staging\",\"features\":[\"checkout\"],\"deploy_time\":\"$T\",\"interval\":\"200ms\",\"count\":3}"
expect_eq "analysis created: 201" 201 "$code"
id=$(jq_get "$body" 'd["id"]')
poll_analysis "$id" 20
expect_eq "analysis passes after 3 measurements" "pass 3" \
    "$(jq_get "$body" 'd["status"], len(d["measurements"])' | tr -d "(),'")"
expect_eq "each measurement carries its report" "pass" \
    "$(jq_get "$body" 'd["measurements"][2]["report"]["verdict"]')"
req POST /v1/analyses "{\"wave\":\"prod-internal\",\"feature\":\"checkout\",\"deploy_time\":\"$T\",\"interval\":\"200ms\",\"count\":10}"
id=$(jq_get "$body" 'd["id"]')
poll_analysis "$id" 20
expect_eq "failing analysis fails fast (1 of 10)" "fail 1" \
    "$(jq_get "$body" 'd["status"], len(d["measurements"])' | tr -d "(),'")"
req POST /v1/analyses '{"wave":"nope","interval":"1s","count":2}'
expect_eq "analysis of an unknown wave: 404" 404 "$code"

# --- an analysis survives a restart
req POST /v1/analyses "{\"wave\":\"staging\",\"feature\":\"checkout\",\"deploy_time\":\"$T\",\"interval\":\"1s\",\"count\":3}"
id=$(jq_get "$body" 'd["id"]')
wait_for 10 bash -c "curl -sf -H 'Authorization: Bearer $TOKEN' $BASE/v1/analyses/$id | grep -q '\"seq\":1'"
serve_stop
expect_eq "SIGTERM exits 0" 0 "$SERVE_RC"
serve_start || exit 1
poll_analysis "$id" 20
expect_eq "resumed analysis finishes with all measurements" "pass 3" \
    "$(jq_get "$body" 'd["status"], len(d["measurements"])' | tr -d "(),'")"
expect_match "resume is logged" "analysis $id: resumed after [12] measurements" \
    "$(cat "$WG_TMP/serve.log")"

# --- reload: valid (staging now fails p95 <= 1), then invalid (kept)
req GET "/v1/gate?mode=status&wave=staging&$Q"
expect_eq "before reload: staging passes" 200 "$code"
make_config 1
kill -HUP "$SERVE_PID"
wait_for 10 grep -q 'reloaded' "$WG_TMP/serve.log"
req GET "/v1/gate?mode=status&wave=staging&$Q"
expect_eq "after a valid reload the new rules apply (cache dropped)" 412 "$code"
printf 'sources:\n  local: {kind: nope}\nwaves: 3\n' > "$cfg"
kill -HUP "$SERVE_PID"
wait_for 10 grep -q 'reload of .* failed' "$WG_TMP/serve.log"
expect_match "invalid reload logs its errors with positions" 'wavegate.yaml:[0-9]+:[0-9]+' \
    "$(cat "$WG_TMP/serve.log")"
req GET "/v1/gate?mode=status&wave=staging&$Q"
expect_eq "after an invalid reload the old config serves" 412 "$code"
req GET "/metrics"
expect_match "metrics count the failed reload" \
    'wavegate_config_reloads_total\{result="failure"\} 1' "$body"

# --- could not evaluate: InfluxDB stopped (a new question, not cached)
influx_stop
T2=$(date -u -d "@$(( deploy - 60 ))" +%Y-%m-%dT%H:%M:%SZ)
req GET "/v1/gate?wave=staging&feature=checkout&deploy_time=$T2"
expect_eq "InfluxDB down: body mode 200 (Argo's conditions hold on it)" 200 "$code"
expect_eq "InfluxDB down: verdict error" error "$(jq_get "$body" 'd["verdict"]')"
req GET "/v1/gate?mode=status&wave=staging&feature=checkout&deploy_time=$T2"
expect_eq "InfluxDB down: status mode 503" 503 "$code"
expect_match "InfluxDB down: Retry-After" 'Retry-After: ' "$(cat "$WG_TMP/headers")"
NOAUTH=1
req POST "/v1/flagger/rollback?wave=staging&feature=checkout" \
    "{\"name\":\"p\",\"metadata\":{\"token\":\"$TOKEN\",\"deploy_time\":\"$T2\"}}"
expect_eq "InfluxDB down: rollback hook never rolls back" 412 "$code"
NOAUTH=0
req GET /readyz
expect_eq "readyz with InfluxDB down: still 200 (about wavegate itself)" 200 "$code"
req GET /healthz
expect_eq "healthz with InfluxDB down: 200" 200 "$code"
expect_match "healthz names the unreachable source" 'source [a-z]+ unreachable' "$body"

# --- graceful drain: a request whose body is still arriving when SIGTERM comes completes
slowbody="{\"wave\":\"staging\",\"feature\":\"checkout\",\"deploy_time\":\"$T\",\"pad\":\"$(head -c 6000 /dev/zero | tr '\0' x)\"}"
printf '%s' "$slowbody" > "$WG_TMP/slow.json"
curl -s -o "$WG_TMP/slow.out" -w '%{http_code}' --limit-rate 3K -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary @"$WG_TMP/slow.json" \
    "$BASE/v1/gate" > "$WG_TMP/slow.code" &
slow=$!
# in flight from its headers on: /metrics counts it (and itself)
wait_for 5 bash -c "curl -s $BASE/metrics | grep -Eq '^wavegate_inflight_requests ([2-9]|[1-9][0-9])'"
kill -TERM "$SERVE_PID"
wait "$slow"
expect_eq "in-flight request finished during the drain" 200 "$(cat "$WG_TMP/slow.code")"
wait "$SERVE_PID"; SERVE_RC=$?; SERVE_PID=
expect_eq "drained server exits 0" 0 "$SERVE_RC"
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz")
expect_eq "after exit nothing listens" 000 "$code"

finish
