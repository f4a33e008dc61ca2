/* gate_observe.c — maps a gate report onto alerting's observations (wg_alert_eval): one
 * instance per (rule, wave, group labels); per-rule error/no-data alerts when mapped
 * "separate"; one WavegateSourceUnreachable per source whose every rule errored;
 * WavegateGateFailed (and WavegateGatePassed with monitor.alert_on_pass) for the verdict.
 * The gate sits above alerting: alerting knows nothing of check reports.
 */
#include "alerting/alerting.h"
#include "common/http.h"
#include "gate/gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct evlist {
    struct wg_alert_eval *v;
    struct wg_alert_labels *ls, *an;
    char **keys;
    size_t n, cap;
};

static struct wg_alert_eval *ev_new(struct evlist *l, const char *rule_key, enum wg_alert_cond c)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 32;
        void *a = realloc(l->v, nc * sizeof(*l->v));
        if (a) {
            l->v = a;
        }
        void *b = realloc(l->ls, nc * sizeof(*l->ls));
        if (b) {
            l->ls = b;
        }
        void *c2 = realloc(l->an, nc * sizeof(*l->an));
        if (c2) {
            l->an = c2;
        }
        void *d = realloc(l->keys, nc * sizeof(*l->keys));
        if (d) {
            l->keys = d;
        }
        if (!a || !b || !c2 || !d) {
            return NULL;
        }
        l->cap = nc;
    }
    memset(&l->v[l->n], 0, sizeof(l->v[0]));
    memset(&l->ls[l->n], 0, sizeof(l->ls[0]));
    memset(&l->an[l->n], 0, sizeof(l->an[0]));
    l->keys[l->n] = wg_strdup(rule_key);
    l->v[l->n].cond = c;
    return &l->v[l->n++];
}

static void evlist_clear(struct evlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        wg_alert_labels_clear(&l->ls[i]);
        wg_alert_labels_clear(&l->an[i]);
        free(l->keys[i]);
    }
    free(l->v);
    free(l->ls);
    free(l->an);
    free(l->keys);
}

static enum wg_alert_cond cond_of(enum wg_verdict v)
{
    switch (v) {
    case WG_FAIL:
        return WG_COND_BREACH;
    case WG_INCONCLUSIVE:
        return WG_COND_NODATA;
    case WG_NOEVAL:
        return WG_COND_ERROR;
    default:
        return WG_COND_OK;
    }
}

