#!/usr/bin/env bash
# test_collector_tls.sh — `wavegate check` against HTTPS peers (influx_peer.py with a CA, server
# and client certificates made here with the openssl CLI): ca_file verifies the server; without
# it the check fails with a TLS error (exit 3); insecure_skip_verify works and warns loudly; a
# peer that requires a client certificate gets the configured cert/key, and refuses without one.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
PEERS=${WG_PEERS:-$(cd "$(dirname "$0")/../peers" && pwd)}
command -v openssl >/dev/null || { echo "openssl CLI not found" >&2; exit 1; }

# ---- a CA, a server certificate for 127.0.0.1 and a client certificate ---------------------
P="$WG_TMP/pki"
mkdir -p "$P"
ossl() { openssl "$@" 2>>"$P/openssl.log" || { cat "$P/openssl.log" >&2; exit 1; }; }
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wavegate test CA" \
    -keyout "$P/ca.key" -out "$P/ca.pem"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$P/server.ext"
ossl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$P/server.key" -out "$P/server.csr"
ossl x509 -req -in "$P/server.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
    -extfile "$P/server.ext" -out "$P/server.pem"
ossl req -newkey rsa:2048 -nodes -subj "/CN=wavegate-client" -keyout "$P/client.key" \
    -out "$P/client.csr"
ossl x509 -req -in "$P/client.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
    -out "$P/client.pem"

# peer_start N SCENARIO — influx_peer.py #N on port 0; sets PORT_N. Its stdin is our pipe.
PIDS=()
peer_start() {
    mkfifo "$WG_TMP/peer$1.in"
    python3 "$PEERS/influx_peer.py" "$2" "$WG_TMP/requests$1.jsonl" < "$WG_TMP/peer$1.in" \
        > "$WG_TMP/peer$1.port" &
    PIDS+=($!)
    exec {fd}> "$WG_TMP/peer$1.in"
    wait_for 10 test -s "$WG_TMP/peer$1.port" || { echo "peer $1 did not start" >&2; exit 1; }
    printf -v "PORT_$1" '%s' "$(head -1 "$WG_TMP/peer$1.port")"
}
peers_stop() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
wg_on_exit peers_stop

body='{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","usage"],"values":[[1714564860000000000,5]]}]}]}'
scenario() { # CLIENT_CA(or empty) — one route answering OK_BODY over TLS
    python3 - "$body" "$P" "$1" <<'PY'
import json, sys
body, p, cca = sys.argv[1:4]
tls = {"cert": p + "/server.pem", "key": p + "/server.key"}
if cca:
    tls["client_ca"] = cca
print(json.dumps({"tls": tls, "routes": [{"path": "/query", "responses": [
    {"status": 200, "headers": {"Content-Type": "application/json"}, "body": body}]}]}))
PY
}
scenario "" > "$WG_TMP/s1.json"
scenario "$P/ca.pem" > "$WG_TMP/s2.json"
peer_start 1 "$WG_TMP/s1.json"
peer_start 2 "$WG_TMP/s2.json"

# config SOURCE_EXTRA_YAML PORT — one influxql source over https, one rule
config() {
    cat > "$WG_TMP/wg.yaml" <<EOF
sources:
  secure:
    kind: influxql
    url: https://127.0.0.1:$2
    database: db
    retries: 0
    timeout: 5s
$1
waves:
  - {name: w, env: e, source: secure}
features:
  f:
    rules:
      - name: r
        query: SELECT usage FROM cpu WHERE time >= {{ start }}
        window: 10m
        threshold: {max: 100}
EOF
}
run() {
    out=$("$WG" check --config "$WG_TMP/wg.yaml" --wave w --deploy-time 2024-05-01T12:00:00Z \
        --format json 2>"$WG_TMP/stderr")
    rc=$?
    err=$(cat "$WG_TMP/stderr")
}
reason() { jq_get "$out" 'd["rules"][0]["reason"]' | tee -a "$WG_TMP/reasons"; }

config "    tls: {ca_file: $P/ca.pem}" "$PORT_1"
run
expect_eq "ca_file: the server's certificate verifies, pass" 0 "$rc"
expect_eq "ca_file: no warning" "" "$(grep -i 'insecure\|DISABLED' <<< "$err")"

config "" "$PORT_1"
run
expect_eq "no ca_file: an unknown CA is exit 3" 3 "$rc"
expect_match "no ca_file: a clear TLS error" 'TLS with https://127.0.0.1:[0-9]+ failed: .*certificate' "$(reason)"
expect_eq "no ca_file: never a verdict from an unverified server" error \
    "$(jq_get "$out" 'd["verdict"]')"

config "    tls: {insecure_skip_verify: true}" "$PORT_1"
run
expect_eq "insecure_skip_verify: connects anyway, pass" 0 "$rc"
expect_match "insecure_skip_verify: a loud warning on stderr" \
    'secure.*TLS certificate verification is DISABLED' "$err"

config "    tls: {ca_file: $P/ca.pem, cert_file: $P/client.pem, key_file: $P/client.key}" "$PORT_2"
run
expect_eq "client certificate: the peer that requires one lets us in" 0 "$rc"
expect_eq "client certificate: the peer saw our CN" wavegate-client \
    "$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["tls_client_cn"])' \
        "$WG_TMP/requests2.jsonl")"

config "    tls: {ca_file: $P/ca.pem}" "$PORT_2"
run
expect_eq "no client certificate: refused, exit 3" 3 "$rc"
expect_match "no client certificate: the reason names TLS" \
    'TLS.*client certificate|alert' "$(reason)"

config "    tls: {ca_file: $P/ca.pem, cert_file: $P/missing.pem, key_file: $P/client.key}" "$PORT_2"
run
expect_eq "unreadable client certificate: exit 3" 3 "$rc"
expect_match "unreadable client certificate: says so" '[Cc]ertificate|cert' "$(reason)"

[ -z "${WG_TLS_DEBUG:-}" ] || cat "$WG_TMP/reasons"
finish
