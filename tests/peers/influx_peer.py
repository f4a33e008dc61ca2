#!/usr/bin/env python3
"""influx_peer.py: a scriptable HTTP/1.1 server for tests (InfluxDB stand-in, webhook sink, ...).

Usage: influx_peer.py SCENARIO.json [LOG.jsonl]

Listens on 127.0.0.1, port 0 (the kernel picks one), and prints the port on stdout as one line
once it accepts connections. It runs until killed; if stdin is a pipe it also exits when the pipe
reaches EOF, so a test that dies cannot leak it.

LOG.jsonl gets one JSON object a line per request received, written and flushed before the
answer goes out:
  {"n": 1, "method": "GET", "path": "/query", "raw_query": "db=x&q=...",
   "query": {"db": ["x"], "q": ["..."]}, "headers": {"authorization": "...", ...},  # lower-case names
   "body": "...", "form": {...} (when the body is x-www-form-urlencoded),
   "route": 0, "response": 1}     # which route and which of its responses answered (-1: default)

SCENARIO.json:
  {"routes": [ROUTE, ...], "default": RESPONSE,     # default: 404 {"error":"no route"}
   "tls": {"cert": "server.pem", "key": "server.key",   # optional: serve HTTPS
           "client_ca": "ca.pem"}}                      # optional: require a client certificate
  With "tls", each logged request also has "tls_client_cn": the client certificate's common
  name (null without one). A failed handshake is not logged (the client sees the TLS error).
  ROUTE = {
    "method": "GET",                 # optional: any method when absent
    "path": "/query",                # optional: exact path, without the query string
    "path_prefix": "/api/",          # optional
    "query": {"db": "telemetry"},    # optional: these parameters must have these (first) values
    "body_contains": "text",         # optional
    "responses": [RESPONSE, ...]     # answered in order; the last one repeats forever
  }
  The first route that matches answers.
  RESPONSE = {
    "status": 200, "reason": "OK",   # reason optional
    "headers": {"Content-Type": "application/json"},
    "body": "text" | "body_json": <any JSON value, sent compact> | "body_file": "path"
           | "body_b64": "base64",
    "repeat": 1,                     # serve this response N times before the next one
    "delay_ms": 0,                   # wait before the status line
    "chunked": false,                # Transfer-Encoding: chunked ...
    "chunk_bytes": 0,                # ... in pieces of this size (0: one piece); also paces
                                     # plain bodies when chunk_delay_ms is set
    "chunk_delay_ms": 0,             # wait between pieces (a slow body)
    "truncate_at": null,             # send only N body bytes, then close (framing says more)
    "hang": false,                   # read the request, never answer, hold the socket open
    "gzip": false,                   # gzip the body if the client accepts it
    "close": false,                  # Connection: close after this answer
    "framing": "length",             # length (Content-Length) | close (no length: the body ends
                                     # when the connection closes) | chunked (with the final
                                     # 0-chunk) | abort (chunked, no final chunk, then close) |
                                     # short (Content-Length of the whole body, fewer bytes sent)
    "cut_from_path": false,          # hostile tests: the path is /<any>/<N>/<framing>/...: send
                                     # only the first N body bytes ("all": every byte) framed so
    "reset_at": null,                # send N body bytes, then reset the connection (RST)
    "endless": null                  # text: after the body, send this piece as chunks forever
  }
Content-Length is set unless the response is chunked (or framed "close").
"""
import base64
import gzip
import http.server
import json
import os
import socket
import ssl
import stat
import sys
import threading
import time
import urllib.parse

LOCK = threading.Lock()


class State:
    def __init__(self, scenario, log_path):
        self.routes = scenario.get("routes", [])
        self.default = scenario.get("default") or {
            "status": 404, "headers": {"Content-Type": "application/json"},
            "body": '{"error":"no route"}'}
        self.served = [0] * len(self.routes)  # responses served per route
        self.n = 0
        self.log = open(log_path, "a", encoding="utf-8") if log_path else None

    def pick(self, ri):
        """The response index for the next request on route ri (repeat counts honoured)."""
        resps = self.routes[ri]["responses"]
        k = self.served[ri]
        self.served[ri] += 1
        for i, r in enumerate(resps):
            rep = int(r.get("repeat", 1))
            if k < rep:
                return i
            k -= rep
        return len(resps) - 1


def matches(route, method, path, query, body):
    if "method" in route and route["method"].upper() != method:
        return False
    if "path" in route and route["path"] != path:
        return False
    if "path_prefix" in route and not path.startswith(route["path_prefix"]):
        return False
    for k, v in route.get("query", {}).items():
        if query.get(k, [None])[0] != v:
            return False
    if "body_contains" in route and route["body_contains"] not in body:
        return False
    return True


def body_of(resp):
    if "body_json" in resp:
        return json.dumps(resp["body_json"], separators=(",", ":")).encode()
    if "body_file" in resp:
        with open(resp["body_file"], "rb") as f:
            return f.read()
    if "body_b64" in resp:
        return base64.b64decode(resp["body_b64"])
    return resp.get("body", "").encode()


