/* test_gate_fleet.c — fleet waves without a live data source: the wave policy over every pair
 * of target verdicts under each policy (and percentages, no target at all), targets from a
 * list and from a matrix (names, labels, sources, env defaults) with their config errors, and
 * one check against a refusing source: each target planned with its own source, labels in the
 * query, its own deploy time, an unknown target or deploy-time target refused, nothing passing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate/gate_int.h"
#include "tmp_helper.h"

static const char *const VNAMES = "PWIEF"; /* pass warn inconclusive error fail */

static enum wg_verdict vof(char c)
{
    return (enum wg_verdict)(strchr(VNAMES, c) - VNAMES);
}

/* Every unordered pair of target verdicts ("nothing judged" reaches the policy as I) under
 * four policies: all; max_failed 1; max_unreachable 1; min_targets 1. Both orders are run. */
static void test_policy_pairs(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want; /* all, max_failed 1, max_unreachable 1, min_targets 1 */
    } cases[] = {
        {"PP", "PPPP"}, {"PW", "WWWW"}, {"PI", "IIWW"}, {"PE", "EEWE"}, {"PF", "FWFF"},
        {"WW", "WWWW"}, {"WI", "IIWW"}, {"WE", "EEWE"}, {"WF", "FWFF"}, {"II", "IIII"},
        {"IE", "EEIE"}, {"IF", "FIFF"}, {"EE", "EEEE"}, {"EF", "FEFF"}, {"FF", "FFFF"},
    };
    struct wg_wave_policy pols[4];
    memset(pols, 0, sizeof(pols));
    pols[1].max_failed = (struct wg_limit){1, 0, 1};
    pols[2].max_unreachable = (struct wg_limit){1, 0, 1};
    pols[3].min_targets = 1;
    int bad = 0;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (int order = 0; order < 2; order++) {
            enum wg_verdict v[2] = {vof(cases[c].in[order]), vof(cases[c].in[1 - order])};
            for (size_t p = 0; p < 4; p++) {
                struct wg_policy_counts k;
                enum wg_verdict got = wg_gate_combine_targets(&pols[p], v, 2, &k);
                if (got != vof(cases[c].want[p])) {
                    printf("targets %c,%c policy %zu: want %c got %c\n", cases[c].in[order],
                           cases[c].in[1 - order], p, cases[c].want[p], VNAMES[got]);
                    bad++;
                }
            }
        }
    }
    assert_int_equal(bad, 0);
    /* no target at all is never a pass, whatever the policy */
    for (size_t p = 0; p < 4; p++) {
        struct wg_policy_counts k;
        assert_int_equal(wg_gate_combine_targets(&pols[p], NULL, 0, &k), WG_INCONCLUSIVE);
    }
}

static void test_policy_percent(void **state)
{
    (void)state;
    enum wg_verdict v[10];
    for (size_t i = 0; i < 10; i++) {
        v[i] = i < 2 ? WG_FAIL : WG_PASS;
    }
    struct wg_wave_policy p = {0};
    struct wg_policy_counts k;
    p.max_failed = (struct wg_limit){1, 1, 10}; /* 10% of 10 = 1: two failures fail */
    assert_int_equal(wg_gate_combine_targets(&p, v, 10, &k), WG_FAIL);
    assert_int_equal(k.max_failed, 1);
    p.max_failed.value = 20; /* 2: tolerated, with a warning */
    assert_int_equal(wg_gate_combine_targets(&p, v, 10, &k), WG_WARN);
    p.max_failed.value = 19.9; /* rounded down: 1 */
    assert_int_equal(wg_gate_combine_targets(&p, v, 10, &k), WG_FAIL);
    v[0] = v[1] = WG_NOEVAL; /* outages are not failures: max_failed does not excuse them */
    p.max_failed.value = 50;
    assert_int_equal(wg_gate_combine_targets(&p, v, 10, &k), WG_NOEVAL);
    p.max_unreachable = (struct wg_limit){1, 1, 20};
    assert_int_equal(wg_gate_combine_targets(&p, v, 10, &k), WG_WARN);
    for (size_t i = 2; i < 10; i++) {
        v[i] = WG_INCONCLUSIVE; /* too few with data */
    }
    assert_int_equal(wg_gate_combine_targets(&p, v, 10, &k), WG_INCONCLUSIVE);
}

