/* The ring and its framing, in one process: a producer link and a consumer link over
 * one segment. Includes the hostile cases: every header field a peer could corrupt. */
#include "helpers.h"

#include "crc32c.h"
#include "internal.h"
#include "layout.h"
#include "link.h"
#include "segment.h"
#include "testing.h"
#include "clock.h"
#include "copy.h"

#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <unistd.h>

struct pair {
    void *map;
    size_t size;
    int srv_fds[4], cli_fds[4]; /* the two ends of each wake-up socket pair */
    struct smipc_link srv, cli; /* cli sends on ring 0, srv receives it */
    uint32_t ps, count;
};

/* A pair whose rings have bulk areas of slots x bulk bytes (0, 0: none). */
static struct pair *pair_new_bulk(uint32_t ps, uint32_t count, uint64_t max, int checksum,
                                  uint32_t bulk, uint32_t slots)
{
    struct pair *p = calloc(1, sizeof *p);
    struct smipc_seg_params params = {ps,  count, checksum ? SMIPC_SEG_CHECKSUM : 0,
                                      max, bulk,  slots};
    int memfd;
    assert_smipc_ok(smipc_segment_create(&params, 1, &memfd, &p->map, &p->size));
    close(memfd);
    for (int i = 0; i < 4; i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        p->srv_fds[i] = sv[0];
        p->cli_fds[i] = sv[1];
    }
    smipc_link_init(&p->srv, p->map, &params, 1, p->srv_fds, -1);
    smipc_link_init(&p->cli, p->map, &params, 0, p->cli_fds, -1);
    p->ps = ps;
    p->count = count;
    return p;
}

static struct pair *pair_new(uint32_t ps, uint32_t count, uint64_t max, int checksum)
{
    return pair_new_bulk(ps, count, max, checksum, 0, 0);
}

static void pair_free(struct pair *p)
{
    smipc_link_release(&p->srv);
    smipc_link_release(&p->cli);
    for (int i = 0; i < 4; i++) {
        close(p->srv_fds[i]);
        close(p->cli_fds[i]);
    }
    munmap(p->map, p->size);
    free(p);
}

static int64_t soon(int ms)
{
    return smipc_now_ns() + (int64_t)ms * 1000000;
}

/* The packet header the consumer will read next (ring 0, the client's sends). */
static struct smipc_packet_hdr *next_packet(struct pair *p)
{
    return (struct smipc_packet_hdr *)(p->srv.rx.packets +
                                       (size_t)p->srv.rx_pos * p->srv.rx.stride);
}

static uint32_t crc32c_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
    }
    return ~c;
}

/* Lengths and alignments (of source and destination) every copy is checked at: around
 * each implementation's block sizes, and longer than a 64 KiB packet. */
enum { MAX = 65536 + 77 };
static unsigned char src[MAX + 64];
static _Alignas(64) unsigned char dst[MAX + 64];
static const size_t lens[] = {0,    1,    7,    8,    9,    31,   32,   33,    63,   64,
                              255,  256,  257,  319,  320,  511,  512,  1000,  1535, 1536,
                              1537, 1567, 3072, 4096, 4128, 5000, 8192, 65536, MAX};
static const size_t doffs[] = {0, 1, 17, 32};

static void test_crc32c_vectors(void **state)
{
    (void)state;
    /* a bitwise reference, plain and fused with a copy, for every implementation this CPU
     * can run */
    th_fill(src, sizeof src, 3);
    for (int level = 3; level >= 0; level--) {
        int used = smipc_testing_crc32c_level(level);
        if (used != level)
            continue; /* this CPU lacks it: the level below covers what runs here */
        assert_int_equal(smipc_crc32c(0, "123456789", 9), 0xE3069283u);
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
            for (size_t off = 0; off < 3; off++) {
                size_t n = lens[li];
                uint32_t ref = crc32c_bitwise(src + off, n);
                assert_int_equal(smipc_crc32c(0, src + off, n), ref);
                for (size_t di = 0; di < 4; di++) {
                    size_t doff = doffs[di];
                    memset(dst, 0, sizeof dst);
                    assert_int_equal(smipc_crc32c_copy(dst + doff, src + off, n, 0), ref);
                    assert_memory_equal(dst + doff, src + off, n);
                    assert_int_equal(dst[doff + n], 0); /* not a byte more */
                }
                /* chaining equals one pass, whichever path each part takes */
                size_t cut = n / 3;
                assert_int_equal(
                    smipc_crc32c(smipc_crc32c(0, src + off, cut), src + off + cut, n - cut), ref);
                assert_int_equal(smipc_crc32c_copy(dst, src + off + cut, n - cut,
                                                   smipc_crc32c(0, src + off, cut)),
                                 ref);
            }
    }
    smipc_testing_crc32c_level(3);
}

