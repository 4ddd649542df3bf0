/* Zero-copy: a sender's loan is written in place and committed (or cancelled); a
 * receiver's view is the message in place, checked, until it releases it. Across
 * processes, on the library's defaults. */
#include "helpers.h"

#include "server_internal.h"
#include "testing.h"

#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <string.h>
#include <unistd.h>

#define MiB (1u << 20)

static const size_t loan_sizes[] = {0, 1, 4096, 4097, 100000, MiB};

static int inside(const void *p, size_t len, const void *map, size_t size)
{
    const char *c = p, *m = map;
    return c >= m && c + len <= m + size;
}

struct peer {
    const char *name;
    struct th_gate go, done;
};

/* Loans every size, fills it in place, commits; then one of 10000 B sent by copy (three
 * ring packets: viewed through a copy); then a loan committed short. */
static int loaning_client(void *p)
{
    struct peer *a = p;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 5000));
    for (size_t i = 0; i < sizeof loan_sizes / sizeof loan_sizes[0]; i++) {
        void *buf = NULL;
        CHILD_OK(smipc_client_loan(cli, &buf, loan_sizes[i], 5000));
        th_fill(buf, loan_sizes[i], i);
        CHILD_OK(smipc_client_commit(cli, loan_sizes[i]));
    }
    static char copy[10000];
    th_fill(copy, sizeof copy, 77);
    CHILD_OK(smipc_client_send(cli, copy, sizeof copy, 5000));
    void *buf;
    CHILD_OK(smipc_client_loan(cli, &buf, 5000, 5000));
    th_fill(buf, 300, 78);
    CHILD_OK(smipc_client_commit(cli, 300));
    CHILD_CHECK(th_gate_wait(&a->done, 20000) == 0);
    smipc_client_close(cli);
    return 0;
}

static void test_loans_are_viewed_in_place(void **state)
{
    (void)state;
    struct peer a = {th_name("loan")};
    th_gate_init(&a.done);
    smipc_server *srv = th_server(a.name, NULL);
    pid_t pid = th_spawn(loaning_client, &a);
    for (size_t i = 0; i < sizeof loan_sizes / sizeof loan_sizes[0] + 2; i++) {
        const void *data;
        size_t len;
        smipc_client_id from;
        uint32_t flags = 99;
        assert_smipc_ok(smipc_server_recv_view(srv, &from, &data, &len, &flags, 10000));
        size_t size;
        void *map = smipc_testing_server_segment(srv, from, &size);
        assert_non_null(map);
        assert_int_equal(flags, inside(data, len, map, size) ? 0 : SMIPC_MSG_COPY);
        if (i < sizeof loan_sizes / sizeof loan_sizes[0]) {
            assert_int_equal(len, loan_sizes[i]);
            assert_true(th_check(data, len, i));
            assert_true(inside(data, len, map, size)); /* never copied */
        } else if (i == sizeof loan_sizes / sizeof loan_sizes[0]) {
            assert_true(len == 10000 && th_check(data, len, 77));
            assert_false(inside(data, len, map, size)); /* in pieces: a copy */
        } else {
            assert_true(len == 300 && th_check(data, len, 78));
        }
        /* another receive waits while the view is out */
        assert_smipc_ok(smipc_server_release(srv));
    }
    assert_status(smipc_server_release(srv), SMIPC_EINVAL); /* nothing out */
    th_gate_open(&a.done);
    assert_int_equal(th_wait(pid, 20000), 0);
    th_gate_close(&a.done);
    smipc_server_close(srv);
}

