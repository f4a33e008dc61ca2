#!/usr/bin/env bash
# check-src.sh — source rules the compiler does not check (STYLE.md), run by scripts/test.sh:
# banned calls; internal headers (<module>_int.h) only inside their module (and its tests);
# every #include "x/y.h" follows the dependency order common <- config <- {collector, rules,
# alerting} <- gate <- cmd; third-party headers only where their library is linked; name tiers
# in headers; functions over 150 lines reported (not failed). Exit 1 on any violation.
# Known name-tier violations awaiting a rename are listed in scripts/check-src.allow.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PY'
import os, re, subprocess, sys

MODULES = ["common", "config", "collector", "rules", "alerting", "gate", "cmd"]
# module -> modules whose headers it may include (itself included).
ALLOWED = {
    "common": {"common"},
    "config": {"common", "config"},
    "collector": {"common", "config", "collector"},
    "rules": {"common", "config", "rules"},
    "alerting": {"common", "config", "alerting"},
    "gate": {"common", "config", "collector", "rules", "alerting", "gate"},
    "cmd": {"common", "config", "collector", "rules", "alerting", "gate", "cmd"},
}
# Headers narrower than their module: who may include them.
NARROW = {
    # the HTTP wrapper: not from config/ or rules/ (rules/ is pure: no I/O)
    "common/http.h": lambda f: mod_of(f) not in ("config", "rules"),
    # the server's internals: only the server's files
    "gate/gate_server_int.h": lambda f: re.match(r"gate/gate_server[^/]*\.[ch]$", f) or
        f in ("tests/unit/test_gate_server.c", "tests/unit/test_gate_events.c",
              "tests/fuzz/fuzz_body.c", "tests/unit/test_gate_server_auth.c",
              "tests/unit/test_gate_server_looks.c", "tests/fuzz/fuzz_gate_auth.c",
              "tests/unit/test_gate_deadline.c"),
}
# Third-party headers: the modules (or files) that link the library.
SYSTEM = [
    (r"curl/", lambda f: mod_of(f) == "common" or f.startswith("tests/")),
    (r"microhttpd\.h", lambda f: re.match(r"gate/gate_server[^/]*\.[ch]$", f) or
        f.startswith("tests/")),
    (r"yaml\.h", lambda f: mod_of(f) == "config" or f.startswith("tests/")),
    (r"sqlite3\.h", lambda f: f in ("common/store.h", "common/common_store.c") or mod_of(f) in ("alerting", "gate") or f.startswith("tests/")),
    (r"libpq-fe\.h", lambda f: f == "common/common_store_pg.c" or f.startswith("tests/")),
    (r"openssl/", lambda f: mod_of(f) == "alerting" or
        re.match(r"gate/gate_server[^/]*\.c$", f) or f.startswith("tests/")),
    (r"cjson/", lambda f: mod_of(f) in ("collector", "alerting", "gate", "cmd") or
        f.startswith(("tests/", "bench/"))),
]
BANNED = ["sprintf", "vsprintf", "strcpy", "strcat", "atoi", "gets"]
LONG_FN = 150

def mod_of(path):
    top = path.split("/", 1)[0]
    return top if top in MODULES else None

def git_files():
    out = subprocess.run(["git", "ls-files", "*.c", "*.h"], capture_output=True, text=True,
                         check=True).stdout.split()
    return [f for f in out if os.path.exists(f)]

