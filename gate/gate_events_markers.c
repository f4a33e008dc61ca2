/* gate_events_markers.c — the markers' outbox in the event store (the durable writer's store,
 * collector.h wg_lp_store): put, peek (claimed with a lease on PostgreSQL), del, count, trim.
 * Each function takes its own connection (the markers writer calls them from two threads).
 */
#include "gate/gate_events_int.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* SQLite: a marker row's commit is not fsync'd (synchronous=NORMAL for it, WAL): it survives a
 * kill of the process at once, a power loss from the next event's commit on (that fsync covers
 * the WAL before it); the events' own commits stay FULL. */
enum wg_err wg_events_marker_put(struct wg_events *e, const char *lines, size_t len,
                                 unsigned long long n)
{
    char err[256];
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    if (!e->store.pg) {
        if (wg_sql_exec(c, "PRAGMA synchronous=NORMAL", err, sizeof(err)) != WG_OK) {
            err[0] = '\0'; /* only the fsync is lost: the insert still goes */
        }
    }
    struct wg_sql_q *q = wg_sql_query(c, "INSERT INTO markers(n, lines) VALUES(?1, ?2)");
    wg_sql_bind_int64(q, 1, (int64_t)n);
    wg_sql_bind_blob(q, 2, lines, len);
    enum wg_err rc = wg_sql_run(q, err, sizeof(err));
    wg_sql_end(q);
    if (!e->store.pg) {
        if (wg_sql_exec(c, "PRAGMA synchronous=FULL", err, sizeof(err)) != WG_OK) {
            wg_log(WG_LOG_WARN, "events store: synchronous=FULL not restored: %s", err);
        }
    }
    wg__events_give(e, c);
    return rc;
}

/* The rows a peek takes, oldest first, up to about max_bytes (at least one). */
static enum wg_err peek_sqlite(struct wg_sql *c, size_t max_bytes, struct wg_buf *out,
                               long long *last_id, unsigned long long *n)
{
    struct wg_sql_q *q = wg_sql_query(c, "SELECT id, n, lines FROM markers ORDER BY id");
    int r;
    while ((r = wg_sql_step(q)) == 1) {
        size_t len = 0;
        const void *p = wg_sql_col_blob(q, 2, &len);
        if (out->len && out->len + len > max_bytes) {
            break;
        }
        wg_buf_add(out, p, len);
        *last_id = (long long)wg_sql_col_int64(q, 0);
        *n += (unsigned long long)wg_sql_col_int64(q, 1);
    }
    wg_sql_end(q);
    return r >= 0 ? wg_buf_err(out) : WG_EIO;
}

/* PostgreSQL: in one transaction the oldest rows nobody else holds (a live lease elsewhere, or
 * locked by another replica's peek in flight: SKIP LOCKED) are chosen by size, claimed for
 * this handle with a lease, and read: two replicas never send one row at once; a replica that
 * dies after its peek leaves rows that are anyone's once the lease ran out (a resend: line
 * protocol with its own timestamps overwrites the same point). */
static enum wg_err peek_pg(struct wg_events *e, struct wg_sql *c, size_t max_bytes,
                           struct wg_buf *out, long long *last_id, unsigned long long *n)
{
    char err[256];
    int64_t now = wg_now_ns() + atomic_load(&e->skew_ns);
    struct wg_buf ids;
    wg_buf_init(&ids, 0);
    wg_buf_adds(&ids, "{");
    size_t bytes = 0, rows = 0;
    enum wg_err rc = wg_sql_begin(c, 1, err, sizeof(err));
    struct wg_sql_q *q = wg_sql_query(
        c, "SELECT id, length(lines) FROM markers WHERE lease_until_ns < ?1 OR claimed_by=?2"
           " ORDER BY id LIMIT 4096 FOR UPDATE SKIP LOCKED"); /* rows looked at per peek */
    wg_sql_bind_int64(q, 1, now);
    wg_sql_bind_text(q, 2, e->owner);
    int r = rc == WG_OK ? 0 : -1;
    while (rc == WG_OK && (r = wg_sql_step(q)) == 1) {
        size_t len = (size_t)wg_sql_col_int64(q, 1);
        if (rows && bytes + len > max_bytes) {
            break;
        }
        wg_buf_addf(&ids, "%s%lld", rows ? "," : "", (long long)wg_sql_col_int64(q, 0));
        bytes += len;
        rows++;
    }
    wg_buf_adds(&ids, "}");
    if (rc == WG_OK && r < 0) {
        snprintf(err, sizeof(err), "%s", wg_sql_qerror(q));
        rc = WG_EIO;
    }
    wg_sql_end(q);
    if (rc == WG_OK && (rc = wg_buf_err(&ids)) == WG_OK && rows) {
        q = wg_sql_query(c, "UPDATE markers SET claimed_by=?1, lease_until_ns=?2"
                            " WHERE id = ANY(CAST(?3 AS BIGINT[]))");
        wg_sql_bind_text(q, 1, e->owner);
        wg_sql_bind_int64(q, 2, now + atomic_load(&e->lease_ns));
        wg_sql_bind_text(q, 3, ids.p);
        rc = wg_sql_run(q, err, sizeof(err));
        wg_sql_end(q);
        q = rc == WG_OK ? wg_sql_query(c, "SELECT id, n, lines FROM markers"
                                          " WHERE id = ANY(CAST(?1 AS BIGINT[])) ORDER BY id")
                        : NULL;
        wg_sql_bind_text(q, 1, ids.p);
        while (rc == WG_OK && (r = wg_sql_step(q)) == 1) {
            size_t len = 0;
            const void *p = wg_sql_col_blob(q, 2, &len);
            if (!p) {
                rc = WG_ENOMEM;
                break;
            }
            wg_buf_add(out, p, len);
            *last_id = (long long)wg_sql_col_int64(q, 0);
            *n += (unsigned long long)wg_sql_col_int64(q, 1);
        }
        if (rc == WG_OK && r < 0) {
            snprintf(err, sizeof(err), "%s", wg_sql_qerror(q));
            rc = WG_EIO;
        }
        wg_sql_end(q);
    }
    if (rc == WG_OK) {
        rc = wg_sql_commit(c, err, sizeof(err));
    } else {
        wg_sql_rollback(c);
    }
    if (rc == WG_EIO) {
        wg_log(WG_LOG_WARN, "events store: markers: %s", err);
    }
    wg_buf_free(&ids);
    return rc == WG_OK ? wg_buf_err(out) : rc;
}

