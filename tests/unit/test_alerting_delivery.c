/* test_alerting_delivery.c — the delivery worker against real loopback peers: a scripted sink
 * (tests/peers/sink_peer.py) answering like Slack/PagerDuty/Teams/webhooks (5xx, 429 +
 * Retry-After, 400, hangs, redirects), a kill -9 of a delivering process followed by a restart
 * that must deliver every accepted notification, and a real Alertmanager receiving pushes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alerting/alerting.h"
#include "alert_helper.h"
#include "tmp_helper.h"

#define S(x) ((int64_t)(x) * WG_NS_PER_SEC)

/* Children to kill if a test fails half-way (cmocka skips the rest of the test). */
static pid_t children[8];
static size_t nchildren;

static void track(pid_t pid)
{
    if (nchildren < 8) {
        children[nchildren++] = pid;
    }
}

static int reap_children(void **st)
{
    (void)st;
    for (size_t i = 0; i < nchildren; i++) {
        if (children[i] > 0 && kill(children[i], SIGKILL) == 0) {
            waitpid(children[i], NULL, 0);
        }
    }
    nchildren = 0;
    return 0;
}

struct peer {
    pid_t pid;
    int port;
    char dir[128];
    char log[192];
};

static void mktmp(char *dir, size_t n)
{
    assert_non_null(wg_tmp_dir(dir, n, "wg-alert"));
}

static void peer_start(struct peer *p, const char *scenario)
{
    int fd;
    mktmp(p->dir, sizeof(p->dir));
    snprintf(p->log, sizeof(p->log), "%s/log.jsonl", p->dir);
    p->pid = sink_spawn(p->dir, scenario, p->log, &fd);
    track(p->pid);
    p->port = sink_port(fd);
}

static void peer_stop(struct peer *p)
{
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
}

/* Every logged request as a cJSON array. */
static cJSON *peer_log(const struct peer *p)
{
    cJSON *arr = cJSON_CreateArray();
    FILE *f = fopen(p->log, "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        if (j) {
            cJSON_AddItemToArray(arr, j);
        }
    }
    free(line);
    if (f) {
        fclose(f);
    }
    return arr;
}

static int count_path(const cJSON *log, const char *path)
{
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, log)
    {
        const cJSON *pj = cJSON_GetObjectItem(it, "path");
        n += cJSON_IsString(pj) && strncmp(pj->valuestring, path, strlen(path)) == 0;
    }
    return n;
}

/* Poll the log until path has at least n requests or 20 s pass. */
static cJSON *wait_requests(const struct peer *p, const char *path, int n)
{
    int64_t deadline = wg_mono_ns() + S(20);
    for (;;) {
        cJSON *log = peer_log(p);
        if (count_path(log, path) >= n || wg_mono_ns() > deadline) {
            return log;
        }
        cJSON_Delete(log);
        usleep(20000);
    }
}

static struct wg_alert_config *load_cfg(const char *fmt, int port)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml), fmt, port, port, port, port, port, port);
    return alert_cfg_load(yaml);
}

static void fire(struct wg_alerting *a, const char *scope, const char *name, int breach,
                 int64_t now)
{
    struct wg_label ls[2] = {{"alertname", (char *)name}, {"severity", "critical"}};
    struct wg_label an[1] = {{"summary", "it broke"}};
    struct wg_alert_eval ev = {NULL, ls, 2, an, 1, breach ? WG_COND_BREACH : WG_COND_OK};
    assert_int_equal(wg_alerting_eval(a, scope, &ev, 1, now), WG_OK);
}

static const char *receivers_cfg =
    "alerting:\n"
    "  receivers:\n"
    "    - {name: hook, kind: webhook, url: 'http://127.0.0.1:%d/hook', secret_env: WG_T_SECRET}\n"
    "    - {name: chat, kind: slack, url: 'http://127.0.0.1:%d/slack', send_resolved: true}\n"
    "    - {name: pd, kind: pagerduty, url: 'http://127.0.0.1:%d/pd', routing_key_env: WG_T_PD}\n"
    "    - {name: ms, kind: teams, url: 'http://127.0.0.1:%d/teams', timeout: 500ms}\n"
    "    - {name: redir, kind: webhook, url: 'http://127.0.0.1:%d/redir'}\n"
    "  route:\n"
    "    receiver: hook\n"
    "    group_by: [alertname]\n"
    "    group_wait: 0s\n"
    "    group_interval: 1s\n"
    "    routes:\n"
    "      - {receiver: chat, match: {alertname: S}}\n"
    "      - {receiver: pd, match: {alertname: P}}\n"
    "      - {receiver: ms, match: {alertname: T}}\n"
    "      - {receiver: redir, match: {alertname: R}}\n";

