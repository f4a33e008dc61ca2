/* gate_evals.c — evaluation records for the evidence pages: the judged series downsampled
 * for a chart (wg__gate_downsample, called by gate_check.c); each evaluation the server
 * makes (gate calls, analysis looks, monitor ticks that change a verdict) gets an id and is
 * kept in state_dir/evaluations.db with its report JSON and series (a compact blob): the
 * last `keep` of them, none older than `max_age` (older ones go in the insert's own
 * transaction, and reads never answer one past max_age). gate_server_ui.c reads.
 */
#include "common/store.h"
#include "gate/gate_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct wg__evals {
    sqlite3 *db;
    atomic_long keep;        /* the newest `keep` are kept (server.evaluations.keep) */
    atomic_llong max_age_ns; /* and none older than this (server.evaluations.max_age) */
    pthread_mutex_t mu;      /* one writer at a time; the handle is FULLMUTEX for readers too */
};

static const char *const MIGRATIONS[] = {
    "CREATE TABLE IF NOT EXISTS evaluations("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, created_ns INTEGER NOT NULL,"
    " kind TEXT NOT NULL, wave TEXT NOT NULL, verdict TEXT NOT NULL, report TEXT NOT NULL,"
    " series BLOB, features TEXT NOT NULL DEFAULT '[]');"};

/* ---- downsampling ------------------------------------------------------------------------ */

static enum wg_err keep_one(const struct wg_series *s, struct wg_series *d)
{
    size_t max = WG_GATE_KEEP_POINTS;
    if (s->n <= max) {
        for (size_t i = 0; i < s->n; i++) {
            if (wg_series_push(d, s->t ? s->t[i] : 0, s->v[i]) != WG_OK) {
                return WG_ENOMEM;
            }
        }
        return WG_OK;
    }
    /* Buckets of equal point count (series arrive sorted); each gives its min and its max in
     * the order they occur, so a spike survives. */
    size_t nb = max / 2;
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * s->n / nb, hi = (b + 1) * s->n / nb;
        size_t imin = lo, imax = lo;
        for (size_t i = lo; i < hi; i++) {
            if (s->v[i] < s->v[imin]) {
                imin = i;
            }
            if (s->v[i] > s->v[imax]) {
                imax = i;
            }
        }
        size_t a = imin < imax ? imin : imax, z = imin < imax ? imax : imin;
        if (wg_series_push(d, s->t ? s->t[a] : 0, s->v[a]) != WG_OK ||
            (z != a && wg_series_push(d, s->t ? s->t[z] : 0, s->v[z]) != WG_OK)) {
            return WG_ENOMEM;
        }
    }
    return WG_OK;
}

enum wg_err wg__gate_downsample(const struct wg_seriesset *src, struct wg_seriesset *dst)
{
    for (size_t i = 0; src && i < src->n; i++) {
        const struct wg_series *s = &src->s[i];
        /* Labels are the identity: copy them first (get creates), then the points. */
        struct wg_series *d = wg_seriesset_get(dst, s->labels, s->nlabels);
        if (!d || keep_one(s, d) != WG_OK) {
            return WG_ENOMEM;
        }
    }
    return WG_OK;
}

/* ---- the series blob: "WGS2", u32 nrules, per rule two sets (current, baseline) of
 * u32 nseries, per series u32 nlabels, (u32 len, bytes) key and value, u32 n, u8 mode,
 * int64 t0, then n times (mode 0: u32 milliseconds after t0; mode 1: int64 ns) and n float
 * values: a chart needs no more, and half the bytes halve what serve pays to keep a large
 * evaluation (bench_pages.c). Host byte order: the store stays on the machine that wrote it. */

static void put_u32(struct wg_buf *b, size_t v)
{
    uint32_t u = (uint32_t)v;
    wg__html_add(b, &u, sizeof(u));
}

static void put_str(struct wg_buf *b, const char *s)
{
    size_t n = strlen(s);
    put_u32(b, n);
    wg__html_add(b, s, n);
}

