/* smipc bench: the same workloads through smipc and its peers, in one run. */
#ifndef SMIPC_BENCH_H
#define SMIPC_BENCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum workload {
    W_RTT,    /* 64 B round trips, one client: latency percentiles */
    W_SLEEP,  /* the same with every wait a sleep (no spinning): wake-up cost */
    W_STREAM, /* one way, messages of `size`: messages/s and GB/s */
    W_M2O     /* `clients` clients doing 64 B round trips against one server */
};

/* What one run measured (written by the processes into shared memory). */
struct client_result {
    uint64_t ops;                             /* round trips or messages */
    uint64_t p50_ns, p99_ns, p999_ns, max_ns; /* round trips */
    double seconds;
    int failed;
};

#define BENCH_MAX_CLIENTS 64

struct run {
    enum workload w;
    size_t size;
    int clients;
    double seconds;
    char name[96];                 /* server name or socket path for this run */
    int fds[BENCH_MAX_CLIENTS][4]; /* per client: descriptors a peer prepared */
    int ready[2];                  /* pipe: the server says it listens */
    struct shared *sh;             /* MAP_SHARED between the processes */
    void *mem;                     /* a peer's own shared memory (the bare ring) */
    size_t mem_size;
};

struct shared {
    _Alignas(64) volatile uint64_t line; /* the floor's cache line */
    _Alignas(64) volatile uint64_t back;
    _Alignas(64) struct client_result client[BENCH_MAX_CLIENTS];
    struct client_result server;
    /* Round-trip clients measure together: they start once all are connected and stop
     * before any says goodbye, so no round trip timed waits on a neighbour's connect or
     * exit (process teardown), which are not the transport's doing. */
    pthread_barrier_t start, stop;
};

struct peer {
    const char *name;
    /* NULL when usable, else why not (printed once, the peer is skipped) */
    const char *(*unavailable)(void);
    int (*supports)(enum workload w);
    int (*prepare)(struct run *r); /* before fork: descriptors, names */
    void (*serve)(struct run *r);  /* the server's process */
    void (*client)(struct run *r, int i);
    void (*cleanup)(struct run *r); /* after both sides are done, in the parent */
    /* NULL, or the largest message the peer can take (larger sizes are skipped) */
    size_t (*max_size)(void);
};

/* smipc bench --no-checksum: the smipc peer's server turns checksums off */
extern int bench_no_checksum;
extern uint32_t bench_packet_size, bench_ring_packets; /* 0: the library's defaults */

extern const struct peer peer_smipc, peer_pipe, peer_unix, peer_zmq, peer_floor, peer_eventfd;
/* smipc's zero-copy calls (loan, view), and a bare ring with nothing of smipc (the
 * ceiling for streaming large messages on this machine) */
extern const struct peer peer_loan, peer_ring;

/* Shared helpers for the peers. */
double bench_now(void);
/* Records latencies: call lat_add per round trip, then lat_finish into a result. */
struct latencies {
    uint32_t *ns;
    size_t n, cap;
    uint64_t max;
};
void lat_init(struct latencies *l);
void lat_add(struct latencies *l, uint64_t ns);
void lat_finish(struct latencies *l, struct client_result *out);
/* Marks client i failed. A round-trip client that gives up before measuring still passes
 * both barriers of struct shared, so that the others never wait for it. */
void bench_gave_up(struct run *r, int i);
/* Blocks until the server said it is ready (every client calls it once). */
void bench_wait_ready(struct run *r);
void bench_say_ready(struct run *r);
/* Writes/reads exactly n bytes on a stream descriptor; 0 on success. */
int write_full(int fd, const void *buf, size_t n);
int read_full(int fd, void *buf, size_t n);

#endif