static void test_copy_matches_memcpy(void **state)
{
    (void)state;
    /* the packet copy without checksums: every byte, not one more */
    th_fill(src, sizeof src, 5);
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (size_t off = 0; off < 3; off++)
            for (size_t di = 0; di < 4; di++) {
                size_t n = lens[li], doff = doffs[di];
                memset(dst, 0, sizeof dst);
                smipc_copy(dst + doff, src + off, n);
                assert_memory_equal(dst + doff, src + off, n);
                assert_int_equal(dst[doff + n], 0);
                if (doff)
                    assert_int_equal(dst[doff - 1], 0);
            }
}

static void test_sizes_round_trip_in_order(void **state)
{
    (void)state;
    const uint32_t ps = 256, count = 8;
    struct pair *p = pair_new(ps, count, 1 << 20, 1);
    const size_t sizes[] = {0, 1, ps - 1, ps, ps + 1, 2 * ps, 3 * ps + 7, count * ps};
    static unsigned char in[8 * 256], out[8 * 256 + 1];
    /* many rounds, so the ring wraps at every offset */
    for (int round = 0; round < 40; round++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            uint64_t seed = (uint64_t)round * 100 + i;
            th_fill(in, sizes[i], seed);
            assert_smipc_ok(smipc_link_send(&p->cli, in, sizes[i], soon(100)));
            size_t len = sizeof out;
            assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
            assert_int_equal(len, sizes[i]);
            assert_true(th_check(out, len, seed));
        }
    /* several queued messages come out in order */
    for (uint64_t k = 0; k < 5; k++) {
        th_fill(in, 100, k);
        assert_smipc_ok(smipc_link_send(&p->cli, in, 100, soon(100)));
    }
    for (uint64_t k = 0; k < 5; k++) {
        size_t len = sizeof out;
        assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
        assert_true(len == 100 && th_check(out, 100, k));
    }
    size_t len = sizeof out;
    assert_int_equal(smipc_link_recv_some(&p->srv, out, sizeof out, &len), SMIPC_AGAIN);
    pair_free(p);
}

static void test_toosmall_leaves_message_queued(void **state)
{
    (void)state;
    struct pair *p = pair_new(64, 8, 4096, 1);
    unsigned char in[300], out[300];
    th_fill(in, sizeof in, 9);
    assert_smipc_ok(smipc_link_send(&p->cli, in, sizeof in, soon(100)));
    for (size_t cap = 0; cap < 300; cap += 50) {
        size_t len = cap;
        assert_status(smipc_link_recv_some(&p->srv, out, cap, &len), SMIPC_ETOOSMALL);
        assert_int_equal(len, 300);
    }
    size_t len = sizeof out;
    assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
    assert_true(len == 300 && th_check(out, 300, 9));
    pair_free(p);
}

struct streamer {
    struct pair *p;
    const unsigned char *buf;
    size_t len;
    int rc;
};

static void *stream_send(void *arg)
{
    struct streamer *s = arg;
    s->rc = smipc_link_send(&s->p->cli, s->buf, s->len, soon(10000));
    return NULL;
}

static void test_message_many_times_the_ring_streams(void **state)
{
    (void)state;
    struct pair *p = pair_new(4096, 4, 64 << 20, 1); /* 16 KiB ring */
    size_t len = 5 << 20;
    unsigned char *in = malloc(len), *out = malloc(len);
    th_fill(in, len, 11);
    struct streamer s = {p, in, len, -99};
    pthread_t t;
    pthread_create(&t, NULL, stream_send, &s);
    size_t got = len;
    int rc;
    while ((rc = smipc_link_recv_some(&p->srv, out, len, &got)) == SMIPC_AGAIN)
        assert_true(smipc_link_wait_rx(&p->srv, soon(10000)) == SMIPC_OK);
    pthread_join(t, NULL);
    assert_smipc_ok(rc);
    assert_smipc_ok(s.rc);
    assert_int_equal(got, len);
    assert_true(th_check(out, len, 11));
    free(in);
    free(out);
    pair_free(p);
}

