/* collector_json.c — what the two JSON readers (InfluxQL JSON, InfluxDB 3 JSON Lines) share:
 * a JSON number to a typed value, kept exact where it is an integer, and the decoding of one
 * string escape (\uXXXX with surrogate pairs) to UTF-8; plus the InfluxQL reader's string
 * unescaping and its fast path for RFC3339 times.
 */
#include "collector/collector_int.h"

#include <stdlib.h>
#include <string.h>

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (unsigned)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

static int utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int wg__json_escape(const char *s, size_t n, size_t *used, char out[4])
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (n == 0) {
        return -1;
    }
    const char *hit = s[0] ? strchr(from, s[0]) : NULL;
    if (hit) {
        out[0] = to[hit - from];
        *used = 1;
        return 1;
    }
    unsigned cp, lo;
    if (s[0] != 'u' || n < 5 || hex4(s + 1, &cp)) {
        return -1;
    }
    *used = 5;
    if (cp >= 0xD800 && cp <= 0xDBFF && n >= 11 && s[5] == '\\' && s[6] == 'u' &&
        hex4(s + 7, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        *used = 11;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
        cp = 0xFFFD; /* a lone surrogate */
    }
    return utf8(out, cp);
}

static const double pow10tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Integral → INT (or UINT above INT64_MAX, exact), else FLOAT. Floats take the exact fast path
 * (mantissa < 2^53, |exp10| <= 22) or strtod. */
enum wg_err wg__json_number(const char *s, size_t n, struct wg_value *v)
{
    const char *q = s, *e = s + n;
    int neg = 0, integral = 1, inexact = 0;
    uint64_t m = 0;
    int64_t exp10 = 0;
    if (q < e && *q == '-') {
        neg = 1;
        q++;
    }
    if (q == e || *q < '0' || *q > '9') {
        return WG_EPARSE;
    }
    if (*q == '0' && q + 1 < e && q[1] >= '0' && q[1] <= '9') {
        return WG_EPARSE;
    }
    for (; q < e && *q >= '0' && *q <= '9'; q++) {
        unsigned d = (unsigned)(*q - '0');
        if (m > (UINT64_MAX - d) / 10) {
            inexact = 1;
            exp10++;
        } else {
            m = m * 10 + d;
        }
    }
    if (q < e && *q == '.') {
        integral = 0;
        q++;
        if (q == e || *q < '0' || *q > '9') {
            return WG_EPARSE;
        }
        for (; q < e && *q >= '0' && *q <= '9'; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (m > (UINT64_MAX - d) / 10) {
                inexact = 1;
            } else {
                m = m * 10 + d;
                exp10--;
            }
        }
    }
    if (q < e && (*q == 'e' || *q == 'E')) {
        integral = 0;
        q++;
        int eneg = 0;
        int64_t ev = 0;
        if (q < e && (*q == '+' || *q == '-')) {
            eneg = *q == '-';
            q++;
        }
        if (q == e || *q < '0' || *q > '9') {
            return WG_EPARSE;
        }
        for (; q < e && *q >= '0' && *q <= '9'; q++) {
            if (ev < 100000) {
                ev = ev * 10 + (*q - '0');
            }
        }
        exp10 += eneg ? -ev : ev;
    }
    if (q != e) {
        return WG_EPARSE;
    }
    if (integral && !inexact) {
        if (neg) {
            if (m <= (uint64_t)INT64_MAX + 1) {
                v->t = WG_V_INT;
                v->u.i = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
                return WG_OK;
            }
        } else if (m <= (uint64_t)INT64_MAX) {
            v->t = WG_V_INT;
            v->u.i = (int64_t)m;
            return WG_OK;
        } else {
            v->t = WG_V_UINT;
            v->u.u = m;
            return WG_OK;
        }
    }
    v->t = WG_V_FLOAT;
    if (!inexact && m <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)m;
        d = exp10 < 0 ? d / pow10tab[-exp10] : d * pow10tab[exp10];
        v->u.f = neg ? -d : d;
        return WG_OK;
    }
    char tmp[128];
    char *heap = NULL, *t = tmp;
    if (n >= sizeof(tmp)) {
        heap = wg_strndup(s, n);
        if (!heap) {
            return WG_EPARSE;
        }
        t = heap;
    } else {
        memcpy(tmp, s, n);
        tmp[n] = '\0';
    }
    v->u.f = strtod(t, NULL);
    free(heap);
    return WG_OK;
}

/* ---- strings and times (the InfluxQL reader's) ------------------------------------------- */

enum wg_err wg__json_unescape(struct wg_buf *b, const char *s, size_t n)
{
    const char *e = s + n;
    wg_buf_reset(b);
    while (s < e) {
        const char *bs = memchr(s, '\\', (size_t)(e - s));
        size_t plain = bs ? (size_t)(bs - s) : (size_t)(e - s);
        enum wg_err rc = plain ? wg_buf_add(b, s, plain) : WG_OK;
        if (rc != WG_OK) {
            return rc;
        }
        if (!bs) {
            break;
        }
        char u[4];
        size_t used;
        int k = wg__json_escape(bs + 1, (size_t)(e - bs - 1), &used, u);
        if (k < 0) {
            return WG_EPARSE;
        }
        rc = wg_buf_add(b, u, (size_t)k);
        if (rc != WG_OK) {
            return rc;
        }
        s = bs + 1 + used;
    }
    return wg_buf_add(b, "", 0); /* makes b->p non-NULL */
}

static inline int dig2(const char *s, int *out)
{
    unsigned a = (unsigned)(s[0] - '0'), b = (unsigned)(s[1] - '0');
    *out = (int)(a * 10 + b);
    return a > 9 || b > 9;
}

/* The common time shape "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" with the day cached across rows (most
 * rows of a series share it); anything else goes to wg_time_parse. */
enum wg_err wg__json_fast_time(struct wg__time_cache *p, const char *s, size_t n, int64_t *out)
{
    int h, m, sec;
    int64_t frac = 0;
    if (n < 20 || n > 30 || s[n - 1] != 'Z' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        dig2(s + 11, &h) || dig2(s + 14, &m) || dig2(s + 17, &sec) || h > 23 || m > 59 ||
        sec > 60) {
        return WG_EINVAL;
    }
    if (n > 20) {
        if (s[19] != '.' || n == 21) {
            return WG_EINVAL;
        }
        int nd = 0;
        for (size_t i = 20; i < n - 1; i++, nd++) {
            unsigned d = (unsigned)(s[i] - '0');
            if (d > 9) {
                return WG_EINVAL;
            }
            frac = frac * 10 + d;
        }
        static const int64_t scale[] = {1,      10,      100,      1000,      10000,
                                        100000, 1000000, 10000000, 100000000, 1000000000};
        frac *= scale[9 - nd];
    } else if (s[19] != 'Z') {
        return WG_EINVAL;
    }
    if (memcmp(s, p->date, 10) != 0) {
        char day[20];
        memcpy(day, s, 10);
        memcpy(day + 10, "T00:00:00Z", 10);
        if (wg_time_parse(day, 20, &p->base) != WG_OK || p->base > INT64_MAX / 2 ||
            p->base < INT64_MIN / 2) {
            p->date[0] = '\0';
            return WG_EINVAL;
        }
        memcpy(p->date, s, 10);
    }
    *out = p->base + (int64_t)(h * 3600 + m * 60 + sec) * WG_NS_PER_SEC + frac;
    return WG_OK;
}
