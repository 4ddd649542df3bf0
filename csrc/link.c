/* Framing of messages into packets and back, with every field the peer wrote checked
 * before it is used. Producer and consumer exchange packets through each packet's lock
 * word alone; the waiting flags are touched only on the way to sleep. */
#include "link.h"

#include "clock.h"
#include "copy.h"
#include "crc32c.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The header fields a checksum covers, in this order (docs/PROTOCOL.md). */
struct crc_fields {
    uint32_t size, transfer_id, packet_count, packet_index;
    uint64_t total_size;
};
_Static_assert(sizeof(struct crc_fields) == 24, "checksummed header bytes");

#define PRODUCER_RECHECK_NS 10000000 /* a sleeping producer looks again every 10 ms */

static inline struct smipc_packet_hdr *slot_at(const struct smipc_ring *r, uint32_t pos)
{
    return (struct smipc_packet_hdr *)(r->packets + (size_t)pos * r->stride);
}

static inline uint32_t pos_add(const struct smipc_ring *r, uint32_t pos, uint32_t n)
{
    pos += n;
    return pos >= r->count ? pos - r->count : pos;
}

static inline int slot_full(const struct smipc_ring *r, uint32_t pos)
{
    return atomic_load_explicit(&slot_at(r, pos)->lock, memory_order_acquire) == SMIPC_PACKET_FULL;
}

void smipc_link_init(struct smipc_link *l, void *segment, const struct smipc_seg_params *p,
                     int is_server, const int wake_fds[4], int ctl_fd)
{
    struct smipc_seg_layout lay;
    smipc_segment_layout(p, &lay);
    memset(l, 0, sizeof *l);
    for (int i = 0; i < 2; i++) {
        /* ring 0 is client->server: the server reads it, the client writes it */
        struct smipc_ring *r = (i == 0) == (is_server != 0) ? &l->rx : &l->tx;
        r->hdr = (struct smipc_ring_hdr *)((unsigned char *)segment + lay.ring_offset[i]);
        r->packets = (unsigned char *)r->hdr + sizeof(struct smipc_ring_hdr);
        r->count = p->ring_packets;
        r->packet_size = p->packet_size;
        r->stride = lay.stride;
        if (p->bulk_slots) {
            r->bulk = (unsigned char *)segment + lay.bulk_offset[i];
            r->bulk_size = p->bulk_size;
            r->bulk_slots = p->bulk_slots;
        }
        r->data_fd = wake_fds[2 * i];
        r->room_fd = wake_fds[2 * i + 1];
    }
    l->ctl_fd = ctl_fd;
    l->load = &l->rx.hdr->load; /* a server sets its own counter instead */
    l->checksum = (p->flags & SMIPC_SEG_CHECKSUM) != 0;
    l->max_message_size = p->max_message_size;
    l->tx_tid = 1;
    l->rx_expect = 1;
    l->check_every = p->ring_packets / 4 ? p->ring_packets / 4 : 1;
    smipc_spin_init(&l->tx_spin);
    smipc_spin_init(&l->rx_spin);
    l->bulk_idle_ns = -1; /* the caller says (smipc_bulk_idle_ns) */
}

void smipc_link_release(struct smipc_link *l)
{
    if (l->part.stash && l->parked_bytes)
        atomic_fetch_sub(l->parked_bytes, l->part.total ? l->part.total : 1);
    free(l->part.stash);
    l->part.stash = NULL;
}

/* ---- producer ---- */

/* Packets a message of total bytes takes (an empty one takes one). A 64-bit division
 * costs tens of cycles, and a small message's send and receive ask several times: those
 * fit one packet without it. */
static inline uint64_t packets_for(uint64_t total, uint32_t ps)
{
    return total <= ps ? 1 : (total + ps - 1) / ps;
}

static inline int has_room(const struct smipc_link *l, uint32_t n)
{
    return !slot_full(&l->tx, pos_add(&l->tx, l->tx_pos, n - 1));
}

/* A message this much larger than a packet goes through the bulk area, in chunks of
 * bulk_size: one copy in and out per chunk instead of one per packet (the consumer takes
 * either; the choice is the producer's). */
#define BULK_FROM_PACKETS 4

static int goes_bulk(uint32_t packet_size, uint32_t bulk_slots, uint64_t len)
{
    return bulk_slots && len > (uint64_t)BULK_FROM_PACKETS * packet_size;
}

static int fits_whole(uint32_t packet_size, uint32_t count, uint32_t bulk_size, uint32_t bulk_slots,
                      uint64_t len)
{
    /* each chunk has a packet of its own in the ring */
    if (goes_bulk(packet_size, bulk_slots, len))
        return packets_for(len, bulk_size) <= (bulk_slots < count ? bulk_slots : count);
    return packets_for(len, packet_size) <= count;
}

