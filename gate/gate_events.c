/* gate_events.c — the event model: deploys and flag flips as POST /v1/events and `wavegate
 * event` take them, parsed (one JSON entry point, fuzzable), resolved against the config (flag
 * key → feature through features.<name>.flag, env → wave through the wave's env), and the stored
 * events read back (list, key/values, seen). The store itself (open, group commit) is
 * gate_events_store.c; flips and actions gate_events_flips.c; the markers' outbox
 * gate_events_markers.c.
 */
#include "gate/gate_events_int.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *const wg_event_type_names[2] = {"deploy", "flag"};
const char *const wg_event_state_names[4] = {"", "on", "off", "changed"};

void wg_event_clear(struct wg_event *ev)
{
    if (!ev) {
        return;
    }
    free(ev->wave);
    free(ev->env);
    free(ev->feature);
    free(ev->flag);
    free(ev->version);
    free(ev->source);
    free(ev->target);
    for (size_t i = 0; i < ev->ndeploy_times; i++) {
        free((char *)ev->deploy_times[i].target);
    }
    free(ev->deploy_times);
    memset(ev, 0, sizeof(*ev));
}

/* A string member: absent or null leaves *dst NULL; anything but a non-empty string is an
 * error. */
static enum wg_err str_member(const cJSON *o, const char *key, char **dst, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        return WG_OK;
    }
    if (!cJSON_IsString(v) || !v->valuestring || !v->valuestring[0]) {
        snprintf(err, errlen, "%s: want a non-empty string", key);
        return WG_EINVAL;
    }
    if (strlen(v->valuestring) > 1024) {
        snprintf(err, errlen, "%s: longer than 1024 bytes", key);
        return WG_EINVAL;
    }
    *dst = wg_strdup(v->valuestring);
    return *dst ? WG_OK : WG_ENOMEM;
}

static enum wg_err parse_time(const cJSON *v, int64_t *out, char *err, size_t errlen)
{
    if (!v || cJSON_IsNull(v)) {
        return WG_OK;
    }
    if (cJSON_IsString(v) && v->valuestring &&
        wg_time_parse(v->valuestring, strlen(v->valuestring), out) == WG_OK) {
        return WG_OK;
    }
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9.2e9) {
        /* unix seconds (fractions kept to the microsecond) */
        *out = (int64_t)(v->valuedouble * 1e6) * 1000;
        return WG_OK;
    }
    snprintf(err, errlen, "time: want RFC3339 or unix seconds");
    return WG_EINVAL;
}

#define MAX_DEPLOY_TIMES 1000 /* the config's cap on a wave's targets */

/* deploy_times: {target: RFC3339 | unix seconds}, each target once. */
static enum wg_err deploy_times(const cJSON *v, struct wg_event *ev, char *err, size_t errlen)
{
    if (!v || cJSON_IsNull(v)) {
        return WG_OK;
    }
    if (!cJSON_IsObject(v) || !v->child) {
        snprintf(err, errlen, "deploy_times: want an object of target: time");
        return WG_EINVAL;
    }
    size_t n = (size_t)cJSON_GetArraySize(v);
    if (n > MAX_DEPLOY_TIMES) {
        snprintf(err, errlen, "deploy_times: at most %d targets", MAX_DEPLOY_TIMES);
        return WG_EINVAL;
    }
    if (!(ev->deploy_times = calloc(n, sizeof(*ev->deploy_times)))) {
        return WG_ENOMEM;
    }
    for (const cJSON *it = v->child; it; it = it->next) {
        struct wg_deploy_time *d = &ev->deploy_times[ev->ndeploy_times];
        if (!it->string[0] || strlen(it->string) > 255) {
            snprintf(err, errlen, "deploy_times: want target names of 1-255 bytes");
            return WG_EINVAL;
        }
        for (size_t k = 0; k < ev->ndeploy_times; k++) {
            if (!strcmp(ev->deploy_times[k].target, it->string)) {
                snprintf(err, errlen, "deploy_times: %.64s: given twice", it->string);
                return WG_EINVAL;
            }
        }
        if (!cJSON_IsString(it) && !cJSON_IsNumber(it)) {
            snprintf(err, errlen, "deploy_times: %.64s: want RFC3339 or unix seconds", it->string);
            return WG_EINVAL;
        }
        enum wg_err rc = parse_time(it, &d->ns, err, errlen);
        if (rc != WG_OK) {
            snprintf(err, errlen, "deploy_times: %.64s: want RFC3339 or unix seconds", it->string);
            return rc;
        }
        if (!(d->target = wg_strdup(it->string))) {
            return WG_ENOMEM;
        }
        ev->ndeploy_times++;
    }
    return WG_OK;
}

