/* libFuzzer target: a consumer facing whatever a hostile producer can do to a ring.
 * The input is a script of operations: honest sends, writes of arbitrary bytes anywhere
 * in the ring or its bulk area, lock flips, receives into buffers of any size, parks; on
 * one of three rings, chosen by the first byte: small packets with checksums, packets
 * large enough for the vector copy without them, or small packets with checksums and a
 * bulk area (messages over 256 bytes go there); zero-copy loans and views too. Properties:
 * nothing
 * crashes or reads out of bounds; a receive returns only whole messages no larger than
 * its buffer; while nothing was tampered with, every message is exactly what was sent. */
#include "fuzz_input.h"
#include "clock.h"
#include "internal.h"
#include "layout.h"
#include "link.h"
#include "segment.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <unistd.h>

#define COUNT   8
#define MAX_MSG 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_ring: %s:%d: %s\n", __FILE__, __LINE__, #cond);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* [0]: 64-byte packets with checksums; [1]: 512-byte packets without; [2]: as [0], with a
 * bulk area of two 4 KiB slots */
#define VARIANTS 3
static const uint32_t packet_sizes[VARIANTS] = {64, 512, 64};
static void *maps[VARIANTS];
static struct smipc_seg_params params[VARIANTS];
static int prod_fds[4], cons_fds[4]; /* the two ends of each wake-up socket pair */

