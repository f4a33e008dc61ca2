/* gate_server_leader.c — one leader among the replicas of `serve` on a shared PostgreSQL: a
 * session-level advisory lock held on a connection of its own, taken or checked every tick
 * (leader_takeover / 4), so when the leader dies (its session ends) or is cut off (its check
 * fails: it steps down at once) another replica leads within leader_takeover. The leader runs
 * the monitor, the alerting ticks and the delivery workers (wg_alerting_set_leader: outbox rows
 * are claimed with a lease besides, so two replicas that both think they lead for a moment
 * never send one row at once); on SQLite (one process per state_dir) this replica leads.
 */
#include "gate/gate_server_int.h"

#include "alerting/alerting.h"
#include "common/store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* pg_try_advisory_lock's key: one leader per database. */
#define LOCK_SQL "SELECT pg_try_advisory_lock(hashtext('wavegate-leader'))"
/* The only advisory lock this session takes is the leader's. */
#define HELD_SQL                                                                                   \
    "SELECT count(*) FROM pg_locks WHERE locktype='advisory' AND granted AND"                      \
    " pid=pg_backend_pid()"

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int started, stop;
    int64_t tick_ns;
    struct wg_sql *c;
    atomic_int leader;          /* 1 while this replica leads */
    atomic_int shared;          /* 1 on PostgreSQL */
    atomic_ullong changes;      /* became leader or stepped down */
    atomic_ullong check_errors; /* a tick that could not reach the database */
    atomic_llong since_ns;      /* wall clock of the last change */
    atomic_ullong evals, skips; /* monitor turns taken as leader / left to the leader */
} L = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

int wg__leader_active(void)
{
    return !atomic_load(&L.shared) || atomic_load(&L.leader);
}

int wg__leader_monitor_turn(void)
{
    int on = wg__leader_active();
    atomic_fetch_add(on ? &L.evals : &L.skips, 1);
    return on;
}

static void set_leader(int on, const char *why)
{
    if (atomic_exchange(&L.leader, on) != on) {
        atomic_fetch_add(&L.changes, 1);
        atomic_store(&L.since_ns, wg_now_ns());
        wg_log(on ? WG_LOG_INFO : WG_LOG_WARN, "leader: %s%s%s",
               on ? "this replica leads now (runs the monitor)" : "stepped down", why ? ": " : "",
               why ? why : "");
    }
}

/* One tick: 1 leading, 0 not, -1 the database could not be asked (not leading either). */
static int tick(void)
{
    char err[512];
    if (!L.c) {
        struct wg_sql_opts o = {.backend = WG_STORE_POSTGRES, .name = "leader", .own_session = 1};
        if (wg_sql_open(&o, &L.c, err, sizeof(err)) != WG_OK) {
            set_leader(0, err);
            return -1;
        }
        /* the server notices a leader cut off within a few seconds and frees its lock */
        if (wg_sql_exec(L.c,
                        "SET tcp_keepalives_idle = 1; SET tcp_keepalives_interval = 1;"
                        " SET tcp_keepalives_count = 3",
                        err, sizeof(err)) != WG_OK) {
            wg_log(WG_LOG_WARN, "leader: %s", err);
        }
    }
    /* The lock is the session's: after a reconnect (a new session) it is gone, so ask. */
    struct wg_sql_q *q = wg_sql_query(L.c, atomic_load(&L.leader) ? HELD_SQL : LOCK_SQL);
    int r = wg_sql_step(q);
    int held = r == 1 && wg_sql_col_int64(q, 0) != 0;
    if (r < 0) {
        snprintf(err, sizeof(err), "%s", wg_sql_qerror(q));
    }
    wg_sql_end(q);
    if (r < 0) {
        atomic_fetch_add(&L.check_errors, 1);
        set_leader(0, err);
        wg_sql_close(L.c); /* a fresh session next tick: the old one's lock must not linger */
        L.c = NULL;
        return -1;
    }
    set_leader(held, held ? NULL : "the lock is held elsewhere or was lost");
    return held;
}

static void *run(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&L.mu);
    while (!L.stop) {
        pthread_mutex_unlock(&L.mu);
        (void)tick();
        pthread_mutex_lock(&L.mu);
        /* L.cv waits on CLOCK_REALTIME (a static initializer): the deadline is wall time */
        int64_t until = wg_now_ns() + L.tick_ns;
        struct timespec ts = {(time_t)(until / WG_NS_PER_SEC), (long)(until % WG_NS_PER_SEC)};
        while (!L.stop) {
            if (pthread_cond_timedwait(&L.cv, &L.mu, &ts) == ETIMEDOUT) {
                break;
            }
        }
    }
    pthread_mutex_unlock(&L.mu);
    return NULL;
}

