/* The per-connection shared segment: a sealed memfd holding two rings. */
#ifndef SMIPC_SEGMENT_H
#define SMIPC_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

struct smipc_seg_params {
    uint32_t packet_size, ring_packets, flags;
    uint64_t max_message_size;
    /* The bulk area of each direction: bulk_slots slots of bulk_size bytes for the
     * chunks of large messages (0, 0: none). */
    uint32_t bulk_size, bulk_slots;
};

#define SMIPC_BULK_SIZE_MIN  4096u
#define SMIPC_BULK_SIZE_MAX  (64u << 20)
#define SMIPC_BULK_SLOTS_MIN 2u
#define SMIPC_BULK_SLOTS_MAX 64u

#define SMIPC_SEGMENT_MAX ((uint64_t)1 << 30) /* 1 GiB per connection */

/* Bytes the segment needs (page-rounded), or 0 when the parameters are out of range: the
 * limits a server opens with, and the same ones a client holds a welcome to. */
uint64_t smipc_segment_size(const struct smipc_seg_params *p);

/* Where the rings are, computed from the parameters alone (never read back from the
 * segment, which the peer can rewrite at any moment). */
struct smipc_seg_layout {
    uint64_t ring_offset[2]; /* [0] client->server, [1] server->client */
    uint64_t bulk_offset[2]; /* the same directions; page-aligned; 0 without bulk areas */
    uint32_t stride;         /* bytes from one packet to the next */
};
void smipc_segment_layout(const struct smipc_seg_params *p, struct smipc_seg_layout *out);
/* Server: a new sealed memfd, mapped, headers written. */
int smipc_segment_create(const struct smipc_seg_params *p, uint64_t client_id, int *memfd,
                         void **map, size_t *size);
/* Client: maps the server's memfd after checking its size, seals and header against
 * what the handshake said. */
int smipc_segment_map(int memfd, const struct smipc_seg_params *p, uint64_t client_id, void **map,
                      size_t *size);

#endif
