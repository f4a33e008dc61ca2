/* test_alerting_claims.c — the PostgreSQL outbox's claims: two alerting handles on one database
 * that both think they lead (no election: both deliver) drain 200 notifications to a loopback
 * sink (tests/peers/sink_peer.py, 50 ms per answer) with each one sent exactly once and never
 * two at once with one key; a row another replica holds under a live lease is left alone, one
 * whose lease ran out is claimed, sent and counted. Needs WG_TEST_PG_DSN (a database of its
 * own, set by tests/integration/test_replicas_pg.sh); skipped without it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alerting/alerting.h"
#include "alert_helper.h"
#include "common/store.h"

#define NROWS 200

static pid_t sink_pid;

static int teardown(void **st)
{
    (void)st;
    if (sink_pid > 0 && kill(sink_pid, SIGKILL) == 0) {
        waitpid(sink_pid, NULL, 0);
    }
    sink_pid = 0;
    return 0;
}

static double metric(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    while (p && p > text && p[-1] != '\n') {
        p = strstr(p + 1, name);
    }
    if (!p) {
        return -1;
    }
    p = strchr(p, ' ');
    return p ? strtod(p + 1, NULL) : -1;
}

/* requests, distinct keys and overlapping requests in the sink's log */
static void sink_counts(const char *log, int *req, int *distinct, int *overlaps)
{
    static char keys[4 * NROWS][64];
    char line[65536];
    int nk = 0;
    *req = *distinct = *overlaps = 0;
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "headers");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(h, "idempotency-key");
        if (cJSON_IsString(k)) {
            (*req)++;
            *overlaps += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "overlap"));
            int seen = 0;
            for (int i = 0; i < nk && !seen; i++) {
                seen = strcmp(keys[i], k->valuestring) == 0;
            }
            if (!seen && nk < 4 * NROWS) {
                snprintf(keys[nk++], sizeof(keys[0]), "%s", k->valuestring);
            }
        }
        cJSON_Delete(j);
    }
    fclose(f);
    *distinct = nk;
}

static void test_two_leaders_never_send_one_row_twice(void **st)
{
    (void)st;
    char dir[] = "/tmp/wg-claims-XXXXXX", d1[64], d2[64], log[96], err[512], q[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(d1, sizeof(d1), "%s/r1", dir);
    snprintf(d2, sizeof(d2), "%s/r2", dir);
    snprintf(log, sizeof(log), "%s/sink.jsonl", dir);
    int fd;
    sink_pid = sink_spawn(dir, "{\"/c\": [{\"status\": 200, \"body\": \"ok\", \"delay\": 0.05}]}",
                          log, &fd);
    int port = sink_port(fd);
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "alerting:\n"
             "  receivers:\n"
             "    - {name: sink, kind: webhook, url: 'http://127.0.0.1:%d/c', timeout: 2s,"
             " max_in_flight: 4}\n"
             "  route: {receiver: sink}\n",
             port);
    struct wg_alert_config *cfg = alert_cfg_load(yaml);

    wg_sql_use(WG_STORE_POSTGRES, "WG_TEST_PG_DSN");
    struct wg_sql_opts o = {.backend = WG_STORE_POSTGRES, .name = "claims-test"};
    struct wg_sql *c = NULL;
    assert_int_equal(wg_sql_open(&o, &c, err, sizeof(err)), WG_OK);
    pg_alerting_drop(c);

    struct wg_alerting *a1 = NULL, *a2 = NULL;
    assert_int_equal(wg_alerting_new(cfg, d1, NULL, &a1, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_alerting_new(cfg, d2, NULL, &a2, err, sizeof(err)), WG_OK);
    /* one row held by a live replica elsewhere (an hour of lease), one by a dead one */
    snprintf(q, sizeof(q),
             "INSERT INTO outbox(receiver,idem,okey,url,headers,body,created,claimed_by,"
             "lease_until) VALUES"
             " ('sink','held','h','http://127.0.0.1:%d/c',E'Idempotency-Key: held\\n','{}',0,"
             "'ghost', now() + interval '1 hour'),"
             " ('sink','dead','d','http://127.0.0.1:%d/c',E'Idempotency-Key: dead\\n','{}',0,"
             "'ghost', now() - interval '1 second')",
             port, port);
    pg_sql(c, q);
    snprintf(q, sizeof(q),
             "INSERT INTO outbox(receiver,idem,okey,url,headers,body,created)"
             " SELECT 'sink', 'c-' || i, lpad(to_hex(i), 16, '0'), 'http://127.0.0.1:%d/c',"
             " E'Content-Type: application/json\\nIdempotency-Key: c-' || i || E'\\n',"
             " '{\"n\":' || i || '}', 0 FROM generate_series(1, %d) i",
             port, NROWS);
    pg_sql(c, q);
    int64_t dl = wg_mono_ns() + 60 * WG_NS_PER_SEC;
    while (pg_count(c, "SELECT count(*) FROM outbox") != 1) {
        assert_true(wg_mono_ns() < dl);
        usleep(20000);
    }
    assert_int_equal(pg_count(c, "SELECT count(*) FROM outbox WHERE idem='held'"), 1);

    struct wg_buf m1, m2;
    wg_buf_init(&m1, 0);
    wg_buf_init(&m2, 0);
    wg_alerting_metrics(a1, &m1);
    wg_alerting_metrics(a2, &m2);
    double s1 = metric(m1.p, "wavegate_alert_delivered_total{receiver=\"sink\"}");
    double s2 = metric(m2.p, "wavegate_alert_delivered_total{receiver=\"sink\"}");
    double re = metric(m1.p, "wavegate_alert_outbox_reclaimed_total") +
                metric(m2.p, "wavegate_alert_outbox_reclaimed_total");
    fprintf(stderr, "claims: replica 1 sent %.0f, replica 2 sent %.0f, reclaimed %.0f\n", s1, s2,
            re);
    assert_true(s1 > 0 && s2 > 0); /* both delivered, at the same time */
    assert_true(s1 + s2 == NROWS + 1);
    assert_true(re == 1); /* the dead replica's row */
    wg_buf_free(&m1);
    wg_buf_free(&m2);
    wg_alerting_free(a1);
    wg_alerting_free(a2);

    int req, distinct, overlaps;
    sink_counts(log, &req, &distinct, &overlaps);
    assert_int_equal(distinct, NROWS + 1);
    assert_int_equal(req, NROWS + 1); /* none sent twice: no crash here, so no resend */
    assert_int_equal(overlaps, 0);
    pg_alerting_drop(c);
    wg_sql_close(c);
    wg_alert_config_free(cfg);
    char rm[128];
    snprintf(rm, sizeof(rm), "rm -rf %s", dir);
    assert_int_equal(system(rm), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_two_leaders_never_send_one_row_twice, teardown),
    };
    return pg_run_or_skip(tests, sizeof(tests) / sizeof(tests[0]));
}
