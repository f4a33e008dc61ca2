/* alerting_int.h — internals shared by the alerting files: the alert store and state machine
 * (alerting_state.c), routing/grouping/dedup (alerting_dispatch.c), payloads and signing
 * (alerting_payload.c), SQLite persistence (alerting_store.c), delivery (alerting_deliver.c)
 * and its outbox (alerting_outbox.c).
 */
#ifndef WG_ALERTING_INT_H
#define WG_ALERTING_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "alerting/alerting.h"

/* ---- labels ------------------------------------------------------------------------------ */

struct wg__labels {
    struct wg_label *v; /* sorted by key, unique keys */
    size_t n;
};

enum wg_err wg__labels_set(struct wg__labels *ls, const char *k,
                           const char *v) WG_NODISCARD; /* replace or add */
const char *wg__labels_get(const struct wg__labels *ls, const char *k);
enum wg_err wg__labels_copy(struct wg__labels *dst, const struct wg_label *src,
                            size_t n) WG_NODISCARD;
void wg__labels_clear(struct wg__labels *ls);
int wg__matchers_match(const struct wg_matchers *ms, const struct wg__labels *ls);
/* JSON object text of a label set; appends to b. */
void wg__labels_json(struct wg_buf *b, const struct wg__labels *ls);
void wg__sha256_hex(const void *p, size_t n, char *out /* 65 */);

/* ---- alerts and their state machine ------------------------------------------------------ */

enum wg__astate { WG__INACTIVE = 0, WG__PENDING, WG__FIRING };

struct wg__alert {
    uint64_t fp;
    char fps[17];
    char *scope;
    struct wg__labels labels, ann;
    enum wg__astate state;
    int resolved;         /* was firing, now resolved (ends_at set) */
    int64_t active_since; /* first breach of the current pending/firing episode */
    int64_t starts_at;    /* firing since */
    int64_t ends_at;      /* resolved at; 0 while firing */
    int64_t last_breach;  /* for keep_firing_for */
    int64_t for_ns, keep_ns;
    int refs;   /* groups holding it */
    int dirty;  /* persist at next commit */
    int stored; /* has a row in the alerts table */
    int seen;
};

struct wg__store {
    struct wg__alert **v;
    size_t n, cap;
};

struct wg__alert *wg__store_find(struct wg__store *s, uint64_t fp);
struct wg__alert *wg__store_add(struct wg__store *s, uint64_t fp);
void wg__store_remove_at(struct wg__store *s, size_t i);
void wg__alert_free(struct wg__alert *al);
void wg__store_clear(struct wg__store *s);

/* One step of the state machine for a (possibly new) alert with the mapped condition
 * (1 = breach, 0 = ok, -1 = keep last). Returns 1 when it became firing or resolved. */
int wg__alert_step(struct wg__alert *al, int breach, int64_t now);

/* ---- dispatch ---------------------------------------------------------------------------- */

struct wg__group {
    char *key;
    const struct wg_route *route;
    const struct wg_receiver *rcv;
    struct wg__labels glabels;
    struct wg__alert **alerts;
    size_t n, cap;
    int64_t next_flush;
    int flushed;
    /* notification log */
    int has_log;
    uint64_t *log_firing;
    size_t nlog_firing;
    uint64_t *log_resolved;
    size_t nlog_resolved;
    int64_t log_ts;
    int log_dirty;
    int deleted; /* log row to delete at commit */
};

struct wg__notif {
    const struct wg_receiver *rcv;
    const struct wg__group *g;
    const char *reason;
    struct wg__alert **alerts; /* firing first, then resolved */
    size_t n, nfiring;
    int64_t now;
};

typedef void (*wg__emit_fn)(void *ctx, const struct wg__notif *nt);

struct wg__silence_set {
    struct wg_silence *v;
    size_t n;
};

struct wg__dispatch {
    const struct wg_alert_config *cfg;
    struct wg__group **groups;
    size_t ngroups, cap;
    /* groups by key: open addressing, a power-of-two size at most half full, rebuilt when
     * groups are removed (so thousands of alert groups are not found by a linear scan) */
    struct wg__group **index;
    size_t index_cap;
    struct wg__silence_set silences;
    struct wg__group **orphans; /* notification logs restored from disk, not yet adopted */
    size_t norphans;
    struct wg__group **dead; /* groups removed in this tick: their log rows go at commit */
    size_t ndead, dead_cap;
    struct wg__undo *undo; /* the flushed groups as they were before this tick */
    size_t nundo, undo_cap;
    uint64_t seq;
};

