/* rules_eval.c — one rule against its series: per group (series) the no-data policy, the
 * min_samples guard, the reducer and threshold, the baseline comparison, or the Mann-Whitney
 * judge (time-shifted baseline or a canary/baseline split by tag); the rule takes its worst
 * group. Also the combination of a feature's rule results (worst verdict or weighted score).
 * Pure: no I/O, no clock.
 */
#include "rules/rules_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A group: the current series and its baseline series (either may be NULL). */
struct pair {
    struct wg_label *labels; /* shallow copies of the labels (strings borrowed) */
    size_t nlabels;
    const struct wg_series *cur, *base;
};

static const char *fmt_num(double v, char *buf, size_t len)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, len, "%sInf", v > 0 ? "+" : "-");
    } else {
        snprintf(buf, len, "%.6g", v);
    }
    return buf;
}

static int labels_equal(const struct wg_label *a, size_t na, const struct wg_label *b, size_t nb)
{
    if (na != nb) {
        return 0;
    }
    for (size_t i = 0; i < na; i++) {
        size_t j = 0;
        while (j < nb && strcmp(a[i].key, b[j].key) != 0) {
            j++;
        }
        if (j == nb || strcmp(a[i].value, b[j].value) != 0) {
            return 0;
        }
    }
    return 1;
}

static size_t count_not_nan(const struct wg_series *s)
{
    size_t n = 0;
    for (size_t i = 0; s && i < s->n; i++) {
        n += !isnan(s->v[i]);
    }
    return n;
}

static enum wg_verdict no_data_verdict(enum wg_no_data nd)
{
    return nd == WG_NODATA_PASS ? WG_PASS : nd == WG_NODATA_FAIL ? WG_FAIL : WG_INCONCLUSIVE;
}

static const char *find_label(const struct wg_series *s, const char *key)
{
    for (size_t i = 0; i < s->nlabels; i++) {
        if (strcmp(s->labels[i].key, key) == 0) {
            return s->labels[i].value;
        }
    }
    return NULL;
}

/* ---- grouping ---------------------------------------------------------------------------- */

static const struct wg_series *match_baseline(const struct wg_seriesset *b,
                                              const struct wg_series *s)
{
    if (!b) {
        return NULL;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (labels_equal(b->s[i].labels, b->s[i].nlabels, s->labels, s->nlabels)) {
            return &b->s[i];
        }
    }
    /* baseline: previous, or a query whose baseline has no GROUP BY: one unlabelled series. */
    if (b->n == 1 && b->s[0].nlabels == 0) {
        return &b->s[0];
    }
    return NULL;
}

/* Split by tag: series with tag = canary are current, tag = baseline are the baseline, and
 * the group key is the remaining labels. Series with other tag values are ignored. */
static enum wg_err pairs_split(const struct wg_rule *r, const struct wg_seriesset *cur,
                               struct pair *pv, size_t *np)
{
    const struct wg_baseline *bl = &r->baseline;
    if (!bl->split_tag) {
        return WG_OK; /* config rejects this; without a tag nothing is canary */
    }
    for (size_t i = 0; i < cur->n; i++) {
        const struct wg_series *s = &cur->s[i];
        const char *tv = find_label(s, bl->split_tag);
        int is_cur = tv && bl->split_canary && strcmp(tv, bl->split_canary) == 0;
        int is_base = tv && bl->split_baseline && strcmp(tv, bl->split_baseline) == 0;
        if (!is_cur && !is_base) {
            continue;
        }
        struct wg_label *key = calloc(s->nlabels ? s->nlabels : 1, sizeof(*key));
        if (!key) {
            return WG_ENOMEM;
        }
        size_t nk = 0;
        for (size_t j = 0; j < s->nlabels; j++) {
            if (strcmp(s->labels[j].key, bl->split_tag) != 0) {
                key[nk++] = s->labels[j];
            }
        }
        size_t g = 0;
        while (g < *np && !labels_equal(pv[g].labels, pv[g].nlabels, key, nk)) {
            g++;
        }
        if (g == *np) {
            pv[g] = (struct pair){.labels = key, .nlabels = nk};
            (*np)++;
        } else {
            free(key);
        }
        if (is_cur) {
            pv[g].cur = s;
        } else {
            pv[g].base = s;
        }
    }
    /* A group with only a baseline has no canary to judge: drop it. */
    size_t w = 0;
    for (size_t g = 0; g < *np; g++) {
        if (pv[g].cur) {
            pv[w++] = pv[g];
        } else {
            free(pv[g].labels);
        }
    }
    *np = w;
    return WG_OK;
}

