/* cmd_alert.c — `wavegate alert test|bench` and `wavegate silence add|list|expire`.
 * test sends one notification through the real outbox and worker; bench pushes N alerts in
 * distinct groups to one webhook and reports notifications/s and peak RSS; silences are
 * written to <state_dir>/alerting.db, which a running daemon re-reads at its next tick.
 */
#include "cmd/cmd_alerting.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerting/alerting.h"
#include "common/store.h"
#include "gate/gate.h"

static const char ALERT_USAGE[] =
    "usage: wavegate alert test --config FILE --receiver NAME [--state-dir DIR]\n"
    "       wavegate alert bench --url URL [--n N] [--state-dir DIR] [--sync full|normal]\n"
    "                            [--pg-dsn-env VAR]  (the outbox on PostgreSQL, DSN in $VAR)\n"
    "\n"
    "test: send one test notification to the receiver through the outbox and wait up to 30s\n"
    "for its delivery. Exit 0 when delivered, 1 when it failed, 78 for config errors.\n";

static const char SILENCE_USAGE[] =
    "usage: wavegate silence add (--config FILE | --state-dir DIR) --duration D\n"
    "                            [--comment TEXT] [--author NAME] MATCHER...\n"
    "       wavegate silence list (--config FILE | --state-dir DIR)\n"
    "       wavegate silence expire (--config FILE | --state-dir DIR) ID\n"
    "\n"
    "MATCHER: name=\"value\", name!=\"value\", name=~\"regex\", name!~\"regex\".\n";

static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

/* A subcommand's options (each takes a value) and how many plain arguments it takes (-1: any):
 * anything else is a usage error naming the option and the command, never ignored
 * (tests/integration/test_cli_options.sh). Returns 0, -1 after --help, or the exit code;
 * *first_pos is the index of the first plain argument (0: none). */
static int check_args(int argc, char **argv, const char *cmd, const char *const *opts, int maxpos,
                      const char *usage, int *first_pos)
{
    int npos = 0;
    *first_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return -1;
        }
        if (a[0] == '-' && a[1]) {
            size_t k = 0;
            while (opts[k] && strcmp(opts[k], a) != 0) {
                k++;
            }
            if (!opts[k]) {
                char list[256] = "";
                size_t len = 0;
                for (size_t j = 0; opts[j] && len < sizeof(list); j++) {
                    int w =
                        snprintf(list + len, sizeof(list) - len, "%s%s", j ? ", " : "", opts[j]);
                    len += w > 0 ? (size_t)w : 0;
                }
                fprintf(stderr, "wavegate %s: unknown option %s (%s takes: %s)\n", cmd, a, cmd,
                        list);
                return WG_EXIT_USAGE;
            }
            if (i + 1 >= argc) {
                fprintf(stderr, "wavegate %s: option %s needs a value\n", cmd, a);
                return WG_EXIT_USAGE;
            }
            i++;
            continue;
        }
        if (maxpos >= 0 && npos >= maxpos) {
            fprintf(stderr, "wavegate %s: unexpected argument %s\n", cmd, a);
            return WG_EXIT_USAGE;
        }
        npos++;
        *first_pos = *first_pos ? *first_pos : i;
    }
    return 0;
}

/* state dir: --state-dir, else the config's state_dir, else the config's default. NULL (the
 * config's errors printed) when --config does not load: never a silence or an outbox in a
 * directory the daemon does not read. */
static char *state_dir_of(int argc, char **argv)
{
    const char *sd = opt(argc, argv, "--state-dir");
    const char *cf = opt(argc, argv, "--config");
    if (sd) {
        return wg_strdup(sd);
    }
    if (cf) {
        struct wg_config *cfg = NULL;
        struct wg_diags d = {0};
        char *out = NULL;
        if (wg_config_load(cf, &cfg, &d) == WG_OK) {
            out = wg_strdup(cfg->state_dir);
        } else {
            wg_diags_print(&d, stderr);
        }
        wg_config_free(cfg);
        wg_diags_free(&d);
        return out;
    }
    return wg_config_default_state_dir();
}

