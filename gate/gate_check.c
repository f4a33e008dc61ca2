/* gate_check.c — one gate evaluation: pick the wave's rules for the asked features, anchor
 * each rule's window on the deploy time, render and run every query at once through the
 * collector (current and baseline windows), judge each rule and combine the verdict.
 * Called by `wavegate check` and by the serve daemon alike.
 */
#include "gate/gate.h"
#include "gate/gate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void list_names(char *out, size_t outlen, const char *what, size_t n, size_t stride,
                       const void *base)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len < outlen; i++) {
        const char *name = *(const char *const *)((const char *)base + i * stride);
        int w = snprintf(out + len, outlen - len, "%s%s", i ? ", " : "", name);
        len += w > 0 ? (size_t)w : 0;
    }
    if (n == 0) {
        snprintf(out, outlen, "no %s defined", what);
    }
}

/* The features the request names, in config order when it names none. */
static enum wg_err pick_features(const struct wg_config *cfg, const struct wg_check_req *req,
                                 const struct wg_feature ***out, size_t *nout, char *err,
                                 size_t errlen)
{
    size_t n = req->nfeatures ? req->nfeatures : cfg->nfeatures;
    const struct wg_feature **v = calloc(n ? n : 1, sizeof(*v));
    if (!v) {
        return WG_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!req->nfeatures) {
            v[i] = &cfg->features[i];
            continue;
        }
        v[i] = wg_config_feature(cfg, req->features[i]);
        if (!v[i]) {
            char known[512];
            list_names(known, sizeof(known), "features", cfg->nfeatures, sizeof(struct wg_feature),
                       cfg->features);
            snprintf(err, errlen, "unknown feature \"%s\" (known: %s)", req->features[i], known);
            free(v);
            return WG_ENOTFOUND;
        }
    }
    *out = v;
    *nout = n;
    return WG_OK;
}

struct plan {
    struct wg_rule_report *rr;
    int cur_q;  /* index into the query array, -1 if none */
    int base_q; /* -1 if none */
    /* judge rate: the same queries again reading the denominator column; -1 if none */
    int cur_den_q, base_den_q;
    const char *render_err;
    char errbuf[256];
};

enum wg_err wg_gate_windows(const struct wg_rule *r, const struct wg_rule_params *p,
                            int64_t deploy_ns, int64_t now, struct wg_gate_windows *out)
{
    int bad = 0;
    memset(out, 0, sizeof(*out));
    /* Checked sums: a deploy time near 2262 wrapped deploy + delay + window to 1677, and the
     * window that had not started counted as ended (a false pass with no_data: pass). The
     * config and the deploy-time checks keep the inputs in range; this is the last guard. */
    if (deploy_ns) {
        bad = wg_time_add(deploy_ns, p->delay_ns, &out->start_ns) != WG_OK ||
              wg_time_add(out->start_ns, p->window_ns, &out->end_ns) != WG_OK;
    } else {
        out->end_ns = now;
        bad = wg_time_sub(now, p->window_ns, &out->start_ns) != WG_OK;
    }
    /* The baseline ends where the post-deploy period starts: at the deploy time itself, so a
     * delay (warm-up) is excluded from both. */
    int64_t anchor = deploy_ns ? deploy_ns : out->start_ns;
    switch (r->baseline.kind) {
    case WG_BASELINE_WINDOW:
        out->has_baseline = 1;
        out->baseline_end_ns = anchor;
        bad |= wg_time_sub(anchor, r->baseline.window_ns, &out->baseline_start_ns) != WG_OK;
        break;
    case WG_BASELINE_PINNED:
        out->has_baseline = 1;
        out->baseline_start_ns = r->baseline.start_ns;
        out->baseline_end_ns = r->baseline.end_ns;
        break;
    default:
        break;
    }
    if (bad) {
        /* Never judged: a window that does not fit reads as one that has not ended, so even a
         * caller that ignores the error cannot pass it. */
        memset(out, 0, sizeof(*out));
        out->start_ns = out->end_ns = INT64_MAX;
        return WG_EINVAL;
    }
    return WG_OK;
}

