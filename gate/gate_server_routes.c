/* gate_server_routes.c — the answers of `serve` in each consumer's dialect: /v1/gate in body
 * mode (Argo Rollouts web provider) or status mode (Argo Workflows, CI, Argo CD hooks), the
 * Flagger webhooks with their exact success rules, analyses, health, readiness and metrics.
 * The status tables below are the contract; tests/integration/test_serve_modes.sh pins them.
 */
#include "alerting/alerting.h"
#include "common/http.h"
#include "gate/gate_server_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum MHD_Result wg__reply(struct wg_server *s, struct MHD_Connection *c, unsigned status,
                          const char *ctype, const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == 503) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "10");
    }
    wg__metrics_response(&s->m, status);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result wg__reply_error(struct wg_server *s, struct MHD_Connection *c, unsigned status,
                                const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct wg_buf b;
    wg_buf_init(&b, 4096);
    wg_buf_adds(&b, "{\"verdict\":\"error\",\"error\":\"");
    wg_buf_add_json_chars(&b, msg);
    wg_buf_adds(&b, "\"}");
    if (status == 400) {
        atomic_fetch_add(&s->m.errors[WG__E_BAD_REQUEST], 1);
    } else if (status == 404) {
        atomic_fetch_add(&s->m.errors[WG__E_NOT_FOUND], 1);
    } else if (status >= 500) {
        atomic_fetch_add(&s->m.errors[WG__E_INTERNAL], 1);
    }
    enum MHD_Result ret =
        wg__reply(s, c, status, "application/json", b.p ? b.p : "{}", b.p ? b.len : 2);
    wg_buf_free(&b);
    return ret;
}

/* ---- the status tables ---------------------------------------------------------------------- */

/* /v1/gate: body mode answers 200 for every computed verdict (Argo Rollouts reads the body and
 * treats non-2xx as a measurement error); status mode is the verdict. warn counts as pass. */
static unsigned gate_status(int mode_status, enum wg_verdict v)
{
    if (!mode_status) {
        /* Body mode answers 200 for "could not evaluate" too: Argo's conditions turn the
         * "error" verdict into Inconclusive (hold), where a 503 would be a measurement Error
         * retried every 10 s and, after consecutiveErrorLimit, an abort. */
        return 200;
    }
    if (v == WG_NOEVAL) {
        return 503;
    }
    switch (v) {
    case WG_PASS:
    case WG_WARN:
        return 200;
    case WG_FAIL:
        return 412;
    default:
        return 409;
    }
}

/* Flagger: success is exactly 200 (it treats 203-299 as failures) and a "no" is 4xx so that
 * go-retryablehttp does not retry it; the per-hook table with per-canary state is
 * wg__flagger_status (gate_server_deploys.c). */

static int consumer_of(const struct wg__server_req *r)
{
    if (r->route == WG__R_FLAGGER) {
        return WG__C_FLAGGER + (int)r->hook;
    }
    if (r->route == WG__R_GATE) {
        return r->p.mode_status ? WG__C_GATE_STATUS : WG__C_GATE_BODY;
    }
    return WG__C_OTHER;
}

static enum MHD_Result answer_verdict(struct wg_server *s, struct MHD_Connection *c,
                                      struct wg__server_req *r)
{
    struct wg__verdict *v = r->v;
    if (!v) {
        return wg__reply_error(s, c, 500, "out of memory");
    }
    unsigned st;
    if (v->err == WG_ENOTFOUND) {
        st = 404;
        atomic_fetch_add(&s->m.errors[WG__E_NOT_FOUND], 1);
    } else if (r->route == WG__R_FLAGGER) {
        st = wg__flagger_status(s, r, v);
    } else {
        st = gate_status(r->p.mode_status, v->verdict);
    }
    atomic_fetch_add(
        &s->m.requests[consumer_of(r)][v->err == WG_OK ? (int)v->verdict : WG_FAIL + 1], 1);
    wg__metrics_response(&s->m, st);
    return MHD_queue_response(c, st, v->resp);
}

