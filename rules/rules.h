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
};

/* Evaluate; out is caller-owned, zero it first; free with wg_rule_result_clear. */
enum wg_err wg_rules_eval(const struct wg_rule_input *in, struct wg_rule_result *out);
void wg_rule_result_clear(struct wg_rule_result *r);

/* Combine rule results of one feature (dry-run ones excluded): worst verdict, or, when the
 * feature has scoring, the weighted score (pass = 1, warn = 0.5, other = 0 over rules that
 * evaluated) against its thresholds, with a failing key rule failing it. *score_pct is set
 * when scoring is on, else -1. */
enum wg_verdict wg_rules_combine(const struct wg_feature *f, const struct wg_rule_result *rs,
                                 const struct wg_rule_params *const *ps, size_t n,
                                 double *score_pct);

#endif
