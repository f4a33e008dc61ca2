/* rules.h — pure evaluation of series against a rule: reducers, thresholds, baselines,
 * statistics, no-data policy, scoring, limits over repeated measurements.
 * No I/O, no clock, no libcurl/libyaml/libmicrohttpd: given data it returns a verdict and why.
 */
#ifndef WG_RULES_H
#define WG_RULES_H

#include "common/common.h"
#include "config/config.h"

/* Reduce n values with r (NaN values are skipped by every reducer except count, which counts
 * them). Returns WG_OK and sets *out; WG_ENOTFOUND when there is nothing to reduce (no values,
 * or only NaN), WG_EINVAL for a NULL out or v, WG_ENOMEM. */
enum wg_err wg_rules_reduce(enum wg_reduce r, const double *v, size_t n, double *out) WG_NODISCARD;

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

/* Added by the budget issue: what a statistical judge (mann-whitney, rate) leaves in each
 * group for the gate's family-wise step (rules_family.c), and what that step writes back. */
struct wg_group_test {
    int tested;       /* 1: a one-sided test ran; the group is a member of the gate's family */
    int direction;    /* +1 increase, -1 decrease: the side of p */
    int effect_fail;  /* the effect-size gate (allowed_increase/decrease) is crossed */
    double p;         /* raw p in the failing direction(s); direction either: 2 * min, <= 1 */
    double p_min;     /* the smallest p this test could give on this data (power guard) */
    char effect[200]; /* the effect-size part of the reason, to rewrite it after the family */
    /* written by wg_rules_family_apply */
    int family;      /* 1: judged by the family step */
    double weight;   /* its share of the family weight */
    double p_adj;    /* weighted-Holm adjusted p-value */
    double level;    /* the family budget p_adj was compared with (at this look) */
    size_t family_n; /* tests in the family */
};

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
    struct wg_group_test test; /* added by the budget issue */
    double badness;            /* how extreme, to pick the worst group */
    int has_mw;
    struct wg_mw_result mw; /* Mann-Whitney details of this group when has_mw */
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
    int dry_run; /* evaluated but never changes the gate verdict */
    /* Added by the budget issue: a statistical test ran and spent false-fail budget at this
     * evaluation, whatever the verdict (a pass in an incomplete window reads inconclusive
     * but was tested): what a bake-time analysis records as the rule's last tested look. */
    int tested;
    int peers_pending; /* judge: peers: value reduced, verdict awaits wg_rules_peers */
};

/* Inputs of one evaluation. baseline is NULL unless the rule has one; for baseline: previous
 * it holds the previous passing values as one series with no labels. `error` non-NULL means
 * the collector failed: the result is WG_NOEVAL with that reason. */
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
    /* Added by the budget issue, for judge: rate: current and baseline hold the numerator
     * (events) field, these the denominator (exposure) field of the same query. */
    const struct wg_seriesset *current_den;
    const struct wg_seriesset *baseline_den;
};

/* Evaluate; out is caller-owned, zero it first; free with wg_rule_result_clear. */
enum wg_err wg_rules_eval(const struct wg_rule_input *in, struct wg_rule_result *out) WG_NODISCARD;
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

/* ---- one false-fail budget per gate (rules_family.c), added by the budget issue --------- */

/* One hypothesis of a family: its p-value (in [0, 1]) and weight (> 0, finite). */
struct wg_family_hyp {
    double p, w;
    double p_adj; /* out: weighted-Holm adjusted p-value, in [p, 1] */
    int reject;   /* out: p_adj <= level */
};

/* Weighted Holm step-down (Holm 1979) over n hypotheses at family-wise level `level`: order
 * by p/w, at each step reject the smallest p/w while p <= level * w / (weight left);
 * adjusted p_(k) = max over j <= k of min(1, p_(j) * W_j / w_(j)). Equal weights give Holm,
 * i.e. R's p.adjust(method = "holm"). The family-wise false-fail rate is <= level under any
 * dependence. WG_EINVAL on a NaN p or a weight <= 0 (nothing written), WG_ENOMEM. */
