#!/usr/bin/env bash
# test_events_markers_outage.sh — the markers' outbox against a real InfluxDB 1.x: InfluxDB
# stopped while events and gate answers arrive, wavegate kill -9'd during the outage, both
# restarted → every marker reaches InfluxDB exactly once; a line InfluxDB refuses (400 partial
# write, a field type conflict) is counted failed and does not hold back the others; over
# events.write_backlog the oldest lines are dropped, counted and logged.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}

influx_start || exit 1
influx_query "" 'CREATE DATABASE "marks"' || exit 1
# field `flag` of wavegate_events is an integer in this shard: a flag event's marker (its flag
# a string field) is refused; deploy markers (no flag field) are not
now=$(date +%s)
printf 'wavegate_events,type=seed flag=1i %s\n' "$now" > "$WG_TMP/seed.lp"
influx_write marks "$WG_TMP/seed.lp" || exit 1
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" > "$WG_TMP/token"

cfg="$WG_TMP/wavegate.yaml"
dead_source_yaml > "$cfg" # the gate's own source is a closed port: answers never wait on it
cat >> "$cfg" <<YAML
  marks: {kind: influxql, url: "$INFLUX_URL", database: marks, timeout: 2s, connect_timeout: 1s}
state_dir: $WG_TMP/state
server:
  bearer_token_file: $WG_TMP/token
  cache_ttl: 0s
events:
  write_to: marks
  flush_interval: 50ms
YAML
python3 - "$cfg" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().split("\n")
m = [l for l in lines if l.startswith("  marks:")][0]
lines.remove(m)
lines.insert(lines.index("sources:") + 1, m)
open(p, "w").write("\n".join(lines))
PY
"$WG" validate --config "$cfg" >/dev/null 2>"$WG_TMP/validate.err" || {
    echo "config invalid:"; cat "$WG_TMP/validate.err"; exit 1; }

SERVE_PID=
wg_on_exit serve_stop
serve_start || exit 1

post_event() { # post_event BODY — expects 202
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' --data-binary "$1" "$BASE/v1/events")
    [ "$code" = 202 ] || not_ok "event accepted" "$code $1"
}
gate() { # one gate answer (any verdict: the source is dead) — its marker counted
    curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" "$BASE/v1/gate?wave=staging&feature=f"
}
metric() { # metric NAME_WITH_LABELS — its value on /metrics (empty: none)
    curl -s -H "Authorization: Bearer $TOKEN" "$BASE/metrics" |
        awk -v k="$1" '$1 == k {print $2}'
}
iq() { curl -s -G "$INFLUX_URL/query" --data-urlencode db=marks --data-urlencode "q=$1"; }
count() { # count QUERY — the single count InfluxQL returns (0: no series)
    iq "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin)
s=d["results"][0].get("series") or []; print(s[0]["values"][0][1] if s else 0)'
}
wait_eq() { # wait_eq WANT SECS CMD... — poll until CMD prints WANT
    local want=$1 deadline=$(( $(date +%s) + $2 )); shift 2
    while [ "$("$@")" != "$want" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}
stored() { # marker lines in events.db's outbox (what a kill leaves)
    python3 -c 'import sqlite3,sys; c=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True)
print(c.execute("select coalesce(sum(n),0) from markers").fetchone()[0])' "$WG_TMP/state/events.db"
}
DEPLOYS='SELECT count("id") FROM wavegate_events WHERE "type" = '"'deploy'"
VERDICTS='SELECT count("rules") FROM wavegate_verdicts'
# each deploy at its own second (one series: same-time points would be one row in InfluxDB)
deploy() { post_event '{"type":"deploy","wave":"staging","version":"v'"$1"'","time":'"$((now - 3600 + $1))"'}'; }

# --- InfluxDB up: markers go; a refused line is counted, the others of its batch written
for i in 1 2 3; do deploy "$i"; gate; done
post_event '{"type":"flag","feature":"f","env":"staging","state":"on"}'
wait_eq 3 10 count "$DEPLOYS" || not_ok "3 deploy markers before the outage" "$(iq "$DEPLOYS")"
wait_eq 3 10 count "$VERDICTS" || not_ok "3 verdict markers before the outage" "$(iq "$VERDICTS")"
wait_eq 1 10 metric 'wavegate_markers_total{outcome="failed"}' ||
    not_ok "the refused flag marker counted failed" "$(metric 'wavegate_markers_total{outcome="failed"}')"
expect_eq "the refused flag marker is not in InfluxDB" 0 \
    "$(count 'SELECT count("title") FROM wavegate_events WHERE "type" = '"'flag'")"
grep -q 'refused by marks (not retried)' "$WG_TMP/serve.log" && ok "the refusal is logged" ||
    not_ok "the refusal is logged" "$(tail -5 "$WG_TMP/serve.log")"
post_event '{"type":"deploy","wave":"staging","version":"v4","time":'"$((now - 3600 + 4))"'}'
wait_eq 4 10 count "$DEPLOYS" && ok "a later marker still goes (nothing blocked by the 400)" ||
    not_ok "a later marker still goes" "$(iq "$DEPLOYS")"
wait_eq 0 10 metric wavegate_markers_backlog || not_ok "backlog drained" "$(metric wavegate_markers_backlog)"

# --- InfluxDB down: events and gate answers still answered at once, markers kept
INFLUXD=${INFLUXD:-$(command -v influxd || echo /usr/bin/influxd)}
influx_stop
t0=$(date +%s%N)
for i in 5 6 7 8 9; do deploy "$i"; gate; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 5000 ] && ok "10 answers during the outage in ${ms} ms (none waits on InfluxDB)" ||
    not_ok "answers during the outage are not held" "${ms} ms"
