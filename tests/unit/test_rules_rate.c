/* test_rules_rate.c — judge: rate: the binomial tails and the conditional test of two
 * Poisson rates against exact values, the judge through wg_rules_eval (groups, direction,
 * allowed_increase, min_events and the power guard, missing sides), and the config keys
 * (numerator/denominator, min_events, a wave's gate: {false_fail}) with file:line:col errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "rules/rules.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static int close_rel(double got, double want, double rel)
{
    return fabs(got - want) <= rel * fabs(want);
}

/* Expected values are exact: sum_{j >= x1} C(N, j) pi0^j (1 - pi0)^(N - j) in rational
 * arithmetic (Python fractions, math.comb), pi0 = n1 r / (n1 r + n0), N = x1 + x0; the same
 * as R's poisson.test(c(x1, x0), c(n1, n0), r = r, alternative = "greater")$p.value.
 *   x1   n1      x0   n0      r    p
 *   10   1000    2    1000    1    79/4096 = 1.9287109375e-02
 *   60   10000   50   10000   1.1  3.603499879451408e-01
 *   700  100000  500  100000  1    4.267683040517167e-09
 *   30   5000    40   20000   1.2  1.927194397763719e-04
 *   5    1000    5    1000    1    6.230468750000000e-01
 *   2000 1e6     1800 1e6     1    6.213933891315997e-04
 * and "less" (decrease), P(X <= x1):
 *   20   10000   50   10000   1    2.201425032569842e-04
 *   20   10000   50   10000   0.9  1.035490638836590e-03 */
struct rcase {
    double x1, n1, x0, n0, r;
    int decrease;
    double want;
};

static const struct rcase rcases[] = {
    {10, 1000, 2, 1000, 1, 0, 1.9287109375e-02},
    {60, 10000, 50, 10000, 1.1, 0, 3.603499879451408e-01},
    {700, 100000, 500, 100000, 1, 0, 4.267683040517167e-09},
    {30, 5000, 40, 20000, 1.2, 0, 1.927194397763719e-04},
    {5, 1000, 5, 1000, 1, 0, 6.230468750000000e-01},
    {2000, 1e6, 1800, 1e6, 1, 0, 6.213933891315997e-04},
    {20, 10000, 50, 10000, 1, 1, 2.201425032569842e-04},
    {20, 10000, 50, 10000, 0.9, 1, 1.035490638836590e-03},
};

