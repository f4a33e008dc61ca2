#!/usr/bin/env python3
"""argo_rollouts.py — replay deploy/argo/analysistemplate.yaml with Argo Rollouts' own
semantics against a real `wavegate serve` and a real InfluxDB 1.x, on a simulated clock.

What is modelled (argo-rollouts analysis/analysis.go, utils/evaluate/evaluate.go,
metricproviders/webmetric/webmetric.go, rollout/analysis.go at 9f8d111):
- args: value, valueFrom.secretKeyRef, valueFrom.podTemplateHashValue (Latest = the new
  ReplicaSet's hash); `{{args.x}}` substituted as plain text over the whole metric; an
  unresolved placeholder fails the run.
- scheduling: the first measurement at run start + initialDelay; the next one `interval`
  after the previous finished, but 10 s after an Error (DefaultErrorRetryInterval); Error
  measurements do not count toward `count`.
- web provider: transport error, timeout or non-2xx -> Error; JSON body -> jsonPath -> result;
  both conditions: failure -> Failed, success -> Successful, neither -> Inconclusive; an
  expression error (e.g. result nil) -> Error.
- metric phase after each measurement: failed > failureLimit -> Failed, inconclusive >
  inconclusiveLimit -> Inconclusive, consecutive errors > consecutiveErrorLimit (default 4) ->
  Error (in that override order); then consecutiveSuccessLimit reached -> Successful; then count
  reached -> Successful (or Inconclusive when consecutiveSuccessLimit was set and missed).
- the Rollout: Successful -> next step (promoted); Inconclusive -> paused; Error/Failed ->
  aborted.

Scenarios (each a test): a healthy deploy promotes; a regressed one aborts within the
configured looks; a 10-minute InfluxDB outage never aborts and never promotes while
InfluxDB is down, and the rollout goes on once it is back; an outage longer than the look
budget pauses (never aborts); an InfluxDB that hangs 10 minutes (SIGSTOP: connections
accepted, nothing answered) holds the step like an outage, with no Error measurement, because
the template's jsonBody `timeout` has wavegate answer before Argo's timeoutSeconds.
Usage: argo_rollouts.py [--template PATH] [scenario...]
"""

import argparse
import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replaylib as rl  # noqa: E402

ERROR_RETRY = 10.0  # analysis.DefaultErrorRetryInterval
COMPLETED = ("Successful", "Failed", "Inconclusive", "Error")


class RunError(Exception):
    pass


def rollout_step_args(rollout, pod_hash):
    """The args of the Rollout's first analysis step, valueFrom resolved as the rollout
    controller does (podTemplateHashValue: Latest = the new ReplicaSet's hash)."""
    for step in rollout["spec"]["strategy"]["canary"]["steps"]:
        if "analysis" in step:
            out = []
            for a in step["analysis"].get("args", []):
                vf = a.get("valueFrom")
                if vf and "podTemplateHashValue" in vf:
                    out.append({"name": a["name"], "value": pod_hash[vf["podTemplateHashValue"]]})
                elif vf:
                    raise RunError("rollout arg %s: valueFrom %s not modelled" % (a["name"], list(vf)))
                else:
                    out.append({"name": a["name"], "value": a["value"]})
            return out
    raise RunError("the Rollout has no analysis step")


def resolve_args(template, step_args, secrets, pod_hash):
    vals = {}
    given = {a["name"]: a["value"] for a in step_args}
    for a in template["spec"].get("args", []):
        name = a["name"]
        vf = a.get("valueFrom")
        if name in given:
            vals[name] = given[name]
        elif vf and "secretKeyRef" in vf:
            ref = vf["secretKeyRef"]
            vals[name] = secrets[ref["name"]][ref["key"]]
        elif vf and "podTemplateHashValue" in vf:
            if vf["podTemplateHashValue"] not in ("Latest", "Stable"):
                raise RunError("podTemplateHashValue: want Latest or Stable")
            vals[name] = pod_hash[vf["podTemplateHashValue"]]
        elif vf:
            raise RunError("arg %s: valueFrom %s not modelled" % (name, list(vf)))
        elif "value" in a:
            vals[name] = a["value"]
        else:
            raise RunError("args.%s was not resolved" % name)
    return vals