static const char *receivers_scenario =
    "{\"secret\": \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\","
    " \"/hook\": [{\"status\": 500}, {\"status\": 503}, {\"status\": 204}],"
    " \"/slack\": [{\"status\": 429, \"headers\": {\"Retry-After\": \"1\"},"
    "   \"body\": \"{\\\"ok\\\":false,\\\"error\\\":\\\"rate_limited\\\"}\"},"
    "   {\"status\": 200, \"body\": \"ok\"}],"
    " \"/pd\": [{\"status\": 400, \"body\": \"{\\\"status\\\":\\\"invalid event\\\"}\"}],"
    " \"/teams\": [{\"status\": 202, \"delay\": 3}, {\"status\": 202}],"
    " \"/redir\": [{\"status\": 302, \"headers\": {\"Location\": \"/elsewhere\"}}],"
    " \"/elsewhere\": [{\"status\": 200}]}";

static double metric(const char *text, const char *name, const char *rcv)
{
    char key[160];
    snprintf(key, sizeof(key), "wavegate_alert_%s{receiver=\"%s\"} ", name, rcv);
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static void test_receivers_failure_matrix(void **st)
{
    (void)st;
    struct peer p;
    char dir[128], err[256];
    peer_start(&p, receivers_scenario);
    mktmp(dir, sizeof(dir));
    setenv("WG_T_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
    setenv("WG_T_PD", "e93facc04764012d7bfb002500d5d1a6", 1);
    struct wg_alert_config *cfg = load_cfg(receivers_cfg, p.port);
    struct wg_alerting *a = NULL;
    assert_int_equal(wg_alerting_new(cfg, dir, NULL, &a, err, sizeof(err)), WG_OK);
    struct wg_label l[5][1] = {{{"alertname", "H"}}, {{"alertname", "S"}}, {{"alertname", "P"}},
                               {{"alertname", "T"}}, {{"alertname", "R"}}};
    struct wg_alert_eval evs[5];
    for (int i = 0; i < 5; i++) {
        evs[i] = (struct wg_alert_eval){NULL, l[i], 1, NULL, 0, WG_COND_BREACH};
    }
    assert_int_equal(wg_alerting_eval(a, "w", evs, 5, S(100)), WG_OK);
    assert_int_equal(wg_alerting_tick(a, S(100)), WG_OK);
    size_t left = wg_alerting_drain(a, wg_mono_ns() + S(20));
    assert_int_equal(left, 0);
    cJSON *log = peer_log(&p);
    /* webhook: 500, 503, then 204 — three attempts, one webhook-id, valid signatures */
    assert_int_equal(count_path(log, "/hook"), 3);
    const char *id0 = NULL;
    double slack_t[2] = {0, 0};
    int ns = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, log)
    {
        const char *path = cJSON_GetObjectItem(it, "path")->valuestring;
        const cJSON *h = cJSON_GetObjectItem(it, "headers");
        if (strcmp(path, "/hook") == 0) {
            const char *id = cJSON_GetObjectItem(h, "webhook-id")->valuestring;
            if (!id0) {
                id0 = id;
            }
            assert_string_equal(id, id0);
            assert_true(cJSON_IsTrue(cJSON_GetObjectItem(it, "sig_ok")));
        }
        if (strcmp(path, "/slack") == 0 && ns < 2) {
            slack_t[ns++] = cJSON_GetObjectItem(it, "t")->valuedouble;
        }
    }
    /* slack: 429 with Retry-After: 1 — the retry waits at least a second */
    assert_int_equal(ns, 2);
    if (slack_t[1] - slack_t[0] < 0.95) {
        fprintf(stderr, "slack retry after %.3fs, want >= 1s\n", slack_t[1] - slack_t[0]);
        fail();
    }
    assert_int_equal(count_path(log, "/pd"), 1);        /* 400: permanent, not retried */
    assert_int_equal(count_path(log, "/teams"), 2);     /* hang → timeout → retry */
    assert_int_equal(count_path(log, "/redir"), 1);     /* 302 not followed */
    assert_int_equal(count_path(log, "/elsewhere"), 0);
    cJSON_Delete(log);
    struct wg_buf m;
    wg_buf_init(&m, 0);
    wg_alerting_metrics(a, &m);
    struct {
        const char *name, *rcv;
        double want;
    } mc[] = {
        {"delivered_total", "hook", 1}, {"retries_total", "hook", 2},
        {"delivered_total", "chat", 1}, {"dead_letters_total", "pd", 1},
        {"delivered_total", "ms", 1},   {"dead_letters_total", "redir", 1},
        {"queue_depth", "hook", 0},
    };
    for (size_t i = 0; i < sizeof(mc) / sizeof(mc[0]); i++) {
        double got = metric(m.p, mc[i].name, mc[i].rcv);
        if (got != mc[i].want) {
            fprintf(stderr, "%s{%s}: want %g got %g\n%s", mc[i].name, mc[i].rcv, mc[i].want, got,
                    m.p);
            fail();
        }
    }
    wg_buf_free(&m);
    wg_alerting_free(a);
    wg_alert_config_free(cfg);
    peer_stop(&p);
}

/* ---- kill -9 during delivery ------------------------------------------------------------- */

#define KILL_ALERTS 15

static const char *kill_cfg =
    "alerting:\n"
    "  receivers:\n"
    "    - {name: hook, kind: webhook, url: 'http://127.0.0.1:%d/hook', max_in_flight: 2}\n"
    "  route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 10s}\n";

/* The idempotency key says what a notification is, not when it was made: two stores that
 * lose nothing but time (a crash before the tick's commit, then the same evaluation later)
 * send the same webhook-id; a repeat after repeat_interval is a new message with a new id. */
static const char *idem_cfg =
    "alerting:\n"
    "  receivers:\n"
    "    - {name: hook, kind: webhook, url: 'http://127.0.0.1:%d/hook'}\n"
    "  route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s,\n"
    "          repeat_interval: 10s}\n";

static const char *webhook_id(const cJSON *log, int i)
{
    const cJSON *h = cJSON_GetObjectItem(cJSON_GetArrayItem(log, i), "headers");
    const cJSON *id = cJSON_GetObjectItem(h, "webhook-id");
    return cJSON_IsString(id) ? id->valuestring : "";
}

static void test_idempotency_key_is_content(void **st)
{
    (void)st;
    struct peer p;
    char dir1[128], dir2[128], err[256];
    peer_start(&p, "{\"/hook\": [{\"status\": 200}]}");
    mktmp(dir1, sizeof(dir1));
    mktmp(dir2, sizeof(dir2));
    struct wg_alert_config *cfg = load_cfg(idem_cfg, p.port);
    struct wg_alerting *a = NULL, *b = NULL;
    assert_int_equal(wg_alerting_new(cfg, dir1, NULL, &a, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_alerting_new(cfg, dir2, NULL, &b, err, sizeof(err)), WG_OK);
    fire(a, "s", "K", 1, S(100));
    assert_int_equal(wg_alerting_tick(a, S(100)), WG_OK);
    assert_int_equal(wg_alerting_drain(a, wg_mono_ns() + S(20)), 0);
    fire(b, "s", "K", 1, S(137)); /* the same alert, evaluated later */
    assert_int_equal(wg_alerting_tick(b, S(137)), WG_OK);
    assert_int_equal(wg_alerting_drain(b, wg_mono_ns() + S(20)), 0);
    fire(a, "s", "K", 1, S(115));
    assert_int_equal(wg_alerting_tick(a, S(115)), WG_OK); /* repeat_interval elapsed: a new notification */
    assert_int_equal(wg_alerting_drain(a, wg_mono_ns() + S(20)), 0);
    cJSON *log = wait_requests(&p, "/hook", 3);
    assert_int_equal(cJSON_GetArraySize(log), 3);
    const char *first = webhook_id(log, 0), *again = webhook_id(log, 1),
               *repeat = webhook_id(log, 2);
    if (strcmp(first, again) != 0 || strcmp(first, repeat) == 0) {
        print_error("want ids first == again != repeat, got %s %s %s\n", first, again, repeat);
    }
    assert_string_equal(first, again);
    assert_string_not_equal(first, repeat);
    cJSON_Delete(log);
    wg_alerting_free(a);
    wg_alerting_free(b);
    wg_alert_config_free(cfg);
    peer_stop(&p);
}

static void test_kill9_restart(void **st)
{
    (void)st;
    struct peer p;
    char dir[128], err[256];
    int fds[2];
    peer_start(&p, "{\"/hook\": [{\"status\": 200, \"delay\": 0.05}]}");
    mktmp(dir, sizeof(dir));
    struct wg_alert_config *cfg = load_cfg(kill_cfg, p.port);
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct wg_alerting *a = NULL;
        nchildren = 0;
        close(fds[0]);
        if (wg_alerting_new(cfg, dir, NULL, &a, err, sizeof(err)) != WG_OK) {
            _exit(2);
        }
        char name[32];
        for (int i = 0; i < KILL_ALERTS; i++) {
            snprintf(name, sizeof(name), "K%02d", i);
            fire(a, name, name, 1, S(0));
        }
        assert_int_equal(wg_alerting_tick(a, S(0)), WG_OK);
        for (int i = 0; i < KILL_ALERTS; i++) {
            snprintf(name, sizeof(name), "K%02d", i);
            fire(a, name, name, 0, S(5));
        }
        assert_int_equal(wg_alerting_tick(a, S(10)), WG_OK); /* resolves accepted into the outbox */
        if (write(fds[1], "c", 1) != 1) {
            _exit(3);
        }
        wg_alerting_drain(a, wg_mono_ns() + S(60));
        _exit(0);
    }
    track(pid);
    close(fds[1]);
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1); /* both ticks committed */
    close(fds[0]);
    cJSON_Delete(wait_requests(&p, "/hook", 4));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cJSON *before = peer_log(&p);
    int nbefore = cJSON_GetArraySize(before);
    cJSON_Delete(before);
    assert_true(nbefore < 2 * KILL_ALERTS); /* the kill happened mid-delivery */
    /* restart: no new evaluations, just the outbox */
    struct wg_alerting *a = NULL;
    assert_int_equal(wg_alerting_new(cfg, dir, NULL, &a, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_alerting_drain(a, wg_mono_ns() + S(30)), 0);
    cJSON *log = peer_log(&p);
    /* every (alert, status) pair arrived at least once; duplicates share the webhook-id */
    int seen[KILL_ALERTS][2] = {{0}};
    char ids[KILL_ALERTS][2][40] = {{{0}}};
    const cJSON *it;
    cJSON_ArrayForEach(it, log)
    {
        cJSON *b = cJSON_Parse(cJSON_GetObjectItem(it, "body")->valuestring);
        const char *id =
            cJSON_GetObjectItem(cJSON_GetObjectItem(it, "headers"), "webhook-id")->valuestring;
        const char *an = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "groupLabels"),
                                             "alertname")->valuestring;
        int k = (int)strtol(an + 1, NULL, 10);
        int s = strcmp(cJSON_GetObjectItem(b, "status")->valuestring, "resolved") == 0;
        if (seen[k][s] && strcmp(ids[k][s], id) != 0) {
            fprintf(stderr, "%s duplicate with a different webhook-id\n", an);
            fail();
        }
        seen[k][s]++;
        snprintf(ids[k][s], sizeof(ids[k][s]), "%s", id);
        cJSON_Delete(b);
    }
    int missing = 0;
    for (int k = 0; k < KILL_ALERTS; k++) {
        for (int s = 0; s < 2; s++) {
            if (!seen[k][s]) {
                fprintf(stderr, "K%02d %s never delivered\n", k, s ? "resolved" : "firing");
                missing++;
            }
        }
    }
    fprintf(stderr, "kill -9: %d requests before the kill, %d in total for %d notifications\n",
            nbefore, cJSON_GetArraySize(log), 2 * KILL_ALERTS);
    assert_int_equal(missing, 0);
    cJSON_Delete(log);
    wg_alerting_free(a);
    wg_alert_config_free(cfg);
    peer_stop(&p);
}