static double metric(const char *text, const char *name, const char *rcv)
{
    char key[200];
    snprintf(key, sizeof(key), "wavegate_alert_%s{receiver=\"%s\"} ", name, rcv);
    const char *p = text ? strstr(text, key) : NULL;
    return p ? strtod(p + strlen(key), NULL) : 0;
}

static int alert_test(int argc, char **argv)
{
    const char *cf = opt(argc, argv, "--config"), *rcv = opt(argc, argv, "--receiver");
    struct wg_alert_config *ac = NULL;
    struct wg_alerting *a = NULL;
    struct wg_diags d = {0};
    char err[256];
    int rc = WG_EXIT_CONFIG;
    char *sd = NULL;
    if (!cf || !rcv) {
        fputs(ALERT_USAGE, stderr);
        return WG_EXIT_USAGE;
    }
    if (wg_alert_config_load(cf, &ac, &d) != WG_OK) {
        wg_diags_print(&d, stderr);
        goto out;
    }
    if (!wg_alert_config_receiver(ac, rcv)) {
        fprintf(stderr, "wavegate: no receiver named '%s'\n", rcv);
        goto out;
    }
    if (!(sd = state_dir_of(argc, argv))) {
        goto out; /* the config's errors are printed: exit 78 */
    }
    if (wg_alerting_new(ac, sd, NULL, &a, err, sizeof(err)) != WG_OK) {
        fprintf(stderr, "wavegate: %s\n", err);
        rc = WG_EXIT_ERROR;
        goto out;
    }
    if (wg_alerting_test(a, rcv, wg_now_ns()) != WG_OK) {
        fprintf(stderr, "wavegate: the test notification was not accepted (see the log)\n");
        rc = WG_EXIT_ERROR;
        goto out;
    }
    wg_alerting_drain(a, wg_mono_ns() + 30 * WG_NS_PER_SEC);
    struct wg_buf m;
    wg_buf_init(&m, 0);
    wg_alerting_metrics(a, &m);
    int ok = metric(m.p, "delivered_total", rcv) >= 1;
    printf("%s: %s\n", rcv, ok ? "delivered" : "NOT delivered (see the log above)");
    wg_buf_free(&m);
    rc = ok ? 0 : 1;
out:
    wg_alerting_free(a);
    wg_alert_config_free(ac);
    wg_diags_free(&d);
    free(sd);
    return rc;
}

static long rss_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, strlen(field)) == 0) {
            v = strtol(line + strlen(field), NULL, 10);
        }
    }
    if (f) {
        fclose(f);
    }
    return v;
}