static const char *const YAML_HEAD =
    "sources:\n"
    "  influx-aws-us-east-1: {kind: influxql, url: 'http://127.0.0.1:1', database: d, "
    "retries: 0, connect_timeout: 1s}\n"
    "  influx-aws-eu-west-1: {kind: influxql, url: 'http://127.0.0.1:1', database: d, "
    "retries: 0, connect_timeout: 1s}\n"
    "  influx-gcp-us-east-1: {kind: influxql, url: 'http://127.0.0.1:1', database: d, "
    "retries: 0, connect_timeout: 1s}\n"
    "  influx-gcp-eu-west-1: {kind: influxql, url: 'http://127.0.0.1:1', database: d, "
    "retries: 0, connect_timeout: 1s}\n";

static enum wg_err load(const char *waves, struct wg_config **cfg, struct wg_diags *d)
{
    static const char feats[] =
        "features:\n"
        "  f:\n"
        "    rules:\n"
        "      - name: r\n"
        "        query: SELECT x FROM y WHERE region = {{ region }} AND t = {{ target }} AND "
        "time >= {{ start }}\n"
        "        threshold: {max: 1}\n";
    char *y = wg_asprintf("%s%s%s", YAML_HEAD, waves, feats);
    assert_non_null(y);
    memset(d, 0, sizeof(*d));
    enum wg_err rc = wg_config_load_mem("t.yaml", y, strlen(y), cfg, d);
    free(y);
    return rc;
}

static void test_config_targets(void **state)
{
    (void)state;
    struct wg_config *cfg = NULL;
    struct wg_diags d;
    enum wg_err rc = load("waves:\n"
                          "  - name: staging\n"
                          "    env: stg\n"
                          "    targets:\n"
                          "      - {name: use1, source: influx-aws-us-east-1, labels: {region: "
                          "us-east-1}}\n"
                          "      - {name: euw1, env: stg-eu, source: influx-aws-eu-west-1}\n"
                          "  - name: prod\n"
                          "    require: {max_failed: 25%, max_unreachable: 1}\n"
                          "    targets:\n"
                          "      matrix: {cloud: [aws, gcp], region: [us-east-1, eu-west-1]}\n"
                          "      source: 'influx-{{ cloud }}-{{ region }}'\n",
                          &cfg, &d);
    if (rc != WG_OK) {
        wg_diags_print(&d, stdout);
    }
    assert_int_equal(rc, WG_OK);
    const struct wg_wave *s = wg_config_wave(cfg, "staging"), *p = wg_config_wave(cfg, "prod");
    assert_int_equal(s->ntargets, 2);
    assert_string_equal(s->targets[0].env, "stg"); /* the wave's env by default */
    assert_string_equal(s->targets[1].env, "stg-eu");
    assert_string_equal(wg_config_target_label(&s->targets[0], "region"), "us-east-1");
    assert_int_equal(p->ntargets, 4);
    static const char *const names[] = {"aws-us-east-1", "aws-eu-west-1", "gcp-us-east-1",
                                        "gcp-eu-west-1"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(p->targets[i].name, names[i]);
        char *src = wg_asprintf("influx-%s", names[i]);
        assert_string_equal(p->targets[i].source, src);
        free(src);
        assert_int_equal(p->targets[i].nlabels, 2);
    }
    assert_string_equal(wg_config_target_label(&p->targets[2], "cloud"), "gcp");
    assert_true(p->policy.max_failed.set && p->policy.max_failed.percent);
    assert_int_equal((int)p->policy.max_unreachable.value, 1);
    wg_config_free(cfg);
    wg_diags_free(&d);
}