static void put_set(struct wg_buf *b, const struct wg_seriesset *ss)
{
    put_u32(b, ss->n);
    for (size_t i = 0; i < ss->n; i++) {
        const struct wg_series *s = &ss->s[i];
        put_u32(b, s->nlabels);
        for (size_t l = 0; l < s->nlabels; l++) {
            put_str(b, s->labels[l].key);
            put_str(b, s->labels[l].value);
        }
        put_u32(b, s->n);
        int64_t t0 = s->t && s->n ? s->t[0] : 0;
        unsigned char mode = 0;
        for (size_t p = 0; s->t && p < s->n && !mode; p++) {
            mode = s->t[p] < t0 || (s->t[p] - t0) / 1000000 > (int64_t)UINT32_MAX;
        }
        wg__html_add(b, &mode, 1);
        wg__html_add(b, &t0, sizeof(t0));
        size_t tsz = mode ? sizeof(int64_t) : sizeof(uint32_t);
        for (size_t p = 0; p < s->n; p++) {
            int64_t t = s->t ? s->t[p] : 0;
            uint32_t ms = (uint32_t)((t - t0) / 1000000);
            float v = (float)s->v[p];
            char rec[12];
            if (mode) {
                memcpy(rec, &t, sizeof(t));
            } else {
                memcpy(rec, &ms, sizeof(ms));
            }
            memcpy(rec + tsz, &v, sizeof(v));
            wg__html_add(b, rec, tsz + sizeof(v));
        }
    }
}

enum wg_err wg__evals_series_encode(const struct wg_check_report *r, struct wg_buf *out)
{
    wg__html_add(out, "WGS2", 4);
    put_u32(out, r->nrules);
    for (size_t i = 0; i < r->nrules; i++) {
        put_set(out, &r->rules[i].kept);
        put_set(out, &r->rules[i].kept_baseline);
    }
    return out->max == SIZE_MAX ? WG_OK : WG_ENOMEM;
}

struct rd {
    const unsigned char *p;
    size_t n, at;
    int bad;
};

static size_t get_u32(struct rd *r)
{
    uint32_t u = 0;
    if (r->bad || r->n - r->at < sizeof(u)) {
        r->bad = 1;
        return 0;
    }
    memcpy(&u, r->p + r->at, sizeof(u));
    r->at += sizeof(u);
    return u;
}

static char *get_str(struct rd *r)
{
    size_t n = get_u32(r);
    if (r->bad || r->n - r->at < n) {
        r->bad = 1;
        return NULL;
    }
    char *s = wg_strndup((const char *)r->p + r->at, n);
    r->at += n;
    r->bad |= !s;
    return s;
}

static void get_set(struct rd *r, struct wg_seriesset *ss)
{
    size_t ns = get_u32(r);
    for (size_t i = 0; i < ns && !r->bad; i++) {
        size_t nl = get_u32(r);
        if (nl > 64) {
            r->bad = 1;
            return;
        }
        struct wg_label lab[64];
        size_t got = 0;
        for (; got < nl && !r->bad; got++) {
            lab[got].key = get_str(r);
            lab[got].value = get_str(r);
        }
        struct wg_series *s = r->bad ? NULL : wg_seriesset_get(ss, lab, nl);
        for (size_t l = 0; l < got; l++) {
            free(lab[l].key);
            free(lab[l].value);
        }
        size_t np = get_u32(r);
        unsigned char mode = 0;
        int64_t t0 = 0;
        if (!s || r->bad || r->n - r->at < 1 + sizeof(t0)) {
            r->bad = 1;
            return;
        }
        mode = r->p[r->at];
        memcpy(&t0, r->p + r->at + 1, sizeof(t0));
        r->at += 1 + sizeof(t0);
        size_t tsz = mode ? sizeof(int64_t) : sizeof(uint32_t), rec = tsz + sizeof(float);
        if (mode > 1 || np > (r->n - r->at) / rec) {
            r->bad = 1;
            return;
        }
        /* exact-size arrays filled by copy: a page decodes 240k points (bench_pages.c) */
        free(s->t);
        free(s->v);
        s->t = malloc((np ? np : 1) * sizeof(int64_t));
        s->v = malloc((np ? np : 1) * sizeof(double));
        s->n = s->cap = 0;
        if (!s->t || !s->v) {
            r->bad = 1;
            return;
        }
        const unsigned char *q = r->p + r->at;
        for (size_t p = 0; p < np; p++, q += rec) {
            uint32_t ms;
            float v;
            if (mode) {
                memcpy(&s->t[p], q, sizeof(int64_t));
            } else {
                memcpy(&ms, q, sizeof(ms));
                s->t[p] = t0 + (int64_t)ms * 1000000;
            }
            memcpy(&v, q + tsz, sizeof(v));
            s->v[p] = v;
        }
        s->n = s->cap = np;
        r->at += np * rec;
    }
}

