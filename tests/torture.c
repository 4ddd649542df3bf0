/* Server torture: round after round, a server process is SIGKILLed in the middle of a
 * broadcast or of a send, while its clients are in every state a client can be in:
 * blocked in recv (sleeping, spinning, or in poll() on smipc_client_fd), blocked in send
 * with a full ring in the middle of a multi-packet message, both at once from two
 * threads, receiving slowly, idle, or closing and connecting again and again (so some
 * are in the handshake). Each round checks that
 *   - every client's blocked call returns SMIPC_ECLOSED (a new connect: SMIPC_ENOTFOUND)
 *     within 1 s of the kill (measured per client on CLOCK_MONOTONIC, which every
 *     process shares; the worst is printed), and so do a send and a receive after it
 *     (once the dead server's whole messages still queued are taken), and nothing the
 *     dead server had half written arrives, in part or mangled;
 *   - each client process has as many descriptors after smipc_client_close as before it
 *     connected;
 *   - the killed server leaves nothing in the runtime directory but its socket;
 *   - the name is seen as dead (a connect says SMIPC_ENOTFOUND), the next server takes it
 *     over and serves it, and once that server is closed the runtime directory is empty.
 *     The killed server's socket file is left until then: the README promises that a
 *     socket left by a dead server is taken over by the next server, not that it goes.
 *
 *   torture [--rounds N] [--seed X]      prints progress, then the figures; exits 1 on
 *                                        any violation.
 * Linked with the public API only, like tests/soak.c. */
#include <smipc.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PACKET   4096u
#define PACKETS  8u /* a 32 KiB ring: full soon, most messages span many packets */
#define MAX_MSG  (512u << 10)
#define NCLIENTS 12
#define HDR      24u

/* What each client does when the server is killed. */
enum role {
    R_RECV_SLEEP, /* blocked in recv(-1), never spinning (SMIPC_SPIN_US=0) */
    R_RECV_SPIN,  /* blocked in recv(-1), spinning first */
    R_RECV_POLL,  /* in poll() on smipc_client_fd, then recv(0) */
    R_RECV_SHORT, /* recv with 30 ms timeouts, again and again */
    R_RECV_SLOW,  /* receives, then dawdles: its ring is often full */
    R_SEND_BIG,   /* send(-1) of 200 KiB messages: blocked mid-message, ring full */
    R_SEND_SLEEP, /* the same, never spinning */
    R_SEND_SMALL, /* send(-1) of small messages: a ring full of whole ones */
    R_BOTH,       /* one thread blocked in send, another in recv */
    R_IDLE,       /* no call at all until told the server is dead; then recv(-1) */
    R_IDLE_SLEEP, /* the same, never spinning */
    R_RECONNECT,  /* closes and connects again and again: killed mid-handshake, too */
    R_COUNT
};
static const char *role_names[R_COUNT] = {
    "recv sleeping", "recv spinning", "poll on fd",        "recv 30 ms",
    "recv slowly",   "send big",      "send big sleeping", "send small",
    "send+recv",     "idle",          "idle sleeping",     "reconnecting"};

enum phase { P_NONE, P_BROADCAST, P_SEND };

struct client_slot {
    _Atomic int connected;
    _Atomic int rc, rc2;                   /* the call that ended it (rc2: R_BOTH's second) */
    _Atomic int64_t closed_ns, closed2_ns; /* when it returned */
    _Atomic int fds_before, fds_after;
    _Atomic uint64_t got, corrupt;
    _Atomic int after_send, after_recv; /* later calls on the handle, once it said ECLOSED */
    _Atomic int64_t after_ns;           /* how long they took */
};

struct shared {
    _Atomic int phase;
    _Atomic uint64_t calls; /* the server's completed broadcasts and sends */
    _Atomic int server_ready;
    struct client_slot c[NCLIENTS];
};

static struct shared *sh;
static char name[64];
static char dir_path[] = "/tmp/smipc-torture-XXXXXX";
static uint64_t failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    if (failures++ < 40) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "torture: VIOLATION: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

/* ---- messages: a header (magic, seq, len) and bytes that are a function of seq ---- */

#define MAGIC 0x54525452u

static uint8_t byte_at(uint64_t seq, size_t i)
{
    return (uint8_t)((seq * 0x9e3779b97f4a7c15ull + i * 0x100000001b3ull) >> 29);
}