static void test_parked_transfer_resumes_in_another_buffer(void **state)
{
    (void)state;
    struct pair *p = pair_new(64, 32, 4096, 1);
    unsigned char in[1000], first[1000], second[1000];
    th_fill(in, sizeof in, 12);
    assert_smipc_ok(smipc_link_send(&p->cli, in, sizeof in, soon(100)));
    /* hide the 6th of 16 packets, as if the producer had not written it yet */
    struct smipc_packet_hdr *sixth =
        (struct smipc_packet_hdr *)(p->srv.rx.packets + 5 * (size_t)p->srv.rx.stride);
    atomic_store(&sixth->lock, SMIPC_PACKET_FREE);
    size_t len = sizeof first;
    assert_int_equal(smipc_link_recv_some(&p->srv, first, sizeof first, &len), SMIPC_AGAIN);
    assert_true(p->srv.part.active);
    assert_int_equal(p->srv.part.got, 5 * 64);
    /* leave with the message half-read, as a timeout would, and scribble on the buffer */
    assert_smipc_ok(smipc_link_park(&p->srv));
    memset(first, 0, sizeof first);
    /* a buffer too small now still gets ETOOSMALL with the whole size */
    len = 10;
    assert_status(smipc_link_recv_some(&p->srv, second, 10, &len), SMIPC_ETOOSMALL);
    assert_int_equal(len, 1000);
    len = sizeof second;
    assert_int_equal(smipc_link_recv_some(&p->srv, second, sizeof second, &len), SMIPC_AGAIN);
    atomic_store(&sixth->lock, SMIPC_PACKET_FULL);
    len = sizeof second;
    assert_smipc_ok(smipc_link_recv_some(&p->srv, second, sizeof second, &len));
    assert_true(len == 1000 && th_check(second, 1000, 12));
    pair_free(p);
}

static void test_aborted_transfer_is_never_delivered(void **state)
{
    (void)state;
    struct pair *p = pair_new(64, 4, 4096, 1);
    unsigned char in[1000], out[1000];
    th_fill(in, sizeof in, 13);
    /* nobody reads: the streamed send times out and aborts */
    assert_status(smipc_link_send(&p->cli, in, 1000, soon(5)), SMIPC_ETIMEDOUT);
    size_t len = sizeof out;
    /* the consumer takes the 4 packets there, then learns of the abort */
    assert_int_equal(smipc_link_recv_some(&p->srv, out, sizeof out, &len), SMIPC_AGAIN);
    assert_false(p->srv.part.active);
    /* the next message arrives whole */
    th_fill(in, 100, 14);
    assert_smipc_ok(smipc_link_send(&p->cli, in, 100, soon(100)));
    len = sizeof out;
    assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
    assert_true(len == 100 && th_check(out, 100, 14));

    /* the same when the consumer was mid-transfer before the abort and then sees the
     * next transfer begin: hide the abort until the consumer has taken what is there */
    th_fill(in, 1000, 15);
    assert_status(smipc_link_send(&p->cli, in, 1000, soon(5)), SMIPC_ETIMEDOUT);
    uint64_t gave_up = atomic_load(&p->srv.rx.hdr->aborted);
    atomic_store(&p->srv.rx.hdr->aborted, 0);
    len = sizeof out;
    assert_int_equal(smipc_link_recv_some(&p->srv, out, sizeof out, &len), SMIPC_AGAIN);
    assert_true(p->srv.part.active);
    atomic_store(&p->srv.rx.hdr->aborted, gave_up);
    th_fill(in, 50, 16);
    assert_smipc_ok(smipc_link_send(&p->cli, in, 50, soon(100)));
    len = sizeof out;
    assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
    assert_true(len == 50 && th_check(out, 50, 16));
    pair_free(p);
}