static void test_config_errors(void **state)
{
    (void)state;
    static const struct {
        const char *waves;
        const char *want;
    } cases[] = {
        {"waves:\n  - name: w\n    targets:\n      - {name: a, source: influx-aws-us-east-1}\n"
         "      - {name: a, source: influx-aws-us-east-1}\n",
         "t.yaml:10:9: waves[0].targets: duplicate target name 'a'"},
        {"waves:\n  - name: w\n    targets:\n      - {name: a, source: nope}\n",
         "waves[0].targets.a: unknown source 'nope'"},
        {"waves:\n  - name: w\n    targets:\n      - {name: a}\n",
         "target 'a' has no source and the wave has none"},
        {"waves:\n  - name: w\n    targets:\n      matrix: {region: [x]}\n      source: "
         "'s-{{ zone }}'\n",
         "waves[0].targets.source: unknown placeholder '{{ zone }}'"},
        {"waves:\n  - name: w\n    targets:\n      matrix: {start: [x]}\n",
         "label key 'start' is a built-in placeholder"},
        {"waves:\n  - name: w\n    targets:\n      - {name: a, source: influx-aws-us-east-1, "
         "labels: {bad-key: x}}\n",
         "must be an identifier"},
        {"waves:\n  - name: w\n    source: influx-aws-us-east-1\n    require: {max_failed: "
         "150%}\n    targets:\n      - {name: a}\n",
         "at most 100%"},
        {"waves:\n  - name: w\n    source: influx-aws-us-east-1\n    require: some\n",
         "waves[0].require: expected all, or {max_failed"},
        {"waves:\n  - name: w\n    targets:\n      matrix: {region: [a, b]}\n      zone: x\n",
         "unknown key 'zone' (allowed: matrix, name, env, source)"},
    };
    int bad = 0;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct wg_config *cfg = NULL;
        struct wg_diags d;
        enum wg_err rc = load(cases[c].waves, &cfg, &d);
        int found = 0;
        for (size_t i = 0; i < d.n; i++) {
            char line[1024];
            snprintf(line, sizeof(line), "%s:%d:%d: %s: %s", d.v[i].file, d.v[i].line, d.v[i].col,
                     d.v[i].key ? d.v[i].key : "", d.v[i].msg);
            found |= strstr(line, cases[c].want) != NULL;
        }
        if (rc != WG_ECONFIG || !found) {
            printf("case %zu: want an error containing \"%s\", got rc=%d:\n", c, cases[c].want,
                   (int)rc);
            wg_diags_print(&d, stdout);
            bad++;
        }
        wg_config_free(cfg);
        wg_diags_free(&d);
    }
    assert_int_equal(bad, 0);
}

#define T0 (INT64_C(1714564800) * WG_NS_PER_SEC) /* 2024-05-01T12:00:00Z */

