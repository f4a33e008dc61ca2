/* gate_server_int.h — what the HTTP gate's files (gate_server*.c) share: config generations,
 * the verdict cache, single-flight evaluations, metrics, analyses, the alerting monitor and the
 * per-connection request context. The server's layer only: libmicrohttpd, pthread and atomics
 * stay here, so the evaluation (gate_int.h) compiles and links without them.
 * (Append new declarations at the end; several files of gate/ use this header.)
 */
#ifndef WG_GATE_SERVER_INT_H
#define WG_GATE_SERVER_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "common/http.h"
#include "gate/gate_int.h"

/* ---- serve: config generations ------------------------------------------------------------ */

struct wg__auth; /* gate_server_auth.c */

/* One loaded config plus what serving derives from it; refcounted so a reload never frees a
 * config a request is still reading. */
struct wg__cfgref {
    struct wg_config *cfg;
    atomic_int refs;
    int has_token;         /* any token configured: the routes of wg__route_role need one */
    struct wg__auth *auth; /* the read and admin tokens (files re-read when they change) */
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
    /* deploy identity (gate_server_deploys.c): Argo's pod-template hash or a CI deploy_id,
     * Flagger's namespace/name + checksum + phase + metadata.threshold */
    char *deploy_id;
    char *canary, *checksum, *phase;
    int threshold;
    /* fleet waves (gate_fleet.c): target=, and deploy_times {target: time} (names owned) */
    char *target;
    struct wg_deploy_time *deploy_times;
    size_t ndeploy_times;
    /* looks counted per deploy (gate_server_deploys.c): max_looks= of the request, the
     * identity's key, whether this ask is a counted look (look/max_looks then set), the last
     * look that judged, the last planned look's verdict; analysis: the analysis that answers */
    int looks_planned;
    char *ident;
    int counted;
    int tested_look;
    char final[16];
    char *analysis;
    /* timeout= of the request (0: none; part of the single-flight key) and the deadline of the
     * evaluation it leads to (wg_check_req.deadline_mono_ns: set by the flight, a flip's or an
     * analysis' look) */
    int64_t timeout_ns;
    int64_t deadline_mono_ns;
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
struct wg__evjob;
/* Frees an event job left by a request that ended while suspended (NULL: nothing). */
void wg__events_job_free(struct wg__evjob *j);

/* Per-connection request state (MHD's con_cls). */
struct wg__server_req {
    struct wg_server *srv;
    enum wg__route route;
    enum wg__hook hook;
    char id[64]; /* analysis id */
    int method_post;
    struct wg_buf body;
    int too_big;
    int header_authed;      /* the Authorization header's role (WG__ROLE_*; 0: none) */
    struct wg__cfgref *gen; /* config generation pinned for this request */
    struct wg__params p;
    struct wg__verdict *v; /* set once the evaluation finished */
    int suspended;
    int64_t t0;
    struct wg__evjob *evjob; /* an event in the store's committer (gate_server_events_ingest.c) */
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
struct wg__evrun;    /* gate_server_events_runner.c */
struct wg__conn;     /* gate_server_guard.c */

/* The connection guard (gate_server_guard.c): connections waiting for a request head/body,
 * oldest first, closed at the request deadline or to keep room under the connection limit. */
struct wg__guard {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    pthread_t th;
    int inited, started, stop;
    struct wg__conn *head, *tail;
    unsigned nconns;     /* open connections */
    unsigned high;       /* above this many, a new connection sheds the oldest waiting one */
    int64_t deadline_ns; /* server.request_timeout */
    atomic_ullong shed_deadline, shed_capacity;
};

/* Handles kept: two evaluations at once reuse their connections; more at once (a burst of
 * pipelines) make their own. Each may keep up to every source's max_concurrency open. */
#define WG__HTTP_KEEP 2

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
    int quiesced_fd; /* the listening socket after drain: closed only once MHD is stopped */
    struct wg__metrics m;
    struct wg__analyses *an;
    struct wg__monitor *mon; /* alerting (gate_server_monitor.c); NULL without alerting: */
    struct wg__evals *evals; /* evidence pages' store (gate_evals.c); NULL: no pages */
    /* readiness probe */
    pthread_mutex_t ready_mu;
    int64_t ready_at;
    int ready_ok;
    char ready_why[256];
    struct wg__guard guard;
    struct wg__deploys *dep;        /* gate_server_deploys.c */
    struct wg_events *events;       /* events.db (gate_server_events_markers.c) */
    struct wg_lp_writer *markers;   /* events.write_to; NULL: none */
    struct wg__cfgref *markers_gen; /* pinned: the writer borrows its source */
    struct wg__evrun *evrun;        /* flip looks, kill switches (gate_server_events_runner.c) */
    /* HTTP handles between evaluations, their connections to the sources kept alive (no TCP
     * and TLS handshakes per gate call): at most WG__HTTP_KEEP, the rest freed after use. */
    pthread_mutex_t http_mu;
    struct wg_http *http_kept[WG__HTTP_KEEP];
    size_t nhttp_kept;
};

/* A handle for one evaluation: a kept one or a new one (NULL: none, the check makes its own);
 * give it back after the evaluation (NULL-safe). Thread-safe. */
struct wg_http *wg__server_http_take(struct wg_server *s);
void wg__server_http_give(struct wg_server *s, struct wg_http *h);
/* Close the kept handles (a reload: sources and their TLS files may have changed). */
void wg__server_http_flush(struct wg_server *s);

/* Config generations. */
enum wg_err wg__server_gen_new(struct wg_config *cfg, struct wg__cfgref **out, char *err,
                               size_t errlen) WG_NODISCARD;
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
                                 char *err, size_t errlen) WG_NODISCARD;
