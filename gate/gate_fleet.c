/* gate_fleet.c — fleet waves: the targets one check judges (each with its source, labels and
 * deploy time), their query placeholders, `judge: peers` across targets, and the wave policy
 * that turns the targets' verdicts into the wave's. gate_check.c plans and runs every target's
 * rules in one collector batch and calls in here.
 */
#include "gate/gate.h"
#include "gate/gate_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wg_gate_target_names(const struct wg_wave *w, char *out, size_t len)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < w->ntargets && at < len; i++) {
        int n = snprintf(out + at, len - at, "%s%s", i ? ", " : "", w->targets[i].name);
        at += n > 0 ? (size_t)n : 0;
    }
    if (!w->ntargets) {
        snprintf(out, len, "the wave has no targets");
    }
}

static void fill_target(struct wg_target_report *t, const struct wg_wave *w,
                        const struct wg_target *tg, const struct wg_check_req *req)
{
    t->target = tg;
    t->name = tg ? tg->name : w->name;
    t->env = tg && tg->env ? tg->env : w->env ? w->env : w->name;
    t->source = tg && tg->source ? tg->source : w->source;
    t->deploy_ns = req->deploy_ns;
    for (size_t i = 0; tg && i < req->ndeploy_times; i++) {
        if (strcmp(req->deploy_times[i].target, tg->name) == 0) {
            t->deploy_ns = req->deploy_times[i].ns;
        }
    }
}

enum wg_err wg__gate_fleet_targets(const struct wg_wave *w, const struct wg_check_req *req,
                                   struct wg_check_report *rep, char *err, size_t errlen)
{
    char known[512];
    const struct wg_target *one = NULL;
    for (size_t i = 0; i < req->ndeploy_times; i++) {
        if (!wg_config_target(w, req->deploy_times[i].target)) {
            wg_gate_target_names(w, known, sizeof(known));
            snprintf(err, errlen, "deploy time for unknown target \"%s\" of wave %s (known: %s)",
                     req->deploy_times[i].target, w->name, known);
            return WG_ENOTFOUND;
        }
    }
    if (req->target && !(one = wg_config_target(w, req->target))) {
        wg_gate_target_names(w, known, sizeof(known));
        snprintf(err, errlen, "unknown target \"%s\" of wave %s (known: %s)", req->target, w->name,
                 known);
        return WG_ENOTFOUND;
    }
    size_t n = one || !w->ntargets ? 1 : w->ntargets;
    rep->targets = calloc(n, sizeof(*rep->targets));
    if (!rep->targets) {
        return WG_ENOMEM;
    }
    rep->ntargets = n;
    rep->fleet = w->ntargets > 0;
    for (size_t i = 0; i < n; i++) {
        fill_target(&rep->targets[i], w, one ? one : w->ntargets ? &w->targets[i] : NULL, req);
    }
    return WG_OK;
}

const struct wg_source *wg__gate_fleet_source(const struct wg_config *cfg, const struct wg_wave *w,
                                              const struct wg_target_report *t,
                                              const struct wg_rule *r)
{
    const char *name = r->source ? r->source : t && t->source ? t->source : w->source;
    return name ? wg_config_source(cfg, name) : NULL;
}

enum wg_err wg__gate_fleet_render(const struct wg_source *src, const struct wg_wave *w,
                                  const struct wg_target_report *t, const struct wg_feature *f,
                                  const struct wg_rule *r, int64_t start, int64_t end, char **out,
                                  char *err, size_t errlen)
{
    struct wg_vars v;
    memset(&v, 0, sizeof(v));
    v.env = t ? t->env : w->env ? w->env : w->name;
    v.wave = w->name;
    v.feature = f->name;
    v.flag = f->flag;
    v.start_ns = start;
    v.end_ns = end;
    v.window_ns = end - start;
    v.target = t ? t->name : w->name;
    if (t && t->target) {
        v.labels = t->target->labels;
        v.nlabels = t->target->nlabels;
    }
    return wg_collector_render(src->kind, r->query, &v, out, err, errlen);
}

static void target_view(struct wg_target_report *t, const struct wg_wave *w,
                        const struct wg_target *tg)
{
    static const struct wg_check_req none;
    memset(t, 0, sizeof(*t));
    fill_target(t, w, tg, &none);
}

const struct wg_source *wg_gate_target_source(const struct wg_config *cfg, const struct wg_wave *w,
                                              const struct wg_target *t, const struct wg_rule *r)
{
    struct wg_target_report tr;
    target_view(&tr, w, t);
    return wg__gate_fleet_source(cfg, w, &tr, r);
}

