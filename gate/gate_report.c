/* gate_report.c — the verdict as `check --format json` (also the body of the HTTP gate) and
 * as a readable text table with a reason per rule, grouped by target for fleet waves (each
 * target's value, verdict and reason). Non-finite numbers become null in JSON.
 */
#include "gate/gate.h"
#include "gate/gate_int.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a JSON writer ------------------------------------------------------------------------
 * The report is written straight into one growing buffer, in exactly the bytes
 * cJSON_PrintUnformatted gives for the same members (its string escapes and number forms, so
 * every consumer and test reads the same answer): a fleet wave's 1,000 rules are ~600 KB,
 * which a cJSON tree built, printed and freed in ~6-17 ms (a node, a key and a value copy per
 * member, ~40,000 allocations), on the path of every gate answer. */

#define JW_DEPTH 16

struct jw {
    struct wg_buf *b;
    unsigned depth;
    unsigned char more[JW_DEPTH]; /* per level: a member written (a comma before the next) */
    /* the last times formatted: a fleet's 1,000 rules share a window, each with its 2 times */
    int64_t time_ns[2];
    char time_s[2][48];
    unsigned time_next;
};

/* the comma and "key": of the next member (k NULL: an array element) */
static void jw_key(struct jw *w, const char *k)
{
    if (w->more[w->depth]) {
        wg_buf_add(w->b, ",", 1);
    }
    w->more[w->depth] = 1;
    if (k) {
        wg_buf_add_json(w->b, k);
        wg_buf_add(w->b, ":", 1);
    }
}

static void jw_open(struct jw *w, const char *k, char c)
{
    jw_key(w, k);
    wg_buf_add(w->b, &c, 1);
    if (w->depth + 1 >= JW_DEPTH) {
        wg_buf_fail(w->b, WG_EINVAL);
        return;
    }
    w->more[++w->depth] = 0;
}

static void jw_close(struct jw *w, char c)
{
    wg_buf_add(w->b, &c, 1);
    if (w->depth > 0) {
        w->depth--;
    }
}

/* a string member; none for a NULL value (as cJSON_AddStringToObject fails on one) */
static void jw_str(struct jw *w, const char *k, const char *v)
{
    if (v) {
        jw_key(w, k);
        wg_buf_add_json(w->b, v);
    }
}

static void jw_lit(struct jw *w, const char *k, const char *lit)
{
    jw_key(w, k);
    wg_buf_adds(w->b, lit);
}

/* a number as cJSON prints it: null when not finite; "%d" when it equals its int (cJSON's
 * valueint, clamped to int's range); else 15 significant digits when they read back as the
 * same double, 17 when not. printf's decimal point is the C locale's: wavegate never calls
 * setlocale (cJSON swaps in '.' for whatever the locale has). */
static void jw_num(struct jw *w, const char *k, double d)
{
    char nb[32];
    jw_key(w, k);
    if (!isfinite(d)) {
        wg_buf_add(w->b, "null", 4);
        return;
    }
    int vi = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
    if (d == (double)vi) {
        char *e = nb + sizeof(nb), *q = e; /* "%d", without printf's machinery */
        unsigned u = vi < 0 ? 0u - (unsigned)vi : (unsigned)vi;
        do {
            *--q = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (vi < 0) {
            *--q = '-';
        }
        wg_buf_add(w->b, q, (size_t)(e - q));
        return;
    }
    snprintf(nb, sizeof(nb), "%1.15g", d);
    double back = strtod(nb, NULL);
    double m = fabs(back) > fabs(d) ? fabs(back) : fabs(d);
    if (!(fabs(back - d) <= m * DBL_EPSILON)) {
        snprintf(nb, sizeof(nb), "%1.17g", d);
    }
    wg_buf_adds(w->b, nb);
}

static void add_num(struct jw *w, const char *k, int has, double v)
{
    if (has && isfinite(v)) {
        jw_num(w, k, v);
    } else {
        jw_lit(w, k, "null");
    }
}

static void add_time(struct jw *w, const char *k, int64_t ns)
{
    for (unsigned i = 0; i < 2; i++) {
        if (w->time_s[i][0] && w->time_ns[i] == ns) {
            jw_str(w, k, w->time_s[i]);
            return;
        }
    }
    unsigned i = w->time_next++ & 1u;
    w->time_ns[i] = ns;
    jw_str(w, k, wg_time_format(ns, w->time_s[i], sizeof(w->time_s[i])));
}

static void labels_json(struct jw *w, const char *k, const struct wg_label *l, size_t n)
{
    jw_open(w, k, '{');
    for (size_t i = 0; i < n; i++) {
        if (l[i].key) { /* a NULL key would read as an array element; cJSON drops it too */
            jw_str(w, l[i].key, l[i].value);
        }
    }
    jw_close(w, '}');
}

static void threshold_json(struct jw *w, const struct wg_rule_params *p)
{
    const struct wg_threshold *t = &p->threshold;
    jw_open(w, "threshold", '{');
    if (t->has_min) {
        jw_num(w, "min", t->min);
    }
    if (t->has_max) {
        jw_num(w, "max", t->max);
    }
    if (t->has_warn_min) {
        jw_num(w, "warn_min", t->warn_min);
    }
    if (t->has_warn_max) {
        jw_num(w, "warn_max", t->warn_max);
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
            jw_str(w, lims[i].k, b);
        } else {
            jw_num(w, lims[i].k, lims[i].l->value);
        }
    }
    jw_close(w, '}');
}