enum wg_err wg__evals_series_decode(const void *blob, size_t len, struct wg_seriesset **sets,
                                    size_t *nrules)
{
    struct rd r = {blob, len, 0, 0};
    *sets = NULL;
    *nrules = 0;
    if (len < 8 || memcmp(blob, "WGS2", 4) != 0) {
        return WG_EINVAL;
    }
    r.at = 4;
    size_t n = get_u32(&r);
    if (n > len / 8) {
        return WG_EINVAL;
    }
    struct wg_seriesset *v = calloc(2 * n + 1, sizeof(*v));
    if (!v) {
        return WG_ENOMEM;
    }
    for (size_t i = 0; i < 2 * n && !r.bad; i++) {
        get_set(&r, &v[i]);
    }
    if (r.bad) {
        wg__evals_series_free(v, n);
        return WG_EINVAL;
    }
    *sets = v;
    *nrules = n;
    return WG_OK;
}

void wg__evals_series_free(struct wg_seriesset *sets, size_t nrules)
{
    for (size_t i = 0; sets && i < 2 * nrules; i++) {
        wg_seriesset_free(&sets[i]);
    }
    free(sets);
}

/* ---- the store --------------------------------------------------------------------------- */

/* What retention no longer keeps: ?1 keep, ?2 the oldest created_ns kept. */
#define PRUNE_SQL                                                                                  \
    "DELETE FROM evaluations WHERE seq <= (SELECT MAX(seq) FROM evaluations) - ?"                  \
    " OR created_ns < ?"

enum wg_err wg__evals_open(const char *state_dir, long keep, int64_t max_age_ns,
                           struct wg__evals **out, char *err, size_t errlen)
{
    *out = NULL;
    struct wg__evals *e = calloc(1, sizeof(*e));
    if (!e) {
        return WG_ENOMEM;
    }
    struct wg_store_opts o = {
        .dir = state_dir,
        .file = "evaluations.db",
        .create = 1,
        .synchronous = 1, /* evidence, not decisions: NORMAL is enough */
        .migrations = MIGRATIONS,
        .nmigrations = 1,
    };
    enum wg_err rc = wg_store_open(&o, &e->db, err, errlen);
    if (rc != WG_OK) {
        free(e);
        return rc;
    }
    atomic_init(&e->keep, keep > 0 ? keep : WG__EVALS_KEEP);
    atomic_init(&e->max_age_ns, max_age_ns > 0 ? max_age_ns : WG__EVALS_MAX_AGE_NS);
    pthread_mutex_init(&e->mu, NULL);
    *out = e;
    return WG_OK;
}

