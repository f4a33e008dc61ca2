#!/usr/bin/env python3
"""argo_workflows.py — replay deploy/argo/workflow-template.yaml with Argo Workflows' own
semantics against a real `wavegate serve` and a real InfluxDB 1.x, on a simulated clock.

What is modelled (argoproj/argo-workflows workflow/executor/agent.go, workflow/controller/
operator.go processNodeRetries, f016ad8):
- the http template, run by the agent in the workflow's namespace: headers with value or
  valueFrom.secretKeyRef (a Secret of that namespace; a missing one fails the node), method,
  url, body with {{inputs.parameters.x}}, {{workflow.parameters.x}}, {{workflow.uid}};
  without successCondition 2xx -> Succeeded, else Failed "received non-2xx response code: N";
  a transport error or timeout -> Failed with the error.
- retryStrategy: limit, retryPolicy (default OnFailure; Always with an expression), backoff
  {duration, factor, cap, maxDuration from the first attempt}, expression over
  lastRetry.status / lastRetry.message; no retryStrategy -> the first failure fails the step.
- steps run in order; a failed step fails the workflow.

Scenarios (each a test): a healthy deploy passes both waves (a fresh wave's "not yet" is
retried, not a failure); a regressed one fails at the first wave without retrying a definite
fail; a 10-minute InfluxDB outage is ridden out; the Secret the agent reads exists in the
workflow's namespace. Usage: argo_workflows.py [--workflow PATH] [scenario...]
"""

import argparse
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replaylib as rl  # noqa: E402


def subst(text, params, wf):
    def sub(m):
        k = m.group(1).strip()
        if k.startswith("inputs.parameters."):
            return params[k[len("inputs.parameters."):]]
        if k.startswith("workflow.parameters."):
            return wf["parameters"][k[len("workflow.parameters."):]]
        if k == "workflow.uid":
            return wf["uid"]
        if k == "workflow.name":
            return wf["name"]
        raise KeyError("unresolved {{%s}}" % k)

    return re.sub(r"\{\{([^}]+)\}\}", sub, text)


def run_http(tmpl, params, wf, secrets, wg_base):
    h = tmpl["http"]
    url = urllib.parse.urlsplit(subst(h["url"], params, wf))
    target = wg_base + url.path + ("?" + url.query if url.query else "")
    headers = {}
    for hd in h.get("headers", []):
        if "valueFrom" in hd:
            ref = hd["valueFrom"]["secretKeyRef"]
            sec = secrets.get((wf["namespace"], ref["name"]))
            if not sec or ref["key"] not in sec:
                return "Failed", 'secrets "%s" not found in namespace %s' % (ref["name"], wf["namespace"])
            headers[hd["name"]] = sec[ref["key"]]
        else:
            headers[hd["name"]] = subst(hd["value"], params, wf)
    body = subst(h.get("body", ""), params, wf)
    timeout = float(h["timeoutSeconds"]) if "timeoutSeconds" in h else 3600.0
    try:
        st, _, text = rl.http_request(h.get("method", "GET"), target, headers, body, timeout=timeout)
    except rl.TransportError as e:
        return "Failed", str(e)
    if h.get("successCondition"):
        raise RuntimeError("successCondition not modelled")
    if 200 <= st < 300:
        return "Succeeded", ""
    return "Failed", "received non-2xx response code: %d" % st


