/* common_time.c — RFC3339 timestamps and Go-style durations as int64 nanoseconds, checked
 * time arithmetic, the accepted range of deploy times, and the clocks. Calendar maths is done by
 * hand (days from civil) so any year 0001-9999 works, pre-1970 included, without the process time
 * zone.
 */
#include "common/common.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Howard Hinnant's days_from_civil: days since 1970-01-01 for a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, size_t n, size_t at, size_t cnt, int *out)
{
    int v = 0;
    if (at + cnt > n) {
        return -1;
    }
    for (size_t i = 0; i < cnt; i++) {
        char c = s[at + i];
        if (c < '0' || c > '9') {
            return -1;
        }
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

enum wg_err wg_time_parse(const char *s, size_t n, int64_t *out_ns)
{
    int Y, M, D, h, m, sec;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (digits(s, n, 0, 4, &Y) || n < 19 || s[4] != '-' || digits(s, n, 5, 2, &M) || s[7] != '-' ||
        digits(s, n, 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s, n, 11, 2, &h) || s[13] != ':' || digits(s, n, 14, 2, &m) || s[16] != ':' ||
        digits(s, n, 17, 2, &sec)) {
        return WG_EINVAL;
    }
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] + (M == 2 && is_leap(Y)) || h > 23 || m > 59 ||
        sec > 60) {
        return WG_EINVAL;
    }
    size_t i = 19;
    int64_t frac = 0;
    if (i < n && s[i] == '.') {
        int nd = 0;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (nd < 9) {
                frac = frac * 10 + (s[i] - '0');
            }
            nd++;
            i++;
        }
        if (nd == 0) {
            return WG_EINVAL;
        }
        for (int k = nd; k < 9; k++) {
            frac *= 10;
        }
    }
    int64_t off = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (digits(s, n, i + 1, 2, &oh) || i + 3 >= n || s[i + 3] != ':' ||
            digits(s, n, i + 4, 2, &om) || oh > 23 || om > 59) {
            return WG_EINVAL;
        }
        off = (int64_t)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    }
    if (i != n) {
        return WG_EINVAL;
    }
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    int64_t secs = days * 86400 + h * 3600 + m * 60 + sec - off;
    /* +-292 years around 1970 fit in int64 ns; check the sum without overflowing, so the
     * very ends of the range (Flux's minimum time 1677-09-21T00:12:43.145224192Z) parse. */
    int64_t out;
    if (secs < 0 && frac > 0) {
        secs += 1; /* borrow a second so the product stays in range */
        frac -= WG_NS_PER_SEC;
    }
    if (__builtin_mul_overflow(secs, WG_NS_PER_SEC, &out) ||
        __builtin_add_overflow(out, frac, &out)) {
        return WG_EINVAL;
    }
    *out_ns = out;
    return WG_OK;
}

char *wg_time_format(int64_t ns, char *out, size_t outlen)
{
    int64_t secs = ns / WG_NS_PER_SEC;
    int64_t frac = ns % WG_NS_PER_SEC;
    if (frac < 0) {
        frac += WG_NS_PER_SEC;
        secs -= 1;
    }
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    char fb[16] = "";
    if (frac) {
        int nd = 9;
        while (frac % 10 == 0) {
            frac /= 10;
            nd--;
        }
        snprintf(fb, sizeof(fb), ".%0*lld", nd, (long long)frac);
    }
    snprintf(out, outlen, "%04lld-%02u-%02uT%02d:%02d:%02d%sZ", (long long)y, mo, d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), fb);
    return out;
}

