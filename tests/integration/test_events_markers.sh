#!/usr/bin/env bash
# test_events_markers.sh — events in and markers out against a real InfluxDB 1.x: POST
# /v1/events (202 + id, recorded across a restart), `wavegate event --url` and `--config`,
# the Unleash addon's body, and every event, gate verdict and rule result written back as
# line protocol (wavegate_events, wavegate_verdicts, wavegate_rules) read back with InfluxQL,
# tags and fields escaped (a feature named `a b,c=d"e` survives the round trip).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
SRC=${WG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

influx_deploy_scenario || exit 1
influx_query "" 'CREATE DATABASE "marks"' || exit 1
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" > "$WG_TMP/token"
WEIRD='a b,c=d"e'

cfg="$WG_TMP/wavegate.yaml"
sed "s|@INFLUX_URL@|$INFLUX_URL|" "$SRC/examples/demo.yaml.in" > "$cfg"
cat >> "$cfg" <<YAML
  'a b,c=d"e':
    flag: weird_flag
    rules:
      - name: 'r 1,x=y'
        query: >-
          SELECT percentile("latency_ms", 95) AS "p95" FROM "http"
          WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        window: 10m
        threshold: {max: 250}
state_dir: $WG_TMP/state
server:
  listen: 127.0.0.1:0
  bearer_token_file: $WG_TMP/token
  cache_ttl: 0s
events:
  write_to: marks
  flush_interval: 50ms
YAML
# the markers' own source (database marks) next to the demo's
python3 - "$cfg" "$INFLUX_URL" <<'PY'
import sys
p, url = sys.argv[1], sys.argv[2]
s = open(p).read()
s = s.replace("sources:\n", "sources:\n  marks:\n    kind: influxql\n    url: %s\n    database: marks\n" % url, 1)
open(p, "w").write(s)
PY
"$WG" validate --config "$cfg" >/dev/null 2>"$WG_TMP/validate.err" || {
    echo "config invalid:"; cat "$WG_TMP/validate.err"; exit 1; }

SERVE_PID=
wg_on_exit serve_stop
serve_start || exit 1

req() { # req METHOD PATH [BODY]
    local data=()
    [ $# -ge 3 ] && data=(-H 'Content-Type: application/json' --data-binary "$3")
    code=$(curl -s -o "$WG_TMP/body" -w '%{http_code}' -X "$1" \
        -H "Authorization: Bearer $TOKEN" "${data[@]}" "$BASE$2")
    body=$(cat "$WG_TMP/body")
}
# iq QUERY — InfluxQL against database marks; prints the JSON answer.
iq() { curl -s -G "$INFLUX_URL/query" --data-urlencode db=marks --data-urlencode "q=$1"; }
# rows QUERY — the number of rows the query returns (0 when none).
rows() {
    iq "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin)
s=d["results"][0].get("series") or []; print(sum(len(x["values"]) for x in s))'
}
wait_rows() { # wait_rows N QUERY — poll until the query returns N rows (10 s)
    local deadline=$(( $(date +%s) + 10 ))
    while [ "$(rows "$2")" != "$1" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# --- events in
req POST /v1/events '{"type":"deploy","wave":"staging","version":"v1.2.3","time":"'"$T"'"}'
expect_eq "deploy event: 202" 202 "$code"
expect_match "deploy event: an id" '^\{"id":"ev-[0-9a-f]{16}-[0-9a-f]{8}"\}$' "$body"
deploy_id=$(jq_get "$body" 'd["id"]')
req POST /v1/events "{\"type\":\"flag\",\"flag\":\"weird_flag\",\"env\":\"external\",\"state\":\"on\"}"
expect_eq "flag event: 202" 202 "$code"
req POST /v1/events '{"type":"flag","feature":"checkout"}'
expect_eq "flag event without state: 400" 400 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary '{}' "$BASE/v1/events")
expect_eq "no token: 401" 401 "$code"
req POST /v1/events/unleash '{"id":17,"type":"feature-environment-disabled","createdBy":"x","createdAt":"2026-12-01T08:54:11.725Z","featureName":"checkout_v2","project":"default","environment":"internal"}'
expect_eq "unleash addon body: 202" 202 "$code"
out=$(WAVEGATE_TOKEN=$TOKEN "$WG" event deploy --url "$BASE" --wave prod-internal --version v9 2>&1)
expect_match "wavegate event --url prints the id" '^ev-[0-9a-f]{16}-[0-9a-f]{8}$' "$out"

# --- markers of events, read back with InfluxQL, escaping intact
wait_rows 1 "SELECT * FROM wavegate_events WHERE \"feature\" = 'a b,c=d\"e'" ||
    not_ok "the weird feature's marker arrived" "$(iq 'SELECT * FROM wavegate_events')"
got=$(iq "SELECT \"title\",\"flag\",\"state\",\"wave\" FROM wavegate_events WHERE \"feature\" = 'a b,c=d\"e'")
expect_eq "weird feature: tag and string field round-trip" \
    "['flag $WEIRD on', 'weird_flag', 'on', 'prod-external']" \
    "$(jq_get "$got" 'd["results"][0]["series"][0]["values"][0][1:]' 2>/dev/null || echo "$got")"
wait_rows 4 'SELECT * FROM wavegate_events' || not_ok "four event markers" "$(iq 'SELECT * FROM wavegate_events')"
got=$(iq "SELECT \"id\",\"version\" FROM wavegate_events WHERE \"type\" = 'deploy' AND \"wave\" = 'staging'")
expect_eq "deploy marker: at the event's time, with its id and version" \
    "['$T', '$deploy_id', 'v1.2.3']" "$(jq_get "$got" 'd["results"][0]["series"][0]["values"][0]')"

# --- verdict and rule markers
# all of the wave's features (a feature list splits names on commas; the wave needs none)
req GET "/v1/gate?wave=prod-external&deploy_time=$T"
expect_eq "gate on the weird feature answers" 200 "$code"
verdict=$(jq_get "$body" '[r["verdict"] for r in d["rules"] if r["rule"] == "r 1,x=y"][0]')
wait_rows 1 "SELECT * FROM wavegate_rules WHERE \"feature\" = 'a b,c=d\"e' AND \"rule\" = 'r 1,x=y'" ||
    not_ok "the weird rule's result arrived" "$(iq 'SELECT * FROM wavegate_rules')"
got=$(iq "SELECT \"verdict\",\"samples\",\"threshold\" FROM wavegate_rules WHERE \"feature\" = 'a b,c=d\"e' AND \"rule\" = 'r 1,x=y'")
expect_eq "rule result: verdict tag, samples and threshold fields" "['$verdict', 250]" \
    "$(jq_get "$got" '[d["results"][0]["series"][0]["values"][0][i] for i in (1, 3)]' 2>/dev/null || echo "$got")"
req GET "/v1/gate?wave=staging&feature=checkout&deploy_time=$T"
# the tag is the evaluation's own verdict: warn (answered as pass with warnings) stays warn
sv=$(jq_get "$body" '"warn" if d["verdict"] == "pass" and d.get("warnings") else d["verdict"]')
wait_rows 2 'SELECT * FROM wavegate_verdicts' || not_ok "two verdict markers" "$(iq 'SELECT * FROM wavegate_verdicts')"
expect_eq "staging verdict marker: the answered verdict as its tag" 1 \
    "$(rows "SELECT \"judged\" FROM wavegate_verdicts WHERE \"wave\" = 'staging' AND \"verdict\" = '$sv'")"

# --- durable: the events are in the store after a restart
serve_stop
expect_eq "SIGTERM: exit 0" 0 "${SERVE_RC:-}"
out=$("$WG" event list --config "$cfg")
expect_eq "the four accepted events stored across the restart" 4 "$(jq_get "$out" 'len(d)')"
expect_eq "the Unleash flip resolved to feature checkout, wave prod-internal, off" \
    "['checkout', 'prod-internal', 'off', 'unleash']" \
    "$(jq_get "$out" '[[e["feature"], e["wave"], e["state"], e["source"]] for e in d if e.get("source") == "unleash"][0]')"
out=$("$WG" event flag --config "$cfg" --feature checkout --state maybe 2>&1); rc=$?
expect_eq "wavegate event: a bad state is a usage error" 64 "$rc"
finish