void wg__evals_close(struct wg__evals *e)
{
    if (!e) {
        return;
    }
    wg_store_close(e->db);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

enum wg_err wg__evals_new_id(char *id, size_t idlen)
{
    unsigned char r[16];
    if (idlen < 33 || getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        return WG_EIO;
    }
    for (size_t i = 0; i < sizeof(r); i++) {
        snprintf(id + 2 * i, 3, "%02x", r[i]);
    }
    return WG_OK;
}

enum wg_err wg__evals_retention(struct wg__evals *e, long keep, int64_t max_age_ns)
{
    if (!e) {
        return WG_OK;
    }
    keep = keep > 0 ? keep : WG__EVALS_KEEP;
    max_age_ns = max_age_ns > 0 ? max_age_ns : WG__EVALS_MAX_AGE_NS;
    pthread_mutex_lock(&e->mu);
    long ok = atomic_exchange(&e->keep, keep);
    int64_t oa = atomic_exchange(&e->max_age_ns, max_age_ns);
    enum wg_err rc = WG_OK;
    char err[256] = "";
    if (ok != keep || oa != max_age_ns) {
        sqlite3_stmt *del = wg_store_stmt(e->db, PRUNE_SQL);
        if (!del) {
            snprintf(err, sizeof(err), "%s", sqlite3_errmsg(e->db));
            rc = WG_EIO;
        } else {
            sqlite3_bind_int64(del, 1, keep);
            sqlite3_bind_int64(del, 2, wg_now_ns() - max_age_ns);
            if (sqlite3_step(del) != SQLITE_DONE) {
                snprintf(err, sizeof(err), "%s", sqlite3_errmsg(e->db));
                rc = WG_EIO;
            }
            sqlite3_reset(del);
        }
    }
    pthread_mutex_unlock(&e->mu);
    if (ok != keep || oa != max_age_ns) {
        wg_log(rc == WG_OK ? WG_LOG_INFO : WG_LOG_WARN,
               "evaluations: retention now the last %ld, for at most %llds (was %ld, %llds)%s%s",
               keep, (long long)(max_age_ns / WG_NS_PER_SEC), ok, (long long)(oa / WG_NS_PER_SEC),
               rc == WG_OK ? ""
                           : "; the older ones stay until"
                             " the next evaluation: ",
               err);
    }
    return rc;
}

enum wg_err wg__evals_put(struct wg__evals *e, const char *kind, const char *wave,
                          const char *verdict, const char *features, const char *json,
                          const void *blob, size_t bloblen, char *id, size_t idlen)
{
    char err[256] = "";
    if (!id[0] && wg__evals_new_id(id, idlen) != WG_OK) {
        return WG_EIO;
    }
    pthread_mutex_lock(&e->mu);
    enum wg_err rc = wg_store_begin(e->db, 1, err, sizeof(err));
    if (rc != WG_OK) {
        goto out;
    }
    sqlite3_stmt *st =
        wg_store_stmt(e->db, "INSERT INTO evaluations(id, created_ns, kind, wave,"
                             " verdict, report, series, features) VALUES(?,?,?,?,?,?,?,?)");
    sqlite3_stmt *del = wg_store_stmt(e->db, PRUNE_SQL);
    int64_t now = wg_now_ns();
    if (!st || !del) {
        rc = WG_EIO;
    } else {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, wave ? wave : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, verdict ? verdict : "error", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, json, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 7, blob, (int)bloblen, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, features ? features : "[]", -1, SQLITE_STATIC);
        sqlite3_bind_int64(del, 1, atomic_load(&e->keep));
        sqlite3_bind_int64(del, 2, now - atomic_load(&e->max_age_ns));
        if (sqlite3_step(st) != SQLITE_DONE || sqlite3_step(del) != SQLITE_DONE) {
            snprintf(err, sizeof(err), "%s", sqlite3_errmsg(e->db));
            rc = WG_EIO;
        }
    }
    if (st) {
        sqlite3_reset(st);
    }
    if (del) {
        sqlite3_reset(del);
    }
    if (rc == WG_OK) {
        rc = wg_store_commit(e->db, err, sizeof(err));
    } else {
        wg_store_rollback(e->db);
    }
out:
    pthread_mutex_unlock(&e->mu);
    if (rc != WG_OK) {
        wg_log(WG_LOG_WARN, "evaluations: cannot store %s: %s", id, err);
        id[0] = '\0';
    }
    return rc;
}

enum wg_err wg__evals_get(struct wg__evals *e, const char *id, char **json, void **blob,
                          size_t *bloblen)
{
    *json = NULL;
    *blob = NULL;
    *bloblen = 0;
    enum wg_err rc = WG_ENOTFOUND;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "SELECT report, series FROM evaluations"
                                            " WHERE id=? AND created_ns >= ?");
    if (!st) {
        pthread_mutex_unlock(&e->mu);
        return WG_EIO;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, wg_now_ns() - e->max_age_ns);
    if (sqlite3_step(st) == SQLITE_ROW) {
        int n = sqlite3_column_bytes(st, 1);
        const void *b = sqlite3_column_blob(st, 1);
        *json = wg_strdup((const char *)sqlite3_column_text(st, 0));
        *blob = n > 0 ? malloc((size_t)n) : NULL;
        if (!*json || (n > 0 && !*blob)) {
            rc = WG_ENOMEM;
        } else {
            if (n > 0) {
                memcpy(*blob, b, (size_t)n);
            }
            *bloblen = (size_t)n;
            rc = WG_OK;
        }
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&e->mu);
    if (rc != WG_OK) {
        free(*json);
        free(*blob);
        *json = NULL;
        *blob = NULL;
    }
    return rc;
}

