/* test_alerting_faults.c — the alerting store and timers under faults: a full disk (a real
 * tmpfs filled to ENOSPC) in the tick that starts an alert firing, a wall clock that jumps by
 * an hour either way (injected clocks), a store with 1 KiB overwritten mid-file, and a store
 * that turns up empty. Deliveries go to a real loopback sink (tests/peers/sink_peer.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alerting/alerting.h"
#include "alert_helper.h"
#include "tmp_helper.h"

#define S(x) ((int64_t)(x)*WG_NS_PER_SEC)

static void mktmp(char *dir, size_t n)
{
    assert_non_null(wg_tmp_dir(dir, n, "wg-faults"));
}

static void rmtree(const char *dir)
{
    wg_tmp_rmtree(dir);
}

static struct wg_alert_config *load_cfg(const char *fmt, int port)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml), fmt, port);
    return alert_cfg_load(yaml);
}

static long long sql_count(const char *dir, const char *sql)
{
    char path[256];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;
    snprintf(path, sizeof(path), "%s/alerting.db", dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* ---- a real sink ------------------------------------------------------------------------- */

struct peer {
    pid_t pid;
    int port;
    char dir[128], log[192];
};

static struct peer *live_peer;
static char mounted[128]; /* a tmpfs to take down if a test fails half-way */

static void peer_start(struct peer *p, const char *scenario)
{
    int fd;
    mktmp(p->dir, sizeof(p->dir));
    snprintf(p->log, sizeof(p->log), "%s/log.jsonl", p->dir);
    p->pid = sink_spawn(p->dir, scenario, p->log, &fd);
    live_peer = p;
    p->port = sink_port(fd);
}

static void peer_stop(struct peer *p)
{
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
    live_peer = NULL;
}

static int teardown(void **st)
{
    (void)st;
    if (live_peer) {
        peer_stop(live_peer);
    }
    if (mounted[0]) {
        umount2(mounted, MNT_DETACH);
        rmdir(mounted);
        mounted[0] = '\0';
    }
    return 0;
}

/* Requests the sink logged on path. */
static int peer_count(const struct peer *p, const char *path)
{
    FILE *f = fopen(p->log, "r");
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (f && getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *pj = cJSON_GetObjectItem(j, "path");
        n += cJSON_IsString(pj) && strcmp(pj->valuestring, path) == 0;
        cJSON_Delete(j);
    }
    free(line);
    if (f) {
        fclose(f);
    }
    return n;
}

/* ---- full disk --------------------------------------------------------------------------- */

static const char *hook_cfg = "alerting:\n"
                              "  receivers:\n"
                              "    - {name: hook, kind: webhook, url: 'http://127.0.0.1:%d/hook'}\n"
                              "  route: {receiver: hook, group_by: [alertname], group_wait: 0s,"
                              " group_interval: 1m}\n";

/* n alerts in their own groups (more than WG__OUTBOX_CHUNK: the tick commits in chunks). */
#define NFULL 40
static void fire_many(struct wg_alerting *a, int64_t now)
{
    struct wg_label ls[NFULL][1];
    struct wg_alert_eval evs[NFULL];
    char names[NFULL][16];
    for (int i = 0; i < NFULL; i++) {
        snprintf(names[i], sizeof(names[i]), "DiskFull%02d", i);
        ls[i][0] = (struct wg_label){"alertname", names[i]};
        evs[i] = (struct wg_alert_eval){NULL, ls[i], 1, NULL, 0, WG_COND_BREACH};
    }
    assert_int_equal(wg_alerting_eval(a, "s", evs, NFULL, now), WG_OK);
}

/* Fill the filesystem holding dir until ENOSPC. */
static void fill(const char *dir)
{
    char path[256], block[4096];
    memset(block, 'x', sizeof(block));
    snprintf(path, sizeof(path), "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    while (write(fd, block, sizeof(block)) == (ssize_t)sizeof(block)) {
    }
    assert_int_equal(errno, ENOSPC);
    close(fd);
}