int smipc_link_fits_whole(const struct smipc_seg_params *p, uint64_t len)
{
    return fits_whole(p->packet_size, p->ring_packets, p->bulk_size, p->bulk_slots, len);
}

/* Packets of ring room (counted from tx_pos) to wait for so that n packets are free and,
 * with chunks > 0, the bulk slots of the next `chunks` chunks too. A slot is free once
 * the consumer took the packet that carried the chunk in it (it lets the packet go only
 * after reading the chunk); it takes them in order, so the last slot's packet is enough. */
static uint32_t room_needed(const struct smipc_link *l, uint32_t n, uint32_t chunks)
{
    const struct smipc_ring *r = &l->tx;
    uint64_t last = l->tx_chunks + chunks - 1;
    if (chunks && last >= r->bulk_slots) {
        uint32_t seq = l->tx_chunk_seq[last % r->bulk_slots];
        /* how far into the ring's last `count` packets that one is; before them: taken */
        int32_t at = (int32_t)(seq - (l->tx_seq - r->count));
        if (at >= 0 && (uint32_t)at + 1 > n)
            n = (uint32_t)at + 1;
    }
    return n;
}

/* Looks for a consumer asleep on packets published so far. The fence is the expensive
 * part (it waits for every packet store to reach the consumer's core), so it runs once
 * per message, every quarter ring inside a long one, and before the producer waits: a
 * consumer that fell asleep mid-message is woken at one of those, never left behind. */
static void wake_consumer(struct smipc_link *l)
{
    struct smipc_ring_hdr *h = l->tx.hdr;
    l->tx_unchecked = 0;
    /* statistics only, so not per packet: a consumer mid-message polls this line */
    atomic_store_explicit(&h->next, l->tx_seq, memory_order_relaxed);
    /* Pairs with the fence in smipc_link_arm_rx: either we see the flag or the consumer
     * sees our packet before it sleeps. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&h->rx_waiting, memory_order_relaxed) &&
        atomic_exchange_explicit(&h->rx_waiting, 0, memory_order_relaxed)) {
        smipc_wake_send(l->tx.data_fd);
        SMIPC_STAT_ADD_SHARED(l->stats.wakeups_sent, 1);
    }
}

/* ---- giving idle bulk pages back ---- */

#define BULK_IDLE_NS 1000000000LL /* a second without large messages */

int64_t smipc_bulk_idle_ns(void)
{
    /* SMIPC_BULK_IDLE_MS overrides it (-1: never), for tests and for the memory-minded */
    const char *env = getenv("SMIPC_BULK_IDLE_MS");
    if (env && *env) {
        char *end;
        long ms = strtol(env, &end, 10);
        if (!*end && ms >= -1 && ms <= 86400000)
            return ms < 0 ? -1 : (int64_t)ms * 1000000;
    }
    return BULK_IDLE_NS;
}

/* A chunk is about to be written in the bulk area. */
static void bulk_touched(struct smipc_link *l)
{
    atomic_store_explicit(&l->tx_bulk_at, smipc_coarse_ns(), memory_order_relaxed);
    l->tx_trimmed = 0; /* what went back so far is in use again */
    if (l->bulk_idle_ns < 0 || atomic_load_explicit(&l->tx_bulk_dirty, memory_order_relaxed))
        return;
    /* seq_cst, as the sweep's store of its flag and load of ours: one of us sees the other */
    atomic_store(&l->tx_bulk_dirty, 1);
    if (l->bulk_sweep && !atomic_load(l->bulk_sweep) && !atomic_exchange(l->bulk_sweep, 1))
        smipc_efd_signal(l->bulk_sweep_efd);
}

int smipc_link_bulk_idle(const struct smipc_link *l, int64_t coarse_now)
{
    return atomic_load_explicit(&l->tx_bulk_dirty, memory_order_relaxed) &&
           coarse_now - atomic_load_explicit(&l->tx_bulk_at, memory_order_relaxed) >=
               l->bulk_idle_ns;
}

/* Gives [from, to) of the area back, in whole pages: on a kernel with pages larger than
 * 4 KiB the area's ends may share a page with the rings or the other direction's area. */
static void punch(unsigned char *area, size_t from, size_t to)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)area + from + page - 1) & ~(page - 1);
    uintptr_t b = ((uintptr_t)area + to) & ~(page - 1);
    if (a < b) /* tmpfs frees them for every mapping; a failure leaves them, as before */
        madvise((void *)a, b - a, MADV_REMOVE);
}

/* The consumer takes packets in order and frees a chunk's packet only after reading the
 * chunk (or at a view's release): once the packet of the last chunk we wrote is taken, no
 * chunk is being read, whatever small packets follow it. The acquire pairs with the
 * consumer's release, so its reads are done. */