enum wg_err wg_gate_target_render(const struct wg_source *src, const struct wg_wave *w,
                                  const struct wg_target *t, const struct wg_feature *f,
                                  const struct wg_rule *r, int64_t start, int64_t end, char **out,
                                  char *err, size_t errlen)
{
    struct wg_target_report tr;
    target_view(&tr, w, t);
    return wg__gate_fleet_render(src, w, &tr, f, r, start, end, out, err, errlen);
}

/* ---- judge: peers ------------------------------------------------------------------------ */

void wg__gate_fleet_peers(struct wg_check_report *rep, int64_t now)
{
    size_t per = rep->ntargets ? rep->targets[0].nrules : 0;
    struct wg_peer *peers = calloc(rep->ntargets ? rep->ntargets : 1, sizeof(*peers));
    for (size_t k = 0; k < per; k++) {
        struct wg_rule_report *first = &rep->rules[rep->targets[0].rule0 + k];
        if (first->rule->judge != WG_JUDGE_PEERS) {
            continue;
        }
        for (size_t t = 0; peers && t < rep->ntargets; t++) {
            struct wg_rule_report *rr = &rep->rules[rep->targets[t].rule0 + k];
            peers[t].name = rep->targets[t].name;
            peers[t].res = &rr->res;
        }
        if (peers) {
            wg_rules_peers(&first->p, peers, rep->ntargets, wg__gate_alpha(&first->p));
        }
        for (size_t t = 0; t < rep->ntargets; t++) {
            struct wg_rule_report *rr = &rep->rules[rep->targets[t].rule0 + k];
            if (rr->res.peers_pending) { /* out of memory: never judged is never a pass */
                rr->res.peers_pending = 0;
                snprintf(rr->res.reason, sizeof(rr->res.reason), "peers: out of memory");
            }
            /* a window that has not ended cannot pass (gate_check.c judge_incomplete) */
            if ((rr->res.verdict == WG_PASS || rr->res.verdict == WG_WARN) && rr->end_ns > now) {
                char why[512];
                snprintf(why, sizeof(why), "window incomplete; so far: %s", rr->res.reason);
                rr->res.verdict = WG_INCONCLUSIVE;
                snprintf(rr->res.reason, sizeof(rr->res.reason), "%s", why);
            }
        }
    }
    free(peers);
}

/* ---- the wave policy --------------------------------------------------------------------- */

static size_t allowed(const struct wg_limit *l, size_t n)
{
    if (!l->set) {
        return 0;
    }
    double v = l->percent ? floor(l->value * (double)n / 100.0 + 1e-9) : l->value;
    return v < 0 ? 0 : v > (double)n ? n : (size_t)v;
}

enum wg_verdict wg_gate_combine_targets(const struct wg_wave_policy *p, const enum wg_verdict *v,
                                        size_t n, struct wg_policy_counts *c)
{
    static const struct wg_wave_policy all;
    p = p ? p : &all;
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        c->failed += v[i] == WG_FAIL;
        c->unreachable += v[i] == WG_NOEVAL;
        c->nodata += v[i] == WG_INCONCLUSIVE;
        c->warned += v[i] == WG_WARN;
        c->judged += v[i] == WG_PASS || v[i] == WG_WARN || v[i] == WG_FAIL;
    }
    c->max_failed = allowed(&p->max_failed, n);
    c->max_unreachable = allowed(&p->max_unreachable, n);
    c->min_targets = p->min_targets > 0 ? (size_t)p->min_targets : n - c->max_unreachable;
    if (c->failed > c->max_failed) {
        return WG_FAIL;
    }
    if (c->unreachable > c->max_unreachable) {
        return WG_NOEVAL; /* could not evaluate: never a pass by omission */
    }
    if (n == 0 || c->judged == 0 || c->judged < c->min_targets) {
        return WG_INCONCLUSIVE;
    }
    if (c->failed || c->unreachable || c->nodata || c->warned) {
        return WG_WARN;
    }
    return WG_PASS;
}

/* "<what>: a, b" of the targets with verdict v, appended to b. */
static void name_targets(struct wg_buf *b, const struct wg_check_report *rep, enum wg_verdict v,
                         const char *what)
{
    size_t k = 0;
    for (size_t i = 0; i < rep->ntargets; i++) {
        if (rep->targets[i].verdict == v) {
            if (k++ == 0) {
                (void)wg_buf_addf(b, "%s%s", b->len ? "; " : "", what);
            } else {
                (void)wg_buf_adds(b, ", ");
            }
            (void)wg_buf_adds(b, rep->targets[i].name);
        }
    }
}

