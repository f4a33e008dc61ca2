/* gate_evals.c — evaluation records for the evidence pages: the judged series downsampled
 * for a chart (wg__gate_downsample, called by gate_check.c); each evaluation the server
 * makes (gate calls, analysis looks, monitor ticks that change a verdict) gets an id and is
 * kept with its report JSON and series (a compact blob) through the store seam: SQLite
 * state_dir/evaluations.db, or the `evidence` table of the shared PostgreSQL, so every replica
 * serves every page. The last `keep`, none older than `max_age` (pruned by rank and age with
 * each insert; reads never answer one past max_age). gate_server_ui.c reads.
 */
#include "common/store.h"
#include "gate/gate_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct wg__evals {
    struct wg__gate_db store; /* SQLite's one handle, or PostgreSQL's pool (gate_db.c) */
    atomic_long keep;         /* the newest `keep` are kept (server.evaluations.keep; reload) */
    atomic_llong max_age_ns;  /* and none older than this (server.evaluations.max_age) */
};

/* SQLite: the file and schema of before the seam (its data stays readable). PostgreSQL:
 * `evidence`, as the verdict history already is `evaluations` there (gate_state.c). */
static const char *const MIGRATIONS[] = {
    "CREATE TABLE IF NOT EXISTS evaluations("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, created_ns INTEGER NOT NULL,"
    " kind TEXT NOT NULL, wave TEXT NOT NULL, verdict TEXT NOT NULL, report TEXT NOT NULL,"
    " series BLOB, features TEXT NOT NULL DEFAULT '[]');"};
static const char *const PG_MIGRATIONS[] = {
    "CREATE TABLE IF NOT EXISTS evidence("
    " seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, created_ns BIGINT NOT NULL,"
    " kind TEXT NOT NULL, wave TEXT NOT NULL, verdict TEXT NOT NULL, report TEXT NOT NULL,"
    " series BYTEA, features TEXT NOT NULL DEFAULT '[]');"
    /* out of line, uncompressed: pglz on a 2 MB blob cost more than the page (bench_pages) */
    "ALTER TABLE evidence ALTER COLUMN series SET STORAGE EXTERNAL;"
    "CREATE INDEX IF NOT EXISTS evidence_created ON evidence(created_ns);"
    "CREATE INDEX IF NOT EXISTS evidence_wave ON evidence(wave, seq);",
    /* 2: a ring of `keep` rows, each insert deleting one: vacuumed once 1,000 rows are dead
     * (not at a fifth of the table, the default), unthrottled (the table stays small) */
    "ALTER TABLE evidence SET (autovacuum_vacuum_scale_factor = 0,"
    " autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);"};

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
 * evaluation (bench_pages.c). Host byte order: replicas sharing a PostgreSQL store share it
 * (little-endian everywhere wavegate is built); a blob that does not decode is a page
 * without charts. */

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

/* One query text per backend: the table's name differs (see MIGRATIONS). */
#define SQL(e, Q) ((e)->store.pg ? Q("evidence") : Q("evaluations"))
#define Q_INSERT(T)                                                                                \
    "INSERT INTO " T "(id, created_ns, kind, wave, verdict, report, series, features)"             \
    " VALUES(?,?,?,?,?,?,?,?)"
/* Retention by rank, not by seq arithmetic: seqs have gaps (rolled back inserts, several
 * replicas drawing from one sequence), the (keep+1)-th newest row and all older go. */
#define Q_PRUNE(T)                                                                                 \
    "DELETE FROM " T " WHERE seq <= (SELECT seq FROM " T " ORDER BY seq DESC LIMIT 1 OFFSET ?)"    \
    " OR created_ns < ?"
/* PostgreSQL: insert and prune in one statement, one round trip, no transaction held open
 * between them. Not by rank as on SQLite: under MVCC every pruned row stays a dead tuple until
 * vacuum, and the rank's index scan fetched the heap of the newest `keep` rows at every insert
 * while a seq scan for `OR created_ns < ?` read the whole bloated heap (bench_replicas.sh: the
 * insert went from 0.6 to 1.7 ms in 40 s). Here the rows at least `keep` seqs older than the
 * new one, and those past max_age, each taken oldest first through its own index, at most 64
 * a statement (a smaller `keep` after a reload is reached over a few inserts). One sequence
 * for every replica, without gaps but for failed inserts (a failed insert's seq counts as a
 * kept row). The rows are taken FOR UPDATE SKIP LOCKED: replicas pruning at once do not queue
 * on each other's row locks (measured: 3 replicas at ~900 gate answers/s waited up to a
 * second on the same oldest rows); a row another one holds is its to delete. */
