/* gate.h — deciding which rules run for which wave, feature and window; running them
 * (collector → rules); combining the verdict; rendering it as JSON or text; exit codes.
 * The CLI (`check`) and the daemon (`serve`) call the same wg_gate_check.
 */
#ifndef WG_GATE_H
#define WG_GATE_H

#include <stdio.h>

#include "collector/collector.h"
#include "common/common.h"
#include "config/config.h"
#include "rules/rules.h"

/* Exit codes of `wavegate check` (sysexits for usage and config). */
enum {
    WG_EXIT_PASS = 0,
    WG_EXIT_FAIL = 1,
    WG_EXIT_INCONCLUSIVE = 2,
    WG_EXIT_ERROR = 3,
    WG_EXIT_USAGE = 64,
    WG_EXIT_CONFIG = 78
};

/* A deploy time of one target of a fleet wave (concurrent updates do not land at once). */
struct wg_deploy_time {
    const char *target;
    int64_t ns;
};

struct wg_check_req {
    const char *wave;
    const char *const *features; /* NULL / 0: every feature */
    size_t nfeatures;
    int64_t deploy_ns;     /* 0: no deploy time, windows end at now */
    int64_t now_ns;        /* 0: wg_now_ns() */
    const char *state_dir; /* NULL: cfg->state_dir; used by baseline: previous */
    /* Repeated looks of a bake-time analysis (0 = a single look): look is 1-based; Mann-Whitney
     * rules then spend their false-fail budget across max_looks (rules.h alpha spending).
     * last_tested[i] is the last look at which rule i (report order) was judged, 0 = never;
     * last_tested NULL: every rule taken as judged at look - 1 (spends less, never more). */
    int look, max_looks;
    const int *last_tested;
    size_t nlast_tested;
    /* Record the rules' results in the state store (history for `baseline: previous`, "the
     * last passing evaluations"). The caller decides: set it for deploy-anchored gate answers
     * (check --deploy-time, /v1/gate with deploy_time); analyses record their final look
     * themselves; monitor ticks and analysis looks never record. */
    int record_history;
    /* Fleet waves (gate_fleet.c): judge only this target (NULL: every target), and anchor
     * each named target's window at its own deploy time (others at deploy_ns). A name that
     * is not a target of the wave is WG_ENOTFOUND. */
    const char *target;
    const struct wg_deploy_time *deploy_times;
    size_t ndeploy_times;
    /* Borrowed HTTP handle for the queries (its connections kept for the next check: serve's
     * pool, gate_server_eval.c); NULL: one of the check's own. */
    struct wg_http *http;
    /* Keep downsampled copies of the judged series in the report (wg_rule_report.kept*) for
     * the evidence page (gate_html.c). 0 for `check --format json|text`: nothing copied. */
    int keep_series;
    /* An absolute wg_mono_ns() deadline for the whole evaluation (0: none): every query the
     * check plans (all targets' of a fleet wave, one batch) is cut at it, queued and retried
     * ones too, and a query cut so is an error "deadline of the evaluation reached": its rule
     * could not evaluate, never a pass. Flip and analysis looks end inside their lease with
     * it; /v1/gate's timeout= answers before the consumer's own call times out. */
    int64_t deadline_mono_ns;
};

/* At most this many points per kept series: min and max of each of half as many buckets. */
#define WG_GATE_KEEP_POINTS 300

struct wg_rule_report {
    const struct wg_feature *feature;
    const struct wg_rule *rule;
    struct wg_rule_params p; /* effective for the wave */
    char *query;             /* rendered current-window query, NULL if rendering failed */
    char *source;            /* source name used */
    int64_t start_ns, end_ns;
    int has_baseline_window;
    int64_t baseline_start_ns, baseline_end_ns;
    struct wg_rule_result res;
    int64_t query_ns;   /* time the current-window query took (all attempts); 0 if not run */
    size_t target;      /* index into the report's targets */
    char *history_wave; /* the history key of `baseline: previous`: "wave/target" for a fleet
                         * target (each its own history), NULL: the wave's name */
    /* With wg_check_req.keep_series: the current and baseline windows' series, downsampled
     * (WG_GATE_KEEP_POINTS, min/max preserving); empty otherwise. Owned. */
    struct wg_seriesset kept, kept_baseline;
};

