/* gate_server_looks.c — which look of a deploy's analysis an answer is: the "look" every
 * answer carries and the share of the false-fail budget it spends, the last judged look a
 * counted look spends from, the answer beyond the planned looks (no fresh budget), and
 * /v1/gate answered by an analysis of its deploy. The counting is gate_server_deploys.c's;
 * the evaluation and single flight gate_server_eval.c's; analyses gate_server_analysis.c's.
 */
#include "gate/gate_server_int.h"

#include "common/store.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* ---- the look of an answer ---------------------------------------------------------------- */

/* The look this answer is, first in the body: {"k":0,"of":1,"counted":false} for a question
 * without a deploy identity; a counted look of a deploy (or an analysis' look) with the share
 * of the false-fail budget it spends (rules.h alpha spending: F(k) - F(last judged look)). */
char *wg__looks_annotate(char *json_take, const struct wg__params *p)
{
    if (!json_take || json_take[0] != '{') {
        return json_take;
    }
    struct wg_buf b;
    wg_buf_init(&b, 0);
    if (p->max_looks <= 0) {
        wg_buf_adds(&b, "{\"look\":{\"k\":0,\"of\":1,\"counted\":false}");
    } else {
        int last = p->counted ? p->tested_look : p->look - 1;
        for (size_t i = 0; !p->counted && p->last_tested && i < p->nlast_tested; i++) {
            last = i == 0 || p->last_tested[i] > last ? p->last_tested[i] : last;
        }
        last = last < p->look ? last : p->look - 1;
        double share = wg_rules_alpha_spend_since(1.0, last, p->look, p->max_looks);
        wg_buf_addf(&b,
                    "{\"look\":{\"k\":%d,\"of\":%d,\"counted\":true,\"by\":\"%s\","
                    "\"last_judged\":%d,\"share\":%.6g}",
                    p->look, p->max_looks, p->counted ? "deploy" : "analysis", last, share);
    }
    if (json_take[1] != '}') {
        wg_buf_adds(&b, ",");
    }
    wg_buf_adds(&b, json_take + 1);
    char *out = NULL;
    if (wg_buf_finish(&b, &out) != WG_OK || !out) {
        return json_take; /* out of memory: the answer without its look */
    }
    free(json_take);
    return out;
}

/* A counted look: every rule's last judged look is the deploy's (one for the whole family;
 * a dry-run rule taken as judged then too, which only spends less). Rules of every feature
 * times the targets bound the report's rules. NULL when out of memory: spend as judged at
 * the look before. */
int *wg__looks_last_judged(const struct wg_config *cfg, const struct wg__params *p, size_t *n)
{
    const struct wg_wave *w = p->wave ? wg_config_wave(cfg, p->wave) : NULL;
    size_t nr = 0;
    for (size_t i = 0; i < cfg->nfeatures; i++) {
        nr += cfg->features[i].nrules;
    }
    nr *= w && w->ntargets > 0 ? w->ntargets : 1;
    int *t = calloc(nr ? nr : 1, sizeof(*t));
    for (size_t i = 0; t && i < nr; i++) {
        t[i] = p->tested_look;
    }
    *n = t ? nr : 0;
    return t;
}

/* After a counted look: did a statistical rule judge (spend budget) at it? */
int wg__looks_tested(const struct wg_check_report *rep)
{
    for (size_t i = 0; rep && i < rep->nrules; i++) {
        const struct wg_rule_report *rr = &rep->rules[i];
        enum wg_verdict v = rr->res.verdict;
        if (wg_rules_is_statistical(rr->rule) && !rr->p.dry_run &&
            ((v != WG_INCONCLUSIVE && v != WG_NOEVAL) || rr->res.tested)) {
            return 1;
        }
    }
    return 0;
}

/* The span of the current windows of the rules the question covers (the features asked, else
 * all), as a report's window is (gate_report.c); [anchor, anchor] when none has one. */
