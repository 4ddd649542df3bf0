/* smipc bench: runs every workload through every peer, alternating, several times, and
 * prints the medians with smipc's ratio to the best peer and to the physical floor. */
#include "bench.h"

#include "cli.h"
#include "crc32c.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: smipc bench [options]\n"
    "Measures, in one run on this machine: 64 B round trips (p50/p99/p99.9), the same\n"
    "when every wait sleeps, one-way streaming at several sizes (messages/s, GB/s), and\n"
    "many clients against one server (round trips/s, fairness min/max, worst round\n"
    "trip); through smipc and through a pipe pair, a Unix socket pair, ZeroMQ ipc://, a\n"
    "bare eventfd ping-pong and one shared cache line (the floor). Streaming also goes\n"
    "through smipc's zero-copy calls (loan: written and read in place) and a bare ring of\n"
    "4 MiB with nothing of smipc (ring: the ceiling). Every figure is the median of\n"
    "--repeats runs, the peers alternating.\n"
    "  --quick             a short smoke run (0.05 s per run, 1 repeat)\n"
    "  --seconds S         length of each run (default 0.5)\n"
    "  --repeats N         runs per figure (default 5)\n"
    "  --clients LIST      many-to-one client counts (default 1,4,16; at most 64)\n"
    "  --sizes LIST        streaming sizes (default 64,4K,64K,1M)\n"
    "  --only LIST         workloads to run, of rtt,sleep,stream,m2o (default: all)\n"
    "  --peers LIST        transports to run, of smipc,loan,ring,pipe,unix,zeromq,eventfd,floor\n"
    "  --no-checksum       smipc without CRC32C checksums (default: on, as the library)\n"
    "  --packet-size N     smipc packet size (default: the library's, 4096)\n"
    "  --ring-packets N    smipc packets per ring (default: the library's, 64)\n"
    "  --csv FILE          also write every figure as CSV\n"
    "  --json FILE         also write every figure as JSON\n";

/* ---- shared helpers ---- */

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void lat_init(struct latencies *l)
{
    l->cap = 1u << 22;
    l->n = 0;
    l->max = 0;
    l->ns = malloc(l->cap * sizeof *l->ns);
}

