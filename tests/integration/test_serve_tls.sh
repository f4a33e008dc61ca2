#!/usr/bin/env bash
# test_serve_tls.sh — `wavegate serve` with server.tls: answers HTTPS with the configured
# certificate (verified against its CA), and never speaks plain HTTP on that port; a missing
# key file is a startup error naming it.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
command -v openssl >/dev/null || { echo "openssl is required"; exit 1; }

d=$WG_TMP/pki
mkdir -p "$d"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wavegate test CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server.key" \
    -out "$d/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$d/san.ext"
openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/san.ext" -out "$d/server.pem" 2>/dev/null

cfg=$WG_TMP/wavegate.yaml
cat > "$cfg" <<YAML
sources:
  db: {kind: influxql, url: 'http://127.0.0.1:9', database: telemetry}
waves: [{name: staging, source: db}]
features: {}
state_dir: $WG_TMP/state
server:
  tls: {cert: $d/server.pem, key: $d/server.key}
YAML
SERVE_PID=
wg_on_exit serve_stop
serve_start "$cfg" || exit 1
HTTPS="https://127.0.0.1:$PORT"

code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$d/ca.pem" "$HTTPS/healthz")
expect_eq "HTTPS with the CA: /healthz answers 200" 200 "$code"
curl -s -o /dev/null --max-time 5 "$HTTPS/healthz"
expect_eq "HTTPS without the CA is refused by the client (curl exit 60)" 60 "$?"
curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$PORT/healthz"
rc=$?
expect_eq "plain HTTP on the TLS port gets no HTTP answer" 1 "$(( rc != 0 ))"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$d/ca.pem" "$HTTPS/v1/gate?wave=nope")
expect_eq "the gate routes work over TLS (unknown wave: 404)" 404 "$code"
serve_stop

sed -i "s|key: $d/server.key|key: $d/missing.key|" "$cfg"
"$WG" serve --config "$cfg" --listen 127.0.0.1:0 > /dev/null 2>"$WG_TMP/err" &
pid=$!
wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"
wait "$pid"
rc=$?
expect_eq "a missing key file stops serve with an error" 1 "$(( rc != 0 ))"
expect_match "the error names the file" 'missing\.key' "$(cat "$WG_TMP/err")"

finish
