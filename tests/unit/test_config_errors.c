/* test_config_errors.c — every class of config error, each as "file:line:col: key: message"
 * exactly as `wavegate validate` prints it: unknown and duplicate keys, wrong types, bad
 * durations, sizes and times, placeholders (with their column inside the query), missing
 * keys, unknown references, cross-field rules, YAML syntax errors; and that all are collected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "diag_helper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

/* A valid prefix most cases extend: lines 1-8. */
#define BASE                                                                                       \
    "sources:\n"                                                                                   \
    "  db:\n"                                                                                      \
    "    url: http://127.0.0.1:8086\n"                                                             \
    "    database: telemetry\n"                                                                    \
    "waves:\n"                                                                                     \
    "  - name: staging\n"                                                                          \
    "    source: db\n"                                                                             \
    "features:\n"

/* features.f.rules[0] starts at line 11, col 9; its keys at col 9 from line 11. */
#define RULE                                                                                       \
    BASE "  f:\n"                                                                                  \
         "    rules:\n"                                                                            \
         "      - name: r\n"                                                                       \
         "        query: SELECT 1\n"

struct ecase {
    const char *name;
    const char *yaml;
    const char *want[3]; /* substrings of the printed diagnostics */
    int nerrors;         /* -1: do not check */
};

static const struct ecase cases[] = {
    /* unknown keys list the allowed ones */
    {"unknown top-level key",
     "sources: {}\nsourcez: {}\n",
     {"t.yaml:2:1: sourcez: unknown key 'sourcez' (allowed: sources, waves, features"},
     1},
    {"unknown source key",
     "sources:\n  db:\n    url: http://h\n    database: d\n    timout: 5s\n",
     {"t.yaml:5:5: sources.db.timout: unknown key 'timout' (allowed: kind, api, url, database, "
      "retention_policy, org, org_id, token_env, username, password_env, timeout, "
      "connect_timeout, max_response_bytes, max_concurrency, retries, chunk_size, compression, tls, "
      "max_series)"},
     1},
    {"unknown rule key",
     RULE "        treshold: {max: 1}\n",
     {"t.yaml:13:9: features.f.rules[0].treshold: unknown key 'treshold' (allowed: name, "
      "source, query, field, judge, baseline, split, outliers, labels, waves, threshold, "
      "min_samples"},
     1},
    {"unknown override key",
     RULE "        waves: {staging: {windw: 5m}}\n",
     {"t.yaml:13:27: features.f.rules[0].waves.staging.windw: unknown key 'windw'"},
     1},
    {"unknown wave key",
     "waves:\n  - name: w\n    colour: blue\n",
     {"t.yaml:3:5: waves[0].colour: unknown key 'colour' (allowed: name, env, source, "
      "defaults, gate, targets, require, bake)"},
     1},
    /* duplicate keys say where the first one was */
    {"duplicate key",
     "sources:\n  db:\n    url: http://h\n    database: d\n    url: http://other\n",
     {"t.yaml:5:5: sources.db.url: duplicate key 'url' (first defined at line 3:5)"},
     1},
    {"duplicate top-level key",
     BASE "  f: {rules: []}\nfeatures: {}\n",
     {"t.yaml:10:1: features: duplicate key 'features' (first defined at line 8:1)"},
     1},
    {"duplicate rule name",
     RULE "      - name: r\n        query: SELECT 2\n",
     {"t.yaml:13:15: features.f.rules[1].name: duplicate rule name 'r' in feature 'f' (first "
      "defined at line 11:9)"},
     1},
    /* wrong types say what was expected */
    {"quoted number",
     RULE "        threshold: {max: \"250\"}\n",
     {"t.yaml:13:26: features.f.rules[0].threshold.max: expected a number, got a quoted string "
      "\"250\""},
     1},
    {"not a number",
     RULE "        threshold: {max: abc}\n",
     {"t.yaml:13:26: features.f.rules[0].threshold.max: expected a number, got 'abc'"},
     1},
    {"nan is not a number",
     RULE "        threshold: {max: .nan, min: inf}\n",
     {"features.f.rules[0].threshold.max: expected a number, got '.nan'",
      "features.f.rules[0].threshold.min: expected a number, got 'inf'"},
     2},
    {"yes is not a bool",
     RULE "        dry_run: yes\n",
     {"t.yaml:13:18: features.f.rules[0].dry_run: expected true or false, got 'yes'"},
     1},
    {"quoted integer",
     RULE "        min_samples: \"5\"\n",
     {"t.yaml:13:22: features.f.rules[0].min_samples: expected an integer, got a quoted "
      "string \"5\""},
     1},
    {"fractional integer",
     RULE "        min_samples: 2.5\n",
     {"features.f.rules[0].min_samples: expected an integer, got '2.5'"},
     1},
    {"mapping expected",
     RULE "        threshold: 5\n",
     {"t.yaml:13:20: features.f.rules[0].threshold: expected a mapping, got '5'"},
     1},
    {"sequence expected",
     BASE "  f: {rules: {name: x}}\n",
     {"t.yaml:9:14: features.f.rules: expected a sequence of rules, got a mapping"},
     1},
    {"null value",
     RULE "        field:\n",
     {"t.yaml:13:15: features.f.rules[0].field: expected a string, got null"},
     1},
    {"bad enum",
     RULE "        reduce: p50\n",
     {"t.yaml:13:17: features.f.rules[0].reduce: expected one of last, mean, min, max, sum, "
      "count, first, median, p90, p95, p99, got 'p50'"},
     1},
    {"waves not a sequence",
     "waves: {name: x}\n",
     {"t.yaml:1:8: waves: expected a sequence of waves, got a mapping"},
     1},
    {"top level sequence",
     "- a\n- b\n",
     {"t.yaml:1:1: expected a mapping at the top level, got a sequence"},
     1},
    /* durations, sizes, times, ranges */
    {"bad duration",
     RULE "        window: 10x\n",
     {"t.yaml:13:17: features.f.rules[0].window: invalid duration '10x' (use e.g. 500ms, 30s, "
      "10m, 1h30m)"},
     1},
    {"zero window",
     RULE "        window: 0s\n",
     {"t.yaml:13:17: features.f.rules[0].window: duration 0s is out of range (must be > 0s)"},
     1},
    {"negative delay",
     RULE "        delay: -5m\n",
     {"t.yaml:13:16: features.f.rules[0].delay: invalid duration '-5m'"},
     1},
    /* durations are capped at 366d so deploy + delay + window always fits in int64 ns
     * (these three used to validate; 106751d wraps the window end to 1677) */
    {"window 106751d too large",
     RULE "        window: 106751d\n",
     {"t.yaml:13:17: features.f.rules[0].window: duration too large (max 366d)"},
     1},
    {"window 9223372036s too large",
     RULE "        window: 9223372036s\n",
     {"t.yaml:13:17: features.f.rules[0].window: duration too large (max 366d)"},
     1},
    {"delay 106000d too large",
     RULE "        delay: 106000d\n",
     {"t.yaml:13:16: features.f.rules[0].delay: duration too large (max 366d)"},
     1},
    {"window past int64",
     RULE "        window: 99999999999999999999h\n",
     {"t.yaml:13:17: features.f.rules[0].window: duration too large (max 366d)"},
     1},
    {"window fraction past int64",
     RULE "        window: 9223372036.9s\n",
     {"t.yaml:13:17: features.f.rules[0].window: duration too large (max 366d)"},
     1},
    {"window 367d",
     RULE "        window: 367d\n",
     {"t.yaml:13:17: features.f.rules[0].window: duration too large (max 366d)"},
     1},
    {"baseline window too large",
     RULE "        baseline: {window: 400d}\n",
     {"t.yaml:13:28: features.f.rules[0].baseline.window: duration too large (max 366d)"},
     1},
    {"override delay too large",
     RULE "        waves: {staging: {delay: 53w}}\n",
     {"t.yaml:13:34: features.f.rules[0].waves.staging.delay: duration too large (max 366d)"},
     1},
    {"wave default window too large",
     "sources:\n  db: {url: http://h, database: d}\n"
     "waves:\n  - name: w\n    source: db\n    defaults: {window: 1000d}\n",
     {"t.yaml:6:24: waves[0].defaults.window: duration too large (max 366d)"},
     1},
    {"source timeout too large",
     "sources:\n  db: {url: http://h, database: d, timeout: 400d}\n",
     {"t.yaml:2:45: sources.db.timeout: duration too large (max 366d)"},
     1},
    /* numbers are decimals: what strtod takes beyond that is an error at the value */
    {"hex float",
     RULE "        threshold: {max: 0x1p3}\n",
     {"t.yaml:13:26: features.f.rules[0].threshold.max: expected a number, got '0x1p3' (write "
      "a decimal like 12, -0.5 or 1e3)"},
     1},
    {"negative hex",
     RULE "        threshold: {min: -0x10}\n",
     {"t.yaml:13:26: features.f.rules[0].threshold.min: expected a number, got '-0x10'"},
     1},
    {"inf and nan",
     RULE "        threshold: {max: inf, min: nan}\n",
     {"t.yaml:13:26: features.f.rules[0].threshold.max: expected a number, got 'inf'",
      "t.yaml:13:36: features.f.rules[0].threshold.min: expected a number, got 'nan'"},
     2},
    {"signed infinity",
     RULE "        threshold: {max: -inf, warn_max: +infinity}\n",
     {"features.f.rules[0].threshold.max: expected a number, got '-inf'",
      "features.f.rules[0].threshold.warn_max: expected a number, got '+infinity'"},
     2},
    {"1e999 out of range",
     RULE "        threshold: {max: 1e999}\n",
     {"t.yaml:13:26: features.f.rules[0].threshold.max: number 1e999 is out of range"},
     1},
    {"leading plus",
     RULE "        threshold: {max: +5}\n",
     {"t.yaml:13:26: features.f.rules[0].threshold.max: expected a number, got '+5'"},
     1},
    {"trailing garbage",
     RULE "        threshold: {max: 5abc}\n",
     {"t.yaml:13:26: features.f.rules[0].threshold.max: expected a number, got '5abc'"},
     1},
    {"bare fraction and trailing dot",
     RULE "        threshold: {max: .5, min: 5.}\n",
     {"t.yaml:13:26: features.f.rules[0].threshold.max: expected a number, got '.5'",
      "features.f.rules[0].threshold.min: expected a number, got '5.'"},
     2},
    {"exponent without digits",
     RULE "        confidence: 9e\n",
     {"t.yaml:13:21: features.f.rules[0].confidence: expected a number, got '9e'"},
     1},
    {"integer with plus and hex",
     RULE "        min_samples: +5\n        waves: {staging: {min_samples: 0x10}}\n",
     {"t.yaml:13:22: features.f.rules[0].min_samples: expected an integer, got '+5'",
      "t.yaml:14:40: features.f.rules[0].waves.staging.min_samples: expected an integer, got "
      "'0x10'"},
     2},
    {"integer out of range",
     RULE "        min_samples: 99999999999999999999\n",
     {"t.yaml:13:22: features.f.rules[0].min_samples: integer 99999999999999999999 is out of "
      "range"},
     1},
    {"limit hex and plus",
     RULE "        baseline: {window: 1h}\n        max_increase: 0x10%\n"
          "        max_decrease: +5\n",
     {"t.yaml:14:23: features.f.rules[0].max_increase: expected a number or a percentage",
      "t.yaml:15:23: features.f.rules[0].max_decrease: expected a number or a percentage"},
     2},
    {"size with plus",
     "sources:\n  db: {url: http://h, database: d, max_response_bytes: +10MB}\n",
     {"t.yaml:2:56: sources.db.max_response_bytes: invalid size '+10MB'"},
     1},
    {"bad source timeout",
     "sources:\n  db: {url: http://h, database: d, timeout: 10}\n",
     {"t.yaml:2:45: sources.db.timeout: invalid duration '10'"},
     1},
    {"bad size",
     "sources:\n  db: {url: http://h, database: d, max_response_bytes: 10XB}\n",
     {"t.yaml:2:56: sources.db.max_response_bytes: invalid size '10XB' (use e.g. 256MiB, 10MB, "
      "65536)"},
     1},
    {"bad time",
     RULE "        baseline: {start: yesterday, end: 2024-05-01T00:00:00Z}\n",
     {"t.yaml:13:27: features.f.rules[0].baseline.start: invalid time 'yesterday' (use "
      "RFC3339"},
     1},
    {"pinned baseline out of range",
     RULE "        baseline: {start: 1677-09-21T00:12:44Z, end: 2262-04-11T23:00:00Z}\n",
     {"t.yaml:13:27: features.f.rules[0].baseline.start: time 1677-09-21T00:12:44Z is out of "
      "range (must be after 1970 and before 2200)",
      "t.yaml:13:54: features.f.rules[0].baseline.end: time 2262-04-11T23:00:00Z is out of range"},
     2},
    {"confidence out of range",
     RULE "        confidence: 0.3\n",
     {"t.yaml:13:21: features.f.rules[0].confidence: 0.3 is out of range: must be >= 0.5 and "
      "<= 0.9999"},
     1},
    {"weight must be positive",
     RULE "        weight: 0\n",
     {"features.f.rules[0].weight: 0 is out of range: must be > 0"},
     1},
    {"negative limit",
     RULE "        baseline: {window: 1h}\n        max_increase: -5%\n",
     {"t.yaml:14:23: features.f.rules[0].max_increase: must be >= 0, got -5%"},
     1},
    {"limit not a number",
     RULE "        baseline: {window: 1h}\n        max_increase: lots\n",
     {"features.f.rules[0].max_increase: expected a number or a percentage (e.g. 25 or 20%), "
      "got 'lots'"},
     1},
    {"threshold order",
     RULE "        threshold: {min: 10, warn_min: 5, max: 1}\n",
     {"t.yaml:13:20: features.f.rules[0].threshold: min (10) must be <= max (1)",
      "features.f.rules[0].threshold: min (10) must be <= warn_min (5)"},
     2},
    {"warn_max above max",
     RULE "        threshold: {warn_max: 300, max: 250}\n",
     {"features.f.rules[0].threshold: warn_max (300) must be <= max (250)"},
     1},
    {"empty threshold",
     RULE "        threshold: {}\n",
     {"features.f.rules[0].threshold: a threshold needs at least one of min, max"},
     1},
    {"score warning above pass",
     BASE "  f:\n    score: {pass: 80%, warning: 90%}\n"
          "    rules: []\n",
     {"t.yaml:10:12: features.f.score: warning (90%) must be <= pass (80%)"},
     1},
    /* placeholders: the column of the placeholder inside the query */
    {"unknown placeholder plain",
     BASE "  f:\n    rules:\n      - name: r\n"
          "        query: SELECT x FROM y WHERE env = {{ envv }}\n",
     {"t.yaml:12:44: features.f.rules[0].query: unknown placeholder '{{ envv }}' (known: env, "
      "wave, feature, flag, start, end, window, target)"},
     1},
    {"unknown placeholder double-quoted",
     BASE "  f:\n    rules:\n      - name: r\n"
          "        query: \"SELECT {{start}} {{nope}}\"\n",
     {"t.yaml:12:34: features.f.rules[0].query: unknown placeholder '{{nope}}'"},
     1},
    {"unknown placeholder literal block",
     BASE "  f:\n    rules:\n      - name: r\n"
          "        query: |\n"
          "          SELECT x FROM y\n"
          "          WHERE a = {{ env }} AND b = {{ region }}\n",
     {"t.yaml:14:39: features.f.rules[0].query: unknown placeholder '{{ region }}'"},
     1},
    {"unknown placeholder folded block",
     BASE "  f:\n    rules:\n      - name: r\n"
          "        query: >-\n"
          "          SELECT x FROM y\n"
          "          WHERE a = {{ env }} AND b = {{ nope }}\n",
     {"t.yaml:14:39: features.f.rules[0].query: unknown placeholder '{{ nope }}'"},
     1},
    {"two bad placeholders",
     BASE "  f:\n    rules:\n      - name: r\n"
          "        query: SELECT {{ a }}, {{b}}\n",
     {"t.yaml:12:23: features.f.rules[0].query: unknown placeholder '{{ a }}'",
      "t.yaml:12:32: features.f.rules[0].query: unknown placeholder '{{b}}'"},
     2},
    {"unclosed placeholder",
     BASE "  f:\n    rules:\n      - name: r\n"
          "        query: SELECT {{ env } x\n",
     {"t.yaml:12:23: features.f.rules[0].query: unclosed '{{' in the query"},
     1},
    /* missing required keys */
    {"missing query",
     BASE "  f:\n    rules:\n      - name: r\n",
     {"t.yaml:11:9: features.f.rules[0].query: missing required key 'query'"},
     1},
    {"missing rule name",
     BASE "  f:\n    rules:\n      - query: SELECT 1\n",
     {"t.yaml:11:9: features.f.rules[0].name: missing required key 'name'"},
     1},
    {"missing url",
     "sources:\n  db:\n    database: d\n",
     {"t.yaml:3:5: sources.db.url: missing required key 'url'"},
     1},
    {"missing rules",
     BASE "  f:\n    flag: x\n",
     {"t.yaml:10:5: features.f.rules: missing required key 'rules'"},
     1},
    {"missing wave name",
     "waves:\n  - env: x\n",
     {"t.yaml:2:5: waves[0].name: missing required key 'name'"},
     1},
    {"influxql needs database",
     "sources:\n  db:\n    url: http://h\n",
     {"t.yaml:3:5: sources.db.database: missing required key 'database' (needed by kind "
      "influxql)"},
     1},
    {"flux needs org",
     "sources:\n  db:\n    kind: flux\n    url: http://h\n",
     {"t.yaml:3:5: sources.db.org: kind flux needs org or org_id"},
     1},
    {"username needs password_env",
     "sources:\n  db:\n    url: http://h\n    database: d\n    username: u\n",
     {"t.yaml:5:15: sources.db.password_env: username needs password_env"},
     1},
    {"api only for influxql",
     "sources:\n  db:\n    kind: sql\n    api: v3\n    url: http://h\n    database: d\n",
     {"t.yaml:4:10: sources.db.api: api applies to kind influxql only"},
     1},
    {"bad url scheme",
     "sources:\n  db:\n    url: ftp://h\n    database: d\n",
     {"t.yaml:3:10: sources.db.url: invalid URL 'ftp://h': must start with http:// or https://"},
     1},
    {"cert without key",
     "sources:\n  db: {url: https://h, database: d, tls: {cert_file: c}}\n",
     {"t.yaml:2:42: sources.db.tls: cert_file and key_file must be given together"},
     1},
    /* references */
    {"unknown rule source",
     RULE "        source: nope\n",
     {"t.yaml:13:17: features.f.rules[0].source: unknown source 'nope' (defined: db)"},
     1},
    {"unknown wave source",
     "sources:\n  db: {url: http://h, database: d}\nwaves:\n  - name: w\n    source: dbb\n",
     {"t.yaml:5:13: waves[0].source: unknown source 'dbb' (defined: db)"},
     1},
    {"unknown override wave",
     RULE "        waves:\n          production: {min_samples: 3}\n",
     {"t.yaml:14:11: features.f.rules[0].waves.production: unknown wave 'production' (defined: "
      "staging)"},
     1},
    {"no effective source",
     "sources:\n  db: {url: http://h, database: d}\n"
     "waves:\n  - name: a\n    source: db\n  - name: b\n"
     "features:\n  f:\n    rules:\n      - name: r\n        query: SELECT 1\n",
     {"t.yaml:10:9: features.f.rules[0]: rule 'r' has no source and wave 'b' has none: set "
      "source on the rule or on the wave"},
     1},
    {"duplicate wave",
     "sources:\n  db: {url: http://h, database: d}\n"
     "waves:\n  - name: a\n    source: db\n  - {name: a, source: db}\n",
     {"t.yaml:6:12: waves[1].name: duplicate wave name 'a' (first defined at line 4:5)"},
     1},
    /* cross-field rules */
    {"mann-whitney needs a baseline",
     RULE "        judge: mann-whitney\n",
     {"t.yaml:13:16: features.f.rules[0].judge: judge mann-whitney needs a baseline"},
     1},
    {"max_increase needs a baseline",
     RULE "        max_increase: 20%\n",
     {"t.yaml:13:23: features.f.rules[0].max_increase: max_increase compares against a "
      "baseline"},
     1},
    {"override max_decrease needs a baseline",
     RULE "        waves: {staging: {max_decrease: 5}}\n",
     {"t.yaml:13:41: features.f.rules[0].waves.staging.max_decrease: max_decrease compares "
      "against a baseline"},
     1},
    {"baseline mixed forms",
     RULE "        baseline: {window: 30m, previous: 3}\n",
     {"t.yaml:13:19: features.f.rules[0].baseline: a baseline is one of previous, {window: "
      "30m}"},
     1},
    {"baseline pinned needs end",
     RULE "        baseline: {start: 2024-05-01T00:00:00Z}\n",
     {"features.f.rules[0].baseline: a baseline is one of"},
     1},
    {"baseline start after end",
     RULE "        baseline: {start: 2024-05-02T00:00:00Z, end: 2024-05-01T00:00:00Z}\n",
     {"features.f.rules[0].baseline: baseline start must be before its end"},
     1},
    {"baseline bad scalar",
     RULE "        baseline: yesterday\n",
     {"t.yaml:13:19: features.f.rules[0].baseline: expected previous, {window: 30m}"},
     1},
    {"baseline and split",
     RULE "        baseline: {window: 1h}\n"
          "        split: {tag: v, baseline: a, canary: b}\n",
     {"t.yaml:14:16: features.f.rules[0].split: a baseline is given twice"},
     1},
    {"split missing canary",
     RULE "        split: {tag: v, baseline: a}\n",
     {"t.yaml:13:16: features.f.rules[0].split.canary: missing required key 'canary'"},
     1},
    /* one state directory: the top-level state_dir (issue "Fail closed everywhere") */
    {"server.state_dir moved",
     "server:\n  listen: 127.0.0.1:8080\n  state_dir: /var/lib/wavegate\n",
     {"t.yaml:3:14: server.state_dir: moved to the top-level state_dir"},
     1},
    {"a moved key is not offered as allowed",
     "server:\n  lisen: 127.0.0.1:8080\n",
     {"t.yaml:2:3: server.lisen: unknown key 'lisen' (allowed: listen, bearer_token_env, "
      "bearer_token_file, max_body, external_url, cache_ttl,"},
     1},
    /* server.evaluations: the evidence pages' retention */
    {"server.evaluations unknown key",
     "server:\n  evaluations: {keep: 10, max_ages: 7d}\n",
     {"t.yaml:2:27: server.evaluations.max_ages: unknown key 'max_ages' (allowed: keep, "
      "max_age)"},
     1},
    {"server.evaluations.keep out of range",
     "server:\n  evaluations:\n    keep: 0\n",
     {"t.yaml:3:11: server.evaluations.keep:"},
     1},
    {"server.evaluations.max_age below a minute",
     "server:\n  evaluations:\n    max_age: 10s\n",
     {"t.yaml:3:14: server.evaluations.max_age: duration 10s is out of range (must be >= 60s)"},
     1},
    {"server.evaluations not a mapping",
     "server:\n  evaluations: 100\n",
     {"t.yaml:2:16: server.evaluations:"},
     1},
    /* YAML itself */
    {"yaml syntax error",
     "sources:\n  db: [1, 2\nwaves: []\n",
     {"t.yaml:3:6: YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
      "sequence at line 2:7)"},
     1},
    {"yaml bad indentation",
     "sources:\n  db:\n    url: x\n   database: d\n",
     {"t.yaml:4:4: YAML syntax error:"},
     1},
    {"yaml tab",
     "sources:\n\tdb: {}\n",
     {"t.yaml:2:1: YAML syntax error: found character that cannot start any token"},
     1},
    {"alias rejected",
     "sources:\n  db: &x {url: http://h, database: d}\n  db2: *x\n",
     {"t.yaml:2:7: sources.db: YAML anchors (&x) are not supported",
      "t.yaml:3:8: sources.db2: YAML aliases (*x) are not supported"},
     -1},
    {"two documents",
     "sources: {}\n---\nwaves: []\n",
     {"t.yaml:2:1: only one YAML document is allowed"},
     -1},
    {"empty file", "", {"t.yaml:1:1: the config is empty"}, 1},
    {"invalid utf-8",
     "sources:\n  db\xff: {}\n",
     {"t.yaml:2:5: YAML error: invalid leading UTF-8 octet"},
     1},
};