struct wg_feature_report {
    const struct wg_feature *feature;
    enum wg_verdict verdict;
    double score_pct; /* -1 when scoring is off */
    size_t target;    /* index into the report's targets */
};

/* One target's share of a report: rules [rule0, rule0 + nrules) and features
 * [feature0, feature0 + nfeatures) of the report's arrays. A wave without targets: is one
 * target named after the wave (target NULL). */
struct wg_target_report {
    const struct wg_target *target; /* borrowed; NULL: the wave itself */
    const char *name, *env, *source;
    int64_t deploy_ns;
    enum wg_verdict verdict;
    size_t rule0, nrules, feature0, nfeatures, njudged;
    char reason[256];
};

struct wg_check_report {
    enum wg_verdict verdict; /* pass, warn, inconclusive, error, fail */
    const char *wave;        /* borrowed from cfg */
    const char *env;
    int64_t start_ns, end_ns; /* span of every rule's window */
    int64_t deploy_ns;
    struct wg_rule_report *rules;
    size_t nrules;
    struct wg_feature_report *features;
    size_t nfeatures;
    size_t njudged;   /* rules that count (not dry-run); 0: the verdict is inconclusive */
    char reason[256]; /* why, when the verdict is not the rules' own ("no rules for ..."); or "" */
    /* Fleet waves: the per-target verdicts the wave policy combined. fleet is 1 when the wave
     * has targets: (the JSON and text then show them); a wave without is one target. */
    int fleet;
    struct wg_target_report *targets;
    size_t ntargets;
};

/* Evaluate. WG_ENOTFOUND with a message naming the unknown wave or feature; otherwise WG_OK and
 * *out set (collector failures are inside the report as WG_NOEVAL rule verdicts).
 * The report borrows from cfg: free it before cfg. */
enum wg_err wg_gate_check(const struct wg_config *cfg, const struct wg_check_req *req,
                          struct wg_check_report **out, char *err, size_t errlen) WG_NODISCARD;
void wg_check_report_free(struct wg_check_report *r);

/* check --format json: the report as a malloc'd JSON document. */
char *wg_gate_report_json(const struct wg_check_report *r);
/* check --format text: a readable table with a reason per rule. */
void wg_gate_report_text(const struct wg_check_report *r, FILE *f);
/* check --format junit: JUnit XML, one testcase per rule (gate_report_junit.c). */
void wg_gate_report_junit(const struct wg_check_report *r, FILE *f);
int wg_gate_exit_code(enum wg_verdict v); /* warn → 0 */

/* check --format html: the evidence page (gate_html.c) as one self-contained malloc'd HTML
 * document (inline CSS and SVG, no script). Charts need the report made with keep_series.
 * NULL on ENOMEM. */
char *wg_gate_report_html(const struct wg_check_report *r);

/* The wave's verdict over its features' verdicts: the worst; no feature at all is
 * INCONCLUSIVE (nothing judged is never a pass). */
enum wg_verdict wg_gate_combine_features(const enum wg_verdict *v, size_t n);

/* The wave's verdict over its targets' verdicts under the wave policy (gate_fleet.c):
 * failures beyond max_failed → FAIL; else targets that could not be evaluated beyond
 * max_unreachable → ERROR (never a pass by omission); else fewer targets with data (pass,
 * warn, fail) than min_targets (0: every target not allowed to be unreachable) → INCONCLUSIVE;
 * no target at all or none with data → INCONCLUSIVE; else a tolerated failure, outage, missing
 * data or a warning → WARN; else PASS. Percentages are of n, rounded down. */
