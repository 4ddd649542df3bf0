/* smipc_*_shutdown from another thread wakes every call blocked on the handle: they and
 * every later call return SMIPC_ECLOSED, the peer is told, and a server's name is free at
 * once. This is what a binding's close() builds on while other threads are in calls. */
#include "helpers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { BIG = 100000 }; /* larger than the test rings: a send of it must wait for room */

struct blocked_call {
    smipc_server *srv;
    smipc_client *cli;
    smipc_client_id to;
    _Atomic pid_t tid;
    int rc;
};

static void *server_recv_forever(void *p)
{
    struct blocked_call *b = p;
    atomic_store(&b->tid, (pid_t)syscall(SYS_gettid));
    char buf[64];
    size_t len = sizeof buf;
    smipc_client_id from;
    b->rc = smipc_server_recv(b->srv, &from, buf, &len, -1);
    return NULL;
}

static void *server_send_forever(void *p)
{
    struct blocked_call *b = p;
    atomic_store(&b->tid, (pid_t)syscall(SYS_gettid));
    char *buf = calloc(1, BIG);
    b->rc = smipc_server_send(b->srv, b->to, buf, BIG, -1);
    free(buf);
    return NULL;
}

static void *client_recv_forever(void *p)
{
    struct blocked_call *b = p;
    atomic_store(&b->tid, (pid_t)syscall(SYS_gettid));
    char buf[64];
    size_t len = sizeof buf;
    b->rc = smipc_client_recv(b->cli, buf, &len, -1);
    return NULL;
}

static void *client_send_forever(void *p)
{
    struct blocked_call *b = p;
    atomic_store(&b->tid, (pid_t)syscall(SYS_gettid));
    char *buf = calloc(1, BIG);
    b->rc = smipc_client_send(b->cli, buf, BIG, -1);
    free(buf);
    return NULL;
}

static smipc_server_config small_rings(void)
{
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.packet_size = 1024;
    cfg.ring_packets = 4;
    cfg.bulk_size = cfg.bulk_slots = 0; /* a large message streams through the ring */
    return cfg;
}

/* Starts fn on b and returns once its thread sleeps inside the call. */
static pthread_t start_blocked(void *(*fn)(void *), struct blocked_call *b)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fn, b), 0);
    assert_true(th_thread_sleeps(&b->tid, 10000));
    return t;
}

static void test_server_shutdown_wakes_blocked_calls(void **state)
{
    (void)state;
    const char *name = th_name("shutsrv");
    smipc_server_config cfg = small_rings();
    smipc_server *srv = th_server(name, &cfg);
    smipc_client *cli = th_client(name);
    struct blocked_call r = {.srv = srv}, s = {.srv = srv, .to = smipc_client_id_of(cli)};
    pthread_t rt = start_blocked(server_recv_forever, &r);
    pthread_t st = start_blocked(server_send_forever, &s);

    smipc_server_shutdown(srv);
    pthread_join(rt, NULL);
    pthread_join(st, NULL);
    assert_status(r.rc, SMIPC_ECLOSED);
    assert_status(s.rc, SMIPC_ECLOSED);

    /* the name is free before the old handle is closed */
    smipc_server *next;
    assert_smipc_ok(smipc_server_open(&next, name, NULL));
    /* the client is told; the message cut off by the shutdown is never delivered */
    char buf[BIG];
    size_t len = sizeof buf;
    assert_status(smipc_client_recv(cli, buf, &len, 5000), SMIPC_ECLOSED);

    /* every later call says the same */
    smipc_client_id from;
    size_t count;
    len = sizeof buf;
    assert_status(smipc_server_recv(srv, &from, buf, &len, 0), SMIPC_ECLOSED);
    assert_status(smipc_server_send(srv, s.to, "x", 1, 0), SMIPC_ECLOSED);
    assert_status(smipc_server_broadcast(srv, "x", 1, 0, NULL), SMIPC_ECLOSED);
    assert_status(smipc_server_clients(srv, NULL, 0, &count), SMIPC_ECLOSED);
    assert_status(smipc_server_fd(srv), SMIPC_ECLOSED);
    smipc_server_shutdown(srv); /* twice is fine */
    smipc_server_close(srv);
    smipc_server_close(next);
    smipc_client_close(cli);
}

