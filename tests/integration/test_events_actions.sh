#!/usr/bin/env bash
# test_events_actions.sh — kill switches through the durable action queue, against a real
# InfluxDB 1.x (a regressed feature) and a loopback sink: idempotent per (event, action), each
# attempt recorded with its answer, a 503 retried with backoff, a 404 given up and alerted,
# rate_limit {per, max}: a second flip over the limit is held (recorded, alerted, still pending,
# never sent), dry_run rehearses (recorded "dry run: would POST ...", nothing sent).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
PEERS=${WG_PEERS:-$(cd "$(dirname "$0")/../peers" && pwd)}

influx_start || exit 1
influx_query "" 'CREATE DATABASE "telemetry"' || exit 1
now=$(date +%s)
for ((t = now - 120; t < now + 300; t++)); do
    echo "app,env=production,feature=checkout errors=5 $t"
done > "$WG_TMP/app.lp"
influx_write telemetry "$WG_TMP/app.lp" || exit 1

cat > "$WG_TMP/scenario.json" <<'JSON'
{"/hook": [{"status": 200, "body": "ok"}], "/kill": [{"status": 200, "body": "killed"}],
 "/flaky": [{"status": 503, "body": "try later"}, {"status": 200, "body": "ok"}],
 "/gone": [{"status": 404, "body": "no such flag"}]}
JSON
sink_start
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" > "$WG_TMP/token"
cfg="$WG_TMP/wavegate.yaml"
cat > "$cfg" <<YAML
sources:
  local: {kind: influxql, url: $INFLUX_URL, database: telemetry}
waves:
  - {name: prod, env: production, source: local}
features:
  checkout:
    flag: checkout_v2
    flip: {interval: 1s, count: 3, failure_limit: 0}
    on_fail:
      - {action: webhook, url: 'http://127.0.0.1:$SP/kill', rate_limit: {per: 1h, max: 1},
         body: '{"flag":"{{ flag }}","event":"{{ event_id }}"}'}
      - {action: webhook, url: 'http://127.0.0.1:$SP/rehearse', dry_run: true}
      - {action: webhook, url: 'http://127.0.0.1:$SP/flaky'}
      - {action: webhook, url: 'http://127.0.0.1:$SP/gone'}
    rules:
      - name: errors
        query: >-
          SELECT mean("errors") FROM "app" WHERE "env" = {{ env }} AND "feature" = {{ feature }}
          AND time >= {{ start }} AND time < {{ end }}
        window: 2s
        min_samples: 1
        threshold: {max: 1}
state_dir: $WG_TMP/state
server:
  listen: 127.0.0.1:0
  bearer_token_file: $WG_TMP/token
alerting:
  receivers:
    - {name: hook, kind: webhook, url: 'http://127.0.0.1:$SP/hook'}
  route: {receiver: hook, group_by: [alertname, feature, event_id], group_wait: 0s,
          group_interval: 1s}
monitor:
  interval: 1h
YAML
"$WG" validate --config "$cfg" >/dev/null || { "$WG" validate --config "$cfg"; exit 1; }
# a bad rate_limit is a config error with its position
sed 's|rate_limit: {per: 1h, max: 1}|rate_limit: {per: 1h, max: 0}|' "$cfg" > "$WG_TMP/bad.yaml"
expect_match "rate_limit.max 0 is refused with file:line:col" \
    'bad.yaml:[0-9]+:[0-9]+: features.checkout.on_fail\[0\].rate_limit.max' \
    "$("$WG" validate --config "$WG_TMP/bad.yaml" 2>&1)"
SERVE_PID=
wg_on_exit serve_stop
serve_start || exit 1

