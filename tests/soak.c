/* Soak: one server process and many client processes exchange checked messages for a
 * while, both ways and by broadcast, while clients join and leave all the time, some are
 * SIGKILLed in the middle of a message and some are stopped (SIGSTOP) for seconds.
 *
 *   soak [--seconds S] [--clients N] [--max-size BYTES] [--seed X]
 *        [--packet-size BYTES] [--ring-packets N] [--no-checksum] [--max-clients N]
 *                                                       (the server's limits)
 *
 * Every message says who sent it, its place in its stream and its length, and its bytes
 * are a function of those, so the receiver sees any message lost, duplicated, reordered,
 * cut short or mangled. What counts as lost:
 *   - client to server: a message whose smipc_client_send returned OK (the client counts
 *     them in shared memory) must reach the server, whether or not the client is killed
 *     later (messages sent before a death are delivered);
 *   - server to client: a message whose smipc_server_send returned OK must reach a client
 *     that was not killed (each leaves with a goodbye answered by the server's last
 *     message, so everything before it is known to have been sent);
 *   - a broadcast that returned OK reached every live client: a client that sees a later
 *     message from the server without having seen it lost it (one that missed someone is
 *     owed to nobody, and no more clients may get it than *delivered says).
 * A killed client's partial message must never arrive at all: it would show as corrupt.
 * A call that returns more than 1 s past its own timeout (in a process that was not
 * stopped meanwhile) is a hang; so is a client that cannot finish within 90 s of the end.
 * Client threads wait every way the API offers: recv with a timeout, recv(-1), and poll()
 * on smipc_client_fd; beside the server's receiving thread another polls smipc_server_fd
 * from a random moment on. The server's descriptors must be as many at the end as at the
 * start, and each client's as many after smipc_client_close as before it connected.
 *
 * A test program linked with the public API only (not a `smipc soak` subcommand): the
 * smipc command ships in the Python wheel, and this needs nothing but the library.
 * Prints progress lines, then plain numbers; exits 1 on any violation. */
#include <smipc.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HDR       32u        /* bytes of the header a message carries when it is this long */
#define MAX_LIVES (1u << 18) /* client processes in one run */
#define MAX_BCAST (1u << 20) /* broadcasts in one run */

enum kind { K_DATA = 0x4b4f5331, K_BYE, K_FIN, K_BCAST };
enum dir { DIR_C2S = 1, DIR_S2C, DIR_BCAST };
enum outcome { B_UNKNOWN = 0, B_ALL, B_SOME };
enum life_state { L_STARTING = 0, L_CONNECTED, L_DONE };

/* One client process's life, written by the client, the server and the runner. */
struct life {
    _Atomic uint64_t cli_id;       /* client: its id, once connected */
    _Atomic uint64_t sent_ok;      /* client: messages whose send returned OK */
    _Atomic uint64_t c2s_next;     /* server: the next sequence number it expects */
    _Atomic uint64_t s2c_sent_ok;  /* server: direct messages whose send returned OK */
    _Atomic uint64_t s2c_next;     /* client: the next direct sequence number it expects */
    _Atomic uint32_t state;        /* client: enum life_state */
    _Atomic uint32_t in_big_send;  /* client: inside a send larger than the ring */
    _Atomic uint32_t bye_seen;     /* server: 1 goodbye seen, 2 answered */
    _Atomic uint32_t stops, conts; /* runner: SIGSTOPs and SIGCONTs sent (counted before) */
    uint32_t killed, stopped;      /* runner */
    pid_t pid;                     /* runner */
    int status;                    /* runner: waitpid status */
};

struct shared {
    /* totals, from every process */
    _Atomic uint64_t msgs, bytes, lost, corrupt, dup, miscounted, failures, hangs;
    _Atomic uint64_t bcasts, bcasts_all, worst_overrun_ms;
    /* where the time went (for reading the figures, not checked) */
    _Atomic uint64_t ms_recv, ms_send, ms_bcast, send_timeouts, cli_send_timeouts;
    _Atomic int64_t worst_fd_ms;
    _Atomic uint64_t refused_full;
    _Atomic uint32_t finish_clients, finish_server, server_ready, printed;
    /* the server's own figures */
    _Atomic int64_t fds_before_open, fds_start, fds_end, fds_after_close, server_rss_kb;
    _Atomic uint32_t server_drained;
    /* per broadcast: how it went, how many clients the server says got it, how many did */
    _Atomic uint8_t b_outcome[MAX_BCAST];
    _Atomic uint32_t b_delivered[MAX_BCAST], b_received[MAX_BCAST], b_listed[MAX_BCAST];
    _Atomic uint32_t b_stopped[MAX_BCAST];
    _Atomic uint32_t nstopped; /* runner: clients stopped now */
    struct life lives[MAX_LIVES];
};

static struct shared *sh;
static const char *name;
static size_t max_size = 6u << 20;
static uint64_t seed = 1;
static double seconds = 20;
static smipc_server_config cfg; /* the server's limits: defaults unless told otherwise */

/* ---- message contents ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t key_of(uint32_t dir, uint32_t life, uint64_t seq)
{
    return mix64(mix64(seed ^ ((uint64_t)dir << 32 | life)) ^ seq);
}

/* The length of message seq of a stream: a function of the stream, so that even an empty
 * message's place can be checked. Mostly small, some beyond the ring, a few MiB. */
static size_t size_of(uint32_t dir, uint32_t life, uint64_t seq)
{
    uint64_t h = mix64(key_of(dir, life, seq) + 0x51);
    unsigned r = (unsigned)(h % 1000);
    h >>= 10;
    size_t s;
    if (r < 40)
        s = h % HDR; /* 0 .. 31: too short for a header (0 included) */
    else if (r < 600)
        s = HDR + h % 1024;
    else if (r < 900)
        s = 1024 + h % (32u << 10);
    else if (r < 985)
        s = (32u << 10) + h % (480u << 10);
    else
        s = (512u << 10) + h % (max_size > (1u << 20) ? max_size - (512u << 10) : (512u << 10));
    if (s > max_size)
        s = max_size;
    if ((seq == 0 || dir == DIR_BCAST) && s < HDR)
        s = HDR; /* the first message of a stream and every broadcast say who they are */
    return s;
}