static enum wg_err from_obj(const cJSON *o, struct wg_event *ev, char *err, size_t errlen)
{
    static const char *const keys[] = {"type",   "wave",   "env",         "feature",
                                       "flag",   "state",  "version",     "time",
                                       "source", "target", "deploy_times"};
    for (const cJSON *it = o->child; it; it = it->next) {
        size_t k = 0;
        while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(it->string, keys[k])) {
            k++;
        }
        if (k == sizeof(keys) / sizeof(keys[0])) {
            snprintf(err, errlen,
                     "%s: unknown key (allowed: type, wave, env, feature, flag, state, version, "
                     "time, source, target, deploy_times)",
                     it->string);
            return WG_EINVAL;
        }
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsString(t) || !t->valuestring) {
        snprintf(err, errlen, "type: required, deploy or flag");
        return WG_EINVAL;
    }
    if (!strcmp(t->valuestring, "deploy")) {
        ev->type = WG_EVENT_DEPLOY;
    } else if (!strcmp(t->valuestring, "flag")) {
        ev->type = WG_EVENT_FLAG;
    } else {
        snprintf(err, errlen, "type: %.64s: want deploy or flag", t->valuestring);
        return WG_EINVAL;
    }
    enum wg_err rc = WG_OK;
    char *state = NULL;
    if ((rc = str_member(o, "wave", &ev->wave, err, errlen)) != WG_OK ||
        (rc = str_member(o, "env", &ev->env, err, errlen)) != WG_OK ||
        (rc = str_member(o, "feature", &ev->feature, err, errlen)) != WG_OK ||
        (rc = str_member(o, "flag", &ev->flag, err, errlen)) != WG_OK ||
        (rc = str_member(o, "version", &ev->version, err, errlen)) != WG_OK ||
        (rc = str_member(o, "source", &ev->source, err, errlen)) != WG_OK ||
        (rc = str_member(o, "state", &state, err, errlen)) != WG_OK ||
        (rc = str_member(o, "target", &ev->target, err, errlen)) != WG_OK ||
        (rc = deploy_times(cJSON_GetObjectItemCaseSensitive(o, "deploy_times"), ev, err, errlen)) !=
            WG_OK ||
        (rc = parse_time(cJSON_GetObjectItemCaseSensitive(o, "time"), &ev->time_ns, err, errlen)) !=
            WG_OK) {
        goto out;
    }
    rc = WG_EINVAL;
    if (state && !strcmp(state, "on")) {
        ev->state = WG_EVSTATE_ON;
    } else if (state && !strcmp(state, "off")) {
        ev->state = WG_EVSTATE_OFF;
    } else if (state) {
        snprintf(err, errlen, "state: %.64s: want on or off", state);
        goto out;
    }
    if (ev->type == WG_EVENT_DEPLOY && !ev->wave && !ev->env) {
        snprintf(err, errlen, "wave: a deploy event needs wave or env");
        goto out;
    }
    if (ev->type == WG_EVENT_DEPLOY && ev->state) {
        snprintf(err, errlen, "state: only flag events have a state");
        goto out;
    }
    if (ev->type != WG_EVENT_DEPLOY && (ev->target || ev->ndeploy_times)) {
        snprintf(err, errlen, "%s: only deploy events have one",
                 ev->target ? "target" : "deploy_times");
        goto out;
    }
    if (ev->target && ev->ndeploy_times) {
        snprintf(err, errlen, "target: one target's deploy, or deploy_times for several: not both");
        goto out;
    }
    if (ev->type == WG_EVENT_FLAG && !ev->feature && !ev->flag) {
        snprintf(err, errlen, "feature: a flag event needs feature or flag");
        goto out;
    }
    if (ev->type == WG_EVENT_FLAG && !ev->state) {
        snprintf(err, errlen, "state: a flag event needs state on or off");
        goto out;
    }
    rc = WG_OK;
out:
    free(state);
    return rc;
}

enum wg_err wg_event_from_json(const char *body, size_t len, struct wg_event *ev, char *err,
                               size_t errlen)
{
    memset(ev, 0, sizeof(*ev));
    cJSON *o = cJSON_ParseWithLength(body, len);
    enum wg_err rc = WG_EINVAL;
    if (!o || !cJSON_IsObject(o)) {
        snprintf(err, errlen, "want a JSON object");
    } else {
        rc = from_obj(o, ev, err, errlen);
    }
    cJSON_Delete(o);
    if (rc != WG_OK) {
        wg_event_clear(ev);
    }
    return rc;
}

void wg_event_resolve(const struct wg_config *cfg, struct wg_event *ev)
{
    for (size_t i = 0; cfg && i < cfg->nfeatures; i++) {
        const struct wg_feature *f = &cfg->features[i];
        /* a feature without a flag key is keyed by its name */
        if (!ev->feature && ev->flag && !strcmp(f->flag ? f->flag : f->name, ev->flag)) {
            ev->feature = wg_strdup(f->name);
        }
        if (ev->feature && !ev->flag && !strcmp(f->name, ev->feature)) {
            ev->flag = wg_strdup(f->flag ? f->flag : f->name);
        }
    }
    for (size_t i = 0; cfg && i < cfg->nwaves; i++) {
        const struct wg_wave *w = &cfg->waves[i];
        if (!ev->wave && ev->env && w->env && !strcmp(w->env, ev->env)) {
            ev->wave = wg_strdup(w->name);
        }
        if (ev->wave && !ev->env && w->env && !strcmp(w->name, ev->wave)) {
            ev->env = wg_strdup(w->env);
        }
    }
}

