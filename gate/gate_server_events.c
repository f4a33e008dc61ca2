/* gate_server_events.c — events in over HTTP: POST /v1/events (wavegate's own shape), GET
 * /v1/events (the newest stored), and the senders' own formats as adapters, one table of
 * operations (POST /v1/events/<adapter>: name, how it is signed, how its body decodes).
 * Each accepted event is recorded durably (gate_events.c) before the 202 with its id; a
 * marker goes out to events.write_to without blocking the answer (collector_write.c).
 */
#include "collector/collector.h"
#include "gate/gate_server_int.h"

#include "alerting/alerting.h"
#include "common/http.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* An adapter: a sender's webhook. verify checks the signature over the raw bytes before any
 * parsing (NULL: the sender signs nothing); decode turns the parsed body into *n events (0:
 * nothing to record, answered 200 with why; WG_EINVAL with why for a 400). */
struct wg__event_adapter {
    const char *name;
    const char *shape;      /* "want <shape>" when the body is not a JSON object */
    const char *sig_header; /* the header verify reads (NULL: none of its own) */
    int secret;             /* events.secret_env index, -1: none */
    int body_token;         /* Flagger: the server's token in metadata.token (no headers) */
    const char *(*verify)(const struct wg__sig_in *in, const char *body, size_t len);
    enum wg_err (*decode)(const cJSON *o, struct wg_event *ev, int *n, char *why, size_t whylen);
};

/* An event kind of a sender that is worth recording, and the flip's state it means
 * (WG_EVSTATE_NONE: the body says, as Flagsmith's enabled). */
struct flip_kind {
    const char *name;
    enum wg_event_state state;
};

/* The sender's kind, o's string member key: not a string is WG_EINVAL with why no_kind; not
 * one of kinds (ended by a NULL name) is WG_OK with *k NULL and why "<pre> <kind> <post>"
 * (nothing to record); else WG_OK with *k its entry. */
static enum wg_err kind_of(const cJSON *o, const char *key, const struct flip_kind *kinds,
                           const char *no_kind, const char *pre, const char *post,
                           const struct flip_kind **k, char *why, size_t whylen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *k = NULL;
    if (!cJSON_IsString(v)) {
        snprintf(why, whylen, "%s", no_kind);
        return WG_EINVAL;
    }
    for (const struct flip_kind *it = kinds; it->name && !*k; it++) {
        *k = strcmp(v->valuestring, it->name) ? NULL : it;
    }
    if (!*k) {
        snprintf(why, whylen, "%s %.64s %s", pre, v->valuestring, post);
    }
    return WG_OK;
}

/* A decode's end: ok is 0 when a copy of the event's strings failed (out of memory). */
static enum wg_err decoded(int ok, int *n)
{
    enum wg_err rc = ok ? WG_OK : WG_ENOMEM;
    *n = rc == WG_OK;
    return rc;
}

/* Unleash webhook addon, default body (JSON.stringify(event)): feature-environment-enabled /
 * -disabled flip the flag in `environment`; feature-strategy-update changes its rollout. */
static enum wg_err unleash_decode(const cJSON *o, struct wg_event *ev, int *n, char *why,
                                  size_t whylen)
{
    static const struct flip_kind kinds[] = {
        {"feature-environment-enabled", WG_EVSTATE_ON},
        {"feature-environment-disabled", WG_EVSTATE_OFF},
        {"feature-strategy-update", WG_EVSTATE_CHANGED},
        {"feature-strategy-add", WG_EVSTATE_CHANGED},
        {"feature-strategy-remove", WG_EVSTATE_CHANGED},
        {NULL, WG_EVSTATE_NONE},
    };
    const struct flip_kind *k = NULL;
    enum wg_err rc = kind_of(o, "type", kinds, "want an Unleash event object with a type",
                             "Unleash event type", "is not a flag flip", &k, why, whylen);
    if (rc != WG_OK || !k) {
        return rc;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "featureName");
    const cJSON *envn = cJSON_GetObjectItemCaseSensitive(o, "environment");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(o, "createdAt");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    ev->state = k->state;
    if (!cJSON_IsString(name) || !name->valuestring[0]) {
        snprintf(why, whylen, "featureName: want a string");
        return WG_EINVAL;
    }
    ev->type = WG_EVENT_FLAG;
    ev->flag = wg_strdup(name->valuestring);
    ev->env = cJSON_IsString(envn) ? wg_strdup(envn->valuestring) : NULL;
    ev->source = wg_strdup("unleash");
    if (cJSON_IsNumber(id)) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%.0f", id->valuedouble);
        ev->version = wg_strdup(buf); /* Unleash's event id, for the reconcile cursor */
    }
    if (cJSON_IsString(at) &&
        wg_time_parse(at->valuestring, strlen(at->valuestring), &ev->time_ns) != WG_OK) {
        snprintf(why, whylen, "createdAt: want RFC3339");
        return WG_EINVAL;
    }
    return decoded(ev->flag && ev->source && (!cJSON_IsString(envn) || ev->env), n);
}

/* The flag key and environment from an LD resource "proj/<p>:env/<e>:flag/<key>". */
static int ld_resource(const char *r, char *env, size_t envlen, char *key, size_t keylen)
{
    const char *e = strstr(r, ":env/"), *k = strstr(r, ":flag/");
    if (!e || !k || k < e) {
        return -1;
    }
    snprintf(env, envlen, "%.*s", (int)(k - e - 5), e + 5);
    snprintf(key, keylen, "%s", k + 6);
    return env[0] && key[0] ? 0 : -1;
}

/* LaunchDarkly: an audit-log entry; a flip is kind "flag" with an accesses[] updateOn. */
static enum wg_err ld_decode(const cJSON *o, struct wg_event *ev, int *n, char *why, size_t whylen)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(o, "accesses");
    char env[256] = "", key[256] = "";
    const cJSON *a;
    const cJSON *accs = cJSON_IsArray(acc) ? acc : NULL;
    cJSON_ArrayForEach(a, accs)
    {
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(a, "action");
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(a, "resource");
        if (cJSON_IsString(act) && !strcmp(act->valuestring, "updateOn") && cJSON_IsString(res) &&
            ld_resource(res->valuestring, env, sizeof(env), key, sizeof(key)) == 0) {
            break;
        }
    }
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "flag") || !key[0]) {
        snprintf(why, whylen, "LaunchDarkly entry is not a flag turned on or off");
        return WG_OK;
    }
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(o, "currentVersion");
    const cJSON *envs = cJSON_GetObjectItemCaseSensitive(cur, "environments");
    const cJSON *on =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(envs, env), "on");
    ev->state =
        cJSON_IsBool(on) ? (cJSON_IsTrue(on) ? WG_EVSTATE_ON : WG_EVSTATE_OFF) : WG_EVSTATE_CHANGED;
    ev->type = WG_EVENT_FLAG;
    ev->flag = wg_strdup(key);
    ev->env = wg_strdup(env);
    ev->source = wg_strdup("launchdarkly");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "_id");
    ev->version = cJSON_IsString(id) ? wg_strdup(id->valuestring) : NULL; /* dedupes replays */
    const cJSON *date = cJSON_GetObjectItemCaseSensitive(o, "date");      /* epoch ms */
    ev->time_ns =
        cJSON_IsNumber(date) && date->valuedouble > 0 ? (int64_t)date->valuedouble * 1000000 : 0;
    return decoded(ev->flag && ev->env && ev->source, n);
}

/* Flagsmith: FLAG_UPDATED with data.new_state {enabled, environment.name, feature.name}. The
 * signed data.timestamp is the version: a replayed delivery is the same event (deduped). */
