#!/usr/bin/env python3
"""argocd_job.py — replay deploy/argo/argocd-postsync-job.yaml as Kubernetes and Argo CD run
it: the Job's own `sh -c` script runs for real with real curl against a real `wavegate serve`
and InfluxDB 1.x; only time is simulated: `sleep` and `date +%s` are shims (test-only, on
PATH in front) that move the simulated clock, synchronously with this harness, which writes
telemetry and stops/starts InfluxDB as the clock passes.

Modelled: env from value, secretKeyRef (a Secret of the Job's namespace, as shipped) and
fieldRef metadata.labels['batch.kubernetes.io/controller-uid'] (a new uid per sync);
backoffLimit 0 (one pod); activeDeadlineSeconds on the simulated clock; exit 0 = the hook
succeeded, anything else fails the sync. The service host name is mapped to the test server.

Scenarios (each a test): healthy -> exit 0, not before the window is complete; regressed ->
non-zero, and the definite 412 is asked once; a 10-minute InfluxDB outage -> exit 0 once
InfluxDB is back, never a pass while it is down. Usage: argocd_job.py [--job PATH] [scenario...]
"""

import argparse
import os
import re
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replaylib as rl  # noqa: E402

SLEEP_SHIM = """#!/bin/sh
# test shim (tests/replay/argocd_job.py): sleep moves the simulated clock, synchronously
d="$WG_SIM_DIR"; n=$(( $(cat "$d/seq" 2>/dev/null || echo 0) + 1 ))
echo "$1 $n" > "$d/req.tmp" && mv "$d/req.tmp" "$d/req"
while [ "$(cat "$d/ack" 2>/dev/null)" != "$n" ]; do /bin/sleep 0.01; done
echo "$n" > "$d/seq"
"""
DATE_SHIM = """#!/bin/sh
# test shim: `date +%s` is the simulated clock
if [ "$#" -eq 1 ] && [ "$1" = "+%s" ]; then cut -d. -f1 "$WG_TEST_NOW_FILE"; else exec /bin/date "$@"; fi
"""


def gate_requests(wg):
    st, _, text = rl.http_request("GET", wg.base + "/metrics")
    return sum(float(m.group(1)) for m in re.finditer(r"^wavegate_gate_requests_total\{[^}]*\} (\S+)$", text, re.M))