/* ---- a real Alertmanager ----------------------------------------------------------------- */

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    socklen_t sl = sizeof(sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(s, (struct sockaddr *)&sa, &sl);
    close(s);
    return ntohs(sa.sin_port);
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    wg_buf_add(ud, p, sz * n);
    return sz * n;
}

static long http_get(const char *url, struct wg_buf *out)
{
    CURL *c = curl_easy_init();
    long code = 0;
    wg_buf_reset(out);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    }
    curl_easy_cleanup(c);
    return code;
}

/* State of alertname `name` in Alertmanager: "active"/"suppressed"/... or "absent". */
static const char *am_state(int port, const char *name, char *buf, size_t n)
{
    char url[128];
    struct wg_buf b;
    wg_buf_init(&b, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v2/alerts", port);
    snprintf(buf, n, "absent");
    if (http_get(url, &b) == 200) {
        cJSON *j = cJSON_Parse(b.p);
        const cJSON *it;
        cJSON_ArrayForEach(it, j)
        {
            const cJSON *an = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "labels"), "alertname");
            if (cJSON_IsString(an) && strcmp(an->valuestring, name) == 0) {
                const cJSON *s = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "status"), "state");
                snprintf(buf, n, "%s", cJSON_IsString(s) ? s->valuestring : "?");
            }
        }
        cJSON_Delete(j);
    }
    wg_buf_free(&b);
    return buf;
}

