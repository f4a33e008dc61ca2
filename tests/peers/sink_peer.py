#!/usr/bin/env python3
"""sink_peer.py — a scenario-driven HTTP sink for alert receivers (Slack, PagerDuty, Teams,
Opsgenie, webhooks): answers each path from a script of responses, logs every request.

usage: sink_peer.py SCENARIO.json LOG.jsonl
Prints "PORT <n>" on stdout once listening on 127.0.0.1 (port 0).
SCENARIO: {"/path": [{"status": 500}, {"status": 429, "headers": {"Retry-After": "1"}},
                     {"status": 200, "body": "ok", "delay": 0.0}], ...,
           "secret": "whsec_..." (optional: verify Standard Webhooks signatures)}
Responses are used in order; the last repeats. Unknown paths answer 404.
Each log line: {"t": epoch, "path", "headers": {lower-case}, "body", "status", "sig_ok",
"overlap"}: overlap is true when another request with the same idempotency key (the
Idempotency-Key or webhook-id header) was still being answered when this one arrived (two
senders at once; a resend after the first was answered is not an overlap).
"""
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

scenario = json.load(open(sys.argv[1]))
log = open(sys.argv[2], "a", buffering=1)
lock = threading.Lock()
counters = {}
inflight = {}  # idempotency key -> requests with it being answered now


def verify(secret, headers, body):
    key = base64.b64decode(secret.split("_", 1)[1])
    msg = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
    want = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    got = [s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split() if "," in s]
    return want in got


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        path = self.path.split("?")[0]
        script = scenario.get(path) or scenario.get("*")
        with lock:
            i = counters.get(path, 0)
            counters[path] = i + 1
        if not script:
            resp = {"status": 404, "body": "no such path"}
        else:
            resp = script[min(i, len(script) - 1)]
        hdrs = {k.lower(): v for k, v in self.headers.items()}
        sig_ok = None
        if scenario.get("secret"):
            sig_ok = verify(scenario["secret"], hdrs, body)
        status = resp.get("status", 200)
        key = hdrs.get("idempotency-key") or hdrs.get("webhook-id")
        with lock:
            overlap = bool(key) and inflight.get(key, 0) > 0
            if key:
                inflight[key] = inflight.get(key, 0) + 1
            log.write(json.dumps({"t": time.time(), "path": self.path, "headers": hdrs,
                                  "body": body.decode("utf-8", "replace"), "status": status,
                                  "sig_ok": sig_ok, "overlap": overlap}) + "\n")
        try:
            self._answer(resp, status)
        finally:
            if key:
                with lock:
                    inflight[key] -= 1

    def _answer(self, resp, status):
        if resp.get("delay"):
            time.sleep(resp["delay"])
        out = resp.get("body", "").encode()
        try:
            self.send_response(status)
            for k, v in resp.get("headers", {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_PUT = do_POST


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client killed mid-request (kill -9 tests): not the sink's error


srv = Server(("127.0.0.1", 0), H)
srv.daemon_threads = True
print("PORT", srv.server_address[1], flush=True)
srv.serve_forever()
