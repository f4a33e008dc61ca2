#!/usr/bin/env python3
"""flagger.py — replay deploy/flagger/canary.yaml with Flagger's own scheduler semantics
against a real `wavegate serve` and a real InfluxDB 1.x, on a simulated clock.

What is modelled (fluxcd/flagger pkg/controller/scheduler.go, scheduler_hooks.go,
webhook.go at 15bd6ad), one tick per analysis.interval:
- a new revision (checksum): confirm-rollout hooks with the current phase; not approved ->
  Waiting; approved -> Progressing (that tick ends there).
- Progressing / WaitingPromotion: rollback hooks first (success = roll back now), then
  failedChecks >= threshold -> rollback; with weight 0 and no iteration the pre-rollout hooks,
  otherwise the rollout hooks (a failure -> failedChecks++, tick ends); then, in Progressing,
  confirm-traffic-increase hooks (a failure = wait); below maxWeight the weight goes up by
  stepWeight, at maxWeight confirm-promotion (a failure = WaitingPromotion) or Promoting.
- Promoting -> Finalising -> Succeeded (post-rollout hooks), a rollback -> Failed.
- a hook succeeds iff the HTTP status is <= 202; a transport error or timeout is a failure;
  payload {name, namespace, phase, checksum, metadata}; no headers.
Flagger's own metrics (analysis.metrics) are modelled as absent: the Canary's webhooks decide.

Telemetry of the env mixes primary and canary by the current weight. Scenarios (each a
test): healthy promotes (not before the window is complete); regressed rolls back within
threshold ticks of the first failing one; a 10-minute InfluxDB outage holds (no rollback,
no promotion while down) and the canary is promoted once it is back; a sick primary while
the canary waits for approval (Waiting, then no traffic yet) does not roll the canary back.
Usage: flagger.py [--canary PATH] [scenario...]
"""

import argparse
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replaylib as rl  # noqa: E402


def call_hook(hook, canary, phase, checksum, wg_base):
    url = urllib.parse.urlsplit(hook["url"])
    target = wg_base + url.path + ("?" + url.query if url.query else "")
    payload = {"name": canary["metadata"]["name"], "namespace": canary["metadata"].get("namespace", "default"), "phase": phase, "checksum": checksum, "metadata": hook.get("metadata") or {}}
    timeout = rl.parse_duration(hook.get("timeout", "10s"))
    try:
        st, _, body = rl.http_request("POST", target, {"Content-Type": "application/json"}, json.dumps(payload), timeout=timeout)
    except rl.TransportError as e:
        return False, "transport: %s" % e, None
    try:
        look = json.loads(body).get("look")
    except (ValueError, AttributeError):
        look = None
    return st <= 202, "%d %s" % (st, body[:80]), look