def run_job(job, secrets, wg, T, tick, tmp):
    spec = job["spec"]
    pod = spec["template"]["spec"]
    ns = job["metadata"].get("namespace", "default")
    c = pod["containers"][0]
    env = {}
    uid = "uid-" + os.urandom(6).hex()
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
        elif "secretKeyRef" in e.get("valueFrom", {}):
            ref = e["valueFrom"]["secretKeyRef"]
            sec = secrets.get((ns, ref["name"]))
            if not sec or ref["key"] not in sec:
                return "CreateContainerConfigError: secret %s not found in %s" % (ref["name"], ns), None, []
            env[e["name"]] = sec[ref["key"]]
        elif "fieldRef" in e.get("valueFrom", {}):
            fp = e["valueFrom"]["fieldRef"]["fieldPath"]
            if fp != "metadata.labels['batch.kubernetes.io/controller-uid']":
                raise RuntimeError("fieldRef %s not modelled" % fp)
            env[e["name"]] = uid
    cmd = c["command"] + c.get("args", [])
    host = "http://wavegate.monitoring.svc:8080"
    cmd = [x.replace(host, wg.base) for x in cmd]
    env = {k: v.replace(host, wg.base) for k, v in env.items()}
    sim = os.path.join(tmp, "sim-" + uid)
    shims = os.path.join(sim, "bin")
    os.makedirs(shims)
    for name, text in (("sleep", SLEEP_SHIM), ("date", DATE_SHIM)):
        p = os.path.join(shims, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, stat.S_IRWXU)
    env.update(PATH=shims + ":" + os.environ["PATH"], WG_SIM_DIR=sim, WG_TEST_NOW_FILE=wg.now_file, HOME=sim)
    now = T
    tick(now)
    out = open(os.path.join(sim, "out"), "w+")
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=sim)
    deadline = T + int(spec.get("activeDeadlineSeconds", 10**9))
    seen = 0
    real_deadline = time.monotonic() + 120
    result = None
    while proc.poll() is None:
        if time.monotonic() > real_deadline:
            proc.kill()
            raise RuntimeError("the Job script did not finish within 120 s of real time")
        req = os.path.join(sim, "req")
        try:
            with open(req) as f:
                secs, n = f.read().split()
        except (OSError, ValueError):
            time.sleep(0.01)
            continue
        if int(n) == seen:
            time.sleep(0.01)
            continue
        seen = int(n)
        now += rl.parse_duration(secs if not secs.isdigit() else secs + "s")
        if now > deadline:
            proc.kill()
            result = "DeadlineExceeded"
            break
        tick(now)
        with open(os.path.join(sim, "ack.tmp"), "w") as f:
            f.write("%d\n" % seen)
        os.replace(os.path.join(sim, "ack.tmp"), os.path.join(sim, "ack"))
    proc.wait()
    out.seek(0)
    log = out.read()
    out.close()
    if result is None:
        result = "exit %d" % proc.returncode
    return result, now, log.splitlines()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--job", default="deploy/argo/argocd-postsync-job.yaml")
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()
    path = a.job if os.path.isabs(a.job) else os.path.join(rl.SRC, a.job)
    with open(path) as f:
        docs = [d for d in rl.yaml.safe_load_all(f) if d]
    job = [d for d in docs if d.get("kind") == "Job"][0]
    tap = rl.Tap()
    stack = rl.Stack()
    influx, tmp = stack.influx, stack.tmp
    try:
        cfg, token = stack.start()
        secrets = rl.shipped_secrets(docs, token)
        ns = job["metadata"].get("namespace", "default")
        tap.check("the Secret the Job reads is shipped for the Job's namespace", any(k[0] == ns for k in secrets), "Secrets: %s" % list(secrets))
        if not any(k[0] == ns for k in secrets):
            for (sns, name), data in list(secrets.items()):
                secrets[(ns, name)] = data
        base = int(time.time()) // 3600 * 3600 - 48 * 3600
        wg = stack.start_wavegate(base)
        wave = [e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "WAVE"][0]
        env = [w for w in cfg["waves"] if w["name"] == wave][0]["env"]
        zero = lambda t: 0.0  # noqa: E731
        scenarios = [
            ("healthy", zero, None),
            ("regressed", lambda t: 0.0 if t < 0 else 2.0, None),
            ("outage-10m", zero, (120, 720)),
        ]
        for i, (name, pct, outage) in enumerate(scenarios):
            if a.scenarios and name not in a.scenarios:
                continue
            T = base + (i + 1) * 6 * 3600
            tele = rl.Telemetry(influx, env, T - 1800)

            def tick(now, T=T, tele=tele, pct=pct, outage=outage):
                influx.follow_outage(now, T, outage)
                tele.advance(now, lambda ts: pct(ts - T))
                wg.set_now(now)

            n0 = gate_requests(wg)
            res, end, log = run_job(job, secrets, wg, T, tick, tmp)
            if not influx.up:
                influx.start()
            asked = gate_requests(wg) - n0
            print("# %s: %s at T+%ds after %d questions\n#   %s" % (name, res, (end or T) - T, asked, "\n#   ".join(x[:150] for x in log)))
            detail = "%s at T+%ds, %d questions" % (res, (end or T) - T, asked)
            if name == "healthy":
                tap.check("healthy: the hook succeeds (exit 0)", res == "exit 0", detail)
                tap.check("healthy: not before the 10m window is complete", res == "exit 0" and end - T >= 600, detail)
            elif name == "regressed":
                tap.check("regressed: the hook fails the sync", res not in ("exit 0",), detail)
                tap.check("regressed: the definite fail is asked once, not retried", asked <= 3 and "412" in (log[-1] if log else ""), detail)
            elif name == "outage-10m":
                tap.check("outage 10m: the hook succeeds once InfluxDB is back", res == "exit 0" and end - T >= 720, detail)
    finally:
        stack.close()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
