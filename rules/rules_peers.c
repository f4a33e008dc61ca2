/* rules_peers.c — `judge: peers`: each target of a fleet wave against the other targets of
 * the same wave in the same window (leave-one-out median and MAD across targets), so a
 * region that regressed alone fails even under an absolute threshold while a fleet-wide
 * shift fails nobody. Pure: the gate (gate/gate_fleet.c) hands in every target's result.
 */
#include "rules/rules_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_PEERS 3          /* targets with data; fewer cannot tell one from the rest */
#define MAD_SCALE 1.4826     /* MAD of a normal sample → its standard deviation */
#define SCALE_FLOOR 0.01     /* of |median|: identical peers must not make noise infinite */
#define DEFAULT_TOLERANCE 10 /* percent over (under) the peers' median before it may fail */

enum wg_err wg__rules_peers_self(const struct wg_rule_input *in, struct wg_rule_result *out)
{
    const struct wg_rule_params *p = in->p;
    const struct wg_seriesset *cur = in->current;
    size_t n = cur ? wg_seriesset_points(cur) : 0, k = 0;
    double *v = malloc((n ? n : 1) * sizeof(*v));
    if (!v) {
        return WG_ENOMEM;
    }
    for (size_t s = 0; cur && s < cur->n; s++) {
        for (size_t i = 0; i < cur->s[s].n; i++) {
            if (isfinite(cur->s[s].v[i])) {
                v[k++] = cur->s[s].v[i];
            }
        }
    }
    out->samples = k;
    if (k == 0 || (long)k < p->min_samples ||
        wg_rules_reduce(p->reduce, v, k, &out->value) != WG_OK) {
        out->verdict = p->no_data == WG_NODATA_FAIL ? WG_FAIL : WG_INCONCLUSIVE;
        snprintf(out->reason, sizeof(out->reason), "%s (%zu samples, min %ld): no peer judgement",
                 k ? "too few samples" : "no data", k, p->min_samples);
        free(v);
        return WG_OK;
    }
    free(v);
    out->has_value = 1;
    out->peers_pending = 1;
    out->verdict = WG_INCONCLUSIVE;
    snprintf(out->reason, sizeof(out->reason), "peers: not judged against the other targets");
    return WG_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Over the limit l (percent of the median, or absolute) by change ch (>= 0 in the failing
 * direction)? */
static int beyond(const struct wg_limit *l, double ch, double med)
{
    if (l->set && !l->percent) {
        return ch > l->value;
    }
    double pct = l->set ? l->value : DEFAULT_TOLERANCE;
    return med != 0 ? ch / fabs(med) * 100 > pct : ch > 0;
}

static void judge_one(const struct wg_rule_params *p, struct wg_peer *me, double *others, size_t no,
                      size_t npending, double alpha)
{
    struct wg_rule_result *r = me->res;
    double v = r->value;
    double med = median(others, no);
    for (size_t i = 0; i < no; i++) {
        others[i] = fabs(others[i] - med);
    }
    double mad = median(others, no);
    double scale = fmax(MAD_SCALE * mad, SCALE_FLOOR * fabs(med));
    scale = scale > 0 ? scale : 1e-12;
    double z = (v - med) / scale;
    double zc = wg__rules_norm_ppf(1 - alpha / (double)npending);
    int up = p->direction != WG_DIR_DECREASE && z > zc && beyond(&p->max_increase, v - med, med);
    int down = p->direction != WG_DIR_INCREASE && -z > zc && beyond(&p->max_decrease, med - v, med);
    double rel = med != 0 ? (v - med) / fabs(med) * 100 : 0;
    r->has_baseline = 1;
    r->baseline = med;
    r->peers_pending = 0;
    r->verdict = up || down ? WG_FAIL : WG_PASS;
    snprintf(r->reason, sizeof(r->reason),
             "%s %.6g %s its %zu peers' median %.6g (%+.1f%%, robust z %.2f %s %.2f)",
             wg__rules_reduce_name(p->reduce), v,
             up     ? "above"
             : down ? "below"
                    : "in line with",
             no, med, rel, z, up || down ? "beyond" : "within", zc);
}

void wg_rules_peers(const struct wg_rule_params *p, struct wg_peer *peers, size_t n, double alpha)
{
    size_t npending = 0;
    for (size_t i = 0; i < n; i++) {
        npending += peers[i].res->peers_pending;
    }
    double *others = npending >= MIN_PEERS ? malloc(npending * sizeof(*others)) : NULL;
    alpha = alpha > 0 && alpha < 0.5 ? alpha : 0.01;
    for (size_t i = 0; i < n; i++) {
        struct wg_rule_result *r = peers[i].res;
        if (!r->peers_pending) {
            continue;
        }
        if (!others) {
            r->peers_pending = 0;
            r->verdict = WG_INCONCLUSIVE;
            if (npending >= MIN_PEERS) {
                snprintf(r->reason, sizeof(r->reason), "peers: out of memory");
            } else {
                snprintf(r->reason, sizeof(r->reason),
                         "peers: %zu target(s) with data, need %d to compare", npending, MIN_PEERS);
            }
            continue;
        }
        size_t no = 0;
        for (size_t j = 0; j < n; j++) {
            if (j != i && peers[j].res->peers_pending) {
                others[no++] = peers[j].res->value;
            }
        }
        /* values of targets judged before i are still their own: judge_one only writes r's
         * verdict and reason, and keeps value */
        judge_one(p, &peers[i], others, no, npending, alpha);
        r->peers_pending = 1; /* still counts as a peer for the targets after it */
    }
    for (size_t i = 0; i < n; i++) {
        peers[i].res->peers_pending = 0;
    }
    free(others);
}
