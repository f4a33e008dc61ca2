#!/usr/bin/env bash
# test_events_unleash.sh — the kill switch against a real Unleash (npm unleash-server 8.2.0 on
# a throwaway PostgreSQL from Debian, both on loopback) and a real InfluxDB 1.x: Unleash's
# webhook addon tells wavegate of a flip (POST /v1/events/unleash); a regressed feature turned
# on in production is turned off again in Unleash by its on_fail action within the configured
# looks, read back from Unleash's Admin API; a healthy flip stays on; wavegate killed (-9) while
# the action is pending still turns the flag off, once, after its restart.
# Skips (77) outside CI when Unleash cannot be installed; with CI=true it installs what it needs.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
SRC=${WG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
UNLEASH_DIR=${UNLEASH_DIR:-/var/cache/wavegate-test/unleash}

skip() { echo "skip: $*"; exit 77; }
need() { # need WHAT: install in CI, skip elsewhere
    if [ "${CI:-}" = true ]; then
        source "$SRC/scripts/deps.sh" && wg_install_deps || { echo "cannot install $1"; exit 1; }
    else
        skip "$1 missing (CI=true installs it)"
    fi
}
[ "$(id -u)" -eq 0 ] || skip "needs root (PostgreSQL runs as the postgres user)"
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || need postgresql
command -v npm >/dev/null || need npm
if [ ! -f "$UNLEASH_DIR/node_modules/unleash-server/package.json" ]; then
    mkdir -p "$UNLEASH_DIR" && [ -f "$UNLEASH_DIR/package.json" ] ||
        echo '{"name":"wg-unleash-cache","private":true}' > "$UNLEASH_DIR/package.json"
    if ! (cd "$UNLEASH_DIR" && timeout 600 npm install --no-audit --no-fund unleash-server@8.2.0 \
            >"$WG_TMP/npm.log" 2>&1); then
        [ "${CI:-}" = true ] && { echo "npm install failed:"; tail "$WG_TMP/npm.log"; exit 1; }
        skip "npm registry unreachable"
    fi
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

# ---- PostgreSQL (as the postgres user, in WG_TMP) --------------------------------------------
PG="$WG_TMP/pg"; PGPORT=$(free_port)
chmod 755 "$WG_TMP"
install -d -o postgres -g postgres -m 700 "$PG"
install -o postgres -g postgres -m 644 /dev/null "$WG_TMP/pg.log"
pg_stop() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG" -m fast stop >/dev/null 2>&1 || true; }
wg_on_exit pg_stop
runuser -u postgres -- "$PGBIN/initdb" -D "$PG" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$WG_TMP/initdb.log" 2>&1 || { cat "$WG_TMP/initdb.log"; exit 1; }
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG" -l "$WG_TMP/pg.log" -w start -o \
    "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PG -c fsync=off -c synchronous_commit=off" \
    >/dev/null || { cat "$WG_TMP/pg.log"; exit 1; }
runuser -u postgres -- "$PGBIN/psql" -qh 127.0.0.1 -p "$PGPORT" -U postgres \
    -c "CREATE USER unleash PASSWORD 'unleash'" -c "CREATE DATABASE unleash OWNER unleash" ||
    exit 1

# ---- InfluxDB: checkout regressed (5 errors/s), search healthy, around now -------------------
influx_start || exit 1
influx_query "" 'CREATE DATABASE "telemetry"' || exit 1
now=$(date +%s)
for ((t = now - 120; t < now + 400; t++)); do
    echo "app,env=production,feature=checkout errors=5 $t"
    echo "app,env=production,feature=search errors=0 $t"
    echo "app,env=production,feature=payments errors=7 $t"
    echo "app,env=production,feature=orders errors=9 $t"
done > "$WG_TMP/app.lp"
influx_write telemetry "$WG_TMP/app.lp" || exit 1

# ---- wavegate --------------------------------------------------------------------------------
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" > "$WG_TMP/token"
export UNLEASH_ADMIN_TOKEN='*:*.wavegate-admin-token'
UPORT=$(free_port); U=http://127.0.0.1:$UPORT
PROXY_PORT=$(free_port) # payments' kill switch reaches Unleash through this port (see below)
cfg="$WG_TMP/wavegate.yaml"
rule() { cat <<YAML
    rules:
      - name: errors
        query: >-
          SELECT mean("errors") FROM "app" WHERE "env" = {{ env }} AND "feature" = {{ feature }}
          AND time >= {{ start }} AND time < {{ end }}
        window: 2s
        min_samples: 1
        threshold: {max: 1}
YAML
}
cat > "$cfg" <<YAML
sources:
  local: {kind: influxql, url: $INFLUX_URL, database: telemetry}
waves:
  - {name: prod, env: production, source: local}
features:
  checkout:
    flag: checkout_v2
    flip: {interval: 1s, count: 8, failure_limit: 0}
    on_fail:
      - {action: unleash, url: $U, token_env: UNLEASH_ADMIN_TOKEN, project: default}
      - {action: webhook, url: 'http://127.0.0.1:@SP@/kill', secret_env: WG_KILL_SECRET,
         body: '{"flag":"{{ flag }}","env":"{{ env }}","event":"{{ event_id }}"}'}
$(rule)
  search:
    flag: search_v2
    flip: {interval: 1s, count: 5, failure_limit: 0}
    on_fail:
      - {action: unleash, url: $U, token_env: UNLEASH_ADMIN_TOKEN, project: default}
$(rule)
  payments:
    flag: payments_v2
    flip: {interval: 1s, count: 8, failure_limit: 0}
    on_fail:
      - {action: unleash, url: http://127.0.0.1:$PROXY_PORT, token_env: UNLEASH_ADMIN_TOKEN}
$(rule)
  orders:
    flag: orders_v2
    flip: {interval: 1s, count: 8, failure_limit: 0}
    on_fail:
      - {action: unleash, url: $U, token_env: UNLEASH_ADMIN_TOKEN}
$(rule)
events:
  unleash: {url: $U, token_env: UNLEASH_ADMIN_TOKEN, poll_interval: 1s}
state_dir: $WG_TMP/state
server:
  listen: 127.0.0.1:0
  bearer_token_file: $WG_TMP/token
YAML
# the analysis result and the action's outcome are alerted through the feature's route
export WG_KILL_SECRET=whsec_$(printf 'wavegate-kill-switch-key' | base64)
echo '{"/hook": [{"status": 200, "body": "ok"}], "/kill": [{"status": 200, "body": "ok"}],
  "secret": "'"$WG_KILL_SECRET"'"}' > "$WG_TMP/sink.json"
python3 "$SRC/tests/peers/sink_peer.py" "$WG_TMP/sink.json" "$WG_TMP/sink.jsonl" > "$WG_TMP/sink.port" &
SINK_PID=$!
sink_stop() { kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null || true; }
wg_on_exit sink_stop
wait_for 10 grep -q PORT "$WG_TMP/sink.port" || exit 1
SP=$(awk '/PORT/ {print $2}' "$WG_TMP/sink.port")
sed -i "s|@SP@|$SP|" "$cfg"
cat >> "$cfg" <<YAML
alerting:
  receivers:
    - {name: hook, kind: webhook, url: 'http://127.0.0.1:$SP/hook'}
  route: {receiver: hook, group_by: [alertname, feature], group_wait: 0s, group_interval: 1s}
monitor:
  interval: 1h
YAML
"$WG" validate --config "$cfg" >/dev/null || { "$WG" validate --config "$cfg"; exit 1; }
SERVE_PID=
wg_on_exit serve_stop
serve_start || exit 1
WG_PORT=$PORT

# ---- Unleash, its webhook addon pointing at wavegate -----------------------------------------
cat > "$UNLEASH_DIR/start-wavegate-test.js" <<'JS'
require('unleash-server').start({ allowPrivateUrlInIntegration: true })
  .then(() => console.log('UNLEASH_READY'));
JS
UPID=
unleash_start() {
    (cd "$UNLEASH_DIR" && DATABASE_URL=postgres://unleash:unleash@127.0.0.1:$PGPORT/unleash \
        DATABASE_SSL=false HTTP_HOST=127.0.0.1 HTTP_PORT=$UPORT \
        INIT_ADMIN_API_TOKENS="$UNLEASH_ADMIN_TOKEN" CHECK_VERSION=false SEND_TELEMETRY=false \
        LOG_LEVEL=warn UNLEASH_ALLOW_PRIVATE_URL_IN_INTEGRATION=true \
        exec node start-wavegate-test.js >>"$WG_TMP/unleash.log" 2>&1) &
    UPID=$!
    wait_for 120 curl -sf "$U/health" || { echo "unleash did not start:"; tail -20 "$WG_TMP/unleash.log"; return 1; }
}
unleash_stop() {
    if [ -n "$UPID" ] && kill -0 "$UPID" 2>/dev/null; then
        kill "$UPID"; wait "$UPID" 2>/dev/null || true
    fi
    UPID=
}
wg_on_exit unleash_stop
unleash_start || exit 1
H=(-H "Authorization: $UNLEASH_ADMIN_TOKEN" -H 'Content-Type: application/json')
F=$U/api/admin/projects/default/features
curl -sf "${H[@]}" -X POST "$U/api/admin/addons" -d '{"provider":"webhook","enabled":true,
  "description":"wavegate","projects":[],"environments":[],
  "parameters":{"url":"http://127.0.0.1:'"$WG_PORT"'/v1/events/unleash","authorization":"Bearer '"$TOKEN"'"},
  "events":["feature-environment-enabled","feature-environment-disabled","feature-strategy-update"]}' \
    >/dev/null || { echo "cannot create the addon"; exit 1; }
