/* A peer that writes garbage into the shared segment ends its own connection with
 * SMIPC_EPROTO; nobody crashes or hangs, and every other client is untouched. */
#include "helpers.h"

#include "layout.h"
#include "testing.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

struct hostile_args {
    const char *name;
    struct th_gate ready, done;
    uint64_t seed;
    int mode; /* 0: garbage packet headers, 1: garbage everywhere, 2: ring header fields */
};

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void vandalise(void *map, size_t size, int mode, uint64_t seed)
{
    const struct smipc_segment_hdr *sh = map;
    uint64_t off0 = sh->ring_offset[0], stride = sh->stride, count = sh->ring_packets;
    unsigned char *c2s = (unsigned char *)map + off0;
    struct smipc_ring_hdr *rh = (struct smipc_ring_hdr *)c2s;
    unsigned char *packets = c2s + sizeof *rh;
    if (mode == 0) {
        /* a packet published with random header fields */
        for (uint64_t i = 0; i < 3; i++) {
            unsigned char *p = packets + ((rnd(&seed) % count) * stride);
            for (int k = 4; k < 32; k++)
                p[k] = (unsigned char)rnd(&seed);
        }
        unsigned char *first = packets; /* the server reads slot 0 first */
        for (int k = 4; k < 32; k++)
            first[k] = (unsigned char)rnd(&seed);
        atomic_store(&((struct smipc_packet_hdr *)first)->lock, SMIPC_PACKET_FULL);
    } else if (mode == 1) {
        /* random bytes over the whole segment, the server's side included */
        unsigned char *m = map;
        for (size_t i = 0; i < size; i += 1 + rnd(&seed) % 64)
            m[i] = (unsigned char)rnd(&seed);
        atomic_store(&((struct smipc_packet_hdr *)packets)->lock, SMIPC_PACKET_FULL);
    } else {
        /* the waiting flags and indices, then a packet that is valid but out of turn */
        atomic_store(&rh->tx_waiting, 1);
        atomic_store(&rh->free, (uint32_t)rnd(&seed));
        atomic_store(&rh->aborted, (uint32_t)rnd(&seed));
        atomic_store(&rh->next, (uint32_t)rnd(&seed));
        struct smipc_packet_hdr *h = (struct smipc_packet_hdr *)packets;
        h->size = 5;
        h->packet_count = 1;
        h->packet_index = 0;
        h->total_size = 5;
        h->transfer_id = 999; /* not the next id */
        atomic_store(&h->lock, SMIPC_PACKET_FULL);
    }
}

static int hostile_client_main(void *arg)
{
    struct hostile_args *a = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 10000));
    size_t size;
    void *map = smipc_testing_client_segment(cli, &size);
    vandalise(map, size, a->mode, a->seed);
    /* wake the server as a real send would (the ring may be too broken to take it) */
    smipc_client_send(cli, "", 0, 0);
    th_gate_open(&a->ready);
    /* the server ends this connection: we hear of it */
    char b[16];
    size_t len = sizeof b;
    int rc = smipc_client_recv(cli, b, &len, 20000);
    CHILD_CHECK(rc == SMIPC_ECLOSED || rc == SMIPC_EPROTO);
    smipc_client_close(cli);
    return 0;
}

static int honest_client_main(void *arg)
{
    struct hostile_args *a = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 10000));
    th_gate_open(&a->ready);
    for (uint32_t i = 0; i < 200; i++) {
        char buf[9000];
        size_t size = 100 + i * 37 % 8000;
        th_fill(buf, size, i);
        CHILD_OK(smipc_client_send(cli, buf, size, 20000));
        size_t len = sizeof buf;
        CHILD_OK(smipc_client_recv(cli, buf, &len, 20000));
        CHILD_CHECK(len == size && th_check(buf, len, i));
    }
    smipc_client_close(cli);
    return 0;
}

static void one_round(int mode, uint64_t seed)
{
    const char *name = th_name("hostile");
    smipc_server *srv = th_server(name, NULL);
    struct hostile_args a = {.name = name, .seed = seed, .mode = mode};
    th_gate_init(&a.ready);
    pid_t honest = th_spawn(honest_client_main, &a);
    assert_int_equal(th_gate_wait(&a.ready, 10000), 0);
    pid_t hostile = th_spawn(hostile_client_main, &a);
    assert_int_equal(th_gate_wait(&a.ready, 10000), 0);
    int eproto = 0, echoed = 0;
    char *buf = malloc(1 << 20);
    while (echoed < 200) {
        size_t len = 1 << 20;
        smipc_client_id from;
        int rc = smipc_server_recv(srv, &from, buf, &len, 20000);
        if (rc == SMIPC_EPROTO) {
            eproto++;
            continue;
        }
        if (rc == SMIPC_ETOOSMALL)
            fail_msg("a hostile total size must be EPROTO, not ETOOSMALL (%zu)", len);
        assert_smipc_ok(rc);
        if (len == 0) /* the hostile client's own empty send may survive mode 1 */
            continue;
        assert_smipc_ok(smipc_server_send(srv, from, buf, len, 20000));
        echoed++;
    }
    assert_int_equal(eproto, 1);
    assert_int_equal(th_wait(honest, 20000), 0);
    assert_int_equal(th_wait(hostile, 20000), 0);
    free(buf);
    th_gate_close(&a.ready);
    smipc_server_close(srv);
}

static void test_garbage_packet_headers(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 10; seed++)
        one_round(0, seed * 0x9e3779b97f4a7c15ull);
}

static void test_garbage_everywhere(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 10; seed++)
        one_round(1, seed * 0xbf58476d1ce4e5b9ull);
}

static void test_garbage_ring_fields(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++)
        one_round(2, seed * 0x94d049bb133111ebull);
}

/* The other way round: the server corrupts what it sends; the client says EPROTO and
 * the server sees it leave. */
static void test_client_refuses_a_hostile_server(void **state)
{
    (void)state;
    const char *name = th_name("badsrv");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *cli = th_client(name);
    smipc_client_id id = smipc_client_id_of(cli);
    char msg[100];
    th_fill(msg, sizeof msg, 1);
    assert_smipc_ok(smipc_server_send(srv, id, msg, sizeof msg, 1000));
    size_t size;
    void *map = smipc_testing_server_segment(srv, id, &size);
    const struct smipc_segment_hdr *sh = map;
    struct smipc_packet_hdr *h = (struct smipc_packet_hdr *)((char *)map + sh->ring_offset[1] +
                                                             sizeof(struct smipc_ring_hdr));
    ((unsigned char *)(h + 1))[50] ^= 1; /* one bit of the data */
    char in[200];
    size_t len = sizeof in;
    assert_status(smipc_client_recv(cli, in, &len, 1000), SMIPC_EPROTO);
    len = sizeof in;
    assert_status(smipc_client_recv(cli, in, &len, 1000), SMIPC_ECLOSED);
    assert_status(smipc_client_send(cli, "x", 1, 1000), SMIPC_ECLOSED);
    assert_true(th_clients_become(srv, 0, 5000));
    smipc_client_close(cli);
    smipc_server_close(srv);
}

int main(void)
{
    th_runtime_dir();
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage_packet_headers),
        cmocka_unit_test(test_garbage_everywhere),
        cmocka_unit_test(test_garbage_ring_fields),
        cmocka_unit_test(test_client_refuses_a_hostile_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