/* What a loan cannot do, says so, and leaves the connection working. */
static void test_loan_limits_and_cancel(void **state)
{
    (void)state;
    const char *name = th_name("loanlim");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *cli = th_client(name);
    void *buf;
    assert_status(smipc_client_loan(cli, &buf, MiB + 1, 100), SMIPC_ELOANSIZE);
    assert_status(smipc_client_loan(cli, &buf, (64u << 20) + 1, 100), SMIPC_EMSGSIZE);
    assert_status(smipc_client_commit(cli, 0), SMIPC_EINVAL); /* no loan */
    assert_status(smipc_client_cancel_loan(cli), SMIPC_EINVAL);
    assert_smipc_ok(smipc_client_loan(cli, &buf, 100, 100));
    assert_status(smipc_client_commit(cli, 101), SMIPC_EINVAL); /* the loan stays */
    memset(buf, 'x', 100);
    assert_smipc_ok(smipc_client_cancel_loan(cli));
    char m[200];
    size_t len = sizeof m;
    smipc_client_id from;
    assert_status(smipc_server_recv(srv, &from, m, &len, 0), SMIPC_ETIMEDOUT); /* unsent */
    assert_smipc_ok(smipc_client_send(cli, "after", 5, 1000));
    len = sizeof m;
    assert_smipc_ok(smipc_server_recv(srv, &from, m, &len, 1000));
    assert_true(len == 5 && !memcmp(m, "after", 5));

    /* the bulk area full of unread messages: a loan waits for a slot, and times out */
    for (int i = 0; i < 4; i++) {
        assert_smipc_ok(smipc_client_loan(cli, &buf, MiB, 1000));
        th_fill(buf, MiB, (uint64_t)i);
        assert_smipc_ok(smipc_client_commit(cli, MiB));
    }
    assert_status(smipc_client_loan(cli, &buf, MiB, 30), SMIPC_ETIMEDOUT);
    const void *data;
    assert_smipc_ok(smipc_server_recv_view(srv, &from, &data, &len, NULL, 1000));
    assert_true(len == MiB && th_check(data, len, 0));
    assert_smipc_ok(smipc_server_release(srv));
    assert_smipc_ok(smipc_client_loan(cli, &buf, MiB, 1000)); /* the slot it freed */
    th_fill(buf, MiB, 4);
    assert_smipc_ok(smipc_client_commit(cli, MiB));
    for (uint64_t i = 1; i <= 4; i++) {
        assert_smipc_ok(smipc_server_recv_view(srv, &from, &data, &len, NULL, 1000));
        assert_true(len == MiB && th_check(data, len, i));
        assert_smipc_ok(smipc_server_release(srv));
    }
    smipc_client_close(cli);
    smipc_server_close(srv);

    /* without a bulk area a loan is one packet at most */
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.bulk_size = cfg.bulk_slots = 0;
    srv = th_server(name, &cfg);
    cli = th_client(name);
    assert_status(smipc_client_loan(cli, &buf, 4097, 100), SMIPC_ELOANSIZE);
    assert_smipc_ok(smipc_client_loan(cli, &buf, 4096, 100));
    th_fill(buf, 4096, 9);
    assert_smipc_ok(smipc_client_commit(cli, 4096));
    assert_smipc_ok(smipc_server_recv_view(srv, &from, &data, &len, NULL, 1000));
    assert_true(len == 4096 && th_check(data, len, 9));
    assert_smipc_ok(smipc_server_release(srv));
    smipc_client_close(cli);
    smipc_server_close(srv);
}

/* A client views the server's replies and broadcasts in place, with their flags. */
static int viewing_client(void *p)
{
    struct peer *a = p;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 5000));
    th_gate_open(&a->go);
    size_t size;
    void *map = smipc_testing_client_segment(cli, &size);
    const size_t want[] = {5, MiB, 10000};
    const uint32_t want_flags[] = {0, SMIPC_MSG_BROADCAST, 0};
    for (size_t i = 0; i < 3; i++) {
        const void *data;
        size_t len;
        uint32_t flags = 99;
        CHILD_OK(smipc_client_recv_view(cli, &data, &len, &flags, 10000));
        CHILD_CHECK(len == want[i] && th_check(data, len, i));
        CHILD_CHECK(inside(data, len, map, size) == (i < 2));
        CHILD_CHECK(flags == (want_flags[i] | (i < 2 ? 0 : SMIPC_MSG_COPY)));
        CHILD_OK(smipc_client_release(cli));
    }
    CHILD_CHECK(smipc_client_release(cli) == SMIPC_EINVAL);
    smipc_client_close(cli);
    return 0;
}