struct wg_policy_counts {
    size_t failed, unreachable, nodata, judged, warned;
    size_t max_failed, max_unreachable, min_targets;
};
enum wg_verdict wg_gate_combine_targets(const struct wg_wave_policy *p, const enum wg_verdict *v,
                                        size_t n, struct wg_policy_counts *counts);

/* ---- bake-time analysis in the foreground (`wavegate check --wait`) ------------------- */

struct wg_wait_opts {
    int64_t interval_ns;     /* between looks; > 0 */
    int count;               /* looks at most; > 0 */
    struct wg_limits limits; /* rules.h: failure/inconclusive/error limits */
    int64_t look_timeout_ns; /* each look's own deadline (wg_check_req.deadline_mono_ns); 0: none */
    /* Called after every look with its report (valid during the call) and the limits state. */
    void (*on_look)(void *ud, int look, const struct wg_check_report *rep,
                    const struct wg_limits_state *st);
    void *ud;
    /* Injected clock and sleep for tests; NULL: wg_now_ns and nanosleep. sleep_until returns
     * nonzero to stop early (a signal). */
    int64_t (*now)(void *ud);
    int (*sleep_until)(void *ud, int64_t wall_ns);
};

/* One bake-time analysis, looked at step by step: shared by `check --wait` (wg_gate_wait)
 * and the daemon's /v1/analyses, which feed it each look's verdict and report. */
struct wg_gate_analysis {
    struct wg_limits limits; /* rules.h */
    int max_looks;           /* looks planned; the last one decides */
    const char *record_dir;  /* state_dir to record the final look's history in; NULL: none */
    struct wg_limits_state st;
    int *tested; /* per rule (report order): the last look that judged it; NULL until a report */
    size_t ntested;
};

/* Start (zeroes the state; nothing allocated yet). */
void wg_gate_analysis_init(struct wg_gate_analysis *a, const struct wg_limits *l, int max_looks,
                           const char *record_dir);
/* Fill req's look, max_looks and last_tested for the next look (borrows a->tested). */
void wg_gate_analysis_req(const struct wg_gate_analysis *a, struct wg_check_req *req);
/* Feed the next look: its verdict, and its report when it produced one (NULL: an evaluator
 * without a report, or an evaluation that failed). Notes which rules judged (Mann-Whitney
 * alpha spending), steps the limits, finishes at the last planned look, and once decided
 * records the final report's history in record_dir. Returns 1 when the analysis is decided
 * (a->st.verdict, a->st.reason), 0 to go on. Out of memory for the per-rule notes only
 * spends less alpha (rules are taken as judged at every look). */
int wg_gate_analysis_step(struct wg_gate_analysis *a, enum wg_verdict v,
                          const struct wg_check_report *rep);
/* End early (a signal, the caller stops): the verdict decided so far. */
void wg_gate_analysis_finish(struct wg_gate_analysis *a);
void wg_gate_analysis_clear(struct wg_gate_analysis *a); /* frees tested; NULL-safe */

/* Take up to count looks, interval apart, each a wg_gate_check of req at that moment, fed to
 * the limits state machine; stops as soon as it decides. *last is the final report (caller
 * frees) and st the final state (st->verdict). WG_ENOTFOUND as wg_gate_check. */
enum wg_err wg_gate_wait(const struct wg_config *cfg, const struct wg_check_req *req,
                         const struct wg_wait_opts *o, struct wg_limits_state *st,
                         struct wg_check_report **last, char *err, size_t errlen) WG_NODISCARD;

/* ---- serve: the HTTP gate (gate/gate_server*.c) ------------------------------------------ */

struct wg_server; /* opaque */

/* One evaluation as the server needs it: the verdict and the `check --format json` body.
 * Returns WG_ENOTFOUND (message in err naming the wave/feature) or another error when it
 * could not evaluate at all. Called from worker threads, concurrently. */
