/* config_alerting.h — the model of the `alerting:` (route, receivers, inhibit_rules, templates)
 * and `monitor:` sections and their decoder. Kept apart from config.h so the core config stays
 * small; the alerting module owns its use, config owns turning YAML into it.
 */
#ifndef WG_CONFIG_ALERTING_H
#define WG_CONFIG_ALERTING_H

#include <regex.h>

#include "common/common.h"

enum wg_match_op { WG_MATCH_EQ = 0, WG_MATCH_NE, WG_MATCH_RE, WG_MATCH_NRE };

/* One label matcher: name op "value". Regexes are anchored like Alertmanager's (^(?:v)$). */
struct wg_matcher {
    char *name;
    char *value;
    enum wg_match_op op;
    int has_re;
    regex_t re;
};

struct wg_matchers {
    struct wg_matcher *v;
    size_t n;
};

/* A route; after loading every field is resolved (children inherit from parents). */
struct wg_route {
    char *receiver;
    struct wg_matchers match;
    int cont;        /* continue: keep matching siblings after this one */
    char **group_by; /* label names; group_by_all = the `...` form */
    size_t ngroup_by;
    int group_by_all;
    int64_t group_wait_ns;      /* default 30s */
    int64_t group_interval_ns;  /* default 5m */
    int64_t repeat_interval_ns; /* default 4h */
    struct wg_route *routes;
    size_t nroutes;
    struct wg_pos pos;
};

enum wg_receiver_kind {
    WG_RCV_WEBHOOK = 0,
    WG_RCV_SLACK,
    WG_RCV_TEAMS,
    WG_RCV_PAGERDUTY,
    WG_RCV_OPSGENIE,
    WG_RCV_ALERTMANAGER
};
const char *wg_receiver_kind_name(enum wg_receiver_kind k);

struct wg_receiver {
    char *name;
    enum wg_receiver_kind kind;
    char *url;             /* full URL (alertmanager: base URL, /api/v2/alerts is appended) */
    char *secret_env;      /* webhook: env var holding whsec_<base64> */
    char *routing_key_env; /* pagerduty */
    char *api_key_env;     /* opsgenie */
    char *source;          /* pagerduty payload.source; default "wavegate" */
    char *title;           /* template; NULL: alerting.templates.title */
    char *text;            /* template; NULL: alerting.templates.text */
    int send_resolved;     /* default true except slack (false, like Alertmanager) */
    int64_t timeout_ns;    /* per request; default 10s */
    double rate_per_sec;   /* 0 = unlimited; slack 1, pagerduty 2 by default */
    int burst;             /* token bucket size; default 5 */
    int max_in_flight;     /* concurrent requests; default 64 (slack, pagerduty: 1) */
    int max_alerts;        /* webhook truncation; 0 = all */
    struct wg_pos pos;
};

struct wg_inhibit_rule {
    struct wg_matchers source;
    struct wg_matchers target;
    char **equal;
    size_t nequal;
    struct wg_pos pos;
};

/* How a no-data or error evaluation maps onto the alert state machine. */
enum wg_state_map {
    WG_MAP_ALERTING = 0, /* counts as a breach */
    WG_MAP_OK,           /* counts as healthy */
    WG_MAP_KEEP_LAST,    /* state unchanged */
    WG_MAP_SEPARATE      /* a separate alert: <rule>NoData / WavegateRuleError */
};

struct wg_monitor_rule {
    char *name; /* "feature/rule" or "rule" */
    int64_t for_ns, keep_firing_for_ns;
    enum wg_state_map no_data, error;
    unsigned set; /* bits: 1 for, 2 keep_firing_for, 4 no_data, 8 error */
};

struct wg_monitor {
    int enabled;         /* a monitor: section was given */
    int64_t interval_ns; /* default 1m */
    char **waves;        /* empty: every wave */
    size_t nwaves;
    char **features; /* empty: every feature */
    size_t nfeatures;
    int64_t for_ns; /* default 0 */
    int64_t keep_firing_for_ns;
    enum wg_state_map no_data; /* default keep_last */
    enum wg_state_map error;   /* default separate */
    int alert_on_pass;         /* route a "gate passed" event too */
    char *external_url;        /* base for generatorURL / report links */
    struct wg_monitor_rule *rules;
    size_t nrules;
};

struct wg_alert_config {
    int enabled; /* an alerting: section was given */
    struct wg_route route;
    struct wg_receiver *receivers;
    size_t nreceivers;
    struct wg_inhibit_rule *inhibit;
    size_t ninhibit;
    char *title_tmpl;  /* templates.title; default built in */
    char *text_tmpl;   /* templates.text */
    int64_t resend_ns; /* alertmanager receivers: re-send firing alerts; default 1m */
    struct wg_monitor monitor;
};

/* Decode `alerting:` and `monitor:` from a whole YAML document in memory, with the decoders
 * wg_config_load uses for them (same file:line:col: key.path: message errors); other top-level
 * keys are ignored (they belong to the core config). On success *out is set (never NULL,
 * possibly with enabled = 0); on failure WG_ECONFIG with every problem in diags and
 * *out = NULL. Templates are checked here (unknown fields, unbalanced braces). */
enum wg_err wg_alert_config_load_mem(const char *name, const char *text, size_t len,
                                     struct wg_alert_config **out,
                                     struct wg_diags *diags) WG_NODISCARD;
enum wg_err wg_alert_config_load(const char *path, struct wg_alert_config **out,
                                 struct wg_diags *diags) WG_NODISCARD;
void wg_alert_config_free(struct wg_alert_config *c);

const struct wg_receiver *wg_alert_config_receiver(const struct wg_alert_config *c,
                                                   const char *name);

/* Parse one matcher in Alertmanager's syntax: name="v", name!="v", name=~"re", name!~"re"
 * (quotes optional). WG_OK; WG_EINVAL with a message in err. Free with wg_matcher_clear. */
enum wg_err wg_matcher_parse(const char *s, struct wg_matcher *out, char *err,
                             size_t errlen) WG_NODISCARD;
/* Build a matcher from parts (compiles the regex). WG_OK, or WG_EINVAL with a message. */
enum wg_err wg_matcher_init(struct wg_matcher *m, const char *name, enum wg_match_op op,
                            const char *value, char *err, size_t errlen) WG_NODISCARD;
void wg_matcher_clear(struct wg_matcher *m);
void wg_matchers_clear(struct wg_matchers *ms);

/* Check a title/text template: WG_OK when valid, WG_EINVAL with a message. Syntax: literal text
 * with
 * {{ status }}, {{ receiver }}, {{ count }}, {{ alertname }}, {{ labels.NAME }},
 * {{ annotations.NAME }}, {{ group.NAME }}, {{ common.NAME }}. */
enum wg_err wg_config_message_check(const char *tmpl, char *err, size_t errlen) WG_NODISCARD;

#endif
