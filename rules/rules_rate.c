/* rules_rate.c — the rate judge: two error rates (events over exposure, e.g. errors over
 * requests) compared by the exact conditional test for two Poisson rates, with an effect-size
 * allowance folded into the null hypothesis, a direction and a power guard in events. The
 * binomial tails come from the regularized incomplete beta function, so tiny p-values stay
 * exact at 10^5 or 10^7 events. Pure: no I/O, no clock.
 */
#include "rules/rules_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Continued fraction of the incomplete beta (modified Lentz, as in Numerical Recipes' betacf).
 * It needs O(sqrt(max(a, b))) terms; the cap allows ~10^11 events, beyond which NaN (the
 * judge then says it could not evaluate: fail closed, never a guess). */
static double betacf(double a, double b, double x)
{
    const double tiny = 1e-300, eps = 1e-15;
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny) {
        d = tiny;
    }
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 2000000; m++) {
        double m2 = 2.0 * m, aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        d = fabs(d) < tiny ? tiny : d;
        c = 1 + aa / c;
        c = fabs(c) < tiny ? tiny : c;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        d = fabs(d) < tiny ? tiny : d;
        c = 1 + aa / c;
        c = fabs(c) < tiny ? tiny : c;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < eps) {
            return h;
        }
    }
    return NAN;
}

/* Regularized incomplete beta I_x(a, b), a, b > 0. The fraction is evaluated on the side
 * where it converges fast; the small tail is never computed as 1 - (something near 1). */
static double ibeta(double a, double b, double x)
{
    if (x <= 0) {
        return 0;
    }
    if (x >= 1) {
        return 1;
    }
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2)) {
        return exp(lbt) * betacf(a, b, x) / a;
    }
    return 1 - exp(lbt) * betacf(b, a, 1 - x) / b;
}

double wg_rules_binom_sf(double k, double n, double pi)
{
    if (k <= 0) {
        return 1;
    }
    if (k > n) {
        return 0;
    }
    if (pi <= 0) {
        return 0;
    }
    if (pi >= 1) {
        return 1;
    }
    return ibeta(k, n - k + 1, pi); /* P(X >= k) = I_pi(k, n - k + 1) */
}

double wg_rules_binom_cdf(double k, double n, double pi)
{
    if (k < 0) {
        return 0;
    }
    if (k >= n) {
        return 1;
    }
    /* P(X <= k) = P(n - X >= n - k) with n - X ~ Binomial(n, 1 - pi) */
    return wg_rules_binom_sf(n - k, n, 1 - pi);
}

enum wg_err wg_rules_rate_test(double x1, double n1, double x0, double n0, double inc_ratio,
                               double dec_ratio, struct wg_rate_test *out)
{
    memset(out, 0, sizeof(*out));
    if (!(x1 >= 0 && x0 >= 0 && n1 > 0 && n0 > 0 && inc_ratio > 0 && dec_ratio >= 0) ||
        !isfinite(x1 + x0 + n1 + n0 + inc_ratio + dec_ratio)) {
        return WG_EINVAL;
    }
    double N = x1 + x0;
    double pi_inc = n1 * inc_ratio / (n1 * inc_ratio + n0);
    double pi_dec = n1 * dec_ratio / (n1 * dec_ratio + n0);
    out->p_increase = wg_rules_binom_sf(x1, N, pi_inc);
    out->p_decrease = wg_rules_binom_cdf(x1, N, pi_dec);
    out->p_min_increase = exp(N * log(pi_inc));
    out->p_min_decrease = pi_dec >= 1 ? 1 : exp(N * log1p(-pi_dec));
    if (isnan(out->p_increase) || isnan(out->p_decrease)) {
        return WG_EINVAL; /* no convergence */
    }
    return WG_OK;
}

static double fraction(const struct wg_limit *l)
{
    return !l->set ? 0 : l->percent ? l->value / 100.0 : l->value;
}