enum wg_err wg_rules_family(struct wg_family_hyp *h, size_t n, double level) WG_NODISCARD;

/* The false-fail rate one statistical rule is designed for: (1 - confidence) / 2 per failing
 * direction, 1 - confidence for direction either (its p is 2 * min of the sides). */
double wg_rules_family_rule_level(const struct wg_rule_params *p);

/* Is r judged by a one-sided test (mann-whitney, rate)? */
int wg_rules_is_statistical(const struct wg_rule *r);

/* The family step of one gate evaluation: every tested group of the n results (dry-run ones
 * and rules with ps[i] NULL are skipped: they do not spend the gate's budget) is one
 * hypothesis, weighted by its rule's weight split evenly among the rule's tested groups.
 * A group whose smallest possible p exceeds `level` cannot fail: it becomes inconclusive
 * and leaves the family (power guard). The rest are re-judged by weighted Holm at `level`:
 * FAIL when adjusted p <= level and the effect-size gate is crossed, else PASS; each group's
 * test records p, adjusted p and level, its reason is rewritten, and each touched rule is
 * re-summarized (worst group). *nfamily (may be NULL) gets the family size. */
enum wg_err wg_rules_family_apply(struct wg_rule_result *const *rs,
                                  const struct wg_rule_params *const *ps, size_t n, double level,
                                  size_t *nfamily) WG_NODISCARD;

/* ---- the rate judge (rules_rate.c), added by the budget issue --------------------------- */

/* Binomial tails, numerically stable (regularized incomplete beta): P(X >= k) and
 * P(X <= k) for X ~ Binomial(n, pi), pi in [0, 1]. NaN when the continued fraction does not
 * converge (never seen below 1e12 events). */
double wg_rules_binom_sf(double k, double n, double pi);
double wg_rules_binom_cdf(double k, double n, double pi);

/* The conditional test for two Poisson rates: x1 events over exposure n1 (current) against
 * x0 over n0 (baseline), null hypothesis rate1 <= ratio * rate0 (increase; ratio = 1 +
 * allowed_increase) or rate1 >= ratio * rate0 (decrease; ratio = 1 - allowed_decrease).
 * Given N = x1 + x0, X1 ~ Binomial(N, pi0), pi0 = n1 ratio / (n1 ratio + n0): p = P(X1 >= x1)
 * (increase) or P(X1 <= x1) (decrease), R's poisson.test(c(x1, x0), c(n1, n0), r = ratio).
 * *p_min (may be NULL): the p of the most extreme outcome, pi0^N or (1 - pi0)^N. */
struct wg_rate_test {
    double p_increase, p_decrease; /* each at its own ratio */
    double p_min_increase, p_min_decrease;
};
enum wg_err wg_rules_rate_test(double x1, double n1, double x0, double n0, double inc_ratio,
                               double dec_ratio, struct wg_rate_test *out) WG_NODISCARD;

/* ---- statistics (rules_stats.c), added by issue 4 --------------------------------------- */

/* Mann-Whitney U of x (current) against y (baseline), both finite, not modified:
 * u = U of x (ties count 1/2), z and two-sided p_value with tie and continuity correction
 * (exact distribution when nx < 50, ny < 50 and there are no ties, as R's wilcox.test),
 * Hodges-Lehmann shift (median of x_i - y_j) with its distribution-free confidence interval
 * at `confidence` (in (0, 1); anything else means 0.98), ratio = mean(x) / mean(y) (NaN when
 * mean(y) <= 0 unless both are 0, then 1). All tied: z = 0, p = 1, shift 0.
 * Returns WG_EINVAL when a side is empty, WG_ENOMEM; out is always written. */
enum wg_err wg_rules_mann_whitney(const double *x, size_t nx, const double *y, size_t ny,
                                  double confidence, struct wg_mw_result *out) WG_NODISCARD;

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
