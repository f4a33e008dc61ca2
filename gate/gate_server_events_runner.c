/* gate_server_events_runner.c — the events runner: one thread that takes due flip analyses
 * and kill-switch actions from the events store (claimed one at a time on a shared store),
 * looks at each flip (an evaluation of its feature in its wave), runs each action within its
 * rate limit, and polls Unleash to reconcile (gate_server_events.c). Also the flip planned for
 * a flag event, and the events' /metrics lines.
 */
#include "collector/collector.h"
#include "gate/gate_server_int.h"

#include "alerting/alerting.h"
#include "common/http.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- flip analyses and kill switches: one runner thread ------------------------------------ */

#define MAX_ATTEMPTS 8

struct wg__evrun {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    struct wg_http *h;
    atomic_ullong polls; /* store queries asking for due flips and actions (/metrics) */
};

static const struct wg_feature *find_feature(const struct wg_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nfeatures; i++) {
        if (!strcmp(cfg->features[i].name, name)) {
            return &cfg->features[i];
        }
    }
    return NULL;
}

struct flip_alert {
    const char *scope, *alertname, *severity, *summary;
    struct wg_action_ctx x;
};

static void flip_alert_fn(struct wg_alerting *a, void *arg)
{
    struct flip_alert *f = arg;
    if (wg_alerting_flip_event(a, f->scope, f->alertname, f->severity, &f->x, f->summary,
                               wg_now_ns()) != WG_OK) {
        wg_log(WG_LOG_ERROR, "alerting: %s for %s not raised", f->alertname, f->scope);
    }
}

static void flip_alert(struct wg_server *s, const char *scope, const char *alertname,
                       const char *severity, const struct wg_action_ctx *x, const char *summary)
{
    struct flip_alert f = {scope, alertname, severity, summary, *x};
    wg__monitor_with(s, flip_alert_fn, &f);
}

/* One look of a due flip analysis: the feature's rules in the flip's wave, the window after
 * the flip (anchored at it, like a deploy) against the rules' baselines before it. The look
 * ends by deadline (wg_mono_ns(); half the claim's lease after the claim): its holder records
 * it before the lease runs out and another replica may claim the flip, however the sources
 * hang (tests/unit/test_gate_deadline.c). A look the deadline cut could not evaluate: it
 * counts as today's error looks do. */
static void flip_look(struct wg_server *s, struct wg_flip *f, int64_t deadline)
{
    struct wg__cfgref *g = wg__server_gen_get(s);
    const struct wg_feature *feat = find_feature(g->cfg, f->feature);
    struct wg__params p;
    memset(&p, 0, sizeof(p));
    p.wave = wg_strdup(f->wave);
    p.features[0] = wg_strdup(f->feature);
    p.nfeatures = 1;
    p.deploy_ns = f->anchor_ns;
    p.deadline_mono_ns = deadline;
    struct wg__verdict *v = p.wave && p.features[0] ? wg__server_eval_now(s, g, &p) : NULL;
    enum wg_verdict mv = v && v->err == WG_OK ? v->verdict : WG_NOEVAL;
    char *link = wg__ui_report_url(v ? v->json : NULL); /* this look's page (gate_server_ui.c) */
    wg__verdict_put(v);
    wg__params_clear(&p);
    size_t nact = feat ? feat->non_fail : 0;
    enum wg_err lrc = wg_events_flip_look(s->events, f, mv, wg_now_ns(), nact);
    if (lrc == WG_ENOTFOUND) { /* shared store: the claim ran out (another replica has it) */
        wg_log(WG_LOG_WARN,
               "flip %s: look not recorded: the flip ended or another replica took it"
               " over",
               f->id);
    } else if (lrc != WG_OK) {
        wg_log(WG_LOG_ERROR, "flip %s: look not recorded (the store refuses writes)", f->id);
    } else if (!strcmp(f->status, "fail")) {
        char scope[80], summary[1024];
        snprintf(scope, sizeof(scope), "flip:%s", f->id);
        snprintf(summary, sizeof(summary),
                 "flag %s of feature %s failed its analysis in %s (%ld of %ld looks failed); "
                 "%zu kill-switch action(s) queued",
                 f->flag, f->feature, f->env, f->failures, f->looks, nact);
        struct wg_action_ctx x = {f->id, f->feature, f->flag, f->env, f->wave, "fail", 0, link};
        wg__ui_flip_link_set(s, f->id, link); /* its kill switches link the same evidence */
        flip_alert(s, scope, "WavegateFlipFailed", "critical", &x, summary);
        wg_log(WG_LOG_WARN,
               "flip %s: flag %s of feature %s in %s failed its analysis (%ld of "
               "%ld looks failed): %zu kill-switch action(s) queued",
               f->id, f->flag, f->feature, f->env, f->failures, f->looks, nact);
    } else {
        wg_log(WG_LOG_INFO, "flip %s: look %ld: %s -> %s", f->id, f->looks, wg_verdict_name(mv),
               f->status);
    }
    free(link);
    wg__server_gen_put(g);
}

