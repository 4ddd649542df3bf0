/* The bytes of a connection's shared segment, exactly as docs/PROTOCOL.md describes them.
 * Both processes map this; neither trusts what the other wrote (see ring.c). */
#ifndef SMIPC_LAYOUT_H
#define SMIPC_LAYOUT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#define SMIPC_CACHELINE        64
#define SMIPC_MAGIC            0x43504d53u /* "SMPC" little-endian */
#define SMIPC_PROTOCOL_VERSION 3u

/* Segment flags (negotiated per connection, in the handshake and the segment header). */
#define SMIPC_SEG_CHECKSUM 1u

/* First 128 bytes of the segment: written once by the server before the handshake. */
struct smipc_segment_hdr {
    uint32_t magic;
    uint32_t version;
    uint32_t packet_size;
    uint32_t ring_packets;
    uint64_t max_message_size;
    uint32_t flags;
    uint32_t stride;         /* bytes from one packet to the next */
    uint64_t ring_offset[2]; /* [0] client->server, [1] server->client */
    uint64_t segment_size;
    uint64_t client_id;
    uint32_t bulk_size;      /* bytes per bulk slot (0: no bulk areas) */
    uint32_t bulk_slots;     /* slots per bulk area */
    uint64_t bulk_offset[2]; /* the bulk areas, directions as ring_offset */
    uint8_t reserved[40];    /* zero */
};
_Static_assert(sizeof(struct smipc_segment_hdr) == 128, "segment header is two lines");

/* Ring header: SEED.md's rx waiting, tx waiting, turn, front, next, free, count.
 * Each writer's fields sit on their own cache line so the two sides never share one. */
struct smipc_ring_hdr {
    /* consumer-written */
    alignas(SMIPC_CACHELINE) _Atomic uint32_t front; /* next packet seq the consumer reads */
    /* consumer sets before sleeping for data; producer clears when it wakes it */
    alignas(SMIPC_CACHELINE) _Atomic uint32_t rx_waiting;
    /* producer-written */
    alignas(SMIPC_CACHELINE) _Atomic uint32_t next; /* next packet seq the producer writes */
    _Atomic uint32_t turn; /* transfer id of the next message (low 32 bits) */
    /* the last transfer the producer gave up, counted in 64 bits (packets carry the low
     * 32): compared as a plain number, it never wraps */
    _Atomic uint64_t aborted;
    /* producer sets before sleeping for room; consumer clears when it wakes it */
    alignas(SMIPC_CACHELINE) _Atomic uint32_t tx_waiting;
    _Atomic uint32_t free; /* wake the producer once front reaches this seq (hysteresis) */
    /* written by the server only, rarely */
    alignas(SMIPC_CACHELINE) uint32_t count; /* packets in the ring (constant) */
    uint32_t packet_size;                    /* (constant) */
    _Atomic uint32_t load; /* clients the server has: a hint for whether to spin */
};
_Static_assert(sizeof(struct smipc_ring_hdr) == 5 * SMIPC_CACHELINE, "ring header lines");

/* Packet header, followed by packet_size bytes of data. lock is the ownership hand-off:
 * 0 = free (the producer's), 1 = full (the consumer's); release store, acquire load. */
struct smipc_packet_hdr {
    _Atomic uint32_t lock;
    uint32_t size;         /* data bytes in this packet */
    uint32_t checksum;     /* CRC32C of the 24 bytes from size..total_size (checksum read
                              as 0) and the data; 0 when the connection has no checksums */
    uint32_t transfer_id;  /* the message this packet belongs to */
    uint32_t packet_count; /* packets in the whole message (>= 1) */
    uint32_t packet_index; /* 0 .. packet_count-1 */
    uint64_t total_size;   /* the whole message's length in the low 56 bits, its flags
                              (SMIPC_MSG_*) in the top 8: the same in every packet */
};
_Static_assert(sizeof(struct smipc_packet_hdr) == 32, "packet header size");

#define SMIPC_SIZE_BITS 56 /* total_size: length below, message flags above */
#define SMIPC_SIZE_MASK ((UINT64_C(1) << SMIPC_SIZE_BITS) - 1)
/* A packet whose data is a chunk in the bulk area, not in the packet (docs/PROTOCOL.md). */
#define SMIPC_PKT_BULK (1u << 1)
#define SMIPC_MSG_FLAGS_ALL                                                                        \
    (SMIPC_MSG_BROADCAST | SMIPC_PKT_BULK) /* every flag a packet may carry */

#define SMIPC_PACKET_FREE 0u
#define SMIPC_PACKET_FULL 1u

#endif
