/* test_gate_check.c — the gate's own decisions, without a data source: rule windows anchored
 * on the deploy (delay, baselines), exit codes, the JSON verdict's shape (warn passes, non-finite
 * values are null), the wave over its features (every pair; nothing judged is inconclusive),
 * history recorded only when the caller asks, the analysis step, and check --wait's loop
 * (spacing, limits, errors never failing) with an injected clock against a refusing source.
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
#include <unistd.h>

#include "gate/gate_int.h"

#define MIN (60 * WG_NS_PER_SEC)
#define T0 (INT64_C(1714564800) * WG_NS_PER_SEC) /* 2024-05-01T12:00:00Z */

/* One rule's windows asked of wg_gate_windows. */
struct win_in {
    const char *name;
    enum wg_baseline_kind bk;
    int64_t deploy, delay, window, bwindow, now;
};

/* wg_gate_windows for in (pinned: with a pinned baseline a week before T0, one hour long). */
static enum wg_err windows_of(const struct win_in *in, int pinned, struct wg_gate_windows *w)
{
    struct wg_rule r;
    struct wg_rule_params p;
    memset(&r, 0, sizeof(r));
    memset(&p, 0, sizeof(p));
    r.baseline.kind = in->bk;
    r.baseline.window_ns = in->bwindow;
    if (pinned) {
        r.baseline.start_ns = T0 - 7 * 1440 * MIN;
        r.baseline.end_ns = T0 - 7 * 1440 * MIN + 60 * MIN;
    }
    p.delay_ns = in->delay;
    p.window_ns = in->window;
    return wg_gate_windows(&r, &p, in->deploy, in->now, w);
}

