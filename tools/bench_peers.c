/* The transports `smipc bench` compares. Every peer gets its easiest case: message sizes
 * are fixed and known to both sides, so stream transports need no framing. A message
 * whose first byte is 0xFF says "that was all" (end of a stream, or a client leaving). */
#include "bench.h"

#include <smipc.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef HAVE_ZMQ
#include <zmq.h>
#endif

#define RTT_SIZE 64

int bench_no_checksum;
uint32_t bench_packet_size, bench_ring_packets; /* 0: the library's defaults */
#define BYE 0xFF

/* ---- helpers ---- */

int write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Runs a client's round trips for r->seconds: rt(arg, buf) does one. */
static void rtt_loop(struct run *r, int i, int (*rt)(void *, char *), void *arg)
{
    struct client_result *res = &r->sh->client[i];
    struct latencies lat;
    lat_init(&lat);
    char msg[RTT_SIZE] = {0};
    pthread_barrier_wait(&r->sh->start);
    double start = bench_now(), end = start + r->seconds, t = start;
    while (t < end) {
        double t0 = t;
        if (rt(arg, msg)) {
            res->failed = 1;
            break;
        }
        t = bench_now();
        lat_add(&lat, (uint64_t)((t - t0) * 1e9));
    }
    res->seconds = t - start;
    /* before sorting, which would take the CPU from the others' last round trips */
    pthread_barrier_wait(&r->sh->stop);
    lat_finish(&lat, res);
}

/* Sends `size`-byte messages for r->seconds, then the end marker. */
static void stream_loop(struct run *r, int (*send1)(void *, const char *, size_t), void *arg)
{
    char *buf = calloc(1, r->size);
    struct client_result *res = &r->sh->client[0];
    double end = bench_now() + r->seconds;
    uint64_t n = 0;
    while (buf) {
        if ((n & 15) == 0 && bench_now() >= end)
            break;
        if (send1(arg, buf, r->size)) {
            res->failed = 1;
            break;
        }
        n++;
    }
    if (buf) {
        buf[0] = (char)BYE;
        if (send1(arg, buf, r->size))
            res->failed = 1;
    }
    res->ops = n;
    free(buf);
}

/* The receiving side of a stream: counts messages between the first and the marker. */
struct stream_count {
    double first;
    uint64_t n;
};

static int stream_take(struct run *r, struct stream_count *c, const char *msg)
{
    if (c->n == 0 && c->first == 0)
        c->first = bench_now();
    if ((unsigned char)msg[0] == BYE) {
        r->sh->server.ops = c->n;
        r->sh->server.seconds = bench_now() - c->first;
        return 1;
    }
    c->n++;
    return 0;
}

/* ---- smipc ---- */

static const char *smipc_unavailable(void)
{
    return NULL;
}

static int smipc_supports(enum workload w)
{
    (void)w;
    return 1;
}

static int smipc_prepare(struct run *r)
{
    static unsigned counter;
    snprintf(r->name, sizeof r->name, "bench-%d-%u", (int)getpid(), counter++);
    if (r->w == W_SLEEP)
        setenv("SMIPC_SPIN_US", "0", 1); /* every wait sleeps, in both processes */
    return 0;
}

static void smipc_cleanup(struct run *r)
{
    (void)r;
    unsetenv("SMIPC_SPIN_US");
}

static void smipc_serve(struct run *r)
{
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.max_clients = (uint32_t)r->clients;
    if (bench_no_checksum)
        cfg.flags |= SMIPC_NO_CHECKSUM;
    if (bench_packet_size)
        cfg.packet_size = bench_packet_size;
    if (bench_ring_packets)
        cfg.ring_packets = bench_ring_packets;
    if (r->size > cfg.max_message_size)
        cfg.max_message_size = r->size;
    smipc_server *srv;
    if (smipc_server_open(&srv, r->name, &cfg)) {
        r->sh->server.failed = 1;
        bench_say_ready(r);
        return;
    }
    bench_say_ready(r);
    size_t cap = r->size > RTT_SIZE ? r->size : RTT_SIZE;
    char *buf = malloc(cap);
    struct stream_count sc = {0};
    int byes = 0;
    while (buf) {
        smipc_client_id from;
        size_t len = cap;
        if (smipc_server_recv(srv, &from, buf, &len, 10000)) {
            r->sh->server.failed = 1;
            break;
        }
        if (r->w == W_STREAM) {
            if (stream_take(r, &sc, buf))
                break;
        } else if ((unsigned char)buf[0] == BYE) {
            if (++byes == r->clients)
                break;
        } else if (smipc_server_send(srv, from, buf, len, 10000)) {
            r->sh->server.failed = 1;
            break;
        }
    }
    free(buf);
    smipc_server_close(srv);
}

