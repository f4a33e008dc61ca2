/* pg_helper.h — the PostgreSQL halves of the store unit tests: the test cluster's DSN comes in
 * WG_TEST_PG_DSN (set by tests/integration/test_replicas_pg.sh); a store's tables are dropped
 * before its first case (the store migrates them again at open) and emptied before the later
 * ones (pooled connections know they are migrated). Include it after cmocka.h.
 */
#ifndef WG_TEST_PG_HELPER_H
#define WG_TEST_PG_HELPER_H

#include "common/store.h"

#include <stdio.h>
#include <stdlib.h>

/* -1 (skip) without WG_TEST_PG_DSN; else stores opened by default go to it, and drop_sql (the
 * first time, *dropped 0) or empty_sql (later) has run on an admin session of its own. */
static int pg_reset(int *dropped, const char *drop_sql, const char *empty_sql)
{
    const char *dsn = getenv("WG_TEST_PG_DSN");
    if (!dsn || !*dsn) {
        return -1;
    }
    wg_sql_use(WG_STORE_POSTGRES, "WG_TEST_PG_DSN");
    struct wg_sql_opts o = {
        .backend = WG_STORE_POSTGRES, .dsn = dsn, .name = "admin", .own_session = 1};
    struct wg_sql *c = NULL;
    char err[256];
    assert_int_equal(wg_sql_open(&o, &c, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_sql_exec(c, *dropped ? empty_sql : drop_sql, err, sizeof(err)), WG_OK);
    *dropped = 1;
    wg_sql_close(c);
    return 0;
}

/* The end of main() in a test with a PostgreSQL half: the SQLite group, then the PostgreSQL
 * one when WG_TEST_PG_DSN is set (the skip said on stderr); nonzero when any case failed. */
#define pg_run_halves(sq, pg)                                                                      \
    pg_run_halves_n(sq, sizeof(sq) / sizeof((sq)[0]), pg, sizeof(pg) / sizeof((pg)[0]))
static inline int pg_run_halves_n(const struct CMUnitTest *sq, size_t nsq,
                                  const struct CMUnitTest *pg, size_t npg)
{
    int rc = _cmocka_run_group_tests("sqlite", sq, nsq, NULL, NULL);
    const char *dsn = getenv("WG_TEST_PG_DSN");
    if (!dsn || !*dsn) {
        fprintf(stderr, "postgres half skipped: WG_TEST_PG_DSN not set\n");
        return rc;
    }
    return rc | _cmocka_run_group_tests("postgres", pg, npg, NULL, NULL);
}

#endif
