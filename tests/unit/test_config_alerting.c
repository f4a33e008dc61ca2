/* test_config_alerting.c — the `alerting:` and `monitor:` sections through the shared config
 * loader: every class of error as "file:line:col: key.path: message" (unknown and duplicate
 * keys, wrong types, durations, matchers, receiver references, templates), the same text from
 * wg_alert_config_load_mem, the decoded model (defaults, inheritance), and which loader
 * reports what.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "diag_helper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_alerting.h"

/* A valid alerting section most cases extend: lines 1-7, route keys at col 5 from line 8. */
#define AL                                                                                         \
    "alerting:\n"                                                                                  \
    "  receivers:\n"                                                                               \
    "    - name: hook\n"                                                                           \
    "      kind: webhook\n"                                                                        \
    "      url: http://127.0.0.1:9/hook\n"                                                         \
    "  route:\n"                                                                                   \
    "    receiver: hook\n"

struct ecase {
    const char *name;
    const char *yaml;
    const char *want[3]; /* substrings of the printed diagnostics */
    int nerrors;
    int core_only; /* wg_alert_config_load_mem ignores this problem (not in its sections) */
};

#define CORE                                                                                       \
    "sources:\n  db: {url: 'http://h:1', database: d}\n"                                          \
    "waves: [{name: staging, source: db}]\n"                                                       \
    "features:\n  checkout:\n    rules:\n"                                                        \
    "      - {name: p95, query: 'SELECT 1', threshold: {max: 1}}\n"

