/* test_alerting_kill.c — kill -9 at random moments (fixed seed) of a process whose alerts keep
 * firing and resolving while deliveries go to a real loopback sink (tests/peers/sink_peer.py):
 * after a last restart every notification ever accepted into the outbox has arrived, and a
 * notification that arrived twice did so with the same idempotency key. WG_KILLS sets the
 * number of kills (10 here; bench/bench_kill.sh runs 100 and prints the figures).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alerting/alerting.h"
#include "alert_helper.h"

#define S(x) ((int64_t)(x) * WG_NS_PER_SEC)
#define NALERTS 8
#define MAXKEYS 20000

static pid_t sink_pid, child_pid;

static int teardown(void **st)
{
    (void)st;
    pid_t v[2] = {sink_pid, child_pid};
    for (int i = 0; i < 2; i++) {
        if (v[i] > 0 && kill(v[i], SIGKILL) == 0) {
            waitpid(v[i], NULL, 0);
        }
    }
    sink_pid = child_pid = 0;
    return 0;
}

static int sink_start(const char *dir, const char *log)
{
    int fd;
    sink_pid = sink_spawn(dir, "{\"/hook\": [{\"status\": 200, \"delay\": 0.03}]}", log, &fd);
    return sink_port(fd);
}

static struct wg_alert_config *load_cfg(int port)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "alerting:\n"
             "  receivers:\n"
             "    - {name: hook, kind: webhook, url: 'http://127.0.0.1:%d/hook', rate_limit: 1000,"
             " burst: 1000}\n"
             "  route: {receiver: hook, group_by: [alertname], group_wait: 0s,"
             " group_interval: 1s, repeat_interval: 1h}\n",
             port);
    return alert_cfg_load(yaml);
}

/* The child: picks up at the step after the last one it recorded and runs steps until killed.
 * Step s evaluates every alert (each toggles on its own period) at wall time base + s seconds
 * and ticks, so each step makes firing and resolved notifications. */
static void child_run(const char *dir, const struct wg_alert_config *cfg)
{
    char path[256], err[256];
    long step = 0;
    snprintf(path, sizeof(path), "%s/step", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%ld", &step) != 1) {
            step = 0;
        }
        fclose(f);
    }
    struct wg_alerting *a = NULL;
    if (wg_alerting_new(cfg, dir, NULL, &a, err, sizeof(err)) != WG_OK) {
        fprintf(stderr, "child: %s\n", err);
        _exit(2);
    }
    wg_alerting_set_clock(a, NULL);
    const char *es = getenv("WG_KILL_STEP_MS"); /* time between ticks (bench/bench_kill.sh) */
    long step_ms = es ? strtol(es, NULL, 10) : 15;
    if (step_ms < 1 || step_ms > 999) {
        step_ms = 15;
    }
    for (;; step++) {
        struct wg_label ls[NALERTS][1];
        struct wg_alert_eval evs[NALERTS];
        char names[NALERTS][16];
        for (int i = 0; i < NALERTS; i++) {
            snprintf(names[i], sizeof(names[i]), "K%d", i);
            ls[i][0] = (struct wg_label){"alertname", names[i]};
            int breach = (step / (i + 2)) % 2 == 0;
            evs[i] = (struct wg_alert_eval){NULL, ls[i], 1, NULL, 0,
                                            breach ? WG_COND_BREACH : WG_COND_OK};
        }
        int64_t now = S(1000000) + S(step);
        if (wg_alerting_eval(a, "k", evs, NALERTS, now) != WG_OK ||
            wg_alerting_tick(a, now) != WG_OK) {
            _exit(3);
        }
        f = fopen(path, "w");
        if (f) {
            fprintf(f, "%ld\n", step + 1);
            fclose(f);
        }
        struct timespec ts = {0, step_ms * 1000000};
        nanosleep(&ts, NULL);
    }
}

struct keys {
    char (*v)[40];
    size_t n;
};

static int keys_has(const struct keys *k, const char *s)
{
    for (size_t i = 0; i < k->n; i++) {
        if (strcmp(k->v[i], s) == 0) {
            return 1;
        }
    }
    return 0;
}

static void keys_add(struct keys *k, const char *s)
{
    if (!keys_has(k, s) && k->n < MAXKEYS) {
        snprintf(k->v[k->n++], sizeof(k->v[0]), "%s", s);
    }
}

