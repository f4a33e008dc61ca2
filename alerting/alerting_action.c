/* alerting_action.c — kill switches: one attempt of a feature's `on_fail:` action (turn the
 * flag off through Unleash's Admin API, or any templated webhook), with its answer kept for
 * the attempt record. Retries, idempotency and the durable queue are the caller's
 * (gate/gate_server_events_runner.c keeps them in the event store).
 */
#include "alerting/alerting.h"
#include "common/http.h"
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* {{ name }} (spaces optional) → the context's value; unknown names are left as written. */
static void render(struct wg_buf *b, const char *t, const struct wg_action_ctx *x, int url)
{
    static const char *const names[] = {"feature", "flag", "env", "wave", "event_id", "verdict"};
    const char *vals[] = {x->feature, x->flag, x->env, x->wave, x->event_id, x->verdict};
    while (t && *t) {
        const char *o = strstr(t, "{{");
        const char *e = o ? strstr(o, "}}") : NULL;
        if (!o || !e) {
            wg_buf_adds(b, t);
            return;
        }
        wg_buf_add(b, t, (size_t)(o - t));
        const char *k = o + 2;
        while (*k == ' ') {
            k++;
        }
        size_t kl = 0;
        while (k + kl < e && k[kl] != ' ') {
            kl++;
        }
        size_t i = 0;
        while (i < 6 && (strlen(names[i]) != kl || strncmp(names[i], k, kl))) {
            i++;
        }
        if (i == 6) {
            wg_buf_add(b, o, (size_t)(e + 2 - o));
        } else if (url) {
            wg_http_urlencode(b, vals[i] ? vals[i] : "");
        } else {
            wg_buf_add_json_chars(b, vals[i]);
        }
        t = e + 2;
    }
}

enum wg_err wg_alerting_action_run(struct wg_http *h, const struct wg_action *a,
                                   const struct wg_action_ctx *x, long *status, char *answer,
                                   size_t answerlen)
{
    struct wg_buf u, body;
    wg_buf_init(&u, 8192);
    wg_buf_init(&body, 256 * 1024);
    char *auth = NULL;
    char idl[160], tsl[64], sigl[160];
    const char *hdrs[5] = {"Content-Type: application/json", NULL, NULL, NULL, NULL};
    size_t nh = 1;
    const char *method = "POST";
    enum wg_err rc = WG_OK;
    *status = 0;
    answer[0] = '\0';
    if (a->kind == WG_ACTION_UNLEASH) {
        const char *env = a->environment ? a->environment : x->env;
        wg_buf_adds(&u, a->url);
        while (u.len && u.p[u.len - 1] == '/') {
            u.p[--u.len] = '\0';
        }
        wg_buf_adds(&u, "/api/admin/projects/");
        wg_http_urlencode(&u, a->project ? a->project : "default");
        wg_buf_adds(&u, "/features/");
        wg_http_urlencode(&u, x->flag ? x->flag : "");
        wg_buf_adds(&u, "/environments/");
        wg_http_urlencode(&u, env ? env : "");
        wg_buf_adds(&u, "/off");
    } else {
        render(&u, a->url, x, 1);
        render(&body, a->body ? a->body : "", x, 0);
        method = a->method ? a->method : "POST";
    }
    if ((rc = wg_buf_err(&u)) != WG_OK || (rc = wg_buf_err(&body)) != WG_OK) {
        snprintf(answer, answerlen, "cannot build the request: %s", wg_strerror(rc));
        goto out;
    }
    if (a->dry_run) {
        snprintf(answer, answerlen, "dry run: would %s %s", method, u.p);
        goto out;
    }
    if (a->token_env) {
        const char *tok = getenv(a->token_env);
        if (!tok || !*tok) {
            snprintf(answer, answerlen, "environment variable %s is not set", a->token_env);
            rc = WG_ECONFIG;
            goto out;
        }
        wg_log_add_secret(tok);
        /* Unleash takes the raw secret; a webhook gets a bearer token */
        auth = wg_asprintf(
            a->kind == WG_ACTION_UNLEASH ? "Authorization: %s" : "Authorization: Bearer %s", tok);
        if (!auth) {
            rc = WG_ENOMEM;
            goto out;
        }
        hdrs[nh++] = auth;
    }
    if (a->kind == WG_ACTION_WEBHOOK && a->secret_env) {
        /* Standard Webhooks: the id is stable per event and action (receivers dedupe on it) */
        const char *secret = getenv(a->secret_env);
        char wid[96], sig[128];
        int64_t ts = wg_now_ns() / WG_NS_PER_SEC;
        snprintf(wid, sizeof(wid), "%s-%d", x->event_id ? x->event_id : "-", x->index);
        if (!secret || wg_alerting_sign(secret, wid, ts, body.p ? body.p : "", body.len, sig,
                                        sizeof(sig)) != 0) {
            snprintf(answer, answerlen, "environment variable %s is not set or not a whsec_ secret",
                     a->secret_env);
            rc = WG_ECONFIG;
            goto out;
        }
        wg_log_add_secret(secret);
        snprintf(idl, sizeof(idl), "webhook-id: %s", wid);
        snprintf(tsl, sizeof(tsl), "webhook-timestamp: %lld", (long long)ts);
        snprintf(sigl, sizeof(sigl), "webhook-signature: %s", sig);
        hdrs[nh++] = idl;
        hdrs[nh++] = tsl;
        hdrs[nh++] = sigl;
    }
    struct wg_http_job j;
    memset(&j, 0, sizeof(j));
    j.method = method;
    j.url = u.p;
    j.headers = hdrs;
    j.nheaders = nh;
    j.body = body.p ? body.p : "";
    j.body_len = body.len;
    j.timeout_ns = 10 * WG_NS_PER_SEC;
    j.max_bytes = 1 << 20;
    j.keep_bytes = 2048;
    rc = wg_http_run(h, &j, 1, NULL);
    if (rc == WG_OK) {
        rc = j.err;
    }
    *status = j.status;
    snprintf(answer, answerlen, "%s%s%.*s", rc == WG_OK ? "" : j.errmsg,
             rc == WG_OK || !j.errbody.len ? "" : ": ",
             (int)(j.errbody.len > 400 ? 400 : j.errbody.len), j.errbody.p ? j.errbody.p : "");
    wg_redact(answer);
    wg_http_job_clear(&j);
out:
    free(auth);
    wg_buf_free(&u);
    wg_buf_free(&body);
    return rc;
}