/* ---- threshold and baseline ---------------------------------------------------------------- */

static void describe_bounds(const struct wg_threshold *t, char *buf, size_t len)
{
    char a[32];
    size_t o = 0;
    const char *sep = "";
    buf[0] = 0;
    struct {
        int has;
        const char *name;
        double v;
    } b[] = {{t->has_min, "min", t->min},
             {t->has_max, "max", t->max},
             {t->has_warn_min, "warn_min", t->warn_min},
             {t->has_warn_max, "warn_max", t->warn_max}};
    for (size_t i = 0; i < 4 && o < len; i++) {
        if (b[i].has) {
            int k = snprintf(buf + o, len - o, "%s%s %s", sep, b[i].name,
                             fmt_num(b[i].v, a, sizeof(a)));
            o += k > 0 ? (size_t)k : 0;
            sep = ", ";
        }
    }
}

static enum wg_verdict check_threshold(const struct wg_threshold *t, const char *rn, double v,
                                       char *buf, size_t len)
{
    char a[32], b[32], d[160];
    fmt_num(v, a, sizeof(a));
    if (t->has_max && v > t->max) {
        snprintf(buf, len, "%s %s > max %s", rn, a, fmt_num(t->max, b, sizeof(b)));
        return WG_FAIL;
    }
    if (t->has_min && v < t->min) {
        snprintf(buf, len, "%s %s < min %s", rn, a, fmt_num(t->min, b, sizeof(b)));
        return WG_FAIL;
    }
    if (t->has_warn_max && v > t->warn_max) {
        snprintf(buf, len, "%s %s > warn_max %s", rn, a, fmt_num(t->warn_max, b, sizeof(b)));
        return WG_WARN;
    }
    if (t->has_warn_min && v < t->warn_min) {
        snprintf(buf, len, "%s %s < warn_min %s", rn, a, fmt_num(t->warn_min, b, sizeof(b)));
        return WG_WARN;
    }
    describe_bounds(t, d, sizeof(d));
    if (d[0]) {
        snprintf(buf, len, "%s %s within %s", rn, a, d);
    } else {
        snprintf(buf, len, "%s %s (no threshold)", rn, a);
    }
    return WG_PASS;
}

static void fmt_change(const struct wg_limit *l, double ch, char *buf, size_t len)
{
    if (l->percent) {
        snprintf(buf, len, "%+.1f%%", ch);
    } else {
        snprintf(buf, len, "%+.6g", ch);
    }
}

