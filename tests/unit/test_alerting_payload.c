/* test_alerting_payload.c — receiver payloads (webhook v4, Slack, Teams, PagerDuty, Opsgenie,
 * Alertmanager), Standard Webhooks signing known-answer vector, template fallback, and the
 * alerting/monitor config decoder's errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "diag_helper.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerting/alerting_int.h"

static void test_sign_vector(void **st)
{
    (void)st;
    char out[128];
    const char *body = "{\"test\": 2432232314}";
    assert_int_equal(wg_alerting_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                   "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body),
                                   out, sizeof(out)),
                     0);
    assert_string_equal(out, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_int_equal(wg_alerting_sign("whsec_***", "id", 1, "x", 1, out, sizeof(out)),
                     WG_EINVAL);
}

static const char *cfg_yaml =
    "alerting:\n"
    "  templates: {title: 'T {{ labels.nope }}'}\n"
    "  receivers:\n"
    "    - {name: hook, kind: webhook, url: 'http://h/x', title: '{{ status }} {{ alertname }}'}\n"
    "    - {name: chat, kind: slack, url: 'http://h/s'}\n"
    "    - {name: pd, kind: pagerduty, routing_key_env: WG_TEST_PD_KEY, url: 'http://h/pd'}\n"
    "    - {name: og, kind: opsgenie, api_key_env: WG_TEST_OG_KEY, url: 'http://h/og'}\n"
    "    - {name: ms, kind: teams, url: 'http://h/t'}\n"
    "    - {name: am, kind: alertmanager, url: 'http://h:9093/'}\n"
    "  route: {receiver: hook, group_by: [alertname]}\n"
    "monitor: {interval: 30s, for: 1m, rules: {checkout/errors: {error: ok}}}\n";

struct fixture {
    struct wg_alert_config *cfg;
    struct wg__alert al;
    struct wg__group g;
    struct wg__alert *sel[1];
};

static void fixture_init(struct fixture *f, const char *summary)
{
    struct wg_diags d = {0};
    memset(f, 0, sizeof(*f));
    assert_int_equal(wg_alert_config_load_mem("t.yaml", cfg_yaml, strlen(cfg_yaml), &f->cfg, &d),
                     WG_OK);
    wg_diags_free(&d);
    assert_int_equal(wg__labels_set(&f->al.labels, "alertname", "ErrorRate"), WG_OK);
    assert_int_equal(wg__labels_set(&f->al.labels, "severity", "warning"), WG_OK);
    assert_int_equal(wg__labels_set(&f->al.labels, "wave", "prod"), WG_OK);
    assert_int_equal(wg__labels_set(&f->al.ann, "summary", summary), WG_OK);
    f->al.fp = wg_alerting_fingerprint(f->al.labels.v, f->al.labels.n);
    snprintf(f->al.fps, sizeof(f->al.fps), "%016llx", (unsigned long long)f->al.fp);
    f->al.starts_at = 1000 * WG_NS_PER_SEC;
    f->g.key = wg_strdup("r:hook:{\"alertname\":\"ErrorRate\"}");
    assert_int_equal(wg__labels_set(&f->g.glabels, "alertname", "ErrorRate"), WG_OK);
    f->sel[0] = &f->al;
}

static void fixture_free(struct fixture *f)
{
    wg__labels_clear(&f->al.labels);
    wg__labels_clear(&f->al.ann);
    wg__labels_clear(&f->g.glabels);
    free(f->g.key);
    wg_alert_config_free(f->cfg);
}

static cJSON *render(struct fixture *f, const char *rcv, int firing, struct wg__deliver_req *req)
{
    const struct wg_receiver *r = wg_alert_config_receiver(f->cfg, rcv);
    f->g.rcv = r;
    if (!firing) {
        f->al.resolved = 1;
        f->al.ends_at = 2000 * WG_NS_PER_SEC;
    }
    struct wg__notif nt = {r, &f->g, "first notification", f->sel, 1, firing ? 1 : 0,
                           1500 * WG_NS_PER_SEC};
    assert_int_equal(wg__payload_render(f->cfg, &nt, "msg_abc", req), WG_OK);
    cJSON *j = cJSON_Parse(req->body);
    if (!j) {
        fprintf(stderr, "not JSON: %s\n", req->body);
    }
    assert_non_null(j);
    return j;
}

static const char *jstr(const cJSON *j, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    const cJSON *cur = j;
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t && cur;
         t = strtok_r(NULL, ".", &save)) {
        cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, (int)strtol(t, NULL, 10))
                                 : cJSON_GetObjectItemCaseSensitive(cur, t);
    }
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

struct jcase {
    const char *path, *want;
};

/* Each path of j (jstr's) holds its wanted string; says each that does not. */
static void want_paths(const cJSON *j, const struct jcase *c, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *got = jstr(j, c[i].path);
        if (!got || strcmp(got, c[i].want) != 0) {
            fprintf(stderr, "%s: want %s got %s\n", c[i].path, c[i].want, got ? got : "(null)");
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* WANT(j, {path, want}, ...) */
#define WANT(j, ...)                                                                               \
    do {                                                                                           \
        const struct jcase want_[] = {__VA_ARGS__};                                                \
        want_paths(j, want_, sizeof(want_) / sizeof(want_[0]));                                    \
    } while (0)

static void test_webhook(void **st)
{
    (void)st;
    struct fixture f;
    struct wg__deliver_req req;
    fixture_init(&f, "error rate 4.2% > 2%");
    cJSON *j = render(&f, "hook", 1, &req);
    const struct jcase cases[] = {
        {"version", "4"},
        {"status", "firing"},
        {"receiver", "hook"},
        {"notification_reason", "first notification"},
        {"groupLabels.alertname", "ErrorRate"},
        {"commonLabels.severity", "warning"},
        {"title", "firing ErrorRate"},
        {"alerts.0.fingerprint", f.al.fps},
        {"alerts.0.startsAt", "1970-01-01T00:16:40Z"},
        {"alerts.0.endsAt", "0001-01-01T00:00:00Z"},
    };
    want_paths(j, cases, sizeof(cases) / sizeof(cases[0]));
    assert_non_null(strstr(req.headers, "webhook-id: msg_abc\n"));
    cJSON_Delete(j);
    wg__req_clear(&req);
    fixture_free(&f);
}

static void test_slack_and_fallback(void **st)
{
    (void)st;
    struct fixture f;
    struct wg__deliver_req req;
    fixture_init(&f, "s");
    /* the global title template references a missing label: plain fallback is sent */
    cJSON *j = render(&f, "chat", 1, &req);
    WANT(j, {"text", "[FIRING:1] ErrorRate"}, {"blocks.0.type", "header"},
         {"blocks.1.text.text", "FIRING ErrorRate: s"});
    cJSON_Delete(j);
    wg__req_clear(&req);
    fixture_free(&f);
}

static void test_pagerduty(void **st)
{
    (void)st;
    struct fixture f;
    struct wg__deliver_req req;
    char longsum[3000], dedup[65];
    memset(longsum, 'x', sizeof(longsum) - 1);
    longsum[sizeof(longsum) - 1] = '\0';
    setenv("WG_TEST_PD_KEY", "e93facc04764012d7bfb002500d5d1a6", 1);
    fixture_init(&f, longsum);
    /* make the title long too: the summary is cut to 1024 bytes */
    free(f.cfg->title_tmpl);
    f.cfg->title_tmpl = wg_strdup("{{ annotations.summary }}");
    cJSON *j = render(&f, "pd", 1, &req);
    wg__sha256_hex(f.g.key, strlen(f.g.key), dedup);
    WANT(j, {"routing_key", "e93facc04764012d7bfb002500d5d1a6"}, {"event_action", "trigger"},
         {"dedup_key", dedup}, {"payload.severity", "warning"}, {"payload.source", "wavegate"});
    assert_true(strlen(jstr(j, "payload.summary")) <= 1024);
    assert_true(strlen(jstr(j, "payload.summary")) > 1000);
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "payload"), "custom_details"));
    cJSON_Delete(j);
    wg__req_clear(&req);
    j = render(&f, "pd", 0, &req);
    WANT(j, {"event_action", "resolve"}, {"dedup_key", dedup});
    assert_null(cJSON_GetObjectItem(j, "payload"));
    cJSON_Delete(j);
    wg__req_clear(&req);
    unsetenv("WG_TEST_PD_KEY");
    const struct wg_receiver *r = wg_alert_config_receiver(f.cfg, "pd");
    struct wg__notif nt = {r, &f.g, "x", f.sel, 1, 1, 0};
    assert_int_equal(wg__payload_render(f.cfg, &nt, "msg_abc", &req), WG_EINVAL);
    fixture_free(&f);
}

