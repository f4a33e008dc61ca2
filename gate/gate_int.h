/* gate_int.h — what the gate's files share. Not for use outside gate/ and cmd/.
 * (Append new declarations at the end; several files of gate/ use this header.)
 */
#ifndef WG_GATE_INT_H
#define WG_GATE_INT_H

#include "gate/gate.h"

/* ---- state store (gate_state.c): SQLite under state_dir ------------------------------- */

/* Values of the last `count` passing evaluations of (rule, wave), oldest first, as one
 * unlabelled series in *out. A missing store is not an error (empty series). */
enum wg_err wg__gate_state_previous(const char *state_dir, const struct wg_rule *r,
                                    const char *wave, long count, struct wg_seriesset *out,
                                    char *err, size_t errlen);
/* Record every rule result of a report (best effort: failures are logged, not returned).
 * Only rules that somebody may use as `baseline: previous` are recorded. */
void wg__gate_state_record(const char *state_dir, const struct wg_check_report *rep);

/* `wavegate history list|invalidate` */
int wg__gate_history_list(const char *state_dir, const char *feature, const char *rule,
                          const char *wave, FILE *f);
int wg__gate_history_invalidate(const char *state_dir, long id, const char *feature,
                                const char *rule, const char *wave, long *changed);

/* ---- planning (gate_check.c), shared with `wavegate query` --------------------------- */

struct wg__gate_windows {
    int64_t start_ns, end_ns;
    int has_baseline;
    int64_t baseline_start_ns, baseline_end_ns;
};
/* The rule's current window ([deploy+delay, +window) or [now-window, now)) and its baseline
 * window when the rule has a window or pinned baseline. WG_EINVAL when a bound does not fit
 * in int64 ns: then *out is a window that never ends ([INT64_MAX, INT64_MAX), no baseline)
 * and the rule must be judged "could not evaluate". */
enum wg_err wg__gate_windows(const struct wg_rule *r, const struct wg_rule_params *p,
                             int64_t deploy_ns, int64_t now,
                             struct wg__gate_windows *out) WG_NODISCARD;
/* Render r's query for wave w over [start, end). */
enum wg_err wg__gate_render(const struct wg_source *src, const struct wg_wave *w,
                            const struct wg_feature *f, const struct wg_rule *r, int64_t start,
                            int64_t end, char **out, char *err, size_t errlen);
/* The rule's source, or the wave's; NULL when neither names a known source. */
const struct wg_source *wg__gate_rule_source(const struct wg_config *cfg, const struct wg_wave *w,
                                             const struct wg_rule *r);

/* ---- serve (gate_server*.c): the HTTP gate's shared state ------------------------------ */
/* The server's state (config generations, verdict cache, single-flight evaluations, metrics,
 * analyses) and the per-connection request context. */

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

/* ---- serve: config generations ------------------------------------------------------------ */

/* One loaded config plus what serving derives from it; refcounted so a reload never frees a
 * config a request is still reading. */
struct wg__cfgref {
    struct wg_config *cfg;
    atomic_int refs;
    int has_token;
    unsigned char token_sha256[32]; /* the bearer token, hashed (compared in constant time) */
    int64_t loaded_ns;
};

/* ---- serve: one evaluation's outcome, shared by every request that waited for it ---------- */

struct wg__verdict {
    atomic_int refs;
    enum wg_err err; /* WG_OK: verdict + json are set */
    enum wg_verdict verdict;
    char *json; /* the body; on err a small {"verdict":"error",...} document */
    size_t len;
    struct MHD_Response *resp; /* JSON body response built once, reused by every hit */
    int64_t expires_mono;      /* cache expiry */
};

#define WG__MAX_FEATURES 64
#define WG__MAX_NAME 256

/* What a gate question is, from the query string and/or a JSON body. */
struct wg__params {
    char *wave;
    char *features[WG__MAX_FEATURES];
    size_t nfeatures;
    int64_t deploy_ns;
    int mode_status;       /* mode=status */
    int inconclusive_pass; /* flagger rollout: ?inconclusive=pass */
    char *token;           /* flagger metadata.token */
    /* analyses only (not part of the single-flight key): repeated looks, see wg_check_req */
    int look, max_looks;
    const int *last_tested;
    size_t nlast_tested;
};