enum wg_err wg_gate_render(const struct wg_source *src, const struct wg_wave *w,
                           const struct wg_feature *f, const struct wg_rule *r, int64_t start,
                           int64_t end, char **out, char *err, size_t errlen)
{
    struct wg_vars v;
    memset(&v, 0, sizeof(v));
    v.env = w->env ? w->env : w->name;
    v.wave = w->name;
    v.feature = f->name;
    v.flag = f->flag;
    v.start_ns = start;
    v.end_ns = end;
    v.window_ns = end - start;
    return wg_collector_render(src->kind, r->query, &v, out, err, errlen);
}

const struct wg_source *wg_gate_rule_source(const struct wg_config *cfg, const struct wg_wave *w,
                                            const struct wg_rule *r)
{
    const char *name = r->source ? r->source : w->source;
    return name ? wg_config_source(cfg, name) : NULL;
}

static struct wg_query *add_query(struct wg_query *qs, size_t *nq, const struct wg_source *src,
                                  char *text, const char *field)
{
    struct wg_query *q = &qs[(*nq)++];
    memset(q, 0, sizeof(*q));
    q->src = src;
    q->query = text;
    q->field = field;
    q->mode = WG_COLLECT_SERIES;
    return q;
}

/* Fill windows and render queries for one rule; adds to qs. A rule that cannot be rendered
 * is planned with render_err set, and judged "could not evaluate". */
static enum wg_err plan_rule(const struct wg_config *cfg, const struct wg_wave *w,
                             const struct wg_target_report *tr, int64_t now, struct plan *pl,
                             struct wg_query *qs, size_t *nq)
{
    struct wg_rule_report *rr = pl->rr;
    const struct wg_rule *r = rr->rule;
    const struct wg_source *src = wg__gate_fleet_source(cfg, w, tr, r);
    struct wg_gate_windows win;
    char rerr[256];

    pl->cur_q = pl->base_q = pl->cur_den_q = pl->base_den_q = -1;
    int rate = r->judge == WG_JUDGE_RATE;
    const char *field = rate ? r->numerator : r->field;
    enum wg_err wrc = wg_gate_windows(r, &rr->p, tr->deploy_ns, now, &win);
    rr->start_ns = win.start_ns;
    rr->end_ns = win.end_ns;
    rr->has_baseline_window = win.has_baseline;
    rr->baseline_start_ns = win.baseline_start_ns;
    rr->baseline_end_ns = win.baseline_end_ns;
    rr->source = wg_strdup(src ? src->name : "");
    if (wrc != WG_OK) {
        snprintf(pl->errbuf, sizeof(pl->errbuf),
                 "window out of range: deploy time + delay + window does not fit");
        pl->render_err = pl->errbuf;
        return WG_OK;
    }
    if (!src) {
        snprintf(pl->errbuf, sizeof(pl->errbuf), "no source for wave %s", w->name);
        pl->render_err = pl->errbuf;
        return WG_OK;
    }
    char *q = NULL;
    if (wg__gate_fleet_render(src, w, tr, rr->feature, r, win.start_ns, win.end_ns, &q, rerr,
                              sizeof(rerr)) != WG_OK) {
        snprintf(pl->errbuf, sizeof(pl->errbuf), "query template: %s", rerr);
        pl->render_err = pl->errbuf;
        return WG_OK;
    }
    rr->query = wg_strdup(q);
    if (!rr->query) {
        free(q);
        return WG_ENOMEM;
    }
    add_query(qs, nq, src, q, field);
    pl->cur_q = (int)*nq - 1;
    if (rate && !(q = wg_strdup(q))) {
        return WG_ENOMEM;
    }
    if (rate) {
        add_query(qs, nq, src, q, r->denominator);
        pl->cur_den_q = (int)*nq - 1;
    }
    if (win.has_baseline) {
        char *bq = NULL;
        if (wg__gate_fleet_render(src, w, tr, rr->feature, r, win.baseline_start_ns,
                                  win.baseline_end_ns, &bq, rerr, sizeof(rerr)) != WG_OK) {
            snprintf(pl->errbuf, sizeof(pl->errbuf), "baseline query template: %s", rerr);
            pl->render_err = pl->errbuf;
            return WG_OK;
        }
        add_query(qs, nq, src, bq, field);
        pl->base_q = (int)*nq - 1;
        if (rate && !(bq = wg_strdup(bq))) {
            return WG_ENOMEM;
        }
        if (rate) {
            add_query(qs, nq, src, bq, r->denominator);
            pl->base_den_q = (int)*nq - 1;
        }
    }
    return WG_OK;
}

