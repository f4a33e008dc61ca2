/* gate_server_events.c — events in over HTTP: POST /v1/events (wavegate's own shape), GET
 * /v1/events (the newest stored), and the senders' own formats as adapters, one table of
 * operations (POST /v1/events/<adapter>): today the Unleash webhook addon's default body.
 * Each accepted event is recorded durably (gate_events.c) before the 202 with its id; a
 * marker goes out to events.write_to without blocking the answer (collector_write.c).
 */
#include "collector/collector.h"
#include "gate/gate_server_int.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* An adapter turns a sender's body into events: *n of them (0: nothing to record, answered
 * 200 with why), WG_EINVAL with err for a 400. */
struct wg__event_adapter {
    const char *name;
    enum wg_err (*parse)(const char *body, size_t len, struct wg_event *ev, int *n, char *why,
                         size_t whylen);
};

/* Unleash webhook addon, default body (JSON.stringify(event)): feature-environment-enabled /
 * -disabled flip the flag in `environment`; feature-strategy-update changes its rollout. */
static enum wg_err unleash_parse(const char *body, size_t len, struct wg_event *ev, int *n,
                                 char *why, size_t whylen)
{
    *n = 0;
    memset(ev, 0, sizeof(*ev));
    cJSON *o = cJSON_ParseWithLength(body, len);
    enum wg_err rc = WG_EINVAL;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "featureName");
    const cJSON *envn = cJSON_GetObjectItemCaseSensitive(o, "environment");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(o, "createdAt");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!cJSON_IsObject(o) || !cJSON_IsString(type)) {
        snprintf(why, whylen, "want an Unleash event object with a type");
        goto out;
    }
    const char *t = type->valuestring;
    if (!strcmp(t, "feature-environment-enabled")) {
        ev->state = WG_EVSTATE_ON;
    } else if (!strcmp(t, "feature-environment-disabled")) {
        ev->state = WG_EVSTATE_OFF;
    } else if (!strcmp(t, "feature-strategy-update") || !strcmp(t, "feature-strategy-add") ||
               !strcmp(t, "feature-strategy-remove")) {
        ev->state = WG_EVSTATE_CHANGED;
    } else {
        snprintf(why, whylen, "Unleash event type %.64s is not a flag flip", t);
        rc = WG_OK;
        goto out;
    }
    if (!cJSON_IsString(name) || !name->valuestring[0]) {
        snprintf(why, whylen, "featureName: want a string");
        goto out;
    }
    ev->type = WG_EVENT_FLAG;
    ev->flag = wg_strdup(name->valuestring);
    ev->env = cJSON_IsString(envn) ? wg_strdup(envn->valuestring) : NULL;
    ev->source = wg_strdup("unleash");
    if (cJSON_IsNumber(id)) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%.0f", id->valuedouble);
        ev->version = wg_strdup(buf); /* Unleash's event id, for the reconcile cursor */
    }
    if (cJSON_IsString(at) &&
        wg_time_parse(at->valuestring, strlen(at->valuestring), &ev->time_ns) != WG_OK) {
        snprintf(why, whylen, "createdAt: want RFC3339");
        goto out;
    }
    rc = !ev->flag || !ev->source || (cJSON_IsString(envn) && !ev->env) ? WG_ENOMEM : WG_OK;
    *n = rc == WG_OK;
out:
    cJSON_Delete(o);
    if (rc != WG_OK || !*n) {
        wg_event_clear(ev);
    }
    return rc;
}

static const struct wg__event_adapter adapters[] = {
    {"unleash", unleash_parse},
};

int wg__events_adapter(const char *name)
{
    for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++) {
        if (!strcmp(name, adapters[i].name)) {
            return (int)i;
        }
    }
    return -1;
}

