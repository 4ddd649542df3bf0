/* A message still arriving never holds up the server's receive: not when its client
 * dribbles a packet now and then, and not when its client stops mid-message while alone
 * and another joins later. The round-robin moves on, and the message still arrives whole. */
#include "helpers.h"

#include "layout.h"
#include "testing.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { PS = 64, COUNT = 8, PACKETS = 300 };

/* Writes a client's packets by hand, at its own pace (no checksums on this server). */
struct dribbler {
    smipc_client *cli;
    unsigned char *packets;
    uint32_t stride, pos;
    _Atomic uint32_t sent; /* read by the test while a pacing thread dribbles */
    int wake_fd;
};

static void dribbler_init(struct dribbler *d, smipc_client *cli)
{
    size_t size;
    unsigned char *map = smipc_testing_client_segment(cli, &size);
    const struct smipc_segment_hdr *sh = (const void *)map;
    d->cli = cli;
    d->packets = map + sh->ring_offset[0] + sizeof(struct smipc_ring_hdr);
    d->stride = sh->stride;
    d->pos = 0;
    atomic_store(&d->sent, 0);
    int fds[4];
    smipc_testing_client_wake_fds(cli, fds);
    d->wake_fd = fds[0]; /* c2s data */
}

/* Publishes the next packet of transfer 1 (PACKETS packets of PS bytes) once its slot
 * is free; 0 when the ring stayed full for 10 s. */
static int dribble_one(struct dribbler *d)
{
    struct smipc_packet_hdr *h = (void *)(d->packets + (size_t)d->pos * d->stride);
    for (int64_t end = th_now_ms() + 10000; atomic_load(&h->lock) != SMIPC_PACKET_FREE;)
        if (th_now_ms() > end)
            return 0;
    h->size = PS;
    h->checksum = 0;
    h->transfer_id = 1;
    h->packet_count = PACKETS;
    h->packet_index = d->sent;
    h->total_size = (uint64_t)PACKETS * PS;
    th_fill(h + 1, PS, d->sent);
    atomic_store_explicit(&h->lock, SMIPC_PACKET_FULL, memory_order_release);
    char one = 1;
    send(d->wake_fd, &one, 1, MSG_DONTWAIT); /* the server may be asleep */
    d->pos = (d->pos + 1) % COUNT;
    d->sent++;
    return 1;
}

static int whole(const unsigned char *buf, size_t len)
{
    if (len != (size_t)PACKETS * PS)
        return 0;
    for (uint32_t i = 0; i < PACKETS; i++)
        if (!th_check(buf + (size_t)i * PS, PS, i))
            return 0;
    return 1;
}

static smipc_server_config small_rings(void)
{
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.packet_size = PS;
    cfg.ring_packets = COUNT;
    cfg.flags = SMIPC_NO_CHECKSUM;
    cfg.bulk_size = cfg.bulk_slots = 0; /* messages arrive packet by packet */
    return cfg;
}

struct pacer {
    struct dribbler *d;
    int ok;
};

/* One packet every millisecond: each arrives well inside the server's stall limit. */
static void *dribble_all(void *p)
{
    struct pacer *a = p;
    a->ok = 1;
    while (a->ok && a->d->sent < PACKETS) {
        a->ok = dribble_one(a->d);
        struct timespec ms = {0, 1000000}; /* the pace of the workload, not a wait for it */
        nanosleep(&ms, NULL);
    }
    return NULL;
}

static void test_a_dribbling_client_does_not_hold_the_receive(void **state)
{
    (void)state;
    const char *name = th_name("dribble");
    smipc_server_config cfg = small_rings();
    smipc_server *srv = th_server(name, &cfg);
    smipc_client *a = th_client(name), *b = th_client(name);
    struct dribbler d;
    dribbler_init(&d, a);
    assert_true(dribble_one(&d));
    assert_smipc_ok(smipc_client_send(b, "quiet", 5, 1000));
    struct pacer p = {&d, 0};
    pthread_t t;
    pthread_create(&t, NULL, dribble_all, &p);
    /* the dribble takes PACKETS ms; B's message must not wait for the end of it */
    static unsigned char buf[PACKETS * PS];
    size_t len = sizeof buf;
    smipc_client_id from;
    assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 20000));
    assert_true(from == smipc_client_id_of(b) && len == 5);
    assert_true(d.sent < PACKETS); /* it came back while A was still sending */
    len = sizeof buf;
    assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 20000));
    assert_true(from == smipc_client_id_of(a) && whole(buf, len));
    pthread_join(t, NULL);
    assert_true(p.ok);
    smipc_client_close(a);
    smipc_client_close(b);
    smipc_server_close(srv);
}

struct receiver {
    smipc_server *srv;
    _Atomic pid_t tid;
    int rc;
    smipc_client_id from;
    size_t len;
    unsigned char *buf;
};

