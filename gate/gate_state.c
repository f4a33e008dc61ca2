/* gate_state.c — the gate's state store: verdict history, through the store seam (store.h):
 * SQLite (WAL) under state_dir, or the shared PostgreSQL of `state: {backend: postgres}` so
 * every replica sees the same history. It keeps the measured value of every evaluation of
 * rules that use `baseline: previous`, so the next evaluation can compare against the last
 * passing ones; `wavegate history` reads and invalidates entries (a bad deploy that passed
 * must not become everybody's baseline).
 */
#include "gate/gate_int.h"

#include "common/store.h"

#include <stdlib.h>
#include <string.h>

/* Version 1 is the schema that stores had before versions were counted (idempotent). */
static const char *const MIGRATIONS[] = {
    "CREATE TABLE IF NOT EXISTS evaluations ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at_ns INTEGER NOT NULL,"
    " feature TEXT NOT NULL, rule TEXT NOT NULL, wave TEXT NOT NULL,"
    " verdict TEXT NOT NULL, value REAL, samples INTEGER NOT NULL,"
    " invalidated INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS evaluations_key ON evaluations(feature, rule, wave, id);",
};
static const char *const PG_MIGRATIONS[] = {
    "CREATE TABLE IF NOT EXISTS evaluations ("
    " id BIGSERIAL PRIMARY KEY,"
    " at_ns BIGINT NOT NULL,"
    " feature TEXT NOT NULL, rule TEXT NOT NULL, wave TEXT NOT NULL,"
    " verdict TEXT NOT NULL, value DOUBLE PRECISION, samples BIGINT NOT NULL,"
    " invalidated INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS evaluations_key ON evaluations(feature, rule, wave, id);",
};

/* Open (creating when `create`) the store; NULL with err set when it cannot, NULL with err ""
 * when it does not exist yet and create is 0 (SQLite only: a shared database always is). */
static struct wg_sql *open_store(const char *dir, int create, char *err, size_t errlen)
{
    struct wg_sql_opts o = {
        .backend = WG_STORE_DEFAULT,
        .sqlite = {.dir = dir,
                   .file = "state.db",
                   .create = create,
                   .synchronous = 2,
                   .migrations = MIGRATIONS,
                   .nmigrations = (int)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0]))},
        .name = "state",
        .pg_migrations = PG_MIGRATIONS,
        .npg_migrations = (int)(sizeof(PG_MIGRATIONS) / sizeof(PG_MIGRATIONS[0])),
    };
    struct wg_sql *db = NULL;
    if (wg_sql_open(&o, &db, err, errlen) != WG_OK) {
        return NULL;
    }
    return db;
}

enum wg_err wg__gate_state_previous(const char *state_dir, const struct wg_rule *r,
                                    const char *wave, long count, struct wg_seriesset *out,
                                    char *err, size_t errlen)
{
    enum wg_err rc = WG_OK;
    err[0] = '\0';
    struct wg_sql *db = open_store(state_dir, 0, err, errlen);
    if (!db) {
        return err[0] ? WG_EIO : WG_OK;
    }
    /* Newest `count` passing values, returned oldest first. */
    const char *sql =
        "SELECT at_ns, value FROM (SELECT id, at_ns, value FROM evaluations"
        " WHERE feature=?1 AND rule=?2 AND wave=?3 AND verdict IN ('pass','bootstrap')"
        " AND invalidated=0 AND value IS NOT NULL ORDER BY id DESC LIMIT ?4) AS newest"
        " ORDER BY id ASC";
    struct wg_sql_q *st = wg_sql_query(db, sql);
    if (!st) {
        rc = WG_ENOMEM;
        goto out;
    }
    wg_sql_bind_text(st, 1, r->feature);
    wg_sql_bind_text(st, 2, r->name);
    wg_sql_bind_text(st, 3, wave);
    wg_sql_bind_int64(st, 4, count > 0 ? count : 5);
    struct wg_series *s = NULL;
    int step;
    while ((step = wg_sql_step(st)) == 1) {
        if (!s && !(s = wg_seriesset_get(out, NULL, 0))) {
            rc = WG_ENOMEM;
            goto out;
        }
        if (wg_series_push(s, wg_sql_col_int64(st, 0), wg_sql_col_double(st, 1)) != WG_OK) {
            rc = WG_ENOMEM;
            goto out;
        }
    }
    if (step != 0) {
        snprintf(err, errlen, "state store: %s", wg_sql_qerror(st));
        rc = WG_EIO;
    }
out:
    wg_sql_end(st);
    wg_sql_close(db);
    return rc;
}

