#!/usr/bin/env python3
"""gen_deploy.py — line protocol for a deploy scenario around a deploy time T (unix seconds):
one healthy wave (staging), one regressed wave (prod-internal), and a feature with no data.

  measurement http, tags env + host, fields latency_ms (float) and errors (int), one point
  every 10 s per host for 30 min before T and 10 min after it. The regressed env's latency
  goes up 3x and its error count rises after T. Seeded: the same T gives the same data.
  Measurement rollout (tag version = stable | canary) has a canary beside the stable version
  after T; the internal canary is 40% slower.
"""
import random
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_deploy.py DEPLOY_UNIX_SECONDS OUT_FILE")
    deploy = int(sys.argv[1])
    rnd = random.Random(42)
    envs = {"staging": False, "internal": True}
    lines = []
    for t in range(deploy - 30 * 60, deploy + 10 * 60, 10):
        for env, regressed in envs.items():
            for host in ("a", "b", "c"):
                lat = rnd.lognormvariate(4.7, 0.25)  # median ~110 ms
                errs = 1 if rnd.random() < 0.01 else 0
                if regressed and t >= deploy:
                    lat *= 3.0
                    errs = 1 if rnd.random() < 0.2 else 0
                lines.append(
                    f"http,env={env},host={host} latency_ms={lat:.3f},errors={errs}i,requests=100i {t}"
                )
    # A canary rollout after T: the same env serves a stable and a canary version side by
    # side (measurement rollout, tag version); the internal canary is 40% slower.
    for t in range(deploy, deploy + 10 * 60, 5):
        for env, regressed in envs.items():
            for version in ("stable", "canary"):
                lat = rnd.lognormvariate(4.7, 0.25)
                if regressed and version == "canary":
                    lat *= 1.4
                lines.append(f"rollout,env={env},version={version} latency_ms={lat:.3f} {t}")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