enum wg__route {
    WG__R_NONE = 0,
    WG__R_GATE,
    WG__R_FLAGGER,
    WG__R_ANALYSES, /* POST /v1/analyses */
    WG__R_ANALYSIS, /* GET /v1/analyses/{id} */
    WG__R_HEALTHZ,
    WG__R_READYZ,
    WG__R_METRICS
};

/* Flagger hook types, in /v1/flagger/{hook} order. */
enum wg__hook {
    WG__H_ROLLOUT = 0,
    WG__H_PRE_ROLLOUT,
    WG__H_CONFIRM_ROLLOUT,
    WG__H_CONFIRM_PROMOTION,
    WG__H_CONFIRM_TRAFFIC,
    WG__H_ROLLBACK,
    WG__H_POST_ROLLOUT,
    WG__H_EVENT,
    WG__H_LAST
};
extern const char *const wg__hook_names[WG__H_LAST];

/* Consumers as counted in /metrics. */
enum wg__consumer {
    WG__C_GATE_BODY = 0,
    WG__C_GATE_STATUS,
    WG__C_FLAGGER, /* + hook */
    WG__C_ANALYSIS = WG__C_FLAGGER + WG__H_LAST,
    WG__C_OTHER,
    WG__C_LAST
};

struct wg__flight;

/* Per-connection request state (MHD's con_cls). */
struct wg__req {
    struct wg_server *srv;
    enum wg__route route;
    enum wg__hook hook;
    char id[64]; /* analysis id */
    int method_post;
    struct wg_buf body;
    int too_big;
    int header_authed;      /* Authorization header matched */
    struct wg__cfgref *gen; /* config generation pinned for this request */
    struct wg__params p;
    struct wg__verdict *v; /* set once the evaluation finished */
    int suspended;
    int64_t t0;
};

/* ---- serve: metrics ------------------------------------------------------------------------ */

#define WG__HIST_BUCKETS 12
struct wg__hist {
    atomic_ullong b[WG__HIST_BUCKETS + 1]; /* last: +Inf */
    atomic_ullong count;
    atomic_ullong sum_us;
};
#define WG__MAX_SOURCES 32

struct wg__metrics {
    atomic_ullong requests[WG__C_LAST][WG_FAIL + 2]; /* verdicts + "none" */
    atomic_ullong responses[6];                      /* 2xx 3xx 4xx 5xx, 401, 413 */
    atomic_ullong rule_evals[WG_FAIL + 1];
    atomic_ullong errors[8];
    atomic_ullong cache_hits, cache_misses, shared_waits, evaluations;
    atomic_ullong reloads_ok, reloads_failed;
    struct wg__hist request_seconds, eval_seconds;
    pthread_mutex_t src_mu;
    size_t nsrc;
    char *src_name[WG__MAX_SOURCES];
    struct wg__hist src_seconds[WG__MAX_SOURCES];
};
enum {
    WG__E_BAD_REQUEST = 0,
    WG__E_UNAUTHORIZED,
    WG__E_TOO_BIG,
    WG__E_NOT_FOUND,
    WG__E_EVAL,
    WG__E_INTERNAL,
    WG__E_OVERLOAD,
    WG__E_RELOAD
};

void wg__metrics_init(struct wg__metrics *m);
void wg__metrics_free(struct wg__metrics *m);
void wg__hist_observe(struct wg__hist *h, int64_t ns);
void wg__metrics_source(struct wg__metrics *m, const char *source, int64_t ns);
void wg__metrics_response(struct wg__metrics *m, unsigned status);
/* Prometheus text exposition format 0.0.4; malloc'd. */
char *wg__metrics_render(struct wg_server *s);

/* ---- serve: the server ----------------------------------------------------------------------- */

struct wg__cache_entry {
    char *key;
    struct wg__verdict *v;
    struct wg__cache_entry *next;
};
#define WG__CACHE_BUCKETS 256
#define WG__CACHE_MAX 1024
#define WG__MAX_FLIGHTS 64

struct wg__analyses; /* gate_server_analysis.c */