# addon configs are memoized for 60 s per Unleash process: restart it once (reference §6)
unleash_stop; unleash_start || exit 1
for flag in checkout_v2 search_v2 payments_v2 orders_v2; do
    curl -sf "${H[@]}" -X POST "$F" -d '{"name":"'$flag'","type":"release"}' >/dev/null &&
    curl -sf "${H[@]}" -X POST "$F/$flag/environments/production/strategies" \
        -d '{"name":"flexibleRollout","parameters":{"rollout":"100","stickiness":"default","groupId":"'$flag'"},"constraints":[]}' \
        >/dev/null || { echo "cannot create flag $flag"; exit 1; }
done
enabled() { # enabled FLAG — production's state read back from Unleash
    curl -sf "${H[@]}" "$F/$1/environments/production" |
        python3 -c 'import json,sys; print(str(json.load(sys.stdin)["enabled"]).lower())'
}
is_off() { [ "$(enabled "$1")" = false ]; }
flip_is() { [ "$(flip_status "$1")" = "$2" ]; }
actions() { curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$WG_PORT/v1/events/actions"; }
flip_status() { # flip_status FEATURE
    actions | python3 -c 'import json,sys
d=json.load(sys.stdin); s=[f["status"] for f in d["flips"] if f["feature"]==sys.argv[1]]
print(s[-1] if s else "none")' "$1"
}

# --- a regressed flip: on through Unleash's API, off again by wavegate
curl -sf "${H[@]}" -X POST "$F/checkout_v2/environments/production/on" >/dev/null
expect_eq "checkout_v2 is on in Unleash" true "$(enabled checkout_v2)"
if wait_for 30 is_off checkout_v2; then
    ok "regressed flip: wavegate turned checkout_v2 off in Unleash"
else
    not_ok "regressed flip: wavegate turned checkout_v2 off in Unleash" "$(actions)" \
        "$(tail -20 "$WG_TMP/serve.log")"
fi
expect_eq "the analysis failed" fail "$(flip_status checkout)"
expect_eq "within the configured looks (count 8)" 1 \
    "$(actions | python3 -c 'import json,sys; d=json.load(sys.stdin); print(int([f for f in d["flips"] if f["feature"]=="checkout"][0]["looks"] <= 8))')"
expect_eq "the actions: done on their first attempt, HTTP 200" "done 1 200 done 1 200" \
    "$(actions | python3 -c 'import json,sys; a=json.load(sys.stdin)["actions"][:2]; print(" ".join("%s %s %s" % (x["status"], x["attempts"], x["http_status"]) for x in a))')"
alerted() { # alerted ALERTNAME FEATURE — the sink received that alert for that feature
    python3 - "$WG_TMP/sink.jsonl" "$1" "$2" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    b = json.loads(json.loads(l)["body"])
    for a in b.get("alerts", []):
        if a["labels"].get("alertname") == sys.argv[2] and a["labels"].get("feature") == sys.argv[3]:
            sys.exit(0)
sys.exit(1)
PY
}
wait_for 10 alerted WavegateFlipFailed checkout && ok "the failed analysis was alerted" ||
    not_ok "the failed analysis was alerted" "$(cat "$WG_TMP/sink.jsonl" 2>/dev/null | head -c 1500)"
wait_for 10 alerted WavegateActionDone checkout && ok "the kill switch's outcome was alerted" ||
    not_ok "the kill switch's outcome was alerted" "$(cat "$WG_TMP/sink.jsonl" 2>/dev/null | head -c 1500)"
kill_hook() { python3 - "$WG_TMP/sink.jsonl" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["path"] == "/kill"]
print(len(r), r and r[0]["sig_ok"], r and json.loads(r[0]["body"])["flag"])
PY
}
expect_eq "the webhook kill switch: one Standard-Webhooks signed request, templated body" \
    "1 True checkout_v2" "$(kill_hook)"