static inline uint64_t xs_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static void fill(uint8_t *p, size_t n, uint64_t key)
{
    uint64_t s = key | 1, v;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v = xs_next(&s);
        memcpy(p + i, &v, 8);
    }
    if (i < n) {
        v = xs_next(&s);
        memcpy(p + i, &v, n - i);
    }
}

static int intact(const uint8_t *p, size_t n, uint64_t key)
{
    uint64_t s = key | 1, v, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v = xs_next(&s);
        memcpy(&w, p + i, 8);
        if (v != w)
            return 0;
    }
    if (i < n) {
        v = xs_next(&s);
        return !memcmp(p + i, &v, n - i);
    }
    return 1;
}

struct hdr {
    uint32_t kind, life; /* life: the sender's (to the server), the addressee's (from it) */
    uint64_t seq, len;
    uint32_t bnext; /* from the server: the broadcasts it had sent before this message */
    uint32_t check;
};

static uint32_t hdr_check(const struct hdr *h)
{
    return (uint32_t)mix64(key_of(h->kind, h->life, h->seq) ^ h->len ^ (uint64_t)h->bnext << 40);
}

/* Builds message seq of a stream into buf (len bytes). */
static void build(uint8_t *buf, size_t len, uint32_t kind, uint32_t dir, uint32_t life,
                  uint64_t seq, uint32_t bnext)
{
    uint64_t key = key_of(dir, life, seq);
    if (len < HDR) {
        fill(buf, len, key);
        return;
    }
    struct hdr h = {kind, life, seq, len, bnext, 0};
    h.check = hdr_check(&h);
    memcpy(buf, &h, HDR);
    fill(buf + HDR, len - HDR, key);
}

/* 1 when buf holds a header that is internally consistent. */
static int parse(const uint8_t *buf, size_t len, struct hdr *h)
{
    if (len < HDR)
        return 0;
    memcpy(h, buf, HDR);
    return h->check == hdr_check(h) && h->len == len && h->kind >= K_DATA && h->kind <= K_BCAST;
}

/* ---- reporting ---- */