/* What the store keeps as the evaluation's verdict. A warning is a pass for the gate, and so
 * for the baseline. The very first evaluations have nothing to compare with: they are
 * inconclusive, yet their value must seed the baseline, so a measured value with enough
 * samples and no baseline is kept as "bootstrap" (usable as a baseline; `history
 * invalidate` drops it if that deploy was bad). */
static const char *record_verdict(const struct wg_rule_report *rr)
{
    const struct wg_rule_result *r = &rr->res;
    if (r->verdict == WG_WARN) {
        return "pass";
    }
    if (r->verdict == WG_INCONCLUSIVE && r->has_value && !r->has_baseline &&
        (long)r->samples >= rr->p.min_samples) {
        return "bootstrap";
    }
    return wg_verdict_name(r->verdict);
}

void wg__gate_state_record(const char *state_dir, const struct wg_check_report *rep)
{
    int any = 0;
    for (size_t i = 0; i < rep->nrules; i++) {
        any += rep->rules[i].rule->baseline.kind == WG_BASELINE_PREVIOUS;
    }
    if (!any) {
        return;
    }
    char err[512];
    struct wg_sql *db = open_store(state_dir, 1, err, sizeof(err));
    if (!db) {
        wg_log(WG_LOG_WARN, "history not recorded: %s", err);
        return;
    }
    const char *sql = "INSERT INTO evaluations(at_ns, feature, rule, wave, verdict, value, samples)"
                      " VALUES(?,?,?,?,?,?,?)";
    /* One row is one statement, atomic by itself: no BEGIN and COMMIT around it (on
     * PostgreSQL two round trips of the three, bench/bench_replicas.sh). */
    int tx = any > 1;
    int ok = !tx || wg_sql_begin(db, 1, err, sizeof(err)) == WG_OK;
    for (size_t i = 0; ok && i < rep->nrules; i++) {
        const struct wg_rule_report *rr = &rep->rules[i];
        if (rr->rule->baseline.kind != WG_BASELINE_PREVIOUS) {
            continue;
        }
        struct wg_sql_q *st = wg_sql_query(db, sql);
        if (!st) {
            snprintf(err, sizeof(err), "out of memory");
            ok = 0;
            break;
        }
        wg_sql_bind_int64(st, 1, rr->end_ns);
        wg_sql_bind_text(st, 2, rr->feature->name);
        wg_sql_bind_text(st, 3, rr->rule->name);
        wg_sql_bind_text(st, 4,
                         rr->history_wave ? rr->history_wave
                                          : rep->wave); /* a fleet target's own history */
        wg_sql_bind_text(st, 5, record_verdict(rr));
        if (rr->res.has_value) {
            wg_sql_bind_double(st, 6, rr->res.value);
        } else {
            wg_sql_bind_null(st, 6);
        }
        wg_sql_bind_int64(st, 7, (int64_t)rr->res.samples);
        ok = wg_sql_run(st, err, sizeof(err)) == WG_OK;
        wg_sql_end(st);
    }
    /* All of one evaluation or none of it: a half-recorded evaluation would skew the next
     * `baseline: previous`. */
    if (ok && tx) {
        ok = wg_sql_commit(db, err, sizeof(err)) == WG_OK;
    } else if (!ok && tx) {
        wg_sql_rollback(db);
    }
    if (!ok) {
        wg_log(WG_LOG_WARN, "history not recorded: %s", err);
    }
    wg_sql_close(db);
}

/* Open an existing store and prepare sql with the (feature, rule, wave) filter bound to
 * ?1..?3 (the caller binds the rest). WG_OK when ready, WG_ENOTFOUND when there is no store
 * yet, WG_EIO on an error (printed). */
