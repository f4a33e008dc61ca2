/* test_gate_evals.c — the evaluation store of the evidence pages (gate_evals.c) on both
 * backends: a file written before the store seam still reads (SQLite); several writers at
 * once keep exactly the newest `keep`; on a real PostgreSQL (WG_TEST_PG_DSN, set by
 * tests/integration/test_replicas_pg.sh; skipped without) an evaluation stored through one
 * handle (one replica) is read, paged and listed through another, its series blob intact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/store.h"
#include "gate/gate_int.h"
#include "pg_helper.h"

/* deploy 2026-01-01T00:30:00Z; baseline 00:00..00:30, window 00:30..00:40 (make_blob's) */
static const char REPORT[] =
    "{\"verdict\":\"fail\",\"wave\":\"prod\",\"env\":\"prod\","
    "\"deploy_time\":\"2026-01-01T00:30:00Z\","
    "\"rules\":[{\"feature\":\"f\",\"rule\":\"r\",\"verdict\":\"fail\",\"value\":300,"
    "\"threshold\":{\"max\":250},\"samples\":60,"
    "\"window\":{\"start\":\"2026-01-01T00:30:00Z\",\"end\":\"2026-01-01T00:40:00Z\"},"
    "\"baseline_window\":{\"start\":\"2026-01-01T00:00:00Z\",\"end\":\"2026-01-01T00:30:00Z\"}}]}";

struct fx {
    int pg;
    char dir[64];
};