static void build(uint8_t *buf, size_t len, uint64_t seq)
{
    uint64_t h[3] = {MAGIC, seq, len};
    memcpy(buf, h, HDR);
    for (size_t i = HDR; i < len; i++)
        buf[i] = byte_at(seq, i);
}

static int intact(const uint8_t *buf, size_t len)
{
    uint64_t h[3];
    if (len < HDR)
        return 0;
    memcpy(h, buf, HDR);
    if (h[0] != MAGIC || h[2] != len)
        return 0;
    for (size_t i = HDR; i < len; i++)
        if (buf[i] != byte_at(h[1], i))
            return 0;
    return 1;
}

/* ---- the server: broadcasts or sends until it is killed ---- */

static int server_main(int mode, int timeout_ms)
{
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.packet_size = PACKET;
    cfg.ring_packets = PACKETS;
    smipc_server *srv;
    int rc = smipc_server_open(&srv, name, &cfg);
    if (rc != SMIPC_OK) {
        fprintf(stderr, "torture: smipc_server_open: %s\n", smipc_strerror(rc));
        return 1;
    }
    atomic_store(&sh->server_ready, 1);
    uint8_t *buf = malloc(MAX_MSG);
    smipc_client_id ids[NCLIENTS + 4];
    for (uint64_t seq = 1;; seq++) {
        size_t len = HDR + rnd() % (MAX_MSG - HDR), n = 0, delivered;
        build(buf, len, seq);
        smipc_server_clients(srv, ids, NCLIENTS + 4, &n);
        if (mode == P_BROADCAST || n == 0) {
            atomic_store(&sh->phase, P_BROADCAST);
            smipc_server_broadcast(srv, buf, len, timeout_ms, &delivered);
        } else {
            atomic_store(&sh->phase, P_SEND);
            smipc_server_send(srv, ids[seq % (n < NCLIENTS ? n : NCLIENTS)], buf, len, timeout_ms);
        }
        atomic_store(&sh->phase, P_NONE);
        atomic_fetch_add(&sh->calls, 1);
    }
}

/* ---- the clients ---- */

struct client {
    smipc_client *cli;
    struct client_slot *slot;
    int killed_fd; /* readable (end of file) once the server has been killed */
};

/* Receives until a call fails; returns that call's status. */
static int receive_all(struct client *c, int timeout_ms, int slow)
{
    uint8_t *buf = malloc(MAX_MSG);
    int rc;
    for (;;) {
        size_t len = MAX_MSG;
        rc = smipc_client_recv(c->cli, buf, &len, timeout_ms);
        if (rc == SMIPC_ETIMEDOUT && timeout_ms >= 0)
            continue;
        if (rc != SMIPC_OK)
            break;
        atomic_fetch_add(&c->slot->got, 1);
        if (!intact(buf, len))
            atomic_fetch_add(&c->slot->corrupt, 1);
        if (slow)
            poll(NULL, 0, 3);
    }
    free(buf);
    return rc;
}

static int send_all(struct client *c, size_t size)
{
    uint8_t *buf = malloc(size);
    build(buf, size, 0);
    int rc;
    while ((rc = smipc_client_send(c->cli, buf, size, -1)) == SMIPC_OK)
        ;
    free(buf);
    return rc;
}

static int poll_all(struct client *c)
{
    int fd = smipc_client_fd(c->cli);
    if (fd < 0)
        return fd;
    uint8_t *buf = malloc(MAX_MSG);
    int rc;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) {
            rc = SMIPC_ESYS;
            break;
        }
        size_t len = MAX_MSG;
        rc = smipc_client_recv(c->cli, buf, &len, 0);
        if (rc == SMIPC_ETIMEDOUT)
            continue; /* a spurious wake-up */
        if (rc != SMIPC_OK)
            break;
        atomic_fetch_add(&c->slot->got, 1);
        if (!intact(buf, len))
            atomic_fetch_add(&c->slot->corrupt, 1);
    }
    free(buf);
    return rc;
}

static void *both_sender(void *p)
{
    struct client *c = p;
    int rc = send_all(c, 100u << 10);
    atomic_store(&c->slot->closed2_ns, now_ns());
    atomic_store(&c->slot->rc2, rc);
    return NULL;
}

