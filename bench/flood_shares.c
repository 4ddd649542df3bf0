/* Flooding clients: how evenly one server shares itself among clients that all send as
 * fast as they can, when the server has real work per message and the processes
 * outnumber the CPUs. Round-robin gives each an equal share only while no client's ring
 * runs dry, so this measures how well waiting producers are woken in time.
 *
 *   flood_shares [CLIENTS [WORK_US [SECONDS [RUNS]]]]   (default: 4 2 1.5 5)
 *
 * Each run: CLIENTS processes send 512-byte messages with no timeout; the server receives
 * and spends WORK_US microseconds on each, for SECONDS. Prints each run's messages/s and
 * min/max share, then the medians. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <smipc.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CLIENTS = 64 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void flood(const char *name)
{
    smipc_client *cli;
    if (smipc_client_connect_wait(&cli, name, 10000))
        _exit(1);
    char msg[512] = {0};
    while (smipc_client_send(cli, msg, sizeof msg, -1) == SMIPC_OK)
        ;
    _exit(0);
}

/* One run: messages per second and the min/max share, or -1 on failure. */
static int run_once(int clients, double work_us, double seconds, double *rate, double *share)
{
    char name[64];
    snprintf(name, sizeof name, "flood-shares-%d", (int)getpid());
    smipc_server *srv;
    if (smipc_server_open(&srv, name, NULL))
        return -1;
    pid_t kids[MAX_CLIENTS];
    for (int i = 0; i < clients; i++)
        if ((kids[i] = fork()) == 0)
            flood(name);
    smipc_client_id ids[MAX_CLIENTS];
    size_t n = 0;
    for (double give_up = now() + 10; n < (size_t)clients && now() < give_up;) {
        /* they connect on their own: wait for the count, with a limit */
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        smipc_server_clients(srv, ids, MAX_CLIENTS, &n);
    }
    unsigned long got[MAX_CLIENTS] = {0}, total = 0;
    char buf[1024];
    for (double end = now() + seconds; now() < end;) {
        size_t len = sizeof buf;
        smipc_client_id from;
        if (smipc_server_recv(srv, &from, buf, &len, 100) != SMIPC_OK)
            continue;
        for (size_t i = 0; i < n; i++)
            if (ids[i] == from)
                got[i]++;
        total++;
        for (double w = now(); (now() - w) * 1e6 < work_us;) /* the server's own work */
            ;
    }
    unsigned long lo = ~0ul, hi = 0;
    for (size_t i = 0; i < n; i++) {
        lo = got[i] < lo ? got[i] : lo;
        hi = got[i] > hi ? got[i] : hi;
    }
    for (int i = 0; i < clients; i++)
        kill(kids[i], SIGKILL);
    while (wait(NULL) > 0)
        ;
    smipc_server_close(srv);
    if (n != (size_t)clients || !hi)
        return -1;
    *rate = (double)total / seconds;
    *share = (double)lo / (double)hi;
    return 0;
}

int main(int argc, char **argv)
{
    int clients = argc > 1 ? atoi(argv[1]) : 4;
    double work_us = argc > 2 ? atof(argv[2]) : 2;
    double seconds = argc > 3 ? atof(argv[3]) : 1.5;
    int runs = argc > 4 ? atoi(argv[4]) : 5;
    if (clients < 1 || clients > MAX_CLIENTS || runs < 1 || runs > 100) {
        fprintf(stderr, "usage: flood_shares [CLIENTS (1-64) [WORK_US [SECONDS [RUNS]]]]\n");
        return 2;
    }
    double rates[100], shares[100];
    printf("%d clients flooding 512 B messages, the server working %.1f us on each, %.1f s "
           "a run\n",
           clients, work_us, seconds);
    for (int r = 0; r < runs; r++) {
        if (run_once(clients, work_us, seconds, &rates[r], &shares[r])) {
            fprintf(stderr, "flood_shares: run %d failed\n", r + 1);
            return 1;
        }
        printf("run %d: %8.0f messages/s, min/max share %.2f\n", r + 1, rates[r], shares[r]);
    }
    qsort(rates, (size_t)runs, sizeof *rates, by_value);
    qsort(shares, (size_t)runs, sizeof *shares, by_value);
    printf("median: %8.0f messages/s, min/max share %.2f (lowest %.2f)\n", rates[runs / 2],
           shares[runs / 2], shares[0]);
    return 0;
}