enum wg_err wg__evals_page(struct wg__evals *e, const char *id, char **html)
{
    size_t nrules = 0;
    struct wg_seriesset *sets = NULL;
    struct wg__html_series *ss = NULL;
    cJSON *o = NULL;
    enum wg_err rc = WG_ENOTFOUND;
    *html = NULL;
    /* Parsed and decoded straight from the row (no copy of a blob of megabytes). */
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "SELECT report, series FROM evaluations"
                                            " WHERE id=? AND created_ns >= ?");
    if (!st) {
        pthread_mutex_unlock(&e->mu);
        return WG_EIO;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, wg_now_ns() - e->max_age_ns);
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
        const void *blob = sqlite3_column_blob(st, 1);
        int n = sqlite3_column_bytes(st, 1);
        rc = o ? WG_OK : WG_EIO;
        if (o && n > 0 && wg__evals_series_decode(blob, (size_t)n, &sets, &nrules) != WG_OK) {
            nrules = 0; /* a damaged blob: the page without charts, not no page */
        }
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&e->mu);
    if (rc != WG_OK) {
        goto out;
    }
    ss = calloc(nrules + 1, sizeof(*ss));
    if (!ss) {
        rc = WG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nrules; i++) {
        ss[i].cur = &sets[2 * i];
        ss[i].base = &sets[2 * i + 1];
    }
    *html = wg__html_evaluation(o, ss, nrules);
    rc = *html ? WG_OK : WG_ENOMEM;
out:
    free(ss);
    wg__evals_series_free(sets, nrules);
    cJSON_Delete(o);
    return rc;
}

enum wg_err wg__evals_latest(struct wg__evals *e, const char *wave, char *id, size_t idlen)
{
    enum wg_err rc = WG_ENOTFOUND;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "SELECT id FROM evaluations WHERE wave=? "
                                            "AND created_ns >= ? ORDER BY seq DESC LIMIT 1");
    if (!st) {
        rc = WG_EIO;
    } else {
        sqlite3_bind_text(st, 1, wave, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, wg_now_ns() - e->max_age_ns);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(id, idlen, "%s", (const char *)sqlite3_column_text(st, 0));
            rc = WG_OK;
        }
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

cJSON *wg__evals_recent(struct wg__evals *e, int n)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        return NULL;
    }
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "SELECT id, created_ns, kind, wave, verdict, features "
                                            "FROM evaluations WHERE created_ns >= ?"
                                            " ORDER BY seq DESC LIMIT ?");
    if (st) {
        sqlite3_bind_int64(st, 1, wg_now_ns() - e->max_age_ns);
        sqlite3_bind_int(st, 2, n);
        while (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *o = cJSON_CreateObject();
            char tb[48];
            cJSON_AddStringToObject(o, "id", (const char *)sqlite3_column_text(st, 0));
            cJSON_AddStringToObject(o, "created",
                                    wg_time_format(sqlite3_column_int64(st, 1), tb, sizeof(tb)));
            cJSON_AddStringToObject(o, "kind", (const char *)sqlite3_column_text(st, 2));
            cJSON_AddStringToObject(o, "wave", (const char *)sqlite3_column_text(st, 3));
            cJSON_AddStringToObject(o, "verdict", (const char *)sqlite3_column_text(st, 4));
            cJSON *f = cJSON_Parse((const char *)sqlite3_column_text(st, 5));
            if (!cJSON_IsArray(f)) {
                cJSON_Delete(f);
                f = cJSON_CreateArray();
            }
            cJSON_AddItemToObject(o, "features", f);
            cJSON_AddItemToArray(arr, o);
        }
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return arr;
}

long wg__evals_keep(const struct wg__evals *e)
{
    return e ? atomic_load(&((struct wg__evals *)e)->keep) : 0;
}

int64_t wg__evals_max_age(const struct wg__evals *e)
{
    return e ? atomic_load(&((struct wg__evals *)e)->max_age_ns) : 0;
}

int wg__evals_has(struct wg__evals *e, const char *id)
{
    int has = 1; /* a store error is not "gone": no re-recording storm on a sick disk */
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "SELECT 1 FROM evaluations WHERE id=?"
                                            " AND created_ns >= ?");
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, wg_now_ns() - e->max_age_ns);
        int r = sqlite3_step(st);
        has = r == SQLITE_ROW || (r != SQLITE_DONE);
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return has;
}