# every marker line is in the store (what kill -9 leaves behind) and a retry was counted
wait_for 10 test "$(stored)" -ge 10 || not_ok "the outage's markers stored" "stored=$(stored)"
n_out=$(stored)
wait_for 10 test "$(metric wavegate_markers_retries_total)" -ge 1 ||
    not_ok "a failed send counted as a retry" "$(metric wavegate_markers_retries_total)"
kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
expect_eq "kill -9 during the outage: the outbox keeps every line" "$n_out" "$(stored)"

# --- wavegate back while InfluxDB is still down: the backlog is kept, new markers added
serve_start || exit 1
deploy 10; gate
wait_for 10 test "$(metric wavegate_markers_backlog)" -ge $((n_out + 2)) ||
    not_ok "the backlog survives the restart" "$(metric wavegate_markers_backlog) < $((n_out + 2))"
expect_eq "nothing dropped" 0 "$(metric 'wavegate_markers_total{outcome="dropped"}')"

# --- InfluxDB back: every marker exactly once
"$INFLUXD" -config "$WG_TMP/influxdb/influxdb.conf" >> "$WG_TMP/influxdb/influxd.log" 2>&1 &
INFLUX_PID=$!
wait_for 30 curl -sf "$INFLUX_URL/ping" || { not_ok "influxd restarted"; finish; exit 1; }
wait_eq 10 40 count "$DEPLOYS" || not_ok "all 10 deploy markers" "$(iq "$DEPLOYS")"
wait_eq 9 10 count "$VERDICTS" || not_ok "all 9 verdict markers" "$(iq "$VERDICTS")"
wait_eq 0 10 metric wavegate_markers_backlog || not_ok "backlog drained after the outage" \
    "$(metric wavegate_markers_backlog)"
expect_eq "the outbox is empty" 0 "$(stored)"
expect_eq "each deploy marker once (10 distinct versions)" 10 \
    "$(count 'SELECT count(distinct("version")) FROM wavegate_events WHERE "type" = '"'deploy'")"
# rule rows: one per verdict (feature f has one rule): as many as verdicts
expect_eq "each rule result once" 9 "$(count 'SELECT count("samples") FROM wavegate_rules')"
serve_stop
expect_eq "SIGTERM: exit 0" 0 "${SERVE_RC:-}"

# --- events.write_backlog: over it the oldest lines are dropped, counted and logged
influx_stop
sed 's/^  flush_interval: 50ms$/  flush_interval: 50ms\n  write_backlog: 3/' "$cfg" > "$WG_TMP/small.yaml"
serve_start "$WG_TMP/small.yaml" || exit 1
for i in 11 12 13 14 15; do deploy "$i"; done
wait_eq 2 10 metric 'wavegate_markers_total{outcome="dropped"}' ||
    not_ok "2 lines over write_backlog 3 dropped" "$(metric 'wavegate_markers_total{outcome="dropped"}')"
expect_eq "the backlog held at write_backlog" 3 "$(metric wavegate_markers_backlog)"
grep -q 'backlog over events.write_backlog' "$WG_TMP/serve.log" && ok "the drop is logged" ||
    not_ok "the drop is logged" "$(tail -5 "$WG_TMP/serve.log")"
"$INFLUXD" -config "$WG_TMP/influxdb/influxdb.conf" >> "$WG_TMP/influxdb/influxd.log" 2>&1 &
INFLUX_PID=$!
wait_for 30 curl -sf "$INFLUX_URL/ping" || { not_ok "influxd restarted"; finish; exit 1; }
wait_eq 13 40 count "$DEPLOYS" || not_ok "the 3 newest of the 5 sent" "$(iq "$DEPLOYS")"
expect_eq "the oldest two were the ones dropped" "[]" \
    "$(jq_get "$(iq 'SELECT "version" FROM wavegate_events WHERE "version" = '"'v11'"' OR "version" = '"'v12'")" \
        'd["results"][0].get("series", [])')"
serve_stop
finish
