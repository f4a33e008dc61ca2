/* rules_family.c — one false-fail budget per gate evaluation: every group of every
 * statistical rule (mann-whitney, rate) of a gate is one hypothesis of a family, and the
 * family is judged by a weighted Holm step-down at the gate's level, so 20 hosts or 5 rules
 * no longer multiply the false-fail rate. Also the re-summary of a rule from its groups.
 * Pure: no I/O, no clock.
 */
#include "rules/rules_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Why weighted Holm: it controls the family-wise rate under any dependence between the
 * groups' tests (hosts share a deploy, rules share the traffic), it is never less powerful
 * than Bonferroni, and with equal weights it is R's p.adjust(method = "holm"). Hochberg and
 * Hommel reject more but need positive dependence (PRDS), which two-sided and mixed
 * directions do not guarantee: a gate must not trade its guarantee for power. */

struct ord {
    double key; /* p / w */
    size_t i;
};

static int ord_cmp(const void *a, const void *b)
{
    const struct ord *x = a, *y = b;
    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }
    return x->i < y->i ? -1 : x->i > y->i; /* stable: deterministic on ties */
}

enum wg_err wg_rules_family(struct wg_family_hyp *h, size_t n, double level)
{
    if (n == 0) {
        return WG_OK;
    }
    if (!h) {
        return WG_EINVAL;
    }
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(h[i].p) || !(h[i].w > 0) || !isfinite(h[i].w)) {
            return WG_EINVAL;
        }
        total += h[i].w;
    }
    struct ord *o = malloc(n * sizeof(*o));
    if (!o) {
        return WG_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        double p = h[i].p < 0 ? 0 : h[i].p > 1 ? 1 : h[i].p;
        o[i] = (struct ord){p / h[i].w, i};
    }
    qsort(o, n, sizeof(*o), ord_cmp);
    double left = total, running = 0;
    for (size_t k = 0; k < n; k++) {
        struct wg_family_hyp *x = &h[o[k].i];
        double p = x->p < 0 ? 0 : x->p > 1 ? 1 : x->p;
        double adj = fmin(1, p * left / x->w);
        running = fmax(running, adj);
        x->p_adj = running;
        x->reject = running <= level;
        left -= x->w;
        if (left < 0) {
            left = 0; /* rounding of the running sum */
        }
    }
    free(o);
    return WG_OK;
}

double wg_rules_family_rule_level(const struct wg_rule_params *p)
{
    double conf = p->confidence > 0 && p->confidence < 1 ? p->confidence : 0.98;
    return p->direction == WG_DIR_EITHER ? 1 - conf : (1 - conf) / 2;
}

int wg_rules_is_statistical(const struct wg_rule *r)
{
    return r && (r->judge == WG_JUDGE_MANN_WHITNEY || r->judge == WG_JUDGE_RATE);
}

/* ---- verdicts and reasons ------------------------------------------------------------------ */

static const char *side_name(const struct wg_group_test *t)
{
    return t->direction > 0 ? "increase" : "decrease";
}

void wg__rules_test_verdict(struct wg_group_result *g, double level, int family)
{
    const struct wg_group_test *t = &g->test;
    double p = family ? t->p_adj : t->p;
    char pp[96];
    if (family) {
        snprintf(pp, sizeof(pp), "p=%.3g adjusted %.3g, family budget %.3g of %zu tests", t->p,
                 t->p_adj, t->level, t->family_n);
    } else {
        snprintf(pp, sizeof(pp), "p=%.3g, alpha %.3g", t->p, level);
    }
    if (t->p_min > level) {
        /* The power guard: even the most extreme outcome could not fail it. */
        g->verdict = WG_INCONCLUSIVE;
        snprintf(g->reason, sizeof(g->reason),
                 "too little data to judge: the most extreme outcome gives p=%.3g > %s %.3g; "
                 "%s",
                 t->p_min, family ? "family budget" : "alpha", level, t->effect);
        return;
    }
    int sig = p <= level;
    if (sig && t->effect_fail) {
        g->verdict = WG_FAIL;
        snprintf(g->reason, sizeof(g->reason), "significant %s: %s; %s", side_name(t), t->effect,
                 pp);
    } else if (sig) {
        g->verdict = WG_PASS;
        snprintf(g->reason, sizeof(g->reason), "significant %s but within allowed: %s; %s",
                 side_name(t), t->effect, pp);
    } else {
        g->verdict = WG_PASS;
        snprintf(g->reason, sizeof(g->reason), "no significant %s: %s; %s", side_name(t), t->effect,
                 pp);
    }
}

static void fmt_labels(const struct wg_group_result *g, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < g->nlabels && o < len; i++) {
        int k = snprintf(buf + o, len - o, "%s%s=%s", i ? "," : "", g->labels[i].key,
                         g->labels[i].value);
        o += k > 0 ? (size_t)k : 0;
    }
}

