/* config.h — wavegate's configuration model and its loader (YAML via libyaml).
 * Every value keeps the file:line:col it came from so later checks can point at it.
 * Knows nothing of HTTP or InfluxDB wire formats.
 */
#ifndef WG_CONFIG_H
#define WG_CONFIG_H

#include "common/common.h"

enum wg_source_kind { WG_SRC_INFLUXQL = 0, WG_SRC_FLUX, WG_SRC_SQL };
enum wg_api { WG_API_V1 = 0, WG_API_V3 }; /* influxql: /query (v1) or /api/v3/query_influxql */
/* Accept-Encoding: gzip? auto asks for it except on loopback, where compressing only costs
 * the server CPU and the answer time. */
enum wg_compression { WG_COMPRESS_AUTO = 0, WG_COMPRESS_GZIP, WG_COMPRESS_NONE };

struct wg_tls {
    char *ca_file;
    char *cert_file;
    char *key_file;
    int insecure_skip_verify;
};

struct wg_source {
    char *name;
    enum wg_source_kind kind;
    enum wg_api api;
    char *url;              /* base URL, no trailing slash */
    char *database;         /* influxql, sql */
    char *retention_policy; /* influxql, optional */
    char *org;              /* flux */
    char *org_id;           /* flux */
    char *token_env;        /* name of the env var with the token */
    char *username;
    char *password_env;
    int64_t timeout_ns;         /* total per request; default 10s */
    int64_t connect_timeout_ns; /* default 5s */
    size_t max_response_bytes;  /* default 256 MiB */
    int max_concurrency;        /* parallel requests to this source; default 8 */
    int retries;                /* attempts after the first; default 2 */
    size_t chunk_size;          /* influxql chunked=true size; default 10000; 0 = not chunked */
    size_t max_series;          /* series per answer, more is an error; 100000; 0 = no cap */
    struct wg_tls tls;
    struct wg_pos pos;
    enum wg_compression compression; /* default auto */
};

enum wg_reduce {
    WG_REDUCE_LAST = 0,
    WG_REDUCE_MEAN,
    WG_REDUCE_MIN,
    WG_REDUCE_MAX,
    WG_REDUCE_SUM,
    WG_REDUCE_COUNT,
    WG_REDUCE_FIRST,
    WG_REDUCE_MEDIAN,
    WG_REDUCE_P90,
    WG_REDUCE_P95,
    WG_REDUCE_P99
};
const char *wg_reduce_name(enum wg_reduce r);

enum wg_no_data { WG_NODATA_INCONCLUSIVE = 0, WG_NODATA_PASS, WG_NODATA_FAIL };

/* rate (budget issue): the conditional binomial test of two Poisson rates, numerator events
 * over denominator exposure (rules.h wg_rules_rate_test). peers (fleet waves): each target
 * against the other targets of the wave (rules.h wg_rules_peers). */
enum wg_judge { WG_JUDGE_THRESHOLD = 0, WG_JUDGE_MANN_WHITNEY, WG_JUDGE_RATE, WG_JUDGE_PEERS };
enum wg_direction { WG_DIR_INCREASE = 0, WG_DIR_DECREASE, WG_DIR_EITHER };

enum wg_baseline_kind {
    WG_BASELINE_NONE = 0,
    WG_BASELINE_WINDOW,   /* [deploy - window, deploy) */
    WG_BASELINE_PINNED,   /* [start, end) */
    WG_BASELINE_PREVIOUS, /* values of the last passing evaluations (state store) */
    WG_BASELINE_SPLIT     /* same window, series split by a tag (canary vs baseline) */
};

/* A limit on change against the baseline: absolute units or percent of the baseline. */
struct wg_limit {
    int set;
    int percent; /* 1: value is a percentage (20 means 20%) */
    double value;
};

struct wg_threshold {
    int has_min, has_max, has_warn_min, has_warn_max;
    double min, max, warn_min, warn_max;
};

/* The tunable part of a rule: what a wave-level default or a per-wave override may change.
 * `set` has a bit per field (WG_P_*) telling which fields were given explicitly. */