static void test_check_targets(void **state)
{
    (void)state;
    struct wg_config *cfg = NULL;
    struct wg_diags d;
    assert_int_equal(load("waves:\n"
                          "  - name: prod\n"
                          "    targets:\n"
                          "      matrix: {cloud: [aws, gcp], region: [us-east-1, eu-west-1]}\n"
                          "      source: 'influx-{{ cloud }}-{{ region }}'\n",
                          &cfg, &d),
                     WG_OK);
    char err[512];
    struct wg_check_report *rep = NULL;
    struct wg_check_req req = {
        .wave = "prod", .deploy_ns = T0, .now_ns = T0 + 3600 * WG_NS_PER_SEC};
    req.target = "nowhere";
    assert_int_equal(wg_gate_check(cfg, &req, &rep, err, sizeof(err)), WG_ENOTFOUND);
    assert_non_null(strstr(err, "unknown target \"nowhere\" of wave prod (known: aws-us-east-1"));
    req.target = NULL;
    struct wg_deploy_time dt[2] = {{"gcp-eu-west-1", T0 + 120 * WG_NS_PER_SEC}, {"x", T0}};
    req.deploy_times = dt;
    req.ndeploy_times = 2;
    assert_int_equal(wg_gate_check(cfg, &req, &rep, err, sizeof(err)), WG_ENOTFOUND);
    assert_non_null(strstr(err, "deploy time for unknown target \"x\""));
    req.ndeploy_times = 1;
    assert_int_equal(wg_gate_check(cfg, &req, &rep, err, sizeof(err)), WG_OK);
    assert_int_equal(rep->ntargets, 4);
    assert_int_equal(rep->nrules, 4);
    assert_true(rep->fleet);
    for (size_t t = 0; t < 4; t++) {
        const struct wg_target_report *tr = &rep->targets[t];
        const struct wg_rule_report *rr = &rep->rules[tr->rule0];
        assert_int_equal(tr->nrules, 1);
        assert_int_equal(rr->target, t);
        char *want = wg_asprintf("region = '%s' AND t = '%s'",
                                 wg_config_target_label(tr->target, "region"), tr->name);
        assert_non_null(strstr(rr->query, want));
        free(want);
        char *src = wg_asprintf("influx-%s", tr->name);
        assert_string_equal(rr->source, src);
        free(src);
        /* its own deploy time anchors its window */
        assert_int_equal(rr->start_ns, t == 3 ? T0 + 120 * WG_NS_PER_SEC : T0);
        assert_int_equal(tr->verdict, WG_NOEVAL); /* the source refuses: never a pass */
    }
    assert_int_equal(rep->verdict, WG_NOEVAL);
    assert_non_null(strstr(rep->reason, "could not evaluate: aws-us-east-1"));
    char *js = wg_gate_report_json(rep);
    assert_non_null(strstr(js, "\"targets\":[{\"target\":\"aws-us-east-1\""));
    free(js);
    wg_check_report_free(rep);
    /* one target asked for: that target's verdict, one target in the report */
    req.target = "gcp-us-east-1";
    assert_int_equal(wg_gate_check(cfg, &req, &rep, err, sizeof(err)), WG_OK);
    assert_int_equal(rep->ntargets, 1);
    assert_string_equal(rep->targets[0].name, "gcp-us-east-1");
    wg_check_report_free(rep);
    wg_config_free(cfg);
    wg_diags_free(&d);
}

/* baseline: previous keeps each fleet target's own history ("wave/target"): one region's
 * passing values never become another's baseline. */
static void test_history_per_target(void **state)
{
    (void)state;
    char dir[64];
    assert_non_null(wg_tmp_dir(dir, sizeof(dir), "wg-fleet-hist"));
    struct wg_rule rule = {0};
    rule.name = "p95";
    rule.baseline.kind = WG_BASELINE_PREVIOUS;
    struct wg_feature feat = {0};
    feat.name = "f";
    feat.rules = &rule;
    feat.nrules = 1;
    rule.feature = feat.name;
    struct wg_rule_report rr[2];
    memset(rr, 0, sizeof(rr));
    double vals[2] = {10, 99};
    char *keys[2] = {"prod/a", "prod/b"};
    for (int i = 0; i < 2; i++) {
        rr[i].feature = &feat;
        rr[i].rule = &rule;
        rr[i].p.min_samples = 1;
        rr[i].end_ns = T0;
        rr[i].history_wave = keys[i];
        rr[i].res = (struct wg_rule_result){.verdict = WG_PASS, .has_value = 1, .value = vals[i],
                                            .samples = 5};
    }
    struct wg_check_report rep = {0};
    rep.wave = "prod";
    rep.rules = rr;
    rep.nrules = 2;
    wg__gate_state_record(dir, &rep);
    struct wg_seriesset ss = {0};
    char err[256];
    assert_int_equal(wg__gate_state_previous(dir, &rule, "prod/a", 5, &ss, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_seriesset_points(&ss), 1);
    assert_true(ss.s[0].v[0] == 10);
    wg_seriesset_free(&ss);
    assert_int_equal(wg__gate_state_previous(dir, &rule, "prod", 5, &ss, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_seriesset_points(&ss), 0); /* not mixed into the wave's own */
    wg_seriesset_free(&ss);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_pairs),   cmocka_unit_test(test_policy_percent),
        cmocka_unit_test(test_config_targets), cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_check_targets), cmocka_unit_test(test_history_per_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