static int last_chunk_taken(const struct smipc_link *l)
{
    const struct smipc_ring *r = &l->tx;
    if (!l->tx_chunks)
        return 1;
    uint32_t seq = l->tx_chunk_seq[(l->tx_chunks - 1) % r->bulk_slots];
    uint32_t behind = l->tx_seq - seq; /* packets published since, that one included */
    /* further back than the ring: its slot was reused, so it was taken */
    return behind > r->count || !slot_full(r, pos_add(r, l->tx_pos, r->count - behind));
}

int smipc_link_trim_bulk(struct smipc_link *l, int64_t coarse_now, size_t budget)
{
    struct smipc_ring *r = &l->tx;
    if (l->loan || !smipc_link_bulk_idle(l, coarse_now))
        return 0;
    if (!last_chunk_taken(l))
        return 0;
    size_t area = (size_t)r->bulk_slots * r->bulk_size, from = l->tx_trimmed;
    size_t to = area - from > budget ? from + budget : area;
    punch(r->bulk, from, to);
    l->tx_trimmed = to;
    if (to < area)
        return 1;
    l->tx_trimmed = 0;
    atomic_store(&l->tx_bulk_dirty, 0);
    return 2;
}

/* A client's send or loan gives a step of its idle area back (a server's own thread does
 * it for the server, server_thread.c). */
static inline void trim_step(struct smipc_link *l)
{
    if (atomic_load_explicit(&l->tx_bulk_dirty, memory_order_relaxed) && !l->bulk_sweep)
        smipc_link_trim_bulk(l, smipc_coarse_ns(), SMIPC_TRIM_STEP);
}

/* Where the next packet's data goes: in the packet, or in the next chunk's bulk slot. */
static unsigned char *tx_data_at(const struct smipc_link *l, int bulk)
{
    const struct smipc_ring *r = &l->tx;
    return bulk ? r->bulk + (size_t)(l->tx_chunks % r->bulk_slots) * r->bulk_size
                : (unsigned char *)(slot_at(r, l->tx_pos) + 1);
}

/* data NULL: the data is in place already (a loan). */
static void put_packet(struct smipc_link *l, uint64_t tid, uint32_t npk, uint32_t index,
                       uint64_t wire_total, const unsigned char *data, uint32_t size, int bulk)
{
    struct smipc_ring *r = &l->tx;
    struct smipc_packet_hdr *h = slot_at(r, l->tx_pos);
    unsigned char *dst = tx_data_at(l, bulk);
    if (bulk) {
        if (data) /* a loan's chunk was touched when lent */
            bulk_touched(l);
        l->tx_chunk_seq[l->tx_chunks % r->bulk_slots] = l->tx_seq;
        l->tx_chunks++;
    }
    uint32_t crc = 0;
    if (l->checksum) {
        struct crc_fields f = {size, (uint32_t)tid, npk, index, wire_total};
        crc = smipc_crc32c(0, &f, sizeof f);
        crc = data ? smipc_crc32c_copy(dst, data, size, crc) : smipc_crc32c(crc, dst, size);
    } else if (size && data) {
        smipc_copy(dst, data, size);
    }
    h->size = size;
    h->checksum = crc;
    h->transfer_id = (uint32_t)tid;
    h->packet_count = npk;
    h->packet_index = index;
    h->total_size = wire_total;
    atomic_store_explicit(&h->lock, SMIPC_PACKET_FULL, memory_order_release);
    l->tx_pos = pos_add(r, l->tx_pos, 1);
    l->tx_seq++;
    /* a chunk is worth a fence: the consumer copies it out while we write the next */
    if (++l->tx_unchecked >= l->check_every || bulk)
        wake_consumer(l);
}

struct room_arg {
    struct smipc_link *l;
    uint32_t need;
};

static int room_ready(void *p)
{
    struct room_arg *a = p;
    return has_room(a->l, a->need);
}

static int may_spin(const struct smipc_link *l)
{
    return smipc_spin_worthwhile(atomic_load_explicit(l->load, memory_order_relaxed));
}

static int link_closed_status(const struct smipc_link *l)
{
    /* The call that found a protocol error returned SMIPC_EPROTO; after it the
     * connection is simply over. */
    return atomic_load_explicit(&l->state, memory_order_acquire) == SMIPC_LINK_OPEN ? SMIPC_OK
                                                                                    : SMIPC_ECLOSED;
}

/* Waits until `need` packets are free. Sleeping, it asks to be woken only once `want`
 * are free (hysteresis), and looks again now and then in case the consumer stopped
 * reading just short of that. */
