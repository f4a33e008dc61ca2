/* gate_events_flips.c — flip analyses and their kill-switch actions in the event store: start
 * and cancel (also inside the recorder's transaction), the due rows (claimed with a lease and
 * SKIP LOCKED on PostgreSQL, so no two replicas run one at once), each look and each attempt
 * recorded, the rate-limit window, and the JSON of both for GET /v1/events/actions.
 */
#include "gate/gate_events_int.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Inside the recorder's transaction, or alone (c taken). */
enum wg_err wg__events_flip_start_on(struct wg_events *e, struct wg_sql *c, const char *id,
                                     const struct wg_event *ev, int64_t anchor_ns,
                                     int64_t interval_ns, long count, long failure_limit, char *err,
                                     size_t errlen)
{
    struct wg_sql_q *q = wg_sql_query(
        c, e->store.pg
               ? "INSERT INTO flips(id, feature, wave, env, flag, anchor_ns, interval_ns,"
                 " next_ns, count, failure_limit, status) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,"
                 "?10,'running') ON CONFLICT DO NOTHING"
               : "INSERT OR IGNORE INTO flips(id, feature, wave, env, flag, anchor_ns,"
                 " interval_ns, next_ns, count, failure_limit, status) VALUES (?1,?2,?3,?4,"
                 "?5,?6,?7,?8,?9,?10,'running')");
    wg_sql_bind_text(q, 1, id);
    wg_sql_bind_text(q, 2, ev->feature ? ev->feature : "");
    wg_sql_bind_text(q, 3, ev->wave ? ev->wave : "");
    wg_sql_bind_text(q, 4, ev->env ? ev->env : "");
    wg_sql_bind_text(q, 5, ev->flag ? ev->flag : "");
    wg_sql_bind_int64(q, 6, anchor_ns);
    wg_sql_bind_int64(q, 7, interval_ns);
    wg_sql_bind_int64(q, 8, anchor_ns + interval_ns);
    wg_sql_bind_int64(q, 9, count);
    wg_sql_bind_int64(q, 10, failure_limit);
    enum wg_err rc = wg_sql_run(q, err, errlen);
    wg_sql_end(q);
    return rc;
}

enum wg_err wg__events_flip_cancel_on(struct wg_sql *c, const char *feature, const char *env,
                                      int *n, char *err, size_t errlen)
{
    *n = 0;
    struct wg_sql_q *q = wg_sql_query(c, "UPDATE flips SET status='cancelled' WHERE"
                                         " feature=?1 AND env=?2 AND status='running'");
    wg_sql_bind_text(q, 1, feature ? feature : "");
    wg_sql_bind_text(q, 2, env ? env : "");
    enum wg_err rc = wg_sql_run(q, err, errlen);
    *n = (int)wg_sql_changes(q);
    wg_sql_end(q);
    return rc;
}
enum wg_err wg_events_flip_start(struct wg_events *e, const char *id, const struct wg_event *ev,
                                 int64_t anchor_ns, int64_t interval_ns, long count,
                                 long failure_limit)
{
    char err[256];
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = wg__events_flip_start_on(e, c, id, ev, anchor_ns, interval_ns, count,
                                              failure_limit, err, sizeof(err));
    wg__events_give(e, c);
    return rc;
}

enum wg_err wg_events_flip_cancel(struct wg_events *e, const char *feature, const char *env, int *n)
{
    char err[256];
    *n = 0;
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = wg__events_flip_cancel_on(c, feature, env, n, err, sizeof(err));
    wg__events_give(e, c);
    return rc;
}

/* The due rows of one table, up to max of them, each read into out by spec->row: SQLite's
 * as they are (one process, one runner); PostgreSQL's claimed by spec->pg (this handle's name
 * in ?3 and its lease's end in ?4). ?1 is now, ?2 max. */
struct due_rows {
    const char *sqlite, *pg; /* the two queries, columns as row reads them */
    const char *what;        /* "flips", "actions": for the log */
    void (*row)(void *out, size_t i, struct wg_sql_q *q);
};

