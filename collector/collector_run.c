/* collector_run.c — runs a batch of queries: builds each request by source kind (InfluxQL v1
 * /query, InfluxQL v3, SQL v3, Flux /api/v2/query), runs them all through the HTTP wrapper
 * (concurrent, bounded per source, retried), streams each body into its parser and sink, and
 * turns every failure into the query's err and a message. An error never leaves data behind.
 */
#include "collector/collector.h"
#include "common/http.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LONG_URL 2048 /* longer requests go as POST bodies */

struct qctx {
    struct wg_query *q;
    enum wg_parser_kind kind;
    struct wg_parser *parser;
    struct wg_sink sink;
    struct wg_series_sink ss;
    int consumer_failed;
    char *url, *body;
    size_t body_len;
    const char *method;
    char *hdrs[4];
    size_t nhdrs;
};

/* How many statements an InfluxQL query holds: 1 + the ';' outside string literals, quoted
 * identifiers, regexes (after =~ or !~) and -- comments that have a statement after them. */
static int influxql_statements(const char *q)
{
    int n = 0, pending = 0;
    char prev = 0; /* the last significant byte outside literals */
    for (const char *s = q; *s; s++) {
        char ch = *s;
        if (ch == '\'' || ch == '"' || (ch == '/' && (prev == '~'))) {
            char end = ch;
            for (s++; *s && *s != end; s++) {
                if (*s == '\\' && s[1]) {
                    s++;
                }
            }
            if (!*s) {
                break;
            }
            pending = 1;
            prev = end;
            continue;
        }
        if (ch == '-' && s[1] == '-') {
            while (s[1] && s[1] != '\n') {
                s++;
            }
            continue;
        }
        if (ch == ';') {
            n += pending;
            pending = 0;
        } else if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') {
            pending = 1;
        }
        if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') {
            prev = ch;
        }
    }
    n += pending;
    return n > 0 ? n : 1;
}

static enum wg_err ctx_start(struct qctx *c)
{
    struct wg_query *q = c->q;
    if (q->mode == WG_COLLECT_TABLES) {
        wg_table_sink_init(&q->tables, &c->sink);
    } else {
        wg_series_sink_done(&c->ss);
        wg_series_sink_init(&c->ss, &q->series, q->field, &c->sink);
        c->ss.row_labels = c->kind == WG_PARSE_JSONL; /* no tags in JSON Lines: see the sink */
        c->ss.max_series = q->src ? q->src->max_series : 0;
    }
    enum wg_err e = wg_parser_new(c->kind, &c->sink, &c->parser);
    if (e == WG_OK && c->kind == WG_PARSE_INFLUXQL_JSON) {
        wg_parser_set_statements(c->parser, influxql_statements(q->query));
    }
    return e;
}

static enum wg_err on_data(void *ud, const char *buf, size_t len)
{
    struct qctx *c = ud;
    enum wg_err e = wg_parser_feed(c->parser, buf, len);
    if (e != WG_OK) {
        c->consumer_failed = 1;
    }
    return e;
}

/* Before a retry of a body that had started: forget everything parsed. */
static enum wg_err on_reset(void *ud)
{
    struct qctx *c = ud;
    wg_parser_free(c->parser);
    c->parser = NULL;
    wg_seriesset_free(&c->q->series);
    wg_tableset_free(&c->q->tables);
    c->consumer_failed = 0;
    return ctx_start(c);
}

/* Takes h. WG_ENOMEM only when h could not be made; a full header array is an internal
 * limit, said as such (not "out of memory"). */
static enum wg_err add_hdr(struct qctx *c, char *h)
{
    if (!h) {
        return WG_ENOMEM;
    }
    if (c->nhdrs == sizeof(c->hdrs) / sizeof(c->hdrs[0])) {
        free(h);
        snprintf(c->q->errmsg, sizeof(c->q->errmsg), "more than %zu request headers",
                 sizeof(c->hdrs) / sizeof(c->hdrs[0]));
        return WG_ETOOBIG;
    }
    c->hdrs[c->nhdrs++] = h;
    return WG_OK;
}

