#!/usr/bin/env python3
"""openapi.py — docs/openapi.yaml against a running `wavegate serve` (real InfluxDB 1.x, the
shipped config plus an alerting section): every documented (path, method, status) is
produced for real and its body matches the documented schema (type, required, property
types, enum; $ref resolved), and no answer seen is undocumented. Security as documented:
every operation with a security requirement answers 401 without a token, with the documented
WWW-Authenticate challenge (Basic where the basic scheme is offered, so a browser prompts);
every [admin] operation answers 403 to the read token and works with the admin token (the
server's read and admin tokens differ); [read] ones work with the read token.
"""
import base64

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replaylib as rl  # noqa: E402


def resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        cur = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            cur = cur[part]
        node = cur
    return node


def validate(spec, schema, v, where="$"):
    schema = resolve(spec, schema)
    if "oneOf" in schema:  # exactly one alternative matches
        ok = [validate(spec, alt, v, where) for alt in schema["oneOf"]]
        n = sum(1 for e in ok if not e)
        return [] if n == 1 else ["%s: %d of %d oneOf alternatives match: %s" % (where, n, len(ok), ok)]
    errs = []
    t = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "number": (int, float), "boolean": bool}
    if t and not isinstance(v, types[t]):
        return ["%s: want %s, got %r" % (where, t, v)]
    if "enum" in schema and v not in schema["enum"]:
        errs.append("%s: %r not in %s" % (where, v, schema["enum"]))
    if isinstance(v, dict):
        for k in schema.get("required", []):
            if k not in v:
                errs.append("%s: missing %s" % (where, k))
        for k, sub in (schema.get("properties") or {}).items():
            if k in v:
                errs += validate(spec, sub, v[k], where + "." + k)
    if isinstance(v, list) and "items" in schema:
        for i, x in enumerate(v[:20]):
            errs += validate(spec, schema["items"], x, "%s[%d]" % (where, i))
    return errs