/* value v against baseline bv with max_increase / max_decrease (absolute or percent). */
static enum wg_verdict check_baseline(const struct wg_rule_params *p, const char *rn, double v,
                                      double bv, char *buf, size_t len)
{
    char a[32], b[32], c[48];
    fmt_num(v, a, sizeof(a));
    fmt_num(bv, b, sizeof(b));
    const struct wg_limit *lims[2] = {&p->max_increase, &p->max_decrease};
    double abs_ch = v - bv;
    double pct_ch = bv != 0 ? (v - bv) / fabs(bv) * 100.0 : (v == 0 ? 0 : NAN);
    for (int i = 0; i < 2; i++) {
        const struct wg_limit *l = lims[i];
        if (!l->set) {
            continue;
        }
        double ch = l->percent ? pct_ch : abs_ch;
        if (l->percent && bv == 0 && v != 0) {
            snprintf(buf, len, "%s %s vs baseline 0: a percent change is undefined", rn, a);
            return WG_INCONCLUSIVE;
        }
        if (isnan(ch)) {
            snprintf(buf, len, "could not compare %s %s with baseline %s", rn, a, b);
            return WG_NOEVAL;
        }
        double over = i == 0 ? ch : -ch;
        if (over > l->value) {
            fmt_change(l, ch, c, sizeof(c));
            snprintf(buf, len, "%s %s is %s %s baseline %s (max %s%.6g%s)", rn, a, c,
                     i == 0 ? "over" : "under", b, i == 0 ? "+" : "-", l->value,
                     l->percent ? "%" : "");
            return WG_FAIL;
        }
    }
    const struct wg_limit *l = p->max_increase.set ? &p->max_increase : &p->max_decrease;
    fmt_change(l, l->percent ? pct_ch : abs_ch, c, sizeof(c));
    snprintf(buf, len, "%s %s is %s vs baseline %s (within", rn, a, c, b);
    for (int i = 0; i < 2; i++) {
        if (lims[i]->set) {
            size_t o = strlen(buf);
            snprintf(buf + o, len - o, " %s %s%.6g%s", i == 0 ? "max" : "min", i == 0 ? "+" : "-",
                     lims[i]->value, lims[i]->percent ? "%" : "");
        }
    }
    size_t o = strlen(buf);
    snprintf(buf + o, len - o, ")");
    return WG_PASS;
}

static int uses_baseline_limits(const struct wg_rule_params *p)
{
    return p->max_increase.set || p->max_decrease.set;
}

static int upper_bounded(const struct wg_rule_params *p)
{
    return p->threshold.has_max || p->threshold.has_warn_max || p->max_increase.set ||
           !(p->threshold.has_min || p->threshold.has_warn_min || p->max_decrease.set);
}

static void judge_threshold(const struct wg_rule_input *in, const struct pair *pr,
                            struct wg_group_result *g)
{
    const struct wg_rule_params *p = in->p;
    const char *rn = wg__rules_reduce_name(p->reduce);
    long min_samples = p->min_samples > 0 ? p->min_samples : 1;
    g->samples = count_not_nan(pr->cur);
    if (g->samples == 0) {
        g->verdict = no_data_verdict(p->no_data);
        snprintf(g->reason, sizeof(g->reason), "no data");
        return;
    }
    if ((long)g->samples < min_samples) {
        g->verdict = WG_INCONCLUSIVE;
        snprintf(g->reason, sizeof(g->reason), "%zu samples < min_samples %ld", g->samples,
                 min_samples);
        return;
    }
    double v;
    if (wg_rules_reduce(p->reduce, pr->cur->v, pr->cur->n, &v) != WG_OK || isnan(v)) {
        g->verdict = WG_NOEVAL;
        snprintf(g->reason, sizeof(g->reason), "%s of %zu samples is NaN: could not evaluate", rn,
                 g->samples);
        return;
    }
    g->has_value = 1;
    g->value = v;
    g->badness = upper_bounded(p) ? v : -v;
    char tr[256] = "", br[256] = "";
    enum wg_verdict tv = check_threshold(&p->threshold, rn, v, tr, sizeof(tr));
    enum wg_verdict bv = WG_PASS;
    int judged_baseline = in->rule->baseline.kind != WG_BASELINE_NONE && uses_baseline_limits(p);
    if (in->rule->baseline.kind != WG_BASELINE_NONE && pr->base) {
        g->baseline_samples = count_not_nan(pr->base);
        double b;
        if (g->baseline_samples &&
            wg_rules_reduce(p->reduce, pr->base->v, pr->base->n, &b) == WG_OK) {
            g->has_baseline = 1;
            g->baseline = b;
        }
    }
    if (judged_baseline) {
        if (!g->has_baseline) {
            bv = WG_INCONCLUSIVE;
            snprintf(br, sizeof(br), "no baseline data");
        } else {
            bv = check_baseline(p, rn, v, g->baseline, br, sizeof(br));
        }
    }
    struct wg_threshold none = {0};
    int has_threshold = memcmp(&p->threshold, &none, sizeof(none)) != 0;
    g->verdict = wg_verdict_worst(tv, bv);
    if (!judged_baseline) {
        snprintf(g->reason, sizeof(g->reason), "%s", tr);
    } else if (!has_threshold) {
        snprintf(g->reason, sizeof(g->reason), "%s", br);
    } else if (bv > tv) {
        snprintf(g->reason, sizeof(g->reason), "%.120s; %.120s", br, tr);
    } else {
        snprintf(g->reason, sizeof(g->reason), "%.120s; %.120s", tr, br);
    }
}