static int setup_sqlite(void **state)
{
    static struct fx f;
    memset(&f, 0, sizeof(f));
    wg_sql_use(WG_STORE_SQLITE, NULL);
    snprintf(f.dir, sizeof(f.dir), "/tmp/wg-evals-XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    *state = &f;
    return 0;
}

static int teardown_sqlite(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* A fresh `evidence` table on the test cluster (pg_helper.h). */
static int setup_pg(void **state)
{
    static struct fx f;
    static int dropped;
    memset(&f, 0, sizeof(f));
    f.pg = 1;
    if (pg_reset(&dropped,
                 "DROP TABLE IF EXISTS evidence; DELETE FROM wg_schema WHERE name='evidence'",
                 "DELETE FROM evidence") != 0) {
        return -1;
    }
    snprintf(f.dir, sizeof(f.dir), "/nonexistent/never-written");
    *state = &f;
    return 0;
}

static struct wg__evals *must_open(struct fx *f, long keep, int64_t max_age)
{
    struct wg__evals *e = NULL;
    char err[256] = "";
    enum wg_err rc = wg__evals_open(f->dir, keep, max_age, &e, err, sizeof(err));
    if (rc != WG_OK) {
        fail_msg("open: %s", err);
    }
    return e;
}

/* A blob of the real format: one rule, 300 points now and 600 before. */
static void make_blob(struct wg_buf *b)
{
    struct wg_rule_report rr;
    memset(&rr, 0, sizeof(rr));
    char k[] = "host", v[] = "a";
    struct wg_label lab = {k, v};
    struct wg_series *s = wg_seriesset_get(&rr.kept, &lab, 1);
    struct wg_series *t = wg_seriesset_get(&rr.kept_baseline, &lab, 1);
    assert_non_null(s);
    assert_non_null(t);
    for (int i = 0; i < 600; i++) {
        int64_t at = 1767225600LL * WG_NS_PER_SEC + (int64_t)i * WG_NS_PER_SEC;
        assert_int_equal(wg_series_push(t, at, 100 + i % 7), WG_OK);
        if (i < 300) {
            assert_int_equal(wg_series_push(s, at + 1800 * WG_NS_PER_SEC, 300 + i % 5), WG_OK);
        }
    }
    struct wg_check_report r;
    memset(&r, 0, sizeof(r));
    r.rules = &rr;
    r.nrules = 1;
    wg_buf_init(b, 0);
    assert_int_equal(wg__evals_series_encode(&r, b), WG_OK);
    wg_seriesset_free(&rr.kept);
    wg_seriesset_free(&rr.kept_baseline);
}

/* The rows stored, expired or not (the table itself, not the store's filtered reads). */
static int64_t count_rows(struct fx *f)
{
    int64_t n = -1;
    if (!f->pg) {
        char path[128];
        snprintf(path, sizeof(path), "%s/evaluations.db", f->dir);
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(
            sqlite3_prepare_v2(db, "SELECT count(*) FROM evaluations", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return n;
    }
    struct wg_sql_opts o = {
        .backend = WG_STORE_POSTGRES, .name = "admin", .own_session = 1};
    struct wg_sql *c = NULL;
    char err[256];
    assert_int_equal(wg_sql_open(&o, &c, err, sizeof(err)), WG_OK);
    struct wg_sql_q *q = wg_sql_query(c, "SELECT count(*) FROM evidence");
    assert_int_equal(wg_sql_step(q), 1);
    n = wg_sql_col_int64(q, 0);
    wg_sql_end(q);
    wg_sql_close(c);
    return n;
}

/* SQLite: an evaluations.db written before the seam (its schema, user_version 1, raw
 * sqlite3 binds) is read as it was: report, blob, page with its chart, listing. */
static void old_file_reads(void **state)
{
    struct fx *f = *state;
    struct wg_buf blob;
    make_blob(&blob);
    char path[128];
    snprintf(path, sizeof(path), "%s/evaluations.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE evaluations(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT "
                     "NULL UNIQUE, created_ns INTEGER NOT NULL, kind TEXT NOT NULL, wave TEXT NOT "
                     "NULL, verdict TEXT NOT NULL, report TEXT NOT NULL, series BLOB, features "
                     "TEXT NOT NULL DEFAULT '[]'); PRAGMA user_version=1;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO evaluations(id, created_ns, kind, wave, "
                                        "verdict, report, series) VALUES('old1',?,'gate','prod',"
                                        "'fail',?,?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, wg_now_ns());
    sqlite3_bind_text(st, 2, REPORT, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, blob.p, (int)blob.len, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);

    struct wg__evals *e = must_open(f, 10, 0);
    char *json = NULL, *html = NULL, id[40];
    void *b = NULL;
    size_t bl = 0;
    assert_int_equal(wg__evals_get(e, "old1", &json, &b, &bl), WG_OK);
    printf("old row: want %zu blob bytes, got %zu\n", blob.len, bl);
    assert_string_equal(json, REPORT);
    assert_int_equal(bl, blob.len);
    assert_memory_equal(b, blob.p, bl);
    assert_int_equal(wg__evals_page(e, "old1", &html), WG_OK);
    assert_non_null(strstr(html, "<polyline"));
    assert_int_equal(wg__evals_latest(e, "prod", id, sizeof(id)), WG_OK);
    assert_string_equal(id, "old1");
    assert_int_equal(wg__evals_has(e, "old1"), 1);
    assert_int_equal(wg__evals_has(e, "nope"), 0);
    free(json);
    free(b);
    free(html);
    wg__evals_close(e);
    wg_buf_free(&blob);
}

/* Several writers at once (threads, each its own handle: SQLite processes sharing a file,
 * or replicas on one PostgreSQL): afterwards at most keep + writers - 1 rows (two inserts at
 * one instant may each delete the same oldest one), one more insert leaves exactly `keep`,
 * and those are the newest. */
#define WRITERS 4
#define PUTS 40
#define KEEP 25L

struct writer {
    struct fx *f;
    char ids[PUTS][40];
    int failed;
};

static void *write_many(void *arg)
{
    struct writer *w = arg;
    struct wg__evals *e = NULL;
    char err[256];
    if (wg__evals_open(w->f->dir, KEEP, 0, &e, err, sizeof(err)) != WG_OK) {
        w->failed = 1;
        return NULL;
    }
    for (int i = 0; i < PUTS; i++) {
        w->ids[i][0] = '\0';
        w->failed |= wg__evals_put(e, "gate", "prod", "pass", NULL, REPORT, "x", 1, w->ids[i],
                                   sizeof(w->ids[i])) != WG_OK;
    }
    wg__evals_close(e);
    return NULL;
}

static void writers_keep_newest(void **state)
{
    struct fx *f = *state;
    struct wg__evals *e = must_open(f, KEEP, 0); /* creates and migrates first */
    static struct writer w[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].f = f;
        assert_int_equal(pthread_create(&th[i], NULL, write_many, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failed, 0);
    }
    int64_t n = count_rows(f);
    printf("%d writers x %d puts, keep %ld: want %ld..%ld rows, got %lld\n", WRITERS, PUTS, KEEP,
           KEEP, KEEP + WRITERS - 1, (long long)n);
    assert_true(n >= KEEP && n <= KEEP + WRITERS - 1);
    char last[40] = "";
    assert_int_equal(wg__evals_put(e, "gate", "prod", "pass", NULL, REPORT, "x", 1, last, 40),
                     WG_OK);
    n = count_rows(f);
    printf("one more put: want %ld rows, got %lld\n", KEEP, (long long)n);
    assert_int_equal(n, KEEP);
    /* the kept ones are the newest: the listing (newest first) starts with the last put */
    cJSON *recent = wg__evals_recent(e, 100);
    assert_int_equal(cJSON_GetArraySize(recent), KEEP);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(recent, 0), "id")->valuestring, last);
    cJSON_Delete(recent);
    wg__evals_close(e);
}

/* A smaller `keep` (a reload, or another replica's config) is reached: at once on SQLite (by
 * rank), on PostgreSQL over a few inserts (each prunes at most 64 of the oldest: a statement
 * of bounded cost whatever the backlog), and the rows left are the newest. */
static void smaller_keep_converges(void **state)
{
    struct fx *f = *state;
    struct wg__evals *e = must_open(f, 300, 0);
    char id[40];
    for (int i = 0; i < 200; i++) {
        id[0] = '\0'; /* empty: the store names it */
        assert_int_equal(wg__evals_put(e, "gate", "prod", "pass", NULL, REPORT, NULL, 0, id, 40),
                         WG_OK);
    }
    assert_int_equal(count_rows(f), 200);
    wg__evals_close(e);
    e = must_open(f, 10, 0);
    int puts = 0;
    int64_t n = count_rows(f);
    while (n > 10 && puts < 10) {
        id[0] = '\0'; /* empty: the store names it */
        assert_int_equal(wg__evals_put(e, "gate", "prod", "pass", NULL, REPORT, NULL, 0, id, 40),
                         WG_OK);
        puts++;
        n = count_rows(f);
    }
    printf("keep 300 -> 10 with 200 rows: %lld rows after %d puts (want 10 within 4)\n",
           (long long)n, puts);
    assert_int_equal(n, 10);
    assert_true(puts <= 4);
    cJSON *recent = wg__evals_recent(e, 100);
    assert_int_equal(cJSON_GetArraySize(recent), 10);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(recent, 0), "id")->valuestring, id);
    cJSON_Delete(recent);
    wg__evals_close(e);
}

/* PostgreSQL: stored through one handle (replica 1), everything read through another
 * (replica 2): the JSON, the exact blob, the page with its chart, latest, recent, has; past
 * max_age it is gone for both, and the next insert deletes it. */
static void shared_between_handles(void **state)
{
    struct fx *f = *state;
    struct wg__evals *r1 = must_open(f, 100, 0), *r2 = must_open(f, 100, 0);
    struct wg_buf blob;
    make_blob(&blob);
    char id[40] = "";
    assert_int_equal(wg__evals_put(r1, "gate", "prod", "fail", "[{\"feature\":\"f\"}]", REPORT,
                                   blob.p, blob.len, id, sizeof(id)),
                     WG_OK);
    char *json = NULL, *html = NULL, latest[40];
    void *b = NULL;
    size_t bl = 0;
    assert_int_equal(wg__evals_get(r2, id, &json, &b, &bl), WG_OK);
    printf("through the other handle: want %zu blob bytes, got %zu\n", blob.len, bl);
    assert_string_equal(json, REPORT);
    assert_int_equal(bl, blob.len);
    assert_memory_equal(b, blob.p, bl);
    assert_int_equal(wg__evals_page(r2, id, &html), WG_OK);
    assert_non_null(strstr(html, "<polyline"));
    assert_int_equal(wg__evals_latest(r2, "prod", latest, sizeof(latest)), WG_OK);
    assert_string_equal(latest, id);
    cJSON *recent = wg__evals_recent(r2, 10);
    assert_int_equal(cJSON_GetArraySize(recent), 1);
    cJSON_Delete(recent);
    assert_int_equal(wg__evals_has(r2, id), 1);
    free(json);
    free(b);
    free(html);
    html = NULL;
    wg__evals_close(r2);
    /* max_age of 1 ns: everything stored before is past it, for reads and the next insert */
    r2 = must_open(f, 100, 1);
    assert_int_equal(wg__evals_page(r2, id, &html), WG_ENOTFOUND);
    assert_int_equal(wg__evals_has(r2, id), 0);
    char id2[40] = "";
    assert_int_equal(wg__evals_put(r2, "gate", "prod", "pass", NULL, REPORT, NULL, 0, id2, 40),
                     WG_OK);
    assert_int_equal(wg__evals_has(r1, id), 0); /* deleted, not only filtered */
    assert_int_equal(wg__evals_page(r1, id2, &html), WG_OK); /* no series: a page, no chart */
    free(html);
    wg__evals_close(r1);
    wg__evals_close(r2);
    wg_buf_free(&blob);
}

int main(void)
{
    const struct CMUnitTest sq[] = {
        cmocka_unit_test_setup_teardown(old_file_reads, setup_sqlite, teardown_sqlite),
        cmocka_unit_test_setup_teardown(writers_keep_newest, setup_sqlite, teardown_sqlite),
        cmocka_unit_test_setup_teardown(smaller_keep_converges, setup_sqlite, teardown_sqlite),
    };
    const struct CMUnitTest pg[] = {
        cmocka_unit_test_setup(shared_between_handles, setup_pg),
        cmocka_unit_test_setup(writers_keep_newest, setup_pg),
        cmocka_unit_test_setup(smaller_keep_converges, setup_pg),
    };
    return pg_run_halves(sq, pg);
}