expect_match "the flip came through Unleash's webhook" '"source":"unleash"' \
    "$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$WG_PORT/v1/events")"

# --- a healthy flip stays on
curl -sf "${H[@]}" -X POST "$F/search_v2/environments/production/on" >/dev/null
wait_for 30 flip_is search pass ||
    not_ok "healthy flip: the analysis passed" "$(actions)"
expect_eq "healthy flip: search_v2 still on in Unleash" true "$(enabled search_v2)"

# --- kill -9 while the action is pending: it still happens, once, after the restart.
# payments' action goes to PROXY_PORT, where nothing listens yet: the first attempt fails and
# the action waits (pending) for its retry; wavegate is killed then; the proxy opens; restart.
curl -sf "${H[@]}" -X POST "$F/payments_v2/environments/production/on" >/dev/null
wait_for 30 flip_is payments fail || not_ok "payments: the analysis failed" "$(actions)"
pending() { actions | python3 -c 'import json,sys
d=json.load(sys.stdin); a=[x for x in d["actions"] if x["status"]=="pending" and x["attempts"]>=1]
print(len(a))'; }
pending_one() { [ "$(pending)" = 1 ]; }
wait_for 10 pending_one || not_ok "payments: the action is pending after a failed attempt" "$(actions)"
kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
expect_eq "payments_v2 still on while wavegate is down" true "$(enabled payments_v2)"
python3 - "$PROXY_PORT" "$UPORT" <<'PY' &
import socket, sys, threading
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(16)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
while True:
    c, _ = ls.accept(); u = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
PROXY_PID=$!
proxy_stop() { kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null || true; }
wg_on_exit proxy_stop
serve_start "$cfg" || exit 1
WG_PORT=$PORT
if wait_for 30 is_off payments_v2; then
    ok "after kill -9 and restart: the pending action turned payments_v2 off"
else
    not_ok "after kill -9 and restart: the pending action turned payments_v2 off" "$(actions)"
fi
expect_eq "payments' action: done, its last attempt HTTP 200 (failed attempts before it)" "done 200" \
    "$(actions | python3 -c 'import json,sys
a=[x for x in json.load(sys.stdin)["actions"] if x["status"] != "pending"]; a=a[-1]; print(a["status"], a["http_status"])')"
expect_eq "checkout's action was not repeated by the restart" "done 1" \
    "$(actions | python3 -c 'import json,sys; a=json.load(sys.stdin)["actions"][0]; print(a["status"], a["attempts"])')"

# --- a flip while wavegate is down (its webhook lost): the reconcile poll still analyses it
serve_stop
curl -sf "${H[@]}" -X POST "$F/orders_v2/environments/production/on" >/dev/null
# Unleash announces within ~1 s; wait for its delivery record to say failed (no retry on POST)
addon_failed() {
    curl -sf "${H[@]}" "$U/api/admin/addons/1/events" | python3 -c 'import json,sys
d=json.load(sys.stdin)["integrationEvents"]
print(any(e["state"]=="failed" and e["event"].get("featureName")=="orders_v2" for e in d))' |
        grep -q True
}
wait_for 30 addon_failed || not_ok "the webhook of the orders_v2 flip was lost" \
    "$(curl -s "${H[@]}" "$U/api/admin/addons/1/events" | head -c 2000)"
serve_start "$cfg" || exit 1
WG_PORT=$PORT
if wait_for 30 is_off orders_v2; then
    ok "webhook lost: the reconcile poll found the flip and wavegate turned orders_v2 off"
else
    not_ok "webhook lost: the reconcile poll found the flip and wavegate turned orders_v2 off" \
        "$(actions)" "$(tail -20 "$WG_TMP/serve.log")"
fi
expect_match "the reconcile is logged" 'came without its webhook' "$(cat "$WG_TMP/serve.log")"
expect_eq "one analysis per flip (webhook and poll deduplicated)" 1 \
    "$(actions | python3 -c 'import json,sys; print(sum(f["feature"]=="checkout" for f in json.load(sys.stdin)["flips"]))')"
finish
