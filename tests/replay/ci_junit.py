#!/usr/bin/env python3
"""ci_junit.py — replay the CI examples under deploy/ci/ as their runners do: the GitHub
Actions job's `run:` steps in order (a failed step skips the rest except `if: always()`),
the GitLab job's script then after_script, each through `sh -e -c` with the job's env, with
the real `wavegate` binary against a real InfluxDB 1.x. The deploy is 15 minutes in the past,
so its window is complete; `check --wait` sleeps in real time, so its schedule is the one
thing rewritten (--interval 1s --duration 3s instead of the example's).

Asserted: a healthy wave's job succeeds, a regressed one fails; the JUnit report the job
uploads is well-formed XML with one testcase per rule of the feature, <failure> for the
failing rule, and counts that match.
"""

import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replaylib as rl  # noqa: E402


def github_steps(doc):
    job = list(doc["jobs"].values())[0]
    return job.get("env", {}), [(s.get("name", s.get("uses")), s["run"], "always()" in str(s.get("if", ""))) for s in job["steps"] if "run" in s]


def gitlab_steps(doc, name):
    job = doc[name]
    script = "\n".join(job["script"])
    after = "\n".join(job.get("after_script", []))
    return job.get("variables", {}), [("script", script, False), ("after_script", after, True)]


def run_job(env_decl, steps, env, cwd):
    failed = False
    log = []
    for name, script, always in steps:
        if failed and not always:
            log.append((name, "skipped"))
            continue
        script = re.sub(r"--interval \S+ --duration \S+", "--interval 1s --duration 3s", script)
        r = subprocess.run(["sh", "-e", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
        log.append((name, r.returncode, r.stderr[-300:]))
        if r.returncode != 0 and name != "after_script":
            failed = True
    return (not failed), log


def main():
    tap = rl.Tap()
    stack = rl.Stack()
    influx, tmp = stack.influx, stack.tmp
    try:
        cfg, _token = stack.start()
        cfgpath = os.path.join(tmp, "wavegate.yaml")
        with open(cfgpath, "w") as f:
            rl.yaml.safe_dump(cfg, f, sort_keys=False)
        now = int(time.time())
        T = now // 60 * 60 - 15 * 60
        envs = {w["name"]: w["env"] for w in cfg["waves"]}
        rl.Telemetry(influx, envs["staging"], T - 1800).advance(now, lambda t: 0.0)
        rl.Telemetry(influx, envs["prod-internal"], T - 1800).advance(now, lambda t: 0.0 if t < T else 2.0)
        feature = list(cfg["features"])[0]
        nrules = len(cfg["features"][feature]["rules"])
        gh = [d for d in rl.load_manifests("deploy/ci/github-actions.yml")][0]
        gl = [d for d in rl.load_manifests("deploy/ci/gitlab-ci.yml")][0]
        gl_job = [k for k, v in gl.items() if isinstance(v, dict) and "wavegate" in str(v.get("script", ""))][0]
        for runner, (decl, steps) in (("github", github_steps(gh)), ("gitlab", gitlab_steps(gl, gl_job))):
            for wave, want_ok in (("staging", True), ("prod-internal", False)):
                cwd = os.path.join(tmp, "%s-%s" % (runner, wave))
                os.makedirs(cwd)
                env = {k: str(v) for k, v in decl.items() if "${{" not in str(v)}
                env.update(PATH=os.path.dirname(os.path.abspath(rl.WG)) + ":" + os.environ["PATH"], HOME=cwd, WAVEGATE_CONFIG=cfgpath, WAVE=wave, FEATURE=feature, DEPLOY_TIME=rl.fmt_time(T))
                ok, log = run_job(decl, steps, env, cwd)
                name = "%s %s" % (runner, wave)
                tap.check("%s: the job %s" % (name, "succeeds" if want_ok else "fails"), ok == want_ok, log)
                report = os.path.join(cwd, "wavegate-junit.xml")
                try:
                    root = ET.parse(report).getroot()
                except (OSError, ET.ParseError) as e:
                    tap.check("%s: the JUnit report is well-formed" % name, False, e)
                    continue
                cases = root.findall(".//testcase")
                tap.check("%s: one testcase per rule (%d)" % (name, nrules), len(cases) == nrules, ET.tostring(root)[:400])
                fails = root.findall(".//testcase/failure")
                tap.check("%s: %s" % (name, "no <failure>" if want_ok else "the failing rule is a <failure>"), (len(fails) == 0) == want_ok and root.get("failures") == str(len(fails)), ET.tostring(root)[:600])
                suite = root.find("testsuite")
                props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
                tap.check("%s: the verdict is a property" % name, props.get("verdict") == ("pass" if want_ok else "fail"), props)
    finally:
        stack.close()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
