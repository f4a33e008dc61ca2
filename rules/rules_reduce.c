/* rules_reduce.c — reducers: the points of one series to one value (last, first, mean, min,
 * max, sum, count, median, p90/p95/p99 nearest-rank as InfluxQL's percentile()), plus the
 * sorting and quantile helpers the statistics share. Pure: no I/O, no clock.
 */
#include "rules/rules_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *wg__rules_reduce_name(enum wg_reduce r)
{
    switch (r) {
    case WG_REDUCE_LAST:
        return "last";
    case WG_REDUCE_MEAN:
        return "mean";
    case WG_REDUCE_MIN:
        return "min";
    case WG_REDUCE_MAX:
        return "max";
    case WG_REDUCE_SUM:
        return "sum";
    case WG_REDUCE_COUNT:
        return "count";
    case WG_REDUCE_FIRST:
        return "first";
    case WG_REDUCE_MEDIAN:
        return "median";
    case WG_REDUCE_P90:
        return "p90";
    case WG_REDUCE_P95:
        return "p95";
    case WG_REDUCE_P99:
        return "p99";
    }
    return "value";
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void wg__rules_sort(double *v, size_t n)
{
    if (n > 1) {
        qsort(v, n, sizeof(*v), cmp_double);
    }
}

double wg__rules_quantile7(const double *sorted, size_t n, double q)
{
    double h = (double)(n - 1) * q;
    size_t lo = (size_t)floor(h);
    if (lo >= n - 1) {
        return sorted[n - 1];
    }
    double lv = sorted[lo], hv = sorted[lo + 1];
    if (lv == hv) {
        return lv; /* also keeps equal infinities from turning into NaN */
    }
    return lv + (h - (double)lo) * (hv - lv);
}

/* Order statistics of the non-NaN values: copy, sort, pick. WG_ENOTFOUND when none. */
static enum wg_err order_stat(enum wg_reduce r, const double *v, size_t n, double *out)
{
    double *s = malloc((n ? n : 1) * sizeof(*s));
    if (!s) {
        return WG_ENOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isnan(v[i])) {
            s[m++] = v[i];
        }
    }
    if (m == 0) {
        free(s);
        return WG_ENOTFOUND;
    }
    wg__rules_sort(s, m);
    if (r == WG_REDUCE_MEDIAN) {
        /* InfluxQL MEDIAN(): the middle value, or the mean of the two middle ones. */
        *out = (m % 2) ? s[m / 2] : (s[m / 2 - 1] + s[m / 2]) / 2.0;
    } else {
        double q = r == WG_REDUCE_P90 ? 0.90 : r == WG_REDUCE_P95 ? 0.95 : 0.99;
        /* Nearest rank as InfluxQL's percentile(): index floor(n*q + 0.5) - 1, clamped. */
        double idx = floor((double)m * q + 0.5) - 1.0;
        size_t i = idx < 0 ? 0 : (size_t)idx;
        *out = s[i < m ? i : m - 1];
    }
    free(s);
    return WG_OK;
}

enum wg_err wg_rules_reduce(enum wg_reduce r, const double *v, size_t n, double *out)
{
    if (!out || (n && !v)) {
        return WG_EINVAL;
    }
    if (n == 0) {
        return WG_ENOTFOUND;
    }
    if (r == WG_REDUCE_COUNT) {
        *out = (double)n; /* NaN points are points too */
        return WG_OK;
    }
    if (r == WG_REDUCE_MEDIAN || r == WG_REDUCE_P90 || r == WG_REDUCE_P95 || r == WG_REDUCE_P99) {
        return order_stat(r, v, n, out);
    }
    size_t m = 0;
    double acc = 0, first = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        double x = v[i];
        if (isnan(x)) {
            continue;
        }
        if (m == 0) {
            first = x;
            acc = (r == WG_REDUCE_MIN || r == WG_REDUCE_MAX) ? x : 0;
        }
        last = x;
        switch (r) {
        case WG_REDUCE_MIN:
            acc = x < acc ? x : acc;
            break;
        case WG_REDUCE_MAX:
            acc = x > acc ? x : acc;
            break;
        case WG_REDUCE_SUM:
        case WG_REDUCE_MEAN:
            acc += x;
            break;
        default:
            break;
        }
        m++;
    }
    if (m == 0) {
        return WG_ENOTFOUND;
    }
    switch (r) {
    case WG_REDUCE_FIRST:
        *out = first;
        break;
    case WG_REDUCE_LAST:
        *out = last;
        break;
    case WG_REDUCE_MEAN:
        *out = acc / (double)m; /* +Inf stays +Inf; +Inf and -Inf together give NaN */
        break;
    default:
        *out = acc;
        break;
    }
    return WG_OK;
}