enum wg_err wg_duration_parse(const char *s, int64_t *out_ns)
{
    static const struct {
        const char *u;
        int64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000},
        {"ms", 1000000},
        {"s", WG_NS_PER_SEC},
        {"m", 60 * WG_NS_PER_SEC},
        {"h", 3600 * WG_NS_PER_SEC},
        {"d", 86400 * WG_NS_PER_SEC},
        {"w", 7 * 86400 * WG_NS_PER_SEC},
    };
    if (!s || !*s) {
        return WG_EINVAL;
    }
    if (strcmp(s, "0") == 0) {
        *out_ns = 0;
        return WG_OK;
    }
    int64_t total = 0;
    int big = 0; /* well-formed so far but past int64: go on checking the syntax */
    const char *p = s;
    while (*p) {
        if (*p < '0' || *p > '9') {
            return WG_EINVAL;
        }
        int64_t whole = 0;
        while (*p >= '0' && *p <= '9') {
            big |= __builtin_mul_overflow(whole, 10, &whole) ||
                   __builtin_add_overflow(whole, *p - '0', &whole);
            p++;
        }
        double fr = 0, scale = 0.1;
        if (*p == '.') {
            p++;
            if (*p < '0' || *p > '9') {
                return WG_EINVAL;
            }
            while (*p >= '0' && *p <= '9') {
                fr += (*p++ - '0') * scale;
                scale /= 10;
            }
        }
        int64_t mult = 0;
        size_t best = 0;
        for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
            size_t ul = strlen(units[k].u);
            if (ul > best && strncmp(p, units[k].u, ul) == 0) {
                best = ul;
                mult = units[k].ns;
            }
        }
        if (!best) {
            return WG_EINVAL;
        }
        p += best;
        /* "9223372036.9s": the whole part fits, the fraction tips it over; check both. */
        int64_t part = 0;
        if (!big) {
            big = __builtin_mul_overflow(whole, mult, &part) ||
                  wg_time_add(part, (int64_t)(fr * (double)mult + 0.5), &part) != WG_OK ||
                  wg_time_add(total, part, &total) != WG_OK;
        }
    }
    if (big) {
        return WG_ETOOBIG;
    }
    *out_ns = total;
    return WG_OK;
}

char *wg_duration_format(int64_t ns, char *out, size_t outlen)
{
    static const struct {
        const char *u;
        int64_t ns;
    } units[] = {
        {"h", 3600 * WG_NS_PER_SEC},
        {"m", 60 * WG_NS_PER_SEC},
        {"s", WG_NS_PER_SEC},
        {"ms", 1000000},
        {"us", 1000},
        {"ns", 1},
    };
    if (ns <= 0) {
        snprintf(out, outlen, "0s");
        return out;
    }
    size_t len = 0;
    out[0] = '\0';
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]) && ns; k++) {
        if (ns >= units[k].ns) {
            int w = snprintf(out + len, len < outlen ? outlen - len : 0, "%lld%s",
                             (long long)(ns / units[k].ns), units[k].u);
            len += w > 0 ? (size_t)w : 0;
            ns %= units[k].ns;
        }
    }
    return out;
}

enum wg_err wg_time_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        return WG_EINVAL;
    }
    *out = r;
    return WG_OK;
}

enum wg_err wg_time_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) {
        return WG_EINVAL;
    }
    *out = r;
    return WG_OK;
}

enum wg_err wg_time_from_secs(long long secs, int64_t *out_ns)
{
    int64_t r;
    if (__builtin_mul_overflow((int64_t)secs, WG_NS_PER_SEC, &r)) {
        return WG_EINVAL;
    }
    *out_ns = r;
    return WG_OK;
}

enum wg_err wg_time_check_deploy(int64_t deploy_ns, int64_t now_ns, char *err, size_t errlen)
{
    char t[48];
    int64_t latest;
    if (deploy_ns <= WG_DEPLOY_MIN_NS) {
        snprintf(err, errlen, "%s is too early: must be after 1970-01-01T00:00:00Z",
                 wg_time_format(deploy_ns, t, sizeof(t)));
        return WG_EINVAL;
    }
    if (deploy_ns >= WG_DEPLOY_MAX_NS) {
        snprintf(err, errlen, "%s is too late: must be before 2200-01-01T00:00:00Z",
                 wg_time_format(deploy_ns, t, sizeof(t)));
        return WG_EINVAL;
    }
    /* now + 24 h cannot overflow for any now before 2262 minus a day; if it does, now itself
     * is absurd and nothing is judged. */
    if (wg_time_add(now_ns, WG_DEPLOY_MAX_FUTURE_NS, &latest) != WG_OK || deploy_ns > latest) {
        char n[48];
        snprintf(err, errlen,
                 "%s is more than 24h after now (%s): a deploy cannot be in the future",
                 wg_time_format(deploy_ns, t, sizeof(t)),
                 wg_time_format(now_ns - now_ns % WG_NS_PER_SEC, n, sizeof(n)));
        return WG_EINVAL;
    }
    return WG_OK;
}

int64_t wg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * WG_NS_PER_SEC + ts.tv_nsec;
}

int64_t wg_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * WG_NS_PER_SEC + ts.tv_nsec;
}
