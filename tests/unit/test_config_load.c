/* test_config_load.c — a config that sets every field decodes to exactly those values (sources,
 * TLS, waves and their defaults, features, scores, rules, baselines, overrides, labels), the
 * defaults of what is left out, and loading from a file on disk.
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
#include <unistd.h>

#include "config/config.h"

#define S(x) ((int64_t)(x)*WG_NS_PER_SEC)

static const char full_yaml[] =
    "sources:\n"
    "  tools:\n"
    "    kind: influxql\n"
    "    api: v3\n"
    "    url: https://influx.example.com:8086//\n"
    "    database: telemetry\n"
    "    retention_policy: autogen\n"
    "    token_env: INFLUX_TOKEN\n"
    "    timeout: 15s\n"
    "    connect_timeout: 2s\n"
    "    max_response_bytes: 64MiB\n"
    "    max_concurrency: 4\n"
    "    retries: 3\n"
    "    chunk_size: 0\n"
    "    tls:\n"
    "      ca_file: /etc/ca.pem\n"
    "      cert_file: /etc/cert.pem\n"
    "      key_file: /etc/key.pem\n"
    "      insecure_skip_verify: false\n"
    "  cloud:\n"
    "    kind: flux\n"
    "    url: http://127.0.0.1:8087\n"
    "    org: acme\n"
    "    org_id: 0123456789abcdef\n"
    "    username: reader\n"
    "    password_env: INFLUX_PASSWORD\n"
    "    max_response_bytes: 10MB\n"
    "  lake:\n"
    "    kind: sql\n"
    "    url: http://127.0.0.1:8181\n"
    "    database: metrics\n"
    "    max_response_bytes: 4096\n"
    "waves:\n"
    "  - name: staging\n"
    "    env: stg\n"
    "    source: tools\n"
    "    defaults:\n"
    "      min_samples: 3\n"
    "      no_data: pass\n"
    "      window: 5m\n"
    "      severity: warning\n"
    "  - name: production\n"
    "    source: cloud\n"
    "features:\n"
    "  checkout:\n"
    "    flag: checkout_v2\n"
    "    score: {pass: 90%, warning: 75%}\n"
    "    rules:\n"
    "      - name: p95-latency\n"
    "        source: lake\n"
    "        query: SELECT p95 FROM http WHERE env = {{ env }} AND time >= {{start}}\n"
    "        field: p95\n"
    "        reduce: p95\n"
    "        window: 10m\n"
    "        delay: 1m30s\n"
    "        threshold: {min: 1, warn_min: 2, warn_max: 200, max: 250.5}\n"
    "        min_samples: 7\n"
    "        no_data: fail\n"
    "        severity: page\n"
    "        labels: {team: payments, tier: 1}\n"
    "        dry_run: true\n"
    "        weight: 2.5\n"
    "        key: true\n"
    "        baseline: {window: 30m}\n"
    "        max_increase: 30%\n"
    "        max_decrease: 12.5\n"
    "        waves:\n"
    "          staging:\n"
    "            threshold: {max: 400}\n"
    "            min_samples: 1\n"
    "            no_data: inconclusive\n"
    "            window: 2m\n"
    "            delay: 0s\n"
    "            max_increase: 50%\n"
    "            max_decrease: 1\n"
    "            allowed_increase: 5%\n"
    "            allowed_decrease: 6%\n"
    "            confidence: 0.9\n"
    "            severity: info\n"
    "            dry_run: false\n"
    "            weight: 0.5\n"
    "            key: false\n"
    "            reduce: max\n"
    "            direction: either\n"
    "      - name: latency-shift\n"
    "        query: |\n"
    "          SELECT \"latency_ms\" FROM \"http\"\n"
    "          WHERE \"env\" = {{ env }} AND time >= {{ start }} AND time < {{ end }}\n"
    "        judge: mann-whitney\n"
    "        direction: increase\n"
    "        allowed_increase: 10%\n"
    "        allowed_decrease: 3\n"
    "        confidence: 0.99\n"
    "        outliers: iqr\n"
    "        split: {tag: version, baseline: stable, canary: canary}\n"
    "      - name: pinned\n"
    "        query: SELECT 1\n"
    "        baseline: {start: 2024-05-01T10:00:00Z, end: \"2024-05-01T11:00:00Z\"}\n"
    "      - name: prev\n"
    "        query: SELECT 1\n"
    "        baseline: previous\n"
    "      - name: prev3\n"
    "        query: SELECT 1\n"
    "        baseline: {previous: 3}\n"
    "      - name: split2\n"
    "        query: SELECT 1\n"
    "        judge: mann-whitney\n"
    "        baseline: {split: {tag: v, baseline: a, canary: b}}\n"
    "state_dir: /var/lib/wavegate\n";

static void test_full_roundtrip(void **state)
{
    (void)state;
    struct wg_diags d = {0};
    struct wg_config *cfg = NULL;
    enum wg_err rc = wg_config_load_mem("full.yaml", full_yaml, strlen(full_yaml), &cfg, &d);
    if (rc != WG_OK) {
        wg_diags_print(&d, stderr);
    }
    assert_int_equal(rc, WG_OK);
    assert_int_equal(d.n, 0);
    assert_string_equal(cfg->path, "full.yaml");
    assert_string_equal(cfg->state_dir, "/var/lib/wavegate");

    /* sources */
    assert_int_equal(cfg->nsources, 3);
    const struct wg_source *s = wg_config_source(cfg, "tools");
    assert_non_null(s);
    assert_string_equal(s->name, "tools");
    assert_int_equal(s->kind, WG_SRC_INFLUXQL);
    assert_int_equal(s->api, WG_API_V3);
    assert_string_equal(s->url, "https://influx.example.com:8086");
    assert_string_equal(s->database, "telemetry");
    assert_string_equal(s->retention_policy, "autogen");
    assert_string_equal(s->token_env, "INFLUX_TOKEN");
    assert_null(s->username);
    assert_true(s->timeout_ns == S(15));
    assert_true(s->connect_timeout_ns == S(2));
    assert_int_equal(s->max_response_bytes, 64u * 1024 * 1024);
    assert_int_equal(s->max_concurrency, 4);
    assert_int_equal(s->retries, 3);
    assert_int_equal(s->chunk_size, 0);
    assert_string_equal(s->tls.ca_file, "/etc/ca.pem");
    assert_string_equal(s->tls.cert_file, "/etc/cert.pem");
    assert_string_equal(s->tls.key_file, "/etc/key.pem");
    assert_int_equal(s->tls.insecure_skip_verify, 0);
    assert_ptr_equal(s->pos.file, cfg->path);
    assert_int_equal(s->pos.line, 2);
    assert_int_equal(s->pos.col, 3);

    s = wg_config_source(cfg, "cloud");
    assert_non_null(s);
    assert_int_equal(s->kind, WG_SRC_FLUX);
    assert_string_equal(s->url, "http://127.0.0.1:8087");
    assert_string_equal(s->org, "acme");
    assert_string_equal(s->org_id, "0123456789abcdef");
    assert_string_equal(s->username, "reader");
    assert_string_equal(s->password_env, "INFLUX_PASSWORD");
    assert_int_equal(s->max_response_bytes, 10000000u);
    /* defaults */
    assert_true(s->timeout_ns == S(10));
    assert_true(s->connect_timeout_ns == S(5));
    assert_int_equal(s->max_concurrency, 8);
    assert_int_equal(s->retries, 2);
    assert_int_equal(s->chunk_size, 10000);
    assert_int_equal(s->max_series, 100000);
    assert_int_equal(s->compression, WG_COMPRESS_AUTO);
    assert_null(s->tls.ca_file);

    s = wg_config_source(cfg, "lake");
    assert_non_null(s);
    assert_int_equal(s->kind, WG_SRC_SQL);
    assert_int_equal(s->max_response_bytes, 4096);
    s = wg_config_source(cfg, "nope");
    assert_null(s);

    /* waves */
    assert_int_equal(cfg->nwaves, 2);
    const struct wg_wave *w = wg_config_wave(cfg, "staging");
    assert_non_null(w);
    assert_string_equal(w->env, "stg");
    assert_string_equal(w->source, "tools");
    assert_int_equal(w->defaults.set,
                     WG_P_MIN_SAMPLES | WG_P_NO_DATA | WG_P_WINDOW | WG_P_SEVERITY);
    assert_int_equal(w->defaults.min_samples, 3);
    assert_int_equal(w->defaults.no_data, WG_NODATA_PASS);
    assert_true(w->defaults.window_ns == S(300));
    assert_string_equal(w->defaults.severity, "warning");
    assert_int_equal(w->pos.line, 34);
    assert_int_equal(w->pos.col, 5);
    w = wg_config_wave(cfg, "production");
    assert_non_null(w);
    assert_string_equal(w->env, "production"); /* env defaults to the name */
    assert_int_equal(w->defaults.set, 0);

    /* features */
    assert_int_equal(cfg->nfeatures, 1);
    const struct wg_feature *f = wg_config_feature(cfg, "checkout");
    assert_non_null(f);
    assert_string_equal(f->flag, "checkout_v2");
    assert_int_equal(f->score.enabled, 1);
    assert_true(f->score.pass_pct == 90);
    assert_true(f->score.warn_pct == 75);
    assert_int_equal(f->nrules, 6);

    const struct wg_rule *r = &f->rules[0];
    assert_string_equal(r->name, "p95-latency");
    assert_ptr_equal(r->feature, f->name);
    assert_string_equal(r->source, "lake");
    assert_string_equal(r->query,
                        "SELECT p95 FROM http WHERE env = {{ env }} AND time >= {{start}}");
    assert_int_equal(r->query_pos.line, 51);
    assert_int_equal(r->query_pos.col, 16);
    assert_string_equal(r->field, "p95");
    assert_int_equal(r->judge, WG_JUDGE_THRESHOLD);
    assert_int_equal(r->p.reduce, WG_REDUCE_P95);
    assert_true(r->p.window_ns == S(600));
    assert_true(r->p.delay_ns == S(90));
    assert_true(r->p.threshold.has_min && r->p.threshold.has_max && r->p.threshold.has_warn_min &&
                r->p.threshold.has_warn_max);
    assert_true(r->p.threshold.min == 1 && r->p.threshold.warn_min == 2);
    assert_true(r->p.threshold.warn_max == 200 && r->p.threshold.max == 250.5);
    assert_int_equal(r->p.min_samples, 7);
    assert_int_equal(r->p.no_data, WG_NODATA_FAIL);
    assert_string_equal(r->p.severity, "page");
    assert_int_equal(r->nlabels, 2);
    assert_string_equal(r->labels[0].key, "team");
    assert_string_equal(r->labels[0].value, "payments");
    assert_string_equal(r->labels[1].key, "tier");
    assert_string_equal(r->labels[1].value, "1");
    assert_int_equal(r->p.dry_run, 1);
    assert_true(r->p.weight == 2.5);
    assert_int_equal(r->p.key, 1);
    assert_int_equal(r->baseline.kind, WG_BASELINE_WINDOW);
    assert_true(r->baseline.window_ns == S(1800));
    assert_true(r->p.max_increase.set && r->p.max_increase.percent &&
                r->p.max_increase.value == 30);
    assert_true(r->p.max_decrease.set && !r->p.max_decrease.percent &&
                r->p.max_decrease.value == 12.5);
    assert_int_equal(r->p.set, WG_P_THRESHOLD | WG_P_MIN_SAMPLES | WG_P_NO_DATA | WG_P_WINDOW |
                                   WG_P_DELAY | WG_P_MAX_INCREASE | WG_P_MAX_DECREASE |
                                   WG_P_SEVERITY | WG_P_DRY_RUN | WG_P_WEIGHT | WG_P_KEY |
                                   WG_P_REDUCE);
    assert_int_equal(r->pos.line, 49);
    assert_int_equal(r->pos.col, 9);

    assert_int_equal(r->noverrides, 1);
    const struct wg_wave_override *o = &r->overrides[0];
    assert_string_equal(o->wave, "staging");
    assert_int_equal(o->pos.line, 68);
    assert_int_equal(o->p.set, 0xffffu); /* every WG_P_* bit */
    assert_true(o->p.threshold.has_max && !o->p.threshold.has_min && o->p.threshold.max == 400);
    assert_int_equal(o->p.min_samples, 1);
    assert_int_equal(o->p.no_data, WG_NODATA_INCONCLUSIVE);
    assert_true(o->p.window_ns == S(120));
    assert_true(o->p.delay_ns == 0);
    assert_true(o->p.max_increase.percent && o->p.max_increase.value == 50);
    assert_true(!o->p.max_decrease.percent && o->p.max_decrease.value == 1);
    assert_true(o->p.allowed_increase.set && o->p.allowed_increase.value == 5);
    assert_true(o->p.allowed_decrease.set && o->p.allowed_decrease.value == 6);
    assert_true(o->p.confidence == 0.9);
    assert_string_equal(o->p.severity, "info");
    assert_int_equal(o->p.dry_run, 0);
    assert_true(o->p.weight == 0.5);
    assert_int_equal(o->p.key, 0);
    assert_int_equal(o->p.reduce, WG_REDUCE_MAX);
    assert_int_equal(o->p.direction, WG_DIR_EITHER);

    r = &f->rules[1];
    assert_string_equal(r->name, "latency-shift");
    assert_null(r->source);
    assert_string_equal(r->query, "SELECT \"latency_ms\" FROM \"http\"\nWHERE \"env\" = {{ env }} "
                                  "AND time >= {{ start }} AND time < {{ end }}\n");
    assert_int_equal(r->judge, WG_JUDGE_MANN_WHITNEY);
    assert_int_equal(r->p.direction, WG_DIR_INCREASE);
    assert_true(r->p.allowed_increase.percent && r->p.allowed_increase.value == 10);
    assert_true(!r->p.allowed_decrease.percent && r->p.allowed_decrease.value == 3);
    assert_true(r->p.confidence == 0.99);
    assert_int_equal(r->outliers_iqr, 1);
    assert_int_equal(r->baseline.kind, WG_BASELINE_SPLIT);
    assert_string_equal(r->baseline.split_tag, "version");
    assert_string_equal(r->baseline.split_baseline, "stable");
    assert_string_equal(r->baseline.split_canary, "canary");
    assert_int_equal(r->p.min_samples, 50); /* the mann-whitney default */
    assert_false(r->p.set & WG_P_MIN_SAMPLES);
    assert_string_equal(r->p.severity, "critical");
    assert_int_equal(r->nlabels, 0);

    r = &f->rules[2];
    assert_int_equal(r->baseline.kind, WG_BASELINE_PINNED);
    assert_true(r->baseline.start_ns == INT64_C(1714557600) * WG_NS_PER_SEC);
    assert_true(r->baseline.end_ns == INT64_C(1714561200) * WG_NS_PER_SEC);
    assert_int_equal(r->p.min_samples, 1);
    assert_true(r->p.window_ns == S(600));
    assert_true(r->p.confidence == 0.98);
    assert_true(r->p.weight == 1);
    assert_int_equal(r->p.no_data, WG_NODATA_INCONCLUSIVE);
    assert_int_equal(r->p.set, 0);
    assert_null(r->field);
    assert_int_equal(r->outliers_iqr, 0);

    r = &f->rules[3];
    assert_int_equal(r->baseline.kind, WG_BASELINE_PREVIOUS);
    assert_int_equal(r->baseline.previous_count, 5);
    r = &f->rules[4];
    assert_int_equal(r->baseline.kind, WG_BASELINE_PREVIOUS);
    assert_int_equal(r->baseline.previous_count, 3);
    r = &f->rules[5];
    assert_int_equal(r->baseline.kind, WG_BASELINE_SPLIT);
    assert_string_equal(r->baseline.split_tag, "v");
    assert_string_equal(r->baseline.split_canary, "b");

    assert_null(wg_config_feature(cfg, "nope"));
    assert_null(wg_config_wave(cfg, NULL));
    wg_config_free(cfg);
    wg_diags_free(&d);
}

