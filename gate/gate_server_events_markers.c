/* gate_server_events_markers.c — the events store's lifetime (events.db, its runner and the
 * marker writer) and the markers for events.write_to: an event's marker stored in the event's
 * own transaction, and each verdict's and rule result's points (collector_write.c sends them).
 */
#include "collector/collector.h"
#include "gate/gate_server_int.h"

#include <stdlib.h>
#include <string.h>

/* The markers' outbox: the durable writer's store is the events store (gate_events.c). An
 * event's marker is stored by the store's committer in the event's own transaction; the
 * writer is told of it (wg_lp_writer_add_stored) with this thread's puts already done. */
static _Thread_local int put_done;

static enum wg_err store_put(void *ctx, const char *lines, size_t len, unsigned long long n)
{
    return put_done ? WG_OK : wg_events_marker_put(ctx, lines, len, n);
}

static enum wg_err hook_build(void *arg, const struct wg_event *ev, const char *id, int64_t now_ns,
                              struct wg_buf *out);
static void hook_stored(void *arg, const char *lines, size_t len);

enum wg_err wg__events_open(struct wg_server *s, char *err, size_t errlen)
{
    const struct wg_config *cfg = s->gen->cfg;
    enum wg_err rc = wg_events_open(cfg->state_dir, &s->events, err, errlen);
    if (rc == WG_OK) {
        rc = wg__gate_evrun_start(s);
    }
    if (rc != WG_OK || !cfg->events.write_to) {
        return rc;
    }
    for (size_t i = 0; i < cfg->nsources; i++) {
        if (!strcmp(cfg->sources[i].name, cfg->events.write_to)) {
            s->markers_gen = wg__server_gen_get(s);
            struct wg_lp_store st;
            wg_events_marker_store(s->events, &st);
            st.put = store_put; /* an event's marker: stored already, in its transaction */
            rc = wg_lp_writer_new_store(&cfg->sources[i], &st,
                                        (unsigned long long)cfg->events.write_backlog,
                                        cfg->events.flush_ns, &s->markers);
            if (rc == WG_OK) {
                struct wg_events_marker_hook hook = {hook_build, hook_stored, s};
                wg_events_marker_hook(s->events, &hook);
            } else {
                snprintf(err, errlen, "events.write_to: cannot start the writer: %s",
                         wg_strerror(rc));
            }
            return rc;
        }
    }
    return WG_OK; /* the loader rejects an unknown name */
}

void wg__events_close(struct wg_server *s)
{
    wg__gate_evrun_stop(s);
    if (s->events) {
        wg_events_marker_hook(s->events, NULL); /* no batch uses the writer after this */
    }
    wg_lp_writer_free(s->markers); /* flushes what is queued */
    s->markers = NULL;
    if (s->markers_gen) {
        wg__server_gen_put(s->markers_gen);
        s->markers_gen = NULL;
    }
    wg_events_close(s->events);
    s->events = NULL;
}

/* A fleet target's tags: target and its labels (cloud, region, ...), a label named like one
 * of the markers' own tags left out (it would shadow it). */
static void target_tags(struct wg_lp *lp, const char *name, const struct wg_target *t)
{
    static const char *const own[] = {"type",   "wave", "env",     "feature", "state",
                                      "source", "rule", "verdict", "target"};
    wg_lp_tag(lp, "target", name);
    for (size_t i = 0; t && i < t->nlabels; i++) {
        int clash = 0;
        for (size_t k = 0; k < sizeof(own) / sizeof(own[0]); k++) {
            clash |= !strcmp(own[k], t->labels[i].key);
        }
        if (!clash) {
            wg_lp_tag(lp, t->labels[i].key, t->labels[i].value);
        }
    }
}

