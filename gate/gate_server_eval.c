/* gate_server_eval.c — how `serve` turns a gate question into a verdict without stampeding the
 * data sources: a short TTL cache of finished verdicts and a single flight per question
 * (wave + features + deploy time, and for a deploy's counted look its identity and look k),
 * run on its own thread while the asking connections are suspended; plus the default
 * evaluator over wg_gate_check and the request parameters (the answer's "look":
 * gate_server_looks.c).
 */
#include "gate/gate_server_int.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

struct waiter {
    struct MHD_Connection *c;
    struct wg__server_req *r;
};

struct wg__flight {
    char *key;
    struct wg_server *s;
    struct wg__cfgref *gen;
    struct wg__params p;
    struct waiter *w;
    size_t nw, capw;
    struct wg__flight *next;
};

/* ---- verdicts ---------------------------------------------------------------------------- */

struct wg__verdict *wg__verdict_new(enum wg_err err, enum wg_verdict verdict, char *json_take)
{
    struct wg__verdict *v = calloc(1, sizeof(*v));
    if (!v) {
        free(json_take);
        return NULL;
    }
    atomic_init(&v->refs, 1);
    v->err = err;
    v->verdict = err == WG_OK ? verdict : WG_NOEVAL;
    v->json = json_take;
    v->len = json_take ? strlen(json_take) : 0;
    v->resp = MHD_create_response_from_buffer(v->len, v->json, MHD_RESPMEM_PERSISTENT);
    if (!v->resp) {
        free(v->json);
        free(v);
        return NULL;
    }
    MHD_add_response_header(v->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (v->verdict == WG_NOEVAL && err != WG_ENOTFOUND) {
        MHD_add_response_header(v->resp, MHD_HTTP_HEADER_RETRY_AFTER, "10");
    }
    return v;
}

void wg__verdict_put(struct wg__verdict *v)
{
    if (v && atomic_fetch_sub(&v->refs, 1) == 1) {
        MHD_destroy_response(v->resp); /* MHD keeps its own reference while sending */
        free(v->json);
        free(v);
    }
}

/* ---- params -------------------------------------------------------------------------------- */

void wg__params_clear(struct wg__params *p)
{
    free(p->wave);
    for (size_t i = 0; i < p->nfeatures; i++) {
        free(p->features[i]);
    }
    free(p->token);
    free(p->deploy_id);
    free(p->canary);
    free(p->checksum);
    free(p->phase);
    free(p->ident);
    free(p->analysis);
    wg__gate_fleet_params_clear(p);
    memset(p, 0, sizeof(*p));
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n >= WG__MAX_NAME) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* Add one or several (comma-separated) features; duplicates are dropped. */
static enum wg_err add_features(struct wg__params *p, const char *v, char *err, size_t errlen)
{
    while (*v) {
        size_t n = strcspn(v, ",");
        if (n > 0) {
            if (!valid_name(v, n)) {
                snprintf(err, errlen, "feature: want a name of 1-255 printable bytes");
                return WG_EINVAL;
            }
            int dup = 0;
            for (size_t i = 0; i < p->nfeatures; i++) {
                dup |= strlen(p->features[i]) == n && !memcmp(p->features[i], v, n);
            }
            if (!dup) {
                if (p->nfeatures == WG__MAX_FEATURES) {
                    snprintf(err, errlen, "feature: at most %d features", WG__MAX_FEATURES);
                    return WG_EINVAL;
                }
                if (!(p->features[p->nfeatures] = wg_strndup(v, n))) {
                    return WG_ENOMEM;
                }
                p->nfeatures++;
            }
        }
        v += n;
        if (*v == ',') {
            v++;
        }
    }
    return WG_OK;
}

static enum wg_err set_wave(struct wg__params *p, const char *v, char *err, size_t errlen)
{
    if (!valid_name(v, strlen(v))) {
        snprintf(err, errlen, "wave: want a name of 1-255 printable bytes");
        return WG_EINVAL;
    }
    free(p->wave);
    return (p->wave = wg_strdup(v)) ? WG_OK : WG_ENOMEM;
}

/* A parsed deploy time in the range a gate can judge (wg_time_check_deploy: 1970 < t < 2200,
 * at most 24h ahead), so deploy + delay + window never overflows: a 400, never a crash. */
static enum wg_err check_deploy(struct wg__params *p, int64_t ns, char *err, size_t errlen)
{
    char why[200];
    if (wg_time_check_deploy(ns, wg_now_ns(), why, sizeof(why)) != WG_OK) {
        snprintf(err, errlen, "deploy_time: %s", why);
        return WG_EINVAL;
    }
    p->deploy_ns = ns;
    return WG_OK;
}

/* RFC3339 or Unix seconds. */
static enum wg_err set_deploy(struct wg__params *p, const char *v, char *err, size_t errlen)
{
    char *end = NULL;
    int64_t ns;
    long long secs = strtoll(v, &end, 10);
    if (*v >= '0' && *v <= '9' && end && *end == '\0') {
        if (wg_time_from_secs(secs, &ns) != WG_OK) {
            ns = INT64_MAX; /* out of range: reported as too late */
        }
        return check_deploy(p, ns, err, errlen);
    }
    if (wg_time_parse(v, strlen(v), &ns) != WG_OK) {
        snprintf(err, errlen, "deploy_time: want RFC3339 or Unix seconds, got \"%.64s\"", v);
        return WG_EINVAL;
    }
    return check_deploy(p, ns, err, errlen);
}

static enum wg_err set_mode(struct wg__params *p, const char *v, char *err, size_t errlen)
{
    if (!strcmp(v, "status")) {
        p->mode_status = 1;
    } else if (!strcmp(v, "body")) {
        p->mode_status = 0;
    } else {
        snprintf(err, errlen, "mode: want body or status, got \"%.32s\"", v);
        return WG_EINVAL;
    }
    return WG_OK;
}

/* timeout=: a duration (the config's syntax, e.g. 8s, 1500ms), above 0 and at most
 * WG__MAX_TIMEOUT_NS; the answer comes before it ("could not evaluate" when the sources had no
 * time to answer), so a consumer whose own call times out gets the reason, not a dropped
 * connection. */
static enum wg_err set_timeout(struct wg__params *p, const char *v, char *err, size_t errlen)
{
    int64_t ns = 0;
    if (wg_duration_parse(v, &ns) != WG_OK || ns <= 0 || ns > WG__MAX_TIMEOUT_NS) {
        snprintf(err, errlen,
                 "timeout: want a duration above 0 and at most 5m (e.g. 8s), got \"%.32s\"", v);
        return WG_EINVAL;
    }
    p->timeout_ns = ns;
    return WG_OK;
}

static enum wg_err set_param(struct wg__params *p, const char *k, const char *v, char *err,
                             size_t errlen)
{
    if (!strcmp(k, "timeout")) {
        return set_timeout(p, v, err, errlen);
    }
    if (!strcmp(k, "wave") || !strcmp(k, "stage")) {
        return set_wave(p, v, err, errlen);
    }
    if (!strcmp(k, "feature") || !strcmp(k, "features")) {
        return add_features(p, v, err, errlen);
    }
    if (!strcmp(k, "deploy_time")) {
        return set_deploy(p, v, err, errlen);
    }
    if (!strcmp(k, "mode")) {
        return set_mode(p, v, err, errlen);
    }
    if (!strcmp(k, "inconclusive")) {
        p->inconclusive_pass = !strcmp(v, "pass");
        return WG_OK;
    }
    if (!strcmp(k, "deploy_id")) { /* a deploy identity: its first sighting anchors it */
        if (!valid_name(v, strlen(v))) {
            snprintf(err, errlen, "deploy_id: want 1-255 printable bytes");
            return WG_EINVAL;
        }
        free(p->deploy_id);
        return (p->deploy_id = wg_strdup(v)) ? WG_OK : WG_ENOMEM;
    }
    if (!strcmp(k, "max_looks")) { /* the looks the consumer plans (Argo: count) */
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (!*v || !end || *end || n < 1 || n > WG__MAX_LOOKS) {
            snprintf(err, errlen, "max_looks: want an integer 1-%d", WG__MAX_LOOKS);
            return WG_EINVAL;
        }
        p->looks_planned = (int)n;
        return WG_OK;
    }
    if (!strcmp(k, "analysis")) { /* answer from that analysis (gate_server_analysis.c) */
        if (!valid_name(v, strlen(v)) || strlen(v) >= 40) {
            snprintf(err, errlen, "analysis: want an analysis id");
            return WG_EINVAL;
        }
        free(p->analysis);
        return (p->analysis = wg_strdup(v)) ? WG_OK : WG_ENOMEM;
    }
    if (!strcmp(k, "target")) {
        if (!valid_name(v, strlen(v))) {
            snprintf(err, errlen, "target: want a name of 1-255 printable bytes");
            return WG_EINVAL;
        }
        free(p->target);
        return (p->target = wg_strdup(v)) ? WG_OK : WG_ENOMEM;
    }
    return WG_OK; /* other keys (consumer, ...) are informational */
}

struct qctx {
    struct wg__params *p;
    enum wg_err rc;
    char *err;
    size_t errlen;
};

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct qctx *q = cls;
    (void)kind;
    if (q->rc == WG_OK && key && !strcmp(key, "token")) {
        /* A token in the URL ends up in access logs, proxies and shell history. */
        snprintf(q->err, q->errlen,
                 "token: refused in the URL; use the Authorization header (Flagger: "
                 "metadata.token)");
        q->rc = WG_EINVAL;
        return MHD_NO;
    }
    if (q->rc == WG_OK && key) {
        q->rc = set_param(q->p, key, value ? value : "", q->err, q->errlen);
    }
    return q->rc == WG_OK ? MHD_YES : MHD_NO;
}

