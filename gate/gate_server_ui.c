/* gate_server_ui.c — the evidence pages of `serve`: `/ui/evaluations/{id}` (one stored
 * evaluation, gate_html.c; its JSON with Accept: application/json), `/ui/analyses/{id}`
 * (every look of an analysis on one time axis) and `/` (gate_server_home.c). HTML with a strict
 * CSP, behind the gate's read token (gate_server.c checks it). Also records each evaluation and
 * builds the links to it (alerts, flips, kill switches).
 */
#include "common/http.h"
#include "config/config_alerting.h"
#include "gate/gate_server_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char CSP[] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

enum MHD_Result wg__ui_reply_html(struct wg_server *s, struct MHD_Connection *c, unsigned status,
                                  const char *html)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(html), (void *)html, MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    wg__metrics_response(&s->m, status);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result wg__ui_reply_page(struct wg_server *s, struct MHD_Connection *c, unsigned status,
                                  struct wg_buf *b)
{
    char *html = wg__html_take(b);
    enum MHD_Result ret =
        html ? wg__ui_reply_html(s, c, status, html) : wg__reply_error(s, c, 500, "out of memory");
    free(html);
    return ret;
}

static enum MHD_Result not_found(struct wg_server *s, struct MHD_Connection *c, const char *what)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    wg__html_head(&b, "not found — wavegate");
    wg__html_adds(&b, "<h1>not found</h1><p>");
    wg__html_esc(&b, what);
    wg__html_adds(&b, "</p><p><a href=\"/\">overview</a></p>");
    wg__html_tail(&b);
    return wg__ui_reply_page(s, c, 404, &b);
}

/* Where links point: server.external_url, else the alerting monitor's (one of them is how
 * people reach this server); NULL: neither (relative links on the pages, none in alerts). */
static const char *link_base(const struct wg_config *cfg)
{
    if (cfg->server.external_url && cfg->server.external_url[0]) {
        return cfg->server.external_url;
    }
    return cfg->alerting && cfg->alerting->monitor.external_url
               ? cfg->alerting->monitor.external_url
               : NULL;
}

/* [{feature, verdict[, target]}] of a report for the overview (a fleet wave's features per
 * target, and each target's own verdict as {target, verdict}), malloc'd; NULL out of memory. */
static char *features_json(const struct wg_check_report *rep)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t f = 0; a && f < rep->nfeatures; f++) {
        const struct wg_feature_report *fr = &rep->features[f];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "feature", fr->feature->name);
        cJSON_AddStringToObject(o, "verdict", wg_verdict_name(fr->verdict));
        if (rep->fleet && fr->target < rep->ntargets && rep->targets[fr->target].name) {
            cJSON_AddStringToObject(o, "target", rep->targets[fr->target].name);
        }
        cJSON_AddItemToArray(a, o);
    }
    for (size_t t = 0; a && rep->fleet && t < rep->ntargets; t++) {
        cJSON *o = cJSON_CreateObject(); /* the target's own verdict: no feature */
        cJSON_AddStringToObject(o, "target", rep->targets[t].name ? rep->targets[t].name : "");
        cJSON_AddStringToObject(o, "verdict", wg_verdict_name(rep->targets[t].verdict));
        cJSON_AddItemToArray(a, o);
    }
    char *out = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return out;
}

char *wg__ui_record(struct wg_server *s, const struct wg_config *cfg, const char *kind,
                    const struct wg_check_report *rep, char *id, size_t idlen)
{
    if (!s || !s->evals || (!id[0] && wg__evals_new_id(id, idlen) != WG_OK)) {
        id[0] = '\0';
        return wg_gate_report_json(rep);
    }
    char *json = wg__gate_report_json_linked(rep, id, link_base(cfg));
    char *feats = features_json(rep);
    struct wg_buf blob;
    wg_buf_init(&blob, 0);
    if (!json || !feats || wg__evals_series_encode(rep, &blob) != WG_OK ||
        wg__evals_put(s->evals, kind, rep->wave, wg_verdict_name(rep->verdict), feats, json, blob.p,
                      blob.len, id, idlen) != WG_OK) {
        /* Not kept: answer without a link rather than with one that leads nowhere. */
        free(json);
        id[0] = '\0';
        json = wg_gate_report_json(rep);
    }
    wg_buf_free(&blob);
    free(feats);
    return json;
}

enum wg_err wg__ui_monitor_record(struct wg_server *s, const struct wg_config *cfg,
                                  const struct wg_check_report *rep, const char *id)
{
    char kept[40];
    snprintf(kept, sizeof(kept), "%s", id);
    free(wg__ui_record(s, cfg, "monitor", rep, kept, sizeof(kept)));
    return kept[0] ? WG_OK : WG_EIO;
}

int wg__ui_link(const struct wg_config *cfg, const char *id, char *out, size_t outlen)
{
    const char *base = link_base(cfg);
    size_t n = base ? strlen(base) : 0;
    while (n > 0 && base[n - 1] == '/') {
        n--; /* "https://wg.example/" joins without a double slash */
    }
    if (!n || !id || !id[0]) {
        return 0;
    }
    int w = snprintf(out, outlen, "%.*s/ui/evaluations/%s", (int)n, base, id);
    return w > 0 && (size_t)w < outlen;
}

