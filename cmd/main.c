/* main.c — the wavegate command line: a thin layer over the library. Parses arguments,
 * loads the config, and hands over to check / validate / query / history (here) and to
 * serve, alert and silence (their own files). Exit codes are in gate/gate.h.
 */
#include "cmd/cmd_int.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: wavegate <command> [options]\n"
    "\n"
    "Gate a deployment wave on post-deploy metrics in InfluxDB, and alert on them.\n"
    "\n"
    "commands:\n"
    "  check      evaluate a wave's rules and answer pass / fail / inconclusive\n"
    "  validate   check a config file and list every error\n"
    "  query      show the rendered query of one rule and the tables it returns\n"
    "  history    list or invalidate the stored evaluations used by baseline: previous\n"
    "  serve      run the gate as an HTTP service (Argo, Flagger, CI) and the alert monitor\n"
    "  event      record a deploy or a flag flip (deploy|flag|list)\n"
    "  alert      send a test notification to a receiver\n"
    "  silence    add, list or expire alert silences\n"
    "  version    print the version\n"
    "\n"
    "Run 'wavegate <command> --help' for a command's options.\n";

static const char CHECK_USAGE[] =
    "usage: wavegate check --config FILE --wave WAVE [--feature NAME]...\n"
    "                      [--deploy-time RFC3339] [--format text|json|junit|html] [--now "
    "RFC3339]\n"
    "                      [--target NAME] [--deploy-time TARGET=RFC3339]... [--timeout D]\n"
    "                      [--wait [--interval D] [--count N | --duration D]\n"
    "                       [--failure-limit N] [--consecutive-failures N]\n"
    "                       [--inconclusive-limit N] [--error-limit N]]\n"
    "\n"
    "Evaluates every rule of the named features (all features when none is named) for the\n"
    "wave. With --deploy-time T each rule looks at [T+delay, T+delay+window); without it at\n"
    "[now-window, now).\n"
    "\n"
    "--timeout D bounds each evaluation (each look with --wait): queries still out after D are\n"
    "cut, their rules could not be evaluated, and the verdict is an error (exit 3), never a\n"
    "pass.\n"
    "\n"
    "--wait runs a bake-time analysis in the foreground: the check is repeated every\n"
    "--interval (default 1m), --count times (default: until every window has ended, or 10),\n"
    "and stops as soon as the limits decide: more than --failure-limit failures (default 0),\n"
    "--consecutive-failures in a row, more than --inconclusive-limit inconclusive looks\n"
    "(default: count) or more than --error-limit errors in a row (default 3; an outage is\n"
    "an error, never a failure). A limit of -1 is off.\n"
    "\n"
    "exit codes: 0 pass (warnings included), 1 fail, 2 inconclusive, 3 could not evaluate\n"
    "            (a source failed or answered an error), 64 usage, 78 config\n";

static const char VALIDATE_USAGE[] =
    "usage: wavegate validate --config FILE\n"
    "\n"
    "Loads and checks the config. Exit 0 when valid (warnings are printed), 78 with every\n"
    "error as file:line:col: key: message.\n";

static const char QUERY_USAGE[] =
    "usage: wavegate query --config FILE --wave WAVE --feature NAME --rule NAME\n"
    "                      [--target NAME] [--deploy-time [TARGET=]RFC3339]...\n"
    "                      [--baseline] [--format json|table]\n"
    "\n"
    "Renders the rule's query for the wave and window, runs it, and prints the parsed tables.\n"
    "A fleet wave needs --target: the query runs against that target's source with its\n"
    "placeholders ({{ target }}, its labels) and deploy time (TARGET=T, else --deploy-time).\n"
    "--baseline runs the baseline window's query instead.\n"
    "Exit 0, or 3 with the server's message when the query failed.\n";

static const char HISTORY_USAGE[] =
    "usage: wavegate history list --config FILE [--feature F] [--rule R] [--wave W]\n"
    "       wavegate history invalidate --config FILE (--id N | --feature F [--rule R]\n"
    "                                   [--wave W])\n"
    "\n"
    "The state store keeps the value of each evaluation of rules with baseline: previous.\n"
    "invalidate drops entries from future baselines (a bad deploy that passed).\n";

