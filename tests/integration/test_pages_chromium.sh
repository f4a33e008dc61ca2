#!/usr/bin/env bash
# test_pages_chromium.sh — the evidence pages over real data from InfluxDB 1.x, read back in
# headless Chromium: `serve` answers a gate call with evaluation_id and report_url, the page
# at /ui/evaluations/{id} (behind the read token, strict CSP) shows the verdict, an SVG with
# its threshold line at the threshold's y and the deploy marker at the deploy's x, the failing
# group highlighted, a feature named <script>alert(1)</script> as text; `check --format html`
# gives the same page as a file. Screenshots (light and dark) go to build/test-artefacts/pages.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
    echo "not ok - chromium is not installed (scripts/deps.sh installs it)"; exit 1
fi
ART="$(cd "$(dirname "$WG")" && pwd)/test-artefacts/pages"
mkdir -p "$ART"

influx_start || exit 1
influx_query "" 'CREATE DATABASE "telemetry"' || exit 1
deploy=$(( $(date +%s) / 60 * 60 - 11 * 60 ))
T=$(date -u -d "@$deploy" +%Y-%m-%dT%H:%M:%SZ)
# hosts a and b healthy (~100 ms); host c regressed 3x after the deploy. Seeded.
python3 - "$deploy" > "$WG_TMP/data.lp" <<'PY'
import random, sys
d = int(sys.argv[1]); r = random.Random(7)
for t in range(d - 30 * 60, d + 10 * 60, 10):
    for h in "abc":
        lat = r.uniform(90, 110) * (3 if h == "c" and t >= d else 1)
        print(f"http,env=prod,host={h} latency_ms={lat:.3f} {t}")
        print(f"http,env=prod,host={h} x=1 {t}".replace("http,", "other,"))
PY
influx_write telemetry "$WG_TMP/data.lp" || exit 1

TOKEN=pages-test-token-1234567890
printf '%s\n' "$TOKEN" > "$WG_TMP/token"
cfg="$WG_TMP/wavegate.yaml"
cat > "$cfg" <<YAML
state_dir: $WG_TMP/state
server:
  bearer_token_file: $WG_TMP/token
  external_url: https://wg.example
sources:
  local:
    kind: influxql
    url: $INFLUX_URL
    database: telemetry
waves:
  - name: prod
    env: prod
    source: local
features:
  checkout:
    rules:
      - name: latency
        query: >-
          SELECT "latency_ms" AS "lat" FROM "http"
          WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }} GROUP BY "host"
        field: lat
        reduce: mean
        window: 10m
        baseline: {window: 30m}
        threshold: {max: 250}
  "<script>alert(1)</script>":
    rules:
      - name: "x<b>y</b>"
        query: >-
          SELECT "x" FROM "other" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        window: 10m
        reduce: count
        threshold: {min: 1}
YAML
"$WG" validate --config "$cfg" || { echo "not ok - config invalid"; exit 1; }

dom() { timeout 60 "$CHROME" --headless --disable-gpu --no-sandbox --dump-dom "$1" 2>/dev/null; }
shot() { timeout 60 "$CHROME" --headless --disable-gpu --no-sandbox --hide-scrollbars \
    --window-size=900,1800 $3 --screenshot="$2" "$1" >/dev/null 2>&1; }

