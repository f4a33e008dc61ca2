/* rules_stats.c — the statistics of the Mann-Whitney judge: ranks with ties, the U test
 * (normal approximation with tie and continuity correction, exact distribution for small
 * samples without ties), the Hodges-Lehmann shift and its distribution-free confidence
 * interval by selection among the nx*ny pairwise differences, IQR outlier removal, and
 * alpha spending for repeated looks. Pure: no I/O, no clock, deterministic.
 */
#include "rules/rules_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Exact distribution only below this size per side and without ties (R's wilcox.test rule). */
#define EXACT_MAX 50
/* Candidates left in the selection below which they are simply collected and sorted. */
#define SELECT_COLLECT 2048

double wg__rules_norm_sf(double z)
{
    return 0.5 * erfc(z / sqrt(2.0));
}

/* Acklam's rational approximation, then one Halley step against erfc: |error| < 1e-13. */
double wg__rules_norm_ppf(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (!(p > 0)) {
        return -INFINITY;
    }
    if (!(p < 1)) {
        return INFINITY;
    }
    double x, q, r;
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - 0.02425) {
        q = p - 0.5;
        r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

size_t wg__rules_iqr_filter(double *v, size_t n)
{
    if (n < 4) {
        return n; /* quartiles of fewer points say nothing about outliers */
    }
    wg__rules_sort(v, n);
    double q1 = wg__rules_quantile7(v, n, 0.25), q3 = wg__rules_quantile7(v, n, 0.75);
    double iqr = q3 - q1, lo = q1 - 1.5 * iqr, hi = q3 + 1.5 * iqr;
    size_t a = 0, b = n;
    while (a < n && v[a] < lo) {
        a++;
    }
    while (b > a && v[b - 1] > hi) {
        b--;
    }
    memmove(v, v + a, (b - a) * sizeof(*v));
    return b - a;
}

/* ---- selection of the k-th pairwise difference ------------------------------------------ */

/* k-th smallest (0-based) of a[0..n), reordering a: quickselect, median-of-three pivots. */
static double qselect(double *a, size_t n, size_t k)
{
    long lo = 0, hi = (long)n - 1, kk = (long)k;
    while (hi > lo) {
        long mid = lo + (hi - lo) / 2;
        double x = a[lo], y = a[mid], z = a[hi];
        double pv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        long i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pv) {
                i++;
            }
            while (a[j] > pv) {
                j--;
            }
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (kk <= j) {
            hi = j;
        } else if (kk >= i) {
            lo = i;
        } else {
            return a[kk];
        }
    }
    return a[kk];
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* M[i][j] = xs[i] - ys[ny-1-j]: non-decreasing along rows and columns (a sorted matrix), so
 * for a pivot p the entries < p in each row form a prefix whose length can only shrink as i
 * grows. Each round picks a random remaining candidate as pivot, counts around it in O(nx+ny)
 * and keeps the side holding the k-th: O(log(nx ny)) rounds expected (Monahan-style). */
enum wg_err wg__rules_diff_select(const double *xs, size_t nx, const double *ys, size_t ny,
                                  uint64_t k, double *out)
{
    enum wg_err rc = WG_ENOMEM;
    size_t *L = calloc(nx, sizeof(*L)), *R = malloc(nx * sizeof(*R));
    size_t *lt = malloc(nx * sizeof(*lt)), *le = malloc(nx * sizeof(*le));
    double *cand = NULL;
    uint64_t rng = 0x5eed ^ k, below = 0;
    if (k < 1 || k > (uint64_t)nx * ny) {
        rc = WG_EINVAL;
        goto out;
    }
    if (!L || !R || !lt || !le) {
        goto out;
    }
    for (size_t i = 0; i < nx; i++) {
        R[i] = ny;
    }
#define M(i, j) (xs[(i)] - ys[ny - 1 - (j)])
    for (;;) {
        uint64_t total = 0;
        for (size_t i = 0; i < nx; i++) {
            total += R[i] - L[i];
        }
        if (total <= SELECT_COLLECT) {
            cand = malloc((total ? total : 1) * sizeof(*cand));
            if (!cand) {
                goto out;
            }
            size_t m = 0;
            for (size_t i = 0; i < nx; i++) {
                for (size_t j = L[i]; j < R[i]; j++) {
                    cand[m++] = M(i, j);
                }
            }
            *out = m ? qselect(cand, m, (size_t)(k - below - 1)) : NAN;
            rc = WG_OK;
            goto out;
        }
        uint64_t r = splitmix(&rng) % total;
        size_t pi = 0;
        while (r >= R[pi] - L[pi]) {
            r -= R[pi] - L[pi];
            pi++;
        }
        double p = M(pi, L[pi] + r);
        size_t c = ny, ce = ny;
        uint64_t less = 0, leq = 0;
        for (size_t i = 0; i < nx; i++) {
            while (c > 0 && !(M(i, c - 1) < p)) {
                c--;
            }
            while (ce > 0 && M(i, ce - 1) > p) {
                ce--;
            }
            lt[i] = c < L[i] ? L[i] : c > R[i] ? R[i] : c;
            le[i] = ce < L[i] ? L[i] : ce > R[i] ? R[i] : ce;
            less += lt[i] - L[i];
            leq += le[i] - L[i];
        }
        uint64_t kk = k - below;
        if (kk <= less) {
            memcpy(R, lt, nx * sizeof(*R));
        } else if (kk <= leq) {
            *out = p;
            rc = WG_OK;
            goto out;
        } else {
            below += leq;
            memcpy(L, le, nx * sizeof(*L));
        }
    }
#undef M
out:
    free(L);
    free(R);
    free(lt);
    free(le);
    free(cand);
    return rc;
}

/* ---- exact null distribution of U (no ties) --------------------------------------------- */

/* cdf[u] = P(U <= u) for sizes m, n. Elements are added in sorted order; an x added after
 * j elements of which c are x's adds (j - c) to U. Counts stay exact up to 2^53 and keep
 * ~16 significant digits beyond, plenty for tail probabilities. */
double *wg__rules_mw_exact_cdf(size_t m, size_t n)
{
    size_t K = m * n, W = K + 1;
    double *dp = calloc((m + 1) * W, sizeof(*dp));
    double *cdf = malloc(W * sizeof(*cdf));
    if (!dp || !cdf) {
        free(dp);
        free(cdf);
        return NULL;
    }
    dp[0] = 1;
    for (size_t j = 0; j < m + n; j++) {
        size_t cmax = j < m ? j : m - 1;
        for (size_t c = cmax + 1; c-- > 0;) {
            if (j - c > n) {
                continue; /* more y's than there are: cannot reach c = m */
            }
            size_t add = j - c;
            double *src = &dp[c * W], *dst = &dp[(c + 1) * W];
            for (size_t u = 0; u + add < W; u++) {
                dst[u + add] += src[u];
            }
        }
    }
    double tot = 0;
    for (size_t u = 0; u < W; u++) {
        tot += dp[m * W + u];
    }
    double acc = 0;
    for (size_t u = 0; u < W; u++) {
        acc += dp[m * W + u];
        cdf[u] = acc / tot;
    }
    free(dp);
    return cdf;
}

/* ---- Mann-Whitney ----------------------------------------------------------------------- */

static double mean_of(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        s += v[i];
    }
    return s / (double)n;
}

