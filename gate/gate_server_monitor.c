/* gate_server_monitor.c — alerting inside `serve`: a monitor thread evaluates the configured
 * waves every monitor.interval over [now-window, now) (wg_gate_check, no deploy time) and feeds
 * wg_alerting, ticking its timers when due; verdicts answered to /v1/gate and Flagger become
 * alert events; /v1/silences; the alerting part of /metrics. Rebuilt on reload, drained on
 * SIGTERM (the durable outbox keeps what was not sent).
 */
#include "gate/gate_server_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerting/alerting.h"
#include "common/store.h"

#define RELOAD_SETTLE_NS (2 * WG_NS_PER_SEC) /* outbox drain before a rebuild */
#define MAX_IDLE_NS WG_NS_PER_SEC            /* re-check silences written by the CLI */

struct wg__monitor {
    pthread_mutex_t mu; /* guards everything below; wg_alerting_eval/tick are not thread-safe */
    pthread_cond_t cv;
    struct wg__cfgref *gen; /* pinned: the alerting config is borrowed from it */
    struct wg_alerting *a;
    struct wg_silence_store *sil; /* own connection, so the tick sees writes (data_version) */
    pthread_t thr;
    int running;
    int stop;
    int kick;
    struct wg_server *srv; /* its evidence pages: a tick that changes an alert is kept */
    /* Each alert instance's evidence: the evaluation of the tick that last changed its
     * condition (its report_url). An instance of a wave not in that wave's latest tick is
     * dropped. Monitor thread only (evaluate). */
    struct link {
        uint64_t fp, wave;
        int cond, seen, dirty; /* dirty: changed this tick, to be written to the store */
        int foreign; /* read from the shared store: another replica may keep the evaluation */
        char id[40];
    } * links;
    size_t nlinks, caplinks;
};

#define MAX_LINKS 65536 /* alert instances with a link; past it new ones get none (logged) */

/* The wg_gate_links callback of one tick of one wave (see observe). */
struct tick_links {
    struct wg__monitor *m;
    const struct wg_config *cfg;
    uint64_t wave;
    char id[40]; /* this tick's id: kept when an instance changed */
    int changed, full;
    char url[1400];
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; s && *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return h;
}

static const char *link_url(void *ud, const struct wg_label *labels, size_t n, int cond)
{
    struct tick_links *t = ud;
    struct wg__monitor *m = t->m;
    uint64_t fp = wg_alerting_fingerprint(labels, n);
    struct link *l = NULL;
    for (size_t i = 0; i < m->nlinks && !l; i++) {
        l = m->links[i].fp == fp ? &m->links[i] : NULL;
    }
    if (!l) {
        if (m->nlinks == m->caplinks) {
            size_t nc = m->caplinks ? m->caplinks * 2 : 64;
            struct link *v = nc <= MAX_LINKS ? realloc(m->links, nc * sizeof(*v)) : NULL;
            if (!v) {
                t->full = 1;
                return NULL;
            }
            m->links = v;
            m->caplinks = nc;
        }
        l = &m->links[m->nlinks++];
        *l = (struct link){.fp = fp, .wave = t->wave, .cond = -1};
        /* After a restart, a reload or a failover: the evidence the store keeps for it. On
         * PostgreSQL it may be another replica's (each keeps its own evaluations.db): kept
         * as it is, since this replica cannot tell whether that one's retention dropped it. */
        int shared = wg_sql_default_backend() == WG_STORE_POSTGRES;
        if (wg_alerting_link_get(m->a, fp, l->id, sizeof(l->id), &l->cond) != 1 ||
            (!shared && !wg__evals_has(m->srv->evals, l->id))) {
            l->cond = -1; /* none, unreadable, or dropped by retention: this tick's */
        }
        l->foreign = shared && l->cond >= 0;
    }
    l->seen = 1;
    if (l->cond != cond) {
        /* a new instance, or its condition changed: this tick is its evidence */
        l->cond = cond;
        l->dirty = 1;
        l->foreign = 0;
        snprintf(l->id, sizeof(l->id), "%s", t->id);
        t->changed = 1;
    }
    return wg__ui_link(t->cfg, l->id, t->url, sizeof(t->url)) ? t->url : NULL;
}

/* Write the links this tick changed to the alerting store (alert_links): a restart, a reload
 * or the next leader finds them there (link_url), so an alert keeps naming the evaluation that
 * changed it. A link that failed to write is kept in memory and written at its next change. */