/* ---- Mann-Whitney ------------------------------------------------------------------------ */

/* Finite values of s (NaN and +-Inf dropped, like Kayenta's nanStrategy remove: a rank test
 * would take an infinity but the shift and the mean ratio would not). */
static double *finite_values(const struct wg_series *s, size_t *n)
{
    *n = 0;
    double *v = malloc((s && s->n ? s->n : 1) * sizeof(*v));
    if (!v) {
        return NULL;
    }
    for (size_t i = 0; s && i < s->n; i++) {
        if (isfinite(s->v[i])) {
            v[(*n)++] = s->v[i];
        }
    }
    return v;
}

static double limit_fraction(const struct wg_limit *l)
{
    /* "10%" and 0.1 both mean a mean ratio 10% away from 1. */
    return !l->set ? 0 : l->percent ? l->value / 100.0 : l->value;
}

static void mw_reason(const struct wg_rule_input *in, const struct wg_mw_result *m, int inc_sig,
                      int dec_sig, int fail, double lim_inc, double lim_dec, char *buf, size_t len)
{
    char s[32], lo[32], hi[32], r[32];
    fmt_num(m->shift, s, sizeof(s));
    fmt_num(m->shift_lo, lo, sizeof(lo));
    fmt_num(m->shift_hi, hi, sizeof(hi));
    fmt_num(m->ratio, r, sizeof(r));
    const char *what = inc_sig ? "increase" : "decrease";
    double p = inc_sig ? m->p_increase : m->p_decrease;
    double allowed = inc_sig ? 1 + lim_inc : 1 - lim_dec;
    if (fail) {
        snprintf(buf, len,
                 "significant %s: mean ratio %s %s allowed %.4g, shift %s [%s, %s] at %.4g%%, "
                 "p=%.3g < alpha %.3g",
                 what, r, inc_sig ? ">" : "<", allowed, s, lo, hi, m->confidence * 100, p,
                 m->alpha);
    } else if (inc_sig || dec_sig) {
        snprintf(buf, len,
                 "significant %s (p=%.3g) but mean ratio %s within allowed %.4g, shift %s "
                 "[%s, %s]",
                 what, p, r, allowed, s, lo, hi);
    } else {
        enum wg_direction d = in->p->direction;
        double pd = d == WG_DIR_INCREASE ? m->p_increase
                    : d == WG_DIR_DECREASE
                        ? m->p_decrease
                        : (m->p_increase < m->p_decrease ? m->p_increase : m->p_decrease);
        snprintf(buf, len, "no significant %s: p=%.3g >= alpha %.3g, shift %s [%s, %s] at %.4g%%",
                 d == WG_DIR_INCREASE   ? "increase"
                 : d == WG_DIR_DECREASE ? "decrease"
                                        : "change",
                 pd, m->alpha, s, lo, hi, m->confidence * 100);
    }
}

/* What the gate's family step needs to re-judge the group (rules_family.c): the one-sided p
 * of the failing direction (either: twice the smaller side, against 1 - confidence), whether
 * the mean ratio crosses the allowance on that side, and the effect in words. */
