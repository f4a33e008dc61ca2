/* collector_fluxcsv_value.c — the typed cells of Flux annotated CSV: #datatype names to column
 * types, and a field's bytes to a value (long, exact unsignedLong, double with NaN and ±Inf,
 * boolean, RFC3339 with 0-9 fraction digits and offsets, with a fast path for the server's own
 * format). Split from the record and table machinery in collector_fluxcsv.c.
 */
#include "collector/collector_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double pow10tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Exact decimal → double for the common case (Clinger's fast path: mantissa ≤ 2^53 and at most
 * 22 fraction digits, so one correctly rounded division); strtod for the rest. s[n] is NUL. */
static int parse_double(const char *s, size_t n, double *out)
{
    size_t i = 0;
    int neg = 0;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i++;
    }
    uint64_t m = 0;
    int nd = 0, fd = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && nd < 19) {
        m = m * 10 + (uint64_t)(s[i++] - '0');
        nd++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9' && nd < 19) {
            m = m * 10 + (uint64_t)(s[i++] - '0');
            nd++;
            fd++;
        }
    }
    if (i == n && nd > 0 && m <= (UINT64_C(1) << 53) && fd <= 22) {
        double v = (double)m / pow10tab[fd];
        *out = neg ? -v : v;
        return 0;
    }
    /* NaN, +Inf, -Inf, exponents, long mantissas. strtod also takes hex and leading blanks,
     * which no server writes: refuse them. */
    if (n == 0 || s[0] == ' ' || s[0] == '\t' || memchr(s, 'x', n) || memchr(s, 'X', n)) {
        return -1;
    }
    char *end;
    double v = strtod(s, &end);
    if (end != s + n) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    if (n > 0 && s[0] == '+') {
        i++;
    }
    if (i == n) {
        return -1;
    }
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int parse_i64(const char *s, size_t n, int64_t *out)
{
    int neg = n > 0 && s[0] == '-';
    uint64_t u;
    if (parse_u64(s + neg, n - (size_t)neg, &u)) {
        return -1;
    }
    if (neg ? u > (uint64_t)INT64_MAX + 1 : u > (uint64_t)INT64_MAX) {
        return -1;
    }
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 0;
}

/* The server's own layout, "2006-01-02T15:04:05[.999999999]Z", without the general parser's
 * bounds checks; anything else (offsets, day 29-31, leap second) goes to wg_time_parse. About
 * a third of the time of a 2-million-row parse is spent on _time. The whole int64 range is
 * accepted, down to Flux's minimum time 1677-09-21T00:12:43.145224192Z (INT64_MIN). */
static int parse_time(const char *s, size_t n, int64_t *out)
{
    static const unsigned char dig[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
    if (n < 20 || n > 30 || s[n - 1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':' || (n > 20 && (s[19] != '.' || n == 21))) {
        goto slow;
    }
    for (size_t k = 0; k < sizeof(dig); k++) {
        if ((unsigned)(s[dig[k]] - '0') > 9) {
            goto slow;
        }
    }
#define D2(i) ((s[i] - '0') * 10 + (s[(i) + 1] - '0'))
    int y = D2(0) * 100 + D2(2), mo = D2(5), d = D2(8), h = D2(11), mi = D2(14), sec = D2(17);
#undef D2
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > 28 || h > 23 || mi > 59 || sec > 59) {
        goto slow;
    }
    int64_t frac = 0;
    size_t i = 20;
    for (; i < n - 1; i++) {
        unsigned c = (unsigned)(s[i] - '0');
        if (c > 9) {
            goto slow;
        }
        frac = frac * 10 + c;
    }
    for (; i < 29; i++) {
        frac *= 10;
    }
    /* days_from_civil (Howard Hinnant), years > 0 only */
    int64_t yy = y - (mo <= 2);
    int64_t era = yy / 400, yoe = yy - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec, ns;
    if (secs < 0 && frac > 0) { /* so that INT64_MIN itself does not overflow on the way */
        secs++;
        frac -= WG_NS_PER_SEC;
    }
    if (__builtin_mul_overflow(secs, WG_NS_PER_SEC, &ns) || __builtin_add_overflow(ns, frac, &ns)) {
        return -1;
    }
    *out = ns;
    return 0;
slow:
    return wg_time_parse(s, n, out) == WG_OK ? 0 : -1;
}

const char *wg__fx_ctype_name(enum wg__fx_ctype t)
{
    switch (t) {
    case WG__CT_LONG:
        return "long";
    case WG__CT_ULONG:
        return "unsignedLong";
    case WG__CT_DOUBLE:
        return "double";
    case WG__CT_BOOL:
        return "boolean";
    case WG__CT_TIME:
        return "dateTime";
    default:
        return "string";
    }
}

/* Convert one non-empty raw cell (NUL-terminated at s[n]). WG_EPARSE when malformed. */
enum wg_err wg__fx_convert(enum wg__fx_ctype t, const char *s, size_t n, struct wg_value *v)
{
    v->s = NULL;
    switch (t) {
    case WG__CT_LONG:
        v->t = WG_V_INT;
        return parse_i64(s, n, &v->u.i) == 0 ? WG_OK : WG_EPARSE;
    case WG__CT_ULONG:
        v->t = WG_V_UINT;
        return parse_u64(s, n, &v->u.u) == 0 ? WG_OK : WG_EPARSE;
    case WG__CT_DOUBLE:
        v->t = WG_V_FLOAT;
        return parse_double(s, n, &v->u.f) == 0 ? WG_OK : WG_EPARSE;
    case WG__CT_BOOL:
        v->t = WG_V_BOOL;
        if (n == 4 && memcmp(s, "true", 4) == 0) {
            v->u.b = 1;
            return WG_OK;
        }
        if (n == 5 && memcmp(s, "false", 5) == 0) {
            v->u.b = 0;
            return WG_OK;
        }
        return WG_EPARSE;
    case WG__CT_TIME:
        v->t = WG_V_TIME;
        return parse_time(s, n, &v->u.time) == 0 ? WG_OK : WG_EPARSE;
    case WG__CT_GUESS_NUM:
        /* no #datatype: a number when it parses as one, else the text */
        v->t = WG_V_INT;
        if (parse_i64(s, n, &v->u.i) == 0) {
            return WG_OK;
        }
        v->t = WG_V_UINT;
        if (parse_u64(s, n, &v->u.u) == 0) {
            return WG_OK;
        }
        v->t = WG_V_FLOAT;
        if (parse_double(s, n, &v->u.f) == 0) {
            return WG_OK;
        }
        break;
    case WG__CT_GUESS_TIME:
        v->t = WG_V_TIME;
        if (parse_time(s, n, &v->u.time) == 0) {
            return WG_OK;
        }
        break;
    default:
        break;
    }
    v->t = WG_V_STRING;
    v->s = (char *)s;
    return WG_OK;
}

enum wg__fx_ctype wg__fx_ctype_of(const char *dt)
{
    if (strcmp(dt, "long") == 0) {
        return WG__CT_LONG;
    }
    if (strcmp(dt, "unsignedLong") == 0) {
        return WG__CT_ULONG;
    }
    if (strcmp(dt, "double") == 0) {
        return WG__CT_DOUBLE;
    }
    if (strcmp(dt, "boolean") == 0) {
        return WG__CT_BOOL;
    }
    if (strcmp(dt, "dateTime") == 0 || strcmp(dt, "dateTime:RFC3339") == 0 ||
        strcmp(dt, "dateTime:RFC3339Nano") == 0) {
        return WG__CT_TIME;
    }
    return WG__CT_STRING; /* string, duration, base64Binary, dateTime:number, unknown */
}