char *wg__ui_report_url(const char *json)
{
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "report_url");
    char *url = cJSON_IsString(u) && u->valuestring[0] ? wg_strdup(u->valuestring) : NULL;
    cJSON_Delete(o);
    return url;
}

void wg__ui_flip_link_set(struct wg_server *s, const char *flip_id, const char *link)
{
    char key[80];
    snprintf(key, sizeof(key), "report:%s", flip_id);
    if (s && s->events && link && wg_events_kv_set(s->events, key, link) != WG_OK) {
        wg_log(WG_LOG_WARN, "flip %s: its evidence link is not kept", flip_id);
    }
}

char *wg__ui_flip_link_get(struct wg_server *s, const char *flip_id)
{
    char key[80], *v = NULL;
    snprintf(key, sizeof(key), "report:%s", flip_id);
    if (!s || !s->events || wg_events_kv_get(s->events, key, &v) != WG_OK) {
        return NULL;
    }
    return v;
}

/* ---- / ----------------------------------------------------------------------------------- */

/* ---- /ui/analyses/{id}: every look on one time axis ------------------------------------- */

static int64_t at_ns(const cJSON *m)
{
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(m, "at");
    int64_t ns = 0;
    if (!cJSON_IsString(at) || wg_time_parse(at->valuestring, strlen(at->valuestring), &ns)) {
        return 0;
    }
    return ns;
}

/* One polyline per rule: its value at each look, scaled per rule (0..its max). */
static void looks_chart(struct wg_buf *b, const cJSON *ms)
{
    int64_t t0 = 0, t1 = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, ms)
    {
        int64_t t = at_ns(m);
        t0 = !t0 || t < t0 ? t : t0;
        t1 = t > t1 ? t : t1;
    }
    if (t1 <= t0) {
        t1 = t0 + 1;
    }
    const cJSON *first = cJSON_GetArrayItem(ms, 0);
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(first, "report"), "rules");
    int nr = cJSON_GetArraySize(rules);
    wg__html_addf(b, "<svg id=\"looks\" viewBox=\"0 0 640 %d\" data-t0=\"%lld\" data-t1=\"%lld\">",
                  40 + 50 * nr, (long long)t0, (long long)t1);
    for (int i = 0; i < nr; i++) {
        const cJSON *rr = cJSON_GetArrayItem(rules, i);
        double vmax = 0;
        cJSON_ArrayForEach(m, ms)
        {
            const cJSON *x =
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                                       cJSON_GetObjectItemCaseSensitive(m, "report"), "rules"),
                                   i);
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, "value");
            vmax = cJSON_IsNumber(v) && fabs(v->valuedouble) > vmax ? fabs(v->valuedouble) : vmax;
        }
        int y0 = 20 + 50 * i, y1 = y0 + 40;
        wg__html_addf(b, "<text x=\"2\" y=\"%d\">", y0 + 10);
        wg__html_esc(b, cJSON_GetObjectItemCaseSensitive(rr, "rule")->valuestring);
        wg__html_adds(b, "</text>");
        cJSON_ArrayForEach(m, ms)
        {
            const cJSON *x =
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                                       cJSON_GetObjectItemCaseSensitive(m, "report"), "rules"),
                                   i);
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, "value");
            const cJSON *vd = cJSON_GetObjectItemCaseSensitive(x, "verdict");
            if (!cJSON_IsNumber(v)) {
                continue;
            }
            double px = 120 + (double)(at_ns(m) - t0) * 500 / (double)(t1 - t0);
            double py = y1 - (vmax > 0 ? fabs(v->valuedouble) / vmax : 0) * (y1 - y0);
            int fail = cJSON_IsString(vd) && !strcmp(vd->valuestring, "fail");
            wg__html_addf(b, "<circle class=\"s%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\"><title>%.6g",
                          fail ? " fail" : "", px, py, v->valuedouble);
            wg__html_adds(b, "</title></circle>");
        }
    }
    wg__html_adds(b, "</svg>\n");
}