static const struct ecase cases[] = {
    /* monitor names waves, features and rules the main config must define */
    {"monitor references",
     CORE "monitor:\n  waves: [staging, prod]\n  features: [checkout, search]\n"
          "  rules:\n    checkout/p99: {for: 1m}\n",
     {"t.yaml:9:20: monitor.waves[1]: unknown wave 'prod'",
      "t.yaml:10:24: monitor.features[1]: unknown feature 'search' (defined: checkout)",
      "t.yaml:12:5: monitor.rules: unknown rule 'checkout/p99' (write feature/rule)"},
     3,
     1},
    /* unknown keys list the allowed ones */
    {"unknown alerting key",
     AL "  resend: 1m\n",
     {"t.yaml:8:3: alerting.resend: unknown key 'resend' (allowed: resend_interval, templates, "
      "route, receivers, inhibit_rules)"},
     1,
     0},
    {"unknown route key",
     AL "    group_waits: 1s\n",
     {"t.yaml:8:5: alerting.route.group_waits: unknown key 'group_waits' (allowed: receiver, "
      "continue, group_by, group_wait, group_interval, repeat_interval, match, match_re, "
      "matchers, routes)"},
     1,
     0},
    {"unknown receiver key",
     "alerting:\n  receivers:\n    - {name: a, kind: slack, url: 'http://s', colour: red}\n"
     "  route: {receiver: a}\n",
     {"t.yaml:3:47: alerting.receivers[0].colour: unknown key 'colour' (allowed: name, kind, "
      "url, secret_env, routing_key_env, api_key_env, source, title, text, send_resolved, "
      "timeout, rate_limit, burst, max_in_flight, max_alerts)"},
     1,
     0},
    {"unknown monitor key",
     "monitor:\n  interval: 1m\n  intervall: 2m\n",
     {"t.yaml:3:3: monitor.intervall: unknown key 'intervall' (allowed: interval, waves, "
      "features, for, keep_firing_for, no_data, error, alert_on_pass, external_url, rules)"},
     1,
     0},
    {"unknown monitor rule key",
     "monitor:\n  rules:\n    checkout/errors: {fore: 5m}\n",
     {"t.yaml:3:23: monitor.rules.checkout/errors.fore: unknown key 'fore' (allowed: for, "
      "keep_firing_for, no_data, error)"},
     1,
     0},
    {"unknown inhibit rule key",
     AL "  inhibit_rules:\n    - {source_match: {a: b}, equals: [x]}\n",
     {"t.yaml:9:30: alerting.inhibit_rules[0].equals: unknown key 'equals' (allowed: name, "
      "source_match, source_match_re, source_matchers, target_match, target_match_re, "
      "target_matchers, equal)"},
     1,
     0},
    {"misspelt section",
     "alertin: {}\n",
     {"t.yaml:1:1: alertin: unknown key 'alertin' (allowed: sources, waves, features, "
      "state_dir, state, server, alerting, monitor, events)"},
     1,
     1},
    /* duplicate keys and names say where the first one was */
    {"duplicate receiver key",
     AL "    routes: [{receiver: hook, receiver: hook}]\n",
     {"t.yaml:8:31: alerting.route.routes[0].receiver: duplicate key 'receiver' (first defined "
      "at line 8:15)"},
     1,
     0},
    {"every other key valid, one misspelt section",
     AL "    group_by: [alertname]\n"
        "  inhibit_rules: []\n"
        "  templates: {}\n"
        "  resend_interval: 30s\n"
        "monitor: {}\n"
        "alerting_: 1\n",
     {"alerting_: unknown key"},
     1,
     1},
    {"duplicate receiver name",
     "alerting:\n"
     "  receivers:\n"
     "    - {name: hook, kind: webhook, url: 'http://a'}\n"
     "    - {name: hook, kind: teams, url: 'http://b'}\n"
     "  route: {receiver: hook}\n",
     {"t.yaml:4:14: alerting.receivers[1].name: duplicate receiver name 'hook' (first defined "
      "at line 3:7)"},
     1,
     0},
    /* wrong types */
    {"receivers not a sequence",
     "alerting:\n  receivers: {hook: {}}\n  route: {receiver: hook}\n",
     {"t.yaml:2:14: alerting.receivers: expected a sequence of receivers, got a mapping",
      "t.yaml:3:21: alerting.route.receiver: unknown receiver 'hook' (defined: none)"},
     2,
     0},
    {"continue not a boolean",
     AL "    routes: [{continue: yes}]\n",
     {"t.yaml:8:25: alerting.route.routes[0].continue: expected true or false, got 'yes'"},
     1,
     0},
    {"max_in_flight not an integer",
     "alerting:\n  receivers:\n    - {name: a, kind: webhook, url: 'http://x', max_in_flight: "
     "lots}\n  route: {receiver: a}\n",
     {"t.yaml:3:64: alerting.receivers[0].max_in_flight: expected an integer, got 'lots'"},
     1,
     0},
    {"burst out of range",
     "alerting:\n  receivers:\n    - {name: a, kind: webhook, url: 'http://x', burst: 0}\n"
     "  route: {receiver: a}\n",
     {"t.yaml:3:56: alerting.receivers[0].burst: 0 is out of range: must be >= 1 and <= 1e+06"},
     1,
     0},
    {"unknown receiver kind",
     "alerting:\n  receivers: [{name: a, kind: fax, url: 'http://x'}]\n  route: {receiver: a}\n",
     {"t.yaml:2:31: alerting.receivers[0].kind: expected one of webhook, slack, teams, "
      "pagerduty, opsgenie, alertmanager, got 'fax'"},
     1,
     0},
    /* one word for "which plugin": kind, as on sources */
    {"receiver type is kind now",
     "alerting:\n  receivers: [{name: a, type: webhook, url: 'http://x'}]\n"
     "  route: {receiver: a}\n",
     {"t.yaml:2:31: alerting.receivers[0].type: use \"kind\""},
     1,
     0},
    {"receiver with kind and type",
     "alerting:\n  receivers: [{name: a, kind: webhook, type: webhook, url: 'http://x'}]\n"
     "  route: {receiver: a}\n",
     {"t.yaml:2:46: alerting.receivers[0].type: use \"kind\""},
     1,
     0},
    {"monitor not a mapping",
     "monitor: 5m\n",
     {"t.yaml:1:10: monitor: expected a mapping, got '5m'"},
     1,
     0},
    {"monitor rules not a mapping",
     "monitor:\n  rules: [checkout/errors]\n",
     {"t.yaml:2:10: monitor.rules: expected a mapping of rule names to settings, got a "
      "sequence"},
     1,
     0},
    {"monitor state map",
     "monitor: {error: page}\n",
     {"t.yaml:1:18: monitor.error: expected one of alerting, ok, keep_last, separate, got "
      "'page'"},
     1,
     0},
    {"waves not strings",
     "monitor: {waves: [prod, {name: x}]}\n",
     {"t.yaml:1:25: monitor.waves[1]: expected a string, got a mapping"},
     1,
     0},
    /* durations */
    {"bad duration",
     AL "    group_interval: 5 minutes\n",
     {"t.yaml:8:21: alerting.route.group_interval: invalid duration '5 minutes' (use e.g. "
      "500ms, 30s, 10m, 1h30m)"},
     1,
     0},
    {"zero repeat interval",
     AL "    repeat_interval: 0s\n",
     {"t.yaml:8:22: alerting.route.repeat_interval: duration 0s is out of range (must be > 0s)"},
     1,
     0},
    {"bad monitor duration",
     "monitor:\n  interval: fast\n",
     {"t.yaml:2:13: monitor.interval: invalid duration 'fast'"},
     1,
     0},
    {"bad receiver timeout",
     "alerting:\n  receivers: [{name: a, kind: webhook, url: 'http://x', timeout: [1s]}]\n"
     "  route: {receiver: a}\n",
     {"t.yaml:2:66: alerting.receivers[0].timeout: expected a duration (e.g. 30s, 10m, 1h30m), "
      "got a sequence"},
     1,
     0},
    /* matchers */
    {"bad matcher operator",
     AL "    routes:\n      - matchers: ['severity=critical', 'team~ops']\n",
     {"t.yaml:9:41: alerting.route.routes[0].matchers[1]: bad matcher: 'team~ops': expected =, "
      "!=, =~ or !~"},
     1,
     0},
    {"bad match_re regex",
     AL "    routes:\n      - match_re: {service: '(web'}\n",
     {"t.yaml:9:29: alerting.route.routes[0].match_re.service: bad matcher: bad regular "
      "expression '(web'"},
     1,
     0},
    {"matchers on the root route",
     AL "    match: {severity: critical}\n",
     {"t.yaml:8:12: alerting.route.match: the root route matches every alert: matchers are not "
      "allowed here"},
     1,
     0},
    {"bad inhibit matcher",
     AL "  inhibit_rules:\n    - source_matchers: ['=x']\n",
     {"t.yaml:9:25: alerting.inhibit_rules[0].source_matchers[0]: bad matcher: '=x': expected a "
      "label name"},
     1,
     0},
    {"match not a mapping",
     AL "    routes: [{match: 'a=b'}]\n",
     {"t.yaml:8:22: alerting.route.routes[0].match: expected a mapping of label names to values, "
      "got a quoted string \"a=b\""},
     1,
     0},
    /* receiver references and required keys */
    {"route names an unknown receiver",
     AL "    routes:\n      - receiver: pager\n        match: {severity: critical}\n",
     {"t.yaml:9:19: alerting.route.routes[0].receiver: unknown receiver 'pager' (defined: hook)"},
     1,
     0},
    {"root route without receiver",
     "alerting:\n  receivers: [{name: a, kind: webhook, url: 'http://x'}]\n"
     "  route: {group_by: [x]}\n",
     {"t.yaml:3:10: alerting.route.receiver: missing required key 'receiver'"},
     1,
     0},
    {"no route",
     "alerting:\n  receivers: [{name: a, kind: webhook, url: 'http://x'}]\n",
     {"t.yaml:2:3: alerting.route: missing required key 'route'"},
     1,
     0},
    {"receiver without kind or url",
     "alerting:\n  receivers: [{name: a}, {name: b, kind: webhook}]\n  route: {receiver: a}\n",
     {"t.yaml:2:15: alerting.receivers[0].kind: missing required key 'kind'",
      "t.yaml:2:26: alerting.receivers[1].url: missing required key 'url' (needed by kind "
      "webhook)"},
     2,
     0},
    {"opsgenie without api_key_env",
     "alerting:\n  receivers: [{name: a, kind: opsgenie}]\n  route: {receiver: a}\n",
     {"t.yaml:2:15: alerting.receivers[0].api_key_env: missing required key 'api_key_env' "
      "(needed by kind opsgenie)"},
     1,
     0},
    {"group_by ... not alone",
     AL "    group_by: ['...', alertname]\n",
     {"t.yaml:8:15: alerting.route.group_by: '...' (group by every label) must be alone"},
     1,
     0},
    /* templates: the error points at the offending {{ inside the scalar */
    {"bad template field",
     AL "  templates:\n    title: '[{{ status }}] {{ labelz.x }}'\n",
     {"t.yaml:9:28: alerting.templates.title: bad template: unknown field 'labelz.x'"},
     1,
     0},
    {"unclosed template",
     "alerting:\n  receivers:\n    - name: a\n      kind: slack\n      url: http://s\n"
     "      text: 'hi {{ status'\n  route: {receiver: a}\n",
     {"t.yaml:6:17: alerting.receivers[0].text: bad template: unclosed '{{' at offset 3"},
     1,
     0},
    {"unknown template key",
     AL "  templates: {subject: x}\n",
     {"t.yaml:8:15: alerting.templates.subject: unknown key 'subject' (allowed: title, text)"},
     1,
     0},
};