static void test_opsgenie_teams_am(void **st)
{
    (void)st;
    struct fixture f;
    struct wg__deliver_req req;
    char dedup[65];
    setenv("WG_TEST_OG_KEY", "og-key", 1);
    fixture_init(&f, "s");
    wg__sha256_hex(f.g.key, strlen(f.g.key), dedup);
    cJSON *j = render(&f, "og", 1, &req);
    WANT(j, {"alias", dedup}, {"priority", "P3"});
    assert_true(strlen(jstr(j, "message")) <= 130);
    assert_non_null(strstr(req.headers, "Authorization: GenieKey og-key\n"));
    cJSON_Delete(j);
    wg__req_clear(&req);
    j = render(&f, "og", 0, &req);
    char want[200];
    snprintf(want, sizeof(want), "http://h/og/%s/close?identifierType=alias", dedup);
    assert_string_equal(req.url, want);
    cJSON_Delete(j);
    wg__req_clear(&req);
    f.al.resolved = 0;
    j = render(&f, "ms", 1, &req);
    WANT(j, {"type", "message"}, {"attachments.0.content.type", "AdaptiveCard"},
         {"attachments.0.content.body.0.color", "Attention"});
    cJSON_Delete(j);
    wg__req_clear(&req);
    j = render(&f, "am", 0, &req);
    assert_string_equal(req.url, "http://h:9093/api/v2/alerts");
    assert_true(cJSON_IsArray(j));
    WANT(j, {"0.labels.alertname", "ErrorRate"}, {"0.endsAt", "1970-01-01T00:33:20Z"});
    cJSON_Delete(j);
    wg__req_clear(&req);
    fixture_free(&f);
    unsetenv("WG_TEST_OG_KEY");
}