static enum wg_err flagsmith_decode(const cJSON *o, struct wg_event *ev, int *n, char *why,
                                    size_t whylen)
{
    static const struct flip_kind kinds[] = {{"FLAG_UPDATED", WG_EVSTATE_NONE},
                                             {NULL, WG_EVSTATE_NONE}};
    const struct flip_kind *k = NULL;
    enum wg_err rc = kind_of(o, "event_type", kinds, "want a Flagsmith webhook with event_type",
                             "Flagsmith event", "is not a flag update", &k, why, whylen);
    if (rc != WG_OK || !k) {
        return rc;
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(d, "new_state");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(ns, "enabled");
    const cJSON *envn = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(ns, "environment"), "name");
    const cJSON *fn =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ns, "feature"), "name");
    if (!cJSON_IsBool(en) || !cJSON_IsString(fn)) {
        snprintf(why, whylen, "data.new_state: want enabled and feature.name");
        return WG_EINVAL;
    }
    ev->type = WG_EVENT_FLAG;
    ev->state = cJSON_IsTrue(en) ? WG_EVSTATE_ON : WG_EVSTATE_OFF;
    ev->flag = wg_strdup(fn->valuestring);
    ev->env = cJSON_IsString(envn) ? wg_strdup(envn->valuestring) : NULL;
    ev->source = wg_strdup("flagsmith");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(d, "timestamp");
    if (!cJSON_IsString(ts) ||
        wg_time_parse(ts->valuestring, strlen(ts->valuestring), &ev->time_ns) != WG_OK) {
        ev->time_ns = 0;
    } else {
        ev->version = wg_strdup(ts->valuestring);
    }
    return decoded(ev->flag && ev->source && (!ev->time_ns || ev->version), n);
}

/* GrowthBook event webhooks: feature.updated; the key from data.object.id or data.current.id,
 * the environments listed at the top; the state itself is not in the payload for sure: the
 * flip is "changed" (its analysis starts when a flag event with a state follows). */
static enum wg_err growthbook_decode(const cJSON *o, struct wg_event *ev, int *n, char *why,
                                     size_t whylen)
{
    static const struct flip_kind kinds[] = {{"feature.updated", WG_EVSTATE_CHANGED},
                                             {NULL, WG_EVSTATE_NONE}};
    const struct flip_kind *k = NULL;
    enum wg_err rc = kind_of(o, "event", kinds, "want a GrowthBook event webhook with event",
                             "GrowthBook event", "is not a feature update", &k, why, whylen);
    if (rc != WG_OK || !k) {
        return rc;
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(d, "object");
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(d, "current");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj ? obj : cur, "id");
    const cJSON *envs = cJSON_GetObjectItemCaseSensitive(o, "environments");
    if (!cJSON_IsString(id)) {
        snprintf(why, whylen, "data.object.id: want the feature key");
        return WG_EINVAL;
    }
    const cJSON *env0 = cJSON_IsArray(envs) ? cJSON_GetArrayItem(envs, 0) : NULL;
    ev->type = WG_EVENT_FLAG;
    ev->state = k->state;
    ev->flag = wg_strdup(id->valuestring);
    ev->env = cJSON_IsString(env0) ? wg_strdup(env0->valuestring) : NULL;
    ev->source = wg_strdup("growthbook");
    return decoded(ev->flag && ev->source, n);
}

/* Flagger event webhooks: every canary event; phase Succeeded is a finished deploy of the wave
 * named by metadata.wave (default: the canary's name); checksum → version. */
static enum wg_err flagger_decode(const cJSON *o, struct wg_event *ev, int *n, char *why,
                                  size_t whylen)
{
    static const struct flip_kind kinds[] = {{"Succeeded", WG_EVSTATE_NONE},
                                             {NULL, WG_EVSTATE_NONE}};
    const struct flip_kind *k = NULL;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (!cJSON_IsString(name)) {
        snprintf(why, whylen, "want Flagger's event payload (name, phase)");
        return WG_EINVAL;
    }
    enum wg_err rc = kind_of(o, "phase", kinds, "want Flagger's event payload (name, phase)",
                             "Flagger phase", "is not a finished rollout", &k, why, whylen);
    if (rc != WG_OK || !k) {
        return rc;
    }
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    const cJSON *wave = cJSON_GetObjectItemCaseSensitive(md, "wave");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(md, "timestamp");
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(o, "checksum");
    ev->type = WG_EVENT_DEPLOY;
    ev->wave = wg_strdup(cJSON_IsString(wave) ? wave->valuestring : name->valuestring);
    ev->version = cJSON_IsString(sum) ? wg_strdup(sum->valuestring) : NULL;
    ev->source = wg_strdup("flagger");
    if (cJSON_IsString(ts)) { /* epoch ms, as a string */
        char *end = NULL;
        long long ms = strtoll(ts->valuestring, &end, 10);
        ev->time_ns = end && !*end && ms > 0 && ms < 9000000000000LL ? ms * 1000000 : 0;
    }
    return decoded(ev->wave && ev->source, n);
}

/* The role of the token a Flagger body carries in metadata.token (Flagger sends no headers;
 * events need the admin role, gate_server_routes.c's table): WG__ROLE_NONE when none. */
static int flagger_token_role(const struct wg__cfgref *g, const char *body, size_t len)
{
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *t =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "token");
    int role = cJSON_IsString(t) ? wg__server_token_ok(g, t->valuestring, strlen(t->valuestring))
                                 : WG__ROLE_NONE;
    cJSON_Delete(o);
    return role;
}

/* ---- signatures: checked over the raw bytes, in constant time, before any parsing ---------- */

/* LaunchDarkly, Flagsmith, GrowthBook's legacy header: hex HMAC-SHA256 of the body. No time is
 * signed: a replay is the same event, deduped on the sender's id (LD _id, Flagsmith's time). */
static const char *hmac_hex_verify(const struct wg__sig_in *in, const char *body, size_t len)
{
    if (!in->secret || !*in->secret) {
        return "no secret configured";
    }
    if (!in->sig) {
        return "missing";
    }
    return wg__events_sig_ok(in->secret, body, len, in->sig) ? NULL : "does not match the body";
}

/* Standard Webhooks (GrowthBook SDK webhooks): "v1,<base64>" entries, space-separated, of
 * HMAC-SHA256("<webhook-id>.<webhook-timestamp>.<body>") keyed by the whsec_ secret; the
 * timestamp must be within the tolerance of our clock (a replay later is refused). */
static const char *stdwh_verify(const struct wg__sig_in *in, const char *body, size_t len)
{
    if (!in->secret || !*in->secret) {
        return "no secret configured";
    }
    if (!in->wh_id || !in->wh_ts || !in->wh_sig) {
        return "missing";
    }
    char *end = NULL;
    long long ts = strtoll(in->wh_ts, &end, 10);
    if (!*in->wh_ts || !end || *end) {
        return "webhook-timestamp: not a unix time";
    }
    long long d = ts - (long long)in->now_s;
    if (d > in->tolerance_s || -d > in->tolerance_s) {
        return "webhook-timestamp outside the tolerance (replay or clock skew)";
    }
    char want[128];
    if (wg_alerting_sign(in->secret, in->wh_id, ts, body, len, want, sizeof(want)) != WG_OK) {
        return "the secret is not a whsec_ base64 key";
    }
    size_t wl = strlen(want);
    int ok = 0;
    for (const char *p = in->wh_sig; *p;) {
        while (*p == ' ') {
            p++;
        }
        size_t k = strcspn(p, " ");
        ok |= k == wl && CRYPTO_memcmp(p, want, wl) == 0;
        p += k;
    }
    return ok ? NULL : "does not match the body";
}

/* GrowthBook: Standard Webhooks when its headers are there (SDK webhooks), else the event
 * webhooks' X-GrowthBook-Signature. */
static const char *growthbook_verify(const struct wg__sig_in *in, const char *body, size_t len)
{
    return in->wh_sig || in->wh_id || in->wh_ts ? stdwh_verify(in, body, len)
                                                : hmac_hex_verify(in, body, len);
}

static const struct wg__event_adapter adapters[] = {
    /* Unleash signs nothing: the bearer token is its addon's authorization header */
    {"unleash", "an Unleash event object", NULL, -1, 0, NULL, unleash_decode},
    {"launchdarkly", "a LaunchDarkly audit-log entry", "X-LD-Signature", 0, 0, hmac_hex_verify,
     ld_decode},
    {"flagsmith", "a Flagsmith webhook with event_type", "X-Flagsmith-Signature", 1, 0,
     hmac_hex_verify, flagsmith_decode},
    {"growthbook", "a GrowthBook event webhook with event", "X-GrowthBook-Signature", 2, 0,
     growthbook_verify, growthbook_decode},
    {"flagger", "Flagger's event payload (name, phase)", NULL, -1, 1, NULL, flagger_decode},
};
#define NADAPTERS (sizeof(adapters) / sizeof(adapters[0]))