/* Sum of the midranks of x and the tie term sum(t^3 - t), merging sorted xs and ys. */
static void rank_sum(const double *xs, size_t nx, const double *ys, size_t ny, double *rx,
                     double *ties)
{
    size_t i = 0, j = 0, pos = 0;
    *rx = 0;
    *ties = 0;
    while (i < nx || j < ny) {
        double v = j == ny || (i < nx && xs[i] <= ys[j]) ? xs[i] : ys[j];
        size_t ci = 0, cj = 0;
        while (i < nx && xs[i] == v) {
            i++;
            ci++;
        }
        while (j < ny && ys[j] == v) {
            j++;
            cj++;
        }
        double t = (double)(ci + cj);
        *rx += (double)ci * ((double)pos + (t + 1) / 2.0);
        *ties += t * t * t - t;
        pos += ci + cj;
    }
}

static enum wg_err hodges_lehmann(const double *xs, size_t nx, const double *ys, size_t ny,
                                  uint64_t klo, struct wg_mw_result *out)
{
    uint64_t K = (uint64_t)nx * ny;
    double a, b;
    enum wg_err rc = wg__rules_diff_select(xs, nx, ys, ny, (K + 1) / 2, &a);
    if (rc == WG_OK && K % 2 == 0) {
        rc = wg__rules_diff_select(xs, nx, ys, ny, K / 2 + 1, &b);
        a = (a + b) / 2;
    }
    if (rc == WG_OK) {
        out->shift = a;
        rc = wg__rules_diff_select(xs, nx, ys, ny, klo, &out->shift_lo);
    }
    if (rc == WG_OK) {
        rc = wg__rules_diff_select(xs, nx, ys, ny, K + 1 - klo, &out->shift_hi);
    }
    return rc;
}

