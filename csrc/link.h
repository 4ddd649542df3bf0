/* One side's view of a connection: the ring it writes, the ring it reads, the control
 * socket that says when the peer is gone, and the state of the transfer in progress.
 * The client and every server connection are a link; the framing lives here once. */
#ifndef SMIPC_LINK_H
#define SMIPC_LINK_H

#include "layout.h"
#include "segment.h"
#include "wait.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct smipc_ring {
    struct smipc_ring_hdr *hdr;
    unsigned char *packets;
    /* private copies, validated once: never re-read from shared memory */
    uint32_t count, packet_size, stride;
    unsigned char *bulk; /* the bulk area of this direction, NULL without */
    uint32_t bulk_size, bulk_slots;
    int data_fd; /* the consumer sleeps on it, the producer signals it */
    int room_fd; /* the producer sleeps on it, the consumer signals it */
};

/* A message being received, possibly across several calls. */
struct smipc_rx_partial {
    int active;
    int discard;  /* the rest of this transfer is dropped (it could not be kept) */
    uint64_t tid; /* 64 bits here; packets carry the low 32 */
    uint32_t npk, index;
    uint64_t total, got;
    uint32_t flags;       /* SMIPC_MSG_*, the same in every packet */
    unsigned char *dst;   /* the caller's buffer, or stash once parked */
    size_t dst_cap;       /* the caller's capacity, while dst is the caller's */
    unsigned char *stash; /* heap copy of a transfer interrupted mid-way */
};

/* Counters for `smipc stat`, read racily by design (see SMIPC_STAT_ADD*). */
struct smipc_link_stats {
    _Atomic uint64_t msgs_out, bytes_out, msgs_in, bytes_in;
    _Atomic uint64_t sleeps, wakeups_sent, aborts, checksum_failures;
};

enum smipc_link_state { SMIPC_LINK_OPEN = 0, SMIPC_LINK_GONE, SMIPC_LINK_BROKEN };

struct smipc_link {
    struct smipc_ring tx, rx;
    int ctl_fd;
    int checksum;
    /* how many clients the server has: spin only while that fits the CPUs */
    const _Atomic uint32_t *load;
    uint64_t max_message_size;
    _Atomic int state;
    /* Moves once per cancel_sends call; a send that began before a move gives up. */
    _Atomic uint32_t cancel_gen;
    /* producer side, under the sender's lock */
    uint32_t tx_gen;   /* cancel_gen when the send under way began (set by the caller) */
    uint32_t tx_flags; /* SMIPC_MSG_* of the messages sent next (set by the caller) */
    uint32_t tx_pos, tx_seq;
    uint64_t tx_tid;       /* transfer ids count in 64 bits: the 32 in a packet wrap harmlessly */
    uint32_t tx_unchecked; /* packets published since we last looked for a sleeping consumer */
    uint64_t tx_chunks;    /* bulk chunks sent: chunk n goes in slot n % bulk_slots */
    /* the bulk area was written since its pages last went back (smipc_link_trim_bulk);
     * here, by what every send reads, as every send looks at it (the server's thread too) */
    _Atomic int tx_bulk_dirty;
    struct smipc_spin tx_spin;
    /* consumer side, under the receiver's lock */
    uint32_t rx_pos, rx_seq;
    uint64_t rx_expect;    /* the id of the next transfer, 64 bits like tx_tid */
    uint32_t rx_unchecked; /* packets freed since we last looked for a sleeping producer */
    uint32_t check_every;  /* packets between those looks inside one message (ring / 4) */
    uint32_t rx_flags;     /* SMIPC_MSG_* of the message recv_some returned last */
    uint64_t rx_chunks;    /* bulk chunks taken (or passed over) */
    int rx_fd_left;        /* our data eventfd woke us and is not drained yet */
    struct smipc_rx_partial part;
    /* The server's count of bytes parked over all its connections, and its budget (NULL
     * on a client: one connection, whose stash the own messages bound) */
    _Atomic size_t *parked_bytes;
    size_t park_budget;
    struct smipc_spin rx_spin;
    struct smipc_link_stats stats;
    /* (last: only large messages touch it) the sequence number of the packet that
     * carried the chunk now in each bulk slot, producer side: the slot is free again
     * once the consumer has taken that packet */
    uint32_t tx_chunk_seq[SMIPC_BULK_SLOTS_MAX];
    /* zero-copy, each under its side's lock: 0 none, 1 in a packet, 2 in a bulk slot */
    int loan;
    size_t loan_len;
    int view;
    uint64_t view_len;
    /* Idle bulk pages go back to the system (smipc_link_trim_bulk), producer side: */
    _Atomic int64_t tx_bulk_at; /* a chunk last written (smipc_coarse_ns): the sweep looks */
    size_t tx_trimmed;          /* bytes of the area given back so far, under the lock */
    int64_t bulk_idle_ns;       /* set by the link's maker: smipc_bulk_idle_ns() (< 0: never) */
    /* a server's: set when a link becomes dirty, with its thread woken through the eventfd
     * to look for idle ones (NULL on a client: it trims in its sends, and before a receive
     * waits) */
    _Atomic int *bulk_sweep;
    int bulk_sweep_efd;
};