static enum MHD_Result page_analysis(struct wg_server *s, struct MHD_Connection *c,
                                     struct wg__server_req *r)
{
    char *json = NULL;
    unsigned st = wg__analyses_get(s, r->id, &json);
    cJSON *o = st == 200 && json ? cJSON_Parse(json) : NULL;
    free(json);
    if (!o) {
        return not_found(s, c, "no such analysis");
    }
    struct wg_buf b;
    wg_buf_init(&b, 0);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "verdict");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
    wg__html_head(&b, "analysis — wavegate");
    wg__html_adds(&b, "<header class=\"card\"><h1 id=\"verdict\">");
    wg__html_badge(&b, cJSON_IsString(v) ? v->valuestring : "running");
    wg__html_adds(&b, " analysis ");
    wg__html_esc(&b, r->id);
    wg__html_adds(&b, "</h1><p>");
    wg__html_esc(&b, cJSON_IsString(status) ? status->valuestring : "");
    wg__html_adds(&b, ": ");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(o, "reason");
    wg__html_esc(&b, cJSON_IsString(reason) ? reason->valuestring : "");
    wg__html_adds(&b, "</p></header><section><h2>looks</h2>");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "measurements");
    if (cJSON_GetArraySize(ms) > 0) {
        looks_chart(&b, ms);
    }
    wg__html_adds(&b, "<table><tr><th>look</th><th>at</th><th>verdict</th></tr>\n");
    const cJSON *m;
    cJSON_ArrayForEach(m, ms)
    {
        const cJSON *rep = cJSON_GetObjectItemCaseSensitive(m, "report");
        const cJSON *eid = cJSON_GetObjectItemCaseSensitive(rep, "evaluation_id");
        const cJSON *mv = cJSON_GetObjectItemCaseSensitive(m, "verdict");
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(m, "seq");
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(m, "at");
        wg__html_addf(&b, "<tr><td>%d</td><td>", cJSON_IsNumber(seq) ? seq->valueint : 0);
        if (cJSON_IsString(eid)) {
            wg__html_adds(&b, "<a href=\"/ui/evaluations/");
            wg__html_esc(&b, eid->valuestring);
            wg__html_adds(&b, "\">");
        }
        wg__html_esc(&b, cJSON_IsString(at) ? at->valuestring : "");
        wg__html_adds(&b, cJSON_IsString(eid) ? "</a>" : "");
        wg__html_adds(&b, "</td><td>");
        wg__html_badge(&b, cJSON_IsString(mv) ? mv->valuestring : "error");
        wg__html_adds(&b, "</td></tr>\n");
    }
    wg__html_adds(&b, "</table></section>");
    wg__html_tail(&b);
    cJSON_Delete(o);
    return wg__ui_reply_page(s, c, 200, &b);
}

/* ---- /v1/report/{wave}: the alerts' link, to the wave's latest evaluation -------------- */

static enum MHD_Result report_redirect(struct wg_server *s, struct MHD_Connection *c,
                                       struct wg__server_req *r)
{
    char id[40], loc[80];
    if (wg__evals_latest(s->evals, r->id, id, sizeof(id)) != WG_OK) {
        return wg__reply_error(s, c, 404, "no evaluation of wave %s is kept", r->id);
    }
    snprintf(loc, sizeof(loc), "/ui/evaluations/%s", id);
    static const char body[] = "see the latest evaluation\n";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    wg__metrics_response(&s->m, 303);
    enum MHD_Result ret = MHD_queue_response(c, 303, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

enum MHD_Result wg__ui_dispatch(struct wg_server *s, struct MHD_Connection *c,
                                struct wg__server_req *r)
{
    atomic_fetch_add(&s->m.requests[WG__C_OTHER][WG_FAIL + 1], 1);
    if (r->route == WG__R_UI_HOME) {
        return wg__ui_home(s, c, r);
    }
    if (r->route == WG__R_UI_ANALYSIS) {
        return page_analysis(s, c, r);
    }
    if (!s->evals) {
        return not_found(s, c, "no evaluation store (state_dir): pages are off");
    }
    if (r->route == WG__R_UI_REPORT) {
        return report_redirect(s, c, r);
    }
    const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    int json = acc && strstr(acc, "application/json") && !strstr(acc, "text/html");
    char gone[256];
    long days = (long)(wg__evals_max_age(s->evals) / (86400 * WG_NS_PER_SEC));
    snprintf(gone, sizeof(gone),
             "evaluation %.40s is unknown or expired (kept: the last %ld, for at most %ld%s)",
             r->id, wg__evals_keep(s->evals),
             days ? days : (long)(wg__evals_max_age(s->evals) / WG_NS_PER_SEC), days ? "d" : "s");
    if (json) { /* the report as the gate answered it (scripts, the alert's link) */
        char *doc = NULL;
        void *blob = NULL;
        size_t bl = 0;
        enum wg_err rc = wg__evals_get(s->evals, r->id, &doc, &blob, &bl);
        free(blob);
        enum MHD_Result ret =
            rc == WG_OK          ? wg__reply(s, c, 200, "application/json", doc, strlen(doc))
            : rc == WG_ENOTFOUND ? wg__reply_error(s, c, 404, "%s", gone)
                                 : wg__reply_error(s, c, 500, "evaluation: %s", wg_strerror(rc));
        free(doc);
        return ret;
    }
    char *html = NULL;
    enum wg_err rc = wg__evals_page(s->evals, r->id, &html);
    if (rc == WG_ENOTFOUND) {
        return not_found(s, c, gone);
    }
    if (rc != WG_OK) {
        return wg__reply_error(s, c, 500, "evaluation page: %s", wg_strerror(rc));
    }
    enum MHD_Result ret = wg__ui_reply_html(s, c, 200, html);
    free(html);
    return ret;
}
