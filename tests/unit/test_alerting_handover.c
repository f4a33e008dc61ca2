/* test_alerting_handover.c — leadership changes on PostgreSQL lose no accepted evaluation: two
 * alerting handles on one database, the election played by a flag. An evaluation accepted by a
 * replica that just gained the lead (its state not read yet), or by the leader a moment before
 * it steps down (its tick not committed), reaches the next leader. The link of an alert
 * instance to the evaluation that changed it is shared the same way. Needs WG_TEST_PG_DSN (a
 * database of its own, set by tests/integration/test_replicas_pg.sh); skipped without it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert_helper.h"
#include "alerting/alerting.h"
#include "common/store.h"
#include "tmp_helper.h"

static int leads;

static int leads_fn(void)
{
    return leads;
}

static void breach(struct wg_alerting *a, const char *name, int64_t now)
{
    struct wg_label l[] = {{(char *)"alertname", (char *)name}};
    struct wg_alert_eval ev = {.labels = l, .nlabels = 1, .cond = WG_COND_BREACH};
    assert_int_equal(wg_alerting_eval(a, name, &ev, 1, now), WG_OK);
}

static int firing(struct wg_alerting *a, const char *name, int64_t now)
{
    char *j = wg_alerting_alerts_json(a, now);
    assert_non_null(j);
    char want[128];
    snprintf(want, sizeof(want), "\"alertname\":\"%s\"", name);
    int on = strstr(j, want) != NULL;
    free(j);
    return on;
}

static void clear_rows(struct wg_sql *c)
{
    pg_sql(c, "DELETE FROM outbox; DELETE FROM alerts; DELETE FROM nflog; DELETE FROM silences;"
              " DELETE FROM alert_inbox; DELETE FROM alert_links");
}

/* Two replicas' state dirs, the config with this route, a session of the test's own on the
 * database; fresh: the alerting tables dropped first (made again by the first handle: only in
 * a process whose pooled sessions have not seen them yet), else only their rows deleted. */
struct fx {
    char dir[64], d1[64], d2[64], err[512];
    struct wg_alert_config *cfg;
    struct wg_sql *c;
    struct wg_alerting_opts op; /* no delivery worker: the outbox rows are counted */
};

static void fx_open(struct fx *f, const char *route, int fresh)
{
    char yaml[512];
    assert_non_null(wg_tmp_dir(f->dir, sizeof(f->dir), "wg-handover"));
    snprintf(f->d1, sizeof(f->d1), "%s/r1", f->dir);
    snprintf(f->d2, sizeof(f->d2), "%s/r2", f->dir);
    snprintf(yaml, sizeof(yaml),
             "alerting:\n"
             "  receivers:\n"
             "    - {name: sink, kind: webhook, url: 'http://127.0.0.1:9/c'}\n"
             "  route: %s\n",
             route);
    f->cfg = alert_cfg_load(yaml);
    wg_sql_use(WG_STORE_POSTGRES, "WG_TEST_PG_DSN");
    struct wg_sql_opts o = {.backend = WG_STORE_POSTGRES, .name = "handover-test"};
    f->c = NULL;
    assert_int_equal(wg_sql_open(&o, &f->c, f->err, sizeof(f->err)), WG_OK);
    if (fresh) {
        pg_alerting_drop(f->c);
    } else {
        clear_rows(f->c);
    }
    f->op = (struct wg_alerting_opts){.no_worker = 1};
    wg_alerting_set_leader(leads_fn); /* the election is the flag `leads` */
}

/* A replica's alerting handle on the fixture's config, its state under dir. */
static void fx_new(struct fx *f, const char *dir, struct wg_alerting **out)
{
    assert_int_equal(wg_alerting_new(f->cfg, dir, &f->op, out, f->err, sizeof(f->err)), WG_OK);
}

/* drop: the tables too (the last test), else their rows only */
static void fx_close(struct fx *f, int drop)
{
    wg_alerting_set_leader(NULL);
    if (drop) {
        pg_alerting_drop(f->c);
    } else {
        clear_rows(f->c);
    }
    wg_sql_close(f->c);
    wg_alert_config_free(f->cfg);
    char rm[128];
    snprintf(rm, sizeof(rm), "rm -rf %s", f->dir);
    assert_int_equal(system(rm), 0);
}