static int smipc_rt(void *arg, char *msg)
{
    char back[RTT_SIZE];
    size_t len = sizeof back;
    return smipc_client_send(arg, msg, RTT_SIZE, 10000) ||
           smipc_client_recv(arg, back, &len, 10000);
}

static int smipc_send1(void *arg, const char *buf, size_t n)
{
    return smipc_client_send(arg, buf, n, 10000);
}

static void smipc_run_client(struct run *r, int i)
{
    bench_wait_ready(r);
    smipc_client *cli;
    if (smipc_client_connect(&cli, r->name, 10000)) {
        bench_gave_up(r, i);
        return;
    }
    if (r->w == W_STREAM) {
        stream_loop(r, smipc_send1, cli);
    } else {
        rtt_loop(r, i, smipc_rt, cli);
        char bye[RTT_SIZE] = {(char)BYE};
        smipc_client_send(cli, bye, sizeof bye, 10000);
    }
    smipc_client_close(cli);
}

const struct peer peer_smipc = {"smipc",     smipc_unavailable, smipc_supports, smipc_prepare,
                                smipc_serve, smipc_run_client,  smipc_cleanup};

/* ---- stream descriptors: pipes and Unix sockets share the server and clients ---- */

/* fds[i]: [0] server reads, [1] client writes, [2] client reads, [3] server writes */
static void fd_serve(struct run *r)
{
    bench_say_ready(r);
    if (r->w == W_STREAM) {
        char *buf = malloc(r->size);
        struct stream_count sc = {0};
        while (buf && !read_full(r->fds[0][0], buf, r->size))
            if (stream_take(r, &sc, buf))
                break;
        free(buf);
        return;
    }
    struct pollfd p[BENCH_MAX_CLIENTS];
    for (int i = 0; i < r->clients; i++)
        p[i] = (struct pollfd){.fd = r->fds[i][0], .events = POLLIN};
    int left = r->clients;
    char msg[RTT_SIZE];
    while (left > 0) {
        if (poll(p, (nfds_t)r->clients, 10000) <= 0) {
            r->sh->server.failed = 1;
            return;
        }
        for (int i = 0; i < r->clients; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            if (read_full(p[i].fd, msg, RTT_SIZE) || (unsigned char)msg[0] == BYE) {
                p[i].fd = -1; /* poll ignores it from now on */
                left--;
            } else if (write_full(r->fds[i][3], msg, RTT_SIZE)) {
                r->sh->server.failed = 1;
                return;
            }
        }
    }
}

static int fd_rt(void *arg, char *msg)
{
    int *fds = arg;
    return write_full(fds[1], msg, RTT_SIZE) || read_full(fds[2], msg, RTT_SIZE);
}

static int fd_send1(void *arg, const char *buf, size_t n)
{
    return write_full(((int *)arg)[1], buf, n);
}

static void fd_client(struct run *r, int i)
{
    bench_wait_ready(r);
    if (r->w == W_STREAM) {
        stream_loop(r, fd_send1, r->fds[i]);
    } else {
        rtt_loop(r, i, fd_rt, r->fds[i]);
        char bye[RTT_SIZE] = {(char)BYE};
        write_full(r->fds[i][1], bye, sizeof bye);
    }
}

static void fd_cleanup(struct run *r)
{
    for (int i = 0; i < r->clients; i++)
        for (int k = 0; k < 4; k++)
            if (r->fds[i][k] >= 0)
                close(r->fds[i][k]);
}

static const char *always_available(void)
{
    return NULL;
}

static int rtt_and_stream(enum workload w)
{
    return w != W_SLEEP;
}

static int pipe_prepare(struct run *r)
{
    for (int i = 0; i < r->clients; i++) {
        int a[2], b[2];
        if (pipe2(a, O_CLOEXEC) || pipe2(b, O_CLOEXEC))
            return -1;
        fcntl(a[1], F_SETPIPE_SZ, 1 << 20); /* the largest a user may ask: its best case */
        fcntl(b[1], F_SETPIPE_SZ, 1 << 20);
        r->fds[i][0] = a[0];
        r->fds[i][1] = a[1];
        r->fds[i][2] = b[0];
        r->fds[i][3] = b[1];
    }
    return 0;
}

