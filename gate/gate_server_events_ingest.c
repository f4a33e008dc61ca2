/* gate_server_events_ingest.c — recording an event: resolved, checked against the fleet, its
 * flip planned, stored (an HTTP event through the store's committer with its connection
 * suspended, gate_server_events.c; the reconcile poll waiting), then logged and its wave's bake
 * analysis started. A marker goes out to events.write_to with it (gate_server_events_markers.c).
 */
#include "gate/gate_server_int.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static void add_limit(cJSON *o, const char *k, long v)
{
    if (v >= 0) {
        cJSON_AddNumberToObject(o, k, (double)v);
    }
}

/* A deploy of a wave with `bake:` starts its bake-time analysis (the analyses of POST
 * /v1/analyses: measured every interval for duration, resumed after a restart) anchored at the
 * event's time; its id is kept as events_kv "bake:<event id>". */
static void bake_event(struct wg_server *s, struct wg__cfgref *gen, const struct wg_event *ev,
                       const char *id, int64_t now)
{
    const struct wg_wave *w = ev->wave ? wg_config_wave(gen->cfg, ev->wave) : NULL;
    if (ev->type != WG_EVENT_DEPLOY || !w || !w->bake.present) {
        return;
    }
    char t[64], iv[64], du[64];
    cJSON *o = cJSON_CreateObject();
    cJSON *lim = cJSON_AddObjectToObject(o, "limits");
    cJSON_AddStringToObject(o, "wave", w->name);
    if (ev->version && ev->version[0] && strlen(ev->version) < 256) {
        cJSON_AddStringToObject(o, "deploy_id", ev->version); /* /v1/gate of it reads this */
    }
    cJSON_AddStringToObject(o, "deploy_time",
                            wg_time_format(ev->time_ns ? ev->time_ns : now, t, sizeof(t)));
    if (ev->target) { /* one target of a fleet deployed: its analysis judges it alone */
        cJSON_AddStringToObject(o, "target", ev->target);
    }
    cJSON *dts = ev->ndeploy_times ? cJSON_AddObjectToObject(o, "deploy_times") : NULL;
    for (size_t i = 0; dts && i < ev->ndeploy_times; i++) {
        cJSON_AddStringToObject(dts, ev->deploy_times[i].target,
                                wg_time_format(ev->deploy_times[i].ns, t, sizeof(t)));
    }
    cJSON_AddStringToObject(o, "interval", wg_duration_format(w->bake.interval_ns, iv, sizeof(iv)));
    cJSON_AddStringToObject(o, "duration", wg_duration_format(w->bake.duration_ns, du, sizeof(du)));
    add_limit(lim, "failure_limit", w->bake.failure_limit);
    add_limit(lim, "consecutive_failures", w->bake.consecutive_failures);
    add_limit(lim, "inconclusive_limit", w->bake.inconclusive_limit);
    add_limit(lim, "error_limit", w->bake.error_limit);
    char *spec = o ? cJSON_PrintUnformatted(o) : NULL, *ans = NULL;
    cJSON_Delete(o);
    unsigned st = spec ? wg__analyses_create(s, gen, spec, strlen(spec), &ans) : 500;
    cJSON *a = ans ? cJSON_Parse(ans) : NULL;
    const cJSON *aid = cJSON_GetObjectItemCaseSensitive(a, "id");
    if (st == 201 && cJSON_IsString(aid)) {
        char key[80];
        snprintf(key, sizeof(key), "bake:%s", id);
        if (wg_events_kv_set(s->events, key, aid->valuestring) != WG_OK) {
            wg_log(WG_LOG_ERROR, "event %s: bake analysis %s not linked", id, aid->valuestring);
        }
        wg_log(WG_LOG_INFO, "event %s: bake analysis %s started for wave %s", id, aid->valuestring,
               w->name);
    } else {
        wg_log(WG_LOG_ERROR, "event %s: bake analysis not started (%u): %s", id, st,
               ans ? ans : "out of memory");
    }
    cJSON_Delete(a);
    free(ans);
    free(spec);
}

