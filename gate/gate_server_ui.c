/* gate_server_ui.c — the evidence pages of `serve`: `/` (waves × features with their latest
 * verdicts, running analyses, recent evaluations, firing alerts and silences as the server
 * knows them), `/ui/evaluations/{id}` (one stored evaluation, gate_html.c) and
 * `/ui/analyses/{id}` (every look of an analysis on one time axis). HTML with a strict CSP,
 * behind the gate's read token (gate_server.c checks it). Also records each evaluation.
 */
#include "common/http.h"
#include "config/config_alerting.h"
#include "gate/gate_server_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char CSP[] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

static enum MHD_Result reply_html(struct wg_server *s, struct MHD_Connection *c, unsigned status,
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

static enum MHD_Result not_found(struct wg_server *s, struct MHD_Connection *c, const char *what)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    wg__html_head(&b, "not found — wavegate");
    wg__html_adds(&b, "<h1>not found</h1><p>");
    wg__html_esc(&b, what);
    wg__html_adds(&b, "</p><p><a href=\"/\">overview</a></p>");
    wg__html_tail(&b);
    char *html = wg__html_take(&b);
    enum MHD_Result ret =
        html ? reply_html(s, c, 404, html) : wg__reply_error(s, c, 500, "out of memory");
    free(html);
    return ret;
}

/* A link to an evaluation page given as an absolute report_url: the path from
 * /ui/evaluations/ on (the page works on whichever host it is read); other URLs as they are,
 * http(s) only. "-" when none. */
static void put_link(struct wg_buf *b, const char *url, const char *text)
{
    const char *p = url ? strstr(url, "/ui/evaluations/") : NULL;
    int ok = p || (url && (!strncmp(url, "https://", 8) || !strncmp(url, "http://", 7)));
    if (!ok) {
        wg__html_adds(b, "<span class=\"mut\">-</span>");
        return;
    }
    wg__html_adds(b, "<a href=\"");
    wg__html_esc(b, p ? p : url);
    wg__html_adds(b, "\">");
    wg__html_esc(b, text);
    wg__html_adds(b, "</a>");
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
 * target); "[]" when it does not fit. */
static void features_json(const struct wg_check_report *rep, char *out, size_t len)
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
    if (!a || !cJSON_PrintPreallocated(a, out, (int)len, 0)) {
        snprintf(out, len, "[]");
    }
    cJSON_Delete(a);
}

char *wg__ui_record(struct wg_server *s, const struct wg_config *cfg, const char *kind,
                    const struct wg_check_report *rep, char *id, size_t idlen)
{
    if (!s || !s->evals || (!id[0] && wg__evals_new_id(id, idlen) != WG_OK)) {
        id[0] = '\0';
        return wg_gate_report_json(rep);
    }
    char *json = wg__gate_report_json_linked(rep, id, link_base(cfg));
    char feats[8192];
    features_json(rep, feats, sizeof(feats));
    struct wg_buf blob;
    wg_buf_init(&blob, 0);
    if (!json || wg__evals_series_encode(rep, &blob) != WG_OK ||
        wg__evals_put(s->evals, kind, rep->wave, wg_verdict_name(rep->verdict), feats, json, blob.p,
                      blob.len, id, idlen) != WG_OK) {
        /* Not kept: answer without a link rather than with one that leads nowhere. */
        free(json);
        id[0] = '\0';
        json = wg_gate_report_json(rep);
    }
    wg_buf_free(&blob);
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

static const char *js(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The latest verdict of (wave, target, feature) among the recent evaluations (newest first);
 * target NULL: the wave's own (a wave without targets). */
static const char *latest(cJSON *recent, const char *wave, const char *target, const char *feature,
                          const char **id)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, recent)
    {
        if (!same(js(e, "wave"), wave)) {
            continue;
        }
        const cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(e, "features"))
        {
            if (same(js(f, "feature"), feature) && same(js(f, "target"), target) &&
                js(f, "verdict") && js(e, "id")) {
                *id = js(e, "id");
                return js(f, "verdict");
            }
        }
    }
    return NULL;
}