static void test_client_views_replies_and_broadcasts(void **state)
{
    (void)state;
    struct peer a = {th_name("cview")};
    th_gate_init(&a.go);
    smipc_server *srv = th_server(a.name, NULL);
    pid_t pid = th_spawn(viewing_client, &a);
    assert_int_equal(th_gate_wait(&a.go, 10000), 0);
    smipc_client_id id;
    size_t n = 0;
    do
        assert_smipc_ok(smipc_server_clients(srv, &id, 1, &n));
    while (n == 0);
    static char buf[MiB];
    th_fill(buf, 5, 0);
    assert_smipc_ok(smipc_server_send(srv, id, buf, 5, 5000));
    th_fill(buf, MiB, 1);
    size_t delivered;
    assert_smipc_ok(smipc_server_broadcast(srv, buf, MiB, 5000, &delivered));
    th_fill(buf, 10000, 2);
    assert_smipc_ok(smipc_server_send(srv, id, buf, 10000, 5000));
    assert_int_equal(th_wait(pid, 20000), 0);
    th_gate_close(&a.go);
    smipc_server_close(srv);
}

/* A view is checked before it is shown: a chunk scribbled on after it was sent is a
 * protocol error, and the client is dropped. */
static void test_view_checks_the_checksum(void **state)
{
    (void)state;
    const char *name = th_name("vcrc");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *cli = th_client(name);
    void *buf;
    assert_smipc_ok(smipc_client_loan(cli, &buf, 200000, 1000));
    th_fill(buf, 200000, 5);
    assert_smipc_ok(smipc_client_commit(cli, 200000));
    ((char *)buf)[123456] ^= 1; /* the loan's memory is the message's */
    const void *data;
    size_t len;
    smipc_client_id from = 0;
    assert_status(smipc_server_recv_view(srv, &from, &data, &len, NULL, 1000), SMIPC_EPROTO);
    assert_int_equal(from, smipc_client_id_of(cli));
    assert_status(smipc_server_release(srv), SMIPC_EINVAL);
    char m[8];
    len = sizeof m;
    assert_status(smipc_client_recv(cli, m, &len, 5000), SMIPC_ECLOSED); /* it was told */
    smipc_client_close(cli);
    smipc_server_close(srv);
}

/* A pinned view's memory stays mapped after the release, the client's death and the
 * server's close: reading it never crashes. */
static void test_a_pin_outlives_everything(void **state)
{
    (void)state;
    /* what was written is read back: no idle bulk area may go back (zeros) meanwhile */
    setenv("SMIPC_BULK_IDLE_MS", "-1", 1);
    const char *name = th_name("vpin");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *cli = th_client(name);
    void *buf, *pin = (void *)1;
    assert_status(smipc_server_pin(srv, &pin), SMIPC_EINVAL); /* no view out */
    assert_smipc_ok(smipc_client_loan(cli, &buf, MiB, 1000));
    th_fill(buf, MiB, 3);
    assert_smipc_ok(smipc_client_commit(cli, MiB));
    const void *data;
    size_t len;
    smipc_client_id from;
    assert_smipc_ok(smipc_server_recv_view(srv, &from, &data, &len, NULL, 1000));
    assert_smipc_ok(smipc_server_pin(srv, &pin));
    assert_non_null(pin);
    assert_smipc_ok(smipc_server_release(srv));
    smipc_client_close(cli);
    smipc_server_close(srv);
    assert_true(th_check(data, len, 3)); /* nobody wrote there since */
    smipc_server_unpin(pin);
    smipc_server_unpin(NULL);
    unsetenv("SMIPC_BULK_IDLE_MS");
}

/* A pinned server loan's memory stays mapped after the commit, the client's departure and
 * the server's close: a binding's buffer kept past the commit never crashes. */