static int wait_room(struct smipc_link *l, uint32_t need, uint32_t want, int64_t deadline)
{
    struct room_arg arg = {l, need};
    struct smipc_ring_hdr *h = l->tx.hdr;
    int64_t began = smipc_now_ns();
    wake_consumer(l); /* it may have fallen asleep on what we published so far */
    if (smipc_spin(&l->tx_spin, room_ready, &arg, deadline, !may_spin(l)))
        return SMIPC_OK;
    for (;;) {
        int rc = link_closed_status(l);
        if (rc)
            return rc;
        /* cancelled: the wait looks again at least every PRODUCER_RECHECK_NS */
        if (atomic_load_explicit(&l->cancel_gen, memory_order_relaxed) != l->tx_gen)
            return SMIPC_ETIMEDOUT;
        /* Never sleep while our own peer waits on us for room. The fence publishes what
         * this thread freed without one (the consumer side's state is not ours to touch
         * here: another thread may be receiving). */
        atomic_thread_fence(memory_order_seq_cst);
        smipc_link_wake_producer(l);
        atomic_store_explicit(&h->free, l->tx_seq + want - l->tx.count, memory_order_relaxed);
        atomic_store_explicit(&h->tx_waiting, 1, memory_order_seq_cst);
        atomic_thread_fence(memory_order_seq_cst);
        if (has_room(l, need)) {
            atomic_store_explicit(&h->tx_waiting, 0, memory_order_relaxed);
            return SMIPC_OK;
        }
        int64_t now = smipc_now_ns();
        int expired = now >= deadline;
        int64_t until = expired                                ? now
                        : deadline - now > PRODUCER_RECHECK_NS ? now + PRODUCER_RECHECK_NS
                                                               : deadline;
        if (!expired)
            SMIPC_STAT_ADD_SHARED(l->stats.sleeps, 1);
        rc = smipc_sleep2(l->tx.room_fd, l->ctl_fd, until, NULL);
        if (rc == SMIPC_ECLOSED) {
            int open = SMIPC_LINK_OPEN;
            atomic_compare_exchange_strong(&l->state, &open, SMIPC_LINK_GONE);
            rc = link_closed_status(l);
        }
        if (rc || has_room(l, need) || expired) {
            atomic_store_explicit(&h->tx_waiting, 0, memory_order_relaxed);
            if (!rc && has_room(l, need)) {
                smipc_spin_learn(&l->tx_spin, smipc_now_ns() - began);
                return SMIPC_OK;
            }
            return rc ? rc : SMIPC_ETIMEDOUT;
        }
    }
}

static void abort_transfer(struct smipc_link *l, uint64_t tid)
{
    /* Published before any packet of the next transfer (release), so the consumer that
     * sees the next transfer also sees this one was given up. */
    atomic_store_explicit(&l->tx.hdr->aborted, tid, memory_order_release);
    SMIPC_STAT_ADD(l->stats.aborts, 1);
    wake_consumer(l);
}

/* The room a message that fits whole waits for before its first packet. */
static uint32_t room_for_whole(const struct smipc_link *l, size_t len)
{
    const struct smipc_ring *r = &l->tx;
    if (goes_bulk(r->packet_size, r->bulk_slots, len)) {
        uint32_t chunks = (uint32_t)packets_for(len, r->bulk_size);
        return room_needed(l, chunks, chunks);
    }
    return (uint32_t)packets_for(len, r->packet_size);
}

