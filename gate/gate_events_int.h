/* gate_events_int.h — what the event store's files share (gate_events.c, gate_events_store.c,
 * gate_events_flips.c, gate_events_markers.c): the handle, one connection per call, the column
 * helpers and the flip rows the recorder writes inside its own transaction. Not for use
 * outside those files.
 */
#ifndef WG_GATE_EVENTS_INT_H
#define WG_GATE_EVENTS_INT_H

#include "gate/gate_int.h"

#include "common/store.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>

struct wg__events_pend; /* one queued recording (gate_events_store.c) */

struct wg_events {
    struct wg__gate_db store; /* SQLite's one handle, or PostgreSQL's pool (gate_db.c) */
    char owner[80];           /* PostgreSQL: this handle's name in claimed_by (host:pid:random) */
    atomic_llong lease_ns, skew_ns;    /* a claim's lease; the markers' clock offset (tests) */
    struct wg_events_marker_hook hook; /* guarded by qmu; copied per batch */
    pthread_mutex_t qmu;               /* the queue */
    pthread_cond_t qcv;                /* to the committer: work (or stop, or hold off) */
    pthread_cond_t dcv;                /* to the recorders: a batch is done */
    struct wg__events_pend *qhead, **qtail;
    int busy; /* the committer has a batch (until its done calls returned) */
    int stop, hold;
    long commits;
    pthread_t committer;
};

/* The connection for one call (gate_events_store.c): wg__gate_db_take's, its failure said in err
 * as "events store (postgres): ..." and in the log once per 10 s. Give it back with
 * wg__events_give. */
struct wg_sql *wg__events_take(struct wg_events *e, char *err, size_t errlen);
void wg__events_give(struct wg_events *e, struct wg_sql *c);

/* Column col of q's row as text into dst (cut at n - 1 bytes; SQL NULL: ""). */
void wg__events_col_copy(char *dst, size_t n, struct wg_sql_q *q, int col);
/* Column col of q's row as the string member key of o (SQL NULL: left out). */
void wg__events_add_col(cJSON *o, const char *key, struct wg_sql_q *q, int col);

/* A flip analysis of the event id started, or the running ones of (feature, env) cancelled (*n
 * of them), on connection c: inside the recorder's transaction, or alone (gate_events_flips.c). */
enum wg_err wg__events_flip_start_on(struct wg_events *e, struct wg_sql *c, const char *id,
                                     const struct wg_event *ev, int64_t anchor_ns,
                                     int64_t interval_ns, long count, long failure_limit, char *err,
                                     size_t errlen) WG_NODISCARD;
enum wg_err wg__events_flip_cancel_on(struct wg_sql *c, const char *feature, const char *env,
                                      int *n, char *err, size_t errlen) WG_NODISCARD;

#endif
