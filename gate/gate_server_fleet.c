/* gate_server_fleet.c — the request parameters of fleet waves for the server: `target=` and
 * `deploy_times {target: time}` (each range-checked), and their copy into a single flight and
 * its key. The evaluation side of fleets is gate_fleet.c.
 */
#include "gate/gate_server_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- request parameters (serve) ---------------------------------------------------------- */

#define MAX_DEPLOY_TIMES 1000 /* the config's cap on targets */

enum wg_err wg__gate_fleet_deploy_times(struct wg__params *p, const struct cJSON *obj, char *err,
                                        size_t errlen)
{
    const cJSON *e;
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "deploy_times: want an object of target: RFC3339");
        return WG_EINVAL;
    }
    cJSON_ArrayForEach(e, obj)
    {
        int64_t ns = 0;
        char why[200];
        if (p->ndeploy_times == MAX_DEPLOY_TIMES) {
            snprintf(err, errlen, "deploy_times: at most %d targets", MAX_DEPLOY_TIMES);
            return WG_EINVAL;
        }
        if (!e->string[0] || strlen(e->string) >= WG__MAX_NAME) {
            snprintf(err, errlen, "deploy_times: want target names of 1-255 bytes");
            return WG_EINVAL;
        }
        if (cJSON_IsString(e)) {
            if (wg_time_parse(e->valuestring, strlen(e->valuestring), &ns) != WG_OK) {
                snprintf(err, errlen, "deploy_times.%.64s: want RFC3339, got \"%.64s\"", e->string,
                         e->valuestring);
                return WG_EINVAL;
            }
        } else if (cJSON_IsNumber(e) && e->valuedouble > 0 &&
                   e->valuedouble < (double)WG_DEPLOY_MAX_NS / 1e9) {
            ns = (int64_t)(e->valuedouble * 1e9);
        } else {
            snprintf(err, errlen, "deploy_times.%.64s: want RFC3339 or Unix seconds", e->string);
            return WG_EINVAL;
        }
        if (wg_time_check_deploy(ns, wg_now_ns(), why, sizeof(why)) != WG_OK) {
            snprintf(err, errlen, "deploy_times.%.64s: %s", e->string, why);
            return WG_EINVAL;
        }
        struct wg_deploy_time *nd = realloc(p->deploy_times, (p->ndeploy_times + 1) * sizeof(*nd));
        if (!nd) {
            return WG_ENOMEM;
        }
        p->deploy_times = nd;
        if (!(nd[p->ndeploy_times].target = wg_strdup(e->string))) {
            return WG_ENOMEM;
        }
        nd[p->ndeploy_times++].ns = ns;
    }
    return WG_OK;
}

void wg__gate_fleet_params_clear(struct wg__params *p)
{
    free(p->target);
    for (size_t i = 0; i < p->ndeploy_times; i++) {
        free((char *)p->deploy_times[i].target);
    }
    free(p->deploy_times);
    p->target = NULL;
    p->deploy_times = NULL;
    p->ndeploy_times = 0;
}

enum wg_err wg__gate_fleet_params_copy(struct wg__params *dst, const struct wg__params *src)
{
    if (src->target && !(dst->target = wg_strdup(src->target))) {
        return WG_ENOMEM;
    }
    if (src->ndeploy_times) {
        dst->deploy_times = calloc(src->ndeploy_times, sizeof(*dst->deploy_times));
        if (!dst->deploy_times) {
            return WG_ENOMEM;
        }
        for (size_t i = 0; i < src->ndeploy_times; i++) {
            dst->deploy_times[i].ns = src->deploy_times[i].ns;
            if (!(dst->deploy_times[i].target = wg_strdup(src->deploy_times[i].target))) {
                dst->ndeploy_times = i;
                return WG_ENOMEM;
            }
        }
        dst->ndeploy_times = src->ndeploy_times;
    }
    return WG_OK;
}

enum wg_err wg__gate_fleet_params_key(struct wg_buf *b, const struct wg__params *p)
{
    (void)wg_buf_addf(b, "\x1f%s", p->target ? p->target : "");
    for (size_t i = 0; i < p->ndeploy_times; i++) {
        (void)wg_buf_addf(b, "\x1e%s=%lld", p->deploy_times[i].target,
                          (long long)p->deploy_times[i].ns);
    }
    return wg_buf_addf(b, "\x1f");
}
