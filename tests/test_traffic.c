/* Servers and clients in separate processes exchanging real traffic: echo of every
 * size, many clients at once, broadcast, and round-robin fairness. */
#include "helpers.h"

#include <pthread.h>

#include <string.h>
#include <signal.h>
#include <unistd.h>

#define MiB (1u << 20)

/* ---- an echo server in a child process ---- */

struct echo_args {
    const char *name;
    struct th_gate ready;
    const smipc_server_config *cfg;
};

static int echo_server_main(void *arg)
{
    struct echo_args *a = arg;
    smipc_server *srv;
    CHILD_OK(smipc_server_open(&srv, a->name, a->cfg));
    th_gate_open(&a->ready);
    size_t cap = 4096;
    char *buf = malloc(cap);
    for (;;) {
        smipc_client_id from;
        size_t len = cap;
        int rc = smipc_server_recv(srv, &from, buf, &len, 30000);
        if (rc == SMIPC_ETOOSMALL) {
            buf = realloc(buf, len);
            cap = len;
            continue;
        }
        CHILD_OK(rc);
        if (len == 4 && !memcmp(buf, "quit", 4))
            break;
        CHILD_OK(smipc_server_send(srv, from, buf, len, 30000));
    }
    free(buf);
    smipc_server_close(srv);
    return 0;
}

static pid_t start_echo(struct echo_args *a)
{
    th_gate_init(&a->ready);
    pid_t pid = th_spawn(echo_server_main, a);
    assert_int_equal(th_gate_wait(&a->ready, 10000), 0);
    return pid;
}

static void test_echo_every_size(void **state)
{
    (void)state;
    struct echo_args a = {.name = th_name("echo")};
    pid_t pid = start_echo(&a);
    smipc_client *cli = th_client(a.name);
    size_t sizes[64];
    size_t n = 0;
    const size_t fixed[] = {0,           1,
                            2,           63,
                            64,          4095,
                            4096,        4097,
                            8192,        64 * 4096 - 1,
                            64 * 4096,   64 * 4096 + 1,
                            3 * MiB + 5, 6 * MiB};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        sizes[n++] = fixed[i];
    srand(42);
    while (n < 40) {
        size_t big = n % 4 == 0;
        sizes[n++] = (size_t)rand() % (big ? 4 * MiB : 20000);
    }
    char *out = malloc(6 * MiB), *in = malloc(6 * MiB + 1);
    for (size_t i = 0; i < n; i++) {
        th_fill(out, sizes[i], i);
        assert_smipc_ok(smipc_client_send(cli, out, sizes[i], 20000));
        size_t len = 6 * MiB + 1;
        assert_smipc_ok(smipc_client_recv(cli, in, &len, 20000));
        assert_int_equal(len, sizes[i]);
        assert_true(th_check(in, len, i));
    }
    assert_smipc_ok(smipc_client_send(cli, "quit", 4, 1000));
    assert_int_equal(th_wait(pid, 10000), 0);
    smipc_client_close(cli);
    free(out);
    free(in);
}

static void test_echo_without_checksums(void **state)
{
    (void)state;
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.flags = SMIPC_NO_CHECKSUM;
    cfg.packet_size = 1000; /* not a power of two */
    cfg.ring_packets = 3;
    struct echo_args a = {.name = th_name("nocrc"), .cfg = &cfg};
    pid_t pid = start_echo(&a);
    smipc_client *cli = th_client(a.name);
    smipc_server_config got;
    assert_smipc_ok(smipc_client_config_of(cli, &got));
    assert_int_equal(got.packet_size, 1000);
    assert_int_equal(got.ring_packets, 3);
    assert_true(got.flags & SMIPC_NO_CHECKSUM);
    char *out = malloc(MiB), *in = malloc(MiB);
    for (size_t i = 0; i < 30; i++) {
        size_t size = i * 33333 % MiB;
        th_fill(out, size, i);
        assert_smipc_ok(smipc_client_send(cli, out, size, 20000));
        size_t len = MiB;
        assert_smipc_ok(smipc_client_recv(cli, in, &len, 20000));
        assert_true(len == size && th_check(in, len, i));
    }
    assert_smipc_ok(smipc_client_send(cli, "quit", 4, 1000));
    assert_int_equal(th_wait(pid, 10000), 0);
    smipc_client_close(cli);
    free(out);
    free(in);
}