static void test_client_shutdown_wakes_blocked_calls(void **state)
{
    (void)state;
    const char *name = th_name("shutcli");
    smipc_server_config cfg = small_rings();
    smipc_server *srv = th_server(name, &cfg);
    smipc_client *cli = th_client(name);
    struct blocked_call r = {.cli = cli}, s = {.cli = cli};
    pthread_t rt = start_blocked(client_recv_forever, &r);
    pthread_t st = start_blocked(client_send_forever, &s);

    smipc_client_shutdown(cli);
    pthread_join(rt, NULL);
    pthread_join(st, NULL);
    assert_status(r.rc, SMIPC_ECLOSED);
    assert_status(s.rc, SMIPC_ECLOSED);

    static char buf[BIG];
    size_t len = sizeof buf;
    assert_status(smipc_client_send(cli, "x", 1, 0), SMIPC_ECLOSED);
    assert_status(smipc_client_recv(cli, buf, &len, 0), SMIPC_ECLOSED);
    assert_status(smipc_client_fd(cli), SMIPC_ECLOSED);
    /* the server drops it, and its half-sent message is never delivered */
    assert_true(th_clients_become(srv, 0, 5000));
    smipc_client_id from;
    len = sizeof buf;
    assert_status(smipc_server_recv(srv, &from, buf, &len, 0), SMIPC_ETIMEDOUT);
    smipc_client_shutdown(cli);
    smipc_client_close(cli);
    smipc_server_close(srv);
}

/* cancel_sends: a send blocked mid-message gives up with ETIMEDOUT, the peer never sees
 * any of that message, and the handle goes on working (later sends are not affected). */
static void test_cancel_sends_gives_up_a_blocked_send(void **state)
{
    (void)state;
    const char *name = th_name("cancel");
    smipc_server_config cfg = small_rings();
    smipc_server *srv = th_server(name, &cfg);
    smipc_client *cli = th_client(name);
    smipc_client_cancel_sends(cli); /* nothing in progress: changes nothing later */
    static char buf[BIG];
    size_t len;
    smipc_client_id from;
    for (int side = 0; side < 2; side++) {
        struct blocked_call b = {.srv = srv, .cli = cli, .to = smipc_client_id_of(cli)};
        pthread_t t = start_blocked(side ? server_send_forever : client_send_forever, &b);
        if (side)
            assert_smipc_ok(smipc_server_cancel_sends(srv, b.to));
        else
            smipc_client_cancel_sends(cli);
        pthread_join(t, NULL);
        assert_status(b.rc, SMIPC_ETIMEDOUT);
        /* the part that went is dropped on the other side (which frees the ring); the
         * next message arrives */
        len = sizeof buf;
        if (side)
            assert_status(smipc_client_recv(cli, buf, &len, 300), SMIPC_ETIMEDOUT);
        else
            assert_status(smipc_server_recv(srv, &from, buf, &len, 300), SMIPC_ETIMEDOUT);
        if (side) {
            assert_smipc_ok(smipc_server_send(srv, b.to, "after", 5, 1000));
            len = sizeof buf;
            assert_smipc_ok(smipc_client_recv(cli, buf, &len, 5000));
        } else {
            assert_smipc_ok(smipc_client_send(cli, "after", 5, 1000));
            len = sizeof buf;
            assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 5000));
        }
        assert_true(len == 5 && !memcmp(buf, "after", 5));
    }
    assert_status(smipc_server_cancel_sends(srv, 999), SMIPC_ENOCLIENT);
    smipc_client_close(cli);
    smipc_server_close(srv);
}

static void *server_broadcast_forever(void *p)
{
    struct blocked_call *b = p;
    atomic_store(&b->tid, (pid_t)syscall(SYS_gettid));
    char *buf = calloc(1, 1024);
    b->rc = smipc_server_broadcast(b->srv, buf, 1024, -1, NULL);
    free(buf);
    return NULL;
}

/* A broadcast waiting for a full client when the handle is shut down says ECLOSED too,
 * not success with nobody reached. */
