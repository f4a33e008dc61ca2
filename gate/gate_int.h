/* gate_int.h — what the gate's evaluation files share (gate_check, gate_wait, gate_state,
 * gate_report, gate_observe): the state store and planning. Not for use outside gate/. No
 * server type here: the server's internals are in gate_server_int.h, on top of this one.
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
                                    char *err, size_t errlen) WG_NODISCARD;
/* Record every rule result of a report (best effort: failures are logged, not returned).
 * Only rules that somebody may use as `baseline: previous` are recorded. */
void wg__gate_state_record(const char *state_dir, const struct wg_check_report *rep);

/* The one-sided false-fail budget of a rule at its confidence: (1 - confidence) / 2. */
double wg__gate_alpha(const struct wg_rule_params *p);

/* ---- fleet waves (gate_fleet.c) ----------------------------------------------------------- */

/* The targets a check judges (rep->targets, ntargets, fleet): the wave's (or the one the
 * request names), each with its deploy time. WG_ENOTFOUND with err naming the known targets
 * when the request names a target (or a deploy time of one) the wave does not have. */
enum wg_err wg__gate_fleet_targets(const struct wg_wave *w, const struct wg_check_req *req,
                                   struct wg_check_report *rep, char *err,
                                   size_t errlen) WG_NODISCARD;
/* The rule's source for target t: the rule's own, else the target's, else the wave's. */
const struct wg_source *wg__gate_fleet_source(const struct wg_config *cfg, const struct wg_wave *w,
                                              const struct wg_target_report *t,
                                              const struct wg_rule *r);
/* wg_gate_render with the target's placeholders ({{ target }}, its labels, its env). */
enum wg_err wg__gate_fleet_render(const struct wg_source *src, const struct wg_wave *w,
                                  const struct wg_target_report *t, const struct wg_feature *f,
                                  const struct wg_rule *r, int64_t start, int64_t end, char **out,
                                  char *err, size_t errlen) WG_NODISCARD;
/* After every rule is evaluated: judge `judge: peers` rules across the targets (rules.h). */
void wg__gate_fleet_peers(struct wg_check_report *rep, int64_t now);
/* Each target over its own rules and features (combine_one on a view of its slice), then the
 * wave over its targets under w's policy. */
void wg__gate_fleet_combine(struct wg_check_report *rep, const struct wg_wave *w,
                            void (*combine_one)(struct wg_check_report *));

/* The overall parallel requests of one check: every source at its own max_concurrency at
 * once (a fleet's targets side by side, not queued behind the collector's default of 64),
 * at least 64, at most 1024. */
int wg__gate_fleet_max_total(const struct wg_query *qs, size_t nq);

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
/* A verdict name as a coloured badge: <span class="badge v-fail">fail</span>; NULL: error. */
void wg__html_badge(struct wg_buf *b, const char *verdict);
/* <a href="href">text</a>, both escaped. */
void wg__html_a(struct wg_buf *b, const char *href, const char *text);
/* The next table cell: </td><td> then text escaped (NULL: empty). */
void wg__html_cell(struct wg_buf *b, const char *text);
/* o's string member k, NULL when absent or not a string. */
const char *wg__html_jstr(const cJSON *o, const char *k);

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
enum wg_err wg__evals_series_encode(const struct wg_check_report *r,
                                    struct wg_buf *out) WG_NODISCARD;
/* *sets: 2 * nrules series sets (current, baseline per rule); free with
 * wg__evals_series_free(*sets, *nrules). */
enum wg_err wg__evals_series_decode(const void *blob, size_t len, struct wg_seriesset **sets,
                                    size_t *nrules) WG_NODISCARD;
void wg__evals_series_free(struct wg_seriesset *sets, size_t nrules);

/* The evaluation store (gate_evals.c): the last `keep` evaluations (server.evaluations.keep,
 * default WG__EVALS_KEEP), none older than max_age (default WG__EVALS_MAX_AGE_NS), in
 * state_dir/evaluations.db, each its report JSON and series blob. Thread-safe. keep <= 0 and
 * max_age_ns <= 0 take the defaults. */
#define WG__EVALS_KEEP 1000
#define WG__EVALS_MAX_AGE_NS (7 * 24 * 3600 * WG_NS_PER_SEC)
struct wg__evals;
enum wg_err wg__evals_open(const char *state_dir, long keep, int64_t max_age_ns,
                           struct wg__evals **out, char *err, size_t errlen) WG_NODISCARD;
/* A reload's retention (same defaults as open): in force for the next insert, and what it
 * no longer keeps is deleted at once. Said in the log when it changed. */
enum wg_err wg__evals_retention(struct wg__evals *e, long keep, int64_t max_age_ns);
/* The retention in force (for the pages' "unknown or expired" answers). */
long wg__evals_keep(const struct wg__evals *e);
int64_t wg__evals_max_age(const struct wg__evals *e);
void wg__evals_close(struct wg__evals *e);
/* A new evaluation id: 32 hex digits (id >= 33 bytes). */
enum wg_err wg__evals_new_id(char *id, size_t idlen) WG_NODISCARD;
/* Store one evaluation (kind: "gate", "analysis", "monitor", "flag"; features: the JSON array
 * [{feature, verdict[, target]}] the overview reads, NULL "[]") under id, or a new id
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

/* 0 when id is no longer kept (retention), 1 when it is (or the store cannot say). */
int wg__evals_has(struct wg__evals *e, const char *id);
/* The id of the wave's latest stored evaluation: WG_ENOTFOUND when none. */
enum wg_err wg__evals_latest(struct wg__evals *e, const char *wave, char *id,
                             size_t idlen) WG_NODISCARD;

/* ---- a store's connection (gate_db.c): the evidence store and the event store ------------- */

#include "common/store.h"

#include <pthread.h>

/* SQLite's one handle, used under mu by one caller at a time, or (state: {backend: postgres})
 * a pooled PostgreSQL connection of its own per call, opened with opts. */
struct wg__gate_db {
    struct wg_sql *db;       /* SQLite: the one handle; PostgreSQL: NULL */
    int pg;                  /* PostgreSQL: the tables are shared by every replica */
    pthread_mutex_t mu;      /* SQLite: one caller of the handle at a time */
    struct wg_sql_opts opts; /* PostgreSQL: each call's open (the store's name, migrations) */
};
/* Open (and migrate) the store o names (its strings and migrations must outlive d; the state
 * dir need not). Errors as wg_sql_open; on failure nothing is left to close. */
enum wg_err wg__gate_db_open(struct wg__gate_db *d, const struct wg_sql_opts *o, char *err,
                             size_t errlen) WG_NODISCARD;
/* The connection for one call: SQLite's handle with mu held, or a PostgreSQL connection from
 * the pool (NULL with err from wg_sql_open when the database cannot be reached). Give it back:
 * give unlocks, or rolls back a transaction a failed call left open and closes (into the pool). */
struct wg_sql *wg__gate_db_take(struct wg__gate_db *d, char *err, size_t errlen);
void wg__gate_db_give(struct wg__gate_db *d, struct wg_sql *c);
/* SQLite's handle closed and mu destroyed (after the last give). */
void wg__gate_db_close(struct wg__gate_db *d);

/* An evaluation's deadline (wg_check_req.deadline_mono_ns) reached, or within 10 ms of it:
 * what ended then may have been cut by it (gate_check.c names those queries; serve does not
 * cache such an answer). 0: no deadline. */
static inline int wg__gate_deadline_reached(int64_t deadline_mono_ns)
{
    return deadline_mono_ns && wg_mono_ns() >= deadline_mono_ns - WG_NS_PER_SEC / 100;
}

#endif
