#!/usr/bin/env python3
"""false_fail.py — the gate-level false-fail rate through the consumers' own state machines:
many healthy (no-change) deploys run through the shipped AnalysisTemplate (Argo Rollouts:
count, failureLimit, consecutiveSuccessLimit; argo_rollouts.py's model) and the shipped Canary
(Flagger: interval, threshold, the weight steps and its judged hooks; flagger.py's model)
against a real `wavegate serve` and a real InfluxDB 1.x on a simulated clock, with a
statistical rule added to the shipped config: mann-whitney on latency GROUP BY host (10
hosts), `gate: {false_fail: 2%}` on the wave. Each look a consumer takes is look k of that
deploy, so the 2% is spent once over all of a deploy's looks: the number of healthy deploys
that fail (Argo: the run Failed; Flagger: rolled back) must stay within the binomial bound of
2% (P(more) < 0.5%). One regressed deploy per consumer (latency x2 after the deploy; Flagger:
on the hosts that take the canary's traffic) is caught within the configured looks.
Seeded (random.Random per deploy). Usage: false_fail.py [--deploys N] (env WG_FF_DEPLOYS);
bench/replay_false_fail.sh runs it with more deploys.
"""

import argparse
import json
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import argo_rollouts as ar  # noqa: E402
import flagger as fl  # noqa: E402
import replaylib as rl  # noqa: E402

HOSTS = 10
BUDGET = 0.02
SLOW = 2.0
STATS_RULE = {
    "name": "latency-per-host",
    "query": 'SELECT "latency_ms" FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }} GROUP BY "host"',
    "judge": "mann-whitney",
    "baseline": {"window": "10m"},
    "window": "10m",
    "confidence": 0.98,
    "direction": "increase",
    "min_samples": 20,
}


class LatencyTelemetry:
    """The `http` measurement per host every 10 s (requests, no errors, a lognormal latency)
    up to the simulated now. The consumers' replays pass f(t) (their error_pct / mix of
    primary and canary by weight): here the fraction of hosts serving the slow version, the
    first round(f * HOSTS) hosts."""

    def __init__(self, influx, env, start, seed):
        self.influx, self.env, self.t = influx, env, start
        self.rnd = random.Random(seed)

    def advance(self, now, frac):
        lines = []
        while self.t < now:
            slow = round(max(0.0, min(1.0, frac(self.t))) * HOSTS)
            for h in range(HOSTS):
                v = 100 * (SLOW if h < slow else 1.0) * math.exp(0.5 * self.rnd.gauss(0, 1))
                lines.append('http,env=%s,host=h%02d requests=100i,errors=0i,latency_ms=%.3f %d' % (self.env, h, v, self.t))
            self.t += 10
        if lines:
            self.influx.write("telemetry", lines)


def binom_bound(n, p, tail=0.005):
    """The smallest k with P(X > k) < tail for X ~ Binomial(n, p): more than k failures of n
    deploys at a false-fail rate p happens less than tail of the time."""
    cdf, k = 0.0, 0
    while True:
        cdf += math.comb(n, k) * p ** k * (1 - p) ** (n - k)
        if 1 - cdf < tail:
            return k
        k += 1


