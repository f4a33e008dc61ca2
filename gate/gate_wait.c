/* gate_wait.c — bake-time analyses: the step shared with the daemon's /v1/analyses (each
 * look's verdict and report fed to the rules' limits state machine, which fails fast, pauses
 * through errors and decides at the end; the decision is recorded as history), and its loop
 * in the foreground (`wavegate check --wait`). Mann-Whitney rules spend their false-fail
 * budget across the looks, so asking ten times is not ten chances to fail.
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

/* ---- the analysis step (also /v1/analyses, gate_server_analysis.c) --------------------- */

void wg_gate_analysis_init(struct wg_gate_analysis *a, const struct wg_limits *l, int max_looks,
                           const char *record_dir)
{
    memset(a, 0, sizeof(*a));
    a->limits = *l;
    a->max_looks = max_looks;
    a->record_dir = record_dir;
}

void wg_gate_analysis_req(const struct wg_gate_analysis *a, struct wg_check_req *req)
{
    req->look = a->st.measurements + 1;
    req->max_looks = a->max_looks;
    req->last_tested = a->tested;
    req->nlast_tested = a->ntested;
    req->record_history = 0; /* a look is not a decision: the step records the final one */
}

/* A rule was "tested" at this look unless it could not judge (too few samples, an error):
 * untested looks carry their share of the false-fail budget forward. An analysis resumed
 * after a restart does not know its past looks' rules: it takes them all as judged at the
 * look before, which only spends less. */
static void note_tested(struct wg_gate_analysis *a, const struct wg_check_report *rep, int look)
{
    if (!a->tested && rep->nrules) {
        a->tested = calloc(rep->nrules, sizeof(*a->tested));
        a->ntested = a->tested ? rep->nrules : 0;
        for (size_t i = 0; i < a->ntested; i++) {
            a->tested[i] = look - 1;
        }
    }
    for (size_t i = 0; i < rep->nrules && i < a->ntested; i++) {
        /* A pass in a window not complete yet reads inconclusive but did spend its share
         * (res.tested). */
        enum wg_verdict v = rep->rules[i].res.verdict;
        if ((v != WG_INCONCLUSIVE && v != WG_NOEVAL) || rep->rules[i].res.tested) {
            a->tested[i] = look;
        }
    }
}

int wg_gate_analysis_step(struct wg_gate_analysis *a, enum wg_verdict v,
                          const struct wg_check_report *rep)
{
    if (a->st.done) {
        return 1;
    }
    int look = a->st.measurements + 1, done = 0;
    if (rep) {
        note_tested(a, rep, look);
    }
    wg_limits_step(&a->limits, &a->st, v, &done);
    if (!done && a->max_looks > 0 && look >= a->max_looks) {
        wg_limits_finish(&a->limits, &a->st);
    }
    if (a->st.done && rep && a->record_dir) {
        wg__gate_state_record(a->record_dir, rep); /* the decision, not every look */
    }
    return a->st.done;
}

void wg_gate_analysis_finish(struct wg_gate_analysis *a)
{
    wg_limits_finish(&a->limits, &a->st);
}

void wg_gate_analysis_clear(struct wg_gate_analysis *a)
{
    if (a) {
        free(a->tested);
        a->tested = NULL;
        a->ntested = 0;
    }
}

/* ---- check --wait ------------------------------------------------------------------------ */

enum wg_err wg_gate_wait(const struct wg_config *cfg, const struct wg_check_req *req,
                         const struct wg_wait_opts *o, struct wg_limits_state *st,
                         struct wg_check_report **last, char *err, size_t errlen)
{
    int64_t (*now)(void *) = o->now ? o->now : real_now;
    int (*sleep_until)(void *, int64_t) = o->sleep_until ? o->sleep_until : real_sleep_until;
    struct wg_gate_analysis an;
    enum wg_err rc = WG_OK;

    memset(st, 0, sizeof(*st));
    *last = NULL;
    if (o->interval_ns <= 0 || o->count <= 0) {
        snprintf(err, errlen, "interval and count must be positive");
        return WG_EINVAL;
    }
    wg_gate_analysis_init(&an, &o->limits, o->count,
                          req->state_dir ? req->state_dir : cfg->state_dir);
    int64_t next = now(o->ud);
    for (int look = 1; look <= o->count; look++) {
        if (look > 1 && sleep_until(o->ud, next)) {
            wg_gate_analysis_finish(&an);
            break;
        }
        struct wg_check_req r = *req;
        r.now_ns = now(o->ud);
        if (o->look_timeout_ns > 0) {
            r.deadline_mono_ns = wg_mono_ns() + o->look_timeout_ns;
        }
        wg_gate_analysis_req(&an, &r);
        struct wg_check_report *rep = NULL;
        rc = wg_gate_check(cfg, &r, &rep, err, errlen);
        if (rc != WG_OK) {
            break;
        }
        int done = wg_gate_analysis_step(&an, rep->verdict, rep);
        if (o->on_look) {
            o->on_look(o->ud, look, rep, &an.st);
        }
        wg_check_report_free(*last);
        *last = rep;
        if (done) {
            break;
        }
        next += o->interval_ns;
    }
    *st = an.st;
    wg_gate_analysis_clear(&an);
    if (rc != WG_OK) {
        wg_check_report_free(*last);
        *last = NULL;
    }
    return rc;
}
