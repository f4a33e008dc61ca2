/* alerting_payload.c — renders one notification into the exact request each receiver expects:
 * webhook (Alertmanager v4 body), Slack (text + blocks), Teams (Workflows Adaptive Card),
 * PagerDuty Events v2, Opsgenie (create / close by alias), Alertmanager (POST /api/v2/alerts).
 * Title/text templates fall back to a plain text when a referenced field is missing. Every
 * buffer keeps a sticky error checked once at the end: a payload short of memory is refused
 * (WG_ENOMEM), never sent truncated (test_alerting_payload.c: payload_alloc_failures).
 */
#include "alerting/alerting_int.h"
#include "common/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PD_SUMMARY_MAX 1024
#define OG_MESSAGE_MAX 130
#define SLACK_HEADER_MAX 150
#define SLACK_SECTION_MAX 3000
#define BODY_MAX (512u * 1024u)

void wg__req_clear(struct wg__deliver_req *r)
{
    if (r) {
        free(r->url);
        free(r->headers);
        free(r->body);
        r->url = r->headers = r->body = NULL;
    }
}

/* Cut s to at most max bytes on a UTF-8 boundary, marking the cut with "…". */
static void truncate_utf8(char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max || max < 4) {
        return;
    }
    size_t cut = max - 3;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) {
        cut--;
    }
    memcpy(s + cut, "\xe2\x80\xa6", 4);
}

static const char *common_label(const struct wg__notif *nt, const char *k)
{
    const char *v = nt->n ? wg__labels_get(&nt->alerts[0]->labels, k) : NULL;
    for (size_t i = 1; v && i < nt->n; i++) {
        const char *o = wg__labels_get(&nt->alerts[i]->labels, k);
        if (!o || strcmp(o, v) != 0) {
            return NULL;
        }
    }
    return v;
}

/* 0, or -1 out of memory (the set is then incomplete). */
static int common_set(const struct wg__notif *nt, int ann, struct wg__labels *out)
{
    int bad = 0;
    if (!nt->n) {
        return 0;
    }
    const struct wg__labels *first = ann ? &nt->alerts[0]->ann : &nt->alerts[0]->labels;
    for (size_t k = 0; k < first->n; k++) {
        int same = 1;
        for (size_t i = 1; same && i < nt->n; i++) {
            const char *o =
                wg__labels_get(ann ? &nt->alerts[i]->ann : &nt->alerts[i]->labels, first->v[k].key);
            same = o && strcmp(o, first->v[k].value) == 0;
        }
        if (same) {
            bad |= wg__labels_set(out, first->v[k].key, first->v[k].value) != WG_OK;
        }
    }
    return bad ? -1 : 0;
}

static const char *status_of(const struct wg__notif *nt)
{
    return nt->nfiring ? "firing" : "resolved";
}

enum wg_err wg__message_render(const char *t, const struct wg__notif *nt, struct wg_buf *out)
{
    const char *p = t;
    while (*p) {
        const char *s = strstr(p, "{{");
        if (!s) {
            wg_buf_adds(out, p);
            break;
        }
        wg_buf_add(out, p, (size_t)(s - p));
        const char *e = strstr(s + 2, "}}");
        if (!e) {
            return WG_EINVAL;
        }
        const char *a = s + 2, *b = e;
        while (a < b && *a == ' ') {
            a++;
        }
        while (b > a && b[-1] == ' ') {
            b--;
        }
        char f[128];
        snprintf(f, sizeof(f), "%.*s", (int)(b - a), a);
        const char *v = NULL;
        char num[32];
        if (strcmp(f, "status") == 0) {
            v = status_of(nt);
        } else if (strcmp(f, "receiver") == 0) {
            v = nt->rcv ? nt->rcv->name : "";
        } else if (strcmp(f, "count") == 0) {
            snprintf(num, sizeof(num), "%zu", nt->n);
            v = num;
        } else if (strcmp(f, "alertname") == 0) {
            v = nt->n ? wg__labels_get(&nt->alerts[0]->labels, "alertname") : NULL;
        } else if (strncmp(f, "labels.", 7) == 0 && nt->n) {
            v = wg__labels_get(&nt->alerts[0]->labels, f + 7);
        } else if (strncmp(f, "annotations.", 12) == 0 && nt->n) {
            v = wg__labels_get(&nt->alerts[0]->ann, f + 12);
        } else if (strncmp(f, "group.", 6) == 0 && nt->g) {
            v = wg__labels_get(&nt->g->glabels, f + 6);
        } else if (strncmp(f, "common.", 7) == 0) {
            v = common_label(nt, f + 7);
        }
        if (!v) {
            return WG_EINVAL; /* the caller sends the plain fallback instead */
        }
        wg_buf_adds(out, v);
        p = e + 2;
    }
    return WG_OK;
}