# check_page NAME FILE_URL — the assertions on a rendered page (DOM as Chromium built it).
check_page() {
    local name=$1 url=$2 d
    d=$(dom "$url")
    printf '%s' "$d" > "$ART/$name.dom.html"
    python3 - "$name" "$deploy" "$ART/$name.dom.html" <<'PY'
import sys, re, html.parser
name, deploy, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
src = open(path).read()
fails = []
def want(cond, what, got=""):
    print(("ok - " if cond else "not ok - ") + f"{name}: {what}" + ("" if cond else f" (got {got})"))
    if not cond: fails.append(what)
class P(html.parser.HTMLParser):
    def __init__(s):
        super().__init__(); s.el = {}; s.tags = []; s.text = []
    def handle_starttag(s, tag, attrs):
        a = dict(attrs)
        if tag == "svg": s.svg = a.get("id")
        a["_svg"] = getattr(s, "svg", None); s.tags.append((tag, a))
        if "id" in a: s.el[a["id"]] = (tag, a)
    def handle_data(s, d): s.text.append(d)
p = P(); p.feed(src); text = "".join(p.text)
want(p.el.get("verdict") is not None and "FAIL" in text.upper(), "verdict text present")
want(not any(t == "script" for t, _ in p.tags), "no script element (escaped)")
want("<script>alert(1)</script>" in text, "the feature name stays text")
want("x<b>y</b>" in text, "the rule name stays text")
ch = p.el.get("r0-chart")
want(ch is not None and ch[0] == "svg", "the first rule has an SVG chart")
if ch:
    a = ch[1]; t0, t1 = int(a["data-t0"]), int(a["data-t1"]); x0, x1 = float(a["data-x0"]), float(a["data-x1"])
    v0, v1 = float(a["data-v0"]), float(a["data-v1"]); y0, y1 = float(a["data-y0"]), float(a["data-y1"])
    # the axis spans baseline start (deploy - 30m) .. window end (deploy + 10m)
    want(t0 == (deploy - 1800) * 10**9 and t1 == (deploy + 600) * 10**9, "time axis from the windows", (t0, t1))
    dep = p.el.get("r0-deploy")
    want_x = x0 + (deploy * 10**9 - t0) * (x1 - x0) / (t1 - t0)
    want(dep is not None and abs(float(dep[1]["x1"]) - want_x) < 0.11, f"deploy marker at x={want_x:.1f}", dep and dep[1].get("x1"))
    th = p.el.get("r0-threshold")
    want_y = y0 - (250 - v0) * (y0 - y1) / (v1 - v0)
    want(th is not None and th[1].get("data-value") == "250" and abs(float(th[1]["y1"]) - want_y) < 0.11,
         f"threshold line at y={want_y:.1f}", th and th[1])
    fail_lines = [a for t, a in p.tags if t == "polyline" and a["_svg"] == "r0-chart" and "fail" in a.get("class", "").split()]
    ok_lines = [a for t, a in p.tags if t == "polyline" and a["_svg"] == "r0-chart" and "fail" not in a.get("class", "").split()]
    want(len(fail_lines) == 2 and len(ok_lines) == 4, "host c's current and baseline series highlighted, a and b not",
         (len(fail_lines), len(ok_lines)))
    rows = [(i, a) for i, (t, a) in p.el.items() if t == "tr" and i.startswith("r0-g")]
    want(sum("fail" in a.get("class", "") for _, a in rows) == 1, "one failing group row", rows)
    want(all(len(a.get("points", "").split()) > 10 for a in fail_lines), "the series have their points")
sys.exit(1 if fails else 0)
PY
    [ $? -eq 0 ] && ok "$name: page checks" || not_ok "$name: page checks"
}

# --- serve: the gate JSON links its page
serve_start || exit 1
code=$(curl -s -o "$WG_TMP/gate.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    "$BASE/v1/gate?wave=prod&deploy_time=$T")
gate=$(cat "$WG_TMP/gate.json")
expect_eq "gate answers 200 (body mode)" 200 "$code"
expect_eq "gate verdict is fail" fail "$(jq_get "$gate" 'd["verdict"]')"
id=$(jq_get "$gate" 'd.get("evaluation_id", "")')
expect_match "gate JSON carries an evaluation_id" '^[0-9a-f]{32}$' "$id"
expect_eq "report_url from server.external_url" "https://wg.example/ui/evaluations/$id" \
    "$(jq_get "$gate" 'd.get("report_url", "")')"

code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ui/evaluations/$id")
expect_eq "page without the token: 401" 401 "$code"
code=$(curl -s -D "$WG_TMP/h" -o "$ART/served.html" -w '%{http_code}' \
    -H "Authorization: Bearer $TOKEN" "$BASE/ui/evaluations/$id")
expect_eq "page with the token: 200" 200 "$code"
expect_match "strict CSP header" "default-src 'none'; style-src 'unsafe-inline'; img-src data:" \
    "$(tr -d '\r' < "$WG_TMP/h")"
expect_match "text/html" 'Content-Type: text/html' "$(cat "$WG_TMP/h")"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    "$BASE/ui/evaluations/00000000000000000000000000000000")
expect_eq "unknown evaluation: 404" 404 "$code"
code=$(curl -s -o "$ART/home.html" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/")
expect_eq "overview page: 200" 200 "$code"
expect_match "overview links the evaluation" "/ui/evaluations/$id" "$(cat "$ART/home.html")"
expect_match "overview escapes the feature" '&lt;script&gt;alert\(1\)&lt;/script&gt;' \
    "$(cat "$ART/home.html")"
# the alerts' report_url (/v1/report/{wave}) leads to the wave's latest evaluation
loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H "Authorization: Bearer $TOKEN" \
    "$BASE/v1/report/prod")