static void links_save(struct wg__monitor *m, struct wg_alerting_link *gone, size_t ngone)
{
    size_t n = ngone;
    for (size_t i = 0; i < m->nlinks; i++) {
        n += m->links[i].dirty;
    }
    struct wg_alerting_link *v = n > ngone ? calloc(n, sizeof(*v)) : gone;
    if (!v) {
        v = gone; /* out of memory: the changes wait for their next change */
        n = ngone;
    } else if (v != gone) {
        if (ngone) {
            memcpy(v, gone, ngone * sizeof(*v));
        }
        n = ngone;
        for (size_t i = 0; i < m->nlinks; i++) {
            struct link *l = &m->links[i];
            if (l->dirty) {
                l->dirty = 0;
                v[n++] = (struct wg_alerting_link){l->fp, l->id, l->cond};
            }
        }
    }
    enum wg_err rc = wg_alerting_links_save(m->a, v, n);
    if (rc != WG_OK) {
        wg_log(WG_LOG_WARN, "monitor: cannot keep %zu alert evidence link(s): %s", n,
               wg_strerror(rc));
    }
    if (v != gone) {
        free(v);
    }
}

/* Feed one report to alerting with links to the evaluation pages: the tick is kept as an
 * evaluation (under the id its links name) when it changed an instance's condition. */
static enum wg_err observe(struct wg__monitor *m, const struct wg_config *cfg,
                           const struct wg_check_report *rep, int64_t now)
{
    if (!m->srv || !m->srv->evals) {
        return wg_gate_observe(m->a, rep, now); /* no pages: the wave's verdict link */
    }
    struct tick_links t = {.m = m, .cfg = cfg, .wave = hash_str(rep->wave)};
    if (wg__evals_new_id(t.id, sizeof(t.id)) != WG_OK) {
        return wg_gate_observe(m->a, rep, now);
    }
    /* An evidence that retention dropped (many evaluations since it fired) is made again:
     * this tick's becomes the link of the instances that named it. */
    for (size_t i = 0; i < m->nlinks; i++) {
        struct link *l = &m->links[i];
        l->seen = l->wave != t.wave;
        if (!l->seen && l->cond >= 0 && !l->foreign && !wg__evals_has(m->srv->evals, l->id)) {
            for (size_t k = i + 1; k < m->nlinks; k++) {
                m->links[k].cond = !strcmp(m->links[k].id, l->id) ? -1 : m->links[k].cond;
            }
            l->cond = -1;
        }
    }
    struct wg_gate_links gl = {link_url, &t};
    enum wg_err rc = wg_gate_observe_linked(m->a, rep, now, &gl);
    size_t k = 0, ngone = 0;
    struct wg_alerting_link *gone = calloc(m->nlinks ? m->nlinks : 1, sizeof(*gone));
    for (size_t i = 0; i < m->nlinks; i++) {
        if (m->links[i].seen) {
            m->links[k++] = m->links[i];
        } else if (gone) { /* (out of memory: its row stays, overwritten when it is back) */
            gone[ngone++] = (struct wg_alerting_link){m->links[i].fp, NULL, -1};
        }
    }
    m->nlinks = k;
    if (t.full) {
        wg_log(WG_LOG_WARN, "monitor: over %d alert instances: new ones carry no report_url",
               MAX_LINKS);
    }
    if (t.changed && wg__ui_monitor_record(m->srv, cfg, rep, t.id) != WG_OK) {
        /* The links name an evaluation that is not kept (its page says so): forget them, so
         * the next tick records its own and the alerts point at it. */
        for (size_t i = 0; i < m->nlinks; i++) {
            if (!strcmp(m->links[i].id, t.id)) {
                m->links[i].cond = -1;
            }
        }
    }
    links_save(m, gone, ngone);
    free(gone);
    return rc;
}

static const char *state_dir_of(const struct wg_config *cfg)
{
    /* The CLI (`wavegate silence add --config`) uses the top-level state_dir: so do we. */
    return cfg->state_dir; /* never NULL in a loaded config */
}

/* Evaluate every monitored wave at `now` (no lock held: queries take time) and feed the
 * reports in under the lock. */