/* One wavegate_events point: the event's, or (target set) one target's deploy at t_ns. */
static enum wg_err marker_point(struct wg_buf *b, const struct wg_event *ev, const char *id,
                                const char *target, const struct wg_target *t, int64_t t_ns)
{
    struct wg_lp lp;
    wg_lp_begin(&lp, b, "wavegate_events");
    wg_lp_tag(&lp, "type", wg_event_type_names[ev->type]);
    wg_lp_tag(&lp, "wave", ev->wave);
    wg_lp_tag(&lp, "env", t && t->env ? t->env : ev->env);
    wg_lp_tag(&lp, "feature", ev->feature);
    wg_lp_tag(&lp, "state", ev->state ? wg_event_state_names[ev->state] : NULL);
    wg_lp_tag(&lp, "source", ev->source);
    if (target) {
        target_tags(&lp, target, t);
    }
    char *title = wg_asprintf("%s %s%s%s%s%s", wg_event_type_names[ev->type],
                              ev->feature ? ev->feature
                              : ev->wave  ? ev->wave
                                          : "",
                              target ? " " : "", target ? target : "", ev->state ? " " : "",
                              ev->state ? wg_event_state_names[ev->state] : "");
    wg_lp_str(&lp, "title", title ? title : "");
    wg_lp_str(&lp, "id", id);
    wg_lp_str(&lp, "flag", ev->flag);
    wg_lp_str(&lp, "version", ev->version);
    free(title);
    return wg_lp_end(&lp, t_ns);
}

/* The event's marker; a fleet deploy's carries its target (tag target, the target's labels);
 * per-target deploy times add one marker per named target at its own time. */
static enum wg_err marker_lines(const struct wg__cfgref *gen, const struct wg_event *ev,
                                const char *id, int64_t now_ns, struct wg_buf *b)
{
    const struct wg_wave *w =
        gen && gen->cfg && ev->wave ? wg_config_wave(gen->cfg, ev->wave) : NULL;
    int64_t t0 = ev->time_ns ? ev->time_ns : now_ns;
    enum wg_err rc = marker_point(b, ev, id, ev->target,
                                  w && ev->target ? wg_config_target(w, ev->target) : NULL, t0);
    for (size_t i = 0; rc == WG_OK && i < ev->ndeploy_times; i++) {
        const char *name = ev->deploy_times[i].target;
        rc = marker_point(b, ev, id, name, w ? wg_config_target(w, name) : NULL,
                          ev->deploy_times[i].ns);
    }
    return rc;
}

/* The store's committer builds an event's marker inside the event's transaction (the config
 * of now: a fleet target's labels) and tells the writer before the commit. */
static enum wg_err hook_build(void *arg, const struct wg_event *ev, const char *id, int64_t now_ns,
                              struct wg_buf *out)
{
    struct wg_server *s = arg;
    struct wg__cfgref *gen = wg__server_gen_get(s);
    wg_buf_init(out, 64 * 1024 + 2048 * ev->ndeploy_times);
    enum wg_err rc = marker_lines(gen, ev, id, now_ns, out);
    wg__server_gen_put(gen);
    return rc;
}

static void hook_stored(void *arg, const char *lines, size_t len)
{
    struct wg_server *s = arg;
    put_done = 1;
    enum wg_err rc = wg_lp_writer_add_stored(s->markers, lines, len);
    put_done = 0;
    if (rc != WG_OK) {
        wg_log(WG_LOG_ERROR, "markers: the writer was not told of a stored marker: %s",
               wg_strerror(rc));
    }
}

void wg__events_marker(struct wg_server *s, const struct wg__cfgref *gen, const struct wg_event *ev,
                       const char *id, int64_t now_ns)
{
    if (!s->markers) {
        return;
    }
    struct wg_buf b;
    wg_buf_init(&b, 64 * 1024 + 2048 * ev->ndeploy_times);
    enum wg_err rc = marker_lines(gen, ev, id, now_ns, &b);
    if (rc == WG_OK) {
        /* stored before the answer (the event itself is): a kill loses neither */
        enum wg_err arc = wg_lp_writer_add_stored(s->markers, b.p, b.len);
        if (arc != WG_OK) {
            wg_log(WG_LOG_ERROR, "markers: event %s's marker not stored: %s", id, wg_strerror(arc));
        }
    }
    wg_buf_free(&b);
}