enum wg_err wg__params_from_query(struct wg__params *p, struct MHD_Connection *c, char *err,
                                  size_t errlen)
{
    struct qctx q = {p, WG_OK, err, errlen};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, &q);
    return q.rc;
}

/* One JSON member: strings, numbers (deploy_time), arrays of strings (features). */
static enum wg_err json_member(struct wg__params *p, const cJSON *it, int flagger, char *err,
                               size_t errlen)
{
    const char *k = it->string;
    if (flagger && !strcmp(k, "token")) {
        if (!cJSON_IsString(it)) {
            snprintf(err, errlen, "metadata.token: want a string");
            return WG_EINVAL;
        }
        free(p->token);
        return (p->token = wg_strdup(it->valuestring)) ? WG_OK : WG_ENOMEM;
    }
    int known = !strcmp(k, "wave") || !strcmp(k, "stage") || !strcmp(k, "feature") ||
                !strcmp(k, "features") || !strcmp(k, "deploy_time") || !strcmp(k, "mode") ||
                !strcmp(k, "inconclusive") || !strcmp(k, "deploy_id") || !strcmp(k, "target") ||
                !strcmp(k, "max_looks") || !strcmp(k, "analysis") || !strcmp(k, "timeout");
    if (!strcmp(k, "deploy_times")) {
        return wg__gate_fleet_deploy_times(p, it, err, errlen);
    }
    if (!known) {
        return WG_OK;
    }
    if (cJSON_IsString(it)) {
        return set_param(p, k, it->valuestring, err, errlen);
    }
    if (!strcmp(k, "deploy_time") && cJSON_IsNumber(it)) {
        double d = it->valuedouble;
        /* the cast is defined only in range: 2200 is far inside int64 ns */
        if (!(d > 0 && d < (double)WG_DEPLOY_MAX_NS / 1e9)) {
            snprintf(err, errlen,
                     "deploy_time: want Unix seconds after 1970 and before 2200, or "
                     "RFC3339");
            return WG_EINVAL;
        }
        return check_deploy(p, (int64_t)(d * 1e9), err, errlen);
    }
    if (!strcmp(k, "max_looks") && cJSON_IsNumber(it)) {
        char num[32];
        double d = it->valuedouble;
        snprintf(num, sizeof(num), "%.0f", d >= 0 && d < 1e9 && d == (double)(long)d ? d : -1.0);
        return set_param(p, k, num, err, errlen);
    }
    if ((!strcmp(k, "feature") || !strcmp(k, "features")) && cJSON_IsArray(it)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, it)
        {
            if (!cJSON_IsString(e)) {
                snprintf(err, errlen, "%s: want strings", k);
                return WG_EINVAL;
            }
            enum wg_err rc = add_features(p, e->valuestring, err, errlen);
            if (rc != WG_OK) {
                return rc;
            }
        }
        return WG_OK;
    }
    snprintf(err, errlen, "%s: want a string%s", k,
             !strcmp(k, "feature") || !strcmp(k, "features") ? " or an array of strings" : "");
    return WG_EINVAL;
}