static void test_no_evaluation_lost_across_a_handover(void **st)
{
    (void)st;
    struct fx f;
    fx_open(&f, "{receiver: sink, group_wait: 1h}", 1);
    struct wg_sql *c = f.c;
    struct wg_alerting *h = NULL, *g = NULL;
    leads = 1;
    fx_new(&f, f.d1, &h);
    fx_new(&f, f.d2, &g);
    int64_t now = wg_now_ns();
    leads = 0; /* both follow: their memory is stale from now on */
    assert_int_equal(wg_alerting_tick(h, now), WG_OK);
    assert_int_equal(wg_alerting_tick(g, now), WG_OK);

    /* h gains the lead and accepts a gate event before its first tick (the one that reads the
     * shared state), then steps down before it ticks: g leads next */
    leads = 1;
    breach(h, "just-gained", now);
    leads = 0;
    assert_int_equal(wg_alerting_tick(h, now), WG_OK);
    leads = 1;
    assert_int_equal(wg_alerting_tick(g, now + 1), WG_OK);
    assert_true(firing(g, "just-gained", now + 1));

    /* g leads (its state is read) and accepts one, then steps down before its next tick */
    breach(g, "before-step-down", now + 2);
    leads = 0;
    assert_int_equal(wg_alerting_tick(g, now + 3), WG_OK);
    leads = 1;
    assert_int_equal(wg_alerting_tick(h, now + 4), WG_OK);
    assert_true(firing(h, "just-gained", now + 4));
    assert_true(firing(h, "before-step-down", now + 4));
    assert_int_equal(pg_count(c, "SELECT count(*) FROM alert_inbox"), 0); /* applied, removed */
    assert_int_equal(pg_count(c, "SELECT count(*) FROM alerts"), 2);

    /* an alert's evidence link, put by one leader, is the next one's */
    char id[64];
    int cond = -1;
    assert_int_equal(wg_alerting_link_put(h, 42, "ev-one", 1), WG_OK);
    assert_int_equal(wg_alerting_link_get(g, 42, id, sizeof(id), &cond), 1);
    assert_string_equal(id, "ev-one");
    assert_int_equal(cond, 1);
    assert_int_equal(wg_alerting_link_put(g, 42, "ev-two", 0), WG_OK);
    assert_int_equal(wg_alerting_link_get(h, 42, id, sizeof(id), &cond), 1);
    assert_string_equal(id, "ev-two");
    assert_int_equal(cond, 0);
    assert_int_equal(wg_alerting_link_drop(h, 42), WG_OK);
    assert_int_equal(wg_alerting_link_get(g, 42, id, sizeof(id), &cond), 0);
    /* several in one transaction: puts and a drop */
    struct wg_alerting_link v[] = {{7, "ev-7", 1}, {8, "ev-8", 2}, {7, NULL, -1}};
    assert_int_equal(wg_alerting_links_save(g, v, 3), WG_OK);
    assert_int_equal(wg_alerting_link_get(h, 7, id, sizeof(id), &cond), 0);
    assert_int_equal(wg_alerting_link_get(h, 8, id, sizeof(id), &cond), 1);
    assert_string_equal(id, "ev-8");
    assert_int_equal(cond, 2);

    wg_alerting_free(h);
    wg_alerting_free(g);
    fx_close(&f, 0); /* the tables stay: the next test's pooled sessions know them */
}

/* A tick that changes more states than one statement carries (on PostgreSQL the alerts and
 * the notification logs go 500 rows a statement): every alert, with labels and annotations
 * that need escaping, and every group's log reach the next leader, which then fires them all
 * as they were and notifies none of them again. */
#define MANY 1201

static void test_many_states_in_one_tick(void **st)
{
    (void)st;
    struct fx f;
    fx_open(&f, "{receiver: sink, group_by: [alertname], group_wait: 0s}", 0);
    struct wg_sql *c = f.c;
    struct wg_alerting *h = NULL, *g = NULL;
    leads = 1;
    fx_new(&f, f.d1, &h);
    int64_t now = wg_now_ns();
    assert_int_equal(wg_alerting_tick(h, now), WG_OK);
    /* one gate event of MANY evaluations (one inbox row: a tick applies 1,000 rows at most) */
    static char names[MANY][64], notes[MANY][64];
    static struct wg_label ls[MANY][2], as[MANY][1];
    static struct wg_alert_eval evs[MANY];
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof(names[i]), "many-%04d \"q\" \\ \u00e9", i);
        snprintf(notes[i], sizeof(notes[i]), "line\nbreak %d", i);
        ls[i][0] = (struct wg_label){(char *)"alertname", names[i]};
        ls[i][1] = (struct wg_label){(char *)"region", (char *)"eu"};
        as[i][0] = (struct wg_label){(char *)"summary", notes[i]};
        evs[i] = (struct wg_alert_eval){.labels = ls[i],
                                        .nlabels = 2,
                                        .annotations = as[i],
                                        .nannotations = 1,
                                        .cond = WG_COND_BREACH};
    }
    assert_int_equal(wg_alerting_eval(h, "many", evs, MANY, now), WG_OK);
    assert_int_equal(wg_alerting_tick(h, now + 1), WG_OK);
    printf("one tick of %d alerts: %lld alert rows, %lld logs, %lld outbox rows\n", MANY,
           (long long)pg_count(c, "SELECT count(*) FROM alerts"),
           (long long)pg_count(c, "SELECT count(*) FROM nflog"),
           (long long)pg_count(c, "SELECT count(*) FROM outbox"));
    assert_int_equal(pg_count(c, "SELECT count(*) FROM alerts"), MANY);
    assert_int_equal(pg_count(c, "SELECT count(*) FROM nflog"), MANY);
    assert_int_equal(pg_count(c, "SELECT count(*) FROM outbox"), MANY);
    assert_int_equal(pg_count(c, "SELECT count(*) FROM alerts WHERE labels LIKE '%many-1200%'"), 1);
    leads = 0;
    assert_int_equal(wg_alerting_tick(h, now + 2), WG_OK);
    leads = 1; /* g leads: it reads what h wrote */
    fx_new(&f, f.d2, &g);
    assert_int_equal(wg_alerting_tick(g, now + 3), WG_OK);
    char *j = wg_alerting_alerts_json(g, now + 3);
    assert_non_null(j);
    int seen = 0;
    for (const char *p = j; (p = strstr(p, "\"state\":\"firing\"")); p++) {
        seen++;
    }
    assert_non_null(strstr(j, "many-0000 \\\"q\\\" \\\\ \u00e9"));
    assert_non_null(strstr(j, "line\\nbreak 1200"));
    free(j);
    printf("the next leader: %d firing, %lld outbox rows\n", seen,
           (long long)pg_count(c, "SELECT count(*) FROM outbox"));
    assert_int_equal(seen, MANY);
    assert_int_equal(pg_count(c, "SELECT count(*) FROM outbox"), MANY); /* none notified again */
    wg_alerting_free(h);
    wg_alerting_free(g);
    fx_close(&f, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_evaluation_lost_across_a_handover),
        cmocka_unit_test(test_many_states_in_one_tick),
    };
    return pg_run_or_skip(tests, sizeof(tests) / sizeof(tests[0]));
}
