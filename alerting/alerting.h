/* alerting.h — alert states, routing, grouping, silences, the durable outbox and the receivers.
 * Driven by observations in its own terms (labels, condition, time: wg_alerting_eval; the gate
 * maps its reports onto them, gate/gate_observe.c) and ticks with an injected clock; deliveries run
 * on one worker thread (libcurl multi, per-receiver queues and limits). State (outbox, alert
 * states, notification log, silences) lives in <state_dir>/alerting.db.
 */
#ifndef WG_ALERTING_H
#define WG_ALERTING_H

#include "common/common.h"
#include "config/config_alerting.h"

struct wg_alerting;

/* What one evaluation said about one alert instance. */
enum wg_alert_cond {
    WG_COND_OK = 0, /* healthy */
    WG_COND_BREACH, /* condition met */
    WG_COND_NODATA,
    WG_COND_ERROR
};

/* One alert instance's evaluation. labels identify the instance (must hold alertname);
 * rule_key ("feature/rule") selects monitor.rules settings; may be NULL. Borrowed. */
struct wg_alert_eval {
    const char *rule_key;
    const struct wg_label *labels;
    size_t nlabels;
    const struct wg_label *annotations;
    size_t nannotations;
    enum wg_alert_cond cond;
};

struct wg_alerting_opts {
    int no_worker;   /* 1: no delivery thread (unit tests of the pure parts) */
    int synchronous; /* SQLite synchronous: 2 = FULL (default), 1 = NORMAL */
};

/* Open (creating state_dir/alerting.db if needed), restore alert states, the notification log,
 * silences and pending deliveries, and start the delivery worker. acfg is borrowed and must
 * outlive the handle. On failure *out = NULL and err holds a message. */
enum wg_err wg_alerting_new(const struct wg_alert_config *acfg, const char *state_dir,
                            const struct wg_alerting_opts *opts, struct wg_alerting **out,
                            char *err, size_t errlen) WG_NODISCARD;
/* The monotonic clock against which jumps of the callers' wall clock (now_ns) are seen; the
 * timers then move with the jump, so none fires early or late by it (jumps under 5 min pass as
 * time). wg_mono_ns by default; tests inject one, or NULL to trust now_ns as it is. */
void wg_alerting_set_clock(struct wg_alerting *a, int64_t (*mono_ns)(void));
/* Stop the worker (in-flight requests are abandoned; they stay in the outbox) and free. */
void wg_alerting_free(struct wg_alerting *a);
/* With `state: {backend: postgres}` only the leader evaluates, ticks and delivers; fn says
 * whether this process leads (serve's election, gate_server_leader.c). Unset: always. */
void wg_alerting_set_leader(int (*fn)(void));

/* Feed one evaluation round for `scope` (e.g. a wave name): every instance of that scope not in
 * evs counts as OK. Changes take effect at the next wg_alerting_tick. Not thread-safe against
 * tick; call both from the monitor loop. On PostgreSQL the round is written to the shared
 * inbox (durable when this returns WG_OK) and the leader's next tick applies it, whichever
 * replica accepted it and whoever leads by then. */
enum wg_err wg_alerting_eval(struct wg_alerting *a, const char *scope,
                             const struct wg_alert_eval *evs, size_t n,
                             int64_t now_ns) WG_NODISCARD;
/* Run timers: flush due groups (dedup, inhibition, silences, repeat), render payloads, commit
 * state and new notifications to the outbox in one transaction, then wake the worker.
 * Returns WG_EIO if the commit failed (disk full, I/O): nothing of the tick was accepted, the
 * in-memory state is as before it, and the next tick (not before a backoff of 1-8 s, see
 * wg_alerting_next_tick) makes the same notifications again. Counted and said once per change
 * (wg_alerting_store_errors, wg_alerting_degraded). */
enum wg_err wg_alerting_tick(struct wg_alerting *a, int64_t now_ns) WG_NODISCARD;
/* Earliest time a tick has work to do (INT64_MAX: none). */
int64_t wg_alerting_next_tick(const struct wg_alerting *a);