enum wg_err wg_alerting_flip_event(struct wg_alerting *a, const char *scope, const char *alertname,
                                   const char *severity, const struct wg_action_ctx *x,
                                   const char *summary, int64_t now_ns)
{
    const struct wg_alert_config *cfg = wg_alerting_config(a);
    struct wg_alert_labels ls = {0}, an = {0};
    enum wg_err rc = WG_ENOMEM;
    const char *ext = cfg->monitor.external_url;
    int own = x->report_url && x->report_url[0]; /* the evaluation page of the decision */
    char *url = own   ? wg_strdup(x->report_url)
                : ext ? wg_asprintf("%s/v1/events/actions", ext)
                      : NULL;
    int linked = own || ext; /* a link is due: its allocation must not fail */
    if (wg_alert_labels_set(&ls, "alertname", alertname) ||
        wg_alert_labels_set(&ls, "severity", severity) ||
        wg_alert_labels_set(&ls, "origin", "flip") ||
        (x->feature && wg_alert_labels_set(&ls, "feature", x->feature)) ||
        (x->flag && wg_alert_labels_set(&ls, "flag", x->flag)) ||
        (x->env && wg_alert_labels_set(&ls, "env", x->env)) ||
        (x->wave && wg_alert_labels_set(&ls, "wave", x->wave)) ||
        (x->event_id && wg_alert_labels_set(&ls, "event_id", x->event_id)) ||
        wg_alert_labels_set(&an, "summary", summary) ||
        (linked && (!url || wg_alert_labels_set(&an, "report_url", url)))) {
        goto out;
    }
    struct wg_alert_eval ev = {WG_ALERTING_EVENT_KEY, ls.v, ls.n, an.v, an.n, WG_COND_BREACH};
    rc = wg_alerting_eval(a, scope, &ev, 1, now_ns);
out:
    free(url);
    wg_alert_labels_clear(&ls);
    wg_alert_labels_clear(&an);
    return rc;
}