static char *default_title(const struct wg__notif *nt)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    wg_buf_addf(&b, "[%s:%zu] %s", nt->nfiring ? "FIRING" : "RESOLVED",
                nt->nfiring ? nt->nfiring : nt->n,
                nt->n ? (wg__labels_get(&nt->alerts[0]->labels, "alertname")
                             ? wg__labels_get(&nt->alerts[0]->labels, "alertname")
                             : "alert")
                      : "alert");
    for (size_t i = 0; nt->g && i < nt->g->glabels.n; i++) {
        if (strcmp(nt->g->glabels.v[i].key, "alertname") != 0) {
            wg_buf_addf(&b, " %s", nt->g->glabels.v[i].value);
        }
    }
    char *t = NULL;
    return wg_buf_finish(&b, &t) == WG_OK ? t : NULL;
}

/* The 64 KiB cap on a title or text cuts it on purpose; running out of memory does not. */
static char *take_capped(struct wg_buf *b)
{
    if (wg_buf_err(b) == WG_ETOOBIG) {
        return wg_buf_take(b);
    }
    char *t = NULL;
    return wg_buf_finish(b, &t) == WG_OK ? t : NULL;
}

static char *default_text(const struct wg__notif *nt)
{
    struct wg_buf b;
    wg_buf_init(&b, 64 * 1024);
    for (size_t i = 0; i < nt->n; i++) {
        const struct wg__alert *al = nt->alerts[i];
        const char *sum = wg__labels_get(&al->ann, "summary");
        const char *an = wg__labels_get(&al->labels, "alertname");
        if (wg_buf_addf(&b, "%s%s %s: %s", i ? "\n" : "", i < nt->nfiring ? "FIRING" : "RESOLVED",
                        an ? an : "alert", sum ? sum : "") != WG_OK) {
            break;
        }
    }
    return take_capped(&b);
}

static char *render(const char *tmpl, const struct wg__notif *nt, int text)
{
    if (tmpl) {
        struct wg_buf b;
        wg_buf_init(&b, 64 * 1024);
        if (wg__message_render(tmpl, nt, &b) == WG_OK) {
            return take_capped(&b);
        }
        if (wg_buf_err(&b) == WG_ENOMEM) {
            wg_buf_free(&b);
            return NULL;
        }
        wg_buf_free(&b);
        wg_log(WG_LOG_WARN, "alerting: receiver %s: template failed; sending plain text",
               nt->rcv ? nt->rcv->name : "?");
    }
    return text ? default_text(nt) : default_title(nt);
}

static void time_json(struct wg_buf *b, int64_t ns)
{
    char t[48];
    if (ns <= 0) {
        wg_buf_adds(b, "\"0001-01-01T00:00:00Z\"");
        return;
    }
    wg_time_format(ns, t, sizeof(t));
    wg_buf_addf(b, "\"%s\"", t);
}

static void generator_url(struct wg_buf *b, const struct wg_alert_config *cfg,
                          const struct wg__alert *al)
{
    const char *w = wg__labels_get(&al->labels, "wave");
    const char *ru = wg__labels_get(&al->ann, "report_url");
    if (ru && *ru) {
        wg_buf_adds(b, ru); /* the evidence of this alert (the gate's evaluation page) */
    } else if (cfg->monitor.external_url && w) {
        /* a route the server answers (there is no /v1/report): the wave's current verdict */
        if (wg_buf_addf(b, "%s/v1/gate?wave=", cfg->monitor.external_url) != WG_OK ||
            wg_http_urlencode(b, w) != WG_OK) {
            wg_buf_reset(b); /* no half link */
        }
    } else if (cfg->monitor.external_url) {
        wg_buf_adds(b, cfg->monitor.external_url);
    }
}