/* The evidence of alert instance fp (the monitor's report_url: the id of the evaluation that
 * last changed its condition, and that condition), kept in the alerting store so that after a
 * restart or on another leader the instance still names the evaluation that changed it.
 * get: 1 found (id and *cond filled), 0 none, -1 the store could not answer. Same threading
 * rule as wg_alerting_eval. */
enum wg_err wg_alerting_link_put(struct wg_alerting *a, uint64_t fp, const char *id,
                                 int cond) WG_NODISCARD;
enum wg_err wg_alerting_link_drop(struct wg_alerting *a, uint64_t fp) WG_NODISCARD;
int wg_alerting_link_get(struct wg_alerting *a, uint64_t fp, char *id, size_t idlen, int *cond);
/* Several in one transaction (one fsync on SQLite): each put, or dropped when cond < 0. */
struct wg_alerting_link {
    uint64_t fp;
    const char *id;
    int cond;
};
enum wg_err wg_alerting_links_save(struct wg_alerting *a, const struct wg_alerting_link *v,
                                   size_t n) WG_NODISCARD;

/* Enqueue a test notification for receiver `name` (wavegate alert test). */
enum wg_err wg_alerting_test(struct wg_alerting *a, const char *receiver,
                             int64_t now_ns) WG_NODISCARD;
/* Wait until the outbox has no ready entries or the deadline (monotonic ns) passes.
 * Returns the number still pending. */
size_t wg_alerting_drain(struct wg_alerting *a, int64_t deadline_mono_ns);

/* Prometheus text exposition of per-receiver queue depth, deliveries, failures, dead letters,
 * retries and the outbox size. Thread-safe. */
void wg_alerting_metrics(const struct wg_alerting *a, struct wg_buf *out);
/* Failed writes to the state store since the start: tick commits (and their BEGINs) and the
 * worker's records of outcomes. Thread-safe; 0 for NULL. */
uint64_t wg_alerting_store_errors(const struct wg_alerting *a);
/* 1 while the store refuses writes (the last tick, or the worker's last record of outcomes,
 * failed): notifications made meanwhile are held and re-made, not sent. Thread-safe. */
int wg_alerting_degraded(const struct wg_alerting *a);

/* The alerts now pending or firing, as a malloc'd JSON array (the overview page, read-only):
 * [{state: pending|firing, labels, annotations, startsAt (firing) / activeSince (pending),
 * fingerprint, muted (silenced or inhibited now)}], firing first. NULL out of memory. Same
 * threading rule as wg_alerting_eval. */
char *wg_alerting_alerts_json(const struct wg_alerting *a, int64_t now_ns);

/* ---- silences (persisted in the same database; the CLI works on it without a daemon) ----- */

struct wg_silence {
    char id[40];
    struct wg_matchers matchers;
    int64_t starts_ns, ends_ns, updated_ns;
    char *created_by;
    char *comment;
};

struct wg_silence_store;
enum wg_err wg_silence_store_open(const char *state_dir, struct wg_silence_store **out, char *err,
                                  size_t errlen) WG_NODISCARD;
void wg_silence_store_close(struct wg_silence_store *s);
/* Adds (or with a known s->id, updates) a silence; writes the id into s->id. */
enum wg_err wg_silence_add(struct wg_silence_store *st, struct wg_silence *s,
                           int64_t now_ns) WG_NODISCARD;
/* Sets ends = now. WG_ENOTFOUND for an unknown id. */
enum wg_err wg_silence_expire(struct wg_silence_store *st, const char *id,
                              int64_t now_ns) WG_NODISCARD;
/* All silences (expired ones too) as a JSON array like Alertmanager's GET /api/v2/silences. */
char *wg_silence_list_json(struct wg_silence_store *st, int64_t now_ns);
/* Parse a JSON silence body like POST /api/v2/silences into s (caller clears); startsAt may
 * be omitted (now). */
enum wg_err wg_silence_from_json(const char *body, size_t len, struct wg_silence *s, char *err,
                                 size_t errlen) WG_NODISCARD;
