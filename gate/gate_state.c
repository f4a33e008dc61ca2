/* gate_state.c — the gate's state store: an SQLite database (WAL) under state_dir keeping
 * the measured value of every evaluation of rules that use `baseline: previous`, so the next
 * evaluation can compare against the last passing ones; `wavegate history` reads and
 * invalidates entries (a bad deploy that passed must not become everybody's baseline).
 */
#include "gate/gate_int.h"

#include "common/store.h"

#include <sqlite3.h>
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

/* Open (creating when `create`) the store; NULL with err set when it cannot, NULL with err ""
 * when it does not exist yet and create is 0. */
static sqlite3 *open_store(const char *dir, int create, char *err, size_t errlen)
{
    struct wg_store_opts o = {
        .dir = dir,
        .file = "state.db",
        .create = create,
        .synchronous = 2,
        .migrations = MIGRATIONS,
        .nmigrations = (int)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])),
    };
    sqlite3 *db = NULL;
    if (wg_store_open(&o, &db, err, errlen) != WG_OK) {
        return NULL;
    }
    return db;
}

enum wg_err wg__gate_state_previous(const char *state_dir, const struct wg_rule *r,
                                    const char *wave, long count, struct wg_seriesset *out,
                                    char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    enum wg_err rc = WG_OK;
    err[0] = '\0';
    sqlite3 *db = open_store(state_dir, 0, err, errlen);
    if (!db) {
        return err[0] ? WG_EIO : WG_OK;
    }
    /* Newest `count` passing values, returned oldest first. */
    const char *sql =
        "SELECT at_ns, value FROM (SELECT id, at_ns, value FROM evaluations"
        " WHERE feature=?1 AND rule=?2 AND wave=?3 AND verdict IN ('pass','bootstrap')"
        " AND invalidated=0 AND value IS NOT NULL ORDER BY id DESC LIMIT ?4)"
        " ORDER BY id ASC";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "state store: %s", sqlite3_errmsg(db));
        rc = WG_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, r->feature, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, wave, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, count > 0 ? count : 5);
    struct wg_series *s = NULL;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!s && !(s = wg_seriesset_get(out, NULL, 0))) {
            rc = WG_ENOMEM;
            goto out;
        }
        if (wg_series_push(s, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1)) != WG_OK) {
            rc = WG_ENOMEM;
            goto out;
        }
    }
    if (step != SQLITE_DONE) {
        snprintf(err, errlen, "state store: %s", sqlite3_errmsg(db));
        rc = WG_EIO;
    }
out:
    sqlite3_finalize(st);
    wg_store_close(db);
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
        any |= rep->rules[i].rule->baseline.kind == WG_BASELINE_PREVIOUS;
    }
    if (!any) {
        return;
    }
    char err[512];
    sqlite3 *db = open_store(state_dir, 1, err, sizeof(err));
    if (!db) {
        wg_log(WG_LOG_WARN, "history not recorded: %s", err);
        return;
    }
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT INTO evaluations(at_ns, feature, rule, wave, verdict, value, samples)"
                      " VALUES(?,?,?,?,?,?,?)";
    int ok = wg_store_begin(db, 1, err, sizeof(err)) == WG_OK;
    if (ok && sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, sizeof(err), "%s", sqlite3_errmsg(db));
        ok = 0;
    }
    if (ok) {
        for (size_t i = 0; i < rep->nrules; i++) {
            const struct wg_rule_report *rr = &rep->rules[i];
            if (rr->rule->baseline.kind != WG_BASELINE_PREVIOUS) {
                continue;
            }
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, rr->end_ns);
            sqlite3_bind_text(st, 2, rr->feature->name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, rr->rule->name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, rr->history_wave ? rr->history_wave : rep->wave, -1,
                              SQLITE_STATIC); /* a fleet target's own history */
            sqlite3_bind_text(st, 5, record_verdict(rr), -1, SQLITE_STATIC);
            if (rr->res.has_value) {
                sqlite3_bind_double(st, 6, rr->res.value);
            } else {
                sqlite3_bind_null(st, 6);
            }
            sqlite3_bind_int64(st, 7, (sqlite3_int64)rr->res.samples);
            if (sqlite3_step(st) != SQLITE_DONE) {
                snprintf(err, sizeof(err), "%s", sqlite3_errmsg(db));
                ok = 0;
                break;
            }
        }
    }
    sqlite3_finalize(st);
    /* All of one evaluation or none of it: a half-recorded evaluation would skew the next
     * `baseline: previous`. */
    if (ok) {
        ok = wg_store_commit(db, err, sizeof(err)) == WG_OK;
    } else {
        wg_store_rollback(db);
    }
    if (!ok) {
        wg_log(WG_LOG_WARN, "history not recorded: %s", err);
    }
    wg_store_close(db);
}

