/* gate_events.c — events in: deploys and flag flips as POST /v1/events and `wavegate event`
 * take them, parsed (one JSON entry point, fuzzable), resolved against the config (flag key →
 * feature through features.<name>.flag, env → wave through the wave's env) and recorded
 * durably in events.db under state_dir through the one store helper (common/store.h).
 */
#include "gate/gate_int.h"

#include "common/store.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

const char *const wg_event_type_names[2] = {"deploy", "flag"};
const char *const wg_event_state_names[4] = {"", "on", "off", "changed"};

static const char *const MIGRATIONS[] = {
    "CREATE TABLE IF NOT EXISTS events ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, state TEXT,"
    " wave TEXT, env TEXT, feature TEXT, flag TEXT, version TEXT, source TEXT,"
    " time_ns INTEGER NOT NULL, received_ns INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_feature ON events(feature, time_ns);"
    "CREATE TABLE IF NOT EXISTS events_kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);",
};

struct wg_events {
    pthread_mutex_t mu;
    sqlite3 *db;
};

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

static enum wg_err from_obj(const cJSON *o, struct wg_event *ev, char *err, size_t errlen)
{
    static const char *const keys[] = {"type",  "wave",    "env",  "feature", "flag",
                                       "state", "version", "time", "source"};
    for (const cJSON *it = o->child; it; it = it->next) {
        size_t k = 0;
        while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(it->string, keys[k])) {
            k++;
        }
        if (k == sizeof(keys) / sizeof(keys[0])) {
            snprintf(err, errlen,
                     "%s: unknown key (allowed: type, wave, env, feature, flag, state, version, "
                     "time, source)",
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
        if (!ev->feature && ev->flag && f->flag && !strcmp(f->flag, ev->flag)) {
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

enum wg_err wg_events_open(const char *state_dir, struct wg_events **out, char *err, size_t errlen)
{
    *out = NULL;
    struct wg_events *e = calloc(1, sizeof(*e));
    if (!e) {
        return WG_ENOMEM;
    }
    struct wg_store_opts o = {
        .dir = state_dir,
        .file = "events.db",
        .create = 1,
        .synchronous = 2,
        .quick_check = 1,
        .migrations = MIGRATIONS,
        .nmigrations = (int)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])),
    };
    enum wg_err rc = wg_store_open(&o, &e->db, err, errlen);
    if (rc != WG_OK) {
        free(e);
        return rc;
    }
    wg_store_busy_wait(e->db, 1);
    pthread_mutex_init(&e->mu, NULL);
    *out = e;
    return WG_OK;
}

void wg_events_close(struct wg_events *e)
{
    if (!e) {
        return;
    }
    wg_store_close(e->db);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (s) {
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(st, i);
    }
}

enum wg_err wg_events_record(struct wg_events *e, const struct wg_event *ev, int64_t now_ns,
                             char id[48], char *err, size_t errlen)
{
    enum wg_err rc = WG_EIO;
    int64_t t = ev->time_ns ? ev->time_ns : now_ns;
    pthread_mutex_lock(&e->mu);
    /* The id names the time and the row: unique, sortable, and known before the insert. */
    sqlite3_stmt *seq = wg_store_stmt(e->db, "SELECT COALESCE(MAX(seq), 0) + 1 FROM events");
    sqlite3_stmt *st = wg_store_stmt(
        e->db, "INSERT INTO events(seq, id, type, state, wave, env, feature, flag, version,"
               " source, time_ns, received_ns) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)");
    if (!seq || !st || sqlite3_step(seq) != SQLITE_ROW) {
        snprintf(err, errlen, "events store: %s", sqlite3_errmsg(e->db));
        goto out;
    }
    long long row = sqlite3_column_int64(seq, 0);
    snprintf(id, 48, "ev-%016llx-%08llx", (unsigned long long)t, (unsigned long long)row);
    sqlite3_bind_int64(st, 1, row);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, wg_event_type_names[ev->type], -1, SQLITE_STATIC);
    bind_opt(st, 4, ev->state ? wg_event_state_names[ev->state] : NULL);
    bind_opt(st, 5, ev->wave);
    bind_opt(st, 6, ev->env);
    bind_opt(st, 7, ev->feature);
    bind_opt(st, 8, ev->flag);
    bind_opt(st, 9, ev->version);
    bind_opt(st, 10, ev->source);
    sqlite3_bind_int64(st, 11, t);
    sqlite3_bind_int64(st, 12, now_ns);
    if (sqlite3_step(st) != SQLITE_DONE) {
        snprintf(err, errlen, "events store: %s", sqlite3_errmsg(e->db));
        goto out;
    }
    rc = WG_OK;
out:
    if (seq) {
        sqlite3_reset(seq);
    }
    if (st) {
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

static void add_col(cJSON *o, const char *key, sqlite3_stmt *st, int col)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    if (v) {
        cJSON_AddStringToObject(o, key, (const char *)v);
    }
}

enum wg_err wg_events_list_json(struct wg_events *e, size_t limit, char **out, char *err,
                                size_t errlen)
{
    *out = NULL;
    enum wg_err rc = WG_ENOMEM;
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "SELECT id, type, state, wave, env, feature, flag,"
                                            " version, source, time_ns FROM events"
                                            " ORDER BY seq DESC LIMIT ?1");
    if (!st) {
        snprintf(err, errlen, "events store: %s", sqlite3_errmsg(e->db));
        rc = WG_EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
    static const char *const names[] = {"id",      "type", "state",   "wave",  "env",
                                        "feature", "flag", "version", "source"};
    int s;
    while (arr && (s = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            goto out;
        }
        for (int c = 0; c < 9; c++) {
            add_col(o, names[c], st, c);
        }
        char num[32], ts[64];
        int64_t t = sqlite3_column_int64(st, 9);
        snprintf(num, sizeof(num), "%lld", (long long)t);
        cJSON_AddRawToObject(o, "time_ns", num); /* exact: a double would round it */
        cJSON_AddStringToObject(o, "time", wg_time_format(t, ts, sizeof(ts)));
    }
    if (arr) {
        *out = cJSON_PrintUnformatted(arr);
        rc = *out ? WG_OK : WG_ENOMEM;
    }
out:
    if (st) {
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    cJSON_Delete(arr);
    return rc;
}

enum wg_err wg_events_kv_get(struct wg_events *e, const char *key, char **out)
{
    *out = NULL;
    enum wg_err rc = WG_EIO;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "SELECT v FROM events_kv WHERE k=?1");
    if (st) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        rc = s == SQLITE_DONE ? WG_ENOTFOUND : s == SQLITE_ROW ? WG_OK : WG_EIO;
        if (rc == WG_OK) {
            *out = wg_strdup((const char *)sqlite3_column_text(st, 0));
            rc = *out ? WG_OK : WG_ENOMEM;
        }
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

enum wg_err wg_events_kv_set(struct wg_events *e, const char *key, const char *val)
{
    enum wg_err rc = WG_EIO;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "INSERT INTO events_kv(k, v) VALUES (?1, ?2)"
                                            " ON CONFLICT(k) DO UPDATE SET v=excluded.v");
    if (st) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, val, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? WG_OK : WG_EIO;
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}