/* A counter only one side's calls update (under that side's lock): a plain add. */
#define SMIPC_STAT_ADD(field, n)                                                                   \
    atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (n),    \
                          memory_order_relaxed)
/* A counter both sides update (sleeps, wake-ups: a sender and a receiver thread at once
 * would lose counts with the plain add); only on paths that make a system call anyway. */
#define SMIPC_STAT_ADD_SHARED(field, n)                                                            \
    atomic_fetch_add_explicit(&(field), (n), memory_order_relaxed)

/* ring 0 carries client->server, ring 1 server->client. wake_fds: this side's ends of the
 * c2s data, c2s room, s2c data, s2c room socket pairs. p was validated by the caller
 * (smipc_segment_size): the rings are found from p alone, nothing is read back from the
 * segment. */
void smipc_link_init(struct smipc_link *l, void *segment, const struct smipc_seg_params *p,
                     int is_server, const int wake_fds[4], int ctl_fd);
void smipc_link_release(struct smipc_link *l); /* frees the stash; closes nothing */

/* 1 when a message of len bytes can go whole once there is room (it need not stream):
 * then a send of it that times out leaves nothing behind. */
int smipc_link_fits_whole(const struct smipc_seg_params *p, uint64_t len);

/* Sends one whole message, waiting for room until the deadline (or until cancel_gen
 * moves away from tx_gen: then SMIPC_ETIMEDOUT, the part sent aborted). */
int smipc_link_send(struct smipc_link *l, const void *buf, size_t len, int64_t deadline);
/* Sends a message that fits the ring if it has room now; SMIPC_AGAIN (nothing written)
 * when the message must wait or stream: then call smipc_link_send. */
int smipc_link_try_send(struct smipc_link *l, const void *buf, size_t len);
/* For a message that fits the ring: asks the consumer to signal tx.room_fd once
 * the whole of it has room, as a producer about to sleep does. 1 if it has room already
 * (nothing armed). Then poll tx.room_fd and ctl_fd, and try_send again. */
int smipc_link_arm_tx(struct smipc_link *l, size_t len);

/* Zero-copy sending: room for a message of up to len bytes, in place (the next packet's
 * data when it fits one, else the next bulk slot), waiting for room until the deadline.
 * SMIPC_OK with *buf; SMIPC_ELOANSIZE when no single packet or slot holds len bytes;
 * SMIPC_EMSGSIZE, SMIPC_ETIMEDOUT, SMIPC_ECLOSED as for a send. Then exactly one of: */