static void test_a_loan_pin_outlives_everything(void **state)
{
    (void)state;
    /* what was written is read back: no idle bulk area may go back (zeros) meanwhile */
    setenv("SMIPC_BULK_IDLE_MS", "-1", 1);
    const char *name = th_name("lpin");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *cli = th_client(name);
    smipc_client_id id = smipc_client_id_of(cli);
    void *room, *pin = (void *)1;
    assert_status(smipc_server_pin_loan(srv, id, &pin), SMIPC_EINVAL); /* no loan out */
    assert_null(pin);
    assert_smipc_ok(smipc_server_loan(srv, id, &room, MiB, 1000));
    assert_status(smipc_server_pin_loan(srv, id + 1, &pin), SMIPC_EINVAL); /* not to it */
    assert_smipc_ok(smipc_server_pin_loan(srv, id, &pin));
    assert_non_null(pin);
    th_fill(room, MiB, 4);
    assert_smipc_ok(smipc_server_commit(srv, id, MiB));
    static char got[MiB];
    size_t len = sizeof got;
    assert_smipc_ok(smipc_client_recv(cli, got, &len, 1000));
    assert_true(len == MiB && th_check(got, len, 4));
    smipc_client_close(cli);
    assert_true(th_clients_become(srv, 0, 5000)); /* the connection is gone from the table */
    smipc_server_close(srv);
    assert_true(th_check(room, MiB, 4)); /* still mapped, and nobody wrote there since */
    smipc_server_unpin(pin);
    unsetenv("SMIPC_BULK_IDLE_MS");
}

static int mapped(const void *p)
{
    unsigned char v;
    void *page = (void *)((uintptr_t)p & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1));
    return mincore(page, 1, &v) == 0; /* ENOMEM once nothing is mapped there */
}

/* A pin keeps the memory, never the connection: the departed client's descriptors close
 * while the server's pin on what it viewed lives on, and the unpin unmaps it. */
static void test_a_server_pin_keeps_memory_not_descriptors(void **state)
{
    (void)state;
    setenv("SMIPC_BULK_IDLE_MS", "-1", 1); /* read back below */
    const char *name = th_name("pinfds");
    smipc_server *srv = th_server(name, NULL);
    int fds = th_count_fds();
    smipc_client *cli = th_client(name);
    void *buf, *pin;
    assert_smipc_ok(smipc_client_loan(cli, &buf, MiB, 1000));
    th_fill(buf, MiB, 5);
    assert_smipc_ok(smipc_client_commit(cli, MiB));
    const void *data;
    size_t len;
    smipc_client_id from;
    assert_smipc_ok(smipc_server_recv_view(srv, &from, &data, &len, NULL, 1000));
    assert_smipc_ok(smipc_server_pin(srv, &pin));
    assert_smipc_ok(smipc_server_release(srv));
    smipc_client_close(cli);
    assert_true(th_clients_become(srv, 0, 5000));
    assert_int_equal(th_count_fds(), fds); /* the client's and the connection's: all gone */
    assert_true(mapped(data) && th_check(data, len, 5));
    smipc_server_unpin(pin);
    assert_false(mapped(data));
    smipc_server_close(srv);
    unsetenv("SMIPC_BULK_IDLE_MS");
}

/* A client's pin keeps its memory past smipc_client_close, and only that. */
static void test_a_client_pin_outlives_the_handle(void **state)
{
    (void)state;
    setenv("SMIPC_BULK_IDLE_MS", "-1", 1);
    const char *name = th_name("cpin");
    smipc_server *srv = th_server(name, NULL);
    int fds = th_count_fds();
    smipc_client *cli = th_client(name);
    void *room, *pin = (void *)1;
    assert_status(smipc_client_pin(NULL, &pin), SMIPC_EINVAL);
    assert_smipc_ok(smipc_client_loan(cli, &room, MiB, 1000));
    assert_smipc_ok(smipc_client_pin(cli, &pin));
    assert_non_null(pin);
    th_fill(room, MiB, 6);
    assert_smipc_ok(smipc_client_commit(cli, MiB));
    static char got[MiB];
    size_t len = sizeof got;
    smipc_client_id from;
    assert_smipc_ok(smipc_server_recv(srv, &from, got, &len, 1000));
    assert_true(len == MiB && th_check(got, len, 6));
    smipc_client_close(cli);
    assert_true(th_clients_become(srv, 0, 5000));
    assert_int_equal(th_count_fds(), fds);
    assert_true(mapped(room) && th_check(room, MiB, 6)); /* nobody wrote there since */
    smipc_client_unpin(pin);
    assert_false(mapped(room));
    smipc_client_unpin(NULL);
    smipc_server_close(srv);
    unsetenv("SMIPC_BULK_IDLE_MS");
}