static void explain(struct wg_check_report *rep, const struct wg_policy_counts *c)
{
    struct wg_buf b;
    wg_buf_init(&b, sizeof(rep->reason) * 4);
    (void)wg_buf_addf(&b, "%zu of %zu targets passed",
                      rep->ntargets - c->failed - c->unreachable - c->nodata, rep->ntargets);
    name_targets(&b, rep, WG_FAIL, "failed: ");
    if (c->failed) {
        (void)wg_buf_addf(&b, " (max_failed %zu)", c->max_failed);
    }
    name_targets(&b, rep, WG_NOEVAL, "could not evaluate: ");
    if (c->unreachable) {
        (void)wg_buf_addf(&b, " (max_unreachable %zu)", c->max_unreachable);
    }
    name_targets(&b, rep, WG_INCONCLUSIVE, "no data: ");
    if (c->judged < c->min_targets) {
        (void)wg_buf_addf(&b, " (%zu with data, min_targets %zu)", c->judged, c->min_targets);
    }
    name_targets(&b, rep, WG_WARN, "warned: ");
    snprintf(rep->reason, sizeof(rep->reason), "%s", b.p ? b.p : "out of memory");
    wg_buf_free(&b);
}

void wg__gate_fleet_combine(struct wg_check_report *rep, const struct wg_wave *w,
                            void (*combine_one)(struct wg_check_report *))
{
    enum wg_verdict *vs = calloc(rep->ntargets ? rep->ntargets : 1, sizeof(*vs));
    rep->njudged = 0;
    for (size_t t = 0; t < rep->ntargets; t++) {
        struct wg_target_report *tr = &rep->targets[t];
        struct wg_check_report view = *rep;
        view.rules = rep->rules + tr->rule0;
        view.nrules = tr->nrules;
        view.features = rep->features + tr->feature0;
        view.nfeatures = tr->nfeatures;
        combine_one(&view);
        tr->verdict = view.verdict;
        tr->njudged = view.njudged;
        snprintf(tr->reason, sizeof(tr->reason), "%s", view.reason);
        rep->njudged += view.njudged;
        if (vs) {
            vs[t] = tr->verdict;
        }
    }
    if (!rep->fleet || rep->ntargets == 1) {
        /* one target asked for (or a wave without targets): its own verdict, as before */
        rep->verdict = rep->ntargets ? rep->targets[0].verdict : WG_INCONCLUSIVE;
        snprintf(rep->reason, sizeof(rep->reason), "%s",
                 rep->ntargets ? rep->targets[0].reason : "no targets");
    } else if (!vs) {
        rep->verdict = WG_NOEVAL;
        snprintf(rep->reason, sizeof(rep->reason), "out of memory combining the targets");
    } else {
        struct wg_policy_counts c;
        rep->verdict = wg_gate_combine_targets(&w->policy, vs, rep->ntargets, &c);
        explain(rep, &c);
    }
    free(vs);
}

/* ---- concurrency ------------------------------------------------------------------------- */

#define MAX_TOTAL_FLOOR 64 /* the collector's own default */
#define MAX_TOTAL_CAP 1024 /* sockets one check may hold open at once */

int wg__gate_fleet_max_total(const struct wg_query *qs, size_t nq)
{
    const struct wg_source **seen = calloc(nq ? nq : 1, sizeof(*seen));
    size_t *count = calloc(nq ? nq : 1, sizeof(*count));
    size_t ns = 0;
    long total = 0;
    for (size_t i = 0; seen && count && i < nq; i++) {
        size_t k = 0;
        while (k < ns && seen[k] != qs[i].src) {
            k++;
        }
        if (k == ns) {
            seen[ns++] = qs[i].src;
        }
        count[k]++;
    }
    for (size_t k = 0; seen && count && k < ns; k++) {
        long per = seen[k] && seen[k]->max_concurrency > 0 ? seen[k]->max_concurrency : 8;
        total += (long)count[k] < per ? (long)count[k] : per;
    }
    free(seen);
    free(count);
    return total < MAX_TOTAL_FLOOR ? MAX_TOTAL_FLOOR
           : total > MAX_TOTAL_CAP ? MAX_TOTAL_CAP
                                   : (int)total;
}
