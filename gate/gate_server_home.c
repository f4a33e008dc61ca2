/* gate_server_home.c — the overview page of `serve` (`/`): waves × features (a row per target
 * of a fleet wave) with their latest verdicts and running analyses, the pending and firing
 * alerts with their evidence links, the silences, the analyses (and flag flips) being run,
 * the recent events and evaluations. Every text from the config, the stores or a request is
 * escaped (gate_html.c). Read-only: it reads the stores and alerting, changes nothing.
 */
#include "gate/gate_server_int.h"

#include <stdlib.h>
#include <string.h>

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
    wg__html_a(b, p ? p : url, text);
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
        if (!same(wg__html_jstr(e, "wave"), wave)) {
            continue;
        }
        const cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(e, "features"))
        {
            if (same(wg__html_jstr(f, "feature"), feature) &&
                same(wg__html_jstr(f, "target"), target) && wg__html_jstr(f, "verdict") &&
                wg__html_jstr(e, "id")) {
                *id = wg__html_jstr(e, "id");
                return wg__html_jstr(f, "verdict");
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
        if (same(wg__html_jstr(e, "wave"), wave) && wg__html_jstr(e, "id") &&
            wg__html_jstr(e, "verdict") && !same(wg__html_jstr(e, "kind"), "analysis")) {
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
        if (!same(wg__html_jstr(cJSON_GetObjectItemCaseSensitive(a, "spec"), "wave"), wave)) {
            continue;
        }
        wg__html_adds(b, n++ ? " " : "");
        wg__html_adds(b, "<a class=\"running\" href=\"/ui/analyses/");
        wg__html_esc(b, wg__html_jstr(a, "id"));
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
        vid = wg__html_jstr(e, "id");
        vv = wg__html_jstr(e, "verdict");
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
        wg__html_esc(b, wg__html_jstr(e, "id"));
        wg__html_adds(b, "\">");
        put_time(b, wg__html_jstr(e, "created"));
        wg__html_adds(b, "</a></td><td>");
        wg__html_esc(b, wg__html_jstr(e, "kind"));
        wg__html_cell(b, wg__html_jstr(e, "wave"));
        wg__html_adds(b, "</td><td>");
        wg__html_badge(b, wg__html_jstr(e, "verdict"));
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
        wg__html_esc(b, wg__html_jstr(a, "id"));
        wg__html_adds(b, "\">");
        wg__html_esc(b, wg__html_jstr(a, "id"));
        wg__html_adds(b, "</a></td><td>");
        wg__html_esc(b, wg__html_jstr(spec, "wave"));
        wg__html_adds(b, "</td><td>");
        const cJSON *f;
        int n = 0;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(spec, "features"))
        {
            wg__html_adds(b, n++ ? ", " : "");
            wg__html_esc(b, cJSON_IsString(f) ? f->valuestring : "");
        }
        wg__html_adds(b, "</td><td>");
        put_time(b, wg__html_jstr(a, "created"));
        wg__html_adds(b, "</td></tr>\n");
    }
    /* flag flips being watched (the events store) */
    char *fj = NULL;
    cJSON *fo =
        s->events && wg_events_actions_json(s->events, &fj) == WG_OK ? cJSON_Parse(fj) : NULL;
    free(fj);
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(fo, "flips"))
    {
        if (!same(wg__html_jstr(a, "status"), "running") && !wg__html_jstr(a, "report_url")) {
            continue;
        }
        wg__html_adds(b, "<tr class=\"flip\"><td>flip ");
        wg__html_esc(b, wg__html_jstr(a, "id"));
        wg__html_adds(b, " ");
        wg__html_badge(b, wg__html_jstr(a, "status"));
        wg__html_cell(b, wg__html_jstr(a, "env"));
        wg__html_cell(b, wg__html_jstr(a, "feature"));
        wg__html_adds(b, "</td><td>");
        put_link(b, wg__html_jstr(a, "report_url"), "evidence");
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
        put_time(b, wg__html_jstr(e, "time"));
        wg__html_cell(b, wg__html_jstr(e, "type"));
        wg__html_adds(b, wg__html_jstr(e, "state") ? " " : "");
        wg__html_esc(b, wg__html_jstr(e, "state"));
        wg__html_adds(b, wg__html_jstr(e, "version") ? " " : "");
        wg__html_esc(b, wg__html_jstr(e, "version"));
        wg__html_cell(b, wg__html_jstr(e, "wave"));
        wg__html_adds(b, wg__html_jstr(e, "wave") && wg__html_jstr(e, "env") ? " / " : "");
        wg__html_esc(b, wg__html_jstr(e, "env"));
        wg__html_cell(b, wg__html_jstr(e, "feature"));
        wg__html_adds(b, wg__html_jstr(e, "feature") && wg__html_jstr(e, "flag") ? " / " : "");
        wg__html_esc(b, wg__html_jstr(e, "flag"));
        wg__html_cell(b, wg__html_jstr(e, "source"));
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
        wg__html_esc(b, wg__html_jstr(a, "state"));
        wg__html_adds(b, "\"><td>");
        wg__html_badge(b, same(wg__html_jstr(a, "state"), "firing") ? "fail" : "inconclusive");
        wg__html_adds(b, " ");
        wg__html_esc(b, wg__html_jstr(a, "state"));
        wg__html_adds(b, muted ? " <span class=\"mut\">(silenced)</span>" : "");
        wg__html_cell(b, wg__html_jstr(lab, "alertname"));
        wg__html_adds(b, "</td><td>");
        put_kv(b, lab, "alertname");
        wg__html_cell(b, wg__html_jstr(ann, "summary"));
        wg__html_adds(b, "</td><td>");
        put_time(b, wg__html_jstr(a, "startsAt") ? wg__html_jstr(a, "startsAt")
                                                 : wg__html_jstr(a, "activeSince"));
        wg__html_adds(b, "</td><td>");
        put_link(b, wg__html_jstr(ann, "report_url"), "evaluation");
        wg__html_adds(b, "</td></tr>\n");
    }
    wg__html_adds(b, "</table></div><h2>silences</h2><div class=\"tw\"><table><tr><th>silence"
                     "</th><th>matchers</th><th>until</th><th>by</th><th>comment</th></tr>\n");
    cJSON_ArrayForEach(a, sl)
    {
        const char *st = wg__html_jstr(cJSON_GetObjectItemCaseSensitive(a, "status"), "state");
        if (same(st, "expired")) {
            continue;
        }
        wg__html_adds(b, "<tr class=\"silence\"><td>");
        wg__html_esc(b, wg__html_jstr(a, "id"));
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
            wg__html_esc(b, wg__html_jstr(m, "name"));
            wg__html_adds(b, eq ? (re ? "=~" : "=") : (re ? "!~" : "!="));
            wg__html_esc(b, wg__html_jstr(m, "value"));
        }
        wg__html_adds(b, "</td><td>");
        put_time(b, wg__html_jstr(a, "endsAt"));
        wg__html_cell(b, wg__html_jstr(a, "createdBy"));
        wg__html_cell(b, wg__html_jstr(a, "comment"));
        wg__html_adds(b, "</td></tr>\n");
    }
    wg__html_adds(b, "</table></div></section>\n");
    cJSON_Delete(al);
    cJSON_Delete(sl);
}

enum MHD_Result wg__ui_home(struct wg_server *s, struct MHD_Connection *c, struct wg__server_req *r)
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
    return wg__ui_reply_page(s, c, 200, &b);
}
