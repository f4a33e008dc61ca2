/* test_rules_stats.c — the statistics of the Mann-Whitney judge against published worked
 * examples (SciPy's mannwhitneyu documentation, R's wilcox.test examples, Hollander & Wolfe),
 * the degenerate cases (all tied, single points), the pairwise-difference selection against
 * brute force, the normal quantile, IQR outlier removal and alpha spending.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "rules/rules_int.h"

static int bad;

static void near(const char *what, double want, double got, double tol)
{
    if (!(fabs(want - got) <= tol) && !(isnan(want) && isnan(got))) {
        printf("FAIL %s: want %.10g, got %.10g (tol %g)\n", what, want, got, tol);
        bad++;
    }
}

/* SciPy mannwhitneyu docs (scipy.stats.mannwhitneyu, Examples, citing Conover's textbook
 * example): males = [19, 22, 16, 29, 24], females = [20, 11, 17, 12]; U1 = 17, exact
 * two-sided p = 0.1111111111111111, method="asymptotic" p = 0.11134688653314041. */
static void test_scipy_example(void **state)
{
    (void)state;
    double males[] = {19, 22, 16, 29, 24}, females[] = {20, 11, 17, 12};
    struct wg_mw_result m;
    bad = 0;
    assert_int_equal(wg_rules_mann_whitney(males, 5, females, 4, 0.95, &m), WG_OK);
    near("scipy U1", 17, m.u, 0);
    near("scipy exact p", 0.1111111111111111, m.p_value, 1e-12);
    assert_int_equal(m.exact, 1);
    double p2, pg;
    assert_int_equal(wg__rules_mw_asymptotic(males, 5, females, 4, 1, &p2, &pg), WG_OK);
    near("scipy asymptotic p", 0.11134688653314041, p2, 1e-12);
    /* swapping the samples gives U2 = nx*ny - U1 = 3 and the same p */
    assert_int_equal(wg_rules_mann_whitney(females, 4, males, 5, 0.95, &m), WG_OK);
    near("scipy U2", 3, m.u, 0);
    near("scipy exact p swapped", 0.1111111111111111, m.p_value, 1e-12);
    assert_int_equal(bad, 0);
}

/* R, example(wilcox.test), data of Hollander & Wolfe (1973, p. 69f): permeability at term (x)
 * vs 12-26 weeks (y). wilcox.test(x, y, alternative = "g"): W = 35, p-value = 0.1272;
 * wilcox.test(x, y, alternative = "greater", exact = FALSE, correct = FALSE): p = 0.1103.
 * Hollander & Wolfe (1999, p. 111) as printed by coin::wilcox_test(distribution = "exact",
 * conf.int = TRUE) for y - x: p-value = 0.2544, 95% CI [-0.76, 0.15], estimate -0.305;
 * so for x - y: shift 0.305, CI [-0.15, 0.76]. */