#define Q_PUT_PG                                                                                   \
    "WITH ins AS (" Q_INSERT(                                                                      \
        "evidence") " RETURNING seq),"                                                             \
                    " old AS (SELECT seq FROM evidence WHERE seq <= (SELECT seq FROM ins) - ?"     \
                    " ORDER BY seq LIMIT 64 FOR UPDATE SKIP LOCKED),"                              \
                    " aged AS (SELECT seq FROM evidence WHERE created_ns < ? ORDER BY created_ns " \
                    "LIMIT 64"                                                                     \
                    " FOR UPDATE SKIP LOCKED)"                                                     \
                    " DELETE FROM evidence WHERE seq = ANY(ARRAY(SELECT seq FROM old UNION ALL"    \
                    " SELECT seq FROM aged))"
#define Q_GET(T) "SELECT report, series FROM " T " WHERE id=? AND created_ns >= ?"
#define Q_LATEST(T)                                                                                \
    "SELECT id FROM " T " WHERE wave=? AND created_ns >= ? ORDER BY seq DESC LIMIT 1"
#define Q_RECENT(T)                                                                                \
    "SELECT id, created_ns, kind, wave, verdict, features FROM " T " WHERE created_ns >= ?"        \
    " ORDER BY seq DESC LIMIT ?"
#define Q_HAS(T) "SELECT 1 FROM " T " WHERE id=? AND created_ns >= ?"

static struct wg_sql_opts store_opts(const char *state_dir)
{
    struct wg_sql_opts o = {
        .backend = WG_STORE_DEFAULT,
        .sqlite = {.dir = state_dir,
                   .file = "evaluations.db",
                   .create = 1,
                   .synchronous = 1, /* evidence, not decisions: NORMAL is enough */
                   .migrations = MIGRATIONS,
                   .nmigrations = 1},
        .name = "evidence",
        .pg_migrations = PG_MIGRATIONS,
        .npg_migrations = 2,
    };
    return o;
}

enum wg_err wg__evals_open(const char *state_dir, long keep, int64_t max_age_ns,
                           struct wg__evals **out, char *err, size_t errlen)
{
    *out = NULL;
    struct wg__evals *e = calloc(1, sizeof(*e));
    if (!e) {
        return WG_ENOMEM;
    }
    struct wg_sql_opts o = store_opts(state_dir);
    enum wg_err rc = wg__gate_db_open(&e->store, &o, err, errlen);
    if (rc != WG_OK) {
        free(e);
        return rc;
    }
    atomic_init(&e->keep, keep > 0 ? keep : WG__EVALS_KEEP);
    atomic_init(&e->max_age_ns, max_age_ns > 0 ? max_age_ns : WG__EVALS_MAX_AGE_NS);
    *out = e;
    return WG_OK;
}

void wg__evals_close(struct wg__evals *e)
{
    if (!e) {
        return;
    }
    wg__gate_db_close(&e->store);
    free(e);
}

/* A reload's retention (gate_server.c): applied at once, what it no longer keeps deleted now
 * (one statement on either backend), and said in the log. */
