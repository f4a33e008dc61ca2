/* gate_wait.c — a bake-time analysis in the foreground (`wavegate check --wait`): the same
 * gate question asked every interval, each answer fed to the rules' limits state machine,
 * which fails fast, pauses through errors and decides at the end. Mann-Whitney rules spend
 * their false-fail budget across the looks, so asking ten times is not ten chances to fail.
 */
#include "gate/gate_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t real_now(void *ud)
{
    (void)ud;
    return wg_now_ns();
}

static int real_sleep_until(void *ud, int64_t wall_ns)
{
    (void)ud;
    struct timespec ts = {(time_t)(wall_ns / WG_NS_PER_SEC), (long)(wall_ns % WG_NS_PER_SEC)};
    /* EINTR is a signal (SIGINT, SIGTERM): stop waiting, the caller decides. */
    return clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) != 0;
}

enum wg_err wg_gate_wait(const struct wg_config *cfg, const struct wg_check_req *req,
                         const struct wg_wait_opts *o, struct wg_limits_state *st,
                         struct wg_check_report **last, char *err, size_t errlen)
{
    int64_t (*now)(void *) = o->now ? o->now : real_now;
    int (*sleep_until)(void *, int64_t) = o->sleep_until ? o->sleep_until : real_sleep_until;
    int *tested = NULL;
    size_t ntested = 0;
    enum wg_err rc = WG_OK;

    memset(st, 0, sizeof(*st));
    *last = NULL;
    if (o->interval_ns <= 0 || o->count <= 0) {
        snprintf(err, errlen, "interval and count must be positive");
        return WG_EINVAL;
    }
    int64_t next = now(o->ud);
    for (int look = 1; look <= o->count; look++) {
        if (look > 1 && sleep_until(o->ud, next)) {
            wg_limits_finish(&o->limits, st);
            break;
        }
        struct wg_check_req r = *req;
        r.now_ns = now(o->ud);
        r.look = look;
        r.max_looks = o->count;
        r.last_tested = tested;
        r.nlast_tested = ntested;
        struct wg_check_report *rep = NULL;
        rc = wg_gate_check(cfg, &r, &rep, err, errlen);
        if (rc != WG_OK) {
            break;
        }
        if (!tested) {
            ntested = rep->nrules;
            tested = calloc(ntested ? ntested : 1, sizeof(*tested));
            if (!tested) {
                wg_check_report_free(rep);
                rc = WG_ENOMEM;
                break;
            }
        }
        /* A rule was "tested" at this look unless it could not judge (too few samples):
         * untested looks carry their share of the budget forward. A pass in a window not
         * complete yet reads inconclusive but did spend its share (res.tested). */
        for (size_t i = 0; i < rep->nrules && i < ntested; i++) {
            enum wg_verdict v = rep->rules[i].res.verdict;
            if ((v != WG_INCONCLUSIVE && v != WG_ERROR) || rep->rules[i].res.tested) {
                tested[i] = look;
            }
        }
        int done = 0;
        wg_limits_step(&o->limits, st, rep->verdict, &done);
        if (look == o->count && !done) {
            wg_limits_finish(&o->limits, st);
            done = 1;
        }
        if (o->on_look) {
            o->on_look(o->ud, look, rep, st);
        }
        wg_check_report_free(*last);
        *last = rep;
        if (done || st->done) {
            break;
        }
        next += o->interval_ns;
    }
    free(tested);
    if (rc != WG_OK) {
        wg_check_report_free(*last);
        *last = NULL;
    }
    return rc;
}
