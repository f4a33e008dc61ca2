/* common_log.c — leveled logging to stderr with secret redaction: every registered secret
 * (tokens, passwords) is replaced by "***" in every line before it is written.
 */
#include "common/common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SECRETS 64

static enum wg_log_level g_level = WG_LOG_INFO;
static char *g_secrets[MAX_SECRETS];
static size_t g_nsecrets;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void wg_log_set_level(enum wg_log_level lvl)
{
    g_level = lvl;
}

void wg_log_add_secret(const char *secret)
{
    /* Very short secrets would redact ordinary words; they are too weak to matter anyway. */
    if (!secret || strlen(secret) < 4) {
        return;
    }
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_nsecrets; i++) {
        if (strcmp(g_secrets[i], secret) == 0) {
            pthread_mutex_unlock(&g_lock);
            return;
        }
    }
    if (g_nsecrets < MAX_SECRETS) {
        g_secrets[g_nsecrets] = strdup(secret);
        if (g_secrets[g_nsecrets]) {
            g_nsecrets++;
        }
    }
    pthread_mutex_unlock(&g_lock);
}

void wg_redact(char *s)
{
    if (!s) {
        return;
    }
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_nsecrets; i++) {
        size_t sl = strlen(g_secrets[i]);
        char *hit;
        while ((hit = strstr(s, g_secrets[i])) != NULL) {
            memcpy(hit, "***", 3);
            memmove(hit + 3, hit + sl, strlen(hit + sl) + 1);
        }
    }
    pthread_mutex_unlock(&g_lock);
}

void wg_log(enum wg_log_level lvl, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (lvl < g_level) {
        return;
    }
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    wg_redact(line);
    char ts[40];
    wg_time_format(wg_now_ns() / 1000000 * 1000000, ts, sizeof(ts));
    fprintf(stderr, "%s wavegate %s: %s\n", ts, names[lvl], line);
}