/* The evaluation's deadline (wg_check_req.deadline_mono_ns) on every query; 0: none. */
static void set_deadline(struct wg_query *qs, size_t nq, int64_t deadline)
{
    for (size_t i = 0; i < nq; i++) {
        qs[i].deadline_ns = deadline;
    }
}

/* After the run: a query the deadline cut (a timeout at the deadline, before the source's own
 * budget ran out; one never sent for lack of time) says so, so that "could not evaluate" names
 * the cause. budget_ns: the whole evaluation's, for the message. */
static void name_deadline(struct wg_query *qs, size_t nq, int64_t deadline, int64_t budget_ns)
{
    if (!wg__gate_deadline_reached(deadline)) {
        return; /* the batch ended before it: nothing was cut by it */
    }
    char b[48];
    int64_t ms = budget_ns > 0 ? (budget_ns + WG_NS_PER_SEC / 2000) / (WG_NS_PER_SEC / 1000) : 0;
    wg_duration_format(ms * (WG_NS_PER_SEC / 1000), b, sizeof(b)); /* to the millisecond */
    for (size_t i = 0; i < nq; i++) {
        struct wg_query *q = &qs[i];
        int64_t own = q->src && q->src->timeout_ns > 0 ? q->src->timeout_ns : 10 * WG_NS_PER_SEC;
        if (q->err != WG_ETIMEOUT || q->elapsed_ns >= own - WG_NS_PER_SEC / 100) {
            continue; /* not a timeout, or the source's own timeout came first */
        }
        char was[sizeof(q->errmsg)];
        snprintf(was, sizeof(was), "%s", q->errmsg);
        snprintf(q->errmsg, sizeof(q->errmsg), "deadline of the evaluation reached (%s): %s", b,
                 was[0] ? was : "cut");
    }
}

static const char *query_error(const struct wg_query *q, char *buf, size_t len)
{
    if (q->err == WG_OK) {
        return NULL;
    }
    snprintf(buf, len, "%s: %s", wg_strerror(q->err), q->errmsg[0] ? q->errmsg : "no detail");
    return buf;
}

/* A window that has not ended yet cannot pass: what is missing might still go wrong. A
 * failure seen already stands (fail fast). */
static void judge_incomplete(struct wg_rule_report *rr, int64_t now)
{
    if (rr->end_ns <= now) {
        return;
    }
    enum wg_verdict v = rr->res.verdict;
    if (v == WG_PASS || v == WG_WARN) {
        char left[48];
        char why[512];
        wg_duration_format(rr->end_ns - now, left, sizeof(left));
        snprintf(why, sizeof(why), "window incomplete (%s left); so far: %s", left, rr->res.reason);
        rr->res.verdict = WG_INCONCLUSIVE;
        snprintf(rr->res.reason, sizeof(rr->res.reason), "%s", why);
    }
}

/* The gate's one false-fail budget (rules.h wg_rules_family_apply): the wave's
 * gate.false_fail, else the smallest design rate of its statistical rules, so adding a rule
 * or a host never loosens it. In a bake-time analysis it is spent across the looks like one
 * rule's, from the last look at which any statistical rule judged (the union bound then
 * holds for the whole family). Returns 0 when the gate has no statistical rule. */
