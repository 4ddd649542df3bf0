/* Peers that die at the worst moment, names left behind by dead servers, and fork(). */
#include "helpers.h"

#include "layout.h"
#include "testing.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1u << 20)

/* Packets the client has published into its c2s ring (white-box: the ring's `next`). */
static uint32_t c2s_published(smipc_server *srv, smipc_client_id id)
{
    size_t size;
    void *map = smipc_testing_server_segment(srv, id, &size);
    if (!map)
        return 0;
    const struct smipc_segment_hdr *sh = map;
    const struct smipc_ring_hdr *rh = (void *)((char *)map + sh->ring_offset[0]);
    return atomic_load(&((struct smipc_ring_hdr *)rh)->next);
}

struct sender_args {
    const char *name;
    struct th_gate ready;
    size_t size;
    int repeat;
};

/* Connects, reports its id, then sends `size`-byte messages `repeat` times (or for ever). */
static int sender_main(void *arg)
{
    struct sender_args *a = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 10000));
    th_gate_send_u64(&a->ready, smipc_client_id_of(cli));
    char *buf = malloc(a->size);
    th_fill(buf, a->size, a->size);
    for (int i = 0; a->repeat < 0 || i < a->repeat; i++)
        CHILD_OK(smipc_client_send(cli, buf, a->size, -1));
    smipc_client_close(cli);
    return 0;
}

/* Packets a send of a message larger than the bulk area has published when it must wait:
 * one per chunk of the default bulk area. */
static uint32_t stuck_packets(void)
{
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    return cfg.bulk_slots;
}

static void test_client_killed_mid_transfer(void **state)
{
    (void)state;
    const char *name = th_name("killcli");
    smipc_server *srv = th_server(name, NULL);
    struct sender_args a = {.name = name, .size = 20 * MiB, .repeat = 1};
    th_gate_init(&a.ready);
    int fds_before = th_count_fds();
    /* an honest client with one small message queued */
    smipc_client *honest = th_client(name);
    assert_smipc_ok(smipc_client_send(honest, "still here", 10, 1000));
    /* a client stuck part-way through a 20 MiB message: it has published one packet per
     * chunk the bulk area holds */
    pid_t pid = th_spawn(sender_main, &a);
    uint64_t id;
    assert_int_equal(th_gate_recv_u64(&a.ready, &id, 10000), 0);
    int64_t end = th_now_ms() + 10000;
    while (c2s_published(srv, id) < stuck_packets() && th_now_ms() < end)
        poll(NULL, 0, 1);
    assert_int_equal(c2s_published(srv, id), stuck_packets());
    th_kill(pid, SIGKILL);

    /* the honest message arrives; the dead client's half message never does */
    char *buf = malloc(21 * MiB);
    size_t len = 21 * MiB;
    smipc_client_id from;
    int got_honest = 0;
    for (;;) {
        len = 21 * MiB;
        int rc = smipc_server_recv(srv, &from, buf, &len, 300);
        if (rc == SMIPC_ETIMEDOUT)
            break;
        assert_smipc_ok(rc);
        assert_int_equal(from, smipc_client_id_of(honest));
        assert_true(len == 10 && !memcmp(buf, "still here", 10));
        got_honest++;
    }
    assert_int_equal(got_honest, 1);
    assert_true(th_clients_become(srv, 1, 5000));
    assert_status(smipc_server_send(srv, id, "x", 1, 0), SMIPC_ENOCLIENT);
    /* its descriptors are gone: only the honest client's remain */
    smipc_client_close(honest);
    assert_true(th_clients_become(srv, 0, 5000));
    len = 1;
    assert_status(smipc_server_recv(srv, &from, buf, &len, 0), SMIPC_ETIMEDOUT);
    assert_int_equal(th_count_fds(), fds_before);
    free(buf);
    th_gate_close(&a.ready);
    smipc_server_close(srv);
}

