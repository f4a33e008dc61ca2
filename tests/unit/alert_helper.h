/* alert_helper.h — shared by the alerting unit tests: load an alerting config from memory (its
 * diagnostics printed on failure), and start tests/peers/sink_peer.py in two steps (spawn, then
 * read its port) so a test can register the child for its teardown in between; small SQL
 * helpers for the PostgreSQL cases. Include after cmocka.h. Header-only (static inline) so a
 * test may use any part of it.
 */
#ifndef WG_TEST_ALERT_HELPER_H
#define WG_TEST_ALERT_HELPER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerting/alerting.h"
#include "common/store.h"

/* The config in yaml, asserted to load (WG_OK). */
static inline struct wg_alert_config *alert_cfg_load(const char *yaml)
{
    struct wg_diags d = {0};
    struct wg_alert_config *c = NULL;
    enum wg_err rc = wg_alert_config_load_mem("t.yaml", yaml, strlen(yaml), &c, &d);
    if (rc != WG_OK) {
        wg_diags_print(&d, stderr);
    }
    assert_int_equal(rc, WG_OK);
    wg_diags_free(&d);
    return c;
}

/* Writes scenario to <dir>/scenario.json and starts sink_peer.py on it, logging requests to log.
 * Returns the child's pid; *fd is the read end of its stdout, for sink_port. */
static inline pid_t sink_spawn(const char *dir, const char *scenario, const char *log, int *fd)
{
    char path[256];
    int fds[2];
    snprintf(path, sizeof(path), "%s/scenario.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(scenario, f);
    fclose(f);
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char script[512];
        const char *peers = getenv("WG_PEERS");
        snprintf(script, sizeof(script), "%s/sink_peer.py", peers ? peers : "tests/peers");
        dup2(fds[1], 1);
        close(fds[0]);
        execlp("python3", "python3", script, path, log, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    *fd = fds[0];
    return pid;
}

/* Reads the "PORT n" line the sink prints first (asserted), closes fd; returns the port. */
static inline int sink_port(int fd)
{
    char line[64] = {0};
    size_t o = 0;
    int port = 0;
    while (o + 1 < sizeof(line) && read(fd, line + o, 1) == 1 && line[o] != '\n') {
        o++;
    }
    close(fd);
    assert_int_equal(sscanf(line, "PORT %d", &port), 1);
    return port;
}

/* PostgreSQL tests (WG_TEST_PG_DSN): run q on c (asserted), or the first column of its first
 * row (-1: none). */
static inline void pg_sql(struct wg_sql *c, const char *q)
{
    char err[256];
    enum wg_err rc = wg_sql_exec(c, q, err, sizeof(err));
    if (rc != WG_OK) {
        fprintf(stderr, "%s: %s\n", q, err);
    }
    assert_int_equal(rc, WG_OK);
}

static inline int64_t pg_count(struct wg_sql *c, const char *q)
{
    struct wg_sql_q *s = wg_sql_query(c, q);
    int64_t n = wg_sql_step(s) == 1 ? wg_sql_col_int64(s, 0) : -1;
    wg_sql_end(s);
    return n;
}

/* Every alerting table and its schema row, so the next PostgreSQL test starts from nothing. */
static inline void pg_alerting_drop(struct wg_sql *c)
{
    pg_sql(c, "DROP TABLE IF EXISTS outbox, alerts, nflog, silences, alert_inbox, alert_links;"
              " DELETE FROM wg_schema WHERE name='alerting'");
}

/* main() of a PostgreSQL-only test: 0 (a skip, said on stderr) without WG_TEST_PG_DSN. */
static inline int pg_run_or_skip(const struct CMUnitTest *tests, size_t n)
{
    const char *dsn = getenv("WG_TEST_PG_DSN");
    if (!dsn || !*dsn) {
        fprintf(stderr, "skipped: WG_TEST_PG_DSN not set (tests/integration/test_replicas_pg.sh "
                        "runs it on a throwaway PostgreSQL)\n");
        return 0;
    }
    return _cmocka_run_group_tests("tests", tests, n, NULL, NULL);
}

#endif