static double family_level(const struct wg_check_req *req, const struct wg_wave *w,
                           const struct plan *plans, size_t nplans)
{
    double level = 0;
    /* no notes at a later look (an analysis resumed after a restart): every rule taken as
     * judged at the look before, which only spends less (never F(look) at once again) */
    int last = req->last_tested || req->look < 1 ? 0 : req->look - 1, any = 0;
    for (size_t i = 0; i < nplans; i++) {
        const struct wg_rule_report *rr = plans[i].rr;
        if (!wg_rules_is_statistical(rr->rule) || rr->p.dry_run) {
            continue;
        }
        double l = wg_rules_family_rule_level(&rr->p);
        level = !any || l < level ? l : level;
        any = 1;
        if (i < req->nlast_tested && req->last_tested && req->last_tested[i] > last) {
            last = req->last_tested[i];
        }
    }
    if (!any) {
        return 0;
    }
    if (w->gate_false_fail > 0) {
        level = w->gate_false_fail;
    }
    if (req->max_looks > 0) {
        level = wg_rules_alpha_spend_since(level, last, req->look, req->max_looks);
    }
    return level;
}

static const char *plan_error(const struct wg_query *qs, int q, int den, char *buf, size_t len)
{
    const char *e = q >= 0 ? query_error(&qs[q], buf, len) : NULL;
    return e ? e : den >= 0 ? query_error(&qs[den], buf, len) : NULL;
}

static enum wg_err evaluate(const struct wg_config *cfg, const struct wg_check_req *req,
                            const struct wg_wave *w, struct plan *plans, size_t nplans,
                            struct wg_query *qs, int64_t now)
{
    double flevel = family_level(req, w, plans, nplans);
    for (size_t i = 0; i < nplans; i++) {
        struct plan *pl = &plans[i];
        struct wg_rule_report *rr = pl->rr;
        char ebuf[1200], bbuf[1200];
        struct wg_seriesset prev = {0};
        struct wg_rule_input in = {
            .rule = rr->rule,
            .p = &rr->p,
            .error = pl->render_err,
        };
        struct wg_seriesset empty = {0};
        in.current = pl->cur_q >= 0 ? &qs[pl->cur_q].series : &empty;
        in.current_den = pl->cur_den_q >= 0 ? &qs[pl->cur_den_q].series : NULL;
        in.baseline_den = pl->base_den_q >= 0 ? &qs[pl->base_den_q].series : NULL;
        if (pl->cur_q >= 0) {
            rr->query_ns = qs[pl->cur_q].elapsed_ns;
        }
        if (!in.error) {
            in.error = plan_error(qs, pl->cur_q, pl->cur_den_q, ebuf, sizeof(ebuf));
        }
        if (pl->base_q >= 0) {
            in.baseline = &qs[pl->base_q].series;
            in.baseline_error = plan_error(qs, pl->base_q, pl->base_den_q, bbuf, sizeof(bbuf));
        } else if (rr->rule->baseline.kind == WG_BASELINE_PREVIOUS) {
            const char *dir = req->state_dir ? req->state_dir : cfg->state_dir;
            const char *hw = rr->history_wave ? rr->history_wave : w->name;
            if (wg__gate_state_previous(dir, rr->rule, hw, rr->rule->baseline.previous_count, &prev,
                                        bbuf, sizeof(bbuf)) != WG_OK) {
                in.baseline_error = bbuf;
            }
            in.baseline = &prev;
        }
        if (req->max_looks > 0 && wg_rules_is_statistical(rr->rule)) {
            int last = i < req->nlast_tested && req->last_tested ? req->last_tested[i]
                       : req->last_tested || req->look < 1       ? 0
                                                                 : req->look - 1;
            in.sequential = 1;
            /* A dry-run rule keeps its own budget; the others are re-judged by the family. */
            in.look_alpha = rr->p.dry_run ? wg_rules_alpha_spend_since(wg__gate_alpha(&rr->p), last,
                                                                       req->look, req->max_looks)
                                          : flevel;
        }
        enum wg_err rc = wg_rules_eval(&in, &rr->res);
        if (rc == WG_OK && req->keep_series) { /* the evidence page's chart (gate_html.c) */
            rc = wg__gate_downsample(in.current, &rr->kept);
            if (rc == WG_OK && pl->base_q >= 0) {
                rc = wg__gate_downsample(in.baseline, &rr->kept_baseline);
            }
        }
        wg_seriesset_free(&prev);
        if (rc != WG_OK) {
            return rc;
        }
    }
    /* One budget for the gate: every tested group of every statistical rule is re-judged
     * together (tests/unit/test_rules_family.c; tests/integration/test_budget_influx.sh). */
    struct wg_rule_result **rs = calloc(nplans ? nplans : 1, sizeof(*rs));
    const struct wg_rule_params **ps = calloc(nplans ? nplans : 1, sizeof(*ps));
    enum wg_err rc = rs && ps ? WG_OK : WG_ENOMEM;
    for (size_t i = 0; i < nplans && rc == WG_OK; i++) {
        int stat = wg_rules_is_statistical(plans[i].rr->rule);
        rs[i] = stat ? &plans[i].rr->res : NULL;
        ps[i] = stat ? &plans[i].rr->p : NULL;
    }
    if (rc == WG_OK) {
        rc = wg_rules_family_apply(rs, ps, nplans, flevel, NULL);
    }
    free(rs);
    free(ps);
    if (rc != WG_OK) {
        return rc;
    }
    for (size_t i = 0; i < nplans; i++) {
        struct wg_rule_report *rr = plans[i].rr;
        if (!rr->res.reason[0]) {
            snprintf(rr->res.reason, sizeof(rr->res.reason), "%s",
                     wg_verdict_name(rr->res.verdict));
        }
        judge_incomplete(rr, now);
    }
    return WG_OK;
}