static void test_clients_killed_at_random_moments(void **state)
{
    (void)state;
    const char *name = th_name("killrand");
    smipc_server *srv = th_server(name, NULL);
    const size_t size = 3 * MiB + 17;
    char *buf = malloc(size);
    srand(7);
    for (int round = 0; round < 6; round++) {
        struct sender_args a = {.name = name, .size = size, .repeat = -1};
        th_gate_init(&a.ready);
        pid_t pid = th_spawn(sender_main, &a);
        uint64_t id;
        assert_int_equal(th_gate_recv_u64(&a.ready, &id, 10000), 0);
        /* receive a few whole ones, then kill while the next is on its way */
        int whole = 0, kill_after = 1 + rand() % 3;
        for (;;) {
            size_t len = size;
            smipc_client_id from;
            int rc = smipc_server_recv(srv, &from, buf, &len, 500);
            if (rc == SMIPC_ETIMEDOUT)
                break;
            assert_smipc_ok(rc);
            /* whatever arrives is whole and intact */
            assert_int_equal(len, size);
            assert_true(th_check(buf, len, size));
            if (++whole == kill_after) {
                usleep((useconds_t)(rand() % 2000)); /* a random point of the next one */
                th_kill(pid, SIGKILL);
            }
        }
        assert_true(whole >= kill_after);
        assert_true(th_clients_become(srv, 0, 5000));
        th_gate_close(&a.ready);
    }
    free(buf);
    smipc_server_close(srv);
}

static int send_then_die_main(void *arg)
{
    struct sender_args *a = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 10000));
    char *buf = malloc(a->size);
    for (int i = 0; i < a->repeat; i++) {
        th_fill(buf, a->size, (uint64_t)i);
        CHILD_OK(smipc_client_send(cli, buf, a->size, 10000));
    }
    th_gate_send_u64(&a->ready, smipc_client_id_of(cli));
    kill(getpid(), SIGKILL); /* no close, no goodbye */
    return 0;
}

static void test_messages_sent_before_death_are_delivered(void **state)
{
    (void)state;
    const char *name = th_name("lastwords");
    smipc_server *srv = th_server(name, NULL);
    /* 20 messages of 10 KiB fit the ring (64 x 4 KiB): all are queued when it dies */
    struct sender_args a = {.name = name, .size = 10000, .repeat = 20};
    th_gate_init(&a.ready);
    pid_t pid = th_spawn(send_then_die_main, &a);
    uint64_t id;
    assert_int_equal(th_gate_recv_u64(&a.ready, &id, 10000), 0);
    assert_int_equal(th_wait(pid, 10000), 128 + SIGKILL);
    /* dead, and maybe already noticed: its messages still come, in order, then it goes */
    char buf[10000];
    for (int i = 0; i < 20; i++) {
        size_t len = sizeof buf;
        smipc_client_id from;
        assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 5000));
        assert_int_equal(from, id);
        assert_true(len == 10000 && th_check(buf, len, (uint64_t)i));
    }
    size_t len = sizeof buf;
    smipc_client_id from;
    assert_status(smipc_server_recv(srv, &from, buf, &len, 100), SMIPC_ETIMEDOUT);
    assert_true(th_clients_become(srv, 0, 5000));
    assert_status(smipc_server_send(srv, id, "x", 1, 0), SMIPC_ENOCLIENT);
    th_gate_close(&a.ready);
    smipc_server_close(srv);
}

/* A departure the server's thread notices while a receive is under way leaves a reap
 * request for that receive. It must be honoured even when the receive already dropped the
 * connection itself (it saw the hang-up first): a request left standing made every wait
 * return at once, and the receive spun at full speed past its timeout, for ever. */
static void *request_reap_during_receive(void *p)
{
    while (!smipc_testing_server_reap_while_receiving(p))
        sched_yield();
    return NULL;
}

static int receive_times_out_main(void *arg)
{
    const char *name = arg;
    smipc_server *srv;
    CHILD_OK(smipc_server_open(&srv, name, NULL));
    pthread_t t;
    pthread_create(&t, NULL, request_reap_during_receive, srv);
    char buf[64];
    size_t len = sizeof buf;
    smipc_client_id from;
    int rc = smipc_server_recv(srv, &from, buf, &len, 300);
    pthread_join(t, NULL);
    CHILD_CHECK(rc == SMIPC_ETIMEDOUT);
    smipc_server_close(srv);
    return 0;
}

static void test_stray_reap_request_does_not_spin_the_receive(void **state)
{
    (void)state;
    /* in a child: the failure this guards against never returns */
    pid_t pid = th_spawn(receive_times_out_main, (void *)th_name("reapspin"));
    assert_int_equal(th_wait(pid, 20000), 0);
}

/* ---- the server dies ---- */

static int silent_server_main(void *arg)
{
    struct sender_args *a = arg;
    smipc_server *srv;
    CHILD_OK(smipc_server_open(&srv, a->name, NULL));
    th_gate_open(&a->ready);
    pause(); /* never reads: the client's ring fills */
    return 0;
}

struct blocked_call {
    smipc_client *cli;
    int rc;
    int64_t returned_ms;
};