/* A receiver whose timeouts keep expiring in the middle of large messages: each call
 * returns ETIMEDOUT or a whole message, never a part, and nothing is lost. */
struct slow_args {
    const char *name;
    struct th_gate ready;
};

static int big_sender_main(void *arg)
{
    struct slow_args *a = arg;
    smipc_server *srv;
    CHILD_OK(smipc_server_open(&srv, a->name, NULL));
    th_gate_open(&a->ready);
    char m[8];
    size_t len = sizeof m;
    smipc_client_id from;
    CHILD_OK(smipc_server_recv(srv, &from, m, &len, 10000));
    char *buf = malloc(4 * MiB);
    for (uint64_t i = 0; i < 12; i++) {
        size_t size = MiB + i * 250000;
        th_fill(buf, size, i);
        CHILD_OK(smipc_server_send(srv, from, buf, size, 20000));
    }
    len = sizeof m;
    CHILD_OK(smipc_server_recv(srv, &from, m, &len, 20000)); /* until the client is done */
    free(buf);
    smipc_server_close(srv);
    return 0;
}

static void test_receive_timeouts_in_the_middle_of_messages(void **state)
{
    (void)state;
    struct slow_args a = {.name = th_name("midmsg")};
    th_gate_init(&a.ready);
    pid_t pid = th_spawn(big_sender_main, &a);
    assert_int_equal(th_gate_wait(&a.ready, 10000), 0);
    smipc_client *cli = th_client(a.name);
    assert_smipc_ok(smipc_client_send(cli, "go", 2, 1000));
    char *buf = malloc(4 * MiB);
    int timeouts = 0;
    for (uint64_t i = 0; i < 12;) {
        size_t len = 4 * MiB;
        int rc = smipc_client_recv(cli, buf, &len, 0);
        if (rc == SMIPC_ETIMEDOUT) {
            timeouts++;
            continue;
        }
        assert_smipc_ok(rc);
        assert_int_equal(len, MiB + i * 250000);
        assert_true(th_check(buf, len, i));
        i++;
    }
    print_message("%d receives timed out while 12 large messages streamed in\n", timeouts);
    assert_true(timeouts > 0);
    assert_smipc_ok(smipc_client_send(cli, "done", 4, 1000));
    assert_int_equal(th_wait(pid, 20000), 0);
    smipc_client_close(cli);
    free(buf);
    th_gate_close(&a.ready);
}

/* ---- many clients against a server in this process ---- */

struct tagged {
    uint32_t client, seq;
};

struct many_args {
    const char *name;
    uint32_t index, messages;
};

static int many_client_main(void *arg)
{
    struct many_args *a = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 10000));
    char *buf = malloc(20000), *in = malloc(20000);
    for (uint32_t s = 0; s < a->messages; s++) {
        size_t size = sizeof(struct tagged) + (a->index * 7919 + s * 104729) % 12000;
        struct tagged t = {a->index, s};
        th_fill(buf + sizeof t, size - sizeof t, (uint64_t)a->index << 32 | s);
        memcpy(buf, &t, sizeof t);
        CHILD_OK(smipc_client_send(cli, buf, size, 20000));
        size_t len = 20000;
        CHILD_OK(smipc_client_recv(cli, in, &len, 20000));
        CHILD_CHECK(len == size && memcmp(in, buf, size) == 0);
    }
    smipc_client_close(cli);
    free(buf);
    free(in);
    return 0;
}