#define STREAMED (32 * MiB)

struct streamer {
    const char *name;
    struct th_gate sending;
};

/* Starts a message far larger than the ring, and is stopped while it waits for room. */
static int streaming_client(void *p)
{
    struct streamer *a = p;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 5000));
    char *msg = calloc(1, STREAMED);
    CHILD_CHECK(msg != NULL);
    th_gate_open(&a->sending);
    smipc_client_send(cli, msg, STREAMED, 20000);
    return 0;
}

/* A connection a pin keeps past the server's close had half a message parked: the
 * server's count of parked bytes is settled at the close, not at the unpin (that was a
 * write into the freed server, which AddressSanitizer saw). */
static void test_a_pin_past_close_with_a_message_parked(void **state)
{
    (void)state;
    const char *name = th_name("ppark");
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.bulk_size = cfg.bulk_slots = 0; /* the message streams through a small ring */
    cfg.ring_packets = 8;
    smipc_server *srv = th_server(name, &cfg);
    struct streamer a = {name, {0, 0}};
    th_gate_init(&a.sending);
    pid_t pid = th_spawn(streaming_client, &a);
    assert_int_equal(th_gate_wait(&a.sending, 10000), 0);
    /* asleep: the ring is full of the message's first packets; stopped, it sends no more */
    _Atomic pid_t tid = pid;
    assert_true(th_thread_sleeps(&tid, 10000));
    kill(pid, SIGSTOP);
    static char buf[STREAMED];
    smipc_client_id from, id;
    size_t len = sizeof buf, n;
    assert_status(smipc_server_recv(srv, &from, buf, &len, 50), SMIPC_ETIMEDOUT);
    assert_true(atomic_load(&srv->parked_bytes) > 0); /* what came is parked */
    assert_smipc_ok(smipc_server_clients(srv, &id, 1, &n));
    void *room, *pin;
    assert_smipc_ok(smipc_server_loan(srv, id, &room, 100, 1000));
    assert_smipc_ok(smipc_server_pin_loan(srv, id, &pin));
    assert_smipc_ok(smipc_server_commit(srv, id, 100));
    smipc_server_close(srv);
    smipc_server_unpin(pin); /* the connection goes now, the server long gone */
    th_kill(pid, SIGKILL);   /* and reaped */
    th_gate_close(&a.sending);
}

/* A process killed with a loan out (half written) sends nothing; the server goes on. */
static int abandoning_client(void *p)
{
    struct peer *a = p;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 5000));
    void *buf;
    CHILD_OK(smipc_client_loan(cli, &buf, MiB, 5000));
    memset(buf, 7, MiB / 2);
    th_gate_open(&a->go);
    pause();
    return 0;
}

