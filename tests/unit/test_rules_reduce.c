/* test_rules_reduce.c — reducers: every reducer over plain values, NaN (skipped except by
 * count), +-Inf (taking part), empty and all-NaN input, single points, and the nearest-rank
 * percentiles of InfluxQL (index floor(n*q + 0.5) - 1, clamped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "rules/rules_int.h"

#define N_ NAN
#define I_ INFINITY

struct rcase {
    const char *name;
    enum wg_reduce r;
    double v[12];
    size_t n;
    enum wg_err want_rc;
    double want; /* NAN means "want NaN" */
};

static const struct rcase cases[] = {
    {"last", WG_REDUCE_LAST, {1, 2, 3}, 3, 0, 3},
    {"last skips trailing NaN", WG_REDUCE_LAST, {1, 2, N_}, 3, 0, 2},
    {"first skips leading NaN", WG_REDUCE_FIRST, {N_, 7, 8}, 3, 0, 7},
    {"mean", WG_REDUCE_MEAN, {1, 2, 3, 4}, 4, 0, 2.5},
    {"mean skips NaN", WG_REDUCE_MEAN, {1, N_, 3}, 3, 0, 2},
    {"mean +Inf", WG_REDUCE_MEAN, {1, I_, 3}, 3, 0, I_},
    {"mean +Inf and -Inf is NaN", WG_REDUCE_MEAN, {I_, -I_}, 2, 0, N_},
    {"min", WG_REDUCE_MIN, {3, -1, 2}, 3, 0, -1},
    {"min -Inf", WG_REDUCE_MIN, {3, -I_, 2}, 3, 0, -I_},
    {"max", WG_REDUCE_MAX, {3, 9, N_, 2}, 4, 0, 9},
    {"max +Inf", WG_REDUCE_MAX, {3, I_}, 2, 0, I_},
    {"sum", WG_REDUCE_SUM, {1.5, 2.5, N_}, 3, 0, 4},
    {"count counts NaN", WG_REDUCE_COUNT, {1, N_, N_}, 3, 0, 3},
    {"count all NaN", WG_REDUCE_COUNT, {N_, N_}, 2, 0, 2},
    {"median odd", WG_REDUCE_MEDIAN, {5, 1, 3}, 3, 0, 3},
    {"median even averages the middle", WG_REDUCE_MEDIAN, {4, 1, 3, 2}, 4, 0, 2.5},
    {"median skips NaN", WG_REDUCE_MEDIAN, {N_, 4, 1, 3}, 4, 0, 3},
    {"median with +Inf", WG_REDUCE_MEDIAN, {1, I_, I_}, 3, 0, I_},
    {"p90 of 1..10 (index 8)", WG_REDUCE_P90, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 10, 0, 9},
    {"p95 of 1..10 (index 9)", WG_REDUCE_P95, {10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 10, 0, 10},
    {"p99 of 1..10 clamps", WG_REDUCE_P99, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 10, 0, 10},
    {"p90 of 1..4 (index 3)", WG_REDUCE_P90, {1, 2, 3, 4}, 4, 0, 4},
    {"p90 of 1..3 (floor(3.2)-1 = 2)", WG_REDUCE_P90, {3, 1, 2}, 3, 0, 3},
    {"p95 single point", WG_REDUCE_P95, {42}, 1, 0, 42},
    {"p99 skips NaN", WG_REDUCE_P99, {N_, 1, 2}, 3, 0, 2},
    {"p95 with +Inf", WG_REDUCE_P95, {1, 2, I_}, 3, 0, I_},
    {"single point mean", WG_REDUCE_MEAN, {7}, 1, 0, 7},
    {"empty last", WG_REDUCE_LAST, {0}, 0, WG_ENOTFOUND, 0},
    {"empty count", WG_REDUCE_COUNT, {0}, 0, WG_ENOTFOUND, 0},
    {"empty p95", WG_REDUCE_P95, {0}, 0, WG_ENOTFOUND, 0},
    {"all NaN mean", WG_REDUCE_MEAN, {N_, N_}, 2, WG_ENOTFOUND, 0},
    {"all NaN max", WG_REDUCE_MAX, {N_}, 1, WG_ENOTFOUND, 0},
    {"all NaN p90", WG_REDUCE_P90, {N_, N_, N_}, 3, WG_ENOTFOUND, 0},
    {"all NaN median", WG_REDUCE_MEDIAN, {N_}, 1, WG_ENOTFOUND, 0},
};

static int same(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static void test_reducers(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct rcase *c = &cases[i];
        double got = -12345;
        enum wg_err rc = wg_rules_reduce(c->r, c->v, c->n, &got);
        if (rc != c->want_rc || (rc == WG_OK && !same(got, c->want))) {
            printf("FAIL %s (%s): want rc %d value %g, got rc %d value %g\n", c->name,
                   wg__rules_reduce_name(c->r), c->want_rc, c->want, rc, got);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_reduce_args(void **state)
{
    (void)state;
    double out = 0, v[1] = {1};
    assert_int_equal(wg_rules_reduce(WG_REDUCE_LAST, NULL, 3, &out), WG_EINVAL);
    assert_int_equal(wg_rules_reduce(WG_REDUCE_LAST, v, 1, NULL), WG_EINVAL);
    assert_string_equal(wg__rules_reduce_name(WG_REDUCE_P95), "p95");
    assert_string_equal(wg__rules_reduce_name(WG_REDUCE_MEDIAN), "median");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reducers),
        cmocka_unit_test(test_reduce_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