enum wg_err wg_events_marker_peek(struct wg_events *e, size_t max_bytes, struct wg_buf *out,
                                  long long *last_id, unsigned long long *n)
{
    char err[256];
    *last_id = 0;
    *n = 0;
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = e->store.pg ? peek_pg(e, c, max_bytes, out, last_id, n)
                                 : peek_sqlite(c, max_bytes, out, last_id, n);
    if (rc != WG_OK) {
        *last_id = 0;
        *n = 0;
    }
    wg__events_give(e, c);
    return rc;
}

/* PostgreSQL: only the rows this handle claimed (a row another replica holds, even one older
 * than last_id, is its to send and delete). */
static enum wg_err marker_del(struct wg_events *e, long long last_id, int mine)
{
    char err[256];
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    struct wg_sql_q *q =
        wg_sql_query(c, mine && e->store.pg ? "DELETE FROM markers WHERE id <= ?1 AND claimed_by=?2"
                                            : "DELETE FROM markers WHERE id <= ?1");
    wg_sql_bind_int64(q, 1, last_id);
    if (mine && e->store.pg) {
        wg_sql_bind_text(q, 2, e->owner);
    }
    enum wg_err rc = wg_sql_run(q, err, sizeof(err));
    wg_sql_end(q);
    wg__events_give(e, c);
    return rc;
}

enum wg_err wg_events_marker_del(struct wg_events *e, long long last_id)
{
    return marker_del(e, last_id, 1);
}

static enum wg_err marker_sums(struct wg_sql *c, unsigned long long *lines,
                               unsigned long long *bytes)
{
    enum wg_err rc = WG_EIO;
    *lines = *bytes = 0;
    struct wg_sql_q *q =
        wg_sql_query(c, "SELECT coalesce(sum(n), 0), coalesce(sum(length(lines)), 0) FROM markers");
    if (wg_sql_step(q) == 1) {
        *lines = (unsigned long long)wg_sql_col_int64(q, 0);
        *bytes = (unsigned long long)wg_sql_col_int64(q, 1);
        rc = WG_OK;
    }
    wg_sql_end(q);
    return rc;
}

enum wg_err wg_events_marker_count(struct wg_events *e, unsigned long long *lines,
                                   unsigned long long *bytes)
{
    char err[256];
    *lines = *bytes = 0;
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = marker_sums(c, lines, bytes);
    wg__events_give(e, c);
    return rc;
}

enum wg_err wg_events_marker_trim(struct wg_events *e, unsigned long long max_lines,
                                  unsigned long long *lines, unsigned long long *bytes)
{
    char err[256];
    *lines = *bytes = 0;
    unsigned long long kept = 0, kb = 0;
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = marker_sums(c, &kept, &kb);
    long long upto = 0;
    struct wg_sql_q *q =
        rc == WG_OK && kept > max_lines
            ? wg_sql_query(c, "SELECT id, n, length(lines) FROM markers ORDER BY id")
            : NULL;
    while (q && kept - *lines > max_lines && wg_sql_step(q) == 1) {
        upto = (long long)wg_sql_col_int64(q, 0);
        *lines += (unsigned long long)wg_sql_col_int64(q, 1);
        *bytes += (unsigned long long)wg_sql_col_int64(q, 2);
    }
    wg_sql_end(q);
    wg__events_give(e, c);
    /* over the backlog the oldest go, whoever holds them (dropped, counted by the caller) */
    if (upto && (rc = marker_del(e, upto, 0)) != WG_OK) {
        *lines = *bytes = 0;
    }
    return rc;
}

static enum wg_err st_put(void *ctx, const char *lines, size_t len, unsigned long long n)
{
    return wg_events_marker_put(ctx, lines, len, n);
}

static enum wg_err st_peek(void *ctx, size_t max_bytes, struct wg_buf *out, long long *last,
                           unsigned long long *n)
{
    return wg_events_marker_peek(ctx, max_bytes, out, last, n);
}

static enum wg_err st_del(void *ctx, long long last)
{
    return wg_events_marker_del(ctx, last);
}

static enum wg_err st_trim(void *ctx, unsigned long long max, unsigned long long *lines,
                           unsigned long long *bytes)
{
    return wg_events_marker_trim(ctx, max, lines, bytes);
}

static enum wg_err st_count(void *ctx, unsigned long long *lines, unsigned long long *bytes)
{
    return wg_events_marker_count(ctx, lines, bytes);
}

void wg_events_marker_store(struct wg_events *e, struct wg_lp_store *st)
{
    static const struct wg_lp_store ops = {NULL, st_put, st_peek, st_del, st_trim, st_count};
    *st = ops;
    st->ctx = e;
}