static void rule_json(struct jw *w, const struct wg_check_report *r,
                      const struct wg_rule_report *rr)
{
    const struct wg_rule_result *res = &rr->res;
    jw_open(w, NULL, '{');
    if (r->fleet) {
        jw_str(w, "target", r->targets[rr->target].name);
    }
    jw_str(w, "feature", rr->feature->name);
    jw_str(w, "rule", rr->rule->name);
    jw_str(w, "verdict", wg_verdict_name(res->verdict));
    add_num(w, "value", res->has_value, res->value);
    threshold_json(w, &rr->p);
    jw_num(w, "samples", (double)res->samples);
    jw_str(w, "reason", res->reason);
    if (res->has_baseline || rr->rule->baseline.kind != WG_BASELINE_NONE) {
        add_num(w, "baseline", res->has_baseline, res->baseline);
    }
    jw_str(w, "severity", rr->p.severity ? rr->p.severity : "critical");
    if (res->dry_run || rr->p.dry_run) {
        jw_lit(w, "dry_run", "true");
    }
    if (res->tested) { /* spent false-fail budget at this look (rules.h) */
        jw_lit(w, "tested", "true");
    }
    jw_open(w, "window", '{');
    add_time(w, "start", rr->start_ns);
    add_time(w, "end", rr->end_ns);
    jw_close(w, '}');
    if (rr->has_baseline_window) {
        jw_open(w, "baseline_window", '{');
        add_time(w, "start", rr->baseline_start_ns);
        add_time(w, "end", rr->baseline_end_ns);
        jw_close(w, '}');
    }
    if (res->has_mw) {
        jw_open(w, "mann_whitney", '{');
        add_num(w, "u", 1, res->mw.u);
        add_num(w, "z", 1, res->mw.z);
        add_num(w, "p_value", 1, res->mw.p_value);
        add_num(w, "shift", 1, res->mw.shift);
        add_num(w, "shift_low", 1, res->mw.shift_lo);
        add_num(w, "shift_high", 1, res->mw.shift_hi);
        add_num(w, "mean_ratio", 1, res->mw.ratio);
        jw_num(w, "n_current", (double)res->mw.n_current);
        jw_num(w, "n_baseline", (double)res->mw.n_baseline);
        jw_close(w, '}');
    }
    jw_open(w, "groups", '[');
    for (size_t g = 0; g < res->ngroups; g++) {
        const struct wg_group_result *gr = &res->groups[g];
        jw_open(w, NULL, '{');
        labels_json(w, "labels", gr->labels, gr->nlabels);
        add_num(w, "value", gr->has_value, gr->value);
        if (gr->has_baseline) {
            add_num(w, "baseline", 1, gr->baseline);
        }
        jw_str(w, "verdict", wg_verdict_name(gr->verdict));
        jw_num(w, "samples", (double)gr->samples);
        if (gr->test.tested) { /* the gate's one budget (rules.h wg_rules_family_apply) */
            add_num(w, "p_value", 1, gr->test.p);
        }
        if (gr->test.family) {
            add_num(w, "p_adjusted", 1, gr->test.p_adj);
            add_num(w, "budget", 1, gr->test.level);
            jw_num(w, "family_size", (double)gr->test.family_n);
        }
        if (gr->reason[0]) {
            jw_str(w, "reason", gr->reason);
        }
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_str(w, "query", rr->query);
    jw_str(w, "source", rr->source);
    jw_close(w, '}');
}

/* Per target: its verdict and reason, and each rule's value, verdict and reason. */
static void targets_json(struct jw *w, const struct wg_check_report *r)
{
    jw_open(w, "targets", '[');
    for (size_t t = 0; t < r->ntargets; t++) {
        const struct wg_target_report *tr = &r->targets[t];
        jw_open(w, NULL, '{');
        jw_str(w, "target", tr->name);
        jw_str(w, "env", tr->env ? tr->env : "");
        jw_str(w, "source", tr->source);
        if (tr->target) {
            labels_json(w, "labels", tr->target->labels, tr->target->nlabels);
        }
        if (tr->deploy_ns) {
            add_time(w, "deploy_time", tr->deploy_ns);
        }
        jw_str(w, "verdict", wg_verdict_name(tr->verdict));
        if (tr->reason[0]) {
            jw_str(w, "reason", tr->reason);
        }
        jw_open(w, "rules", '[');
        for (size_t i = 0; i < tr->nrules; i++) {
            const struct wg_rule_report *rr = &r->rules[tr->rule0 + i];
            jw_open(w, NULL, '{');
            jw_str(w, "feature", rr->feature->name);
            jw_str(w, "rule", rr->rule->name);
            jw_str(w, "verdict", wg_verdict_name(rr->res.verdict));
            add_num(w, "value", rr->res.has_value, rr->res.value);
            jw_str(w, "reason", rr->res.reason);
            jw_close(w, '}');
        }
        jw_close(w, ']');
        jw_close(w, '}');
    }
    jw_close(w, ']');
}

/* The top-level verdict speaks the gate's three outcomes plus "error"; warnings pass. */
static const char *top_verdict(enum wg_verdict v)
{
    return v == WG_WARN ? "pass" : wg_verdict_name(v);
}

/* the report's members, its object left open for the caller to add to and close */
static void report_obj(struct jw *w, const struct wg_check_report *r)
{
    size_t warnings = 0;
    for (size_t i = 0; i < r->nrules; i++) {
        warnings += r->rules[i].res.verdict == WG_WARN;
    }
    jw_open(w, NULL, '{');
    jw_str(w, "verdict", top_verdict(r->verdict));
    jw_str(w, "wave", r->wave);
    jw_str(w, "env", r->env);
    if (r->deploy_ns) {
        add_time(w, "deploy_time", r->deploy_ns);
    }
    if (r->nrules) {
        jw_open(w, "window", '{');
        add_time(w, "start", r->start_ns);
        add_time(w, "end", r->end_ns);
        jw_close(w, '}');
    } else {
        jw_lit(w, "window", "null"); /* nothing planned: no 1970 window */
    }
    if (r->reason[0]) {
        jw_str(w, "reason", r->reason);
    }
    jw_num(w, "warnings", (double)warnings);
    if (r->fleet && r->verdict == WG_WARN) {
        jw_str(w, "warning", r->reason); /* e.g. a failure max_failed allows */
    }
    jw_open(w, "features", '[');
    for (size_t f = 0; f < r->nfeatures; f++) {
        jw_open(w, NULL, '{');
        if (r->fleet) {
            jw_str(w, "target", r->targets[r->features[f].target].name);
        }
        jw_str(w, "feature", r->features[f].feature->name);
        jw_str(w, "verdict", top_verdict(r->features[f].verdict));
        if (r->features[f].score_pct >= 0) {
            jw_num(w, "score", r->features[f].score_pct);
        }
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_open(w, "rules", '[');
    for (size_t i = 0; i < r->nrules; i++) {
        rule_json(w, r, &r->rules[i]);
    }
    jw_close(w, ']');
    if (r->fleet) {
        targets_json(w, r);
    }
}

/* the JSON of r, with its evidence page's id and address when id is set; NULL out of memory */
static char *report_json(const struct wg_check_report *r, const char *id, const char *url)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    struct jw w = {.b = &b};
    report_obj(&w, r);
    if (id && id[0]) { /* the evidence page of this answer (gate_server_ui.c) */
        jw_str(&w, "evaluation_id", id);
        jw_str(&w, "report_url", url);
    }
    jw_close(&w, '}');
    char *out = NULL;
    return wg_buf_finish(&b, &out) == WG_OK ? out : NULL;
}

char *wg_gate_report_json(const struct wg_check_report *r)
{
    return report_json(r, NULL, NULL);
}

char *wg__gate_report_json_linked(const struct wg_check_report *r, const char *id,
                                  const char *external_url)
{
    const char *base = external_url ? external_url : "";
    int blen = (int)strlen(base);
    while (blen > 0 && base[blen - 1] == '/') {
        blen--; /* "https://wg.example/" joins without a double slash */
    }
    if (!id || !id[0]) {
        return report_json(r, NULL, NULL);
    }
    char *url = wg_asprintf("%.*s/ui/evaluations/%s", blen, base, id);
    char *s = url ? report_json(r, id, url) : NULL;
    free(url);
    return s;
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
