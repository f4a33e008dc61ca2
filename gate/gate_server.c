/* gate_server.c — `wavegate serve`: the libmicrohttpd daemon (epoll thread pool, connection,
 * per-IP and time limits), the access handler (routing, token roles before the body, capped
 * bodies), config generations with atomic SIGHUP reload, and graceful drain.
 * Answers are built in gate_server_routes.c; evaluations shared in gate_server_eval.c.
 */
#include "gate/gate_server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- config generations ------------------------------------------------------------------- */

enum wg_err wg__server_gen_new(struct wg_config *cfg, struct wg__cfgref **out, char *err,
                               size_t errlen)
{
    enum wg_err rc = WG_OK;
    struct wg__cfgref *g = calloc(1, sizeof(*g));
    *out = NULL;
    if (!g) {
        rc = WG_ENOMEM;
        goto out;
    }
    rc = wg__auth_new(&cfg->server, &g->auth, err, errlen); /* gate_server_auth.c */
    if (rc != WG_OK) {
        goto out;
    }
    g->has_token = wg__auth_configured(g->auth);
    g->cfg = cfg;
    g->loaded_ns = wg_now_ns();
    atomic_init(&g->refs, 1);
    *out = g;
    g = NULL;
out:
    free(g);
    return rc;
}

struct wg__cfgref *wg__server_gen_get(struct wg_server *s)
{
    pthread_mutex_lock(&s->mu);
    struct wg__cfgref *g = s->gen;
    atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&s->mu);
    return g;
}

void wg__server_gen_put(struct wg__cfgref *g)
{
    if (g && atomic_fetch_sub(&g->refs, 1) == 1) {
        wg_config_free(g->cfg);
        wg__auth_free(g->auth);
        free(g);
    }
}

/* ---- routing ------------------------------------------------------------------------------ */

const char *const wg__hook_names[WG__H_LAST] = {"rollout",
                                                "pre-rollout",
                                                "confirm-rollout",
                                                "confirm-promotion",
                                                "confirm-traffic-increase",
                                                "rollback",
                                                "post-rollout",
                                                "event"};

/* 0 and r->route set, or the status to answer (404/405). */
static unsigned route(struct wg__server_req *r, const char *url, const char *method)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int post = !strcmp(method, "POST");
    r->method_post = post;
    if (!strcmp(url, "/v1/gate")) {
        r->route = WG__R_GATE;
        return get || post ? 0 : 405;
    }
    if (!strncmp(url, "/v1/flagger/", 12)) {
        for (int h = 0; h < WG__H_LAST; h++) {
            if (!strcmp(url + 12, wg__hook_names[h])) {
                r->route = WG__R_FLAGGER;
                r->hook = (enum wg__hook)h;
                return post ? 0 : 405;
            }
        }
        return 404;
    }
    if (!strcmp(url, "/v1/analyses")) {
        r->route = WG__R_ANALYSES;
        return post ? 0 : 405;
    }
    if (!strncmp(url, "/v1/analyses/", 13)) {
        size_t n = strlen(url + 13);
        if (n == 0 || n >= sizeof(r->id) || strspn(url + 13, "0123456789abcdef-") != n) {
            return 404;
        }
        memcpy(r->id, url + 13, n + 1);
        r->route = WG__R_ANALYSIS;
        return get ? 0 : 405;
    }
    if (!strcmp(url, "/v1/events") || !strncmp(url, "/v1/events/", 11)) {
        int acts = !strcmp(url, "/v1/events/actions");
        int a = url[10] && !acts ? wg__events_adapter(url + 11) : 0;
        r->route = url[10] ? WG__R_EVENTS_ADAPTER : WG__R_EVENTS;
        r->hook = (enum wg__hook)(a < 0 ? 0 : a);
        if (acts) {
            return get ? 0 : 405;
        }
        return a < 0 ? 404 : post || (get && !url[10]) ? 0 : 405;
    }
    if (!strcmp(url, "/v1/silences")) {
        r->route = WG__R_SILENCES;
        return get || post ? 0 : 405;
    }
    if (!strncmp(url, "/v1/silences/", 13)) {
        size_t n = strlen(url + 13);
        if (n == 0 || n >= sizeof(r->id) || strspn(url + 13, "0123456789abcdef-") != n) {
            return 404;
        }
        memcpy(r->id, url + 13, n + 1);
        r->route = WG__R_SILENCE;
        return !strcmp(method, "DELETE") ? 0 : 405;
    }
    if (!strncmp(url, "/v1/report/", 11)) { /* the alerts' report_url: gate_server_ui.c */
        size_t n = strlen(url + 11);
        if (n == 0 || n >= sizeof(r->id) ||
            strspn(url + 11, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                n) {
            return 404;
        }
        memcpy(r->id, url + 11, n + 1);
        r->route = WG__R_UI_REPORT;
        return get ? 0 : 405;
    }
    if (!strcmp(url, "/") || !strncmp(url, "/ui/", 4)) { /* evidence pages: gate_server_ui.c */
        const char *id = !strncmp(url, "/ui/evaluations/", 16) ? url + 16
                         : !strncmp(url, "/ui/analyses/", 13)  ? url + 13
                                                               : NULL;
        size_t n = id ? strlen(id) : 0;
        if (strcmp(url, "/") &&
            (!id || n == 0 || n >= sizeof(r->id) || strspn(id, "0123456789abcdef-") != n)) {
            return 404;
        }
        if (id) {
            memcpy(r->id, id, n + 1);
        }
        r->route = !id ? WG__R_UI_HOME : url[4] == 'e' ? WG__R_UI_EVAL : WG__R_UI_ANALYSIS;
        return get ? 0 : 405;
    }
    static const struct {
        const char *path;
        enum wg__route r;
    } plain[] = {
        {"/healthz", WG__R_HEALTHZ}, {"/readyz", WG__R_READYZ}, {"/metrics", WG__R_METRICS}};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        if (!strcmp(url, plain[i].path)) {
            r->route = plain[i].r;
            return get ? 0 : 405;
        }
    }
    return 404;
}