static void test_hollander_wolfe(void **state)
{
    (void)state;
    double x[] = {0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
    double y[] = {1.15, 0.88, 0.90, 0.74, 1.21};
    struct wg_mw_result m;
    bad = 0;
    assert_int_equal(wg_rules_mann_whitney(x, 10, y, 5, 0.95, &m), WG_OK);
    near("H&W W", 35, m.u, 0);
    near("H&W exact p greater", 0.1272, m.p_increase, 5e-5);
    near("H&W exact p two-sided", 0.2544, m.p_value, 5e-5);
    near("H&W shift", 0.305, m.shift, 1e-12);
    near("H&W CI low", -0.15, m.shift_lo, 1e-12);
    near("H&W CI high", 0.76, m.shift_hi, 1e-12);
    double p2, pg;
    assert_int_equal(wg__rules_mw_asymptotic(x, 10, y, 5, 0, &p2, &pg), WG_OK);
    near("H&W large-sample p greater", 0.1103, pg, 5e-5);
    assert_int_equal(bad, 0);
}

/* R wilcox.test with ties (normal approximation, continuity and tie correction), as printed
 * on endmemo.com/r/wilcoxon.php: x = c(1,5,9,24,56,21,3,7,21,4),
 * y = c(12,15,5,9,9,14,56,22,3,7,32,5): W = 51.5, p-value = 0.5966;
 * y = c(1233,4356,987,39999,1111,200000): W = 0, p-value = 0.001364. */
static void test_ties_r_example(void **state)
{
    (void)state;
    double x[] = {1, 5, 9, 24, 56, 21, 3, 7, 21, 4};
    double y1[] = {12, 15, 5, 9, 9, 14, 56, 22, 3, 7, 32, 5};
    double y2[] = {1233, 4356, 987, 39999, 1111, 200000};
    struct wg_mw_result m;
    bad = 0;
    assert_int_equal(wg_rules_mann_whitney(x, 10, y1, 12, 0.95, &m), WG_OK);
    near("ties W", 51.5, m.u, 0);
    near("ties p", 0.5966, m.p_value, 5e-5);
    assert_int_equal(m.exact, 0);
    assert_int_equal(wg_rules_mann_whitney(x, 10, y2, 6, 0.95, &m), WG_OK);
    near("separated W", 0, m.u, 0);
    near("separated p", 0.001364, m.p_value, 5e-7);
    assert_true(m.shift_hi < 0);
    assert_int_equal(bad, 0);
}

struct degenerate {
    const char *name;
    double x[4], y[4];
    size_t nx, ny;
    double want_p, want_shift, want_ratio;
};

static void test_degenerate(void **state)
{
    (void)state;
    static const struct degenerate cases[] = {
        /* all tied: no evidence of a shift, p = 1, no division by zero */
        {"all equal", {5, 5, 5, 5}, {5, 5, 5, 5}, 4, 4, 1, 0, 1},
        {"single points equal", {3}, {3}, 1, 1, 1, 0, 1},
        /* one point each: P(U >= 1) = 1/2, two-sided min(1, 2 * 1/2) = 1 */
        {"single points apart", {4}, {2}, 1, 1, 1, 2, 2},
        {"zeros", {0, 0}, {0, 0}, 2, 2, 1, 0, 1},
        /* baseline mean 0, current not: the mean ratio is undefined. The tie in y forces
         * the normal approximation: U = 4, var = 4/12 * (5 - 6/12) = 1.5,
         * z = (2 - 0.5) / sqrt(1.5), p = 2 * P(Z > z) = 0.2206713619 */
        {"zero baseline", {1, 2}, {0, 0}, 2, 2, 0.22067136191984682, 1.5, NAN},
    };
    bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct degenerate *c = &cases[i];
        struct wg_mw_result m;
        assert_int_equal(wg_rules_mann_whitney(c->x, c->nx, c->y, c->ny, 0.98, &m), WG_OK);
        char w[96];
        snprintf(w, sizeof(w), "%s p", c->name);
        near(w, c->want_p, m.p_value, 1e-9);
        snprintf(w, sizeof(w), "%s shift", c->name);
        near(w, c->want_shift, m.shift, 1e-12);
        snprintf(w, sizeof(w), "%s ratio", c->name);
        near(w, c->want_ratio, m.ratio, 1e-12);
    }
    struct wg_mw_result m;
    double one = 1;
    assert_int_equal(wg_rules_mann_whitney(&one, 1, NULL, 0, 0.98, &m), WG_EINVAL);
    assert_int_equal(bad, 0);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The selection must equal the brute-force sorted differences, ties included. */
static void test_diff_select(void **state)
{
    (void)state;
    static const size_t sizes[][2] = {{1, 1}, {3, 7}, {50, 50}, {120, 80}, {300, 211}};
    uint64_t s = 7;
    bad = 0;
    for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
        size_t nx = sizes[t][0], ny = sizes[t][1], K = nx * ny;
        double *x = malloc(nx * sizeof(*x)), *y = malloc(ny * sizeof(*y));
        double *all = malloc(K * sizeof(*all));
        assert_non_null(x);
        assert_non_null(y);
        assert_non_null(all);
        for (size_t i = 0; i < nx; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            x[i] = (double)((s >> 33) % 40); /* many ties */
        }
        for (size_t i = 0; i < ny; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            y[i] = (double)((s >> 33) % 37) * 0.5;
        }
        qsort(x, nx, sizeof(*x), cmpd);
        qsort(y, ny, sizeof(*y), cmpd);
        for (size_t i = 0; i < nx; i++) {
            for (size_t j = 0; j < ny; j++) {
                all[i * ny + j] = x[i] - y[j];
            }
        }
        qsort(all, K, sizeof(*all), cmpd);
        uint64_t ks[] = {1, K / 100 + 1, K / 2, K / 2 + 1, K - K / 100, K};
        for (size_t q = 0; q < sizeof(ks) / sizeof(ks[0]); q++) {
            double got;
            if (ks[q] < 1) {
                assert_int_equal(wg__rules_diff_select(x, nx, y, ny, ks[q], &got), WG_EINVAL);
                continue;
            }
            assert_int_equal(wg__rules_diff_select(x, nx, y, ny, ks[q], &got), WG_OK);
            if (got != all[ks[q] - 1]) {
                printf("FAIL select %zux%zu k=%llu: want %g got %g\n", nx, ny,
                       (unsigned long long)ks[q], all[ks[q] - 1], got);
                bad++;
            }
        }
        double got;
        assert_int_equal(wg__rules_diff_select(x, nx, y, ny, K + 1, &got), WG_EINVAL);
        free(x);
        free(y);
        free(all);
    }
    assert_int_equal(bad, 0);
}