int smipc_link_loan(struct smipc_link *l, size_t len, void **buf, int64_t deadline);
/* publishes the first len bytes of the loan as one message (SMIPC_EINVAL: no loan, or len
 * larger than it); */
int smipc_link_commit(struct smipc_link *l, size_t len);
/* or forgets it (nothing was published). */
void smipc_link_cancel_loan(struct smipc_link *l);

/* Zero-copy receiving: the next message, left in place and checked, when it is one packet
 * or one chunk and no transfer is in progress: SMIPC_OK with *data and *len (valid until
 * smipc_link_view_done; rx_flags set). SMIPC_SPLIT: it is in several pieces (nothing
 * consumed: take it with recv_some); SMIPC_AGAIN: nothing yet; SMIPC_EPROTO. */
int smipc_link_view(struct smipc_link *l, const void **data, size_t *len);
/* Frees the viewed message's packet (or slot) for the producer. */
void smipc_link_view_done(struct smipc_link *l);

/* Gives the pages of this side's bulk area back to the system (both processes' mappings
 * lose them; the next chunk faults in fresh zeroed pages) once a chunk was written, the
 * area has been idle for bulk_idle_ns since, and every packet was taken by the consumer:
 * nothing of it is then in use, and nothing will be until our next send. At most budget
 * bytes a call, so that the sender's lock is held briefly: 0 nothing done (not due, or
 * not possible yet), 1 part given back, 2 all of it (the area is clean). Under the
 * sender's lock, no loan out. */
#define SMIPC_TRIM_STEP ((size_t)256 << 10) /* a few tens of microseconds of madvise */
int smipc_link_trim_bulk(struct smipc_link *l, int64_t coarse_now, size_t budget);
/* Without the lock: 1 when the area is dirty and has been idle long enough. */
int smipc_link_bulk_idle(const struct smipc_link *l, int64_t coarse_now);
/* How long a bulk area stays idle before its pages go back (ns): 1 s, or
 * SMIPC_BULK_IDLE_MS from the environment; < 0: never. */
int64_t smipc_bulk_idle_ns(void);

/* Takes whatever packets are ready without waiting. SMIPC_OK: a whole message is in buf
 * and *len is its length; SMIPC_ETOOSMALL: *len is the size needed, nothing consumed;
 * SMIPC_AGAIN: nothing (more) yet; SMIPC_EPROTO: the peer broke the framing. While a
 * transfer is in progress the caller passes the same buffer again or parks first. */
int smipc_link_recv_some(struct smipc_link *l, void *buf, size_t cap, size_t *len);
/* Moves a transfer in progress out of the caller's buffer so the call can return.
 * SMIPC_OK, SMIPC_ENOMEM (the rest of the message is dropped), or SMIPC_EFULL: parking
 * it would pass the server's park budget (nothing done; the caller ends the link). */
int smipc_link_park(struct smipc_link *l);
/* Forgets a transfer in progress (peer died mid-message). */
void smipc_link_discard(struct smipc_link *l);
/* 1 when recv_some would make progress: a packet is ready, or the transfer in progress
 * was aborted by the producer. */
int smipc_link_rx_ready(const struct smipc_link *l);

/* Spin, then sleep until rx is ready. SMIPC_OK, SMIPC_ETIMEDOUT, SMIPC_ECLOSED. */
int smipc_link_wait_rx(struct smipc_link *l, int64_t deadline);
/* Asks the producer to signal rx.data_fd on its next packet, and wakes it if it waits for
 * room; 1 if data is there already. */
int smipc_link_arm_rx(struct smipc_link *l);
void smipc_link_disarm_rx(struct smipc_link *l);
/* Wakes a producer sleeping for room in our rx ring (before we sleep ourselves). */
void smipc_link_wake_producer(struct smipc_link *l);
/* Before this side waits for anything: publishes the packets it freed (a fence) and wakes
 * a producer waiting for room. Receiving frees packets without a fence, for speed. */
void smipc_link_settle(struct smipc_link *l);

#endif
