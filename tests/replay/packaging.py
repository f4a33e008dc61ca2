#!/usr/bin/env python3
"""packaging.py — the shipped packaging as its consumers read it:
- systemd: deploy/systemd/wavegate.service has Type=notify, EnvironmentFile= for the tokens
  and the hardening directives; `systemd-analyze verify` accepts it (when installed); a real
  `wavegate serve` sends READY=1 on $NOTIFY_SOCKET once it listens and STOPPING=1 on SIGTERM
  (sd_notify's datagram protocol, read here as systemd reads it).
- Kubernetes Pod Security "restricted" for every pod template under deploy/ (runAsNonRoot,
  allowPrivilegeEscalation false, capabilities drop ALL, seccompProfile RuntimeDefault or
  Localhost); wavegate's state on a PersistentVolumeClaim with one replica.
- Docker: .dockerignore keeps build trees and CMakeCache.txt out of the context.
- Tokens: wavegate's config reads server.auth.read_tokens_file / admin_tokens_file from its
  Secret volume mounted without subPath (so a rotation reaches the files); every consumer
  (AnalysisTemplate, Job, WorkflowTemplate, Canary) carries the read token only, from a Secret
  shipped in its own file; the event senders (notifications) carry the admin token. The
  replays then run each consumer with the read token against a server whose admin token is
  another one, so a consumer that needed more would get 403.
"""

import fnmatch
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replaylib as rl  # noqa: E402

HARDENING = ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "ProtectClock=yes", "ProtectKernelLogs=yes", "ProtectHostname=yes", "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectControlGroups=yes", "RestrictRealtime=yes", "RestrictNamespaces=yes", "SystemCallArchitectures=native", "UMask=0077", "LockPersonality=yes", "MemoryDenyWriteExecute=yes", "CapabilityBoundingSet="]