static int alert_bench(int argc, char **argv)
{
    const char *url = opt(argc, argv, "--url"), *ns = opt(argc, argv, "--n");
    const char *sync = opt(argc, argv, "--sync");
    const char *pg = opt(argc, argv, "--pg-dsn-env");
    long n = ns ? strtol(ns, NULL, 10) : 2000;
    char yaml[1024], err[256];
    struct wg_alert_config *ac = NULL;
    struct wg_alerting *a = NULL;
    struct wg_diags d = {0};
    struct wg_alerting_opts o = {0, sync && strcmp(sync, "normal") == 0 ? 1 : 2};
    if (!url || n <= 0 || n > 1000000) {
        fputs(ALERT_USAGE, stderr);
        return WG_EXIT_USAGE;
    }
    snprintf(yaml, sizeof(yaml),
             "alerting:\n"
             "  receivers: [{name: sink, kind: webhook, url: '%s', max_in_flight: 32}]\n"
             "  route: {receiver: sink, group_by: [alertname], group_wait: 0s}\n",
             url);
    if (wg_alert_config_load_mem("bench", yaml, strlen(yaml), &ac, &d) != WG_OK) {
        wg_diags_print(&d, stderr);
        wg_diags_free(&d);
        return WG_EXIT_CONFIG;
    }
    if (pg) {
        wg_sql_use(WG_STORE_POSTGRES, pg); /* the state: {backend: postgres} outbox */
    }
    char *sd = state_dir_of(argc, argv);
    if (!sd || wg_alerting_new(ac, sd, &o, &a, err, sizeof(err)) != WG_OK) {
        fprintf(stderr, "wavegate: %s\n", sd ? err : "no state_dir");
        free(sd);
        wg_alert_config_free(ac);
        return WG_EXIT_ERROR;
    }
    struct wg_alert_eval *evs = calloc((size_t)n, sizeof(*evs));
    struct wg_label *ls = calloc((size_t)n * 2, sizeof(*ls));
    char(*names)[24] = calloc((size_t)n, sizeof(*names));
    for (long i = 0; evs && ls && names && i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "Bench%06ld", i);
        ls[2 * i] = (struct wg_label){(char *)"alertname", names[i]};
        ls[2 * i + 1] = (struct wg_label){(char *)"severity", (char *)"critical"};
        evs[i] = (struct wg_alert_eval){NULL, &ls[2 * i], 2, NULL, 0, WG_COND_BREACH};
    }
    int64_t now = wg_now_ns();
    int64_t t0 = wg_mono_ns();
    enum wg_err trc = wg_alerting_eval(a, "bench", evs, evs ? (size_t)n : 0, now);
    if (trc == WG_OK) {
        trc = wg_alerting_tick(a, now);
    }
    int64_t t1 = wg_mono_ns();
    size_t left = wg_alerting_drain(a, t0 + 120 * WG_NS_PER_SEC);
    int64_t t2 = wg_mono_ns();
    struct wg_buf m;
    wg_buf_init(&m, 0);
    wg_alerting_metrics(a, &m);
    double delivered = metric(m.p, "delivered_total", "sink");
    printf("notifications=%.0f pending=%zu accept_ms=%.1f total_ms=%.1f per_sec=%.1f "
           "rss_hwm_kib=%ld commit=%s\n",
           delivered, left, (double)(t1 - t0) / 1e6, (double)(t2 - t0) / 1e6,
           delivered / ((double)(t2 - t0) / 1e9), rss_kib("VmHWM:"), wg_strerror(trc));
    wg_buf_free(&m);
    free(evs);
    free(ls);
    free(names);
    wg_alerting_free(a);
    wg_alert_config_free(ac);
    free(sd);
    return left == 0 && trc == WG_OK ? 0 : 1;
}

