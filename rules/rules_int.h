/* rules_int.h — what the files of rules/ share: reducer names, sorting and order statistics,
 * the normal distribution, and the Mann-Whitney core. Not for use outside rules/ and its
 * tests.
 */
#ifndef WG_RULES_INT_H
#define WG_RULES_INT_H

#include "rules/rules.h"

/* Short name of a reducer ("p95"); never NULL. Local so rules/ needs nothing of config's .c. */
const char *wg__rules_reduce_name(enum wg_reduce r);

/* Sort ascending (no NaN in v). */
void wg__rules_sort(double *v, size_t n);
/* Quantile with linear interpolation between order statistics (R type 7) of sorted v, n > 0. */
double wg__rules_quantile7(const double *sorted, size_t n, double q);

/* Standard normal: upper tail P(Z > z), and the quantile (inverse CDF) for p in (0, 1). */
double wg__rules_norm_sf(double z);
double wg__rules_norm_ppf(double p);

/* Drop values outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR] in place; returns the new count. */
size_t wg__rules_iqr_filter(double *v, size_t n);

/* k-th smallest (1-based) of the differences x[i] - y[j], with xs and ys sorted ascending.
 * O((nx + ny) log(nx ny)) expected, deterministic. WG_EINVAL unless 1 <= k <= nx*ny;
 * WG_ENOMEM on allocation failure. */
enum wg_err wg__rules_diff_select(const double *xs, size_t nx, const double *ys, size_t ny,
                                  uint64_t k, double *out) WG_NODISCARD;

/* Exact null distribution of U for sizes m, n without ties: cdf[u] = P(U <= u), u = 0..m*n.
 * Caller frees; NULL on ENOMEM. Memory (m + 1) * (m * n + 1) doubles. */
double *wg__rules_mw_exact_cdf(size_t m, size_t n);

/* The normal approximation alone, with or without continuity correction (tie-corrected):
 * two-sided p and the one-sided p for "x greater". For tests against published values. */
enum wg_err wg__rules_mw_asymptotic(const double *x, size_t nx, const double *y, size_t ny,
                                    int correct, double *p_two, double *p_greater) WG_NODISCARD;

/* ---- budget issue: rate judge and the family step ------------------------------------ */

/* One group's sums for judge: rate (values summed over the window, NaN skipped). */
struct wg__rate_counts {
    int has_cur, has_base; /* a denominator series exists on that side */
    double x1, n1;         /* current: events, exposure */
    double x0, n0;         /* baseline */
    size_t points_cur, points_base;
    int negative; /* a negative count was seen */
};

/* Judge one group of a rate rule from its sums (rules_rate.c). */
void wg__rules_judge_rate(const struct wg_rule_input *in, const struct wg__rate_counts *k,
                          struct wg_group_result *g);

/* Verdict and reason of a tested group at `level` (rules_family.c): the power guard
 * (p_min > level: inconclusive), then FAIL when the p (adjusted one when `family`) is <=
 * level and the effect-size gate is crossed, else PASS. */
void wg__rules_test_verdict(struct wg_group_result *g, double level, int family);

/* The rule's verdict, value and reason from its worst group (rules_family.c). */
void wg__rules_summarize(struct wg_rule_result *out);

/* judge: peers, the part wg_rules_eval does per target (rules_peers.c): the target's own
 * value, left peers_pending for wg_rules_peers; no data follows no_data. */
enum wg_err wg__rules_peers_self(const struct wg_rule_input *in,
                                 struct wg_rule_result *out) WG_NODISCARD;

#endif