class Sim:
    def __init__(self, canary, wg, approve_after=0):
        self.c = canary
        a = canary["spec"]["analysis"]
        self.a = a
        self.interval = rl.parse_duration(a.get("interval", "60s"))
        self.threshold = int(a.get("threshold", 0) or 0)
        self.max_weight = int(a.get("maxWeight", 100))
        self.step = int(a.get("stepWeight", 0))
        self.hooks = a.get("webhooks", [])
        self.wg = wg
        self.phase = "Initialized"
        self.weight = 0
        self.failed = 0
        self.iterations = 0
        self.log = []
        self.approve_after = approve_after  # a harness-side confirm-rollout gate (manual approval)
        self.ticks_waiting = 0

    def hooks_of(self, typ):
        return [h for h in self.hooks if (h.get("type") or "rollout") == typ]

    def run_hooks(self, typ, phase, now, checksum, stop_on="fail"):
        """True when every hook of typ succeeded (rollback: True when one succeeded)."""
        for h in self.hooks_of(typ):
            ok, why, look = call_hook(h, self.c, phase, checksum, self.wg.base)
            self.log.append((now, self.phase, self.weight, typ, ok, why, look))
            if typ == "rollback" and ok:
                return True
            if typ != "rollback" and not ok:
                return False
        return typ != "rollback"

    def tick(self, now, checksum):
        if self.phase in ("Initialized", "Waiting"):
            approved = self.ticks_waiting >= self.approve_after and self.run_hooks("confirm-rollout", self.phase, now, checksum)
            if not approved:
                self.ticks_waiting += 1
                self.phase = "Waiting"
                self.log.append((now, self.phase, 0, "manual-approval", False, "waiting", None))
                return
            self.phase = "Progressing"
            return
        if self.phase in ("Succeeded", "Failed"):
            return
        if self.phase in ("Progressing", "Waiting", "WaitingPromotion"):
            if self.run_hooks("rollback", self.phase, now, checksum):
                return self.rollback(now, checksum, "rollback hook")
        if self.phase == "Promoting":
            self.weight = 0
            self.phase = "Finalising"
            return
        if self.phase == "Finalising":
            self.phase = "Succeeded"
            self.run_hooks("post-rollout", "Succeeded", now, checksum)
            return
        if self.phase in ("Progressing", "WaitingPromotion") and self.failed >= self.threshold:
            return self.rollback(now, checksum, "failed checks %d >= threshold %d" % (self.failed, self.threshold))
        if self.weight == 0 and self.iterations == 0:
            if not self.run_hooks("pre-rollout", "Progressing", now, checksum):
                self.failed += 1
                return
        elif not self.run_hooks("rollout", "Progressing", now, checksum):
            self.failed += 1
            return
        if self.step > 0:
            if self.phase not in ("Promoting", "WaitingPromotion", "Finalising"):
                if not self.run_hooks("confirm-traffic-increase", "Progressing", now, checksum):
                    return
            if self.weight < self.max_weight:
                self.weight = min(100, self.weight + self.step)
                return
            if not self.run_hooks("confirm-promotion", "Progressing", now, checksum):
                self.phase = "WaitingPromotion"
                return
            self.phase = "Promoting"

    def rollback(self, now, checksum, why):
        self.log.append((now, self.phase, self.weight, "ROLLBACK", True, why, None))
        self.phase = "Failed"
        self.weight = 0
        self.run_hooks("post-rollout", "Failed", now, checksum)


def replay(ctx, canary, sc):
    T = sc["deploy"]
    sim = Sim(canary, ctx["wg"], approve_after=sc.get("approve_after", 0))
    influx, tele = ctx["influx"], ctx["telemetry"]
    outage = sc.get("outage")
    now = T
    progressing_at = None
    ticks = 0
    while now <= T + sc["horizon"] and sim.phase not in ("Succeeded", "Failed"):
        influx.follow_outage(now, T, outage)
        w = sim.weight / 100.0
        tele.advance(now, lambda ts: sc["primary_pct"](ts - T) * (1 - w) + sc["canary_pct"](ts - T) * w)
        ctx["wg"].set_now(now)
        before = sim.phase
        sim.tick(now, sc["checksum"])
        if before != "Progressing" and sim.phase == "Progressing" and progressing_at is None:
            progressing_at = now
        ticks += 1
        now += sim.interval
    if not influx.up:
        influx.start()
    end = sim.log[-1][0] if sim.log else now
    return {"phase": sim.phase, "at": end - T, "log": sim.log, "progressing_at": progressing_at, "T": T}