/* The tick in which 40 alerts start firing (committed in chunks) finds the disk full: the commit fails, the tick is
 * refused (WG_EIO), counted and flagged degraded; once space returns, the very next tick sends
 * the notification (on the old code the group counted as notified in memory: nothing went out
 * until repeat_interval, 4 h; the sink saw 0 requests). A real tmpfs filled to ENOSPC, so the
 * failure is the one a full disk gives (SQLITE_FULL at COMMIT, the WAL cannot grow). */
static void test_full_disk_tick_is_made_again(void **st)
{
    (void)st;
    char dir[128], err[256];
    mktmp(dir, sizeof(dir));
    if (mount("tmpfs", dir, "tmpfs", 0, "size=512k") != 0) {
        fprintf(stderr, "skipped: cannot mount a tmpfs (%s); needs root\n", strerror(errno));
        rmdir(dir);
        skip();
    }
    snprintf(mounted, sizeof(mounted), "%s", dir);
    struct peer p;
    peer_start(&p, "{\"/hook\": [{\"status\": 200}]}");
    struct wg_alert_config *cfg = load_cfg(hook_cfg, p.port);
    struct wg_alerting *a = NULL;
    assert_int_equal(wg_alerting_new(cfg, dir, NULL, &a, err, sizeof(err)), WG_OK);
    wg_alerting_set_clock(a, NULL); /* this test's wall clock is made up */
    /* No WAL left to reuse: every write of a transaction needs new blocks. */
    /* (busy while the worker reads: polled against a deadline) */
    int64_t dl = wg_mono_ns() + S(10);
    while (sql_count(dir, "PRAGMA wal_checkpoint(TRUNCATE)") != 0) {
        assert_true(wg_mono_ns() < dl);
        usleep(10000);
    }
    fill(dir);
    int64_t t = S(1000);
    fire_many(a, t);
    assert_int_equal(wg_alerting_tick(a, t), WG_EIO);
    assert_int_equal(wg_alerting_degraded(a), 1);
    uint64_t errs = wg_alerting_store_errors(a);
    assert_true(errs >= 1);
    /* still full: refused again, not before the backoff */
    assert_true(wg_alerting_next_tick(a) > t);
    assert_true(wg_alerting_next_tick(a) <= t + S(1));
    assert_int_equal(wg_alerting_tick(a, t + S(1)), WG_EIO);
    assert_true(wg_alerting_store_errors(a) > errs);
    int64_t next = wg_alerting_next_tick(a);
    assert_true(next <= t + S(3)); /* the backoff doubles: 1 s, 2 s */
    char path[256];
    snprintf(path, sizeof(path), "%s/filler", dir);
    assert_int_equal(unlink(path), 0); /* space returns */
    assert_int_equal(wg_alerting_tick(a, next), WG_OK);
    assert_int_equal(wg_alerting_degraded(a), 0);
    assert_int_equal(wg_alerting_drain(a, wg_mono_ns() + S(20)), 0);
    assert_int_equal(peer_count(&p, "/hook"), NFULL);
    /* and only once: the next group_interval has nothing new */
    fire_many(a, next + S(61));
    assert_int_equal(wg_alerting_tick(a, next + S(61)), WG_OK);
    assert_int_equal(wg_alerting_drain(a, wg_mono_ns() + S(20)), 0);
    assert_int_equal(peer_count(&p, "/hook"), NFULL);
    wg_alerting_free(a);
    wg_alert_config_free(cfg);
    peer_stop(&p);
    assert_int_equal(umount2(dir, MNT_DETACH), 0);
    mounted[0] = '\0';
    rmdir(dir);
    rmtree(p.dir);
}

/* ---- clock jumps ------------------------------------------------------------------------- */

static int64_t fake_mono;

static int64_t mono_now(void)
{
    return fake_mono;
}