static void mw_test(const struct wg_rule_input *in, const struct wg_mw_result *m, double lim_inc,
                    double lim_dec, struct wg_group_test *t)
{
    enum wg_direction d = in->p->direction;
    int inc = d == WG_DIR_INCREASE || (d == WG_DIR_EITHER && m->p_increase <= m->p_decrease);
    char s[32], lo[32], hi[32], r[32];
    t->tested = 1;
    t->direction = inc ? 1 : -1;
    t->p = inc ? m->p_increase : m->p_decrease;
    if (d == WG_DIR_EITHER) {
        t->p = fmin(1, 2 * t->p);
    }
    t->p_min = 0; /* at min_samples >= 1 per side a rank test's smallest p is below any budget
                   * worth having; min_samples is its power guard */
    t->effect_fail = inc ? (isnan(m->ratio) || m->ratio > 1 + lim_inc)
                         : (isnan(m->ratio) || m->ratio < 1 - lim_dec);
    snprintf(t->effect, sizeof(t->effect),
             "mean ratio %s (allowed %.4g), shift %s [%s, %s] at %.4g%%",
             fmt_num(m->ratio, r, sizeof(r)), inc ? 1 + lim_inc : 1 - lim_dec,
             fmt_num(m->shift, s, sizeof(s)), fmt_num(m->shift_lo, lo, sizeof(lo)),
             fmt_num(m->shift_hi, hi, sizeof(hi)), m->confidence * 100);
}

static enum wg_err judge_mw(const struct wg_rule_input *in, const struct pair *pr,
                            struct wg_group_result *g)
{
    const struct wg_rule_params *p = in->p;
    long min_samples = p->min_samples > 0 ? p->min_samples : 1;
    size_t nc, nb;
    enum wg_err rc = WG_OK;
    double *c = finite_values(pr->cur, &nc), *b = finite_values(pr->base, &nb);
    if (!c || !b) {
        rc = WG_ENOMEM;
        goto out;
    }
    if (nc == 0) {
        g->verdict = no_data_verdict(p->no_data);
        snprintf(g->reason, sizeof(g->reason), "no data");
        goto out;
    }
    if (nb == 0) {
        g->samples = nc;
        g->verdict = WG_INCONCLUSIVE;
        snprintf(g->reason, sizeof(g->reason), "no baseline data");
        goto out;
    }
    if (in->rule->outliers_iqr) {
        nc = wg__rules_iqr_filter(c, nc);
        nb = wg__rules_iqr_filter(b, nb);
    }
    g->samples = nc;
    g->baseline_samples = nb;
    if ((long)nc < min_samples || (long)nb < min_samples) {
        g->verdict = WG_INCONCLUSIVE;
        snprintf(g->reason, sizeof(g->reason), "%s %zu samples < min_samples %ld",
                 (long)nc < min_samples ? "current" : "baseline", (long)nc < min_samples ? nc : nb,
                 min_samples);
        goto out;
    }
    double conf = p->confidence > 0 && p->confidence < 1 ? p->confidence : 0.98;
    double alpha = (1 - conf) / 2;
    if (in->sequential) {
        alpha = in->look_alpha > 0 ? in->look_alpha : 0;
        conf = 1 - 2 * alpha; /* the interval that matches this look's test */
    }
    struct wg_mw_result *m = &g->mw;
    if ((rc = wg_rules_mann_whitney(c, nc, b, nb, conf, m)) != WG_OK) {
        goto out;
    }
    m->alpha = alpha;
    g->has_mw = 1;
    double lim_inc = limit_fraction(&p->allowed_increase);
    double lim_dec = limit_fraction(&p->allowed_decrease);
    enum wg_direction d = p->direction;
    int inc_sig = d != WG_DIR_DECREASE && m->p_increase < alpha;
    int dec_sig = d != WG_DIR_INCREASE && m->p_decrease < alpha;
    /* Effect-size gate: the mean ratio must also exceed the allowance (undefined ratio, e.g.
     * a zero or negative baseline mean, leaves significance alone to decide). */
    int inc_fail = inc_sig && (isnan(m->ratio) || m->ratio > 1 + lim_inc);
    int dec_fail = dec_sig && (isnan(m->ratio) || m->ratio < 1 - lim_dec);
    g->verdict = (inc_fail || dec_fail) ? WG_FAIL : WG_PASS;
    g->has_value = g->has_baseline = 1;
    g->value = 0;
    for (size_t i = 0; i < nc; i++) {
        g->value += c[i] / (double)nc;
    }
    g->baseline = 0;
    for (size_t i = 0; i < nb; i++) {
        g->baseline += b[i] / (double)nb;
    }
    double lr = m->ratio > 0 ? log(m->ratio) : 0;
    g->badness = d == WG_DIR_INCREASE ? lr : d == WG_DIR_DECREASE ? -lr : fabs(lr);
    mw_test(in, m, lim_inc, lim_dec, &g->test);
    mw_reason(in, m, inc_fail || (!dec_fail && inc_sig), dec_fail || (!inc_fail && dec_sig),
              inc_fail || dec_fail, lim_inc, lim_dec, g->reason, sizeof(g->reason));
out:
    free(c);
    free(b);
    return rc;
}

