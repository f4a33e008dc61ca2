/* gate_server_events.c — events in over HTTP: POST /v1/events (wavegate's own shape), GET
 * /v1/events (the newest stored), and the senders' own formats as adapters, one table of
 * operations (POST /v1/events/<adapter>: name, how it is signed, how its body decodes), with
 * the reconcile poll of Unleash's event search. Each accepted event is recorded durably
 * (gate_events.c, through gate_server_events_ingest.c) before the 202 with its id.
 */
#include "gate/gate_server_int.h"

#include "alerting/alerting.h"
#include "common/http.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* ---- reconcile: poll Unleash's event search (webhooks are at most once) ---------------------- */

/* Events newer than the cursor (events_kv "unleash:<url>", the last Unleash event id seen) are
 * ingested unless the webhook already brought them; the first poll of a store looks back one
 * hour only. */
void wg__gate_events_unleash_poll(struct wg_server *s, struct wg_http *h)
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
                (void)wg__gate_events_ingest(s, g, &ev, &dup, id, why, sizeof(why));
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
        return wg__gate_events_accept_done(s, c, r);
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
    enum MHD_Result ret = wg__gate_events_accept(s, c, r, &ev);
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