static void evaluate(struct wg__monitor *m, int64_t now)
{
    const struct wg_config *cfg = m->gen->cfg;
    const struct wg_monitor *mo = &cfg->alerting->monitor;
    size_t nw = mo->nwaves ? mo->nwaves : cfg->nwaves;
    struct wg_check_report **reps = calloc(nw ? nw : 1, sizeof(*reps));
    if (!reps) {
        return;
    }
    pthread_mutex_unlock(&m->mu);
    /* one handle for the tick: its connections reused from the last tick's and the gate's */
    struct wg_http *http = m->srv ? wg__server_http_take(m->srv) : NULL;
    for (size_t i = 0; i < nw; i++) {
        char err[512] = "";
        struct wg_check_req req = {
            .wave = mo->nwaves ? mo->waves[i] : cfg->waves[i].name,
            .features = (const char *const *)mo->features,
            .nfeatures = mo->nfeatures,
            .now_ns = now,
            .record_history = 0, /* a tick is not a deploy: never `baseline: previous` history */
            .keep_series = m->srv && m->srv->evals, /* gate_server_ui.c */
            .http = http,
        };
        if (wg_gate_check(cfg, &req, &reps[i], err, sizeof(err)) != WG_OK) {
            wg_log(WG_LOG_ERROR, "monitor: wave %s: %s", req.wave, err);
            reps[i] = NULL;
        }
    }
    if (m->srv) {
        wg__server_http_give(m->srv, http);
    }
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < nw; i++) {
        enum wg_err orc = reps[i] && !m->stop ? observe(m, cfg, reps[i], now) : WG_OK;
        if (orc != WG_OK) {
            wg_log(WG_LOG_ERROR, "monitor: wave %s: %s", reps[i]->wave, wg_strerror(orc));
        }
        wg_check_report_free(reps[i]);
    }
    free(reps);
}

/* Sleep until wall_ns (at most MAX_IDLE_NS), a kick or stop. The condition variable runs on
 * the monotonic clock: a wall-clock step back of an hour does not stretch the sleep by an hour. */
static void wait_until(struct wg__monitor *m, int64_t wall_ns)
{
    int64_t d = wall_ns - wg_now_ns();
    if (d > MAX_IDLE_NS) {
        d = MAX_IDLE_NS;
    }
    int64_t until = wg_mono_ns() + (d > 0 ? d : 0);
    struct timespec ts = {(time_t)(until / WG_NS_PER_SEC), (long)(until % WG_NS_PER_SEC)};
    while (!m->stop && !m->kick && wg_mono_ns() < until) {
        if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) == ETIMEDOUT) {
            break;
        }
    }
}