/* Found by fuzz_ring: two transfers in a row given up before the consumer looks. */
static void test_two_aborts_in_a_row(void **state)
{
    (void)state;
    struct pair *p = pair_new(64, 8, 4096, 1);
    unsigned char in[1000], out[1000];
    th_fill(in, sizeof in, 17);
    /* 7 packets fill most of the ring, then a streamed send gets one packet out */
    assert_smipc_ok(smipc_link_send(&p->cli, in, 7 * 64, soon(100)));
    assert_status(smipc_link_send(&p->cli, in, 1000, soon(0)), SMIPC_ETIMEDOUT);
    size_t len = sizeof out;
    assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
    assert_int_equal(len, 7 * 64);
    /* the consumer takes transfer 2's packet before it sees the abort (hidden here) */
    atomic_store(&p->srv.rx.hdr->aborted, 0);
    assert_int_equal(smipc_link_recv_some(&p->srv, out, sizeof out, &len), SMIPC_AGAIN);
    assert_true(p->srv.part.active && p->srv.part.tid == 2);
    atomic_store(&p->srv.rx.hdr->aborted, 2);
    /* and transfer 3 gives up too before the consumer looks again */
    assert_status(smipc_link_send(&p->cli, in, 1000, soon(0)), SMIPC_ETIMEDOUT);
    assert_int_equal(atomic_load(&p->srv.rx.hdr->aborted), 3);
    /* transfer 3 begins while 2 is in progress, and `aborted` names 3, not 2 */
    len = sizeof out;
    assert_int_equal(smipc_link_recv_some(&p->srv, out, sizeof out, &len), SMIPC_AGAIN);
    assert_false(p->srv.part.active); /* both dropped */
    th_fill(in, 100, 18);
    assert_smipc_ok(smipc_link_send(&p->cli, in, 100, soon(100)));
    len = sizeof out;
    assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
    assert_true(len == 100 && th_check(out, 100, 18));
    pair_free(p);
}

struct one_send {
    struct pair *p;
    int rc;
};

static void *send_one_more(void *arg)
{
    struct one_send *s = arg;
    unsigned char m[64] = {0};
    s->rc = smipc_link_send(&s->p->cli, m, sizeof m, soon(10000));
    return NULL;
}

static int producer_asleep(void *arg)
{
    return atomic_load(&((struct pair *)arg)->srv.rx.hdr->tx_waiting) != 0;
}

/* A producer waiting for room asks to be woken once half the ring is free, not after the
 * one packet it needs: woken for every packet, a flooding client on busy CPUs lost its
 * share of the server while it waited to be scheduled. */
static void test_producer_waits_for_half_the_ring(void **state)
{
    (void)state;
    struct pair *p = pair_new(64, 8, 4096, 1);
    unsigned char m[64] = {0}, out[64];
    for (int i = 0; i < 8; i++)
        assert_smipc_ok(smipc_link_send(&p->cli, m, sizeof m, soon(100)));
    struct one_send s = {p, -99};
    pthread_t t;
    pthread_create(&t, NULL, send_one_more, &s);
    assert_true(th_eventually(producer_asleep, p, 10000));
    /* the consumer's sequence at which to wake it: 8 sent + 4 wanted - 8 slots */
    assert_int_equal(atomic_load(&p->srv.rx.hdr->free), 4);
    for (int i = 0; i < 9; i++) {
        size_t len = sizeof out;
        int rc;
        while ((rc = smipc_link_recv_some(&p->srv, out, sizeof out, &len)) == SMIPC_AGAIN)
            assert_true(smipc_link_wait_rx(&p->srv, soon(10000)) == SMIPC_OK);
        assert_smipc_ok(rc);
    }
    pthread_join(t, NULL);
    assert_smipc_ok(s.rc);
    pair_free(p);
}

/* Transfer ids from just below 2^31 and just below 2^32 on: messages that stream through
 * the ring (the consumer meets each one half-written) and one given up in between all
 * cross the boundary. The producer's and consumer's counters are set directly. */
static void stream_across_ids(uint64_t first)
{
    struct pair *p = pair_new(64, 4, 1 << 20, 1);
    p->cli.tx_tid = first;
    p->srv.rx_expect = first;
    enum { LEN = 1000 }; /* 16 packets through a 4-packet ring */
    unsigned char in[LEN], out[LEN];
    for (uint64_t i = 0; i < 6; i++) {
        if (i == 3) { /* given up: nobody reads, the streamed send times out */
            th_fill(in, LEN, 99);
            assert_status(smipc_link_send(&p->cli, in, LEN, soon(5)), SMIPC_ETIMEDOUT);
        }
        th_fill(in, LEN, first + i);
        struct streamer s = {p, in, LEN, -99};
        pthread_t t;
        pthread_create(&t, NULL, stream_send, &s);
        size_t got = LEN;
        int rc;
        while ((rc = smipc_link_recv_some(&p->srv, out, LEN, &got)) == SMIPC_AGAIN)
            assert_true(smipc_link_wait_rx(&p->srv, soon(10000)) == SMIPC_OK);
        pthread_join(t, NULL);
        assert_smipc_ok(s.rc);
        assert_smipc_ok(rc);
        assert_int_equal(got, LEN);
        assert_true(th_check(out, LEN, first + i));
    }
    assert_true(p->cli.tx_tid > first + 6); /* the boundary was crossed */
    pair_free(p);
}