int wg__events_adapter_signed(int i)
{
    return i >= 0 && (size_t)i < NADAPTERS && (adapters[i].verify || adapters[i].body_token);
}

const char *wg__events_verify(int i, const struct wg__sig_in *in, const char *body, size_t len)
{
    if (i < 0 || (size_t)i >= NADAPTERS || !adapters[i].verify) {
        return "not a signed sender";
    }
    return adapters[i].verify(in, body, len);
}

/* One decoded body (o: any JSON); ev cleared unless an event came out. */
static enum wg_err decode_obj(const struct wg__event_adapter *ad, const cJSON *o,
                              struct wg_event *ev, int *n, char *why, size_t whylen)
{
    *n = 0;
    memset(ev, 0, sizeof(*ev));
    enum wg_err rc = WG_EINVAL;
    if (!cJSON_IsObject(o)) {
        snprintf(why, whylen, "want %s", ad->shape);
    } else {
        rc = ad->decode(o, ev, n, why, whylen);
    }
    if (rc != WG_OK || !*n) {
        wg_event_clear(ev);
    }
    return rc;
}

enum wg_err wg__events_decode(int i, const char *body, size_t len, struct wg_event *ev, int *n,
                              char *why, size_t whylen)
{
    cJSON *o = cJSON_ParseWithLength(body, len);
    enum wg_err rc = decode_obj(&adapters[i], o, ev, n, why, whylen);
    cJSON_Delete(o);
    return rc;
}

/* 1 when sig (hex, optionally "sha256=") is the HMAC-SHA256 of body under secret; constant
 * time over the digest. */
int wg__events_sig_ok(const char *secret, const char *body, size_t len, const char *sig)
{
    unsigned char mac[32], want[32];
    unsigned int maclen = 0;
    if (!secret || !*secret || !sig) {
        return 0;
    }
    if (!strncasecmp(sig, "sha256=", 7)) {
        sig += 7;
    }
    if (strlen(sig) != 64) {
        return 0;
    }
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = sig[2 * i + k];
            int d = ch >= '0' && ch <= '9'   ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                             : -1;
            if (d < 0) {
                return 0;
            }
            v = v * 16 + (unsigned)d;
        }
        want[i] = (unsigned char)v;
    }
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac,
              &maclen) ||
        maclen != 32) {
        return 0;
    }
    return CRYPTO_memcmp(mac, want, 32) == 0;
}

int wg__events_adapter(const char *name)
{
    for (size_t i = 0; i < NADAPTERS; i++) {
        if (!strcmp(name, adapters[i].name)) {
            return (int)i;
        }
    }
    return -1;
}

/* ---- flip analyses and kill switches: one runner thread ------------------------------------ */

#define MAX_ATTEMPTS 8

struct wg__evrun {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    struct wg_http *h;
    atomic_ullong polls; /* store queries asking for due flips and actions (/metrics) */
};

static const struct wg_feature *find_feature(const struct wg_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nfeatures; i++) {
        if (!strcmp(cfg->features[i].name, name)) {
            return &cfg->features[i];
        }
    }
    return NULL;
}

struct flip_alert {
    const char *scope, *alertname, *severity, *summary;
    struct wg_action_ctx x;
};

static void flip_alert_fn(struct wg_alerting *a, void *arg)
{
    struct flip_alert *f = arg;
    if (wg_alerting_flip_event(a, f->scope, f->alertname, f->severity, &f->x, f->summary,
                               wg_now_ns()) != WG_OK) {
        wg_log(WG_LOG_ERROR, "alerting: %s for %s not raised", f->alertname, f->scope);
    }
}

static void flip_alert(struct wg_server *s, const char *scope, const char *alertname,
                       const char *severity, const struct wg_action_ctx *x, const char *summary)
{
    struct flip_alert f = {scope, alertname, severity, summary, *x};
    wg__monitor_with(s, flip_alert_fn, &f);
}

/* One look of a due flip analysis: the feature's rules in the flip's wave, the window after
 * the flip (anchored at it, like a deploy) against the rules' baselines before it. The look
 * ends by deadline (wg_mono_ns(); half the claim's lease after the claim): its holder records
 * it before the lease runs out and another replica may claim the flip, however the sources
 * hang (tests/unit/test_gate_deadline.c). A look the deadline cut could not evaluate: it
 * counts as today's error looks do. */
static void flip_look(struct wg_server *s, struct wg_flip *f, int64_t deadline)
{
    struct wg__cfgref *g = wg__server_gen_get(s);
    const struct wg_feature *feat = find_feature(g->cfg, f->feature);
    struct wg__params p;
    memset(&p, 0, sizeof(p));
    p.wave = wg_strdup(f->wave);
    p.features[0] = wg_strdup(f->feature);
    p.nfeatures = 1;
    p.deploy_ns = f->anchor_ns;
    p.deadline_mono_ns = deadline;
    struct wg__verdict *v = p.wave && p.features[0] ? wg__server_eval_now(s, g, &p) : NULL;
    enum wg_verdict mv = v && v->err == WG_OK ? v->verdict : WG_NOEVAL;
    char *link = wg__ui_report_url(v ? v->json : NULL); /* this look's page (gate_server_ui.c) */
    wg__verdict_put(v);
    wg__params_clear(&p);
    size_t nact = feat ? feat->non_fail : 0;
    enum wg_err lrc = wg_events_flip_look(s->events, f, mv, wg_now_ns(), nact);
    if (lrc == WG_ENOTFOUND) { /* shared store: the claim ran out (another replica has it) */
        wg_log(WG_LOG_WARN,
               "flip %s: look not recorded: the flip ended or another replica took it"
               " over",
               f->id);
    } else if (lrc != WG_OK) {
        wg_log(WG_LOG_ERROR, "flip %s: look not recorded (the store refuses writes)", f->id);
    } else if (!strcmp(f->status, "fail")) {
        char scope[80], summary[1024];
        snprintf(scope, sizeof(scope), "flip:%s", f->id);
        snprintf(summary, sizeof(summary),
                 "flag %s of feature %s failed its analysis in %s (%ld of %ld looks failed); "
                 "%zu kill-switch action(s) queued",
                 f->flag, f->feature, f->env, f->failures, f->looks, nact);
        struct wg_action_ctx x = {f->id, f->feature, f->flag, f->env, f->wave, "fail", 0, link};
        wg__ui_flip_link_set(s, f->id, link); /* its kill switches link the same evidence */
        flip_alert(s, scope, "WavegateFlipFailed", "critical", &x, summary);
        wg_log(WG_LOG_WARN,
               "flip %s: flag %s of feature %s in %s failed its analysis (%ld of "
               "%ld looks failed): %zu kill-switch action(s) queued",
               f->id, f->flag, f->feature, f->env, f->failures, f->looks, nact);
    } else {
        wg_log(WG_LOG_INFO, "flip %s: look %ld: %s -> %s", f->id, f->looks, wg_verdict_name(mv),
               f->status);
    }
    free(link);
    wg__server_gen_put(g);
}

/* 1 when the action is over its rate limit (act->rate_limit): held, never dropped — recorded
 * with why, alerted (WavegateActionHeld) and logged, due again when the window has room. */
static int rate_held(struct wg_server *s, struct wg_action_row *a, const struct wg_action *act,
                     int64_t now)
{
    long used = 0;
    int64_t oldest = 0;
    if (act->rate_max <= 0) {
        return 0;
    }
    if (wg_events_action_window(s->events, a, now - act->rate_per_ns, &used, &oldest) != WG_OK) {
        used = act->rate_max; /* the store cannot say: fail closed, hold */
        oldest = now;
    }
    if (used < act->rate_max) {
        return 0;
    }
    char per[64], why[512], scope[80];
    int64_t next = (oldest ? oldest : now) + act->rate_per_ns;
    snprintf(why, sizeof(why),
             "held by rate_limit: %ld flip(s) of feature %s acted on in the last %s (max %ld); "
             "due again in %llds",
             used, a->feature, wg_duration_format(act->rate_per_ns, per, sizeof(per)),
             act->rate_max, (long long)((next - now + WG_NS_PER_SEC - 1) / WG_NS_PER_SEC));
    if (wg_events_action_hold(s->events, a, why, now, next > now ? next : now + WG_NS_PER_SEC) !=
        WG_OK) {
        wg_log(WG_LOG_ERROR, "action %s#%d: the hold was not recorded", a->id, a->idx);
    }
    snprintf(scope, sizeof(scope), "action:%s#%d", a->id, a->idx);
    char *link = wg__ui_flip_link_get(s, a->id); /* the look that decided (its page) */
    struct wg_action_ctx x = {a->id, a->feature, a->flag, a->env, a->wave, "fail", a->idx, link};
    flip_alert(s, scope, "WavegateActionHeld", "warning", &x, why);
    free(link);
    wg_log(WG_LOG_WARN, "action %s#%d (flag %s in %s): %s", a->id, a->idx, a->flag, a->env, why);
    return 1;
}