static char *base64(const char *s)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < n) {
            v |= (unsigned char)s[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= (unsigned char)s[i + 2];
        }
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* Authorization from the environment; secrets are registered for redaction first. */
static enum wg_err add_auth(struct qctx *c, const struct wg_source *src, const char *scheme)
{
    struct wg_query *q = c->q;
    if (src->token_env) {
        const char *tok = getenv(src->token_env);
        if (!tok || !*tok) {
            snprintf(q->errmsg, sizeof(q->errmsg), "environment variable %s is not set",
                     src->token_env);
            return WG_ECONFIG;
        }
        wg_log_add_secret(tok);
        return add_hdr(c, wg_asprintf("Authorization: %s %s", scheme, tok));
    }
    if (src->username) {
        const char *pw = src->password_env ? getenv(src->password_env) : "";
        if (!pw) {
            snprintf(q->errmsg, sizeof(q->errmsg), "environment variable %s is not set",
                     src->password_env);
            return WG_ECONFIG;
        }
        wg_log_add_secret(pw);
        char *up = wg_asprintf("%s:%s", src->username, pw);
        char *b64 = up ? base64(up) : NULL;
        free(up);
        if (!b64) {
            return WG_ENOMEM;
        }
        wg_log_add_secret(b64);
        enum wg_err r = add_hdr(c, wg_asprintf("Authorization: Basic %s", b64));
        free(b64);
        return r;
    }
    return WG_OK;
}

static enum wg_err param(struct wg_buf *b, const char *k, const char *v)
{
    if (!v) {
        return WG_OK;
    }
    enum wg_err e = wg_buf_addf(b, "%s%s=", b->len && b->p[b->len - 1] != '?' ? "&" : "", k);
    return e ? e : wg_http_urlencode(b, v);
}

static enum wg_err build_influxql_v1(struct qctx *c, const struct wg_source *src)
{
    struct wg_buf u, f;
    enum wg_err e;
    char cs[32];
    wg_buf_init(&u, 0);
    wg_buf_init(&f, 0);
    snprintf(cs, sizeof(cs), "%zu", src->chunk_size);
    if ((e = wg_buf_addf(&u, "%s/query?", src->url)) || (e = param(&u, "db", src->database)) ||
        (e = param(&u, "rp", src->retention_policy)) || (e = param(&u, "epoch", "ns")) ||
        (src->chunk_size &&
         ((e = param(&u, "chunked", "true")) || (e = param(&u, "chunk_size", cs))))) {
        goto out;
    }
    if ((e = param(&f, "q", c->q->query))) {
        goto out;
    }
    if (u.len + f.len + 1 <= LONG_URL) {
        if ((e = wg_buf_addf(&u, "&%s", f.p))) {
            goto out;
        }
        c->method = "GET";
    } else {
        c->method = "POST";
        c->body_len = f.len;
        c->body = wg_buf_take(&f);
        if ((e = add_hdr(c, wg_strdup("Content-Type: application/x-www-form-urlencoded")))) {
            goto out;
        }
    }
    if ((e = add_hdr(c, wg_strdup("Accept: application/json")))) {
        goto out;
    }
    c->url = wg_buf_take(&u);
    c->kind = WG_PARSE_INFLUXQL_JSON;
    e = add_auth(c, src, "Token");
out:
    wg_buf_free(&u);
    wg_buf_free(&f);
    return e;
}

static enum wg_err build_v3(struct qctx *c, const struct wg_source *src, const char *path)
{
    struct wg_buf u;
    enum wg_err e;
    wg_buf_init(&u, 0);
    if ((e = wg_buf_addf(&u, "%s%s?", src->url, path)) || (e = param(&u, "db", src->database)) ||
        (e = param(&u, "format", "jsonl")) || (e = param(&u, "q", c->q->query))) {
        goto out;
    }
    c->method = "GET";
    if (u.len > LONG_URL) {
        /* v3 takes a POST body as JSON only. */
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "db", src->database ? src->database : "") ||
            !cJSON_AddStringToObject(o, "q", c->q->query) ||
            !cJSON_AddStringToObject(o, "format", "jsonl") ||
            !(c->body = cJSON_PrintUnformatted(o))) {
            cJSON_Delete(o);
            e = WG_ENOMEM;
            goto out;
        }
        cJSON_Delete(o);
        c->body_len = strlen(c->body);
        c->method = "POST";
        wg_buf_reset(&u);
        if ((e = wg_buf_addf(&u, "%s%s", src->url, path)) ||
            (e = add_hdr(c, wg_strdup("Content-Type: application/json")))) {
            goto out;
        }
    }
    c->url = wg_buf_take(&u);
    c->kind = WG_PARSE_JSONL;
    e = add_auth(c, src, "Bearer");