static void test_windows(void **state)
{
    (void)state;
    static const struct {
        struct win_in in;
        int64_t want_start, want_end;
        int want_base;
        int64_t want_bstart, want_bend;
    } cases[] = {
        {{"deploy anchored", WG_BASELINE_NONE, T0, 0, 10 * MIN, 0, T0 + 60 * MIN},
         T0, T0 + 10 * MIN, 0, 0, 0},
        {{"delay shifts the window", WG_BASELINE_NONE, T0, 2 * MIN, 10 * MIN, 0, T0 + 60 * MIN},
         T0 + 2 * MIN, T0 + 12 * MIN, 0, 0, 0},
        {{"no deploy: the last window", WG_BASELINE_NONE, 0, 2 * MIN, 10 * MIN, 0, T0},
         T0 - 10 * MIN, T0, 0, 0, 0},
        /* the baseline ends at the deploy itself: the warm-up delay is in neither */
        {{"baseline before the deploy", WG_BASELINE_WINDOW, T0, 2 * MIN, 10 * MIN, 30 * MIN,
          T0 + 60 * MIN},
         T0 + 2 * MIN, T0 + 12 * MIN, 1, T0 - 30 * MIN, T0},
        {{"baseline without deploy precedes the window", WG_BASELINE_WINDOW, 0, 0, 10 * MIN,
          30 * MIN, T0},
         T0 - 10 * MIN, T0, 1, T0 - 40 * MIN, T0 - 10 * MIN},
        {{"pinned baseline", WG_BASELINE_PINNED, T0, 0, 10 * MIN, 0, T0 + 60 * MIN},
         T0, T0 + 10 * MIN, 1, T0 - 7 * 1440 * MIN, T0 - 7 * 1440 * MIN + 60 * MIN},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wg_gate_windows w;
        enum wg_err rc = windows_of(&cases[i].in, 1, &w);
        if (rc != WG_OK || w.start_ns != cases[i].want_start || w.end_ns != cases[i].want_end ||
            w.has_baseline != cases[i].want_base ||
            (w.has_baseline && (w.baseline_start_ns != cases[i].want_bstart ||
                                w.baseline_end_ns != cases[i].want_bend))) {
            print_error("%s: want [%lld,%lld) base %d [%lld,%lld), got [%lld,%lld) base %d "
                        "[%lld,%lld)\n",
                        cases[i].in.name, (long long)cases[i].want_start,
                        (long long)cases[i].want_end, cases[i].want_base,
                        (long long)cases[i].want_bstart, (long long)cases[i].want_bend,
                        (long long)w.start_ns, (long long)w.end_ns, w.has_baseline,
                        (long long)w.baseline_start_ns, (long long)w.baseline_end_ns);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

/* Bounds that do not fit in int64 ns are refused, never wrapped: the window then never ends.
 * (The old sums wrapped 2262-04-11T23:40:00Z + 10m to 1677: an ended window.) */
static void test_windows_overflow(void **state)
{
    (void)state;
    const int64_t late = INT64_C(9223371600) * WG_NS_PER_SEC; /* 2262-04-11T23:40:00Z */
    static const int64_t early = INT64_MIN + MIN;
    struct win_in cases[] = {
        {"deploy + window", WG_BASELINE_NONE, late, 0, 10 * MIN, 0, T0},
        {"deploy + delay", WG_BASELINE_NONE, INT64_MAX - MIN, 2 * MIN, MIN, 0, T0},
        {"now - window", WG_BASELINE_NONE, 0, 0, 10 * MIN, 0, early},
        {"deploy - baseline window", WG_BASELINE_WINDOW, early, 0, MIN, 10 * MIN, T0},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wg_gate_windows w;
        enum wg_err rc = windows_of(&cases[i], 0, &w);
        if (rc != WG_EINVAL || w.start_ns != INT64_MAX || w.end_ns != INT64_MAX ||
            w.has_baseline) {
            print_error("%s: want EINVAL [max,max) no baseline, got %s [%lld,%lld) base %d\n",
                        cases[i].name, wg_strerror(rc), (long long)w.start_ns,
                        (long long)w.end_ns, w.has_baseline);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

/* Wave w of one feature f, its source a closed loopback port (9, discard): every look at it is
 * "could not evaluate"; the rules follow. */
#define DEAD_WAVE                                                                                  \
    "sources:\n  db: {url: 'http://127.0.0.1:9', database: d, retries: 0, timeout: 2s}\n"          \
    "waves: [{name: w, source: db}]\n"                                                             \
    "features:\n  f:\n    rules:\n"

static struct wg_config *load(const char *yaml)
{
    struct wg_config *cfg = NULL;
    struct wg_diags d = {0};
    enum wg_err rc = wg_config_load_mem("t.yaml", yaml, strlen(yaml), &cfg, &d);
    if (rc != WG_OK) {
        wg_diags_print(&d, stderr);
    }
    wg_diags_free(&d);
    assert_int_equal(rc, WG_OK);
    return cfg;
}

/* The false pass end to end: a deploy time whose window end wrapped, no_data: pass. Whatever
 * the entry points let through, the gate says "could not evaluate", not pass. */
static void test_check_overflow_never_passes(void **state)
{
    (void)state;
    struct wg_config *cfg = load(DEAD_WAVE "      - {name: r, query: 'SELECT 1', no_data: pass, "
                                           "threshold: {max: 1}}\n");
    struct wg_check_req req = {.wave = "w",
                               .deploy_ns = INT64_C(9223371600) * WG_NS_PER_SEC,
                               .now_ns = T0,
                               .state_dir = "/nonexistent/wavegate-test"};
    struct wg_check_report *rep = NULL;
    char err[256];
    assert_int_equal(wg_gate_check(cfg, &req, &rep, err, sizeof(err)), WG_OK);
    assert_non_null(rep);
    if (rep->verdict != WG_NOEVAL) {
        print_error("want error, got %s (%s)\n", wg_verdict_name(rep->verdict),
                    rep->nrules ? rep->rules[0].res.reason : "");
    }
    assert_int_equal(rep->verdict, WG_NOEVAL);
    assert_non_null(strstr(rep->rules[0].res.reason, "window out of range"));
    wg_check_report_free(rep);
    wg_config_free(cfg);
}

static void test_exit_codes(void **state)
{
    (void)state;
    static const struct {
        enum wg_verdict v;
        int want;
    } cases[] = {{WG_PASS, 0}, {WG_WARN, 0}, {WG_FAIL, 1}, {WG_INCONCLUSIVE, 2}, {WG_NOEVAL, 3}};
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
/* f holding the one rule r, both named */
static void one_rule_feature(struct wg_feature *f, struct wg_rule *r, char *fname,
                             char *rname)
{
    memset(f, 0, sizeof(*f));
    memset(r, 0, sizeof(*r));
    f->name = fname;
    r->name = rname;
    r->feature = f->name;
    f->rules = r;
    f->nrules = 1;
}

static void test_report_json(void **state)
{
    (void)state;
    struct wg_feature f;
    struct wg_rule r;
    one_rule_feature(&f, &r, "checkout", "p95");
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
    struct wg_feature_report fr = {&f, WG_WARN, -1, 0};
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

/* The report's JSON is written directly (gate_report.c), not through a cJSON tree: it must be
 * the bytes cJSON_PrintUnformatted gives for the same members, so what cJSON reads back and
 * prints again is the same string, over every kind of member (a fleet target, a baseline
 * window, Mann-Whitney, the family's budget, percent limits, dry-run) and over strings and
 * numbers that are awkward to print. */
static void test_report_json_as_cjson_prints_it(void **state)
{
    (void)state;
    static const char *const strs[] = {"plain", "q\"uote", "back\\slash", "ctl\x01\x1f.",
                                       "\b\f\n\r\t", "utf-8 \xc3\xa9 /slash", ""};
    static const double nums[] = {0.1,     1.0 / 3,        1e300,    -2.5e-7,   2147483647.0,
                                  2147483648.0, -2147483648.0, -2147483649.5, -0.0, 1e15 + 0.3,
                                  123456789012345678.0, 5e-324, 100,    -7,        0.5};
    size_t ns = sizeof(strs) / sizeof(strs[0]), nn = sizeof(nums) / sizeof(nums[0]);
    struct wg_feature f;
    struct wg_rule r;
    one_rule_feature(&f, &r, "feat\"ure", "r\\ule");
    r.baseline.kind = WG_BASELINE_PREVIOUS;
    struct wg_label labs[2] = {{"k\"ey", "v\nal"}, {"region", "eu\x02"}};
    struct wg_target tg = {.name = "t\x7f", .labels = labs, .nlabels = 2};
    struct wg_group_result groups[8];
    struct wg_rule_report rrs[8];
    memset(groups, 0, sizeof(groups));
    memset(rrs, 0, sizeof(rrs));
    for (size_t i = 0; i < 8; i++) {
        struct wg_group_result *g = &groups[i];
        g->labels = labs;
        g->nlabels = i % 3;
        g->verdict = (enum wg_verdict)(i % 5);
        g->has_value = i != 3;
        g->value = nums[i % nn];
        g->has_baseline = i % 2;
        g->baseline = nums[(i + 5) % nn];
        g->samples = i * 1000;
        g->test.tested = i % 2 == 0;
        g->test.p = nums[(i + 7) % nn];
        g->test.family = i > 4;
        g->test.p_adj = nums[(i + 2) % nn];
        g->test.level = 0.05 / (double)(i + 1);
        g->test.family_n = i;
        snprintf(g->reason, sizeof(g->reason), "%s", strs[i % ns]);
        struct wg_rule_report *rr = &rrs[i];
        rr->feature = &f;
        rr->rule = &r;
        rr->p.threshold.has_max = 1;
        rr->p.threshold.max = nums[(i + 1) % nn];
        rr->p.threshold.has_min = i % 2;
        rr->p.threshold.min = i == 5 ? INFINITY : nums[(i + 3) % nn];
        rr->p.threshold.has_warn_max = i % 3 == 0;
        rr->p.threshold.warn_max = nums[(i + 4) % nn];
        rr->p.max_increase = (struct wg_limit){1, (int)(i % 2), nums[(i + 6) % nn]};
        rr->p.allowed_decrease = (struct wg_limit){i % 2 == 0, 1, 12.5};
        rr->p.severity = i % 2 ? NULL : "warning";
        rr->p.dry_run = i == 2;
        rr->query = i == 4 ? NULL : (char *)strs[i % ns];
        rr->source = (char *)"src";
        rr->start_ns = T0;
        rr->end_ns = T0 + (int64_t)i * MIN;
        rr->has_baseline_window = i % 2;
        rr->baseline_start_ns = T0 - 60 * MIN;
        rr->baseline_end_ns = T0 - 50 * MIN;
        rr->res.verdict = (enum wg_verdict)((i + 1) % 5);
        rr->res.has_value = i != 5;
        rr->res.value = i == 7 ? NAN : nums[(i + 8) % nn];
        rr->res.has_baseline = i % 3 == 1;
        rr->res.baseline = nums[(i + 9) % nn];
        rr->res.samples = i * 7;
        rr->res.tested = i == 1;
        rr->res.dry_run = i == 3;
        rr->res.has_mw = i % 4 == 0;
        rr->res.mw = (struct wg_mw_result){.u = nums[i % nn], .z = -1.5, .p_value = 1e-9,
                                           .shift = nums[(i + 10) % nn], .shift_lo = -INFINITY,
                                           .ratio = 1.25, .n_current = 30, .n_baseline = 31};
        snprintf(rr->res.reason, sizeof(rr->res.reason), "why %s", strs[(i + 3) % ns]);
        rr->res.groups = groups;
        rr->res.ngroups = i;
        rr->target = 0;
    }
    struct wg_feature_report fr[2] = {{&f, WG_WARN, 12.5, 0}, {&f, WG_FAIL, -1, 0}};
    struct wg_target_report tr = {.target = &tg, .name = "t\x7f", .env = "prod\"x",
                                  .source = NULL, .deploy_ns = T0, .verdict = WG_FAIL,
                                  .rule0 = 0, .nrules = 8};
    snprintf(tr.reason, sizeof(tr.reason), "%s", strs[3]);
    struct wg_check_report rep = {.verdict = WG_WARN, .wave = "w\tave", .env = "e",
                                  .deploy_ns = T0, .start_ns = T0, .end_ns = T0 + 10 * MIN,
                                  .rules = rrs, .nrules = 8, .features = fr, .nfeatures = 2,
                                  .fleet = 1, .targets = &tr, .ntargets = 1};
    snprintf(rep.reason, sizeof(rep.reason), "%s", strs[1]);

    char *docs[3] = {wg_gate_report_json(&rep),
                     wg__gate_report_json_linked(&rep, "ab12", "https://wg.example/"), NULL};
    rep.nrules = 0; /* nothing planned: a null window */
    rep.fleet = 0;
    docs[2] = wg_gate_report_json(&rep);
    for (size_t i = 0; i < 3; i++) {
        assert_non_null(docs[i]);
        cJSON *d = cJSON_Parse(docs[i]);
        assert_non_null(d);
        char *again = cJSON_PrintUnformatted(d);
        if (strcmp(again, docs[i]) != 0) {
            size_t k = 0;
            while (again[k] && again[k] == docs[i][k]) {
                k++;
            }
            print_error("doc %zu differs from cJSON's at byte %zu:\n ours:  %.80s\n cJSON: %.80s\n",
                        i, k, docs[i] + (k > 20 ? k - 20 : 0), again + (k > 20 ? k - 20 : 0));
        }
        assert_string_equal(again, docs[i]);
        free(again);
        cJSON_Delete(d);
    }
    /* and what the members say, written out (the round trip alone would pass a writer that
     * dropped members) */
    assert_non_null(strstr(docs[0], "\"rule\":\"r\\\\ule\",\"verdict\":\"fail\""));
    assert_non_null(strstr(docs[0], "\"region\":\"eu\\u0002\""));
    assert_non_null(strstr(docs[0], "\"reason\":\"ctl\\u0001\\u001f.\""));
    assert_non_null(strstr(docs[0], "\"max\":0.33333333333333331,"));
    assert_non_null(strstr(docs[0], "\"value\":null,\"threshold\""));
    assert_non_null(strstr(docs[0], "\"max_increase\":\"-7%\""));
    assert_non_null(strstr(docs[0], "\"min\":null")); /* an infinite bound */
    assert_non_null(strstr(docs[0], "\"targets\":[{\"target\":\"t\x7f\",\"env\":\"prod\\\"x\","
                                    "\"labels\":{\"k\\\"ey\":\"v\\nal\""));
    assert_non_null(strstr(docs[1], "\"evaluation_id\":\"ab12\","
                                    "\"report_url\":\"https://wg.example/ui/evaluations/ab12\"}"));
    assert_non_null(strstr(docs[2], "\"window\":null"));
    /* times as each rule has them (the writer keeps the last two it formatted) */
    assert_non_null(strstr(docs[0], "\"window\":{\"start\":\"2024-05-01T12:00:00Z\","
                                    "\"end\":\"2024-05-01T12:03:00Z\"},\"baseline_window\":"
                                    "{\"start\":\"2024-05-01T11:00:00Z\","
                                    "\"end\":\"2024-05-01T11:10:00Z\"}"));
    assert_non_null(strstr(docs[0], "\"end\":\"2024-05-01T12:07:00Z\"}"));
    for (size_t i = 0; i < 3; i++) {
        free(docs[i]);
    }
    /* a buffer that cannot grow mid-report: no report at all (the answer is then an error),
     * never a cut-off document that still says "pass" */
    rep.nrules = 8;
    rep.fleet = 1;
    int cuts = 0;
    for (long k = 1; k <= 12; k++) {
        wg_buf_test_fail_alloc(k);
        char *cut = wg_gate_report_json(&rep);
        long left = wg_buf_test_fail_alloc(0);
        if (left > 0) {
            /* fewer allocations than k: the whole report was written */
            assert_non_null(cut);
        } else {
            assert_null(cut);
            cuts++;
        }
        free(cut);
    }
    assert_true(cuts > 0);
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
    struct wg_config *cfg =
        load(DEAD_WAVE "      - {name: r, query: 'SELECT 1', threshold: {max: 1}}\n");
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
    if (st.verdict != WG_NOEVAL || st.measurements != 3) {
        print_error("want error after 3 looks, got %s after %d (%s)\n",
                    wg_verdict_name(st.verdict), st.measurements, st.reason);
    }
    assert_int_equal(st.verdict, WG_NOEVAL); /* an outage never fails a deploy */
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
}

/* ---- the wave over its features ---------------------------------------------------------- */

static void test_combine_features_pairs(void **state)
{
    (void)state;
#define P WG_PASS
#define W WG_WARN
#define I WG_INCONCLUSIVE
#define E WG_NOEVAL
#define F WG_FAIL
    static const enum wg_verdict want[5][5] = {
        {P, W, I, E, F}, {W, W, I, E, F}, {I, I, I, E, F}, {E, E, E, E, F}, {F, F, F, F, F}};
#undef P
#undef W
#undef I
#undef E
#undef F
    int bad = 0;
    for (int a = 0; a <= WG_FAIL; a++) {
        for (int b = 0; b <= WG_FAIL; b++) {
            enum wg_verdict v[2] = {(enum wg_verdict)a, (enum wg_verdict)b};
            enum wg_verdict got = wg_gate_combine_features(v, 2);
            printf("features %-12s + %-12s want %-12s got %s\n", wg_verdict_name(v[0]),
                   wg_verdict_name(v[1]), wg_verdict_name(want[a][b]), wg_verdict_name(got));
            bad += got != want[a][b];
        }
    }
    /* nothing judged: no feature at all (was PASS: combine() started at WG_PASS) */
    enum wg_verdict got = wg_gate_combine_features(NULL, 0);
    printf("features: none  want inconclusive got %s\n", wg_verdict_name(got));
    bad += got != WG_INCONCLUSIVE;
    assert_int_equal(bad, 0);
}

/* Zero rules judged is inconclusive with a reason in text and JSON, and no 1970 window. */
static void test_nothing_judged(void **state)
{
    (void)state;
    static const struct {
        const char *name, *yaml, *reason;
    } cases[] = {
        {"no features", "sources:\n  db: {url: 'http://127.0.0.1:9', database: d}\n"
                        "waves: [{name: staging, source: db}]\n",
         "no rules for this wave/feature: the config has no features"},
        {"every rule dry-run",
         "sources:\n  db: {url: 'http://127.0.0.1:9', database: d, retries: 0, timeout: 2s}\n"
         "waves: [{name: staging, source: db}]\n"
         "features:\n  f:\n    rules:\n"
         "      - {name: r, query: 'SELECT 1', threshold: {max: 1}, dry_run: true}\n",
         "no rules for this wave/feature: every rule is dry-run"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wg_config *cfg = load(cases[i].yaml);
        struct wg_check_req req = {.wave = "staging", .now_ns = T0};
        struct wg_check_report *rep = NULL;
        char err[256];
        assert_int_equal(wg_gate_check(cfg, &req, &rep, err, sizeof(err)), WG_OK);
        printf("%s: want inconclusive \"%s\", got %s \"%s\"\n", cases[i].name, cases[i].reason,
               wg_verdict_name(rep->verdict), rep->reason);
        assert_int_equal(rep->verdict, WG_INCONCLUSIVE);
        assert_int_equal(wg_gate_exit_code(rep->verdict), WG_EXIT_INCONCLUSIVE);
        assert_string_equal(rep->reason, cases[i].reason);
        char *js = wg_gate_report_json(rep);
        cJSON *d = cJSON_Parse(js);
        assert_string_equal(cJSON_GetObjectItem(d, "verdict")->valuestring, "inconclusive");
        assert_string_equal(cJSON_GetObjectItem(d, "reason")->valuestring, cases[i].reason);
        if (rep->nrules == 0) {
            assert_true(cJSON_IsNull(cJSON_GetObjectItem(d, "window")));
        }
        assert_null(strstr(js, "1970"));
        cJSON_Delete(d);
        free(js);
        char buf[4096] = "";
        FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
        wg_gate_report_text(rep, f);
        fclose(f);
        assert_non_null(strstr(buf, "verdict: INCONCLUSIVE"));
        assert_non_null(strstr(buf, cases[i].reason));
        assert_null(strstr(buf, "1970"));
        wg_check_report_free(rep);
        wg_config_free(cfg);
    }
}

/* ---- history: the caller decides what is recorded ---------------------------------------- */

static int history_rows(const char *dir)
{
    char buf[8192] = "";
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
    enum wg_err rc = wg_gate_history_list(dir, NULL, NULL, NULL, f);
    fclose(f);
    assert_true(rc == WG_OK || rc == WG_ENOTFOUND);
    int lines = 0;
    for (const char *p = buf; *p; p++) {
        lines += *p == '\n';
    }
    return strncmp(buf, "ID", 2) == 0 ? lines - 1 : 0; /* header, or "no history in" */
}

static const char PREVIOUS_YAML[] =
    DEAD_WAVE "      - {name: r, query: 'SELECT 1', baseline: previous, max_increase: 20%}\n";

/* No store yet is its own answer (WG_ENOTFOUND, said on f), neither an error nor rows. */
static void test_history_no_store(void **state)
{
    (void)state;
    char dir[] = "/tmp/wg-test-history-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char buf[512] = "";
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
    assert_non_null(f);
    enum wg_err rc = wg_gate_history_list(dir, NULL, NULL, NULL, f);
    fclose(f);
    assert_int_equal(rc, WG_ENOTFOUND);
    assert_non_null(strstr(buf, "no history in"));
    long changed = 42;
    assert_int_equal(wg_gate_history_invalidate(dir, 0, "f", NULL, NULL, &changed), WG_ENOTFOUND);
    assert_int_equal(changed, 0);
    assert_int_equal(rmdir(dir), 0);
}

static void test_history_recorded_by_caller(void **state)
{
    (void)state;
    char dir[] = "/tmp/wg-test-history-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct wg_config *cfg = load(PREVIOUS_YAML);
    char err[256];
    /* two monitor-style checks (no deploy, flag off): nothing recorded (was 2 rows) */
    for (int i = 0; i < 2; i++) {
        struct wg_check_req req = {.wave = "w", .now_ns = T0 + i * MIN, .state_dir = dir};
        struct wg_check_report *rep = NULL;
        assert_int_equal(wg_gate_check(cfg, &req, &rep, err, sizeof(err)), WG_OK);
        wg_check_report_free(rep);
    }
    int got = history_rows(dir);
    printf("monitor-style checks: want 0 rows, got %d\n", got);
    assert_int_equal(got, 0);
    /* a deploy-anchored one records */
    struct wg_check_req req = {
        .wave = "w", .now_ns = T0, .deploy_ns = T0 - 30 * MIN, .state_dir = dir,
        .record_history = 1};
    struct wg_check_report *rep = NULL;
    assert_int_equal(wg_gate_check(cfg, &req, &rep, err, sizeof(err)), WG_OK);
    wg_check_report_free(rep);
    got = history_rows(dir);
    printf("deploy-anchored check: want 1 row, got %d\n", got);
    assert_int_equal(got, 1);

    /* check --wait: only the decision (the final look) is recorded, not each look */
    struct clock c = {.now = T0};
    struct wg_wait_opts o;
    memset(&o, 0, sizeof(o));
    o.interval_ns = MIN;
    o.count = 3;
    o.limits = (struct wg_limits){.failure_limit = 0, .consecutive_failures = -1,
                                  .inconclusive_limit = 3, .error_limit = 5, .count = 3};
    o.ud = &c;
    o.now = fake_now;
    o.sleep_until = fake_sleep;
    struct wg_check_req wreq = {.wave = "w", .state_dir = dir, .deploy_ns = T0 - 30 * MIN};
    struct wg_limits_state st;
    struct wg_check_report *last = NULL;
    assert_int_equal(wg_gate_wait(cfg, &wreq, &o, &st, &last, err, sizeof(err)), WG_OK);
    assert_int_equal(st.measurements, 3);
    wg_check_report_free(last);
    got = history_rows(dir);
    printf("check --wait, 3 looks: want 2 rows, got %d\n", got);
    assert_int_equal(got, 2);
    wg_config_free(cfg);
    char path[128];
    snprintf(path, sizeof(path), "%s/state.db", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/state.db-wal", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/state.db-shm", dir);
    unlink(path);
    rmdir(dir);
}

/* The analysis step shared by check --wait and /v1/analyses: rules judged per look, the
 * decision at the last look, a report-less look (another evaluator) still counts. */
static void test_analysis_step(void **state)
{
    (void)state;
    struct wg_limits l = {.failure_limit = 0, .consecutive_failures = -1,
                          .inconclusive_limit = 3, .error_limit = 3, .count = 3};
    struct wg_gate_analysis an;
    wg_gate_analysis_init(&an, &l, 3, NULL);
    struct wg_rule_report rr[2];
    memset(rr, 0, sizeof(rr));
    struct wg_check_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.rules = rr;
    rep.nrules = 2;
    struct wg_check_req req = {0};
    wg_gate_analysis_req(&an, &req);
    assert_int_equal(req.look, 1);
    assert_int_equal(req.max_looks, 3);
    assert_null(req.last_tested);
    rr[0].res.verdict = WG_PASS;
    rr[1].res.verdict = WG_INCONCLUSIVE;
    rep.verdict = WG_INCONCLUSIVE;
    assert_int_equal(wg_gate_analysis_step(&an, rep.verdict, &rep), 0);
    wg_gate_analysis_req(&an, &req);
    assert_int_equal(req.look, 2);
    assert_int_equal(req.nlast_tested, 2);
    assert_int_equal(req.last_tested[0], 1); /* judged at look 1 */
    assert_int_equal(req.last_tested[1], 0); /* never judged: its budget carries over */
    assert_int_equal(wg_gate_analysis_step(&an, WG_PASS, NULL), 0);
    rr[1].res.verdict = WG_PASS;
    rep.verdict = WG_PASS;
    assert_int_equal(wg_gate_analysis_step(&an, rep.verdict, &rep), 1);
    assert_int_equal(an.st.verdict, WG_PASS);
    assert_int_equal(an.tested[1], 3);
    assert_int_equal(wg_gate_analysis_step(&an, WG_FAIL, &rep), 1); /* decided stays decided */
    assert_int_equal(an.st.verdict, WG_PASS);
    wg_gate_analysis_clear(&an);
    wg_gate_analysis_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_combine_features_pairs),
        cmocka_unit_test(test_nothing_judged),
        cmocka_unit_test(test_history_no_store),
        cmocka_unit_test(test_history_recorded_by_caller),
        cmocka_unit_test(test_analysis_step),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_windows_overflow),
        cmocka_unit_test(test_check_overflow_never_passes),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_report_json),
        cmocka_unit_test(test_report_json_as_cjson_prints_it),
        cmocka_unit_test(test_wait_outage_is_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