static void violation(_Atomic uint64_t *counter, uint64_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void violation(_Atomic uint64_t *counter, uint64_t n, const char *fmt, ...)
{
    atomic_fetch_add(counter, n);
    if (atomic_fetch_add(&sh->printed, 1) >= 40)
        return; /* the first ones tell the story */
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int k = snprintf(line, sizeof line, "soak: VIOLATION: ");
    k += vsnprintf(line + k, sizeof line - (size_t)k - 1, fmt, ap);
    va_end(ap);
    if (k > (int)sizeof line - 2)
        k = (int)sizeof line - 2;
    line[k++] = '\n';
    fflush(stdout);
    if (write(2, line, (size_t)k) < 0) /* one write: lines from many processes stay whole */
        abort();
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A call that blocked well past its own timeout is a hang (it gets a second of slack
 * for a loaded machine; the worst overrun is printed either way). */
static void overrun(const char *what, int timeout_ms, int64_t started, struct life *stoppable,
                    uint32_t stops_before)
{
    /* a process stopped during the call was not running: its clock says nothing */
    if (stoppable && (atomic_load(&stoppable->stops) != stops_before ||
                      atomic_load(&stoppable->conts) != stops_before))
        return;
    int64_t over = now_ms() - started - timeout_ms;
    uint64_t cur = atomic_load(&sh->worst_overrun_ms);
    while (over > 0 && (uint64_t)over > cur &&
           !atomic_compare_exchange_weak(&sh->worst_overrun_ms, &cur, (uint64_t)over))
        ;
    if (over > 1000)
        violation(&sh->hangs, 1, "%s with timeout %d ms returned after %" PRId64 " ms", what,
                  timeout_ms, over + timeout_ms);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - 1;
}

/* A random number generator per process. */
static uint64_t rng_state;
static uint64_t rnd(void)
{
    return xs_next(&rng_state);
}
static int chance(unsigned per_mille)
{
    return rnd() % 1000 < per_mille;
}
static void pause_ms(int ms)
{
    poll(NULL, 0, ms);
}

/* A receive buffer that grows when a receive says SMIPC_ETOOSMALL. */
struct rbuf {
    uint8_t *p;
    size_t cap;
};

static int rbuf_grow(struct rbuf *b, size_t need)
{
    if (need > max_size + HDR)
        return -1;
    uint8_t *p = realloc(b->p, need);
    if (!p)
        abort();
    b->p = p;
    b->cap = need;
    return 0;
}

/* ---- the server process ---- */

/* Client ids to lives: ids are never reused, entries never removed. */
struct idmap {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap, n;
};

static uint32_t *idmap_slot(struct idmap *m, uint64_t id)
{
    for (size_t i = mix64(id) & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
        if (m->keys[i] == id || m->keys[i] == 0) {
            if (m->keys[i] == 0)
                m->keys[i] = id, m->vals[i] = UINT32_MAX;
            return &m->vals[i];
        }
}

static uint32_t idmap_get(struct idmap *m, uint64_t id)
{
    for (size_t i = mix64(id) & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
        if (m->keys[i] == id || m->keys[i] == 0)
            return m->keys[i] ? m->vals[i] : UINT32_MAX;
}

static void idmap_put(struct idmap *m, uint64_t id, uint32_t life)
{
    if (2 * (m->n + 1) > m->cap) {
        struct idmap bigger = {calloc(m->cap * 2, 8), calloc(m->cap * 2, 4), m->cap * 2, 0};
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i])
                *idmap_slot(&bigger, m->keys[i]) = m->vals[i], bigger.n++;
        free(m->keys);
        free(m->vals);
        *m = bigger;
    }
    uint32_t *v = idmap_slot(m, id);
    if (*v == UINT32_MAX)
        m->n++;
    *v = life;
}

struct server {
    smipc_server *srv;
    struct idmap ids;
    uint32_t *active; /* lives that are connected, as far as the server knows */
    size_t nactive;
    uint32_t *fins; /* lives that said goodbye and wait for the last message */
    size_t nfins;
    uint32_t bnext;
    uint8_t *out;
    struct rbuf in;
};

static void remove_active(struct server *s, size_t i)
{
    s->active[i] = s->active[--s->nactive];
}

/* Sends the next direct message (or the last one, after a goodbye) to a life. 1 when
 * it went, 0 when it timed out, -1 when the client is gone. */
static int send_direct(struct server *s, uint32_t life, int timeout_ms)
{
    struct life *l = &sh->lives[life];
    uint64_t seq = atomic_load(&l->s2c_sent_ok);
    uint32_t bye = atomic_load(&l->bye_seen);
    if (bye == 2)
        return -1; /* its last message went: nothing more for it */
    int fin = bye == 1;
    size_t len = fin ? HDR : size_of(DIR_S2C, life, seq);
    build(s->out, len, fin ? K_FIN : K_DATA, DIR_S2C, life, seq, s->bnext);
    int64_t t0 = now_ms();
    int rc = smipc_server_send(s->srv, atomic_load(&l->cli_id), s->out, len, timeout_ms);
    overrun("smipc_server_send", timeout_ms, t0, NULL, 0);
    atomic_fetch_add(&sh->ms_send, (uint64_t)(now_ms() - t0));
    atomic_fetch_add(&sh->send_timeouts, rc == SMIPC_ETIMEDOUT);
    if (rc == SMIPC_OK) {
        atomic_store(&l->s2c_sent_ok, seq + 1);
        if (fin)
            atomic_store(&l->bye_seen, 2);
        atomic_fetch_add(&sh->bytes, len);
        return 1;
    }
    if (rc == SMIPC_ETIMEDOUT)
        return 0;
    if (rc != SMIPC_ECLOSED && rc != SMIPC_ENOCLIENT)
        violation(&sh->failures, 1, "smipc_server_send to life %u: %s", life, smipc_strerror(rc));
    return -1;
}

static void broadcast(struct server *s)
{
    uint32_t b = s->bnext;
    if (b >= MAX_BCAST)
        return;
    size_t len = size_of(DIR_BCAST, 0, b), delivered = 0, listed = 0;
    build(s->out, len, K_BCAST, DIR_BCAST, 0, b, b);
    smipc_server_clients(s->srv, NULL, 0, &listed);
    atomic_store(&sh->b_listed[b], (uint32_t)listed);
    atomic_store(&sh->b_stopped[b], atomic_load(&sh->nstopped));
    int64_t t0 = now_ms();
    int rc = smipc_server_broadcast(s->srv, s->out, len, 300, &delivered);
    overrun("smipc_server_broadcast", 300, t0, NULL, 0);
    atomic_fetch_add(&sh->ms_bcast, (uint64_t)(now_ms() - t0));
    if (rc != SMIPC_OK && rc != SMIPC_ETIMEDOUT && rc != SMIPC_ECLOSED && rc != SMIPC_ENOCLIENT)
        violation(&sh->failures, 1, "smipc_server_broadcast: %s", smipc_strerror(rc));
    atomic_store(&sh->b_delivered[b], (uint32_t)delivered);
    /* written before any later message leaves, so a client that sees one knows this */
    atomic_store(&sh->b_outcome[b], rc == SMIPC_OK ? B_ALL : B_SOME);
    atomic_fetch_add(&sh->bcasts, 1);
    atomic_fetch_add(&sh->bcasts_all, rc == SMIPC_OK);
    atomic_fetch_add(&sh->bytes, len * delivered);
    s->bnext = b + 1;
}

/* Checks one message from a client against what its stream must hold next. */
static void server_got(struct server *s, smipc_client_id from, const uint8_t *m, size_t len)
{
    struct hdr h;
    uint32_t life = idmap_get(&s->ids, from);
    if (life == UINT32_MAX) {
        /* the first message of a client: says which life it is */
        if (!parse(m, len, &h) || h.kind != K_DATA || h.seq != 0 || h.life >= MAX_LIVES ||
            atomic_load(&sh->lives[h.life].cli_id) != from || len != size_of(DIR_C2S, h.life, 0) ||
            !intact(m + HDR, len - HDR, key_of(DIR_C2S, h.life, 0))) {
            violation(&sh->corrupt, 1,
                      "first message of client %" PRIu64 " (%zu bytes) is not its hello", from,
                      len);
            return;
        }
        life = h.life;
        idmap_put(&s->ids, from, life);
        atomic_store(&sh->lives[life].c2s_next, 1);
        s->active[s->nactive++] = life;
        send_direct(s, life, 1000); /* its first message says where its broadcasts start */
        return;
    }
    struct life *l = &sh->lives[life];
    uint64_t want = atomic_load(&l->c2s_next);
    if (atomic_load(&l->bye_seen)) {
        violation(&sh->corrupt, 1, "life %u: a message after its goodbye", life);
        return;
    }
    if (len < HDR) {
        if (len != size_of(DIR_C2S, life, want) || !intact(m, len, key_of(DIR_C2S, life, want)))
            violation(&sh->corrupt, 1,
                      "life %u: message %" PRIu64 " (%zu bytes) is not what was sent", life, want,
                      len);
        atomic_store(&l->c2s_next, want + 1);
        return;
    }
    if (!parse(m, len, &h) || h.life != life || (h.kind != K_DATA && h.kind != K_BYE)) {
        violation(&sh->corrupt, 1, "life %u: message %" PRIu64 " (%zu bytes) has a bad header",
                  life, want, len);
        atomic_store(&l->c2s_next, want + 1);
        return;
    }
    if (h.seq < want) {
        violation(&sh->dup, 1, "life %u: message %" PRIu64 " again (expected %" PRIu64 ")", life,
                  h.seq, want);
        return;
    }
    if (h.seq > want)
        violation(&sh->lost, h.seq - want, "life %u: messages %" PRIu64 "..%" PRIu64 " lost", life,
                  want, h.seq - 1);
    size_t expect = h.kind == K_BYE ? HDR : size_of(DIR_C2S, life, h.seq);
    if (len != expect || !intact(m + HDR, len - HDR, key_of(DIR_C2S, life, h.seq)))
        violation(&sh->corrupt, 1,
                  "life %u: message %" PRIu64 " (%zu bytes, expected %zu) is mangled", life, h.seq,
                  len, expect);
    atomic_store(&l->c2s_next, h.seq + 1);
    if (h.kind == K_BYE) {
        atomic_store(&l->bye_seen, 1);
        s->fins[s->nfins++] = life;
    }
}

/* Forgets lives the server no longer lists (they may still deliver what they sent). */
static void refresh_active(struct server *s)
{
    static smipc_client_id ids[4096];
    size_t n = 0;
    if (smipc_server_clients(s->srv, ids, 4096, &n) != SMIPC_OK)
        return;
    for (size_t i = s->nactive; i-- > 0;) {
        uint64_t id = atomic_load(&sh->lives[s->active[i]].cli_id);
        int listed = 0;
        for (size_t j = 0; j < n && j < 4096 && !listed; j++)
            listed = ids[j] == id;
        if (!listed)
            remove_active(s, i);
    }
}

static void send_fins(struct server *s, int timeout_ms)
{
    for (size_t i = s->nfins; i-- > 0;)
        if (send_direct(s, s->fins[i], timeout_ms) != 0)
            s->fins[i] = s->fins[--s->nfins];
}

/* 1 when a message came (or a receive error was handled), 0 when none in time. */
static int server_recv_one(struct server *s, int timeout_ms)
{
    smipc_client_id from = 0;
    size_t len = s->in.cap;
    int64_t t0 = now_ms();
    int rc = smipc_server_recv(s->srv, &from, s->in.p, &len, timeout_ms);
    overrun("smipc_server_recv", timeout_ms, t0, NULL, 0);
    atomic_fetch_add(&sh->ms_recv, (uint64_t)(now_ms() - t0));
    if (rc == SMIPC_ETOOSMALL) {
        /* it stays queued and comes again (perhaps after other clients' messages: the
         * receive goes round-robin, and its packets may still be on their way) */
        if (rbuf_grow(&s->in, len) != 0)
            violation(&sh->corrupt, 1, "client %" PRIu64 " has a message of %zu bytes queued", from,
                      len);
        return 1;
    }
    if (rc == SMIPC_ETIMEDOUT)
        return 0;
    if (rc != SMIPC_OK) {
        violation(&sh->failures, 1, "smipc_server_recv: %s (client %" PRIu64 ")",
                  smipc_strerror(rc), from);
        return 1;
    }
    atomic_fetch_add(&sh->msgs, 1);
    atomic_fetch_add(&sh->bytes, len);
    server_got(s, from, s->in.p, len);
    return 1;
}

/* A second thread on the server's handle, as an event loop beside the receiving thread
 * would be: at a random moment of the run's first half (so that it meets a receive under
 * way, and the run sees both modes) it asks for
 * smipc_server_fd, then polls it until the end. The receive then runs in the library's
 * descriptor mode, whose readiness it keeps up to date on every call. */
struct watcher {
    smipc_server *srv;
    int start_after_ms;
    _Atomic int stop;
};

static void *server_watcher(void *arg)
{
    struct watcher *w = arg;
    pause_ms(w->start_after_ms);
    int fd = smipc_server_fd(w->srv);
    if (fd < 0) {
        violation(&sh->failures, 1, "smipc_server_fd: %s", smipc_strerror(fd));
        return NULL;
    }
    while (!atomic_load(&w->stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 20);
        int again = smipc_server_fd(w->srv);
        if (again != fd)
            violation(&sh->failures, 1, "smipc_server_fd gave %d, then %d", fd, again);
    }
    return NULL;
}

static int server_main(void)
{
    struct server s = {0};
    s.ids = (struct idmap){calloc(1024, 8), calloc(1024, 4), 1024, 0};
    s.active = calloc(MAX_LIVES, sizeof *s.active);
    s.fins = calloc(MAX_LIVES, sizeof *s.fins);
    s.out = malloc(max_size + HDR);
    rbuf_grow(&s.in, 64u << 10);
    atomic_store(&sh->fds_before_open, count_fds());
    int rc = smipc_server_open(&s.srv, name, &cfg);
    if (rc != SMIPC_OK) {
        fprintf(stderr, "soak: smipc_server_open: %s\n", smipc_strerror(rc));
        return 1;
    }
    atomic_store(&sh->fds_start, count_fds());
    atomic_store(&sh->server_ready, 1);
    /* in the first half of the run: the second half runs in descriptor mode */
    struct watcher w = {.srv = s.srv,
                        .start_after_ms = (int)(rnd() % (uint64_t)(seconds * 500 + 1))};
    pthread_t wt;
    if (pthread_create(&wt, NULL, server_watcher, &w) != 0)
        abort();
    int64_t next_refresh = 0;
    while (!atomic_load(&sh->finish_server)) {
        server_recv_one(&s, 20);
        if (s.nactive && chance(600))
            if (send_direct(&s, s.active[rnd() % s.nactive], 20) < 0)
                refresh_active(&s);
        if (chance(15))
            broadcast(&s);
        send_fins(&s, 0);
        if (now_ms() >= next_refresh) {
            refresh_active(&s);
            next_refresh = now_ms() + 100;
        }
    }
    /* Every client process has ended: take what they left until no client is listed and
     * nothing is queued (a dead client's messages stay until received). */
    int64_t end = now_ms() + 30000;
    for (;;) {
        size_t n = 1;
        smipc_server_clients(s.srv, NULL, 0, &n);
        if (!server_recv_one(&s, n ? 100 : 0) && n == 0)
            break;
        send_fins(&s, 0);
        if (now_ms() > end) {
            violation(&sh->hangs, 1, "the server still lists %zu clients 30 s after all ended", n);
            break;
        }
    }
    atomic_store(&sh->server_drained, 1);
    /* the last departures' descriptors go when the server's thread has reaped them */
    for (end = now_ms() + 5000; count_fds() != atomic_load(&sh->fds_start) && now_ms() < end;)
        pause_ms(10);
    atomic_store(&sh->fds_end, count_fds());
    atomic_store(&w.stop, 1);
    pthread_join(wt, NULL);
    smipc_server_close(s.srv);
    atomic_store(&sh->fds_after_close, count_fds());
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    atomic_store(&sh->server_rss_kb, ru.ru_maxrss);
    return 0;
}

/* ---- a client process ---- */

/* How a client's receiving thread waits. */
enum recv_mode {
    RM_TIMED,   /* smipc_client_recv with a 200 ms timeout */
    RM_FOREVER, /* smipc_client_recv(-1), while the other thread asks for smipc_client_fd */
    RM_POLL     /* poll() on smipc_client_fd, then smipc_client_recv(0): an event loop */
};

struct client {
    smipc_client *cli;
    enum recv_mode mode;
    int fd;
    uint32_t life;
    struct life *l;
    _Atomic int64_t bye_at; /* when the goodbye went (0: not yet) */
    _Atomic int give_up;    /* the sender failed: no answer will come */
    int64_t bcast_from;     /* broadcasts from here on are owed to it, once known (-1) */
    int64_t last_b;
};

/* Broadcasts [from, to) were not seen: each that the server says every client got is lost. */
static void owed(struct client *c, int64_t to)
{
    for (int64_t m = c->bcast_from; m < to; m++)
        if (atomic_load(&sh->b_outcome[m]) == B_ALL)
            violation(&sh->lost, 1,
                      "life %u: broadcast %" PRId64 " that every client got is missing", c->life,
                      m);
    if (to > c->bcast_from)
        c->bcast_from = to;
}

static void client_got_bcast(struct client *c, const struct hdr *h, const uint8_t *m, size_t len)
{
    int64_t b = (int64_t)h->seq;
    if (b >= MAX_BCAST || len != size_of(DIR_BCAST, 0, h->seq) ||
        !intact(m + HDR, len - HDR, key_of(DIR_BCAST, 0, h->seq))) {
        violation(&sh->corrupt, 1, "life %u: broadcast %" PRId64 " (%zu bytes) is mangled", c->life,
                  b, len);
        return;
    }
    if (b <= c->last_b || b < c->bcast_from) {
        violation(&sh->dup, 1, "life %u: broadcast %" PRId64 " after %" PRId64, c->life, b,
                  c->last_b);
        return;
    }
    c->last_b = b;
    atomic_fetch_add(&sh->b_received[b], 1);
    if (c->bcast_from >= 0) {
        owed(c, b);
        c->bcast_from = b + 1;
    }
}

/* Returns 1 at the server's last message. */
static int client_got(struct client *c, const uint8_t *m, size_t len)
{
    struct hdr h;
    if (len >= HDR && parse(m, len, &h) && h.kind == K_BCAST) {
        client_got_bcast(c, &h, m, len);
        return 0;
    }
    uint64_t want = atomic_load(&c->l->s2c_next);
    if (len < HDR) {
        if (len != size_of(DIR_S2C, c->life, want) ||
            !intact(m, len, key_of(DIR_S2C, c->life, want)))
            violation(&sh->corrupt, 1,
                      "life %u: direct message %" PRIu64 " (%zu bytes) is not what was sent",
                      c->life, want, len);
        atomic_store(&c->l->s2c_next, want + 1);
        return 0;
    }
    if (!parse(m, len, &h) || h.life != c->life || (h.kind != K_DATA && h.kind != K_FIN)) {
        violation(&sh->corrupt, 1,
                  "life %u: direct message %" PRIu64 " (%zu bytes) has a bad header%s", c->life,
                  want, len, len >= HDR && h.life != c->life ? " (another client's?)" : "");
        atomic_store(&c->l->s2c_next, want + 1);
        return 0;
    }
    if (h.seq < want) {
        violation(&sh->dup, 1, "life %u: direct message %" PRIu64 " again (expected %" PRIu64 ")",
                  c->life, h.seq, want);
        return 0;
    }
    if (h.seq > want)
        violation(&sh->lost, h.seq - want, "life %u: direct messages %" PRIu64 "..%" PRIu64 " lost",
                  c->life, want, h.seq - 1);
    size_t expect = h.kind == K_FIN ? HDR : size_of(DIR_S2C, c->life, h.seq);
    if (len != expect || !intact(m + HDR, len - HDR, key_of(DIR_S2C, c->life, h.seq)))
        violation(&sh->corrupt, 1,
                  "life %u: direct message %" PRIu64 " (%zu bytes, expected %zu) is mangled",
                  c->life, h.seq, len, expect);
    atomic_store(&c->l->s2c_next, h.seq + 1);
    /* every broadcast before this message that reached all clients reached this one */
    if (c->bcast_from < 0)
        c->bcast_from = h.bnext; /* the first: nothing was owed before it */
    else
        owed(c, h.bnext);
    return h.kind == K_FIN;
}

/* 1 when the receiver should give up waiting. */
static int receiver_gives_up(struct client *c)
{
    if (atomic_load(&c->give_up))
        return 1;
    int64_t bye = atomic_load(&c->bye_at);
    if (bye && now_ms() - bye > 60000) {
        violation(&sh->lost, 1, "life %u: the server's answer to its goodbye never came%s", c->life,
                  c->mode == RM_POLL ? " (or its descriptor never said so)" : "");
        return 1;
    }
    return 0;
}

static void *client_receiver(void *arg)
{
    struct client *c = arg;
    struct rbuf in = {0};
    rbuf_grow(&in, 64u << 10);
    int timeout = c->mode == RM_TIMED ? 200 : c->mode == RM_FOREVER ? -1 : 0;
    for (;;) {
        if (c->mode == RM_POLL) {
            struct pollfd p = {.fd = c->fd, .events = POLLIN};
            if (poll(&p, 1, 200) == 0) {
                if (receiver_gives_up(c))
                    break;
                continue;
            }
        }
        size_t len = in.cap;
        int64_t t0 = now_ms();
        uint32_t stops = atomic_load(&c->l->stops);
        int rc = smipc_client_recv(c->cli, in.p, &len, timeout);
        if (timeout >= 0)
            overrun("smipc_client_recv", timeout, t0, c->l, stops);
        if (rc == SMIPC_ETOOSMALL) {
            if (rbuf_grow(&in, len) != 0) {
                violation(&sh->corrupt, 1, "life %u: a message of %zu bytes queued", c->life, len);
                break;
            }
            continue; /* the message stays queued */
        }
        if (rc == SMIPC_ETIMEDOUT) {
            /* (poll: a spurious wake-up, or a message not whole yet) */
            if (receiver_gives_up(c))
                break;
            continue;
        }
        if (rc != SMIPC_OK) {
            if (!atomic_load(&c->give_up)) /* (else the sender shut the handle down) */
                violation(&sh->failures, 1, "life %u: smipc_client_recv: %s", c->life,
                          smipc_strerror(rc));
            break;
        }
        atomic_fetch_add(&sh->msgs, 1);
        if (client_got(c, in.p, len)) {
            atomic_store(&c->l->state, L_DONE);
            break;
        }
    }
    free(in.p);
    return NULL;
}

/* Sends until the seq'th message went, retrying after timeouts; 0 on success. */
static int client_send(struct client *c, uint8_t *buf, size_t len)
{
    for (;;) {
        int64_t t0 = now_ms();
        uint32_t stops = atomic_load(&c->l->stops);
        int rc = smipc_client_send(c->cli, buf, len, 1000);
        overrun("smipc_client_send", 1000, t0, c->l, stops);
        if (rc == SMIPC_OK) {
            atomic_fetch_add(&c->l->sent_ok, 1);
            return 0;
        }
        atomic_fetch_add(&sh->cli_send_timeouts, rc == SMIPC_ETIMEDOUT);
        if (rc != SMIPC_ETIMEDOUT) {
            violation(&sh->failures, 1, "life %u: smipc_client_send: %s", c->life,
                      smipc_strerror(rc));
            return -1;
        }
    }
}

static int client_main(uint32_t life)
{
    struct client c = {.life = life, .l = &sh->lives[life], .bcast_from = -1, .last_b = -1};
    rng_state = mix64(seed ^ life) | 1;
    if (chance(500))
        setenv("SMIPC_SPIN_US", "0", 1); /* half of them always sleep when they wait */
    int64_t end = now_ms() + 100 + (int64_t)(rnd() % 5000);
    int fds_before = count_fds();
    for (int64_t give_up = now_ms() + 30000;;) {
        int rc = smipc_client_connect(&c.cli, name, 5000);
        if (rc == SMIPC_OK)
            break;
        /* full (killed clients not yet reaped) or slow: try again for a while */
        atomic_fetch_add(&sh->refused_full, rc == SMIPC_EFULL);
        if ((rc != SMIPC_EFULL && rc != SMIPC_ETIMEDOUT) || now_ms() > give_up) {
            violation(&sh->failures, 1, "life %u: smipc_client_connect: %s", life,
                      smipc_strerror(rc));
            return 1;
        }
        pause_ms(20);
    }
    atomic_store(&c.l->cli_id, smipc_client_id_of(c.cli));
    c.mode = (enum recv_mode)(rnd() % 3);
    if (c.mode == RM_POLL && (c.fd = smipc_client_fd(c.cli)) < 0) {
        violation(&sh->failures, 1, "life %u: smipc_client_fd: %s", life, smipc_strerror(c.fd));
        return 1;
    }
    atomic_store(&c.l->state, L_CONNECTED);
    pthread_t rt;
    if (pthread_create(&rt, NULL, client_receiver, &c) != 0)
        abort();
    uint8_t *buf = malloc(max_size + HDR);
    uint64_t seq = 0;
    int failed = 0;
    /* the first message (its hello) always goes, even when the run ends at once */
    while (!failed && (seq == 0 || (now_ms() < end && !atomic_load(&sh->finish_clients)))) {
        size_t len = size_of(DIR_C2S, life, seq);
        build(buf, len, K_DATA, DIR_C2S, life, seq, 0);
        atomic_store(&c.l->in_big_send, len > (size_t)cfg.packet_size * cfg.ring_packets);
        failed = client_send(&c, buf, len) != 0;
        atomic_store(&c.l->in_big_send, 0);
        if (c.mode == RM_FOREVER && chance(50)) {
            /* the other thread sits in smipc_client_recv(-1): this must not wait for it */
            int64_t t0 = now_ms();
            uint32_t stops = atomic_load(&c.l->stops);
            int fd = smipc_client_fd(c.cli);
            overrun("smipc_client_fd while another thread is in smipc_client_recv(-1)", 0, t0, c.l,
                    stops);
            int64_t took = now_ms() - t0;
            int64_t cur = atomic_load(&sh->worst_fd_ms);
            while (atomic_load(&c.l->stops) == stops && took > cur &&
                   !atomic_compare_exchange_weak(&sh->worst_fd_ms, &cur, took))
                ;
            if (fd < 0)
                violation(&sh->failures, 1, "life %u: smipc_client_fd: %s", life,
                          smipc_strerror(fd));
        }
        seq++;
        atomic_fetch_add(&sh->bytes, len);
        if (chance(300))
            pause_ms((int)(rnd() % 3)); /* now and then a pause, sometimes a longer one */
        else if (chance(5))
            pause_ms(100 + (int)(rnd() % 400));
    }
    if (!failed) {
        build(buf, HDR, K_BYE, DIR_C2S, life, seq, 0);
        failed = client_send(&c, buf, HDR) != 0;
        atomic_store(&c.bye_at, now_ms());
    }
    if (failed) { /* the receiver may wait for an answer that cannot come */
        atomic_store(&c.give_up, 1);
        smipc_client_shutdown(c.cli); /* wakes a smipc_client_recv(-1) */
    }
    pthread_join(rt, NULL);
    free(buf);
    smipc_client_close(c.cli);
    int fds_after = count_fds();
    if (fds_after != fds_before)
        violation(&sh->failures, 1, "life %u: %d descriptors before connect, %d after close", life,
                  fds_before, fds_after);
    return failed || atomic_load(&c.l->state) != L_DONE;
}

/* ---- the runner ---- */

static pid_t spawn(int (*fn)(uint32_t), uint32_t arg)
{
    fflush(NULL);
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        perror("soak: fork");
        exit(2);
    }
    /* Each child in a process group of its own, whose parent (the runner) is in another:
     * such a group is never orphaned, so the kernel never sends a stopped client SIGHUP
     * (and SIGCONT) when another process exits, as it does in an orphaned group (a runner
     * started in the background by a shell that has gone). */
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        _exit(fn(arg));
    }
    setpgid(pid, pid);
    return pid;
}

