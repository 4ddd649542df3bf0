/* The descriptors for event loops: readable exactly when a receive would find something
 * (or the peer is gone), without the application ever calling a blocking receive. */
#include "helpers.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void test_client_fd_follows_the_queue(void **state)
{
    (void)state;
    const char *name = th_name("cfd");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *cli = th_client(name);
    int fd = smipc_client_fd(cli);
    assert_true(fd >= 0);
    assert_int_equal(smipc_client_fd(cli), fd); /* the same one every time */
    assert_false(readable(fd, 0));
    smipc_client_id id = smipc_client_id_of(cli);
    assert_smipc_ok(smipc_server_send(srv, id, "a", 1, 1000));
    assert_true(readable(fd, 5000));
    assert_smipc_ok(smipc_server_send(srv, id, "b", 1, 1000));
    char b[4];
    size_t len = sizeof b;
    assert_smipc_ok(smipc_client_recv(cli, b, &len, 0));
    assert_true(b[0] == 'a');
    assert_true(readable(fd, 0)); /* "b" is still queued */
    len = sizeof b;
    assert_smipc_ok(smipc_client_recv(cli, b, &len, 0));
    assert_true(b[0] == 'b');
    len = sizeof b;
    assert_status(smipc_client_recv(cli, b, &len, 0), SMIPC_ETIMEDOUT);
    assert_false(readable(fd, 0));
    /* readable again for the next message, and for ETOOSMALL the message stays */
    assert_smipc_ok(smipc_server_send(srv, id, "long message", 12, 1000));
    assert_true(readable(fd, 5000));
    len = 2;
    assert_status(smipc_client_recv(cli, b, &len, 0), SMIPC_ETOOSMALL);
    assert_true(readable(fd, 0));
    char big[16];
    len = sizeof big;
    assert_smipc_ok(smipc_client_recv(cli, big, &len, 0));
    /* the server going away makes it readable too, and recv says ECLOSED */
    smipc_server_close(srv);
    assert_true(readable(fd, 5000));
    len = sizeof b;
    assert_status(smipc_client_recv(cli, b, &len, 0), SMIPC_ECLOSED);
    smipc_client_close(cli);
}

static void test_server_fd_follows_every_client(void **state)
{
    (void)state;
    const char *name = th_name("sfd");
    smipc_server *srv = th_server(name, NULL);
    int fd = smipc_server_fd(srv);
    assert_true(fd >= 0);
    assert_false(readable(fd, 0));
    smipc_client *a = th_client(name), *b = th_client(name);
    assert_false(readable(fd, 0));
    assert_smipc_ok(smipc_client_send(b, "from b", 6, 1000));
    assert_true(readable(fd, 5000));
    assert_smipc_ok(smipc_client_send(a, "from a", 6, 1000));
    char m[8];
    size_t len = sizeof m;
    smipc_client_id from;
    assert_smipc_ok(smipc_server_recv(srv, &from, m, &len, 0));
    assert_true(readable(fd, 0)); /* the other one is waiting */
    len = sizeof m;
    assert_smipc_ok(smipc_server_recv(srv, &from, m, &len, 0));
    len = sizeof m;
    assert_status(smipc_server_recv(srv, &from, m, &len, 0), SMIPC_ETIMEDOUT);
    assert_false(readable(fd, 0));
    /* a client connected after the fd was taken is covered too */
    smipc_client *c = th_client(name);
    assert_smipc_ok(smipc_client_send(c, "from c", 6, 1000));
    assert_true(readable(fd, 5000));
    len = sizeof m;
    assert_smipc_ok(smipc_server_recv(srv, &from, m, &len, 0));
    assert_int_equal(from, smipc_client_id_of(c));
    smipc_client_close(a);
    smipc_client_close(b);
    smipc_client_close(c);
    smipc_server_close(srv);
}

/* A child process sends while this one only polls: the wake-up crosses processes. */
struct late_args {
    const char *name;
    struct th_gate go;
};

static int late_sender_main(void *arg)
{
    struct late_args *a = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 10000));
    CHILD_CHECK(th_gate_wait(&a->go, 10000) == 0);
    CHILD_OK(smipc_client_send(cli, "late", 4, 1000));
    CHILD_CHECK(th_gate_wait(&a->go, 10000) == 0);
    smipc_client_close(cli);
    return 0;
}