static void test_many_clients_at_once(void **state)
{
    (void)state;
    enum { CLIENTS = 20, MESSAGES = 150 };
    const char *name = th_name("many");
    smipc_server *srv = th_server(name, NULL);
    struct many_args args[CLIENTS];
    pid_t pids[CLIENTS];
    th_hold_children();
    for (uint32_t i = 0; i < CLIENTS; i++) {
        args[i] = (struct many_args){name, i, MESSAGES};
        pids[i] = th_spawn(many_client_main, &args[i]);
    }
    th_release_children();
    uint32_t next_seq[CLIENTS] = {0};
    smipc_client_id owner[CLIENTS] = {0};
    char *buf = malloc(20000);
    for (unsigned got = 0; got < CLIENTS * MESSAGES; got++) {
        smipc_client_id from;
        size_t len = 20000;
        assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 20000));
        struct tagged t;
        assert_true(len >= sizeof t);
        memcpy(&t, buf, sizeof t);
        assert_true(t.client < CLIENTS);
        /* each connection is FIFO, and one client's messages all come from one id */
        assert_int_equal(t.seq, next_seq[t.client]);
        next_seq[t.client]++;
        if (!owner[t.client])
            owner[t.client] = from;
        assert_int_equal(owner[t.client], from);
        assert_true(th_check(buf + sizeof t, len - sizeof t, (uint64_t)t.client << 32 | t.seq));
        assert_smipc_ok(smipc_server_send(srv, from, buf, len, 20000));
    }
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(th_wait(pids[i], 20000), 0);
    free(buf);
    smipc_server_close(srv);
}

/* ---- broadcast ---- */

struct bcast_args {
    const char *name;
    struct th_gate ready;
    uint32_t messages;
};

static int bcast_client_main(void *arg)
{
    struct bcast_args *a = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 10000));
    th_gate_open(&a->ready);
    char *in = malloc(200000);
    for (uint32_t s = 0; s < a->messages; s++) {
        size_t len = 200000;
        CHILD_OK(smipc_client_recv(cli, in, &len, 20000));
        CHILD_CHECK(len == (s % 5) * 40000 + 3 && th_check(in, len, s));
    }
    smipc_client_close(cli);
    free(in);
    return 0;
}

static int idle_client_main(void *arg)
{
    struct bcast_args *a = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 10000));
    th_gate_open(&a->ready);
    pause(); /* until killed */
    return 0;
}

static void test_broadcast_reaches_every_client(void **state)
{
    (void)state;
    enum { CLIENTS = 6, MESSAGES = 40 };
    const char *name = th_name("bcast");
    smipc_server *srv = th_server(name, NULL);
    struct bcast_args a = {.name = name, .messages = MESSAGES};
    th_gate_init(&a.ready);
    pid_t pids[CLIENTS];
    th_hold_children();
    for (int i = 0; i < CLIENTS; i++)
        pids[i] = th_spawn(bcast_client_main, &a);
    /* plus one that connects and then dies without a word */
    pid_t idle = th_spawn(idle_client_main, &a);
    th_release_children();
    for (int i = 0; i < CLIENTS + 1; i++)
        assert_int_equal(th_gate_wait(&a.ready, 10000), 0);
    size_t n;
    assert_smipc_ok(smipc_server_clients(srv, NULL, 0, &n));
    assert_int_equal(n, CLIENTS + 1);
    th_kill(idle, SIGKILL);
    /* killed but maybe not reaped yet: either way it is not counted */
    char *out = malloc(200000);
    for (uint32_t s = 0; s < MESSAGES; s++) {
        size_t len = (s % 5) * 40000 + 3, delivered = 0;
        th_fill(out, len, s);
        assert_smipc_ok(smipc_server_broadcast(srv, out, len, 20000, &delivered));
        assert_int_equal(delivered, CLIENTS);
    }
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(th_wait(pids[i], 20000), 0);
    free(out);
    th_gate_close(&a.ready);
    smipc_server_close(srv);
}

/* ---- round-robin fairness ---- */

struct flood_args {
    const char *name;
    struct th_gate ready;
    uint32_t index, messages;
};

