/* common.h — the small shared core of wavegate: errors, diagnostics, bounded buffers, time
 * and durations, logging, series (the collector's output and the rules' input) and verdicts.
 * Every other module depends on this one; it depends on libc only.
 */
#ifndef WG_COMMON_H
#define WG_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define WG_PRINTF(f, a) __attribute__((format(printf, f, a)))
/* On functions returning enum wg_err: a result nobody reads is a warning (-Werror in CI). */
#define WG_NODISCARD __attribute__((warn_unused_result))

/* ---- errors ------------------------------------------------------------------------------ */

enum wg_err {
    WG_OK = 0,
    WG_ENOMEM,    /* allocation failed */
    WG_EINVAL,    /* bad argument or malformed input */
    WG_ECONFIG,   /* configuration error (details in wg_diags) */
    WG_EIO,       /* file or socket I/O */
    WG_ECONNECT,  /* could not connect / DNS / TLS */
    WG_ETIMEOUT,  /* a deadline passed */
    WG_EHTTP,     /* the peer answered with an HTTP error status */
    WG_EPARSE,    /* the peer's response could not be parsed */
    WG_EQUERY,    /* the data source reported a query error */
    WG_ETOOBIG,   /* a size cap was reached */
    WG_ENOTFOUND, /* a named thing does not exist */
    WG_ERR_LAST
};

/* A static, human readable name for an error code; never NULL. */
const char *wg_strerror(enum wg_err e);

/* ---- diagnostics (config errors and warnings) -------------------------------------------- */

struct wg_pos {
    const char *file; /* borrowed from the owning config; may be NULL */
    int line;         /* 1-based; 0 = unknown */
    int col;          /* 1-based */
};

struct wg_diag {
    char *file;
    int line, col;
    char *key; /* dotted key path, e.g. features.checkout.rules[0].window */
    char *msg;
    int warning; /* 1 = warning, 0 = error */
};

struct wg_diags {
    struct wg_diag *v;
    size_t n, cap;
    size_t nerrors;
};

/* Append a diagnostic; key may be NULL. Never fails loudly: on ENOMEM the entry is dropped
 * but nerrors still counts it, so a config with errors is never accepted. */
void wg_diags_add(struct wg_diags *d, const struct wg_pos *pos, const char *key, int warning,
                  const char *fmt, ...) WG_PRINTF(5, 6);
/* Writes every entry as "file:line:col: key: message" (with "warning: " for warnings). */
void wg_diags_print(const struct wg_diags *d, void *FILE_stream);
void wg_diags_free(struct wg_diags *d);

/* ---- strings and bounded buffers (curl's dynbuf idea) ------------------------------------ */

char *wg_strdup(const char *s); /* NULL-safe; NULL on ENOMEM */
char *wg_strndup(const char *s, size_t n);
char *wg_asprintf(const char *fmt, ...) WG_PRINTF(1, 2);

struct wg_buf {
    char *p; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max;      /* hard cap on len; 0 = SIZE_MAX */
    enum wg_err err; /* sticky: the first failed append (SQLite's StrAccum accError) */
};

/* Appends return the error of this call; the first failure also sticks in b->err and every
 * later append is refused with it (nothing is appended after a hole), so a builder may ignore
 * the results and check once at the end with wg_buf_err / wg_buf_finish. */
void wg_buf_init(struct wg_buf *b, size_t max);
enum wg_err wg_buf_add(struct wg_buf *b, const void *p, size_t n); /* WG_ETOOBIG past max */
enum wg_err wg_buf_adds(struct wg_buf *b, const char *s);
enum wg_err wg_buf_addf(struct wg_buf *b, const char *fmt, ...) WG_PRINTF(2, 3);
/* The sticky error: WG_OK, or the first failed append's (WG_ENOMEM, WG_ETOOBIG, WG_EINVAL). */
enum wg_err wg_buf_err(const struct wg_buf *b) WG_NODISCARD;
/* Marks b failed with e (a part built elsewhere failed), unless it failed already. */
void wg_buf_fail(struct wg_buf *b, enum wg_err e);
/* Empties b and clears its sticky error (the memory is kept). */
void wg_buf_reset(struct wg_buf *b);
void wg_buf_free(struct wg_buf *b);
/* Hand the contents to the caller (NUL-terminated, "" if empty) and reset b. Does not look at
 * the sticky error: a builder whose output must be whole uses wg_buf_finish. */
