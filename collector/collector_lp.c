/* collector_lp.c — the write side of InfluxDB, one request at a time: line protocol built with
 * the escaping rules of each element (measurement; tag keys, tag values and field keys; string
 * fields) and one POST of it to a source's write API (v1 /write, v2 /api/v2/write, v3
 * /api/v3/write_lp), its answer read for the status, Retry-After and the lines it refused.
 */
#include "collector/collector.h"
#include "collector/collector_int.h"
#include "common/http.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- line protocol ----------------------------------------------------------------------- */

/* Backslash before each char of `special`; newlines become spaces (a newline ends a point)
 * and NUL cannot occur in a C string. A trailing backslash would escape the separator that
 * follows: it is doubled. */
static void esc(struct wg_buf *b, const char *s, const char *special)
{
    for (const char *p = s; *p; p++) {
        char ch = *p == '\n' || *p == '\r' ? ' ' : *p;
        if (strchr(special, ch) || (ch == '\\' && p[1] == '\0' && special[0] != '"')) {
            wg_buf_add(b, "\\", 1);
        }
        wg_buf_add(b, &ch, 1);
    }
}

void wg_lp_begin(struct wg_lp *lp, struct wg_buf *b, const char *measurement)
{
    lp->b = b;
    lp->nfields = 0;
    esc(b, measurement, ", ");
}

void wg_lp_tag(struct wg_lp *lp, const char *key, const char *val)
{
    if (!val || !*val || !key || !*key) {
        return; /* an empty tag value is not valid line protocol: leave the tag out */
    }
    wg_buf_add(lp->b, ",", 1);
    esc(lp->b, key, ",= ");
    wg_buf_add(lp->b, "=", 1);
    esc(lp->b, val, ",= ");
}

static void field_key(struct wg_lp *lp, const char *key)
{
    wg_buf_add(lp->b, lp->nfields++ ? "," : " ", 1);
    esc(lp->b, key, ",= ");
    wg_buf_add(lp->b, "=", 1);
}

void wg_lp_str(struct wg_lp *lp, const char *key, const char *val)
{
    if (!val) {
        return;
    }
    field_key(lp, key);
    wg_buf_add(lp->b, "\"", 1);
    esc(lp->b, val, "\"\\");
    wg_buf_add(lp->b, "\"", 1);
}

void wg_lp_float(struct wg_lp *lp, const char *key, double v)
{
    if (!isfinite(v)) {
        return; /* NaN and Inf are not line protocol */
    }
    field_key(lp, key);
    /* the shortest of %.15g / %.17g that reads back as the same double */
    char num[40];
    snprintf(num, sizeof(num), "%.15g", v);
    if (strtod(num, NULL) != v) {
        snprintf(num, sizeof(num), "%.17g", v);
    }
    wg_buf_adds(lp->b, num);
}

void wg_lp_int(struct wg_lp *lp, const char *key, long long v)
{
    field_key(lp, key);
    wg_buf_addf(lp->b, "%lldi", v);
}

enum wg_err wg_lp_end(struct wg_lp *lp, int64_t t_ns)
{
    if (!lp->nfields) {
        wg_buf_fail(lp->b, WG_EINVAL); /* a point needs a field */
    }
    wg_buf_addf(lp->b, " %lld\n", (long long)t_ns);
    return wg_buf_err(lp->b);
}

/* ---- one write ------------------------------------------------------------------------------ */

static enum wg_err write_url(const struct wg_source *src, struct wg_buf *u)
{
    wg_buf_adds(u, src->url);
    if (src->kind == WG_SRC_FLUX) {
        wg_buf_adds(u, "/api/v2/write?precision=ns&org=");
        wg_http_urlencode(u, src->org ? src->org : src->org_id ? src->org_id : "");
        wg_buf_adds(u, "&bucket=");
        wg_http_urlencode(u, src->database ? src->database : "");
    } else if (src->kind == WG_SRC_SQL) {
        wg_buf_adds(u, "/api/v3/write_lp?precision=nanosecond&db=");
        wg_http_urlencode(u, src->database ? src->database : "");
    } else {
        wg_buf_adds(u, "/write?precision=ns&db=");
        wg_http_urlencode(u, src->database ? src->database : "");
        if (src->retention_policy) {
            wg_buf_adds(u, "&rp=");
            wg_http_urlencode(u, src->retention_policy);
        }
        if (src->username) {
            const char *pw = src->password_env ? getenv(src->password_env) : "";
            wg_log_add_secret(pw ? pw : "");
            wg_buf_adds(u, "&u=");
            wg_http_urlencode(u, src->username);
            wg_buf_adds(u, "&p=");
            wg_http_urlencode(u, pw ? pw : "");
        }
    }
    return wg_buf_err(u);
}