/* 1 when the action is over its rate limit (act->rate_limit): held, never dropped — recorded
 * with why, alerted (WavegateActionHeld) and logged, due again when the window has room. */
static int rate_held(struct wg_server *s, struct wg_action_row *a, const struct wg_action *act,
                     int64_t now)
{
    long used = 0;
    int64_t oldest = 0;
    if (act->rate_max <= 0) {
        return 0;
    }
    if (wg_events_action_window(s->events, a, now - act->rate_per_ns, &used, &oldest) != WG_OK) {
        used = act->rate_max; /* the store cannot say: fail closed, hold */
        oldest = now;
    }
    if (used < act->rate_max) {
        return 0;
    }
    char per[64], why[512], scope[80];
    int64_t next = (oldest ? oldest : now) + act->rate_per_ns;
    snprintf(why, sizeof(why),
             "held by rate_limit: %ld flip(s) of feature %s acted on in the last %s (max %ld); "
             "due again in %llds",
             used, a->feature, wg_duration_format(act->rate_per_ns, per, sizeof(per)),
             act->rate_max, (long long)((next - now + WG_NS_PER_SEC - 1) / WG_NS_PER_SEC));
    if (wg_events_action_hold(s->events, a, why, now, next > now ? next : now + WG_NS_PER_SEC) !=
        WG_OK) {
        wg_log(WG_LOG_ERROR, "action %s#%d: the hold was not recorded", a->id, a->idx);
    }
    snprintf(scope, sizeof(scope), "action:%s#%d", a->id, a->idx);
    char *link = wg__ui_flip_link_get(s, a->id); /* the look that decided (its page) */
    struct wg_action_ctx x = {a->id, a->feature, a->flag, a->env, a->wave, "fail", a->idx, link};
    flip_alert(s, scope, "WavegateActionHeld", "warning", &x, why);
    free(link);
    wg_log(WG_LOG_WARN, "action %s#%d (flag %s in %s): %s", a->id, a->idx, a->flag, a->env, why);
    return 1;
}