static enum wg_err claim_due(struct wg_events *e, const struct due_rows *spec, int64_t now_ns,
                             void *out, size_t max, size_t *n)
{
    char err[256];
    *n = 0;
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    struct wg_sql_q *q = wg_sql_query(c, e->store.pg ? spec->pg : spec->sqlite);
    wg_sql_bind_int64(q, 1, now_ns);
    wg_sql_bind_int64(q, 2, (int64_t)max);
    if (e->store.pg) {
        wg_sql_bind_text(q, 3, e->owner);
        wg_sql_bind_int64(q, 4, now_ns + atomic_load(&e->lease_ns));
    }
    int r;
    while ((r = wg_sql_step(q)) == 1 && *n < max) {
        spec->row(out, (*n)++, q);
    }
    enum wg_err rc = r >= 0 ? WG_OK : WG_EIO;
    if (rc != WG_OK) {
        wg_log(WG_LOG_WARN, "events store: due %s: %s", spec->what, wg_sql_qerror(q));
    }
    wg_sql_end(q);
    wg__events_give(e, c);
    return rc;
}

#define FLIP_COLS                                                                                  \
    "id, feature, wave, env, flag, anchor_ns, interval_ns, next_ns, count, failure_limit, looks,"  \
    " failures, errors, status"

/* SQLite: one process, one runner: the due rows as they are. PostgreSQL: claimed — this
 * handle's name and a lease on each row taken, rows another replica holds (a live lease, or a
 * row locked by its claim in flight) skipped; a lease that ran out is anyone's again. */
static const char FLIP_DUE_SQ[] = "SELECT " FLIP_COLS " FROM flips WHERE status='running' AND"
                                  " next_ns <= ?1 ORDER BY next_ns LIMIT ?2";
static const char FLIP_DUE_PG[] =
    "UPDATE flips SET claimed_by=?3, lease_until_ns=?4 WHERE id IN (SELECT id FROM flips"
    " WHERE status='running' AND next_ns <= ?1 AND (lease_until_ns < ?1 OR claimed_by=?3)"
    " ORDER BY next_ns LIMIT ?2 FOR UPDATE SKIP LOCKED) RETURNING " FLIP_COLS;

/* One due flip row (FLIP_COLS) into out[i]. */
static void flip_row(void *out, size_t i, struct wg_sql_q *q)
{
    struct wg_flip *f = (struct wg_flip *)out + i;
    wg__events_col_copy(f->id, sizeof(f->id), q, 0);
    wg__events_col_copy(f->feature, sizeof(f->feature), q, 1);
    wg__events_col_copy(f->wave, sizeof(f->wave), q, 2);
    wg__events_col_copy(f->env, sizeof(f->env), q, 3);
    wg__events_col_copy(f->flag, sizeof(f->flag), q, 4);
    f->anchor_ns = wg_sql_col_int64(q, 5);
    f->interval_ns = wg_sql_col_int64(q, 6);
    f->next_ns = wg_sql_col_int64(q, 7);
    f->count = (long)wg_sql_col_int64(q, 8);
    f->failure_limit = (long)wg_sql_col_int64(q, 9);
    f->looks = (long)wg_sql_col_int64(q, 10);
    f->failures = (long)wg_sql_col_int64(q, 11);
    f->errors = (long)wg_sql_col_int64(q, 12);
    wg__events_col_copy(f->status, sizeof(f->status), q, 13);
}

enum wg_err wg_events_flip_due(struct wg_events *e, int64_t now_ns, struct wg_flip *out, size_t max,
                               size_t *n)
{
    static const struct due_rows flips = {FLIP_DUE_SQ, FLIP_DUE_PG, "flips", flip_row};
    return claim_due(e, &flips, now_ns, out, max, n);
}

/* PostgreSQL: the look is recorded only by the claim's holder, and only while the flip still
 * runs (a flag turned off meanwhile stays cancelled); the claim is let go with it. */
static const char FLIP_LOOK_SQ[] = "UPDATE flips SET looks=?2, failures=?3, errors=?4,"
                                   " next_ns=?5, status=?6 WHERE id=?1";
static const char FLIP_LOOK_PG[] = "UPDATE flips SET looks=?2, failures=?3, errors=?4,"
                                   " next_ns=?5, status=?6, claimed_by=NULL, lease_until_ns=0"
                                   " WHERE id=?1 AND claimed_by=?7 AND status='running'";