static int listed(char **v, size_t n, const char *s)
{
    if (n == 0) {
        return 1;
    }
    for (size_t i = 0; s && i < n; i++) {
        if (strcmp(v[i], s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Set k=v in ls; the first failure (out of memory) stays in *err, later sets are skipped. */
static void lset(enum wg_err *err, struct wg_alert_labels *ls, const char *k, const char *v)
{
    if (*err == WG_OK) {
        *err = wg_alert_labels_set(ls, k, v);
    }
}

static void base_labels(enum wg_err *err, struct wg_alert_labels *ls,
                        const struct wg_check_report *r, const struct wg_rule_report *rr)
{
    lset(err, ls, "wave", r->wave ? r->wave : "");
    if (r->env) {
        lset(err, ls, "env", r->env);
    }
    if (rr) {
        lset(err, ls, "feature", rr->feature ? rr->feature->name : "");
        lset(err, ls, "rule", rr->rule->name);
        if (rr->source) {
            lset(err, ls, "source", rr->source);
        }
    }
    /* a fleet wave's rule alerts per target: target, its env and labels (cloud, region) */
    if (rr && r->fleet && rr->target < r->ntargets) {
        const struct wg_target_report *t = &r->targets[rr->target];
        lset(err, ls, "target", t->name);
        if (t->env) {
            lset(err, ls, "env", t->env);
        }
        for (size_t k = 0; t->target && k < t->target->nlabels; k++) {
            lset(err, ls, t->target->labels[k].key, t->target->labels[k].value);
        }
    }
}

/* A link to the wave's verdict on a route the server answers (GET /v1/gate?wave=, see
 * gate_server.c's route()); none without monitor.external_url. */
static void report_url(enum wg_err *err, struct wg_alert_labels *an, const char *external_url,
                       const char *wave)
{
    struct wg_buf b;
    if (!external_url || !wave) {
        return;
    }
    wg_buf_init(&b, 0);
    if (wg_buf_adds(&b, external_url) == WG_OK && wg_buf_adds(&b, "/v1/gate?wave=") == WG_OK &&
        wg_http_urlencode(&b, wave) == WG_OK) {
        lset(err, an, "report_url", b.p);
    }
    wg_buf_free(&b);
}

static void summary(enum wg_err *err, struct wg_alert_labels *an, const struct wg_rule_report *rr,
                    int has_v, double v, const char *reason)
{
    char buf[768];
    const struct wg_threshold *t = &rr->p.threshold;
    int o = snprintf(buf, sizeof(buf), "%s", rr->rule->name);
    if (has_v && o >= 0 && (size_t)o < sizeof(buf)) {
        o += snprintf(buf + o, sizeof(buf) - (size_t)o, " value %g", v);
    }
    if (t->has_max && o >= 0 && (size_t)o < sizeof(buf)) {
        o += snprintf(buf + o, sizeof(buf) - (size_t)o, " (max %g)", t->max);
    }
    if (t->has_min && o >= 0 && (size_t)o < sizeof(buf)) {
        o += snprintf(buf + o, sizeof(buf) - (size_t)o, " (min %g)", t->min);
    }
    if (reason && *reason && o >= 0 && (size_t)o < sizeof(buf)) {
        snprintf(buf + o, sizeof(buf) - (size_t)o, ": %s", reason);
    }
    lset(err, an, "summary", buf);
}

static int build(struct evlist *l, const struct wg_alert_config *cfg, const char *link_base,
                 const struct wg_check_report *r)
{
    const struct wg_monitor *m = &cfg->monitor;
    enum wg_err e = WG_OK, *err = &e;
    for (size_t i = 0; i < r->nrules; i++) {
        const struct wg_rule_report *rr = &r->rules[i];
        const char *fname = rr->feature ? rr->feature->name : "";
        if (!listed(m->features, m->nfeatures, fname)) {
            continue;
        }
        char key[256];
        snprintf(key, sizeof(key), "%s/%s", fname, rr->rule->name);
        size_t ng = rr->res.ngroups ? rr->res.ngroups : 1;
        for (size_t g = 0; g < ng; g++) {
            const struct wg_group_result *gr = rr->res.ngroups ? &rr->res.groups[g] : NULL;
            enum wg_verdict vd = gr ? gr->verdict : rr->res.verdict;
            struct wg_alert_eval *ev = ev_new(l, key, cond_of(vd));
            if (!ev) {
                return -1;
            }
            struct wg_alert_labels *ls = &l->ls[l->n - 1], *an = &l->an[l->n - 1];
            const char *an_name = NULL;
            for (size_t k = 0; k < rr->rule->nlabels; k++) {
                if (strcmp(rr->rule->labels[k].key, "runbook_url") == 0) {
                    lset(err, an, "runbook_url", rr->rule->labels[k].value);
                } else {
                    lset(err, ls, rr->rule->labels[k].key, rr->rule->labels[k].value);
                }
                if (strcmp(rr->rule->labels[k].key, "alertname") == 0) {
                    an_name = rr->rule->labels[k].value;
                }
            }
            lset(err, ls, "alertname", an_name ? an_name : rr->rule->name);
            lset(err, ls, "severity", rr->p.severity ? rr->p.severity : "critical");
            base_labels(err, ls, r, rr);
            for (size_t k = 0; gr && k < gr->nlabels; k++) {
                lset(err, ls, gr->labels[k].key, gr->labels[k].value);
            }
            summary(err, an, rr, gr ? gr->has_value : rr->res.has_value,
                    gr ? gr->value : rr->res.value, gr ? gr->reason : rr->res.reason);
            report_url(err, an, link_base, r->wave);
            /* Separate no-data / error alerts (the instance keeps its last state). */
            const struct wg_monitor_rule *mr = wg_alerting_monitor_rule(m, key);
            enum wg_state_map mp =
                vd == WG_NOEVAL ? (mr ? mr->error : m->error) : (mr ? mr->no_data : m->no_data);
            if ((vd == WG_NOEVAL || vd == WG_INCONCLUSIVE) && mp == WG_MAP_SEPARATE && g == 0) {
                struct wg_alert_eval *se = ev_new(l, NULL, WG_COND_BREACH);
                if (!se) {
                    return -1;
                }
                struct wg_alert_labels *sl = &l->ls[l->n - 1], *sa = &l->an[l->n - 1];
                lset(err, sl, "alertname",
                     vd == WG_NOEVAL ? "WavegateRuleError" : "WavegateRuleNoData");
                lset(err, sl, "severity", "warning");
                base_labels(err, sl, r, rr);
                lset(err, sa, "summary", rr->res.reason);
            }
        }
    }
    /* A source whose every rule errored is unreachable: one alert, inhibiting the rest. */
    for (size_t i = 0; i < r->nrules; i++) {
        const char *src = r->rules[i].source;
        int all = src != NULL, first = 1;
        for (size_t k = 0; src && k < r->nrules; k++) {
            if (r->rules[k].source && strcmp(r->rules[k].source, src) == 0) {
                all &= r->rules[k].res.verdict == WG_NOEVAL;
                first &= k >= i;
            }
        }
        if (all && first) {
            if (!ev_new(l, NULL, WG_COND_BREACH)) {
                return -1;
            }
            struct wg_alert_labels *sl = &l->ls[l->n - 1];
            lset(err, sl, "alertname", "WavegateSourceUnreachable");
            lset(err, sl, "severity", "critical");
            lset(err, sl, "source", src);
            base_labels(err, sl, r, NULL);
            lset(err, &l->an[l->n - 1], "summary", r->rules[i].res.reason);
        }
    }
    int pass = r->verdict == WG_PASS || r->verdict == WG_WARN;
    if (r->verdict == WG_FAIL || (pass && m->alert_on_pass)) {
        if (!ev_new(l, NULL, WG_COND_BREACH)) {
            return -1;
        }
        struct wg_alert_labels *sl = &l->ls[l->n - 1];
        lset(err, sl, "alertname", pass ? "WavegateGatePassed" : "WavegateGateFailed");
        lset(err, sl, "severity", pass ? "info" : "critical");
        base_labels(err, sl, r, NULL);
        char *s =
            wg_asprintf("gate %s for wave %s", wg_verdict_name(r->verdict), r->wave ? r->wave : "");
        lset(err, &l->an[l->n - 1], "summary", s ? s : "gate");
        free(s);
    }
    return e == WG_OK ? 0 : -1;
}

enum wg_err wg_gate_observe(struct wg_alerting *a, const struct wg_check_report *r, int64_t now_ns)
{
    return wg_gate_observe_linked(a, r, now_ns, NULL);
}

/* Every instance's report_url from the links (its labels and condition are final here). */
static int link_all(struct evlist *l, const struct wg_gate_links *links)
{
    enum wg_err e = WG_OK;
    for (size_t i = 0; i < l->n; i++) {
        const char *u = links->url(links->ud, l->ls[i].v, l->ls[i].n, (int)l->v[i].cond);
        if (u) {
            lset(&e, &l->an[i], "report_url", u);
        }
    }
    return e == WG_OK ? 0 : -1;
}

enum wg_err wg_gate_observe_linked(struct wg_alerting *a, const struct wg_check_report *r,
                                   int64_t now_ns, const struct wg_gate_links *links)
{
    struct evlist l = {0};
    enum wg_err rc = WG_ENOMEM;
    const struct wg_alert_config *cfg = wg_alerting_config(a);
    if (!r || !listed(cfg->monitor.waves, cfg->monitor.nwaves, r->wave)) {
        return WG_OK;
    }
    if (build(&l, cfg, links ? NULL : cfg->monitor.external_url, r) == 0 &&
        (!links || link_all(&l, links) == 0)) {
        for (size_t i = 0; i < l.n; i++) {
            l.v[i].rule_key = l.keys[i];
            l.v[i].labels = l.ls[i].v;
            l.v[i].nlabels = l.ls[i].n;
            l.v[i].annotations = l.an[i].v;
            l.v[i].nannotations = l.an[i].n;
        }
        rc = wg_alerting_eval(a, r->wave, l.v, l.n, now_ns);
    }
    evlist_clear(&l);
    return rc;
}

enum wg_err wg_gate_alert_event(struct wg_alerting *a, const struct wg_check_report *r,
                                int64_t now_ns)
{
    return wg_gate_alert_event_linked(a, r, now_ns, NULL);
}

enum wg_err wg_gate_alert_event_linked(struct wg_alerting *a, const struct wg_check_report *r,
                                       int64_t now_ns, const char *link)
{
    const struct wg_alert_config *cfg = wg_alerting_config(a);
    struct wg_alert_labels ls = {0}, an = {0};
    struct wg_alert_eval ev = {0};
    enum wg_err rc = WG_ENOMEM;
    char scope[300];
    if (!r || !r->wave) {
        return WG_OK;
    }
    int pass = r->verdict == WG_PASS || r->verdict == WG_WARN;
    int fire = r->verdict == WG_FAIL || (pass && cfg->monitor.alert_on_pass);
    snprintf(scope, sizeof(scope), "request:%s", r->wave);
    if (fire) {
        char *s = wg_asprintf("gate %s for wave %s", wg_verdict_name(r->verdict), r->wave);
        enum wg_err e = WG_OK;
        lset(&e, &ls, "alertname", pass ? "WavegateGatePassed" : "WavegateGateFailed");
        lset(&e, &ls, "severity", pass ? "info" : "critical");
        lset(&e, &ls, "origin", "request");
        lset(&e, &an, "summary", s ? s : "gate");
        base_labels(&e, &ls, r, NULL);
        if (link) {
            lset(&e, &an, "report_url", link); /* the evidence of this very answer */
        } else {
            report_url(&e, &an, cfg->monitor.external_url, r->wave);
        }
        free(s);
        if (!s || e != WG_OK) {
            goto out;
        }
        ev = (struct wg_alert_eval){WG_ALERTING_EVENT_KEY, ls.v, ls.n, an.v, an.n, WG_COND_BREACH};
    }
    /* Every other instance of the scope (the previous verdict's event) counts as OK. */
    rc = wg_alerting_eval(a, scope, &ev, fire ? 1 : 0, now_ns);
out:
    wg_alert_labels_clear(&ls);
    wg_alert_labels_clear(&an);
    return rc;
}