enum {
    WG_P_THRESHOLD = 1u << 0,
    WG_P_MIN_SAMPLES = 1u << 1,
    WG_P_NO_DATA = 1u << 2,
    WG_P_WINDOW = 1u << 3,
    WG_P_DELAY = 1u << 4,
    WG_P_MAX_INCREASE = 1u << 5,
    WG_P_MAX_DECREASE = 1u << 6,
    WG_P_ALLOWED_INCREASE = 1u << 7,
    WG_P_ALLOWED_DECREASE = 1u << 8,
    WG_P_CONFIDENCE = 1u << 9,
    WG_P_SEVERITY = 1u << 10,
    WG_P_DRY_RUN = 1u << 11,
    WG_P_WEIGHT = 1u << 12,
    WG_P_KEY = 1u << 13,
    WG_P_REDUCE = 1u << 14,
    WG_P_DIRECTION = 1u << 15,
    WG_P_MIN_EVENTS = 1u << 16
};

struct wg_rule_params {
    unsigned set;
    struct wg_threshold threshold;
    long min_samples;                           /* default 1 (threshold), 50 (mann-whitney) */
    enum wg_no_data no_data;                    /* default inconclusive */
    int64_t window_ns;                          /* default 10m */
    int64_t delay_ns;                           /* default 0 */
    struct wg_limit max_increase, max_decrease; /* vs baseline reduced value */
    struct wg_limit allowed_increase, allowed_decrease; /* mann-whitney effect size */
    double confidence;                                  /* default 0.98 */
    char *severity;                                     /* default "critical" */
    int dry_run;
    double weight; /* default 1 */
    int key;       /* a failing key rule fails the gate regardless of score */
    enum wg_reduce reduce;
    enum wg_direction direction; /* default increase */
    long min_events;             /* judge rate: fewer events on both sides together is inconclusive;
                                  * default 5 */
};

struct wg_wave_override {
    char *wave;
    struct wg_rule_params p;
    struct wg_pos pos;
};

struct wg_baseline {
    enum wg_baseline_kind kind;
    int64_t window_ns;        /* WINDOW */
    int64_t start_ns, end_ns; /* PINNED */
    long previous_count;      /* PREVIOUS: how many passing evaluations; default 5 */
    char *split_tag;          /* SPLIT: tag name */
    char *split_baseline;     /* SPLIT: tag value of the baseline */
    char *split_canary;       /* SPLIT: tag value of the canary */
};

struct wg_rule {
    char *name;
    char *feature; /* borrowed: the owning feature's name */
    char *source;  /* NULL: the wave's source */
    char *query;   /* template with {{ placeholders }} */
    struct wg_pos query_pos;
    char *field;                   /* value column; NULL: first column after time */
    char *numerator, *denominator; /* judge rate: the events and exposure columns */
    enum wg_judge judge;
    struct wg_baseline baseline;
    int outliers_iqr; /* mann-whitney: drop IQR outliers (1.5 IQR) */
    struct wg_rule_params p;
    struct wg_label *labels;
    size_t nlabels;
    struct wg_wave_override *overrides;
    size_t noverrides;
    struct wg_pos pos;
};

struct wg_score {
    int enabled;
    double pass_pct; /* e.g. 90 */
    double warn_pct; /* e.g. 75 */
};

/* A feature's kill switch (`on_fail:`, config_events.c): what to do when the analysis of a flag
 * flip fails. unleash: turn the flag off through Unleash's Admin API; webhook: any request. */
enum wg_action_kind { WG_ACTION_UNLEASH = 0, WG_ACTION_WEBHOOK };
struct wg_action {
    int kind;          /* enum wg_action_kind */
    char *url;         /* unleash: the server's base URL; webhook: the URL (templated) */
    char *token_env;   /* env var holding the token (unleash: an admin token) */
    char *project;     /* unleash, default "default" */
    char *environment; /* unleash; default: the event's env */
    char *method;      /* webhook, default POST */
    char *body;        /* webhook body template ({{ feature }}, {{ flag }}, {{ env }}, ...) */
    int dry_run;       /* rehearse: record what would be sent, send nothing */
    char *secret_env;  /* webhook: env var with a whsec_ secret: Standard-Webhooks signed */
    /* `rate_limit: {per, max}`: at most max flips of this feature acted on by this action per
     * window; over it the action is held (pending, alerted), never dropped. max 0: no limit */
    int64_t rate_per_ns;
    long rate_max;
    struct wg_pos pos;
};
/* How a flag flip is analysed (`flip:`): a look every interval, count looks, failing when more
 * than failure_limit looks fail. */