/* ---- the rule ------------------------------------------------------------------------------ */

static enum wg_err copy_labels(struct wg_group_result *g, const struct pair *pr)
{
    if (!pr->nlabels) {
        return WG_OK;
    }
    g->labels = calloc(pr->nlabels, sizeof(*g->labels));
    if (!g->labels) {
        return WG_ENOMEM;
    }
    for (size_t i = 0; i < pr->nlabels; i++) {
        g->labels[i].key = wg_strdup(pr->labels[i].key);
        g->labels[i].value = wg_strdup(pr->labels[i].value);
        g->nlabels = i + 1;
        if (!g->labels[i].key || !g->labels[i].value) {
            return WG_ENOMEM;
        }
    }
    return WG_OK;
}

static enum wg_err build_pairs(const struct wg_rule_input *in, struct pair **pv, size_t *np)
{
    const struct wg_seriesset *cur = in->current;
    *np = 0;
    *pv = calloc(cur->n ? cur->n : 1, sizeof(**pv));
    if (!*pv) {
        return WG_ENOMEM;
    }
    if (in->rule->baseline.kind == WG_BASELINE_SPLIT) {
        return pairs_split(in->rule, cur, *pv, np);
    }
    for (size_t i = 0; i < cur->n; i++) {
        const struct wg_series *s = &cur->s[i];
        (*pv)[i] = (struct pair){.labels = s->labels, .nlabels = s->nlabels, .cur = s};
        if (in->rule->baseline.kind != WG_BASELINE_NONE) {
            (*pv)[i].base = match_baseline(in->baseline, s);
        }
    }
    *np = cur->n;
    return WG_OK;
}

/* ---- rate: events over exposure ---------------------------------------------------------- */

static void sum_series(const struct wg_series *s, double *sum, size_t *points, int *negative)
{
    *sum = 0;
    *points = 0;
    for (size_t i = 0; s && i < s->n; i++) {
        if (isfinite(s->v[i])) {
            *negative |= s->v[i] < 0;
            *sum += s->v[i];
            (*points)++;
        }
    }
}

/* Groups come from the denominator (the exposure defines a group); the numerator's series of
 * the same group (same query, other column) brings the events. Values are summed over the
 * window and rounded to whole events. */
static void judge_rate_pair(const struct wg_rule_input *in, const struct pair *den,
                            const struct pair *num, size_t nnum, struct wg_group_result *g)
{
    struct wg__rate_counts k = {0};
    const struct pair *nm = NULL;
    for (size_t j = 0; j < nnum && !nm; j++) {
        if (labels_equal(num[j].labels, num[j].nlabels, den->labels, den->nlabels)) {
            nm = &num[j];
        }
    }
    size_t pts;
    k.has_cur = den->cur != NULL;
    k.has_base = den->base != NULL;
    sum_series(den->cur, &k.n1, &k.points_cur, &k.negative);
    sum_series(den->base, &k.n0, &k.points_base, &k.negative);
    sum_series(nm ? nm->cur : NULL, &k.x1, &pts, &k.negative);
    sum_series(nm ? nm->base : NULL, &k.x0, &pts, &k.negative);
    k.x1 = round(k.x1);
    k.x0 = round(k.x0);
    if (!nm && k.has_cur) {
        g->samples = k.points_cur;
        g->verdict = WG_INCONCLUSIVE;
        snprintf(g->reason, sizeof(g->reason), "no numerator series for this group");
        return;
    }
    wg__rules_judge_rate(in, &k, g);
}