enum wg_err wg_events_flip_look(struct wg_events *e, struct wg_flip *f, enum wg_verdict v,
                                int64_t now_ns, size_t naction)
{
    char err[256];
    f->looks++;
    f->failures += v == WG_FAIL;
    f->errors += v == WG_NOEVAL;
    const char *status = "running";
    if (f->failures > f->failure_limit) {
        status = "fail";
    } else if (f->looks >= f->count) {
        /* nothing evaluated is never a pass */
        status = f->errors >= f->looks ? "error" : "pass";
    }
    /* looks missed while down (or before an old event arrived) are not made up: the next one
     * is the first interval boundary after now, in one step (a loop over a year of 1 s
     * intervals spun the runner: valgrind saw the server stop hang behind it) */
    if (f->next_ns <= now_ns) {
        int64_t iv = f->interval_ns > 0 ? f->interval_ns : WG_NS_PER_SEC;
        f->next_ns += ((now_ns - f->next_ns) / iv + 1) * iv;
    }
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = wg_sql_begin(c, 1, err, sizeof(err));
    struct wg_sql_q *up = wg_sql_query(c, e->store.pg ? FLIP_LOOK_PG : FLIP_LOOK_SQ);
    wg_sql_bind_text(up, 1, f->id);
    wg_sql_bind_int64(up, 2, f->looks);
    wg_sql_bind_int64(up, 3, f->failures);
    wg_sql_bind_int64(up, 4, f->errors);
    wg_sql_bind_int64(up, 5, f->next_ns);
    wg_sql_bind_text(up, 6, status);
    if (e->store.pg) {
        wg_sql_bind_text(up, 7, e->owner);
    }
    if (rc == WG_OK) {
        rc = wg_sql_run(up, err, sizeof(err));
    }
    if (rc == WG_OK && e->store.pg && wg_sql_changes(up) == 0) {
        rc = WG_ENOTFOUND; /* the claim ran out (another replica has it) or it was cancelled */
    }
    wg_sql_end(up);
    for (size_t i = 0; rc == WG_OK && !strcmp(status, "fail") && i < naction; i++) {
        struct wg_sql_q *ins = wg_sql_query(
            c, e->store.pg
                   ? "INSERT INTO actions(id, idx, feature, wave, env, flag, status, next_ns)"
                     " VALUES (?1,?2,?3,?4,?5,?6,'pending',?7) ON CONFLICT DO NOTHING"
                   : "INSERT OR IGNORE INTO actions(id, idx, feature, wave, env, flag, status,"
                     " next_ns) VALUES (?1,?2,?3,?4,?5,?6,'pending',?7)");
        wg_sql_bind_text(ins, 1, f->id);
        wg_sql_bind_int64(ins, 2, (int64_t)i);
        wg_sql_bind_text(ins, 3, f->feature);
        wg_sql_bind_text(ins, 4, f->wave);
        wg_sql_bind_text(ins, 5, f->env);
        wg_sql_bind_text(ins, 6, f->flag);
        wg_sql_bind_int64(ins, 7, now_ns);
        rc = wg_sql_run(ins, err, sizeof(err));
        wg_sql_end(ins);
    }
    if (rc == WG_OK) {
        rc = wg_sql_commit(c, err, sizeof(err));
    } else {
        wg_sql_rollback(c);
    }
    wg__events_give(e, c);
    if (rc == WG_OK) {
        snprintf(f->status, sizeof(f->status), "%s", status);
    }
    return rc;
}

#define ACTION_COLS "id, idx, feature, wave, env, flag, attempts, status"
static const char ACTION_DUE_SQ[] = "SELECT " ACTION_COLS " FROM actions WHERE status IN"
                                    " ('pending', 'held') AND next_ns <= ?1 ORDER BY next_ns"
                                    " LIMIT ?2";
static const char ACTION_DUE_PG[] =
    "UPDATE actions SET claimed_by=?3, lease_until_ns=?4 WHERE (id, idx) IN (SELECT id, idx"
    " FROM actions WHERE status IN ('pending', 'held') AND next_ns <= ?1 AND"
    " (lease_until_ns < ?1 OR claimed_by=?3) ORDER BY next_ns LIMIT ?2 FOR UPDATE SKIP LOCKED)"
    " RETURNING " ACTION_COLS;