def substitute(metric, vals):
    text = json.dumps(metric)

    def sub(m):
        k = m.group(1)
        if k not in vals:
            raise RunError("failed to resolve {{args.%s}}" % k)
        return str(vals[k])

    return json.loads(re.sub(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}", sub, text))


def json_path(path, data):
    m = re.fullmatch(r"\{\$((?:\.[A-Za-z_][A-Za-z0-9_-]*)*)\}", path.strip())
    if not m:
        raise RunError("jsonPath %r not modelled" % path)
    cur = data
    for part in [p for p in m.group(1).split(".") if p]:
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def limit(metric, key, default):
    v = metric.get(key)
    return default if v is None else int(v)


class Metric:
    def __init__(self, m):
        self.m = m
        self.name = m["name"]
        self.interval = rl.parse_duration(m["interval"]) if m.get("interval") else None
        self.delay = rl.parse_duration(m["initialDelay"]) if m.get("initialDelay") else 0.0
        cnt = m.get("count")
        if cnt is None:
            self.count = None if self.interval else 1
        else:
            self.count = int(cnt)
        self.failure_limit = limit(m, "failureLimit", 0)
        self.inconclusive_limit = limit(m, "inconclusiveLimit", 0)
        self.error_limit = limit(m, "consecutiveErrorLimit", 4)
        self.success_limit = limit(m, "consecutiveSuccessLimit", 0)
        self.counts = {"Successful": 0, "Failed": 0, "Inconclusive": 0, "Error": 0}
        self.count_taken = 0
        self.consecutive_error = 0
        self.consecutive_success = 0
        self.measurements = []
        self.phase = "Running"

    def next_time(self, start):
        if self.phase in COMPLETED:
            return None
        if not self.measurements:
            return start + self.delay
        last = self.measurements[-1]
        if self.count is not None and self.count_taken >= self.count:
            return None
        gap = ERROR_RETRY if last["phase"] == "Error" or not self.interval else self.interval
        return last["at"] + gap

    def record(self, at, phase, value, msg, look=None):
        self.measurements.append({"at": at, "phase": phase, "value": value, "message": msg, "look": look})
        self.counts[phase] += 1
        if phase == "Error":
            self.consecutive_error += 1
            self.consecutive_success = 0
        else:
            self.count_taken += 1
            self.consecutive_error = 0
            self.consecutive_success = self.consecutive_success + 1 if phase == "Successful" else 0
        self.phase = self.assess()

    def assess(self):
        ph = ""
        if self.failure_limit >= 0 and self.counts["Failed"] > self.failure_limit:
            ph = "Failed"
        if self.counts["Inconclusive"] > self.inconclusive_limit:
            ph = "Inconclusive"
        if self.consecutive_error > self.error_limit:
            ph = "Error"
        if ph:
            return ph
        if self.success_limit > 0 and self.consecutive_success >= self.success_limit:
            return "Successful"
        if self.count is not None and self.count_taken >= self.count:
            if self.success_limit > 0:
                return "Inconclusive" if self.failure_limit >= 0 else "Failed"
            return "Successful"
        return "Running"


LAST_LOOK = [None]  # the "look" object of the last answer wavegate gave


def measure(metric, wg_base):
    LAST_LOOK[0] = None
    web = metric.m["provider"]["web"]
    url = urllib.parse.urlsplit(web["url"])
    target = wg_base + url.path + ("?" + url.query if url.query else "")
    method = web.get("method", "GET")
    headers = {h["key"]: h["value"] for h in web.get("headers", [])}
    body = None
    if web.get("body") and web.get("jsonBody") is not None:
        return "Error", None, "use either Body or JSONBody"
    if web.get("jsonBody") is not None:
        body = json.dumps(web["jsonBody"])
        headers["Content-Type"] = "application/json"
    elif web.get("body"):
        body = web["body"]
    if body is not None and method == "GET":
        return "Error", None, "Body/JSONBody can only be used with POST or PUT"
    try:
        st, _, text = rl.http_request(method, target, headers, body, timeout=float(web.get("timeoutSeconds", 10)))
    except rl.TransportError as e:
        return "Error", None, str(e)
    if st < 200 or st >= 300:
        return "Error", None, "received non 2xx response code: %d" % st
    try:
        data = json.loads(text)
    except ValueError:
        data = text
    if isinstance(data, dict):
        LAST_LOOK[0] = data.get("look")
    if isinstance(data, str):
        value = data
    else:
        found, value = json_path(web.get("jsonPath", "{$}"), data)
        if not found:
            return "Error", None, "Could not find JSONPath in body"
    sc, fc = metric.m.get("successCondition", ""), metric.m.get("failureCondition", "")
    try:
        s = rl.expr_eval(sc, {"result": value}) if sc else False
        f = rl.expr_eval(fc, {"result": value}) if fc else False
    except rl.ExprError as e:
        return "Error", value, "condition: %s" % e
    if not sc and not fc:
        return "Successful", value, ""
    if sc and not fc:
        f = not s
    if fc and not sc:
        s = not f
    if f:
        return "Failed", value, ""
    if not s:
        return "Inconclusive", value, ""
    return "Successful", value, ""


def run_phase(metrics):
    order = ["Successful", "Running", "Pending", "Inconclusive", "Error", "Failed"]
    worst = "Successful"
    for m in metrics:
        if order.index(m.phase) > order.index(worst):
            worst = m.phase
    return worst


def replay(ctx, template, scenario):
    """One Rollout step analysis; returns a summary dict."""
    T = scenario["deploy"]
    pod_hash = {"Latest": scenario["hash"], "Stable": "stable0"}
    if ctx.get("rollout"):
        step_args = rollout_step_args(ctx["rollout"], pod_hash)
    else:  # no shipped Rollout: what a user would pass, the step start as deploy time
        step_args = [{"name": "wave", "value": scenario["wave"]}, {"name": "feature", "value": "checkout"}]
        declared = {a["name"] for a in template["spec"].get("args", [])}
        if "deploy-time" in declared:
            step_args.append({"name": "deploy-time", "value": rl.fmt_time(T)})
    vals = resolve_args(template, step_args, ctx["secrets"], pod_hash)
    metrics = [Metric(substitute(m, vals)) for m in template["spec"]["metrics"]]
    tele, influx, wg = ctx["telemetry"], ctx["influx"], ctx["wg"]
    outage = scenario.get("outage")
    now = T
    phase = "Running"
    while True:
        nexts = [(m.next_time(T), m) for m in metrics]
        nexts = [(t, m) for t, m in nexts if t is not None]
        if not nexts:
            break
        t, m = min(nexts, key=lambda x: x[0])
        if t > T + scenario["horizon"]:
            break
        now = max(now, t)
        down = influx.follow_outage(now, T, outage)
        down = influx.follow_hang(now, T, scenario.get("hang")) or down
        tele.advance(now, lambda ts: scenario["error_pct"](ts - T))
        wg.set_now(now)
        ph, value, msg = measure(m, wg.base)
        m.record(now, ph, value, msg, LAST_LOOK[0])
        m.measurements[-1]["down"] = down
        phase = run_phase(metrics)
        if phase in COMPLETED:
            break
    influx.follow_hang(now, T, None)
    if not influx.up:
        influx.start()
    rollout = {"Successful": "Promoted", "Inconclusive": "Paused", "Error": "Aborted", "Failed": "Aborted"}.get(phase, "Running")
    ms = [x for m in metrics for x in m.measurements]
    return {"run": phase, "rollout": rollout, "at": now - T, "measurements": ms, "metrics": metrics}


def show(res):
    lines = ["run %s -> rollout %s at T+%ds" % (res["run"], res["rollout"], res["at"])]
    for x in res["measurements"]:
        lk = x.get("look") or {}
        lines.append("  T+%4ds %-12s %-14s look %s/%s %s%s" % (x["at"] - SC_T[0], x["phase"], json.dumps(x["value"]), lk.get("k"), lk.get("of"), x["message"][:60], " (InfluxDB down)" if x.get("down") else ""))
    return "\n".join(lines)


SC_T = [0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--template", default="deploy/argo/analysistemplate.yaml")
    ap.add_argument("--rollout", default="deploy/argo/rollout.yaml")
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()
    path = a.template if os.path.isabs(a.template) else os.path.join(rl.SRC, a.template)
    with open(path) as f:
        tdocs = [d for d in rl.yaml.safe_load_all(f) if d]
    template = [d for d in tdocs if d.get("kind") == "AnalysisTemplate"][0]
    rpath = a.rollout if os.path.isabs(a.rollout) else os.path.join(rl.SRC, a.rollout)
    rollout = None
    if os.path.exists(rpath):
        with open(rpath) as f:
            rollout = [d for d in rl.yaml.safe_load_all(f) if d and d.get("kind") == "Rollout"][0]
    tap = rl.Tap()
    stack = rl.Stack()
    influx = stack.influx
    try:
        cfg, token = stack.start()
        base = int(time.time()) // 3600 * 3600 - 48 * 3600
        wg = stack.start_wavegate(base)
        # the Secret shipped with the template (the Rollout's namespace), holding the read token
        secrets = {name: data for (_ns, name), data in rl.shipped_secrets(tdocs, token).items()}
        ctx = {"influx": influx, "wg": wg, "secrets": secrets, "rollout": rollout}
        env = [w for w in cfg["waves"] if w["name"] == "prod-internal"][0]["env"]

        def healthy(t):
            return 0.0

        def regressed(t):
            return 0.0 if t < 0 else 2.0

        scenarios = [
            ("healthy", healthy, None, 3600),
            ("regressed", regressed, None, 3600),
            ("outage-10m", healthy, (180, 780), 3600),
            ("outage-long", healthy, (180, 180 + 3 * 3600), 3 * 3600),
            ("hang-10m", healthy, None, 3600),
        ]
        # hang-10m: InfluxDB stopped (SIGSTOP) for 10 minutes, accepting connections and
        # answering nothing. Each call then lasts until a timeout in real time, so this one
        # replays the template with its two timeouts scaled down 12.5x and 10x (3 s for Argo's
        # timeoutSeconds, 2 s for wavegate's), in the shipped order: wavegate's below Argo's.
        web = template["spec"]["metrics"][0]["provider"]["web"]
        tsec = float(web.get("timeoutSeconds", 10))
        wtmo = web.get("jsonBody", {}).get("timeout")
        tap.check("the template's jsonBody timeout (%s) is below its timeoutSeconds (%gs)" % (wtmo, tsec), wtmo is not None and rl.parse_duration(wtmo) < tsec, web)
        hang_template = json.loads(json.dumps(template))
        hweb = hang_template["spec"]["metrics"][0]["provider"]["web"]
        hweb["timeoutSeconds"] = 3
        if wtmo is not None:
            hweb["jsonBody"]["timeout"] = "2s"
        for i, (name, pct, outage, horizon) in enumerate(scenarios):
            if a.scenarios and name not in a.scenarios:
                continue
            T = base + (i + 1) * 6 * 3600  # separate stretches of time, one InfluxDB
            SC_T[0] = T
            ctx["telemetry"] = rl.Telemetry(influx, env, T - 1800)
            sc = {"deploy": T, "hash": "h%d%s" % (i, os.urandom(3).hex()), "wave": "prod-internal", "error_pct": pct, "outage": outage, "horizon": horizon}
            if name == "hang-10m":
                sc["hang"] = (180, 780)
            res = replay(ctx, hang_template if name == "hang-10m" else template, sc)
            detail = "run %s -> rollout %s at T+%ds" % (res["run"], res["rollout"], res["at"])
            print("# %s\n# %s" % (name, show(res).replace("\n", "\n# ")))
            ms = res["measurements"]
            # every measurement Argo takes is look k of this deploy's analysis, k counted by
            # wavegate in its state store; `of` is the metric's count (jsonBody max_looks)
            m0 = template["spec"]["metrics"][0]
            count = int(m0.get("count") or 1)
            looks = [x.get("look") or {} for x in ms if x["phase"] != "Error"]
            want = [{"k": k + 1, "of": count, "counted": True} for k in range(len(looks))]
            got = [{"k": lk.get("k"), "of": lk.get("of"), "counted": lk.get("counted")} for lk in looks]
            tap.check("%s: each measurement is the next look k of %d of this deploy (1, 2, ...)" % (name, count), looks and got == want, "want %s\ngot  %s" % (want, got))
            tap.check("%s: the template tells wavegate its count (jsonBody max_looks)" % name, str(m0["provider"]["web"]["jsonBody"].get("max_looks")) == str(count), m0["provider"]["web"]["jsonBody"])
            if name == "healthy":
                tap.check("healthy: the rollout is promoted", res["rollout"] == "Promoted", detail)
                tap.check("healthy: promoted within 20 minutes of the deploy", res["rollout"] == "Promoted" and res["at"] <= 1200, detail)
                tap.check("healthy: not promoted before the 10m window is complete", res["rollout"] != "Promoted" or res["at"] >= 600, detail)
            elif name == "regressed":
                m0 = rl.yaml.safe_load(json.dumps(template["spec"]["metrics"][0]))
                looks = int(m0.get("count") or 1)
                tap.check("regressed: the rollout is aborted (analysis Failed)", res["run"] == "Failed", detail)
                tap.check("regressed: within the configured looks (%d)" % looks, res["run"] == "Failed" and len([x for x in ms if x["phase"] != "Error"]) <= looks, detail)
            elif name == "outage-10m":
                end = T + outage[1]
                tap.check("outage 10m: never aborted", res["rollout"] != "Aborted", detail)
                tap.check("outage 10m: no Error/Failed measurement", not [x for x in ms if x["phase"] in ("Error", "Failed")], detail)
                tap.check("outage 10m: not promoted while InfluxDB is down", not (res["rollout"] == "Promoted" and res["at"] + T < end), detail)
                tap.check("outage 10m: the rollout goes on once InfluxDB is back (promoted)", res["rollout"] == "Promoted", detail)
            elif name == "hang-10m":
                end = T + sc["hang"][1]
                tap.check("hang 10m: never aborted", res["rollout"] != "Aborted", detail)
                tap.check("hang 10m: no Error measurement (wavegate answered before Argo gave up)", not [x for x in ms if x["phase"] == "Error"], detail)
                tap.check("hang 10m: the looks during the hang are inconclusive (held)", [x["phase"] for x in ms if x.get("down")] and all(x["phase"] == "Inconclusive" for x in ms if x.get("down")), detail)
                tap.check("hang 10m: not promoted while InfluxDB hangs", not (res["rollout"] == "Promoted" and res["at"] + T < end), detail)
                tap.check("hang 10m: the rollout goes on once InfluxDB answers again (promoted)", res["rollout"] == "Promoted", detail)
            elif name == "outage-long":
                tap.check("outage longer than the look budget: paused", res["rollout"] == "Paused", detail)
                tap.check("outage longer than the look budget: never aborted or promoted", res["rollout"] not in ("Aborted", "Promoted"), detail)
                # `kubectl argo rollouts retry`: a new AnalysisRun of the same pod hash asks
                # again, InfluxDB back and healthy: look count + 1 spends no fresh budget, it
                # answers the last planned look's verdict (error there: inconclusive, held)
                wg.set_now(T + res["at"] + 60)
                ph, value, msg = measure(res["metrics"][0], wg.base)
                lk = LAST_LOOK[0] or {}
                tap.check("a look beyond count (a retried run) is look %d and spends nothing: inconclusive" % (count + 1), lk.get("k") == count + 1 and lk.get("share") == 0 and value == "inconclusive" and ph == "Inconclusive", (ph, value, lk))
    finally:
        stack.close()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