def cut_response(resp, path, data):
    """cut_from_path: /<any>/<N>/<framing>/... -> the response with its body cut to N bytes."""
    parts = urllib.parse.urlsplit(path).path.split("/")
    n, framing = parts[2], parts[3]
    out = dict(resp, framing=framing)
    out["_data"] = data if n == "all" else data[:int(n)]
    if framing == "short":  # announce the whole body, send the cut, close
        out["_full_len"] = len(data)
        out["framing"] = "length"
        out["truncate_at"] = len(out["_data"])
    return out


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "influx_peer/1"

    def log_message(self, *args):
        pass

    def setup(self):
        # TLS handshakes run here, in the connection's thread, so that a client that never
        # finishes one cannot stall the accept loop.
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()

    def handle_any(self):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        body = raw.decode("utf-8", "replace")
        ri, resp_i, resp = -1, -1, st.default
        with LOCK:
            for i, r in enumerate(st.routes):
                if matches(r, self.command, url.path, query, body):
                    ri = i
                    resp_i = st.pick(i)
                    resp = r["responses"][resp_i]
                    break
            st.n += 1
            entry = {"n": st.n, "method": self.command, "path": url.path, "raw_query": url.query,
                     "query": query, "headers": {k.lower(): v for k, v in self.headers.items()},
                     "body": body, "route": ri, "response": resp_i,
                     "client_port": self.client_address[1]}
            if isinstance(self.connection, ssl.SSLSocket):
                cert = self.connection.getpeercert() or {}
                cn = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
                entry["tls_client_cn"] = cn[0] if cn else None
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("application/x-www-form-urlencoded"):
                entry["form"] = urllib.parse.parse_qs(body, keep_blank_values=True)
            if st.log:
                st.log.write(json.dumps(entry) + "\n")
                st.log.flush()
        self.answer(resp)

    def answer(self, resp):
        try:
            self.answer_or_raise(resp)
        except OSError:  # the client went away (size caps, timeouts): not the peer's problem
            self.close_connection = True

    def answer_or_raise(self, resp):
        if resp.get("delay_ms"):
            time.sleep(resp["delay_ms"] / 1000.0)
        if resp.get("hang"):
            self.close_connection = True
            self.connection.settimeout(120)
            try:
                while self.connection.recv(4096):
                    pass
            except OSError:
                pass
            return
        data = body_of(resp)
        if resp.get("cut_from_path"):
            resp = cut_response(resp, self.path, data)
            data = resp["_data"]
        headers = dict(resp.get("headers", {}))
        if resp.get("gzip") and "gzip" in self.headers.get("Accept-Encoding", ""):
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        framing = resp.get("framing", "length")
        if framing in ("chunked", "abort") or resp.get("endless") is not None:
            resp = dict(resp, chunked=True)
        if framing == "abort":
            resp = dict(resp, truncate_at=len(data))
        chunked = bool(resp.get("chunked"))
        self.send_response(int(resp.get("status", 200)), resp.get("reason"))
        for k, v in headers.items():
            self.send_header(k, str(v))
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif framing != "close":
            self.send_header("Content-Length", str(resp.get("_full_len", len(data))))
        if (resp.get("close") or resp.get("truncate_at") is not None or framing == "close"
                or resp.get("reset_at") is not None):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if resp.get("reset_at") is not None:
            self.wfile.write(data[:int(resp["reset_at"])])
            self.wfile.flush()
            # SO_LINGER 0: close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            return
        cut = resp.get("truncate_at")
        if cut is not None:
            data = data[:int(cut)]
        step = int(resp.get("chunk_bytes") or 0) or max(len(data), 1)
        pause = resp.get("chunk_delay_ms", 0) / 1000.0
        try:
            for i in range(0, len(data), step):
                piece = data[i:i + step]
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    self.wfile.write(piece)
                self.wfile.flush()
                if pause and i + step < len(data):
                    time.sleep(pause)
            if resp.get("endless") is not None:
                piece = resp["endless"].encode()
                frame = b"%x\r\n%s\r\n" % (len(piece), piece)
                while True:  # until the client gives up (OSError below)
                    self.wfile.write(frame)
                    if pause:
                        self.wfile.flush()
                        time.sleep(pause)
            if chunked and cut is None:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            if cut is not None or framing == "close":
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


def watch_stdin():
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    os._exit(0)


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 64
    with open(sys.argv[1], encoding="utf-8") as f:
        scenario = json.load(f)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, client_address: None  # failed handshakes: the client's tale
    tls = scenario.get("tls")
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls["cert"], tls["key"])
        if tls.get("client_ca"):
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(tls["client_ca"])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    srv.state = State(scenario, sys.argv[2] if len(sys.argv) > 2 else None)
    try:
        if stat.S_ISFIFO(os.fstat(0).st_mode):
            threading.Thread(target=watch_stdin, daemon=True).start()
    except OSError:
        pass
    sys.stdout.write("%d\n" % srv.server_address[1])
    sys.stdout.flush()
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