struct wg_server_eval {
    enum wg_err (*fn)(void *ud, const struct wg_config *cfg, const struct wg_check_req *req,
                      enum wg_verdict *verdict, char **json, char *err, size_t errlen);
    void *ud;
};

struct wg_server_opts {
    const char *config_path;    /* re-read by wg_server_reload; may be NULL (no reload) */
    const char *listen;         /* overrides cfg->server.listen; "ADDR:PORT", port 0 = any */
    struct wg_server_eval eval; /* fn NULL: wg_gate_check + wg_gate_report_json */
};

/* Start listening and serving on internal threads. Takes ownership of cfg (also on failure).
 * On failure *out is NULL and err says why (bind, TLS files, token, state store). */
enum wg_err wg_server_start(struct wg_config *cfg, const struct wg_server_opts *o,
                            struct wg_server **out, char *err, size_t errlen) WG_NODISCARD;
/* The bound TCP port (useful with port 0). */
int wg_server_port(const struct wg_server *s);
/* Re-read o->config_path; on success swap it in atomically (requests in flight finish on the
 * old one). On failure the old config stays and every problem is in diags (caller-owned). */
enum wg_err wg_server_reload(struct wg_server *s, struct wg_diags *diags) WG_NODISCARD;
/* Stop accepting; wait up to drain_ns for requests in flight; stop the analysis runner. */
void wg_server_drain(struct wg_server *s, int64_t drain_ns);
void wg_server_free(struct wg_server *s); /* NULL-safe; drains with no wait */

/* ---- for the CLI: `wavegate history` and `wavegate query` ------------------------------- */

/* `wavegate history list|invalidate` on the state store under state_dir (gate_state.c).
 * list prints one line per recorded evaluation to f; invalidate marks the matching rows (by
 * id, or by feature/rule/wave) so `baseline: previous` skips them, *changed = rows changed.
 * Both return WG_OK, WG_ENOTFOUND when there is no store under state_dir yet (list has said
 * so on f; *changed = 0), or WG_EIO (said on stderr). */
enum wg_err wg_gate_history_list(const char *state_dir, const char *feature, const char *rule,
                                 const char *wave, FILE *f) WG_NODISCARD;
enum wg_err wg_gate_history_invalidate(const char *state_dir, long id, const char *feature,
                                       const char *rule, const char *wave,
                                       long *changed) WG_NODISCARD;

struct wg_gate_windows {
    int64_t start_ns, end_ns;
    int has_baseline;
    int64_t baseline_start_ns, baseline_end_ns;
};
/* The rule's current window ([deploy+delay, +window) or [now-window, now)) and its baseline
 * window when the rule has a window or pinned baseline. WG_EINVAL when a bound does not fit
 * in int64 ns: then *out is a window that never ends ([INT64_MAX, INT64_MAX), no baseline)
 * and the rule must be judged "could not evaluate". */
enum wg_err wg_gate_windows(const struct wg_rule *r, const struct wg_rule_params *p,
                            int64_t deploy_ns, int64_t now,
                            struct wg_gate_windows *out) WG_NODISCARD;
/* Render r's query for wave w over [start, end). */
enum wg_err wg_gate_render(const struct wg_source *src, const struct wg_wave *w,
                           const struct wg_feature *f, const struct wg_rule *r, int64_t start,
                           int64_t end, char **out, char *err, size_t errlen) WG_NODISCARD;
/* The rule's source, or the wave's; NULL when neither names a known source. */
const struct wg_source *wg_gate_rule_source(const struct wg_config *cfg, const struct wg_wave *w,
                                            const struct wg_rule *r);
/* As check renders r for target t of fleet wave w (gate_fleet.c): its source (the rule's, else
 * the target's, else the wave's; NULL when none is known) and its query with the target's
 * placeholders ({{ target }}, its labels, its env). t NULL: the wave itself, as above. */