static void *run(void *arg)
{
    struct wg__monitor *m = arg;
    pthread_mutex_lock(&m->mu);
    const struct wg_monitor *mo = &m->gen->cfg->alerting->monitor;
    int64_t next_eval = wg_now_ns();
    while (!m->stop) {
        int64_t now = wg_now_ns();
        if (mo->enabled && now >= next_eval) {
            if (wg__leader_monitor_turn()) { /* one replica evaluates (gate_server_leader.c) */
                evaluate(m, now);
            } else {
                m->nlinks = 0; /* the leader changes them: read again when this one leads */
            }
            next_eval += mo->interval_ns;
            if (next_eval <= now) {
                next_eval = now + mo->interval_ns; /* an evaluation overran: skip, no burst */
            }
            if (m->stop) {
                break;
            }
        }
        now = wg_now_ns();
        if (wg_alerting_next_tick(m->a) <= now) {
            /* A failed tick (the store refuses writes) is said once per change, counted and
             * retried after a backoff by alerting itself: not logged here per retry. */
            enum wg_err trc = wg_alerting_tick(m->a, now);
            (void)trc; /* see wg_alerting_degraded / wavegate_store_errors_total */
        }
        int64_t wake = wg_alerting_next_tick(m->a);
        if (mo->enabled && next_eval < wake) {
            wake = next_eval;
        }
        m->kick = 0;
        wait_until(m, wake);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* Open alerting for gen (under m->mu, thread stopped). */
static enum wg_err open_on(struct wg__monitor *m, struct wg__cfgref *gen, char *err, size_t errlen)
{
    const char *sd = state_dir_of(gen->cfg);
    enum wg_err rc = wg_alerting_new(gen->cfg->alerting, sd, NULL, &m->a, err, errlen);
    if (rc == WG_OK) {
        rc = wg_silence_store_open(sd, &m->sil, err, errlen);
    }
    if (rc == WG_OK) {
        m->stop = 0;
        m->kick = 0;
        m->gen = gen; /* before the thread starts: it reads the config from it */
        int e = pthread_create(&m->thr, NULL, run, m);
        if (e != 0) {
            snprintf(err, errlen, "cannot start the monitor thread: %s", strerror(e));
            rc = WG_EIO; /* EAGAIN / EPERM: not an allocation of ours */
        } else {
            m->running = 1;
        }
    }
    if (rc != WG_OK) {
        wg_silence_store_close(m->sil);
        wg_alerting_free(m->a);
        m->sil = NULL;
        m->a = NULL;
        m->gen = NULL;
        return rc;
    }
    atomic_fetch_add(&gen->refs, 1);
    const struct wg_monitor *mo = &gen->cfg->alerting->monitor;
    wg_log(WG_LOG_INFO, "alerting: %zu receiver(s); monitor %s", gen->cfg->alerting->nreceivers,
           mo->enabled ? "on" : "off (gate events only)");
    return WG_OK;
}

/* Stop the thread and close (m->mu not held). Drains the outbox until deadline first. */
static void close_down(struct wg__monitor *m, int64_t deadline_mono)
{
    pthread_mutex_lock(&m->mu);
    int running = m->running;
    m->stop = 1;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (running) {
        pthread_join(m->thr, NULL);
    }
    pthread_mutex_lock(&m->mu);
    m->running = 0;
    if (m->a) {
        size_t left = wg_alerting_drain(m->a, deadline_mono);
        if (left) {
            wg_log(WG_LOG_WARN,
                   "alerting: %zu notification(s) left in the outbox for the next "
                   "start",
                   left);
        }
    }
    wg_silence_store_close(m->sil);
    wg_alerting_free(m->a);
    wg__server_gen_put(m->gen);
    m->sil = NULL;
    m->a = NULL;
    m->gen = NULL;
    pthread_mutex_unlock(&m->mu);
}

enum wg_err wg__monitor_start(struct wg_server *s, char *err, size_t errlen)
{
    struct wg__cfgref *g = wg__server_gen_get(s);
    enum wg_err rc = WG_OK;
    if (!g->cfg->alerting || !g->cfg->alerting->enabled) {
        if (g->cfg->alerting && g->cfg->alerting->monitor.enabled) {
            wg_log(WG_LOG_WARN, "monitor: configured without an alerting: section; not started");
        }
        goto out;
    }
    struct wg__monitor *m = calloc(1, sizeof(*m));
    if (!m) {
        rc = WG_ENOMEM;
        goto out;
    }
    m->srv = s;
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* see wait_until */
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&m->mu);
    rc = open_on(m, g, err, errlen);
    pthread_mutex_unlock(&m->mu);
    if (rc != WG_OK) {
        pthread_mutex_destroy(&m->mu);
        pthread_cond_destroy(&m->cv);
        free(m);
        goto out;
    }
    s->mon = m;
out:
    wg__server_gen_put(g);
    return rc;
}

void wg__monitor_reload(struct wg_server *s)
{
    char err[512] = "";
    struct wg__cfgref *g = wg__server_gen_get(s);
    if (!s->mon) {
        if (g->cfg->alerting && g->cfg->alerting->enabled &&
            wg__monitor_start(s, err, sizeof(err)) != WG_OK) {
            wg_log(WG_LOG_ERROR, "alerting: not started after reload: %s", err);
        }
        wg__server_gen_put(g);
        return;
    }
    struct wg__monitor *m = s->mon;
    close_down(m, wg_mono_ns() + RELOAD_SETTLE_NS);
    if (g->cfg->alerting && g->cfg->alerting->enabled) {
        pthread_mutex_lock(&m->mu);
        if (open_on(m, g, err, sizeof(err)) != WG_OK) {
            wg_log(WG_LOG_ERROR, "alerting: cannot reopen after reload: %s", err);
        }
        pthread_mutex_unlock(&m->mu);
    } else {
        wg_log(WG_LOG_INFO, "alerting: removed from the config; stopped");
    }
    wg__server_gen_put(g);
}

void wg__monitor_drain(struct wg_server *s, int64_t deadline_mono)
{
    if (s->mon) {
        close_down(s->mon, deadline_mono);
    }
}

void wg__monitor_free(struct wg_server *s)
{
    struct wg__monitor *m = s->mon;
    if (!m) {
        return;
    }
    close_down(m, 0);
    free(m->links);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m);
    s->mon = NULL;
}

void wg__monitor_gate_event(struct wg_server *s, const struct wg_check_report *rep,
                            const char *eval_id)
{
    struct wg__monitor *m = s->mon;
    char url[1400];
    if (!m) {
        return;
    }
    pthread_mutex_lock(&m->mu);
    if (m->a && m->running) {
        /* the link of the answer's own evaluation (NULL: not kept, the wave's verdict) */
        const char *link =
            eval_id && eval_id[0] && m->gen && wg__ui_link(m->gen->cfg, eval_id, url, sizeof(url))
                ? url
                : NULL;
        enum wg_err rc = wg_gate_alert_event_linked(m->a, rep, wg_now_ns(), link);
        if (rc != WG_OK) {
            wg_log(WG_LOG_ERROR, "alerting: gate event for wave %s: %s", rep->wave,
                   wg_strerror(rc));
        }
        m->kick = 1; /* group_wait may be 0: tick now */
        pthread_cond_broadcast(&m->cv);
    }
    pthread_mutex_unlock(&m->mu);
}

