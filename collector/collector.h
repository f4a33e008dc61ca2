/* collector.h — query templating and the InfluxDB clients. Renders a rule's query with
 * escaped literals, sends it over HTTP (libcurl multi, concurrent), stream-parses the answer
 * and hands back either series (for rules) or whole tables (for `wavegate query`).
 * Knows nothing of rules or verdicts.
 */
#ifndef WG_COLLECTOR_H
#define WG_COLLECTOR_H

#include "common/common.h"
#include "config/config.h"

/* ---- templating ------------------------------------------------------------------------- */

struct wg_vars {
    const char *env, *wave, *feature, *flag; /* NULL renders as an empty string literal */
    int64_t start_ns, end_ns, window_ns;
    const char *target;            /* {{ target }}: the fleet target's name */
    const struct wg_label *labels; /* {{ <key> }}: the target's labels, strings like env */
    size_t nlabels;
};

/* Render tmpl for a query language: strings become escaped string literals (InfluxQL
 * '...' with \' and \\; Flux "..." with \" \\ and \$; SQL '...' with ''), times RFC3339
 * literals of that language, window a duration literal. An unknown placeholder is
 * WG_EINVAL with a message in err. *out is malloc'd. */
enum wg_err wg_collector_render(enum wg_source_kind kind, const char *tmpl,
                                const struct wg_vars *vars, char **out, char *err,
                                size_t errlen) WG_NODISCARD;

/* ---- tables (the parsed answer, for `wavegate query`) ------------------------------------ */

enum wg_vtype {
    WG_V_NULL = 0,
    WG_V_FLOAT,
    WG_V_INT,
    WG_V_UINT,
    WG_V_BOOL,
    WG_V_STRING,
    WG_V_TIME /* ns since epoch */
};

struct wg_value {
    enum wg_vtype t;
    union {
        double f;
        int64_t i;
        uint64_t u;
        int b;
        int64_t time;
    } u;
    char *s; /* WG_V_STRING */
};

struct wg_column {
    char *name;
    char *type; /* declared type ("double", "long", "dateTime:RFC3339", ...) or NULL */
};

struct wg_table {
    char *result; /* Flux result name / InfluxQL statement id as text */
    char *name;   /* InfluxQL measurement; NULL for Flux */
    struct wg_label *labels;
    size_t nlabels;
    struct wg_column *cols;
    size_t ncols;
    struct wg_value *cells; /* nrows * ncols, row-major */
    size_t nrows, cap;
};

struct wg_tableset {
    struct wg_table *t;
    size_t n, cap;
};
void wg_tableset_free(struct wg_tableset *ts);

/* ---- a sink: what a streaming parser feeds --------------------------------------------- */

/* Parsers call begin once per table (labels and columns), row once per row, and error once if
 * the server reported a query error in the body. A nonzero return aborts the parse. The cells
 * passed to row are only valid during the call. */
struct wg_sink {
    int (*begin)(void *ud, const char *result, const char *name, const struct wg_label *labels,
                 size_t nlabels, const struct wg_column *cols, size_t ncols);
    int (*row)(void *ud, const struct wg_value *cells, size_t ncells);
    void *ud;
};

/* ---- queries ---------------------------------------------------------------------------- */

enum wg_collect_mode {
    WG_COLLECT_SERIES = 0, /* value column + time per series, into `series` */
    WG_COLLECT_TABLES      /* every table as parsed, into `tables` */
};

struct wg_query {
    /* in */
    const struct wg_source *src;
    char *query;       /* rendered; owned by the job */
    const char *field; /* value column (NULL: first non-time column) */
    enum wg_collect_mode mode;
    int64_t deadline_ns; /* 0: the source's timeout; monotonic budget for all retries */
    /* out */
    enum wg_err err;   /* WG_OK, or why it could not be collected */
    char errmsg[1024]; /* the server's message or the transport error, secrets redacted */
    long http_status;
    int attempts;
    int64_t elapsed_ns;
    struct wg_seriesset series;
    struct wg_tableset tables;
};

struct wg_http; /* common/http.h */
struct wg_collector_opts {
    int max_total; /* overall parallel requests; 0 = 64 */
    /* Borrowed: run on this handle, whose kept-alive connections the next run reuses (serve
     * keeps a few between gate calls); NULL: a handle of the run's own, closed at its end. */
    struct wg_http *http;
};

/* Run every query concurrently (bounded per source by src->max_concurrency). Each query's own
 * err says how it went; the function returns WG_OK unless it could not run at all.
 * Thread-compatible: one call per thread. */
enum wg_err wg_collector_run(struct wg_query *qs, size_t n,
                             const struct wg_collector_opts *o) WG_NODISCARD;
void wg_query_clear(struct wg_query *q); /* frees query, series and tables */

