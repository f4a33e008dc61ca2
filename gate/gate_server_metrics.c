/* gate_server_metrics.c — the counters and histograms of `serve` (lock-free atomics on the hot
 * path) and their rendering in the Prometheus text exposition format 0.0.4 for /metrics:
 * requests by consumer and verdict, rule evaluations, latency histograms, errors.
 */
#include "gate/gate_server_int.h"

#include "common/store.h"

#include <stdlib.h>
#include <string.h>

/* Upper bounds in microseconds: 1ms .. 30s. */
static const unsigned long long bounds_us[WG__HIST_BUCKETS] = {
    1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000, 30000000};

static const char *const consumer_names[WG__C_LAST] = {"gate_body",
                                                       "gate_status",
                                                       "flagger_rollout",
                                                       "flagger_pre_rollout",
                                                       "flagger_confirm_rollout",
                                                       "flagger_confirm_promotion",
                                                       "flagger_confirm_traffic_increase",
                                                       "flagger_rollback",
                                                       "flagger_post_rollout",
                                                       "flagger_event",
                                                       "analysis",
                                                       "other"};

static const char *const error_names[] = {"bad_request", "unauthorized", "body_too_large",
                                          "not_found",   "evaluation",   "internal",
                                          "overload",    "reload"};

void wg__metrics_init(struct wg__metrics *m)
{
    memset(m, 0, sizeof(*m)); /* atomics are lock-free integers here: zero is their init */
    pthread_mutex_init(&m->src_mu, NULL);
}

void wg__metrics_free(struct wg__metrics *m)
{
    for (size_t i = 0; i < m->nsrc; i++) {
        free(m->src_name[i]);
    }
    pthread_mutex_destroy(&m->src_mu);
}

void wg__hist_observe(struct wg__hist *h, int64_t ns)
{
    unsigned long long us = ns > 0 ? (unsigned long long)(ns / 1000) : 0;
    size_t i = 0;
    while (i < WG__HIST_BUCKETS && us > bounds_us[i]) {
        i++;
    }
    atomic_fetch_add(&h->b[i], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_us, us);
}

void wg__metrics_source(struct wg__metrics *m, const char *source, int64_t ns)
{
    if (!source) {
        return;
    }
    pthread_mutex_lock(&m->src_mu);
    size_t i = 0;
    while (i < m->nsrc && strcmp(m->src_name[i], source)) {
        i++;
    }
    if (i == m->nsrc && m->nsrc < WG__MAX_SOURCES && (m->src_name[i] = wg_strdup(source))) {
        m->nsrc++;
    }
    pthread_mutex_unlock(&m->src_mu);
    if (i < m->nsrc) {
        wg__hist_observe(&m->src_seconds[i], ns);
    }
}

void wg__metrics_response(struct wg__metrics *m, unsigned status)
{
    unsigned cls = status / 100;
    if (cls >= 2 && cls <= 5) {
        atomic_fetch_add(&m->responses[cls - 2], 1);
    }
}

static void hist(struct wg_buf *b, const char *name, const char *labels, const struct wg__hist *h)
{
    unsigned long long cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (size_t i = 0; i < WG__HIST_BUCKETS; i++) {
        cum += atomic_load(&h->b[i]);
        wg_buf_addf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                    (double)bounds_us[i] / 1e6, cum);
    }
    cum += atomic_load(&h->b[WG__HIST_BUCKETS]);
    wg_buf_addf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, cum);
    wg_buf_addf(b, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
                (double)atomic_load(&h->sum_us) / 1e6);
    wg_buf_addf(b, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
                labels[0] ? "}" : "", cum);
}

static void counter_head(struct wg_buf *b, const char *name, const char *help)
{
    wg_buf_addf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
}

/* The store's query latency (both backends; with PostgreSQL, one round trip each): beside
 * wavegate_state_query{,_errors}_total and _seconds_total (gate_server_leader.c). */
static void state_latency(struct wg_buf *b)
{
    uint64_t n[WG_SQL_NBOUNDS + 1];
    wg_sql_latency(n);
    wg_buf_adds(b, "# HELP wavegate_state_query_duration_seconds Store query latency (on "
                   "PostgreSQL one round trip each).\n"
                   "# TYPE wavegate_state_query_duration_seconds histogram\n");
    unsigned long long cum = 0;
    double sum = 0;
    for (int i = 0; i < WG_SQL_NBOUNDS; i++) {
        cum += n[i];
        wg_buf_addf(b, "wavegate_state_query_duration_seconds_bucket{le=\"%g\"} %llu\n",
                    wg_sql_bounds_us[i] / 1e6, cum);
    }
    cum += n[WG_SQL_NBOUNDS];
    struct wg_sql_stats st;
    wg_sql_stats(&st);
    sum = (double)st.ns / 1e9;
    wg_buf_addf(b,
                "wavegate_state_query_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                "wavegate_state_query_duration_seconds_sum %.6f\n"
                "wavegate_state_query_duration_seconds_count %llu\n",
                cum, sum, cum);
}

