/* gate_db.c — a gate store's connection through the store seam (common/store.h), as the
 * evidence store (gate_evals.c) and the event store (gate_events_store.c) use it: SQLite's one
 * handle under a mutex, or PostgreSQL's pool with one connection per call, so every replica
 * shares the tables.
 */
#include "gate/gate_int.h"

#include <string.h>

enum wg_err wg__gate_db_open(struct wg__gate_db *d, const struct wg_sql_opts *o, char *err,
                             size_t errlen)
{
    memset(d, 0, sizeof(*d));
    struct wg_sql *c = NULL;
    enum wg_err rc = wg_sql_open(o, &c, err, errlen); /* PostgreSQL: migrates the tables */
    if (rc != WG_OK) {
        return rc;
    }
    d->pg = wg_sql_backend(c) == WG_STORE_POSTGRES;
    d->opts = *o;
    d->opts.backend = WG_STORE_POSTGRES; /* what each call opens when pg */
    d->opts.sqlite.dir = NULL;
    if (d->pg) {
        wg_sql_close(c); /* into the pool, for the first call */
    } else {
        d->db = c;
    }
    pthread_mutex_init(&d->mu, NULL);
    return WG_OK;
}

struct wg_sql *wg__gate_db_take(struct wg__gate_db *d, char *err, size_t errlen)
{
    if (!d->pg) {
        pthread_mutex_lock(&d->mu);
        return d->db;
    }
    struct wg_sql *c = NULL;
    return wg_sql_open(&d->opts, &c, err, errlen) == WG_OK ? c : NULL;
}

void wg__gate_db_give(struct wg__gate_db *d, struct wg_sql *c)
{
    if (!d->pg) {
        pthread_mutex_unlock(&d->mu);
        return;
    }
    wg_sql_rollback(c); /* only when a failed call left one open: never pooled inside one */
    wg_sql_close(c);
}

void wg__gate_db_close(struct wg__gate_db *d)
{
    wg_sql_close(d->db);
    d->db = NULL;
    pthread_mutex_destroy(&d->mu);
}