/* The errors only: a config made of alerting: alone also draws the core loader's "no
 * features" warning, which the alerting-only loader has no reason to give. */
static char *render_errors(const struct wg_diags *d)
{
    struct wg_diag *v = calloc(d->n ? d->n : 1, sizeof(*v));
    struct wg_diags only = {v, 0, d->n, 0};
    assert_non_null(v);
    for (size_t i = 0; i < d->n; i++) {
        if (!d->v[i].warning) {
            v[only.n++] = d->v[i];
        }
    }
    char *out = render_diags(&only);
    free(v);
    return out;
}

static void test_errors(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ecase *tc = &cases[i];
        struct wg_diags d = {0}, ad = {0};
        struct wg_config *cfg = NULL;
        struct wg_alert_config *ac = NULL;
        enum wg_err rc = wg_config_load_mem("t.yaml", tc->yaml, strlen(tc->yaml), &cfg, &d);
        enum wg_err arc = wg_alert_config_load_mem("t.yaml", tc->yaml, strlen(tc->yaml), &ac, &ad);
        char *got = render_errors(&d), *agot = render_diags(&ad);
        int bad = rc != WG_ECONFIG || cfg != NULL || d.nerrors != (size_t)tc->nerrors;
        for (size_t k = 0; k < 3 && tc->want[k]; k++) {
            bad |= strstr(got, tc->want[k]) == NULL;
        }
        /* the alerting-only loader runs the same decoders: the same text, or nothing */
        int abad = tc->core_only ? arc != WG_OK || ac == NULL || ad.n != 0
                                 : arc != WG_ECONFIG || ac != NULL || strcmp(got, agot) != 0;
        if (bad || abad) {
            print_error("case %zu \"%s\": rc=%s nerrors=%zu (want %d)\n", i, tc->name,
                        wg_strerror(rc), d.nerrors, tc->nerrors);
            for (size_t k = 0; k < 3 && tc->want[k]; k++) {
                print_error("  want: %s\n", tc->want[k]);
            }
            print_error("  got:\n%s", got);
            print_error("  wg_alert_config_load_mem: rc=%s%s\n%s", wg_strerror(arc),
                        tc->core_only ? " (want ok, no diagnostics)" : " (want the same)", agot);
            failed++;
        }
        free(got);
        free(agot);
        wg_config_free(cfg);
        wg_alert_config_free(ac);
        wg_diags_free(&d);
        wg_diags_free(&ad);
    }
    assert_int_equal(failed, 0);
}