int smipc_link_arm_tx(struct smipc_link *l, size_t len)
{
    const uint32_t npk = room_for_whole(l, len);
    struct smipc_ring_hdr *h = l->tx.hdr;
    if (has_room(l, npk))
        return 1;
    wake_consumer(l); /* it may sleep on what we published so far */
    atomic_store_explicit(&h->free, l->tx_seq + npk - l->tx.count, memory_order_relaxed);
    atomic_store_explicit(&h->tx_waiting, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the consumer's, as in wait_room */
    if (has_room(l, npk)) {
        atomic_store_explicit(&h->tx_waiting, 0, memory_order_relaxed);
        return 1;
    }
    return 0;
}

int smipc_link_try_send(struct smipc_link *l, const void *buf, size_t len)
{
    const struct smipc_ring *r = &l->tx;
    if (len > l->max_message_size ||
        !fits_whole(r->packet_size, r->count, r->bulk_size, r->bulk_slots, len) ||
        atomic_load_explicit(&l->state, memory_order_relaxed) != SMIPC_LINK_OPEN)
        return SMIPC_AGAIN; /* the full path says why, or streams it */
    if (!has_room(l, room_for_whole(l, len)))
        return SMIPC_AGAIN;
    return smipc_link_send(l, buf, len, 0); /* has room: never waits */
}

int smipc_link_send(struct smipc_link *l, const void *buf, size_t len, int64_t deadline)
{
    if (len > l->max_message_size)
        return SMIPC_EMSGSIZE;
    trim_step(l);
    int rc = link_closed_status(l);
    if (rc)
        return rc;
    const struct smipc_ring *r = &l->tx;
    const uint32_t count = r->count;
    const int bulk = goes_bulk(r->packet_size, r->bulk_slots, len);
    const uint32_t ps = bulk ? r->bulk_size : r->packet_size; /* bytes per packet */
    /* max_message_size / packet_size < 2^32 was checked when the server was opened */
    const uint32_t npk = (uint32_t)packets_for(len, ps);
    const int whole = fits_whole(r->packet_size, count, r->bulk_size, r->bulk_slots, len);
    const uint64_t tid = l->tx_tid;
    const uint32_t flags = l->tx_flags | (bulk ? SMIPC_PKT_BULK : 0);
    const uint64_t wire_total = len | (uint64_t)flags << SMIPC_SIZE_BITS;
    const unsigned char *p = buf;
    for (uint32_t i = 0; i < npk; i++) {
        /* A message that fits the ring (or the bulk area) goes only once all of it has
         * room: a timeout then leaves nothing behind. A larger one streams, and is
         * aborted on timeout. */
        uint32_t need = room_needed(l, i == 0 && whole ? npk : 1,
                                    !bulk             ? 0
                                    : i == 0 && whole ? npk
                                                      : 1);
        if (!has_room(l, need)) {
            /* Woken once half the ring is free, however little this message still needs:
             * asking for one packet, a flooding producer on busy CPUs was woken for every
             * packet freed, and its ring ran dry while it waited to be scheduled, so its
             * share of the server fell (docs/BENCHMARKS.md, "Flooding clients"). */
            uint32_t half = count / 2 ? count / 2 : 1;
            rc = atomic_load_explicit(&l->cancel_gen, memory_order_relaxed) != l->tx_gen
                     ? SMIPC_ETIMEDOUT /* cancelled: at the latest when it must wait */
                     : wait_room(l, need, bulk || half < need ? need : half, deadline);
            if (rc) {
                if (i > 0) {
                    abort_transfer(l, tid);
                    l->tx_tid = tid + 1;
                }
                return rc;
            }
        }
        uint32_t size = i + 1 < npk ? ps : (uint32_t)(len - (uint64_t)i * ps);
        put_packet(l, tid, npk, i, wire_total, p, size, bulk);
        p += size;
    }
    l->tx_tid = tid + 1;
    atomic_store_explicit(&l->tx.hdr->turn, (uint32_t)l->tx_tid, memory_order_relaxed);
    wake_consumer(l);
    SMIPC_STAT_ADD(l->stats.msgs_out, 1);
    SMIPC_STAT_ADD(l->stats.bytes_out, len);
    return SMIPC_OK;
}

/* ---- zero-copy sending ---- */

int smipc_link_loan(struct smipc_link *l, size_t len, void **buf, int64_t deadline)
{
    const struct smipc_ring *r = &l->tx;
    if (len > l->max_message_size)
        return SMIPC_EMSGSIZE;
    const int bulk = len > r->packet_size;
    if (bulk && (!r->bulk_slots || len > r->bulk_size))
        return SMIPC_ELOANSIZE;
    int rc = link_closed_status(l);
    if (rc)
        return rc;
    trim_step(l);
    uint32_t need = room_needed(l, 1, bulk ? 1 : 0);
    if (!has_room(l, need)) {
        rc = atomic_load_explicit(&l->cancel_gen, memory_order_relaxed) != l->tx_gen
                 ? SMIPC_ETIMEDOUT
                 : wait_room(l, need, need, deadline);
        if (rc)
            return rc;
    }
    if (bulk)
        bulk_touched(l); /* the application writes there now */
    l->loan = bulk ? 2 : 1;
    l->loan_len = len;
    *buf = tx_data_at(l, bulk);
    return SMIPC_OK;
}

int smipc_link_commit(struct smipc_link *l, size_t len)
{
    if (!l->loan || len > l->loan_len)
        return SMIPC_EINVAL;
    const int bulk = l->loan == 2;
    l->loan = 0;
    int rc = link_closed_status(l);
    if (rc)
        return rc;
    const uint64_t tid = l->tx_tid;
    const uint32_t flags = l->tx_flags | (bulk ? SMIPC_PKT_BULK : 0);
    put_packet(l, tid, 1, 0, len | (uint64_t)flags << SMIPC_SIZE_BITS, NULL, (uint32_t)len, bulk);
    l->tx_tid = tid + 1;
    atomic_store_explicit(&l->tx.hdr->turn, (uint32_t)l->tx_tid, memory_order_relaxed);
    wake_consumer(l);
    SMIPC_STAT_ADD(l->stats.msgs_out, 1);
    SMIPC_STAT_ADD(l->stats.bytes_out, len);
    return SMIPC_OK;
}

void smipc_link_cancel_loan(struct smipc_link *l)
{
    l->loan = 0;
}

/* ---- consumer ---- */

struct pkt {
    uint32_t size, checksum, tid, npk, index;
    uint64_t wire_total; /* as written: the flags in the top byte */
    uint64_t total;      /* the length alone */
    uint32_t flags;
};

/* Each field is read from shared memory exactly once; only these copies are trusted. */
static void read_header(const struct smipc_packet_hdr *h, struct pkt *out)
{
    const volatile struct smipc_packet_hdr *v = (const volatile struct smipc_packet_hdr *)h;
    out->size = v->size;
    out->checksum = v->checksum;
    out->tid = v->transfer_id;
    out->npk = v->packet_count;
    out->index = v->packet_index;
    out->wire_total = v->total_size;
    out->total = out->wire_total & SMIPC_SIZE_MASK;
    out->flags = (uint32_t)(out->wire_total >> SMIPC_SIZE_BITS);
}

static uint32_t expected_size(uint64_t total, uint32_t ps, uint32_t index)
{
    uint64_t left = total - (uint64_t)index * ps;
    return left < ps ? (uint32_t)left : ps;
}

/* The framing every packet must obey, whatever the peer wrote. */
static int packet_valid(const struct smipc_link *l, const struct pkt *k)
{
    const int bulk = (k->flags & SMIPC_PKT_BULK) != 0;
    if (bulk && !l->rx.bulk)
        return 0;
    uint32_t ps = bulk ? l->rx.bulk_size : l->rx.packet_size;
    return (k->flags & ~SMIPC_MSG_FLAGS_ALL) == 0 && k->total <= l->max_message_size &&
           k->npk == packets_for(k->total, ps) && k->index < k->npk &&
           k->size == expected_size(k->total, ps, k->index);
}

/* 1 when the producer gave up transfer tid. `aborted` holds the last id it gave up, and
 * it starts a transfer only after finishing or giving up the one before: so an id at or
 * after tid means tid was given up too. In 64 bits, where nothing wraps: compared in
 * wrapping 32-bit order, the 0 of a connection that never aborted read as "after" every
 * id from 2^31 on, and the next packet of a half-written message ended it (EPROTO). */
static int aborted(const struct smipc_link *l, uint64_t tid)
{
    return atomic_load_explicit(&l->rx.hdr->aborted, memory_order_acquire) >= tid;
}

int smipc_link_rx_ready(const struct smipc_link *l)
{
    return slot_full(&l->rx, l->rx_pos) || (l->part.active && aborted(l, l->part.tid));
}

void smipc_link_wake_producer(struct smipc_link *l)
{
    struct smipc_ring_hdr *h = l->rx.hdr;
    if (atomic_load_explicit(&h->tx_waiting, memory_order_relaxed) &&
        atomic_exchange_explicit(&h->tx_waiting, 0, memory_order_relaxed)) {
        smipc_wake_send(l->rx.room_fd);
        SMIPC_STAT_ADD_SHARED(l->stats.wakeups_sent, 1);
    }
}

/* Publishes the packets freed so far (the fence pairs with the producer's in wait_room)
 * and wakes a producer asleep for room: once the room it asked for is free, or whatever it
 * asked for when this side is about to wait itself (the two must never wait on each
 * other). Runs every quarter ring, and before this side waits. */
static void check_producer(struct smipc_link *l, int about_to_wait)
{
    struct smipc_ring_hdr *h = l->rx.hdr;
    l->rx_unchecked = 0;
    atomic_store_explicit(&h->front, l->rx_seq, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (!about_to_wait && atomic_load_explicit(&h->tx_waiting, memory_order_relaxed) &&
        (int32_t)(l->rx_seq - atomic_load_explicit(&h->free, memory_order_relaxed)) < 0)
        return;
    smipc_link_wake_producer(l);
}

void smipc_link_settle(struct smipc_link *l)
{
    check_producer(l, 1);
}

static void release_packet(struct smipc_link *l)
{
    struct smipc_ring *r = &l->rx;
    atomic_store_explicit(&slot_at(r, l->rx_pos)->lock, SMIPC_PACKET_FREE, memory_order_release);
    l->rx_pos = pos_add(r, l->rx_pos, 1);
    l->rx_seq++;
    if (++l->rx_unchecked >= l->check_every)
        check_producer(l, 0);
}

static void finish_transfer(struct smipc_link *l)
{
    struct smipc_rx_partial *p = &l->part;
    l->rx_expect = p->tid + 1;
    if (p->stash && l->parked_bytes)
        atomic_fetch_sub(l->parked_bytes, p->total ? p->total : 1);
    free(p->stash);
    memset(p, 0, sizeof *p);
}

void smipc_link_discard(struct smipc_link *l)
{
    if (l->part.active)
        finish_transfer(l);
}

int smipc_link_park(struct smipc_link *l)
{
    struct smipc_rx_partial *p = &l->part;
    if (!p->active || p->stash || p->discard)
        return SMIPC_OK;
    size_t bytes = p->total ? p->total : 1;
    if (l->parked_bytes && atomic_load(l->parked_bytes) + bytes > l->park_budget)
        return SMIPC_EFULL;
    p->stash = malloc(bytes);
    if (!p->stash) {
        /* Cannot keep it: drop the rest of this one message, and say so. */
        p->discard = 1;
        p->dst = NULL;
        return SMIPC_ENOMEM;
    }
    memcpy(p->stash, p->dst, p->got);
    p->dst = p->stash;
    if (l->parked_bytes)
        atomic_fetch_add(l->parked_bytes, bytes);
    return SMIPC_OK;
}

/* Where the data of packet k (the next one) is: in it, or in the next chunk's bulk slot. */
SMIPC_HOT const unsigned char *rx_data_at(const struct smipc_link *l, const struct pkt *k)
{
    const struct smipc_ring *r = &l->rx;
    return k->flags & SMIPC_PKT_BULK
               ? r->bulk + (size_t)(l->rx_chunks % r->bulk_slots) * r->bulk_size
               : (const unsigned char *)(slot_at(r, l->rx_pos) + 1);
}

/* Copies one packet's data to dst (NULL: nowhere) and checks its checksum. */
SMIPC_HOT int take_data(struct smipc_link *l, const struct pkt *k, unsigned char *dst)
{
    const unsigned char *src = rx_data_at(l, k);
    if (l->checksum) {
        struct crc_fields f = {k->size, k->tid, k->npk, k->index, k->wire_total};
        uint32_t crc = smipc_crc32c(0, &f, sizeof f);
        crc = dst ? smipc_crc32c_copy(dst, src, k->size, crc) : smipc_crc32c(crc, src, k->size);
        if (crc != k->checksum) {
            SMIPC_STAT_ADD(l->stats.checksum_failures, 1);
            return SMIPC_EPROTO;
        }
    } else if (dst && k->size) {
        smipc_copy(dst, src, k->size);
    }
    return SMIPC_OK;
}

int smipc_link_recv_some(struct smipc_link *l, void *buf, size_t cap, size_t *len)
{
    struct smipc_rx_partial *p = &l->part;
    struct pkt k;
    if (atomic_load_explicit(&l->state, memory_order_relaxed) == SMIPC_LINK_BROKEN)
        return SMIPC_ECLOSED; /* the call that found the error said EPROTO */
    for (;;) {
        if (!p->active) {
            if (!slot_full(&l->rx, l->rx_pos))
                return SMIPC_AGAIN;
            read_header(slot_at(&l->rx, l->rx_pos), &k);
            if (!packet_valid(l, &k) || k.index != 0 || k.tid != (uint32_t)l->rx_expect)
                return SMIPC_EPROTO;
            if (k.total > cap) {
                *len = (size_t)k.total;
                return SMIPC_ETOOSMALL;
            }
            p->active = 1;
            p->tid = l->rx_expect;
            p->npk = k.npk;
            p->total = k.total;
            p->flags = k.flags;
            p->dst = buf;
            p->dst_cap = cap;
        } else if (p->stash && p->total > cap) {
            *len = (size_t)p->total;
            return SMIPC_ETOOSMALL;
        } else if (!p->stash && !p->discard && (p->dst != buf || p->dst_cap != cap)) {
            return SMIPC_EINVAL; /* a caller bug: continue in the same buffer, or park */
        }
        while (p->index < p->npk) {
            if (!slot_full(&l->rx, l->rx_pos)) {
                if (!aborted(l, p->tid))
                    return SMIPC_AGAIN;
                finish_transfer(l); /* the producer gave this one up */
                break;
            }
            read_header(slot_at(&l->rx, l->rx_pos), &k);
            if (k.tid != (uint32_t)p->tid || k.index != p->index) {
                /* a new transfer may begin only after the producer aborted this one */
                if (k.index == 0 && k.tid == (uint32_t)(p->tid + 1) && aborted(l, p->tid)) {
                    finish_transfer(l);
                    break;
                }
                return SMIPC_EPROTO;
            }
            if (!packet_valid(l, &k) || k.npk != p->npk || k.total != p->total ||
                k.flags != p->flags)
                return SMIPC_EPROTO;
            int rc = take_data(l, &k, p->dst ? p->dst + p->got : NULL);
            if (rc)
                return rc;
            release_packet(l);
            if (k.flags & SMIPC_PKT_BULK) {
                l->rx_chunks++;
                check_producer(l, 0); /* it may wait for this very slot */
            }
            p->got += k.size;
            p->index++;
        }
        if (!p->active)
            continue; /* aborted: look at the next message */
        if (p->discard) {
            finish_transfer(l);
            continue;
        }
        if (p->stash)
            memcpy(buf, p->stash, (size_t)p->total);
        *len = (size_t)p->total;
        l->rx_flags = p->flags & ~(uint32_t)SMIPC_PKT_BULK;
        SMIPC_STAT_ADD(l->stats.msgs_in, 1);
        SMIPC_STAT_ADD(l->stats.bytes_in, p->total);
        finish_transfer(l);
        return SMIPC_OK;
    }
}

/* ---- zero-copy receiving ---- */

int smipc_link_view(struct smipc_link *l, const void **data, size_t *len)
{
    const struct smipc_ring *r = &l->rx;
    struct pkt k;
    if (atomic_load_explicit(&l->state, memory_order_relaxed) == SMIPC_LINK_BROKEN)
        return SMIPC_ECLOSED;
    if (l->part.active)
        return SMIPC_SPLIT; /* a transfer under way (parked): it is finished by copying */
    if (!slot_full(r, l->rx_pos))
        return SMIPC_AGAIN;
    read_header(slot_at(r, l->rx_pos), &k);
    if (!packet_valid(l, &k) || k.index != 0 || k.tid != (uint32_t)l->rx_expect)
        return SMIPC_EPROTO;
    if (k.npk != 1)
        return SMIPC_SPLIT;
    /* checked before it is shown; a producer that rewrites it afterwards changes what the
     * caller reads, never where */
    int rc = take_data(l, &k, NULL);
    if (rc)
        return rc;
    l->view = k.flags & SMIPC_PKT_BULK ? 2 : 1;
    l->view_len = k.total;
    l->rx_flags = k.flags & ~(uint32_t)SMIPC_PKT_BULK;
    *data = rx_data_at(l, &k);
    *len = (size_t)k.total;
    return SMIPC_OK;
}

void smipc_link_view_done(struct smipc_link *l)
{
    if (!l->view)
        return;
    const int bulk = l->view == 2;
    l->view = 0;
    release_packet(l);
    if (bulk) {
        l->rx_chunks++;
        check_producer(l, 0);
    }
    l->rx_expect++;
    SMIPC_STAT_ADD(l->stats.msgs_in, 1);
    SMIPC_STAT_ADD(l->stats.bytes_in, l->view_len);
}

static int rx_ready_cb(void *p)
{
    return smipc_link_rx_ready(p);
}

int smipc_link_arm_rx(struct smipc_link *l)
{
    atomic_store_explicit(&l->rx.hdr->rx_waiting, 1, memory_order_seq_cst);
    /* settling fences, which also orders the flag before our look at the ring (the pair of
     * wake_consumer's fence); and it wakes a producer waiting on us before we sleep */
    smipc_link_settle(l);
    return smipc_link_rx_ready(l);
}

void smipc_link_disarm_rx(struct smipc_link *l)
{
    atomic_store_explicit(&l->rx.hdr->rx_waiting, 0, memory_order_relaxed);
}

int smipc_link_wait_rx(struct smipc_link *l, int64_t deadline)
{
    int64_t began = smipc_now_ns();
    if (l->rx_unchecked)
        smipc_link_settle(l); /* the producer may be waiting for the room we made */
    if (atomic_load_explicit(&l->state, memory_order_relaxed) == SMIPC_LINK_OPEN &&
        smipc_spin(&l->rx_spin, rx_ready_cb, l, deadline, !may_spin(l)))
        return SMIPC_OK;
    for (int slept = 0;; slept = 1) {
        /* Drained before arming: a signal after this drain stays to wake us. */
        if (l->rx_fd_left) {
            smipc_wake_drain(l->rx.data_fd);
            l->rx_fd_left = 0;
        }
        if (smipc_link_arm_rx(l)) {
            smipc_link_disarm_rx(l);
            if (slept)
                smipc_spin_learn(&l->rx_spin, smipc_now_ns() - began);
            return SMIPC_OK;
        }
        int rc = link_closed_status(l);
        if (rc)
            return rc;
        /* Out of time, we still look once (poll with 0) so that a dead peer reads as
         * ECLOSED, not as a timeout. */
        int64_t now = smipc_now_ns();
        int expired = now >= deadline;
        if (!expired)
            SMIPC_STAT_ADD_SHARED(l->stats.sleeps, 1);
        /* Out of time, drain now: an event loop polling the fd must see it quiet. */
        rc = smipc_sleep2(l->rx.data_fd, l->ctl_fd, expired ? now : deadline,
                          expired ? NULL : &l->rx_fd_left);
        if (rc == SMIPC_ECLOSED) {
            int open = SMIPC_LINK_OPEN;
            atomic_compare_exchange_strong(&l->state, &open, SMIPC_LINK_GONE);
            /* what the peer sent before it went is still delivered */
            return smipc_link_rx_ready(l) ? SMIPC_OK : link_closed_status(l);
        }
        if (rc)
            return rc;
        if (expired) /* the flag stays armed: an event loop polling our fd is told */
            return smipc_link_rx_ready(l) ? SMIPC_OK : SMIPC_ETIMEDOUT;
    }
}
