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

#endif