static const char *jump_cfg = "alerting:\n"
                              "  receivers:\n"
                              "    - {name: hook, kind: webhook, url: 'http://127.0.0.1:%d/x'}\n"
                              "  route: {receiver: hook, group_by: [alertname], group_wait: 0s,"
                              " group_interval: 1m, repeat_interval: 30m}\n";

/* One evaluation and tick a minute: the wall clock moves by dwall, the monotonic one by 60 s. */
static void minute(struct wg_alerting *a, int64_t *wall, int64_t dwall, const char *also)
{
    *wall += dwall;
    fake_mono += S(60);
    struct wg_label l1[1] = {{"alertname", "A"}}, l2[1] = {{"alertname", (char *)also}};
    struct wg_alert_eval evs[2] = {{NULL, l1, 1, NULL, 0, WG_COND_BREACH},
                                   {NULL, l2, 1, NULL, 0, WG_COND_BREACH}};
    assert_int_equal(wg_alerting_eval(a, "s", evs, also ? 2 : 1, *wall), WG_OK);
    assert_int_equal(wg_alerting_tick(a, *wall), WG_OK);
}

/* A firing alert (repeat_interval 30 m) and wall-clock steps of +1 h and -1 h: the +1 h step
 * makes no repeat (old code: every firing group re-notified at once), and after the -1 h step a
 * new alert is still announced within a group_interval (old code: an hour late), and the
 * repeat comes 30 min after the last notification by the monotonic clock. */
static void test_clock_jump_no_mass_renotify(void **st)
{
    (void)st;
    char dir[128], err[256];
    mktmp(dir, sizeof(dir));
    struct wg_alert_config *cfg = load_cfg(jump_cfg, 9);
    struct wg_alerting_opts o = {1, 1};
    struct wg_alerting *a = NULL;
    assert_int_equal(wg_alerting_new(cfg, dir, &o, &a, err, sizeof(err)), WG_OK);
    fake_mono = S(5000);
    wg_alerting_set_clock(a, mono_now);
    int64_t wall = S(1700000000);
    minute(a, &wall, 0, NULL);
    assert_int_equal(sql_count(dir, "SELECT count(*) FROM outbox"), 1);
    for (int i = 0; i < 5; i++) {
        minute(a, &wall, S(60), NULL);
    }
    assert_int_equal(sql_count(dir, "SELECT count(*) FROM outbox"), 1);
    minute(a, &wall, S(3600 + 60), NULL); /* +1 h */
    for (int i = 0; i < 5; i++) {
        minute(a, &wall, S(60), NULL);
    }
    assert_int_equal(sql_count(dir, "SELECT count(*) FROM outbox"), 1); /* 11 min: no repeat */
    minute(a, &wall, S(60 - 3600), "B");                                /* -1 h, and a new alert */
    minute(a, &wall, S(60), "B");
    assert_int_equal(sql_count(dir, "SELECT count(*) FROM outbox"), 2); /* B: in time */
    /* A's repeat: 30 min after its notification by the monotonic clock (minute 30), once */
    int i = 13;
    while (sql_count(dir, "SELECT count(*) FROM outbox WHERE"
                          " instr(CAST(body AS TEXT), '\"alertname\":\"A\"') > 0") < 2) {
        minute(a, &wall, S(60), "B");
        assert_true(++i <= 31);
    }
    assert_int_equal(i, 30);
    wg_alerting_free(a);
    wg_alert_config_free(cfg);
    rmtree(dir);
}

/* ---- corrupt and emptied stores ---------------------------------------------------------- */