/* The group's one-sided p (either: 2 * the smaller side) and the smallest it could be. */
static void pick_side(enum wg_direction d, const struct wg_rate_test *t, struct wg_group_test *gt)
{
    if (d == WG_DIR_INCREASE) {
        gt->direction = 1;
        gt->p = t->p_increase;
        gt->p_min = t->p_min_increase;
    } else if (d == WG_DIR_DECREASE) {
        gt->direction = -1;
        gt->p = t->p_decrease;
        gt->p_min = t->p_min_decrease;
    } else {
        gt->direction = t->p_increase <= t->p_decrease ? 1 : -1;
        gt->p = fmin(1, 2 * fmin(t->p_increase, t->p_decrease));
        gt->p_min = fmin(1, 2 * fmin(t->p_min_increase, t->p_min_decrease));
    }
}

void wg__rules_judge_rate(const struct wg_rule_input *in, const struct wg__rate_counts *k,
                          struct wg_group_result *g)
{
    const struct wg_rule_params *p = in->p;
    long min_samples = p->min_samples > 0 ? p->min_samples : 1;
    g->samples = k->points_cur;
    g->baseline_samples = k->points_base;
    if (!k->has_cur || k->points_cur == 0 || !(k->n1 > 0)) {
        g->verdict = p->no_data == WG_NODATA_PASS   ? WG_PASS
                     : p->no_data == WG_NODATA_FAIL ? WG_FAIL
                                                    : WG_INCONCLUSIVE;
        snprintf(g->reason, sizeof(g->reason), "no data (no exposure in the window)");
        return;
    }
    if (!k->has_base || k->points_base == 0 || !(k->n0 > 0)) {
        g->verdict = WG_INCONCLUSIVE;
        snprintf(g->reason, sizeof(g->reason), "no baseline data");
        return;
    }
    if (k->negative) {
        g->verdict = WG_NOEVAL;
        snprintf(g->reason, sizeof(g->reason), "negative count: could not evaluate");
        return;
    }
    g->has_value = g->has_baseline = 1;
    g->value = k->x1 / k->n1;
    g->baseline = k->x0 / k->n0;
    if ((long)k->points_cur < min_samples || (long)k->points_base < min_samples) {
        g->verdict = WG_INCONCLUSIVE;
        snprintf(g->reason, sizeof(g->reason), "%s %zu points < min_samples %ld",
                 (long)k->points_cur < min_samples ? "current" : "baseline",
                 (long)k->points_cur < min_samples ? k->points_cur : k->points_base, min_samples);
        return;
    }
    double events = k->x1 + k->x0;
    if (events < (double)p->min_events) {
        g->verdict = WG_INCONCLUSIVE;
        snprintf(g->reason, sizeof(g->reason),
                 "%.0f events (%.0f current + %.0f baseline) < min_events %ld", events, k->x1,
                 k->x0, p->min_events);
        return;
    }
    double a = fraction(&p->allowed_increase), dd = fmin(fraction(&p->allowed_decrease), 1);
    struct wg_rate_test t;
    if (wg_rules_rate_test(k->x1, k->n1, k->x0, k->n0, 1 + a, 1 - dd, &t) != WG_OK) {
        g->verdict = WG_NOEVAL;
        snprintf(g->reason, sizeof(g->reason), "rate test did not converge: could not evaluate");
        return;
    }
    struct wg_group_test *gt = &g->test;
    pick_side(p->direction, &t, gt);
    gt->tested = 1;
    double ratio = g->baseline > 0 ? g->value / g->baseline : (g->value > 0 ? INFINITY : 1);
    /* The allowance is inside the null hypothesis (rate1 <= (1 + a) rate0), so a rejection
     * already is an effect beyond it. */
    gt->effect_fail = 1;
    g->badness = gt->direction * (ratio > 0 ? log(ratio) : -40);
    snprintf(gt->effect, sizeof(gt->effect),
             "rate %.4g vs baseline %.4g (ratio %.3g, allowed %.4g), %.0f/%.0f vs %.0f/%.0f",
             g->value, g->baseline, ratio, gt->direction > 0 ? 1 + a : 1 - dd, k->x1, k->n1, k->x0,
             k->n0);
    double conf = p->confidence > 0 && p->confidence < 1 ? p->confidence : 0.98;
    double alpha = p->direction == WG_DIR_EITHER ? 1 - conf : (1 - conf) / 2;
    if (in->sequential) {
        alpha = in->look_alpha > 0 ? in->look_alpha : 0;
    }
    wg__rules_test_verdict(g, alpha, 0);
}