def strip_comments_strings(text):
    # Keeps line structure: comments and string/char literals become spaces.
    def repl(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    pat = r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\''
    return re.sub(pat, repl, text, flags=re.S)

errors, reports = [], []

def err(f, line, msg):
    errors.append(f"{f}:{line}: {msg}")

allow = set()
if os.path.exists("scripts/check-src.allow"):
    for ln in open("scripts/check-src.allow"):
        ln = ln.split("#", 1)[0].strip()
        if ln:
            allow.add(ln)
used_allow = set()

files = git_files()
for f in files:
    text = open(f, encoding="utf-8", errors="replace").read()
    code = strip_comments_strings(text)
    mod = mod_of(f)
    lines = text.split("\n")
    # ---- banned calls
    for i, ln in enumerate(code.split("\n"), 1):
        for b in BANNED:
            if re.search(r"(?<![\w.>])" + b + r"\s*\(", ln):
                err(f, i, f"banned call {b}() (STYLE.md: snprintf, wg_buf, strtol)")
    # ---- includes
    for i, ln in enumerate(lines, 1):
        m = re.match(r'\s*#\s*include\s*"([^"]+)"', ln)
        if m:
            inc = m.group(1)
            parts = inc.split("/")
            imod = parts[0] if len(parts) == 2 and parts[0] in MODULES else None
            if imod is None:
                continue  # test-local helpers ("diag_helper.h", "tests/unit/...")
            base = parts[1]
            if base.endswith("_int.h"):
                own = mod == imod
                test_of = (f.startswith(("tests/unit/", "tests/fuzz/", "bench/")) and
                           (re.match(r"(tests/unit|tests/fuzz)/[^/]*" + imod, f) or
                            f.startswith("bench/") or
                            os.path.basename(f) in ("collector_recsink.h", "fuzz_body.c")))
                if not own and not test_of:
                    err(f, i, f'includes {inc}: a module\'s _int.h is for its own files '
                              f'(and its tests) only')
            if inc in NARROW and not NARROW[inc](f):
                err(f, i, f"includes {inc}, which only some files may include")
            if mod and imod not in ALLOWED[mod]:
                err(f, i, f'{mod}/ includes {inc}: against the dependency order '
                          f'(common <- config <- {{collector, rules, alerting}} <- gate <- cmd)')
        m = re.match(r"\s*#\s*include\s*<([^>]+)>", ln)
        if m:
            for pat, ok in SYSTEM:
                if re.match(pat, m.group(1)) and not ok(f):
                    err(f, i, f"includes <{m.group(1)}>: that library is not linked here")
            # the evaluation layer of gate/ stays without the server's libraries
    # ---- name tiers (module headers)
    if mod and f.endswith(".h"):
        is_int = f.endswith("_int.h")
        # its types: defined here, or opaque handles declared here (struct wg_server;) unless
        # named after another module (struct wg_alerting; in gate.h is alerting's)
        types = set(re.findall(r"\b(?:struct|enum)\s+wg_(\w+)\s*\{", code))
        types |= {t for t in re.findall(r"^\s*struct\s+wg_(\w+)\s*;", code, flags=re.M)
                  if not any(t == m or t.startswith(m + "_") for m in MODULES if m != mod)}
        for i, ln in enumerate(code.split("\n"), 1):
            for name in re.findall(r"(?<!struct )(?<!enum )\b(wg_\w+)\s*\(", ln):
                if re.match(r"\s*#\s*define", ln):
                    continue
                # a declaration: the name follows a type at the start of the statement
                if not re.search(r"(^|[\s*])" + name + r"\s*\(", ln):
                    continue
                if not re.match(r"\s*(const\s+)?(static\s+)?(inline\s+)?[\w\s\*]+?[\s\*]" +
                                name + r"\s*\(", ln):
                    continue
                key = f"{f}:{name}"
                if name.startswith("wg__"):
                    if not is_int:
                        if key in allow:
                            used_allow.add(key)
                        else:
                            err(f, i, f"{name}: wg__ names belong in an _int.h")
                    elif not name.startswith(f"wg__{mod}_"):
                        reports.append(f"{f}:{i}: {name}: internal name not wg__{mod}_…")
                    continue
                if is_int or mod == "common":
                    # common/ is the base layer (errors, buffers, logging, clock, HTTP): its
                    # public names are wg_<part>_… or plain wg_… (as libuv's uv_ base)
                    continue
                ok = name.startswith(f"wg_{mod}_") or any(
                    name.startswith(f"wg_{t}_") or name == f"wg_{t}" for t in types)
                if not ok:
                    if key in allow:
                        used_allow.add(key)
                    else:
                        err(f, i, f"{name}: a public function of {mod}/ is named wg_{mod}_… "
                                  f"or after a type of its header")
    # ---- long functions (reported)
    if f.endswith(".c"):
        clines = code.split("\n")
        start = None
        for i, ln in enumerate(clines, 1):
            if ln.startswith("{") and i > 1 and start is None:
                start = i
                sig = next((lines[k] for k in range(i - 2, max(i - 6, -1), -1)
                            if re.search(r"\w+\s*\(", lines[k])), lines[i - 2])
            elif ln.startswith("}") and start is not None:
                n = i - start - 1
                if n > LONG_FN:
                    name = re.search(r"(\w+)\s*\(", sig)
                    reports.append(f"{f}:{start}: {name.group(1) if name else '?'}: {n} lines "
                                   f"(over {LONG_FN})")
                start = None

for key in sorted(allow - used_allow):
    reports.append(f"scripts/check-src.allow: {key} no longer needed")
tier = [r for r in reports if "internal name not" in r]
by_hdr = {}
for r in tier:
    by_hdr.setdefault(r.split(":", 1)[0], []).append(r.split(": ")[1])
for h, names in sorted(by_hdr.items()):
    print(f"note: {h}: {len(names)} internal name(s) not wg__<module>_…: {' '.join(names)}")
for r in reports:
    if r not in tier:
        print("note: " + r)
for e in errors:
    print("error: " + e, file=sys.stderr)
if errors:
    print(f"check-src: {len(errors)} violation(s)", file=sys.stderr)
    sys.exit(1)
print(f"check-src: {len(files)} files ok ({len(reports)} note(s))")
PY