static void test_transfer_ids_wrap(void **state)
{
    (void)state;
    stream_across_ids(((uint64_t)1 << 31) - 3);
    stream_across_ids(((uint64_t)1 << 32) - 3);
}

/* Sends a valid 3-packet message, lets `corrupt` damage the first packet the consumer
 * will read, and expects EPROTO. */
static void expect_eproto(void (*corrupt)(struct pair *, struct smipc_packet_hdr *), int checksum)
{
    struct pair *p = pair_new(64, 8, 4096, checksum);
    unsigned char in[150], out[4096];
    th_fill(in, sizeof in, 21);
    /* one good message first, so the corruption hits a ring that has wrapped state */
    assert_smipc_ok(smipc_link_send(&p->cli, in, 10, soon(100)));
    size_t len = sizeof out;
    assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
    assert_smipc_ok(smipc_link_send(&p->cli, in, sizeof in, soon(100)));
    corrupt(p, next_packet(p));
    len = sizeof out;
    assert_status(smipc_link_recv_some(&p->srv, out, sizeof out, &len), SMIPC_EPROTO);
    pair_free(p);
}

static struct smipc_packet_hdr *second(struct pair *p, struct smipc_packet_hdr *h)
{
    return (struct smipc_packet_hdr *)((unsigned char *)h + p->srv.rx.stride);
}
static void c_size(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->size = 1u << 31;
}
static void c_size_small(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->size = 3;
}
static void c_count(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->packet_count = 0;
}
static void c_count_big(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->packet_count = 0xffffffffu;
}
static void c_index(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->packet_index = 1;
}
static void c_total(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->total_size = ~0ull;
}
static void c_total_lie(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->total_size = 140;
}
static void c_tid(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->transfer_id += 5;
}
static void c_checksum(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->checksum ^= 1;
}
static void c_data(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    ((unsigned char *)(h + 1))[17] ^= 0x40;
}
static void c_second_tid(struct pair *p, struct smipc_packet_hdr *h)
{
    second(p, h)->transfer_id = 77;
}
static void c_second_index(struct pair *p, struct smipc_packet_hdr *h)
{
    second(p, h)->packet_index = 2;
}
static void c_second_total(struct pair *p, struct smipc_packet_hdr *h)
{
    second(p, h)->total_size = 64 * 3;
}

/* A flag no version knows, and a flag that changes inside one message. */
static void c_unknown_flag(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->total_size |= 1ull << 57;
}
static void c_second_flag(struct pair *p, struct smipc_packet_hdr *h)
{
    second(p, h)->total_size |= (uint64_t)SMIPC_MSG_BROADCAST << SMIPC_SIZE_BITS;
}

/* A new transfer starting mid-message without the producer having aborted. */
static void c_second_new_transfer(struct pair *p, struct smipc_packet_hdr *h)
{
    struct smipc_packet_hdr *n = second(p, h);
    n->transfer_id = h->transfer_id + 1;
    n->packet_index = 0;
    n->packet_count = 1;
    n->total_size = 10;
    n->size = 10;
}

static void test_hostile_headers_are_eproto(void **state)
{
    (void)state;
    void (*cases[])(struct pair *,
                    struct smipc_packet_hdr *) = {c_size,         c_size_small,
                                                  c_count,        c_count_big,
                                                  c_index,        c_total,
                                                  c_total_lie,    c_tid,
                                                  c_checksum,     c_data,
                                                  c_second_tid,   c_second_index,
                                                  c_second_total, c_second_new_transfer,
                                                  c_unknown_flag, c_second_flag};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_eproto(cases[i], 1);
    /* without checksums the framing is still checked */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (cases[i] != c_checksum && cases[i] != c_data)
            expect_eproto(cases[i], 0);
}