struct wg_server {
    struct MHD_Daemon *d;
    int port;
    char *config_path;
    char *listen;
    struct wg_server_eval eval;
    pthread_mutex_t mu; /* guards gen, cache, flights */
    pthread_cond_t flights_cv;
    struct wg__cfgref *gen;
    struct wg__cache_entry *cache[WG__CACHE_BUCKETS];
    size_t ncache;
    struct wg__flight *flights;
    size_t nflights;
    atomic_int inflight; /* requests between first callback and completion */
    atomic_int draining;
    struct wg__metrics m;
    struct wg__analyses *an;
    struct wg__monitor *mon; /* alerting (gate_server_monitor.c); NULL without alerting: */
    struct wg__evals *evals; /* evidence pages' store (gate_evals.c); NULL: no pages */
    /* readiness probe */
    pthread_mutex_t ready_mu;
    int64_t ready_at;
    int ready_ok;
    char ready_why[256];
};

/* Config generations. */
enum wg_err wg__server_gen_new(struct wg_config *cfg, struct wg__cfgref **out, char *err,
                               size_t errlen);
struct wg__cfgref *wg__server_gen_get(struct wg_server *s);
void wg__server_gen_put(struct wg__cfgref *g);

/* Verdict objects. */
struct wg__verdict *wg__verdict_new(enum wg_err err, enum wg_verdict v, char *json_take);
void wg__verdict_put(struct wg__verdict *v);

/* Params. */
void wg__params_clear(struct wg__params *p);
/* Fill p from a JSON object (gate body or flagger metadata). 400-class problems → WG_EINVAL
 * with a reason in err. */
enum wg_err wg__params_from_json(struct wg__params *p, const char *body, size_t len, int flagger,
                                 char *err, size_t errlen);
enum wg_err wg__params_from_query(struct wg__params *p, struct MHD_Connection *c, char *err,
                                  size_t errlen);

/* Cache + single flight: either *out is set (cached or already finished), or the request is
 * parked on a flight and the connection suspended until it finishes (returns WG_OK, *out
 * NULL). WG_ETOOBIG when too many distinct evaluations run at once. */
enum wg_err wg__server_lookup(struct wg_server *s, struct MHD_Connection *c, struct wg__req *r,
                              struct wg__verdict **out);
/* Evaluate synchronously (analyses; no cache). */
struct wg__verdict *wg__server_eval_now(struct wg_server *s, struct wg__cfgref *gen,
                                        const struct wg__params *p);
/* The same, also handing back the report when the default evaluator made one (*rep NULL
 * otherwise; the caller frees it, before putting gen). rep may be NULL. */
struct wg__verdict *wg__server_eval_report(struct wg_server *s, struct wg__cfgref *gen,
                                           const struct wg__params *p,
                                           struct wg_check_report **rep);
void wg__server_cache_clear(struct wg_server *s);
void wg__server_flights_wait(struct wg_server *s);

/* The default evaluator (wg_gate_check + wg_gate_report_json). */
enum wg_err wg__server_eval_default(void *ud, const struct wg_config *cfg,
                                    const struct wg_check_req *req, enum wg_verdict *verdict,
                                    char **json, char *err, size_t errlen);

/* Routes (gate_server_routes.c): called on the final handler call; queue a response. */
enum MHD_Result wg__route_dispatch(struct wg_server *s, struct MHD_Connection *c,
                                   struct wg__req *r);
enum MHD_Result wg__reply(struct wg_server *s, struct MHD_Connection *c, unsigned status,
                          const char *ctype, const char *body, size_t len);
enum MHD_Result wg__reply_error(struct wg_server *s, struct MHD_Connection *c, unsigned status,
                                const char *fmt, ...) WG_PRINTF(4, 5);
/* Constant-time bearer check of a raw token (NULL → no). */
int wg__server_token_ok(const struct wg__cfgref *g, const char *tok, size_t len);

/* Analyses (gate_server_analysis.c). */
enum wg_err wg__analyses_open(struct wg_server *s, const char *state_dir, char *err, size_t errlen);
void wg__analyses_close(struct wg__analyses *a);
/* POST body → 201 + id, or status/err for 400/404. */
unsigned wg__analyses_create(struct wg_server *s, struct wg__cfgref *gen, const char *body,
                             size_t len, char **out_json);
/* 200 + the analysis, or 404. */
unsigned wg__analyses_get(struct wg_server *s, const char *id, char **out_json);
void wg__analyses_count(struct wg_server *s, unsigned long long counts[WG_FAIL + 2]);

/* Readiness. */
int wg__server_ready(struct wg_server *s, char *why, size_t whylen);