void lat_add(struct latencies *l, uint64_t ns)
{
    if (ns > l->max)
        l->max = ns;
    if (l->ns && l->n < l->cap)
        l->ns[l->n] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
    l->n++;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void lat_finish(struct latencies *l, struct client_result *out)
{
    size_t n = l->n < l->cap ? l->n : l->cap;
    out->ops = l->n;
    out->max_ns = l->max;
    if (l->ns && n) {
        qsort(l->ns, n, sizeof *l->ns, cmp_u32);
        out->p50_ns = l->ns[n / 2];
        out->p99_ns = l->ns[(size_t)(n * 0.99)];
        out->p999_ns = l->ns[(size_t)(n * 0.999)];
    }
    free(l->ns);
    l->ns = NULL;
}

void bench_gave_up(struct run *r, int i)
{
    r->sh->client[i].failed = 1;
    if (r->w != W_STREAM) {
        pthread_barrier_wait(&r->sh->start);
        pthread_barrier_wait(&r->sh->stop);
    }
}

void bench_say_ready(struct run *r)
{
    char c[BENCH_MAX_CLIENTS] = {0};
    write_full(r->ready[1], c, (size_t)r->clients);
}

void bench_wait_ready(struct run *r)
{
    char c;
    read_full(r->ready[0], &c, 1);
}

/* ---- running one measurement ---- */

struct figure {
    const char *workload; /* "rtt", "sleep", "stream", "m2o" */
    const char *metric;   /* "p50_us", "msgs_per_s", ... */
    const char *unit;
    size_t param; /* size or clients */
    int lower_is_better;
    const char *peer;
    double values[32];
    int n;
};

static struct figure *figures;
static size_t nfigures, capfigures;

/* The figure, or NULL: never adds one (the table is printed while it is walked). */
static struct figure *find_figure(const char *workload, const char *metric, size_t param,
                                  const char *peer)
{
    for (size_t i = 0; i < nfigures; i++) {
        struct figure *f = &figures[i];
        if (!strcmp(f->workload, workload) && !strcmp(f->metric, metric) && f->param == param &&
            !strcmp(f->peer, peer))
            return f;
    }
    return NULL;
}

static struct figure *figure(const char *workload, const char *metric, const char *unit,
                             size_t param, int lower, const char *peer)
{
    struct figure *found = find_figure(workload, metric, param, peer);
    if (found)
        return found;
    if (nfigures == capfigures) {
        capfigures = capfigures ? capfigures * 2 : 64;
        figures = realloc(figures, capfigures * sizeof *figures);
    }
    struct figure *f = &figures[nfigures++];
    *f = (struct figure){workload, metric, unit, param, lower, peer, {0}, 0};
    return f;
}

static void record(const char *workload, const char *metric, const char *unit, size_t param,
                   int lower, const char *peer, double v)
{
    struct figure *f = figure(workload, metric, unit, param, lower, peer);
    if (f->n < 32)
        f->values[f->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(struct figure *f)
{
    if (!f || !f->n)
        return NAN;
    double v[32];
    memcpy(v, f->values, sizeof v);
    qsort(v, (size_t)f->n, sizeof v[0], cmp_double);
    return f->n % 2 ? v[f->n / 2] : (v[f->n / 2 - 1] + v[f->n / 2]) / 2;
}

/* Waits for pid until deadline (seconds, monotonic); kills it after. 0 when it exited 0. */
static int wait_until(pid_t pid, double deadline)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    int left = (int)((deadline - bench_now()) * 1000);
    int ok = pfd >= 0 && poll(&p, 1, left > 0 ? left : 0) == 1;
    if (pfd >= 0)
        close(pfd);
    if (!ok)
        kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    return ok && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static const char *workload_word(enum workload w)
{
    return w == W_RTT ? "rtt" : w == W_SLEEP ? "sleep" : w == W_STREAM ? "stream" : "m2o";
}

/* Whether p runs this workload at this size. */
static int takes(const struct peer *p, enum workload w, size_t size)
{
    return p->supports(w) && (!p->max_size || size <= p->max_size());
}

static int run_once(const struct peer *p, enum workload w, size_t size, int clients, double seconds)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.w = w;
    r.size = size;
    r.clients = clients;
    r.seconds = seconds;
    for (int i = 0; i < BENCH_MAX_CLIENTS; i++)
        for (int k = 0; k < 4; k++)
            r.fds[i][k] = -1;
    r.sh = mmap(NULL, sizeof *r.sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r.sh == MAP_FAILED || pipe(r.ready))
        return -1;
    memset(r.sh, 0, sizeof *r.sh);
    pthread_barrierattr_t shared;
    pthread_barrierattr_init(&shared);
    pthread_barrierattr_setpshared(&shared, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(&r.sh->start, &shared, (unsigned)clients);
    pthread_barrier_init(&r.sh->stop, &shared, (unsigned)clients);
    pthread_barrierattr_destroy(&shared);
    int failed = p->prepare(&r);
    pid_t pids[BENCH_MAX_CLIENTS + 1];
    int started = 0;
    fflush(NULL);
    if (!failed) {
        if ((pids[started] = fork()) == 0) {
            p->serve(&r);
            _exit(0);
        }
        started++;
        for (int i = 0; i < clients; i++) {
            if ((pids[started] = fork()) == 0) {
                p->client(&r, i);
                _exit(0);
            }
            started++;
        }
    }
    double deadline = bench_now() + 3 * seconds + 20;
    for (int i = 0; i < started; i++)
        failed |= wait_until(pids[i], deadline);
    p->cleanup(&r);
    close(r.ready[0]);
    close(r.ready[1]);
    struct shared *sh = r.sh;
    failed |= sh->server.failed;
    for (int i = 0; i < clients; i++)
        failed |= sh->client[i].failed;
    if (!failed) {
        const char *wl = workload_word(w);
        if (w == W_RTT || w == W_SLEEP) {
            struct client_result *c = &sh->client[0];
            record(wl, "p50", "us", size, 1, p->name, c->p50_ns / 1e3);
            record(wl, "p99", "us", size, 1, p->name, c->p99_ns / 1e3);
            record(wl, "p99.9", "us", size, 1, p->name, c->p999_ns / 1e3);
        } else if (w == W_STREAM) {
            double s = sh->server.seconds > 0 ? sh->server.seconds : 1e-9;
            record(wl, "msgs/s", "M", size, 0, p->name, sh->server.ops / s / 1e6);
            record(wl, "GB/s", "GB/s", size, 0, p->name, sh->server.ops * (double)size / s / 1e9);
        } else {
            double total = 0, lo = INFINITY, hi = 0, worst = 0;
            for (int i = 0; i < clients; i++) {
                struct client_result *c = &sh->client[i];
                double rate = c->ops / (c->seconds > 0 ? c->seconds : 1e-9);
                total += rate;
                lo = rate < lo ? rate : lo;
                hi = rate > hi ? rate : hi;
                worst = c->max_ns / 1e6 > worst ? c->max_ns / 1e6 : worst;
            }
            record(wl, "round trips/s", "M", (size_t)clients, 0, p->name, total / 1e6);
            record(wl, "fairness min/max", "", (size_t)clients, 0, p->name, hi > 0 ? lo / hi : 0);
            record(wl, "worst round trip", "ms", (size_t)clients, 1, p->name, worst);
        }
    }
    pthread_barrier_destroy(&r.sh->start);
    pthread_barrier_destroy(&r.sh->stop);
    munmap(r.sh, sizeof *r.sh);
    return failed ? -1 : 0;
}

/* memcpy bandwidth of 1 MiB copies, the ceiling for moving large messages */
static void measure_memcpy(double seconds)
{
    size_t n = 1 << 20;
    char *a = malloc(n), *b = malloc(n);
    memset(a, 1, n);
    memset(b, 2, n);
    double start = bench_now(), t;
    uint64_t copies = 0;
    do {
        memcpy((copies & 1) ? a : b, (copies & 1) ? b : a, n);
        copies++;
        t = bench_now();
    } while (t - start < seconds);
    record("memcpy", "GB/s", "GB/s", n, 0, "memcpy", copies * (double)n / (t - start) / 1e9);
    free(a);
    free(b);
}

/* ---- reporting ---- */

static const struct peer *all_peers[] = {&peer_smipc, &peer_loan, &peer_ring,    &peer_pipe,
                                         &peer_unix,  &peer_zmq,  &peer_eventfd, &peer_floor};
#define NPEERS (sizeof all_peers / sizeof all_peers[0])

/* smipc's own columns and the bare ring: never "the best peer" smipc is compared with */
static int ours_or_bare(const char *name)
{
    return !strcmp(name, "floor") || !strcmp(name, "loan") || !strcmp(name, "ring");
}

/* buf holds at least 24 bytes */
static const char *size_word(size_t n, char *buf)
{
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        snprintf(buf, 24, "%zuM", n >> 20);
    else if (n >= 1024 && n % 1024 == 0)
        snprintf(buf, 24, "%zuK", n >> 10);
    else
        snprintf(buf, 24, "%zu", n);
    return buf;
}

static void print_table(void)
{
    printf("\n%-40s", "");
    for (size_t k = 0; k < NPEERS; k++)
        printf(" %10s", all_peers[k]->name);
    printf("   %-14s %s\n", "smipc vs best", "smipc vs floor, memcpy, the bare ring");
    for (size_t i = 0; i < nfigures; i++) {
        struct figure *f = &figures[i];
        if (strcmp(f->peer, "smipc") || !strcmp(f->workload, "memcpy"))
            continue;
        char label[80], sz[24];
        int m2o = !strcmp(f->workload, "m2o");
        const char *unit = !strcmp(f->unit, "M") ? "millions" : f->unit;
        snprintf(label, sizeof label, "%s %s%s %s%s%s%s", f->workload, size_word(f->param, sz),
                 m2o ? " clients" : " B", f->metric, *unit && strcmp(unit, f->metric) ? " (" : "",
                 *unit && strcmp(unit, f->metric) ? unit : "",
                 *unit && strcmp(unit, f->metric) ? ")" : "");
        printf("%-40s", label);
        double mine = median(f), best = NAN;
        const char *best_peer = NULL;
        for (size_t k = 0; k < NPEERS; k++) {
            struct figure *g = NULL;
            for (size_t j = 0; j < nfigures; j++)
                if (!strcmp(figures[j].workload, f->workload) &&
                    !strcmp(figures[j].metric, f->metric) && figures[j].param == f->param &&
                    !strcmp(figures[j].peer, all_peers[k]->name))
                    g = &figures[j];
            double v = median(g);
            if (isnan(v))
                printf(" %10s", "-");
            else
                printf(" %10.3g", v);
            if (!isnan(v) && k > 0 && !ours_or_bare(all_peers[k]->name) &&
                (isnan(best) || (f->lower_is_better ? v < best : v > best))) {
                best = v;
                best_peer = all_peers[k]->name;
            }
        }
        if (!isnan(best) && best > 0 && mine > 0 && strcmp(f->metric, "fairness min/max"))
            printf("   %6.1fx %-7s", f->lower_is_better ? best / mine : mine / best, best_peer);
        else
            printf("   %-14s", "");
        if (!strcmp(f->workload, "rtt")) {
            struct figure *fl = find_figure("rtt", f->metric, f->param, "floor");
            double floor = median(fl);
            if (!isnan(floor) && floor > 0)
                printf(" %.2fx the floor", mine / floor);
        } else if (!strcmp(f->workload, "stream") && !strcmp(f->metric, "GB/s")) {
            double m = median(find_figure("memcpy", "GB/s", 1 << 20, "memcpy"));
            double ring = median(find_figure("stream", "GB/s", f->param, "ring"));
            double loan = median(find_figure("stream", "GB/s", f->param, "loan"));
            if (!isnan(m) && m > 0)
                printf(" %.0f%% of memcpy", 100 * mine / m);
            if (!isnan(ring) && ring > 0) {
                printf(", %.2fx the ring", mine / ring);
                if (!isnan(loan))
                    printf(" (loan %.2fx)", loan / ring);
            }
        }
        printf("\n");
    }
    double m = median(find_figure("memcpy", "GB/s", 1 << 20, "memcpy"));
    printf("\nmemcpy of 1 MiB on this machine: %.1f GB/s. Ratios: how many times better smipc "
           "is than the best peer (higher is better).\n",
           m);
}

static void write_outputs(const char *csv, const char *json)
{
    FILE *c = csv ? fopen(csv, "w") : NULL, *j = json ? fopen(json, "w") : NULL;
    if (csv && !c)
        fprintf(stderr, "smipc bench: %s: %s\n", csv, strerror(errno));
    if (json && !j)
        fprintf(stderr, "smipc bench: %s: %s\n", json, strerror(errno));
    if (c)
        fprintf(c, "workload,param,metric,unit,peer,median,repeats\n");
    if (j)
        fprintf(j, "[");
    for (size_t i = 0; i < nfigures; i++) {
        struct figure *f = &figures[i];
        double v = median(f);
        if (c)
            fprintf(c, "%s,%zu,%s,%s,%s,%.6g,%d\n", f->workload, f->param, f->metric, f->unit,
                    f->peer, v, f->n);
        if (j)
            fprintf(j,
                    "%s{\"workload\":\"%s\",\"param\":%zu,\"metric\":\"%s\",\"unit\":\"%s\","
                    "\"peer\":\"%s\",\"median\":%.6g,\"repeats\":%d}",
                    i ? "," : "", f->workload, f->param, f->metric, f->unit, f->peer, v, f->n);
    }
    if (j)
        fprintf(j, "]\n");
    if (c)
        fclose(c);
    if (j)
        fclose(j);
}

static int parse_list(const char *s, size_t *out, int cap)
{
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        uint64_t v;
        if (n == cap || cli_parse_size(tok, &v) || v == 0)
            return -1;
        out[n++] = (size_t)v;
    }
    return n;
}

/* 1 when word is in the comma-separated list (NULL: every word is). */
static int listed(const char *list, const char *word)
{
    if (!list)
        return 1;
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, word, n))
            return 1;
        p += len + (end != NULL);
    }
    return 0;
}