static void run_action(struct wg_server *s, struct wg_http *h, struct wg_action_row *a)
{
    struct wg__cfgref *g = wg__server_gen_get(s);
    const struct wg_feature *feat = find_feature(g->cfg, a->feature);
    const struct wg_action *act =
        feat && (size_t)a->idx < feat->non_fail ? &feat->on_fail[a->idx] : NULL;
    char answer[1024] = "action no longer in the config";
    long status = 0;
    int64_t now = wg_now_ns();
    const char *st = "failed";
    int64_t next = now;
    if (act && rate_held(s, a, act, now)) {
        wg__server_gen_put(g);
        return;
    }
    if (act) {
        struct wg_action_ctx x = {a->id,   a->feature, a->flag, a->env,
                                  a->wave, "fail",     a->idx,  NULL};
        enum wg_err rc = wg_alerting_action_run(h, act, &x, &status, answer, sizeof(answer));
        int final =
            rc == WG_ECONFIG ||
            (rc == WG_EHTTP && status >= 400 && status < 500 && status != 408 && status != 429) ||
            a->attempts + 1 >= MAX_ATTEMPTS;
        st = rc == WG_OK ? (act->dry_run ? "dry_run" : "done") : final ? "failed" : "pending";
        int64_t back = (int64_t)WG_NS_PER_SEC << (a->attempts < 6 ? a->attempts : 6);
        next = now + back;
    }
    if (wg_events_action_attempt(s->events, a, st, status, answer, now, next) != WG_OK) {
        wg_log(WG_LOG_ERROR, "action %s#%d: attempt not recorded", a->id, a->idx);
    }
    /* a failing action is never silent: alerted (and logged); a done one is said too */
    if (strcmp(st, "pending")) {
        char scope[80], summary[1400];
        snprintf(scope, sizeof(scope), "action:%s#%d", a->id, a->idx);
        snprintf(summary, sizeof(summary), "kill switch %s for flag %s in %s: %s (HTTP %ld) %s",
                 act ? (act->kind == WG_ACTION_UNLEASH ? "unleash" : "webhook") : "-", a->flag,
                 a->env, st, status, answer);
        char *link = wg__ui_flip_link_get(s, a->id);
        struct wg_action_ctx x = {a->id,   a->feature, a->flag, a->env,
                                  a->wave, "fail",     a->idx,  link};
        int failed = !strcmp(st, "failed");
        flip_alert(s, scope, failed ? "WavegateActionFailed" : "WavegateActionDone",
                   failed ? "critical" : "info", &x, summary);
        free(link);
    }
    wg_log(!strcmp(st, "failed")   ? WG_LOG_ERROR
           : strcmp(st, "pending") ? WG_LOG_INFO
                                   : WG_LOG_WARN,
           "action %s#%d (%s, flag %s in %s): %s after attempt %ld (HTTP %ld) %s", a->id, a->idx,
           act ? (act->kind == WG_ACTION_UNLEASH ? "unleash" : "webhook") : "-", a->flag, a->env,
           st, a->attempts + 1, status, answer);
    wg__server_gen_put(g);
}

static void unleash_poll(struct wg_server *s, struct wg_http *h);

