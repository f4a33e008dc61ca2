/* cmd_int.h — what the CLI's files share: config loading, time arguments, and the
 * subcommands implemented outside main.c.
 */
#ifndef WG_CMD_INT_H
#define WG_CMD_INT_H

#include "cmd/cmd.h"
#include "cmd/cmd_alerting.h"
#include "common/common.h"
#include "config/config.h"
#include "gate/gate.h"

#ifndef WG_VERSION
#define WG_VERSION "unknown" /* set by CMake from project(VERSION) */
#endif

/* Subcommands that live in their own files, appended to main.c's table. */
#define WG_CMD_EXTRA {"serve", wg_cmd_serve}, {"alert", wg_cmd_alert}, {"silence", wg_cmd_silence},

/* `wavegate event deploy|flag|list` (cmd_event.c). */
int wg_cmd_event(int argc, char **argv);

int wg__cmd_usage(const char *text, int code);
/* RFC3339, unix seconds, or "now". WG_OK, or WG_EINVAL (malformed). */
enum wg_err wg__cmd_parse_time(const char *s, int64_t *out) WG_NODISCARD;
/* Loads and validates; prints every diagnostic to stderr. NULL with *exit_code = 78 on error. */
struct wg_config *wg__cmd_load_config(const char *path, int *exit_code);
/* `wavegate query`: what to render and run (borrowed). */
struct wg__cmd_query {
    const char *wave, *feature, *rule;
    const char *target; /* a fleet wave's target; required when the wave has targets */
    int64_t deploy_ns, now_ns;
    const struct wg_deploy_time *deploy_times; /* --deploy-time TARGET=T */
    size_t ndeploy_times;
    int baseline, json;
};
/* Returns the exit code: 0, 3 (the query failed), 64 (unknown name; a fleet wave without
 * --target: the targets are listed), 78. */
int wg__cmd_query_run(const struct wg_config *cfg, const struct wg__cmd_query *a);

/* `wavegate check --wait`: the options as given (0 / unset = default). */
struct wg__cmd_wait {
    int64_t interval_ns, duration_ns;
    long count;
    struct wg_limits limits;
    int limits_set[4];  /* failure, consecutive, inconclusive, error */
    int64_t timeout_ns; /* --timeout: each evaluation's deadline; 0: none */
};
int wg__cmd_check_wait(const struct wg_config *cfg, const struct wg_check_req *req,
                       const struct wg__cmd_wait *w, int json);

#endif