/* ---- parsers (also the fuzz entry points) ----------------------------------------------- */

struct wg_parser; /* opaque streaming parser */
enum wg_parser_kind { WG_PARSE_INFLUXQL_JSON = 0, WG_PARSE_FLUX_CSV, WG_PARSE_JSONL };

enum wg_err wg_parser_new(enum wg_parser_kind kind, const struct wg_sink *sink,
                          struct wg_parser **out) WG_NODISCARD;
/* Feed the next bytes of the body (any split). Returns WG_EQUERY once the body carried a
 * server error (message in wg_parser_error), WG_EPARSE on malformed input. */
enum wg_err wg_parser_feed(struct wg_parser *p, const char *buf, size_t len) WG_NODISCARD;
/* InfluxQL: the query sent n statements (ids 0..n-1). A result for another id, ids going
 * back, or an answer without the last statement's result is then WG_EPARSE. Other formats
 * ignore it; without a call ids are not checked. */
void wg_parser_set_statements(struct wg_parser *p, int n);
/* End of body: WG_EPARSE if the body stopped mid-value, or was cut (Flux CSV without its final
 * blank line, InfluxQL chunks still "partial", JSON Lines without the last line end). */
enum wg_err wg_parser_finish(struct wg_parser *p) WG_NODISCARD;
const char *wg_parser_error(const struct wg_parser *p);
void wg_parser_free(struct wg_parser *p);

/* One-shot convenience over the above (for tests and fuzzers). */
enum wg_err wg_collector_parse_buffer(enum wg_parser_kind kind, const uint8_t *data, size_t len,
                                      const struct wg_sink *sink, char *err,
                                      size_t errlen) WG_NODISCARD;

/* Sinks that fill a seriesset (picking `field` and the time column) or a tableset.
 * Without `field` the value column is Flux's `_value`, else the first column (not time,
 * _start, _stop) whose first non-null value is numeric (int, uint, float). A boolean value
 * column, and two columns of one name, are errors (err). Tables of a Flux result named
 * `_profiler` are skipped. wg_series_sink_done releases the sink's scratch
 * memory (NULL-safe; the seriesset is the caller's). */
#define WG_SERIES_SINK_MAX_LABELS 32
struct wg_series_sink {
    struct wg_seriesset *out;
    const char *field;
    /* Set for JSON Lines / SQL answers, which carry no tags: each row's string-valued columns
     * (other than the value column) are its series labels, so `SELECT host, avg(x) ... GROUP BY
     * host` yields one series per host. Off: labels are the table's tags / group key. */
    int row_labels;
    size_t max_series; /* more series than this is an error (err); 0: no cap */
    char err[256];     /* set when the value column is missing or not numeric */
    /* internal */
    int vcol, tcol; /* vcol -2: not chosen yet (the first numeric column of the first rows) */
    int skip;       /* this table is not data (a Flux `_profiler` result) */
    struct wg_series *cur;
    char **cname;          /* this table's column names (copies, one allocation) ... */
    unsigned char *nonnum; /* ... and per column: a non-numeric value seen while choosing */
    size_t ncols;
    char vname[128]; /* the value column's name, for messages */
    size_t *hidx;    /* hash index of out's label sets: open addressing, series index + 1 */
    size_t hcap, hn; /* slots (a power of two), series of out indexed so far */
};
void wg_series_sink_init(struct wg_series_sink *ss, struct wg_seriesset *out, const char *field,
                         struct wg_sink *sink);
void wg_series_sink_done(struct wg_series_sink *ss);
void wg_table_sink_init(struct wg_tableset *ts, struct wg_sink *sink);

/* ---- the write side: line protocol and a batching writer (collector_write.c) ------------- */

struct wg_http;
/* One point being built into b: wg_lp_begin, tags, fields, wg_lp_end. Escaping per element:
 * measurement `,` and space; tag keys, tag values, field keys `,` `=` space; string fields `"`
 * and `\`; newlines become spaces. Empty tag values are left out, non-finite floats too. */
struct wg_lp {
    struct wg_buf *b;
    int nfields;
};
void wg_lp_begin(struct wg_lp *lp, struct wg_buf *b, const char *measurement);
void wg_lp_tag(struct wg_lp *lp, const char *key, const char *val);
void wg_lp_str(struct wg_lp *lp, const char *key, const char *val);
void wg_lp_float(struct wg_lp *lp, const char *key, double v);
void wg_lp_int(struct wg_lp *lp, const char *key, long long v);
/* Timestamp (ns) and newline. The buffer's sticky error; WG_EINVAL for a point without field. */
enum wg_err wg_lp_end(struct wg_lp *lp, int64_t t_ns) WG_NODISCARD;