/* A stored time to the second ("2026-12-01T13:19:49Z"): the pages need no nanoseconds. */
static void put_time(struct wg_buf *b, const char *t)
{
    if (t && strlen(t) > 19 && t[10] == 'T') {
        wg__html_add(b, t, 19);
        wg__html_adds(b, "Z");
    } else {
        wg__html_esc(b, t);
    }
}

/* The wave's latest gate answer or monitor tick (an analysis look may judge a part of its
 * features: the analyses column shows those), or NULL. */
static const cJSON *latest_of_wave(cJSON *recent, const char *wave)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, recent)
    {
        if (same(js(e, "wave"), wave) && js(e, "id") && js(e, "verdict") &&
            !same(js(e, "kind"), "analysis")) {
            return e;
        }
    }
    return NULL;
}

static void link_eval(struct wg_buf *b, const char *id, const char *verdict)
{
    wg__html_adds(b, "<a href=\"/ui/evaluations/");
    wg__html_esc(b, id);
    wg__html_adds(b, "\">");
    wg__html_badge(b, verdict);
    wg__html_adds(b, "</a>");
}

/* The running analyses of a wave, as links (the matrix's last column). */
static void wave_analyses(struct wg_buf *b, const cJSON *running, const char *wave)
{
    const cJSON *a;
    int n = 0;
    cJSON_ArrayForEach(a, running)
    {
        if (!same(js(cJSON_GetObjectItemCaseSensitive(a, "spec"), "wave"), wave)) {
            continue;
        }
        wg__html_adds(b, n++ ? " " : "");
        wg__html_adds(b, "<a class=\"running\" href=\"/ui/analyses/");
        wg__html_esc(b, js(a, "id"));
        wg__html_adds(b, "\">");
        wg__html_badge(b, "running");
        wg__html_adds(b, "</a>");
    }
    if (!n) {
        wg__html_adds(b, "<span class=\"mut\">-</span>");
    }
}

static void matrix_row(struct wg_buf *b, const struct wg_config *cfg, cJSON *recent,
                       const cJSON *running, const struct wg_wave *w, const char *target)
{
    const cJSON *e;
    wg__html_adds(b, "<tr class=\"");
    wg__html_adds(b, target ? "target" : "wave");
    wg__html_adds(b, "\" data-wave=\"");
    wg__html_esc(b, w->name);
    if (target) {
        wg__html_adds(b, "\" data-target=\"");
        wg__html_esc(b, target);
    }
    wg__html_adds(b, "\"><td>");
    wg__html_esc(b, w->name);
    if (target) {
        wg__html_adds(b, " / ");
        wg__html_esc(b, target);
    }
    wg__html_adds(b, "</td><td>");
    const char *vid = NULL, *vv = NULL;
    if (target) {
        vv = latest(recent, w->name, target, NULL, &vid);
    } else if ((e = latest_of_wave(recent, w->name))) {
        vid = js(e, "id");
        vv = js(e, "verdict");
    }
    if (vv) {
        link_eval(b, vid, !strcmp(vv, "warn") ? "pass" : vv);
    } else {
        wg__html_adds(b, "<span class=\"mut\">-</span>");
    }
    wg__html_adds(b, "</td>");
    for (size_t f = 0; f < cfg->nfeatures; f++) {
        const char *id = NULL;
        const char *v = latest(recent, w->name, target, cfg->features[f].name, &id);
        wg__html_adds(b, "<td>");
        if (v) {
            link_eval(b, id, !strcmp(v, "warn") ? "pass" : v);
        } else {
            wg__html_adds(b, "<span class=\"mut\">-</span>");
        }
        wg__html_adds(b, "</td>");
    }
    wg__html_adds(b, "<td>");
    if (!target) {
        wave_analyses(b, running, w->name);
    }
    wg__html_adds(b, "</td></tr>\n");
}