const struct wg_source *wg_gate_target_source(const struct wg_config *cfg, const struct wg_wave *w,
                                              const struct wg_target *t, const struct wg_rule *r);
enum wg_err wg_gate_target_render(const struct wg_source *src, const struct wg_wave *w,
                                  const struct wg_target *t, const struct wg_feature *f,
                                  const struct wg_rule *r, int64_t start, int64_t end, char **out,
                                  char *err, size_t errlen) WG_NODISCARD;
/* "a, b, c" (the wave's target names, cut to len) or "the wave has no targets". */
void wg_gate_target_names(const struct wg_wave *w, char *out, size_t len);

/* ---- alerting on the gate's reports (gate_observe.c) ------------------------------------ */

struct wg_alerting;
/* Map a gate report onto alert instances (one per rule, wave and group labels; a gate-level
 * alert when the verdict is fail; "source unreachable" when every rule of a source errored)
 * and call wg_alerting_eval with scope = the wave. Links (report_url) point at
 * <monitor.external_url>/v1/gate?wave=<wave>, a route the server answers. */
enum wg_err wg_gate_observe(struct wg_alerting *a, const struct wg_check_report *r,
                            int64_t now_ns) WG_NODISCARD;
/* A gate verdict answered to a pipeline (/v1/gate, Flagger) as an event routed like an alert:
 * WavegateGateFailed on fail, WavegateGatePassed on pass/warn with monitor.alert_on_pass,
 * labels alertname, severity, wave, env and origin="request". Scope "request:<wave>": the
 * wave's next verdict resolves the previous event. Same threading rule as wg_alerting_eval. */
enum wg_err wg_gate_alert_event(struct wg_alerting *a, const struct wg_check_report *r,
                                int64_t now_ns) WG_NODISCARD;
/* Links to the evidence of each alert instance (the server's evaluation pages). url is asked
 * once per instance of the report, after its labels (its identity) and condition are known
 * and before wg_alerting_eval: its answer (copied; NULL: no link) is the instance's
 * report_url annotation, which the receivers show (Slack button, PagerDuty links,
 * generatorURL). Without links report_url is <monitor.external_url>/v1/gate?wave=<wave>. */
struct wg_gate_links {
    const char *(*url)(void *ud, const struct wg_label *labels, size_t nlabels, int cond);
    void *ud;
};
enum wg_err wg_gate_observe_linked(struct wg_alerting *a, const struct wg_check_report *r,
                                   int64_t now_ns, const struct wg_gate_links *links) WG_NODISCARD;
/* wg_gate_alert_event with report_url (NULL: the default link above) on the event. */
enum wg_err wg_gate_alert_event_linked(struct wg_alerting *a, const struct wg_check_report *r,
                                       int64_t now_ns, const char *report_url) WG_NODISCARD;

/* ---- events: deploys and flag flips (gate_events.c) -------------------------------------- */

enum wg_event_type { WG_EVENT_DEPLOY = 0, WG_EVENT_FLAG };
/* A flag event's state: on, off, or (adapters only: a strategy change) changed. */
enum wg_event_state { WG_EVSTATE_NONE = 0, WG_EVSTATE_ON, WG_EVSTATE_OFF, WG_EVSTATE_CHANGED };

/* One event as POST /v1/events and `wavegate event` take it. Strings are owned (malloc'd),
 * NULL when absent; wg_event_clear frees them. */
struct wg_event {
    enum wg_event_type type;
    enum wg_event_state state;
    char *wave, *env, *feature, *flag, *version, *source;
    int64_t time_ns; /* when it happened (the analysis anchor); 0: when received */
    /* A fleet wave's deploy: `target` (one target deployed at time) or `deploy_times`
     * ({target: time}: each target at its own, names owned); deploy events only. */
    char *target;
    struct wg_deploy_time *deploy_times;
    size_t ndeploy_times;
};
void wg_event_clear(struct wg_event *ev);
/* Parse {type, wave, env, feature, flag, state, version, time, source, target, deploy_times}.
 * Unknown keys and wrong types are WG_EINVAL with the reason in err (a 400); WG_ENOMEM. On error ev
 * is cleared. type deploy needs wave or env; type flag needs feature or flag and state on|off. */
