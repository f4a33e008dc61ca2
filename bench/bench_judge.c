/* bench_judge.c — judgement quality of the Mann-Whitney judge (issue 4): a seeded simulation
 * with known truth (lognormal latency, median regressions) comparing wavegate's verdicts with
 * the oracle, a one-sided z-test on log latency with the true sigma at the same false-fail
 * rate; then the power guard below min_samples and a 10-look bake-time analysis.
 * Usage: bench_judge [trials-per-cell] [seed]; exits 1 when a target is missed.
 */
#include "rules/rules_int.h" /* exact null distribution of U for the size check */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- xoshiro256** seeded through splitmix64, Box-Muller normals -------------------------- */

static uint64_t rs[4];

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(void)
{
    uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;
    rs[2] ^= rs[0];
    rs[3] ^= rs[1];
    rs[1] ^= rs[2];
    rs[0] ^= rs[3];
    rs[2] ^= t;
    rs[3] = rotl(rs[3], 45);
    return r;
}

static void seed_rng(uint64_t s)
{
    for (int i = 0; i < 4; i++) {
        uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        rs[i] = z ^ (z >> 31);
    }
}

static double uniform01(void) /* (0, 1) */
{
    return ((double)(next_u64() >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void)
{
    static int have;
    static double spare;
    if (have) {
        have = 0;
        return spare;
    }
    double u = uniform01(), v = uniform01(), r = sqrt(-2 * log(u));
    spare = r * sin(2 * M_PI * v);
    have = 1;
    return r * cos(2 * M_PI * v);
}

/* ---- the judge under test: wg_rules_eval on a mann-whitney rule --------------------------- */

struct judge {
    struct wg_rule rule;
    struct wg_rule_params p;
};

static void judge_init(struct judge *j)
{
    memset(j, 0, sizeof(*j));
    j->rule.name = "latency-shift";
    j->rule.judge = WG_JUDGE_MANN_WHITNEY;
    j->rule.baseline.kind = WG_BASELINE_WINDOW;
    j->p.min_samples = 50;
    j->p.confidence = 0.98;
    j->p.direction = WG_DIR_INCREASE;
    j->p.allowed_increase = (struct wg_limit){.set = 1, .percent = 1, .value = 0};
    j->p.weight = 1;
}

/* seq < 0: a single judgement at the configured confidence; else the per-look alpha. */
static enum wg_verdict judge_run(struct judge *j, double *cur, size_t nc, double *base,
                                 size_t nb, double seq_alpha)
{
    struct wg_series sc = {.v = cur, .n = nc, .cap = nc}, sb = {.v = base, .n = nb, .cap = nb};
    struct wg_seriesset c = {.s = &sc, .n = 1, .cap = 1}, b = {.s = &sb, .n = 1, .cap = 1};
    struct wg_rule_input in = {.rule = &j->rule, .p = &j->p, .current = &c, .baseline = &b};
    if (seq_alpha >= 0) {
        in.sequential = 1;
        in.look_alpha = seq_alpha;
    }
    struct wg_rule_result res;
    if (wg_rules_eval(&in, &res) != WG_OK) {
        fprintf(stderr, "wg_rules_eval failed\n");
        exit(2);
    }
    enum wg_verdict v = res.verdict;
    wg_rule_result_clear(&res);
    return v;
}

/* Standard normal quantile by bisection on erfc (the bench does not use rules' internals). */
static double z_quantile(double p)
{
    double lo = -40, hi = 40;
    for (int i = 0; i < 200; i++) {
        double mid = (lo + hi) / 2;
        if (0.5 * erfc(-mid / sqrt(2.0)) < p) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return (lo + hi) / 2;
}

static void draw(double *v, size_t n, double sigma, double factor)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = 100.0 * factor * exp(sigma * normal());
    }
}

static double mean_log(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        s += log(v[i]);
    }
    return s / (double)n;
}

static int failures;

static void target(int ok, const char *fmt, double a, double b)
{
    printf("  %-4s ", ok ? "ok" : "MISS");
    printf(fmt, a, b);
    printf("\n");
    failures += !ok;
}

/* Exact false-fail rate of the judge's rule for n per side (normal approximation with
 * continuity correction, p_increase < alpha), from the exact null distribution of U: an upper
 * bound, since the mean-ratio gate can only remove fails. -1 if too big to compute here. */
static double exact_size(size_t n, double alpha)
{
    if (n > 100) {
        return -1;
    }
    double *cdf = wg__rules_mw_exact_cdf(n, n);
    if (!cdf) {
        return -1;
    }
    double K = (double)n * (double)n, sd = sqrt(K * (2.0 * (double)n + 1) / 12.0);
    size_t u = (size_t)K;
    while (u > 0 && 0.5 * erfc(((double)(u - 1) - K / 2 - 0.5) / sd / sqrt(2.0)) < alpha) {
        u--;
    }
    double size = u > 0 ? 1 - cdf[u - 1] : 1;
    free(cdf);
    return size;
}