const struct peer peer_pipe = {"pipe",   always_available, rtt_and_stream, pipe_prepare,
                               fd_serve, fd_client,        fd_cleanup};

static int unix_prepare(struct run *r)
{
    for (int i = 0; i < r->clients; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
            return -1;
        int big = 1 << 20;
        setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        r->fds[i][0] = sv[0];
        r->fds[i][3] = dup(sv[0]);
        r->fds[i][1] = sv[1];
        r->fds[i][2] = dup(sv[1]);
    }
    return 0;
}

const struct peer peer_unix = {"unix",   always_available, rtt_and_stream, unix_prepare,
                               fd_serve, fd_client,        fd_cleanup};

/* ---- eventfd: the bare cost of a sleeping hand-off ---- */

static int only_sleep(enum workload w)
{
    return w == W_SLEEP;
}

static int efd_prepare(struct run *r)
{
    r->fds[0][0] = eventfd(0, EFD_CLOEXEC); /* client -> server */
    r->fds[0][1] = eventfd(0, EFD_CLOEXEC); /* server -> client */
    r->fds[0][2] = r->fds[0][3] = -1;
    return r->fds[0][0] < 0 || r->fds[0][1] < 0 ? -1 : 0;
}

static void efd_serve(struct run *r)
{
    bench_say_ready(r);
    uint64_t v;
    while (read_full(r->fds[0][0], &v, 8) == 0 && v == 1)
        if (write_full(r->fds[0][1], &v, 8))
            break;
}

static int efd_rt(void *arg, char *msg)
{
    (void)msg;
    int *fds = arg;
    uint64_t one = 1, v;
    return write_full(fds[0], &one, 8) || read_full(fds[1], &v, 8);
}

static void efd_client(struct run *r, int i)
{
    bench_wait_ready(r);
    rtt_loop(r, i, efd_rt, r->fds[0]);
    uint64_t bye = 2;
    write_full(r->fds[0][0], &bye, 8);
}

const struct peer peer_eventfd = {"eventfd", always_available, only_sleep, efd_prepare,
                                  efd_serve, efd_client,       fd_cleanup};

/* ---- the floor: one shared cache line, both sides spinning ---- */

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int only_rtt(enum workload w)
{
    return w == W_RTT;
}

static int floor_prepare(struct run *r)
{
    r->sh->line = r->sh->back = 0;
    for (int k = 0; k < 4; k++)
        r->fds[0][k] = -1;
    return 0;
}

static void floor_serve(struct run *r)
{
    bench_say_ready(r);
    uint64_t seen = 0;
    for (;;) {
        uint64_t v;
        while ((v = __atomic_load_n(&r->sh->line, __ATOMIC_ACQUIRE)) == seen)
            relax();
        if (v == UINT64_MAX)
            return;
        seen = v;
        __atomic_store_n(&r->sh->back, v, __ATOMIC_RELEASE);
    }
}

static int floor_rt(void *arg, char *msg)
{
    (void)msg;
    struct shared *sh = arg;
    uint64_t v = __atomic_load_n(&sh->line, __ATOMIC_RELAXED) + 1;
    __atomic_store_n(&sh->line, v, __ATOMIC_RELEASE);
    while (__atomic_load_n(&sh->back, __ATOMIC_ACQUIRE) != v)
        relax();
    return 0;
}

static void floor_client(struct run *r, int i)
{
    bench_wait_ready(r);
    rtt_loop(r, i, floor_rt, r->sh);
    __atomic_store_n(&r->sh->line, UINT64_MAX, __ATOMIC_RELEASE);
}

static void no_cleanup(struct run *r)
{
    (void)r;
}

const struct peer peer_floor = {"floor",     always_available, only_rtt,  floor_prepare,
                                floor_serve, floor_client,     no_cleanup};

/* ---- ZeroMQ over ipc:// ---- */

#ifdef HAVE_ZMQ
static const char *zmq_unavailable(void)
{
    return NULL;
}

/* Queue up to 64 MiB (at least 16 messages): deep enough never to stall the sender on a
 * small message, shallow enough not to buffer gigabytes of large ones. */