enum wg_err wg_event_from_json(const char *body, size_t len, struct wg_event *ev, char *err,
                               size_t errlen) WG_NODISCARD;
/* Fill the gaps from the config: feature from features[].flag, flag from the feature, wave
 * from a wave whose env matches, env from the wave. Never fails (unknown names stay). */
void wg_event_resolve(const struct wg_config *cfg, struct wg_event *ev);

/* The durable event store: events.db under state_dir, or (state: {backend: postgres}, the
 * seam's default backend when opened) tables of the shared PostgreSQL (store "events" in
 * wg_schema) that every replica reads and writes: the dedupe by source and version, flips,
 * actions, the markers' outbox and the key/values are the same for all. Thread-safe. */
struct wg_events;
enum wg_err wg_events_open(const char *state_dir, struct wg_events **out, char *err,
                           size_t errlen) WG_NODISCARD;
void wg_events_close(struct wg_events *e);
/* 1 when the store is the shared PostgreSQL one. */
int wg_events_shared(const struct wg_events *e);
/* PostgreSQL: how long this handle's claims of due flips, actions and marker rows hold
 * (lease_ns <= 0: the default, 30 s) and an offset added to the clock its marker claims read
 * (tests: a handle that looks "later"). SQLite: no effect (one process, no claims). */
void wg_events_claims(struct wg_events *e, int64_t lease_ns, int64_t skew_ns);
/* How long this handle's claims hold (the default or wg_events_claims'): a flip's look ends
 * well inside it (gate_server_events_runner.c). 0 for NULL. Thread-safe. */
int64_t wg_events_lease_ns(const struct wg_events *e);
/* Record ev (time 0 becomes now_ns) durably (synchronous=FULL: committed before return);
 * id gets its id ("ev-" + 16 hex of the time + "-" + 8 hex of the row). WG_EIO with err. */
enum wg_err wg_events_record(struct wg_events *e, const struct wg_event *ev, int64_t now_ns,
                             char id[48], char *err, size_t errlen) WG_NODISCARD;
/* What recording a flag event does to its flip analyses, in the event's own transaction (one
 * fsync for both; a crash keeps both or neither): start the analysis of a flag turned on
 * (named by the event's id), or end the running ones of (feature, env) when it is turned off. */
enum wg_flip_op { WG_FLIP_NONE = 0, WG_FLIP_START, WG_FLIP_CANCEL };
struct wg_flip_rec {
    enum wg_flip_op op;
    int64_t anchor_ns, interval_ns; /* START */
    long count, failure_limit;      /* START */
    int cancelled;                  /* out, CANCEL: how many running analyses ended */
};
/* wg_events_record, and flip (may be NULL) applied in the same transaction. dup non-NULL:
 * an event of the same source and version already stored is not recorded again (nor its flip):
 * *dup = 1 and id gets the stored one's id — checked inside the transaction, so two deliveries
 * at once (a webhook and the reconcile poll) record one. */
enum wg_err wg_events_record_flip(struct wg_events *e, const struct wg_event *ev, int64_t now_ns,
                                  struct wg_flip_rec *flip, int *dup, char id[48], char *err,
                                  size_t errlen) WG_NODISCARD;
/* wg_events_record_flip without waiting: queued to the store's committer thread, which calls
 * done(arg, rc) once the transaction holding it is committed (rc WG_OK: durable) or failed; ev,
 * flip, dup, id and err must stay valid until then. WG_ENOMEM: not queued, done not called. */