enum wg_err wg__params_from_query(struct wg__params *p, struct MHD_Connection *c, char *err,
                                  size_t errlen) WG_NODISCARD;

/* Cache + single flight: either *out is set (cached or already finished), or the request is
 * parked on a flight and the connection suspended until it finishes (returns WG_OK, *out
 * NULL). WG_ETOOBIG when too many distinct evaluations run at once. */
enum wg_err wg__server_lookup(struct wg_server *s, struct MHD_Connection *c,
                              struct wg__server_req *r, struct wg__verdict **out) WG_NODISCARD;
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
                                    char **json, char *err, size_t errlen) WG_NODISCARD;

/* Routes (gate_server_routes.c): called on the final handler call; queue a response. */
enum MHD_Result wg__route_dispatch(struct wg_server *s, struct MHD_Connection *c,
                                   struct wg__server_req *r);
enum MHD_Result wg__reply(struct wg_server *s, struct MHD_Connection *c, unsigned status,
                          const char *ctype, const char *body, size_t len);
enum MHD_Result wg__reply_error(struct wg_server *s, struct MHD_Connection *c, unsigned status,
                                const char *fmt, ...) WG_PRINTF(4, 5);
/* Constant-time check of a raw token (NULL → no): its role, WG__ROLE_NONE (0), WG__ROLE_READ
 * or WG__ROLE_ADMIN (gate_server_auth.c). */
int wg__server_token_ok(const struct wg__cfgref *g, const char *tok, size_t len);

/* Analyses (gate_server_analysis.c). */
enum wg_err wg__analyses_open(struct wg_server *s, const char *state_dir, char *err,
                              size_t errlen) WG_NODISCARD;
void wg__analyses_close(struct wg__analyses *a);
/* POST body → 201 + id, or status/err for 400/404. */
unsigned wg__analyses_create(struct wg_server *s, struct wg__cfgref *gen, const char *body,
                             size_t len, char **out_json);
/* 200 + the analysis, or 404. */
unsigned wg__analyses_get(struct wg_server *s, const char *id, char **out_json);
void wg__analyses_count(struct wg_server *s, unsigned long long counts[WG_FAIL + 2]);
/* The running analyses (newest first, at most n) as a cJSON array of {id, created, spec}
 * (the overview page); empty when the store was never opened. Caller deletes. */
cJSON *wg__analyses_running(struct wg_server *s, int n);

