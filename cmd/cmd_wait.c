/* cmd_wait.c — `wavegate check --wait`: a bake-time analysis in the foreground. Prints a
 * line per look on stderr (stdout stays the final report), and exits with the analysis'
 * verdict; SIGINT/SIGTERM stop it early with what was decided so far.
 */
#include "cmd/cmd_int.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_signal(int sig)
{
    (void)sig; /* only interrupts the sleep */
}

static void on_look(void *ud, int look, const struct wg_check_report *rep,
                    const struct wg_limits_state *st)
{
    const int *count = ud;
    char t[48];
    size_t fails = 0;
    for (size_t i = 0; i < rep->nrules; i++) {
        fails += rep->rules[i].res.verdict == WG_FAIL;
    }
    fprintf(stderr, "%s look %d/%d: %s (%zu of %zu rules fail)%s%s\n",
            wg_time_format(wg_now_ns() / WG_NS_PER_SEC * WG_NS_PER_SEC, t, sizeof(t)), look, *count,
            wg_verdict_name(rep->verdict), fails, rep->nrules, st->done ? "; analysis: " : "",
            st->done ? st->reason : "");
}

/* Looks needed so the last one comes after every rule's window has ended. */
static int default_count(const struct wg_config *cfg, const struct wg_check_req *req,
                         int64_t interval)
{
    if (!req->deploy_ns) {
        return 10;
    }
    int64_t end = 0, now = wg_now_ns();
    const struct wg_wave *w = wg_config_wave(cfg, req->wave);
    for (size_t f = 0; w && f < cfg->nfeatures; f++) {
        for (size_t i = 0; i < cfg->features[f].nrules; i++) {
            struct wg_rule_params p;
            wg_config_effective(&cfg->features[f].rules[i], w, &p);
            int64_t e = req->deploy_ns + p.delay_ns + p.window_ns;
            end = e > end ? e : end;
        }
    }
    if (end <= now) {
        return 1;
    }
    int64_t n = (end - now + interval - 1) / interval + 1;
    return n > 1000 ? 1000 : (int)n;
}

int wg__cmd_check_wait(const struct wg_config *cfg, const struct wg_check_req *req,
                       const struct wg__cmd_wait *w, int json)
{
    struct wg_wait_opts o;
    memset(&o, 0, sizeof(o));
    o.interval_ns = w->interval_ns ? w->interval_ns : 60 * WG_NS_PER_SEC;
    o.look_timeout_ns = w->timeout_ns;
    int count = (int)w->count;
    if (!count && w->duration_ns) {
        count = (int)(w->duration_ns / o.interval_ns) + 1;
    }
    if (!count) {
        count = default_count(cfg, req, o.interval_ns);
    }
    o.count = count;
    o.limits.count = count;
    o.limits.failure_limit = w->limits_set[0] ? w->limits.failure_limit : 0;
    o.limits.consecutive_failures = w->limits_set[1] ? w->limits.consecutive_failures : -1;
    o.limits.inconclusive_limit = w->limits_set[2] ? w->limits.inconclusive_limit : count;
    o.limits.error_limit = w->limits_set[3] ? w->limits.error_limit : 3;
    o.on_look = on_look;
    o.ud = &count;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct wg_limits_state st;
    struct wg_check_report *rep = NULL;
    char err[1024];
    enum wg_err rc = wg_gate_wait(cfg, req, &o, &st, &rep, err, sizeof(err));
    if (rc == WG_ENOTFOUND) {
        fprintf(stderr, "wavegate: %s\n", err);
        return WG_EXIT_USAGE;
    }
    if (rc != WG_OK || !rep) {
        fprintf(stderr, "wavegate: check failed: %s\n", rc != WG_OK ? err : "no look taken");
        wg_check_report_free(rep);
        return WG_EXIT_ERROR;
    }
    if (json) {
        char *js = wg_gate_report_json(rep);
        cJSON *doc = js ? cJSON_Parse(js) : NULL;
        free(js);
        if (doc) {
            /* The analysis decides; the last look's rules explain it. */
            cJSON_ReplaceItemInObject(
                doc, "verdict",
                cJSON_CreateString(st.verdict == WG_WARN ? "pass" : wg_verdict_name(st.verdict)));
            cJSON *a = cJSON_AddObjectToObject(doc, "analysis");
            cJSON_AddStringToObject(a, "verdict", wg_verdict_name(st.verdict));
            cJSON_AddStringToObject(a, "reason", st.reason);
            cJSON_AddNumberToObject(a, "measurements", st.measurements);
            cJSON_AddNumberToObject(a, "successes", st.successes);
            cJSON_AddNumberToObject(a, "failures", st.failures);
            cJSON_AddNumberToObject(a, "inconclusives", st.inconclusives);
            cJSON_AddNumberToObject(a, "errors", st.errors);
            char *out = cJSON_PrintUnformatted(doc);
            if (out) {
                printf("%s\n", out);
            }
            free(out);
            cJSON_Delete(doc);
        }
    } else {
        wg_gate_report_text(rep, stdout);
        printf("analysis: %s after %d look(s): %s\n", wg_verdict_name(st.verdict), st.measurements,
               st.reason);
    }
    wg_check_report_free(rep);
    return wg_gate_exit_code(st.verdict);
}