static void test_rate_exact(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
        const struct rcase *c = &rcases[i];
        struct wg_rate_test t;
        assert_int_equal(wg_rules_rate_test(c->x1, c->n1, c->x0, c->n0, c->r, c->r, &t), WG_OK);
        double got = c->decrease ? t.p_decrease : t.p_increase;
        if (!close_rel(got, c->want, 1e-9)) {
            print_error("case %zu: want %.15e got %.15e\n", i, c->want, got);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
    /* the most extreme outcome: 12 events, equal exposure -> 0.5^12 */
    struct wg_rate_test t;
    assert_int_equal(wg_rules_rate_test(10, 1000, 2, 1000, 1, 1, &t), WG_OK);
    assert_true(close_rel(t.p_min_increase, 1.0 / 4096, 1e-12));
    assert_int_equal(wg_rules_rate_test(-1, 1000, 2, 1000, 1, 1, &t), WG_EINVAL);
    assert_int_equal(wg_rules_rate_test(1, 0, 2, 1000, 1, 1, &t), WG_EINVAL);
}

static void test_binom_tails(void **state)
{
    (void)state;
    /* Binomial(10, 0.3): P(X >= 3) = 0.6172172..., P(X <= 2) = 0.3827827... (exact sums) */
    assert_true(close_rel(wg_rules_binom_sf(3, 10, 0.3), 0.6172172, 1e-6));
    assert_true(close_rel(wg_rules_binom_cdf(2, 10, 0.3), 0.3827828, 1e-6));
    assert_true(wg_rules_binom_sf(0, 10, 0.3) == 1);
    assert_true(wg_rules_binom_sf(11, 10, 0.3) == 0);
    assert_true(close_rel(wg_rules_binom_sf(10, 10, 0.3), pow(0.3, 10), 1e-10));
    /* a large case stays finite and in [0, 1]: 10^7 trials */
    double p = wg_rules_binom_sf(5100000, 1e7, 0.5);
    assert_true(p >= 0 && p < 1e-200);
    double q = wg_rules_binom_sf(5000000, 1e7, 0.5);
    assert_true(close_rel(q, 0.5 + 0.5 * 0.000252313, 1e-4)); /* ~0.5 + P(X = n/2) / 2 */
}

/* ---- the judge ----------------------------------------------------------------------------- */

/* One host's series: `pts` points per side, each with `ev` events over `req` requests. */
static void put(struct wg_seriesset *ss, const char *host, size_t pts, double v)
{
    struct wg_label l = {"host", (char *)host};
    struct wg_series *s = wg_seriesset_get(ss, &l, host ? 1 : 0);
    assert_non_null(s);
    for (size_t i = 0; i < pts; i++) {
        assert_int_equal(wg_series_push(s, (int64_t)i, v), WG_OK);
    }
}

struct rate_fix {
    struct wg_seriesset cn, cd, bn, bd; /* current/baseline numerator/denominator */
    struct wg_rule r;
    struct wg_rule_params p;
};

static void fix_init(struct rate_fix *f)
{
    memset(f, 0, sizeof(*f));
    f->r.name = "errors";
    f->r.judge = WG_JUDGE_RATE;
    f->r.baseline.kind = WG_BASELINE_WINDOW;
    f->p.min_samples = 1;
    f->p.min_events = 5;
    f->p.confidence = 0.98;
    f->p.weight = 1;
    f->p.direction = WG_DIR_INCREASE;
}

/* One host's four sides, pts points each: current errors/requests, baseline errors/requests. */
static void put_sides(struct rate_fix *f, const char *host, size_t pts, double cn, double cd,
                      double bn, double bd)
{
    put(&f->cn, host, pts, cn);
    put(&f->cd, host, pts, cd);
    put(&f->bn, host, pts, bn);
    put(&f->bd, host, pts, bd);
}

static void fix_free(struct rate_fix *f)
{
    wg_seriesset_free(&f->cn);
    wg_seriesset_free(&f->cd);
    wg_seriesset_free(&f->bn);
    wg_seriesset_free(&f->bd);
}

static void run(struct rate_fix *f, struct wg_rule_result *res)
{
    struct wg_rule_input in = {.rule = &f->r,
                               .p = &f->p,
                               .current = &f->cn,
                               .baseline = &f->bn,
                               .current_den = &f->cd,
                               .baseline_den = &f->bd};
    assert_int_equal(wg_rules_eval(&in, res), WG_OK);
}

static void test_rate_judge(void **state)
{
    (void)state;
    struct rate_fix f;
    struct wg_rule_result res;
    /* 10 minutes a side, 1000 requests a minute: 60 vs 30 errors (0.6% vs 0.3%) fails;
     * p = P(Binomial(90, 0.5) >= 60) = 0.00103 < 0.01. */
    fix_init(&f);
    put_sides(&f, "a", 10, 6, 1000, 3, 1000);
    run(&f, &res);
    assert_int_equal(res.verdict, WG_FAIL);
    assert_true(res.groups[0].test.tested);
    assert_true(res.tested);
    assert_true(close_rel(res.value, 0.006, 1e-12));
    assert_true(close_rel(res.baseline, 0.003, 1e-12));
    assert_non_null(strstr(res.reason, "significant increase: rate 0.006 vs baseline 0.003"));
    assert_non_null(strstr(res.reason, "60/10000 vs 30/10000"));
    wg_rule_result_clear(&res);
    /* allowed_increase 100%: the null is rate1 <= 2 rate0, and 0.6% vs 0.3% is exactly that */
    f.p.allowed_increase = (struct wg_limit){.set = 1, .percent = 1, .value = 100};
    run(&f, &res);
    assert_int_equal(res.verdict, WG_PASS);
    assert_non_null(strstr(res.reason, "no significant increase"));
    wg_rule_result_clear(&res);
    /* direction decrease: more errors is no failure */
    f.p.allowed_increase = (struct wg_limit){0};
    f.p.direction = WG_DIR_DECREASE;
    run(&f, &res);
    assert_int_equal(res.verdict, WG_PASS);
    wg_rule_result_clear(&res);
    /* direction either: p = 2 * 0.00103 = 0.00206 <= 1 - 0.98 */
    f.p.direction = WG_DIR_EITHER;
    run(&f, &res);
    assert_int_equal(res.verdict, WG_FAIL);
    assert_true(close_rel(res.groups[0].test.p, 2 * wg_rules_binom_sf(60, 90, 0.5), 1e-12));
    wg_rule_result_clear(&res);
    fix_free(&f);
}

static void test_rate_power_guard(void **state)
{
    (void)state;
    struct wg_rule_result res;
    struct rate_fix f;
    /* 4 events in all < min_events 5: inconclusive, never a pass */
    fix_init(&f);
    put_sides(&f, "a", 2, 2, 500, 0, 500);
    run(&f, &res);
    assert_int_equal(res.verdict, WG_INCONCLUSIVE);
    assert_non_null(strstr(res.reason, "4 events (4 current + 0 baseline) < min_events 5"));
    assert_false(res.groups[0].test.tested);
    assert_false(res.tested); /* nothing spent: a bake-time analysis carries the share over */
    wg_rule_result_clear(&res);
    /* 6 events, all on the current side: p = 0.5^6 = 0.0156 > 0.01, the test cannot fail */
    f.p.min_events = 0;
    fix_free(&f);
    fix_init(&f);
    f.p.min_events = 0;
    put_sides(&f, "a", 2, 3, 500, 0, 500);
    run(&f, &res);
    assert_int_equal(res.verdict, WG_INCONCLUSIVE);
    assert_non_null(strstr(res.reason, "too little data to judge"));
    wg_rule_result_clear(&res);
    fix_free(&f);
    /* no exposure in the window: the no-data policy; no baseline: inconclusive */
    fix_init(&f);
    put_sides(&f, "a", 1, 0, 0, 1, 100);
    run(&f, &res);
    assert_int_equal(res.verdict, WG_INCONCLUSIVE);
    assert_non_null(strstr(res.reason, "no data"));
    wg_rule_result_clear(&res);
    f.p.no_data = WG_NODATA_FAIL;
    run(&f, &res);
    assert_int_equal(res.verdict, WG_FAIL);
    wg_rule_result_clear(&res);
    fix_free(&f);
    fix_init(&f);
    put(&f.cn, "a", 1, 10);
    put(&f.cd, "a", 1, 100);
    run(&f, &res);
    assert_int_equal(res.verdict, WG_INCONCLUSIVE);
    assert_non_null(strstr(res.reason, "no baseline data"));
    wg_rule_result_clear(&res);
    /* the denominator query failed to reach us: could not evaluate */
    struct wg_rule_input in = {.rule = &f.r, .p = &f.p, .current = &f.cn, .baseline = &f.bn};
    assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
    assert_int_equal(res.verdict, WG_NOEVAL);
    wg_rule_result_clear(&res);
    fix_free(&f);
}

/* Groups by host: one regressed host among 5 fails through the family step, named. */
static void test_rate_groups_family(void **state)
{
    (void)state;
    struct rate_fix f;
    struct wg_rule_result res;
    fix_init(&f);
    const char *hosts[] = {"h0", "h1", "h2", "h3", "h4"};
    for (size_t h = 0; h < 5; h++) {
        put_sides(&f, hosts[h], 10, h == 3 ? 12 : 5, 1000, 5, 1000);
    }
    run(&f, &res);
    struct wg_rule_result *rs[] = {&res};
    const struct wg_rule_params *ps[] = {&f.p};
    size_t m = 0;
    assert_int_equal(wg_rules_family_apply(rs, ps, 1, 0.01, &m), WG_OK);
    assert_int_equal(m, 5);
    assert_int_equal(res.verdict, WG_FAIL);
    assert_non_null(strstr(res.reason, "host=h3: significant increase"));
    assert_non_null(strstr(res.reason, "family budget 0.01 of 5 tests"));
    assert_non_null(strstr(res.reason, "(1 of 5 groups fail)"));
    wg_rule_result_clear(&res);
    fix_free(&f);
}

/* ---- config --------------------------------------------------------------------------------- */

#define HEAD                                                                                       \
    "sources:\n"                                                                                   \
    "  db: {url: 'http://127.0.0.1:8086', database: t}\n"                                          \
    "waves:\n"                                                                                     \
    "  - name: w\n"                                                                                \
    "    source: db\n"

#define RULE(extra)                                                                                \
    "features:\n"                                                                                  \
    "  f:\n"                                                                                       \
    "    rules:\n"                                                                                 \
    "      - name: r\n"                                                                            \
    "        query: SELECT 1\n" extra

static char *load(const char *yaml, struct wg_config **cfg)
{
    struct wg_diags d = {0};
    char *buf = NULL;
    size_t len = 0;
    *cfg = NULL;
    enum wg_err lrc = wg_config_load_mem("t.yaml", yaml, strlen(yaml), cfg, &d);
    (void)lrc; /* the diagnostics are the point */
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    wg_diags_print(&d, m);
    fclose(m);
    wg_diags_free(&d);
    return buf;
}

struct ccase {
    const char *yaml;
    const char *want; /* NULL: loads */
};

static const struct ccase ccases[] = {
    {HEAD RULE("        judge: rate\n"
               "        numerator: errors\n"
               "        denominator: requests\n"
               "        baseline: {window: 30m}\n"
               "        min_events: 10\n"),
     NULL},
    {HEAD RULE("        judge: rate\n"
               "        denominator: requests\n"
               "        baseline: {window: 30m}\n"),
     "t.yaml:9:9: features.f.rules[0].numerator: judge rate needs numerator"},
    {HEAD RULE("        numerator: errors\n"),
     "t.yaml:11:20: features.f.rules[0].numerator: numerator is only for judge: rate"},
    {HEAD RULE("        judge: rate\n"
               "        numerator: errors\n"
               "        denominator: requests\n"),
     "t.yaml:11:16: features.f.rules[0].judge: judge rate needs a baseline"},
    {HEAD RULE("        judge: rate\n"
               "        field: x\n"
               "        numerator: errors\n"
               "        denominator: requests\n"
               "        baseline: {window: 30m}\n"),
     "t.yaml:12:16: features.f.rules[0].field: judge rate reads numerator and denominator"},
    {"sources:\n"
     "  db: {url: 'http://127.0.0.1:8086', database: t}\n"
     "waves:\n"
     "  - name: w\n"
     "    source: db\n"
     "    gate: {false_fail: 60%}\n",
     "t.yaml:6:24: waves[0].gate.false_fail: a false-fail rate is above 0 and at most 50%"},
    {"sources:\n"
     "  db: {url: 'http://127.0.0.1:8086', database: t}\n"
     "waves:\n"
     "  - name: w\n"
     "    source: db\n"
     "    gate: {false_fails: 1%}\n",
     "t.yaml:6:12: waves[0].gate.false_fails: unknown key 'false_fails' (allowed: false_fail)"},
};

static void test_rate_config(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < sizeof(ccases) / sizeof(ccases[0]); i++) {
        struct wg_config *cfg = NULL;
        char *got = load(ccases[i].yaml, &cfg);
        int ok = ccases[i].want ? !cfg && strstr(got, ccases[i].want) : cfg != NULL;
        if (!ok) {
            print_error("case %zu: want %s\n got: %s\n", i, ccases[i].want ? ccases[i].want : "ok",
                        got);
            failed++;
        }
        if (cfg && i == 0) {
            const struct wg_rule *r = &cfg->features[0].rules[0];
            assert_int_equal(r->judge, WG_JUDGE_RATE);
            assert_string_equal(r->numerator, "errors");
            assert_string_equal(r->denominator, "requests");
            struct wg_rule_params p;
            wg_config_effective(r, &cfg->waves[0], &p);
            assert_int_equal(p.min_events, 10);
        }
        wg_config_free(cfg);
        free(got);
    }
    assert_int_equal(failed, 0);
    struct wg_config *cfg = NULL;
    free(load("sources:\n"
              "  db: {url: 'http://127.0.0.1:8086', database: t}\n"
              "waves:\n"
              "  - {name: w, source: db, gate: {false_fail: 2%}}\n"
              "  - {name: v, source: db, gate: {false_fail: 0.005}}\n"
              "  - {name: u, source: db}\n",
              &cfg));
    assert_non_null(cfg);
    assert_true(close_rel(cfg->waves[0].gate_false_fail, 0.02, 1e-12));
    assert_true(close_rel(cfg->waves[1].gate_false_fail, 0.005, 1e-12));
    assert_true(cfg->waves[2].gate_false_fail == 0);
    wg_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_exact),         cmocka_unit_test(test_binom_tails),
        cmocka_unit_test(test_rate_judge),         cmocka_unit_test(test_rate_power_guard),
        cmocka_unit_test(test_rate_groups_family), cmocka_unit_test(test_rate_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