void wg__events_add_col(cJSON *o, const char *key, struct wg_sql_q *q, int col)
{
    const char *v = wg_sql_col_text(q, col);
    if (v) {
        cJSON_AddStringToObject(o, key, v);
    }
}

/* The stored {"T": "ns"} as "deploy_times": {"T": RFC3339} (an entry that does not parse is
 * left out, never guessed). */
static void add_deploy_times(cJSON *o, struct wg_sql_q *q, int col)
{
    const char *v = wg_sql_col_text(q, col);
    cJSON *in = v ? cJSON_Parse(v) : NULL;
    cJSON *out = cJSON_IsObject(in) ? cJSON_AddObjectToObject(o, "deploy_times") : NULL;
    const cJSON *it, *from = out ? in : NULL;
    cJSON_ArrayForEach(it, from)
    {
        char ts[64], *end = NULL;
        long long ns = cJSON_IsString(it) ? strtoll(it->valuestring, &end, 10) : 0;
        if (it->string && end && end != it->valuestring && !*end) {
            cJSON_AddStringToObject(out, it->string, wg_time_format(ns, ts, sizeof(ts)));
        }
    }
    cJSON_Delete(in);
}

enum wg_err wg_events_list_json(struct wg_events *e, size_t limit, char **out, char *err,
                                size_t errlen)
{
    *out = NULL;
    enum wg_err rc = WG_ENOMEM;
    cJSON *arr = cJSON_CreateArray();
    struct wg_sql *c = wg__events_take(e, err, errlen);
    struct wg_sql_q *q = c ? wg_sql_query(c, "SELECT id, type, state, wave, env, feature, flag,"
                                             " version, source, time_ns, target, deploy_times"
                                             " FROM events ORDER BY seq DESC LIMIT ?1")
                           : NULL;
    if (!c) {
        rc = WG_EIO;
        goto out;
    }
    wg_sql_bind_int64(q, 1, (int64_t)limit);
    static const char *const names[] = {"id",      "type", "state",   "wave",  "env",
                                        "feature", "flag", "version", "source"};
    int s;
    while (arr && (s = wg_sql_step(q)) == 1) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            goto out;
        }
        for (int k = 0; k < 9; k++) {
            wg__events_add_col(o, names[k], q, k);
        }
        char num[32], ts[64];
        int64_t t = wg_sql_col_int64(q, 9);
        snprintf(num, sizeof(num), "%lld", (long long)t);
        cJSON_AddRawToObject(o, "time_ns", num); /* exact: a double would round it */
        cJSON_AddStringToObject(o, "time", wg_time_format(t, ts, sizeof(ts)));
        wg__events_add_col(o, "target", q, 10);
        add_deploy_times(o, q, 11);
    }
    if (arr && s < 0) {
        snprintf(err, errlen, "events store: %s", wg_sql_qerror(q));
        rc = WG_EIO;
    } else if (arr) {
        *out = cJSON_PrintUnformatted(arr);
        rc = *out ? WG_OK : WG_ENOMEM;
    }
out:
    wg_sql_end(q);
    if (c) {
        wg__events_give(e, c);
    }
    cJSON_Delete(arr);
    return rc;
}

enum wg_err wg_events_kv_get(struct wg_events *e, const char *key, char **out)
{
    *out = NULL;
    char err[256];
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    struct wg_sql_q *q = wg_sql_query(c, "SELECT v FROM events_kv WHERE k=?1");
    wg_sql_bind_text(q, 1, key);
    int s = wg_sql_step(q);
    enum wg_err rc = s == 0 ? WG_ENOTFOUND : s == 1 ? WG_OK : WG_EIO;
    if (rc == WG_OK) {
        *out = wg_strdup(wg_sql_col_text(q, 0));
        rc = *out ? WG_OK : WG_ENOMEM;
    }
    wg_sql_end(q);
    wg__events_give(e, c);
    return rc;
}

enum wg_err wg_events_kv_set(struct wg_events *e, const char *key, const char *val)
{
    char err[256];
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    struct wg_sql_q *q = wg_sql_query(c, "INSERT INTO events_kv(k, v) VALUES (?1, ?2)"
                                         " ON CONFLICT(k) DO UPDATE SET v=excluded.v");
    wg_sql_bind_text(q, 1, key);
    wg_sql_bind_text(q, 2, val);
    enum wg_err rc = wg_sql_run(q, err, sizeof(err));
    wg_sql_end(q);
    wg__events_give(e, c);
    return rc;
}

int wg_events_seen(struct wg_events *e, const char *source, const char *version)
{
    char err[256];
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return 0;
    }
    struct wg_sql_q *q =
        wg_sql_query(c, "SELECT 1 FROM events WHERE source=?1 AND version=?2 LIMIT 1");
    wg_sql_bind_text(q, 1, source);
    wg_sql_bind_text(q, 2, version);
    int seen = wg_sql_step(q) == 1;
    wg_sql_end(q);
    wg__events_give(e, c);
    return seen;
}
