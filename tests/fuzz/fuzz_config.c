/* fuzz_config.c — libFuzzer target for the config loader (libyaml events → node tree → typed
 * model): any input must give WG_OK with a config or an error with diagnostics, never a crash
 * or a leak. Built when WG_FUZZ=ON (clang) once tests/fuzz/CMakeLists.txt lists it.
 */
#include "config/config.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wg_diags d = {0};
    struct wg_config *cfg = NULL;
    enum wg_err rc = wg_config_load_mem("fuzz.yaml", (const char *)data, size, &cfg, &d);
    if ((rc == WG_OK) != (cfg != NULL) || (rc == WG_ECONFIG && d.nerrors == 0)) {
        __builtin_trap();
    }
    for (size_t i = 0; cfg && i < cfg->nfeatures; i++) {
        for (size_t j = 0; j < cfg->features[i].nrules; j++) {
            struct wg_rule_params p;
            const struct wg_rule *r = &cfg->features[i].rules[j];
            int64_t end;
            for (size_t w = 0; w < cfg->nwaves; w++) {
                wg_config_effective(r, &cfg->waves[w], &p);
                /* a loaded config keeps the latest deploy + delay + window inside int64 */
                if (p.window_ns > WG_DURATION_MAX_NS || p.delay_ns > WG_DURATION_MAX_NS ||
                    r->baseline.window_ns > WG_DURATION_MAX_NS ||
                    wg_time_add(WG_DEPLOY_MAX_NS, p.delay_ns + p.window_ns, &end) != WG_OK) {
                    __builtin_trap();
                }
            }
        }
    }
    wg_config_free(cfg);
    wg_diags_free(&d);
    return 0;
}