enum wg_err wg__params_from_json(struct wg__params *p, const char *body, size_t len, int flagger,
                                 char *err, size_t errlen)
{
    enum wg_err rc = WG_OK;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        snprintf(err, errlen, "malformed JSON at byte %zu of %zu", at, len);
        return WG_EINVAL;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "want a JSON object");
        rc = WG_EINVAL;
        goto out;
    }
    const cJSON *obj = root;
    if (flagger) {
        /* Flagger: {"name","namespace","phase","checksum","metadata":{...}}; metadata values
         * are strings (Go map[string]string). */
        obj = cJSON_GetObjectItemCaseSensitive(root, "metadata");
        if (!obj || cJSON_IsNull(obj)) {
            goto out;
        }
        if (!cJSON_IsObject(obj)) {
            snprintf(err, errlen, "metadata: want an object");
            rc = WG_EINVAL;
            goto out;
        }
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        if (it->string && (rc = json_member(p, it, flagger, err, errlen)) != WG_OK) {
            goto out;
        }
    }
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- the default evaluator ------------------------------------------------------------------ */

struct wg_http *wg__server_http_take(struct wg_server *s)
{
    struct wg_http *h = NULL;
    pthread_mutex_lock(&s->http_mu);
    if (s->nhttp_kept > 0) {
        h = s->http_kept[--s->nhttp_kept];
    }
    pthread_mutex_unlock(&s->http_mu);
    return h ? h : wg_http_new();
}

