/* test_rules_family.c — one false-fail budget per gate: the weighted Holm step-down against
 * R's p.adjust(method = "holm") values computed by hand, weights, and the family step on real
 * Mann-Whitney results: 20 unchanged hosts (the 19% false fails), one regressed host
 * named, dry-run and inconclusive groups left out, a rule's weight split among its groups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* ---- the procedure ------------------------------------------------------------------------ */

struct hcase {
    const char *name;
    size_t n;
    double p[6], w[6];
    double level;
    double want_adj[6];
    int want_reject[6];
};

/* Holm by hand (R: p.adjust(c(...), "holm")): sort p ascending, multiply the k-th smallest by
 * (n - k + 1), take the running maximum, cap at 1.
 *  c(0.01, 0.04, 0.03, 0.005) -> 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06,
 *                                max(0.06, 0.04*1) = 0.06: (0.03, 0.06, 0.06, 0.02)
 *  c(0.2, 0.5, 0.001, 0.3)    -> 0.004, 0.6, max(0.6, 0.6), max(0.6, 0.5): (0.6, 0.6, 0.004, 0.6)
 *  c(0.5, 0.9)                -> 1 (capped), max(1, 0.9): (1, 1)
 * Weighted (Holm 1979): order by p/w, multiply by (weight left) / w.
 *  p (0.01, 0.02), w (3, 1): 0.01*4/3 = 0.013333, max(0.013333, 0.02*1/1) = 0.02; at 0.015 the
 *  heavy one is rejected, which unweighted Holm (0.02, 0.02) would not. */
static const struct hcase hcases[] = {
    {"holm 4",
     4,
     {0.01, 0.04, 0.03, 0.005},
     {1, 1, 1, 1},
     0.05,
     {0.03, 0.06, 0.06, 0.02},
     {1, 0, 0, 1}},
    {"holm capped, tie",
     4,
     {0.2, 0.5, 0.001, 0.3},
     {1, 1, 1, 1},
     0.01,
     {0.6, 0.6, 0.004, 0.6},
     {0, 0, 1, 0}},
    {"holm all capped", 2, {0.5, 0.9}, {1, 1}, 0.05, {1, 1}, {0, 0}},
    {"weighted", 2, {0.01, 0.02}, {3, 1}, 0.015, {0.04 / 3, 0.02}, {1, 0}},
    {"unweighted same p", 2, {0.01, 0.02}, {1, 1}, 0.015, {0.02, 0.02}, {0, 0}},
    {"single = raw", 1, {0.007}, {2.5}, 0.01, {0.007}, {1}},
    {"reject at equality", 2, {0.005, 0.5}, {1, 1}, 0.01, {0.01, 0.5}, {1, 0}},
};

static void test_holm(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t c = 0; c < sizeof(hcases) / sizeof(hcases[0]); c++) {
        const struct hcase *tc = &hcases[c];
        struct wg_family_hyp h[6];
        for (size_t i = 0; i < tc->n; i++) {
            h[i] = (struct wg_family_hyp){.p = tc->p[i], .w = tc->w[i]};
        }
        assert_int_equal(wg_rules_family(h, tc->n, tc->level), WG_OK);
        for (size_t i = 0; i < tc->n; i++) {
            if (fabs(h[i].p_adj - tc->want_adj[i]) > 1e-12 || h[i].reject != tc->want_reject[i]) {
                print_error("%s [%zu]: want adj %.6g reject %d, got %.6g %d\n", tc->name, i,
                            tc->want_adj[i], tc->want_reject[i], h[i].p_adj, h[i].reject);
                failed++;
            }
        }
    }
    assert_int_equal(failed, 0);
}

static void test_holm_invalid(void **state)
{
    (void)state;
    struct wg_family_hyp h[2] = {{.p = 0.1, .w = 1}, {.p = NAN, .w = 1}};
    assert_int_equal(wg_rules_family(h, 2, 0.01), WG_EINVAL);
    h[1] = (struct wg_family_hyp){.p = 0.1, .w = 0};
    assert_int_equal(wg_rules_family(h, 2, 0.01), WG_EINVAL);
    assert_int_equal(wg_rules_family(NULL, 0, 0.01), WG_OK);
}

static void test_rule_level(void **state)
{
    (void)state;
    struct wg_rule_params p = {.confidence = 0.98, .direction = WG_DIR_INCREASE};
    assert_true(fabs(wg_rules_family_rule_level(&p) - 0.01) < 1e-15);
    p.direction = WG_DIR_EITHER;
    assert_true(fabs(wg_rules_family_rule_level(&p) - 0.02) < 1e-15);
}

/* ---- the family step on Mann-Whitney results ---------------------------------------------- */

static uint64_t rng;