out:
    wg_buf_free(&u);
    return e;
}

static enum wg_err build_flux(struct qctx *c, const struct wg_source *src)
{
    struct wg_buf u;
    enum wg_err e;
    wg_buf_init(&u, 0);
    cJSON *o = cJSON_CreateObject();
    cJSON *d = cJSON_CreateObject();
    cJSON *ann = cJSON_CreateArray();
    const char *names[] = {"datatype", "group", "default"};
    if (!o || !d || !ann) {
        e = WG_ENOMEM;
        cJSON_Delete(o);
        cJSON_Delete(d);
        cJSON_Delete(ann);
        goto out;
    }
    cJSON_AddItemToObject(o, "query", cJSON_CreateString(c->q->query));
    cJSON_AddItemToObject(o, "type", cJSON_CreateString("flux"));
    cJSON_AddItemToObject(d, "header", cJSON_CreateTrue());
    cJSON_AddItemToObject(d, "delimiter", cJSON_CreateString(","));
    for (size_t i = 0; i < 3; i++) {
        cJSON_AddItemToArray(ann, cJSON_CreateString(names[i]));
    }
    cJSON_AddItemToObject(d, "annotations", ann);
    cJSON_AddItemToObject(o, "dialect", d);
    c->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!c->body) {
        e = WG_ENOMEM;
        goto out;
    }
    c->body_len = strlen(c->body);
    c->method = "POST";
    if ((e = wg_buf_addf(&u, "%s/api/v2/query?", src->url)) ||
        (e = src->org ? param(&u, "org", src->org) : param(&u, "orgID", src->org_id))) {
        goto out;
    }
    if (u.p[u.len - 1] == '?') {
        u.p[--u.len] = '\0';
    }
    if ((e = add_hdr(c, wg_strdup("Content-Type: application/json"))) ||
        (e = add_hdr(c, wg_strdup("Accept: application/csv")))) {
        goto out;
    }
    c->url = wg_buf_take(&u);
    c->kind = WG_PARSE_FLUX_CSV;
    e = add_auth(c, src, "Token");
out:
    wg_buf_free(&u);
    return e;
}

static enum wg_err build(struct qctx *c)
{
    const struct wg_source *src = c->q->src;
    if (!src || !src->url || !c->q->query) {
        snprintf(c->q->errmsg, sizeof(c->q->errmsg), "query without a source or text");
        return WG_EINVAL;
    }
    switch (src->kind) {
    case WG_SRC_FLUX:
        return build_flux(c, src);
    case WG_SRC_SQL:
        return build_v3(c, src, "/api/v3/query_sql");
    default:
        if (src->api == WG_API_V3) {
            return build_v3(c, src, "/api/v3/query_influxql");
        }
        return build_influxql_v1(c, src);
    }
}

/* The server's words for a non-2xx answer: JSON message → error → results[*].error → the raw
 * text, then the X-InfluxDB-Error / X-Platform-Error-Code headers. */
