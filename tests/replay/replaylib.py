"""replaylib.py — shared pieces of the consumer replay harnesses (tests/replay/*.py).

A real InfluxDB 1.x (influxd on a free loopback port, its own temp dir, stoppable for
outages and restarted on the same port and data), a real `wavegate serve` whose clock is the
simulated one (WG_TEST_NOW_FILE, re-read per request: a test-only hook), telemetry written
as the simulated time passes, the shipped manifests read with PyYAML, and a tiny evaluator
for the expr-lang conditions the manifests use. Python 3 stdlib + PyYAML (python3-yaml).
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import yaml

SRC = os.environ.get("WG_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WG = os.environ.get("WG_BIN") or os.path.join(SRC, "build", "wavegate")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def poll(pred, secs, what):
    """Wait for pred() against a deadline (never a bare sleep)."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def fmt_time(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# ---- HTTP ------------------------------------------------------------------------------


class TransportError(Exception):
    pass


def http_request(method, url, headers=None, body=None, timeout=10.0):
    """One request; (status, headers dict, body text). TransportError for connection errors
    and timeouts (what Go's http.Client reports as an error)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    path = u.path + ("?" + u.query if u.query else "")
    data = body.encode() if isinstance(body, str) else body
    try:
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text
    except (OSError, http.client.HTTPException) as e:
        raise TransportError(str(e))
    finally:
        conn.close()


# ---- InfluxDB 1.x ----------------------------------------------------------------------


class Influx:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "influxdb")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        rpc = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.conf = os.path.join(self.dir, "influxdb.conf")
        d = self.dir
        with open(self.conf, "w") as f:
            f.write(f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{d}/meta"
  logging-enabled = false
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  pprof-enabled = false
[continuous_queries]
  enabled = false
""")
        self.proc = None
        self.pending = []  # lines written while down (a Telegraf buffer)
        self.frozen = False  # SIGSTOP: connections accepted by the kernel, never answered

    def start(self):
        influxd = os.environ.get("INFLUXD") or shutil.which("influxd") or "/usr/bin/influxd"
        log = open(os.path.join(self.dir, "influxd.log"), "ab")
        self.proc = subprocess.Popen([influxd, "-config", self.conf], stdout=log, stderr=log)
        log.close()

        def up():
            try:
                return http_request("GET", self.url + "/ping", timeout=1)[0] == 204
            except TransportError:
                return False

        poll(up, 60, "influxd")
        self.flush()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            if self.frozen:
                self.proc.send_signal(signal.SIGCONT)
                self.frozen = False
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.proc = None

    @property
    def up(self):
        return self.proc is not None

    def follow_outage(self, now, T, outage):
        """An outage (a, b) of a scenario deployed at T: stopped during [T + a, T + b), running
        otherwise (None: always running). Returns whether it is down at now."""
        down = bool(outage and T + outage[0] <= now < T + outage[1])
        if down and self.up:
            self.stop()
        if not down and not self.up:
            self.start()
        return down

    def follow_hang(self, now, T, hang):
        """A hang (a, b) of a scenario deployed at T: the process stopped (SIGSTOP) during
        [T + a, T + b): it accepts connections (the kernel's backlog) and answers nothing, as
        an InfluxDB in a long GC pause or swapped out. Returns whether it hangs at now."""
        frozen = bool(hang and T + hang[0] <= now < T + hang[1])
        if frozen != self.frozen and self.proc:
            self.proc.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)
            self.frozen = frozen
            if not frozen:
                self.flush()
        return frozen

    def query(self, q, db=""):
        body = urllib.parse.urlencode({"q": q, "db": db})
        st, _, text = http_request("POST", self.url + "/query", {"Content-Type": "application/x-www-form-urlencoded"}, body)
        if st != 200:
            raise RuntimeError("influx query %s: %d %s" % (q, st, text))

    def write(self, db, lines):
        self.pending.extend(lines)
        if self.up and not self.frozen:
            self.flush(db)

    def flush(self, db="telemetry"):
        if not self.pending:
            return
        st, _, text = http_request("POST", "%s/write?db=%s&precision=s" % (self.url, db), {}, "\n".join(self.pending) + "\n")
        if st != 204:
            raise RuntimeError("influx write: %d %s" % (st, text))
        self.pending = []


class Telemetry:
    """Writes the `http` measurement (requests, errors every 10 s, tag env) up to the
    simulated now; error_pct(t) says how sick the service is at t."""

    def __init__(self, influx, env, start):
        self.influx, self.env, self.t = influx, env, start

    def advance(self, now, error_pct):
        lines = []
        while self.t < now:
            errors = round(error_pct(self.t) * 1000 / 100)
            lines.append('http,env=%s requests=1000i,errors=%di %d' % (self.env, errors, self.t))
            self.t += 10
        if lines:
            self.influx.write("telemetry", lines)