enum wg_err wg_events_submit(struct wg_events *e, const struct wg_event *ev, int64_t now_ns,
                             struct wg_flip_rec *flip, int *dup, char id[48], char *err,
                             size_t errlen, void (*done)(void *arg, enum wg_err rc),
                             void *arg) WG_NODISCARD;
/* Markers written with their events (events.write_to): build(arg, ev, id, now_ns, out) appends
 * a recorded event's marker lines to out (never for a duplicate); the committer stores them in
 * the markers table inside the event's own transaction (both durable, or neither) and calls
 * stored(arg, lines, len) before the commit (the writer's counts). Called on the committer
 * thread; a build error is logged and the event recorded without its marker. NULL hook: none (the
 * default). Returns once no batch uses the hook it replaced. */
struct wg_events_marker_hook {
    enum wg_err (*build)(void *arg, const struct wg_event *ev, const char *id, int64_t now_ns,
                         struct wg_buf *out);
    void (*stored)(void *arg, const char *lines, size_t len);
    void *arg;
};
void wg_events_marker_hook(struct wg_events *e, const struct wg_events_marker_hook *hook);
/* Wait until everything submitted is committed and its done has returned. */
void wg_events_quiesce(struct wg_events *e);
/* Tests: hold (1) the committer off the queue (recorders queue up) or let it go (0); returns
 * how many transactions it committed so far. */
long wg_events_hold(struct wg_events *e, int hold);
/* The stored events as a JSON array (newest first, at most limit), malloc'd in *out. */
enum wg_err wg_events_list_json(struct wg_events *e, size_t limit, char **out, char *err,
                                size_t errlen) WG_NODISCARD;
/* A key/value of the store's own (the reconcile cursor: "unleash:<url>" → last event id). */
enum wg_err wg_events_kv_get(struct wg_events *e, const char *key, char **out) WG_NODISCARD;
enum wg_err wg_events_kv_set(struct wg_events *e, const char *key, const char *val) WG_NODISCARD;
/* Flip analyses and their kill-switch actions, kept in the event store (one transaction
 * turns a failed analysis into its pending actions: a crash between the verdict and the
 * action loses neither). Strings are copied into the fixed buffers (cut at 255 bytes). */
struct wg_flip {
    char id[48]; /* the flag-on event's id */
    char feature[256], wave[256], env[256], flag[256];
    int64_t anchor_ns, interval_ns, next_ns;
    long count, failure_limit, looks, failures, errors;
    char status[16]; /* running, pass, fail, cancelled, error */
};
struct wg_action_row {
    char id[48];
    int idx; /* the action's index in the feature's on_fail */
    char feature[256], wave[256], env[256], flag[256];
    long attempts;
    char status[16]; /* pending, done, failed, dry_run */
};
/* Start the analysis of a flag turned on (idempotent per event id). */
enum wg_err wg_events_flip_start(struct wg_events *e, const char *id, const struct wg_event *ev,
                                 int64_t anchor_ns, int64_t interval_ns, long count,
                                 long failure_limit) WG_NODISCARD;
/* A flag turned off ends the running analyses of (feature, env): *n gets how many. */
enum wg_err wg_events_flip_cancel(struct wg_events *e, const char *feature, const char *env,
                                  int *n) WG_NODISCARD;
/* Running analyses with next_ns <= now, at most max; *n gets how many. PostgreSQL: claimed
 * for this handle until now + the lease (FOR UPDATE SKIP LOCKED): a flip another replica
 * holds is not answered until its lease ran out; the look's record lets the claim go. */
enum wg_err wg_events_flip_due(struct wg_events *e, int64_t now_ns, struct wg_flip *out, size_t max,
                               size_t *n) WG_NODISCARD;