/* A flushed group's state before the tick, to put back when the tick's commit fails. */
struct wg__undo {
    struct wg__group *g;
    struct wg__alert **alerts; /* the group's alerts (flush drops the resolved ones) */
    size_t n;
    uint64_t *log_firing, *log_resolved; /* owned once the flush replaced the log */
    size_t nlog_firing, nlog_resolved;
    int64_t log_ts, next_flush;
    int has_log, log_dirty, flushed, replaced;
};

/* Put a firing or resolved alert into the groups of every route it matches. */
enum wg_err wg__dispatch_route(struct wg__dispatch *d, struct wg__alert *al,
                               int64_t now) WG_NODISCARD;
/* Flush due groups, calling emit for each notification to send. */
void wg__dispatch_tick(struct wg__dispatch *d, const struct wg__store *st, int64_t now,
                       wg__emit_fn emit, void *ctx);
/* End of a tick. ok: its commit went through; forget the undo journal, free removed groups.
 * Else put every flushed or removed group back as it was before the tick (log, alerts, timer),
 * so the same notifications are made again at the next tick. */
void wg__dispatch_settle(struct wg__dispatch *d, int ok);
int64_t wg__dispatch_next(const struct wg__dispatch *d);
int wg__dispatch_muted(const struct wg__dispatch *d, const struct wg__store *st,
                       const struct wg__alert *al, int64_t now);
struct wg__group *wg__dispatch_group(struct wg__dispatch *d, const char *key);
void wg__dispatch_clear(struct wg__dispatch *d);
void wg__group_free(struct wg__group *g);

/* ---- payloads ---------------------------------------------------------------------------- */

/* A rendered request: body, URL and extra headers ("Name: value\n" lines). */
struct wg__deliver_req {
    char *url;
    char *headers;
    char *body;
    char idem[40];
    char okey[17]; /* ordering key: jobs with equal keys are delivered in order */
};
/* Render the receiver's payload for a notification; never fails on template errors (plain
 * fallback). Returns WG_ENOMEM or WG_EINVAL (missing secret/key env) otherwise. */
enum wg_err wg__payload_render(const struct wg_alert_config *cfg, const struct wg__notif *nt,
                               const char *idem, struct wg__deliver_req *out) WG_NODISCARD;
void wg__req_clear(struct wg__deliver_req *r);
/* Template render: WG_EINVAL when a referenced field is missing (caller falls back). */
enum wg_err wg__message_render(const char *tmpl, const struct wg__notif *nt,
                               struct wg_buf *out) WG_NODISCARD;

/* ---- persistence (alerting_store.c) ------------------------------------------------------ */

struct wg_sql;
/* The alerting store: <state_dir>/alerting.db (SQLite, the default) or, with
 * `state: {backend: postgres}`, the shared PostgreSQL database (every replica's alert states,
 * notification logs, silences and the one outbox), each with its versioned migrations. */
enum wg_err wg__db_open(const char *state_dir, int synchronous, struct wg_sql **out, char *err,
                        size_t errlen) WG_NODISCARD;
/* wg__db_open, with check: PRAGMA quick_check first (a corrupt store is refused: an error code and
 * an error naming the file). Every open reports (logs) a store that turned up empty or missing
 * where the marker file says one was in use; *lost (may be NULL) is then 1. */
enum wg_err wg__db_open_checked(const char *state_dir, int synchronous, int check,
                                struct wg_sql **out, int *lost, char *err,
                                size_t errlen) WG_NODISCARD;
/* 1 on PostgreSQL (state shared by replicas, claims on the outbox). */
int wg__db_shared(const struct wg_sql *c);
/* The SQLite handle (NULL on PostgreSQL): WAL hooks and checkpoints. */
sqlite3 *wg__db_sqlite(struct wg_sql *c);
/* The last error on c (SQLite) or of this thread's last PostgreSQL query. */
const char *wg__db_errmsg(struct wg_sql *c);
void wg__db_set_error(const char *msg);
/* Transactions without logging (callers count failures and say them once): BEGIN IMMEDIATE
 * and COMMIT return the SQLite code (PostgreSQL: SQLITE_OK or SQLITE_ERROR); a failed COMMIT
 * is rolled back. wg__db_rollback rolls back only a transaction that is still open. */
int wg__db_begin(struct wg_sql *c);
int wg__db_commit(struct wg_sql *c);
void wg__db_rollback(struct wg_sql *c);
void wg__db_close(struct wg_sql *c);
/* wait: on a locked database retry for up to about 5 s (the default after wg__db_open);
 * 0: fail at once with SQLITE_BUSY. SQLite only. */
