/* cmd_serve.c — `wavegate serve`: load the config, start the HTTP gate, then wait for signals
 * on the main thread (sigwait): SIGHUP reloads atomically, SIGTERM/SIGINT drain and exit.
 * Signals are blocked before any thread starts so only this thread ever sees them.
 */
#include "cmd/cmd.h"

#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/common.h"
#include "config/config.h"
#include "gate/gate.h"

static const char SERVE_USAGE[] =
    "usage: wavegate serve --config FILE [--listen ADDR:PORT] [--log-level LEVEL]\n"
    "Serve the gate over HTTP: /v1/gate (mode=body|status), /v1/flagger/{hook},\n"
    "/v1/analyses, /v1/silences, /healthz, /readyz, /metrics. --listen overrides\n"
    "server.listen (port 0 picks a free port; the bound port is logged). With alerting:\n"
    "and monitor:, the waves are watched and alerts sent through a durable outbox in\n"
    "state_dir. SIGHUP reloads the config; SIGTERM drains requests in flight and the\n"
    "outbox (within server.drain_timeout), then exits 0.\n";

static int parse_level(const char *s, enum wg_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, names[i])) {
            *out = (enum wg_log_level)i;
            return 0;
        }
    }
    return -1;
}

/* The open files' soft limit up to the hard one (at most 65536), as Go's runtime does: the
 * kept HTTP handles hold up to every source's max_concurrency connections each (a 50-source
 * fleet: 400), beside the clients' connections, and 1024 (a systemd service's default) is
 * near. Nothing else changes when the hard limit is that low; select() is not used. The
 * command does it, not wg_server_start: a process limit is the program's to set. */
static void raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max) {
        return;
    }
    rlim_t want = r.rlim_max > 65536 ? 65536 : r.rlim_max;
    if (want > r.rlim_cur) {
        r.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &r) != 0) {
            wg_log(WG_LOG_DEBUG, "open files limit stays at its soft value");
        }
    }
}

int wg_cmd_serve(int argc, char **argv)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *listen = NULL;
    enum wg_log_level lvl = WG_LOG_INFO;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:l:h", longs, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'L':
            if (parse_level(optarg, &lvl) < 0) {
                fprintf(stderr, "wavegate: --log-level: want debug|info|warn|error\n");
                return WG_EXIT_USAGE;
            }
            break;
        case 'h':
            fputs(SERVE_USAGE, stdout);
            return 0;
        case ':':
            fprintf(stderr, "wavegate serve: option %s needs a value\n%s", argv[optind - 1],
                    SERVE_USAGE);
            return WG_EXIT_USAGE;
        default:
            fprintf(stderr,
                    "wavegate serve: unknown option %s (serve takes: --config, --listen, "
                    "--log-level)\n%s",
                    argv[optind - 1], SERVE_USAGE);
            return WG_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "wavegate serve: unexpected argument %s\n%s", argv[optind], SERVE_USAGE);
        return WG_EXIT_USAGE;
    }
    if (!config) {
        fprintf(stderr, "wavegate serve: --config is required\n%s", SERVE_USAGE);
        return WG_EXIT_USAGE;
    }
    wg_log_set_level(lvl);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct wg_diags d = {0};
    struct wg_config *cfg = NULL;
    enum wg_err rc = wg_config_load(config, &cfg, &d);
    wg_diags_print(&d, stderr);
    wg_diags_free(&d);
    if (rc != WG_OK) {
        fprintf(stderr, "wavegate: %s: %s\n", config, wg_strerror(rc));
        return WG_EXIT_CONFIG;
    }
    int64_t drain_ns = cfg->server.drain_timeout_ns;
    struct wg_server_opts o = {config, listen, {NULL, NULL}};
    struct wg_server *srv = NULL;
    char err[512] = "";
    raise_nofile();
    rc = wg_server_start(cfg, &o, &srv, err, sizeof(err));
    if (rc != WG_OK) {
        fprintf(stderr, "wavegate: serve: %s\n", err[0] ? err : wg_strerror(rc));
        return rc == WG_ECONFIG ? WG_EXIT_CONFIG : WG_EXIT_ERROR;
    }
    malloc_trim(0); /* hand back what loading the config used and freed */
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            struct wg_diags rd = {0};
            if (wg_server_reload(srv, &rd) == WG_OK) {
                wg_diags_print(&rd, stderr); /* warnings */
                wg_log(WG_LOG_INFO, "serve: reloaded %s", config);
            } else {
                wg_diags_print(&rd, stderr);
                wg_log(WG_LOG_ERROR,
                       "serve: reload of %s failed with %zu error(s); "
                       "keeping the running config",
                       config, rd.nerrors);
            }
            wg_diags_free(&rd);
            malloc_trim(0);
            continue;
        }
        wg_log(WG_LOG_INFO, "serve: %s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    wg_server_drain(srv, drain_ns);
    wg_server_free(srv);
    wg_log(WG_LOG_INFO, "serve: stopped");
    return 0;
}