struct wg_flip_cfg {
    int64_t interval_ns; /* default 1m */
    long count;          /* default 10 */
    long failure_limit;  /* default 0 */
};

struct wg_feature {
    char *name;
    char *flag;
    struct wg_action *on_fail;
    size_t non_fail;
    struct wg_flip_cfg flip;
    struct wg_rule *rules;
    size_t nrules;
    struct wg_score score;
    struct wg_pos pos;
};

/* One target of a fleet wave (config/config_target.c): a region, a cloud, a cluster, each
 * with its own env, source and labels (placeholders of the queries). Listed or expanded from
 * a matrix at load time, so the model only ever holds concrete targets. */
struct wg_target {
    char *name;
    char *env;    /* never NULL once loaded: its own, else the wave's */
    char *source; /* NULL: the wave's source */
    struct wg_label *labels;
    size_t nlabels;
    struct wg_pos pos;
};

/* How a fleet wave's verdict follows from its targets' (wg_gate_combine_targets):
 * `require: all` (default) or `require: {max_failed: N|P%, max_unreachable: N|P%,
 * min_targets: N}`. Unset limits are 0; min_targets 0 means "every target not allowed to be
 * unreachable must have data". */
struct wg_wave_policy {
    struct wg_limit max_failed;
    struct wg_limit max_unreachable;
    long min_targets;
    struct wg_pos pos;
};

/* `waves[].bake: {interval, duration, limits: {...}}` (config_events.c): a deploy event of the
 * wave starts a bake-time analysis (POST /v1/analyses) anchored at the event's time. */
struct wg_bake_cfg {
    int present;
    int64_t interval_ns, duration_ns;
    long failure_limit, consecutive_failures, inconclusive_limit, error_limit; /* -1: unset */
};

struct wg_wave {
    char *name;
    char *env;
    char *source;
    struct wg_rule_params defaults; /* wave-level defaults for every rule */
    struct wg_pos pos;
    /* `gate: {false_fail: 1%}`: the family-wise false-fail rate shared by the statistical
     * rules of one gate evaluation (rules.h wg_rules_family_apply); 0 = not set, the
     * smallest rule level is used. */
    double gate_false_fail;
    struct wg_target *targets; /* NULL / 0: the wave is its own single target */
    size_t ntargets;
    struct wg_wave_policy policy;
    struct wg_bake_cfg bake;
};

/* The `server:` section (wavegate serve). Decoded by config/config_server.c. */
struct wg_server_cfg {
    int present;                   /* 1 when the section was given */
    char *listen;                  /* "ADDR:PORT"; default "127.0.0.1:8080" */
    char *bearer_token_env;        /* deprecated: both roles; = auth.admin_token_env */
    char *bearer_token_file;       /* deprecated: both roles; = auth.admin_tokens_file */
    char *tls_cert, *tls_key;      /* PEM files; both or neither */
    size_t max_body;               /* request body cap; default 64 KiB */
    char *external_url;            /* how pipelines reach us; used in links, optional */
    int64_t cache_ttl_ns;          /* verdict cache; default 5s, 0 disables */
    unsigned max_connections;      /* default 256 */
    unsigned per_ip_connections;   /* default 64 */
    int64_t connection_timeout_ns; /* idle/slow connection timeout; default 15s */
    int64_t request_timeout_ns;    /* whole request head + body deadline; default 10s */
    unsigned threads;              /* polling threads; default 2 */
    int64_t drain_timeout_ns;      /* SIGTERM drain budget; default 30s */
    /* `auth:` (gate_server_auth.c): tokens per role, several each (rotation overlap); files
     * re-read when they change. Read: gate answers, pages; admin: also silences, events. */
    char *read_tokens_file, *admin_tokens_file;
    char *read_token_env, *admin_token_env;
    /* `evaluations: {keep, max_age}`: the evidence pages' retention; default 1000 and 7d */
    struct {
        size_t keep;
        int64_t max_age_ns;
    } evals;
    struct wg_pos pos;
};