/* One due action row (ACTION_COLS) into out[i]. */
static void action_row(void *out, size_t i, struct wg_sql_q *q)
{
    struct wg_action_row *a = (struct wg_action_row *)out + i;
    wg__events_col_copy(a->id, sizeof(a->id), q, 0);
    a->idx = (int)wg_sql_col_int64(q, 1);
    wg__events_col_copy(a->feature, sizeof(a->feature), q, 2);
    wg__events_col_copy(a->wave, sizeof(a->wave), q, 3);
    wg__events_col_copy(a->env, sizeof(a->env), q, 4);
    wg__events_col_copy(a->flag, sizeof(a->flag), q, 5);
    a->attempts = (long)wg_sql_col_int64(q, 6);
    wg__events_col_copy(a->status, sizeof(a->status), q, 7);
}

enum wg_err wg_events_action_due(struct wg_events *e, int64_t now_ns, struct wg_action_row *out,
                                 size_t max, size_t *n)
{
    static const struct due_rows actions = {ACTION_DUE_SQ, ACTION_DUE_PG, "actions", action_row};
    return claim_due(e, &actions, now_ns, out, max, n);
}

/* An attempt row and the action's new state in one transaction; counted: 1 for an attempt
 * made, 0 for a hold. PostgreSQL: only by the claim's holder, letting the claim go. */
static enum wg_err attempt_row(struct wg_events *e, const struct wg_action_row *a,
                               const char *status, long http_status, const char *answer,
                               int64_t now_ns, int64_t next_ns, int counted)
{
    char err[256];
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = wg_sql_begin(c, 1, err, sizeof(err));
    struct wg_sql_q *up = wg_sql_query(
        c, e->store.pg
               ? "UPDATE actions SET status=?3, attempts=attempts+?5, next_ns=?4,"
                 " claimed_by=NULL, lease_until_ns=0 WHERE id=?1 AND idx=?2 AND claimed_by=?6"
               : "UPDATE actions SET status=?3, attempts=attempts+?5, next_ns=?4 WHERE id=?1"
                 " AND idx=?2");
    wg_sql_bind_text(up, 1, a->id);
    wg_sql_bind_int64(up, 2, a->idx);
    wg_sql_bind_text(up, 3, status);
    wg_sql_bind_int64(up, 4, next_ns);
    wg_sql_bind_int64(up, 5, counted);
    if (e->store.pg) {
        wg_sql_bind_text(up, 6, e->owner);
    }
    struct wg_sql_q *at = wg_sql_query(c, "INSERT INTO action_attempts(id, idx, at_ns, status,"
                                          " http_status, answer) VALUES (?1,?2,?3,?4,?5,?6)");
    wg_sql_bind_text(at, 1, a->id);
    wg_sql_bind_int64(at, 2, a->idx);
    wg_sql_bind_int64(at, 3, now_ns);
    wg_sql_bind_text(at, 4, status);
    wg_sql_bind_int64(at, 5, http_status);
    wg_sql_bind_text(at, 6, answer ? answer : "");
    if (rc == WG_OK) {
        rc = wg_sql_run(up, err, sizeof(err));
    }
    if (rc == WG_OK && e->store.pg && wg_sql_changes(up) == 0) {
        rc = WG_ENOTFOUND; /* the claim ran out: another replica has the action now */
    }
    if (rc == WG_OK) {
        rc = wg_sql_run(at, err, sizeof(err));
    }
    wg_sql_end(at);
    wg_sql_end(up);
    if (rc == WG_OK) {
        rc = wg_sql_commit(c, err, sizeof(err));
    } else {
        wg_sql_rollback(c);
    }
    wg__events_give(e, c);
    return rc;
}

enum wg_err wg_events_action_attempt(struct wg_events *e, const struct wg_action_row *a,
                                     const char *status, long http_status, const char *answer,
                                     int64_t now_ns, int64_t next_ns)
{
    return attempt_row(e, a, status, http_status, answer, now_ns, next_ns, 1);
}

enum wg_err wg_events_action_hold(struct wg_events *e, const struct wg_action_row *a,
                                  const char *why, int64_t now_ns, int64_t next_ns)
{
    return attempt_row(e, a, "held", 0, why, now_ns, next_ns, 0);
}