static void span_of(const struct wg_config *cfg, const struct wg_wave *w,
                    const struct wg__params *p, int64_t now, int64_t *start, int64_t *end)
{
    int any = 0;
    *start = *end = p->deploy_ns ? p->deploy_ns : now;
    for (size_t f = 0; w && f < cfg->nfeatures; f++) {
        const struct wg_feature *ft = &cfg->features[f];
        int asked = p->nfeatures == 0;
        for (size_t i = 0; i < p->nfeatures; i++) {
            asked |= !strcmp(p->features[i], ft->name);
        }
        for (size_t r = 0; asked && r < ft->nrules; r++) {
            struct wg_rule_params ep;
            struct wg_gate_windows win;
            wg_config_effective(&ft->rules[r], w, &ep);
            if (wg_gate_windows(&ft->rules[r], &ep, p->deploy_ns, now, &win) != WG_OK) {
                continue;
            }
            *start = any && *start < win.start_ns ? *start : win.start_ns;
            *end = any && *end > win.end_ns ? *end : win.end_ns;
            any = 1;
        }
    }
}

/* A look beyond the planned ones spends nothing more: it answers the last planned look's
 * verdict when that one decided (pass, warn, fail), else inconclusive; never a fresh
 * evaluation at a new share of the budget. A complete Report (docs/openapi.yaml): the wave's
 * env, the window its rules judge for this deploy, the features asked with that verdict, and
 * no rules (none was run); tests/replay/openapi.py validates it. */
struct wg__verdict *wg__looks_beyond_answer(const struct wg_config *cfg, const struct wg__params *p)
{
    enum wg_verdict v = WG_INCONCLUSIVE;
    for (int i = 0; i <= WG_FAIL; i++) {
        if (!strcmp(p->final, wg_verdict_name((enum wg_verdict)i)) &&
            (i == WG_PASS || i == WG_WARN || i == WG_FAIL)) {
            v = (enum wg_verdict)i;
        }
    }
    char reason[300];
    snprintf(reason, sizeof(reason),
             "look %d of %d planned for this deploy: its false-fail budget is spent, so this is "
             "the last planned look's verdict (%s), not a new evaluation",
             p->look, p->max_looks, p->final[0] ? p->final : "none recorded");
    const struct wg_wave *w = p->wave ? wg_config_wave(cfg, p->wave) : NULL;
    int64_t start, end;
    span_of(cfg, w, p, wg__server_now(), &start, &end);
    char ts[48], te[48], td[48];
    cJSON *o = cJSON_CreateObject();
    cJSON *wo = cJSON_CreateObject(), *fs = cJSON_CreateArray();
    int ok = o && wo && fs && cJSON_AddItemToObject(o, "window", wo);
    ok = ok && cJSON_AddItemToObject(o, "features", fs);
    if (!ok) {
        cJSON_Delete(wo);
        cJSON_Delete(fs);
    }
    /* warn reads pass at the top, as gate_report.c's top_verdict; warnings counts it */
    const char *top = v == WG_WARN ? "pass" : wg_verdict_name(v);
    ok = ok && cJSON_AddStringToObject(o, "verdict", top) &&
         cJSON_AddStringToObject(o, "wave", p->wave ? p->wave : "") &&
         cJSON_AddStringToObject(o, "env", w && w->env ? w->env : "") &&
         (!p->deploy_ns || cJSON_AddStringToObject(o, "deploy_time",
                                                   wg_time_format(p->deploy_ns, td, sizeof(td)))) &&
         cJSON_AddStringToObject(wo, "start", wg_time_format(start, ts, sizeof(ts))) &&
         cJSON_AddStringToObject(wo, "end", wg_time_format(end, te, sizeof(te))) &&
         cJSON_AddStringToObject(o, "reason", reason) &&
         cJSON_AddNumberToObject(o, "warnings", v == WG_WARN) &&
         cJSON_AddArrayToObject(o, "rules") && cJSON_AddTrueToObject(o, "beyond_looks");
    for (size_t i = 0; ok && i < p->nfeatures; i++) {
        cJSON *f = cJSON_CreateObject();
        ok = f && cJSON_AddItemToArray(fs, f) &&
             cJSON_AddStringToObject(f, "feature", p->features[i]) &&
             cJSON_AddStringToObject(f, "verdict", top);
    }
    char *json = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return json ? wg__verdict_new(WG_OK, v, wg__looks_annotate(json, p)) : NULL;
}

