/* A server and its clients in separate processes, on the library's defaults:
 * round trips of small messages from every client at once, then one client streaming
 * large messages. Prints what it measured.
 *
 * Usage: demo [--help] [--clients N] [--seconds S] [--name NAME] [--no-checksum] */
#include <smipc.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SMALL       64
#define LARGE       (1u << 20)
#define MAX_CLIENTS 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

struct report {
    uint64_t round_trips;
    uint32_t p50_ns, p99_ns, max_ns;
    uint64_t streamed_bytes;
    double stream_s;
};

/* One client: round trips for `seconds`, then (client 0 only) a stream of 1 MiB messages.
 * Writes its report to fd. */
static int client_main(const char *name, int index, double seconds, int fd)
{
    smipc_client *cli;
    int rc = smipc_client_connect(&cli, name, 5000);
    if (rc) {
        fprintf(stderr, "demo: client %d: connect: %s\n", index, smipc_strerror(rc));
        return 1;
    }
    struct report r = {0};
    size_t cap = 1u << 20;
    uint32_t *lat = malloc(cap * sizeof *lat);
    char msg[SMALL] = {0}, back[SMALL];
    double end = now_s() + seconds;
    while (!rc && now_s() < end) {
        double t0 = now_s();
        size_t len = sizeof back;
        memcpy(msg, &r.round_trips, sizeof r.round_trips);
        rc = smipc_client_send(cli, msg, sizeof msg, 5000);
        if (!rc)
            rc = smipc_client_recv(cli, back, &len, 5000);
        if (!rc && (len != SMALL || memcmp(back, msg, SMALL) != 0)) {
            fprintf(stderr, "demo: client %d: the echo differs\n", index);
            rc = SMIPC_EPROTO;
        }
        if (r.round_trips < cap)
            lat[r.round_trips] = (uint32_t)((now_s() - t0) * 1e9);
        r.round_trips++;
    }
    size_t n = r.round_trips < cap ? r.round_trips : cap;
    qsort(lat, n, sizeof *lat, cmp_u32);
    if (n) {
        r.p50_ns = lat[n / 2];
        r.p99_ns = lat[n * 99 / 100];
        r.max_ns = lat[n - 1];
    }
    /* tell the server this client is done with round trips */
    if (!rc)
        rc = smipc_client_send(cli, "done", 4, 5000);
    if (!rc && index == 0) {
        char *big = calloc(1, LARGE);
        double t0 = now_s(), stop = t0 + seconds;
        while (!rc && now_s() < stop) {
            rc = smipc_client_send(cli, big, LARGE, 5000);
            r.streamed_bytes += LARGE;
        }
        r.stream_s = now_s() - t0;
        if (!rc)
            rc = smipc_client_send(cli, "end", 3, 5000);
        free(big);
    }
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r)
        rc = SMIPC_ESYS;
    free(lat);
    smipc_client_close(cli);
    if (rc)
        fprintf(stderr, "demo: client %d: %s\n", index, smipc_strerror(rc));
    return rc ? 1 : 0;
}

static const char usage[] =
    "usage: demo [--help] [--clients N] [--seconds S] [--name NAME] [--no-checksum]\n"
    "A server and N client processes (1 to 64, default 4): S seconds (default 1) of round\n"
    "trips of 64 B from every client, then S seconds of one client streaming 1 MiB\n"
    "messages. NAME: the server's name (default demo-PID).\n";

/* The value after option argv[*i], or NULL (said why) when there is none. */
static const char *value_of(int argc, char **argv, int *i)
{
    if (*i + 1 < argc)
        return argv[++*i];
    fprintf(stderr, "demo: %s needs a value\n", argv[*i]);
    return NULL;
}

