/* test_gate_check.c — the gate's own decisions, without a data source: rule windows anchored
 * on the deploy (delay, baselines), exit codes, the JSON verdict's shape (warn passes, non-finite
 * values are null), and check --wait's loop (spacing, limits, errors never failing) with an
 * injected clock against a source that refuses connections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate/gate_int.h"

#define MIN (60 * WG_NS_PER_SEC)
#define T0 (INT64_C(1714564800) * WG_NS_PER_SEC) /* 2024-05-01T12:00:00Z */

static void test_windows(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum wg_baseline_kind bk;
        int64_t deploy, delay, window, bwindow, now;
        int64_t want_start, want_end;
        int want_base;
        int64_t want_bstart, want_bend;
    } cases[] = {
        {"deploy anchored", WG_BASELINE_NONE, T0, 0, 10 * MIN, 0, T0 + 60 * MIN, T0,
         T0 + 10 * MIN, 0, 0, 0},
        {"delay shifts the window", WG_BASELINE_NONE, T0, 2 * MIN, 10 * MIN, 0, T0 + 60 * MIN,
         T0 + 2 * MIN, T0 + 12 * MIN, 0, 0, 0},
        {"no deploy: the last window", WG_BASELINE_NONE, 0, 2 * MIN, 10 * MIN, 0, T0, T0 - 10 * MIN,
         T0, 0, 0, 0},
        /* the baseline ends at the deploy itself: the warm-up delay is in neither */
        {"baseline before the deploy", WG_BASELINE_WINDOW, T0, 2 * MIN, 10 * MIN, 30 * MIN,
         T0 + 60 * MIN, T0 + 2 * MIN, T0 + 12 * MIN, 1, T0 - 30 * MIN, T0},
        {"baseline without deploy precedes the window", WG_BASELINE_WINDOW, 0, 0, 10 * MIN,
         30 * MIN, T0, T0 - 10 * MIN, T0, 1, T0 - 40 * MIN, T0 - 10 * MIN},
        {"pinned baseline", WG_BASELINE_PINNED, T0, 0, 10 * MIN, 0, T0 + 60 * MIN, T0,
         T0 + 10 * MIN, 1, T0 - 7 * 1440 * MIN, T0 - 7 * 1440 * MIN + 60 * MIN},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wg_rule r;
        struct wg_rule_params p;
        memset(&r, 0, sizeof(r));
        memset(&p, 0, sizeof(p));
        r.baseline.kind = cases[i].bk;
        r.baseline.window_ns = cases[i].bwindow;
        r.baseline.start_ns = T0 - 7 * 1440 * MIN;
        r.baseline.end_ns = T0 - 7 * 1440 * MIN + 60 * MIN;
        p.delay_ns = cases[i].delay;
        p.window_ns = cases[i].window;
        struct wg_gate_windows w;
        wg_gate_windows(&r, &p, cases[i].deploy, cases[i].now, &w);
        if (w.start_ns != cases[i].want_start || w.end_ns != cases[i].want_end ||
            w.has_baseline != cases[i].want_base ||
            (w.has_baseline && (w.baseline_start_ns != cases[i].want_bstart ||
                                w.baseline_end_ns != cases[i].want_bend))) {
            print_error("%s: want [%lld,%lld) base %d [%lld,%lld), got [%lld,%lld) base %d "
                        "[%lld,%lld)\n",
                        cases[i].name, (long long)cases[i].want_start,
                        (long long)cases[i].want_end, cases[i].want_base,
                        (long long)cases[i].want_bstart, (long long)cases[i].want_bend,
                        (long long)w.start_ns, (long long)w.end_ns, w.has_baseline,
                        (long long)w.baseline_start_ns, (long long)w.baseline_end_ns);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

static void test_exit_codes(void **state)
{
    (void)state;
    static const struct {
        enum wg_verdict v;
        int want;
    } cases[] = {{WG_PASS, 0}, {WG_WARN, 0}, {WG_FAIL, 1}, {WG_INCONCLUSIVE, 2}, {WG_ERROR, 3}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = wg_gate_exit_code(cases[i].v);
        if (got != cases[i].want) {
            print_error("%s: want exit %d, got %d\n", wg_verdict_name(cases[i].v), cases[i].want,
                        got);
        }
        assert_int_equal(got, cases[i].want);
    }
}

/* A one-rule report built by hand, as gate_check would fill it. */
static void test_report_json(void **state)
{
    (void)state;
    struct wg_feature f;
    struct wg_rule r;
    memset(&f, 0, sizeof(f));
    memset(&r, 0, sizeof(r));
    f.name = "checkout";
    r.name = "p95";
    r.feature = f.name;
    f.rules = &r;
    f.nrules = 1;
    struct wg_group_result groups[2];
    memset(groups, 0, sizeof(groups));
    struct wg_label la = {"host", "a"}, lb = {"host", "b"};
    groups[0].labels = &la;
    groups[0].nlabels = 1;
    groups[0].verdict = WG_WARN;
    groups[0].has_value = 1;
    groups[0].value = 190;
    groups[1].labels = &lb;
    groups[1].nlabels = 1;
    groups[1].verdict = WG_PASS;
    groups[1].has_value = 1;
    groups[1].value = NAN; /* never printed as a number */
    struct wg_rule_report rr;
    memset(&rr, 0, sizeof(rr));
    rr.feature = &f;
    rr.rule = &r;
    rr.p.threshold.has_max = 1;
    rr.p.threshold.max = 250;
    rr.p.threshold.has_warn_max = 1;
    rr.p.threshold.warn_max = 180;
    rr.p.severity = "critical";
    rr.start_ns = T0;
    rr.end_ns = T0 + 10 * MIN;
    rr.res.verdict = WG_WARN;
    rr.res.has_value = 1;
    rr.res.value = 190;
    rr.res.samples = 42;
    snprintf(rr.res.reason, sizeof(rr.res.reason), "p95 190 > warn_max 180");
    rr.res.groups = groups;
    rr.res.ngroups = 2;
    struct wg_feature_report fr = {&f, WG_WARN, -1};
    struct wg_check_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.verdict = WG_WARN;
    rep.wave = "staging";
    rep.env = "stg";
    rep.start_ns = T0;
    rep.end_ns = T0 + 10 * MIN;
    rep.rules = &rr;
    rep.nrules = 1;
    rep.features = &fr;
    rep.nfeatures = 1;

    char *js = wg_gate_report_json(&rep);
    assert_non_null(js);
    cJSON *d = cJSON_Parse(js);
    assert_non_null(d);
    /* a warning passes the gate, and says so */
    assert_string_equal(cJSON_GetObjectItem(d, "verdict")->valuestring, "pass");
    assert_int_equal(cJSON_GetObjectItem(d, "warnings")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "window"), "start")->valuestring,
                        "2024-05-01T12:00:00Z");
    cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "rules"), 0);
    assert_string_equal(cJSON_GetObjectItem(r0, "verdict")->valuestring, "warn");
    assert_true(cJSON_GetObjectItem(r0, "value")->valuedouble == 190);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(r0, "threshold"), "max")->valuedouble ==
                250);
    assert_int_equal(cJSON_GetObjectItem(r0, "samples")->valueint, 42);
    cJSON *g1 = cJSON_GetArrayItem(cJSON_GetObjectItem(r0, "groups"), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(g1, "labels"), "host")->valuestring,
                        "b");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(g1, "value")));
    cJSON_Delete(d);
    free(js);
}