def main():
    tap = rl.Tap()
    spec = rl.yaml.safe_load(open(os.path.join(rl.SRC, "docs/openapi.yaml")))
    documented = {(p, m, s) for p, ops in spec["paths"].items() for m, op in ops.items() for s in op["responses"]}
    stack = rl.Stack()
    influx = stack.influx
    seen = set()
    try:
        cfg, token = stack.start()
        cfg["alerting"] = {"receivers": [{"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}], "route": {"receiver": "hook"}}
        now = int(time.time())
        T = now // 60 * 60 - 15 * 60
        envs = {w["name"]: w["env"] for w in cfg["waves"]}
        rl.Telemetry(influx, envs["staging"], T - 1800).advance(now, lambda t: 0.0)
        rl.Telemetry(influx, envs["prod-internal"], T - 1800).advance(now, lambda t: 0.0 if t < T else 2.0)
        wg = stack.start_wavegate(now)
        os.unlink(wg.now_file)  # the real clock from here on (no WG_TEST_NOW_FILE content)
        auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        admin = {"Authorization": "Bearer " + stack.admin_token, "Content-Type": "application/json"}

        def ask(tpl, method, path, body=None, headers=auth, want=None):
            st, hdrs, text = rl.http_request(method, wg.base + path, headers, json.dumps(body) if isinstance(body, (dict, list)) else body)
            key = (tpl, method.lower(), str(st))
            seen.add(key)
            op = spec["paths"].get(tpl, {}).get(method.lower(), {})
            resp = op.get("responses", {}).get(str(st))
            if want is not None:
                tap.check("%s %s -> %s" % (method, path[:70], want), st == want, "got %d %s" % (st, text[:300]))
            if resp is None:
                tap.check("%s %s %d is documented" % (method, tpl, st), False, text[:300])
                return st, text
            want_hdr = resolve(spec, resp).get("headers") or {}
            if "WWW-Authenticate" in want_hdr:
                schemes = [k for req in op.get("security", spec.get("security", [])) for k in req]
                got = hdrs.get("www-authenticate", "")
                want_scheme = "Basic" if "basic" in schemes else "Bearer"
                tap.check("%s %s %d: WWW-Authenticate %s realm=\"wavegate\"" % (method, tpl, st, want_scheme), got.startswith(want_scheme + ' realm="wavegate"'), "got %r" % got)
            content = resolve(spec, resp).get("content") or {}
            if hdrs.get("content-type", "").startswith("text/html"):
                tap.check("%s %s %d: text/html is documented" % (method, tpl, st), "text/html" in content, sorted(content))
                return st, text
            schema = content.get("application/json", {}).get("schema")
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            errs = validate(spec, schema, data) if schema else []
            if schema and data is None:
                errs = ["body is not JSON: %r" % text[:200]]
            if errs:
                tap.check("%s %s %d body matches the schema" % (method, tpl, st), False, "\n".join(errs))
            return st, text

        t = rl.fmt_time(T)
        G = "/v1/gate"
        ask(G, "GET", G + "?wave=staging&feature=checkout&deploy_time=" + t, want=200)
        ask(G, "GET", G + "?wave=prod-internal&feature=checkout&mode=status&deploy_time=" + t, want=412)
        ask(G, "GET", G + "?wave=staging&feature=checkout&mode=status&deploy_id=fresh-" + os.urandom(3).hex(), want=409)
        # a look beyond max_looks (no fresh evaluation): still a complete Report
        bid = "beyond-" + os.urandom(3).hex()
        BQ = G + "?wave=staging&feature=checkout&max_looks=1&deploy_time=" + t + "&deploy_id=" + bid
        # (looks are counted by wavegate's clock: two asks 30 s apart are two looks)
        wg.set_now(now)
        ask(G, "GET", BQ, want=200)
        wg.set_now(now + 30)
        st, text = ask(G, "GET", BQ, want=200)
        os.unlink(wg.now_file)
        try:
            bj = json.loads(text)
        except ValueError:
            bj = {}
        tap.check("look 2 of 1 is the beyond-looks answer (validated above as a Report)", bj.get("beyond_looks") is True and bj.get("look", {}).get("k") == 2, text[:300])
        tap.check("the beyond-looks answer's window is its rule's (10m from the deploy time)", bj.get("window") == {"start": t, "end": rl.fmt_time(T + 600)} and bj.get("rules") == [], text[:300])
        ask(G, "GET", G + "?wave=nope", want=404)
        ask(G, "GET", G + "?wave=staging&token=x", want=400)
        ask(G, "GET", G + "?wave=staging", headers={}, want=401)
        ask(G, "POST", G, {"wave": "staging", "feature": "checkout", "deploy_time": t}, want=200)
        ask(G, "POST", G, {"wave": "prod-internal", "feature": "checkout", "deploy_time": t, "mode": "status"}, want=412)
        ask(G, "POST", G, {"wave": "staging", "feature": "checkout", "mode": "status", "deploy_id": "fresh-" + os.urandom(3).hex()}, want=409)
        ask(G, "POST", G, {"wave": "nope"}, want=404)
        ask(G, "POST", G, '{"wave":', want=400)
        ask(G, "POST", G, {"wave": "staging"}, headers={"Content-Type": "application/json"}, want=401)
        F = "/v1/flagger/{hook}"
        fl = {"name": "checkout", "namespace": "shop", "phase": "Progressing", "checksum": "abc", "metadata": {"token": token, "deploy_time": t}}
        nohdr = {"Content-Type": "application/json"}
        ask(F, "POST", "/v1/flagger/confirm-promotion?wave=staging&feature=checkout", fl, nohdr, want=200)
        ask(F, "POST", "/v1/flagger/confirm-promotion?wave=prod-internal&feature=checkout", fl, nohdr, want=412)
        fresh = dict(fl, checksum="fresh" + os.urandom(3).hex(), metadata={"token": token})
        ask(F, "POST", "/v1/flagger/confirm-promotion?wave=staging&feature=checkout", fresh, nohdr, want=409)
        ask(F, "POST", "/v1/flagger/nope?wave=staging", fl, auth, want=404)
        ask(F, "POST", "/v1/flagger/rollout", {"metadata": {"token": token}}, nohdr, want=400)
        ask(F, "POST", "/v1/flagger/rollout?wave=staging", dict(fl, metadata={"token": "wrong"}), nohdr, want=401)
        A = "/v1/analyses"
        st, text = ask(A, "POST", A, {"wave": "staging", "feature": "checkout", "deploy_time": t, "interval": "1s", "count": 1}, want=201)
        aid = json.loads(text).get("id", "x") if st == 201 else "x"
        ask(A, "POST", A, {"wave": "nope", "interval": "1s", "count": 1}, want=404)
        ask(A, "POST", A, "[1]", want=400)
        ask(A, "POST", A, {}, headers={}, want=401)
        ask("/v1/analyses/{id}", "GET", "/v1/analyses/" + aid, want=200)
        ask("/v1/analyses/{id}", "GET", "/v1/analyses/0123456789abcdef", want=404)
        S = "/v1/silences"
        ask(S, "GET", S, want=200)
        sil = {"matchers": [{"name": "wave", "value": "staging", "isRegex": False}], "endsAt": rl.fmt_time(now + 3600), "createdBy": "test", "comment": "openapi"}
        st, text = ask(S, "POST", S, sil, headers=admin, want=200)
        sid = json.loads(text).get("silenceID", "x") if st == 200 else "x"
        ask(S, "POST", S, {"matchers": "nope"}, headers=admin, want=400)
        ask("/v1/silences/{id}", "DELETE", "/v1/silences/" + sid, auth, want=403)
        ask("/v1/silences/{id}", "DELETE", "/v1/silences/" + sid, headers=admin, want=200)
        ask("/v1/silences/{id}", "DELETE", "/v1/silences/0123456789abcdef", headers=admin, want=404)
        E = "/v1/events"
        ev = {"type": "deploy", "wave": "staging", "version": "v-" + os.urandom(3).hex(), "time": t, "source": "openapi"}
        ask(E, "POST", E, ev, headers=admin, want=202)
        ask(E, "POST", E, ev, headers=admin, want=200)  # the same source and version again
        ask(E, "POST", E, {"type": "nope"}, headers=admin, want=400)
        st, text = ask(E, "GET", E, want=200)
        tap.check("GET /v1/events lists the deploy event", ev["version"] in text, text[:300])
        ask("/v1/events/actions", "GET", "/v1/events/actions", want=200)
        EA = "/v1/events/{adapter}"
        ask(EA, "POST", "/v1/events/argocd", {"app": "shop", "revision": "r-" + os.urandom(3).hex(), "wave": "staging", "time": t}, headers=admin)
        ask(EA, "POST", "/v1/events/unleash", {"type": "feature-environment-enabled", "featureName": "unknown_flag", "environment": "nowhere", "createdAt": t}, headers=admin, want=202)
        ask(EA, "POST", "/v1/events/unleash", {"type": "feature-created", "featureName": "unknown_flag", "createdAt": t}, headers=admin, want=200)
        ask(EA, "POST", "/v1/events/nope", {}, headers=admin, want=404)
        ask(EA, "POST", "/v1/events/unleash", "{", headers=admin, want=400)
        ask(EA, "POST", "/v1/events/launchdarkly", {"kind": "flag"}, headers={"Content-Type": "application/json", "X-LD-Signature": "00"}, want=401)
        st, text = ask(G, "GET", G + "?wave=staging&feature=checkout&deploy_time=" + t, want=200)
        try:
            eid = json.loads(text).get("evaluation_id", "x")
        except ValueError:
            eid = "x"
        jsonacc = dict(auth, Accept="application/json")
        ask("/ui/evaluations/{id}", "GET", "/ui/evaluations/" + eid, want=200)
        ask("/ui/evaluations/{id}", "GET", "/ui/evaluations/" + eid, headers=jsonacc, want=200)
        ask("/ui/evaluations/{id}", "GET", "/ui/evaluations/0123456789abcdef", want=404)
        ask("/ui/analyses/{id}", "GET", "/ui/analyses/" + aid, want=200)
        ask("/ui/analyses/{id}", "GET", "/ui/analyses/0123456789abcdef", want=404)
        st, text = ask("/v1/report/{wave}", "GET", "/v1/report/staging", want=303)
        ask("/v1/report/{wave}", "GET", "/v1/report/nope", want=404)
        basic = {"Authorization": "Basic " + base64.b64encode(("browser:" + token).encode()).decode()}
        ask("/", "GET", "/", headers=basic, want=200)
        ask("/", "GET", "/", headers=auth, want=200)
        # every operation with a security requirement, as documented: 401 without a token
        # (the challenge checked in ask), 403 for the read token where it needs [admin]
        for tpl, ops in spec["paths"].items():
            for m, op in ops.items():
                sec = op.get("security", spec.get("security", []))
                roles = {r for req in sec for rs in req.values() for r in rs}
                path = re.sub(r"\{[a-z]+\}", "0123456789abcdef", tpl)
                body = sil if m in ("post", "put") else None
                if not sec:
                    continue
                tap.check("%s %s documents 401" % (m.upper(), tpl), "401" in op["responses"])
                ask(tpl, m.upper(), path + ("?wave=staging" if "gate" in tpl else ""), body, {"Content-Type": "application/json"}, want=401)
                if roles == {"admin"}:
                    tap.check("%s %s ([admin]) documents 403" % (m.upper(), tpl), "403" in op["responses"])
                    ask(tpl, m.upper(), path, body, auth, want=403)
                else:
                    tap.check("%s %s is [read]: no 403 documented" % (m.upper(), tpl), roles == {"read"} and "403" not in op["responses"], roles)
        schemes = spec["components"]["securitySchemes"]
        tap.check("securitySchemes: bearer and basic (http)", schemes.get("bearer", {}).get("scheme") == "bearer" and schemes.get("basic", {}).get("scheme") == "basic", schemes)
        influx.stop()
        ask(G, "GET", G + "?wave=staging&feature=checkout&mode=status&deploy_time=" + rl.fmt_time(T - 60), want=503)
        missing = sorted(documented - seen)
        tap.check("every documented (path, method, status) was produced", not missing, missing)
    finally:
        stack.close()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