static void alert_json(struct wg_buf *b, const struct wg_alert_config *cfg,
                       const struct wg__alert *al, int firing)
{
    struct wg_buf gu;
    wg_buf_init(&gu, 0);
    generator_url(&gu, cfg, al);
    wg_buf_addf(b, "{\"status\":\"%s\",\"labels\":", firing ? "firing" : "resolved");
    wg__labels_json(b, &al->labels);
    wg_buf_adds(b, ",\"annotations\":");
    wg__labels_json(b, &al->ann);
    wg_buf_adds(b, ",\"startsAt\":");
    time_json(b, al->starts_at);
    wg_buf_adds(b, ",\"endsAt\":");
    time_json(b, firing ? 0 : al->ends_at);
    wg_buf_adds(b, ",\"generatorURL\":");
    wg_buf_add_json(b, gu.p ? gu.p : "");
    wg_buf_fail(b, wg_buf_err(&gu));
    wg_buf_addf(b, ",\"fingerprint\":\"%s\"}", al->fps);
    wg_buf_free(&gu);
}

static void webhook_body(struct wg_buf *b, const struct wg_alert_config *cfg,
                         const struct wg__notif *nt, const char *title, const char *text)
{
    struct wg__labels cl = {0}, ca = {0};
    size_t n = nt->n;
    if (nt->rcv->max_alerts > 0 && n > (size_t)nt->rcv->max_alerts) {
        n = (size_t)nt->rcv->max_alerts;
    }
    if (common_set(nt, 0, &cl) != 0 || common_set(nt, 1, &ca) != 0) {
        wg_buf_fail(b, WG_ENOMEM);
    }
    wg_buf_adds(b, "{\"version\":\"4\",\"groupKey\":");
    wg_buf_add_json(b, nt->g ? nt->g->key : "test");
    wg_buf_addf(b, ",\"truncatedAlerts\":%zu,\"status\":\"%s\",\"receiver\":", nt->n - n,
                status_of(nt));
    wg_buf_add_json(b, nt->rcv->name);
    wg_buf_adds(b, ",\"notification_reason\":");
    wg_buf_add_json(b, nt->reason);
    wg_buf_adds(b, ",\"groupLabels\":");
    if (nt->g) {
        wg__labels_json(b, &nt->g->glabels);
    } else {
        wg_buf_adds(b, "{}");
    }
    wg_buf_adds(b, ",\"commonLabels\":");
    wg__labels_json(b, &cl);
    wg_buf_adds(b, ",\"commonAnnotations\":");
    wg__labels_json(b, &ca);
    wg_buf_adds(b, ",\"externalURL\":");
    wg_buf_add_json(b, cfg->monitor.external_url ? cfg->monitor.external_url : "");
    wg_buf_adds(b, ",\"title\":");
    wg_buf_add_json(b, title);
    wg_buf_adds(b, ",\"message\":");
    wg_buf_add_json(b, text);
    wg_buf_adds(b, ",\"alerts\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) {
            wg_buf_adds(b, ",");
        }
        alert_json(b, cfg, nt->alerts[i], i < nt->nfiring);
    }
    wg_buf_adds(b, "]}");
    wg__labels_clear(&cl);
    wg__labels_clear(&ca);
}