static double unif(void) /* (0, 1), splitmix64 */
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double lognormal(double sigma, double factor)
{
    double u = unif(), v = unif();
    return 100 * factor * exp(sigma * sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

/* ngroups hosts, n points per side; host `bad` (or none: -1) is `factor` slower. */
static void hosts(struct wg_seriesset *cur, struct wg_seriesset *base, size_t ngroups, size_t n,
                  int bad, double factor)
{
    for (size_t g = 0; g < ngroups; g++) {
        char v[16];
        snprintf(v, sizeof(v), "h%02zu", g);
        struct wg_label l = {"host", v};
        struct wg_series *c = wg_seriesset_get(cur, &l, 1), *b = wg_seriesset_get(base, &l, 1);
        assert_non_null(c);
        assert_non_null(b);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(wg_series_push(b, (int64_t)i, lognormal(0.5, 1)), WG_OK);
            assert_int_equal(
                wg_series_push(c, (int64_t)i, lognormal(0.5, (int)g == bad ? factor : 1)), WG_OK);
        }
    }
}

static void mw_rule(struct wg_rule *r, struct wg_rule_params *p)
{
    memset(r, 0, sizeof(*r));
    memset(p, 0, sizeof(*p));
    r->name = "latency";
    r->judge = WG_JUDGE_MANN_WHITNEY;
    r->baseline.kind = WG_BASELINE_WINDOW;
    p->min_samples = 50;
    p->confidence = 0.98;
    p->weight = 1;
    p->direction = WG_DIR_INCREASE;
}

static void eval(const struct wg_rule *r, const struct wg_rule_params *p,
                 const struct wg_seriesset *cur, const struct wg_seriesset *base,
                 struct wg_rule_result *res)
{
    struct wg_rule_input in = {.rule = r, .p = p, .current = cur, .baseline = base};
    assert_int_equal(wg_rules_eval(&in, res), WG_OK);
}

/* The measurement in C: 20 unchanged hosts, confidence 0.98. Judged rule by rule
 * (each host at 1%) about 18% of gates fail; under the family budget about 1%. 300 seeded
 * gates: the per-host rule fails 30..90 times (1 - 0.99^20 = 18% -> 55 expected), the family
 * at most 9 (binomial(300, 0.01): P(X >= 10) < 0.001), and every family-judged group reports
 * p, adjusted p and the budget. */
static void test_twenty_unchanged_hosts(void **state)
{
    (void)state;
    struct wg_rule r;
    struct wg_rule_params p;
    mw_rule(&r, &p);
    rng = 20261201;
    int raw_fails = 0, family_fails = 0;
    for (int t = 0; t < 300; t++) {
        struct wg_seriesset cur = {0}, base = {0};
        hosts(&cur, &base, 20, 50, -1, 1);
        struct wg_rule_result res;
        eval(&r, &p, &cur, &base, &res);
        raw_fails += res.verdict == WG_FAIL;
        struct wg_rule_result *rs[] = {&res};
        const struct wg_rule_params *ps[] = {&p};
        size_t m = 0;
        assert_int_equal(wg_rules_family_apply(rs, ps, 1, 0.01, &m), WG_OK);
        assert_int_equal(m, 20);
        family_fails += res.verdict == WG_FAIL;
        for (size_t g = 0; g < res.ngroups; g++) {
            const struct wg_group_test *gt = &res.groups[g].test;
            assert_true(gt->family);
            assert_true(gt->p_adj >= gt->p);
            assert_true(gt->level == 0.01);
            assert_true(fabs(gt->weight - 0.05) < 1e-12);
            assert_non_null(strstr(res.groups[g].reason, "family budget 0.01 of 20 tests"));
        }
        wg_rule_result_clear(&res);
        wg_seriesset_free(&cur);
        wg_seriesset_free(&base);
    }
    print_message("20 unchanged hosts, 300 gates: per-host %d fails, family %d\n", raw_fails,
                  family_fails);
    assert_in_range(raw_fails, 30, 90);
    assert_in_range(family_fails, 0, 9);
}

/* One host 50% slower among 20: the family still fails the gate and names that host. */
static void test_one_regressed_host(void **state)
{
    (void)state;
    struct wg_rule r;
    struct wg_rule_params p;
    mw_rule(&r, &p);
    rng = 8; /* (seed 7 draws an unchanged host at p = 0.00036 < 0.01 / 19: a 0.7% chance) */
    struct wg_seriesset cur = {0}, base = {0};
    hosts(&cur, &base, 20, 100, 13, 1.5);
    struct wg_rule_result res;
    eval(&r, &p, &cur, &base, &res);
    struct wg_rule_result *rs[] = {&res};
    const struct wg_rule_params *ps[] = {&p};
    assert_int_equal(wg_rules_family_apply(rs, ps, 1, 0.01, NULL), WG_OK);
    assert_int_equal(res.verdict, WG_FAIL);
    assert_non_null(strstr(res.reason, "host=h13: significant increase"));
    assert_non_null(strstr(res.reason, "(1 of 20 groups fail)"));
    assert_true(res.has_mw);
    wg_rule_result_clear(&res);
    wg_seriesset_free(&cur);
    wg_seriesset_free(&base);
}

/* Hand-built groups: p 0.004 fails alone at 1% but not among 20 (adjusted 0.08); a dry-run
 * rule and an inconclusive group do not join the family; a 1-group rule of equal weight gets
 * half the budget, not 1/21. */
static void set_group(struct wg_group_result *g, double p)
{
    memset(g, 0, sizeof(*g));
    g->verdict = p < 0.01 ? WG_FAIL : WG_PASS;
    g->test.tested = 1;
    g->test.direction = 1;
    g->test.effect_fail = 1;
    g->test.p = p;
    snprintf(g->test.effect, sizeof(g->test.effect), "mean ratio 1.2");
}

static void test_hand_family(void **state)
{
    (void)state;
    struct wg_group_result many[20], one[1], dry[1];
    for (size_t i = 0; i < 20; i++) {
        set_group(&many[i], 0.05 + 0.04 * (double)i);
    }
    set_group(&many[3], 0.004);
    many[19].test.tested = 0; /* below min_samples */
    many[19].verdict = WG_INCONCLUSIVE;
    set_group(&one[0], 0.006);
    set_group(&dry[0], 0.0001);
    struct wg_rule_result a = {.verdict = WG_FAIL, .groups = many, .ngroups = 20};
    struct wg_rule_result b = {.verdict = WG_FAIL, .groups = one, .ngroups = 1};
    struct wg_rule_result c = {.verdict = WG_FAIL, .groups = dry, .ngroups = 1, .dry_run = 1};
    struct wg_rule_params p = {.weight = 1};
    struct wg_rule_result *rs[] = {&a, &b, &c, NULL};
    const struct wg_rule_params *ps[] = {&p, &p, &p, NULL};
    size_t m = 0;
    assert_int_equal(wg_rules_family_apply(rs, ps, 4, 0.01, &m), WG_OK);
    assert_int_equal(m, 20); /* 19 tested of a, 1 of b; c is dry-run */
    /* weights: a's 19 groups 1/19 each, b's group 1: total 2. Order by p/w: b first,
     * 0.006 * 2 / 1 = 0.012 > 0.01; then a[3] with weight 1 left: 0.004 * 1 / (1/19) = 0.076.
     * Neither fails: the gate passes. */
    assert_true(fabs(one[0].test.weight - 1.0) < 1e-12);
    assert_true(fabs(many[0].test.weight - 1.0 / 19) < 1e-12);
    assert_true(fabs(one[0].test.p_adj - 0.012) < 1e-12);
    assert_true(fabs(many[3].test.p_adj - 0.076) < 1e-12);
    assert_int_equal(a.verdict, WG_INCONCLUSIVE); /* worst group: the one below min_samples */
    assert_int_equal(many[3].verdict, WG_PASS);
    assert_int_equal(b.verdict, WG_PASS);
    assert_non_null(strstr(one[0].reason, "no significant increase"));
    assert_non_null(strstr(one[0].reason, "p=0.006 adjusted 0.012, family budget 0.01 of 20"));
    assert_int_equal(c.verdict, WG_FAIL); /* dry-run keeps its own verdict */
    assert_false(dry[0].test.family);
    /* at 2% b fails (0.012 <= 0.02); a[3] still does not (0.076) */
    assert_int_equal(wg_rules_family_apply(rs, ps, 4, 0.02, &m), WG_OK);
    assert_int_equal(b.verdict, WG_FAIL);
    assert_non_null(strstr(b.reason, "significant increase: mean ratio 1.2; p=0.006"));
    assert_int_equal(many[3].verdict, WG_PASS);
}

/* The power guard of the family: a group whose best possible p exceeds the budget is
 * inconclusive and leaves the family. */
static void test_family_power_guard(void **state)
{
    (void)state;
    struct wg_group_result g[2];
    set_group(&g[0], 0.3);
    g[0].test.p_min = 0.02;
    set_group(&g[1], 0.004);
    struct wg_rule_result a = {.verdict = WG_PASS, .groups = g, .ngroups = 2};
    struct wg_rule_params p = {.weight = 1};
    struct wg_rule_result *rs[] = {&a};
    const struct wg_rule_params *ps[] = {&p};
    size_t m = 0;
    assert_int_equal(wg_rules_family_apply(rs, ps, 1, 0.01, &m), WG_OK);
    assert_int_equal(m, 1);
    assert_int_equal(g[0].verdict, WG_INCONCLUSIVE);
    assert_non_null(strstr(g[0].reason, "too little data"));
    assert_int_equal(g[1].verdict, WG_FAIL); /* alone in the family: 0.004 <= 0.01 */
    assert_int_equal(a.verdict, WG_FAIL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_holm),
        cmocka_unit_test(test_holm_invalid),
        cmocka_unit_test(test_rule_level),
        cmocka_unit_test(test_twenty_unchanged_hosts),
        cmocka_unit_test(test_one_regressed_host),
        cmocka_unit_test(test_hand_family),
        cmocka_unit_test(test_family_power_guard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