# ---- wavegate serve --------------------------------------------------------------------


class Wavegate:
    def __init__(self, tmp, config_doc, token):
        self.tmp = tmp
        self.now_file = os.path.join(tmp, "now")
        self.cfg = os.path.join(tmp, "wavegate.yaml")
        self.log = os.path.join(tmp, "serve.log")
        self.token = token
        with open(self.cfg, "w") as f:
            yaml.safe_dump(config_doc, f, sort_keys=False)
        self.proc = None

    def set_now(self, t):
        tmpf = self.now_file + ".new"
        with open(tmpf, "w") as f:
            f.write("%d\n" % t)
        os.replace(tmpf, self.now_file)

    def start(self, now):
        self.set_now(now)
        env = dict(os.environ, WG_TEST_NOW_FILE=self.now_file)
        log = open(self.log, "ab")
        self.proc = subprocess.Popen([WG, "serve", "--config", self.cfg, "--listen", "127.0.0.1:0"], stdout=log, stderr=log, env=env)
        log.close()
        port = []

        def listening():
            with open(self.log) as f:
                m = re.search(r"listening on port (\d+)", f.read())
            if m:
                port.append(int(m.group(1)))
            if self.proc.poll() is not None:
                raise RuntimeError("wavegate serve exited:\n" + open(self.log).read())
            return bool(m)

        poll(listening, 20, "wavegate serve")
        self.base = "http://127.0.0.1:%d" % port[0]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.proc = None


def shipped_config(influx_url, tmp):
    """The wavegate.yaml of deploy/kubernetes/wavegate.yaml's ConfigMap, pointed at the test
    InfluxDB, state and token files under tmp, with the verdict cache off (every look asks).
    Returns (cfg, the read token); the admin token (another one) is in tmp/admin-tokens, so a
    consumer that needs more than the read token gets 403 and its replay fails."""
    docs = load_manifests("deploy/kubernetes/wavegate.yaml")
    cm = [d for d in docs if d.get("kind") == "ConfigMap"][0]
    cfg = yaml.safe_load(cm["data"]["wavegate.yaml"])
    for s in cfg["sources"].values():
        s["url"] = influx_url
        s.pop("token_env", None)
    cfg["state_dir"] = os.path.join(tmp, "state")
    srv = cfg.setdefault("server", {})
    srv["listen"] = "127.0.0.1:0"
    srv["cache_ttl"] = "0s"
    for k in list(srv):
        if k.startswith("bearer_token"):
            del srv[k]
    auth = srv.setdefault("auth", {})
    for k in list(auth):
        if k.endswith("_env"):
            del auth[k]
    token = "t0k3n-read-" + os.urandom(8).hex()
    for role, tok in (("read", token), ("admin", "t0k3n-admin-" + os.urandom(8).hex())):
        path = os.path.join(tmp, role + "-tokens")
        with open(path, "w") as f:
            f.write(tok + "\n")
        auth[role + "_tokens_file"] = path
    return cfg, token


def admin_token(tmp):
    """The admin token shipped_config wrote under tmp."""
    with open(os.path.join(tmp, "admin-tokens")) as f:
        return f.read().strip()


def load_manifests(rel):
    with open(os.path.join(SRC, rel)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def shipped_secrets(docs, token):
    """The Secrets among docs and deploy/kubernetes/wavegate.yaml's as shipped, their
    placeholders (REPLACE...) set to token: {(namespace, name): stringData}."""
    secrets = {}
    for d in docs + load_manifests("deploy/kubernetes/wavegate.yaml"):
        if d.get("kind") == "Secret":
            data = {k: re.sub(r"REPLACE[-A-Za-z0-9]*", token, v) for k, v in (d.get("stringData") or {}).items()}
            secrets[(d["metadata"].get("namespace", "default"), d["metadata"]["name"])] = data
    return secrets


def parse_duration(s):
    """Go/Kubernetes durations: 30s, 2m, 1h30m, 500ms."""
    if isinstance(s, (int, float)):
        return float(s)
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|s|m|h)", s):
        if m.start() != pos:
            raise ValueError("bad duration " + s)
        total += float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError("bad duration " + s)
    return total


# ---- expr-lang, the subset the manifests use -------------------------------------------


class ExprError(Exception):
    pass


_TOK = re.compile(r'\s*(?:(\|\||&&|==|!=|>=|<=|[<>!()])|("(?:[^"\\]|\\.)*"|\'[^\']*\')|(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z_0-9.]*))')
_WORD_OPS = ("matches", "contains", "startsWith", "endsWith")