/* The first call for a request: route, pin the config, check auth and Content-Length before
 * any body byte is read. Returns MHD_YES with *done = 0 to go on reading. */
static enum MHD_Result first_call(struct wg_server *s, struct MHD_Connection *c,
                                  struct wg__server_req *r, const char *url, const char *method,
                                  int *done)
{
    *done = 1;
    unsigned st = route(r, url, method);
    if (st) {
        return wg__reply_error(
            s, c, st, st == 405 ? "method %s not allowed on %s" : "no route %s %s", method, url);
    }
    r->gen = wg__server_gen_get(s);
    /* Bearer (Basic on the pages) against the route's role, before any body byte is read. */
    enum MHD_Result ret = wg__auth_request(s, c, r, done);
    if (*done) {
        return ret;
    }
    *done = 1;
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    size_t max = r->gen->cfg->server.max_body ? r->gen->cfg->server.max_body : 65536;
    if (cl && strtoull(cl, NULL, 10) > max) {
        atomic_fetch_add(&s->m.errors[WG__E_TOO_BIG], 1);
        return wg__reply_error(s, c, 413, "request body of %s bytes is over max_body %zu", cl, max);
    }
    wg_buf_init(&r->body, max);
    *done = 0;
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    struct wg_server *s = cls;
    struct wg__server_req *r = *con_cls;
    (void)version;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r) {
            return MHD_NO;
        }
        r->srv = s;
        r->t0 = wg_mono_ns();
        *con_cls = r;
        atomic_fetch_add(&s->inflight, 1);
        int done = 0;
        enum MHD_Result ret = first_call(s, c, r, url, method, &done);
        if (done) {
            wg__guard_busy(&s->guard, c);
            return ret;
        }
        /* Answer on the next call, after the (possibly empty) body: a response queued in
         * the first call makes libmicrohttpd 0.9.75 close the connection (no keep-alive). */
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->too_big && wg_buf_add(&r->body, upload_data, *upload_data_size) != WG_OK) {
            r->too_big = 1; /* keep draining what was sent, answer 413 at the end */
            wg_buf_free(&r->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    wg__guard_busy(&s->guard, c); /* head and body are in: the request deadline is met */
    if (r->too_big) {
        atomic_fetch_add(&s->m.errors[WG__E_TOO_BIG], 1);
        return wg__reply_error(s, c, 413, "request body is over max_body %zu",
                               r->gen->cfg->server.max_body);
    }
    return wg__route_dispatch(s, c, r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct wg_server *s = cls;
    struct wg__server_req *r = *con_cls;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        wg__guard_waiting(&s->guard, c); /* keep-alive: the next request's deadline starts */
    }
    if (!r) {
        return;
    }
    wg__hist_observe(&s->m.request_seconds, wg_mono_ns() - r->t0);
    wg__events_job_free(r->evjob); /* the connection went while its event was committed */
    wg_buf_free(&r->body);
    wg__params_clear(&r->p);
    wg__verdict_put(r->v);
    wg__server_gen_put(r->gen);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n') {
        buf[--n] = '\0';
    }
    wg_log(WG_LOG_WARN, "http: %s", buf);
}

/* ---- start / reload / drain --------------------------------------------------------------- */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (!colon) {
        return -1;
    }
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof(host)) {
        return -1;
    }
    memcpy(host, listen, hl);
    host[hl] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535) {
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1) {
            return -1;
        }
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (!host[0] || !strcmp(host, "*")) {
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
        return -1;
    }
    *len = sizeof(*a4);
    return 0;
}