char *wg_buf_take(struct wg_buf *b);
/* The end of a builder: on a sticky error frees b, sets *out = NULL and returns the error;
 * else hands the contents over as wg_buf_take (NULL only when that allocation fails: ENOMEM). */
WG_NODISCARD enum wg_err wg_buf_finish(struct wg_buf *b, char **out);
/* s as a JSON string, quoted (NULL: ""), escaped as cJSON prints it: \" \\ \b \f \n \r \t,
 * any other control byte as \u00xx (lower-case hex), every other byte (UTF-8 too) as it is. */
void wg_buf_add_json(struct wg_buf *b, const char *s);
/* The same without the quotes: into a string already open (a template's "{{ name }}"). */
void wg_buf_add_json_chars(struct wg_buf *b, const char *s);
/* Test hook: the n-th buffer allocation from now fails as out of memory (0: off). Returns the
 * count left before the call (> 0: the armed failure has not happened). Process-wide; tests. */
long wg_buf_test_fail_alloc(long n);

/* ---- files ------------------------------------------------------------------------------ */

/* Create dir and its missing parents with mode 0700. WG_OK, or WG_EIO (WG_EINVAL for a bad
 * name) with errno set for the message. */
enum wg_err wg_mkdirs(const char *dir) WG_NODISCARD;

/* ---- time: int64 nanoseconds since the Unix epoch, UTC ----------------------------------- */

#define WG_NS_PER_SEC INT64_C(1000000000)

/* RFC3339 with 0-9 fraction digits and Z or +hh:mm/-hh:mm; also accepts a space for 'T'.
 * Timestamps without a zone are UTC (InfluxDB 3). Returns WG_EINVAL on malformed input, on
 * out-of-range fields (month 13, hour 24, second 61, offset 24:00) and on times outside int64
 * ns (before 1677-09-21T00:12:43.145224192Z, after 2262-04-11T23:47:16.854775807Z). */
enum wg_err wg_time_parse(const char *s, size_t n, int64_t *out_ns) WG_NODISCARD;
/* Writes "2006-01-02T15:04:05Z" or with ".fraction" (trailing zeros dropped) into out
 * (at least 40 bytes). Returns out. */
char *wg_time_format(int64_t ns, char *out, size_t outlen);
/* Go-style durations: "10s", "1m30s", "500ms", "250us", "2h", "1d", "1w", "0". Negative not
 * allowed. Returns WG_EINVAL on malformed input, WG_ETOOBIG when it is well-formed but the
 * total does not fit in int64 ns (about 106751d); callers cap further (WG_DURATION_MAX_NS). */
enum wg_err wg_duration_parse(const char *s, int64_t *out_ns) WG_NODISCARD;
/* Shortest exact form: "10m", "1h30m", "500ms", "0s". */
char *wg_duration_format(int64_t ns, char *out, size_t outlen);
/* Checked arithmetic on times and durations: WG_OK with *out = a + b (a - b), or WG_EINVAL
 * when the result does not fit in int64 ns (about 1677..2262), *out untouched. Every
 * deploy/now +- delay/window sum goes through these: a wrapped window end turns a window
 * that has not started into one that ended long ago (a false pass). */
enum wg_err wg_time_add(int64_t a, int64_t b, int64_t *out) WG_NODISCARD;
enum wg_err wg_time_sub(int64_t a, int64_t b, int64_t *out) WG_NODISCARD;
/* Whole Unix seconds to ns, checked the same way. */
enum wg_err wg_time_from_secs(long long secs, int64_t *out_ns) WG_NODISCARD;

/* The longest duration a config may give (window, delay, baseline window, intervals): with
 * deploy times capped below (WG_DEPLOY_MAX_NS), deploy + delay + window always fits. */