int wg_cmd_alert(int argc, char **argv)
{
    static const char *const test_opts[] = {"--config", "--receiver", "--state-dir", NULL};
    static const char *const bench_opts[] = {"--url",  "--n",          "--state-dir",
                                             "--sync", "--pg-dsn-env", NULL};
    int pos, code;
    if (argc >= 2 && strcmp(argv[1], "test") == 0) {
        code = check_args(argc - 1, argv + 1, "alert test", test_opts, 0, ALERT_USAGE, &pos);
        return code ? (code < 0 ? 0 : code) : alert_test(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "bench") == 0) {
        code = check_args(argc - 1, argv + 1, "alert bench", bench_opts, 0, ALERT_USAGE, &pos);
        return code ? (code < 0 ? 0 : code) : alert_bench(argc - 1, argv + 1);
    }
    fputs(ALERT_USAGE, argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
    return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : WG_EXIT_USAGE;
}

static int silence_add(int argc, char **argv, struct wg_silence_store *st)
{
    struct wg_silence s = {0};
    const char *dur = NULL, *comment = "", *author = getenv("USER");
    int64_t d = 0;
    char err[256];
    int rc = WG_EXIT_USAGE;
    s.matchers.v = calloc((size_t)argc, sizeof(*s.matchers.v));
    for (int i = 1; s.matchers.v && i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--duration") == 0) {
            dur = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--comment") == 0) {
            comment = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--author") == 0) {
            author = argv[++i];
        } else if (i + 1 < argc &&
                   (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "--state-dir") == 0)) {
            i++;
        } else if (wg_matcher_parse(argv[i], &s.matchers.v[s.matchers.n], err, sizeof(err)) ==
                   WG_OK) {
            s.matchers.n++;
        } else {
            fprintf(stderr, "wavegate: %s\n", err);
            goto out;
        }
    }
    /* capped like config durations, so now + d fits in int64 ns */
    if (!dur || wg_duration_parse(dur, &d) != WG_OK || d <= 0 || d > WG_DURATION_MAX_NS ||
        s.matchers.n == 0) {
        fputs(SILENCE_USAGE, stderr);
        goto out;
    }
    s.starts_ns = wg_now_ns();
    s.ends_ns = s.starts_ns + d;
    s.comment = wg_strdup(comment);
    s.created_by = wg_strdup(author ? author : "wavegate");
    if (wg_silence_add(st, &s, s.starts_ns) != WG_OK) {
        fprintf(stderr, "wavegate: cannot store the silence\n");
        rc = WG_EXIT_ERROR;
        goto out;
    }
    printf("%s\n", s.id);
    rc = 0;
out:
    wg_silence_clear(&s);
    return rc;
}

int wg_cmd_silence(int argc, char **argv)
{
    char err[256];
    struct wg_silence_store *st = NULL;
    int rc = WG_EXIT_USAGE;
    const char *sub = argc >= 2 ? argv[1] : "";
    if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "expire") != 0) {
        fputs(SILENCE_USAGE, strcmp(sub, "--help") == 0 ? stdout : stderr);
        return strcmp(sub, "--help") == 0 ? 0 : WG_EXIT_USAGE;
    }
    static const char *const add_opts[] = {"--config",  "--state-dir", "--duration",
                                           "--comment", "--author",    NULL};
    static const char *const store_opts[] = {"--config", "--state-dir", NULL};
    int is_add = strcmp(sub, "add") == 0, is_expire = strcmp(sub, "expire") == 0, pos = 0;
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "silence %s", sub);
    int code = check_args(argc - 1, argv + 1, cmd, is_add ? add_opts : store_opts,
                          is_add      ? -1
                          : is_expire ? 1
                                      : 0,
                          SILENCE_USAGE, &pos);
    if (code) {
        return code < 0 ? 0 : code;
    }
    char *sd = state_dir_of(argc - 1, argv + 1);
    if (!sd) {
        return WG_EXIT_CONFIG; /* the config's errors are printed */
    }
    if (wg_silence_store_open(sd, &st, err, sizeof(err)) != WG_OK) {
        fprintf(stderr, "wavegate: %s\n", err);
        free(sd);
        return WG_EXIT_ERROR;
    }
    if (strcmp(sub, "add") == 0) {
        rc = silence_add(argc - 1, argv + 1, st);
    } else if (strcmp(sub, "list") == 0) {
        char *j = wg_silence_list_json(st, wg_now_ns());
        printf("%s\n", j ? j : "[]");
        free(j);
        rc = j ? 0 : WG_EXIT_ERROR;
    } else {
        const char *id = pos ? argv[1 + pos] : NULL; /* the plain argument, wherever it is */
        enum wg_err e = id ? wg_silence_expire(st, id, wg_now_ns()) : WG_EINVAL;
        if (e != WG_OK) {
            fprintf(stderr, "wavegate: %s\n",
                    e == WG_ENOTFOUND ? "no silence with that id" : "expire failed");
        }
        rc = e == WG_OK ? 0 : e == WG_EINVAL ? WG_EXIT_USAGE : 1;
    }
    wg_silence_store_close(st);
    free(sd);
    return rc;
}