/* The false-fail budget of one failing direction at the rule's confidence (rules.h). */
double wg__gate_alpha(const struct wg_rule_params *p)
{
    double conf = p->confidence > 0 && p->confidence < 1 ? p->confidence : 0.98;
    return (1 - conf) / 2;
}

enum wg_verdict wg_gate_combine_features(const enum wg_verdict *v, size_t n)
{
    if (n == 0) {
        return WG_INCONCLUSIVE; /* no feature: nothing judged (test_gate_check.c) */
    }
    enum wg_verdict all = v[0];
    for (size_t i = 1; i < n; i++) {
        all = wg_verdict_worst(all, v[i]);
    }
    return all;
}

#define NO_RULES "no rules for this wave/feature"

/* Why nothing (or some feature) was judged, into rep->reason. */
static void explain_unjudged(struct wg_check_report *rep, const size_t *judged)
{
    size_t len = 0, cap = sizeof(rep->reason);
    if (rep->nfeatures == 0) {
        snprintf(rep->reason, cap, NO_RULES ": the config has no features");
        return;
    }
    if (rep->njudged == 0 && rep->nrules > 0) {
        snprintf(rep->reason, cap, NO_RULES ": every rule is dry-run");
        return;
    }
    for (size_t f = 0; f < rep->nfeatures && len < cap; f++) {
        if (judged[f]) {
            continue;
        }
        int w = snprintf(rep->reason + len, cap - len, "%s%s", len ? ", " : NO_RULES ": feature ",
                         rep->features[f].feature->name);
        len += w > 0 ? (size_t)w : 0;
    }
}