/* A deploy naming targets names targets of its wave (known: the list), never recorded
 * otherwise: a bake analysis of an unknown target would only fail later, in a log. */
static enum wg_err fleet_check(const struct wg_config *cfg, const struct wg_event *ev, char *err,
                               size_t errlen)
{
    if (!ev->target && !ev->ndeploy_times) {
        return WG_OK;
    }
    const struct wg_wave *w = ev->wave ? wg_config_wave(cfg, ev->wave) : NULL;
    char known[512];
    if (!w || !w->ntargets) {
        snprintf(err, errlen, "%s: wave %s has no targets", ev->target ? "target" : "deploy_times",
                 ev->wave ? ev->wave : "(none)");
        return WG_EINVAL;
    }
    for (size_t i = 0; i <= ev->ndeploy_times; i++) {
        const char *name = i < ev->ndeploy_times ? ev->deploy_times[i].target : ev->target;
        if (name && !wg_config_target(w, name)) {
            wg_gate_target_names(w, known, sizeof(known));
            snprintf(err, errlen, "%s: unknown target \"%.64s\" of wave %s (known: %s)",
                     ev->target ? "target" : "deploy_times", name, w->name, known);
            return WG_EINVAL;
        }
    }
    return WG_OK;
}

/* Before the store: resolve, check against the fleet, plan the flip (WG_EINVAL: refused). */
static enum wg_err ingest_pre(struct wg_server *s, struct wg__cfgref *gen, struct wg_event *ev,
                              struct wg_flip_rec *fr, char *err, size_t errlen)
{
    wg_event_resolve(gen->cfg, ev);
    if (fleet_check(gen->cfg, ev, err, errlen) != WG_OK) {
        return WG_EINVAL;
    }
    if (!s->events) {
        snprintf(err, errlen, "no event store");
        return WG_EIO;
    }
    wg__gate_events_flip_plan(gen->cfg, ev, fr);
    return WG_OK;
}

/* After the store committed it (not a duplicate): log, mark and act. */
static void ingest_post(struct wg_server *s, struct wg__cfgref *gen, const struct wg_event *ev,
                        const struct wg_flip_rec *fr, const char *id, int64_t now)
{
    wg_log(WG_LOG_INFO, "event %s: %s %s wave %s env %s feature %s (%s)", id,
           wg_event_type_names[ev->type], ev->state ? wg_event_state_names[ev->state] : "-",
           ev->wave ? ev->wave : "-", ev->env ? ev->env : "-", ev->feature ? ev->feature : "-",
           ev->source ? ev->source : "-");
    /* its marker was stored with it, in its transaction (wg_events_marker_hook) */
    if (fr->op == WG_FLIP_CANCEL && fr->cancelled) {
        wg_log(WG_LOG_INFO, "flag %s off in %s: %d analysis(es) ended", ev->flag,
               ev->env ? ev->env : "-", fr->cancelled);
    }
    bake_event(s, gen, ev, id, now);
}

/* Resolve, record, mark and act on one event, waiting for the store: the reconcile poll. An
 * event of a source and version already stored: *dup = 1, id the stored one, nothing done. */
enum wg_err wg__gate_events_ingest(struct wg_server *s, struct wg__cfgref *gen, struct wg_event *ev,
                                   int *dup, char id[48], char *err, size_t errlen)
{
    struct wg_flip_rec fr;
    enum wg_err rc = ingest_pre(s, gen, ev, &fr, err, errlen);
    if (rc != WG_OK) {
        return rc;
    }
    int64_t now = wg_now_ns();
    rc = wg_events_record_flip(s->events, ev, now, &fr, dup, id, err, errlen);
    if (rc != WG_OK) {
        wg_log(WG_LOG_ERROR, "events: not recorded: %s", err);
        return rc;
    }
    if (!*dup) {
        ingest_post(s, gen, ev, &fr, id, now);
    }
    return WG_OK;
}

