/* rules.h — pure evaluation of series against a rule: reducers, thresholds, baselines,
 * statistics, no-data policy, scoring, limits over repeated measurements.
 * No I/O, no clock, no libcurl/libyaml/libmicrohttpd: given data it returns a verdict and why.
 */
#ifndef WG_RULES_H
#define WG_RULES_H

#include "common/common.h"
#include "config/config.h"

/* Reduce n values with r (NaN values are skipped by every reducer except count, which counts
 * them). Returns 0 and sets *out, or -1 when there is nothing to reduce. */
int wg_rules_reduce(enum wg_reduce r, const double *v, size_t n, double *out);

struct wg_group_result {
    struct wg_label *labels; /* owned copies */
    size_t nlabels;
    enum wg_verdict verdict;
    int has_value;
    double value;
    int has_baseline;
    double baseline;
    size_t samples;
    size_t baseline_samples;
    char reason[256];
};

struct wg_mw_result { /* Mann-Whitney details, when judge is mann-whitney */
    double u, z, p_value;
    double shift, shift_lo, shift_hi; /* Hodges-Lehmann shift and CI (current - baseline) */
    double ratio;                     /* mean(current) / mean(baseline) */
    size_t n_current, n_baseline;
    /* Added by issue 4 (additive): one-sided p-values (normal approximation with continuity
     * and tie correction, or exact when both sides < 50 and no ties), the false-fail rate used
     * per failing direction, the confidence of [shift_lo, shift_hi] (= 1 - 2 * alpha), and
     * whether the exact distribution was used. */
    double p_increase, p_decrease;
    double alpha;
    double confidence;
    int exact;
};

struct wg_rule_result {
    enum wg_verdict verdict;
    int has_value;
    double value; /* worst group's value */
    int has_baseline;
    double baseline;
    size_t samples;
    char reason[512];
    struct wg_group_result *groups;
    size_t ngroups;
    int has_mw;
    struct wg_mw_result mw;
    int dry_run;       /* evaluated but never changes the gate verdict */
    int peers_pending; /* judge: peers: value reduced, verdict awaits wg_rules_peers */
};

/* Inputs of one evaluation. baseline is NULL unless the rule has one; for baseline: previous
 * it holds the previous passing values as one series with no labels. `error` non-NULL means
 * the collector failed: the result is WG_ERROR with that reason. */
struct wg_rule_input {
    const struct wg_rule *rule;
    const struct wg_rule_params *p; /* effective params for the wave */
    const struct wg_seriesset *current;
    const struct wg_seriesset *baseline;
    const char *error;
    const char *baseline_error;
    /* Added by issue 4 (additive), for repeated looks of a bake-time analysis: when
     * `sequential` is set, the Mann-Whitney judge fails only when the one-sided p-value in a
     * failing direction is below `look_alpha` (take it from wg_rules_alpha_spend_since); when
     * not set, the false-fail rate per direction is (1 - confidence) / 2. */
    int sequential;
    double look_alpha;
};

/* Evaluate; out is caller-owned, zero it first; free with wg_rule_result_clear. */
enum wg_err wg_rules_eval(const struct wg_rule_input *in, struct wg_rule_result *out);
void wg_rule_result_clear(struct wg_rule_result *r);

/* Combine rule results of one feature (dry-run ones excluded): worst verdict, or, when the
 * feature has scoring, the weighted score (pass = 1, warn = 0.5, other = 0 over rules that
 * evaluated) against its thresholds, with a failing key rule failing it. Fail closed: a rule
 * in error (key or not) makes a scored feature ERROR unless the score fails anyway, a key rule
 * inconclusive caps it at INCONCLUSIVE, nothing judged is INCONCLUSIVE (rules_eval.c has the
 * exact reading). *score_pct is set when scoring is on, else -1. */
enum wg_verdict wg_rules_combine(const struct wg_feature *f, const struct wg_rule_result *rs,
                                 const struct wg_rule_params *const *ps, size_t n,
                                 double *score_pct);

/* ---- statistics (rules_stats.c), added by issue 4 --------------------------------------- */

/* Mann-Whitney U of x (current) against y (baseline), both finite, not modified:
 * u = U of x (ties count 1/2), z and two-sided p_value with tie and continuity correction
 * (exact distribution when nx < 50, ny < 50 and there are no ties, as R's wilcox.test),
 * Hodges-Lehmann shift (median of x_i - y_j) with its distribution-free confidence interval
 * at `confidence` (in (0, 1); anything else means 0.98), ratio = mean(x) / mean(y) (NaN when
 * mean(y) <= 0 unless both are 0, then 1). All tied: z = 0, p = 1, shift 0.
 * Returns WG_EINVAL when a side is empty, WG_ENOMEM; out is always written. */