/* The lines an InfluxDB 400/422 answer says it refused: 1.x "unable to parse" (one per line)
 * and "dropped=N" (type conflicts), 3.x "line_number" (one per line); 0 when it does not say. */
static unsigned long long bad_lines(const struct wg_buf *body)
{
    unsigned long long n = 0;
    const char *end = body->p ? body->p + body->len : NULL;
    static const char *const per_line[] = {"unable to parse", "\"line_number\""};
    for (size_t k = 0; body->p && k < 2; k++) {
        size_t kl = strlen(per_line[k]);
        for (const char *p = body->p; p + kl <= end; p++) {
            n += !memcmp(p, per_line[k], kl);
        }
    }
    for (const char *p = body->p; p && p + 8 <= end; p++) {
        if (!memcmp(p, "dropped=", 8)) {
            unsigned long long d = 0;
            for (p += 8; p < end && *p >= '0' && *p <= '9'; p++) {
                d = d * 10 + (unsigned long long)(*p - '0');
            }
            n += d;
            break;
        }
    }
    return n;
}

/* One POST; *status the last HTTP status (0: none), *retry_ns the Retry-After wait, *nbad the
 * lines a 400/422 answer names as refused. */
enum wg_err wg__collector_lp_post(struct wg_http *h, const struct wg_source *src, const char *body,
                                  size_t len, int retries, long *status, int64_t *retry_ns,
                                  unsigned long long *nbad, char *err, size_t errlen)
{
    *status = 0;
    *retry_ns = 0;
    *nbad = 0;
    struct wg_buf u;
    wg_buf_init(&u, 8192);
    char *auth = NULL;
    const char *hdrs[2] = {"Content-Type: text/plain; charset=utf-8", NULL};
    size_t nh = 1;
    enum wg_err rc = write_url(src, &u);
    if (rc == WG_OK && src->token_env) {
        const char *tok = getenv(src->token_env);
        if (!tok || !*tok) {
            snprintf(err, errlen, "environment variable %s is not set", src->token_env);
            rc = WG_ECONFIG;
            goto out;
        }
        wg_log_add_secret(tok);
        auth =
            wg_asprintf("Authorization: %s %s", src->kind == WG_SRC_SQL ? "Bearer" : "Token", tok);
        hdrs[nh++] = auth;
        rc = auth ? WG_OK : WG_ENOMEM;
    }
    if (rc != WG_OK) {
        snprintf(err, errlen, "%s", wg_strerror(rc));
        goto out;
    }
    struct wg_http_job j;
    memset(&j, 0, sizeof(j));
    j.method = "POST";
    j.url = u.p;
    j.headers = hdrs;
    j.nheaders = nh;
    j.body = body;
    j.body_len = len;
    j.timeout_ns = src->timeout_ns;
    j.connect_timeout_ns = src->connect_timeout_ns;
    j.retries = retries;
    j.max_bytes = 1 << 20;
    j.keep_bytes = 4096;
    j.no_compression = 1;
    j.tls.ca_file = src->tls.ca_file;
    j.tls.cert_file = src->tls.cert_file;
    j.tls.key_file = src->tls.key_file;
    j.tls.insecure = src->tls.insecure_skip_verify;
    rc = wg_http_run(h, &j, 1, NULL);
    if (rc == WG_OK) {
        rc = j.err;
    }
    *status = j.status;
    if (rc != WG_OK && j.status) {
        *retry_ns = wg_http_retry_after(&j);
        *nbad = bad_lines(&j.errbody);
    }
    if (rc != WG_OK) {
        snprintf(err, errlen, "write to %s: %s%s%.*s", src->name,
                 j.errmsg[0] ? j.errmsg : wg_strerror(rc), j.errbody.len ? ": " : "",
                 (int)(j.errbody.len > 300 ? 300 : j.errbody.len), j.errbody.p ? j.errbody.p : "");
    }
    wg_http_job_clear(&j);
out:
    free(auth);
    wg_buf_free(&u);
    return rc;
}

enum wg_err wg_lp_write(struct wg_http *h, const struct wg_source *src, const char *body,
                        size_t len, int retries, char *err, size_t errlen)
{
    long status;
    int64_t retry_ns;
    unsigned long long nbad;
    return wg__collector_lp_post(h, src, body, len, retries, &status, &retry_ns, &nbad, err,
                                 errlen);
}