static void free_pairs(int split, struct pair *pv, size_t np)
{
    if (split) {
        for (size_t i = 0; i < np; i++) {
            free(pv[i].labels);
        }
    }
    free(pv);
}

static enum wg_err check_inputs(const struct wg_rule_input *in, struct wg_rule_result *out)
{
    const struct wg_rule *r = in->rule;
    int split = r->baseline.kind == WG_BASELINE_SPLIT;
    int stat = wg_rules_is_statistical(r);
    int needs_baseline =
        r->baseline.kind != WG_BASELINE_NONE && !split && (stat || uses_baseline_limits(in->p));
    if (in->error) {
        out->verdict = WG_NOEVAL;
        snprintf(out->reason, sizeof(out->reason), "%s", in->error);
    } else if (needs_baseline && in->baseline_error) {
        out->verdict = WG_NOEVAL;
        snprintf(out->reason, sizeof(out->reason), "baseline: %s", in->baseline_error);
    } else if (stat && r->baseline.kind == WG_BASELINE_NONE) {
        out->verdict = WG_NOEVAL;
        snprintf(out->reason, sizeof(out->reason), "%s needs a baseline",
                 r->judge == WG_JUDGE_RATE ? "rate" : "mann-whitney");
    } else if (r->judge == WG_JUDGE_RATE && !in->current_den) {
        out->verdict = WG_NOEVAL;
        snprintf(out->reason, sizeof(out->reason),
                 "rate: no denominator series: could not "
                 "evaluate");
    } else {
        return WG_OK;
    }
    return WG_EINVAL;
}

enum wg_err wg_rules_eval(const struct wg_rule_input *in, struct wg_rule_result *out)
{
    if (!in || !out || !in->rule || !in->p) {
        return WG_EINVAL;
    }
    const struct wg_rule *r = in->rule;
    const struct wg_rule_params *p = in->p;
    struct pair *pv = NULL, *nv = NULL;
    size_t np = 0, nn = 0;
    enum wg_err rc = WG_OK;
    int split = r->baseline.kind == WG_BASELINE_SPLIT;
    int mw = r->judge == WG_JUDGE_MANN_WHITNEY, rate = r->judge == WG_JUDGE_RATE;
    memset(out, 0, sizeof(*out));
    out->dry_run = p->dry_run;
    if (!in->error && r->judge == WG_JUDGE_PEERS) {
        return wg__rules_peers_self(in, out); /* judged across targets: rules_peers.c */
    }
    if (check_inputs(in, out) != WG_OK) {
        return WG_OK; /* judged: could not evaluate */
    }
    static const struct wg_seriesset empty;
    struct wg_rule_input in2 = *in;
    if (!in2.current) {
        in2.current = &empty;
    }
    if (rate) {
        /* numerator pairs aside; the groups are the denominator's */
        if ((rc = build_pairs(&in2, &nv, &nn)) != WG_OK) {
            goto out;
        }
        in2.current = in->current_den;
        in2.baseline = in->baseline_den;
    }
    if ((rc = build_pairs(&in2, &pv, &np)) != WG_OK) {
        goto out;
    }
    if (np == 0) {
        out->verdict = no_data_verdict(p->no_data);
        snprintf(out->reason, sizeof(out->reason), "no data%s", split ? " (no canary series)" : "");
        goto out;
    }
    out->groups = calloc(np, sizeof(*out->groups));
    if (!out->groups) {
        rc = WG_ENOMEM;
        goto out;
    }
    out->ngroups = np;
    for (size_t i = 0; i < np && rc == WG_OK; i++) {
        rc = copy_labels(&out->groups[i], &pv[i]);
        if (rc == WG_OK && mw) {
            rc = judge_mw(&in2, &pv[i], &out->groups[i]);
        } else if (rc == WG_OK && rate) {
            judge_rate_pair(in, &pv[i], nv, nn, &out->groups[i]);
        } else if (rc == WG_OK) {
            judge_threshold(&in2, &pv[i], &out->groups[i]);
        }
    }
    if (rc == WG_OK) {
        wg__rules_summarize(out);
    }
out:
    free_pairs(split, pv, np);
    free_pairs(split, nv, nn);
    if (rc != WG_OK) {
        wg_rule_result_clear(out);
    }
    return rc;
}