/* Readiness. */
int wg__server_ready(struct wg_server *s, char *why, size_t whylen);

/* ---- serve: alerting (gate_server_monitor.c) ---------------------------------------------- */

/* ---- leader (gate_server_leader.c): one replica runs the monitor on a shared store ------ */
enum wg_err wg__leader_start(struct wg_server *s, char *err, size_t errlen) WG_NODISCARD;
int wg__leader_active(void);       /* 1: lead (always on SQLite) */
int wg__leader_monitor_turn(void); /* wg__leader_active, counted for /metrics */
void wg__leader_stop(void);
void wg__leader_metrics(struct wg_buf *b);

struct wg__monitor;

/* /v1/silences (GET list, POST add) and /v1/silences/{id} (DELETE): r->route holds these. */
#define WG__R_SILENCES ((enum wg__route)(WG__R_METRICS + 1))
#define WG__R_SILENCE ((enum wg__route)(WG__R_METRICS + 2))

/* Start alerting for the server's current generation when its config has `alerting:` (the
 * monitor thread, the outbox worker, the silence store). s->mon stays NULL otherwise. */
enum wg_err wg__monitor_start(struct wg_server *s, char *err, size_t errlen) WG_NODISCARD;
/* Rebuild alerting on a new generation (after a reload): stop the monitor thread, let the
 * outbox settle briefly, reopen with the new config. A failure keeps serving without
 * alerting and is logged. */
void wg__monitor_reload(struct wg_server *s);
/* SIGTERM: stop the monitor thread, drain the outbox until deadline_mono (the rest stays in
 * the outbox for the next start). */
void wg__monitor_drain(struct wg_server *s, int64_t deadline_mono);
void wg__monitor_free(struct wg_server *s);
/* A verdict answered to /v1/gate or Flagger, as an alert event. Thread-safe. */
void wg__monitor_gate_event(struct wg_server *s, const struct wg_check_report *rep,
                            const char *eval_id);
/* Appends the alerting metrics (nothing without alerting). Thread-safe. */
void wg__monitor_metrics(struct wg_server *s, struct wg_buf *b);
/* 1 while alerting delivery is degraded (its state store refuses writes); *errors gets the
 * store's failed writes. 0 without alerting. */
int wg__monitor_degraded(struct wg_server *s, unsigned long long *errors);
/* Answers the silence routes (route() checked the methods: GET|POST, DELETE). r->id holds
 * the silence id of /v1/silences/{id}. */
enum MHD_Result wg__monitor_silences(struct wg_server *s, struct MHD_Connection *c,
                                     struct wg__server_req *r);

/* ---- serve: the connection guard (gate_server_guard.c) ------------------------------------ */
/* All but start/stop/free are called from MHD's threads (and the reload thread) at once:
 * they take g->mu. */

/* Start the reaper thread: requests whose head and body are not complete deadline_ns after
 * the connection opened (or its previous response) are closed; above limit - limit/8 open
 * connections a new one sheds the oldest waiting one. */
enum wg_err wg__guard_start(struct wg__guard *g, unsigned limit, int64_t deadline_ns) WG_NODISCARD;
/* server.request_timeout after a reload. */
void wg__guard_set_deadline(struct wg__guard *g, int64_t deadline_ns);
void wg__guard_stop(struct wg__guard *g);
/* After MHD_stop_daemon; NULL-safe on a guard never started. */
void wg__guard_free(struct wg__guard *g);
/* MHD_OPTION_NOTIFY_CONNECTION callback; cls is the struct wg_server. */
void wg__guard_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);
/* The request's head and body are in (no deadline while it is answered). */
void wg__guard_busy(struct wg__guard *g, struct MHD_Connection *mc);
/* A response went out on a keep-alive connection: the next request's deadline starts now. */
void wg__guard_waiting(struct wg__guard *g, struct MHD_Connection *mc);

/* The POST /v1/analyses body check alone (no store, no config): 0, or 400 with err set.
 * The fuzz target tests/fuzz/fuzz_body.c drives it. */
unsigned wg__analyses_spec_check(const char *body, size_t len, char *err, size_t errlen);

