#!/usr/bin/env bash
# test_alerting_faults.sh — `wavegate serve` under faults, against a real InfluxDB and a real
# loopback sink: (1) state_dir on a tmpfs filled to ENOSPC while alerts start firing: the gate
# keeps answering, /metrics and /healthz say delivery is degraded, the log says it once (no
# "cannot rollback" flood), and once space returns the notifications go out at the next tick,
# not after repeat_interval; (2) a burst of 50 SIGHUPs while the monitor runs and gate events
# come in: serve stays up, nothing is lost, nothing arrives twice.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
SRC=${WG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PEERS=${WG_PEERS:-$SRC/tests/peers}

STATE="$WG_TMP/state"
mkdir -p "$STATE"
TMPFS=0
if mount -t tmpfs -o size=1m tmpfs "$STATE" 2>/dev/null; then
    TMPFS=1
    state_umount() { umount -l "$STATE" 2>/dev/null || true; }
    wg_on_exit state_umount
else
    echo "# no tmpfs (not root?): the full-disk part is skipped"
fi

influx_deploy_scenario || exit 1

cat > "$WG_TMP/scenario.json" <<EOF
{"/hook": [{"status": 200}]}
EOF
sink_start

cfg="$WG_TMP/wavegate.yaml"
sed "s|@INFLUX_URL@|$INFLUX_URL|" "$SRC/examples/demo.yaml.in" > "$cfg"
cat >> "$cfg" <<YAML
state_dir: $STATE
server:
  listen: 127.0.0.1:0
  drain_timeout: 5s
alerting:
  receivers:
    - {name: hook, kind: webhook, url: 'http://127.0.0.1:$SP/hook'}
  route:
    receiver: hook
    group_by: [alertname, wave]
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 4h
monitor:
  interval: 1s
  waves: [prod-internal]
  features: [checkout]
  for: 3s
YAML
"$WG" validate --config "$cfg" >/dev/null 2>"$WG_TMP/validate.err" ||
    { echo "config invalid:"; cat "$WG_TMP/validate.err"; exit 1; }

cat > "$WG_TMP/q.py" <<'EOF'
import json, sys
L = []
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
        r["j"] = json.loads(r["body"])
    except ValueError:
        continue
    L.append(r)
def firing(name):
    return [r for r in L for a in r["j"].get("alerts", [])
            if a["labels"].get("alertname") == name and a["status"] == "firing"]
def events():  # gate verdicts answered to a pipeline, routed as alerts
    return [r for r in L for a in r["j"].get("alerts", [])
            if a["labels"].get("origin") == "request" and a["status"] == "firing"]
def keys(): return [r["headers"].get("idempotency-key") for r in L]
def content(r):
    return (r["j"].get("groupKey"), tuple(sorted((a["fingerprint"], a["status"])
                                                for a in r["j"].get("alerts", []))))
def new_key_dups():
    # a group's next notification says something new unless it is the same one again
    last, n = {}, 0
    for r in L:
        c, k = content(r), r["headers"].get("idempotency-key")
        if c[0] in last and last[c[0]][0] == c and last[c[0]][1] != k:
            n += 1
        last[c[0]] = (c, k)
    return n
print(eval(sys.argv[2]))
EOF
metric() { curl -s "$BASE/metrics" | sed -n "s/^$1 //p"; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }

SERVE_PID=
wg_on_exit serve_stop
serve_start || exit 1

# ---- 1. full disk ----------------------------------------------------------------------------
if [ "$TMPFS" = 1 ]; then
    wait_for 10 test -s "$STATE/alerting.db" || { echo "no alerting.db"; exit 1; }
    # Fill the tmpfs before `for: 3s` lets the regressed wave fire: every commit that needs
    # space fails with "database or disk is full" from then on.
    dd if=/dev/zero of="$STATE/filler" bs=4k 2>/dev/null
    wait_for 20 metric_is wavegate_delivery_degraded 1 &&
        ok "full disk: /metrics says delivery is degraded" ||
        not_ok "full disk: degraded on /metrics" "$(curl -s "$BASE/metrics" | grep -E 'store|degraded')"
    expect_match "full disk: /healthz still 200 and says degraded" 'delivery degraded' \
        "$(curl -sf "$BASE/healthz")"
    code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/gate?wave=staging&deploy_time=$T")
    expect_eq "full disk: the gate keeps answering" 200 "$code"
    # Let it retry a while (past `for:`, so the regressed wave fires): polled, not slept.
    wait_for 30 sh -c "[ \"\$(curl -s $BASE/metrics | sed -n 's/^wavegate_store_errors_total //p')\" -ge 4 ]" &&
        ok "full disk: failed commits are counted" ||
        not_ok "full disk: store errors counted" "$(metric wavegate_store_errors_total)"
    expect_eq "full disk: nothing was sent while the store refused writes" 0 \
        "$(sink 'len(firing("p95-latency"))')"
    expect_eq "full disk: no rollback without a transaction" 0 \
        "$(grep -c 'cannot rollback' "$WG_TMP/serve.log")"
    expect_eq "full disk: said once, not per retry" 1 \
        "$(grep -c 'delivery degraded' "$WG_TMP/serve.log")"
    rm -f "$STATE/filler"
    t_space=$(date +%s)
    poll_until 20 'len(firing("p95-latency")) >= 1' &&
        ok "space back: the firing alert is sent at the next tick" ||
        not_ok "space back: alert sent" "$(tail -5 "$WG_TMP/serve.log")"
    expect_eq "space back: within seconds, not repeat_interval" 1 \
        "$(( $(date +%s) - t_space <= 20 ))"
    wait_for 10 metric_is wavegate_delivery_degraded 0 &&
        ok "space back: degraded cleared" || not_ok "degraded cleared" "$(metric wavegate_delivery_degraded)"
    expect_match "space back: said once" 'takes writes again' "$(cat "$WG_TMP/serve.log")"
    hz=$(curl -sf "$BASE/healthz")
    expect_eq "space back: /healthz says ok" "ok" "$(head -1 <<<"$hz")"
    expect_eq "space back: /healthz no longer says degraded" 0 "$(grep -c 'delivery degraded' <<<"$hz")"
else
    poll_until 30 'len(firing("p95-latency")) >= 1' || { echo "no alert fired"; exit 1; }
fi

# ---- 2. a SIGHUP storm -----------------------------------------------------------------------
before=$(sink 'len(L)')
(
    for _ in $(seq 10); do
        curl -s -o /dev/null "$BASE/v1/gate?wave=prod-internal&deploy_time=$T"
    done
) &
gate_pid=$!
for _ in $(seq 50); do kill -HUP "$SERVE_PID"; done
wait "$gate_pid"
wait_for 30 sh -c "[ \$(grep -c 'serve: reloaded' '$WG_TMP/serve.log') -ge 1 ]" ||
    not_ok "SIGHUP storm: reloads happen" "$(tail -5 "$WG_TMP/serve.log")"
expect_eq "SIGHUP storm: serve is still up" 0 "$(kill -0 "$SERVE_PID" 2>/dev/null; echo $?)"
expect_eq "SIGHUP storm: /healthz answers" "ok" "$(curl -sf "$BASE/healthz" | head -1)"
poll_until 20 'len(events()) >= 1' &&
    ok "SIGHUP storm: the gate event during the storm arrives" ||
    not_ok "SIGHUP storm: gate event" "$(sink 'len(L)') requests"
wait_for 20 metric_is wavegate_alert_outbox_pending 0 &&
    ok "SIGHUP storm: nothing left in the outbox" || not_ok "outbox empty" "$(metric wavegate_alert_outbox_pending)"
expect_eq "SIGHUP storm: the gate event arrived once" 1 "$(sink 'len(events())')"
expect_eq "SIGHUP storm: no notification arrived twice" 0 \
    "$(sink 'len(keys()) - len(set(keys()))')"
expect_eq "SIGHUP storm: no re-notify with a new key" 0 "$(sink 'new_key_dups()')"
expect_eq "SIGHUP storm: no crash in the log" 0 \
    "$(grep -ciE 'AddressSanitizer|runtime error|segv' "$WG_TMP/serve.log")"
echo "# requests before the storm: $before, after: $(sink 'len(L)')"

serve_stop
expect_eq "SIGTERM: serve drains and exits 0" 0 "${SERVE_RC:-x}"
finish