static void test_every_single_bit_flip_is_caught(void **state)
{
    (void)state;
    struct pair *p = pair_new(64, 4, 4096, 1);
    unsigned char in[64], out[64];
    th_fill(in, sizeof in, 31);
    for (int bit = 0; bit < 64 * 8 + 24 * 8; bit++) {
        assert_smipc_ok(smipc_link_send(&p->cli, in, sizeof in, soon(100)));
        struct smipc_packet_hdr *h = next_packet(p);
        unsigned char *bytes = bit < 64 * 8 ? (unsigned char *)(h + 1) : (unsigned char *)&h->size;
        int b = bit < 64 * 8 ? bit : bit - 64 * 8;
        if (bit >= 64 * 8 && b >= 32 && b < 64)
            b += 32; /* skip the checksum word itself: covered by c_checksum */
        if (bit >= 64 * 8 && b >= 24 * 8 + 32)
            break;
        bytes[b / 8] ^= (unsigned char)(1u << (b % 8));
        size_t len = sizeof out;
        assert_status(smipc_link_recv_some(&p->srv, out, sizeof out, &len), SMIPC_EPROTO);
        pair_free(p);
        p = pair_new(64, 4, 4096, 1);
    }
    pair_free(p);
}

/* Large messages go through the bulk area in chunks: every size around the chunk and
 * area boundaries arrives intact and in order, mixed with small ones, as the area wraps;
 * larger than the area, they stream. */
static void *stream_bulk(void *arg)
{
    struct streamer *s = arg;
    s->rc = smipc_link_send(&s->p->cli, s->buf, s->len, soon(10000));
    return NULL;
}

static void test_bulk_sizes_round_trip(void **state)
{
    (void)state;
    enum { PS = 256, COUNT = 8, BULK = 4096, SLOTS = 3 };
    const size_t sizes[] = {0,    4 * PS,           4 * PS + 1,     BULK - 1,
                            BULK, BULK + 1,         2 * BULK + 100, SLOTS * BULK,
                            17,   SLOTS * BULK + 1, 10 * BULK + 5,  4 * PS + 1};
    static unsigned char in[16 * BULK], out[16 * BULK];
    for (int checksum = 0; checksum < 2; checksum++) {
        struct pair *p = pair_new_bulk(PS, COUNT, 1 << 20, checksum, BULK, SLOTS);
        for (int round = 0; round < 7; round++)
            for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                uint64_t seed = (uint64_t)round * 100 + i;
                th_fill(in, sizes[i], seed);
                size_t len = sizeof out;
                int rc;
                if (sizes[i] <= SLOTS * BULK) {
                    assert_smipc_ok(smipc_link_send(&p->cli, in, sizes[i], soon(100)));
                    rc = smipc_link_recv_some(&p->srv, out, sizeof out, &len);
                } else { /* streams: someone must read while it is sent */
                    struct streamer st = {p, in, sizes[i], -99};
                    pthread_t t;
                    assert_int_equal(pthread_create(&t, NULL, stream_bulk, &st), 0);
                    while ((rc = smipc_link_recv_some(&p->srv, out, sizeof out, &len)) ==
                           SMIPC_AGAIN)
                        assert_smipc_ok(smipc_link_wait_rx(&p->srv, soon(10000)));
                    pthread_join(t, NULL);
                    assert_smipc_ok(st.rc);
                }
                assert_smipc_ok(rc);
                assert_int_equal(len, sizes[i]);
                assert_true(th_check(out, len, seed));
                assert_int_equal(p->srv.rx_flags, 0); /* the bulk mark is not the user's */
            }
        /* whole messages fill the area (one chunk each), and one more waits for a slot:
         * it times out leaving nothing behind, and goes once a chunk was taken */
        for (uint64_t k = 0; k < SLOTS; k++) {
            th_fill(in, BULK, k);
            assert_smipc_ok(smipc_link_send(&p->cli, in, BULK, soon(100)));
        }
        th_fill(in, BULK, 9);
        assert_status(smipc_link_send(&p->cli, in, BULK, soon(5)), SMIPC_ETIMEDOUT);
        size_t len = sizeof out;
        assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
        assert_true(len == BULK && th_check(out, len, 0));
        assert_smipc_ok(smipc_link_send(&p->cli, in, BULK, soon(100)));
        for (uint64_t k = 1; k <= SLOTS; k++) {
            len = sizeof out;
            assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
            assert_true(len == BULK && th_check(out, len, k == SLOTS ? 9 : k));
        }
        pair_free(p);
    }
}

/* A bulk message streaming when the producer gives up is never delivered, and a parked
 * one resumes in another buffer. */