void wg__db_busy_wait(struct wg_sql *c, int wait);
/* Changes when silences may have changed (SQLite: PRAGMA data_version; PostgreSQL: count and
 * latest updated_at); -1 on error. */
int64_t wg__db_silence_version(struct wg_sql *c);
enum wg_err wg__db_save_alert(struct wg_sql *c, const struct wg__alert *al) WG_NODISCARD;
enum wg_err wg__db_delete_alert(struct wg_sql *c, uint64_t fp) WG_NODISCARD;
/* alert_links: an instance's evidence (wg_alerting_link_*); get: 1 found, 0 none, -1 error. */
enum wg_err wg__db_link_put(struct wg_sql *c, uint64_t fp, const char *id, int cond) WG_NODISCARD;
enum wg_err wg__db_link_drop(struct wg_sql *c, uint64_t fp) WG_NODISCARD;
int wg__db_link_get(struct wg_sql *c, uint64_t fp, char *id, size_t idlen, int *cond);
enum wg_err wg__db_save_group(struct wg_sql *c, const struct wg__group *g) WG_NODISCARD;
/* PostgreSQL: n (> 0) alerts / notification logs in one statement each (one round trip). */
enum wg_err wg__db_save_alerts(struct wg_sql *c, struct wg__alert *const *v, size_t n) WG_NODISCARD;
enum wg_err wg__db_save_groups(struct wg_sql *c, struct wg__group *const *v, size_t n) WG_NODISCARD;
enum wg_err wg__db_delete_group(struct wg_sql *c, const char *key) WG_NODISCARD;
enum wg_err wg__db_load_alerts(struct wg_sql *c, struct wg__store *st) WG_NODISCARD;
/* Loads the notification logs into a caller-freed list of groups (route/rcv unset). */
enum wg_err wg__db_load_logs(struct wg_sql *c, struct wg__group ***out, size_t *n) WG_NODISCARD;
enum wg_err wg__db_load_silences(struct wg_sql *c, struct wg__silence_set *ss) WG_NODISCARD;
struct wg_silence_store *wg__silence_store_wrap(struct wg_sql *c);
void wg__silence_set_clear(struct wg__silence_set *ss);

/* 1 while this process leads (gate_server_leader.c registers it; always 1 without). */
int wg__alerting_leader(void);

/* ---- outbox and delivery (alerting_deliver.c, alerting_outbox.c) ------------------------- */

struct wg__job {
    int64_t id;
    int rcv; /* index into cfg->receivers */
    struct wg__deliver_req req;
    int attempts;
    int64_t next_mono; /* earliest next attempt, monotonic ns */
    int64_t first_mono;
    int inflight;
    int64_t lease_mono; /* PostgreSQL: the claim on the row holds until then (monotonic) */
    int64_t created;    /* PostgreSQL: not inserted yet (id 0): the row's created time */
    struct wg__job *next;
};

/* Outbox rows per commit in a big tick: each chunk is handed to the worker as it commits. The
 * first is small (sending starts early), each next one twice as big up to the max (fewer
 * syncs while the worker has enough queued). */
#define WG__OUTBOX_CHUNK 32
#define WG__OUTBOX_CHUNK_MAX 512

/* The delivery worker (alerting_deliver.c) and its outbox's store side (alerting_outbox.c):
 * per-receiver queues, outcomes waiting for their commit, the worker's state. */
struct wg__xfer; /* one attempt in the pump (alerting_deliver.c) */

/* The counters are written by the delivery worker and read by /metrics' thread
 * (wg__deliver_metrics): atomics, so a read is never a data race (it may be a moment stale). */
struct wg__rcvq {
    struct wg__job *head, *tail;
    _Atomic size_t depth;
    _Atomic int inflight;
    double tokens;
    int64_t refill_mono;
    int64_t hold_until; /* 429: nothing to this receiver before then */
    _Atomic uint64_t delivered, failures, dead, retries;
};

struct wg__dbop {
    int64_t id;
    int kind; /* 0 delete, 1 retry, 2 dead */
    int attempts;
    char *err; /* retry and dead letter only */
};