/* The `events:` section (config_events.c): markers and verdicts written back. */
struct wg_events_cfg {
    int present;
    char *write_to;   /* a source name; NULL: no markers */
    int64_t flush_ns; /* batch interval; default 200ms */
    /* `unleash: {url, token_env, poll_interval}`: reconcile by polling Unleash's event search
     * (webhooks are at most once); url NULL: no polling */
    char *unleash_url, *unleash_token_env;
    int64_t unleash_poll_ns; /* default 10s */
    /* `signing: {launchdarkly: ENV, flagsmith: ENV, growthbook: ENV}`: env vars holding each
     * service's webhook secret; a service without one is refused (401) */
    char *secret_env[3];
    int64_t sig_tolerance_ns; /* `signing.tolerance`: signed timestamps this far off; default 5m */
    struct wg_pos pos;
    long write_backlog; /* marker lines kept for write_to at most; default 1,000,000 */
};

struct wg_alert_config; /* config/config_alerting.h */

/* `state:` — where the state lives (docs/state.md). */
enum wg_state_backend { WG_STATE_SQLITE = 0, WG_STATE_POSTGRES = 1 };
struct wg_state_cfg {
    int backend;                /* enum wg_state_backend; default sqlite (files under state_dir) */
    char *dsn_env;              /* the variable holding the libpq DSN; default WAVEGATE_PG_DSN */
    int64_t leader_takeover_ns; /* postgres: a new leader within this bound; default 10s */
};

struct wg_config {
    char *path;
    struct wg_source *sources;
    size_t nsources;
    struct wg_wave *waves;
    size_t nwaves;
    struct wg_feature *features;
    size_t nfeatures;
    char *state_dir; /* never NULL once loaded: the one state directory (gate state store,
                      * analyses, alert outbox, silences); wg_config_default_state_dir() */
    struct wg_alert_config *alerting; /* `alerting:` and `monitor:` (config_alerting.h); NULL
                                       * when the file has neither */
    struct wg_server_cfg server;      /* defaults set even when the section is absent */
    struct wg_state_cfg state;        /* defaults set even when the section is absent */
    struct wg_events_cfg events;      /* `events:` (zero when absent) */
};

/* The placeholders a query template may use. */
extern const char *const wg_placeholders[];

/* Load and validate a config file. On success *out is set and diags may hold warnings.
 * On failure returns WG_ECONFIG (or WG_EIO / WG_ENOMEM) with every problem in diags, and
 * *out is NULL. diags is caller-owned (zero-initialised). */
enum wg_err wg_config_load(const char *path, struct wg_config **out,
                           struct wg_diags *diags) WG_NODISCARD;
/* The same from a memory buffer; `name` is used as the file name in diagnostics. */
enum wg_err wg_config_load_mem(const char *name, const char *text, size_t len,
                               struct wg_config **out, struct wg_diags *diags) WG_NODISCARD;
void wg_config_free(struct wg_config *cfg);
/* The state directory of a config that names none, decided here only: $XDG_STATE_HOME/wavegate,
 * else ./.wavegate. Caller frees; NULL on ENOMEM. */
char *wg_config_default_state_dir(void);

const struct wg_source *wg_config_source(const struct wg_config *cfg, const char *name);
const struct wg_wave *wg_config_wave(const struct wg_config *cfg, const char *name);
const struct wg_feature *wg_config_feature(const struct wg_config *cfg, const char *name);
/* The wave's target of that name, or NULL. */
const struct wg_target *wg_config_target(const struct wg_wave *w, const char *name);
/* The value of label key on target t, or NULL. */
const char *wg_config_target_label(const struct wg_target *t, const char *key);

/* The parameters that apply to rule r in wave w: wave defaults < rule's own < rule's
 * per-wave override. Pointers inside (severity) are borrowed from cfg. */
void wg_config_effective(const struct wg_rule *r, const struct wg_wave *w,
                         struct wg_rule_params *out);

#endif