/* The one-sided false-fail budget of a rule at its confidence: (1 - confidence) / 2. */
double wg__gate_alpha(const struct wg_rule_params *p);

/* ---- serve: alerting (gate_server_monitor.c) ---------------------------------------------- */

struct wg__monitor;

/* /v1/silences (GET list, POST add) and /v1/silences/{id} (DELETE): r->route holds these. */
#define WG__R_SILENCES ((enum wg__route)(WG__R_METRICS + 1))
#define WG__R_SILENCE ((enum wg__route)(WG__R_METRICS + 2))

/* Start alerting for the server's current generation when its config has `alerting:` (the
 * monitor thread, the outbox worker, the silence store). s->mon stays NULL otherwise. */
enum wg_err wg__monitor_start(struct wg_server *s, char *err, size_t errlen);
/* Rebuild alerting on a new generation (after a reload): stop the monitor thread, let the
 * outbox settle briefly, reopen with the new config. A failure keeps serving without
 * alerting and is logged. */
void wg__monitor_reload(struct wg_server *s);
/* SIGTERM: stop the monitor thread, drain the outbox until deadline_mono (the rest stays in
 * the outbox for the next start). */
void wg__monitor_drain(struct wg_server *s, int64_t deadline_mono);
void wg__monitor_free(struct wg_server *s);
/* A verdict answered to /v1/gate or Flagger, as an alert event. Thread-safe. */
void wg__monitor_gate_event(struct wg_server *s, const struct wg_check_report *rep);
/* Appends the alerting metrics (nothing without alerting). Thread-safe. */
void wg__monitor_metrics(struct wg_server *s, struct wg_buf *b);
/* Answers the silence routes (route() checked the methods: GET|POST, DELETE). r->id holds
 * the silence id of /v1/silences/{id}. */
enum MHD_Result wg__monitor_silences(struct wg_server *s, struct MHD_Connection *c,
                                     struct wg__req *r);

/* ---- evidence pages (gate_html.c, gate_evals.c, gate_server_ui.c) ------------------------ */
/* (wg__gate_downsample lives in gate_evals.c; the renderer in gate_html.c) */

#include <cjson/cJSON.h>

/* Copy src into dst (zeroed, caller frees) keeping at most WG_GATE_KEEP_POINTS points per
 * series: the min and the max of each time bucket, in time order. */
enum wg_err wg__gate_downsample(const struct wg_seriesset *src,
                                struct wg_seriesset *dst) WG_NODISCARD;

/* Appends that poison b on failure (sticky error); take: the text, or NULL when an append
 * failed. Start b with wg_buf_init(b, 0). */
void wg__html_add(struct wg_buf *b, const void *p, size_t n);
void wg__html_adds(struct wg_buf *b, const char *s);
void wg__html_addf(struct wg_buf *b, const char *fmt, ...) WG_PRINTF(2, 3);
char *wg__html_take(struct wg_buf *b);
/* HTML-escape s (& < > " ') into b; for element text, attribute values and SVG text. */
void wg__html_esc(struct wg_buf *b, const char *s);
/* The page head (doctype, CSP meta, viewport, the light/dark stylesheet) and the tail. */
void wg__html_head(struct wg_buf *b, const char *title);
void wg__html_tail(struct wg_buf *b);
/* A verdict name as a coloured badge: <span class="badge v-fail">fail</span>. */
void wg__html_badge(struct wg_buf *b, const char *verdict);

/* The series judged by one rule, in report order (either may be NULL). */
struct wg__html_series {
    const struct wg_seriesset *cur, *base;
};
/* The evidence page of one evaluation: report is the `check --format json` document (with
 * evaluation_id when it has one), series[i] the i-th rule's series. Pure; malloc'd HTML or
 * NULL on ENOMEM. */
char *wg__html_evaluation(const cJSON *report, const struct wg__html_series *series,
                          size_t nseries);
/* One rule's chart into b: rule is the rule's JSON object, deploy_ns its deploy marker (0:
 * none), id a unique prefix for the element ids ("r3"). */
void wg__html_chart(struct wg_buf *b, const cJSON *rule, const struct wg__html_series *s,
                    int64_t deploy_ns, const char *id);