/* 1 when every word of list is one of the choices. */
static int list_valid(const char *list, const char *const *choices, size_t nchoices)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    int any = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","), any = 1) {
        int ok = 0;
        for (size_t i = 0; i < nchoices; i++)
            ok |= !strcmp(tok, choices[i]);
        if (!ok)
            return 0;
    }
    return any;
}

int cmd_bench(int argc, char **argv)
{
    double seconds = 0.5;
    int repeats = 5;
    const char *csv = NULL, *json = NULL, *only = NULL, *peers = NULL, *v;
    static const char *const workloads[] = {"rtt", "sleep", "stream", "m2o"};
    size_t clients[8] = {1, 4, 16}, sizes[8] = {64, 4096, 65536, 1 << 20};
    int nclients = 3, nsizes = 4;
    smipc_server_config geometry; /* only the packet size and count per ring are asked */
    smipc_server_config_init(&geometry);
    char peer_words[128] = "";
    for (size_t k = 0; k < NPEERS; k++)
        snprintf(peer_words + strlen(peer_words), sizeof peer_words - strlen(peer_words), "%s%s",
                 k ? ", " : "", all_peers[k]->name);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--quick")) {
            seconds = 0.05;
            repeats = 1;
        } else if (cli_opt(argc, argv, &i, "--seconds", &v)) {
            char *end = NULL;
            if (v)
                seconds = strtod(v, &end);
            if (v && (end == v || *end || !(seconds > 0 && seconds < 3600)))
                cli_usage_error("bad --seconds \"%s\": expected seconds above 0 and below 3600 "
                                "(e.g. 0.5)",
                                v);
        } else if (cli_opt(argc, argv, &i, "--repeats", &v)) {
            uint64_t n = (uint64_t)repeats;
            cli_number_arg("--repeats", v, 1, 32, &n);
            repeats = (int)n;
        } else if (cli_opt(argc, argv, &i, "--clients", &v)) {
            int k = v ? parse_list(v, clients, 8) : 1;
            for (int c = 0; c < k; c++)
                k = clients[c] > BENCH_MAX_CLIENTS ? -1 : k;
            if (k < 1)
                cli_usage_error("bad --clients \"%s\": expected a comma-separated list of up to 8 "
                                "client counts from 1 to %d",
                                v, BENCH_MAX_CLIENTS);
            nclients = k;
        } else if (cli_opt(argc, argv, &i, "--sizes", &v)) {
            nsizes = v ? parse_list(v, sizes, 8) : 1;
            if (nsizes < 1)
                cli_usage_error("bad --sizes \"%s\": expected a comma-separated list of up to 8 "
                                "sizes in bytes, 1 or more (K, M, G allowed)",
                                v);
        } else if (cli_opt(argc, argv, &i, "--only", &v)) {
            only = v;
            if (v && !list_valid(v, workloads, 4))
                cli_usage_error("bad --only \"%s\": expected a comma-separated list of rtt, sleep, "
                                "stream, m2o",
                                v);
        } else if (cli_opt(argc, argv, &i, "--peers", &v)) {
            const char *names[NPEERS];
            for (size_t k = 0; k < NPEERS; k++)
                names[k] = all_peers[k]->name;
            peers = v;
            if (v && !list_valid(v, names, NPEERS))
                cli_usage_error("bad --peers \"%s\": expected a comma-separated list of %s", v,
                                peer_words);
        } else if (!strcmp(argv[i], "--no-checksum")) {
            bench_no_checksum = 1;
        } else if ((!strncmp(argv[i], "--packet-size", 13) ||
                    !strncmp(argv[i], "--ring-packets", 14)) &&
                   cli_server_opt(argc, argv, &i, &geometry)) {
            continue;
        } else if (cli_opt(argc, argv, &i, "--csv", &v)) {
            csv = v;
        } else if (cli_opt(argc, argv, &i, "--json", &v)) {
            json = v;
        } else if (cli_is_option(argv[i])) {
            cli_unknown_option(argv[i]);
        } else {
            cli_usage_error("takes no arguments but options (\"%s\")", argv[i]);
        }
    }
    if (!cli_bad)
        cli_check_geometry(&geometry);
    if (cli_bad)
        return cli_usage_end(usage);
    bench_packet_size = geometry.packet_size;
    bench_ring_packets = geometry.ring_packets;
    struct config {
        enum workload w;
        size_t size;
        int clients;
    } cfgs[32];
    int ncfg = 0;
    if (listed(only, "rtt"))
        cfgs[ncfg++] = (struct config){W_RTT, 64, 1};
    if (listed(only, "sleep"))
        cfgs[ncfg++] = (struct config){W_SLEEP, 64, 1};
    for (int k = 0; k < nsizes && listed(only, "stream"); k++)
        cfgs[ncfg++] = (struct config){W_STREAM, sizes[k], 1};
    for (int k = 0; k < nclients && listed(only, "m2o"); k++)
        cfgs[ncfg++] = (struct config){W_M2O, 64, (int)clients[k]};
    int usable[NPEERS];
    int total = 0;
    for (size_t k = 0; k < NPEERS; k++) {
        if (!listed(peers, all_peers[k]->name)) {
            usable[k] = 0;
            continue;
        }
        const char *why = all_peers[k]->unavailable();
        usable[k] = why == NULL;
        if (why)
            printf("%s: skipped: %s\n", all_peers[k]->name, why);
        for (int c = 0; usable[k] && c < ncfg; c++)
            total += takes(all_peers[k], cfgs[c].w, cfgs[c].size) ? repeats : 0;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    smipc_server_config defaults;
    smipc_server_config_init(&defaults);
    printf("smipc %s bench: %ld CPUs, %.2f s per run, median of %d alternating repeats, "
           "%d runs, smipc checksums %s (CRC32C: %s), packets of %u bytes, %u per ring\n",
           smipc_version(), ncpu, seconds, repeats, total, bench_no_checksum ? "off" : "on",
           smipc_crc32c_kind(), bench_packet_size ? bench_packet_size : defaults.packet_size,
           bench_ring_packets ? bench_ring_packets : defaults.ring_packets);
    fflush(stdout);
    int tty = isatty(2), done = 0, failures = 0;
    for (int rep = 0; rep < repeats; rep++) {
        measure_memcpy(seconds < 0.2 ? seconds : 0.2);
        for (int c = 0; c < ncfg; c++)
            for (size_t k = 0; k < NPEERS; k++) {
                const struct peer *p = all_peers[k];
                if (!usable[k] || !takes(p, cfgs[c].w, cfgs[c].size))
                    continue;
                char sz[24];
                fprintf(stderr, "%s[%3d/%d] repeat %d: %s %s%s through %s%s", tty ? "\r" : "",
                        ++done, total, rep + 1, workload_word(cfgs[c].w),
                        cfgs[c].w == W_M2O ? size_word((size_t)cfgs[c].clients, sz)
                                           : size_word(cfgs[c].size, sz),
                        cfgs[c].w == W_M2O ? " clients" : " B", p->name,
                        tty ? "            " : "\n");
                if (run_once(p, cfgs[c].w, cfgs[c].size, cfgs[c].clients, seconds)) {
                    failures++;
                    fprintf(stderr, "%ssmipc bench: %s %s through %s failed\n", tty ? "\n" : "",
                            workload_word(cfgs[c].w), size_word(cfgs[c].size, sz), p->name);
                }
            }
    }
    if (tty)
        fprintf(stderr, "\n");
    print_table();
    write_outputs(csv, json);
    if (failures)
        fprintf(stderr, "smipc bench: %d runs failed\n", failures);
    return failures ? EXIT_FAILED : EXIT_OK;
}
