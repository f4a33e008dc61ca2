/* bench_tool.h — the two helpers the stand-alone bench programs (fleet_standin.c,
 * fleet_floor.c) share: fail with errno's message, and a monotonic clock in nanoseconds. */
#ifndef WAVEGATE_BENCH_TOOL_H
#define WAVEGATE_BENCH_TOOL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