def show(res):
    out = ["phase %s at T+%ds" % (res["phase"], res["at"])]
    for (t, ph, w, typ, ok, why, look) in res["log"]:
        lk = "look %s/%s" % (look.get("k"), look.get("of")) if look else ""
        out.append("  T+%4ds %-16s w=%-3d %-24s %-5s %-10s %s" % (t - res["T"], ph, w, typ, "ok" if ok else "no", lk, why))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--canary", default="deploy/flagger/canary.yaml")
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()
    path = a.canary if os.path.isabs(a.canary) else os.path.join(rl.SRC, a.canary)
    with open(path) as f:
        canary = [d for d in rl.yaml.safe_load_all(f) if d and d.get("kind") == "Canary"][0]
    tap = rl.Tap()
    stack = rl.Stack()
    influx = stack.influx
    try:
        cfg, token = stack.start()
        # the token placeholder of the shipped Canary is the test token
        for h in canary["spec"]["analysis"].get("webhooks", []):
            md = h.get("metadata") or {}
            if "token" in md:
                md["token"] = token
        base = int(time.time()) // 3600 * 3600 - 48 * 3600
        wg = stack.start_wavegate(base)
        ctx = {"influx": influx, "wg": wg}
        env = [w for w in cfg["waves"] if w["name"] == "prod-internal"][0]["env"]
        threshold = int(canary["spec"]["analysis"].get("threshold", 0))
        judged = [h for h in canary["spec"]["analysis"].get("webhooks", []) if h.get("type") in ("rollback", "confirm-traffic-increase", "confirm-promotion")]
        planned = {(h.get("metadata") or {}).get("max_looks") for h in judged}
        tap.check("the Canary's judged hooks all name the same max_looks", len(planned) == 1 and None not in planned, planned)
        max_looks = int(planned.pop() or 30) if len(planned) == 1 else 30
        zero = lambda t: 0.0  # noqa: E731
        scenarios = [
            ("healthy", dict(primary_pct=zero, canary_pct=zero)),
            ("regressed", dict(primary_pct=zero, canary_pct=lambda t: 5.0)),
            ("outage-10m", dict(primary_pct=zero, canary_pct=zero, outage=(180, 780))),
            # the primary is sick while the canary waits for a manual approval (5 ticks):
            # nothing is wrong with the canary, it gets no traffic yet
            ("sick-primary-waiting", dict(primary_pct=lambda t: 3.0 if t < 300 else 0.0, canary_pct=zero, approve_after=5)),
        ]
        for i, (name, sc) in enumerate(scenarios):
            if a.scenarios and name not in a.scenarios:
                continue
            T = base + (i + 1) * 6 * 3600
            ctx["telemetry"] = rl.Telemetry(influx, env, T - 1800)
            sc.update(deploy=T, checksum="c%d%s" % (i, os.urandom(3).hex()), horizon=3600)
            res = replay(ctx, canary, sc)
            print("# %s\n# %s" % (name, show(res).replace("\n", "\n# ")))
            detail = "phase %s at T+%ds" % (res["phase"], res["at"])
            log = res["log"]
            rollbacks = [x for x in log if x[3] == "ROLLBACK"]
            # looks: every tick with traffic is the next look k of this canary + checksum, and
            # its hooks (rollback, then confirm-*) are that same look; before traffic, none
            asked = [x for x in log if x[6] is not None]
            ticks = sorted({x[0] for x in asked if x[6].get("counted")})
            want = {t: i + 1 for i, t in enumerate(ticks)}
            bad = [(x[0] - T, x[3], x[6]) for x in asked if x[6].get("counted") and (x[6].get("k") != want[x[0]] or x[6].get("of") != max_looks)]
            tap.check("%s: each tick with traffic is the next look (1, 2, ...) of %d, all its hooks the same look" % (name, max_looks), ticks and not bad, bad)
            early = [(x[0] - T, x[3], x[6]) for x in asked if x[1] == "Waiting" and x[6].get("counted")]
            tap.check("%s: no look counted before the canary gets traffic" % name, not early, early)
            if name == "healthy":
                tap.check("healthy: promoted (Succeeded)", res["phase"] == "Succeeded", detail)
                prog = min([x[0] for x in log if x[1] == "Progressing"] or [T])  # the anchor
                promoted = [x[0] for x in log if x[3] == "confirm-promotion" and x[4]]
                tap.check("healthy: not promoted before the 10m window from the first traffic is complete", res["phase"] == "Succeeded" and promoted and promoted[0] >= prog + 600, detail)
            elif name == "regressed":
                fails = [x for x in log if x[2] > 0]
                first = fails[0][0] if fails else None
                tap.check("regressed: rolled back", res["phase"] == "Failed", detail)
                tap.check("regressed: within threshold (%d) ticks of the canary getting traffic" % threshold, res["phase"] == "Failed" and first is not None and rollbacks[0][0] - first <= (threshold + 1) * 60, detail)
                tap.check("regressed: the canary never went beyond its first weight step", max([x[2] for x in log] or [0]) <= int(canary["spec"]["analysis"].get("stepWeight", 0)), detail)
            elif name == "outage-10m":
                tap.check("outage 10m: no rollback", not rollbacks, detail)
                tap.check("outage 10m: not promoted while InfluxDB is down", not (res["phase"] == "Succeeded" and res["at"] < 780), detail)
                tap.check("outage 10m: promoted once InfluxDB is back", res["phase"] == "Succeeded", detail)
            elif name == "sick-primary-waiting":
                tap.check("sick primary while Waiting: no rollback of the canary", not rollbacks, detail)
                tap.check("sick primary while Waiting: the canary is promoted", res["phase"] == "Succeeded", detail)
    finally:
        stack.close()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