def expr_eval(src, env):
    """Evaluate an expr-lang boolean expression over env: string/number literals, names
    (with .field access), == != < <= > >=, ! && || and parentheses. A nil operand in a
    comparison is an error (as expr-lang reports a type mismatch)."""
    toks, pos = [], 0
    while pos < len(src.rstrip()):
        m = _TOK.match(src, pos)
        if not m or m.end() == pos:
            raise ExprError("cannot parse at %r" % src[pos:])
        pos = m.end()
        op, s, num, name = m.groups()
        if op:
            toks.append(("op", op))
        elif s:
            toks.append(("val", json.loads(s) if s[0] == '"' else s[1:-1]))
        elif num:
            toks.append(("val", float(num)))
        elif name in _WORD_OPS:
            toks.append(("op", name))
        else:
            toks.append(("name", name))
    i = [0]

    def peek():
        return toks[i[0]] if i[0] < len(toks) else (None, None)

    def take():
        t = peek()
        i[0] += 1
        return t

    def primary():
        k, v = take()
        if k == "val":
            return v
        if k == "name":
            if v in ("true", "false"):
                return v == "true"
            if v == "nil":
                return None
            cur = env
            for part in v.split("."):
                if not isinstance(cur, dict) or part not in cur:
                    raise ExprError("unknown name " + v)
                cur = cur[part]
            return cur
        if (k, v) == ("op", "("):
            r = orexp()
            if take() != ("op", ")"):
                raise ExprError("want )")
            return r
        if (k, v) == ("op", "!"):
            r = primary()
            if not isinstance(r, bool):
                raise ExprError("! of non-bool")
            return not r
        raise ExprError("unexpected %r" % (v,))

    def cmp():
        a = primary()
        k, v = peek()
        if k == "op" and v in _WORD_OPS:
            take()
            b = primary()
            if not isinstance(a, str) or not isinstance(b, str):
                raise ExprError("%s needs strings" % v)
            if v == "matches":
                return re.search(b, a) is not None
            return {"contains": b in a, "startsWith": a.startswith(b), "endsWith": a.endswith(b)}[v]
        if k == "op" and v in ("==", "!=", "<", "<=", ">", ">="):
            take()
            b = primary()
            if v in ("==", "!="):
                if a is None or b is None:
                    return (a is b) == (v == "==")
                if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
                    raise ExprError("invalid operation: %s %s %s (mismatched types)" % (type(a).__name__, v, type(b).__name__))
                return (a == b) == (v == "==")
            if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
                raise ExprError("invalid operation %s on non-numbers" % v)
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[v]
        return a

    def andexp():
        a = cmp()
        while peek() == ("op", "&&"):
            take()
            b = cmp()
            a = bool(a) and bool(b)
        return a

    def orexp():
        a = andexp()
        while peek() == ("op", "||"):
            take()
            b = andexp()
            a = bool(a) or bool(b)
        return a

    r = orexp()
    if i[0] != len(toks):
        raise ExprError("trailing tokens in " + src)
    if not isinstance(r, bool):
        raise ExprError("expression does not return a bool")
    return r


# ---- a test run --------------------------------------------------------------------------


class Tap:
    def __init__(self):
        self.fails = 0
        self.passes = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passes += 1
            print("ok - " + name)
        else:
            self.fails += 1
            print("not ok - " + name)
            for line in str(detail).splitlines():
                print("    " + line)
        sys.stdout.flush()

    def done(self):
        print("%d passed, %d failed" % (self.passes, self.fails))
        return 0 if self.fails == 0 else 1


def tmpdir():
    d = tempfile.mkdtemp(prefix="wavegate-replay.")
    return d


def cleanup(d):
    if not os.environ.get("WG_KEEP_TMP"):
        shutil.rmtree(d, ignore_errors=True)


class Stack:
    """One harness run's servers under a fresh temp dir: start() starts InfluxDB, makes the
    telemetry database and returns the shipped config pointed at it (cfg, token);
    start_wavegate(now) starts `wavegate serve` on that config; close() (in a finally) stops
    whatever started and removes the temp dir."""

    def __init__(self):
        self.tmp = tmpdir()
        self.influx = Influx(self.tmp)
        self.wg = None
        self.cfg = self.token = self.admin_token = None

    def start(self):
        self.influx.start()
        self.influx.query('CREATE DATABASE "telemetry"')
        self.cfg, self.token = shipped_config(self.influx.url, self.tmp)
        self.admin_token = admin_token(self.tmp)
        return self.cfg, self.token

    def start_wavegate(self, now):
        self.wg = Wavegate(self.tmp, self.cfg, self.token)
        self.wg.start(now)
        return self.wg

    def close(self):
        if self.wg:
            self.wg.stop()
        self.influx.stop()
        cleanup(self.tmp)