/* Each feature over its rules (wg_rules_combine), then the wave over its features. */
static void combine(struct wg_check_report *rep)
{
    size_t at = 0;
    enum wg_verdict *vs = calloc(rep->nfeatures ? rep->nfeatures : 1, sizeof(*vs));
    size_t *judged = calloc(rep->nfeatures ? rep->nfeatures : 1, sizeof(*judged));
    rep->njudged = 0;
    rep->reason[0] = '\0';
    for (size_t f = 0; f < rep->nfeatures; f++) {
        struct wg_feature_report *fr = &rep->features[f];
        size_t n = fr->feature->nrules;
        struct wg_rule_result *rs = calloc(n ? n : 1, sizeof(*rs));
        const struct wg_rule_params **ps = calloc(n ? n : 1, sizeof(*ps));
        if (!rs || !ps || !vs || !judged) {
            fr->verdict = WG_NOEVAL;
        } else {
            for (size_t i = 0; i < n; i++) {
                const struct wg_rule_report *rr = &rep->rules[at + i];
                rs[i] = rr->res; /* shallow: combine only reads */
                ps[i] = &rr->p;
                judged[f] += !(rr->res.dry_run || rr->p.dry_run);
            }
            fr->verdict = wg_rules_combine(fr->feature, rs, ps, n, &fr->score_pct);
            vs[f] = fr->verdict;
            rep->njudged += judged[f];
        }
        free(rs);
        free(ps);
        at += n;
    }
    if (!vs || !judged) {
        rep->verdict = WG_NOEVAL;
        snprintf(rep->reason, sizeof(rep->reason), "out of memory combining the verdicts");
    } else {
        rep->verdict = wg_gate_combine_features(vs, rep->nfeatures);
        explain_unjudged(rep, judged);
    }
    free(vs);
    free(judged);
}

enum wg_err wg_gate_check(const struct wg_config *cfg, const struct wg_check_req *req,
                          struct wg_check_report **out, char *err, size_t errlen)
{
    enum wg_err rc = WG_OK;
    const struct wg_feature **feats = NULL;
    size_t nfeats = 0, nrules = 0, nq = 0, nt = 1;
    struct plan *plans = NULL;
    struct wg_query *qs = NULL;
    struct wg_check_report *rep = NULL;
    int64_t now = req->now_ns ? req->now_ns : wg_now_ns();
    int64_t t0 = wg_mono_ns(); /* the deadline's budget, for its message */