int main(int argc, char **argv)
{
    int clients = 4;
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    double seconds = 1.0;
    char name[64];
    snprintf(name, sizeof name, "demo-%d", (int)getpid());
    for (int i = 1; i < argc; i++) {
        const char *v;
        char *end;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--clients")) {
            if (!(v = value_of(argc, argv, &i)))
                return 2;
            long n = strtol(v, &end, 10);
            if (end == v || *end || n < 1 || n > MAX_CLIENTS) {
                fprintf(stderr, "demo: bad --clients \"%s\": expected 1 to %d\n", v, MAX_CLIENTS);
                return 2;
            }
            clients = (int)n;
        } else if (!strcmp(argv[i], "--seconds")) {
            if (!(v = value_of(argc, argv, &i)))
                return 2;
            seconds = strtod(v, &end);
            if (end == v || *end || !(seconds > 0 && seconds <= 3600)) {
                fprintf(stderr, "demo: bad --seconds \"%s\": expected seconds above 0 (e.g. 0.5)\n",
                        v);
                return 2;
            }
        } else if (!strcmp(argv[i], "--no-checksum")) {
            cfg.flags |= SMIPC_NO_CHECKSUM;
        } else if (!strcmp(argv[i], "--name")) {
            if (!(v = value_of(argc, argv, &i)))
                return 2;
            snprintf(name, sizeof name, "%s", v);
        } else {
            fprintf(stderr, "demo: no option \"%s\"\n%s", argv[i], usage);
            return 2;
        }
    }
    smipc_server *srv;
    int rc = smipc_server_open(&srv, name, &cfg);
    if (rc) {
        fprintf(stderr, "demo: server %s: %s\n", name, smipc_strerror(rc));
        return 1;
    }
    printf("smipc %s demo: server \"%s\" (pid %d), %d client processes, %.1f s per phase\n",
           smipc_version(), name, (int)getpid(), clients, seconds);
    fflush(stdout);
    int pipes[2];
    if (pipe(pipes) != 0)
        return 1;
    pid_t pids[MAX_CLIENTS];
    for (int i = 0; i < clients; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(pipes[0]);
            _exit(client_main(name, i, seconds, pipes[1]));
        }
    }
    close(pipes[1]);
    /* serve: echo round trips; count the stream */
    char *buf = malloc(LARGE);
    int done = 0, ended = 0;
    uint64_t echoed = 0, streamed = 0;
    while (!rc && (done < clients || !ended)) {
        smipc_client_id from;
        size_t len = LARGE;
        rc = smipc_server_recv(srv, &from, buf, &len, 10000);
        if (rc)
            break;
        if (len == 4 && !memcmp(buf, "done", 4))
            done++;
        else if (len == 3 && !memcmp(buf, "end", 3))
            ended = 1;
        else if (len == LARGE)
            streamed++;
        else {
            rc = smipc_server_send(srv, from, buf, len, 5000);
            echoed++;
        }
    }
    if (rc)
        fprintf(stderr, "demo: server: %s\n", smipc_strerror(rc));
    struct report total = {0}, r;
    uint32_t worst_p99 = 0, best = UINT32_MAX, worst = 0;
    printf("\n%-8s %12s %10s %10s %10s\n", "client", "round trips", "p50 us", "p99 us", "max us");
    for (int i = 0; i < clients; i++) {
        if (read(pipes[0], &r, sizeof r) != (ssize_t)sizeof r) {
            rc = SMIPC_ESYS;
            break;
        }
        printf("%-8d %12llu %10.2f %10.2f %10.1f\n", i, (unsigned long long)r.round_trips,
               r.p50_ns / 1e3, r.p99_ns / 1e3, r.max_ns / 1e3);
        total.round_trips += r.round_trips;
        total.streamed_bytes += r.streamed_bytes;
        if (r.stream_s > 0)
            total.stream_s = r.stream_s;
        worst_p99 = r.p99_ns > worst_p99 ? r.p99_ns : worst_p99;
        best = r.round_trips < best ? (uint32_t)r.round_trips : best;
        worst = r.round_trips > worst ? (uint32_t)r.round_trips : worst;
    }
    int failed = 0;
    for (int i = 0; i < clients; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    printf("\nround trips of %d B: %.0f per second in all, %llu echoed by the server, "
           "fairness min/max %.2f\n",
           SMALL, total.round_trips / seconds, (unsigned long long)echoed,
           worst ? (double)best / worst : 0.0);
    if (total.stream_s > 0)
        printf("streaming 1 MiB messages, one client: %.2f GB/s (%llu messages, checksums %s)\n",
               total.streamed_bytes / total.stream_s / 1e9, (unsigned long long)streamed,
               cfg.flags & SMIPC_NO_CHECKSUM ? "off" : "on");
    free(buf);
    smipc_server_close(srv);
    if (rc || failed) {
        fprintf(stderr, "demo: failed\n");
        return 1;
    }
    return 0;
}
