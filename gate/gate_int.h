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
 * window when the rule has a window or pinned baseline. */
void wg__gate_windows(const struct wg_rule *r, const struct wg_rule_params *p, int64_t deploy_ns,
                      int64_t now, struct wg__gate_windows *out);
/* Render r's query for wave w over [start, end). */
enum wg_err wg__gate_render(const struct wg_source *src, const struct wg_wave *w,
                            const struct wg_feature *f, const struct wg_rule *r, int64_t start,
                            int64_t end, char **out, char *err, size_t errlen);
/* The rule's source, or the wave's; NULL when neither names a known source. */
const struct wg_source *wg__gate_rule_source(const struct wg_config *cfg, const struct wg_wave *w,
                                             const struct wg_rule *r);

#endif