def unit_checks(tap):
    path = os.path.join(rl.SRC, "deploy/systemd/wavegate.service")
    lines = [ln.strip() for ln in open(path) if ln.strip() and not ln.lstrip().startswith("#")]
    tap.check("systemd: Type=notify", "Type=notify" in lines)
    tap.check("systemd: tokens from EnvironmentFile=", any(ln.startswith("EnvironmentFile=") for ln in lines))
    missing = [h for h in HARDENING if h not in lines]
    tap.check("systemd: hardening directives present", not missing, "missing: %s" % missing)
    sa = shutil.which("systemd-analyze")
    if sa:
        d = tempfile.mkdtemp(prefix="wg-unit.")
        try:
            text = open(path).read().replace("/usr/local/bin/wavegate", "/bin/true")
            p = os.path.join(d, "wavegate.service")
            with open(p, "w") as f:
                f.write(text)
            r = subprocess.run([sa, "verify", p], capture_output=True, text=True, timeout=60)
            tap.check("systemd: systemd-analyze verify accepts the unit", r.returncode == 0 and not r.stderr.strip(), r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    else:
        print("ok - systemd: systemd-analyze not installed, verify skipped # SKIP")


def notify_checks(tap):
    tmp = rl.tmpdir()
    try:
        sock_path = os.path.join(tmp, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sock_path)
        s.settimeout(20)
        cfg = os.path.join(tmp, "wavegate.yaml")
        with open(cfg, "w") as f:
            f.write("sources:\n  influx: {kind: influxql, url: http://127.0.0.1:9, database: x}\n"
                    "waves:\n  - {name: staging, source: influx}\n"
                    "features:\n  checkout:\n    rules:\n      - {name: r, query: 'SELECT 1 FROM x WHERE time >= {{ start }} AND time < {{ end }}', threshold: {max: 1}}\n"
                    "state_dir: %s/state\nserver: {listen: '127.0.0.1:0', drain_timeout: 2s}\n" % tmp)
        log = open(os.path.join(tmp, "serve.log"), "wb")
        p = subprocess.Popen([rl.WG, "serve", "--config", cfg, "--listen", "127.0.0.1:0"], stdout=log, stderr=log, env=dict(os.environ, NOTIFY_SOCKET=sock_path))
        def recv():
            try:
                return s.recv(4096).decode()
            except socket.timeout:
                return "(nothing within 20 s)"

        try:
            msg = recv()
            tap.check("sd_notify: READY=1 when it listens", "READY=1" in msg.split("\n"), msg)
            # READY=1 may arrive before the "listening on port" line reaches the log file:
            # poll the log (against a deadline) for the port, then ask /readyz once.
            text, m, deadline = "", None, time.time() + 10
            while m is None and time.time() < deadline:
                text = open(os.path.join(tmp, "serve.log")).read()
                m = re.search(r"listening on port (\d+)", text)
                if m is None:
                    time.sleep(0.05)
            port = int(m.group(1)) if m else 0
            ok = False
            if port:
                try:
                    ok = rl.http_request("GET", "http://127.0.0.1:%d/readyz" % port, timeout=5)[0] == 200
                except rl.TransportError:
                    ok = False
            tap.check("sd_notify: after READY=1 the server answers /readyz 200", ok, text)
            p.send_signal(signal.SIGTERM)
            msg2 = recv()
            tap.check("sd_notify: STOPPING=1 on SIGTERM", "STOPPING=1" in msg2.split("\n"), msg2)
            tap.check("sd_notify: exits 0 after the drain", p.wait(30) == 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()
            s.close()
    finally:
        rl.cleanup(tmp)


def pod_specs(doc):
    k = doc.get("kind")
    if k in ("Deployment", "StatefulSet", "DaemonSet", "Job", "Rollout"):
        return [doc["spec"]["template"]["spec"]]
    if k == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def restricted(ps):
    """Problems against Pod Security "restricted" (the fields that are ours to set)."""
    bad = []
    psc = ps.get("securityContext") or {}
    for c in ps.get("containers", []) + ps.get("initContainers", []):
        sc = c.get("securityContext") or {}
        if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
            bad.append("%s: runAsNonRoot" % c["name"])
        if sc.get("allowPrivilegeEscalation") is not False:
            bad.append("%s: allowPrivilegeEscalation must be false" % c["name"])
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            bad.append("%s: capabilities.drop [ALL]" % c["name"])
        prof = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if prof not in ("RuntimeDefault", "Localhost"):
            bad.append("%s: seccompProfile RuntimeDefault" % c["name"])
    return bad


def manifest_checks(tap):
    for path in sorted(glob.glob(os.path.join(rl.SRC, "deploy", "**", "*.yaml"), recursive=True)):
        rel = os.path.relpath(path, rl.SRC)
        for doc in [d for d in rl.yaml.safe_load_all(open(path)) if d]:
            if doc.get("kind") == "Rollout":
                continue  # the user's application, an example of the analysis step only
            for ps in pod_specs(doc):
                bad = restricted(ps)
                tap.check("Pod Security restricted: %s %s" % (rel, doc["kind"]), not bad, "\n".join(bad))
    docs = rl.load_manifests("deploy/kubernetes/wavegate.yaml")
    dep = [d for d in docs if d["kind"] == "Deployment"][0]
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"].get("volumes", [])}
    tap.check("wavegate's state is on a PersistentVolumeClaim", "persistentVolumeClaim" in vols.get("state", {}), vols.get("state"))
    tap.check("one replica (anchors, analyses and alerts are per state store)", dep["spec"].get("replicas", 1) == 1)
    probe = dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"]
    tap.check("readiness on /readyz (wavegate itself)", probe == "/readyz")


READ = "REPLACE-with-the-read-token"


def walk(node, fn):
    """fn(dict) on every mapping under node."""
    if isinstance(node, dict):
        fn(node)
        for v in node.values():
            walk(v, fn)
    elif isinstance(node, list):
        for v in node:
            walk(v, fn)


def server_token_checks(tap, rel):
    docs = rl.load_manifests(rel)
    cm = [d for d in docs if d.get("kind") == "ConfigMap"][0]
    cfg = rl.yaml.safe_load(list(cm["data"].values())[0])
    srv = cfg.get("server") or {}
    auth = srv.get("auth") or {}
    tap.check("%s: server.auth read and admin token files, no deprecated bearer_token_*" % rel, auth.get("read_tokens_file") and auth.get("admin_tokens_file") and not any(k.startswith("bearer_token") for k in srv), srv)
    dep = [d for d in docs if d.get("kind") == "Deployment"][0]
    ps = dep["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in ps.get("volumes", [])}
    for key in ("read_tokens_file", "admin_tokens_file"):
        path = auth.get(key) or ""
        mounts = [m for m in ps["containers"][0].get("volumeMounts", []) if path.startswith(m["mountPath"].rstrip("/") + "/") and "secret" in vols.get(m["name"], {})]
        m = mounts[0] if mounts else {}
        sec = vols.get(m.get("name"), {}).get("secret", {})
        name = path[len(m.get("mountPath", "")) :].lstrip("/")
        items = {i["path"]: i["key"] for i in sec.get("items", [])} or None
        tap.check("%s: %s is in a Secret volume" % (rel, key), bool(m), path)
        tap.check("%s: %s mounted without subPath (rotation reaches it)" % (rel, key), m and "subPath" not in m, m)
        tap.check("%s: %s is a key of the Secret volume" % (rel, key), items is None or name in items, items)


def token_checks(tap):
    for rel in ("deploy/kubernetes/wavegate.yaml", "deploy/kubernetes/wavegate-replicas.yaml"):
        server_token_checks(tap, rel)
    sdocs = rl.load_manifests("deploy/kubernetes/wavegate.yaml")
    sec = [d for d in sdocs if d.get("kind") == "Secret"][0]["stringData"]
    tap.check("wavegate's Secret has read-tokens and admin-tokens, no single token", {"read-tokens", "admin-tokens"} <= set(sec) and "token" not in sec, list(sec))
    consumers = ("AnalysisTemplate", "Job", "WorkflowTemplate", "Canary")
    for path in sorted(glob.glob(os.path.join(rl.SRC, "deploy", "argo", "*.yaml")) + glob.glob(os.path.join(rl.SRC, "deploy", "flagger", "*.yaml"))):
        rel = os.path.relpath(path, rl.SRC)
        docs = [d for d in rl.yaml.safe_load_all(open(path)) if d]
        secrets = {d["metadata"]["name"]: d.get("stringData") or {} for d in docs if d.get("kind") == "Secret"}
        for doc in docs:
            if doc.get("kind") not in consumers:
                continue
            refs, toks = [], []
            walk(doc, lambda m: refs.append(m["secretKeyRef"]) if "secretKeyRef" in m else None)
            walk(doc, lambda m: toks.append(m["token"]) if isinstance(m.get("token"), str) else None)
            bad = [r for r in refs if READ not in str(secrets.get(r["name"], {}).get(r["key"], ""))]
            bad += [t for t in toks if t != READ]
            tap.check("%s %s: the read token only (shipped Secret / metadata.token)" % (rel, doc["kind"]), (refs or toks) and not bad, "not the read token: %s" % bad)
            tap.check("%s %s: no admin token" % (rel, doc["kind"]), "admin" not in rl.yaml.safe_dump(doc).lower())
        text = open(path).read()
        if "/v1/events" in text:
            tap.check("%s: posting events carries the admin token" % rel, "$wavegate-admin-token" in text)


def dockerignore_checks(tap):
    path = os.path.join(rl.SRC, ".dockerignore")
    pats = [ln.strip() for ln in open(path) if ln.strip() and not ln.startswith("#")] if os.path.exists(path) else []

    def ignored(p):
        return any(fnmatch.fnmatch(p, pat.rstrip("/")) or fnmatch.fnmatch(p, pat.rstrip("/") + "/*") or fnmatch.fnmatch(p, pat.replace("**/", "") + "*") for pat in pats)

    for p in ("build/CMakeCache.txt", "build-clang/wavegate", ".git/config"):
        tap.check(".dockerignore leaves out %s" % p, ignored(p), pats)
    for p in ("CMakeLists.txt", "gate/gate.h", "deploy/Dockerfile"):
        tap.check(".dockerignore keeps %s" % p, not ignored(p), pats)


def main():
    tap = rl.Tap()
    unit_checks(tap)
    notify_checks(tap)
    manifest_checks(tap)
    token_checks(tap)
    dockerignore_checks(tap)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