static void slack_body(struct wg_buf *b, const char *title, const char *text, const char *link)
{
    char *h = wg_strdup(title), *t = wg_strdup(text);
    if (!h || !t) {
        wg_buf_fail(b, WG_ENOMEM);
    }
    if (h) {
        truncate_utf8(h, SLACK_HEADER_MAX);
    }
    if (t) {
        truncate_utf8(t, SLACK_SECTION_MAX);
    }
    wg_buf_adds(b, "{\"text\":");
    wg_buf_add_json(b, title);
    wg_buf_adds(b, ",\"blocks\":[{\"type\":\"header\",\"text\":{\"type\":\"plain_text\",\"text\":");
    wg_buf_add_json(b, h ? h : "");
    wg_buf_adds(b, "}},{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":");
    wg_buf_add_json(b, t && *t ? t : "-");
    wg_buf_adds(b, "}}");
    if (link && *link) {
        /* Block Kit: an actions block with a link button (url up to 3000 characters) */
        wg_buf_adds(b, ",{\"type\":\"actions\",\"elements\":[{\"type\":\"button\","
                       "\"text\":{\"type\":\"plain_text\",\"text\":\"Open report\"},"
                       "\"action_id\":\"wavegate_report\",\"url\":");
        wg_buf_add_json(b, link);
        wg_buf_adds(b, "}]}");
    }
    wg_buf_adds(b, "]}");
    free(h);
    free(t);
}

static void teams_body(struct wg_buf *b, const struct wg__notif *nt, const char *title,
                       const char *text, const char *link)
{
    wg_buf_adds(b, "{\"type\":\"message\",\"attachments\":[{\"contentType\":"
                   "\"application/vnd.microsoft.card.adaptive\",\"contentUrl\":null,"
                   "\"content\":{\"$schema\":"
                   "\"http://adaptivecards.io/schemas/adaptive-card.json\","
                   "\"type\":\"AdaptiveCard\",\"version\":\"1.2\",\"msteams\":{\"width\":\"full\"},"
                   "\"body\":[{\"type\":\"TextBlock\",\"text\":");
    wg_buf_add_json(b, title);
    wg_buf_addf(b,
                ",\"weight\":\"Bolder\",\"size\":\"Medium\",\"wrap\":true,\"style\":\"heading\","
                "\"color\":\"%s\"},{\"type\":\"TextBlock\",\"wrap\":true,\"text\":",
                nt->nfiring ? "Attention" : "Good");
    wg_buf_add_json(b, text);
    wg_buf_adds(b, "}]");
    if (link && *link) {
        wg_buf_adds(b, ",\"actions\":[{\"type\":\"Action.OpenUrl\",\"title\":\"Open report\","
                       "\"url\":");
        wg_buf_add_json(b, link);
        wg_buf_adds(b, "}]");
    }
    wg_buf_adds(b, "}}]}");
}

static const char *pd_severity(const char *s)
{
    static const char *const ok[] = {"critical", "error", "warning", "info"};
    for (int i = 0; s && i < 4; i++) {
        if (strcmp(s, ok[i]) == 0) {
            return ok[i];
        }
    }
    return s && strcmp(s, "page") == 0 ? "critical" : s ? "error" : "critical";
}

static enum wg_err pagerduty_body(struct wg_buf *b, const struct wg_alert_config *cfg,
                                  const struct wg__notif *nt, const char *dedup, const char *title,
                                  const char *text)
{
    const char *key = getenv(nt->rcv->routing_key_env);
    if (!key || !*key) {
        wg_log(WG_LOG_ERROR, "alerting: receiver %s: env %s is not set", nt->rcv->name,
               nt->rcv->routing_key_env);
        return WG_EINVAL;
    }
    wg_log_add_secret(key);
    wg_buf_adds(b, "{\"routing_key\":");
    wg_buf_add_json(b, key);
    wg_buf_addf(b, ",\"event_action\":\"%s\",\"dedup_key\":\"%s\"",
                nt->nfiring ? "trigger" : "resolve", dedup);
    if (nt->nfiring) {
        char *sum = wg_strdup(title);
        char ts[48];
        if (!sum) {
            wg_buf_fail(b, WG_ENOMEM);
        }
        if (sum) {
            truncate_utf8(sum, PD_SUMMARY_MAX);
        }
        wg_time_format(nt->now, ts, sizeof(ts));
        wg_buf_adds(b, ",\"payload\":{\"summary\":");
        wg_buf_add_json(b, sum ? sum : "");
        wg_buf_adds(b, ",\"source\":");
        wg_buf_add_json(b, nt->rcv->source ? nt->rcv->source : "wavegate");
        wg_buf_addf(b, ",\"severity\":\"%s\",\"timestamp\":\"%s\",\"class\":\"deploy-gate\"",
                    pd_severity(common_label(nt, "severity")), ts);
        const char *comp = common_label(nt, "feature");
        const char *grp = common_label(nt, "wave");
        if (comp) {
            wg_buf_adds(b, ",\"component\":");
            wg_buf_add_json(b, comp);
        }
        if (grp) {
            wg_buf_adds(b, ",\"group\":");
            wg_buf_add_json(b, grp);
        }
        wg_buf_addf(b, ",\"custom_details\":{\"num_firing\":%zu,\"num_resolved\":%zu,\"firing\":",
                    nt->nfiring, nt->n - nt->nfiring);
        wg_buf_add_json(b, text);
        wg_buf_adds(b, ",\"groupLabels\":");
        if (nt->g) {
            wg__labels_json(b, &nt->g->glabels);
        } else {
            wg_buf_adds(b, "{}");
        }
        wg_buf_adds(b, "}}");
        free(sum);
        wg_buf_adds(b, ",\"client\":\"wavegate\"");
        if (cfg->monitor.external_url) {
            wg_buf_adds(b, ",\"client_url\":");
            wg_buf_add_json(b, cfg->monitor.external_url);
        }
        /* links[]: each firing alert's evidence page, once (Events v2 shows them) */
        int nl = 0;
        for (size_t i = 0; i < nt->nfiring && nl < 10; i++) {
            const char *ru = wg__labels_get(&nt->alerts[i]->ann, "report_url");
            int dup = 0;
            for (size_t k = 0; ru && k < i && !dup; k++) {
                const char *o = wg__labels_get(&nt->alerts[k]->ann, "report_url");
                dup = o && !strcmp(o, ru);
            }
            if (!ru || !*ru || dup) {
                continue;
            }
            const char *an = wg__labels_get(&nt->alerts[i]->labels, "alertname");
            wg_buf_adds(b, nl++ ? ",{\"href\":" : ",\"links\":[{\"href\":");
            wg_buf_add_json(b, ru);
            wg_buf_adds(b, ",\"text\":");
            wg_buf_add_json(b, an ? an : "evaluation");
            wg_buf_adds(b, "}");
        }
        if (nl) {
            wg_buf_adds(b, "]");
        }
    }
    wg_buf_adds(b, "}");
    return WG_OK;
}

static const char *og_priority(const char *sev)
{
    if (!sev || strcmp(sev, "critical") == 0 || strcmp(sev, "page") == 0) {
        return "P1";
    }
    return strcmp(sev, "warning") == 0 ? "P3" : strcmp(sev, "info") == 0 ? "P5" : "P2";
}

enum wg_err wg__payload_render(const struct wg_alert_config *cfg, const struct wg__notif *nt,
                               const char *idem, struct wg__deliver_req *out)
{
    const struct wg_receiver *r = nt->rcv;
    struct wg_buf b, h;
    char dedup[65];
    enum wg_err rc = WG_OK;
    char *title = render(r->title ? r->title : cfg->title_tmpl, nt, 0);
    char *text = render(r->text ? r->text : cfg->text_tmpl, nt, 1);
    memset(out, 0, sizeof(*out));
    wg_buf_init(&b, 0);
    wg_buf_init(&h, 0);
    snprintf(out->idem, sizeof(out->idem), "%s", idem);
    wg__sha256_hex(nt->g ? nt->g->key : idem, strlen(nt->g ? nt->g->key : idem), dedup);
    wg_buf_addf(&h, "Content-Type: application/json\nIdempotency-Key: %s\n", idem);
    if (!title || !text) {
        rc = WG_ENOMEM;
        goto out;
    }
    switch (r->kind) {
    case WG_RCV_WEBHOOK:
        wg_buf_addf(&h, "webhook-id: %s\n", idem);
        webhook_body(&b, cfg, nt, title, text);
        out->url = wg_strdup(r->url);
        break;
    case WG_RCV_SLACK: {
        struct wg_buf gu;
        wg_buf_init(&gu, 0);
        if (nt->n) {
            generator_url(&gu, cfg, nt->alerts[0]);
        }
        wg_buf_fail(&b, wg_buf_err(&gu));
        slack_body(&b, title, text, gu.p);
        wg_buf_free(&gu);
        out->url = wg_strdup(r->url);
        break;
    }
    case WG_RCV_TEAMS: {
        struct wg_buf gu;
        wg_buf_init(&gu, 0);
        if (nt->n) {
            generator_url(&gu, cfg, nt->alerts[0]);
        }
        wg_buf_fail(&b, wg_buf_err(&gu));
        teams_body(&b, nt, title, text, gu.p);
        wg_buf_free(&gu);
        out->url = wg_strdup(r->url);
        break;
    }
    case WG_RCV_PAGERDUTY:
        rc = pagerduty_body(&b, cfg, nt, dedup, title, text);
        out->url = wg_strdup(r->url);
        break;
    case WG_RCV_OPSGENIE: {
        const char *key = getenv(r->api_key_env);
        if (!key || !*key) {
            wg_log(WG_LOG_ERROR, "alerting: receiver %s: env %s is not set", r->name,
                   r->api_key_env);
            rc = WG_EINVAL;
            goto out;
        }
        wg_log_add_secret(key);
        wg_buf_addf(&h, "Authorization: GenieKey %s\n", key);
        if (nt->nfiring) {
            char *msg = wg_strdup(title);
            if (!msg) {
                wg_buf_fail(&b, WG_ENOMEM);
            }
            if (msg) {
                truncate_utf8(msg, OG_MESSAGE_MAX);
            }
            wg_buf_adds(&b, "{\"message\":");
            wg_buf_add_json(&b, msg ? msg : "");
            wg_buf_addf(&b, ",\"alias\":\"%s\",\"description\":", dedup);
            wg_buf_add_json(&b, text);
            wg_buf_adds(&b, ",\"details\":");
            if (nt->g) {
                wg__labels_json(&b, &nt->g->glabels);
            } else {
                wg_buf_adds(&b, "{}");
            }
            wg_buf_addf(&b, ",\"source\":\"wavegate\",\"tags\":[\"wavegate\"],\"priority\":\"%s\"}",
                        og_priority(common_label(nt, "severity")));
            free(msg);
            out->url = wg_strdup(r->url);
        } else {
            wg_buf_adds(&b,
                        "{\"source\":\"wavegate\",\"user\":\"wavegate\",\"note\":\"resolved\"}");
            out->url = wg_asprintf("%s/%s/close?identifierType=alias", r->url, dedup);
        }
        break;
    }
    case WG_RCV_ALERTMANAGER: {
        /* Re-sends happen at group_interval ticks: expire after 4 missed re-sends. */
        int64_t resend = cfg->resend_ns;
        if (nt->g && nt->g->route && nt->g->route->group_interval_ns > resend) {
            resend = nt->g->route->group_interval_ns;
        }
        wg_buf_adds(&b, "[");
        for (size_t i = 0; i < nt->n; i++) {
            const struct wg__alert *al = nt->alerts[i];
            struct wg_buf gu;
            wg_buf_init(&gu, 0);
            generator_url(&gu, cfg, al);
            wg_buf_adds(&b, i ? ",{\"labels\":" : "{\"labels\":");
            wg__labels_json(&b, &al->labels);
            wg_buf_adds(&b, ",\"annotations\":");
            wg__labels_json(&b, &al->ann);
            wg_buf_adds(&b, ",\"startsAt\":");
            time_json(&b, al->starts_at);
            wg_buf_adds(&b, ",\"endsAt\":");
            /* Firing: expire on its own unless re-sent (4 resend intervals, like Prometheus). */
            time_json(&b, i < nt->nfiring ? nt->now + 4 * resend : al->ends_at);
            wg_buf_adds(&b, ",\"generatorURL\":");
            wg_buf_add_json(&b, gu.p ? gu.p : "");
            wg_buf_fail(&b, wg_buf_err(&gu));
            wg_buf_adds(&b, "}");
            wg_buf_free(&gu);
        }
        wg_buf_adds(&b, "]");
        {
            size_t ul = strlen(r->url);
            out->url = wg_asprintf("%.*s/api/v2/alerts",
                                   (int)(ul && r->url[ul - 1] == '/' ? ul - 1 : ul), r->url);
        }
        break;
    }
    }
    if (rc == WG_OK && (wg_buf_err(&b) != WG_OK || wg_buf_err(&h) != WG_OK)) {
        /* One check for every append above: a hole anywhere refuses the whole payload. */
        rc = wg_buf_err(&b) != WG_OK ? wg_buf_err(&b) : wg_buf_err(&h);
        wg_log(WG_LOG_ERROR, "alerting: receiver %s: payload not built (%s); not sent", r->name,
               wg_strerror(rc));
    }
    if (rc == WG_OK && (!b.p || !out->url || b.len > BODY_MAX)) {
        rc = b.len > BODY_MAX ? WG_ETOOBIG : WG_ENOMEM;
    }
    if (rc == WG_OK &&
        (wg_buf_finish(&b, &out->body) != WG_OK || wg_buf_finish(&h, &out->headers) != WG_OK)) {
        rc = WG_ENOMEM;
    }
out:
    free(title);
    free(text);
    if (rc != WG_OK) {
        wg_buf_free(&b);
        wg_buf_free(&h);
        wg__req_clear(out);
        return rc;
    }
    return WG_OK;
}