static void test_normal(void **state)
{
    (void)state;
    bad = 0;
    near("ppf 0.975", 1.959963984540054, wg__rules_norm_ppf(0.975), 1e-12);
    near("ppf 0.99", 2.326347874040841, wg__rules_norm_ppf(0.99), 1e-12);
    near("ppf 0.001", -3.090232306167813, wg__rules_norm_ppf(0.001), 1e-12);
    near("ppf 0.5", 0, wg__rules_norm_ppf(0.5), 1e-15);
    near("sf 1.959963984540054", 0.025, wg__rules_norm_sf(1.959963984540054), 1e-15);
    assert_true(isinf(wg__rules_norm_ppf(0)) && wg__rules_norm_ppf(0) < 0);
    assert_true(isinf(wg__rules_norm_ppf(1)) && wg__rules_norm_ppf(1) > 0);
    assert_int_equal(bad, 0);
}

static void test_iqr(void **state)
{
    (void)state;
    double v[] = {10, 11, 12, 13, 14, 1000, -500};
    size_t n = wg__rules_iqr_filter(v, 7);
    /* sorted -500 10 11 12 13 14 1000: Q1 10.5, Q3 13.5, fences 6 and 18 */
    assert_int_equal(n, 5);
    assert_true(v[0] == 10 && v[4] == 14);
    double w[] = {1, 1000, 2};
    assert_int_equal(wg__rules_iqr_filter(w, 3), 3); /* too few points to judge */
    double e[] = {5, 5, 5, 5, 5};
    assert_int_equal(wg__rules_iqr_filter(e, 5), 5); /* IQR 0 keeps equal values */
}

static void test_alpha_spending(void **state)
{
    (void)state;
    bad = 0;
    double sum = 0;
    for (int k = 1; k <= 10; k++) {
        sum += wg_rules_alpha_spend(0.01, k, 10);
    }
    near("sum over 10 looks", 0.01, sum, 1e-15);
    near("look 1 of 10 gets half", 0.005, wg_rules_alpha_spend(0.01, 1, 10), 1e-15);
    near("look 2 of 10", 0.005 / 9, wg_rules_alpha_spend(0.01, 2, 10), 1e-15);
    near("skipped look 1 carries over", 0.005 + 0.005 / 9,
         wg_rules_alpha_spend_since(0.01, 0, 2, 10), 1e-15);
    near("single look spends all", 0.01, wg_rules_alpha_spend(0.01, 1, 1), 0);
    near("beyond max_looks", 0, wg_rules_alpha_spend(0.01, 11, 10), 0);
    near("look 0", 0, wg_rules_alpha_spend(0.01, 0, 10), 0);
    near("last_tested >= look", 0, wg_rules_alpha_spend_since(0.01, 3, 3, 10), 0);
    near("spent by look 10", 0.01, wg_rules_alpha_spent(0.01, 10, 10), 0);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scipy_example),   cmocka_unit_test(test_hollander_wolfe),
        cmocka_unit_test(test_ties_r_example),  cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_diff_select),     cmocka_unit_test(test_normal),
        cmocka_unit_test(test_iqr),             cmocka_unit_test(test_alpha_spending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