enum wg_err wg__events_open(struct wg_server *s, char *err, size_t errlen)
{
    const struct wg_config *cfg = s->gen->cfg;
    enum wg_err rc = wg_events_open(cfg->state_dir, &s->events, err, errlen);
    if (rc != WG_OK || !cfg->events.write_to) {
        return rc;
    }
    for (size_t i = 0; i < cfg->nsources; i++) {
        if (!strcmp(cfg->sources[i].name, cfg->events.write_to)) {
            s->markers_gen = wg__server_gen_get(s);
            rc = wg_lp_writer_new(&cfg->sources[i], 0, cfg->events.flush_ns, &s->markers);
            if (rc != WG_OK) {
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
    wg_lp_writer_free(s->markers); /* flushes what is queued */
    s->markers = NULL;
    if (s->markers_gen) {
        wg__server_gen_put(s->markers_gen);
        s->markers_gen = NULL;
    }
    wg_events_close(s->events);
    s->events = NULL;
}

void wg__events_marker(struct wg_server *s, const struct wg__cfgref *gen, const struct wg_event *ev,
                       const char *id, int64_t now_ns)
{
    (void)gen;
    if (!s->markers) {
        return;
    }
    struct wg_buf b;
    struct wg_lp lp;
    wg_buf_init(&b, 64 * 1024);
    wg_lp_begin(&lp, &b, "wavegate_events");
    wg_lp_tag(&lp, "type", wg_event_type_names[ev->type]);
    wg_lp_tag(&lp, "wave", ev->wave);
    wg_lp_tag(&lp, "env", ev->env);
    wg_lp_tag(&lp, "feature", ev->feature);
    wg_lp_tag(&lp, "state", ev->state ? wg_event_state_names[ev->state] : NULL);
    wg_lp_tag(&lp, "source", ev->source);
    char *title =
        wg_asprintf("%s %s%s%s", wg_event_type_names[ev->type],
                    ev->feature ? ev->feature
                    : ev->wave  ? ev->wave
                                : "",
                    ev->state ? " " : "", ev->state ? wg_event_state_names[ev->state] : "");
    wg_lp_str(&lp, "title", title ? title : "");
    wg_lp_str(&lp, "id", id);
    wg_lp_str(&lp, "flag", ev->flag);
    wg_lp_str(&lp, "version", ev->version);
    free(title);
    if (wg_lp_end(&lp, ev->time_ns ? ev->time_ns : now_ns) == WG_OK) {
        (void)wg_lp_writer_add(s->markers, b.p, b.len); /* a full queue is counted there */
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
    for (size_t i = 0; rc == WG_OK && i < rep->nrules; i++) {
        const struct wg_rule_report *rr = &rep->rules[i];
        const struct wg_threshold *t = &rr->p.threshold;
        wg_lp_begin(&lp, &b, "wavegate_rules");
        wg_lp_tag(&lp, "wave", rep->wave);
        wg_lp_tag(&lp, "env", rep->env);
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
        (void)wg_lp_writer_add(s->markers, b.p, b.len);
    } else {
        wg_log(WG_LOG_WARN, "markers: verdict of wave %s not written: %s", rep->wave,
               wg_strerror(rc));
    }
    wg_buf_free(&b);
}

/* Record ev and answer 202 {"id":...}. */
static enum MHD_Result accept_event(struct wg_server *s, struct MHD_Connection *c,
                                    struct wg__req *r, struct wg_event *ev)
{
    char id[48], err[512] = "";
    wg_event_resolve(r->gen->cfg, ev);
    int64_t now = wg_now_ns();
    if (!s->events || wg_events_record(s->events, ev, now, id, err, sizeof(err)) != WG_OK) {
        wg_log(WG_LOG_ERROR, "events: not recorded: %s", err[0] ? err : "no event store");
        return wg__reply_error(s, c, 503, "event not recorded: %s",
                               err[0] ? err : "no event store");
    }
    wg_log(WG_LOG_INFO, "event %s: %s %s wave %s env %s feature %s", id,
           wg_event_type_names[ev->type], ev->state ? wg_event_state_names[ev->state] : "-",
           ev->wave ? ev->wave : "-", ev->env ? ev->env : "-", ev->feature ? ev->feature : "-");
    wg__events_marker(s, r->gen, ev, id, now);
    char body[96];
    int n = snprintf(body, sizeof(body), "{\"id\":\"%s\"}", id);
    atomic_fetch_add(&s->m.requests[WG__C_OTHER][WG_FAIL + 1], 1);
    return wg__reply(s, c, 202, "application/json", body, (size_t)n);
}

enum MHD_Result wg__events_route(struct wg_server *s, struct MHD_Connection *c, struct wg__req *r)
{
    char err[512] = "";
    const char *body = r->body.p ? r->body.p : "";
    if (r->route == WG__R_EVENTS && !r->method_post) {
        char *json = NULL;
        if (!s->events || wg_events_list_json(s->events, 100, &json, err, sizeof(err)) != WG_OK) {
            return wg__reply_error(s, c, 503, "events: %s", err[0] ? err : "no event store");
        }
        enum MHD_Result ret = wg__reply(s, c, 200, "application/json", json, strlen(json));
        free(json);
        return ret;
    }
    struct wg_event ev;
    enum wg_err rc;
    int n = 1;
    if (r->route == WG__R_EVENTS) {
        rc = wg_event_from_json(body, r->body.len, &ev, err, sizeof(err));
    } else {
        rc = adapters[r->hook].parse(body, r->body.len, &ev, &n, err, sizeof(err));
    }
    if (rc == WG_ENOMEM) {
        return wg__reply_error(s, c, 500, "out of memory");
    }
    if (rc != WG_OK) {
        wg_log(WG_LOG_WARN, "events: refused: %s", err);
        return wg__reply_error(s, c, 400, "%s", err);
    }
    if (n == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "ignored", err);
        char *json = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        enum MHD_Result ret = json ? wg__reply(s, c, 200, "application/json", json, strlen(json))
                                   : wg__reply_error(s, c, 500, "out of memory");
        free(json);
        return ret;
    }
    enum MHD_Result ret = accept_event(s, c, r, &ev);
    wg_event_clear(&ev);
    return ret;
}

unsigned wg__events_body_check(const uint8_t *data, size_t size, char *err, size_t errlen)
{
    struct wg_event ev;
    enum wg_err rc = wg_event_from_json((const char *)data, size, &ev, err, errlen);
    wg_event_clear(&ev);
    return rc == WG_OK ? 0 : rc == WG_ENOMEM ? 500 : 400;
}