static void *evrun_main(void *arg)
{
    struct wg_server *s = arg;
    struct wg__evrun *r = s->evrun;
    int64_t next_poll = 0;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        if (r->stop) {
            break;
        }
        pthread_mutex_unlock(&r->mu);
        struct wg_flip flips[8];
        struct wg_action_row acts[8];
        size_t n = 0;
        /* Any replica: on a shared store due flips and actions are claimed, one replica each,
         * and one at a time, just before its look or its call: a claim's lease (30 s) covers
         * one look (or one action's 10 s call), not eight in a row. SQLite: eight at once. */
        size_t per = wg_events_shared(s->events) ? 1 : 8;
        for (size_t k = 0; k < 8; k += per) {
            atomic_fetch_add(&r->polls, 1);
            /* taken before the claim: the lease counts from no earlier than this */
            int64_t claimed = wg_mono_ns();
            if (wg_events_flip_due(s->events, wg_now_ns(), flips, per, &n) != WG_OK) {
                break;
            }
            for (size_t i = 0; i < n; i++) {
                /* shared: one claim, one look, inside its lease; SQLite (no claims, eight in a
                 * row): each look as long, so one hung source holds the runner no longer */
                int64_t from = per == 1 ? claimed : wg_mono_ns();
                flip_look(s, &flips[i], from + wg_events_lease_ns(s->events) / 2);
            }
            if (n < per) {
                break;
            }
        }
        struct wg__cfgref *g = wg__server_gen_get(s);
        /* On a shared store (backend postgres) only the leader reconciles: one poller is
         * enough (the events, their dedupe and the cursor are shared), and fewer requests to
         * Unleash (test_replicas_pg.sh, evshared). wg__leader_active is 1 on SQLite; a new
         * leader polls at once, from the shared cursor. */
        int poll = g->cfg->events.unleash_url && wg_mono_ns() >= next_poll && wg__leader_active();
        if (poll) {
            next_poll = wg_mono_ns() + g->cfg->events.unleash_poll_ns;
        }
        wg__server_gen_put(g);
        if (poll) {
            unleash_poll(s, r->h);
        }
        for (size_t k = 0; k < 8; k += per) {
            atomic_fetch_add(&r->polls, 1);
            if (wg_events_action_due(s->events, wg_now_ns(), acts, per, &n) != WG_OK) {
                break;
            }
            for (size_t i = 0; i < n; i++) {
                run_action(s, r->h, &acts[i]);
            }
            if (n < per) {
                break;
            }
        }
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static enum wg_err evrun_start(struct wg_server *s)
{
    struct wg__evrun *r = calloc(1, sizeof(*r));
    if (!r || !(r->h = wg_http_new())) {
        free(r);
        return WG_ENOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    s->evrun = r;
    if (pthread_create(&r->th, NULL, evrun_main, s) != 0) {
        s->evrun = NULL;
        wg_http_free(r->h);
        free(r);
        return WG_ENOMEM;
    }
    return WG_OK;
}

static void evrun_stop(struct wg_server *s)
{
    struct wg__evrun *r = s->evrun;
    if (!r) {
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->th, NULL);
    wg_http_free(r->h);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
    s->evrun = NULL;
}

/* A flag turned on starts its feature's analysis in the event's wave; off ends it: planned
 * here, done in the event's own transaction (wg_events_record_flip). */
static void flip_plan(const struct wg_config *cfg, const struct wg_event *ev,
                      struct wg_flip_rec *fr)
{
    const struct wg_feature *f = ev->feature ? find_feature(cfg, ev->feature) : NULL;
    memset(fr, 0, sizeof(*fr));
    if (ev->type != WG_EVENT_FLAG || !f) {
        return;
    }
    if (ev->state == WG_EVSTATE_OFF) {
        fr->op = WG_FLIP_CANCEL;
    } else if (ev->state == WG_EVSTATE_ON && ev->wave) {
        fr->op = WG_FLIP_START;
        fr->anchor_ns = ev->time_ns; /* 0: the time it is recorded */
        fr->interval_ns = f->flip.interval_ns;
        fr->count = f->flip.count;
        fr->failure_limit = f->flip.failure_limit;
    }
}

/* The markers' outbox: the durable writer's store is the events store (gate_events.c). An
 * event's marker is stored by the store's committer in the event's own transaction; the
 * writer is told of it (wg_lp_writer_add_stored) with this thread's puts already done. */
static _Thread_local int put_done;

static enum wg_err store_put(void *ctx, const char *lines, size_t len, unsigned long long n)
{
    return put_done ? WG_OK : wg_events_marker_put(ctx, lines, len, n);
}

static enum wg_err hook_build(void *arg, const struct wg_event *ev, const char *id, int64_t now_ns,
                              struct wg_buf *out);
static void hook_stored(void *arg, const char *lines, size_t len);

enum wg_err wg__events_open(struct wg_server *s, char *err, size_t errlen)
{
    const struct wg_config *cfg = s->gen->cfg;
    enum wg_err rc = wg_events_open(cfg->state_dir, &s->events, err, errlen);
    if (rc == WG_OK) {
        rc = evrun_start(s);
    }
    if (rc != WG_OK || !cfg->events.write_to) {
        return rc;
    }
    for (size_t i = 0; i < cfg->nsources; i++) {
        if (!strcmp(cfg->sources[i].name, cfg->events.write_to)) {
            s->markers_gen = wg__server_gen_get(s);
            struct wg_lp_store st;
            wg_events_marker_store(s->events, &st);
            st.put = store_put; /* an event's marker: stored already, in its transaction */
            rc = wg_lp_writer_new_store(&cfg->sources[i], &st,
                                        (unsigned long long)cfg->events.write_backlog,
                                        cfg->events.flush_ns, &s->markers);
            if (rc == WG_OK) {
                struct wg_events_marker_hook hook = {hook_build, hook_stored, s};
                wg_events_marker_hook(s->events, &hook);
            } else {
                snprintf(err, errlen, "events.write_to: cannot start the writer: %s",
                         wg_strerror(rc));
            }
            return rc;
        }
    }
    return WG_OK; /* the loader rejects an unknown name */
}

void wg__events_close(struct wg_server *s)
{
    evrun_stop(s);
    if (s->events) {
        wg_events_marker_hook(s->events, NULL); /* no batch uses the writer after this */
    }
    wg_lp_writer_free(s->markers); /* flushes what is queued */
    s->markers = NULL;
    if (s->markers_gen) {
        wg__server_gen_put(s->markers_gen);
        s->markers_gen = NULL;
    }
    wg_events_close(s->events);
    s->events = NULL;
}

/* A fleet target's tags: target and its labels (cloud, region, ...), a label named like one
 * of the markers' own tags left out (it would shadow it). */
static void target_tags(struct wg_lp *lp, const char *name, const struct wg_target *t)
{
    static const char *const own[] = {"type",   "wave", "env",     "feature", "state",
                                      "source", "rule", "verdict", "target"};
    wg_lp_tag(lp, "target", name);
    for (size_t i = 0; t && i < t->nlabels; i++) {
        int clash = 0;
        for (size_t k = 0; k < sizeof(own) / sizeof(own[0]); k++) {
            clash |= !strcmp(own[k], t->labels[i].key);
        }
        if (!clash) {
            wg_lp_tag(lp, t->labels[i].key, t->labels[i].value);
        }
    }
}

/* One wavegate_events point: the event's, or (target set) one target's deploy at t_ns. */
static enum wg_err marker_point(struct wg_buf *b, const struct wg_event *ev, const char *id,
                                const char *target, const struct wg_target *t, int64_t t_ns)
{
    struct wg_lp lp;
    wg_lp_begin(&lp, b, "wavegate_events");
    wg_lp_tag(&lp, "type", wg_event_type_names[ev->type]);
    wg_lp_tag(&lp, "wave", ev->wave);
    wg_lp_tag(&lp, "env", t && t->env ? t->env : ev->env);
    wg_lp_tag(&lp, "feature", ev->feature);
    wg_lp_tag(&lp, "state", ev->state ? wg_event_state_names[ev->state] : NULL);
    wg_lp_tag(&lp, "source", ev->source);
    if (target) {
        target_tags(&lp, target, t);
    }
    char *title = wg_asprintf("%s %s%s%s%s%s", wg_event_type_names[ev->type],
                              ev->feature ? ev->feature
                              : ev->wave  ? ev->wave
                                          : "",
                              target ? " " : "", target ? target : "", ev->state ? " " : "",
                              ev->state ? wg_event_state_names[ev->state] : "");
    wg_lp_str(&lp, "title", title ? title : "");
    wg_lp_str(&lp, "id", id);
    wg_lp_str(&lp, "flag", ev->flag);
    wg_lp_str(&lp, "version", ev->version);
    free(title);
    return wg_lp_end(&lp, t_ns);
}

/* The event's marker; a fleet deploy's carries its target (tag target, the target's labels);
 * per-target deploy times add one marker per named target at its own time. */
static enum wg_err marker_lines(const struct wg__cfgref *gen, const struct wg_event *ev,
                                const char *id, int64_t now_ns, struct wg_buf *b)
{
    const struct wg_wave *w =
        gen && gen->cfg && ev->wave ? wg_config_wave(gen->cfg, ev->wave) : NULL;
    int64_t t0 = ev->time_ns ? ev->time_ns : now_ns;
    enum wg_err rc = marker_point(b, ev, id, ev->target,
                                  w && ev->target ? wg_config_target(w, ev->target) : NULL, t0);
    for (size_t i = 0; rc == WG_OK && i < ev->ndeploy_times; i++) {
        const char *name = ev->deploy_times[i].target;
        rc = marker_point(b, ev, id, name, w ? wg_config_target(w, name) : NULL,
                          ev->deploy_times[i].ns);
    }
    return rc;
}

/* The store's committer builds an event's marker inside the event's transaction (the config
 * of now: a fleet target's labels) and tells the writer before the commit. */
static enum wg_err hook_build(void *arg, const struct wg_event *ev, const char *id, int64_t now_ns,
                              struct wg_buf *out)
{
    struct wg_server *s = arg;
    struct wg__cfgref *gen = wg__server_gen_get(s);
    wg_buf_init(out, 64 * 1024 + 2048 * ev->ndeploy_times);
    enum wg_err rc = marker_lines(gen, ev, id, now_ns, out);
    wg__server_gen_put(gen);
    return rc;
}

static void hook_stored(void *arg, const char *lines, size_t len)
{
    struct wg_server *s = arg;
    put_done = 1;
    enum wg_err rc = wg_lp_writer_add_stored(s->markers, lines, len);
    put_done = 0;
    if (rc != WG_OK) {
        wg_log(WG_LOG_ERROR, "markers: the writer was not told of a stored marker: %s",
               wg_strerror(rc));
    }
}

void wg__events_marker(struct wg_server *s, const struct wg__cfgref *gen, const struct wg_event *ev,
                       const char *id, int64_t now_ns)
{
    if (!s->markers) {
        return;
    }
    struct wg_buf b;
    wg_buf_init(&b, 64 * 1024 + 2048 * ev->ndeploy_times);
    enum wg_err rc = marker_lines(gen, ev, id, now_ns, &b);
    if (rc == WG_OK) {
        /* stored before the answer (the event itself is): a kill loses neither */
        enum wg_err arc = wg_lp_writer_add_stored(s->markers, b.p, b.len);
        if (arc != WG_OK) {
            wg_log(WG_LOG_ERROR, "markers: event %s's marker not stored: %s", id, wg_strerror(arc));
        }
    }
    wg_buf_free(&b);
}

void wg__events_verdict(struct wg_server *s, const struct wg_check_report *rep, int64_t now_ns)
{
    if (!s || !s->markers || !rep) {
        return;
    }
    struct wg_buf b;
    struct wg_lp lp;
    wg_buf_init(&b, 4u << 20);
    wg_lp_begin(&lp, &b, "wavegate_verdicts");
    wg_lp_tag(&lp, "wave", rep->wave);
    wg_lp_tag(&lp, "env", rep->env);
    wg_lp_tag(&lp, "verdict", wg_verdict_name(rep->verdict));
    wg_lp_int(&lp, "rules", (long long)rep->nrules);
    wg_lp_int(&lp, "judged", (long long)rep->njudged);
    wg_lp_str(&lp, "reason", rep->reason);
    enum wg_err rc = wg_lp_end(&lp, now_ns);
    /* a fleet answer: one more verdict point per target, and each rule point tagged with its
     * target (else the targets' points of a rule, one series and one time, would be one) */
    for (size_t i = 0; rc == WG_OK && rep->fleet && i < rep->ntargets; i++) {
        const struct wg_target_report *tr = &rep->targets[i];
        wg_lp_begin(&lp, &b, "wavegate_verdicts");
        wg_lp_tag(&lp, "wave", rep->wave);
        wg_lp_tag(&lp, "env", tr->env ? tr->env : rep->env);
        target_tags(&lp, tr->name, tr->target);
        wg_lp_tag(&lp, "verdict", wg_verdict_name(tr->verdict));
        wg_lp_int(&lp, "rules", (long long)tr->nrules);
        wg_lp_int(&lp, "judged", (long long)tr->njudged);
        wg_lp_str(&lp, "reason", tr->reason);
        rc = wg_lp_end(&lp, now_ns);
    }
    for (size_t i = 0; rc == WG_OK && i < rep->nrules; i++) {
        const struct wg_rule_report *rr = &rep->rules[i];
        const struct wg_threshold *t = &rr->p.threshold;
        const struct wg_target_report *tr =
            rep->fleet && rr->target < rep->ntargets ? &rep->targets[rr->target] : NULL;
        wg_lp_begin(&lp, &b, "wavegate_rules");
        wg_lp_tag(&lp, "wave", rep->wave);
        wg_lp_tag(&lp, "env", tr && tr->env ? tr->env : rep->env);
        if (tr) {
            target_tags(&lp, tr->name, tr->target);
        }
        wg_lp_tag(&lp, "feature", rr->feature ? rr->feature->name : NULL);
        wg_lp_tag(&lp, "rule", rr->rule ? rr->rule->name : NULL);
        wg_lp_tag(&lp, "verdict", wg_verdict_name(rr->res.verdict));
        if (rr->res.has_value) {
            wg_lp_float(&lp, "value", rr->res.value);
        }
        if (t->has_max || t->has_min) {
            wg_lp_float(&lp, "threshold", t->has_max ? t->max : t->min);
        }
        if (rr->res.has_baseline) {
            wg_lp_float(&lp, "baseline", rr->res.baseline);
        }
        if (rr->res.has_mw) {
            wg_lp_float(&lp, "p_value", rr->res.mw.p_value);
        }
        wg_lp_int(&lp, "samples", (long long)rr->res.samples);
        wg_lp_str(&lp, "reason", rr->res.reason);
        rc = wg_lp_end(&lp, now_ns);
    }
    if (rc == WG_OK) {
        rc = wg_lp_writer_add(s->markers, b.p, b.len); /* a full queue is counted there */
    } else {
        wg_log(WG_LOG_WARN, "markers: verdict of wave %s not written: %s", rep->wave,
               wg_strerror(rc));
    }
    wg_buf_free(&b);
}

static void add_limit(cJSON *o, const char *k, long v)
{
    if (v >= 0) {
        cJSON_AddNumberToObject(o, k, (double)v);
    }
}

/* A deploy of a wave with `bake:` starts its bake-time analysis (the analyses of POST
 * /v1/analyses: measured every interval for duration, resumed after a restart) anchored at the
 * event's time; its id is kept as events_kv "bake:<event id>". */
static void bake_event(struct wg_server *s, struct wg__cfgref *gen, const struct wg_event *ev,
                       const char *id, int64_t now)
{
    const struct wg_wave *w = ev->wave ? wg_config_wave(gen->cfg, ev->wave) : NULL;
    if (ev->type != WG_EVENT_DEPLOY || !w || !w->bake.present) {
        return;
    }
    char t[64], iv[64], du[64];
    cJSON *o = cJSON_CreateObject();
    cJSON *lim = cJSON_AddObjectToObject(o, "limits");
    cJSON_AddStringToObject(o, "wave", w->name);
    if (ev->version && ev->version[0] && strlen(ev->version) < 256) {
        cJSON_AddStringToObject(o, "deploy_id", ev->version); /* /v1/gate of it reads this */
    }
    cJSON_AddStringToObject(o, "deploy_time",
                            wg_time_format(ev->time_ns ? ev->time_ns : now, t, sizeof(t)));
    if (ev->target) { /* one target of a fleet deployed: its analysis judges it alone */
        cJSON_AddStringToObject(o, "target", ev->target);
    }
    cJSON *dts = ev->ndeploy_times ? cJSON_AddObjectToObject(o, "deploy_times") : NULL;
    for (size_t i = 0; dts && i < ev->ndeploy_times; i++) {
        cJSON_AddStringToObject(dts, ev->deploy_times[i].target,
                                wg_time_format(ev->deploy_times[i].ns, t, sizeof(t)));
    }
    cJSON_AddStringToObject(o, "interval", wg_duration_format(w->bake.interval_ns, iv, sizeof(iv)));
    cJSON_AddStringToObject(o, "duration", wg_duration_format(w->bake.duration_ns, du, sizeof(du)));
    add_limit(lim, "failure_limit", w->bake.failure_limit);
    add_limit(lim, "consecutive_failures", w->bake.consecutive_failures);
    add_limit(lim, "inconclusive_limit", w->bake.inconclusive_limit);
    add_limit(lim, "error_limit", w->bake.error_limit);
    char *spec = o ? cJSON_PrintUnformatted(o) : NULL, *ans = NULL;
    cJSON_Delete(o);
    unsigned st = spec ? wg__analyses_create(s, gen, spec, strlen(spec), &ans) : 500;
    cJSON *a = ans ? cJSON_Parse(ans) : NULL;
    const cJSON *aid = cJSON_GetObjectItemCaseSensitive(a, "id");
    if (st == 201 && cJSON_IsString(aid)) {
        char key[80];
        snprintf(key, sizeof(key), "bake:%s", id);
        if (wg_events_kv_set(s->events, key, aid->valuestring) != WG_OK) {
            wg_log(WG_LOG_ERROR, "event %s: bake analysis %s not linked", id, aid->valuestring);
        }
        wg_log(WG_LOG_INFO, "event %s: bake analysis %s started for wave %s", id, aid->valuestring,
               w->name);
    } else {
        wg_log(WG_LOG_ERROR, "event %s: bake analysis not started (%u): %s", id, st,
               ans ? ans : "out of memory");
    }
    cJSON_Delete(a);
    free(ans);
    free(spec);
}

/* A deploy naming targets names targets of its wave (known: the list), never recorded
 * otherwise: a bake analysis of an unknown target would only fail later, in a log. */
static enum wg_err fleet_check(const struct wg_config *cfg, const struct wg_event *ev, char *err,
                               size_t errlen)
{
    if (!ev->target && !ev->ndeploy_times) {
        return WG_OK;
    }
    const struct wg_wave *w = ev->wave ? wg_config_wave(cfg, ev->wave) : NULL;
    char known[512];
    if (!w || !w->ntargets) {
        snprintf(err, errlen, "%s: wave %s has no targets", ev->target ? "target" : "deploy_times",
                 ev->wave ? ev->wave : "(none)");
        return WG_EINVAL;
    }
    for (size_t i = 0; i <= ev->ndeploy_times; i++) {
        const char *name = i < ev->ndeploy_times ? ev->deploy_times[i].target : ev->target;
        if (name && !wg_config_target(w, name)) {
            wg_gate_target_names(w, known, sizeof(known));
            snprintf(err, errlen, "%s: unknown target \"%.64s\" of wave %s (known: %s)",
                     ev->target ? "target" : "deploy_times", name, w->name, known);
            return WG_EINVAL;
        }
    }
    return WG_OK;
}

/* Before the store: resolve, check against the fleet, plan the flip (WG_EINVAL: refused). */
static enum wg_err ingest_pre(struct wg_server *s, struct wg__cfgref *gen, struct wg_event *ev,
                              struct wg_flip_rec *fr, char *err, size_t errlen)
{
    wg_event_resolve(gen->cfg, ev);
    if (fleet_check(gen->cfg, ev, err, errlen) != WG_OK) {
        return WG_EINVAL;
    }
    if (!s->events) {
        snprintf(err, errlen, "no event store");
        return WG_EIO;
    }
    flip_plan(gen->cfg, ev, fr);
    return WG_OK;
}

/* After the store committed it (not a duplicate): log, mark and act. */
static void ingest_post(struct wg_server *s, struct wg__cfgref *gen, const struct wg_event *ev,
                        const struct wg_flip_rec *fr, const char *id, int64_t now)
{
    wg_log(WG_LOG_INFO, "event %s: %s %s wave %s env %s feature %s (%s)", id,
           wg_event_type_names[ev->type], ev->state ? wg_event_state_names[ev->state] : "-",
           ev->wave ? ev->wave : "-", ev->env ? ev->env : "-", ev->feature ? ev->feature : "-",
           ev->source ? ev->source : "-");
    /* its marker was stored with it, in its transaction (wg_events_marker_hook) */
    if (fr->op == WG_FLIP_CANCEL && fr->cancelled) {
        wg_log(WG_LOG_INFO, "flag %s off in %s: %d analysis(es) ended", ev->flag,
               ev->env ? ev->env : "-", fr->cancelled);
    }
    bake_event(s, gen, ev, id, now);
}

/* Resolve, record, mark and act on one event, waiting for the store: the reconcile poll. An
 * event of a source and version already stored: *dup = 1, id the stored one, nothing done. */
static enum wg_err ingest(struct wg_server *s, struct wg__cfgref *gen, struct wg_event *ev,
                          int *dup, char id[48], char *err, size_t errlen)
{
    struct wg_flip_rec fr;
    enum wg_err rc = ingest_pre(s, gen, ev, &fr, err, errlen);
    if (rc != WG_OK) {
        return rc;
    }
    int64_t now = wg_now_ns();
    rc = wg_events_record_flip(s->events, ev, now, &fr, dup, id, err, errlen);
    if (rc != WG_OK) {
        wg_log(WG_LOG_ERROR, "events: not recorded: %s", err);
        return rc;
    }
    if (!*dup) {
        ingest_post(s, gen, ev, &fr, id, now);
    }
    return WG_OK;
}

/* An HTTP event on its way through the store's committer: its connection is suspended until
 * the transaction holding it is committed, so the MHD thread serves other connections (and
 * other events join the batch) meanwhile; the resumed call answers (accept_done). */
struct wg__evjob {
    struct MHD_Connection *c;
    struct wg_event ev;
    struct wg_flip_rec fr;
    int dup;
    int64_t now;
    enum wg_err rc;
    char id[48];
    char err[512];
};

void wg__events_job_free(struct wg__evjob *j)
{
    if (j) {
        wg_event_clear(&j->ev);
        free(j);
    }
}

static void evjob_done(void *arg, enum wg_err rc)
{
    struct wg__evjob *j = arg;
    j->rc = rc;
    MHD_resume_connection(j->c); /* j belongs to the connection's handler from here */
}

/* The resumed call: answer 202 {"id":...} (a duplicate 200, a failed commit 503). */
static enum MHD_Result accept_done(struct wg_server *s, struct MHD_Connection *c,
                                   struct wg__server_req *r)
{
    struct wg__evjob *j = r->evjob;
    r->evjob = NULL;
    enum MHD_Result ret;
    if (j->rc != WG_OK) {
        wg_log(WG_LOG_ERROR, "events: not recorded: %s", j->err);
        ret = wg__reply_error(s, c, 503, "event not recorded: %s", j->err);
        goto out;
    }
    if (j->dup) {
        char d[120];
        int dl = snprintf(d, sizeof(d), "{\"duplicate\":true,\"id\":\"%s\"}", j->id);
        ret = wg__reply(s, c, 200, "application/json", d, (size_t)dl);
        goto out;
    }
    ingest_post(s, r->gen, &j->ev, &j->fr, j->id, j->now);
    char body[200], key[80], *an = NULL;
    snprintf(key, sizeof(key), "bake:%s", j->id);
    /* only a deploy can start a bake analysis: a flag event does not wait on the store again */
    int n = j->ev.type == WG_EVENT_DEPLOY && wg_events_kv_get(s->events, key, &an) == WG_OK
                ? snprintf(body, sizeof(body), "{\"id\":\"%s\",\"analysis\":\"%.64s\"}", j->id, an)
                : snprintf(body, sizeof(body), "{\"id\":\"%s\"}", j->id);
    free(an);
    atomic_fetch_add(&s->m.requests[WG__C_OTHER][WG_FAIL + 1], 1);
    ret = wg__reply(s, c, 202, "application/json", body, (size_t)n);
out:
    wg__events_job_free(j);
    return ret;
}

/* Check ev, then hand it to the committer with the connection suspended (ev is taken). */
static enum MHD_Result accept_event(struct wg_server *s, struct MHD_Connection *c,
                                    struct wg__server_req *r, struct wg_event *ev)
{
    struct wg__evjob *j = calloc(1, sizeof(*j));
    if (!j) {
        return wg__reply_error(s, c, 500, "out of memory");
    }
    j->c = c;
    j->ev = *ev;
    memset(ev, 0, sizeof(*ev));
    enum wg_err rc = ingest_pre(s, r->gen, &j->ev, &j->fr, j->err, sizeof(j->err));
    if (rc != WG_OK) {
        enum MHD_Result ret = rc == WG_EINVAL
                                  ? wg__reply_error(s, c, 400, "%s", j->err)
                                  : wg__reply_error(s, c, 503, "event not recorded: %s", j->err);
        wg__events_job_free(j);
        return ret;
    }
    j->now = wg_now_ns();
    r->evjob = j;
    MHD_suspend_connection(c); /* before the committer can resume it */
    rc = wg_events_submit(s->events, &j->ev, j->now, &j->fr, &j->dup, j->id, j->err, sizeof(j->err),
                          evjob_done, j);
    if (rc != WG_OK) {
        snprintf(j->err, sizeof(j->err), "%s", wg_strerror(rc));
        evjob_done(j, rc);
    }
    return MHD_YES;
}

/* ---- reconcile: poll Unleash's event search (webhooks are at most once) ---------------------- */

/* Events newer than the cursor (events_kv "unleash:<url>", the last Unleash event id seen) are
 * ingested unless the webhook already brought them; the first poll of a store looks back one
 * hour only. */
static void unleash_poll(struct wg_server *s, struct wg_http *h)
{
    struct wg__cfgref *g = wg__server_gen_get(s);
    const struct wg_events_cfg *ec = &g->cfg->events;
    char key[600], *cur = NULL, *auth = NULL, *url = NULL;
    snprintf(key, sizeof(key), "unleash:%s", ec->unleash_url);
    long long cursor = 0, maxid = 0;
    if (wg_events_kv_get(s->events, key, &cur) == WG_OK) {
        cursor = strtoll(cur, NULL, 10);
    }
    const char *tok = ec->unleash_token_env ? getenv(ec->unleash_token_env) : NULL;
    struct wg_http_job j;
    memset(&j, 0, sizeof(j));
    cJSON *root = NULL;
    if (!tok || !*tok) {
        wg_log(WG_LOG_ERROR, "reconcile: environment variable %s is not set",
               ec->unleash_token_env ? ec->unleash_token_env : "-");
        goto out;
    }
    wg_log_add_secret(tok);
    auth = wg_asprintf("Authorization: %s", tok);
    url = wg_asprintf("%s/api/admin/search/events?type=IS_ANY_OF:feature-environment-enabled,"
                      "feature-environment-disabled&limit=100",
                      ec->unleash_url);
    const char *hdrs[1] = {auth};
    if (!auth || !url) {
        goto out;
    }
    j.url = url;
    j.headers = hdrs;
    j.nheaders = 1;
    j.timeout_ns = 10 * WG_NS_PER_SEC;
    j.max_bytes = 16u << 20;
    if (wg_http_run(h, &j, 1, NULL) != WG_OK || j.err != WG_OK) {
        wg_log(WG_LOG_WARN, "reconcile: %s: %s", ec->unleash_url,
               j.errmsg[0] ? j.errmsg : wg_strerror(j.err));
        goto out;
    }
    root = cJSON_ParseWithLength(j.errbody.p ? j.errbody.p : "", j.errbody.len);
    const cJSON *evs = cJSON_GetObjectItemCaseSensitive(root, "events");
    if (!cJSON_IsArray(evs)) {
        wg_log(WG_LOG_WARN, "reconcile: %s: no events array in the answer", ec->unleash_url);
        goto out;
    }
    int64_t since = wg_now_ns() - 3600 * WG_NS_PER_SEC;
    const cJSON *it;
    /* newest first: walk back to front so flips are ingested in order */
    for (int i = cJSON_GetArraySize(evs) - 1; i >= 0; i--) {
        it = cJSON_GetArrayItem(evs, i);
        const cJSON *idn = cJSON_GetObjectItemCaseSensitive(it, "id");
        long long uid = cJSON_IsNumber(idn) ? (long long)idn->valuedouble : 0;
        if (uid <= cursor) {
            continue;
        }
        maxid = uid > maxid ? uid : maxid;
        struct wg_event ev;
        int n = 0;
        char why[256] = "", id[48];
        if (decode_obj(&adapters[0], it, &ev, &n, why, sizeof(why)) == WG_OK && n) {
            if (!wg_events_seen(s->events, "unleash", ev.version) &&
                (cursor > 0 || ev.time_ns >= since)) {
                free(ev.source);
                ev.source = wg_strdup("unleash");
                wg_log(WG_LOG_INFO, "reconcile: Unleash event %s (%s) came without its webhook",
                       ev.version, ev.flag);
                int dup = 0;
                (void)ingest(s, g, &ev, &dup, id, why, sizeof(why));
            }
            wg_event_clear(&ev);
        }
    }
    if (maxid > cursor) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", maxid);
        if (wg_events_kv_set(s->events, key, v) != WG_OK) {
            wg_log(WG_LOG_ERROR, "reconcile: the cursor could not be stored");
        }
    }
out:
    cJSON_Delete(root);
    wg_http_job_clear(&j);
    free(cur);
    free(auth);
    free(url);
    wg__server_gen_put(g);
}

/* 1 when a signed sender's request is refused (401 in *ret, logged without the secret). */
static int verify_refused(struct wg_server *s, struct MHD_Connection *c, struct wg__server_req *r,
                          const struct wg__event_adapter *ad, const char *body,
                          enum MHD_Result *ret)
{
    const struct wg_events_cfg *ec = &r->gen->cfg->events;
    const char *env = ad->secret >= 0 ? ec->secret_env[ad->secret] : NULL;
    struct wg__sig_in in = {
        .secret = env ? getenv(env) : NULL,
        .sig =
            ad->sig_header ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, ad->sig_header) : NULL,
        .wh_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id"),
        .wh_ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-timestamp"),
        .wh_sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature"),
        .now_s = wg_now_ns() / WG_NS_PER_SEC,
        .tolerance_s = ec->sig_tolerance_ns > 0 ? ec->sig_tolerance_ns / WG_NS_PER_SEC : 300,
    };
    if (in.secret && *in.secret) {
        wg_log_add_secret(in.secret);
    }
    const char *why = ad->verify(&in, body, r->body.len);
    if (!why) {
        return 0;
    }
    wg_log(WG_LOG_WARN, "events: %s webhook refused (signature): %s", ad->name, why);
    atomic_fetch_add(&s->m.errors[WG__E_UNAUTHORIZED], 1);
    *ret =
        wg__reply_error(s, c, 401, "%s: %s",
                        in.wh_sig || !ad->sig_header ? "webhook-signature" : ad->sig_header, why);
    return 1;
}

