/* test_alerting_outcomes.c — the delivery worker records outcomes (delivered rows deleted)
 * without ever waiting for the outbox's write lock: while another connection holds it (a tick
 * writing a big batch), queued notifications still go out at once, and the outcomes are
 * committed once the lock is free, at the latest when the handle is freed.
 */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alerting/alerting.h"
#include "alert_helper.h"
#include "tmp_helper.h"

#define S(x) ((int64_t)(x)*WG_NS_PER_SEC)

static pid_t g_peer = -1;

static int stop_peer(void **st)
{
    (void)st;
    if (g_peer > 0 && kill(g_peer, SIGKILL) == 0) {
        waitpid(g_peer, NULL, 0);
    }
    g_peer = -1;
    return 0;
}

/* tests/peers/sink_peer.py with scenario; returns its port. */
static int peer_start(const char *dir, const char *scenario)
{
    char log[256];
    int fd;
    snprintf(log, sizeof(log), "%s/log.jsonl", dir);
    g_peer = sink_spawn(dir, scenario, log, &fd);
    return sink_port(fd);
}

static void fire(struct wg_alerting *a, const char *name, int breach, int64_t now)
{
    struct wg_label ls[2] = {{"alertname", (char *)name}, {"severity", "critical"}};
    struct wg_label an[1] = {{"summary", "it broke"}};
    struct wg_alert_eval ev = {NULL, ls, 2, an, 1, breach ? WG_COND_BREACH : WG_COND_OK};
    assert_int_equal(wg_alerting_eval(a, "s", &ev, 1, now), WG_OK);
}

static int outbox_rows(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM outbox", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

static void test_sends_while_the_outbox_is_locked(void **st)
{
    (void)st;
    char dir[64], yaml[512], err[256], dbpath[128];
    assert_non_null(wg_tmp_dir(dir, sizeof(dir), "wg-outcomes"));
    /* The trigger is answered slowly, so the resolve of the same group queues behind it. */
    int port =
        peer_start(dir, "{\"/hook\": [{\"status\": 200, \"delay\": 0.5}, {\"status\": 200}]}");
    snprintf(yaml, sizeof(yaml),
             "alerting:\n"
             "  receivers: [{name: hook, kind: webhook, url: 'http://127.0.0.1:%d/hook'}]\n"
             "  route: {receiver: hook, group_by: [alertname], group_wait: 0s,"
             " group_interval: 10s}\n",
             port);
    struct wg_diags d = {0};
    struct wg_alert_config *cfg = NULL;
    assert_int_equal(wg_alert_config_load_mem("t.yaml", yaml, strlen(yaml), &cfg, &d), WG_OK);
    wg_diags_free(&d);
    struct wg_alerting *a = NULL;
    assert_int_equal(wg_alerting_new(cfg, dir, NULL, &a, err, sizeof(err)), WG_OK);
    fire(a, "K", 1, S(0));
    assert_int_equal(wg_alerting_tick(a, S(0)), WG_OK);
    fire(a, "K", 0, S(5));
    assert_int_equal(wg_alerting_tick(a, S(10)), WG_OK); /* the resolve, queued */

    /* Another writer holds the lock (like a tick writing thousands of rows). */
    sqlite3 *other = NULL;
    snprintf(dbpath, sizeof(dbpath), "%s/alerting.db", dir);
    assert_int_equal(sqlite3_open(dbpath, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    int64_t t0 = wg_mono_ns();
    size_t left = wg_alerting_drain(a, t0 + S(4));
    double secs = (double)(wg_mono_ns() - t0) / 1e9;
    if (left != 0 || secs > 3.0) {
        print_error("want both sent within 3 s with the lock held, got %zu left after %.2f s\n",
                    left, secs);
    }
    assert_int_equal(left, 0);
    assert_true(secs <= 3.0);
    assert_int_equal(outbox_rows(other), 2); /* not recorded yet: at least once */
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);

    /* Lock free: the worker records them (polling for up to 5 s); freeing records the rest. */
    int64_t deadline = wg_mono_ns() + S(5);
    while (outbox_rows(other) != 0 && wg_mono_ns() < deadline) {
        usleep(10000);
    }
    int rows = outbox_rows(other);
    if (rows != 0) {
        print_error("want 0 outbox rows once the lock is free, got %d\n", rows);
    }
    assert_int_equal(rows, 0);
    wg_alerting_free(a);
    assert_int_equal(outbox_rows(other), 0);
    sqlite3_close(other);
    wg_alert_config_free(cfg);
    stop_peer(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sends_while_the_outbox_is_locked, stop_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