/* Encode / decode every rule's kept series as one blob (the evaluation store's format). */
enum wg_err wg__evals_series_encode(const struct wg_check_report *r, struct wg_buf *out);
/* *sets: 2 * nrules series sets (current, baseline per rule); free with
 * wg__evals_series_free(*sets, *nrules). */
enum wg_err wg__evals_series_decode(const void *blob, size_t len, struct wg_seriesset **sets,
                                    size_t *nrules);
void wg__evals_series_free(struct wg_seriesset *sets, size_t nrules);

/* The evaluation store (gate_evals.c): the last WG__EVALS_KEEP evaluations in
 * state_dir/evaluations.db, each its report JSON and series blob. Thread-safe. */
#define WG__EVALS_KEEP 1000
struct wg__evals;
enum wg_err wg__evals_open(const char *state_dir, long keep, struct wg__evals **out, char *err,
                           size_t errlen) WG_NODISCARD;
void wg__evals_close(struct wg__evals *e);
/* A new evaluation id: 32 hex digits (id >= 33 bytes). */
enum wg_err wg__evals_new_id(char *id, size_t idlen) WG_NODISCARD;
/* Store one evaluation (kind: "gate", "analysis", "monitor", "flag"; features: the JSON array
 * [{feature, verdict}] the overview reads, NULL "[]") under id, or a new id
 * written into id when id is "" (id >= 33 bytes); on failure id is "". Deletes what falls out of
 * retention in the same transaction. */
enum wg_err wg__evals_put(struct wg__evals *e, const char *kind, const char *wave,
                          const char *verdict, const char *features, const char *json,
                          const void *blob, size_t bloblen, char *id, size_t idlen) WG_NODISCARD;
/* The stored JSON and blob of id: WG_ENOTFOUND when not (or no longer) kept. */
enum wg_err wg__evals_get(struct wg__evals *e, const char *id, char **json, void **blob,
                          size_t *bloblen) WG_NODISCARD;
/* Render the stored evaluation id's page: WG_ENOTFOUND, WG_ENOMEM, WG_EIO. */
enum wg_err wg__evals_page(struct wg__evals *e, const char *id, char **html) WG_NODISCARD;
/* The latest verdict per (wave, feature) and the last n evaluations, as a cJSON array of
 * {id, kind, wave, verdict, created, features:[{feature, verdict}]}, newest first. */
cJSON *wg__evals_recent(struct wg__evals *e, int n);

/* The report JSON with evaluation_id and report_url (external_url + /ui/evaluations/{id}, or
 * the relative path without one) when id is set; wg_gate_report_json otherwise. */
char *wg__gate_report_json_linked(const struct wg_check_report *r, const char *id,
                                  const char *external_url);

/* 1 when verdict differs from the last one noted for wave (or none was), noting it. */
int wg__evals_changed(struct wg__evals *e, const char *wave, int verdict);
/* A monitor tick: kept as an evaluation ("monitor") when the wave's verdict changed. */
void wg__ui_monitor_tick(struct wg_server *s, const struct wg_config *cfg,
                         const struct wg_check_report *rep);

/* The pages (gate_server_ui.c): /, /ui/evaluations/{id}, /ui/analyses/{id}. */
#define WG__R_UI_HOME ((enum wg__route)(WG__R_METRICS + 3))
#define WG__R_UI_EVAL ((enum wg__route)(WG__R_METRICS + 4))
#define WG__R_UI_ANALYSIS ((enum wg__route)(WG__R_METRICS + 5))
/* /v1/report/{wave} (the alerts' report_url): 303 to the wave's latest evaluation page. */
#define WG__R_UI_REPORT ((enum wg__route)(WG__R_METRICS + 6))
/* The id of the wave's latest stored evaluation: WG_ENOTFOUND when none. */
enum wg_err wg__evals_latest(struct wg__evals *e, const char *wave, char *id,
                             size_t idlen) WG_NODISCARD;
enum MHD_Result wg__ui_dispatch(struct wg_server *s, struct MHD_Connection *c, struct wg__req *r);
/* Store a server evaluation and fill id (>= 33 bytes; "" when not stored): the report as
 * the gate answers it (with its links) into *json. Without a store: plain JSON, id "". */
char *wg__ui_record(struct wg_server *s, const struct wg_config *cfg, const char *kind,
                    const struct wg_check_report *rep, char *id, size_t idlen);

#endif