static void *blocked_send(void *p)
{
    struct blocked_call *b = p;
    size_t size = 8 * MiB;
    char *buf = calloc(1, size);
    b->rc = smipc_client_send(b->cli, buf, size, -1);
    b->returned_ms = th_now_ms();
    free(buf);
    return NULL;
}

static void *blocked_recv(void *p)
{
    struct blocked_call *b = p;
    char buf[64];
    size_t len = sizeof buf;
    b->rc = smipc_client_recv(b->cli, buf, &len, -1);
    b->returned_ms = th_now_ms();
    return NULL;
}

static void test_server_killed_mid_transfer(void **state)
{
    (void)state;
    struct sender_args a = {.name = th_name("killsrv")};
    th_gate_init(&a.ready);
    pid_t pid = th_spawn(silent_server_main, &a);
    assert_int_equal(th_gate_wait(&a.ready, 10000), 0);
    smipc_client *cli = th_client(a.name);
    struct blocked_call s = {cli, 99, 0}, r = {cli, 99, 0};
    pthread_t ts, tr;
    pthread_create(&ts, NULL, blocked_send, &s);
    pthread_create(&tr, NULL, blocked_recv, &r);
    /* the send is stuck mid-message once the ring is full */
    size_t size;
    void *map = smipc_testing_client_segment(cli, &size);
    struct smipc_ring_hdr *c2s =
        (void *)((char *)map + ((struct smipc_segment_hdr *)map)->ring_offset[0]);
    int64_t end = th_now_ms() + 10000;
    while (atomic_load(&c2s->next) < stuck_packets() && th_now_ms() < end)
        poll(NULL, 0, 1);
    assert_int_equal(atomic_load(&c2s->next), stuck_packets());
    int64_t killed = th_now_ms();
    th_kill(pid, SIGKILL);
    pthread_join(ts, NULL);
    pthread_join(tr, NULL);
    assert_status(s.rc, SMIPC_ECLOSED);
    assert_status(r.rc, SMIPC_ECLOSED);
    print_message("blocked send returned %lld ms after the kill, recv %lld ms\n",
                  (long long)(s.returned_ms - killed), (long long)(r.returned_ms - killed));
    assert_true(s.returned_ms - killed < 1000);
    assert_true(r.returned_ms - killed < 1000);
    /* and later calls say the same at once */
    assert_status(smipc_client_send(cli, "x", 1, -1), SMIPC_ECLOSED);
    char b[4];
    size_t len = sizeof b;
    assert_status(smipc_client_recv(cli, b, &len, -1), SMIPC_ECLOSED);
    smipc_client_close(cli);
    th_gate_close(&a.ready);
}

/* ---- names left behind ---- */

static int die_holding_name(void *arg)
{
    struct sender_args *a = arg;
    smipc_server *srv;
    CHILD_OK(smipc_server_open(&srv, a->name, NULL));
    kill(getpid(), SIGKILL); /* no close: the socket file stays */
    return 0;
}

struct race_args {
    const char *name;
    struct th_gate go;
    struct th_gate result;
};

static int race_open_main(void *arg)
{
    struct race_args *a = arg;
    CHILD_CHECK(th_gate_wait(&a->go, 10000) == 0);
    smipc_server *srv;
    int rc = smipc_server_open(&srv, a->name, NULL);
    th_gate_send_u64(&a->result, (uint64_t)(int64_t)rc);
    if (rc == SMIPC_OK)
        pause(); /* hold the name until killed */
    return 0;
}

static void test_stale_name_is_taken_over(void **state)
{
    (void)state;
    struct sender_args a = {.name = th_name("stale")};
    pid_t pid = th_spawn(die_holding_name, &a);
    assert_int_equal(th_wait(pid, 10000), 128 + SIGKILL);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", th_runtime_dir(), a.name);
    assert_int_equal(access(path, F_OK), 0); /* the dead server's socket is still there */
    smipc_client *cli = NULL;
    assert_status(smipc_client_connect(&cli, a.name, 1000), SMIPC_ENOTFOUND);
    smipc_server *srv = th_server(a.name, NULL);
    cli = th_client(a.name);
    smipc_client_close(cli);
    smipc_server_close(srv);

    /* two servers racing for one stale name: exactly one wins */
    for (int round = 0; round < 8; round++) {
        pid = th_spawn(die_holding_name, &a);
        assert_int_equal(th_wait(pid, 10000), 128 + SIGKILL);
        struct race_args r = {.name = a.name};
        th_gate_init(&r.go);
        th_gate_init(&r.result);
        pid_t p1 = th_spawn(race_open_main, &r), p2 = th_spawn(race_open_main, &r);
        th_gate_open(&r.go);
        th_gate_open(&r.go);
        uint64_t r1, r2;
        assert_int_equal(th_gate_recv_u64(&r.result, &r1, 10000), 0);
        assert_int_equal(th_gate_recv_u64(&r.result, &r2, 10000), 0);
        int ok = ((int)r1 == SMIPC_OK) + ((int)r2 == SMIPC_OK);
        int exists = ((int)r1 == SMIPC_EEXIST) + ((int)r2 == SMIPC_EEXIST);
        assert_int_equal(ok, 1);
        assert_int_equal(exists, 1);
        /* and the winner really serves the name */
        cli = th_client(a.name);
        smipc_client_close(cli);
        th_kill(p1, SIGKILL);
        th_kill(p2, SIGKILL);
        th_gate_close(&r.go);
        th_gate_close(&r.result);
    }
}