/* ---- check --wait with an injected clock ---------------------------------------------- */

struct clock {
    int64_t now;
    int64_t slept_to[16];
    int nsleeps;
};

static int64_t fake_now(void *ud)
{
    return ((struct clock *)ud)->now;
}

static int fake_sleep(void *ud, int64_t until)
{
    struct clock *c = ud;
    if (c->nsleeps < 16) {
        c->slept_to[c->nsleeps] = until;
    }
    c->nsleeps++;
    c->now = until;
    return 0;
}

static void count_look(void *ud, int look, const struct wg_check_report *rep,
                       const struct wg_limits_state *st)
{
    (void)rep;
    (void)st;
    (void)ud;
    assert_true(look >= 1);
}

static void test_wait_outage_is_error(void **state)
{
    (void)state;
    /* port 9 (discard) on loopback: nothing listens, every look is "could not evaluate" */
    static const char yaml[] = "sources:\n  db: {url: 'http://127.0.0.1:9', database: d, "
                               "retries: 0, timeout: 2s}\n"
                               "waves: [{name: w, source: db}]\n"
                               "features:\n  f:\n    rules:\n"
                               "      - {name: r, query: 'SELECT 1', threshold: {max: 1}}\n";
    struct wg_config *cfg = NULL;
    struct wg_diags d = {0};
    assert_int_equal(wg_config_load_mem("w.yaml", yaml, strlen(yaml), &cfg, &d), WG_OK);
    struct clock c = {.now = T0};
    struct wg_wait_opts o;
    memset(&o, 0, sizeof(o));
    o.interval_ns = MIN;
    o.count = 10;
    o.limits.count = 10;
    o.limits.failure_limit = 0;
    o.limits.consecutive_failures = -1;
    o.limits.inconclusive_limit = 10;
    o.limits.error_limit = 2; /* a third error in a row ends it */
    o.on_look = count_look;
    o.ud = &c;
    o.now = fake_now;
    o.sleep_until = fake_sleep;
    struct wg_check_req req = {.wave = "w"};
    struct wg_limits_state st;
    struct wg_check_report *last = NULL;
    char err[256];
    assert_int_equal(wg_gate_wait(cfg, &req, &o, &st, &last, err, sizeof(err)), WG_OK);
    assert_non_null(last);
    if (st.verdict != WG_ERROR || st.measurements != 3) {
        print_error("want error after 3 looks, got %s after %d (%s)\n",
                    wg_verdict_name(st.verdict), st.measurements, st.reason);
    }
    assert_int_equal(st.verdict, WG_ERROR); /* an outage never fails a deploy */
    assert_int_equal(st.measurements, 3);
    assert_int_equal(st.failures, 0);
    /* looks are an interval apart on the injected clock, not after each other's duration */
    assert_int_equal(c.nsleeps, 2);
    assert_true(c.slept_to[0] == T0 + MIN && c.slept_to[1] == T0 + 2 * MIN);
    assert_int_equal(wg_gate_exit_code(st.verdict), WG_EXIT_ERROR);
    wg_check_report_free(last);

    /* an unknown wave is the caller's mistake, reported before any look */
    req.wave = "nope";
    c.nsleeps = 0;
    assert_int_equal(wg_gate_wait(cfg, &req, &o, &st, &last, err, sizeof(err)), WG_ENOTFOUND);
    assert_null(last);
    assert_non_null(strstr(err, "unknown wave \"nope\""));
    assert_int_equal(c.nsleeps, 0);
    wg_config_free(cfg);
    wg_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_report_json),
        cmocka_unit_test(test_wait_outage_is_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