/* Worst group; among equally bad ones the most extreme. */
static size_t pick_worst(const struct wg_group_result *gs, size_t n)
{
    size_t w = 0;
    for (size_t i = 1; i < n; i++) {
        if (gs[i].verdict > gs[w].verdict ||
            (gs[i].verdict == gs[w].verdict && gs[i].has_value &&
             (!gs[w].has_value || gs[i].badness > gs[w].badness))) {
            w = i;
        }
    }
    return w;
}

void wg__rules_summarize(struct wg_rule_result *out)
{
    if (out->ngroups == 0) {
        return;
    }
    size_t w = pick_worst(out->groups, out->ngroups), same = 0;
    const struct wg_group_result *g = &out->groups[w];
    out->verdict = g->verdict;
    out->has_value = g->has_value;
    out->value = g->value;
    out->has_baseline = g->has_baseline;
    out->baseline = g->baseline;
    out->samples = g->samples;
    out->tested = 0;
    for (size_t i = 0; i < out->ngroups; i++) {
        /* after the family step only its members spent the gate's budget */
        out->tested |= out->groups[i].test.family ||
                       (out->groups[i].test.tested && !out->groups[i].test.level);
    }
    if (g->has_mw) {
        out->has_mw = 1;
        out->mw = g->mw;
    }
    for (size_t i = 0; i < out->ngroups; i++) {
        same += out->groups[i].verdict == g->verdict;
    }
    if (out->ngroups == 1 || g->nlabels == 0) {
        snprintf(out->reason, sizeof(out->reason), "%s", g->reason);
        return;
    }
    char lb[200];
    fmt_labels(g, lb, sizeof(lb));
    snprintf(out->reason, sizeof(out->reason), "%s: %s (%zu of %zu groups %s)", lb, g->reason, same,
             out->ngroups, wg_verdict_name(g->verdict));
}

/* ---- the gate's family step ----------------------------------------------------------------- */

static int member(const struct wg_rule_result *r, const struct wg_rule_params *p)
{
    return r && p && !r->dry_run && !p->dry_run && r->verdict != WG_NOEVAL;
}

enum wg_err wg_rules_family_apply(struct wg_rule_result *const *rs,
                                  const struct wg_rule_params *const *ps, size_t n, double level,
                                  size_t *nfamily)
{
    size_t m = 0;
    if (nfamily) {
        *nfamily = 0;
    }
    if (!(level >= 0) || level >= 1) {
        return WG_EINVAL;
    }
    /* First the power guard: a group that cannot reach the budget leaves the family (it is
     * inconclusive, like one below min_samples) and does not dilute the others. */
    for (size_t i = 0; i < n; i++) {
        if (!member(rs[i], ps[i])) {
            continue;
        }
        for (size_t g = 0; g < rs[i]->ngroups; g++) {
            struct wg_group_result *gr = &rs[i]->groups[g];
            if (!gr->test.tested) {
                continue;
            }
            gr->test.family = 0;
            if (gr->test.p_min > level) {
                gr->test.level = level;
                wg__rules_test_verdict(gr, level, 0);
                continue;
            }
            gr->test.family = 1;
            m++;
        }
    }
    struct wg_family_hyp *h = calloc(m ? m : 1, sizeof(*h));
    if (!h) {
        return WG_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!member(rs[i], ps[i])) {
            continue;
        }
        size_t tested = 0;
        for (size_t g = 0; g < rs[i]->ngroups; g++) {
            tested += rs[i]->groups[g].test.family;
        }
        /* A rule's weight is split among its tested groups: a 20-host rule and a one-series
         * rule of equal weight each get half the budget. */
        for (size_t g = 0; g < rs[i]->ngroups; g++) {
            struct wg_group_result *gr = &rs[i]->groups[g];
            if (gr->test.family) {
                double w = ps[i]->weight > 0 ? ps[i]->weight : 1;
                gr->test.weight = w / (double)tested;
                h[k++] = (struct wg_family_hyp){.p = isnan(gr->test.p) ? 1 : gr->test.p,
                                                .w = gr->test.weight};
            }
        }
    }
    enum wg_err rc = wg_rules_family(h, m, level);
    if (rc != WG_OK) {
        free(h);
        return rc;
    }
    k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!member(rs[i], ps[i])) {
            continue;
        }
        int touched = 0;
        for (size_t g = 0; g < rs[i]->ngroups; g++) {
            struct wg_group_result *gr = &rs[i]->groups[g];
            touched |= gr->test.tested;
            if (gr->test.family) {
                gr->test.p_adj = h[k++].p_adj;
                gr->test.level = level;
                gr->test.family_n = m;
                wg__rules_test_verdict(gr, level, 1);
            }
        }
        if (touched) {
            wg__rules_summarize(rs[i]);
        }
    }
    free(h);
    if (nfamily) {
        *nfamily = m;
    }
    return WG_OK;
}