static char *slurp(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    struct wg_buf b;
    char tmp[4096];
    size_t n;
    if (!f) {
        return NULL;
    }
    wg_buf_init(&b, max);
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        if (wg_buf_add(&b, tmp, n) != WG_OK) {
            wg_buf_free(&b);
            fclose(f);
            return NULL;
        }
    }
    fclose(f);
    return wg_buf_take(&b);
}

static enum wg_err start_daemon(struct wg_server *s, const struct wg_server_cfg *sc, char *err,
                                size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    const char *listen = s->listen ? s->listen : sc->listen ? sc->listen : "127.0.0.1:8080";
    if (parse_listen(listen, &ss, &sl) < 0) {
        snprintf(err, errlen, "listen: want ADDR:PORT, got \"%s\"", listen);
        return WG_EINVAL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (ss.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    char *cert = NULL, *key = NULL;
    if (sc->tls_cert) {
        cert = slurp(sc->tls_cert, 1 << 20);
        key = slurp(sc->tls_key, 1 << 20);
        if (!cert || !key) {
            snprintf(err, errlen, "server.tls: cannot read %s", !cert ? sc->tls_cert : sc->tls_key);
            free(cert);
            free(key);
            return WG_EIO;
        }
        flags |= MHD_USE_TLS;
    }
    unsigned timeout_s = (unsigned)(sc->connection_timeout_ns / WG_NS_PER_SEC);
    unsigned limit = sc->max_connections ? sc->max_connections : 256;
    /* MHD's timeout is an idle timeout: the guard adds the whole-request deadline and keeps
     * room for new clients under the limit (slowloris from many addresses). */
    if (wg__guard_start(&s->guard, limit, sc->request_timeout_ns) != WG_OK) {
        snprintf(err, errlen, "cannot start the connection guard thread");
        return WG_ENOMEM;
    }
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, s},
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_THREAD_POOL_SIZE, sc->threads ? sc->threads : 2, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, limit, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, sc->per_ip_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, timeout_s ? timeout_s : 15, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, s},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)wg__guard_notify, s},
        {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
        {cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, key},
        {MHD_OPTION_END, 0, NULL},
    };
    s->d =
        MHD_start_daemon(flags, 0, NULL, NULL, handler, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    free(cert);
    free(key);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s (address in use, bad address or TLS keys)",
                 listen);
        return WG_EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    return WG_OK;
}

enum wg_err wg_server_start(struct wg_config *cfg, const struct wg_server_opts *o,
                            struct wg_server **out, char *err, size_t errlen)
{
    enum wg_err rc = WG_ENOMEM;
    struct wg_server *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s) {
        goto out;
    }
    s->quiesced_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->flights_cv, NULL);
    pthread_mutex_init(&s->ready_mu, NULL);
    pthread_mutex_init(&s->http_mu, NULL);
    wg__metrics_init(&s->m);
    s->config_path = wg_strdup(o ? o->config_path : NULL);
    s->listen = wg_strdup(o ? o->listen : NULL);
    if (o && o->eval.fn) {
        s->eval = o->eval;
    } else {
        s->eval.fn = wg__server_eval_default;
    }
    rc = wg__server_gen_new(cfg, &s->gen, err, errlen);
    if (rc != WG_OK) {
        goto out;
    }
    cfg = NULL; /* owned by the generation now */
    const struct wg_server_cfg *sc = &s->gen->cfg->server;
    rc = wg__analyses_open(s, s->gen->cfg->state_dir, err, errlen);
    if (rc != WG_OK) {
        goto out;
    }
    rc = wg__deploys_open(s, s->gen->cfg->state_dir, err, errlen);
    if (rc != WG_OK) {
        goto out;
    }
    if (wg__evals_open(s->gen->cfg->state_dir, (long)sc->evals.keep, sc->evals.max_age_ns,
                       &s->evals, err, errlen) != WG_OK) {
        wg_log(WG_LOG_WARN, "serve: no evidence pages: %s", err); /* the gate still answers */
        err[0] = '\0';
    }
    rc = wg__leader_start(s, err, errlen);
    if (rc != WG_OK) {
        goto out;
    }
    rc = wg__events_open(s, err, errlen);
    if (rc != WG_OK) {
        goto out;
    }
    rc = wg__monitor_start(s, err, errlen);
    if (rc != WG_OK) {
        goto out;
    }
    rc = start_daemon(s, sc, err, errlen);
    if (rc != WG_OK) {
        goto out;
    }
    wg__server_sd_notify("READY=1\nSTATUS=listening");
    wg_log(WG_LOG_INFO, "serve: listening on port %d (%s)", s->port,
           s->gen->has_token ? "read/admin tokens required on /v1 and the pages"
                             : "no token configured: every route is open");
    *out = s;
    s = NULL;