static int zmq_queue_limit(size_t size)
{
    size_t n = ((size_t)64 << 20) / (size ? size : 1);
    return n < 16 ? 16 : n > 100000 ? 100000 : (int)n;
}

static int zmq_prepare(struct run *r)
{
    static unsigned counter;
    snprintf(r->name, sizeof r->name, "ipc:///tmp/smipc-bench-zmq-%d-%u", (int)getpid(), counter++);
    return 0;
}

static void zmq_cleanup(struct run *r)
{
    unlink(r->name + strlen("ipc://"));
}

static void zmq_serve(struct run *r)
{
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, r->w == W_M2O ? ZMQ_ROUTER : ZMQ_PAIR);
    int hwm = zmq_queue_limit(r->size);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind(s, r->name)) {
        r->sh->server.failed = 1;
        bench_say_ready(r);
        return;
    }
    bench_say_ready(r);
    size_t cap = r->size > RTT_SIZE ? r->size : RTT_SIZE;
    char *buf = malloc(cap), id[256];
    struct stream_count sc = {0};
    int byes = 0;
    while (buf) {
        int idlen = 0;
        if (r->w == W_M2O && (idlen = zmq_recv(s, id, sizeof id, 0)) < 0)
            break;
        int n = zmq_recv(s, buf, cap, 0);
        if (n < 0) {
            r->sh->server.failed = 1;
            break;
        }
        if (r->w == W_STREAM) {
            if (stream_take(r, &sc, buf))
                break;
        } else if ((unsigned char)buf[0] == BYE) {
            if (++byes == r->clients)
                break;
        } else if ((r->w == W_M2O && zmq_send(s, id, (size_t)idlen, ZMQ_SNDMORE) < 0) ||
                   zmq_send(s, buf, (size_t)n, 0) < 0) {
            r->sh->server.failed = 1;
            break;
        }
    }
    free(buf);
    zmq_close(s);
    zmq_ctx_destroy(ctx);
}

static int zmq_rt(void *arg, char *msg)
{
    char back[RTT_SIZE];
    return zmq_send(arg, msg, RTT_SIZE, 0) < 0 || zmq_recv(arg, back, sizeof back, 0) < 0;
}

static int zmq_send1(void *arg, const char *buf, size_t n)
{
    return zmq_send(arg, buf, n, 0) < 0;
}

static void zmq_client(struct run *r, int i)
{
    bench_wait_ready(r);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, r->w == W_M2O ? ZMQ_DEALER : ZMQ_PAIR);
    int hwm = zmq_queue_limit(r->size);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_connect(s, r->name)) {
        bench_gave_up(r, i);
    } else if (r->w == W_STREAM) {
        stream_loop(r, zmq_send1, s);
    } else {
        rtt_loop(r, i, zmq_rt, s);
        char bye[RTT_SIZE] = {(char)BYE};
        zmq_send(s, bye, sizeof bye, 0);
    }
    int linger = 5000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s);
    zmq_ctx_destroy(ctx);
}

const struct peer peer_zmq = {"zeromq",  zmq_unavailable, rtt_and_stream, zmq_prepare,
                              zmq_serve, zmq_client,      zmq_cleanup};
#else
static const char *zmq_unavailable(void)
{
    return "not in this build (libzmq3-dev was missing when smipc was built, this is a "
           "sanitizer build, or the smipc that pip installs, which never links libzmq; "
           "build with meson for it)";
}

const struct peer peer_zmq = {"zeromq", zmq_unavailable, NULL, NULL, NULL, NULL, NULL};
#endif

/* ---- smipc's zero-copy calls: the producer writes each message in place (a loan), the
 * consumer reads it in place (a view); the checksum is still computed and checked ---- */

static size_t loan_max_size(void)
{
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    return cfg.bulk_size; /* what one loan can hold on the defaults */
}

static int loan_supports(enum workload w)
{
    return w == W_STREAM;
}

static void loan_serve(struct run *r)
{
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    if (bench_no_checksum)
        cfg.flags |= SMIPC_NO_CHECKSUM;
    smipc_server *srv;
    if (smipc_server_open(&srv, r->name, &cfg)) {
        r->sh->server.failed = 1;
        bench_say_ready(r);
        return;
    }
    bench_say_ready(r);
    struct stream_count sc = {0};
    for (;;) {
        smipc_client_id from;
        const void *data;
        size_t len;
        if (smipc_server_recv_view(srv, &from, &data, &len, NULL, 10000)) {
            r->sh->server.failed = 1;
            break;
        }
        int last = stream_take(r, &sc, data);
        smipc_server_release(srv);
        if (last)
            break;
    }
    smipc_server_close(srv);
}