void wg_rule_result_clear(struct wg_rule_result *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; i < r->ngroups; i++) {
        for (size_t j = 0; j < r->groups[i].nlabels; j++) {
            free(r->groups[i].labels[j].key);
            free(r->groups[i].labels[j].value);
        }
        free(r->groups[i].labels);
    }
    free(r->groups);
    memset(r, 0, sizeof(*r));
}

/* ---- combination ------------------------------------------------------------------------- */

/* Scoring, failing closed (pinned by test_rules_eval.c test_combine and test_combine_pairs):
 * - a failing key rule fails the feature;
 * - the score counts pass = 1, warn = 0.5, anything else 0, over the rules judged;
 * - rules in ERROR or INCONCLUSIVE are unknowns: when the score fails even if every unknown
 *   had passed, the evaluated rules are evidence enough and the feature fails;
 * - otherwise any rule in ERROR (key or not) makes the feature ERROR (could not evaluate),
 *   never a pass, and never a fail either: an outage does not fail a deploy (as the limits);
 * - a score that fails only because of inconclusive rules is INCONCLUSIVE (no evidence);
 * - a key rule INCONCLUSIVE caps the verdict at INCONCLUSIVE;
 * - nothing judged (no rules, every rule dry-run) is INCONCLUSIVE. */
enum wg_verdict wg_rules_combine(const struct wg_feature *f, const struct wg_rule_result *rs,
                                 const struct wg_rule_params *const *ps, size_t n,
                                 double *score_pct)
{
    int scoring = f && f->score.enabled;
    enum wg_verdict worst = WG_PASS;
    double got = 0, total = 0, unknown = 0;
    size_t counted = 0, errors = 0;
    int key_failed = 0, key_inconclusive = 0;
    if (score_pct) {
        *score_pct = -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct wg_rule_params *p = ps ? ps[i] : NULL;
        if (rs[i].dry_run || (p && p->dry_run)) {
            continue;
        }
        double w = p ? p->weight : 1;
        enum wg_verdict v = rs[i].verdict;
        counted++;
        worst = wg_verdict_worst(worst, v);
        errors += v == WG_NOEVAL;
        unknown += v == WG_NOEVAL || v == WG_INCONCLUSIVE ? w : 0;
        key_failed |= p && p->key && v == WG_FAIL;
        key_inconclusive |= p && p->key && v == WG_INCONCLUSIVE;
        total += w;
        got += w * (v == WG_PASS ? 1.0 : v == WG_WARN ? 0.5 : 0.0);
    }
    if (counted == 0) {
        return WG_INCONCLUSIVE; /* nothing judged is not a pass */
    }
    if (!scoring) {
        return worst;
    }
    if (total > 0 && score_pct) {
        *score_pct = got / total * 100.0;
    }
    if (key_failed) {
        return WG_FAIL;
    }
    if (!(total > 0)) {
        return errors ? WG_NOEVAL : WG_INCONCLUSIVE;
    }
    double best = (got + unknown) / total * 100.0; /* as if every unknown had passed */
    if (best < f->score.warn_pct) {
        return WG_FAIL;
    }
    if (errors) {
        return WG_NOEVAL;
    }
    double s = got / total * 100.0;
    enum wg_verdict v = s >= f->score.pass_pct   ? WG_PASS
                        : s >= f->score.warn_pct ? WG_WARN
                                                 : WG_INCONCLUSIVE; /* best >= warn_pct */
    return key_inconclusive ? wg_verdict_worst(v, WG_INCONCLUSIVE) : v;
}