out:
    wg_config_free(cfg);
    wg_server_free(s);
    return rc;
}

int wg_server_port(const struct wg_server *s)
{
    return s ? s->port : 0;
}

enum wg_err wg_server_reload(struct wg_server *s, struct wg_diags *diags)
{
    struct wg_config *cfg = NULL;
    struct wg__cfgref *g = NULL;
    char err[512] = "";
    if (!s->config_path) {
        wg_diags_add(diags, NULL, NULL, 0, "no config file to reload");
        return WG_EINVAL;
    }
    enum wg_err rc = wg_config_load(s->config_path, &cfg, diags);
    if (rc == WG_OK) {
        rc = wg__server_gen_new(cfg, &g, err, sizeof(err));
        if (rc != WG_OK) {
            struct wg_pos pos = {s->config_path, 0, 0};
            wg_diags_add(diags, &pos, "server", 0, "%s", err);
            wg_config_free(cfg);
        }
    }
    if (rc != WG_OK) {
        atomic_fetch_add(&s->m.reloads_failed, 1);
        return rc;
    }
    /* Listening options (address, TLS, limits) are fixed at start; say so when they moved. */
    const struct wg_server_cfg *a = &s->gen->cfg->server, *b = &g->cfg->server;
    if ((a->listen && b->listen && strcmp(a->listen, b->listen)) || a->threads != b->threads ||
        a->max_connections != b->max_connections) {
        wg_log(WG_LOG_WARN, "reload: listen/threads/max_connections changes need a restart");
    }
    pthread_mutex_lock(&s->mu);
    struct wg__cfgref *old = s->gen;
    s->gen = g;
    pthread_mutex_unlock(&s->mu);
    wg__guard_set_deadline(&s->guard, b->request_timeout_ns);
    wg__server_cache_clear(s);
    wg__server_http_flush(s); /* connections of the old sources (URL, TLS files) */
    wg__server_gen_put(old);
    (void)wg__evals_retention(s->evals, (long)b->evals.keep, b->evals.max_age_ns);
    wg__monitor_reload(s); /* alerting follows the new generation */
    atomic_fetch_add(&s->m.reloads_ok, 1);
    return WG_OK;
}

void wg_server_drain(struct wg_server *s, int64_t drain_ns)
{
    if (!s || atomic_exchange(&s->draining, 1)) {
        return;
    }
    wg__server_sd_notify("STOPPING=1");
    if (s->d) {
        /* Stop accepting; the socket is ours now. MHD's workers may still take it out of their
         * epoll sets, so it is not closed before MHD_stop_daemon (a closed, or worse reused,
         * descriptor there is MHD_PANIC). shutdown() stops the listening at once: new connects
         * are refused while the requests in flight finish. */
        MHD_socket fd = MHD_quiesce_daemon(s->d);
        if (fd != MHD_INVALID_SOCKET) {
            (void)shutdown(fd, SHUT_RDWR);
            s->quiesced_fd = fd;
        }
    }
    int64_t deadline = wg_mono_ns() + drain_ns;
    struct timespec ts = {0, 10 * 1000 * 1000};
    while (atomic_load(&s->inflight) > 0 && wg_mono_ns() < deadline) {
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&s->inflight) > 0) {
        wg_log(WG_LOG_WARN, "serve: drain timed out with %d requests in flight",
               atomic_load(&s->inflight));
    }
    /* The outbox gets what is left of the budget; undelivered rows wait for the next start. */
    wg__monitor_drain(s, deadline);
}

void wg_server_free(struct wg_server *s)
{
    if (!s) {
        return;
    }
    wg_server_drain(s, 0);
    /* Evaluation threads resume suspended connections: let them finish before MHD goes. */
    wg__server_flights_wait(s);
    wg_events_quiesce(s->events); /* so do the events' commits */
    if (s->d) {
        MHD_stop_daemon(s->d);
    }
    if (s->quiesced_fd >= 0) {
        close(s->quiesced_fd);
    }
    wg__guard_free(&s->guard);
    wg__events_close(s); /* its runner uses the monitor and the analyses: it stops first */
    wg__monitor_free(s);
    wg__leader_stop();
    wg__analyses_close(s->an);
    wg__deploys_close(s);
    wg__evals_close(s->evals);
    wg__server_cache_clear(s);
    wg__server_gen_put(s->gen);
    wg__metrics_free(&s->m);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->flights_cv);
    pthread_mutex_destroy(&s->ready_mu);
    wg__server_http_flush(s);
    pthread_mutex_destroy(&s->http_mu);
    free(s->config_path);
    free(s->listen);
    free(s);
}