static const char full_yaml[] =
    "sources:\n"
    "  db: {url: 'http://127.0.0.1:8086', database: telemetry}\n"
    "waves:\n"
    "  - {name: prod, source: db}\n"
    "alerting:\n"
    "  resend_interval: 2m\n"
    "  templates: {title: '{{ status }}: {{ alertname }}'}\n"
    "  receivers:\n"
    "    - {name: hook, kind: webhook, url: 'http://127.0.0.1:9/h', max_alerts: 10}\n"
    "    - {name: chat, kind: slack, url: 'http://127.0.0.1:9/s'}\n"
    "    - {name: pd, kind: pagerduty, routing_key_env: PD_KEY, rate_limit: 0.5}\n"
    "  route:\n"
    "    receiver: hook\n"
    "    group_by: [alertname, wave]\n"
    "    group_wait: 5s\n"
    "    routes:\n"
    "      - receiver: pd\n"
    "        matchers: ['severity=\"critical\"', 'team!~\"web|api\"']\n"
    "        continue: true\n"
    "        routes: [{match: {wave: prod}, repeat_interval: 1h}]\n"
    "      - {receiver: chat, match_re: {team: 'ops.*'}, group_by: ['...']}\n"
    "  inhibit_rules:\n"
    "    - name: critical mutes warning\n"
    "      source_match: {severity: critical}\n"
    "      target_matchers: ['severity=warning']\n"
    "      equal: alertname\n"
    "monitor:\n"
    "  rules:\n"
    "    prod/errors: {for: 2m, error: ok}\n"
    "  interval: 30s\n"
    "  for: 1m\n"
    "  no_data: alerting\n"
    "  waves: prod\n";

