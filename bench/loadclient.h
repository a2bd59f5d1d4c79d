/*
 * What the closed-loop load clients, bench/loadgen.c and bench/multiload.c, share:
 * the clock they time requests with, the percentile of sorted samples, and the check
 * that an endpoint is one they may load.
 */
#ifndef FILER_BENCH_LOADCLIENT_H
#define FILER_BENCH_LOADCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Where the p-th quantile (0 to 1) of n > 0 sorted samples is: the nearest rank. */
static inline size_t quantile_index(size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return i < n ? i : n - 1;
}

/* Whether `endpoint` starts with one of the `count` prefixes in `allowed`. */
static inline int endpoint_allowed(const char *endpoint, const char *const *allowed, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strncmp(endpoint, allowed[i], strlen(allowed[i])) == 0) return 1;
    return 0;
}

#endif