enum wg_err wg__leader_start(struct wg_server *s, char *err, size_t errlen)
{
    const struct wg_config *cfg = s->gen->cfg;
    if (wg_sql_default_backend() != WG_STORE_POSTGRES) {
        atomic_store(&L.shared, 0);
        atomic_store(&L.leader, 1);
        return WG_OK;
    }
    pthread_mutex_lock(&L.mu);
    if (L.started) {
        pthread_mutex_unlock(&L.mu);
        return WG_OK;
    }
    atomic_store(&L.shared, 1);
    atomic_store(&L.leader, 0);
    wg_alerting_set_leader(wg__leader_active);
    int64_t bound =
        cfg->state.leader_takeover_ns > 0 ? cfg->state.leader_takeover_ns : 10 * WG_NS_PER_SEC;
    L.tick_ns = bound / 4;
    L.stop = 0;
    int e = pthread_create(&L.th, NULL, run, NULL);
    if (e != 0) {
        pthread_mutex_unlock(&L.mu);
        snprintf(err, errlen, "cannot start the leader election: %s", strerror(e));
        return WG_EIO;
    }
    L.started = 1;
    pthread_mutex_unlock(&L.mu);
    wg_log(WG_LOG_INFO, "leader: election on the shared store, checked every %lldms",
           (long long)(L.tick_ns / 1000000));
    return WG_OK;
}

void wg__leader_stop(void)
{
    pthread_mutex_lock(&L.mu);
    int started = L.started;
    L.stop = 1;
    pthread_cond_broadcast(&L.cv);
    pthread_mutex_unlock(&L.mu);
    if (started) {
        pthread_join(L.th, NULL);
    }
    pthread_mutex_lock(&L.mu);
    wg_sql_close(L.c); /* the session ends: the lock is free for another replica at once */
    L.c = NULL;
    L.started = 0;
    if (atomic_load(&L.shared)) {
        set_leader(0, "shutting down");
    }
    pthread_mutex_unlock(&L.mu);
}

void wg__leader_metrics(struct wg_buf *b)
{
    struct wg_sql_stats st;
    wg_sql_stats(&st);
    (void)wg_buf_addf(b,
                      "# HELP wavegate_leader 1 while this replica leads (runs the monitor).\n"
                      "# TYPE wavegate_leader gauge\nwavegate_leader %d\n"
                      "# HELP wavegate_leader_changes_total Leadership taken or given up.\n"
                      "# TYPE wavegate_leader_changes_total counter\n"
                      "wavegate_leader_changes_total %llu\n"
                      "# HELP wavegate_leader_check_errors_total Election ticks that could not "
                      "reach the database.\n# TYPE wavegate_leader_check_errors_total counter\n"
                      "wavegate_leader_check_errors_total %llu\n"
                      "# HELP wavegate_state_queries_total Store queries (both backends).\n"
                      "# TYPE wavegate_state_queries_total counter\n"
                      "wavegate_state_queries_total %llu\n"
                      "# HELP wavegate_state_query_errors_total Store queries that failed.\n"
                      "# TYPE wavegate_state_query_errors_total counter\n"
                      "wavegate_state_query_errors_total %llu\n"
                      "# HELP wavegate_state_query_seconds_total Time spent in store queries.\n"
                      "# TYPE wavegate_state_query_seconds_total counter\n"
                      "wavegate_state_query_seconds_total %.6f\n"
                      "# HELP wavegate_monitor_turns_total Monitor intervals: evaluated here as "
                      "the leader, or skipped as a follower.\n"
                      "# TYPE wavegate_monitor_turns_total counter\n"
                      "wavegate_monitor_turns_total{role=\"leader\"} %llu\n"
                      "wavegate_monitor_turns_total{role=\"follower\"} %llu\n",
                      wg__leader_active(), (unsigned long long)atomic_load(&L.changes),
                      (unsigned long long)atomic_load(&L.check_errors),
                      (unsigned long long)st.queries, (unsigned long long)st.errors,
                      (double)st.ns / 1e9, (unsigned long long)atomic_load(&L.evals),
                      (unsigned long long)atomic_load(&L.skips));
}