void wg__server_http_give(struct wg_server *s, struct wg_http *h)
{
    if (!h) {
        return;
    }
    pthread_mutex_lock(&s->http_mu);
    if (s->nhttp_kept < WG__HTTP_KEEP) {
        s->http_kept[s->nhttp_kept++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&s->http_mu);
    wg_http_free(h);
}

void wg__server_http_flush(struct wg_server *s)
{
    pthread_mutex_lock(&s->http_mu);
    size_t n = s->nhttp_kept;
    struct wg_http *kept[WG__HTTP_KEEP];
    memcpy(kept, s->http_kept, n * sizeof(kept[0]));
    s->nhttp_kept = 0;
    pthread_mutex_unlock(&s->http_mu);
    for (size_t i = 0; i < n; i++) {
        wg_http_free(kept[i]);
    }
}

/* wg_gate_check + wg_gate_report_json, the metrics and the alert event; *rep (when asked)
 * keeps the report for the caller (it borrows cfg). */
static enum wg_err eval_default(struct wg_server *s, const struct wg_config *cfg,
                                const struct wg_check_req *req, int analysis,
                                enum wg_verdict *verdict, char **json,
                                struct wg_check_report **keep, char *err, size_t errlen)
{
    struct wg_check_report *rep = NULL;
    struct wg_check_req r = *req;
    r.http = s ? wg__server_http_take(s) : NULL;
    enum wg_err rc = wg_gate_check(cfg, &r, &rep, err, errlen);
    if (s) {
        wg__server_http_give(s, r.http);
    }
    if (rc != WG_OK) {
        return rc;
    }
    *verdict = rep->verdict;
    char id[40] = "";
    *json = wg__ui_record(s, cfg, analysis ? "analysis" : "gate", rep, id, sizeof(id));
    if (s && !analysis) {
        wg__monitor_gate_event(s, rep, id); /* /v1/gate, Flagger answers; not analysis looks */
    }
    wg__events_verdict(s, rep, wg_now_ns()); /* markers: every verdict and rule result */
    if (s) {
        for (size_t i = 0; i < rep->nrules; i++) {
            const struct wg_rule_report *rr = &rep->rules[i];
            atomic_fetch_add(&s->m.rule_evals[rr->res.verdict], 1);
            if (rr->query_ns > 0) {
                wg__metrics_source(&s->m, rr->source, rr->query_ns);
            }
        }
    }
    if (!*json) {
        snprintf(err, errlen, "out of memory rendering the verdict");
        wg_check_report_free(rep);
        return WG_ENOMEM;
    }
    if (keep) {
        *keep = rep;
    } else {
        wg_check_report_free(rep);
    }
    return WG_OK;
}

enum wg_err wg__server_eval_default(void *ud, const struct wg_config *cfg,
                                    const struct wg_check_req *req, enum wg_verdict *verdict,
                                    char **json, char *err, size_t errlen)
{
    return eval_default(ud, cfg, req, req->look != 0, verdict, json, NULL, err, errlen);
}

static char *error_json(const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    char *out = NULL;
    if (o && cJSON_AddStringToObject(o, "verdict", "error") &&
        cJSON_AddStringToObject(o, "error", msg)) {
        out = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);
    return out;
}

struct wg__verdict *wg__server_eval_now(struct wg_server *s, struct wg__cfgref *gen,
                                        const struct wg__params *p)
{
    return wg__server_eval_report(s, gen, p, NULL);
}

struct wg__verdict *wg__server_eval_report(struct wg_server *s, struct wg__cfgref *gen,
                                           const struct wg__params *p, struct wg_check_report **rep)
{
    char err[512] = "";
    char *json = NULL;
    enum wg_verdict verdict = WG_NOEVAL;
    struct wg_check_req req = {
        .wave = p->wave,
        .features = (const char *const *)p->features,
        .nfeatures = p->nfeatures,
        .deploy_ns = p->deploy_ns,
        .now_ns = wg__server_now(),
        .look = p->look,
        .max_looks = p->max_looks,
        .last_tested = p->last_tested,
        .nlast_tested = p->nlast_tested,
        /* a deploy-anchored gate answer is history; analysis looks record their final one */
        .record_history = (p->deploy_ns != 0 || p->ndeploy_times) && (p->look == 0 || p->counted),
        .target = p->target,
        .deploy_times = p->deploy_times,
        .ndeploy_times = p->ndeploy_times,
        .keep_series = s->evals != NULL, /* the evidence page's charts (gate_server_ui.c) */
        .deadline_mono_ns = p->deadline_mono_ns,
    };
    int64_t t0 = wg_mono_ns();
    enum wg_err rc;
    if (rep) {
        *rep = NULL;
    }
    if (s->eval.fn == wg__server_eval_default) {
        rc = eval_default(s, gen->cfg, &req, !p->counted && p->look != 0, &verdict, &json, rep, err,
                          sizeof(err));
    } else {
        rc = s->eval.fn(s->eval.ud, gen->cfg, &req, &verdict, &json, err, sizeof(err));
    }
    wg__hist_observe(&s->m.eval_seconds, wg_mono_ns() - t0);
    atomic_fetch_add(&s->m.evaluations, 1);
    if (rc != WG_OK) {
        free(json);
        if (!err[0]) {
            snprintf(err, sizeof(err), "could not evaluate: %s", wg_strerror(rc));
        }
        json = error_json(err);
        if (rc != WG_ENOTFOUND) {
            atomic_fetch_add(&s->m.errors[WG__E_EVAL], 1);
            wg_log(WG_LOG_WARN, "gate: wave %s: %s", p->wave, err);
        }
    }
    return wg__verdict_new(rc, verdict, wg__looks_annotate(json, p));
}

/* ---- cache + single flight ------------------------------------------------------------------ */

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* wave \x1f sorted features \x1f deploy time [\x1f deploy identity \x1f look k of K]
 * [\x1f t timeout]: the identity of a question. A counted look is part of it: every ask of
 * look k (within WG__SAME_LOOK_NS of its start, deploys.c) shares that look's one evaluation
 * (under the first ask's timeout=, if any), and look k + 1 is another question, never answered
 * with look k's budget. Otherwise timeout= is: an ask never shares a flight or an answer cut by
 * a deadline with an ask without one, or with another timeout. */
static char *make_key(struct wg__params *p)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    qsort(p->features, p->nfeatures, sizeof(p->features[0]), cmpstr);
    wg_buf_adds(&b, p->wave);
    wg_buf_adds(&b, "\x1f");
    for (size_t i = 0; i < p->nfeatures; i++) {
        wg_buf_adds(&b, p->features[i]);
        wg_buf_adds(&b, "\x1e");
    }
    if (wg_buf_addf(&b, "\x1f%lld", (long long)p->deploy_ns) != WG_OK ||
        (p->counted &&
         wg_buf_addf(&b, "\x1f%s\x1f%d\x1f%d", p->ident, p->look, p->max_looks) != WG_OK) ||
        (!p->counted && p->timeout_ns &&
         wg_buf_addf(&b, "\x1ft%lld", (long long)p->timeout_ns) != WG_OK) ||
        wg__gate_fleet_params_key(&b, p) != WG_OK) {
        wg_buf_free(&b);
        return NULL;
    }
    return wg_buf_take(&b);
}

static unsigned hash(const char *k)
{
    unsigned h = 2166136261u;
    for (; *k; k++) {
        h = (h ^ (unsigned char)*k) * 16777619u;
    }
    return h % WG__CACHE_BUCKETS;
}

/* Under s->mu. */
static struct wg__verdict *cache_get(struct wg_server *s, const char *key, int64_t now)
{
    for (struct wg__cache_entry **pe = &s->cache[hash(key)]; *pe; pe = &(*pe)->next) {
        struct wg__cache_entry *e = *pe;
        if (!strcmp(e->key, key)) {
            if (e->v->expires_mono > now) {
                atomic_fetch_add(&e->v->refs, 1);
                return e->v;
            }
            *pe = e->next;
            wg__verdict_put(e->v);
            free(e->key);
            free(e);
            s->ncache--;
            return NULL;
        }
    }
    return NULL;
}

/* Under s->mu; takes a reference of v. */
static void cache_put(struct wg_server *s, const char *key, struct wg__verdict *v)
{
    if (s->ncache >= WG__CACHE_MAX) {
        /* Full: evict everything expired; if still full, do not cache (bounded memory). */
        int64_t now = wg_mono_ns();
        for (size_t b = 0; b < WG__CACHE_BUCKETS; b++) {
            for (struct wg__cache_entry **pe = &s->cache[b]; *pe;) {
                struct wg__cache_entry *e = *pe;
                if (e->v->expires_mono <= now) {
                    *pe = e->next;
                    wg__verdict_put(e->v);
                    free(e->key);
                    free(e);
                    s->ncache--;
                } else {
                    pe = &e->next;
                }
            }
        }
        if (s->ncache >= WG__CACHE_MAX) {
            return;
        }
    }
    struct wg__cache_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->key = wg_strdup(key))) {
        free(e);
        return;
    }
    atomic_fetch_add(&v->refs, 1);
    e->v = v;
    unsigned h = hash(key);
    e->next = s->cache[h];
    s->cache[h] = e;
    s->ncache++;
}

