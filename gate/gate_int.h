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
                                    char *err, size_t errlen);
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
                                   struct wg_check_report *rep, char *err, size_t errlen);
/* The rule's source for target t: the rule's own, else the target's, else the wave's. */
const struct wg_source *wg__gate_fleet_source(const struct wg_config *cfg, const struct wg_wave *w,
                                              const struct wg_target_report *t,
                                              const struct wg_rule *r);
/* wg_gate_render with the target's placeholders ({{ target }}, its labels, its env). */
enum wg_err wg__gate_fleet_render(const struct wg_source *src, const struct wg_wave *w,
                                  const struct wg_target_report *t, const struct wg_feature *f,
                                  const struct wg_rule *r, int64_t start, int64_t end, char **out,
                                  char *err, size_t errlen);
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

#endif