static void test_minimal_defaults(void **state)
{
    (void)state;
    static const char y[] = "sources:\n"
                            "  db: {url: 'http://h:8086/', database: d}\n"
                            "waves:\n"
                            "  - name: prod\n"
                            "    source: db\n"
                            "features:\n"
                            "  f:\n"
                            "    rules:\n"
                            "      - {name: r, query: SELECT 1}\n";
    struct wg_diags d = {0};
    struct wg_config *cfg = NULL;
    setenv("XDG_STATE_HOME", "/tmp/xdg-state", 1);
    assert_int_equal(wg_config_load_mem("m.yaml", y, strlen(y), &cfg, &d), WG_OK);
    assert_string_equal(cfg->state_dir, "/tmp/xdg-state/wavegate");
    char *dflt = wg_config_default_state_dir(); /* the one place the default is decided */
    assert_string_equal(dflt, cfg->state_dir);
    free(dflt);
    assert_string_equal(cfg->sources[0].url, "http://h:8086");
    assert_int_equal(cfg->sources[0].kind, WG_SRC_INFLUXQL);
    assert_int_equal(cfg->sources[0].api, WG_API_V1);
    assert_int_equal(cfg->sources[0].max_response_bytes, 256u * 1024 * 1024);
    assert_int_equal(cfg->features[0].score.enabled, 0);
    assert_null(cfg->features[0].flag);
    wg_config_free(cfg);
    unsetenv("XDG_STATE_HOME");
    assert_int_equal(wg_config_load_mem("m.yaml", y, strlen(y), &cfg, &d), WG_OK);
    assert_string_equal(cfg->state_dir, "./.wavegate");
    wg_config_free(cfg);
    wg_diags_free(&d);
    wg_config_free(NULL);
}

