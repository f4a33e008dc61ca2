/* cmd_event.c — `wavegate event deploy|flag|list`: tell wavegate of a deploy or a flag flip
 * from a pipeline step or a shell. With --url the event is POSTed to a running `serve`
 * (/v1/events, token from $WAVEGATE_TOKEN); without, it is recorded in the state store of
 * --config directly. Both go through the one parser (wg_event_from_json).
 */
#include "cmd/cmd_int.h"
#include "common/http.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char EVENT_USAGE[] =
    "usage: wavegate event deploy --wave W [--env E] [--version V] [--target T] [options]\n"
    "       wavegate event flag (--feature F | --flag KEY) --state on|off [--env E] [options]\n"
    "       wavegate event list --config FILE\n"
    "Record a deploy or a flag flip. Options: --time T (RFC3339, unix seconds or now; default\n"
    "now), --source S, and either --config FILE (record in its state_dir) or --url URL (POST\n"
    "to a running `wavegate serve`, bearer token from $WAVEGATE_TOKEN). Prints the event id.\n"
    "--target T: one target of a fleet wave was deployed (at --time).\n"
    "Exit 0 when recorded, 64 on a usage error, 3 when it could not be recorded.\n";

static int post(const char *url, const char *json)
{
    char *u = wg_asprintf("%s/v1/events", url);
    const char *tok = getenv("WAVEGATE_TOKEN");
    char *auth = tok && *tok ? wg_asprintf("Authorization: Bearer %s", tok) : NULL;
    const char *hdrs[2] = {"Content-Type: application/json", auth};
    struct wg_http *h = wg_http_new();
    struct wg_http_job j;
    memset(&j, 0, sizeof(j));
    int code = WG_EXIT_ERROR;
    if (!u || !h || (tok && *tok && !auth)) {
        fprintf(stderr, "wavegate: out of memory\n");
        goto out;
    }
    if (auth) {
        wg_log_add_secret(tok);
    }
    j.method = "POST";
    j.url = u;
    j.headers = hdrs;
    j.nheaders = auth ? 2 : 1;
    j.body = json;
    j.body_len = strlen(json);
    j.max_bytes = 64 * 1024;
    j.retries = 2;
    if (wg_http_run(h, &j, 1, NULL) != WG_OK || j.err != WG_OK) {
        fprintf(stderr, "wavegate: %s: %s %.*s\n", u, j.errmsg[0] ? j.errmsg : wg_strerror(j.err),
                (int)j.errbody.len, j.errbody.p ? j.errbody.p : "");
        code = j.status >= 400 && j.status < 500 ? WG_EXIT_USAGE : WG_EXIT_ERROR;
        goto out;
    }
    cJSON *o = cJSON_ParseWithLength(j.errbody.p ? j.errbody.p : "", j.errbody.len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (cJSON_IsString(id)) {
        printf("%s\n", id->valuestring);
        code = 0;
    } else {
        fprintf(stderr, "wavegate: %s: answer without an id\n", u);
    }
    cJSON_Delete(o);
out:
    wg_http_job_clear(&j);
    wg_http_free(h);
    free(auth);
    free(u);
    return code;
}

static int record(const char *config, const char *json)
{
    int code = WG_EXIT_ERROR;
    struct wg_config *cfg = wg__cmd_load_config(config, &code);
    struct wg_events *e = NULL;
    struct wg_event ev;
    char err[512] = "", id[48];
    memset(&ev, 0, sizeof(ev));
    if (!cfg) {
        return code;
    }
    code = WG_EXIT_USAGE;
    if (wg_event_from_json(json, strlen(json), &ev, err, sizeof(err)) != WG_OK) {
        fprintf(stderr, "wavegate: event: %s\n", err);
        goto out;
    }
    code = WG_EXIT_ERROR;
    wg_event_resolve(cfg, &ev);
    if (wg_events_open(cfg->state_dir, &e, err, sizeof(err)) != WG_OK ||
        wg_events_record(e, &ev, wg_now_ns(), id, err, sizeof(err)) != WG_OK) {
        fprintf(stderr, "wavegate: event not recorded: %s\n", err);
        goto out;
    }
    printf("%s\n", id);
    code = 0;
out:
    wg_event_clear(&ev);
    wg_events_close(e);
    wg_config_free(cfg);
    return code;
}

static int list(const char *config)
{
    int code = WG_EXIT_ERROR;
    struct wg_config *cfg = wg__cmd_load_config(config, &code);
    struct wg_events *e = NULL;
    char err[512] = "", *json = NULL;
    if (!cfg) {
        return code;
    }
    if (wg_events_open(cfg->state_dir, &e, err, sizeof(err)) != WG_OK ||
        wg_events_list_json(e, 1000, &json, err, sizeof(err)) != WG_OK) {
        fprintf(stderr, "wavegate: events: %s\n", err);
    } else {
        printf("%s\n", json);
        code = 0;
    }
    free(json);
    wg_events_close(e);
    wg_config_free(cfg);
    return code;
}

int wg_cmd_event(int argc, char **argv)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"url", required_argument, NULL, 'u'},
        {"wave", required_argument, NULL, 'w'},
        {"env", required_argument, NULL, 'e'},
        {"feature", required_argument, NULL, 'f'},
        {"flag", required_argument, NULL, 'k'},
        {"state", required_argument, NULL, 's'},
        {"version", required_argument, NULL, 'v'},
        {"time", required_argument, NULL, 't'},
        {"source", required_argument, NULL, 'S'},
        {"target", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        return wg__cmd_usage(EVENT_USAGE, argc < 2 ? WG_EXIT_USAGE : 0);
    }
    const char *kind = argv[1];
    int is_list = !strcmp(kind, "list");
    if (!is_list && strcmp(kind, "deploy") && strcmp(kind, "flag")) {
        fprintf(stderr, "wavegate: event: %s: want deploy, flag or list\n", kind);
        return wg__cmd_usage(EVENT_USAGE, WG_EXIT_USAGE);
    }
    const char *config = NULL, *url = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "type", kind)) {
        cJSON_Delete(o);
        return WG_EXIT_ERROR;
    }
    int c, code = WG_EXIT_USAGE;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - 1, argv + 1, ":c:u:w:e:f:k:s:v:t:S:T:h", longs, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case 'c':
            config = optarg;
            continue;
        case 'u':
            url = optarg;
            continue;
        case 'h':
            cJSON_Delete(o);
            return wg__cmd_usage(EVENT_USAGE, 0);
        case 't': {
            int64_t t = 0;
            if (wg__cmd_parse_time(optarg, &t) != 0) {
                fprintf(stderr, "wavegate: --time: want RFC3339, unix seconds or now\n");
                goto out;
            }
            cJSON_AddNumberToObject(o, "time", (double)(t / 1000) / 1e6);
            continue;
        }
        default: /* every other option sets the event's JSON field of its long name */
            for (size_t i = 0; longs[i].name && !key; i++) {
                key = longs[i].val == c ? longs[i].name : NULL;
            }
            if (!key) {
                fprintf(stderr, "wavegate: event: bad option %s\n", argv[optind]);
                goto out;
            }
        }
        cJSON_DeleteItemFromObjectCaseSensitive(o, key);
        cJSON_AddStringToObject(o, key, optarg);
    }
    if (!!config == !!url || (is_list && !config)) {
        fprintf(stderr, "wavegate: event: give --config FILE or --url URL (list: --config)\n");
        goto out;
    }
    if (is_list) {
        code = list(config);
        goto out;
    }
    if (!cJSON_GetObjectItemCaseSensitive(o, "source")) {
        cJSON_AddStringToObject(o, "source", "cli");
    }
    char *json = cJSON_PrintUnformatted(o);
    code = !json ? WG_EXIT_ERROR : url ? post(url, json) : record(config, json);
    free(json);
out:
    cJSON_Delete(o);
    return code;
}
