/* rules_limits.c — limits over repeated measurements: the pure state machine a bake-time
 * analysis feeds one verdict per interval, modelled on Argo Rollouts' failureLimit,
 * inconclusiveLimit and consecutiveErrorLimit (see rules.h for the exact rules). Errors are
 * counted apart from failures so a data-source outage pauses the analysis instead of failing.
 */
#include "rules/rules_int.h"

#include <stdio.h>

static enum wg_verdict finish(struct wg_limits_state *st, enum wg_verdict v, int *done)
{
    st->done = 1;
    st->verdict = v;
    if (done) {
        *done = 1;
    }
    return v;
}

static enum wg_verdict end_of_run(struct wg_limits_state *st, int *done)
{
    if (st->successes == 0) {
        snprintf(st->reason, sizeof(st->reason),
                 "no passing measurement in %d (%d inconclusive, %d errors)", st->measurements,
                 st->inconclusives, st->errors);
        return finish(st, WG_INCONCLUSIVE, done);
    }
    snprintf(st->reason, sizeof(st->reason), "%d of %d measurements passed", st->successes,
             st->measurements);
    return finish(st, st->warnings ? WG_WARN : WG_PASS, done);
}

enum wg_verdict wg_limits_step(const struct wg_limits *l, struct wg_limits_state *st,
                               enum wg_verdict m, int *done)
{
    if (done) {
        *done = st->done;
    }
    if (st->done) {
        return st->verdict;
    }
    st->measurements++;
    if (m != WG_NOEVAL) {
        st->error_streak = 0;
    }
    if (m != WG_FAIL) {
        st->failure_streak = 0;
    }
    switch (m) {
    case WG_PASS:
    case WG_WARN:
        st->successes++;
        st->warnings += m == WG_WARN;
        break;
    case WG_FAIL:
        st->failures++;
        st->failure_streak++;
        if (l->failure_limit >= 0 && st->failures > l->failure_limit) {
            snprintf(st->reason, sizeof(st->reason), "%d failed measurements > failure_limit %d",
                     st->failures, l->failure_limit);
            return finish(st, WG_FAIL, done);
        }
        if (l->consecutive_failures > 0 && st->failure_streak >= l->consecutive_failures) {
            snprintf(st->reason, sizeof(st->reason), "%d failed measurements in a row",
                     st->failure_streak);
            return finish(st, WG_FAIL, done);
        }
        break;
    case WG_INCONCLUSIVE:
        st->inconclusives++;
        if (l->inconclusive_limit >= 0 && st->inconclusives > l->inconclusive_limit) {
            snprintf(st->reason, sizeof(st->reason),
                     "%d inconclusive measurements > inconclusive_limit %d", st->inconclusives,
                     l->inconclusive_limit);
            return finish(st, WG_INCONCLUSIVE, done);
        }
        break;
    case WG_NOEVAL:
        st->errors++;
        st->error_streak++;
        if (l->error_limit >= 0 && st->error_streak > l->error_limit) {
            snprintf(st->reason, sizeof(st->reason), "%d errors in a row > error_limit %d",
                     st->error_streak, l->error_limit);
            return finish(st, WG_NOEVAL, done);
        }
        break;
    }
    if (l->count > 0 && st->measurements >= l->count) {
        return end_of_run(st, done);
    }
    return WG_PASS;
}

enum wg_verdict wg_limits_finish(const struct wg_limits *l, struct wg_limits_state *st)
{
    (void)l;
    if (st->done) {
        return st->verdict;
    }
    return end_of_run(st, NULL);
}