enum MHD_Result wg__events_route(struct wg_server *s, struct MHD_Connection *c,
                                 struct wg__server_req *r)
{
    char err[512] = "";
    const char *body = r->body.p ? r->body.p : "";
    if (r->evjob) { /* resumed: the store has committed (or failed) it */
        return accept_done(s, c, r);
    }
    if (r->route == WG__R_EVENTS_ADAPTER && !r->method_post) { /* GET /v1/events/actions */
        char *json = NULL;
        if (!s->events || wg_events_actions_json(s->events, &json) != WG_OK) {
            return wg__reply_error(s, c, 503, "events: the store cannot be read");
        }
        enum MHD_Result ret = wg__reply(s, c, 200, "application/json", json, strlen(json));
        free(json);
        return ret;
    }
    if (r->route == WG__R_EVENTS && !r->method_post) {
        char *json = NULL;
        if (!s->events || wg_events_list_json(s->events, 100, &json, err, sizeof(err)) != WG_OK) {
            return wg__reply_error(s, c, 503, "events: %s", err[0] ? err : "no event store");
        }
        enum MHD_Result ret = wg__reply(s, c, 200, "application/json", json, strlen(json));
        free(json);
        return ret;
    }
    struct wg_event ev;
    enum wg_err rc;
    int n = 1;
    if (r->route == WG__R_EVENTS) {
        rc = wg_event_from_json(body, r->body.len, &ev, err, sizeof(err));
    } else {
        const struct wg__event_adapter *ad = &adapters[r->hook];
        int role = ad->body_token && r->gen->has_token && !r->header_authed
                       ? flagger_token_role(r->gen, body, r->body.len)
                       : WG__ROLE_ADMIN;
        if (role != WG__ROLE_ADMIN) {
            /* a known read token is 403 (wrong role), as a header token is (gate_server_auth.c);
             * tests/integration/test_tokens.sh */
            wg_log(WG_LOG_WARN, "events: %s webhook refused: metadata.token %s", ad->name,
                   role == WG__ROLE_READ ? "is a read token" : "missing or wrong");
            atomic_fetch_add(&s->m.errors[WG__E_UNAUTHORIZED], 1);
            return role == WG__ROLE_READ
                       ? wg__reply_error(s, c, 403,
                                         "forbidden: events need the admin token in "
                                         "metadata.token (the read token may not change state)")
                       : wg__reply_error(s, c, 401,
                                         "unauthorized: metadata.token missing or wrong");
        }
        enum MHD_Result refused;
        if (ad->verify && verify_refused(s, c, r, ad, body, &refused)) {
            return refused;
        }
        rc = wg__events_decode((int)r->hook, body, r->body.len, &ev, &n, err, sizeof(err));
    }
    if (rc == WG_ENOMEM) {
        return wg__reply_error(s, c, 500, "out of memory");
    }
    if (rc != WG_OK) {
        wg_log(WG_LOG_WARN, "events: refused: %s", err);
        return wg__reply_error(s, c, 400, "%s", err);
    }
    if (n == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "ignored", err);
        char *json = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        enum MHD_Result ret = json ? wg__reply(s, c, 200, "application/json", json, strlen(json))
                                   : wg__reply_error(s, c, 500, "out of memory");
        free(json);
        return ret;
    }
    enum MHD_Result ret = accept_event(s, c, r, &ev);
    wg_event_clear(&ev);
    return ret;
}