/* A warning does not fail the load. */
static void test_warning_only(void **state)
{
    (void)state;
    static const char y[] = "sources:\n"
                            "  db:\n"
                            "    url: https://h\n"
                            "    database: d\n"
                            "    tls: {insecure_skip_verify: true}\n"
                            "features:\n  f: {rules: [{name: r, query: SELECT 1, source: db}]}\n";
    struct wg_diags d = {0};
    struct wg_config *cfg = NULL;
    assert_int_equal(wg_config_load_mem("w.yaml", y, strlen(y), &cfg, &d), WG_OK);
    assert_non_null(cfg);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.nerrors, 0);
    assert_int_equal(d.v[0].warning, 1);
    assert_int_equal(d.v[0].line, 5);
    assert_int_equal(d.v[0].col, 33);
    assert_string_equal(d.v[0].key, "sources.db.tls.insecure_skip_verify");
    assert_int_equal(cfg->sources[0].tls.insecure_skip_verify, 1);
    wg_config_free(cfg);
    wg_diags_free(&d);
}

/* validate warns when a wave has nothing to judge: no features at all, features without
 * rules, or only rules that are dry_run in that wave. Still a valid config. */
static void test_no_rules_warnings(void **state)
{
    (void)state;
#define SW "sources:\n  db: {url: 'http://h', database: d}\nwaves:\n  - {name: a, source: db}\n" \
           "  - {name: b, source: db}\n"
    static const struct {
        const char *name, *yaml, *want;
    } cases[] = {
        {"no features", SW,
         "t.yaml:1:1: warning: features: no features are defined: every wave has no rules, so a "
         "check has nothing to judge\n"},
        {"empty features", SW "features: {}\n",
         "t.yaml:6:11: warning: features: no features are defined: every wave has no rules, so a "
         "check has nothing to judge\n"},
        {"no features, no waves", "sources:\n  db: {url: 'http://h', database: d}\n",
         "t.yaml:1:1: warning: features: no features are defined: every wave has no rules, so a "
         "check has nothing to judge\n"},
        {"features without rules", SW "features:\n  f: {rules: []}\n",
         "t.yaml:7:14: warning: features.f.rules: feature 'f' has no rules\n"
         "t.yaml:4:5: warning: waves[0]: wave 'a' has no rules: no feature has any, so a check "
         "has nothing to judge\n"
         "t.yaml:5:5: warning: waves[1]: wave 'b' has no rules: no feature has any, so a check "
         "has nothing to judge\n"},
        {"only dry-run rules in one wave",
         SW "features:\n  f:\n    rules:\n"
            "      - {name: r, query: SELECT 1, waves: {b: {dry_run: true}}}\n"
            "  g:\n    rules:\n      - {name: s, query: SELECT 1, dry_run: true,\n"
            "         waves: {a: {dry_run: false}}}\n",
         "t.yaml:5:5: warning: waves[1]: wave 'b' has no rules: every rule is dry_run in this "
         "wave, so a check has nothing to judge\n"},
        {"every wave judged", SW "features:\n  f: {rules: [{name: r, query: SELECT 1}]}\n", ""},
    };
#undef SW
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wg_diags d = {0};
        struct wg_config *cfg = NULL;
        enum wg_err rc = wg_config_load_mem("t.yaml", cases[i].yaml, strlen(cases[i].yaml), &cfg,
                                            &d);
        char *got = render_diags(&d);
        if (rc != WG_OK || d.nerrors || strcmp(got, cases[i].want) != 0) {
            print_error("%s: want ok and\n%s--- got %s and\n%s---\n", cases[i].name,
                        cases[i].want, wg_strerror(rc), got);
            failed++;
        }
        free(got);
        wg_config_free(cfg);
        wg_diags_free(&d);
    }
    assert_int_equal(failed, 0);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/wg-config-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(full_yaml, f);
    fputs("bogus: 1\n", f);
    fclose(f);

    struct wg_diags d = {0};
    struct wg_config *cfg = (struct wg_config *)&d; /* must be reset to NULL on failure */
    assert_int_equal(wg_config_load(path, &cfg, &d), WG_ECONFIG);
    assert_null(cfg);
    assert_int_equal(d.nerrors, 1);
    assert_string_equal(d.v[0].file, path);
    assert_int_equal(d.v[0].line, 110);
    assert_int_equal(d.v[0].col, 1);
    wg_diags_free(&d);

    /* the same file without the bad key loads, positions name the file */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(full_yaml, f);
    fclose(f);
    assert_int_equal(wg_config_load(path, &cfg, &d), WG_OK);
    assert_string_equal(cfg->path, path);
    assert_ptr_equal(cfg->features[0].rules[0].pos.file, cfg->path);
    assert_ptr_equal(cfg->waves[0].pos.file, cfg->path);
    wg_config_free(cfg);
    unlink(path);

    assert_int_equal(wg_config_load(path, &cfg, &d), WG_EIO);
    assert_null(cfg);
    assert_int_equal(d.nerrors, 1);
    assert_non_null(strstr(d.v[0].msg, "cannot open the config"));
    wg_diags_free(&d);
}