static int client_main(int role, int killed_fd)
{
    struct client c = {.slot = &sh->c[role], .killed_fd = killed_fd};
    if (role == R_RECV_SLEEP || role == R_SEND_SLEEP || role == R_IDLE_SLEEP)
        setenv("SMIPC_SPIN_US", "0", 1);
    atomic_store(&c.slot->fds_before, count_fds());
    int rc = smipc_client_connect(&c.cli, name, 5000);
    if (rc != SMIPC_OK) {
        atomic_store(&c.slot->rc, rc);
        return 1;
    }
    atomic_store(&c.slot->connected, 1);
    pthread_t t;
    switch (role) {
    case R_RECV_SLEEP:
    case R_RECV_SPIN:
        rc = receive_all(&c, -1, 0);
        break;
    case R_RECV_SHORT:
        rc = receive_all(&c, 30, 0);
        break;
    case R_RECV_SLOW:
        rc = receive_all(&c, -1, 1);
        break;
    case R_RECV_POLL:
        rc = poll_all(&c);
        break;
    case R_SEND_BIG:
    case R_SEND_SLEEP:
        rc = send_all(&c, 200u << 10);
        break;
    case R_SEND_SMALL:
        rc = send_all(&c, 100);
        break;
    case R_BOTH:
        pthread_create(&t, NULL, both_sender, &c);
        rc = receive_all(&c, -1, 0);
        pthread_join(t, NULL);
        break;
    case R_RECONNECT:
        for (;;) {
            char b[8];
            size_t len = sizeof b;
            rc = smipc_client_recv(c.cli, b, &len, 0); /* (ETOOSMALL: a message is queued) */
            if (rc != SMIPC_OK && rc != SMIPC_ETIMEDOUT && rc != SMIPC_ETOOSMALL)
                break;
            smipc_client_close(c.cli);
            c.cli = NULL;
            if ((rc = smipc_client_connect(&c.cli, name, 2000)) != SMIPC_OK)
                break; /* a dead server's name: SMIPC_ENOTFOUND (or ECLOSED mid-handshake) */
        }
        break;
    case R_IDLE:
    case R_IDLE_SLEEP: {
        char b;
        while (read(killed_fd, &b, 1) < 0 && errno == EINTR)
            ;
        rc = receive_all(&c, -1, 0);
        break;
    }
    }
    atomic_store(&c.slot->closed_ns, now_ns());
    atomic_store(&c.slot->rc, rc);
    if (rc == SMIPC_ECLOSED && c.cli) { /* (a reconnecting one may have no handle now) */
        /* later calls say the same at once: a send (even one that would fit), and a
         * receive once the dead server's whole messages still queued are taken */
        int64_t t0 = now_ns();
        uint8_t one = 1;
        atomic_store(&c.slot->after_send, smipc_client_send(c.cli, &one, 1, -1));
        atomic_store(&c.slot->after_recv, receive_all(&c, -1, 0));
        atomic_store(&c.slot->after_ns, now_ns() - t0);
    } else {
        atomic_store(&c.slot->after_send, SMIPC_ECLOSED);
        atomic_store(&c.slot->after_recv, SMIPC_ECLOSED);
    }
    smipc_client_close(c.cli);
    atomic_store(&c.slot->fds_after, count_fds());
    return 0;
}

/* ---- the runner ---- */

static pid_t spawn_client(int role, int killed_fd, int other_end)
{
    fflush(NULL);
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        perror("torture: fork");
        exit(2);
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        close(other_end);
        _exit(client_main(role, killed_fd));
    }
    return pid;
}

static int wait_child(pid_t pid, int64_t deadline_ns)
{
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (now_ns() > deadline_ns) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        poll(NULL, 0, 1);
    }
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static int64_t worst_ns, sum_ns;
static uint64_t calls_measured, corrupt_total, got_total;
static int64_t worst_by_role[R_COUNT];

static void check_call(int round, int role, int rc, int64_t at, int64_t killed_at,
                       const char *which)
{
    if (rc != SMIPC_ECLOSED && !(role == R_RECONNECT && rc == SMIPC_ENOTFOUND)) {
        fail("round %d, client '%s'%s: returned %d (%s), not SMIPC_ECLOSED%s", round,
             role_names[role], which, rc, smipc_strerror(rc),
             role == R_RECONNECT ? " or SMIPC_ENOTFOUND" : "");
        return;
    }
    int64_t dt = at - killed_at;
    calls_measured++;
    sum_ns += dt;
    if (dt > worst_ns)
        worst_ns = dt;
    if (dt > worst_by_role[role])
        worst_by_role[role] = dt;
    if (dt > 1000000000)
        fail("round %d, client '%s'%s: SMIPC_ECLOSED %.0f ms after the kill", round,
             role_names[role], which, dt / 1e6);
}