void wg__server_cache_clear(struct wg_server *s)
{
    pthread_mutex_lock(&s->mu);
    for (size_t b = 0; b < WG__CACHE_BUCKETS; b++) {
        while (s->cache[b]) {
            struct wg__cache_entry *e = s->cache[b];
            s->cache[b] = e->next;
            wg__verdict_put(e->v);
            free(e->key);
            free(e);
        }
    }
    s->ncache = 0;
    pthread_mutex_unlock(&s->mu);
}

static void flight_free(struct wg__flight *f)
{
    wg__params_clear(&f->p);
    wg__server_gen_put(f->gen);
    free(f->w);
    free(f->key);
    free(f);
}

static void *flight_run(void *arg)
{
    struct wg__flight *f = arg;
    struct wg_server *s = f->s;
    struct wg_check_report *rep = NULL;
    int *last = NULL;
    if (f->p.counted) {
        last = wg__looks_last_judged(f->gen->cfg, &f->p, &f->p.nlast_tested);
        f->p.last_tested = last;
        if (!last) {
            f->p.tested_look = f->p.look - 1;
        }
    }
    /* the report is kept (and freed once the waiters have the answer: a fleet's 1,000 rules
     * take ~1 ms to free, which no caller needs to wait for) */
    struct wg__verdict *v = wg__server_eval_report(s, f->gen, &f->p, &rep);
    if (f->p.counted && v) {
        /* the last planned look's verdict is what later looks answer (wg__server_lookup) */
        const char *fin =
            f->p.look == f->p.max_looks && v->err == WG_OK ? wg_verdict_name(v->verdict) : NULL;
        if (wg__deploys_look_done(s, &f->p, wg__looks_tested(rep), fin) != WG_OK) {
            /* logged; the next look takes this one as judged (spends less) */
        }
    }
    f->p.last_tested = NULL;
    f->p.nlast_tested = 0;
    free(last);
    int64_t ttl = f->gen->cfg->server.cache_ttl_ns;
    if (f->p.counted && ttl < WG__SAME_LOOK_NS) {
        ttl = WG__SAME_LOOK_NS; /* the look's one answer, whatever the cache's TTL */
    }
    pthread_mutex_lock(&s->mu);
    for (struct wg__flight **pf = &s->flights; *pf; pf = &(*pf)->next) {
        if (*pf == f) {
            *pf = f->next;
            break;
        }
    }
    s->nflights--;
    /* an answer the deadline may have cut is not cached (the next ask tries again), unless it
     * is a counted look's one answer */
    int cut = !f->p.counted && wg__gate_deadline_reached(f->p.deadline_mono_ns);
    if (v && v->err == WG_OK && ttl > 0 && f->gen == s->gen && !cut) {
        v->expires_mono = wg_mono_ns() + ttl;
        cache_put(s, f->key, v);
    }
    for (size_t i = 0; i < f->nw; i++) {
        if (v) {
            atomic_fetch_add(&v->refs, 1);
        }
        f->w[i].r->v = v; /* NULL: the handler answers 500 */
        f->w[i].r->suspended = 2;
        MHD_resume_connection(f->w[i].c);
    }
    pthread_cond_broadcast(&s->flights_cv);
    pthread_mutex_unlock(&s->mu);
    wg__verdict_put(v);
    wg_check_report_free(rep); /* borrows f->gen's config: before flight_free */
    flight_free(f);
    return NULL;
}