static void test_errors(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ecase *tc = &cases[i];
        struct wg_diags d = {0};
        struct wg_config *cfg = NULL;
        enum wg_err rc = wg_config_load_mem("t.yaml", tc->yaml, strlen(tc->yaml), &cfg, &d);
        char *got = render_diags(&d);
        int bad = rc != WG_ECONFIG || cfg != NULL ||
                  (tc->nerrors >= 0 && d.nerrors != (size_t)tc->nerrors);
        for (size_t k = 0; k < 3 && tc->want[k]; k++) {
            bad |= strstr(got, tc->want[k]) == NULL;
        }
        if (bad) {
            print_error("case %zu \"%s\": rc=%s nerrors=%zu (want %d)\n", i, tc->name,
                        wg_strerror(rc), d.nerrors, tc->nerrors);
            for (size_t k = 0; k < 3 && tc->want[k]; k++) {
                print_error("  want: %s\n", tc->want[k]);
            }
            print_error("  got:\n%s\n", got);
            failed++;
        }
        free(got);
        wg_config_free(cfg);
        wg_diags_free(&d);
    }
    assert_int_equal(failed, 0);
}

/* All errors are collected, not just the first, and in file order within a section. */
static void test_collects_all(void **state)
{
    (void)state;
    static const char y[] = "sources:\n"
                            "  db:\n"
                            "    url: http://h\n"
                            "    database: d\n"
                            "    timeout: soon\n"
                            "    retries: many\n"
                            "waves:\n"
                            "  - name: w\n"
                            "    source: db\n"
                            "    colour: blue\n"
                            "features:\n"
                            "  f:\n"
                            "    rules:\n"
                            "      - name: r\n"
                            "        query: SELECT {{ x }}\n"
                            "        window: forever\n"
                            "        reduce: avg\n";
    struct wg_diags d = {0};
    struct wg_config *cfg = NULL;
    assert_int_equal(wg_config_load_mem("c.yaml", y, strlen(y), &cfg, &d), WG_ECONFIG);
    assert_null(cfg);
    static const struct {
        int line, col;
        const char *key;
    } want[] = {
        {5, 14, "sources.db.timeout"},
        {6, 14, "sources.db.retries"},
        {10, 5, "waves[0].colour"},
        {15, 23, "features.f.rules[0].query"},
        {16, 17, "features.f.rules[0].window"},
        {17, 17, "features.f.rules[0].reduce"},
    };
    char *got = render_diags(&d);
    int failed = d.n != sizeof(want) / sizeof(want[0]);
    for (size_t i = 0; !failed && i < d.n; i++) {
        failed |= d.v[i].line != want[i].line || d.v[i].col != want[i].col ||
                  strcmp(d.v[i].key, want[i].key) != 0 || d.v[i].warning;
    }
    if (failed) {
        print_error("want %zu errors at 5:14 6:14 10:5 15:23 16:17 17:17, got:\n%s",
                    sizeof(want) / sizeof(want[0]), got);
    }
    free(got);
    assert_int_equal(failed, 0);
    assert_int_equal(d.nerrors, 6);
    wg_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_collects_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