/* The alert's report_url (the evidence page of its evaluation) is where each receiver shows
 * a link: webhook and Alertmanager generatorURL, a Slack button, PagerDuty links[], a Teams
 * Action.OpenUrl. Before: generatorURL was the wave's /v1/gate and Slack had a context line. */
static void test_report_links(void **st)
{
    (void)st;
    static const char URL[] = "https://wg.example/ui/evaluations/0123456789abcdef0123456789abcdef";
    struct fixture f;
    struct wg__deliver_req req;
    setenv("WG_TEST_PD_KEY", "e93facc04764012d7bfb002500d5d1a6", 1);
    fixture_init(&f, "s");
    assert_int_equal(wg__labels_set(&f.al.ann, "report_url", URL), WG_OK);
    struct {
        const char *rcv, *path;
    } cases[] = {
        {"hook", "alerts.0.generatorURL"},
        {"chat", "blocks.2.elements.0.url"},
        {"pd", "links.0.href"},
        {"ms", "attachments.0.content.actions.0.url"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *j = render(&f, cases[i].rcv, 1, &req);
        const char *got = jstr(j, cases[i].path);
        printf("%s %s: want %s got %s\n", cases[i].rcv, cases[i].path, URL, got ? got : "(null)");
        assert_non_null(got);
        assert_string_equal(got, URL);
        if (!strcmp(cases[i].rcv, "chat")) {
            assert_string_equal(jstr(j, "blocks.2.elements.0.type"), "button");
        }
        cJSON_Delete(j);
        wg__req_clear(&req);
    }
    cJSON *j = render(&f, "am", 1, &req);
    assert_string_equal(jstr(j, "0.generatorURL"), URL);
    cJSON_Delete(j);
    wg__req_clear(&req);
    unsetenv("WG_TEST_PD_KEY");
    fixture_free(&f);
}

/* The decoder's errors read like every config error: file:line:col: key.path: message
 * (the whole table, with the shared config loader, is tests/unit/test_config_alerting.c). */
static void test_config_errors(void **st)
{
    (void)st;
    struct {
        const char *yaml, *want;
    } cases[] = {
        {"alerting:\n  receivers: [{name: a, kind: webhook, url: 'http://x'}]\n"
         "  route: {receiver: b}\n",
         "t.yaml:3:21: alerting.route.receiver: unknown receiver 'b' (defined: a)"},
        {"alerting:\n  receivers: [{name: a, kind: fax, url: 'http://x'}]\n"
         "  route: {receiver: a}\n",
         "t.yaml:2:31: alerting.receivers[0].kind: expected one of webhook, slack, teams, "
         "pagerduty, opsgenie, alertmanager, got 'fax'"},
        {"alerting:\n  receivers: [{name: a, kind: webhook, url: 'http://x', title: '{{ x }}'}]\n"
         "  route: {receiver: a}\n",
         "t.yaml:2:65: alerting.receivers[0].title: bad template: unknown field 'x'"},
        {"alerting:\n  receivers: [{name: a, kind: webhook, url: 'http://x', colour: red}]\n"
         "  route: {receiver: a}\n",
         "t.yaml:2:57: alerting.receivers[0].colour: unknown key 'colour' (allowed: name, kind, "
         "url,"},
        {"alerting:\n  receivers: [{name: a, kind: webhook, url: 'http://x'}]\n"
         "  route: {receiver: a, routes: [{matchers: ['a=~\"(\"']}]}\n",
         "t.yaml:3:45: alerting.route.routes[0].matchers[0]: bad matcher: bad regular expression "
         "'('"},
        {"alerting:\n  receivers: [{name: a, kind: pagerduty}]\n  route: {receiver: a}\n",
         "t.yaml:2:15: alerting.receivers[0].routing_key_env: missing required key "
         "'routing_key_env' (needed by kind pagerduty)"},
        {"alerting:\n  receivers: [{name: a, kind: webhook, url: 'http://x'}]\n"
         "  route: {receiver: a, group_wait: soon}\n",
         "t.yaml:3:36: alerting.route.group_wait: invalid duration 'soon'"},
        {"monitor: {interval: 1m, no_data: maybe}\n",
         "t.yaml:1:34: monitor.no_data: expected one of alerting, ok, keep_last, separate, got "
         "'maybe'"},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wg_diags d = {0};
        struct wg_alert_config *c = NULL;
        enum wg_err rc = wg_alert_config_load_mem("t.yaml", cases[i].yaml,
                                                  strlen(cases[i].yaml), &c, &d);
        char *got = render_diags(&d);
        if (rc != WG_ECONFIG || c || d.nerrors != 1 || !strstr(got, cases[i].want)) {
            fprintf(stderr, "case %zu: rc=%d nerrors=%zu\n  want: %s\n  got:  %s\n", i, rc,
                    d.nerrors, cases[i].want, got);
            failed++;
        }
        free(got);
        wg_alert_config_free(c);
        wg_diags_free(&d);
    }
    assert_int_equal(failed, 0);
}

static void test_config_inheritance(void **st)
{
    (void)st;
    const char *y = "alerting:\n"
                    "  receivers: [{name: a, kind: webhook, url: 'http://x'},"
                    " {name: s, kind: slack, url: 'http://y', send_resolved: true}]\n"
                    "  route:\n"
                    "    receiver: a\n"
                    "    group_by: [x]\n"
                    "    group_wait: 1s\n"
                    "    routes: [{receiver: s, match: {k: v}, routes: [{repeat_interval: 1h}]}]\n";
    struct wg_diags d = {0};
    struct wg_alert_config *c = NULL;
    assert_int_equal(wg_alert_config_load_mem("t.yaml", y, strlen(y), &c, &d), WG_OK);
    const struct wg_route *leaf = &c->route.routes[0].routes[0];
    assert_string_equal(leaf->receiver, "s");
    assert_int_equal(leaf->group_wait_ns, WG_NS_PER_SEC);
    assert_int_equal(leaf->group_interval_ns, 300 * WG_NS_PER_SEC);
    assert_int_equal(leaf->repeat_interval_ns, 3600 * WG_NS_PER_SEC);
    assert_int_equal(leaf->ngroup_by, 1);
    assert_int_equal(wg_alert_config_receiver(c, "s")->send_resolved, 1);
    assert_int_equal(wg_alert_config_receiver(c, "s")->max_in_flight, 1);
    wg_alert_config_free(c);
    wg_diags_free(&d);
}

/* Every buffer allocation of every receiver's payload made to fail in turn (the test hook
 * stands for malloc returning NULL): each render either refuses (WG_ENOMEM, nothing handed
 * out) or yields exactly the payload of a render with memory; never a truncated one. Fails on
 * the builders without the sticky error (a hole in the middle of a body rendered WG_OK). */
static void test_payload_alloc_failures(void **st)
{
    (void)st;
    static const char *const rcvs[] = {"hook", "chat", "pd", "og", "ms", "am"};
    struct fixture f;
    setenv("WG_TEST_PD_KEY", "pdkey0123456789", 1);
    setenv("WG_TEST_OG_KEY", "ogkey0123456789", 1);
    fixture_init(&f, "a summary long enough to need a few allocations on the way");
    for (size_t r = 0; r < sizeof(rcvs) / sizeof(rcvs[0]); r++) {
        for (int firing = 1; firing >= 0; firing--) {
            struct wg__deliver_req want = {0};
            cJSON_Delete(render(&f, rcvs[r], firing, &want));
            const struct wg_receiver *rc = wg_alert_config_receiver(f.cfg, rcvs[r]);
            struct wg__notif nt = {rc, &f.g, "first notification", f.sel, 1, firing ? 1 : 0,
                                   1500 * WG_NS_PER_SEC};
            int refused = 0;
            for (long n = 1;; n++) {
                struct wg__deliver_req got = {0};
                wg_buf_test_fail_alloc(n);
                enum wg_err e = wg__payload_render(f.cfg, &nt, "msg_abc", &got);
                int fired = wg_buf_test_fail_alloc(0) == 0;
                if (e == WG_OK && strcmp(got.body, want.body) != 0) {
                    fprintf(stderr, "%s: allocation %ld failed: want %s\ngot  %s\n", rcvs[r],
                            n, want.body, got.body);
                }
                if (e == WG_OK) {
                    assert_string_equal(got.body, want.body);
                    assert_string_equal(got.headers, want.headers);
                } else {
                    assert_int_equal(e, WG_ENOMEM);
                    assert_null(got.body);
                    assert_null(got.headers);
                    refused++;
                }
                wg__req_clear(&got);
                if (!fired) {
                    break; /* every allocation of this render has been made to fail once */
                }
            }
            assert_true(refused > 0);
            wg__req_clear(&want);
            f.al.resolved = 0;
            f.al.ends_at = 0;
        }
    }
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_vector),       cmocka_unit_test(test_webhook),
        cmocka_unit_test(test_slack_and_fallback), cmocka_unit_test(test_pagerduty),
        cmocka_unit_test(test_opsgenie_teams_am), cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_report_links),
        cmocka_unit_test(test_config_inheritance), cmocka_unit_test(test_payload_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
