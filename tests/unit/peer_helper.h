/* peer_helper.h — start tests/peers/influx_peer.py from a C test: write the scenario, spawn the
 * peer (stdin and stdout piped), read its port against a deadline, read back the requests it
 * logged (a cJSON array), stop it. Header-only (static) so any unit test can include it.
 */
#ifndef WG_TEST_PEER_HELPER_H
#define WG_TEST_PEER_HELPER_H

#include <cjson/cJSON.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tmp_helper.h"

struct peer {
    pid_t pid;
    int in_fd;
    int port;
    char dir[64];
    char scen[128];
    char log[128];
    char url[64];
};

/* 0 on success. The scenario is the JSON text of influx_peer.py's format. */
static int peer_start(struct peer *p, const char *scenario)
{
    memset(p, 0, sizeof(*p));
    p->pid = -1;
    p->in_fd = -1;
    if (!wg_tmp_dir(p->dir, sizeof(p->dir), "wg-peer")) {
        return -1;
    }
    snprintf(p->scen, sizeof(p->scen), "%s/scenario.json", p->dir);
    snprintf(p->log, sizeof(p->log), "%s/requests.jsonl", p->dir);
    FILE *f = fopen(p->scen, "w");
    if (!f) {
        return -1;
    }
    fputs(scenario, f);
    fclose(f);
    const char *peers = getenv("WG_PEERS");
    char script[512];
    snprintf(script, sizeof(script), "%s/influx_peer.py", peers ? peers : "tests/peers");
    int in[2], out[2];
    if (pipe(in) || pipe(out)) {
        return -1;
    }
    p->pid = fork();
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execlp("python3", "python3", script, p->scen, p->log, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->in_fd = in[1];
    /* The port line, within 10 s. */
    char buf[32];
    size_t got = 0;
    struct pollfd pf = {.fd = out[0], .events = POLLIN};
    while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
        if (poll(&pf, 1, 10000) <= 0) {
            break;
        }
        ssize_t r = read(out[0], buf + got, sizeof(buf) - 1 - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    close(out[0]);
    buf[got] = '\0';
    p->port = (int)strtol(buf, NULL, 10);
    snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d", p->port);
    return p->port > 0 ? 0 : -1;
}

static void peer_stop(struct peer *p)
{
    if (p->in_fd >= 0) {
        close(p->in_fd); /* the peer exits on stdin EOF */
        p->in_fd = -1;
    }
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        waitpid(p->pid, NULL, 0);
        p->pid = -1;
    }
    unlink(p->scen);
    unlink(p->log);
    rmdir(p->dir);
}

/* Every request the peer logged so far, as a cJSON array (caller deletes). */
static cJSON *peer_requests(const struct peer *p)
{
    cJSON *arr = cJSON_CreateArray();
    FILE *f = fopen(p->log, "r");
    if (!f) {
        return arr;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *o = cJSON_Parse(line);
        if (o) {
            cJSON_AddItemToArray(arr, o);
        }
    }
    free(line);
    fclose(f);
    return arr;
}

/* The string at req[key] (or req[key][sub], taking element 0 of arrays), or "". */
static const char *peer_field(const cJSON *req, const char *key, const char *sub)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
    if (sub) {
        v = cJSON_GetObjectItemCaseSensitive(v, sub);
    }
    if (cJSON_IsArray(v)) {
        v = cJSON_GetArrayItem(v, 0);
    }
    return cJSON_IsString(v) ? v->valuestring : "";
}

#endif