/* /v1/gate and /v1/flagger/{hook}: parse, authenticate (Flagger), then cache/flight. */
static enum MHD_Result gate_route(struct wg_server *s, struct MHD_Connection *c,
                                  struct wg__server_req *r)
{
    char err[512] = "";
    int flagger = r->route == WG__R_FLAGGER;
    if (r->suspended == 2) {
        return answer_verdict(s, c, r);
    }
    enum wg_err rc = WG_OK;
    if (r->method_post && r->body.len > 0) {
        rc = wg__params_from_json(&r->p, r->body.p, r->body.len, flagger, err, sizeof(err));
    } else if (flagger) {
        rc = WG_EINVAL;
        snprintf(err, sizeof(err), "want Flagger's JSON payload");
    }
    if (rc == WG_OK) {
        rc = wg__params_from_query(&r->p, c, err, sizeof(err)); /* the URL wins */
    }
    if (flagger && r->gen->has_token && !r->header_authed) {
        /* metadata.token: the read token is enough (admin works too) */
        if (!r->p.token ||
            wg__server_token_ok(r->gen, r->p.token, strlen(r->p.token)) < WG__ROLE_READ) {
            static const char body[] = "{\"verdict\":\"error\",\"error\":\"unauthorized: "
                                       "metadata.token missing or wrong\"}";
            atomic_fetch_add(&s->m.errors[WG__E_UNAUTHORIZED], 1);
            return wg__reply(s, c, 401, "application/json", body, sizeof(body) - 1);
        }
    }
    if (rc == WG_ENOMEM) {
        return wg__reply_error(s, c, 500, "out of memory");
    }
    if (rc != WG_OK) {
        return wg__reply_error(s, c, 400, "%s", err);
    }
    if (flagger && (r->hook == WG__H_POST_ROLLOUT || r->hook == WG__H_EVENT)) {
        /* Informational: Flagger does not act on the answer. */
        wg_log(WG_LOG_INFO, "flagger %s: wave %s", wg__hook_names[r->hook],
               r->p.wave ? r->p.wave : "-");
        atomic_fetch_add(&s->m.requests[consumer_of(r)][WG_FAIL + 1], 1);
        static const char ok[] = "{\"ok\":true}";
        return wg__reply(s, c, 200, "application/json", ok, sizeof(ok) - 1);
    }
    if (!r->p.wave) {
        return wg__reply_error(s, c, 400, "wave: required (query string%s)",
                               flagger ? " or metadata.wave" : " or JSON body");
    }
    if (flagger && wg__deploys_flagger_payload(&r->p, r->body.p, r->body.len) != WG_OK) {
        return wg__reply_error(s, c, 500, "out of memory");
    }
    unsigned short_st = 0;
    if (flagger && wg__flagger_short_circuit(s, r, &short_st)) {
        atomic_fetch_add(&s->m.requests[consumer_of(r)][WG_FAIL + 1], 1);
        static const char no[] =
            "{\"verdict\":\"none\",\"reason\":\"no traffic on the canary yet\"}";
        return wg__reply(s, c, short_st, "application/json", no, sizeof(no) - 1);
    }
    if (wg__deploys_resolve(s, r, err, sizeof(err)) != WG_OK) {
        return wg__reply_error(s, c, 503, "%s", err);
    }
    struct wg__verdict *v = NULL;
    rc = wg__server_lookup(s, c, r, &v);
    if (rc == WG_ETOOBIG) {
        atomic_fetch_add(&s->m.errors[WG__E_OVERLOAD], 1);
        return wg__reply_error(s, c, 503, "too many evaluations in flight");
    }
    if (rc != WG_OK) {
        return wg__reply_error(s, c, 500, "%s", wg_strerror(rc));
    }
    if (!v) {
        return MHD_YES; /* suspended until the flight lands */
    }
    r->v = v;
    return answer_verdict(s, c, r);
}

/* ---- readiness ------------------------------------------------------------------------------ */

/* Every source answers /ping (InfluxDB 1.x, 2.x and 3.x do) within a second, all asked at
 * once through the common HTTP layer (the sources' TLS settings apply). Cached 5 s. */