static void server_message(const struct wg_http_job *j, char *out, size_t outlen)
{
    out[0] = '\0';
    const char *body = j->errbody.p ? j->errbody.p : "";
    cJSON *root = cJSON_ParseWithLength(body, j->errbody.len);
    if (cJSON_IsObject(root)) {
        const char *keys[] = {"message", "error"};
        for (size_t i = 0; i < 2 && !out[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
            if (cJSON_IsString(v) && v->valuestring[0]) {
                snprintf(out, outlen, "%s", v->valuestring);
            }
        }
        const cJSON *r, *res = cJSON_GetObjectItemCaseSensitive(root, "results");
        cJSON_ArrayForEach(r, res)
        {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "error");
            if (!out[0] && cJSON_IsString(v)) {
                snprintf(out, outlen, "%s", v->valuestring);
            }
        }
    }
    cJSON_Delete(root);
    if (!out[0]) {
        size_t k = 0;
        for (const char *s = body; *s && k + 1 < outlen && k < 300; s++) {
            out[k++] = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s;
        }
        while (k && out[k - 1] == ' ') {
            k--;
        }
        out[k] = '\0';
    }
    if (!out[0] && wg_http_header(j, "X-InfluxDB-Error", out, outlen) < 0 &&
        wg_http_header(j, "X-Platform-Error-Code", out, outlen) < 0) {
        out[0] = '\0';
    }
}

static void conclude(struct qctx *c, const struct wg_http_job *j)
{
    struct wg_query *q = c->q;
    q->http_status = j->status;
    q->attempts = j->attempts;
    q->elapsed_ns = j->elapsed_ns;
    enum wg_err e = j->err;
    if (e == WG_OK) {
        e = wg_parser_finish(c->parser);
        c->consumer_failed = e != WG_OK;
    }

    if (e == WG_OK) {
        q->err = WG_OK;
        q->errmsg[0] = '\0';
        return;
    }
    if (c->consumer_failed) {
        const char *pm = wg_parser_error(c->parser);
        if (q->mode == WG_COLLECT_SERIES && c->ss.err[0]) {
            e = WG_EQUERY; /* the answer does not fit the rule: wrong or non-numeric column */
            pm = c->ss.err;
        } else if (e == WG_EINVAL) {
            e = WG_ENOMEM; /* only the table sink aborts, and only when out of memory */
            pm = "out of memory";
        }
        snprintf(q->errmsg, sizeof(q->errmsg), "%s", pm && *pm ? pm : wg_strerror(e));
    } else if (e == WG_EHTTP) {
        char base[256], msg[700];
        wg_http_url_base(j->url, base, sizeof(base));
        server_message(j, msg, sizeof(msg));
        snprintf(q->errmsg, sizeof(q->errmsg), "HTTP %ld from %s%s%s", j->status, base,
                 msg[0] ? ": " : "", msg);
    } else {
        snprintf(q->errmsg, sizeof(q->errmsg), "%s", j->errmsg);
    }
    q->err = e;
    wg_redact(q->errmsg);
    wg_seriesset_free(&q->series);
    wg_tableset_free(&q->tables);
}

static void ctx_free(struct qctx *c)
{
    wg_parser_free(c->parser);
    wg_series_sink_done(&c->ss);
    free(c->url);
    free(c->body);
    for (size_t i = 0; i < c->nhdrs; i++) {
        free(c->hdrs[i]);
    }
}

/* gzip pays off across a network; on loopback it only makes the server spend CPU compressing
 * what the next process decompresses (measured: 1,000 small queries 15% slower). */
static int wants_gzip(const struct wg_source *src)
{
    if (src->compression != WG_COMPRESS_AUTO) {
        return src->compression == WG_COMPRESS_GZIP;
    }
    const char *h = strstr(src->url, "://");
    h = h ? h + 3 : src->url;
    static const char *const loopback[] = {"localhost", "127.", "[::1]"};
    for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
        size_t n = strlen(loopback[i]);
        if (strncasecmp(h, loopback[i], n) == 0 &&
            (loopback[i][n - 1] == '.' || h[n] == '\0' || h[n] == ':' || h[n] == '/')) {
            return 0;
        }
    }
    return 1;
}

