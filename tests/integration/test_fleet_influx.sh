#!/usr/bin/env bash
# test_fleet_influx.sh — a fleet wave over three real InfluxDB 1.x servers on loopback, three
# regions of two clouds, each with its own data: all healthy passes; one regressed fails the
# wave naming it; max_failed: 1 passes with a warning naming it; one InfluxDB stopped is
# "could not evaluate" (exit 3); a region 30% slower than its peers but under the threshold
# fails `judge: peers` (and a fleet-wide shift does not); per-target deploy times are honoured.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}

run() { out=$("$WG" "$@" 2>"$WG_TMP/stderr"); rc=$?; err=$(cat "$WG_TMP/stderr"); }

# Three servers: lib.sh's influx_start, each in its own directory.
declare -a URL PID
base_tmp=$WG_TMP
stop_all() { for p in "${PID[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
wg_on_exit stop_all
for i in 0 1 2; do
    mkdir -p "$base_tmp/r$i"
    WG_TMP="$base_tmp/r$i" influx_start || exit 1
    URL[$i]=$INFLUX_URL; PID[$i]=$INFLUX_PID
    INFLUX_PID=
    influx_query "" 'CREATE DATABASE "telemetry"' || exit 1
done
WG_TMP=$base_tmp

# The deploy 11 minutes ago; region 2 (gcp-europe-west1) deployed 3 minutes after the rest.
deploy=$(( $(date +%s) / 60 * 60 - 11 * 60 ))
late=$(( deploy + 180 ))
T=$(date -u -d "@$deploy" +%Y-%m-%dT%H:%M:%SZ)
TL=$(date -u -d "@$late" +%Y-%m-%dT%H:%M:%SZ)

REGION=(us-east-1 eu-west-1 europe-west1)
# write I SERVICE P95 [FROM] — one point every 10 s over the hour before now, p95 = P95 ms
# from FROM on (before it 100 ms), tagged with the region's name.
write() {
    local i=$1 svc=$2 p95=$3 from=${4:-$deploy} f="$WG_TMP/w$i-$2.lp" t r=${REGION[$1]}
    : > "$f"
    for t in $(seq $(( deploy - 1800 )) 10 $(( $(date +%s) - 1 ))); do
        v=100; [ "$t" -ge "$from" ] && v=$p95
        echo "http,service=$svc,region=$r p95=$v,errors=0 $t" >> "$f"
    done
    INFLUX_URL=${URL[$i]} influx_write telemetry "$f" || exit 1
}
# healthy everywhere; "slow" regressed in region 1; "peer" 30% slower in region 1 (under
# the 250 ms threshold); "shift" 30% slower everywhere; "late" regressed in region 2 only in
# the 3 minutes before its own deploy.
for i in 0 1 2; do
    write "$i" healthy 100
    write "$i" shift 130
done
write 0 slow 100; write 1 slow 400; write 2 slow 100
write 0 peer 101; write 1 peer 130; write 2 peer 99
write 0 late 100; write 1 late 100
write 2 late 100 "$late"
# region 2 was bad between the fleet deploy and its own: 3 minutes at 900 ms
f="$WG_TMP/w2-late-bad.lp"; : > "$f"
for t in $(seq "$deploy" 10 $(( late - 10 ))); do echo "http,service=late,region=europe-west1 p95=900,errors=0 $t" >> "$f"; done
INFLUX_URL=${URL[2]} influx_write telemetry "$f" || exit 1

cfg="$WG_TMP/wavegate.yaml"
cat > "$cfg" <<YAML
state_dir: $WG_TMP/state
sources:
  influx-aws-us-east-1: {kind: influxql, url: "${URL[0]}", database: telemetry, retries: 0, timeout: 3s}
  influx-aws-eu-west-1: {kind: influxql, url: "${URL[1]}", database: telemetry, retries: 0, timeout: 3s}
  influx-gcp-europe-west1: {kind: influxql, url: "${URL[2]}", database: telemetry, retries: 0, timeout: 3s}
waves:
  - name: prod
    targets:
      - {name: aws-us-east-1, source: influx-aws-us-east-1, labels: {cloud: aws, region: us-east-1}}
      - {name: aws-eu-west-1, source: influx-aws-eu-west-1, labels: {cloud: aws, region: eu-west-1}}
      - {name: gcp-europe-west1, source: influx-gcp-europe-west1, labels: {cloud: gcp, region: europe-west1}}
  - name: prod-tolerant
    require: {max_failed: 1}
    targets:
      matrix: {cloud: [aws], region: [us-east-1, eu-west-1]}
      source: "influx-{{ cloud }}-{{ region }}"
  - name: prod-matrix
    require: {max_failed: 1}
    targets:
      - {name: aws-us-east-1, source: influx-aws-us-east-1, labels: {cloud: aws, region: us-east-1}}
      - {name: aws-eu-west-1, source: influx-aws-eu-west-1, labels: {cloud: aws, region: eu-west-1}}
      - {name: gcp-europe-west1, source: influx-gcp-europe-west1, labels: {cloud: gcp, region: europe-west1}}
features:
YAML
for svc in healthy slow late shift; do cat >> "$cfg" <<YAML
  $svc:
    rules:
      - name: p95
        query: "SELECT max(p95) FROM http WHERE service = '$svc' AND time >= {{ start }} AND time < {{ end }} AND region = {{ region }} GROUP BY time(10s)"
        reduce: max
        window: 5m
        threshold: {max: 250}
YAML
done
for svc in peer shift; do cat >> "$cfg" <<YAML
  $svc-peers:
    rules:
      - name: p95-vs-peers
        judge: peers
        query: "SELECT max(p95) FROM http WHERE service = '$svc' AND time >= {{ start }} AND time < {{ end }} GROUP BY time(10s)"
        reduce: p95
        window: 5m
YAML
done
# the peer feature's absolute rule: 130 ms is under the 250 ms threshold
cat >> "$cfg" <<YAML
  peer:
    rules:
      - name: p95
        query: "SELECT max(p95) FROM http WHERE service = 'peer' AND time >= {{ start }} AND time < {{ end }} GROUP BY time(10s)"
        reduce: max
        window: 5m
        threshold: {max: 250}
YAML

run validate --config "$cfg"
expect_eq "validate: fleet config is valid" 0 "$rc"
[ "$rc" = 0 ] || echo "$out $err"

# --- all healthy
run check --config "$cfg" --wave prod --feature healthy --deploy-time "$T" --format json
expect_eq "all healthy: exit 0" 0 "$rc"
expect_eq "all healthy: three targets judged" "pass,pass,pass" \
    "$(jq_get "$out" '",".join(t["verdict"] for t in d["targets"])')"
expect_eq "all healthy: each target used its own source" \
    "influx-aws-us-east-1,influx-aws-eu-west-1,influx-gcp-europe-west1" \
    "$(jq_get "$out" '",".join(r["source"] for r in d["rules"])')"
expect_match "region placeholder rendered per target" "'europe-west1'" \
    "$(jq_get "$out" 'd["rules"][2]["query"]')"

# --- one regressed
run check --config "$cfg" --wave prod --feature slow --deploy-time "$T" --format json
expect_eq "one regressed: exit 1" 1 "$rc"
expect_eq "one regressed: only that target fails" "aws-eu-west-1" \
    "$(jq_get "$out" '",".join(t["target"] for t in d["targets"] if t["verdict"]=="fail")')"
expect_match "one regressed: the reason names it" 'failed: aws-eu-west-1' "$(jq_get "$out" 'd["reason"]')"
run check --config "$cfg" --wave prod --feature slow --deploy-time "$T"
expect_match "text table groups by target" 'target aws-eu-west-1 .*: FAIL' "$out"

run check --config "$cfg" --wave prod --feature slow --deploy-time "$T" --format junit
expect_eq "junit: one testcase per rule and target, classed by target" \
    "prod.aws-us-east-1.slow prod.aws-eu-west-1.slow prod.gcp-europe-west1.slow" \
    "$(printf '%s' "$out" | python3 -c 'import sys, xml.etree.ElementTree as E; print(" ".join(t.get("classname") for t in E.fromstring(sys.stdin.read()).iter("testcase")))')"

# --- max_failed: 1 (list and matrix)
run check --config "$cfg" --wave prod-matrix --feature slow --deploy-time "$T" --format json
expect_eq "max_failed 1: exit 0" 0 "$rc"
expect_match "max_failed 1: warning names the failed target" 'failed: aws-eu-west-1' \
    "$(jq_get "$out" 'd["warning"]')"
run check --config "$cfg" --wave prod-tolerant --feature slow --deploy-time "$T" --format json
expect_eq "matrix targets expanded" "aws-us-east-1,aws-eu-west-1" \
    "$(jq_get "$out" '",".join(t["target"] for t in d["targets"])')"
expect_eq "matrix wave with max_failed 1: exit 0" 0 "$rc"

# --- --target asks for one
run check --config "$cfg" --wave prod --feature slow --deploy-time "$T" --target aws-us-east-1 --format json
expect_eq "--target judges that target only: exit 0" 0 "$rc"
expect_eq "--target: one target in the report" 1 "$(jq_get "$out" 'len(d["targets"])')"
run check --config "$cfg" --wave prod --feature slow --deploy-time "$T" --target nowhere
expect_eq "--target unknown: usage-class error" 64 "$rc"
expect_match "--target unknown names the known" 'known: aws-us-east-1' "$err"

# --- peers: one region 30% slower than the others, under its absolute threshold
run check --config "$cfg" --wave prod --feature peer --deploy-time "$T" --format json
expect_eq "under threshold: the absolute rule alone passes" 0 "$rc"
run check --config "$cfg" --wave prod --feature peer-peers --deploy-time "$T" --format json
expect_eq "peers: the slower region fails the wave" 1 "$rc"
expect_eq "peers: names that region" "aws-eu-west-1" \
    "$(jq_get "$out" '",".join(t["target"] for t in d["targets"] if t["verdict"]=="fail")')"
expect_match "peers: reason compares with the peers' median" "peers' median" \
    "$(jq_get "$out" '[r for r in d["rules"] if r["target"]=="aws-eu-west-1"][0]["reason"]')"
run check --config "$cfg" --wave prod --feature shift-peers --deploy-time "$T" --format json
expect_eq "peers: a fleet-wide shift fails nobody" 0 "$rc"
run check --config "$cfg" --wave prod-tolerant --feature peer-peers --deploy-time "$T" --format json
expect_eq "peers: two targets are inconclusive" 2 "$rc"

# --- per-target deploy times
run check --config "$cfg" --wave prod --feature late --deploy-time "$T" --format json
expect_eq "one deploy time for all: the late region's pre-deploy minutes fail it" 1 "$rc"
run check --config "$cfg" --wave prod --feature late --deploy-time "$T" \
    --deploy-time "gcp-europe-west1=$TL" --format json
expect_eq "its own deploy time: the late region passes" 0 "$rc"
expect_eq "its window starts at its own deploy" "$TL" \
    "$(jq_get "$out" '[r for r in d["rules"] if r["target"]=="gcp-europe-west1"][0]["window"]["start"]')"
run check --config "$cfg" --wave prod --feature late --deploy-time "nowhere=$TL"
expect_eq "a deploy time for an unknown target is refused" 64 "$rc"

# --- wavegate query: one target's source, placeholders and deploy time
run query --config "$cfg" --wave prod --feature slow --rule p95 --deploy-time "$T" --target aws-eu-west-1 --format table
expect_eq "query --target: exit 0" 0 "$rc"
expect_match "query --target: that target's source" 'source: influx-aws-eu-west-1' "$out"
expect_match "query --target: its region placeholder" "region = 'eu-west-1'" "$out"
expect_match "query --target: its regressed data" $'\t400' "$out"
run query --config "$cfg" --wave prod --feature late --rule p95 --deploy-time "$T" \
    --deploy-time "gcp-europe-west1=$TL" --target gcp-europe-west1 --format json
expect_eq "query --target TARGET=T: the window starts at its own deploy" "gcp-europe-west1 $TL" \
    "$(jq_get "$out" 'd["target"] + " " + __import__("re").search(r"time >= \x27([^\x27]+)\x27", d["query"]).group(1)')"
run query --config "$cfg" --wave prod --feature slow --rule p95 --deploy-time "$T"
expect_eq "query of a fleet wave without --target: usage error" 64 "$rc"
expect_match "query without --target lists the targets" 'pass --target NAME \(one of: aws-us-east-1, aws-eu-west-1, gcp-europe-west1\)' "$err"
run query --config "$cfg" --wave prod --feature slow --rule p95 --deploy-time "$T" --target nowhere
expect_eq "query --target unknown: usage error" 64 "$rc"
expect_match "query --target unknown names the known" 'known: aws-us-east-1' "$err"

# --- the HTTP gate: target= and deploy_times
SERVE_PID=
wg_on_exit serve_stop
serve_start "$cfg" || exit 1
get() { body=$(curl -s -w '\n%{http_code}' "$@"); code=${body##*$'\n'}; body=${body%$'\n'*}; }
get "$BASE/v1/gate?wave=prod&feature=slow&deploy_time=$T"
expect_eq "/v1/gate: the fleet verdict" "fail aws-eu-west-1" \
    "$(jq_get "$body" 'd["verdict"] + " " + ",".join(t["target"] for t in d["targets"] if t["verdict"]=="fail")')"
get "$BASE/v1/gate?wave=prod&feature=slow&deploy_time=$T&target=aws-us-east-1"
expect_eq "/v1/gate target=: that target only" "pass 1" \
    "$(jq_get "$body" 'd["verdict"] + " " + str(len(d["targets"]))')"
get -H 'Content-Type: application/json' --data-binary \
    "{\"wave\":\"prod\",\"features\":[\"late\"],\"deploy_time\":\"$T\",\"deploy_times\":{\"gcp-europe-west1\":\"$TL\"}}" \
    "$BASE/v1/gate"
expect_eq "/v1/gate deploy_times: each target at its own deploy" "pass $TL" \
    "$(jq_get "$body" 'd["verdict"] + " " + d["targets"][2]["deploy_time"]')"
get -H 'Content-Type: application/json' --data-binary \
    "{\"wave\":\"prod\",\"features\":[\"late\"],\"deploy_time\":\"$T\"}" "$BASE/v1/gate"
expect_eq "/v1/gate without them: the late region fails (not served from the cache)" fail \
    "$(jq_get "$body" 'd["verdict"]')"
get -H 'Content-Type: application/json' --data-binary \
    "{\"wave\":\"prod\",\"deploy_times\":{\"gcp-europe-west1\":\"2300-01-01T00:00:00Z\"}}" "$BASE/v1/gate"
expect_eq "/v1/gate deploy_times are range-checked" 400 "$code"
# analyses: per-target deploy times and target= through the same parameters
poll_analysis() { # ID SECS -> body of the finished analysis
    local deadline=$(( $(date +%s) + $2 ))
    while :; do
        get "$BASE/v1/analyses/$1"
        [ "$(jq_get "$body" 'd["status"]')" != running ] && return 0
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}
get -H 'Content-Type: application/json' --data-binary \
    "{\"wave\":\"prod\",\"features\":[\"late\"],\"deploy_time\":\"$T\",\"deploy_times\":{\"gcp-europe-west1\":\"$TL\"},\"interval\":\"100ms\",\"count\":2}" \
    "$BASE/v1/analyses"
id=$(jq_get "$body" 'd["id"]')
poll_analysis "$id" 20
expect_eq "analysis with deploy_times: passes" "pass" "$(jq_get "$body" 'd["status"]')"
get -H 'Content-Type: application/json' --data-binary \
    "{\"wave\":\"prod\",\"features\":[\"slow\"],\"deploy_time\":\"$T\",\"target\":\"aws-eu-west-1\",\"interval\":\"100ms\",\"count\":2}" \
    "$BASE/v1/analyses"
id=$(jq_get "$body" 'd["id"]')
poll_analysis "$id" 20
expect_eq "analysis of one target: that target fails" "fail aws-eu-west-1" \
    "$(jq_get "$body" 'd["status"] + " " + d["measurements"][0]["report"]["targets"][0]["target"]')"
serve_stop

# --- deploy events: per-target deploy times (and one target's deploy) anchor the bake analysis
cfg2="$WG_TMP/bake.yaml"
python3 - "$cfg" > "$cfg2" <<'PY2'
import re, sys
s = open(sys.argv[1]).read()
head = s[:s.index("waves:")]
targets = re.search(r"  - name: prod\n    targets:\n((?:      - .*\n)+)", s).group(1)
late = re.search(r"(  late:\n    rules:\n(?:      .*\n|        .*\n)+?)(?=  \w)", s).group(1)
print(head.replace("state_dir: ", "state_dir: ", 1).rstrip("\n").replace("/state", "/state2"))
print("events: {write_to: marks, flush_interval: 50ms}")
print("waves:\n  - name: prod-bake\n    bake: {interval: 100ms, duration: 300ms}\n    targets:")
print(targets + "features:\n" + late, end="")
PY2
# markers go to database "marks" of region 0's InfluxDB
sed -i "s|^sources:$|sources:\n  marks: {kind: influxql, url: \"${URL[0]}\", database: marks}|" "$cfg2"
INFLUX_URL=${URL[0]} influx_query "" 'CREATE DATABASE "marks"' || exit 1
run validate --config "$cfg2"
expect_eq "bake config is valid" 0 "$rc"
serve_start "$cfg2" || exit 1
event_analysis() { # BODY -> the finished analysis its deploy event started, in $body
    get -H 'Content-Type: application/json' --data-binary "$1" "$BASE/v1/events"
    [ "$code" = 202 ] || { echo "event: $code $body"; return 1; }
    poll_analysis "$(jq_get "$body" 'd["analysis"]')" 20
}
event_analysis "{\"type\":\"deploy\",\"wave\":\"prod-bake\",\"time\":\"$T\",\"deploy_times\":{\"gcp-europe-west1\":\"$TL\"}}"
expect_eq "deploy event with deploy_times: the bake analysis passes, the late region at its own" \
    "pass $TL" "$(jq_get "$body" 'd["status"] + " " + d["measurements"][0]["report"]["targets"][2]["deploy_time"]')"
# iq QUERY — InfluxQL against database marks; rows: the number of rows it returns
iq() { curl -s -G "${URL[0]}/query" --data-urlencode db=marks --data-urlencode "q=$1"; }
rows() { iq "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin)
s=d["results"][0].get("series") or []; print(sum(len(x["values"]) for x in s))'; }
wait_rows() { # N QUERY — poll until the query returns N rows (10 s)
    local deadline=$(( $(date +%s) + 10 ))
    while [ "$(rows "$2")" != "$1" ]; do [ "$(date +%s)" -lt "$deadline" ] || return 1; sleep 0.1; done; }
# the deploy_times event's markers: the wave's at the event's time, the late target's at its own
q="SELECT \"title\",\"target\",\"cloud\",\"region\" FROM wavegate_events WHERE \"target\" = 'gcp-europe-west1'"
wait_rows 1 "$q" || not_ok "the deploy marker of gcp-europe-west1" "$(iq 'SELECT * FROM wavegate_events')"
expect_eq "per-target deploy marker: tags target, cloud, region, at the target's own deploy time" \
    "[['$TL', 'deploy prod-bake gcp-europe-west1', 'gcp-europe-west1', 'gcp', 'europe-west1']]" \
    "$(jq_get "$(iq "$q")" 'd["results"][0]["series"][0]["values"]')"
expect_eq "the event's own marker (no target) at the event's time" "[['$T', 'deploy prod-bake']]" \
    "$(jq_get "$(iq "SELECT \"title\" FROM wavegate_events WHERE \"target\" = ''")" 'd["results"][0]["series"][0]["values"]')"
event_analysis "{\"type\":\"deploy\",\"wave\":\"prod-bake\",\"time\":\"$T\"}"
expect_eq "deploy event without them: the late region fails the bake" "fail gcp-europe-west1" \
    "$(jq_get "$body" 'd["status"] + " " + ",".join(t["target"] for t in d["measurements"][-1]["report"]["targets"] if t["verdict"]=="fail")')"
event_analysis "{\"type\":\"deploy\",\"wave\":\"prod-bake\",\"target\":\"gcp-europe-west1\",\"time\":\"$TL\"}"
expect_eq "deploy event of one target: its bake judges it alone, from its own deploy" \
    "pass gcp-europe-west1 $TL" \
    "$(jq_get "$body" 'd["status"] + " " + " ".join(t["target"] + " " + t["deploy_time"] for t in d["measurements"][0]["report"]["targets"])')"

# --- the events store and the markers know targets
get "$BASE/v1/events"
expect_eq "GET /v1/events: each deploy's target and per-target deploy times" \
    "gcp-europe-west1 - | - - | - {'gcp-europe-west1': '$TL'}" \
    "$(jq_get "$body" '" | ".join(e.get("target", "-") + " " + str(e.get("deploy_times", "-")) for e in d)')"
t0=$(date +%s%N)
get "$BASE/v1/gate?wave=prod-bake&deploy_time=$T"
expect_eq "fleet gate answer (the late region fails)" fail "$(jq_get "$body" 'd["verdict"]')"
q="SELECT \"samples\",\"target\",\"cloud\",\"region\",\"verdict\" FROM wavegate_rules WHERE time >= $t0"
wait_rows 3 "$q" || not_ok "three rule rows" "$(iq "$q")"
expect_eq "wavegate_rules: one row per target and rule, tagged target, cloud, region" \
    "aws-eu-west-1 aws eu-west-1 pass|aws-us-east-1 aws us-east-1 pass|gcp-europe-west1 gcp europe-west1 fail" \
    "$(jq_get "$(iq "$q")" '"|".join(sorted(" ".join(v[2:]) for v in d["results"][0]["series"][0]["values"]))')"
q="SELECT \"judged\",\"target\",\"verdict\" FROM wavegate_verdicts WHERE time >= $t0"
wait_rows 4 "$q" || not_ok "four verdict rows" "$(iq "$q")"
expect_eq "wavegate_verdicts: the wave's row and one per target" \
    "-:fail|aws-eu-west-1:pass|aws-us-east-1:pass|gcp-europe-west1:fail" \
    "$(jq_get "$(iq "$q")" '"|".join(sorted((v[2] or "-") + ":" + v[3] for v in d["results"][0]["series"][0]["values"]))')"
get -H 'Content-Type: application/json' --data-binary \
    "{\"type\":\"deploy\",\"wave\":\"prod-bake\",\"time\":\"$T\",\"deploy_times\":{\"nowhere\":\"$TL\"}}" "$BASE/v1/events"
expect_eq "deploy event for an unknown target: 400" 400 "$code"
expect_match "deploy event for an unknown target names the known" 'known: aws-us-east-1' "$body"
run event deploy --url "$BASE" --wave prod-bake --target gcp-europe-west1 --time "$TL"
expect_eq "event deploy --target: recorded" 0 "$rc"
run event deploy --url "$BASE" --wave prod-bake --target nowhere --time "$TL"
expect_eq "event deploy --target unknown: usage error" 64 "$rc"
expect_match "event deploy --target unknown names the known" 'known: aws-us-east-1' "$err"
serve_stop

# --- one InfluxDB stopped: could not evaluate, never a pass
kill "${PID[1]}"; wait "${PID[1]}" 2>/dev/null; PID[1]=
run check --config "$cfg" --wave prod --feature healthy --deploy-time "$T" --format json
expect_eq "one InfluxDB down: exit 3" 3 "$rc"
expect_match "one InfluxDB down: names the target" 'could not evaluate: aws-eu-west-1' \
    "$(jq_get "$out" 'd["reason"]')"
run check --config "$cfg" --wave prod-matrix --feature healthy --deploy-time "$T" --format json
expect_eq "max_failed does not excuse an outage: exit 3" 3 "$rc"

finish
