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

finish
