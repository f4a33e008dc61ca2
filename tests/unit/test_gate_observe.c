/* test_gate_observe.c — wg_gate_observe and wg_gate_alert_event (gate/gate_observe.c):
 * a gate report mapped onto alert instances (labels, annotations, fingerprints), no-data and
 * error per monitor settings, "source unreachable" inhibiting per-rule errors. Observed
 * black-box: every alert is its own group (group_by ...), and each tick's notifications are
 * read back from the outbox (no worker thread, nothing is sent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerting/alerting.h"
#include "gate/gate.h"

#define S(x) ((int64_t)(x) * WG_NS_PER_SEC)
#define T0 S(1700000000)

static const char *const base_yaml =
    "alerting:\n"
    "  receivers: [{name: hook, kind: webhook, url: 'http://127.0.0.1:9/hook'}]\n"
    "  route: {receiver: hook, group_by: ['...'], group_wait: 0s, group_interval: 1s}\n"
    "monitor:\n"
    "  interval: 1s\n"
    "  external_url: https://wg.example\n"
    "%s";

struct world {
    char dir[64];
    struct wg_alert_config *cfg;
    struct wg_alerting *a;
    sqlite3 *db;
    long long last_id;
};

static void world_init(struct world *w, const char *monitor_extra)
{
    char yaml[2048], err[256];
    struct wg_diags d = {0};
    memset(w, 0, sizeof(*w));
    snprintf(w->dir, sizeof(w->dir), "/tmp/wg-observe-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(yaml, sizeof(yaml), base_yaml, monitor_extra);
    enum wg_err rc = wg_alert_config_load_mem("t.yaml", yaml, strlen(yaml), &w->cfg, &d);
    if (rc != WG_OK) {
        wg_diags_print(&d, stderr);
    }
    assert_int_equal(rc, WG_OK);
    wg_diags_free(&d);
    struct wg_alerting_opts o = {1, 1};
    assert_int_equal(wg_alerting_new(w->cfg, w->dir, &o, &w->a, err, sizeof(err)), WG_OK);
    char path[128];
    snprintf(path, sizeof(path), "%s/alerting.db", w->dir);
    assert_int_equal(sqlite3_open(path, &w->db), SQLITE_OK);
}

static void world_free(struct world *w)
{
    char cmd[128];
    sqlite3_close(w->db);
    wg_alerting_free(w->a);
    wg_alert_config_free(w->cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
    assert_int_equal(system(cmd), 0);
}

/* Observe r at t, tick, and return every alert of the new notifications as a JSON array. */
static cJSON *step(struct world *w, const struct wg_check_report *r, int64_t t)
{
    sqlite3_stmt *st = NULL;
    cJSON *out = cJSON_CreateArray();
    assert_int_equal(wg_gate_observe(w->a, r, t), WG_OK);
    assert_int_equal(wg_alerting_tick(w->a, t), WG_OK);
    assert_int_equal(sqlite3_prepare_v2(w->db, "SELECT id, body FROM outbox WHERE id > ? ORDER BY id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, w->last_id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        w->last_id = sqlite3_column_int64(st, 0);
        cJSON *body = cJSON_Parse((const char *)sqlite3_column_text(st, 1));
        assert_non_null(body);
        cJSON *al;
        cJSON_ArrayForEach(al, cJSON_GetObjectItem(body, "alerts"))
        {
            cJSON_AddItemToArray(out, cJSON_Duplicate(al, 1));
        }
        cJSON_Delete(body);
    }
    sqlite3_finalize(st);
    return out;
}

static const char *lab(const cJSON *al, const char *kind, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(al, kind), k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The alert whose alertname and (optional) host are given, or NULL. */
static const cJSON *find(const cJSON *arr, const char *name, const char *host)
{
    const cJSON *al;
    cJSON_ArrayForEach(al, arr)
    {
        const char *n = lab(al, "labels", "alertname"), *h = lab(al, "labels", "host");
        if (n && !strcmp(n, name) && (!host || (h && !strcmp(h, host)))) {
            return al;
        }
    }
    return NULL;
}

/* ---- a hand-built report: wave prod-internal, feature checkout ----------------------------- */

struct fixture {
    struct wg_label p95_labels[2];
    struct wg_label err_labels[1];
    struct wg_rule rules[4];
    struct wg_feature feature;
    struct wg_label ga[1], gb[1];
    struct wg_group_result groups[2];
    struct wg_rule_report rr[4];
    struct wg_check_report rep;
};

static void fixture_init(struct fixture *f, enum wg_verdict v_p95, enum wg_verdict v_q)
{
    memset(f, 0, sizeof(*f));
    f->p95_labels[0] = (struct wg_label){"team", "payments"};
    f->p95_labels[1] = (struct wg_label){"runbook_url", "https://rb.example/p95"};
    f->err_labels[0] = (struct wg_label){"alertname", "HighErrorRate"};
    const char *names[4] = {"p95-latency", "error-rate", "p99-latency", "queue-depth"};
    for (int i = 0; i < 4; i++) {
        f->rules[i].name = (char *)names[i];
        f->rules[i].feature = "checkout";
    }
    f->rules[0].labels = f->p95_labels;
    f->rules[0].nlabels = 2;
    f->rules[1].labels = f->err_labels;
    f->rules[1].nlabels = 1;
    f->feature = (struct wg_feature){.name = "checkout", .rules = f->rules, .nrules = 4};
    f->ga[0] = (struct wg_label){"host", "a"};
    f->gb[0] = (struct wg_label){"host", "b"};
    f->groups[0] = (struct wg_group_result){.labels = f->ga, .nlabels = 1, .verdict = v_p95,
                                            .has_value = 1, .value = 312.5};
    f->groups[1] = (struct wg_group_result){.labels = f->gb, .nlabels = 1, .verdict = WG_PASS,
                                            .has_value = 1, .value = 120};
    for (int i = 0; i < 4; i++) {
        f->rr[i].feature = &f->feature;
        f->rr[i].rule = &f->rules[i];
        f->rr[i].source = "local";
        f->rr[i].p.severity = "critical";
    }
    /* p95-latency: grouped by host, max 250 */
    f->rr[0].p.threshold = (struct wg_threshold){.has_max = 1, .max = 250};
    f->rr[0].res = (struct wg_rule_result){.verdict = v_p95, .groups = f->groups, .ngroups = 2};
    /* error-rate: no groups, its own alertname, warning */
    f->rr[1].p.severity = "warning";
    f->rr[1].p.threshold = (struct wg_threshold){.has_min = 1, .min = 99};
    f->rr[1].res = (struct wg_rule_result){.verdict = WG_FAIL, .has_value = 1, .value = 97.5};
    /* p99-latency: no data */
    f->rr[2].res.verdict = WG_INCONCLUSIVE;
    snprintf(f->rr[2].res.reason, sizeof(f->rr[2].res.reason), "no series");
    /* queue-depth: another source, v_q */
    f->rr[3].source = "queue";
    f->rr[3].res.verdict = v_q;
    snprintf(f->rr[3].res.reason, sizeof(f->rr[3].res.reason), "connection refused");
    f->rep = (struct wg_check_report){.verdict = WG_FAIL, .wave = "prod-internal",
                                      .env = "internal", .rules = f->rr, .nrules = 4};
}

static void test_labels_annotations_fingerprint(void **st)
{
    (void)st;
    struct world w;
    struct fixture f;
    world_init(&w, "");
    fixture_init(&f, WG_FAIL, WG_PASS);
    cJSON *got = step(&w, &f.rep, T0);
    const cJSON *a = find(got, "p95-latency", "a");
    assert_non_null(a);
    assert_null(find(got, "p95-latency", "b")); /* the passing group does not alert */
    static const struct {
        const char *kind, *key, *want;
    } cases[] = {
        {"labels", "alertname", "p95-latency"}, {"labels", "feature", "checkout"},
        {"labels", "wave", "prod-internal"},    {"labels", "env", "internal"},
        {"labels", "severity", "critical"},     {"labels", "host", "a"},
        {"labels", "team", "payments"},         {"labels", "rule", "p95-latency"},
        {"labels", "source", "local"},          {"labels", "runbook_url", NULL},
        {"annotations", "summary", "p95-latency value 312.5 (max 250)"},
        {"annotations", "runbook_url", "https://rb.example/p95"},
        {"annotations", "report_url", "https://wg.example/v1/gate?wave=prod-internal"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *g = lab(a, cases[i].kind, cases[i].key);
        if (cases[i].want ? !g || strcmp(g, cases[i].want) : g != NULL) {
            fail_msg("%s.%s: want %s, got %s", cases[i].kind, cases[i].key,
                     cases[i].want ? cases[i].want : "(absent)", g ? g : "(absent)");
        }
    }
    /* links resolve: the server answers GET /v1/gate?wave= (there is no /v1/report route) */
    const cJSON *gu = cJSON_GetObjectItem(a, "generatorURL");
    assert_true(cJSON_IsString(gu));
    assert_string_equal(gu->valuestring, "https://wg.example/v1/gate?wave=prod-internal");
    const cJSON *e = find(got, "HighErrorRate", NULL);
    assert_non_null(e);
    assert_string_equal(lab(e, "labels", "severity"), "warning");
    assert_string_equal(lab(e, "annotations", "summary"), "error-rate value 97.5 (min 99)");
    const cJSON *g = find(got, "WavegateGateFailed", NULL);
    assert_non_null(g);
    assert_string_equal(lab(g, "labels", "wave"), "prod-internal");
    /* Fingerprint: Prometheus-style over the labels, stable across evaluations. */
    struct wg_label ls[9];
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(a, "labels"))
    {
        ls[n++] = (struct wg_label){it->string, it->valuestring};
    }
    char fps[17];
    snprintf(fps, sizeof(fps), "%016llx", (unsigned long long)wg_alerting_fingerprint(ls, n));
    assert_string_equal(cJSON_GetObjectItem(a, "fingerprint")->valuestring, fps);
    /* Default no_data (keep_last) and a healthy other source: no other alert. */
    assert_int_equal(cJSON_GetArraySize(got), 3);
    cJSON_Delete(got);
    /* Same breach later: nothing new (dedup); healthy: resolved with the same fingerprint. */
    got = step(&w, &f.rep, T0 + S(2));
    assert_int_equal(cJSON_GetArraySize(got), 0);
    cJSON_Delete(got);
    fixture_init(&f, WG_PASS, WG_PASS);
    f.rr[1].res.verdict = WG_PASS;
    f.rep.verdict = WG_PASS;
    got = step(&w, &f.rep, T0 + S(4));
    const cJSON *r = find(got, "p95-latency", "a");
    assert_non_null(r);
    assert_string_equal(cJSON_GetObjectItem(r, "status")->valuestring, "resolved");
    assert_string_equal(cJSON_GetObjectItem(r, "fingerprint")->valuestring, fps);
    assert_int_equal(cJSON_GetArraySize(got), 3);
    cJSON_Delete(got);
    world_free(&w);
}

/* A fleet wave: each rule's alert carries its target, the target's env and labels, so the
 * same rule failing in two regions is two alerts. */
static void test_fleet_target_labels(void **st)
{
    (void)st;
    struct world w;
    struct fixture f;
    world_init(&w, "");
    fixture_init(&f, WG_PASS, WG_PASS);
    struct wg_label l0[2] = {{"cloud", "aws"}, {"region", "us-east-1"}};
    struct wg_label l1[2] = {{"cloud", "gcp"}, {"region", "europe-west1"}};
    struct wg_target tg[2] = {{.name = "aws-use1", .env = "prod", .labels = l0, .nlabels = 2},
                              {.name = "gcp-euw1", .env = "prod-eu", .labels = l1, .nlabels = 2}};
    struct wg_target_report trs[2] = {
        {.target = &tg[0], .name = "aws-use1", .env = "prod", .rule0 = 0, .nrules = 2},
        {.target = &tg[1], .name = "gcp-euw1", .env = "prod-eu", .rule0 = 2, .nrules = 2}};
    /* error-rate fails in both targets: rules 1 (target 0) and 3 (target 1) */
    f.rr[2].target = f.rr[3].target = 1;
    f.rr[3].rule = &f.rules[1];
    f.rr[3].source = "local";
    f.rr[3].p = f.rr[1].p;
    f.rr[3].res = (struct wg_rule_result){.verdict = WG_FAIL, .has_value = 1, .value = 90};
    f.rep.fleet = 1;
    f.rep.targets = trs;
    f.rep.ntargets = 2;
    cJSON *got = step(&w, &f.rep, T0);
    int seen = 0;
    const cJSON *al;
    cJSON_ArrayForEach(al, got)
    {
        const char *n = lab(al, "labels", "alertname");
        if (!n || strcmp(n, "HighErrorRate") != 0) {
            continue;
        }
        const char *t = lab(al, "labels", "target");
        assert_non_null(t);
        if (!strcmp(t, "aws-use1")) {
            assert_string_equal(lab(al, "labels", "cloud"), "aws");
            assert_string_equal(lab(al, "labels", "region"), "us-east-1");
            assert_string_equal(lab(al, "labels", "env"), "prod");
            seen |= 1;
        } else if (!strcmp(t, "gcp-euw1")) {
            assert_string_equal(lab(al, "labels", "cloud"), "gcp");
            assert_string_equal(lab(al, "labels", "region"), "europe-west1");
            assert_string_equal(lab(al, "labels", "env"), "prod-eu");
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
    cJSON_Delete(got);
    world_free(&w);
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* no_data / error mapping per monitor settings (table): which alertnames fire. */
static void test_nodata_error_mapping(void **st)
{
    (void)st;
    static const struct {
        const char *monitor;
        const char *want; /* sorted alertnames fired by the first evaluation */
    } cases[] = {
        {"", "HighErrorRate WavegateGateFailed WavegateRuleError p95-latency"},
        {"  no_data: separate\n",
         "HighErrorRate WavegateGateFailed WavegateRuleError WavegateRuleNoData p95-latency"},
        {"  no_data: alerting\n  error: ok\n",
         "HighErrorRate WavegateGateFailed p95-latency p99-latency"},
        {"  error: alerting\n", "HighErrorRate WavegateGateFailed p95-latency queue-depth"},
        {"  rules:\n    checkout/p99-latency: {no_data: alerting}\n"
         "    queue-depth: {error: keep_last}\n",
         "HighErrorRate WavegateGateFailed p95-latency p99-latency"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct world w;
        struct fixture f;
        world_init(&w, cases[i].monitor);
        fixture_init(&f, WG_FAIL, WG_NOEVAL);
        /* queue has two rules here, one healthy: not unreachable, so its error is its own. */
        f.rr[2].source = "queue";
        f.rr[2].res.verdict = WG_INCONCLUSIVE;
        cJSON *got = step(&w, &f.rep, T0);
        char names[512] = "";
        const char *v[32];
        size_t n = 0;
        const cJSON *al;
        cJSON_ArrayForEach(al, got)
        {
            if (n < 32) {
                v[n++] = lab(al, "labels", "alertname");
            }
        }
        qsort(v, n, sizeof(v[0]), cmpstr);
        for (size_t k = 0; k < n; k++) {
            size_t o = strlen(names);
            if (k == 0 || strcmp(v[k], v[k - 1])) {
                snprintf(names + o, sizeof(names) - o, "%s%s", o ? " " : "", v[k]);
            }
        }
        if (strcmp(names, cases[i].want)) {
            fail_msg("case %zu (%s): want [%s], got [%s]", i, cases[i].monitor, cases[i].want,
                     names);
        }
        cJSON_Delete(got);
        world_free(&w);
    }
}

/* How many of arr's alerts are name and firing. */
static int count_firing(const cJSON *arr, const char *name)
{
    int n = 0;
    const cJSON *al;
    cJSON_ArrayForEach(al, arr)
    {
        const cJSON *s = cJSON_GetObjectItem(al, "status");
        n += !strcmp(lab(al, "labels", "alertname"), name) && cJSON_IsString(s) &&
             !strcmp(s->valuestring, "firing");
    }
    return n;
}

/* Every rule of a source errored: one WavegateSourceUnreachable, its WavegateRuleError muted. */
static void test_source_unreachable_inhibits(void **st)
{
    (void)st;
    struct world w;
    struct fixture f;
    world_init(&w, "");
    fixture_init(&f, WG_FAIL, WG_NOEVAL); /* queue-depth is the only rule of source queue */
    cJSON *got = step(&w, &f.rep, T0);
    const cJSON *u = find(got, "WavegateSourceUnreachable", NULL);
    assert_non_null(u);
    assert_string_equal(lab(u, "labels", "source"), "queue");
    assert_string_equal(lab(u, "labels", "wave"), "prod-internal");
    assert_string_equal(lab(u, "annotations", "summary"), "connection refused");
    if (find(got, "WavegateRuleError", NULL)) {
        fail_msg("want WavegateRuleError inhibited by WavegateSourceUnreachable, got it sent");
    }
    assert_int_equal(count_firing(got, "WavegateSourceUnreachable"), 1);
    cJSON_Delete(got);
    world_free(&w);
}

/* The source went down during a round (for: 2s, a round a second): that round saw one of its
 * two rules answer, so its other rule's WavegateRuleError starts pending a round before
 * WavegateSourceUnreachable and reaches for: first. It stays muted while "unreachable" is
 * pending and once it fires; when the source answers again but the rule still errors, the
 * rule's own error alert is sent (muted, never lost). */
static void test_unreachable_pending_inhibits(void **st)
{
    (void)st;
    struct world w;
    struct fixture f;
    world_init(&w, "  for: 2s\n");
    fixture_init(&f, WG_FAIL, WG_NOEVAL);
    f.rr[2].source = "queue"; /* queue: p99-latency and queue-depth */
    f.rr[2].res.verdict = WG_PASS;
    static const struct {
        enum wg_verdict p99; /* queue-depth errors in every round */
        int unreachable, rule_error; /* firing ones sent at this round */
    } rounds[] = {
        {WG_PASS, 0, 0},   /* T0: going down mid-round, queue-depth's error pending */
        {WG_NOEVAL, 0, 0}, /* T0+1: all of queue errored, "unreachable" pending */
        {WG_NOEVAL, 0, 0}, /* T0+2: queue-depth's error fires: muted by the pending one */
        {WG_NOEVAL, 1, 0}, /* T0+3: "unreachable" fires, the errors stay muted */
        {WG_NOEVAL, 0, 0},
        {WG_PASS, 0, 1}, /* T0+5: queue answers p99 again: queue-depth's own error is sent */
    };
    for (size_t i = 0; i < sizeof(rounds) / sizeof(rounds[0]); i++) {
        f.rr[2].res.verdict = rounds[i].p99;
        snprintf(f.rr[2].res.reason, sizeof(f.rr[2].res.reason), "%s",
                 rounds[i].p99 == WG_NOEVAL ? "connection refused" : "");
        cJSON *got = step(&w, &f.rep, T0 + S(i));
        int nu = count_firing(got, "WavegateSourceUnreachable");
        int ne = count_firing(got, "WavegateRuleError");
        const cJSON *e = find(got, "WavegateRuleError", NULL);
        if (nu != rounds[i].unreachable || ne != rounds[i].rule_error ||
            (e && strcmp(lab(e, "labels", "rule"), "queue-depth"))) {
            fail_msg("round %zu: want %d unreachable and %d rule error, got %d and %d (%s)", i,
                     rounds[i].unreachable, rounds[i].rule_error, nu, ne,
                     e ? lab(e, "labels", "rule") : "-");
        }
        cJSON_Delete(got);
    }
    world_free(&w);
}

/* Gate verdicts answered to pipelines: fail fires at once (no for:), pass resolves it. */
static void test_gate_event(void **st)
{
    (void)st;
    struct world w;
    struct fixture f;
    world_init(&w, "  for: 1h\n  alert_on_pass: true\n");
    fixture_init(&f, WG_FAIL, WG_PASS);
    assert_int_equal(wg_gate_alert_event(w.a, &f.rep, T0), WG_OK);
    cJSON *got = step(&w, NULL, T0);
    const cJSON *e = find(got, "WavegateGateFailed", NULL);
    assert_non_null(e);
    assert_string_equal(lab(e, "labels", "origin"), "request");
    assert_string_equal(lab(e, "annotations", "summary"), "gate fail for wave prod-internal");
    cJSON_Delete(got);
    f.rep.verdict = WG_PASS;
    assert_int_equal(wg_gate_alert_event(w.a, &f.rep, T0 + S(2)), WG_OK);
    got = step(&w, NULL, T0 + S(2));
    e = find(got, "WavegateGateFailed", NULL);
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e, "status")->valuestring, "resolved");
    assert_non_null(find(got, "WavegateGatePassed", NULL));
    cJSON_Delete(got);
    world_free(&w);
}

/* wg_gate_observe_linked: each instance's report_url is what the links callback answers for its
 * final labels and condition (every instance asked, the passing ones too); generatorURL
 * follows. wg_gate_alert_event_linked: the answer's own link. */
struct asked {
    int n, breach;
    char url[128];
};

static const char *link_of(void *ud, const struct wg_label *labels, size_t n, int cond)
{
    struct asked *k = ud;
    const char *host = "-";
    int has_wave = 0;
    for (size_t i = 0; i < n; i++) {
        host = !strcmp(labels[i].key, "host") ? labels[i].value : host;
        has_wave |= !strcmp(labels[i].key, "wave") && !strcmp(labels[i].value, "prod-internal");
    }
    k->n++;
    k->breach += cond == WG_COND_BREACH;
    snprintf(k->url, sizeof(k->url), "https://wg.example/ui/evaluations/e-%s-%d%s", host, cond,
             has_wave ? "" : "-nowave");
    return k->url;
}

static void test_linked(void **st)
{
    (void)st;
    struct world w;
    struct fixture f;
    struct asked k = {0};
    world_init(&w, "");
    fixture_init(&f, WG_FAIL, WG_PASS);
    struct wg_gate_links links = {link_of, &k};
    assert_int_equal(wg_gate_observe_linked(w.a, &f.rep, T0, &links), WG_OK);
    assert_int_equal(wg_alerting_tick(w.a, T0), WG_OK);
    w.last_id = 0;
    /* step() observes again without links: read this tick's outbox first */
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(w.db, "SELECT body FROM outbox ORDER BY id", -1, &q, NULL),
                     SQLITE_OK);
    cJSON *all = cJSON_CreateArray();
    while (sqlite3_step(q) == SQLITE_ROW) {
        cJSON *body = cJSON_Parse((const char *)sqlite3_column_text(q, 0));
        cJSON *al;
        cJSON_ArrayForEach(al, cJSON_GetObjectItem(body, "alerts"))
        {
            cJSON_AddItemToArray(all, cJSON_Duplicate(al, 1));
        }
        cJSON_Delete(body);
    }
    sqlite3_finalize(q);
    const cJSON *a = find(all, "p95-latency", "a");
    assert_non_null(a);
    printf("asked %d instances (%d breaching)\n", k.n, k.breach);
    assert_true(k.n >= 5); /* p95 a and b, error-rate, p99, queue-depth, gate failed */
    const char *want = "https://wg.example/ui/evaluations/e-a-1";
    printf("report_url: want %s got %s\n", want, lab(a, "annotations", "report_url"));
    assert_string_equal(lab(a, "annotations", "report_url"), want);
    assert_string_equal(cJSON_GetObjectItem(a, "generatorURL")->valuestring, want);
    const cJSON *g = find(all, "WavegateGateFailed", NULL);
    assert_non_null(g);
    assert_string_equal(lab(g, "annotations", "report_url"),
                        "https://wg.example/ui/evaluations/e---1");
    cJSON_Delete(all);
    /* a gate answer's event: its own link */
    assert_int_equal(wg_gate_alert_event_linked(w.a, &f.rep, T0 + S(1),
                                                "https://wg.example/ui/evaluations/answer"),
                     WG_OK);
    assert_int_equal(wg_alerting_tick(w.a, T0 + S(1)), WG_OK);
    assert_int_equal(sqlite3_prepare_v2(w.db, "SELECT body FROM outbox ORDER BY id", -1, &q, NULL),
                     SQLITE_OK);
    const char *got = NULL;
    cJSON *body = NULL;
    while (!got && sqlite3_step(q) == SQLITE_ROW) {
        cJSON_Delete(body);
        body = cJSON_Parse((const char *)sqlite3_column_text(q, 0));
        const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItem(body, "alerts"), 0);
        const char *origin = lab(ev, "labels", "origin");
        got = origin && !strcmp(origin, "request") ? lab(ev, "annotations", "report_url") : NULL;
    }
    sqlite3_finalize(q);
    printf("gate event report_url: want .../answer got %s\n", got ? got : "(none)");
    assert_non_null(got);
    assert_string_equal(got, "https://wg.example/ui/evaluations/answer");
    cJSON_Delete(body);
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_annotations_fingerprint),
        cmocka_unit_test(test_fleet_target_labels),
        cmocka_unit_test(test_nodata_error_mapping),
        cmocka_unit_test(test_source_unreachable_inhibits),
        cmocka_unit_test(test_unreachable_pending_inhibits),
        cmocka_unit_test(test_gate_event),
        cmocka_unit_test(test_linked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