int wg__cmd_usage(const char *text, int code)
{
    fputs(text, code == 0 ? stdout : stderr);
    return code;
}

enum wg_err wg__cmd_parse_time(const char *s, int64_t *out)
{
    if (strcmp(s, "now") == 0) {
        *out = wg_now_ns();
        return WG_OK;
    }
    char *end = NULL;
    if (s[0] >= '0' && s[0] <= '9' && strchr(s, '-') == NULL) {
        long long secs = strtoll(s, &end, 10);
        if (*end == '\0' && secs > 0 && secs < INT64_MAX / WG_NS_PER_SEC) {
            *out = (int64_t)secs * WG_NS_PER_SEC;
            return WG_OK;
        }
        return WG_EINVAL;
    }
    return wg_time_parse(s, strlen(s), out);
}

struct wg_config *wg__cmd_load_config(const char *path, int *exit_code)
{
    struct wg_diags d = {0};
    struct wg_config *cfg = NULL;
    enum wg_err rc = wg_config_load(path, &cfg, &d);
    wg_diags_print(&d, stderr);
    if (rc != WG_OK) {
        if (rc != WG_ECONFIG || d.n == 0) {
            fprintf(stderr, "wavegate: %s: %s\n", path, wg_strerror(rc));
        }
        fprintf(stderr, "wavegate: %s: %zu error(s)\n", path, d.nerrors);
        *exit_code = WG_EXIT_CONFIG;
    }
    wg_diags_free(&d);
    return cfg;
}

enum {
    OPT_DEPLOY = 1000,
    OPT_NOW,
    OPT_BASELINE,
    OPT_ID,
    OPT_STATE,
    OPT_WAIT,
    OPT_INTERVAL,
    OPT_COUNT,
    OPT_DURATION,
    OPT_FAILURE_LIMIT,
    OPT_CONSECUTIVE,
    OPT_INCONCLUSIVE_LIMIT,
    OPT_ERROR_LIMIT,
    OPT_TARGET,
    OPT_TIMEOUT
};

struct opts {
    const char *config, *wave, *rule, *format, *state_dir;
    const char **features;
    size_t nfeatures;
    int64_t deploy_ns, now_ns;
    int baseline;
    long id;
    const char *target;
    struct wg_deploy_time *dts; /* --deploy-time TARGET=T, names owned */
    size_t ndts;
    int wait;
    struct wg__cmd_wait w;
};

static int parse_long(const char *opt, const char *v, long min, long *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < min) {
        fprintf(stderr, "wavegate: --%s: not a whole number >= %ld: %s\n", opt, min, v);
        return WG_EXIT_USAGE;
    }
    *out = n;
    return 0;
}

/* Every option of the config-based commands; each command takes the subset it names. */
static const struct option ALL_OPTS[] = {
    {"config", required_argument, NULL, 'c'},
    {"wave", required_argument, NULL, 'w'},
    {"feature", required_argument, NULL, 'f'},
    {"rule", required_argument, NULL, 'r'},
    {"format", required_argument, NULL, 'o'},
    {"deploy-time", required_argument, NULL, OPT_DEPLOY},
    {"now", required_argument, NULL, OPT_NOW},
    {"baseline", no_argument, NULL, OPT_BASELINE},
    {"id", required_argument, NULL, OPT_ID},
    {"state-dir", required_argument, NULL, OPT_STATE},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"count", required_argument, NULL, OPT_COUNT},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"failure-limit", required_argument, NULL, OPT_FAILURE_LIMIT},
    {"consecutive-failures", required_argument, NULL, OPT_CONSECUTIVE},
    {"inconclusive-limit", required_argument, NULL, OPT_INCONCLUSIVE_LIMIT},
    {"error-limit", required_argument, NULL, OPT_ERROR_LIMIT},
    {"target", required_argument, NULL, OPT_TARGET},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
};
#define NALL_OPTS (sizeof(ALL_OPTS) / sizeof(ALL_OPTS[0]))

/* The options one command takes (its own getopt table, built from ALL_OPTS): an option the
 * command does not use is a usage error naming both, never silently ignored
 * (tests/integration/test_cli_options.sh). */
struct cmd_spec {
    const char *name; /* "check", "history list", ... */
    const char *usage;
    const char *const *opts; /* long names, NULL-terminated; "help" is always taken */
};

