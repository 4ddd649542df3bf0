/* Monotonic time in nanoseconds and the deadlines every blocking call is bounded by. */
#ifndef SMIPC_CLOCK_H
#define SMIPC_CLOCK_H

#include <stdint.h>
#include <time.h>

#define SMIPC_FOREVER INT64_MAX

static inline int64_t smipc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The same clock to within a tick (a few ms), a quarter of the cost to read: for timing
 * on the order of seconds on paths every send takes. */
static inline int64_t smipc_coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* timeout_ms < 0: for ever; 0: now (never block); > 0: that long from now. */
static inline int64_t smipc_deadline(int timeout_ms)
{
    if (timeout_ms < 0)
        return SMIPC_FOREVER;
    return smipc_now_ns() + (int64_t)timeout_ms * 1000000;
}

/* Milliseconds left for poll(), rounded up so a wait never ends early; -1 for ever. */
static inline int smipc_poll_ms(int64_t deadline)
{
    if (deadline == SMIPC_FOREVER)
        return -1;
    int64_t left = deadline - smipc_now_ns();
    if (left <= 0)
        return 0;
    int64_t ms = (left + 999999) / 1000000;
    return ms > 1000000000 ? 1000000000 : (int)ms;
}

/* A deadline read off the clock only when a call is about to wait: the fast paths, which
 * never wait, never read the clock. */
struct smipc_lazy_deadline {
    int timeout_ms;
    int64_t at; /* 0: not yet */
};

static inline int64_t smipc_deadline_now(struct smipc_lazy_deadline *d)
{
    if (!d->at)
        d->at = smipc_deadline(d->timeout_ms);
    return d->at;
}

static inline struct timespec smipc_ns_to_ts(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return ts;
}

#endif