static enum wg_err open_filtered(const char *state_dir, const char *sql, const char *feature,
                                 const char *rule, const char *wave, struct wg_sql **db,
                                 struct wg_sql_q **st)
{
    char err[512];
    *st = NULL;
    *db = open_store(state_dir, 0, err, sizeof(err));
    if (!*db) {
        if (err[0]) {
            fprintf(stderr, "wavegate: %s\n", err);
            return WG_EIO;
        }
        return WG_ENOTFOUND;
    }
    if (!(*st = wg_sql_query(*db, sql))) {
        fprintf(stderr, "wavegate: state store: out of memory\n");
        wg_sql_close(*db);
        *db = NULL;
        return WG_EIO;
    }
    wg_sql_bind_text(*st, 1, feature);
    wg_sql_bind_text(*st, 2, rule);
    wg_sql_bind_text(*st, 3, wave);
    return WG_OK;
}

enum wg_err wg_gate_history_list(const char *state_dir, const char *feature, const char *rule,
                                 const char *wave, FILE *f)
{
    struct wg_sql *db;
    struct wg_sql_q *st;
    /* CAST: PostgreSQL must know the parameters are text even when NULL */
    const char *sql = "SELECT id, at_ns, feature, rule, wave, verdict, value, samples, invalidated"
                      " FROM evaluations WHERE (CAST(?1 AS TEXT) IS NULL OR feature=?1) AND"
                      " (CAST(?2 AS TEXT) IS NULL OR rule=?2) AND"
                      " (CAST(?3 AS TEXT) IS NULL OR wave=?3) ORDER BY id";
    enum wg_err ready = open_filtered(state_dir, sql, feature, rule, wave, &db, &st);
    if (ready != WG_OK) {
        if (ready == WG_ENOTFOUND) {
            fprintf(f, "no history in %s\n", state_dir);
        }
        return ready;
    }
    fprintf(f, "%-6s  %-24s  %-16s  %-20s  %-12s  %-12s  %12s  %7s\n", "ID", "WINDOW END",
            "FEATURE", "RULE", "WAVE", "VERDICT", "VALUE", "SAMPLES");
    enum wg_err rc = WG_OK;
    int step;
    while ((step = wg_sql_step(st)) == 1) {
        char t[48], val[32] = "-";
        if (!wg_sql_col_null(st, 6)) {
            snprintf(val, sizeof(val), "%.6g", wg_sql_col_double(st, 6));
        }
        fprintf(f, "%-6lld  %-24s  %-16s  %-20s  %-12s  %-12s  %12s  %7lld%s\n",
                (long long)wg_sql_col_int64(st, 0),
                wg_time_format(wg_sql_col_int64(st, 1), t, sizeof(t)), wg_sql_col_text(st, 2),
                wg_sql_col_text(st, 3), wg_sql_col_text(st, 4), wg_sql_col_text(st, 5), val,
                (long long)wg_sql_col_int64(st, 7),
                wg_sql_col_int64(st, 8) ? "  (invalidated)" : "");
    }
    if (step < 0) {
        fprintf(stderr, "wavegate: state store: %s\n", wg_sql_qerror(st));
        rc = WG_EIO;
    }
    wg_sql_end(st);
    wg_sql_close(db);
    return rc;
}

enum wg_err wg_gate_history_invalidate(const char *state_dir, long id, const char *feature,
                                       const char *rule, const char *wave, long *changed)
{
    struct wg_sql *db;
    struct wg_sql_q *st;
    const char *sql = "UPDATE evaluations SET invalidated=1 WHERE"
                      " (CAST(?1 AS TEXT) IS NULL OR feature=?1) AND"
                      " (CAST(?2 AS TEXT) IS NULL OR rule=?2) AND"
                      " (CAST(?3 AS TEXT) IS NULL OR wave=?3) AND"
                      " (?4 <= 0 OR id=?4) AND invalidated=0";
    *changed = 0;
    enum wg_err ready = open_filtered(state_dir, sql, feature, rule, wave, &db, &st);
    if (ready != WG_OK) {
        return ready;
    }
    enum wg_err rc = WG_EIO;
    char err[512];
    wg_sql_bind_int64(st, 4, id);
    if (wg_sql_run(st, err, sizeof(err)) == WG_OK) {
        *changed = (long)wg_sql_changes(st);
        rc = WG_OK;
    } else {
        fprintf(stderr, "wavegate: state store: %s\n", err);
    }
    wg_sql_end(st);
    wg_sql_close(db);
    return rc;
}