static void round_once(int round, const char *dir)
{
    memset(sh, 0, sizeof *sh);
    int mode = round % 2 ? P_SEND : P_BROADCAST;
    /* waiting for ever on a full ring, or short timeouts that keep the server moving */
    int timeout_ms = (round / 2) % 2 ? -1 : 10;
    int killed[2];
    if (pipe(killed) != 0)
        exit(2);
    fflush(NULL);
    pid_t server = fork();
    if (server == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(killed[0]);
        close(killed[1]);
        rng ^= (uint64_t)round << 17;
        _exit(server_main(mode, timeout_ms));
    }
    int64_t deadline = now_ns() + 10000000000ll;
    while (!atomic_load(&sh->server_ready) && now_ns() < deadline)
        poll(NULL, 0, 1);
    if (!atomic_load(&sh->server_ready)) {
        fail("round %d: the server did not start", round);
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
        close(killed[0]);
        close(killed[1]);
        return;
    }
    /* every fourth round one client alone: with a server and one client on two CPUs the
     * library spins before it sleeps, which it does not with eleven */
    int solo = round % 4 == 3 ? (round / 4) % R_COUNT : -1;
    pid_t pids[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++)
        if (solo < 0 || i == solo)
            pids[i] = spawn_client(i, killed[0], killed[1]);
    close(killed[0]);
    for (int i = 0; i < NCLIENTS; i++)
        while ((solo < 0 || i == solo) && !atomic_load(&sh->c[i].connected) && now_ns() < deadline)
            poll(NULL, 0, 1);
    /* let the traffic run into every state, then kill inside the call this round wants */
    int64_t settle = now_ns() + (5 + (int64_t)(rnd() % 30)) * 1000000;
    while (now_ns() < settle)
        poll(NULL, 0, 1);
    while (atomic_load(&sh->phase) != mode && now_ns() < deadline)
        sched_yield();
    int caught = atomic_load(&sh->phase) == mode;
    int64_t killed_at = now_ns();
    kill(server, SIGKILL);
    close(killed[1]); /* tells the idle clients */
    int st;
    waitpid(server, &st, 0);
    if (!caught)
        fail("round %d: the server was never seen inside a %s", round,
             mode == P_SEND ? "send" : "broadcast");
    for (int i = 0; i < NCLIENTS; i++) {
        struct client_slot *s = &sh->c[i];
        if (solo >= 0 && i != solo)
            continue;
        int code = wait_child(pids[i], killed_at + 5000000000ll);
        if (code != 0 || !atomic_load(&s->connected)) {
            fail("round %d, client '%s': %s (exit %d, status %s)", round, role_names[i],
                 code == -1 ? "still blocked 5 s after the kill" : "failed", code,
                 smipc_strerror(atomic_load(&s->rc)));
            continue;
        }
        check_call(round, i, atomic_load(&s->rc), atomic_load(&s->closed_ns), killed_at, "");
        if (i == R_BOTH)
            check_call(round, i, atomic_load(&s->rc2), atomic_load(&s->closed2_ns), killed_at,
                       " (its sending thread)");
        if (atomic_load(&s->after_send) != SMIPC_ECLOSED ||
            atomic_load(&s->after_recv) != SMIPC_ECLOSED || atomic_load(&s->after_ns) > 1000000000)
            fail("round %d, client '%s': after SMIPC_ECLOSED, a send said %s and a receive %s, "
                 "in %.0f ms",
                 round, role_names[i], smipc_strerror(atomic_load(&s->after_send)),
                 smipc_strerror(atomic_load(&s->after_recv)), atomic_load(&s->after_ns) / 1e6);
        if (atomic_load(&s->fds_after) != atomic_load(&s->fds_before))
            fail("round %d, client '%s': %d descriptors before connect, %d after close", round,
                 role_names[i], atomic_load(&s->fds_before), atomic_load(&s->fds_after));
        if (atomic_load(&s->corrupt))
            fail("round %d, client '%s': %" PRIu64 " of %" PRIu64 " messages mangled or cut short",
                 round, role_names[i], atomic_load(&s->corrupt), atomic_load(&s->got));
        corrupt_total += atomic_load(&s->corrupt);
        got_total += atomic_load(&s->got);
    }
    /* the killed server left at most its socket behind, nothing else */
    char path[sizeof dir_path + sizeof name + 1];
    struct stat st_sock;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int left = dir_entries(dir);
    if (left > 1 || (left == 1 && (lstat(path, &st_sock) != 0 || !S_ISSOCK(st_sock.st_mode))))
        fail("round %d: after the kill the runtime directory holds %d files, not just the "
             "server's socket",
             round, left);
    /* the name: dead, then taken over and served, then gone */
    smipc_client *cli = NULL;
    int rc = smipc_client_connect(&cli, name, 1000);
    if (rc != SMIPC_ENOTFOUND) {
        fail("round %d: a connect to the killed server's name said %s, not SMIPC_ENOTFOUND", round,
             smipc_strerror(rc));
        smipc_client_close(cli);
    }
    smipc_server *srv = NULL;
    rc = smipc_server_open(&srv, name, NULL);
    if (rc != SMIPC_OK) {
        fail("round %d: the next server could not take the name over: %s", round,
             smipc_strerror(rc));
    } else {
        rc = smipc_client_connect(&cli, name, 5000);
        char b[8];
        size_t len = sizeof b;
        smipc_client_id from;
        if (rc == SMIPC_OK)
            rc = smipc_client_send(cli, "alive", 5, 5000);
        if (rc == SMIPC_OK)
            rc = smipc_server_recv(srv, &from, b, &len, 5000);
        if (rc != SMIPC_OK || len != 5 || memcmp(b, "alive", 5))
            fail("round %d: the server that took the name over does not serve it: %s", round,
                 smipc_strerror(rc));
        smipc_client_close(cli);
        smipc_server_close(srv);
    }
    if (dir_entries(dir) != 0)
        fail("round %d: %d files left in the runtime directory after the new server closed", round,
             dir_entries(dir));
}