static int server_entry(uint32_t unused)
{
    (void)unused;
    return server_main();
}

struct stopped {
    uint32_t life;
    int64_t until;
};

static void usage(void)
{
    fprintf(stderr, "usage: soak [--seconds S] [--clients N] [--max-size BYTES] [--seed X]\n"
                    "            [--packet-size BYTES] [--ring-packets N] [--no-checksum]\n"
                    "            [--max-clients N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    unsigned nclients = 32;
    smipc_server_config_init(&cfg);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-checksum")) {
            cfg.flags |= SMIPC_NO_CHECKSUM;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--clients"))
            nclients = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-size"))
            max_size = (size_t)strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--packet-size"))
            cfg.packet_size = (uint32_t)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--ring-packets"))
            cfg.ring_packets = (uint32_t)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--max-clients"))
            cfg.max_clients = (uint32_t)strtoul(argv[++i], NULL, 0);
        else
            usage();
    }
    if (seconds <= 0 || nclients < 1 || nclients > 60 || max_size < HDR || max_size > (64u << 20))
        usage();
    signal(SIGPIPE, SIG_IGN);
    rng_state = mix64(seed) | 1;
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
              -1, 0);
    if (sh == MAP_FAILED) {
        perror("soak: mmap");
        return 2;
    }
    char dir[] = "/tmp/smipc-soak-XXXXXX", namebuf[64];
    if (!mkdtemp(dir)) {
        perror("soak: mkdtemp");
        return 2;
    }
    setenv("SMIPC_DIR", dir, 1);
    snprintf(namebuf, sizeof namebuf, "soak-%d", (int)getpid());
    name = namebuf;

    int64_t t0 = now_ms(), stop_at = t0 + (int64_t)(seconds * 1000);
    pid_t server = spawn(server_entry, 0);
    while (!atomic_load(&sh->server_ready)) {
        if (waitpid(server, NULL, WNOHANG) == server) {
            fprintf(stderr, "soak: the server did not start\n");
            return 1;
        }
        pause_ms(5);
    }
    uint32_t *running = calloc(nclients, sizeof *running), nlives = 0;
    struct stopped *stops = calloc(nclients, sizeof *stops);
    unsigned nstops = 0, killed = 0, stopped = 0, clean = 0;
    for (unsigned i = 0; i < nclients; i++) {
        sh->lives[nlives].pid = spawn(client_main, nlives);
        running[i] = nlives++;
    }
    int64_t next_print = t0 + 5000;
    uint64_t last_msgs = 0;
    int finishing = 0, gave_up = 0;
    int st = 0, server_gone = 0;
    for (unsigned nrunning = nclients; nrunning;) {
        int64_t now = now_ms();
        if (!server_gone && waitpid(server, &st, WNOHANG) == server) {
            server_gone = 1; /* crashed: the clients will say so, and the run ends */
            atomic_fetch_add(&sh->failures, 1);
            fprintf(stderr,
                    "soak: VIOLATION: the server process ended during the run (status "
                    "0x%x)\n",
                    st);
            stop_at = now;
        }
        if (!finishing && (now >= stop_at || nlives + nclients >= MAX_LIVES)) {
            /* no more faults: let every client say goodbye and get its answer */
            finishing = 1;
            atomic_store(&sh->finish_clients, 1);
            for (unsigned i = 0; i < nstops; i++) {
                kill(sh->lives[stops[i].life].pid, SIGCONT);
                atomic_fetch_add(&sh->lives[stops[i].life].conts, 1);
            }
            nstops = 0;
        }
        if (finishing && now > stop_at + 90000 && !gave_up) {
            gave_up = 1;
            violation(&sh->hangs, nrunning, "%u client processes still running 90 s after the end",
                      nrunning);
            for (unsigned i = 0; i < nrunning; i++)
                kill(sh->lives[running[i]].pid, SIGKILL);
        }
        /* reap, and replace the ones that went */
        for (unsigned i = 0; i < nrunning; i++) {
            struct life *l = &sh->lives[running[i]];
            if (waitpid(l->pid, &l->status, WNOHANG) != l->pid)
                continue;
            for (unsigned j = 0; j < nstops; j++)
                if (stops[j].life == running[i])
                    stops[j--] = stops[--nstops];
            if (!l->killed) {
                clean++;
                if (!WIFEXITED(l->status) || WEXITSTATUS(l->status) != 0)
                    violation(&sh->failures, 1, "life %u ended with status 0x%x", running[i],
                              l->status);
            }
            if (finishing) {
                running[i--] = running[--nrunning];
            } else {
                sh->lives[nlives].pid = spawn(client_main, nlives);
                running[i] = nlives++;
            }
        }
        if (!finishing) {
            /* a kill every ~300 ms, often of a client in the middle of a large send */
            if (chance(33)) {
                uint32_t v = running[rnd() % nrunning];
                for (unsigned i = 0, tries = chance(500) ? 20 : 0; i < tries; i++) {
                    uint32_t w = running[rnd() % nrunning];
                    if (atomic_load(&sh->lives[w].in_big_send)) {
                        v = w;
                        break;
                    }
                }
                struct life *l = &sh->lives[v];
                /* mostly connected ones; now and then one still in its handshake */
                uint32_t state = atomic_load(&l->state);
                if (!l->killed && (state == L_CONNECTED || (state == L_STARTING && chance(300)))) {
                    l->killed = 1;
                    killed++;
                    kill(l->pid, SIGKILL);
                }
            }
            /* a stop of 0.5 to 3 s every second or so */
            if (chance(10) && nstops < nclients / 4) {
                uint32_t v = running[rnd() % nrunning];
                for (unsigned i = 0, tries = chance(500) ? 20 : 0; i < tries; i++) {
                    uint32_t w = running[rnd() % nrunning];
                    if (atomic_load(&sh->lives[w].in_big_send)) {
                        v = w; /* stopped half-way through a message */
                        break;
                    }
                }
                struct life *l = &sh->lives[v];
                if (!l->killed && !l->stopped && atomic_load(&l->state) == L_CONNECTED) {
                    l->stopped = 1;
                    stopped++;
                    atomic_fetch_add(&l->stops, 1);
                    kill(l->pid, SIGSTOP);
                    stops[nstops++] = (struct stopped){v, now + 500 + (int64_t)(rnd() % 2500)};
                }
            }
            for (unsigned i = 0; i < nstops; i++)
                if (now >= stops[i].until) {
                    kill(sh->lives[stops[i].life].pid, SIGCONT);
                    atomic_fetch_add(&sh->lives[stops[i].life].conts, 1);
                    stops[i--] = stops[--nstops];
                }
        }
        atomic_store(&sh->nstopped, nstops);
        if (now >= next_print) {
            uint64_t m = atomic_load(&sh->msgs);
            printf("soak: %5.1f s  %" PRIu64 " messages (%" PRIu64 "/s)  %.1f MiB  %u lives, "
                   "%u killed, %u stopped  lost %" PRIu64 " corrupt %" PRIu64 " dup %" PRIu64 "\n",
                   (now - t0) / 1000.0, m, (m - last_msgs) / 5, atomic_load(&sh->bytes) / 1048576.0,
                   nlives, killed, stopped, atomic_load(&sh->lost), atomic_load(&sh->corrupt),
                   atomic_load(&sh->dup));
            fflush(stdout);
            last_msgs = m;
            next_print += 5000;
        }
        pause_ms(10);
    }
    int64_t t_clients_done = now_ms();
    atomic_store(&sh->finish_server, 1);
    if (!server_gone && (waitpid(server, &st, 0) != server || !WIFEXITED(st) ||
                         WEXITSTATUS(st) != 0 || !atomic_load(&sh->server_drained)))
        violation(&sh->failures, 1, "the server ended with status 0x%x", st);

    /* what each life sent and got, now that every process has ended */
    for (uint32_t i = 0; i < nlives; i++) {
        struct life *l = &sh->lives[i];
        uint64_t sent = atomic_load(&l->sent_ok), got = atomic_load(&l->c2s_next);
        if (atomic_load(&l->state) == L_STARTING)
            continue; /* never connected: killed before it could, or failed (counted) */
        if (got < sent)
            violation(&sh->lost, sent - got,
                      "life %u%s: %" PRIu64 " messages sent, %" PRIu64 " arrived", i,
                      l->killed ? " (killed)" : "", sent, got);
        if (!l->killed && got > sent)
            violation(&sh->dup, got - sent, "life %u: %" PRIu64 " sent, %" PRIu64 " arrived", i,
                      sent, got);
        uint64_t s2c_sent = atomic_load(&l->s2c_sent_ok), s2c_got = atomic_load(&l->s2c_next);
        if (!l->killed && s2c_got != s2c_sent)
            violation(s2c_got < s2c_sent ? &sh->lost : &sh->dup,
                      s2c_got < s2c_sent ? s2c_sent - s2c_got : s2c_got - s2c_sent,
                      "life %u: the server sent %" PRIu64 " direct messages, %" PRIu64 " arrived",
                      i, s2c_sent, s2c_got);
    }
    uint64_t nb = atomic_load(&sh->bcasts), partial = 0, partial_listed = 0, partial_got = 0,
             partial_stopped = 0;
    for (uint64_t b = 0; b < nb && b < MAX_BCAST; b++)
        if (atomic_load(&sh->b_outcome[b]) == B_SOME) {
            partial++;
            partial_listed += atomic_load(&sh->b_listed[b]);
            partial_got += atomic_load(&sh->b_delivered[b]);
            partial_stopped += atomic_load(&sh->b_stopped[b]);
        }
    for (uint64_t b = 0; b < nb && b < MAX_BCAST; b++)
        if (atomic_load(&sh->b_received[b]) > atomic_load(&sh->b_delivered[b]))
            violation(&sh->miscounted, 1,
                      "broadcast %" PRIu64 ": delivered says %u, %u clients got it", b,
                      atomic_load(&sh->b_delivered[b]), atomic_load(&sh->b_received[b]));

    double secs = (t_clients_done - t0) / 1000.0;
    uint64_t msgs = atomic_load(&sh->msgs);
    int64_t fs = atomic_load(&sh->fds_start), fe = atomic_load(&sh->fds_end);
    int64_t fb = atomic_load(&sh->fds_before_open), fa = atomic_load(&sh->fds_after_close);
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    printf("soak: %.1f s, %u client processes at a time, %u in all: %u ended by themselves, "
           "%u killed (SIGKILL), %u stopped (SIGSTOP) for 0.5-3 s\n",
           secs, nclients, nlives, clean, killed, stopped);
    printf("rings: %u packets of %u bytes each way, checksums %s; messages 0 B to %zu B; "
           "max_clients %u (connects refused as full, tried again: %" PRIu64 ")\n",
           cfg.ring_packets, cfg.packet_size, cfg.flags & SMIPC_NO_CHECKSUM ? "off" : "on",
           max_size, cfg.max_clients, atomic_load(&sh->refused_full));
    printf("messages: %" PRIu64 " (%.0f per second), bytes: %" PRIu64 "\n", msgs, msgs / secs,
           atomic_load(&sh->bytes));
    printf("broadcasts: %" PRIu64 ", %" PRIu64
           " of them delivered to every client; the other %" PRIu64
           " reached %.1f of %.1f listed clients on average, %.1f of them stopped\n",
           nb, atomic_load(&sh->bcasts_all), partial, partial ? (double)partial_got / partial : 0.0,
           partial ? (double)partial_listed / partial : 0.0,
           partial ? (double)partial_stopped / partial : 0.0);
    printf("lost: %" PRIu64 ", corrupt: %" PRIu64 ", duplicated: %" PRIu64
           ", miscounted broadcasts: %" PRIu64 ", failed calls: %" PRIu64 ", hangs: %" PRIu64 "\n",
           atomic_load(&sh->lost), atomic_load(&sh->corrupt), atomic_load(&sh->dup),
           atomic_load(&sh->miscounted), atomic_load(&sh->failures), atomic_load(&sh->hangs));
    printf("worst overrun of a call past its timeout: %" PRIu64 " ms\n",
           atomic_load(&sh->worst_overrun_ms));
    double ms = (double)(t_clients_done - t0);
    printf("server's time: %.0f%% receiving, %.0f%% sending (%" PRIu64
           " sends timed out after 20 ms), %.0f%% broadcasting (%" PRIu64
           " did not reach every client within 300 ms); client sends that waited 1 s and tried "
           "again: %" PRIu64 "\n",
           100 * atomic_load(&sh->ms_recv) / ms, 100 * atomic_load(&sh->ms_send) / ms,
           atomic_load(&sh->send_timeouts), 100 * atomic_load(&sh->ms_bcast) / ms,
           atomic_load(&sh->bcasts) - atomic_load(&sh->bcasts_all),
           atomic_load(&sh->cli_send_timeouts));
    printf("worst smipc_client_fd while another thread waits in smipc_client_recv(-1): %" PRId64
           " ms\n",
           atomic_load(&sh->worst_fd_ms));
    printf("peak RSS: server %" PRId64 " KiB, largest process %ld KiB\n",
           atomic_load(&sh->server_rss_kb), ru.ru_maxrss);
    printf("server descriptors: %" PRId64 " at start, %" PRId64 " at end (%" PRId64
           " before open, %" PRId64 " after close)\n",
           fs, fe, fb, fa);
    int bad = atomic_load(&sh->lost) || atomic_load(&sh->corrupt) || atomic_load(&sh->dup) ||
              atomic_load(&sh->miscounted) || atomic_load(&sh->failures) ||
              atomic_load(&sh->hangs) || fs != fe || fb != fa || msgs == 0;
    rmdir(dir);
    printf("soak: %s\n", bad ? "FAILED" : "passed");
    fflush(stdout);
    free(running);
    free(stops);
    return bad;
}