/* ---- /v1/gate reads an analysis of its deploy (gate_server_analysis.c runs it) --------- */

/* 1 when the analysis' spec judges every feature the gate question names. */
static int covers(const char *spec, const struct wg__params *p)
{
    struct wg__params sp = {0};
    char err[256];
    int ok = spec && wg__params_from_json(&sp, spec, strlen(spec), 0, err, sizeof(err)) == WG_OK;
    if (ok && sp.nfeatures > 0) { /* an analysis of every feature covers any question */
        ok = p->nfeatures > 0;
        for (size_t i = 0; ok && i < p->nfeatures; i++) {
            int found = 0;
            for (size_t j = 0; j < sp.nfeatures; j++) {
                found |= !strcmp(p->features[i], sp.features[j]);
            }
            ok = found;
        }
    }
    wg__params_clear(&sp);
    return ok;
}

enum wg_err wg__analyses_for_gate(struct wg_server *s, struct wg__params *p)
{
    if (p->analysis || !p->deploy_id || !p->wave || !s->an) {
        return WG_OK;
    }
    char err[512];
    enum wg_err rc = WG_OK;
    char *key = wg_asprintf("%s\x1f%s", p->wave, p->deploy_id);
    struct wg_sql_q *q = NULL;
    int dberr = 0;
    struct wg_sql *db = wg__analyses_lock(s, &dberr, err, sizeof(err));
    if (dberr) {
        wg_log(WG_LOG_WARN, "analyses: %s", err); /* judged as a gate look instead */
    }
    if (!key) {
        rc = WG_ENOMEM;
    } else if (db) { /* SQLite without a store file: no analysis was ever started */
        q = wg_sql_query(db, "SELECT id, spec FROM analyses WHERE deploy_key=?"
                             " ORDER BY created_ns DESC LIMIT 1");
        wg_sql_bind_text(q, 1, key);
        if (q && wg_sql_step(q) == 1 && wg_sql_col_text(q, 0) && covers(wg_sql_col_text(q, 1), p)) {
            rc = (p->analysis = wg_strdup(wg_sql_col_text(q, 0))) ? WG_OK : WG_ENOMEM;
        }
    }
    wg_sql_end(q);
    wg__analyses_unlock(s);
    free(key);
    return rc;
}

static enum wg_verdict verdict_of(const char *status)
{
    for (int i = 0; status && i <= WG_FAIL; i++) {
        if (!strcmp(status, wg_verdict_name((enum wg_verdict)i))) {
            return (enum wg_verdict)i;
        }
    }
    return WG_INCONCLUSIVE; /* running, or anything unknown: not decided */
}

/* Under wg__analyses_lock, db open: the answer document of analysis id, NULL when there is
 * none. */