enum wg_err wg_rules_mann_whitney(const double *x, size_t nx, const double *y, size_t ny,
                                  double confidence, struct wg_mw_result *out)
{
    enum wg_err rc = WG_OK;
    double *xs = NULL, *ys = NULL, *cdf = NULL;
    memset(out, 0, sizeof(*out));
    out->n_current = nx;
    out->n_baseline = ny;
    out->p_value = out->p_increase = out->p_decrease = 1;
    out->ratio = NAN;
    if (!(confidence > 0 && confidence < 1)) {
        confidence = 0.98;
    }
    out->confidence = confidence;
    out->alpha = (1 - confidence) / 2;
    if (nx == 0 || ny == 0 || !x || !y) {
        return WG_EINVAL;
    }
    xs = malloc(nx * sizeof(*xs));
    ys = malloc(ny * sizeof(*ys));
    if (!xs || !ys) {
        rc = WG_ENOMEM;
        goto out;
    }
    memcpy(xs, x, nx * sizeof(*xs));
    memcpy(ys, y, ny * sizeof(*ys));
    wg__rules_sort(xs, nx);
    wg__rules_sort(ys, ny);

    double mx = mean_of(xs, nx), my = mean_of(ys, ny);
    out->ratio = my > 0 ? mx / my : (my == 0 && mx == 0) ? 1.0 : NAN;

    double rx, ties, fx = (double)nx, fy = (double)ny, N = fx + fy, K = fx * fy;
    rank_sum(xs, nx, ys, ny, &rx, &ties);
    out->u = rx - fx * (fx + 1) / 2;
    double var = K / 12.0 * ((N + 1) - (N > 1 ? ties / (N * (N - 1)) : 0));
    double sd = var > 0 ? sqrt(var) : 0;
    double d = out->u - K / 2;
    uint64_t klo;
    out->exact = nx < EXACT_MAX && ny < EXACT_MAX && ties == 0;
    if (out->exact && (cdf = wg__rules_mw_exact_cdf(nx, ny)) != NULL) {
        size_t u = (size_t)out->u, Ki = nx * ny;
        out->p_decrease = cdf[u];
        out->p_increase = u ? 1 - cdf[u - 1] : 1;
        double p = d > 0 ? out->p_increase : out->p_decrease;
        out->p_value = 2 * p < 1 ? 2 * p : 1;
        out->z = sd > 0 ? d / sd : 0;
        /* R: qu = qwilcox(alpha/2); if 0 then 1; CI = [diffs[qu], diffs[K - qu + 1]]. */
        double a2 = (1 - confidence) / 2;
        size_t qu = 0;
        while (qu < Ki && cdf[qu] < a2 * (1 - 64 * 2.2e-16)) {
            qu++;
        }
        klo = qu ? qu : 1;
    } else if (sd > 0) {
        out->exact = 0;
        double cc = d > 0 ? 0.5 : d < 0 ? -0.5 : 0;
        out->z = (d - cc) / sd;
        double sf = wg__rules_norm_sf(fabs(out->z));
        out->p_value = 2 * sf < 1 ? 2 * sf : 1;
        out->p_increase = wg__rules_norm_sf((d - 0.5) / sd);
        out->p_decrease = wg__rules_norm_sf(-(d + 0.5) / sd);
        /* CI order statistic k chosen so that "D_(k) > 0" is the same event as the one-sided
         * test at (1 - confidence)/2 rejecting (no ties): U >= floor(K/2 + 1/2 + z sd) + 1. */
        double zq = wg__rules_norm_ppf(1 - (1 - confidence) / 2);
        double kk = K - floor(K / 2 + 0.5 + zq * sd);
        klo = kk < 1 ? 1 : (uint64_t)kk;
    } else {
        out->exact = 0; /* every value tied: no evidence of any shift */
        klo = 1;
    }
    if (klo > ((uint64_t)nx * ny + 1) / 2) {
        klo = ((uint64_t)nx * ny + 1) / 2;
    }
    rc = hodges_lehmann(xs, nx, ys, ny, klo, out);
out:
    free(xs);
    free(ys);
    free(cdf);
    return rc;
}