/* The JSON request bodies of serve, one parser each, as (const uint8_t *, size_t) entry
 * points (tests/fuzz/fuzz_body.c; fixtures in tests/unit/test_gate_server.c). Returns the
 * status the route would answer for the body alone: 0 (accepted), 400 with err set, 500. */
enum wg__body { WG__B_GATE = 0, WG__B_FLAGGER, WG__B_ANALYSES, WG__B_SILENCES, WG__B_LAST };
unsigned wg__route_body_check(enum wg__body kind, const uint8_t *data, size_t size, char *err,
                              size_t errlen);

/* ---- serve: deploy identities and consumer state (gate_server_deploys.c) ------------------ */

struct wg__deploys;

/* Wall clock of `serve`: wg_now_ns(), or -- for the replay harnesses only -- the Unix seconds
 * (or RFC3339) in the file named by WG_TEST_NOW_FILE, re-read on every call. */
int64_t wg__server_now(void);
/* The deploy-identity store (deploys.db under state_dir; in memory without one). */
enum wg_err wg__deploys_open(struct wg_server *s, const char *state_dir, char *err,
                             size_t errlen) WG_NODISCARD;
void wg__deploys_close(struct wg_server *s);
/* Flagger's payload fields outside metadata (name, namespace, checksum, phase) into p. */
enum wg_err wg__deploys_flagger_payload(struct wg__params *p, const char *body,
                                        size_t len) WG_NODISCARD;
/* Anchor the question: a deploy identity without a deploy_time gets the time it was first
 * seen (persisted). WG_EIO when the store cannot be written (answer 503). */
enum wg_err wg__deploys_resolve(struct wg_server *s, struct wg__server_req *r, char *err,
                                size_t errlen) WG_NODISCARD;
/* Flagger: 1 when the hook is answered without evaluating (*status set): rollback while the
 * canary gets no traffic yet. */
int wg__flagger_short_circuit(struct wg_server *s, struct wg__server_req *r, unsigned *status);
/* Flagger's status for a verdict, with per-canary state (rollback only after `threshold`
 * failing checks of this canary + checksum, or a failing key rule). */
unsigned wg__flagger_status(struct wg_server *s, struct wg__server_req *r,
                            const struct wg__verdict *v);
/* /readyz: wavegate itself (config loaded, state store writable); cached 5 s. */
int wg__server_ready_self(struct wg_server *s, char *why, size_t whylen);
/* systemd Type=notify: send state ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET, if set. */
void wg__server_sd_notify(const char *state);

/* Request parameters of fleet waves (gate_fleet.c), for gate_server_eval.c. `deploy_times`
 * of a JSON body: an object of target name -> RFC3339 or Unix seconds, each range-checked
 * (400 with a reason). clear frees them; copy duplicates them into a flight; key appends
 * them to a single-flight key. */
struct cJSON;
enum wg_err wg__gate_fleet_deploy_times(struct wg__params *p, const struct cJSON *obj, char *err,
                                        size_t errlen) WG_NODISCARD;
void wg__gate_fleet_params_clear(struct wg__params *p);
enum wg_err wg__gate_fleet_params_copy(struct wg__params *dst,
                                       const struct wg__params *src) WG_NODISCARD;
enum wg_err wg__gate_fleet_params_key(struct wg_buf *b, const struct wg__params *p) WG_NODISCARD;

/* ---- evidence pages: the server side (gate_server_ui.c) -------------------------------- */

/* Keep a monitor tick as an evaluation ("monitor") under id, the id its alerts' links
 * already name (gate_server_monitor.c). WG_OK, or the store's error (not kept). */
enum wg_err wg__ui_monitor_record(struct wg_server *s, const struct wg_config *cfg,
                                  const struct wg_check_report *rep, const char *id) WG_NODISCARD;
/* The page link of evaluation id: server.external_url (else monitor.external_url) +
 * /ui/evaluations/{id} into out. 0 when neither is set (no link) or it does not fit. */
int wg__ui_link(const struct wg_config *cfg, const char *id, char *out, size_t outlen);