/* An HTTP event on its way through the store's committer: its connection is suspended until
 * the transaction holding it is committed, so the MHD thread serves other connections (and
 * other events join the batch) meanwhile; the resumed call answers
 * (wg__gate_events_accept_done). */
struct wg__evjob {
    struct MHD_Connection *c;
    struct wg_event ev;
    struct wg_flip_rec fr;
    int dup;
    int64_t now;
    enum wg_err rc;
    char id[48];
    char err[512];
};

void wg__events_job_free(struct wg__evjob *j)
{
    if (j) {
        wg_event_clear(&j->ev);
        free(j);
    }
}

static void evjob_done(void *arg, enum wg_err rc)
{
    struct wg__evjob *j = arg;
    j->rc = rc;
    MHD_resume_connection(j->c); /* j belongs to the connection's handler from here */
}

/* The resumed call: answer 202 {"id":...} (a duplicate 200, a failed commit 503). */
enum MHD_Result wg__gate_events_accept_done(struct wg_server *s, struct MHD_Connection *c,
                                            struct wg__server_req *r)
{
    struct wg__evjob *j = r->evjob;
    r->evjob = NULL;
    enum MHD_Result ret;
    if (j->rc != WG_OK) {
        wg_log(WG_LOG_ERROR, "events: not recorded: %s", j->err);
        ret = wg__reply_error(s, c, 503, "event not recorded: %s", j->err);
        goto out;
    }
    if (j->dup) {
        char d[120];
        int dl = snprintf(d, sizeof(d), "{\"duplicate\":true,\"id\":\"%s\"}", j->id);
        ret = wg__reply(s, c, 200, "application/json", d, (size_t)dl);
        goto out;
    }
    ingest_post(s, r->gen, &j->ev, &j->fr, j->id, j->now);
    char body[200], key[80], *an = NULL;
    snprintf(key, sizeof(key), "bake:%s", j->id);
    /* only a deploy can start a bake analysis: a flag event does not wait on the store again */
    int n = j->ev.type == WG_EVENT_DEPLOY && wg_events_kv_get(s->events, key, &an) == WG_OK
                ? snprintf(body, sizeof(body), "{\"id\":\"%s\",\"analysis\":\"%.64s\"}", j->id, an)
                : snprintf(body, sizeof(body), "{\"id\":\"%s\"}", j->id);
    free(an);
    atomic_fetch_add(&s->m.requests[WG__C_OTHER][WG_FAIL + 1], 1);
    ret = wg__reply(s, c, 202, "application/json", body, (size_t)n);
out:
    wg__events_job_free(j);
    return ret;
}

/* Check ev, then hand it to the committer with the connection suspended (ev is taken). */
enum MHD_Result wg__gate_events_accept(struct wg_server *s, struct MHD_Connection *c,
                                       struct wg__server_req *r, struct wg_event *ev)
{
    struct wg__evjob *j = calloc(1, sizeof(*j));
    if (!j) {
        return wg__reply_error(s, c, 500, "out of memory");
    }
    j->c = c;
    j->ev = *ev;
    memset(ev, 0, sizeof(*ev));
    enum wg_err rc = ingest_pre(s, r->gen, &j->ev, &j->fr, j->err, sizeof(j->err));
    if (rc != WG_OK) {
        enum MHD_Result ret = rc == WG_EINVAL
                                  ? wg__reply_error(s, c, 400, "%s", j->err)
                                  : wg__reply_error(s, c, 503, "event not recorded: %s", j->err);
        wg__events_job_free(j);
        return ret;
    }
    j->now = wg_now_ns();
    r->evjob = j;
    MHD_suspend_connection(c); /* before the committer can resume it */
    rc = wg_events_submit(s->events, &j->ev, j->now, &j->fr, &j->dup, j->id, j->err, sizeof(j->err),
                          evjob_done, j);
    if (rc != WG_OK) {
        snprintf(j->err, sizeof(j->err), "%s", wg_strerror(rc));
        evjob_done(j, rc);
    }
    return MHD_YES;
}