/* waves × features; a fleet wave's row is followed by one row per target. */
static void home_matrix(struct wg_buf *b, const struct wg_config *cfg, cJSON *recent,
                        const cJSON *running)
{
    wg__html_adds(b, "<section id=\"matrix\"><h2>waves × features</h2><div class=\"tw\"><table>"
                     "<tr><th>wave</th><th>latest</th>");
    for (size_t f = 0; f < cfg->nfeatures; f++) {
        wg__html_adds(b, "<th>");
        wg__html_esc(b, cfg->features[f].name);
        wg__html_adds(b, "</th>");
    }
    wg__html_adds(b, "<th>running analyses</th></tr>\n");
    for (size_t w = 0; w < cfg->nwaves; w++) {
        const struct wg_wave *wv = &cfg->waves[w];
        matrix_row(b, cfg, recent, running, wv, NULL);
        for (size_t t = 0; t < wv->ntargets; t++) {
            matrix_row(b, cfg, recent, running, wv, wv->targets[t].name);
        }
    }
    wg__html_adds(b, "</table></div></section>\n");
}

static void home_recent(struct wg_buf *b, cJSON *recent)
{
    wg__html_adds(b, "<section id=\"recent\"><h2>recent evaluations</h2><div class=\"tw\"><table>"
                     "<tr><th>at</th><th>kind</th><th>wave</th><th>verdict</th></tr>\n");
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, recent)
    {
        if (n++ >= 30) {
            break;
        }
        wg__html_adds(b, "<tr><td><a href=\"/ui/evaluations/");
        wg__html_esc(b, js(e, "id"));
        wg__html_adds(b, "\">");
        put_time(b, js(e, "created"));
        wg__html_adds(b, "</a></td><td>");
        wg__html_esc(b, js(e, "kind"));
        wg__html_adds(b, "</td><td>");
        wg__html_esc(b, js(e, "wave"));
        wg__html_adds(b, "</td><td>");
        wg__html_badge(b, js(e, "verdict") ? js(e, "verdict") : "error");
        wg__html_adds(b, "</td></tr>\n");
    }
    wg__html_adds(b, "</table></div></section>\n");
}

/* Running analyses (POST /v1/analyses and bake events) and flag-flip analyses. */
static void home_analyses(struct wg_buf *b, struct wg_server *s, const cJSON *running)
{
    unsigned long long counts[WG_FAIL + 2] = {0};
    wg__analyses_count(s, counts);
    wg__html_addf(b,
                  "<section id=\"analyses\"><h2>analyses</h2><p class=\"mut\">running: %llu; "
                  "decided: pass %llu, warn %llu, inconclusive %llu, error %llu, fail %llu</p>",
                  counts[WG_FAIL + 1], counts[WG_PASS], counts[WG_WARN], counts[WG_INCONCLUSIVE],
                  counts[WG_NOEVAL], counts[WG_FAIL]);
    wg__html_adds(b, "<div class=\"tw\"><table><tr><th>analysis</th><th>wave</th>"
                     "<th>features</th><th>since</th></tr>\n");
    const cJSON *a;
    cJSON_ArrayForEach(a, running)
    {
        const cJSON *spec = cJSON_GetObjectItemCaseSensitive(a, "spec");
        wg__html_adds(b, "<tr class=\"running\"><td><a href=\"/ui/analyses/");
        wg__html_esc(b, js(a, "id"));
        wg__html_adds(b, "\">");
        wg__html_esc(b, js(a, "id"));
        wg__html_adds(b, "</a></td><td>");
        wg__html_esc(b, js(spec, "wave"));
        wg__html_adds(b, "</td><td>");
        const cJSON *f;
        int n = 0;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(spec, "features"))
        {
            wg__html_adds(b, n++ ? ", " : "");
            wg__html_esc(b, cJSON_IsString(f) ? f->valuestring : "");
        }
        wg__html_adds(b, "</td><td>");
        put_time(b, js(a, "created"));
        wg__html_adds(b, "</td></tr>\n");
    }
    /* flag flips being watched (the events store) */
    char *fj = NULL;
    cJSON *fo =
        s->events && wg_events_actions_json(s->events, &fj) == WG_OK ? cJSON_Parse(fj) : NULL;
    free(fj);
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(fo, "flips"))
    {
        if (!same(js(a, "status"), "running") && !js(a, "report_url")) {
            continue;
        }
        wg__html_adds(b, "<tr class=\"flip\"><td>flip ");
        wg__html_esc(b, js(a, "id"));
        wg__html_adds(b, " ");
        wg__html_badge(b, js(a, "status") ? js(a, "status") : "error");
        wg__html_adds(b, "</td><td>");
        wg__html_esc(b, js(a, "env"));
        wg__html_adds(b, "</td><td>");
        wg__html_esc(b, js(a, "feature"));
        wg__html_adds(b, "</td><td>");
        put_link(b, js(a, "report_url"), "evidence");
        wg__html_adds(b, "</td></tr>\n");
    }
    cJSON_Delete(fo);
    wg__html_adds(b, "</table></div></section>\n");
}