enum wg_err wg_events_action_window(struct wg_events *e, const struct wg_action_row *a,
                                    int64_t since_ns, long *used, int64_t *oldest_ns)
{
    char err[256];
    *used = 0;
    *oldest_ns = 0;
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = WG_EIO;
    struct wg_sql_q *q = wg_sql_query(
        c, "SELECT COUNT(DISTINCT t.id), COALESCE(MIN(t.at_ns), 0) FROM action_attempts t"
           " JOIN actions a ON a.id = t.id AND a.idx = t.idx WHERE a.feature = ?1"
           " AND t.idx = ?2 AND t.at_ns >= ?3 AND t.status <> 'held' AND t.id <> ?4");
    wg_sql_bind_text(q, 1, a->feature);
    wg_sql_bind_int64(q, 2, a->idx);
    wg_sql_bind_int64(q, 3, since_ns);
    wg_sql_bind_text(q, 4, a->id);
    if (wg_sql_step(q) == 1) {
        *used = (long)wg_sql_col_int64(q, 0);
        *oldest_ns = wg_sql_col_int64(q, 1);
        rc = WG_OK;
    }
    wg_sql_end(q);
    wg__events_give(e, c);
    return rc;
}

enum wg_err wg_events_actions_json(struct wg_events *e, char **out)
{
    *out = NULL;
    char err[256];
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *flips = cJSON_AddArrayToObject(root, "flips");
    cJSON *acts = cJSON_AddArrayToObject(root, "actions");
    enum wg_err rc = WG_ENOMEM;
    struct wg_sql_q *f = wg_sql_query(c, "SELECT id, feature, env, status, looks, failures,"
                                         " errors, (SELECT v FROM events_kv WHERE"
                                         " k='report:'||flips.id) FROM flips ORDER BY id");
    struct wg_sql_q *a = NULL;
    int r = -1;
    if (!f || !flips || !acts) {
        goto out;
    }
    while ((r = wg_sql_step(f)) == 1) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(flips, o);
        wg__events_add_col(o, "id", f, 0);
        wg__events_add_col(o, "feature", f, 1);
        wg__events_add_col(o, "env", f, 2);
        wg__events_add_col(o, "status", f, 3);
        cJSON_AddNumberToObject(o, "looks", (double)wg_sql_col_int64(f, 4));
        cJSON_AddNumberToObject(o, "failures", (double)wg_sql_col_int64(f, 5));
        cJSON_AddNumberToObject(o, "errors", (double)wg_sql_col_int64(f, 6));
        wg__events_add_col(o, "report_url", f,
                           7); /* the failing look's evidence page (gate_server_ui.c) */
    }
    if (r < 0) {
        rc = WG_EIO;
        goto out;
    }
    a = wg_sql_query(
        c, "SELECT a.id, a.idx, a.status, a.attempts, (SELECT http_status FROM"
           " action_attempts t WHERE t.id=a.id AND t.idx=a.idx ORDER BY at_ns DESC LIMIT 1),"
           " (SELECT answer FROM action_attempts t WHERE t.id=a.id AND t.idx=a.idx"
           " ORDER BY at_ns DESC LIMIT 1), (SELECT v FROM events_kv WHERE"
           " k='report:'||a.id) FROM actions a ORDER BY a.id, a.idx");
    while ((r = wg_sql_step(a)) == 1) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(acts, o);
        wg__events_add_col(o, "id", a, 0);
        cJSON_AddNumberToObject(o, "index", (double)wg_sql_col_int64(a, 1));
        wg__events_add_col(o, "status", a, 2);
        cJSON_AddNumberToObject(o, "attempts", (double)wg_sql_col_int64(a, 3));
        cJSON_AddNumberToObject(o, "http_status", (double)wg_sql_col_int64(a, 4));
        wg__events_add_col(o, "answer", a, 5);
        wg__events_add_col(o, "report_url", a, 6);
    }
    if (r < 0) {
        rc = WG_EIO;
        goto out;
    }
    *out = cJSON_PrintUnformatted(root);
    rc = *out ? WG_OK : WG_ENOMEM;
out:
    wg_sql_end(f);
    wg_sql_end(a);
    wg__events_give(e, c);
    cJSON_Delete(root);
    return rc;
}