char *wg__metrics_render(struct wg_server *s)
{
    struct wg__metrics *m = &s->m;
    struct wg_buf b;
    wg_buf_init(&b, 1 << 20);
    counter_head(&b, "wavegate_gate_requests_total",
                 "Gate answers by consumer and verdict (none: no evaluation).");
    for (int c = 0; c < WG__C_LAST; c++) {
        for (int v = 0; v <= WG_FAIL + 1; v++) {
            unsigned long long n = atomic_load(&m->requests[c][v]);
            if (n) {
                wg_buf_addf(&b,
                            "wavegate_gate_requests_total{consumer=\"%s\",verdict=\"%s\"} "
                            "%llu\n",
                            consumer_names[c],
                            v <= WG_FAIL ? wg_verdict_name((enum wg_verdict)v) : "none", n);
            }
        }
    }
    counter_head(&b, "wavegate_http_responses_total", "HTTP responses by status class.");
    static const char *const cls[] = {"2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 4; i++) {
        wg_buf_addf(&b, "wavegate_http_responses_total{code=\"%s\"} %llu\n", cls[i],
                    atomic_load(&m->responses[i]));
    }
    counter_head(&b, "wavegate_rule_evaluations_total", "Rule evaluations by verdict.");
    for (int v = 0; v <= WG_FAIL; v++) {
        wg_buf_addf(&b, "wavegate_rule_evaluations_total{verdict=\"%s\"} %llu\n",
                    wg_verdict_name((enum wg_verdict)v), atomic_load(&m->rule_evals[v]));
    }
    counter_head(&b, "wavegate_errors_total", "Errors by kind.");
    for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++) {
        wg_buf_addf(&b, "wavegate_errors_total{kind=\"%s\"} %llu\n", error_names[i],
                    atomic_load(&m->errors[i]));
    }
    counter_head(&b, "wavegate_gate_evaluations_total",
                 "Evaluations run (cache misses that reached the data sources).");
    wg_buf_addf(&b, "wavegate_gate_evaluations_total %llu\n", atomic_load(&m->evaluations));
    counter_head(&b, "wavegate_gate_cache_hits_total", "Answers served from the verdict cache.");
    wg_buf_addf(&b, "wavegate_gate_cache_hits_total %llu\n", atomic_load(&m->cache_hits));
    counter_head(&b, "wavegate_gate_shared_evaluations_total",
                 "Requests that waited on an identical evaluation in flight.");
    wg_buf_addf(&b, "wavegate_gate_shared_evaluations_total %llu\n", atomic_load(&m->shared_waits));
    counter_head(&b, "wavegate_config_reloads_total", "Config reloads by result.");
    wg_buf_addf(&b, "wavegate_config_reloads_total{result=\"success\"} %llu\n",
                atomic_load(&m->reloads_ok));
    wg_buf_addf(&b, "wavegate_config_reloads_total{result=\"failure\"} %llu\n",
                atomic_load(&m->reloads_failed));
    wg_buf_adds(&b, "# HELP wavegate_http_request_duration_seconds Time from request headers "
                    "to response done.\n# TYPE wavegate_http_request_duration_seconds histogram\n");
    hist(&b, "wavegate_http_request_duration_seconds", "", &m->request_seconds);
    wg_buf_adds(&b, "# HELP wavegate_gate_evaluation_duration_seconds Time of one gate "
                    "evaluation (all queries and rules).\n"
                    "# TYPE wavegate_gate_evaluation_duration_seconds histogram\n");
    hist(&b, "wavegate_gate_evaluation_duration_seconds", "", &m->eval_seconds);
    wg_buf_adds(&b, "# HELP wavegate_source_query_duration_seconds Query latency per data "
                    "source.\n# TYPE wavegate_source_query_duration_seconds histogram\n");
    pthread_mutex_lock(&m->src_mu);
    for (size_t i = 0; i < m->nsrc; i++) {
        char lab[300];
        snprintf(lab, sizeof(lab), "source=\"%.256s\"", m->src_name[i]);
        hist(&b, "wavegate_source_query_duration_seconds", lab, &m->src_seconds[i]);
    }
    pthread_mutex_unlock(&m->src_mu);
    unsigned long long an[WG_FAIL + 2] = {0};
    wg__analyses_count(s, an);
    wg_buf_adds(&b, "# HELP wavegate_analyses Analyses by state.\n# TYPE wavegate_analyses "
                    "gauge\n");
    wg_buf_addf(&b, "wavegate_analyses{state=\"running\"} %llu\n", an[WG_FAIL + 1]);
    for (int v = 0; v <= WG_FAIL; v++) {
        wg_buf_addf(&b, "wavegate_analyses{state=\"%s\"} %llu\n",
                    wg_verdict_name((enum wg_verdict)v), an[v]);
    }
    wg_buf_addf(&b,
                "# HELP wavegate_inflight_requests Requests being served.\n"
                "# TYPE wavegate_inflight_requests gauge\nwavegate_inflight_requests %d\n",
                atomic_load(&s->inflight));
    counter_head(&b, "wavegate_http_connections_shed_total",
                 "Connections closed by the guard: request head/body over request_timeout, "
                 "or the oldest waiting one closed to keep room under max_connections.");
    wg_buf_addf(&b, "wavegate_http_connections_shed_total{reason=\"deadline\"} %llu\n",
                atomic_load(&s->guard.shed_deadline));
    wg_buf_addf(&b, "wavegate_http_connections_shed_total{reason=\"capacity\"} %llu\n",
                atomic_load(&s->guard.shed_capacity));
    wg__monitor_metrics(s, &b);
    wg__events_metrics(s, &b);
    wg__leader_metrics(&b);
    state_latency(&b);
    return wg_buf_take(&b);
}