void wg__monitor_metrics(struct wg_server *s, struct wg_buf *b)
{
    struct wg__monitor *m = s->mon;
    if (!m) {
        return;
    }
    pthread_mutex_lock(&m->mu);
    wg_alerting_metrics(m->a, b);
    pthread_mutex_unlock(&m->mu);
}

int wg__monitor_degraded(struct wg_server *s, unsigned long long *errors)
{
    struct wg__monitor *m = s->mon;
    int d = 0;
    *errors = 0;
    if (m) {
        pthread_mutex_lock(&m->mu);
        d = wg_alerting_degraded(m->a);
        *errors = (unsigned long long)wg_alerting_store_errors(m->a);
        pthread_mutex_unlock(&m->mu);
    }
    return d;
}

/* ---- /v1/silences -------------------------------------------------------------------------- */

enum MHD_Result wg__monitor_silences(struct wg_server *s, struct MHD_Connection *c,
                                     struct wg__server_req *r)
{
    struct wg__monitor *m = s->mon;
    char err[256] = "";
    enum MHD_Result ret;
    if (!m) {
        return wg__reply_error(s, c, 404, "alerting is not configured");
    }
    pthread_mutex_lock(&m->mu);
    if (!m->sil) {
        pthread_mutex_unlock(&m->mu);
        return wg__reply_error(s, c, 503, "alerting is restarting");
    }
    if (r->route == WG__R_SILENCE) {
        enum wg_err e = wg_silence_expire(m->sil, r->id, wg_now_ns());
        pthread_mutex_unlock(&m->mu);
        if (e == WG_ENOTFOUND) {
            return wg__reply_error(s, c, 404, "no silence with id %s", r->id);
        }
        return e == WG_OK ? wg__reply(s, c, 200, "application/json", "{}", 2)
                          : wg__reply_error(s, c, 500, "cannot expire the silence");
    }
    if (!r->method_post) {
        char *j = wg_silence_list_json(m->sil, wg_now_ns());
        pthread_mutex_unlock(&m->mu);
        ret = j ? wg__reply(s, c, 200, "application/json", j, strlen(j))
                : wg__reply_error(s, c, 500, "cannot read the silences");
        free(j);
        return ret;
    }
    struct wg_silence sil;
    if (wg_silence_from_json(r->body.p ? r->body.p : "", r->body.len, &sil, err, sizeof(err)) !=
        WG_OK) {
        pthread_mutex_unlock(&m->mu);
        return wg__reply_error(s, c, 400, "%s", err);
    }
    enum wg_err e = wg_silence_add(m->sil, &sil, wg_now_ns());
    m->kick = 1;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (e != WG_OK) {
        wg_silence_clear(&sil);
        return wg__reply_error(s, c, 500, "cannot store the silence");
    }
    char body[96];
    int n = snprintf(body, sizeof(body), "{\"silenceID\":\"%s\"}", sil.id);
    wg_silence_clear(&sil);
    return wg__reply(s, c, 200, "application/json", body, (size_t)n);
}

void wg__monitor_with(struct wg_server *s, void (*fn)(struct wg_alerting *a, void *arg), void *arg)
{
    struct wg__monitor *m = s->mon;
    if (!m) {
        return;
    }
    pthread_mutex_lock(&m->mu);
    if (m->a && m->running) {
        fn(m->a, arg);
        m->kick = 1;
        pthread_cond_broadcast(&m->cv);
    }
    pthread_mutex_unlock(&m->mu);
}

enum wg_err wg__monitor_overview(struct wg_server *s, char **alerts, char **silences)
{
    struct wg__monitor *m = s->mon;
    *alerts = *silences = NULL;
    if (!m) {
        return WG_ENOTFOUND;
    }
    pthread_mutex_lock(&m->mu);
    if (m->a && m->sil) {
        int64_t now = wg_now_ns();
        *alerts = wg_alerting_alerts_json(m->a, now);
        *silences = wg_silence_list_json(m->sil, now);
    }
    pthread_mutex_unlock(&m->mu);
    if (!*alerts || !*silences) {
        free(*alerts);
        free(*silences);
        *alerts = *silences = NULL;
        return WG_EIO; /* restarting, or out of memory: the page says so */
    }
    return WG_OK;
}