/* Set when a test skipped for a missing server: the program then exits 77, which ctest reports
 * as skipped (SKIP_RETURN_CODE), not passed. Under CI=true (CI installs the servers) a
 * missing server is a failure. */
static int g_skipped;

static void test_real_alertmanager(void **st)
{
    (void)st;
    if (access("/usr/bin/prometheus-alertmanager", X_OK) != 0) {
        const char *ci = getenv("CI");
        if (ci && strcmp(ci, "true") == 0) {
            fail_msg("CI=true but /usr/bin/prometheus-alertmanager is not installed");
        }
        g_skipped = 1;
        skip();
    }
    char dir[128], path[256], err[256], url[128], state[32];
    mktmp(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/am.yml", dir);
    FILE *f = fopen(path, "w");
    fputs("route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n", f);
    fclose(f);
    int port = free_port();
    pid_t am = fork();
    if (am == 0) {
        char a1[300], a2[300], a3[64];
        snprintf(a1, sizeof(a1), "--config.file=%s", path);
        snprintf(a2, sizeof(a2), "--storage.path=%s/data", dir);
        snprintf(a3, sizeof(a3), "--web.listen-address=127.0.0.1:%d", port);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl("/usr/bin/prometheus-alertmanager", "alertmanager", a1, a2, a3,
              "--cluster.listen-address=", (char *)NULL);
        _exit(127);
    }
    track(am);
    struct wg_buf b;
    wg_buf_init(&b, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/-/ready", port);
    int64_t deadline = wg_mono_ns() + S(20);
    while (http_get(url, &b) != 200 && wg_mono_ns() < deadline) {
        usleep(50000);
    }
    wg_buf_free(&b);
    const char *y = "alerting:\n"
                    "  receivers: [{name: am, kind: alertmanager, url: 'http://127.0.0.1:%d'}]\n"
                    "  route: {receiver: am, group_by: ['...'], group_wait: 0s,"
                    " group_interval: 1s}\n";
    struct wg_alert_config *cfg = load_cfg(y, port);
    struct wg_alerting *a = NULL;
    mktmp(dir, sizeof(dir));
    assert_int_equal(wg_alerting_new(cfg, dir, NULL, &a, err, sizeof(err)), WG_OK);
    /* The injected clock lags the wall clock, so the resolve's endsAt is already past. */
    int64_t now = wg_now_ns() - S(5);
    fire(a, "w", "WgPushed", 1, now);
    assert_int_equal(wg_alerting_tick(a, now), WG_OK);
    assert_int_equal(wg_alerting_drain(a, wg_mono_ns() + S(10)), 0);
    assert_string_equal(am_state(port, "WgPushed", state, sizeof(state)), "active");
    fire(a, "w", "WgPushed", 0, now + S(1));
    assert_int_equal(wg_alerting_tick(a, now + S(1)), WG_OK);
    assert_int_equal(wg_alerting_drain(a, wg_mono_ns() + S(10)), 0);
    /* resolved (endsAt in the past): Alertmanager stops listing it */
    deadline = wg_mono_ns() + S(20);
    while (strcmp(am_state(port, "WgPushed", state, sizeof(state)), "absent") != 0 &&
           wg_mono_ns() < deadline) {
        usleep(100000);
    }
    assert_string_equal(state, "absent");
    wg_alerting_free(a);
    wg_alert_config_free(cfg);
    kill(am, SIGTERM);
    waitpid(am, NULL, 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_receivers_failure_matrix, reap_children),
        cmocka_unit_test_teardown(test_kill9_restart, reap_children),
        cmocka_unit_test_teardown(test_idempotency_key_is_content, reap_children),
        cmocka_unit_test_teardown(test_real_alertmanager, reap_children),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc == 0 && g_skipped ? 77 : rc;
}