/* The last events received (deploys, flag flips). */
static void home_events(struct wg_buf *b, struct wg_server *s)
{
    char *j = NULL, err[256];
    cJSON *evs = s->events && wg_events_list_json(s->events, 20, &j, err, sizeof(err)) == WG_OK
                     ? cJSON_Parse(j)
                     : NULL;
    free(j);
    wg__html_adds(b, "<section id=\"events\"><h2>recent events</h2>");
    if (!s->events) {
        wg__html_adds(b, "<p class=\"mut\">no event store</p></section>\n");
        return;
    }
    wg__html_adds(b, "<div class=\"tw\"><table><tr><th>at</th><th>type</th><th>wave / env</th>"
                     "<th>feature / flag</th><th>source</th></tr>\n");
    const cJSON *e;
    cJSON_ArrayForEach(e, evs)
    {
        wg__html_adds(b, "<tr class=\"event\"><td>");
        put_time(b, js(e, "time"));
        wg__html_adds(b, "</td><td>");
        wg__html_esc(b, js(e, "type"));
        wg__html_adds(b, js(e, "state") ? " " : "");
        wg__html_esc(b, js(e, "state"));
        wg__html_adds(b, js(e, "version") ? " " : "");
        wg__html_esc(b, js(e, "version"));
        wg__html_adds(b, "</td><td>");
        wg__html_esc(b, js(e, "wave"));
        wg__html_adds(b, js(e, "wave") && js(e, "env") ? " / " : "");
        wg__html_esc(b, js(e, "env"));
        wg__html_adds(b, "</td><td>");
        wg__html_esc(b, js(e, "feature"));
        wg__html_adds(b, js(e, "feature") && js(e, "flag") ? " / " : "");
        wg__html_esc(b, js(e, "flag"));
        wg__html_adds(b, "</td><td>");
        wg__html_esc(b, js(e, "source"));
        wg__html_adds(b, "</td></tr>\n");
    }
    cJSON_Delete(evs);
    wg__html_adds(b, "</table></div></section>\n");
}

static void put_kv(struct wg_buf *b, const cJSON *obj, const char *skip)
{
    const cJSON *kv;
    int n = 0;
    cJSON_ArrayForEach(kv, obj)
    {
        if (!cJSON_IsString(kv) || (skip && !strcmp(kv->string, skip))) {
            continue;
        }
        wg__html_adds(b, n++ ? ", " : "");
        wg__html_esc(b, kv->string);
        wg__html_adds(b, "=");
        wg__html_esc(b, kv->valuestring);
    }
}