#define WG_DURATION_MAX_NS (INT64_C(366) * 86400 * WG_NS_PER_SEC)
/* Deploy times a gate accepts: after 1970-01-01 (0 means "no deploy time" in requests), before
 * 2200-01-01, and at most WG_DEPLOY_MAX_FUTURE_NS after now. */
#define WG_DEPLOY_MIN_NS INT64_C(0)
#define WG_DEPLOY_MAX_NS (INT64_C(7258118400) * WG_NS_PER_SEC) /* 2200-01-01T00:00:00Z */
#define WG_DEPLOY_MAX_FUTURE_NS (INT64_C(24) * 3600 * WG_NS_PER_SEC)
/* WG_OK when deploy_ns is a deploy time a gate can judge at now_ns (see above); else WG_EINVAL
 * with a reason in err ("must be after 1970-01-01T00:00:00Z", ...; no option name). A deploy
 * in the future beyond a day is a mistake (a wrong zone or a date typo), not clock skew
 * between the pipeline and us: its windows have not started, and nothing can be judged. */
enum wg_err wg_time_check_deploy(int64_t deploy_ns, int64_t now_ns, char *err,
                                 size_t errlen) WG_NODISCARD;
/* Wall clock now (CLOCK_REALTIME) and a monotonic clock, both in ns. Never called by rules/. */
int64_t wg_now_ns(void);
int64_t wg_mono_ns(void);

/* ---- logging ----------------------------------------------------------------------------- */

enum wg_log_level { WG_LOG_DEBUG, WG_LOG_INFO, WG_LOG_WARN, WG_LOG_ERROR };
void wg_log_set_level(enum wg_log_level lvl);
/* Register a secret that must never be printed; every log line has it replaced by "***".
 * The string is copied. Thread-safe for logging after registration. */
void wg_log_add_secret(const char *secret);
/* Replace every registered secret in s (in place, NUL-terminated, length may shrink). */
void wg_redact(char *s);
void wg_log(enum wg_log_level lvl, const char *fmt, ...) WG_PRINTF(2, 3);

/* ---- series: the collector's output and the rules' input ---------------------------------- */

struct wg_label {
    char *key;
    char *value;
};

/* One series: labels (tags / group key) and points. Points are kept in arrival order.
 * t may be NULL when the source had no time column. */
struct wg_series {
    struct wg_label *labels;
    size_t nlabels;
    int64_t *t;
    double *v;
    size_t n, cap;
};

struct wg_seriesset {
    struct wg_series *s;
    size_t n, cap;
};

/* Find or create the series with exactly these labels (order-insensitive). The labels are
 * copied. Returns NULL on ENOMEM. */
struct wg_series *wg_seriesset_get(struct wg_seriesset *ss, const struct wg_label *labels,
                                   size_t nlabels);
/* Append a new series with these labels (copied) without looking for an existing one: for a
 * caller that keeps its own index (the collector's series sink). NULL on ENOMEM. */
struct wg_series *wg_seriesset_add(struct wg_seriesset *ss, const struct wg_label *labels,
                                   size_t nlabels);
enum wg_err wg_series_push(struct wg_series *s, int64_t t, double v) WG_NODISCARD;
size_t wg_seriesset_points(const struct wg_seriesset *ss);
void wg_seriesset_free(struct wg_seriesset *ss);

/* ---- verdicts ---------------------------------------------------------------------------- */

/* Ordered by how bad they are for promotion, as combined by the gate: fail beats error beats
 * inconclusive beats warn beats pass. */
enum wg_verdict {
    WG_PASS = 0,
    WG_WARN,
    WG_INCONCLUSIVE,
    WG_NOEVAL, /* could not evaluate: source down, query error, malformed answer */
    WG_FAIL
};
const char *wg_verdict_name(enum wg_verdict v); /* "pass", "warn", ..., "error" */
/* The worse of a and b. */
enum wg_verdict wg_verdict_worst(enum wg_verdict a, enum wg_verdict b);

#endif
