/* The price of a process switch on this machine, without smipc: N processes share one
 * CPU (affinity) and each calls sched_yield in a loop, so every call hands the CPU to the
 * next process. With many clients on few CPUs every round trip needs at least one such
 * switch (each client must run once per round trip), which caps what any fair transport
 * can reach there; docs/BENCHMARKS.md compares smipc's many-to-one figures with it.
 *
 *   switch_cost [PROCESSES ...]     (default: 2 17)
 *
 * Each count runs 5 times for 0.3 s, alternating; the median is printed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPEATS   5
#define MAX_PROCS 64

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Switches per second of n processes yielding on one CPU, or -1. */
static double run(int n, double seconds)
{
    volatile long *counts = mmap(NULL, MAX_PROCS * sizeof *counts, PROT_READ | PROT_WRITE,
                                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counts == MAP_FAILED)
        return -1;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() > 0 ? sched_getcpu() : 0, &one);
    pid_t pids[MAX_PROCS];
    int started = 0;
    for (; started < n; started++) {
        if ((pids[started] = fork()) == 0) {
            if (sched_setaffinity(0, sizeof one, &one))
                _exit(1);
            for (long k = 1;; k++) {
                sched_yield();
                counts[started] = k;
            }
        }
        if (pids[started] < 0)
            break;
    }
    /* counted over a window that starts once every one of them has run */
    for (int i = 0; i < started; i++)
        while (!counts[i])
            usleep(1000);
    long before = 0, after = 0;
    for (int i = 0; i < started; i++)
        before += counts[i];
    double t0 = now();
    usleep((useconds_t)(seconds * 1e6));
    for (int i = 0; i < started; i++)
        after += counts[i];
    double t = now() - t0;
    for (int i = 0; i < started; i++) {
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
    }
    munmap((void *)counts, MAX_PROCS * sizeof *counts);
    return started == n ? (double)(after - before) / t : -1;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int counts[16] = {2, 17}, n = argc > 1 ? argc - 1 : 2;
    double rate[16][REPEATS];
    if (n > 16) {
        fprintf(stderr, "switch_cost: at most 16 counts\n");
        return 2;
    }
    for (int g = 0; g < n && argc > 1; g++) {
        char *end;
        long v = strtol(argv[g + 1], &end, 10);
        if (*end || v < 2 || v > MAX_PROCS) {
            fprintf(stderr, "usage: switch_cost [PROCESSES ...] (2..%d)\n", MAX_PROCS);
            return 2;
        }
        counts[g] = (int)v;
    }
    printf("process switches: N processes on one CPU, each calling sched_yield; median of %d\n",
           REPEATS);
    for (int r = 0; r < REPEATS; r++)
        for (int g = 0; g < n; g++) {
            fprintf(stderr, "\r[%d/%d]", r * n + g + 1, REPEATS * n);
            rate[g][r] = run(counts[g], 0.3);
        }
    fprintf(stderr, "\n");
    printf("%10s %14s %14s\n", "processes", "switches/s", "us/switch");
    for (int g = 0; g < n; g++) {
        qsort(rate[g], REPEATS, sizeof rate[g][0], cmp);
        double m = rate[g][REPEATS / 2];
        if (m <= 0)
            printf("%10d %14s %14s\n", counts[g], "failed", "-");
        else
            printf("%10d %14.0f %14.2f\n", counts[g], m, 1e6 / m);
    }
    return 0;
}
