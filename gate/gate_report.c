/* gate_report.c — the verdict as `check --format json` (also the body of the HTTP gate) and
 * as a readable text table with a reason per rule, grouped by target for fleet waves (each
 * target's value, verdict and reason). Non-finite numbers become null in JSON.
 */
#include "gate/gate.h"
#include "gate/gate_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void add_num(cJSON *o, const char *k, int has, double v)
{
    if (has && isfinite(v)) {
        cJSON_AddNumberToObject(o, k, v);
    } else {
        cJSON_AddNullToObject(o, k);
    }
}

static void add_time(cJSON *o, const char *k, int64_t ns)
{
    char b[48];
    cJSON_AddStringToObject(o, k, wg_time_format(ns, b, sizeof(b)));
}

static cJSON *labels_json(const struct wg_label *l, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < n; i++) {
        cJSON_AddStringToObject(o, l[i].key, l[i].value);
    }
    return o;
}

static cJSON *threshold_json(const struct wg_rule_params *p)
{
    const struct wg_threshold *t = &p->threshold;
    cJSON *o = cJSON_CreateObject();
    if (t->has_min) {
        cJSON_AddNumberToObject(o, "min", t->min);
    }
    if (t->has_max) {
        cJSON_AddNumberToObject(o, "max", t->max);
    }
    if (t->has_warn_min) {
        cJSON_AddNumberToObject(o, "warn_min", t->warn_min);
    }
    if (t->has_warn_max) {
        cJSON_AddNumberToObject(o, "warn_max", t->warn_max);
    }
    const struct {
        const char *k;
        const struct wg_limit *l;
    } lims[] = {{"max_increase", &p->max_increase},
                {"max_decrease", &p->max_decrease},
                {"allowed_increase", &p->allowed_increase},
                {"allowed_decrease", &p->allowed_decrease}};
    for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
        if (!lims[i].l->set) {
            continue;
        }
        if (lims[i].l->percent) {
            char b[64];
            snprintf(b, sizeof(b), "%g%%", lims[i].l->value);
            cJSON_AddStringToObject(o, lims[i].k, b);
        } else {
            cJSON_AddNumberToObject(o, lims[i].k, lims[i].l->value);
        }
    }
    return o;
}

static cJSON *rule_json(const struct wg_check_report *r, const struct wg_rule_report *rr)
{
    const struct wg_rule_result *res = &rr->res;
    cJSON *o = cJSON_CreateObject();
    if (r->fleet) {
        cJSON_AddStringToObject(o, "target", r->targets[rr->target].name);
    }
    cJSON_AddStringToObject(o, "feature", rr->feature->name);
    cJSON_AddStringToObject(o, "rule", rr->rule->name);
    cJSON_AddStringToObject(o, "verdict", wg_verdict_name(res->verdict));
    add_num(o, "value", res->has_value, res->value);
    cJSON_AddItemToObject(o, "threshold", threshold_json(&rr->p));
    cJSON_AddNumberToObject(o, "samples", (double)res->samples);
    cJSON_AddStringToObject(o, "reason", res->reason);
    if (res->has_baseline || rr->rule->baseline.kind != WG_BASELINE_NONE) {
        add_num(o, "baseline", res->has_baseline, res->baseline);
    }
    cJSON_AddStringToObject(o, "severity", rr->p.severity ? rr->p.severity : "critical");
    if (res->dry_run || rr->p.dry_run) {
        cJSON_AddTrueToObject(o, "dry_run");
    }
    if (res->tested) { /* spent false-fail budget at this look (rules.h) */
        cJSON_AddTrueToObject(o, "tested");
    }
    cJSON *win = cJSON_AddObjectToObject(o, "window");
    add_time(win, "start", rr->start_ns);
    add_time(win, "end", rr->end_ns);
    if (rr->has_baseline_window) {
        cJSON *bw = cJSON_AddObjectToObject(o, "baseline_window");
        add_time(bw, "start", rr->baseline_start_ns);
        add_time(bw, "end", rr->baseline_end_ns);
    }
    if (res->has_mw) {
        cJSON *mw = cJSON_AddObjectToObject(o, "mann_whitney");
        add_num(mw, "u", 1, res->mw.u);
        add_num(mw, "z", 1, res->mw.z);
        add_num(mw, "p_value", 1, res->mw.p_value);
        add_num(mw, "shift", 1, res->mw.shift);
        add_num(mw, "shift_low", 1, res->mw.shift_lo);
        add_num(mw, "shift_high", 1, res->mw.shift_hi);
        add_num(mw, "mean_ratio", 1, res->mw.ratio);
        cJSON_AddNumberToObject(mw, "n_current", (double)res->mw.n_current);
        cJSON_AddNumberToObject(mw, "n_baseline", (double)res->mw.n_baseline);
    }
    cJSON *groups = cJSON_AddArrayToObject(o, "groups");
    for (size_t g = 0; g < res->ngroups; g++) {
        const struct wg_group_result *gr = &res->groups[g];
        cJSON *go = cJSON_CreateObject();
        cJSON_AddItemToObject(go, "labels", labels_json(gr->labels, gr->nlabels));
        add_num(go, "value", gr->has_value, gr->value);
        if (gr->has_baseline) {
            add_num(go, "baseline", 1, gr->baseline);
        }
        cJSON_AddStringToObject(go, "verdict", wg_verdict_name(gr->verdict));
        cJSON_AddNumberToObject(go, "samples", (double)gr->samples);
        if (gr->test.tested) { /* the gate's one budget (rules.h wg_rules_family_apply) */
            add_num(go, "p_value", 1, gr->test.p);
        }
        if (gr->test.family) {
            add_num(go, "p_adjusted", 1, gr->test.p_adj);
            add_num(go, "budget", 1, gr->test.level);
            cJSON_AddNumberToObject(go, "family_size", (double)gr->test.family_n);
        }
        if (gr->reason[0]) {
            cJSON_AddStringToObject(go, "reason", gr->reason);
        }
        cJSON_AddItemToArray(groups, go);
    }
    if (rr->query) {
        cJSON_AddStringToObject(o, "query", rr->query);
    }
    if (rr->source) {
        cJSON_AddStringToObject(o, "source", rr->source);
    }
    return o;
}