static int flood_client_main(void *arg)
{
    struct flood_args *a = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 10000));
    for (uint32_t s = 0; s < a->messages; s++) {
        uint32_t msg[2] = {a->index, s};
        CHILD_OK(smipc_client_send(cli, msg, sizeof msg, 30000));
        if (s + 1 == 64) /* the ring (64 packets) is now full */
            th_gate_open(&a->ready);
    }
    smipc_client_close(cli);
    return 0;
}

static void test_round_robin_is_fair_to_flooders(void **state)
{
    (void)state;
    enum { FLOODERS = 4, MESSAGES = 300, ROUNDS = 60 };
    const char *name = th_name("rr");
    smipc_server *srv = th_server(name, NULL);
    struct flood_args a[FLOODERS];
    pid_t pids[FLOODERS];
    th_hold_children();
    for (uint32_t i = 0; i < FLOODERS; i++) {
        a[i] = (struct flood_args){.name = name, .index = i, .messages = MESSAGES};
        th_gate_init(&a[i].ready);
        pids[i] = th_spawn(flood_client_main, &a[i]);
    }
    th_release_children();
    for (int i = 0; i < FLOODERS; i++)
        assert_int_equal(th_gate_wait(&a[i].ready, 10000), 0);
    /* every ring holds 64 messages: for 60 rounds each client is served exactly once per
     * round, whoever floods hardest */
    uint32_t counts[FLOODERS] = {0}, next[FLOODERS] = {0};
    for (int r = 0; r < ROUNDS; r++) {
        int seen[FLOODERS] = {0};
        for (int k = 0; k < FLOODERS; k++) {
            uint32_t msg[2];
            size_t len = sizeof msg;
            smipc_client_id from;
            assert_smipc_ok(smipc_server_recv(srv, &from, msg, &len, 10000));
            assert_true(msg[0] < FLOODERS);
            assert_int_equal(msg[1], next[msg[0]]++);
            seen[msg[0]]++;
            counts[msg[0]]++;
        }
        for (int k = 0; k < FLOODERS; k++)
            assert_int_equal(seen[k], 1);
    }
    /* and nothing is lost after that */
    for (unsigned left = FLOODERS * (MESSAGES - ROUNDS); left; left--) {
        uint32_t msg[2];
        size_t len = sizeof msg;
        smipc_client_id from;
        assert_smipc_ok(smipc_server_recv(srv, &from, msg, &len, 10000));
        assert_int_equal(msg[1], next[msg[0]]++);
    }
    for (int i = 0; i < FLOODERS; i++) {
        assert_int_equal(next[i], MESSAGES);
        assert_int_equal(th_wait(pids[i], 10000), 0);
        th_gate_close(&a[i].ready);
    }
    smipc_server_close(srv);
}

static int quiet_client_main(void *arg)
{
    struct flood_args *a = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 10000));
    uint32_t msg[2] = {a->index, 0};
    CHILD_OK(smipc_client_send(cli, msg, sizeof msg, 10000));
    th_gate_open(&a->ready);
    size_t len = sizeof msg;
    CHILD_OK(smipc_client_recv(cli, msg, &len, 30000)); /* stays until told */
    smipc_client_close(cli);
    return 0;
}

static void test_quiet_client_is_not_starved(void **state)
{
    (void)state;
    enum { FLOODERS = 3 };
    const char *name = th_name("quiet");
    smipc_server *srv = th_server(name, NULL);
    struct flood_args a[FLOODERS + 1];
    pid_t pids[FLOODERS + 1];
    for (uint32_t i = 0; i <= FLOODERS; i++) {
        a[i] = (struct flood_args){.name = name, .index = i, .messages = 2000};
        th_gate_init(&a[i].ready);
    }
    th_hold_children();
    for (uint32_t i = 0; i < FLOODERS; i++)
        pids[i] = th_spawn(flood_client_main, &a[i]);
    th_release_children();
    for (int i = 0; i < FLOODERS; i++)
        assert_int_equal(th_gate_wait(&a[i].ready, 10000), 0);
    pids[FLOODERS] = th_spawn(quiet_client_main, &a[FLOODERS]);
    assert_int_equal(th_gate_wait(&a[FLOODERS].ready, 10000), 0);
    /* the quiet client's one message comes within one round of the flooders */
    int found = -1;
    smipc_client_id quiet = 0;
    for (int k = 0; k < FLOODERS + 1 && found < 0; k++) {
        uint32_t msg[2];
        size_t len = sizeof msg;
        smipc_client_id from;
        assert_smipc_ok(smipc_server_recv(srv, &from, msg, &len, 10000));
        if (msg[0] == FLOODERS) {
            found = k;
            quiet = from;
        }
    }
    assert_true(found >= 0);
    assert_smipc_ok(smipc_server_send(srv, quiet, "bye", 3, 1000));
    assert_int_equal(th_wait(pids[FLOODERS], 10000), 0);
    for (int i = 0; i < FLOODERS; i++)
        th_kill(pids[i], SIGKILL);
    for (int i = 0; i <= FLOODERS; i++)
        th_gate_close(&a[i].ready);
    smipc_server_close(srv);
}