/* The model: per-type defaults, inheritance down the route tree, matchers, monitor rules that
 * start from the monitor-wide settings (given after them in the file). */
static void test_model(void **state)
{
    (void)state;
    struct wg_diags d = {0};
    struct wg_config *cfg = NULL;
    enum wg_err rc = wg_config_load_mem("t.yaml", full_yaml, strlen(full_yaml), &cfg, &d);
    if (rc != WG_OK) {
        wg_diags_print(&d, stderr);
    }
    assert_int_equal(rc, WG_OK);
    const struct wg_alert_config *ac = cfg->alerting;
    assert_non_null(ac);
    assert_true(ac->enabled);
    assert_int_equal(ac->resend_ns, 120 * WG_NS_PER_SEC);
    assert_string_equal(ac->title_tmpl, "{{ status }}: {{ alertname }}");
    assert_null(ac->text_tmpl);
    assert_int_equal(ac->nreceivers, 3);
    const struct wg_receiver *hook = wg_alert_config_receiver(ac, "hook");
    const struct wg_receiver *chat = wg_alert_config_receiver(ac, "chat");
    const struct wg_receiver *pd = wg_alert_config_receiver(ac, "pd");
    assert_true(hook && chat && pd);
    assert_int_equal(hook->send_resolved, 1);
    assert_int_equal(hook->max_in_flight, 64);
    assert_int_equal(hook->max_alerts, 10);
    assert_int_equal(hook->burst, 5);
    assert_int_equal(hook->timeout_ns, 10 * WG_NS_PER_SEC);
    assert_true(hook->rate_per_sec == 0);
    assert_int_equal(chat->kind, WG_RCV_SLACK);
    assert_int_equal(chat->send_resolved, 0);
    assert_int_equal(chat->max_in_flight, 1);
    assert_true(chat->rate_per_sec == 1);
    assert_int_equal(pd->kind, WG_RCV_PAGERDUTY);
    assert_string_equal(pd->url, "https://events.pagerduty.com/v2/enqueue");
    assert_true(pd->rate_per_sec == 0.5);
    assert_int_equal(pd->pos.line, 11);
    assert_int_equal(pd->pos.col, 7);

    const struct wg_route *root = &ac->route;
    assert_int_equal(root->group_wait_ns, 5 * WG_NS_PER_SEC);
    assert_int_equal(root->group_interval_ns, 300 * WG_NS_PER_SEC);
    assert_int_equal(root->repeat_interval_ns, 4 * 3600 * WG_NS_PER_SEC);
    assert_int_equal(root->nroutes, 2);
    const struct wg_route *r0 = &root->routes[0], *r00 = &r0->routes[0], *r1 = &root->routes[1];
    assert_string_equal(r0->receiver, "pd");
    assert_true(r0->cont);
    assert_int_equal(r0->match.n, 2);
    assert_int_equal(r0->match.v[1].op, WG_MATCH_NRE);
    assert_string_equal(r0->match.v[1].value, "web|api");
    assert_string_equal(r00->receiver, "pd"); /* inherited */
    assert_int_equal(r00->ngroup_by, 2);
    assert_string_equal(r00->group_by[1], "wave");
    assert_int_equal(r00->group_wait_ns, 5 * WG_NS_PER_SEC);
    assert_int_equal(r00->repeat_interval_ns, 3600 * WG_NS_PER_SEC);
    assert_int_equal(r00->match.n, 1);
    assert_int_equal(r00->cont, 0);
    assert_int_equal(r00->pos.line, 20);
    assert_true(r1->group_by_all);
    assert_int_equal(r1->match.v[0].op, WG_MATCH_RE);

    assert_int_equal(ac->ninhibit, 1);
    assert_int_equal(ac->inhibit[0].source.n, 1);
    assert_int_equal(ac->inhibit[0].target.n, 1);
    assert_int_equal(ac->inhibit[0].nequal, 1);
    assert_string_equal(ac->inhibit[0].equal[0], "alertname");

    const struct wg_monitor *m = &ac->monitor;
    assert_true(m->enabled);
    assert_int_equal(m->interval_ns, 30 * WG_NS_PER_SEC);
    assert_int_equal(m->nwaves, 1);
    assert_int_equal(m->nfeatures, 0);
    assert_int_equal(m->error, WG_MAP_SEPARATE);
    assert_int_equal(m->nrules, 1);
    assert_string_equal(m->rules[0].name, "prod/errors");
    assert_int_equal(m->rules[0].for_ns, 120 * WG_NS_PER_SEC);
    assert_int_equal(m->rules[0].keep_firing_for_ns, 0);
    assert_int_equal(m->rules[0].no_data, WG_MAP_ALERTING); /* monitor-wide, given later */
    assert_int_equal(m->rules[0].error, WG_MAP_OK);
    assert_int_equal(m->rules[0].set, 1u | 8u);
    wg_config_free(cfg);
    wg_diags_free(&d);
}