/* A store with some rows in it, then closed (checkpointed into alerting.db). */
static void make_store(const char *dir, struct wg_alert_config *cfg)
{
    char err[256];
    struct wg_alerting_opts o = {1, 1};
    struct wg_alerting *a = NULL;
    assert_int_equal(wg_alerting_new(cfg, dir, &o, &a, err, sizeof(err)), WG_OK);
    wg_alerting_set_clock(a, NULL);
    for (int i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof(name), "Alert%03d", i);
        struct wg_label ls[1] = {{"alertname", name}};
        struct wg_alert_eval ev = {NULL, ls, 1, NULL, 0, WG_COND_BREACH};
        assert_int_equal(wg_alerting_eval(a, name, &ev, 1, S(100)), WG_OK); /* own scopes */
    }
    assert_int_equal(wg_alerting_tick(a, S(100)), WG_OK);
    wg_alerting_free(a);
}

/* 1 KiB overwritten in the middle of alerting.db, or the file torn (cut to half its size, as
 * a copy or a write cut short leaves it): the old code started on it without a word (PRAGMA
 * integrity_check failed); now wg_alerting_new refuses, naming the file. */
static void test_corrupt_store_refused(void **st)
{
    (void)st;
    for (int torn = 0; torn < 2; torn++) {
        char dir[128], err[1024] = "", path[256];
        mktmp(dir, sizeof(dir));
        struct wg_alert_config *cfg = load_cfg(hook_cfg, 9);
        make_store(dir, cfg);
        snprintf(path, sizeof(path), "%s/alerting.db", dir);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        assert_true(sb.st_size >= 8 * 4096);
        off_t mid = (sb.st_size / 2) & ~(off_t)4095;
        if (torn) {
            assert_int_equal(truncate(path, mid + 1000), 0);
        } else {
            int fd = open(path, O_WRONLY);
            char junk[1024];
            memset(junk, 0x5a, sizeof(junk));
            assert_int_equal(pwrite(fd, junk, sizeof(junk), mid), (ssize_t)sizeof(junk));
            close(fd);
        }
        struct wg_alerting *a = (struct wg_alerting *)1;
        assert_int_equal(wg_alerting_new(cfg, dir, NULL, &a, err, sizeof(err)), WG_EIO);
        assert_null(a);
        fprintf(stderr, "%s: %s\n", torn ? "torn" : "overwritten", err);
        assert_non_null(strstr(err, path));
        assert_non_null(strstr(err, "corrupt"));
        wg_alert_config_free(cfg);
        rmtree(dir);
    }
}

/* alerting.db truncated to 0 bytes (or removed) where a store was in use: a new store starts,
 * but not silently: an error is logged and counted (the marker file says a store existed). */
static void test_emptied_store_reported(void **st)
{
    (void)st;
    char dir[128], err[256], path[256];
    mktmp(dir, sizeof(dir));
    struct wg_alert_config *cfg = load_cfg(hook_cfg, 9);
    struct wg_alerting_opts o = {1, 1};
    struct wg_alerting *a = NULL;
    /* a brand-new store is not an error */
    assert_int_equal(wg_alerting_new(cfg, dir, &o, &a, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_alerting_store_errors(a), 0);
    wg_alerting_free(a);
    make_store(dir, cfg);
    snprintf(path, sizeof(path), "%s/alerting.db", dir);
    for (int round = 0; round < 2; round++) {
        if (round == 0) {
            assert_int_equal(truncate(path, 0), 0);
        } else {
            assert_int_equal(unlink(path), 0);
        }
        assert_int_equal(wg_alerting_new(cfg, dir, &o, &a, err, sizeof(err)), WG_OK);
        assert_int_equal(wg_alerting_store_errors(a), 1);
        wg_alerting_free(a);
        make_store(dir, cfg);
    }
    /* reopening a healthy store says nothing */
    assert_int_equal(wg_alerting_new(cfg, dir, &o, &a, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_alerting_store_errors(a), 0);
    wg_alerting_free(a);
    wg_alert_config_free(cfg);
    rmtree(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_full_disk_tick_is_made_again, teardown),
        cmocka_unit_test(test_clock_jump_no_mass_renotify),
        cmocka_unit_test(test_corrupt_store_refused),
        cmocka_unit_test(test_emptied_store_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