/* ---- fork ---- */

struct fork_args {
    const char *name;
    struct th_gate ready, checked, hold;
};

/* A server that forks a long-lived child, then gets killed: the child must not keep the
 * listener or the clients' control sockets alive. */
static int forking_server_main(void *arg)
{
    struct fork_args *a = arg;
    smipc_server *srv;
    CHILD_OK(smipc_server_open(&srv, a->name, NULL));
    th_gate_open(&a->ready); /* the test connects a client now */
    char m[8];
    size_t len = sizeof m;
    smipc_client_id from;
    CHILD_OK(smipc_server_recv(srv, &from, m, &len, 10000)); /* the client is in */
    pid_t child = fork();
    if (child == 0) {
        /* every inherited handle is dead here */
        size_t n;
        CHILD_CHECK(smipc_server_clients(srv, NULL, 0, &n) == SMIPC_ECLOSED);
        CHILD_CHECK(smipc_server_send(srv, from, "x", 1, 0) == SMIPC_ECLOSED);
        len = sizeof m;
        CHILD_CHECK(smipc_server_recv(srv, &from, m, &len, 0) == SMIPC_ECLOSED);
        CHILD_CHECK(smipc_server_fd(srv) == SMIPC_ECLOSED);
        /* no close: like most forked children, it just carries the handle along */
        th_gate_open(&a->checked);
        th_gate_wait(&a->hold, 30000); /* outlive the parent */
        _exit(0);
    }
    pause();
    return 0;
}

static void test_fork_child_does_not_keep_server_alive(void **state)
{
    (void)state;
    struct fork_args a = {.name = th_name("fork")};
    th_gate_init(&a.ready);
    th_gate_init(&a.checked);
    th_gate_init(&a.hold);
    pid_t srv_pid = th_spawn(forking_server_main, &a);
    assert_int_equal(th_gate_wait(&a.ready, 10000), 0);
    smipc_client *cli = th_client(a.name);
    assert_smipc_ok(smipc_client_send(cli, "hi", 2, 1000));
    assert_int_equal(th_gate_wait(&a.checked, 10000), 0); /* the grandchild checked */
    th_kill(srv_pid, SIGKILL);
    char b[4];
    size_t len = sizeof b;
    int64_t t0 = th_now_ms();
    assert_status(smipc_client_recv(cli, b, &len, 5000), SMIPC_ECLOSED);
    assert_true(th_now_ms() - t0 < 1000);
    smipc_client *again = NULL;
    assert_status(smipc_client_connect(&again, a.name, 1000), SMIPC_ENOTFOUND);
    smipc_client_close(cli);
    th_gate_open(&a.hold); /* let the grandchild go */
    th_gate_close(&a.ready);
    th_gate_close(&a.checked);
    th_gate_close(&a.hold);
}

static void test_forked_client_handle_is_inert(void **state)
{
    (void)state;
    const char *name = th_name("forkcli");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *cli = th_client(name);
    smipc_client_id id = smipc_client_id_of(cli);
    assert_smipc_ok(smipc_server_send(srv, id, "one", 3, 1000));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        char b[8];
        size_t len = sizeof b;
        CHILD_CHECK(smipc_client_recv(cli, b, &len, 0) == SMIPC_ECLOSED);
        CHILD_CHECK(smipc_client_send(cli, "evil", 4, 0) == SMIPC_ECLOSED);
        CHILD_CHECK(smipc_client_fd(cli) == SMIPC_ECLOSED);
        smipc_client_close(cli);
        _exit(0);
    }
    assert_int_equal(th_wait(pid, 10000), 0);
    /* the parent's connection is untouched: the queued message, then more traffic */
    char b[8];
    size_t len = sizeof b;
    assert_smipc_ok(smipc_client_recv(cli, b, &len, 1000));
    assert_true(len == 3 && !memcmp(b, "one", 3));
    assert_smipc_ok(smipc_client_send(cli, "two", 3, 1000));
    smipc_client_id from;
    len = sizeof b;
    assert_smipc_ok(smipc_server_recv(srv, &from, b, &len, 1000));
    assert_true(from == id && len == 3 && !memcmp(b, "two", 3));
    size_t n;
    assert_smipc_ok(smipc_server_clients(srv, NULL, 0, &n));
    assert_int_equal(n, 1);
    smipc_client_close(cli);
    smipc_server_close(srv);
}