/* cfg->alerting exists when either section is given; a lone monitor: is not alerting. */
static void test_presence(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        int have, enabled, monitor;
    } pcases[] = {
        {"sources: {}\n", 0, 0, 0},
        {"monitor: {interval: 2m}\n", 1, 0, 1},
        {AL, 1, 1, 0},
        {"monitor: {}\n" AL, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
        struct wg_diags d = {0};
        struct wg_config *cfg = NULL;
        enum wg_err rc =
            wg_config_load_mem("t.yaml", pcases[i].yaml, strlen(pcases[i].yaml), &cfg, &d);
        const struct wg_alert_config *ac = cfg ? cfg->alerting : NULL;
        int got_have = ac != NULL, got_en = ac && ac->enabled, got_mon = ac && ac->monitor.enabled;
        if (rc != WG_OK || got_have != pcases[i].have || got_en != pcases[i].enabled ||
            got_mon != pcases[i].monitor) {
            print_error("case %zu: rc=%s alerting=%d enabled=%d monitor=%d, want 0 %d %d %d\n", i,
                        wg_strerror(rc), got_have, got_en, got_mon, pcases[i].have,
                        pcases[i].enabled, pcases[i].monitor);
            wg_diags_print(&d, stderr);
            fail();
        }
        if (ac && !pcases[i].enabled) {
            assert_int_equal(ac->monitor.interval_ns, 120 * WG_NS_PER_SEC);
            assert_int_equal(ac->monitor.no_data, WG_MAP_KEEP_LAST);
            assert_int_equal(ac->resend_ns, 60 * WG_NS_PER_SEC);
        }
        wg_config_free(cfg);
        wg_diags_free(&d);
    }
}