/* The idempotency keys of the rows in the outbox now (accepted, not yet delivered). */
static size_t snapshot(const char *dir, struct keys *acc)
{
    char path[256];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    snprintf(path, sizeof(path), "%s/alerting.db", dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT idem FROM outbox", -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        keys_add(acc, (const char *)sqlite3_column_text(st, 0));
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* What a notification says, without when: group and each alert's fingerprint and status. */
static char *content_of(const cJSON *body)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    const cJSON *gk = cJSON_GetObjectItem(body, "groupKey"), *al;
    wg_buf_addf(&b, "%s|", cJSON_IsString(gk) ? gk->valuestring : "?");
    cJSON_ArrayForEach(al, cJSON_GetObjectItem(body, "alerts"))
    {
        const cJSON *fp = cJSON_GetObjectItem(al, "fingerprint");
        const cJSON *stt = cJSON_GetObjectItem(al, "status");
        wg_buf_addf(&b, "%s:%s,", cJSON_IsString(fp) ? fp->valuestring : "?",
                    cJSON_IsString(stt) ? stt->valuestring : "?");
    }
    return wg_buf_take(&b);
}

static void test_kill9_during_delivery(void **st)
{
    (void)st;
    char dir[] = "/tmp/wg-kill-XXXXXX", log[256], cmd[300];
    assert_non_null(mkdtemp(dir));
    snprintf(log, sizeof(log), "%s/sink.jsonl", dir);
    int port = sink_start(dir, log);
    struct wg_alert_config *cfg = load_cfg(port);
    const char *ek = getenv("WG_KILLS");
    int kills = ek ? (int)strtol(ek, NULL, 10) : 10;
    unsigned seed = 20261201;
    struct keys acc = {calloc(MAXKEYS, 40), 0};
    assert_non_null(acc.v);
    size_t pending_at_kill = 0;
    int64_t t0 = wg_mono_ns();
    for (int k = 0; k < kills; k++) {
        child_pid = fork();
        if (child_pid == 0) {
            child_run(dir, cfg);
        }
        /* 40-400 ms: the kill lands in a tick, a commit, a send or between them */
        struct timespec ts = {0, (long)(40 + rand_r(&seed) % 361) * 1000000};
        nanosleep(&ts, NULL);
        kill(child_pid, SIGKILL);
        int ws = 0;
        waitpid(child_pid, &ws, 0);
        child_pid = 0;
        assert_true(WIFSIGNALED(ws)); /* it was running, not failed */
        pending_at_kill += snapshot(dir, &acc);
    }
    /* the last restart delivers what is left */
    char err[256];
    struct wg_alerting *a = NULL;
    assert_int_equal(wg_alerting_new(cfg, dir, NULL, &a, err, sizeof(err)), WG_OK);
    size_t left = wg_alerting_drain(a, wg_mono_ns() + S(60));
    wg_alerting_free(a);
    assert_int_equal(left, 0);
    double secs = (double)(wg_mono_ns() - t0) / 1e9;
    /* the sink's log: keys that arrived, and duplicates */
    struct keys got = {calloc(MAXKEYS, 40), 0};
    assert_non_null(got.v);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char *line = NULL, *last[64] = {0}, *lastkey[64] = {0}, *gkey[64] = {0};
    int ngroups = 0;
    size_t cap = 0, requests = 0, dup_same_key = 0, dup_new_key = 0, resolved = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *h = cJSON_GetObjectItem(j, "headers");
        const cJSON *idem = cJSON_GetObjectItem(h, "idempotency-key");
        const cJSON *body = cJSON_GetObjectItem(j, "body");
        assert_true(cJSON_IsString(idem) && cJSON_IsString(body));
        requests++;
        if (keys_has(&got, idem->valuestring)) {
            dup_same_key++;
        }
        keys_add(&got, idem->valuestring);
        /* a group's next notification says something new, unless it is the same one again */
        cJSON *bj = cJSON_Parse(body->valuestring);
        char *c = content_of(bj);
        const cJSON *status = cJSON_GetObjectItem(bj, "status");
        resolved += cJSON_IsString(status) && strcmp(status->valuestring, "resolved") == 0;
        const cJSON *gk = cJSON_GetObjectItem(bj, "groupKey");
        const char *gks = cJSON_IsString(gk) ? gk->valuestring : "?";
        int g = 0;
        while (g < ngroups && strcmp(gkey[g], gks) != 0) {
            g++;
        }
        assert_true(g < 64);
        if (g == ngroups) {
            gkey[ngroups++] = wg_strdup(gks);
        }
        if (last[g] && strcmp(last[g], c) == 0 && strcmp(lastkey[g], idem->valuestring) != 0) {
            fprintf(stderr, "duplicate with a new key: %s\n", c);
            dup_new_key++;
        }
        free(last[g]);
        free(lastkey[g]);
        last[g] = c;
        lastkey[g] = wg_strdup(idem->valuestring);
        cJSON_Delete(bj);
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    size_t lost = 0;
    for (size_t i = 0; i < acc.n; i++) {
        if (!keys_has(&got, acc.v[i])) {
            fprintf(stderr, "accepted, never arrived: %s\n", acc.v[i]);
            lost++;
        }
    }
    printf("kill9: kills=%d seconds=%.1f requests=%zu distinct=%zu pending_at_kills=%zu "
           "lost=%zu dup_same_key=%zu dup_new_key=%zu resolved=%zu\n",
           kills, secs, requests, got.n, pending_at_kill, lost, dup_same_key, dup_new_key,
           resolved);
    assert_int_equal(lost, 0);
    assert_int_equal(dup_new_key, 0);
    assert_true(got.n > (size_t)kills); /* it did deliver through the kills */
    assert_true(resolved > 0);          /* resolves too, not only firing */
    for (int i = 0; i < 64; i++) {
        free(last[i]);
        free(lastkey[i]);
        free(gkey[i]);
    }
    free(acc.v);
    free(got.v);
    wg_alert_config_free(cfg);
    teardown(NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kill9_during_delivery, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