/* The pages (gate_server_ui.c): /, /ui/evaluations/{id}, /ui/analyses/{id}. */
#define WG__R_UI_HOME ((enum wg__route)(WG__R_METRICS + 3))
#define WG__R_UI_EVAL ((enum wg__route)(WG__R_METRICS + 4))
#define WG__R_UI_ANALYSIS ((enum wg__route)(WG__R_METRICS + 5))
/* /v1/report/{wave} (the alerts' report_url): 303 to the wave's latest evaluation page. */
#define WG__R_UI_REPORT ((enum wg__route)(WG__R_METRICS + 6))
enum MHD_Result wg__ui_dispatch(struct wg_server *s, struct MHD_Connection *c,
                                struct wg__server_req *r);
/* A page answer: text/html with the strict CSP and no caching (gate_server_ui.c). */
enum MHD_Result wg__ui_reply_html(struct wg_server *s, struct MHD_Connection *c, unsigned status,
                                  const char *html);
/* The same for a page built in b (freed): 500 when an append failed. */
enum MHD_Result wg__ui_reply_page(struct wg_server *s, struct MHD_Connection *c, unsigned status,
                                  struct wg_buf *b);
/* GET / (gate_server_home.c). */
enum MHD_Result wg__ui_home(struct wg_server *s, struct MHD_Connection *c,
                            struct wg__server_req *r);
/* The report_url of a gate answer's JSON (malloc'd), NULL when it has none. */
char *wg__ui_report_url(const char *json);
/* A failed flip analysis' evidence (the page of the look that decided), kept in the events
 * store for its kill-switch records and alerts: set it (link NULL: nothing), get it
 * (malloc'd, NULL when none). */
void wg__ui_flip_link_set(struct wg_server *s, const char *flip_id, const char *link);
char *wg__ui_flip_link_get(struct wg_server *s, const char *flip_id);
/* Store a server evaluation and fill id (>= 33 bytes; "" when not stored; a non-empty id on
 * entry is used as it is): the report as
 * the gate answers it (with its links) into *json. Without a store: plain JSON, id "". */
char *wg__ui_record(struct wg_server *s, const struct wg_config *cfg, const char *kind,
                    const struct wg_check_report *rep, char *id, size_t idlen);

/* ---- serve: events in (gate_server_events*.c) ----------------------------------------------- */

/* POST /v1/events, GET /v1/events, POST /v1/events/{adapter} (r->hook: the adapter index). */
#define WG__R_EVENTS ((enum wg__route)(WG__R_METRICS + 7))
#define WG__R_EVENTS_ADAPTER ((enum wg__route)(WG__R_METRICS + 8))
/* The adapter's index for /v1/events/<name>, -1 when there is none. */
int wg__events_adapter(const char *name);
/* Run fn on the server's alerting under the monitor's lock, then kick its tick (nothing
 * without alerting). gate_server_monitor.c. */
void wg__monitor_with(struct wg_server *s, void (*fn)(struct wg_alerting *a, void *arg), void *arg);
/* The overview page's alerting part: the pending and firing alerts and the silences, two
 * malloc'd JSON arrays (wg_alerting_alerts_json, wg_silence_list_json). WG_ENOTFOUND without
 * alerting, WG_EIO while it restarts; both NULL then. */
enum wg_err wg__monitor_overview(struct wg_server *s, char **alerts, char **silences) WG_NODISCARD;
/* 1 when the adapter authenticates with its own signature header (no bearer token). */
int wg__events_adapter_signed(int i);
/* 1 when sig (hex or "sha256=" hex) is HMAC-SHA256(secret, body); constant time. */
int wg__events_sig_ok(const char *secret, const char *body, size_t len, const char *sig);
/* What a signed sender's request brings: its secret and the signature headers as received
 * (NULL: absent), our clock and the replay tolerance (events.signing.tolerance). */
struct wg__sig_in {
    const char *secret;
    const char *sig;                    /* the adapter's own header (X-LD-Signature, ...) */
    const char *wh_id, *wh_ts, *wh_sig; /* Standard Webhooks' webhook-id/-timestamp/-signature */
    int64_t now_s, tolerance_s;
};
/* Adapter i's signature check over the raw body: NULL when it holds, else why it does not
 * (for the 401 and the log; never the secret). */