static cJSON *gate_doc(struct wg_sql *db, const char *id, const char *wave, enum wg_verdict *v,
                       int *err)
{
    struct wg_sql_q *q = wg_sql_query(db, "SELECT spec, status, reason FROM analyses WHERE id=?");
    struct wg_sql_q *m = wg_sql_query(db, "SELECT seq, verdict, report FROM measurements"
                                          " WHERE id=? ORDER BY seq DESC LIMIT 1");
    cJSON *o = NULL;
    wg_sql_bind_text(q, 1, id);
    wg_sql_bind_text(m, 1, id);
    int st = q && m ? wg_sql_step(q) : -1;
    *err = st < 0;
    if (st != 1) {
        goto out;
    }
    const char *spec = wg_sql_col_text(q, 0), *status = wg_sql_col_text(q, 1);
    const char *why = wg_sql_col_text(q, 2);
    int running = !status || !strcmp(status, "running");
    int count = 0;
    if (wg__analyses_spec_count(spec, wave, &count)) { /* not this wave's question */
        goto out;
    }
    int seq = 0;
    const char *last = "none";
    if (wg_sql_step(m) == 1) {
        seq = (int)wg_sql_col_int64(m, 0);
        last = wg_sql_col_text(m, 1) ? wg_sql_col_text(m, 1) : "none";
        o = wg_sql_col_null(m, 2) ? NULL : cJSON_Parse(wg_sql_col_text(m, 2));
    }
    o = cJSON_IsObject(o) ? o : (cJSON_Delete(o), cJSON_CreateObject());
    *v = running ? WG_INCONCLUSIVE : verdict_of(status);
    char reason[600];
    if (running) {
        snprintf(reason, sizeof(reason),
                 "analysis %s of this deploy is running (look %d of %d, latest: %s): the gate "
                 "answers its decision once it ends",
                 id, seq, count, last);
    } else {
        snprintf(reason, sizeof(reason), "analysis %s of this deploy decided %s: %s", id,
                 status ? status : "-", why ? why : "");
    }
    cJSON *look = cJSON_CreateObject();
    cJSON *an = cJSON_CreateObject();
    if (!o || !look || !an) {
        cJSON_Delete(look);
        cJSON_Delete(an);
        cJSON_Delete(o);
        o = NULL;
        *err = 1;
        goto out;
    }
    cJSON_AddNumberToObject(look, "k", seq);
    cJSON_AddNumberToObject(look, "of", count);
    cJSON_AddTrueToObject(look, "counted");
    cJSON_AddStringToObject(look, "by", "analysis");
    cJSON_AddStringToObject(an, "id", id);
    cJSON_AddStringToObject(an, "status", status ? status : "running");
    char url[80];
    snprintf(url, sizeof(url), "/v1/analyses/%s", id);
    cJSON_AddStringToObject(an, "url", url);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "look");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "verdict");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "reason");
    cJSON_AddItemToObject(o, "look", look);
    cJSON_AddStringToObject(o, "verdict", wg_verdict_name(*v));
    cJSON_AddStringToObject(o, "reason", reason);
    cJSON_AddItemToObject(o, "analysis", an);
out:
    wg_sql_end(q);
    wg_sql_end(m);
    return o;
}

struct wg__verdict *wg__analyses_gate_answer(struct wg_server *s, const struct wg__params *p)
{
    char err[512] = "";
    enum wg_verdict v = WG_NOEVAL;
    int dberr = 0;
    cJSON *o = NULL;
    if (s->an) {
        struct wg_sql *db = wg__analyses_lock(s, &dberr, err, sizeof(err));
        o = db ? gate_doc(db, p->analysis, p->wave, &v, &dberr) : NULL;
        wg__analyses_unlock(s);
    }
    char *json = o ? cJSON_PrintUnformatted(o) : NULL;
    enum wg_err rc = json ? WG_OK : dberr ? WG_EIO : o ? WG_ENOMEM : WG_ENOTFOUND;
    cJSON_Delete(o);
    if (rc == WG_OK) {
        return wg__verdict_new(WG_OK, v, json);
    }
    /* the store down: "could not evaluate" (held), never a verdict */
    cJSON *e = cJSON_CreateObject();
    if (e && cJSON_AddStringToObject(e, "verdict", "error") &&
        cJSON_AddStringToObject(e, "error",
                                rc == WG_ENOTFOUND ? "no such analysis" : "analysis store error")) {
        json = cJSON_PrintUnformatted(e);
    }
    cJSON_Delete(e);
    return wg__verdict_new(rc, WG_NOEVAL, json);
}