static enum wg_err flight_start(struct wg_server *s, struct wg__server_req *r, char *key,
                                struct wg__flight **out)
{
    struct wg__flight *f = calloc(1, sizeof(*f));
    if (!f) {
        return WG_ENOMEM;
    }
    f->key = key;
    f->s = s;
    f->gen = r->gen;
    atomic_fetch_add(&r->gen->refs, 1);
    f->p.wave = wg_strdup(r->p.wave);
    f->p.deploy_ns = r->p.deploy_ns;
    f->p.timeout_ns = r->p.timeout_ns;
    /* the ask's timeout counts from now (its arrival): who joins the flight later, with the
     * same timeout, is answered before its own */
    f->p.deadline_mono_ns = r->p.timeout_ns ? wg_mono_ns() + r->p.timeout_ns : 0;
    if (r->p.counted) {
        f->p.ident = wg_strdup(r->p.ident);
        f->p.counted = f->p.ident != NULL;
        f->p.look = r->p.look;
        f->p.max_looks = r->p.max_looks;
        f->p.tested_look = r->p.tested_look;
    }
    for (size_t i = 0; i < r->p.nfeatures; i++) {
        f->p.features[f->p.nfeatures++] = wg_strdup(r->p.features[i]);
    }
    if (wg__gate_fleet_params_copy(&f->p, &r->p) != WG_OK) {
        free(f->p.wave); /* never answer a one-target question for another: an error */
        f->p.wave = NULL;
    }
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int e = pthread_create(&th, &at, flight_run, f);
    pthread_attr_destroy(&at);
    if (e != 0) {
        /* no thread to run it (EAGAIN): the server is overloaded, answered 503, not "out of
         * memory" */
        wg_log(WG_LOG_WARN, "gate: cannot start an evaluation thread: %s", strerror(e));
        f->key = NULL;
        flight_free(f);
        return WG_ETOOBIG;
    }
    *out = f;
    return WG_OK;
}