static void run_action(struct wg_server *s, struct wg_http *h, struct wg_action_row *a)
{
    struct wg__cfgref *g = wg__server_gen_get(s);
    const struct wg_feature *feat = find_feature(g->cfg, a->feature);
    const struct wg_action *act =
        feat && (size_t)a->idx < feat->non_fail ? &feat->on_fail[a->idx] : NULL;
    char answer[1024] = "action no longer in the config";
    long status = 0;
    int64_t now = wg_now_ns();
    const char *st = "failed";
    int64_t next = now;
    if (act && rate_held(s, a, act, now)) {
        wg__server_gen_put(g);
        return;
    }
    if (act) {
        struct wg_action_ctx x = {a->id,   a->feature, a->flag, a->env,
                                  a->wave, "fail",     a->idx,  NULL};
        enum wg_err rc = wg_alerting_action_run(h, act, &x, &status, answer, sizeof(answer));
        int final =
            rc == WG_ECONFIG ||
            (rc == WG_EHTTP && status >= 400 && status < 500 && status != 408 && status != 429) ||
            a->attempts + 1 >= MAX_ATTEMPTS;
        st = rc == WG_OK ? (act->dry_run ? "dry_run" : "done") : final ? "failed" : "pending";
        int64_t back = (int64_t)WG_NS_PER_SEC << (a->attempts < 6 ? a->attempts : 6);
        next = now + back;
    }
    if (wg_events_action_attempt(s->events, a, st, status, answer, now, next) != WG_OK) {
        wg_log(WG_LOG_ERROR, "action %s#%d: attempt not recorded", a->id, a->idx);
    }
    /* a failing action is never silent: alerted (and logged); a done one is said too */
    if (strcmp(st, "pending")) {
        char scope[80], summary[1400];
        snprintf(scope, sizeof(scope), "action:%s#%d", a->id, a->idx);
        snprintf(summary, sizeof(summary), "kill switch %s for flag %s in %s: %s (HTTP %ld) %s",
                 act ? (act->kind == WG_ACTION_UNLEASH ? "unleash" : "webhook") : "-", a->flag,
                 a->env, st, status, answer);
        char *link = wg__ui_flip_link_get(s, a->id);
        struct wg_action_ctx x = {a->id,   a->feature, a->flag, a->env,
                                  a->wave, "fail",     a->idx,  link};
        int failed = !strcmp(st, "failed");
        flip_alert(s, scope, failed ? "WavegateActionFailed" : "WavegateActionDone",
                   failed ? "critical" : "info", &x, summary);
        free(link);
    }
    wg_log(!strcmp(st, "failed")   ? WG_LOG_ERROR
           : strcmp(st, "pending") ? WG_LOG_INFO
                                   : WG_LOG_WARN,
           "action %s#%d (%s, flag %s in %s): %s after attempt %ld (HTTP %ld) %s", a->id, a->idx,
           act ? (act->kind == WG_ACTION_UNLEASH ? "unleash" : "webhook") : "-", a->flag, a->env,
           st, a->attempts + 1, status, answer);
    wg__server_gen_put(g);
}
static void *evrun_main(void *arg)
{
    struct wg_server *s = arg;
    struct wg__evrun *r = s->evrun;
    int64_t next_poll = 0;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        if (r->stop) {
            break;
        }
        pthread_mutex_unlock(&r->mu);
        struct wg_flip flips[8];
        struct wg_action_row acts[8];
        size_t n = 0;
        /* Any replica: on a shared store due flips and actions are claimed, one replica each,
         * and one at a time, just before its look or its call: a claim's lease (30 s) covers
         * one look (or one action's 10 s call), not eight in a row. SQLite: eight at once. */
        size_t per = wg_events_shared(s->events) ? 1 : 8;
        for (size_t k = 0; k < 8; k += per) {
            atomic_fetch_add(&r->polls, 1);
            /* taken before the claim: the lease counts from no earlier than this */
            int64_t claimed = wg_mono_ns();
            if (wg_events_flip_due(s->events, wg_now_ns(), flips, per, &n) != WG_OK) {
                break;
            }
            for (size_t i = 0; i < n; i++) {
                /* shared: one claim, one look, inside its lease; SQLite (no claims, eight in a
                 * row): each look as long, so one hung source holds the runner no longer */
                int64_t from = per == 1 ? claimed : wg_mono_ns();
                flip_look(s, &flips[i], from + wg_events_lease_ns(s->events) / 2);
            }
            if (n < per) {
                break;
            }
        }
        struct wg__cfgref *g = wg__server_gen_get(s);
        /* On a shared store (backend postgres) only the leader reconciles: one poller is
         * enough (the events, their dedupe and the cursor are shared), and fewer requests to
         * Unleash (test_replicas_pg.sh, evshared). wg__leader_active is 1 on SQLite; a new
         * leader polls at once, from the shared cursor. */
        int poll = g->cfg->events.unleash_url && wg_mono_ns() >= next_poll && wg__leader_active();
        if (poll) {
            next_poll = wg_mono_ns() + g->cfg->events.unleash_poll_ns;
        }
        wg__server_gen_put(g);
        if (poll) {
            wg__gate_events_unleash_poll(s, r->h);
        }
        for (size_t k = 0; k < 8; k += per) {
            atomic_fetch_add(&r->polls, 1);
            if (wg_events_action_due(s->events, wg_now_ns(), acts, per, &n) != WG_OK) {
                break;
            }
            for (size_t i = 0; i < n; i++) {
                run_action(s, r->h, &acts[i]);
            }
            if (n < per) {
                break;
            }
        }
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

enum wg_err wg__gate_evrun_start(struct wg_server *s)
{
    struct wg__evrun *r = calloc(1, sizeof(*r));
    if (!r || !(r->h = wg_http_new())) {
        free(r);
        return WG_ENOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    s->evrun = r;
    if (pthread_create(&r->th, NULL, evrun_main, s) != 0) {
        s->evrun = NULL;
        wg_http_free(r->h);
        free(r);
        return WG_ENOMEM;
    }
    return WG_OK;
}

void wg__gate_evrun_stop(struct wg_server *s)
{
    struct wg__evrun *r = s->evrun;
    if (!r) {
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->th, NULL);
    wg_http_free(r->h);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
    s->evrun = NULL;
}

/* A flag turned on starts its feature's analysis in the event's wave; off ends it: planned
 * here, done in the event's own transaction (wg_events_record_flip). */
void wg__gate_events_flip_plan(const struct wg_config *cfg, const struct wg_event *ev,
                               struct wg_flip_rec *fr)
{
    const struct wg_feature *f = ev->feature ? find_feature(cfg, ev->feature) : NULL;
    memset(fr, 0, sizeof(*fr));
    if (ev->type != WG_EVENT_FLAG || !f) {
        return;
    }
    if (ev->state == WG_EVSTATE_OFF) {
        fr->op = WG_FLIP_CANCEL;
    } else if (ev->state == WG_EVSTATE_ON && ev->wave) {
        fr->op = WG_FLIP_START;
        fr->anchor_ns = ev->time_ns; /* 0: the time it is recorded */
        fr->interval_ns = f->flip.interval_ns;
        fr->count = f->flip.count;
        fr->failure_limit = f->flip.failure_limit;
    }
}

void wg__events_metrics(struct wg_server *s, struct wg_buf *b)
{
    if (s->evrun) {
        wg_buf_addf(b,
                    "# HELP wavegate_events_polls_total Store queries of the events runner "
                    "asking for due flip looks and kill-switch actions (two every 100 ms when none "
                    "is due).\n"
                    "# TYPE wavegate_events_polls_total counter\nwavegate_events_polls_total "
                    "%llu\n",
                    (unsigned long long)atomic_load(&s->evrun->polls));
    }
    if (!s->markers) {
        return;
    }
    struct wg_lp_writer_counts c;
    wg_lp_writer_counts(s->markers, &c);
    wg_buf_addf(b,
                "# HELP wavegate_markers_backlog Marker lines (events, verdicts, rules) kept "
                "for events.write_to, not yet written.\n# TYPE wavegate_markers_backlog gauge\n"
                "wavegate_markers_backlog %llu\n",
                c.backlog);
    wg_buf_addf(b,
                "# HELP wavegate_markers_total Marker lines by outcome: sent (taken by "
                "InfluxDB), failed (refused by it, not retried), dropped (over "
                "events.write_backlog, or not storable).\n# TYPE wavegate_markers_total counter\n"
                "wavegate_markers_total{outcome=\"sent\"} %llu\n"
                "wavegate_markers_total{outcome=\"failed\"} %llu\n"
                "wavegate_markers_total{outcome=\"dropped\"} %llu\n",
                c.written, c.failed, c.dropped);
    wg_buf_addf(b,
                "# HELP wavegate_markers_retries_total Marker batches that failed and were kept "
                "to be retried (InfluxDB down, 5xx, 429).\n# TYPE wavegate_markers_retries_total "
                "counter\nwavegate_markers_retries_total %llu\n",
                c.retries);
}