const char *wg__events_verify(int i, const struct wg__sig_in *in, const char *body, size_t len);
/* Adapter i's body decode: *n events (0 or 1) into ev (cleared unless *n); WG_EINVAL with why. */
enum wg_err wg__events_decode(int i, const char *body, size_t len, struct wg_event *ev, int *n,
                              char *why, size_t whylen) WG_NODISCARD;
/* Open events.db and start the marker writer (events.write_to). */
enum wg_err wg__events_open(struct wg_server *s, char *err, size_t errlen) WG_NODISCARD;
void wg__events_close(struct wg_server *s);
enum MHD_Result wg__events_route(struct wg_server *s, struct MHD_Connection *c,
                                 struct wg__server_req *r);
/* Queue an event marker (wavegate_events) for events.write_to; never blocks. */
void wg__events_marker(struct wg_server *s, const struct wg__cfgref *gen, const struct wg_event *ev,
                       const char *id, int64_t now_ns);
/* Queue the verdict (wavegate_verdicts) and each rule result (wavegate_rules) for
 * events.write_to; never blocks; nothing without write_to. */
void wg__events_verdict(struct wg_server *s, const struct wg_check_report *rep, int64_t now_ns);
/* The markers' /metrics lines: backlog depth, sent, failed, dropped, retries. */
void wg__events_metrics(struct wg_server *s, struct wg_buf *b);
/* The POST /v1/events body check alone: 0, 400 with err set, 500. */
unsigned wg__events_body_check(const uint8_t *data, size_t size, char *err, size_t errlen);

/* ---- serve: tokens and roles (gate_server_auth.c) ----------------------------------------- */

/* Roles, ordered: admin answers every read route too. */
enum { WG__ROLE_NONE = 0, WG__ROLE_READ = 1, WG__ROLE_ADMIN = 2 };
/* The tokens of sc (server.auth.*, or the deprecated bearer_token_* as admin): WG_ECONFIG with
 * err naming the key when a source is unset, unreadable or empty. Thread-safe after. */
enum wg_err wg__auth_new(const struct wg_server_cfg *sc, struct wg__auth **out, char *err,
                         size_t errlen) WG_NODISCARD;
void wg__auth_free(struct wg__auth *a);
int wg__auth_configured(const struct wg__auth *a);
/* The role of tok (constant time over the stored tokens); first re-reads a token file whose
 * (dev, inode, mtime, size) changed, at most once a second. */
int wg__auth_role(struct wg__auth *a, const char *tok, size_t len);
/* The role of an Authorization header value h (NUL-terminated, NULL: none): "Bearer <token>"
 * anywhere, "Basic base64(user:token)" (any user) where basic is set. The fuzz target
 * tests/fuzz/fuzz_auth.c drives it. */
int wg__auth_header_role(struct wg__auth *a, const char *h, int basic);
/* The first call of a request, after routing: *done = 1 when it answered 401/403. */
enum MHD_Result wg__auth_request(struct wg_server *s, struct MHD_Connection *c,
                                 struct wg__server_req *r, int *done);
/* The role route r needs (gate_server_routes.c, one table): *body_token = 1 when the token may
 * come in the body or a signature instead (Flagger, signed senders), *pages = 1 for browser
 * pages (Basic auth accepted, a Basic challenge answered). */
int wg__route_role(const struct wg__server_req *r, int *body_token, int *pages);

/* ---- serve: looks counted per deploy (gate_server_deploys.c, gate_server_analysis.c) ------ */

#define WG__DEFAULT_LOOKS 30 /* looks planned when neither the request nor the wave says */
#define WG__MAX_LOOKS 10000
/* /v1/gate timeout= at most this (gate_server_eval.c) */
#define WG__MAX_TIMEOUT_NS (300 * WG_NS_PER_SEC)
/* Asks of one deploy question within this long of the current look's start are that look
 * (Flagger asks its rollback and confirm-* hooks one after the other in one tick). */