/* wg_alert_config_load(_mem) reads only its two sections: problems elsewhere (even the
 * parser's) are the core loader's, problems in them are reported as the core loader does. */
static void test_alert_only_loader(void **state)
{
    (void)state;
    static const char other_bad[] = "sources:\n"
                                    "  db: {url: 'http://h', url: 'http://h2'}\n"
                                    "waves: 7\n"
                                    "colour: blue\n" AL;
    struct wg_diags d = {0};
    struct wg_alert_config *ac = NULL;
    assert_int_equal(wg_alert_config_load_mem("t.yaml", other_bad, strlen(other_bad), &ac, &d),
                     WG_OK);
    assert_int_equal(d.n, 0);
    assert_non_null(ac);
    assert_true(ac->enabled);
    wg_alert_config_free(ac);

    /* no section at all: a disabled config with the defaults */
    assert_int_equal(wg_alert_config_load_mem("t.yaml", "", 0, &ac, &d), WG_OK);
    assert_false(ac->enabled);
    assert_false(ac->monitor.enabled);
    assert_int_equal(ac->monitor.interval_ns, 60 * WG_NS_PER_SEC);
    wg_alert_config_free(ac);

    /* a duplicate key inside alerting: is the parser's, and still reported */
    static const char dup[] = AL "    receiver: hook\n";
    assert_int_equal(wg_alert_config_load_mem("t.yaml", dup, strlen(dup), &ac, &d), WG_ECONFIG);
    assert_null(ac);
    char *got = render_diags(&d);
    if (!strstr(got, "t.yaml:8:5: alerting.route.receiver: duplicate key 'receiver' (first "
                     "defined at line 7:5)")) {
        print_error("got:\n%s", got);
        fail();
    }
    free(got);
    wg_diags_free(&d);

    /* a syntax error anywhere is one */
    static const char syntax[] = "sources: [\n" AL;
    assert_int_equal(wg_alert_config_load_mem("t.yaml", syntax, strlen(syntax), &ac, &d),
                     WG_ECONFIG);
    assert_true(d.nerrors >= 1);
    wg_diags_free(&d);

    /* from a file: positions name it */
    char path[] = "/tmp/wg_test_config_alerting_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char file_bad[] = AL "    group_wait: later\n";
    assert_int_equal(write(fd, file_bad, strlen(file_bad)), (ssize_t)strlen(file_bad));
    close(fd);
    assert_int_equal(wg_alert_config_load(path, &ac, &d), WG_ECONFIG);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].file, path);
    assert_int_equal(d.v[0].line, 8);
    assert_int_equal(d.v[0].col, 17);
    assert_string_equal(d.v[0].key, "alerting.route.group_wait");
    wg_diags_free(&d);
    unlink(path);
    assert_int_equal(wg_alert_config_load(path, &ac, &d), WG_EIO);
    assert_null(ac);
    wg_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_presence),
        cmocka_unit_test(test_alert_only_loader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