unsigned wg__events_body_check(const uint8_t *data, size_t size, char *err, size_t errlen)
{
    struct wg_event ev;
    enum wg_err rc = wg_event_from_json((const char *)data, size, &ev, err, errlen);
    wg_event_clear(&ev);
    return rc == WG_OK ? 0 : rc == WG_ENOMEM ? 500 : 400;
}

void wg__events_metrics(struct wg_server *s, struct wg_buf *b)
{
    if (s->evrun) {
        wg_buf_addf(b,
                    "# HELP wavegate_events_polls_total Store queries of the events runner "
                    "asking for due flip looks and kill-switch actions (two every 100 ms when none "
                    "is due).\n"
                    "# TYPE wavegate_events_polls_total counter\nwavegate_events_polls_total "
                    "%llu\n",
                    (unsigned long long)atomic_load(&s->evrun->polls));
    }
    if (!s->markers) {
        return;
    }
    struct wg_lp_writer_counts c;
    wg_lp_writer_counts(s->markers, &c);
    wg_buf_addf(b,
                "# HELP wavegate_markers_backlog Marker lines (events, verdicts, rules) kept "
                "for events.write_to, not yet written.\n# TYPE wavegate_markers_backlog gauge\n"
                "wavegate_markers_backlog %llu\n",
                c.backlog);
    wg_buf_addf(b,
                "# HELP wavegate_markers_total Marker lines by outcome: sent (taken by "
                "InfluxDB), failed (refused by it, not retried), dropped (over "
                "events.write_backlog, or not storable).\n# TYPE wavegate_markers_total counter\n"
                "wavegate_markers_total{outcome=\"sent\"} %llu\n"
                "wavegate_markers_total{outcome=\"failed\"} %llu\n"
                "wavegate_markers_total{outcome=\"dropped\"} %llu\n",
                c.written, c.failed, c.dropped);
    wg_buf_addf(b,
                "# HELP wavegate_markers_retries_total Marker batches that failed and were kept "
                "to be retried (InfluxDB down, 5xx, 429).\n# TYPE wavegate_markers_retries_total "
                "counter\nwavegate_markers_retries_total %llu\n",
                c.retries);
}