#define WG__SAME_LOOK_NS (20 * WG_NS_PER_SEC)

/* After a counted look was evaluated: tested (a statistical rule judged at it) moves the
 * deploy's last judged look forward; final (NULL: none) is the verdict of the last planned
 * look, what later looks answer. */
enum wg_err wg__deploys_look_done(struct wg_server *s, const struct wg__params *p, int tested,
                                  const char *final) WG_NODISCARD;
/* /v1/gate naming an analysis (analysis=ID) or a deploy (deploy_id + wave) that an analysis
 * judges (a bake analysis of a deploy event, or POST /v1/analyses with deploy_id): sets
 * p->analysis to its id (WG_OK, NULL when none). */
enum wg_err wg__analyses_for_gate(struct wg_server *s, struct wg__params *p) WG_NODISCARD;
/* The gate answer read from analysis p->analysis: its decision when finished, else
 * inconclusive ("running"), with its latest look's report and {"look": {k, of, ...}}. */
struct wg__verdict *wg__analyses_gate_answer(struct wg_server *s, const struct wg__params *p);
/* gate_server_analysis.c for gate_server_looks.c: the analyses' store locked (unlock with
 * wg__analyses_unlock, also when NULL is returned, unless s has no analyses), PostgreSQL
 * opened on demand (*dberr = 1 and err set when that failed); NULL: no store (SQLite: no
 * analysis was ever started). spec_count: the looks (count) of an analysis' spec; 1 when the
 * spec is another wave's than wave. */
struct wg_sql;
struct wg_sql *wg__analyses_lock(struct wg_server *s, int *dberr, char *err, size_t errlen);
void wg__analyses_unlock(struct wg_server *s);
int wg__analyses_spec_count(const char *spec, const char *wave, int *count);
/* gate_server_looks.c. annotate: the answer json_take (owned) with {"look": {k, of, counted,
 * by, last_judged, share}} first (returned as is when not an object or out of memory).
 * last_judged: a counted look's last judged look per rule (malloc'd, *n of them; NULL when
 * out of memory). tested: 1 when a statistical rule judged (spent budget) in rep. beyond: the
 * answer to a look after max_looks (the last planned look's verdict, a complete Report, no
 * evaluation); NULL when out of memory. */
char *wg__looks_annotate(char *json_take, const struct wg__params *p);
int *wg__looks_last_judged(const struct wg_config *cfg, const struct wg__params *p, size_t *n);
int wg__looks_tested(const struct wg_check_report *rep);
struct wg__verdict *wg__looks_beyond_answer(const struct wg_config *cfg,
                                            const struct wg__params *p);

/* ---- serve: events, shared by gate_server_events*.c ---------------------------------------- */

/* gate_server_events_ingest.c: record one event waiting for the store (the reconcile poll);
 * the POST's event handed to the store's committer with its connection suspended (ev taken),
 * and the resumed call's answer (r->evjob set). */
enum wg_err wg__gate_events_ingest(struct wg_server *s, struct wg__cfgref *gen, struct wg_event *ev,
                                   int *dup, char id[48], char *err, size_t errlen);
enum MHD_Result wg__gate_events_accept(struct wg_server *s, struct MHD_Connection *c,
                                       struct wg__server_req *r, struct wg_event *ev);
enum MHD_Result wg__gate_events_accept_done(struct wg_server *s, struct MHD_Connection *c,
                                            struct wg__server_req *r);
/* gate_server_events.c: one reconcile poll of Unleash's event search (the runner's thread). */
void wg__gate_events_unleash_poll(struct wg_server *s, struct wg_http *h);
/* gate_server_events_runner.c: the flip a flag event plans (fr cleared: none); the runner
 * thread started (s->evrun; WG_ENOMEM) and stopped (joined, NULL-safe). */
void wg__gate_events_flip_plan(const struct wg_config *cfg, const struct wg_event *ev,
                               struct wg_flip_rec *fr);
enum wg_err wg__gate_evrun_start(struct wg_server *s) WG_NODISCARD;
void wg__gate_evrun_stop(struct wg_server *s);

#endif