static void home_alerts(struct wg_buf *b, struct wg_server *s)
{
    char *aj = NULL, *sj = NULL;
    enum wg_err rc = wg__monitor_overview(s, &aj, &sj);
    wg__html_adds(b, "<section id=\"alerts\"><h2>alerts</h2>");
    if (rc != WG_OK) {
        wg__html_adds(b, rc == WG_ENOTFOUND ? "<p class=\"mut\">alerting is off</p></section>\n"
                                            : "<p class=\"mut\">alerting is restarting; "
                                              "reload the page</p></section>\n");
        return;
    }
    cJSON *al = cJSON_Parse(aj), *sl = cJSON_Parse(sj);
    free(aj);
    free(sj);
    wg__html_adds(b, "<div class=\"tw\"><table><tr><th>state</th><th>alert</th><th>labels</th>"
                     "<th>summary</th><th>since</th><th>evidence</th></tr>\n");
    const cJSON *a;
    cJSON_ArrayForEach(a, al)
    {
        const cJSON *lab = cJSON_GetObjectItemCaseSensitive(a, "labels");
        const cJSON *ann = cJSON_GetObjectItemCaseSensitive(a, "annotations");
        int muted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "muted"));
        wg__html_adds(b, "<tr class=\"alert ");
        wg__html_esc(b, js(a, "state"));
        wg__html_adds(b, "\"><td>");
        wg__html_badge(b, same(js(a, "state"), "firing") ? "fail" : "inconclusive");
        wg__html_adds(b, " ");
        wg__html_esc(b, js(a, "state"));
        wg__html_adds(b, muted ? " <span class=\"mut\">(silenced)</span>" : "");
        wg__html_adds(b, "</td><td>");
        wg__html_esc(b, js(lab, "alertname"));
        wg__html_adds(b, "</td><td>");
        put_kv(b, lab, "alertname");
        wg__html_adds(b, "</td><td>");
        wg__html_esc(b, js(ann, "summary"));
        wg__html_adds(b, "</td><td>");
        put_time(b, js(a, "startsAt") ? js(a, "startsAt") : js(a, "activeSince"));
        wg__html_adds(b, "</td><td>");
        put_link(b, js(ann, "report_url"), "evaluation");
        wg__html_adds(b, "</td></tr>\n");
    }
    wg__html_adds(b, "</table></div><h2>silences</h2><div class=\"tw\"><table><tr><th>silence"
                     "</th><th>matchers</th><th>until</th><th>by</th><th>comment</th></tr>\n");
    cJSON_ArrayForEach(a, sl)
    {
        const char *st = js(cJSON_GetObjectItemCaseSensitive(a, "status"), "state");
        if (same(st, "expired")) {
            continue;
        }
        wg__html_adds(b, "<tr class=\"silence\"><td>");
        wg__html_esc(b, js(a, "id"));
        wg__html_adds(b, " ");
        wg__html_esc(b, st);
        wg__html_adds(b, "</td><td>");
        const cJSON *m;
        int n = 0;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(a, "matchers"))
        {
            int re = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "isRegex"));
            int eq = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "isEqual"));
            wg__html_adds(b, n++ ? ", " : "");
            wg__html_esc(b, js(m, "name"));
            wg__html_adds(b, eq ? (re ? "=~" : "=") : (re ? "!~" : "!="));
            wg__html_esc(b, js(m, "value"));
        }
        wg__html_adds(b, "</td><td>");
        put_time(b, js(a, "endsAt"));
        wg__html_adds(b, "</td><td>");
        wg__html_esc(b, js(a, "createdBy"));
        wg__html_adds(b, "</td><td>");
        wg__html_esc(b, js(a, "comment"));
        wg__html_adds(b, "</td></tr>\n");
    }
    wg__html_adds(b, "</table></div></section>\n");
    cJSON_Delete(al);
    cJSON_Delete(sl);
}

static enum MHD_Result page_home(struct wg_server *s, struct MHD_Connection *c,
                                 struct wg__server_req *r)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    cJSON *recent = s->evals ? wg__evals_recent(s->evals, 200) : cJSON_CreateArray();
    cJSON *running = wg__analyses_running(s, 100);
    wg__html_head(&b, "wavegate");
    wg__html_adds(&b, "<h1>wavegate</h1>");
    if (!s->evals) {
        wg__html_adds(&b, "<p class=\"mut\">no evaluation store: pages are off</p>");
    }
    home_matrix(&b, r->gen->cfg, recent, running);
    home_alerts(&b, s);
    home_analyses(&b, s, running);
    home_events(&b, s);
    home_recent(&b, recent);
    wg__html_tail(&b);
    cJSON_Delete(recent);
    cJSON_Delete(running);
    char *html = wg__html_take(&b);
    enum MHD_Result ret =
        html ? reply_html(s, c, 200, html) : wg__reply_error(s, c, 500, "out of memory");
    free(html);
    return ret;
}

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
    char *html = wg__html_take(&b);
    enum MHD_Result ret =
        html ? reply_html(s, c, 200, html) : wg__reply_error(s, c, 500, "out of memory");
    free(html);
    return ret;
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
        return page_home(s, c, r);
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
    enum MHD_Result ret = reply_html(s, c, 200, html);
    free(html);
    return ret;
}