static void test_shutdown_wakes_a_broadcast(void **state)
{
    (void)state;
    const char *name = th_name("shutbc");
    smipc_server_config cfg = small_rings();
    smipc_server *srv = th_server(name, &cfg);
    smipc_client *cli = th_client(name);
    char m[1024] = {0};
    for (int i = 0; i < 4; i++) /* its ring is full */
        assert_smipc_ok(smipc_server_send(srv, smipc_client_id_of(cli), m, sizeof m, 1000));
    struct blocked_call b = {.srv = srv};
    pthread_t t = start_blocked(server_broadcast_forever, &b);
    smipc_server_shutdown(srv);
    pthread_join(t, NULL);
    assert_status(b.rc, SMIPC_ECLOSED);
    smipc_server_close(srv);
    smipc_client_close(cli);
}

struct blocked_broadcast {
    struct blocked_call b;
    size_t len, delivered;
};

static void *server_broadcast_len_forever(void *p)
{
    struct blocked_broadcast *bb = p;
    atomic_store(&bb->b.tid, (pid_t)syscall(SYS_gettid));
    char *buf = calloc(1, bb->len);
    bb->delivered = 99;
    bb->b.rc = smipc_server_broadcast(bb->b.srv, buf, bb->len, -1, &bb->delivered);
    free(buf);
    return NULL;
}

/* cancel_sends(srv, 0) stops a broadcast waiting for a full client (one that fits a ring,
 * and one that streams) with ETIMEDOUT and the count of those it reached, and every send
 * in progress to any client; the server goes on working. */
static void test_cancel_all_gives_up_broadcasts_and_sends(void **state)
{
    (void)state;
    const char *name = th_name("cancelall");
    smipc_server_config cfg = small_rings();
    smipc_server *srv = th_server(name, &cfg);
    smipc_client *full = th_client(name), *reader = th_client(name);
    char m[1024] = {0}, buf[BIG];
    for (int i = 0; i < 4; i++) /* its ring is full */
        assert_smipc_ok(smipc_server_send(srv, smipc_client_id_of(full), m, sizeof m, 1000));
    const size_t lens[] = {1024, BIG};
    for (size_t k = 0; k < 2; k++) {
        struct blocked_broadcast bb = {.b = {.srv = srv}, .len = lens[k]};
        pthread_t t = start_blocked(server_broadcast_len_forever, &bb.b);
        assert_smipc_ok(smipc_server_cancel_sends(srv, 0));
        pthread_join(t, NULL);
        assert_status(bb.b.rc, SMIPC_ETIMEDOUT);
        if (lens[k] == 1024) {
            assert_int_equal(bb.delivered, 1); /* the reader had room */
            size_t len = sizeof buf;
            assert_smipc_ok(smipc_client_recv(reader, buf, &len, 1000));
            assert_int_equal(len, 1024);
        } else { /* streamed to one client after the other: the first one was stuck */
            assert_int_equal(bb.delivered, 0);
        }
    }
    struct blocked_call s = {.srv = srv, .to = smipc_client_id_of(full)};
    pthread_t st = start_blocked(server_send_forever, &s);
    assert_smipc_ok(smipc_server_cancel_sends(srv, 0));
    pthread_join(st, NULL);
    assert_status(s.rc, SMIPC_ETIMEDOUT);
    /* later calls are not affected */
    for (int i = 0; i < 4; i++) {
        size_t len = sizeof buf;
        assert_smipc_ok(smipc_client_recv(full, buf, &len, 1000));
    }
    size_t delivered = 0;
    assert_smipc_ok(smipc_server_broadcast(srv, "x", 1, 1000, &delivered));
    assert_int_equal(delivered, 2);
    for (int c = 0; c < 2; c++) {
        size_t len = sizeof buf;
        uint32_t flags = 0;
        assert_smipc_ok(smipc_client_recv_flags(c ? full : reader, &flags, buf, &len, 1000));
        assert_true(len == 1 && buf[0] == 'x' && flags == SMIPC_MSG_BROADCAST);
    }
    smipc_client_close(full);
    smipc_client_close(reader);
    smipc_server_close(srv);
}

int main(void)
{
    th_runtime_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_shutdown_wakes_blocked_calls),
        cmocka_unit_test(test_client_shutdown_wakes_blocked_calls),
        cmocka_unit_test(test_cancel_sends_gives_up_a_blocked_send),
        cmocka_unit_test(test_shutdown_wakes_a_broadcast),
        cmocka_unit_test(test_cancel_all_gives_up_broadcasts_and_sends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