enum wg_err wg__evals_retention(struct wg__evals *e, long keep, int64_t max_age_ns)
{
    if (!e) {
        return WG_OK;
    }
    keep = keep > 0 ? keep : WG__EVALS_KEEP;
    max_age_ns = max_age_ns > 0 ? max_age_ns : WG__EVALS_MAX_AGE_NS;
    long ok = atomic_exchange(&e->keep, keep);
    int64_t oa = atomic_exchange(&e->max_age_ns, max_age_ns);
    if (ok == keep && oa == max_age_ns) {
        return WG_OK;
    }
    char err[256] = "";
    enum wg_err rc = WG_EIO;
    struct wg_sql *c = wg__gate_db_take(&e->store, err, sizeof(err));
    if (c) {
        struct wg_sql_q *del = wg_sql_query(c, SQL(e, Q_PRUNE));
        wg_sql_bind_int64(del, 1, keep);
        wg_sql_bind_int64(del, 2, wg_now_ns() - max_age_ns);
        rc = wg_sql_run(del, err, sizeof(err));
        wg_sql_end(del);
        wg__gate_db_give(&e->store, c);
    }
    wg_log(rc == WG_OK ? WG_LOG_INFO : WG_LOG_WARN,
           "evaluations: retention now the last %ld, for at most %llds (was %ld, %llds)%s%s", keep,
           (long long)(max_age_ns / WG_NS_PER_SEC), ok, (long long)(oa / WG_NS_PER_SEC),
           rc == WG_OK ? "" : "; the older ones stay until the next evaluation: ", err);
    return rc;
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

static void bind_row(struct wg_sql_q *q, const char *id, int64_t now, const char *kind,
                     const char *wave, const char *verdict, const char *features, const char *json,
                     const void *blob, size_t bloblen)
{
    wg_sql_bind_text(q, 1, id);
    wg_sql_bind_int64(q, 2, now);
    wg_sql_bind_text(q, 3, kind);
    wg_sql_bind_text(q, 4, wave ? wave : "");
    wg_sql_bind_text(q, 5, verdict ? verdict : "error");
    wg_sql_bind_text(q, 6, json);
    wg_sql_bind_blob(q, 7, blob, bloblen); /* NULL: no series (a page without charts) */
    wg_sql_bind_text(q, 8, features ? features : "[]");
}

enum wg_err wg__evals_put(struct wg__evals *e, const char *kind, const char *wave,
                          const char *verdict, const char *features, const char *json,
                          const void *blob, size_t bloblen, char *id, size_t idlen)
{
    char err[512] = "";
    if (!id[0] && wg__evals_new_id(id, idlen) != WG_OK) {
        return WG_EIO;
    }
    int64_t now = wg_now_ns();
    enum wg_err rc = WG_EIO;
    struct wg_sql_q *st = NULL, *del = NULL;
    struct wg_sql *c = wg__gate_db_take(&e->store, err, sizeof(err));
    if (!c) {
        goto out;
    }
    if (e->store.pg) {
        st = wg_sql_query(c, Q_PUT_PG);
        bind_row(st, id, now, kind, wave, verdict, features, json, blob, bloblen);
        wg_sql_bind_int64(st, 9, atomic_load(&e->keep));
        wg_sql_bind_int64(st, 10, now - atomic_load(&e->max_age_ns));
        rc = wg_sql_run(st, err, sizeof(err));
        goto out;
    }
    /* SQLite: the insert and the prune in one transaction (one writer: mu and the file lock) */
    rc = wg_sql_begin(c, 1, err, sizeof(err));
    if (rc != WG_OK) {
        goto out;
    }
    st = wg_sql_query(c, Q_INSERT("evaluations"));
    del = wg_sql_query(c, Q_PRUNE("evaluations"));
    bind_row(st, id, now, kind, wave, verdict, features, json, blob, bloblen);
    wg_sql_bind_int64(del, 1, atomic_load(&e->keep));
    wg_sql_bind_int64(del, 2, now - atomic_load(&e->max_age_ns));
    rc = wg_sql_run(st, err, sizeof(err));
    if (rc == WG_OK) {
        rc = wg_sql_run(del, err, sizeof(err));
    }
    wg_sql_end(st);
    wg_sql_end(del);
    st = del = NULL;
    if (rc == WG_OK) {
        rc = wg_sql_commit(c, err, sizeof(err));
    } else {
        wg_sql_rollback(c);
    }
out:
    wg_sql_end(st);
    if (c) {
        wg__gate_db_give(&e->store, c);
    }
    if (rc != WG_OK) {
        wg_log(WG_LOG_WARN, "evaluations: cannot store %s: %s", id, err);
        id[0] = '\0';
    }
    return rc;
}

/* The row of id not past max_age, stepped to: 1 there, 0 not, -1 error (logged). */
static int get_row(struct wg__evals *e, struct wg_sql *c, const char *id, struct wg_sql_q **out)
{
    /* text and blob only: PostgreSQL sends the blob as its bytes, not as hex text */
    struct wg_sql_q *q = wg_sql_query_raw(c, SQL(e, Q_GET));
    wg_sql_bind_text(q, 1, id);
    wg_sql_bind_int64(q, 2, wg_now_ns() - atomic_load(&e->max_age_ns));
    int r = wg_sql_step(q);
    if (r < 0) {
        wg_log(WG_LOG_WARN, "evaluations: cannot read %.40s: %s", id, wg_sql_qerror(q));
    }
    *out = q;
    return r;
}

enum wg_err wg__evals_get(struct wg__evals *e, const char *id, char **json, void **blob,
                          size_t *bloblen)
{
    *json = NULL;
    *blob = NULL;
    *bloblen = 0;
    char err[256];
    struct wg_sql *c = wg__gate_db_take(&e->store, err, sizeof(err));
    if (!c) {
        wg_log(WG_LOG_WARN, "evaluations: cannot read %.40s: %s", id, err);
        return WG_EIO;
    }
    struct wg_sql_q *q = NULL;
    int r = get_row(e, c, id, &q);
    enum wg_err rc = r < 0 ? WG_EIO : WG_ENOTFOUND;
    if (r == 1) {
        size_t n = 0;
        const void *b = wg_sql_col_blob(q, 1, &n);
        const char *doc = wg_sql_col_text(q, 0);
        *json = doc ? wg_strdup(doc) : NULL;
        *blob = n > 0 ? malloc(n) : NULL;
        if (!*json || (n > 0 && !*blob)) {
            rc = doc ? WG_ENOMEM : WG_EIO;
        } else {
            if (n > 0) {
                memcpy(*blob, b, n);
            }
            *bloblen = n;
            rc = WG_OK;
        }
    }
    wg_sql_end(q);
    wg__gate_db_give(&e->store, c);
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
    char err[256];
    *html = NULL;
    /* Parsed and decoded straight from the row (no copy of a blob of megabytes). */
    struct wg_sql *c = wg__gate_db_take(&e->store, err, sizeof(err));
    if (!c) {
        wg_log(WG_LOG_WARN, "evaluations: cannot read %.40s: %s", id, err);
        return WG_EIO;
    }
    struct wg_sql_q *q = NULL;
    int r = get_row(e, c, id, &q);
    enum wg_err rc = r < 0 ? WG_EIO : WG_ENOTFOUND;
    if (r == 1) {
        const char *doc = wg_sql_col_text(q, 0);
        o = doc ? cJSON_Parse(doc) : NULL;
        size_t n = 0;
        const void *blob = wg_sql_col_blob(q, 1, &n);
        rc = o ? WG_OK : WG_EIO;
        if (o && n > 0 && wg__evals_series_decode(blob, n, &sets, &nrules) != WG_OK) {
            nrules = 0; /* a damaged blob: the page without charts, not no page */
        }
    }
    wg_sql_end(q);
    wg__gate_db_give(&e->store, c);
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
    char err[256];
    struct wg_sql *c = wg__gate_db_take(&e->store, err, sizeof(err));
    if (!c) {
        wg_log(WG_LOG_WARN, "evaluations: cannot read: %s", err);
        return WG_EIO;
    }
    struct wg_sql_q *q = wg_sql_query(c, SQL(e, Q_LATEST));
    wg_sql_bind_text(q, 1, wave);
    wg_sql_bind_int64(q, 2, wg_now_ns() - atomic_load(&e->max_age_ns));
    int r = wg_sql_step(q);
    enum wg_err rc = r < 0 ? WG_EIO : WG_ENOTFOUND;
    if (r == 1 && wg_sql_col_text(q, 0)) {
        snprintf(id, idlen, "%s", wg_sql_col_text(q, 0));
        rc = WG_OK;
    }
    wg_sql_end(q);
    wg__gate_db_give(&e->store, c);
    return rc;
}

static const char *col(struct wg_sql_q *q, int i)
{
    const char *v = wg_sql_col_text(q, i);
    return v ? v : "";
}

cJSON *wg__evals_recent(struct wg__evals *e, int n)
{
    cJSON *arr = cJSON_CreateArray();
    char err[256];
    struct wg_sql *c = arr ? wg__gate_db_take(&e->store, err, sizeof(err)) : NULL;
    if (!c) {
        return arr; /* nothing to list (the home page says so by its empty table) */
    }
    struct wg_sql_q *q = wg_sql_query(c, SQL(e, Q_RECENT));
    wg_sql_bind_int64(q, 1, wg_now_ns() - atomic_load(&e->max_age_ns));
    wg_sql_bind_int64(q, 2, n);
    while (wg_sql_step(q) == 1) {
        cJSON *o = cJSON_CreateObject();
        char tb[48];
        cJSON_AddStringToObject(o, "id", col(q, 0));
        cJSON_AddStringToObject(o, "created",
                                wg_time_format(wg_sql_col_int64(q, 1), tb, sizeof(tb)));
        cJSON_AddStringToObject(o, "kind", col(q, 2));
        cJSON_AddStringToObject(o, "wave", col(q, 3));
        cJSON_AddStringToObject(o, "verdict", col(q, 4));
        cJSON *f = cJSON_Parse(col(q, 5));
        if (!cJSON_IsArray(f)) {
            cJSON_Delete(f);
            f = cJSON_CreateArray();
        }
        cJSON_AddItemToObject(o, "features", f);
        cJSON_AddItemToArray(arr, o);
    }
    wg_sql_end(q);
    wg__gate_db_give(&e->store, c);
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
    char err[256];
    struct wg_sql *c = wg__gate_db_take(&e->store, err, sizeof(err));
    if (!c) {
        return has;
    }
    struct wg_sql_q *q = wg_sql_query(c, SQL(e, Q_HAS));
    wg_sql_bind_text(q, 1, id);
    wg_sql_bind_int64(q, 2, wg_now_ns() - atomic_load(&e->max_age_ns));
    int r = wg_sql_step(q);
    has = r != 0;
    wg_sql_end(q);
    wg__gate_db_give(&e->store, c);
    return has;
}