enum wg_err wg_rules_mann_whitney(const double *x, size_t nx, const double *y, size_t ny,
                                  double confidence, struct wg_mw_result *out);

/* Alpha spending for a bake-time analysis of max_looks looks at one rule (pure).
 * Spending function F(k) for look k = 1..K ("front-loaded Bonferroni", a Haybittle-Peto
 * boundary turned around): F(k) = alpha * (1/2 + (k - 1) / (2 (K - 1))), F(K) = alpha,
 * F(0) = 0; K = 1 spends alpha at once. Half the false-fail budget goes to the first look so
 * a large regression fails at once; the rest is spread evenly over the later looks, which
 * see more data. The union bound makes the overall false-fail rate <= alpha whatever the
 * correlation between looks (growing or sliding windows alike).
 * wg_rules_alpha_spent: F(look). wg_rules_alpha_spend: F(look) - F(look - 1).
 * wg_rules_alpha_spend_since: F(look) - F(last_tested), for when earlier looks were skipped
 * (inconclusive, below min_samples): their unspent share carries over. Looks outside
 * 1..max_looks, or last_tested >= look, get 0. */
double wg_rules_alpha_spent(double alpha, int look, int max_looks);
double wg_rules_alpha_spend(double alpha, int look, int max_looks);
double wg_rules_alpha_spend_since(double alpha, int last_tested, int look, int max_looks);

/* ---- limits over repeated measurements (rules_limits.c), added by issue 4 --------------- */

/* The model is Argo Rollouts' failureLimit / inconclusiveLimit / consecutiveErrorLimit:
 * - failures (FAIL measurements, in total) > failure_limit         -> FAIL   (-1: off)
 * - consecutive_failures > 0 and that many FAILs in a row          -> FAIL   (0: off)
 * - inconclusive measurements (in total) > inconclusive_limit       -> INCONCLUSIVE (-1: off)
 * - consecutive errors > error_limit                                -> ERROR  (-1: off)
 *   errors are counted apart from failures and the streak resets on any non-error, so a
 *   data-source outage pauses the analysis and, if it lasts, ends it as ERROR, never FAIL.
 * - count > 0 and count measurements taken with no limit crossed   -> PASS (WARN if any
 *   measurement warned), or INCONCLUSIVE when none of them passed or warned (no evidence).
 * A zeroed struct is Argo's strictest reading: the first fail, inconclusive or error ends it.
 * WARN counts as a success. */
struct wg_limits {
    int failure_limit;
    int consecutive_failures;
    int inconclusive_limit;
    int error_limit;
    int count; /* measurements planned; 0 = until wg_limits_finish */
};

struct wg_limits_state {
    int measurements, successes, warnings, failures, inconclusives, errors;
    int failure_streak, error_streak;
    int done;
    enum wg_verdict verdict; /* final once done */
    char reason[160];
};

/* Feed one measurement (zero the state first). Returns the overall verdict so far: WG_PASS
 * while running (*done = 0), the final verdict once decided (*done = 1). Steps after the end
 * change nothing. done may be NULL. */
enum wg_verdict wg_limits_step(const struct wg_limits *l, struct wg_limits_state *st,
                               enum wg_verdict measurement, int *done);
/* End a run early (count 0, or the caller stops): the verdict a crossed limit decided, else
 * PASS / WARN if at least one measurement succeeded, else INCONCLUSIVE. */
enum wg_verdict wg_limits_finish(const struct wg_limits *l, struct wg_limits_state *st);

/* ---- peer judgement (rules_peers.c) ------------------------------------------------------- */

/* One target's result of a `judge: peers` rule. wg_rules_eval leaves it peers_pending with
 * its own value (every point of the window reduced with p->reduce) when it has data. */
struct wg_peer {
    const char *name;
    struct wg_rule_result *res;
};

/* Judge each pending target against the others of the same wave and window (leave-one-out):
 * the median and MAD (scaled by 1.4826, floored at 1% of the median) of the other targets'
 * values; a target fails when its robust z exceeds the one-sided normal quantile of
 * alpha / n (the false-fail budget split over the n targets judged) AND its change against
 * the peers' median exceeds max_increase (max_decrease; default 10%) in p->direction. A
 * shift of the whole fleet moves the median too and fails nobody (left to baseline rules).
 * Fewer than 3 targets with data: every pending one is INCONCLUSIVE. Pure. */
void wg_rules_peers(const struct wg_rule_params *p, struct wg_peer *peers, size_t n, double alpha);

#endif