/* Open an existing store and prepare sql with the (feature, rule, wave) filter bound to
 * ?1..?3 (the caller binds the rest). WG_OK when ready, WG_ENOTFOUND when there is no store
 * yet, WG_EIO on an error (printed). */
static enum wg_err open_filtered(const char *state_dir, const char *sql, const char *feature,
                                 const char *rule, const char *wave, sqlite3 **db,
                                 sqlite3_stmt **st)
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
    if (sqlite3_prepare_v2(*db, sql, -1, st, NULL) != SQLITE_OK) {
        fprintf(stderr, "wavegate: state store: %s\n", sqlite3_errmsg(*db));
        wg_store_close(*db);
        *db = NULL;
        return WG_EIO;
    }
    sqlite3_bind_text(*st, 1, feature, -1, SQLITE_STATIC);
    sqlite3_bind_text(*st, 2, rule, -1, SQLITE_STATIC);
    sqlite3_bind_text(*st, 3, wave, -1, SQLITE_STATIC);
    return WG_OK;
}

enum wg_err wg_gate_history_list(const char *state_dir, const char *feature, const char *rule,
                                 const char *wave, FILE *f)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    const char *sql = "SELECT id, at_ns, feature, rule, wave, verdict, value, samples, invalidated"
                      " FROM evaluations WHERE (?1 IS NULL OR feature=?1) AND"
                      " (?2 IS NULL OR rule=?2) AND (?3 IS NULL OR wave=?3) ORDER BY id";
    enum wg_err ready = open_filtered(state_dir, sql, feature, rule, wave, &db, &st);
    if (ready != WG_OK) {
        if (ready == WG_ENOTFOUND) {
            fprintf(f, "no history in %s\n", state_dir);
        }
        return ready;
    }
    fprintf(f, "%-6s  %-24s  %-16s  %-20s  %-12s  %-12s  %12s  %7s\n", "ID", "WINDOW END",
            "FEATURE", "RULE", "WAVE", "VERDICT", "VALUE", "SAMPLES");
    while (sqlite3_step(st) == SQLITE_ROW) {
        char t[48], val[32] = "-";
        if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
            snprintf(val, sizeof(val), "%.6g", sqlite3_column_double(st, 6));
        }
        fprintf(f, "%-6lld  %-24s  %-16s  %-20s  %-12s  %-12s  %12s  %7lld%s\n",
                (long long)sqlite3_column_int64(st, 0),
                wg_time_format(sqlite3_column_int64(st, 1), t, sizeof(t)),
                (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
                (const char *)sqlite3_column_text(st, 4), (const char *)sqlite3_column_text(st, 5),
                val, (long long)sqlite3_column_int64(st, 7),
                sqlite3_column_int(st, 8) ? "  (invalidated)" : "");
    }
    sqlite3_finalize(st);
    wg_store_close(db);
    return WG_OK;
}

enum wg_err wg_gate_history_invalidate(const char *state_dir, long id, const char *feature,
                                       const char *rule, const char *wave, long *changed)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    const char *sql = "UPDATE evaluations SET invalidated=1 WHERE (?1 IS NULL OR feature=?1) AND"
                      " (?2 IS NULL OR rule=?2) AND (?3 IS NULL OR wave=?3) AND"
                      " (?4 <= 0 OR id=?4) AND invalidated=0";
    *changed = 0;
    enum wg_err ready = open_filtered(state_dir, sql, feature, rule, wave, &db, &st);
    if (ready != WG_OK) {
        return ready;
    }
    enum wg_err rc = WG_EIO;
    sqlite3_bind_int64(st, 4, id);
    if (sqlite3_step(st) == SQLITE_DONE) {
        *changed = sqlite3_changes(db);
        rc = WG_OK;
    } else {
        fprintf(stderr, "wavegate: state store: %s\n", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    wg_store_close(db);
    return rc;
}