post_flip() { # post_flip VERSION → the event id
    curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d '{"type":"flag","flag":"checkout_v2","env":"production","state":"on","version":"'"$1"'"}' \
        "$BASE/v1/events" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
actions() { curl -s -H "Authorization: Bearer $TOKEN" "$BASE/v1/events/actions"; }
action() { # action EVENT INDEX → "status attempts http_status answer"
    actions | python3 -c 'import json,sys
a=[x for x in json.load(sys.stdin)["actions"] if x["id"]==sys.argv[1] and x["index"]==int(sys.argv[2])]
print("%s %d %d %s" % (a[0]["status"], a[0]["attempts"], a[0]["http_status"], a[0]["answer"]) if a else "none")' "$1" "$2"
}
settled() { # settled EVENT — no action of it is pending any more
    actions | python3 -c 'import json,sys
a=[x for x in json.load(sys.stdin)["actions"] if x["id"]==sys.argv[1]]
sys.exit(0 if len(a) == 4 and all(x["status"] != "pending" for x in a) else 1)' "$1"
}
cat > "$WG_TMP/q.py" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
def path(p): return [r for r in reqs if r["path"] == p]
def alerts(name): return [a for r in path("/hook") for a in json.loads(r["body"]).get("alerts", [])
                          if a["labels"].get("alertname") == name]
print(eval(sys.argv[2]))
PY

# --- first flip: every action runs once
e1=$(post_flip 1)
[ -n "$e1" ] || { echo "the flip was not accepted"; exit 1; }
wait_for 30 settled "$e1" || not_ok "flip 1: its actions settle" "$(actions)" "$(tail -20 "$WG_TMP/serve.log")"
expect_match "kill: done on its first attempt, HTTP 200, the answer kept" '^done 1 200 killed' \
    "$(action "$e1" 0)"
expect_match "dry_run: recorded what it would send" \
    "^dry_run 1 0 dry run: would POST http://127.0.0.1:$SP/rehearse" "$(action "$e1" 1)"
expect_eq "dry_run: nothing sent" 0 "$(sink 'len(path("/rehearse"))')"
expect_match "503: retried with backoff, done on the second attempt" '^done 2 200' \
    "$(action "$e1" 2)"
expect_match "404: given up at once (not retried), the answer kept" '^failed 1 404 .*no such flag' \
    "$(action "$e1" 3)"
attempts=$(python3 -c 'import sqlite3,sys
c=sqlite3.connect(sys.argv[1])
r=c.execute("select status, http_status, answer, at_ns from action_attempts where id=? and idx=2 order by at_ns",(sys.argv[2],)).fetchall()
print(" ".join("%s/%d" % (s, h) for s, h, a, t in r), "%.1f" % ((r[1][3]-r[0][3])/1e9) if len(r) > 1 else "")' \
    "$WG_TMP/state/events.db" "$e1")
expect_match "every attempt recorded with its answer (503 then 200, >= 1 s apart)" \
    '^pending/503 done/200 [1-9]' "$attempts"
poll_until 10 'len(alerts("WavegateActionFailed")) >= 1' && ok "the failing action is alerted" ||
    not_ok "the failing action is alerted" "$(head -c 2000 "$SINK_LOG")"

# --- second flip: the kill switch is over its rate limit (1 per hour): held, alerted, not sent
e2=$(post_flip 2)
held() { [ "$(action "$e2" 0 | cut -d' ' -f1)" = held ]; }
wait_for 30 held || not_ok "flip 2: its kill switch is held" "$(actions)"
expect_match "held: the reason is recorded (no attempt counted)" \
    '^held 0 0 held by rate_limit: 1 flip\(s\) of feature checkout acted on in the last 1h \(max 1\)' \
    "$(action "$e2" 0)"
poll_until 10 'any(a["labels"].get("event_id") == "'"$e2"'" for a in alerts("WavegateActionHeld"))' &&
    ok "the held action is alerted" ||
    not_ok "the held action is alerted" "$(head -c 3000 "$SINK_LOG")"
expect_eq "one kill request in all (idempotent per event and action, the held one not sent)" \
    "1 $e1" "$(sink 'str(len(path("/kill"))) + " " + json.loads(path("/kill")[0]["body"])["event"]')"
expect_match "the other actions of flip 2 are not limited" '^dry_run' "$(action "$e2" 1)"
# a restart keeps it held (the window is counted from the store), and never drops it
serve_stop
serve_start || exit 1
expect_match "after a restart: still held, not sent" '^held 0 0 held by rate_limit' \
    "$(action "$e2" 0)"
expect_eq "after a restart: still one kill request" 1 "$(sink 'len(path("/kill"))')"
finish