/* The message "made" in place: filled with its first byte (the end marker or not). */
static int loan_send1(void *arg, const char *buf, size_t n)
{
    void *room;
    if (smipc_client_loan(arg, &room, n, 10000))
        return 1;
    memset(room, buf[0], n);
    return smipc_client_commit(arg, n);
}

static void loan_run_client(struct run *r, int i)
{
    bench_wait_ready(r);
    smipc_client *cli;
    if (smipc_client_connect(&cli, r->name, 10000)) {
        bench_gave_up(r, i);
        return;
    }
    stream_loop(r, loan_send1, cli);
    smipc_client_close(cli);
}

const struct peer peer_loan = {"loan",     smipc_unavailable, loan_supports, smipc_prepare,
                               loan_serve, loan_run_client,   smipc_cleanup, loan_max_size};

/* ---- a bare ring: slots of one message each, a lock word per slot, memcpy in and out,
 * both sides spinning; no checksums, no checks, no waiting protocol ---- */

#define RING_BYTES ((size_t)4 << 20)
#define RING_HDR   64 /* the lock word's own line */

struct ring_geometry {
    size_t slot, slots;
};

/* 4 MiB of slots just large enough for the message (4 to 64 of them). */
static struct ring_geometry ring_geometry(size_t size)
{
    struct ring_geometry g;
    g.slot = RING_HDR + ((size + 63) & ~(size_t)63);
    g.slots = RING_BYTES / g.slot;
    g.slots = g.slots < 4 ? 4 : g.slots > 64 ? 64 : g.slots;
    return g;
}

static _Atomic uint32_t *ring_lock(struct run *r, const struct ring_geometry *g, size_t i)
{
    return (_Atomic uint32_t *)(void *)((char *)r->mem + i * g->slot);
}

static int ring_prepare(struct run *r)
{
    struct ring_geometry g = ring_geometry(r->size);
    r->mem_size = g.slot * g.slots;
    r->mem = mmap(NULL, r->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r->mem == MAP_FAILED)
        return -1;
    memset(r->mem, 0, r->mem_size);
    return 0;
}

static void ring_cleanup(struct run *r)
{
    munmap(r->mem, r->mem_size);
}

static void ring_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void ring_serve(struct run *r)
{
    struct ring_geometry g = ring_geometry(r->size);
    char *out = malloc(r->size ? r->size : 1);
    struct stream_count sc = {0};
    bench_say_ready(r);
    double give_up = bench_now() + r->seconds + 10;
    for (size_t pos = 0; out; pos = (pos + 1) % g.slots) {
        _Atomic uint32_t *lock = ring_lock(r, &g, pos);
        while (atomic_load_explicit(lock, memory_order_acquire) != 1) {
            ring_relax();
            if (bench_now() > give_up) { /* the client died */
                r->sh->server.failed = 1;
                free(out);
                return;
            }
        }
        memcpy(out, (char *)lock + RING_HDR, r->size);
        atomic_store_explicit(lock, 0, memory_order_release);
        if (stream_take(r, &sc, out))
            break;
    }
    free(out);
}

struct ring_producer {
    struct run *r;
    struct ring_geometry g;
    size_t pos;
};

static int ring_send1(void *arg, const char *buf, size_t n)
{
    struct ring_producer *p = arg;
    _Atomic uint32_t *lock = ring_lock(p->r, &p->g, p->pos);
    while (atomic_load_explicit(lock, memory_order_acquire) != 0)
        ring_relax();
    memcpy((char *)lock + RING_HDR, buf, n);
    atomic_store_explicit(lock, 1, memory_order_release);
    p->pos = (p->pos + 1) % p->g.slots;
    return 0;
}

static void ring_run_client(struct run *r, int i)
{
    (void)i;
    bench_wait_ready(r);
    struct ring_producer p = {r, ring_geometry(r->size), 0};
    stream_loop(r, ring_send1, &p);
}

const struct peer peer_ring = {"ring",     always_available, loan_supports, ring_prepare,
                               ring_serve, ring_run_client,  ring_cleanup};