static const char *const CHECK_OPTS[] = {"config",
                                         "wave",
                                         "feature",
                                         "format",
                                         "deploy-time",
                                         "now",
                                         "state-dir",
                                         "wait",
                                         "interval",
                                         "count",
                                         "duration",
                                         "failure-limit",
                                         "consecutive-failures",
                                         "inconclusive-limit",
                                         "error-limit",
                                         "target",
                                         "timeout",
                                         NULL};
static const char *const VALIDATE_OPTS[] = {"config", NULL};
static const char *const QUERY_OPTS[] = {"config", "wave",     "feature", "rule",   "deploy-time",
                                         "now",    "baseline", "format",  "target", NULL};
static const char *const HISTORY_LIST_OPTS[] = {"config", "feature",   "rule",
                                                "wave",   "state-dir", NULL};
static const char *const HISTORY_INVALIDATE_OPTS[] = {"config", "id",        "feature", "rule",
                                                      "wave",   "state-dir", NULL};

static int takes(const struct cmd_spec *cs, const char *name)
{
    if (strcmp(name, "help") == 0) {
        return 1;
    }
    for (size_t i = 0; cs->opts[i]; i++) {
        if (strcmp(cs->opts[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* "--rule=x" → "--rule"; "-r" stays. */
static void opt_name(const char *arg, char *out, size_t len)
{
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    snprintf(out, len, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
}

static int reject_option(const struct cmd_spec *cs, const char *arg)
{
    char name[64], list[512];
    size_t len = 0;
    opt_name(arg, name, sizeof(name));
    list[0] = '\0';
    for (size_t i = 0; cs->opts[i] && len < sizeof(list); i++) {
        int w = snprintf(list + len, sizeof(list) - len, "%s--%s", i ? ", " : "", cs->opts[i]);
        len += w > 0 ? (size_t)w : 0;
    }
    int known = 0;
    for (size_t i = 0; i < NALL_OPTS; i++) {
        int is_short = name[0] == '-' && name[1] != '-' && name[1] == (char)ALL_OPTS[i].val;
        known |= strncmp(name, "--", 2) == 0 && strcmp(name + 2, ALL_OPTS[i].name) == 0;
        if (is_short) { /* -r: name it as --rule */
            snprintf(name, sizeof(name), "--%s", ALL_OPTS[i].name);
            known = 1;
        }
    }
    fprintf(stderr, "wavegate %s: %s option %s (%s takes: %s)\n", cs->name,
            known ? "does not take the" : "unknown", name, cs->name, list);
    return WG_EXIT_USAGE;
}

/* cs's getopt tables: longs (NALL_OPTS + 1 entries, zero-terminated) and shorts (":" first). */
static void cmd_getopt(const struct cmd_spec *cs, struct option *longs, char *shorts,
                       size_t shorts_len)
{
    size_t n = 0, ns = 1;
    shorts[0] = ':';
    for (size_t i = 0; i < NALL_OPTS; i++) {
        if (!takes(cs, ALL_OPTS[i].name)) {
            continue;
        }
        longs[n++] = ALL_OPTS[i];
        int v = ALL_OPTS[i].val;
        if (v < 128 && ns + 3 < shorts_len) {
            shorts[ns++] = (char)v;
            if (ALL_OPTS[i].has_arg == required_argument) {
                shorts[ns++] = ':';
            }
        }
    }
    memset(&longs[n], 0, sizeof(longs[n]));
    shorts[ns] = '\0';
}

/* --deploy-time TARGET=T: one fleet target's own deploy time, added to o->dts; 0 or an exit
 * code. */
static int add_target_deploy(struct opts *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    struct wg_deploy_time *nd = realloc(o->dts, (o->ndts + 1) * sizeof(*nd));
    if (!nd) {
        return WG_EXIT_ERROR;
    }
    o->dts = nd;
    nd[o->ndts].target = NULL;
    if (eq == arg || wg__cmd_parse_time(eq + 1, &nd[o->ndts].ns) != WG_OK) {
        fprintf(stderr, "wavegate: --deploy-time: want RFC3339 or TARGET=RFC3339: %s\n", arg);
        return WG_EXIT_USAGE;
    }
    if (!(nd[o->ndts].target = wg_strndup(arg, (size_t)(eq - arg)))) {
        return WG_EXIT_ERROR;
    }
    o->ndts++;
    return 0;
}

/* The --wait options (--interval, --duration, --count and the limits) into o->w; 0 or the
 * usage exit code. */
static int wait_opt_set(struct opts *o, int c, const char *arg)
{
    if (c == OPT_INTERVAL || c == OPT_DURATION) {
        int64_t *dst = c == OPT_INTERVAL ? &o->w.interval_ns : &o->w.duration_ns;
        if (wg_duration_parse(arg, dst) != WG_OK || *dst <= 0 || *dst > WG_DURATION_MAX_NS) {
            fprintf(stderr, "wavegate: --%s: not a positive duration up to 366d (like 30s): %s\n",
                    c == OPT_INTERVAL ? "interval" : "duration", arg);
            return WG_EXIT_USAGE;
        }
        return 0;
    }
    if (c == OPT_COUNT) {
        return parse_long("count", arg, 1, &o->w.count) ? WG_EXIT_USAGE : 0;
    }
    static const char *const names[] = {"failure-limit", "consecutive-failures",
                                        "inconclusive-limit", "error-limit"};
    int k = c - OPT_FAILURE_LIMIT;
    long v;
    if (parse_long(names[k], arg, -1, &v)) {
        return WG_EXIT_USAGE;
    }
    int *dst[] = {&o->w.limits.failure_limit, &o->w.limits.consecutive_failures,
                  &o->w.limits.inconclusive_limit, &o->w.limits.error_limit};
    *dst[k] = (int)v;
    o->w.limits_set[k] = 1;
    return 0;
}

/* What can be checked only once every option is read: --wait's companions without it,
 * --count with --duration, stray arguments, the times' ranges, --config; 0 or an exit code. */
static int opts_check(const struct cmd_spec *cs, const struct opts *o, int wait_opt, int given_now,
                      int given_deploy, int argc, char **argv)
{
    if (wait_opt && !o->wait) {
        const char *name = "";
        for (size_t i = 0; i < NALL_OPTS; i++) {
            name = ALL_OPTS[i].val == wait_opt ? ALL_OPTS[i].name : name;
        }
        fprintf(stderr, "wavegate %s: --%s only applies with --wait\n", cs->name, name);
        return WG_EXIT_USAGE;
    }
    if (o->w.count && o->w.duration_ns) {
        fprintf(stderr, "wavegate %s: --count and --duration: give one of them\n", cs->name);
        return WG_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "wavegate %s: unexpected argument %s\n%s", cs->name, argv[optind],
                cs->usage);
        return WG_EXIT_USAGE;
    }
    /* Range checks once both are known (--now may follow --deploy-time): 1970 < t < 2200,
     * a deploy at most 24h after now (common.h says why). */
    char terr[256];
    int64_t now = given_now ? o->now_ns : wg_now_ns();
    if (given_now && wg_time_check_deploy(o->now_ns, o->now_ns, terr, sizeof(terr)) != WG_OK) {
        fprintf(stderr, "wavegate: --now: %s\n", terr);
        return WG_EXIT_USAGE;
    }
    if (given_deploy && wg_time_check_deploy(o->deploy_ns, now, terr, sizeof(terr)) != WG_OK) {
        fprintf(stderr, "wavegate: --deploy-time: %s\n", terr);
        return WG_EXIT_USAGE;
    }
    for (size_t i = 0; i < o->ndts; i++) {
        if (wg_time_check_deploy(o->dts[i].ns, now, terr, sizeof(terr)) != WG_OK) {
            fprintf(stderr, "wavegate: --deploy-time %s=: %s\n", o->dts[i].target, terr);
            return WG_EXIT_USAGE;
        }
    }
    if (!o->config) {
        fprintf(stderr, "wavegate %s: --config is required\n%s", cs->name, cs->usage);
        return WG_EXIT_USAGE;
    }
    return 0;
}

/* Option parsing for the config-based commands, with cs's own options; returns 0, -1 after
 * --help, or an exit code. Either way opts_clear(o) frees what it took. */
static int parse_opts(int argc, char **argv, const struct cmd_spec *cs, struct opts *o)
{
    struct option longs[NALL_OPTS + 1];
    char shorts[32];
    const char *usage = cs->usage;
    cmd_getopt(cs, longs, shorts, sizeof(shorts));
    int wait_opt = 0; /* first --interval/--count/... seen, to reject without --wait */
    int c, code, given_deploy = 0, given_now = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'w':
            o->wave = optarg;
            break;
        case 'f': {
            const char **nv = realloc(o->features, (o->nfeatures + 1) * sizeof(*nv));
            if (!nv) {
                return WG_EXIT_ERROR;
            }
            o->features = nv;
            o->features[o->nfeatures++] = optarg;
            break;
        }
        case 'r':
            o->rule = optarg;
            break;
        case 'o':
            o->format = optarg;
            break;
        case OPT_TARGET:
            o->target = optarg;
            break;
        case OPT_TIMEOUT:
            /* as /v1/gate's timeout: above 0, at most 5 min */
            if (wg_duration_parse(optarg, &o->w.timeout_ns) != WG_OK || o->w.timeout_ns <= 0 ||
                o->w.timeout_ns > 300 * WG_NS_PER_SEC) {
                fprintf(stderr,
                        "wavegate: --timeout: not a duration above 0 up to 5m (like 8s): %s\n",
                        optarg);
                return WG_EXIT_USAGE;
            }
            break;
        case OPT_DEPLOY:
            if (strchr(optarg, '=')) { /* TARGET=T */
                if ((code = add_target_deploy(o, optarg)) != 0) {
                    return code;
                }
                break;
            }
            /* fall through */
        case OPT_NOW:
            if (wg__cmd_parse_time(optarg, c == OPT_DEPLOY ? &o->deploy_ns : &o->now_ns) != WG_OK) {
                fprintf(stderr, "wavegate: --%s: not an RFC3339 time: %s\n",
                        c == OPT_DEPLOY ? "deploy-time" : "now", optarg);
                return WG_EXIT_USAGE;
            }
            given_deploy |= c == OPT_DEPLOY;
            given_now |= c == OPT_NOW;
            break;
        case OPT_BASELINE:
            o->baseline = 1;
            break;
        case OPT_ID: {
            char *end;
            o->id = strtol(optarg, &end, 10);
            if (*end || o->id <= 0) {
                fprintf(stderr, "wavegate: --id: not a positive number: %s\n", optarg);
                return WG_EXIT_USAGE;
            }
            break;
        }
        case OPT_STATE:
            o->state_dir = optarg;
            break;
        case OPT_WAIT:
            o->wait = 1;
            break;
        case OPT_INTERVAL:
        case OPT_DURATION:
        case OPT_COUNT:
        case OPT_FAILURE_LIMIT:
        case OPT_CONSECUTIVE:
        case OPT_INCONCLUSIVE_LIMIT:
        case OPT_ERROR_LIMIT:
            wait_opt = wait_opt ? wait_opt : c;
            if ((code = wait_opt_set(o, c, optarg)) != 0) {
                return code;
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        case ':':
            fprintf(stderr, "wavegate %s: option %s needs a value\n%s", cs->name, argv[optind - 1],
                    usage);
            return WG_EXIT_USAGE;
        default:
            return reject_option(cs, argv[optind - 1]);
        }
    }
    return opts_check(cs, o, wait_opt, given_now, given_deploy, argc, argv);
}

/* Frees what parse_opts took into o (the --feature list, the TARGET= deploy times). */
static void opts_clear(struct opts *o)
{
    free(o->features);
    for (size_t i = 0; i < o->ndts; i++) {
        free((char *)o->dts[i].target);
    }
    free(o->dts);
}

/* --format: one of two names, the first the default; 0 or the usage exit code. */
static int pick_format(const char *given, const char *dflt, const char *other, const char **out)
{
    *out = given ? given : dflt;
    if (strcmp(*out, dflt) != 0 && strcmp(*out, other) != 0) {
        fprintf(stderr, "wavegate: --format must be %s or %s, not %s\n", dflt, other, *out);
        return WG_EXIT_USAGE;
    }
    return 0;
}

static int cmd_check(int argc, char **argv)
{
    struct opts o = {0};
    static const struct cmd_spec cs = {"check", CHECK_USAGE, CHECK_OPTS};
    int code = parse_opts(argc, argv, &cs, &o);
    struct wg_config *cfg = NULL;
    struct wg_check_report *rep = NULL;
    if (code) {
        code = code < 0 ? 0 : code;
        goto out;
    }
    if (!o.wave) {
        fprintf(stderr, "wavegate: --wave is required\n%s", CHECK_USAGE);
        code = WG_EXIT_USAGE;
        goto out;
    }
    const char *fmt;
    int junit = o.format && !strcmp(o.format, "junit"); /* one testcase per rule, for CI */
    int html = o.format && !strcmp(o.format, "html");   /* the evidence page as one file */
    if (!junit && !html && (code = pick_format(o.format, "text", "json", &fmt)) != 0) {
        goto out;
    }
    fmt = junit ? "junit" : html ? "html" : fmt;
    if ((junit || html) && o.wait) {
        fprintf(stderr, "wavegate: --format %s does not go with --wait (yet)\n", fmt);
        code = WG_EXIT_USAGE;
        goto out;
    }
    cfg = wg__cmd_load_config(o.config, &code);
    if (!cfg) {
        goto out;
    }
    struct wg_check_req req = {
        .wave = o.wave,
        .features = o.features,
        .nfeatures = o.nfeatures,
        .deploy_ns = o.deploy_ns,
        .now_ns = o.now_ns,
        .state_dir = o.state_dir,
        /* a deploy's answer is history for baseline: previous; --wait records its decision */
        .record_history = o.deploy_ns != 0 || o.ndts != 0,
        .target = o.target,
        .deploy_times = o.dts,
        .ndeploy_times = o.ndts,
        .keep_series = strcmp(fmt, "html") == 0,
        /* --timeout: queries still out then are cut, their rules "could not evaluate" */
        .deadline_mono_ns = o.w.timeout_ns > 0 && !o.wait ? wg_mono_ns() + o.w.timeout_ns : 0,
    };
    if (o.wait) {
        code = wg__cmd_check_wait(cfg, &req, &o.w, strcmp(fmt, "json") == 0);
        goto out;
    }
    char err[1024];
    enum wg_err rc = wg_gate_check(cfg, &req, &rep, err, sizeof(err));
    if (rc == WG_ENOTFOUND) {
        fprintf(stderr, "wavegate: %s\n", err);
        code = WG_EXIT_USAGE;
        goto out;
    }
    if (rc != WG_OK) {
        fprintf(stderr, "wavegate: check failed: %s\n", err);
        code = WG_EXIT_ERROR;
        goto out;
    }
    if (strcmp(fmt, "json") == 0) {
        char *js = wg_gate_report_json(rep);
        if (!js) {
            code = WG_EXIT_ERROR;
            goto out;
        }
        printf("%s\n", js);
        free(js);
    } else if (junit) {
        wg_gate_report_junit(rep, stdout);
    } else if (html) {
        char *page = wg_gate_report_html(rep);
        if (!page) {
            code = WG_EXIT_ERROR;
            goto out;
        }
        fputs(page, stdout);
        free(page);
    } else {
        wg_gate_report_text(rep, stdout);
    }
    code = wg_gate_exit_code(rep->verdict);
out:
    wg_check_report_free(rep);
    wg_config_free(cfg);
    opts_clear(&o);
    return code;
}

static int cmd_validate(int argc, char **argv)
{
    struct opts o = {0};
    static const struct cmd_spec cs = {"validate", VALIDATE_USAGE, VALIDATE_OPTS};
    int code = parse_opts(argc, argv, &cs, &o);
    if (code) {
        opts_clear(&o);
        return code < 0 ? 0 : code;
    }
    struct wg_config *cfg = wg__cmd_load_config(o.config, &code);
    if (cfg) {
        size_t nrules = 0;
        for (size_t i = 0; i < cfg->nfeatures; i++) {
            nrules += cfg->features[i].nrules;
        }
        printf("%s: ok (%zu sources, %zu waves, %zu features, %zu rules)\n", o.config,
               cfg->nsources, cfg->nwaves, cfg->nfeatures, nrules);
        code = 0;
    }
    wg_config_free(cfg);
    opts_clear(&o);
    return code;
}

static int cmd_query(int argc, char **argv)
{
    struct opts o = {0};
    static const struct cmd_spec cs = {"query", QUERY_USAGE, QUERY_OPTS};
    int code = parse_opts(argc, argv, &cs, &o);
    struct wg_config *cfg = NULL;
    if (code) {
        code = code < 0 ? 0 : code;
        goto out;
    }
    if (!o.wave || o.nfeatures != 1 || !o.rule) {
        fprintf(stderr, "wavegate: query needs --wave, one --feature and --rule\n%s", QUERY_USAGE);
        code = WG_EXIT_USAGE;
        goto out;
    }
    const char *fmt;
    if ((code = pick_format(o.format, "json", "table", &fmt)) != 0) {
        goto out;
    }
    cfg = wg__cmd_load_config(o.config, &code);
    if (!cfg) {
        goto out;
    }
    struct wg__cmd_query qa = {
        .wave = o.wave,
        .feature = o.features[0],
        .rule = o.rule,
        .target = o.target,
        .deploy_ns = o.deploy_ns,
        .now_ns = o.now_ns,
        .deploy_times = o.dts,
        .ndeploy_times = o.ndts,
        .baseline = o.baseline,
        .json = strcmp(fmt, "json") == 0,
    };
    code = wg__cmd_query_run(cfg, &qa);
out:
    wg_config_free(cfg);
    opts_clear(&o);
    return code;
}

static int cmd_history(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        return wg__cmd_usage(HISTORY_USAGE, argc < 2 ? WG_EXIT_USAGE : 0);
    }
    const char *sub = argv[1];
    if (strcmp(sub, "list") != 0 && strcmp(sub, "invalidate") != 0) {
        fprintf(stderr, "wavegate: history: unknown subcommand %s\n", sub);
        return wg__cmd_usage(HISTORY_USAGE, WG_EXIT_USAGE);
    }
    struct opts o = {0};
    static const struct cmd_spec list = {"history list", HISTORY_USAGE, HISTORY_LIST_OPTS};
    static const struct cmd_spec inval = {"history invalidate", HISTORY_USAGE,
                                          HISTORY_INVALIDATE_OPTS};
    int code = parse_opts(argc - 1, argv + 1, strcmp(sub, "list") == 0 ? &list : &inval, &o);
    struct wg_config *cfg = NULL;
    if (code) {
        code = code < 0 ? 0 : code;
        goto out;
    }
    cfg = wg__cmd_load_config(o.config, &code);
    if (!cfg) {
        goto out;
    }
    const char *dir = o.state_dir ? o.state_dir : cfg->state_dir;
    const char *feat = o.nfeatures ? o.features[0] : NULL;
    if (strcmp(sub, "list") == 0) {
        enum wg_err rc = wg_gate_history_list(dir, feat, o.rule, o.wave, stdout);
        code = rc == WG_OK || rc == WG_ENOTFOUND ? 0 : WG_EXIT_ERROR; /* none yet: said so */
        goto out;
    }
    if (!o.id && !feat) {
        fprintf(stderr, "wavegate: history invalidate needs --id or --feature\n");
        code = WG_EXIT_USAGE;
        goto out;
    }
    long changed = 0;
    enum wg_err rc = wg_gate_history_invalidate(dir, o.id, feat, o.rule, o.wave, &changed);
    if (rc != WG_OK && rc != WG_ENOTFOUND) { /* no store yet: nothing to invalidate */
        code = WG_EXIT_ERROR;
        goto out;
    }
    printf("invalidated %ld evaluation(s)\n", changed);
    code = 0;
out:
    wg_config_free(cfg);
    opts_clear(&o);
    return code;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        return wg__cmd_usage(USAGE, WG_EXIT_USAGE);
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        return wg__cmd_usage(USAGE, 0);
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("wavegate %s\n", WG_VERSION);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"check", cmd_check},     {"validate", cmd_validate}, {"query", cmd_query},
                {"history", cmd_history}, {"event", wg_cmd_event},    WG_CMD_EXTRA};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(cmd, cmds[i].name) == 0) {
            return cmds[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "wavegate: unknown command %s\n", cmd);
    return wg__cmd_usage(USAGE, WG_EXIT_USAGE);
}