static void test_poll_wakes_across_processes(void **state)
{
    (void)state;
    struct late_args a = {.name = th_name("pollx")};
    th_gate_init(&a.go);
    smipc_server *srv = th_server(a.name, NULL);
    int fd = smipc_server_fd(srv);
    pid_t pid = th_spawn(late_sender_main, &a);
    th_gate_open(&a.go);
    assert_true(readable(fd, 10000));
    char m[8];
    size_t len = sizeof m;
    smipc_client_id from;
    assert_smipc_ok(smipc_server_recv(srv, &from, m, &len, 0));
    assert_true(len == 4 && !memcmp(m, "late", 4));
    th_gate_open(&a.go);
    assert_int_equal(th_wait(pid, 10000), 0);
    th_gate_close(&a.go);
    smipc_server_close(srv);
}

struct blocked_recv {
    smipc_server *srv;
    smipc_client *cli;
    _Atomic pid_t tid;
    int rc;
    char msg[8];
    size_t len;
};

struct half_args {
    const char *name;
};

static int big_sender_main(void *arg)
{
    struct half_args *a = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 5000));
    static char big[100000];
    th_fill(big, sizeof big, 3);
    CHILD_OK(smipc_client_send(cli, big, sizeof big, 20000)); /* streams: 25 rings' worth */
    smipc_client_close(cli);
    return 0;
}

/* An event loop's receive with timeout 0 that meets a message half-written takes what is
 * there and returns; the fd must still become readable as the rest arrives. It did not:
 * the connections were left unarmed on that timeout, and the loop waited for ever. */
static void test_server_fd_across_a_half_sent_message(void **state)
{
    (void)state;
    struct half_args a = {th_name("sfdhalf")};
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.packet_size = 1024;
    cfg.ring_packets = 4;
    cfg.bulk_size = cfg.bulk_slots = 0; /* through the ring, a packet at a time */
    smipc_server *srv = th_server(a.name, &cfg);
    int fd = smipc_server_fd(srv);
    pid_t pid = th_spawn(big_sender_main, &a);
    static char buf[100000];
    int rc, timeouts = 0;
    do {
        assert_true(readable(fd, 10000));
        size_t len = sizeof buf;
        smipc_client_id from;
        rc = smipc_server_recv(srv, &from, buf, &len, 0);
        if (rc == SMIPC_OK) {
            assert_true(len == sizeof buf && th_check(buf, len, 3));
        } else {
            assert_status(rc, SMIPC_ETIMEDOUT);
            timeouts++;
        }
    } while (rc != SMIPC_OK);
    print_message("%d receives met the message half-sent\n", timeouts);
    assert_int_equal(th_wait(pid, 20000), 0);
    smipc_server_close(srv);
}

static void *recv_forever(void *p)
{
    struct blocked_recv *b = p;
    atomic_store(&b->tid, (pid_t)syscall(SYS_gettid));
    b->len = sizeof b->msg;
    smipc_client_id from;
    b->rc = b->cli ? smipc_client_recv(b->cli, b->msg, &b->len, -1)
                   : smipc_server_recv(b->srv, &from, b->msg, &b->len, -1);
    return NULL;
}

/* Asking for the descriptor while another thread sits in a receive that waits for ever
 * returns at once (it used to wait for that receive's lock), and the descriptor still
 * works: readable, and the blocked receive gets the message. */
static void test_fd_while_a_receive_blocks(void **state)
{
    (void)state;
    const char *name = th_name("fdblk");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *cli = th_client(name);
    for (int side = 0; side < 2; side++) {
        struct blocked_recv b = {.srv = srv, .cli = side ? NULL : cli};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, recv_forever, &b), 0);
        assert_true(th_thread_sleeps(&b.tid, 10000));
        int fd = side ? smipc_server_fd(srv) : smipc_client_fd(cli);
        assert_true(fd >= 0);
        if (side)
            assert_smipc_ok(smipc_client_send(cli, "up", 2, 1000));
        else
            assert_smipc_ok(smipc_server_send(srv, smipc_client_id_of(cli), "down", 4, 1000));
        assert_true(readable(fd, 5000));
        pthread_join(t, NULL);
        assert_smipc_ok(b.rc);
        assert_true(side ? b.len == 2 && !memcmp(b.msg, "up", 2)
                         : b.len == 4 && !memcmp(b.msg, "down", 4));
    }
    smipc_client_close(cli);
    smipc_server_close(srv);
}

int main(void)
{
    th_runtime_dir();
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_fd_follows_the_queue),
        cmocka_unit_test(test_server_fd_follows_every_client),
        cmocka_unit_test(test_poll_wakes_across_processes),
        cmocka_unit_test(test_fd_while_a_receive_blocks),
        cmocka_unit_test(test_server_fd_across_a_half_sent_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