void wg_silence_clear(struct wg_silence *s);
/* The live handle's store (for serve's /v1/silences). */
struct wg_silence_store *wg_alerting_silences(struct wg_alerting *a);

/* ---- helpers exposed for tests and other modules ----------------------------------------- */

/* Prometheus-compatible fingerprint: FNV-1a 64 over sorted name\xff value\xff. */
uint64_t wg_alerting_fingerprint(const struct wg_label *labels, size_t n);
/* Standard Webhooks signature "v1,<base64>" of "<id>.<ts>.<body>" keyed by a whsec_ secret.
 * Returns WG_OK, or WG_EINVAL for a malformed secret (WG_ENOMEM: no HMAC). out needs 64 bytes. */
enum wg_err wg_alerting_sign(const char *secret, const char *id, int64_t ts_sec, const char *body,
                             size_t body_len, char *out, size_t outlen) WG_NODISCARD;

/* ---- for whoever maps its results onto observations (gate/gate_observe.c) ---------------- */

/* rule_key of events (wg_alert_eval.rule_key): fire at once (no for:, no keep_firing_for). */
#define WG_ALERTING_EVENT_KEY "@event"

/* A label set being built: sorted by key, unique keys; set replaces or adds (copies k and v),
 * returns WG_OK or WG_ENOMEM. clear frees and empties it (NULL-safe). */
struct wg_alert_labels {
    struct wg_label *v;
    size_t n;
};
enum wg_err wg_alert_labels_set(struct wg_alert_labels *ls, const char *k,
                                const char *v) WG_NODISCARD;
void wg_alert_labels_clear(struct wg_alert_labels *ls);

/* The handle's alerting config (borrowed, as given to wg_alerting_new). */
const struct wg_alert_config *wg_alerting_config(const struct wg_alerting *a);
/* monitor.rules settings of rule_key ("feature/rule", or matching "rule"), or NULL. */
const struct wg_monitor_rule *wg_alerting_monitor_rule(const struct wg_monitor *m, const char *key);

/* ---- kill-switch actions (alerting_action.c) ------------------------------------------------ */

struct wg_http;
struct wg_action; /* config/config.h */
/* What an action is about: the flip and its analysis. All borrowed. */
struct wg_action_ctx {
    const char *event_id, *feature, *flag, *env, *wave, *verdict;
    int index; /* the action's index in on_fail (the Standard-Webhooks id is event_id-index) */
    const char *report_url; /* the evaluation that decided (its page); NULL: see flip_event */
};
/* Run one attempt of action a (config.h struct wg_action): unleash posts
 * <url>/api/admin/projects/<project>/features/<flag>/environments/<env>/off with the admin
 * token of $token_env; webhook sends method/url/body with {{ feature }} {{ flag }} {{ env }}
 * {{ wave }} {{ event_id }} {{ verdict }} replaced (JSON-escaped). dry_run sends nothing and
 * answers what it would send. *status gets the HTTP status (0: none), answer the peer's body
 * head or the transport error (secrets redacted). WG_OK on 2xx (or dry run); WG_EHTTP with
 * *status, WG_ECONNECT/WG_ETIMEOUT: retry later; WG_ECONFIG: a missing token. */
enum wg_err wg_alerting_action_run(struct wg_http *h, const struct wg_action *a,
                                   const struct wg_action_ctx *x, long *status, char *answer,
                                   size_t answerlen) WG_NODISCARD;
/* A flip's analysis result or an action's outcome as an event alert routed like every alert
 * (labels alertname, severity, origin="flip", feature, flag, env, wave, event_id;
 * annotations summary and report_url = x->report_url, the evidence page of the look that
 * decided, else <monitor.external_url>/v1/events/actions). scope
 * names the instance family ("flip:<id>", "action:<id>#<i>"): its next event replaces it.
 * Same threading rule as wg_alerting_eval. */
enum wg_err wg_alerting_flip_event(struct wg_alerting *a, const char *scope, const char *alertname,
                                   const char *severity, const struct wg_action_ctx *x,
                                   const char *summary, int64_t now_ns) WG_NODISCARD;

#endif