int main(int argc, char **argv)
{
    int rounds = 200;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--seed"))
            rng = strtoull(argv[++i], NULL, 0) | 1;
        else {
            fprintf(stderr, "usage: torture [--rounds N] [--seed X]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 2;
    const char *dir = dir_path;
    if (!mkdtemp(dir_path))
        return 2;
    setenv("SMIPC_DIR", dir, 1);
    snprintf(name, sizeof name, "torture-%d", (int)getpid());
    int fds0 = count_fds();
    int64_t t0 = now_ns();
    for (int r = 0; r < rounds; r++) {
        round_once(r, dir);
        if ((r + 1) % 25 == 0 || r + 1 == rounds) {
            printf("torture: %d rounds, %.1f s, worst SMIPC_ECLOSED %.1f ms after the kill, "
                   "%" PRIu64 " violations\n",
                   r + 1, (now_ns() - t0) / 1e9, worst_ns / 1e6, failures);
            fflush(stdout);
        }
    }
    int fds1 = count_fds();
    if (fds1 != fds0)
        fail("the runner has %d descriptors at the end, %d at the start", fds1, fds0);
    printf("torture: %d rounds, the server SIGKILLed mid-broadcast in %d and mid-send in %d; "
           "%d clients at once in %d of them, one alone (spinning before it sleeps) in %d; "
           "%" PRIu64 " blocked calls measured\n",
           rounds, (rounds + 1) / 2, rounds / 2, NCLIENTS, rounds - rounds / 4, rounds / 4,
           calls_measured);
    printf("SMIPC_ECLOSED after the kill: worst %.1f ms, mean %.1f ms; worst by client:",
           worst_ns / 1e6, calls_measured ? sum_ns / 1e6 / (double)calls_measured : 0.0);
    for (int i = 0; i < R_COUNT; i++)
        printf("%s %s %.1f", i ? "," : "", role_names[i], worst_by_role[i] / 1e6);
    printf(" ms\n");
    printf("messages received: %" PRIu64 ", mangled or cut short: %" PRIu64 "\n", got_total,
           corrupt_total);
    printf("runtime directory: the killed server's socket at most after each kill, empty after "
           "each takeover; runner descriptors %d at start, %d at end\n",
           fds0, fds1);
    printf("violations: %" PRIu64 "\ntorture: %s\n", failures, failures ? "FAILED" : "passed");
    rmdir(dir);
    return failures != 0;
}