expect_eq "alerts' report_url: 303 to the latest evaluation" "303 $BASE/ui/evaluations/$id" "$loc"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/v1/report/nope")
expect_eq "report of a wave never evaluated: 404" 404 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/report/prod")
expect_eq "report without the token: 401" 401 "$code"
# --- an analysis: every look on one time axis, each linking its evaluation
# (a healthy feature, so it runs its 3 looks; poll against a deadline, never sleep-to-wait)
auth=(-H "Authorization: Bearer $TOKEN")
an=$(curl -s "${auth[@]}" -X POST -d "{\"wave\":\"prod\",\"features\":[\"<script>alert(1)</script>\"],\"deploy_time\":\"$T\",\"interval\":\"100ms\",\"count\":3}" "$BASE/v1/analyses")
aid=$(jq_get "$an" 'd.get("id", "")')
expect_match "analysis created" '^[0-9a-f-]+$' "$aid"
deadline=$(( $(date +%s) + 20 ))
until [ "$(jq_get "$(curl -s "${auth[@]}" "$BASE/v1/analyses/$aid")" 'd["status"]')" != running ] ||
    [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.1; done
code=$(curl -s -o "$ART/analysis.html" -w '%{http_code}' "${auth[@]}" "$BASE/ui/analyses/$aid")
expect_eq "analysis page: 200" 200 "$code"
expect_eq "analysis page: one point per look per rule" 3 "$(grep -o '<circle' "$ART/analysis.html" | wc -l)"
expect_eq "analysis page: each look links its evaluation" 3 \
    "$(grep -o 'href="/ui/evaluations/[0-9a-f]\{32\}"' "$ART/analysis.html" | sort -u | wc -l)"
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$BASE/ui/analyses/0000")
expect_eq "unknown analysis page: 404" 404 "$code"

serve_stop

# Chromium reads the page the server rendered (saved: it cannot send the bearer header).
check_page served "file://$ART/served.html"
shot "file://$ART/served.html" "$ART/served-light.png" "--force-prefers-color-scheme=light"
shot "file://$ART/served.html" "$ART/served-dark.png" "--blink-settings=preferredColorScheme=0 --force-dark-mode"
[ -s "$ART/served-light.png" ] && ok "screenshot kept: $ART/served-light.png" || not_ok "no screenshot"

# --- check --format html: the same page as a file
"$WG" check --config "$cfg" --wave prod --deploy-time "$T" --format html > "$ART/check.html"
expect_eq "check --format html exits 1 (fail)" 1 "$?"
check_page check "file://$ART/check.html"
shot "file://$ART/check.html" "$ART/check-light.png" ""

# --- the overview and the alerts' links: the same data and state dir, now with a fleet wave,
# alerting to loopback sinks, a silence, a running analysis, an event and a retention of 8
SRC=${WG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PEERS=${WG_PEERS:-$SRC/tests/peers}
cat > "$WG_TMP/scenario.json" <<'EOF'
{"/hook": [{"status": 204}], "/slack": [{"status": 200, "body": "ok"}], "/kill": [{"status": 200}]}
EOF
sink_start
cat > "$WG_TMP/q.py" <<'EOF'
import json, sys
L = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    try:
        r["j"] = json.loads(r["body"])
    except ValueError:
        r["j"] = None
    L.append(r)
def hook(name):
    return [a for r in L if r["path"] == "/hook" for a in (r["j"] or {}).get("alerts", [])
            if a["labels"].get("alertname") == name and a["status"] == "firing"]
def slack():
    return [r["j"] for r in L if r["path"] == "/slack"]
print(eval(sys.argv[2]))
EOF
cfg2="$WG_TMP/wavegate2.yaml"
python3 - "$cfg" "$cfg2" "$SP" <<'PY'
import sys
s = open(sys.argv[1]).read()
s = s.replace("  external_url: https://wg.example\n",
              "  external_url: https://wg.example\n  evaluations: {keep: 8, max_age: 1d}\n"
              "  cache_ttl: 0s\n", 1)  # each gate call below is its own evaluation
s = s.replace("waves:\n", """waves:
  - name: fleet
    source: local
    targets:
      - {name: east, env: prod}
      - {name: "<script>alert(3)</script>", env: prod}
""", 1)
# checkout is behind a flag whose flip is analysed, with a kill switch (a webhook to the sink)
s = s.replace("  checkout:\n    rules:\n", """  checkout:
    flag: checkout_v2
    flip: {interval: 1s, count: 3, failure_limit: 0}
    on_fail:
      - {action: webhook, url: "http://127.0.0.1:@SP@/kill", method: POST, body: '{"flag":"{{ flag }}"}'}
    rules:
""", 1).replace("@SP@", sys.argv[3])
open(sys.argv[2], "w").write(s)
PY
cat >> "$cfg2" <<YAML
alerting:
  receivers:
    - {name: hook, kind: webhook, url: 'http://127.0.0.1:$SP/hook'}
    - {name: chat, kind: slack, url: 'http://127.0.0.1:$SP/slack'}
  route:
    receiver: hook
    group_by: [alertname, wave, host]
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 1h
    routes:
      - {receiver: hook, continue: true}
      - {receiver: chat, match: {alertname: latency}, continue: true}
monitor:
  interval: 1s
  waves: [prod]
  features: [checkout]
  for: 0s
YAML
"$WG" validate --config "$cfg2" 2>"$WG_TMP/v2.err" ||
    { echo "not ok - config 2 invalid"; cat "$WG_TMP/v2.err"; exit 1; }
serve_start "$cfg2" || exit 1
# the monitor's tick finds host c over 250 ms: its alert reaches the sink with its link
if poll_until 20 'len(hook("latency")) > 0'; then ok "the latency alert reached the sink"
else not_ok "the latency alert reached the sink" "$(tail -5 "$WG_TMP/serve.log")"; fi
link=$(sink 'hook("latency")[0]["generatorURL"]')
expect_match "the alert's generatorURL is its evaluation page" \
    '^https://wg\.example/ui/evaluations/[0-9a-f]{32}$' "$link"
expect_eq "its report_url annotation is the same link" "$link" \
    "$(sink 'hook("latency")[0]["annotations"].get("report_url")')"
poll_until 10 'len(slack()) > 0' || true
expect_eq "the Slack message's button opens the same page" "$link" \
    "$(sink '[e["url"] for m in slack() for b in m["blocks"] if b["type"] == "actions" for e in b["elements"]][:1]' | tr -d "[]'")"
expect_eq "the alert is host c's" c "$(sink 'hook("latency")[0]["labels"].get("host")')"
aid_eval=${link##*/}
# the link opens the evaluation that fired it: host c's group failing, a and b passing
code=$(curl -s -o "$WG_TMP/ev.json" -w '%{http_code}' "${auth[@]}" -H 'Accept: application/json' \
    "$BASE/ui/evaluations/$aid_eval")
expect_eq "the alert's evaluation is kept (JSON)" 200 "$code"
expect_eq "it is that evaluation" "$aid_eval" \
    "$(jq_get "$(cat "$WG_TMP/ev.json")" 'd.get("evaluation_id")')"
expect_eq "with the alert's verdict: host c fails, a and b pass" "a=pass b=pass c=fail" \
    "$(jq_get "$(cat "$WG_TMP/ev.json")" '" ".join(sorted("%s=%s" % (g["labels"]["host"], g["verdict"]) for r in d["rules"] if r["rule"] == "latency" for g in r["groups"]))')"
code=$(curl -s -o "$ART/alert-evaluation.html" -w '%{http_code}' "${auth[@]}" \
    "$BASE/ui/evaluations/$aid_eval")
expect_eq "the alert's evaluation page: 200" 200 "$code"
dom "file://$ART/alert-evaluation.html" > "$ART/alert-evaluation.dom.html"
python3 - "$ART/alert-evaluation.dom.html" <<'PY'
import sys, html.parser
class P(html.parser.HTMLParser):
    def __init__(s): super().__init__(); s.el = {}; s.cur = None; s.rows = {}
    def handle_starttag(s, tag, a):
        a = dict(a)
        if "id" in a: s.el[a["id"]] = (tag, a)
        if tag == "tr" and a.get("id", "").startswith("r0-g"): s.cur = a["id"]; s.rows[s.cur] = [a, ""]
    def handle_endtag(s, tag):
        if tag == "tr": s.cur = None
    def handle_data(s, d):
        if s.cur: s.rows[s.cur][1] += d
p = P(); p.feed(open(sys.argv[1]).read())
ok = True
def want(c, what, got=""):
    global ok; ok &= bool(c)
    print(("ok - " if c else "not ok - ") + "alert page: " + what + ("" if c else f" (got {got})"))
want(p.el.get("verdict") and "v-fail" in p.el["verdict"][1].get("class", ""), "the wave's verdict fail")
want(p.el.get("r0") and "v-fail" in p.el["r0"][1].get("class", ""), "the latency rule fails")
fail = [t for a, t in p.rows.values() if "fail" in a.get("class", "")]
want(len(fail) == 1 and "host=c" in fail[0], "host c's group is the one highlighted", fail)
want(p.el.get("r0-chart") is not None, "with its chart")
sys.exit(0 if ok else 1)
PY
[ $? -eq 0 ] && ok "alert page checks (Chromium)" || not_ok "alert page checks (Chromium)"

# what the overview shows besides: a silence with a hostile comment, a running analysis, an
# event, a fleet gate call (per-target verdicts)
code=$(curl -s -o "$WG_TMP/sil.json" -w '%{http_code}' "${auth[@]}" -XPOST \
    -H 'Content-Type: application/json' --data-binary \
    '{"matchers":[{"name":"alertname","value":"Never<b>","isRegex":false,"isEqual":true}],
      "endsAt":"2100-01-01T00:00:00Z","createdBy":"pages","comment":"<script>alert(2)</script>"}' \
    "$BASE/v1/silences")
expect_eq "silence added" 200 "$code"
sil=$(jq_get "$(cat "$WG_TMP/sil.json")" 'd["silenceID"]')
# (the healthy feature: a failing one is decided at its first look)
an=$(curl -s "${auth[@]}" -X POST -d "{\"wave\":\"prod\",\"features\":[\"<script>alert(1)</script>\"],\"deploy_time\":\"$T\",\"interval\":\"1h\",\"count\":3}" "$BASE/v1/analyses")
run_id=$(jq_get "$an" 'd.get("id", "")')
expect_match "a long analysis created" '^[0-9a-f-]+$' "$run_id"
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -XPOST -H 'Content-Type: application/json' \
    --data-binary '{"type":"deploy","wave":"prod","version":"v<i>9</i>","time":"'"$T"'"}' \
    "$BASE/v1/events")
expect_eq "deploy event accepted" 202 "$code"
code=$(curl -s -o "$WG_TMP/fleet.json" -w '%{http_code}' "${auth[@]}" \
    "$BASE/v1/gate?wave=fleet&deploy_time=$T")
expect_eq "fleet gate call answers" 200 "$code"
fleet_id=$(jq_get "$(cat "$WG_TMP/fleet.json")" 'd.get("evaluation_id", "")')
# the monitor ticks on; ticks that change no alert are not kept, and the link stays the same
turns() { curl -s "${auth[@]}" "$BASE/metrics" |
    sed -n 's/^wavegate_monitor_turns_total{role="leader"} //p'; }
t0=$(turns); deadline=$(( $(date +%s) + 20 ))
until [ "$(turns)" -ge $(( ${t0:-0} + 3 )) ] || [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.1; done
expect_eq "three more monitor ticks" yes "$([ "$(turns)" -ge $(( ${t0:-0} + 3 )) ] && echo yes)"
code=$(curl -s -o "$ART/home2.html" -w '%{http_code}' "${auth[@]}" "$BASE/")
expect_eq "overview: 200" 200 "$code"
dom "file://$ART/home2.html" > "$ART/home2.dom.html"
shot "file://$ART/home2.html" "$ART/home-light.png" "--force-prefers-color-scheme=light"
shot "file://$ART/home2.html" "$ART/home-phone.png" "--window-size=390,1800"
python3 - "$ART/home2.dom.html" "$run_id" "/ui/evaluations/$aid_eval" "$sil" \
    "/ui/evaluations/$fleet_id" <<'PY'
import sys, html.parser
path, run_id, alert_link, sil, fleet_link = sys.argv[1:]
class P(html.parser.HTMLParser):
    def __init__(s):
        super().__init__(); s.tags = []; s.rows = []; s.sec = None
    def handle_starttag(s, tag, a):
        a = dict(a); s.tags.append((tag, a))
        if tag == "section": s.sec = a.get("id")
        if tag == "tr": a["_sec"] = s.sec; s.rows.append([a, "", []])
        if tag == "a" and s.rows: s.rows[-1][2].append(a.get("href"))
    def handle_data(s, d):
        if s.rows: s.rows[-1][1] += d
p = P(); p.feed(open(path).read())
ok = True
def want(c, what, got=""):
    global ok; ok &= bool(c)
    print(("ok - " if c else "not ok - ") + "overview: " + what + ("" if c else f" (got {got})"))
def rows(sec, cls=None):
    return [r for r in p.rows if r[0]["_sec"] == sec and (cls is None or cls in r[0].get("class", "").split())]
want(not any(t == "script" for t, _ in p.tags), "no script element")
running = [r for r in rows("analyses", "running") if f"/ui/analyses/{run_id}" in r[2]]
want(running, "lists the running analysis, linked", rows("analyses"))
mx = [r for r in rows("matrix", "wave") if r[0].get("data-wave") == "prod"]
want(mx and f"/ui/analyses/{run_id}" in mx[0][2], "the prod row links its running analysis", mx)
firing = [r for r in rows("alerts", "firing") if "latency" in r[1] and "host=c" in r[1]]
want(firing, "lists the firing latency alert of host c", rows("alerts"))
want(firing and alert_link in firing[0][2], "its evidence link is the evaluation the sink got",
     firing and firing[0][2])
sl = [r for r in rows("alerts", "silence") if sil in r[1]]
want(sl, "lists the silence", rows("alerts", "silence"))
want(sl and "<script>alert(2)</script>" in sl[0][1] and "Never<b>" in sl[0][1],
     "its comment and matcher stay text", sl)
tg = [r for r in rows("matrix", "target") if r[0].get("data-wave") == "fleet"]
want(sorted(r[0].get("data-target") for r in tg) == ["<script>alert(3)</script>", "east"],
     "the fleet wave's targets, one row each (the hostile name as text)", tg)
want(tg and all(len(r[2]) == 3 and all(h == fleet_link for h in r[2]) and r[1].upper().count("FAIL") == 2
               for r in tg), "each target's verdict and its features' link the fleet evaluation", tg)
ev = rows("events", "event")
want(ev and "deploy" in ev[0][1] and "prod" in ev[0][1], "lists the deploy event", ev)
want(ev and "v<i>9</i>" in ev[0][1], "its version stays text", ev)
fw = [r for r in rows("matrix", "wave") if r[0].get("data-wave") == "fleet"]
want(fw and fleet_link in fw[0][2] and "FAIL" in fw[0][1].upper(), "the fleet wave's latest verdict", fw)
mon = [r for r in rows("recent") if "monitor" in r[1]]
want(len(mon) == 1, "one monitor evaluation kept (ticks that change no alert are not)", len(mon))
sys.exit(0 if ok else 1)
PY
[ $? -eq 0 ] && ok "overview checks (Chromium)" || not_ok "overview checks (Chromium)"

# a flag flip: its failed analysis, its kill switch and their records link the evaluation of
# the look that decided (anchored at the flip)
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -XPOST -H 'Content-Type: application/json' \
    --data-binary '{"type":"flag","flag":"checkout_v2","wave":"prod","env":"prod","state":"on","time":"'"$T"'"}' \
    "$BASE/v1/events")
expect_eq "flag-on event accepted" 202 "$code"
if poll_until 20 'len(hook("WavegateFlipFailed")) > 0 and len(hook("WavegateActionDone")) > 0'; then
    ok "the flip's failed analysis and its kill switch are alerted"
else not_ok "the flip's failed analysis and its kill switch are alerted" "$(grep -i 'flip\|action' "$WG_TMP/serve.log" | tail -5)"; fi
flip_link=$(sink 'hook("WavegateFlipFailed")[0]["annotations"].get("report_url")')
expect_match "the flip alert links an evaluation page" \
    '^https://wg\.example/ui/evaluations/[0-9a-f]{32}$' "$flip_link"
expect_eq "the kill switch's alert links the same evaluation" "$flip_link" \
    "$(sink 'hook("WavegateActionDone")[0]["annotations"].get("report_url")')"
acts=$(curl -s "${auth[@]}" "$BASE/v1/events/actions")
expect_eq "the flip and kill-switch records carry it" "$flip_link $flip_link" \
    "$(jq_get "$acts" 'd["flips"][0].get("report_url", "") + " " + d["actions"][0].get("report_url", "")')"
curl -s -o "$WG_TMP/flip.json" "${auth[@]}" -H 'Accept: application/json' \
    "$BASE/ui/evaluations/${flip_link##*/}"
expect_eq "that evaluation: checkout failing, anchored at the flip" "fail checkout $T" \
    "$(jq_get "$(cat "$WG_TMP/flip.json")" 'd["verdict"] + " " + ",".join(f["feature"] for f in d["features"]) + " " + d.get("deploy_time", "")')"

# retention (evaluations: {keep: 8}): eight more gate calls push the older ones out; their
# page is a 404 saying so, and a JSON ask gets {"error": ...}
for i in 1 2 3 4 5 6 7 8; do
    curl -s -o "$WG_TMP/g$i.json" "${auth[@]}" "$BASE/v1/gate?wave=prod&deploy_time=$T"
done
newest=$(jq_get "$(cat "$WG_TMP/g8.json")" 'd.get("evaluation_id", "")')
first=$(jq_get "$(cat "$WG_TMP/g1.json")" 'd.get("evaluation_id", "")')
code=$(curl -s -o "$WG_TMP/old.html" -w '%{http_code}' "${auth[@]}" "$BASE/ui/evaluations/$aid_eval")
expect_eq "the alert's evaluation, now past the 8 newest: 404" 404 "$code"
expect_match "the page says it is unknown or expired" \
    'unknown or expired \(kept: the last 8, for at most 1d\)' "$(cat "$WG_TMP/old.html")"
code=$(curl -s -o "$WG_TMP/old.json" -w '%{http_code}' "${auth[@]}" -H 'Accept: application/json' \
    "$BASE/ui/evaluations/$id")
expect_eq "phase one's evaluation as JSON: 404" 404 "$code"
expect_match "with {\"error\": ...}" 'unknown or expired' \
    "$(jq_get "$(cat "$WG_TMP/old.json")" 'd.get("error", "")')"
# (g1 is not asked: a monitor tick in between may have kept a new evidence for the alert whose
# evidence just went, the block below, which pushes g1 out)
second=$(jq_get "$(cat "$WG_TMP/g2.json")" 'd.get("evaluation_id", "")')
for e in "$second" "$newest"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$BASE/ui/evaluations/$e")
    expect_eq "the 8 newest are kept ($e)" 200 "$code"
done
# the still-firing alert's evidence was dropped: the next tick keeps a new one and links it
t0=$(turns); deadline=$(( $(date +%s) + 20 ))
until [ "$(turns)" -ge $(( ${t0:-0} + 2 )) ] || [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.1; done
curl -s -o "$WG_TMP/home3.html" "${auth[@]}" "$BASE/"
relink=$(python3 - "$WG_TMP/home3.html" <<'PY'
import re, sys
rows = re.findall(r'<tr class="alert firing">(.*?)</tr>', open(sys.argv[1]).read(), re.S)
ids = [re.search(r'href="/ui/evaluations/([0-9a-f]{32})"', r) for r in rows if "host=c" in r]
print(ids[0].group(1) if ids and ids[0] else "")
PY
)
expect_match "the firing alert links a new evaluation" '^[0-9a-f]{32}$' "$relink"
[ "$relink" != "$aid_eval" ] && ok "not the dropped one" || not_ok "not the dropped one"
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$BASE/ui/evaluations/$relink")
expect_eq "which is kept" 200 "$code"

# the firing alert's link on the overview (host c's row), after two more monitor ticks
alert_link_now() {
    local t0 deadline
    t0=$(turns); deadline=$(( $(date +%s) + 20 ))
    until [ "$(turns)" -ge $(( ${t0:-0} + 2 )) ] || [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.1; done
    curl -s -o "$WG_TMP/home4.html" "${auth[@]}" "$BASE/"
    python3 - "$WG_TMP/home4.html" <<'PY'
import re, sys
rows = re.findall(r'<tr class="alert firing">(.*?)</tr>', open(sys.argv[1]).read(), re.S)
ids = [re.search(r'href="/ui/evaluations/([0-9a-f]{32})"', r) for r in rows if "host=c" in r]
print(ids[0].group(1) if ids and ids[0] else "")
PY
}
# a SIGHUP reload applies server.evaluations at once (keep 8 -> 3: the older ones go)
sed -i 's/evaluations: {keep: 8, max_age: 1d}/evaluations: {keep: 3, max_age: 1d}/' "$cfg2"
kill -HUP "$SERVE_PID"
if wait_for 10 grep -q 'evaluations: retention now the last 3, for at most 86400s (was 8' "$WG_TMP/serve.log"
then ok "reload: the new retention is said in the log"
else not_ok "reload: the new retention is said in the log" "$(tail -5 "$WG_TMP/serve.log")"; fi
# (g5: past the 3 newest whether or not the evidence block above kept one more; kept under 8)
g5=$(jq_get "$(cat "$WG_TMP/g5.json")" 'd.get("evaluation_id", "")')
code=$(curl -s -o "$WG_TMP/old2.html" -w '%{http_code}' "${auth[@]}" "$BASE/ui/evaluations/$g5")
expect_eq "reload to keep 3: an evaluation past the 3 newest is gone at once (404)" 404 "$code"
expect_match "its page names the retention in force" 'kept: the last 3, for at most 1d' \
    "$(cat "$WG_TMP/old2.html")"
# a restart (SQLite): the link is read back from the alerting store, not the first tick's
before=$(alert_link_now)
expect_match "the firing alert links an evaluation before the restart" '^[0-9a-f]{32}$' "$before"
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$BASE/ui/evaluations/$before")
expect_eq "which is kept" 200 "$code"
serve_stop
serve_start "$cfg2" || exit 1
expect_eq "after a restart the alert still links the evaluation that changed it" "$before" \
    "$(alert_link_now)"
serve_stop

finish