struct wg__deliver {
    const struct wg_alert_config *cfg;
    struct wg_sql *db;
    int shared;     /* PostgreSQL: claims, leases, leader only */
    int leading;    /* the worker's view of the leadership (shared only) */
    char owner[96]; /* claimed_by of this process (host:pid:random), guarded by mu */
    int64_t lease_ns;
    int64_t renew_at, claim_at; /* mono */
    atomic_ullong reclaimed;    /* rows taken over from an expired lease (a possible resend) */
    atomic_ullong claims_lost;  /* rows whose claim another replica took (dropped here) */
    struct wg_http_pump *pump;
    pthread_t thr;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    struct wg__job *sub_head, *sub_tail; /* submitted, not yet taken by the worker */
    size_t nsub;
    struct wg__rcvq *q;
    size_t nq;
    size_t pending; /* jobs not yet delivered nor dead, guarded by mu */
    struct wg__dbop *ops;
    size_t nops, capops;
    int64_t ops_at;    /* mono: last outcome commit */
    int ops_err;       /* the last failure to begin or commit one, said once */
    int64_t ops_retry; /* mono: not before, after a failed one (doubling backoff) */
    int64_t ops_backoff;
    atomic_ullong store_errors; /* failed outcome commits (not busy: that is normal) */
    atomic_int degraded;
    int wal_pages;      /* WAL size after this connection's last commit */
    int64_t idle_since; /* mono: nothing in flight since then; 0 while sending */
    struct wg__xfer *active;
};

struct wg__deliver;
/* Opens its own connection to the database (WAL: the worker writes while ticks write). */
enum wg_err wg__deliver_new(const struct wg_alert_config *cfg, const char *state_dir,
                            int synchronous, int start_thread, struct wg__deliver **out, char *err,
                            size_t errlen) WG_NODISCARD;
/* Insert (in the caller's open transaction) a job row; returns its id, 0 when a row with the
 * same idempotency key is pending already (PostgreSQL: made by another replica; nothing to
 * hand over), or -1. On PostgreSQL the row is claimed for dv at once (j->lease_mono set). */
int64_t wg__outbox_insert(struct wg_sql *c, struct wg__deliver *dv, const char *receiver,
                          struct wg__job *j, int64_t now);
/* PostgreSQL: insert every job of the list (id 0, made in the caller's open transaction) in
 * one statement, claimed for dv; jobs whose idempotency key is pending already are dropped
 * from the list (*tail fixed). WG_EIO on error (nothing inserted). */
enum wg_err wg__outbox_insert_many(struct wg_sql *c, struct wg__deliver *dv, struct wg__job **head,
                                   struct wg__job ***tail) WG_NODISCARD;
/* Count a notification that could not even be rendered (missing key env) as dead. */
void wg__deliver_count_dead(struct wg__deliver *dv, int rcv);
/* Wait for the worker's progress signal (or the deadline). */
size_t wg__deliver_wait(struct wg__deliver *dv, int64_t deadline_mono);
/* Hand committed jobs to the worker (takes ownership of the list). */
void wg__deliver_submit(struct wg__deliver *dv, struct wg__job *jobs);
enum wg_err
wg__deliver_load(struct wg__deliver *dv) WG_NODISCARD; /* restore pending rows after a restart */
size_t wg__deliver_pending(struct wg__deliver *dv);
/* The worker's failed records of outcomes, and whether the last one failed. Thread-safe. */
uint64_t wg__deliver_store_errors(const struct wg__deliver *dv);
int wg__deliver_degraded(const struct wg__deliver *dv);
void wg__deliver_metrics(struct wg__deliver *dv, struct wg_buf *out);
void wg__deliver_free(struct wg__deliver *dv);
void wg__job_free(struct wg__job *j);
/* The worker's thread only. alerting_deliver.c: a receiver's queue, append and unlink.
 * alerting_outbox.c: an outcome kept for the next commit (kind 0 delete, 1 retry, 2 dead),
 * their commit (wait: for the write lock) and their drop, one turn of the shared outbox (1:
 * this replica may send), the rows held here given back, this process' claimed_by. */
void wg__alerting_q_push(struct wg__rcvq *q, struct wg__job *j);
void wg__alerting_q_unlink(struct wg__rcvq *q, struct wg__job *j);
void wg__alerting_op_add(struct wg__deliver *dv, int64_t id, int kind, int attempts,
                         const char *err);
void wg__alerting_ops_commit(struct wg__deliver *dv, int wait);
void wg__alerting_ops_clear(struct wg__deliver *dv);
int wg__alerting_shared_turn(struct wg__deliver *dv, int64_t now);
void wg__alerting_release(struct wg__deliver *dv);
void wg__alerting_new_owner(struct wg__deliver *dv);

/* rule_key of gate events: fire at once (no for:, no keep_firing_for). */
#define WG__EVENT_KEY WG_ALERTING_EVENT_KEY

/* monitor.rules settings of rule_key ("feature/rule", or matching "rule"), or NULL. */
const struct wg_monitor_rule *wg__monitor_rule(const struct wg_monitor *m, const char *key);

/* The handle's config (alerting.c). */
const struct wg_alert_config *wg__alerting_cfg(const struct wg_alerting *a);

#endif