int wg__server_ready(struct wg_server *s, char *why, size_t whylen)
{
    int64_t now = wg_mono_ns();
    pthread_mutex_lock(&s->ready_mu);
    if (s->ready_at && now - s->ready_at < 5 * WG_NS_PER_SEC) {
        int ok = s->ready_ok;
        snprintf(why, whylen, "%s", s->ready_why);
        pthread_mutex_unlock(&s->ready_mu);
        return ok;
    }
    struct wg__cfgref *g = wg__server_gen_get(s);
    size_t n = g->cfg->nsources;
    int ok = 1;
    char msg[256] = "config loaded; sources reachable";
    struct wg_http_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
    char **urls = calloc(n ? n : 1, sizeof(*urls));
    struct wg_http *h = wg_http_new();
    for (size_t i = 0; jobs && urls && i < n; i++) {
        const struct wg_source *src = &g->cfg->sources[i];
        urls[i] = wg_asprintf("%s/ping", src->url);
        jobs[i].url = urls[i] ? urls[i] : "";
        jobs[i].timeout_ns = WG_NS_PER_SEC;
        jobs[i].connect_timeout_ns = WG_NS_PER_SEC;
        jobs[i].max_bytes = 64 * 1024;
        jobs[i].keep_bytes = 1024;
        jobs[i].tls.ca_file = src->tls.ca_file;
        jobs[i].tls.cert_file = src->tls.cert_file;
        jobs[i].tls.key_file = src->tls.key_file;
        jobs[i].tls.insecure = src->tls.insecure_skip_verify;
    }
    if (!jobs || !urls || !h || (n && wg_http_run(h, jobs, n, NULL) != WG_OK)) {
        ok = 0;
        snprintf(msg, sizeof(msg), "cannot check the sources: out of memory");
    }
    for (size_t i = 0; ok && i < n; i++) {
        /* 401/403 still proves the server is up (the token is a query-time concern). */
        const struct wg_http_job *j = &jobs[i];
        if (j->err != WG_OK && !(j->err == WG_EHTTP && j->status > 0 && j->status < 500)) {
            ok = 0;
            snprintf(msg, sizeof(msg), "source %s unreachable: %s", g->cfg->sources[i].name,
                     j->errmsg[0] ? j->errmsg : wg_strerror(j->err));
        }
    }
    for (size_t i = 0; jobs && i < n; i++) {
        wg_http_job_clear(&jobs[i]);
        free(urls ? urls[i] : NULL);
    }
    free(jobs);
    free(urls);
    wg_http_free(h);
    wg__server_gen_put(g);
    s->ready_at = wg_mono_ns();
    s->ready_ok = ok;
    snprintf(s->ready_why, sizeof(s->ready_why), "%s", msg);
    snprintf(why, whylen, "%s", msg);
    pthread_mutex_unlock(&s->ready_mu);
    return ok;
}

/* ---- who may ask what ------------------------------------------------------------------------ */

/* The role each route needs (docs/openapi.yaml `security`, docs/pipelines.md "Tokens"). Read:
 * what a pipeline or a person looking needs (gate answers, Flagger hooks, bake analyses, lists,
 * pages). Admin: what changes what others see or starts actions (silences, events: an event
 * can start a bake analysis whose kill switches flip flags). One row per route; a route not
 * listed needs admin (fail closed). */
static const struct {
    enum wg__route route;
    int get, post;  /* role for GET/HEAD, for POST/DELETE */
    int body_token; /* metadata.token / a sender's signature may stand in for the header */
    int pages;      /* a browser page: Basic accepted */
} route_roles[] = {
    {WG__R_GATE, WG__ROLE_READ, WG__ROLE_READ, 0, 0},
    {WG__R_FLAGGER, WG__ROLE_READ, WG__ROLE_READ, 1, 0},
    {WG__R_ANALYSES, WG__ROLE_READ, WG__ROLE_READ, 0, 0}, /* evaluates only, acts on nothing */
    {WG__R_ANALYSIS, WG__ROLE_READ, WG__ROLE_READ, 0, 0},
    {WG__R_SILENCES, WG__ROLE_READ, WG__ROLE_ADMIN, 0, 0},
    {WG__R_SILENCE, WG__ROLE_ADMIN, WG__ROLE_ADMIN, 0, 0},
    {WG__R_EVENTS, WG__ROLE_READ, WG__ROLE_ADMIN, 0, 0},
    {WG__R_EVENTS_ADAPTER, WG__ROLE_READ, WG__ROLE_ADMIN, 1, 0},
    {WG__R_UI_HOME, WG__ROLE_READ, WG__ROLE_READ, 0, 1},
    {WG__R_UI_EVAL, WG__ROLE_READ, WG__ROLE_READ, 0, 1},
    {WG__R_UI_ANALYSIS, WG__ROLE_READ, WG__ROLE_READ, 0, 1},
    {WG__R_UI_REPORT, WG__ROLE_READ, WG__ROLE_READ, 0, 1}, /* the alerts' link: a browser */
    {WG__R_HEALTHZ, WG__ROLE_NONE, WG__ROLE_NONE, 0, 0},
    {WG__R_READYZ, WG__ROLE_NONE, WG__ROLE_NONE, 0, 0},
    {WG__R_METRICS, WG__ROLE_NONE, WG__ROLE_NONE, 0, 0},
};