struct bcast {
    smipc_server *srv;
    int timeout_ms, rc;
    size_t delivered;
};

static void *broadcast_thread(void *p)
{
    struct bcast *b = p;
    b->rc = smipc_server_broadcast(b->srv, "news", 4, b->timeout_ms, &b->delivered);
    return NULL;
}

/* One client with a full ring does not hold back the others: they get a broadcast at
 * once, even one that waits for ever for the full client; a broadcast that times out
 * still says how many got it. */
static void test_broadcast_waits_only_for_full_clients(void **state)
{
    (void)state;
    const char *name = th_name("bslow");
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.packet_size = 64;
    cfg.ring_packets = 8;
    smipc_server *srv = th_server(name, &cfg);
    smipc_client *slow = th_client(name), *b = th_client(name), *c = th_client(name);
    for (int i = 0; i < 8; i++) /* the first in the table: its ring is full */
        assert_smipc_ok(smipc_server_send(srv, smipc_client_id_of(slow), "x", 1, 1000));
    struct bcast t = {srv, 100, -99, 99};
    broadcast_thread(&t);
    assert_status(t.rc, SMIPC_ETIMEDOUT);
    assert_int_equal(t.delivered, 2);
    char m[8];
    size_t len;
    smipc_client *fast[2] = {b, c};
    for (int i = 0; i < 2; i++) {
        len = sizeof m;
        assert_smipc_ok(smipc_client_recv(fast[i], m, &len, 1000));
    }
    /* waiting for ever for the slow one, the others have it at once */
    struct bcast forever = {srv, -1, -99, 99};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, broadcast_thread, &forever), 0);
    for (int i = 0; i < 2; i++) {
        len = sizeof m;
        assert_smipc_ok(smipc_client_recv(fast[i], m, &len, 5000));
        assert_true(len == 4 && !memcmp(m, "news", 4));
    }
    /* the slow one reads: the broadcast completes */
    for (int i = 0; i < 8; i++) {
        len = sizeof m;
        assert_smipc_ok(smipc_client_recv(slow, m, &len, 5000));
    }
    len = sizeof m;
    assert_smipc_ok(smipc_client_recv(slow, m, &len, 5000));
    assert_true(len == 4 && !memcmp(m, "news", 4));
    pthread_join(th, NULL);
    assert_smipc_ok(forever.rc);
    assert_int_equal(forever.delivered, 3);
    smipc_client_close(slow);
    smipc_client_close(b);
    smipc_client_close(c);
    smipc_server_close(srv);
}

int main(void)
{
    th_runtime_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_every_size),
        cmocka_unit_test(test_echo_without_checksums),
        cmocka_unit_test(test_receive_timeouts_in_the_middle_of_messages),
        cmocka_unit_test(test_many_clients_at_once),
        cmocka_unit_test(test_broadcast_reaches_every_client),
        cmocka_unit_test(test_broadcast_waits_only_for_full_clients),
        cmocka_unit_test(test_round_robin_is_fair_to_flooders),
        cmocka_unit_test(test_quiet_client_is_not_starved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