def load(rel, kind):
    return [d for d in rl.load_manifests(rel) if d.get("kind") == kind][0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deploys", type=int, default=int(os.environ.get("WG_FF_DEPLOYS", "40")))
    ap.add_argument("--consumers", default="argo,flagger")
    ap.add_argument("--uncounted", action="store_true", help="Argo with a fresh deploy identity per look (each look 1 of 1: the full budget every time, anchored at the deploy time) -- what the bound guards against; a figure for bench/, not a test")
    a = ap.parse_args()
    n = a.deploys
    tdocs = rl.load_manifests("deploy/argo/analysistemplate.yaml")
    template = [d for d in tdocs if d.get("kind") == "AnalysisTemplate"][0]
    if a.uncounted:
        jb = template["spec"]["metrics"][0]["provider"]["web"]["jsonBody"]
        jb["max_looks"] = 1
        jb["deploy_time"] = "{{args.canary-hash}}"  # the deploy time (set per deploy below)
        measure = ar.measure

        def fresh(metric, base):
            metric.m["provider"]["web"]["jsonBody"]["deploy_id"] = "u" + os.urandom(6).hex()
            return measure(metric, base)

        ar.measure = fresh
    rollout = load("deploy/argo/rollout.yaml", "Rollout")
    canary = load("deploy/flagger/canary.yaml", "Canary")
    tap = rl.Tap()
    stack = rl.Stack()
    influx = stack.influx
    try:
        cfg, token = stack.start()
        wave = [w for w in cfg["waves"] if w["name"] == "prod-internal"][0]
        wave["gate"] = {"false_fail": "%g%%" % (BUDGET * 100)}
        cfg["features"]["checkout"]["rules"].append(dict(STATS_RULE))
        for h in canary["spec"]["analysis"].get("webhooks", []):
            md = h.get("metadata") or {}
            if "token" in md:
                md["token"] = token
        base = int(time.time()) // 3600 * 3600 - 24 * 3600 * 30
        wg = stack.start_wavegate(base)
        secrets = {name: data for (_ns, name), data in rl.shipped_secrets(tdocs, token).items()}
        ctx = {"influx": influx, "wg": wg, "secrets": secrets, "rollout": rollout}
        env = wave["env"]
        bound = binom_bound(n, BUDGET)
        m0 = template["spec"]["metrics"][0]
        count = int(m0.get("count") or 1)
        threshold = int(canary["spec"]["analysis"].get("threshold", 0))
        slot = [0]

        def next_t():
            slot[0] += 1
            return base + slot[0] * 3600  # each deploy its own hour: baseline, then looks

        t0 = time.monotonic()
        if "argo" in a.consumers:
            fails, looks, stats_judged = [], 0, 0
            for i in range(n + 1):
                regressed = i == n
                T = next_t()
                ar.SC_T[0] = T
                ctx["telemetry"] = LatencyTelemetry(influx, env, T - 1200, 1000 + i)
                sc = {"deploy": T, "hash": "ff%d%s" % (i, os.urandom(3).hex()), "wave": "prod-internal", "error_pct": (lambda t: 1.0 if t >= 0 else 0.0) if regressed else (lambda t: 0.0), "outage": None, "horizon": 3000}
                tpl = template
                if a.uncounted:
                    tpl = json.loads(json.dumps(template).replace("{{args.canary-hash}}", rl.fmt_time(T)))
                res = ar.replay(ctx, tpl, sc)
                ms = [x for x in res["measurements"] if x["phase"] != "Error"]
                if regressed:
                    print("# argo regressed\n# %s" % ar.show(res).replace("\n", "\n# "))
                    tap.check("argo: the regressed deploy aborts (run Failed)", res["run"] == "Failed", ar.show(res))
                    tap.check("argo: caught within the configured looks (%d), by look %d" % (count, len(ms)), res["run"] == "Failed" and len(ms) <= count, ar.show(res))
                    continue
                looks += len(ms)
                stats_judged += any((x.get("look") or {}).get("last_judged", 0) > 0 for x in ms)
                if res["rollout"] != "Promoted":
                    fails.append(i)
                    print("# argo healthy deploy %d: %s\n# %s" % (i, res["rollout"], ar.show(res).replace("\n", "\n# ")))
            print("# argo: %d healthy deploys, %d looks, %d failed (%s); bound %d at %g%%" % (n, looks, len(fails), fails, bound, BUDGET * 100))
            if not a.uncounted:  # (each look is look 1 of 1 then: no last judged look)
                tap.check("argo: the statistical rule judged in the looks (looks spent budget)", stats_judged >= n * 0.9, stats_judged)
            tap.check("argo: healthy deploys failed %d of %d <= %d (binomial bound, 2%% per deploy over all its looks)" % (len(fails), n, bound), len(fails) <= bound, fails)
        if "flagger" in a.consumers:
            fails, looks, stats_judged = [], 0, 0
            for i in range(n + 1):
                regressed = i == n
                T = next_t()
                ctx["telemetry"] = LatencyTelemetry(influx, env, T - 1200, 5000 + i)
                sc = {"deploy": T, "checksum": "ff%d%s" % (i, os.urandom(3).hex()), "horizon": 2400, "primary_pct": lambda t: 0.0, "canary_pct": (lambda t: 1.0) if regressed else (lambda t: 0.0)}
                res = fl.replay(ctx, canary, sc)
                lk = [x[6] for x in res["log"] if x[6] and x[6].get("counted")]
                if regressed:
                    rb = [x for x in res["log"] if x[3] == "ROLLBACK"]
                    # the first look that judged the canary slow (a confirm-* hook refused:
                    # the rule needs min_samples of the canary's traffic first)
                    failed = [x[0] for x in res["log"] if x[3].startswith("confirm-") and not x[4]]
                    print("# flagger regressed\n# %s" % fl.show(res).replace("\n", "\n# "))
                    tap.check("flagger: the regressed canary is rolled back", res["phase"] == "Failed", fl.show(res))
                    tap.check("flagger: rolled back within threshold (%d) ticks of the first failing look" % threshold, res["phase"] == "Failed" and failed and rb and rb[0][0] - failed[0] <= threshold * 60, fl.show(res))
                    tap.check("flagger: caught within the planned looks (max_looks)", bool(lk) and max(x["k"] for x in lk) <= max(x["of"] for x in lk), lk[-1:] if lk else None)
                    continue
                looks += len({x["k"] for x in lk})
                stats_judged += any(x.get("last_judged", 0) > 0 for x in lk)
                if res["phase"] != "Succeeded":
                    fails.append(i)
                    print("# flagger healthy canary %d: %s\n# %s" % (i, res["phase"], fl.show(res).replace("\n", "\n# ")))
            print("# flagger: %d healthy canaries, %d looks, %d failed (%s); bound %d at %g%%" % (n, looks, len(fails), fails, bound, BUDGET * 100))
            tap.check("flagger: the statistical rule judged in the looks (looks spent budget)", stats_judged >= n * 0.9, stats_judged)
            tap.check("flagger: healthy canaries rolled back %d of %d <= %d (binomial bound, 2%% per canary over all its looks)" % (len(fails), n, bound), len(fails) <= bound, fails)
        print("# %d deploys per consumer in %.1f s" % (n, time.monotonic() - t0))
    finally:
        stack.close()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