/* The README's example config is valid and loads without a warning. */
static void test_example(void **state)
{
    (void)state;
    char path[4096];
    const char *here = __FILE__; /* .../tests/unit/test_config_load.c */
    const char *cut = strstr(here, "tests/unit/");
    assert_non_null(cut);
    snprintf(path, sizeof(path), "%.*sexamples/wavegate.yaml", (int)(cut - here), here);
    struct wg_diags d = {0};
    struct wg_config *cfg = NULL;
    enum wg_err rc = wg_config_load(path, &cfg, &d);
    if (rc != WG_OK || d.n) {
        wg_diags_print(&d, stderr);
    }
    assert_int_equal(rc, WG_OK);
    assert_int_equal(d.n, 0);
    assert_int_equal(cfg->nsources, 3);
    assert_int_equal(cfg->nwaves, 3);
    assert_int_equal(cfg->nfeatures, 2);
    const struct wg_feature *f = wg_config_feature(cfg, "checkout");
    assert_non_null(f);
    assert_int_equal(f->nrules, 5);
    assert_int_equal(f->rules[2].judge, WG_JUDGE_MANN_WHITNEY);
    assert_int_equal(f->rules[3].baseline.kind, WG_BASELINE_SPLIT);
    assert_int_equal(f->rules[4].baseline.kind, WG_BASELINE_PREVIOUS);
    wg_config_free(cfg);
    wg_diags_free(&d);
}