    *out = NULL;
    err[0] = '\0';
    const struct wg_wave *w = req->wave ? wg_config_wave(cfg, req->wave) : NULL;
    if (!w) {
        char known[512];
        list_names(known, sizeof(known), "waves", cfg->nwaves, sizeof(struct wg_wave), cfg->waves);
        snprintf(err, errlen, "unknown wave \"%s\" (known: %s)", req->wave ? req->wave : "", known);
        return WG_ENOTFOUND;
    }
    rc = pick_features(cfg, req, &feats, &nfeats, err, errlen);
    if (rc != WG_OK) {
        return rc;
    }
    for (size_t f = 0; f < nfeats; f++) {
        nrules += feats[f]->nrules;
    }
    rep = calloc(1, sizeof(*rep));
    if (!rep || (rc = wg__gate_fleet_targets(w, req, rep, err, errlen)) != WG_OK) {
        rc = rep ? rc : WG_ENOMEM;
        goto out;
    }
    nt = rep->ntargets; /* every target's rules are planned into one collector batch */
    plans = calloc(nrules ? nrules * nt : 1, sizeof(*plans));
    qs = calloc(nrules ? 4 * nrules * nt : 1, sizeof(*qs)); /* current, baseline; x2 for rate */
    if (!plans || !qs) {
        rc = WG_ENOMEM;
        goto out;
    }
    rep->wave = w->name;
    rep->env = w->env ? w->env : w->name;
    if (req->target) {
        rep->env = rep->targets[0].env;
    }
    rep->deploy_ns = req->deploy_ns;
    rep->rules = calloc(nrules ? nrules * nt : 1, sizeof(*rep->rules));
    rep->features = calloc(nfeats ? nfeats * nt : 1, sizeof(*rep->features));
    if (!rep->rules || !rep->features) {
        rc = WG_ENOMEM;
        goto out;
    }
    for (size_t t = 0; t < nt; t++) {
        struct wg_target_report *tr = &rep->targets[t];
        tr->rule0 = rep->nrules;
        tr->feature0 = rep->nfeatures;
        tr->nfeatures = nfeats;
        for (size_t f = 0; f < nfeats; f++) {
            struct wg_feature_report *fr = &rep->features[rep->nfeatures++];
            fr->feature = feats[f];
            fr->score_pct = -1;
            fr->target = t;
            for (size_t i = 0; i < feats[f]->nrules; i++) {
                struct wg_rule_report *rr = &rep->rules[rep->nrules];
                rr->feature = feats[f];
                rr->rule = &feats[f]->rules[i];
                rr->target = t;
                if (rep->fleet && !(rr->history_wave = wg_asprintf("%s/%s", w->name, tr->name))) {
                    rc = WG_ENOMEM;
                    goto out;
                }
                wg_config_effective(rr->rule, w, &rr->p);
                plans[rep->nrules].rr = rr;
                rep->nrules++;
                rc = plan_rule(cfg, w, tr, now, &plans[rep->nrules - 1], qs, &nq);
                if (rc != WG_OK) {
                    goto out;
                }
            }
        }
        tr->nrules = rep->nrules - tr->rule0;
    }
    for (size_t i = 0; i < rep->nrules; i++) {
        struct wg_rule_report *rr = &rep->rules[i];
        if (i == 0 || rr->start_ns < rep->start_ns) {
            rep->start_ns = rr->start_ns;
        }
        if (i == 0 || rr->end_ns > rep->end_ns) {
            rep->end_ns = rr->end_ns;
        }
    }
    if (nq) {
        struct wg_collector_opts co = {.max_total = wg__gate_fleet_max_total(qs, nq),
                                       .http = req->http}; /* per source bound */
        set_deadline(qs, nq, req->deadline_mono_ns);
        rc = wg_collector_run(qs, nq, &co);
        name_deadline(qs, nq, req->deadline_mono_ns, req->deadline_mono_ns - t0);
        if (rc != WG_OK) {
            /* the run's own cause when it gave one (not the bare code) */
            snprintf(err, errlen, "collector: %s%s%s", wg_strerror(rc), qs[0].errmsg[0] ? ": " : "",
                     qs[0].errmsg);
            goto out;
        }
    }
    rc = evaluate(cfg, req, w, plans, rep->nrules, qs, now);
    if (rc != WG_OK) {
        goto out;
    }
    wg__gate_fleet_peers(rep, now);
    wg__gate_fleet_combine(rep, w, combine); /* each target, then the wave policy */
    if (req->record_history) {               /* the caller's choice: deploys, not monitor ticks */
        wg__gate_state_record(req->state_dir ? req->state_dir : cfg->state_dir, rep);
    }
out:
    for (size_t i = 0; i < nq; i++) {
        wg_query_clear(&qs[i]);
    }
    free(qs);
    free(plans);
    free(feats);
    if (rc != WG_OK) {
        wg_check_report_free(rep);
        if (!err[0]) {
            snprintf(err, errlen, "%s", wg_strerror(rc));
        }
        return rc;
    }
    *out = rep;
    return WG_OK;
}

void wg_check_report_free(struct wg_check_report *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; i < r->nrules; i++) {
        free(r->rules[i].query);
        free(r->rules[i].source);
        free(r->rules[i].history_wave);
        wg_rule_result_clear(&r->rules[i].res);
        wg_seriesset_free(&r->rules[i].kept);
        wg_seriesset_free(&r->rules[i].kept_baseline);
    }
    free(r->rules);
    free(r->features);
    free(r->targets);
    free(r);
}

int wg_gate_exit_code(enum wg_verdict v)
{
    switch (v) {
    case WG_PASS:
    case WG_WARN:
        return WG_EXIT_PASS;
    case WG_FAIL:
        return WG_EXIT_FAIL;
    case WG_INCONCLUSIVE:
        return WG_EXIT_INCONCLUSIVE;
    case WG_NOEVAL:
        return WG_EXIT_ERROR;
    }
    return WG_EXIT_ERROR;
}