static void test_bulk_abort_and_park(void **state)
{
    (void)state;
    enum { BULK = 4096, SLOTS = 2 };
    struct pair *p = pair_new_bulk(256, 8, 1 << 20, 1, BULK, SLOTS);
    static unsigned char in[5 * BULK], out[5 * BULK], other[5 * BULK];
    th_fill(in, sizeof in, 40);
    assert_status(smipc_link_send(&p->cli, in, sizeof in, soon(5)), SMIPC_ETIMEDOUT);
    size_t len = sizeof out;
    assert_int_equal(smipc_link_recv_some(&p->srv, out, sizeof out, &len), SMIPC_AGAIN);
    assert_false(p->srv.part.active);
    th_fill(in, 3000, 41);
    assert_smipc_ok(smipc_link_send(&p->cli, in, 3000, soon(100)));
    assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
    assert_true(len == 3000 && th_check(out, len, 41));
    /* parked half-way, finished in another buffer */
    th_fill(in, sizeof in, 42);
    struct streamer st = {p, in, sizeof in, -99};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stream_bulk, &st), 0);
    len = sizeof out;
    int rc;
    while ((rc = smipc_link_recv_some(&p->srv, out, sizeof out, &len)) == SMIPC_AGAIN &&
           p->srv.part.got == 0)
        assert_smipc_ok(smipc_link_wait_rx(&p->srv, soon(10000)));
    if (rc == SMIPC_AGAIN) {
        assert_smipc_ok(smipc_link_park(&p->srv));
        while ((rc = smipc_link_recv_some(&p->srv, other, sizeof other, &len)) == SMIPC_AGAIN)
            assert_smipc_ok(smipc_link_wait_rx(&p->srv, soon(10000)));
        memcpy(out, other, sizeof other);
    }
    pthread_join(t, NULL);
    assert_smipc_ok(st.rc);
    assert_smipc_ok(rc);
    assert_true(len == sizeof in && th_check(out, len, 42));
    pair_free(p);
}

/* What a hostile producer can do with bulk packets is a protocol error, never a read
 * outside the area. */
static void expect_bulk_eproto(void (*corrupt)(struct pair *, struct smipc_packet_hdr *),
                               int checksum, int with_area)
{
    struct pair *p =
        pair_new_bulk(256, 8, 1 << 20, checksum, with_area ? 4096 : 0, with_area ? 4 : 0);
    static unsigned char in[3 * 4096], out[3 * 4096];
    th_fill(in, sizeof in, 43);
    /* without an area, the producer is told it has one (the consumer knows better) */
    static unsigned char fake_area[2 * 4096];
    if (!with_area) {
        p->cli.tx.bulk = fake_area;
        p->cli.tx.bulk_size = 4096;
        p->cli.tx.bulk_slots = 2;
    }
    assert_smipc_ok(smipc_link_send(&p->cli, in, sizeof in - (with_area ? 0 : 4096), soon(100)));
    if (corrupt)
        corrupt(p, next_packet(p));
    size_t len = sizeof out;
    assert_status(smipc_link_recv_some(&p->srv, out, sizeof out, &len), SMIPC_EPROTO);
    pair_free(p);
}
static void b_chunk_size(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->size = 256; /* a ring packet's size, not a chunk's */
}
static void b_count(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->packet_count = 48; /* as if in ring packets */
}
static void b_unmarked(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)p;
    h->total_size &= SMIPC_SIZE_MASK; /* a chunk passed off as a ring packet */
}
static void b_chunk_data(struct pair *p, struct smipc_packet_hdr *h)
{
    (void)h;
    p->srv.rx.bulk[100] ^= 1;
}

static void test_hostile_bulk_packets_are_eproto(void **state)
{
    (void)state;
    expect_bulk_eproto(NULL, 1, 0); /* bulk packets where there is no area */
    expect_bulk_eproto(NULL, 0, 0);
    void (*cases[])(struct pair *, struct smipc_packet_hdr *) = {b_chunk_size, b_count, b_unmarked,
                                                                 b_chunk_data};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_bulk_eproto(cases[i], 1, 1);
    for (size_t i = 0; i < 3; i++) /* without checksums the framing is still checked */
        expect_bulk_eproto(cases[i], 0, 1);
}

/* A message's flags reach the consumer with it, in every packet of a streamed one, and
 * a message sent without them has none. */