/* A child may close the server it inherited: with several clients that once wrote the
 * new client count into each segment, which the child does not have (SIGSEGV). The
 * parent's server and clients go on untouched. */
static void test_forked_server_handle_closes_cleanly(void **state)
{
    (void)state;
    const char *name = th_name("forksrv");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *a = th_client(name), *b = th_client(name), *c = th_client(name);
    assert_true(th_clients_become(srv, 3, 5000));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        size_t n;
        CHILD_CHECK(smipc_server_clients(srv, NULL, 0, &n) == SMIPC_ECLOSED);
        CHILD_CHECK(smipc_server_send(srv, smipc_client_id_of(a), "evil", 4, 0) == SMIPC_ECLOSED);
        smipc_server_shutdown(srv);
        smipc_server_close(srv);
        _exit(0);
    }
    assert_int_equal(th_wait(pid, 10000), 0);
    smipc_client *clients[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        assert_smipc_ok(smipc_client_send(clients[i], "hi", 2, 1000));
        char m[4];
        size_t len = sizeof m;
        smipc_client_id from;
        assert_smipc_ok(smipc_server_recv(srv, &from, m, &len, 5000));
        assert_true(from == smipc_client_id_of(clients[i]) && len == 2);
        assert_smipc_ok(smipc_server_send(srv, from, "ok", 2, 1000));
        len = sizeof m;
        assert_smipc_ok(smipc_client_recv(clients[i], m, &len, 5000));
        smipc_client_close(clients[i]);
    }
    smipc_server_close(srv);
}

struct connecting {
    const char *path;
    _Atomic pid_t tid;
    int rc;
};

static void *connect_thread(void *p)
{
    struct connecting *c = p;
    atomic_store(&c->tid, (pid_t)syscall(SYS_gettid));
    smipc_client *cli = NULL;
    c->rc = smipc_client_connect(&cli, c->path, 2000);
    smipc_client_close(cli);
    return NULL;
}

static int hold_until_released(void *arg)
{
    th_gate_wait(arg, 30000);
    return 0;
}

/* A process forked while another thread is in the middle of a connect keeps none of
 * that connect's descriptors: once the parent gives up, the server sees the socket
 * closed (the child's copy used to keep it open). */
static void test_fork_during_a_handshake_keeps_nothing(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/silent-%d", th_runtime_dir(), (int)getpid());
    unlink(path);
    int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 4), 0);
    struct connecting c = {.path = path};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, connect_thread, &c), 0);
    int afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(afd >= 0);
    char hello[64];
    assert_true(recv(afd, hello, sizeof hello, 0) > 0); /* and never answered */
    assert_true(th_thread_sleeps(&c.tid, 10000));
    struct th_gate release;
    th_gate_init(&release);
    pid_t child = th_spawn(hold_until_released, &release);
    pthread_join(t, NULL);
    assert_status(c.rc, SMIPC_ETIMEDOUT);
    struct pollfd pf = {.fd = afd, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 5000), 1);
    assert_int_equal(recv(afd, hello, sizeof hello, MSG_DONTWAIT), 0); /* end of file */
    th_gate_open(&release);
    assert_int_equal(th_wait(child, 10000), 0);
    th_gate_close(&release);
    close(afd);
    close(lfd);
    unlink(path);
}

int main(void)
{
    th_runtime_dir();
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_killed_mid_transfer),
        cmocka_unit_test(test_clients_killed_at_random_moments),
        cmocka_unit_test(test_messages_sent_before_death_are_delivered),
        cmocka_unit_test(test_stray_reap_request_does_not_spin_the_receive),
        cmocka_unit_test(test_server_killed_mid_transfer),
        cmocka_unit_test(test_stale_name_is_taken_over),
        cmocka_unit_test(test_fork_child_does_not_keep_server_alive),
        cmocka_unit_test(test_forked_client_handle_is_inert),
        cmocka_unit_test(test_forked_server_handle_closes_cleanly),
        cmocka_unit_test(test_fork_during_a_handshake_keeps_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