/* ---- 1. power table ----------------------------------------------------------------------- */

static void power_table(int trials, double *cur, double *base)
{
    static const double sigmas[] = {0.25, 0.5};
    static const size_t ns[] = {50, 100, 300, 600};
    static const double regs[] = {0, 5, 10, 20, 50};
    struct judge j;
    judge_init(&j);
    double alpha = (1 - j.p.confidence) / 2; /* one-sided, direction increase */
    double zc = z_quantile(1 - alpha);
    printf("Power table: allowed_increase 0%%, direction increase, confidence %.2f -> one-sided "
           "alpha %.3f\n",
           j.p.confidence, alpha);
    printf("(no-change cells run 10x the trials)\n\n");
    printf("%-24s %8s %10s %10s %8s %8s %s\n", "cell", "trials", "wavegate", "oracle", "ratio",
           "incon", "false-fail");
    for (size_t si = 0; si < 2; si++) {
        for (size_t ni = 0; ni < 4; ni++) {
            for (size_t ri = 0; ri < 5; ri++) {
                double sigma = sigmas[si], reg = regs[ri];
                size_t n = ns[ni];
                int t = reg == 0 ? trials * 10 : trials;
                int wf = 0, of = 0, inc = 0;
                for (int k = 0; k < t; k++) {
                    draw(base, n, sigma, 1.0);
                    draw(cur, n, sigma, 1.0 + reg / 100.0);
                    double z = (mean_log(cur, n) - mean_log(base, n)) /
                               (sigma * sqrt(2.0 / (double)n));
                    of += z > zc;
                    enum wg_verdict v = judge_run(&j, cur, n, base, n, -1);
                    wf += v == WG_FAIL;
                    inc += v == WG_INCONCLUSIVE;
                }
                double pw = (double)wf / t, po = (double)of / t;
                char cell[64];
                snprintf(cell, sizeof(cell), "s=%.2f n=%zu +%g%%", sigma, n, reg);
                if (reg == 0) {
                    /* The design rate is alpha (1%). Where the exact null distribution of U
                     * is computable (n <= 100) the exact rate of the rule decides; elsewhere
                     * the simulated rate must not be significantly above 1% (one-sided
                     * binomial z < 1.645). Under no change the rank test does not depend on
                     * sigma, so both sigma rows estimate the same rate. */
                    double se = sqrt(alpha * (1 - alpha) / t), zf = (pw - alpha) / se;
                    double ex = exact_size(n, alpha);
                    char exs[32] = "-";
                    if (ex >= 0) {
                        snprintf(exs, sizeof(exs), "%.5f", ex);
                    }
                    printf("%-24s %8d %10s %10s %8s %8d %.4f (z %+.2f) exact %s  oracle %.4f\n",
                           cell, t, "-", "-", "-", inc, pw, zf, exs, po);
                    char msg[160];
                    if (ex >= 0) {
                        snprintf(msg, sizeof(msg),
                                 "%s: exact false-fail rate %%.5f <= %%g", cell);
                        target(ex <= alpha, msg, ex, alpha);
                    } else {
                        snprintf(msg, sizeof(msg),
                                 "%s: false fails %%.4f, not significantly above 0.01 (z %%+.2f)",
                                 cell);
                        target(pw <= alpha || zf < 1.645, msg, pw, zf);
                    }
                } else {
                    printf("%-24s %8d %10.4f %10.4f %8.3f %8d\n", cell, t, pw, po,
                           po > 0 ? pw / po : 0, inc);
                    if (po >= 0.5) {
                        char msg[160];
                        snprintf(msg, sizeof(msg), "%s: power %%.4f >= 0.9 x oracle %%.4f",
                                 cell);
                        target(pw >= 0.9 * po, msg, pw, po);
                    }
                }
            }
        }
    }
}

/* ---- 2. below min_samples ------------------------------------------------------------------ */

static void power_guard(int trials, double *cur, double *base)
{
    static const size_t ns[] = {1, 10, 30, 49};
    struct judge j;
    judge_init(&j);
    printf("\nBelow min_samples (50): every verdict must be inconclusive\n");
    for (size_t ni = 0; ni < 4; ni++) {
        int other = 0;
        for (int k = 0; k < trials; k++) {
            draw(base, 100, 0.5, 1.0);
            draw(cur, ns[ni], 0.5, k % 2 ? 1.5 : 1.0);
            other += judge_run(&j, cur, ns[ni], base, 100, -1) != WG_INCONCLUSIVE;
        }
        char msg[96];
        snprintf(msg, sizeof(msg), "n=%zu current vs 100 baseline: %%g of %%g not inconclusive",
                 ns[ni]);
        target(other == 0, msg, other, trials);
    }
}