int wg__route_role(const struct wg__server_req *r, int *body_token, int *pages)
{
    *body_token = *pages = 0;
    for (size_t i = 0; i < sizeof(route_roles) / sizeof(route_roles[0]); i++) {
        if (route_roles[i].route == r->route) {
            /* of the event adapters, only the signed ones (and Flagger's metadata.token) */
            *body_token = route_roles[i].body_token && (r->route != WG__R_EVENTS_ADAPTER ||
                                                        wg__events_adapter_signed((int)r->hook));
            *pages = route_roles[i].pages;
            /* route() set method_post for POST only; DELETE and POST are the writes */
            return r->method_post || r->route == WG__R_SILENCE ? route_roles[i].post
                                                               : route_roles[i].get;
        }
    }
    return WG__ROLE_ADMIN;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

enum MHD_Result wg__route_dispatch(struct wg_server *s, struct MHD_Connection *c,
                                   struct wg__server_req *r)
{
    if (r->route == WG__R_EVENTS || r->route == WG__R_EVENTS_ADAPTER) {
        return wg__events_route(s, c, r);
    }
    if (r->route == WG__R_SILENCES || r->route == WG__R_SILENCE) {
        return wg__monitor_silences(s, c, r);
    }
    if (r->route == WG__R_UI_HOME || r->route == WG__R_UI_EVAL || r->route == WG__R_UI_ANALYSIS ||
        r->route == WG__R_UI_REPORT) {
        return wg__ui_dispatch(s, c, r); /* evidence pages: gate_server_ui.c */
    }
    switch (r->route) {
    case WG__R_GATE:
    case WG__R_FLAGGER:
        return gate_route(s, c, r);
    case WG__R_ANALYSES: {
        char *json = NULL;
        unsigned st =
            wg__analyses_create(s, r->gen, r->body.p ? r->body.p : "", r->body.len, &json);
        atomic_fetch_add(&s->m.requests[WG__C_ANALYSIS][WG_FAIL + 1], 1);
        enum MHD_Result ret = json ? wg__reply(s, c, st, "application/json", json, strlen(json))
                                   : wg__reply_error(s, c, 500, "out of memory");
        free(json);
        return ret;
    }
    case WG__R_ANALYSIS: {
        char *json = NULL;
        unsigned st = wg__analyses_get(s, r->id, &json);
        enum MHD_Result ret = json ? wg__reply(s, c, st, "application/json", json, strlen(json))
                                   : wg__reply_error(s, c, 500, "out of memory");
        free(json);
        return ret;
    }
    case WG__R_HEALTHZ: {
        /* Liveness: always 200; the sources' health and a degraded alerting delivery are
         * detail, not a reason to restart. */
        char why[256], body[600];
        int ok = wg__server_ready(s, why, sizeof(why));
        unsigned long long errs = 0;
        int deg = wg__monitor_degraded(s, &errs);
        char dline[200] = "";
        if (deg) {
            snprintf(dline, sizeof(dline),
                     "alerting: delivery degraded: the state store refuses writes (%llu failed); "
                     "notifications are held and made again\n",
                     errs);
        }
        int n = snprintf(body, sizeof(body), "ok\n%s%s\n%s", ok ? "" : "degraded: ", why, dline);
        return wg__reply(s, c, 200, "text/plain; charset=utf-8", body,
                         n < 0                      ? 0
                         : (size_t)n < sizeof(body) ? (size_t)n
                                                    : sizeof(body) - 1);
    }
    case WG__R_READYZ: {
        char why[256], body[300];
        int ok = wg__server_ready_self(s, why, sizeof(why));
        int n = snprintf(body, sizeof(body), "%s\n", why);
        return wg__reply(s, c, ok ? 200 : 503, "text/plain; charset=utf-8", body,
                         n < 0                      ? 0
                         : (size_t)n < sizeof(body) ? (size_t)n
                                                    : sizeof(body) - 1);
    }
    case WG__R_METRICS: {
        char *text = wg__metrics_render(s);
        enum MHD_Result ret = text
                                  ? wg__reply(s, c, 200, "text/plain; version=0.0.4; charset=utf-8",
                                              text, strlen(text))
                                  : wg__reply_error(s, c, 500, "out of memory");
        free(text);
        return ret;
    }
    default:
        return wg__reply_error(s, c, 404, "no such route");
    }
}

/* ---- body parsers as one entry point (fuzz targets, crash fixtures) -------------------------- */

unsigned wg__route_body_check(enum wg__body kind, const uint8_t *data, size_t size, char *err,
                              size_t errlen)
{
    const char *body = (const char *)data;
    if (kind == WG__B_GATE || kind == WG__B_FLAGGER) {
        struct wg__params p;
        memset(&p, 0, sizeof(p));
        enum wg_err rc = wg__params_from_json(&p, body, size, kind == WG__B_FLAGGER, err, errlen);
        wg__params_clear(&p);
        return rc == WG_OK ? 0 : rc == WG_ENOMEM ? 500 : 400;
    }
    if (kind == WG__B_ANALYSES) {
        return wg__analyses_spec_check(body, size, err, errlen);
    }
    struct wg_silence sil;
    enum wg_err rc = wg_silence_from_json(body, size, &sil, err, errlen);
    if (rc == WG_OK) {
        wg_silence_clear(&sil);
    }
    return rc == WG_OK ? 0 : 400;
}