static void test_loan_abandoned_by_a_killed_process(void **state)
{
    (void)state;
    struct peer a = {th_name("vkill")};
    th_gate_init(&a.go);
    smipc_server *srv = th_server(a.name, NULL);
    pid_t pid = th_spawn(abandoning_client, &a);
    assert_int_equal(th_gate_wait(&a.go, 10000), 0);
    th_kill(pid, SIGKILL);
    const void *data;
    size_t len, n = 1;
    smipc_client_id from;
    int64_t end = th_now_ms() + 10000;
    while (n && th_now_ms() < end) { /* until the server has seen it go */
        assert_status(smipc_server_recv_view(srv, &from, &data, &len, NULL, 20), SMIPC_ETIMEDOUT);
        assert_smipc_ok(smipc_server_clients(srv, NULL, 0, &n));
    }
    assert_int_equal(n, 0);
    smipc_client *cli = th_client(a.name); /* and serves the next one */
    assert_smipc_ok(smipc_client_send(cli, "next", 4, 1000));
    assert_smipc_ok(smipc_server_recv_view(srv, &from, &data, &len, NULL, 1000));
    assert_true(len == 4 && !memcmp(data, "next", 4));
    assert_smipc_ok(smipc_server_release(srv));
    smipc_client_close(cli);
    th_gate_close(&a.go);
    smipc_server_close(srv);
}

/* The server lends too: to one client at a time each, checked like the client's. */
static int receiving_client(void *p)
{
    struct peer *a = p;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 5000));
    th_gate_open(&a->go);
    size_t size;
    void *map = smipc_testing_client_segment(cli, &size);
    for (uint64_t i = 0; i < 3; i++) {
        const void *data;
        size_t len;
        CHILD_OK(smipc_client_recv_view(cli, &data, &len, NULL, 10000));
        CHILD_CHECK(len == (i == 1 ? 10 : MiB) && th_check(data, len, i));
        CHILD_CHECK(inside(data, len, map, size));
        CHILD_OK(smipc_client_release(cli));
    }
    smipc_client_close(cli);
    return 0;
}

static void test_server_loans_to_a_client(void **state)
{
    (void)state;
    struct peer a = {th_name("sloan")};
    th_gate_init(&a.go);
    smipc_server *srv = th_server(a.name, NULL);
    pid_t pid = th_spawn(receiving_client, &a);
    assert_int_equal(th_gate_wait(&a.go, 10000), 0);
    smipc_client_id id;
    size_t n = 0;
    do
        assert_smipc_ok(smipc_server_clients(srv, &id, 1, &n));
    while (n == 0);
    void *buf;
    assert_status(smipc_server_loan(srv, id + 1000, &buf, 10, 100), SMIPC_ENOCLIENT);
    assert_status(smipc_server_commit(srv, id, 0), SMIPC_EINVAL);
    assert_status(smipc_server_cancel_loan(srv, id), SMIPC_EINVAL);
    assert_status(smipc_server_loan(srv, id, &buf, MiB + 1, 100), SMIPC_ELOANSIZE);
    assert_smipc_ok(smipc_server_loan(srv, id, &buf, 77, 100));
    assert_smipc_ok(smipc_server_cancel_loan(srv, id)); /* never seen */
    for (uint64_t i = 0; i < 3; i++) {
        size_t len = i == 1 ? 10 : MiB;
        assert_smipc_ok(smipc_server_loan(srv, id, &buf, MiB, 5000));
        th_fill(buf, len, i);
        assert_status(smipc_server_commit(srv, id, MiB + 1), SMIPC_EINVAL); /* it stays */
        assert_smipc_ok(smipc_server_commit(srv, id, len));
    }
    assert_int_equal(th_wait(pid, 20000), 0);
    th_gate_close(&a.go);
    smipc_server_close(srv);
}

int main(void)
{
    th_runtime_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loans_are_viewed_in_place),
        cmocka_unit_test(test_loan_limits_and_cancel),
        cmocka_unit_test(test_client_views_replies_and_broadcasts),
        cmocka_unit_test(test_view_checks_the_checksum),
        cmocka_unit_test(test_loan_abandoned_by_a_killed_process),
        cmocka_unit_test(test_server_loans_to_a_client),
        cmocka_unit_test(test_a_pin_outlives_everything),
        cmocka_unit_test(test_a_loan_pin_outlives_everything),
        cmocka_unit_test(test_a_pin_past_close_with_a_message_parked),
        cmocka_unit_test(test_a_server_pin_keeps_memory_not_descriptors),
        cmocka_unit_test(test_a_client_pin_outlives_the_handle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