/* POST body (line protocol, ns precision) to src's write API: influxql → /write?db=&rp=,
 * flux → /api/v2/write?org=&bucket=<database>, sql → /api/v3/write_lp?db=. 5xx and
 * transport errors are retried `retries` times; a 4xx is not. err says why (no secrets). */
enum wg_err wg_lp_write(struct wg_http *h, const struct wg_source *src, const char *body,
                        size_t len, int retries, char *err, size_t errlen) WG_NODISCARD;

/* A writer thread posting queued lines to src in batches: no line waits past flush_ns; at
 * once past 1 MiB, or right after a write when lines came meanwhile (a burst goes out back to
 * back, one POST at a time; a trickle is still batched). src is borrowed and must outlive the
 * writer. add never blocks on the network: past max_queue bytes the lines are dropped, counted and
 * WG_ETOOBIG returned. free flushes what is queued (one attempt with retries) and joins.
 * Thread-safe. */
struct wg_lp_writer;
enum wg_err wg_lp_writer_new(const struct wg_source *src, size_t max_queue, int64_t flush_ns,
                             struct wg_lp_writer **out) WG_NODISCARD;
enum wg_err wg_lp_writer_add(struct wg_lp_writer *w, const char *lines, size_t len) WG_NODISCARD;
void wg_lp_writer_stats(struct wg_lp_writer *w, unsigned long long *written,
                        unsigned long long *failed, unsigned long long *dropped);
void wg_lp_writer_free(struct wg_lp_writer *w);
/* free, then the final counts (rows written, failed, dropped) in the out-parameters. */
void wg_lp_writer_free_stats(struct wg_lp_writer *w, unsigned long long *written,
                             unsigned long long *failed, unsigned long long *dropped);

/* Where a durable writer keeps its lines until InfluxDB took them (the events store:
 * gate_events.c). put: one row of n lines; peek: the oldest rows, whole, up to about max_bytes
 * (at least one), appended to out, *last_id the newest of them, *n their lines; del: the rows
 * up to last_id; trim: the oldest rows dropped until at most max_lines are kept (*lines,
 * *bytes what went); count: what is kept. Each returns WG_OK or the store's error. */
struct wg_lp_store {
    void *ctx;
    enum wg_err (*put)(void *ctx, const char *lines, size_t len, unsigned long long n);
    enum wg_err (*peek)(void *ctx, size_t max_bytes, struct wg_buf *out, long long *last_id,
                        unsigned long long *n);
    enum wg_err (*del)(void *ctx, long long last_id);
    enum wg_err (*trim)(void *ctx, unsigned long long max_lines, unsigned long long *lines,
                        unsigned long long *bytes);
    enum wg_err (*count)(void *ctx, unsigned long long *lines, unsigned long long *bytes);
};
/* A durable writer (an outbox): lines added are persisted by one writer thread within 2 ms,
 * at once past 240 KiB (add: never waits on the store or the network; nor does persisting wait
 * on a POST) or by the caller (add_stored: stored when it returns), in rows of at most 256 KiB;
 * a second thread sends from the store in batches of up to 1 MiB: at once from 240 KiB stored
 * (a burst's first POST goes out while the rest is stored), right after a write while more is
 * stored, else flush_ns after the first row. A 2xx counts the lines written as soon as it
 * comes, then deletes them; while more is stored the delete is folded into the next batches'
 * (at most 4 batches, 3 MiB, per delete): a crash before it sends at most those again after
 * the restart (harmless: explicit timestamps, the same points). A 5xx, 429, 401/403/404 or a
 * transport error keeps them and retries with backoff (250 ms doubling to 30 s, or
 * Retry-After); another 4xx (400 partial write) is given up (the refused lines counted failed,
 * logged). Over max_backlog lines (0: 1,000,000) the oldest rows are dropped, counted and
 * logged (never the batch being sent). free stops after one last try: what is left stays
 * stored and is sent after the next start. st is copied, st->ctx borrowed; its operations
 * are called from both writer threads and add_stored's callers: they must be thread-safe
 * (gate_events.c's lock the events store). */
enum wg_err wg_lp_writer_new_store(const struct wg_source *src, const struct wg_lp_store *st,
                                   unsigned long long max_backlog, int64_t flush_ns,
                                   struct wg_lp_writer **out) WG_NODISCARD;
enum wg_err wg_lp_writer_add_stored(struct wg_lp_writer *w, const char *lines,
                                    size_t len) WG_NODISCARD;
struct wg_lp_writer_counts {
    unsigned long long written, failed, dropped, batches, retries;
    unsigned long long backlog; /* lines waiting: stored, and queued to be stored */
};
void wg_lp_writer_counts(struct wg_lp_writer *w, struct wg_lp_writer_counts *c);

#endif