/* Per target: its verdict and reason, and each rule's value, verdict and reason. */
static cJSON *targets_json(const struct wg_check_report *r)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t t = 0; a && t < r->ntargets; t++) {
        const struct wg_target_report *tr = &r->targets[t];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "target", tr->name);
        cJSON_AddStringToObject(o, "env", tr->env ? tr->env : "");
        if (tr->source) {
            cJSON_AddStringToObject(o, "source", tr->source);
        }
        if (tr->target) {
            cJSON_AddItemToObject(o, "labels",
                                  labels_json(tr->target->labels, tr->target->nlabels));
        }
        if (tr->deploy_ns) {
            add_time(o, "deploy_time", tr->deploy_ns);
        }
        cJSON_AddStringToObject(o, "verdict", wg_verdict_name(tr->verdict));
        if (tr->reason[0]) {
            cJSON_AddStringToObject(o, "reason", tr->reason);
        }
        cJSON *rules = cJSON_AddArrayToObject(o, "rules");
        for (size_t i = 0; i < tr->nrules; i++) {
            const struct wg_rule_report *rr = &r->rules[tr->rule0 + i];
            cJSON *ro = cJSON_CreateObject();
            cJSON_AddStringToObject(ro, "feature", rr->feature->name);
            cJSON_AddStringToObject(ro, "rule", rr->rule->name);
            cJSON_AddStringToObject(ro, "verdict", wg_verdict_name(rr->res.verdict));
            add_num(ro, "value", rr->res.has_value, rr->res.value);
            cJSON_AddStringToObject(ro, "reason", rr->res.reason);
            cJSON_AddItemToArray(rules, ro);
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* The top-level verdict speaks the gate's three outcomes plus "error"; warnings pass. */
static const char *top_verdict(enum wg_verdict v)
{
    return v == WG_WARN ? "pass" : wg_verdict_name(v);
}

static cJSON *report_obj(const struct wg_check_report *r);

char *wg_gate_report_json(const struct wg_check_report *r)
{
    cJSON *o = report_obj(r);
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

char *wg__gate_report_json_linked(const struct wg_check_report *r, const char *id,
                                  const char *external_url)
{
    cJSON *o = report_obj(r);
    const char *base = external_url ? external_url : "";
    int blen = (int)strlen(base);
    while (blen > 0 && base[blen - 1] == '/') {
        blen--; /* "https://wg.example/" joins without a double slash */
    }
    char *url = id && id[0] ? wg_asprintf("%.*s/ui/evaluations/%s", blen, base, id) : NULL;
    if (o && url) { /* the evidence page of this answer (gate_server_ui.c) */
        cJSON_AddStringToObject(o, "evaluation_id", id);
        cJSON_AddStringToObject(o, "report_url", url);
    }
    char *s = o && (url || !id || !id[0]) ? cJSON_PrintUnformatted(o) : NULL;
    free(url);
    cJSON_Delete(o);
    return s;
}

static cJSON *report_obj(const struct wg_check_report *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    size_t warnings = 0;
    for (size_t i = 0; i < r->nrules; i++) {
        warnings += r->rules[i].res.verdict == WG_WARN;
    }
    cJSON_AddStringToObject(o, "verdict", top_verdict(r->verdict));
    cJSON_AddStringToObject(o, "wave", r->wave);
    cJSON_AddStringToObject(o, "env", r->env);
    if (r->deploy_ns) {
        add_time(o, "deploy_time", r->deploy_ns);
    }
    if (r->nrules) {
        cJSON *win = cJSON_AddObjectToObject(o, "window");
        add_time(win, "start", r->start_ns);
        add_time(win, "end", r->end_ns);
    } else {
        cJSON_AddNullToObject(o, "window"); /* nothing planned: no 1970 window */
    }
    if (r->reason[0]) {
        cJSON_AddStringToObject(o, "reason", r->reason);
    }
    cJSON_AddNumberToObject(o, "warnings", (double)warnings);
    if (r->fleet && r->verdict == WG_WARN) {
        cJSON_AddStringToObject(o, "warning", r->reason); /* e.g. a failure max_failed allows */
    }
    cJSON *feats = cJSON_AddArrayToObject(o, "features");
    for (size_t f = 0; f < r->nfeatures; f++) {
        cJSON *fo = cJSON_CreateObject();
        if (r->fleet) {
            cJSON_AddStringToObject(fo, "target", r->targets[r->features[f].target].name);
        }
        cJSON_AddStringToObject(fo, "feature", r->features[f].feature->name);
        cJSON_AddStringToObject(fo, "verdict", top_verdict(r->features[f].verdict));
        if (r->features[f].score_pct >= 0) {
            cJSON_AddNumberToObject(fo, "score", r->features[f].score_pct);
        }
        cJSON_AddItemToArray(feats, fo);
    }
    cJSON *rules = cJSON_AddArrayToObject(o, "rules");
    for (size_t i = 0; i < r->nrules; i++) {
        cJSON_AddItemToArray(rules, rule_json(r, &r->rules[i]));
    }
    if (r->fleet) {
        cJSON_AddItemToObject(o, "targets", targets_json(r));
    }
    return o;
}

static void fmt_value(char *b, size_t n, int has, double v)
{
    if (!has) {
        snprintf(b, n, "-");
    } else {
        snprintf(b, n, "%.6g", v);
    }
}

static const char *upper(enum wg_verdict v)
{
    static const char *const names[] = {"PASS", "WARN", "INCONCLUSIVE", "ERROR", "FAIL"};
    return names[v];
}

void wg_gate_report_text(const struct wg_check_report *r, FILE *f)
{
    char s[48], e[48];
    if (r->nrules) {
        fprintf(f, "wave %s (env %s), window %s .. %s\n", r->wave, r->env,
                wg_time_format(r->start_ns, s, sizeof(s)), wg_time_format(r->end_ns, e, sizeof(e)));
    } else {
        fprintf(f, "wave %s (env %s), no rules planned\n", r->wave, r->env);
    }
    size_t wf = 7, wr = 4;
    for (size_t i = 0; i < r->nrules; i++) {
        size_t a = strlen(r->rules[i].feature->name), b = strlen(r->rules[i].rule->name);
        wf = a > wf ? a : wf;
        wr = b > wr ? b : wr;
    }
    if (r->nrules) {
        fprintf(f, "\n%-12s  %-*s  %-*s  %12s  %7s  %s\n", "VERDICT", (int)wf, "FEATURE", (int)wr,
                "RULE", "VALUE", "SAMPLES", "REASON");
    }
    for (size_t i = 0; i < r->nrules; i++) {
        const struct wg_rule_report *rr = &r->rules[i];
        const struct wg_target_report *tr = r->fleet ? &r->targets[rr->target] : NULL;
        if (tr && i == tr->rule0) { /* rules are grouped by target */
            fprintf(f, "%starget %s (env %s, source %s): %s%s%s\n", i ? "\n" : "", tr->name,
                    tr->env ? tr->env : "", tr->source ? tr->source : "-", upper(tr->verdict),
                    tr->reason[0] ? " - " : "", tr->reason);
        }
        char val[32];
        fmt_value(val, sizeof(val), rr->res.has_value, rr->res.value);
        fprintf(f, "%-12s  %-*s  %-*s  %12s  %7zu  %s%s\n", upper(rr->res.verdict), (int)wf,
                rr->feature->name, (int)wr, rr->rule->name, val, rr->res.samples,
                rr->p.dry_run ? "[dry-run] " : "", rr->res.reason);
        if (rr->res.ngroups > 1) {
            for (size_t g = 0; g < rr->res.ngroups; g++) {
                const struct wg_group_result *gr = &rr->res.groups[g];
                char lb[256] = "";
                size_t len = 0;
                for (size_t k = 0; k < gr->nlabels && len < sizeof(lb); k++) {
                    int w = snprintf(lb + len, sizeof(lb) - len, "%s%s=%s", k ? "," : "",
                                     gr->labels[k].key, gr->labels[k].value);
                    len += w > 0 ? (size_t)w : 0;
                }
                fmt_value(val, sizeof(val), gr->has_value, gr->value);
                fprintf(f, "%-12s  %-*s    {%s} %s (%zu samples)\n", "", (int)wf, "", lb, val,
                        gr->samples);
            }
        }
    }
    fprintf(f, "\n");
    for (size_t i = 0; i < r->nfeatures; i++) {
        const struct wg_feature_report *fr = &r->features[i];
        if (fr->score_pct >= 0) {
            fprintf(f, "feature %s: %s (score %.1f%%)\n", fr->feature->name, upper(fr->verdict),
                    fr->score_pct);
        }
    }
    for (size_t t = 0; r->fleet && r->nrules == 0 && t < r->ntargets; t++) {
        fprintf(f, "target %s: %s\n", r->targets[t].name, upper(r->targets[t].verdict));
    }
    if (r->reason[0]) {
        fprintf(f, "reason: %s\n", r->reason);
    }
    fprintf(f, "verdict: %s\n", upper(r->verdict == WG_WARN ? WG_PASS : r->verdict));
}