enum wg_err wg__server_lookup(struct wg_server *s, struct MHD_Connection *c,
                              struct wg__server_req *r, struct wg__verdict **out)
{
    enum wg_err rc = WG_OK;
    *out = NULL;
    if (r->p.analysis) { /* an analysis of this deploy answers (gate_server_analysis.c) */
        *out = wg__analyses_gate_answer(s, &r->p);
        return *out ? WG_OK : WG_ENOMEM;
    }
    if (r->p.counted && r->p.look > r->p.max_looks) {
        *out = wg__looks_beyond_answer(r->gen->cfg, &r->p);
        return *out ? WG_OK : WG_ENOMEM;
    }
    char *key = make_key(&r->p);
    if (!key) {
        return WG_ENOMEM;
    }
    pthread_mutex_lock(&s->mu);
    if (r->gen == s->gen && (*out = cache_get(s, key, wg_mono_ns())) != NULL) {
        atomic_fetch_add(&s->m.cache_hits, 1);
        goto out;
    }
    struct wg__flight *f = s->flights;
    while (f && (f->gen != r->gen || strcmp(f->key, key))) {
        f = f->next;
    }
    if (f) {
        atomic_fetch_add(&s->m.shared_waits, 1);
    } else {
        atomic_fetch_add(&s->m.cache_misses, 1);
        if (s->nflights >= WG__MAX_FLIGHTS) {
            rc = WG_ETOOBIG;
            goto out;
        }
        /* The flight thread takes s->mu before touching the list, so it cannot finish
         * before it is linked and this request parked on it. */
        if ((rc = flight_start(s, r, key, &f)) != WG_OK) {
            goto out;
        }
        key = NULL;
        f->next = s->flights;
        s->flights = f;
        s->nflights++;
    }
    if (f->nw == f->capw) {
        size_t ncap = f->capw ? f->capw * 2 : 4;
        struct waiter *nw = realloc(f->w, ncap * sizeof(*nw));
        if (!nw) {
            rc = WG_ENOMEM;
            goto out;
        }
        f->w = nw;
        f->capw = ncap;
    }
    f->w[f->nw].c = c;
    f->w[f->nw].r = r;
    f->nw++;
    r->suspended = 1;
    MHD_suspend_connection(c);
out:
    pthread_mutex_unlock(&s->mu);
    free(key);
    return rc;
}

void wg__server_flights_wait(struct wg_server *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->nflights > 0) {
        pthread_cond_wait(&s->flights_cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
}