static void test_compression(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        int ok;
        enum wg_compression want;
    } cases[] = {{"auto", 1, WG_COMPRESS_AUTO}, {"gzip", 1, WG_COMPRESS_GZIP},
                 {"none", 1, WG_COMPRESS_NONE}, {"brotli", 0, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = wg_asprintf("sources:\n  db: {url: http://h:1, database: d, compression: %s}\n"
                                 "waves: [{name: w, source: db}]\nfeatures: {}\n",
                                 cases[i].v);
        struct wg_config *cfg = NULL;
        struct wg_diags d = {0};
        enum wg_err rc = wg_config_load_mem("c.yaml", text, strlen(text), &cfg, &d);
        if ((rc == WG_OK) != cases[i].ok) {
            print_error("compression %s: want ok=%d, got rc=%d\n", cases[i].v, cases[i].ok, rc);
            wg_diags_print(&d, stderr);
        }
        assert_int_equal(rc == WG_OK, cases[i].ok);
        if (cfg) {
            assert_int_equal(cfg->sources[0].compression, cases[i].want);
        } else {
            assert_true(d.n > 0 && strstr(d.v[0].msg, "auto, gzip, none") != NULL);
        }
        wg_config_free(cfg);
        wg_diags_free(&d);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compression),
        cmocka_unit_test(test_full_roundtrip), cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_warning_only),   cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_example),        cmocka_unit_test(test_no_rules_warnings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