def run_step(ctx, tmpl, params, wf, start):
    """One step with its retryStrategy; returns (phase, end time, attempts)."""
    rs = tmpl.get("retryStrategy")
    attempts = []
    if "http" not in tmpl:
        return "Failed", start, [(start, "Failed", "template %s: only http templates are modelled" % tmpl["name"], False)]
    now = start
    while True:
        ctx["tick"](now)
        ph, msg = run_http(tmpl, params, wf, ctx["secrets"], ctx["wg"].base)
        attempts.append((now, ph, msg, ctx["down"](now)))
        if ph == "Succeeded" or not rs:
            return ph, now, attempts
        n = len(attempts)
        wait = 0.0
        bo = rs.get("backoff")
        if bo:
            if bo.get("maxDuration") and now > attempts[0][0] + rl.parse_duration(bo["maxDuration"]):
                return ph, now, attempts
            wait = rl.parse_duration(bo["duration"])
            factor = int(bo.get("factor", 0) or 0)
            if factor > 0:
                wait = wait * factor ** (n - 1)
            if bo.get("cap"):
                wait = min(wait, rl.parse_duration(bo["cap"]))
        policy = rs.get("retryPolicy") or ("OnFailure" if not rs.get("expression") else "Always")
        if policy == "OnError":  # an http node fails, it never errors
            return ph, now, attempts
        limit = rs.get("limit")
        if limit is not None and n > int(limit):
            return ph, now, attempts
        if rs.get("expression"):
            if not rl.expr_eval(rs["expression"], {"lastRetry": {"status": ph, "message": msg, "exitCode": "0"}}):
                return ph, now, attempts
        now += max(wait, 1.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflow", default="deploy/argo/workflow-template.yaml")
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()
    path = a.workflow if os.path.isabs(a.workflow) else os.path.join(rl.SRC, a.workflow)
    with open(path) as f:
        docs = [d for d in rl.yaml.safe_load_all(f) if d]
    wft = [d for d in docs if d.get("kind") == "WorkflowTemplate"][0]
    ns = wft["metadata"].get("namespace", "default")
    tap = rl.Tap()
    stack = rl.Stack()
    influx = stack.influx
    try:
        cfg, token = stack.start()
        # Secrets as shipped (this file and the server's manifests), their placeholders set
        secrets = rl.shipped_secrets(docs, token)
        refs = [hd["valueFrom"]["secretKeyRef"] for t in wft["spec"]["templates"] if "http" in t for hd in t["http"].get("headers", []) if "valueFrom" in hd]
        missing = [r["name"] for r in refs if (ns, r["name"]) not in secrets or r["key"] not in secrets[(ns, r["name"])]]
        tap.check("the Secret the agent reads is shipped in the workflow's namespace (%s)" % ns, refs and not missing, "missing in %s: %s" % (ns, missing))
        base = int(time.time()) // 3600 * 3600 - 48 * 3600
        wg = stack.start_wavegate(base)
        templates = {t["name"]: t for t in wft["spec"]["templates"]}
        entry = templates[wft["spec"]["entrypoint"]]
        envs = [w["env"] for w in cfg["waves"]]
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
            teles = [rl.Telemetry(influx, e, T - 1800) for e in envs]

            def down(now, T=T, outage=outage):
                return bool(outage and T + outage[0] <= now < T + outage[1])

            def tick(now, T=T, teles=teles, pct=pct, outage=outage):
                influx.follow_outage(now, T, outage)
                for tl in teles:
                    tl.advance(now, lambda ts: pct(ts - T))
                wg.set_now(now)

            ctx = {"wg": wg, "secrets": secrets, "tick": tick, "down": down}
            # the secret check failing must not hide the rest: fall back to the server's Secret
            if missing:
                for (sns, sname), data in list(secrets.items()):
                    secrets.setdefault((ns, sname), data)
            params = {p["name"]: p.get("value", "") for p in wft["spec"].get("arguments", {}).get("parameters", [])}
            wf = {"parameters": params, "uid": "uid-%d-%s" % (i, os.urandom(4).hex()), "name": "wavegate-gate-x%d" % i, "namespace": ns}
            now, phase, log = T, "Succeeded", []
            for group in entry["steps"]:
                for step in group:
                    sp = {p["name"]: p["value"] for p in step.get("arguments", {}).get("parameters", [])}
                    ph, now, attempts = run_step(ctx, templates[step["template"]], sp, wf, now)
                    log += [(step["name"],) + x for x in attempts]
                    if ph != "Succeeded":
                        phase = "Failed"
                        break
                    now += 1
                if phase == "Failed":
                    break
            if not influx.up:
                influx.start()
            lines = ["workflow %s at T+%ds" % (phase, now - T)]
            lines += ["  T+%4ds %-14s %-9s %s%s" % (t - T, s, ph, m[:70], " (InfluxDB down)" if d else "") for (s, t, ph, m, d) in log]
            print("# %s\n# %s" % (name, "\n# ".join(lines)))
            detail = lines[0]
            if name == "healthy":
                tap.check("healthy: the workflow succeeds", phase == "Succeeded", detail)
                tap.check("healthy: a fresh wave's 'not yet' (409) was retried, not a failure", any("409" in x[3] for x in log) and phase == "Succeeded", detail)
            elif name == "regressed":
                tap.check("regressed: the workflow fails", phase == "Failed", detail)
                fails = [x for x in log if "412" in x[3]]
                tap.check("regressed: a definite fail (412) is not retried", len(fails) == 1 and log[-1] is fails[0], detail)
                tap.check("regressed: fails at the first wave", all(x[0] == log[0][0] for x in log), detail)
            elif name == "outage-10m":
                tap.check("outage 10m: the workflow succeeds once InfluxDB is back", phase == "Succeeded", detail)
                tap.check("outage 10m: no pass while InfluxDB is down", not [x for x in log if x[2] == "Succeeded" and x[4]], detail)
    finally:
        stack.close()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