void wg__events_verdict(struct wg_server *s, const struct wg_check_report *rep, int64_t now_ns)
{
    if (!s || !s->markers || !rep) {
        return;
    }
    struct wg_buf b;
    struct wg_lp lp;
    wg_buf_init(&b, 4u << 20);
    wg_lp_begin(&lp, &b, "wavegate_verdicts");
    wg_lp_tag(&lp, "wave", rep->wave);
    wg_lp_tag(&lp, "env", rep->env);
    wg_lp_tag(&lp, "verdict", wg_verdict_name(rep->verdict));
    wg_lp_int(&lp, "rules", (long long)rep->nrules);
    wg_lp_int(&lp, "judged", (long long)rep->njudged);
    wg_lp_str(&lp, "reason", rep->reason);
    enum wg_err rc = wg_lp_end(&lp, now_ns);
    /* a fleet answer: one more verdict point per target, and each rule point tagged with its
     * target (else the targets' points of a rule, one series and one time, would be one) */
    for (size_t i = 0; rc == WG_OK && rep->fleet && i < rep->ntargets; i++) {
        const struct wg_target_report *tr = &rep->targets[i];
        wg_lp_begin(&lp, &b, "wavegate_verdicts");
        wg_lp_tag(&lp, "wave", rep->wave);
        wg_lp_tag(&lp, "env", tr->env ? tr->env : rep->env);
        target_tags(&lp, tr->name, tr->target);
        wg_lp_tag(&lp, "verdict", wg_verdict_name(tr->verdict));
        wg_lp_int(&lp, "rules", (long long)tr->nrules);
        wg_lp_int(&lp, "judged", (long long)tr->njudged);
        wg_lp_str(&lp, "reason", tr->reason);
        rc = wg_lp_end(&lp, now_ns);
    }
    for (size_t i = 0; rc == WG_OK && i < rep->nrules; i++) {
        const struct wg_rule_report *rr = &rep->rules[i];
        const struct wg_threshold *t = &rr->p.threshold;
        const struct wg_target_report *tr =
            rep->fleet && rr->target < rep->ntargets ? &rep->targets[rr->target] : NULL;
        wg_lp_begin(&lp, &b, "wavegate_rules");
        wg_lp_tag(&lp, "wave", rep->wave);
        wg_lp_tag(&lp, "env", tr && tr->env ? tr->env : rep->env);
        if (tr) {
            target_tags(&lp, tr->name, tr->target);
        }
        wg_lp_tag(&lp, "feature", rr->feature ? rr->feature->name : NULL);
        wg_lp_tag(&lp, "rule", rr->rule ? rr->rule->name : NULL);
        wg_lp_tag(&lp, "verdict", wg_verdict_name(rr->res.verdict));
        if (rr->res.has_value) {
            wg_lp_float(&lp, "value", rr->res.value);
        }
        if (t->has_max || t->has_min) {
            wg_lp_float(&lp, "threshold", t->has_max ? t->max : t->min);
        }
        if (rr->res.has_baseline) {
            wg_lp_float(&lp, "baseline", rr->res.baseline);
        }
        if (rr->res.has_mw) {
            wg_lp_float(&lp, "p_value", rr->res.mw.p_value);
        }
        wg_lp_int(&lp, "samples", (long long)rr->res.samples);
        wg_lp_str(&lp, "reason", rr->res.reason);
        rc = wg_lp_end(&lp, now_ns);
    }
    if (rc == WG_OK) {
        rc = wg_lp_writer_add(s->markers, b.p, b.len); /* a full queue is counted there */
    } else {
        wg_log(WG_LOG_WARN, "markers: verdict of wave %s not written: %s", rep->wave,
               wg_strerror(rc));
    }
    wg_buf_free(&b);
}