static void setup(void)
{
    if (maps[0])
        return;
    for (int v = 0; v < VARIANTS; v++) {
        struct smipc_seg_params p = {
            packet_sizes[v],   COUNT,         v == 1 ? 0 : SMIPC_SEG_CHECKSUM, MAX_MSG,
            v == 2 ? 4096 : 0, v == 2 ? 2 : 0};
        params[v] = p;
        int memfd;
        size_t map_size;
        int rc = smipc_segment_create(&p, 1, &memfd, &maps[v], &map_size);
        if (rc) {
            fprintf(stderr, "fuzz_ring: segment: %s\n", smipc_strerror(rc));
            abort();
        }
        close(memfd);
    }
    for (int i = 0; i < 4; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
            abort();
        prod_fds[i] = sv[0];
        cons_fds[i] = sv[1];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    int variant = size ? data[0] % VARIANTS : 0;
    void *map = maps[variant];
    struct smipc_segment_hdr *sh = map;
    unsigned char *ring0 = (unsigned char *)map + sh->ring_offset[0];
    size_t ring_len = sizeof(struct smipc_ring_hdr) + (size_t)COUNT * sh->stride;
    /* a fresh ring for every input: clear both rings, keep the constant fields */
    memset(ring0, 0, (size_t)sh->ring_offset[1] - sh->ring_offset[0] + ring_len);
    for (int i = 0; i < 2; i++) {
        struct smipc_ring_hdr *rh = (void *)((unsigned char *)map + sh->ring_offset[i]);
        rh->count = COUNT;
        rh->packet_size = packet_sizes[variant];
    }
    struct smipc_link prod, cons;
    smipc_link_init(&prod, map, &params[variant], 0, prod_fds, -1);
    smipc_link_init(&cons, map, &params[variant], 1, cons_fds, -1);
    static unsigned char msg[MAX_MSG], out[MAX_MSG + 16];
    /* messages sent and not yet received, as (length, seed) */
    unsigned sent_len[64], sent_seed[64], head = 0, tail = 0;
    int tampered = 0;
    struct reader r = {data + (size != 0), size - (size != 0)};
    while (r.left) {
        unsigned op = take(&r, 1) % 10;
        if (op == 0) { /* an honest send, never blocking */
            unsigned len = take(&r, 2) % (MAX_MSG + 1), seed = take(&r, 1);
            for (unsigned i = 0; i < len; i++)
                msg[i] = (unsigned char)(seed + i * 7);
            int rc = smipc_link_send(&prod, msg, len, 0);
            if (rc == SMIPC_OK && tail - head < 64) {
                sent_len[tail % 64] = len;
                sent_seed[tail % 64] = seed;
                tail++;
            } else if (rc == SMIPC_OK) {
                tampered = 1; /* too many to track: stop checking contents */
            }
        } else if (op == 1) { /* arbitrary bytes anywhere in the consumer's ring */
            unsigned off = take(&r, 2) % ring_len, n = take(&r, 1) % 16;
            for (unsigned i = 0; i < n && off + i < ring_len; i++)
                ring0[off + i] = (unsigned char)take(&r, 1);
            tampered = 1;
        } else if (op == 2) { /* flip a lock */
            unsigned slot = take(&r, 1) % COUNT;
            struct smipc_packet_hdr *h =
                (void *)(ring0 + sizeof(struct smipc_ring_hdr) + (size_t)slot * sh->stride);
            atomic_store(&h->lock, take(&r, 1) & 1);
            tampered = 1;
        } else if (op == 3 || op == 4) { /* receive into a buffer of some size */
            size_t cap = op == 3 ? sizeof out : take(&r, 2) % (sizeof out + 1), len = cap;
            /* a different buffer: first move a transfer in progress out of the old one,
             * as the client and server do before they return */
            if (cons.part.active && !cons.part.stash && cons.part.dst_cap != cap)
                REQUIRE(smipc_link_park(&cons) == SMIPC_OK);
            int rc = smipc_link_recv_some(&cons, out, cap, &len);
            if (rc == SMIPC_OK) {
                REQUIRE(len <= cap && len <= MAX_MSG);
                if (!tampered) {
                    REQUIRE(head != tail && len == sent_len[head % 64]);
                    for (unsigned i = 0; i < len; i++)
                        REQUIRE(out[i] == (unsigned char)(sent_seed[head % 64] + i * 7));
                    head++;
                }
            } else if (rc == SMIPC_ETOOSMALL) {
                REQUIRE(len > cap && len <= MAX_MSG);
            } else if (rc == SMIPC_EPROTO) {
                REQUIRE(tampered); /* an honest producer never causes EPROTO */
                break;             /* the connection is over */
            } else if (rc != SMIPC_AGAIN) {
                fprintf(stderr, "fuzz_ring: unexpected %s\n", smipc_strerror(rc));
                abort();
            }
        } else if (op == 5) { /* park a transfer in progress, as a timeout would */
            REQUIRE(smipc_link_park(&cons) == SMIPC_OK);
        } else if (op == 7) { /* a zero-copy receive */
            const void *view;
            size_t len;
            int rc = smipc_link_view(&cons, &view, &len);
            if (rc == SMIPC_OK) {
                REQUIRE(len <= MAX_MSG);
                const unsigned char *v = view;
                if (!tampered) {
                    REQUIRE(head != tail && len == sent_len[head % 64]);
                    for (unsigned i = 0; i < len; i++)
                        REQUIRE(v[i] == (unsigned char)(sent_seed[head % 64] + i * 7));
                    head++;
                }
                smipc_link_view_done(&cons);
            } else if (rc == SMIPC_EPROTO) {
                REQUIRE(tampered);
                break;
            } else {
                REQUIRE(rc == SMIPC_AGAIN || rc == SMIPC_SPLIT);
            }
        } else if (op == 8 || op == 9) { /* a loan, committed (at most its length) or not */
            unsigned len = take(&r, 2) % (MAX_MSG + 1), seed = take(&r, 1);
            unsigned n = op == 8 ? len - take(&r, 1) % (len + 1) : 0;
            void *buf;
            int rc = smipc_link_loan(&prod, len, &buf, 0);
            if (rc == SMIPC_OK) {
                for (unsigned i = 0; i < n; i++)
                    ((unsigned char *)buf)[i] = (unsigned char)(seed + i * 7);
                if (op == 9) {
                    smipc_link_cancel_loan(&prod);
                } else if (smipc_link_commit(&prod, n) == SMIPC_OK && tail - head < 64) {
                    sent_len[tail % 64] = n;
                    sent_seed[tail % 64] = seed;
                    tail++;
                } else {
                    tampered = 1;
                }
            } else {
                REQUIRE(rc == SMIPC_ETIMEDOUT || rc == SMIPC_ELOANSIZE);
            }
        } else if (sh->bulk_slots) { /* arbitrary bytes in the consumer's bulk area */
            unsigned char *area = (unsigned char *)map + sh->bulk_offset[0];
            size_t area_len = (size_t)sh->bulk_size * sh->bulk_slots;
            unsigned off = take(&r, 2) % area_len, n = take(&r, 1) % 16;
            for (unsigned i = 0; i < n && off + i < area_len; i++)
                area[off + i] = (unsigned char)take(&r, 1);
            tampered = 1;
        }
    }
    smipc_link_release(&cons);
    smipc_link_release(&prod);
    return 0;
}