/* Record one look's verdict: more than failure_limit fails → "fail" and naction pending
 * actions (INSERT OR IGNORE: once per (event, action)) in the same transaction; count looks →
 * "pass", or "error" when no look could evaluate. f->status gets the new status. PostgreSQL:
 * WG_ENOTFOUND (nothing recorded) when this handle's claim ran out or the flip ended. */
enum wg_err wg_events_flip_look(struct wg_events *e, struct wg_flip *f, enum wg_verdict v,
                                int64_t now_ns, size_t naction) WG_NODISCARD;
/* Pending actions with next_ns <= now. PostgreSQL: claimed as wg_events_flip_due claims
 * flips (never run by two replicas at once; a dead replica's after its lease). */
enum wg_err wg_events_action_due(struct wg_events *e, int64_t now_ns, struct wg_action_row *out,
                                 size_t max, size_t *n) WG_NODISCARD;
/* Record an attempt (its status and answer) and the action's new state: status "done",
 * "dry_run", "failed" (given up) or "pending" again at next_ns. PostgreSQL: by the claim's
 * holder only (WG_ENOTFOUND when it ran out), letting the claim go. */
enum wg_err wg_events_action_attempt(struct wg_events *e, const struct wg_action_row *a,
                                     const char *status, long http_status, const char *answer,
                                     int64_t now_ns, int64_t next_ns) WG_NODISCARD;
/* The rate limit of a feature's action (on_fail[a->idx].rate_limit): how many other flips of
 * a->feature this action was attempted for (sent, or rehearsed by dry_run) since since_ns, and
 * the earliest of those attempts (0 when none). */
enum wg_err wg_events_action_window(struct wg_events *e, const struct wg_action_row *a,
                                    int64_t since_ns, long *used, int64_t *oldest_ns) WG_NODISCARD;
/* Hold the action over its rate limit: an attempt row "held" with why (attempts unchanged),
 * status "held", due again at next_ns (when the window has room). */
enum wg_err wg_events_action_hold(struct wg_events *e, const struct wg_action_row *a,
                                  const char *why, int64_t now_ns, int64_t next_ns) WG_NODISCARD;
/* 1 when an event of source with that version (the sender's own event id) is stored. */
int wg_events_seen(struct wg_events *e, const char *source, const char *version);
/* The actions and their attempts as JSON (GET /v1/events/actions, tests). */
enum wg_err wg_events_actions_json(struct wg_events *e, char **out) WG_NODISCARD;
/* The markers' outbox in the events store (the durable writer's store, collector.h
 * wg_lp_store): put one row of n lines; peek the oldest rows (whole, at least one, up to about
 * max_bytes) appended to out, *last_id the newest; del the rows up to last_id; trim the oldest
 * rows until at most max_lines are kept (*lines, *bytes what went); count what is kept.
 * PostgreSQL: peek claims the rows it returns with a lease (rows another replica holds are
 * skipped), del deletes only this handle's claimed rows; count and trim are over the shared
 * table. */
enum wg_err wg_events_marker_put(struct wg_events *e, const char *lines, size_t len,
                                 unsigned long long n) WG_NODISCARD;
enum wg_err wg_events_marker_peek(struct wg_events *e, size_t max_bytes, struct wg_buf *out,
                                  long long *last_id, unsigned long long *n) WG_NODISCARD;
enum wg_err wg_events_marker_del(struct wg_events *e, long long last_id) WG_NODISCARD;
enum wg_err wg_events_marker_trim(struct wg_events *e, unsigned long long max_lines,
                                  unsigned long long *lines,
                                  unsigned long long *bytes) WG_NODISCARD;
enum wg_err wg_events_marker_count(struct wg_events *e, unsigned long long *lines,
                                   unsigned long long *bytes) WG_NODISCARD;
/* The five above as the durable writer's store (collector.h), ctx e. */
void wg_events_marker_store(struct wg_events *e, struct wg_lp_store *st);
extern const char *const wg_event_type_names[2];
extern const char *const wg_event_state_names[4];

#endif