/* ---- 3. repeated looks ---------------------------------------------------------------------- */

#define LOOKS 10
#define PER_LOOK 30

/* One bake-time analysis: 10 looks over growing windows (both sides gain PER_LOOK samples per
 * interval, canary vs stable), driven through wg_limits (failure_limit 0, inconclusive and
 * error limits off). Returns the look that failed (1..10) or 0. spend: 1 = alpha spending,
 * 0 = the plain test at alpha on every look. */
static int bake(struct judge *j, double sigma, double factor, int spend, double *cur,
                double *base)
{
    struct wg_limits l = {.failure_limit = 0, .inconclusive_limit = -1, .error_limit = -1,
                          .count = LOOKS};
    struct wg_limits_state st = {0};
    double alpha = (1 - j->p.confidence) / 2;
    int last_tested = 0;
    draw(base, LOOKS * PER_LOOK, sigma, 1.0);
    draw(cur, LOOKS * PER_LOOK, sigma, factor);
    for (int look = 1; look <= LOOKS; look++) {
        size_t n = (size_t)look * PER_LOOK;
        double a = spend ? wg_rules_alpha_spend_since(alpha, last_tested, look, LOOKS) : alpha;
        enum wg_verdict v = judge_run(j, cur, n, base, n, a);
        if (v != WG_INCONCLUSIVE) {
            last_tested = look;
        }
        int done = 0;
        enum wg_verdict o = wg_limits_step(&l, &st, v, &done);
        if (done) {
            return o == WG_FAIL ? look : 0;
        }
    }
    return 0;
}

static void sequential(int trials, double *cur, double *base)
{
    struct judge j;
    judge_init(&j);
    int first = (j.p.min_samples + PER_LOOK - 1) / PER_LOOK; /* first look with min_samples */
    printf("\nRepeated looks: %d looks, +%d samples per side per look (growing windows), "
           "min_samples %ld -> first judged look %d\n",
           LOOKS, PER_LOOK, j.p.min_samples, first);
    printf("per-look alpha (spending): ");
    for (int k = first; k <= LOOKS; k++) {
        printf("%s%.5f", k > first ? " " : "",
               wg_rules_alpha_spend_since(0.01, k == first ? 0 : k - 1, k, LOOKS));
    }
    printf("\n%-28s %12s %16s %16s\n", "scenario", "trials", "any-fail", "fail@first");
    for (int si = 0; si < 2; si++) {
        double sigma = si ? 0.5 : 0.25;
        for (int spend = 1; spend >= 0; spend--) {
            int ff = 0, hit = 0, hit_any = 0;
            for (int k = 0; k < trials; k++) {
                ff += bake(&j, sigma, 1.0, spend, cur, base) != 0;
            }
            for (int k = 0; k < trials; k++) {
                int at = bake(&j, sigma, 1.5, spend, cur, base);
                hit += at == first;
                hit_any += at != 0;
            }
            char name[64];
            snprintf(name, sizeof(name), "s=%.2f %s", sigma, spend ? "spending" : "plain x10");
            printf("%-28s %12d  no change %.4f  +50%%: %.4f (any %.4f)\n", name, trials,
                   (double)ff / trials, (double)hit / trials, (double)hit_any / trials);
            if (spend) {
                char msg[128];
                snprintf(msg, sizeof(msg), "%s: overall false fails %%.4f <= %%g", name);
                target((double)ff / trials <= 0.01, msg, (double)ff / trials, 0.01);
                snprintf(msg, sizeof(msg),
                         "%s: +50%%%% fails at look %d in %%.4f of runs (target %%g)", name, first);
                target((double)hit / trials >= 0.9, msg, (double)hit / trials, 0.9);
            }
        }
    }
}

int main(int argc, char **argv)
{
    int trials = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 2000;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 20240611;
    seed_rng(seed);
    double *cur = malloc(LOOKS * PER_LOOK * 2 * sizeof(*cur) + 600 * sizeof(*cur));
    double *base = malloc(LOOKS * PER_LOOK * 2 * sizeof(*base) + 600 * sizeof(*base));
    if (!cur || !base) {
        return 2;
    }
    printf("bench_judge: seed %llu, %d trials per cell\n\n", (unsigned long long)seed, trials);
    power_table(trials, cur, base);
    power_guard(trials / 4, cur, base);
    sequential(trials, cur, base);
    free(cur);
    free(base);
    printf("\n%s (%d target%s missed)\n", failures ? "FAIL" : "OK", failures,
           failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