static void *receive(void *p)
{
    struct receiver *r = p;
    atomic_store(&r->tid, (pid_t)syscall(SYS_gettid));
    r->len = (size_t)PACKETS * PS;
    r->rc = smipc_server_recv(r->srv, &r->from, r->buf, &r->len, 20000);
    return NULL;
}

static void test_a_stopped_client_alone_does_not_hold_the_receive(void **state)
{
    (void)state;
    const char *name = th_name("stopped");
    smipc_server_config cfg = small_rings();
    smipc_server *srv = th_server(name, &cfg);
    smipc_client *a = th_client(name);
    struct dribbler d;
    dribbler_init(&d, a);
    for (int i = 0; i < 3; i++) /* then A stops, as if SIGSTOPped mid-message */
        assert_true(dribble_one(&d));
    static unsigned char buf[PACKETS * PS];
    struct receiver r = {.srv = srv, .buf = buf};
    pthread_t t;
    pthread_create(&t, NULL, receive, &r);
    assert_true(th_thread_sleeps(&r.tid, 10000)); /* waiting on A, the only client */
    smipc_client *b = th_client(name);
    assert_smipc_ok(smipc_client_send(b, "late", 4, 1000));
    pthread_join(t, NULL);
    assert_smipc_ok(r.rc);
    assert_true(r.from == smipc_client_id_of(b) && r.len == 4 && !memcmp(buf, "late", 4));
    /* A goes on where it stopped, and its message arrives whole */
    while (d.sent < PACKETS) {
        assert_true(dribble_one(&d));
        size_t len = sizeof buf;
        smipc_client_id from;
        int rc = smipc_server_recv(srv, &from, buf, &len, 0);
        if (rc == SMIPC_OK) {
            assert_true(from == smipc_client_id_of(a) && whole(buf, len));
            break;
        }
        assert_status(rc, SMIPC_ETIMEDOUT);
    }
    smipc_client_close(a);
    smipc_client_close(b);
    smipc_server_close(srv);
}

/* Half-sent messages parked on the server's heap are bounded over all its clients: one
 * that would pass the budget is ended (EPROTO, once), the others finish whole. */
static void test_parked_messages_are_bounded(void **state)
{
    (void)state;
    const char *name = th_name("budget");
    smipc_server_config cfg = small_rings();
    smipc_server *srv = th_server(name, &cfg);
    smipc_testing_server_park_budget(srv, 2 * (size_t)PACKETS * PS);
    smipc_client *cli[3];
    struct dribbler d[3];
    for (int i = 0; i < 3; i++) {
        cli[i] = th_client(name);
        dribbler_init(&d[i], cli[i]);
        for (int k = 0; k < 3; k++)
            assert_true(dribble_one(&d[i]));
    }
    smipc_client *honest = th_client(name);
    assert_smipc_ok(smipc_client_send(honest, "x", 1, 1000));
    static unsigned char buf[PACKETS * PS];
    int ended = -1, got_honest = 0;
    for (int turn = 0; turn < 50 && (ended < 0 || !got_honest); turn++) {
        size_t len = sizeof buf;
        smipc_client_id from;
        int rc = smipc_server_recv(srv, &from, buf, &len, 100);
        if (rc == SMIPC_EPROTO) {
            assert_int_equal(ended, -1); /* once */
            for (int i = 0; i < 3; i++)
                if (from == smipc_client_id_of(cli[i]))
                    ended = i;
            assert_true(ended >= 0);
        } else if (rc == SMIPC_OK) {
            assert_true(from == smipc_client_id_of(honest) && len == 1);
            got_honest = 1;
        } else {
            assert_status(rc, SMIPC_ETIMEDOUT);
        }
    }
    assert_true(ended >= 0 && got_honest);
    char b[4];
    size_t len = sizeof b;
    assert_status(smipc_client_recv(cli[ended], b, &len, 5000), SMIPC_ECLOSED);
    /* the other two finish, and their messages arrive whole */
    int whole_ones = 0;
    for (int i = 0; i < 3; i++) {
        if (i == ended)
            continue;
        while (d[i].sent < PACKETS) {
            assert_true(dribble_one(&d[i]));
            len = sizeof buf;
            smipc_client_id from;
            int rc = smipc_server_recv(srv, &from, buf, &len, 0);
            if (rc == SMIPC_OK) {
                assert_true(whole(buf, len));
                whole_ones++;
            } else {
                assert_status(rc, SMIPC_ETIMEDOUT);
            }
        }
    }
    while (whole_ones < 2) {
        size_t l2 = sizeof buf;
        smipc_client_id from;
        assert_smipc_ok(smipc_server_recv(srv, &from, buf, &l2, 5000));
        assert_true(whole(buf, l2));
        whole_ones++;
    }
    for (int i = 0; i < 3; i++)
        smipc_client_close(cli[i]);
    smipc_client_close(honest);
    smipc_server_close(srv);
}

int main(void)
{
    th_runtime_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_dribbling_client_does_not_hold_the_receive),
        cmocka_unit_test(test_a_stopped_client_alone_does_not_hold_the_receive),
        cmocka_unit_test(test_parked_messages_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