enum wg_err wg_collector_run(struct wg_query *qs, size_t n, const struct wg_collector_opts *o)
{
    enum wg_err err = WG_OK;
    struct qctx *cs = calloc(n ? n : 1, sizeof(*cs));
    struct wg_http_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
    size_t *map = calloc(n ? n : 1, sizeof(*map));
    struct wg_http *h = o && o->http ? o->http : wg_http_new();
    size_t nj = 0;
    if (!cs || !jobs || !map) {
        err = WG_ENOMEM;
        goto out;
    }
    if (!h) {
        /* not an allocation failure as a rule: libcurl's multi handle could not start. Every
         * query says so and the run fails as I/O, never as "out of memory". */
        for (size_t i = 0; i < n; i++) {
            qs[i].err = WG_EIO;
            snprintf(qs[i].errmsg, sizeof(qs[i].errmsg),
                     "cannot start the HTTP client (libcurl multi handle)");
        }
        err = WG_EIO;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct qctx *c = &cs[i];
        struct wg_query *q = &qs[i];
        c->q = q;
        q->err = WG_OK;
        q->errmsg[0] = '\0';
        q->http_status = 0;
        q->attempts = 0;
        q->elapsed_ns = 0;
        wg_seriesset_free(&q->series);
        wg_tableset_free(&q->tables);
        enum wg_err e = build(c);
        if (e == WG_OK) {
            e = ctx_start(c);
        }
        if (e != WG_OK) {
            q->err = e;
            if (!q->errmsg[0]) {
                snprintf(q->errmsg, sizeof(q->errmsg), "%s", wg_strerror(e));
            }
            continue;
        }
        const struct wg_source *src = q->src;
        int seen = 0; /* warned already: an earlier query of this source (looked up only for
                         an insecure source: quadratic in a fleet's 1,000 queries) */
        for (size_t k = 0; src->tls.insecure_skip_verify && k < i && !seen; k++) {
            seen = qs[k].src == src;
        }
        if (src->tls.insecure_skip_verify && !seen) {
            wg_log(WG_LOG_WARN,
                   "source %s: TLS certificate verification is DISABLED "
                   "(insecure_skip_verify); anyone on the path can read and forge "
                   "answers",
                   src->name ? src->name : "?");
        }
        struct wg_http_job *j = &jobs[nj];
        map[nj++] = i;
        j->method = c->method;
        j->url = c->url;
        j->headers = (const char *const *)c->hdrs;
        j->nheaders = c->nhdrs;
        j->body = c->body;
        j->body_len = c->body_len;
        j->connect_timeout_ns = src->connect_timeout_ns;
        j->timeout_ns = src->timeout_ns;
        j->deadline_ns = q->deadline_ns;
        j->max_bytes = src->max_response_bytes;
        j->retries = src->retries;
        j->group = src;
        j->group_max = src->max_concurrency > 0 ? src->max_concurrency : 8;
        j->no_compression = !wants_gzip(src);
        j->tls.ca_file = src->tls.ca_file;
        j->tls.cert_file = src->tls.cert_file;
        j->tls.key_file = src->tls.key_file;
        j->tls.insecure = src->tls.insecure_skip_verify;
        j->consumer.data = on_data;
        j->consumer.reset = on_reset;
        j->consumer.ud = c;
    }
    struct wg_http_opts ho = {.max_total = o ? o->max_total : 0};
    err = wg_http_run(h, jobs, nj, &ho);
    for (size_t k = 0; k < nj; k++) {
        struct qctx *c = &cs[map[k]];
        if (err != WG_OK) {
            c->q->err = err;
            snprintf(c->q->errmsg, sizeof(c->q->errmsg), "%s", wg_strerror(err));
            wg_seriesset_free(&c->q->series);
            wg_tableset_free(&c->q->tables);
        } else {
            conclude(c, &jobs[k]);
        }
        wg_http_job_clear(&jobs[k]);
    }
out:
    if (cs) {
        for (size_t i = 0; i < n; i++) {
            ctx_free(&cs[i]);
        }
    }
    free(cs);
    free(jobs);
    free(map);
    if (!o || h != o->http) {
        wg_http_free(h);
    }
    return err;
}

void wg_query_clear(struct wg_query *q)
{
    if (!q) {
        return;
    }
    free(q->query);
    q->query = NULL;
    wg_seriesset_free(&q->series);
    wg_tableset_free(&q->tables);
}
