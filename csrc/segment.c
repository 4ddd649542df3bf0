/* Creating, sealing, mapping and checking a connection's segment. */
#include "segment.h"

#include "internal.h"
#include "layout.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t stride_of(uint32_t packet_size)
{
    uint64_t s = sizeof(struct smipc_packet_hdr) + (uint64_t)packet_size;
    return (s + SMIPC_CACHELINE - 1) & ~(uint64_t)(SMIPC_CACHELINE - 1);
}

static uint64_t ring_bytes(const struct smipc_seg_params *p)
{
    return sizeof(struct smipc_ring_hdr) + (uint64_t)p->ring_packets * stride_of(p->packet_size);
}

uint64_t smipc_segment_size(const struct smipc_seg_params *p)
{
    if (p->packet_size < 64 || p->packet_size > (1u << 24) || p->ring_packets < 2 ||
        p->ring_packets > (1u << 16))
        return 0;
    /* packet counts and indices travel as 32 bits */
    if (p->max_message_size > ((uint64_t)1 << 40) ||
        p->max_message_size / p->packet_size >= UINT32_MAX)
        return 0;
    if (p->flags & ~(uint32_t)SMIPC_SEG_CHECKSUM)
        return 0;
    if ((p->bulk_size || p->bulk_slots) &&
        (p->bulk_size < SMIPC_BULK_SIZE_MIN || p->bulk_size > SMIPC_BULK_SIZE_MAX ||
         p->bulk_size % SMIPC_BULK_SIZE_MIN || p->bulk_slots < SMIPC_BULK_SLOTS_MIN ||
         p->bulk_slots > SMIPC_BULK_SLOTS_MAX))
        return 0;
    struct smipc_seg_layout lay;
    smipc_segment_layout(p, &lay);
    uint64_t total = lay.bulk_offset[1] + (uint64_t)p->bulk_slots * p->bulk_size;
    return total > SMIPC_SEGMENT_MAX ? 0 : total;
}

void smipc_segment_layout(const struct smipc_seg_params *p, struct smipc_seg_layout *out)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    out->stride = (uint32_t)stride_of(p->packet_size);
    out->ring_offset[0] = sizeof(struct smipc_segment_hdr);
    out->ring_offset[1] = sizeof(struct smipc_segment_hdr) + ring_bytes(p);
    /* page-aligned: a bulk area's pages exist only once a large message touched them */
    uint64_t rings_end = (out->ring_offset[1] + ring_bytes(p) + page - 1) / page * page;
    uint64_t area = (uint64_t)p->bulk_slots * p->bulk_size;
    out->bulk_offset[0] = area ? rings_end : 0;
    out->bulk_offset[1] = area ? rings_end + area : rings_end;
}

static void fill_segment_hdr(struct smipc_segment_hdr *sh, const struct smipc_seg_params *p,
                             uint64_t size, uint64_t client_id)
{
    sh->magic = SMIPC_MAGIC;
    sh->version = SMIPC_PROTOCOL_VERSION;
    sh->packet_size = p->packet_size;
    sh->ring_packets = p->ring_packets;
    sh->max_message_size = p->max_message_size;
    sh->flags = p->flags;
    struct smipc_seg_layout lay;
    smipc_segment_layout(p, &lay);
    sh->stride = lay.stride;
    sh->ring_offset[0] = lay.ring_offset[0];
    sh->ring_offset[1] = lay.ring_offset[1];
    sh->segment_size = size;
    sh->client_id = client_id;
    sh->bulk_size = p->bulk_size;
    sh->bulk_slots = p->bulk_slots;
    sh->bulk_offset[0] = lay.bulk_offset[0];
    sh->bulk_offset[1] = p->bulk_slots ? lay.bulk_offset[1] : 0;
}

static void write_headers(void *map, const struct smipc_seg_params *p, uint64_t size,
                          uint64_t client_id)
{
    struct smipc_segment_hdr *sh = map;
    fill_segment_hdr(sh, p, size, client_id);
    for (int i = 0; i < 2; i++) {
        struct smipc_ring_hdr *rh = (void *)((unsigned char *)map + sh->ring_offset[i]);
        rh->count = p->ring_packets;
        rh->packet_size = p->packet_size;
    }
    /* The server is "asleep" on a new connection until it looks: the client's first
     * message must wake it. */
    struct smipc_ring_hdr *c2s = (void *)((unsigned char *)map + sh->ring_offset[0]);
    atomic_store(&c2s->rx_waiting, 1);
}

int smipc_segment_create(const struct smipc_seg_params *p, uint64_t client_id, int *memfd,
                         void **map, size_t *size)
{
    uint64_t sz = smipc_segment_size(p);
    if (!sz)
        return SMIPC_EINVAL;
    int fd = memfd_create("smipc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return errno == ENOMEM ? SMIPC_ENOMEM : SMIPC_ESYS;
    if (ftruncate(fd, (off_t)sz) != 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        SMIPC_KEEP_ERRNO(close(fd));
        return SMIPC_ESYS;
    }
    void *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        SMIPC_KEEP_ERRNO(close(fd));
        return errno == ENOMEM ? SMIPC_ENOMEM : SMIPC_ESYS;
    }
    /* A forked child gets no copy: it cannot scribble on the parent's connection. */
    madvise(m, sz, MADV_DONTFORK);
    write_headers(m, p, sz, client_id);
    *memfd = fd;
    *map = m;
    *size = (size_t)sz;
    return SMIPC_OK;
}

int smipc_segment_map(int memfd, const struct smipc_seg_params *p, uint64_t client_id, void **map,
                      size_t *size)
{
    uint64_t sz = smipc_segment_size(p);
    struct stat st;
    if (!sz || fstat(memfd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != sz)
        return SMIPC_EPROTO;
    /* Without these seals the server could shrink the file under us (SIGBUS). */
    int seals = fcntl(memfd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK) || !(seals & F_SEAL_SEAL))
        return SMIPC_EPROTO;
    void *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (m == MAP_FAILED)
        return errno == ENOMEM ? SMIPC_ENOMEM : SMIPC_ESYS;
    madvise(m, sz, MADV_DONTFORK);
    const struct smipc_segment_hdr *sh = m;
    struct smipc_segment_hdr want;
    memset(&want, 0, sizeof want);
    fill_segment_hdr(&want, p, sz, client_id);
    if (memcmp(sh, &want, sizeof want) != 0) {
        munmap(m, sz);
        return SMIPC_EPROTO;
    }
    *map = m;
    *size = (size_t)sz;
    return SMIPC_OK;
}