static void test_message_flags_travel_with_the_message(void **state)
{
    (void)state;
    for (int checksum = 0; checksum < 2; checksum++) {
        struct pair *p = pair_new(64, 4, 4096, checksum);
        unsigned char in[1000], out[1000];
        th_fill(in, sizeof in, 5);
        const size_t sizes[] = {0, 10, 200}; /* 200 is one packet short of the ring */
        for (size_t i = 0; i < 3; i++) {
            p->cli.tx_flags = i % 2 ? 0 : SMIPC_MSG_BROADCAST;
            assert_smipc_ok(smipc_link_send(&p->cli, in, sizes[i], soon(100)));
            size_t len = sizeof out;
            assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
            assert_int_equal(len, sizes[i]);
            assert_memory_equal(out, in, len);
            assert_int_equal(p->srv.rx_flags, i % 2 ? 0 : SMIPC_MSG_BROADCAST);
        }
        /* streamed through the ring (1000 B over 4 x 64 B packets) */
        p->cli.tx_flags = SMIPC_MSG_BROADCAST;
        struct streamer a = {p, in, sizeof in, -99};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, stream_send, &a), 0);
        size_t len = sizeof out;
        int rc;
        while ((rc = smipc_link_recv_some(&p->srv, out, sizeof out, &len)) == SMIPC_AGAIN)
            assert_smipc_ok(smipc_link_wait_rx(&p->srv, soon(5000)));
        assert_smipc_ok(rc);
        pthread_join(t, NULL);
        assert_smipc_ok(a.rc);
        assert_int_equal(len, sizeof in);
        assert_memory_equal(out, in, len);
        assert_int_equal(p->srv.rx_flags, SMIPC_MSG_BROADCAST);
        pair_free(p);
    }
}

static void test_no_checksum_mode_delivers(void **state)
{
    (void)state;
    struct pair *p = pair_new(128, 4, 4096, 0);
    unsigned char in[300], out[300];
    th_fill(in, sizeof in, 41);
    assert_smipc_ok(smipc_link_send(&p->cli, in, sizeof in, soon(100)));
    assert_int_equal(next_packet(p)->checksum, 0);
    size_t len = sizeof out;
    assert_smipc_ok(smipc_link_recv_some(&p->srv, out, sizeof out, &len));
    assert_true(len == 300 && th_check(out, 300, 41));
    pair_free(p);
}

static void test_segment_validation(void **state)
{
    (void)state;
    struct smipc_seg_params good = {4096, 64, SMIPC_SEG_CHECKSUM, 1 << 20};
    int memfd;
    void *map, *map2;
    size_t size, size2;
    assert_smipc_ok(smipc_segment_create(&good, 5, &memfd, &map, &size));
    assert_smipc_ok(smipc_segment_map(memfd, &good, 5, &map2, &size2));
    munmap(map2, size2);
    /* parameters that disagree with the segment are refused */
    struct smipc_seg_params other = good;
    other.packet_size = 2048;
    assert_status(smipc_segment_map(memfd, &other, 5, &map2, &size2), SMIPC_EPROTO);
    assert_status(smipc_segment_map(memfd, &good, 6, &map2, &size2), SMIPC_EPROTO);
    ((struct smipc_segment_hdr *)map)->magic = 0;
    assert_status(smipc_segment_map(memfd, &good, 5, &map2, &size2), SMIPC_EPROTO);
    /* a memfd without seals (one a hostile server could shrink) is refused */
    int raw = memfd_create("x", MFD_CLOEXEC);
    assert_int_equal(ftruncate(raw, (off_t)size), 0);
    assert_status(smipc_segment_map(raw, &good, 5, &map2, &size2), SMIPC_EPROTO);
    close(raw);
    /* the seals hold */
    assert_int_not_equal(ftruncate(memfd, 4096), 0);
    close(memfd);
    munmap(map, size);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_copy_matches_memcpy),
        cmocka_unit_test(test_sizes_round_trip_in_order),
        cmocka_unit_test(test_toosmall_leaves_message_queued),
        cmocka_unit_test(test_message_many_times_the_ring_streams),
        cmocka_unit_test(test_parked_transfer_resumes_in_another_buffer),
        cmocka_unit_test(test_aborted_transfer_is_never_delivered),
        cmocka_unit_test(test_two_aborts_in_a_row),
        cmocka_unit_test(test_transfer_ids_wrap),
        cmocka_unit_test(test_producer_waits_for_half_the_ring),
        cmocka_unit_test(test_hostile_headers_are_eproto),
        cmocka_unit_test(test_every_single_bit_flip_is_caught),
        cmocka_unit_test(test_message_flags_travel_with_the_message),
        cmocka_unit_test(test_bulk_sizes_round_trip),
        cmocka_unit_test(test_bulk_abort_and_park),
        cmocka_unit_test(test_hostile_bulk_packets_are_eproto),
        cmocka_unit_test(test_no_checksum_mode_delivers),
        cmocka_unit_test(test_segment_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