enum wg_err wg__rules_mw_asymptotic(const double *x, size_t nx, const double *y, size_t ny,
                                    int correct, double *p_two, double *p_greater)
{
    if (!nx || !ny) {
        return WG_EINVAL;
    }
    double *xs = malloc(nx * sizeof(*xs)), *ys = malloc(ny * sizeof(*ys));
    if (!xs || !ys) {
        free(xs);
        free(ys);
        return WG_ENOMEM;
    }
    memcpy(xs, x, nx * sizeof(*xs));
    memcpy(ys, y, ny * sizeof(*ys));
    wg__rules_sort(xs, nx);
    wg__rules_sort(ys, ny);
    double rx, ties, fx = (double)nx, fy = (double)ny, N = fx + fy, K = fx * fy;
    rank_sum(xs, nx, ys, ny, &rx, &ties);
    free(xs);
    free(ys);
    double d = rx - fx * (fx + 1) / 2 - K / 2;
    double sd = sqrt(K / 12.0 * ((N + 1) - (N > 1 ? ties / (N * (N - 1)) : 0)));
    if (!(sd > 0)) {
        *p_two = *p_greater = 1;
        return WG_OK;
    }
    double cc = !correct ? 0 : d > 0 ? 0.5 : d < 0 ? -0.5 : 0;
    double sf = wg__rules_norm_sf(fabs(d - cc) / sd);
    *p_two = 2 * sf < 1 ? 2 * sf : 1;
    *p_greater = wg__rules_norm_sf((d - (correct ? 0.5 : 0)) / sd);
    return WG_OK;
}

/* ---- alpha spending --------------------------------------------------------------------- */

double wg_rules_alpha_spent(double alpha, int look, int max_looks)
{
    if (look <= 0 || max_looks <= 0) {
        return 0;
    }
    if (look >= max_looks) {
        return alpha;
    }
    return alpha * (0.5 + (double)(look - 1) / (2.0 * (double)(max_looks - 1)));
}

double wg_rules_alpha_spend_since(double alpha, int last_tested, int look, int max_looks)
{
    if (look < 1 || look > max_looks || last_tested >= look) {
        return 0;
    }
    return wg_rules_alpha_spent(alpha, look, max_looks) -
           wg_rules_alpha_spent(alpha, last_tested, max_looks);
}

double wg_rules_alpha_spend(double alpha, int look, int max_looks)
{
    return wg_rules_alpha_spend_since(alpha, look - 1, look, max_looks);
}
